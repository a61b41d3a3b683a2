"""Contingent orders' controls (issue 20) end to end over gRPC and REST on execx --sim (quiet book, a simulator
of this module's own: the tests print trades and move the book through the admin API).

Covered: the session's risk limits and kill switch checked when a contingent order or a group is armed
(refused FAILED_PRECONDITION / 400 naming the limit, nothing armed or sent; notional and price band against
the trigger price) and again when it fires; StopOrderHandler disarming the session's contingent orders and
held group legs (a ``cancelled`` event each, message ``order handler stopped``; nothing fires after, the
journal row is gone, and after a restart nothing is armed again); a cancel of one leg of an OCO / OTOCO group
through sendOrder (gRPC, REST, OrderEntry, BatchSendOrders) cancelling the whole group, a leg amended directly
keeping its group; CancelAllOrders disarming the armed ones. The kill switch (session and global, also of a
session a restart left detached) disarming the armed contingent orders and held legs (a ``cancelled`` event
each, message ``kill switch engaged``; the open ones pulled at the venue): a price beyond a disarmed stop
fires nothing while the switch is on or after its release (no child order at the venue), nothing re-armed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from algo_helpers import execx, poll, simulator, venue_open_orders
from execx.v1 import common_pb2 as c
from execx.v1 import contingent_order_pb2 as co
from execx.v1 import contingent_order_pb2_grpc as co_grpc
from execx.v1 import order_manager_pb2 as om
from market_helpers import AUTH, KEY, Svc, uid
from test_contingent_orders import SYMBOL, VENUE, events, fresh, stop, updates, watched

D = Decimal
CANCELLED = c.ORDER_STATUS_CANCELLED
HEADERS = {"x-api-key": KEY}


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with watched(tmp_path_factory.mktemp("execx-contingent-control")) as s:
        yield s


async def limits(svc: Svc, sid: str, **kw: float) -> None:
    await svc.om.SetRiskLimits(om.SetRiskLimitsRequest(session_id=sid, limits=om.RiskLimits(**kw)), metadata=AUTH)  # type: ignore[arg-type]


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call  # type: ignore[misc]
    return e.value


def armed(svc: Svc, sid: str) -> list[str]:
    co_ = svc.service.contingent_orders
    assert co_ is not None
    return [d["clOrderId"] for d in co_.listed(sid, "", include_finished=True)]


async def order_status(svc: Svc, sid: str, cl: str) -> int:
    return (await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)).order.order_status


def limit(cl: str, side: int, price: Decimal, **kw: object) -> om.SendOrderRequest:
    fields: dict[str, object] = dict(
        cl_order_id=cl,
        symbol=SYMBOL,
        qty=0.001,
        price=float(price),
        order_type=c.ORDER_TYPE_LIMIT,
        tif=c.TIME_IN_FORCE_GTC,
        side=side,
    )
    fields.update(kw)
    return om.SendOrderRequest(**fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- risk limits at arm time


async def test_risk_limits_refuse_arming_a_stop(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    bid, ask = await fresh(svc)
    await limits(svc, sid, max_order_qty=0.0005)
    e = await refused(svc.om.SendOrder(stop(sid, uid("q"), c.SIDE_BUY, ask + 100), metadata=AUTH))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "maxOrderQty" in (e.details() or "")
    # REST: the same refusal, 400
    body = {
        "clOrderId": uid("r"),
        "symbol": SYMBOL,
        "sessionId": sid,
        "qty": 0.001,
        "orderType": "market",
        "transactionType": "insert",
        "side": "buy",
        "triggerKind": "stop",
        "triggerPrice": float(ask + 100),
    }
    async with svc.http.post(f"{svc.rest}/sendOrder", json=body, headers=HEADERS) as resp:
        assert resp.status == 400 and "maxOrderQty" in await resp.text()
    # the notional of a stop-market is valued at its trigger price: 0.001 x (ask + 100) > 90
    await limits(svc, sid, max_order_notional=90)
    e = await refused(svc.om.SendOrder(stop(sid, uid("n"), c.SIDE_BUY, ask + 100), metadata=AUTH))
    assert "maxOrderNotional" in (e.details() or "") and str(D("0.001") * (ask + 100)) in (e.details() or "")
    # the band applies to a stop-limit's limit price against its trigger price, not against today's mid:
    # a sell stop 10 % below the market with its limit just under the trigger is fine with a 1 % band ...
    await limits(svc, sid, price_band_pct=1)
    far = (bid * D("0.9")).quantize(D(1))
    ok = uid("ok")
    ans = await svc.om.SendOrder(
        stop(sid, ok, c.SIDE_SELL, far, order_type=c.ORDER_TYPE_LIMIT, price=float(far - 20), tif=c.TIME_IN_FORCE_GTC),
        metadata=AUTH,
    )
    assert ans.order.order_status == c.ORDER_STATUS_PENDING_TRIGGER
    # ... and a limit 5 % beyond its trigger is refused
    e = await refused(
        svc.om.SendOrder(
            stop(
                sid,
                uid("b"),
                c.SIDE_SELL,
                far,
                order_type=c.ORDER_TYPE_LIMIT,
                price=float(far * D("0.95")),
                tif=c.TIME_IN_FORCE_GTC,
            ),
            metadata=AUTH,
        )
    )
    assert "priceBand" in (e.details() or "")
    # an amend of the armed one is checked too
    amend = om.SendOrderRequest(
        session_id=sid,
        cl_order_id=ok,
        symbol=SYMBOL,
        transaction_type=c.TRANSACTION_TYPE_UPDATE,
        price=float(far * D("0.95")),
    )
    e = await refused(svc.om.SendOrder(amend, metadata=AUTH))
    assert "priceBand" in (e.details() or "")
    # the kill switch
    await limits(svc, sid)
    await svc.om.EngageKillSwitch(om.EngageKillSwitchRequest(session_id=sid, reason="test"), metadata=AUTH)
    try:
        e = await refused(svc.om.SendOrder(stop(sid, uid("k"), c.SIDE_BUY, ask + 100), metadata=AUTH))
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "killSwitch" in (e.details() or "")
    finally:
        await svc.om.ReleaseKillSwitch(om.ReleaseKillSwitchRequest(session_id=sid), metadata=AUTH)
    assert armed(svc, sid) == [ok]  # nothing refused was armed
    co_ = svc.service.contingent_orders
    assert co_ is not None and co_.get(sid, ok).state.level == far  # type: ignore[union-attr]  # the refused amend changed nothing


async def test_risk_limits_refuse_a_group_naming_the_leg_and_still_apply_when_it_fires(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    bid, ask = await fresh(svc)
    stub = co_grpc.ContingentOrderServiceStub(svc.channel)
    entry, tp, sl = uid("en"), uid("tp"), uid("sl")
    legs = [
        om.SendOrderRequest(
            cl_order_id=entry, symbol=SYMBOL, qty=0.001, order_type=c.ORDER_TYPE_MARKET, side=c.SIDE_BUY
        ),
        limit(tp, c.SIDE_SELL, ask + 1000),
        stop(sid, sl, c.SIDE_SELL, bid - 1000, qty=0.002),  # more than the entry: refused by maxOrderQty 0.0015
    ]
    await limits(svc, sid, max_order_qty=0.0015)
    req = co.SendOrderGroupRequest(session_id=sid, group_id=uid("g"), group_type=co.GROUP_TYPE_OTOCO, orders=legs)
    e = await refused(stub.SendOrderGroup(req, metadata=AUTH))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "maxOrderQty" in (e.details() or "") and f"orders[2] ({sl})" in (e.details() or "")
    assert armed(svc, sid) == []
    e = await refused(svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=entry), metadata=AUTH))
    assert e.code() == grpc.StatusCode.NOT_FOUND  # the entry was not sent either
    # armed within the limits, then the limits tighten: the check when it fires rejects it
    cl = uid("st")
    r = updates(svc, sid)
    try:
        await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, ask + 100), metadata=AUTH)
        await limits(svc, sid, max_order_qty=0.0005)
        await svc.trade(VENUE, SYMBOL, ask + 150, D("0.0001"), "buy")
        ev = await r.wait(
            lambda m: m.contingent_event.cl_order_id == cl and m.contingent_event.status == c.ORDER_STATUS_REJECTED,
            "rejected when it fired",
        )
        assert "maxOrderQty" in ev.contingent_event.message
    finally:
        await r.close()


# ---------------------------------------------------------------------- StopOrderHandler


async def test_stop_order_handler_disarms_and_nothing_fires_after(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    bid, ask = await fresh(svc)
    stub = co_grpc.ContingentOrderServiceStub(svc.channel)
    st, work, held = uid("st"), uid("wk"), uid("hd")
    r = updates(svc, sid)
    try:
        await svc.om.SendOrder(stop(sid, st, c.SIDE_BUY, ask + 100), metadata=AUTH)
        oto = [
            limit(work, c.SIDE_BUY, bid - 1000),  # rests: its pending leg stays held
            stop(sid, held, c.SIDE_SELL, bid - 2000),
        ]
        gid = uid("g")
        await stub.SendOrderGroup(
            co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OTO, orders=oto),
            metadata=AUTH,
        )
        await poll(lambda: order_status(svc, sid, work), lambda s: s == c.ORDER_STATUS_NEW, "working leg resting")
        journal = svc.service.engine.journal  # type: ignore[union-attr]
        assert [k for k, _, _ in journal.algorithms("contingent") if k == sid] == [sid]
        await svc.om.StopOrderHandler(
            om.StopOrderHandlerRequest(session_id=sid, cancel_open_orders=True), metadata=AUTH
        )
        for cl in (st, held):
            ev = await r.wait(
                lambda m, cl=cl: m.contingent_event.cl_order_id == cl and m.contingent_event.status == CANCELLED,  # type: ignore[misc]
                f"{cl} disarmed",
            )
            assert ev.contingent_event.message == "order handler stopped"
        assert await order_status(svc, sid, work) == CANCELLED  # cancelOpenOrders: the working leg at the venue
        assert [k for k, _, _ in journal.algorithms("contingent") if k == sid] == []  # nothing to re-arm
        await svc.trade(VENUE, SYMBOL, ask + 200, D("0.0001"), "buy")  # beyond the stop: nothing fires
        await svc.move(VENUE, SYMBOL, str(bid - 2500))
        await fresh(svc)
        assert events(r, st) == [c.ORDER_STATUS_PENDING_TRIGGER, CANCELLED]
        assert events(r, held) == [c.ORDER_STATUS_PENDING_TRIGGER, CANCELLED]
        e = await refused(svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=st), metadata=AUTH))
        assert e.code() == grpc.StatusCode.NOT_FOUND
        listed = await stub.ListContingentOrders(co.ListContingentOrdersRequest(session_id=sid), metadata=AUTH)
        assert list(listed.orders) == []
    finally:
        await r.close()


async def armed_then_stopped(tmp_path: Path, sim: object) -> tuple[dict[str, str], str, str, Decimal]:
    """execx with a session and a buy stop armed 300 above the ask, then stopped (a restart follows): the account,
    the session id, the stop's clOrderId and the ask."""
    async with execx(tmp_path, sim) as svc:
        acct = await svc.admin_post("/admin/accounts", {})
        sid = await svc.session(VENUE, acct)
        await svc.move(VENUE, SYMBOL, "97000")
        _, ask = await svc.top(VENUE, SYMBOL)
        cl = uid("dt")
        await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, ask + 300), metadata=AUTH)
    return acct, sid, cl, ask


