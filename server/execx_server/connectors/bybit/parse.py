"""Bybit wire types <-> domain types: the one place that sees both (DESIGN §2). Domain orders become
``order.create|amend|cancel`` parameters here (signing is ``signing.py``'s); answers, rows and stream
items become ``ExecutionReport``s. Every function is pure."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...domain.enums import Exchange, Liquidity, OrderStatus, OrderType, Side, TimeInForce
from ...domain.errors import ValidationError
from ...domain.instruments import InstrumentRules
from ...domain.numbers import to_wire
from ...domain.venue import BookTicker, ExecutionReport, OrderRequest, Trade, TradeWindow, VenuePosition
from .schemas import BookData, ExecutionRow, InstrumentRow, OrderRow, Params, PositionRow, TradeItem

D = Decimal
SIDE = {"Buy": Side.BUY, "Sell": Side.SELL}
SIDE_OUT = {Side.BUY: "Buy", Side.SELL: "Sell"}
STATUS = {
    "Created": OrderStatus.PENDINGNEW,
    "New": OrderStatus.NEW,
    "Untriggered": OrderStatus.PENDINGTRIGGER,  # a conditional order (triggerPrice) waiting for its trigger
    "PartiallyFilled": OrderStatus.PARTIALLYFILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "PartiallyFilledCanceled": OrderStatus.CANCELLED,
    "Deactivated": OrderStatus.CANCELLED,
    "Triggered": OrderStatus.TRIGGERED,  # transient: it fired, its order is being placed (then New)
    "Rejected": OrderStatus.REJECTED,
}
POST_ONLY_CROSS = "EC_PostOnlyWillTakeLiquidity"
POST_ONLY_MESSAGE = f"{POST_ONLY_CROSS}: the post-only order would have taken liquidity and was cancelled"


TIF_OUT = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
TRIGGER_BY = {"last": "LastPrice", "mark": "MarkPrice", "index": "IndexPrice"}
NATIVE_TRIGGERS = frozenset({"stop", "takeprofit"})  # conditional orders; trailing: position-level only
SPOT_TRIGGER_BY = frozenset({"last"})  # spot's conditional orders (orderFilter=StopOrder) watch the last price


# ---------------------------------------------------------------------------------------- requests


def order_params(order: OrderRequest, category: str, *, margin: bool = False) -> Params:
    """The ``order.create`` item of ``order`` (without ``category``: a batch carries it once). Post-only
    is ``timeInForce=PostOnly``; a spot market order is sized in the base coin (``marketUnit``); spot
    margin (``isLeverage=1``) borrows what the order is missing."""
    params: Params = {
        "symbol": order.symbol,
        "side": SIDE_OUT[order.side],
        "orderType": "Market" if order.order_type is OrderType.MARKET else "Limit",
        "qty": to_wire(order.qty),
    }
    if order.order_type is OrderType.MARKET:
        if category == "spot":
            params["marketUnit"] = "baseCoin"  # spot market buys are sized in the quote coin by default
    else:
        if order.price is None:
            raise ValidationError("price", "a limit order needs a price")
        params["price"] = to_wire(order.price)
        params["timeInForce"] = "PostOnly" if order.order_type is OrderType.POSTONLY else TIF_OUT[order.tif]
    params["orderLinkId"] = order.cl_order_id
    if order.trigger is not None:
        params.update(trigger_params(order, category))
    if order.reduce_only:
        params["reduceOnly"] = True
    if margin:
        params["isLeverage"] = 1
    return params


def trigger_rises(order: OrderRequest) -> bool:
    """Whether ``order``'s trigger fires when the price rises to its level: a buy stop and a sell take-profit
    rise, a sell stop and a buy take-profit fall."""
    trigger = order.trigger
    return trigger is not None and (trigger.kind == "stop") == (order.side is Side.BUY)


def trigger_params(order: OrderRequest, category: str) -> Params:
    """A conditional order's fields (v5 create order). Linear / inverse: ``triggerPrice``,
    ``triggerDirection`` (1: fires when the price rises to it, 2: when it falls to it) and ``triggerBy``.
    Spot: ``triggerPrice`` with ``orderFilter=StopOrder`` (a spot conditional order: nothing occupied until it
    fires); ``triggerDirection`` and ``triggerBy`` are linear / inverse parameters: spot watches the last price
    and takes the direction from where the trigger price stands against it (``spot_level_reached``)."""
    trigger = order.trigger
    if trigger is None or trigger.kind not in NATIVE_TRIGGERS or trigger.price is None:
        raise ValidationError("triggerKind", "Bybit holds stop and take-profit orders with a trigger price only")
    if category == "spot":
        if trigger.reference not in SPOT_TRIGGER_BY:
            raise ValidationError("triggerReference", "Bybit spot's conditional orders watch the last price only")
        return {"triggerPrice": to_wire(trigger.price), "orderFilter": "StopOrder"}
    return {
        "triggerPrice": to_wire(trigger.price),
        "triggerDirection": 1 if trigger_rises(order) else 2,
        "triggerBy": TRIGGER_BY[trigger.reference],
    }


def spot_level_reached(order: OrderRequest, last: Decimal) -> str:
    """Why ``order``'s level cannot be held on Bybit spot with the last price at ``last``, or ''. Spot has no
    ``triggerDirection``: a trigger price above the last price fires when the price rises to it, one below
    when it falls to it. A level the last price already reached (a buy stop at or below it, a sell stop at or
    above it, ...) would be held the other way round, so it is refused as linear's 110092 / 110093 refuse it."""
    trigger = order.trigger
    if trigger is None or trigger.price is None:
        return ""
    rises = trigger_rises(order)
    if (rises and trigger.price > last) or (not rises and trigger.price < last):
        return ""
    way, side = ("rise", "at or below") if rises else ("fall", "at or above")
    return (
        f"triggerPrice {to_wire(trigger.price)} is {side} the last price {to_wire(last)}: the {order.side.value} "
        f"{trigger.kind} should fire when the price {way}s to it, and Bybit spot would hold it the other way round"
    )


