"""Native contingent orders (issue 20) end to end over gRPC: execx on a simulator of its own (each test moves
its prices), Bybit linear, whose conditional orders (``triggerPrice``) execx sends natively.

Covered: a stop held at the venue (the simulator lists it untriggered; nothing armed in execx), fired by the
venue's own last price, filled; the order's statuses pendingtrigger -> triggered -> filled and its fill and
contingent events (pendingtrigger, triggered; native) arrive once each, under the same clOrderId; a cancel
and an amend of its price and qty go to the venue, an amend of its trigger is refused; ``emulate`` on the
request (and the service's ``--emulateContingent``) emulates it instead; a restart with native stops armed:
one fired and filled at the venue while execx was down (picked up by the reconciliation by clOrderId, its
fill collected once), the other still armed at the venue and fired after the restart; the kill switch's pull
cancelling a held stop at the venue (Bybit, the Binance Algo Order API, OKX), nothing held again on release, and
one of a session started again while its switch (engaged when it was detached) is still on.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from algo_helpers import execx, poll, simulator
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx_sim.core import conditional
from execx_sim.core.types import OrderStatus as SimStatus
from execx_sim.core.types import Side
from market_helpers import AUTH, Reader, Svc, uid
from test_contingent_orders import stop as binance_stop
from test_contingent_orders import updates
from test_sim_okx import Okx

D = Decimal
VENUE, SYMBOL = "bybit-linear", "BTCUSDT"
# conditional orders / the Algo Order API / algo orders (order-algo)
QTY = 0.01
# (venue, symbol, quantity): conditional orders / the Algo Order API / algo orders / FIX stop orders /
# Pulse's trigger orders (stop_market with trigger last_price)
NATIVE_VENUES = [
    ("bybit-linear", "BTCUSDT", QTY),
    ("binance-usdm-future", "BTCUSDT", QTY),
    ("okx", "BTC-USDT-SWAP", QTY),
    ("deribit", "BTC-PERPETUAL", 10.0),
    ("pulse", "BTC_USD-PERPETUAL", QTY),
    ("binance-spot", "BTCUSDT", QTY),
    ("bybit-spot", "BTCUSDT", QTY),
]
NATIVE_IDS = [v for v, _, _ in NATIVE_VENUES]
PENDING, TRIGGERED, FILLED = c.ORDER_STATUS_PENDING_TRIGGER, c.ORDER_STATUS_TRIGGERED, c.ORDER_STATUS_FILLED


def stop(sid: str, cl: str, side: int, trigger: Decimal, **kw: Any) -> om.SendOrderRequest:
    """test_contingent_orders' stop-market insert, of ``QTY`` (Bybit linear's quantity step is 0.001)."""
    return binance_stop(sid, cl, side, trigger, **{"qty": QTY, "emulate": False, **kw})


def events(r: Reader, cl: str) -> list[tuple[int, bool]]:
    return [
        (m.contingent_event.status, m.contingent_event.native)
        for m in r.got
        if m.HasField("contingent_event") and m.contingent_event.cl_order_id == cl
    ]


def transactions(r: Reader, cl: str) -> list[Any]:
    return [m.transaction for m in r.got if m.HasField("transaction") and m.transaction.cl_order_id == cl]


def venue_armed(sim: Any, acct: dict[str, str], venue: str = VENUE) -> list[str]:
    """Client ids of the account's conditional orders the simulated venue holds untriggered."""
    market = sim.exchange.markets[venue]
    account = sim.exchange.account_by_key(acct["apiKey"])
    return [o.extra.get("label") or o.client_id for o in conditional.armed_orders(market, account)]  # Deribit: label


async def session(svc: Svc, venue: str = VENUE) -> tuple[str, dict[str, str]]:
    acct = await svc.admin_post("/admin/accounts", {})
    sid = uid("s")
    await svc.start_session(sid, venue, acct)
    return sid, acct


async def last_at_ask(svc: Svc, venue: str = VENUE, symbol: str = SYMBOL) -> Decimal:
    """Print a trade at the best ask (the venue's last price) and answer it."""
    _, ask = await svc.top(venue, symbol)
    await svc.trade(venue, symbol, ask, D("0.001"), "buy")
    return ask