async def disarmed_by(svc: Svc, sid: str, cl: str, call: Awaitable[object]) -> tuple[object, str]:
    """``call``'s answer, awaited with the session's updates read, and the message of ``cl``'s ``cancelled`` event."""
    r = updates(svc, sid)
    try:
        ans = await call
        ev = await r.wait(
            lambda m: m.contingent_event.cl_order_id == cl and m.contingent_event.status == CANCELLED, f"{cl} disarmed"
        )
        return ans, str(ev.contingent_event.message)
    finally:
        await r.close()


async def test_stop_order_handler_of_a_detached_session_disarms_its_saved_orders(tmp_path: Path) -> None:
    """execx restarted and the session was not started again: StopOrderHandler cancels what the journal held;
    after another restart and a start of the session, nothing is armed."""
    async with simulator() as sim:
        acct, sid, cl, _ = await armed_then_stopped(tmp_path, sim)
        async with execx(tmp_path, sim) as svc:
            stop_handler = svc.om.StopOrderHandler(om.StopOrderHandlerRequest(session_id=sid), metadata=AUTH)
            _, message = await disarmed_by(svc, sid, cl, stop_handler)
            assert message == "order handler stopped"
        async with execx(tmp_path, sim) as svc:
            journal = svc.service.engine.journal  # type: ignore[union-attr]
            assert journal.algorithms("contingent") == []
            e = await refused(svc.start_session(sid, VENUE, acct))  # a stopped session id is never reused
            assert e.code() == grpc.StatusCode.ALREADY_EXISTS
            assert not await venue_open_orders(sim, VENUE, acct)


