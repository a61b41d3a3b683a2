"""The official ``binance-sdk-spot`` against the simulated Binance spot venue.

Only base URLs change: ``ConfigurationRestAPI(base_path=<rest>)``,
``ConfigurationWebSocketAPI(stream_url=<wsApi>)`` and ``ConfigurationWebSocketStreams(stream_url=<stream>)``.
The SDK's REST client is synchronous
(``requests``); it runs in a worker thread so the in-process simulator keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from binance_common.configuration import (
    ConfigurationRestAPI,
    ConfigurationWebSocketAPI,
    ConfigurationWebSocketStreams,
)
from binance_common.errors import BadRequestError
from binance_sdk_spot.rest_api.models import (
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
    OrderCancelReplaceCancelReplaceModeEnum,
    OrderCancelReplaceSideEnum,
    OrderCancelReplaceTimeInForceEnum,
    OrderCancelReplaceTypeEnum,
)
from binance_sdk_spot.spot import Spot
from binance_sdk_spot.websocket_api.models import (
    OrderPlaceSideEnum,
    OrderPlaceTimeInForceEnum,
    OrderPlaceTypeEnum,
)
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from test_binance_spot_ccxt import admin, best_bid_ask, spot_frontend, within
from waiting import eventually

T = TypeVar("T")


def rest_client(sim: Simulator, account: Account, secret: str | None = None) -> Any:
    urls = sim.ready["venues"]["binance-spot"]
    config = ConfigurationRestAPI(
        api_key=account.api_key,
        api_secret=secret or account.secret_key,
        base_path=urls["rest"],
        timeout=5000,
        retries=0,
    )
    return Spot(config_rest_api=config).rest_api


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one blocking SDK REST call off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


@pytest.fixture
async def ws_api(sim: Simulator, account: Account) -> AsyncIterator[Any]:
    urls = sim.ready["venues"]["binance-spot"]
    config = ConfigurationWebSocketAPI(
        api_key=account.api_key, api_secret=account.secret_key, stream_url=urls["wsApi"], reconnect_attempts=1
    )
    client = Spot(config_ws_api=config).websocket_api
    connection = await client.create_connection()  # type: ignore[no-untyped-call]
    try:
        yield connection
    finally:
        await connection.close_connection(close_session=True)


async def test_rest_exchange_info_orders_amend_cancel(sim: Simulator, account: Account) -> None:
    rest = rest_client(sim, account)
    info = (await call(rest.exchange_info, symbol="BTCUSDT")).data()
    symbol = info.symbols[0]
    assert symbol.symbol == "BTCUSDT" and symbol.base_asset == "BTC" and "LIMIT_MAKER" in symbol.order_types
    filters = {f.actual_instance.filter_type: f.actual_instance for f in symbol.filters}
    assert filters["PRICE_FILTER"].tick_size == "0.01000000"
    assert filters["LOT_SIZE"].step_size == "0.00001000"

    bid, _ = best_bid_ask(sim)
    price = float(bid - 200)
    placed = await call(
        rest.new_order,
        symbol="BTCUSDT",
        side=NewOrderSideEnum.BUY,
        type=NewOrderTypeEnum.LIMIT,
        time_in_force=NewOrderTimeInForceEnum.GTC,
        quantity=0.004,
        price=price,
    )
    order = placed.data()
    assert order.status == "NEW" and order.orig_qty == "0.00400000" and order.fills == []
    assert placed.rate_limits and any(r.rateLimitType == "ORDERS" for r in placed.rate_limits)

    amended = (
        await call(rest.order_amend_keep_priority, symbol="BTCUSDT", order_id=order.order_id, new_qty=0.002)
    ).data()
    assert amended.amended_order.qty == "0.00200000" and amended.amended_order.order_id == order.order_id
    assert amended.amended_order.orig_client_order_id == order.client_order_id

    open_orders = (await call(rest.get_open_orders, symbol="BTCUSDT")).data()
    assert [o.order_id for o in open_orders] == [order.order_id]
    assert open_orders[0].orig_qty == "0.00200000"

    account_info = (await call(rest.get_account)).data()
    usdt = next(b for b in account_info.balances if b.asset == "USDT")
    assert Decimal(usdt.locked) == Decimal(str(price)) * Decimal("0.002")

    replaced = (
        await call(
            rest.order_cancel_replace,
            symbol="BTCUSDT",
            side=OrderCancelReplaceSideEnum.BUY,
            type=OrderCancelReplaceTypeEnum.LIMIT,
            cancel_replace_mode=OrderCancelReplaceCancelReplaceModeEnum.STOP_ON_FAILURE,
            time_in_force=OrderCancelReplaceTimeInForceEnum.GTC,
            quantity=0.003,
            price=price - 1,
            cancel_order_id=order.order_id,
        )
    ).data()
    assert replaced.cancel_result == "SUCCESS" and replaced.new_order_result == "SUCCESS"
    assert replaced.cancel_response.order_id == order.order_id and replaced.cancel_response.status == "CANCELED"
    new_id = replaced.new_order_response.order_id
    assert replaced.new_order_response.orig_qty == "0.00300000"

    cancelled = (await call(rest.delete_order, symbol="BTCUSDT", order_id=new_id)).data()
    assert cancelled.status == "CANCELED"
    assert cancelled.orig_client_order_id == replaced.new_order_response.client_order_id
    assert (await call(rest.get_open_orders, symbol="BTCUSDT")).data() == []
    with pytest.raises(BadRequestError) as err:  # nothing left to cancel
        await call(rest.delete_open_orders, symbol="BTCUSDT")
    assert err.value.status_code == -2011


async def test_rest_wrong_secret(sim: Simulator, account: Account) -> None:
    rest = rest_client(sim, account, secret="0" * 64)
    with pytest.raises(BadRequestError) as err:  # HTTP 400
        await call(rest.get_account)
    assert err.value.status_code == -1022
    assert err.value.error_message == "Signature for this request is not valid."


async def test_ws_api_orders_and_user_data(sim: Simulator, account: Account, ws_api: Any) -> None:
    events: list[Any] = []
    sub = await ws_api.user_data_stream_subscribe_signature()
    assert sub.response.data().result.subscription_id == 0
    sub.stream.on("message", events.append)

    bid, _ = best_bid_ask(sim, "ETHUSDT")
    price = float(bid + Decimal("0.01"))
    placed = await ws_api.order_place(
        symbol="ETHUSDT",
        side=OrderPlaceSideEnum.BUY,
        type=OrderPlaceTypeEnum.LIMIT,
        time_in_force=OrderPlaceTimeInForceEnum.GTC,
        quantity=0.01,
        price=price,
    )
    order = placed.data().result
    assert order.status == "NEW"
    assert {r.rateLimitType for r in placed.rate_limits} >= {"REQUEST_WEIGHT", "ORDERS"}

    status = (await ws_api.order_status(symbol="ETHUSDT", order_id=order.order_id)).data().result
    assert status.status == "NEW" and status.price == f"{price:.8f}"

    await admin(
        sim,
        "/admin/market/trade",
        {"market": "binance-spot", "symbol": "ETHUSDT", "price": str(price), "qty": "0.01", "aggressor": "SELL"},
    )

    def reports() -> list[Any]:
        return [e.actual_instance for e in events if type(e.actual_instance).__name__ == "ExecutionReport"]

    await eventually(lambda: any(r.x == "TRADE" for r in reports()), within_s=5.0)
    new, trade = reports()[0], next(r for r in reports() if r.x == "TRADE")
    assert new.x == "NEW" and new.i == order.order_id and new.c == order.client_order_id
    assert trade.i == order.order_id and trade.X == "FILLED" and trade.l == "0.01000000" and trade.m is True
    assert trade.L == f"{price:.8f}" and trade.N == "ETH" and trade.t > 0
    await eventually(
        lambda: any(type(e.actual_instance).__name__ == "OutboundAccountPosition" for e in events), within_s=5.0
    )

    trades = (await ws_api.my_trades(symbol="ETHUSDT")).data().result
    assert trades[-1].order_id == order.order_id and trades[-1].is_maker is True

    account_status = (await ws_api.account_status()).data().result
    eth = next(b for b in account_status.balances if b.asset == "ETH")
    assert Decimal(eth.free) == Decimal("20") + Decimal("0.01") * Decimal("0.999")


async def test_ws_api_cancel_and_cancel_all(sim: Simulator, ws_api: Any) -> None:
    bid, _ = best_bid_ask(sim, "SOLUSDT")
    ids = []
    for offset in (1, 2):
        placed = await ws_api.order_place(
            symbol="SOLUSDT",
            side=OrderPlaceSideEnum.BUY,
            type=OrderPlaceTypeEnum.LIMIT,
            time_in_force=OrderPlaceTimeInForceEnum.GTC,
            quantity=1.0,
            price=float(bid - offset),
        )
        ids.append(placed.data().result.order_id)
    cancelled = (await ws_api.order_cancel(symbol="SOLUSDT", order_id=ids[0])).data().result
    assert cancelled.status == "CANCELED"
    open_orders = (await ws_api.open_orders_status(symbol="SOLUSDT")).data().result
    assert [o.order_id for o in open_orders] == ids[1:]
    rest = (await ws_api.open_orders_cancel_all(symbol="SOLUSDT")).data().result
    assert len(rest) == 1


async def test_ws_api_wrong_secret(sim: Simulator, account: Account) -> None:
    urls = sim.ready["venues"]["binance-spot"]
    config = ConfigurationWebSocketAPI(
        api_key=account.api_key, api_secret="0" * 64, stream_url=urls["wsApi"], reconnect_attempts=1
    )
    connection = await Spot(config_ws_api=config).websocket_api.create_connection()  # type: ignore[no-untyped-call]
    try:
        response = await connection.account_status()
        # The SDK turns a WS API error into {"error": ...}; the error is Binance's -1022.
        error = response.data()["error"]
        assert error["code"] == -1022 and error["msg"] == "Signature for this request is not valid."
    finally:
        await connection.close_connection(close_session=True)


async def test_ws_api_session_logon_and_subscribe(sim: Simulator, account: Account, ws_api: Any) -> None:
    logon = (await ws_api.session_logon()).data().result
    assert logon.api_key == account.api_key and logon.user_data_stream is False
    sub = await ws_api.user_data_stream_subscribe()
    assert sub.response.data().result.subscription_id == 0
    await eventually(lambda: account.account_id in spot_frontend(sim).ws_api.listeners, within_s=5.0)
    status = (await ws_api.session_status()).data().result
    assert status.user_data_stream is True
    subs = (await ws_api.session_subscriptions()).data().result
    assert [s.subscription_id for s in subs] == [0]
    await within(ws_api.session_logout())
    assert account.account_id not in spot_frontend(sim).ws_api.listeners


async def test_ws_streams_trade_and_book_ticker(sim: Simulator) -> None:
    """The SDK's market streams client (``/stream`` + SUBSCRIBE frames, combined envelope)."""
    urls = sim.ready["venues"]["binance-spot"]
    config = ConfigurationWebSocketStreams(stream_url=urls["stream"], reconnect_attempts=1)
    connection = await Spot(config_ws_streams=config).websocket_streams.create_connection()  # type: ignore[no-untyped-call]
    try:
        trades: list[Any] = []
        tops: list[Any] = []
        (await connection.trade(symbol="ethbtc")).on("message", trades.append)
        (await connection.book_ticker(symbol="ethbtc")).on("message", tops.append)
        streams = spot_frontend(sim).streams
        await eventually(lambda: {"ethbtc@trade", "ethbtc@bookTicker"} <= set(streams.by_stream), within_s=5.0)
        _, ask = best_bid_ask(sim, "ETHBTC")
        await admin(
            sim,
            "/admin/market/trade",
            {"market": "binance-spot", "symbol": "ETHBTC", "price": str(ask), "qty": "0.3", "aggressor": "BUY"},
        )
        await eventually(lambda: bool(trades) and bool(tops), within_s=5.0)
        assert trades[0].p == f"{ask:.8f}" and trades[0].q == "0.30000000" and trades[0].m is False
        assert tops[-1].s == "ETHBTC"
    finally:
        await connection.close_connection(close_session=True)


