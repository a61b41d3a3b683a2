"""The dip buyer end to end over gRPC and REST: execx --sim (quiet book), prints made with the simulator's
admin API (/admin/market/trade, /admin/market/move).

Covered: a dip below the recent high buys orderQty with a limit IOC at the ask; maxLongPos caps the
position (the last clip is cut, then nothing); cooldown spaces buys; validation names the field;
ALREADY_EXISTS / NOT_FOUND; the seed's JSON verbatim over REST; stale feed pauses it (a dip print while
stale buys nothing); it runs again after an execx restart with its configuration.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from algo_helpers import execx, poll, simulator
from execx.v1 import common_pb2 as c
from execx.v1 import dip_buyer_pb2 as db
from execx.v1 import dip_buyer_pb2_grpc as db_grpc
from execx.v1 import market_data_pb2 as md
from execx.v1 import order_manager_pb2 as om
from execx_server.domain.enums import Exchange, Side
from execx_server.domain.venue import Trade
from execx_sim.venues.bybit.instruments import option_expiry, option_symbol
from market_helpers import AUTH, KEY, WAIT_S, Reader, Svc, exchange_enum, running, uid

D = Decimal
EX = c.EXCHANGE_BINANCE_SPOT
# a BTC call of the simulator's nearest Bybit expiry
OPTION = option_symbol("BTC", option_expiry(datetime.datetime.now(datetime.UTC).date()), 100000, True)
VENUE, SYMBOL = "binance-spot", "BTCUSDT"


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running(tmp_path_factory.mktemp("execx-dip"), 120) as s:
        yield s


def stub(svc: Svc) -> db_grpc.DipBuyerServiceStub:
    return db_grpc.DipBuyerServiceStub(svc.channel)


def cfg(**kw: Any) -> db.DipBuyerConfig:
    base: dict[str, Any] = dict(dip_percentage=1.0, order_qty=0.001, max_long_pos=0.002, time_period=60, cooldown=0)
    base.update(kw)
    return db.DipBuyerConfig(**base)


async def status(svc: Svc, sid: str) -> db.DipBuyerStatus:
    r = await stub(svc).GetDipBuyer(db.GetDipBuyerRequest(exchange=EX, symbol=SYMBOL, session_id=sid), metadata=AUTH)
    return r.status


async def status_until(svc: Svc, sid: str, pred: Callable[[db.DipBuyerStatus], bool], what: str) -> db.DipBuyerStatus:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        s = await status(svc, sid)
        if pred(s):
            return s
        assert loop.time() < deadline, f"timed out waiting for {what}: {s}"
        await asyncio.sleep(0.02)  # the poll interval


async def fresh(svc: Svc, price: str) -> tuple[Decimal, Decimal]:
    hub = svc.service.market_data
    assert hub is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        await svc.move(VENUE, SYMBOL, price)
        feed = hub.feeds.get((Exchange.BINANCE_SPOT, SYMBOL))
        if feed is not None and not feed.stale:
            return await svc.top(VENUE, SYMBOL)
        assert loop.time() < deadline, "the feed never became fresh"
        await asyncio.sleep(0.05)  # the poll interval


async def test_buys_dips_within_max_long_pos_and_cooldown(svc: Svc) -> None:
    a, b = await svc.session(VENUE), await svc.session(VENUE)
    updates = Reader(
        svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=a, algorithm_events=True), metadata=AUTH)
    )
    t = stub(svc)
    await t.StartDipBuyer(
        db.StartDipBuyerRequest(session_id=a, exchange=EX, symbol=SYMBOL, config=cfg()), metadata=AUTH
    )
    await t.StartDipBuyer(
        db.StartDipBuyerRequest(session_id=b, exchange=EX, symbol=SYMBOL, config=cfg(max_long_pos=1, cooldown=3600)),
        metadata=AUTH,
    )
    trades = Reader(
        svc.md.SubscribeMarketData(
            md.SubscribeMarketDataRequest(exchange=EX, symbol=SYMBOL, no_quotes=True), metadata=AUTH
        )
    )
    try:
        await fresh(svc, "97000")
        await svc.trade(VENUE, SYMBOL, D("98000"), D("0.001"), "buy")  # the recent high
        await status_until(svc, a, lambda s: s.recent_high == 98000.0, "the high")
        assert (await status(svc, a)).buys == 0  # no dip yet
        bid, _ = await fresh(svc, "96000")  # 2 % below the high

        async def dip(qty: str = "0.001") -> None:
            await svc.trade(VENUE, SYMBOL, bid, D(qty), "sell")

        await dip()
        # (A's own fill prints a trade below the threshold too: with no cooldown that may be its second buy)
        sa = await status_until(svc, a, lambda s: s.bought_qty >= 0.001 and not s.working_orders, "A's first buy")
        await status_until(svc, b, lambda s: s.bought_qty == 0.001, "B's first buy")
        assert sa.avg_buy_price > 0 and sa.state == c.RUNNER_STATE_RUNNING
        await dip()
        await status_until(svc, a, lambda s: s.bought_qty == 0.002 and not s.working_orders, "A's second buy")
        await dip("0.00123")  # A is at maxLongPos, B in its cooldown; the marker print
        await trades.wait(lambda m: m.HasField("trade") and D(repr(m.trade.qty)) == D("0.00123"), "the marker print")
        sa, sb = await status(svc, a), await status(svc, b)
        assert (sa.buys, sb.buys) == (2, 1) and sa.position == 0.002 and sb.bought_qty == 0.001
        assert sa.recent_high == 98000.0 and sa.last_price == float(bid) and sa.unrealised_pnl < 0
        buys = [u.algorithm_event for u in updates.got if u.HasField("algorithm_event")]
        assert [(e.algorithm, e.event, e.side) for e in buys] == [("dip_buyer", "buy", c.SIDE_BUY)] * 2
        mine = [u.transaction for u in updates.got if u.transaction.cl_order_id.startswith("db")]
        assert mine and all(x.order_type == c.ORDER_TYPE_LIMIT and x.tif == c.TIME_IN_FORCE_IOC for x in mine)
        assert all(x.side == c.SIDE_BUY for x in mine)
        stopped = await t.StopDipBuyer(db.StopDipBuyerRequest(exchange=EX, symbol=SYMBOL, session_id=a), metadata=AUTH)
        assert stopped.status.state == c.RUNNER_STATE_STOPPED and stopped.status.bought_qty == 0.002
        bought = svc.service.metrics.registry.get_sample_value("om_dip_buys_total", {"exchange": VENUE})
        assert bought is not None and bought >= 3
    finally:
        await updates.close()
        await trades.close()
        await t.StopDipBuyer(db.StopDipBuyerRequest(exchange=EX, symbol=SYMBOL, session_id=b), metadata=AUTH)


async def expect(call: Any, code: grpc.StatusCode, needle: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call
    assert e.value.code() == code, e.value
    assert needle in (e.value.details() or ""), e.value.details()


async def test_validation_names_the_field(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    t = stub(svc)

    def start(config: db.DipBuyerConfig | None = None, symbol: str = SYMBOL) -> Any:
        req = db.StartDipBuyerRequest(session_id=sid, exchange=EX, symbol=symbol)
        if config is not None:
            req.config.CopyFrom(config)
        return t.StartDipBuyer(req, metadata=AUTH)

    for config, needle in [
        (None, "config"),
        (cfg(dip_percentage=0), "config.dipPercentage"),
        (cfg(dip_percentage=100), "config.dipPercentage"),
        (cfg(order_qty=0), "config.orderQty"),
        (cfg(order_qty=-1), "config.orderQty"),
        (cfg(max_long_pos=0), "config.maxLongPos"),
        (cfg(order_qty=0.01, max_long_pos=0.002), "config.orderQty"),
        (cfg(time_period=0), "config.timePeriod"),
        (cfg(cooldown=-1), "config.cooldown"),
    ]:
        await expect(start(config), grpc.StatusCode.INVALID_ARGUMENT, needle)
    await expect(start(cfg(), symbol="NOPE"), grpc.StatusCode.INVALID_ARGUMENT, "symbol")
    other = db.StartDipBuyerRequest(session_id=sid, exchange=c.EXCHANGE_OKX, symbol="BTC-USDT", config=cfg())
    await expect(t.StartDipBuyer(other, metadata=AUTH), grpc.StatusCode.INVALID_ARGUMENT, "exchange")
    await expect(status(svc, sid), grpc.StatusCode.NOT_FOUND, "startDipBuyer")
    await start(cfg())
    await expect(start(cfg()), grpc.StatusCode.ALREADY_EXISTS, "already runs")
    await t.StopDipBuyer(db.StopDipBuyerRequest(exchange=EX, symbol=SYMBOL, session_id=sid), metadata=AUTH)
    await start(cfg())  # once stopped, it can be started again
    await t.StopDipBuyer(db.StopDipBuyerRequest(exchange=EX, symbol=SYMBOL, session_id=sid), metadata=AUTH)


async def test_rest_seed_examples_verbatim(svc: Svc) -> None:
    auth = {"x-api-key": KEY}

    async def post(path: str, body: Any) -> tuple[int, Any]:
        async with svc.http.post(svc.rest + path, json=body, headers=auth) as r:
            return r.status, await r.json()

    demo = svc.sim["accounts"][0]
    status_, out = await post(
        "/startOrderHandler",
        {
            "sessionId": "unique-session-id",
            "exchangeKey": {"apiKey": demo["apiKey"], "secretKey": demo["secretKey"], "exchange": VENUE},
        },
    )
    assert status_ == 200, out
    seed_start = {
        "sessionId": "unique-session-id",
        "exchange": "binance-spot",
        "symbol": "BTCUSDT",
        "config": {"dipPercentage": 1, "orderQty": 0.1, "maxLongPos": 1, "timePeriod": 3600, "cooldown": 60},
    }
    seed_stop = {"exchange": "binance-spot", "symbol": "BTCUSDT", "sessionId": "unique-session-id"}
    status_, out = await post("/startDipBuyer", seed_start)
    assert status_ == 200, out
    status_, out = await post("/startDipBuyer", seed_start)
    assert status_ == 409, out
    status_, out = await post("/getDipBuyer", seed_stop)
    assert (
        status_ == 200
        and out["status"]["config"]["dipPercentage"] == 1
        and out["status"]["state"] in ("running", "paused")
    ), out
    status_, out = await post("/stopDipBuyer", seed_stop)
    assert status_ == 200 and out["status"]["state"] == "stopped", out
    bad = {**seed_start, "config": {**seed_start["config"], "dipPercentage": 150}}  # type: ignore[dict-item]
    status_, out = await post("/startDipBuyer", bad)
    assert status_ == 400 and "config.dipPercentage" in out["message"], out


async def test_stale_feed_pauses_and_buys_nothing(tmp_path: Path) -> None:
    async with running(tmp_path / "stale", 0.5) as s:
        sid = await s.session(VENUE)
        await stub(s).StartDipBuyer(
            db.StartDipBuyerRequest(session_id=sid, exchange=EX, symbol=SYMBOL, config=cfg()), metadata=AUTH
        )
        st = await status(s, sid)
        assert st.state == c.RUNNER_STATE_PAUSED and "stale" in st.reason  # no best bid/ask yet
        await fresh(s, "97000")
        await status_until(s, sid, lambda x: x.state == c.RUNNER_STATE_RUNNING, "running once fresh")
        await s.trade(VENUE, SYMBOL, D("98000"), D("0.001"), "buy")
        await status_until(s, sid, lambda x: x.recent_high == 98000.0, "the high")
        st = await status_until(s, sid, lambda x: x.state == c.RUNNER_STATE_PAUSED, "paused on a silent feed")
        assert "no update" in st.reason
        hub = s.service.market_data
        assert hub is not None
        feed = hub.feeds[(Exchange.BINANCE_SPOT, SYMBOL)]
        # a dip print handed to the hub as the connector would, while stale (the simulator always pushes a
        # new best bid/ask first, which makes the feed fresh): nothing is bought
        feed.on_trade(Trade(SYMBOL, "stale-dip", D("90000"), D("0.001"), Side.SELL, 0))
        st = await status(s, sid)
        assert st.buys == 0 and st.state == c.RUNNER_STATE_PAUSED


async def test_runs_again_after_a_restart(tmp_path: Path) -> None:
    sid = uid("dr")
    async with simulator() as sim:
        async with execx(tmp_path, sim) as s:
            acct = await s.admin_post("/admin/accounts", {})
            await s.start_session(sid, VENUE, acct)
            await stub(s).StartDipBuyer(
                db.StartDipBuyerRequest(session_id=sid, exchange=EX, symbol=SYMBOL, config=cfg(cooldown=7)),
                metadata=AUTH,
            )
        async with execx(tmp_path, sim) as s:
            await s.start_session(sid, VENUE, acct)
            st = await poll(lambda: status(s, sid), lambda st: True, "the dip buyer back after the restart")
            assert st.config.cooldown == 7 and st.config.max_long_pos == 0.002
            assert st.state in (c.RUNNER_STATE_RUNNING, c.RUNNER_STATE_PAUSED)
            await stub(s).StopDipBuyer(
                db.StopDipBuyerRequest(exchange=EX, symbol=SYMBOL, session_id=sid), metadata=AUTH
            )
        async with execx(tmp_path, sim) as s:  # a stopped dip buyer does not come back
            assert s.service.engine is not None and s.service.engine.journal.algorithms("dip_buyer") == []


# venue, symbol, order quantity (contracts on inverse / Deribit), market price
VENUE_CASES = [
    ("binance-spot", "BTCUSDT", 0.001, "97000"),
    ("binance-usdm-future", "BTCUSDT", 0.002, "97000"),
    ("binance-coinm-future", "BTCUSD_PERP", 1, "97000"),
    ("bybit-spot", "BTCUSDT", 0.001, "97000"),
    ("bybit-linear", "BTCUSDT", 0.001, "97000"),
    ("bybit-inverse", "BTCUSD", 1, "97000"),
    ("bybit-option", OPTION, 0.1, "5000"),
    ("okx", "BTC-USDT", 0.001, "97000"),
    ("okx", "BTC-USDT-SWAP", 0.01, "97000"),
    ("deribit", "BTC-PERPETUAL", 10, "97000"),
    ("pulse", "BTC_USD-PERPETUAL", 0.001, "97000"),
]


@pytest.mark.parametrize("case", VENUE_CASES, ids=[f"{v[0]}-{v[1]}" for v in VENUE_CASES])
async def test_buys_a_dip_on_every_venue(svc: Svc, case: tuple[str, str, float, str]) -> None:
    venue, symbol, qty, mid = case
    ex = exchange_enum(venue)
    sid = await svc.session(venue)
    t = stub(svc)
    # cooldown: its own fill prints a trade below the threshold too, which would buy again at once
    config = cfg(order_qty=qty, max_long_pos=qty * 2, cooldown=3600)
    await t.StartDipBuyer(
        db.StartDipBuyerRequest(session_id=sid, exchange=ex, symbol=symbol, config=config), metadata=AUTH
    )
    hub = svc.service.market_data
    assert hub is not None

    async def fresh_at(price: str) -> tuple[Decimal, Decimal]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while True:
            await svc.move(venue, symbol, price)
            feed = hub.feeds.get((Exchange(venue), symbol))
            if feed is not None and not feed.stale:
                return await svc.top(venue, symbol)
            assert loop.time() < deadline, "the feed never became fresh"
            await asyncio.sleep(0.05)  # the poll interval

    async def get() -> db.DipBuyerStatus:
        r = await t.GetDipBuyer(db.GetDipBuyerRequest(exchange=ex, symbol=symbol, session_id=sid), metadata=AUTH)
        return r.status

    async def until(pred: Callable[[db.DipBuyerStatus], bool], what: str) -> db.DipBuyerStatus:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while not pred(s := await get()):
            assert loop.time() < deadline, f"{what}: {s}"
            await asyncio.sleep(0.02)  # the poll interval
        return s

    try:
        high, low = D(mid) * D("1.01"), D(mid) * D("0.99")  # on every venue's tick; the dip 2 % below
        await fresh_at(mid)
        await svc.trade(venue, symbol, high, D(str(qty)), "buy")
        await until(lambda s: s.recent_high == float(high), "the high")
        bid, _ = await fresh_at(str(low))
        await svc.trade(venue, symbol, bid, D(str(qty)), "sell")
        s = await until(lambda s: s.bought_qty == qty and not s.working_orders, f"a dip bought on {venue}")
        assert s.buys == 1 and s.position == qty
    finally:
        await t.StopDipBuyer(db.StopDipBuyerRequest(exchange=ex, symbol=symbol, session_id=sid), metadata=AUTH)
