"""Bybit websockets (``../shared/venues/bybit.md`` §5, §6, §9).

- ``PrivateStream``: ``/v5/private``; on every (re)connection ``auth`` (``GET/realtime`` + expires)
  then ``subscribe`` to ``order``, ``execution``, ``position``, ``wallet``, each awaited. A refused
  ``auth`` ends the start with the venue's words (``refusal``). Our JSON ``ping`` every
  ``probe_every_s`` (docs: every 20 s) must be answered by a ``pong``, else the connection is dropped
  and reconnected. After a reconnect the owner's gap recovery runs (``on_reconnect``).
- ``TradeStream``: ``/v5/trade`` order entry (``order.create`` / ``order.amend`` / ``order.cancel``,
  one reply per ``reqId``); ``auth`` on every (re)connection. ``NotSent``: there was no connection
  (nothing reached the venue); ``NoAnswer``: sent, but the connection was lost or no reply came in
  time (the outcome is unknown).
- ``PublicStream``: ``/v5/public/<category>``; live ``subscribe`` / ``unsubscribe`` of topics
  (``orderbook.1.<symbol>``, ``publicTrade.<symbol>``), all current topics again on every
  (re)connection, in requests of at most 10 args (the spot limit).

Each class exposes ``run()`` for its owner's TaskGroup; reconnect, backoff and heartbeat are
``transport.websocket.ReconnectingWebSocket``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
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

log = logging.getLogger("execx.connectors.bybit")

TopicSink = Callable[[str, list[dict[str, Any]]], None]
REPLY_TIMEOUT_S = 10.0
PING_TIMEOUT_S = 5.0
PRIVATE_TOPICS = ["order", "execution", "position", "wallet"]
SUBSCRIBE_CHUNK = 10


class _Requests:
    """Replies to our ``op`` requests, matched by ``req_id``."""

    def __init__(self, prefix: str) -> None:
        self._ids = itertools.count(1)
        self._prefix = prefix
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.ping_id = ""  # req_id of the ping in flight

    def new(self) -> tuple[str, asyncio.Future[dict[str, Any]]]:
        req_id = f"{self._prefix}{next(self._ids)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[req_id] = fut
        return req_id, fut

    def resolve(self, msg: dict[str, Any]) -> bool:
        fut = self.pending.pop(str(msg.get("req_id", "")), None)
        if fut is None and (msg.get("op") == "pong" or msg.get("ret_msg") == "pong") and self.ping_id:
            # spot and option public pongs carry no req_id (docs: public pong formats differ)
            fut = self.pending.pop(self.ping_id, None)
        if fut is None:
            return False
        if not fut.done():
            fut.set_result(msg)
        return True

    async def ask(self, ws: ReconnectingWebSocket, msg: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        req_id, fut = self.new()
        if msg.get("op") == "ping":
            self.ping_id = req_id
        try:
            await ws.send_json({**msg, "req_id": req_id})
            return await asyncio.wait_for(fut, timeout_s)
        except (TimeoutError, ConnectionError) as exc:
            raise StreamError(f"{msg.get('op')}: no answer ({type(exc).__name__})") from None
        finally:
            self.pending.pop(req_id, None)


class PrivateStream:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        signer: Signer,
        on_topic: TopicSink,
        on_state: Callable[[bool], None],
        on_reconnect: Callable[[], Awaitable[None]],
        backoff: Backoff = DEFAULT_BACKOFF,
        probe_every_s: float = 20.0,
        extra_topics: tuple[str, ...] = (),
    ) -> None:
        self._signer = signer
        self._on_topic = on_topic
        self.topics = [*PRIVATE_TOPICS, *extra_topics]  # e.g. dcp.future: Bybit's DCP counts this connection
        self._requests = _Requests("p")
        self.refused = asyncio.Event()
        self.refusal: Rejected | None = None
        self.ws = ReconnectingWebSocket(
            session,
            url,
            self._on_message,
            name="bybit.private",
            kind="user",
            on_open=self._open,
            on_reconnect=on_reconnect,
            on_state=on_state,
            backoff=backoff,
            heartbeat_s=20.0,
            probe=self._probe,
            probe_every_s=probe_every_s,
        )

    async def run(self) -> None:
        await self.ws.run()

    async def _open(self, ws: ReconnectingWebSocket) -> None:
        reply = await self._requests.ask(ws, self._signer.ws_auth(""), REPLY_TIMEOUT_S)
        if reply.get("success") is not True:
            self.refusal = Rejected(f"Bybit refused the private stream login: {reply.get('ret_msg', '')}", "auth")
            self.refused.set()
            raise StreamError(f"auth refused: {reply.get('ret_msg', '')}")
        reply = await self._requests.ask(ws, {"op": "subscribe", "args": self.topics}, REPLY_TIMEOUT_S)
        if reply.get("success") is not True:
            raise StreamError(f"subscribe refused: {reply.get('ret_msg', '')}")

    async def unsubscribe(self, topics: list[str]) -> bool:
        """Unsubscribe ``topics`` on the live connection (and not again after a reconnect); whether Bybit
        acknowledged it."""
        self.topics = [t for t in self.topics if t not in topics]
        if not self.ws.live:
            return False
        try:
            reply = await self._requests.ask(self.ws, {"op": "unsubscribe", "args": topics}, REPLY_TIMEOUT_S)
        except (StreamError, TimeoutError):
            return False
        return reply.get("success") is True

    async def _probe(self, ws: ReconnectingWebSocket) -> None:
        reply = await self._requests.ask(ws, {"op": "ping"}, PING_TIMEOUT_S)
        if reply.get("op") != "pong":
            raise StreamError(f"unexpected answer to ping: {reply}")

    def _on_message(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            log.warning("bybit.private.bad_json")
            return
        if not isinstance(msg, dict):
            return
        topic = msg.get("topic")
        if isinstance(topic, str):
            data = msg.get("data")
            if isinstance(data, list):
                self._on_topic(topic.split(".", 1)[0], [d for d in data if isinstance(d, dict)])
            return
        self._requests.resolve(msg)


class TradeStream:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        signer: Signer,
        backoff: Backoff = DEFAULT_BACKOFF,
        probe_every_s: float = 20.0,
    ) -> None:
        self._signer = signer
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]  # reqIds never repeat, across reconnects too
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.ws = ReconnectingWebSocket(
            session,
            url,
            self._on_message,
            name="bybit.trade",
            kind="trade",
            on_open=self._open,
            on_state=self._state,
            backoff=backoff,
            heartbeat_s=20.0,
            probe=self._probe,
            probe_every_s=probe_every_s,
        )

    async def run(self) -> None:
        await self.ws.run()

    def _wait(self, key: str) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        return fut

    async def _open(self, ws: ReconnectingWebSocket) -> None:
        fut = self._wait("auth")
        try:
            await ws.send_json({k: v for k, v in self._signer.ws_auth("").items() if k != "req_id"})
            reply = await asyncio.wait_for(fut, REPLY_TIMEOUT_S)
        except (TimeoutError, ConnectionError) as exc:
            raise StreamError(f"trade auth: no answer ({type(exc).__name__})") from None
        finally:
            self._pending.pop("auth", None)
        if reply.get("retCode") != 0:
            raise StreamError(f"trade auth refused: {reply.get('retCode')} {reply.get('retMsg', '')}")

    async def _probe(self, ws: ReconnectingWebSocket) -> None:
        fut = self._wait("pong")
        try:
            await ws.send_json({"op": "ping", "req_id": "ping"})
            await asyncio.wait_for(fut, PING_TIMEOUT_S)
        except (TimeoutError, ConnectionError) as exc:
            raise StreamError(f"trade ping: no answer ({type(exc).__name__})") from None
        finally:
            self._pending.pop("pong", None)

    def _state(self, live: bool) -> None:
        if not live:  # requests in flight will never be answered on this connection
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(StreamError("connection lost"))
            self._pending.clear()

    def _on_message(self, text: str) -> bool:
        """True when the message answered a request (the reader then lets the requester run first)."""
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            return False
        if not isinstance(msg, dict):
            return False
        op = msg.get("op")
        key = "auth" if op == "auth" else "pong" if op == "pong" else str(msg.get("reqId", ""))
        fut = self._pending.pop(key, None)
        if fut is None or fut.done():
            return False
        fut.set_result(msg)
        return True

    async def request(self, op: str, args: dict[str, Any], timeout_s: float = REPLY_TIMEOUT_S) -> dict[str, Any]:
        """One order operation; the venue's reply (``retCode`` not checked here)."""
        if not self.ws.live:
            raise NotSent(f"{op}: the order-entry connection is down")
        req_id = f"{self._prefix}-{next(self._ids)}"
        fut = self._wait(req_id)
        try:
            try:
                await self.ws.send_json({"reqId": req_id, "header": self._signer.ws_header(), "op": op, "args": [args]})
            except (ConnectionError, aiohttp.ClientError, OSError) as exc:
                raise NotSent(f"{op}: {type(exc).__name__}") from None
            try:
                return await answer_within(fut, timeout_s)
            except (TimeoutError, StreamError) as exc:
                raise NoAnswer(f"{op}: {type(exc).__name__}") from None
        finally:
            self._pending.pop(req_id, None)


