"""Binance spot REST API (``api.binance.com``): ``/api/v3/...`` routes on ``BinanceHttp``.

Weights are the documented ones (binance-spot-api-docs ``rest-api.md``); where a weight depends on
the parameters (``openOrders`` without a symbol, ``depth`` by limit, ticker without symbol), the
extra weight is charged inside the handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...core.engine import Market
from ...core.types import ZERO
from .errors import BinanceError
from .rest_common import BinanceHttp, Call
from .spot_trading import SpotTrading, enum_param, select, symbols_param
from .spot_wire import (
    KLINE_MS,
    book_ticker,
    depth,
    exchange_info,
    klines,
    last_price,
    ticker_24hr,
)
from .spot_wire import (
    account_info as account_info_wire,
)
from .spot_wire import d8 as _d8


def _charge(http: BinanceHttp, call: Call, extra: int) -> None:
    """Charge weight beyond the route's base weight (parameter-dependent weights)."""
    if extra > 0:
        call.headers.update(http.limiter.take("REQUEST_WEIGHT", call.request.remote or "?", extra))


def depth_weight(limit: int) -> int:
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def install_rest(
    http: BinanceHttp,
    market: Market,
    trading: SpotTrading,
    book_update_id: Callable[[str], int],
) -> None:
    """Register every spot REST route on ``http``; ``book_update_id`` gives depth's ``lastUpdateId``."""
    now = http.exchange.now_ms

    # ------------------------------------------------------------------ general

    @http.route("GET", "/api/v3/ping", weight=1)
    async def ping(call: Call) -> Any:
        return {}

    @http.route("GET", "/api/v3/time", weight=1)
    async def server_time(call: Call) -> Any:
        return {"serverTime": now()}

    @http.route("GET", "/api/v3/exchangeInfo", weight=20)
    async def exchange_information(call: Call) -> Any:
        return exchange_info(market, http.limiter, now(), symbols_param(call.params, market.instruments))

    # ------------------------------------------------------------------ market data

    @http.route("GET", "/api/v3/depth", weight=5)
    async def order_book(call: Call) -> Any:
        inst = trading.instrument(call.params)
        limit = call.params.int("limit", default=100)
        assert limit is not None
        if limit <= 0:
            raise BinanceError(-1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.")
        limit = min(limit, 5000)
        _charge(http, call, depth_weight(limit) - 5)
        return depth(market, inst.symbol, limit, book_update_id(inst.symbol))

    @http.route("GET", "/api/v3/ticker/bookTicker", weight=2)
    async def ticker_book(call: Call) -> Any:
        single = "symbol" in call.params
        symbols = symbols_param(call.params, market.instruments)
        if not single:
            _charge(http, call, 2)
            return [book_ticker(market, s) for s in symbols]
        return book_ticker(market, symbols[0])

    @http.route("GET", "/api/v3/ticker/price", weight=2)
    async def ticker_price(call: Call) -> Any:
        single = "symbol" in call.params
        symbols = symbols_param(call.params, market.instruments)
        items = [{"symbol": s, "price": _d8(last_price(market, s))} for s in symbols]
        if not single:
            _charge(http, call, 2)
            return items
        return items[0]

    @http.route("GET", "/api/v3/ticker/24hr", weight=2)
    async def ticker_day(call: Call) -> Any:
        single = "symbol" in call.params
        symbols = symbols_param(call.params, market.instruments)
        kind = enum_param(call.params, "type", ("FULL", "MINI")) or "FULL"
        items = [ticker_24hr(market, s, now(), mini=kind == "MINI") for s in symbols]
        if not single:
            _charge(http, call, 78 if "symbols" not in call.params else 0)
            return items
        return items[0]

    @http.route("GET", "/api/v3/avgPrice", weight=2)
    async def avg_price(call: Call) -> Any:
        inst = trading.instrument(call.params)
        return {"mins": 5, "price": _d8(market.mark_price(inst.symbol)), "closeTime": now()}

    @http.route("GET", "/api/v3/trades", weight=25)
    async def recent_trades(call: Call) -> Any:
        inst = trading.instrument(call.params)
        limit = trading._limit(call.params, 500, 1000)
        trades = list(market.public_trades[inst.symbol])[-limit:]
        return [
            {
                "id": t.trade_id,
                "price": _d8(t.price),
                "qty": _d8(t.qty),
                "quoteQty": _d8(t.price * t.qty),
                "time": t.time_ms,
                "isBuyerMaker": t.taker_side.value == "SELL",
                "isBestMatch": True,
            }
            for t in trades
        ]

    @http.route("GET", "/api/v3/aggTrades", weight=4)
    async def agg_trades(call: Call) -> Any:
        # Every simulated print is its own aggregate (one taker order, one price level per print).
        inst = trading.instrument(call.params)
        limit = trading._limit(call.params, 500, 1000)
        from_id = call.params.int("fromId")
        start, end = call.params.int("startTime"), call.params.int("endTime")
        trades = select(
            list(market.public_trades[inst.symbol]),
            lambda t: t.trade_id,
            lambda t: t.time_ms,
            from_id,
            start,
            end,
            limit,
        )
        return [
            {
                "a": t.trade_id,
                "p": _d8(t.price),
                "q": _d8(t.qty),
                "f": t.trade_id,
                "l": t.trade_id,
                "T": t.time_ms,
                "m": t.taker_side.value == "SELL",
                "M": True,
            }
            for t in trades
        ]

    @http.route("GET", "/api/v3/klines", weight=2)
    async def candles(call: Call) -> Any:
        inst = trading.instrument(call.params)
        interval = call.params.str("interval", required=True)
        if interval not in KLINE_MS:
            raise BinanceError(-1120, "Invalid interval.")
        limit = trading._limit(call.params, 500, 1000)
        return klines(market, inst.symbol, interval, call.params.int("startTime"), call.params.int("endTime"), limit)

    # ------------------------------------------------------------------ trading

    @http.route("POST", "/api/v3/order", weight=1, security="SIGNED")
    async def new_order(call: Call) -> Any:
        result, counts = await trading.new_order(call.account, call.params)
        call.headers.update(counts)
        return result

    @http.route("POST", "/api/v3/orderList/oco", weight=1, security="SIGNED")
    async def new_oco(call: Call) -> Any:
        result, counts = await trading.lists.place_oco(call.account, call.params)
        call.headers.update(counts)
        return result

    @http.route("POST", "/api/v3/orderList/oto", weight=1, security="SIGNED")
    async def new_oto(call: Call) -> Any:
        result, counts = await trading.lists.place_oto(call.account, call.params)
        call.headers.update(counts)
        return result

    @http.route("POST", "/api/v3/orderList/otoco", weight=1, security="SIGNED")
    async def new_otoco(call: Call) -> Any:
        result, counts = await trading.lists.place_otoco(call.account, call.params)
        call.headers.update(counts)
        return result

    @http.route("DELETE", "/api/v3/orderList", weight=1, security="SIGNED")
    async def cancel_order_list(call: Call) -> Any:
        return trading.lists.cancel(call.account, call.params)

    @http.route("POST", "/api/v3/order/test", weight=1, security="SIGNED")
    async def test_order(call: Call) -> Any:
        if call.params.bool("computeCommissionRates"):
            _charge(http, call, 19)
        return trading.test_order(call.account, call.params)

    @http.route("DELETE", "/api/v3/order", weight=1, security="SIGNED")
    async def cancel_order(call: Call) -> Any:
        return trading.cancel_order(call.account, call.params)

    @http.route("DELETE", "/api/v3/openOrders", weight=1, security="SIGNED")
    async def cancel_open_orders(call: Call) -> Any:
        return trading.cancel_open_orders(call.account, call.params)

    @http.route("POST", "/api/v3/order/cancelReplace", weight=1, security="SIGNED")
    async def cancel_replace(call: Call) -> Any:
        result, counts = await trading.cancel_replace(call.account, call.params)
        call.headers.update(counts)
        return result

    @http.route("PUT", "/api/v3/order/amend/keepPriority", weight=4, security="SIGNED")
    async def amend_keep_priority(call: Call) -> Any:
        return trading.amend_keep_priority(call.account, call.params)

    # ------------------------------------------------------------------ account

    @http.route("GET", "/api/v3/order", weight=4, security="SIGNED")
    async def query_order(call: Call) -> Any:
        return trading.query_order(call.account, call.params)

    @http.route("GET", "/api/v3/orderList", weight=4, security="SIGNED")
    async def query_order_list(call: Call) -> Any:
        return trading.lists.query(call.account, call.params)

    @http.route("GET", "/api/v3/openOrderList", weight=6, security="SIGNED")
    async def open_order_lists(call: Call) -> Any:
        return trading.lists.open_lists(call.account)

    @http.route("GET", "/api/v3/allOrderList", weight=20, security="SIGNED")
    async def all_order_lists(call: Call) -> Any:
        return trading.lists.all_lists(call.account, call.params, ws=False)

    @http.route("GET", "/api/v3/openOrders", weight=6, security="SIGNED")
    async def open_orders(call: Call) -> Any:
        if "symbol" not in call.params:
            _charge(http, call, 74)
        return trading.open_orders(call.account, call.params)

    @http.route("GET", "/api/v3/allOrders", weight=20, security="SIGNED")
    async def all_orders(call: Call) -> Any:
        return trading.all_orders(call.account, call.params)

    @http.route("GET", "/api/v3/myTrades", weight=20, security="SIGNED")
    async def my_trades(call: Call) -> Any:
        return trading.my_trades(call.account, call.params)

    @http.route("GET", "/api/v3/account", weight=20, security="SIGNED")
    async def account_information(call: Call) -> Any:
        return account_info_wire(market, call.account, now(), call.params.bool("omitZeroBalances"))

    @http.route("GET", "/api/v3/account/commission", weight=20, security="SIGNED")
    async def account_commission(call: Call) -> Any:
        """The account's commission rates for one symbol: the instrument's maker/taker fees (what the
        simulator charges), no tax, no BNB discount in use."""
        symbol = call.params.str("symbol", required=True)
        inst = market.instruments.get(symbol)
        if inst is None:
            raise BinanceError(-1121, "Invalid symbol.")
        zero = _d8(ZERO)
        return {
            "symbol": symbol,
            "standardCommission": {
                "maker": _d8(inst.maker_fee),
                "taker": _d8(inst.taker_fee),
                "buyer": zero,
                "seller": zero,
            },
            "specialCommission": {"maker": zero, "taker": zero, "buyer": zero, "seller": zero},
            "taxCommission": {"maker": zero, "taker": zero, "buyer": zero, "seller": zero},
            "discount": {
                "enabledForAccount": False,
                "enabledForSymbol": False,
                "discountAsset": "BNB",
                "discount": _d8(ZERO),
            },
        }
