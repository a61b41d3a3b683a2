"""The grid trader (seed 000): a ladder of limit orders between two prices; a filled buy is replaced by a
sell one level up, a filled sell by a buy one level down (``docs/algorithms.md``, "Grid trader").

The plan is the pure ``grid_plan.plan``; this module is its runner on the shared algorithm runtime
(``runtime.Runner``: the market-data hub's feed, the engine's updates of its own orders, its tasks):

- **Start**: the configuration is validated (INVALID_ARGUMENT naming the field), the symbol's rules
  read, then the runner waits (at most ``START_WAIT_S``) for a fresh best bid/ask: the grid's range
  (``gridRangePercentage``) and which side each level takes need the market. A stale feed refuses the
  start with FAILED_PRECONDITION and nothing is sent. The levels are checked against the instrument
  (tick, minimum quantity and notional) before the first order.
- **Runs** on every best bid/ask change, every update of its orders and every ``TICK_S``; while any of
  its orders awaits the venue's answer it does nothing new. Orders are ``limit``/``gtc`` tagged
  ``gr…`` (clOrderId). Fills are booked even on a stale feed, but nothing is placed nor recentred
  until the feed is fresh again (state ``paused`` with the reason), nor while the session is
  disconnected. ``MAX_REJECTS`` refusals in a row fail it (its orders are cancelled).
- **Persistence**: the grid's configuration *and state* (levels, each slot's order id, open legs,
  totals) are saved (``runtime.Saved``, journal table ``algorithms``) before any order it describes
  is sent. After a restart the grid comes back when its session is started again and carries on
  from its saved slots: an order the engine knows is kept (its fills while execx was down are
  booked as the reconciliation reports them), one the engine never saw is sent again under the same
  clOrderId (the engine's insert is idempotent), so no level ever gets two orders.
- **Stop** cancels its orders and forgets the saved grid; a service shutdown leaves them working at
  the venue (they are the grid) and keeps it saved.
- **Events**: every fill, round trip, refusal, re-placement and recenter is published on the session's
  bus as a record of kind ``algorithm`` (journaled with the session's sequence numbers), logged, and
  counted in ``om_grid_*`` metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..domain.enums import Exchange, OrderStatus, OrderType, TimeInForce, TransactionType
from ..domain.errors import AlreadyExists, FailedPrecondition, InvalidTransition, NotFound, ValidationError
from ..domain.instruments import InstrumentRules
from ..domain.orders import Order
from ..domain.venue import ExecutionReport, VenueError
from ..engine.sessions import LIVE, STOPPED, OrderEngine, SendOrder
from ..engine.tasks import Supervisor
from ..engine.updates import ALGORITHM, OrderUpdate
from ..marketdata.hub import MarketDataHub, MarketEvent, TradeEvent, wait_event
from ..observability.metrics import Metrics
from .grid_plan import PENDING, RETRY_S, Cancel, Event, Grid, GridConfig, OrderView, Place, build, plan
from .position import fee_in_quote
from .runtime import Restorer, Runner, RunnerState, Saved, base36, required

log = logging.getLogger("execx.grid_trader")

KIND = "grid_trader"
ALGORITHM_EVENT = ALGORITHM  # bus/journal record kind of algorithm events (engine/updates.py)
ZERO = Decimal(0)
TICK_S = 1.0  # re-plan at least this often (refusal back-offs end on the clock)
START_WAIT_S = 5.0  # how long a start waits for a fresh best bid/ask before refusing
MAX_REJECTS = 5  # refusals in a row before the grid fails
STOP_SETTLE_S = 5.0  # on stop, how long to wait for orders still awaiting the venue's answer


@dataclass(frozen=True)
class Status:
    session_id: str
    exchange: Exchange
    symbol: str
    config: GridConfig
    state: RunnerState
    reason: str
    grid: Grid | None
    working: list[Order]
    position: Decimal


class GridTrader(Runner):
    algorithm = KIND

    def __init__(
        self,
        engine: OrderEngine,
        hub: MarketDataHub,
        metrics: Metrics,
        saved: Saved,
        session_id: str,
        exchange: Exchange,
        symbol: str,
        config: GridConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(engine, hub, metrics, session_id, exchange, symbol)
        self.saved = saved
        self.config = config
        self.clock = clock
        self.key = f"{session_id}|{exchange.value}|{symbol}"
        self.rules: InstrumentRules | None = None
        self.grid: Grid | None = None
        self.prefix = f"gr{base36(time.time_ns() // 1_000_000)}x"  # unique per start: ids are never reused
        self._n = 0
        self.fees: dict[str, Decimal] = {}  # clOrderId -> its fills' fees in the quote currency
        self._cancelled: set[str] = set()  # orders it asked to cancel
        self._rejects = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._labels = (exchange.value,)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, grid: Grid | None = None, wait_s: float = START_WAIT_S) -> None:
        """Validate, read the rules, join the feed; a new grid (``grid`` None) is built at the market (which
        must be fresh within ``wait_s``), a restored one carries on. Nothing is sent before this returns."""
        self.config.validate()
        _, connector = self.engine.live_session(self.session_id)
        self.rules = connector.rules(self.symbol)
        await super().start()
        self.engine.fill_observers.append(self._on_fill)
        try:
            if grid is None:
                bid, ask = await self._fresh_quote(wait_s)
                grid = build(self.config, self.rules, bid, ask)
            self.grid = grid
            self.ids.update(s.cl_order_id for s in grid.slots if s.cl_order_id)
            self.save()
        except BaseException:
            self.detach()
            raise
        self._task = self.tasks.spawn(self._run(), "run")

    async def _fresh_quote(self, wait_s: float) -> tuple[Decimal, Decimal]:
        deadline = self.clock() + wait_s
        while True:
            feed = self.sub.feed if self.sub is not None else None
            if feed is not None and not feed.stale and feed.quote is not None and feed.quote.bid < feed.quote.ask:
                return feed.quote.bid, feed.quote.ask
            if self.clock() >= deadline:
                reason = feed.reason if feed is not None else "no feed"
                raise FailedPrecondition(
                    f"market data for {self.exchange.value} {self.symbol} is stale ({reason}): the grid needs "
                    "the market price to start; nothing was sent"
                )
            self._wake.clear()
            await wait_event(self._wake, max(0.01, min(0.25, deadline - self.clock())))

    def save(self) -> None:
        """Persist the configuration and the grid's state (before any order it names is sent)."""
        if self.grid is None:
            raise RuntimeError("GridTrader.save: grid unset (called before start)")
        self.saved.save(
            self.key,
            self.session_id,
            {
                "exchange": self.exchange.value,
                "symbol": self.symbol,
                "config": self.config.to_json(),
                "grid": self.grid.to_json(),
                "prefix": self.prefix,
                "n": self._n,
                "fees": {
                    s.cl_order_id: str(self.fees.get(s.cl_order_id, ZERO)) for s in self.grid.slots if s.cl_order_id
                },
            },
        )

    def restore_state(self, saved: dict[str, Any]) -> Grid:
        """What ``save`` kept: the id counter and fees; returns the grid."""
        self.prefix, self._n = saved["prefix"], int(saved["n"])
        self.fees = {cl: Decimal(f) for cl, f in saved["fees"].items()}
        return Grid.from_json(saved["grid"])

    async def stop(self) -> None:
        """Cancel its orders (first waiting, bounded, for answers the venue still owes), stop (state
        ``stopped``; a failed grid stays failed)."""
        await self.tasks.close()
        deadline = self.clock() + STOP_SETTLE_S
        while any(o.status is OrderStatus.PENDINGNEW for o in self.live_orders()) and self.clock() < deadline:
            self._wake.clear()
            await wait_event(self._wake, max(0.01, min(0.1, deadline - self.clock())))
        await super().stop()

    def detach(self) -> None:
        if self._on_fill in self.engine.fill_observers:
            self.engine.fill_observers.remove(self._on_fill)
        super().detach()

    async def halt(self) -> None:
        """Service shutdown: stop acting, leave the orders at the venue, stay saved."""
        await self.tasks.close()
        self.detach()

    # ------------------------------------------------------------------ events (synchronous, never block)

    def _on_market(self, event: MarketEvent) -> None:
        if not isinstance(event, TradeEvent):
            self._wake.set()

    def _on_update(self, u: OrderUpdate) -> None:
        if u.order_status is OrderStatus.NEW:
            self._rejects = 0  # the venue took one: the refusals are no longer "in a row"
        self._wake.set()

    def _on_fill(self, session_id: str, cl_order_id: str, r: ExecutionReport) -> None:
        if session_id != self.session_id or cl_order_id not in self.ids or self.rules is None:
            return
        fee = fee_in_quote(self.rules, r.fee, r.fee_asset, r.fill_price)
        if fee is None:
            log.info("grid_trader.fee_other_asset", extra={"asset": r.fee_asset, "fee": str(r.fee)})
            fee = ZERO
        self.fees[cl_order_id] = self.fees.get(cl_order_id, ZERO) + fee
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        try:
            while not self._failed():
                self._wake.clear()
                await self._step()
                if self._failed():  # a step (or an event handler meanwhile) failed it
                    break
                await wait_event(self._wake, TICK_S)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug must not leave a grid quoting unattended: fail with the reason
            log.exception("grid_trader.error", extra={"symbol": self.symbol})
            self.fail(f"internal error: {type(e).__name__}: {e}")
        await self.cancel_live("failed")
        self.saved.drop(self.key)
        self.detach()

    def _failed(self) -> bool:
        return self.state is RunnerState.FAILED

    def _views(self) -> dict[str, OrderView | None]:
        if self.grid is None:
            raise RuntimeError("GridTrader._views: grid unset (called before start)")
        session = self.engine.sessions.get(self.session_id)
        out: dict[str, OrderView | None] = {}
        for slot in self.grid.slots:
            if not slot.cl_order_id:
                continue
            order = session.store.get(slot.cl_order_id) if session is not None else None
            out[slot.cl_order_id] = (
                None
                if order is None
                else OrderView(order.status, order.cum_filled, order.avg_price, self.fees.get(order.cl_order_id, ZERO))
            )
        return out

    async def _step(self) -> None:
        if self.grid is None or self.rules is None:
            raise RuntimeError("GridTrader._step: grid, rules unset (called before start)")
        session = self.engine.sessions.get(self.session_id)
        if session is None or session.state == STOPPED:
            self.fail(f"session {self.session_id} was stopped")
            return
        views = self._views()
        if any(v is not None and v.status in PENDING for v in views.values()):
            return  # wait for the venue's answers before planning again
        connected = session.state == LIVE and session.connector is not None
        feed = self.sub.feed if self.sub is not None else None
        fresh = feed is not None and not feed.stale and feed.quote is not None and feed.quote.bid < feed.quote.ask
        if not connected:
            self.pause(f"session {self.session_id} disconnected")
        elif not fresh:
            self.pause(f"market data stale: {feed.reason if feed is not None else 'no feed'}")
        else:
            self.resume()
        quote = (feed.quote.bid, feed.quote.ask) if fresh and connected and feed and feed.quote else None
        p = plan(self.grid, views, quote, self.clock(), self.config, self.rules, frozenset(self._cancelled))
        changed = p.grid != self.grid
        self.grid = p.grid
        for e in p.events:
            self._event(e, views)
        if self._failed():
            return
        places = [a for a in p.actions if isinstance(a, Place)]
        cancels = [a for a in p.actions if isinstance(a, Cancel)]
        if places:  # ids into the saved state before any order leaves
            slots = list(self.grid.slots)
            for a in places:
                cl = a.cl_order_id or self._next_id()
                self.ids.add(cl)
                slots[a.slot] = dataclasses.replace(slots[a.slot], cl_order_id=cl, retry_at=0.0)
            self.grid = dataclasses.replace(self.grid, slots=tuple(slots))
            changed = True
        if changed:
            self.save()
        for c in cancels:
            self._cancelled.add(c.cl_order_id)
        reqs = [
            SendOrder(
                self.session_id,
                TransactionType.INSERT,
                self.grid.slots[a.slot].cl_order_id,
                self.symbol,
                price=a.price,
                qty=a.qty,
                order_type=OrderType.LIMIT,
                tif=TimeInForce.GTC,
                side=a.side,
            )
            for a in places
        ] + [SendOrder(self.session_id, TransactionType.DELETE, c.cl_order_id, self.symbol) for c in cancels]
        if reqs:
            answers = await asyncio.gather(*(self._send(r) for r in reqs))
            self._not_sent([(a, err) for a, err in zip(places, answers, strict=False) if err is not None])
            self._wake.set()  # look at the answers at once

    async def _send(self, req: SendOrder) -> str | None:
        """Send one transaction; the engine's refusal (logged, counted as a ``send`` error) as text, else None."""
        try:
            await self.engine.send(req)
        except (FailedPrecondition, InvalidTransition, NotFound, ValidationError, VenueError) as e:
            log.warning("grid_trader.send_failed", extra={"symbol": self.symbol, "error": str(e)})
            self.error("send")
            return str(e)
        return None

    def _not_sent(self, places: list[tuple[Place, str]]) -> None:
        """Inserts the engine refused before registering them: the level waits ``RETRY_S`` like a venue
        refusal and counts towards ``MAX_REJECTS``, so an order that can never be sent fails the grid
        instead of being retried in a loop."""
        session = self.engine.sessions.get(self.session_id)
        if self.grid is None:
            raise RuntimeError("GridTrader._not_sent: grid unset (called before start)")
        slots = list(self.grid.slots)
        changed = False
        for a, error in places:
            cl = slots[a.slot].cl_order_id
            if session is not None and session.store.get(cl) is not None:
                continue  # the engine has it (pending, rejected, ...): the plan reads its state
            slots[a.slot] = dataclasses.replace(slots[a.slot], cl_order_id="", retry_at=self.clock() + RETRY_S)
            changed = True
            self._rejects += 1
            if self._rejects >= MAX_REJECTS and not self._failed():
                self.fail(f"{MAX_REJECTS} orders refused in a row; last: {error}")
        if changed:
            self.grid = dataclasses.replace(self.grid, slots=tuple(slots))
            self.save()

    def _next_id(self) -> str:
        self._n += 1
        return f"{self.prefix}{base36(self._n)}"

    def _event(self, e: Event, views: dict[str, OrderView | None]) -> None:
        ex = self.exchange.value
        if e.kind == "filled":
            self._rejects = 0
            self.metrics.grid_fills.labels(ex).inc()
        elif e.kind == "roundtrip":
            self.metrics.grid_round_trips.labels(ex).inc()
        elif e.kind == "refused":
            self._rejects += 1
            self.error("refused")
            if self._rejects >= MAX_REJECTS and not self._failed():
                message = self._last_message()
                self.fail(f"{MAX_REJECTS} orders refused in a row; last: {message}")
        elif e.kind == "recentered":
            self.metrics.grid_recenters.labels(ex).inc()
        log.info(
            f"grid_trader.{e.kind}",
            extra={"symbol": self.symbol, "slot": e.slot, "price": str(e.price), "pnl": str(e.pnl), "detail": e.detail},
        )
        session = self.engine.sessions.get(self.session_id)
        if session is not None:
            session.bus.publish(
                ALGORITHM_EVENT,
                {
                    "algorithm": KIND,
                    "event": e.kind,
                    "sessionId": self.session_id,
                    "exchange": ex,
                    "symbol": self.symbol,
                    "level": e.slot,
                    "side": e.side.value if e.side else "",
                    "price": str(e.price),
                    "qty": str(e.qty),
                    "pnl": str(e.pnl),
                    "detail": e.detail,
                    "localTime": time.time_ns(),
                },
            )

    def _last_message(self) -> str:
        session = self.engine.sessions.get(self.session_id)
        if session is None:
            return ""
        refused = [o for c in self.ids if (o := session.store.get(c)) is not None and o.status is OrderStatus.REJECTED]
        return refused[-1].message if refused else ""

    # ------------------------------------------------------------------ status

    def status(self) -> Status:
        return Status(
            self.session_id,
            self.exchange,
            self.symbol,
            self.config,
            self.state,
            self.reason,
            self.grid,
            self.live_orders(),
            self.position(),
        )


