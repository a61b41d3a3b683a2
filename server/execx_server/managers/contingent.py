"""Contingent orders (issue 20), emulated in execx (or held by the venue: "Native" below): stops,
take-profits, trailing stops, and OCO / OTO / OTOCO groups of them. docs/contingent_orders.md is the user's description.

- **A contingent order** is a ``sendOrder`` insert with a trigger (``contingent_plan``): it is validated
  exactly as the insert it will send (nothing sent), journaled (this module's row in the journal's
  ``algorithms`` table, kind ``contingent``: one row per session, rewritten on every change) and armed on
  a ``Watcher`` (a ``runtime.Runner``: the shared market-data hub's feed of its symbol). Its own events
  (kind ``contingent`` on the session's bus: ``pendingtrigger``, ``triggered``, ``cancelled``,
  ``rejected``) are numbered with the session's order updates and streamed by ``SubscribeUpdates``.
- **Firing**: decided synchronously in the feed's listener (marked triggered before anything awaits, so
  it fires once), then its order is sent through ``OrderEngine.send`` under the same clOrderId; from then
  on the order's own updates follow. A refusal of that send (risk limit, kill switch, venue rule) makes
  the contingent order ``rejected`` with the reason. A price while the feed is stale fires nothing; the
  next fresh price beyond the level does (gap-through).
- **Groups** (``Group``): OCO (the first fill of a leg, or its trigger firing, cancels the other), OTO
  (the pending leg waits, held, until the working leg is completely filled; the working leg ending
  otherwise cancels it), OTOCO (an OTO whose pending part is an OCO). Plain legs go to the venue at once;
  every leg's order carries the group id as ``triggerId``.
- **Native** (``Capabilities.native_triggers``): a single contingent order whose venue holds that kind
  and reference is sent at once as the venue's conditional order (``SendOrder.native_trigger``) under
  its clOrderId, unless the request says ``emulate`` or the service runs with ``--emulateContingent``.
  Its order's updates (``pendingtrigger``, ``triggered``, then new / fills) drive its events; an amend
  of its price or qty and a cancel go to the venue; it fires at the venue, also while execx is down
  (the engine reconciles it by clOrderId after a restart).
- **Native groups** (``Capabilities.native_groups``, ``PlacesGroups``): a group whose venue holds its type
  and legs (Pulse's OTO / OTOCO linked orders, Binance spot's order lists, OKX's oco) is placed in one venue
  request (``OrderEngine.send_group``, every leg journaled first as an order of the engine); the venue links
  the legs, so the group rules above
  do not act on it (``Group.native``): its legs' events follow their orders (``_on_native``); cancel goes to
  the venue as a group; after a restart the connector learns the legs (``restore_group``) and they are asked
  for again by clOrderId. A leg's ``emulate`` or ``--emulateContingent`` emulates the group.
- **Kill switch** (any scope, also MMP's trip): ``kill_session`` disarms the session's armed and held ones
  (``cancelled``, ``kill switch engaged``) before the switch pulls its open orders; nothing is re-armed on
  release. A session restored while a switch covering it is engaged is disarmed the same way.
- **Restart**: the row is read back when the session is live again (``runtime.Restorer``). An armed order
  whose clOrderId the session already knows fired just before the restart: it is tracked as triggered. A
  triggered one whose order never reached the journal is sent now. The others are re-armed and the first
  reference price after start-up is checked against the level with the gap-through rule: a level crossed
  while execx was down fires at once. Before that, armed ``last`` ones are replayed over the venue's public
  trades since their journaled ``seenMs`` (``TradeHistory``; a crossing that reverted fires at start-up; no
  evidence, no firing: ``missedWindowUnknown``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ..connectors.base import HoldsTriggers, PlacesGroups, TradeHistory
from ..domain.enums import Exchange, OrderStatus, OrderType, Side, TimeInForce, TransactionType
from ..domain.errors import AlreadyExists, FailedPrecondition, InvalidTransition, NotFound, Unavailable, ValidationError
from ..domain.venue import GroupRequest, NativeTrigger, VenueError
from ..engine.risk import RiskRefused
from ..engine.sessions import OrderEngine, SendOrder, Session, order_request
from ..engine.tasks import Supervisor
from ..engine.updates import OrderUpdate
from ..marketdata.hub import MarketDataHub, MarketEvent, QuoteEvent, TradeEvent
from ..observability.metrics import Metrics
from .contingent_plan import Kind, Reference, TriggerState, observe, replay
from .runtime import ZERO, Restorer, Runner, RunnerState, Saved, order_from_json, order_json

log = logging.getLogger("execx.contingent")

KIND = "contingent"  # the journal row kind and the bus / journal event kind
MS_NS = 1_000_000
SEEN_SAVE_S = 1.0  # the watchers' last-seen print time is journaled at most this often (and at shutdown)
MISSED_UNKNOWN = "missedWindowUnknown"  # the event message's prefix: the down-time could not be checked
REACTIONS_KEPT = 10_000  # print -> send-call latencies kept for the benchmark (ns)
FINISHED_KEPT = 10_000  # single contingent orders no longer armed kept for queries and idempotent retries
ARMED, TRIGGERED, HELD = OrderStatus.PENDINGTRIGGER, OrderStatus.TRIGGERED, "held"
STOPPED_WHY = "order handler stopped"
KILLED_WHY = "kill switch engaged"
SEND_ERRORS = (FailedPrecondition, InvalidTransition, NotFound, ValidationError, VenueError)


class GroupType(StrEnum):
    OCO = "oco"
    OTO = "oto"
    OTOCO = "otoco"


LEGS = {GroupType.OCO: 2, GroupType.OTO: 2, GroupType.OTOCO: 3}


@dataclass(frozen=True, slots=True)
class Spec:
    """A contingent order's trigger as asked: kind, reference, level and trailing distance."""

    kind: Kind
    reference: Reference = Reference.LAST
    level: Decimal | None = None
    amount: Decimal | None = None
    percent: Decimal | None = None


@dataclass
class Contingent:
    """One contingent order (or a group's leg) and its state."""

    order: SendOrder  # the insert it sends (its trigger_id: the group id, if any)
    exchange: Exchange
    spec: Spec | None  # None: a group leg without a trigger (sent when released)
    status: OrderStatus = ARMED
    held: bool = False  # an OTO's pending leg: not armed until its working leg is filled
    group_id: str = ""
    state: TriggerState | None = None
    message: str = ""
    reference_price: Decimal = ZERO
    local_time: int = field(default_factory=time.time_ns)
    native: bool = False  # held by the venue: its order is the engine's from the start (``ContingentOrders``)
    # the last time (ms) its reference price was seen (armed, amended, released, or its watcher's last fresh
    # print): after a restart the venue's trade history is read from here (journaled ``seenMs``)
    seen_ms: int = field(default_factory=lambda: time.time_ns() // MS_NS)

    def __post_init__(self) -> None:
        if self.spec is not None and self.state is None:
            side = self.order.side or Side.BUY  # validated: an insert has its side
            self.state = TriggerState(self.spec.kind, side, self.spec.level, self.spec.amount, self.spec.percent)

    @property
    def key(self) -> tuple[str, str]:
        return (self.order.session_id, self.order.cl_order_id)

    @property
    def sent(self) -> bool:
        """Its order went to the engine (or it is a plain leg sent at once, or it is native)."""
        return self.status is TRIGGERED or self.native

    def to_json(self) -> dict[str, Any]:
        o, s = self.order, self.spec
        return {
            **order_json(o),
            "exchange": self.exchange.value,
            "groupId": self.group_id,
            "status": self.status.value,
            "held": self.held,
            "spec": None
            if s is None
            else {
                "kind": s.kind.value,
                "reference": s.reference.value,
                "level": _s(s.level),
                "amount": _s(s.amount),
                "percent": _s(s.percent),
            },
            "trigger": None if self.state is None else {"level": _s(self.state.level), "best": _s(self.state.best)},
            "native": self.native,
            "seenMs": self.seen_ms,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], session_id: str) -> Contingent:
        order = order_from_json(d, session_id, d["groupId"])
        s = d["spec"]
        spec = (
            None
            if s is None
            else Spec(Kind(s["kind"]), Reference(s["reference"]), _d(s["level"]), _d(s["amount"]), _d(s["percent"]))
        )
        c = cls(order, Exchange(d["exchange"]), spec, OrderStatus(d["status"]), bool(d["held"]), d["groupId"])
        c.native = bool(d.get("native", False))
        c.seen_ms = int(d.get("seenMs", 0))  # 0: a row journaled before it was kept (window unknown)
        if c.state is not None and d["trigger"] is not None:
            c.state = replace(c.state, level=_d(d["trigger"]["level"]), best=_d(d["trigger"]["best"]))
        return c

    def update(self, status: OrderStatus, transaction: TransactionType) -> OrderUpdate:
        """The order transaction that answers a request about it before its order is sent."""
        o = self.order
        qty = o.qty or ZERO
        return OrderUpdate(
            session_id=o.session_id,
            exchange=self.exchange,
            symbol=o.symbol,
            cl_order_id=o.cl_order_id,
            exch_order_id="",
            message=self.message,
            trade_id="",
            local_time=time.time_ns(),
            exch_time=0,
            send_time=0,
            price=o.price or ZERO,
            qty=qty,
            cumulative_filled_qty=ZERO,
            executed_qty=ZERO,
            remaining_qty=ZERO if status.is_final else qty,
            order_type=o.order_type or OrderType.MARKET,  # validated: an insert has its type
            order_status=status,
            transaction_type=transaction,
            tif=o.tif or TimeInForce.GTC,
            side=o.side or Side.BUY,
            trade_liquidity=None,
            trigger_id=o.trigger_id,
            order_price=o.price or ZERO,
            order_qty=qty,
        )


