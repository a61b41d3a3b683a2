"""Fleet mode's shared rate budget (issue 21, docs/fleet.md): what it adds per venue request, and the rate it
holds three sidecars to. Starts its own ``redis-server`` (Debian package) on loopback; prints one JSON object.

- ``acquire_us``: one order's draw from Binance spot's windows (REQUEST_WEIGHT 1M, ORDERS 10S and 1D) on
  Redis (the Lua script, one round trip), p50/p99, against ``local_us``: the execx's own limiter check;
- ``aggregate``: three budgets (three sidecars) drawing orders as fast as they can for ``--seconds`` from
  one account whose ORDERS limit is ``--limit`` per 10 s: the orders granted per 10 s window (never above
  the limit x headroom), and each sidecar's share;
- ``kill_latency``: three execx services (in this process, one shared event loop, one quiet simulator, each
  with its own Redis connections through the real ``redis-server``) in fleet mode; ``--kills`` times the
  global kill switch is engaged through one of them (in turn) and the time until each of the other two has
  its own switch engaged (polled every 0.5 ms) is measured, then released; p50/p99 of the time until *both*
  stopped, against the issue's target of 100 ms.

    .venv/bin/python bench/fleet.py [--n 5000] [--limit 100] [--seconds 12] [--kills 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import uvloop
from execx_server.connectors.transport.ratelimit import Bucket, WeightLimiter
from execx_server.domain.venue import Retryable
from execx_server.fleet.budget import FleetBudget
from execx_server.observability.metrics import Metrics


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


async def _latency(url: str, n: int) -> dict[str, Any]:
    redis = aioredis.Redis.from_url(url)
    budget = FleetBudget(redis, "bench", 3, Metrics())
    await budget.probe()
    gate = budget.gate("binance-spot", "bench-key")
    buckets = [Bucket("w1M", 10**9, 60.0, 1), Bucket("o10S", 10**9, 10.0, 1), Bucket("o1D", 10**9, 86_400.0, 1)]
    local = WeightLimiter()
    local.set_limit("1M", 6000)
    shared_ns: list[float] = []
    local_ns: list[float] = []
    for _ in range(200):  # warm-up (script loaded, connection open)
        await gate.acquire(buckets, order=True)
    for _ in range(n):
        t0 = time.perf_counter_ns()
        await gate.acquire(buckets, order=True)
        t1 = time.perf_counter_ns()
        local.check(1)
        t2 = time.perf_counter_ns()
        shared_ns.append((t1 - t0) / 1000)
        local_ns.append((t2 - t1) / 1000)
    await redis.aclose()
    return {
        "acquire_us": {
            "p50": _pct(shared_ns, 0.5),
            "p99": _pct(shared_ns, 0.99),
            "mean": round(statistics.mean(shared_ns), 1),
        },
        "local_us": {"p50": _pct(local_ns, 0.5), "p99": _pct(local_ns, 0.99)},
        "added_p50_us": round(_pct(shared_ns, 0.5) - _pct(local_ns, 0.5), 1),
    }


async def _aggregate(url: str, limit: int, seconds: float) -> dict[str, Any]:
    redis = aioredis.Redis.from_url(url)
    budgets = [FleetBudget(redis, f"node{i}", 3, Metrics()) for i in range(3)]
    granted: Counter[tuple[int, str]] = Counter()
    bucket = [Bucket("o10S", int(limit * 0.9), 10.0, 1)]
    deadline = time.monotonic() + seconds

    async def sidecar(budget: FleetBudget) -> None:
        await budget.probe()
        budget.fleet_size = 3
        gate = budget.gate("binance-spot", "aggregate-key")
        while time.monotonic() < deadline:
            try:
                await gate.acquire(bucket, order=True)
            except Retryable as e:
                await asyncio.sleep(min(e.retry_after_s or 0.05, deadline - time.monotonic(), 0.05))
                continue
            granted[(time.time_ns() // 10_000_000_000, budget.node_id)] += 1

    await asyncio.gather(*(sidecar(b) for b in budgets))
    await redis.aclose()
    windows: dict[int, dict[str, int]] = {}
    for (window, node), count in granted.items():
        windows.setdefault(window, {})[node] = count
    return {
        "limit_per_10s": limit,
        "held_to": int(limit * 0.9),
        "windows": [{"total": sum(w.values()), **dict(sorted(w.items()))} for _, w in sorted(windows.items())],
    }


KILL_TARGET_MS = 100.0  # issue 21: a kill from one sidecar stops all of them within 100 ms


async def _kill_latency(url: str, kills: int, data: Path) -> dict[str, Any]:
    from execx_server.app import Service, Settings
    from execx_server.engine.risk import ALL, engage_kill_switch, release_kill_switch
    from execx_sim.app import Simulator

    sim = Simulator(quiet=True)
    await sim.start()
    services = [
        Service(
            Settings(
                key="bench",
                port=0,
                grpc_port=0,
                prom_port=0,
                data_dir=data / f"execx{i}",
                sim=True,
                sim_quiet=True,
                redis_url=url,
                fleet_node_id=f"bench{i}",
            ),
            simulator=sim,
        )
        for i in range(3)
    ]
    all_ms: list[float] = []
    each_ms: list[float] = []
    try:
        for service in services:
            await service.start()
        engines = [s.engine for s in services]
        assert all(e is not None for e in engines)

        async def until(engaged: bool, others: list[Any], t0: float) -> list[float]:
            left, at = set(range(len(others))), [0.0] * len(others)
            deadline = t0 + 10.0
            while left and time.perf_counter() < deadline:
                for i in list(left):
                    if others[i].risk.global_killed is engaged:
                        at[i] = (time.perf_counter() - t0) * 1000
                        left.discard(i)
                await asyncio.sleep(0.0005)
            if left:
                raise RuntimeError(f"the kill switch change did not reach {len(left)} execx within 10 s")
            return at

        for k in range(kills + 2):  # the first two are warm-up
            origin = engines[k % 3]
            others = [e for e in engines if e is not origin]
            t0 = time.perf_counter()
            await engage_kill_switch(origin, ALL, "bench")
            at = await until(True, others, t0)
            if k >= 2:
                all_ms.append(max(at))
                each_ms.extend(at)
            t0 = time.perf_counter()
            release_kill_switch(origin, ALL)
            await until(False, others, t0)
    finally:
        for service in services:
            await service.stop()
        await sim.stop()
    return {
        "kills": kills,
        "target_ms": KILL_TARGET_MS,
        "all_stopped_ms": {"p50": _pct(all_ms, 0.5), "p99": _pct(all_ms, 0.99), "max": round(max(all_ms), 1)},
        "each_ms": {"p50": _pct(each_ms, 0.5), "p99": _pct(each_ms, 0.99)},
        "p99_within_target": _pct(all_ms, 0.99) < KILL_TARGET_MS,
    }


async def run(url: str, a: argparse.Namespace) -> dict[str, Any]:
    probe = aioredis.Redis.from_url(url)
    for _ in range(200):
        try:
            await probe.ping()
            break
        except Exception:  # not listening yet
            await asyncio.sleep(0.02)
    await probe.aclose()
    with tempfile.TemporaryDirectory() as data:
        kill = await _kill_latency(url, a.kills, Path(data))
    return {
        "latency": await _latency(url, a.n),
        "aggregate": await _aggregate(url, a.limit, a.seconds),
        "kill_latency": kill,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--kills", type=int, default=30)
    a = p.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not on PATH (Debian package redis-server)")
    port = _port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
        )
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # as execx runs
                result = runner.run(run(f"redis://127.0.0.1:{port}/0", a))
        finally:
            proc.kill()
            proc.wait()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
