"""The event bus: one per order session. Every event gets the session's next sequence number, is
appended to the journal, then offered to every subscriber.

``publish`` only queues the event: the events published during one event-loop iteration are numbered,
journaled (one commit) and fanned out together at its end (``flush``), in the order they were published.
The journal write comes first, so no subscriber ever sees an event or a sequence number that a crash can
take back (durable before visible, journal.py). The order path waits for the commit where it must: before a
request leaves for the venue (its intent is journaled) and before it answers the caller (``durable``: a
group commit while other order transactions of the session are in flight, a flush at once when alone).
Anything that reads the sequence or subscribes flushes first, so nobody sees a gap.

Subscribers have bounded queues. A subscriber that falls ``maxsize`` events behind is marked slow
and its iteration raises ``SlowConsumer``: it is told and disconnected, and never stalls the engine
or the other subscribers. A subscriber may resume from a sequence number: it is replayed from the
journal, then continues live, with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from .journal import Journal, Record
from .updates import Event

# group commit (``durable``): the end-of-iteration flush waits at most this many more loop turns while order-path
# transactions that wait for it keep joining (6: ~4 records a commit under a 64-deep pipeline, measured)
GROUP_TURNS = 6


class SlowConsumer(Exception):
    def __init__(self, session_id: str, maxsize: int) -> None:
        super().__init__(
            f"subscriber of session {session_id} fell more than {maxsize} events behind; resubscribe "
            "with fromSeq to resume"
        )


class Subscription:
    """One subscriber's bounded buffer of records: a deque and at most one waiting reader (cheaper per event
    than an ``asyncio.Queue``: one append, and one wake-up per loop turn however many events it brought)."""

    def __init__(self, bus: SessionBus, kinds: frozenset[str] | None, maxsize: int) -> None:
        self._bus = bus
        self.kinds = kinds
        self.maxsize = maxsize
        self._replay: deque[Record] = deque()
        self._queue: deque[Record] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.slow = False

    def offer(self, record: Record) -> None:
        if self.slow or (self.kinds is not None and record.kind not in self.kinds):
            return
        if len(self._queue) >= self.maxsize:
            self.slow = True
            self._bus.unsubscribe(self)
        else:
            self._queue.append(record)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[Record]:
        return self

    async def __anext__(self) -> Record:
        if self._replay:
            return self._replay.popleft()
        if self.slow:
            raise SlowConsumer(self._bus.session_id, self.maxsize)
        while not self._queue:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
            if self.slow:
                raise SlowConsumer(self._bus.session_id, self.maxsize)
        return self._queue.popleft()

    def ready(self, limit: int) -> list[Record]:
        """Up to ``limit`` more records that are here now, in order, without waiting (what a batched reader
        sends along with the one it awaited); none once the subscriber is slow (its next read raises)."""
        out: list[Record] = []
        while self._replay and len(out) < limit:
            out.append(self._replay.popleft())
        while self._queue and len(out) < limit and not self.slow:
            out.append(self._queue.popleft())
        return out

    def close(self) -> None:
        self._bus.unsubscribe(self)


class SessionBus:
    def __init__(self, session_id: str, journal: Journal, last_seq: int = 0, maxsize: int = 10_000) -> None:
        self.session_id = session_id
        self.journal = journal
        self._seq = last_seq
        self.maxsize = maxsize
        self._subs: set[Subscription] = set()
        self._pending: list[tuple[str, Event]] = []
        # group commit (``durable``): the order-path transactions of this session in flight, and the futures
        # of those waiting for the end-of-iteration flush that journals what they published
        self.active = 0
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    @property
    def seq(self) -> int:
        """The last sequence number given out (what is published so far is numbered first)."""
        self.flush()
        return self._seq

    def publish(self, kind: str, payload: Event) -> None:
        """Queue an event for the end of this event-loop iteration (at once without a running loop).
        ``payload``: the typed event (OrderUpdate, PositionUpdate, a dict for session events); it must not
        change. Only the journal serialises it; subscribers get it as it is."""
        self._pending.append((kind, payload))
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self._flush_later, GROUP_TURNS)
            except RuntimeError:
                self.flush()

    def _flush_later(self, turns: int, seen: int = 0) -> None:
        """The end-of-iteration flush; while transactions wait for it (``durable``) and more joined in the
        last loop turn, it waits one more turn (at most ``turns``), so that they share one commit."""
        waiting = len(self._waiters)
        if turns > 0 and waiting > seen and self._pending:
            asyncio.get_running_loop().call_soon(self._flush_later, turns - 1, waiting)
            return
        self.flush()

    def flush(self) -> None:
        """Number, journal (handed to the OS before anyone sees it: journal.py), then fan out every
        queued event. Never waits for a subscriber. If the journal cannot write, nothing is fanned out,
        the numbers are not used and ``JournalError`` propagates."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        waiters, self._waiters = self._waiters, []
        first = self._seq
        records = [Record(self.session_id, first + i, kind, payload) for i, (kind, payload) in enumerate(pending, 1)]
        try:
            self.journal.write(records)
        except BaseException as e:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(e)
            raise
        self._seq = first + len(records)
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        subs = tuple(self._subs)
        for record in records:
            for sub in subs:
                sub.offer(record)

    async def durable(self) -> None:
        """Return once every event published so far is journaled (handed to the OS), like ``flush`` but as a
        group commit: while other order-path transactions of the session are in flight (``active``), the
        caller waits for the flush that ``publish`` scheduled at the end of this loop iteration, which waits
        a few more turns while other transactions keep joining (``_flush_later``) and journals what they all
        published in one commit (not one per transaction: SQLite's BEGIN / COMMIT, its locks and its WAL
        write are most of a commit's cost). Alone, it flushes at once (no added latency). Nothing is fanned
        out before that commit (``flush``), and a caller that waits releases nothing (a request to the
        venue, an answer) before it returns: durable before visible, as with ``flush``. ``JournalError``
        as ``flush``."""
        if not self._pending:
            return
        if self.active <= 1:
            self.flush()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)  # each its own future: a caller cancelled meanwhile cancels only its own
        await waiter

    async def subscribe(self, from_seq: int | None = None, kinds: frozenset[str] | None = None) -> Subscription:
        """Live events from now on; with ``from_seq``, first every journaled event with seq >= from_seq."""
        self.flush()
        sub = Subscription(self, kinds, self.maxsize)
        self._subs.add(sub)  # live events from here on are buffered in the queue ...
        if from_seq is not None:
            upto = self._seq  # ... and everything up to here comes from the journal
            records = await asyncio.to_thread(
                lambda: [r for r in self.journal.read(self.session_id, from_seq) if r.seq <= upto]
            )
            sub._replay.extend(r for r in records if kinds is None or r.kind in kinds)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
