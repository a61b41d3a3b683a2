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

It runs on the shared algorithm runtime (``runtime.Runner``: its feed, its orders' updates, its own
supervisor; ``runtime.Saved``/``Restorer``: persistence). Its configuration, target, totals and the
clOrderId prefixes of its orders are saved (journal ``algorithms`` table, kind ``position_manager``)
when it starts, on every new target, before every order it places and on every fill. A service
shutdown leaves its orders working at the venue and keeps it saved; after a restart it runs again
once its session is started again (no pull), adopts its orders the engine holds (by prefix: none
forgotten, none placed twice) and books the fills they made while execx was down.

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
from typing import Any

from ..domain.enums import Exchange, Liquidity, OrderStatus, OrderType, Side, TimeInForce, TransactionType
from ..domain.errors import AlreadyExists, FailedPrecondition, InvalidTransition, NotFound, ValidationError
from ..domain.instruments import InstrumentRules
from ..domain.orders import Order
from ..domain.venue import ExecutionReport, VenueError
from ..engine.sessions import LIVE, STOPPED, OrderEngine, SendOrder
from ..engine.tasks import Supervisor
from ..engine.updates import OrderUpdate
from ..marketdata.hub import MarketDataHub, MarketEvent, TradeEvent, wait_event
from ..observability.metrics import Metrics
from .pnl import Book
from .position_plan import Amend, Cancel, Place, Plan, PlanConfig, Quote, Working, plan
from .runtime import Restorer, Runner, RunnerState, Saved, base36, required

log = logging.getLogger("execx.position_manager")

KIND = "position_manager"
STABLE = frozenset({"USDC", "USDT", "USD"})  # the settlement coins options are priced in (Bybit: USDC)
ZERO = Decimal(0)
PENDING = frozenset({OrderStatus.PENDINGNEW, OrderStatus.PENDINGUPDATE, OrderStatus.PENDINGCANCEL})
MAX_REJECTS = 5  # unexplained rejects in a row before the manager gives up
DONE_KEPT = 1_000  # finished orders whose late fills the manager still recognises
BACKOFF_S = (1.0, 30.0)  # venue back-off: first and longest pause
STOP_SETTLE_S = 5.0  # on stop, how long to wait for orders still awaiting the venue's answer