# ---------------------------------------------------------------------- one leg's cancel cancels the group


def oco(sid: str, gid: str, lim: str, st: str, bid: Decimal, ask: Decimal) -> co.SendOrderGroupRequest:
    legs = [
        limit(lim, c.SIDE_SELL, ask + 800),
        stop(sid, st, c.SIDE_SELL, bid - 800),
    ]
    return co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OCO, orders=legs)


async def live_oco(svc: Svc, sid: str, bid: Decimal, ask: Decimal) -> tuple[str, str, str]:
    """An OCO of a resting limit sell (live at the venue) and an armed sell stop: group id, limit, stop."""
    gid, lim, st = uid("g"), uid("lm"), uid("st")
    stub = co_grpc.ContingentOrderServiceStub(svc.channel)
    await stub.SendOrderGroup(oco(sid, gid, lim, st, bid, ask), metadata=AUTH)
    await poll(lambda: order_status(svc, sid, lim), lambda s: s == c.ORDER_STATUS_NEW, "limit leg live")
    return gid, lim, st


async def group_done(svc: Svc, sid: str, gid: str) -> co.OrderGroup:
    stub = co_grpc.ContingentOrderServiceStub(svc.channel)
    ans = await poll(
        lambda: stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH),
        lambda a: a.group.done,
        f"group {gid} done",
    )
    return ans.group  # type: ignore[no-any-return]


