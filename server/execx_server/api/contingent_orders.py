"""Contingent orders on the API (issue 20): ``sendOrder``'s trigger fields and ``ContingentOrderService``.

``Hook`` is what ``OrderManager._send`` asks first: a request it ``claims`` (an insert with
``triggerKind``, an update or delete of an armed contingent order, a pull of a symbol with armed ones)
is run by ``managers/contingent.py``; everything else goes the plain order path untouched. The
behaviour is in managers/contingent.py and docs/contingent_orders.md.
"""

from __future__ import annotations

from execx.v1 import common_pb2, contingent_order_pb2, contingent_order_pb2_grpc, order_manager_pb2

from ..domain.enums import TransactionType
from ..domain.errors import AlreadyExists, ValidationError
from ..domain.numbers import from_double
from ..engine.updates import OrderUpdate
from ..managers.contingent import ARMED, ContingentOrders, Group
from . import convert
from .contingent_convert import GROUP_TYPE, amended_spec, event, spec_of
from .servicers import Ctx, unary


class Hook:
    """``sendOrder`` / ``OrderEntry`` / ``BatchSendOrders`` requests about contingent orders."""

    def __init__(self, orders: ContingentOrders) -> None:
        self.orders = orders

    def claims(self, r: order_manager_pb2.SendOrderRequest) -> bool:
        if r.trigger_kind:
            return True
        if r.transaction_type == common_pb2.TRANSACTION_TYPE_PULL:
            return any(
                sid == r.session_id and c.order.symbol == r.symbol and c.status is ARMED
                for (sid, _), c in self.orders.orders.items()
            )
        c = self.orders.get(r.session_id, r.cl_order_id)
        if c is None:
            return False
        if r.transaction_type == common_pb2.TRANSACTION_TYPE_UPDATE and self.orders.native_group_of(c) is not None:
            return True  # a native group's leg: amended only where its venue amends them (``handle``)
        return c.status is ARMED or (
            r.transaction_type == common_pb2.TRANSACTION_TYPE_DELETE and self.orders.cancels_group(c)
        )

    def group_of(self, session_id: str, trigger_id: str) -> str:
        return self.orders.group_of(session_id, trigger_id)

    async def stop_session(self, session_id: str) -> None:
        await self.orders.stop_session(session_id)

    async def cancel_all(self, session_id: str, symbol: str) -> list[str]:
        return await self.orders.cancel_symbol(session_id, symbol, "cancel all")

    async def handle(self, r: order_manager_pb2.SendOrderRequest) -> OrderUpdate:
        req = convert.send_order(r)
        tx = req.transaction_type
        if tx is TransactionType.PULL:
            await self.orders.cancel_symbol(r.session_id, r.symbol)
            return await self.orders.engine.send(req)
        c = self.orders.get(r.session_id, r.cl_order_id)
        if tx is TransactionType.INSERT:
            spec = spec_of(r)
            if spec is None:
                raise AlreadyExists(f"clOrderId: {r.cl_order_id!r} is an armed contingent order")
            return await self.orders.submit(req, spec, emulate=r.emulate)
        if c is not None and tx is TransactionType.DELETE and self.orders.cancels_group(c):
            return await self.orders.cancel_by_leg(c)
        if c is not None and tx is TransactionType.UPDATE and c.status is not ARMED and self.orders.native_group_of(c):
            self.orders.check_leg_amend(c, req.price, req.qty)  # as its venue amends it: the plain amend
            if r.trigger_kind:
                raise ValidationError(
                    "triggerKind", "is set only on an insert or an update of an armed contingent order"
                )
            return await self.orders.engine.send(req)
        if c is None or c.status is not ARMED:
            raise ValidationError("triggerKind", "is set only on an insert or an update of an armed contingent order")
        if tx is TransactionType.UPDATE:
            return await self.orders.amend(c, req.price, req.qty, amended_spec(r, c.spec))
        if tx is TransactionType.DELETE:
            return await self.orders.cancel(c)
        raise ValidationError("transactionType", "is required: insert, update, delete or pull")


