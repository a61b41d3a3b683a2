"""How fast the exchange simulator itself is, so it is never what limits other benchmarks.
Prints one JSON line per figure.

    .venv/bin/python bench/sim_throughput.py [--seconds 5] [--clients 8] [--window 256] [--engine-orders 20000]
                                             [--md-clients 50] [--md-rate 20] [--md-only]

Figures:
- ``engine_place_us`` (``case`` rest / cross): the matching engine's own processing time of one
  ``Market.place`` call, in process, with the Binance front-ends subscribed to its events as in a running
  simulator: a spot limit order that rests, and one that crosses and fills a resting maker. p50/p99 µs.
- ``rest_orders_per_s``: signed ``POST /api/v3/order`` (limit orders that rest, default response type)
  sent by ``--clients`` concurrent aiohttp clients, each on one keep-alive connection, for ``--seconds``.
  ``server_cpu_us_per_order`` is the simulator process's CPU time per order: with 2 cores the clients
  (in this process) are usually the limit, and this says what the simulator could do on its own.
- ``wsapi_orders_per_s``: ``order.place`` requests (HMAC-signed per request) pipelined over one spot
  WebSocket API connection with ``--window`` requests in flight, for ``--seconds``.
- ``md_fanout``: market-data fan-out. A second simulator child runs its synthetic market
  (``--md-rate`` steps a second per symbol: every step re-quotes the ladder and may trade); ``--md-clients``
  websocket clients each read Binance spot ``<symbol>@depth@100ms`` + ``<symbol>@bookTicker`` of
  ``MD_SYMBOLS`` on one combined stream for ``--seconds``. Reports book updates per second in total and
  per client, the spread between the slowest and fastest client, the delivery delay of ``depthUpdate``
  (receive time - its event time ``E``, ms) p50/p99, and the simulator's CPU time per delivered message.

The simulator runs in a child process (``--serve``: quiet market, rate limits off, a bench account with
ample balances) so that it has a core of its own; the clients run in this process. Both use uvloop.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from execx_sim.app import Simulator
from execx_sim.core.types import OrderType, Side

BENCH_KEY = "bench-api-key"
BENCH_SECRET = "bench-secret-key"
SYMBOL = "ETHUSDT"  # reference price 3400; resting orders go to 3000.00-3299.99
SPOT = "binance-spot"


def emit(figure: str, **fields: Any) -> None:
    print(json.dumps({"bench": "sim_throughput", "figure": figure, **fields}), flush=True)


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def bench_simulator(quiet: bool = True) -> Simulator:
    """A simulator (not started) with rate limits off and a richly funded bench account."""
    sim = Simulator(quiet=quiet, seed=1)
    for fe in sim.frontends:
        limiter = getattr(fe, "limiter", None)
        if limiter is not None:
            limiter.enabled = False
    account = sim.exchange.create_account("bench", BENCH_KEY, BENCH_SECRET)
    spot = sim.exchange.markets[SPOT]
    for asset in ("USDT", "ETH", "BTC"):
        spot.adjust_balance(account, asset, Decimal(10**12))
    return sim


# ---------------------------------------------------------------------- engine, in process


def engine_figures(n: int) -> None:
    sim = bench_simulator()
    market = sim.exchange.markets[SPOT]
    taker = sim.exchange.accounts["bench"]
    maker = sim.exchange.create_account("bench-maker")
    market.adjust_balance(maker, "ETH", Decimal(10**9))
    qty = Decimal("0.01")
    prices = [Decimal(3000) + Decimal(i % 30_000) / 100 for i in range(n)]  # 3000.00 .. 3299.99
    cross_px = Decimal("3400.00")  # inside the background spread: the maker becomes the best ask
    clock = time.perf_counter_ns
    place = market.place

    rest_ns: list[int] = []
    cross_ns: list[int] = []
    warmup = min(2000, n // 5)
    for i in range(n + warmup):
        px = prices[i % n]
        t0 = clock()
        order = place(taker, SYMBOL, Side.BUY, OrderType.LIMIT, qty, px)
        t1 = clock()
        market.cancel(taker, SYMBOL, order.order_id)  # untimed: keeps the book at its size

        place(maker, SYMBOL, Side.SELL, OrderType.LIMIT, qty, cross_px)  # untimed: liquidity to take
        t2 = clock()
        filled = place(taker, SYMBOL, Side.BUY, OrderType.LIMIT, qty, cross_px)
        t3 = clock()
        assert filled.status.value == "FILLED", filled.status
        if i >= warmup:
            rest_ns.append(t1 - t0)
            cross_ns.append(t3 - t2)
    for case, values in (("rest", rest_ns), ("cross", cross_ns)):
        us = sorted(v / 1000 for v in values)
        emit(
            "engine_place_us",
            case=case,
            n=len(us),
            p50=round(percentile(us, 0.5), 1),
            p99=round(percentile(us, 0.99), 1),
        )


# ---------------------------------------------------------------------- the simulator in a child process


async def serve(flow_rate: float = 0.0) -> None:
    """``flow_rate`` > 0: the synthetic market moves (for the fan-out figure), else the book is quiet."""
    sim = bench_simulator(quiet=flow_rate <= 0)
    if flow_rate > 0:
        sim.synthetic.config.rate = flow_rate
    ready = await sim.start()
    print(json.dumps(ready), flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), stop.set)  # parent closes our stdin: stop
    await stop.wait()
    await sim.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sign(payload: str) -> str:
    return hmac.new(BENCH_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()


async def rest_figure(url: str, clients: int, seconds: float, server_pid: int) -> None:
    counter = itertools.count()
    errors = 0

    async def client() -> int:
        nonlocal errors
        done = 0
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector, headers={"X-MBX-APIKEY": BENCH_KEY}) as http:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                i = next(counter)
                payload = urlencode(
                    {
                        "symbol": SYMBOL,
                        "side": "BUY",
                        "type": "LIMIT",
                        "timeInForce": "GTC",
                        "quantity": "0.01",
                        "price": f"{3000 + (i % 30_000) / 100:.2f}",
                        "timestamp": time.time_ns() // 1_000_000,
                    }
                )
                async with http.post(f"{url}/api/v3/order?{payload}&signature={sign(payload)}") as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                done += 1
        return done

    t0, cpu0 = time.monotonic(), cpu_seconds(server_pid)
    counts = await asyncio.gather(*(client() for _ in range(clients)))
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(server_pid) - cpu0
    emit(
        "rest_orders_per_s",
        value=round(sum(counts) / elapsed),
        clients=clients,
        orders=sum(counts),
        seconds=round(elapsed, 2),
        errors=errors,
        server_cpu_us_per_order=round(cpu / sum(counts) * 1e6, 1),
    )


async def wsapi_figure(url: str, window: int, seconds: float, server_pid: int) -> None:
    sent = received = errors = 0
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        deadline = time.monotonic() + seconds
        inflight = asyncio.Semaphore(window)
        finished = asyncio.Event()

        async def reader() -> None:
            nonlocal received, errors
            async for msg in ws:
                data = json.loads(msg.data)
                if "id" not in data:
                    continue
                received += 1
                if data.get("status") != 200:
                    errors += 1
                inflight.release()
                if received == sent and time.monotonic() >= deadline:
                    finished.set()
                    return

        read_task = asyncio.create_task(reader())
        t0, cpu0 = time.monotonic(), cpu_seconds(server_pid)
        while time.monotonic() < deadline:
            await inflight.acquire()
            params: dict[str, Any] = {
                "apiKey": BENCH_KEY,
                "symbol": SYMBOL,
                "side": "SELL",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.01",
                "price": f"{3600 + (sent % 30_000) / 100:.2f}",
                "timestamp": time.time_ns() // 1_000_000,
            }
            params["signature"] = sign("&".join(f"{k}={params[k]}" for k in sorted(params)))
            sent += 1
            await ws.send_str(json.dumps({"id": sent, "method": "order.place", "params": params}))
        await asyncio.wait_for(finished.wait(), 30)
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(server_pid) - cpu0
        await read_task
    emit(
        "wsapi_orders_per_s",
        value=round(received / elapsed),
        window=window,
        orders=received,
        seconds=round(elapsed, 2),
        errors=errors,
        server_cpu_us_per_order=round(cpu / received * 1e6, 1),
    )


MD_SYMBOLS = ("BTCUSDT", "ETHUSDT")


async def fanout_figure(stream_url: str, clients: int, seconds: float, rate: float, server_pid: int) -> None:
    names = [f"{s.lower()}@{kind}" for s in MD_SYMBOLS for kind in ("depth@100ms", "bookTicker")]
    url = f"{stream_url}/stream?streams={'/'.join(names)}"
    counts = [0] * clients
    delays: list[float] = []
    start = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(url, max_msg_size=0) for _ in range(clients)]

        async def reader(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            await start.wait()
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await asyncio.wait_for(ws.receive(), left)
                except TimeoutError:
                    break
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                counts[i] += 1
                if i == 0 and '"depthUpdate"' in msg.data:
                    delays.append(time.time() * 1000 - json.loads(msg.data)["data"]["E"])

        tasks = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(sockets)]
        cpu0, t0 = cpu_seconds(server_pid), time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(server_pid) - cpu0
        for ws in sockets:
            await ws.close()
    total = sum(counts)
    delays.sort()
    emit(
        "md_fanout",
        clients=clients,
        symbols=len(MD_SYMBOLS),
        streams_per_client=len(names),
        flow_steps_per_s=rate,
        seconds=round(elapsed, 2),
        updates_per_s=round(total / elapsed),
        per_client_per_s=round(total / elapsed / clients, 1),
        slowest_client=min(counts),
        fastest_client=max(counts),
        depth_delay_ms_p50=round(percentile(delays, 0.5), 1) if delays else None,
        depth_delay_ms_p99=round(percentile(delays, 0.99), 1) if delays else None,
        server_cpu_us_per_update=round(cpu / total * 1e6, 2) if total else None,
    )


async def with_child(flow_rate: float, run: Any) -> None:
    """Start the simulator child (``--serve``), hand its ready object and pid to ``run``, stop it."""
    argv = [sys.executable, __file__, "--serve", "--md-rate", str(flow_rate)]
    child = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert child.stdout is not None
        ready = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))
        await run(ready, child.pid)
    finally:
        assert child.stdin is not None
        child.stdin.close()  # the child stops when its stdin closes
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.kill()
            await child.wait()


async def network_figures(args: argparse.Namespace) -> None:
    async def orders(ready: dict[str, Any], pid: int) -> None:
        venue = ready["venues"][SPOT]
        await rest_figure(venue["rest"], args.clients, args.seconds, pid)
        await wsapi_figure(venue["wsApi"], args.window, args.seconds, pid)

    async def fanout(ready: dict[str, Any], pid: int) -> None:
        stream = ready["venues"][SPOT]["stream"]
        await fanout_figure(stream, args.md_clients, args.seconds, args.md_rate, pid)

    if not args.md_only:
        await with_child(0.0, orders)
    await with_child(args.md_rate, fanout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--engine-orders", type=int, default=20_000)
    p.add_argument("--engine-only", action="store_true")
    p.add_argument("--md-clients", type=int, default=50, help="websocket clients of the fan-out figure")
    p.add_argument("--md-rate", type=float, default=20.0, help="synthetic market steps per second per symbol")
    p.add_argument("--md-only", action="store_true", help="only the market-data fan-out figure")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        uvloop.run(serve(args.md_rate if args.md_rate > 0 else 0.0))
        return
    if not args.md_only:
        engine_figures(args.engine_orders)
    if not args.engine_only:
        uvloop.run(network_figures(args))


if __name__ == "__main__":
    main()
