"""The position manager across an execx restart: execx stopped and started again on the same data
directory, over a simulator that outlives it (the venue keeps the orders).

While execx is down its post-only orders keep working at the venue and one of them fills. After the
restart the strategy starts its session again (execx never stores keys) and the manager comes back by
itself with the same configuration and target: it adopts its own open orders (the same clOrderIds, no
second order at the venue: the simulator's own order list is checked), books the fill made meanwhile,
and quotes only what is left. Stopping it cancels its orders at the venue, and a stopped manager does
not come back after the next restart.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from algo_helpers import (
    algorithm_events,
    execx,
    moving,
    poll,
    sim_trade,
    simulator,
    venue_open_orders,
)
from execx.v1 import common_pb2 as c
from execx.v1 import position_manager_pb2 as pm
from market_helpers import AUTH, Svc, uid
from test_position_manager import config as pm_config

D = Decimal
VENUE, SYMBOL, EX = "binance-spot", "BTCUSDT", c.EXCHANGE_BINANCE_SPOT
MID = D("97000")


def dec(x: float) -> Decimal:
    return D(repr(x))


async def status(svc: Svc) -> pm.PositionManagerStatus:
    r = await svc.pm.GetPositionManager(pm.GetPositionManagerRequest(exchange=EX, symbol=SYMBOL), metadata=AUTH)
    return r.status


async def test_a_restart_resumes_with_its_orders_and_no_duplicate_at_the_venue(tmp_path: Path) -> None:
    sid = uid("pmr")
    config = pm_config(quote_levels=2, min_order_qty=0.001, re_entry_ticker_seconds=0.2)
    async with simulator() as sim:
        async with execx(tmp_path, sim) as svc:
            acct = await svc.admin_post("/admin/accounts", {})
            await svc.start_session(sid, VENUE, acct)
            async with moving(svc, VENUE, SYMBOL, MID):
                await svc.pm.StartPositionManager(
                    pm.StartPositionManagerRequest(session_id=sid, exchange=EX, symbol=SYMBOL, config=config),
                    metadata=AUTH,
                )
                await svc.pm.SetTargetPosition(
                    pm.SetTargetPositionRequest(exchange=EX, symbol=SYMBOL, target_position=0.003), metadata=AUTH
                )
                before = await poll(lambda: status(svc), lambda s: len(s.working_orders) == 2, "two orders")
            ids = {o.cl_order_id: dec(o.price) for o in before.working_orders}
            assert sorted(o["clientOrderId"] for o in await venue_open_orders(sim, VENUE, acct)) == sorted(ids)
        # execx is down: its orders stay at the venue, and the best one fills there meanwhile
        best = max(ids, key=lambda cl: ids[cl])
        await sim_trade(sim, VENUE, SYMBOL, ids[best], D("0.001"), "sell")
        assert sorted(o["clientOrderId"] for o in await venue_open_orders(sim, VENUE, acct)) == sorted(
            set(ids) - {best}
        )
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, VENUE, acct)
            async with moving(svc, VENUE, SYMBOL, MID):
                s = await poll(
                    lambda: status(svc),
                    lambda s: dec(s.filled_qty) == D("0.001") and len(s.working_orders) == 2,
                    "the manager back, the fill booked, two orders working",
                )
            assert s.target_position == 0.003 and dec(s.current_position) == D("0.001")
            # the fill made while down is in its PnL book too: long 0.001 at that order's price
            assert dec(s.net_qty) == D("0.001") and dec(s.avg_entry_price) == ids[best]
            assert s.config.quote_levels == 2 and s.config.re_entry_ticker_seconds == 0.2
            working = {o.cl_order_id for o in s.working_orders}
            kept = working & set(ids)
            assert kept == set(ids) - {best}  # its unfilled order adopted, not placed again
            venue = await venue_open_orders(sim, VENUE, acct)
            assert sorted(o["clientOrderId"] for o in venue) == sorted(working)  # no duplicate at the venue
            assert D(sum(D(o["qty"]) - D(o["filledQty"]) for o in venue)) == D("0.002")  # only what is left
            events = [e["event"] for e in algorithm_events(svc, sid) if e["algorithm"] == "position_manager"]
            assert "restored" in events
            stopped = await svc.pm.StopPositionManager(
                pm.StopPositionManagerRequest(exchange=EX, symbol=SYMBOL), metadata=AUTH
            )
            assert not stopped.status.working_orders and await venue_open_orders(sim, VENUE, acct) == []
        # a stopped manager does not come back
        async with execx(tmp_path, sim) as svc:
            assert svc.service.engine is not None
            assert svc.service.engine.journal.algorithms("position_manager") == []