def spot_held_the_other_way(order: OrderRequest, row: OrderRow) -> str:
    """Why the venue's row of ``order`` (a spot conditional order) is held the other way round, or '': its
    ``triggerDirection`` (1 rise, 2 fall: where the venue put ``triggerPrice`` against its last price) is not the
    direction ``order``'s kind and side mean (the last price crossed the level between execx's read and the
    placement). A row without a direction says nothing."""
    raw = str(row.get("triggerDirection", ""))
    if raw not in ("1", "2") or order.trigger is None or order.trigger.price is None:
        return ""
    rises = raw == "1"
    if rises == trigger_rises(order):
        return ""
    return (
        f"Bybit spot held it to fire when the price {'rises' if rises else 'falls'} to triggerPrice "
        f"{to_wire(order.trigger.price)} (the last price crossed the level as it was placed): cancelled at the venue"
    )


def ticker_params(category: str, symbol: str) -> Params:
    """``GET /v5/market/tickers`` of one symbol (public)."""
    return {"category": category, "symbol": symbol}


def parse_last_price(rows: list[dict[str, Any]]) -> Decimal | None:
    """The ``lastPrice`` of a tickers answer's one row; None without one."""
    raw = rows[0].get("lastPrice", "") if rows else ""
    return D(raw) if raw else None


def amend_params(category: str, symbol: str, cl_order_id: str, qty: Decimal, price: Decimal | None) -> Params:
    """``order.amend`` by ``orderLinkId``: the new quantity, and the new price when there is one."""
    params: Params = {"category": category, "symbol": symbol, "orderLinkId": cl_order_id, "qty": to_wire(qty)}
    if price is not None:
        params["price"] = to_wire(price)
    return params


