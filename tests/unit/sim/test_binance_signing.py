"""The simulator's Binance request authentication, pinned to the published vectors A1-A6 of
``shared/venues/test-vectors.md``, its timestamp window rules, and the rate limiter with a fake clock."""

from __future__ import annotations

import pytest
from execx_sim.core.engine import Exchange
from execx_sim.venues.binance import auth
from execx_sim.venues.binance.errors import BinanceError
from execx_sim.venues.binance.ratelimit import BinanceLimiter, Limit, futures_limits, spot_limits

# Binance's public sample keys (spot docs, A1-A5) and USDⓈ-M docs (A6).
SPOT_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SPOT_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
FUT_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
FUT_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"

A1_PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
)
A1_SIG = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
A2_PAYLOAD = (
    "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC"
    "&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
)
A2_SIG = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
A3_PARAMS = {
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.01000000",
    "price": "52000.00",
    "recvWindow": 100,
    "timestamp": 1645423376532,
    "apiKey": SPOT_KEY,
}
A3_PAYLOAD = (
    f"apiKey={SPOT_KEY}&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT"
    "&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
)
A3_SIG = "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
FULLWIDTH_123456 = "\uff11\uff12\uff13\uff14\uff15\uff16"  # the docs' symbol
A4_PARAMS = {
    "symbol": FULLWIDTH_123456,
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "1.00000000",
    "price": "0.10000000",
    "recvWindow": 5000,
    "timestamp": 1645423376532,
    "apiKey": SPOT_KEY,
}
A4_SIG = "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"
A5_PARAMS = {"apiKey": SPOT_KEY, "timestamp": 1649729878532}
A5_SIG = "1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed"
A6_PAYLOAD = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943"
)
A6_SIG = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
A6_EX3_QUERY = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
A6_EX3_BODY = "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943"
A6_EX3_SIG = "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"  # derived (see the vectors file)


@pytest.fixture
def exchange() -> Exchange:
    ex = Exchange(clock=lambda: 0)
    ex.create_account("spot-docs", api_key=SPOT_KEY, secret_key=SPOT_SECRET)
    ex.create_account("fut-docs", api_key=FUT_KEY, secret_key=FUT_SECRET)
    return ex


def params_of(payload: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in payload.split("&"))


def code_of(exc: pytest.ExceptionInfo[BinanceError]) -> int:
    return exc.value.code


# ---------------------------------------------------------------------- the vectors, bare


@pytest.mark.parametrize(
    ("secret", "payload", "expected"),
    [
        (SPOT_SECRET, A1_PAYLOAD, A1_SIG),
        (SPOT_SECRET, A2_PAYLOAD, A2_SIG),
        (SPOT_SECRET, A3_PAYLOAD, A3_SIG),
        (FUT_SECRET, A6_PAYLOAD, A6_SIG),
        (FUT_SECRET, A6_EX3_QUERY + A6_EX3_BODY, A6_EX3_SIG),
    ],
    ids=["A1", "A2", "A3", "A6", "A6-ex3"],
)
def test_hmac_hex(secret: str, payload: str, expected: str) -> None:
    assert auth.hmac_hex(secret, payload) == expected


@pytest.mark.parametrize(
    ("params", "expected"), [(A3_PARAMS, A3_SIG), (A4_PARAMS, A4_SIG), (A5_PARAMS, A5_SIG)], ids=["A3", "A4", "A5"]
)
def test_ws_payload_sorted_raw_utf8(params: dict[str, object], expected: str) -> None:
    payload = auth.ws_payload({**params, "signature": "ignored"})
    assert "signature" not in payload
    assert auth.hmac_hex(SPOT_SECRET, payload) == expected


def test_ws_payload_a3_exact_and_a4_not_percent_encoded() -> None:
    assert auth.ws_payload(A3_PARAMS) == A3_PAYLOAD
    assert f"symbol={FULLWIDTH_123456}&" in auth.ws_payload(A4_PARAMS)
    # The documented negative control: quantity as shown in the docs' JSON does not give the signature.
    assert auth.hmac_hex(SPOT_SECRET, auth.ws_payload({**A4_PARAMS, "quantity": "0.01000000"})) == (
        "c06fa37fdfcbf71555c0da047b65dabafc2e44d174fab6dbc1fae21eeb3b171c"
    )


def test_ws_value_booleans_are_lowercase() -> None:
    assert auth.ws_payload({"b": True, "a": False, "c": 5}) == "a=false&b=true&c=5"


