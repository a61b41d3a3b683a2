"""The contingent orders' trigger rule (managers/contingent_plan.py), pure: directions per kind and side,
gap-through, and the trailing stop's level following the best price and only ever tightening."""

from __future__ import annotations

from decimal import Decimal

import pytest
from execx_server.domain.enums import Side
from execx_server.managers.contingent_plan import Kind, TriggerState, observe

D = Decimal


@pytest.mark.parametrize(
    ("kind", "side", "below", "at", "beyond"),
    [
        (Kind.STOP, Side.BUY, "99", "100", "105"),  # a buy stop fires rising
        (Kind.STOP, Side.SELL, "101", "100", "95"),  # a sell stop fires falling
        (Kind.TAKEPROFIT, Side.BUY, "101", "100", "95"),  # a buy take-profit fires falling
        (Kind.TAKEPROFIT, Side.SELL, "99", "100", "105"),  # a sell take-profit fires rising
    ],
)
def test_directions_and_gap_through(kind: Kind, side: Side, below: str, at: str, beyond: str) -> None:
    state = TriggerState(kind, side, D(100))
    assert observe(state, D(below))[0] is False
    assert observe(state, D(at))[0] is True
    assert observe(state, D(beyond))[0] is True  # a print that gapped through the level


def test_trailing_sell_follows_the_high_and_never_loosens() -> None:
    s = TriggerState(Kind.TRAILINGSTOP, Side.SELL, None, amount=D(10))
    fired, s = observe(s, D(100))  # the first price only arms it
    assert not fired and s.level == D(90)
    fired, s = observe(s, D(120))
    assert not fired and s.level == D(110) and s.best == D(120)
    fired, s = observe(s, D(115))  # a dip above the level: the level stays
    assert not fired and s.level == D(110)
    fired, s = observe(s, D(110))
    assert fired


def test_trailing_buy_percent_follows_the_low() -> None:
    s = TriggerState(Kind.TRAILINGSTOP, Side.BUY, None, percent=D(1))
    _, s = observe(s, D(200))
    assert s.level == D(202)
    fired, s = observe(s, D(100))
    assert not fired and s.level == D(101)
    assert observe(s, D("100.5"))[0] is False
    assert observe(s, D(101))[0] is True


def test_trailing_with_a_start_level_never_loosens_below_it() -> None:
    s = TriggerState(Kind.TRAILINGSTOP, Side.SELL, D(95), amount=D(10))
    fired, s = observe(s, D(100))  # 100 - 10 = 90 is looser than 95: 95 stays
    assert not fired and s.level == D(95)
    fired, s = observe(s, D(110))
    assert not fired and s.level == D(100)
    assert observe(s, D(94))[0] is True
