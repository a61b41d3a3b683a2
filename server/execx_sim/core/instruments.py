"""Instruments and their trading rules, with realistic defaults per simulated market.

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


def _spot(sym: str, base: str, quote: str, ref: str, tick: str, lot: str, min_notional: str = "5") -> Instrument:
    return Instrument(
        symbol=sym,
        base=base,
        quote=quote,
        kind=Kind.SPOT,
        tick=D(tick),
        lot=D(lot),
        min_qty=D(lot),
        max_qty=D("9000"),
        min_notional=D(min_notional),
        ref_price=D(ref),
        min_price=D(tick),
        market_max_qty=D("500"),
    )


def _usdm(sym: str, base: str, ref: str, tick: str, lot: str, min_notional: str) -> Instrument:
    return Instrument(
        symbol=sym,
        base=base,
        quote="USDT",
        kind=Kind.LINEAR,
        tick=D(tick),
        lot=D(lot),
        min_qty=D(lot),
        max_qty=D("1000"),
        min_notional=D(min_notional),
        ref_price=D(ref),
        min_price=D(tick),
        market_max_qty=D("120"),
        percent_up=D("1.05"),
        percent_down=D("0.95"),
        settle="USDT",
        maker_fee=D("0.0002"),
        taker_fee=D("0.0005"),
    )


def _coinm(sym: str, base: str, ref: str, tick: str, contract_size: str) -> Instrument:
    return Instrument(
        symbol=sym,
        base=base,
        quote="USD",
        kind=Kind.INVERSE,
        tick=D(tick),
        lot=D(1),
        min_qty=D(1),
        max_qty=D("1000000"),
        min_notional=D(0),
        ref_price=D(ref),
        min_price=D(tick),
        market_max_qty=D("60000"),
        percent_up=D("1.05"),
        percent_down=D("0.95"),
        contract_size=D(contract_size),
        settle=base,
        pair=f"{base}USD",
        maker_fee=D("0.0002"),
        taker_fee=D("0.0005"),
    )


BINANCE_SPOT = (
    _spot("BTCUSDT", "BTC", "USDT", "97000.00", "0.01", "0.00001"),
    _spot("ETHUSDT", "ETH", "USDT", "3400.00", "0.01", "0.0001"),
    _spot("SOLUSDT", "SOL", "USDT", "185.00", "0.01", "0.001"),
    _spot("BNBUSDT", "BNB", "USDT", "650.00", "0.01", "0.001"),
    _spot("ETHBTC", "ETH", "BTC", "0.03505", "0.00001", "0.0001", "0.0001"),
)
BINANCE_USDM = (
    _usdm("BTCUSDT", "BTC", "97000.0", "0.1", "0.001", "100"),
    _usdm("ETHUSDT", "ETH", "3400.00", "0.01", "0.001", "20"),
)
BINANCE_COINM = (
    _coinm("BTCUSD_PERP", "BTC", "97000.0", "0.1", "100"),
    _coinm("ETHUSD_PERP", "ETH", "3400.00", "0.01", "10"),
)