def cancel_params(symbol: str, cl_order_id: str, order_filter: str = "") -> Params:
    """The ``order.cancel`` item (without ``category``: a batch carries it once); spot's ``orderFilter``
    (``Order`` by default: ``StopOrder`` cancels a conditional order waiting for its trigger)."""
    params: Params = {"symbol": symbol, "orderLinkId": cl_order_id}
    if order_filter:
        params["orderFilter"] = order_filter
    return params


# ---------------------------------------------------------------------------------------- answers


def cancel_all_params(category: str, symbol: str, order_filter: str = "") -> Params:
    """``/v5/order/cancel-all`` of one symbol (of one ``orderFilter``'s kind of order, if given)."""
    params: Params = {"category": category, "symbol": symbol}
    if order_filter:
        params["orderFilter"] = order_filter
    return params


def order_query(category: str, symbol: str, cl_order_id: str, *, stop: bool = False) -> Params:
    """One order by its ``orderLinkId``: ``/v5/order/realtime``, ``/v5/order/history``, ``/v5/execution/list``;
    ``stop``: among the conditional orders (``orderFilter=StopOrder``, where an untriggered one is listed)."""
    query: Params = {"category": category, "symbol": symbol, "orderLinkId": cl_order_id}
    if stop:
        query["orderFilter"] = "StopOrder"
    return query


def executions_since(category: str, symbol: str, start_ms: int) -> Params:
    """``/v5/execution/list`` of ``symbol`` from ``start_ms`` (a recovery reads what it missed)."""
    return {"category": category, "symbol": symbol, "startTime": max(0, start_ms)}


def listing_queries(category: str, settle_coins: list[str], symbol: str | None = None) -> list[Params]:
    """``/v5/order/realtime`` (open orders) or ``/v5/position/list`` of ``symbol``, or of the whole category:
    linear needs ``symbol``, ``baseCoin`` or ``settleCoin``, so one query per settle coin there."""
    if symbol is not None:
        return [{"category": category, "symbol": symbol}]
    if category == "linear":
        return [{"category": category, "settleCoin": settle} for settle in settle_coins]
    return [{"category": category}]


def acknowledged(order: OrderRequest, exch_order_id: str, now_ns: int) -> ExecutionReport:
    """``order.create``'s answer (``orderId``, ``orderLinkId`` only) as the order's ``new`` report (a
    conditional order's: ``pendingtrigger``)."""
    return ExecutionReport(
        cl_order_id=order.cl_order_id,
        symbol=order.symbol,
        exch_order_id=exch_order_id,
        status=OrderStatus.NEW if order.trigger is None else OrderStatus.PENDINGTRIGGER,
        side=order.side,
        price=order.price,
        qty=order.qty,
        cum_filled=D(0),
        exch_time_ns=now_ns,
    )


def amended(
    symbol: str,
    cl_order_id: str,
    exch_order_id: str,
    side: Side,
    qty: Decimal,
    price: Decimal | None,
    cum_filled: Decimal,
    now_ns: int,
    untriggered: bool = False,
) -> ExecutionReport:
    """``order.amend``'s answer (ids only) as a report of the new terms and what was filled so far (a
    conditional order still waiting for its trigger: ``pendingtrigger``)."""
    status = OrderStatus.PARTIALLYFILLED if cum_filled else OrderStatus.NEW
    return ExecutionReport(
        cl_order_id=cl_order_id,
        symbol=symbol,
        exch_order_id=exch_order_id,
        status=OrderStatus.PENDINGTRIGGER if untriggered else status,
        side=side,
        price=price,
        qty=qty,
        cum_filled=cum_filled,
        exch_time_ns=now_ns,
        message="amend",
    )


def cancelled(
    symbol: str,
    cl_order_id: str,
    exch_order_id: str,
    side: Side,
    qty: Decimal,
    price: Decimal | None,
    cum_filled: Decimal,
    now_ns: int,
) -> ExecutionReport:
    """``order.cancel``'s answer (ids only) as the order's ``cancelled`` report."""
    return ExecutionReport(
        cl_order_id=cl_order_id,
        symbol=symbol,
        exch_order_id=exch_order_id,
        status=OrderStatus.CANCELLED,
        side=side,
        price=price,
        qty=qty,
        cum_filled=cum_filled,
        exch_time_ns=now_ns,
    )


