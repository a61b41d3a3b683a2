"""execx end to end on exchange ``okx`` (spot BTC-USDT, the BTC-USDT-SWAP linear swap and the
BTC-USD-SWAP inverse swap, both sized in contracts), over gRPC and over REST + websocket, against the
embedded simulator on real loopback sockets: every transaction type, partial fills, the pull
(ready-made batch cancels) also while fills race it, post-only cross (accepted, then cancelled with
cancelSource 31), market orders, batches, and a private-stream reconnect with no missed fill."""

from __future__ import annotations

import asyncio
import itertools
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
from service_helpers import collect, receive_until, rest_poster, running_execx

KEY = "okx-integration-key"
AUTH = (("x-api-key", KEY),)
D = Decimal
# name -> (symbol, order size in the venue's units, tick, base currency per unit for the admin API)
MARKETS: dict[str, tuple[str, Decimal, Decimal, Decimal]] = {
    "spot": ("BTC-USDT", D("0.01"), D("0.1"), D(1)),
    "swap": ("BTC-USDT-SWAP", D(1), D("0.1"), D("0.01")),
    "inverse": ("BTC-USD-SWAP", D(2), D("0.1"), D(1)),  # contracts of 100 USD, margined in BTC
}
_ids = itertools.count(1)


def uid(prefix: str) -> str:
    return f"{prefix}{next(_ids)}x{int(time.time() * 1000) % 10_000_000}"


def dec(value: float) -> Decimal:
    return Decimal(repr(value))


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

    async def session(self) -> str:
        acct = await self.admin_post("/admin/accounts", {})
        sid = uid("s-")
        key = c.ExchangeKey(
            api_key=acct["apiKey"], secret_key=acct["secretKey"], passphrase=acct["passphrase"], exchange=c.EXCHANGE_OKX
        )
        await self.om.StartOrderHandler(om.StartOrderHandlerRequest(session_id=sid, exchange_key=key), metadata=AUTH)
        return sid

    async def top(self, market: str) -> tuple[Decimal, Decimal]:
        params = {"market": "okx", "symbol": MARKETS[market][0], "limit": "1"}
        async with self.http.get(f"{self.admin}/admin/book", params=params) as r:
            book = await r.json()
        return D(book["bids"][0][0]), D(book["asks"][0][0])

    async def trade(self, market: str, price: Decimal, qty: Decimal, aggressor: str) -> None:
        """A print of ``qty`` (venue units: contracts for the swap) at ``price``."""
        symbol, _, _, per_unit = MARKETS[market]
        body = {
            "market": "okx",
            "symbol": symbol,
            "price": str(price),
            "qty": str(qty * per_unit),
            "aggressor": aggressor,
        }
        await self.admin_post("/admin/market/trade", body)

    async def send(self, **fields: Any) -> om.SendOrderResponse:
        resp: om.SendOrderResponse = await self.om.SendOrder(om.SendOrderRequest(**fields), metadata=AUTH)
        return resp

    async def status(self, sid: str, cl: str) -> int:
        o = await self.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
        return int(o.order.order_status)


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running_execx(tmp_path_factory.mktemp("execx-okx"), KEY) as (service, http):
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
        tif=kw.pop("tif", c.TIME_IN_FORCE_GTC),
        **kw,
    )


def final(got: list[c.OrderTransaction], cl: str) -> set[int]:
    done = {c.ORDER_STATUS_FILLED, c.ORDER_STATUS_CANCELLED}
    return {t.order_status for t in got if t.cl_order_id == cl and t.order_status in done}


