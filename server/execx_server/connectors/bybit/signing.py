"""Bybit request signing (``../shared/venues/bybit.md`` §2): HMAC-SHA256, lowercase hex.

REST: ``sign(timestamp + apiKey + recvWindow + payload)`` where payload is the exact query string
(GET) or JSON body (POST) sent; headers ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP``, ``X-BAPI-SIGN``,
``X-BAPI-RECV-WINDOW``. Websocket ``auth``: ``sign("GET/realtime" + expires)`` with ``expires`` a
future ms timestamp. The secret is revealed only inside ``hmac_sha256_hex``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..base import Secret
from ..transport.signing import hmac_sha256_hex

RECV_WINDOW_MS = 5000
WS_AUTH_VALID_MS = 10_000


class Signer:
    def __init__(self, api_key: str, secret: Secret, clock_ms: Callable[[], int]) -> None:
        self.api_key = api_key
        self._secret = secret
        self._clock_ms = clock_ms

    def rest_headers(self, payload: str) -> dict[str, str]:
        timestamp = str(self._clock_ms())
        recv = str(RECV_WINDOW_MS)
        return {
            "X-BAPI-API-KEY": self.api_key,
            "X-BAPI-TIMESTAMP": timestamp,
            "X-BAPI-RECV-WINDOW": recv,
            "X-BAPI-SIGN": hmac_sha256_hex(self._secret, timestamp + self.api_key + recv + payload),
        }

    def ws_auth(self, req_id: str) -> dict[str, Any]:
        expires = self._clock_ms() + WS_AUTH_VALID_MS
        signature = hmac_sha256_hex(self._secret, f"GET/realtime{expires}")
        return {"req_id": req_id, "op": "auth", "args": [self.api_key, expires, signature]}

    def ws_header(self) -> dict[str, str]:
        """The per-request header of websocket order entry (not signed: the connection is authenticated)."""
        return {"X-BAPI-TIMESTAMP": str(self._clock_ms()), "X-BAPI-RECV-WINDOW": str(RECV_WINDOW_MS)}
