"""What a connector knows of its orders, and the one door from a connector to the engine.

Every venue connector keeps one ``OrderTracker``: each order it sent or learned (symbol, side, type,
time in force, quantity, price, venue order id, quantity filled, status, latest state), the venue-id ->
clOrderId map, the trade ids already forwarded (``transport.dedupe.SeenIds``), the time of the last
trade seen per symbol (where a recovery starts reading trades), and a bounded window of finished
orders (the oldest beyond ``FINISHED_KEPT`` are forgotten, with every venue id they had, so memory
stays bounded however many orders a session sends).

``emit`` forwards a report to the engine's sink: a fill once per trade id, the knowledge kept current
first. The rules ``note`` applies, the same on every venue:

- a fill adds its quantity to the order's filled quantity (fills are counted once: ``emit`` dedupes);
- a status report that counts fills not reported yet does not move the status: those fills come
  first, with their trade ids (a recovery then still sees the order live and fetches them);
- a final status is final (a late ``new`` does not revive an order);
- a report about a venue order the client order has moved away from (``supersede``: Binance spot's
  cancel-replace keeps the clOrderId on a new venue order) counts its fills but not its status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Protocol

from ..domain.enums import OrderStatus, OrderType, Side, TimeInForce
from ..domain.venue import ExecutionReport, OutcomeUnknown, Rejected, VenueError
from .transport.dedupe import SeenIds
from .transport.websocket import Backoff, StreamError

log = logging.getLogger("execx.connectors.tracking")

FINISHED_KEPT = 10_000  # finished orders remembered (late fills of recent orders still map to them)
VANISHED = "the venue no longer knows the order (it cannot fill)"
_RANK = {OrderStatus.PENDINGNEW: 0, OrderStatus.NEW: 1, OrderStatus.PARTIALLYFILLED: 2}  # final statuses: 3


@dataclass
class Known:
    """What the connector knows of one order."""

    symbol: str
    side: Side
    order_type: OrderType = OrderType.LIMIT
    tif: TimeInForce = TimeInForce.GTC
    qty: Decimal = Decimal(0)
    price: Decimal | None = None
    exch_order_id: str = ""
    cum_filled: Decimal = Decimal(0)
    status: OrderStatus = OrderStatus.PENDINGNEW
    state: ExecutionReport | None = None  # the latest status report (fill fields cleared)
    final: asyncio.Future[ExecutionReport] | None = None  # resolved with the final state, when asked for
    former_ids: list[str] = field(default_factory=list)  # venue ids the order had before (cancel-replace)
    # filled on the venue orders it had before its current one (Binance spot cancel-replace: the current
    # venue order's quantities count from the replacement, the client's from the start)
    replaced_filled: Decimal = Decimal(0)

    @property
    def live(self) -> bool:
        return not self.status.is_final


def _status_of(report: ExecutionReport) -> ExecutionReport:
    if not report.trade_id:
        return report
    return replace(
        report, trade_id="", fill_qty=Decimal(0), fill_price=Decimal(0), liquidity=None, fee=Decimal(0), fee_asset=""
    )


class OrderTracker:
    def __init__(
        self,
        sink: Callable[[ExecutionReport], None],
        *,
        finished_kept: int = FINISHED_KEPT,
        on_final: Callable[[str, Known, ExecutionReport], None] | None = None,
    ) -> None:
        self.sink = sink
        self.orders: dict[str, Known] = {}
        self.by_exch_id: dict[str, str] = {}
        self.superseded: set[str] = set()  # venue ids a client order moved away from (their status is not its)
        self.last_trade_ms: dict[str, int] = {}  # per symbol: the newest trade seen
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._finished_kept = finished_kept
        self._seen_trades = SeenIds()
        self._on_final = on_final

    # ------------------------------------------------------------------ knowledge

    def track(self, cl_order_id: str, known: Known) -> Known | None:
        """Know ``known`` as ``cl_order_id`` (an order being sent, or one learned from the venue);
        returns what was known under that id before (``restore`` puts it back)."""
        previous = self.orders.get(cl_order_id)
        if previous is not None and previous is not known:
            self._unmap(previous)
            self._finished.pop(cl_order_id, None)
        self.orders[cl_order_id] = known
        if known.exch_order_id:
            self.by_exch_id[known.exch_order_id] = cl_order_id
        return previous

    def restore(self, cl_order_id: str, previous: Known | None) -> None:
        """Undo a ``track``: ``previous`` is known again under ``cl_order_id`` (or nothing)."""
        current = self.orders.pop(cl_order_id, None)
        if current is not None:
            self._unmap(current)
        if previous is not None:
            self.track(cl_order_id, previous)
            if previous.status.is_final:
                self._finish(cl_order_id)

    def learn(self, report: ExecutionReport) -> None:
        """Know an order this connector did not send (the engine asks for it after a restart), while it is
        live: its later fills are then recovered like those of the orders it sent. Otherwise ``note``."""
        if report.cl_order_id in self.orders or report.status.is_final or not report.cl_order_id:
            self.note(report)
            return
        self.track(
            report.cl_order_id,
            Known(
                report.symbol,
                report.side,
                qty=report.qty,
                price=report.price,
                exch_order_id=report.exch_order_id,
                cum_filled=report.cum_filled,
                status=report.status,
                state=_status_of(report),
            ),
        )

    def refused(self, cl_order_id: str) -> None:
        """The venue refused the order: it is final (and forgotten in turn like every finished order)."""
        known = self.orders.get(cl_order_id)
        if known is not None and known.live:
            known.status = OrderStatus.REJECTED
            self._finish(cl_order_id)

    def get(self, cl_order_id: str) -> Known | None:
        return self.orders.get(cl_order_id)

    def cl_of(self, exch_order_id: str) -> str | None:
        return self.by_exch_id.get(exch_order_id)

    def map_exch_id(self, exch_order_id: str, cl_order_id: str) -> None:
        """Map a venue id to a known client order (kept while the order is known)."""
        known = self.orders.get(cl_order_id)
        if not exch_order_id or exch_order_id in self.by_exch_id or known is None:
            return
        self.by_exch_id[exch_order_id] = cl_order_id
        if exch_order_id != known.exch_order_id and exch_order_id not in known.former_ids:
            known.former_ids.append(exch_order_id)

    def supersede(self, exch_order_id: str) -> None:
        """The client order of ``exch_order_id`` is moving to a new venue order: from now on reports of
        this one count their fills but not their status."""
        if exch_order_id:
            self.superseded.add(exch_order_id)

    def unsupersede(self, exch_order_id: str) -> None:
        self.superseded.discard(exch_order_id)

    def seen(self, symbol: str, trade_id: str, exch_order_id: str) -> bool:
        return _fill_key(symbol, trade_id, exch_order_id) in self._seen_trades

    def live(self) -> list[tuple[str, Known]]:
        """Orders believed live on the venue (not final; the venue acknowledged them)."""
        return [(cl, k) for cl, k in self.orders.items() if k.live and k.exch_order_id]

    def has_live(self) -> bool:
        """Any order not known to be final (sent and not answered yet included)."""
        return any(k.live for k in self.orders.values())

    def symbols(self, live_only: bool = False) -> list[str]:
        """Symbols of the orders known (``live_only``: of those not final, where fills can still come)."""
        return sorted({k.symbol for k in self.orders.values() if k.live or not live_only})

    def trades_since_ms(self, symbol: str | None, default_ms: int) -> int:
        """The time of the newest trade seen (of ``symbol``, or of any), else ``default_ms``."""
        if symbol is None:
            return max(self.last_trade_ms.values(), default=default_ms)
        return self.last_trade_ms.get(symbol, default_ms)

    def changed(self, report: ExecutionReport) -> bool:
        """Whether a status report (e.g. a row of the venue's open orders) says more than we know (so a
        recovery that runs every few seconds does not repeat what the engine has)."""
        known = self.orders.get(report.cl_order_id)
        if known is None:
            return True
        return (
            report.status is not known.status
            or report.cum_filled > known.cum_filled
            or (report.qty > 0 and report.qty != known.qty)
            or (report.price is not None and report.price != known.price)
            or bool(report.exch_order_id and report.exch_order_id != known.exch_order_id)
        )

    def latest(self, cl_order_id: str, fallback: ExecutionReport) -> ExecutionReport:
        """The order's latest known status (an answer must never be older than what was emitted)."""
        known = self.orders.get(cl_order_id)
        return known.state if known is not None and known.state is not None else fallback

    # ------------------------------------------------------------------ reports

    def emit(self, report: ExecutionReport) -> bool:
        """Forward a report to the engine (a fill once per trade id) and keep what we know current;
        False when it was a fill already forwarded."""
        if report.trade_id:
            if not self._seen_trades.first(_fill_key(report.symbol, report.trade_id, report.exch_order_id)):
                return False
            t_ms = report.exch_time_ns // 1_000_000
            if t_ms > self.last_trade_ms.get(report.symbol, 0):
                self.last_trade_ms[report.symbol] = t_ms
            self._apply(report, fill=True)
        else:
            self._apply(report, fill=False)
        self.sink(report)
        return True

    def vanished(self, cl_order_id: str, now_ns: int) -> None:
        """An order believed live that the venue no longer knows (it answers "no such order", e.g. after
        the venue itself restarted and lost its book): it cannot fill any more, so it ends cancelled with
        what it had filled, and the reason says so."""
        known = self.orders.get(cl_order_id)
        if known is None or not known.live:
            return
        self.emit(
            ExecutionReport(
                cl_order_id,
                known.symbol,
                known.exch_order_id,
                OrderStatus.CANCELLED,
                known.side,
                known.price,
                known.qty,
                known.cum_filled,
                now_ns,
                message=VANISHED,
            )
        )

    def note(self, report: ExecutionReport) -> None:
        """Keep what we know current from an answer that is not forwarded (an acknowledgement returned
        to the engine, a query): its status, ids, quantity and price, never a fill."""
        self._apply(report, fill=False)

    def _apply(self, report: ExecutionReport, *, fill: bool) -> None:
        cl = report.cl_order_id
        known = self.orders.get(cl)
        if known is None:
            return
        exch_id = report.exch_order_id
        if exch_id and exch_id in self.superseded:
            self.map_exch_id(exch_id, cl)
            if fill:
                known.cum_filled += report.fill_qty
            return
        if exch_id and exch_id != known.exch_order_id:
            self._rekey(cl, known, exch_id)
        if fill:
            known.cum_filled += report.fill_qty
        elif report.cum_filled > known.cum_filled:
            # a status that counts fills not reported yet: those come first, with their trade ids; its terms
            # (an amend's new quantity and price) hold already: the answer returned must not say the old ones
            self._take_terms(known, report)
            return
        if known.status.is_final:
            return
        if _RANK.get(report.status, 3) >= _RANK.get(known.status, 3):  # never back from partially filled to new
            known.status = report.status
        if report.qty > 0:
            known.qty = report.qty
        if report.price is not None:
            known.price = report.price
        known.state = state = _status_of(report)
        if known.status.is_final:
            self._ended(cl, known, report, state)

    def _rekey(self, cl_order_id: str, known: Known, exch_id: str) -> None:
        """The order's venue id is now ``exch_id`` (a cancel-replace, or the first answer): the earlier id
        is remembered as a former one, and unmapped unless it stays mapped as superseded."""
        if known.exch_order_id:
            if known.exch_order_id not in known.former_ids:
                known.former_ids.append(known.exch_order_id)
            if known.exch_order_id not in self.superseded:
                self.by_exch_id.pop(known.exch_order_id, None)
        known.exch_order_id = exch_id
        self.by_exch_id[exch_id] = cl_order_id

    def _ended(self, cl_order_id: str, known: Known, report: ExecutionReport, state: ExecutionReport) -> None:
        """The order reached a final state: wake whoever waits for it, tell the venue hook, keep it bounded."""
        if known.final is not None and not known.final.done():
            known.final.set_result(state)
        if self._on_final is not None:
            self._on_final(cl_order_id, known, report)
        self._finish(cl_order_id)

    @staticmethod
    def _take_terms(known: Known, report: ExecutionReport) -> None:
        if known.status.is_final:
            return
        if report.qty > 0:
            known.qty = report.qty
        if report.price is not None:
            known.price = report.price
        if known.state is not None:
            known.state = replace(known.state, qty=known.qty, price=known.price, message=report.message)

    # ------------------------------------------------------------------ bounded memory

    def _finish(self, cl_order_id: str) -> None:
        self._finished[cl_order_id] = None
        self._finished.move_to_end(cl_order_id)
        while len(self._finished) > self._finished_kept:
            old, _ = self._finished.popitem(last=False)
            gone = self.orders.get(old)
            if gone is not None and gone.status.is_final:
                del self.orders[old]
                self._unmap(gone)

    def _unmap(self, known: Known) -> None:
        for exch_id in (known.exch_order_id, *known.former_ids):
            if exch_id:
                self.superseded.discard(exch_id)
                if self.by_exch_id.get(exch_id) is not None and self.orders.get(self.by_exch_id[exch_id]) in (
                    known,
                    None,
                ):
                    del self.by_exch_id[exch_id]

    def __len__(self) -> int:
        return len(self.orders)

    # ------------------------------------------------------------------ duplicate client order ids

    def live_order(self, cl_order_id: str) -> Known | None:
        """The order known under ``cl_order_id`` if the venue acknowledged it and it is not final (a new
        order under that id would be a second one, where the venue does not refuse duplicates itself)."""
        known = self.orders.get(cl_order_id)
        return known if known is not None and known.live and known.exch_order_id else None

    async def existing(
        self,
        symbol: str,
        cl_order_id: str,
        previous: Known | None,
        query: Callable[[str, str], Awaitable[ExecutionReport | None]],
        why: str,
    ) -> ExecutionReport:
        """The answer to a new order the venue refused as a duplicate client order id (or one that is
        live already): the order exists, so it is never rejected — its report as the venue has it now
        (what we knew of it before this attempt is kept). ``OutcomeUnknown`` when the venue does not find
        it by that id or cannot be asked now (the engine reconciles by clOrderId)."""
        if previous is not None:
            self.restore(cl_order_id, previous)
        try:
            report = await query(symbol, cl_order_id)
        except VenueError as exc:
            raise OutcomeUnknown(f"{why}; asking the venue for it failed: {exc.message}", "duplicate") from None
        if report is None:
            raise OutcomeUnknown(f"{why}, but the venue does not find it", "duplicate")
        log.info("connector.duplicate_client_order_id", extra={"clOrderId": cl_order_id, "status": report.status.value})
        return report


