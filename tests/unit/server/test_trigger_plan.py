"""The trigger rule: direction from the aggressor (seed 000's field reference), at or beyond the level."""

from __future__ import annotations

from decimal import Decimal

import pytest
from execx_server.domain.enums import Side
from execx_server.managers.trigger_plan import Direction, Level, due, fires

D = Decimal
UP = Level("u", D("1020"), Direction.UP)
DOWN = Level("d", D("1020"), Direction.DOWN)


@pytest.mark.parametrize(
    ("level", "price", "aggressor", "expected"),
    [
        (UP, "1020", Side.BUY, True),  # at the level
        (UP, "1025.5", Side.BUY, True),  # gapped through it upwards
        (UP, "1019.99", Side.BUY, False),  # short of it
        (UP, "1020", Side.SELL, False),  # a seller never fires "up"
        (UP, "2000", Side.SELL, False),
        (DOWN, "1020", Side.SELL, True),
        (DOWN, "1000", Side.SELL, True),  # gapped through it downwards
        (DOWN, "1020.01", Side.SELL, False),
        (DOWN, "1020", Side.BUY, False),  # a buyer never fires "down"
        (DOWN, "10", Side.BUY, False),
    ],
)
def test_fires(level: Level, price: str, aggressor: Side, expected: bool) -> None:
    assert fires(level, D(price), aggressor) is expected


def test_due_keeps_the_order_the_triggers_were_set_in() -> None:
    levels = [Level("a", D("100"), Direction.UP), Level("b", D("90"), Direction.UP), UP, DOWN]
    assert due(levels, D("100"), Side.BUY) == ["a", "b"]
    assert due(levels, D("1020"), Side.SELL) == ["d"]
    assert due([], D("1"), Side.BUY) == []
