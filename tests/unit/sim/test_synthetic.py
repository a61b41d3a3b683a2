"""The synthetic market: seeded reproducibility, quiet mode, and the admin actions move_to / print_trade."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest
from execx_sim.core import synthetic
from execx_sim.core.engine import Exchange, Market
from execx_sim.core.synthetic import FlowConfig, SyntheticMarket
from execx_sim.core.types import BookTop, Event, OrderStatus, OrderType, PublicTrade, Side, STPMode
from execx_sim.venues.binance.instruments import BINANCE_COINM, BINANCE_SPOT, BINANCE_USDM

D = Decimal


def build(seed: int, quiet: bool = False, config: FlowConfig | None = None) -> tuple[SyntheticMarket, list[Event]]:
    """Markets as the Binance front-ends configure them (self-trade prevention EXPIRE_MAKER by default)."""
    ex = Exchange(clock=lambda: 1_700_000_000_000)
    for name, instruments in (
        ("binance-spot", BINANCE_SPOT),
        ("binance-usdm-future", BINANCE_USDM),
        ("binance-coinm-future", BINANCE_COINM),
    ):
        ex.add_market(Market(ex, name, instruments, default_stp=STPMode.EXPIRE_MAKER))
    events: list[Event] = []
    ex.subscribe(events.append)
    return SyntheticMarket(ex, seed=seed, quiet=quiet, config=config), events


def tape(events: list[Event]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for e in events:
        if isinstance(e, PublicTrade):
            out.append(("trade", e.market, e.symbol, e.price, e.qty, e.taker_side))
        elif isinstance(e, BookTop):
            out.append(("top", e.market, e.symbol, e.bid, e.bid_qty, e.ask, e.ask_qty))
    return out


def run_steps(seed: int, n: int = 25) -> list[tuple[Any, ...]]:
    syn, events = build(seed)
    for _ in range(n):
        syn.step_all()
    return tape(events)


def test_same_seed_same_prices_and_trades() -> None:
    a, b = run_steps(11), run_steps(11)
    assert a == b
    trades = [t for t in a if t[0] == "trade"]
    # Trades print on every market, with both aggressor sides.
    assert {t[1] for t in trades} == {"binance-spot", "binance-usdm-future", "binance-coinm-future"}
    assert {t[5] for t in trades} == {Side.BUY, Side.SELL}


def test_different_seed_differs() -> None:
    assert run_steps(11) != run_steps(12)


def test_prices_move_and_stay_on_tick() -> None:
    syn, events = build(5, config=FlowConfig(volatility=0.01))
    start = {k: f.mid for k, f in syn.flows.items()}
    for _ in range(10):
        syn.step_all()
    assert all(syn.flows[k].mid != start[k] for k in start)
    for e in events:
        if isinstance(e, PublicTrade):
            inst = syn.exchange.markets[e.market].instruments[e.symbol]
            assert inst.on_tick(e.price) and inst.on_lot(e.qty)


def test_quiet_book_has_depth_on_every_symbol() -> None:
    syn, events = build(3, quiet=True)
    assert syn.paused
    assert tape(events) and not any(isinstance(e, PublicTrade) for e in events)
    for market in syn.exchange.markets.values():
        for symbol, book in market.books.items():
            bids, asks = book.depth(100)
            assert len(bids) == len(asks) == syn.config.levels, (market.name, symbol)
            bid, ask = bids[0][0], asks[0][0]
            ref = market.instruments[symbol].ref_price
            assert bid < ref < ask
            assert all(q > 0 for _, q in bids + asks)


async def test_quiet_mode_never_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    assert await count_steps(monkeypatch, quiet=True) == 0


async def test_flow_mode_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    assert await count_steps(monkeypatch, quiet=False) > 0


async def count_steps(monkeypatch: pytest.MonkeyPatch, quiet: bool) -> int:
    """Run ``SyntheticMarket.run`` through 50 of its ticks (a fake sleep that only yields) and count steps."""
    syn, _ = build(3, quiet=quiet)
    ticks, steps = 0, 0
    real_sleep = asyncio.sleep

    async def fake_sleep(_: float) -> None:
        nonlocal ticks
        ticks += 1
        await real_sleep(0)

    def counting_step() -> None:
        nonlocal steps
        steps += 1

    monkeypatch.setattr(synthetic.asyncio, "sleep", fake_sleep)
    monkeypatch.setattr(syn, "step_all", counting_step)
    task = asyncio.create_task(syn.run())
    deadline = time.monotonic() + 5
    while ticks < 50:
        assert time.monotonic() < deadline, "run() did not tick"
        await real_sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return steps


# ---------------------------------------------------------------------- admin actions


@pytest.fixture
def quiet() -> tuple[SyntheticMarket, list[Event]]:
    return build(3, quiet=True)


def user(syn: SyntheticMarket, **balances: str) -> Any:
    acct = syn.exchange.create_account("user")
    for asset, amount in balances.items():
        syn.exchange.markets["binance-spot"].adjust_balance(acct, asset, D(amount))
    return acct


def test_move_to_requotes_and_trades_crossing_orders(quiet: tuple[SyntheticMarket, list[Event]]) -> None:
    syn, events = quiet
    m = syn.exchange.markets["binance-spot"]
    u = user(syn, BTC="1")
    ask = m.place(u, "BTCUSDT", Side.SELL, OrderType.LIMIT, D("0.01"), D("97500"))
    assert ask.status is OrderStatus.NEW
    events.clear()
    syn.move_to("binance-spot", "BTCUSDT", D("98000"))
    assert ask.status is OrderStatus.FILLED
    trades = [(e.price, e.qty, e.taker_side) for e in events if isinstance(e, PublicTrade)]
    assert trades == [(D("97500"), D("0.01"), Side.BUY)]
    assert m.ref_price["BTCUSDT"] == D("98000")
    book = m.books["BTCUSDT"]
    bid, ask_px = book.best_bid(), book.best_ask()
    assert bid is not None and ask_px is not None
    assert bid < D("98000") < ask_px and (bid + ask_px) / 2 == D("98000")
    assert len(book.depth(100)[0]) == len(book.depth(100)[1]) == syn.config.levels


def test_print_trade_at_price_with_aggressor(quiet: tuple[SyntheticMarket, list[Event]]) -> None:
    syn, events = quiet
    for aggressor, price in ((Side.BUY, D("97050")), (Side.SELL, D("96950"))):
        events.clear()
        syn.print_trade("binance-spot", "BTCUSDT", price, D("0.01"), aggressor)
        trades = [(e.price, e.qty, e.taker_side) for e in events if isinstance(e, PublicTrade)]
        assert trades == [(price, D("0.01"), aggressor)]
        assert syn.exchange.markets["binance-spot"].last_price["BTCUSDT"] == price


def test_print_trade_on_futures(quiet: tuple[SyntheticMarket, list[Event]]) -> None:
    syn, events = quiet
    events.clear()
    syn.print_trade("binance-coinm-future", "BTCUSD_PERP", D("96900.5"), D("3"), Side.SELL)
    trades = [(e.symbol, e.price, e.qty, e.taker_side) for e in events if isinstance(e, PublicTrade)]
    assert trades == [("BTCUSD_PERP", D("96900.5"), D("3"), Side.SELL)]


def test_print_trade_hits_better_resting_orders_of_others_first(
    quiet: tuple[SyntheticMarket, list[Event]],
) -> None:
    syn, events = quiet
    m = syn.exchange.markets["binance-spot"]
    u = user(syn, BTC="1")
    better = m.place(u, "BTCUSDT", Side.SELL, OrderType.LIMIT, D("0.002"), D("97020"))
    worse = m.place(u, "BTCUSDT", Side.SELL, OrderType.LIMIT, D("0.002"), D("97060"))
    events.clear()
    syn.print_trade("binance-spot", "BTCUSDT", D("97050"), D("0.01"), Side.BUY)
    trades = [(e.price, e.qty, e.taker_side) for e in events if isinstance(e, PublicTrade)]
    assert trades == [(D("97020"), D("0.002"), Side.BUY), (D("97050"), D("0.008"), Side.BUY)]
    assert better.status is OrderStatus.FILLED
    assert worse.status is OrderStatus.NEW
    assert u.wallet("binance-spot").balance("USDT").free == D("194.04") - D("0.19404")  # 0.002 * 97020 - 0.1%


def test_print_trade_below_own_bids_prints_with_the_chosen_aggressor(
    quiet: tuple[SyntheticMarket, list[Event]],
) -> None:
    syn, events = quiet
    # A BUY print well below the background bids must not turn into a SELL into those bids.
    events.clear()
    syn.print_trade("binance-spot", "BTCUSDT", D("96900"), D("0.01"), Side.BUY)
    trades = [(e.price, e.qty, e.taker_side) for e in events if isinstance(e, PublicTrade)]
    assert trades == [(D("96900"), D("0.01"), Side.BUY)]


def test_unknown_market_or_symbol(quiet: tuple[SyntheticMarket, list[Event]]) -> None:
    syn, _ = quiet
    with pytest.raises(KeyError):
        syn.move_to("binance-spot", "DOGEUSDT", D("1"))
    with pytest.raises(KeyError):
        syn.print_trade("nope", "BTCUSDT", D("1"), D("1"), Side.BUY)
