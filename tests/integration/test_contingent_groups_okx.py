"""Native OCO groups on OKX (issue 20): an execx OCO of a stop and a take-profit on one symbol, side and quantity is
one ``oco`` algo order at OKX (``POST /api/v5/trade/order-algo``), end to end over gRPC against a simulator of its
own.

Covered: the venue holds one oco algo order with both legs (nothing armed in execx); the take-profit reached at the
venue places its order, which fills under the take-profit leg's clOrderId, and the venue ends the stop (``cancelled``
once, its contingent event after it; a print through the stop's level later places nothing); ``CancelOrderGroup``
cancels the oco at the venue (both legs ``cancelled``); a leg's ``emulate`` and an OCO of another shape (a plain leg)
stay execx's own groups, nothing at the venue; a take-profit fired while execx was down is found after the restart;
the kill switch cancels an oco at the venue; OKX's refusal of the oco rejects both legs; a leg whose order OKX
cannot place when it fires (``order_failed``) is rejected with OKX's ``failCode``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from algo_helpers import execx, poll, simulator
from execx.v1 import common_pb2 as c
from execx.v1 import contingent_order_pb2 as co
from execx.v1 import contingent_order_pb2_grpc as co_grpc
from execx.v1 import order_manager_pb2 as om
from execx_sim.core.types import Side
from market_helpers import AUTH, Svc, uid
from test_contingent_groups_unanswered import restarted_late, send_unanswered
from test_contingent_native import last_at_ask, session
from test_contingent_orders import updates
from test_sim_okx import Okx

D = Decimal
VENUE, SYMBOL, QTY = "okx", "BTC-USDT-SWAP", 1.0
PENDING, FILLED, CANCELLED = c.ORDER_STATUS_PENDING_TRIGGER, c.ORDER_STATUS_FILLED, c.ORDER_STATUS_CANCELLED


def leg(cl: str, kind: int, level: Decimal, **kw: Any) -> om.SendOrderRequest:
    """A sell leg of ``QTY`` contracts (market): a stop or take-profit at ``level``."""
    fields: dict[str, Any] = dict(
        cl_order_id=cl,
        symbol=SYMBOL,
        qty=QTY,
        order_type=c.ORDER_TYPE_MARKET,
        side=c.SIDE_SELL,
        trigger_kind=kind,
        trigger_price=float(level),
    )
    fields.update(kw)
    return om.SendOrderRequest(**fields)


def oco(sid: str, gid: str, sl: str, tp: str, last: Decimal, **kw: Any) -> co.SendOrderGroupRequest:
    """A stop 50 below the last price and a take-profit 50 above it, both selling ``QTY``."""
    return co.SendOrderGroupRequest(
        session_id=sid,
        group_id=gid,
        group_type=co.GROUP_TYPE_OCO,
        orders=[
            leg(sl, om.TRIGGER_KIND_STOP, last - 50, **kw),
            leg(tp, om.TRIGGER_KIND_TAKE_PROFIT, last + 50, **{k: v for k, v in kw.items() if k != "emulate"}),
        ],
    )


async def venue_algos(svc: Svc, sim: Any, acct: dict[str, str], path: str) -> list[dict[str, Any]]:
    """The account's oco algo orders as OKX lists them (``orders-algo-pending`` / ``-history``), asked by a
    client of the account's own."""
    async with aiohttp.ClientSession() as http:
        client = Okx(sim, sim.exchange.account_by_key(acct["apiKey"]), http)
        _, out = await client.call("GET", f"/api/v5/trade/{path}")
        rows: list[dict[str, Any]] = out["data"]
        return rows


async def get(svc: Svc, sid: str, cl: str) -> Any:
    return (await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)).order


def events(r: Any, cl: str) -> list[int]:
    return [
        m.contingent_event.status
        for m in r.got
        if m.HasField("contingent_event") and m.contingent_event.cl_order_id == cl
    ]


