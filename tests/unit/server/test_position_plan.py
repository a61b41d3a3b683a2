"""The position manager's quoting plan (a pure function): exact prices, sizes and levels."""

from __future__ import annotations

import random
from decimal import Decimal

from execx_server.domain.enums import Exchange, Side
from execx_server.domain.instruments import InstrumentRules
from execx_server.managers.position_plan import (
    Amend,
    Cancel,
    Place,
    PlanConfig,
    Quote,
    Working,
    clip_qty,
    plan,
)

D = Decimal
BUY, SELL = Side.BUY, Side.SELL
# the simulator's (and Binance's) rules for these symbols
SPOT = InstrumentRules(Exchange.BINANCE_SPOT, "BTCUSDT", D("0.01"), D("0.00001"), D("0.00001"), min_notional=D("5"))
USDM = InstrumentRules(Exchange.BINANCE_USDM_FUTURE, "BTCUSDT", D("0.1"), D("0.001"), D("0.001"), min_notional=D("100"))
COINM = InstrumentRules(
    Exchange.BINANCE_COINM_FUTURE, "BTCUSD_PERP", D("0.1"), D("1"), D("1"), contract_size=D("100"), inverse=True
)


def cfg(levels: int = 2, clip: str = "0.001", interval: str = "0.001", maintain: bool = True) -> PlanConfig:
    return PlanConfig(levels, D(clip), D(interval), maintain)


def q(bid: str, ask: str) -> Quote:
    return Quote(D(bid), D(ask))


def w(cl: str, side: Side, price: str, remaining: str = "0.001") -> Working:
    return Working(cl, side, D(price), D(remaining))


LADDER = [w("a", BUY, "97000.01"), w("b", BUY, "96903.00")]


def test_from_flat_the_top_dimes_a_wide_spread_and_level_two_sits_one_interval_behind() -> None:
    p = plan(q("97000.00", "97000.50"), D(0), D("0.003"), [], SPOT, cfg())
    assert p.side is BUY and p.need == D("0.003")
    # top: one tick above the best bid; level 1: 97000.01 * 0.999 = 96903.00999, rounded down
    assert p.actions == (Place(BUY, D("97000.01"), D("0.001"), 0), Place(BUY, D("96903.00"), D("0.001"), 1))
    assert p.levels == ((D("97000.01"), D("0.001")), (D("96903.00"), D("0.001")))
    assert not p.unplaceable


def test_a_one_tick_spread_is_joined_not_crossed() -> None:
    p = plan(q("97000.00", "97000.01"), D(0), D("0.003"), [], SPOT, cfg())
    assert p.actions == (Place(BUY, D("97000.00"), D("0.001"), 0), Place(BUY, D("96903.00"), D("0.001"), 1))
    p = plan(q("97000.00", "97000.01"), D(0), D("-0.002"), [], SPOT, cfg())
    # sell: join the ask; level 1: 97000.01 * 1.001 = 97097.01001, rounded up (passive for a sell)
    assert p.side is SELL
    assert p.actions == (Place(SELL, D("97000.01"), D("0.001"), 0), Place(SELL, D("97097.02"), D("0.001"), 1))


def test_selling_dimes_the_ask() -> None:
    p = plan(q("97000.00", "97000.50"), D("0.001"), D("-0.001"), [], SPOT, cfg())
    # 97000.49 * 1.001 = 97097.49049 -> 97097.50 (rounded up: passive for a sell)
    assert p.actions == (Place(SELL, D("97000.49"), D("0.001"), 0), Place(SELL, D("97097.50"), D("0.001"), 1))


def test_an_order_already_best_is_left_alone_even_when_the_ticker_lags_it() -> None:
    assert plan(q("97000.01", "97000.50"), D(0), D("0.003"), LADDER, SPOT, cfg()).actions == ()
    # the ticker has not shown our dimed bid yet: it is still ahead of the best bid, left alone
    assert plan(q("97000.00", "97000.50"), D(0), D("0.003"), LADDER, SPOT, cfg()).actions == ()


