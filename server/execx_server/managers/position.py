"""The position manager (seed 000): trades a session into a target position with post-only orders only.

It acts through the order engine exactly like a client (``OrderEngine.send``: validation, order
store, journal, streams), tags its orders with a ``pm…`` clOrderId, and reads prices from the shared
market-data hub. Its plan is the pure ``position_plan.plan``; this module is the runner around it:

- it re-plans on every best bid/ask change, on every update of its own orders and every
  ``reEntryTickerSeconds``, and executes the plan's actions concurrently (place = post-only insert,
  move = the engine's ``update``, which amends where the venue can and cancel-replaces otherwise);
- while any of its orders waits for the venue's answer it does nothing new (no double quoting);
- it pauses (state ``paused`` with the reason) on stale market data (and then cancels its orders:
  they may be mispriced), on a session disconnect (private stream down: nothing is sent) and on a
  venue back-off (a request the venue did not answer, rate limits: nothing is sent until the back-off
  ends), and resumes by itself;
- a post-only order refused or cancelled because the price moved is simply quoted again; a reject
  it cannot explain that way counts, and ``MAX_REJECTS`` in a row stop it as ``failed`` with the
  venue's message, as does a stopped session or a request the engine refuses;
- the target reached: every order cancelled, state ``done``; a new target re-plans at once;
- stop: its orders are cancelled, state ``stopped``, the status reports the quantity done.

The behaviour is documented in ``docs/position_manager.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ..domain.enums import Exchange, Liquidity, OrderStatus, OrderType, Side, TimeInForce, TransactionType
from ..domain.errors import AlreadyExists, FailedPrecondition, InvalidTransition, NotFound, ValidationError
from ..domain.instruments import InstrumentRules
from ..domain.orders import Order
from ..domain.venue import ExecutionReport, VenueError
from ..engine.sessions import LIVE, STOPPED, OrderEngine, SendOrder
from ..engine.tasks import Supervisor
from ..engine.updates import OrderUpdate
from ..marketdata.hub import MarketDataHub, MarketEvent, MarketSubscription, TradeEvent, wait_event
from ..observability.metrics import Metrics
from .position_plan import Amend, Cancel, Place, Plan, PlanConfig, Quote, Working, plan

log = logging.getLogger("execx.position_manager")

ZERO = Decimal(0)
PENDING = frozenset({OrderStatus.PENDINGNEW, OrderStatus.PENDINGUPDATE, OrderStatus.PENDINGCANCEL})
MAX_REJECTS = 5  # unexplained rejects in a row before the manager gives up
DONE_KEPT = 1_000  # finished orders whose late fills the manager still recognises
BACKOFF_S = (1.0, 30.0)  # venue back-off: first and longest pause
STOP_SETTLE_S = 5.0  # on stop, how long to wait for orders still awaiting the venue's answer


class State(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True)
class PositionManagerConfig:
    """The seed's ``positionmanagerconfig``."""

    pull_on_startup: bool
    maintain_spreads: bool
    quote_levels: int
    min_order_qty: Decimal
    re_entry_ticker_seconds: float
    price_level_interval: Decimal

    def validate(self) -> None:
        """INVALID_ARGUMENT naming the field for a configuration the manager cannot work with."""
        if self.quote_levels < 1:
            raise ValidationError("config.quoteLevels", "must be at least 1")
        if self.min_order_qty <= 0:
            raise ValidationError("config.minOrderQty", "must be positive")
        if not math.isfinite(self.re_entry_ticker_seconds) or self.re_entry_ticker_seconds <= 0:
            raise ValidationError("config.reEntryTickerSeconds", "must be a positive number of seconds")
        if not 0 < self.price_level_interval < 1:
            raise ValidationError(
                "config.priceLevelInterval", "must be a fraction of price between 0 and 1 (exclusive)"
            )

    def plan_config(self) -> PlanConfig:
        return PlanConfig(self.quote_levels, self.min_order_qty, self.price_level_interval, self.maintain_spreads)


@dataclass(frozen=True)
class Status:
    session_id: str
    exchange: Exchange
    symbol: str
    config: PositionManagerConfig
    target: Decimal
    current: Decimal
    working: list[Order]
    filled_qty: Decimal
    avg_fill_price: Decimal
    fees_paid: Decimal  # in the quote currency (base-asset fees valued at the fill price)
    state: State
    reason: str
    maker_fills: int
    taker_fills: int