def in_time_order(rows: list[ExecutionRow]) -> list[ExecutionRow]:
    """Executions oldest first (the venue lists newest first); ties by execution id."""
    return sorted(rows, key=lambda r: (int(r.get("execTime") or 0), r.get("execId", "")))


def parse_fills(rows: list[ExecutionRow]) -> list[ExecutionReport]:
    """``/v5/execution/list`` rows of one order as fill reports in time order, each counting the
    quantity filled up to it (funding / settlement rows are not fills)."""
    fills: list[ExecutionReport] = []
    cum = D(0)
    for row in in_time_order(rows):
        if row.get("execType", "Trade") != "Trade":
            continue
        cum += D(row["execQty"])
        fills.append(parse_execution(row, cum))
    return fills


def _dec(text: str | None) -> Decimal:
    return D(text) if text else D(0)


def _ns(ms: str | int | None) -> int:
    return int(ms or 0) * 1_000_000


def parse_instruments(exchange: Exchange, category: str, rows: list[InstrumentRow]) -> dict[str, InstrumentRules]:
    """``/v5/market/instruments-info`` rows as rules: ``priceFilter`` tickSize/minPrice/maxPrice,
    ``lotSizeFilter`` step (spot basePrecision, else qtyStep), minOrderQty, the limit-order maximum
    (maxOrderQty; spot maxLimitOrderQty where given), the market-order maximum (maxMktOrderQty; spot
    maxMarketOrderQty), the notional limits (spot minOrderAmt/maxOrderAmt, linear minNotionalValue).
    Absent or zero: no limit. Spot's price band (``riskParameters``) needs the market price: not checked."""
    rules: dict[str, InstrumentRules] = {}
    for row in rows:
        if row.get("status", "Trading") != "Trading":
            continue
        lot = row.get("lotSizeFilter", {})
        price = row.get("priceFilter", {})
        spot = category == "spot"
        tick = _dec(price.get("tickSize"))
        step = _dec(lot.get("basePrecision") if spot else lot.get("qtyStep"))
        rules[row["symbol"]] = InstrumentRules(
            exchange=exchange,
            symbol=row["symbol"],
            tick=tick,
            lot=step,
            min_qty=_dec(lot.get("minOrderQty")) or step,
            max_qty=_limit(lot.get("maxLimitOrderQty") or lot.get("maxOrderQty")),
            min_notional=_dec(lot.get("minOrderAmt") if spot else lot.get("minNotionalValue")),
            contract_size=D(1),
            inverse=category == "inverse",  # quantities are USD contracts of 1 USD each
            market_max_qty=_limit(lot.get("maxMarketOrderQty") if spot else lot.get("maxMktOrderQty")),
            min_price=_dec(price.get("minPrice")),
            max_price=_limit(price.get("maxPrice")),
            max_notional=_limit(lot.get("maxOrderAmt")) if spot else None,
        )
    return rules


def _limit(text: str | None) -> Decimal | None:
    value = _dec(text)
    return value if value > 0 else None


def order_message(row: OrderRow) -> str:
    reason = row.get("rejectReason", "")
    if reason == POST_ONLY_CROSS:
        return POST_ONLY_MESSAGE
    return reason if reason and reason != "EC_NoError" else ""


def parse_order(row: OrderRow) -> ExecutionReport:
    """An order row (REST or ``order`` topic) as a status report (no fill: fills come from executions)."""
    price = _dec(row.get("price"))
    return ExecutionReport(
        cl_order_id=row.get("orderLinkId", ""),
        symbol=row["symbol"],
        exch_order_id=row["orderId"],
        status=STATUS.get(row.get("orderStatus", ""), OrderStatus.NEW),
        side=SIDE[row["side"]],
        price=price if price else None,
        qty=_dec(row.get("qty")),
        cum_filled=_dec(row.get("cumExecQty")),
        exch_time_ns=_ns(row.get("updatedTime") or row.get("createdTime")),
        message=order_message(row),
    )


