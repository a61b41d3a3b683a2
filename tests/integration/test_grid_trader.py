"""The grid trader end to end: gRPC and REST -> execx -> connectors -> the embedded simulator, the market
moved and traded through the simulator's admin API (/admin/market/move, /admin/market/trade).

Covered: the grid's levels and sides, a filled buy replaced by a sell one level up and a filled sell by a
buy one level down, a round trip's realised PnL, stop cancelling everything, on every venue; the
configuration errors naming their field before anything is sent; a second grid on the same session and
symbol; a dynamic grid recentering; a stale feed refusing the start and pausing a running grid; a
restart (fills while execx was down booked, no duplicate grid order); the grid's events journaled on
the session and its metrics; the seed's JSON over REST.
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
from algo_helpers import algorithm_events, execx, moving, sim_trade, simulator, venue_open_orders
from execx.v1 import common_pb2 as c
from execx.v1 import grid_trader_pb2 as gt
from execx.v1 import grid_trader_pb2_grpc as gt_grpc
from execx.v1 import order_manager_pb2 as om
from execx_server.managers.grid_plan import round_trip_pnl
from execx_sim.venues.bybit.instruments import option_expiry, option_symbol
from market_helpers import AUTH, KEY, WAIT_S, Svc, exchange_enum, running

D = Decimal
# a BTC call of the simulator's nearest Bybit expiry
OPTION = option_symbol("BTC", option_expiry(datetime.datetime.now(datetime.UTC).date()), 100000, True)


def dec(x: float) -> Decimal:
    return D(repr(x))


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    # the quiet book only moves when a test moves it: staleness is set long so it never pauses the tests
    async with running(tmp_path_factory.mktemp("execx-grid"), 120) as s:
        yield s


def stub(svc: Svc) -> gt_grpc.GridTraderServiceStub:
    return gt_grpc.GridTraderServiceStub(svc.channel)


def request(sid: str, venue: str, symbol: str, **kw: Any) -> gt.StartGridTraderRequest:
    base: dict[str, Any] = dict(
        session_id=sid, exchange=exchange_enum(venue), symbol=symbol, grid_levels=4, mode=gt.GRID_MODE_ARITHMETIC
    )
    base.update(kw)
    return gt.StartGridTraderRequest(**base)


class Grid:
    """One grid under test, its status read over gRPC."""

    def __init__(self, svc: Svc, sid: str, venue: str, symbol: str) -> None:
        self.svc, self.sid, self.venue, self.symbol = svc, sid, venue, symbol
        self.key = dict(session_id=sid, exchange=exchange_enum(venue), symbol=symbol)

    async def status(self) -> gt.GridTraderStatus:
        return (await stub(self.svc).GetGridTrader(gt.GetGridTraderRequest(**self.key), metadata=AUTH)).status

    async def wait(
        self, predicate: Callable[[gt.GridTraderStatus], bool], what: str, within_s: float = WAIT_S
    ) -> gt.GridTraderStatus:
        """Poll the status until ``predicate`` holds (a grid being restored is NOT_FOUND for a moment)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            try:
                s: gt.GridTraderStatus | None = await self.status()
            except grpc.aio.AioRpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                s = None
            if s is not None and predicate(s):
                return s
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; last status: {s}")
            await asyncio.sleep(0.05)  # the poll interval

    async def stop(self) -> gt.GridTraderStatus:
        return (await stub(self.svc).StopGridTrader(gt.StopGridTraderRequest(**self.key), metadata=AUTH)).status


def orders_at(s: gt.GridTraderStatus) -> list[tuple[str, Decimal]]:
    """The working orders as (side, price), lowest price first."""
    return sorted(
        (("buy" if o.side == c.SIDE_BUY else "sell", dec(o.price)) for o in s.working_orders), key=lambda x: x[1]
    )


async def open_orders(svc: Svc, sid: str) -> list[c.OrderTransaction]:
    r = await svc.om.ListOrders(om.ListOrdersRequest(session_id=sid, open_only=True), metadata=AUTH)
    return list(r.orders)


