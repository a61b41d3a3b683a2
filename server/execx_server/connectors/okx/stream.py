"""OKX websockets (``../shared/venues/okx.md`` §2.2, §6, §7, §10).

- ``PrivateStream``: ``/ws/v5/private``; on every (re)connection: ``login`` (answer ``event: login``
  or ``event: error`` with the 600xx code), then ``subscribe`` to ``orders`` with ``instType: ANY``.
  Every order change and every fill arrives on ``orders`` (a fill carries ``tradeId`` and the
  update's ``fillSz``). The VIP-only ``fills`` channel is not needed and not used. After a reconnect
  the owner's ``on_reconnect`` hook recovers what was missed (REST ``orders-pending`` + ``fills``).
- ``BusinessStream``: ``/ws/v5/business``; on every (re)connection: ``login``, then ``subscribe`` to
  ``orders-algo`` with ``instType: ANY``: the algo orders' (native contingent orders') own states, so one
  the venue cancels or fails before it fires is seen at once. After a reconnect the owner's ``on_reconnect``
  hook asks REST for the algo orders it holds.
- ``PublicStream``: ``/ws/v5/public`` with ``bbo-tbt`` and ``trades`` per instrument, subscribed
  again on every connection.

Keepalive is OKX's text ``ping`` / ``pong`` (not protocol pings): a probe sends ``ping`` every
``probe_every_s`` and drops the connection when no ``pong`` comes back, so a silent connection is
replaced and recovered. A ``64008`` notice (closing soon for a service upgrade) reconnects at once.
Reconnects use ``transport.websocket.ReconnectingWebSocket`` (backoff, jitter).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from ...domain.venue import Rejected
from ..transport.websocket import (
    DEFAULT_BACKOFF,
    Backoff,
    NoAnswer,
    NotSent,
    ReconnectingWebSocket,
    StreamError,
    answer_within,
)
from .signing import Signer

log = logging.getLogger("execx.connectors.okx")

ANSWER_TIMEOUT_S = 10.0
SERVICE_UPGRADE = "64008"  # notice: "The connection will soon be closed for a service upgrade"
PONG_TIMEOUT_S = 5.0


class _Socket:
    """Shared by both streams: request/answer matching for login and subscribe, and the text
    ping/pong probe."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        name: str,
        kind: str,
        on_data: Callable[[dict[str, Any]], None],
        on_open: Callable[[ReconnectingWebSocket], Awaitable[None]],
        on_state: Callable[[bool], None] | None,
        on_reconnect: Callable[[], Awaitable[None]] | None,
        backoff: Backoff,
        probe_every_s: float,
    ) -> None:
        self._on_data = on_data
        self._dropping: set[asyncio.Task[None]] = set()
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._pong: asyncio.Event = asyncio.Event()
        self._pong_timeout_s = min(PONG_TIMEOUT_S, max(probe_every_s, 0.5))
        # login / subscribe answers: as patient as the liveness probe (a quick probe wants quick answers)
        self._answer_timeout_s = max(1.0, min(ANSWER_TIMEOUT_S, 5 * probe_every_s))
        self.ws = ReconnectingWebSocket(
            session,
            url,
            self._on_message,
            name=name,
            kind=kind,
            on_open=on_open,
            on_state=on_state,
            on_reconnect=on_reconnect,
            backoff=backoff,
            heartbeat_s=None,  # OKX keepalive is the text ping below
            probe=self._probe,
            probe_every_s=probe_every_s,
        )

    def _on_message(self, text: str) -> bool:
        """True when the message answered an order operation: the reader lets the requester run before it
        handles the order events read with the answer (answers first)."""
        if text == "pong":
            self._pong.set()
            return False
        try:
            msg = json.loads(text)
        except ValueError:
            log.warning("okx.ws.bad_message", extra={"stream": self.ws.name, "text": text[:200]})
            return False
        if not isinstance(msg, dict):
            return False
        event = msg.get("event")
        if event is None and "op" in msg and msg.get("id"):  # answer to a WebSocket order operation
            answered = self._waiters.pop(f"op:{msg['id']}", None)
            if answered is None or answered.done():
                return False
            answered.set_result(msg)
            return True
        if event is not None:
            key = "login" if event == "login" else str(msg.get("id", ""))
            if event == "error" and not msg.get("id"):
                key = next((k for k in self._waiters if not k.startswith("op:")), "")
            waiter = self._waiters.pop(key, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(msg)
            elif event in ("error", "notice"):
                log.warning(
                    "okx.ws.event",
                    extra={"stream": self.ws.name, "code": msg.get("code"), "venue_message": msg.get("msg")},
                )
                if event == "notice" and str(msg.get("code")) == SERVICE_UPGRADE:
                    # OKX closes this connection in about 60 s: reconnect now (new connections reach
                    # upgraded servers); the reconnect hook recovers anything in between.
                    task = asyncio.get_running_loop().create_task(self.ws.drop())
                    self._dropping.add(task)
                    task.add_done_callback(self._dropping.discard)
            return False
        if "data" in msg and isinstance(msg.get("arg"), dict):
            self._on_data(msg)
        return False

    async def request(self, key: str, frame: dict[str, Any]) -> dict[str, Any]:
        """Send ``frame`` and wait for the event answering it (keyed ``login`` or by ``id``)."""
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[key] = waiter
        try:
            await self.ws.send_json(frame)
            return await asyncio.wait_for(waiter, self._answer_timeout_s)
        except (TimeoutError, ConnectionError) as exc:
            raise StreamError(f"{self.ws.name}: no answer to {frame.get('op')}: {type(exc).__name__}") from None
        finally:
            self._waiters.pop(key, None)

    async def order_op(self, req_id: str, op: str, args: list[dict[str, Any]], timeout_s: float) -> dict[str, Any]:
        """One WebSocket order operation; its answer (``code``, ``data`` with per-item ``sCode``).
        ``NotSent`` when there is no connection (nothing reached OKX), ``NoAnswer`` when the request
        left but no answer came (the outcome is unknown)."""
        key = f"op:{req_id}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[key] = waiter
        try:
            try:
                await self.ws.send_json({"id": req_id, "op": op, "args": args})
            except ConnectionError as exc:
                raise NotSent(f"{self.ws.name}: {op} not sent: {exc}") from None
            try:
                return await answer_within(waiter, timeout_s)
            except TimeoutError:
                raise NoAnswer(f"{self.ws.name}: no answer to {op} {req_id} in {timeout_s:.0f}s") from None
        finally:
            self._waiters.pop(key, None)

    def drop_waiters(self) -> None:
        """The connection ended: requests still waiting will get no answer."""
        for key, waiter in list(self._waiters.items()):
            if key.startswith("op:") and not waiter.done():
                waiter.set_exception(NoAnswer(f"{self.ws.name}: connection lost before the answer"))

    async def _probe(self, ws: ReconnectingWebSocket) -> None:
        self._pong.clear()
        try:
            await ws.send_text("ping")
            await asyncio.wait_for(self._pong.wait(), self._pong_timeout_s)
        except (TimeoutError, ConnectionError):
            raise StreamError(f"{ws.name}: no pong") from None


class _SignedStream:
    """A logged-in connection subscribed to one channel of the account's (``instType: ANY``), again on every
    (re)connection; a refusal of the login is kept (``refusal``, ``refused``) for the start to report."""

    channel = ""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        name: str,
        signer: Signer,
        on_rows: Callable[[list[dict[str, Any]]], None],
        on_state: Callable[[bool], None] | None,
        on_reconnect: Callable[[], Awaitable[None]],
        backoff: Backoff,
        probe_every_s: float,
    ) -> None:
        self._signer = signer
        self._on_rows = on_rows
        self.refused = asyncio.Event()
        self.refusal: Rejected | None = None
        self._socket = _Socket(
            session, url, name, "user", self._on_data, self._open, on_state, on_reconnect, backoff, probe_every_s
        )
        self.ws = self._socket.ws

    async def run(self) -> None:
        await self.ws.run()

    async def _open(self, ws: ReconnectingWebSocket) -> None:
        answer = await self._socket.request("login", {"op": "login", "args": [self._signer.login_args()]})
        if answer.get("event") != "login" or answer.get("code") not in ("0", 0):
            self.refusal = Rejected(f"OKX login refused: {answer.get('msg', '')}", str(answer.get("code", "")))
            self.refused.set()
            raise StreamError(f"login refused: {answer.get('code')} {answer.get('msg')}")
        req_id = self.channel.replace("-", "")  # letters and digits only
        sub = await self._socket.request(
            req_id, {"id": req_id, "op": "subscribe", "args": [{"channel": self.channel, "instType": "ANY"}]}
        )
        if sub.get("event") != "subscribe":
            raise StreamError(f"{self.channel} subscription refused: {sub.get('code')} {sub.get('msg')}")
        self.refusal = None

    def _on_data(self, msg: dict[str, Any]) -> None:
        if msg["arg"].get("channel") == self.channel and isinstance(msg["data"], list):
            self._on_rows(msg["data"])