State = RunnerState  # running, paused, done (target reached), stopped, failed


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

    def to_json(self) -> dict[str, Any]:
        return {
            "pullOnStartup": self.pull_on_startup,
            "maintainSpreads": self.maintain_spreads,
            "quoteLevels": self.quote_levels,
            "minOrderQty": str(self.min_order_qty),
            "reEntryTickerSeconds": self.re_entry_ticker_seconds,
            "priceLevelInterval": str(self.price_level_interval),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PositionManagerConfig:
        return cls(
            bool(d["pullOnStartup"]),
            bool(d["maintainSpreads"]),
            int(d["quoteLevels"]),
            Decimal(d["minOrderQty"]),
            float(d["reEntryTickerSeconds"]),
            Decimal(d["priceLevelInterval"]),
        )


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
    realised_pnl: Decimal = ZERO  # its fills at average cost, after fees (``pnl.Book``)
    unrealised_pnl: Decimal = ZERO  # the open quantity of its fills at ``mark_price``, before fees
    mark_price: Decimal = ZERO  # the hub's mid; 0 without a fresh feed (unrealised then 0)
    net_qty: Decimal = ZERO  # signed: the position its own fills make
    avg_entry_price: Decimal = ZERO  # average entry of ``net_qty``


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
    if len(rest) == 3 and rest[-1] in ("C", "P") and asset in STABLE:
        return fee  # an option ("BTC-26FEB27-100000-C"): its premium, and the fee, in the settlement coin
    if asset == first or (not rest and first.startswith(asset)):
        return fee * price
    return None


class PositionManager(Runner):
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
        config: PositionManagerConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(engine, hub, metrics, session_id, exchange, symbol)
        self.saved = saved
        self.key = f"{exchange.value}|{symbol}"
        self.config = config
        self.clock = clock
        self.target = ZERO
        self.rules: InstrumentRules | None = None
        self.prefix = f"pm{base36(time.time_ns() // 1_000_000)}x"  # unique per start: ids are never reused
        self.prefixes = [self.prefix]  # and those of its earlier runs (before a restart) with orders still open
        self._cancelled: set[str] = set()  # orders it asked to cancel (their end is not a re-quote)
        self._done: OrderedDict[str, None] = OrderedDict()  # its finished orders, oldest first (DONE_KEPT)
        self._booked: dict[str, tuple[Decimal, Decimal]] = {}  # live order -> (filled qty, notional) counted
        self._n = 0
        self.filled_qty = ZERO
        self._notional = ZERO
        self.book: Book | None = None  # its fills' PnL (the rules are read in start)
        self.maker_fills = 0
        self.taker_fills = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._forgotten = False  # stopped or failed: its saved row is dropped and never written again
        self._stream_up = True
        self._backoff_until = 0.0
        self._backoff_s = 0.0
        self._backoff_reason = ""
        self._rejects = 0
        self._pause_kind = ""
        self._paused_since = 0.0
        self._labels = (exchange.value, symbol)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, restored: dict[str, Any] | None = None) -> None:
        """Check the session and symbol, join the market data, pull (if asked; not on a restore), then run.
        ``restored``: what ``save`` kept before a restart: its target and totals, and its orders adopted."""
        self.config.validate()
        _, connector = self.engine.live_session(self.session_id)
        self.rules = connector.rules(self.symbol)
        self.book = Book(self.rules)
        await super().start()  # the feed and its orders' updates (no await after it before adopting)
        self.engine.fill_observers.append(self._on_fill)
        self.engine.stream_observers.append(self._on_stream)
        self.target = self.engine.position(self.session_id, self.symbol)  # nothing to do until a target is set
        self.state = State.DONE
        try:
            if restored is not None:
                self._adopt(restored)
            self.save()
            if self.config.pull_on_startup and restored is None:
                await self.engine.send(SendOrder(self.session_id, TransactionType.PULL, symbol=self.symbol))
        except BaseException:
            self.detach()
            raise
        self.tasks.spawn(self._run(), "run")
        self.publish("restored" if restored is not None else "started", qty=self.target)
        log.info("position_manager.started", extra={"session": self.session_id, "symbol": self.symbol})

    def save(self) -> None:
        """Persist what a restart needs: configuration, target, totals, its live orders' counted fills."""
        if self._forgotten:
            return
        self.saved.save(
            self.key,
            self.session_id,
            {
                "exchange": self.exchange.value,
                "symbol": self.symbol,
                "config": self.config.to_json(),
                "target": str(self.target),
                "prefixes": self.prefixes,
                "filledQty": str(self.filled_qty),
                "notional": str(self._notional),
                "fees": str(self.fees),
                "book": self.book.to_json() if self.book is not None else None,
                "makerFills": self.maker_fills,
                "takerFills": self.taker_fills,
                "booked": {cl: [str(q), str(n)] for cl, (q, n) in self._booked.items()},
            },
        )

    def _adopt(self, d: dict[str, Any]) -> None:
        """After a restart: the saved target and totals; every order of its earlier runs the engine holds
        open is its own again (it is planned with, never placed twice), and the fills its orders made
        since the last save (while execx was down, recovered by the reconciliation) are booked."""
        self.target = Decimal(d["target"])
        self.filled_qty, self._notional = Decimal(d["filledQty"]), Decimal(d["notional"])
        if self.rules is None:
            raise RuntimeError("PositionManager._adopt: rules unset (called before start)")
        # (a row saved before the PnL book existed starts its book empty)
        self.book = Book.from_json(self.rules, d["book"]) if d.get("book") else Book(self.rules)
        self.book.fees = Decimal(d["fees"])
        self.maker_fills, self.taker_fills = int(d["makerFills"]), int(d["takerFills"])
        booked = {cl: (Decimal(q), Decimal(n)) for cl, (q, n) in d["booked"].items()}
        old = tuple(d["prefixes"])
        session = self.engine.session(self.session_id)
        mine = {
            o.cl_order_id: o
            for o in session.orders.values()
            if o.cl_order_id.startswith(old) and o.symbol == self.symbol and not o.status.is_final
        }
        for cl in booked.keys() - mine.keys():
            if (o := session.store.get(cl)) is not None:
                mine[cl] = o
        for cl, o in mine.items():
            qty, notional = booked.get(cl, (ZERO, ZERO))
            if o.cum_filled > qty:  # filled while execx was down
                self.filled_qty += o.cum_filled - qty
                missed = o.cum_filled * (o.avg_price or ZERO) - notional
                self._notional += missed
                self.book.fill(o.side, o.cum_filled - qty, missed / (o.cum_filled - qty))
            self.ids.add(cl)
            if o.status.is_final:
                self._forget_done(cl)
            else:
                self._booked[cl] = (o.cum_filled, o.cum_filled * (o.avg_price or ZERO))
        self.prefixes = [p for p in old if any(cl.startswith(p) for cl in self._booked)] + [self.prefix]
        log.info(
            "position_manager.adopted",
            extra={"symbol": self.symbol, "orders": len(self._booked), "target": str(self.target)},
        )

    def set_target(self, target: Decimal) -> None:
        if self.state in (State.STOPPED, State.FAILED):
            raise FailedPrecondition(
                f"the position manager on {self.exchange.value} {self.symbol} is {self.state.value}; start it again"
            )
        self.target = target
        self.save()
        self.metrics.pm_target.labels(*self._labels).set(float(target))
        self.publish("target", qty=target)
        self._wake.set()

    async def stop(self) -> None:
        """Cancel its orders and stop (it does not come back after a restart); the status keeps the
        quantity done."""
        self._stopping = self._forgotten = True
        self.saved.drop(self.key)
        await self.tasks.close()
        if self.state is not State.FAILED:
            await self._settle_and_cancel("stop")
            self._leave_pause()
            self.state, self.reason = State.STOPPED, ""
            self.publish("stopped", qty=self.filled_qty)
        self.detach()
        log.info("position_manager.stopped", extra={"symbol": self.symbol, "filledQty": str(self.filled_qty)})

    async def halt(self) -> None:
        """Service shutdown: stop acting, leave its orders working at the venue, stay saved."""
        self._stopping = True
        await self.tasks.close()
        self.detach()

    def detach(self) -> None:
        """Leave the engine's observers and the market data; drop this manager's gauge series."""
        if self._on_fill in self.engine.fill_observers:
            self.engine.fill_observers.remove(self._on_fill)
        if self._on_stream in self.engine.stream_observers:
            self.engine.stream_observers.remove(self._on_stream)
        super().detach()
        for gauge in (self.metrics.pm_target, self.metrics.pm_current):
            with contextlib.suppress(KeyError):
                gauge.remove(*self._labels)

    # ------------------------------------------------------------------ events (synchronous, never block)

    def _market(self, event: MarketEvent) -> None:
        """Every best bid/ask and feed status wakes the loop (which reads staleness itself)."""
        if not isinstance(event, TradeEvent):
            self._wake.set()

    def _on_update(self, u: OrderUpdate) -> None:
        if u.trade_id:
            self.filled_qty += u.executed_qty
            self._notional += u.executed_qty * u.price
            if self.book is not None:
                self.book.fill(u.side, u.executed_qty, u.price)  # (its fee comes with _on_fill)
            if u.trade_liquidity is Liquidity.REMOVE:
                self.taker_fills += 1
            else:
                self.maker_fills += 1
            q, n = self._booked.get(u.cl_order_id, (ZERO, ZERO))
            self._booked[u.cl_order_id] = (q + u.executed_qty, n + u.executed_qty * u.price)
        elif u.order_status is OrderStatus.NEW:
            self._rejects = 0
        elif u.order_status is OrderStatus.REJECTED and not u.journal.get("notSent"):
            self._on_reject(u)  # (an order not sent, the venue refusing every attempt, is a back-off: _do)
        elif u.order_status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED) and u.cl_order_id not in self._cancelled:
            # the venue ended a post-only order we did not cancel (it would have crossed): quote again
            self.metrics.pm_requotes.labels(self.exchange.value).inc()
        if u.order_status.is_final:
            self._booked.pop(u.cl_order_id, None)
            if not u.trade_id:
                self._forget_done(u.cl_order_id)
        if u.trade_id:
            self.save()  # the fill is counted: a restart does not count it again
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
        quote = self.sub.feed.quote if self.sub is not None else None
        crossed = quote is not None and (u.price >= quote.ask if u.side is Side.BUY else u.price <= quote.bid)
        if crossed:  # the market moved onto the post-only price: not an error, quote again
            self.metrics.pm_requotes.labels(self.exchange.value).inc()
            return
        self._rejects += 1
        log.warning("position_manager.reject", extra={"symbol": self.symbol, "venueMessage": u.message})
        if self._rejects >= MAX_REJECTS:
            self.fail(f"{MAX_REJECTS} orders refused in a row; last: {u.message}")

    def _on_fill(self, session_id: str, cl_order_id: str, r: ExecutionReport) -> None:
        if session_id != self.session_id or cl_order_id not in self.ids or self.rules is None:
            return
        fee = fee_in_quote(self.rules, r.fee, r.fee_asset, r.fill_price)
        if fee is None:
            log.info("position_manager.fee_other_asset", extra={"asset": r.fee_asset, "fee": str(r.fee)})
        elif self.book is not None:
            self.book.fees += fee

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
            self.fail(f"internal error: {type(e).__name__}: {e}")
        if self._failed():  # (a stop cleans up in stop())
            self._forgotten = True
            self.saved.drop(self.key)
            await self._settle_and_cancel("failed")
            self.detach()

    def _failed(self) -> bool:
        """Whether a step (or an event handler meanwhile) failed the manager."""
        return self.state is State.FAILED

    async def _step(self) -> None:
        session = self.engine.sessions.get(self.session_id)
        if session is None or session.state == STOPPED:
            self.fail(f"session {self.session_id} was stopped")
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
        if self.sub is None or self.rules is None:
            raise RuntimeError("PositionManager._step: sub, rules unset (called before start)")
        feed = self.sub.feed
        mine = self.live_orders()
        position = self.engine.position(self.session_id, self.symbol)
        self.metrics.pm_current.labels(*self._labels).set(float(position))
        self.metrics.pm_target.labels(*self._labels).set(float(self.target))
        if feed.stale:
            self._pause("stale", f"market data stale: {feed.reason}")
            if feed.quote is not None:  # the market may have moved away from them: they may be mispriced
                await self._execute([Cancel(o.cl_order_id, "stale") for o in mine if o.status not in PENDING])
            # (no quote yet: its orders adopted after a restart wait for the first one, then are re-planned)
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

    def _set(self, state: RunnerState, reason: str) -> None:
        self._leave_pause()
        if (state, reason) != (self.state, self.reason):
            log.info("position_manager.state", extra={"symbol": self.symbol, "state": state.value, "reason": reason})
            if state is State.DONE:
                self.publish("done", qty=self.target, detail=reason)
        self.state, self.reason = state, reason

    def pause(self, reason: str) -> None:
        """The runtime's stale-feed rule: the loop reads the feed's staleness itself on its next step."""
        self._wake.set()

    def _pause(self, kind: str, reason: str) -> None:
        if self.state is not State.PAUSED or kind != self._pause_kind:
            self._leave_pause()
            self._pause_kind, self._paused_since = kind, self.clock()
            log.info("position_manager.paused", extra={"symbol": self.symbol, "reason": reason})
            self.publish("paused", detail=reason)
        self.state, self.reason = State.PAUSED, reason

    def _leave_pause(self) -> None:
        if self.state is State.PAUSED and self._pause_kind:
            self.metrics.pm_paused.labels(self.exchange.value, self._pause_kind).inc(self.clock() - self._paused_since)
            self._pause_kind = ""

    def fail(self, reason: str) -> None:
        self._leave_pause()
        super().fail(reason)
        self.publish("failed", detail=reason)

    def _back_off(self, why: str) -> None:
        low, high = BACKOFF_S
        self._backoff_s = min(high, max(low, self._backoff_s * 2))
        self._backoff_until = self.clock() + self._backoff_s
        self._backoff_reason = why
        self._wake.set()

    # ------------------------------------------------------------------ orders

    def _next_id(self) -> str:
        self._n += 1
        cl = f"{self.prefix}{base36(self._n)}"
        self.ids.add(cl)
        self._booked[cl] = (ZERO, ZERO)
        self.save()  # before it is sent: a restart adopts it
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
            self.fail(f"the engine refused the manager's order: {e}")
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
        while any(o.status is OrderStatus.PENDINGNEW for o in self.live_orders()) and self.clock() < deadline:
            self._wake.clear()
            await wait_event(self._wake, max(0.01, deadline - self.clock()))
        await self._execute(
            [Cancel(o.cl_order_id, why) for o in self.live_orders() if o.status is not OrderStatus.PENDINGCANCEL]
        )

    # ------------------------------------------------------------------ status

    @property
    def fees(self) -> Decimal:
        return self.book.fees if self.book is not None else ZERO

    def status(self) -> Status:
        book = self.book or Book(InstrumentRules(self.exchange, self.symbol, ZERO, ZERO, ZERO))
        mark = self.hub.mid(self.exchange, self.symbol)
        unrealised = book.unrealised(mark)
        return Status(
            self.session_id,
            self.exchange,
            self.symbol,
            self.config,
            self.target,
            self.position(),
            self.live_orders(),
            self.filled_qty,
            self._notional / self.filled_qty if self.filled_qty else ZERO,
            self.fees,
            self.state,
            self.reason,
            self.maker_fills,
            self.taker_fills,
            book.realised(),
            unrealised or ZERO,
            mark or ZERO,
            book.qty,
            book.avg_price,
        )


