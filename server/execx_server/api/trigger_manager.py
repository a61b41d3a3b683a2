"""``TriggerManagerService`` (seed 000): start / stop trigger managers, set, clear and list triggers.

Validation before anything is armed (INVALID_ARGUMENT naming the field): symbol, exchange, sessionId
(start/stop), id, a positive price, direction and at least one order (setTrigger), every order checked
as ``sendOrder`` checks an insert (``orders[i].<field>``). Unknown manager or trigger: NOT_FOUND; a
second manager on the same (session, exchange, symbol), an armed trigger id set again or a clOrderId
already used: ALREADY_EXISTS. The behaviour is in ``managers/trigger.py`` and docs/algorithms.md.
"""

from __future__ import annotations

from execx.v1 import order_manager_pb2, trigger_manager_pb2, trigger_manager_pb2_grpc

from ..domain.errors import ValidationError
from ..domain.numbers import from_double
from ..engine.sessions import SendOrder
from ..managers.trigger import Trigger, TriggerManagers
from ..managers.trigger_plan import Direction
from . import convert
from .servicers import Ctx, unary

DIRECTION = {
    trigger_manager_pb2.TRIGGER_DIRECTION_UP: Direction.UP,
    trigger_manager_pb2.TRIGGER_DIRECTION_DOWN: Direction.DOWN,
}
DIRECTION_PROTO = {d: n for n, d in DIRECTION.items()}


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
        )
        return trigger_manager_pb2.SetTriggerResponse()

    @unary
    async def ClearTrigger(
        self, request: trigger_manager_pb2.ClearTriggerRequest, context: Ctx
    ) -> trigger_manager_pb2.ClearTriggerResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange", required=True)
        self.managers.clear_trigger(exchange, request.symbol, request.id)
        return trigger_manager_pb2.ClearTriggerResponse()

    @unary
    async def ClearTriggers(
        self, request: trigger_manager_pb2.ClearTriggersRequest, context: Ctx
    ) -> trigger_manager_pb2.ClearTriggersResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange")
        n = self.managers.clear_triggers(exchange, request.symbol, request.clear_all)
        return trigger_manager_pb2.ClearTriggersResponse(cleared=n)

    @unary
    async def ListTriggers(
        self, request: trigger_manager_pb2.ListTriggersRequest, context: Ctx
    ) -> trigger_manager_pb2.ListTriggersResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange")
        return trigger_manager_pb2.ListTriggersResponse(
            triggers=[trigger_info(t) for _, t in self.managers.list(exchange, request.symbol)]
        )
