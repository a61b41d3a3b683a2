"""Order sessions and the order path.

    request -> validate (required fields, clOrderId rule, instrument rules; nothing sent on error)
            -> order store: register clOrderId (same insert again = same order; different = ALREADY_EXISTS)
            -> publish ``pendingnew`` (journal + bus) -> connector
    venue answer / private stream -> ExecutionReport -> state machine -> publish -> subscribers

Outcome policy (DESIGN §2): ``Rejected`` -> the order is ``rejected`` with the venue's message;
``Retryable`` -> retried with the same clOrderId after backoff; ``OutcomeUnknown`` -> the order
stays pending and is reconciled by asking the venue for the clOrderId. An order is never reported
rejected while it may be live: only once the venue says it does not know the clOrderId after the
venue's own acceptance window (``unknown_after_s``) has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar

from ..connectors.base import AmendsTriggers, Connector, ConnectorConfig, PlacesGroups
from ..domain.enums import Exchange, OrderStatus, OrderType, Side, TimeInForce, TransactionType
from ..domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidTransition,
    NotFound,
    Unavailable,
    ValidationError,
)
from ..domain.mmp import NativeMmp
from ..domain.orders import CLIENT_ID_RULES, FillReport, Order
from ..domain.venue import (
    ExecutionReport,
    GroupRequest,
    NativeTrigger,
    OrderRequest,
    OutcomeUnknown,
    Rejected,
    Retryable,
    VenueError,
)
from .bus import SessionBus, Subscription
from .day_orders import DayOrders, venue_tif
from .disconnect import DisconnectGuard
from .journal import Journal
from .positions import Positions
from .reconcile import Reconciler
from .risk import RiskControl
from .store import OrderStore, journal_fields
from .tasks import Supervisor
from .updates import ORDER, OrderUpdate

log = logging.getLogger("execx.engine")
R = TypeVar("R")

ConnectorFactory = Callable[[ConnectorConfig], Connector]
SESSION = "session"
LIVE, DETACHED, STOPPED = "live", "detached", "stopped"

_CREDENTIALS_KEY = os.urandom(32)  # per process: the digests below mean nothing outside it


def _credentials_digest(config: ConnectorConfig) -> bytes:
    """HMAC of the session's exchange keys under a per-process random key: compares keys without
    keeping them a second time (the connector holds them; nothing is journaled)."""
    parts = (config.exchange.value, config.api_key, config.secret_key.reveal(), config.passphrase.reveal())
    return hmac.new(_CREDENTIALS_KEY, "\0".join(parts).encode(), hashlib.sha256).digest()


_PENDING = frozenset({OrderStatus.PENDINGNEW, OrderStatus.PENDINGUPDATE, OrderStatus.PENDINGCANCEL})


@dataclass(frozen=True)
class SendOrder:
    """A ``sendOrder`` command: prices and quantities exact (``Decimal``, made from the API's doubles by
    api/convert.py), optional fields unset = None."""

    session_id: str
    transaction_type: TransactionType | None
    cl_order_id: str = ""
    symbol: str = ""
    price: Decimal | None = None
    qty: Decimal | None = None
    order_type: OrderType | None = None
    tif: TimeInForce | None = None
    side: Side | None = None
    trigger_id: str = ""
    reduce_only: bool = False
    native_trigger: NativeTrigger | None = None  # set by managers/contingent.py only: a native contingent order


class Unsent(Rejected):
    """Every attempt of a request was refused before it reached the venue (``Retryable``: rate limit, ban,
    connection refused): nothing was executed."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # Retryable: total tries of one request
    base_s: float = 0.05
    max_s: float = 2.0
    reconcile_delays_s: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    unknown_after_s: float = 6.0  # venue acceptance window (Binance recvWindow 5 s) + margin

    def backoff(self, attempt: int, hint: float | None) -> float:
        delay = min(self.max_s, self.base_s * 2.0**attempt) * (0.5 + random.random() / 2)
        return max(delay, hint or 0.0)


@dataclass
class Session:
    session_id: str
    exchange: Exchange
    connector: Connector | None  # None after a restart until the strategy starts the session again
    bus: SessionBus
    state: str = LIVE  # LIVE, DETACHED (restored after a restart, awaiting start), STOPPED
    # keyed digest of the exchange keys that started it (memory only): a restarted strategy presenting
    # the same keys re-attaches to the live session (``Engine.start_session``)
    credentials: bytes = b""
    store: OrderStore = field(init=False)
    positions: Positions = field(init=False)

    def __post_init__(self) -> None:
        self.store = OrderStore(self.session_id, self.bus.journal, self.bus.flush)
        self.positions = Positions(self.session_id, self.bus)

    @property
    def orders(self) -> dict[str, Order]:
        """The orders in memory: every live one and the recent finished ones (store.py)."""
        return self.store.orders

    @property
    def locks(self) -> dict[str, Any]:
        return self.store.locks

    def open_orders(self, symbol: str) -> list[Order]:
        return self.store.open_orders(symbol)


