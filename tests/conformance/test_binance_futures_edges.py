"""Edge behaviour of the simulated Binance futures venues, over raw HTTP / websockets (aiohttp):
countdownCancelAll, batchOrders with mixed results, listen-key expiry, routed and legacy stream paths,
the futures WebSocket API, fault injection, and COIN-M inverse position / PnL numbers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import waiting
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.venues.binance.futures_frontend import FuturesFrontend
from yarl import URL

USDM, COINM = "binance-usdm-future", "binance-coinm-future"


def frontend(sim: Simulator, venue: str) -> FuturesFrontend:
    fe = next(f for f in sim.frontends if f.venue == venue)
    assert isinstance(fe, FuturesFrontend)
    return fe


class Rest:
    """A minimal signed Binance REST client (HMAC over the query string, as the docs specify)."""

    def __init__(self, http: aiohttp.ClientSession, sim: Simulator, venue: str, account: Account) -> None:
        self.http = http
        self.base = sim.ready["venues"][venue]["rest"]
        self.prefix = "/fapi" if venue == USDM else "/dapi"
        self.account = account

    async def __call__(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        security: str = "SIGNED",
        secret: str | None = None,
    ) -> tuple[int, Any]:
        query = dict(params or {})
        headers = {}
        if security != "NONE":
            headers["X-MBX-APIKEY"] = self.account.api_key
        if security == "SIGNED":
            query["timestamp"] = int(time.time() * 1000)
            payload = urlencode(query)
            query["signature"] = hmac.new(
                (secret or self.account.secret_key).encode(), payload.encode(), hashlib.sha256
            ).hexdigest()
        url = self.base + path.replace("{p}", self.prefix) + ("?" + urlencode(query) if query else "")
        # encoded=True: send the query byte for byte as signed (yarl would otherwise re-normalise it).
        async with self.http.request(method, URL(url, encoded=True), headers=headers) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(autouse=True)
async def recentre(sim: Simulator, account: Account) -> AsyncIterator[None]:
    yield
    # Leave the shared session book as found: no resting orders of this test's account.
    for name in ("binance-usdm-future", "binance-coinm-future"):
        market = sim.exchange.markets[name]
        for order in market.open_orders(account):
            market.cancel(account, order.symbol, order.order_id)
    for venue, symbol in ((USDM, "BTCUSDT"), (COINM, "BTCUSD_PERP")):
        market = sim.exchange.markets[venue]
        sim.synthetic.move_to(venue, symbol, market.instruments[symbol].ref_price)


async def until(check: Callable[[], Any], seconds: float = 5.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy, with a deadline."""
    return await waiting.eventually(check, "the condition", seconds)


async def receive_json(ws: aiohttp.ClientWebSocketResponse, match: Callable[[Any], bool], seconds: float = 5.0) -> Any:
    """Read frames until one matches (deadline-bounded)."""
    deadline = time.monotonic() + seconds
    while True:
        msg = await asyncio.wait_for(ws.receive(), max(0.01, deadline - time.monotonic()))
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data = json.loads(msg.data)
        if match(data):
            return data


def best(sim: Simulator, venue: str, symbol: str) -> tuple[Decimal, Decimal]:
    bid, _, ask, _ = sim.exchange.markets[venue].books[symbol].top()
    assert bid is not None and ask is not None
    return bid, ask


# ---------------------------------------------------------------------- countdownCancelAll


