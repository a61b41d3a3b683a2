"""The owner of a connector's background tasks (DESIGN §6: every task has an owner).

``StreamSupervisor.start(...)`` runs the given coroutines (websocket run loops) in one TaskGroup
inside a supervisor task; ``spawn`` adds one later (e.g. a market-data stream opened by
``watch_market``); ``close`` cancels and awaits everything. If any task fails, the group ends, the
failure is logged and ``on_failure`` runs (a connector reports its private stream down).
``wait_live`` is the start-up wait of a private stream: until it is live, refused, or the group died;
``wait_up`` the same for any awaitable (a FIX logon), also usable with a connector's own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from ...domain.venue import Rejected, Retryable
from .websocket import ReconnectingWebSocket

log = logging.getLogger("execx.connectors.supervisor")

Run = tuple[str, Callable[[], Coroutine[Any, Any, None]]]


class PrivateStream(Protocol):
    """A venue's private stream as the start-up wait sees it: its websocket, and the venue's refusal of
    our credentials (``refused`` set, ``refusal`` in the venue's words)."""

    @property
    def ws(self) -> ReconnectingWebSocket: ...

    @property
    def refused(self) -> asyncio.Event: ...

    @property
    def refusal(self) -> Rejected | None: ...


async def idle() -> None:
    """A run that only keeps a group open until it is cancelled: a supervisor started before any stream
    is wanted (a keyless market-data client spawns its public streams as symbols are watched)."""
    await asyncio.Event().wait()


class StreamSupervisor:
    def __init__(self, name: str, on_failure: Callable[[], None]) -> None:
        self.name = name
        self._on_failure = on_failure
        self._task: asyncio.Task[None] | None = None
        self._tg: asyncio.TaskGroup | None = None
        self.ready = asyncio.Event()  # set once the group runs (``spawn`` works)

    def start(self, *runs: Run) -> None:
        self._task = asyncio.create_task(self._supervise(runs), name=f"{self.name}.supervisor")

    async def _supervise(self, runs: tuple[Run, ...]) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for task_name, run in runs:
                    tg.create_task(run(), name=task_name)
                self.ready.set()
        except ExceptionGroup as eg:
            log.error("connector.streams.failed", extra={"connector": self.name, "error": repr(eg)})
            self._tg = None
            self._on_failure()
            raise

    @property
    def running(self) -> bool:
        return self._tg is not None

    def spawn(self, task_name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._tg is None:
            raise RuntimeError(f"{self.name}: not running")
        self._tg.create_task(run(), name=task_name)

    async def wait_live(self, ws: ReconnectingWebSocket, refused: asyncio.Event, timeout_s: float) -> None:
        """Return once ``ws`` is live or ``refused`` is set or ``timeout_s`` passed; raise what ended
        the group if it died first."""
        await self.wait_up(ws.wait_live(timeout_s), refused)

    async def wait_private(self, stream: PrivateStream, timeout_s: float) -> None:
        """``wait_live`` on a private stream, then fail the start: with the venue's refusal of our credentials
        (bad key, signature, permissions) in its words, or ``Retryable`` if it did not come up in time."""
        await self.wait_live(stream.ws, stream.refused, timeout_s)
        if stream.refusal is not None and not stream.ws.live:
            raise stream.refusal
        if not stream.ws.live:
            raise Retryable(f"{self.name}: private stream did not come up in {timeout_s:.0f}s", "stream")

    async def wait_up(self, up: Awaitable[object], refused: asyncio.Event) -> bool:
        """``wait_up`` on this supervisor's task (``start()`` first)."""
        if self._task is None:
            raise RuntimeError("StreamSupervisor.wait_up: _task unset (start() first)")
        return await wait_up(up, refused, self._task)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # close() itself is being cancelled
            except ExceptionGroup as eg:  # a task failed earlier; _supervise logged it
                log.debug("connector.supervisor.ended", extra={"connector": self.name, "error": repr(eg)})
        self._tg = None


async def wait_up(up: Awaitable[object], refused: asyncio.Event, owner: asyncio.Task[None]) -> bool:
    """The start-up wait of a venue connection: until ``up`` completes (a connection live, a session
    logged on) or ``refused`` is set (the venue refused our credentials); raise what ended ``owner``
    (the task running the connections) if it ended first. True when ``up`` completed without error."""
    done_up = asyncio.ensure_future(up)
    refusal = asyncio.ensure_future(refused.wait())
    try:
        done, _ = await asyncio.wait({done_up, refusal, owner}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (done_up, refusal):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await task
    if owner in done:
        owner.result()
    return done_up in done and not done_up.cancelled() and done_up.exception() is None