async def test_okx_oco_is_one_algo_order_and_its_take_profit_ends_the_stop(tmp_path: Path) -> None:
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, VENUE)
        last = await last_at_ask(svc, VENUE, SYMBOL)
        stub = co_grpc.ContingentOrderServiceStub(svc.channel)
        r = updates(svc, sid)
        try:
            gid, sl, tp = uid("g"), uid("sl"), uid("tp")
            ans = await stub.SendOrderGroup(oco(sid, gid, sl, tp, last), metadata=AUTH)
            assert [x.cl_order_id for x in ans.group.legs] == [sl, tp]
            (row,) = await venue_algos(svc, sim, acct, "orders-algo-pending?ordType=oco")  # one algo order
            assert (row["ordType"], row["side"], row["sz"], row["state"]) == ("oco", "sell", "1", "live")
            assert (D(row["slTriggerPx"]), D(row["tpTriggerPx"]), row["slOrdPx"], row["tpOrdPx"]) == (
                last - 50,
                last + 50,
                "-1",
                "-1",
            )
            co_ = svc.service.contingent_orders
            assert co_ is not None and co_.group(sid, gid).native
            assert not any(w.armed for w in co_.watchers.values())  # nothing armed in execx
            for cl in (sl, tp):
                await r.wait(
                    lambda m, cl=cl: m.transaction.cl_order_id == cl and m.transaction.order_status == PENDING, cl
                )
            await svc.trade(VENUE, SYMBOL, last + 60, D("0.01"), "buy")  # through the take-profit at the venue
            await r.wait(
                lambda m: m.transaction.cl_order_id == tp and m.transaction.order_status == FILLED, "tp filled"
            )
            await r.wait(lambda m: m.transaction.cl_order_id == sl and m.transaction.order_status == CANCELLED, "sl")
            ev = await r.wait(
                lambda m: m.contingent_event.cl_order_id == sl and m.contingent_event.status == CANCELLED, "sl event"
            )
            assert ev.contingent_event.native and tp in ev.contingent_event.message
            await svc.trade(VENUE, SYMBOL, last - 60, D("0.01"), "sell")  # through the stop's level: nothing fires
            got = await stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH)
            assert got.group.done and [x.order_status for x in got.group.legs] == [CANCELLED, FILLED]
            assert (await get(svc, sid, sl)).order_status == CANCELLED
            tp_order = await get(svc, sid, tp)
            assert tp_order.order_status == FILLED and D(str(tp_order.cumulative_filled_qty)) == D(str(QTY))
            assert await venue_algos(svc, sim, acct, "orders-algo-pending?ordType=oco") == []
            (done,) = await venue_algos(svc, sim, acct, "orders-algo-history?ordType=oco&state=effective")
            assert done["actualSide"] == "tp"
            for cl in (sl, tp):
                assert all(m.transaction.group_id == gid for m in r.got if m.transaction.cl_order_id == cl)
            assert len([m for m in r.got if m.transaction.cl_order_id == tp and m.transaction.trade_id]) == 1
            assert [m.transaction.order_status for m in r.got if m.transaction.cl_order_id == sl].count(CANCELLED) == 1
            assert events(r, sl) == [PENDING, CANCELLED] and events(r, tp) == [PENDING, c.ORDER_STATUS_TRIGGERED]
        finally:
            await r.close()


async def test_okx_oco_group_cancel_and_what_stays_emulated(tmp_path: Path) -> None:
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, VENUE)
        last = await last_at_ask(svc, VENUE, SYMBOL)
        stub = co_grpc.ContingentOrderServiceStub(svc.channel)
        gid, sl, tp = uid("g"), uid("sl"), uid("tp")
        await stub.SendOrderGroup(oco(sid, gid, sl, tp, last), metadata=AUTH)
        assert len(await venue_algos(svc, sim, acct, "orders-algo-pending?ordType=oco")) == 1
        await stub.CancelOrderGroup(co.CancelOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH)
        for cl in (sl, tp):
            await poll(lambda cl=cl: get(svc, sid, cl), lambda o: o.order_status == CANCELLED, f"{cl} cancelled")
        assert await venue_algos(svc, sim, acct, "orders-algo-pending?ordType=oco") == []
        assert len(await venue_algos(svc, sim, acct, "orders-algo-history?ordType=oco&state=canceled")) == 1
        got = await stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH)
        assert got.group.done
        co_ = svc.service.contingent_orders
        assert co_ is not None
        # a leg's emulate, and an OCO of a take-profit limit order resting on the book (a plain leg): execx's own
        gid2, sl2, tp2 = uid("g"), uid("sl"), uid("tp")
        await stub.SendOrderGroup(oco(sid, gid2, sl2, tp2, last, emulate=True), metadata=AUTH)
        gid3, sl3, tp3 = uid("g"), uid("sl"), uid("tp")
        plain = om.SendOrderRequest(
            cl_order_id=tp3,
            symbol=SYMBOL,
            qty=QTY,
            order_type=c.ORDER_TYPE_LIMIT,
            tif=c.TIME_IN_FORCE_GTC,
            price=float(last + 500),
            side=c.SIDE_SELL,
        )
        req3 = co.SendOrderGroupRequest(
            session_id=sid,
            group_id=gid3,
            group_type=co.GROUP_TYPE_OCO,
            orders=[leg(sl3, om.TRIGGER_KIND_STOP, last - 50), plain],
        )
        await stub.SendOrderGroup(req3, metadata=AUTH)
        assert not co_.group(sid, gid2).native and not co_.group(sid, gid3).native
        assert await venue_algos(svc, sim, acct, "orders-algo-pending?ordType=oco,conditional") == []
        assert {w for w in co_.watchers.values() if w.armed}  # the stops are armed in execx
        await poll(lambda: get(svc, sid, tp3), lambda o: o.order_status == c.ORDER_STATUS_NEW, "plain leg rests")


