"""Smart orders: schedule error and implementation shortfall. Prints one JSON line per run.

    .venv/bin/python bench/smart_orders.py [--amount 0.02] [--duration 10] [--interval 1]

execx runs in this process with its embedded simulator's synthetic market (other participants' orders
and trades, so the price moves and VWAP has volume to follow); the script adds a TWAP (taker), a maker
TWAP and a VWAP buy one after the other on binance-spot BTCUSDT over gRPC and reads each finished order
(``ListSmartOrders``):

- ``send_lag_ms``: each slice's first child's send time minus its slice time (p50 / max);
- ``schedule_error``: at each slice time, |cumulative filled - cumulative plan| / amount (mean / max;
  the plan is TWAP's ``amount * (i + 1) / iterationCount``; for VWAP its own targets are not exposed,
  so the TWAP plan is the reference and the figure shows how far the volume profile led it);
- ``shortfall_bps``: (average fill price - arrival mid) / arrival mid x 10 000 for a buy (positive is a
  cost), with ``fees``, ``maker_fraction``, ``filled``, ``children``, ``status``.

Runs take ``3 x duration`` seconds plus start-up (30 s with the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
from execx.v1 import common_pb2 as c
from execx.v1 import market_data_pb2 as md
from execx.v1 import market_data_pb2_grpc as md_grpc
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx.v1 import smart_order_pb2 as so
from execx.v1 import smart_order_pb2_grpc as so_grpc
from execx_server.app import Service, Settings

KEY = "bench-key"
AUTH = (("x-api-key", KEY),)
EX, SYMBOL = c.EXCHANGE_BINANCE_SPOT, "BTCUSDT"
D = Decimal


def ts(rfc: str) -> float:
    return datetime.strptime(rfc[:26] + "+0000", "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def figures(name: str, o: so.SmartOrder, amount: D, duration: int, interval: int) -> dict[str, Any]:
    start = ts(o.start_time)
    n = duration // interval + 1
    first: dict[int, so.SmartOrderChild] = {}
    for ch in o.children:  # a slice's first child (maker mode re-prices: later children are not late)
        first.setdefault(ch.slice, ch)
    lags = [(ts(ch.sent_time) - (start + ch.slice * interval)) * 1000 for ch in first.values()]
    errors = []
    for i in range(n):
        until = start + (i + 1) * interval if i + 1 < n else start + duration + interval
        got = sum(D(str(f.amount_filled)) for f in o.fills if ts(f.time_stamp) < until)
        plan = amount * (i + 1) / n
        errors.append(float(abs(got - plan) / amount))
    shortfall = (o.average_price - o.arrival_mid) / o.arrival_mid * 10_000 if o.arrival_mid and o.filled else 0.0
    return {
        "bench": "smart_orders",
        "run": name,
        "status": so.SmartOrderStatus.Name(o.status),
        "status_info": o.status_info,
        "filled": o.filled,
        "children": len(o.children),
        "send_lag_ms": {
            "p50": round(statistics.median(lags), 1) if lags else None,
            "max": round(max(lags), 1) if lags else None,
        },
        "schedule_error": {"mean": round(statistics.mean(errors), 4), "max": round(max(errors), 4)},
        "arrival_mid": o.arrival_mid,
        "average_price": o.average_price,
        "shortfall_bps": round(shortfall, 2),
        "maker_fraction": round(o.maker_fraction, 3),
        "fees": o.fees,
        "fee_asset": o.fee_asset,
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--amount", type=float, default=0.02)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--interval", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=Path(tmp), sim=True)
        service = Service(settings)
        ready = await service.start()
        try:
            async with grpc.aio.insecure_channel(ready["grpc"]) as ch:
                acct = ready["sim"]["accounts"][0]
                oms = om_grpc.OrderManagerServiceStub(ch)
                sid = "bench-smart"
                await oms.StartOrderHandler(
                    om.StartOrderHandlerRequest(
                        session_id=sid,
                        exchange_key=c.ExchangeKey(api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=EX),
                    ),
                    metadata=AUTH,
                )
                feed = md_grpc.MarketDataServiceStub(ch).SubscribeMarketData(
                    md.SubscribeMarketDataRequest(exchange=EX, symbol=SYMBOL), metadata=AUTH
                )
                await feed.read()  # the feed is open (the hub keeps it for the smart orders)
                stub = so_grpc.SmartOrderServiceStub(ch)
                runs = [
                    ("twap", so.SMART_ORDER_ALGORITHM_TWAP, False),
                    ("twap_maker", so.SMART_ORDER_ALGORITHM_TWAP, True),
                    ("vwap", so.SMART_ORDER_ALGORITHM_VWAP, False),
                ]
                for name, algorithm, maker in runs:
                    p = so.SmartOrderParameters(
                        side=c.SIDE_BUY,
                        symbol=SYMBOL,
                        amount=args.amount,
                        duration=f"{args.duration}SEC",
                        interval=f"{args.interval}SEC",
                        maker=maker,
                    )
                    r = await stub.AddSmartOrder(
                        so.AddSmartOrderRequest(algorithm=algorithm, exchanges=[EX], parameters=p, session_id=sid),
                        metadata=AUTH,
                    )
                    loop = asyncio.get_running_loop()
                    deadline = loop.time() + args.duration * 2 + 30
                    while True:
                        listed = await stub.ListSmartOrders(so.ListSmartOrdersRequest(), metadata=AUTH)
                        o = next(x for x in listed.requests if x.id == r.id)
                        if o.status != so.SMART_ORDER_STATUS_RUNNING or loop.time() > deadline:
                            break
                        await asyncio.sleep(0.2)  # the poll interval
                    line = figures(name, o, D(str(args.amount)), args.duration, args.interval)
                    print(json.dumps(line), flush=True)
                feed.cancel()
        finally:
            await service.stop()


if __name__ == "__main__":
    asyncio.run(main())
