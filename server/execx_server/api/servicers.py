"""gRPC servicers. ``OrderManagerService`` is backed by the order engine; the other services keep
the generated base classes, whose every RPC answers UNIMPLEMENTED until their issues land.

Domain errors become gRPC status codes in one place (``_status``): ValidationError →
INVALID_ARGUMENT (message names the field), NotFound → NOT_FOUND, AlreadyExists → ALREADY_EXISTS,
FailedPrecondition → FAILED_PRECONDITION, a venue refusing a session's keys → FAILED_PRECONDITION,
a venue out of reach → UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import grpc
from execx.v1 import common_pb2, order_manager_pb2, order_manager_pb2_grpc
from google.rpc import code_pb2, status_pb2

from ..connectors.base import ConnectorConfig, Secret
from ..domain.enums import OrderStatus, TransactionType
from ..domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unavailable,
    ValidationError,
)
from ..domain.venue import OutcomeUnknown, Rejected, Retryable, VenueError
from ..engine import risk
from ..engine.bus import SlowConsumer
from ..engine.credentials import CredentialStore, SessionAccounts
from ..engine.disconnect import DEFAULT_GRACE_MS, MAX_GRACE_MS
from ..engine.journal import Record
from ..engine.sessions import STOPPED, OrderEngine, SendOrder
from ..engine.updates import ALGORITHM, ORDER, POSITION, OrderUpdate, PositionUpdate
from ..observability import logging as xlog
from ..observability import tracing
from ..observability.metrics import Children, Metrics
from . import contingent_convert, convert
from .access import MAX_BATCH  # SubscribeUpdates' maxBatch is capped there too
from .audit import list_audit_records
from .endpoints import check_endpoints
from .inprocess import InProcessContext

log = logging.getLogger("execx.api")

T = TypeVar("T")

if TYPE_CHECKING:
    Ctx = grpc.aio.ServicerContext[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
else:
    Ctx = grpc.aio.ServicerContext
    Handler = grpc.RpcMethodHandler


def _status(e: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(e, ValidationError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(e)
    if isinstance(e, NotFound):
        return grpc.StatusCode.NOT_FOUND, str(e)
    if isinstance(e, AlreadyExists):
        return grpc.StatusCode.ALREADY_EXISTS, str(e)
    if isinstance(e, FailedPrecondition):
        return grpc.StatusCode.FAILED_PRECONDITION, str(e)
    if isinstance(e, PermissionDenied):
        return grpc.StatusCode.PERMISSION_DENIED, str(e)
    if isinstance(e, Rejected):
        return grpc.StatusCode.FAILED_PRECONDITION, f"venue refused: {e.message}"
    if isinstance(e, (Retryable, OutcomeUnknown)):
        return grpc.StatusCode.UNAVAILABLE, f"venue unavailable: {e.message}"
    if isinstance(e, SlowConsumer):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(e)
    if isinstance(e, Unavailable):
        return grpc.StatusCode.UNAVAILABLE, str(e)
    return grpc.StatusCode.INTERNAL, "internal error"


# the key of a SubscribeUpdatesResponse.batch entry on the wire (its field number, length-delimited)
_BATCH_KEY = order_manager_pb2.SubscribeUpdatesResponse.DESCRIPTOR.fields_by_name["batch"].number << 3 | 2


def _batch_head(length: int) -> bytes:
    """What precedes one serialized SubscribeUpdatesResponse of ``length`` bytes as an entry of a message's
    ``batch``: the key, then the length (a varint). Entries (head, bytes) concatenated are a valid
    SubscribeUpdatesResponse (a repeated message field on the wire is its entries one after another), byte
    for byte what serializing the message with those entries gives."""
    head = bytearray((_BATCH_KEY,))
    while length > 0x7F:
        head.append(length & 0x7F | 0x80)
        length >>= 7
    head.append(length)
    return bytes(head)


def encoded_or_serialized(message: Any) -> bytes:
    """SubscribeUpdates' response serializer on the gRPC server: what the servicer serialized already (one
    update's bytes, shared by every subscriber, or a batch assembled from them) goes out as it is; a message
    is serialized as the generated code would."""
    return message if type(message) is bytes else cast(bytes, message.SerializeToString())


class _PassEncoded:
    """A registration target for the generated ``add_OrderManagerServiceServicer_to_server``: forwards the
    registration to ``server`` with SubscribeUpdates' response serializer replaced by
    ``encoded_or_serialized`` (the generated generic handler is dropped for one made of the same handlers)."""

    def __init__(self, server: Any) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Any) -> None:
        return None  # add_registered_method_handlers registers its own, of the replaced handlers

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict[str, Any]) -> None:
        handlers = dict(method_handlers)
        h = handlers["SubscribeUpdates"]
        handlers["SubscribeUpdates"] = grpc.unary_stream_rpc_method_handler(
            h.unary_stream, h.request_deserializer, encoded_or_serialized
        )
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service_name, handlers),))
        self._server.add_registered_method_handlers(service_name, handlers)


def add_order_manager(servicer: order_manager_pb2_grpc.OrderManagerServiceServicer, server: Any) -> None:
    """Registers ``servicer`` on ``server`` (a gRPC server, an ``InProcessServer``) as the generated function
    does, SubscribeUpdates sending the bytes it serialized once for all subscribers as they are."""
    order_manager_pb2_grpc.add_OrderManagerServiceServicer_to_server(servicer, _PassEncoded(server))


DOMAIN_ERRORS = (
    ValidationError,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    PermissionDenied,
    VenueError,
    Unavailable,
)

# An answer is due before the caller's deadline: a tenth of the time left, at least this, is kept for the
# answer's way back (a fixed 50 ms was missed by a loaded machine).
DEADLINE_MARGIN_S = 0.05


def answer_within(context: Ctx) -> float | None:
    """How long an order call may wait for the venue: until just before the caller's deadline (None: no
    deadline). Past it the call answers with the order's pending state; the outcome follows on the
    session's updates."""
    remaining = context.time_remaining()
    if remaining is None:
        return None
    return max(0.0, remaining - max(DEADLINE_MARGIN_S, remaining / 10))


