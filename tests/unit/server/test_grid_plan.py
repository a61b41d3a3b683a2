"""The grid trader's pure plan (managers/grid_plan.py): levels, sides, fills flipping slots, round trips,
recentering, refusals retried on a fake clock, a stale feed, and the state a restart reloads."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from execx_server.domain.enums import Exchange, OrderStatus, Side
from execx_server.domain.errors import ValidationError
from execx_server.domain.instruments import InstrumentRules
from execx_server.managers.grid_plan import (
    RETRY_S,
    Cancel,
    Grid,
    GridConfig,
    Mode,
    OrderView,
    Place,
    build,
    plan,
    round_trip_pnl,
    steps_from,
)

D = Decimal
RULES = InstrumentRules(Exchange.BINANCE_SPOT, "BTCUSDT", D("0.01"), D("0.001"), D("0.001"), min_notional=D("5"))
INVERSE = InstrumentRules(
    Exchange.BYBIT_INVERSE, "BTCUSD", D("0.5"), D("1"), D("1"), contract_size=D("1"), inverse=True
)
BOOK = (D("104.99"), D("105.01"))


def cfg(**kw: object) -> GridConfig:
    base: dict[str, object] = dict(
        upper_price=D("110"),
        lower_price=D("100"),
        grid_range_percentage=None,
        grid_levels=10,
        order_qty=D("0.1"),
        mode=Mode.ARITHMETIC,
    )
    base.update(kw)
    return GridConfig(**base)  # type: ignore[arg-type]


class Clock:
    """A fake clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def placed(p: object) -> list[Place]:
    return [a for a in p.actions if isinstance(a, Place)]  # type: ignore[attr-defined]


def assign(grid: Grid, places: list[Place], prefix: str = "g") -> tuple[Grid, dict[str, OrderView | None]]:
    """The runner's part: give every placed order an id, the engine acknowledges it (new)."""
    slots = list(grid.slots)
    views: dict[str, OrderView | None] = {}
    for a in places:
        cl = a.cl_order_id or f"{prefix}{a.slot}"
        slots[a.slot] = dataclasses.replace(slots[a.slot], cl_order_id=cl)
        views[cl] = OrderView(OrderStatus.NEW, D(0), D(0), D(0))
    return dataclasses.replace(grid, slots=tuple(slots)), views


QTY = D("0.1")
NO_FEE = D(0)


def filled(price: Decimal, qty: Decimal = QTY, fee: Decimal = NO_FEE) -> OrderView:
    return OrderView(OrderStatus.FILLED, qty, price, fee)


def test_arithmetic_levels_are_the_seed_example() -> None:
    g = build(cfg(), RULES, *BOOK)
    assert g.prices == tuple(D(p) for p in range(100, 111))  # 10 levels: 100, 101, ..., 110
    # the line nearest the mid (105) holds no order: buys below it, sells above it
    p = plan(g, {}, BOOK, 0.0, cfg(), RULES)
    assert [(a.side, a.price) for a in placed(p)] == [(Side.BUY, D(p)) for p in range(100, 105)] + [
        (Side.SELL, D(p)) for p in range(106, 111)
    ]
    assert all(a.qty == D("0.1") for a in placed(p))
    assert g.centre == D(105)


def test_geometric_levels_have_a_constant_ratio_rounded_down_to_the_tick() -> None:
    c = cfg(lower_price=D("100"), upper_price=D("400"), grid_levels=4, mode=Mode.GEOMETRIC)
    g = build(c, RULES, D("199"), D("201"))
    # ratio 4 ** (1/4) = 1.41421...: 100, 141.42, 200, 282.84, 400
    assert g.prices == (D("100"), D("141.42"), D("200.00"), D("282.84"), D("400"))
    assert all(p % RULES.tick == 0 for p in g.prices)


