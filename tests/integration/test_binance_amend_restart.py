"""A Binance spot amend (cancel-replace) of a partly filled order whose answer never reaches execx: execx stops
between the request leaving and the venue's answer (fault matrix binance-spot kill seed 174117283, order_batch 8).

Binance spot carries an amend that raises the price out as ``order.cancelReplace``: the order is cancelled and a
fresh venue order placed under the same client id, sized to what was left and counting its own fills. execx's
order is the total (README "Semantics": its quantity counts the fills before the amend). After the restart the
venue answers the client id with the replacement alone; the fills of the replaced venue order must still count:
qty 0.004 = 0.002 filled before + the replacement's 0.002, not the replacement's 0.002 taken as the whole order
(which made two earlier fills a ``filled`` order while the replacement rested at the venue).

The window is made with the simulator's faults, as in ``test_contingent_groups_unanswered.py``: ``slow_ack_ms``
(the cancel-replace carried out, its answer held back) and ``silent_s`` (no private report), then ``latency_ms``
(nothing answers) while execx stops.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from algo_helpers import execx, poll, sim_trade, simulator, venue_open_orders
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from market_helpers import AUTH, uid
from test_contingent_groups_native import get

D = Decimal
VENUE, SYMBOL = "binance-spot", "BTCUSDT"


def dec(x: float) -> Decimal:
    return D(repr(x))


def sell(sid: str, cl: str, price: Decimal, qty: str, tx: int) -> om.SendOrderRequest:
    return om.SendOrderRequest(
        session_id=sid,
        cl_order_id=cl,
        symbol=SYMBOL,
        price=float(price),
        qty=float(qty),
        order_type=c.ORDER_TYPE_LIMIT,
        transaction_type=tx,
        side=c.SIDE_SELL,
    )


@pytest.mark.parametrize("entry", ["websocket", "rest"])
@pytest.mark.parametrize("fills_while_down", [False, True], ids=["rests", "fills-while-down"])
async def test_amend_by_cancel_replace_unanswered_at_a_stop_keeps_the_earlier_fills(
    tmp_path: Path, entry: str, fills_while_down: bool
) -> None:
    """A sell of 0.003 fills 0.002; an amend to 0.004 at a higher price is carried out by the venue (the
    replacement: 0.002, nothing filled) but execx stops before its answer. After the restart the order is
    0.004 with 0.002 filled and live, as at the venue; the replacement's fill of 0.002 then fills it (or
    filled it while execx was down: found after the restart, the order filled 0.004)."""
    async with simulator() as sim:
        cl = uid("am")
        async with execx(tmp_path, sim, order_entry=entry) as svc:
            acct = await svc.admin_post("/admin/accounts", {})
            sid = uid("s")
            await svc.start_session(sid, VENUE, acct)
            _, ask = await svc.top(VENUE, SYMBOL)
            price = ask + 50
            await svc.om.SendOrder(sell(sid, cl, price, "0.003", c.TRANSACTION_TYPE_INSERT), metadata=AUTH)
            await poll(lambda: get(svc, sid, cl), lambda o: o.order_status == c.ORDER_STATUS_NEW, "the ack")
            await sim_trade(sim, VENUE, SYMBOL, price, D("0.002"), "buy")
            await poll(
                lambda: get(svc, sid, cl),
                lambda o: dec(o.cumulative_filled_qty) == D("0.002"),
                "0.002 filled",
            )
            first = [o["orderId"] for o in await venue_open_orders(sim, VENUE, acct)]
            await svc.admin_post(f"/admin/faults/{VENUE}", {"slow_ack_ms": 120_000, "silent_s": 120})
            amend = sell(sid, cl, price + 5, "0.004", c.TRANSACTION_TYPE_UPDATE)
            sent = asyncio.ensure_future(svc.om.SendOrder(amend, metadata=AUTH))

            async def replaced() -> bool:
                return [o["orderId"] for o in await venue_open_orders(sim, VENUE, acct)] not in ([], first)

            await poll(replaced, bool, "the replacement resting at the venue")
            sim.faults[VENUE].latency_ms = 120_000
        await asyncio.gather(sent, return_exceptions=True)
        faults = sim.faults[VENUE]
        faults.latency_ms = faults.slow_ack_ms = faults.silent_until = 0
        venue = await venue_open_orders(sim, VENUE, acct)
        assert [(o["clientOrderId"], D(o["qty"]), D(o["filledQty"])) for o in venue] == [(cl, D("0.002"), D(0))]
        if fills_while_down:
            await sim_trade(sim, VENUE, SYMBOL, price + 5, D("0.002"), "buy")
            assert await venue_open_orders(sim, VENUE, acct) == []
        async with execx(tmp_path, sim, order_entry=entry) as svc:
            assert (await get(svc, sid, cl)).order_status == c.ORDER_STATUS_PENDING_UPDATE  # the window under test
            await svc.start_session(sid, VENUE, acct)
            if fills_while_down:
                done = await poll(
                    lambda: get(svc, sid, cl), lambda o: o.order_status == c.ORDER_STATUS_FILLED, "the order filled"
                )
                assert (dec(done.qty), dec(done.cumulative_filled_qty)) == (D("0.004"), D("0.004")), done
                fills = (await svc.om.ListFills(om.ListFillsRequest(session_id=sid), metadata=AUTH)).fills
                assert sum(dec(f.qty) for f in fills if f.cl_order_id == cl) == D("0.004"), fills
                return
            after = await poll(
                lambda: get(svc, sid, cl),
                lambda o: o.order_status != c.ORDER_STATUS_PENDING_UPDATE,
                "the amend resolved with the venue",
            )
            assert after.order_status == c.ORDER_STATUS_PARTIALLY_FILLED, after
            assert (dec(after.qty), dec(after.cumulative_filled_qty)) == (D("0.004"), D("0.002")), after
            assert dec(after.price) == price + 5
            await sim_trade(sim, VENUE, SYMBOL, price + 5, D("0.002"), "buy")  # the replacement fills
            done = await poll(
                lambda: get(svc, sid, cl), lambda o: o.order_status == c.ORDER_STATUS_FILLED, "the order filled"
            )
            assert (dec(done.qty), dec(done.cumulative_filled_qty)) == (D("0.004"), D("0.004")), done
            assert await venue_open_orders(sim, VENUE, acct) == []