async def test_rest_market_data(sim: Simulator, account: Account) -> None:
    """The SDK's market-data calls (issue 16): order book, public trades, klines, 24 h ticker, best bid/offer,
    price, average price and server time, parsed by the SDK's own response models."""
    from binance_sdk_spot.rest_api.models import KlinesIntervalEnum

    rest = rest_client(sim, account)
    bid, ask = best_bid_ask(sim, "BTCUSDT")
    await admin(sim, "/admin/market/trade", {"market": "binance-spot", "symbol": "BTCUSDT", "price": str(ask),
                                              "qty": "0.002", "aggressor": "buy"})  # fmt: skip
    bid, top_ask = best_bid_ask(sim, "BTCUSDT")  # the print took liquidity at the ask
    depth = (await call(rest.depth, symbol="BTCUSDT", limit=5)).data()
    assert Decimal(depth.bids[0][0]) == bid and Decimal(depth.asks[0][0]) == top_ask
    trades = (await call(rest.get_trades, symbol="BTCUSDT", limit=10)).data()
    assert any(Decimal(t.price) == ask and Decimal(t.qty) == Decimal("0.002") for t in trades)
    klines = (await call(rest.klines, symbol="BTCUSDT", interval=KlinesIntervalEnum.INTERVAL_1m, limit=5)).data()
    assert klines and Decimal(klines[-1][4]) == ask  # the close of the current minute: the last trade
    ticker = (await call(rest.ticker24hr, symbol="BTCUSDT")).data().actual_instance
    assert Decimal(ticker.last_price) == ask and Decimal(ticker.volume) >= Decimal("0.002")
    top = (await call(rest.ticker_book_ticker, symbol="BTCUSDT")).data().actual_instance
    assert (Decimal(top.bid_price), Decimal(top.ask_price)) == (bid, top_ask)
    assert Decimal((await call(rest.ticker_price, symbol="BTCUSDT")).data().actual_instance.price) == ask
    assert Decimal((await call(rest.avg_price, symbol="BTCUSDT")).data().price) > 0
    assert (await call(rest.time)).data().server_time > 0