@pytest.mark.parametrize(("venue", "symbol", "qty"), NATIVE_VENUES, ids=NATIVE_IDS)
async def test_native_stop_fires_at_the_venue_once(tmp_path: Path, venue: str, symbol: str, qty: float) -> None:
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, venue)
        last = await last_at_ask(svc, venue, symbol)
        r = updates(svc, sid)
        try:
            cl = uid("ns")
            ans = await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, last + 20, symbol=symbol, qty=qty), metadata=AUTH)
            assert ans.order.order_status == PENDING and ans.order.cl_order_id == cl
            assert venue_armed(sim, acct, venue) == [cl]  # the venue holds it
            co_ = svc.service.contingent_orders
            assert co_ is not None
            held = co_.get(sid, cl)
            assert held is not None and held.native and not co_.watchers  # nothing armed in execx
            await r.wait(lambda m: m.contingent_event.cl_order_id == cl, "pendingtrigger event")
            # idempotent: the same request answers the order
            again = await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, last + 20, symbol=symbol, qty=qty), metadata=AUTH)
            assert again.order.order_status == PENDING
            await svc.trade(venue, symbol, last + 30, D("0.001"), "buy")  # gapped through the level at the venue
            await r.wait(lambda m: m.transaction.cl_order_id == cl and m.transaction.order_status == FILLED, "filled")
            await r.wait(
                lambda m: m.contingent_event.cl_order_id == cl and m.contingent_event.status == TRIGGERED,
                "triggered event",
            )
            await svc.trade(venue, symbol, last + 40, D("0.001"), "buy")  # fires once only
            got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
            assert got.order.order_status == FILLED and D(str(got.order.cumulative_filled_qty)) == D(str(qty))
            seen = [t.order_status for t in transactions(r, cl)]
            assert seen[0] == c.ORDER_STATUS_PENDING_NEW and PENDING in seen and seen[-1] == FILLED
            assert seen.index(PENDING) < seen.index(FILLED)
            if TRIGGERED in seen:  # Bybit Triggered, Binance TRIGGERING; OKX's order goes from live to filled
                assert seen.index(PENDING) < seen.index(TRIGGERED) < seen.index(FILLED)
            assert len([t for t in transactions(r, cl) if t.trade_id]) == 1  # its one fill, once
            assert events(r, cl) == [(PENDING, True), (TRIGGERED, True)]
            assert venue_armed(sim, acct, venue) == []
        finally:
            await r.close()


async def test_native_cancel_amend_and_the_emulate_flags(tmp_path: Path) -> None:
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc)
        last = await last_at_ask(svc)
        cl = uid("nc")
        req = stop(sid, cl, c.SIDE_SELL, last - 300, order_type=c.ORDER_TYPE_LIMIT, price=float(last - 310))
        assert (await svc.om.SendOrder(req, metadata=AUTH)).order.order_status == PENDING
        amend = om.SendOrderRequest(
            cl_order_id=cl, symbol=SYMBOL, session_id=sid, transaction_type=c.TRANSACTION_TYPE_UPDATE, qty=0.02
        )
        amended = await svc.om.SendOrder(amend, metadata=AUTH)
        assert amended.order.cl_order_id == cl
        market = sim.exchange.markets[VENUE]
        held = market.find_order(sim.exchange.account_by_key(acct["apiKey"]), SYMBOL, client_id=cl)
        await poll(
            lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH),
            lambda a: a.order.order_status == PENDING and D(str(a.order.qty)) == D("0.02"),
            "amended",
        )
        assert held.qty == D("0.02") and held.status is SimStatus.UNTRIGGERED
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await svc.om.SendOrder(
                om.SendOrderRequest(
                    cl_order_id=cl,
                    symbol=SYMBOL,
                    session_id=sid,
                    transaction_type=c.TRANSACTION_TYPE_UPDATE,
                    trigger_price=float(last - 400),
                ),
                metadata=AUTH,
            )
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "held by the venue" in str(e.value.details())
        delete = om.SendOrderRequest(
            cl_order_id=cl, symbol=SYMBOL, session_id=sid, transaction_type=c.TRANSACTION_TYPE_DELETE
        )
        await svc.om.SendOrder(delete, metadata=AUTH)
        co_ = svc.service.contingent_orders
        assert co_ is not None
        await poll(
            lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH),
            lambda a: a.order.order_status == c.ORDER_STATUS_CANCELLED,
            "cancelled at the venue",
        )
        await poll(lambda: _noop(), lambda _: co_.get(sid, cl).status.value == "cancelled", "its event")  # type: ignore[union-attr]
        assert held.status is SimStatus.CANCELED and venue_armed(sim, acct) == []

        # emulate on the request: armed in execx, nothing at the venue
        em = uid("em")
        await svc.om.SendOrder(stop(sid, em, c.SIDE_BUY, last + 20, emulate=True), metadata=AUTH)
        armed = co_.get(sid, em)
        assert armed is not None and not armed.native and venue_armed(sim, acct) == []
        # the service flag (--emulateContingent) makes every one emulated
        co_.emulate = True
        forced = uid("fe")
        await svc.om.SendOrder(stop(sid, forced, c.SIDE_BUY, last + 25), metadata=AUTH)
        f = co_.get(sid, forced)
        assert f is not None and not f.native and venue_armed(sim, acct) == []
        await poll(
            lambda: svc.trade(VENUE, SYMBOL, last + 30, D("0.001"), "buy"),
            lambda _: all(co_.get(sid, x).status.value == "triggered" for x in (em, forced)),  # type: ignore[union-attr]
            "the emulated stops fired in execx",
        )


async def _noop() -> None:
    return None


async def delete_at_venue(svc: Svc, sid: str, symbol: str, cl: str) -> None:
    """A delete of ``cl``; wait for the venue's cancel."""
    delete = om.SendOrderRequest(
        cl_order_id=cl, symbol=symbol, session_id=sid, transaction_type=c.TRANSACTION_TYPE_DELETE
    )
    await svc.om.SendOrder(delete, metadata=AUTH)
    await poll(
        lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH),
        lambda a: a.order.order_status == c.ORDER_STATUS_CANCELLED,
        "cancelled at the venue",
    )