def refused_as_duplicate(error: Rejected, codes: frozenset[str], shared_codes: frozenset[str] = frozenset()) -> bool:
    """Whether a venue refusal says "duplicate client order id": one of ``codes``, or one of
    ``shared_codes`` (codes the venue uses for several refusals, e.g. Binance -2010) whose message says so."""
    return error.code in codes or (error.code in shared_codes and "duplicat" in error.message.lower())


# ---------------------------------------------------------------------------------------------- recovery

RECOVERY_ATTEMPTS = 3
# An answer the connector could not read fails one attempt (logged), not the connector's streams.
PARSE_ERRORS: tuple[type[Exception], ...] = (KeyError, ValueError, TypeError, ArithmeticError)


class Recovery:
    """The one recovery routine: the venue's recover-once hook (open orders, trades since the last one
    seen per symbol, final states of orders believed live; each venue reports what it finds through its
    tracker, deduped) run with bounded attempts and backoff between failures. One run at a time: a
    reconnect and the polling fallback never query the venue twice over at once."""

    def __init__(
        self,
        name: str,
        recover_once: Callable[[], Awaitable[None]],
        backoff: Backoff,
        *,
        attempts: int = RECOVERY_ATTEMPTS,
        retry_on: tuple[type[Exception], ...] = (VenueError, *PARSE_ERRORS),
    ) -> None:
        self.name = name
        self._recover_once = recover_once
        self._backoff = backoff
        self._attempts = attempts
        self._retry_on = retry_on
        self._lock = asyncio.Lock()
        self.runs = 0  # completed recover-once calls (tests, metrics)
        # a run failed and none has succeeded since: what the venue did meanwhile is not known yet, so the
        # polling fallback (StallWatch) goes on recovering although the stream may be back
        self.owed = False

    async def run(self) -> None:
        """After a private stream reconnected: recover, at most ``attempts`` times."""
        await self.attempt(self._attempts)

    async def attempt(self, attempts: int = 1, hook: Callable[[], Awaitable[None]] | None = None) -> bool:
        """Run ``hook`` (default: the recover-once hook) until it succeeds, at most ``attempts`` times; True
        when it did. Venue failures are logged, never raised."""
        once = hook or self._recover_once
        async with self._lock:
            for attempt in range(attempts):
                try:
                    await once()
                    self.runs += 1
                    self.owed = False
                    return True
                except self._retry_on as exc:
                    self.owed = True
                    log.warning(
                        "connector.recovery_failed",
                        extra={"connector": self.name, "attempt": attempt + 1, "error": repr(exc)},
                    )
                    if attempt + 1 < attempts:
                        # recovery backoff, at least what a rate-limited venue asks for
                        hint = getattr(exc, "retry_after_s", None) or 0.0
                        await asyncio.sleep(max(self._backoff.delay(attempt), min(hint, RETRY_AFTER_CAP_S)))
            if attempts > 1:
                log.error("connector.recovery_gave_up", extra={"connector": self.name})
            return False


