"""The official Binance derivatives SDKs (``binance-sdk-derivatives-trading-usds-futures`` and
``-coin-futures``) against the simulator, changing only their documented URL settings:
``ConfigurationRestAPI(base_path=…)`` and ``ConfigurationWebSocketStreams(stream_url=…)``.

Their REST client is synchronous (``requests``), so calls run in a worker thread while the
simulator serves on the test's event loop. Responses are parsed with the SDK's own strict pydantic
models (``.data()``), which checks every field's JSON type.
"""

from __future__ import annotations

import asyncio
import importlib
import time
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
from binance_sdk_derivatives_trading_coin_futures import derivatives_trading_coin_futures as coin_sdk
from binance_sdk_derivatives_trading_coin_futures.rest_api import models as coin_models
from binance_sdk_derivatives_trading_usds_futures import derivatives_trading_usds_futures as usds_sdk
from binance_sdk_derivatives_trading_usds_futures.rest_api import models as usds_models
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account

T = TypeVar("T")

FLAVORS: dict[str, dict[str, Any]] = {
    "usdm": {"venue": "binance-usdm-future", "symbol": "BTCUSDT", "qty": Decimal("0.01"), "models": usds_models},
    "coinm": {"venue": "binance-coinm-future", "symbol": "BTCUSD_PERP", "qty": Decimal("2"), "models": coin_models},
}