class PositionManagers:
    """Every position manager, one per (exchange, symbol); stopped ones stay listed until a restart."""

    def __init__(self, engine: OrderEngine, hub: MarketDataHub, metrics: Metrics) -> None:
        self.engine = engine
        self.hub = hub
        self.metrics = metrics
        self.managers: dict[tuple[Exchange, str], PositionManager] = {}
        self.saved = Saved(engine.journal, KIND)
        self.tasks = Supervisor("position-managers")
        self._lock = asyncio.Lock()
        self.restorer = Restorer(engine, self.saved, self._restore, self.tasks, metrics)

    async def start(
        self,
        session_id: str,
        exchange: Exchange,
        symbol: str,
        config: PositionManagerConfig,
        restored: dict[str, Any] | None = None,
    ) -> PositionManager:
        required(session_id, "sessionId")
        required(symbol, "symbol")
        config.validate()
        session = self.engine.session(session_id)
        if session.exchange is not exchange:
            raise ValidationError("exchange", f"session {session_id!r} trades {session.exchange.value}")
        async with self._lock:
            existing = self.managers.get((exchange, symbol))
            if existing is not None and existing.state not in (State.STOPPED, State.FAILED):
                raise AlreadyExists(f"a position manager already runs on {exchange.value} {symbol}; stop it first")
            manager = PositionManager(
                self.engine, self.hub, self.metrics, self.saved, session_id, exchange, symbol, config
            )
            await manager.start(restored)
            self.managers[(exchange, symbol)] = manager
            return manager

    async def _restore(self, key: str, session_id: str, d: dict[str, Any]) -> None:
        exchange, symbol = Exchange(d["exchange"]), d["symbol"]
        existing = self.managers.get((exchange, symbol))
        if existing is not None and existing.state not in (State.STOPPED, State.FAILED):
            return  # started again by hand meanwhile
        await self.start(session_id, exchange, symbol, PositionManagerConfig.from_json(d["config"]), restored=d)

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
        """Service shutdown: the managers stop acting but stay saved, their orders working at the venue;
        they carry on after the restart once their sessions are started again."""
        self.restorer.close()
        await self.tasks.close()
        for manager in list(self.managers.values()):
            if manager.state not in (State.STOPPED, State.FAILED):
                with contextlib.suppress(Exception):
                    await manager.halt()