async def test_countdown_cancel_all_really_cancels(
    sim: Simulator, account: Account, http: aiohttp.ClientSession
) -> None:
    rest = Rest(http, sim, USDM, account)
    bid, _ = best(sim, USDM, "BTCUSDT")
    status, order = await rest(
        "POST",
        "{p}/v1/order",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": str(bid - 100),
        },
    )
    assert status == 200, order
    status, body = await rest("POST", "{p}/v1/countdownCancelAll", {"symbol": "BTCUSDT", "countdownTime": 50})
    assert (status, body) == (200, {"symbol": "BTCUSDT", "countdownTime": "50"})

    async def cancelled() -> bool:
        _, got = await rest("GET", "{p}/v1/order", {"symbol": "BTCUSDT", "orderId": order["orderId"]})
        return bool(got["status"] == "CANCELED")

    await until(cancelled)
    # 0 switches the timer off.
    await rest("POST", "{p}/v1/countdownCancelAll", {"symbol": "BTCUSDT", "countdownTime": 100_000})
    assert (account.account_id, "BTCUSDT") in frontend(sim, USDM).countdowns
    await rest("POST", "{p}/v1/countdownCancelAll", {"symbol": "BTCUSDT", "countdownTime": 0})
    assert (account.account_id, "BTCUSDT") not in frontend(sim, USDM).countdowns


# ---------------------------------------------------------------------- batch orders


async def test_batch_orders_mixed_results(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
    rest = Rest(http, sim, USDM, account)
    bid, ask = best(sim, USDM, "BTCUSDT")
    items = [
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": str(bid - 100),
            "newClientOrderId": "batch-ok",
        },
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": str(bid - Decimal("100.05")),
        },  # more decimals than pricePrecision
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTX",
            "quantity": "0.010",
            "price": str(ask),
        },  # post-only would take
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": str(bid - 100),
            "newClientOrderId": "bad id!",
        },
    ]
    status, results = await rest(
        "POST", "{p}/v1/batchOrders", {"batchOrders": json.dumps(items, separators=(",", ":"))}
    )
    assert status == 200, results
    assert results[0]["clientOrderId"] == "batch-ok" and results[0]["status"] == "NEW"
    assert [r.get("code") for r in results[1:]] == [-1111, -5022, -1100]

    status, too_many = await rest(
        "POST", "{p}/v1/batchOrders", {"batchOrders": json.dumps(items[:1] * 6, separators=(",", ":"))}
    )
    assert status == 400 and too_many["code"] == -1130

    modify = [
        {
            "symbol": "BTCUSDT",
            "orderId": results[0]["orderId"],
            "side": "BUY",
            "quantity": "0.020",
            "price": str(bid - 110),
        },
        {"symbol": "BTCUSDT", "orderId": 1, "side": "BUY", "quantity": "0.020", "price": str(bid - 110)},
    ]
    status, modified = await rest(
        "PUT", "{p}/v1/batchOrders", {"batchOrders": json.dumps(modify, separators=(",", ":"))}
    )
    assert status == 200
    assert modified[0]["origQty"] == "0.02" and Decimal(modified[0]["price"]) == bid - 110
    assert modified[1] == {"code": -2013, "msg": "Order does not exist."}

    status, cancelled = await rest(
        "DELETE", "{p}/v1/batchOrders", {"symbol": "BTCUSDT", "orderIdList": json.dumps([results[0]["orderId"], 7])}
    )
    assert status == 200
    assert cancelled[0]["status"] == "CANCELED"
    assert cancelled[1] == {"code": -2011, "msg": "Unknown order sent."}


