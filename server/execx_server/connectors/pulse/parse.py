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
from ...domain.venue import ExecutionReport, GroupRequest, NativeTrigger, OrderRequest
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


# Linked orders (seed 004 ``linked_order_type`` + ``otoco_config``): execx's OTO is one_triggers_other with one
# secondary, its OTOCO one_triggers_one_cancels_other with two; both released once the primary is completely
# filled (``trigger_fill_condition`` complete_fill: execx's OTO rule). Pulse has no OCO of two live orders.
LINKED_TYPE = {"oto": "one_triggers_other", "otoco": "one_triggers_one_cancels_other"}
NATIVE_GROUPS = frozenset(LINKED_TYPE)


def linked_refusal(group: GroupRequest) -> str:
    """'' when Pulse holds ``group`` as a linked order (``PlacesGroups.holds_group``), else why not: its type
    (no OCO), legs on one instrument (``otoco_config`` has no instrument), secondaries that ``otoco_config``
    can express (no ``post_only`` or ``reduce_only`` there; a trigger: stop / take-profit on last or index)."""
    if group.type not in LINKED_TYPE:
        return f"pulse has no native {group.type} (linked orders: one_triggers_other, one_triggers_one_cancels_other)"
    primary = group.legs[0]
    for i, leg in enumerate(group.legs):
        if leg.symbol != primary.symbol:
            return f"legs[{i}] is on {leg.symbol}, not {primary.symbol}: otoco_config orders are on the primary's"
        if leg.trigger is not None and (
            leg.trigger.kind not in NATIVE_TRIGGERS
            or leg.trigger.reference not in TRIGGER_REF
            or leg.trigger.price is None
        ):
            return f"legs[{i}]: pulse holds stop and take-profit orders on last or index price only"
        if i and leg.order_type is OrderType.POSTONLY:
            return f"legs[{i}] is post-only: otoco_config has no post_only"
        if i and leg.reduce_only:
            return f"legs[{i}] is reduce-only: otoco_config has no reduce_only"
    return ""


def linked_params(group: GroupRequest, rules: InstrumentRules) -> dict[str, Any]:
    """``private/buy`` / ``sell`` of the primary (``legs[0]``) with ``linked_order_type``, ``otoco_config`` (the
    other legs, in order) and ``trigger_fill_condition`` complete_fill."""
    params = order_params(group.legs[0], rules)
    params["linked_order_type"] = LINKED_TYPE[group.type]
    params["trigger_fill_condition"] = "complete_fill"
    params["otoco_config"] = [otoco_config(leg, rules) for leg in group.legs[1:]]
    return params


def otoco_config(leg: OrderRequest, rules: InstrumentRules) -> dict[str, Any]:
    """A secondary order (seed 004 models.OtocoConfig: amount, direction, type, price, time_in_force, trigger,
    trigger_price; it has no label: execx knows it by the order id the primary's answer lists)."""
    cfg: dict[str, Any] = {
        "amount": to_wire(rpc_parse.amount_of(leg.qty, rules)),
        "direction": leg.side.value,
        "type": "market" if leg.order_type is OrderType.MARKET else "limit",
        "time_in_force": TIF[leg.tif],
    }
    if leg.trigger is not None:
        cfg.update(trigger_params(leg))
    if leg.price is not None and leg.order_type is not OrderType.MARKET:
        cfg["price"] = to_wire(leg.price)
    return cfg


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
