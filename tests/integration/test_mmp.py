"""Emulated market-maker protection (issue 20) end to end over gRPC and REST on execx --sim (quiet book):
fills printed with the simulator's admin API trip it; the session's open orders are pulled and its inserts
refused until the frozen time is over (or ResetMmp), its armed contingent orders disarmed (the trip engages the
session's kill switch) and not armed again by the reset; validation names the field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from algo_helpers import execx, poll, simulator
from execx.v1 import common_pb2 as c
from execx.v1 import mmp_pb2 as mm
from execx.v1 import mmp_pb2_grpc as mm_grpc
from execx.v1 import order_manager_pb2 as om
from market_helpers import AUTH, KEY, Svc, running, uid
from test_contingent_orders import stop

D = Decimal
VENUE, SYMBOL = "binance-spot", "BTCUSDT"


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running(tmp_path_factory.mktemp("execx-mmp"), 120) as s:
        yield s


def buy(sid: str, cl: str, price: Decimal) -> om.SendOrderRequest:
    return om.SendOrderRequest(
        cl_order_id=cl,
        symbol=SYMBOL,
        session_id=sid,
        price=float(price),
        qty=0.001,
        order_type=c.ORDER_TYPE_LIMIT,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_GTC,
        side=c.SIDE_BUY,
    )


async def quotes(svc: Svc, sid: str, bid: Decimal) -> list[str]:
    """Two bids at ``bid - 100`` (the fills) and one far below (the quote MMP must pull)."""
    cls = [uid("q"), uid("q"), uid("far")]
    for cl, price in zip(cls, (bid - 100, bid - 100, bid - 1000), strict=True):
        await svc.om.SendOrder(buy(sid, cl, price), metadata=AUTH)
    for cl in cls:
        await poll(
            lambda cl=cl: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH),  # type: ignore[misc]
            lambda a: a.order.order_status == c.ORDER_STATUS_NEW,
            f"{cl} resting",
        )
    return cls


async def status(svc: Svc, sid: str) -> mm.MmpStatus:
    stub = mm_grpc.MarketMakerProtectionServiceStub(svc.channel)
    return (await stub.GetMmpStatus(mm.GetMmpStatusRequest(session_id=sid), metadata=AUTH)).status


async def test_trip_pulls_refuses_then_thaws(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    await svc.move(VENUE, SYMBOL, "97000")
    bid, _ = await svc.top(VENUE, SYMBOL)
    stub = mm_grpc.MarketMakerProtectionServiceStub(svc.channel)
    # a freeze long enough to see the refusal below on a slow machine, short enough to wait for the thaw
    cfg = mm.MmpConfig(session_id=sid, interval_ms=600_000, qty_limit=0.002, frozen_ms=5000)
    await stub.SetMmpConfig(mm.SetMmpConfigRequest(config=cfg), metadata=AUTH)
    q1, _, far = await quotes(svc, sid, bid)
    await svc.trade(VENUE, SYMBOL, bid - 100, D("0.001"), "sell")  # one fill: below the limit
    await poll(
        lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=q1), metadata=AUTH),
        lambda a: a.order.order_status == c.ORDER_STATUS_FILLED,
        "the first fill seen",
    )
    first = await status(svc, sid)
    assert not first.frozen and D(str(first.window_qty)) == D("0.001")
    await svc.trade(VENUE, SYMBOL, bid - 100, D("0.001"), "sell")  # the second: 0.002 within the window
    await poll(lambda: status(svc, sid), lambda s: s.frozen and s.trips == 1, "tripped")
    far_order = await poll(
        lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=far), metadata=AUTH),
        lambda a: a.order.order_status == c.ORDER_STATUS_CANCELLED,
        "the far quote pulled",
    )
    assert far_order.order.order_status == c.ORDER_STATUS_CANCELLED
    limits = await svc.om.GetRiskLimits(om.GetRiskLimitsRequest(session_id=sid), metadata=AUTH)
    assert limits.kill_switch and limits.reason.startswith("mmp:")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await svc.om.SendOrder(buy(sid, uid("x"), bid - 1000), metadata=AUTH)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # the frozen time ends: the switch is released, quoting works again
    await poll(lambda: status(svc, sid), lambda s: not s.frozen, "thawed")
    limits = await svc.om.GetRiskLimits(om.GetRiskLimitsRequest(session_id=sid), metadata=AUTH)
    assert not limits.kill_switch
    ans = await svc.om.SendOrder(buy(sid, uid("y"), bid - 1000), metadata=AUTH)
    assert ans.order.order_status in (c.ORDER_STATUS_PENDING_NEW, c.ORDER_STATUS_NEW)


async def test_frozen_until_reset_via_rest_and_validation(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    await svc.move(VENUE, SYMBOL, "97000")
    bid, _ = await svc.top(VENUE, SYMBOL)
    headers = {"x-api-key": KEY}
    bad = {"config": {"sessionId": sid, "intervalMs": 1000, "qtyLimit": 0}}
    async with svc.http.post(f"{svc.rest}/setMmpConfig", json=bad, headers=headers) as resp:
        assert resp.status == 400 and "config.qtyLimit" in await resp.text()
    cfg = {"config": {"sessionId": sid, "symbol": SYMBOL, "intervalMs": 5000, "qtyLimit": 0.002}}
    async with svc.http.post(f"{svc.rest}/setMmpConfig", json=cfg, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
    await quotes(svc, sid, bid)
    st = uid("st")  # an armed stop: the trip's kill switch disarms it, the reset does not arm it again
    await svc.om.SendOrder(stop(sid, st, c.SIDE_SELL, bid - 2000), metadata=AUTH)
    co_ = svc.service.contingent_orders
    assert co_ is not None
    await svc.trade(VENUE, SYMBOL, bid - 100, D("0.002"), "sell")
    await poll(lambda: status(svc, sid), lambda s: s.frozen and s.frozen_until == 0, "tripped until reset")

    async def disarmed() -> tuple[str, str]:
        x = co_.get(sid, st)
        return ("", "") if x is None else (x.status.value, x.message)

    await poll(disarmed, lambda s: s == ("cancelled", "kill switch engaged"), "the stop disarmed by the trip")
    async with svc.http.post(f"{svc.rest}/resetMmp", json={"sessionId": sid}, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert not (await resp.json())["status"].get("frozen", False)
    limits = await svc.om.GetRiskLimits(om.GetRiskLimitsRequest(session_id=sid), metadata=AUTH)
    assert not limits.kill_switch
    assert co_.listed(sid, "", include_finished=False) == []  # nothing armed again
    # removed: intervalMs 0
    off = {"config": {"sessionId": sid, "intervalMs": 0}}
    async with svc.http.post(f"{svc.rest}/setMmpConfig", json=off, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
    assert (await status(svc, sid)).config.interval_ms == 0


async def test_a_freeze_survives_a_restart(tmp_path: Path) -> None:
    async with simulator() as sim:
        async with execx(tmp_path, sim) as svc:
            acct = await svc.admin_post("/admin/accounts", {})
            sid = uid("s")
            await svc.start_session(sid, VENUE, acct)
            await svc.move(VENUE, SYMBOL, "97000")
            bid, _ = await svc.top(VENUE, SYMBOL)
            stub = mm_grpc.MarketMakerProtectionServiceStub(svc.channel)
            cfg = mm.MmpConfig(session_id=sid, interval_ms=5000, qty_limit=0.002)  # frozen until ResetMmp
            await stub.SetMmpConfig(mm.SetMmpConfigRequest(config=cfg), metadata=AUTH)
            await quotes(svc, sid, bid)
            await svc.trade(VENUE, SYMBOL, bid - 100, D("0.002"), "sell")
            await poll(lambda: status(svc, sid), lambda s: s.frozen, "tripped")
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, VENUE, acct)
            restored = await poll(lambda: status(svc, sid), lambda s: s.frozen, "the freeze restored")
            assert restored.config.interval_ms == 5000 and D(str(restored.config.qty_limit)) == D("0.002")
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await svc.om.SendOrder(buy(sid, uid("x"), bid - 1000), metadata=AUTH)
            assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            stub = mm_grpc.MarketMakerProtectionServiceStub(svc.channel)
            await stub.ResetMmp(mm.ResetMmpRequest(session_id=sid), metadata=AUTH)
            ans = await svc.om.SendOrder(buy(sid, uid("y"), bid - 1000), metadata=AUTH)
            assert ans.order.order_status in (c.ORDER_STATUS_PENDING_NEW, c.ORDER_STATUS_NEW)


async def test_delta_limit_counts_buys_against_sells(svc: Svc) -> None:
    """qtyLimit 0 and a delta limit: a buy fill and a sell fill net to 0 (no trip, though 0.002 filled); two
    more buys make +0.002 beyond 0.0015: tripped, the reason names the delta."""
    sid = await svc.session(VENUE)
    await svc.move(VENUE, SYMBOL, "97000")
    bid, ask = await svc.top(VENUE, SYMBOL)
    stub = mm_grpc.MarketMakerProtectionServiceStub(svc.channel)
    bad = mm.MmpConfig(session_id=sid, interval_ms=5000, delta_limit=-1)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub.SetMmpConfig(mm.SetMmpConfigRequest(config=bad), metadata=AUTH)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "config.deltaLimit" in (e.value.details() or "")
    cfg = mm.MmpConfig(session_id=sid, interval_ms=600_000, delta_limit=0.0015)  # long: a slow machine
    await stub.SetMmpConfig(mm.SetMmpConfigRequest(config=cfg), metadata=AUTH)
    # a price level of this test's own (other tests' orders rest at bid - 100 and bid - 1000: time priority)
    level, offer = bid - 300, ask + 300
    for _ in range(3):
        await svc.om.SendOrder(buy(sid, uid("b"), level), metadata=AUTH)
    sell = buy(sid, uid("ask"), offer)
    sell.side = c.SIDE_SELL
    await svc.om.SendOrder(sell, metadata=AUTH)
    await svc.trade(VENUE, SYMBOL, level, D("0.001"), "sell")  # our first bid: +0.001
    await svc.trade(VENUE, SYMBOL, offer, D("0.001"), "buy")  # our offer: -0.001
    netted = await poll(lambda: status(svc, sid), lambda s: D(str(s.window_qty)) == D("0.002"), "both fills seen")
    assert not netted.frozen and netted.window_delta == 0
    await svc.trade(VENUE, SYMBOL, level, D("0.002"), "sell")  # the other two bids: net +0.002
    tripped = await poll(lambda: status(svc, sid), lambda s: s.frozen, "tripped by the delta")
    assert D(str(tripped.config.delta_limit)) == D("0.0015") and tripped.trips == 1
    limits = await svc.om.GetRiskLimits(om.GetRiskLimitsRequest(session_id=sid), metadata=AUTH)
    assert limits.kill_switch and limits.reason.startswith("mmp: net delta 0.002")
    await stub.ResetMmp(mm.ResetMmpRequest(session_id=sid), metadata=AUTH)
