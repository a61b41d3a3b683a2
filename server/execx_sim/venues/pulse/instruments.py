"""Pulse's instruments, named as in its API document (seed 004): the USD-settled linear perpetual
``BTC_USD-PERPETUAL`` (amount in BTC, like Deribit's linear perpetuals) and the document's example
option ``BTC-31JUN23-50000-C`` (priced and settled in USD, amount in BTC). The document gives no tick
or size rules; these are Deribit's for the comparable linear instruments."""

from __future__ import annotations

from decimal import Decimal

from ...core.instruments import Instrument, Kind

D = Decimal

PERPETUAL = "BTC_USD-PERPETUAL"
OPTION = "BTC-31JUN23-50000-C"
OPTION_EXPIRY_MS = 1_688_112_000_000  # 30 June 2023 08:00 UTC ("31JUN23" in the document's name)

PULSE_INSTRUMENTS = (
    Instrument(
        symbol=PERPETUAL,
        base="BTC",
        quote="USD",
        kind=Kind.LINEAR,
        tick=D("0.5"),
        lot=D("0.001"),
        min_qty=D("0.001"),
        max_qty=D("1000"),
        min_notional=D(0),
        ref_price=D("97000.0"),
        min_price=D("0.5"),
        market_max_qty=D("1000"),
        percent_up=D("1.05"),
        percent_down=D("0.95"),
        settle="USD",
        maker_fee=D(0),
        taker_fee=D("0.0005"),
    ),
    Instrument(
        symbol=OPTION,
        base="BTC",
        quote="USD",
        kind=Kind.OPTION,
        tick=D("0.5"),
        lot=D("0.1"),
        min_qty=D("0.1"),
        max_qty=D("10000"),
        min_notional=D(0),
        ref_price=D("2500.0"),
        min_price=D("0.5"),
        market_max_qty=D("10000"),
        settle="USD",
        maker_fee=D("0.0003"),
        taker_fee=D("0.0003"),
    ),
)