@pytest.mark.parametrize("market", list(MARKETS))
async def test_every_transaction_type_with_partial_fills(svc: Svc, market: str) -> None:
    symbol, qty, tick, _ = MARKETS[market]
    sid = await svc.session()
    bid, _ = await svc.top(market)
    price = bid - 4 * tick
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)

    ack = await svc.send(**limit(sid, "o1", symbol, c.SIDE_BUY, price, qty * 3))
    assert ack.order.order_status == c.ORDER_STATUS_NEW and ack.order.exch_order_id
    for _ in range(2):  # two sellers hit the order: two partial fills, each with its OKX tradeId
        await svc.trade(market, price, qty, "sell")
    got = await collect(stream, lambda g: sum(1 for t in g if t.trade_id) >= 2)
    fills = [t for t in got if t.trade_id]
    assert len({t.trade_id for t in fills}) == 2
    assert all(dec(t.executed_qty) == qty and dec(t.price) == price for t in fills)
    assert fills[-1].order_status == c.ORDER_STATUS_PARTIALLY_FILLED and dec(fills[-1].cumulative_filled_qty) == 2 * qty
    assert fills[-1].trade_liquidity == c.TRADE_LIQUIDITY_ADD
    if market != "spot":
        pos = await svc.om.GetPosition(
            om.GetPositionRequest(session_id=sid, symbol=symbol, exchange=c.EXCHANGE_OKX), metadata=AUTH
        )
        assert dec(pos.position) == 2 * qty  # contracts

    # update: OKX amend-order (newSz is the new total size)
    up = await svc.send(
        session_id=sid,
        cl_order_id="o1",
        symbol=symbol,
        price=float(price - 6 * tick),
        qty=float(qty * 4),
        transaction_type=c.TRANSACTION_TYPE_UPDATE,
    )
    assert up.order.order_status == c.ORDER_STATUS_PARTIALLY_FILLED
    assert dec(up.order.price) == price - 6 * tick and dec(up.order.qty) == qty * 4
    gone = await svc.send(session_id=sid, cl_order_id="o1", symbol=symbol, transaction_type=c.TRANSACTION_TYPE_DELETE)
    assert gone.order.order_status == c.ORDER_STATUS_CANCELLED and dec(gone.order.cumulative_filled_qty) == 2 * qty

    # pull: 25 working orders, cancelled by the ready-made batches (20 + 5)
    cls = [f"p{i}" for i in range(25)]
    await asyncio.gather(
        *(svc.send(**limit(sid, cl, symbol, c.SIDE_BUY, price - (10 + i) * tick, qty)) for i, cl in enumerate(cls))
    )
    market_obj = svc.service.sim.exchange.markets["okx"]
    assert len([o for o in market_obj.orders.values() if o.extra.get("clOrdId") in cls and o.is_open]) == 25
    await svc.send(session_id=sid, symbol=symbol, transaction_type=c.TRANSACTION_TYPE_PULL)
    got = await collect(stream, lambda g: all(final(g, cl) == {c.ORDER_STATUS_CANCELLED} for cl in cls), got)
    assert not [o for o in market_obj.orders.values() if o.extra.get("clOrdId") in cls and o.is_open]
    stream.cancel()


async def test_pull_racing_fills_ends_every_order_exactly_once(svc: Svc) -> None:
    symbol, qty, tick, _ = MARKETS["spot"]
    sid = await svc.session()
    bid, _ = await svc.top("spot")
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    cls = [f"r{i}" for i in range(30)]
    await asyncio.gather(
        *(svc.send(**limit(sid, cl, symbol, c.SIDE_BUY, bid - (3 + i) * tick, qty)) for i, cl in enumerate(cls))
    )
    await collect(
        stream,
        lambda g: all(any(t.cl_order_id == cl and t.order_status == c.ORDER_STATUS_NEW for t in g) for cl in cls),
    )
    prints = [svc.trade("spot", bid - (3 + i) * tick, qty, "sell") for i in range(4)]
    await asyncio.gather(svc.send(session_id=sid, symbol=symbol, transaction_type=c.TRANSACTION_TYPE_PULL), *prints)
    got = await collect(stream, lambda g: all(final(g, cl) for cl in cls))
    for cl in cls:
        ends = final(got, cl)
        assert len(ends) == 1, (cl, ends)  # filled or cancelled, never both
        fills = [t for t in got if t.cl_order_id == cl and t.trade_id]
        if ends == {c.ORDER_STATUS_FILLED}:
            assert cl in cls[:4] and len(fills) == 1 and dec(fills[0].executed_qty) == qty
        else:
            assert not fills
        assert await svc.status(sid, cl) in ends
    stream.cancel()


async def test_post_only_cross_is_cancelled_with_cancel_source_31(svc: Svc) -> None:
    symbol, qty, _, _ = MARKETS["spot"]
    sid = await svc.session()
    _, ask = await svc.top("spot")
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    await svc.send(**limit(sid, "po1", symbol, c.SIDE_BUY, ask, qty, order_type=c.ORDER_TYPE_POSTONLY))
    got = await collect(stream, lambda g: any(t.order_status == c.ORDER_STATUS_CANCELLED for t in g))
    done = next(t for t in got if t.order_status == c.ORDER_STATUS_CANCELLED)
    assert "cancelSource 31" in done.message and done.cumulative_filled_qty == 0
    assert not any(t.trade_id for t in got)
    stream.cancel()


@pytest.mark.parametrize("market", list(MARKETS))
async def test_market_order_fills_at_the_book(svc: Svc, market: str) -> None:
    symbol, qty, _, _ = MARKETS[market]
    sid = await svc.session()
    _, ask = await svc.top(market)
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
    assert sum(dec(f.executed_qty) for f in fills) == qty  # base currency (spot) / contracts (swap)
    assert (
        dec(fills[0].fill_price) == ask and fills[0].price == 0 and fills[0].trade_liquidity == c.TRADE_LIQUIDITY_REMOVE
    )
    stream.cancel()


