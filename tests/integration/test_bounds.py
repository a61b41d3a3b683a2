"""Input bounds through the running service (issue 11): every uint64 ``fromSeq`` works (past the end =
live only); prices and quantities outside the instrument's limits are INVALID_ARGUMENT naming the field and
the venue receives nothing; a malformed ``restUrl`` / ``wsUrl`` is INVALID_ARGUMENT (HTTP 400) and nothing
is connected. Over gRPC and the REST gateway, against the embedded simulator on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import market_data_pb2 as md
from execx.v1 import order_manager_pb2 as om
from jsonrpc_venue_helpers import Svc, running_service
from market_helpers import AUTH, KEY, Reader, exchange_enum, uid

HEADERS = {"x-api-key": KEY}
WAIT_S = 10.0
INT64_END = 2**63  # the first uint64 a signed 64-bit journal cannot hold
UINT64_MAX = 2**64 - 1


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running_service(tmp_path_factory.mktemp("execx-bounds"), c.EXCHANGE_BINANCE_SPOT) as s:
        yield s


def insert(sid: str, cl: str, symbol: str, qty: float, price: float = 0.0, **fields: Any) -> om.SendOrderRequest:
    """A buy insert: limit at ``price``, or market without one."""
    return om.SendOrderRequest(
        session_id=sid,
        cl_order_id=cl,
        symbol=symbol,
        price=price,
        qty=qty,
        order_type=c.ORDER_TYPE_LIMIT if price else c.ORDER_TYPE_MARKET,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        side=c.SIDE_BUY,
        **fields,
    )


async def refused(svc: Svc, req: om.SendOrderRequest) -> str:
    """SendOrder must fail with INVALID_ARGUMENT; its message."""
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await svc.om.SendOrder(req, metadata=AUTH)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
    return str(e.value.details())


# ------------------------------------------------------------------------------------------------ fromSeq


async def resting_order(svc: Svc, sid: str) -> None:
    """One resting buy far below the book: journaled history for the session."""
    out = await svc.om.SendOrder(insert(sid, uid("h"), "BTCUSDT", 0.001, 50000.0), metadata=AUTH)
    assert out.order.order_status in (c.ORDER_STATUS_PENDING_NEW, c.ORDER_STATUS_NEW)


async def first_live_update(svc: Svc, sid: str, updates: asyncio.Queue[tuple[str, int]]) -> tuple[str, int, set[str]]:
    """Send new orders one at a time until the subscription (fed into ``updates`` by a reader task) yields
    its first update: the subscription is registered some time after the request, so an order sent
    before that is not seen live. Returns that update's (clOrderId, seq) and the orders sent."""
    sent: set[str] = set()
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        cl = uid("live")
        sent.add(cl)
        await svc.om.SendOrder(insert(sid, cl, "BTCUSDT", 0.001, 50001.0), metadata=AUTH)
        try:
            first = await asyncio.wait_for(updates.get(), 0.5)
        except TimeoutError:
            continue
        return first[0], first[1], sent
    raise AssertionError("no update within the deadline")


async def last_seq(svc: Svc, sid: str) -> int:
    sessions = (await svc.om.ListSessions(om.ListSessionsRequest(), metadata=AUTH)).sessions
    return next(s.last_seq for s in sessions if s.session_id == sid)


@pytest.mark.parametrize("from_seq", [INT64_END, UINT64_MAX])
async def test_grpc_from_seq_past_the_journal_is_live_only(svc: Svc, from_seq: int) -> None:
    sid = await svc.session("binance-spot")
    await resting_order(svc, sid)
    history_end = await last_seq(svc, sid)
    assert history_end >= 2
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=from_seq), metadata=AUTH)
    updates: asyncio.Queue[tuple[str, int]] = asyncio.Queue()

    async def pump() -> None:
        async for msg in stream:
            await updates.put((msg.transaction.cl_order_id, msg.transaction.seq))

    reader = asyncio.create_task(pump())
    try:
        cl, seq, sent = await first_live_update(svc, sid, updates)
    finally:
        stream.cancel()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    # nothing replayed: the first update is a live one, numbered after the history
    assert cl in sent and seq > history_end, (cl, seq, history_end)
    fills = await svc.om.ListFills(om.ListFillsRequest(session_id=sid, after_seq=from_seq), metadata=AUTH)
    assert not fills.fills