class PrivateStream(_SignedStream):
    """``/ws/v5/private``: the ``orders`` channel and WebSocket order entry."""

    channel = "orders"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        signer: Signer,
        on_orders: Callable[[list[dict[str, Any]]], None],
        on_state: Callable[[bool], None],
        on_reconnect: Callable[[], Awaitable[None]],
        backoff: Backoff = DEFAULT_BACKOFF,
        probe_every_s: float = 20.0,
    ) -> None:
        self._on_state = on_state
        self._ids = 0
        super().__init__(
            session, url, "okx.private", signer, on_orders, self._state, on_reconnect, backoff, probe_every_s
        )

    async def order_op(
        self, op: str, args: list[dict[str, Any]], timeout_s: float = ANSWER_TIMEOUT_S
    ) -> dict[str, Any]:
        """WebSocket order entry on the logged-in private connection (``order``, ``batch-orders``,
        ``cancel-order``, ``amend-order``; items address instruments by ``instIdCode``)."""
        if not self.ws.live:
            raise NotSent(f"{self.ws.name}: not connected")
        self._ids += 1
        return await self._socket.order_op(f"x{self._ids}", op, args, timeout_s)

    def _state(self, live: bool) -> None:
        if not live:
            self._socket.drop_waiters()
        self._on_state(live)


