"""Helpers of the Deribit and Pulse integration tests: the market tests' service handle with sessions on
one exchange, order shortcuts, a running ``execx --sim``, and the market-data and reduce-only checks both
venues share (the stream reader is ``service_helpers.collect``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from execx.v1 import common_pb2 as c
from execx.v1 import market_data_pb2 as md
from execx.v1 import order_manager_pb2 as om
from execx_server.app import Service, Settings
from market_helpers import AUTH, KEY, Reader, uid
from market_helpers import Svc as MarketSvc
from service_helpers import collect


class Svc(MarketSvc):
    """The market tests' service handle, with sessions on ``exchange`` and order shortcuts."""

    exchange: int = c.EXCHANGE_UNSPECIFIED

    async def new_session(self) -> str:
        acct = await self.admin_post("/admin/accounts", {})
        sid = uid("s-")
        key = c.ExchangeKey(
            api_key=acct["apiKey"],
            secret_key=acct["secretKey"],
            passphrase=acct.get("passphrase", ""),
            exchange=self.exchange,
        )
        await self.om.StartOrderHandler(om.StartOrderHandlerRequest(session_id=sid, exchange_key=key), metadata=AUTH)
        return sid

    def connector(self, sid: str) -> Any:
        assert self.service.engine is not None
        return self.service.engine.sessions[sid].connector

    async def send(self, **fields: Any) -> om.SendOrderResponse:
        resp: om.SendOrderResponse = await self.om.SendOrder(om.SendOrderRequest(**fields), metadata=AUTH)
        return resp

    async def order(self, sid: str, cl: str) -> c.OrderTransaction:
        o = await self.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
        return o.order


@contextlib.asynccontextmanager
async def running_service(data: Path, exchange: int) -> AsyncIterator[Svc]:
    """``execx --sim`` (quiet book) in this process, reached over gRPC and REST."""
    service = Service(Settings(key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=data, sim=True, sim_quiet=True))
    await service.start()
    try:
        async with aiohttp.ClientSession() as http:
            s = Svc(service, http)
            s.exchange = exchange
            yield s
            await s.channel.close()
    finally:
        await service.stop()


async def check_market_data(svc: Svc, venue: str, symbol: str, qty: Decimal) -> None:
    """The market-data hub over the venue's JSON-RPC feed (``watch_market``): the book's best bid/ask,
    then a printed trade with its price, size (contracts) and aggressor."""
    await svc.new_session()  # the hub needs a live session on the exchange
    reader = Reader(
        svc.md.SubscribeMarketData(md.SubscribeMarketDataRequest(exchange=svc.exchange, symbol=symbol), metadata=AUTH)
    )
    try:
        bid, ask = await svc.top(venue, symbol)
        quote = await reader.wait(lambda m: m.HasField("quote"), "a quote")
        assert (quote.quote.bid_price, quote.quote.ask_price) == (float(bid), float(ask))
        await svc.trade(venue, symbol, bid, qty, "sell")
        trade = await reader.wait(lambda m: m.HasField("trade"), "a trade")
        assert (trade.trade.price, trade.trade.qty, trade.trade.aggressor_side) == (float(bid), float(qty), c.SIDE_SELL)
        assert trade.trade.trade_id
    finally:
        await reader.close()


async def check_reduce_only(svc: Svc, venue: str, symbol: str, qty: float) -> None:
    """A reduce-only sell with no position is refused by the venue; after a buy, the same order rests."""
    sid = await svc.new_session()
    _, ask = await svc.top(venue, symbol)
    sell = {
        "session_id": sid,
        "symbol": symbol,
        "price": float(ask + 100),
        "qty": qty,
        "order_type": c.ORDER_TYPE_LIMIT,
        "transaction_type": c.TRANSACTION_TYPE_INSERT,
        "tif": c.TIME_IN_FORCE_GTC,
        "side": c.SIDE_SELL,
        "reduce_only": True,
    }
    refused = await svc.send(cl_order_id="r1", **sell)
    assert refused.order.order_status == c.ORDER_STATUS_REJECTED and "reduce" in refused.order.message.lower()
    bought = await svc.send(
        session_id=sid,
        cl_order_id="b1",
        symbol=symbol,
        qty=qty,
        order_type=c.ORDER_TYPE_MARKET,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_IOC,
        side=c.SIDE_BUY,
    )
    assert bought.order.exch_order_id
    rests = await svc.send(cl_order_id="r2", **sell)
    assert rests.order.order_status == c.ORDER_STATUS_NEW


async def check_fills_update_delete(
    svc: Svc, venue: str, symbol: str, sid: str, stream: Any, price: Decimal, clip: Decimal
) -> None:
    """``o1``, a buy of 3 ``clip`` resting at ``price`` (``stream``: its session's updates from seq 1): two
    sellers of one clip hit it, two fills each its own update with its trade id; then an update (price
    10 lower, qty unchanged) keeps it partially filled, and a delete cancels it."""
    for _ in range(2):
        await svc.trade(venue, symbol, price, clip, "sell")
    got = await collect(stream, lambda g: sum(1 for t in g if t.trade_id) >= 2)
    fills = [t for t in got if t.trade_id]
    assert [t.order_status for t in got[:2]] == [c.ORDER_STATUS_PENDING_NEW, c.ORDER_STATUS_NEW]
    assert len({t.trade_id for t in fills}) == 2
    assert [(t.executed_qty, t.price) for t in fills] == [(float(clip), float(price))] * 2
    assert fills[-1].cumulative_filled_qty == float(2 * clip) and fills[-1].trade_liquidity == c.TRADE_LIQUIDITY_ADD
    assert fills[-1].order_status == c.ORDER_STATUS_PARTIALLY_FILLED
    up = await svc.send(
        session_id=sid,
        cl_order_id="o1",
        symbol=symbol,
        price=float(price - 10),
        qty=float(3 * clip),
        transaction_type=c.TRANSACTION_TYPE_UPDATE,
    )
    assert up.order.order_status == c.ORDER_STATUS_PARTIALLY_FILLED and up.order.price == float(price - 10)
    gone = await svc.send(session_id=sid, cl_order_id="o1", symbol=symbol, transaction_type=c.TRANSACTION_TYPE_DELETE)
    assert gone.order.order_status == c.ORDER_STATUS_CANCELLED
    stream.cancel()