def record(c: Contingent) -> dict[str, Any]:
    """A contingent order's state as its events carry it (kind ``contingent``; decimals as strings)."""
    o, s, st = c.order, c.spec, c.state
    return {
        "sessionId": o.session_id,
        "clOrderId": o.cl_order_id,
        "groupId": c.group_id,
        "status": c.status.value,
        "exchange": c.exchange.value,
        "symbol": o.symbol,
        "side": o.side.value if o.side else "",
        "orderType": o.order_type.value if o.order_type else "",
        "price": str(o.price or ZERO),
        "qty": str(o.qty or ZERO),
        "triggerKind": s.kind.value if s else "",
        "triggerReference": s.reference.value if s else "",
        "triggerPrice": str(st.level) if st is not None and st.level is not None else "0",
        "referencePrice": str(c.reference_price),
        "message": c.message,
        "localTime": time.time_ns(),
        "native": c.native,
    }


def _s(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


def _d(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)


@dataclass
class Group:
    group_id: str
    session_id: str
    type: GroupType
    legs: list[str]  # clOrderIds, in the order of the group type: working first (OTO / OTOCO)
    native: bool = False  # placed as one linked group at the venue (``PlacesGroups``): the venue links the legs

    def to_json(self) -> dict[str, Any]:
        return {"groupId": self.group_id, "type": self.type.value, "legs": self.legs, "native": self.native}

    def oco_siblings(self, cl: str) -> list[str]:
        """The legs one fill (or trigger) of ``cl`` cancels."""
        if self.type is GroupType.OCO:
            return [x for x in self.legs if x != cl]
        if self.type is GroupType.OTOCO and cl in self.legs[1:]:
            return [x for x in self.legs[1:] if x != cl]
        return []

    def pending_of(self, cl: str) -> list[str]:
        """The legs the complete fill of ``cl`` releases (OTO / OTOCO: the working leg's)."""
        if self.type in (GroupType.OTO, GroupType.OTOCO) and cl == self.legs[0]:
            return self.legs[1:]
        return []


class Watcher(Runner):
    """The armed contingent orders of one (session, exchange, symbol), on the hub's feed of that symbol."""

    algorithm = "contingent"
    market_first = True  # a print that fires a stop is acted on before it is forwarded to the streams

    def __init__(self, owner: ContingentOrders, session_id: str, exchange: Exchange, symbol: str) -> None:
        super().__init__(owner.engine, owner.hub, owner.metrics, session_id, exchange, symbol)
        self.owner = owner
        self.armed: list[Contingent] = []
        self.seen_ms = 0  # the last fresh print's time (venue time, ms): journaled as its armed ones' seenMs
        self.saved_seen_ms = 0

    def _on_market(self, event: MarketEvent) -> None:
        if not self.armed:
            return
        seen = 0
        if isinstance(event, TradeEvent):
            ref, price = Reference.LAST, event.trade.price
            seen = (event.trade.exch_time_ns or event.local_ns) // MS_NS
        elif isinstance(event, QuoteEvent):
            q = event.quote
            if not q.bid or not q.ask:
                return
            ref, price = Reference.MARK, (q.bid + q.ask) / 2
        else:
            return
        if not self.fresh() or self.state is not RunnerState.RUNNING:
            return  # a stale feed fires nothing; the next fresh price beyond the level does (gap-through)
        if seen:
            self.seen_ms = seen
        hit = []
        for c in self.armed:
            if c.spec is None or c.spec.reference is not ref or c.state is None:
                continue
            fires, c.state = observe(c.state, price)
            if fires:
                hit.append(c)
        for c in hit:
            self.armed.remove(c)
            c.status, c.reference_price, c.message = TRIGGERED, price, ""
        if hit:
            self.owner.fired(self, hit, event.local_ns)


class ContingentOrders:
    """Every contingent order and group, per session."""

    def __init__(self, engine: OrderEngine, hub: MarketDataHub, metrics: Metrics, emulate: bool = False) -> None:
        self.engine = engine
        self.emulate = emulate  # --emulateContingent: never native
        self.hub = hub
        self.metrics = metrics
        self.orders: dict[tuple[str, str], Contingent] = {}  # (session, clOrderId) -> contingent / leg
        self.groups: dict[tuple[str, str], Group] = {}  # (session, groupId) -> group
        self.watchers: dict[tuple[str, Exchange, str], Watcher] = {}
        self.saved = Saved(engine.journal, KIND)
        self.tasks = Supervisor("contingent")
        self.reactions: deque[int] = deque(maxlen=REACTIONS_KEPT)
        self.finished: deque[tuple[str, str]] = deque()  # single ones no longer armed, oldest first
        self._lock = asyncio.Lock()
        self.stopped: set[str] = set()  # sessions whose order handler was stopped: nothing of them is saved
        self._seen_loop: asyncio.Task[Any] | None = None
        engine.observers.append(self._on_update)
        engine.risk.kill_hooks.append(self.kill_session)
        self.restorer = Restorer(engine, self.saved, self._restore, self.tasks, metrics)
        # the saved native groups of each detached session, taught to its connector before the engine's
        # reconciliation asks the venue for their legs (``_learn_native_groups``)
        self._native_saved: dict[str, list[dict[str, Any]]] = {}
        for sid, rows in self.restorer.pending.items():
            native = [d for _, config in rows for d in config.get("groups", []) if d.get("native")]
            if native:
                self._native_saved[sid] = native
        engine.resume_hooks.append(self._learn_native_groups)

    # ------------------------------------------------------------------ lookups

    def get(self, session_id: str, cl_order_id: str) -> Contingent | None:
        return self.orders.get((session_id, cl_order_id))

    def group_of(self, session_id: str, trigger_id: str) -> str:
        """``trigger_id`` if it names a group of the session (an order update's groupId), else ''."""
        return trigger_id if trigger_id and (session_id, trigger_id) in self.groups else ""

    def group(self, session_id: str, group_id: str) -> Group:
        g = self.groups.get((session_id, group_id))
        if g is None:
            raise NotFound(f"no order group {group_id!r} in session {session_id!r}")
        return g

    def leg_update(self, c: Contingent) -> OrderUpdate:
        """A leg's latest state: its order's once sent, else its contingent state."""
        session = self.engine.sessions.get(c.order.session_id)
        order = session.orders.get(c.order.cl_order_id) if session is not None and c.sent else None
        if order is not None:
            return OrderUpdate.of(order, TransactionType.INSERT, time.time_ns())
        return c.update(c.status, TransactionType.INSERT)

    def retire(self, c: Contingent) -> None:
        """``c`` is no longer armed: a single one is forgotten once ``FINISHED_KEPT`` newer ones ended (its
        order, if sent, is the engine's; memory stays bounded). Group legs live as long as their group."""
        if c.group_id:
            return
        self.finished.append(c.key)
        while len(self.finished) > FINISHED_KEPT:
            old = self.orders.get(self.finished.popleft())
            if old is not None and old.status is not ARMED:
                del self.orders[old.key]

    def done(self, g: Group) -> bool:
        return all(self.leg_update(self.orders[(g.session_id, cl)]).order_status.is_final for cl in g.legs)

    # ------------------------------------------------------------------ persistence and events

    def save(self, session_id: str) -> None:
        """Rewrite the session's row: its contingent orders not yet final and its groups not yet done."""
        groups = [g for (sid, _), g in self.groups.items() if sid == session_id and not self.done(g)]
        in_groups = {cl for g in groups for cl in g.legs}
        live = [
            c
            for (sid, cl), c in self.orders.items()
            if sid == session_id and (not c.status.is_final or cl in in_groups)
        ]
        if (not live and not groups) or session_id in self.stopped:
            self.saved.drop(session_id)
            return
        for c in live:
            w = self.watchers.get((session_id, c.exchange, c.order.symbol))
            if w is not None and c in w.armed:
                c.seen_ms = max(c.seen_ms, w.seen_ms)
        for (sid, _, _), w in self.watchers.items():
            if sid == session_id:
                w.saved_seen_ms = w.seen_ms
        self.saved.save(
            session_id, session_id, {"orders": [c.to_json() for c in live], "groups": [g.to_json() for g in groups]}
        )

    def publish(self, c: Contingent) -> None:
        session = self.engine.sessions.get(c.order.session_id)
        if session is not None:
            session.bus.publish(KIND, record(c))

    def listed(self, session_id: str, symbol: str, include_finished: bool) -> list[dict[str, Any]]:
        """The session's contingent orders (``record`` shape), armed ones only unless ``include_finished``."""
        self.engine.session(session_id)
        return [
            record(c)
            for (sid, _), c in sorted(self.orders.items())
            if sid == session_id
            and (not symbol or c.order.symbol == symbol)
            and (include_finished or c.status is ARMED)
        ]

    # ------------------------------------------------------------------ arming

    def check_unused(self, session_id: str, cl: str, field_name: str) -> None:
        session = self.engine.session(session_id)
        if (session_id, cl) in self.orders or session.store.get(cl) is not None:
            raise AlreadyExists(f"{field_name}: {cl!r} is already used (by an order or a contingent order)")

    def validate(self, order: SendOrder, spec: Spec | None, index_ok: bool = False) -> tuple[SendOrder, Exchange]:
        """Everything ``sendOrder`` checks of the insert it will send, and the trigger (nothing sent)."""
        if order.session_id in self.stopped:
            raise FailedPrecondition(f"session {order.session_id!r} is stopped; session ids cannot be reused")
        _, connector = self.engine.live_session(order.session_id)
        order = replace(order, transaction_type=TransactionType.INSERT)
        self.engine._validate_insert(connector, order)  # exactly sendOrder's checks
        if spec is not None:
            check_spec(spec, order, index_ok)
        return order, connector.exchange

    def check_risk(self, order: SendOrder, spec: Spec | None, leg: str = "") -> None:
        """The session's pre-trade limits and kill switch, at arm time (RiskRefused, FAILED_PRECONDITION, nothing
        armed): every check of a plain insert but the order rate (arming sends nothing), with the order valued
        (notional) and banded (a limit price) against its trigger price, the price the market will be at
        when it fires; without one (a plain leg, a trailing stop from the market) against the mid, as a plain
        order. ``leg``: a group leg's name in the message (``orders[i]``). Checked again when it is sent."""
        session, connector = self.engine.live_session(order.session_id)
        o = self.engine._validate_insert(connector, order)
        at = spec.level if spec is not None and spec.level is not None else None
        reference = at if at is not None else self.engine.reference_price(connector.exchange, o.symbol)
        try:
            self.engine.risk.check_insert(session, o, reference, rate=False)
        except RiskRefused as e:
            if not leg:
                raise
            raise RiskRefused(e.limit, f"{leg} ({order.cl_order_id}): {e.reason}") from None

    async def watcher(self, session_id: str, exchange: Exchange, symbol: str) -> Watcher:
        key = (session_id, exchange, symbol)
        w = self.watchers.get(key)
        if w is None:
            w = Watcher(self, session_id, exchange, symbol)
            await w.start()
            self.watchers[key] = w
            if self._seen_loop is None:
                self._seen_loop = self.tasks.spawn(self._journal_seen(), "contingent/seen")
        return w

    async def _journal_seen(self) -> None:
        """Every ``SEEN_SAVE_S``: the rows of the sessions whose armed orders saw a fresh print since their last
        save are saved again (their ``seenMs``; a restart reads the venue's trades from there)."""
        while True:
            await asyncio.sleep(SEEN_SAVE_S)
            moved = {sid for (sid, _, _), w in self.watchers.items() if w.armed and w.seen_ms > w.saved_seen_ms}
            for sid in moved:
                self.save(sid)

    async def arm(self, c: Contingent) -> None:
        """Put ``c`` on its symbol's watcher (a held leg waits off it); registered only once it is armed (the
        feed's subscription can fail: nothing is then kept)."""
        if c.held or c.spec is None:
            self.orders[c.key] = c
            return
        w = await self.watcher(c.order.session_id, c.exchange, c.order.symbol)
        self.orders[c.key] = c
        if c not in w.armed:
            w.armed.append(c)

    def disarm(self, c: Contingent) -> None:
        w = self.watchers.get((c.order.session_id, c.exchange, c.order.symbol))
        if w is not None and c in w.armed:
            w.armed.remove(c)

    def native_trigger(self, order: SendOrder, spec: Spec, emulate: bool) -> NativeTrigger | None:
        """The trigger to send with ``order`` when its venue holds ``spec`` natively, else None (emulated):
        never with ``emulate`` (the request's) or ``--emulateContingent``."""
        if emulate or self.emulate:
            return None
        _, connector = self.engine.live_session(order.session_id)
        caps = connector.capabilities
        if spec.kind.value not in caps.native_triggers or spec.reference.value not in caps.native_references:
            return None
        if order.order_type is OrderType.POSTONLY and not caps.native_postonly:
            return None
        if spec.kind is Kind.TRAILINGSTOP:
            way = "amount" if spec.amount is not None else "percent"
            if way not in caps.native_trailing:
                return None
        trigger = native_of(spec)
        why = ""
        if isinstance(connector, HoldsTriggers) and order.side is not None:
            why = connector.holds_trigger(order.symbol, order.side, trigger)
        if why:
            log.info("contingent.emulated", extra={"clOrderId": order.cl_order_id, "why": why})
            return None
        return trigger

    async def submit(self, order: SendOrder, spec: Spec, emulate: bool = False) -> OrderUpdate:
        """A contingent ``sendOrder`` insert: validated, journaled, armed (or sent to the venue as its own
        conditional order, native); the same request again answers its state (idempotent), another one
        under its clOrderId is ALREADY_EXISTS."""
        async with self._lock:
            existing = self.get(order.session_id, order.cl_order_id)
            order, exchange = self.validate(order, spec, index_ok=True)  # refused below unless native
            if existing is not None:
                if (replace(existing.order, trigger_id=""), existing.spec) != (order, spec):
                    raise AlreadyExists(f"clOrderId: {order.cl_order_id!r} is used by another contingent order")
                return self.leg_update(existing)
            self.check_unused(order.session_id, order.cl_order_id, "clOrderId")
            self.check_risk(order, spec)
            trigger = self.native_trigger(order, spec, emulate)
            if trigger is None:
                check_spec(spec, order)
            c = Contingent(order, exchange, spec, native=trigger is not None)
            if trigger is not None:
                self.orders[c.key] = c
                self.save(order.session_id)
        if trigger is not None:
            log.info("contingent.native", extra={"clOrderId": order.cl_order_id, "kind": spec.kind.value})
            return await self._send_native(c, trigger)
        async with self._lock:
            await self.arm(c)
            self.save(order.session_id)
            self.publish(c)
            log.info("contingent.armed", extra={"clOrderId": order.cl_order_id, "kind": spec.kind.value})
            return c.update(ARMED, TransactionType.INSERT)

    async def amend(self, c: Contingent, price: Decimal | None, qty: Decimal | None, spec: Spec | None) -> OrderUpdate:
        """Re-arm an armed (or held) contingent order with a new price, qty and / or trigger."""
        g = self.groups.get((c.order.session_id, c.group_id)) if c.group_id else None
        if g is not None and g.native:
            self._check_native_amend(g, c, price, qty, spec)
        if c.native:
            return await self._amend_native(c, price, qty, spec)
        async with self._lock:
            if c.status is not ARMED:
                raise FailedPrecondition(f"clOrderId: {c.order.cl_order_id!r} is {c.status.value}, not armed")
            order = replace(c.order, price=price if price is not None else c.order.price, qty=qty or c.order.qty)
            new_spec = spec or c.spec
            order, _ = self.validate(order, new_spec)
            self.check_risk(order, new_spec)
            self.disarm(c)
            c.order, c.spec, c.state, c.message = order, new_spec, None, "amended"
            c.seen_ms = time.time_ns() // MS_NS  # earlier prints were measured against the old trigger
            c.__post_init__()
            await self.arm(c)
            self.save(order.session_id)
            self.publish(c)
            return c.update(ARMED, TransactionType.UPDATE)

    async def _send_native(self, c: Contingent, trigger: NativeTrigger) -> OrderUpdate:
        """Send a native one's order with its trigger; a refusal before it reached the venue ends it
        ``rejected`` (the venue's refusal comes back as its order's update)."""
        try:
            return await self.engine.send(replace(c.order, native_trigger=trigger))
        except SEND_ERRORS as e:
            if c.status is ARMED:
                c.status, c.message = OrderStatus.REJECTED, str(e)
                self.publish(c)
                self.retire(c)
                self.save(c.order.session_id)
            raise

    async def _amend_native(
        self, c: Contingent, price: Decimal | None, qty: Decimal | None, spec: Spec | None
    ) -> OrderUpdate:
        """A native one's price and qty are amended at the venue (its order's update answers); its trigger
        price too where the venue amends it (``AmendsTriggers``: Pulse), else its trigger stays as the venue
        holds it (an amend of it is FAILED_PRECONDITION)."""
        trigger = None
        if spec is not None and spec != c.spec:
            trigger = self._amended_trigger(c, spec)
        o = c.order
        update = await self.engine.send(
            SendOrder(
                o.session_id,
                TransactionType.UPDATE,
                o.cl_order_id,
                o.symbol,
                price=price,
                qty=qty,
                native_trigger=trigger,
            )
        )
        if trigger is not None and spec is not None:
            session, _ = self.engine.live_session(o.session_id)
            held = session.orders.get(o.cl_order_id)
            if held is not None and held.native_trigger == trigger:  # the venue took it
                c.spec, c.message = spec, "trigger amended at the venue"
                self.save(o.session_id)
                self.publish(c)
        return update

    def _amended_trigger(self, c: Contingent, spec: Spec) -> NativeTrigger:
        """The held order's new trigger: its price only (same kind, reference and trailing distance), where
        the venue amends it; anything else is FAILED_PRECONDITION."""
        _, connector = self.engine.live_session(c.order.session_id)
        amends = connector.capabilities.native_trigger_amend
        old = c.spec
        if (
            not amends
            or old is None
            or spec.level is None
            or (spec.kind, spec.reference, spec.amount, spec.percent)
            != (old.kind, old.reference, old.amount, old.percent)
        ):
            raise FailedPrecondition(
                f"clOrderId: {c.order.cl_order_id!r} is held by the venue: its trigger cannot be amended here; "
                "cancel it and send it again (or send it with emulate)"
                + ("; this venue amends its trigger price only" if amends else "")
            )
        check_spec(spec, c.order, index_ok=True)
        return native_of(spec)

    async def cancel(self, c: Contingent, why: str = "cancelled") -> OrderUpdate:
        """Disarm an armed or held contingent order (cancelled); a sent one is the engine's. A native one is
        cancelled at the venue (its order's update answers; its event follows the venue's cancel)."""
        if c.status is not ARMED:
            raise FailedPrecondition(f"clOrderId: {c.order.cl_order_id!r} is {c.status.value}, not armed")
        if c.native:
            c.message = why
            try:
                return await self.engine.send(
                    SendOrder(c.order.session_id, TransactionType.DELETE, c.order.cl_order_id, c.order.symbol)
                )
            except SEND_ERRORS as e:
                if why not in (STOPPED_WHY, KILLED_WHY):
                    raise
                # StopOrderHandler and the kill switch go on: the order stays the engine's (and the venue's) to
                # reconcile; the kill switch's pull tries it again
                log.warning(
                    "contingent.native_cancel_failed", extra={"clOrderId": c.order.cl_order_id, "error": str(e)}
                )
                return c.update(c.status, TransactionType.DELETE)
        self.disarm(c)
        c.status, c.message = OrderStatus.CANCELLED, why
        self.retire(c)
        self.save(c.order.session_id)
        self.publish(c)
        return c.update(OrderStatus.CANCELLED, TransactionType.DELETE)

    async def stop_session(self, session_id: str) -> int:
        """``StopOrderHandler``: disarm every armed or held contingent order of the session (each one
        ``cancelled``, message ``order handler stopped``, journaled and published), stop watching its feeds
        (a fire already decided finishes its send: its order is the engine's, and the stop's
        ``cancelOpenOrders`` pull comes after this) and drop its journal row, so nothing fires after the
        handler stopped and a restart re-arms nothing. Rows of a session a restart left detached (not
        restored yet) are cancelled the same way (not its native ones: with no connection they stay at the
        venue, as its open orders do). A native one of a live session is cancelled at the venue (``cancel``).
        Returns how many were disarmed."""
        self.stopped.add(session_id)
        async with self._lock:
            hit = [c for (sid, _), c in self.orders.items() if sid == session_id and c.status is ARMED]
            for c in hit:
                await self.cancel(c, STOPPED_WHY)
            for _key, config in self.restorer.pending.pop(session_id, []):
                for d in config["orders"]:
                    c = Contingent.from_json(d, session_id)
                    if c.status is ARMED and not c.native:  # a native one is the venue's: no connection to cancel
                        c.status, c.message = OrderStatus.CANCELLED, STOPPED_WHY
                        self.orders[c.key] = c
                        self.retire(c)
                        self.publish(c)
                        hit.append(c)
        for key in [k for k in self.watchers if k[0] == session_id]:
            w = self.watchers.pop(key)
            w.detach()
            await w.tasks.wait()
            await w.tasks.close()
        self.saved.drop(session_id)
        if hit:
            log.info("contingent.stopped", extra={"session": session_id, "disarmed": len(hit)})
        return len(hit)

    async def kill_session(self, session: Session, native: bool = False) -> list[str]:
        """A kill switch covering ``session`` was engaged (``RiskControl.kill_hooks``, run before its open orders
        are pulled): every armed or held contingent order of the session is disarmed as ``StopOrderHandler``
        does (``cancelled``, message ``kill switch engaged``, journaled and published), so nothing fires while
        the switch is on and releasing it re-arms nothing. A native one is an open order of the session: the
        switch's pull cancels it at the venue (its event follows that cancel, with this message); ``native``
        cancels it here instead (a session restored while a switch is engaged: no pull comes). Rows of a
        session a restart left detached are rewritten the same way (not its native ones: with no connection
        they stay at the venue, as its open orders do). The clOrderIds disarmed or sent a cancel here."""
        sid = session.session_id
        if sid in self.stopped:
            return []
        hit: list[Contingent] = []
        async with self._lock:
            for c in [c for (s, _), c in self.orders.items() if s == sid and c.status is ARMED]:
                if c.status is not ARMED:  # fired (or cancelled) meanwhile
                    continue
                if c.native and not native:
                    c.message = KILLED_WHY  # its cancelled event's message once the pull cancelled it
                    continue
                await self.cancel(c, KILLED_WHY)
                hit.append(c)
            for key, config in self.restorer.pending.get(sid, []):
                detached = []
                for d in config["orders"]:
                    c = Contingent.from_json(d, sid)
                    if c.status is ARMED and not c.native:
                        d["status"] = OrderStatus.CANCELLED.value
                        c.status, c.message = OrderStatus.CANCELLED, KILLED_WHY
                        self.publish(c)
                        detached.append(c)
                if detached:  # restored as cancelled when the session starts again
                    self.saved.save(key, sid, config)
                    hit.extend(detached)
        if hit:
            log.warning("contingent.killed", extra={"session": sid, "disarmed": len(hit)})
        return [c.order.cl_order_id for c in hit]

    async def cancel_symbol(self, session_id: str, symbol: str, why: str = "pulled") -> list[str]:
        """A pull (``symbol``) or ``CancelAllOrders`` (``symbol`` empty: every symbol): every armed or held
        contingent order of the session there is disarmed; their clOrderIds."""
        hit = [
            c
            for (sid, _), c in self.orders.items()
            if sid == session_id
            and (not symbol or c.order.symbol == symbol)
            and c.status is ARMED
            and not c.native  # native ones are open orders of the session: the pull cancels them at the venue
        ]
        for c in hit:
            if c.status is ARMED:  # not fired meanwhile
                await self.cancel(c, why)
        return [c.order.cl_order_id for c in hit]

    # ------------------------------------------------------------------ groups

    async def submit_group(
        self,
        session_id: str,
        group_id: str,
        gtype: GroupType,
        legs: list[tuple[SendOrder, Spec | None]],
        emulate: bool = False,
    ) -> Group:
        """Validate every leg (fields named ``orders[i].``), then register, journal, arm and send. Native (one
        linked group at the venue, ``_submit_native_group``) where the session's connector holds this group as
        it is, unless ``emulate`` (a leg's ``emulate``) or ``--emulateContingent``."""
        if not group_id:
            raise ValidationError("groupId", "is required")
        if len(legs) != LEGS[gtype]:
            raise ValidationError("orders", f"an {gtype.value} group has {LEGS[gtype]} legs, not {len(legs)}")
        async with self._lock:
            self.engine.session(session_id)
            if (session_id, group_id) in self.groups:
                raise AlreadyExists(f"groupId: {group_id!r} is already used in session {session_id!r}")
            made = self._group_legs(session_id, group_id, gtype, legs)
            native = self._native_group(session_id, group_id, gtype, made, emulate)
            if native is not None:
                g = Group(group_id, session_id, gtype, [c.order.cl_order_id for c in native], native=True)
                self.groups[(session_id, group_id)] = g
                for c in native:
                    self.orders[c.key] = c
                self.save(session_id)
            else:
                for c in made:  # every feed a leg will watch, before anything is registered (a subscription can fail)
                    if c.spec is not None:
                        await self.watcher(session_id, c.exchange, c.order.symbol)
                g = Group(group_id, session_id, gtype, [c.order.cl_order_id for c in made])
                self.groups[(session_id, group_id)] = g
                for c in made:
                    await self.arm(c)
                self.save(session_id)
                for c in made:
                    self.publish(c)
        if native is not None:
            await self._submit_native_group(g, native)
            log.info("contingent.group", extra={"groupId": group_id, "type": gtype.value, "native": True})
            return g
        plain = [c for c in made if c.spec is None and not c.held]
        if plain:
            await asyncio.gather(*(self.send(c) for c in plain))
        log.info("contingent.group", extra={"groupId": group_id, "type": gtype.value})
        return g

    def _native_group(
        self, session_id: str, group_id: str, gtype: GroupType, made: list[Contingent], emulate: bool
    ) -> list[Contingent] | None:
        """The legs as a native group's (each a native leg: its order the engine's from the start, a trigger leg
        sent with its trigger) when the session's connector holds this group (``Capabilities.native_groups``,
        ``PlacesGroups.holds_group``) and nothing forces emulation; else None (emulated)."""
        if emulate or self.emulate:
            return None
        _, connector = self.engine.live_session(session_id)
        if gtype.value not in connector.capabilities.native_groups or not isinstance(connector, PlacesGroups):
            return None
        legs = []
        for c in made:
            order = c.order if c.spec is None else replace(c.order, native_trigger=native_of(c.spec))
            leg = Contingent(order, c.exchange, c.spec, held=c.held, group_id=c.group_id, native=True)
            if c.spec is None and not c.held:
                leg.status, leg.message = TRIGGERED, "a plain leg: sent with its group"
            legs.append(leg)
        request = GroupRequest(
            group_id,
            gtype.value,
            tuple(order_request(connector, self.engine._validate_insert(connector, c.order)) for c in legs),
        )
        why = connector.holds_group(request)
        if why:
            log.info("contingent.group_emulated", extra={"groupId": group_id, "why": why})
            return None
        return legs

    async def _submit_native_group(self, g: Group, legs: list[Contingent]) -> None:
        """Place the group at the venue in one request (``OrderEngine.send_group``; every leg journaled first).
        From here the venue links the legs: their events follow their orders' updates (``_on_native``). A
        refusal before it reached the venue ends the held legs ``rejected`` and is the call's error."""
        orders = [c.order if c.spec is None else replace(c.order, native_trigger=native_of(c.spec)) for c in legs]
        try:
            await self.engine.send_group(g.group_id, g.type.value, orders)
        except (*SEND_ERRORS, AlreadyExists, Unavailable) as e:  # refused before anything reached the venue
            for c in legs:
                if c.status is ARMED:
                    c.status, c.message = OrderStatus.REJECTED, str(e)
                    self.publish(c)
            if all(self.engine.session(g.session_id).store.get(cl) is None for cl in g.legs):
                self.groups.pop((g.session_id, g.group_id), None)  # nothing was registered: the id is free again
                for c in legs:
                    self.orders.pop(c.key, None)
            self.save(g.session_id)
            raise

    def _group_legs(
        self, session_id: str, group_id: str, gtype: GroupType, legs: list[tuple[SendOrder, Spec | None]]
    ) -> list[Contingent]:
        made: list[Contingent] = []
        seen: set[str] = set()
        for i, (order, spec) in enumerate(legs):
            if order.transaction_type not in (None, TransactionType.INSERT):
                raise ValidationError(f"orders[{i}].transactionType", "a group's legs are inserts")
            order = replace(order, session_id=session_id, trigger_id=group_id)
            try:
                order, exchange = self.validate(order, spec)
            except ValidationError as e:
                raise ValidationError(f"orders[{i}].{e.field}", e.reason) from None
            if order.cl_order_id in seen:
                raise AlreadyExists(f"orders[{i}].clOrderId: {order.cl_order_id!r} is used twice")
            self.check_unused(session_id, order.cl_order_id, f"orders[{i}].clOrderId")
            self.check_risk(order, spec, f"orders[{i}]")
            seen.add(order.cl_order_id)
            held = gtype is not GroupType.OCO and i > 0
            c = Contingent(order, exchange, spec, held=held, group_id=group_id)
            if spec is None and not held:
                c.status, c.message = TRIGGERED, "a plain leg: sent with its group"
            made.append(c)
        if gtype is GroupType.OCO and all(c.spec is None for c in made):
            raise ValidationError("orders", "an oco group needs at least one contingent leg (triggerKind)")
        return made

    async def cancel_group(self, session_id: str, group_id: str) -> Group:
        g = self.group(session_id, group_id)
        if g.native:
            await self._cancel_native_group(g, "group cancelled")
            return g
        await asyncio.gather(*(self._cancel_leg(self.orders[(session_id, cl)], "group cancelled") for cl in g.legs))
        return g

    def cancels_group(self, c: Contingent) -> bool:
        """A cancel of ``c`` itself (``sendOrder`` delete) cancels its group: ``c`` is a leg of a group execx
        holds, and it can still be cancelled (armed, held, or its order open)."""
        if not c.group_id or (c.order.session_id, c.group_id) not in self.groups:
            return False
        if c.status is ARMED:
            return True
        session = self.engine.sessions.get(c.order.session_id)
        order = session.orders.get(c.order.cl_order_id) if session is not None and c.sent else None
        return order is not None and not order.status.is_final

    async def cancel_by_leg(self, c: Contingent) -> OrderUpdate:
        """A ``sendOrder`` delete (or ``OrderEntry`` / ``BatchSendOrders``) of one leg: the whole group is
        cancelled as ``CancelOrderGroup`` does (armed and held legs disarmed, live ones cancelled at the
        venue); the answer is that leg's, and its own refusal (if any) is the call's error."""
        g = self.group(c.order.session_id, c.group_id)
        cl = c.order.cl_order_id
        why = f"group cancelled: a cancel of its leg {cl}"
        if g.native:
            await self._cancel_native_group(g, why)
            log.info("contingent.group_cancelled", extra={"groupId": g.group_id, "by": cl, "native": True})
            return self.leg_update(c)
        own = (
            self.cancel(c, "cancelled")
            if c.status is ARMED
            else self.engine.send(SendOrder(c.order.session_id, TransactionType.DELETE, cl, c.order.symbol))
        )
        others = asyncio.gather(*(self._cancel_leg(self.orders[(g.session_id, x)], why) for x in g.legs if x != cl))
        try:
            return await own
        finally:
            await others
            log.info("contingent.group_cancelled", extra={"groupId": g.group_id, "by": cl})

    async def _cancel_native_group(self, g: Group, why: str) -> None:
        """A native group is cancelled at the venue (``OrderEngine.cancel_group``); its held legs' events
        follow the venue's cancels, with ``why``."""
        for cl in g.legs:
            c = self.orders.get((g.session_id, cl))
            if c is not None and c.status is ARMED:
                c.message = why
        await self.engine.cancel_group(g.session_id, g.group_id, g.type.value, g.legs)

    def native_group_of(self, c: Contingent) -> Group | None:
        """``c``'s group if it is a native one (placed at the venue as a linked group), else None."""
        g = self.groups.get((c.order.session_id, c.group_id)) if c.group_id else None
        return g if g is not None and g.native else None

    def check_leg_amend(self, c: Contingent, price: Decimal | None, qty: Decimal | None) -> None:
        """A ``sendOrder`` update of a leg of a native group already at the venue: FAILED_PRECONDITION where the
        venue does not amend its linked groups' orders (an amend there could break the link, e.g. a Binance
        cancel-replace); elsewhere the plain amend goes on."""
        g = self.native_group_of(c)
        if g is not None:
            self._check_native_amend(g, c, price, qty, None)

    def _check_native_amend(
        self, g: Group, c: Contingent, price: Decimal | None, qty: Decimal | None, spec: Spec | None
    ) -> None:
        """A native group's leg is amended only as its venue amends them: anything (``native_group_amend``), or a
        quantity decrease of a leg on the book (``native_group_qty_decrease``: Binance's order.amend.keepPriority;
        a cancel-replace would take the order out of its list); else FAILED_PRECONDITION saying so."""
        session, connector = self.engine.live_session(g.session_id)
        caps = connector.capabilities
        if caps.native_group_amend:
            return
        order = session.orders.get(c.order.cl_order_id)
        if (
            caps.native_group_qty_decrease
            and order is not None
            and order.status in (OrderStatus.NEW, OrderStatus.PARTIALLYFILLED)
            and price is None
            and (spec is None or spec == c.spec)
            and qty is not None
            and qty < order.qty
        ):
            return
        raise FailedPrecondition(
            f"groupId: {g.group_id!r} is held by {connector.exchange.value} as a linked order group, whose orders "
            + (
                "it amends by a quantity decrease of an order on the book only"
                if caps.native_group_qty_decrease
                else "it does not amend"
            )
            + "; cancel the group and send it again (or send it with emulate)"
        )

    async def _cancel_leg(self, c: Contingent, why: str) -> None:
        if c.status is ARMED:
            await self.cancel(c, why)
            return
        session = self.engine.sessions.get(c.order.session_id)
        order = session.orders.get(c.order.cl_order_id) if session is not None else None
        if order is not None and not order.status.is_final and order.status is not OrderStatus.PENDINGCANCEL:
            await self._engine_send(
                SendOrder(c.order.session_id, TransactionType.DELETE, c.order.cl_order_id, c.order.symbol)
            )

    async def amend_group(
        self, session_id: str, group_id: str, amends: list[tuple[str, Decimal | None, Decimal | None, Spec | None]]
    ) -> Group:
        """Amend the named legs together: armed ones re-armed, sent ones amended at the venue."""
        g = self.group(session_id, group_id)
        for i, (cl, _, _, _) in enumerate(amends):
            if cl not in g.legs:
                raise ValidationError(f"orders[{i}].clOrderId", f"{cl!r} is not a leg of group {group_id!r}")
        if g.native:
            for cl, price, qty, spec in amends:
                self._check_native_amend(g, self.orders[(session_id, cl)], price, qty, spec)
        for cl, price, qty, spec in amends:
            c = self.orders[(session_id, cl)]
            if c.status is ARMED:
                await self.amend(c, price, qty, spec)
            elif c.sent:
                await self.engine.send(
                    SendOrder(session_id, TransactionType.UPDATE, cl, c.order.symbol, price=price, qty=qty)
                )
        return g

    # ------------------------------------------------------------------ firing and reacting

    def fired(self, w: Watcher, hit: list[Contingent], print_ns: int) -> None:
        """Called by a watcher's listener with the contingent orders a price fired (already marked). Their
        ``triggered`` events are published by the task, just before the orders go: published here, their
        fan-out to the subscribers would run before the task (measured: ~0.5-1 ms more to the send)."""
        w.spawn(self._fire(hit, print_ns), "fire")

    async def _fire(self, hit: list[Contingent], print_ns: int) -> None:
        self.reactions.append(time.time_ns() - print_ns)
        for c in hit:
            self.publish(c)
        # the first order goes out inline (a task would cost a loop turn); the others concurrently
        others = asyncio.gather(*(self.send(c) for c in hit[1:])) if len(hit) > 1 else None
        await self.send(hit[0])
        if others is not None:
            await others
        for c in hit:
            self._linked_on_trigger(c)
            self.retire(c)
        self.save(hit[0].order.session_id)

    async def send(self, c: Contingent) -> None:
        """Send ``c``'s order; a refusal makes it rejected with the reason."""
        c.status = TRIGGERED
        try:
            await self.engine.send(c.order)
        except SEND_ERRORS as e:
            log.warning("contingent.send_failed", extra={"clOrderId": c.order.cl_order_id, "error": str(e)})
            self.metrics.algo_errors.labels("contingent", "send").inc()
            c.status, c.message = OrderStatus.REJECTED, str(e)
            self.publish(c)
            self._linked_on_end(c, filled=False)

    def _linked_on_trigger(self, c: Contingent) -> None:
        """An OCO leg fired: its siblings are cancelled."""
        g = self.groups.get((c.order.session_id, c.group_id)) if c.group_id else None
        if g is not None and not g.native:
            for cl in g.oco_siblings(c.order.cl_order_id):
                self._spawn(self._cancel_leg(self.orders[(g.session_id, cl)], f"oco: {c.order.cl_order_id} triggered"))

    def _linked_on_end(self, c: Contingent, filled: bool) -> None:
        """A leg's order ended: an OTO's pending legs are released (filled) or cancelled (not)."""
        g = self.groups.get((c.order.session_id, c.group_id)) if c.group_id else None
        if g is None or g.native:
            return
        for cl in g.pending_of(c.order.cl_order_id):
            leg = self.orders[(g.session_id, cl)]
            if filled:
                self._spawn(self._release(leg), f"release/{cl}")
            elif leg.status is ARMED:
                self._spawn(self.cancel(leg, f"oto: {c.order.cl_order_id} ended unfilled"), f"cancel/{cl}")

    def _oco_on_unfilled_end(self, c: Contingent, status: OrderStatus) -> None:
        """An OCO leg's order ended without a complete fill (cancelled by any path: a cancel, a pull, the
        kill switch, the venue; expired; rejected): its siblings are cancelled too (a fill already did)."""
        g = self.groups.get((c.order.session_id, c.group_id)) if c.group_id else None
        if g is None or g.native or status is OrderStatus.FILLED:
            return
        for cl in g.oco_siblings(c.order.cl_order_id):
            why = f"oco: {c.order.cl_order_id} {status.value}"
            self._spawn(self._cancel_leg(self.orders[(g.session_id, cl)], why), f"cancel/{cl}")

    async def _release(self, c: Contingent) -> None:
        if c.status is not ARMED or not c.held or c.native:
            return
        c.held = False
        c.seen_ms = time.time_ns() // MS_NS  # watched from now on
        if c.spec is None:
            await self.send(c)
        else:
            await self.arm(c)
            c.message = "released: its working leg filled"
            self.publish(c)
        self.save(c.order.session_id)

    def _spawn(self, coro: Any, name: str = "linked") -> None:
        try:
            self.tasks.spawn(coro, f"contingent/{name}")
        except RuntimeError:  # closing
            coro.close()

    def _on_native(self, c: Contingent, u: OrderUpdate) -> None:
        """A native contingent order's own order moved: its events follow the venue's states (held:
        ``pendingtrigger`` once acknowledged; it fired: ``triggered``; it ended before firing: cancelled or
        rejected with the venue's message)."""
        if c.status is not ARMED:
            return
        st = u.order_status
        if st is OrderStatus.PENDINGTRIGGER:
            if c.message != "held by the venue":
                c.message = "held by the venue"
                self.publish(c)
            return
        if st in (OrderStatus.PENDINGNEW, OrderStatus.PENDINGUPDATE, OrderStatus.PENDINGCANCEL):
            return
        if st in (TRIGGERED, OrderStatus.NEW, OrderStatus.PARTIALLYFILLED, OrderStatus.FILLED) or u.trade_id:
            c.status, c.held = TRIGGERED, False
            c.message = "released by the venue" if c.spec is None else "triggered at the venue"
        else:  # cancelled, expired or rejected before it fired
            c.status = OrderStatus.REJECTED if st is OrderStatus.REJECTED else OrderStatus.CANCELLED
            c.message = u.message or c.message or f"{st.value} at the venue"
        self.publish(c)
        self.retire(c)
        self._spawn(self._save_later(u.session_id), "save")

    def _on_update(self, u: OrderUpdate) -> None:
        """An order update of the engine: a native contingent order's events; the group rules for the legs'
        orders (not a native group's: the venue links its legs)."""
        if not u.trigger_id:
            c = self.orders.get((u.session_id, u.cl_order_id))
            if c is not None and c.native:
                self._on_native(c, u)
            return
        c = self.orders.get((u.session_id, u.cl_order_id))
        if c is not None and c.native:
            self._on_native(c, u)
            if u.order_status.is_final:
                self._spawn(self._save_later(u.session_id), "save")
            return
        c = self.orders.get((u.session_id, u.cl_order_id))
        if c is None or not c.group_id:
            return
        if u.trade_id:
            g = self.groups.get((u.session_id, c.group_id))
            if g is not None:
                for cl in g.oco_siblings(u.cl_order_id):
                    self._spawn(self._cancel_leg(self.orders[(g.session_id, cl)], f"oco: {u.cl_order_id} filled"))
        if u.order_status.is_final:
            self._linked_on_end(c, filled=u.order_status is OrderStatus.FILLED)
            self._oco_on_unfilled_end(c, u.order_status)
            self._spawn(self._save_later(u.session_id), "save")

    async def _save_later(self, session_id: str) -> None:
        self.save(session_id)

    async def _engine_send(self, req: SendOrder) -> None:
        try:
            await self.engine.send(req)
        except SEND_ERRORS as e:
            log.warning("contingent.linked_send_failed", extra={"clOrderId": req.cl_order_id, "error": str(e)})
            self.metrics.algo_errors.labels("contingent", "send").inc()

    # ------------------------------------------------------------------ restart

    async def _restore(self, key: str, session_id: str, config: dict[str, Any]) -> None:
        session = self.engine.session(session_id)
        restored = [Contingent.from_json(d, session_id) for d in config["orders"]]
        for d in config["groups"]:
            g = Group(d["groupId"], session_id, GroupType(d["type"]), list(d["legs"]), bool(d.get("native", False)))
            self.groups[(session_id, g.group_id)] = g
        resend = []
        resend_native = []
        check = []  # armed ones the venue's trade history is read for before they are armed again
        for c in restored:
            if c.native:
                self.orders[c.key] = c
                order = session.store.get(c.order.cl_order_id)
                if order is None and c.group_id:  # a native group's leg: the group is placed again as a whole
                    continue
                if order is None:  # journaled here, its order never reached the journal: send it now
                    resend_native.append(c)
                else:  # what its order did meanwhile (reconciled with the venue by clOrderId)
                    self._on_native(c, OrderUpdate.of(order, TransactionType.INSERT, time.time_ns()))
                continue
            known = session.store.get(c.order.cl_order_id) is not None
            if c.status is ARMED and known:
                c.status = TRIGGERED  # it fired just before the restart: its order exists (reconciled)
            if c.status is TRIGGERED and not known:
                resend.append(c)  # it fired, its order never reached the journal: send it now
            if c.status is ARMED and missed_checked(c):
                check.append(c)
                self.orders[c.key] = c
            elif c.status is ARMED:
                await self.arm(c)
            else:
                self.orders[c.key] = c
        fired = await self._rearm_checked(session_id, check)
        for c in resend:
            await self.send(c)
        await self._send_missed(fired)
        for c in resend_native:
            if c.spec is None:  # a native one always has its trigger
                continue
            try:
                await self._send_native(c, native_of(c.spec))
            except SEND_ERRORS as e:
                log.warning(
                    "contingent.native_resend_failed", extra={"clOrderId": c.order.cl_order_id, "error": str(e)}
                )
        await self._restore_groups(session)
        self.save(session_id)
        if self.engine.risk.kill_reason(session_id):  # engaged while it was detached: nothing stays armed
            await self.kill_session(session, native=True)

    async def _restore_groups(self, session: Session) -> None:
        """The restored session's groups: a native one's legs asked for again, an emulated one's rules applied."""
        for g in [g for (sid, _), g in self.groups.items() if sid == session.session_id]:
            if g.native:
                await self._restore_native_group(session, g)
            self._settle(g)

    async def _restore_native_group(self, session: Session, g: Group) -> None:
        """After a restart: a native group whose legs never reached the engine's journal (it journals them all
        before the venue request) is placed again; otherwise the connector learns how to find its legs
        (``PlacesGroups.restore_group``) and the legs not final are asked for again by clOrderId (what the
        venue did while execx was down: released, fired, filled, cancelled), their events following."""
        legs = [self.orders.get((g.session_id, cl)) for cl in g.legs]
        held = [c for c in legs if c is not None]
        orders = [session.store.get(cl) for cl in g.legs]
        if all(o is None for o in orders):
            if len(held) == len(g.legs):
                try:
                    await self._submit_native_group(g, held)
                except (*SEND_ERRORS, AlreadyExists, Unavailable) as e:
                    log.warning("contingent.native_group_resend_failed", extra={"groupId": g.group_id, "error": str(e)})
            return
        if not await self._learn_group(session, g.group_id, g.type, g.legs):
            return
        # not final, or called not sent by the engine's own reconciliation before the connector could find it
        live = [o.cl_order_id for o in orders if o is not None and (not o.status.is_final or o.not_sent)]
        try:
            if live:
                await self.engine.refresh(g.session_id, live)
        except (VenueError, NotFound) as e:
            log.warning("contingent.native_group_restore_failed", extra={"groupId": g.group_id, "error": str(e)})

    async def _learn_native_groups(self, session: Session) -> None:
        """``OrderEngine.resume_hooks``: before the engine's reconciliation asks the venue for a resumed session's
        open orders by clOrderId, its connector learns how to find the legs of the session's saved native groups
        (``PlacesGroups.restore_group``). A leg journaled ``pendingnew`` just before execx stopped (the venue's
        answer never came) is then found as the venue holds it: OKX knows an oco only under the algoClOrdId
        derived from the group, Pulse a secondary leg only by the order id its primary lists; asked for by its own
        clOrderId it would be found nowhere and ended ``rejected`` as not sent, while the venue holds it."""
        for d in self._native_saved.pop(session.session_id, []):
            await self._learn_group(session, str(d["groupId"]), GroupType(d["type"]), [str(x) for x in d["legs"]])

    async def _learn_group(self, session: Session, group_id: str, gtype: GroupType, legs: list[str]) -> bool:
        """The connector learns how to find a native group's legs the engine's journal has
        (``PlacesGroups.restore_group``, with their journaled venue ids; it may be told more than once). False if
        it could not be (no such connector, no leg in the journal, the venue's error: logged)."""
        connector = session.connector
        present = [o for o in (session.store.get(cl) for cl in legs) if o is not None]
        if not isinstance(connector, PlacesGroups) or not present:
            return False
        request = GroupRequest(group_id, gtype.value, tuple(order_request(connector, o) for o in present))
        try:
            await connector.restore_group(request, {o.cl_order_id: o.exch_order_id for o in present if o.exch_order_id})
        except VenueError as e:
            log.warning("contingent.native_group_restore_failed", extra={"groupId": group_id, "error": str(e)})
            return False
        return True

    async def _missed(self, session_id: str, check: list[Contingent]) -> list[Contingent]:
        """The armed ``last`` ones of a restored session against the venue's public trades printed while execx
        was down (from each one's ``seenMs`` until now; one read per symbol): those a trade crossed (a trailing
        stop's trail recomputed over them) are marked triggered, with the trade in their message, and answered.
        Fires only on evidence: a read that fails or cannot cover the whole window, or a venue without one,
        leaves them armed with an event ``missedWindowUnknown: ...`` (logged)."""
        if not check:
            return []
        _, connector = self.engine.live_session(session_id)
        now_ms = time.time_ns() // MS_NS
        fired: list[Contingent] = []
        by_symbol: dict[str, list[Contingent]] = {}
        for c in check:
            by_symbol.setdefault(c.order.symbol, []).append(c)
        for symbol, cs in by_symbol.items():
            unknown = [c for c in cs if c.seen_ms <= 0]
            cs = [c for c in cs if c.seen_ms > 0]
            self._unknown(unknown, "the time its price was last seen was not journaled")
            if not cs:
                continue
            if not isinstance(connector, TradeHistory):
                self._unknown(cs, f"{connector.exchange.value}'s trade history is not read by execx")
                continue
            start = min(c.seen_ms for c in cs)
            try:
                window = await connector.trades_between(symbol, start, now_ms)
            except (TimeoutError, VenueError, ValueError, KeyError, TypeError, OSError) as e:
                self._unknown(cs, f"reading the venue's trade history failed: {e}")
                continue
            live = []
            for c in cs:
                if c.state is None:
                    continue
                t, c.state = replay(c.state, window.trades, c.seen_ms)
                if t is None:
                    live.append(c)
                    continue
                fired.append(c)
                at = datetime.fromtimestamp(t.exch_time_ns / 1e9, UTC).isoformat(timespec="milliseconds")
                c.status, c.reference_price = TRIGGERED, t.price
                c.message = (
                    f"triggered at start-up: found in the venue's trade history (trade {t.trade_id} at "
                    f"{t.price}, {at}, while execx was down)"
                )
                log.info("contingent.missed_fired", extra={"clOrderId": c.order.cl_order_id, "trade": t.trade_id})
            if not window.complete:
                self._unknown(live, "the venue's trade history does not cover the whole time execx was down")
        return fired

    async def _rearm_checked(self, session_id: str, check: list[Contingent]) -> list[Contingent]:
        """``_missed``, then the ones it did not fire armed again (the first price: gap-through); the fired ones."""
        fired = await self._missed(session_id, check)
        for c in check:
            if c not in fired:
                await self.arm(c)
        return fired

    async def _send_missed(self, fired: list[Contingent]) -> None:
        """The ones the venue's trade history fired: their ``triggered`` events, their orders, their groups."""
        for c in fired:
            self.publish(c)
            await self.send(c)
            self._linked_on_trigger(c)
            self.retire(c)

    def _unknown(self, cs: list[Contingent], why: str) -> None:
        """Policy: no evidence, no firing; they stay armed (the first price is checked with the gap-through
        rule) and the strategy is told with an event."""
        for c in cs:
            c.message = f"{MISSED_UNKNOWN}: {why}"
            log.warning("contingent.missed_window_unknown", extra={"clOrderId": c.order.cl_order_id, "why": why})
            self.publish(c)

    def _settle(self, g: Group) -> None:
        """After a restart: the group rules applied to what its legs' orders did while execx was down (their
        updates came before the group was loaded again). A native group's are the venue's."""
        if g.native:
            return
        for cl in g.legs:
            c = self.orders.get((g.session_id, cl))
            if c is None or not c.sent:
                continue
            u = self.leg_update(c)
            if u.cumulative_filled_qty > 0:
                for other in g.oco_siblings(cl):
                    self._spawn(self._cancel_leg(self.orders[(g.session_id, other)], f"oco: {cl} filled"))
            if u.order_status.is_final:
                self._linked_on_end(c, filled=u.order_status is OrderStatus.FILLED)
                self._oco_on_unfilled_end(c, u.order_status)

    async def close(self) -> None:
        """Service shutdown: stop watching; armed orders stay journaled (armed again after the restart) with the
        time their price was last seen."""
        self.restorer.close()
        for sid in {sid for (sid, _, _), w in self.watchers.items() if w.armed and w.seen_ms > w.saved_seen_ms}:
            self.save(sid)
        if self._on_update in self.engine.observers:
            self.engine.observers.remove(self._on_update)
        if self.kill_session in self.engine.risk.kill_hooks:
            self.engine.risk.kill_hooks.remove(self.kill_session)
        await self.tasks.close()
        for w in self.watchers.values():
            await w.tasks.close()
            w.detach()


def missed_checked(c: Contingent) -> bool:
    """An armed emulated one whose reference is the last price (public trades): after a restart, the venue's
    trade history is read for it (mark: execx's mid, which no venue history holds; held legs were not armed)."""
    return (
        not c.native
        and not c.held
        and c.spec is not None
        and c.spec.reference is Reference.LAST
        and c.state is not None
    )


def native_of(spec: Spec) -> NativeTrigger:
    """``spec`` as the trigger a connector sends with the order."""
    return NativeTrigger(spec.kind.value, spec.reference.value, spec.level, spec.amount, spec.percent)


def check_spec(spec: Spec, order: SendOrder, index_ok: bool = False) -> None:
    """The trigger's own rules (INVALID_ARGUMENT naming the field); ``index_ok``: a venue may hold it."""
    if spec.reference is Reference.INDEX and not index_ok:
        raise ValidationError(
            "triggerReference", "index is not available: emulated triggers watch last (trades) or mark (mid)"
        )
    if spec.level is not None and (not spec.level.is_finite() or spec.level <= 0):
        raise ValidationError("triggerPrice", "must be positive")
    if spec.kind is not Kind.TRAILINGSTOP:
        if spec.level is None:
            raise ValidationError("triggerPrice", f"is required for a {spec.kind.value} order")
        if spec.amount is not None or spec.percent is not None:
            raise ValidationError("trailingAmount", "only a trailingstop has a trailing distance")
        return
    if order.order_type is not OrderType.MARKET:
        raise ValidationError("orderType", "a trailingstop sends a market order")
    if (spec.amount is None) == (spec.percent is None):
        raise ValidationError("trailingAmount", "a trailingstop needs exactly one of trailingAmount, trailingPercent")
    if spec.amount is not None and (not spec.amount.is_finite() or spec.amount <= 0):
        raise ValidationError("trailingAmount", "must be positive")
    if spec.percent is not None and (not spec.percent.is_finite() or not 0 < spec.percent < 100):
        raise ValidationError("trailingPercent", "must be between 0 and 100 (exclusive)")