class ContingentOrderServicer(contingent_order_pb2_grpc.ContingentOrderServiceServicer):
    def __init__(self, orders: ContingentOrders) -> None:
        self.orders = orders

    def group_message(self, g: Group) -> contingent_order_pb2.OrderGroup:
        legs = []
        for cl in g.legs:
            tx = convert.transaction(self.orders.leg_update(self.orders.orders[(g.session_id, cl)]))
            tx.group_id = g.group_id
            legs.append(tx)
        return contingent_order_pb2.OrderGroup(
            group_id=g.group_id,
            session_id=g.session_id,
            group_type=GROUP_TYPE.proto(g.type),
            done=self.orders.done(g),
            legs=legs,
        )

    @unary
    async def SendOrderGroup(
        self, request: contingent_order_pb2.SendOrderGroupRequest, context: Ctx
    ) -> contingent_order_pb2.SendOrderGroupResponse:
        if not request.session_id:
            raise ValidationError("sessionId", "is required")
        gtype = GROUP_TYPE.domain(request.group_type, "groupType", required=True)
        legs = []
        for i, o in enumerate(request.orders):
            try:
                req = convert.send_order(o)
            except ValidationError as e:
                raise ValidationError(f"orders[{i}].{e.field}", e.reason) from None
            legs.append((req, spec_of(o, f"orders[{i}].")))
        # native where the venue holds this group (docs/contingent_orders.md); a leg's emulate emulates the group
        emulate = any(o.emulate for o in request.orders)
        g = await self.orders.submit_group(request.session_id, request.group_id, gtype, legs, emulate=emulate)
        return contingent_order_pb2.SendOrderGroupResponse(group=self.group_message(g))

    @unary
    async def AmendOrderGroup(
        self, request: contingent_order_pb2.AmendOrderGroupRequest, context: Ctx
    ) -> contingent_order_pb2.AmendOrderGroupResponse:
        g = self.orders.group(request.session_id, request.group_id)
        if not request.orders:
            raise ValidationError("orders", "name at least one leg to amend")
        amends = []
        for i, o in enumerate(request.orders):
            c = self.orders.get(g.session_id, o.cl_order_id)
            if c is None:
                raise ValidationError(f"orders[{i}].clOrderId", f"{o.cl_order_id!r} is not a leg of this group")
            price = from_double(o.price, f"orders[{i}].price") if o.HasField("price") else None
            qty = from_double(o.qty, f"orders[{i}].qty") if o.HasField("qty") else None
            amends.append((o.cl_order_id, price, qty, amended_spec(o, c.spec) if c.status is ARMED else None))
        await self.orders.amend_group(g.session_id, g.group_id, amends)
        return contingent_order_pb2.AmendOrderGroupResponse(group=self.group_message(g))

    @unary
    async def CancelOrderGroup(
        self, request: contingent_order_pb2.CancelOrderGroupRequest, context: Ctx
    ) -> contingent_order_pb2.CancelOrderGroupResponse:
        g = await self.orders.cancel_group(request.session_id, request.group_id)
        return contingent_order_pb2.CancelOrderGroupResponse(group=self.group_message(g))

    @unary
    async def ListContingentOrders(
        self, request: contingent_order_pb2.ListContingentOrdersRequest, context: Ctx
    ) -> contingent_order_pb2.ListContingentOrdersResponse:
        if not request.session_id:
            raise ValidationError("sessionId", "is required")
        rows = self.orders.listed(request.session_id, request.symbol, request.include_finished)
        return contingent_order_pb2.ListContingentOrdersResponse(orders=[event(d, 0) for d in rows])

    @unary
    async def GetOrderGroup(
        self, request: contingent_order_pb2.GetOrderGroupRequest, context: Ctx
    ) -> contingent_order_pb2.GetOrderGroupResponse:
        g = self.orders.group(request.session_id, request.group_id)
        return contingent_order_pb2.GetOrderGroupResponse(group=self.group_message(g))
