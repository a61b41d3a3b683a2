"""Native linked groups (issue 20): OTO / OTOCO placed as one linked order at the venue (Pulse's
``linked_order_type`` + ``otoco_config``, seed 004) and OCO as a Binance spot order list (``orderList/oco`` /
``orderList.place.oco``), end to end over gRPC and REST against a simulator of its own.

Covered: the group is held by the venue (the simulator's own orders: one primary, its secondaries
``is_secondary_oto`` and untriggered; nothing armed in execx); the venue's linking fires once (the entry's
complete fill releases the bracket, a stop firing and filling cancels its take-profit at the venue); every leg's
statuses and group id on the stream; ``CancelOrderGroup`` (REST) cancels every leg at the venue; a leg's
``emulate`` emulates the group; a restart with the entry filled while execx was down reconciles the legs (the
secondaries, which have no label at the venue, found through the journaled order ids). Binance spot, over the
WebSocket API and over REST: an OCO is one order list (both legs of one ``orderListId``, the stop held), the
limit leg's fill makes the venue expire the stop; cancelled as a group at the venue; not amended
(FAILED_PRECONDITION); ``emulate``; a restart with the limit leg filled while execx was down.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from algo_helpers import execx, poll, simulator
from execx.v1 import common_pb2 as c
from execx.v1 import contingent_order_pb2 as co
from execx.v1 import contingent_order_pb2_grpc as co_grpc
from execx.v1 import order_manager_pb2 as om
from execx_sim.core.types import OrderStatus as SimStatus
from execx_sim.core.types import Side
from market_helpers import AUTH, KEY, Svc, uid
from test_contingent_native import last_at_ask, session
from test_contingent_orders import updates

D = Decimal
VENUE, SYMBOL, QTY = "pulse", "BTC_USD-PERPETUAL", 0.01
PENDING, FILLED, CANCELLED = c.ORDER_STATUS_PENDING_TRIGGER, c.ORDER_STATUS_FILLED, c.ORDER_STATUS_CANCELLED
EXPIRED = c.ORDER_STATUS_EXPIRED


def linked_at_venue(sim: Any, acct: dict[str, str]) -> list[Any]:
    """The account's orders of a linked order as the simulated venue holds them (primaries and secondaries)."""
    market = sim.exchange.markets[VENUE]
    account = sim.exchange.account_by_key(acct["apiKey"])
    return [o for o in market.orders.values() if o.account_id == account.account_id and "linked_order_type" in o.extra]


def leg(cl: str, side: int, **kw: Any) -> om.SendOrderRequest:
    fields: dict[str, Any] = dict(cl_order_id=cl, symbol=SYMBOL, qty=QTY, order_type=c.ORDER_TYPE_MARKET, side=side)
    fields.update(kw)
    return om.SendOrderRequest(**fields)


def bracket(entry: str, tp: str, sl: str, last: Decimal, emulate: bool = False) -> list[om.SendOrderRequest]:
    """A market sell entry, a take-profit buy 60 below the last price and a stop buy 20 above it (the simulator's
    book is thin: a print far away sweeps it, and a stop fired there would find nothing to buy)."""
    return [
        leg(entry, c.SIDE_SELL, emulate=emulate),
        leg(tp, c.SIDE_BUY, trigger_kind=om.TRIGGER_KIND_TAKE_PROFIT, trigger_price=float(last - 60)),
        leg(sl, c.SIDE_BUY, trigger_kind=om.TRIGGER_KIND_STOP, trigger_price=float(last + 20)),
    ]


def transactions(r: Any, cl: str) -> list[Any]:
    return [m.transaction for m in r.got if m.HasField("transaction") and m.transaction.cl_order_id == cl]


async def get(svc: Svc, sid: str, cl: str) -> Any:
    return (await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)).order


@dataclass
class Live:
    """A test's own simulator and execx, one session on ``venue`` (the last price printed at the ask), the
    contingent-order stub and a reader of the session's updates from its first."""

    sim: Any
    svc: Svc
    sid: str
    acct: dict[str, str]
    last: Decimal
    stub: Any
    r: Any


@contextlib.asynccontextmanager
async def live(tmp_path: Path, venue: str, symbol: str, order_entry: str = "websocket") -> AsyncIterator[Live]:
    async with simulator() as sim, execx(tmp_path, sim, order_entry=order_entry) as svc:
        sid, acct = await session(svc, venue)
        last = await last_at_ask(svc, venue, symbol)
        r = updates(svc, sid)
        try:
            yield Live(sim, svc, sid, acct, last, co_grpc.ContingentOrderServiceStub(svc.channel), r)
        finally:
            await r.close()


