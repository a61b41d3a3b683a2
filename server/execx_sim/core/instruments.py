"""Instruments and their trading rules (each venue package lists its own, in its ``instruments.py``).

Rounding and rule checks live here, in one place: a price must be a multiple of ``tick`` inside
``[min_price, max_price]`` and inside the percent band around the reference price; a quantity a
multiple of ``lot`` inside ``[min_qty, max_qty]``; a limit order's notional at least
``min_notional``. Quantities of inverse (coin-margined) instruments are in contracts of
``contract_size`` quote-currency units.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

D = Decimal


class Kind(StrEnum):
    SPOT = "SPOT"
    LINEAR = "LINEAR"  # margined and settled in the quote currency (USDT)
    INVERSE = "INVERSE"  # margined and settled in the base coin, quantity in USD contracts
    OPTION = "OPTION"


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    base: str
    quote: str
    kind: Kind
    tick: Decimal
    lot: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    ref_price: Decimal  # where the synthetic market starts
    min_price: Decimal = D("0.01")
    max_price: Decimal = D("10000000")
    market_max_qty: Decimal | None = None
    percent_up: Decimal = D(5)  # limit price must be <= ref * percent_up
    percent_down: Decimal = D("0.2")  # limit price must be >= ref * percent_down
    contract_size: Decimal = D(1)
    settle: str = ""  # margin / settlement asset for derivatives
    pair: str = ""  # underlying pair of a COIN-M perpetual, e.g. BTCUSD
    # Fee rates (fraction of notional); negative maker = rebate.
    maker_fee: Decimal = D("0.001")
    taker_fee: Decimal = D("0.001")

    @property
    def price_precision(self) -> int:
        return max(0, -self.tick.normalize().as_tuple().exponent)  # type: ignore[operator]

    @property
    def qty_precision(self) -> int:
        return max(0, -self.lot.normalize().as_tuple().exponent)  # type: ignore[operator]

    @property
    def is_derivative(self) -> bool:
        return self.kind is not Kind.SPOT

    @property
    def margin_asset(self) -> str:
        if self.kind is Kind.SPOT:
            return self.quote
        return self.settle or (self.base if self.kind is Kind.INVERSE else self.quote)

    def on_tick(self, price: Decimal) -> bool:
        return price % self.tick == 0

    def on_lot(self, qty: Decimal) -> bool:
        return qty % self.lot == 0

    def notional(self, qty: Decimal, price: Decimal) -> Decimal:
        """Value in quote currency (inverse: USD value of the contracts)."""
        if self.kind is Kind.INVERSE:
            return qty * self.contract_size
        return qty * price

    def round_price(self, price: Decimal) -> Decimal:
        return (price / self.tick).to_integral_value() * self.tick

    def fmt_price(self, price: Decimal) -> str:
        return f"{price:.{self.price_precision}f}"

    def fmt_qty(self, qty: Decimal) -> str:
        return f"{qty:.{self.qty_precision}f}"
