"""OKX request signing (``../shared/venues/okx.md`` §2; ``test-vectors.md``).

REST: ``OK-ACCESS-SIGN = base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body))`` with
the ISO-8601 millisecond UTC timestamp, the path including its query string, and the exact body
sent. WebSocket login: the same HMAC over ``timestamp + "GET" + "/users/self/verify"`` with the
timestamp in Unix seconds. Secrets are revealed only here, at signing time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime

from ..base import Secret


def okx_sign(secret: Secret, payload: str) -> str:
    return base64.b64encode(hmac.new(secret.reveal().encode(), payload.encode(), hashlib.sha256).digest()).decode()


def iso_ms(epoch_ms: int) -> str:
    """``2020-12-08T09:08:57.715Z``."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


class Signer:
    def __init__(
        self, api_key: str, secret: Secret, passphrase: Secret, demo: bool, clock_ms: Callable[[], int] | None = None
    ) -> None:
        self.api_key = api_key
        self._secret = secret
        self._passphrase = passphrase
        self.demo = demo
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)

    def rest_headers(self, method: str, path_qs: str, body: str) -> dict[str, str]:
        timestamp = iso_ms(self._clock_ms())
        headers = {
            "OK-ACCESS-KEY": self.api_key,
            "OK-ACCESS-SIGN": okx_sign(self._secret, timestamp + method.upper() + path_qs + body),
            "OK-ACCESS-TIMESTAMP": timestamp,
            "OK-ACCESS-PASSPHRASE": self._passphrase.reveal(),
            "Content-Type": "application/json",
        }
        if self.demo:
            headers["x-simulated-trading"] = "1"
        return headers

    def public_headers(self) -> dict[str, str]:
        return {"x-simulated-trading": "1"} if self.demo else {}

    def login_args(self) -> dict[str, str]:
        timestamp = str(self._clock_ms() // 1000)
        return {
            "apiKey": self.api_key,
            "passphrase": self._passphrase.reveal(),
            "timestamp": timestamp,
            "sign": okx_sign(self._secret, timestamp + "GET/users/self/verify"),
        }
