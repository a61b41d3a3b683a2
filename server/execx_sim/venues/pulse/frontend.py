"""The Pulse venue object: HTTP and WebSocket JSON-RPC on one port, and its timers."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from ...core.engine import Market
from ..common import Endpoint, WsRegistry
from ..deribit.rpc import DeribitRpc, option_fields
from ..deribit.trading import DeribitTrading
from ..jsonrpc import PULSE, JsonRpcServer
from .instruments import OPTION_EXPIRY_MS

if TYPE_CHECKING:
    from ...app import Simulator

TICK_S = 0.1


class PulseFrontend:
    def __init__(self, sim: Simulator, market: Market) -> None:
        self.venue = "pulse"
        self.sim = sim
        self.market = market
        self.faults = sim.faults[market.name]
        self.sockets = WsRegistry()
        self.trading = DeribitTrading(market, self.faults)
        self.rpc_server = JsonRpcServer(PULSE, sim.exchange, self.faults, self.sockets)
        self.rpc = DeribitRpc(self.rpc_server, market, self.trading, option_fields(OPTION_EXPIRY_MS))

    def endpoints(self) -> list[Endpoint]:
        app = self.rpc_server.app
        return [Endpoint("rest", app), Endpoint("ws", app, "ws", "/ws/api/v2")]

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(TICK_S)
                self.trading.expire_day_orders(self.sim.exchange.now_ms())
                self.rpc.tick()
                if self.faults.drop_generation:
                    await self.rpc_server.close_dropped()
        finally:
            with contextlib.suppress(Exception):
                await self.rpc_server.close_all()