@pytest.mark.parametrize(("venue", "symbol", "qty"), NATIVE_VENUES, ids=NATIVE_IDS)
async def test_native_stops_across_a_restart(tmp_path: Path, venue: str, symbol: str, qty: float) -> None:
    async with simulator() as sim:
        async with execx(tmp_path, sim) as svc:
            sid, acct = await session(svc, venue)
            last = await last_at_ask(svc, venue, symbol)
            near, far = uid("rn"), uid("rf")
            await svc.om.SendOrder(stop(sid, near, c.SIDE_BUY, last + 20, symbol=symbol, qty=qty), metadata=AUTH)
            await svc.om.SendOrder(stop(sid, far, c.SIDE_BUY, last + 60, symbol=symbol, qty=qty), metadata=AUTH)
            assert sorted(venue_armed(sim, acct, venue)) == sorted([near, far])
        # execx is down: the venue's last price crosses the near level; the stop fires and fills there
        sim.synthetic.print_trade(venue, symbol, last + 30, D("0.001"), Side.BUY)
        assert venue_armed(sim, acct, venue) == [far]
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, venue, acct)
            co_ = svc.service.contingent_orders
            assert co_ is not None

            def get(cl: str) -> Any:
                return svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)

            await poll(lambda: get(near), lambda a: a.order.order_status == FILLED, "the near stop filled")
            await poll(
                lambda: _noop(),
                lambda _: (x := co_.get(sid, near)) is not None and x.status.value == "triggered",
                "the near stop's contingent order triggered",
            )
            near_order = await get(near)
            assert D(str(near_order.order.cumulative_filled_qty)) == D(str(qty))
            far_order = await get(far)
            assert far_order.order.order_status == PENDING
            assert (x := co_.get(sid, far)) is not None and x.native and x.status.value == "pendingtrigger"
            await svc.trade(venue, symbol, last + 70, D("0.001"), "buy")
            await poll(lambda: get(far), lambda a: a.order.order_status == FILLED, "the far stop filled")
            fills = await svc.om.ListFills(om.ListFillsRequest(session_id=sid), metadata=AUTH)
            assert [f.cl_order_id for f in fills.fills].count(near) == 1  # collected once after the restart
            assert [f.cl_order_id for f in fills.fills].count(far) == 1


@pytest.mark.parametrize(("venue", "symbol", "qty"), NATIVE_VENUES, ids=NATIVE_IDS)
async def test_kill_switch_cancels_a_native_stop_at_the_venue(
    tmp_path: Path, venue: str, symbol: str, qty: float
) -> None:
    """The kill switch's pull cancels a venue-held stop there, as any open order of the session; released, nothing
    is held again and a print beyond its level fires nothing."""
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, venue)
        cl, last = uid("nk"), await last_at_ask(svc, venue, symbol)
        held = await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, last + 20, symbol=symbol, qty=qty), metadata=AUTH)
        assert held.order.order_status == PENDING and venue_armed(sim, acct, venue) == [cl]
        r = updates(svc, sid)  # from the session's first update
        try:
            ans = await svc.om.EngageKillSwitch(
                om.EngageKillSwitchRequest(session_id=sid, reason="desk"), metadata=AUTH
            )
            assert list(ans.cl_order_ids) == [cl]
            ev = await r.wait(
                lambda m: (
                    m.contingent_event.cl_order_id == cl and m.contingent_event.status == c.ORDER_STATUS_CANCELLED
                ),
                "its cancelled event",
            )
            assert ev.contingent_event.native and ev.contingent_event.message == "kill switch engaged"
            assert venue_armed(sim, acct, venue) == []
            got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
            assert got.order.order_status == c.ORDER_STATUS_CANCELLED
            await svc.om.ReleaseKillSwitch(om.ReleaseKillSwitchRequest(session_id=sid), metadata=AUTH)
            await svc.trade(venue, symbol, last + 30, D("0.001"), "buy")  # beyond its level: nothing at the venue
            assert venue_armed(sim, acct, venue) == []
            got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
            assert got.order.order_status == c.ORDER_STATUS_CANCELLED
            assert events(r, cl) == [(PENDING, True), (c.ORDER_STATUS_CANCELLED, True)]
        finally:
            await r.close()


async def test_a_native_stop_restored_under_the_kill_switch_is_cancelled_at_the_venue(tmp_path: Path) -> None:
    """A kill switch engaged while the session is detached after a restart cannot reach the venue (no connection):
    when the session is started again with the switch still on, its native stop is cancelled there."""
    async with simulator() as sim:
        async with execx(tmp_path, sim) as svc:
            sid, acct = await session(svc)
            cl, last = uid("nr"), await last_at_ask(svc)
            await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, last + 20), metadata=AUTH)
        async with execx(tmp_path, sim) as svc:
            kill = om.EngageKillSwitchRequest(session_id=sid, reason="desk")
            assert list((await svc.om.EngageKillSwitch(kill, metadata=AUTH)).cl_order_ids) == []  # nothing reachable
            assert venue_armed(sim, acct) == [cl]
            await svc.start_session(sid, VENUE, acct)
            co_ = svc.service.contingent_orders
            assert co_ is not None
            await poll(
                _noop,
                lambda _: (
                    (x := co_.get(sid, cl)) is not None
                    and (x.status.value, x.message) == ("cancelled", "kill switch engaged")
                ),
                "its native stop cancelled when restored",
            )
            assert venue_armed(sim, acct) == []


