"""Request authentication exactly as Binance checks it.

REST (spot, USDⓈ-M, COIN-M): ``X-MBX-APIKEY`` header; the signature is HMAC-SHA256 (lowercase hex,
compared case-insensitively) over the query string as sent concatenated with the body as sent,
without the ``signature`` parameter. WebSocket API: the ``params`` except ``signature``, sorted by
key, ``k=v`` joined by ``&`` (raw UTF-8, not percent-encoded). ``timestamp`` must satisfy
``timestamp < serverTime + 1000`` and ``serverTime - timestamp <= recvWindow`` (default 5000).
HMAC keys only: RSA / Ed25519 keys are not simulated.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from ...core.accounts import Account
from ...core.engine import Exchange
from . import errors

MAX_RECV_WINDOW = 60_000


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def strip_signature(raw: str) -> tuple[str, str | None]:
    """Remove ``signature=…`` from a raw (still percent-encoded) parameter string.
    Returns the string as signed and the signature (None if absent)."""
    if "signature=" not in raw:
        return raw, None
    kept, sig = [], None
    for part in raw.split("&"):
        if part.startswith("signature="):
            sig = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), sig


def ws_payload(params: Mapping[str, Any]) -> str:
    return "&".join(f"{k}={ws_value(v)}" for k, v in sorted(params.items()) if k != "signature")


def ws_value(v: Any) -> str:
    if type(v) is str:  # most params: no conversion
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def check_signature(account: Account, payload: str, signature: str) -> None:
    """Raise -1022 unless ``signature`` signs ``payload`` with the account's key."""
    expected = hmac_hex(account.secret_key, payload)
    if not hmac.compare_digest(expected, signature.lower()):
        raise errors.bad_signature()


def check_timestamp(params: Mapping[str, str], server_ms: int) -> None:
    raw_ts = params.get("timestamp")
    if raw_ts in (None, ""):
        raise errors.mandatory("timestamp")
    assert raw_ts is not None
    try:
        ts = int(float(raw_ts)) if "." in raw_ts else int(raw_ts)
    except ValueError:
        raise errors.illegal_chars("timestamp") from None
    if ts > 10**14:  # microseconds (spot accepts them)
        ts //= 1000
    raw_window = params.get("recvWindow")
    window = 5000.0
    if raw_window not in (None, ""):
        assert raw_window is not None
        try:
            window = float(raw_window)
        except ValueError:
            raise errors.illegal_chars("recvWindow") from None
        if window > MAX_RECV_WINDOW or window < 0:
            raise errors.bad_recv_window()
    if ts >= server_ms + 1000:
        raise errors.bad_timestamp(ahead=True)
    if server_ms - ts > window:
        raise errors.bad_timestamp(ahead=False)


def account_for_key(exchange: Exchange, api_key: str | None) -> Account:
    if not api_key:
        raise errors.bad_api_key_format()
    account = exchange.account_by_key(api_key)
    if account is None or account.is_background:
        raise errors.bad_api_key()
    return account


def authenticate_rest(
    exchange: Exchange,
    api_key: str | None,
    raw_query: str,
    raw_body: str,
    params: Mapping[str, str],
    server_ms: int,
) -> Account:
    """Check key, signature and timestamp of a SIGNED REST request, in Binance's order
    (key, then timestamp, then signature)."""
    account = account_for_key(exchange, api_key)
    query, sig_q = strip_signature(raw_query)
    body, sig_b = strip_signature(raw_body)
    signature = sig_q if sig_q is not None else sig_b
    if not signature:
        raise errors.mandatory("signature")
    check_timestamp(params, server_ms)
    check_signature(account, query + body, signature)
    return account


def authenticate_ws(exchange: Exchange, params: Mapping[str, Any], server_ms: int) -> Account:
    """Check a signed WebSocket API request (``apiKey``, ``timestamp``, ``signature`` in params)."""
    account = account_for_key(exchange, params.get("apiKey"))
    signature = params.get("signature")
    if not signature or not isinstance(signature, str):
        raise errors.mandatory("signature")
    check_timestamp({k: ws_value(params[k]) for k in ("timestamp", "recvWindow") if k in params}, server_ms)
    check_signature(account, ws_payload(params), signature)
    return account