async def test_batch_send_uses_the_venue_batch(svc: Svc) -> None:
    symbol, qty, tick, _ = MARKETS["spot"]
    sid = await svc.session()
    bid, _ = await svc.top("spot")
    orders = [
        om.SendOrderRequest(**limit(sid, f"b{i}", symbol, c.SIDE_BUY, bid - (20 + i) * tick, qty)) for i in range(5)
    ]
    bad = om.SendOrderRequest(**limit(sid, "b-bad", symbol, c.SIDE_BUY, bid - 20 * tick, qty))  # '-' breaks OKX's rule
    resp = await svc.om.BatchSendOrders(om.BatchSendOrdersRequest(orders=[*orders, bad]), metadata=AUTH)
    assert [r.status.code for r in resp.results] == [0] * 5 + [grpc.StatusCode.INVALID_ARGUMENT.value[0]]
    assert all(r.order.order_status == c.ORDER_STATUS_NEW and r.order.exch_order_id for r in resp.results[:5])
    assert "clOrderId" in resp.results[5].status.message
    # execx runs with --orderEntry websocket (the default): OKX orders go over the private websocket's
    # order operations (batch-orders here), REST only while that socket is down
    async with svc.http.get(svc.ready["metrics"]) as r:
        text = await r.text()
    assert 'om_venue_request_latency_seconds_count{endpoint="WS batch-orders",exchange="okx",outcome="ok"}' in text


async def test_dropped_private_stream_loses_no_fill(svc: Svc) -> None:
    symbol, qty, tick, _ = MARKETS["swap"]
    sid = await svc.session()
    bid, _ = await svc.top("swap")
    price = bid - 3 * tick
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    await svc.send(**limit(sid, "d1", symbol, c.SIDE_BUY, price, qty))
    await collect(stream, lambda g: any(t.order_status == c.ORDER_STATUS_NEW for t in g))
    dropped = await svc.admin_post("/admin/faults/okx/drop", {})  # every OKX websocket closes
    assert dropped["dropped"] >= 1
    await svc.trade("swap", price, qty, "sell")  # fills while execx's private stream is down
    got = await collect(stream, lambda g: any(t.order_status == c.ORDER_STATUS_FILLED for t in g), within_s=20)
    fills = [t for t in got if t.trade_id]
    assert len(fills) == 1 and dec(fills[0].executed_qty) == qty and dec(fills[0].price) == price
    await svc.send(**limit(sid, "d2", symbol, c.SIDE_BUY, price - tick, qty))
    more = await collect(
        stream, lambda g: any(t.cl_order_id == "d2" and t.order_status == c.ORDER_STATUS_NEW for t in g)
    )
    assert not [t for t in more if t.trade_id]  # nothing reported twice
    stream.cancel()


async def test_rest_and_websocket_with_the_seed_json(svc: Svc) -> None:
    """The seed's JSON shapes over the REST gateway, with the OKX passphrase; the session gets the
    simulator's OKX hosts by default (``execx --sim``), no restUrl / wsUrl."""
    symbol, qty, tick, _ = MARKETS["spot"]
    acct = await svc.admin_post("/admin/accounts", {})
    url, headers, sid = svc.ready["rest"], {"x-api-key": KEY}, uid("r-")
    bid, _ = await svc.top("spot")
    price = bid - 5 * tick
    post = rest_poster(svc.http, url, headers)
    key = {
        "apiKey": acct["apiKey"],
        "secretKey": acct["secretKey"],
        "passphrase": acct["passphrase"],
        "exchange": "okx",
    }
    assert await post("/startOrderHandler", {"sessionId": sid, "exchangeKey": key}) == {"sessionId": sid}
    async with svc.http.ws_connect(url + "/subscribeUpdates", headers=headers) as ws:
        await ws.send_json({"sessionId": sid, "fromSeq": 0})
        order = {
            "sessionId": sid,
            "clOrderId": "rest1",
            "symbol": symbol,
            "price": float(price),
            "qty": float(qty * 2),
            "orderType": "limit",
            "transactionType": "insert",
            "tif": "gtc",
            "side": "buy",
        }
        out = await post("/sendOrder", order)
        assert out["order"]["exchange"] == "okx" and out["order"]["orderStatus"] == "new"
        await svc.trade("spot", price, qty, "sell")
        updates: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10

        async def until(pred: Any) -> None:
            await receive_until(ws, updates, pred, deadline)

        await until(lambda u: u.get("tradeId"))
        fill = next(u for u in updates if u.get("tradeId"))
        assert (
            fill["orderStatus"] == "partiallyfilled"
            and dec(fill["executedQty"]) == qty
            and fill["clOrderId"] == "rest1"
        )
        up = await post("/sendOrder", {**order, "transactionType": "update", "price": float(price - tick)})
        assert dec(up["order"]["price"]) == price - tick
        gone = await post("/sendOrder", {**order, "transactionType": "delete"})
        assert gone["order"]["orderStatus"] == "cancelled"
        await post("/sendOrder", {**order, "clOrderId": "rest2", "price": float(price - 2 * tick)})
        await post("/sendOrder", {"sessionId": sid, "symbol": symbol, "transactionType": "pull"})
        await until(lambda u: u.get("clOrderId") == "rest2" and u.get("orderStatus") == "cancelled")
    bad = {**key, "secretKey": "wrong"}
    async with svc.http.post(
        url + "/startOrderHandler", json={"sessionId": uid("x-"), "exchangeKey": bad}, headers=headers
    ) as r:
        err = await r.json()
    assert r.status == 400 and "Invalid Sign" in err["message"], err
