"""OKX request authentication, checked the way the venue checks it (``../shared/venues/okx.md`` §2).

REST: headers ``OK-ACCESS-KEY``, ``OK-ACCESS-SIGN``, ``OK-ACCESS-TIMESTAMP`` (ISO-8601 UTC with
milliseconds), ``OK-ACCESS-PASSPHRASE``; ``sign = base64(HMAC-SHA256(secret, timestamp + METHOD +
requestPath + body))`` where ``requestPath`` includes the query string as sent and ``body`` is the
raw request body. A timestamp more than 30 s from server time is ``50102``.

WebSocket login: ``{"op": "login", "args": [{apiKey, passphrase, timestamp, sign}]}`` with the
timestamp in Unix **seconds** and ``sign`` over ``timestamp + "GET" + "/users/self/verify"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from ...core.accounts import Account
from ...core.engine import Exchange
from .errors import OkxError

MAX_SKEW_MS = 30_000


def sign(secret: str, payload: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()


def rest_account(
    exchange: Exchange, headers: dict[str, str], method: str, path_qs: str, body: str, now_ms: int
) -> Account:
    """The account a signed REST request belongs to; raises the venue's error otherwise."""
    key = headers.get("OK-ACCESS-KEY", "")
    signature = headers.get("OK-ACCESS-SIGN", "")
    timestamp = headers.get("OK-ACCESS-TIMESTAMP", "")
    passphrase = headers.get("OK-ACCESS-PASSPHRASE", "")
    if not key:
        raise OkxError("50103", 'Request header "OK-ACCESS-KEY" can not be empty.', 401)
    if not passphrase:
        raise OkxError("50104", 'Request header "OK-ACCESS-PASSPHRASE" can not be empty.', 401)
    if not signature:
        raise OkxError("50106", 'Request header "OK-ACCESS-SIGN" can not be empty.', 401)
    if not timestamp:
        raise OkxError("50107", 'Request header "OK-ACCESS-TIMESTAMP" can not be empty.', 401)
    try:
        ts_ms = int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP", 401) from None
    if abs(now_ms - ts_ms) > MAX_SKEW_MS:
        raise OkxError("50102", "Timestamp request expired", 401)
    account = exchange.account_by_key(key)
    if account is None or account.is_background:
        raise OkxError("50111", "Invalid OK-ACCESS-KEY", 401)
    if not hmac.compare_digest(passphrase, account.passphrase):
        raise OkxError("50105", "Invalid OK-ACCESS-PASSPHRASE", 401)
    expected = sign(account.secret_key, timestamp + method.upper() + path_qs + body)
    if not hmac.compare_digest(expected, signature):
        raise OkxError("50113", "Invalid Sign", 401)
    return account


def ws_login(exchange: Exchange, arg: dict[str, object], now_ms: int) -> Account:
    """The account of a WebSocket ``login`` argument; raises ``OkxError`` with the 600xx code."""
    key, phrase = str(arg.get("apiKey", "")), str(arg.get("passphrase", ""))
    timestamp, signature = str(arg.get("timestamp", "")), str(arg.get("sign", ""))
    if not key or not phrase or not timestamp or not signature:
        raise OkxError("60012", "Invalid request")
    try:
        ts_ms = int(float(timestamp) * 1000)
    except ValueError:
        raise OkxError("60004", "Invalid timestamp") from None
    if abs(now_ms - ts_ms) > MAX_SKEW_MS:
        raise OkxError("60006", "Timestamp request expired")
    account = exchange.account_by_key(key)
    if account is None or account.is_background:
        raise OkxError("60005", "Invalid OK-ACCESS-KEY")
    if not hmac.compare_digest(phrase, account.passphrase):
        raise OkxError("60024", "Wrong passphrase")
    if not hmac.compare_digest(sign(account.secret_key, timestamp + "GET/users/self/verify"), signature):
        raise OkxError("60007", "Invalid sign")
    return account
