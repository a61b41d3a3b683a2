"""Soak: memory of the simulator and of execx over time, as separate processes, under a steady order flow.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 500] [--every 60] [--warmup 120] [--idle]

Starts ``execx-sim`` (its synthetic market running, as by default) and ``execx`` (its journal in a
temporary data dir, or ``--dataDir``), opens a binance-spot session on the simulator through
StartOrderHandler's restUrl/wsUrl, and sends ``--rate`` order transactions a second over one gRPC
``OrderEntry`` stream (a strategy's update stream open beside it): 40 % inserts of post-only buys
resting below the market, 30 % updates of resting orders (price moves, quantity cuts), 20 % deletes,
10 % market orders that fill (buys and sells in turn). Inserts beyond ``--open`` resting orders
cancel the oldest instead, so the number of open orders stays flat. ``--idle`` runs the simulator
alone, with no flow.

Every ``--every`` seconds one JSON line: ``{"t_s", "sim_rss_mb", "execx_rss_mb", "journal_mb",
"open_orders", "ops", "ops_per_s", "errors"}``; at the end ``{"figure": "slope", ...}``: MB per
hour of each, by least squares over the samples after ``--warmup`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc

KEY = "soak-key"
AUTH = (("x-api-key", KEY),)
SYMBOL = "BTCUSDT"
TICK = 0.01
WINDOW = 256  # order transactions in flight on the stream at most
LIVE = (c.ORDER_STATUS_NEW, c.ORDER_STATUS_PARTIALLY_FILLED, c.ORDER_STATUS_PENDING_NEW)


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) in MB per hour; None with fewer than 2 points."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    sxy = sum((t - mx) * (v - my) for t, v in points)
    return sxy / sxx * 3600


@contextlib.asynccontextmanager
async def process(*argv: str) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """A child process that prints one JSON ready line on stdout; its pid and that line. SIGTERM at the end."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            raise SystemExit(f"soak: {argv[2]} exited {await proc.wait()} before its ready line")
        yield proc.pid, json.loads(line)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def raise_rate_limits(http: aiohttp.ClientSession, admin: str, venue: str) -> None:
    """The venue's rate limits to 10^9: the soak measures memory, not the venue's throttling."""
    async with http.get(f"{admin}/admin/ratelimits/{venue}") as r:
        body = await r.json()
        assert r.status == 200, body
    limits = {lim["rateLimitType"]: 10**9 for lim in body["rateLimits"]}
    async with http.post(f"{admin}/admin/ratelimits/{venue}", json=limits) as r:
        assert r.status == 200, await r.text()


async def create_account(http: aiohttp.ClientSession, admin: str) -> dict[str, str]:
    """A funded account of its own, so a two-hour run never runs out of either coin."""
    balances = {"binance-spot": {"USDT": "100000000", "BTC": "1000"}}
    async with http.post(f"{admin}/admin/accounts", json={"balances": balances}) as r:
        body: dict[str, str] = await r.json()
        assert r.status == 200, body
        return body


async def mid_price(http: aiohttp.ClientSession, admin: str) -> float:
    async with http.get(f"{admin}/admin/state") as r:
        return float((await r.json())["markets"]["binance-spot"][SYMBOL]["mid"])


