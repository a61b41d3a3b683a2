"""execx end to end on every Bybit exchange value (bybit-spot, -linear, -inverse, -option), over gRPC and
over REST + websocket, against the embedded simulator on real loopback sockets: every transaction
type, post-only cross, partial fills, private-stream reconnect with no missed fill, spot margin, and
BatchSendOrders / pull going out as create-batch / cancel-batch requests (counted on the simulator)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_server.app import Service
from execx_sim.venues.bybit.instruments import option_expiry, option_symbol
from service_helpers import collect, receive_until, rest_poster, running_execx
from test_service_grpc import uid

KEY = "bybit-integration-key"
AUTH = (("x-api-key", KEY),)
OPTION = option_symbol("BTC", option_expiry(datetime.datetime.now(datetime.UTC).date()), 100000, True)
# exchange value -> (proto enum, symbol, order size, tick)
VENUES: dict[str, tuple[int, str, Decimal, Decimal]] = {
    "bybit-spot": (c.EXCHANGE_BYBIT_SPOT, "BTCUSDT", Decimal("0.01"), Decimal("0.01")),
    "bybit-linear": (c.EXCHANGE_BYBIT_LINEAR, "BTCUSDT", Decimal("0.01"), Decimal("0.1")),
    "bybit-inverse": (c.EXCHANGE_BYBIT_INVERSE, "BTCUSD", Decimal("100"), Decimal("0.5")),
    "bybit-option": (c.EXCHANGE_BYBIT_OPTION, OPTION, Decimal("0.1"), Decimal("5")),
}


class Svc:
    def __init__(self, service: Service, http: aiohttp.ClientSession) -> None:
        self.service = service
        self.ready = service.ready
        self.http = http
        self.channel = grpc.aio.insecure_channel(self.ready["grpc"])
        self.om = om_grpc.OrderManagerServiceStub(self.channel)
        self.admin = self.ready["sim"]["admin"]

    async def admin_post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.http.post(f"{self.admin}{path}", json=body) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def new_account(self) -> dict[str, str]:
        acct: dict[str, str] = await self.admin_post("/admin/accounts", {})
        return acct

    async def session(self, venue: str, use_margin: bool = False) -> str:
        acct = await self.new_account()
        sid = uid("s-")
        await self.om.StartOrderHandler(
            om.StartOrderHandlerRequest(
                session_id=sid,
                exchange_key=c.ExchangeKey(
                    api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=VENUES[venue][0]
                ),
                use_margin=use_margin,
            ),
            metadata=AUTH,
        )
        return sid

    async def top(self, venue: str) -> tuple[Decimal, Decimal]:
        params = {"market": venue, "symbol": VENUES[venue][1], "limit": "1"}
        async with self.http.get(f"{self.admin}/admin/book", params=params) as r:
            book = await r.json()
        return Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])

    async def trade(self, venue: str, price: Decimal, qty: Decimal, aggressor: str) -> None:
        body = {
            "market": venue,
            "symbol": VENUES[venue][1],
            "price": str(price),
            "qty": str(qty),
            "aggressor": aggressor,
        }
        await self.admin_post("/admin/market/trade", body)

    async def send(self, **fields: Any) -> om.SendOrderResponse:
        resp: om.SendOrderResponse = await self.om.SendOrder(om.SendOrderRequest(**fields), metadata=AUTH)
        return resp


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running_execx(tmp_path_factory.mktemp("execx-bybit"), KEY) as (service, http):
        s = Svc(service, http)
        yield s
        await s.channel.close()


def limit(sid: str, cl: str, symbol: str, side: int, price: Decimal, qty: Decimal, **kw: Any) -> dict[str, Any]:
    return dict(
        session_id=sid,
        cl_order_id=cl,
        symbol=symbol,
        side=side,
        price=float(price),
        qty=float(qty),
        order_type=kw.pop("order_type", c.ORDER_TYPE_LIMIT),
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_GTC,
        **kw,
    )


@pytest.mark.parametrize("venue", list(VENUES))
async def test_every_transaction_type_with_partial_fills(svc: Svc, venue: str) -> None:
    exchange, symbol, qty, tick = VENUES[venue]
    sid = await svc.session(venue)
    bid, _ = await svc.top(venue)
    price = bid - 4 * tick
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)

    ack = await svc.send(**limit(sid, "o1", symbol, c.SIDE_BUY, price, qty * 3))
    assert ack.order.order_status in (c.ORDER_STATUS_NEW, c.ORDER_STATUS_PENDING_NEW) and ack.order.exch_order_id

    # two sellers hit the order: two partial fills, each its own update with its Bybit execId
    for _ in range(2):
        await svc.trade(venue, price, qty, "sell")
    got = await collect(stream, lambda g: sum(1 for t in g if t.trade_id) >= 2)
    fills = [t for t in got if t.trade_id]
    assert len({t.trade_id for t in fills}) == 2
    assert all(Decimal(repr(t.executed_qty)) == qty and Decimal(repr(t.price)) == price for t in fills)
    assert fills[-1].order_status == c.ORDER_STATUS_PARTIALLY_FILLED
    assert Decimal(repr(fills[-1].cumulative_filled_qty)) == 2 * qty
    assert fills[-1].trade_liquidity == c.TRADE_LIQUIDITY_ADD
    if venue != "bybit-spot":
        pos = await svc.om.GetPosition(
            om.GetPositionRequest(session_id=sid, symbol=symbol, exchange=exchange), metadata=AUTH
        )
        assert Decimal(repr(pos.position)) == 2 * qty

    # update: a venue amend (/v5/order/amend) to a lower price, same size
    new_price = price - 6 * tick
    up = await svc.send(
        session_id=sid,
        cl_order_id="o1",
        symbol=symbol,
        price=float(new_price),
        qty=float(qty * 3),
        transaction_type=c.TRANSACTION_TYPE_UPDATE,
    )
    assert up.order.order_status == c.ORDER_STATUS_PARTIALLY_FILLED
    assert Decimal(repr(up.order.price)) == new_price
    # delete
    gone = await svc.send(session_id=sid, cl_order_id="o1", symbol=symbol, transaction_type=c.TRANSACTION_TYPE_DELETE)
    assert gone.order.order_status == c.ORDER_STATUS_CANCELLED

    # pull: every open order of the session on the symbol
    for i in range(3):
        await svc.send(**limit(sid, f"p{i}", symbol, c.SIDE_BUY, price - (10 + i) * tick, qty))
    await svc.send(session_id=sid, symbol=symbol, transaction_type=c.TRANSACTION_TYPE_PULL)
    for i in range(3):
        o = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=f"p{i}"), metadata=AUTH)
        deadline = time.monotonic() + 10
        while o.order.order_status != c.ORDER_STATUS_CANCELLED and time.monotonic() < deadline:
            await collect(stream, lambda g: len(g) >= 1)
            o = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=f"p{i}"), metadata=AUTH)
        assert o.order.order_status == c.ORDER_STATUS_CANCELLED
    stream.cancel()


@pytest.mark.parametrize("venue", list(VENUES))
async def test_post_only_cross_is_cancelled_with_the_venue_reason(svc: Svc, venue: str) -> None:
    _, symbol, qty, _tick = VENUES[venue]
    sid = await svc.session(venue)
    _, ask = await svc.top(venue)
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    await svc.send(**limit(sid, "po1", symbol, c.SIDE_BUY, ask, qty, order_type=c.ORDER_TYPE_POSTONLY))
    got = await collect(stream, lambda g: any(t.order_status == c.ORDER_STATUS_CANCELLED for t in g))
    done = next(t for t in got if t.order_status == c.ORDER_STATUS_CANCELLED)
    assert done.message.startswith("EC_PostOnlyWillTakeLiquidity") and done.cumulative_filled_qty == 0
    assert not any(t.trade_id for t in got)
    stream.cancel()


@pytest.mark.parametrize("venue", list(VENUES))
async def test_dropped_private_stream_loses_no_fill(svc: Svc, venue: str) -> None:
    _, symbol, qty, tick = VENUES[venue]
    sid = await svc.session(venue)
    bid, _ = await svc.top(venue)
    price = bid - 3 * tick
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    await svc.send(**limit(sid, "d1", symbol, c.SIDE_BUY, price, qty))
    await collect(stream, lambda g: any(t.order_status == c.ORDER_STATUS_NEW for t in g))
    # every Bybit websocket is dropped and the fill happens while execx's private stream is down
    dropped = await svc.admin_post(f"/admin/faults/{venue}/drop", {})
    assert dropped["dropped"] >= 1
    await svc.trade(venue, price, qty, "sell")
    got = await collect(stream, lambda g: any(t.order_status == c.ORDER_STATUS_FILLED for t in g), within_s=20)
    fills = [t for t in got if t.trade_id]
    assert len(fills) == 1 and Decimal(repr(fills[0].executed_qty)) == qty
    assert Decimal(repr(fills[0].price)) == price
    # once back, a new order is live and nothing is reported twice
    await svc.send(**limit(sid, "d2", symbol, c.SIDE_BUY, price - tick, qty))
    more = await collect(
        stream, lambda g: any(t.cl_order_id == "d2" and t.order_status == c.ORDER_STATUS_NEW for t in g)
    )
    assert not [t for t in more if t.trade_id]
    await svc.send(session_id=sid, symbol=symbol, transaction_type=c.TRANSACTION_TYPE_PULL)  # leave the book as found
    stream.cancel()


async def test_market_order_fills_at_the_book(svc: Svc) -> None:
    _, symbol, qty, _tick = VENUES["bybit-linear"]
    sid = await svc.session("bybit-linear")
    _, ask = await svc.top("bybit-linear")
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    await svc.send(
        session_id=sid,
        cl_order_id="m1",
        symbol=symbol,
        side=c.SIDE_BUY,
        qty=float(qty),
        order_type=c.ORDER_TYPE_MARKET,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_IOC,
    )
    got = await collect(stream, lambda g: any(t.order_status == c.ORDER_STATUS_FILLED for t in g))
    fills = [t for t in got if t.trade_id]
    assert sum(Decimal(repr(f.executed_qty)) for f in fills) == qty
    assert (
        Decimal(repr(fills[0].fill_price)) == ask
        and fills[0].price == 0
        and fills[0].trade_liquidity == c.TRADE_LIQUIDITY_REMOVE
    )
    stream.cancel()


async def test_option_client_order_id_is_checked_against_the_venue_rule(svc: Svc) -> None:
    _, symbol, qty, tick = VENUES["bybit-option"]
    sid = await svc.session("bybit-option")
    bid, _ = await svc.top("bybit-option")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await svc.send(**limit(sid, "bad.id/with:chars", symbol, c.SIDE_BUY, bid - tick, qty))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "clOrderId" in (info.value.details() or "")
    market = svc.service.sim.exchange.markets["bybit-option"]
    ok = await svc.send(**limit(sid, "opt-ok_1", symbol, c.SIDE_BUY, bid - tick, qty))
    live = [o for o in market.orders.values() if o.extra.get("link") == "opt-ok_1"]
    assert ok.order.exch_order_id and [o.client_id for o in live] == ["opt-ok_1"]
    await svc.send(session_id=sid, symbol=symbol, transaction_type=c.TRANSACTION_TYPE_PULL)


async def test_use_margin_buys_beyond_the_spot_balance_by_borrowing(svc: Svc) -> None:
    """useMargin on bybit-spot sends isLeverage=1: the venue lends what the wallet lacks; the same buy
    without margin is refused in the venue's words (170131)."""
    _, symbol, _qty, tick = VENUES["bybit-spot"]
    bid, _ = await svc.top("bybit-spot")
    price, qty = bid - tick, Decimal("1.5")  # ~145k USDT, the default spot wallet holds 100k
    plain = await svc.session("bybit-spot")
    refused = await svc.send(**limit(plain, "nm1", symbol, c.SIDE_BUY, price, qty))
    assert refused.order.order_status == c.ORDER_STATUS_REJECTED and refused.order.message == "Insufficient balance."
    sid = await svc.session("bybit-spot", use_margin=True)
    ok = await svc.send(**limit(sid, "mg1", symbol, c.SIDE_BUY, price, qty))
    assert ok.order.order_status in (c.ORDER_STATUS_NEW, c.ORDER_STATUS_PENDING_NEW)
    market = svc.service.sim.exchange.markets["bybit-spot"]
    (sent,) = [o for o in market.orders.values() if o.extra.get("link") == "mg1"]
    assert sent.extra["isLeverage"] == "1" and sent.is_open
    venue = next(fe for fe in svc.service.sim.frontends if fe.venue == "bybit-spot").venue_state
    assert venue.trading.borrowed_of(sent.account_id) == {"USDT": price * qty - Decimal(100000)}
    await svc.send(session_id=sid, symbol=symbol, transaction_type=c.TRANSACTION_TYPE_PULL)


