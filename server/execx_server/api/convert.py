"""proto <-> domain conversion. The only module (with the servicers) that sees generated types.

Enum values map through the ``json_value`` option attached to every proto enum value, which is
spelled exactly like the domain's StrEnum values ("binance-spot", "postonly", ...): one source.
Doubles become Decimals here, through ``domain.numbers.from_double`` (the engine takes typed commands); here decimals
become doubles for the wire.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from execx.v1 import common_pb2, options_pb2, order_manager_pb2
from google.protobuf.descriptor import EnumDescriptor

from ..domain import enums
from ..domain.errors import ValidationError
from ..domain.numbers import from_double
from ..engine.risk import RiskLimits
from ..engine.sessions import SendOrder
from ..engine.updates import OrderUpdate

E = TypeVar("E", bound=StrEnum)


def json_values(desc: EnumDescriptor) -> dict[int, str]:
    """proto enum number -> the seed's string, from the ``json_value`` option."""
    ext: Any = options_pb2.json_value
    out: dict[int, str] = {}
    for v in desc.values:
        if v.GetOptions().HasExtension(ext):
            out[v.number] = v.GetOptions().Extensions[ext]
    return out


class EnumMap:
    def __init__(self, desc: EnumDescriptor, domain: type[E]) -> None:
        self.field_name = desc.name
        self.to_domain: dict[int, Any] = {
            n: domain(s) for n, s in json_values(desc).items() if s in domain._value2member_map_
        }
        self.to_proto: dict[Any, int] = {d: n for n, d in self.to_domain.items()}

    def domain(self, number: int, field: str, required: bool = False) -> Any:
        if number == 0:
            if required:
                raise ValidationError(field, "is required")
            return None
        value = self.to_domain.get(number)
        if value is None:
            raise ValidationError(field, f"unsupported value {number}")
        return value

    def proto(self, value: Any) -> Any:
        return self.to_proto.get(value, 0) if value is not None else 0


EXCHANGE = EnumMap(common_pb2.Exchange.DESCRIPTOR, enums.Exchange)
ORDER_TYPE = EnumMap(common_pb2.OrderType.DESCRIPTOR, enums.OrderType)
TRANSACTION_TYPE = EnumMap(common_pb2.TransactionType.DESCRIPTOR, enums.TransactionType)
TIF = EnumMap(common_pb2.TimeInForce.DESCRIPTOR, enums.TimeInForce)
SIDE = EnumMap(common_pb2.Side.DESCRIPTOR, enums.Side)
STATUS = EnumMap(common_pb2.OrderStatus.DESCRIPTOR, enums.OrderStatus)
LIQUIDITY = EnumMap(common_pb2.TradeLiquidity.DESCRIPTOR, enums.Liquidity)


# The journal keeps sequence numbers as SQLite INTEGERs (signed 64-bit). A uint64 request field beyond
# that (fromSeq, afterSeq: any value a client may send) is past the end of every session, so it is
# clamped here, before it reaches the engine: "from 2**64 - 1" means "nothing from the journal".
JOURNAL_SEQ_MAX = 2**63 - 1


def journal_seq(value: int) -> int:
    """A client's uint64 sequence number as one the journal can compare (clamped to JOURNAL_SEQ_MAX)."""
    return min(value, JOURNAL_SEQ_MAX)


def send_order(req: order_manager_pb2.SendOrderRequest) -> SendOrder:
    return SendOrder(
        session_id=req.session_id,
        transaction_type=TRANSACTION_TYPE.domain(req.transaction_type, "transactionType"),
        cl_order_id=req.cl_order_id,
        symbol=req.symbol,
        price=from_double(req.price, "price") if req.HasField("price") else None,
        qty=from_double(req.qty, "qty") if req.HasField("qty") else None,
        order_type=ORDER_TYPE.domain(req.order_type, "orderType"),
        tif=TIF.domain(req.tif, "tif"),
        side=SIDE.domain(req.side, "side"),
        reduce_only=req.reduce_only,
    )


_EXCHANGE_PROTO: Any = EXCHANGE.to_proto.get  # EnumMap.proto without its call: None is no key, so 0 as there
_ORDER_TYPE_PROTO: Any = ORDER_TYPE.to_proto.get
_STATUS_PROTO: Any = STATUS.to_proto.get
_TRANSACTION_TYPE_PROTO: Any = TRANSACTION_TYPE.to_proto.get
_TIF_PROTO: Any = TIF.to_proto.get
_SIDE_PROTO: Any = SIDE.to_proto.get
_LIQUIDITY_PROTO: Any = LIQUIDITY.to_proto.get


def transaction(u: OrderUpdate, seq: int = 0) -> common_pb2.OrderTransaction:
    # Every update of every order, to every subscriber: the enum maps' dicts read directly (as EnumMap.proto).
    return common_pb2.OrderTransaction(
        exch_order_id=u.exch_order_id,
        message=u.message,
        cl_order_id=u.cl_order_id,
        exchange=_EXCHANGE_PROTO(u.exchange, 0),
        symbol=u.symbol,
        session_id=u.session_id,
        trade_id=u.trade_id,
        local_time=u.local_time,
        exch_time=u.exch_time,
        send_time=u.send_time,
        price=float(u.order_price),  # the order's price on every update (seed 000); the fill's is fill_price
        qty=float(u.order_qty),
        cumulative_filled_qty=float(u.cumulative_filled_qty),
        executed_qty=float(u.executed_qty),
        remaining_qty=float(u.remaining_qty),
        order_type=_ORDER_TYPE_PROTO(u.order_type, 0),
        order_status=_STATUS_PROTO(u.order_status, 0),
        transaction_type=_TRANSACTION_TYPE_PROTO(u.transaction_type, 0),
        tif=_TIF_PROTO(u.tif, 0),
        side=_SIDE_PROTO(u.side, 0),
        trade_liquidity=_LIQUIDITY_PROTO(u.trade_liquidity, 0),
        trigger_id=u.trigger_id,
        seq=seq,
        fill_price=float(u.price) if u.trade_id else 0.0,
        avg_fill_price=float(u.avg_fill_price),
        fee=float(u.fee),
        fee_currency=u.fee_currency,
        replaced_exch_order_id=u.replaced_exch_order_id,
    )