def fee_in_quote(rules: InstrumentRules, fee: Decimal, asset: str, price: Decimal) -> Decimal | None:
    """A fill's fee in the symbol's quote currency: quote-asset fees as they are, base-asset fees (the
    spot buyer's on Binance, every coin-margined fee) at the fill price; None for a third asset (e.g. a
    BNB fee discount), which is logged and left out."""
    if not fee:
        return ZERO
    if rules.inverse:
        return fee * price
    # "BTCUSDT" (Binance, Bybit), "BTC-USDT" / "BTC-USDT-SWAP" (OKX), "BTC_USD-PERPETUAL" (Pulse)
    first, *rest = re.split(r"[-_/]", rules.symbol.upper())
    asset = asset.upper()
    if not asset or asset in rest or (not rest and first.endswith(asset)):
        return fee
    if asset == first or (not rest and first.startswith(asset)):
        return fee * price
    return None


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


class PositionManager:
    def __init__(
        self,
        engine: OrderEngine,
        hub: MarketDataHub,
        metrics: Metrics,
        session_id: str,
        exchange: Exchange,
        symbol: str,
        config: PositionManagerConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.hub = hub
        self.metrics = metrics
        self.session_id = session_id
        self.exchange = exchange
        self.symbol = symbol
        self.config = config
        self.clock = clock
        self.state = State.RUNNING
        self.reason = ""
        self.target = ZERO
        self.rules: InstrumentRules | None = None
        self.prefix = f"pm{_base36(time.time_ns() // 1_000_000)}x"  # unique per start: ids are never reused
        self.ids: set[str] = set()
        self._cancelled: set[str] = set()  # orders it asked to cancel (their end is not a re-quote)
        self._done: OrderedDict[str, None] = OrderedDict()  # its finished orders, oldest first (DONE_KEPT)
        self._n = 0
        self.filled_qty = ZERO
        self._notional = ZERO
        self.fees = ZERO
        self.maker_fills = 0
        self.taker_fills = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._sub: MarketSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._stream_up = True
        self._backoff_until = 0.0
        self._backoff_s = 0.0
        self._backoff_reason = ""
        self._rejects = 0
        self._pause_kind = ""
        self._paused_since = 0.0
        self._labels = (exchange.value, symbol)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, tasks: Supervisor) -> None:
        """Check the session and symbol, join the market data, pull (if asked), then run."""
        self.config.validate()
        _, connector = self.engine.live_session(self.session_id)
        self.rules = connector.rules(self.symbol)
        self._sub = await self.hub.subscribe(self.exchange, self.symbol, self._on_market)
        self.engine.observers.append(self._on_update)
        self.engine.fill_observers.append(self._on_fill)
        self.engine.stream_observers.append(self._on_stream)
        self.target = self.engine.position(self.session_id, self.symbol)  # nothing to do until a target is set
        self.state = State.DONE
        try:
            if self.config.pull_on_startup:
                await self.engine.send(SendOrder(self.session_id, TransactionType.PULL, symbol=self.symbol))
        except BaseException:
            self._detach()
            raise
        self._task = tasks.spawn(self._run(), f"{self.exchange.value}/{self.symbol}")
        log.info("position_manager.started", extra={"session": self.session_id, "symbol": self.symbol})

    def set_target(self, target: Decimal) -> None:
        if self.state in (State.STOPPED, State.FAILED):
            raise FailedPrecondition(
                f"the position manager on {self.exchange.value} {self.symbol} is {self.state.value}; start it again"
            )
        self.target = target
        self.metrics.pm_target.labels(*self._labels).set(float(target))
        self._wake.set()

    async def stop(self) -> None:
        """Cancel its orders and stop; the status keeps the quantity done."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.state is not State.FAILED:
            await self._settle_and_cancel("stop")
            self._leave_pause()
            self.state, self.reason = State.STOPPED, ""
        self._detach()
        log.info("position_manager.stopped", extra={"symbol": self.symbol, "filledQty": str(self.filled_qty)})

    def _detach(self) -> None:
        """Leave the engine's observers and the market data; drop this manager's gauge series."""
        if self._on_update in self.engine.observers:
            self.engine.observers.remove(self._on_update)
        if self._on_fill in self.engine.fill_observers:
            self.engine.fill_observers.remove(self._on_fill)
        if self._on_stream in self.engine.stream_observers:
            self.engine.stream_observers.remove(self._on_stream)
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        for gauge in (self.metrics.pm_target, self.metrics.pm_current):
            with contextlib.suppress(KeyError):
                gauge.remove(*self._labels)

    # ------------------------------------------------------------------ events (synchronous, never block)

    def _on_market(self, event: MarketEvent) -> None:
        if not isinstance(event, TradeEvent):
            self._wake.set()

    def _on_update(self, u: OrderUpdate) -> None:
        if u.session_id != self.session_id or u.cl_order_id not in self.ids:
            return
        if u.trade_id:
            self.filled_qty += u.executed_qty
            self._notional += u.executed_qty * u.price
            if u.trade_liquidity is Liquidity.REMOVE:
                self.taker_fills += 1
            else:
                self.maker_fills += 1
        elif u.order_status is OrderStatus.NEW:
            self._rejects = 0
        elif u.order_status is OrderStatus.REJECTED and not u.journal.get("notSent"):
            self._on_reject(u)  # (an order not sent, the venue refusing every attempt, is a back-off: _do)
        elif u.order_status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED) and u.cl_order_id not in self._cancelled:
            # the venue ended a post-only order we did not cancel (it would have crossed): quote again
            self.metrics.pm_requotes.labels(self.exchange.value).inc()
        if u.order_status.is_final and not u.trade_id:
            self._forget_done(u.cl_order_id)
        self._wake.set()

    def _forget_done(self, cl_order_id: str) -> None:
        """Its ids stay bounded: a finished order is still recognised for its late fills while it is among
        the last ``DONE_KEPT`` finished, then forgotten."""
        self._done[cl_order_id] = None
        while len(self._done) > DONE_KEPT:
            old, _ = self._done.popitem(last=False)
            self.ids.discard(old)
            self._cancelled.discard(old)

    def _on_reject(self, u: OrderUpdate) -> None:
        quote = self._sub.feed.quote if self._sub is not None else None
        crossed = quote is not None and (u.price >= quote.ask if u.side is Side.BUY else u.price <= quote.bid)
        if crossed:  # the market moved onto the post-only price: not an error, quote again
            self.metrics.pm_requotes.labels(self.exchange.value).inc()
            return
        self._rejects += 1
        log.warning("position_manager.reject", extra={"symbol": self.symbol, "venueMessage": u.message})
        if self._rejects >= MAX_REJECTS:
            self._fail(f"{MAX_REJECTS} orders refused in a row; last: {u.message}")

    def _on_fill(self, session_id: str, cl_order_id: str, r: ExecutionReport) -> None:
        if session_id != self.session_id or cl_order_id not in self.ids or self.rules is None:
            return
        fee = fee_in_quote(self.rules, r.fee, r.fee_asset, r.fill_price)
        if fee is None:
            log.info("position_manager.fee_other_asset", extra={"asset": r.fee_asset, "fee": str(r.fee)})
        else:
            self.fees += fee

    def _on_stream(self, session_id: str, up: bool) -> None:
        if session_id == self.session_id:
            self._stream_up = up
            self._wake.set()

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        try:
            while not self._failed() and not self._stopping:  # an event handler may fail it meanwhile
                self._wake.clear()
                await self._step()
                if self._failed():
                    break
                wait = self.config.re_entry_ticker_seconds
                if self._backoff_until:
                    wait = min(wait, max(0.01, self._backoff_until - self.clock()))
                await wait_event(self._wake, wait)  # the re-entry ticker
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug must not leave orders quoting unattended: fail with the reason
            log.exception("position_manager.error", extra={"symbol": self.symbol})
            self._fail(f"internal error: {type(e).__name__}: {e}")
        if self._failed():  # (a stop cleans up in stop())
            await self._settle_and_cancel("failed")
            self._detach()

    def _failed(self) -> bool:
        """Whether a step (or an event handler meanwhile) failed the manager."""
        return self.state is State.FAILED

    def _mine(self) -> list[Order]:
        session = self.engine.sessions.get(self.session_id)
        if session is None:
            return []
        return [session.orders[c] for c in self.ids if c in session.orders and not session.orders[c].status.is_final]

    async def _step(self) -> None:
        session = self.engine.sessions.get(self.session_id)
        if session is None or session.state == STOPPED:
            self._fail(f"session {self.session_id} was stopped")
            return
        if session.state != LIVE or session.connector is None or not self._stream_up:
            self._pause("disconnected", f"session {self.session_id} disconnected (private stream down)")
            return
        now = self.clock()
        if now < self._backoff_until:
            self._pause(
                "backoff", f"venue back-off ({self._backoff_reason}); resuming in {self._backoff_until - now:.1f}s"
            )
            return
        self._backoff_until = 0.0
        assert self._sub is not None and self.rules is not None
        feed = self._sub.feed
        mine = self._mine()
        position = self.engine.position(self.session_id, self.symbol)
        self.metrics.pm_current.labels(*self._labels).set(float(position))
        self.metrics.pm_target.labels(*self._labels).set(float(self.target))
        if feed.stale:
            self._pause("stale", f"market data stale: {feed.reason}")
            await self._execute([Cancel(o.cl_order_id, "stale") for o in mine if o.status not in PENDING])
            return
        if any(o.status in PENDING for o in mine):
            return  # wait for the venue's answers before planning again
        quote = Quote(feed.quote.bid, feed.quote.ask) if feed.quote is not None else None
        working = [Working(o.cl_order_id, o.side, o.price or ZERO, o.remaining) for o in mine]
        p = plan(quote, position, self.target, working, self.rules, self.config.plan_config())
        self._apply_state(p, bool(working))
        await self._execute(list(p.actions))

    def _apply_state(self, p: Plan, working: bool) -> None:
        if p.side is None:
            self._set(State.DONE, "")
        elif p.unplaceable and not working:
            self._set(State.DONE, f"the remaining {p.need} is below the venue's minimum order")
        elif p.note:
            self._pause("stale", f"market data: {p.note}")
        else:
            self._set(State.RUNNING, "")

    # ------------------------------------------------------------------ state

    def _set(self, state: State, reason: str) -> None:
        self._leave_pause()
        if (state, reason) != (self.state, self.reason):
            log.info("position_manager.state", extra={"symbol": self.symbol, "state": state.value, "reason": reason})
        self.state, self.reason = state, reason

    def _pause(self, kind: str, reason: str) -> None:
        if self.state is not State.PAUSED or kind != self._pause_kind:
            self._leave_pause()
            self._pause_kind, self._paused_since = kind, self.clock()
            log.info("position_manager.paused", extra={"symbol": self.symbol, "reason": reason})
        self.state, self.reason = State.PAUSED, reason

    def _leave_pause(self) -> None:
        if self.state is State.PAUSED and self._pause_kind:
            self.metrics.pm_paused.labels(self.exchange.value, self._pause_kind).inc(self.clock() - self._paused_since)
            self._pause_kind = ""

    def _fail(self, reason: str) -> None:
        self._leave_pause()
        self.state, self.reason = State.FAILED, reason
        log.error("position_manager.failed", extra={"symbol": self.symbol, "reason": reason})

    def _back_off(self, why: str) -> None:
        low, high = BACKOFF_S
        self._backoff_s = min(high, max(low, self._backoff_s * 2))
        self._backoff_until = self.clock() + self._backoff_s
        self._backoff_reason = why
        self._wake.set()

    # ------------------------------------------------------------------ orders

    def _next_id(self) -> str:
        self._n += 1
        cl = f"{self.prefix}{_base36(self._n)}"
        self.ids.add(cl)
        return cl

    async def _execute(self, actions: list[Place | Amend | Cancel]) -> None:
        if actions:
            await asyncio.gather(*(self._do(a) for a in actions))

    async def _do(self, a: Place | Amend | Cancel) -> None:
        sid, ex = self.session_id, self.exchange.value
        try:
            if isinstance(a, Place):
                req = SendOrder(
                    sid,
                    TransactionType.INSERT,
                    self._next_id(),
                    self.symbol,
                    price=a.price,
                    qty=a.qty,
                    order_type=OrderType.POSTONLY,
                    tif=TimeInForce.GTC,
                    side=a.side,
                )
                self.metrics.pm_orders.labels(ex, "place").inc()
            elif isinstance(a, Amend):
                order = self.engine.session(sid).orders[a.cl_order_id]
                qty = order.cum_filled + a.qty if a.qty is not None else None
                req = SendOrder(sid, TransactionType.UPDATE, a.cl_order_id, self.symbol, price=a.price, qty=qty)
                self.metrics.pm_orders.labels(ex, "amend").inc()
            else:
                self._cancelled.add(a.cl_order_id)
                req = SendOrder(sid, TransactionType.DELETE, a.cl_order_id, self.symbol)
                self.metrics.pm_orders.labels(ex, "cancel").inc()
            update = await self.engine.send(req)
        except (FailedPrecondition, InvalidTransition, NotFound) as e:
            # the order moved on meanwhile (filled, cancelled): the next plan sees its new state
            log.debug("position_manager.raced", extra={"symbol": self.symbol, "error": str(e)})
            self._wake.set()
            return
        except ValidationError as e:
            self._fail(f"the engine refused the manager's order: {e}")
            return
        except VenueError as e:
            self._back_off(e.message)
            return
        if update.order_status in PENDING or update.journal.get("notSent"):
            # the engine could not get an answer from the venue (it reconciles the order), or the venue
            # refused every attempt before taking it (rate limit, ban): back off
            self._back_off(update.message or "no answer from the venue")
        else:
            self._backoff_s = 0.0

    async def _settle_and_cancel(self, why: str) -> None:
        """Cancel every working order, first waiting (bounded) for answers the venue still owes."""
        session = self.engine.sessions.get(self.session_id)
        if session is None or session.state != LIVE or session.connector is None:
            return
        deadline = self.clock() + STOP_SETTLE_S
        while any(o.status is OrderStatus.PENDINGNEW for o in self._mine()) and self.clock() < deadline:
            self._wake.clear()
            await wait_event(self._wake, max(0.01, deadline - self.clock()))
        await self._execute(
            [Cancel(o.cl_order_id, why) for o in self._mine() if o.status is not OrderStatus.PENDINGCANCEL]
        )

    # ------------------------------------------------------------------ status

    def status(self) -> Status:
        position = (
            self.engine.position(self.session_id, self.symbol) if self.session_id in self.engine.sessions else ZERO
        )
        return Status(
            self.session_id,
            self.exchange,
            self.symbol,
            self.config,
            self.target,
            position,
            sorted(self._mine(), key=lambda o: o.cl_order_id),
            self.filled_qty,
            self._notional / self.filled_qty if self.filled_qty else ZERO,
            self.fees,
            self.state,
            self.reason,
            self.maker_fills,
            self.taker_fills,
        )


class PositionManagers:
    """Every position manager, one per (exchange, symbol); stopped ones stay listed until a restart."""

    def __init__(self, engine: OrderEngine, hub: MarketDataHub, metrics: Metrics) -> None:
        self.engine = engine
        self.hub = hub
        self.metrics = metrics
        self.managers: dict[tuple[Exchange, str], PositionManager] = {}
        self.tasks = Supervisor("position-managers")
        self._lock = asyncio.Lock()

    async def start(
        self, session_id: str, exchange: Exchange, symbol: str, config: PositionManagerConfig
    ) -> PositionManager:
        if not session_id:
            raise ValidationError("sessionId", "is required")
        if not symbol:
            raise ValidationError("symbol", "is required")
        config.validate()
        session = self.engine.session(session_id)
        if session.exchange is not exchange:
            raise ValidationError("exchange", f"session {session_id!r} trades {session.exchange.value}")
        async with self._lock:
            existing = self.managers.get((exchange, symbol))
            if existing is not None and existing.state not in (State.STOPPED, State.FAILED):
                raise AlreadyExists(f"a position manager already runs on {exchange.value} {symbol}; stop it first")
            manager = PositionManager(self.engine, self.hub, self.metrics, session_id, exchange, symbol, config)
            await manager.start(self.tasks)
            self.managers[(exchange, symbol)] = manager
            return manager

    def get(self, exchange: Exchange, symbol: str) -> PositionManager:
        manager = self.managers.get((exchange, symbol))
        if manager is None:
            raise NotFound(f"no position manager on {exchange.value} {symbol}; start one with startPositionManager")
        return manager

    async def stop(self, exchange: Exchange, symbol: str) -> PositionManager:
        manager = self.get(exchange, symbol)
        if manager.state is not State.STOPPED:
            await manager.stop()
        return manager

    async def close(self) -> None:
        """Service shutdown: every running manager cancels its orders and stops."""
        for manager in list(self.managers.values()):
            if manager.state not in (State.STOPPED, State.FAILED):
                await manager.stop()
        await self.tasks.close()
