"""Binance spot front-end: REST (api.binance.com), WebSocket API (ws-api) and market streams.

Three listening sockets, one per real host: ``rest`` serves ``/api/v3/...`` (``spot_rest``) and
the cross-margin ``/sapi/v1/margin/...`` and ``/sapi/v1/userListenToken`` routes (``margin``),
``wsApi`` serves ``/ws-api/v3`` (``spot_ws``, including the user data stream), ``stream`` serves
``/ws/...`` and ``/stream?streams=...`` (``spot_streams``). Margin orders trade on the same books;
their events reach the connections subscribed with a margin ``listenToken``. One engine listener turns engine events
into executionReport / outboundAccountPosition events and market-stream messages, synchronously,
inside the engine operation that caused them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from ...core.engine import Market
from ...core.types import AccountEvent, BookTop, Event, OrderEvent, PublicTrade
from ..common import Endpoint, WsRegistry, dumps
from .margin import MarginDesk, install_margin
from .marketdata import PeriodicStreams
from .ratelimit import spot_limits
from .rest_common import BinanceHttp
from .spot_rest import install_rest
from .spot_streams import SpotStreams
from .spot_trading import SpotTrading
from .spot_wire import account_position, d8, execution_report
from .spot_ws import SpotWsApi

if TYPE_CHECKING:
    from ...app import Simulator

TICK_S = 0.1  # timer resolution: partial-depth pushes, dropped-socket sweeps


class SpotFrontend:
    def __init__(self, sim: Simulator, market: Market) -> None:
        self.venue = market.name
        self.sim = sim
        self.market = market
        self.sockets = WsRegistry()
        exchange = sim.exchange
        self.faults = sim.faults[market.name]
        self.limiter = spot_limits()
        self.trading = SpotTrading(market, self.faults, self.limiter, exchange.now_ms)
        periodic = PeriodicStreams(sim.marketdata, market, "spot", d8, d8)
        self.streams = SpotStreams(exchange, market, self.faults, self.sockets, periodic)
        self.http = BinanceHttp(exchange, self.faults, self.limiter, futures=False)
        install_rest(self.http, market, self.trading, self.streams.update_id)
        self.ws_api = SpotWsApi(
            exchange, market, self.faults, self.limiter, self.trading, self.sockets, self.streams.update_id
        )
        self.margin = MarginDesk(exchange, market, self.trading, self.faults)
        install_margin(self.http, self.ws_api, self.margin)
        self.ws_app = web.Application()
        self.ws_app.router.add_get("/ws-api/v3", self.ws_api.handle)
        self._execution_id = 0
        self.trading.lists.publish = self._publish_list_status
        exchange.subscribe(self._on_event)

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("rest", self.http.app),
            Endpoint("wsApi", self.ws_app, "ws", "/ws-api/v3"),
            Endpoint("stream", self.streams.app, "ws"),
        ]

    async def run(self) -> None:
        """Timers until cancelled: partial-depth pushes and closing sockets a ``drop`` fault targeted."""
        while True:
            await asyncio.sleep(TICK_S)
            self.streams.tick()
            self.margin.expire(self.ws_api)
            if self.faults.drop_generation:
                await self.ws_api.close_dropped()
                await self.streams.close_dropped()

    # ------------------------------------------------------------------ engine events

    def _publish_list_status(self, account_id: str, event: dict[str, object]) -> None:
        if account_id in self.ws_api.listeners:
            self.ws_api.push(account_id, dumps(event))

    def _on_event(self, ev: Event) -> None:
        if ev.market != self.market.name:
            return
        if isinstance(ev, OrderEvent):
            self._execution_id += 1
            self.trading.last_execution_id = self._execution_id
            if ev.fill is not None:
                self.trading.on_fill(ev.fill)
                self.margin.on_fill(ev.order, ev.fill)
            self.streams.on_order(ev)
            self.trading.lists.on_event(ev)
            account_id = ev.order.account_id
            if account_id in self.ws_api.listeners:
                now = self.sim.exchange.now_ms()
                self.ws_api.push(account_id, dumps(execution_report(ev, self._execution_id, now)))
        elif isinstance(ev, BookTop):
            self.streams.on_book_top(ev)
        elif isinstance(ev, PublicTrade):
            self.streams.on_trade(ev)
        elif isinstance(ev, AccountEvent):
            if ev.account_id in self.ws_api.listeners and ev.assets:
                account = self.sim.exchange.accounts[ev.account_id]
                now = self.sim.exchange.now_ms()
                self.ws_api.push(
                    ev.account_id, dumps(account_position(self.market, account, ev.assets, now, ev.time_ms))
                )
