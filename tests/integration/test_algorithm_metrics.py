"""The algorithms' metrics after each of them acted, in one execx (embedded simulator, quiet book moved and
traded through its admin API): a grid fill, a trigger fired, a dip bought, a position manager quoting. The
``om_`` exposition (the same registry ``/metrics`` serves) must then pass ``promtool check metrics`` with
those series carrying samples, not only their declarations (the conformance test checks the exposition
after plain order traffic, where no algorithm ran)."""

from __future__ import annotations

import asyncio
import shutil
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import prometheus_client
import pytest
from algo_helpers import moving, poll
from execx.v1 import common_pb2 as c
from execx.v1 import dip_buyer_pb2 as db
from execx.v1 import dip_buyer_pb2_grpc as db_grpc
from execx.v1 import grid_trader_pb2 as gt
from execx.v1 import grid_trader_pb2_grpc as gt_grpc
from execx.v1 import order_manager_pb2 as om
from execx.v1 import position_manager_pb2 as pm
from execx.v1 import trigger_manager_pb2 as tm
from execx.v1 import trigger_manager_pb2_grpc as tm_grpc
from execx_server.domain.enums import Exchange
from market_helpers import AUTH, Svc, running, uid

D = Decimal
VENUE, EX = "binance-spot", c.EXCHANGE_BINANCE_SPOT


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Svc]:
    async with running(tmp_path, 120) as s:
        yield s


async def fresh(svc: Svc, symbol: str) -> bool:
    """Whether the market-data hub's feed of ``symbol`` is fresh (the algorithms act only then)."""
    hub = svc.service.market_data
    assert hub is not None
    feed = hub.feeds.get((Exchange.BINANCE_SPOT, symbol))
    return feed is not None and not feed.stale


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not on PATH; .ci/run installs it (Debian package `prometheus`)")
    return path


