"""The credential store: exchange keys by reference (``exchangeKey.accountRef``), so secrets never travel
over the API and a restarted execx can re-open its sessions by itself.

Accounts come from ``--credentialsFile`` (JSON, or YAML when the name ends in ``.yaml``/``.yml``; a mounted
Kubernetes Secret) — ``{"accounts": {"REF": {"apiKey": …, "secretKey": …, "passphrase": …}}}`` — and from
the environment: ``EXECX_ACCOUNT_<REF>_API_KEY``, ``…_SECRET_KEY``, ``…_PASSPHRASE`` (``REF`` upper-cased,
every other character than A-Z and 0-9 as ``_``). The file wins over the environment. The file is read again
when it changes (a file that does not parse keeps the accounts in use). Secrets are registered for log
redaction and held as ``Secret``; nothing here writes them anywhere.

``SessionAccounts`` remembers which account each session uses (``session_accounts.json`` in the data
directory: references only, never a secret) for the re-open at start-up.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..connectors.base import Secret
from ..observability import logging as xlog
from ..watched import read_config, stamp

log = logging.getLogger("execx.credentials")


class CredentialsFileError(Exception):
    """The credentials file cannot be used (the message never quotes the file's content)."""


@dataclass(frozen=True)
class Account:
    api_key: str
    secret_key: Secret
    passphrase: Secret


def env_name(ref: str, part: str) -> str:
    return f"EXECX_ACCOUNT_{re.sub(r'[^A-Z0-9]', '_', ref.upper())}_{part}"


def _account(ref: str, entry: Any) -> Account:
    if not isinstance(entry, dict):
        raise CredentialsFileError(f"account {ref!r}: must be an object with apiKey and secretKey")
    api_key, secret, passphrase = entry.get("apiKey"), entry.get("secretKey"), entry.get("passphrase", "")
    if not (isinstance(api_key, str) and api_key and isinstance(secret, str) and secret):
        raise CredentialsFileError(f"account {ref!r}: needs apiKey and secretKey (strings)")
    if not isinstance(passphrase, str):
        raise CredentialsFileError(f"account {ref!r}: passphrase must be a string")
    for value in (api_key, secret, passphrase):
        if any(ch < " " or ch == "\x7f" for ch in value):
            raise CredentialsFileError(f"account {ref!r}: control characters in a credential")
    return Account(api_key, Secret(secret), Secret(passphrase))


class CredentialStore:
    def __init__(self, path: Path | None, environ: Mapping[str, str] | None = None) -> None:
        self.path = path
        self._environ = os.environ if environ is None else environ
        self._accounts: dict[str, Account] = {}
        self._stamp: tuple[int, int] | None = None
        self.reloads = 0
        if path is not None:
            self._stamp = stamp(path)
            self._accounts = self._load(path)  # raises CredentialsFileError at start-up

    def _load(self, path: Path) -> dict[str, Account]:
        data = read_config(path, "credentials file", CredentialsFileError)
        accounts = data.get("accounts") if isinstance(data, dict) else None
        if not isinstance(accounts, dict):
            raise CredentialsFileError(f"the credentials file {path} must be {{accounts: {{REF: {{...}}}}}}")
        out = {str(ref): _account(str(ref), entry) for ref, entry in accounts.items()}
        for account in out.values():
            xlog.redact(account.secret_key.reveal())
            xlog.redact(account.passphrase.reveal())
        return out

    def reload_if_changed(self) -> bool:
        if self.path is None:
            return False
        now = stamp(self.path)
        if now == self._stamp:
            return False
        self._stamp = now
        try:
            self._accounts = self._load(self.path)
        except CredentialsFileError as e:
            log.warning("credentials.reload_failed", extra={"reason": str(e)})
            return False
        self.reloads += 1
        log.info("credentials.reloaded", extra={"accounts": len(self._accounts)})
        return True

    def get(self, ref: str) -> Account | None:
        """The account named ``ref``: from the file, else from the environment; None if neither has it."""
        if not ref:
            return None
        found = self._accounts.get(ref)
        if found is not None:
            return found
        api_key = self._environ.get(env_name(ref, "API_KEY"), "")
        secret = self._environ.get(env_name(ref, "SECRET_KEY"), "")
        if not (api_key and secret):
            return None
        account = _account(
            ref,
            {"apiKey": api_key, "secretKey": secret, "passphrase": self._environ.get(env_name(ref, "PASSPHRASE"), "")},
        )
        xlog.redact(secret)
        xlog.redact(account.passphrase.reveal())
        return account


class SessionAccounts:
    """Which credential-store account each session was opened with (``session_accounts.json``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._refs: dict[str, str] = {}
        if path.exists():
            try:
                loaded = json.loads(path.read_text())
            except (OSError, ValueError):
                loaded = {}
            if isinstance(loaded, dict):
                self._refs = {str(k): str(v) for k, v in loaded.items()}

    def items(self) -> list[tuple[str, str]]:
        return sorted(self._refs.items())

    def account_of(self, session_id: str) -> str:
        """The session's stored account; ``inline`` when it was opened with inline keys (the name the drop
        copy's subjects and the per-account kill switch use)."""
        return self._refs.get(session_id) or "inline"

    def record(self, session_id: str, ref: str) -> None:
        """``ref`` "" forgets the session (opened with inline keys, or stopped)."""
        if self._refs.get(session_id, "") == ref:
            return
        if ref:
            self._refs[session_id] = ref
        else:
            self._refs.pop(session_id, None)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._refs, sort_keys=True))
        tmp.replace(self.path)