class PublicStream:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        on_topic: Callable[[str, Any], None],
        *,
        name: str,
        backoff: Backoff = DEFAULT_BACKOFF,
        probe_every_s: float = 20.0,
    ) -> None:
        self._on_topic = on_topic
        self._requests = _Requests("m")
        self.topics: dict[str, int] = {}  # topic -> number of watchers
        self.ws = ReconnectingWebSocket(
            session,
            url,
            self._on_message,
            name=name,
            kind="market",
            on_open=self._open,
            backoff=backoff,
            heartbeat_s=20.0,
            probe=self._probe,
            probe_every_s=probe_every_s,
        )

    async def run(self) -> None:
        await self.ws.run()

    def subscribe(self, topics: list[str]) -> None:
        fresh = [t for t in topics if not self.topics.get(t)]
        for t in topics:
            self.topics[t] = self.topics.get(t, 0) + 1
        if fresh and self.ws.live:
            for chunk in _chunks(fresh):
                self.ws.send_later({"op": "subscribe", "args": chunk})

    def unsubscribe(self, topics: list[str]) -> None:
        gone = []
        for t in topics:
            left = self.topics.get(t, 0) - 1
            if left <= 0:
                self.topics.pop(t, None)
                gone.append(t)
            else:
                self.topics[t] = left
        if gone and self.ws.live:
            for chunk in _chunks(gone):
                self.ws.send_later({"op": "unsubscribe", "args": chunk})

    async def _open(self, ws: ReconnectingWebSocket) -> None:
        for chunk in _chunks(list(self.topics)):
            reply = await self._requests.ask(ws, {"op": "subscribe", "args": chunk}, REPLY_TIMEOUT_S)
            if reply.get("success") is not True:
                log.warning("bybit.public.subscribe_refused", extra={"reply": reply})

    async def _probe(self, ws: ReconnectingWebSocket) -> None:
        await self._requests.ask(ws, {"op": "ping"}, PING_TIMEOUT_S)

    def _on_message(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            return
        if not isinstance(msg, dict):
            return
        topic = msg.get("topic")
        if isinstance(topic, str):
            self._on_topic(topic, msg.get("data"))
        else:
            self._requests.resolve(msg)


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + SUBSCRIBE_CHUNK] for i in range(0, len(items), SUBSCRIBE_CHUNK)]