async def test_native_cancel_on_binance_futures(tmp_path: Path) -> None:
    """A native stop on Binance USDⓈ-M is an algo order: a delete cancels it on the Algo Order API."""
    venue = "binance-usdm-future"
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, venue)
        last = await last_at_ask(svc, venue)
        cl = uid("bc")
        tp = stop(sid, cl, c.SIDE_SELL, last + 50, trigger_kind=om.TRIGGER_KIND_TAKE_PROFIT)
        assert (await svc.om.SendOrder(tp, metadata=AUTH)).order.order_status == PENDING
        assert venue_armed(sim, acct, venue) == [cl]
        await delete_at_venue(svc, sid, SYMBOL, cl)
        assert venue_armed(sim, acct, venue) == []
        co_ = svc.service.contingent_orders
        assert co_ is not None
        await poll(_noop, lambda _: co_.get(sid, cl).status.value == "cancelled", "its event")  # type: ignore[union-attr]


async def test_okx_algo_order_cancelled_behind_execx_s_back_is_seen_at_once(tmp_path: Path) -> None:
    """OKX: a native stop (an algo order) cancelled at the venue by another client of the account reaches the
    stream as ``cancelled`` through the business websocket's ``orders-algo`` channel, its contingent event after it,
    with no reconciliation (the connector's sweep and stall polling are off for the test)."""
    venue, symbol = "okx", "BTC-USDT-SWAP"
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, venue)
        assert svc.service.engine is not None
        conn = svc.service.engine.sessions[sid].connector
        conn.stall.sweep_every_s, conn.stall.stall_s = 0, 3600.0  # nothing asks the venue: only the channel tells
        last = await last_at_ask(svc, venue, symbol)
        r = updates(svc, sid)
        try:
            cl = uid("oa")
            held = await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, last + 20, symbol=symbol), metadata=AUTH)
            assert held.order.order_status == PENDING and venue_armed(sim, acct, venue) == [cl]
            await r.wait(lambda m: m.contingent_event.cl_order_id == cl, "pendingtrigger event")
            other = Okx(sim, sim.exchange.account_by_key(acct["apiKey"]), svc.http)  # a second client of the account
            _, pending = await other.call("GET", "/api/v5/trade/orders-algo-pending?ordType=conditional")
            (row,) = pending["data"]
            assert row["algoClOrdId"] == cl
            _, out = await other.call(
                "POST", "/api/v5/trade/cancel-algos", [{"algoId": row["algoId"], "instId": symbol}]
            )
            assert out["code"] == "0" and venue_armed(sim, acct, venue) == []
            cancelled = c.ORDER_STATUS_CANCELLED
            await r.wait(
                lambda m: m.transaction.cl_order_id == cl and m.transaction.order_status == cancelled, "cancel"
            )
            ev = await r.wait(
                lambda m: m.contingent_event.cl_order_id == cl and m.contingent_event.status == cancelled, "its event"
            )
            assert ev.contingent_event.native and "orders-algo canceled" in ev.contingent_event.message
            assert r.got.index(ev) > next(i for i, m in enumerate(r.got) if m.transaction.order_status == cancelled)
            assert (conn.stall.polls, conn.stall.sweeps) == (0, 0)  # no reconciliation told it
            await svc.trade(venue, symbol, last + 30, D("0.001"), "buy")  # beyond its level: nothing fires
            got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
            assert got.order.order_status == cancelled
            assert events(r, cl) == [(PENDING, True), (cancelled, True)]
            assert [t.order_status for t in transactions(r, cl)][-1] == cancelled
        finally:
            await r.close()


async def test_okx_algo_order_whose_order_okx_cannot_place_is_rejected_with_its_fail_code(tmp_path: Path) -> None:
    """OKX: a reduce-only native stop with no position fires at the venue, OKX cannot place its order: the algo
    order's ``order_failed`` row on ``orders-algo`` makes it ``rejected`` with OKX's ``failCode`` (51169)."""
    venue, symbol = "okx", "BTC-USDT-SWAP"
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, _ = await session(svc, venue)
        last = await last_at_ask(svc, venue, symbol)
        cl = uid("of")
        held = await svc.om.SendOrder(
            stop(sid, cl, c.SIDE_BUY, last + 20, symbol=symbol, reduce_only=True), metadata=AUTH
        )
        assert held.order.order_status == PENDING
        await svc.trade(venue, symbol, last + 30, D("0.001"), "buy")  # through its level at the venue
        got = await poll(
            lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH),
            lambda a: a.order.order_status == c.ORDER_STATUS_REJECTED,
            "rejected",
        )
        assert "failCode 51169" in got.order.message