# ---------------------------------------------------------------------------------------- REST + websocket


@pytest.mark.parametrize("venue", list(VENUES))
async def test_rest_and_websocket_on_every_bybit_exchange(svc: Svc, venue: str) -> None:
    """The seed's JSON shapes over the REST gateway; the session gets the simulator's Bybit hosts by
    default (``execx --sim``), no restUrl / wsUrl."""
    _, symbol, qty, tick = VENUES[venue]
    acct = await svc.new_account()
    url = svc.ready["rest"]
    headers = {"x-api-key": KEY}
    sid = uid("r-")
    bid, _ = await svc.top(venue)
    price = bid - 5 * tick
    post = rest_poster(svc.http, url, headers)
    start = {
        "sessionId": sid,
        "exchangeKey": {"apiKey": acct["apiKey"], "secretKey": acct["secretKey"], "exchange": venue},
    }
    assert await post("/startOrderHandler", start) == {"sessionId": sid}
    async with svc.http.ws_connect(url + "/subscribeUpdates", headers=headers) as ws:
        await ws.send_json({"sessionId": sid, "fromSeq": 0})
        order = {
            "sessionId": sid,
            "clOrderId": "rest-1",
            "symbol": symbol,
            "price": float(price),
            "qty": float(qty * 2),
            "orderType": "limit",
            "transactionType": "insert",
            "tif": "gtc",
            "side": "buy",
        }
        out = await post("/sendOrder", order)
        assert out["order"]["exchange"] == venue and out["order"]["orderStatus"] in ("pendingnew", "new")
        await svc.trade(venue, price, qty, "sell")
        updates: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        await receive_until(ws, updates, lambda u: u.get("tradeId"), deadline)
        fill = next(u for u in updates if u.get("tradeId"))
        assert fill["orderStatus"] == "partiallyfilled" and Decimal(repr(fill["executedQty"])) == qty
        assert fill["exchange"] == venue and fill["clOrderId"] == "rest-1"
        up = await post("/sendOrder", {**order, "transactionType": "update", "price": float(price - tick)})
        assert Decimal(repr(up["order"]["price"])) == price - tick
        gone = await post("/sendOrder", {**order, "transactionType": "delete"})
        assert gone["order"]["orderStatus"] == "cancelled"
        await post("/sendOrder", {**order, "clOrderId": "rest-2", "price": float(price - 2 * tick)})
        await post("/sendOrder", {"sessionId": sid, "symbol": symbol, "transactionType": "pull"})
        await receive_until(
            ws, updates, lambda u: u.get("clOrderId") == "rest-2" and u.get("orderStatus") == "cancelled", deadline + 10
        )