@pytest.mark.parametrize("from_seq", [INT64_END, UINT64_MAX])
async def test_rest_from_seq_past_the_journal_is_live_only(svc: Svc, from_seq: int) -> None:
    sid = await svc.session("binance-spot")
    await resting_order(svc, sid)
    history_end = await last_seq(svc, sid)
    ws_url = svc.rest.replace("http://", "ws://") + "/subscribeUpdates"
    updates: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    async with svc.http.ws_connect(ws_url, headers=HEADERS) as ws:
        await ws.send_str(json.dumps({"sessionId": sid, "fromSeq": from_seq}))

        async def pump() -> None:
            async for msg in ws:
                assert msg.type == aiohttp.WSMsgType.TEXT, msg
                body = json.loads(msg.data)
                await updates.put((body.get("clOrderId", repr(body)), int(body.get("seq", 0))))

        reader = asyncio.create_task(pump())
        try:
            cl, seq, sent = await first_live_update(svc, sid, updates)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    assert cl in sent and seq > history_end, (cl, seq, history_end)


# ------------------------------------------------------------------------------------------------ limits


def binance_sign(secret: str, params: dict[str, str]) -> str:
    query = urllib.parse.urlencode(params)
    return query + "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


async def binance_orders_counted(svc: Svc, acct: dict[str, str]) -> int:
    """The venue's own count of the account's new-order requests today: one valid order sent directly to
    the simulated Binance spot REST API answers with ``X-MBX-ORDER-COUNT-1D`` (that order included)."""
    rest = svc.sim["venues"]["binance-spot"]["rest"]
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.001",
        "price": "50000.00",
        "timestamp": str(int(time.time() * 1000)),
    }
    url = f"{rest}/api/v3/order?{binance_sign(acct['secretKey'], params)}"
    async with svc.http.post(url, headers={"X-MBX-APIKEY": acct["apiKey"]}) as r:
        assert r.status == 200, await r.text()
        return int(r.headers["X-MBX-ORDER-COUNT-1D"]) - 1


async def test_binance_spot_limits_refuse_before_sending(svc: Svc) -> None:
    acct = await svc.admin_post("/admin/accounts", {})
    sid = await svc.session("binance-spot", acct)
    cases = [
        # (request, field, words) -- exchangeInfo of the simulated BTCUSDT: PRICE_FILTER maxPrice 10000000,
        # LOT_SIZE maxQty 9000, MARKET_LOT_SIZE maxQty 500, NOTIONAL minNotional 5
        (insert(sid, "b1", "BTCUSDT", 0.001, 1e20), "price", "out of range"),
        (insert(sid, "b2", "BTCUSDT", 0.001, 20_000_000.0), "price", "above the maximum 10000000 for BTCUSDT"),
        (insert(sid, "b3", "BTCUSDT", 1e12, 90000.0), "qty", "above the maximum 9000 for BTCUSDT"),
        (insert(sid, "b4", "BTCUSDT", 9000.5, 90000.0), "qty", "above the maximum 9000"),
        (insert(sid, "b5", "BTCUSDT", 0.00001, 90000.0), "qty", "notional 0.9 is below the minimum 5"),
        (insert(sid, "b6", "BTCUSDT", 501.0), "qty", "above the market order maximum 500"),
        (insert(sid, "b7", "BTCUSDT", 0.001, float("nan")), "price", "finite"),
        (insert(sid, "b8", "BTCUSDT", 2e15, 90000.0), "qty", "out of range"),
    ]
    for req, field, words in cases:
        message = await refused(svc, req)
        assert message.startswith(f"{field}: ") and words in message, (req.cl_order_id, message)
    listed = await svc.om.ListOrders(om.ListOrdersRequest(session_id=sid), metadata=AUTH)
    assert not listed.orders
    # the venue saw none of them
    assert await binance_orders_counted(svc, acct) == 0


async def test_binance_spot_amend_is_checked_the_same_way(svc: Svc) -> None:
    acct = await svc.admin_post("/admin/accounts", {})
    sid = await svc.session("binance-spot", acct)
    await svc.om.SendOrder(insert(sid, "a1", "BTCUSDT", 0.001, 50000.0), metadata=AUTH)
    before = await binance_orders_counted(svc, acct)
    amend = om.SendOrderRequest(
        session_id=sid, cl_order_id="a1", symbol="BTCUSDT", transaction_type=c.TRANSACTION_TYPE_UPDATE
    )
    for change, field in [({"price": 20_000_000.0}, "price"), ({"qty": 10_000.0}, "qty"), ({"price": 1e20}, "price")]:
        req = om.SendOrderRequest()
        req.CopyFrom(amend)
        for k, v in change.items():
            setattr(req, k, v)
        assert (await refused(svc, req)).startswith(f"{field}: ")
    order = (await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id="a1"), metadata=AUTH)).order
    assert (order.price, order.qty, order.order_status) == (50000.0, 0.001, c.ORDER_STATUS_NEW)
    assert await binance_orders_counted(svc, acct) == before + 1  # only the probe itself since