async def done_once(stub: Any, r: Any, sid: str, gid: str, statuses: list[int], filled: str) -> None:
    """The group is done with its legs in ``statuses``; every leg's updates carry its group id; ``filled``'s
    one fill came once."""
    got = await stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH)
    assert got.group.done and [x.order_status for x in got.group.legs] == statuses
    for leg in got.group.legs:
        assert all(t.group_id == gid for t in transactions(r, leg.cl_order_id)), leg.cl_order_id
    assert len([t for t in transactions(r, filled) if t.trade_id]) == 1


async def restored_done(svc: Svc, sid: str, gid: str) -> Any:
    """``GetOrderGroup`` once the group is restored after a restart (when the session is live again) and done."""
    stub = co_grpc.ContingentOrderServiceStub(svc.channel)
    return await poll(
        lambda: stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH),
        lambda g: g.group.done,
        "the group restored, done",
    )


async def test_pulse_otoco_is_one_linked_order_at_the_venue(tmp_path: Path) -> None:
    async with live(tmp_path, VENUE, SYMBOL) as x:
        sim, svc, sid, acct, last, stub, r = x.sim, x.svc, x.sid, x.acct, x.last, x.stub, x.r
        gid, entry, tp, sl = uid("g"), uid("en"), uid("tp"), uid("sl")
        req = co.SendOrderGroupRequest(
            session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OTOCO, orders=bracket(entry, tp, sl, last)
        )
        ans = await stub.SendOrderGroup(req, metadata=AUTH)
        assert [x.cl_order_id for x in ans.group.legs] == [entry, tp, sl]
        # the venue holds one linked order: the entry (filled at once: a market order) and its two secondaries
        venue = linked_at_venue(sim, acct)
        [primary] = [o for o in venue if o.extra.get("is_primary_otoco")]
        secondaries = [o for o in venue if o.extra.get("is_secondary_oto")]
        assert primary.extra["label"] == entry and primary.extra["trigger_fill_condition"] == "complete_fill"
        assert primary.extra["linked_order_type"] == "one_triggers_one_cancels_other"
        assert len(secondaries) == 2 and all(o.status is SimStatus.UNTRIGGERED for o in secondaries)
        co_ = svc.service.contingent_orders
        assert co_ is not None and not any(w.armed for w in co_.watchers.values())  # nothing armed in execx
        g = co_.group(sid, gid)
        assert g.native
        await r.wait(lambda m: m.transaction.cl_order_id == entry and m.transaction.order_status == FILLED, "entry")
        for cl in (tp, sl):
            await r.wait(lambda m, cl=cl: m.transaction.cl_order_id == cl and m.transaction.order_status == PENDING, cl)
        engine = svc.service.engine
        assert engine is not None
        ids = {engine.session(sid).orders[cl].exch_order_id for cl in (tp, sl)}
        assert ids == set(primary.extra["oto_order_ids"])  # the secondaries known by the venue's ids
        # the last price rises through the stop at the venue: it fires and fills; the venue cancels the take-profit
        await svc.trade(VENUE, SYMBOL, last + 30, D("0.001"), "buy")
        await r.wait(lambda m: m.transaction.cl_order_id == sl and m.transaction.order_status == FILLED, "sl filled")
        await r.wait(lambda m: m.transaction.cl_order_id == tp and m.transaction.order_status == CANCELLED, "tp gone")
        await r.wait(
            lambda m: m.contingent_event.cl_order_id == tp and m.contingent_event.status == CANCELLED, "tp event"
        )
        await svc.trade(VENUE, SYMBOL, last + 40, D("0.001"), "buy")  # fires once only
        await done_once(stub, r, sid, gid, [FILLED, CANCELLED, FILLED], sl)
        assert transactions(r, tp)[0].order_status == c.ORDER_STATUS_PENDING_NEW


