"""Pulse requests and reports: the order parameters execx sends (``private/buy`` / ``sell`` / ``edit`` /
``cancel`` / ``cancel_all_by_instrument``) and what Pulse-specific objects become in the domain. The objects
Pulse shares with Deribit (order, trade, instrument, quote) are read by ``connectors.jsonrpc.parse``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...domain.enums import OrderType, TimeInForce
from ...domain.errors import ValidationError
from ...domain.instruments import InstrumentRules
from ...domain.numbers import to_wire
from ...domain.venue import ExecutionReport, NativeTrigger, OrderRequest
from ..jsonrpc import parse as rpc_parse
from ..tracking import Known

# Trigger orders (seed 004 types.Type / types.Trigger): stop_* and take_* with ``trigger`` index_price or
# last_price and ``trigger_price``; Pulse has no mark-price trigger and no trailing stop.
TRIGGER_REF = {"last": "last_price", "index": "index_price"}
NATIVE_TRIGGERS = frozenset({"stop", "takeprofit"})
TRIGGER_TYPE_PREFIX = {"stop": "stop", "takeprofit": "take"}

TIF = {
    TimeInForce.GTC: "good_til_cancelled",
    TimeInForce.DAY: "good_til_day",
    TimeInForce.IOC: "immediate_or_cancel",
    TimeInForce.FOK: "fill_or_kill",
}


def order_params(order: OrderRequest, rules: InstrumentRules) -> dict[str, Any]:
    """``private/buy`` / ``private/sell`` parameters (``label`` = clOrderId, ``amount`` in the
    instrument's units). Pulse's ``post_only`` moves a crossing price inside the spread (seed 004)."""
    params: dict[str, Any] = {
        "instrument_name": order.symbol,
        "amount": to_wire(rpc_parse.amount_of(order.qty, rules)),
        "type": "market" if order.order_type is OrderType.MARKET else "limit",
        "label": order.cl_order_id,
        "time_in_force": TIF[order.tif],
    }
    if order.trigger is not None:
        params.update(trigger_params(order))
    if order.price is not None and order.order_type is not OrderType.MARKET:
        params["price"] = to_wire(order.price)
    if order.order_type is OrderType.POSTONLY:
        params["post_only"] = True
    if order.reduce_only:
        params["reduce_only"] = True
    return params


def trigger_params(order: OrderRequest) -> dict[str, Any]:
    """A native contingent order's fields: ``type`` stop_market / stop_limit / take_market / take_limit,
    ``trigger`` (last_price / index_price) and ``trigger_price``. Which way it fires is the type's (a buy
    stop when the price rises to the level, a buy take-profit when it falls to it; a sell the other way)."""
    trigger = order.trigger
    if (
        trigger is None
        or trigger.kind not in NATIVE_TRIGGERS
        or trigger.price is None
        or trigger.reference not in TRIGGER_REF
    ):
        raise ValidationError("triggerKind", "Pulse holds stop and take-profit orders on last or index price only")
    kind = "market" if order.order_type is OrderType.MARKET else "limit"
    return {
        "type": f"{TRIGGER_TYPE_PREFIX[trigger.kind]}_{kind}",
        "trigger": TRIGGER_REF[trigger.reference],
        "trigger_price": to_wire(trigger.price),
    }


def edit_params(
    known: Known, qty: Decimal, price: Decimal | None, rules: InstrumentRules, trigger: NativeTrigger | None = None
) -> dict[str, Any]:
    """``private/edit`` parameters: the new total ``amount`` and price of a known order, and an untriggered
    trigger order's new ``trigger_price``."""
    params: dict[str, Any] = {
        "order_id": known.exch_order_id,
        "amount": to_wire(rpc_parse.amount_of(qty, rules)),
    }
    if price is not None:
        params["price"] = to_wire(price)
    if trigger is not None and trigger.price is not None:
        params["trigger_price"] = to_wire(trigger.price)
    if known.order_type is OrderType.POSTONLY:
        params["post_only"] = True
    return params


def cancel_params(exch_order_id: str) -> dict[str, Any]:
    """``private/cancel``: the order by Pulse's ``order_id`` (seed 004: the only key it takes)."""
    return {"order_id": exch_order_id}


def cancel_all_params(symbol: str) -> dict[str, Any]:
    """``private/cancel_all_by_instrument``: every order of the instrument, of every ``type``."""
    return {"instrument_name": symbol, "type": "all"}


def parse_user_trade(
    trade: dict[str, Any], cl_order_id: str, known: Known, rules: InstrumentRules | None
) -> ExecutionReport:
    """A ``user.trades`` object (one trade per notification on Pulse) of a known order as a fill report."""
    symbol = str(trade.get("instrument_name", ""))
    exch_id = str(trade.get("order_id", ""))
    cum = known.cum_filled + rpc_parse.contracts(trade, rules)
    order = ExecutionReport(
        cl_order_id, symbol, exch_id, known.status, known.side, known.price, known.qty, known.cum_filled, 0
    )
    return rpc_parse.parse_fill(trade, order, rules, cum)