# an order the account cannot pay for, refused item by item: (its size, Bybit's retCode and message)
UNAFFORDABLE = {
    "bybit-spot": (Decimal("10"), 170131, "Insufficient balance."),  # 10 BTC for 100,000 USDT
    "bybit-linear": (Decimal("100"), 110007, "Insufficient available balance"),
}


async def venue_open_orders(svc: Svc, acct: dict[str, str], venue: str) -> set[str]:
    """The account's open orders as Bybit itself lists them (``/v5/order/realtime``, signed here)."""
    category, symbol = venue.removeprefix("bybit-"), VENUES[venue][1]
    query = f"category={category}&symbol={symbol}&limit=50"
    stamp = str(int(time.time() * 1000))
    sign = hmac.new(acct["secretKey"].encode(), f"{stamp}{acct['apiKey']}5000{query}".encode(), hashlib.sha256)
    headers = {
        "X-BAPI-API-KEY": acct["apiKey"],
        "X-BAPI-TIMESTAMP": stamp,
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": sign.hexdigest(),
    }
    rest = svc.ready["sim"]["venues"][venue]["rest"]
    async with svc.http.get(f"{rest}/v5/order/realtime?{query}", headers=headers) as r:
        body = await r.json()
    assert body["retCode"] == 0, body
    return {row["orderLinkId"] for row in body["result"]["list"]}


