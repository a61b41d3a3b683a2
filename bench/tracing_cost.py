"""What tracing costs per order: two execx processes side by side on one simulator (binance-spot, BTCUSDT,
websocket order entry), one with tracing off (``OTEL_TRACES_EXPORTER=none``, the default), one on at sampling
1.0 (``OTEL_TRACES_SAMPLER=always_on``) exporting every span (``console``: JSON on its stdout, read and
discarded by this process; an OTLP exporter serialises to protobuf instead, and ships over the network).
Orders alternate between the two, order by order, so a busy machine weighs on both alike. Prints one JSON line:

    .venv/bin/python bench/tracing_cost.py [--orders 300]

``{"figure": "tracing_cost", "off": {p50_us, p99_us, n, execx_cpu_us}, "on": {...}, "spans_per_order": k}``:
latency of a gRPC SendOrder insert (call → venue ack), and execx's CPU µs per order (insert + cancel) over the
timed rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from order_roundtrip import AUTH, KEY, WARMUP, cpu_s, emit, pct, raise_rate_limits, start


@contextlib.asynccontextmanager
async def execx(data: str, env: dict[str, str], spans: list[int]) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """An execx process with ``env`` added; its stdout after the ready line is read (span JSON counted)."""
    args = ("--key", KEY, "--port", "0", "--grpcPort", "0", "--promPort", "0", "--dataDir", data)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "execx_server.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    assert proc.stdout is not None
    ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))

    async def drain() -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            if line.startswith(b'    "name": '):
                spans[0] += 1

    reader = asyncio.create_task(drain())
    try:
        yield proc.pid, ready
    finally:
        proc.terminate()
        await proc.wait()
        await reader


class Way:
    def __init__(self, name: str, pid: int, ready: dict[str, Any], acct: dict[str, str]) -> None:
        self.name, self.pid, self.acct = name, pid, acct
        self.channel = grpc.aio.insecure_channel(ready["grpc"])
        self.stub = om_grpc.OrderManagerServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.samples: list[float] = []
        self.cpu0 = 0.0

    async def open(self, venue: dict[str, Any]) -> None:
        key = c.ExchangeKey(api_key=self.acct["apiKey"], secret_key=self.acct["secretKey"])
        key.exchange = c.EXCHANGE_BINANCE_SPOT
        await self.stub.StartOrderHandler(
            om.StartOrderHandlerRequest(
                session_id=self.name, rest_url=venue["rest"], ws_url=json.dumps(venue), exchange_key=key
            ),
            metadata=AUTH,
        )

    async def order(self, cl: str, timed: bool) -> None:
        insert = om.SendOrderRequest(
            session_id=self.name,
            cl_order_id=cl,
            symbol="BTCUSDT",
            price=90000.0,
            qty=0.001,
            order_type=c.ORDER_TYPE_LIMIT,
            transaction_type=c.TRANSACTION_TYPE_INSERT,
            side=c.SIDE_BUY,
        )
        t = time.perf_counter_ns()
        answer = await self.stub.SendOrder(insert, metadata=AUTH)
        took = (time.perf_counter_ns() - t) / 1000
        assert answer.order.order_status == c.ORDER_STATUS_NEW, answer
        delete = om.SendOrderRequest(
            session_id=self.name, cl_order_id=cl, symbol="BTCUSDT", transaction_type=c.TRANSACTION_TYPE_DELETE
        )
        await self.stub.SendOrder(delete, metadata=AUTH)
        if timed:
            self.samples.append(took)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=300)
    n = ap.parse_args().orders
    sim, sim_ready = await start(sys.executable, "-m", "execx_sim.cli", "--quiet")
    venue, acct = sim_ready["venues"]["binance-spot"], sim_ready["accounts"][0]
    off_spans, on_spans = [0], [0]
    on_env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "always_on"}
    try:
        async with aiohttp.ClientSession() as http:
            await raise_rate_limits(http, sim_ready["admin"], "binance-spot")
        with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
            async with (
                execx(d1, {"OTEL_TRACES_EXPORTER": "none"}, off_spans) as (off_pid, off_ready),
                execx(d2, on_env, on_spans) as (on_pid, on_ready),
            ):
                ways = [Way("off", off_pid, off_ready, acct), Way("on", on_pid, on_ready, acct)]
                for w in ways:
                    await w.open(venue)
                for i in range(WARMUP + n):
                    timed = i >= WARMUP
                    if i == WARMUP:
                        for w in ways:
                            w.cpu0 = cpu_s(w.pid)
                    for w in ways[i % 2 :] + ways[: i % 2]:  # each round starts with the other one
                        await w.order(f"{w.name}{i}", timed)
                        await asyncio.sleep(0.002)
                row: dict[str, Any] = {}
                for w in ways:
                    row[w.name] = {**pct(w.samples), "execx_cpu_us": round((cpu_s(w.pid) - w.cpu0) * 1e6 / n)}
                    await w.channel.close()
            # stopped: every span is out (SIGTERM flushes the exporter); all rounds' spans (and the session
            # start's) over all rounds
            row["spans_per_order"] = round(on_spans[0] / (WARMUP + n), 1)
            assert off_spans[0] == 0, "tracing off printed spans"
            emit("tracing_cost", **row)
    finally:
        sim.terminate()
        await sim.wait()


if __name__ == "__main__":
    asyncio.run(main())
