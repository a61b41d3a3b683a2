"""The trigger manager (seed 000): groups of orders sent the moment a public trade prints at a level.

A trigger manager runs per (session, exchange, symbol): ``symbol`` is the *price source* (its public
trades, from the shared market-data hub); the orders of its triggers go through the session and may
trade another symbol of the same exchange. ``setTrigger`` arms a trigger (``id``, ``price``,
``direction``, ``orders``); the rule of when it fires is ``trigger_plan.fires`` (direction from the
trade's aggressor as the seed's field reference says; a trade at or beyond the level fires it).

- **Fires once**: the trigger is marked fired synchronously, in the trade listener, before its orders
  are handed to a task of the manager's supervisor; a second qualifying trade finds it fired. Its
  orders are sent concurrently, each an ``insert`` carrying ``triggerId`` on every update.
- **Stale feed**: a trade that arrives while the hub calls the feed stale fires nothing (counted in
  ``om_trigger_stale_skips_total``); the trigger stays armed and the next qualifying trade once the
  feed is fresh fires it (the gap-through rule covers a level crossed meanwhile).
- **Validation before anything is armed**: every order is checked exactly as ``sendOrder`` would check
  an insert (required fields, clOrderId rule, tick/lot, venue limits), field names prefixed
  ``orders[i].``; its clOrderId must be unused in the session and in every armed trigger.
- **Persistence**: one journal row per manager (``algorithms`` table, kind ``trigger_manager``) with
  its armed triggers, rewritten on every set / clear / fire. After a restart the manager and its armed
  triggers come back once the strategy starts the session again; a saved trigger one of whose orders
  the session already has (it fired just before the restart) is restored as fired, not re-armed.
- **Stop**: its triggers are cleared and the live orders its triggers sent are cancelled.
- **Status** (``status()``, ``GetTriggerManager``): its state, its triggers, the orders its fired
  triggers sent (live and finished, as the engine holds them) and their fills (the last ``FILLS_KEPT``),
  and per symbol those orders trade: the session's position and the fills' PnL (``pnl.Book``: average
  cost, realised after fees, unrealised at the mid of the shared market-data feed, which the manager
  joins for every symbol its fired orders trade). The fills and PnL are those seen since the manager
  started (after a restart: since it was restored).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from ..domain.enums import Exchange, TransactionType
from ..domain.errors import AlreadyExists, FailedPrecondition, NotFound, ValidationError
from ..domain.instruments import InstrumentRules
from ..domain.orders import Order
from ..engine.sessions import OrderEngine, SendOrder
from ..engine.tasks import Supervisor
from ..engine.updates import OrderUpdate
from ..marketdata.hub import MarketDataHub, MarketEvent, MarketSubscription, TradeEvent
from ..observability.metrics import Metrics
from .pnl import Book
from .position import fee_in_quote
from .runtime import ZERO, Restorer, Runner, RunnerState, Saved, order_from_json, order_json, positive, required
from .trigger_plan import Direction, Level, fires

log = logging.getLogger("execx.trigger_manager")

KIND = "trigger_manager"
FILLS_KEPT = 1_000  # the fills a status shows (the oldest forgotten first; ListFills has them all)


@dataclass
class Trigger:
    id: str
    price: Decimal
    symbol: str
    direction: Direction
    exchange: Exchange
    orders: tuple[SendOrder, ...]
    fired_ns: int = 0
    level: Level = field(init=False)

    def __post_init__(self) -> None:
        self.level = Level(self.id, self.price, self.direction)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "price": str(self.price),
            "direction": self.direction.value,
            "orders": [order_json(o) for o in self.orders],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], session_id: str, exchange: Exchange, symbol: str) -> Trigger:
        orders = tuple(order_from_json(o, session_id, d["id"]) for o in d["orders"])
        return cls(d["id"], Decimal(d["price"]), symbol, Direction(d["direction"]), exchange, orders)


@dataclass(frozen=True)
class SymbolPnl:
    """One symbol its fired orders trade: the session's position, the PnL of those orders' fills."""

    symbol: str
    position: Decimal
    net_qty: Decimal
    avg_entry_price: Decimal
    mark_price: Decimal  # 0: no fresh feed (unrealised then 0)
    realised_pnl: Decimal
    unrealised_pnl: Decimal
    fees_paid: Decimal
    fills: int


@dataclass(frozen=True)
class Status:
    session_id: str
    exchange: Exchange
    symbol: str
    state: RunnerState
    reason: str
    triggers: list[Trigger]
    working: list[Order]
    orders: list[Order]
    fills: list[OrderUpdate]
    symbols: list[SymbolPnl]


def _ignore(event: MarketEvent) -> None:
    """The listener of a feed joined only for its mid (the status's mark)."""


class TriggerManager(Runner):
    algorithm = "trigger_manager"

    def __init__(
        self,
        engine: OrderEngine,
        hub: MarketDataHub,
        metrics: Metrics,
        saved: Saved,
        session_id: str,
        exchange: Exchange,
        symbol: str,
    ) -> None:
        super().__init__(engine, hub, metrics, session_id, exchange, symbol)
        self.saved = saved
        self.key = f"{session_id}|{exchange.value}|{symbol}"
        self.triggers: dict[str, Trigger] = {}
        self.armed: list[Trigger] = []  # the armed ones, in the order they were set (the listener's hot list)
        self._gauge = metrics.triggers_armed.labels(exchange.value)
        self.books: dict[str, Book] = {}  # symbol -> the PnL of its fired orders' fills
        self.fills: deque[OrderUpdate] = deque(maxlen=FILLS_KEPT)
        self.marks: dict[str, MarketSubscription] = {}  # feeds joined for their mid (other symbols)

    # ------------------------------------------------------------------ triggers

    def save(self) -> None:
        self.saved.save(
            self.key,
            self.session_id,
            {
                "exchange": self.exchange.value,
                "symbol": self.symbol,
                "triggers": [t.to_json() for t in self.armed],
            },
        )

    def arm(self, trigger: Trigger) -> None:
        old = self.triggers.pop(trigger.id, None)
        if old is not None and not old.fired_ns:
            self.armed.remove(old)
            self._gauge.dec()
        self.triggers[trigger.id] = trigger
        self.armed.append(trigger)
        self._gauge.inc()

    def remove(self, trigger_id: str) -> Trigger | None:
        t = self.triggers.pop(trigger_id, None)
        if t is not None and not t.fired_ns:
            self.armed.remove(t)
            self._gauge.dec()
        return t

    def clear(self) -> int:
        n = len(self.triggers)
        self._gauge.dec(len(self.armed))
        self.triggers.clear()
        self.armed.clear()
        return n

    # ------------------------------------------------------------------ the hot path

    def _on_market(self, event: MarketEvent) -> None:
        if not self.armed or not isinstance(event, TradeEvent):
            return
        trade = event.trade
        hit = [t for t in self.armed if fires(t.level, trade.price, trade.aggressor)]
        if not hit:
            return
        if not self.fresh() or self.state is not RunnerState.RUNNING:
            self.metrics.trigger_stale_skips.labels(self.exchange.value).inc()
            log.warning(
                "trigger_manager.stale_skip",
                extra={"symbol": self.symbol, "triggers": [t.id for t in hit], "reason": self.reason},
            )
            return
        now = time.time_ns()
        for t in hit:
            t.fired_ns = now
            self.armed.remove(t)
        self._gauge.dec(len(hit))
        self.metrics.triggers_fired.labels(self.exchange.value).inc(len(hit))
        self.spawn(self._fire(hit, event.local_ns), "fire")

    async def _fire(self, hit: list[Trigger], print_ns: int) -> None:
        sends = []
        for t in hit:
            for o in t.orders:
                self.ids.add(o.cl_order_id)
                sends.append(self.send(o))
        for t in hit:
            self.publish("fired", price=t.price, detail=f"trigger {t.id} ({t.direction.value}): {len(t.orders)} orders")
        self.metrics.trigger_reaction.labels(self.exchange.value).observe((time.time_ns() - print_ns) / 1e9)
        # the first order goes out inline (a task would cost a loop turn); the others concurrently
        others = asyncio.gather(*sends[1:]) if len(sends) > 1 else None
        await sends[0]
        if others is not None:
            await others
        log.info("trigger_manager.fired", extra={"symbol": self.symbol, "triggers": [t.id for t in hit]})
        if self.state not in (RunnerState.STOPPED, RunnerState.FAILED):
            self.save()
        await self.watch({o.symbol for t in hit for o in t.orders})

    # ------------------------------------------------------------------ fills and status

    async def watch(self, symbols: set[str]) -> None:
        """Join the shared feed of every symbol its orders trade (its own is joined already): the mark."""
        for sym in sorted(symbols - {self.symbol} - self.marks.keys()):
            try:
                sub = await self.hub.subscribe(self.exchange, sym, _ignore)
            except (FailedPrecondition, ValidationError) as e:
                log.info("trigger_manager.no_mark", extra={"symbol": sym, "error": str(e)})
                continue
            if self.sub is None or sym in self.marks:  # detached (stopped) or joined meanwhile
                sub.close()
            else:
                self.marks[sym] = sub

    def _rules(self, symbol: str) -> InstrumentRules:
        with contextlib.suppress(FailedPrecondition, NotFound, ValidationError):
            _, connector = self.engine.live_session(self.session_id)
            return connector.rules(symbol)
        return InstrumentRules(self.exchange, symbol, ZERO, ZERO, ZERO)  # linear, contract size 1

    def _on_update(self, u: OrderUpdate) -> None:
        if not u.trade_id:
            return
        book = self.books.get(u.symbol)
        if book is None:
            book = self.books[u.symbol] = Book(self._rules(u.symbol))
        fee = fee_in_quote(book.rules, u.fee, u.fee_currency, u.price)
        if fee is None:
            log.info("trigger_manager.fee_other_asset", extra={"asset": u.fee_currency, "fee": str(u.fee)})
        book.fill(u.side, u.executed_qty, u.price, fee or ZERO)
        self.fills.append(u)

    def _position(self, symbol: str) -> Decimal:
        with contextlib.suppress(NotFound):
            if self.session_id in self.engine.sessions:
                return self.engine.position(self.session_id, symbol)
        return ZERO

    def status(self) -> Status:
        symbols = sorted({o.symbol for t in self.triggers.values() for o in t.orders} | self.books.keys())
        pnl = []
        for sym in symbols:
            book = self.books.get(sym) or Book(InstrumentRules(self.exchange, sym, ZERO, ZERO, ZERO))
            mark = self.hub.mid(self.exchange, sym)
            pnl.append(
                SymbolPnl(
                    sym,
                    self._position(sym),
                    book.qty,
                    book.avg_price,
                    mark or ZERO,
                    book.realised(),
                    book.unrealised(mark) or ZERO,
                    book.fees,
                    book.fills,
                )
            )
        return Status(
            self.session_id,
            self.exchange,
            self.symbol,
            self.state,
            self.reason,
            sorted(self.triggers.values(), key=lambda t: t.id),
            self.live_orders(),
            self.orders(),
            list(self.fills),
            pnl,
        )

    def detach(self) -> None:
        super().detach()
        for sub in self.marks.values():
            sub.close()
        self.marks.clear()

    # ------------------------------------------------------------------ lifecycle

    async def stop(self) -> None:
        self.clear()
        await super().stop()


class TriggerManagers:
    """Every trigger manager, one per (session, exchange, symbol)."""

    def __init__(self, engine: OrderEngine, hub: MarketDataHub, metrics: Metrics) -> None:
        self.engine = engine
        self.hub = hub
        self.metrics = metrics
        self.managers: dict[tuple[str, Exchange, str], TriggerManager] = {}
        self.saved = Saved(engine.journal, KIND)
        self.tasks = Supervisor("trigger-managers")
        self._lock = asyncio.Lock()
        self.restorer = Restorer(engine, self.saved, self._restore, self.tasks, metrics)

    # ------------------------------------------------------------------ managers

    async def start(self, session_id: str, exchange: Exchange, symbol: str) -> TriggerManager:
        required(session_id, "sessionId")
        required(symbol, "symbol")
        async with self._lock:
            manager = await self._start(session_id, exchange, symbol)
            manager.save()
            return manager

    async def _start(self, session_id: str, exchange: Exchange, symbol: str) -> TriggerManager:
        key = (session_id, exchange, symbol)
        if key in self.managers:
            raise AlreadyExists(
                f"a trigger manager already runs on {exchange.value} {symbol} for session {session_id!r}; stop it first"
            )
        manager = TriggerManager(self.engine, self.hub, self.metrics, self.saved, session_id, exchange, symbol)
        await manager.start()
        self.managers[key] = manager
        log.info("trigger_manager.started", extra={"session": session_id, "symbol": symbol})
        return manager

    async def stop(self, session_id: str, exchange: Exchange, symbol: str) -> None:
        required(session_id, "sessionId")
        required(symbol, "symbol")
        async with self._lock:
            manager = self.managers.pop((session_id, exchange, symbol), None)
            if manager is None:
                raise NotFound(f"no trigger manager on {exchange.value} {symbol} for session {session_id!r}")
            self.saved.drop(manager.key)
        await manager.stop()
        log.info("trigger_manager.stopped", extra={"session": session_id, "symbol": symbol})

    async def _restore(self, key: str, session_id: str, config: dict[str, Any]) -> None:
        exchange, symbol = Exchange(config["exchange"]), config["symbol"]
        async with self._lock:
            manager = self.managers.get((session_id, exchange, symbol)) or await self._start(
                session_id, exchange, symbol
            )
            session = self.engine.session(session_id)
            for d in config["triggers"]:
                t = Trigger.from_json(d, session_id, exchange, symbol)
                if any(session.store.get(o.cl_order_id) is not None for o in t.orders):
                    # it fired just before the restart: its orders exist (the engine reconciles them)
                    t.fired_ns = time.time_ns()
                    manager.triggers[t.id] = t
                    manager.ids.update(o.cl_order_id for o in t.orders)
                    manager.spawn(manager.watch({o.symbol for o in t.orders}), "marks")
                else:
                    manager.arm(t)
            manager.save()

    # ------------------------------------------------------------------ triggers

    def _manager_for(
        self, exchange: Exchange, symbol: str, orders: list[SendOrder], usable: Callable[[str], bool]
    ) -> TriggerManager:
        sessions = {o.session_id for o in orders if o.session_id}
        if len(sessions) > 1:
            i = next(i for i, o in enumerate(orders) if o.session_id and o.session_id != orders[0].session_id)
            raise ValidationError(f"orders[{i}].sessionId", "every order of a trigger goes through one session")
        if sessions:
            (sid,) = sessions
            manager = self.managers.get((sid, exchange, symbol))
            if manager is None:
                raise NotFound(
                    f"no trigger manager on {exchange.value} {symbol} for session {sid!r}; "
                    "start one with startTriggerManager"
                )
            return manager
        candidates = [
            m for (sid, ex, sym), m in self.managers.items() if ex is exchange and sym == symbol and usable(sid)
        ]
        if not candidates:
            raise NotFound(f"no trigger manager on {exchange.value} {symbol}; start one with startTriggerManager")
        if len(candidates) > 1:
            raise ValidationError("orders[0].sessionId", "is required: several trigger managers run on this symbol")
        return candidates[0]

    def set_trigger(
        self,
        trigger_id: str,
        price: Decimal,
        symbol: str,
        direction: Direction | None,
        exchange: Exchange,
        orders: list[SendOrder],
        sessions: Callable[[str], bool] = lambda _: True,
    ) -> Trigger:
        """Validate everything, then arm (INVALID_ARGUMENT / ALREADY_EXISTS / NOT_FOUND before anything). Orders
        naming no session go through the one manager on the symbol whose session ``sessions`` accepts (the
        calling API key's own)."""
        required(trigger_id, "id")
        positive(price, "price")
        required(symbol, "symbol")
        if direction is None:
            raise ValidationError("direction", "is required: up or down")
        if not orders:
            raise ValidationError("orders", "at least one order is required")
        manager = self._manager_for(exchange, symbol, orders, sessions)
        session, connector = self.engine.live_session(manager.session_id)
        existing = manager.triggers.get(trigger_id)
        same_level = [
            m.triggers[trigger_id]
            for (_, ex, sym), m in self.managers.items()
            if ex is exchange and sym == symbol and trigger_id in m.triggers
        ]
        if any(not t.fired_ns for t in same_level):
            raise AlreadyExists(f"trigger {trigger_id!r} is already armed on {exchange.value} {symbol}; clear it first")
        armed_ids = {o.cl_order_id for m in self.managers.values() for t in m.armed for o in t.orders}
        checked: list[SendOrder] = []
        seen: set[str] = set()
        for i, o in enumerate(orders):
            if o.transaction_type not in (None, TransactionType.INSERT):
                raise ValidationError(f"orders[{i}].transactionType", "a trigger sends inserts only")
            o = replace(
                o, session_id=manager.session_id, transaction_type=TransactionType.INSERT, trigger_id=trigger_id
            )
            try:
                self.engine._validate_insert(connector, o)  # exactly sendOrder's checks, nothing sent
            except ValidationError as e:
                raise ValidationError(f"orders[{i}].{e.field}", e.reason) from None
            cl = o.cl_order_id
            if cl in seen or cl in armed_ids or session.store.get(cl) is not None:
                raise AlreadyExists(f"orders[{i}].clOrderId: {cl!r} is already used (by an order or an armed trigger)")
            seen.add(cl)
            checked.append(o)
        trigger = Trigger(trigger_id, price, symbol, direction, exchange, tuple(checked))
        if existing is not None:
            manager.remove(trigger_id)  # a fired trigger's id may be set again
        manager.arm(trigger)
        manager.save()
        log.info("trigger_manager.armed", extra={"symbol": symbol, "trigger": trigger_id, "price": str(price)})
        return trigger

    def trigger_manager(self, exchange: Exchange, symbol: str, trigger_id: str) -> TriggerManager | None:
        """The manager holding trigger ``trigger_id`` on (exchange, symbol), if any."""
        return next(
            (
                m
                for (_, ex, sym), m in self.managers.items()
                if ex is exchange and sym == symbol and trigger_id in m.triggers
            ),
            None,
        )

    def clear_trigger(self, exchange: Exchange, symbol: str, trigger_id: str) -> None:
        required(symbol, "symbol")
        required(trigger_id, "id")
        for (_, ex, sym), m in self.managers.items():
            if ex is exchange and sym == symbol and m.remove(trigger_id) is not None:
                m.save()
                return
        raise NotFound(f"no trigger {trigger_id!r} on {exchange.value} {symbol}")

    def clear_triggers(
        self, exchange: Exchange | None, symbol: str, clear_all: bool, sessions: Callable[[str], bool] = lambda _: True
    ) -> int:
        """Clear the triggers of (exchange, symbol), or every trigger with ``clear_all``, of the managers whose
        session ``sessions`` accepts (the calling API key's own); how many were cleared."""
        if not clear_all and not symbol:
            raise ValidationError("symbol", "is required unless clearAll is true")
        if not clear_all and exchange is None:
            raise ValidationError("exchange", "is required unless clearAll is true")
        n = 0
        for (sid, ex, sym), m in self.managers.items():
            if not sessions(sid):
                continue
            if clear_all or (ex is exchange and sym == symbol):
                n += m.clear()
                m.save()
        return n

    def get(self, session_id: str, exchange: Exchange, symbol: str) -> TriggerManager:
        required(session_id, "sessionId")
        required(symbol, "symbol")
        manager = self.managers.get((session_id, exchange, symbol))
        if manager is None:
            raise NotFound(f"no trigger manager on {exchange.value} {symbol} for session {session_id!r}")
        return manager

    def list(self, exchange: Exchange | None, symbol: str) -> list[tuple[TriggerManager, Trigger]]:
        return [
            (m, t)
            for (_, ex, sym), m in self.managers.items()
            if (exchange is None or ex is exchange) and (not symbol or sym == symbol)
            for t in m.triggers.values()
        ]

    async def close(self) -> None:
        """Service shutdown: the managers stop acting but stay saved (they run again after the restart);
        their orders stay at the venue."""
        self.restorer.close()
        await self.tasks.close()
        for m in self.managers.values():
            await m.tasks.close()
            m.detach()