def fill(u: OrderUpdate, seq: int = 0) -> common_pb2.Fill:
    """One fill (an update with a ``trade_id``) as ``ListFills`` and the algorithms' status answer it."""
    return common_pb2.Fill(
        seq=seq,
        session_id=u.session_id,
        exchange=EXCHANGE.proto(u.exchange),
        symbol=u.symbol,
        cl_order_id=u.cl_order_id,
        exch_order_id=u.exch_order_id,
        trade_id=u.trade_id,
        side=SIDE.proto(u.side),
        price=float(u.price),
        qty=float(u.executed_qty),
        trade_liquidity=LIQUIDITY.proto(u.trade_liquidity),
        fee=float(u.fee),
        fee_currency=u.fee_currency,
        exch_time=u.exch_time,
        local_time=u.local_time,
        trigger_id=u.trigger_id,
    )


def answer(request: order_manager_pb2.SendOrderRequest, u: OrderUpdate) -> common_pb2.OrderTransaction:
    """The answer to a sendOrder request. A pull's is the request's echo (engine ``_pull_answer``): its
    order type, side and time in force are the request's own, unspecified where it gave none."""
    out = transaction(u)
    if u.transaction_type is enums.TransactionType.PULL and not u.trade_id:
        out.order_type, out.side, out.tif = request.order_type, request.side, request.tif
    return out


def algorithm_event(d: dict[str, Any], seq: int) -> order_manager_pb2.AlgorithmEvent:
    """A trading algorithm's event record (engine kind ``algorithm``, decimals as strings) for the stream."""
    side = d.get("side") or None
    return order_manager_pb2.AlgorithmEvent(
        seq=seq,
        algorithm=d.get("algorithm", ""),
        event=d.get("event", ""),
        session_id=d.get("sessionId", ""),
        exchange=EXCHANGE.proto(enums.Exchange(d["exchange"]) if d.get("exchange") else None),
        symbol=d.get("symbol", ""),
        level=int(d.get("level", -1)),
        side=SIDE.proto(enums.Side(side) if side else None),
        price=float(d.get("price", 0)),
        qty=float(d.get("qty", 0)),
        pnl=float(d.get("pnl", 0)),
        detail=d.get("detail", ""),
        local_time=int(d.get("localTime", 0)),
    )


def risk_limits(msg: order_manager_pb2.RiskLimits, field: str = "riskLimits") -> RiskLimits:
    """The proto's optional limits as the engine's (unset = no limit); doubles become exact decimals."""

    def dec(name: str) -> Any:
        return from_double(getattr(msg, name), f"{field}.{name}") if msg.HasField(name) else None

    def count(name: str) -> int | None:
        return int(getattr(msg, name)) if msg.HasField(name) else None

    try:
        return RiskLimits(
            max_order_qty=dec("max_order_qty"),
            max_order_notional=dec("max_order_notional"),
            max_open_orders=count("max_open_orders"),
            max_position_long=dec("max_position_long"),
            max_position_short=dec("max_position_short"),
            price_band_pct=dec("price_band_pct"),
            max_orders_per_second=count("max_orders_per_second"),
        )
    except ValidationError as e:  # named after the request's field (riskLimits or limits)
        raise ValidationError(e.field.replace("riskLimits", field, 1), e.reason) from None


def risk_limits_proto(limits: RiskLimits) -> order_manager_pb2.RiskLimits:
    out = order_manager_pb2.RiskLimits()
    for name in (
        "max_order_qty",
        "max_order_notional",
        "max_position_long",
        "max_position_short",
        "price_band_pct",
    ):
        value = getattr(limits, name)
        if value is not None:
            setattr(out, name, float(value))
    if limits.max_open_orders is not None:
        out.max_open_orders = limits.max_open_orders
    if limits.max_orders_per_second is not None:
        out.max_orders_per_second = limits.max_orders_per_second
    return out


def risk_event(d: dict[str, Any], seq: int, session_id: str) -> order_manager_pb2.RiskEvent:
    """A risk record (engine kind ``risk``: a kill-switch or limits snapshot) for the update stream."""
    return order_manager_pb2.RiskEvent(
        seq=seq,
        session_id=session_id,
        event=d.get("event", ""),
        scope=d.get("scope", ""),
        kill_switch=bool(d.get("killSwitch")),
        global_kill_switch=bool(d.get("globalKillSwitch")),
        reason=d.get("globalReason", "") if d.get("scope") == "global" else d.get("reason", ""),
        limits=risk_limits_proto(RiskLimits.from_json(d.get("limits") or {})),
        cancelling_cl_order_ids=list(d.get("cancelling", [])),
        local_time=int(d.get("localTime", 0)),
    )
