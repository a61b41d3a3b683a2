"""The Deribit venue object: its listening sockets (FIX; JSON-RPC HTTP + WebSocket on one port) and
its timers."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from ...core.engine import Market
from ..common import Endpoint, WsRegistry
from ..jsonrpc import DERIBIT, JsonRpcServer
from .fix import DeribitFix, FixRegistry
from .instruments import OPTION_EXPIRY_MS
from .rpc import DeribitRpc, option_fields
from .trading import DeribitTrading

if TYPE_CHECKING:
    from ...app import Simulator

TICK_S = 0.1


class DeribitFrontend:
    def __init__(self, sim: Simulator, market: Market) -> None:
        self.venue = "deribit"
        self.sim = sim
        self.market = market
        self.faults = sim.faults[market.name]
        registry = FixRegistry()
        self.sockets: WsRegistry = registry  # the admin "drop" fault closes websockets and FIX connections
        self.trading = DeribitTrading(market, self.faults)
        self.fix = DeribitFix(sim.exchange, market, self.trading, registry)
        self.rpc_server = JsonRpcServer(DERIBIT, sim.exchange, self.faults, registry)
        self.rpc = DeribitRpc(self.rpc_server, market, self.trading, option_fields(OPTION_EXPIRY_MS))

    def endpoints(self) -> list[Endpoint]:
        """REST (``/api/v2``) and WebSocket (``/ws/api/v2``) share one port, as on www.deribit.com."""
        app = self.rpc_server.app
        return [
            Endpoint("rest", app),
            Endpoint("ws", app, "ws", "/ws/api/v2"),
            Endpoint("fix", None, "tcp", tcp=self.fix.handle),
        ]

    async def run(self) -> None:
        """Timers until cancelled (good_til_day expiry, book/ticker notifications, dropped sockets); on
        cancel, FIX and WebSocket connections are closed."""
        try:
            while True:
                await asyncio.sleep(TICK_S)
                self.trading.expire_day_orders(self.sim.exchange.now_ms())
                self.rpc.tick()
                if self.faults.drop_generation:
                    await self.rpc_server.close_dropped()
        finally:
            with contextlib.suppress(Exception):
                await self.fix.close_all()
            with contextlib.suppress(Exception):
                await self.rpc_server.close_all()