class OrderEngine:
    def __init__(
        self,
        journal: Journal,
        connector_factory: ConnectorFactory,
        clock_ns: Callable[[], int] = time.time_ns,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,  # the reconciler's waits (tests: a fake clock)
    ) -> None:
        self.journal = journal
        self.connector_factory = connector_factory
        self.clock_ns = clock_ns
        self.retry = retry or RetryPolicy()
        self.sessions: dict[str, Session] = {}
        self.tasks = Supervisor("engine")
        self.invalid_transitions = 0
        self.observers: list[Callable[[OrderUpdate], None]] = []  # metrics etc.; must not block
        self.invalid_transition_observers: list[Callable[[Exchange], None]] = []
        # managers: every fill once as the venue reported it (with its fee), and private-stream up/down
        self.fill_observers: list[Callable[[str, str, ExecutionReport], None]] = []  # session, clOrderId, fill
        self.stream_observers: list[Callable[[str, bool], None]] = []
        # awaited, in order, when a session a restart detached is started again, before the reconciler asks the
        # venue for its open orders (``_resume``): a manager teaches the connector how to find orders it cannot
        # find by their own clOrderIds (a native group's legs: managers/contingent.py)
        self.resume_hooks: list[Callable[[Session], Awaitable[None]]] = []
        # the market's current price for the venue's percent price band, where execx watches the symbol
        # (app.py: the market-data hub's mid of a fresh feed); None: the band is the venue's to check
        self.reference_price: Callable[[Exchange, str], Decimal | None] = lambda exchange, symbol: None
        self.reconciler = Reconciler(self._apply, self._publish, self.tasks, lambda: self.retry, clock_ns, sleep)
        self.risk = RiskControl(journal, clock_ns)  # pre-trade limits and kill switch (risk.py)
        self.disconnect = DisconnectGuard(self)  # cancel-on-disconnect of the client's streams (disconnect.py)
        self.day_orders = DayOrders(self)  # day orders cancelled at 00:00 UTC where the venue has none
        self._restore()

    # ------------------------------------------------------------------ sessions

    def _restore(self) -> None:
        """After a restart: session ids (never reusable), the orders not final and the last finished ones
        (``FINISHED_KEPT``), and positions come back from the journal. Connectors do not: the strategy
        starts the session again with its keys, and then every order the journal left open is resolved
        with the venue (``_reconcile_open``)."""
        last = self.journal.last_seq()
        for sid, (exchange, _created, _cfg) in self.journal.sessions().items():
            session = Session(sid, Exchange(exchange), None, SessionBus(sid, self.journal, last.get(sid, 0)))
            stopped = self.journal.last_record(sid, SESSION)
            was_stopped = stopped is not None and isinstance(stopped.payload, dict) and stopped.payload.get("event")
            session.state = STOPPED if was_stopped == "stopped" else DETACHED
            session.positions.restore(self.journal)
            session.store.restore()
            self.sessions[sid] = session
        self.risk.restore(list(self.sessions))  # limits and kill switches stay as they were

    async def start_session(self, session_id: str, config: ConnectorConfig, adopt_prefix: str = "") -> Session:
        """Start a new session, resume one that a restart detached (same id, same exchange), or re-attach
        to a live one started with the same exchange and keys (a restarted strategy: the session is
        returned as it is, nothing reconnects). A live session with other keys or a stopped session id
        is ALREADY_EXISTS. ``adopt_prefix``: the venue's live
        orders with client ids under it that no session knows become this session's (``Reconciler.adopt``)."""
        if not session_id:
            raise ValidationError("sessionId", "is required")
        existing = self.sessions.get(session_id)
        credentials = _credentials_digest(config)
        if existing is not None and existing.state == LIVE and existing.exchange == config.exchange:
            if hmac.compare_digest(existing.credentials, credentials):
                return existing  # the same strategy re-attaching (it restarted): the live session as it is
            raise AlreadyExists(f"session {session_id!r} is live with other exchange keys")
        if existing is not None and (existing.state != DETACHED or existing.exchange != config.exchange):
            raise AlreadyExists(f"session {session_id!r} was used before; session ids cannot be reused")
        if existing is not None and config.dead_man_s:  # resumed: its open orders protected from the start
            config = replace(config, dead_man_symbols=frozenset(o.symbol for o in existing.store.open_orders()))
        connector = self.connector_factory(config)
        session = existing or Session(session_id, config.exchange, None, SessionBus(session_id, self.journal))
        await connector.start(lambda r: self._on_report(session, r), lambda up: self._on_stream(session, up))
        session.connector, session.state, session.credentials = connector, LIVE, credentials
        if existing is None:
            self.journal.add_session(
                session_id,
                config.exchange.value,
                self.clock_ns(),
                {
                    "exchange": config.exchange.value,
                    "restUrl": config.rest_url,
                    "wsUrl": config.ws_url,
                    "interface": config.interface,
                    "useMargin": config.use_margin,
                    "testnet": config.testnet,
                },
            )
            self.sessions[session_id] = session
        else:
            self.tasks.spawn(self._resume(session), f"reconcile-open/{session_id}")
        if adopt_prefix:
            known = [s.store for s in self.sessions.values() if s is not session]
            self.tasks.spawn(self.reconciler.adopt(session, adopt_prefix, known), f"adopt/{session_id}")
        await self._sync_positions(session)
        return session

    async def _resume(self, session: Session) -> None:
        """A detached session started again: the resume hooks first (the connector learns what it needs to find the
        journal's open orders at the venue), then every order the journal left open is resolved with the venue. A
        hook that fails is logged; the orders are resolved anyway."""
        for hook in self.resume_hooks:
            try:
                await hook(session)
            except Exception:  # a hook's failure must not leave the open orders unresolved
                log.exception("session.resume_hook_failed", extra={"session": session.session_id})
        await self.reconciler.resume(session)

    async def stop_session(self, session_id: str) -> None:
        session = self.session(session_id)
        if session.state == STOPPED:
            return
        session.state = STOPPED
        session.bus.publish(SESSION, {"event": "stopped", "localTime": self.clock_ns()})
        if session.connector is not None:
            await session.connector.close()
            session.connector = None

    def session(self, session_id: str, flush: bool = True) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise NotFound(f"session {session_id!r} does not exist; start it with startOrderHandler")
        if flush:
            session.bus.flush()  # what a caller reads of the session is journaled first
        return session

    def live_session(self, session_id: str, flush: bool = True) -> tuple[Session, Connector]:
        """``flush=False``: for a caller that reads nothing journaled of the session and waits for its own
        records' commit before it releases anything (``send``: ``SessionBus.durable``)."""
        session = self.session(session_id, flush)
        if session.state != LIVE or session.connector is None:
            hint = "start it again with its keys" if session.state == DETACHED else "session ids cannot be reused"
            raise FailedPrecondition(f"session {session_id!r} is {session.state}; {hint}")
        return session, session.connector

    def native_mmp(self, session_id: str) -> NativeMmp | None:
        """The venue's own market-maker protection of a live session's connector (Deribit, Pulse), else None."""
        _, connector = self.live_session(session_id)
        mmp = getattr(connector, "native_mmp", None)
        return mmp if isinstance(mmp, NativeMmp) else None

    async def close(self) -> None:
        await self.tasks.close()
        for session in self.sessions.values():
            if session.connector is not None:
                await session.connector.close()
        await self.journal.flush()
        for session in self.sessions.values():
            session.bus.flush()  # a group commit still waiting its turns (``SessionBus.durable``)

    # ------------------------------------------------------------------ the order path

    async def send(self, req: SendOrder, wait_s: float | None = None) -> OrderUpdate:
        """Run one ``sendOrder`` transaction; returns the update that answers it (for ``pull``, the
        last cancellation, or a ``pull`` acknowledgement when nothing was open).

        A caller that goes away (cancelled call, closed stream) while its request is at the venue leaves
        the order to the reconciler, which asks the venue what became of it. ``wait_s``: answer after at
        most this long with the order's current (pending) state if the venue has not answered by then
        (the transaction then runs in a task of the engine's own); the outcome follows on the session's
        updates. Whatever the answer is, it is journaled before it is returned."""
        if not req.session_id:
            raise ValidationError("sessionId", "is required")
        if req.transaction_type is None:
            raise ValidationError("transactionType", "is required: insert, update, delete or pull")
        inline = wait_s is None
        # inline, what others published is not flushed here: it is journaled with this transaction's records
        # (``durable``), and this transaction reads nothing of the journal
        session, connector = self.live_session(req.session_id, flush=not inline)
        if self.journal.failed:
            raise Unavailable(f"{self.journal.failed}; no order is sent until the journal is writable")
        if inline:  # inline: a task would cost a loop turn (~80 µs measured) on every order
            bus = session.bus
            bus.active += 1  # a transaction in flight: its commits may be grouped with others' (``durable``)
            try:
                update = await self._transact(session, connector, req)
                await bus.durable()  # its answer's records journaled before it is returned
            except BaseException:
                bus.flush()
                raise
            finally:
                bus.active -= 1
            return update
        task = self.tasks.spawn(self._transact(session, connector, req), f"send/{req.cl_order_id}", awaited=True)
        try:
            done, _ = await asyncio.wait((task,), timeout=wait_s)
            if task in done:
                result: OrderUpdate = task.result()
                return result
            order = session.orders.get(req.cl_order_id)
            if order is None:  # e.g. a pull still running
                raise Unavailable("the venue has not answered yet; the outcome follows on subscribeUpdates")
            order.message = "the venue has not answered yet; the outcome follows on subscribeUpdates"
            tx = req.transaction_type
            return OrderUpdate.of(order, tx, self.clock_ns(), send_time=order.sent_ns)
        finally:
            session.bus.flush()

    async def _transact(self, session: Session, connector: Connector, req: SendOrder) -> OrderUpdate:
        tx = req.transaction_type
        if tx is TransactionType.INSERT:
            return await self._insert(session, connector, req)
        if tx is TransactionType.PULL or tx is None:
            return await self._pull(session, connector, req)
        if not req.cl_order_id:
            raise ValidationError("clOrderId", f"is required for {tx.value}")
        order = session.store.get(req.cl_order_id)
        if order is None:
            raise NotFound(f"order {req.cl_order_id!r} does not exist in session {session.session_id!r}")
        if req.symbol and req.symbol != order.symbol:
            raise ValidationError("symbol", f"order {order.cl_order_id!r} is on {order.symbol}, not {req.symbol}")
        if tx is TransactionType.UPDATE:
            if req.qty is None and req.price is None and req.native_trigger is None:
                raise ValidationError("qty", "an update needs a new qty and/or price")
            if order.order_type is OrderType.MARKET and order.native_trigger is None:
                raise FailedPrecondition("market orders cannot be amended")  # a held stop-market can be
        async with session.store.lock(order):
            await self.reconciler.resolve(session, order)
            _check_actionable(order, tx)
            if tx is TransactionType.UPDATE:
                return await self._update(session, connector, order, req)
            return await self._delete(session, connector, order)

    def _validate_insert(self, connector: Connector, req: SendOrder) -> Order:
        if not req.symbol:
            raise ValidationError("symbol", "is required for insert")
        if not req.cl_order_id:
            raise ValidationError("clOrderId", "is required for insert")
        CLIENT_ID_RULES[connector.exchange].check(req.cl_order_id)
        if req.side is None:
            raise ValidationError("side", "is required for insert: buy or sell")
        if req.order_type is None:
            raise ValidationError("orderType", "is required for insert: limit, market or postonly")
        if req.qty is None:
            raise ValidationError("qty", "is required for insert")
        tif = req.tif or TimeInForce.GTC
        if tif not in connector.supported_tifs and tif is not TimeInForce.DAY:  # day: emulated (day_orders.py)
            raise ValidationError("tif", f"{tif.value} is not supported by {connector.exchange.value}")
        if req.reduce_only and not connector.capabilities.supports_reduce_only:
            raise ValidationError("reduceOnly", f"is not supported on {connector.exchange.value}")
        if req.order_type is OrderType.POSTONLY and tif in (TimeInForce.IOC, TimeInForce.FOK):
            raise ValidationError("tif", f"a postonly order rests on the book; {tif.value} cannot be post-only")
        _check_finite(req.qty, "qty")
        price: Decimal | None = None
        if req.order_type is OrderType.MARKET:
            if req.price is not None and req.price != 0:
                raise ValidationError("price", "must not be set on a market order")
        else:
            if req.price is None:
                raise ValidationError("price", f"is required for a {req.order_type.value} order")
            price = _check_finite(req.price, "price")
        reference = self.reference_price(connector.exchange, req.symbol)
        qty, price = connector.rules(req.symbol).normalise(req.side, req.qty, price, reference)
        return Order(
            req.session_id,
            req.cl_order_id,
            connector.exchange,
            req.symbol,
            req.side,
            req.order_type,
            tif,
            qty,
            price,
            req.trigger_id,
            reduce_only=req.reduce_only,
            native_trigger=req.native_trigger,
        )

    async def _insert(self, session: Session, connector: Connector, req: SendOrder) -> OrderUpdate:
        order = self._validate_insert(connector, req)
        existing = session.store.get(order.cl_order_id)
        if existing is not None:
            if not existing.same_request(order):
                raise AlreadyExists(f"clOrderId {order.cl_order_id!r} was used for a different order in this session")
            if existing.not_sent:
                self.risk.check_kill(session.session_id, session.exchange.value)
            return await self._resend(session, connector, existing)
        trigger = order.native_trigger
        # a venue-held conditional order is valued and banded at its trigger price, as an emulated one is when
        # armed (docs/contingent_orders.md): the market is there when it fires
        at = trigger.price if trigger is not None and trigger.price is not None else None
        self.risk.check_insert(
            session, order, at if at is not None else self.reference_price(order.exchange, order.symbol)
        )
        session.orders[order.cl_order_id] = order
        async with session.store.lock(order):
            return await self._submit(session, connector, order)

    async def _resend(self, session: Session, connector: Connector, order: Order) -> OrderUpdate:
        """The same insert again (an idempotent retry, e.g. after a crash): the one order it made. It waits
        for a request in flight on the order; an order restored pending is resolved with the venue first;
        an order that was never sent (the venue has no record of it) is sent now."""
        async with session.store.lock(order):
            await self.reconciler.resolve(session, order)
            if order.not_sent:
                order.revive()
                return await self._submit(session, connector, order)
            return OrderUpdate.of(order, TransactionType.INSERT, self.clock_ns(), send_time=order.sent_ns)

    async def _submit(self, session: Session, connector: Connector, order: Order) -> OrderUpdate:
        """Send a registered ``pendingnew`` order. Its intent is journaled before the request leaves."""
        send_time = order.sent_ns = self.clock_ns()
        self._publish(session, OrderUpdate.of(order, TransactionType.INSERT, send_time, send_time=send_time))
        try:
            await session.bus.durable()  # the intent journaled before the request leaves
        except asyncio.CancelledError:
            # the caller went away while the intent was being journaled: nothing was sent; the reconciler
            # settles the order with the venue (absent: rejected, "not sent"), as for a cancel at the venue
            self.reconciler.spawn(session, order)
            raise
        request = order_request(connector, order)
        try:
            report = await self._at_venue(session, order, lambda: connector.submit_order(request))
        except Rejected as e:
            if order.status is not OrderStatus.PENDINGNEW:  # the stream told the truth meanwhile
                return OrderUpdate.of(order, TransactionType.INSERT, self.clock_ns(), send_time=send_time)
            if isinstance(e, Unsent):  # nothing reached the venue: the same insert sends it again
                order.mark_not_sent(f"not sent: {e.message}")
                update = OrderUpdate.of(order, TransactionType.INSERT, self.clock_ns(), send_time=send_time)
                self._publish(session, update)
                return update
            return self._reject(session, order, TransactionType.INSERT, e, send_time)
        except OutcomeUnknown as e:
            order.message = f"outcome unknown ({e.message}); reconciling with the venue"
            self.reconciler.spawn(session, order)
            return OrderUpdate.of(order, TransactionType.INSERT, self.clock_ns(), send_time=send_time)
        return self._apply(session, report, TransactionType.INSERT, send_time) or OrderUpdate.of(
            order, TransactionType.INSERT, self.clock_ns(), send_time=send_time
        )

    async def _update(self, session: Session, connector: Connector, order: Order, req: SendOrder) -> OrderUpdate:
        trigger = req.native_trigger  # a held native contingent order's new trigger (managers/contingent.py)
        amender = connector if isinstance(connector, AmendsTriggers) else None
        if trigger is not None and (
            amender is None or order.native_trigger is None or order.status is not OrderStatus.PENDINGTRIGGER
        ):
            raise FailedPrecondition(
                f"order {order.cl_order_id!r}: {connector.exchange.value} cannot amend its trigger now "
                "(a held trigger order's trigger price, where the venue allows it)"
            )
        qty = _check_finite(req.qty, "qty") if req.qty is not None else order.qty
        price = _check_finite(req.price, "price") if req.price is not None else order.price
        reference = self.reference_price(order.exchange, order.symbol)
        qty, price = connector.rules(order.symbol).normalise(order.side, qty, price, reference)
        self.risk.check_amend(session, order, qty, price, reference)
        send_time = self.clock_ns()
        previous = order.status
        order.move_to(OrderStatus.PENDINGUPDATE)
        self._publish(session, OrderUpdate.of(order, TransactionType.UPDATE, send_time, send_time=send_time))
        session.bus.flush()
        held_trigger = order.native_trigger
        if trigger is not None:  # the venue's reports of the edit (stream or answer) journal the new trigger
            order.native_trigger = trigger

        def amend() -> Awaitable[ExecutionReport]:
            if trigger is None or amender is None:
                return connector.amend_order(order.symbol, order.cl_order_id, order.side, qty, price)
            return amender.amend_trigger(order.symbol, order.cl_order_id, order.side, qty, price, trigger)

        try:
            report = await self._at_venue(session, order, amend)
        except Rejected as e:
            # The venue refused the amend: the order is unchanged, or it has just ended (filled, expired)
            # and the amend found nothing to change. Ask the venue for the truth.
            if order.status is OrderStatus.PENDINGUPDATE:  # unchanged, with any fills it had meanwhile
                order.status = order.status_after_fills(previous)
            order.native_trigger = held_trigger
            order.message = f"update rejected: {e.message}"
            if not isinstance(e, Unsent):  # an amend that reached the venue: what is the order now?
                self.reconciler.spawn(session, order)
            update = OrderUpdate.of(order, TransactionType.UPDATE, self.clock_ns(), send_time=send_time)
            self._publish(session, update)
            return update
        except OutcomeUnknown:
            self.reconciler.spawn(session, order)
            return OrderUpdate.of(order, TransactionType.UPDATE, self.clock_ns(), send_time=send_time)
        if report.status.is_final and report.qty:
            # the answer is the order's end (filled, cancelled, expired; a venue may answer an amend that came
            # too late with it): the terms are the venue's, whether or not the amend took effect first
            order.qty = report.qty
            order.price = report.price or order.price
        else:
            order.qty, order.price = qty, price
        return self._apply(session, report, TransactionType.UPDATE, send_time) or OrderUpdate.of(
            order, TransactionType.UPDATE, self.clock_ns(), send_time=send_time
        )

    async def _delete(self, session: Session, connector: Connector, order: Order) -> OrderUpdate:
        send_time = self.clock_ns()
        previous = order.status
        order.move_to(OrderStatus.PENDINGCANCEL)
        self._publish(session, OrderUpdate.of(order, TransactionType.DELETE, send_time, send_time=send_time))
        session.bus.flush()
        try:
            report = await self._at_venue(
                session, order, lambda: connector.cancel_order(order.symbol, order.cl_order_id)
            )
        except Rejected as e:
            # The venue refused the cancel: most often the order just filled. Ask the venue for the truth.
            if order.status is OrderStatus.PENDINGCANCEL:  # else a fill meanwhile has said what it is
                order.status = previous
            order.message = f"cancel rejected: {e.message}"
            if not isinstance(e, Unsent):  # a cancel that reached the venue: what is the order now?
                self.reconciler.spawn(session, order)
            update = OrderUpdate.of(order, TransactionType.DELETE, self.clock_ns(), send_time=send_time)
            self._publish(session, update)
            return update
        except OutcomeUnknown:
            self.reconciler.spawn(session, order)
            return OrderUpdate.of(order, TransactionType.DELETE, self.clock_ns(), send_time=send_time)
        return self._apply(session, report, TransactionType.DELETE, send_time) or OrderUpdate.of(
            order, TransactionType.DELETE, self.clock_ns(), send_time=send_time
        )

    # ------------------------------------------------------------------ native linked groups (issue 20)

    async def send_group(self, group_id: str, group_type: str, reqs: list[SendOrder]) -> list[OrderUpdate]:
        """Place a linked group natively (``PlacesGroups.submit_group``, managers/contingent.py): every leg is
        validated and risk-checked as a ``sendOrder`` insert (a trigger leg valued at its trigger price),
        registered and journaled ``pendingnew`` before the one venue request; the venue's refusal rejects every
        leg, an unknown outcome has each leg reconciled by its clOrderId. The legs' updates, in order."""
        session, connector = self.live_session(reqs[0].session_id)
        if not isinstance(connector, PlacesGroups):
            raise FailedPrecondition(f"{connector.exchange.value} holds no linked order groups")
        if self.journal.failed:
            raise Unavailable(f"{self.journal.failed}; no order is sent until the journal is writable")
        orders = [self._group_leg(session, connector, req) for req in reqs]
        for order in orders:
            session.orders[order.cl_order_id] = order
        group = GroupRequest(group_id, group_type, tuple(order_request(connector, o) for o in orders))
        try:
            async with contextlib.AsyncExitStack() as stack:
                for order in orders:
                    await stack.enter_async_context(session.store.lock(order))
                send_time = self.clock_ns()
                for order in orders:
                    order.sent_ns = send_time
                    self._publish(
                        session, OrderUpdate.of(order, TransactionType.INSERT, send_time, send_time=send_time)
                    )
                session.bus.flush()  # every leg journaled before the request leaves
                await self._place_group(session, connector, group, orders)
                return [OrderUpdate.of(o, TransactionType.INSERT, self.clock_ns(), send_time=send_time) for o in orders]
        finally:
            session.bus.flush()

    def _group_leg(self, session: Session, connector: Connector, req: SendOrder) -> Order:
        """One leg of a native group: ``sendOrder``'s insert checks and the risk limits (nothing registered)."""
        order = self._validate_insert(connector, req)
        if session.store.get(order.cl_order_id) is not None:
            raise AlreadyExists(f"clOrderId {order.cl_order_id!r} is already used in this session")
        trigger = order.native_trigger
        at = trigger.price if trigger is not None and trigger.price is not None else None
        self.risk.check_insert(
            session, order, at if at is not None else self.reference_price(order.exchange, order.symbol)
        )
        return order

    async def _place_group(
        self, session: Session, connector: PlacesGroups, group: GroupRequest, orders: list[Order]
    ) -> None:
        """The venue request of ``send_group`` (the legs' locks held) and its outcome."""
        send_time = orders[0].sent_ns
        try:
            reports = await self._with_retries(lambda: connector.submit_group(group))
        except Rejected as e:
            for order in orders:
                if order.status is OrderStatus.PENDINGNEW:
                    self._reject(session, order, TransactionType.INSERT, e, send_time)
            return
        except BaseException as e:  # OutcomeUnknown, a cancelled caller, a fault: the venue is asked for each leg
            if not isinstance(e, (OutcomeUnknown, asyncio.CancelledError)):
                log.exception("order.group_request_failed", extra={"groupId": group.group_id})
            for order in orders:
                order.message = "outcome unknown; reconciling with the venue"
                self.reconciler.spawn(session, order)
            if isinstance(e, OutcomeUnknown):
                return
            raise
        for r in reports:
            self._apply(session, r, TransactionType.INSERT, send_time)
        for order in orders:  # a leg the answer did not report: asked for by its clOrderId
            if order.status is OrderStatus.PENDINGNEW:
                self.reconciler.spawn(session, order)

    async def cancel_group(self, session_id: str, group_id: str, group_type: str, cl_order_ids: list[str]) -> None:
        """Cancel a native group at the venue (``PlacesGroups.cancel_group``): its legs still live go
        ``pendingcancel``, then the venue's reports say what each became; a refusal asks the venue for each."""
        session, connector = self.live_session(session_id)
        if not isinstance(connector, PlacesGroups):
            raise FailedPrecondition(f"{connector.exchange.value} holds no linked order groups")
        orders = [session.store.get(cl) for cl in cl_order_ids]
        if any(o is None for o in orders):
            raise NotFound(f"group {group_id!r}: not every leg is an order of session {session_id!r}")
        legs = [o for o in orders if o is not None]
        group = GroupRequest(group_id, group_type, tuple(order_request(connector, o) for o in legs))
        try:
            async with contextlib.AsyncExitStack() as stack:
                for order in legs:
                    await stack.enter_async_context(session.store.lock(order))
                live = [o for o in legs if not o.status.is_final and o.status is not OrderStatus.PENDINGCANCEL]
                if not live:
                    return
                send_time = self.clock_ns()
                previous = {o.cl_order_id: o.status for o in live}
                for order in live:
                    order.move_to(OrderStatus.PENDINGCANCEL)
                    self._publish(
                        session, OrderUpdate.of(order, TransactionType.DELETE, send_time, send_time=send_time)
                    )
                session.bus.flush()
                try:
                    reports = await self._with_retries(lambda: connector.cancel_group(group))
                except VenueError as e:
                    for order in live:
                        if order.status is OrderStatus.PENDINGCANCEL:
                            order.status = previous[order.cl_order_id]
                        order.message = f"cancel rejected: {e.message}"
                        if not isinstance(e, Unsent):
                            self.reconciler.spawn(session, order)
                        self._publish(session, OrderUpdate.of(order, TransactionType.DELETE, self.clock_ns()))
                    return
                for r in reports:
                    self._apply(session, r, TransactionType.DELETE, send_time)
                for order in live:  # a leg the answer did not cover: asked for
                    if order.status is OrderStatus.PENDINGCANCEL:
                        self.reconciler.spawn(session, order)
        finally:
            session.bus.flush()

    async def _pull(self, session: Session, connector: Connector, req: SendOrder) -> OrderUpdate:
        if not req.symbol:
            raise ValidationError("symbol", "is required for pull")
        connector.rules(req.symbol)
        targets = [o for o in session.open_orders(req.symbol) if o.status is not OrderStatus.PENDINGCANCEL]

        async def cancel(order: Order) -> OrderUpdate:
            async with session.store.lock(order):
                _check_actionable(order, TransactionType.DELETE)
                return await self._delete(session, connector, order)

        results = await asyncio.gather(*(cancel(o) for o in targets), return_exceptions=True)
        updates = [r for r in results if isinstance(r, OrderUpdate)]
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, (VenueError, FailedPrecondition, InvalidTransition)):
                raise r
        return self._pull_answer(session, req, updates)

    def _pull_answer(self, session: Session, req: SendOrder, updates: list[OrderUpdate]) -> OrderUpdate:
        """A pull's answer: the request's echo (its clOrderId, symbol and, where it gave them, type, side and
        time in force; the API shows the ones it left out as unspecified) and in ``message`` what it cancelled.
        Its status: the last cancel's (``pendingcancel`` while the venue has not answered), else cancelled."""
        ids = [u.cl_order_id for u in updates]
        message = f"pull: {len(ids)} cancelled: {', '.join(ids)}" if ids else "pull: no open orders"
        status = updates[-1].order_status if updates else OrderStatus.CANCELLED
        return OrderUpdate(
            session.session_id,
            session.exchange,
            req.symbol,
            req.cl_order_id,
            "",
            message,
            "",
            self.clock_ns(),
            0,
            0,
            req.price or Decimal(0),
            req.qty or Decimal(0),
            Decimal(0),
            Decimal(0),
            Decimal(0),
            req.order_type or OrderType.LIMIT,
            status,
            TransactionType.PULL,
            req.tif or TimeInForce.GTC,
            req.side or Side.BUY,
            None,
            req.trigger_id,
            order_price=req.price or Decimal(0),
            order_qty=req.qty or Decimal(0),
        )

    async def _at_venue(self, session: Session, order: Order, call: Callable[[], Any]) -> ExecutionReport:
        """A request on ``order`` (with retries). If the caller is cancelled meanwhile, the request's
        outcome is unknown: the reconciler asks the venue (the request is never abandoned silently)."""
        try:
            return await self._with_retries(call)
        except VenueError:
            raise
        except BaseException as e:
            # the caller went away, or a fault of ours or of a library (not a venue answer): the request may
            # have left, so the venue is asked, as for any unknown outcome; never left pending for good
            if not isinstance(e, asyncio.CancelledError):
                log.exception("order.request_failed", extra={"clOrderId": order.cl_order_id})
            self.reconciler.spawn(session, order)
            raise

    async def _with_retries(self, call: Callable[[], Awaitable[R]]) -> R:
        for attempt in range(self.retry.attempts):
            try:
                return await call()
            except Retryable as e:
                if attempt == self.retry.attempts - 1:
                    raise Unsent(f"venue unavailable after {self.retry.attempts} attempts: {e.message}", e.code) from e
                delay = self.retry.backoff(attempt, e.retry_after_s)
                if delay > self.retry.max_s:
                    # the venue asks for a longer wait (a ban, a long rate-limit window) than an order may be
                    # held for: it was not sent; the caller decides when to send it again
                    raise Unsent(f"{e.message} (the venue asks to wait {delay:.0f} s)", e.code) from e
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _reject(self, session: Session, order: Order, tx: TransactionType, e: Rejected, send_time: int) -> OrderUpdate:
        order.message = e.message
        order.move_to(OrderStatus.REJECTED)
        update = OrderUpdate.of(order, tx, self.clock_ns(), send_time=send_time)
        self._publish(session, update)
        return update

    # ------------------------------------------------------------------ venue reports

    def _on_report(self, session: Session, report: ExecutionReport) -> None:
        self._apply(session, report, None, 0)

    def _on_stream(self, session: Session, up: bool) -> None:
        log.info("session.private_stream", extra={"session": session.session_id, "up": up})
        for observe_stream in self.stream_observers:
            observe_stream(session.session_id, up)
        if up and session.state == LIVE:
            # back after a reconnect: the venue's positions are the truth again (fills are recovered
            # by the connector and de-duplicated by trade id)
            self.tasks.spawn(self._resync_positions(session), f"positions/{session.session_id}")

    async def _resync_positions(self, session: Session) -> None:
        try:
            await self._sync_positions(session)
        except VenueError as e:
            log.warning("positions.sync_failed", extra={"session": session.session_id, "error": e.message})

    def _apply(
        self, session: Session, r: ExecutionReport, tx: TransactionType | None, send_time: int
    ) -> OrderUpdate | None:
        """Apply a venue report to the order store; publish what changed. Duplicates (same trade id,
        same status) publish nothing and return None."""
        order = session.store.get(r.orig_cl_order_id or r.cl_order_id)
        if order is None and r.orig_cl_order_id:
            order = session.store.get(r.cl_order_id)
        if order is None:
            log.debug("report.unknown_order", extra={"session": session.session_id, "clOrderId": r.cl_order_id})
            return None
        if not _is_this_order(order, r):
            # Another order with the same client id: a second session (or another program) on the same
            # account reuses it. Its reports are not this order's.
            log.debug("report.foreign_order", extra={"session": session.session_id, "clOrderId": r.cl_order_id})
            return None
        if order.not_sent:
            # we said the venue never received it, and here it is (a request that arrived late): the
            # venue is the truth
            log.warning("report.order_found_after_not_sent", extra={"clOrderId": order.cl_order_id})
            order.revive()
        tx = tx or (TransactionType.INSERT if order.status is OrderStatus.PENDINGNEW else TransactionType.UPDATE)
        try:
            update = (
                self._apply_fill(session, order, r, tx, send_time)
                if r.trade_id
                else self._apply_status(session, order, r, tx, send_time)
            )
        except InvalidTransition as e:
            self.invalid_transitions += 1
            for observe_invalid in self.invalid_transition_observers:
                observe_invalid(session.exchange)
            log.warning("report.invalid_transition", extra={"session": session.session_id, "error": str(e)})
            return None
        if update is None:
            return None
        self._publish(session, update)
        return update

    def _apply_fill(
        self, session: Session, order: Order, r: ExecutionReport, tx: TransactionType, send_time: int
    ) -> OrderUpdate | None:
        """A fill: counted once per trade id; positions and fill observers follow."""
        if not order.apply_fill(FillReport(r.trade_id, r.fill_qty, r.fill_price, r.liquidity, r.exch_time_ns)):
            return None
        session.positions.fill(order.symbol, order.side, r.fill_qty)
        for observe_fill in self.fill_observers:
            observe_fill(session.session_id, order.cl_order_id, r)
        if r.status.is_final and r.status is not OrderStatus.FILLED and not order.status.is_final:
            order.move_to(r.status)  # e.g. IOC: last fill and expiry in one report
        return OrderUpdate.of(
            order,
            tx,
            self.clock_ns(),
            exch_time=r.exch_time_ns,
            send_time=send_time,
            trade_id=r.trade_id,
            fill_qty=r.fill_qty,
            fill_price=r.fill_price,
            liquidity=r.liquidity,
            fee=r.fee,
            fee_currency=r.fee_asset,
        )

    def _apply_status(
        self, session: Session, order: Order, r: ExecutionReport, tx: TransactionType, send_time: int
    ) -> OrderUpdate | None:
        """A status report (ack, amend, cancel, expiry, a query's answer). Fills count only from their own
        reports (with trade ids), never from totals."""
        status = r.status
        if r.cum_filled > order.cum_filled and r.cum_filled > order.venue_filled:
            # the venue counts more fills than we have: unless their reports follow within a second, they
            # were lost (a stream silent or dropped meanwhile, a restart) and are collected from its history
            order.venue_filled = r.cum_filled
            self.reconciler.owe_fills(session, order)
        if order.status.is_final and not status.is_final:
            # A late report of an earlier state (e.g. the stream's NEW of an IOC order whose answer
            # already said it expired): stale, not an impossible transition.
            log.debug("report.stale", extra={"session": session.session_id, "clOrderId": r.cl_order_id})
            return None
        if status in (OrderStatus.PARTIALLYFILLED, OrderStatus.FILLED):
            # an ack saying "filled" only ends the pending state; the fills bring the status forward (an
            # amend's answer: measured against the quantity it gives, with the fills that came meanwhile)
            if order.status not in _PENDING:
                return None
            status = OrderStatus.NEW
        if status is OrderStatus.NEW and order.cum_filled:
            # fills came first (e.g. during an amend, or the client's order before its cancel-replace):
            # they say what it is, against the quantity this report gives
            if order.status is OrderStatus.PENDINGUPDATE and r.qty:
                order.qty = r.qty
            status = order.status_after_fills(OrderStatus.NEW)
        same_price = r.price is None or not r.price or r.price == order.price
        if status is order.status and r.qty == order.qty and same_price and r.message in ("", order.last_message):
            # nothing new: e.g. the stream's report of an amend its answer already reported (one update per
            # state change, issue 14)
            return None
        if status is not order.status:
            order.move_to(status)
        order.qty = r.qty if r.qty else order.qty
        if r.price is not None and r.price:
            order.price = r.price
        if r.message:
            order.message = r.message
        return OrderUpdate.of(order, tx, self.clock_ns(), exch_time=r.exch_time_ns, send_time=send_time)

    def _publish(self, session: Session, update: OrderUpdate) -> None:
        order = session.store.orders.get(update.cl_order_id)
        if order is not None:
            update.journal.update(journal_fields(order, update))
        session.bus.publish(ORDER, update)
        if order is not None:
            if order.status.is_final:
                session.store.note_finished(order)
            else:
                order.last_message = update.message  # a report repeating it is no news (``_apply_status``)
                order.message = ""  # a message belongs to the update that carried it
        for observe in self.observers:
            observe(update)

    # ------------------------------------------------------------------ queries

    def order(self, session_id: str, cl_order_id: str) -> Order:
        """``GetOrder``: the order, in memory or from the journal."""
        order = self.session(session_id).store.get(cl_order_id)
        if order is None:
            raise NotFound(f"order {cl_order_id!r} does not exist in session {session_id!r}")
        return order

    async def list_orders(
        self, session_id: str, symbol: str = "", open_only: bool = False, limit: int = 0
    ) -> list[Order]:
        """``ListOrders``: in the order they were sent; older finished ones from the journal."""
        return await self.session(session_id).store.list(symbol, open_only, limit)

    # ------------------------------------------------------------------ reconciliation

    async def refresh(self, session_id: str, cl_order_ids: list[str]) -> list[OrderUpdate]:
        """``refreshOrders``: ask the venue for each order's state now and publish what changed."""
        session, connector = self.live_session(session_id)
        out: list[OrderUpdate] = []
        for cl in cl_order_ids:
            order = session.store.get(cl)
            if order is None:
                raise NotFound(f"order {cl!r} does not exist in session {session_id!r}")
            report = await connector.query_order(order.symbol, cl)
            if report is not None:
                await self.reconciler.catch_up(session, order, report, 0)
            out.append(OrderUpdate.of(order, TransactionType.UPDATE, self.clock_ns()))
        session.bus.flush()
        return out

    # ------------------------------------------------------------------ positions

    async def _sync_positions(self, session: Session) -> None:
        """Derivatives: take the venue's positions as the truth at start and after reconnects."""
        if session.connector is not None:
            await session.positions.sync(session.connector)

    def position(self, session_id: str, symbol: str) -> Decimal:
        return self.session(session_id).positions.get(symbol)

    async def subscribe(self, session_id: str, kind: str | frozenset[str], from_seq: int | None = None) -> Subscription:
        kinds = frozenset({kind}) if isinstance(kind, str) else kind
        return await self.session(session_id).bus.subscribe(from_seq, kinds)