def unary(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Map domain errors of a unary handler to gRPC status codes."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: Ctx) -> T:
        try:
            return await fn(self, request, context)
        except DOMAIN_ERRORS as e:
            code, msg = _status(e)
            await context.abort(code, msg)
        raise AssertionError("unreachable")

    return wrapper


class ContingentHook(Protocol):
    """Contingent orders' part of the order path (api/contingent_orders.py ``Hook``, issue 20)."""

    def claims(self, request: order_manager_pb2.SendOrderRequest) -> bool: ...

    async def handle(self, request: order_manager_pb2.SendOrderRequest) -> OrderUpdate: ...

    def group_of(self, session_id: str, trigger_id: str) -> str: ...

    async def stop_session(self, session_id: str) -> None: ...

    async def cancel_all(self, session_id: str, symbol: str) -> list[str]: ...


CONTINGENT = "contingent"  # bus / journal kind of contingent orders' events (managers/contingent.py)


class OrderManager(order_manager_pb2_grpc.OrderManagerServiceServicer):
    def __init__(
        self, engine: OrderEngine, metrics: Metrics, endpoint_defaults: Callable[[ConnectorConfig], ConnectorConfig]
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.endpoint_defaults = endpoint_defaults
        # the credential store (exchangeKey.accountRef), set by the service; inline keys allowed unless
        # --noInlineCredentials; which session uses which stored account (re-opened at start-up)
        self.credentials: CredentialStore | None = None
        self.inline_credentials = True
        self.session_accounts: SessionAccounts | None = None
        self.contingent: ContingentHook | None = None  # set by the composition root
        # the order path's metric children, each looked up once (Children)
        self._updates_total = Children(metrics.updates)
        self._rejects = Children(metrics.rejects)
        self._orders_sent = Children(metrics.orders_sent)
        self._ack_latency = Children(metrics.ack_latency)
        # each update's stream message, built once for all the session's subscribers (fan-out): keyed by the
        # event object's id and seq, holding the event so the id stays its own; the last 1024 kept
        self._update_messages: dict[tuple[int, int], tuple[OrderUpdate, order_manager_pb2.SubscribeUpdatesResponse]]
        self._update_messages = {}
        # each streamed record's batch entry head and serialized message, for the gRPC subscribers:
        # serialized once, whatever the number of subscribers; keyed by the record's id, holding the record
        self._encoded: dict[int, tuple[Record, bytes, bytes]] = {}
        # each update's OrderTransaction (without seq), shared by the stream message and the answer that
        # returns the same update (the engine answers with the update it published): converted once
        self._transactions: dict[int, tuple[OrderUpdate, common_pb2.OrderTransaction]] = {}
        engine.observers.append(self._observe)
        engine.risk.refusal_observers.append(
            lambda exchange, limit: metrics.risk_refusals.labels(exchange, limit).inc()
        )
        engine.risk.cancel_observers.append(lambda exchange, n: metrics.kill_switch_cancels.labels(exchange).inc(n))
        engine.disconnect.fired_observers.append(self._observe_cancel_on_disconnect)
        self._observe_kill_switches()

    def _observe_cancel_on_disconnect(self, exchange: str, cancels: int) -> None:
        self.metrics.cancel_on_disconnect_fired.labels(exchange).inc()
        self.metrics.cancel_on_disconnect_cancels.labels(exchange).inc(cancels)

    def _observe(self, u: OrderUpdate) -> None:
        exchange = u.exchange._value_  # every update: ``.value`` without the enum property's __get__
        self._updates_total(exchange, u.order_status._value_).inc()
        if u.order_status is OrderStatus.REJECTED:
            self._rejects(exchange, "venue").inc()

    def _exchange_credentials(self, key: common_pb2.ExchangeKey) -> tuple[str, Secret, Secret]:
        """The session's exchange keys: the credential store's account ``accountRef``, or the inline
        ``apiKey`` / ``secretKey`` / ``passphrase`` (refused with ``--noInlineCredentials``)."""
        if key.HasField("account_ref"):
            if key.api_key or key.secret_key or key.passphrase:
                raise ValidationError("exchangeKey", "give accountRef or apiKey/secretKey/passphrase, not both")
            account = self.credentials.get(key.account_ref) if self.credentials is not None else None
            if account is None:
                raise FailedPrecondition(f"exchangeKey.accountRef {key.account_ref!r} is not in the credential store")
            return account.api_key, account.secret_key, account.passphrase
        if not self.inline_credentials:
            raise FailedPrecondition(
                "inline exchange keys are disabled (--noInlineCredentials): "
                "name a stored account in exchangeKey.accountRef"
            )
        if not key.api_key:
            raise ValidationError("exchangeKey.apiKey", "is required")
        if not key.secret_key:
            raise ValidationError("exchangeKey.secretKey", "is required")
        for secret in (key.secret_key, key.passphrase):
            xlog.redact(secret)
        for name, value in (("apiKey", key.api_key), ("secretKey", key.secret_key), ("passphrase", key.passphrase)):
            # venues carry keys in HTTP headers: a control character there is a 500 of the HTTP client
            if any(ch < " " or ch == "\x7f" for ch in value):
                raise ValidationError(f"exchangeKey.{name}", "must not contain control characters")
        return key.api_key, Secret(key.secret_key), Secret(key.passphrase)

    @unary
    async def StartOrderHandler(
        self, request: order_manager_pb2.StartOrderHandlerRequest, context: Ctx
    ) -> order_manager_pb2.StartOrderHandlerResponse:
        key = request.exchange_key
        exchange = convert.EXCHANGE.domain(key.exchange, "exchangeKey.exchange", required=True)
        api_key, secret_key, passphrase = self._exchange_credentials(key)
        check_endpoints(exchange, request.rest_url, request.ws_url)
        if request.cancel_on_disconnect_grace_ms > MAX_GRACE_MS:
            raise ValidationError("cancelOnDisconnectGraceMs", f"must be at most {MAX_GRACE_MS} (an hour)")
        before = self.engine.sessions.get(request.session_id)
        cod, grace_ms = request.cancel_on_disconnect, request.cancel_on_disconnect_grace_ms
        journaled = self.engine.disconnect.grace_ms(request.session_id)
        if not cod and journaled is not None and before is not None and before.connector is None:
            cod, grace_ms = True, journaled  # resumed after a restart: guarded as journaled (docs/safety.md)
        cfg = self.endpoint_defaults(
            ConnectorConfig(
                exchange,
                api_key,
                secret_key,
                passphrase,
                rest_url=request.rest_url,
                ws_url=request.ws_url,
                interface=request.interface,
                use_margin=request.use_margin,
                # the venue's countdown cancel-all, where it has one, kept armed by execx (docs/safety.md)
                dead_man_s=(grace_ms or DEFAULT_GRACE_MS) / 1000 if cod else 0.0,
            )
        )
        if request.session_id == risk.ALL:
            raise ValidationError(
                "sessionId", f"{risk.ALL!r} is reserved: it names every session (the global kill switch)"
            )
        limits = convert.risk_limits(request.risk_limits) if request.HasField("risk_limits") else None
        reattached = before is not None and before.connector is not None  # live: same keys re-attach
        session = await self.engine.start_session(request.session_id, cfg, request.adopt_prefix)
        self.engine.disconnect.configure(session.session_id, cod, grace_ms)
        if self.session_accounts is not None:  # re-opened by execx at start-up while its account is stored
            self.session_accounts.record(session.session_id, key.account_ref)
        if limits is not None:  # else a new session has none and a resumed one keeps its own
            self.engine.risk.set_limits(session, limits)
        if not reattached:
            self.metrics.sessions.labels(exchange.value).inc()
        log.info(
            "session.reattached" if reattached else "session.started",
            extra={"session": request.session_id, "exchange": exchange.value},
        )
        return order_manager_pb2.StartOrderHandlerResponse(session_id=request.session_id)

    @unary
    async def StopOrderHandler(
        self, request: order_manager_pb2.StopOrderHandlerRequest, context: Ctx
    ) -> order_manager_pb2.StopOrderHandlerResponse:
        session = self.engine.session(request.session_id)
        if self.contingent is not None and session.state != STOPPED:  # nothing fires after the stop
            await self.contingent.stop_session(session.session_id)
        cancelled = 0
        if request.cancel_open_orders and session.connector is not None:
            for symbol in sorted({o.symbol for o in session.orders.values() if not o.status.is_final}):
                before = len(session.open_orders(symbol))
                await self.engine.send(SendOrder(session.session_id, TransactionType.PULL, symbol=symbol))
                cancelled += before - len(session.open_orders(symbol))
        was_live = session.connector is not None
        self.engine.disconnect.configure(request.session_id, False, 0)
        await self.engine.stop_session(request.session_id)
        if was_live:
            self.metrics.sessions.labels(session.exchange.value).dec()
        return order_manager_pb2.StopOrderHandlerResponse(cancelled_orders=cancelled)

    def _observe_kill_switches(self) -> None:
        r = self.engine.risk
        self.metrics.kill_switch_engaged.labels("global").set(1 if r.global_killed else 0)
        self.metrics.kill_switch_engaged.labels("session").set(sum(1 for s in r.sessions.values() if s.killed))
        self.metrics.kill_switch_engaged.labels("account").set(len(r.account_kills))

    @unary
    async def SetRiskLimits(
        self, request: order_manager_pb2.SetRiskLimitsRequest, context: Ctx
    ) -> order_manager_pb2.SetRiskLimitsResponse:
        limits = convert.risk_limits(request.limits, "limits")
        session = self.engine.session(request.session_id)
        self.engine.risk.set_limits(session, limits)
        log.info("risk.limits_set", extra={"session": session.session_id, "limits": limits.to_json()})
        return order_manager_pb2.SetRiskLimitsResponse(limits=convert.risk_limits_proto(limits))

    @unary
    async def GetRiskLimits(
        self, request: order_manager_pb2.GetRiskLimitsRequest, context: Ctx
    ) -> order_manager_pb2.GetRiskLimitsResponse:
        session = self.engine.session(request.session_id)
        r = self.engine.risk
        state = r.state(session.session_id)
        return order_manager_pb2.GetRiskLimitsResponse(
            limits=convert.risk_limits_proto(state.limits),
            kill_switch=state.killed,
            global_kill_switch=r.global_killed,
            reason=r.global_reason if r.global_killed else state.reason,
        )

    @unary
    async def EngageKillSwitch(
        self, request: order_manager_pb2.EngageKillSwitchRequest, context: Ctx
    ) -> order_manager_pb2.EngageKillSwitchResponse:
        scope = "global" if request.session_id == risk.ALL else "session"
        if request.account:
            scope = "account"
            if request.session_id != risk.ALL:
                raise ValidationError("account", f"goes with sessionId {risk.ALL!r} (every session of the account)")
        log.warning(
            "risk.kill_switch_engaged",
            extra={"session": request.session_id, "account": request.account, "reason": request.reason},
        )
        try:
            if request.account:
                cancelled = await risk.engage_account_kill(self.engine, request.account, request.reason)
            else:
                cancelled = await risk.engage_kill_switch(self.engine, request.session_id, request.reason)
        finally:
            self._observe_kill_switches()
        self.metrics.kill_switch_activations.labels(scope).inc()
        return order_manager_pb2.EngageKillSwitchResponse(cl_order_ids=cancelled)

    @unary
    async def ReleaseKillSwitch(
        self, request: order_manager_pb2.ReleaseKillSwitchRequest, context: Ctx
    ) -> order_manager_pb2.ReleaseKillSwitchResponse:
        if request.account:
            if request.session_id != risk.ALL:
                raise ValidationError("account", f"goes with sessionId {risk.ALL!r} (every session of the account)")
            risk.release_account_kill(self.engine, request.account)
        else:
            risk.release_kill_switch(self.engine, request.session_id)
        self._observe_kill_switches()
        log.warning("risk.kill_switch_released", extra={"session": request.session_id, "account": request.account})
        return order_manager_pb2.ReleaseKillSwitchResponse()

    @unary
    async def SetLogLevel(
        self, request: order_manager_pb2.SetLogLevelRequest, context: Ctx
    ) -> order_manager_pb2.SetLogLevelResponse:
        names = convert.json_values(common_pb2.LogLevel.DESCRIPTOR)
        if request.log_level not in names:
            raise ValidationError("logLevel", "is required: debug, info, warn or error")
        xlog.set_level(names[request.log_level])
        return order_manager_pb2.SetLogLevelResponse(log_level=request.log_level)

    async def _send(self, request: order_manager_pb2.SendOrderRequest, wait_s: float | None = None) -> OrderUpdate:
        if self.contingent is not None and self.contingent.claims(request):
            return await self.contingent.handle(request)
        req = convert.send_order(request)
        started = time.perf_counter()
        try:
            update = await self.engine.send(req, wait_s)
        except ValidationError as e:
            self._rejects(self._exchange_of(req.session_id), f"invalid:{e.field}").inc()
            raise
        exchange = update.exchange._value_
        tx = req.transaction_type._value_ if req.transaction_type else ""
        self._orders_sent(exchange, req.order_type._value_ if req.order_type else "", tx).inc()
        self._ack_latency(exchange, tx).observe(time.perf_counter() - started)
        return update

    def _update_message(self, u: OrderUpdate, seq: int) -> order_manager_pb2.SubscribeUpdatesResponse:
        """The stream message of update ``u`` numbered ``seq``: converted once, then the same (immutable
        by convention: nobody changes a message once yielded) for every subscriber of the session."""
        key = (id(u), seq)
        cached = self._update_messages.get(key)
        if cached is not None and cached[0] is u:
            return cached[1]
        msg = order_manager_pb2.SubscribeUpdatesResponse(transaction=self._transaction(u))  # a copy
        msg.transaction.seq = seq
        self._update_messages[key] = (u, msg)
        if len(self._update_messages) > 1024:  # the oldest out (dicts keep insertion order)
            del self._update_messages[next(iter(self._update_messages))]
        return msg

    def _transaction(self, u: OrderUpdate) -> common_pb2.OrderTransaction:
        """``convert.transaction(u)``, once per update (callers copy it into their message, never change it)."""
        cached = self._transactions.get(id(u))
        if cached is not None and cached[0] is u:
            return cached[1]
        tx = convert.transaction(u)
        if u.trigger_id and self.contingent is not None:
            tx.group_id = self.contingent.group_of(u.session_id, u.trigger_id)
        self._transactions[id(u)] = (u, tx)
        if len(self._transactions) > 1024:  # the oldest out
            del self._transactions[next(iter(self._transactions))]
        return tx

    def _answer(self, request: order_manager_pb2.SendOrderRequest, u: OrderUpdate) -> common_pb2.OrderTransaction:
        """``convert.answer``, from the update's shared transaction where the answer is that transaction."""
        if u.transaction_type is TransactionType.PULL and not u.trade_id:
            return convert.answer(request, u)
        return self._transaction(u)

    def _exchange_of(self, session_id: str) -> str:
        session = self.engine.sessions.get(session_id)
        return session.exchange.value if session else "unknown"

    @unary
    async def SendOrder(
        self, request: order_manager_pb2.SendOrderRequest, context: Ctx
    ) -> order_manager_pb2.SendOrderResponse:
        update = await self._send(request, answer_within(context))
        return order_manager_pb2.SendOrderResponse(order=self._answer(request, update))

    async def OrderEntry(
        self, request_iterator: AsyncIterator[order_manager_pb2.OrderEntryRequest], context: Ctx
    ) -> None:
        """Bidirectional order entry: requests are processed concurrently (pipelined); each answer
        carries its request_id and a google.rpc.Status (code 0 = OK). The task that produced an answer
        writes it at once (no hand-off to a writer task: that would put the events queued meanwhile on
        the order path); while another answer is being written it is sent right after, by that writer
        (with the others ready by then, in one message under maxBatch: ``access._CheckedStream``, which
        also takes a message's ``batch`` apart, one request at a time). Every request gets exactly one
        answer; a request that fails, whatever the reason, fails alone and never ends the stream."""

        async def one(req: order_manager_pb2.OrderEntryRequest) -> None:
            tracing.order_attrs(req.order)  # this task's venue spans carry its clOrderId, symbol, session
            try:
                update = await self._send(req.order)
                resp = order_manager_pb2.OrderEntryResponse(
                    request_id=req.request_id,
                    status=status_pb2.Status(code=code_pb2.OK),
                    order=self._answer(req.order, update),
                )
            except Exception as e:  # one answer per request, whatever happened
                if not isinstance(e, DOMAIN_ERRORS):
                    log.exception("order_entry.request_failed", extra={"requestId": req.request_id})
                code, msg = _status(e)
                resp = order_manager_pb2.OrderEntryResponse(
                    request_id=req.request_id, status=status_pb2.Status(code=code.value[0], message=msg)
                )
            await context.write(resp)  # one write at a time: the checked stream's (access._CheckedStream)

        sessions: set[str] = set()  # this stream counts as a connection of each session it sent for
        try:
            async with asyncio.TaskGroup() as tg:
                while (req := await context.read()) is not grpc.aio.EOF:
                    entry = cast(order_manager_pb2.OrderEntryRequest, req)
                    if entry.order.session_id not in sessions and entry.order.session_id in self.engine.sessions:
                        sessions.add(entry.order.session_id)
                        self.engine.disconnect.attach(entry.order.session_id)
                    tg.create_task(one(entry))
        finally:
            for sid in sessions:
                self.engine.disconnect.detach(sid)

    @unary
    async def BatchSendOrders(
        self, request: order_manager_pb2.BatchSendOrdersRequest, context: Ctx
    ) -> order_manager_pb2.BatchSendOrdersResponse:
        wait_s = answer_within(context)
        results = await asyncio.gather(*(self._send(o, wait_s) for o in request.orders), return_exceptions=True)
        out = order_manager_pb2.BatchSendOrdersResponse()
        for o, r in zip(request.orders, results, strict=True):
            if isinstance(r, OrderUpdate):
                out.results.add(status=status_pb2.Status(code=code_pb2.OK), order=convert.answer(o, r))
            else:
                code, msg = _status(r)
                out.results.add(status=status_pb2.Status(code=code.value[0], message=msg))
        return out

    @unary
    async def CancelAllOrders(
        self, request: order_manager_pb2.CancelAllOrdersRequest, context: Ctx
    ) -> order_manager_pb2.CancelAllOrdersResponse:
        session, _ = self.engine.live_session(request.session_id)
        symbols = (
            [request.symbol]
            if request.symbol
            else sorted({o.symbol for o in session.orders.values() if not o.status.is_final})
        )
        targets = [o.cl_order_id for s in symbols for o in session.open_orders(s)]
        if self.contingent is not None:  # the armed contingent orders there are disarmed first (never sent)
            disarmed = await self.contingent.cancel_all(session.session_id, request.symbol)
            targets += [cl for cl in disarmed if cl not in targets]  # a native one is an open order too
        for symbol in symbols:
            await self.engine.send(SendOrder(session.session_id, TransactionType.PULL, symbol=symbol))
        return order_manager_pb2.CancelAllOrdersResponse(cl_order_ids=targets)

    @unary
    async def RefreshOrders(
        self, request: order_manager_pb2.RefreshOrdersRequest, context: Ctx
    ) -> order_manager_pb2.RefreshOrdersResponse:
        ids = [t.cl_order_id for t in request.transactions]
        for i, cl in enumerate(ids):
            if not cl:
                raise ValidationError(f"transactions[{i}].clOrderId", "is required")
        updates = await self.engine.refresh(request.session_id, ids)
        return order_manager_pb2.RefreshOrdersResponse(orders=[convert.transaction(u) for u in updates])

    @unary
    async def GetPosition(
        self, request: order_manager_pb2.GetPositionRequest, context: Ctx
    ) -> order_manager_pb2.GetPositionResponse:
        if not request.symbol:
            raise ValidationError("symbol", "is required")
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange")
        if not request.session_id:  # seed 000: every field optional; the exchange's position across sessions
            if exchange is None:
                raise ValidationError("exchange", "is required without sessionId (the position across sessions)")
            total = sum(
                (s.positions.get(request.symbol) for s in self.engine.sessions.values() if s.exchange is exchange),
                Decimal(0),
            )
            return order_manager_pb2.GetPositionResponse(position=float(total))
        session = self.engine.session(request.session_id)
        if exchange is not None and exchange is not session.exchange:
            raise ValidationError("exchange", f"session {session.session_id!r} trades {session.exchange.value}")
        return order_manager_pb2.GetPositionResponse(
            position=float(self.engine.position(session.session_id, request.symbol))
        )

    @unary
    async def GetOrder(
        self, request: order_manager_pb2.GetOrderRequest, context: Ctx
    ) -> order_manager_pb2.GetOrderResponse:
        order = self.engine.order(request.session_id, request.cl_order_id)
        return order_manager_pb2.GetOrderResponse(
            order=convert.transaction(OrderUpdate.of(order, TransactionType.INSERT, time.time_ns()))
        )

    async def SubscribeUpdates(
        self, request: order_manager_pb2.SubscribeUpdatesRequest, context: Ctx
    ) -> AsyncIterator[order_manager_pb2.SubscribeUpdatesResponse | bytes]:
        try:
            sub = await self.engine.subscribe(
                request.session_id,
                frozenset({ORDER, ALGORITHM, risk.RISK, CONTINGENT})
                if request.algorithm_events
                else frozenset({ORDER, risk.RISK, CONTINGENT}),
                convert.journal_seq(request.from_seq) if request.HasField("from_seq") else None,
            )
        except NotFound as e:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        self.metrics.subscribers.labels("updates").inc()
        self.engine.disconnect.attach(request.session_id)
        batch = min(request.max_batch, MAX_BATCH)
        # over gRPC, each update is serialized once for all subscribers (``_encode``) and its bytes go out
        # as they are (``encoded_or_serialized``); in-process (the gateway's websocket), the shared message
        encode = not isinstance(context, InProcessContext)
        sid = request.session_id
        try:
            async for rec in sub:
                more = sub.ready(batch - 1) if batch > 1 else ()
                if encode:
                    if not more:  # alone: the bytes every subscriber shares, as they are
                        yield self._encode(rec, sid)[2]
                    else:  # what is here goes together (one gRPC message, one write), the entries' shared bytes
                        yield b"".join([part for r in (rec, *more) for part in self._encode(r, sid)[1:]])
                    continue
                if not more:  # alone: the message every subscriber shares, as it is
                    yield self._stream_message(rec, sid)
                    continue
                # a backlog (the subscriber fell behind, or a burst): the updates that are here go together,
                # one message (one write, one wake-up) instead of one each
                out = order_manager_pb2.SubscribeUpdatesResponse()
                out.batch.append(self._stream_message(rec, sid))
                out.batch.extend(self._stream_message(r, sid) for r in more)
                yield out
        except SlowConsumer as e:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
        finally:
            sub.close()
            self.metrics.subscribers.labels("updates").dec()
            self.engine.disconnect.detach(request.session_id)

    def _encode(self, rec: Record, session_id: str) -> tuple[Record, bytes, bytes]:
        """Record ``rec``'s stream message serialized, and the head that makes it a batch entry (``_batch_head``):
        once per record (the bus hands every subscriber the same record), the last 1024 kept."""
        cached = self._encoded.get(id(rec))
        if cached is not None and cached[0] is rec:
            return cached
        data = self._stream_message(rec, session_id).SerializeToString()
        found = self._encoded[id(rec)] = (rec, _batch_head(len(data)), data)
        if len(self._encoded) > 1024:  # the oldest out (dicts keep insertion order)
            del self._encoded[next(iter(self._encoded))]
        return found

    def _stream_message(self, rec: Record, session_id: str) -> order_manager_pb2.SubscribeUpdatesResponse:
        """One SubscribeUpdates message: an order update (shared by the session's subscribers), or an
        algorithm, contingent-order or risk event."""
        if rec.kind == ALGORITHM:  # only with algorithmEvents
            event = convert.algorithm_event(cast(dict[str, Any], rec.payload), rec.seq)
            return order_manager_pb2.SubscribeUpdatesResponse(algorithm_event=event)
        if rec.kind == CONTINGENT:  # contingent orders' events, always streamed
            cevent = contingent_convert.event(cast(dict[str, Any], rec.payload), rec.seq)
            return order_manager_pb2.SubscribeUpdatesResponse(contingent_event=cevent)
        if rec.kind == risk.RISK:  # kill switch / limits changes, always streamed
            revent = convert.risk_event(cast(dict[str, Any], rec.payload), rec.seq, session_id)
            return order_manager_pb2.SubscribeUpdatesResponse(risk_event=revent)
        u = cast(OrderUpdate, rec.payload)  # a subscription of kind ORDER carries OrderUpdates
        return self._update_message(u, rec.seq)

    async def SubscribePositions(
        self, request: order_manager_pb2.SubscribePositionsRequest, context: Ctx
    ) -> AsyncIterator[order_manager_pb2.SubscribePositionsResponse]:
        try:
            session = self.engine.session(request.session_id)
            sub = await self.engine.subscribe(request.session_id, POSITION)
        except NotFound as e:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        self.metrics.subscribers.labels("positions").inc()
        self.engine.disconnect.attach(request.session_id)
        try:
            yield order_manager_pb2.SubscribePositionsResponse(
                session_id=session.session_id,
                positions={k: float(v) for k, v in session.positions.qty.items()},
                seq=session.bus.seq,
            )
            async for rec in sub:
                yield order_manager_pb2.SubscribePositionsResponse(
                    session_id=session.session_id,
                    seq=rec.seq,
                    positions={k: float(v) for k, v in cast(PositionUpdate, rec.payload).positions.items()},
                )
        except SlowConsumer as e:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
        finally:
            sub.close()
            self.metrics.subscribers.labels("positions").dec()
            self.engine.disconnect.detach(request.session_id)

    @unary
    async def ListOrders(
        self, request: order_manager_pb2.ListOrdersRequest, context: Ctx
    ) -> order_manager_pb2.ListOrdersResponse:
        orders = await self.engine.list_orders(request.session_id, request.symbol, request.open_only, request.limit)
        now = time.time_ns()
        return order_manager_pb2.ListOrdersResponse(
            orders=[convert.transaction(OrderUpdate.of(o, TransactionType.INSERT, now)) for o in orders]
        )

    @unary
    async def ListFills(
        self, request: order_manager_pb2.ListFillsRequest, context: Ctx
    ) -> order_manager_pb2.ListFillsResponse:
        """Every fill of the session from the journal (after a restart too), oldest first."""
        self.engine.session(request.session_id)
        await self.engine.journal.flush()
        records = await asyncio.to_thread(
            lambda: list(
                self.engine.journal.read(request.session_id, convert.journal_seq(request.after_seq + 1), ORDER)
            )
        )
        out = order_manager_pb2.ListFillsResponse()
        for rec in records:
            u = cast(OrderUpdate, rec.payload)  # records of kind ORDER
            if not u.trade_id or (request.symbol and u.symbol != request.symbol):
                continue
            out.fills.append(convert.fill(u, rec.seq))
            if request.limit and len(out.fills) >= request.limit:
                break
        return out

    @unary
    async def ListAuditRecords(
        self, request: order_manager_pb2.ListAuditRecordsRequest, context: Ctx
    ) -> order_manager_pb2.ListAuditRecordsResponse:
        return await list_audit_records(self.engine.journal, request)

    @unary
    async def ListSessions(
        self, request: order_manager_pb2.ListSessionsRequest, context: Ctx
    ) -> order_manager_pb2.ListSessionsResponse:
        configs = await asyncio.to_thread(self.engine.journal.sessions)
        out = order_manager_pb2.ListSessionsResponse()
        for sid, session in self.engine.sessions.items():
            cfg = configs.get(sid, ("", 0, {}))[2]
            out.sessions.add(
                session_id=sid,
                exchange=convert.EXCHANGE.proto(session.exchange),
                rest_url=cfg.get("restUrl", ""),
                ws_url=cfg.get("wsUrl", ""),
                interface=cfg.get("interface", ""),
                use_margin=cfg.get("useMargin", False),
                active=session.state == "live",
                last_seq=session.bus.seq,
                venue_cancel_on_disconnect=session.connector is not None
                and session.connector.capabilities.cancel_on_disconnect
                and session.connector.cancel_on_disconnect_armed,
            )
        return out