async def test_pulse_native_take_profit_on_index_amend_cancel_and_what_stays_emulated(tmp_path: Path) -> None:
    """Pulse (seed 004): a take-profit limit on index is its ``take_limit`` with ``trigger`` index_price, held
    untriggered; its qty and price, then its trigger price, are amended at the venue (``private/edit``; its
    reference cannot be), a delete cancels it there. A stop
    on ``mark`` (Pulse has no mark_price trigger), a trailing stop (no trailing_stop type) and one sent with
    ``emulate`` are emulated in execx, nothing at the venue."""
    venue, symbol = "pulse", "BTC_USD-PERPETUAL"
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, venue)
        last = await last_at_ask(svc, venue, symbol)
        cl = uid("pt")
        tp = stop(
            sid,
            cl,
            c.SIDE_SELL,
            last + 300,
            symbol=symbol,
            trigger_kind=om.TRIGGER_KIND_TAKE_PROFIT,
            trigger_reference=om.TRIGGER_REFERENCE_INDEX,
            order_type=c.ORDER_TYPE_LIMIT,
            price=float(last + 290),
        )
        assert (await svc.om.SendOrder(tp, metadata=AUTH)).order.order_status == PENDING
        assert venue_armed(sim, acct, venue) == [cl]
        account = sim.exchange.account_by_key(acct["apiKey"])
        [held] = conditional.armed_orders(sim.exchange.markets[venue], account)
        assert (held.extra["order_type"], held.extra["trigger"]) == ("take_limit", "index_price")
        assert held.trigger is not None and held.trigger.price == last + 300
        amend = om.SendOrderRequest(
            cl_order_id=cl,
            symbol=symbol,
            session_id=sid,
            transaction_type=c.TRANSACTION_TYPE_UPDATE,
            qty=0.02,
            price=float(last + 280),
        )
        assert (await svc.om.SendOrder(amend, metadata=AUTH)).order.cl_order_id == cl
        await poll(
            lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH),
            lambda a: a.order.order_status == PENDING and D(str(a.order.qty)) == D("0.02"),
            "amended",
        )
        assert (held.qty, held.price, held.status) == (D("0.02"), last + 280, SimStatus.UNTRIGGERED)
        # its trigger price is amended at the venue too (private/edit trigger_price); its reference is not
        retrigger = om.SendOrderRequest(
            cl_order_id=cl,
            symbol=symbol,
            session_id=sid,
            transaction_type=c.TRANSACTION_TYPE_UPDATE,
            trigger_price=float(last + 350),
        )
        assert (await svc.om.SendOrder(retrigger, metadata=AUTH)).order.cl_order_id == cl
        co_ = svc.service.contingent_orders
        assert co_ is not None
        await poll(
            _noop,
            lambda _: (x := co_.get(sid, cl)) is not None and x.spec is not None and x.spec.level == last + 350,
            "the trigger amended",
        )
        assert held.trigger.price == last + 350 and held.status is SimStatus.UNTRIGGERED
        assert (held.qty, held.price) == (D("0.02"), last + 280)
        got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
        assert got.order.order_status == PENDING
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await svc.om.SendOrder(
                om.SendOrderRequest(
                    cl_order_id=cl,
                    symbol=symbol,
                    session_id=sid,
                    transaction_type=c.TRANSACTION_TYPE_UPDATE,
                    trigger_reference=om.TRIGGER_REFERENCE_LAST,
                ),
                metadata=AUTH,
            )
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "trigger price only" in str(e.value.details())
        assert held.extra["trigger"] == "index_price"
        await delete_at_venue(svc, sid, symbol, cl)
        assert held.status is SimStatus.CANCELED and venue_armed(sim, acct, venue) == []

        mark, trail, em = uid("pm"), uid("pr"), uid("pe")
        await svc.om.SendOrder(
            stop(sid, mark, c.SIDE_BUY, last + 20, symbol=symbol, trigger_reference=om.TRIGGER_REFERENCE_MARK),
            metadata=AUTH,
        )
        trailing = om.SendOrderRequest(
            cl_order_id=trail,
            symbol=symbol,
            session_id=sid,
            qty=QTY,
            order_type=c.ORDER_TYPE_MARKET,
            transaction_type=c.TRANSACTION_TYPE_INSERT,
            side=c.SIDE_SELL,
            trigger_kind=om.TRIGGER_KIND_TRAILING_STOP,
            trailing_amount=100.0,
        )
        await svc.om.SendOrder(trailing, metadata=AUTH)
        await svc.om.SendOrder(stop(sid, em, c.SIDE_BUY, last + 20, symbol=symbol, emulate=True), metadata=AUTH)
        for x in (mark, trail, em):
            armed = co_.get(sid, x)
            assert armed is not None and not armed.native and armed.status.value == "pendingtrigger", x
        assert venue_armed(sim, acct, venue) == []