async def test_cancel_of_one_oco_leg_cancels_the_group(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    bid, ask = await fresh(svc)
    co_ = svc.service.contingent_orders
    assert co_ is not None
    # gRPC sendOrder delete of the live limit leg: the armed stop is disarmed with it
    gid, lim, st = await live_oco(svc, sid, bid, ask)
    delete = om.SendOrderRequest(
        session_id=sid, cl_order_id=lim, symbol=SYMBOL, transaction_type=c.TRANSACTION_TYPE_DELETE
    )
    ans = await svc.om.SendOrder(delete, metadata=AUTH)
    assert ans.order.cl_order_id == lim
    g = await group_done(svc, sid, gid)
    assert [leg.order_status for leg in g.legs] == [CANCELLED, CANCELLED]
    assert "group cancelled" in co_.get(sid, st).message  # type: ignore[union-attr]
    # REST sendOrder delete of the armed stop leg: the live limit is cancelled at the venue
    gid, lim, st = await live_oco(svc, sid, bid, ask)
    body = {"clOrderId": st, "symbol": SYMBOL, "sessionId": sid, "transactionType": "delete"}
    async with svc.http.post(f"{svc.rest}/sendOrder", json=body, headers=HEADERS) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["order"]["orderStatus"] == "cancelled"
    g = await group_done(svc, sid, gid)
    assert [leg.order_status for leg in g.legs] == [CANCELLED, CANCELLED]
    # OrderEntry (the streaming order entry) cancel of the limit leg
    gid, lim, st = await live_oco(svc, sid, bid, ask)
    call = svc.om.OrderEntry(metadata=AUTH)
    try:
        cancel = om.SendOrderRequest(
            session_id=sid, cl_order_id=lim, symbol=SYMBOL, transaction_type=c.TRANSACTION_TYPE_DELETE
        )
        await call.write(om.OrderEntryRequest(request_id=1, order=cancel))
        answer = await call.read()
        assert answer.status.code == 0, answer.status.message
    finally:
        call.cancel()
    g = await group_done(svc, sid, gid)
    assert [leg.order_status for leg in g.legs] == [CANCELLED, CANCELLED]
    # the kill switch disarms the stop leg and pulls the limit leg at the venue: the group is done
    gid, lim, st = await live_oco(svc, sid, bid, ask)
    await svc.om.EngageKillSwitch(om.EngageKillSwitchRequest(session_id=sid, reason="test"), metadata=AUTH)
    await svc.om.ReleaseKillSwitch(om.ReleaseKillSwitchRequest(session_id=sid), metadata=AUTH)
    g = await group_done(svc, sid, gid)
    assert [leg.order_status for leg in g.legs] == [CANCELLED, CANCELLED]
    assert co_.get(sid, st).message == "kill switch engaged"  # type: ignore[union-attr]


async def test_batch_send_orders_delete_of_one_leg_cancels_the_group(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    bid, ask = await fresh(svc)
    gid1, lim1, st1 = await live_oco(svc, sid, bid, ask)
    gid2, lim2, st2 = await live_oco(svc, sid, bid, ask)
    co_ = svc.service.contingent_orders
    assert co_ is not None

    def delete(cl: str) -> om.SendOrderRequest:
        return om.SendOrderRequest(
            session_id=sid, cl_order_id=cl, symbol=SYMBOL, transaction_type=c.TRANSACTION_TYPE_DELETE
        )

    # one batch: the armed stop of the first group, the live limit of the second
    ans = await svc.om.BatchSendOrders(om.BatchSendOrdersRequest(orders=[delete(st1), delete(lim2)]), metadata=AUTH)
    assert [(x.status.code, x.order.cl_order_id) for x in ans.results] == [(0, st1), (0, lim2)]
    for gid in (gid1, gid2):
        g = await group_done(svc, sid, gid)
        assert [leg.order_status for leg in g.legs] == [CANCELLED, CANCELLED]
    assert await order_status(svc, sid, lim1) == CANCELLED  # at the venue
    assert co_.get(sid, st2).message == f"group cancelled: a cancel of its leg {lim2}"  # type: ignore[union-attr]


# ---------------------------------------------------------------------- the kill switch disarms


async def venue_client_ids(svc: Svc, acct: dict[str, str]) -> list[str]:
    """Every order the simulated venue holds or remembers of ``acct`` (its admin ``/admin/history``)."""
    params = {"market": VENUE, "apiKey": acct["apiKey"]}
    async with svc.http.get(f"{svc.admin}/admin/history", params=params) as r:
        assert r.status == 200, await r.text()
        return [o["clientOrderId"] for o in (await r.json())["orders"]]


async def stop_fired(svc: Svc, sid: str, cl: str, price: Decimal) -> None:
    """A buy stop armed in ``sid`` at ``price`` - 50, a print at ``price``, and its order sent (GetOrder finds it):
    the print reached every watcher of the symbol (a feed calls its listeners in one go)."""
    await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, price - 50), metadata=AUTH)
    await svc.trade(VENUE, SYMBOL, price, D("0.0001"), "buy")
    await poll(lambda: order_status(svc, sid, cl), lambda s: s != 0, f"witness {cl} fired")