async def test_okx_oco_across_a_restart_and_under_the_kill_switch(tmp_path: Path) -> None:
    """The take-profit reached at the venue while execx is down: after the restart its leg comes back filled under
    its clOrderId (its fill once) and the stop cancelled, found through the oco's derived algoClOrdId. A second
    OCO is cancelled at the venue by the kill switch's pull."""
    async with simulator() as sim:
        gid, sl, tp = uid("g"), uid("sl"), uid("tp")
        async with execx(tmp_path, sim) as svc:
            sid, acct = await session(svc, VENUE)
            last = await last_at_ask(svc, VENUE, SYMBOL)
            stub = co_grpc.ContingentOrderServiceStub(svc.channel)
            await stub.SendOrderGroup(oco(sid, gid, sl, tp, last), metadata=AUTH)
            await poll(lambda: get(svc, sid, tp), lambda o: o.order_status == PENDING, "held by the venue")
        sim.synthetic.print_trade(VENUE, SYMBOL, last + 60, D("0.01"), Side.BUY)  # execx is down
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, VENUE, acct)
            await poll(lambda: get(svc, sid, tp), lambda o: o.order_status == FILLED, "take-profit filled")
            await poll(lambda: get(svc, sid, sl), lambda o: o.order_status == CANCELLED, "stop cancelled")
            stub = co_grpc.ContingentOrderServiceStub(svc.channel)
            # the group itself comes back when the session's saved groups are restored, once it is live (the
            # legs' states may be reconciled first): NOT_FOUND until then
            got = await poll(
                lambda: stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH),
                lambda g: g.group.done,
                "the group restored and done",
            )
            assert [x.order_status for x in got.group.legs] == [CANCELLED, FILLED]
            fills = await svc.om.ListFills(om.ListFillsRequest(session_id=sid), metadata=AUTH)
            assert [f.cl_order_id for f in fills.fills] == [tp]
            gid2, sl2, tp2 = uid("g"), uid("sl"), uid("tp")
            last = await last_at_ask(svc, VENUE, SYMBOL)
            await stub.SendOrderGroup(oco(sid, gid2, sl2, tp2, last), metadata=AUTH)
            assert len(await venue_algos(svc, sim, acct, "orders-algo-pending?ordType=oco")) == 1
            kill = await svc.om.EngageKillSwitch(
                om.EngageKillSwitchRequest(session_id=sid, reason="desk"), metadata=AUTH
            )
            assert set(kill.cl_order_ids) == {sl2, tp2}
            for cl in (sl2, tp2):
                await poll(lambda cl=cl: get(svc, sid, cl), lambda o: o.order_status == CANCELLED, f"{cl} cancelled")
            assert await venue_algos(svc, sim, acct, "orders-algo-pending?ordType=oco") == []


