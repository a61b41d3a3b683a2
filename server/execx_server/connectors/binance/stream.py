"""Binance websockets: private user-data streams and public market-data streams.

- **Spot private** (``SpotUserStream``): the WebSocket API connection (``/ws-api/v3``) with
  ``userDataStream.subscribe.signature`` (the spot listenKey was retired, binance.md §5.1); events
  arrive as ``{"subscriptionId": N, "event": {...}}``. **Cross margin** uses the same connection
  with ``userDataStream.subscribe.listenToken`` and a token from ``POST /sapi/v1/userListenToken``
  fetched before every subscription (valid 24 h; Binance ends an expired subscription with
  ``eventStreamTerminated``, which reconnects with a fresh token; the margin listenKey
  ``/sapi/v1/userDataStream`` is deprecated). ``eventStreamTerminated`` and
  ``serverShutdown`` make us reconnect and subscribe again.
- **Futures private** (``FuturesUserStream``): ``POST /fapi|dapi/v1/listenKey`` before every
  connection (it returns the active key and extends it), the stream host's
  ``/private/ws?listenKey=K`` (USDⓈ-M routed entry point) or ``/ws/<K>`` (COIN-M), a ``PUT``
  keepalive every 30 minutes, and a reconnect with a fresh key on ``listenKeyExpired`` or when the
  keepalive says the key is gone (-1125).
- **Market data** (``MarketStream``): one combined-stream connection per route (``/stream``; USDⓈ-M
  routes ``bookTicker`` to ``/public`` and ``aggTrade`` to ``/market``) with live ``SUBSCRIBE`` /
  ``UNSUBSCRIBE`` frames; every (re)connection subscribes to the current set again.

Each class exposes ``run()`` for its owner's TaskGroup; the websocket plumbing (backoff, jitter,
heartbeat, hooks) is ``transport.websocket.ReconnectingWebSocket``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from typing import Any, cast

import aiohttp
import orjson

from ...domain.venue import OutcomeUnknown, Rejected, Retryable, VenueError
from ..transport.websocket import (
    DEFAULT_BACKOFF,
    Backoff,
    NoAnswer,
    NotSent,
    ReconnectingWebSocket,
    StreamError,
    answer_within,
)
from . import parse
from .errors import classify
from .rest import BinanceRest, CancelReplaceFailed
from .schemas import Params, SpotAmendResponse, SpotCancelReplace
from .signing import Signer
from .urls import Flavor, Hosts

log = logging.getLogger("execx.connectors.binance")

EventSink = Callable[[dict[str, Any]], None]
StateSink = Callable[[bool], None]
ReconnectHook = Callable[[], Awaitable[None]]

LISTEN_KEY_KEEPALIVE_S = 30 * 60.0
WS_API_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 5.0


class SubscriptionRefused(StreamError):
    """The venue answered a stream request with an error (its message and code kept)."""

    def __init__(self, message: str, code: str, status: int) -> None:
        super().__init__(f"{code} {message}")
        self.message = message
        self.code = code
        self.status = status


class SpotUserStream:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        hosts: Hosts,
        signer: Signer,
        on_event: EventSink,
        on_state: StateSink,
        on_reconnect: ReconnectHook,
        backoff: Backoff = DEFAULT_BACKOFF,
        probe_every_s: float = 30.0,
        listen_token: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self._signer = signer
        self._listen_token = listen_token  # cross margin: subscribe with a fresh listenToken on every open
        self._probe_timeout_s = min(PROBE_TIMEOUT_S, max(2 * probe_every_s, 0.5))
        self._on_event = on_event
        self._on_state = on_state
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.subscription_id: int | None = None
        self.refusal: Rejected | None = None  # the venue refused the subscription (credentials)
        self.refused = asyncio.Event()
        self.ws = ReconnectingWebSocket(
            session,
            hosts.ws_api,
            self._on_message,
            name="binance-spot.margin-user" if listen_token is not None else "binance-spot.user",
            kind="user",
            probe=self._probe,
            probe_every_s=probe_every_s,
            on_open=self._subscribe,
            on_reconnect=on_reconnect,
            on_state=self._state,
            backoff=backoff,
        )

    async def run(self) -> None:
        await self.ws.run()

    async def _subscribe(self, ws: ReconnectingWebSocket) -> None:
        try:
            if self._listen_token is None:
                result = await self.request("userDataStream.subscribe.signature", self._signer.signed_ws_params(()))
            else:
                token = await self._token()
                result = await self.request("userDataStream.subscribe.listenToken", {"listenToken": token})
        except SubscriptionRefused as exc:
            if 400 <= exc.status < 500 and exc.status not in (418, 429):  # credentials, not load
                self.refusal = Rejected(exc.message, exc.code)
                self.refused.set()
            raise
        self.subscription_id = int(result["subscriptionId"]) if isinstance(result, dict) else None
        self.refusal = None

    async def _token(self) -> str:
        """A fresh margin listenToken (REST); a refusal of our credentials is ``SubscriptionRefused``."""
        if self._listen_token is None:
            raise RuntimeError("SpotUserStream._token: _listen_token unset (called before start)")
        try:
            return await self._listen_token()
        except Rejected as exc:
            raise SubscriptionRefused(exc.message, exc.code, 400) from None
        except VenueError as exc:
            raise StreamError(f"listenToken: {exc.message}") from None

    async def _probe(self, ws: ReconnectingWebSocket) -> None:
        """The WebSocket API ``ping`` method (weight 1): answered only by a connection that still
        serves requests — and so still delivers our events."""
        await self.exchange("ping", {}, timeout_s=self._probe_timeout_s)

    async def exchange(
        self, method: str, params: dict[str, Any], timeout_s: float = WS_API_TIMEOUT_S
    ) -> dict[str, Any]:
        """One WebSocket API request; returns the whole response frame (``status``, ``result`` or
        ``error``, ``rateLimits``). ``NotSent``: there was no connection to send on; ``NoAnswer``: sent,
        but the connection was lost or no answer came in time (the outcome is unknown)."""
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            try:
                await self.ws.send_json({"id": request_id, "method": method, "params": params})
            except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
                raise NotSent(f"{method}: {type(exc).__name__}") from None
            try:
                return await answer_within(future, timeout_s)
            except (TimeoutError, StreamError) as exc:
                raise NoAnswer(f"{method}: {type(exc).__name__}") from None
        finally:
            self._pending.pop(request_id, None)

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """One WebSocket API request/response; a refusal is ``SubscriptionRefused``."""
        response = await self.exchange(method, params)
        if response.get("status") != 200:
            error = response.get("error") or {}
            status = int(response.get("status") or 0)
            raise SubscriptionRefused(str(error.get("msg", "")), str(error.get("code", status)), status)
        return response.get("result")

    def _state(self, live: bool) -> None:
        if not live:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(StreamError("connection lost"))
        self._on_state(live)

    def _on_message(self, text: str) -> bool:
        """Returns True when the message answered a request (see ReconnectingWebSocket)."""
        msg = _loads(text)
        if msg is None:
            return False
        if "id" in msg and ("status" in msg):
            future = self._pending.get(msg["id"]) if isinstance(msg["id"], int) else None
            if future is not None and not future.done():
                future.set_result(msg)
                return True
            return False
        event = msg.get("event")
        if not isinstance(event, dict):
            return False
        kind = event.get("e")
        if kind in ("eventStreamTerminated", "serverShutdown"):
            raise StreamError(f"binance-spot.user: {kind}")
        self._on_event(event)
        return False


class WsOrderEntry:
    """Spot order entry over the WebSocket API connection of a ``SpotUserStream``: an ``OrderEntry``
    (``rest.py``) with the same params and answers as REST, sharing REST's weight and order-count
    limiters and telemetry. Used while the connection is ``live`` (the connector falls back to REST
    otherwise). ``NotSent`` -> Retryable, ``NoAnswer`` -> OutcomeUnknown, ``status`` classified like an
    HTTP status."""

    def __init__(self, user: SpotUserStream, signer: Signer, rest: BinanceRest) -> None:
        self._user = user
        self._signer = signer
        self._rest = rest

    @property
    def live(self) -> bool:
        return self._user.ws.live

    def call(self, method: str, params: Params, *, weight: int = 1, order: bool = False) -> Coroutine[Any, Any, Any]:
        """The request, measured (``BinanceRest.measure``): a coroutine to await (no frame of its own: every
        resumption of an order's request passes through each frame of the chain)."""
        return self._rest.measure(f"WS {method}", self._call(method, params, weight, order))

    async def _call(self, method: str, params: Params, weight: int, order: bool) -> Any:
        weights, orders = self._rest.weights, self._rest.orders
        weights.check(weight)
        if order:
            orders.check(1)
        gate = self._rest.gate
        if gate is not None:
            await gate.acquire(self._rest.fleet_buckets(weight, order), order=order)
        signed = self._signer.signed_ws_params(params)
        try:
            response = await self._user.exchange(method, signed)
        except NotSent as exc:
            raise Retryable(f"{method}: not sent ({exc})", "connect") from exc
        except NoAnswer as exc:
            raise OutcomeUnknown(f"{method}: no answer ({exc})", "transport") from exc
        for limit in response.get("rateLimits") or ():
            kind, count = limit.get("rateLimitType"), limit.get("count")
            if kind in ("REQUEST_WEIGHT", "ORDERS") and isinstance(count, int):
                key = f"{limit.get('intervalNum')}{str(limit.get('interval', 'M'))[0]}"
                (weights if kind == "REQUEST_WEIGHT" else orders).set_used(key, count)
        status = int(response.get("status", 0))
        if status == 200:
            return response.get("result")
        error_body = response.get("error") or {}
        code = error_body.get("code")
        msg = str(error_body.get("msg", ""))
        data = error_body.get("data")
        retry_after: float | None = None
        if isinstance(data, dict) and isinstance(data.get("retryAfter"), int):
            retry_after = max(0.0, (data["retryAfter"] - self._signer.now_ms()) / 1000)
        if status in (418, 429):
            self._rest.rate_limited(code, retry_after, msg or f"status {status}")
        error = classify(status, code if isinstance(code, int) else None, msg, retry_after)
        if isinstance(data, dict) and code in (-2021, -2022):
            raise CancelReplaceFailed(error, cast(SpotCancelReplace, data))
        raise error

    def new_order(self, params: Params) -> Coroutine[Any, Any, Any]:
        return self.call("order.place", params, order=True)

    async def cancel_order(self, symbol: str, orig_client_order_id: str) -> Any:
        return await self.call("order.cancel", parse.cancel_params(symbol, orig_client_order_id))

    async def amend_keep_priority(self, symbol: str, cl_order_id: str, new_qty: Decimal) -> SpotAmendResponse:
        params = parse.keep_priority_params(symbol, cl_order_id, new_qty)
        return cast(SpotAmendResponse, await self.call("order.amend.keepPriority", params, weight=4))

    async def cancel_replace(self, params: Params) -> SpotCancelReplace:
        return cast(SpotCancelReplace, await self.call("order.cancelReplace", params, order=True))

    async def new_order_list(self, kind: str, params: Params) -> Any:
        return await self.call(f"orderList.place.{kind}", params, order=True)

    async def cancel_order_list(self, symbol: str, list_client_order_id: str) -> Any:
        params = [("symbol", symbol), ("listClientOrderId", list_client_order_id)]
        return await self.call("orderList.cancel", params)


class FuturesUserStream:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        hosts: Hosts,
        flavor: Flavor,
        rest: BinanceRest,
        on_event: EventSink,
        on_state: StateSink,
        on_reconnect: ReconnectHook,
        backoff: Backoff = DEFAULT_BACKOFF,
        keepalive_s: float = LISTEN_KEY_KEEPALIVE_S,
        probe_every_s: float = 30.0,
    ) -> None:
        self._hosts = hosts
        self._rest = rest
        self._on_event = on_event
        self._keepalive_s = keepalive_s
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._probe_timeout_s = min(PROBE_TIMEOUT_S, max(2 * probe_every_s, 0.5))
        self.probe_confirmed = asyncio.Event()  # the venue answers LIST_SUBSCRIPTIONS here (seen once)
        self._probe_off = False
        self.listen_key = ""
        self.refusal: Rejected | None = None  # the venue refused a listenKey (credentials)
        self.refused = asyncio.Event()
        self.ws = ReconnectingWebSocket(
            session,
            self._url,
            self._on_message,
            name=f"binance-{flavor}.user",
            kind="user",
            probe=self._probe,
            probe_every_s=probe_every_s,
            on_reconnect=on_reconnect,
            on_state=on_state,
            backoff=backoff,
        )

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.ws.run(), name=f"{self.ws.name}.ws")
            tg.create_task(self._keepalive(), name=f"{self.ws.name}.keepalive")

    async def _url(self) -> str:
        try:
            self.listen_key = await self._rest.new_listen_key()
        except Rejected as exc:
            self.refusal = exc
            self.refused.set()
            raise StreamError(f"listenKey: {exc.message}") from None
        except VenueError as exc:
            raise StreamError(f"listenKey: {exc.message}") from None
        self.refusal = None
        if self._hosts.routed_streams:
            return f"{self._hosts.stream}/private/ws?listenKey={self.listen_key}"
        return f"{self._hosts.stream}/ws/{self.listen_key}"

    async def _probe(self, ws: ReconnectingWebSocket) -> None:
        """``LIST_SUBSCRIPTIONS`` on the user stream: a stalled connection (pings answered, nothing
        delivered) does not answer it. Whether the venue answers it on this endpoint is not documented
        for the routed ``/private`` path, so the probe only counts once an answer has been seen: if
        the first probes of the stream's life go unanswered, probing is switched off rather than
        reconnecting a healthy stream over and over."""
        if self._probe_off:
            return
        request_id = next(self._ids)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            try:
                await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": request_id})
            except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
                raise NotSent(f"LIST_SUBSCRIPTIONS: {type(exc).__name__}") from None
            try:
                await asyncio.wait_for(future, self._probe_timeout_s)
            except TimeoutError:
                if not self.probe_confirmed.is_set():
                    self._probe_off = True
                    log.warning("binance.user.probe_unsupported", extra={"stream": self.ws.name})
                    return
                raise NoAnswer("LIST_SUBSCRIPTIONS: no answer") from None
            self.probe_confirmed.set()
        finally:
            self._pending.pop(request_id, None)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_s)  # the venue's schedule: PUT every 30 minutes
            if not self.listen_key or not self.ws.live:
                continue
            try:
                await self._rest.keepalive_listen_key(self.listen_key)
            except Rejected as exc:
                log.warning("binance.listenkey.gone", extra={"code": exc.code})
                await self.ws.drop()  # -1125 and friends: reconnect with a new key
            except VenueError as exc:
                log.warning("binance.listenkey.keepalive_failed", extra={"code": exc.code})

    def _on_message(self, text: str) -> None:
        msg = _loads(text)
        if msg is None:
            return
        if "result" in msg and isinstance(msg.get("id"), int):  # answer to a control frame (probe)
            future = self._pending.get(msg["id"])
            if future is not None and not future.done():
                future.set_result(None)
            return
        data = msg.get("data")
        event: dict[str, Any] = data if isinstance(data, dict) else msg  # combined-stream wrapper
        kind = event.get("e")
        if kind == "listenKeyExpired":
            raise StreamError("listenKeyExpired")
        if kind == "serverShutdown":
            raise StreamError("serverShutdown")
        self._on_event(event)


