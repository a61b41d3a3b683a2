"""``TriggerManagerService`` (seed 000): start / stop trigger managers, set, clear and list triggers.

Validation before anything is armed (INVALID_ARGUMENT naming the field): symbol, exchange, sessionId
(start/stop), id, a positive price, direction and at least one order (setTrigger), every order checked
as ``sendOrder`` checks an insert (``orders[i].<field>``). Unknown manager or trigger: NOT_FOUND; a
second manager on the same (session, exchange, symbol), an armed trigger id set again or a clOrderId
already used: ALREADY_EXISTS. ``GetTriggerManager`` (extension): a manager's status, its triggers, the
orders they sent with their fills, position and PnL per symbol. The behaviour is in
``managers/trigger.py`` and docs/algorithms.md.
"""

from __future__ import annotations

import time

from execx.v1 import common_pb2, order_manager_pb2, trigger_manager_pb2, trigger_manager_pb2_grpc

from ..domain.enums import TransactionType
from ..domain.errors import ValidationError
from ..domain.numbers import from_double
from ..engine.sessions import SendOrder
from ..engine.updates import OrderUpdate
from ..managers.runtime import RunnerState
from ..managers.trigger import Status, Trigger, TriggerManagers
from ..managers.trigger_plan import Direction
from . import convert, ownership
from .servicers import Ctx, unary

DIRECTION = {
    trigger_manager_pb2.TRIGGER_DIRECTION_UP: Direction.UP,
    trigger_manager_pb2.TRIGGER_DIRECTION_DOWN: Direction.DOWN,
}
DIRECTION_PROTO = {d: n for n, d in DIRECTION.items()}
STATE = convert.EnumMap(common_pb2.RunnerState.DESCRIPTOR, RunnerState)


def order_request(o: SendOrder) -> order_manager_pb2.SendOrderRequest:
    msg = order_manager_pb2.SendOrderRequest(
        cl_order_id=o.cl_order_id,
        symbol=o.symbol,
        session_id=o.session_id,
        order_type=convert.ORDER_TYPE.proto(o.order_type),
        transaction_type=convert.TRANSACTION_TYPE.proto(o.transaction_type),
        tif=convert.TIF.proto(o.tif),
        side=convert.SIDE.proto(o.side),
        reduce_only=o.reduce_only,
    )
    if o.price is not None:
        msg.price = float(o.price)
    if o.qty is not None:
        msg.qty = float(o.qty)
    return msg


def trigger_info(t: Trigger) -> trigger_manager_pb2.TriggerInfo:
    return trigger_manager_pb2.TriggerInfo(
        trigger=trigger_manager_pb2.SetTriggerRequest(
            id=t.id,
            price=float(t.price),
            symbol=t.symbol,
            direction=DIRECTION_PROTO[t.direction],
            exchange=convert.EXCHANGE.proto(t.exchange),
            orders=[order_request(o) for o in t.orders],
        ),
        fired=bool(t.fired_ns),
        fired_time=t.fired_ns,
    )


def status_message(s: Status) -> trigger_manager_pb2.TriggerManagerStatus:
    now = time.time_ns()
    symbols = [
        trigger_manager_pb2.TriggerSymbolPnl(
            symbol=p.symbol,
            position=float(p.position),
            net_qty=float(p.net_qty),
            avg_entry_price=float(p.avg_entry_price),
            mark_price=float(p.mark_price),
            realised_pnl=float(p.realised_pnl),
            unrealised_pnl=float(p.unrealised_pnl),
            fees_paid=float(p.fees_paid),
            fills=p.fills,
        )
        for p in s.symbols
    ]
    fired = sum(1 for t in s.triggers if t.fired_ns)
    return trigger_manager_pb2.TriggerManagerStatus(
        session_id=s.session_id,
        exchange=convert.EXCHANGE.proto(s.exchange),
        symbol=s.symbol,
        state=STATE.proto(s.state),
        reason=s.reason,
        triggers=[trigger_info(t) for t in s.triggers],
        armed=len(s.triggers) - fired,
        fired=fired,
        working_orders=[convert.transaction(OrderUpdate.of(o, TransactionType.INSERT, now)) for o in s.working],
        orders=[convert.transaction(OrderUpdate.of(o, TransactionType.INSERT, now)) for o in s.orders],
        fills=[convert.fill(u) for u in s.fills],
        symbols=symbols,
        realised_pnl=float(sum(p.realised_pnl for p in s.symbols)),
        unrealised_pnl=float(sum(p.unrealised_pnl for p in s.symbols)),
        fees_paid=float(sum(p.fees_paid for p in s.symbols)),
    )


