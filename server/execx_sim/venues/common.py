"""Plumbing shared by every venue front-end: the endpoint description, websocket registry (so faults
can drop or silence connections), and the fault middleware for HTTP front-ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import parse_qsl

import orjson
from aiohttp import WSCloseCode, web

from ..core.faults import Faults

TcpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Endpoint:
    """One listening socket of a venue, i.e. one real venue host (REST, WS API, stream, FIX...).

    An HTTP endpoint serves ``app``; two endpoints naming the same ``app`` share one port (a venue
    whose REST and WebSocket API live on one host). A raw TCP endpoint (FIX) gives ``tcp``, the
    per-connection handler of an asyncio server, instead; its URL is printed as ``tcp://host:port``."""

    kind: str  # key in the ready line: "rest", "wsApi", "stream", "fix", ...
    app: web.Application | None
    scheme: str = "http"  # "http", "ws" or "tcp" (what the ready line prints)
    path: str = ""  # appended to the printed URL, e.g. "/ws-api/v3"
    tcp: TcpHandler | None = None


class VenueFrontend(Protocol):
    venue: str  # the seed's exchange name, e.g. "binance-spot"
    sockets: WsRegistry  # every open websocket of this venue (dropped by the admin API)

    def endpoints(self) -> list[Endpoint]: ...

    async def run(self) -> None:
        """Background work (timers, keepalive checks) until cancelled."""
        ...


class WsRegistry:
    """Open websockets of one venue; ``drop_all`` closes them (fault injection, shutdown)."""

    def __init__(self) -> None:
        self._sockets: set[web.WebSocketResponse] = set()

    def add(self, ws: web.WebSocketResponse) -> None:
        self._sockets.add(ws)

    def discard(self, ws: web.WebSocketResponse) -> None:
        self._sockets.discard(ws)

    def __len__(self) -> int:
        return len(self._sockets)

    async def drop_all(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=code, message=b"dropped")
        self._sockets.clear()


class StreamWriter:
    """A bounded outbound queue per websocket, drained by one task: engine listeners never block.
    Honours ``Faults.silent`` (messages are discarded while silent, like a stalled feed)."""

    def __init__(self, ws: web.WebSocketResponse, faults: Faults, maxsize: int = 10_000) -> None:
        self.ws = ws
        self.faults = faults
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize)
        self.overflowed = False

    def send(self, text: str) -> None:
        if self.faults.silent or self.overflowed:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed = True  # a real venue disconnects slow consumers; drain() closes it

    def send_json(self, obj: Any) -> None:
        self.send(dumps(obj))

    def close(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)

    async def drain(self) -> None:
        while True:
            text = await self.queue.get()
            if text is None or self.overflowed:
                await self.ws.close(code=WSCloseCode.POLICY_VIOLATION if self.overflowed else WSCloseCode.OK)
                return
            if self.faults.latency_ms:
                await asyncio.sleep(self.faults.latency_ms / 1000)
            try:
                await self.ws.send_str(text)
            except (ConnectionResetError, RuntimeError):
                return


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any, default: Callable[[Any], Any] = _default) -> str:
    """Compact JSON text (Decimals as ``default`` has them: strings here). orjson, ~5x json's speed, with
    json for what orjson refuses (integers beyond 64 bits) and for its error."""
    try:
        return orjson.dumps(obj, default=default, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), default=default)


def parse_query(raw: str) -> list[tuple[str, str]]:
    """The name / value pairs of a raw query string or form body, as ``parse_qsl(raw,
    keep_blank_values=True)`` gives them; a string with nothing to unquote (no ``%``, no ``+``: a signed
    request's usual parameters) is split directly, without that function's per-pair work."""
    if "%" in raw or "+" in raw:
        return parse_qsl(raw, keep_blank_values=True)
    return [(name, value) for name, _, value in (pair.partition("=") for pair in raw.split("&") if pair)]


def loads(text: str | bytes) -> Any:
    """A JSON document: orjson, with json for what orjson refuses but json reads (NaN, integers beyond 64
    bits), so that what the venue accepts and the error it raises otherwise stay json's."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def fault_middleware(faults: Faults, on_fault: Callable[[str, web.Request], web.Response | None]) -> Any:
    """aiohttp middleware applying latency, 5xx, 429 and 418 before the handler runs.

    ``on_fault(kind, request)`` builds the venue's own response for ``kind`` in
    ``{"5xx", "429", "418"}`` (or returns None to skip it)."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        for name, kind in (("ban", "418"), ("rate_limit", "429"), ("http_5xx", "5xx")):
            if faults.take(name):
                resp = on_fault(kind, request)
                if resp is not None:
                    return resp
        return await handler(request)

    return middleware
