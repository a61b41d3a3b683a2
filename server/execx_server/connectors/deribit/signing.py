"""Deribit authentication: the FIX Logon fields (the JSON-RPC grants are in ``connectors.jsonrpc.client``).

FIX Logon (``../shared/venues/deribit.md`` §2.2, docs.deribit.com ``/fix-api/production/logon``):
``RawData(96)`` = ``<timestamp>.<nonce>`` with a strictly increasing integer timestamp (milliseconds)
and a base64 nonce of 32 random bytes; ``Password(554)`` = ``base64(sha256(RawData ++ client_secret))``
(a plain SHA-256 of the concatenation, not an HMAC); ``Username(553)`` = the API client id.
``CancelOnDisconnect(9001)`` is sent explicitly (``Y`` by default) so the session does not depend on the
account's default; the other documented Logon options are passed through as configured.

Secrets are revealed only inside these functions.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..transport.signing import RevealsSecret

#: Deribit's Logon options by name (docs table), as ``DeribitConnector(fix_options={...})`` spells them.
LOGON_OPTION_TAGS: dict[str, int] = {
    "UseWordsafeTags": 9002,
    "DeribitSequential": 9007,
    "UnsubscribeExecutionReports": 9009,
    "ConnectionOnlyExecutionReports": 9010,
    "ReportFillsAsExecReports": 9015,
    "DisplayIncrementSteps": 9018,
}


def fix_password(raw_data: str, secret: RevealsSecret) -> str:
    """``base64(sha256(RawData ++ secret))``."""
    return base64.b64encode(hashlib.sha256((raw_data + secret.reveal()).encode()).digest()).decode()


@dataclass
class FixLogon:
    """Produces the Logon fields, a fresh ``RawData`` each time (timestamps strictly increase)."""

    client_id: str
    secret: RevealsSecret
    cancel_on_disconnect: bool = True
    options: dict[str, bool] = field(default_factory=dict)
    clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)
    random_bytes: Callable[[int], bytes] = secrets.token_bytes  # the nonce's source (a CSPRNG)
    _last_ts: int = 0

    def __call__(self) -> list[tuple[int, str]]:
        ts = max(self.clock_ms(), self._last_ts + 1)
        self._last_ts = ts
        raw = f"{ts}.{base64.b64encode(self.random_bytes(32)).decode()}"
        fields = [
            (95, str(len(raw))),  # RawDataLength: optional for Deribit, required by FIX for a data field
            (96, raw),
            (553, self.client_id),
            (554, fix_password(raw, self.secret)),
            (9001, "Y" if self.cancel_on_disconnect else "N"),
        ]
        for name, on in sorted(self.options.items()):
            fields.append((LOGON_OPTION_TAGS[name], "Y" if on else "N"))
        return fields