async def test_session_kill_switch_disarms_and_release_rearms_nothing(svc: Svc) -> None:
    acct = await svc.admin_post("/admin/accounts", {})
    sid = await svc.session(VENUE, acct)
    other = await svc.session(VENUE)  # its switch is not engaged: its stops still fire (the witness)
    bid, ask = await fresh(svc)
    stub = co_grpc.ContingentOrderServiceStub(svc.channel)
    co_ = svc.service.contingent_orders
    assert co_ is not None
    st, work, held = uid("st"), uid("wk"), uid("hd")
    r = updates(svc, sid)
    try:
        await svc.om.SendOrder(stop(sid, st, c.SIDE_BUY, ask + 100), metadata=AUTH)
        oto = [limit(work, c.SIDE_BUY, bid - 1000), stop(sid, held, c.SIDE_SELL, bid - 2000)]  # held: work rests
        gid = uid("g")
        await stub.SendOrderGroup(
            co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OTO, orders=oto),
            metadata=AUTH,
        )
        await poll(lambda: order_status(svc, sid, work), lambda s: s == c.ORDER_STATUS_NEW, "working leg resting")
        ans = await svc.om.EngageKillSwitch(om.EngageKillSwitchRequest(session_id=sid, reason="desk"), metadata=AUTH)
        assert sorted(ans.cl_order_ids) == sorted([st, held, work])
        for cl in (st, held):
            ev = await r.wait(
                lambda m, cl=cl: m.contingent_event.cl_order_id == cl and m.contingent_event.status == CANCELLED,  # type: ignore[misc]
                f"{cl} disarmed",
            )
            assert ev.contingent_event.message == "kill switch engaged"
        await poll(lambda: order_status(svc, sid, work), lambda s: s == CANCELLED, "working leg pulled")
        # a print beyond the stop while the switch is on: the other session's stop fires, this one nothing
        await stop_fired(svc, other, uid("w1"), ask + 150)
        assert co_.get(sid, st).status.value == "cancelled"  # type: ignore[union-attr]
        await svc.om.ReleaseKillSwitch(om.ReleaseKillSwitchRequest(session_id=sid), metadata=AUTH)
        # released: nothing is armed again, and another print beyond it fires nothing either
        listed = await stub.ListContingentOrders(co.ListContingentOrdersRequest(session_id=sid), metadata=AUTH)
        assert list(listed.orders) == []
        await stop_fired(svc, other, uid("w2"), ask + 160)
        assert events(r, st) == [c.ORDER_STATUS_PENDING_TRIGGER, CANCELLED]
        assert events(r, held) == [c.ORDER_STATUS_PENDING_TRIGGER, CANCELLED]
        e = await refused(svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=st), metadata=AUTH))
        assert e.code() == grpc.StatusCode.NOT_FOUND
        assert await venue_client_ids(svc, acct) == [work]  # no child order of the stop reached the venue
        g = await group_done(svc, sid, gid)
        assert [leg.order_status for leg in g.legs] == [CANCELLED, CANCELLED]
        journal = svc.service.engine.journal  # type: ignore[union-attr]
        saved = [cfg for k, _, cfg in journal.algorithms("contingent") if k == sid]
        assert all(d["status"] != "pendingtrigger" for cfg in saved for d in cfg["orders"])  # a restart arms nothing
    finally:
        await r.close()


