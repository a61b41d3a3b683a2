"""Trigger reaction time: from the venue's trade print to the triggered order leaving execx, and to its ack.
Prints one JSON line per figure, like the other benchmarks.

    .venv/bin/python bench/algorithms.py [--triggers 300] [--venue binance-spot] [--busyPoll]

execx runs in a process of its own with its embedded simulator (quiet book: only the prints this script
makes move it); this script is the strategy, in another process. For each trigger: set an ``up``
trigger far above the market (one post-only buy far below it, so it rests), let every process settle
5 ms, print a buyer-aggressor trade at the level through the simulator's admin API, and read

- ``print``: when execx received the trade (``localTime`` of the trade on ``SubscribeMarketData``);
- ``sent``: when the triggered order's request left execx (``sendTime`` on its updates);
- ``ack``: when execx received the venue's acknowledgement (``localTime`` of its ``new`` update).

Figures (µs, p50 / p99 / max): ``print_to_sent`` (execx's reaction: the trigger rule, the order path,
the journal commit of the intent, the venue request written), ``print_to_ack`` (plus the venue's
round trip), and ``admin_to_sent`` (from this script's print request: the simulator's matching and its
websocket push included). Every clock is this host's wall clock (``time.time_ns``).
``BENCH_VERBOSE=1`` prints every trigger's figures on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from execx.v1 import common_pb2 as c
from execx.v1 import market_data_pb2 as md
from execx.v1 import market_data_pb2_grpc as md_grpc
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx.v1 import trigger_manager_pb2 as tm
from execx.v1 import trigger_manager_pb2_grpc as tm_grpc

KEY = "bench-key"
AUTH = (("x-api-key", KEY),)
VENUES: dict[str, tuple[Any, str]] = {
    "binance-spot": (c.EXCHANGE_BINANCE_SPOT, "BTCUSDT"),
    "bybit-linear": (c.EXCHANGE_BYBIT_LINEAR, "BTCUSDT"),
    "okx": (c.EXCHANGE_OKX, "BTC-USDT"),
}
D = Decimal
SERVER = str(Path(__file__).resolve().parent.parent / "server")

LAUNCH = """
import asyncio, json, signal, sys
from pathlib import Path
from execx_server.app import Service, Settings, busy_poll
async def main():
    s = Settings(key=sys.argv[1], port=0, grpc_port=0, prom_port=0, data_dir=Path(sys.argv[2]), sim=True,
                 sim_quiet=True, market_data_stale_s=60, busy_poll=sys.argv[3] == "1")
    svc = Service(s)
    ready = await svc.start()
    print(json.dumps(ready), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await svc.stop()
import uvloop
uvloop.install()
asyncio.run(main())
"""


async def print_and_time(
    post: Any,
    venue: str,
    symbol: str,
    level: Decimal,
    cl: str,
    acks: dict[str, tuple[int, int]],
    trades: dict[float, int],
    changed: asyncio.Event,
) -> tuple[float, float, float]:
    """Print a buy trade at ``level`` (admin API) and wait for the order ``cl`` it fires to be acknowledged:
    (print -> order sent, print -> venue ack, admin call -> order sent), in microseconds."""
    await asyncio.sleep(0.005)  # every process settles, as a real print arrives after a quiet moment
    t0 = time.time_ns()
    body = {"market": venue, "symbol": symbol, "price": str(level), "qty": "0.001", "aggressor": "buy"}
    await post("/admin/market/trade", body)
    deadline = time.monotonic() + 10
    while cl not in acks or float(level) not in trades:
        changed.clear()
        if time.monotonic() > deadline:
            raise SystemExit(f"{cl} did not fire or was not acknowledged")
        try:
            await asyncio.wait_for(changed.wait(), 1.0)
        except TimeoutError:
            pass
    printed = trades[float(level)]
    send_time, ack_time = acks[cl]
    return (send_time - printed) / 1000, (ack_time - printed) / 1000, (send_time - t0) / 1000


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


async def run(args: argparse.Namespace) -> None:
    exchange, symbol = VENUES[args.venue]
    data = tempfile.mkdtemp(prefix="execx-bench-algo-")
    env = {**os.environ, "PYTHONPATH": SERVER}
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once, before anything is measured)
        [sys.executable, "-c", LAUNCH, KEY, data, "1" if args.busyPoll else "0"],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        ready = json.loads(line)
        admin = ready["sim"]["admin"]
        channel = grpc.aio.insecure_channel(ready["grpc"])
        omc = om_grpc.OrderManagerServiceStub(channel)  # type: ignore[no-untyped-call]
        mdc = md_grpc.MarketDataServiceStub(channel)  # type: ignore[no-untyped-call]
        tmc = tm_grpc.TriggerManagerServiceStub(channel)  # type: ignore[no-untyped-call]
        async with aiohttp.ClientSession() as http:

            async def post(path: str, body: dict[str, Any]) -> Any:
                async with http.post(admin + path, json=body) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            # Binance's ORDERS limit (100 per 10 s, published in exchangeInfo and respected by execx's own
            # limiter) would hold every ~90th order for seconds: this measures the reaction, not the limit
            if args.venue == "binance-spot":
                await post(f"/admin/ratelimits/{args.venue}", {"ORDERS": 1_000_000})
            acct = await post("/admin/accounts", {})
            sid = f"bench-trig-{time.time_ns()}"
            key = c.ExchangeKey(
                api_key=acct["apiKey"],
                secret_key=acct["secretKey"],
                passphrase=acct.get("passphrase", ""),
                exchange=exchange,
            )
            await omc.StartOrderHandler(om.StartOrderHandlerRequest(session_id=sid, exchange_key=key), metadata=AUTH)
            await tmc.StartTriggerManager(
                tm.StartTriggerManagerRequest(symbol=symbol, exchange=exchange, session_id=sid), metadata=AUTH
            )
            trades: dict[float, int] = {}  # price -> localTime of the print
            acks: dict[str, tuple[int, int]] = {}  # clOrderId -> (sendTime, localTime of "new")
            changed = asyncio.Event()

            async def read_trades() -> None:
                req = md.SubscribeMarketDataRequest(exchange=exchange, symbol=symbol, no_quotes=True)
                async for m in mdc.SubscribeMarketData(req, metadata=AUTH):
                    if m.HasField("trade"):
                        trades[m.trade.price] = m.local_time
                        changed.set()

            async def read_updates() -> None:
                req = om.SubscribeUpdatesRequest(session_id=sid)
                async for u in omc.SubscribeUpdates(req, metadata=AUTH):
                    t = u.transaction
                    if t.order_status == c.ORDER_STATUS_NEW and t.transaction_type == c.TRANSACTION_TYPE_INSERT:
                        acks[t.cl_order_id] = (t.send_time, t.local_time)
                        changed.set()

            readers = [asyncio.create_task(read_trades()), asyncio.create_task(read_updates())]
            mid = D("97000")
            await post("/admin/market/move", {"market": args.venue, "symbol": symbol, "price": str(mid)})
            await asyncio.sleep(0.5)  # let the subscriptions settle at the venue (setup, not measured)
            sent_us: list[float] = []
            ack_us: list[float] = []
            admin_us: list[float] = []
            for i in range(args.triggers):
                level = mid + 1000 + i  # far above the market: only our print reaches it
                cl = f"bt{i}x{time.time_ns() % 10**9}"
                order = om.SendOrderRequest(
                    cl_order_id=cl,
                    symbol=symbol,
                    session_id=sid,
                    price=float(mid - 2000),
                    qty=0.001,
                    order_type=c.ORDER_TYPE_POSTONLY,
                    transaction_type=c.TRANSACTION_TYPE_INSERT,
                    tif=c.TIME_IN_FORCE_GTC,
                    side=c.SIDE_BUY,
                )
                await tmc.SetTrigger(
                    tm.SetTriggerRequest(
                        id=f"b{i}",
                        price=float(level),
                        symbol=symbol,
                        direction=tm.TRIGGER_DIRECTION_UP,
                        exchange=exchange,
                        orders=[order],
                    ),
                    metadata=AUTH,
                )
                sent, acked, from_admin = await print_and_time(
                    post, args.venue, symbol, level, cl, acks, trades, changed
                )
                sent_us.append(sent)
                ack_us.append(acked)
                if os.environ.get("BENCH_VERBOSE"):
                    print(i, sent, acked, file=sys.stderr)
                admin_us.append(from_admin)
                await omc.SendOrder(
                    om.SendOrderRequest(session_id=sid, cl_order_id=cl, transaction_type=c.TRANSACTION_TYPE_DELETE),
                    metadata=AUTH,
                )
                await post("/admin/market/move", {"market": args.venue, "symbol": symbol, "price": str(mid)})
            for r in readers:
                r.cancel()
            await channel.close()
        for name, xs in (("print_to_sent", sent_us), ("print_to_ack", ack_us), ("admin_to_sent", admin_us)):
            print(
                json.dumps(
                    {
                        "bench": "trigger_reaction",
                        "venue": args.venue,
                        "busyPoll": args.busyPoll,
                        "figure": name,
                        "n": len(xs),
                        "p50_us": round(statistics.median(xs), 1),
                        "p99_us": round(pct(xs, 99), 1),
                        "max_us": round(max(xs), 1),
                    }
                ),
                flush=True,
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 20)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--triggers", type=int, default=300)
    p.add_argument("--venue", default="binance-spot", choices=sorted(VENUES))
    p.add_argument("--busyPoll", action="store_true")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