async def test_pulse_oto_cancelled_at_the_venue_via_rest_and_emulate(tmp_path: Path) -> None:
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, VENUE)
        last = await last_at_ask(svc, VENUE, SYMBOL)
        gid, entry, exit_ = uid("g"), uid("en"), uid("ex")
        body = {
            "sessionId": sid,
            "groupId": gid,
            "groupType": "oto",
            "orders": [
                {
                    "clOrderId": entry,
                    "symbol": SYMBOL,
                    "price": float(last - 500),
                    "qty": QTY,
                    "orderType": "limit",
                    "tif": "gtc",
                    "side": "buy",
                },
                {
                    "clOrderId": exit_,
                    "symbol": SYMBOL,
                    "price": float(last + 500),
                    "qty": QTY,
                    "orderType": "limit",
                    "tif": "gtc",
                    "side": "sell",
                },
            ],
        }
        headers = {"x-api-key": KEY}
        async with svc.http.post(f"{svc.rest}/sendOrderGroup", json=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            group = (await resp.json())["group"]
            assert [x["clOrderId"] for x in group["legs"]] == [entry, exit_]
        await poll(lambda: get(svc, sid, entry), lambda o: o.order_status == c.ORDER_STATUS_NEW, "entry rests")
        await poll(lambda: get(svc, sid, exit_), lambda o: o.order_status == PENDING, "exit held by the venue")
        venue = linked_at_venue(sim, acct)
        assert len(venue) == 2 and [o.extra.get("linked_order_type") for o in venue] == ["one_triggers_other"] * 2
        held = [o for o in venue if o.extra.get("is_secondary_oto")]
        assert len(held) == 1 and held[0].status is SimStatus.UNTRIGGERED
        async with svc.http.post(
            f"{svc.rest}/cancelOrderGroup", json={"sessionId": sid, "groupId": gid}, headers=headers
        ) as resp:
            assert resp.status == 200, await resp.text()
        for cl in (entry, exit_):
            await poll(lambda cl=cl: get(svc, sid, cl), lambda o: o.order_status == CANCELLED, f"{cl} cancelled")
        assert all(o.status is SimStatus.CANCELED for o in venue)
        async with svc.http.post(
            f"{svc.rest}/getOrderGroup", json={"sessionId": sid, "groupId": gid}, headers=headers
        ) as resp:
            assert resp.status == 200 and (await resp.json())["group"]["done"] is True

        # a leg's emulate: the group is execx's, nothing linked at the venue
        stub = co_grpc.ContingentOrderServiceStub(svc.channel)
        gid2, e2, t2, s2 = uid("g"), uid("en"), uid("tp"), uid("sl")
        req = co.SendOrderGroupRequest(
            session_id=sid, group_id=gid2, group_type=co.GROUP_TYPE_OTOCO, orders=bracket(e2, t2, s2, last, True)
        )
        await stub.SendOrderGroup(req, metadata=AUTH)
        co_ = svc.service.contingent_orders
        assert co_ is not None and not co_.group(sid, gid2).native
        assert len(linked_at_venue(sim, acct)) == 2  # the first group's only
        await poll(lambda: get(svc, sid, e2), lambda o: o.order_status == FILLED, "emulated entry filled")


async def test_pulse_native_group_amended_at_the_venue_then_the_kill_switch(tmp_path: Path) -> None:
    """A held leg of a Pulse OTOCO amended with AmendOrderGroup (its qty and trigger price: private/edit of the
    venue's secondary); the kill switch's pull then cancels every leg at the venue, nothing left held there."""
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, VENUE)
        last = await last_at_ask(svc, VENUE, SYMBOL)
        stub = co_grpc.ContingentOrderServiceStub(svc.channel)
        gid, entry, tp, sl = uid("g"), uid("en"), uid("tp"), uid("sl")
        legs = bracket(entry, tp, sl, last)
        legs[0] = leg(entry, c.SIDE_SELL, order_type=c.ORDER_TYPE_LIMIT, price=float(last + 100))
        req = co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OTOCO, orders=legs)
        await stub.SendOrderGroup(req, metadata=AUTH)
        await poll(lambda: get(svc, sid, sl), lambda o: o.order_status == PENDING, "the stop held by the venue")
        amend = co.AmendOrderGroupRequest(
            session_id=sid,
            group_id=gid,
            orders=[om.SendOrderRequest(cl_order_id=sl, qty=0.02, trigger_price=float(last + 25))],
        )
        await stub.AmendOrderGroup(amend, metadata=AUTH)
        engine = svc.service.engine
        assert engine is not None
        held_id = engine.session(sid).orders[sl].exch_order_id
        [held] = [o for o in linked_at_venue(sim, acct) if str(o.extra.get("label") or "") == "" and o.qty == D("0.02")]
        assert held.trigger is not None and held.trigger.price == last + 25 and held.status is SimStatus.UNTRIGGERED
        await poll(lambda: get(svc, sid, sl), lambda o: D(str(o.qty)) == D("0.02"), "the amend at the venue")
        assert held_id
        kill = await svc.om.EngageKillSwitch(om.EngageKillSwitchRequest(session_id=sid, reason="desk"), metadata=AUTH)
        assert set(kill.cl_order_ids) >= {entry}
        for cl in (entry, tp, sl):
            await poll(lambda cl=cl: get(svc, sid, cl), lambda o: o.order_status == CANCELLED, f"{cl} cancelled")
        assert all(o.status is SimStatus.CANCELED for o in linked_at_venue(sim, acct))
        co_ = svc.service.contingent_orders
        assert co_ is not None
        x = co_.get(sid, sl)
        assert x is not None and x.status.value == "cancelled" and x.message == "kill switch engaged"