async def test_okx_oco_unanswered_when_execx_stopped_is_found_held_after_the_restart(tmp_path: Path) -> None:
    """execx stops after journaling an OCO's legs (``pendingnew``) but before OKX answered the ``order-algo`` request
    (``send_unanswered``: nothing of the venue's reaches execx before it is down), while OKX holds the oco.
    Restarted (after longer than the venue's acceptance window: ``unknown_after_s`` 0), the legs are found held at
    the venue through the oco's derived algoClOrdId (the connector learns the group before the engine's
    reconciliation asks for them), never ``rejected`` as not sent; the take-profit then fires there once and the
    stop ends ``cancelled``."""
    async with simulator() as sim:
        gid, sl, tp = uid("g"), uid("sl"), uid("tp")
        async with execx(tmp_path, sim) as svc:
            sid, acct = await session(svc, VENUE)
            last = await last_at_ask(svc, VENUE, SYMBOL)

            async def placed() -> bool:
                return bool(await venue_algos(svc, sim, acct, "orders-algo-pending?ordType=oco"))

            sent = await send_unanswered(svc, sim, VENUE, oco(sid, gid, sl, tp, last), placed)
        async with execx(tmp_path, sim) as svc:
            await restarted_late(svc, sent, sim, VENUE, [sl, tp])
            r = updates(svc, sid)
            try:
                await svc.start_session(sid, VENUE, acct)
                for cl in (sl, tp):
                    await poll(lambda cl=cl: get(svc, sid, cl), lambda o: o.order_status == PENDING, f"{cl} held")
                (row,) = await venue_algos(svc, sim, acct, "orders-algo-pending?ordType=oco")
                assert row["algoClOrdId"] not in (sl, tp)  # OKX knows it under the id derived from the group
                await svc.trade(VENUE, SYMBOL, last + 60, D("0.01"), "buy")  # through the take-profit at the venue
                await poll(lambda: get(svc, sid, tp), lambda o: o.order_status == FILLED, "take-profit filled")
                await poll(lambda: get(svc, sid, sl), lambda o: o.order_status == CANCELLED, "stop cancelled")
                fills = await svc.om.ListFills(om.ListFillsRequest(session_id=sid), metadata=AUTH)
                assert [f.cl_order_id for f in fills.fills] == [tp]
                await r.wait(lambda m: m.transaction.cl_order_id == sl and m.transaction.order_status == CANCELLED, sl)
                statuses = [m.transaction.order_status for m in r.got if m.transaction.cl_order_id in (sl, tp)]
                assert c.ORDER_STATUS_REJECTED not in statuses and statuses.count(FILLED) == 1
            finally:
                await r.close()


async def test_okx_oco_refused_by_the_venue_rejects_both_legs(tmp_path: Path) -> None:
    """A take-profit already on the wrong side of OKX's last price: OKX refuses the oco (51279 for a sell), both
    legs end ``rejected`` with OKX's words and nothing is held at the venue (an emulated OCO would fire at once)."""
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, VENUE)
        last = await last_at_ask(svc, VENUE, SYMBOL)
        stub = co_grpc.ContingentOrderServiceStub(svc.channel)
        gid, sl, tp = uid("g"), uid("sl"), uid("tp")
        req = co.SendOrderGroupRequest(
            session_id=sid,
            group_id=gid,
            group_type=co.GROUP_TYPE_OCO,
            orders=[leg(sl, om.TRIGGER_KIND_STOP, last - 50), leg(tp, om.TRIGGER_KIND_TAKE_PROFIT, last - 10)],
        )
        await stub.SendOrderGroup(req, metadata=AUTH)
        for cl in (sl, tp):
            got = await poll(
                lambda cl=cl: get(svc, sid, cl), lambda o: o.order_status == c.ORDER_STATUS_REJECTED, f"{cl} rejected"
            )
            assert "TP trigger price cannot be lower than the last price" in got.message
        assert await venue_algos(svc, sim, acct, "orders-algo-pending?ordType=oco") == []


