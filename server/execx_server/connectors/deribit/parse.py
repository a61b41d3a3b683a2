"""Deribit requests and reports: the FIX order messages (``../shared/venues/deribit.md`` §2.4 to 2.8), what
we send and how the answers read, and a FIX fill's fee from JSON-RPC. The objects Deribit shares with Pulse
(order, trade, instrument, quote over JSON-RPC) are read by ``connectors.jsonrpc.parse``.

- NewOrderSingle(D): ``ClOrdID(11)`` = clOrderId, ``DeribitLabel(100010)`` = clOrderId too (the label
  is what JSON-RPC can find an order by, for reconciliation), ``OrderQty(38)`` in contracts
  (``QtyType`` default), ``OrdType(40)`` 1 market / 2 limit, ``TimeInForce(59)`` 1 GTC / 0 good-till-day
  / 3 IOC / 4 FOK (standard FIX 4.4 values: the docs' excerpts do not list them, the JSON-RPC names
  mirror them), ``ExecInst(18)`` ``6A`` for post-only (reject rather than reprice: an execx postonly
  order that would take is refused, as on every venue), ``E`` reduce-only.
- OrderCancelRequest(F) / OrderCancelReplaceRequest(G): ``OrigClOrdId(41)`` = Deribit's order id once
  known (the docs' fastest path), else ``ClOrdID(11)`` = our original ClOrdID with ``Symbol(55)``.
- OrderMassCancelRequest(q): ``MassCancelRequestType(530)=1`` by ``Symbol(55)``.
- ExecutionReport(8), Deribit's reversal: ``ClOrdID(11)`` is Deribit's own value, ``OrigClOrdID(41)``
  the client's ClOrdID; ``OrderID(37)`` Deribit's order id. Fills are separate reports
  (``ReportFillsAsExecReports(9015)=Y`` at Logon): ``ExecType(150)=F`` with ``LastPx(31)``,
  ``LastQty(32)``, ``TrdMatchID(880)`` (the trade id JSON-RPC reports too) and ``LastLiquidityInd(851)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Any

import simplefix

from ...domain.enums import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from ...domain.errors import ValidationError
from ...domain.numbers import to_wire
from ...domain.venue import ExecutionReport, OrderRequest
from ..transport.fix import new_message, text

LABEL = 100010

#: Application messages we accept from Deribit and the tags each must carry (FIX session check).
APP_REQUIRED: dict[str, tuple[int, ...]] = {
    "8": (37, 39, 150, 54),  # ExecutionReport
    "9": (39,),  # OrderCancelReject
    "r": (530,),  # OrderMassCancelReport
    "j": (45, 380),  # BusinessMessageReject
}

# Native stop orders (issue 20): OrdType 4 stop-limit / S stop-market with StopPx(99) and
# ConditionTriggerMethod(5127) 1 mark / 2 last / 3 index; ExecType 7 = the stop triggered.
STOP_ORD_TYPES = ("4", "S")
TRIGGER_METHOD = {"mark": "1", "last": "2", "index": "3"}
_TIF = {TimeInForce.GTC: "1", TimeInForce.DAY: "0", TimeInForce.IOC: "3", TimeInForce.FOK: "4"}
_STATUS = {
    "0": OrderStatus.NEW,
    "1": OrderStatus.PARTIALLYFILLED,
    "2": OrderStatus.FILLED,
    "3": OrderStatus.EXPIRED,  # done for day (good-till-day at settlement)
    "4": OrderStatus.CANCELLED,
    "8": OrderStatus.REJECTED,
    "C": OrderStatus.EXPIRED,
}


def transact_time() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def _side(side: Side) -> str:
    return "1" if side is Side.BUY else "2"


def new_order_single(order: OrderRequest) -> simplefix.FixMessage:
    fields: list[tuple[int, str]] = [
        (11, order.cl_order_id),
        (54, _side(order.side)),
        (38, to_wire(order.qty)),
        (55, order.symbol),
        (40, _ord_type(order)),
        (59, _TIF[order.tif]),
        (60, transact_time()),
        (LABEL, order.cl_order_id),
    ]
    if order.price is not None and order.order_type is not OrderType.MARKET:
        fields.append((44, to_wire(order.price)))
    trigger = order.trigger
    if trigger is not None and trigger.price is not None:
        fields += [(99, to_wire(trigger.price)), (5127, TRIGGER_METHOD[trigger.reference])]
    exec_inst = ("6A" if order.order_type is OrderType.POSTONLY else "") + ("E" if order.reduce_only else "")
    if exec_inst:
        fields.append((18, exec_inst))
    return new_message("D", fields)


def _ord_type(order: OrderRequest) -> str:
    """OrdType(40): market / limit, or a native stop (stop-market S, stop-limit 4)."""
    if order.trigger is not None:
        if order.trigger.kind != "stop" or order.trigger.price is None or order.trigger.reference not in TRIGGER_METHOD:
            raise ValidationError("triggerKind", "Deribit FIX holds stop orders (with a trigger price) only")
        return "S" if order.order_type is OrderType.MARKET else "4"
    return "1" if order.order_type is OrderType.MARKET else "2"


def _target(cl_order_id: str, exch_order_id: str, symbol: str) -> list[tuple[int, str]]:
    if exch_order_id:
        return [(41, exch_order_id), (11, cl_order_id), (55, symbol)]
    return [(11, cl_order_id), (55, symbol)]


def cancel_request(cl_order_id: str, exch_order_id: str, symbol: str, side: Side) -> simplefix.FixMessage:
    return new_message("F", [*_target(cl_order_id, exch_order_id, symbol), (54, _side(side)), (60, transact_time())])


def replace_request(
    cl_order_id: str,
    exch_order_id: str,
    symbol: str,
    side: Side,
    qty: Decimal,
    price: Decimal | None,
    post_only: bool,
) -> simplefix.FixMessage:
    fields = [*_target(cl_order_id, exch_order_id, symbol), (54, _side(side)), (38, to_wire(qty)), (40, "2")]
    if price is not None:
        fields.append((44, to_wire(price)))
    if post_only:
        fields.append((18, "6A"))
    fields.append((60, transact_time()))
    return new_message("G", fields)


def mass_cancel_request(request_id: str, symbol: str) -> simplefix.FixMessage:
    return new_message("q", [(11, request_id), (530, "1"), (55, symbol)])


def _decimal(msg: simplefix.FixMessage, tag: int) -> Decimal:
    value = text(msg, tag)
    return Decimal(value) if value else Decimal(0)


def _time_ns(msg: simplefix.FixMessage) -> int:
    value = text(msg, 60)
    if not value:
        return 0
    try:
        stamp = dt.datetime.strptime(value[:21], "%Y%m%d-%H:%M:%S.%f" if "." in value else "%Y%m%d-%H:%M:%S")
    except ValueError:
        return 0
    return int(stamp.replace(tzinfo=dt.UTC).timestamp() * 1_000_000) * 1000


def parse_execution_report(msg: simplefix.FixMessage) -> ExecutionReport:
    """An ExecutionReport(8) as a domain report (fills with their trade id)."""
    exec_type = text(msg, 150)
    status = _STATUS.get(text(msg, 39), OrderStatus.NEW)
    if exec_type == "C":
        status = OrderStatus.EXPIRED
    elif exec_type == "7":
        status = OrderStatus.TRIGGERED  # a stop order triggered: its order is placed
    elif status is OrderStatus.NEW and exec_type in ("0", "5") and text(msg, 40) in STOP_ORD_TYPES and text(msg, 99):
        status = OrderStatus.PENDINGTRIGGER  # a stop order acknowledged (or amended) and waiting for its trigger
    order_id = text(msg, 37)
    price = text(msg, 44)
    fill = exec_type == "F"
    return ExecutionReport(
        cl_order_id=text(msg, 41) or text(msg, 11),
        symbol=text(msg, 55),
        exch_order_id="" if order_id == "NONE" else order_id,
        status=status,
        side=Side.BUY if text(msg, 54) == "1" else Side.SELL,
        price=Decimal(price) if price else None,
        qty=_decimal(msg, 38),
        cum_filled=_decimal(msg, 14),
        exch_time_ns=_time_ns(msg),
        message=text(msg, 58),
        trade_id=(text(msg, 1003) or text(msg, 880) or text(msg, 17)) if fill else "",
        fill_qty=_decimal(msg, 32) if fill else Decimal(0),
        fill_price=_decimal(msg, 31) if fill else Decimal(0),
        liquidity=(Liquidity.ADD if text(msg, 851) == "1" else Liquidity.REMOVE) if fill else None,
    )


def with_fee(report: ExecutionReport, answer: Any) -> ExecutionReport | None:
    """A FIX fill (Commission(12) is deprecated, always 0) with its trade's ``fee`` and ``fee_currency`` from a
    ``private/get_user_trades_by_order`` answer (a list of trades, or ``{"trades": [...]}``); None when the
    answer does not hold the trade."""
    rows = answer.get("trades", []) if isinstance(answer, dict) else answer
    for row in rows or ():
        if str(row.get("trade_id")) == report.trade_id:
            return replace(report, fee=Decimal(str(row.get("fee", 0))), fee_asset=str(row.get("fee_currency", "")))
    return None