async def test_pulse_otoco_across_a_restart(tmp_path: Path) -> None:
    async with simulator() as sim:
        gid, entry, tp, sl = uid("g"), uid("en"), uid("tp"), uid("sl")
        async with execx(tmp_path, sim) as svc:
            sid, acct = await session(svc, VENUE)
            last = await last_at_ask(svc, VENUE, SYMBOL)
            legs = bracket(entry, tp, sl, last)
            legs[0] = leg(entry, c.SIDE_SELL, order_type=c.ORDER_TYPE_LIMIT, price=float(last + 10))
            stub = co_grpc.ContingentOrderServiceStub(svc.channel)
            req = co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OTOCO, orders=legs)
            await stub.SendOrderGroup(req, metadata=AUTH)
            await poll(lambda: get(svc, sid, entry), lambda o: o.order_status == c.ORDER_STATUS_NEW, "entry rests")
        # execx is down: the entry fills at the venue (the bracket is released there), then the stop fires
        sim.synthetic.print_trade(VENUE, SYMBOL, last + 15, D("0.01"), Side.BUY)
        sim.synthetic.print_trade(VENUE, SYMBOL, last + 30, D("0.001"), Side.BUY)
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, VENUE, acct)
            await poll(lambda: get(svc, sid, entry), lambda o: o.order_status == FILLED, "entry filled")
            await poll(lambda: get(svc, sid, sl), lambda o: o.order_status == FILLED, "stop filled")
            await poll(lambda: get(svc, sid, tp), lambda o: o.order_status == CANCELLED, "take-profit cancelled")
            got = await restored_done(svc, sid, gid)
            assert [x.order_status for x in got.group.legs] == [FILLED, CANCELLED, FILLED]
            fills = await svc.om.ListFills(om.ListFillsRequest(session_id=sid), metadata=AUTH)
            assert [f.cl_order_id for f in fills.fills].count(sl) == 1


BINANCE, BSYMBOL, BQTY = "binance-spot", "BTCUSDT", 0.01


def oco(sid: str, gid: str, limit: str, stop: str, last: Decimal, emulate: bool = False) -> co.SendOrderGroupRequest:
    """A sell OCO: a limit 30 above the last price (LIMIT_MAKER at the venue), a stop-market 300 below it."""
    legs = [
        om.SendOrderRequest(
            cl_order_id=limit,
            symbol=BSYMBOL,
            qty=BQTY,
            order_type=c.ORDER_TYPE_LIMIT,
            price=float(last + 30),
            side=c.SIDE_SELL,
            emulate=emulate,
        ),
        om.SendOrderRequest(
            cl_order_id=stop,
            symbol=BSYMBOL,
            qty=BQTY,
            order_type=c.ORDER_TYPE_MARKET,
            side=c.SIDE_SELL,
            trigger_kind=om.TRIGGER_KIND_STOP,
            trigger_price=float(last - 300),
        ),
    ]
    return co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OCO, orders=legs)


def venue_list(sim: Any, acct: dict[str, str], *cls: str) -> list[Any]:
    """The simulated venue's orders of ``cls`` (Binance spot), each with its ``order_list_id`` in ``extra``."""
    market = sim.exchange.markets[BINANCE]
    account = sim.exchange.account_by_key(acct["apiKey"])
    return [market.find_order(account, BSYMBOL, client_id=cl) for cl in cls]


