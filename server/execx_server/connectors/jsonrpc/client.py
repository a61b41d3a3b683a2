"""The JSON-RPC 2.0 dialect shared by Deribit (``/api/v2``, ``/ws/api/v2``) and Pulse (seed 004, a
Deribit-style gateway): one websocket connection that authenticates, keeps itself alive, carries
requests and subscriptions, and comes back after a drop; plus the HTTP form of the same calls.

Where the two venues agree (``../shared/venues/deribit.md`` §3, seed 004):

- Frames: ``{"jsonrpc": "2.0", "id", "method", "params"}`` out; ``{"id", "result" | "error": {"code",
  "message", "data"}}`` back; notifications ``{"method": "subscription", "params": {"channel",
  "data"}}``; heartbeats ``{"method": "heartbeat", "params": {"type": "test_request" | "heartbeat"}}``.
- ``public/auth`` grants: ``client_credentials`` (id + secret), ``client_signature`` (``signature =
  hex(HMAC_SHA256(secret, timestamp + "\\n" + nonce + "\\n" + data))``), ``refresh_token``. Tokens are
  connection-scoped by default: every (re)connection authenticates again, and the token is refreshed
  (``refresh_token`` grant) at ``REFRESH_AT`` of its lifetime so it never expires under us.
- ``public/set_heartbeat`` (interval >= 10 s): the venue sends ``test_request`` and closes the
  connection when one goes unanswered; we answer each with ``public/test``. A connection that stops
  answering our requests is closed by the probe and reconnected.
- ``private/enable_cancel_on_disconnect`` (when asked): orders made on this connection are cancelled
  by the venue when the connection drops (not on ``private/logout``).
- Subscriptions are remembered and sent again on every connection; the subscribe answer lists the
  channels really subscribed and a missing one is an error (the venue can refuse silently).

Numbers in answers are parsed as ``Decimal`` (``parse_float=Decimal``); prices and amounts go out as
decimal strings (both venues read numeric strings).

Where they differ, ``Dialect`` says so explicitly:

- HTTP answers: Deribit wraps results and errors in the JSON-RPC envelope (errors with HTTP 400, rate
  limit 429); Pulse answers the bare result, and errors as ``connection.Message`` ``{"description",
  "response", "status"}`` with HTTP 400 (seed 004 "Responses" tables).
- ``public/subscribe`` answers: Deribit lists the channels really subscribed (a missing one is an
  error); Pulse answers ``"ok"`` (seed 004), so nothing can be checked there.
- ``user.trades`` notifications: Deribit sends a list of trades, Pulse one trade object each.
- HTTP request bodies: seed 004 shows the whole JSON-RPC request as the body of ``POST
  /api/v2/{method}``; Deribit accepts the same, so one form serves both. ``public/auth`` is a ``GET``
  with query parameters (seed 004; Deribit documents GET for public methods too).
- Order-entry differences (Pulse's ``post_only`` reprices and has no ``reject_post_only``) are the
  venue connectors' business.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import aiohttp

from ...domain.venue import Retryable
from ..base import Secret
from ..transport.signing import hmac_sha256_hex
from ..transport.telemetry import Telemetry
from ..transport.websocket import DEFAULT_BACKOFF, Backoff, NoAnswer, NotSent, ReconnectingWebSocket, StreamError
from .credits import Credits

log = logging.getLogger("execx.connectors.jsonrpc")

REQUEST_TIMEOUT_S = 10.0
REFRESH_AT = 0.8  # refresh the access token at 80% of its lifetime
MIN_HEARTBEAT_S = 10  # public/set_heartbeat refuses less

Grant = Literal["client_credentials", "client_signature"]


@dataclass(frozen=True)
class Dialect:
    """What differs between the JSON-RPC venues (see module docstring)."""

    venue: str
    http_bare: bool  # HTTP: bare result and connection.Message errors (Pulse) vs. the JSON-RPC envelope
    subscribe_returns_channels: bool  # Deribit: the channels subscribed (check them); Pulse: "ok"
    trades_as_list: bool  # user.trades notifications: Deribit a list of trades, Pulse one trade object
    ws_path: str = "/ws/api/v2"
    http_path: str = "/api/v2"


DERIBIT = Dialect("deribit", http_bare=False, subscribe_returns_channels=True, trades_as_list=True)
PULSE = Dialect("pulse", http_bare=True, subscribe_returns_channels=False, trades_as_list=False)


class RpcError(Exception):
    """The venue answered with an error object: ``code``, ``message`` and ``data`` as it sent them."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        reason = f": {data.get('reason') or data.get('param') or ''}" if isinstance(data, dict) else ""
        super().__init__(f"{code} {message}{reason}".rstrip(": "))
        self.code = code
        self.message = message
        self.data = data

    @property
    def text(self) -> str:
        """``message`` plus the venue's reason, as the user should read it."""
        return str(self)