async def test_global_kill_switch_disarms_every_session(svc: Svc) -> None:
    bid, ask = await fresh(svc)
    sids = [await svc.session(VENUE), await svc.session(VENUE)]
    co_ = svc.service.contingent_orders
    assert co_ is not None
    readers = {sid: updates(svc, sid) for sid in sids}
    try:
        made: dict[str, tuple[str, str, str, str]] = {}
        for sid in sids:
            st = uid("st")
            await svc.om.SendOrder(stop(sid, st, c.SIDE_BUY, ask + 100), metadata=AUTH)
            made[sid] = (st, *await live_oco(svc, sid, bid, ask))
        try:
            ans = await svc.om.EngageKillSwitch(
                om.EngageKillSwitchRequest(session_id="all", reason="desk"), metadata=AUTH
            )
            for sid, (st, gid, lim, oco_st) in made.items():
                assert {st, lim, oco_st} <= set(ans.cl_order_ids)
                for cl in (st, oco_st):
                    ev = await readers[sid].wait(
                        lambda m, cl=cl: (
                            m.contingent_event.cl_order_id == cl  # type: ignore[misc]
                            and m.contingent_event.status == CANCELLED
                        ),
                        f"{cl} disarmed",
                    )
                    assert ev.contingent_event.message == "kill switch engaged"
                g = await group_done(svc, sid, gid)
                assert [leg.order_status for leg in g.legs] == [CANCELLED, CANCELLED]
            await svc.trade(VENUE, SYMBOL, ask + 150, D("0.0001"), "buy")  # beyond every stop: nothing fires
        finally:
            await svc.om.ReleaseKillSwitch(om.ReleaseKillSwitchRequest(session_id="all"), metadata=AUTH)
        witness = await svc.session(VENUE)
        await stop_fired(svc, witness, uid("w"), ask + 160)
        for sid, (st, _, _, _) in made.items():
            assert events(readers[sid], st) == [c.ORDER_STATUS_PENDING_TRIGGER, CANCELLED]
            assert co_.listed(sid, "", include_finished=False) == []
    finally:
        for r in readers.values():
            await r.close()