@pytest.mark.parametrize("entry", ["websocket", "rest"])
async def test_binance_spot_oco_is_an_order_list(tmp_path: Path, entry: str) -> None:
    async with live(tmp_path, BINANCE, BSYMBOL, order_entry=entry) as x:
        sim, svc, sid, acct, last, stub, r = x.sim, x.svc, x.sid, x.acct, x.last, x.stub, x.r
        gid, lim, st = uid("g"), uid("lm"), uid("st")
        ans = await stub.SendOrderGroup(oco(sid, gid, lim, st, last), metadata=AUTH)
        assert [x.cl_order_id for x in ans.group.legs] == [lim, st]
        limit, stop = venue_list(sim, acct, lim, st)
        assert limit.extra["order_list_id"] == stop.extra["order_list_id"]  # one order list at the venue
        assert (limit.extra["type"], stop.extra["type"]) == ("LIMIT_MAKER", "STOP_LOSS")
        assert stop.status is SimStatus.UNTRIGGERED
        co_ = svc.service.contingent_orders
        assert co_ is not None and co_.group(sid, gid).native
        assert not any(w.armed for w in co_.watchers.values())  # nothing armed in execx
        await r.wait(lambda m: m.transaction.cl_order_id == st and m.transaction.order_status == PENDING, "held")
        # Binance amends a list's order on the book by a quantity decrease only (order.amend.keepPriority)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            amend = co.AmendOrderGroupRequest(
                session_id=sid, group_id=gid, orders=[om.SendOrderRequest(cl_order_id=lim, qty=0.02)]
            )
            await stub.AmendOrderGroup(amend, metadata=AUTH)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "quantity decrease of an order on the book only" in str(e.value.details())
        # nor a price (a cancel-replace would leave the list), through sendOrder either, nor the held stop
        update = om.SendOrderRequest(
            cl_order_id=lim,
            symbol=BSYMBOL,
            session_id=sid,
            transaction_type=c.TRANSACTION_TYPE_UPDATE,
            price=float(last + 35),
        )
        for refused in (
            svc.om.SendOrder(update, metadata=AUTH),
            stub.AmendOrderGroup(
                co.AmendOrderGroupRequest(
                    session_id=sid, group_id=gid, orders=[om.SendOrderRequest(cl_order_id=st, qty=0.005)]
                ),
                metadata=AUTH,
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await refused
            assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert (limit.qty, limit.price) == (D(str(BQTY)), last + 30)
        decrease = co.AmendOrderGroupRequest(
            session_id=sid, group_id=gid, orders=[om.SendOrderRequest(cl_order_id=lim, qty=0.005)]
        )
        await stub.AmendOrderGroup(decrease, metadata=AUTH)
        await poll(lambda: get(svc, sid, lim), lambda o: D(str(o.qty)) == D("0.005"), "the limit leg decreased")
        assert limit.qty == D("0.005") and limit.extra["order_list_id"] == stop.extra["order_list_id"]
        # a print through the limit fills it at the venue; the venue expires the stop (the list's rule, OCO_TRIGGER)
        await svc.trade(BINANCE, BSYMBOL, last + 40, D("0.01"), "buy")
        await r.wait(lambda m: m.transaction.cl_order_id == lim and m.transaction.order_status == FILLED, "fill")
        await r.wait(lambda m: m.transaction.cl_order_id == st and m.transaction.order_status == EXPIRED, "st")
        await r.wait(lambda m: m.contingent_event.cl_order_id == st and m.contingent_event.status == CANCELLED, "event")
        await done_once(stub, r, sid, gid, [FILLED, EXPIRED], lim)


async def test_binance_spot_oco_cancelled_at_the_venue_and_emulate(tmp_path: Path) -> None:
    async with simulator() as sim, execx(tmp_path, sim, order_entry="rest") as svc:
        sid, acct = await session(svc, BINANCE)
        last = await last_at_ask(svc, BINANCE, BSYMBOL)
        stub = co_grpc.ContingentOrderServiceStub(svc.channel)
        gid, lim, st = uid("g"), uid("lm"), uid("st")
        await stub.SendOrderGroup(oco(sid, gid, lim, st, last), metadata=AUTH)
        await poll(lambda: get(svc, sid, st), lambda o: o.order_status == PENDING, "the stop held by the venue")
        # a delete of one leg cancels the group at the venue
        delete = om.SendOrderRequest(
            cl_order_id=st, symbol=BSYMBOL, session_id=sid, transaction_type=c.TRANSACTION_TYPE_DELETE
        )
        await svc.om.SendOrder(delete, metadata=AUTH)
        for cl in (lim, st):
            await poll(lambda cl=cl: get(svc, sid, cl), lambda o: o.order_status == CANCELLED, f"{cl} cancelled")
        assert all(o.status is SimStatus.CANCELED for o in venue_list(sim, acct, lim, st))
        # a leg's emulate: execx's own OCO, no order list at the venue
        gid2, lim2, st2 = uid("g"), uid("lm"), uid("st")
        await stub.SendOrderGroup(oco(sid, gid2, lim2, st2, last, emulate=True), metadata=AUTH)
        co_ = svc.service.contingent_orders
        assert co_ is not None and not co_.group(sid, gid2).native
        await poll(lambda: get(svc, sid, lim2), lambda o: o.order_status == c.ORDER_STATUS_NEW, "emulated limit leg")
        [limit2] = venue_list(sim, acct, lim2)
        assert limit2.extra.get("order_list_id") is None
        x = co_.get(sid, st2)
        assert x is not None and not x.native and x.status.value == "pendingtrigger"
        # the service flag (--emulateContingent) emulates every group too
        co_.emulate = True
        gid3, lim3, st3 = uid("g"), uid("lm"), uid("st")
        await stub.SendOrderGroup(oco(sid, gid3, lim3, st3, last), metadata=AUTH)
        assert not co_.group(sid, gid3).native
        await poll(lambda: get(svc, sid, lim3), lambda o: o.order_status == c.ORDER_STATUS_NEW, "emulated limit leg")
        [limit3] = venue_list(sim, acct, lim3)
        assert limit3.extra.get("order_list_id") is None


async def test_binance_spot_oco_across_a_restart(tmp_path: Path) -> None:
    async with simulator() as sim:
        gid, lim, st = uid("g"), uid("lm"), uid("st")
        async with execx(tmp_path, sim) as svc:
            sid, acct = await session(svc, BINANCE)
            last = await last_at_ask(svc, BINANCE, BSYMBOL)
            stub = co_grpc.ContingentOrderServiceStub(svc.channel)
            await stub.SendOrderGroup(oco(sid, gid, lim, st, last), metadata=AUTH)
            await poll(lambda: get(svc, sid, st), lambda o: o.order_status == PENDING, "the stop held by the venue")
        sim.synthetic.print_trade(BINANCE, BSYMBOL, last + 40, D("0.01"), Side.BUY)  # execx down: the limit fills
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, BINANCE, acct)
            await poll(lambda: get(svc, sid, lim), lambda o: o.order_status == FILLED, "limit leg filled")
            await poll(lambda: get(svc, sid, st), lambda o: o.order_status == EXPIRED, "stop expired by the venue")
            got = await restored_done(svc, sid, gid)
            assert [x.order_status for x in got.group.legs] == [FILLED, EXPIRED]
            assert got.group.legs[1].group_id == gid
            fills = await svc.om.ListFills(om.ListFillsRequest(session_id=sid), metadata=AUTH)
            assert [f.cl_order_id for f in fills.fills].count(lim) == 1


def bleg(cl: str, side: int, **kw: Any) -> om.SendOrderRequest:
    fields: dict[str, Any] = dict(cl_order_id=cl, symbol=BSYMBOL, qty=BQTY, order_type=c.ORDER_TYPE_MARKET, side=side)
    fields.update(kw)
    return om.SendOrderRequest(**fields)


@pytest.mark.parametrize("entry", ["websocket", "rest"])
async def test_binance_spot_otoco_is_an_order_list(tmp_path: Path, entry: str) -> None:
    """A working sell limit and a buy bracket (a take-profit 60 below the last price, a stop 20 above it): one
    OTOCO order list at the venue, the bracket PENDING_NEW (pendingtrigger) until the working order fills, then
    placed by the venue; the stop fires and fills there and the venue expires the take-profit, once."""
    async with live(tmp_path, BINANCE, BSYMBOL, order_entry=entry) as x:
        sim, svc, sid, acct, last, stub, r = x.sim, x.svc, x.sid, x.acct, x.last, x.stub, x.r
        gid, entry_, tp, sl = uid("g"), uid("en"), uid("tp"), uid("sl")
        legs = [
            bleg(entry_, c.SIDE_SELL, order_type=c.ORDER_TYPE_LIMIT, price=float(last + 10)),
            bleg(tp, c.SIDE_BUY, trigger_kind=om.TRIGGER_KIND_TAKE_PROFIT, trigger_price=float(last - 60)),
            bleg(sl, c.SIDE_BUY, trigger_kind=om.TRIGGER_KIND_STOP, trigger_price=float(last + 20)),
        ]
        req = co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OTOCO, orders=legs)
        await stub.SendOrderGroup(req, metadata=AUTH)
        working, take, stop = venue_list(sim, acct, entry_, tp, sl)
        assert working.extra["order_list_id"] == take.extra["order_list_id"] == stop.extra["order_list_id"]
        assert take.extra.get("pending") and stop.extra.get("pending")
        co_ = svc.service.contingent_orders
        assert co_ is not None and co_.group(sid, gid).native
        for cl in (tp, sl):
            await r.wait(lambda m, cl=cl: m.transaction.cl_order_id == cl and m.transaction.order_status == PENDING, cl)
        await poll(lambda: get(svc, sid, entry_), lambda o: o.order_status == c.ORDER_STATUS_NEW, "working")
        await svc.trade(BINANCE, BSYMBOL, last + 15, D("0.01"), "buy")  # fills the working order
        await r.wait(lambda m: m.transaction.cl_order_id == entry_ and m.transaction.order_status == FILLED, "w")
        await svc.trade(BINANCE, BSYMBOL, last + 30, D("0.001"), "buy")  # through the stop at the venue
        await r.wait(lambda m: m.transaction.cl_order_id == sl and m.transaction.order_status == FILLED, "sl")
        await r.wait(lambda m: m.transaction.cl_order_id == tp and m.transaction.order_status == EXPIRED, "tp")
        await done_once(stub, r, sid, gid, [FILLED, EXPIRED, FILLED], sl)