def test_percentage_range_around_the_mid() -> None:
    c = cfg(upper_price=None, lower_price=None, grid_range_percentage=D("10"), grid_levels=10)
    g = build(c, RULES, D("99.99"), D("100.01"))
    assert g.prices[0] == D("95") and g.prices[-1] == D("105") and g.centre == D("100")
    # upper/lower win over a percentage given as well (the seed's example carries all three)
    both = cfg(grid_range_percentage=D("10"))
    assert build(both, RULES, D("99.99"), D("100.01")).prices[0] == D("100")


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(upper_price=D("100"), lower_price=D("100")), "upperPrice"),
        (dict(upper_price=D("90")), "upperPrice"),
        (dict(grid_levels=1), "gridLevels"),
        (dict(grid_levels=0), "gridLevels"),
        (dict(order_qty=D("0")), "orderQty"),
        (dict(order_qty=D("-1")), "orderQty"),
        (dict(mode=None), "mode"),
        (dict(upper_price=None), "upperPrice"),
        (dict(lower_price=None), "lowerPrice"),
        (dict(lower_price=D("-5")), "lowerPrice"),
        (dict(upper_price=None, lower_price=None), "gridRangePercentage"),
        (dict(upper_price=None, lower_price=None, grid_range_percentage=D("0")), "gridRangePercentage"),
        (dict(dynamic=True), "recenterThreshold"),
        (dict(dynamic=True, recenter_threshold=0), "recenterThreshold"),
    ],
)
def test_configuration_errors_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        cfg(**kw).validate()
    assert e.value.field == field


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(lower_price=D("100"), upper_price=D("100.05"), grid_levels=10), "gridLevels"),  # steps below the tick
        (dict(order_qty=D("0.0001")), "orderQty"),  # below the venue's minimum quantity
        (dict(order_qty=D("0.01")), "orderQty"),  # 1 USDT: below the minimum notional at the lowest level
        (dict(order_qty=D("0.1005")), "orderQty"),  # not a multiple of the lot
    ],
)
def test_grids_the_instrument_cannot_trade_are_refused_before_anything_is_sent(
    kw: dict[str, object], field: str
) -> None:
    c = cfg(**kw)
    c.validate()
    with pytest.raises(ValidationError) as e:
        build(c, RULES, *BOOK)
    assert e.value.field == field, e.value


def test_a_filled_buy_places_a_sell_one_level_up_and_the_round_trip_is_booked() -> None:
    c = cfg()
    g, views = assign(build(c, RULES, *BOOK), placed(plan(build(c, RULES, *BOOK), {}, BOOK, 0.0, c, RULES)))
    # the buy at 104 (slot 4) fills: a sell at 105 replaces it, nothing else moves
    views["g4"] = filled(D("104"), fee=D("0.0104"))
    p = plan(g, views, BOOK, 0.0, c, RULES)
    assert [(a.slot, a.side, a.price, a.cl_order_id) for a in placed(p)] == [(4, Side.SELL, D("105"), "")]
    assert [e.kind for e in p.events] == ["filled"] and p.grid.round_trips == 0
    assert p.grid.traded_qty == D("0.1") and p.grid.fills == 1
    # the sell at 105 fills: a buy at 104 again, and one round trip of (105 - 104) x 0.1 - fees
    g2, views2 = assign(p.grid, placed(p), prefix="h")
    views.update(views2)
    views["h4"] = filled(D("105"), fee=D("0.0105"))
    p2 = plan(g2, views, BOOK, 0.0, c, RULES)
    assert [(a.slot, a.side, a.price) for a in placed(p2)] == [(4, Side.BUY, D("104"))]
    assert p2.grid.round_trips == 1 and p2.grid.realized_pnl == D("0.1") - D("0.0104") - D("0.0105")
    assert [e.kind for e in p2.events] == ["filled", "roundtrip"]
    assert p2.grid.traded_qty == D("0.2") and p2.grid.fees == D("0.0209")


def test_a_filled_sell_places_a_buy_one_level_down_then_the_buy_closes_the_trip() -> None:
    c = cfg()
    g0 = build(c, RULES, *BOOK)
    g, views = assign(g0, placed(plan(g0, {}, BOOK, 0.0, c, RULES)))
    views["g5"] = filled(D("106"))  # slot 5 = [105, 106]: its sell at 106
    p = plan(g, views, BOOK, 0.0, c, RULES)
    assert [(a.slot, a.side, a.price) for a in placed(p)] == [(5, Side.BUY, D("105"))]
    g2, v2 = assign(p.grid, placed(p), prefix="h")
    views.update(v2)
    views["h5"] = filled(D("105"))
    p2 = plan(g2, views, BOOK, 0.0, c, RULES)
    assert p2.grid.round_trips == 1 and p2.grid.realized_pnl == D("0.1")