def order_request(connector: Connector, order: Order) -> OrderRequest:
    """``order`` as the connector sends it."""
    return OrderRequest(
        order.cl_order_id,
        order.symbol,
        order.side,
        order.order_type,
        venue_tif(connector, order.tif),
        order.qty,
        order.price,
        order.reduce_only,
        order.native_trigger,
    )


def _is_this_order(order: Order, r: ExecutionReport) -> bool:
    """Whether a report with ``order``'s client id is about ``order``; learns its venue id (and, during a
    cancel-replace, the replacement's)."""
    if not r.exch_order_id or r.exch_order_id == order.exch_order_id or r.exch_order_id in order.former_exch_ids:
        return True
    if order.exch_order_id and order.status is not OrderStatus.PENDINGUPDATE and not _replaced_by(order, r):
        return False
    if order.exch_order_id:  # the replacement order of a cancel-replace in flight
        order.former_exch_ids.add(order.exch_order_id)
        order.replaced_exch_id = order.exch_order_id
    order.exch_order_id = r.exch_order_id
    return True


def _replaced_by(order: Order, r: ExecutionReport) -> bool:
    """A live order's client id on a newer venue order: the replacement of a cancel-replace whose answer
    was lost (execx was killed meanwhile, or a fill moved the order on from ``pendingupdate``). A venue
    refuses a second live order under a live order's client id, so it cannot be another program's."""
    if order.status.is_final:
        return False
    try:
        return int(r.exch_order_id) > int(order.exch_order_id)
    except ValueError:
        return False


def _check_finite(value: Decimal, field: str) -> Decimal:
    if not value.is_finite():
        raise ValidationError(field, f"must be a finite number, not {value}")
    return value


def _check_actionable(order: Order, tx: TransactionType) -> None:
    """An update or delete acts on an order the venue has confirmed (the caller waited for any request
    in flight on it): refused with FAILED_PRECONDITION, saying why, when it cannot."""
    what = tx.value
    if order.status.is_final:
        raise FailedPrecondition(f"order {order.cl_order_id!r} is {order.status.value}; nothing to {what}")
    if order.status in _PENDING:
        raise FailedPrecondition(
            f"order {order.cl_order_id!r} is {order.status.value}: the outcome of its last request is not known "
            f"yet (execx is reconciling it with the venue); {what} it again once it is confirmed"
        )
