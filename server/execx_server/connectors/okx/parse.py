"""OKX wire types <-> domain types: the only place that sees both. Domain orders become order, amend
and cancel items here (signing is ``signing.py``'s); answers, rows and pushes become ``ExecutionReport``s.
Every function is pure.

Sizes: spot in base currency, swaps in contracts (``ctVal`` of the base coin each); execx quantities
on ``okx`` are the venue's sizes, so a swap ``qty`` is a number of contracts and
``InstrumentRules.contract_size`` is ``ctVal``. Fees: OKX reports charges as negative numbers; the
domain's ``fee`` is what was paid (positive), a rebate negative.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from decimal import Decimal
from typing import Any, cast

from ...domain.enums import Exchange, Liquidity, OrderStatus, OrderType, Side, TimeInForce
from ...domain.errors import ValidationError
from ...domain.instruments import InstrumentRules
from ...domain.numbers import to_wire
from ...domain.venue import (
    BookTicker,
    ExecutionReport,
    GroupRequest,
    OrderRequest,
    Trade,
    TradeWindow,
    VenuePosition,
)
from .schemas import BboItem, FillRow, InstrumentRow, OrderRow, PositionRow, TradeItem

D = Decimal
ZERO = D(0)

STATUS = {
    "live": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLYFILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "mmp_canceled": OrderStatus.CANCELLED,
}
# cancelSource (docs: orders channel) -> what the update says about the end of the order.
CANCEL_REASON = {
    "0": "cancelled by the system",
    "1": "cancelled by the user",
    "13": "FOK order could not be filled in full: cancelled",
    "14": "IOC order: the part not filled at once was cancelled",
    "15": "price beyond the limit: cancelled",
    "20": "cancel-all-after (dead man's switch) triggered",
    "31": "post-only order would have taken liquidity: cancelled by OKX (cancelSource 31)",
    "32": "self-trade prevention",
    "39": "market maker protection triggered",
}


ORD_TYPE = {TimeInForce.GTC: "limit", TimeInForce.IOC: "ioc", TimeInForce.FOK: "fok"}
# Algo orders (native contingent orders): their states, and the trigger price types by reference.
ALGO_STATUS = {
    "live": OrderStatus.PENDINGTRIGGER,
    "pause": OrderStatus.PENDINGTRIGGER,
    "partially_effective": OrderStatus.TRIGGERED,
    "effective": OrderStatus.TRIGGERED,
    "canceled": OrderStatus.CANCELLED,
    "order_failed": OrderStatus.REJECTED,
}
PX_TYPE = {"last": "last", "mark": "mark", "index": "index"}


# ---------------------------------------------------------------------------------------- requests


def algo_item(order: OrderRequest, swap: bool) -> dict[str, str]:
    """``POST /api/v5/trade/order-algo`` of a native contingent order (``algoClOrdId`` = clOrderId): a stop is
    a one-way ``conditional`` stop-loss (``slTriggerPx``, ``slOrdPx``: the limit price or ``-1`` = market), a
    take-profit one with ``tp*``, a trailing stop ``move_order_stop`` (``callbackSpread`` = trailingAmount or
    ``callbackRatio`` = trailingPercent / 100; the trigger price as ``activePx``)."""
    trigger = order.trigger
    if trigger is None or trigger.reference not in PX_TYPE:
        raise ValidationError("triggerKind", "not an algo order OKX holds")
    item = {
        "instId": order.symbol,
        "tdMode": "cross" if swap else "cash",
        "side": order.side.value,
        "sz": to_wire(order.qty),
        "algoClOrdId": order.cl_order_id,
    }
    if order.reduce_only:
        if not swap:
            raise ValidationError("reduceOnly", f"is for swaps; {order.symbol} is spot")
        item["reduceOnly"] = "true"
    px = "-1" if order.order_type is OrderType.MARKET or order.price is None else to_wire(order.price)
    if trigger.kind == "trailingstop":
        item["ordType"] = "move_order_stop"
        if trigger.amount is not None:
            item["callbackSpread"] = to_wire(trigger.amount)
        elif trigger.percent is not None:
            item["callbackRatio"] = to_wire(trigger.percent / 100)
        if trigger.price is not None:
            item["activePx"] = to_wire(trigger.price)
        return item
    if trigger.price is None:
        raise ValidationError("triggerPrice", "required")
    leg = "sl" if trigger.kind == "stop" else "tp"
    item.update(
        {
            "ordType": "conditional",
            f"{leg}TriggerPx": to_wire(trigger.price),
            f"{leg}TriggerPxType": PX_TYPE[trigger.reference],
            f"{leg}OrdPx": px,
        }
    )
    return item


def oco_refusal(group: GroupRequest) -> str:
    """'' when OKX holds ``group`` as one ``oco`` algo order: an execx OCO of a stop and a take-profit (fixed
    levels; last, mark or index) on one symbol with one side, quantity and reduce-only, each sending a market or a
    GTC limit order; otherwise why not (the group is then emulated)."""
    if group.type != "oco" or len(group.legs) != 2:
        return "OKX's oco holds an OCO of two legs"
    kinds = sorted(leg.trigger.kind if leg.trigger is not None else "" for leg in group.legs)
    if kinds != ["stop", "takeprofit"]:
        return "OKX's oco is a stop (stop-loss) and a take-profit"
    first, second = group.legs
    if (first.symbol, first.side, first.qty, first.reduce_only) != (
        second.symbol,
        second.side,
        second.qty,
        second.reduce_only,
    ):
        return "OKX's oco has one symbol, side, quantity and reduce-only for both legs"
    for leg in group.legs:
        if leg.trigger is None or leg.trigger.reference not in PX_TYPE or leg.trigger.price is None:
            return f"{leg.cl_order_id}: OKX's oco legs trigger on last, mark or index at a fixed price"
        if leg.order_type is not OrderType.MARKET and (
            leg.order_type is not OrderType.LIMIT or leg.tif is not TimeInForce.GTC
        ):
            return f"{leg.cl_order_id}: an OKX oco leg sends a market or a GTC limit order"
    return ""


def oco_legs(group: GroupRequest) -> tuple[OrderRequest, OrderRequest]:
    """The (stop, take-profit) legs of an OCO ``oco_refusal`` accepted."""
    first, second = group.legs
    return (first, second) if first.trigger is not None and first.trigger.kind == "stop" else (second, first)


def oco_algo_cl(group: GroupRequest) -> str:
    """The ``algoClOrdId`` of a group's ``oco`` algo order (1-32 letters and digits; the order it places when a
    leg fires carries it as its ``clOrdId``): derived from the group id and the legs' clOrderIds, so it is found
    again after a restart."""
    stop, take = oco_legs(group)
    text = "\0".join((group.group_id, stop.cl_order_id, take.cl_order_id))
    return "oco" + hashlib.sha256(text.encode()).hexdigest()[:29]


def oco_item(group: GroupRequest, swap: bool, algo_cl: str) -> dict[str, str]:
    """``POST /api/v5/trade/order-algo`` ``ordType oco``: the stop leg's ``sl*`` and the take-profit leg's ``tp*``
    (each ``algo_item`` would send alone) on one algo order."""
    stop, take = oco_legs(group)
    item = {**algo_item(take, swap), **algo_item(stop, swap)}
    item.update({"ordType": "oco", "algoClOrdId": algo_cl})
    return item


def parse_algo_order(row: dict[str, Any], symbol: str, side_text: str) -> ExecutionReport:
    """An algo order (``GET order-algo``) as the report of a native contingent order's own state (the order it
    places when it fires reports itself under the same client id)."""
    return ExecutionReport(
        cl_order_id=str(row.get("algoClOrdId", "")),
        symbol=symbol,
        exch_order_id="",
        status=ALGO_STATUS.get(str(row.get("state", "")), OrderStatus.TRIGGERED),
        side=Side.BUY if side_text == "buy" else Side.SELL,
        price=None,
        qty=D(str(row.get("sz") or 0)),
        cum_filled=ZERO,
        exch_time_ns=int(row.get("uTime") or 0) * 1_000_000,
    )


def parse_algo_push(row: dict[str, Any]) -> ExecutionReport | None:
    """A row of the business websocket's ``orders-algo`` channel as the report of a native contingent order's
    own end before it fired: ``canceled`` (by anyone: a cancel at the venue behind execx's back included) or
    ``order_failed`` (with its ``failCode``). None for the other states: ``live`` is what the acknowledgement
    said, and a fired one (``effective``) reports itself through the order it placed (``orders`` channel)."""
    state = str(row.get("state", ""))
    if state not in ("canceled", "order_failed") or not row.get("algoClOrdId"):
        return None
    report = parse_algo_order(row, str(row.get("instId", "")), str(row.get("side", "")))
    fail = str(row.get("failCode") or "")
    message = "cancelled at the venue (orders-algo canceled)"
    if state == "order_failed":
        message = "OKX could not place the algo order's order (orders-algo order_failed"
        message += f", failCode {fail})" if fail else ")"
    return replace(report, message=message)


def order_item(order: OrderRequest, swap: bool) -> dict[str, str]:
    """The ``place-order`` / ``batch-orders`` item of ``order``: ``tdMode`` cash (spot) or cross (swap);
    post-only is ``ordType=post_only``, IOC/FOK are order types; a spot market order is sized in the
    base currency (``tgtCcy``). OKX has no DAY time in force; reduce-only is for swaps."""
    item = {
        "instId": order.symbol,
        "tdMode": "cross" if swap else "cash",
        "clOrdId": order.cl_order_id,
        "side": order.side.value,
    }
    if order.reduce_only:
        if not swap:
            raise ValidationError("reduceOnly", f"is for swaps; {order.symbol} is spot")
        item["reduceOnly"] = "true"
    if order.order_type is OrderType.MARKET:
        item["ordType"] = "market"
        if not swap:
            item["tgtCcy"] = "base_ccy"  # execx sizes are base currency; OKX spot market buys default to quote
    else:
        if order.price is None:
            raise ValidationError("price", "required for limit and post-only orders")
        if order.tif is TimeInForce.DAY:
            raise ValidationError("tif", "OKX has no DAY time in force (use gtc, ioc or fok)")
        item["ordType"] = "post_only" if order.order_type is OrderType.POSTONLY else ORD_TYPE[order.tif]
        item["px"] = to_wire(order.price)
    item["sz"] = to_wire(order.qty)  # the keys in the order of the docs' example (test-vectors.md C3)
    return item


def amend_item(symbol: str, cl_order_id: str, qty: Decimal, price: Decimal | None) -> dict[str, str]:
    """The ``amend-order`` item: the new size, and the new price when there is one."""
    item = {"instId": symbol, "clOrdId": cl_order_id, "newSz": to_wire(qty)}
    if price is not None:
        item["newPx"] = to_wire(price)
    return item


def cancel_item(symbol: str, cl_order_id: str) -> dict[str, str]:
    """The ``cancel-order`` / ``cancel-batch-orders`` item."""
    return {"instId": symbol, "clOrdId": cl_order_id}


# ---------------------------------------------------------------------------------------- answers


def order_query(inst_id: str, cl_ord_id: str = "", ord_id: str = "") -> dict[str, str]:
    """``GET /api/v5/trade/order``: ``instId`` with ``ordId`` when given, else ``clOrdId`` (OKX answers the
    latest order under a reused clOrdId)."""
    return {"instId": inst_id, "ordId": ord_id} if ord_id else {"instId": inst_id, "clOrdId": cl_ord_id}


def pending_query(inst_id: str = "", after: str = "") -> dict[str, str]:
    """``GET /api/v5/trade/orders-pending`` (of ``inst_id``, or every instrument when empty), the page after
    the ``ordId`` ``after``."""
    return {"instId": inst_id, "after": after}


def fills_query(inst_id: str = "", ord_id: str = "", begin_ms: int | None = None, after: str = "") -> dict[str, str]:
    """``GET /api/v5/trade/fills`` (last 3 days) of an instrument, an order, or all, from ``begin_ms``, the
    page after the ``billId`` ``after``."""
    query = {"instId": inst_id, "ordId": ord_id, "after": after}
    if begin_ms is not None:
        query["begin"] = str(begin_ms)
    return query


def positions_query(inst_type: str = "") -> dict[str, str]:
    """``GET /api/v5/account/positions`` of one instrument type (``SWAP``), or of all when empty."""
    return {"instType": inst_type}


def acknowledged(
    order: OrderRequest, ord_id: str, status: OrderStatus, cum_filled: Decimal, time_ns: int
) -> ExecutionReport:
    """``place-order``'s answer (``ordId``, ``ts``) as the order's report, at the ``status`` and filled
    quantity already known (the private stream may have told more before the answer came)."""
    return ExecutionReport(
        order.cl_order_id, order.symbol, ord_id, status, order.side, order.price, order.qty, cum_filled, time_ns
    )


def amended(
    symbol: str,
    cl_order_id: str,
    ord_id: str,
    status: OrderStatus,
    side: Side,
    qty: Decimal,
    price: Decimal | None,
    cum_filled: Decimal,
    time_ns: int,
) -> ExecutionReport:
    """``amend-order``'s answer (ids, ``ts``) as a report of the new terms."""
    return ExecutionReport(
        cl_order_id, symbol, ord_id, status, side, price, qty, cum_filled, time_ns, message="amended (OKX amend-order)"
    )


def fills_of(rows: list[FillRow], order: ExecutionReport) -> list[ExecutionReport]:
    """Fill rows of one order as fill reports, oldest first; each fill's cumulative quantity and status
    follow from the order's current filled quantity (fill rows carry no totals)."""
    fills = sorted(rows, key=lambda r: int(r["tradeId"]))
    cum = order.cum_filled - sum((D(r["fillSz"]) for r in fills), ZERO)
    out: list[ExecutionReport] = []
    for row in fills:
        cum += D(row["fillSz"])
        status = OrderStatus.FILLED if cum >= order.qty else OrderStatus.PARTIALLYFILLED
        out.append(parse_fill_row(row, order, status, cum))
    return out


def _d(text: str | None) -> Decimal:
    return D(text) if text else ZERO


def _ns(ms: str | None) -> int:
    return int(ms) * 1_000_000 if ms else 0


def parse_instrument(row: InstrumentRow) -> InstrumentRules:
    """An ``/api/v5/public/instruments`` row as rules: ``tickSz``, ``lotSz``, ``minSz``, the maximum size
    of a limit order ``maxLmtSz`` and of a market order ``maxMktSz`` (empty or zero: none). OKX publishes
    no static price limits; its price band (``/api/v5/public/price-limit``) moves with the market and is
    not checked here, nor ``maxLmtAmt`` / ``maxMktAmt`` (USD values, not the instrument's notional)."""
    swap = row["instType"] in ("SWAP", "FUTURES")
    lot = D(row["lotSz"])
    return InstrumentRules(
        exchange=Exchange.OKX,
        symbol=row["instId"],
        tick=D(row["tickSz"]),
        lot=lot,
        min_qty=max(D(row.get("minSz") or lot), lot),
        max_qty=_limit(row.get("maxLmtSz")),
        contract_size=D(row["ctVal"]) if swap and row.get("ctVal") else D(1),
        inverse=row.get("ctType") == "inverse",
        market_max_qty=_limit(row.get("maxMktSz")),
    )


def _limit(text: str | None) -> Decimal | None:
    value = _d(text)
    return value if value > 0 else None


def _status(row: OrderRow) -> OrderStatus:
    return STATUS.get(row.get("state", ""), OrderStatus.NEW)


def _message(row: OrderRow) -> str:
    if row.get("amendResult") == "-1":  # an accepted amend that the venue could not apply
        return f"amend failed: {row.get('msg') or 'refused by OKX'} (code {row.get('code', '')})"
    if row.get("state") in ("canceled", "mmp_canceled"):
        source = row.get("cancelSource", "")
        return CANCEL_REASON.get(source, f"cancelled (cancelSource {source})" if source else "cancelled")
    return ""


def parse_order(row: OrderRow, message: str = "") -> ExecutionReport:
    """The state of an order (no fill), from a REST order row or an ``orders`` push."""
    return ExecutionReport(
        cl_order_id=row.get("clOrdId", ""),
        symbol=row["instId"],
        exch_order_id=row["ordId"],
        status=_status(row),
        side=Side.BUY if row["side"] == "buy" else Side.SELL,
        price=D(row["px"]) if row.get("px") else None,
        qty=_d(row.get("sz")),
        cum_filled=_d(row.get("accFillSz")),
        exch_time_ns=_ns(row.get("uTime") or row.get("cTime")),
        message=message or _message(row),
    )


def parse_order_push(row: OrderRow) -> ExecutionReport:
    """One ``orders`` channel item: a fill report when it carries a trade (``tradeId`` and a
    per-update ``fillSz``), else a status report."""
    report = parse_order(row)
    fill_sz = _d(row.get("fillSz"))
    if not row.get("tradeId") or fill_sz <= 0:
        return report
    from dataclasses import replace

    return replace(
        report,
        trade_id=row["tradeId"],
        fill_qty=fill_sz,
        fill_price=_d(row.get("fillPx")),
        liquidity=Liquidity.ADD if row.get("execType") == "M" else Liquidity.REMOVE,
        fee=-_d(row.get("fillFee")),
        fee_asset=row.get("fillFeeCcy", ""),
        exch_time_ns=_ns(row.get("fillTime")) or report.exch_time_ns,
        message="",
    )


def parse_fill_row(row: FillRow, order: ExecutionReport, status: OrderStatus, cum: Decimal) -> ExecutionReport:
    """A ``GET /trade/fills`` row as the fill report of ``order``; ``status`` / ``cum`` as of this fill."""
    return ExecutionReport(
        cl_order_id=order.cl_order_id,
        symbol=row["instId"],
        exch_order_id=row["ordId"],
        status=status,
        side=Side.BUY if row["side"] == "buy" else Side.SELL,
        price=order.price,
        qty=order.qty,
        cum_filled=cum,
        exch_time_ns=_ns(row.get("ts")),
        trade_id=row["tradeId"],
        fill_qty=D(row["fillSz"]),
        fill_price=D(row["fillPx"]),
        liquidity=Liquidity.ADD if row.get("execType") == "M" else Liquidity.REMOVE,
        fee=-_d(row.get("fee")),
        fee_asset=row.get("feeCcy", ""),
    )


def parse_position(row: PositionRow) -> VenuePosition:
    qty = _d(row.get("pos"))
    if row.get("posSide") == "short":
        qty = -abs(qty)
    return VenuePosition(row["instId"], qty, _d(row.get("avgPx")))


def parse_bbo(inst_id: str, item: BboItem) -> BookTicker | None:
    if not item["bids"] or not item["asks"]:
        return None
    bid, ask = item["bids"][0], item["asks"][0]
    return BookTicker(inst_id, D(bid[0]), D(bid[1]), D(ask[0]), D(ask[1]), _ns(item.get("ts")))


HISTORY_TRADES_LIMIT = 100  # ``GET /api/v5/market/history-trades`` ``limit`` maximum


def history_trades_params(inst_id: str, after_trade_id: str = "") -> dict[str, str]:
    """``GET /api/v5/market/history-trades``: ``type`` 1 (paged by tradeId), the newest ``limit`` trades, or
    those before ``after_trade_id`` (``after``: records earlier than the requested tradeId)."""
    params = {"instId": inst_id, "type": "1", "limit": str(HISTORY_TRADES_LIMIT)}
    if after_trade_id:
        params["after"] = after_trade_id
    return params


def parse_history_trades(rows: list[Any]) -> list[Trade]:
    """history-trades rows (newest first; ``side`` the taker's) as trades, in the venue's order."""
    return [parse_trade(cast(TradeItem, r)) for r in rows if isinstance(r, dict)]


def history_window(pages: list[list[Trade]], start_ms: int, end_ms: int) -> TradeWindow:
    """The trades read (newest page first) within ``start_ms``..``end_ms``, oldest first; complete when they
    reach back to ``start_ms`` or the last page was short (the venue has no older trades)."""
    trades = sorted(
        {t.trade_id: t for page in pages for t in page}.values(), key=lambda t: (t.exch_time_ns, t.trade_id)
    )
    last = pages[-1] if pages else []
    reaches = bool(trades) and trades[0].exch_time_ns // 1_000_000 <= start_ms
    inside = [t for t in trades if start_ms <= t.exch_time_ns // 1_000_000 <= end_ms]
    return TradeWindow(inside, complete=reaches or len(last) < HISTORY_TRADES_LIMIT)


def parse_trade(item: TradeItem) -> Trade:
    """``trades`` channel item; ``side`` is the taker's side."""
    return Trade(
        item["instId"],
        item["tradeId"],
        D(item["px"]),
        D(item["sz"]),
        Side.BUY if item["side"] == "buy" else Side.SELL,
        _ns(item.get("ts")),
    )