# ---------------------------------------------------------------------------------------------- polling fallback

RETRY_AFTER_CAP_S = 10.0  # a recovery waits at most this long for a rate-limited venue between attempts
STALL_S = 3.0  # a private stream that said nothing this long while orders are live may be stalled
POLL_EVERY_S = 2.0  # while it is down, or silent (a nudge goes unanswered): recover this often
QUIET_POLL_EVERY_S = 5.0  # while it is quiet but answers nudges (its pushes may still be stalled): this often
NUDGE_WAIT_S = 1.0  # how long a quiet stream has to answer a nudge before it counts as silent
TICK_S = 0.5
SWEEP_EVERY_S = 15.0  # while the stream is healthy: the live orders checked with the venue this often


class Liveness(Protocol):
    """A private stream as the stall watch sees it (``ReconnectingWebSocket``, ``FixSession``)."""

    @property
    def live(self) -> bool: ...

    @property
    def last_heard(self) -> float: ...  # time.monotonic() of the last message from the venue

    async def nudge(self) -> None: ...  # elicit an answer (an application-level ping); may raise


class StallWatch:
    """The polling fallback. While a connector has live orders and its private stream has said nothing
    for ``stall_s``, ``poll`` (a recover-once hook over REST / HTTP: open orders, trades since the last one
    seen, final states) runs through ``recovery`` (one at a time with a reconnect's recovery) until the
    stream delivers something again:

    - every ``poll_every_s`` while the stream is down (reconnecting) or silent: a nudge (the stream's own
      ping) goes unanswered within ``nudge_wait_s``;
    - every ``quiet_poll_every_s`` while it answers nudges but pushes nothing: quiet, or a feed whose
      pushes stalled behind a connection that still answers pings (both happen; they look alike).

    So a fill reaches the engine within ``stall_s + nudge_wait_s + quiet_poll_every_s`` (about 9 s) plus a
    round trip of the venue having it, whatever the stream does. And while the stream is healthy, the live
    orders are swept every ``sweep_every_s`` (a message a venue lost is not resent). ``run`` is a
    background task of the connector's supervisor."""

    def __init__(
        self,
        name: str,
        stream: Callable[[], Liveness | None],
        tracker: OrderTracker,
        recovery: Recovery,
        poll: Callable[[], Awaitable[None]],
        *,
        stall_s: float = STALL_S,
        poll_every_s: float = POLL_EVERY_S,
        quiet_poll_every_s: float = QUIET_POLL_EVERY_S,
        nudge_wait_s: float = NUDGE_WAIT_S,
        tick_s: float = TICK_S,
        sweep_every_s: float = SWEEP_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._stream = stream
        self._tracker = tracker
        self._recovery = recovery
        self._poll = poll
        self.stall_s = stall_s
        self.poll_every_s = poll_every_s
        self.quiet_poll_every_s = quiet_poll_every_s
        self.nudge_wait_s = nudge_wait_s
        self.tick_s = tick_s
        self._clock = clock
        self.sweep_every_s = sweep_every_s
        self._last_poll = clock()
        self.polls = 0  # polls run (tests, metrics)
        self.sweeps = 0  # sweeps of a healthy stream's live orders run (tests, metrics)
        self.mode = ""  # "", "quiet", "silent", "down" or "recovering" (stream back, its gap not recovered yet)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)  # the watch's tick
            stream = self._stream()
            if stream is None:
                continue
            owed = self._recovery.owed
            if stream.live and self._clock() - stream.last_heard < self.stall_s and not owed:
                self._set_mode("")
                if self.sweep_every_s and self._clock() - self._last_poll >= self.sweep_every_s:
                    # a healthy stream can still have lost one message (a venue does not resend): the live
                    # orders are compared with the venue's now and then
                    self._last_poll = self._clock()
                    if self._tracker.has_live():
                        self.sweeps += 1
                        await self._recovery.attempt(1, self._poll)
                continue
            if not self._tracker.has_live():
                continue
            if owed and stream.live:  # the stream is back but the recovery after its gap failed: go on
                answered = False
                self._set_mode("recovering")
            else:
                answered = stream.live and await self._answers(stream)
                self._set_mode("quiet" if answered else "silent" if stream.live else "down")
            started = self._last_poll = self._clock()
            self.polls += 1
            await self._recovery.attempt(1, self._poll)
            every = self.quiet_poll_every_s if answered else self.poll_every_s
            await asyncio.sleep(max(0.0, every - (self._clock() - started) - self.tick_s))

    async def _answers(self, stream: Liveness) -> bool:
        """Nudge a quiet stream: True when it answered (the connection is alive)."""
        heard = stream.last_heard
        try:
            async with asyncio.timeout(self.nudge_wait_s):
                await stream.nudge()
        except (TimeoutError, StreamError, ConnectionError, OSError) as exc:
            log.debug("connector.nudge_unanswered", extra={"connector": self.name, "error": type(exc).__name__})
        return stream.last_heard > heard

    def _set_mode(self, mode: str) -> None:
        if mode == self.mode:
            return
        if mode in ("silent", "down", "recovering"):
            log.warning("connector.stream_stalled.polling", extra={"connector": self.name, "stream": mode})
        elif not mode and self.mode in ("silent", "down", "recovering"):
            log.info("connector.stream_back.polling_stopped", extra={"connector": self.name})
        self.mode = mode


def _fill_key(symbol: str, trade_id: str, exch_order_id: str) -> str:
    """A fill is one side of one trade: a trade between two orders of the same account (a self-trade the
    venue lets happen, e.g. Deribit) reports the same trade id to both, and each side is a fill."""
    return f"{symbol}:{trade_id}:{exch_order_id}"