async def test_pulse_stop_market_trigger_amended_then_kept_across_a_restart(tmp_path: Path) -> None:
    """A held stop-market's trigger price amended alone (no qty or price: a market order held by the venue can
    be amended), journaled: after a restart execx still knows the amended level, and the venue fires at it."""
    venue, symbol = "pulse", "BTC_USD-PERPETUAL"
    async with simulator() as sim:
        async with execx(tmp_path, sim) as svc:
            sid, acct = await session(svc, venue)
            last = await last_at_ask(svc, venue, symbol)
            cl = uid("pa")
            await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, last + 60, symbol=symbol), metadata=AUTH)
            retrigger = om.SendOrderRequest(
                cl_order_id=cl,
                symbol=symbol,
                session_id=sid,
                transaction_type=c.TRANSACTION_TYPE_UPDATE,
                trigger_price=float(last + 20),
            )
            await svc.om.SendOrder(retrigger, metadata=AUTH)
            account = sim.exchange.account_by_key(acct["apiKey"])
            [held] = conditional.armed_orders(sim.exchange.markets[venue], account)
            assert held.trigger is not None and held.trigger.price == last + 20
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, venue, acct)
            co_ = svc.service.contingent_orders
            assert co_ is not None
            await poll(_noop, lambda _: co_.get(sid, cl) is not None, "its contingent order restored")
            x = co_.get(sid, cl)
            assert x is not None and x.native and x.spec is not None and x.spec.level == last + 20
            assert svc.service.engine is not None
            order = svc.service.engine.session(sid).orders[cl]
            assert order.native_trigger is not None and order.native_trigger.price == last + 20
            await svc.trade(venue, symbol, last + 30, D("0.001"), "buy")  # through the amended level only
            await poll(
                lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH),
                lambda a: a.order.order_status == FILLED,
                "the stop filled at its amended level",
            )


async def held_sell_stop_limit(
    svc: Svc, sim: Any, sid: str, acct: dict[str, str], venue: str, last: Decimal
) -> tuple[str, Any, Any, Any]:
    """A native sell stop-limit (level ``last`` - 300, limit 10 below) answered pendingtrigger: its clOrderId,
    the order the simulated venue holds, the venue's market and the account."""
    market = sim.exchange.markets[venue]
    account = sim.exchange.account_by_key(acct["apiKey"])
    cl = uid("sl")
    req = stop(sid, cl, c.SIDE_SELL, last - 300, order_type=c.ORDER_TYPE_LIMIT, price=float(last - 310))
    assert (await svc.om.SendOrder(req, metadata=AUTH)).order.order_status == PENDING
    return cl, market.find_order(account, SYMBOL, client_id=cl), market, account


async def cancel_then_take_profit(
    svc: Svc, sim: Any, sid: str, acct: dict[str, str], venue: str, last: Decimal, cl: str, held: Any
) -> str:
    """Delete the held ``cl`` (cancelled at the venue, its contingent event ``cancelled``), then send a native
    take-profit sell 50 above ``last``, answered pendingtrigger; its clOrderId."""
    await delete_at_venue(svc, sid, SYMBOL, cl)
    assert held.status is SimStatus.CANCELED and venue_armed(sim, acct, venue) == []
    co_ = svc.service.contingent_orders
    assert co_ is not None
    await poll(_noop, lambda _: co_.get(sid, cl).status.value == "cancelled", "its event")  # type: ignore[union-attr]
    tp = uid("tp")
    req = stop(sid, tp, c.SIDE_SELL, last + 50, trigger_kind=om.TRIGGER_KIND_TAKE_PROFIT)
    assert (await svc.om.SendOrder(req, metadata=AUTH)).order.order_status == PENDING
    return tp


async def all_emulated(svc: Svc, sid: str, last: Decimal, more: list[om.SendOrderRequest]) -> None:
    """``emulate``, a stop on mark, a trailing stop of 1.005 % (and ``more``) are each armed in execx, not
    native."""
    co_ = svc.service.contingent_orders
    assert co_ is not None
    # a trailing stop from the best price seen, of a fraction of a BIPS (Binance spot holds whole BIPS only)
    trailing = stop(sid, "", c.SIDE_SELL, last, trigger_kind=om.TRIGGER_KIND_TRAILING_STOP, trailing_percent=1.005)
    trailing.ClearField("trigger_price")
    requests = [
        stop(sid, "", c.SIDE_BUY, last + 20, emulate=True),
        stop(sid, "", c.SIDE_BUY, last + 20, trigger_reference=om.TRIGGER_REFERENCE_MARK),
        trailing,
        *more,
    ]
    for r in requests:
        r.cl_order_id = uid("em")
        await svc.om.SendOrder(r, metadata=AUTH)
        armed = co_.get(sid, r.cl_order_id)
        assert armed is not None and not armed.native, r.cl_order_id


async def test_binance_spot_native_stop_limit_take_profit_and_what_stays_emulated(tmp_path: Path) -> None:
    """Binance spot: a stop-limit sell is held as STOP_LOSS_LIMIT with its stopPrice and limit price (status NEW,
    not working), an amend is refused (Binance spot does not amend a stop waiting for its stop price) and leaves
    it held, a delete cancels it at the venue; a take-profit market is TAKE_PROFIT. Emulated: ``emulate``, a
    post-only stop-limit (spot has none), a trailing stop of a fraction of a BIPS, a stop on mark."""
    venue = "binance-spot"
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, venue)
        last = await last_at_ask(svc, venue)
        cl, held, market, account = await held_sell_stop_limit(svc, sim, sid, acct, venue, last)
        assert (held.extra["type"], held.extra["stop_price"], held.price) == ("STOP_LOSS_LIMIT", last - 300, last - 310)
        assert held.status is SimStatus.UNTRIGGERED
        amend = om.SendOrderRequest(
            cl_order_id=cl, symbol=SYMBOL, session_id=sid, transaction_type=c.TRANSACTION_TYPE_UPDATE, qty=0.02
        )
        refused = await svc.om.SendOrder(amend, metadata=AUTH)
        assert "update rejected: Binance spot does not amend a stop order waiting" in refused.order.message
        assert held.qty == D("0.01") and held.status is SimStatus.UNTRIGGERED
        got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
        assert got.order.order_status == PENDING
        tp = await cancel_then_take_profit(svc, sim, sid, acct, venue, last, cl, held)
        assert market.find_order(account, SYMBOL, client_id=tp).extra["type"] == "TAKE_PROFIT"

        postonly = stop(sid, "", c.SIDE_BUY, last + 20, order_type=c.ORDER_TYPE_POSTONLY, price=float(last + 25))
        await all_emulated(svc, sid, last, [postonly])
        assert venue_armed(sim, acct, venue) == [tp]  # only the take-profit is held at the venue


