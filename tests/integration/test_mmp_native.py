"""The venues' own market-maker protection (issue 20) through execx, end to end over gRPC and REST on execx --sim
(its own embedded simulator: the tests print trades): on Deribit (JSON-RPC set_mmp_config, the FIX orders
flagged 9008, the frozen state from get_mmp_status, reset_mmp) and Pulse (set_mmp_config, orders flagged mmp,
the frozen state from the user.mmp_trigger notification, a reset by setting the configuration again); the
validation of what a venue's MMP cannot do; ``emulate`` keeping execx's emulation on such a venue."""

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

D = Decimal
OPEN = (c.ORDER_STATUS_PENDING_NEW, c.ORDER_STATUS_NEW)


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running(tmp_path_factory.mktemp("execx-mmp-native"), 120) as s:
        yield s


def limit(sid: str, symbol: str, cl: str, price: Decimal, qty: str) -> om.SendOrderRequest:
    return om.SendOrderRequest(
        cl_order_id=cl,
        symbol=symbol,
        session_id=sid,
        price=float(price),
        qty=float(qty),
        order_type=c.ORDER_TYPE_LIMIT,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_GTC,
        side=c.SIDE_BUY,
    )


async def status(svc: Svc, sid: str) -> mm.MmpStatus:
    stub = mm_grpc.MarketMakerProtectionServiceStub(svc.channel)
    return (await stub.GetMmpStatus(mm.GetMmpStatusRequest(session_id=sid), metadata=AUTH)).status


async def order_status(svc: Svc, sid: str, cl: str) -> om.GetOrderResponse:
    return await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)  # type: ignore[no-any-return]


async def resting(svc: Svc, sid: str, symbol: str, level: Decimal, far: Decimal, qty: str) -> list[str]:
    """Two bids at ``level`` (the fills) and one at ``far`` (the quote the venue's MMP must pull), resting."""
    cls = [uid("q"), uid("q"), uid("far")]
    for cl, price in zip(cls, (level, level, far), strict=True):
        await svc.om.SendOrder(limit(sid, symbol, cl, price, qty), metadata=AUTH)
    for cl in cls:
        await poll(lambda cl=cl: order_status(svc, sid, cl), lambda a: a.order.order_status == c.ORDER_STATUS_NEW, cl)  # type: ignore[misc]
    return cls


async def started(svc: Svc, venue: str, symbol: str) -> tuple[str, Decimal, mm_grpc.MarketMakerProtectionServiceStub]:
    """A new session on ``venue``, the book centred at 97 000: its id, the best bid, the MMP stub."""
    sid = await svc.session(venue)
    await svc.move(venue, symbol, "97000")
    bid, _ = await svc.top(venue, symbol)
    return sid, bid, mm_grpc.MarketMakerProtectionServiceStub(svc.channel)


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call  # type: ignore[misc]
    return e.value


