"""Position manager rules outside the plan: config validation (field named) and fees in the quote currency."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from execx_server.domain.enums import Exchange
from execx_server.domain.errors import ValidationError
from execx_server.domain.instruments import InstrumentRules
from execx_server.managers.position import PositionManagerConfig, fee_in_quote

D = Decimal
OK = PositionManagerConfig(True, True, 2, D("0.1"), 5.0, D("0.001"))


def test_the_seed_config_is_valid() -> None:
    OK.validate()


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"quote_levels": 0}, "config.quoteLevels", "must be at least 1"),
        ({"min_order_qty": D(0)}, "config.minOrderQty", "must be positive"),
        ({"min_order_qty": D("-0.1")}, "config.minOrderQty", "must be positive"),
        ({"re_entry_ticker_seconds": 0.0}, "config.reEntryTickerSeconds", "must be a positive number of seconds"),
        (
            {"re_entry_ticker_seconds": float("inf")},
            "config.reEntryTickerSeconds",
            "must be a positive number of seconds",
        ),
        (
            {"price_level_interval": D(0)},
            "config.priceLevelInterval",
            "must be a fraction of price between 0 and 1 (exclusive)",
        ),
        (
            {"price_level_interval": D(1)},
            "config.priceLevelInterval",
            "must be a fraction of price between 0 and 1 (exclusive)",
        ),
    ],
)
def test_bad_config_names_the_field(change: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as e:
        dataclasses.replace(OK, **change).validate()  # type: ignore[arg-type]
    assert (e.value.field, e.value.reason) == (field, reason)


SPOT = InstrumentRules(Exchange.BINANCE_SPOT, "BTCUSDT", D("0.01"), D("0.00001"), D("0.00001"), min_notional=D("5"))
USDM = InstrumentRules(Exchange.BINANCE_USDM_FUTURE, "BTCUSDT", D("0.1"), D("0.001"), D("0.001"))
COINM = InstrumentRules(
    Exchange.BINANCE_COINM_FUTURE, "BTCUSD_PERP", D("0.1"), D("1"), D("1"), contract_size=D("100"), inverse=True
)


def test_fees_are_valued_in_the_quote_currency() -> None:
    price = D("97000")
    assert fee_in_quote(SPOT, D("0.000001"), "BTC", price) == D("0.097")  # the spot buyer pays in the base asset
    assert fee_in_quote(SPOT, D("0.097"), "USDT", price) == D("0.097")  # the seller in the quote asset
    assert fee_in_quote(USDM, D("0.0388"), "USDT", price) == D("0.0388")
    assert fee_in_quote(COINM, D("0.0000002"), "BTC", price) == D("0.0194")  # coin-margined: fees in the coin
    okx_spot = dataclasses.replace(SPOT, exchange=Exchange.OKX, symbol="BTC-USDT")
    okx_swap = dataclasses.replace(USDM, exchange=Exchange.OKX, symbol="BTC-USDT-SWAP")
    assert fee_in_quote(okx_spot, D("0.000001"), "BTC", price) == D("0.097")
    assert fee_in_quote(okx_spot, D("0.097"), "USDT", price) == D("0.097")
    assert fee_in_quote(okx_swap, D("0.0388"), "USDT", price) == D("0.0388")
    option = dataclasses.replace(USDM, exchange=Exchange.BYBIT_OPTION, symbol="BTC-26FEB27-100000-C")
    assert fee_in_quote(option, D("0.01"), "USDC", D("5000")) == D("0.01")  # premium and fee in USDC
    assert fee_in_quote(SPOT, D("0.0001"), "BNB", price) is None  # a third asset is not converted
    assert fee_in_quote(SPOT, D(0), "BNB", price) == 0