class BusinessStream(_SignedStream):
    """``/ws/v5/business``: the ``orders-algo`` channel (every algo order of the account)."""

    channel = "orders-algo"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        signer: Signer,
        on_algo_orders: Callable[[list[dict[str, Any]]], None],
        on_reconnect: Callable[[], Awaitable[None]],
        backoff: Backoff = DEFAULT_BACKOFF,
        probe_every_s: float = 20.0,
    ) -> None:
        super().__init__(
            session, url, "okx.business", signer, on_algo_orders, None, on_reconnect, backoff, probe_every_s
        )


class PublicStream:
    """``bbo-tbt`` and ``trades`` of a changing set of instruments on one connection."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        on_data: Callable[[dict[str, Any]], None],
        backoff: Backoff = DEFAULT_BACKOFF,
        probe_every_s: float = 20.0,
    ) -> None:
        self.args: list[dict[str, str]] = []
        self._ids = 0
        self._socket = _Socket(
            session, url, "okx.public", "market", on_data, self._open, None, None, backoff, probe_every_s
        )
        self.ws = self._socket.ws

    async def run(self) -> None:
        await self.ws.run()

    async def _open(self, ws: ReconnectingWebSocket) -> None:
        if self.args:
            await ws.send_json({"op": "subscribe", "args": list(self.args)})

    def subscribe(self, args: list[dict[str, str]]) -> None:
        new = [a for a in args if a not in self.args]
        self.args += new
        if new and self.ws.live:
            self.ws.send_later({"op": "subscribe", "args": new})

    def unsubscribe(self, args: list[dict[str, str]]) -> None:
        gone = [a for a in args if a in self.args]
        self.args = [a for a in self.args if a not in gone]
        if gone and self.ws.live:
            self.ws.send_later({"op": "unsubscribe", "args": gone})