@pytest.mark.parametrize(
    ("raw", "kept", "sig"),
    [
        (f"{A1_PAYLOAD}&signature={A1_SIG}", A1_PAYLOAD, A1_SIG),
        (f"signature={A1_SIG}&{A1_PAYLOAD}", A1_PAYLOAD, A1_SIG),
        ("symbol=LTCBTC&signature=abc&side=BUY", "symbol=LTCBTC&side=BUY", "abc"),
        (A1_PAYLOAD, A1_PAYLOAD, None),
        ("", "", None),
        ("newClientOrderId=signature%3Dx", "newClientOrderId=signature%3Dx", None),
    ],
)
def test_strip_signature(raw: str, kept: str, sig: str | None) -> None:
    assert auth.strip_signature(raw) == (kept, sig)


# ---------------------------------------------------------------------- REST authentication


def test_rest_a1_query_string(exchange: Exchange) -> None:
    raw = f"{A1_PAYLOAD}&signature={A1_SIG}"
    acct = auth.authenticate_rest(exchange, SPOT_KEY, raw, "", params_of(A1_PAYLOAD), 1499827319559 + 10)
    assert acct.account_id == "spot-docs"


def test_rest_a1_body_and_uppercase_hex(exchange: Exchange) -> None:
    body = f"{A1_PAYLOAD}&signature={A1_SIG.upper()}"
    acct = auth.authenticate_rest(exchange, SPOT_KEY, "", body, params_of(A1_PAYLOAD), 1499827319559)
    assert acct.account_id == "spot-docs"


def test_rest_a2_signs_the_percent_encoded_string(exchange: Exchange) -> None:
    raw = f"{A2_PAYLOAD}&signature={A2_SIG}"
    acct = auth.authenticate_rest(exchange, SPOT_KEY, raw, "", params_of(A2_PAYLOAD), 1499827319559)
    assert acct.account_id == "spot-docs"
    with pytest.raises(BinanceError) as e:  # A1's signature does not sign A2
        auth.authenticate_rest(
            exchange, SPOT_KEY, f"{A2_PAYLOAD}&signature={A1_SIG}", "", params_of(A2_PAYLOAD), 1499827319559
        )
    assert code_of(e) == -1022


def test_rest_a6_futures(exchange: Exchange) -> None:
    acct = auth.authenticate_rest(
        exchange, FUT_KEY, f"{A6_PAYLOAD}&signature={A6_SIG}", "", params_of(A6_PAYLOAD), 1591702613943 + 4999
    )
    assert acct.account_id == "fut-docs"


def test_rest_query_then_body_concatenated_without_separator(exchange: Exchange) -> None:
    params = {**params_of(A6_EX3_QUERY), **params_of(A6_EX3_BODY)}
    acct = auth.authenticate_rest(
        exchange, FUT_KEY, A6_EX3_QUERY, f"{A6_EX3_BODY}&signature={A6_EX3_SIG}", params, 1591702613943
    )
    assert acct.account_id == "fut-docs"


@pytest.mark.parametrize(
    ("api_key", "raw", "code", "status"),
    [
        (None, f"{A1_PAYLOAD}&signature={A1_SIG}", -2014, 401),
        ("", f"{A1_PAYLOAD}&signature={A1_SIG}", -2014, 401),
        ("not-a-known-key", f"{A1_PAYLOAD}&signature={A1_SIG}", -2015, 401),
        (SPOT_KEY, A1_PAYLOAD, -1102, 400),
        (SPOT_KEY, f"{A1_PAYLOAD}&signature=", -1102, 400),
        (SPOT_KEY, f"{A1_PAYLOAD}&signature={A1_SIG[:-1]}0", -1022, 400),
        (FUT_KEY, f"{A1_PAYLOAD}&signature={A1_SIG}", -1022, 400),  # right signature, other account's key
        (SPOT_KEY, f"{A1_PAYLOAD.replace('price=0.1', 'price=0.2')}&signature={A1_SIG}", -1022, 400),
    ],
)
def test_rest_refusals(exchange: Exchange, api_key: str | None, raw: str, code: int, status: int) -> None:
    with pytest.raises(BinanceError) as e:
        auth.authenticate_rest(exchange, api_key, raw, "", params_of(A1_PAYLOAD), 1499827319559)
    assert (e.value.code, e.value.status) == (code, status)
    assert e.value.body() == {"code": code, "msg": e.value.msg}


def test_rest_timestamp_checked_before_signature(exchange: Exchange) -> None:
    with pytest.raises(BinanceError) as e:
        auth.authenticate_rest(
            exchange, SPOT_KEY, f"{A1_PAYLOAD}&signature=00", "", params_of(A1_PAYLOAD), 1499827319559 + 60_000
        )
    assert code_of(e) == -1021