def test_outbid_the_ladder_moves_with_maintain_spreads_only_the_top_without() -> None:
    p = plan(q("97000.05", "97000.50"), D(0), D("0.003"), LADDER, SPOT, cfg(maintain=True))
    # 97000.06 * 0.999 = 96903.05994 -> 96903.05
    assert p.actions == (Amend("a", D("97000.06"), None, 0), Amend("b", D("96903.05"), None, 1))
    p = plan(q("97000.05", "97000.50"), D(0), D("0.003"), LADDER, SPOT, cfg(maintain=False))
    assert p.actions == (Amend("a", D("97000.06"), None, 0),)
    assert p.levels == ((D("97000.06"), D("0.001")), (D("96903.00"), D("0.001")))


def test_a_filled_top_is_refilled_and_the_deeper_order_keeps_its_place() -> None:
    deeper = [w("b", BUY, "96903.00")]
    for maintain in (True, False):
        p = plan(q("97000.00", "97000.50"), D("0.001"), D("0.003"), deeper, SPOT, cfg(maintain=maintain))
        assert p.actions == (Place(BUY, D("97000.01"), D("0.001"), 0),)
    # the market rose meanwhile: with maintainSpreads the deeper order follows (97100.01 * 0.999 =
    # 97002.90999 -> 97002.90), without it stays where it was placed, waiting for a swing back
    p = plan(q("97100.00", "97100.50"), D("0.001"), D("0.003"), deeper, SPOT, cfg(maintain=True))
    assert p.actions == (Place(BUY, D("97100.01"), D("0.001"), 0), Amend("b", D("97002.90"), None, 1))
    p = plan(q("97100.00", "97100.50"), D("0.001"), D("0.003"), deeper, SPOT, cfg(maintain=False))
    assert p.actions == (Place(BUY, D("97100.01"), D("0.001"), 0),)


def test_an_anchored_order_overtaken_by_the_ladder_is_moved_behind_the_level_before() -> None:
    # maintainSpreads false, but the deeper order is no longer behind the top (the top moved down onto
    # its price): it goes back to its level's spacing
    working = [w("a", BUY, "96950.00"), w("b", BUY, "96950.00")]
    p = plan(q("96950.00", "96950.50"), D(0), D("0.003"), working, SPOT, cfg(maintain=False))
    # 96950.00 * 0.999 = 96853.05
    assert p.actions == (Amend("b", D("96853.05"), None, 1),)


def test_flipping_through_zero_cancels_the_other_side_and_quotes_the_new_one() -> None:
    p = plan(q("97000.00", "97000.50"), D("0.002"), D("-0.001"), [w("a", BUY, "97000.00")], SPOT, cfg())
    assert p.side is SELL and p.need == D("0.003")
    assert p.actions == (
        Cancel("a", "flip: other side"),
        Place(SELL, D("97000.49"), D("0.001"), 0),
        Place(SELL, D("97097.50"), D("0.001"), 1),
    )


def test_target_reached_cancels_everything() -> None:
    p = plan(q("97000.00", "97000.50"), D("0.003"), D("0.003"), LADDER, SPOT, cfg())
    assert p.side is None and p.need == 0 and p.note == "target reached"
    assert p.actions == (Cancel("a", "target reached"), Cancel("b", "target reached"))


def test_clips_round_down_to_the_lot_and_never_exceed_what_is_left() -> None:
    p = plan(q("97000.00", "97000.50"), D(0), D("0.002"), [], SPOT, cfg(levels=3, clip="0.0012345"))
    assert p.actions == (Place(BUY, D("97000.01"), D("0.00123"), 0), Place(BUY, D("96903.00"), D("0.00077"), 1))


def test_min_notional_raises_the_clip_and_stops_the_ladder_at_an_unplaceable_remainder() -> None:
    # USD-M BTCUSDT: 0.001 at 97000.1 is 97 USDT < 100: the clip becomes 0.002 (ceil to the lot)
    assert clip_qty(USDM, D("0.001"), D("97000.1")) == D("0.002")
    p = plan(q("97000.0", "97000.5"), D(0), D("0.005"), [], USDM, cfg(levels=3))
    # level 2 would be 0.001 at 96806.0 = 96.8 USDT: below the minimum notional, not placed
    assert p.actions == (Place(BUY, D("97000.1"), D("0.002"), 0), Place(BUY, D("96903.0"), D("0.002"), 1))
    assert not p.unplaceable


