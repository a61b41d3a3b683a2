"""Bybit request authentication, verified as the venue does (``../shared/venues/bybit.md`` §2).

REST: ``X-BAPI-SIGN`` = lowercase hex HMAC-SHA256 of ``timestamp + apiKey + recvWindow + payload``
where payload is the raw query string (GET) or the raw JSON body (POST), exactly as received.
The timestamp must satisfy ``server - recvWindow <= timestamp < server + 1000``.
WebSocket ``auth``: ``args = [apiKey, expires, hex(HMAC_SHA256(secret, "GET/realtime" + expires))]``
with ``expires`` in the future.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from ...core.accounts import Account
from ...core.engine import Exchange
from . import errors
from .errors import BybitError

DEFAULT_RECV_WINDOW = 5000


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def check_timestamp(timestamp: str, recv_window: str, now_ms: int) -> None:
    if not timestamp.isdigit() or not recv_window.isdigit():
        raise errors.param("timestamp and recv_window must be integers")
    ts, window = int(timestamp), int(recv_window)
    if not now_ms - window <= ts < now_ms + 1000:
        raise BybitError(
            errors.TIMESTAMP,
            f"invalid request, please check your server timestamp or recv_window param. "
            f"req_timestamp[{ts}],server_timestamp[{now_ms}],recv_window[{window}]",
        )


def authenticate_rest(exchange: Exchange, headers: Mapping[str, str], payload: str, now_ms: int) -> Account:
    key = headers.get("X-BAPI-API-KEY", "")
    account = exchange.account_by_key(key) if key else None
    if account is None:
        raise BybitError(errors.API_KEY, errors.MSG_KEY, status=401)
    timestamp = headers.get("X-BAPI-TIMESTAMP", "")
    recv_window = headers.get("X-BAPI-RECV-WINDOW", "") or str(DEFAULT_RECV_WINDOW)
    check_timestamp(timestamp, recv_window, now_ms)
    given = headers.get("X-BAPI-SIGN", "")
    expected = sign(account.secret_key, timestamp + key + recv_window + payload)
    if not hmac.compare_digest(given.lower(), expected):
        raise BybitError(errors.SIGN, errors.MSG_SIGN)
    return account


def authenticate_ws(exchange: Exchange, args: Any, now_ms: int) -> Account:
    """The account of a websocket ``auth`` op; ``BybitError`` when refused."""
    if not isinstance(args, list) or len(args) != 3:
        raise errors.param("auth args must be [apiKey, expires, signature]")
    key, expires, signature = (str(a) for a in args)
    account = exchange.account_by_key(key)
    if account is None:
        raise BybitError(errors.API_KEY, errors.MSG_KEY)
    if not expires.isdigit() or int(expires) <= now_ms:
        raise errors.param("auth expires must be a future timestamp in ms")
    if not hmac.compare_digest(signature.lower(), sign(account.secret_key, "GET/realtime" + expires)):
        raise BybitError(errors.SIGN, errors.MSG_SIGN)
    return account
