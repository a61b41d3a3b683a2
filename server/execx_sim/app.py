"""The simulator as an embeddable object: exchange, markets, demo account, synthetic market, admin
API and every venue front-end, each on its own port.

    sim = Simulator(quiet=True)
    ready = await sim.start()     # the ready object printed by ``execx-sim``
    ...
    await sim.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from .core.accounts import Account
from .core.engine import Exchange, HistoryWindow, Market, now_ms
from .core.faults import Faults
from .core.marketdata import MarketData
from .core.synthetic import FlowConfig, SyntheticMarket
from .venues.common import TcpHandler, VenueFrontend

log = logging.getLogger("execx_sim")

# The documented demo account, created on every start (README "Default account").
DEMO_API_KEY = "execx-demo-api-key"
DEMO_SECRET_KEY = "execx-demo-secret-key"
DEMO_PASSPHRASE = "execx-demo-passphrase"

# How often idle accounts' history is trimmed to the window's age (count bounds apply as it grows).
HISTORY_SWEEP_S = 60.0

# Front-end factories, in port order: "module:callable(sim) -> list[VenueFrontend]". A venue package
# not in this tree yet is skipped.
VENUE_FACTORIES = [
    "execx_sim.venues.binance:frontends",
    "execx_sim.venues.bybit:frontends",
    "execx_sim.venues.okx:frontends",
    "execx_sim.venues.deribit:frontends",
    "execx_sim.venues.pulse:frontends",
]


class Simulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        base_port: int = 0,
        seed: int = 1,
        quiet: bool = False,
        flow: FlowConfig | None = None,
        history: HistoryWindow | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        """``history``: finished orders and fills kept per account and market (default 10 000 of
        each, 7 days; see ``HistoryWindow``). ``clock``: milliseconds since the epoch (tests pass a
        fake one)."""
        self.host = host
        self.base_port = base_port
        self.exchange = Exchange(clock=clock, history=history)
        self.marketdata = MarketData(self.exchange)  # candles and 24 h stats from the sim's own trades
        self.faults: dict[str, Faults] = {}
        self.frontends: list[VenueFrontend] = []
        for spec in VENUE_FACTORIES:
            module, _, attr = spec.partition(":")
            if importlib.util.find_spec(module) is None:
                continue
            factory = getattr(importlib.import_module(module), attr)
            for fe in factory(self):
                self.frontends.append(fe)
        self.synthetic = SyntheticMarket(self.exchange, seed=seed, quiet=quiet, config=flow)
        self.demo = self.exchange.create_account("demo", DEMO_API_KEY, DEMO_SECRET_KEY, DEMO_PASSPHRASE)
        self.fund_default(self.demo)
        self._runners: list[web.AppRunner] = []
        self._tcp_servers: list[asyncio.Server] = []
        self._tasks: asyncio.TaskGroup | None = None
        self._task_runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.ready: dict[str, Any] = {}

    # ------------------------------------------------------------------ building blocks for front-ends

    def add_market(self, market: Market) -> Market:
        """Called by front-end factories: register a market and its fault switchboard."""
        self.exchange.add_market(market)
        self.faults.setdefault(market.name, Faults())
        return market

    def fund_default(self, account: Account) -> None:
        """Give an account the documented default balances on every market."""
        for market in self.exchange.markets.values():
            for asset, amount in DEFAULT_BALANCES.get(market.name, {}).items():
                market.adjust_balance(account, asset, Decimal(amount))

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> dict[str, Any]:
        from .admin import admin_app

        port = self.base_port
        venues: dict[str, dict[str, str]] = {}
        served: dict[int, str] = {}  # id(app) -> URL: endpoints naming one app share its port
        for fe in self.frontends:
            for ep in fe.endpoints():
                if ep.app is not None and id(ep.app) in served:
                    url = served[id(ep.app)]  # same host as an earlier endpoint: no new port
                else:
                    if ep.tcp is not None:
                        url = await self._serve_tcp(ep.tcp, port)
                    else:
                        assert ep.app is not None, f"{fe.venue} endpoint {ep.kind} has neither app nor tcp"
                        url = served[id(ep.app)] = await self._serve(ep.app, port)
                    port = port + 1 if port else 0
                venues.setdefault(fe.venue, {})[ep.kind] = url.replace("http", ep.scheme, 1) + ep.path
        admin_url = await self._serve(admin_app(self), port)
        self._task_runner = asyncio.create_task(self._run_background())
        self.ready = {
            "event": "ready",
            "venues": venues,
            "admin": admin_url,
            "accounts": [self.demo.public()],
        }
        return self.ready

    async def _serve(self, app: web.Application, port: int) -> str:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, port, reuse_address=True)
        await site.start()
        self._runners.append(runner)
        actual = runner.addresses[-1][1]
        return f"http://{self.host}:{actual}"

    async def _serve_tcp(self, handler: TcpHandler, port: int) -> str:
        """A raw TCP listener (FIX); returns ``http://host:port`` like ``_serve`` (the caller swaps the scheme)."""
        server = await asyncio.start_server(handler, self.host, port, reuse_address=True)
        self._tcp_servers.append(server)
        actual = server.sockets[0].getsockname()[1]
        return f"http://{self.host}:{actual}"

    async def _run_background(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.synthetic.run())
            tg.create_task(self._sweep_history())
            for fe in self.frontends:
                tg.create_task(fe.run())

    async def _sweep_history(self) -> None:
        while True:
            await asyncio.sleep(HISTORY_SWEEP_S)
            self.trim_history()

    def trim_history(self) -> None:
        """Forget finished orders and fills older than the history window on every market."""
        for market in self.exchange.markets.values():
            market.trim_history()

    async def stop(self) -> None:
        if self._task_runner is not None:
            self._task_runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task_runner
        for server in self._tcp_servers:
            server.close()  # front-ends close their own TCP connections when run() is cancelled
        self._tcp_servers.clear()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# Balances of the demo account (and of accounts created through the admin API without balances).
DEFAULT_BALANCES: dict[str, dict[str, str]] = {
    "binance-spot": {"USDT": "100000", "BTC": "2", "ETH": "20", "SOL": "200", "BNB": "50"},
    "binance-usdm-future": {"USDT": "100000"},
    "binance-coinm-future": {"BTC": "5", "ETH": "50"},
    "okx": {"USDT": "100000", "BTC": "2", "ETH": "20"},  # one unified account: spot and swaps share USDT
    "bybit-spot": {"USDT": "100000", "BTC": "2", "ETH": "20", "SOL": "200"},
    "bybit-linear": {"USDT": "100000"},
    "bybit-inverse": {"BTC": "5", "ETH": "50"},
    "bybit-option": {"USDC": "100000"},
    "deribit": {"BTC": "10", "ETH": "100"},
    "pulse": {"USD": "1000000"},
}
