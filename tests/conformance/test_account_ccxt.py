"""Unmodified ccxt's ``fetch_positions`` and ``fetch_balance`` on every derivative venue it supports,
after a fill made in the simulator's engine: the figures ccxt parses from the venue's wire format (size,
entry price, unrealised PnL, leverage; the margin asset's total) are the simulator's own account state."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.core.types import OrderType, Side
from test_binance_futures_ccxt import make as binance_make
from test_bybit_ccxt import configure as bybit_configure
from test_deribit_ccxt import make as deribit_make
from test_okx_ccxt import configure as okx_configure
from test_okx_ccxt import credentials as okx_credentials

D = Decimal


def _binance(flavor: str) -> Callable[[Simulator, Account], Any]:
    cls = ccxt_async.binanceusdm if flavor == "usdm" else ccxt_async.binancecoinm
    return lambda sim, account: binance_make(cls, sim, flavor, account)


def _bybit(sim: Simulator, account: Account) -> Any:
    return bybit_configure(
        ccxt_async.bybit({"apiKey": account.api_key, "secret": account.secret_key, "enableRateLimit": False}), sim
    )


def _okx(sim: Simulator, account: Account) -> Any:
    return okx_configure(ccxt_async.okx(okx_credentials(account)), sim)


def _deribit(sim: Simulator, account: Account) -> Any:
    return deribit_make(ccxt_async.deribit, sim, account)


# market, engine symbol, engine qty (base coin or contracts as the engine books it), ccxt symbol, contracts
CASES = [
    ("binance-usdm-future", "BTCUSDT", D("0.01"), _binance("usdm"), "BTC/USDT:USDT", D("0.01")),
    ("binance-coinm-future", "BTCUSD_PERP", D(2), _binance("coinm"), "BTC/USD:BTC", D(2)),
    ("bybit-linear", "BTCUSDT", D("0.01"), _bybit, "BTC/USDT:USDT", D("0.01")),
    ("bybit-inverse", "BTCUSD", D(100), _bybit, "BTC/USD:BTC", D(100)),
    ("okx", "BTC-USDT-SWAP", D("0.02"), _okx, "BTC/USDT:USDT", D(2)),  # 2 contracts of 0.01 BTC
    ("deribit", "BTC-PERPETUAL", D(3), _deribit, "BTC/USD:BTC", D(30)),  # ccxt counts Deribit's USD amount
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_ccxt_positions_and_balance_are_the_simulators(
    sim: Simulator, account: Account, case: tuple[Any, ...]
) -> None:
    market_name, symbol, qty, make, ccxt_symbol, contracts = case
    market = sim.exchange.markets[market_name]
    market.place(account, symbol, Side.BUY, OrderType.MARKET, qty)
    pos = account.wallet(market_name).positions[symbol]
    inst = market.instruments[symbol]
    mark = market.mark_price(symbol)
    ex = make(sim, account)
    try:
        (row,) = [p for p in await ex.fetch_positions([ccxt_symbol]) if p["contracts"]]
        assert row["symbol"] == ccxt_symbol and row["side"] == "long"
        assert D(str(row["contracts"])) == contracts
        assert D(str(row["entryPrice"])) == pytest.approx(pos.entry_price, rel=D("1e-9"))
        assert D(str(row["unrealizedPnl"])) == pytest.approx(pos.unrealized(inst, mark), rel=D("1e-6"), abs=D("1e-8"))
        if row.get("leverage") is not None:
            assert D(str(row["leverage"])) == pos.leverage
        params = {"type": "swap"} if market_name == "okx" else {}
        if market_name == "deribit":
            params = {"code": inst.margin_asset}
        balance = await ex.fetch_balance(params)
        # ccxt's total: Binance futures, OKX and Deribit the equity (wallet + unrealised PnL); Bybit the unified
        # account's wallet balance (every category's wallet of the coin)
        wallets = (
            [m for m in sim.exchange.markets if m.startswith("bybit-")]
            if market_name.startswith("bybit")
            else [market_name]
        )
        want = sum((account.wallet(m).balance(inst.margin_asset).total for m in wallets), D(0))
        if not market_name.startswith("bybit"):
            want += pos.unrealized(inst, mark)
        assert D(str(balance[inst.margin_asset]["total"])) == pytest.approx(want, rel=D("1e-9"), abs=D("1e-8"))
    finally:
        await ex.close()
