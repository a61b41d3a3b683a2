"""Binance's simulated instruments: spot, USD-M perpetuals and COIN-M perpetuals, with the venue's tick,
lot, minimum notional, fees and percent-price bands."""

from __future__ import annotations

from decimal import Decimal

from ...core.instruments import Instrument, Kind

D = Decimal


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
