"""Instrument trading rules and the one place where prices and quantities are rounded.

Rounding rule (documented in the README): a limit price that is not a multiple of the tick is
rounded **towards the passive side** (buy prices down, sell prices up), so rounding never makes an
order more aggressive than the client asked; a quantity is rounded **down** to the lot, so an order
is never larger than asked. After rounding, a quantity below the minimum, or a notional below the
venue's minimum, is refused with INVALID_ARGUMENT naming ``qty``; nothing is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .enums import Exchange, Side
from .errors import ValidationError


@dataclass(frozen=True, slots=True)
class InstrumentRules:
    exchange: Exchange
    symbol: str
    tick: Decimal
    lot: Decimal
    min_qty: Decimal
    max_qty: Decimal | None = None
    min_notional: Decimal = Decimal(0)
    contract_size: Decimal = Decimal(1)
    inverse: bool = False  # quantity in contracts of ``contract_size`` quote units

    def round_price(self, price: Decimal, side: Side) -> Decimal:
        rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
        return (price / self.tick).to_integral_value(rounding) * self.tick

    def round_qty(self, qty: Decimal) -> Decimal:
        return (qty / self.lot).to_integral_value(ROUND_FLOOR) * self.lot

    def notional(self, qty: Decimal, price: Decimal) -> Decimal:
        return qty * self.contract_size if self.inverse else qty * price

    def normalise(self, side: Side, qty: Decimal, price: Decimal | None) -> tuple[Decimal, Decimal | None]:
        """Round ``qty`` and ``price`` to the rules and check them; raises ``ValidationError``."""
        if qty <= 0:
            raise ValidationError("qty", "must be positive")
        rounded_qty = self.round_qty(qty)
        if rounded_qty < self.min_qty:
            raise ValidationError("qty", f"{qty} is below the minimum {self.min_qty} of {self.symbol} (lot {self.lot})")
        if self.max_qty is not None and rounded_qty > self.max_qty:
            raise ValidationError("qty", f"{qty} is above the maximum {self.max_qty} of {self.symbol}")
        rounded_price: Decimal | None = None
        if price is not None:
            if price <= 0:
                raise ValidationError("price", "must be positive")
            rounded_price = self.round_price(price, side)
            if rounded_price <= 0:
                raise ValidationError("price", f"{price} rounds to zero with tick {self.tick}")
            if self.min_notional and self.notional(rounded_qty, rounded_price) < self.min_notional:
                raise ValidationError(
                    "qty",
                    f"notional {self.notional(rounded_qty, rounded_price)} is below the minimum "
                    f"{self.min_notional} of {self.symbol}",
                )
        return rounded_qty, rounded_price