@pytest.mark.parametrize("entry", ["websocket", "rest"])
async def test_binance_spot_oto_cancelled_as_a_list(tmp_path: Path, entry: str) -> None:
    """An OTO (a working buy limit, a pending sell limit held PENDING_NEW) cancelled with CancelOrderGroup: one
    DELETE orderList / orderList.cancel, both orders cancelled at the venue."""
    async with simulator() as sim, execx(tmp_path, sim, order_entry=entry) as svc:
        sid, acct = await session(svc, BINANCE)
        last = await last_at_ask(svc, BINANCE, BSYMBOL)
        stub = co_grpc.ContingentOrderServiceStub(svc.channel)
        gid, work, pend = uid("g"), uid("wk"), uid("pd")
        legs = [
            bleg(work, c.SIDE_BUY, order_type=c.ORDER_TYPE_LIMIT, price=float(last - 200)),
            bleg(pend, c.SIDE_SELL, order_type=c.ORDER_TYPE_LIMIT, price=float(last + 500)),
        ]
        req = co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OTO, orders=legs)
        await stub.SendOrderGroup(req, metadata=AUTH)
        await poll(lambda: get(svc, sid, pend), lambda o: o.order_status == PENDING, "pending order held")
        working, pending = venue_list(sim, acct, work, pend)
        assert working.extra["order_list_id"] == pending.extra["order_list_id"] and pending.extra.get("pending")
        await stub.CancelOrderGroup(co.CancelOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH)
        for cl in (work, pend):
            await poll(lambda cl=cl: get(svc, sid, cl), lambda o: o.order_status == CANCELLED, f"{cl} cancelled")
        assert working.status is SimStatus.CANCELED and pending.status is SimStatus.CANCELED