@dataclass
class Credentials:
    client_id: str
    secret: Secret
    grant: Grant = "client_credentials"


def client_signature(secret: Secret, timestamp_ms: int, nonce: str, data: str = "") -> str:
    """The ``client_signature`` grant: ``hex(HMAC_SHA256(secret, timestamp + "\\n" + nonce + "\\n" + data))``."""
    return hmac_sha256_hex(secret, f"{timestamp_ms}\n{nonce}\n{data}")


def auth_params(creds: Credentials, now_ms: int) -> dict[str, Any]:
    """``public/auth`` params for the configured grant (the secret is revealed only here)."""
    if creds.grant == "client_credentials":
        return {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.secret.reveal(),
        }
    nonce = secrets.token_hex(8)
    sig = client_signature(creds.secret, now_ms, nonce)
    return {
        "grant_type": "client_signature",
        "client_id": creds.client_id,
        "timestamp": now_ms,
        "nonce": nonce,
        "data": "",
        "signature": sig,
    }


NotificationSink = Callable[[str, Any], None]  # (channel, data)
OpenHook = Callable[["JsonRpcConnection"], Awaitable[None]]


class JsonRpcConnection:
    """One JSON-RPC websocket that stays connected (``run()`` until cancelled).

    On every connection: authenticate (if credentials), ``set_heartbeat``, cancel-on-disconnect (if
    asked), subscribe again, then the owner's ``on_open``. ``on_reconnect`` runs after a reconnection
    (gap recovery), ``on_state`` tells when the connection is usable.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        dialect: Dialect,
        on_notification: NotificationSink,
        *,
        name: str,
        credentials: Credentials | None = None,
        cancel_on_disconnect: bool = False,
        heartbeat_s: int = 10,
        on_open: OpenHook | None = None,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
        on_state: Callable[[bool], None] | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        probe_every_s: float = 30.0,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.dialect = dialect
        self.name = name
        self._credentials = credentials
        self.cancel_on_disconnect = cancel_on_disconnect
        self._heartbeat_s = max(MIN_HEARTBEAT_S, heartbeat_s)
        self._on_notification = on_notification
        self._on_open = on_open
        self._on_state = on_state
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.channels: set[str] = set()
        self.refusal: RpcError | None = None  # the venue refused our credentials (kept for start())
        self.refused = asyncio.Event()
        self.cod_enabled = False  # cancel-on-disconnect confirmed by the venue on the current connection
        self._refresh_token = ""
        self._token_expires_ms = 0
        self._refresher: asyncio.Task[None] | None = None
        self.credits = Credits(None)  # fleet mode: the account's shared budget (``credits.py``)
        self.ws = ReconnectingWebSocket(
            session,
            url,
            self._on_text,
            name=name,
            on_open=self._opened,
            on_reconnect=on_reconnect,
            on_state=self._state,
            backoff=backoff,
            heartbeat_s=30.0,
            kind=name.rpartition(".")[2],
            probe=self._probe,
            probe_every_s=probe_every_s,
        )

    @property
    def telemetry(self) -> Telemetry:
        return self.ws.telemetry

    @telemetry.setter
    def telemetry(self, value: Telemetry) -> None:
        self.ws.telemetry = value

    @property
    def live(self) -> bool:
        return self.ws.live

    async def run(self) -> None:
        try:
            await self.ws.run()
        finally:
            self._stop_refresher()

    # ------------------------------------------------------------------ requests

    async def call(
        self, method: str, params: dict[str, Any] | None = None, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> Any:
        """One request on the current connection. ``RpcError`` for an error answer; ``NotSent`` when
        there is no connection (nothing reached the venue); ``NoAnswer`` when the connection dropped or
        the answer did not come in time (it may have been executed)."""
        await self.credits.draw(method)
        req_id = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        started = time.perf_counter()
        outcome = "unknown"
        try:
            try:
                await self.ws.send_json({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params or {}})
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                outcome = "retryable"
                raise NotSent(f"{self.name}: {method} not sent: {exc}") from None
            try:
                async with asyncio.timeout(timeout_s):  # not wait_for: 3.11's can swallow a cancellation
                    result = await fut
            except TimeoutError:
                raise NoAnswer(f"{self.name}: no answer to {method} in {timeout_s:.0f}s") from None
            except RpcError as exc:
                outcome = "rejected"
                self.credits.answered(exc.code)
                raise
            outcome = "ok"
            return result
        finally:
            self._pending.pop(req_id, None)
            self.telemetry.request(f"WS {method}", outcome, time.perf_counter() - started)

    def subscribe(self, channels: list[str]) -> None:
        """Remember ``channels`` and subscribe now if connected (else on the next connection)."""
        new = [c for c in channels if c not in self.channels]
        self.channels.update(new)
        if new and self.live:
            self.ws.send_later(
                {
                    "jsonrpc": "2.0",
                    "id": next(self._ids),
                    "method": self._subscribe_method(new),
                    "params": {"channels": new},
                }
            )

    async def subscribe_now(self, channels: list[str]) -> None:
        """Subscribe on the current connection and wait for the answer (and remember the channels for
        every later connection). ``RpcError`` / ``StreamError`` when the venue refuses."""
        self.channels.update(channels)
        done = await self.call(self._subscribe_method(channels), {"channels": channels})
        missing = set(channels) - set(done if isinstance(done, list) else [])
        if self.dialect.subscribe_returns_channels and missing:
            raise StreamError(f"{self.name}: subscription refused for {sorted(missing)}")

    def unsubscribe(self, channels: list[str]) -> None:
        gone = [c for c in channels if c in self.channels]
        self.channels.difference_update(gone)
        if gone and self.live:
            method = "private/unsubscribe" if self._credentials else "public/unsubscribe"
            self.ws.send_later(
                {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": {"channels": gone}}
            )

    def _subscribe_method(self, channels: list[str]) -> str:
        private = self._credentials is not None and any(c.startswith("user.") for c in channels)
        return "private/subscribe" if private else "public/subscribe"

    # ------------------------------------------------------------------ connection hooks

    async def _opened(self, ws: ReconnectingWebSocket) -> None:
        self.cod_enabled = False
        if self._credentials is not None:
            try:
                answer = await self._call_on_open("public/auth", auth_params(self._credentials, self._clock_ms()))
            except RpcError as exc:
                self.refusal = exc
                self.refused.set()
                raise StreamError(f"{self.name}: public/auth refused: {exc}") from None
            self.refusal = None
            self._keep_token(answer)
        await self._call_on_open("public/set_heartbeat", {"interval": self._heartbeat_s})
        if self.cancel_on_disconnect and self._credentials is not None:
            await self._call_on_open("private/enable_cancel_on_disconnect", {"scope": "connection"})
            self.cod_enabled = True
        if self.channels:
            wanted = sorted(self.channels)
            public = [c for c in wanted if not c.startswith("user.")]
            private = [c for c in wanted if c.startswith("user.")]
            for method, chans in (("public/subscribe", public), ("private/subscribe", private)):
                if not chans:
                    continue
                done = await self._call_on_open(method, {"channels": chans})
                missing = set(chans) - set(done if isinstance(done, list) else [])
                if self.dialect.subscribe_returns_channels and missing:
                    raise StreamError(f"{self.name}: subscription refused for {sorted(missing)}")
        if self._on_open is not None:
            await self._on_open(self)

    async def _call_on_open(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return await self.call(method, params)
        except (NotSent, NoAnswer, Retryable) as exc:  # Retryable: the fleet's budget is spent (not sent)
            raise StreamError(str(exc)) from None

    def _keep_token(self, answer: Any) -> None:
        if not isinstance(answer, dict):
            return
        self._refresh_token = str(answer.get("refresh_token", ""))
        expires_in = float(answer.get("expires_in", 0) or 0)
        self._token_expires_ms = self._clock_ms() + int(expires_in * 1000)
        self._stop_refresher()
        if expires_in > 0 and self._refresh_token:
            self._refresher = asyncio.get_running_loop().create_task(
                self._refresh_after(expires_in * REFRESH_AT), name=f"{self.name}.token"
            )

    async def _refresh_after(self, delay_s: float) -> None:
        """Swap the token for a new one before it expires (``refresh_token`` grant on this connection)."""
        await asyncio.sleep(delay_s)  # the token's schedule
        try:
            answer = await self.call(
                "public/auth", {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
            )
        except (RpcError, StreamError) as exc:
            log.warning("jsonrpc.token_refresh_failed", extra={"stream": self.name, "error": str(exc)})
            await self.ws.drop()  # a new connection authenticates from scratch
            return
        log.info("jsonrpc.token_refreshed", extra={"stream": self.name})
        self._refresher = None
        self._keep_token(answer)

    def _stop_refresher(self) -> None:
        task, self._refresher = self._refresher, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _probe(self, ws: ReconnectingWebSocket) -> None:
        try:
            await self.call("public/test", {}, timeout_s=5.0)
        except (NoAnswer, NotSent) as exc:
            raise StreamError(str(exc)) from None

    def _state(self, live: bool) -> None:
        if not live:
            self._stop_refresher()
            self.cod_enabled = False
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(NoAnswer(f"{self.name}: connection lost before the answer"))
        if self._on_state is not None:
            self._on_state(live)

    def _on_text(self, text: str) -> None:
        try:
            msg = json.loads(text, parse_float=Decimal)
        except ValueError:
            log.warning("jsonrpc.bad_frame", extra={"stream": self.name, "bytes": len(text)})
            return
        if not isinstance(msg, dict):
            return
        req_id = msg.get("id")
        if req_id is not None:
            fut = self._pending.get(req_id) if isinstance(req_id, int) else None
            if fut is None or fut.done():
                error = msg.get("error")
                if isinstance(error, dict):  # e.g. a fire-and-forget subscribe that was refused
                    log.warning("jsonrpc.unanswered_error", extra={"stream": self.name, "error": error})
                return
            error = msg.get("error")
            if isinstance(error, dict):
                fut.set_exception(RpcError(int(error.get("code", 0)), str(error.get("message", "")), error.get("data")))
            else:
                fut.set_result(msg.get("result"))
            return
        method = msg.get("method")
        params = msg.get("params")
        if method == "subscription" and isinstance(params, dict):
            self._on_notification(str(params.get("channel", "")), params.get("data"))
        elif method == "heartbeat" and isinstance(params, dict) and params.get("type") == "test_request":
            self.ws.send_later({"jsonrpc": "2.0", "id": next(self._ids), "method": "public/test", "params": {}})


# ---------------------------------------------------------------------------------------------- HTTP


class JsonRpcHttp:
    """The same calls over HTTP (``POST {base}/api/v2/{method}`` with the params as JSON body), for
    calls that need no subscription and for when the websocket is down. Private calls authenticate with
    a Bearer token from ``public/auth`` (fetched on first use and again when it nears expiry)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        dialect: Dialect,
        credentials: Credentials | None,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/") + dialect.http_path
        self.dialect = dialect
        self._credentials = credentials
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._token = ""
        self._token_expires_ms = 0
        self._lock = asyncio.Lock()
        self._ids = 0
        self.credits = Credits(None)  # fleet mode: the account's shared budget (``credits.py``)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """``RpcError`` for an error answer; ``NotSent`` if the connection could not be made; ``NoAnswer``
        for a timeout, a dropped connection or a 5xx (the call may have been executed)."""
        headers = {"Content-Type": "application/json"}
        if method.startswith("private/"):
            headers["Authorization"] = f"Bearer {await self._bearer()}"
            await self.credits.draw(method)
        url = f"{self._base}/{method}"
        self._ids += 1
        try:
            if method == "public/auth":
                query = {k: str(v) for k, v in (params or {}).items()}
                request = self._session.get(url, params=query, headers=headers)
            else:
                envelope = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params or {}}
                request = self._session.post(url, data=json.dumps(envelope), headers=headers)
            async with request as resp:
                body = await resp.text()
                status = resp.status
        except aiohttp.ClientConnectorError as exc:
            raise NotSent(f"{method}: {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NoAnswer(f"{method}: {type(exc).__name__}") from None
        if status >= 500:
            raise NoAnswer(f"{method}: HTTP {status}")
        try:
            doc = json.loads(body, parse_float=Decimal) if body else None
        except ValueError:
            raise NoAnswer(f"{method}: HTTP {status} with a body that is not JSON") from None
        return self._result(doc, status)

    def _result(self, doc: Any, status: int) -> Any:
        if self.dialect.http_bare:
            if status >= 400:
                response = doc.get("response") if isinstance(doc, dict) else None
                if isinstance(response, dict) and "code" in response:
                    self.credits.answered(int(response["code"]))
                    raise RpcError(int(response["code"]), str(response.get("message", "")), response.get("data"))
                description = doc.get("description", "") if isinstance(doc, dict) else ""
                raise RpcError(status, str(description) or f"HTTP {status}")
            return doc
        if not isinstance(doc, dict):
            raise RpcError(status, f"HTTP {status}")
        error = doc.get("error")
        if isinstance(error, dict):
            self.credits.answered(int(error.get("code", 0)))
            raise RpcError(int(error.get("code", 0)), str(error.get("message", "")), error.get("data"))
        return doc.get("result")

    async def _bearer(self) -> str:
        async with self._lock:
            if self._token and self._clock_ms() < self._token_expires_ms:
                return self._token
            if self._credentials is None:
                raise RpcError(10000, "authorization_required")
            answer = await self.call("public/auth", auth_params(self._credentials, self._clock_ms()))
            self._token = str(answer["access_token"])
            lifetime_ms = int(float(answer.get("expires_in", 0)) * 1000)
            self._token_expires_ms = self._clock_ms() + int(lifetime_ms * REFRESH_AT)
            return self._token