async def test_modify_rules(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
    rest = Rest(http, sim, USDM, account)
    bid, ask = best(sim, USDM, "BTCUSDT")
    _, gtx = await rest(
        "POST",
        "{p}/v1/order",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTX",
            "quantity": "0.010",
            "price": str(bid),
        },
    )
    # A GTX order modified to a crossing price is cancelled, not filled.
    status, body = await rest(
        "PUT",
        "{p}/v1/order",
        {"symbol": "BTCUSDT", "orderId": gtx["orderId"], "side": "BUY", "quantity": "0.010", "price": str(ask)},
    )
    assert status == 200 and body["status"] == "CANCELED" and body["executedQty"] == "0"
    status, body = await rest(
        "PUT",
        "{p}/v1/order",
        {"symbol": "BTCUSDT", "orderId": gtx["orderId"], "side": "BUY", "quantity": "0.010", "price": str(bid)},
    )
    assert (status, body["code"]) == (400, -2013)
    _, plain = await rest(
        "POST",
        "{p}/v1/order",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": str(bid),
        },
    )
    status, body = await rest(
        "PUT",
        "{p}/v1/order",
        {"symbol": "BTCUSDT", "orderId": plain["orderId"], "side": "BUY", "quantity": "0.010", "price": str(bid)},
    )
    assert (status, body["code"]) == (400, -5027)
    status, body = await rest(
        "PUT", "{p}/v1/order", {"symbol": "BTCUSDT", "orderId": plain["orderId"], "side": "BUY", "quantity": "0.010"}
    )
    assert (status, body["code"]) == (400, -1102)

    # Partially filled, then modified to a quantity at or below the executed quantity: cancelled.
    await rest("DELETE", "{p}/v1/allOpenOrders", {"symbol": "BTCUSDT"})
    _, part = await rest(
        "POST",
        "{p}/v1/order",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.020",
            "price": str(bid - 5),
        },
    )
    async with rest.http.post(
        sim.ready["admin"] + "/admin/market/trade",
        json={"market": USDM, "symbol": "BTCUSDT", "price": str(bid - 5), "qty": "0.010", "aggressor": "SELL"},
    ) as resp:
        assert resp.status == 200
    status, body = await rest("GET", "{p}/v1/order", {"symbol": "BTCUSDT", "orderId": part["orderId"]})
    assert (body["status"], body["executedQty"]) == ("PARTIALLY_FILLED", "0.01")
    status, body = await rest(
        "PUT",
        "{p}/v1/order",
        {"symbol": "BTCUSDT", "orderId": part["orderId"], "side": "BUY", "quantity": "0.010", "price": str(bid - 5)},
    )
    assert status == 200 and (body["status"], body["executedQty"]) == ("CANCELED", "0.01")


# ---------------------------------------------------------------------- listen keys and streams