class TriggerManagerServicer(trigger_manager_pb2_grpc.TriggerManagerServiceServicer):
    def __init__(self, managers: TriggerManagers) -> None:
        self.managers = managers

    @unary
    async def StartTriggerManager(
        self, request: trigger_manager_pb2.StartTriggerManagerRequest, context: Ctx
    ) -> trigger_manager_pb2.StartTriggerManagerResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange", required=True)
        await self.managers.start(request.session_id, exchange, request.symbol)
        return trigger_manager_pb2.StartTriggerManagerResponse()

    @unary
    async def StopTriggerManager(
        self, request: trigger_manager_pb2.StopTriggerManagerRequest, context: Ctx
    ) -> trigger_manager_pb2.StopTriggerManagerResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange", required=True)
        await self.managers.stop(request.session_id, exchange, request.symbol)
        return trigger_manager_pb2.StopTriggerManagerResponse()

    @unary
    async def SetTrigger(
        self, request: trigger_manager_pb2.SetTriggerRequest, context: Ctx
    ) -> trigger_manager_pb2.SetTriggerResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange", required=True)
        orders = []
        for i, o in enumerate(request.orders):
            try:
                orders.append(convert.send_order(o))
            except ValidationError as e:
                raise ValidationError(f"orders[{i}].{e.field}", e.reason) from None
        self.managers.set_trigger(
            request.id,
            from_double(request.price, "price"),
            request.symbol,
            DIRECTION.get(request.direction),
            exchange,
            orders,
            ownership.visible,
        )
        return trigger_manager_pb2.SetTriggerResponse()

    @unary
    async def ClearTrigger(
        self, request: trigger_manager_pb2.ClearTriggerRequest, context: Ctx
    ) -> trigger_manager_pb2.ClearTriggerResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange", required=True)
        owner = self.managers.trigger_manager(exchange, request.symbol, request.id)
        if owner is not None:
            ownership.check(owner.session_id, f"trigger {request.id!r}")
        self.managers.clear_trigger(exchange, request.symbol, request.id)
        return trigger_manager_pb2.ClearTriggerResponse()

    @unary
    async def ClearTriggers(
        self, request: trigger_manager_pb2.ClearTriggersRequest, context: Ctx
    ) -> trigger_manager_pb2.ClearTriggersResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange")
        n = self.managers.clear_triggers(exchange, request.symbol, request.clear_all, ownership.visible)
        return trigger_manager_pb2.ClearTriggersResponse(cleared=n)

    @unary
    async def ListTriggers(
        self, request: trigger_manager_pb2.ListTriggersRequest, context: Ctx
    ) -> trigger_manager_pb2.ListTriggersResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange")
        return trigger_manager_pb2.ListTriggersResponse(
            triggers=[
                trigger_info(t)
                for m, t in self.managers.list(exchange, request.symbol)
                if ownership.visible(m.session_id)  # another key's triggers are left out
            ]
        )

    @unary
    async def GetTriggerManager(
        self, request: trigger_manager_pb2.GetTriggerManagerRequest, context: Ctx
    ) -> trigger_manager_pb2.GetTriggerManagerResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange", required=True)
        manager = self.managers.get(request.session_id, exchange, request.symbol)
        return trigger_manager_pb2.GetTriggerManagerResponse(status=status_message(manager.status()))
