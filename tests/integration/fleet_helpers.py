"""Fleet mode tests' plumbing: a real ``redis-server`` and a real ``nats-server -js`` on loopback started by the
test (skipped where Debian's ``redis-server`` / ``nats-server`` is absent, failing under ``CI=1``: .ci/run
installs them), N execx services in this process on one shared simulator, all joined to that Redis, and
``execx`` as separate processes (``ExecxProcess``: the console entry point, as an operator runs it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import nats
import pytest
import redis.asyncio as aioredis
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_server.app import Service, Settings
from execx_server.domain.enums import OrderStatus
from execx_server.fleet.dropcopy import STREAM as DROPCOPY_STREAM
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


def nats_binary() -> str:
    found = shutil.which("nats-server") or ("/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None)
    if found:
        return found
    message = "nats-server not on PATH; .ci/run installs it (Debian package `nats-server`)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


class NatsServer:
    """``nats-server -js`` on a loopback port, its JetStream store in ``workdir``; ``kill`` / ``start`` again
    on the same port and store."""

    def __init__(self, workdir: Path, wait_s: float = 20.0) -> None:
        self.binary = nats_binary()
        self.port = free_port()
        self.store = workdir / "jetstream"
        self.wait_s = wait_s
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *[self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

        async def up() -> bool:
            try:
                nc = await nats.connect(self.url, connect_timeout=0.5, allow_reconnect=False)
            except Exception:  # not listening yet
                return False
            try:
                await nc.jetstream().account_info()
                return True
            except Exception:  # JetStream not ready yet
                return False
            finally:
                await nc.close()

        await eventually(up, "nats-server's JetStream to answer", within_s=self.wait_s, every_s=0.05)

    async def kill(self) -> None:
        """``kill -9``: no goodbye to the clients."""
        if self.proc is not None:
            self.proc.kill()
            await self.proc.wait()
            self.proc = None


async def consume(js: Any, durable: str, seen: list[dict[str, Any]]) -> None:
    """Fetch and ack everything the durable JetStream consumer ``durable`` of the drop copy's stream has now:
    each message's ``Nats-Msg-Id`` (``id``), subject and JSON body appended to ``seen``."""
    sub = await js.pull_subscribe_bind(durable, stream=DROPCOPY_STREAM)
    while True:
        try:
            msgs = await sub.fetch(200, timeout=0.5)
        except (nats.errors.TimeoutError, TimeoutError):  # nothing more now (fetch raises either)
            return
        for m in msgs:
            seen.append({"id": m.headers.get("Nats-Msg-Id"), "subject": m.subject, **json.loads(m.data)})
            await m.ack()


ROOT = Path(__file__).resolve().parents[2]
PROC_KEY = "fleet-process-key"
PROC_AUTH = (("x-api-key", PROC_KEY),)


class ExecxProcess:
    """One ``execx`` process in fleet mode (``--redis``; ``--nats`` too when given); ``kill()`` is kill -9."""

    def __init__(self, name: str, data: Path, redis_url: str, nats_url: str = "") -> None:
        self.name, self.data, self.redis_url, self.nats_url = name, data, redis_url, nats_url
        self.proc: asyncio.subprocess.Process | None = None
        self.channel: grpc.aio.Channel | None = None
        self.om: om_grpc.OrderManagerServiceStub | None = None

    async def start(self) -> None:
        paths = [str(ROOT / "server"), str(ROOT / "clients" / "python"), os.environ.get("PYTHONPATH", "")]
        argv = ["--key", PROC_KEY, "--dataDir", str(self.data), "--port", "0", "--grpcPort", "0", "--promPort", "0"]
        argv += ["--redis", self.redis_url, "--fleetNode", self.name]
        if self.nats_url:
            argv += ["--nats", self.nats_url]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from execx_server.cli import main; main()",
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)},
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60.0)
        ready = json.loads(line)
        assert ready["event"] == "ready" and ready["fleet"]["node"] == self.name, ready
        self.channel = grpc.aio.insecure_channel(ready["grpc"])
        self.om = om_grpc.OrderManagerServiceStub(self.channel)

    async def kill(self, keep_channel: bool = False) -> None:
        """``keep_channel``: calls in flight fail UNAVAILABLE (closing the channel would cancel them instead);
        the caller closes it once they have."""
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no goodbye to Redis or NATS, no drain
        await self.proc.wait()
        if not keep_channel:
            await self.close_channel()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15.0)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self.close_channel()

    async def close_channel(self) -> None:
        if self.channel is not None:
            await self.channel.close()
            self.channel = None


@contextlib.asynccontextmanager
async def processes(tmp_path: Path, redis_url: str, nats_url: str = "") -> AsyncIterator[list[ExecxProcess]]:
    """Three ``execx`` processes (``proc0``..``proc2``, data in ``tmp_path/execx<i>``), stopped at the end."""
    procs = [ExecxProcess(f"proc{i}", tmp_path / f"execx{i}", redis_url, nats_url) for i in range(3)]
    try:
        await asyncio.gather(*(p.start() for p in procs))
        yield procs
    finally:
        for p in procs:
            await p.stop()


async def start_process_session(p: ExecxProcess, acct: dict[str, str], venue: dict[str, Any], sid: str = "") -> str:
    """StartOrderHandler on Binance spot with ``acct``: a new session, or ``sid`` again after a restart."""
    assert p.om is not None
    sid = sid or uid("s")
    key = c.ExchangeKey(api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT)
    request = om.StartOrderHandlerRequest(
        session_id=sid, exchange_key=key, rest_url=venue["rest"], ws_url=json.dumps(venue)
    )
    await p.om.StartOrderHandler(request, metadata=PROC_AUTH, timeout=60.0)
    return sid


async def has(value: Any, want: Any) -> bool:
    """``await value == want`` (for ``eventually``)."""
    return bool(await value == want)
