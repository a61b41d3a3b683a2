"""The algorithms' shared PnL book (managers/pnl.py): average cost, partial and flipping closes, fees,
inverse contracts, unrealised at a mark, and its JSON round trip."""

from __future__ import annotations

from decimal import Decimal

from execx_server.domain.enums import Exchange, Side
from execx_server.domain.instruments import InstrumentRules
from execx_server.managers.grid_plan import round_trip_pnl
from execx_server.managers.pnl import Book

D = Decimal
RULES = InstrumentRules(Exchange.BINANCE_SPOT, "BTCUSDT", D("0.01"), D("0.001"), D("0.001"))
INVERSE = InstrumentRules(
    Exchange.BYBIT_INVERSE, "BTCUSD", D("0.5"), D("1"), D("1"), contract_size=D("100"), inverse=True
)


def test_average_cost_then_partial_close() -> None:
    b = Book(RULES)
    b.fill(Side.BUY, D("1"), D("100"), fee=D("0.1"))
    b.fill(Side.BUY, D("3"), D("104"), fee=D("0.3"))
    assert (b.qty, b.avg_price) == (D("4"), D("103"))
    assert b.unrealised(D("105")) == D("8")
    assert b.fill(Side.SELL, D("1"), D("110"), fee=D("0.2")) == D("7")
    assert (b.qty, b.avg_price, b.gross, b.fees) == (D("3"), D("103"), D("7"), D("0.6"))
    assert b.realised() == D("6.4")
    assert b.unrealised(D("100")) == D("-9")
    assert b.unrealised(None) is None


def test_short_flip_and_flat() -> None:
    b = Book(RULES)
    b.fill(Side.SELL, D("2"), D("110"))
    assert b.qty == D("-2") and b.unrealised(D("100")) == D("20")
    assert b.fill(Side.BUY, D("3"), D("100")) == D("20")  # closes 2, opens 1 long at 100
    assert (b.qty, b.avg_price) == (D("1"), D("100"))
    b.fill(Side.SELL, D("1"), D("99"))
    assert (b.qty, b.avg_price, b.gross) == (D("0"), D("0"), D("19"))
    assert b.unrealised(D("123")) == D("0")


def test_inverse_matches_the_grid_round_trip() -> None:
    b = Book(INVERSE)
    b.fill(Side.BUY, D("10"), D("50000"))
    b.fill(Side.BUY, D("10"), D("40000"))
    # the harmonic average: 20 contracts of 100 USD cost 0.045 coin
    assert b.avg_price.quantize(D("0.0001")) == D("44444.4444")
    made = b.fill(Side.SELL, D("20"), D("60000"))
    want = round_trip_pnl(INVERSE, D("50000"), D("60000"), D("10"), D("60000")) + round_trip_pnl(
        INVERSE, D("40000"), D("60000"), D("10"), D("60000")
    )
    assert abs(made - want) < D("1e-20")


def test_json_round_trip() -> None:
    b = Book(RULES)
    b.fill(Side.BUY, D("1.5"), D("100.25"), fee=D("0.01"))
    assert Book.from_json(RULES, b.to_json()) == b