async def test_listen_key_expiry(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
    fe = frontend(sim, USDM)
    rest = Rest(http, sim, USDM, account)
    fe.listen_key_ttl_ms = 300
    try:
        status, body = await rest("POST", "{p}/v1/listenKey", security="USER_STREAM")
        assert status == 200
        key = body["listenKey"]
        status, again = await rest("POST", "{p}/v1/listenKey", security="USER_STREAM")
        assert again["listenKey"] == key  # an active key is returned (and extended), not replaced
        async with http.ws_connect(sim.ready["venues"][USDM]["stream"] + f"/ws/{key}") as ws:
            expired = await receive_json(ws, lambda m: m.get("e") == "listenKeyExpired")
            assert expired["listenKey"] == key and isinstance(expired["E"], int)
            closed = await asyncio.wait_for(ws.receive(), 5)
            assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    finally:
        fe.listen_key_ttl_ms = 60 * 60 * 1000
    status, body = await rest("PUT", "{p}/v1/listenKey", security="USER_STREAM")
    assert (status, body) == (400, {"code": -1125, "msg": "This listenKey does not exist."})
    status, body = await rest("DELETE", "{p}/v1/listenKey", security="USER_STREAM")
    assert (status, body["code"]) == (400, -1125)


async def test_routed_and_legacy_stream_paths(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
    base = sim.ready["venues"][USDM]["stream"]
    rest = Rest(http, sim, USDM, account)
    _, body = await rest("POST", "{p}/v1/listenKey", security="USER_STREAM")
    key = body["listenKey"]
    async with (
        http.ws_connect(base + "/public/ws/btcusdt@bookTicker") as public_raw,
        http.ws_connect(base + "/ws/btcusdt@bookTicker") as legacy_raw,
        http.ws_connect(base + "/market/stream?streams=btcusdt@aggTrade/btcusdt@markPrice@1s") as market,
        http.ws_connect(base + "/stream") as combined,
        http.ws_connect(base + f"/private/ws?listenKey={key}&events=ORDER_TRADE_UPDATE") as private,
    ):
        await combined.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1})
        assert await receive_json(combined, lambda m: m.get("id") == 1) == {"result": None, "id": 1}
        await combined.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 2})
        assert await receive_json(combined, lambda m: m.get("id") == 2) == {"result": ["btcusdt@bookTicker"], "id": 2}
        # A better bid changes the top of book.
        bid, _ = best(sim, USDM, "BTCUSDT")
        status, order = await rest(
            "POST",
            "{p}/v1/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.010",
                "price": str(bid + Decimal("0.1")),
            },
        )
        assert status == 200
        for ws in (public_raw, legacy_raw):
            tick = await receive_json(ws, lambda m: m.get("b") == f"{bid + Decimal('0.1'):.1f}")
            assert set(tick) == {"e", "u", "s", "b", "B", "a", "A", "T", "E"}
            assert tick["e"] == "bookTicker" and tick["B"] == "0.010"
        wrapped = await receive_json(combined, lambda m: "stream" in m)
        assert wrapped["stream"] == "btcusdt@bookTicker" and wrapped["data"]["s"] == "BTCUSDT"
        mark = await receive_json(market, lambda m: m["stream"] == "btcusdt@markPrice@1s")
        assert mark["data"]["e"] == "markPriceUpdate"

        # Someone sells into our bid: aggTrade with m=true (buyer is maker), private ORDER_TRADE_UPDATE only.
        async with http.post(
            sim.ready["admin"] + "/admin/market/trade",
            json={
                "market": USDM,
                "symbol": "BTCUSDT",
                "price": str(bid + Decimal("0.1")),
                "qty": "0.010",
                "aggressor": "SELL",
            },
        ) as resp:
            assert resp.status == 200
        agg = await receive_json(market, lambda m: m["stream"] == "btcusdt@aggTrade")
        assert agg["data"]["m"] is True and agg["data"]["q"] == "0.010"
        new = await receive_json(private, lambda m: True)
        assert new["e"] == "ORDER_TRADE_UPDATE" and new["o"]["x"] == "NEW"
        fill = await receive_json(private, lambda m: True)
        assert fill["e"] == "ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE must be filtered out by events="
        o = fill["o"]
        assert (o["x"], o["X"], o["i"], o["m"], o["l"]) == ("TRADE", "FILLED", order["orderId"], True, "0.01")
        assert Decimal(o["L"]) == bid + Decimal("0.1")
        expected_keys = {
            "s",
            "c",
            "S",
            "o",
            "f",
            "q",
            "p",
            "ap",
            "sp",
            "x",
            "X",
            "i",
            "l",
            "z",
            "L",
            "N",
            "n",
            "T",
            "t",
            "b",
            "a",
            "m",
            "R",
            "wt",
            "ot",
            "ps",
            "cp",
            "rp",
            "pP",
            "si",
            "ss",
            "V",
            "pm",
            "gtd",
            "er",
        }
        assert set(o) == expected_keys
        fee = ((bid + Decimal("0.1")) * Decimal("0.010") * Decimal("0.0002")).quantize(Decimal("1e-8"))
        assert Decimal(o["n"]) == fee and "E" not in o["n"]  # a plain decimal string, never an exponent

        await combined.send_json({"method": "UNSUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 3})
        assert await receive_json(combined, lambda m: m.get("id") == 3) == {"result": None, "id": 3}


async def test_stream_drop_fault_closes_sockets(sim: Simulator, http: aiohttp.ClientSession) -> None:
    base = sim.ready["venues"][COINM]["stream"]
    async with http.ws_connect(base + "/ws/btcusd_perp@bookTicker") as ws:
        async with http.post(sim.ready["admin"] + f"/admin/faults/{COINM}/drop") as resp:
            assert (await resp.json())["dropped"] >= 1
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_connection_lifetime(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """Binance disconnects every websocket after 24 h; the limit is a tunable (shortened here)."""
    fe = frontend(sim, USDM)
    fe.max_connection_s = 0.2
    try:
        async with http.ws_connect(sim.ready["venues"][USDM]["stream"] + "/ws/btcusdt@aggTrade") as ws:
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    finally:
        fe.max_connection_s = 24 * 3600.0


async def test_private_stream_pairs_keys_with_event_filters(
    sim: Simulator, account: Account, http: aiohttp.ClientSession
) -> None:
    rest = Rest(http, sim, COINM, account)
    _, body = await rest("POST", "{p}/v1/listenKey", security="USER_STREAM")
    key = body["listenKey"]
    url = sim.ready["venues"][COINM]["stream"] + f"/private/stream?listenKey={key}&events=ACCOUNT_UPDATE"
    async with http.ws_connect(url) as ws:
        await until(lambda: frontend(sim, COINM).streams.by_key.get(key))
        status, _ = await rest(
            "POST", "{p}/v1/order", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET", "quantity": "1"}
        )
        assert status == 200
        update = await receive_json(ws, lambda m: True)
        assert update["stream"] == key and update["data"]["e"] == "ACCOUNT_UPDATE"
        data = update["data"]
        assert data["i"] == account.account_id and data["a"]["m"] == "ORDER"
        [position] = data["a"]["P"]
        assert (position["s"], position["pa"], position["ps"]) == ("BTCUSD_PERP", "1", "BOTH")


# ---------------------------------------------------------------------- WebSocket API


def ws_sign(account: Account, params: dict[str, Any]) -> dict[str, Any]:
    params = {**params, "apiKey": account.api_key, "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    params["signature"] = hmac.new(account.secret_key.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return params


async def test_ws_api(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
    url = sim.ready["venues"][COINM]["wsApi"]
    assert url.endswith("/ws-dapi/v1")
    bid, _ = best(sim, COINM, "BTCUSD_PERP")
    async with http.ws_connect(url) as ws:
        await ws.send_json(
            {
                "id": "a",
                "method": "order.place",
                "params": ws_sign(
                    account,
                    {
                        "symbol": "BTCUSD_PERP",
                        "side": "BUY",
                        "type": "LIMIT",
                        "timeInForce": "GTC",
                        "quantity": "3",
                        "price": str(bid - 100),
                        "newOrderRespType": "RESULT",
                    },
                ),
            }
        )
        placed = await receive_json(ws, lambda m: m["id"] == "a")
        assert placed["status"] == 200 and placed["result"]["status"] == "NEW"
        assert placed["result"]["pair"] == "BTCUSD" and placed["result"]["cumBase"] == "0"
        assert placed["result"]["avgPrice"] == "0.0" and placed["result"]["executedQty"] == "0"
        kinds = {r["rateLimitType"] for r in placed["rateLimits"]}
        assert kinds == {"REQUEST_WEIGHT", "ORDERS"}

        bad = ws_sign(account, {"symbol": "BTCUSD_PERP", "orderId": placed["result"]["orderId"]})
        bad["signature"] = "0" * 64
        await ws.send_json({"id": "b", "method": "order.status", "params": bad})
        err = await receive_json(ws, lambda m: m["id"] == "b")
        assert err["status"] == 400 and err["error"] == {
            "code": -1022,
            "msg": "Signature for this request is not valid.",
        }

        await ws.send_json({"id": "c", "method": "session.logon", "params": ws_sign(account, {})})
        logon = await receive_json(ws, lambda m: m["id"] == "c")
        assert logon["status"] == 200 and logon["result"]["apiKey"] == account.api_key
        # Logged on: no apiKey / signature needed, timestamp still is.
        await ws.send_json(
            {
                "id": "d",
                "method": "order.modify",
                "params": {
                    "symbol": "BTCUSD_PERP",
                    "orderId": placed["result"]["orderId"],
                    "side": "BUY",
                    "quantity": "4",
                    "price": str(bid - 101),
                    "timestamp": int(time.time() * 1000),
                },
            }
        )
        modified = await receive_json(ws, lambda m: m["id"] == "d")
        assert modified["result"]["origQty"] == "4" and Decimal(modified["result"]["price"]) == bid - 101
        await ws.send_json(
            {
                "id": "e",
                "method": "order.cancel",
                "params": {
                    "symbol": "BTCUSD_PERP",
                    "orderId": placed["result"]["orderId"],
                    "timestamp": int(time.time() * 1000),
                    "returnRateLimits": False,
                },
            }
        )
        cancelled = await receive_json(ws, lambda m: m["id"] == "e")
        assert cancelled["result"]["status"] == "CANCELED" and "rateLimits" not in cancelled
        await ws.send_json({"id": "f", "method": "userDataStream.start", "params": {"apiKey": account.api_key}})
        started = await receive_json(ws, lambda m: m["id"] == "f")
        assert len(started["result"]["listenKey"]) == 64
        await ws.send_json({"id": "g", "method": "account.balance", "params": {"timestamp": int(time.time() * 1000)}})
        balances = await receive_json(ws, lambda m: m["id"] == "g")
        assert {b["asset"]: b["balance"] for b in balances["result"]} == {"BTC": "5.00000000", "ETH": "50.00000000"}
        sim.faults[COINM].update({"http_5xx": 1})
        await ws.send_json(
            {
                "id": "h",
                "method": "order.status",
                "params": {
                    "symbol": "BTCUSD_PERP",
                    "orderId": placed["result"]["orderId"],
                    "timestamp": int(time.time() * 1000),
                },
            }
        )
        failed = await receive_json(ws, lambda m: m["id"] == "h")
        assert failed["status"] == 503 and failed["error"]["code"] == -1007
        await ws.send_json({"id": "i", "method": "nope.unknown", "params": {}})
        unknown = await receive_json(ws, lambda m: m["id"] == "i")
        assert unknown["status"] == 400 and "error" in unknown


# ---------------------------------------------------------------------- faults


async def test_order_faults(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
    rest = Rest(http, sim, USDM, account)
    bid, _ = best(sim, USDM, "BTCUSDT")
    order = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.010",
        "price": str(bid - 100),
    }
    faults = sim.faults[USDM]
    faults.update({"reject_orders": 1, "reject_message": "Simulated reject."})
    status, body = await rest("POST", "{p}/v1/order", order)
    assert (status, body) == (400, {"code": -2010, "msg": "Simulated reject."})
    faults.update({"unknown_outcome": 1})
    status, body = await rest("POST", "{p}/v1/order", {**order, "newClientOrderId": "maybe-placed"})
    assert status == 503 and body["code"] == -1007
    status, body = await rest("GET", "{p}/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "maybe-placed"})
    assert status == 200 and body["status"] == "NEW"  # it did reach the engine
    faults.update({"http_5xx": 1})
    status, body = await rest("GET", "{p}/v1/openOrders", {"symbol": "BTCUSDT"})
    assert status == 503 and body["code"] == -1007
    faults.update({"reject_message": "Order rejected by fault injection."})


async def test_rate_limit_headers_and_exchange_info(
    sim: Simulator, account: Account, http: aiohttp.ClientSession
) -> None:
    base = sim.ready["venues"][USDM]["rest"]
    bid, _ = best(sim, USDM, "BTCUSDT")
    query = urlencode(
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": str(bid - 100),
            "timestamp": int(time.time() * 1000),
        }
    )
    signature = hmac.new(account.secret_key.encode(), query.encode(), hashlib.sha256).hexdigest()
    async with http.post(
        URL(f"{base}/fapi/v1/order?{query}&signature={signature}", encoded=True),
        headers={"X-MBX-APIKEY": account.api_key},
    ) as resp:
        assert resp.status == 200
        assert int(resp.headers["X-MBX-ORDER-COUNT-1M"]) >= 1 and int(resp.headers["X-MBX-ORDER-COUNT-10S"]) >= 1
        assert "X-MBX-USED-WEIGHT-1M" in resp.headers
    async with http.get(base + "/fapi/v1/exchangeInfo") as resp:
        info = await resp.json()
    assert {(r["rateLimitType"], r["interval"], r["intervalNum"]) for r in info["rateLimits"]} == {
        ("REQUEST_WEIGHT", "MINUTE", 1),
        ("ORDERS", "MINUTE", 1),
        ("ORDERS", "SECOND", 10),
    }
    sim.faults[USDM].update({"rate_limit": 1})
    async with http.get(base + "/fapi/v1/time") as resp:
        assert resp.status == 429 and "Retry-After" in resp.headers
        assert (await resp.json())["code"] == -1003


async def test_bad_input_gets_binance_errors(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
    rest = Rest(http, sim, USDM, account)
    base = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.010",
        "price": "95000",
    }
    cases = [
        ({**base, "symbol": "NOPE"}, -1121),
        ({**base, "side": "UP"}, -1117),
        ({**base, "type": "ICEBERG"}, -1116),
        ({**base, "type": "STOP_MARKET"}, -4120),
        ({**base, "timeInForce": "DAY"}, -1115),
        ({**base, "quantity": "abc"}, -1100),
        ({**base, "quantity": "0.0001"}, -1111),
        ({**base, "quantity": "0.001"}, -4164),
        ({**base, "price": "95000.05"}, -1111),
        ({**base, "price": "999999"}, -4016),
        ({**base, "positionSide": "LONG"}, -4061),
        ({**base, "reduceOnly": "true"}, -2022),
        ({**base, "quantity": "900"}, -2019),
        ({k: v for k, v in base.items() if k != "price"}, -1102),
        ({**base, "type": "MARKET", "timeInForce": ""}, -1106),
    ]
    for params, code in cases:
        status, body = await rest("POST", "{p}/v1/order", params)
        assert status == 400 and body["code"] == code, (params, body)
    status, body = await rest("GET", "{p}/v1/order", {"symbol": "BTCUSDT", "orderId": 5})
    assert (status, body["code"]) == (400, -2013)
    status, body = await rest("GET", "{p}/v2/account", secret="wrong")
    assert (status, body["code"]) == (400, -1022)


async def test_fok_rejects_or_fills(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
    rest = Rest(http, sim, USDM, account)
    _, ask = best(sim, USDM, "BTCUSDT")
    order = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "FOK",
        "price": str(ask),
        "newOrderRespType": "RESULT",
    }
    status, body = await rest("POST", "{p}/v1/order", {**order, "quantity": "900.000"})
    assert (status, body["code"]) == (400, -5021)
    status, body = await rest("POST", "{p}/v1/order", {**order, "quantity": "0.002"})
    assert status == 200 and body["status"] == "FILLED" and body["executedQty"] == "0.002"


async def test_gtd_order_expires_at_good_till_date(
    sim: Simulator, account: Account, http: aiohttp.ClientSession
) -> None:
    rest = Rest(http, sim, USDM, account)
    bid, _ = best(sim, USDM, "BTCUSDT")
    order = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTD",
        "quantity": "0.010",
        "price": str(bid - 100),
    }
    status, body = await rest("POST", "{p}/v1/order", order)
    assert (status, body["code"]) == (400, -1102)  # goodTillDate is mandatory with GTD
    too_soon = int(time.time() * 1000) + 60_000
    status, body = await rest("POST", "{p}/v1/order", {**order, "goodTillDate": too_soon})
    assert (status, body["code"]) == (400, -1130)
    deadline = int(time.time() * 1000) + 700_123
    status, placed = await rest("POST", "{p}/v1/order", {**order, "goodTillDate": deadline})
    assert status == 200 and placed["timeInForce"] == "GTD"
    assert placed["goodTillDate"] == deadline - deadline % 1000  # kept to the second
    fe = frontend(sim, USDM)
    account_id, symbol, _ = fe.good_till[placed["orderId"]]
    fe.good_till[placed["orderId"]] = (account_id, symbol, fe.now())  # fast-forward to the deadline

    async def expired() -> bool:
        _, got = await rest("GET", "{p}/v1/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]})
        return bool(got["status"] == "EXPIRED")

    await until(expired)
    status, body = await rest("POST", "{p}/v1/order", {**order, "goodTillDate": deadline})
    coinm = Rest(http, sim, COINM, account)
    status, body = await coinm(
        "POST", "{p}/v1/order", {**order, "symbol": "BTCUSD_PERP", "quantity": "1", "goodTillDate": deadline}
    )
    assert (status, body["code"]) == (400, -1115)  # COIN-M has no GTD


# ---------------------------------------------------------------------- COIN-M numbers


async def test_coinm_inverse_position_and_pnl(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
    rest = Rest(http, sim, COINM, account)
    _, ask = best(sim, COINM, "BTCUSD_PERP")
    status, buy = await rest(
        "POST",
        "{p}/v1/order",
        {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET", "quantity": "10", "newOrderRespType": "RESULT"},
    )
    assert status == 200 and buy["status"] == "FILLED" and Decimal(buy["avgPrice"]) == ask
    # 10 contracts x 100 USD at the ask, in BTC: 1000 / ask.
    assert Decimal(buy["cumBase"]) == (Decimal(1000) / ask).quantize(Decimal("1e-8"))

    # The market rallies 5 %; sell the position at the new bid.
    sim.synthetic.move_to(COINM, "BTCUSD_PERP", ask * Decimal("1.05"))
    _, rows = await rest("GET", "{p}/v1/positionRisk", {"pair": "BTCUSD"})
    [pos] = [r for r in rows if r["symbol"] == "BTCUSD_PERP"]
    mark = sim.exchange.markets[COINM].mark_price("BTCUSD_PERP")
    assert pos["positionAmt"] == "10" and Decimal(pos["entryPrice"]) == ask
    assert pos["unRealizedProfit"] == f"{Decimal(1000) * (1 / ask - 1 / mark):.8f}"
    assert pos["notionalValue"] == f"{Decimal(1000) / mark:.8f}"

    bid, _ = best(sim, COINM, "BTCUSD_PERP")
    status, sell = await rest(
        "POST",
        "{p}/v1/order",
        {"symbol": "BTCUSD_PERP", "side": "SELL", "type": "MARKET", "quantity": "10", "newOrderRespType": "RESULT"},
    )
    assert status == 200 and Decimal(sell["avgPrice"]) == bid
    realized = Decimal(1000) * (1 / ask - 1 / bid)
    fees = Decimal(1000) / ask * Decimal("0.0005") + Decimal(1000) / bid * Decimal("0.0005")
    _, trades = await rest("GET", "{p}/v1/userTrades", {"symbol": "BTCUSD_PERP"})
    assert [t["side"] for t in trades] == ["BUY", "SELL"]
    assert trades[0]["realizedPnl"] == "0.00000000" and trades[1]["realizedPnl"] == f"{realized:.8f}"
    assert Decimal(trades[1]["baseQty"]) == (Decimal(1000) / bid).quantize(Decimal("1e-8"))
    assert trades[1]["marginAsset"] == "BTC"
    _, balances = await rest("GET", "{p}/v1/balance")
    [btc] = [b for b in balances if b["asset"] == "BTC"]
    assert btc["balance"] == f"{Decimal(5) + realized - fees:.8f}"
    _, account_info = await rest("GET", "{p}/v1/account")
    [pos_row] = [p for p in account_info["positions"] if p["symbol"] == "BTCUSD_PERP"]
    assert pos_row["positionAmt"] == "0" and pos_row["unrealizedProfit"] == "0.00000000"