async def test_okx_oco_whose_order_okx_cannot_place_rejects_the_leg_that_fired(tmp_path: Path) -> None:
    """A reduce-only OCO with no position to reduce: the take-profit fires at the venue, OKX cannot place its order
    (``order_failed``, ``failCode`` 51169): that leg ends ``rejected`` with OKX's code and the stop ``cancelled``."""
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, _ = await session(svc, VENUE)
        last = await last_at_ask(svc, VENUE, SYMBOL)
        stub = co_grpc.ContingentOrderServiceStub(svc.channel)
        gid, sl, tp = uid("g"), uid("sl"), uid("tp")
        await stub.SendOrderGroup(oco(sid, gid, sl, tp, last, reduce_only=True), metadata=AUTH)
        await poll(lambda: get(svc, sid, tp), lambda o: o.order_status == PENDING, "held by the venue")
        await svc.trade(VENUE, SYMBOL, last + 60, D("0.01"), "buy")  # through the take-profit at the venue
        failed = await poll(
            lambda: get(svc, sid, tp), lambda o: o.order_status == c.ORDER_STATUS_REJECTED, "take-profit rejected"
        )
        assert "failCode 51169" in failed.message
        await poll(lambda: get(svc, sid, sl), lambda o: o.order_status == CANCELLED, "stop cancelled")


async def test_okx_otoco_of_an_entry_and_its_tp_sl_stays_emulated(tmp_path: Path) -> None:
    """An OTOCO of the shape OKX could attach to its entry (``attachAlgoOrds``: a take-profit and a stop of the
    opposite side and the entry's quantity) stays execx's own group: OKX places an order's attached TP/SL also when
    the order is partially filled and the rest cancelled, for the filled amount, where execx releases the pending
    legs only once the working order is completely filled (docs/contingent_orders.md). The entry goes to OKX as a
    plain order (no ``attachAlgoOrds``), nothing else at the venue; partially filled and then cancelled at the venue
    by another client of the account, the bracket is ``cancelled`` by execx and nothing is placed for the part that
    filled (OKX's attached TP/SL would have been)."""
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, VENUE)
        last = await last_at_ask(svc, VENUE, SYMBOL)
        stub = co_grpc.ContingentOrderServiceStub(svc.channel)
        gid, entry, tp, sl = uid("g"), uid("en"), uid("tp"), uid("sl")
        working = om.SendOrderRequest(
            cl_order_id=entry,
            symbol=SYMBOL,
            qty=2.0,
            order_type=c.ORDER_TYPE_LIMIT,
            tif=c.TIME_IN_FORCE_GTC,
            price=float(last - 100),
            side=c.SIDE_BUY,
        )
        req = co.SendOrderGroupRequest(
            session_id=sid,
            group_id=gid,
            group_type=co.GROUP_TYPE_OTOCO,
            orders=[
                working,
                leg(tp, om.TRIGGER_KIND_TAKE_PROFIT, last + 50, qty=2.0),
                leg(sl, om.TRIGGER_KIND_STOP, last - 150, qty=2.0),
            ],
        )
        await stub.SendOrderGroup(req, metadata=AUTH)
        co_ = svc.service.contingent_orders
        assert co_ is not None and not co_.group(sid, gid).native
        await poll(lambda: get(svc, sid, entry), lambda o: o.order_status == c.ORDER_STATUS_NEW, "entry rests")
        async with aiohttp.ClientSession() as http:
            client = Okx(sim, sim.exchange.account_by_key(acct["apiKey"]), http)
            _, out = await client.call("GET", f"/api/v5/trade/order?instId={SYMBOL}&clOrdId={entry}")
            assert out["data"][0]["attachAlgoOrds"] == []  # a plain order at OKX
            assert await venue_algos(svc, sim, acct, "orders-algo-pending?ordType=oco,conditional") == []
            await svc.trade(VENUE, SYMBOL, last - 100, D("0.01"), "sell")  # one contract of two fills
            await poll(lambda: get(svc, sid, entry), lambda o: o.order_status == c.ORDER_STATUS_PARTIALLY_FILLED, "1")
            _, out = await client.call("POST", "/api/v5/trade/cancel-order", {"instId": SYMBOL, "clOrdId": entry})
            assert out["data"][0]["sCode"] == "0"
        await poll(lambda: get(svc, sid, entry), lambda o: o.order_status == CANCELLED, "entry cancelled at OKX")
        got = await poll(
            lambda: stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH),
            lambda g: g.group.done,
            "the group done",
        )
        assert [x.order_status for x in got.group.legs] == [CANCELLED] * 3
        assert await venue_algos(svc, sim, acct, "orders-algo-pending?ordType=oco,conditional") == []
        assert not any(w.armed for w in co_.watchers.values())  # nothing left armed in execx either