def test_inverse_round_trip_pnl_is_the_coin_pnl_valued_at_the_closing_price() -> None:
    pnl = round_trip_pnl(INVERSE, D("100"), D("125"), D("10"), D("125"))
    assert pnl == D("10") * (D(1) / 100 - D(1) / 125) * 125  # 0.02 coin x 125 = 2.5
    assert pnl == D("2.5")


def test_a_stale_feed_places_nothing_but_fills_are_still_booked() -> None:
    c = cfg()
    g0 = build(c, RULES, *BOOK)
    g, views = assign(g0, placed(plan(g0, {}, BOOK, 0.0, c, RULES)))
    views["g0"] = filled(D("100"))
    p = plan(g, views, None, 0.0, c, RULES)
    assert p.actions == () and p.grid.slots[0].side is Side.SELL and p.grid.fills == 1


def test_a_refused_order_is_retried_after_the_back_off_on_the_clock() -> None:
    c, clock = cfg(), Clock()
    g0 = build(c, RULES, *BOOK)
    g, views = assign(g0, placed(plan(g0, {}, BOOK, clock(), c, RULES)))
    views["g2"] = OrderView(OrderStatus.REJECTED, D(0), D(0), D(0))
    p = plan(g, views, BOOK, clock(), c, RULES)
    assert placed(p) == [] and [e.kind for e in p.events] == ["refused"]
    clock.t += RETRY_S - 0.1
    assert placed(plan(p.grid, views, BOOK, clock(), c, RULES)) == []
    clock.t += 0.2
    assert [(a.slot, a.price) for a in placed(plan(p.grid, views, BOOK, clock(), c, RULES))] == [(2, D("102"))]


def test_an_order_cancelled_by_someone_else_is_placed_again() -> None:
    c = cfg()
    g0 = build(c, RULES, *BOOK)
    g, views = assign(g0, placed(plan(g0, {}, BOOK, 0.0, c, RULES)))
    views["g1"] = OrderView(OrderStatus.CANCELLED, D(0), D(0), D(0))
    p = plan(g, views, BOOK, 0.0, c, RULES)
    assert [(a.slot, a.side, a.price) for a in placed(p)] == [(1, Side.BUY, D("101"))]
    assert [e.kind for e in p.events] == ["replaced"]


def test_after_a_restart_orders_the_engine_never_saw_go_again_under_the_same_id() -> None:
    c = cfg()
    g0 = build(c, RULES, *BOOK)
    g, views = assign(g0, placed(plan(g0, {}, BOOK, 0.0, c, RULES)))
    restored = Grid.from_json(g.to_json())  # what the runtime saved
    assert restored == g
    del views["g3"]  # its id was saved, the process died before the order was journaled
    p = plan(restored, views, BOOK, 0.0, c, RULES)
    assert [(a.slot, a.cl_order_id) for a in placed(p)] == [(3, "g3")]  # idempotent in the engine
    assert GridConfig.from_json(c.to_json()) == c


