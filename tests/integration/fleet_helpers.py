"""Fleet mode tests' plumbing: a real ``redis-server`` on loopback started by the test (skipped where Debian's
``redis-server`` is absent, failing under ``CI=1``: .ci/run installs it), and N execx services in this
process on one shared simulator, all joined to that Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx_server.app import Service, Settings
from execx_server.domain.enums import OrderStatus
from market_helpers import AUTH, KEY, Svc, uid
from waiting import eventually


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    message = "redis-server not on PATH; .ci/run installs it (Debian package `redis-server`)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """``redis-server`` on a loopback port, no persistence; ``stop`` / ``start`` again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.binary = redis_binary()
        self.port = free_port()
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *[self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        probe = aioredis.Redis.from_url(self.url, socket_timeout=0.2, socket_connect_timeout=0.2)

        async def up() -> bool:
            try:
                return bool(await probe.ping())
            except Exception:  # not listening yet
                return False

        try:
            await eventually(up, "redis-server to answer PING", within_s=10.0)
        finally:
            await probe.aclose()

    async def stop(self) -> None:
        """``kill -9``: no goodbye to the clients."""
        if self.proc is not None:
            self.proc.kill()
            await self.proc.wait()
            self.proc = None


@contextlib.asynccontextmanager
async def running_redis(workdir: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(workdir)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


async def execx_fleet(*args: str) -> tuple[int, str]:
    """``execx fleet ARGS`` as its own process: exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from execx_server.cli import main; main()",
        "fleet",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


@contextlib.asynccontextmanager
async def fleet_of(
    n: int, data: Path, redis_url: str, simulator: Any, prefix: str = "", **settings: Any
) -> AsyncIterator[list[Svc]]:
    """``n`` execx services (quiet simulated book shared: ``simulator``) joined to ``redis_url``."""
    services: list[Service] = []
    svcs: list[Svc] = []
    async with aiohttp.ClientSession() as http:
        try:
            for i in range(n):
                service = Service(
                    Settings(
                        key=KEY,
                        port=0,
                        grpc_port=0,
                        prom_port=0,
                        data_dir=data / f"execx{i}",
                        sim=True,
                        sim_quiet=True,
                        redis_url=redis_url,
                        fleet_node_id=f"{prefix}node{i}",
                        **settings,
                    ),
                    simulator=simulator,
                )
                services.append(service)
                await service.start()
                svcs.append(Svc(service, http))
            yield svcs
        finally:
            for svc in svcs:
                await svc.channel.close()
            for service in services:
                await service.stop()


def status_of(svc: Svc, sid: str, cl: str) -> OrderStatus:
    engine = svc.service.engine
    assert engine is not None
    return engine.sessions[sid].orders[cl].status


async def post_only_wave(
    fleet: list[Svc], sids: list[str], symbol: str, price: float, qty: float, per_node: int, refusals: list[str]
) -> list[int]:
    """``per_node`` post-only buys from every execx at once (many requests in flight); how many each got
    accepted by the venue. The messages of the orders refused go to ``refusals``."""

    async def one(svc: Svc, sid: str) -> int:
        cls = [uid("f") for _ in range(per_node)]

        async def send(cl: str) -> None:
            request = om.SendOrderRequest(
                session_id=sid,
                cl_order_id=cl,
                symbol=symbol,
                price=price,
                qty=qty,
                order_type=c.ORDER_TYPE_POSTONLY,
                transaction_type=c.TRANSACTION_TYPE_INSERT,
                tif=c.TIME_IN_FORCE_GTC,
                side=c.SIDE_BUY,
            )
            await svc.om.SendOrder(request, metadata=AUTH)

        await asyncio.gather(*(send(cl) for cl in cls))
        final = (OrderStatus.NEW, OrderStatus.REJECTED, OrderStatus.CANCELLED)
        await eventually(
            lambda: all(status_of(svc, sid, cl) in final for cl in cls),
            "every order accepted or refused",
            within_s=30.0,
            every_s=0.02,
        )
        engine = svc.service.engine
        assert engine is not None
        refusals.extend(
            engine.sessions[sid].orders[cl].message for cl in cls if status_of(svc, sid, cl) is OrderStatus.REJECTED
        )
        return sum(status_of(svc, sid, cl) is OrderStatus.NEW for cl in cls)

    return list(await asyncio.gather(*(one(svc, sid) for svc, sid in zip(fleet, sids, strict=True))))


LIMIT = 30  # new orders per account per 10 s (Binance spot's ORDERS 10S window, lowered by VenueCount)


class VenueCount:
    """The simulated venue's ORDERS counting, watched: how many new orders it refused for the limit."""

    def __init__(self, sim: Any) -> None:
        self.limiter = next(fe.limiter for fe in sim.frontends if fe.venue == "binance-spot")
        for lim in self.limiter.limits:
            if lim.kind == "ORDERS" and lim.interval == "SECOND":
                lim.limit = LIMIT
        self.refused = 0
        self.weight_refused = 0  # REQUEST_WEIGHT, counted per IP
        self.accepted = 0
        take = self.limiter.take

        def counting(kind: str, who: str, n: int = 1) -> dict[str, str]:
            try:
                headers: dict[str, str] = take(kind, who, n)
            except Exception:
                if kind == "ORDERS":
                    self.refused += 1
                else:
                    self.weight_refused += 1
                raise
            if kind == "ORDERS":
                self.accepted += 1
            return headers

        self.limiter.take = counting
