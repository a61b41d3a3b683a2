"""The TWAP/VWAP schedule (managers/smart_plan.py): pure functions over a given clock."""

from __future__ import annotations

from decimal import Decimal

import pytest
from execx_server.domain.enums import Side
from execx_server.domain.errors import ValidationError
from execx_server.managers.smart_plan import (
    NS,
    Algorithm,
    SmartConfig,
    check_limit,
    child_price,
    due,
    parse_span,
    step,
    twap_target,
    vwap_slice,
)

D = Decimal
LOT = D("0.001")


def cfg(**kw: object) -> SmartConfig:
    base: dict[str, object] = dict(
        algorithm=Algorithm.TWAP, side=Side.BUY, symbol="X", amount=D("0.1"), start_ns=0, duration_s=10, interval_s=2
    )
    base.update(kw)
    return SmartConfig(**base)  # type: ignore[arg-type]


def test_spans() -> None:
    assert [parse_span(t, "f") for t in ("30SEC", "5min", "1HRS", "1DAY", "2 hours", "3MINS")] == [
        30,
        300,
        3600,
        86_400,
        7200,
        180,
    ]
    for bad in ("", "5", "MIN", "0SEC", "-1MIN", "5 fortnights", "1.5MIN", "367DAY", "99999999999999999DAY"):
        with pytest.raises(ValidationError) as e:
            parse_span(bad, "parameters.duration")
        assert e.value.field == "parameters.duration"


def test_slices_follow_the_seed_pseudocode() -> None:
    c = cfg()  # 10 s / 2 s: iterationCount = 6, at 0, 2, ..., 10 s
    assert c.count == 6 and c.end_ns == 10 * NS
    assert [c.slice_at(t * NS) for t in (-1, 0, 1, 2, 9, 10, 60)] == [-1, 0, 0, 1, 4, 5, 5]
    assert c.slice_ns(5) == c.end_ns


def test_twap_targets_are_even_on_the_lot_and_end_exactly() -> None:
    c = cfg(amount=D("0.1"))
    targets = [twap_target(c, i, LOT) for i in range(c.count)]
    assert targets == [D("0.016"), D("0.033"), D("0.05"), D("0.066"), D("0.083"), D("0.1")]
    assert twap_target(c, -1, LOT) == 0
    replanned = c.replan(4 * NS, 10 * NS, 2, D("0.2"), D("0.04"), None)  # 0.04 filled, 0.16 left over 6 s
    assert replanned.count == 4 and twap_target(replanned, 0, LOT) == D("0.08")
    assert twap_target(replanned, 3, LOT) == D("0.2")


def test_vwap_follows_the_measured_volume() -> None:
    c = cfg(algorithm=Algorithm.VWAP, amount=D("1"), duration_s=4, interval_s=1)  # 5 slices
    assert vwap_slice(c, 0, D(0), [D(0)], LOT) == D("0.2")  # nothing measured: TWAP's share
    # slice 2 with volumes 1 then 3: 3 / (3 + mean(1, 3) * 2) of what remains
    assert vwap_slice(c, 2, D("0.4"), [D(0), D(1), D(3)], LOT) == D("0.257")
    assert vwap_slice(c, 4, D("0.9"), [D(0), D(1), D(3), D(1), D(1)], LOT) == D("0.1")  # the last: all
    capped = cfg(algorithm=Algorithm.VWAP, amount=D("1"), duration_s=4, interval_s=1, safety_threshold=D("0.1"))
    assert vwap_slice(capped, 1, D(0), [D(0), D(1)], LOT) == D("0.1")


def test_taker_sends_the_deficit_and_maker_crosses_only_what_is_overdue() -> None:
    taker = cfg()
    assert step(D("0.05"), D("0.05"), D("0.02"), taker, LOT, LOT).cross == D("0.03")
    assert step(D("0.05"), D("0.05"), D("0.0495"), taker, LOT, LOT).cross == 0  # below the minimum: waits
    maker = cfg(maker=True)
    s = step(D("0.05"), D("0.033"), D("0.033"), maker, LOT, LOT)
    assert (s.cross, s.rest) == (0, D("0.017"))
    s = step(D("0.05"), D("0.033"), D("0.02"), maker, LOT, LOT)
    assert (s.cross, s.rest) == (D("0.013"), D("0.017"))
    lenient = cfg(maker=True, max_behind=D("0.02"))
    assert step(D("0.05"), D("0.033"), D("0.02"), lenient, LOT, LOT).cross == 0
    assert due([D(1), D(2), D(3)], 1, 3, maker=True) == 1 and due([D(1), D(2), D(3)], 2, 3, maker=True) == 3
    assert due([D(1), D(2), D(3)], 1, 3, maker=False) == 2


def test_prices_and_the_limit() -> None:
    assert child_price(Side.BUY, D(99), D(101), True, None) == 101
    assert child_price(Side.BUY, D(99), D(101), False, None) == 99
    assert child_price(Side.BUY, D(99), D(101), True, D(100)) is None  # the ask is beyond the limit
    assert child_price(Side.SELL, D(99), D(101), True, D(98)) == 99
    assert child_price(Side.SELL, D(99), D(101), False, D(102)) == 102
    check_limit(Side.BUY, D(99), D(99), D(101), "f")
    with pytest.raises(ValidationError):
        check_limit(Side.BUY, D(98), D(99), D(101), "parameters.limit_price")
    with pytest.raises(ValidationError):
        check_limit(Side.SELL, D(102), D(99), D(101), "parameters.limit_price")
