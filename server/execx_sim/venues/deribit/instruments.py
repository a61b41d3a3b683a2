"""Deribit's instruments as the simulator lists them, with the venue's real trading rules.

Perpetuals are inverse: margined and settled in the coin, sized in USD contracts (BTC-PERPETUAL
10 USD per contract, ETH-PERPETUAL 1 USD; JSON-RPC ``amount`` is USD, FIX ``OrderQty`` contracts).
Options are priced in the coin and sized in coin contracts (1 BTC each, minimum 0.1).
Ticks: BTC-PERPETUAL 0.5 USD, ETH-PERPETUAL 0.05 USD, BTC options 0.0005 BTC (the lower step of
Deribit's option tick ladder; the simulator keeps one tick per instrument).
"""

from __future__ import annotations

from decimal import Decimal

from ...core.instruments import Instrument, Kind

D = Decimal

# Deribit option names are CCY-DMMMYY-STRIKE-C|P; the simulated option expires on a Friday in 2027.
BTC_OPTION = "BTC-26MAR27-100000-C"


def _perpetual(symbol: str, coin: str, ref: str, tick: str, contract_size: str) -> Instrument:
    return Instrument(
        symbol=symbol,
        base=coin,
        quote="USD",
        kind=Kind.INVERSE,
        tick=D(tick),
        lot=D(1),  # contracts
        min_qty=D(1),
        max_qty=D("1000000"),
        min_notional=D(0),
        ref_price=D(ref),
        min_price=D(tick),
        market_max_qty=D("1000000"),
        percent_up=D("1.05"),
        percent_down=D("0.95"),
        contract_size=D(contract_size),
        settle=coin,
        pair=f"{coin}USD",
        maker_fee=D(0),  # Deribit perpetuals: 0% maker, 0.05% taker
        taker_fee=D("0.0005"),
    )


DERIBIT_INSTRUMENTS = (
    _perpetual("BTC-PERPETUAL", "BTC", "97000.0", "0.5", "10"),
    _perpetual("ETH-PERPETUAL", "ETH", "3400.00", "0.05", "1"),
    Instrument(
        symbol=BTC_OPTION,
        base="BTC",
        quote="BTC",  # option prices are quoted in BTC
        kind=Kind.OPTION,
        tick=D("0.0005"),
        lot=D("0.1"),
        min_qty=D("0.1"),
        max_qty=D("10000"),
        min_notional=D(0),
        ref_price=D("0.0500"),
        min_price=D("0.0005"),
        market_max_qty=D("10000"),
        settle="BTC",
        maker_fee=D("0.0003"),
        taker_fee=D("0.0003"),
    ),
)

# Expiry of the option (Friday 26 March 2027, 08:00 UTC), for instrument listings.
OPTION_EXPIRY_MS = 1_806_048_000_000