async def batch_requests(svc: Svc, venue: str) -> dict[str, int]:
    """How many create-batch / cancel-batch requests (REST or ``/v5/trade``) the simulator received."""
    async with svc.http.get(f"{svc.admin}/admin/ratelimits/{venue}") as r:
        counts: dict[str, int] = (await r.json())["requests"].get(venue.removeprefix("bybit-"), {})
    return {op: counts.get(f"/v5/order/{op}-batch", 0) for op in ("create", "cancel")}


@pytest.mark.parametrize("venue", list(UNAFFORDABLE))
async def test_batch_send_and_pull_go_out_as_venue_batches(svc: Svc, venue: str) -> None:
    """BatchSendOrders of N orders: ceil(N / limit) create-batch requests (10 per request on spot, 20 on
    linear), each order its own result (one refused by its own per-item code), all resting on Bybit;
    a pull cancels them in ceil(N / limit) cancel-batch requests."""
    # Bybit counts a batch's orders against the endpoint's per-second limit (linear: 10): room for 25
    await svc.admin_post(f"/admin/ratelimits/{venue}", {"ORDER": 50})
    try:
        await batch_and_pull(svc, venue)
    finally:
        await svc.admin_post(f"/admin/ratelimits/{venue}", {"ORDER": 10})


async def batch_and_pull(svc: Svc, venue: str) -> None:
    exchange, symbol, qty, tick = VENUES[venue]
    per_request = 10 if venue == "bybit-spot" else 20
    acct = await svc.new_account()
    sid = uid("bt-")
    await svc.om.StartOrderHandler(
        om.StartOrderHandlerRequest(
            session_id=sid,
            exchange_key=c.ExchangeKey(api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=exchange),
        ),
        metadata=AUTH,
    )
    bid, _ = await svc.top(venue)
    count = per_request + 5  # two requests: a full one and one of 5
    orders = [
        om.SendOrderRequest(**limit(sid, f"bt{i}", symbol, c.SIDE_BUY, bid - (30 + i) * tick, qty))
        for i in range(count)
    ]
    big, _, message = UNAFFORDABLE[venue]
    orders[7] = om.SendOrderRequest(**limit(sid, "bt-big", symbol, c.SIDE_BUY, bid - 30 * tick, big))
    before = await batch_requests(svc, venue)
    resp = await svc.om.BatchSendOrders(om.BatchSendOrdersRequest(orders=orders), metadata=AUTH)
    after = await batch_requests(svc, venue)
    assert after["create"] - before["create"] == 2
    assert [r.status.code for r in resp.results] == [0] * count
    assert [r.order.cl_order_id for r in resp.results] == [o.cl_order_id for o in orders]
    resting = [r.order for i, r in enumerate(resp.results) if i != 7]
    assert all(o.order_status == c.ORDER_STATUS_NEW and o.exch_order_id for o in resting)
    assert len({o.exch_order_id for o in resting}) == count - 1
    refused = resp.results[7].order
    assert refused.order_status == c.ORDER_STATUS_REJECTED and refused.message == message
    expected = {o.cl_order_id for i, o in enumerate(orders) if i != 7}
    assert await venue_open_orders(svc, acct, venue) == expected

    pulled = await svc.send(session_id=sid, symbol=symbol, transaction_type=c.TRANSACTION_TYPE_PULL)
    assert pulled.order.order_status == c.ORDER_STATUS_CANCELLED
    assert (await batch_requests(svc, venue))["cancel"] - after["cancel"] == 2
    assert await venue_open_orders(svc, acct, venue) == set()
    for cl in expected:
        got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
        assert got.order.order_status == c.ORDER_STATUS_CANCELLED