# venue, symbol, market price, grid step, order qty (USD-M: 0.002 BTC for its 100 USDT minimum notional;
# inverse and Deribit quantities are contracts)
CASES = [
    ("binance-spot", "BTCUSDT", D("97000"), D("500"), 0.001),
    ("binance-usdm-future", "BTCUSDT", D("97000"), D("500"), 0.002),
    ("binance-coinm-future", "BTCUSD_PERP", D("97000"), D("500"), 1),
    ("bybit-spot", "BTCUSDT", D("97000"), D("500"), 0.001),
    ("bybit-linear", "BTCUSDT", D("97000"), D("500"), 0.001),
    ("bybit-inverse", "BTCUSD", D("97000"), D("500"), 1),
    ("bybit-option", OPTION, D("5000"), D("100"), 0.1),
    ("okx", "BTC-USDT", D("97000"), D("500"), 0.001),
    ("okx", "BTC-USDT-SWAP", D("97000"), D("500"), 0.01),
    ("deribit", "BTC-PERPETUAL", D("97000"), D("500"), 10),
    ("pulse", "BTC_USD-PERPETUAL", D("97000"), D("500"), 0.001),
]


async def start_at_market(svc: Svc, venue: str, symbol: str, req: gt.StartGridTraderRequest, mid: Decimal) -> Any:
    """StartGridTrader while the book is re-centred at ``mid`` (the start waits for a fresh best bid/ask)."""
    async with moving(svc, venue, symbol, mid):
        return await stub(svc).StartGridTrader(req, metadata=AUTH)


@pytest.mark.parametrize("case", CASES, ids=[f"{x[0]}-{x[1]}" for x in CASES])
async def test_grid_places_levels_flips_fills_and_books_round_trips(svc: Svc, case: tuple[Any, ...]) -> None:
    venue, symbol, price, step, qty = case
    sid = await svc.session(venue)
    lower, upper = price - 2 * step, price + 2 * step
    req = request(sid, venue, symbol, lower_price=float(lower), upper_price=float(upper), order_qty=qty)
    started = await start_at_market(svc, venue, symbol, req, price)
    levels = [lower + i * step for i in range(5)]
    assert [dec(p) for p in started.status.levels] == levels
    g = Grid(svc, sid, venue, symbol)
    # the line nearest the market (97000) holds nothing: buys below, sells above
    s = await g.wait(lambda s: len(s.working_orders) == 4, "four grid orders")
    assert orders_at(s) == [("buy", levels[0]), ("buy", levels[1]), ("sell", levels[3]), ("sell", levels[4])]
    assert all(o.order_type == c.ORDER_TYPE_LIMIT and o.cl_order_id.startswith("gr") for o in s.working_orders)
    assert s.state == c.RUNNER_STATE_RUNNING and dec(s.center_price) == price

    # the buy one level below the market fills: a sell one level up (at the empty middle line) replaces it
    await svc.trade(venue, symbol, levels[1], dec(qty), "sell")
    s = await g.wait(lambda s: ("sell", levels[2]) in orders_at(s), "the sell one level up")
    assert orders_at(s) == [("buy", levels[0]), ("sell", levels[2]), ("sell", levels[3]), ("sell", levels[4])]
    assert s.fills == 1 and s.round_trips == 0 and dec(s.traded_qty) == dec(qty)
    # that sell fills: a round trip, and the buy is back one level down
    await svc.trade(venue, symbol, levels[2], dec(qty), "buy")
    s = await g.wait(lambda s: s.round_trips == 1 and ("buy", levels[1]) in orders_at(s), "the round trip")
    assert orders_at(s) == [("buy", levels[0]), ("buy", levels[1]), ("sell", levels[3]), ("sell", levels[4])]
    assert s.fills == 2 and dec(s.traded_qty) == 2 * dec(qty)
    # realised PnL: one step on the quantity (the coin PnL at the closing price for inverse contracts)
    # after both legs' fees
    assert svc.service.engine is not None
    connector = svc.service.engine.sessions[sid].connector
    assert connector is not None
    rules = connector.rules(symbol)
    gross = float(round_trip_pnl(rules, levels[1], levels[2], dec(qty), levels[2]))
    assert s.realized_pnl == pytest.approx(gross - s.fees_paid, rel=1e-9) and 0 < s.realized_pnl <= gross
    assert s.fees_paid > 0 or venue in ("deribit", "pulse")  # maker fee 0 on these (simulated) venues
    # a sell above the market fills: a buy one level down; this interval's trip is open (sold first)
    await svc.trade(venue, symbol, levels[3], dec(qty), "buy")
    s = await g.wait(lambda s: ("buy", levels[2]) in orders_at(s), "the buy one level down")
    assert s.round_trips == 1

    stopped = await g.stop()
    assert stopped.state == c.RUNNER_STATE_STOPPED and not stopped.working_orders
    assert await open_orders(svc, sid) == []
    # another grid can start on the symbol once stopped
    again = await start_at_market(svc, venue, symbol, req, price)
    assert again.status.state in (c.RUNNER_STATE_RUNNING, c.RUNNER_STATE_PAUSED)
    await g.stop()