async def test_rest_send_order_out_of_bounds_is_400(svc: Svc) -> None:
    sid = await svc.session("binance-spot")
    body = {
        "sessionId": sid,
        "clOrderId": "r1",
        "symbol": "BTCUSDT",
        "price": 1e20,
        "qty": 0.001,
        "orderType": "limit",
        "transactionType": "insert",
        "side": "buy",
    }
    for change, field in [({}, "price"), ({"price": 90000.0, "qty": 1e12}, "qty")]:
        async with svc.http.post(svc.rest + "/sendOrder", json={**body, **change}, headers=HEADERS) as r:
            out = await r.json()
            assert r.status == 400, out
        assert out["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0] and out["message"].startswith(f"{field}: ")


async def bybit_creates(svc: Svc, venue: str) -> int:
    """How many order-create requests (REST or ``/v5/trade``) the simulated Bybit received on ``venue``."""
    async with svc.http.get(f"{svc.admin}/admin/ratelimits/{venue}") as r:
        counts: dict[str, int] = (await r.json())["requests"].get(venue.removeprefix("bybit-"), {})
    return counts.get("/v5/order/create", 0)


async def test_bybit_linear_limits_refuse_before_sending(svc: Svc) -> None:
    sid = await svc.session("bybit-linear")
    before = await bybit_creates(svc, "bybit-linear")
    cases = [
        # instruments-info of the simulated BTCUSDT: priceFilter maxPrice 10000000, lotSizeFilter
        # maxOrderQty 1190, maxMktOrderQty 119, minNotionalValue 5
        (insert(sid, "y1", "BTCUSDT", 0.01, 20_000_000.0), "price", "above the maximum 10000000 for BTCUSDT"),
        (insert(sid, "y2", "BTCUSDT", 1e12, 90000.0), "qty", "above the maximum 1190 for BTCUSDT"),
        (insert(sid, "y3", "BTCUSDT", 120.0), "qty", "above the market order maximum 119 for BTCUSDT"),
        (insert(sid, "y4", "BTCUSDT", 0.001, 1000.0), "qty", "notional 1 is below the minimum 5"),
        (insert(sid, "y5", "BTCUSDT", 0.01, 1e20), "price", "out of range"),
    ]
    for req, field, words in cases:
        message = await refused(svc, req)
        assert message.startswith(f"{field}: ") and words in message, (req.cl_order_id, message)
    assert await bybit_creates(svc, "bybit-linear") == before
    # the same session sends a valid order: the tally does count what reaches the venue
    await svc.om.SendOrder(insert(sid, "y6", "BTCUSDT", 0.01, 93000.0), metadata=AUTH)
    assert await bybit_creates(svc, "bybit-linear") == before + 1


# ------------------------------------------------------------------------------------------------ URLs


class Listener:
    """A TCP listener on loopback that counts connections: proof that nothing connected."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


BAD_URLS = [
    # (venue, restUrl, wsUrl, field)
    ("binance-spot", "127.0.0.1:{port}", "", "restUrl"),
    ("binance-spot", "ftp://127.0.0.1:{port}", "", "restUrl"),
    ("binance-spot", "http://127.0.0.1:{port}/api/v3", "", "restUrl"),
    ("binance-spot", "http://:{port}", "", "restUrl"),
    ("binance-spot", "http://127.0.0.1:99999", "", "restUrl"),
    ("binance-spot", "http://127.0.0.1:{port}", "http://127.0.0.1:{port}", "wsUrl"),
    ("binance-spot", "http://127.0.0.1:{port}", "ws://127.0.0.1:{port}/ws", "wsUrl"),
    ("binance-spot", "http://127.0.0.1:{port}", "stream=ws://127.0.0.1:{port};wsApi=", "wsUrl"),
    ("binance-spot", "http://127.0.0.1:{port}", '{{"stream": "ws://127.0.0.1:{port}", "fix": "x"}}', "wsUrl"),
    ("binance-spot", "http://127.0.0.1:{port}", "{{not json", "wsUrl"),
    ("bybit-linear", "http://127.0.0.1:{port}", "ws://127.0.0.1:{port}/v5/nothing", "wsUrl"),
    ("okx", "http://127.0.0.1:{port}", "wss://127.0.0.1:{port}/ws/v5/other", "wsUrl"),
    ("deribit", "http://127.0.0.1:{port}", "http://127.0.0.1:{port}", "wsUrl"),
    ("deribit", "http://127.0.0.1:{port}", "tcp://127.0.0.1:{port}/fix", "wsUrl"),
    ("pulse", "https://127.0.0.1:{port}/api/v2", "", "restUrl"),
]


def start_request(venue: str, sid: str, rest_url: str, ws_url: str) -> om.StartOrderHandlerRequest:
    key = c.ExchangeKey(api_key="k", secret_key="s", passphrase="p", exchange=exchange_enum(venue))
    return om.StartOrderHandlerRequest(session_id=sid, exchange_key=key, rest_url=rest_url, ws_url=ws_url)


@pytest.mark.parametrize(("venue", "rest_url", "ws_url", "field"), BAD_URLS)
async def test_grpc_malformed_urls_are_invalid_argument(
    svc: Svc, venue: str, rest_url: str, ws_url: str, field: str
) -> None:
    async with Listener() as listener:
        sid = uid("u")
        req = start_request(venue, sid, rest_url.format(port=listener.port), ws_url.format(port=listener.port))
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await svc.om.StartOrderHandler(req, metadata=AUTH)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
        assert str(e.value.details()).startswith(field), e.value.details()
        sessions = await svc.om.ListSessions(om.ListSessionsRequest(), metadata=AUTH)
        assert sid not in {s.session_id for s in sessions.sessions}
        assert listener.connections == 0


async def test_rest_malformed_url_is_400_and_the_id_stays_free(svc: Svc) -> None:
    acct = await svc.admin_post("/admin/accounts", {})
    sid = uid("u")
    body: dict[str, Any] = {
        "sessionId": sid,
        "exchangeKey": {"apiKey": acct["apiKey"], "secretKey": acct["secretKey"], "exchange": "binance-spot"},
    }
    for bad in ({"restUrl": "not a url"}, {"wsUrl": "wss://"}):
        async with svc.http.post(svc.rest + "/startOrderHandler", json={**body, **bad}, headers=HEADERS) as r:
            out = await r.json()
            assert r.status == 400, out
        assert out["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert out["message"].startswith(next(iter(bad))), out
    # nothing was registered: the same id starts a session with the simulator's hosts
    hosts = svc.sim["venues"]["binance-spot"]
    good = {**body, "restUrl": hosts["rest"], "wsUrl": f"stream={hosts['stream']};wsApi={hosts['wsApi']}"}
    async with svc.http.post(svc.rest + "/startOrderHandler", json=good, headers=HEADERS) as r:
        assert r.status == 200, await r.text()


async def test_binance_spot_percent_band_is_checked_where_execx_watches_the_market(svc: Svc) -> None:
    """The percent band (PERCENT_PRICE_BY_SIDE) moves with the market: execx checks it against the mid of
    the market-data feed it keeps for the symbol (here opened by a SubscribeMarketData stream), before
    anything is sent; without a fresh feed the band is the venue's to check."""
    acct = await svc.admin_post("/admin/accounts", {})
    sid = await svc.session("binance-spot", acct)
    feed = Reader(
        svc.md.SubscribeMarketData(
            md.SubscribeMarketDataRequest(exchange=c.EXCHANGE_BINANCE_SPOT, symbol="BTCUSDT"), metadata=AUTH
        )
    )
    try:
        bid, ask = await svc.top("binance-spot", "BTCUSDT")
        for _ in range(30):  # a quote once the venue subscription is up (the quiet book moves only when told)
            await svc.move("binance-spot", "BTCUSDT", (bid + ask) / 2)
            try:
                await feed.wait(lambda m: m.HasField("quote"), "a quote", within_s=0.5)
                break
            except AssertionError:
                continue
        mid = float((bid + ask) / 2)
        message = await refused(svc, insert(sid, "band1", "BTCUSDT", 0.001, round(mid * 10, 2)))
        assert message.startswith("price: ") and "band" in message, message
        message = await refused(svc, insert(sid, "band2", "BTCUSDT", 0.001, round(mid * 0.05, 2)))
        assert message.startswith("price: ") and "band" in message, message
        assert await binance_orders_counted(svc, acct) == 0  # the venue saw neither
        ok = await svc.om.SendOrder(insert(sid, "band3", "BTCUSDT", 0.001, round(mid * 0.5, 2)), metadata=AUTH)
        assert ok.order.order_status == c.ORDER_STATUS_NEW  # inside the band
    finally:
        await feed.close()
