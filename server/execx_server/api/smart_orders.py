"""``SmartOrderService`` (seed 003): TWAP and VWAP smart orders — add, cancel, update, list, and the feed.

Validation before anything is sent (INVALID_ARGUMENT naming the field): ``sessionId``, ``Algorithm``,
``Exchanges`` (must list the session's exchange; each other one needs a live session), ``Parameters``
with ``parameters.side``, ``parameters.symbol`` (known to every listed venue), ``parameters.amount``
(positive, at least the venue's minimum after rounding down to the lot), ``parameters.duration`` /
``parameters.interval`` (``30SEC``, ``5MIN``, ``1HRS``, ``1DAY``; the interval not longer than the
duration), ``parameters.limit_price`` (positive, not on the wrong side of the market),
``parameters.max_behind`` (>= 0), ``parameters.safety_threshold`` (> 0).
A stale feed at the start: FAILED_PRECONDITION. Unknown id: NOT_FOUND; cancel or update of a finished
one: FAILED_PRECONDITION. The account views (GetBalances, GetOpenOrders, GetOpenPositions) are not
built here: they are delegated to the account views servicer (UNIMPLEMENTED without one).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NoReturn

import grpc
from execx.v1 import smart_order_pb2 as so
from execx.v1 import smart_order_pb2_grpc as so_grpc

from ..domain.enums import Exchange, Side
from ..domain.errors import ValidationError
from ..domain.instruments import InstrumentRules
from ..managers.runtime import double, non_negative, positive
from ..managers.smart import FINAL, Child, FeedEvent, Fill, Params, SmartOrder, SmartOrders, Subscriber
from ..managers.smart_plan import Algorithm, SmartConfig, check_spans, lot_floor, parse_span
from . import convert, ownership
from .servicers import DOMAIN_ERRORS, Ctx, _status, unary

ALGORITHM = convert.EnumMap(so.SmartOrderAlgorithm.DESCRIPTOR, Algorithm)
STATUS = {
    "Running": so.SMART_ORDER_STATUS_RUNNING,
    "Completed": so.SMART_ORDER_STATUS_COMPLETED,
    "Cancelled": so.SMART_ORDER_STATUS_CANCELLED,
    "Failed": so.SMART_ORDER_STATUS_FAILED,
}
EVENT = {
    "StatusChange": so.SMART_ORDER_EVENT_TYPE_STATUS_CHANGE,
    "TradeRequest": so.SMART_ORDER_EVENT_TYPE_TRADE_REQUEST,
    "TradeFill": so.SMART_ORDER_EVENT_TYPE_TRADE_FILL,
}

COMMAND = {
    so.SMART_ORDER_COMMAND_TYPE_NEW: "New",
    so.SMART_ORDER_COMMAND_TYPE_CANCEL: "Cancel",
    so.SMART_ORDER_COMMAND_TYPE_PARAM_CHANGE: "ParamChange",
    so.SMART_ORDER_COMMAND_TYPE_SUBSCRIBE: "Subscribe",
}
ANSWERS_MAX = 100  # answers to a channel's commands not yet sent: the channel stops reading commands


def rfc3339(ns: int) -> str:
    """``2024-07-24T09:41:45.7727049Z`` (seed 003: seven fractional digits)."""
    s, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest // 100:07d}Z"


def seed_time(ns: int) -> str:
    """``07/24/2024 09:41:40`` (seed 003's statusHistory, UTC)."""
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%m/%d/%Y %H:%M:%S")


def symbol_id(exchange: Exchange, symbol: str) -> str:
    return f"{exchange.value.upper()}_{symbol}"


def params_of(p: so.SmartOrderParameters) -> tuple[Params, int, int]:
    side = convert.SIDE.domain(p.side, "parameters.side", required=True)
    if not p.symbol:
        raise ValidationError("parameters.symbol", "is required")
    amount = positive(double(p.amount, "parameters.amount"), "parameters.amount")
    duration_s = parse_span(p.duration, "parameters.duration")
    interval_s = parse_span(p.interval, "parameters.interval")
    check_spans(duration_s, interval_s, "parameters")
    limit = (
        positive(double(p.limit_price, "parameters.limit_price"), "parameters.limit_price")
        if p.HasField("limit_price")
        else None
    )
    behind = (
        non_negative(double(p.max_behind, "parameters.max_behind"), "parameters.max_behind")
        if p.HasField("max_behind")
        else None
    )
    safety = (
        positive(double(p.safety_threshold, "parameters.safety_threshold"), "parameters.safety_threshold")
        if p.HasField("safety_threshold")
        else None
    )
    params = Params(side, p.symbol, p.symbol_type, amount, p.duration, p.interval, limit, p.maker, behind, safety)
    return params, duration_s, interval_s


def params_message(p: Params) -> so.SmartOrderParameters:
    m = so.SmartOrderParameters(
        side=convert.SIDE.proto(p.side),
        symbol=p.symbol,
        symbol_type=p.symbol_type,
        amount=float(p.amount),
        duration=p.duration,
        interval=p.interval,
        maker=p.maker,
    )
    if p.limit_price is not None:
        m.limit_price = float(p.limit_price)
    if p.max_behind is not None:
        m.max_behind = float(p.max_behind)
    if p.safety_threshold is not None:
        m.safety_threshold = float(p.safety_threshold)
    return m


def fill_message(f: Fill, exchange: Exchange) -> so.SmartOrderFill:
    return so.SmartOrderFill(
        exchange=convert.EXCHANGE.proto(exchange),
        amount_filled=float(f.qty),
        price=float(f.price),
        time_stamp=rfc3339(f.time_ns),
        order_id=f.order_id,
        maker=f.maker,
        fee=float(f.fee),
        fee_asset=f.fee_asset,
    )


def venue(exchange: str, o: SmartOrder) -> Exchange:
    """A child's or fill's venue ("" in rows from before several venues: the order's exchange)."""
    return Exchange(exchange) if exchange else o.exchange


def trade_fill(f: Fill, o: SmartOrder) -> so.SmartOrderTradeFill:
    ex = venue(f.exchange, o)
    return so.SmartOrderTradeFill(
        order_id=f.order_id,
        exchange=ex.value.upper(),
        symbol_id=symbol_id(ex, o.symbol),
        amount_filled=float(f.qty),
        price=float(f.price),
        side=convert.SIDE.proto(o.plan.side),
        status=f.child_status,
        time_stamp=rfc3339(f.time_ns),
    )


def child_message(c: Child, o: SmartOrder) -> so.SmartOrderChild:
    return so.SmartOrderChild(
        exchange=convert.EXCHANGE.proto(venue(c.exchange, o)),
        order_id=c.order_id,
        slice=c.slice,
        sent_time=rfc3339(c.sent_ns),
        qty=float(c.qty),
        price=float(c.price),
        kind=c.kind,
        filled=float(c.filled),
        status=c.status,
    )


def order_message(o: SmartOrder) -> so.SmartOrder:
    fees, fee_asset = o.fees()
    return so.SmartOrder(
        id=o.id,
        status=STATUS[o.status],
        status_info=o.history.info,
        symbol=o.symbol,
        amount=float(o.params.amount),
        algorithm=ALGORITHM.proto(o.plan.algorithm),
        side=convert.SIDE.proto(o.plan.side),
        duration=o.params.duration,
        interval=o.params.interval,
        exchanges=[convert.EXCHANGE.proto(e) for e in o.exchanges],
        status_history={k: seed_time(v) for k, v in o.history.times.items()},
        parameters_updates={rfc3339(t): params_message(Params.of(p)) for t, p in o.history.updates},
        fills=[fill_message(f, venue(f.exchange, o)) for f in o.fills],
        session_id=o.session_id,
        parameters=params_message(o.params),
        filled=float(o.filled),
        average_price=float(o.average_price()),
        maker_fraction=float(o.maker_fraction()),
        fees=float(fees),
        fee_asset=fee_asset,
        arrival_mid=float(o.arrival_mid),
        start_time=rfc3339(o.created_ns),
        end_time=rfc3339(o.plan.end_ns),
        children=[child_message(c, o) for c in o.children],
        venues=venue_messages(o),
    )


def venue_messages(o: SmartOrder) -> list[so.SmartOrderVenue]:
    """Per venue: its session, whether it is routed to now, its children and fills."""
    out = []
    running = {v.exchange: v for v in o.venues()} if o.rules is not None else {}
    for exchange, sid in o.venue_sessions.items():
        v = running.get(exchange)
        if exchange in o.dropped:
            status = o.dropped[exchange]
        elif v is None:
            status = "waiting for its session" if o.status not in FINAL else o.status.lower()
        elif o.status in FINAL:
            status = o.status.lower()
        else:
            status = "routing" if v.fresh() else f"stale: {v.sub.feed.reason if v.sub is not None else 'no feed'}"
        fills = [f for f in o.fills if venue(f.exchange, o) is exchange]
        qty = sum((f.qty for f in fills), Decimal(0))
        out.append(
            so.SmartOrderVenue(
                exchange=convert.EXCHANGE.proto(exchange),
                session_id=sid,
                status=status,
                children=sum(1 for c in o.children if venue(c.exchange, o) is exchange),
                filled=float(qty),
                average_price=float(sum((f.qty * f.price for f in fills), Decimal(0)) / qty) if qty else 0.0,
            )
        )
    return out


def feed_message(e: FeedEvent) -> so.SubscribeSmartOrdersResponse:
    o = e.order
    msg = so.SubscribeSmartOrdersResponse(type=EVENT[e.kind], composite_id=o.id)
    if e.kind == "StatusChange":
        status, fills = e.payload
        msg.status_change.CopyFrom(
            so.SmartOrderStatusChange(
                id=o.id,
                total_filled=float(sum((f.qty for f in fills), Decimal(0))),
                fills_count=len(fills),
                status=STATUS[status],
                fills=[trade_fill(f, o) for f in fills],
            )
        )
    elif e.kind == "TradeRequest":
        c: Child = e.payload
        ex = venue(c.exchange, o)
        msg.trade_request.CopyFrom(
            so.SmartOrderTradeRequest(
                type="ORDER_NEW_SINGLE_REQUEST",
                exchange_id=ex.value.upper(),
                client_order_id=c.order_id,
                symbol_id_exchange=o.symbol,
                symbol_id_coinapi=symbol_id(ex, o.symbol),
                amount_order=float(c.qty),
                price=float(c.price),
                avg_px=0.0,
                side="BUY" if o.plan.side is Side.BUY else "SELL",
                order_type="LIMIT",
                time_in_force="IMMEDIATE_OR_CANCEL" if c.kind == "ioc" else "GOOD_TILL_CANCEL",
                exec_inst=["MAKER_OR_CANCEL"] if c.kind == "postonly" else [],
            )
        )
    else:
        msg.trade_fill.CopyFrom(trade_fill(e.payload, o))
    return msg


class SmartOrderServicer(so_grpc.SmartOrderServiceServicer):
    """The smart-order RPCs; the account RPCs are delegated to ``accounts`` (another module's servicer)."""

    def __init__(self, smart: SmartOrders, accounts: so_grpc.SmartOrderServiceServicer | None = None) -> None:
        """``accounts``: the servicer of the account RPCs (built elsewhere); None: they are UNIMPLEMENTED."""
        self.smart = smart
        self.accounts = accounts

    async def _unbuilt(self, context: Ctx) -> NoReturn:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not built: see README 'What works today'")

    async def GetBalances(self, request: so.GetBalancesRequest, context: Ctx) -> so.GetBalancesResponse:
        if self.accounts is None:
            await self._unbuilt(context)
        r: so.GetBalancesResponse = await self.accounts.GetBalances(request, context)
        return r

    async def GetOpenOrders(self, request: so.GetOpenOrdersRequest, context: Ctx) -> so.GetOpenOrdersResponse:
        if self.accounts is None:
            await self._unbuilt(context)
        r: so.GetOpenOrdersResponse = await self.accounts.GetOpenOrders(request, context)
        return r

    async def GetOpenPositions(self, request: so.GetOpenPositionsRequest, context: Ctx) -> so.GetOpenPositionsResponse:
        if self.accounts is None:
            await self._unbuilt(context)
        r: so.GetOpenPositionsResponse = await self.accounts.GetOpenPositions(request, context)
        return r

    @unary
    async def AddSmartOrder(self, request: so.AddSmartOrderRequest, context: Ctx) -> so.AddSmartOrderResponse:
        return await self._add(request)

    def _owned(self, order_id: str) -> SmartOrder:
        """The smart order, if the calling key owns its session (else PERMISSION_DENIED; NOT_FOUND first)."""
        o = self.smart.get(order_id)
        ownership.check(o.session_id, f"smart order {order_id!r}")
        return o

    async def _add(self, request: so.AddSmartOrderRequest) -> so.AddSmartOrderResponse:
        """AddSmartOrder and the channel's New: one validation path."""
        algorithm = ALGORITHM.domain(request.algorithm, "Algorithm", required=True)
        exchanges = [convert.EXCHANGE.domain(e, "Exchanges", required=True) for e in request.exchanges]
        if not request.HasField("parameters"):
            raise ValidationError("Parameters", "is required")
        params, duration_s, interval_s = params_of(request.parameters)
        now = time.time_ns()

        def plan_of(rules: InstrumentRules) -> SmartConfig:
            return SmartConfig(
                algorithm,
                params.side,
                params.symbol,
                lot_floor(params.amount, rules.lot),
                now,
                duration_s,
                interval_s,
                params.limit_price,
                params.maker,
                params.max_behind if params.max_behind is not None else Decimal(0),
                params.safety_threshold,
                params.symbol_type,
            )

        o = await self.smart.add(
            request.session_id, algorithm, exchanges, params, plan_of, request.id, sessions=ownership.visible
        )
        return so.AddSmartOrderResponse(
            type="New",
            id=o.id,
            exchanges=list(request.exchanges),
            algorithm=request.algorithm,
            parameters=request.parameters,
        )

    @unary
    async def CancelSmartOrder(self, request: so.CancelSmartOrderRequest, context: Ctx) -> so.CancelSmartOrderResponse:
        self._owned(request.id)
        await self.smart.cancel(request.id)
        return so.CancelSmartOrderResponse()

    @unary
    async def UpdateSmartOrder(self, request: so.UpdateSmartOrderRequest, context: Ctx) -> so.UpdateSmartOrderResponse:
        self._update(request)
        return so.UpdateSmartOrderResponse()

    def _update(self, request: so.UpdateSmartOrderRequest) -> None:
        """UpdateSmartOrder and the channel's ParamChange: one validation path."""
        if not request.HasField("parameters"):
            raise ValidationError("Parameters", "is required")
        p = request.parameters
        amount = positive(double(p.amount, "parameters.amount"), "parameters.amount") if p.HasField("amount") else None
        duration_s = parse_span(p.duration, "parameters.duration") if p.HasField("duration") else None
        interval_s = parse_span(p.interval, "parameters.interval") if p.HasField("interval") else None
        limit, clear = None, False
        if p.HasField("limit_price"):
            if p.limit_price == 0:
                clear = True
            else:
                limit = positive(double(p.limit_price, "parameters.limit_price"), "parameters.limit_price")
        self._owned(request.id)
        o = self.smart.running(request.id)
        o.update(
            amount,
            p.duration if duration_s is not None else None,
            duration_s,
            p.interval if interval_s is not None else None,
            interval_s,
            limit,
            clear,
        )

    @unary
    async def ListSmartOrders(self, request: so.ListSmartOrdersRequest, context: Ctx) -> so.ListSmartOrdersResponse:
        return so.ListSmartOrdersResponse(requests=[order_message(o) for o in self.smart.list()])

    async def SubscribeSmartOrders(
        self, request: so.SubscribeSmartOrdersRequest, context: Ctx
    ) -> AsyncIterator[so.SubscribeSmartOrdersResponse]:
        try:
            if request.id:
                self._owned(request.id)
        except DOMAIN_ERRORS as e:
            code, msg = _status(e)
            await context.abort(code, msg)
        sub = self.smart.subscribe(request.id, ownership.visibility())  # another key's orders left out
        self.smart.metrics.subscribers.labels("smartorders").inc()
        try:
            if request.id:
                o = self.smart.get(request.id)
                if o.status in FINAL:  # nothing more will come: its last status, then the end
                    yield feed_message(o.status_event())
                    return
            while (event := await sub.queue.get()) is not None:
                yield feed_message(event)
            if sub.overflowed:
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, "subscriber fell too far behind; subscribe again"
                )
        finally:
            self.smart.unsubscribe(sub)
            self.smart.metrics.subscribers.labels("smartorders").dec()

    # ------------------------------------------------------------------ the two-way channel

    async def SmartOrderChannel(
        self, request_iterator: AsyncIterator[so.SmartOrderCommand], context: Ctx
    ) -> AsyncIterator[so.SubscribeSmartOrdersResponse]:
        """The feed of every smart order (or the one a Subscribe names) and the answers to the commands
        read from the same stream, as they come. A refused command is an Error message: the stream
        stays open. A subscriber ``QUEUE_MAX`` behind ends with RESOURCE_EXHAUSTED, as the feed does."""
        sub = self.smart.subscribe("", ownership.visibility())  # another key's orders left out
        self.smart.metrics.subscribers.labels("smartorders").inc()
        answers: asyncio.Queue[so.SubscribeSmartOrdersResponse] = asyncio.Queue(ANSWERS_MAX)

        async def read() -> None:
            async for cmd in request_iterator:
                for answer in await self._command(cmd, sub):
                    await answers.put(answer)  # waits while the caller does not read: back-pressure

        reader = asyncio.ensure_future(read())
        feed: asyncio.Future[FeedEvent | None] = asyncio.ensure_future(sub.queue.get())
        answer: asyncio.Future[so.SubscribeSmartOrdersResponse] = asyncio.ensure_future(answers.get())
        try:
            while True:
                waiting: set[asyncio.Future[Any]] = {feed, answer}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if answer in done:
                    yield answer.result()
                    answer = asyncio.ensure_future(answers.get())
                if feed in done:
                    event = feed.result()
                    if event is None:
                        break
                    yield feed_message(event)
                    feed = asyncio.ensure_future(sub.queue.get())
            if sub.overflowed:
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, "subscriber fell too far behind; subscribe again"
                )
        finally:
            for task in (reader, feed, answer):
                task.cancel()
            self.smart.unsubscribe(sub)
            self.smart.metrics.subscribers.labels("smartorders").dec()

    async def _command(self, cmd: so.SmartOrderCommand, sub: Subscriber) -> list[so.SubscribeSmartOrdersResponse]:
        """Runs one channel command through the unary RPCs' code; the messages that answer it."""
        try:
            if cmd.type == so.SMART_ORDER_COMMAND_TYPE_NEW:
                add = so.AddSmartOrderRequest(
                    algorithm=cmd.algorithm, exchanges=cmd.exchanges, session_id=cmd.session_id, id=cmd.id
                )
                if cmd.HasField("parameters"):
                    add.parameters.CopyFrom(cmd.parameters)
                r = await self._add(add)
                return [
                    so.SubscribeSmartOrdersResponse(type=so.SMART_ORDER_EVENT_TYPE_NEW, composite_id=r.id, new_order=r)
                ]
            if cmd.type == so.SMART_ORDER_COMMAND_TYPE_CANCEL:
                self._owned(cmd.id)
                await self.smart.cancel(cmd.id)  # its StatusChange (Cancelled) follows on the feed
                return []
            if cmd.type == so.SMART_ORDER_COMMAND_TYPE_PARAM_CHANGE:
                self._owned(cmd.id)
                self._update(self._change(cmd))  # its StatusChange follows on the feed
                return []
            if cmd.type == so.SMART_ORDER_COMMAND_TYPE_SUBSCRIBE or cmd.id:
                o = self._owned(cmd.id) if cmd.id else None
                sub.order_id = cmd.id
                if o is not None and o.status in FINAL:  # nothing more will come: its last status
                    return [feed_message(o.status_event())]
                return []
            raise ValidationError("Type", "is required: New, Cancel, ParamChange or Subscribe")
        except DOMAIN_ERRORS as e:
            code, message = _status(e)
            return [
                so.SubscribeSmartOrdersResponse(
                    type=so.SMART_ORDER_EVENT_TYPE_ERROR,
                    composite_id=cmd.id,
                    error=so.SmartOrderCommandError(
                        command=COMMAND.get(cmd.type, ""),
                        code=code.value[0],
                        status=code.name,
                        message=message,
                        field=e.field if isinstance(e, ValidationError) else "",
                    ),
                )
            ]

    def _change(self, cmd: so.SmartOrderCommand) -> so.UpdateSmartOrderRequest:
        """A ParamChange as UpdateSmartOrder's request: amount (when not 0), duration and interval (when
        not empty), limit_price (when given); side and symbol cannot change."""
        req = so.UpdateSmartOrderRequest(id=cmd.id)
        if not cmd.HasField("parameters"):
            return req  # UpdateSmartOrder's check names Parameters
        p, change = cmd.parameters, req.parameters
        o = self.smart.get(cmd.id)
        if p.side and convert.SIDE.domain(p.side, "parameters.side") is not o.params.side:
            raise ValidationError("parameters.side", "cannot be changed")
        if p.symbol and p.symbol != o.params.symbol:
            raise ValidationError("parameters.symbol", "cannot be changed")
        if p.amount:
            change.amount = p.amount
        if p.duration:
            change.duration = p.duration
        if p.interval:
            change.interval = p.interval
        if p.HasField("limit_price"):
            change.limit_price = p.limit_price
        return req