class GridTraders:
    """Every grid trader, one per (session, exchange, symbol); stopped and failed ones stay listed until
    another starts on the same key or execx restarts."""

    def __init__(self, engine: OrderEngine, hub: MarketDataHub, metrics: Metrics) -> None:
        self.engine = engine
        self.hub = hub
        self.metrics = metrics
        self.traders: dict[tuple[str, Exchange, str], GridTrader] = {}
        self.saved = Saved(engine.journal, KIND)
        self.tasks = Supervisor("grid-traders")
        self.start_wait_s = START_WAIT_S  # how long a start waits for a fresh best bid/ask
        self._starting: set[tuple[str, Exchange, str]] = set()  # starts in progress
        self.restorer = Restorer(engine, self.saved, self._restore, self.tasks, metrics)

    async def start(self, session_id: str, exchange: Exchange, symbol: str, config: GridConfig) -> GridTrader:
        required(session_id, "sessionId")
        required(symbol, "symbol")
        config.validate()
        session = self.engine.session(session_id)
        if session.exchange is not exchange:
            raise ValidationError("exchange", f"session {session_id!r} trades {session.exchange.value}")
        key = (session_id, exchange, symbol)
        existing = self.traders.get(key)
        running = existing is not None and existing.state not in (RunnerState.STOPPED, RunnerState.FAILED)
        if running or key in self._starting:
            raise AlreadyExists(
                f"a grid trader already runs on {exchange.value} {symbol} for session {session_id!r}; stop it first"
            )
        self._starting.add(key)  # the key is taken while the start waits for the market (other keys are not held)
        try:
            trader = GridTrader(self.engine, self.hub, self.metrics, self.saved, session_id, exchange, symbol, config)
            await trader.start(wait_s=self.start_wait_s)
            self.traders[key] = trader
        finally:
            self._starting.discard(key)
        log.info("grid_trader.started", extra={"session": session_id, "symbol": symbol})
        return trader

    def get(self, session_id: str, exchange: Exchange, symbol: str) -> GridTrader:
        required(session_id, "sessionId")
        required(symbol, "symbol")
        trader = self.traders.get((session_id, exchange, symbol))
        if trader is None:
            raise NotFound(
                f"no grid trader on {exchange.value} {symbol} for session {session_id!r}; "
                "start one with startGridTrader"
            )
        return trader

    async def stop(self, session_id: str, exchange: Exchange, symbol: str) -> GridTrader:
        trader = self.get(session_id, exchange, symbol)
        if trader.state is not RunnerState.STOPPED:
            self.saved.drop(trader.key)
            await trader.stop()
            log.info("grid_trader.stopped", extra={"session": session_id, "symbol": symbol})
        return trader

    async def _restore(self, key: str, session_id: str, saved: dict[str, Any]) -> None:
        exchange, symbol = Exchange(saved["exchange"]), saved["symbol"]
        config = GridConfig.from_json(saved["config"])
        grid_key = (session_id, exchange, symbol)
        if grid_key in self.traders or grid_key in self._starting:
            return
        self._starting.add(grid_key)
        try:
            trader = GridTrader(self.engine, self.hub, self.metrics, self.saved, session_id, exchange, symbol, config)
            grid = trader.restore_state(saved)
            await trader.start(grid)
            self.traders[grid_key] = trader
        finally:
            self._starting.discard(grid_key)

    async def close(self) -> None:
        """Service shutdown: the grids stop acting but stay saved, their orders working at the venue; they
        carry on after the restart once their sessions are started again."""
        self.restorer.close()
        await self.tasks.close()
        for trader in self.traders.values():
            with contextlib.suppress(Exception):
                await trader.halt()
