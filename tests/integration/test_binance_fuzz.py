"""Fuzz the Binance REST order endpoints (spot, USD-M, COIN-M) with correctly signed requests carrying
arbitrary parameters: every answer must be Binance's error body ``{"code", "msg"}`` with a 4xx status,
or a success. Never a 5xx, never a hang.

Runs against its own quiet simulator with rate limits off (a 429 would hide deeper validation)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Coroutine
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import pytest
from execx_sim.app import Simulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

D = Decimal

T = TypeVar("T")
REQUEST_TIMEOUT_S = 5.0
EXAMPLES = 150  # per venue and test; the whole file runs in well under a minute


@pytest.fixture(scope="module")
async def fuzz_sim() -> AsyncIterator[Simulator]:
    s = Simulator(quiet=True, seed=99)
    await s.start()
    for fe in s.frontends:
        limiter = getattr(fe, "limiter", None)
        if limiter is not None:
            limiter.enabled = False
    yield s
    await s.stop()


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=4)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    ) as session:
        yield session


# ---------------------------------------------------------------------- strategies

garbage = st.text(max_size=12)
decimal_like = st.one_of(
    st.decimals(min_value=0, max_value=200_000, places=3, allow_nan=False).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats().map(repr),
    st.sampled_from(
        [
            "0",
            "-0",
            "-1",
            "1e5",
            "1E-8",
            "1e308",
            "9" * 40,
            "0." + "0" * 30 + "1",
            ".5",
            "5.",
            "NaN",
            "Infinity",
            "-inf",
            "0x10",
            "1_000",
            " 1",
            "1 ",
            "\uff11",
            "\u0661",
            "",
            "0.00001",
            "97000.00",
            "3400.00",
            "1",
            "100",
            "0.001",
            "0.01",
        ]
    ),
    garbage,
)
int_like = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    garbage,
    st.sampled_from(["", "0", "-1", "1e3", "10000001", "40000000001"]),
)
bool_like = st.sampled_from(["true", "false", "TRUE", "1", "", "yes"])


def opt(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), strategy)


def mostly(valid: st.SearchStrategy[str], bad: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    """Usually a plausible value (so requests get past the first check), sometimes missing or garbage."""
    return st.one_of(valid, valid, valid, valid, st.none(), bad)


def rarely(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.none(), st.none(), st.none(), st.none(), strategy)


plausible_qty = st.sampled_from(["0.001", "0.01", "0.1", "0.5", "1", "2", "10", "100", "0.00001", "1000"])
plausible_price = st.one_of(
    st.sampled_from(
        [
            "97000.00",
            "96990.00",
            "97010.0",
            "3400.00",
            "3390.5",
            "185.00",
            "650.00",
            "0.03505",
            "3410.01",
            "1.00",
            "200000",
        ]
    ),
    st.decimals(min_value=D("0.01"), max_value=200_000, places=2, allow_nan=False).map(str),
)


def order_params(symbols: list[str], futures: bool) -> st.SearchStrategy[dict[str, str | None]]:
    types = [
        "LIMIT",
        "MARKET",
        "LIMIT_MAKER",
        "STOP_LOSS",
        "STOP_LOSS_LIMIT",
        "TAKE_PROFIT",
        "TAKE_PROFIT_LIMIT",
        "STOP",
        "STOP_MARKET",
        "TRAILING_STOP_MARKET",
        "limit",
    ]
    fields: dict[str, st.SearchStrategy[str | None]] = {
        "symbol": mostly(st.sampled_from(symbols), st.one_of(st.sampled_from(symbols).map(str.lower), garbage)),
        "side": mostly(st.sampled_from(["BUY", "SELL"]), st.one_of(st.sampled_from(["buy", "BOTH"]), garbage)),
        "type": mostly(
            st.sampled_from(["LIMIT", "MARKET", "LIMIT", "LIMIT_MAKER"]), st.one_of(st.sampled_from(types), garbage)
        ),
        "timeInForce": mostly(
            st.sampled_from(["GTC", "IOC", "FOK", "GTX"]), st.one_of(st.sampled_from(["GTD", "gtc"]), garbage)
        ),
        "quantity": mostly(plausible_qty, decimal_like),
        "price": mostly(plausible_price, decimal_like),
        "quoteOrderQty": rarely(st.one_of(plausible_price, decimal_like)),
        "stopPrice": rarely(decimal_like),
        "newClientOrderId": opt(st.one_of(garbage, st.text(min_size=30, max_size=80))),
        "newOrderRespType": opt(st.one_of(st.sampled_from(["ACK", "RESULT", "FULL"]), garbage)),
        "orderId": opt(int_like),
        "origClientOrderId": opt(garbage),
        "recvWindow": rarely(int_like),
    }
    if futures:
        fields |= {
            "reduceOnly": rarely(bool_like),
            "positionSide": opt(st.one_of(st.sampled_from(["BOTH", "LONG", "SHORT"]), garbage)),
            "closePosition": rarely(bool_like),
            "priceMatch": rarely(st.sampled_from(["NONE", "QUEUE", "OPPONENT_5", "x"])),
            "selfTradePreventionMode": opt(st.sampled_from(["NONE", "EXPIRE_TAKER", "EXPIRE_BOTH", "x"])),
            "goodTillDate": rarely(int_like),
            "workingType": rarely(st.sampled_from(["MARK_PRICE", "CONTRACT_PRICE", "x"])),
            "activationPrice": rarely(decimal_like),
            "callbackRate": rarely(decimal_like),
        }
    else:
        fields |= {
            "icebergQty": rarely(decimal_like),
            "trailingDelta": rarely(int_like),
            "strategyId": rarely(int_like),
            "selfTradePreventionMode": opt(st.sampled_from(["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "DECREMENT", "x"])),
            "cancelReplaceMode": opt(st.sampled_from(["STOP_ON_FAILURE", "ALLOW_FAILURE", "x"])),
            "cancelOrderId": rarely(int_like),
            "newQty": rarely(decimal_like),
        }
    return st.fixed_dictionaries(fields)


SPOT_ENDPOINTS = [
    ("POST", "/api/v3/order"),
    ("POST", "/api/v3/order/test"),
    ("DELETE", "/api/v3/order"),
    ("GET", "/api/v3/order"),
    ("POST", "/api/v3/order/cancelReplace"),
    ("PUT", "/api/v3/order/amend/keepPriority"),
    ("DELETE", "/api/v3/openOrders"),
]


def futures_endpoints(prefix: str) -> list[tuple[str, str]]:
    return [
        ("POST", f"{prefix}/v1/order"),
        ("POST", f"{prefix}/v1/order/test"),
        ("PUT", f"{prefix}/v1/order"),
        ("DELETE", f"{prefix}/v1/order"),
        ("GET", f"{prefix}/v1/order"),
        ("DELETE", f"{prefix}/v1/allOpenOrders"),
        ("POST", f"{prefix}/v1/batchOrders"),
        ("PUT", f"{prefix}/v1/batchOrders"),
        ("DELETE", f"{prefix}/v1/batchOrders"),
    ]


VENUES = {
    "binance-spot": (SPOT_ENDPOINTS, False),
    "binance-usdm-future": (futures_endpoints("/fapi"), True),
    "binance-coinm-future": (futures_endpoints("/dapi"), True),
}


@st.composite
def requests(draw: st.DrawFn, venue: str, symbols: list[str]) -> tuple[str, str, list[tuple[str, str]], bool]:
    endpoints, futures = VENUES[venue]
    method, path = draw(st.sampled_from(endpoints))
    params = [(k, v) for k, v in draw(order_params(symbols, futures)).items() if v is not None]
    if path.endswith("batchOrders"):
        batch = draw(
            st.one_of(
                st.lists(
                    order_params(symbols, futures).map(lambda d: {k: v for k, v in d.items() if v is not None}),
                    max_size=6,
                ).map(json.dumps),
                st.lists(int_like, max_size=3).map(json.dumps),
                garbage,
                st.just("[{}]"),
                st.just("{}"),
                st.just('[1, null, "x"]'),
            )
        )
        name = "batchOrders" if method != "DELETE" else draw(st.sampled_from(["orderIdList", "origClientOrderIdList"]))
        params.append((name, batch))
    params = draw(st.permutations(params))
    if draw(st.booleans()):  # a duplicated parameter
        if params:
            params.append(draw(st.sampled_from(params)))
    in_body = method != "GET" and draw(st.booleans())
    return method, path, params, in_body


# ---------------------------------------------------------------------- sending and checking


async def send(
    http: aiohttp.ClientSession,
    sim: Simulator,
    venue: str,
    method: str,
    path: str,
    params: list[tuple[str, str]],
    in_body: bool,
) -> tuple[int, Any]:
    account = sim.demo
    payload = urlencode([*params, ("timestamp", str(time.time_ns() // 1_000_000))])
    return await send_raw(http, sim, venue, method, path, payload, in_body, account.api_key, account.secret_key)


async def send_raw(
    http: aiohttp.ClientSession,
    sim: Simulator,
    venue: str,
    method: str,
    path: str,
    payload: str,
    in_body: bool,
    api_key: str,
    secret: str,
) -> tuple[int, Any]:
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    signed = f"{payload}&signature={signature}" if payload else f"signature={signature}"
    base = sim.ready["venues"][venue]["rest"]
    headers = {"X-MBX-APIKEY": api_key}
    if in_body:
        url = URL(base + path)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        kwargs: dict[str, Any] = {"data": signed.encode()}
    else:
        url = URL(f"{base}{path}?{signed}", encoded=True)
        kwargs = {}
    async with http.request(method, url, headers=headers, **kwargs) as resp:
        text = await resp.text()
        return resp.status, (json.loads(text) if text else None)


def on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the simulator's loop from Hypothesis' worker thread; a hang fails the example."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(REQUEST_TIMEOUT_S + 1)


def check(status: int, body: Any, context: object) -> None:
    assert status < 500, (status, body, context)
    if status >= 400:
        assert 400 <= status < 500, (status, body, context)
        assert isinstance(body, dict) and set(body) == {"code", "msg"}, (status, body, context)
        assert isinstance(body["code"], int) and body["code"] < 0, (body, context)
        assert isinstance(body["msg"], str) and body["msg"], (body, context)
    else:
        assert status == 200, (status, body, context)
        assert isinstance(body, dict | list), (body, context)


def fuzz_settings() -> settings:
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def symbols_of(sim: Simulator, venue: str) -> list[str]:
    return sorted(sim.exchange.markets[venue].instruments)


@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_order_endpoints_answer_binance_errors(
    fuzz_sim: Simulator, http: aiohttp.ClientSession, venue: str
) -> None:
    symbols = symbols_of(fuzz_sim, venue)

    loop = asyncio.get_running_loop()

    @fuzz_settings()
    @given(req=requests(venue, symbols))
    def one(req: tuple[str, str, list[tuple[str, str]], bool]) -> None:
        method, path, params, in_body = req
        status, body = on_loop(loop, send(http, fuzz_sim, venue, method, path, params, in_body))
        check(status, body, req)

    await asyncio.to_thread(one)


VALID_ORDER = {
    "binance-spot": ("/api/v3/order", "ETHUSDT"),
    "binance-usdm-future": ("/fapi/v1/order", "ETHUSDT"),
    "binance-coinm-future": ("/dapi/v1/order", "ETHUSD_PERP"),
}


@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_order_numbers(fuzz_sim: Simulator, http: aiohttp.ClientSession, venue: str) -> None:
    """Well-formed orders except for their numbers: reaches the filters, the balance checks and the engine."""
    path, symbol = VALID_ORDER[venue]
    loop = asyncio.get_running_loop()

    @fuzz_settings()
    @given(
        side=st.sampled_from(["BUY", "SELL"]),
        type_tif=st.sampled_from(
            [("LIMIT", "GTC"), ("LIMIT", "IOC"), ("LIMIT", "FOK"), ("LIMIT", "GTX"), ("MARKET", None)]
        ),
        qty=st.one_of(plausible_qty, decimal_like),
        price=st.one_of(plausible_price, decimal_like),
        quote=rarely(decimal_like),
        reduce_only=rarely(bool_like),
    )
    def one(
        side: str, type_tif: tuple[str, str | None], qty: str, price: str, quote: str | None, reduce_only: str | None
    ) -> None:
        order_type, tif = type_tif
        params = [("symbol", symbol), ("side", side), ("type", order_type), ("quantity", qty)]
        if order_type == "LIMIT":
            params += [("price", price), ("timeInForce", str(tif))]
        if quote is not None:
            params.append(("quoteOrderQty", quote))
        if reduce_only is not None and venue != "binance-spot":
            params.append(("reduceOnly", reduce_only))
        status, body = on_loop(loop, send(http, fuzz_sim, venue, "POST", path, params, False))
        check(status, body, params)

    await asyncio.to_thread(one)


raw_chars = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=80)


@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_raw_query_strings(fuzz_sim: Simulator, http: aiohttp.ClientSession, venue: str) -> None:
    """Malformed query strings (bad percent-escapes, keys without '=', stray '&'), signed as sent."""
    endpoints, _ = VENUES[venue]

    loop = asyncio.get_running_loop()

    @fuzz_settings()
    @given(endpoint=st.sampled_from(endpoints), raw=raw_chars, in_body=st.booleans())
    def one(endpoint: tuple[str, str], raw: str, in_body: bool) -> None:
        method, path = endpoint
        ts = str(time.time_ns() // 1_000_000)
        payload = f"{raw}&timestamp={ts}" if raw else f"timestamp={ts}"
        status, body = on_loop(
            loop,
            send_raw(
                http,
                fuzz_sim,
                venue,
                method,
                path,
                payload,
                in_body and method != "GET",
                fuzz_sim.demo.api_key,
                fuzz_sim.demo.secret_key,
            ),
        )
        check(status, body, (endpoint, payload))

    await asyncio.to_thread(one)


async def test_valid_orders_succeed_among_the_fuzz(fuzz_sim: Simulator, http: aiohttp.ClientSession) -> None:
    """The checker is not vacuous: a well-formed order is accepted and a bad one gets Binance's error."""
    params = [
        ("symbol", "ETHUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "0.01"),
        ("price", "3000.00"),
    ]
    status, body = await send(http, fuzz_sim, "binance-spot", "POST", "/api/v3/order", params, False)
    assert status == 200 and body["status"] == "NEW", body
    status, body = await send(
        http, fuzz_sim, "binance-usdm-future", "POST", "/fapi/v1/order", [*params[:5], ("price", "3000.001")], True
    )
    assert status == 400 and set(body) == {"code", "msg"}, body