async def test_binance_spot_otoco_across_a_restart_then_the_kill_switch(tmp_path: Path) -> None:
    """The working order of an OTOCO fills while execx is down (the venue places the bracket): after the restart
    the entry is filled and the bracket's stop and take-profit held by the venue (pendingtrigger, found by their
    client order ids); the kill switch's pull then cancels the bracket at the venue."""
    async with simulator() as sim:
        gid, entry, tp, sl = uid("g"), uid("en"), uid("tp"), uid("sl")
        async with execx(tmp_path, sim) as svc:
            sid, acct = await session(svc, BINANCE)
            last = await last_at_ask(svc, BINANCE, BSYMBOL)
            legs = [
                bleg(entry, c.SIDE_SELL, order_type=c.ORDER_TYPE_LIMIT, price=float(last + 10)),
                bleg(tp, c.SIDE_BUY, trigger_kind=om.TRIGGER_KIND_TAKE_PROFIT, trigger_price=float(last - 60)),
                bleg(sl, c.SIDE_BUY, trigger_kind=om.TRIGGER_KIND_STOP, trigger_price=float(last + 40)),
            ]
            stub = co_grpc.ContingentOrderServiceStub(svc.channel)
            req = co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OTOCO, orders=legs)
            await stub.SendOrderGroup(req, metadata=AUTH)
            await poll(lambda: get(svc, sid, sl), lambda o: o.order_status == PENDING, "the bracket held")
        sim.synthetic.print_trade(BINANCE, BSYMBOL, last + 15, D("0.01"), Side.BUY)  # execx down: the entry fills
        _, take, stop = venue_list(sim, acct, entry, tp, sl)
        assert take.status is SimStatus.UNTRIGGERED and stop.status is SimStatus.UNTRIGGERED  # placed, held by price
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, BINANCE, acct)
            await poll(lambda: get(svc, sid, entry), lambda o: o.order_status == FILLED, "entry filled")
            stub = co_grpc.ContingentOrderServiceStub(svc.channel)
            got = await poll(
                lambda: stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH),
                lambda g: [x.order_status for x in g.group.legs] == [FILLED, PENDING, PENDING],
                "the group restored, its bracket held",
            )
            assert not got.group.done
            kill = om.EngageKillSwitchRequest(session_id=sid, reason="desk")
            await svc.om.EngageKillSwitch(kill, metadata=AUTH)
            for cl in (tp, sl):
                await poll(lambda cl=cl: get(svc, sid, cl), lambda o: o.order_status == CANCELLED, f"{cl} cancelled")
            assert take.status is SimStatus.CANCELED and stop.status is SimStatus.CANCELED
            await restored_done(svc, sid, gid)


async def test_a_native_group_is_risk_checked_when_armed(tmp_path: Path) -> None:
    """The session's limits refuse a native group's leg before anything is sent, as an emulated group's
    (FAILED_PRECONDITION naming the leg and the limit); nothing at the venue, the group id still free."""
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, BINANCE)
        last = await last_at_ask(svc, BINANCE, BSYMBOL)
        limits = om.RiskLimits(max_order_qty=0.005)
        await svc.om.SetRiskLimits(om.SetRiskLimitsRequest(session_id=sid, limits=limits), metadata=AUTH)
        stub = co_grpc.ContingentOrderServiceStub(svc.channel)
        gid, lim, st = uid("g"), uid("lm"), uid("st")
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.SendOrderGroup(oco(sid, gid, lim, st, last), metadata=AUTH)  # legs of 0.01
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "maxOrderQty" in str(e.value.details()) and f"orders[0] ({lim})" in str(e.value.details())
        market = sim.exchange.markets[BINANCE]
        assert market.open_orders(sim.exchange.account_by_key(acct["apiKey"]), BSYMBOL) == []
        await svc.om.SetRiskLimits(om.SetRiskLimitsRequest(session_id=sid, limits=om.RiskLimits()), metadata=AUTH)
        ans = await stub.SendOrderGroup(oco(sid, gid, lim, st, last), metadata=AUTH)  # the same id, now placed
        assert [x.cl_order_id for x in ans.group.legs] == [lim, st]
        assert [o.extra["order_list_id"] is not None for o in venue_list(sim, acct, lim, st)] == [True, True]


