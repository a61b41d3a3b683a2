"""The account endpoints execx's account views read (docs/accounts.md), through the venues' official SDKs
unchanged but for the base URL, parsed by their own models: Binance spot ``account/commission`` and
USD-M ``account`` / ``positionRisk`` v2 (binance-sdk-*), Bybit ``account/info`` and the unified wallet's
margin split after a derivative fill (pybit). The numbers are the simulator's own account state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from binance_common.configuration import ConfigurationRestAPI
from binance_sdk_derivatives_trading_usds_futures import derivatives_trading_usds_futures as usds_sdk
from binance_sdk_spot.spot import Spot
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.core.types import OrderType, Side
from pybit import unified_trading as ut

T = TypeVar("T")
D = Decimal


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking SDK call off the event loop (the simulator serves on it)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def rest_config(sim: Simulator, venue: str, account: Account) -> ConfigurationRestAPI:
    return ConfigurationRestAPI(
        api_key=account.api_key,
        api_secret=account.secret_key,
        base_path=sim.ready["venues"][venue]["rest"],
        retries=0,
    )


def fill_long(sim: Simulator, account: Account, market_name: str, symbol: str, qty: D) -> None:
    """A buy of ``qty`` that fills at once against the simulator's book (the engine, no front-end)."""
    market = sim.exchange.markets[market_name]
    market.place(account, symbol, Side.BUY, OrderType.MARKET, qty)


async def test_binance_spot_sdk_reads_account_commission(sim: Simulator, account: Account) -> None:
    rest = Spot(config_rest_api=rest_config(sim, "binance-spot", account)).rest_api
    got = (await call(rest.account_commission, symbol="BTCUSDT")).data()
    inst = sim.exchange.markets["binance-spot"].instruments["BTCUSDT"]
    assert got.symbol == "BTCUSDT"
    assert (D(got.standard_commission.maker), D(got.standard_commission.taker)) == (inst.maker_fee, inst.taker_fee)
    assert D(got.tax_commission.maker) == 0 and got.discount.discount_asset == "BNB"


async def test_binance_usdm_sdk_reads_positions_v2_with_leverage_and_liquidation(
    sim: Simulator, account: Account
) -> None:
    api = usds_sdk.DerivativesTradingUsdsFutures(config_rest_api=rest_config(sim, "binance-usdm-future", account))
    market = sim.exchange.markets["binance-usdm-future"]
    fill_long(sim, account, market.name, "BTCUSDT", D("0.01"))
    pos = account.wallet(market.name).positions["BTCUSDT"]
    (row,) = [p for p in (await call(api.rest_api.position_information_v2, symbol="BTCUSDT")).data()]
    assert D(row.position_amt) == pos.qty and D(row.entry_price) == pos.entry_price.quantize(D("1e-8"))
    # a cross position this small beside a large wallet has no liquidation price: Binance writes 0
    assert row.leverage == str(pos.leverage) and row.margin_type == "cross" and D(row.liquidation_price) >= 0
    info = (await call(api.rest_api.account_information_v2)).data()
    usdt = next(a for a in info.assets if a.asset == "USDT")
    wallet = account.wallet(market.name).balance("USDT")
    assert D(usdt.wallet_balance) == wallet.total.quantize(D("1e-8"))
    assert D(usdt.position_initial_margin) > 0


async def test_pybit_reads_unified_account_and_its_margin_split(sim: Simulator, account: Account) -> None:
    session = ut.HTTP(api_key=account.api_key, api_secret=account.secret_key, max_retries=1)
    session.endpoint = sim.ready["venues"]["bybit-linear"]["rest"]
    info = await call(session.get_account_info)
    assert info["result"]["unifiedMarginStatus"] in (5, 6)  # ccxt and pybit users read this: a unified account
    market = sim.exchange.markets["bybit-linear"]
    fill_long(sim, account, market.name, "BTCUSDT", D("0.01"))
    pos = account.wallet(market.name).positions["BTCUSDT"]
    mark = market.mark_price("BTCUSDT")
    wallet = await call(session.get_wallet_balance, accountType="UNIFIED", coin="USDT")
    (usdt,) = wallet["result"]["list"][0]["coin"]
    inst = market.instruments["BTCUSDT"]
    assert D(usdt["totalPositionIM"]) == pos.initial_margin(inst, mark)
    assert D(usdt["unrealisedPnl"]) == pos.unrealized(inst, mark)
    assert D(usdt["locked"]) == 0 and D(usdt["totalOrderIM"]) == 0  # no order open: nothing else held