async def test_bybit_spot_native_stop_limit_take_profit_level_reached_and_what_stays_emulated(tmp_path: Path) -> None:
    """Bybit spot: a stop-limit sell is a conditional order (``orderFilter=StopOrder``) held untriggered, falling
    to its level (spot takes the direction from the last price); an amend of its qty goes to the venue; a delete
    cancels it there (under StopOrder: spot's default filter would not find it). A take-profit sell above the
    market rises to its level. A buy stop at or below the last price is refused before anything is sent (Bybit
    spot would hold it as a falling trigger). Emulated: ``emulate``, a stop on mark, a trailing stop."""
    venue = "bybit-spot"
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, venue)
        last = await last_at_ask(svc, venue)
        cl, held, market, account = await held_sell_stop_limit(svc, sim, sid, acct, venue, last)
        assert held.status is SimStatus.UNTRIGGERED and held.extra["stopOrderType"] == "StopOrder"
        assert held.trigger is not None and (held.trigger.price, held.trigger.direction.name) == (last - 300, "FALL")
        amend = om.SendOrderRequest(
            cl_order_id=cl, symbol=SYMBOL, session_id=sid, transaction_type=c.TRANSACTION_TYPE_UPDATE, qty=0.02
        )
        await svc.om.SendOrder(amend, metadata=AUTH)
        await poll(
            lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH),
            lambda a: a.order.order_status == PENDING and D(str(a.order.qty)) == D("0.02"),
            "amended",
        )
        assert held.qty == D("0.02") and held.status is SimStatus.UNTRIGGERED
        tp = await cancel_then_take_profit(svc, sim, sid, acct, venue, last, cl, held)
        tp_held = market.find_order(account, SYMBOL, client_id=tp)
        assert tp_held.trigger is not None and tp_held.trigger.direction.name == "RISE"

        reached = uid("lr")
        ans = await svc.om.SendOrder(stop(sid, reached, c.SIDE_BUY, last - 10), metadata=AUTH)
        assert ans.order.order_status == c.ORDER_STATUS_REJECTED, ans
        assert "Bybit spot would hold it the other way round" in ans.order.message
        assert venue_armed(sim, acct, venue) == [tp]
        # the last price crossed the level between the connector's read (stale here) and the placement: held the
        # other way round by the venue, cancelled there at once; the order and its contingent event cancelled
        co_ = svc.service.contingent_orders
        assert co_ is not None
        _, connector = svc.service.engine.live_session(sid)
        real = connector.rest.tickers  # type: ignore[attr-defined]

        async def stale(params: Any) -> list[dict[str, Any]]:
            return [{**(await real(params))[0], "lastPrice": str(last - 100)}]

        connector.rest.tickers = stale  # type: ignore[attr-defined]
        raced = uid("rc")
        ans = await svc.om.SendOrder(stop(sid, raced, c.SIDE_BUY, last - 10), metadata=AUTH)
        connector.rest.tickers = real  # type: ignore[attr-defined]
        assert ans.order.order_status == c.ORDER_STATUS_CANCELLED, ans
        assert "held it to fire when the price falls" in ans.order.message
        await poll(_noop, lambda _: co_.get(sid, raced).status.value == "cancelled", "its event")  # type: ignore[union-attr]
        assert venue_armed(sim, acct, venue) == [tp]

        await all_emulated(svc, sid, last, [])
        assert venue_armed(sim, acct, venue) == [tp]  # only the take-profit is held at the venue


def trailing(sid: str, cl: str, side: int, percent: float, **kw: Any) -> om.SendOrderRequest:
    """A trailing stop-market by ``percent`` of the best price seen (without ``triggerPrice`` unless given)."""
    start = kw.pop("trigger_price", None)
    req = stop(sid, cl, side, D(1), trigger_kind=om.TRIGGER_KIND_TRAILING_STOP, trailing_percent=percent, **kw)
    req.ClearField("trigger_price")
    if start is not None:
        req.trigger_price = start
    return req


def ticks(price: Decimal) -> Decimal:
    return price.quantize(D("0.01"))