async def test_kill_switch_of_a_detached_session_disarms_its_saved_orders(tmp_path: Path) -> None:
    """execx restarted and the session was not started again: the kill switch cancels what the journal held; the
    switch released, execx restarted again and the session started, nothing is armed."""
    async with simulator() as sim:
        acct, sid, cl, ask = await armed_then_stopped(tmp_path, sim)
        async with execx(tmp_path, sim) as svc:
            kill = svc.om.EngageKillSwitch(om.EngageKillSwitchRequest(session_id=sid), metadata=AUTH)
            ans, message = await disarmed_by(svc, sid, cl, kill)
            assert list(ans.cl_order_ids) == [cl] and message == "kill switch engaged"  # type: ignore[attr-defined]
            await svc.om.ReleaseKillSwitch(om.ReleaseKillSwitchRequest(session_id=sid), metadata=AUTH)
        async with execx(tmp_path, sim) as svc:  # the journal's row was rewritten: nothing comes back armed
            await svc.start_session(sid, VENUE, acct)
            co_ = svc.service.contingent_orders
            assert co_ is not None

            async def restored() -> object:
                return co_.get(sid, cl)

            c_ = await poll(restored, lambda x: x is not None, "the saved row restored")
            assert c_.status.value == "cancelled"  # type: ignore[attr-defined]
            assert not co_.watchers  # nothing armed, nothing watched
            await svc.trade(VENUE, SYMBOL, ask + 350, D("0.0001"), "buy")
            assert cl not in await venue_client_ids(svc, acct)


async def test_a_leg_amended_directly_stays_in_its_group(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    bid, ask = await fresh(svc)
    stub = co_grpc.ContingentOrderServiceStub(svc.channel)
    co_ = svc.service.contingent_orders
    assert co_ is not None
    gid, lim, st = await live_oco(svc, sid, bid, ask)
    # the armed stop re-armed at a new level, the live limit amended at the venue: still one OCO
    new_level = bid - 700
    amend_stop = om.SendOrderRequest(
        session_id=sid,
        cl_order_id=st,
        symbol=SYMBOL,
        transaction_type=c.TRANSACTION_TYPE_UPDATE,
        trigger_price=float(new_level),
    )
    await svc.om.SendOrder(amend_stop, metadata=AUTH)
    amend_lim = om.SendOrderRequest(
        session_id=sid,
        cl_order_id=lim,
        symbol=SYMBOL,
        transaction_type=c.TRANSACTION_TYPE_UPDATE,
        price=float(ask + 900),
    )
    await svc.om.SendOrder(amend_lim, metadata=AUTH)
    g = (await stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH)).group
    assert not g.done and [leg.cl_order_id for leg in g.legs] == [lim, st]
    assert D(str(g.legs[0].price)) == ask + 900
    assert co_.get(sid, st).state.level == new_level  # type: ignore[union-attr]
    # the stop fires at its new level: the amended limit is cancelled by the OCO rule
    await svc.trade(VENUE, SYMBOL, new_level - 10, D("0.0001"), "sell")
    g = await group_done(svc, sid, gid)
    assert g.legs[0].order_status == CANCELLED