def parse_execution(row: ExecutionRow, cum_filled: Decimal, final_status: OrderStatus | None = None) -> ExecutionReport:
    """One execution as a fill report; ``cum_filled`` includes it. The status follows ``leavesQty``
    (0: filled), unless ``final_status`` (e.g. an IOC remainder cancelled) is known."""
    leaves = _dec(row.get("leavesQty"))
    status = OrderStatus.FILLED if leaves == 0 else OrderStatus.PARTIALLYFILLED
    order_price = _dec(row.get("orderPrice"))
    return ExecutionReport(
        cl_order_id=row.get("orderLinkId", ""),
        symbol=row["symbol"],
        exch_order_id=row["orderId"],
        status=final_status or status,
        side=SIDE[row["side"]],
        price=order_price if order_price else None,
        qty=_dec(row.get("orderQty")),
        cum_filled=cum_filled,
        exch_time_ns=_ns(row.get("execTime")),
        trade_id=row["execId"],
        fill_qty=_dec(row["execQty"]),
        fill_price=_dec(row["execPrice"]),
        liquidity=Liquidity.ADD if row.get("isMaker") else Liquidity.REMOVE,
        fee=_dec(row.get("execFee")),
        fee_asset=row.get("feeCurrency", ""),
    )


def parse_positions(rows: list[PositionRow]) -> list[VenuePosition]:
    out = []
    for row in rows:
        size = _dec(row.get("size"))
        if not size:
            continue
        signed = size if row.get("side") == "Buy" else -size
        out.append(VenuePosition(row["symbol"], signed, _dec(row.get("avgPrice"))))
    return out


def parse_book(data: BookData, now_ns: int) -> BookTicker | None:
    """Level 1 of an ``orderbook.1`` snapshot; None while a side is empty."""
    if not data["b"] or not data["a"]:
        return None
    (bid, bid_qty), (ask, ask_qty) = data["b"][0][:2], data["a"][0][:2]
    return BookTicker(data["s"], D(bid), D(bid_qty), D(ask), D(ask_qty), now_ns)


# ``GET /v5/market/recent-trade`` ``limit`` maxima: spot [1, 60], the others [1, 1000]; the venue keeps only
# these recent trades (no time range, no paging)
RECENT_TRADE_LIMIT = {"spot": 60, "linear": 1000, "inverse": 1000, "option": 1000}


def recent_trade_params(category: str, symbol: str) -> Params:
    """``GET /v5/market/recent-trade``: the newest public trades of ``symbol``, as many as the venue gives."""
    return {"category": category, "symbol": symbol, "limit": RECENT_TRADE_LIMIT[category]}


def parse_recent_trades(rows: list[dict[str, Any]], start_ms: int, end_ms: int, limit: int) -> TradeWindow:
    """recent-trade ``list`` rows (newest first: ``execId``, ``symbol``, ``price``, ``size``, ``side`` the
    taker's, ``time`` ms) within ``start_ms``..``end_ms``, oldest first; complete when the rows reach back
    to ``start_ms`` or are fewer than ``limit`` (every trade the venue has)."""
    trades = [
        Trade(
            str(r["symbol"]), str(r["execId"]), D(str(r["price"])), D(str(r["size"])), SIDE[r["side"]], _ns(r["time"])
        )
        for r in rows
    ]
    trades.sort(key=lambda t: (t.exch_time_ns, t.trade_id))
    reaches = bool(trades) and trades[0].exch_time_ns // 1_000_000 <= start_ms
    inside = [t for t in trades if start_ms <= t.exch_time_ns // 1_000_000 <= end_ms]
    return TradeWindow(inside, complete=reaches or len(rows) < limit)


def parse_trade(item: TradeItem) -> Trade:
    return Trade(item["s"], str(item["i"]), D(item["p"]), D(item["v"]), SIDE[item["S"]], _ns(item["T"]))
