"""Request-signing helpers shared by venue connectors.

Secrets arrive as ``Secret`` objects and are revealed only inside these functions, at signing
time; nothing here logs, stores or formats a secret into an exception.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Protocol


class RevealsSecret(Protocol):
    def reveal(self) -> str: ...


def hmac_sha256_hex(secret: RevealsSecret, payload: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``payload`` (UTF-8) under ``secret``."""
    return hmac.new(secret.reveal().encode(), payload.encode(), hashlib.sha256).hexdigest()


def sorted_params_payload(params: Mapping[str, object]) -> str:
    """``k=v&...`` of ``params`` sorted by key, values as raw UTF-8 text (no percent-encoding).

    This is the string-to-sign of JSON websocket APIs that sign their ``params`` object (Binance
    WebSocket API: every param except ``signature``, sorted alphabetically).
    """
    return "&".join(f"{key}={_text(params[key])}" for key in sorted(params))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