def test_dynamic_grid_recenters_after_threshold_levels() -> None:
    c = cfg(upper_price=None, lower_price=None, grid_range_percentage=D("10"), dynamic=True, recenter_threshold=3)
    book = (D("99.99"), D("100.01"))
    g0 = build(c, RULES, *book)  # 95 .. 105, step 1
    g, views = assign(g0, placed(plan(g0, {}, book, 0.0, c, RULES)))
    # 2.5 levels up: nothing
    p = plan(g, views, (D("102.49"), D("102.51")), 0.0, c, RULES)
    assert p.actions == () and not p.grid.recentering
    assert steps_from(D("102.5"), g.centre, g.lower, g.upper, c) == D("2.5")
    # 3 levels up: every order is cancelled
    moved = (D("102.99"), D("103.01"))
    p = plan(g, views, moved, 0.0, c, RULES)
    assert p.grid.recentering and {a.cl_order_id for a in p.actions if isinstance(a, Cancel)} == set(views)
    assert [e.kind for e in p.events] == ["recenter"]
    # while any is live it waits (the cancels already sent are not sent again)
    half = dict(views, **{k: OrderView(OrderStatus.CANCELLED, D(0), D(0), D(0)) for k in list(views)[:5]})
    p2 = plan(p.grid, half, moved, 0.0, c, RULES, cancelled=frozenset(views))
    assert p2.actions == () and p2.grid.recentering
    # all cancelled: rebuilt around 103 with the same width (98 .. 108), buys below, sells above
    done = {k: OrderView(OrderStatus.CANCELLED, D(0), D(0), D(0)) for k in views}
    p3 = plan(p2.grid, done, moved, 0.0, c, RULES, cancelled=frozenset(views))
    assert p3.grid.prices[0] == D("98") and p3.grid.prices[-1] == D("108") and p3.grid.recenters == 1
    assert not p3.grid.recentering and p3.grid.centre == D("103")
    assert [(a.side, a.price) for a in placed(p3)][:5] == [(Side.BUY, D(p)) for p in range(98, 103)]
    assert [e.kind for e in p3.events] == ["recentered"]
    # a static grid never recenters
    static = dataclasses.replace(c, dynamic=False)
    assert not plan(g, views, (D("110"), D("110.02")), 0.0, static, RULES).grid.recentering


def test_geometric_recenter_counts_ratio_steps() -> None:
    c = cfg(
        lower_price=D("100"),
        upper_price=D("400"),
        grid_levels=4,
        mode=Mode.GEOMETRIC,
        dynamic=True,
        recenter_threshold=1,
    )
    g = build(c, RULES, D("199"), D("201"))
    assert g.centre == D("200")
    assert steps_from(D("200") * D(4) ** (D(1) / 4), g.centre, g.lower, g.upper, c).quantize(D("0.0001")) == D("1")
    p = plan(g, {}, (D("290"), D("290.02")), 0.0, c, RULES)
    # nothing was live: rebuilt at once around 290.01 with the same ratio (x2 each way)
    assert p.grid.recenters == 1 and p.grid.prices[0] == D("145.00") and p.grid.prices[-1] == D("580.02")


def test_a_partial_fill_waits_and_a_partly_filled_order_cancelled_by_someone_else_is_traded_not_a_trip() -> None:
    c = cfg()
    g0 = build(c, RULES, *BOOK)
    g, views = assign(g0, placed(plan(g0, {}, BOOK, 0.0, c, RULES)))
    views["g4"] = OrderView(OrderStatus.PARTIALLYFILLED, D("0.04"), D("104"), D(0))
    p = plan(g, views, BOOK, 0.0, c, RULES)
    assert p.actions == () and p.grid == g  # a partial fill waits for the rest
    views["g4"] = OrderView(OrderStatus.CANCELLED, D("0.04"), D("104"), D("0.001"))
    p = plan(g, views, BOOK, 0.0, c, RULES)
    assert [(a.slot, a.side, a.price, a.qty) for a in placed(p)] == [(4, Side.BUY, D("104"), D("0.1"))]
    assert p.grid.traded_qty == D("0.04") and p.grid.fees == D("0.001") and p.grid.round_trips == 0
    assert p.grid.slots[4].open_price is None
    # the grid's own cancel (a recenter) is not reported as a replacement
    p2 = plan(g, views, BOOK, 0.0, c, RULES, cancelled=frozenset({"g4"}))
    assert [e.kind for e in p2.events] == []


def test_no_recenter_to_a_grid_the_instrument_refuses() -> None:
    # 100 +- 95: the grid rebuilt around 40 would reach below zero; the grid stays where it is
    c = cfg(
        lower_price=D("5"), upper_price=D("195"), grid_levels=19, order_qty=D("1"), dynamic=True, recenter_threshold=6
    )
    g = build(c, RULES, D("99.99"), D("100.01"))
    p = plan(g, {}, (D("39.99"), D("40.01")), 0.0, c, RULES)
    assert not p.grid.recentering and p.grid.recenters == 0 and p.grid.prices == g.prices
    assert len(placed(p)) == 19
