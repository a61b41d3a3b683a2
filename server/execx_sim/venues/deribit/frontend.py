"""The Deribit venue object: its listening sockets (FIX; JSON-RPC HTTP + WebSocket on one port) and
its timers. ``RpcFrontend`` is the JSON-RPC part, also the whole of Pulse."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from ...core.engine import Market
from ..common import Endpoint, WsRegistry
from ..jsonrpc import DERIBIT, Dialect, JsonRpcServer
from .fix import DeribitFix, FixRegistry
from .instruments import OPTION_EXPIRY_MS
from .marketdata import DeribitMarketData
from .mmp import VenueMmp
from .rpc import DeribitRpc, option_fields
from .trading import DeribitTrading

if TYPE_CHECKING:
    from ...app import Simulator

TICK_S = 0.1


class RpcFrontend:
    """A Deribit-style JSON-RPC venue: HTTP (``/api/v2``) and WebSocket (``/ws/api/v2``) on one port."""

    def __init__(
        self, sim: Simulator, market: Market, dialect: Dialect, option_expiry_ms: int, sockets: WsRegistry | None = None
    ) -> None:
        self.venue = dialect.venue
        self.sim = sim
        self.market = market
        self.faults = sim.faults[market.name]
        self.sockets = sockets if sockets is not None else WsRegistry()  # the admin "drop" fault closes these
        self.trading = DeribitTrading(market, self.faults)
        self.rpc_server = JsonRpcServer(dialect, sim.exchange, self.faults, self.sockets)
        self.rpc = DeribitRpc(self.rpc_server, market, self.trading, option_fields(option_expiry_ms))
        self.limiter = self.rpc_server.credits  # the account credits (the admin API's /admin/ratelimits/<venue>)
        self.mmp = VenueMmp(self.rpc_server, market, self.trading, self.rpc.amount)
        self.trading.mmp_check = self.mmp.check_order

    def endpoints(self) -> list[Endpoint]:
        app = self.rpc_server.app
        return [Endpoint("rest", app), Endpoint("ws", app, "ws", "/ws/api/v2")]

    async def run(self) -> None:
        """Timers until cancelled (good_til_day expiry, book/ticker notifications, dropped sockets); on
        cancel, the connections are closed."""
        try:
            while True:
                await asyncio.sleep(TICK_S)
                self.trading.expire_day_orders(self.sim.exchange.now_ms())
                self.rpc.tick()
                if self.faults.drop_generation:
                    await self.rpc_server.close_dropped()
        finally:
            await self.close()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.rpc_server.close_all()


class DeribitFrontend(RpcFrontend):
    def __init__(self, sim: Simulator, market: Market) -> None:
        registry = FixRegistry()  # websockets and FIX connections: a "drop" fault closes both
        super().__init__(sim, market, DERIBIT, OPTION_EXPIRY_MS, registry)
        self.fix = DeribitFix(sim.exchange, market, self.trading, registry)
        self.fix.credits = self.rpc_server.credits  # one account's credits over FIX and JSON-RPC alike
        self.marketdata = DeribitMarketData(self.rpc, sim.marketdata)  # candles, book summaries, funding

    def endpoints(self) -> list[Endpoint]:
        return [*super().endpoints(), Endpoint("fix", None, "tcp", tcp=self.fix.handle)]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.fix.close_all()
        await super().close()
