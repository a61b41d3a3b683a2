"""Emulated contingent order reaction time (issue 20): from the venue's trade print to the stop's order leaving
execx, and to its ack. Prints one JSON line per figure, like the other benchmarks.

    .venv/bin/python bench/contingent_orders.py [--stops 300] [--venue binance-spot] [--busyPoll]

execx runs in a process of its own with its embedded simulator (quiet book), started as ``bench/algorithms.py``
starts it; this script is the strategy. For each stop: ``sendOrder`` a stop-limit buy (``triggerKind: stop``,
reference ``last``) whose level is far above the market and whose limit price is far below it (post-only, so
the order rests once sent), let every process settle 5 ms, print a buyer-aggressor trade at the level through
the simulator's admin API, and read

- ``print``: when execx received the trade (``localTime`` of the trade on ``SubscribeMarketData``);
- ``sent``: when the stop's order left execx (``sendTime`` on its updates);
- ``ack``: when execx received the venue's acknowledgement (``localTime`` of its ``new`` update).

Figures (µs, p50 / p99 / max): ``print_to_sent`` (execx's reaction: the feed listener, the trigger rule, the
``triggered`` event journaled, the order path, the intent journaled, the venue request written),
``print_to_ack`` (plus the venue's round trip), ``admin_to_sent`` (from this script's print request).
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
from typing import Any

import aiohttp
import grpc
from algorithms import KEY, LAUNCH, SERVER, VENUES, pct, print_and_time
from execx.v1 import common_pb2 as c
from execx.v1 import market_data_pb2 as md
from execx.v1 import market_data_pb2_grpc as md_grpc
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc

AUTH = (("x-api-key", KEY),)
D = Decimal


async def run(args: argparse.Namespace) -> None:
    exchange, symbol = VENUES[args.venue]
    data = tempfile.mkdtemp(prefix="execx-bench-contingent-")
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once, before anything is measured)
        [sys.executable, "-c", LAUNCH, KEY, data, "1" if args.busyPoll else "0"],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": SERVER},
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(await asyncio.to_thread(proc.stdout.readline))
        admin = ready["sim"]["admin"]
        channel = grpc.aio.insecure_channel(ready["grpc"])
        omc = om_grpc.OrderManagerServiceStub(channel)  # type: ignore[no-untyped-call]
        mdc = md_grpc.MarketDataServiceStub(channel)  # type: ignore[no-untyped-call]
        async with aiohttp.ClientSession() as http:

            async def post(path: str, body: dict[str, Any]) -> Any:
                async with http.post(admin + path, json=body) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            if args.venue == "binance-spot":  # the ORDERS limit would hold every ~90th order (bench/algorithms.py)
                await post(f"/admin/ratelimits/{args.venue}", {"ORDERS": 1_000_000})
            acct = await post("/admin/accounts", {})
            sid = f"bench-stop-{time.time_ns()}"
            key = c.ExchangeKey(
                api_key=acct["apiKey"], secret_key=acct["secretKey"], passphrase=acct.get("passphrase", ""),
                exchange=exchange,
            )  # fmt: skip
            await omc.StartOrderHandler(om.StartOrderHandlerRequest(session_id=sid, exchange_key=key), metadata=AUTH)
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
                async for u in omc.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid), metadata=AUTH):
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
            for i in range(args.stops):
                level = mid + 1000 + i  # far above the market: only our print reaches it
                cl = f"bs{i}x{time.time_ns() % 10**9}"
                stop = om.SendOrderRequest(
                    cl_order_id=cl, symbol=symbol, session_id=sid, price=float(mid - 2000), qty=0.001,
                    order_type=c.ORDER_TYPE_POSTONLY, transaction_type=c.TRANSACTION_TYPE_INSERT,
                    tif=c.TIME_IN_FORCE_GTC, side=c.SIDE_BUY, trigger_kind=om.TRIGGER_KIND_STOP,
                    trigger_price=float(level),
                )  # fmt: skip
                await omc.SendOrder(stop, metadata=AUTH)
                sent, acked, from_admin = await print_and_time(
                    post, args.venue, symbol, level, cl, acks, trades, changed
                )
                sent_us.append(sent)
                ack_us.append(acked)
                admin_us.append(from_admin)
                await omc.SendOrder(
                    om.SendOrderRequest(
                        session_id=sid, cl_order_id=cl, symbol=symbol, transaction_type=c.TRANSACTION_TYPE_DELETE
                    ),
                    metadata=AUTH,
                )
            for r in readers:
                r.cancel()
            await channel.close()
        for name, xs in (("print_to_sent", sent_us), ("print_to_ack", ack_us), ("admin_to_sent", admin_us)):
            line = {
                "bench": "contingent_reaction",
                "venue": args.venue,
                "busyPoll": args.busyPoll,
                "figure": name,
                "n": len(xs),
                "p50_us": round(statistics.median(xs), 1),
                "p99_us": round(pct(xs, 99), 1),
                "max_us": round(max(xs), 1),
            }
            print(json.dumps(line), flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 20)


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--stops", type=int, default=300)
    p.add_argument("--venue", default="binance-spot", choices=sorted(VENUES))
    p.add_argument("--busyPoll", action="store_true")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
