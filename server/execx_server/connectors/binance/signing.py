"""Binance request signing (HMAC-SHA256 keys), per ``../shared/venues/binance.md`` §2.

REST: the string to sign is exactly the query string sent (already percent-encoded), and the
signature goes last. We send every parameter of every method in the query string (allowed for
POST/PUT/DELETE too), so the string to sign is just the query. WebSocket API: the string to sign
is every param except ``signature``, sorted by key, ``k=v`` joined by ``&``, raw UTF-8.

The secret is revealed only inside ``hmac_sha256_hex`` at signing time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from ..base import Secret
from ..transport.signing import hmac_sha256_hex, sorted_params_payload

RECV_WINDOW_MS = 5000


class Signer:
    def __init__(self, api_key: str, secret: Secret, clock_ms: Callable[[], int]) -> None:
        self.api_key = api_key
        self._secret = secret
        self._clock_ms = clock_ms

    def __repr__(self) -> str:
        return "Signer(***)"

    def now_ms(self) -> int:
        return self._clock_ms()

    def headers(self) -> dict[str, str]:
        return {"X-MBX-APIKEY": self.api_key}

    def signed_query(self, params: list[tuple[str, str]]) -> str:
        """``params`` + recvWindow + timestamp, percent-encoded, with ``signature`` appended."""
        query = urlencode([*params, ("recvWindow", str(RECV_WINDOW_MS)), ("timestamp", str(self._clock_ms()))])
        return f"{query}&signature={hmac_sha256_hex(self._secret, query)}"

    def signed_ws_params(self, params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
        """WebSocket API params (a mapping, or name-value pairs) with ``apiKey``, ``timestamp``, ``signature``."""
        out: dict[str, Any] = dict(params)
        out["apiKey"], out["timestamp"] = self.api_key, self._clock_ms()
        out["signature"] = hmac_sha256_hex(self._secret, sorted_params_payload(out))
        return out


def sign_rest_payload(secret: Secret, payload: str) -> str:
    """The signature of a REST ``totalParams`` string (query string + body)."""
    return hmac_sha256_hex(secret, payload)


def sign_ws_params(secret: Secret, params: dict[str, Any]) -> str:
    """The signature of WebSocket API ``params`` (``signature`` itself excluded)."""
    return hmac_sha256_hex(secret, sorted_params_payload({k: v for k, v in params.items() if k != "signature"}))
