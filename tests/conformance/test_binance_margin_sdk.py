"""The official ``binance-sdk-margin-trading`` against the simulated Binance cross margin (``/sapi/v1/margin``
on the spot REST host). Only the base URL changes: ``ConfigurationRestAPI(base_path=<rest>)``.

The SDK (8.8) has no ``userListenToken`` call (its user data helpers are the risk-stream listen-key
ones), so the margin user data stream is exercised by ccxt.pro and the contract suite instead. The
SDK's REST client is synchronous (``requests``); it runs in a worker thread so the in-process
simulator keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from binance_common.configuration import ConfigurationRestAPI
from binance_common.errors import BadRequestError
from binance_sdk_margin_trading.margin_trading import MarginTrading
from binance_sdk_margin_trading.rest_api.models import (
    MarginAccountBorrowRepayIsIsolatedEnum,
    MarginAccountBorrowRepayTypeEnum,
    MarginAccountNewOrderIsIsolatedEnum,
    MarginAccountNewOrderSideEffectTypeEnum,
    MarginAccountNewOrderSideEnum,
    MarginAccountNewOrderTimeInForceEnum,
    MarginAccountNewOrderTypeEnum,
)
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from test_binance_spot_ccxt import best_bid_ask

T = TypeVar("T")


def client(sim: Simulator, account: Account) -> Any:
    config = ConfigurationRestAPI(
        api_key=account.api_key,
        api_secret=account.secret_key,
        base_path=sim.ready["venues"]["binance-spot"]["rest"],
        timeout=5000,
        retries=0,
    )
    return MarginTrading(config_rest_api=config).rest_api


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_sdk_margin_buy_query_open_orders_cancel_and_account(sim: Simulator, account: Account) -> None:
    rest = client(sim, account)
    bid, _ = best_bid_ask(sim, "BTCUSDT")
    # A whole borrow amount: the SDK models marginBuyBorrowAmount as an integer (the docs' example is 5).
    price = Decimal(bid) * Decimal("0.98") // 5 * 5
    qty = Decimal("1.6")  # ~152k USDT: more than the margin wallet's 100k

    def new_order(side_effect: MarginAccountNewOrderSideEffectTypeEnum) -> Any:
        return rest.margin_account_new_order(
            symbol="BTCUSDT",
            side=MarginAccountNewOrderSideEnum.BUY,
            type=MarginAccountNewOrderTypeEnum.LIMIT,
            is_isolated=MarginAccountNewOrderIsIsolatedEnum.FALSE,
            quantity=float(qty),
            price=float(price),
            time_in_force=MarginAccountNewOrderTimeInForceEnum.GTC,
            side_effect_type=side_effect,
        ).data()

    with pytest.raises(BadRequestError) as info:  # no borrowing asked for: the margin wallet's 100k is short
        await call(new_order, MarginAccountNewOrderSideEffectTypeEnum.NO_SIDE_EFFECT)
    assert "insufficient balance" in str(info.value)

    order = await call(new_order, MarginAccountNewOrderSideEffectTypeEnum.MARGIN_BUY)
    assert order.status == "NEW" and order.is_isolated is False
    assert order.margin_buy_borrow_asset == "USDT"
    assert order.margin_buy_borrow_amount == price * qty - 100_000

    queried = (await call(rest.query_margin_accounts_order, symbol="BTCUSDT", order_id=order.order_id)).data()
    assert queried.client_order_id == order.client_order_id and queried.status == "NEW"
    open_orders = (await call(rest.query_margin_accounts_open_orders, symbol="BTCUSDT")).data()
    assert [o.order_id for o in open_orders] == [order.order_id]

    details = (await call(rest.query_cross_margin_account_details)).data()
    usdt = next(a for a in details.user_assets if a.asset == "USDT")
    assert Decimal(usdt.borrowed) == price * qty - 100_000 and Decimal(usdt.locked) == price * qty
    assert details.trade_enabled is True

    cancelled = (await call(rest.margin_account_cancel_order, symbol="BTCUSDT", order_id=order.order_id)).data()
    assert cancelled.status == "CANCELED" and cancelled.order_id == str(order.order_id)
    assert (await call(rest.query_margin_accounts_open_orders, symbol="BTCUSDT")).data() == []
    trades = (await call(rest.query_margin_accounts_trade_list, symbol="BTCUSDT")).data()
    assert trades == []


async def test_sdk_borrow_then_auto_repay_from_a_sale(sim: Simulator, account: Account) -> None:
    rest = client(sim, account)

    def loan(asset: str) -> Decimal:
        details = rest.query_cross_margin_account_details().data()
        return Decimal(next(a.borrowed for a in details.user_assets if a.asset == asset))

    await call(
        rest.margin_account_borrow_repay,
        asset="USDT",
        is_isolated=MarginAccountBorrowRepayIsIsolatedEnum.FALSE,
        amount="1000",
        type=MarginAccountBorrowRepayTypeEnum.BORROW,
    )
    assert await call(loan, "USDT") == 1000

    bid, _ = best_bid_ask(sim, "BTCUSDT")
    sale = (
        await call(
            rest.margin_account_new_order,
            symbol="BTCUSDT",
            side=MarginAccountNewOrderSideEnum.SELL,
            type=MarginAccountNewOrderTypeEnum.LIMIT,
            quantity=0.001,
            price=float(bid),
            time_in_force=MarginAccountNewOrderTimeInForceEnum.IOC,
            side_effect_type=MarginAccountNewOrderSideEffectTypeEnum.AUTO_REPAY,
        )
    ).data()
    assert sale.status == "FILLED"
    proceeds = Decimal(sale.cummulative_quote_qty) - sum((Decimal(f.commission) for f in sale.fills), Decimal(0))
    assert await call(loan, "USDT") == 1000 - proceeds  # what the sale brought in repaid the loan

    await call(
        rest.margin_account_borrow_repay,
        asset="USDT",
        is_isolated=MarginAccountBorrowRepayIsIsolatedEnum.FALSE,
        amount="10000",
        type=MarginAccountBorrowRepayTypeEnum.REPAY,
    )
    assert await call(loan, "USDT") == 0
