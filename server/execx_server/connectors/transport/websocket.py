"""A websocket client that stays connected: reconnect with exponential backoff and jitter,
heartbeat (protocol ping/pong), an ``on_open`` hook that (re)subscribes on every connection, an
``on_reconnect`` hook for gap recovery after a reconnect, and a state callback.

``ReconnectingWebSocket.run()`` runs until cancelled; its owner starts it in a TaskGroup (or an
equivalent supervisor) and cancels it on close. Inside, the reader and the writer of the current
connection are tasks owned by ``run`` and cancelled/awaited when the connection ends. Only
connection-level failures (``aiohttp.ClientError``, ``OSError``, timeouts, ``StreamError`` from a
hook) lead to a reconnect; anything else propagates to the owner.

Server pings are answered by aiohttp (``autoping``); ``heartbeat_s`` additionally sends our own
pings and drops a connection whose pong does not come back in time (a dead TCP path).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import orjson

from .telemetry import NULL_TELEMETRY, Telemetry

log = logging.getLogger("execx.connectors.ws")


T = TypeVar("T")


async def answer_within(answer: asyncio.Future[T], timeout_s: float) -> T:
    """``await answer`` with a deadline (``TimeoutError``). A timer instead of ``asyncio.wait_for``, which
    wakes the waiter through a callback of its own: here the reader that sets the answer wakes the waiter
    directly, before it handles the messages read with the answer (see ``ReconnectingWebSocket._read``)."""
    timer = asyncio.get_running_loop().call_later(timeout_s, _expire, answer)
    try:
        return await answer
    finally:
        timer.cancel()


def _expire(answer: asyncio.Future[Any]) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError())


class StreamError(Exception):
    """A hook found the connection unusable (e.g. a subscription was refused): reconnect."""


class NotSent(StreamError):
    """A request over a websocket could not be sent (no connection): nothing reached the venue."""


class NoAnswer(StreamError):
    """A request over a websocket was sent but no answer came (connection lost, timeout)."""


@dataclass(frozen=True)
class Backoff:
    """Delay before reconnect attempt ``n`` (0-based): ``min(cap, base * 2**n)`` scaled by a
    random factor in ``[1 - jitter, 1]`` (so many clients do not reconnect in lockstep)."""

    base_s: float = 0.2
    cap_s: float = 30.0
    jitter: float = 0.5

    def delay(self, attempt: int, rnd: Callable[[], float] = random.random) -> float:
        raw: float = min(self.cap_s, self.base_s * float(2 ** min(attempt, 30)))
        return raw * (1.0 - self.jitter * float(rnd()))


DEFAULT_BACKOFF = Backoff()


UrlSource = str | Callable[[], Awaitable[str]]
OpenHook = Callable[["ReconnectingWebSocket"], Awaitable[None]]
ReconnectHook = Callable[[], Awaitable[None]]

_RECONNECT_ERRORS = (aiohttp.ClientError, OSError, asyncio.TimeoutError, StreamError)


class ReconnectingWebSocket:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: UrlSource,
        on_message: Callable[[str], bool | None],
        *,
        name: str,
        on_open: OpenHook | None = None,
        on_reconnect: ReconnectHook | None = None,
        on_state: Callable[[bool], None] | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        heartbeat_s: float | None = 30.0,
        stable_after_s: float = 10.0,
        kind: str = "",
        probe: OpenHook | None = None,
        probe_every_s: float = 30.0,
    ) -> None:
        self.name = name
        self.kind = kind or name  # bounded metrics label ("user", "market")
        self.telemetry: Telemetry = NULL_TELEMETRY
        self._session = session
        self._url = url
        self._on_message = on_message
        self._on_open = on_open
        self._on_reconnect = on_reconnect
        self._on_state = on_state
        self._backoff = backoff
        self._heartbeat_s = heartbeat_s
        self._stable_after_s = stable_after_s
        self._probe = probe
        self._probe_every_s = probe_every_s
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._live = asyncio.Event()
        self.connections = 0  # successful opens, the first included
        self.reconnects = 0
        self.last_heard = time.monotonic()  # when the venue last sent a message (any frame read, opens included)

    # ------------------------------------------------------------------ use

    @property
    def live(self) -> bool:
        return self._live.is_set()

    async def wait_live(self, timeout_s: float) -> None:
        """Wait until the connection is open and ``on_open`` has completed."""
        await asyncio.wait_for(self._live.wait(), timeout_s)

    async def send_json(self, obj: Any) -> None:
        """Send now on the current connection; ``ConnectionError`` when there is none."""
        ws = self._ws
        if ws is None or ws.closed:
            raise ConnectionError(f"{self.name}: not connected")
        await ws.send_str(_dumps(obj))

    async def send_text(self, text: str) -> None:
        """Send a raw text frame now (venues whose keepalive is a text ``ping``, e.g. OKX);
        ``ConnectionError`` when there is no connection."""
        ws = self._ws
        if ws is None or ws.closed:
            raise ConnectionError(f"{self.name}: not connected")
        await ws.send_str(text)

    def send_later(self, obj: Any) -> None:
        """Queue a message for the writer of the current (or next) connection."""
        self._outbox.put_nowait(_dumps(obj))

    async def nudge(self) -> None:
        """Ask the venue for an answer now (the application-level probe: a ping the venue must answer);
        ``StreamError`` when it does not answer. A stream without a probe returns at once. Whatever comes
        back moves ``last_heard``: a stall watch tells a quiet stream from a silent one by it."""
        if self._probe is not None and self.live:
            await self._probe(self)

    async def drop(self) -> None:
        """Close the current connection (the run loop reconnects)."""
        ws = self._ws
        if ws is not None:
            await ws.close()

    # ------------------------------------------------------------------ run loop

    async def run(self) -> None:
        attempt = 0
        while True:
            opened_at: float | None = None
            try:
                url = self._url if isinstance(self._url, str) else await self._url()
                async with self._session.ws_connect(url, heartbeat=self._heartbeat_s, autoping=True) as ws:
                    opened_at = self.last_heard = time.monotonic()
                    await self._serve(ws)
            except _RECONNECT_ERRORS as exc:
                log.warning("ws.disconnected", extra={"stream": self.name, "error": type(exc).__name__})
            finally:
                self._ws = None
                if self._live.is_set():
                    self._live.clear()
                    if self._on_state is not None:
                        self._on_state(False)
            if opened_at is not None and time.monotonic() - opened_at >= self._stable_after_s:
                attempt = 0
            delay = self._backoff.delay(attempt)
            attempt += 1
            await asyncio.sleep(delay)  # reconnect backoff (cancellation ends the loop)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        reader = asyncio.create_task(self._read(ws), name=f"{self.name}.reader")
        writer = asyncio.create_task(self._write(ws), name=f"{self.name}.writer")
        tasks = [reader, writer]
        try:
            if self._on_open is not None:
                await self._on_open(self)
            if reader.done():
                await reader  # closed during on_open: surface why
                raise StreamError("closed while opening")
            self.connections += 1
            reconnected = self.connections > 1
            if reconnected:
                self.reconnects += 1
                self.telemetry.reconnect(self.kind)
            self._live.set()
            if self._on_state is not None:
                self._on_state(True)
            log.info("ws.open", extra={"stream": self.name, "reconnect": reconnected})
            if self._probe is not None:
                tasks.append(asyncio.create_task(self._probe_loop(ws), name=f"{self.name}.probe"))
            if reconnected and self._on_reconnect is not None:
                await self._on_reconnect()
            await reader
        finally:
            for task in tasks:
                task.cancel()
            # asyncio.wait, not `await task`: a cancellation of this task while its children wind down
            # (the owner closing it) must end the run loop, not be taken for a child's and swallowed.
            await asyncio.wait(tasks)
            for task in tasks:
                if not task.cancelled() and (exc := task.exception()) and not isinstance(exc, _RECONNECT_ERRORS):
                    raise exc

    async def _probe_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Application-level liveness: a connection that still answers pings but no longer answers
        requests (a stalled feed) is closed, so the run loop reconnects and recovers."""
        if self._probe is None:
            raise RuntimeError("ReconnectingWebSocket._probe_loop: _probe unset (called before start)")
        while True:
            await asyncio.sleep(self._probe_every_s)  # the probe schedule
            try:
                await self._probe(self)
            except StreamError as exc:
                log.warning("ws.probe_failed", extra={"stream": self.name, "error": str(exc)})
                await ws.close()
                return

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            self.last_heard = time.monotonic()
            if msg.type is aiohttp.WSMsgType.TEXT:
                if self._on_message(msg.data):
                    # The message answered a request: let the requester resume before the messages read with
                    # it (e.g. the user data events the answer raised) are handled. Answers first is the order path.
                    await asyncio.sleep(0)
            elif msg.type is aiohttp.WSMsgType.ERROR:
                raise ConnectionError(f"{self.name}: {ws.exception()!r}")

    async def _write(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            text = await self._outbox.get()
            await ws.send_str(text)


def _dumps(obj: Any) -> str:
    """A venue message as compact JSON text (orjson: ~5x json, on the order path of every venue)."""
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()
