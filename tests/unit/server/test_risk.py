"""Pre-trade risk checks (engine/risk.py) on a real session and journal, with a fake clock for the rate."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest
from execx_server.domain.enums import Exchange, OrderStatus, OrderType, Side, TimeInForce
from execx_server.domain.errors import ValidationError
from execx_server.domain.orders import Order
from execx_server.engine.bus import SessionBus
from execx_server.engine.journal import Journal
from execx_server.engine.risk import RISK, RiskControl, RiskLimits, RiskRefused
from execx_server.engine.sessions import Session


class Clock:
    def __init__(self) -> None:
        self.ns = 1_700_000_000_000_000_000

    def __call__(self) -> int:
        return self.ns


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "j.db")
    yield j
    asyncio.run(j.close())


def _session(journal: Journal, sid: str = "s1") -> Session:
    journal.add_session(sid, Exchange.BINANCE_SPOT.value, 0, {})
    return Session(sid, Exchange.BINANCE_SPOT, None, SessionBus(sid, journal))


def _order(
    cl: str, side: Side = Side.BUY, qty: str = "1", price: str | None = "100", kind: OrderType = OrderType.LIMIT
) -> Order:
    return Order(
        "s1",
        cl,
        Exchange.BINANCE_SPOT,
        "BTCUSDT",
        side,
        kind,
        TimeInForce.GTC,
        D(qty),
        D(price) if price is not None else None,
    )


def _open(session: Session, order: Order) -> Order:
    order.status = OrderStatus.NEW
    session.orders[order.cl_order_id] = order
    return order


def _refused(limit: str, call: object) -> str:
    assert callable(call)
    with pytest.raises(RiskRefused) as e:
        call()
    assert e.value.limit == limit
    assert limit in str(e.value)
    return str(e.value)


def test_no_limits_pass_everything(journal: Journal) -> None:
    risk, s = RiskControl(journal, Clock()), _session(journal)
    risk.check_insert(s, _order("a", qty="1000000", price="1"), None)


def test_order_qty_and_notional(journal: Journal) -> None:
    refused: list[tuple[str, str]] = []
    risk, s = RiskControl(journal, Clock()), _session(journal)
    risk.refusal_observers.append(lambda ex, limit: refused.append((ex, limit)))
    risk.set_limits(s, RiskLimits(max_order_qty=D("2"), max_order_notional=D("500")))
    risk.check_insert(s, _order("a", qty="2", price="250"), None)  # at both limits: allowed
    _refused("maxOrderQty", lambda: risk.check_insert(s, _order("b", qty="2.001", price="1"), None))
    _refused("maxOrderNotional", lambda: risk.check_insert(s, _order("c", qty="2", price="250.01"), None))
    # a market order is valued at the mid; without one it is refused
    market = _order("d", qty="1", price=None, kind=OrderType.MARKET)
    risk.check_insert(s, market, D("499"))
    _refused("maxOrderNotional", lambda: risk.check_insert(s, market, D("501")))
    msg = _refused("maxOrderNotional", lambda: risk.check_insert(s, market, None))
    assert "no fresh market-data mid" in msg
    assert refused == [("binance-spot", "maxOrderQty")] + [("binance-spot", "maxOrderNotional")] * 3


def test_open_orders(journal: Journal) -> None:
    risk, s = RiskControl(journal, Clock()), _session(journal)
    risk.set_limits(s, RiskLimits(max_open_orders=2))
    _open(s, _order("a"))
    risk.check_insert(s, _order("b"), None)
    _open(s, _order("b"))
    _refused("maxOpenOrders", lambda: risk.check_insert(s, _order("c"), None))
    s.orders["a"].status = OrderStatus.FILLED  # a final order no longer counts
    risk.check_insert(s, _order("c"), None)


def test_position_long_and_short_count_open_orders(journal: Journal) -> None:
    risk, s = RiskControl(journal, Clock()), _session(journal)
    risk.set_limits(s, RiskLimits(max_position_long=D("5"), max_position_short=D("3")))
    s.positions.qty["BTCUSDT"] = D("2")
    _open(s, _order("a", Side.BUY, qty="2"))
    risk.check_insert(s, _order("b", Side.BUY, qty="1"), None)  # 2 + 2 + 1 = 5
    _refused("maxPositionLong", lambda: risk.check_insert(s, _order("b", Side.BUY, qty="1.5"), None))
    risk.check_insert(s, _order("c", Side.SELL, qty="5"), None)  # 2 - 5 = -3
    _refused("maxPositionShort", lambda: risk.check_insert(s, _order("c", Side.SELL, qty="5.1"), None))
    # another symbol has its own position
    other = _order("d", Side.BUY, qty="5")
    other.symbol = "ETHUSDT"
    risk.check_insert(s, other, None)
    # an amend counts the order's new remaining quantity instead of its old one
    a = s.orders["a"]
    risk.check_amend(s, a, D("3"), a.price, None)  # 2 + 3
    _refused("maxPositionLong", lambda: risk.check_amend(s, a, D("3.5"), a.price, None))
    a.cum_filled = D("1")  # 1 filled (already in the position count of a real session): remaining 2.5
    risk.check_amend(s, a, D("3.5"), a.price, None)


def test_price_band(journal: Journal) -> None:
    risk, s = RiskControl(journal, Clock()), _session(journal)
    risk.set_limits(s, RiskLimits(price_band_pct=D("5")))
    mid = D("100")
    risk.check_insert(s, _order("a", Side.BUY, price="105"), mid)
    _refused("priceBand", lambda: risk.check_insert(s, _order("a", Side.BUY, price="105.01"), mid))
    risk.check_insert(s, _order("a", Side.SELL, price="95"), mid)
    _refused("priceBand", lambda: risk.check_insert(s, _order("a", Side.SELL, price="94.99"), mid))
    risk.check_insert(s, _order("a", Side.BUY, price="1"), mid)  # far from crossing: allowed
    msg = _refused("priceBand", lambda: risk.check_insert(s, _order("a", Side.BUY, price="100"), None))
    assert "no fresh market-data mid" in msg
    risk.check_insert(s, _order("m", price=None, kind=OrderType.MARKET), None)  # no price, no band
    # an amend is checked on a new price only
    a = _open(s, _order("b", Side.BUY, price="104"))
    risk.check_amend(s, a, D("2"), D("104"), D("90"))
    _refused("priceBand", lambda: risk.check_amend(s, a, D("1"), D("103"), D("90")))


def test_order_rate_window_with_fake_clock(journal: Journal) -> None:
    clock = Clock()
    risk, s = RiskControl(journal, clock), _session(journal)
    risk.set_limits(s, RiskLimits(max_orders_per_second=3, max_order_qty=D("10")))
    for i in range(3):
        risk.check_insert(s, _order(f"a{i}"), None)
        clock.ns += 100_000_000
    _refused("maxOrdersPerSecond", lambda: risk.check_insert(s, _order("x"), None))
    # a refusal by another limit does not use the budget
    _refused("maxOrderQty", lambda: risk.check_insert(s, _order("y", qty="11"), None))
    clock.ns += 700_000_000  # the first one is now a second old
    risk.check_insert(s, _order("b"), None)
    _refused("maxOrdersPerSecond", lambda: risk.check_insert(s, _order("x"), None))
    a = _open(s, _order("a0"))
    _refused("maxOrdersPerSecond", lambda: risk.check_amend(s, a, D("2"), a.price, None))  # amends count
    clock.ns += 1_000_000_000
    risk.check_amend(s, a, D("2"), a.price, None)


def test_kill_switch_refuses_everything_and_restores(journal: Journal) -> None:
    risk, s = RiskControl(journal, Clock()), _session(journal)
    risk.set_limits(s, RiskLimits(max_order_qty=D("7")))
    state = risk.state("s1")
    state.killed, state.reason = True, "desk halt"
    risk._publish(s, "killSwitchEngaged", "session", [])
    msg = _refused("killSwitch", lambda: risk.check_insert(s, _order("a"), None))
    assert "desk halt" in msg
    a = _open(s, _order("b"))
    _refused("killSwitch", lambda: risk.check_amend(s, a, D("1"), a.price, None))
    last = journal.last_record("s1", RISK)
    assert last is not None and isinstance(last.payload, dict) and last.payload["killSwitch"] is True
    # a restart: a new control reads the journal back
    again = RiskControl(journal, Clock())
    again.restore(["s1"])
    assert again.state("s1").killed and again.state("s1").limits == RiskLimits(max_order_qty=D("7"))
    _refused("killSwitch", lambda: again.check_insert(s, _order("a"), None))
    # the global switch
    other = RiskControl(journal, Clock())
    other.global_killed, other.global_reason = True, "all stop"
    assert "global" in _refused("killSwitch", lambda: other.check_insert(s, _order("a"), None))


def test_limits_validation_and_json_round_trip() -> None:
    with pytest.raises(ValidationError, match="maxOrderQty"):
        RiskLimits(max_order_qty=D("0"))
    with pytest.raises(ValidationError, match="priceBandPct"):
        RiskLimits(price_band_pct=D("100"))
    with pytest.raises(ValidationError, match="maxOpenOrders"):
        RiskLimits(max_open_orders=-1)
    full = RiskLimits(D("1.5"), D("1000"), 4, D("2"), D("3"), D("0.5"), 20)
    assert RiskLimits.from_json(full.to_json()) == full
    assert RiskLimits().empty and not full.empty
