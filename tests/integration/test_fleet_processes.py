"""Fleet mode (issue 21) with real processes: three ``execx`` processes (as an operator runs them: the console
entry point, ``--redis``, ``--fleetNode``) on one simulated Binance spot account whose ORDERS limit is lowered
to 30 per 10 s, joined through a real ``redis-server``:

- a global kill issued to one reaches all three (each refuses new orders), released through another;
- under a load above the account's limit one of them is ``kill -9``'d mid-load: the venue refuses nothing
  (the survivors keep to the budget, the dead one's draws still counted), the dead one's registration
  expires from the fleet view, and once restarted on its data directory it rejoins the view and trades.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import redis.asyncio as aioredis
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_server.fleet import list_nodes
from fleet_helpers import RedisServer, VenueCount
from market_helpers import uid
from waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
KEY = "fleet-process-key"
AUTH = (("x-api-key", KEY),)
VENUE, SYMBOL = "binance-spot", "BTCUSDT"


class ExecxProcess:
    """One ``execx`` process in fleet mode; ``kill()`` is kill -9."""

    def __init__(self, name: str, data: Path, redis_url: str) -> None:
        self.name, self.data, self.redis_url = name, data, redis_url
        self.proc: asyncio.subprocess.Process | None = None
        self.channel: grpc.aio.Channel | None = None
        self.om: om_grpc.OrderManagerServiceStub | None = None

    async def start(self) -> None:
        paths = [str(ROOT / "server"), str(ROOT / "clients" / "python"), os.environ.get("PYTHONPATH", "")]
        argv = ["--key", KEY, "--dataDir", str(self.data), "--port", "0", "--grpcPort", "0", "--promPort", "0"]
        argv += ["--redis", self.redis_url, "--fleetNode", self.name]
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

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no goodbye to Redis, no drain
        await self.proc.wait()
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
async def processes(tmp_path: Path, redis_url: str) -> AsyncIterator[list[ExecxProcess]]:
    procs = [ExecxProcess(f"proc{i}", tmp_path / f"execx{i}", redis_url) for i in range(3)]
    try:
        await asyncio.gather(*(p.start() for p in procs))
        yield procs
    finally:
        for p in procs:
            await p.stop()


def order(sid: str, price: float) -> om.SendOrderRequest:
    return om.SendOrderRequest(
        session_id=sid,
        cl_order_id=uid("p"),
        symbol=SYMBOL,
        price=price,
        qty=0.001,
        order_type=c.ORDER_TYPE_POSTONLY,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_GTC,
        side=c.SIDE_BUY,
    )


PENDING = {c.ORDER_STATUS_PENDING_NEW, c.ORDER_STATUS_PENDING_UPDATE, c.ORDER_STATUS_PENDING_CANCEL}


async def send(p: ExecxProcess, sid: str, price: float) -> str:
    """One order, until the venue's answer: ``new``, ``refused`` (not sent, or refused) or ``gone`` (the
    process died meanwhile)."""
    assert p.om is not None
    request = order(sid, price)
    try:
        answer = await p.om.SendOrder(request, metadata=AUTH, timeout=30.0)
        status = answer.order.order_status
        while status in PENDING:
            await asyncio.sleep(0.02)
            got = await p.om.GetOrder(
                om.GetOrderRequest(session_id=sid, cl_order_id=request.cl_order_id), metadata=AUTH
            )
            status = got.order.order_status
    except grpc.aio.AioRpcError:
        return "gone" if p.proc is None or p.proc.returncode is not None else "refused"
    return "new" if status == c.ORDER_STATUS_NEW else "refused"


async def start_session(p: ExecxProcess, acct: dict[str, str], venue: dict[str, Any]) -> str:
    assert p.om is not None
    sid = uid("s")
    key = c.ExchangeKey(api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT)
    request = om.StartOrderHandlerRequest(
        session_id=sid, exchange_key=key, rest_url=venue["rest"], ws_url=json.dumps(venue)
    )
    await p.om.StartOrderHandler(request, metadata=AUTH, timeout=60.0)
    return sid


async def test_three_processes_kill_and_kill_9(tmp_path: Path, simulator: Any, redis_server: RedisServer) -> None:
    venue_count = VenueCount(simulator)  # ORDERS lowered to 30 per 10 s, refusals counted
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{simulator.ready['admin']}/admin/accounts", json={}) as r:
            acct = await r.json()
        async with http.get(f"{simulator.ready['admin']}/admin/book", params={"market": VENUE, "symbol": SYMBOL}) as r:
            price = float(Decimal((await r.json())["bids"][0][0]) - 200)
    venue = simulator.ready["venues"][VENUE]
    redis = aioredis.Redis.from_url(redis_server.url)
    try:
        async with processes(tmp_path, redis_server.url) as procs:
            sids = list(await asyncio.gather(*(start_session(p, acct, venue) for p in procs)))

            async def view() -> set[str]:
                return {str(n["node"]) for n in await list_nodes(redis, 3.0)}

            await eventually(lambda: has(view(), {"proc0", "proc1", "proc2"}), "three in the fleet view", 15.0)

            # a global kill through proc0 reaches all three; released through proc1
            assert procs[0].om is not None and procs[1].om is not None
            await procs[0].om.EngageKillSwitch(
                om.EngageKillSwitchRequest(session_id="all", reason="drill"), metadata=AUTH
            )

            async def all_refuse() -> bool:
                outcomes = [await send(p, sid, price) for p, sid in zip(procs, sids, strict=True)]
                return outcomes == ["refused"] * 3

            await eventually(all_refuse, "every process refusing orders", 10.0, 0.05)
            await procs[1].om.ReleaseKillSwitch(om.ReleaseKillSwitchRequest(session_id="all"), metadata=AUTH)

            async def all_rearmed() -> bool:
                nodes = await list_nodes(redis, 3.0)
                return len(nodes) == 3 and not any(n["killSwitch"] for n in nodes)

            await eventually(all_rearmed, "every process re-armed (the fleet view)", 10.0, 0.05)

            # load above the limit; proc2 killed -9 mid-load
            async def load(p: ExecxProcess, sid: str, n: int) -> list[str]:
                return list(await asyncio.gather(*(send(p, sid, price) for _ in range(n))))

            loads = [asyncio.ensure_future(load(p, sid, 20)) for p, sid in zip(procs, sids, strict=True)]
            await eventually(lambda: venue_count.accepted >= 5, "the load reaching the venue", 20.0, 0.01)
            await procs[2].kill()
            first = await asyncio.gather(*loads)
            second = await asyncio.gather(*(load(p, sid, 20) for p, sid in zip(procs[:2], sids[:2], strict=True)))
            print(f"fleet processes: load {first}, after kill -9 {second}; venue refused {venue_count.refused}")
            assert venue_count.refused == 0, (first, second)
            for i in (0, 1):  # none starved (the second wave may find the window spent: no second draw then)
                assert "new" in first[i] + second[i], (first, second)

            await eventually(lambda: has(view(), {"proc0", "proc1"}), "the killed one gone from the view", 15.0)
            await procs[2].start()  # same data directory, same name: it rejoins
            await eventually(lambda: has(view(), {"proc0", "proc1", "proc2"}), "proc2 back in the view", 15.0)
            sid = await start_session(procs[2], acct, venue)
            await eventually(lambda: has(send(procs[2], sid, price), "new"), "proc2 trading again", 20.0, 0.2)
            assert venue_count.refused == 0
    finally:
        await redis.aclose()


async def has(value: Any, want: Any) -> bool:
    """``await value == want`` (for ``eventually``)."""
    return bool(await value == want)