def test_background_accounts_cannot_authenticate() -> None:
    ex = Exchange(clock=lambda: 0)
    ex.create_account("mm", api_key=SPOT_KEY, secret_key=SPOT_SECRET, background=True)
    with pytest.raises(BinanceError) as e:
        auth.authenticate_rest(
            ex, SPOT_KEY, f"{A1_PAYLOAD}&signature={A1_SIG}", "", params_of(A1_PAYLOAD), 1499827319559
        )
    assert code_of(e) == -2015


# ---------------------------------------------------------------------- WS API authentication


@pytest.mark.parametrize(
    ("params", "sig"), [(A3_PARAMS, A3_SIG), (A4_PARAMS, A4_SIG), (A5_PARAMS, A5_SIG)], ids=["A3", "A4", "A5"]
)
def test_ws_vectors_authenticate(exchange: Exchange, params: dict[str, object], sig: str) -> None:
    ts = params["timestamp"]
    assert isinstance(ts, int)
    acct = auth.authenticate_ws(exchange, {**params, "signature": sig}, ts + 50)
    assert acct.account_id == "spot-docs"


def test_ws_a4_percent_encoded_symbol_is_not_what_is_signed(exchange: Exchange) -> None:
    encoded = {**A4_PARAMS, "symbol": "%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96"}
    assert auth.hmac_hex(SPOT_SECRET, auth.ws_payload(encoded)) == (
        "3638bee4d1f01e29fe7b2cabe7afdda17c3c8a56c844d0e1c3340ab75a670225"
    )
    with pytest.raises(BinanceError) as e:
        auth.authenticate_ws(exchange, {**encoded, "signature": A4_SIG}, 1645423376532)
    assert code_of(e) == -1022


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"signature": None}, -1102),
        ({"signature": 12}, -1102),
        ({"apiKey": "nope"}, -2015),
        ({"apiKey": None}, -2014),
        ({"price": "52000.01"}, -1022),
        ({"timestamp": 1645423376532 - 101}, -1021),
    ],
)
def test_ws_refusals(exchange: Exchange, change: dict[str, object], code: int) -> None:
    params = {**A3_PARAMS, "signature": A3_SIG, **change}
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(BinanceError) as e:
        auth.authenticate_ws(exchange, params, 1645423376532)
    assert code_of(e) == code


# ---------------------------------------------------------------------- timestamp window


SERVER = 1_700_000_000_000


@pytest.mark.parametrize(
    ("timestamp", "recv_window", "code"),
    [
        (SERVER, None, None),
        (SERVER + 999, None, None),  # less than 1000 ms ahead is fine
        (SERVER + 1000, None, -1021),
        (SERVER - 5000, None, None),  # default window 5000 ms, inclusive
        (SERVER - 5001, None, -1021),
        (SERVER - 100, "100", None),
        (SERVER - 101, "100", -1021),
        (SERVER - 60_000, "60000", None),
        (SERVER, "60001", -1131),
        (SERVER, "-1", -1131),
        (SERVER - 1, "0.5", -1021),
        (SERVER * 1000 + 999_999, None, None),  # microseconds
        (SERVER * 1000 - 5_000_000, None, None),
        (SERVER * 1000 - 5_001_000, None, -1021),
        ((SERVER + 1000) * 1000, None, -1021),
        ("", None, -1102),
        (None, None, -1102),
        ("12a", None, -1100),
        (SERVER, "abc", -1100),
    ],
)
def test_timestamp_rules(timestamp: int | str | None, recv_window: str | None, code: int | None) -> None:
    params: dict[str, str] = {}
    if timestamp is not None:
        params["timestamp"] = str(timestamp)
    if recv_window is not None:
        params["recvWindow"] = recv_window
    if code is None:
        auth.check_timestamp(params, SERVER)
        return
    with pytest.raises(BinanceError) as e:
        auth.check_timestamp(params, SERVER)
    assert e.value.code == code
    assert e.value.status == 400


def test_timestamp_messages() -> None:
    with pytest.raises(BinanceError) as ahead:
        auth.check_timestamp({"timestamp": str(SERVER + 5000)}, SERVER)
    with pytest.raises(BinanceError) as behind:
        auth.check_timestamp({"timestamp": str(SERVER - 6000)}, SERVER)
    with pytest.raises(BinanceError) as window:
        auth.check_timestamp({"timestamp": str(SERVER), "recvWindow": "70000"}, SERVER)
    assert ahead.value.msg == "Timestamp for this request was 1000ms ahead of the server's time."
    assert behind.value.msg == "Timestamp for this request is outside of the recvWindow."
    assert window.value.msg == "recvWindow must be less than 60000"


