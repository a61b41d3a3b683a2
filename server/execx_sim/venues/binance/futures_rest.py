"""REST routes of the Binance futures front-ends (``/fapi/...`` for USDⓈ-M, ``/dapi/...`` for COIN-M).

Weights are those of the official docs (as far as they were read; see ``shared/venues/binance.md``).
Handlers only translate: validation and order logic live in ``FuturesTrading.op_*`` (``futures_trading``).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...core.accounts import Account
from ...core.types import ZERO, OrderError, Side
from .errors import BinanceError
from .futures_wire import fixed
from .rest_common import Call, Params
from .spot_trading import select

HOUR_MS = 3_600_000  # aggTrades: startTime and endTime less than one hour apart

if TYPE_CHECKING:
    from .futures_frontend import FuturesFrontend


def register_rest(fe: FuturesFrontend) -> None:
    route = fe.http.route
    p = fe.prefix
    market = fe.market
    coinm = fe.coinm

    # ------------------------------------------------------------------ general / market data

    @route("GET", f"{p}/v1/ping", 1)
    async def ping(call: Call) -> Any:
        return {}

    @route("GET", f"{p}/v1/time", 1)
    async def server_time(call: Call) -> Any:
        return {"serverTime": fe.now()}

    @route("GET", f"{p}/v1/exchangeInfo", 1)
    async def exchange_info(call: Call) -> Any:
        return fe.exchange_info()

    @route("GET", f"{p}/v1/depth", 2)
    async def depth(call: Call) -> Any:
        return fe.depth(call.params)

    def book_ticker_of(symbol: str) -> dict[str, Any]:
        inst = market.instruments[symbol]
        bid, bq, ask, aq = market.books[symbol].top()
        out: dict[str, Any] = {"symbol": symbol}
        if coinm:
            out["pair"] = inst.pair
        out.update(
            {
                "bidPrice": inst.fmt_price(bid or ZERO),
                "bidQty": inst.fmt_qty(bq),
                "askPrice": inst.fmt_price(ask or ZERO),
                "askQty": inst.fmt_qty(aq),
                "time": fe.now(),
                "lastUpdateId": market.books[symbol].update_id,
            }
        )
        return out

    def last_price(symbol: str) -> Decimal:
        return market.last_price.get(symbol, market.mark_price(symbol))

    @route("GET", f"{p}/v1/ticker/bookTicker", 2)
    async def book_ticker(call: Call) -> Any:
        symbol = fe.symbol(call.params, required=False)
        if symbol:
            return [book_ticker_of(symbol)] if coinm else book_ticker_of(symbol)
        return [book_ticker_of(s) for s in market.instruments]

    def price_of(symbol: str) -> dict[str, Any]:
        inst = market.instruments[symbol]
        out: dict[str, Any] = {"symbol": symbol}
        if coinm:
            out["ps"] = inst.pair
        out.update({"price": inst.fmt_price(last_price(symbol)), "time": fe.now()})
        return out

    @route("GET", f"{p}/v1/ticker/price", 1)
    async def ticker_price(call: Call) -> Any:
        symbol = fe.symbol(call.params, required=False)
        if symbol:
            return [price_of(symbol)] if coinm else price_of(symbol)
        return [price_of(s) for s in market.instruments]

    if not coinm:

        @route("GET", f"{p}/v2/ticker/price", 1)
        async def ticker_price_v2(call: Call) -> Any:
            return await ticker_price(call)

    def ticker_24h(symbol: str) -> dict[str, Any]:
        inst = market.instruments[symbol]
        now = fe.now()
        trades = [t for t in market.public_trades[symbol] if t.time_ms >= now - 86_400_000]
        last = last_price(symbol)
        open_px = trades[0].price if trades else last
        high = max((t.price for t in trades), default=last)
        low = min((t.price for t in trades), default=last)
        volume = sum((t.qty for t in trades), ZERO)
        if inst.contract_size != 1 or coinm:
            quote_vol = sum((t.qty * inst.contract_size / t.price for t in trades), ZERO)
        else:
            quote_vol = sum((t.qty * t.price for t in trades), ZERO)
        change = last - open_px
        pct = change / open_px * 100 if open_px else ZERO
        out: dict[str, Any] = {"symbol": symbol}
        if coinm:
            out["pair"] = inst.pair
        out.update(
            {
                "priceChange": inst.fmt_price(change),
                "priceChangePercent": fixed(pct, 3),
                "weightedAvgPrice": inst.fmt_price(last),
                "lastPrice": inst.fmt_price(last),
                "lastQty": inst.fmt_qty(trades[-1].qty if trades else ZERO),
                "openPrice": inst.fmt_price(open_px),
                "highPrice": inst.fmt_price(high),
                "lowPrice": inst.fmt_price(low),
                "volume": inst.fmt_qty(volume),
            }
        )
        out["baseVolume" if coinm else "quoteVolume"] = fixed(quote_vol, 8)
        out.update(
            {
                "openTime": trades[0].time_ms if trades else now - 86_400_000,
                "closeTime": now,
                "firstId": trades[0].trade_id if trades else -1,
                "lastId": trades[-1].trade_id if trades else -1,
                "count": len(trades),
            }
        )
        return out

    @route("GET", f"{p}/v1/ticker/24hr", 1)
    async def ticker_24hr(call: Call) -> Any:
        symbol = fe.symbol(call.params, required=False)
        if symbol:
            return [ticker_24h(symbol)] if coinm else ticker_24h(symbol)
        return [ticker_24h(s) for s in market.instruments]

    def premium(symbol: str) -> dict[str, Any]:
        inst = market.instruments[symbol]
        mark = market.mark_price(symbol)
        now = fe.now()
        out: dict[str, Any] = {"symbol": symbol}
        if coinm:
            out["pair"] = inst.pair
        out.update(
            {
                "markPrice": fixed(mark, 8),
                "indexPrice": fixed(mark, 8),
                "estimatedSettlePrice": fixed(mark, 8),
                "lastFundingRate": "0.00010000",
                "interestRate": "0.00010000",
                "nextFundingTime": (now // 28_800_000 + 1) * 28_800_000,
                "time": now,
            }
        )
        return out

    @route("GET", f"{p}/v1/premiumIndex", 1)
    async def premium_index(call: Call) -> Any:
        symbol = fe.symbol(call.params, required=False)
        if symbol and not coinm:
            return premium(symbol)
        return [premium(s) for s in market.instruments if not symbol or s == symbol]

    @route("GET", f"{p}/v1/trades", 5)
    async def trades(call: Call) -> Any:
        symbol = fe.symbol(call.params)
        inst = market.instruments[symbol]
        limit = min(max(call.params.int("limit", default=500) or 500, 1), 1000)
        out = []
        for t in list(market.public_trades[symbol])[-limit:]:
            row: dict[str, Any] = {"id": t.trade_id, "price": inst.fmt_price(t.price), "qty": inst.fmt_qty(t.qty)}
            if coinm:
                row["baseQty"] = fixed(t.qty * inst.contract_size / t.price, 8)
            else:
                row["quoteQty"] = fixed(t.qty * t.price, 5)
            row.update({"time": t.time_ms, "isBuyerMaker": t.taker_side is Side.SELL})
            out.append(row)
        return out

    @route("GET", f"{p}/v1/aggTrades", 20)
    async def agg_trades(call: Call) -> Any:
        symbol = fe.symbol(call.params)
        inst = market.instruments[symbol]
        limit = min(max(call.params.int("limit", default=500) or 500, 1), 1000)
        from_id = call.params.int("fromId")
        start, end = call.params.int("startTime"), call.params.int("endTime")
        if start is not None and end is not None and not 0 <= end - start < HOUR_MS:
            raise BinanceError(-1127, "More than 1 hours between startTime and endTime.")
        rows = select(
            list(market.public_trades[symbol]), lambda t: t.trade_id, lambda t: t.time_ms, from_id, start, end, limit
        )
        return [
            {
                "a": t.trade_id,
                "p": inst.fmt_price(t.price),
                "q": inst.fmt_qty(t.qty),
                "f": t.trade_id,
                "l": t.trade_id,
                "T": t.time_ms,
                "m": t.taker_side is Side.SELL,
            }
            for t in rows
        ]

    @route("GET", f"{p}/v1/klines", 5)
    async def klines(call: Call) -> Any:
        return fe.klines(call.params)

    # ------------------------------------------------------------------ orders

    @route("POST", f"{p}/v1/order", 0, "SIGNED")  # docs: 0 on IP weight, 1 on order counts
    async def new_order(call: Call) -> Any:
        return await fe.trading.op_place(call.account, call.params, call.headers)

    @route("POST", f"{p}/v1/order/test", 1, "SIGNED")
    async def test_order(call: Call) -> Any:
        spec = fe.trading.parse_new_order(call.account, call.params)
        spec.pop("_resp")
        try:
            market.place(call.account, validate_only=True, **spec)
        except OrderError as e:
            raise fe.order_error(e, spec["symbol"]) from None
        return {}

    def signed(method: str, path: str, weight: int, op: Callable[[Account, Params], Any]) -> None:
        """A SIGNED endpoint answered by one synchronous ``FuturesTrading.op_*``."""

        async def handler(call: Call) -> Any:
            return op(call.account, call.params)

        route(method, f"{p}{path}", weight, "SIGNED")(handler)

    # (method, path, IP weight, operation); order placement/modify weigh on the order counters instead.
    for method, path, weight, op in (
        ("DELETE", "/v1/order", 1, fe.trading.op_cancel),
        ("GET", "/v1/order", 1, fe.trading.op_query),
        ("GET", "/v1/openOrder", 1, fe.trading.op_open_order),
        ("GET", "/v1/openOrders", 1, fe.trading.op_open_orders),
        ("GET", "/v1/allOrders", 5, fe.trading.op_all_orders),
        ("GET", "/v1/userTrades", 5, fe.trading.op_user_trades),
        ("DELETE", "/v1/allOpenOrders", 1, fe.trading.op_cancel_all),
        ("DELETE", "/v1/batchOrders", 1, fe.trading.op_batch_cancel),
        ("POST", "/v1/countdownCancelAll", 10, fe.trading.op_countdown),
        ("POST", "/v1/leverage", 1, fe.trading.op_leverage),
    ):
        signed(method, path, weight, op)

    # conditional orders: the Algo Order API (futures_algo.py)
    for method, path, weight, op in (
        ("POST", "/v1/algoOrder", 0, fe.algo.place),
        ("DELETE", "/v1/algoOrder", 1, fe.algo.cancel),
        ("GET", "/v1/algoOrder", 1, fe.algo.query),
        ("GET", "/v1/openAlgoOrders", 1, fe.algo.open_orders),
        ("GET", "/v1/allAlgoOrders", 5, fe.algo.all_orders),
        ("DELETE", "/v1/algoOpenOrders", 1, fe.algo.cancel_all),
    ):
        signed(method, path, weight, op)

    @route("PUT", f"{p}/v1/order", 0, "SIGNED")
    async def modify_order(call: Call) -> Any:
        return fe.trading.op_modify(call.account, call.params, call.headers)

    @route("POST", f"{p}/v1/batchOrders", 5, "SIGNED")
    async def batch_place(call: Call) -> Any:
        return await fe.trading.op_batch_place(call.account, call.params, call.headers)

    @route("PUT", f"{p}/v1/batchOrders", 5, "SIGNED")
    async def batch_modify(call: Call) -> Any:
        return fe.trading.op_batch_modify(call.account, call.params, call.headers)

    # ------------------------------------------------------------------ account

    def account_routes(version: int) -> None:
        @route("GET", f"{p}/v{version}/account", 5, "SIGNED")
        async def account(call: Call) -> Any:
            return fe.trading.op_account(call.account, version)

        @route("GET", f"{p}/v{version}/balance", 5, "SIGNED")
        async def balance(call: Call) -> Any:
            return fe.trading.op_balance(call.account)

        @route("GET", f"{p}/v{version}/positionRisk", 5, "SIGNED")
        async def position_risk(call: Call) -> Any:
            return fe.trading.op_position_risk(call.account, call.params, version)

    for version in (1,) if coinm else (2, 3):
        account_routes(version)

    @route("POST", f"{p}/v1/marginType", 1, "SIGNED")
    async def margin_type(call: Call) -> Any:
        fe.symbol(call.params)
        mode = call.params.enum("marginType", ("ISOLATED", "CROSSED"), required=True)
        if mode == "CROSSED":
            raise BinanceError(-4046, "No need to change margin type.")
        raise BinanceError(-4048, "Margin type cannot be changed if there exists position.")  # cross only

    @route("GET", f"{p}/v1/positionSide/dual", 30, "SIGNED")
    async def position_mode(call: Call) -> Any:
        return {"dualSidePosition": False}

    @route("POST", f"{p}/v1/positionSide/dual", 1, "SIGNED")
    async def set_position_mode(call: Call) -> Any:
        if call.params.bool("dualSidePosition"):
            # Simulator limit (module docstring): one-way mode only; said plainly rather than faked.
            raise BinanceError(-1000, "Hedge mode (dualSidePosition=true) is not supported by the simulator.")
        raise BinanceError(-4059, "No need to change position side.")

    @route("GET", f"{p}/v1/commissionRate", 20, "SIGNED")
    async def commission_rate(call: Call) -> Any:
        symbol = fe.symbol(call.params)
        inst = market.instruments[symbol]
        return {
            "symbol": symbol,
            "makerCommissionRate": f"{inst.maker_fee:f}",
            "takerCommissionRate": f"{inst.taker_fee:f}",
        }

    def brackets(symbol: str) -> dict[str, Any]:
        if coinm:
            return {
                "symbol": symbol,
                "brackets": [
                    {
                        "bracket": 1,
                        "initialLeverage": 125,
                        "qtyCap": 5,
                        "qtyFloor": 0,
                        "maintMarginRatio": 0.004,
                        "cum": 0.0,
                    }
                ],
            }
        return {
            "symbol": symbol,
            "notionalCoef": 1.0,
            "brackets": [
                {
                    "bracket": 1,
                    "initialLeverage": 125,
                    "notionalCap": 50000,
                    "notionalFloor": 0,
                    "maintMarginRatio": 0.004,
                    "cum": 0.0,
                }
            ],
        }

    @route("GET", f"{p}/{'v2' if coinm else 'v1'}/leverageBracket", 1, "SIGNED")
    async def leverage_bracket(call: Call) -> Any:
        symbol = fe.symbol(call.params, required=False)
        if symbol and not coinm:
            return brackets(symbol)
        return [brackets(s) for s in market.instruments if not symbol or s == symbol]

    if not coinm:

        @route("GET", f"{p}/v1/symbolConfig", 5, "SIGNED")
        async def symbol_config(call: Call) -> Any:
            symbol = fe.symbol(call.params, required=False)
            wallet = call.account.wallet(market.name)
            return [
                {
                    "symbol": s,
                    "marginType": "CROSSED",
                    "isAutoAddMargin": False,
                    "leverage": wallet.leverage.get(s, 20),
                    "maxNotionalValue": "250000000",
                }
                for s in market.instruments
                if not symbol or s == symbol
            ]

        @route("GET", f"{p}/v1/accountConfig", 5, "SIGNED")
        async def account_config(call: Call) -> Any:
            return {
                "feeTier": 0,
                "canTrade": True,
                "canDeposit": True,
                "canWithdraw": True,
                "dualSidePosition": False,
                "updateTime": 0,
                "multiAssetsMargin": False,
                "tradeGroupId": -1,
            }

    if not coinm:

        @route("GET", f"{p}/v1/multiAssetsMargin", 30, "SIGNED")
        async def multi_assets(call: Call) -> Any:
            return {"multiAssetsMargin": False}

    # ------------------------------------------------------------------ user data stream

    @route("POST", f"{p}/v1/listenKey", 1, "USER_STREAM")
    async def listen_key_start(call: Call) -> Any:
        return {"listenKey": fe.listen_key_start(call.account)}

    @route("PUT", f"{p}/v1/listenKey", 1, "USER_STREAM")
    async def listen_key_keepalive(call: Call) -> Any:
        return {"listenKey": fe.listen_key_keepalive(call.account, call.params.str("listenKey"))}

    @route("DELETE", f"{p}/v1/listenKey", 1, "USER_STREAM")
    async def listen_key_close(call: Call) -> Any:
        fe.listen_key_close(call.account, call.params.str("listenKey"))
        return {}
