"""The cost of the pre-trade risk checks (engine/risk.py) per order, in process, on a real session and
journal. Prints one JSON line per case:

    .venv/bin/python bench/risk_checks.py [--n 20000] [--open 0,10,100,1000]

Cases: ``none`` (no limits: the kill-switch test only), ``all`` (every limit set, the order inside all
of them) with a session holding ``open`` open orders on the order's symbol (the position check sums
their remaining quantities; the open-order count walks them), and ``amend``. ``us_per_check`` is the
mean wall time of one ``check_insert`` / ``check_amend`` call (``time.perf_counter_ns`` over ``n``
calls, best of 5 rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from execx_server.domain.enums import Exchange, OrderStatus, OrderType, Side, TimeInForce
from execx_server.domain.orders import Order
from execx_server.engine.bus import SessionBus
from execx_server.engine.journal import Journal
from execx_server.engine.risk import RiskControl, RiskLimits
from execx_server.engine.sessions import Session

ALL = RiskLimits(
    max_order_qty=Decimal("10"),
    max_order_notional=Decimal("1000000"),
    max_open_orders=100_000,
    max_position_long=Decimal("1000000"),
    max_position_short=Decimal("1000000"),
    price_band_pct=Decimal("5"),
    max_orders_per_second=1_000_000_000,
)


def _order(cl: str) -> Order:
    return Order(
        "bench",
        cl,
        Exchange.BINANCE_SPOT,
        "BTCUSDT",
        Side.BUY,
        OrderType.LIMIT,
        TimeInForce.GTC,
        Decimal("0.001"),
        Decimal("99.5"),
    )


def _time(call: Callable[[], None], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(n):
            call()
        best = min(best, (time.perf_counter_ns() - start) / n / 1000)
    return best


def insert_call(risk: RiskControl, session: Session, order: Order, mid: Decimal) -> Callable[[], None]:
    return lambda: risk.check_insert(session, order, mid)


def amend_call(risk: RiskControl, session: Session, order: Order, mid: Decimal) -> Callable[[], None]:
    return lambda: risk.check_amend(session, order, Decimal("0.002"), Decimal("99"), mid)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--open", default="0,10,100,1000")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "bench.db")
        try:
            for open_n in (int(x) for x in args.open.split(",")):
                sid = f"bench{open_n}"
                journal.add_session(sid, Exchange.BINANCE_SPOT.value, 0, {})
                session = Session(sid, Exchange.BINANCE_SPOT, None, SessionBus(sid, journal))
                for i in range(open_n):
                    o = _order(f"o{i}")
                    o.status = OrderStatus.NEW
                    session.orders[o.cl_order_id] = o
                risk = RiskControl(journal, time.time_ns)
                order, mid = _order("new"), Decimal("100")
                amended = _order("o0")
                amended.status = OrderStatus.NEW
                cases = [
                    ("none", insert_call(risk, session, order, mid)),
                    ("all", insert_call(risk, session, order, mid)),
                    ("amend", amend_call(risk, session, amended, mid)),
                ]
                for name, call in cases:
                    if name == "none":
                        risk.state(sid).limits = RiskLimits()
                    else:
                        risk.state(sid).limits = ALL
                    us = _time(call, args.n)
                    line = {"bench": "risk_checks", "case": name, "open_orders": open_n, "us_per_check": round(us, 2)}
                    print(json.dumps(line), flush=True)
        finally:
            asyncio.run(journal.close())


if __name__ == "__main__":
    main()
