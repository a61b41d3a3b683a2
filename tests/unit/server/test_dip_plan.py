"""The dip buyer's pure rule: the sliding high, the dip threshold, cooldown and maxLongPos."""

from __future__ import annotations

from decimal import Decimal

from execx_server.domain.enums import Exchange
from execx_server.domain.instruments import InstrumentRules
from execx_server.managers.dip_plan import DipConfig, Window, decide

D = Decimal
RULES = InstrumentRules(Exchange.BINANCE_SPOT, "BTCUSDT", D("0.01"), D("0.001"), D("0.001"))
CFG = DipConfig(D("1"), D("0.1"), D("0.25"), 60.0, 10.0)


def test_window_is_the_high_of_the_last_period() -> None:
    w = Window(10.0)
    assert w.high(0.0) is None
    w.add(0.0, D("100"))
    w.add(5.0, D("90"))
    w.add(6.0, D("95"))
    assert w.high(6.0) == D("100")
    assert w.high(10.0) == D("100")  # exactly the period: still in
    assert w.high(10.5) == D("95")  # the 100 at t=0 left the window
    assert w.high(16.5) is None


def test_buys_at_or_below_the_threshold_only() -> None:
    high = D("100")
    assert decide(high, D("99.01"), D(0), D(0), 100.0, None, CFG, RULES).qty == 0
    assert decide(high, D("99"), D(0), D(0), 100.0, None, CFG, RULES).qty == D("0.1")  # exactly 1 %
    assert decide(high, D("80"), D(0), D(0), 100.0, None, CFG, RULES).qty == D("0.1")
    assert decide(None, D("1"), D(0), D(0), 100.0, None, CFG, RULES).reason == "no trade in the window yet"


def test_cooldown_between_buys() -> None:
    assert decide(D("100"), D("90"), D(0), D(0), 105.0, 100.0, CFG, RULES).reason == "cooldown"
    assert decide(D("100"), D("90"), D(0), D(0), 110.0, 100.0, CFG, RULES).qty == D("0.1")


def test_never_above_max_long_pos() -> None:
    # 0.2 held: 0.05 room left, bought as the last (smaller) clip; what is in flight counts too
    assert decide(D("100"), D("90"), D("0.2"), D(0), 0.0, None, CFG, RULES).qty == D("0.05")
    assert decide(D("100"), D("90"), D("0.2"), D("0.05"), 0.0, None, CFG, RULES).reason == "maxLongPos reached"
    assert decide(D("100"), D("90"), D("0.2495"), D(0), 0.0, None, CFG, RULES).reason == "maxLongPos reached"
    assert decide(D("100"), D("90"), D("0.3"), D(0), 0.0, None, CFG, RULES).qty == 0