async def test_deribit_native_mmp_trips_at_the_venue_and_resets(svc: Svc) -> None:
    venue, symbol = "deribit", "BTC-PERPETUAL"
    sid, bid, stub = await started(svc, venue, symbol)
    # what the venue's MMP cannot do is refused naming the field, nothing set
    for change, field in (
        ({"symbol": ""}, "config.symbol"),
        ({"symbol": "NOPE-PERPETUAL"}, "config.symbol"),
        ({"interval_ms": 1500}, "config.intervalMs"),
        ({"frozen_ms": 10}, "config.frozenMs"),
    ):
        cfg = mm.MmpConfig(**{"session_id": sid, "symbol": symbol, "interval_ms": 60_000, "qty_limit": 20, **change})
        e = await refused(stub.SetMmpConfig(mm.SetMmpConfigRequest(config=cfg), metadata=AUTH))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and field in (e.details() or "")
    # 20 USD of fills (two 1-contract bids, 10 USD each) within 60 s freeze btc_usd until reset
    cfg = mm.MmpConfig(session_id=sid, symbol=symbol, interval_ms=600_000, qty_limit=20, frozen_ms=0)
    ans = await stub.SetMmpConfig(mm.SetMmpConfigRequest(config=cfg), metadata=AUTH)
    assert ans.status.native and ans.status.index_name == "btc_usd" and not ans.status.frozen
    level = bid - 150
    _, _, far = await resting(svc, sid, symbol, level, bid - 400, "1")
    await svc.trade(venue, symbol, level, D(2), "sell")
    frozen = await poll(lambda: status(svc, sid), lambda s: s.frozen, "the venue froze btc_usd")
    assert frozen.frozen_until == 0 and frozen.native
    pulled = await poll(
        lambda: order_status(svc, sid, far), lambda a: a.order.order_status == c.ORDER_STATUS_CANCELLED, "far pulled"
    )
    assert pulled.order.order_status == c.ORDER_STATUS_CANCELLED  # by the venue (its mmp_trigger cancel)
    limits = await svc.om.GetRiskLimits(om.GetRiskLimitsRequest(session_id=sid), metadata=AUTH)
    assert not limits.kill_switch  # the venue's protection, not execx's kill switch
    ans = await svc.om.SendOrder(limit(sid, symbol, uid("x"), bid - 400, "1"), metadata=AUTH)
    assert ans.order.order_status == c.ORDER_STATUS_REJECTED and "mmp" in ans.order.message
    # ResetMmp resets it at the venue (REST)
    async with svc.http.post(f"{svc.rest}/resetMmp", json={"sessionId": sid}, headers={"x-api-key": KEY}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["status"]["native"] and not body["status"].get("frozen", False)
    ans = await svc.om.SendOrder(limit(sid, symbol, uid("y"), bid - 400, "1"), metadata=AUTH)
    assert ans.order.order_status in OPEN
    # removed at the venue: intervalMs 0
    await stub.SetMmpConfig(mm.SetMmpConfigRequest(config=mm.MmpConfig(session_id=sid)), metadata=AUTH)
    assert not (await status(svc, sid)).native
    # a bid left resting would be hit first by the next test's prints below it
    await svc.om.CancelAllOrders(om.CancelAllOrdersRequest(session_id=sid), metadata=AUTH)


async def test_pulse_native_mmp_state_from_the_trigger_and_no_delta(svc: Svc) -> None:
    venue, symbol = "pulse", "BTC_USD-PERPETUAL"
    sid, bid, stub = await started(svc, venue, symbol)
    delta = mm.MmpConfig(session_id=sid, symbol=symbol, interval_ms=600_000, delta_limit=1)
    e = await refused(stub.SetMmpConfig(mm.SetMmpConfigRequest(config=delta), metadata=AUTH))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "config.deltaLimit" in (e.details() or "")
    cfg = mm.MmpConfig(session_id=sid, symbol=symbol, interval_ms=600_000, qty_limit=0.002, frozen_ms=600_000)
    ans = await stub.SetMmpConfig(mm.SetMmpConfigRequest(config=cfg), metadata=AUTH)
    assert ans.status.native and ans.status.index_name == "btc_usd"
    level = bid - 50
    _, _, far = await resting(svc, sid, symbol, level, bid - 300, "0.001")
    await svc.trade(venue, symbol, level, D("0.002"), "sell")
    frozen = await poll(lambda: status(svc, sid), lambda s: s.frozen, "the trigger notification seen")
    assert frozen.trips == 1 and frozen.frozen_until > 0  # for 10 minutes (until the reset below)
    await poll(
        lambda: order_status(svc, sid, far), lambda a: a.order.order_status == c.ORDER_STATUS_CANCELLED, "far pulled"
    )
    ans = await svc.om.SendOrder(limit(sid, symbol, uid("x"), bid - 300, "0.001"), metadata=AUTH)
    assert ans.order.order_status == c.ORDER_STATUS_REJECTED
    reset = await stub.ResetMmp(mm.ResetMmpRequest(session_id=sid), metadata=AUTH)  # Pulse: set again
    assert not reset.status.frozen
    ans = await svc.om.SendOrder(limit(sid, symbol, uid("y"), bid - 300, "0.001"), metadata=AUTH)
    assert ans.order.order_status in OPEN


async def test_emulate_keeps_execx_emulation_on_deribit(svc: Svc) -> None:
    venue, symbol = "deribit", "BTC-PERPETUAL"
    sid, bid, stub = await started(svc, venue, symbol)
    cfg = mm.MmpConfig(session_id=sid, interval_ms=600_000, qty_limit=2, frozen_ms=0, emulate=True)
    ans = await stub.SetMmpConfig(mm.SetMmpConfigRequest(config=cfg), metadata=AUTH)
    assert not ans.status.native and ans.status.config.emulate
    level = bid - 700
    await resting(svc, sid, symbol, level, bid - 900, "1")
    await svc.trade(venue, symbol, level, D(2), "sell")  # 2 contracts in execx's units: tripped by execx
    await poll(lambda: status(svc, sid), lambda s: s.frozen and s.trips == 1, "emulated trip")
    limits = await svc.om.GetRiskLimits(om.GetRiskLimitsRequest(session_id=sid), metadata=AUTH)
    assert limits.kill_switch and limits.reason.startswith("mmp:")
    await stub.ResetMmp(mm.ResetMmpRequest(session_id=sid), metadata=AUTH)


async def test_native_mmp_after_a_restart_flags_the_orders_again(tmp_path: Path) -> None:
    """The venue keeps its configuration over an execx restart: once the session is started again, its new
    orders carry the mmp flag again (the venue pulls them when it trips), without execx setting it again."""
    venue, symbol = "deribit", "BTC-PERPETUAL"
    async with simulator() as sim:
        async with execx(tmp_path, sim) as svc:
            acct = await svc.admin_post("/admin/accounts", {})
            sid = uid("s")
            await svc.start_session(sid, venue, acct)
            stub = mm_grpc.MarketMakerProtectionServiceStub(svc.channel)
            cfg = mm.MmpConfig(session_id=sid, symbol=symbol, interval_ms=600_000, qty_limit=20)
            await stub.SetMmpConfig(mm.SetMmpConfigRequest(config=cfg), metadata=AUTH)
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, venue, acct)
            restored = await poll(lambda: status(svc, sid), lambda s: s.native, "the native protection restored")
            assert restored.index_name == "btc_usd" and D(str(restored.config.qty_limit)) == 20
            await svc.move(venue, symbol, "97000")
            bid, _ = await svc.top(venue, symbol)
            _, _, far = await resting(svc, sid, symbol, bid - 150, bid - 400, "1")
            await svc.trade(venue, symbol, bid - 150, D(2), "sell")
            await poll(lambda: status(svc, sid), lambda s: s.frozen, "the venue froze btc_usd")
            await poll(
                lambda: order_status(svc, sid, far),
                lambda a: a.order.order_status == c.ORDER_STATUS_CANCELLED,
                "the far quote (flagged after the restart) pulled by the venue",
            )
