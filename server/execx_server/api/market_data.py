"""``MarketDataService``: the market-data hub exposed to clients (gRPC stream; a websocket on the REST
port through the gateway), so a strategy next to execx needs no second feed.

A stream first gets the feed's current best bid/ask (when known) and its current status, then every
change. A client that falls ``MAX_BACKLOG`` messages behind is disconnected with RESOURCE_EXHAUSTED
(it never slows the venue feed or the other consumers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from execx.v1 import market_data_pb2, market_data_pb2_grpc

from ..domain.errors import FailedPrecondition, ValidationError
from ..domain.venue import VenueError
from ..marketdata.hub import MarketDataHub, MarketEvent, QuoteEvent, TradeEvent
from ..observability.metrics import Metrics
from . import convert
from .servicers import Ctx, _status

MAX_BACKLOG = 10_000


def _message(event: MarketEvent) -> market_data_pb2.SubscribeMarketDataResponse:
    if isinstance(event, QuoteEvent):
        q = event.quote
        return market_data_pb2.SubscribeMarketDataResponse(
            exch_time=q.exch_time_ns,
            local_time=event.local_ns,
            quote=market_data_pb2.Quote(
                bid_price=float(q.bid), bid_qty=float(q.bid_qty), ask_price=float(q.ask), ask_qty=float(q.ask_qty)
            ),
        )
    if isinstance(event, TradeEvent):
        t = event.trade
        return market_data_pb2.SubscribeMarketDataResponse(
            exch_time=t.exch_time_ns,
            local_time=event.local_ns,
            trade=market_data_pb2.Trade(
                trade_id=t.trade_id,
                price=float(t.price),
                qty=float(t.qty),
                aggressor_side=convert.SIDE.proto(t.aggressor),
            ),
        )
    return market_data_pb2.SubscribeMarketDataResponse(
        local_time=event.local_ns, status=market_data_pb2.MarketDataStatus(stale=event.stale, reason=event.reason)
    )


class MarketData(market_data_pb2_grpc.MarketDataServiceServicer):
    def __init__(self, hub: MarketDataHub, metrics: Metrics) -> None:
        self.hub = hub
        self.metrics = metrics

    async def SubscribeMarketData(
        self, request: market_data_pb2.SubscribeMarketDataRequest, context: Ctx
    ) -> AsyncIterator[market_data_pb2.SubscribeMarketDataResponse]:
        queue: asyncio.Queue[MarketEvent | None] = asyncio.Queue(MAX_BACKLOG)

        def listener(event: MarketEvent) -> None:
            if (request.no_quotes and isinstance(event, QuoteEvent)) or (
                request.no_trades and isinstance(event, TradeEvent)
            ):
                return
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.close()  # too slow: leave the feed, then tell the client (the None below)
                queue.get_nowait()
                queue.put_nowait(None)

        try:
            exchange = convert.EXCHANGE.domain(request.exchange, "exchange", required=True)
            if not request.symbol:
                raise ValidationError("symbol", "is required")
            sub = await self.hub.subscribe(exchange, request.symbol, listener)
        except (ValidationError, FailedPrecondition, VenueError) as e:
            code, msg = _status(e)
            await context.abort(code, msg)
        self.metrics.subscribers.labels("marketdata").inc()
        try:
            seq = 0
            first: list[MarketEvent] = [sub.feed.status()]
            if sub.feed.quote is not None and not request.no_quotes:
                first.insert(0, QuoteEvent(sub.feed.quote, self.hub.now_ns()))
            for initial in first:
                seq += 1
                yield self._stamp(_message(initial), request, seq)
            while (event := await queue.get()) is not None:
                seq += 1
                yield self._stamp(_message(event), request, seq)
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"subscriber fell more than {MAX_BACKLOG} messages behind; subscribe again",
            )
        finally:
            sub.close()
            self.metrics.subscribers.labels("marketdata").dec()

    @staticmethod
    def _stamp(
        msg: market_data_pb2.SubscribeMarketDataResponse, request: market_data_pb2.SubscribeMarketDataRequest, seq: int
    ) -> market_data_pb2.SubscribeMarketDataResponse:
        msg.exchange = request.exchange
        msg.symbol = request.symbol
        msg.seq = seq
        return msg
