"""proto <-> domain conversion of contingent orders (issue 20): ``sendOrder``'s trigger fields, the
``ContingentEvent`` of the update stream, the group type."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from execx.v1 import contingent_order_pb2, order_manager_pb2

from ..domain import enums
from ..domain.errors import ValidationError
from ..domain.numbers import from_double
from ..managers.contingent import GroupType, Spec
from ..managers.contingent_plan import Kind, Reference
from . import convert

KIND = convert.EnumMap(order_manager_pb2.TriggerKind.DESCRIPTOR, Kind)
REFERENCE = convert.EnumMap(order_manager_pb2.TriggerReference.DESCRIPTOR, Reference)
GROUP_TYPE = convert.EnumMap(contingent_order_pb2.GroupType.DESCRIPTOR, GroupType)


def _opt(r: order_manager_pb2.SendOrderRequest, name: str, field: str) -> Decimal | None:
    return from_double(getattr(r, name), field) if r.HasField(name) else None


def spec_of(r: order_manager_pb2.SendOrderRequest, prefix: str = "") -> Spec | None:
    """The request's trigger (None: no ``triggerKind``: a plain order)."""
    kind = KIND.domain(r.trigger_kind, prefix + "triggerKind")
    if kind is None:
        for name, field in (
            ("trigger_price", "triggerPrice"),
            ("trailing_amount", "trailingAmount"),
            ("trailing_percent", "trailingPercent"),
        ):
            if r.HasField(name):
                raise ValidationError(prefix + field, "needs triggerKind (stop, takeprofit or trailingstop)")
        if r.trigger_reference:
            raise ValidationError(prefix + "triggerReference", "needs triggerKind (stop, takeprofit or trailingstop)")
        return None
    return Spec(
        kind,
        REFERENCE.domain(r.trigger_reference, prefix + "triggerReference") or Reference.LAST,
        _opt(r, "trigger_price", prefix + "triggerPrice"),
        _opt(r, "trailing_amount", prefix + "trailingAmount"),
        _opt(r, "trailing_percent", prefix + "trailingPercent"),
    )


def amended_spec(r: order_manager_pb2.SendOrderRequest, old: Spec | None) -> Spec | None:
    """An update's trigger: the old one with what the request sets."""
    if old is None:
        return spec_of(r)
    new = spec_of(r) if r.trigger_kind else None
    if new is not None and new.kind is not old.kind:
        raise ValidationError("triggerKind", f"an armed {old.kind.value} order keeps its kind")
    ref = REFERENCE.domain(r.trigger_reference, "triggerReference") or old.reference
    return Spec(
        old.kind,
        ref,
        _opt(r, "trigger_price", "triggerPrice") or old.level,
        _opt(r, "trailing_amount", "trailingAmount") or (None if r.HasField("trailing_percent") else old.amount),
        _opt(r, "trailing_percent", "trailingPercent") or (None if r.HasField("trailing_amount") else old.percent),
    )


def event(d: dict[str, Any], seq: int) -> order_manager_pb2.ContingentEvent:
    """A contingent event record (kind ``contingent``, decimals as strings) for the stream."""
    return order_manager_pb2.ContingentEvent(
        seq=seq,
        session_id=d["sessionId"],
        cl_order_id=d["clOrderId"],
        group_id=d["groupId"],
        status=convert.STATUS.proto(enums.OrderStatus(d["status"])),
        exchange=convert.EXCHANGE.proto(enums.Exchange(d["exchange"])),
        symbol=d["symbol"],
        side=convert.SIDE.proto(enums.Side(d["side"]) if d["side"] else None),
        order_type=convert.ORDER_TYPE.proto(enums.OrderType(d["orderType"]) if d["orderType"] else None),
        price=float(d["price"]),
        qty=float(d["qty"]),
        trigger_kind=KIND.proto(Kind(d["triggerKind"]) if d["triggerKind"] else None),
        trigger_reference=REFERENCE.proto(Reference(d["triggerReference"]) if d["triggerReference"] else None),
        trigger_price=float(d["triggerPrice"]),
        reference_price=float(d["referencePrice"]),
        message=d["message"],
        local_time=d["localTime"],
        native=bool(d.get("native", False)),
    )