def test_a_remainder_below_the_venue_minimum_is_unplaceable() -> None:
    p = plan(q("97000.0", "97000.5"), D("0.004"), D("0.005"), [], USDM, cfg())
    assert p.actions == () and p.unplaceable and p.need == D("0.001")
    p = plan(q("97000.00", "97000.50"), D(0), D("0.000004"), [], SPOT, cfg())
    assert p.actions == () and p.unplaceable


def test_inverse_contracts_one_tick_spread() -> None:
    p = plan(q("97000.0", "97000.1"), D(0), D("5"), [], COINM, cfg(levels=3, clip="2"))
    assert p.actions == (
        Place(BUY, D("97000.0"), D("2"), 0),
        Place(BUY, D("96903.0"), D("2"), 1),
        Place(BUY, D("96806.0"), D("1"), 2),
    )


def test_a_shrunk_target_amends_the_top_down_and_cancels_the_rest() -> None:
    p = plan(q("97000.01", "97000.50"), D("0.0025"), D("0.003"), LADDER, SPOT, cfg())
    assert p.actions == (Amend("a", None, D("0.0005"), 0), Cancel("b", "beyond the quoted levels"))


def test_an_order_that_cannot_be_resized_above_the_minimum_is_cancelled() -> None:
    working = [w("a", BUY, "97000.1", "0.002")]
    p = plan(q("97000.1", "97000.5"), D("0.004"), D("0.005"), working, USDM, cfg())
    assert p.actions == (Cancel("a", "beyond the quoted levels"),) and p.levels == ()


def test_no_two_sided_book_places_nothing() -> None:
    for quote in (q("0", "97000.50"), q("97000.00", "0"), q("97000.50", "97000.50"), None):
        p = plan(quote, D(0), D("0.003"), [w("x", SELL, "97001")], SPOT, cfg())
        assert p.actions == (Cancel("x", "flip: other side"),) and p.note == "no two-sided book"


def test_an_interval_smaller_than_a_tick_still_spaces_levels_by_a_tick() -> None:
    p = plan(q("97000.00", "97000.50"), D(0), D("0.003"), [], SPOT, cfg(levels=3, interval="0.0000000001"))
    assert [a.price for a in p.actions if isinstance(a, Place)] == [D("97000.01"), D("97000.00"), D("96999.99")]


def test_levels_never_reach_zero_price() -> None:
    p = plan(q("1.00", "1.10"), D(0), D("30"), [], SPOT, cfg(levels=4, clip="10", interval="0.5"))
    # 1.01, 1.01 * 0.5 = 0.505 -> 0.50, 1.01 * 0 = 0: stops
    assert [(a.price, a.qty) for a in p.actions if isinstance(a, Place)] == [(D("1.01"), D("10")), (D("0.50"), D("10"))]


def test_no_plan_ever_quotes_at_or_through_the_other_side() -> None:
    rng = random.Random(4)
    for _ in range(3000):
        bid = D(rng.randint(9_000_000, 9_000_050)) / 100
        ask = bid + D(rng.randint(1, 5)) / 100
        working = [
            w(f"o{i}", rng.choice((BUY, SELL)), str(bid + D(rng.randint(-30, 30)) / 100), "0.001") for i in range(3)
        ]
        target, position = D(rng.randint(-5, 5)) / 1000, D(rng.randint(-5, 5)) / 1000
        p = plan(Quote(bid, ask), position, target, working, SPOT, cfg(levels=3, maintain=rng.random() < 0.5))
        for a in p.actions:
            if isinstance(a, Place):
                assert (a.price < ask) if a.side is BUY else (a.price > bid), (a, bid, ask)
                assert a.qty <= p.need
            elif isinstance(a, Amend) and a.price is not None:
                side = next(x.side for x in working if x.cl_order_id == a.cl_order_id)
                assert (a.price < ask) if side is BUY else (a.price > bid), (a, bid, ask)
        assert sum(qty for _, qty in p.levels) <= p.need
