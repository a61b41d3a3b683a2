"""The simulated Bybit v5 venue on the wire (raw HTTP and websockets, no client library): envelope,
signing and recv window, error codes, orderLinkId rules, post-only accepted-then-cancelled, batch
limits, rate-limit headers and 10006, websocket auth / ping-pong formats / topics, order entry over
``/v5/trade``, fault injection."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.venues.bybit.frontend import CategoryFrontend


class Client:
    def __init__(self, sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
        self.urls = sim.ready["venues"]["bybit-linear"]
        self.admin = sim.ready["admin"]
        self.sim = sim
        self.account = account
        self.http = http

    def headers(self, payload: str, ts: int | None = None, secret: str | None = None) -> dict[str, str]:
        stamp = str(ts if ts is not None else int(time.time() * 1000))
        key = self.account.api_key
        signed = stamp + key + "5000" + payload
        sign = hmac.new((secret or self.account.secret_key).encode(), signed.encode(), hashlib.sha256).hexdigest()
        return {
            "X-BAPI-API-KEY": key,
            "X-BAPI-TIMESTAMP": stamp,
            "X-BAPI-RECV-WINDOW": "5000",
            "X-BAPI-SIGN": sign,
            "Content-Type": "application/json",
        }

    async def post(self, path: str, body: dict[str, Any], **kw: Any) -> tuple[int, Any, Any]:
        payload = json.dumps(body)
        async with self.http.post(self.urls["rest"] + path, data=payload, headers=self.headers(payload, **kw)) as r:
            return r.status, await r.json(), r.headers

    async def get(self, path: str, query: str, **kw: Any) -> tuple[int, Any, Any]:
        async with self.http.get(f"{self.urls['rest']}{path}?{query}", headers=self.headers(query, **kw)) as r:
            return r.status, await r.json(), r.headers

    async def admin_post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.http.post(self.admin + path, json=body) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    def bid(self, market: str, symbol: str) -> Decimal:
        bid = self.sim.exchange.markets[market].books[symbol].best_bid()
        assert bid is not None
        return bid

    def ask(self, market: str, symbol: str) -> Decimal:
        ask = self.sim.exchange.markets[market].books[symbol].best_ask()
        assert ask is not None
        return ask

    def ws_auth(self, secret: str | None = None) -> dict[str, Any]:
        expires = int(time.time() * 1000) + 5000
        sign = hmac.new((secret or self.account.secret_key).encode(), f"GET/realtime{expires}".encode(), hashlib.sha256)
        return {"req_id": "a", "op": "auth", "args": [self.account.api_key, expires, sign.hexdigest()]}


@pytest.fixture
async def bb(sim: Simulator, account: Account) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as http:
        yield Client(sim, account, http)


def limit(category: str, symbol: str, price: Decimal, qty: str, **extra: Any) -> dict[str, Any]:
    return {
        "category": category,
        "symbol": symbol,
        "side": "Buy",
        "orderType": "Limit",
        "qty": qty,
        "price": str(price),
        **extra,
    }


async def test_envelope_numbers_as_strings_and_rate_limit_headers(bb: Client) -> None:
    price = bb.bid("bybit-linear", "BTCUSDT") - 100
    status, body, headers = await bb.post(
        "/v5/order/create", limit("linear", "BTCUSDT", price, "0.01", orderLinkId="e1")
    )
    assert status == 200 and set(body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert (body["retCode"], body["retMsg"], body["result"]["orderLinkId"]) == (0, "OK", "e1")
    assert (headers["X-Bapi-Limit"], headers["X-Bapi-Limit-Status"]) == ("10", "9")
    _, rows, _ = await bb.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT&orderLinkId=e1")
    row = rows["result"]["list"][0]
    assert (row["price"], row["qty"], row["leavesQty"], row["orderStatus"], row["positionIdx"]) == (
        str(price),
        "0.01",
        "0.01",
        "New",
        0,
    )
    # over the per-UID per-endpoint limit (set to 2/s through the admin API): 10006 with the reset time
    await bb.admin_post("/admin/ratelimits/bybit-linear", {"ORDER": 2})
    try:
        await bb.post("/v5/order/create", limit("linear", "BTCUSDT", price, "0.01"))
        _, body, headers = await bb.post("/v5/order/create", limit("linear", "BTCUSDT", price, "0.01"))
        assert body["retCode"] == 10006 and headers["X-Bapi-Limit-Status"] == "0"
        assert int(headers["X-Bapi-Limit-Reset-Timestamp"]) > int(time.time() * 1000) - 1000
    finally:
        await bb.admin_post("/admin/ratelimits/bybit-linear", {"ORDER": 10})
    await bb.post("/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "e1"})


async def test_authentication_errors(bb: Client) -> None:
    query = "accountType=UNIFIED"
    status, body, _ = await bb.get("/v5/account/wallet-balance", query, secret="wrong")
    assert (status, body["retCode"]) == (200, 10004)
    _, body, _ = await bb.get("/v5/account/wallet-balance", query, ts=int(time.time() * 1000) - 60_000)
    assert body["retCode"] == 10002 and "recv_window" in body["retMsg"]
    async with bb.http.get(bb.urls["rest"] + "/v5/account/wallet-balance?" + query) as r:
        assert (r.status, (await r.json())["retCode"]) == (401, 10003)
    _, body, _ = await bb.get("/v5/order/realtime", "category=futures&symbol=BTCUSDT")
    assert body["retCode"] == 10001


async def test_order_link_id_rules_and_error_codes(bb: Client) -> None:
    lin = bb.bid("bybit-linear", "BTCUSDT") - 100
    spot = bb.bid("bybit-spot", "BTCUSDT") - 100
    for bad in ("x" * 37, "has space", "dot.ted"):
        _, body, _ = await bb.post("/v5/order/create", limit("linear", "BTCUSDT", lin, "0.01", orderLinkId=bad))
        assert body["retCode"] == 10001 and "orderLinkId" in body["retMsg"]
    for category, price, code in (("linear", lin, 110072), ("spot", spot, 170141)):
        await bb.post("/v5/order/create", limit(category, "BTCUSDT", price, "0.01", orderLinkId=f"dup-{category}"))
        await bb.post("/v5/order/cancel", {"category": category, "symbol": "BTCUSDT", "orderLinkId": f"dup-{category}"})
        _, body, _ = await bb.post(
            "/v5/order/create", limit(category, "BTCUSDT", price, "0.01", orderLinkId=f"dup-{category}")
        )
        assert body["retCode"] == code, "unique even after the first one was cancelled"
    for category, code in (("linear", 110001), ("spot", 170213)):
        _, body, _ = await bb.post(
            "/v5/order/cancel", {"category": category, "symbol": "BTCUSDT", "orderLinkId": "none"}
        )
        assert body["retCode"] == code
    _, body, _ = await bb.post("/v5/order/create", limit("linear", "BTCUSDT", lin, "100"))
    assert (body["retCode"], body["retMsg"]) == (110007, "Insufficient available balance")
    _, body, _ = await bb.post("/v5/order/create", limit("spot", "BTCUSDT", spot, "5"))
    assert body["retCode"] == 170131


async def test_post_only_is_accepted_then_cancelled(bb: Client) -> None:
    ask = bb.ask("bybit-linear", "BTCUSDT")
    _, body, _ = await bb.post(
        "/v5/order/create", limit("linear", "BTCUSDT", ask, "0.01", timeInForce="PostOnly", orderLinkId="po-1")
    )
    assert body["retCode"] == 0
    _, rows, _ = await bb.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT&orderLinkId=po-1")
    row = rows["result"]["list"][0]
    assert (row["orderStatus"], row["rejectReason"], row["cumExecQty"]) == (
        "Cancelled",
        "EC_PostOnlyWillTakeLiquidity",
        "0",
    )


async def test_batch_limits_per_category(bb: Client) -> None:
    lin = bb.bid("bybit-linear", "BTCUSDT") - 200
    items = [{k: v for k, v in limit("linear", "BTCUSDT", lin, "0.01").items() if k != "category"}]
    await bb.admin_post("/admin/ratelimits/bybit-linear", {"ORDER": 100})  # a batch consumes one unit per order
    _, body, _ = await bb.post("/v5/order/create-batch", {"category": "linear", "request": items * 21})
    assert body["retCode"] == 10001 and "20" in body["retMsg"]
    _, body, _ = await bb.post("/v5/order/create-batch", {"category": "spot", "request": items * 11})
    assert body["retCode"] == 10001 and "10" in body["retMsg"]
    try:
        _, body, _ = await bb.post("/v5/order/create-batch", {"category": "linear", "request": items * 20})
    finally:
        await bb.admin_post("/admin/ratelimits/bybit-linear", {"ORDER": 10})
    assert body["retCode"] == 0 and len(body["result"]["list"]) == 20
    assert body["retExtInfo"]["list"] == [{"code": 0, "msg": "OK"}] * 20
    _, body, _ = await bb.post("/v5/order/cancel-all", {"category": "linear"})
    assert body["retCode"] == 10001  # linear needs symbol, baseCoin or settleCoin
    _, body, _ = await bb.post("/v5/order/cancel-all", {"category": "linear", "settleCoin": "USDT"})
    assert len(body["result"]["list"]) == 20 and body["result"]["success"] == "1"


async def test_faults_answer_like_the_venue(bb: Client) -> None:
    await bb.admin_post("/admin/faults/bybit-linear", {"rate_limit": 1, "http_5xx": 1})
    _, body, headers = await bb.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT")
    assert body["retCode"] == 10006 and "X-Bapi-Limit-Reset-Timestamp" in headers
    query = "category=linear&symbol=BTCUSDT"
    async with bb.http.get(f"{bb.urls['rest']}/v5/order/realtime?{query}", headers=bb.headers(query)) as r:
        assert r.status == 503
    _, body, _ = await bb.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT")
    assert body["retCode"] == 0


async def test_private_websocket_auth_ping_and_topics(bb: Client) -> None:
    async with bb.http.ws_connect(bb.urls["private"]) as ws:
        await ws.send_json({"req_id": "s0", "op": "subscribe", "args": ["order"]})
        refused = await ws.receive_json(timeout=5)
        assert refused["success"] is False
        await ws.send_json(bb.ws_auth(secret="wrong"))
        bad = await ws.receive_json(timeout=5)
        assert (bad["op"], bad["success"]) == ("auth", False)
        await ws.send_json(bb.ws_auth())
        ok = await ws.receive_json(timeout=5)
        assert (ok["op"], ok["success"], ok["ret_msg"]) == ("auth", True, "") and ok["conn_id"]
        await ws.send_json({"req_id": "s1", "op": "subscribe", "args": ["order.linear", "execution", "nope"]})
        assert (await ws.receive_json(timeout=5))["success"] is False
        await ws.send_json({"req_id": "s2", "op": "subscribe", "args": ["order.linear", "execution", "wallet"]})
        assert (await ws.receive_json(timeout=5))["success"] is True
        await ws.send_json({"req_id": "p1", "op": "ping"})
        pong = await ws.receive_json(timeout=5)
        assert (pong["op"], pong["req_id"]) == ("pong", "p1") and pong["args"][0].isdigit()
        await bb.post(
            "/v5/order/create",
            {
                "category": "linear",
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Market",
                "qty": "0.01",
                "orderLinkId": "w1",
            },
        )
        topics: dict[str, Any] = {}
        while not {"order.linear", "execution", "wallet"} <= set(topics):
            msg = await ws.receive_json(timeout=5)
            topics.setdefault(msg["topic"], msg)
        assert topics["order.linear"]["data"][0]["category"] == "linear"
        execution = topics["execution"]["data"][0]
        assert execution["orderLinkId"] == "w1" and execution["execType"] == "Trade" and execution["isMaker"] is False
        assert topics["wallet"]["data"][0]["accountType"] == "UNIFIED"


@pytest.mark.parametrize("category", ["spot", "linear", "option"])
async def test_public_pong_formats_and_books(bb: Client, category: str) -> None:
    url = bb.urls["public"].rsplit("/", 1)[0] + f"/{category}"
    async with bb.http.ws_connect(url) as ws:
        await ws.send_json({"req_id": "p", "op": "ping"})
        pong = await ws.receive_json(timeout=5)
        if category == "option":
            assert pong["op"] == "pong" and pong["args"][0].isdigit()
        else:
            assert (pong["op"], pong["ret_msg"], pong["success"]) == ("ping", "pong", True)
            assert ("req_id" in pong) is (category == "linear")
        symbol = next(iter(bb.sim.exchange.markets[f"bybit-{category}"].instruments))
        depth = 25 if category == "option" else 1
        await ws.send_json({"req_id": "s", "op": "subscribe", "args": [f"orderbook.{depth}.{symbol}"]})
        assert (await ws.receive_json(timeout=5))["success"] is True
        book = await ws.receive_json(timeout=5)
        assert book["topic"] == f"orderbook.{depth}.{symbol}" and book["type"] == "snapshot"
        market = bb.sim.exchange.markets[f"bybit-{category}"]
        inst = market.instruments[symbol]
        bids, asks = market.books[symbol].depth(depth)
        assert book["data"]["b"] == [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in bids]
        assert book["data"]["a"] == [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in asks]
        assert len(bids) == 1 if depth == 1 else len(bids) >= 1


async def test_trade_websocket_order_entry(bb: Client) -> None:
    async with bb.http.ws_connect(bb.urls["trade"]) as ws:
        header = {"X-BAPI-TIMESTAMP": str(int(time.time() * 1000))}
        order = limit("linear", "BTCUSDT", bb.bid("bybit-linear", "BTCUSDT") - 100, "0.01", orderLinkId="t1")
        await ws.send_json({"reqId": "r0", "header": header, "op": "order.create", "args": [order]})
        assert (await ws.receive_json(timeout=5))["retCode"] == 10007  # not authenticated
        await ws.send_json({k: v for k, v in bb.ws_auth().items() if k != "req_id"})
        auth = await ws.receive_json(timeout=5)
        assert (auth["op"], auth["retCode"]) == ("auth", 0)
        await ws.send_json({"reqId": "r1", "header": header, "op": "order.create", "args": [order]})
        ack = await ws.receive_json(timeout=5)
        assert (ack["reqId"], ack["retCode"], ack["op"], ack["data"]["orderLinkId"]) == ("r1", 0, "order.create", "t1")
        assert set(ack["header"]) == {
            "X-Bapi-Limit",
            "X-Bapi-Limit-Status",
            "X-Bapi-Limit-Reset-Timestamp",
            "Traceid",
            "Timenow",
        }
        await ws.send_json({"reqId": "r1", "header": header, "op": "order.cancel", "args": [order]})
        assert (await ws.receive_json(timeout=5))["retCode"] == 20006  # reqId reused
        await ws.send_json({"reqId": "r2", "header": header, "op": "order.nope", "args": [order]})
        assert (await ws.receive_json(timeout=5))["retCode"] == 10404
        stale = {"X-BAPI-TIMESTAMP": str(int(time.time() * 1000) - 60_000)}
        await ws.send_json({"reqId": "r3", "header": stale, "op": "order.cancel", "args": [order]})
        assert (await ws.receive_json(timeout=5))["retCode"] == 10002
        await ws.send_json({"reqId": "r4", "header": header, "op": "order.cancel", "args": [order]})
        gone = await ws.receive_json(timeout=5)
        assert gone["retCode"] == 0 and gone["data"]["orderLinkId"] == "t1"


async def test_spot_margin_borrows_within_the_limit(bb: Client) -> None:
    price = bb.bid("bybit-spot", "BTCUSDT") - 1
    _, body, _ = await bb.post(
        "/v5/order/create", limit("spot", "BTCUSDT", price, "1.5", isLeverage=1, orderLinkId="m1")
    )
    assert body["retCode"] == 0
    _, wallet, _ = await bb.get("/v5/account/wallet-balance", "accountType=UNIFIED&coin=USDT")
    usdt = wallet["result"]["list"][0]["coin"][0]
    owed = price * Decimal("1.5") - 100000
    assert Decimal(usdt["borrowAmount"]) == owed
    # the loan is in the wallet and owed back: equity is unchanged (100k spot + 100k linear)
    assert Decimal(usdt["walletBalance"]) == 200000 + owed and Decimal(usdt["equity"]) == 200000
    # beyond twice the spot wallet's value nothing is lent: the venue's balance error
    _, body, _ = await bb.post("/v5/order/create", limit("spot", "BTCUSDT", price, "50", isLeverage=1))
    assert body["retCode"] == 170131
    _, body, _ = await bb.post("/v5/order/create", limit("linear", "BTCUSDT", price, "0.01", isLeverage=1))
    assert body["retCode"] == 10001  # isLeverage is spot only
    await bb.post("/v5/order/cancel", {"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "m1"})


async def test_ready_line_names_every_bybit_exchange_value(sim: Simulator) -> None:
    venues = sim.ready["venues"]
    entries = [venues[f"bybit-{c}"] for c in ("spot", "linear", "inverse", "option")]
    for category, entry in zip(("spot", "linear", "inverse", "option"), entries, strict=True):
        assert set(entry) == {"rest", "private", "trade", "public"}
        assert entry["public"].endswith(f"/v5/public/{category}") and entry["private"].endswith("/v5/private")
        assert entry["trade"].endswith("/v5/trade") and entry["rest"].startswith("http://")
    # one REST, private, trade and public host for all four (Bybit's hosts are shared by the categories)
    assert len({(e["rest"], e["private"], e["trade"], e["public"].rsplit("/", 1)[0]) for e in entries}) == 1


async def test_dcp_cancels_the_products_orders_when_its_private_connections_are_gone(bb: Client) -> None:
    """Disconnection Protection as Bybit's docs describe it: ``/v5/order/disconnected-cancel-all`` sets a
    product's ``timeWindow`` (3-300 s); the private connection subscribed to ``dcp.future`` closes and does not
    come back within it: the account's linear orders are cancelled (``cancelType`` ``CancelByDCP``), its spot
    order (another product) stays. A connection that unsubscribes before closing starts no timing."""
    _, body, _ = await bb.post("/v5/order/disconnected-cancel-all", {"product": "DERIVATIVES", "timeWindow": 2})
    assert body["retCode"] == 10001  # below the documented minimum of 3 s
    _, body, _ = await bb.post("/v5/order/disconnected-cancel-all", {"product": "FUTURES", "timeWindow": 3})
    assert body["retCode"] == 10001
    _, body, _ = await bb.post("/v5/order/disconnected-cancel-all", {"product": "DERIVATIVES", "timeWindow": 3})
    assert body["retCode"] == 0, body

    async def rest(category: str, symbol: str, link: str, qty: str) -> None:
        price = bb.bid(f"bybit-{category}", symbol) * Decimal("0.97")
        price = price.quantize(Decimal("1"))
        _, body, _ = await bb.post("/v5/order/create", limit(category, symbol, price, qty, orderLinkId=link))
        assert body["retCode"] == 0, body

    async def status(category: str, symbol: str, link: str) -> tuple[str, str]:
        _, rows, _ = await bb.get("/v5/order/realtime", f"category={category}&symbol={symbol}&orderLinkId={link}")
        row = rows["result"]["list"][0]
        return row["orderStatus"], row["cancelType"]

    # 1. unsubscribed before closing (a deliberate stop): nothing is cancelled
    async with bb.http.ws_connect(bb.urls["private"]) as ws:
        await ws.send_json(bb.ws_auth())
        assert (await ws.receive_json())["success"] is True
        await ws.send_json({"op": "subscribe", "args": ["dcp.future"]})
        assert (await ws.receive_json())["success"] is True
        await rest("linear", "BTCUSDT", "dcp-keep", "0.01")
        await ws.send_json({"op": "unsubscribe", "args": ["dcp.future"]})
        assert (await ws.receive_json())["success"] is True
    dcp = next(fe.venue_state.dcp for fe in bb.sim.frontends if isinstance(fe, CategoryFrontend))
    assert dcp.pending(bb.account) == []  # no timing started
    # 2. closed while subscribed: the timing starts
    async with bb.http.ws_connect(bb.urls["private"]) as ws:
        await ws.send_json(bb.ws_auth())
        assert (await ws.receive_json())["success"] is True
        await ws.send_json({"op": "subscribe", "args": ["dcp.future"]})
        assert (await ws.receive_json())["success"] is True
        await rest("linear", "BTCUSDT", "dcp-lin", "0.01")
        await rest("spot", "BTCUSDT", "dcp-spot", "0.001")
    closed = time.monotonic()
    assert dcp.pending(bb.account) == ["DERIVATIVES"]
    assert await status("linear", "BTCUSDT", "dcp-lin") == ("New", "UNKNOWN")
    deadline = closed + 3.0 + 3.0
    while (await status("linear", "BTCUSDT", "dcp-lin"))[0] == "New":
        assert time.monotonic() < deadline, "DCP did not cancel within its window"
        await asyncio.sleep(0.05)  # polling interval of a deadline-bounded wait
    assert time.monotonic() - closed >= 2.9  # not before the window
    assert await status("linear", "BTCUSDT", "dcp-lin") == ("Cancelled", "CancelByDCP")
    assert (await status("linear", "BTCUSDT", "dcp-keep"))[0] == "Cancelled"  # the pending timing covered it too
    assert await status("spot", "BTCUSDT", "dcp-spot") == ("New", "UNKNOWN")
    await bb.post("/v5/order/cancel", {"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "dcp-spot"})
