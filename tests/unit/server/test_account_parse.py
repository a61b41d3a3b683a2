"""The account views' field mapping per venue (docs/accounts.md) on venue rows in the documented shapes:
short positions keep their sign, missing figures stay None, zero rows are left out."""

from __future__ import annotations

from decimal import Decimal

from execx_server.connectors.binance.account import parse_futures_positions, parse_spot_balances
from execx_server.connectors.bybit.account import parse_positions as bybit_positions
from execx_server.connectors.bybit.account import parse_wallet
from execx_server.connectors.jsonrpc.account import parse_positions as rpc_positions
from execx_server.connectors.jsonrpc.account import parse_summaries
from execx_server.connectors.okx.account import parse_balance
from execx_server.connectors.okx.account import parse_positions as okx_positions
from execx_server.domain.enums import Exchange
from execx_server.domain.instruments import InstrumentRules

D = Decimal


def test_binance_rows() -> None:
    rows = [{"asset": "BTC", "free": "1.5", "locked": "0.5"}, {"asset": "ETH", "free": "0", "locked": "0"}]
    (btc,) = parse_spot_balances(rows)
    assert (btc.asset, btc.total, btc.available, btc.locked) == ("BTC", D("2.0"), D("1.5"), D("0.5"))
    (short,) = parse_futures_positions(
        [
            {"symbol": "BTCUSDT", "positionAmt": "-0.010", "entryPrice": "97000.0", "unRealizedProfit": "-1.5",
             "leverage": "20", "liquidationPrice": "0", "marginType": "isolated"},
            {"symbol": "ETHUSDT", "positionAmt": "0.000", "entryPrice": "0.0"},
        ]
    )  # fmt: skip
    assert (short.qty, short.unrealized_pnl, short.leverage) == (D("-0.010"), D("-1.5"), D(20))
    assert short.liquidation_price is None and short.cross_margin is False and '"symbol":"BTCUSDT"' in short.raw


def test_bybit_rows() -> None:
    (usdt,) = parse_wallet(
        [{"coin": "USDT", "walletBalance": "1000", "locked": "10", "totalOrderIM": "5", "totalPositionIM": "20"}]
    )
    assert (usdt.total, usdt.locked, usdt.available) == (D(1000), D(35), D(965))
    (pos,) = bybit_positions(
        [
            {"symbol": "BTCUSD", "side": "Sell", "size": "100", "avgPrice": "97000", "unrealisedPnl": "0.0001",
             "leverage": "", "liqPrice": "", "tradeMode": 1},
            {"symbol": "ETHUSD", "side": "", "size": "0"},
        ]
    )  # fmt: skip
    assert (pos.qty, pos.leverage, pos.liquidation_price, pos.cross_margin) == (D(-100), None, None, False)


def test_okx_rows() -> None:
    (usdt,) = parse_balance([{"ccy": "USDT", "cashBal": "100", "availBal": "70", "frozenBal": "30"}])
    assert (usdt.total, usdt.available, usdt.locked) == (D(100), D(70), D(30))
    net, hedged = okx_positions(
        [
            {"instId": "BTC-USDT-SWAP", "pos": "-3", "posSide": "net", "avgPx": "97000", "upl": "1", "lever": "10",
             "liqPx": "120000", "mgnMode": "cross"},
            {"instId": "ETH-USDT-SWAP", "pos": "2", "posSide": "short", "avgPx": "3000", "upl": "0", "lever": "5",
             "liqPx": "", "mgnMode": "isolated"},
        ]
    )  # fmt: skip
    assert (net.qty, net.liquidation_price, net.leverage) == (D(-3), D(120000), D(10))
    assert (hedged.qty, hedged.cross_margin) == (D(-2), False)


def test_deribit_rows_count_inverse_contracts() -> None:
    rules = {
        "BTC-PERPETUAL": InstrumentRules(
            Exchange.DERIBIT, "BTC-PERPETUAL", D("0.5"), D(1), D(1), contract_size=D(10), inverse=True
        )
    }
    (pos,) = rpc_positions(
        [{"instrument_name": "BTC-PERPETUAL", "size": -100, "average_price": 97000, "floating_profit_loss": 0.001,
          "leverage": 50, "estimated_liquidation_price": None}],
        rules,
    )  # fmt: skip
    assert (pos.qty, pos.leverage, pos.liquidation_price) == (D(-10), D(50), None)
    (btc,) = parse_summaries([{"currency": "BTC", "balance": 10, "available_funds": 9.5, "initial_margin": 0.25}])
    assert (btc.total, btc.available, btc.locked) == (D(10), D("9.5"), D("0.25"))