async def test_bad_configurations_name_the_field_and_send_nothing(svc: Svc) -> None:
    venue, symbol = "binance-spot", "ETHUSDT"
    sid = await svc.session(venue)
    spot = c.EXCHANGE_BINANCE_SPOT

    def make(**kw: Any) -> gt.StartGridTraderRequest:
        """A valid grid around 3000 with ``kw`` changed (None: the field unset)."""
        base: dict[str, Any] = dict(
            session_id=sid,
            exchange=spot,
            symbol=symbol,
            grid_levels=4,
            mode=gt.GRID_MODE_ARITHMETIC,
            lower_price=2900.0,
            upper_price=3100.0,
            order_qty=0.01,
        )
        base.update(kw)
        return gt.StartGridTraderRequest(**{k: v for k, v in base.items() if v is not None})

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    for kw, code, text in (
        ({"upper_price": 2900.0}, invalid, "upperPrice: 2900 must be above lowerPrice 2900"),
        ({"upper_price": 2800.0}, invalid, "upperPrice: 2800 must be above lowerPrice 2900"),
        ({"grid_levels": 1}, invalid, "gridLevels: must be at least 2"),
        ({"grid_levels": 0}, invalid, "gridLevels: must be at least 2"),
        ({"order_qty": 0.0}, invalid, "orderQty: must be positive"),
        ({"order_qty": -1.0}, invalid, "orderQty: must be positive"),
        ({"order_qty": float("nan")}, invalid, "orderQty: must be a finite number"),
        ({"mode": gt.GRID_MODE_UNSPECIFIED}, invalid, "mode: is required"),
        ({"upper_price": None}, invalid, "upperPrice: is required with lowerPrice"),
        ({"upper_price": None, "lower_price": None}, invalid, "gridRangePercentage: is required"),
        ({"dynamic": True}, invalid, "recenterThreshold: is required for a dynamic grid"),
        ({"dynamic": True, "recenter_threshold": 0}, invalid, "recenterThreshold: must be at least 1"),
        ({"symbol": "NOPEUSDT"}, invalid, "symbol: 'NOPEUSDT' is not traded on binance-spot"),
        ({"symbol": ""}, invalid, "symbol: is required"),
        ({"session_id": ""}, invalid, "sessionId: is required"),
        ({"exchange": 0}, invalid, "exchange: is required"),
        ({"exchange": c.EXCHANGE_BYBIT_SPOT}, invalid, "exchange: session"),
        ({"session_id": "no-such-session"}, grpc.StatusCode.NOT_FOUND, "session 'no-such-session' does not exist"),
        # with the market: levels closer than the tick, an order below the venue's minimum
        ({"lower_price": 3000.0, "upper_price": 3000.02, "grid_levels": 4}, invalid, "gridLevels: 4 levels between"),
        ({"order_qty": 0.00001}, invalid, "orderQty: at the grid level 2900"),
    ):
        r = make(**kw)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await start_at_market(svc, venue, symbol, r, D("3000"))
        err = e.value
        assert err.code() == code and (err.details() or "").startswith(text), (kw, err.details())
    assert await open_orders(svc, sid) == []  # nothing was sent
    ok = make()
    await start_at_market(svc, venue, symbol, ok, D("3000"))
    # a second grid on the same session and symbol
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub(svc).StartGridTrader(ok, metadata=AUTH)
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS and "already runs" in (e.value.details() or "")
    # unknown grids
    for call, req in (
        (stub(svc).GetGridTrader, gt.GetGridTraderRequest(session_id=sid, exchange=spot, symbol="SOLUSDT")),
        (stub(svc).StopGridTrader, gt.StopGridTraderRequest(session_id=sid, exchange=spot, symbol="SOLUSDT")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call(req, metadata=AUTH)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND, e.value
    await Grid(svc, sid, venue, symbol).stop()


async def test_dynamic_grid_recenters_around_the_market(svc: Svc) -> None:
    venue, symbol = "binance-spot", "ETHUSDT"
    sid = await svc.session(venue)
    # 2 % around 3000: 2970 .. 3030 in 6 steps of 10; recenter 2 steps (20) away from the centre
    req = request(
        sid, venue, symbol, grid_range_percentage=2.0, grid_levels=6, order_qty=0.01, dynamic=True, recenter_threshold=2
    )
    started = await start_at_market(svc, venue, symbol, req, D("3000"))
    assert [dec(p) for p in started.status.levels] == [D(p) for p in range(2970, 3031, 10)]
    g = Grid(svc, sid, venue, symbol)
    first = await g.wait(lambda s: len(s.working_orders) == 6, "six grid orders")
    # 5 away (half a step): nothing moves
    await svc.move(venue, symbol, "3005")
    await asyncio.sleep(0.3)  # a negative check: give it time to (wrongly) react
    s = await g.status()
    assert s.recenters == 0 and {o.cl_order_id for o in s.working_orders} == {
        o.cl_order_id for o in first.working_orders
    }
    # 25 away: the book's move fills the sells at 3010 and 3020 on its way, and the grid (2.5 steps from
    # its centre) cancels every order and is rebuilt around the market with the same width
    await svc.move(venue, symbol, "3025")
    s = await g.wait(lambda s: s.recenters == 1 and len(s.working_orders) == 6, "the recentered grid")
    bid, ask = await svc.top(venue, symbol)
    mid = (bid + ask) / 2
    assert dec(s.center_price) == mid and dec(s.levels[0]) == mid - 30 and dec(s.levels[-1]) == mid + 30
    assert not {o.cl_order_id for o in s.working_orders} & {o.cl_order_id for o in first.working_orders}
    assert len(await open_orders(svc, sid)) == 6  # the old ones are gone
    kinds = [e["event"] for e in algorithm_events(svc, sid)]
    assert kinds[-2:] == ["recenter", "recentered"] and set(kinds[:-2]) <= {"filled"}
    recenters = svc.service.metrics.registry.get_sample_value("om_grid_recenters_total", {"exchange": venue})
    assert recenters is not None and recenters >= 1
    await g.stop()


async def test_events_are_journaled_on_the_session_and_counted(svc: Svc) -> None:
    venue, symbol = "bybit-linear", "ETHUSDT"
    sid = await svc.session(venue)
    req = request(sid, venue, symbol, lower_price=2900.0, upper_price=3100.0, order_qty=0.01)
    await start_at_market(svc, venue, symbol, req, D("3000"))
    g = Grid(svc, sid, venue, symbol)
    await g.wait(lambda s: len(s.working_orders) == 4, "four grid orders")
    before = svc.service.metrics.registry.get_sample_value("om_grid_round_trips_total", {"exchange": venue}) or 0
    await svc.trade(venue, symbol, D("3050"), D("0.01"), "buy")  # its sell at 3050 fills: a buy at 3000
    await g.wait(lambda s: ("buy", D("3000")) in orders_at(s), "the buy one level down")
    await svc.trade(venue, symbol, D("3000"), D("0.01"), "sell")  # ... which fills: a round trip
    s = await g.wait(lambda s: s.round_trips == 1, "the round trip")
    events = algorithm_events(svc, sid)
    assert [e["event"] for e in events] == ["filled", "filled", "roundtrip"]
    trip = events[-1]
    assert trip["algorithm"] == "grid_trader" and trip["symbol"] == symbol and trip["sessionId"] == sid
    assert D(trip["pnl"]) == dec(s.realized_pnl) and trip["level"] == 2 and trip["side"] == "buy"
    after = svc.service.metrics.registry.get_sample_value("om_grid_round_trips_total", {"exchange": venue})
    assert after == before + 1
    # on the session's update stream (opt-in), replayed from the journal with fromSeq like order updates
    call = svc.om.SubscribeUpdates(
        om.SubscribeUpdatesRequest(session_id=sid, from_seq=1, algorithm_events=True), metadata=AUTH
    )
    got: list[om.SubscribeUpdatesResponse] = []
    async with asyncio.timeout(WAIT_S):
        async for msg in call:
            got.append(msg)
            if msg.HasField("algorithm_event") and msg.algorithm_event.event == "roundtrip":
                break
    call.cancel()
    algo = [m.algorithm_event for m in got if m.HasField("algorithm_event")]
    assert [a.event for a in algo] == ["filled", "filled", "roundtrip"]
    assert all(not m.HasField("transaction") for m in got if m.HasField("algorithm_event"))
    rt = algo[-1]
    assert rt.algorithm == "grid_trader" and rt.session_id == sid and rt.symbol == symbol
    assert rt.exchange == c.EXCHANGE_BYBIT_LINEAR and rt.side == c.SIDE_BUY and rt.level == 2
    assert rt.pnl == s.realized_pnl and rt.price == 3000 and rt.qty == 0.01
    seqs = [m.algorithm_event.seq or m.transaction.seq for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # one sequence with the order updates
    # without the flag: order transactions only
    plain = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    n = 0
    async with asyncio.timeout(WAIT_S):
        async for msg in plain:
            assert msg.HasField("transaction")
            n += 1
            if msg.transaction.seq >= rt.seq - 1:
                break
    plain.cancel()
    assert n > 0
    # the websocket: {"algorithmEvent": {...}} next to the order transactions
    ws_url = svc.rest.replace("http://", "ws://") + "/subscribeUpdates"
    async with svc.http.ws_connect(ws_url, headers={"x-api-key": KEY}) as ws:
        await ws.send_json({"sessionId": sid, "fromSeq": 1, "algorithmEvents": True})
        frames: list[dict[str, Any]] = []
        async with asyncio.timeout(WAIT_S):
            while not any(f.get("algorithmEvent", {}).get("event") == "roundtrip" for f in frames):
                frames.append(await ws.receive_json())
    events_ws = [f["algorithmEvent"] for f in frames if "algorithmEvent" in f]
    assert [e["event"] for e in events_ws] == ["filled", "filled", "roundtrip"]
    assert events_ws[-1]["symbol"] == symbol and events_ws[-1]["exchange"] == "bybit-linear"
    assert events_ws[-1]["side"] == "buy" and events_ws[-1]["pnl"] == s.realized_pnl
    assert all("clOrderId" in f for f in frames if "algorithmEvent" not in f)  # transactions as before
    assert (svc.service.metrics.registry.get_sample_value("om_grid_fills_total", {"exchange": venue}) or 0) >= 2
    await g.stop()


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    async with simulator() as s:
        yield s


async def test_a_restart_carries_on_with_the_same_orders_and_books_fills_made_meanwhile(
    tmp_path: Path, sim: Any
) -> None:
    venue, symbol, sid = "binance-spot", "BTCUSDT", "grid-restart"
    levels = [D(p) for p in range(96000, 98001, 500)]
    async with execx(tmp_path, sim) as svc:
        acct = await svc.admin_post("/admin/accounts", {})
        await svc.start_session(sid, venue, acct)
        req = request(sid, venue, symbol, lower_price=96000.0, upper_price=98000.0, order_qty=0.001)
        await start_at_market(svc, venue, symbol, req, D("97000"))
        before = await Grid(svc, sid, venue, symbol).wait(lambda s: len(s.working_orders) == 4, "four orders")
        ids = {o.cl_order_id: (o.side, o.price) for o in before.working_orders}
    # execx is down: its grid orders stay at the venue, and the buy at 96500 fills there meanwhile
    await sim_trade(sim, venue, symbol, D("96500"), D("0.001"), "sell")
    async with execx(tmp_path, sim) as svc:
        g = Grid(svc, sid, venue, symbol)
        with pytest.raises(grpc.aio.AioRpcError) as e:  # not before its session is started again (keys)
            await g.status()
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        await svc.start_session(sid, venue, acct)
        async with moving(svc, venue, symbol, D("97000")):
            s = await g.wait(
                lambda s: s.fills == 1 and ("sell", levels[2]) in orders_at(s), "the fill booked, its sell placed"
            )
        assert orders_at(s) == [("buy", levels[0]), ("sell", levels[2]), ("sell", levels[3]), ("sell", levels[4])]
        kept = {o.cl_order_id: (o.side, o.price) for o in s.working_orders if o.cl_order_id in ids}
        assert len(kept) == 3 and all(ids[k] == v for k, v in kept.items())  # the same three orders, not new ones
        assert s.state == c.RUNNER_STATE_RUNNING or s.reason.startswith("market data stale")
        working = sorted(o.cl_order_id for o in s.working_orders)
        assert sorted(o.cl_order_id for o in await open_orders(svc, sid)) == working
        # no duplicate at the venue either: the simulator's own list of the account's open orders
        assert sorted(o["clientOrderId"] for o in await venue_open_orders(sim, venue, acct)) == working
        assert s.request.lower_price == 96000.0 and s.request.grid_levels == 4
        stopped = await g.stop()
        assert not stopped.working_orders and await open_orders(svc, sid) == []
        assert await venue_open_orders(sim, venue, acct) == []
    # a stopped grid does not come back
    async with execx(tmp_path, sim) as svc:
        await svc.start_session(sid, venue, acct)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await Grid(svc, sid, venue, symbol).status()
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_stale_feed_refuses_the_start_and_pauses_a_running_grid(tmp_path: Path, sim: Any) -> None:
    venue, symbol = "binance-spot", "SOLUSDT"
    async with execx(tmp_path, sim, stale_s=0.5) as svc:
        assert svc.service.grid_traders is not None
        svc.service.grid_traders.start_wait_s = 0.5
        sid = await svc.session(venue)
        req = request(sid, venue, symbol, lower_price=140.0, upper_price=160.0, order_qty=0.1)
        # the quiet book does not move: no best bid/ask reaches execx, the start is refused, nothing sent
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub(svc).StartGridTrader(req, metadata=AUTH)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "market data for binance-spot SOLUSDT is stale" in (e.value.details() or "")
        assert await open_orders(svc, sid) == []
        # with a moving market it starts; then the market goes quiet: paused; an order of it cancelled
        # meanwhile is not placed again until a fresh quote arrives
        svc.service.grid_traders.start_wait_s = 5.0
        await start_at_market(svc, venue, symbol, req, D("150"))
        g = Grid(svc, sid, venue, symbol)
        s = await g.wait(lambda s: s.state == c.RUNNER_STATE_PAUSED, "paused on the stale feed")
        assert s.reason.startswith("market data stale") and len(s.working_orders) == 4
        lowest = min(s.working_orders, key=lambda o: o.price)
        await svc.om.SendOrder(
            om.SendOrderRequest(
                session_id=sid,
                cl_order_id=lowest.cl_order_id,
                symbol=symbol,
                transaction_type=c.TRANSACTION_TYPE_DELETE,
            ),
            metadata=AUTH,
        )
        await g.wait(lambda s: len(s.working_orders) == 3, "the cancel seen")
        await asyncio.sleep(0.3)  # a negative check: give it time to (wrongly) place it again
        s = await g.status()
        assert s.state == c.RUNNER_STATE_PAUSED and len(s.working_orders) == 3
        await svc.move(venue, symbol, "150")
        s = await g.wait(lambda s: ("buy", D("140")) in orders_at(s), "placed again once the feed is fresh")
        assert [e["event"] for e in algorithm_events(svc, sid)] == ["replaced"]
        await g.stop()


# seed 000's JSON examples of the grid trader, verbatim
SEED_START_GRID_TRADER: dict[str, Any] = {
    "symbol": "BTC-USDT",
    "exchange": "binance-spot",
    "sessionId": "string",
    "upperPrice": 28000,
    "lowerPrice": 25000,
    "gridRangePercentage": 10,
    "gridLevels": 10,
    "orderQty": 0.01,
    "mode": "ARITHMETIC",
    "dynamic": False,
    "recenterThreshold": 5,
}
SEED_STOP_GRID_TRADER = {"symbol": "BTC-USDT", "exchange": "binance-spot", "sessionId": "unique-session-id"}


async def test_seed_json_over_rest(svc: Svc) -> None:
    headers = {"x-api-key": KEY}

    async def post(path: str, body: Any) -> tuple[int, Any]:
        async with svc.http.post(svc.rest + path, json=body, headers=headers) as r:
            return r.status, await r.json()

    demo = svc.sim["accounts"][0]
    code, out = await post(
        "/startOrderHandler",
        {
            "exchangeKey": {"apiKey": demo["apiKey"], "secretKey": demo["secretKey"], "exchange": "binance-spot"},
            "sessionId": "string",  # the grid example's session id
        },
    )
    assert code == 200, out
    # verbatim: the seed's symbol is OKX-style, not a Binance symbol
    code, err = await post("/startGridTrader", SEED_START_GRID_TRADER)
    assert code == 400 and err["message"] == "symbol: 'BTC-USDT' is not traded on binance-spot", err
    body = {**SEED_START_GRID_TRADER, "symbol": "BTCUSDT"}
    async with moving(svc, "binance-spot", "BTCUSDT", D("26500")):
        code, out = await post("/startGridTrader", body)
    assert code == 200, out
    status = out["status"]
    # upper/lower win over the percentage: 10 levels of 300 from 25000 to 28000
    assert status["levels"] == [25000 + 300 * i for i in range(11)] and status["centerPrice"] == 26500
    assert status["state"] == "running" and status["request"]["mode"] == "ARITHMETIC"
    assert {k: status["request"][k] for k in ("symbol", "sessionId", "upperPrice", "lowerPrice", "gridLevels")} == {
        "symbol": "BTCUSDT",
        "sessionId": "string",
        "upperPrice": 28000,
        "lowerPrice": 25000,
        "gridLevels": 10,
    }
    key = {"symbol": "BTCUSDT", "exchange": "binance-spot", "sessionId": "string"}
    code, out = await post("/getGridTrader", key)
    assert code == 200 and len(out["status"]["workingOrders"]) == 10, out
    sides = sorted((o["price"], o["side"]) for o in out["status"]["workingOrders"])
    assert sides == [(25000 + 300 * i, "buy") for i in range(5)] + [(26800 + 300 * i, "sell") for i in range(5)]
    code, err = await post("/startGridTrader", body)
    assert code == 409, err
    code, err = await post("/stopGridTrader", SEED_STOP_GRID_TRADER)
    assert code == 404 and "no grid trader on binance-spot BTC-USDT" in err["message"], err
    code, out = await post("/stopGridTrader", key)
    assert code == 200 and out["status"]["state"] == "stopped" and out["status"].get("workingOrders", []) == [], out


async def test_health_reports_the_grid_trader_serving(svc: Svc) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    health = health_pb2_grpc.HealthStub(svc.channel)
    r = await health.Check(health_pb2.HealthCheckRequest(service="execx.v1.GridTraderService"))
    assert r.status == health_pb2.HealthCheckResponse.SERVING


async def test_refusals_in_a_row_fail_the_grid_with_the_venue_message(svc: Svc) -> None:
    venue, symbol = "binance-usdm-future", "ETHUSDT"
    sid = await svc.session(venue)
    before = (
        svc.service.metrics.registry.get_sample_value(
            "om_algorithm_errors_total", {"algorithm": "grid_trader", "kind": "refused"}
        )
        or 0
    )
    await svc.admin_post(f"/admin/faults/{venue}", {"reject_orders": 8, "reject_message": "no grid for you"})
    try:
        req = request(sid, venue, symbol, lower_price=2900.0, upper_price=3100.0, order_qty=0.05)
        await start_at_market(svc, venue, symbol, req, D("3000"))
        g = Grid(svc, sid, venue, symbol)
        # four refused at once, each level tried again 2 s later: the fifth refusal in a row fails it
        s = await g.wait(lambda s: s.state == c.RUNNER_STATE_FAILED, "failed")
        assert s.reason.startswith("5 orders refused in a row; last: ") and "no grid for you" in s.reason, s.reason
        assert not s.working_orders and await open_orders(svc, sid) == []
        refused = svc.service.metrics.registry.get_sample_value(
            "om_algorithm_errors_total", {"algorithm": "grid_trader", "kind": "refused"}
        )
        assert refused is not None and refused - before >= 5
        # a failed grid can be replaced by a new start
        await g.stop()
    finally:
        async with svc.http.delete(f"{svc.admin}/admin/faults/{venue}") as r:
            assert r.status == 200
