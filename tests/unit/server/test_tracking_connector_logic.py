"""The order tracker every connector uses (connectors/tracking.py): fills once, status rules, bounded
memory however many orders finish; the recovery routine and the polling fallback (StallWatch)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import waiting
from execx_server.connectors.tracking import Known, OrderTracker, Recovery, StallWatch
from execx_server.connectors.transport.websocket import Backoff
from execx_server.domain.enums import OrderStatus, Side
from execx_server.domain.venue import ExecutionReport, Retryable

D = Decimal


def report(
    cl: str, status: OrderStatus, exch: str = "e1", cum: str = "0", trade: str = "", fill: str = "0"
) -> ExecutionReport:
    return ExecutionReport(
        cl, "BTCUSDT", exch, status, Side.BUY, D(100), D(2), D(cum), 1_000_000 * 5, trade_id=trade, fill_qty=D(fill)
    )


def test_fill_forwarded_once_and_counted_once() -> None:
    out: list[ExecutionReport] = []
    t = OrderTracker(out.append)
    t.track("c1", Known("BTCUSDT", Side.BUY, qty=D(2)))
    fill = report("c1", OrderStatus.PARTIALLYFILLED, cum="1", trade="t1", fill="1")
    assert t.emit(fill) and not t.emit(fill)
    assert out == [fill] and t.orders["c1"].cum_filled == 1 and t.cl_of("e1") == "c1"
    assert t.seen("BTCUSDT", "t1", "e1") and t.trades_since_ms("BTCUSDT", 0) == 5


def test_both_sides_of_a_self_trade_are_fills() -> None:
    # a trade between two orders of the account: the venue reports one trade id to both orders
    out: list[ExecutionReport] = []
    t = OrderTracker(out.append)
    t.track("buy", Known("BTCUSDT", Side.BUY, qty=D(2)))
    t.track("sell", Known("BTCUSDT", Side.SELL, qty=D(2)))
    maker = report("sell", OrderStatus.PARTIALLYFILLED, exch="e-sell", cum="1", trade="t7", fill="1")
    taker = report("buy", OrderStatus.PARTIALLYFILLED, exch="e-buy", cum="1", trade="t7", fill="1")
    assert t.emit(maker) and t.emit(taker) and not t.emit(taker)
    assert out == [maker, taker]


def test_status_ahead_of_its_fills_waits_for_them_and_final_is_final() -> None:
    t = OrderTracker(lambda r: None)
    t.track("c1", Known("BTCUSDT", Side.BUY, qty=D(2)))
    t.emit(report("c1", OrderStatus.NEW))
    t.emit(report("c1", OrderStatus.FILLED, cum="2"))  # its fill has not been seen: the order stays live
    assert t.orders["c1"].status.value == "new" and [cl for cl, _ in t.live()] == ["c1"]
    t.emit(report("c1", OrderStatus.FILLED, cum="2", trade="t1", fill="2"))
    assert t.orders["c1"].status is OrderStatus.FILLED and t.live() == []
    t.emit(report("c1", OrderStatus.NEW))
    assert t.orders["c1"].status is OrderStatus.FILLED


def test_partially_filled_never_goes_back_to_new() -> None:
    t = OrderTracker(lambda r: None)
    t.track("c1", Known("BTCUSDT", Side.BUY, qty=D(2)))
    t.emit(report("c1", OrderStatus.PARTIALLYFILLED, cum="1", trade="t1", fill="1"))
    t.note(report("c1", OrderStatus.NEW))
    assert t.orders["c1"].status is OrderStatus.PARTIALLYFILLED


def test_superseded_venue_order_counts_fills_not_status() -> None:
    t = OrderTracker(lambda r: None)
    t.track("c1", Known("BTCUSDT", Side.BUY, qty=D(2), exch_order_id="old"))
    t.supersede("old")
    t.emit(report("c1", OrderStatus.NEW, exch="new"))
    t.emit(report("c1", OrderStatus.CANCELLED, exch="old"))
    t.emit(report("c1", OrderStatus.CANCELLED, exch="old", cum="1", trade="t0", fill="1"))
    known = t.orders["c1"]
    assert known.exch_order_id == "new" and known.status is OrderStatus.NEW and known.cum_filled == 1
    assert t.cl_of("old") == "c1" and t.cl_of("new") == "c1"


def test_memory_stays_bounded_with_every_venue_id() -> None:
    t = OrderTracker(lambda r: None, finished_kept=10)
    for n in range(1000):
        cl = f"c{n}"
        t.track(cl, Known("BTCUSDT", Side.BUY, qty=D(2), exch_order_id=f"a{n}"))
        t.supersede(f"a{n}")  # a cancel-replace moved it to b{n}
        t.emit(report(cl, OrderStatus.NEW, exch=f"b{n}"))
        t.emit(report(cl, OrderStatus.CANCELLED, exch=f"b{n}"))
    assert len(t.orders) == 10 and len(t.by_exch_id) <= 20 and len(t.superseded) <= 10
    assert t.get("c999") is not None and t.get("c0") is None


def test_restore_puts_back_the_order_known_before() -> None:
    t = OrderTracker(lambda r: None)
    first = Known("BTCUSDT", Side.BUY, qty=D(2), exch_order_id="e1", status=OrderStatus.NEW)
    t.track("c1", first)
    previous = t.track("c1", Known("BTCUSDT", Side.BUY, qty=D(2)))
    assert previous is first
    t.restore("c1", previous)
    assert t.get("c1") is first and t.cl_of("e1") == "c1"


# ---------------------------------------------------------------------------------------------- recovery, polling


class FakeStream:
    """A private stream as the stall watch sees it: live or not, answering nudges or not."""

    def __init__(self, live: bool, answers: bool) -> None:
        self.live = live
        self.answers = answers
        self.last_heard = time.monotonic()
        self.nudges = 0
        self.looked = 0
        self.changed = asyncio.Event()

    async def nudge(self) -> None:
        self.nudges += 1
        self.changed.set()
        if self.answers:
            self.last_heard = time.monotonic()
        else:
            await asyncio.Event().wait()  # never answered (the watch's timeout ends it)


async def until(stream: FakeStream, predicate: Callable[[], bool], within_s: float = 3.0) -> None:
    await waiting.until(stream.changed, predicate, "the stream's state", within_s)


def watch(stream: FakeStream, tracker: OrderTracker, polled: list[float], **kw: Any) -> StallWatch:
    async def poll() -> None:
        polled.append(time.monotonic())
        stream.changed.set()

    def look() -> FakeStream:
        stream.looked += 1
        stream.changed.set()
        return stream

    recovery = Recovery("fake", poll, Backoff(base_s=0.01, cap_s=0.01))
    return StallWatch("fake", look, tracker, recovery, poll, stall_s=0.05, poll_every_s=0.05, quiet_poll_every_s=0.2,
                      nudge_wait_s=0.02, tick_s=0.01, **kw)  # fmt: skip


def live_tracker() -> OrderTracker:
    t = OrderTracker(lambda r: None)
    t.track("c1", Known("BTCUSDT", Side.BUY, qty=D(1), exch_order_id="e1", status=OrderStatus.NEW))
    return t


async def run_watch(w: StallWatch, stream: FakeStream, predicate: Callable[[], bool]) -> None:
    task = asyncio.create_task(w.run())
    try:
        await until(stream, predicate)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_down_stream_with_live_orders_is_polled_without_nudges() -> None:
    stream = FakeStream(live=False, answers=True)
    polled: list[float] = []
    w = watch(stream, live_tracker(), polled)
    await run_watch(w, stream, lambda: len(polled) >= 3)
    assert stream.nudges == 0 and w.mode == "down"


async def test_silent_stream_is_polled_after_an_unanswered_nudge() -> None:
    stream = FakeStream(live=True, answers=False)
    polled: list[float] = []
    w = watch(stream, live_tracker(), polled)
    await run_watch(w, stream, lambda: len(polled) >= 2)
    assert stream.nudges >= 2 and w.mode == "silent"


async def test_no_live_orders_no_polls() -> None:
    stream = FakeStream(live=False, answers=False)
    polled: list[float] = []
    w = watch(stream, OrderTracker(lambda r: None), polled)
    await run_watch(w, stream, lambda: stream.looked >= 30)
    assert polled == []


async def test_a_quiet_stream_answering_nudges_is_polled_less_often() -> None:
    stream = FakeStream(live=True, answers=True)
    polled: list[float] = []
    w = watch(stream, live_tracker(), polled)
    await run_watch(w, stream, lambda: len(polled) >= 3)
    assert w.mode == "quiet" and min(b - a for a, b in itertools.pairwise(polled)) >= 0.15


async def test_recovery_retries_with_backoff_and_never_raises_venue_errors() -> None:
    calls: list[int] = []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise Retryable("busy")

    recovery = Recovery("fake", flaky, Backoff(base_s=0.001, cap_s=0.001))
    assert await recovery.attempt(3) and len(calls) == 3 and recovery.runs == 1
    calls.clear()
    assert not await recovery.attempt(2) and len(calls) == 2


async def test_a_failed_recovery_is_polled_until_it_succeeds_although_the_stream_is_back() -> None:
    """The stream reconnected, but the recovery of its gap failed (e.g. rate-limited): the watch keeps
    recovering, stream or not, until one run succeeds; then it stops."""
    stream = FakeStream(live=True, answers=True)
    failures = [Retryable("rate limit", retry_after_s=0.01)] * 2
    polled: list[float] = []

    async def poll() -> None:
        polled.append(time.monotonic())
        stream.last_heard = time.monotonic()  # the stream is fresh all along
        stream.changed.set()
        if failures:
            raise failures.pop()

    recovery = Recovery("fake", poll, Backoff(base_s=0.01, cap_s=0.01))
    assert not await recovery.attempt(1) and recovery.owed  # the reconnect's recovery failed
    w = StallWatch("fake", lambda: stream, live_tracker(), recovery, poll, stall_s=5, poll_every_s=0.02,
                   tick_s=0.01)  # fmt: skip
    await run_watch(w, stream, lambda: not recovery.owed)
    assert len(polled) == 3 and recovery.runs == 1 and stream.nudges == 0


async def test_a_healthy_stream_still_has_its_live_orders_swept_now_and_then() -> None:
    """A venue may lose one message of a stream that stays healthy: the live orders are compared with the
    venue every ``sweep_every_s``, and not at all without live orders."""
    stream = FakeStream(live=True, answers=True)
    polled: list[float] = []

    async def poll() -> None:
        polled.append(time.monotonic())
        stream.changed.set()

    def fresh() -> FakeStream:
        stream.last_heard = time.monotonic()
        stream.looked += 1
        stream.changed.set()
        return stream

    recovery = Recovery("fake", poll, Backoff(base_s=0.01, cap_s=0.01))
    w = StallWatch("fake", fresh, live_tracker(), recovery, poll, stall_s=5, sweep_every_s=0.05, tick_s=0.01)
    await run_watch(w, stream, lambda: len(polled) >= 3)
    assert w.sweeps >= 3 and w.mode == "" and stream.nudges == 0
    idle = StallWatch("fake", fresh, OrderTracker(lambda r: None), recovery, poll, stall_s=5, sweep_every_s=0.02,
                      tick_s=0.01)  # fmt: skip
    polled.clear()
    await run_watch(idle, stream, lambda: stream.looked >= 60)
    assert polled == [] and idle.sweeps == 0


def test_refused_orders_are_forgotten_like_finished_ones() -> None:
    t = OrderTracker(lambda r: None, finished_kept=5)
    for n in range(100):
        t.track(f"c{n}", Known("BTCUSDT", Side.BUY, qty=D(1)))
        t.refused(f"c{n}")
    assert len(t.orders) == 5 and not t.has_live()


def test_an_order_learned_from_a_query_is_tracked_while_live() -> None:
    t = OrderTracker(lambda r: None)
    t.learn(report("c1", OrderStatus.PARTIALLYFILLED, exch="e9", cum="1"))
    t.learn(report("c2", OrderStatus.FILLED, exch="e8", cum="2"))
    known = t.get("c1")
    assert known is not None and known.cum_filled == 1 and t.cl_of("e9") == "c1" and t.get("c2") is None
    assert [cl for cl, _ in t.live()] == ["c1"]
