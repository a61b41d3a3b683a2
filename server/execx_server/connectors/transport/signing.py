"""Request-signing helpers shared by venue connectors.

Secrets arrive as ``Secret`` objects and are revealed only inside these functions, at signing
time; nothing here logs, stores or formats a secret into an exception.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Protocol


class RevealsSecret(Protocol):
    def reveal(self) -> str: ...


def hmac_sha256_hex(secret: RevealsSecret, payload: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``payload`` (UTF-8) under ``secret``."""
    # hmac.digest: the one-shot (OpenSSL) form, without hmac.HMAC's object and copies; same digest.
    return hmac.digest(secret.reveal().encode(), payload.encode(), "sha256").hex()


def sorted_params_payload(params: Mapping[str, object]) -> str:
    """``k=v&...`` of ``params`` sorted by key, values as raw UTF-8 text (no percent-encoding).

    This is the string-to-sign of JSON websocket APIs that sign their ``params`` object (Binance
    WebSocket API: every param except ``signature``, sorted alphabetically).
    """
    # A list (not a generator) for join, a str value taken as is: the order path signs ~10 params per order.
    return "&".join(
        [
            f"{key}={params[key]}" if params[key].__class__ is str else f"{key}={_text(params[key])}"
            for key in sorted(params)
        ]
    )


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
