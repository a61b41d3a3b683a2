"""Bybit instruments per category, with Bybit's own tick and size rules (``../shared/venues/bybit.md``).

Spot and linear quantities are in the base coin; inverse quantities are USD contracts (1 USD each);
options (``BTC-<expiry>-<strike>-C/P``) are priced in USDC premium with their own tick and size. The
options' expiry is the last Friday of the month after next, so a simulator started on any day lists
live (future) options.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

from ...core.instruments import Instrument, Kind

D = Decimal

CATEGORIES = ("spot", "linear", "inverse", "option")
MARKET_OF = {c: f"bybit-{c}" for c in CATEGORIES}  # category -> engine market name
CATEGORY_OF = {m: c for c, m in MARKET_OF.items()}


def _spot(sym: str, base: str, ref: str, tick: str, lot: str) -> Instrument:
    return Instrument(
        symbol=sym,
        base=base,
        quote="USDT",
        kind=Kind.SPOT,
        tick=D(tick),
        lot=D(lot),
        min_qty=D(lot),
        max_qty=D("8000"),
        min_notional=D("1"),
        ref_price=D(ref),
        min_price=D(tick),
        market_max_qty=D("500"),
    )


def _linear(sym: str, base: str, ref: str, tick: str, lot: str) -> Instrument:
    return Instrument(
        symbol=sym,
        base=base,
        quote="USDT",
        kind=Kind.LINEAR,
        tick=D(tick),
        lot=D(lot),
        min_qty=D(lot),
        max_qty=D("1190"),
        min_notional=D("5"),
        ref_price=D(ref),
        min_price=D(tick),
        market_max_qty=D("119"),
        percent_up=D("1.05"),
        percent_down=D("0.95"),
        settle="USDT",
        maker_fee=D("0.0002"),
        taker_fee=D("0.00055"),
    )


def _inverse(sym: str, base: str, ref: str, tick: str) -> Instrument:
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
        market_max_qty=D("100000"),
        percent_up=D("1.05"),
        percent_down=D("0.95"),
        contract_size=D(1),
        settle=base,
        pair=sym,
        maker_fee=D("0.0002"),
        taker_fee=D("0.00055"),
    )


def option_expiry(today: dt.date) -> dt.date:
    """The last Friday of the month after next."""
    month, year = today.month + 2, today.year
    if month > 12:
        month, year = month - 12, year + 1
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - calendar.FRIDAY) % 7)


def option_symbol(base: str, expiry: dt.date, strike: int, call: bool) -> str:
    return f"{base}-{expiry.day}{expiry.strftime('%b').upper()}{expiry.strftime('%y')}-{strike}-{'C' if call else 'P'}"


def _option(base: str, expiry: dt.date, strike: int, call: bool, ref: str, tick: str, lot: str) -> Instrument:
    return Instrument(
        symbol=option_symbol(base, expiry, strike, call),
        base=base,
        quote="USDC",
        kind=Kind.OPTION,
        tick=D(tick),
        lot=D(lot),
        min_qty=D(lot),
        max_qty=D("10000"),
        min_notional=D(0),
        ref_price=D(ref),
        min_price=D(tick),
        market_max_qty=D("500"),
        settle="USDC",
        maker_fee=D("0.0002"),
        taker_fee=D("0.0003"),
    )


def instruments(today: dt.date) -> dict[str, tuple[Instrument, ...]]:
    """Every category's instruments; options expire on ``option_expiry(today)``."""
    expiry = option_expiry(today)
    return {
        "spot": (
            _spot("BTCUSDT", "BTC", "97000.00", "0.01", "0.000001"),
            _spot("ETHUSDT", "ETH", "3400.00", "0.01", "0.00001"),
            _spot("SOLUSDT", "SOL", "185.00", "0.01", "0.001"),
        ),
        "linear": (
            _linear("BTCUSDT", "BTC", "97000.0", "0.1", "0.001"),
            _linear("ETHUSDT", "ETH", "3400.00", "0.01", "0.01"),
        ),
        "inverse": (
            _inverse("BTCUSD", "BTC", "97000.0", "0.5"),
            _inverse("ETHUSD", "ETH", "3400.00", "0.05"),
        ),
        "option": (
            _option("BTC", expiry, 100000, True, "5000", "5", "0.01"),
            _option("BTC", expiry, 100000, False, "7500", "5", "0.01"),
            _option("ETH", expiry, 3500, True, "200", "0.1", "0.1"),
        ),
    }


def expiry_ms(inst: Instrument) -> int:
    """Delivery time of an option (08:00 UTC on its expiry date, as Bybit's), 0 for other kinds."""
    if inst.kind is not Kind.OPTION:
        return 0
    day = dt.datetime.strptime(inst.symbol.split("-")[1], "%d%b%y").replace(hour=8, tzinfo=dt.UTC)
    return int(day.timestamp() * 1000)
