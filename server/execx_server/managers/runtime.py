"""The shared runtime of execx's trading algorithms: position manager, trigger manager, dip buyer, grid trader.

An algorithm is *configuration* (a frozen dataclass validated up front), a *pure plan* (a function of
market state and configuration, no I/O, no clock of its own: ``position_plan.py``, ``trigger_plan.py``,
``dip_plan.py``, ``grid_plan.py``) and a *runner* (this module's ``Runner``) that feeds the plan from the
market-data hub and the engine's event bus and acts through ``OrderEngine.send``. The API, kept small on purpose:

- **Validation** (INVALID_ARGUMENT naming the field, before anything is sent): ``required(value, field)``,
  ``positive(value, field)``, ``non_negative(value, field)``, ``seconds(value, field, allow_zero)``,
  ``percent(value, field)``, ``double(value, field)`` (a proto double as an exact Decimal).
- **Runner**: subclass it, implement ``_on_market`` (called synchronously for every event of the feed
  of ``(exchange, symbol)``, must not block) and, optionally, ``_on_update`` (every order update of
  the runner's session whose clOrderId is in ``self.ids``); call ``await runner.start()`` and
  ``await runner.stop()``. Work that must await (sending orders) goes through ``runner.spawn(coro)``:
  the runner's own ``Supervisor`` owns every task (nothing is fire-and-forget) and ``stop()`` cancels
  them, then cancels the runner's live orders (``cancel_live``). ``state``/``reason`` are the status
  (``RunnerState``: running, paused, stopped, failed); ``pause``/``resume``/``fail`` change them.
- **The stale-feed rule**: ``runner.fresh()`` is False while the hub calls the feed stale (no quote yet,
  silent for ``--marketDataStaleSeconds``, a reconnect, no live session to read through); a runner
  then acts on nothing and is ``paused`` with the hub's reason, and ``resume()``s once the feed is
  fresh again. ``Runner`` applies this itself on every ``StatusEvent``.
- **Persistence**: ``Saved(journal, kind)``: ``save(key, session_id, config)`` when an algorithm starts
  (or its configuration changes), ``drop(key)`` when it stops, ``load()`` after a restart. Rows live in
  the journal's ``algorithms`` table (engine/journal.py); configurations are JSON with decimals as
  strings. ``Restorer`` holds what was loaded until the algorithm's session is live again (the
  strategy calls StartOrderHandler with its keys after a restart: execx never stores them), then calls
  the algorithm's restore function once per saved row.
- **Events**: ``runner.publish(event, side=, price=, qty=, detail=)`` puts an algorithm event (kind
  ``algorithm``, ``{"algorithm", "event", "sessionId", "exchange", "symbol", "level", "side", "price",
  "qty", "pnl", "detail", "localTime"}``) on the session's bus: journaled with the session's sequence
  numbers, streamed by ``SubscribeUpdates`` with ``algorithmEvents``.
- **Metrics**: errors are counted in ``om_algorithm_errors_total{algorithm, kind}`` (kind: send, failed,
  restore).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ..domain.enums import Exchange, OrderStatus, OrderType, Side, TimeInForce, TransactionType
from ..domain.errors import FailedPrecondition, InvalidTransition, NotFound, ValidationError
from ..domain.numbers import from_double
from ..domain.orders import Order
from ..domain.venue import VenueError
from ..engine.journal import Journal
from ..engine.sessions import LIVE, OrderEngine, SendOrder
from ..engine.tasks import Supervisor
from ..engine.updates import ALGORITHM, OrderUpdate
from ..marketdata.hub import MarketDataHub, MarketEvent, MarketSubscription, StatusEvent
from ..observability.metrics import Metrics

log = logging.getLogger("execx.algorithms")

ZERO = Decimal(0)
RESTORE_WAIT_S = 30.0  # how long a restore waits for its session to be live after its stream came up
PENDING = frozenset({OrderStatus.PENDINGNEW, OrderStatus.PENDINGUPDATE, OrderStatus.PENDINGCANCEL})


class RunnerState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"  # the position manager: its target reached, nothing to do until the next one
    STOPPED = "stopped"
    FAILED = "failed"


# ---------------------------------------------------------------------- validation


def required(value: str, field: str) -> str:
    if not value:
        raise ValidationError(field, "is required")
    return value


def double(value: float, field: str) -> Decimal:
    """A proto double as the exact Decimal of its shortest repr; non-finite refused naming ``field``."""
    if not math.isfinite(value):
        raise ValidationError(field, "must be a finite number")
    return from_double(value, field)


def positive(value: Decimal, field: str) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise ValidationError(field, "must be positive")
    return value


def non_negative(value: Decimal, field: str) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValidationError(field, "must not be negative")
    return value


def seconds(value: float, field: str, allow_zero: bool = False) -> float:
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValidationError(field, "must be a positive number of seconds" if not allow_zero else "must be >= 0")
    return value


def percent(value: Decimal, field: str) -> Decimal:
    if not value.is_finite() or not 0 < value < 100:
        raise ValidationError(field, "must be a percentage between 0 and 100 (exclusive)")
    return value


def order_json(o: SendOrder) -> dict[str, Any]:
    """An order an algorithm will send, as its saved state keeps it (decimals as strings)."""
    return {
        "clOrderId": o.cl_order_id,
        "symbol": o.symbol,
        "price": None if o.price is None else str(o.price),
        "qty": None if o.qty is None else str(o.qty),
        "orderType": o.order_type.value if o.order_type else None,
        "tif": o.tif.value if o.tif else None,
        "side": o.side.value if o.side else None,
        "reduceOnly": o.reduce_only,
    }


def order_from_json(d: dict[str, Any], session_id: str, trigger_id: str) -> SendOrder:
    """The insert ``order_json`` saved, back (``trigger_id``: the algorithm's id its updates carry)."""
    return SendOrder(
        session_id,
        TransactionType.INSERT,
        d["clOrderId"],
        d["symbol"],
        price=None if d["price"] is None else Decimal(d["price"]),
        qty=None if d["qty"] is None else Decimal(d["qty"]),
        order_type=OrderType(d["orderType"]) if d["orderType"] else None,
        tif=TimeInForce(d["tif"]) if d["tif"] else None,
        side=Side(d["side"]) if d["side"] else None,
        trigger_id=trigger_id,
        reduce_only=bool(d.get("reduceOnly", False)),
    )


def base36(n: int) -> str:
    """``n`` in base 36 (clOrderId prefixes and counters: short, within every venue's id rule)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


# ---------------------------------------------------------------------- persistence


class Saved:
    """The saved configurations of one kind of algorithm (journal table ``algorithms``)."""

    def __init__(self, journal: Journal, kind: str) -> None:
        self.journal = journal
        self.kind = kind

    def save(self, key: str, session_id: str, config: dict[str, Any]) -> None:
        self.journal.save_algorithm(self.kind, key, session_id, config)

    def drop(self, key: str) -> None:
        self.journal.drop_algorithm(self.kind, key)

    def load(self) -> list[tuple[str, str, dict[str, Any]]]:
        return self.journal.algorithms(self.kind)


class Restorer:
    """Starts saved algorithms again once their session is live (after a restart the sessions are
    detached until the strategy starts them again with its keys). ``restore(key, session_id, config)``
    is awaited once per saved row; a failure is logged, counted and the row dropped (it cannot run)."""

    def __init__(
        self,
        engine: OrderEngine,
        saved: Saved,
        restore: Callable[[str, str, dict[str, Any]], Awaitable[None]],
        tasks: Supervisor,
        metrics: Metrics,
    ) -> None:
        self.engine = engine
        self.saved = saved
        self.restore = restore
        self.tasks = tasks
        self.metrics = metrics
        self.pending: dict[str, list[tuple[str, dict[str, Any]]]] = {}  # session id -> [(key, config)]
        for key, sid, config in saved.load():
            self.pending.setdefault(sid, []).append((key, config))
        if self.pending:
            engine.stream_observers.append(self._on_stream)
            for sid in list(self.pending):
                session = engine.sessions.get(sid)
                if session is not None and session.state == LIVE:
                    self._on_stream(sid, True)

    def _on_stream(self, session_id: str, up: bool) -> None:
        rows = self.pending.pop(session_id, None) if up else None
        if rows:
            self.tasks.spawn(self._restore(session_id, rows), f"restore/{self.saved.kind}/{session_id}")
        if not self.pending and self._on_stream in self.engine.stream_observers:
            self.engine.stream_observers.remove(self._on_stream)

    async def _restore(self, session_id: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
        # the private stream comes up inside the connector's start; the session is live once it returned
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESTORE_WAIT_S
        while (s := self.engine.sessions.get(session_id)) is None or s.state != LIVE or s.connector is None:
            if loop.time() > deadline:
                self.pending.setdefault(session_id, []).extend(rows)  # the next stream-up tries again
                if self._on_stream not in self.engine.stream_observers:
                    self.engine.stream_observers.append(self._on_stream)
                return
            await asyncio.sleep(0.02)  # bounded poll: the engine has no "session live" event
        for key, config in rows:
            try:
                await self.restore(key, session_id, config)
                log.info("algorithm.restored", extra={"kind": self.saved.kind, "key": key})
            except Exception as e:
                log.error("algorithm.restore_failed", extra={"kind": self.saved.kind, "key": key, "error": str(e)})
                self.metrics.algo_errors.labels(self.saved.kind, "restore").inc()
                self.saved.drop(key)

    def close(self) -> None:
        if self._on_stream in self.engine.stream_observers:
            self.engine.stream_observers.remove(self._on_stream)


# ---------------------------------------------------------------------- the runner


class Runner:
    """One running algorithm on one (session, exchange, symbol): market data from the shared hub, its
    own orders' updates from the engine, its tasks owned by its own supervisor."""

    algorithm = "algorithm"  # metric label and log prefix; subclasses set it
    market_first = False  # True: its listener goes before the feed's other listeners (triggers: hub.subscribe)

    def __init__(
        self,
        engine: OrderEngine,
        hub: MarketDataHub,
        metrics: Metrics,
        session_id: str,
        exchange: Exchange,
        symbol: str,
    ) -> None:
        self.engine = engine
        self.hub = hub
        self.metrics = metrics
        self.session_id = session_id
        self.exchange = exchange
        self.symbol = symbol
        self.state = RunnerState.RUNNING
        self.reason = ""
        self.ids: set[str] = set()  # clOrderIds of the orders this runner sent
        self.sub: MarketSubscription | None = None
        self.tasks = Supervisor(f"{self.algorithm}/{exchange.value}/{symbol}/{session_id}")

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Check the session trades ``exchange`` and is live, join the feed (ValidationError naming
        ``symbol`` for a symbol the venue does not list), listen to the engine."""
        session, _ = self.engine.live_session(self.session_id)
        if session.exchange is not self.exchange:
            raise ValidationError("exchange", f"session {self.session_id!r} trades {session.exchange.value}")
        self.sub = await self.hub.subscribe(self.exchange, self.symbol, self._market, first=self.market_first)
        self.engine.observers.append(self._update)
        if self.sub.feed.stale:
            self.pause(f"market data stale: {self.sub.feed.reason}")

    async def stop(self) -> None:
        """Cancel its tasks, then its live orders; state ``stopped`` (a failed runner stays failed)."""
        await self.tasks.close()
        await self.cancel_live("stop")
        self.detach()
        if self.state is not RunnerState.FAILED:
            self.state, self.reason = RunnerState.STOPPED, ""

    def detach(self) -> None:
        if self._update in self.engine.observers:
            self.engine.observers.remove(self._update)
        if self.sub is not None:
            self.sub.close()
            self.sub = None

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        try:
            self.tasks.spawn(coro, name)
        except RuntimeError:  # stopped meanwhile
            pass

    # ------------------------------------------------------------------ state

    def fresh(self) -> bool:
        return self.sub is not None and not self.sub.feed.stale

    def pause(self, reason: str) -> None:
        if self.state in (RunnerState.RUNNING, RunnerState.PAUSED):
            if (self.state, self.reason) != (RunnerState.PAUSED, reason):
                log.info(f"{self.algorithm}.paused", extra={"symbol": self.symbol, "reason": reason})
            self.state, self.reason = RunnerState.PAUSED, reason

    def resume(self) -> None:
        if self.state is RunnerState.PAUSED:
            log.info(f"{self.algorithm}.resumed", extra={"symbol": self.symbol})
            self.state, self.reason = RunnerState.RUNNING, ""

    def fail(self, reason: str) -> None:
        log.error(f"{self.algorithm}.failed", extra={"symbol": self.symbol, "reason": reason})
        self.error("failed")
        self.state, self.reason = RunnerState.FAILED, reason

    def publish(
        self,
        event: str,
        side: Side | None = None,
        price: Decimal = ZERO,
        qty: Decimal = ZERO,
        detail: str = "",
        level: int = -1,
    ) -> None:
        """An event of this algorithm on its session's update stream (``algorithmEvents``)."""
        session = self.engine.sessions.get(self.session_id)
        if session is None:
            return
        session.bus.publish(
            ALGORITHM,
            {
                "algorithm": self.algorithm,
                "event": event,
                "sessionId": self.session_id,
                "exchange": self.exchange.value,
                "symbol": self.symbol,
                "level": level,
                "side": side.value if side else "",
                "price": str(price),
                "qty": str(qty),
                "pnl": "0",
                "detail": detail,
                "localTime": time.time_ns(),
            },
        )

    def error(self, kind: str) -> None:
        self.metrics.algo_errors.labels(self.algorithm, kind).inc()

    # ------------------------------------------------------------------ events

    def _market(self, event: MarketEvent) -> None:
        if isinstance(event, StatusEvent):
            if event.stale:
                self.pause(f"market data stale: {event.reason}")
            else:
                self.resume()
        self._on_market(event)

    def _on_market(self, event: MarketEvent) -> None:
        """Subclasses: react to a market event (synchronously; never block)."""

    def _update(self, u: OrderUpdate) -> None:
        if u.session_id == self.session_id and u.cl_order_id in self.ids:
            self._on_update(u)

    def _on_update(self, u: OrderUpdate) -> None:
        """Subclasses: one of its own orders changed."""

    # ------------------------------------------------------------------ orders

    def live_orders(self) -> list[Order]:
        session = self.engine.sessions.get(self.session_id)
        if session is None:
            return []
        return sorted(
            (session.orders[c] for c in self.ids if c in session.orders and not session.orders[c].status.is_final),
            key=lambda o: o.cl_order_id,
        )

    def orders(self) -> list[Order]:
        """Every order of it the engine still holds in memory (live and recently finished)."""
        session = self.engine.sessions.get(self.session_id)
        if session is None:
            return []
        return sorted((session.orders[c] for c in self.ids if c in session.orders), key=lambda o: o.cl_order_id)

    async def send(self, req: SendOrder) -> OrderUpdate | None:
        """Send one order transaction; a refusal is logged and counted, never raised (None)."""
        try:
            return await self.engine.send(req)
        except (FailedPrecondition, InvalidTransition, NotFound, ValidationError, VenueError) as e:
            log.warning(f"{self.algorithm}.send_failed", extra={"symbol": self.symbol, "error": str(e)})
            self.error("send")
            return None

    async def cancel_live(self, why: str) -> None:
        session = self.engine.sessions.get(self.session_id)
        if session is None or session.state != LIVE or session.connector is None:
            return
        live = [o for o in self.live_orders() if o.status is not OrderStatus.PENDINGCANCEL]
        if live:
            log.info(f"{self.algorithm}.cancel", extra={"symbol": self.symbol, "why": why, "orders": len(live)})
            await asyncio.gather(
                *(self.send(SendOrder(self.session_id, TransactionType.DELETE, o.cl_order_id, o.symbol)) for o in live)
            )

    def position(self) -> Decimal:
        with contextlib.suppress(NotFound):
            if self.session_id in self.engine.sessions:
                return self.engine.position(self.session_id, self.symbol)
        return ZERO
