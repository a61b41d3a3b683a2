"""execx_server.domain: exact numbers, the rounding rule, client-id rules and the order state machine."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from execx_server.domain.enums import Exchange, OrderStatus, OrderType, Side, TimeInForce
from execx_server.domain.errors import InvalidTransition, ValidationError
from execx_server.domain.instruments import InstrumentRules
from execx_server.domain.numbers import from_double, to_wire
from execx_server.domain.orders import CLIENT_ID_RULES, TRANSITIONS, FillReport, Order

BTC = InstrumentRules(
    Exchange.BINANCE_SPOT, "BTCUSDT", tick=D("0.01"), lot=D("0.00001"), min_qty=D("0.00001"), min_notional=D("5")
)
COINM = InstrumentRules(
    Exchange.BINANCE_COINM_FUTURE,
    "BTCUSD_PERP",
    tick=D("0.1"),
    lot=D(1),
    min_qty=D(1),
    contract_size=D(100),
    inverse=True,
)


def test_double_becomes_the_decimal_the_client_meant() -> None:
    assert from_double(124.2, "price") == D("124.2")
    assert from_double(0.1 + 0.2, "price") == D("0.30000000000000004")  # what the client actually sent
    assert from_double(1e-05, "qty") == D("0.00001")
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValidationError) as e:
            from_double(bad, "price")
        assert e.value.field == "price"


def test_wire_strings_have_no_exponent() -> None:
    assert to_wire(D("0.00001")) == "0.00001"
    assert to_wire(D("1E+2")) == "100"
    assert to_wire(D("97000.10")) == "97000.1"
    assert to_wire(D("0E-8")) == "0"


def test_prices_round_towards_the_passive_side_and_qty_down() -> None:
    assert BTC.normalise(Side.BUY, D("0.123456"), D("97000.019")) == (D("0.12345"), D("97000.01"))
    assert BTC.normalise(Side.SELL, D("0.123456"), D("97000.011")) == (D("0.12345"), D("97000.02"))
    assert BTC.normalise(Side.BUY, D("1"), None) == (D("1"), None)


@pytest.mark.parametrize(
    ("rules", "side", "qty", "price", "field", "words"),
    [
        (BTC, Side.BUY, D(0), D(100), "qty", "positive"),
        (BTC, Side.BUY, D("-1"), D(100), "qty", "positive"),
        (BTC, Side.BUY, D("0.000001"), D(100), "qty", "below the minimum"),
        (BTC, Side.BUY, D("0.0001"), D(100), "qty", "notional"),
        (BTC, Side.BUY, D("1"), D(0), "price", "positive"),
        (BTC, Side.BUY, D("1"), D("0.001"), "price", "rounds to zero"),
    ],
)
def test_bad_quantities_and_prices_name_the_field(
    rules: InstrumentRules, side: Side, qty: D, price: D, field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as e:
        rules.normalise(side, qty, price)
    assert e.value.field == field
    assert words in e.value.reason


def test_inverse_notional_is_contracts_times_size() -> None:
    assert COINM.notional(D(3), D("97000")) == D(300)


def test_client_id_rules_per_venue() -> None:
    CLIENT_ID_RULES[Exchange.BINANCE_SPOT].check("cl-abcd_1")
    CLIENT_ID_RULES[Exchange.BINANCE_USDM_FUTURE].check("a.b:c/d")
    for exchange, bad in [
        (Exchange.BINANCE_SPOT, "a.b"),
        (Exchange.BINANCE_SPOT, "x" * 37),
        (Exchange.OKX, "cl-1"),
        (Exchange.BINANCE_SPOT, ""),
    ]:
        with pytest.raises(ValidationError) as e:
            CLIENT_ID_RULES[exchange].check(bad)
        assert e.value.field == "clOrderId"


def order(qty: str = "1") -> Order:
    return Order(
        "s", "cl-1", Exchange.BINANCE_SPOT, "BTCUSDT", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, D(qty), D("100")
    )


def test_fills_count_once_and_drive_the_status() -> None:
    o = order("1")
    o.move_to(OrderStatus.NEW)
    assert o.apply_fill(FillReport("t1", D("0.4"), D("100"), None, 0))
    assert o.status is OrderStatus.PARTIALLYFILLED
    assert not o.apply_fill(FillReport("t1", D("0.4"), D("100"), None, 0))  # replayed after a reconnect
    assert o.cum_filled == D("0.4")
    assert o.apply_fill(FillReport("t2", D("0.6"), D("101"), None, 0))
    assert o.status is OrderStatus.FILLED
    assert o.avg_price == D("100.6")
    assert o.remaining == 0


def test_impossible_transitions_are_refused() -> None:
    o = order()
    o.move_to(OrderStatus.NEW)
    o.move_to(OrderStatus.CANCELLED)
    with pytest.raises(InvalidTransition):
        o.move_to(OrderStatus.NEW)
    assert all(not TRANSITIONS[s] for s in OrderStatus if s.is_final)
    assert OrderStatus.REJECTED not in TRANSITIONS[OrderStatus.NEW]  # a live order is never "rejected" later


def test_a_fill_reported_after_the_cancel_counts_and_the_order_stays_cancelled() -> None:
    # it traded before the venue cancelled the rest; the stream's fill came after the cancel's answer
    o = order()
    o.move_to(OrderStatus.NEW)
    o.move_to(OrderStatus.CANCELLED)
    assert o.apply_fill(FillReport("t9", D("0.4"), D("100"), None, 0))
    assert not o.apply_fill(FillReport("t9", D("0.4"), D("100"), None, 0))
    assert (o.status, o.cum_filled, o.remaining) == (OrderStatus.CANCELLED, D("0.4"), 0)


def test_not_sent_orders_revive_and_others_do_not() -> None:
    o = order()
    with pytest.raises(InvalidTransition):
        o.revive()
    o.mark_not_sent("not sent: the venue has no record of this order")
    assert (o.status, o.not_sent) == (OrderStatus.REJECTED, True)
    o.revive()
    assert (o.status, o.not_sent, o.message) == (OrderStatus.PENDINGNEW, False, "")


def test_same_request_detects_idempotent_retries() -> None:
    assert order().same_request(order())
    assert not order("2").same_request(order())
