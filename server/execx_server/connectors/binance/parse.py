"""Binance wire messages <-> domain types: the only place that sees both (DESIGN §2). Domain orders
become request parameters here (signing is ``signing.py``'s); answers, queries and stream events become
``ExecutionReport``s.

Every function is pure. Times: Binance sends milliseconds; domain times are nanoseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, cast

from ...domain.enums import Exchange, Liquidity, OrderStatus, OrderType, Side, TimeInForce
from ...domain.errors import ValidationError
from ...domain.instruments import InstrumentRules, PriceBand
from ...domain.numbers import to_wire
from ...domain.venue import (
    BookTicker,
    ExecutionReport,
    GroupRequest,
    NativeTrigger,
    OrderRequest,
    Rejected,
    Trade,
    VenuePosition,
)
from .schemas import (
    BookTickerMsg,
    ExchangeInfo,
    ExecutionReportEvent,
    Filter,
    FuturesOrder,
    FuturesTrade,
    OrderTradeUpdateEvent,
    Params,
    PositionRisk,
    SpotAmendResponse,
    SpotOrder,
    SpotTrade,
    TradeMsg,
)
from .urls import Flavor

ZERO = Decimal(0)
MS = 1_000_000

STATUS: dict[str, OrderStatus] = {
    "NEW": OrderStatus.NEW,
    "PENDING_NEW": OrderStatus.PENDINGNEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLYFILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELLED,
    "PENDING_CANCEL": OrderStatus.PENDINGCANCEL,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,  # expired by self-trade prevention
}


def parse_status(venue_status: str) -> OrderStatus:
    try:
        return STATUS[venue_status]
    except KeyError:
        raise ValueError(f"unknown Binance order status {venue_status!r}") from None


def parse_side(venue_side: str) -> Side:
    if venue_side == "BUY":
        return Side.BUY
    if venue_side == "SELL":
        return Side.SELL
    raise ValueError(f"unknown Binance side {venue_side!r}")


def _dec(text: str | None) -> Decimal:
    return Decimal(text) if text else ZERO


def _price(text: str | None) -> Decimal | None:
    value = _dec(text)
    return value if value > 0 else None  # market orders carry "0" / "0.00000000"


def aggressor_from_buyer_is_maker(m: bool) -> Side:
    """``m`` = buyer is the maker; then the taker (aggressor) sold."""
    return Side.SELL if m else Side.BUY


# ---------------------------------------------------------------------------------------- requests

TIF_OUT: dict[TimeInForce, str] = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
AMENDED_BY_MODIFY = "amended (order modify: queue priority lost)"


# Spot's contingent order types (rest-api.md "New order"): by trigger kind and whether it places a limit order.
SPOT_CONTINGENT_TYPE = {
    ("stop", False): "STOP_LOSS",
    ("stop", True): "STOP_LOSS_LIMIT",
    ("takeprofit", False): "TAKE_PROFIT",
    ("takeprofit", True): "TAKE_PROFIT_LIMIT",
}
SPOT_CONTINGENT_TYPES = frozenset(SPOT_CONTINGENT_TYPE.values())


# A trailing stop (execx's: a market order once the last price moved back its distance from the best price seen)
# is spot's STOP_LOSS with ``trailingDelta`` in BIPS and no ``stopPrice`` (faqs/trailing-stop-faq.md: tracking
# from placement; a sell trails the highest trade price, a buy the lowest).
BIPS_PER_PERCENT = Decimal(100)
TrailingDeltaFilter = tuple[int, int, int, int]  # min / max above (STOP_LOSS BUY), min / max below (STOP_LOSS SELL)


def trailing_delta_filters(info: ExchangeInfo) -> dict[str, TrailingDeltaFilter]:
    """Each spot symbol's ``TRAILING_DELTA`` filter (``minTrailingAboveDelta``, ``maxTrailingAboveDelta``,
    ``minTrailingBelowDelta``, ``maxTrailingBelowDelta``); symbols without one are left out."""
    out: dict[str, TrailingDeltaFilter] = {}
    for s in info["symbols"]:
        for flt in cast(list[Mapping[str, Any]], s.get("filters", [])):
            if flt.get("filterType") == "TRAILING_DELTA":
                keys = (
                    "minTrailingAboveDelta",
                    "maxTrailingAboveDelta",
                    "minTrailingBelowDelta",
                    "maxTrailingBelowDelta",
                )
                out[s["symbol"]] = cast(TrailingDeltaFilter, tuple(int(flt[k]) for k in keys))
    return out


def spot_trailing_refusal(side: Side, trigger: NativeTrigger, delta_filter: TrailingDeltaFilter | None) -> str:
    """'' when Binance spot holds the trailing stop ``trigger`` exactly as execx means it, else why not (it is
    then emulated). Exact only without ``triggerPrice`` (spot's ``stopPrice`` on a trailing order is an
    activation price: tracking starts once the price reaches it, while execx's is the level the trail starts
    from), by ``trailingPercent`` (spot has no trailing amount) of a whole number of BIPS within the symbol's
    ``TRAILING_DELTA`` filter (STOP_LOSS BUY: the "above" bounds, SELL: the "below" ones)."""
    if trigger.kind != "trailingstop":
        return ""
    if trigger.price is not None:
        return (
            "Binance spot's stopPrice on a trailing stop is an activation price (the trail starts once the price "
            "reaches it), not execx's starting level"
        )
    if trigger.percent is None:
        return "Binance spot trails by trailingDelta (BIPS of the best price), not by an amount"
    bips = trigger.percent * BIPS_PER_PERCENT
    if bips != bips.to_integral_value():
        return f"trailingPercent {trigger.percent} is not a whole number of BIPS (trailingDelta: 0.01 % steps)"
    if delta_filter is None:
        return "no TRAILING_DELTA filter known for the symbol"
    low, high = delta_filter[:2] if side is Side.BUY else delta_filter[2:]
    if not low <= bips <= high:
        return f"trailingDelta {int(bips)} is outside the symbol's TRAILING_DELTA filter ({low}-{high} BIPS)"
    return ""


def spot_contingent_params(order: OrderRequest) -> Params:
    """A native contingent order on spot: ``POST /api/v3/order`` (or ``order.place``) of type STOP_LOSS /
    TAKE_PROFIT (a market order when it fires) or STOP_LOSS_LIMIT / TAKE_PROFIT_LIMIT with ``stopPrice``,
    or a trailing stop as STOP_LOSS with ``trailingDelta`` (``spot_trailing_refusal``), under its clOrderId;
    spot triggers on the last trade price only, and has no post-only stop."""
    trigger = order.trigger
    limit = order.order_type is not OrderType.MARKET
    if trigger is not None and trigger.kind == "trailingstop" and not limit and trigger.reference == "last":
        bips = trigger.percent * BIPS_PER_PERCENT if trigger.percent is not None else None
        if trigger.price is not None or bips is None or bips != bips.to_integral_value():
            raise ValidationError("trailingPercent", "Binance spot trails by a whole number of BIPS from placement")
        return [
            ("symbol", order.symbol),
            ("side", order.side.value.upper()),
            ("type", "STOP_LOSS"),
            ("quantity", to_wire(order.qty)),
            ("trailingDelta", str(int(bips))),
            ("newClientOrderId", order.cl_order_id),
            ("newOrderRespType", "RESULT"),
        ]
    kind = SPOT_CONTINGENT_TYPE.get((trigger.kind, limit)) if trigger is not None else None
    if trigger is None or kind is None or trigger.reference != "last" or trigger.price is None:
        raise ValidationError("triggerKind", "not a contingent order Binance spot holds")
    if order.order_type is OrderType.POSTONLY:
        raise ValidationError("orderType", "Binance spot has no post-only stop-limit order")
    if limit and order.tif is TimeInForce.DAY:
        raise Rejected("Binance has no DAY time in force (use gtc, ioc or fok)", "unsupported-tif")
    params: Params = [
        ("symbol", order.symbol),
        ("side", order.side.value.upper()),
        ("type", kind),
        ("quantity", to_wire(order.qty)),
    ]
    if limit:
        if order.price is None:
            raise ValidationError("price", "required for a stop-limit or take-profit-limit order")
        params += [("timeInForce", TIF_OUT[order.tif]), ("price", to_wire(order.price))]
    params += [
        ("stopPrice", to_wire(trigger.price)),
        ("newClientOrderId", order.cl_order_id),
        ("newOrderRespType", "RESULT"),
    ]
    return params


# Spot order lists (issue 20, native groups; rest-api.md "Order lists"). An OCO is an "above" and a "below" order
# of one side and quantity: one LIMIT_MAKER / TAKE_PROFIT(_LIMIT) leg and one STOP_LOSS(_LIMIT) leg, a SELL's
# stop below the market and its other leg above, a BUY's the mirror. An OTO is a working LIMIT / LIMIT_MAKER
# order and a pending order of any type, placed once the working order is fully filled (execx's OTO rule); an
# OTOCO's pending part is an OCO pair.
LIST_TYPES = frozenset({"oco", "oto", "otoco"})
OCO_PAIR = "an OCO pair is one STOP_LOSS(_LIMIT) order and one LIMIT_MAKER / TAKE_PROFIT(_LIMIT) order"


def _list_leg(leg: OrderRequest, role: str) -> tuple[str, Params] | str:
    """An order of a list as (its type, its fields without their prefix), or why it cannot be one. ``role``:
    ``oco`` (a leg of an OCO pair: a plain leg is a LIMIT_MAKER, an OCO having no plain LIMIT order: one that
    would take at once is refused by the venue, where the emulated group would have traded), ``working`` (LIMIT
    or LIMIT_MAKER) or ``pending`` (an OTO's: any type). A trigger leg is spot's contingent type."""
    trigger = leg.trigger
    fields: Params = [("ClientOrderId", leg.cl_order_id)]
    if trigger is None:
        if leg.order_type is OrderType.MARKET:
            return ("MARKET", fields) if role == "pending" else f"an order list's {role} order is not a market order"
        if leg.price is None or leg.tif is TimeInForce.DAY:
            return "Binance has no DAY time in force"
        fields.append(("Price", to_wire(leg.price)))
        if leg.order_type is OrderType.POSTONLY:
            return "LIMIT_MAKER", fields
        if role == "oco":
            if leg.tif is not TimeInForce.GTC:
                return "a plain leg of an OCO pair is a resting LIMIT_MAKER (gtc limit or postonly)"
            return "LIMIT_MAKER", fields
        return "LIMIT", [*fields, ("TimeInForce", TIF_OUT[leg.tif])]
    if role == "working":
        return "an order list's working order is a LIMIT or LIMIT_MAKER order, not a stop"
    limit = leg.order_type is not OrderType.MARKET
    kind = SPOT_CONTINGENT_TYPE.get((trigger.kind, limit))
    if kind is None or trigger.reference != "last" or trigger.price is None:
        return "Binance spot holds stop and take-profit orders on the last price only"
    if leg.order_type is OrderType.POSTONLY or leg.tif is TimeInForce.DAY or (limit and leg.price is None):
        return "Binance spot has no post-only or day stop order (and a stop-limit has its price)"
    if limit and leg.price is not None:
        fields += [("Price", to_wire(leg.price)), ("TimeInForce", TIF_OUT[leg.tif])]
    fields.append(("StopPrice", to_wire(trigger.price)))
    return kind, fields


def _pair(a: OrderRequest, b: OrderRequest) -> tuple[tuple[str, Params], tuple[str, Params]] | str:
    """An OCO pair as its (above, below) orders, or why it cannot be one."""
    if (a.side, a.qty) != (b.side, b.qty):
        return "an OCO pair is two orders of one side and quantity"
    typed = []
    for leg in (a, b):
        x = _list_leg(leg, "oco")
        if isinstance(x, str):
            return x
        typed.append(x)
    stops = [x for x in typed if x[0].startswith("STOP_LOSS")]
    if len(stops) != 1:
        return OCO_PAIR
    stop = stops[0]
    other = typed[1] if typed[0] is stop else typed[0]
    return (other, stop) if a.side is Side.SELL else (stop, other)


def _prefixed(prefix: str, typed: tuple[str, Params]) -> Params:
    kind, fields = typed
    return [(prefix + "Type", kind)] + [(prefix + name, value) for name, value in fields]


def order_list_request(group: GroupRequest) -> tuple[Params, str]:
    """The order list's parameters and why it cannot be one ('' when it can): ``POST /api/v3/orderList/oco|oto|
    otoco`` (WebSocket API ``orderList.place.oco|oto|otoco``), ``listClientOrderId`` = the group id, each order
    under its clOrderId (an OCO: ``above*`` / ``below*`` with one ``side`` and ``quantity``; an OTO: ``working*``
    and ``pending*``; an OTOCO: ``working*``, ``pendingSide``, ``pendingQuantity``, ``pendingAbove*``,
    ``pendingBelow*``). Answered FULL: a working order filled at placement comes with its fills."""
    if group.type not in LIST_TYPES:
        return [], f"Binance spot order lists used by execx: {', '.join(sorted(LIST_TYPES))}, not {group.type}"
    first = group.legs[0]
    if any(leg.symbol != first.symbol for leg in group.legs):
        return [], "an order list is on one symbol"
    params: Params = [("symbol", first.symbol), ("listClientOrderId", group.group_id)]
    if group.type == "oco":
        pair = _pair(*group.legs)
        if isinstance(pair, str):
            return [], pair
        params += [("side", first.side.value.upper()), ("quantity", to_wire(first.qty))]
        params += _prefixed("above", pair[0]) + _prefixed("below", pair[1])
    else:
        working = _list_leg(first, "working")
        if isinstance(working, str):
            return [], working
        kind, fields = working
        params += [("workingType", kind), ("workingSide", first.side.value.upper())]
        params += [("working" + name, value) for name, value in fields]
        params.append(("workingQuantity", to_wire(first.qty)))
        pending = group.legs[1]
        params += [("pendingSide", pending.side.value.upper()), ("pendingQuantity", to_wire(pending.qty))]
        if group.type == "oto":
            leg = _list_leg(pending, "pending")
            if isinstance(leg, str):
                return [], leg
            params += _prefixed("pending", leg)
        else:
            pair = _pair(*group.legs[1:])
            if isinstance(pair, str):
                return [], pair
            params += _prefixed("pendingAbove", pair[0]) + _prefixed("pendingBelow", pair[1])
    params.append(("newOrderRespType", "FULL"))
    return params, ""


def order_list_refusal(group: GroupRequest) -> str:
    """'' when Binance spot holds ``group`` as an order list (``PlacesGroups.holds_group``), else why not."""
    return order_list_request(group)[1]


def order_list_params(group: GroupRequest) -> Params:
    """``order_list_request``'s parameters; a group it cannot hold is INVALID_ARGUMENT (never sent)."""
    params, why = order_list_request(group)
    if why:
        raise ValidationError("orders", why)
    return params


def spot_status(o: Mapping[str, Any], working_key: str) -> OrderStatus:
    """A spot order's status: a contingent type NEW but not working yet (``workingTime`` -1 in answers and
    queries, no ``W`` in an ``executionReport``) is held by the venue: ``pendingtrigger``. Once it fired it is
    NEW and working (a plain new order from here on). An order list's pending order (``PENDING_NEW``, until its
    working order is fully filled) is held by the venue too: ``pendingtrigger``."""
    status = parse_status(o.get("status", o.get("X", "NEW")))
    if status is OrderStatus.PENDINGNEW:  # an order list's pending order, held until its working order fills
        return OrderStatus.PENDINGTRIGGER
    if status is OrderStatus.NEW and o.get("type", o.get("o")) in SPOT_CONTINGENT_TYPES:
        working = o.get(working_key)
        if working is None or (isinstance(working, int) and working < 0):
            return OrderStatus.PENDINGTRIGGER
    return status


def order_params(order: OrderRequest, flavor: Flavor, *, margin: bool = False) -> Params:
    """``POST /api/v3/order`` / ``/fapi|dapi/v1/order`` (and the WebSocket API's ``order.place``).
    Post-only is spot ``LIMIT_MAKER`` / futures ``timeInForce=GTX``; spot answers FULL (fills at entry
    with their trade ids), futures RESULT. Binance has no DAY time in force: refused, nothing sent.
    Cross margin (spot): ``sideEffectType=MARGIN_BUY``."""
    if order.order_type is not OrderType.MARKET and order.tif is TimeInForce.DAY:
        raise Rejected("Binance has no DAY time in force (use gtc, ioc or fok)", "unsupported-tif")
    params: Params = [("symbol", order.symbol), ("side", order.side.value.upper())]
    if order.order_type is OrderType.MARKET:
        params.append(("type", "MARKET"))
    elif order.order_type is OrderType.POSTONLY:
        if flavor is Flavor.SPOT:
            params.append(("type", "LIMIT_MAKER"))
        else:
            params += [("type", "LIMIT"), ("timeInForce", "GTX")]
    else:
        params += [("type", "LIMIT"), ("timeInForce", TIF_OUT[order.tif])]
    params.append(("quantity", to_wire(order.qty)))
    if order.order_type is not OrderType.MARKET:
        if order.price is None:
            raise ValidationError("price", "required for limit and post-only orders")
        params.append(("price", to_wire(order.price)))
    if order.reduce_only:
        params.append(("reduceOnly", "true"))
    params += [
        ("newClientOrderId", order.cl_order_id),
        ("newOrderRespType", "FULL" if flavor is Flavor.SPOT else "RESULT"),
    ]
    if margin:
        # MARGIN_BUY: the venue borrows what the order is missing when it is placed (quote for a
        # buy, base for a sell = a short) and never repays implicitly, so the account's balances
        # follow the fills the strategy sees; repaying loans is left to the account's owner.
        params.append(("sideEffectType", "MARGIN_BUY"))
    return params


# Futures conditional orders (Algo Order API): the type by trigger kind and order type, and the algo status.
ALGO_TYPE = {
    ("stop", False): "STOP_MARKET",
    ("stop", True): "STOP",
    ("takeprofit", False): "TAKE_PROFIT_MARKET",
    ("takeprofit", True): "TAKE_PROFIT",
    ("trailingstop", False): "TRAILING_STOP_MARKET",
}
WORKING_TYPE = {"last": "CONTRACT_PRICE", "mark": "MARK_PRICE"}
ALGO_STATUS = {
    "NEW": OrderStatus.PENDINGTRIGGER,
    "TRIGGERING": OrderStatus.TRIGGERED,
    "TRIGGERED": OrderStatus.TRIGGERED,
    "CANCELED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}


def algo_order_params(order: OrderRequest) -> Params:
    """``POST /fapi|dapi/v1/algoOrder`` (``algoType=CONDITIONAL``) of a native contingent order:
    STOP(_MARKET) / TAKE_PROFIT(_MARKET) with ``triggerPrice``, TRAILING_STOP_MARKET with ``callbackRate``
    (percent) from ``activatePrice`` (the trigger price, if any); ``workingType`` CONTRACT_PRICE (last) or
    MARK_PRICE; ``clientAlgoId`` = the clOrderId."""
    trigger = order.trigger
    limit = order.order_type is not OrderType.MARKET
    kind = ALGO_TYPE.get((trigger.kind, limit)) if trigger is not None else None
    if trigger is None or kind is None or trigger.reference not in WORKING_TYPE:
        raise ValidationError("triggerKind", "not a conditional order Binance futures holds")
    params: Params = [
        ("algoType", "CONDITIONAL"),
        ("symbol", order.symbol),
        ("side", order.side.value.upper()),
        ("type", kind),
        ("quantity", to_wire(order.qty)),
        ("workingType", WORKING_TYPE[trigger.reference]),
        ("clientAlgoId", order.cl_order_id),
    ]
    if limit:
        if order.price is None:
            raise ValidationError("price", "required for a stop-limit or take-profit-limit order")
        tif = "GTX" if order.order_type is OrderType.POSTONLY else TIF_OUT[order.tif]
        params += [("price", to_wire(order.price)), ("timeInForce", tif)]
    if trigger.kind == "trailingstop":
        if trigger.percent is None:
            raise ValidationError("trailingPercent", "Binance trails by a callback rate in percent only")
        params.append(("callbackRate", to_wire(trigger.percent)))
        if trigger.price is not None:
            params.append(("activatePrice", to_wire(trigger.price)))
    elif trigger.price is not None:
        params.append(("triggerPrice", to_wire(trigger.price)))
    if order.reduce_only:
        params.append(("reduceOnly", "true"))
    return params


def parse_algo_order(row: dict[str, Any]) -> ExecutionReport:
    """An algo order (REST answer) as a report of its conditional state. The order it places when it fires
    reports itself (under the same client id); ``FINISHED`` says only that it did: its status then comes
    from that order."""
    price = Decimal(str(row.get("price") or 0))
    return ExecutionReport(
        cl_order_id=str(row["clientAlgoId"]),
        symbol=str(row["symbol"]),
        exch_order_id="",  # the venue order id is the triggered order's (its own reports carry it)
        status=ALGO_STATUS.get(str(row.get("algoStatus")), OrderStatus.TRIGGERED),
        side=Side(str(row["side"]).lower()),
        price=price or None,
        qty=Decimal(str(row["quantity"])),
        cum_filled=Decimal(0),
        exch_time_ns=int(row.get("updateTime") or 0) * MS,
    )


def parse_algo_update(event: dict[str, Any]) -> ExecutionReport | None:
    """``ALGO_UPDATE``: the conditional order's own states (held, fired, cancelled, rejected, expired); its
    ``TRIGGERED`` / ``FINISHED`` are left to the triggered order's own ``ORDER_TRADE_UPDATE``s."""
    o = event["o"]
    status = ALGO_STATUS.get(str(o.get("X")))
    if status is None or o.get("X") == "TRIGGERED":
        return None
    price = Decimal(str(o.get("p") or 0))
    return ExecutionReport(
        cl_order_id=str(o["caid"]),
        symbol=str(o["s"]),
        exch_order_id="",
        status=status,
        side=Side(str(o["S"]).lower()),
        price=price or None,
        qty=Decimal(str(o["q"])),
        cum_filled=Decimal(0),
        exch_time_ns=int(event.get("T") or 0) * MS,
        message=str(o.get("rm") or ""),
    )


def modify_params(symbol: str, cl_order_id: str, side: Side, qty: Decimal, price: Decimal) -> Params:
    """Futures ``PUT /fapi|dapi/v1/order``: both quantity and price are required (the order is re-queued)."""
    return [
        ("symbol", symbol),
        ("origClientOrderId", cl_order_id),
        ("side", side.value.upper()),
        ("quantity", to_wire(qty)),
        ("price", to_wire(price)),
    ]


def cancel_params(symbol: str, cl_order_id: str) -> Params:
    """``DELETE .../order`` (and ``order.cancel``) by client order id."""
    return [("symbol", symbol), ("origClientOrderId", cl_order_id)]


def order_query_params(symbol: str, *, orig_client_order_id: str = "", order_id: str = "") -> Params:
    """``GET .../order`` (query order): by the venue's ``orderId`` when given, else ``origClientOrderId``."""
    return [("symbol", symbol), ("orderId", order_id) if order_id else ("origClientOrderId", orig_client_order_id)]


def open_orders_params(symbol: str | None) -> Params:
    """``GET .../openOrders``: of ``symbol``, or of every symbol (a heavier weight)."""
    return [("symbol", symbol)] if symbol else []


def trades_params(
    symbol: str, start_time_ms: int | None = None, order_id: str = "", from_id: int | None = None
) -> Params:
    """Spot ``myTrades`` / futures ``userTrades`` of ``symbol``: of one order, from a trade id, or from
    ``start_time_ms`` (the first given, in that order), 1000 at most (the endpoints' maximum)."""
    params: Params = [("symbol", symbol)]
    if order_id:
        params.append(("orderId", order_id))
    elif from_id is not None:
        params.append(("fromId", str(from_id)))
    elif start_time_ms is not None:
        params.append(("startTime", str(start_time_ms)))
    params.append(("limit", "1000"))
    return params


AGG_TRADES_LIMIT = 1000  # aggTrades' maximum page
AGG_TRADES_SPAN_MS = 3_600_000 - 1  # futures: startTime and endTime less than one hour apart (spot too, kept)


def agg_trades_params(symbol: str, start_ms: int, end_ms: int) -> Params:
    """``GET /api/v3/aggTrades`` (spot) / ``/fapi/v1/aggTrades`` / ``/dapi/v1/aggTrades``: the aggregate trades
    of ``symbol`` from ``start_ms`` to ``end_ms`` (inclusive; at most ``AGG_TRADES_SPAN_MS`` apart), the oldest
    ``AGG_TRADES_LIMIT`` of them."""
    if end_ms < start_ms or end_ms - start_ms > AGG_TRADES_SPAN_MS:
        raise ValueError(f"aggTrades window {start_ms}..{end_ms} is not within one hour")
    return [
        ("symbol", symbol),
        ("startTime", str(start_ms)),
        ("endTime", str(end_ms)),
        ("limit", str(AGG_TRADES_LIMIT)),
    ]


def parse_agg_trades(symbol: str, rows: list[Any]) -> list[Trade]:
    """aggTrades rows (``a`` id, ``p`` price, ``q`` qty, ``T`` time ms, ``m`` buyer is maker) as trades."""
    return [
        Trade(
            symbol=symbol,
            trade_id=str(r["a"]),
            price=Decimal(str(r["p"])),
            qty=Decimal(str(r["q"])),
            aggressor=aggressor_from_buyer_is_maker(bool(r["m"])),
            exch_time_ns=int(r["T"]) * MS,
        )
        for r in rows
    ]


def keep_priority_params(symbol: str, cl_order_id: str, new_qty: Decimal) -> Params:
    """Spot ``PUT /api/v3/order/amend/keepPriority`` (``order.amend.keepPriority``): a smaller quantity,
    queue priority kept; the client order id is kept (``newClientOrderId`` = the same, allowed)."""
    return [
        ("symbol", symbol),
        ("origClientOrderId", cl_order_id),
        ("newClientOrderId", cl_order_id),
        ("newQty", to_wire(new_qty)),
    ]


def cancel_replace_params(
    symbol: str, cl_order_id: str, side: Side, post_only: bool, tif: TimeInForce, qty: Decimal, price: Decimal
) -> Params:
    """Spot ``POST /api/v3/order/cancelReplace`` (``order.cancelReplace``), ``STOP_ON_FAILURE``: the new
    order takes the same client order id, answers FULL."""
    params: Params = [("symbol", symbol), ("side", side.value.upper())]
    if post_only:
        params.append(("type", "LIMIT_MAKER"))
    else:
        params += [("type", "LIMIT"), ("timeInForce", TIF_OUT.get(tif, "GTC"))]
    return [
        *params,
        ("quantity", to_wire(qty)),
        ("price", to_wire(price)),
        ("cancelReplaceMode", "STOP_ON_FAILURE"),
        ("cancelOrigClientOrderId", cl_order_id),
        ("newClientOrderId", cl_order_id),
        ("newOrderRespType", "FULL"),
    ]


def order_terms(o: Mapping[str, Any]) -> tuple[OrderType, TimeInForce]:
    """An order row's (query answer's) type and time in force as the domain's: ``LIMIT_MAKER`` or
    ``GTX`` is post-only."""
    venue_type, venue_tif = str(o.get("type", "LIMIT")), str(o.get("timeInForce", "GTC"))
    if venue_type == "LIMIT_MAKER" or venue_tif == "GTX":
        order_type = OrderType.POSTONLY
    else:
        order_type = OrderType.MARKET if venue_type == "MARKET" else OrderType.LIMIT
    return order_type, {"IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}.get(venue_tif, TimeInForce.GTC)


# ---------------------------------------------------------------------------------------- REST orders


def parse_spot_order(o: SpotOrder, *, message: str = "") -> ExecutionReport:
    """Order responses and queries (RESULT/FULL shape). For a cancel response the order is named by
    ``origClientOrderId`` (``clientOrderId`` is then the cancel's own id)."""
    t = o.get("transactTime") or o.get("updateTime") or o.get("time") or 0
    return ExecutionReport(
        cl_order_id=o.get("origClientOrderId") or o["clientOrderId"],
        symbol=o["symbol"],
        exch_order_id=str(o["orderId"]),
        status=spot_status(cast(Mapping[str, Any], o), "workingTime"),
        side=parse_side(o.get("side", "BUY")),
        price=_price(o.get("price")),
        qty=_dec(o.get("origQty")),
        cum_filled=_dec(o.get("executedQty")),
        exch_time_ns=t * MS,
        message=message or o.get("expiryReason", ""),
    )


def parse_spot_fills(o: SpotOrder) -> list[ExecutionReport]:
    """The ``fills`` of a FULL order response, one report per trade (fills at entry are taker)."""
    fills = o.get("fills") or []
    if not fills:
        return []
    side = parse_side(o.get("side", "BUY"))
    qty = _dec(o.get("origQty"))
    t = (o.get("transactTime") or 0) * MS
    reports: list[ExecutionReport] = []
    cum = ZERO
    for f in fills:
        cum += Decimal(f["qty"])
        reports.append(
            ExecutionReport(
                cl_order_id=o["clientOrderId"],
                symbol=o["symbol"],
                exch_order_id=str(o["orderId"]),
                status=OrderStatus.FILLED if cum >= qty else OrderStatus.PARTIALLYFILLED,
                side=side,
                price=_price(o.get("price")),
                qty=qty,
                cum_filled=cum,
                exch_time_ns=t,
                trade_id=str(f["tradeId"]),
                fill_qty=Decimal(f["qty"]),
                fill_price=Decimal(f["price"]),
                liquidity=Liquidity.REMOVE,
                fee=_dec(f["commission"]),
                fee_asset=f["commissionAsset"],
            )
        )
    return reports


def parse_spot_amend(r: SpotAmendResponse) -> ExecutionReport:
    o = r["amendedOrder"]
    return ExecutionReport(
        cl_order_id=o["clientOrderId"],
        symbol=o["symbol"],
        exch_order_id=str(o["orderId"]),
        status=parse_status(o["status"]),
        side=parse_side(o["side"]),
        price=_price(o["price"]),
        qty=Decimal(o["qty"]),
        cum_filled=Decimal(o["executedQty"]),
        exch_time_ns=r["transactTime"] * MS,
        message="amended in place (amend/keepPriority: queue priority kept)",
        orig_cl_order_id=o["origClientOrderId"] if o["origClientOrderId"] != o["clientOrderId"] else "",
    )


def parse_futures_order(o: FuturesOrder, *, message: str = "") -> ExecutionReport:
    return ExecutionReport(
        cl_order_id=o["clientOrderId"],
        symbol=o["symbol"],
        exch_order_id=str(o["orderId"]),
        status=parse_status(o["status"]),
        side=parse_side(o["side"]),
        price=_price(o.get("price")),
        qty=_dec(o.get("origQty")),
        cum_filled=_dec(o.get("executedQty")),
        exch_time_ns=(o.get("updateTime") or o.get("time") or 0) * MS,
        message=message,
    )


# ---------------------------------------------------------------------------------------- trades (REST)


def parse_trade_row(
    t: SpotTrade | FuturesTrade, order: ExecutionReport, status: OrderStatus, cum_filled: Decimal
) -> ExecutionReport:
    """A spot ``myTrades`` / futures ``userTrades`` row as a fill of ``order`` (the venue's view of the
    order it belongs to: trades carry neither the client order id nor the order's totals)."""
    row = cast(dict[str, Any], t)
    side = (Side.BUY if row["isBuyer"] else Side.SELL) if "isBuyer" in row else parse_side(row["side"])
    maker = bool(row["isMaker"] if "isMaker" in row else row["maker"])
    return ExecutionReport(
        cl_order_id=order.cl_order_id,
        symbol=t["symbol"],
        exch_order_id=str(t["orderId"]),
        status=status,
        side=side,
        price=order.price,
        qty=order.qty,
        cum_filled=cum_filled,
        exch_time_ns=t["time"] * MS,
        trade_id=str(t["id"]),
        fill_qty=Decimal(t["qty"]),
        fill_price=Decimal(t["price"]),
        liquidity=Liquidity.ADD if maker else Liquidity.REMOVE,
        fee=_dec(t["commission"]),
        fee_asset=t["commissionAsset"],
    )


def fills_from_trades(rows: list[Any], order: ExecutionReport) -> list[ExecutionReport]:
    """Trade rows of one order as fills in trade order; each fill's cumulative quantity and status
    follow from the order's current filled quantity (trades carry no client order id or totals)."""
    trades = sorted(rows, key=lambda r: int(r["id"]))
    cum = order.cum_filled - sum((Decimal(t["qty"]) for t in trades), ZERO)
    fills: list[ExecutionReport] = []
    for row in trades:
        cum += Decimal(row["qty"])
        status = OrderStatus.FILLED if cum >= order.qty else OrderStatus.PARTIALLYFILLED
        fills.append(parse_trade_row(cast(SpotTrade | FuturesTrade, row), order, status, cum))
    return fills


def with_base(report: ExecutionReport, filled_before: Decimal) -> ExecutionReport:
    """``report``'s quantity and filled quantity plus what was filled before its venue order existed
    (the client's view of a venue order that took over by cancel-replace)."""
    if not filled_before:
        return report
    qty = report.qty + filled_before if report.qty else report.qty
    return replace(report, qty=qty, cum_filled=report.cum_filled + filled_before)


# ---------------------------------------------------------------------------------------- private streams


def parse_execution_report(ev: ExecutionReportEvent) -> ExecutionReport:
    """Spot ``executionReport``. A fill (``x == "TRADE"``) carries its trade id, last qty/price,
    liquidity (``m`` = maker -> add) and commission. A cancel names the cancelled order in ``C``
    (``c`` is then the cancel request's id)."""
    x = ev["x"]
    cl_order_id = ev["C"] if x == "CANCELED" and ev.get("C") else ev["c"]
    message = ""
    if x == "REJECTED" and ev.get("r", "NONE") != "NONE":
        message = ev["r"]
    elif x == "REPLACED":
        message = "amended in place (amend/keepPriority: queue priority kept)"
    elif x == "TRADE_PREVENTION":
        message = "self-trade prevention"
    report = _order_event(cast(Mapping[str, Any], ev), cl_order_id, ev["T"], message, is_fill=x == "TRADE")
    held = spot_status(cast(Mapping[str, Any], ev), "W")
    if held is OrderStatus.PENDINGTRIGGER:
        return replace(report, status=held)
    return report


def parse_order_trade_update(ev: OrderTradeUpdateEvent) -> ExecutionReport:
    """Futures ``ORDER_TRADE_UPDATE``. ``x`` = TRADE (or CALCULATED: a liquidation fill) is a fill;
    ``x`` = AMENDMENT is an acknowledged modify; ``n``/``N`` are absent when there is no fee."""
    o = ev["o"]
    x = o["x"]
    is_fill = x in ("TRADE", "CALCULATED") and _dec(o["l"]) > 0
    message = {"AMENDMENT": "amended (order modify: queue priority lost)", "CALCULATED": "liquidation"}.get(x, "")
    return _order_event(cast(Mapping[str, Any], o), o["c"], o.get("T") or ev["T"], message, is_fill=is_fill)


def _order_event(
    o: Mapping[str, Any], cl_order_id: str, time_ms: int, message: str, *, is_fill: bool
) -> ExecutionReport:
    """The fields spot ``executionReport`` and the futures order object share (same letters)."""
    return ExecutionReport(
        cl_order_id=cl_order_id,
        symbol=o["s"],
        exch_order_id=str(o["i"]),
        status=parse_status(o["X"]),
        side=parse_side(o["S"]),
        price=_price(o["p"]),
        qty=_dec(o["q"]),
        cum_filled=_dec(o["z"]),
        exch_time_ns=time_ms * MS,
        message=message,
        trade_id=str(o["t"]) if is_fill else "",
        fill_qty=_dec(o["l"]) if is_fill else ZERO,
        fill_price=_dec(o["L"]) if is_fill else ZERO,
        liquidity=(Liquidity.ADD if o["m"] else Liquidity.REMOVE) if is_fill else None,
        fee=_dec(o.get("n")) if is_fill else ZERO,
        fee_asset=(o.get("N") or "") if is_fill else "",
    )


def parse_user_event(event: dict[str, Any]) -> ExecutionReport | None:
    """Any private event: an ``ExecutionReport`` for order events, None for the others (balances,
    positions, listStatus, ...)."""
    kind = event.get("e")
    if kind == "executionReport":
        return parse_execution_report(cast(ExecutionReportEvent, event))
    if kind == "ORDER_TRADE_UPDATE":
        return parse_order_trade_update(cast(OrderTradeUpdateEvent, event))
    if kind == "ALGO_UPDATE":
        return parse_algo_update(event)
    return None


# ---------------------------------------------------------------------------------------- market data


def parse_book_ticker(m: BookTickerMsg, now_ns: int) -> BookTicker:
    """Spot bookTicker has no time; futures has ``T`` (transaction) and ``E`` (event)."""
    t = m.get("T") or m.get("E")
    return BookTicker(
        symbol=m["s"],
        bid=Decimal(m["b"]),
        bid_qty=Decimal(m["B"]),
        ask=Decimal(m["a"]),
        ask_qty=Decimal(m["A"]),
        exch_time_ns=t * MS if t else now_ns,
    )


def parse_trade(m: TradeMsg) -> Trade:
    """Spot ``trade`` / futures ``aggTrade``; aggressor from ``m`` (buyer is maker -> SELL)."""
    trade_id = m.get("t", m.get("a", 0))
    return Trade(
        symbol=m["s"],
        trade_id=str(trade_id),
        price=Decimal(m["p"]),
        qty=Decimal(m["q"]),
        aggressor=aggressor_from_buyer_is_maker(m["m"]),
        exch_time_ns=m["T"] * MS,
    )


# ---------------------------------------------------------------------------------------- reference data


def parse_exchange_info(info: ExchangeInfo, exchange: Exchange) -> dict[str, InstrumentRules]:
    """Trading rules per symbol: PRICE_FILTER tickSize/minPrice/maxPrice, LOT_SIZE stepSize/minQty/maxQty,
    MARKET_LOT_SIZE maxQty (market orders), the notional limits (spot NOTIONAL/MIN_NOTIONAL
    ``minNotional`` and NOTIONAL ``maxNotional``, USDⓈ-M MIN_NOTIONAL ``notional``), the percent band
    (spot PERCENT_PRICE_BY_SIDE / PERCENT_PRICE, futures PERCENT_PRICE); COIN-M ``contractSize`` (USD
    per contract) makes the instrument inverse. A zero limit is one Binance does not apply."""
    inverse = exchange is Exchange.BINANCE_COINM_FUTURE
    rules: dict[str, InstrumentRules] = {}
    for s in info["symbols"]:
        status = s.get("status") or s.get("contractStatus") or "TRADING"
        if status != "TRADING":
            continue
        f = {flt.get("filterType", ""): flt for flt in s["filters"]}
        price_f, lot_f, market_f = f.get("PRICE_FILTER", {}), f.get("LOT_SIZE", {}), f.get("MARKET_LOT_SIZE", {})
        notional_f = f.get("NOTIONAL") or f.get("MIN_NOTIONAL") or {}
        tick, lot = _dec(price_f.get("tickSize")), _dec(lot_f.get("stepSize"))
        if tick <= 0 or lot <= 0:
            continue  # a symbol without price/lot rules cannot be traded safely
        rules[s["symbol"]] = InstrumentRules(
            exchange=exchange,
            symbol=s["symbol"],
            tick=tick.normalize(),
            lot=lot.normalize(),
            min_qty=_dec(lot_f.get("minQty")).normalize(),
            max_qty=_limit(lot_f.get("maxQty")),
            min_notional=_dec(notional_f.get("minNotional") or notional_f.get("notional")).normalize(),
            contract_size=Decimal(s.get("contractSize", 1)) if inverse else Decimal(1),
            inverse=inverse,
            market_max_qty=_limit(market_f.get("maxQty")),
            min_price=_dec(price_f.get("minPrice")).normalize(),
            max_price=_limit(price_f.get("maxPrice")),
            max_notional=_limit(notional_f.get("maxNotional")),
            band=_band(f),
        )
    return rules


def _limit(text: str | None) -> Decimal | None:
    """A maximum from a filter: None when absent or zero (Binance: 0 disables it)."""
    value = _dec(text)
    return value.normalize() if value > 0 else None


def _band(filters: dict[str, Filter]) -> PriceBand | None:
    """PERCENT_PRICE_BY_SIDE (spot: multipliers per side) or PERCENT_PRICE (both sides)."""
    by_side = filters.get("PERCENT_PRICE_BY_SIDE")
    if by_side is not None:
        values = [
            _dec(by_side.get("bidMultiplierUp")),
            _dec(by_side.get("bidMultiplierDown")),
            _dec(by_side.get("askMultiplierUp")),
            _dec(by_side.get("askMultiplierDown")),
        ]
        return PriceBand(*values) if all(v > 0 for v in values) else None
    both = filters.get("PERCENT_PRICE")
    if both is not None:
        up, down = _dec(both.get("multiplierUp")), _dec(both.get("multiplierDown"))
        return PriceBand.symmetric(up, down) if up > 0 and down > 0 else None
    return None


def parse_positions(rows: list[PositionRisk]) -> list[VenuePosition]:
    """``positionRisk`` rows with a non-zero amount (one-way mode: one row per symbol; hedge mode
    rows are summed per symbol)."""
    by_symbol: dict[str, tuple[Decimal, Decimal]] = {}
    for r in rows:
        amt = _dec(r["positionAmt"])
        if amt == 0:
            continue
        prev_amt, prev_entry = by_symbol.get(r["symbol"], (ZERO, ZERO))
        entry = _dec(r["entryPrice"])
        total = prev_amt + amt
        avg = (prev_entry * abs(prev_amt) + entry * abs(amt)) / (abs(prev_amt) + abs(amt))
        by_symbol[r["symbol"]] = (total, avg)
    return [VenuePosition(sym, amt, entry) for sym, (amt, entry) in by_symbol.items() if amt != 0]
