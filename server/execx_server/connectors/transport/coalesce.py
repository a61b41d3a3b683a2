"""Coalescing of order requests into venue batches.

The engine sends every order on its own (``submit_order`` / ``cancel_order``); a ``BatchSendOrders``
or a pull starts them all in the same event-loop turn. ``Coalescer`` collects what is queued under one
key (e.g. operation and symbol) during that turn and hands it to the connector's ``send`` at the end
of the turn, in chunks of at most ``limit`` items, each chunk one venue request, all chunks at once.
A lone request stays a chunk of one, so the connector sends its single-order call and the latency of
a lone order does not change beyond one loop turn. A ``split`` hook may choose the chunks instead
(e.g. OKX sends a pull as the ready-made request bodies of ``okx/pull.py``).

``send`` answers one outcome per item, in order: the item's result, or the ``VenueError`` that item
got (a batch's per-item refusal). An exception raised by ``send`` is every item's outcome (the batch
request as a whole failed: refused, retryable, or its outcome unknown); an item ``send`` left without
an outcome, or one whose send was cancelled, is ``OutcomeUnknown`` (the engine reconciles it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from ...domain.venue import OutcomeUnknown, VenueError

K = TypeVar("K", bound=Hashable)  # what items are batched by (e.g. operation and symbol)
V = TypeVar("V")  # a request item
R = TypeVar("R")  # an item's result

Send = Callable[[K, list[V]], Awaitable[Sequence[R | VenueError]]]
# How one turn's items under a key go out: each list is one request, by the items' indexes. ``None``:
# consecutive chunks of ``limit``. An index no list names goes out in those chunks after them.
Split = Callable[[K, list[V]], list[list[int]] | None]


class Coalescer(Generic[K, V, R]):
    def __init__(self, send: Send[K, V, R], limit: int, venue: str, split: Split[K, V] | None = None) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._send = send
        self._limit = limit
        self._venue = venue
        self._split = split
        self._queued: dict[K, list[tuple[V, asyncio.Future[R]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, key: K, item: V) -> asyncio.Future[R]:
        """Queue ``item``; the future holds its own outcome once the chunk it went in is answered."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        queued = self._queued.get(key)
        if queued is None:
            queued = self._queued[key] = []
            loop.call_soon(self._flush, key)
        queued.append((item, future))
        return future

    def _flush(self, key: K) -> None:
        queued = self._queued.pop(key, [])
        loop = asyncio.get_running_loop()
        for chunk in self._chunks(key, queued):
            task = loop.create_task(self._run(key, chunk))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _chunks(self, key: K, queued: list[tuple[V, asyncio.Future[R]]]) -> list[list[tuple[V, asyncio.Future[R]]]]:
        planned = self._split(key, [item for item, _ in queued]) if self._split is not None else None
        chunks: list[list[tuple[V, asyncio.Future[R]]]] = []
        rest = queued
        if planned:
            taken: set[int] = set()
            for indexes in planned:
                fresh = [i for i in indexes if i not in taken and 0 <= i < len(queued)]
                taken.update(fresh)
                if fresh:
                    chunks.append([queued[i] for i in fresh])
            rest = [entry for i, entry in enumerate(queued) if i not in taken]
        chunks += [rest[start : start + self._limit] for start in range(0, len(rest), self._limit)]
        return chunks

    async def _run(self, key: K, chunk: list[tuple[V, asyncio.Future[R]]]) -> None:
        futures = [future for _, future in chunk]
        try:
            outcomes = await self._send(key, [item for item, _ in chunk])
        except asyncio.CancelledError:
            _settle(futures, OutcomeUnknown(f"{self._venue}: the request was cancelled while in flight", "cancelled"))
            raise
        except Exception as exc:  # every item's outcome, whatever it is (callers see what happened)
            _settle(futures, exc)
            return
        for index, future in enumerate(futures):
            if future.done():
                continue
            outcome = outcomes[index] if index < len(outcomes) else None
            if outcome is None:
                future.set_exception(OutcomeUnknown(f"{self._venue} answered the batch without this item", "batch"))
            elif isinstance(outcome, VenueError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def close(self) -> None:
        """Cancel the sends in flight (their callers get ``OutcomeUnknown``) and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _settle(futures: list[asyncio.Future[R]], exc: BaseException) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(exc)
