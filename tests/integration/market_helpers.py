"""Helpers of the market-data and position-manager integration tests: a running ``execx --sim`` (quiet
book) reached over gRPC, the simulator's admin API to move the market deterministically, and
event-driven waits with deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import waiting
from execx.v1 import common_pb2 as c
from execx.v1 import market_data_pb2_grpc as md_grpc
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx.v1 import position_manager_pb2_grpc as pm_grpc
from execx_server.app import Service, Settings

KEY = "market-test-key"
AUTH = (("x-api-key", KEY),)
WAIT_S = 15.0
EXCHANGES = {
    "binance-spot": c.EXCHANGE_BINANCE_SPOT,
    "binance-usdm-future": c.EXCHANGE_BINANCE_USDM_FUTURE,
    "binance-coinm-future": c.EXCHANGE_BINANCE_COINM_FUTURE,
}
_ids = itertools.count(1)


def exchange_enum(venue: str) -> int:
    """The proto Exchange value of a venue name ("bybit-linear" -> EXCHANGE_BYBIT_LINEAR)."""
    return int(c.Exchange.Value("EXCHANGE_" + venue.upper().replace("-", "_")))


def uid(prefix: str) -> str:
    return f"{prefix}{next(_ids)}x{int(time.time() * 1000) % 10_000_000}"


class Svc:
    def __init__(self, service: Service, http: aiohttp.ClientSession) -> None:
        self.service = service
        self.ready = service.ready
        self.http = http
        self.channel = grpc.aio.insecure_channel(self.ready["grpc"])
        self.om = om_grpc.OrderManagerServiceStub(self.channel)
        self.md = md_grpc.MarketDataServiceStub(self.channel)
        self.pm = pm_grpc.PositionManagerServiceStub(self.channel)
        self.sim = self.ready["sim"]
        self.admin = self.sim["admin"]
        self.rest = self.ready["rest"]

    async def admin_post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.http.post(f"{self.admin}{path}", json=body) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def session(self, venue: str, acct: dict[str, str] | None = None) -> str:
        """A new order session on ``venue`` with ``acct`` (default: a fresh account, default balances)."""
        acct = acct or await self.admin_post("/admin/accounts", {})
        sid = uid("s")
        await self.start_session(sid, venue, acct)
        return sid

    async def start_session(self, sid: str, venue: str, acct: dict[str, str]) -> None:
        """StartOrderHandler for ``sid`` with ``acct``'s keys: a new session, or the same one after a restart."""
        await self.om.StartOrderHandler(
            om.StartOrderHandlerRequest(
                session_id=sid,
                exchange_key=c.ExchangeKey(
                    api_key=acct["apiKey"],
                    secret_key=acct["secretKey"],
                    passphrase=acct.get("passphrase", ""),
                    exchange=exchange_enum(venue),
                ),
            ),
            metadata=AUTH,
        )

    async def move(self, venue: str, symbol: str, price: Decimal | str) -> None:
        """Re-centre the simulated book at ``price`` (the venue pushes new best bid/ask)."""
        await self.admin_post("/admin/market/move", {"market": venue, "symbol": symbol, "price": str(price)})

    async def trade(self, venue: str, symbol: str, price: Decimal, qty: Decimal, aggressor: str) -> None:
        """Print a trade: resting orders at ``price`` (ours first: time priority) are hit by ``aggressor``."""
        await self.admin_post(
            "/admin/market/trade",
            {"market": venue, "symbol": symbol, "price": str(price), "qty": str(qty), "aggressor": aggressor},
        )

    async def top(self, venue: str, symbol: str) -> tuple[Decimal, Decimal]:
        """The simulated book's best bid and ask."""
        async with self.http.get(f"{self.admin}/admin/book", params={"market": venue, "symbol": symbol}) as r:
            book = await r.json()
        return Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])


@contextlib.asynccontextmanager
async def running(
    data_dir: Path, stale_s: float, simulator: Any = None, order_entry: str = "websocket"
) -> AsyncIterator[Svc]:
    """``execx --sim`` (quiet book) with market data going stale after ``stale_s`` without an update; on
    ``simulator`` (an ``execx_sim.app.Simulator`` already running, which outlives execx) if given;
    ``--orderEntry`` ``order_entry``."""
    settings = Settings(
        key=KEY,
        port=0,
        grpc_port=0,
        prom_port=0,
        data_dir=data_dir,
        sim=True,
        sim_quiet=True,
        market_data_stale_s=stale_s,
        order_entry=order_entry,
    )
    service = Service(settings, simulator=simulator)
    await service.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            s = Svc(service, http)
            yield s
            await s.channel.close()
    finally:
        await service.stop()


async def until(predicate: Callable[[], bool], what: str, changed: asyncio.Event, within_s: float = WAIT_S) -> None:
    """Wait, woken by ``changed``, until ``predicate()`` holds; fail naming ``what`` at the deadline."""
    await waiting.until(changed, predicate, what, within_s)


class Reader:
    """Reads a server stream in the background into ``got``, waking waiters on each message."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.got: list[Any] = []
        self.changed = asyncio.Event()
        self.error: BaseException | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for msg in self.call:
                self.got.append(msg)
                self.changed.set()
        except grpc.aio.AioRpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                self.error = e
        finally:
            self.changed.set()

    async def wait(self, predicate: Callable[[Any], bool], what: str, within_s: float = WAIT_S) -> Any:
        await until(lambda: any(predicate(m) for m in self.got), what, self.changed, within_s)
        return next(m for m in self.got if predicate(m))

    async def close(self) -> None:
        self.call.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