class MarketStream:
    """Combined-stream connection on one route, with a live set of subscribed stream names."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        on_data: Callable[[dict[str, Any]], None],
        *,
        name: str,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self._on_data = on_data
        self._ids = itertools.count(1)
        self.streams: set[str] = set()
        self.ws = ReconnectingWebSocket(
            session, url, self._on_message, name=name, on_open=self._resubscribe, backoff=backoff, kind="market"
        )

    async def run(self) -> None:
        await self.ws.run()

    def subscribe(self, names: list[str]) -> None:
        new = [n for n in names if n not in self.streams]
        self.streams.update(new)
        # Queued for the current connection's writer (or the next one's, which also resubscribes the
        # whole set in on_open: a duplicate SUBSCRIBE is harmless, a missed one is not).
        if new:
            self.ws.send_later({"method": "SUBSCRIBE", "params": new, "id": next(self._ids)})

    def unsubscribe(self, names: list[str]) -> None:
        gone = [n for n in names if n in self.streams]
        self.streams.difference_update(gone)
        if gone:
            self.ws.send_later({"method": "UNSUBSCRIBE", "params": gone, "id": next(self._ids)})

    async def _resubscribe(self, ws: ReconnectingWebSocket) -> None:
        if self.streams:
            await ws.send_json({"method": "SUBSCRIBE", "params": sorted(self.streams), "id": next(self._ids)})

    def _on_message(self, text: str) -> None:
        msg = _loads(text)
        if msg is None:
            return
        data = msg.get("data")
        if isinstance(data, dict):
            self._on_data(data)
        elif msg.get("e") == "serverShutdown":
            raise StreamError("serverShutdown")
        elif "s" in msg:
            self._on_data(msg)  # a raw (non-combined) payload


def _loads(text: str) -> dict[str, Any] | None:
    # orjson (~5x json): Binance's integers (ids, times) are within 64 bits, which orjson keeps exact
    try:
        msg = orjson.loads(text)
    except json.JSONDecodeError:  # orjson.JSONDecodeError is one
        log.warning("binance.ws.bad_json")
        return None
    return msg if isinstance(msg, dict) else None