async def test_binance_spot_oco_refused_by_the_venue_rejects_every_leg(tmp_path: Path) -> None:
    """All or nothing: a sell OCO whose stop is above the last price is refused by the venue (-2010, the
    relationship of the prices): both legs ``rejected`` with the venue's message, nothing live, the group done."""
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, BINANCE)
        last = await last_at_ask(svc, BINANCE, BSYMBOL)
        stub = co_grpc.ContingentOrderServiceStub(svc.channel)
        gid, lim, st = uid("g"), uid("lm"), uid("st")
        req = oco(sid, gid, lim, st, last)
        req.orders[1].trigger_price = float(last + 10)  # a sell stop above the market: the venue's -2010
        ans = await stub.SendOrderGroup(req, metadata=AUTH)
        assert ans.group.done and [x.order_status for x in ans.group.legs] == [c.ORDER_STATUS_REJECTED] * 2
        assert all("relationship of the prices" in x.message for x in ans.group.legs)
        market = sim.exchange.markets[BINANCE]
        account = sim.exchange.account_by_key(acct["apiKey"])
        assert market.open_orders(account, BSYMBOL) == []
        co_ = svc.service.contingent_orders
        assert co_ is not None
        x = co_.get(sid, st)
        assert x is not None and x.status.value == "rejected"


async def test_kill_switch_cancels_a_live_binance_order_list(tmp_path: Path) -> None:
    """The kill switch's pull cancels a native OCO whose limit leg is live and whose stop is held (Binance's
    cancel-all of the symbol takes the list): both legs end cancelled at the venue, none with a refused cancel on
    the way, the stop's event saying why."""
    async with live(tmp_path, BINANCE, BSYMBOL) as x:
        gid, lim, st = uid("g"), uid("lm"), uid("st")
        await x.stub.SendOrderGroup(oco(x.sid, gid, lim, st, x.last), metadata=AUTH)
        await poll(lambda: get(x.svc, x.sid, lim), lambda o: o.order_status == c.ORDER_STATUS_NEW, "limit leg live")
        kill = await x.svc.om.EngageKillSwitch(
            om.EngageKillSwitchRequest(session_id=x.sid, reason="desk"), metadata=AUTH
        )
        assert set(kill.cl_order_ids) == {lim, st}
        for cl in (lim, st):
            await x.r.wait(
                lambda m, cl=cl: m.transaction.cl_order_id == cl and m.transaction.order_status == CANCELLED, cl
            )
        assert all(o.status is SimStatus.CANCELED for o in venue_list(x.sim, x.acct, lim, st))
        for cl in (lim, st):
            assert not [t.message for t in transactions(x.r, cl) if "rejected" in t.message], cl
        ev = await x.r.wait(
            lambda m: m.contingent_event.cl_order_id == st and m.contingent_event.status == CANCELLED, "event"
        )
        assert ev.contingent_event.message == "kill switch engaged"


async def test_stop_order_handler_cancels_a_pulse_linked_order(tmp_path: Path) -> None:
    """StopOrderHandler with cancelOpenOrders: a Pulse OTOCO whose entry rests cancelled at the venue, primary and
    secondaries alike (the held ones by the handler's stop, the entry by its pull); nothing kept in the journal."""
    async with live(tmp_path, VENUE, SYMBOL) as x:
        gid, entry, tp, sl = uid("g"), uid("en"), uid("tp"), uid("sl")
        legs = bracket(entry, tp, sl, x.last)
        legs[0] = leg(entry, c.SIDE_SELL, order_type=c.ORDER_TYPE_LIMIT, price=float(x.last + 100))
        req = co.SendOrderGroupRequest(session_id=x.sid, group_id=gid, group_type=co.GROUP_TYPE_OTOCO, orders=legs)
        await x.stub.SendOrderGroup(req, metadata=AUTH)
        await poll(lambda: get(x.svc, x.sid, sl), lambda o: o.order_status == PENDING, "the bracket held")
        stop = om.StopOrderHandlerRequest(session_id=x.sid, cancel_open_orders=True)
        await x.svc.om.StopOrderHandler(stop, metadata=AUTH)
        for cl in (entry, tp, sl):
            await x.r.wait(
                lambda m, cl=cl: m.transaction.cl_order_id == cl and m.transaction.order_status == CANCELLED, cl
            )
        assert all(o.status is SimStatus.CANCELED for o in linked_at_venue(x.sim, x.acct))
        engine = x.svc.service.engine
        assert engine is not None and engine.journal.algorithms("contingent") == []