async def test_binance_spot_native_trailing_stop_by_percent_and_what_stays_emulated(tmp_path: Path) -> None:
    """Binance spot: a trailing stop sell of 1 % (no triggerPrice) is STOP_LOSS with trailingDelta 100 BIPS held
    at the venue; it follows the price up, ignores a fall of less than 1 % from the peak, and fires at the venue
    on a fall of 1 % (statuses and events once, its fill once). A second one is cancelled at the venue. Emulated:
    a trailing percent that is not whole BIPS, one outside the TRAILING_DELTA filter (10-2000 BIPS), one with a
    triggerPrice (spot's stopPrice is an activation price), one by amount."""
    venue = "binance-spot"
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, acct = await session(svc, venue)
        last = await last_at_ask(svc, venue)
        market = sim.exchange.markets[venue]
        account = sim.exchange.account_by_key(acct["apiKey"])
        r = updates(svc, sid)
        try:
            cl = uid("tr")
            assert (await svc.om.SendOrder(trailing(sid, cl, c.SIDE_SELL, 1.0), metadata=AUTH)).order.order_status == (
                PENDING
            )
            held = market.find_order(account, SYMBOL, client_id=cl)
            assert (held.extra["type"], held.extra["trailing_delta"]) == ("STOP_LOSS", 100)
            assert held.status is SimStatus.UNTRIGGERED and venue_armed(sim, acct, venue) == [cl]
            co_ = svc.service.contingent_orders
            assert co_ is not None
            x = co_.get(sid, cl)
            assert x is not None and x.native and not co_.watchers  # nothing trailed in execx
            peak = ticks(last * D("1.02"))
            await svc.trade(venue, SYMBOL, peak, D("0.001"), "buy")  # the trail follows the price up
            await svc.trade(venue, SYMBOL, ticks(peak * D("0.995")), D("0.001"), "sell")  # 0.5 % off the peak
            assert held.status is SimStatus.UNTRIGGERED
            await svc.trade(venue, SYMBOL, ticks(peak * D("0.99")) - 1, D("0.001"), "sell")  # 1 % off: fires
            await r.wait(lambda m: m.transaction.cl_order_id == cl and m.transaction.order_status == FILLED, "filled")
            await r.wait(
                lambda m: m.contingent_event.cl_order_id == cl and m.contingent_event.status == TRIGGERED,
                "triggered event",
            )
            await svc.trade(venue, SYMBOL, ticks(peak * D("0.97")), D("0.001"), "sell")  # fires once only
            got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
            assert got.order.order_status == FILLED and D(str(got.order.cumulative_filled_qty)) == D(str(QTY))
            assert len([t for t in transactions(r, cl) if t.trade_id]) == 1
            assert events(r, cl) == [(PENDING, True), (TRIGGERED, True)]
        finally:
            await r.close()

        other = uid("tc")
        await svc.om.SendOrder(trailing(sid, other, c.SIDE_BUY, 2.5), metadata=AUTH)
        assert market.find_order(account, SYMBOL, client_id=other).extra["trailing_delta"] == 250
        await delete_at_venue(svc, sid, SYMBOL, other)
        assert venue_armed(sim, acct, venue) == []

        by_amount = trailing(sid, "", c.SIDE_SELL, 1.0)
        by_amount.ClearField("trailing_percent")
        by_amount.trailing_amount = 100.0
        emulated = [
            trailing(sid, "", c.SIDE_SELL, 1.005),  # 100.5 BIPS
            trailing(sid, "", c.SIDE_SELL, 25.0),  # 2500 BIPS: beyond maxTrailingBelowDelta
            trailing(sid, "", c.SIDE_BUY, 0.05),  # 5 BIPS: below minTrailingAboveDelta
            trailing(sid, "", c.SIDE_SELL, 1.0, trigger_price=float(last - 100)),  # a starting level
            by_amount,
        ]
        for req in emulated:
            req.cl_order_id = uid("te")
            await svc.om.SendOrder(req, metadata=AUTH)
            armed = co_.get(sid, req.cl_order_id)
            assert armed is not None and not armed.native, req
        assert venue_armed(sim, acct, venue) == []


async def test_binance_spot_native_trailing_stop_fired_while_execx_was_down(tmp_path: Path) -> None:
    """A native trailing stop goes on trailing at the venue while execx is down: a rise and a 1 % fall fire it
    there; after the restart the reconciliation finds it filled, its fill collected once."""
    venue = "binance-spot"
    async with simulator() as sim:
        async with execx(tmp_path, sim) as svc:
            sid, acct = await session(svc, venue)
            last = await last_at_ask(svc, venue)
            cl = uid("tr")
            ans = await svc.om.SendOrder(trailing(sid, cl, c.SIDE_SELL, 1.0), metadata=AUTH)
            assert ans.order.order_status == PENDING and venue_armed(sim, acct, venue) == [cl]
        peak = ticks(last * D("1.02"))
        sim.synthetic.print_trade(venue, SYMBOL, peak, D("0.001"), Side.BUY)
        sim.synthetic.print_trade(venue, SYMBOL, ticks(peak * D("0.99")) - 1, D("0.001"), Side.SELL)
        assert venue_armed(sim, acct, venue) == []
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, venue, acct)
            co_ = svc.service.contingent_orders
            assert co_ is not None
            await poll(
                lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH),
                lambda a: a.order.order_status == FILLED,
                "the trailing stop filled",
            )
            await poll(
                _noop,
                lambda _: (x := co_.get(sid, cl)) is not None and x.status.value == "triggered",
                "its contingent order triggered",
            )
            fills = await svc.om.ListFills(om.ListFillsRequest(session_id=sid), metadata=AUTH)
            assert [f.cl_order_id for f in fills.fills].count(cl) == 1
