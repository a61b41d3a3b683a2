"""Native linked groups across a restart that cuts the venue's answer off (issue 20, "nothing lost"): execx stops after
journaling a native group's legs (``pendingnew``) but before the venue answered its one request, while the venue holds
the group. After the restart the legs must be found as the venue holds them (held, then fired once), never ended
``rejected`` as not sent: OKX's oco is known only under the algoClOrdId derived from the group, Pulse's secondaries
only through the primary's ``oto_order_ids`` (the connector learns the saved groups before the engine's
reconciliation asks for the legs: ``OrderEngine.resume_hooks``); Binance's orders have their own client ids.

The window is made with the simulator's faults: ``slow_ack_ms`` (the group placed, its answer held back) and
``silent_s`` (no private report), then ``latency_ms`` (nothing answers) while execx stops; the restarted engine's
``unknown_after_s`` is 0 (a restart slower than the venue's acceptance window). The OKX case is in
``test_contingent_groups_okx.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from algo_helpers import execx, poll, simulator
from execx.v1 import common_pb2 as c
from execx.v1 import contingent_order_pb2 as co
from execx.v1 import contingent_order_pb2_grpc as co_grpc
from execx.v1 import order_manager_pb2 as om
from market_helpers import AUTH, Svc, uid
from test_contingent_groups_native import (
    BINANCE,
    BSYMBOL,
    CANCELLED,
    EXPIRED,
    FILLED,
    PENDING,
    SYMBOL,
    VENUE,
    D,
    bleg,
    get,
    leg,
    transactions,
)
from test_contingent_native import last_at_ask, session
from test_contingent_orders import updates


async def send_unanswered(
    svc: Svc, sim: Any, venue: str, req: co.SendOrderGroupRequest, placed: Callable[[], Awaitable[bool]]
) -> asyncio.Future[Any]:
    """``SendOrderGroup`` whose venue answer is held back (the simulator's ``slow_ack_ms``) until the venue holds the
    group (``placed``), its websockets silent (``silent_s``: no private report either); from then on every answer of
    the venue is held back too (``latency_ms``), so the execx the caller then stops knows of the group only what it
    journaled before the request left (every leg ``pendingnew``). The caller awaits the call's end after the stop."""
    await svc.admin_post(f"/admin/faults/{venue}", {"slow_ack_ms": 120_000, "silent_s": 120})
    sent = asyncio.ensure_future(co_grpc.ContingentOrderServiceStub(svc.channel).SendOrderGroup(req, metadata=AUTH))
    await poll(placed, bool, "the group held at the venue")
    sim.faults[venue].latency_ms = 120_000
    return sent


async def restarted_late(svc: Svc, sent: asyncio.Future[Any], sim: Any, venue: str, pending: list[str]) -> None:
    """The restarted execx, before its session is started again: the call left unanswered ended, the venue's faults
    cleared, ``pending`` still ``pendingnew`` in the journal (the window under test), and the restart taken as slower
    than the venue's acceptance window (``unknown_after_s`` 0: a leg the venue has no record of is not sent)."""
    await asyncio.gather(sent, return_exceptions=True)
    sim.faults[venue].latency_ms = sim.faults[venue].slow_ack_ms = sim.faults[venue].silent_until = 0
    engine = svc.service.engine
    assert engine is not None
    engine.retry = dataclasses.replace(engine.retry, unknown_after_s=0)
    sid = next(iter(engine.sessions))
    for cl in pending:
        assert (await get(svc, sid, cl)).order_status == c.ORDER_STATUS_PENDING_NEW, cl


@pytest.mark.parametrize(
    ("venue", "symbol", "make", "take_profit_ends"),
    [(VENUE, SYMBOL, leg, CANCELLED), (BINANCE, BSYMBOL, bleg, EXPIRED)],
    ids=["pulse", "binance-spot"],
)
async def test_otoco_unanswered_when_execx_stopped_is_found_held_after_the_restart(
    tmp_path: Path, venue: str, symbol: str, make: Callable[..., om.SendOrderRequest], take_profit_ends: int
) -> None:
    """execx stops after journaling an OTOCO's legs but before the venue answered the linked order / order list.
    Pulse's take-profit and stop are secondaries with no label (known only through the primary's
    ``oto_order_ids``): after the restart the connector learns them before the engine's reconciliation asks for
    them. Binance's orders have their own client ids. Either way: the working order open, the bracket held
    (``pendingtrigger``), never ``rejected`` as not sent; the working order's fill releases the bracket at the
    venue, the stop fires once, the take-profit ends as the venue ends it."""
    async with simulator() as sim:
        gid, entry, tp, sl = uid("g"), uid("en"), uid("tp"), uid("sl")
        async with execx(tmp_path, sim) as svc:
            sid, acct = await session(svc, venue)
            last = await last_at_ask(svc, venue, symbol)
            legs = [
                make(entry, c.SIDE_SELL, order_type=c.ORDER_TYPE_LIMIT, price=float(last + 10)),
                make(tp, c.SIDE_BUY, trigger_kind=om.TRIGGER_KIND_TAKE_PROFIT, trigger_price=float(last - 60)),
                make(sl, c.SIDE_BUY, trigger_kind=om.TRIGGER_KIND_STOP, trigger_price=float(last + 20)),
            ]
            req = co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OTOCO, orders=legs)
            account = sim.exchange.account_by_key(acct["apiKey"])

            async def placed() -> bool:
                orders = sim.exchange.markets[venue].orders.values()
                return len([o for o in orders if o.account_id == account.account_id]) == 3

            sent = await send_unanswered(svc, sim, venue, req, placed)
        async with execx(tmp_path, sim) as svc:
            await restarted_late(svc, sent, sim, venue, [entry, tp, sl])
            r = updates(svc, sid)
            try:
                await svc.start_session(sid, venue, acct)
                await poll(lambda: get(svc, sid, entry), lambda o: o.order_status == c.ORDER_STATUS_NEW, "working")
                for cl in (tp, sl):
                    await poll(lambda cl=cl: get(svc, sid, cl), lambda o: o.order_status == PENDING, f"{cl} held")
                await svc.trade(venue, symbol, last + 15, D("0.01"), "buy")  # fills the working order
                await poll(lambda: get(svc, sid, entry), lambda o: o.order_status == FILLED, "working filled")
                await svc.trade(venue, symbol, last + 30, D("0.001"), "buy")  # through the stop at the venue
                await poll(lambda: get(svc, sid, sl), lambda o: o.order_status == FILLED, "stop filled")
                await poll(lambda: get(svc, sid, tp), lambda o: o.order_status == take_profit_ends, "take-profit ends")
                for cl in (entry, tp, sl):
                    assert c.ORDER_STATUS_REJECTED not in [t.order_status for t in transactions(r, cl)], cl
                assert len([t for t in transactions(r, sl) if t.trade_id]) == 1
            finally:
                await r.close()