async def test_cancel_all_orders_disarms_armed_contingent_orders(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    bid, ask = await fresh(svc)
    st, rest = uid("st"), uid("rs")
    await svc.om.SendOrder(stop(sid, st, c.SIDE_BUY, ask + 500), metadata=AUTH)
    await svc.om.SendOrder(session_limit(sid, rest, bid - 900), metadata=AUTH)
    await poll(lambda: order_status(svc, sid, rest), lambda s: s == c.ORDER_STATUS_NEW, "resting")
    ans = await svc.om.CancelAllOrders(om.CancelAllOrdersRequest(session_id=sid), metadata=AUTH)
    assert sorted(ans.cl_order_ids) == sorted([st, rest])
    co_ = svc.service.contingent_orders
    assert co_ is not None
    disarmed = co_.get(sid, st)
    assert disarmed is not None and (disarmed.status.value, disarmed.message) == ("cancelled", "cancel all")
    await poll(lambda: order_status(svc, sid, rest), lambda s: s == CANCELLED, "cancelled at the venue")


def session_limit(sid: str, cl: str, price: Decimal) -> om.SendOrderRequest:
    req = limit(cl, c.SIDE_BUY, price)
    req.session_id, req.transaction_type = sid, c.TRANSACTION_TYPE_INSERT
    return req


async def test_otoco_a_final_leg_is_not_the_group_a_live_one_is(svc: Svc) -> None:
    """An OTOCO whose entry filled: a delete of the filled entry is the plain path's error and leaves the
    bracket working; a delete of the armed stop cancels the group (the take-profit at the venue)."""
    sid = await svc.session(VENUE)
    bid, ask = await fresh(svc)
    stub = co_grpc.ContingentOrderServiceStub(svc.channel)
    gid, entry, tp, sl = uid("g"), uid("en"), uid("tp"), uid("sl")
    legs = [
        om.SendOrderRequest(
            cl_order_id=entry, symbol=SYMBOL, qty=0.001, order_type=c.ORDER_TYPE_MARKET, side=c.SIDE_BUY
        ),
        limit(tp, c.SIDE_SELL, ask + 1000),
        stop(sid, sl, c.SIDE_SELL, bid - 1000),
    ]
    req = co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OTOCO, orders=legs)
    await stub.SendOrderGroup(req, metadata=AUTH)
    await poll(lambda: order_status(svc, sid, tp), lambda s: s == c.ORDER_STATUS_NEW, "the take-profit released")
    co_ = svc.service.contingent_orders
    assert co_ is not None
    await poll(lambda: order_status(svc, sid, entry), lambda s: s == c.ORDER_STATUS_FILLED, "entry filled")
    assert await order_status(svc, sid, entry) == c.ORDER_STATUS_FILLED

    def delete(cl: str) -> om.SendOrderRequest:
        return om.SendOrderRequest(
            session_id=sid, cl_order_id=cl, symbol=SYMBOL, transaction_type=c.TRANSACTION_TYPE_DELETE
        )

    await refused(svc.om.SendOrder(delete(entry), metadata=AUTH))  # filled: nothing to cancel
    g = (await stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH)).group
    assert not g.done and co_.get(sid, sl).status.value == "pendingtrigger"  # type: ignore[union-attr]
    ans = await svc.om.SendOrder(delete(sl), metadata=AUTH)
    assert ans.order.order_status == CANCELLED
    g = await group_done(svc, sid, gid)
    assert [leg.order_status for leg in g.legs] == [c.ORDER_STATUS_FILLED, CANCELLED, CANCELLED]


async def test_a_native_stop_limit_is_banded_at_its_trigger_price(svc: Svc) -> None:
    """Bybit linear holds stop orders itself (sent at once, native): the check when it is sent values and bands it
    at its trigger price too, as the arm-time check of an emulated one does."""
    venue, symbol = "bybit-linear", "BTCUSDT"
    sid = await svc.session(venue)
    bid, _ = await svc.top(venue, symbol)
    await limits(svc, sid, price_band_pct=1)
    far = (bid * D("0.97")).quantize(D(1))  # 3 % below: beyond the 1 % band from the mid, within the venue's
    cl = uid("nb")
    req = stop(sid, cl, c.SIDE_SELL, far, order_type=c.ORDER_TYPE_LIMIT, price=float(far - 10), qty=0.01, emulate=False)
    req.symbol, req.tif = symbol, c.TIME_IN_FORCE_GTC
    ans = await svc.om.SendOrder(req, metadata=AUTH)
    assert ans.order.order_status == c.ORDER_STATUS_PENDING_TRIGGER, ans.order.message
    co_ = svc.service.contingent_orders
    assert co_ is not None and co_.get(sid, cl).native  # type: ignore[union-attr]
    beyond_limit = float(far * D("0.98"))  # 2 % beyond its trigger
    beyond = stop(sid, uid("nb"), c.SIDE_SELL, far, order_type=c.ORDER_TYPE_LIMIT, price=beyond_limit)
    beyond.symbol, beyond.tif, beyond.qty = symbol, c.TIME_IN_FORCE_GTC, 0.01
    e = await refused(svc.om.SendOrder(beyond, metadata=AUTH))
    assert "priceBand" in (e.details() or "")
    await svc.om.SendOrder(
        om.SendOrderRequest(session_id=sid, cl_order_id=cl, symbol=symbol, transaction_type=c.TRANSACTION_TYPE_DELETE),
        metadata=AUTH,
    )