class Flow:
    """The steady order flow over one OrderEntry stream, and what it knows of its own open orders."""

    def __init__(self, stub: om_grpc.OrderManagerServiceStub, sid: str, rate: float, max_open: int) -> None:
        self.stub, self.sid, self.rate, self.max_open = stub, sid, rate, max_open
        self.open: dict[str, tuple[float, float]] = {}  # acknowledged resting orders: cl id -> (price, qty)
        self.pending: dict[int, tuple[str, str]] = {}  # request id -> (kind, cl id)
        self.ops = self.errors = self.fills = self.resubscribes = 0
        self.last_error = ""
        self.mid = 0.0
        self.ids = itertools.count(1)
        self.rng = random.Random(22)
        self.buy_next = True
        self.slot = asyncio.Semaphore(WINDOW)

    def order(self, cl: str, tt: Any, **fields: Any) -> om.SendOrderRequest:
        return om.SendOrderRequest(session_id=self.sid, cl_order_id=cl, symbol=SYMBOL, transaction_type=tt, **fields)

    def next_request(self, k: int) -> tuple[str, str, om.SendOrderRequest]:
        kind = ("insert", "insert", "insert", "insert", "update", "update", "update", "delete", "delete", "fill")[
            k % 10
        ]
        if kind in ("update", "delete") and not self.open:
            kind = "insert"
        if kind == "insert" and len(self.open) >= self.max_open:
            kind = "delete_oldest"
        if kind == "fill":
            side = c.SIDE_BUY if self.buy_next else c.SIDE_SELL
            self.buy_next = not self.buy_next
            cl = f"f{next(self.ids)}"
            return (
                kind,
                cl,
                self.order(cl, c.TRANSACTION_TYPE_INSERT, qty=0.0002, order_type=c.ORDER_TYPE_MARKET, side=side),
            )
        if kind == "insert":
            cl = f"r{next(self.ids)}"
            price = round(self.mid * 0.95 - TICK * self.rng.randrange(2000), 2)  # far below: rests, never fills
            return (
                kind,
                cl,
                self.order(
                    cl,
                    c.TRANSACTION_TYPE_INSERT,
                    price=price,
                    qty=0.0003,
                    order_type=c.ORDER_TYPE_POSTONLY,
                    side=c.SIDE_BUY,
                    tif=c.TIME_IN_FORCE_GTC,
                ),
            )
        if kind == "delete_oldest":
            cl = next(iter(self.open))
        else:
            cl = self.rng.choice(list(self.open)) if len(self.open) < 64 else self._any_open()
        if kind == "update":
            price, qty = self.open[cl]
            if qty > 0.0002:  # a quantity cut keeps the order's place; a price move re-queues it
                qty = round(qty - 0.0001, 4)
            else:
                price, qty = round(self.mid * 0.95 - TICK * self.rng.randrange(2000), 2), 0.0003
            self.open[cl] = (price, qty)
            return (
                kind,
                cl,
                self.order(
                    cl,
                    c.TRANSACTION_TYPE_UPDATE,
                    price=price,
                    qty=qty,
                    order_type=c.ORDER_TYPE_POSTONLY,
                    side=c.SIDE_BUY,
                    tif=c.TIME_IN_FORCE_GTC,
                ),
            )
        del self.open[cl]  # no further update or delete of it is sent
        return "delete", cl, self.order(cl, c.TRANSACTION_TYPE_DELETE)

    def _any_open(self) -> str:
        """A pseudo-random open order without copying thousands of keys: one of the first 64."""
        return next(itertools.islice(self.open, self.rng.randrange(64), None))

    async def send(self, call: Any, until: float) -> None:
        t0 = time.monotonic()
        sent = 0
        while (now := time.monotonic()) < until:
            due = int((now - t0) * self.rate) - sent
            if due > self.rate:  # more than a second behind: execx cannot keep up; do not burst
                sent += due - int(self.rate)
                due = int(self.rate)
            for _ in range(due):
                await self.slot.acquire()
                kind, cl, request = self.next_request(sent)
                rid = next(self.ids)
                self.pending[rid] = (kind, cl)
                await call.write(om.OrderEntryRequest(request_id=rid, order=request))
                sent += 1
            await asyncio.sleep(0.002)
        await call.done_writing()

    async def receive(self, call: Any) -> None:
        async for answer in call:
            self.slot.release()
            self.ops += 1
            kind, cl = self.pending.pop(answer.request_id)
            if answer.status.code != 0:
                self.errors += 1
                self.last_error = f"{kind}: {answer.status.message}"[:200]
                self.open.pop(cl, None)
            elif kind == "insert":
                if answer.order.order_status in LIVE:
                    self.open[cl] = (answer.order.price, answer.order.qty)
                else:
                    self.errors += 1
                    self.last_error = f"insert {c.OrderStatus.Name(answer.order.order_status)}: {answer.order.message}"

    async def updates(self) -> None:
        """The strategy's update stream. A subscriber that falls 10 000 updates behind (a loaded machine) is
        told RESOURCE_EXHAUSTED: it resubscribes from the next seq, as the README says a client should."""
        request = om.SubscribeUpdatesRequest(session_id=self.sid)
        while True:
            try:
                async for update in self.stub.SubscribeUpdates(request, metadata=AUTH):
                    request = om.SubscribeUpdatesRequest(session_id=self.sid, from_seq=update.transaction.seq + 1)
                    if update.transaction.trade_id:
                        self.fills += 1
                return
            except grpc.aio.AioRpcError as e:
                if e.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise
                self.resubscribes += 1


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=500.0, help="order transactions per second (default 500)")
    ap.add_argument("--every", type=float, default=60.0, help="seconds between samples (default 60)")
    ap.add_argument("--warmup", type=float, default=120.0, help="seconds left out of the slopes (default 120)")
    ap.add_argument("--open", type=int, default=500, help="resting orders the flow keeps open (default 500)")
    ap.add_argument("--idle", action="store_true", help="the simulator alone, no execx and no flow")
    ap.add_argument("--dataDir", help="execx's data dir (default: a temporary one, removed at the end)")
    args = ap.parse_args()
    duration = args.minutes * 60
    env_py = sys.executable
    tmp = tempfile.TemporaryDirectory(prefix="execx-soak-")
    data = Path(args.dataDir or tmp.name)
    os.makedirs(data, exist_ok=True)
    samples: list[dict[str, Any]] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            sim_pid, sim_ready = await stack.enter_async_context(process(env_py, "-m", "execx_sim.cli"))
            flow: Flow | None = None
            execx_pid: int | None = None
            tasks: list[asyncio.Task[None]] = []
            http = await stack.enter_async_context(aiohttp.ClientSession())
            if not args.idle:
                await raise_rate_limits(http, sim_ready["admin"], "binance-spot")
                acct = await create_account(http, sim_ready["admin"])
                flags = ("--key", KEY, "--port", "0", "--grpcPort", "0", "--promPort", "0", "--dataDir", str(data))
                execx_pid, ready = await stack.enter_async_context(process(env_py, "-m", "execx_server.cli", *flags))
                channel = grpc.aio.insecure_channel(ready["grpc"])
                stack.push_async_callback(channel.close)
                stub = om_grpc.OrderManagerServiceStub(channel)  # type: ignore[no-untyped-call]
                venue = sim_ready["venues"]["binance-spot"]
                await stub.StartOrderHandler(
                    om.StartOrderHandlerRequest(
                        session_id="soak",
                        rest_url=venue["rest"],
                        ws_url=json.dumps(venue),
                        exchange_key=c.ExchangeKey(
                            api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT
                        ),
                    ),
                    metadata=AUTH,
                )
                flow = Flow(stub, "soak", args.rate, args.open)
                flow.mid = await mid_price(http, sim_ready["admin"])
            t0 = time.monotonic()
            end = t0 + duration
            if flow is not None:
                call = stub.OrderEntry(metadata=AUTH)
                tasks += [
                    asyncio.create_task(flow.send(call, end)),
                    asyncio.create_task(flow.receive(call)),
                    asyncio.create_task(flow.updates()),
                ]
            last_ops, last_t = 0, t0
            for k in itertools.count():
                at = t0 + k * args.every
                if at > end + 0.001:
                    break
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                for task in tasks:
                    if task.done() and not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                now = time.monotonic()
                sample: dict[str, Any] = {
                    "t_s": round(now - t0, 1),
                    "sim_rss_mb": round(rss_mb(sim_pid), 1),
                    "execx_rss_mb": round(rss_mb(execx_pid), 1) if execx_pid else None,
                    "journal_mb": round(dir_mb(data), 2) if execx_pid else None,
                    "open_orders": len(flow.open) if flow else 0,
                }
                if flow is not None:
                    sample |= {
                        "ops": flow.ops,
                        "ops_per_s": round((flow.ops - last_ops) / (now - last_t), 1) if now > last_t else 0.0,
                        "fills": flow.fills,
                        "resubscribes": flow.resubscribes,
                        "errors": flow.errors,
                    }
                    if flow.last_error:
                        sample["last_error"], flow.last_error = flow.last_error, ""
                    last_ops, last_t = flow.ops, now
                    flow.mid = await mid_price(http, sim_ready["admin"])
                emit(sample)
                samples.append(sample)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                    await task
    finally:
        tmp.cleanup()
    kept = [s for s in samples if s["t_s"] >= args.warmup]
    result: dict[str, Any] = {"figure": "slope", "warmup_s": args.warmup, "samples": len(kept)}
    for key in ("sim_rss_mb", "execx_rss_mb", "journal_mb"):
        points = [(s["t_s"], s[key]) for s in kept if s[key] is not None]
        per_hour = slope_per_hour(points)
        result[key.replace("_mb", "_mb_per_hour")] = None if per_hour is None else round(per_hour, 2)
    if samples:
        last = samples[-1]
        result |= {"sim_rss_mb_last": last["sim_rss_mb"], "execx_rss_mb_last": last["execx_rss_mb"]}
    emit(result)


if __name__ == "__main__":
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
