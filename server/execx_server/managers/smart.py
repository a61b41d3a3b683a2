"""TWAP and VWAP smart orders (seed 003): a parent amount worked in child orders, on one exchange or several.

Each child goes to the venue (``smart_venues``: the add's session, and a live session of each other listed
exchange) with the best far touch when it is sent.

The schedule is the pure ``smart_plan``; this module is the runner around it (``runtime.Runner``):

- a loop wakes on every market event, order update and fill of its own, and at least every ``tick``
  (a tenth of the interval, 50-500 ms); each pass finds the current slice, fixes its target (VWAP: from
  the volume the hub's public trades printed in the interval before), and acts;
- **taker** (default): what the target asks is sent as a *limit IOC at the far touch* (a buy at the ask,
  never above ``limit_price``), seed 003's TradeRequest; what does not fill is sent again on the next
  pass (catch-up), one child at a time;
- **maker** (``maker: true``): the slice rests *post-only at the near touch* and is re-priced when the
  touch moves (cancel and new child); the part overdue (the previous slice's target not filled) crosses
  with a limit IOC once it exceeds ``max_behind``; at the last slice everything is due;
- at most one child is working at any time; none is sent while the feed is stale (a resting child is
  cancelled: nothing waits at a price nobody can see), statusInfo says so;
- it ends ``Completed`` when the amount is filled; when the end time plus a grace (the interval, at most
  5 s) has passed with the amount not filled, it ends ``Completed`` too with statusInfo saying how much
  and why (limit price not reached, below the venue's minimum, market data stale, children refused);
  ten refusals in a row end it ``Failed``;
- persistence: configuration, targets, children and fills are saved (journal ``algorithms``, kind
  ``smart_order``) before a child is sent and after every fill; after a restart it runs again once its
  session is started again; its children are reconciled with the engine's orders (which the engine
  reconciles with the venue): fills the engine saw while it was not running are added (at the child's
  average price). Finished orders stay listed (the last 1000).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..domain.enums import Exchange, Liquidity, OrderStatus, OrderType, Side, TimeInForce, TransactionType
from ..domain.errors import AlreadyExists, FailedPrecondition, NotFound, ValidationError
from ..domain.instruments import InstrumentRules, plain
from ..domain.venue import ExecutionReport
from ..engine.sessions import OrderEngine, SendOrder
from ..engine.tasks import Supervisor
from ..engine.updates import OrderUpdate
from ..marketdata.hub import MarketDataHub, MarketEvent, TradeEvent, wait_event
from ..observability.metrics import Metrics
from .runtime import PENDING, ZERO, Restorer, Runner, RunnerState, Saved, positive, required
from .smart_plan import (
    NS,
    Algorithm,
    SmartConfig,
    Step,
    check_limit,
    child_price,
    due,
    lot_floor,
    step,
    twap_target,
    vwap_slice,
)
from .smart_venues import Route, Venue, route, venue_session

log = logging.getLogger("execx.smart_orders")

KIND = "smart_order"
RUNNING, COMPLETED, CANCELLED, FAILED = "Running", "Completed", "Cancelled", "Failed"
FINAL = frozenset({COMPLETED, CANCELLED, FAILED})
FRESH_WAIT_S = 3.0  # how long an add waits for the symbol's first fresh quote
MAX_REFUSALS = 10
KEEP_FINISHED = 1000
QUEUE_MAX = 10_000
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass
class Child:
    order_id: str
    slice: int
    sent_ns: int
    qty: Decimal
    price: Decimal
    kind: str  # "postonly" | "ioc"
    filled: Decimal = ZERO
    status: str = "pendingnew"
    exchange: str = ""  # its venue ("" in rows from before several venues: the order's exchange)
    session_id: str = ""  # the session it went through ("": the order's session)

    def json(self) -> dict[str, Any]:
        return {
            "orderId": self.order_id,
            "slice": self.slice,
            "sentNs": self.sent_ns,
            "qty": str(self.qty),
            "price": str(self.price),
            "kind": self.kind,
            "filled": str(self.filled),
            "status": self.status,
            "exchange": self.exchange,
            "sessionId": self.session_id,
        }

    @classmethod
    def of(cls, d: dict[str, Any]) -> Child:
        return cls(
            d["orderId"],
            int(d["slice"]),
            int(d["sentNs"]),
            Decimal(d["qty"]),
            Decimal(d["price"]),
            d["kind"],
            Decimal(d["filled"]),
            d["status"],
            d.get("exchange", ""),
            d.get("sessionId", ""),
        )


@dataclass(frozen=True)
class Fill:
    order_id: str
    time_ns: int
    qty: Decimal
    price: Decimal
    maker: bool
    fee: Decimal
    fee_asset: str
    child_status: str  # "FILLED" / "PARTIALLY_FILLED" (OEML spelling)
    exchange: str = ""  # the child's venue ("": the order's exchange)

    def json(self) -> dict[str, Any]:
        return {
            "orderId": self.order_id,
            "timeNs": self.time_ns,
            "qty": str(self.qty),
            "price": str(self.price),
            "maker": self.maker,
            "fee": str(self.fee),
            "feeAsset": self.fee_asset,
            "childStatus": self.child_status,
            "exchange": self.exchange,
        }

    @classmethod
    def of(cls, d: dict[str, Any]) -> Fill:
        return cls(
            d["orderId"],
            int(d["timeNs"]),
            Decimal(d["qty"]),
            Decimal(d["price"]),
            bool(d["maker"]),
            Decimal(d["fee"]),
            d["feeAsset"],
            d["childStatus"],
            d.get("exchange", ""),
        )


@dataclass(frozen=True)
class Params:
    """The parameters as the caller gave them (seed 003 strings for the spans)."""

    side: Side
    symbol: str
    symbol_type: str
    amount: Decimal
    duration: str
    interval: str
    limit_price: Decimal | None = None
    maker: bool = False
    max_behind: Decimal | None = None
    safety_threshold: Decimal | None = None

    def json(self) -> dict[str, Any]:
        return {
            "side": self.side.value,
            "symbol": self.symbol,
            "symbolType": self.symbol_type,
            "amount": str(self.amount),
            "duration": self.duration,
            "interval": self.interval,
            "limitPrice": None if self.limit_price is None else str(self.limit_price),
            "maker": self.maker,
            "maxBehind": None if self.max_behind is None else str(self.max_behind),
            "safetyThreshold": None if self.safety_threshold is None else str(self.safety_threshold),
        }

    @classmethod
    def of(cls, d: dict[str, Any]) -> Params:
        def dec(v: Any) -> Decimal | None:
            return None if v is None else Decimal(v)

        return cls(
            Side(d["side"]),
            d["symbol"],
            d["symbolType"],
            Decimal(d["amount"]),
            d["duration"],
            d["interval"],
            dec(d["limitPrice"]),
            bool(d["maker"]),
            dec(d["maxBehind"]),
            dec(d["safetyThreshold"]),
        )


def _plan_json(c: SmartConfig) -> dict[str, Any]:
    return {
        "algorithm": c.algorithm.value,
        "side": c.side.value,
        "symbol": c.symbol,
        "amount": str(c.amount),
        "startNs": c.start_ns,
        "durationS": c.duration_s,
        "intervalS": c.interval_s,
        "limitPrice": None if c.limit_price is None else str(c.limit_price),
        "maker": c.maker,
        "maxBehind": str(c.max_behind),
        "safetyThreshold": None if c.safety_threshold is None else str(c.safety_threshold),
        "symbolType": c.symbol_type,
        "base": str(c.base),
    }


def _plan_of(d: dict[str, Any]) -> SmartConfig:
    return SmartConfig(
        Algorithm(d["algorithm"]),
        Side(d["side"]),
        d["symbol"],
        Decimal(d["amount"]),
        int(d["startNs"]),
        int(d["durationS"]),
        int(d["intervalS"]),
        None if d["limitPrice"] is None else Decimal(d["limitPrice"]),
        bool(d["maker"]),
        Decimal(d["maxBehind"]),
        None if d["safetyThreshold"] is None else Decimal(d["safetyThreshold"]),
        d["symbolType"],
        Decimal(d["base"]),
    )


@dataclass(frozen=True)
class FeedEvent:
    """One message of the smart-order feed: ``kind`` StatusChange (``payload`` (status, fills) when it
    happened), TradeRequest (a ``Child``) or TradeFill (a ``Fill``)."""

    kind: str
    order: SmartOrder
    payload: Any = None


@dataclass
class History:
    status: str = RUNNING
    info: str = ""
    times: dict[str, int] = field(default_factory=dict)  # status -> ns
    updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (ns, params json)


class SmartOrder(Runner):
    """One smart order. ``status`` is seed 003's (Running, Completed, Cancelled, Failed); the runner's own
    state (paused on a stale feed) shows in ``info``."""

    algorithm = "smart_order"

    def __init__(
        self,
        owner: SmartOrders,
        order_id: str,
        session_id: str,
        exchange: Exchange,
        exchanges: list[Exchange],
        params: Params,
        plan: SmartConfig,
        created_ns: int,
        venue_sessions: dict[Exchange, str] | None = None,
    ) -> None:
        super().__init__(owner.engine, owner.hub, owner.metrics, session_id, exchange, params.symbol)
        self.owner = owner
        self.id = order_id
        self.exchanges = exchanges
        # the session of each venue (the add's session for its own exchange): where children may go
        self.venue_sessions = venue_sessions or {exchange: session_id}
        self.extra: list[Venue] = []  # the venues but the first (this runner's own)
        self.dropped: dict[Exchange, str] = {}  # venues not running again after a restart, and why
        self.params = params
        self.plan = plan
        self.created_ns = created_ns
        self.clock_ns = owner.clock_ns
        self.history = History(times={RUNNING: created_ns})
        self.targets: list[Decimal] = []
        self.volumes: list[Decimal] = []
        self.children: list[Child] = []
        self.fills: list[Fill] = []
        self.arrival_mid = ZERO
        self.rules: InstrumentRules | None = None
        self._volume = ZERO  # market volume of the interval under way (every public trade)
        self._own = ZERO  # our own fills in it: not market volume for the profile
        self._refusals = 0
        self._why_waiting = ""
        self._wake = asyncio.Event()
        self._active = False  # counted in om_smart_orders_running
        digest = hashlib.sha256(order_id.encode()).hexdigest()[:12]
        self.prefix = f"so{digest}c"  # alphanumeric: every venue's client order id rule (OKX: no '-')

    # ------------------------------------------------------------------ figures

    @property
    def status(self) -> str:
        return self.history.status

    @property
    def filled(self) -> Decimal:
        return sum((f.qty for f in self.fills), ZERO)

    def average_price(self) -> Decimal:
        q = self.filled
        return sum((f.qty * f.price for f in self.fills), ZERO) / q if q else ZERO

    def maker_fraction(self) -> Decimal:
        q = self.filled
        return sum((f.qty for f in self.fills if f.maker), ZERO) / q if q else ZERO

    def fees(self) -> tuple[Decimal, str]:
        assets = {f.fee_asset for f in self.fills if f.fee_asset}
        return sum((f.fee for f in self.fills), ZERO), ",".join(sorted(assets))

    # ------------------------------------------------------------------ persistence

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "exchange": self.exchange.value,
            "exchanges": [e.value for e in self.exchanges],
            "venues": {e.value: sid for e, sid in self.venue_sessions.items()},
            "params": self.params.json(),
            "plan": _plan_json(self.plan),
            "createdNs": self.created_ns,
            "arrivalMid": str(self.arrival_mid),
            "targets": [str(t) for t in self.targets],
            "volumes": [str(v) for v in self.volumes],
            "status": self.history.status,
            "statusInfo": self.history.info,
            "statusTimes": self.history.times,
            "updates": [[t, p] for t, p in self.history.updates],
            "children": [c.json() for c in self.children],
            "fills": [f.json() for f in self.fills],
        }

    @classmethod
    def of(cls, owner: SmartOrders, session_id: str, d: dict[str, Any]) -> SmartOrder:
        o = cls(
            owner,
            d["id"],
            session_id,
            Exchange(d["exchange"]),
            [Exchange(e) for e in d["exchanges"]],
            Params.of(d["params"]),
            _plan_of(d["plan"]),
            int(d["createdNs"]),
            {Exchange(e): sid for e, sid in d.get("venues", {d["exchange"]: session_id}).items()},
        )
        o.arrival_mid = Decimal(d["arrivalMid"])
        o.targets = [Decimal(t) for t in d["targets"]]
        o.volumes = [Decimal(v) for v in d["volumes"]]
        o.history = History(d["status"], d["statusInfo"], {k: int(v) for k, v in d["statusTimes"].items()})
        o.history.updates = [(int(t), p) for t, p in d["updates"]]
        o.children = [Child.of(c) for c in d["children"]]
        o.fills = [Fill.of(f) for f in d["fills"]]
        o.ids = {c.order_id for c in o.children if c.session_id in ("", session_id)}
        if o.status in FINAL:
            o.state = RunnerState.STOPPED
        return o

    def save(self) -> None:
        self.owner.saved.save(self.id, self.session_id, self.json())

    # ------------------------------------------------------------------ lifecycle

    async def begin(self, restored: bool) -> None:
        """Join the feed and the engine, wait for a fresh quote (FAILED_PRECONDITION without one), check
        the limit price against it (a new order only), then run."""
        _, connector = self.engine.live_session(self.session_id)
        try:
            self.rules = connector.rules(self.symbol)
        except ValidationError as e:
            raise ValidationError("parameters.symbol", e.reason) from None
        await self.start()
        self.engine.fill_observers.append(self._on_fill)
        try:
            await self._start_venues(restored)
            if not restored:  # a restored one pauses on a stale feed instead (the loop's rule)
                await self._wait_fresh()
                if self.sub is None or self.sub.feed.quote is None:
                    raise RuntimeError("SmartOrder.begin: no subscription or no quote (checked fresh before)")
                q = self.sub.feed.quote
                if self.plan.limit_price is not None:
                    check_limit(self.plan.side, self.plan.limit_price, q.bid, q.ask, "parameters.limit_price")
                self.arrival_mid = (q.bid + q.ask) / 2
            else:
                self._reconcile()
        except BaseException:
            self.detach()
            raise
        self.save()
        self._set_active(True)
        if not restored:
            self.owner.emit(self.status_event())  # Running, before its first TradeRequest
        self.tasks.spawn(self._run(), "run")

    async def _start_venues(self, restored: bool) -> None:
        """The venues but the first: each through its session (checked live by the add). After a restart
        one whose session is not live again is left out (``dropped``, listed with why)."""
        for exchange, sid in self.venue_sessions.items():
            if exchange is self.exchange:
                continue
            try:
                _, connector = self.engine.live_session(sid)
                rules = connector.rules(self.symbol)
            except (ValidationError, FailedPrecondition, NotFound) as e:
                if not restored:
                    raise ValidationError("Exchanges", f"{exchange.value}: {e}") from None
                self.dropped[exchange] = f"no session: {e}"
                log.warning("smart_order.venue_dropped", extra={"id": self.id, "exchange": exchange.value})
                continue
            v = Venue(
                self.engine, self.hub, self.metrics, sid, exchange, self.symbol, rules, self._wake, self._on_update
            )
            v.ids = {c.order_id for c in self.children if c.session_id == sid}
            await v.start()
            self.extra.append(v)

    def venues(self) -> list[Runner]:
        """Where children may go: this runner's own venue first, then the others listed."""
        return [self, *self.extra]

    def _child(self, cl_order_id: str) -> Child | None:
        return next((c for c in self.children if c.order_id == cl_order_id), None)

    def _venue_of(self, child: Child) -> Runner | None:
        sid = child.session_id or self.session_id
        return next((v for v in self.venues() if v.session_id == sid), None)

    def _all_live(self) -> list[Any]:
        return [o for v in self.venues() for o in v.live_orders()]

    async def cancel_live(self, why: str) -> None:
        await super().cancel_live(why)
        for v in self.extra:
            await v.cancel_live(why)

    def _set_active(self, active: bool) -> None:
        if active != self._active:
            gauge = self.metrics.smart_active.labels(self.plan.algorithm.value)
            gauge.inc() if active else gauge.dec()
            self._active = active

    def status_event(self) -> FeedEvent:
        """A StatusChange of this order as it is now (a snapshot: the feed may send it later)."""
        return FeedEvent("StatusChange", self, (self.status, tuple(self.fills)))

    async def _wait_fresh(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FRESH_WAIT_S
        while not (self.fresh() and self.sub is not None and self.sub.feed.quote is not None):
            left = deadline - loop.time()
            if left <= 0:
                reason = self.sub.feed.reason if self.sub is not None else "no feed"
                raise FailedPrecondition(f"market data for {self.exchange.value} {self.symbol} is stale: {reason}")
            self._wake.clear()
            await wait_event(self._wake, min(left, 0.05))

    def detach(self) -> None:
        if self._on_fill in self.engine.fill_observers:
            self.engine.fill_observers.remove(self._on_fill)
        for v in self.extra:
            v.detach()
        super().detach()

    async def cancel(self, info: str) -> None:
        await self.stop()
        self._finish(CANCELLED, info)

    def _finish(self, status: str, info: str) -> None:
        if self.status in FINAL:
            return
        self.history.status, self.history.info = status, info
        self.history.times[status] = self.clock_ns()
        self._set_active(False)
        self.metrics.smart_finished.labels(self.plan.algorithm.value, status).inc()
        log.info("smart_order.finished", extra={"id": self.id, "status": status, "info": info})
        self.save()
        self.owner.emit(self.status_event())
        self.owner.prune()

    # ------------------------------------------------------------------ events

    def _on_market(self, event: MarketEvent) -> None:
        if isinstance(event, TradeEvent):
            self._volume += event.trade.qty
        self._wake.set()

    def _on_update(self, u: OrderUpdate) -> None:
        for c in self.children:
            if c.order_id == u.cl_order_id:
                c.status = u.order_status.value
        self._wake.set()

    def _on_fill(self, session_id: str, cl_order_id: str, r: ExecutionReport) -> None:
        child = self._child(cl_order_id)
        if child is None or session_id != (child.session_id or self.session_id):
            return
        exchange = child.exchange or self.exchange.value
        child.filled += r.fill_qty
        self._own += r.fill_qty
        maker = r.liquidity is Liquidity.ADD
        f = Fill(
            cl_order_id,
            r.exch_time_ns or self.clock_ns(),
            r.fill_qty,
            r.fill_price,
            maker,
            r.fee,
            r.fee_asset,
            "FILLED" if child.filled >= child.qty else "PARTIALLY_FILLED",
            exchange,
        )
        self.fills.append(f)
        self._refusals = 0
        self.metrics.smart_filled.labels(exchange, self.plan.algorithm.value, "maker" if maker else "taker").inc(
            float(r.fill_qty)
        )
        self.save()
        self.owner.emit(FeedEvent("TradeFill", self, f))
        self._wake.set()

    def _reconcile(self) -> None:
        """After a restart: fills of its children the engine has and it does not (they happened while it
        was not running) are added at the child's average price."""
        for c in self.children:
            try:
                o = self.engine.order(c.session_id or self.session_id, c.order_id)
            except NotFound:
                continue
            c.status = o.status.value
            missing = o.cum_filled - c.filled
            if missing > 0:
                c.filled = o.cum_filled
                f = Fill(c.order_id, self.clock_ns(), missing, o.avg_price, False, ZERO, "", "FILLED", c.exchange)
                self.fills.append(f)
                log.info("smart_order.fill_reconciled", extra={"id": self.id, "child": c.order_id})
                self.owner.emit(FeedEvent("TradeFill", self, f))

    # ------------------------------------------------------------------ the loop

    def tick_s(self) -> float:
        return min(0.5, max(0.05, self.plan.interval_s / 10))

    def _until_next_s(self) -> float:
        """The tick, or less: the loop wakes when the next slice is due, not up to a tick after it."""
        i = self.plan.slice_at(self.clock_ns())
        if i + 1 >= self.plan.count:
            return self.tick_s()
        return max(0.0, min(self.tick_s(), (self.plan.slice_ns(i + 1) - self.clock_ns()) / NS))

    async def _run(self) -> None:
        try:
            while self.status not in FINAL:
                self._wake.clear()
                await self._step()
                if self.status in FINAL:
                    break
                await wait_event(self._wake, self._until_next_s())
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug must not leave a smart order trading unattended
            log.exception("smart_order.error", extra={"id": self.id})
            self.fail(f"internal error: {type(e).__name__}: {e}")
            await self.cancel_live("failed")
            self._finish(FAILED, self.reason)
        finally:
            if self.status in FINAL:
                self.detach()

    def _advance(self, now: int) -> bool:
        """Fix the targets of the slices that came due. True if any did."""
        if self.rules is None:
            raise RuntimeError("SmartOrder._advance: rules unset (called before start)")
        i = self.plan.slice_at(now)
        moved = False
        while len(self.targets) <= i:
            j = len(self.targets)
            self.volumes.append(max(ZERO, self._volume - self._own) if j == i else ZERO)
            if j == i:
                self._volume = self._own = ZERO
            if self.plan.algorithm is Algorithm.TWAP:
                target = twap_target(self.plan, j, self.rules.lot)
            else:
                base = max(self.targets[-1] if self.targets else self.plan.base, self.filled)
                target = base + vwap_slice(self.plan, j, base, self.volumes, self.rules.lot)
            self.targets.append(min(target, self.plan.amount))
            moved = True
        if moved:
            self.save()
        return moved

    async def _step(self) -> None:
        if self.rules is None:
            raise RuntimeError("SmartOrder._step: rules unset (called before start)")
        now = self.clock_ns()
        filled = self.filled
        if filled >= self.plan.amount:
            await self.cancel_live("complete")
            self._finish(COMPLETED, f"filled {plain(filled)} of {plain(self.plan.amount)}")
            return
        self._advance(now)
        i = self.plan.slice_at(now)
        live = self._all_live()
        if not any(v.fresh() and v.sub is not None and v.sub.feed.quote is not None for v in self.venues()):
            self.history.info = f"paused: {self.reason or 'market data stale'}"
            if live and not any(o.status in PENDING for o in live):
                await self.cancel_live("stale feed")
            return self._maybe_end(now, filled, live, "market data stale")
        if self.history.info.startswith("paused"):
            self.history.info = ""
        if i < 0 or any(o.status in PENDING for o in live):
            return None
        target = self.targets[i]
        st: Step = step(
            target,
            due(self.targets, i, self.plan.count, self.plan.maker),
            filled,
            self.plan,
            self._min_qty(),
            self.rules.lot,
        )
        resting = [o for o in live if o.order_type is OrderType.POSTONLY]
        if [o for o in live if o.order_type is not OrderType.POSTONLY]:
            return None  # an IOC child awaits its answer
        if resting:
            if st.cross > 0 or len(resting) > 1 or self._moved(resting[0], st.rest):
                await self.cancel_live("re-price")
            return None
        qty, cross = (st.cross, True) if st.cross > 0 else (st.rest, False)
        if qty > 0:
            r = route(self.plan.side, self.venues(), qty)
            if r is None:
                self._why_waiting = f"no venue can take {qty} now (its feed stale, or below its minimum)"
            else:
                await self._send(i, r, cross)
        else:
            self._why_waiting = (
                f"the {lot_floor(target - filled, self.rules.lot)} due is below the venue's minimum {self._min_qty()}"
                if target > filled
                else ""
            )
        return self._maybe_end(now, self.filled, self._all_live(), self._why_waiting)

    def _maybe_end(self, now: int, filled: Decimal, live: list[Any], why: str) -> None:
        grace = min(self.plan.interval_s, 5) * NS
        if now < self.plan.end_ns + grace or live or filled >= self.plan.amount:
            return
        why = why or self._why_waiting or "not filled"
        self._finish(COMPLETED, f"schedule ended with {plain(filled)} of {plain(self.plan.amount)} filled: {why}")

    def _min_qty(self) -> Decimal:
        if self.rules is None:
            raise RuntimeError("SmartOrder._min_qty: rules unset (called before start)")
        return max(self.rules.min_qty, self.rules.lot)

    def _moved(self, o: Any, rest: Decimal) -> bool:
        """A resting child no longer where it should be: its venue's feed stale, the touch moved, or the
        quantity due changed."""
        child = self._child(o.cl_order_id)
        v = None if child is None else self._venue_of(child)
        rules = None if v is None else getattr(v, "rules", None)
        if v is None or rules is None or not v.fresh() or v.sub is None or v.sub.feed.quote is None:
            return True
        q = v.sub.feed.quote
        touch = child_price(self.plan.side, q.bid, q.ask, False, self.plan.limit_price)
        want = None if touch is None else rules.round_price(touch, self.plan.side)
        return bool(o.remaining != lot_floor(rest, rules.lot) or o.price != want)

    async def _send(self, i: int, r: Route, cross: bool) -> None:
        v, qty = r.venue, r.qty
        rules: InstrumentRules | None = getattr(v, "rules", None)
        if rules is None:
            raise RuntimeError("SmartOrder._send: a venue without rules (routed before start)")
        price = child_price(self.plan.side, r.bid, r.ask, cross, self.plan.limit_price)
        if price is None:
            self._why_waiting = f"limit price {self.plan.limit_price} not reached"
            return
        price = rules.round_price(price, self.plan.side)
        if rules.min_notional and rules.notional(qty, price) < rules.min_notional:
            self._why_waiting = f"{qty} at {price} is below {v.exchange.value}'s minimum notional {rules.min_notional}"
            return
        self._why_waiting = ""
        cl = f"{self.prefix}{len(self.children) + 1}"
        kind = "ioc" if cross else "postonly"
        child = Child(cl, i, self.clock_ns(), qty, price, kind, exchange=v.exchange.value, session_id=v.session_id)
        self.children.append(child)
        v.ids.add(cl)
        self.save()  # the child is known before it leaves: a restart finds it
        self.metrics.smart_children.labels(v.exchange.value, self.plan.algorithm.value, kind).inc()
        self.owner.emit(FeedEvent("TradeRequest", self, child))
        req = SendOrder(
            v.session_id,
            TransactionType.INSERT,
            cl,
            self.symbol,
            price=price,
            qty=qty,
            order_type=OrderType.LIMIT if cross else OrderType.POSTONLY,
            tif=TimeInForce.IOC if cross else TimeInForce.GTC,
            side=self.plan.side,
        )
        u = await v.send(req)
        if u is None or u.order_status is OrderStatus.REJECTED:
            child.status = OrderStatus.REJECTED.value
            self._refusals += 1
            self._why_waiting = f"child refused: {u.message if u is not None else 'see the log'}"
            if self._refusals >= MAX_REFUSALS:
                self.fail(f"{MAX_REFUSALS} children refused in a row; last: {self._why_waiting}")
                self._finish(FAILED, self.reason)
        self.save()

    # ------------------------------------------------------------------ updates

    def update(
        self,
        amount: Decimal | None,
        duration: str | None,
        duration_s: int | None,
        interval: str | None,
        interval_s: int | None,
        limit: Decimal | None,
        clear_limit: bool,
    ) -> None:
        if self.rules is None:
            raise RuntimeError("SmartOrder.update: rules unset (called before start)")
        now = self.clock_ns()
        filled = self.filled
        if amount is not None:
            amount = lot_floor(amount, self.rules.lot)
            if amount < filled or amount <= 0:
                raise ValidationError("parameters.amount", f"{amount} is below the {filled} already filled")
        end_ns = self.created_ns + duration_s * NS if duration_s is not None else self.plan.end_ns
        if end_ns <= now:
            raise ValidationError("parameters.duration", f"{duration}: that end time has passed")
        new_interval = interval_s if interval_s is not None else self.plan.interval_s
        if new_interval * NS > end_ns - self.created_ns:
            raise ValidationError("parameters.interval", f"{new_interval}s is longer than the duration")
        new_limit = None if clear_limit else (limit if limit is not None else self.plan.limit_price)
        if limit is not None and self.sub is not None and self.sub.feed.quote is not None:
            q = self.sub.feed.quote
            check_limit(self.plan.side, limit, q.bid, q.ask, "parameters.limit_price")
        self.plan = self.plan.replan(
            now, end_ns, new_interval, amount if amount is not None else self.plan.amount, filled, new_limit
        )
        self.params = Params(
            self.params.side,
            self.params.symbol,
            self.params.symbol_type,
            self.plan.amount,
            duration or self.params.duration,
            interval or self.params.interval,
            new_limit,
            self.params.maker,
            self.params.max_behind,
            self.params.safety_threshold,
        )
        self.targets, self.volumes = [], []
        self.history.updates.append((now, self.params.json()))
        self.save()
        log.info("smart_order.updated", extra={"id": self.id})
        self.owner.emit(self.status_event())
        self._wake.set()


class SmartOrders:
    """Every smart order, by id: running ones, and finished ones (kept in the journal, the last 1000)."""

    def __init__(
        self, engine: OrderEngine, hub: MarketDataHub, metrics: Metrics, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self.engine = engine
        self.hub = hub
        self.metrics = metrics
        self.clock_ns = clock_ns
        self.saved = Saved(engine.journal, KIND)
        self.tasks = Supervisor("smart-orders")
        self.orders: dict[str, SmartOrder] = {}
        self.subscribers: list[Subscriber] = []
        self._lock = asyncio.Lock()
        for key, sid, d in self.saved.load():
            try:
                self.orders[key] = SmartOrder.of(self, sid, d)
            except (KeyError, ValueError, TypeError) as e:
                log.error("smart_order.unreadable", extra={"id": key, "error": str(e)})
                self.saved.drop(key)
        for o in self.orders.values():
            if o.status not in FINAL:
                o.history.info = f"waiting for session {o.session_id!r} to be started again"
        self.restorer = Restorer(engine, self.saved, self._restore, self.tasks, metrics)

    async def add(
        self,
        session_id: str,
        algorithm: Algorithm,
        exchanges: list[Exchange],
        params: Params,
        plan_of: Callable[[InstrumentRules], SmartConfig],
        order_id: str = "",
        sessions: Callable[[str], bool] = lambda _: True,
    ) -> SmartOrder:
        """Validate (INVALID_ARGUMENT naming the field), then start: nothing is sent before every check
        passed. ``plan_of`` builds the schedule once the instrument's rules are known. The other listed
        exchanges are traded through live sessions ``sessions`` accepts (the calling API key's own)."""
        required(session_id, "sessionId")
        if not exchanges:
            raise ValidationError("Exchanges", "is required")
        session, connector = self.engine.live_session(session_id)
        if session.exchange not in exchanges:
            raise ValidationError(
                "Exchanges", f"session {session_id!r} trades {session.exchange.value}, which is not listed"
            )
        try:
            rules = connector.rules(params.symbol)
        except ValidationError as e:
            raise ValidationError("parameters.symbol", e.reason) from None
        if TimeInForce.IOC not in connector.supported_tifs:
            raise ValidationError("Exchanges", f"{session.exchange.value} has no IOC orders")
        venues = self._venues(session_id, session.exchange, exchanges, params.symbol, sessions)
        plan = plan_of(rules)
        positive(plan.amount, "parameters.amount")
        if plan.amount < max(rules.min_qty, rules.lot):
            raise ValidationError("parameters.amount", f"is below the venue's minimum quantity {rules.min_qty}")
        if order_id and not _ID.fullmatch(order_id):
            raise ValidationError("Id", "must be 1-64 letters, digits, '-' or '_' (a UUID)")
        async with self._lock:
            order_id = order_id or str(uuid.uuid4())
            if order_id in self.orders:
                raise AlreadyExists(f"smart order {order_id!r} exists")
            o = SmartOrder(self, order_id, session_id, session.exchange, exchanges, params, plan, plan.start_ns, venues)
            await o.begin(restored=False)
            self.orders[order_id] = o
        log.info("smart_order.added", extra={"id": order_id, "session": session_id, "symbol": params.symbol})
        return o

    def _venues(
        self, session_id: str, own: Exchange, exchanges: list[Exchange], symbol: str, sessions: Callable[[str], bool]
    ) -> dict[Exchange, str]:
        """Each listed exchange's session (``own`` through ``session_id``, the others through a live session
        of theirs); INVALID_ARGUMENT naming ``Exchanges`` for one without a live session, one without IOC
        orders, ``parameters.symbol`` for one that does not list the symbol (by the same name)."""
        venues: dict[Exchange, str] = {own: session_id}
        for exchange in exchanges:
            if exchange in venues:
                continue
            sid = venue_session(self.engine, exchange, session_id, sessions)
            if not sid:
                raise ValidationError(
                    "Exchanges", f"{exchange.value} has no live order session (start one with StartOrderHandler)"
                )
            _, connector = self.engine.live_session(sid)
            if TimeInForce.IOC not in connector.supported_tifs:
                raise ValidationError("Exchanges", f"{exchange.value} has no IOC orders")
            try:
                connector.rules(symbol)
            except ValidationError as e:
                raise ValidationError("parameters.symbol", f"{exchange.value}: {e.reason}") from None
            venues[exchange] = sid
        return venues

    async def _restore(self, key: str, session_id: str, d: dict[str, Any]) -> None:
        o = self.orders.get(key)
        if o is None or o.status in FINAL:
            return
        o.history.info = ""
        try:
            await o.begin(restored=True)
        except (ValidationError, FailedPrecondition, NotFound) as e:  # e.g. the venue no longer lists it
            log.error("smart_order.restore_failed", extra={"id": key, "error": str(e)})
            self.metrics.algo_errors.labels(KIND, "restore").inc()
            o._finish(FAILED, f"not restored: {e}")

    def get(self, order_id: str) -> SmartOrder:
        required(order_id, "id")
        o = self.orders.get(order_id)
        if o is None:
            raise NotFound(f"no smart order {order_id!r}")
        return o

    async def cancel(self, order_id: str) -> SmartOrder:
        o = self.get(order_id)
        if o.status in FINAL:
            raise FailedPrecondition(f"smart order {order_id!r} is {o.status}")
        await o.cancel("User requested cancel")
        return o

    def running(self, order_id: str) -> SmartOrder:
        o = self.get(order_id)
        if o.status in FINAL:
            raise FailedPrecondition(f"smart order {order_id!r} is {o.status}")
        if o.rules is None:
            raise FailedPrecondition(f"smart order {order_id!r} waits for session {o.session_id!r}")
        return o

    def list(self) -> list[SmartOrder]:
        return sorted(self.orders.values(), key=lambda o: o.created_ns, reverse=True)

    def prune(self) -> None:
        finished = [o for o in self.list() if o.status in FINAL][KEEP_FINISHED:]
        for o in finished:
            self.orders.pop(o.id, None)
            self.saved.drop(o.id)

    # ------------------------------------------------------------------ the feed

    def subscribe(self, order_id: str, sessions: Callable[[str], bool] = lambda _: True) -> Subscriber:
        """A feed of ``order_id``'s events ("": every smart order's whose session ``sessions`` accepts)."""
        s = Subscriber(order_id, sessions)
        self.subscribers.append(s)
        return s

    def unsubscribe(self, s: Subscriber) -> None:
        if s in self.subscribers:
            self.subscribers.remove(s)

    def emit(self, event: FeedEvent) -> None:
        for s in list(self.subscribers):
            s.put(event)

    async def close(self) -> None:
        """Service shutdown: smart orders stop acting but stay saved (they run again after the restart)."""
        self.restorer.close()
        await self.tasks.close()
        for o in self.orders.values():
            if o.status not in FINAL and o.rules is not None:
                await o.tasks.close()
                o.detach()
                o._set_active(False)
        for s in self.subscribers:
            s.close()


class Subscriber:
    """One feed subscriber: a bounded queue of the events of one smart order (or all); one that falls
    ``QUEUE_MAX`` behind is ``overflowed`` (its stream ends with RESOURCE_EXHAUSTED)."""

    def __init__(self, order_id: str, sessions: Callable[[str], bool] = lambda _: True) -> None:
        self.order_id = order_id
        self.sessions = sessions  # the smart orders it may see, by their session (the subscribing API key's)
        self.queue: asyncio.Queue[FeedEvent | None] = asyncio.Queue()
        self.overflowed = False

    def put(self, event: FeedEvent) -> None:
        if self.overflowed or (self.order_id and event.order.id != self.order_id):
            return
        if not self.sessions(event.order.session_id):
            return
        if self.queue.qsize() >= QUEUE_MAX:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(event)

    def close(self) -> None:
        self.queue.put_nowait(None)