# ---------------------------------------------------------------------- rate limiter


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def test_weight_headers_then_429_then_418() -> None:
    clock = Clock(1_700_000_020_000)  # 40 s into a minute
    rl = BinanceLimiter([Limit("REQUEST_WEIGHT", "MINUTE", 1, 10)], ban_ms=120_000, clock=clock)
    assert rl.take("REQUEST_WEIGHT", "1.2.3.4", 4) == {"X-MBX-USED-WEIGHT-1M": "4"}
    assert rl.take("REQUEST_WEIGHT", "1.2.3.4", 6) == {"X-MBX-USED-WEIGHT-1M": "10"}
    assert rl.take("REQUEST_WEIGHT", "5.6.7.8", 1) == {"X-MBX-USED-WEIGHT-1M": "1"}  # per IP

    with pytest.raises(BinanceError) as limited:
        rl.take("REQUEST_WEIGHT", "1.2.3.4", 1)
    assert (limited.value.status, limited.value.code) == (429, -1003)
    assert limited.value.headers == {"Retry-After": "20", "X-MBX-USED-WEIGHT-1M": "11"}

    clock.t += 1_000  # keeps sending while limited: banned
    with pytest.raises(BinanceError) as banned:
        rl.take("REQUEST_WEIGHT", "1.2.3.4", 1)
    assert (banned.value.status, banned.value.code) == (418, -1003)
    assert banned.value.headers == {"Retry-After": "120"}
    assert str(clock.t + 120_000) in banned.value.msg

    clock.t += 60_000
    with pytest.raises(BinanceError) as still:
        rl.take("REQUEST_WEIGHT", "1.2.3.4", 1)
    assert (still.value.status, still.value.headers) == (418, {"Retry-After": "60"})

    clock.t += 60_000  # ban over, new window
    assert rl.take("REQUEST_WEIGHT", "1.2.3.4", 1) == {"X-MBX-USED-WEIGHT-1M": "1"}


def test_waiting_out_retry_after_avoids_the_ban() -> None:
    clock = Clock(1_700_000_040_000)
    rl = BinanceLimiter([Limit("REQUEST_WEIGHT", "MINUTE", 1, 2)], clock=clock)
    rl.take("REQUEST_WEIGHT", "ip", 2)
    with pytest.raises(BinanceError) as e:
        rl.take("REQUEST_WEIGHT", "ip", 1)
    clock.t += int(e.value.headers["Retry-After"]) * 1000
    assert rl.take("REQUEST_WEIGHT", "ip", 1) == {"X-MBX-USED-WEIGHT-1M": "1"}


def test_order_count_per_account() -> None:
    clock = Clock(1_700_000_000_000)
    rl = BinanceLimiter([Limit("ORDERS", "SECOND", 10, 2), Limit("ORDERS", "DAY", 1, 100)], clock=clock)
    assert rl.take("ORDERS", "a") == {"X-MBX-ORDER-COUNT-10S": "1", "X-MBX-ORDER-COUNT-1D": "1"}
    assert rl.take("ORDERS", "a") == {"X-MBX-ORDER-COUNT-10S": "2", "X-MBX-ORDER-COUNT-1D": "2"}
    assert rl.take("ORDERS", "b") == {"X-MBX-ORDER-COUNT-10S": "1", "X-MBX-ORDER-COUNT-1D": "1"}
    with pytest.raises(BinanceError) as e:
        rl.take("ORDERS", "a")
    assert (e.value.status, e.value.code) == (429, -1015)
    clock.t += 10_000
    assert rl.take("ORDERS", "a")["X-MBX-ORDER-COUNT-10S"] == "1"


def test_disabled_limiter_counts_but_never_refuses() -> None:
    rl = BinanceLimiter(
        [Limit("REQUEST_WEIGHT", "MINUTE", 1, 1), Limit("ORDERS", "SECOND", 10, 1)], enabled=False, clock=Clock(0)
    )
    for n in range(1, 6):
        assert rl.take("REQUEST_WEIGHT", "ip", 1) == {"X-MBX-USED-WEIGHT-1M": str(n)}
        assert rl.take("ORDERS", "a") == {"X-MBX-ORDER-COUNT-10S": str(n)}


def test_default_limits_as_binance_publishes_them() -> None:
    assert {(d["rateLimitType"], d["interval"], d["intervalNum"], d["limit"]) for d in spot_limits().describe()} == {
        ("REQUEST_WEIGHT", "MINUTE", 1, 6000),
        ("ORDERS", "SECOND", 10, 100),
        ("ORDERS", "DAY", 1, 200_000),
        ("RAW_REQUESTS", "MINUTE", 5, 61_000),
    }
    assert {(d["rateLimitType"], d["interval"], d["intervalNum"], d["limit"]) for d in futures_limits().describe()} == {
        ("REQUEST_WEIGHT", "MINUTE", 1, 2400),
        ("ORDERS", "MINUTE", 1, 1200),
        ("ORDERS", "SECOND", 10, 300),
    }
