"""The Deribit venue object: its listening sockets (FIX; JSON-RPC HTTP + WebSocket on one port) and
its timers."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from ...core.engine import Market
from ..common import Endpoint, WsRegistry
from .fix import DeribitFix, FixRegistry
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

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("fix", None, "tcp", tcp=self.fix.handle)]

    async def run(self) -> None:
        """Timers until cancelled (good_til_day expiry); on cancel, FIX connections are closed."""
        try:
            while True:
                await asyncio.sleep(TICK_S)
                self.trading.expire_day_orders(self.sim.exchange.now_ms())
        finally:
            with contextlib.suppress(Exception):
                await self.fix.close_all()