@pytest.fixture(params=["usdm", "coinm"])
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def client(sim: Simulator, flavor: str, account: Account, secret: str | None = None) -> Any:
    urls = sim.ready["venues"][FLAVORS[flavor]["venue"]]
    rest = ConfigurationRestAPI(
        api_key=account.api_key,
        api_secret=secret if secret is not None else account.secret_key,
        base_path=urls["rest"],
        retries=0,
    )
    streams = ConfigurationWebSocketStreams(stream_url=urls["stream"], reconnect_delay=100)
    cls = usds_sdk.DerivativesTradingUsdsFutures if flavor == "usdm" else coin_sdk.DerivativesTradingCoinFutures
    return cls(config_rest_api=rest, config_ws_streams=streams)


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a synchronous SDK REST call off the loop; return its parsed (strictly typed) data."""
    response = await asyncio.to_thread(fn, *args, **kwargs)
    return response.data()


@pytest.fixture(autouse=True)
async def recentre(sim: Simulator, account: Account) -> AsyncIterator[None]:
    yield
    # Leave the shared session book as found: no resting orders of this test's account.
    for name in ("binance-usdm-future", "binance-coinm-future"):
        market = sim.exchange.markets[name]
        for order in market.open_orders(account):
            market.cancel(account, order.symbol, order.order_id)
    for spec in FLAVORS.values():
        market = sim.exchange.markets[spec["venue"]]
        sim.synthetic.move_to(market.name, spec["symbol"], market.instruments[spec["symbol"]].ref_price)


async def test_exchange_information(sim: Simulator, flavor: str, account: Account) -> None:
    api = client(sim, flavor, account).rest_api
    info = await call(api.exchange_information)
    symbols = {s.symbol: s for s in info.symbols}
    btc = symbols[FLAVORS[flavor]["symbol"]]
    assert btc.contract_type == "PERPETUAL"
    filters = {f.filter_type: f for f in btc.filters}
    assert filters["PRICE_FILTER"].tick_size == "0.1"
    assert filters["PERCENT_PRICE"].multiplier_up == "1.0500"
    if flavor == "usdm":
        assert btc.status == "TRADING" and btc.margin_asset == "USDT"
        assert filters["LOT_SIZE"].step_size == "0.001" and filters["MIN_NOTIONAL"].notional == "100"
    else:
        assert btc.contract_status == "TRADING" and btc.contract_size == 100 and btc.margin_asset == "BTC"
        assert btc.pair == "BTCUSD"
    assert {r.rate_limit_type for r in info.rate_limits} == {"REQUEST_WEIGHT", "ORDERS"}


async def test_orders_account_and_user_stream(sim: Simulator, flavor: str, account: Account) -> None:
    spec = FLAVORS[flavor]
    models, symbol, qty = spec["models"], spec["symbol"], float(spec["qty"])
    sdk = client(sim, flavor, account)
    api = sdk.rest_api

    listen_key = (await call(api.start_user_data_stream)).listen_key
    streams = await sdk.websocket_streams.create_connection()
    events: list[Any] = []
    try:
        handle = await streams.user_data(listen_key)
        handle.on("message", events.append)
        book = await call(api.order_book, symbol=symbol, limit=5)
        best_bid = Decimal(book.bids[0][0])
        price = float(best_bid - 50)

        placed = await call(
            api.new_order,
            symbol=symbol,
            side=models.NewOrderSideEnum.BUY,
            type=models.NewOrderTypeEnum.LIMIT,
            time_in_force=models.NewOrderTimeInForceEnum.GTC,
            quantity=qty,
            price=price,
        )
        assert placed.status == "NEW" and Decimal(placed.price) == Decimal(str(price))
        assert placed.executed_qty == "0"  # Binance prints futures order numbers without trailing zeros
        order_id = placed.order_id

        modified = await call(
            api.modify_order,
            symbol=symbol,
            side=models.ModifyOrderSideEnum.BUY,
            order_id=order_id,
            quantity=qty * 2,
            price=price - 10,
        )
        assert modified.order_id == order_id and Decimal(modified.orig_qty) == Decimal(str(qty * 2))
        assert Decimal(modified.price) == Decimal(str(price)) - 10

        open_orders = await call(api.current_all_open_orders, symbol=symbol)
        assert [o.order_id for o in open_orders] == [order_id]

        cancelled = await call(api.cancel_order, symbol=symbol, order_id=order_id)
        assert cancelled.status == "CANCELED"

        second = await call(
            api.new_order,
            symbol=symbol,
            side=models.NewOrderSideEnum.SELL,
            type=models.NewOrderTypeEnum.LIMIT,
            time_in_force=models.NewOrderTimeInForceEnum.GTX,
            quantity=qty,
            price=price + 500,
        )
        assert second.status == "NEW"
        done = await call(api.cancel_all_open_orders, symbol=symbol)
        assert done.code == 200
        assert await call(api.current_all_open_orders, symbol=symbol) == []

        # A market buy fills against the book: ORDER_TRADE_UPDATE (NEW, TRADE) and ACCOUNT_UPDATE follow.
        await call(
            api.new_order,
            symbol=symbol,
            side=models.NewOrderSideEnum.BUY,
            type=models.NewOrderTypeEnum.MARKET,
            quantity=qty,
        )
        deadline = time.monotonic() + 10
        while not (any(_is_fill(e) for e in events) and any(_event_name(e) == "AccountUpdate" for e in events)):
            assert time.monotonic() < deadline, f"no fill on the user stream: {events}"
            await asyncio.sleep(0.01)
        kinds = [_event_name(e) for e in events]
        assert "OrderTradeUpdate" in kinds and "AccountUpdate" in kinds
        [fill] = [_inner(e) for e in events if _is_fill(e)]
        assert fill.o.X == "FILLED" and Decimal(fill.o.z) == Decimal(str(qty))

        if flavor == "usdm":
            account_info = await call(api.account_information_v3)
            balances = await call(api.futures_account_balance_v3)
            positions = await call(api.position_information_v3, symbol=symbol)
            assert Decimal(account_info.total_wallet_balance) < 100000
            [usdt] = [b for b in balances if b.asset == "USDT"]
        else:
            account_info = await call(api.account_information)
            balances = await call(api.futures_account_balance)
            positions = [p for p in await call(api.position_information) if p.symbol == symbol]
            [usdt] = [b for b in balances if b.asset == "BTC"]
        assert Decimal(usdt.balance) < (100000 if flavor == "usdm" else 5)
        [position] = positions
        assert Decimal(position.position_amt) == Decimal(str(qty))
        assert Decimal(position.entry_price) == Decimal(fill.o.L)
        assert account_info is not None
    finally:
        await streams.close_connection(close_session=True)


def _inner(event: Any) -> Any:
    return getattr(event, "actual_instance", event)


def _event_name(event: Any) -> str:
    """The SDK parses each event into its own model class (OrderTradeUpdate, AccountUpdate, ...)."""
    return type(_inner(event)).__name__


def _is_fill(event: Any) -> bool:
    inner = _inner(event)
    return _event_name(event) == "OrderTradeUpdate" and inner.o.x == "TRADE"


async def test_wrong_secret(sim: Simulator, flavor: str, account: Account) -> None:
    api = client(sim, flavor, account, secret="definitely-wrong").rest_api
    with pytest.raises(BadRequestError) as info:
        await call(api.current_all_open_orders, symbol=FLAVORS[flavor]["symbol"])
    assert info.value.status_code == -1022
    assert info.value.error_message == "Signature for this request is not valid."


async def test_unknown_order_error(sim: Simulator, flavor: str, account: Account) -> None:
    api = client(sim, flavor, account).rest_api
    with pytest.raises(BadRequestError) as info:
        await call(api.cancel_order, symbol=FLAVORS[flavor]["symbol"], order_id=123)
    assert info.value.status_code == -2011


async def test_websocket_api(sim: Simulator, flavor: str, account: Account) -> None:
    """The SDK's WebSocket API client (``ConfigurationWebSocketAPI(stream_url=…)``): place, query, modify,
    cancel, positions and balances over ``/ws-fapi/v1`` / ``/ws-dapi/v1``."""
    spec = FLAVORS[flavor]
    models_ws = importlib.import_module(
        (
            "binance_sdk_derivatives_trading_usds_futures"
            if flavor == "usdm"
            else "binance_sdk_derivatives_trading_coin_futures"
        )
        + ".websocket_api.models"
    )
    symbol, qty = spec["symbol"], float(spec["qty"])
    urls = sim.ready["venues"][spec["venue"]]
    config = ConfigurationWebSocketAPI(
        api_key=account.api_key, api_secret=account.secret_key, stream_url=urls["wsApi"], reconnect_delay=100
    )
    cls = usds_sdk.DerivativesTradingUsdsFutures if flavor == "usdm" else coin_sdk.DerivativesTradingCoinFutures
    ws_api = cls(config_ws_api=config).websocket_api
    connection = await ws_api.create_connection()  # type: ignore[no-untyped-call]
    try:
        bid, _, _, _ = sim.exchange.markets[spec["venue"]].books[symbol].top()
        assert bid is not None
        price = float(bid - 70)
        placed = (
            await connection.new_order(
                symbol=symbol,
                side=models_ws.NewOrderSideEnum.BUY,
                type=models_ws.NewOrderTypeEnum.LIMIT,
                time_in_force=models_ws.NewOrderTimeInForceEnum.GTC,
                quantity=qty,
                price=price,
            )
        ).data()
        assert placed.status == 200 and placed.result.status == "NEW"
        order_id = placed.result.order_id
        assert placed.rate_limits  # ORDERS and REQUEST_WEIGHT counters come back with every answer

        queried = (await connection.query_order(symbol=symbol, order_id=order_id)).data()
        assert queried.result.order_id == order_id and Decimal(queried.result.price) == Decimal(str(price))

        modified = (
            await connection.modify_order(
                symbol=symbol,
                side=models_ws.ModifyOrderSideEnum.BUY,
                order_id=order_id,
                quantity=qty * 2,
                price=price - 1,
            )
        ).data()
        assert Decimal(modified.result.orig_qty) == Decimal(str(qty * 2))

        cancelled = (await connection.cancel_order(symbol=symbol, order_id=order_id)).data()
        assert cancelled.result.status == "CANCELED"

        positions = (await connection.position_information()).data()
        balances = (await connection.futures_account_balance()).data()
        assert positions.status == 200 and balances.status == 200
        assets = {b.asset for b in balances.result}
        assert ("USDT" in assets) if flavor == "usdm" else ("BTC" in assets)
        started = (await connection.start_user_data_stream()).data()
        assert len(started.result.listen_key) == 64
    finally:
        await ws_api.close_connection(close_session=True)
