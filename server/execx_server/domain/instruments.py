"""Instrument trading rules and the one place where prices and quantities are rounded and checked.

Rounding rule (documented in the README): a limit price that is not a multiple of the tick is
rounded **towards the passive side** (buy prices down, sell prices up), so rounding never makes an
order more aggressive than the client asked; a quantity is rounded **down** to the lot, so an order
is never larger than asked.

Limits, checked after rounding; a breach is refused with ``ValidationError`` naming ``qty`` or
``price`` and the limit, and nothing is sent:

- quantity: at least ``min_qty``; at most ``max_qty`` (a limit order) or ``market_max_qty`` (a market
  order, i.e. no price, where the venue has a separate maximum; else ``max_qty``);
- price: at least ``min_price`` and at most ``max_price`` (the venue's static price filter);
- notional (``notional()``; priced orders only): at least ``min_notional``, at most ``max_notional``;
- percent band (``band``): only when the caller passes the market's ``reference`` price, since the
  band moves with the market (Binance PERCENT_PRICE / PERCENT_PRICE_BY_SIDE).

A limit that is ``None`` (or a zero minimum) is one the venue does not publish.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .enums import Exchange, Side
from .errors import ValidationError


def plain(value: Decimal) -> str:
    """``value`` as a plain decimal string (``1E+7`` -> ``10000000``) for messages."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True, slots=True)
class PriceBand:
    """A limit price must lie within ``[reference * down, reference * up]`` of its side, where the
    reference is the venue's current (average or mark) price: Binance spot PERCENT_PRICE_BY_SIDE
    (``bidMultiplierUp/Down``, ``askMultiplierUp/Down``), futures PERCENT_PRICE (one pair for both)."""

    buy_up: Decimal
    buy_down: Decimal
    sell_up: Decimal
    sell_down: Decimal

    @classmethod
    def symmetric(cls, up: Decimal, down: Decimal) -> PriceBand:
        return cls(up, down, up, down)

    def limits(self, side: Side, reference: Decimal) -> tuple[Decimal, Decimal]:
        if side is Side.BUY:
            return reference * self.buy_down, reference * self.buy_up
        return reference * self.sell_down, reference * self.sell_up


@dataclass(frozen=True, slots=True)
class InstrumentRules:
    exchange: Exchange
    symbol: str
    tick: Decimal
    lot: Decimal
    min_qty: Decimal
    max_qty: Decimal | None = None  # limit orders (and market orders without market_max_qty)
    min_notional: Decimal = Decimal(0)
    contract_size: Decimal = Decimal(1)
    inverse: bool = False  # quantity in contracts of ``contract_size`` quote units
    market_max_qty: Decimal | None = None  # market orders, where the venue has a separate maximum
    min_price: Decimal = Decimal(0)
    max_price: Decimal | None = None
    max_notional: Decimal | None = None  # priced orders
    band: PriceBand | None = None  # needs the market's reference price (see ``normalise``)

    def round_price(self, price: Decimal, side: Side) -> Decimal:
        rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
        return (price / self.tick).to_integral_value(rounding) * self.tick

    def round_qty(self, qty: Decimal) -> Decimal:
        return (qty / self.lot).to_integral_value(ROUND_FLOOR) * self.lot

    def notional(self, qty: Decimal, price: Decimal) -> Decimal:
        return qty * self.contract_size if self.inverse else qty * price

    def normalise(
        self, side: Side, qty: Decimal, price: Decimal | None, reference: Decimal | None = None
    ) -> tuple[Decimal, Decimal | None]:
        """Round ``qty`` and ``price`` to the rules and check every limit; raises ``ValidationError``
        naming ``qty`` or ``price``. ``price`` None is a market order (its own maximum quantity, no
        price or notional check). ``reference``: the market's current price, for the percent band."""
        if qty <= 0:
            raise ValidationError("qty", "must be positive")
        rounded_qty = self.round_qty(qty)
        if rounded_qty < self.min_qty:
            raise ValidationError(
                "qty", f"{qty} is below the minimum {plain(self.min_qty)} for {self.symbol} (lot {plain(self.lot)})"
            )
        max_qty = self.market_max_qty if price is None and self.market_max_qty is not None else self.max_qty
        if max_qty is not None and rounded_qty > max_qty:
            kind = "market order " if price is None and self.market_max_qty is not None else ""
            raise ValidationError("qty", f"{qty} is above the {kind}maximum {plain(max_qty)} for {self.symbol}")
        if price is None:
            return rounded_qty, None
        if price <= 0:
            raise ValidationError("price", "must be positive")
        rounded_price = self.round_price(price, side)
        if rounded_price <= 0:
            raise ValidationError("price", f"{price} rounds to zero with tick {plain(self.tick)}")
        if rounded_price < self.min_price:
            raise ValidationError("price", f"{price} is below the minimum {plain(self.min_price)} for {self.symbol}")
        if self.max_price is not None and rounded_price > self.max_price:
            raise ValidationError("price", f"{price} is above the maximum {plain(self.max_price)} for {self.symbol}")
        if self.band is not None and reference is not None and reference > 0:
            low, high = self.band.limits(side, reference)
            if rounded_price < low or rounded_price > high:
                raise ValidationError(
                    "price",
                    f"{price} is outside the {side.value} band [{plain(low)}, {plain(high)}] around the market "
                    f"price {plain(reference)} for {self.symbol}",
                )
        notional = self.notional(rounded_qty, rounded_price)
        if self.min_notional and notional < self.min_notional:
            raise ValidationError(
                "qty", f"notional {plain(notional)} is below the minimum {plain(self.min_notional)} for {self.symbol}"
            )
        if self.max_notional is not None and notional > self.max_notional:
            raise ValidationError(
                "qty", f"notional {plain(notional)} is above the maximum {plain(self.max_notional)} for {self.symbol}"
            )
        return rounded_qty, rounded_price