async def test_every_algorithm_counts_in_om_metrics_and_promtool_accepts_them(svc: Svc) -> None:
    tool = promtool()
    sample = svc.service.metrics.registry.get_sample_value

    # grid trader on BTCUSDT: a sell prints into its buy at 96 500 -> a grid fill
    grid = gt_grpc.GridTraderServiceStub(svc.channel)
    gsid = await svc.session(VENUE)
    greq = gt.StartGridTraderRequest(
        session_id=gsid,
        exchange=EX,
        symbol="BTCUSDT",
        grid_levels=4,
        mode=gt.GRID_MODE_ARITHMETIC,
        lower_price=96000.0,
        upper_price=98000.0,
        order_qty=0.001,
    )
    async with moving(svc, VENUE, "BTCUSDT", D("97000")):
        await grid.StartGridTrader(greq, metadata=AUTH)
        get_grid = gt.GetGridTraderRequest(session_id=gsid, exchange=EX, symbol="BTCUSDT")
        await poll(
            lambda: grid.GetGridTrader(get_grid, metadata=AUTH), lambda r: len(r.status.working_orders) == 4, "4"
        )
        await svc.trade(VENUE, "BTCUSDT", D("96500"), D("0.001"), "sell")
        await poll(lambda: grid.GetGridTrader(get_grid, metadata=AUTH), lambda r: r.status.fills == 1, "a grid fill")

    # trigger manager and dip buyer on SOLUSDT: a buy print at 186 fires the trigger (and is the high);
    # then the book 2 % lower and a sell print at its bid: the dip buyer buys
    tsid, dsid = await svc.session(VENUE), await svc.session(VENUE)
    trig = tm_grpc.TriggerManagerServiceStub(svc.channel)
    dip = db_grpc.DipBuyerServiceStub(svc.channel)
    await trig.StartTriggerManager(
        tm.StartTriggerManagerRequest(symbol="SOLUSDT", exchange=EX, session_id=tsid), metadata=AUTH
    )
    config = db.DipBuyerConfig(dip_percentage=1.0, order_qty=0.1, max_long_pos=1, time_period=60, cooldown=0)
    await dip.StartDipBuyer(
        db.StartDipBuyerRequest(session_id=dsid, exchange=EX, symbol="SOLUSDT", config=config), metadata=AUTH
    )
    order = om.SendOrderRequest(
        cl_order_id=uid("tm"),
        symbol="SOLUSDT",
        session_id=tsid,
        price=150.0,
        qty=0.1,
        order_type=c.ORDER_TYPE_LIMIT,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_GTC,
        side=c.SIDE_BUY,
    )
    await trig.SetTrigger(
        tm.SetTriggerRequest(
            id="m1", price=186.0, symbol="SOLUSDT", direction=tm.TRIGGER_DIRECTION_UP, exchange=EX, orders=[order]
        ),
        metadata=AUTH,
    )
    async with moving(svc, VENUE, "SOLUSDT", D("185")):
        await poll(lambda: fresh(svc, "SOLUSDT"), bool, "a fresh SOLUSDT feed")
        await svc.trade(VENUE, "SOLUSDT", D("186"), D("0.01"), "buy")
        await poll(
            lambda: trig.ListTriggers(tm.ListTriggersRequest(exchange=EX, symbol="SOLUSDT"), metadata=AUTH),
            lambda r: all(t.fired for t in r.triggers),
            "the trigger fired",
        )
    async with moving(svc, VENUE, "SOLUSDT", D("181")):
        get_dip = db.GetDipBuyerRequest(session_id=dsid, exchange=EX, symbol="SOLUSDT")
        await poll(
            lambda: dip.GetDipBuyer(get_dip, metadata=AUTH), lambda r: r.status.state == c.RUNNER_STATE_RUNNING, "fresh"
        )
        bid, _ = await svc.top(VENUE, "SOLUSDT")
        await svc.trade(VENUE, "SOLUSDT", bid, D("0.01"), "sell")
        await poll(lambda: dip.GetDipBuyer(get_dip, metadata=AUTH), lambda r: r.status.buys >= 1, "a dip buy")

    # position manager on ETHUSDT: a target, a post-only order placed
    psid = await svc.session(VENUE)
    pcfg = pm.PositionManagerConfig(
        quote_levels=1, min_order_qty=0.01, re_entry_ticker_seconds=0.2, price_level_interval=0.001
    )
    async with moving(svc, VENUE, "ETHUSDT", D("3400")):
        await svc.pm.StartPositionManager(
            pm.StartPositionManagerRequest(session_id=psid, exchange=EX, symbol="ETHUSDT", config=pcfg), metadata=AUTH
        )
        await svc.pm.SetTargetPosition(
            pm.SetTargetPositionRequest(exchange=EX, symbol="ETHUSDT", target_position=0.01), metadata=AUTH
        )
        get_pm = pm.GetPositionManagerRequest(exchange=EX, symbol="ETHUSDT")
        await poll(
            lambda: svc.pm.GetPositionManager(get_pm, metadata=AUTH),
            lambda r: len(r.status.working_orders) == 1,
            "a PM order",
        )

    ex = {"exchange": VENUE}
    assert (sample("om_grid_fills_total", ex) or 0) >= 1
    assert (sample("om_triggers_fired_total", ex) or 0) >= 1
    assert (sample("om_trigger_reaction_seconds_count", ex) or 0) >= 1
    assert (sample("om_dip_buys_total", ex) or 0) >= 1
    assert (sample("om_position_manager_orders_total", {**ex, "action": "place"}) or 0) >= 1
    assert sample("om_position_manager_target_position", {**ex, "symbol": "ETHUSDT"}) == 0.01
    exposition = prometheus_client.generate_latest(svc.service.metrics.registry).decode()
    proc = await asyncio.create_subprocess_exec(tool, "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(exposition.encode()), 10)
    assert proc.returncode == 0 and not out.strip(), out.decode()
