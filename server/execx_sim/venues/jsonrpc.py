"""The JSON-RPC 2.0 dialect Deribit (``/api/v2`` + ``/ws/api/v2``) and Pulse (a Deribit-style gateway,
seed 004) share: transport over HTTP and WebSocket, OAuth-style tokens from ``public/auth``,
subscriptions, heartbeats and cancel-on-disconnect. Venue methods are registered by the venue
packages (``deribit.rpc``); what differs between the two venues is a ``Dialect``.

- WebSocket frames: ``{"jsonrpc": "2.0", "id", "method", "params"}`` in; ``{"jsonrpc", "id",
  "result" | "error": {code, message, data}, "usIn", "usOut", "usDiff", "testnet"}`` out;
  notifications ``{"jsonrpc", "method": "subscription", "params": {"channel", "data"}}``.
- HTTP: ``GET /api/v2/{method}?params`` or ``POST /api/v2/{method}`` (JSON body: the params, or a
  whole JSON-RPC request) or ``POST /api/v2`` with a JSON-RPC request. Deribit answers with the
  JSON-RPC envelope (errors with HTTP 400); Pulse, per its API document, with the bare result and
  errors as ``connection.Message`` ``{"description", "response", "status"}`` with HTTP 400.
- Private methods: over HTTP an ``Authorization`` header (``Bearer <token>``, ``Basic
  base64(id:secret)`` or ``deri-hmac-sha256 id=..,ts=..,sig=..,nonce=..`` signed over
  ``ts\\nnonce\\nMETHOD\\nURI\\nbody\\n``); over WebSocket ``access_token`` in params or a prior
  ``public/auth`` on the same connection. Connection-scoped tokens only work on their connection.
- Heartbeat: after ``public/set_heartbeat`` (interval >= 10 s) the server sends ``test_request``
  every interval; one left unanswered (no request from the client, ``public/test`` being the usual
  answer) by the next interval closes the connection. ``private/enable_cancel_on_disconnect``
  cancels, when the connection closes (not on ``private/logout``), the orders it created.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from ..core.accounts import Account
from ..core.engine import Exchange
from ..core.faults import Faults
from ..core.ratelimit import METHOD_COST, CreditLimiter
from .common import StreamWriter, WsRegistry, loads
from .common import dumps as common_dumps

log = logging.getLogger("execx_sim.jsonrpc")

TOKEN_TTL_S = 900  # access tokens live 15 minutes; refresh tokens a day
REFRESH_TTL_S = 86_400
MIN_HEARTBEAT_S = 10
SIGNATURE_WINDOW_MS = 60_000
MAX_TOKENS = 10_000


class RpcError(Exception):
    """A refused request: ``error.code`` / ``error.message`` (and optional ``data``)."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.data = data

    def rpc(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


def invalid_params(param: str, reason: str) -> RpcError:
    return RpcError(-32602, "Invalid params", {"reason": reason, "param": param})


def unauthorized(reason: str) -> RpcError:
    return RpcError(13009, "unauthorized", {"reason": reason})


def num(value: Decimal | int | None) -> Any:
    """A JSON number for a Decimal (venues send numbers): int when integral, else the shortest float."""
    if value is None or isinstance(value, int):
        return value
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def dumps(obj: Any) -> str:
    return common_dumps(obj, _default)


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return num(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class Params:
    """Request parameters from JSON (typed) or a query string (text), read with type checks."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def __contains__(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def text(self, name: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise invalid_params(name, "must be present")
            return default
        if not isinstance(value, str):
            raise invalid_params(name, "must be a string")
        return value

    def req_str(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def decimal(self, name: str, required: bool = False) -> Decimal | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise invalid_params(name, "must be present")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise invalid_params(name, "must be a number")
        try:
            d = Decimal(str(value))
        except ArithmeticError:
            raise invalid_params(name, "must be a number") from None
        if not d.is_finite():
            raise invalid_params(name, "must be a number")
        return d

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise invalid_params(name, "must be a boolean")

    def integer(self, name: str, default: int | None = None, required: bool = False) -> int | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise invalid_params(name, "must be present")
            return default
        if isinstance(value, bool):
            raise invalid_params(name, "must be an integer")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise invalid_params(name, "must be an integer") from None

    def array(self, name: str) -> list[Any]:
        value = self.raw.get(name)
        if value is None:
            raise invalid_params(name, "must be present")
        if isinstance(value, str):  # GET query: channels=a,b or a JSON array
            try:
                value = loads(value) if value.startswith("[") else value.split(",")
            except ValueError:
                raise invalid_params(name, "must be an array") from None
        if not isinstance(value, list):
            raise invalid_params(name, "must be an array")
        return value


@dataclass(eq=False)
class Conn:
    """One WebSocket connection, or one HTTP request (``ws`` None)."""

    conn_id: int
    ws: web.WebSocketResponse | None = None
    writer: StreamWriter | None = None
    generation: int = 0
    account: Account | None = None  # authenticated on this connection (public/auth)
    subscriptions: set[str] = field(default_factory=set)
    cancel_on_disconnect: bool = False
    heartbeat_s: int = 0
    test_pending: bool = False
    graceful: bool = False  # private/logout: no cancel-on-disconnect
    heartbeat_task: asyncio.Task[None] | None = None
    late: set[asyncio.Task[None]] = field(default_factory=set)  # answers held back by ``slow_ack_ms``

    def notify(self, channel: str, data: Any) -> None:
        if self.writer is not None:
            self.writer.send(
                dumps({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}})
            )


Handler = Callable[[Conn, Account | None, Params], Any]


@dataclass(frozen=True)
class Method:
    handler: Handler
    private: bool = False
    ws_only: bool = False


@dataclass
class Token:
    account: Account
    expires_ms: int
    conn_id: int | None  # connection scope: only valid on that WebSocket connection
    scope: str
    refresh: bool = False


OK_MESSAGE = {"description": "ok", "response": None, "status": 200}  # Pulse's connection.Message


@dataclass(frozen=True)
class Dialect:
    """Where Deribit and Pulse (seed 004) differ; the defaults are Deribit's."""

    venue: str
    http_bare: bool = False  # Pulse: bare HTTP results, errors as connection.Message
    ok: Any = "ok"  # result of methods that just succeed (Pulse: connection.Message)
    subscribe_returns_channels: bool = True  # Pulse: "ok"
    cod_state_as_bool: bool = False  # Pulse: get_cancel_on_disconnect answers true/false
    cancel_all_returns_orders: bool = False  # Pulse: the cancelled orders instead of their count
    trade_notifications_as_list: bool = True  # Pulse: one trade object per user.trades notification
    book_snapshot_prev_change_id: bool = False  # Pulse: snapshots carry prev_change_id 0
    private_instruments: bool = False  # Pulse: private/get_instruments
    lists_not_pages: bool = False  # Pulse: get_order_state, user/last trades answer plain lists
    index_price_as_number: bool = False  # Pulse: public/get_index_price answers the price itself
    # Trigger orders (private/buy|sell ``type`` stop_* / take_* / trailing_stop with ``trigger``): Pulse's
    # ``types.Trigger`` is index_price / last_price only, it has no trailing_stop type and no ``triggered``
    # state or flag (seed 004 ``types.OrderStatus``: an untriggered order that fired is ``open``)
    trigger_refs: tuple[str, ...] = ("index_price", "mark_price", "last_price")
    trailing_stop: bool = True
    triggered_state: bool = True
    linked_orders: bool = False  # Pulse: linked_order_type with otoco_config (deribit/linked.py)


DERIBIT = Dialect("deribit")
PULSE = Dialect(
    "pulse",
    http_bare=True,
    ok=OK_MESSAGE,
    subscribe_returns_channels=False,
    cod_state_as_bool=True,
    cancel_all_returns_orders=True,
    trade_notifications_as_list=False,
    book_snapshot_prev_change_id=True,
    private_instruments=True,
    lists_not_pages=True,
    index_price_as_number=True,
    trigger_refs=("index_price", "last_price"),
    trailing_stop=False,
    triggered_state=False,
    linked_orders=True,
)


class JsonRpcServer:
    """HTTP + WebSocket JSON-RPC of one venue; methods and channels are installed by the venue."""

    def __init__(
        self, dialect: Dialect, exchange: Exchange, faults: Faults, sockets: WsRegistry, ws_path: str = "/ws/api/v2"
    ) -> None:
        self.dialect = dialect
        self.exchange = exchange
        self.faults = faults
        self.sockets = sockets
        self.methods: dict[str, Method] = {}
        self.conns: set[Conn] = set()
        self.tokens: dict[str, Token] = {}
        self.channel_checker: Callable[[str, bool], bool] = lambda channel, private: False
        self.on_subscribe: Callable[[Conn, str], None] = lambda conn, channel: None
        self.on_close: Callable[[Conn], None] = lambda conn: None
        self.cod_accounts: set[str] = set()  # cancel-on-disconnect with scope=account
        # credits per account across HTTP, WebSocket (and Deribit's FIX): the docs' non-matching-engine
        # default and the matching engine's tier 1 (the admin API or a test lowers them)
        self.credits = CreditLimiter()
        self._ids = itertools.count(1)
        self.app = web.Application(client_max_size=1 << 20)
        self.app.router.add_get(ws_path, self.handle_ws)
        self.app.router.add_route("*", "/api/v2", self.handle_http)
        self.app.router.add_route("*", "/api/v2/{method:.+}", self.handle_http)
        self._install_session_methods()

    def method(self, name: str, handler: Handler, private: bool = False, ws_only: bool = False) -> None:
        self.methods[name] = Method(handler, private, ws_only)

    # ------------------------------------------------------------------ auth

    def _issue(self, account: Account, conn: Conn, scope_param: str | None) -> dict[str, Any]:
        now = self.exchange.now_ms()
        named = scope_param if scope_param is not None and scope_param.startswith("session:") else None
        conn_id = None if named is not None or conn.ws is None else conn.conn_id
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        if len(self.tokens) > MAX_TOKENS:  # forget expired tokens now and then
            self.tokens = {k: t for k, t in self.tokens.items() if t.expires_ms > now}
        scope = (named or "connection") + " mainaccount trade:read_write wallet:read"
        self.tokens[access] = Token(account, now + TOKEN_TTL_S * 1000, conn_id, scope)
        self.tokens[refresh] = Token(account, now + REFRESH_TTL_S * 1000, conn_id, scope, refresh=True)
        if conn.ws is not None:
            conn.account = account
            if account.account_id in self.cod_accounts:
                conn.cancel_on_disconnect = True
        return {
            "access_token": access,
            "expires_in": TOKEN_TTL_S,
            "refresh_token": refresh,
            "scope": scope,
            "token_type": "bearer",
            "enabled_features": [],
        }

    def _auth(self, conn: Conn, _: Account | None, p: Params) -> Any:
        grant = p.req_str("grant_type")
        if grant == "refresh_token":
            tok = self.tokens.get(p.req_str("refresh_token"))
            if tok is None or not tok.refresh or tok.expires_ms < self.exchange.now_ms():
                raise RpcError(13009, "unauthorized", {"reason": "invalid or expired refresh_token"})
            return self._issue(tok.account, conn, p.text("scope"))
        if grant not in ("client_credentials", "client_signature"):
            raise invalid_params("grant_type", "must be client_credentials, client_signature or refresh_token")
        client_id = p.req_str("client_id")
        account = self.exchange.account_by_key(client_id)
        if account is None or account.is_background:
            raise RpcError(13004, "invalid_credentials")
        if grant == "client_credentials":
            if not hmac.compare_digest(p.req_str("client_secret"), account.secret_key):
                raise RpcError(13004, "invalid_credentials")
        else:
            ts = p.integer("timestamp", required=True)
            assert ts is not None
            if abs(self.exchange.now_ms() - ts) > SIGNATURE_WINDOW_MS:
                raise RpcError(13009, "unauthorized", {"reason": "timestamp outside the allowed window"})
            payload = f"{ts}\n{p.text('nonce', '')}\n{p.text('data', '')}"
            want = hmac.new(account.secret_key.encode(), payload.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, p.req_str("signature").lower()):
                raise RpcError(13009, "unauthorized", {"reason": "invalid signature"})
        return self._issue(account, conn, p.text("scope"))

    def _token_account(self, token: str, conn: Conn) -> Account:
        tok = self.tokens.get(token)
        if tok is None or tok.refresh:
            raise unauthorized("invalid access_token")
        if tok.expires_ms < self.exchange.now_ms():
            raise RpcError(13009, "unauthorized", {"reason": "token has expired", "param": "access_token"})
        if tok.conn_id is not None and tok.conn_id != conn.conn_id:
            raise unauthorized("connection scope token used on another connection")
        return tok.account

    def _http_account(self, request: web.Request, body: str, conn: Conn) -> Account:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if not header:
            raise RpcError(10000, "authorization_required")
        if scheme.lower() == "bearer":
            return self._token_account(value.strip(), conn)
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise unauthorized("malformed Basic credentials") from None
            account = self.exchange.account_by_key(client_id)
            if account is None or not hmac.compare_digest(secret, account.secret_key):
                raise RpcError(13004, "invalid_credentials")
            return account
        if scheme.lower() == "deri-hmac-sha256":
            parts = dict(kv.partition("=")[::2] for kv in value.split(","))
            account = self.exchange.account_by_key(parts.get("id", "").strip())
            if account is None:
                raise RpcError(13004, "invalid_credentials")
            ts = parts.get("ts", "")
            if not ts.isdigit() or abs(self.exchange.now_ms() - int(ts)) > SIGNATURE_WINDOW_MS:
                raise unauthorized("timestamp outside the allowed window")
            uri = request.rel_url.raw_path_qs
            data = f"{ts}\n{parts.get('nonce', '')}\n{request.method.upper()}\n{uri}\n{body}\n"
            want = hmac.new(account.secret_key.encode(), data.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, parts.get("sig", "").lower()):
                raise unauthorized("invalid signature")
            return account
        raise unauthorized(f"unsupported Authorization scheme {scheme}")

    # ------------------------------------------------------------------ dispatch

    def _call(self, conn: Conn, name: str, raw: dict[str, Any], http_account: Callable[[], Account] | None) -> Any:
        method = self.methods.get(name)
        if method is None:
            raise RpcError(-32601, "Method not found")
        if method.ws_only and conn.ws is None:
            raise RpcError(10030, "must_be_websocket_request")  # the API needs a WebSocket for this method
        account: Account | None = None
        if method.private:
            token = raw.get("access_token")
            if isinstance(token, str) and token:
                account = self._token_account(token, conn)
                if conn.ws is not None and conn.account is None:
                    conn.account = account  # its private subscriptions follow this account
            elif conn.ws is not None:
                if conn.account is None:
                    raise RpcError(10000, "authorization_required")
                account = conn.account
            else:
                assert http_account is not None
                account = http_account()
        if account is not None:
            kind = self.credits.kind_of(name)
            if not self.credits.take(account.account_id, kind, self.exchange.now_ms(), METHOD_COST.get(name, 1)):
                raise RpcError(10028, "too_many_requests")
        params = Params({k: v for k, v in raw.items() if k != "access_token"})
        return method.handler(conn, account, params)

    def _envelope(self, req_id: Any, us_in: int, result: Any = None, error: RpcError | None = None) -> dict[str, Any]:
        us_out = time.time_ns() // 1000
        out: dict[str, Any] = {"jsonrpc": "2.0"}
        if req_id is not None:
            out["id"] = req_id
        if error is not None:
            out["error"] = error.rpc()
        else:
            out["result"] = result
        out.update(usIn=us_in, usOut=us_out, usDiff=us_out - us_in, testnet=False)
        return out

    async def handle_http(self, request: web.Request) -> web.Response:
        us_in = time.time_ns() // 1000
        conn = Conn(next(self._ids))
        body = await request.text() if request.method == "POST" else ""
        req_id: Any = None
        try:
            name = request.match_info.get("method", "")
            raw: dict[str, Any] = dict(request.query)
            if body:
                try:
                    parsed = loads(body)
                except ValueError:
                    raise RpcError(-32700, "Parse error") from None
                if not isinstance(parsed, dict):
                    raise RpcError(-32600, "Invalid Request")
                if {"method", "jsonrpc", "params"} & parsed.keys():  # a whole JSON-RPC request
                    req_id = parsed.get("id")
                    name = name or str(parsed.get("method", ""))
                    inner = parsed.get("params") or {}
                    if not isinstance(inner, dict):
                        raise RpcError(-32602, "Invalid params")
                    raw.update(inner)
                else:
                    raw.update(parsed)
            if self.faults.latency_ms:
                await asyncio.sleep(self.faults.latency_ms / 1000)
            if self.faults.take("http_5xx"):
                return web.Response(status=self.faults.http_5xx_status, text="Service Unavailable")
            if self.faults.take("rate_limit"):
                raise RpcError(10028, "too_many_requests")
            result = self._call(conn, name, raw, lambda: self._http_account(request, body, conn))
            if self._slow(name):
                await asyncio.sleep(self.faults.slow_ack_ms / 1000)
        except RpcError as e:
            return self._http_error(req_id, us_in, e)
        except Exception:
            log.exception("jsonrpc.http.unhandled")
            return self._http_error(req_id, us_in, RpcError(10001, "error"))
        if self.dialect.http_bare:
            return web.Response(text=dumps(result), content_type="application/json")
        return web.Response(text=dumps(self._envelope(req_id, us_in, result)), content_type="application/json")

    def _http_error(self, req_id: Any, us_in: int, e: RpcError) -> web.Response:
        if self.dialect.http_bare:
            body: dict[str, Any] = {"description": e.message, "response": e.rpc(), "status": 400}
        else:
            body = self._envelope(req_id, us_in, error=e)
        status = 429 if e.code == 10028 and not self.dialect.http_bare else 400
        return web.Response(status=status, text=dumps(body), content_type="application/json")

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = Conn(next(self._ids), ws, StreamWriter(ws, self.faults), self.faults.drop_generation)
        self.conns.add(conn)
        self.sockets.add(ws)
        assert conn.writer is not None
        drain = asyncio.create_task(conn.writer.drain())
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    conn.test_pending = False
                    await self._ws_request(conn, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self.conns.discard(conn)
            self.sockets.discard(ws)
            if conn.heartbeat_task is not None:
                conn.heartbeat_task.cancel()
            for late in list(conn.late):  # answers still held back: the connection is gone
                late.cancel()
            conn.writer.close()
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            self.on_close(conn)
        return ws

    async def _ws_request(self, conn: Conn, text: str) -> None:
        assert conn.writer is not None
        us_in = time.time_ns() // 1000
        req_id: Any = None
        try:
            try:
                frame = loads(text)
            except ValueError:
                raise RpcError(-32700, "Parse error") from None
            if not isinstance(frame, dict):
                raise RpcError(-32600, "Invalid Request")
            req_id = frame.get("id")
            raw = frame.get("params") or {}
            if not isinstance(raw, dict):
                raise RpcError(-32602, "Invalid params")
            name = frame.get("method")
            if not isinstance(name, str):
                raise RpcError(-32600, "Invalid Request")
            if self.faults.latency_ms:
                await asyncio.sleep(self.faults.latency_ms / 1000)
            result = self._call(conn, name, raw, None)
            reply = self._envelope(req_id, us_in, result)
            if self._slow(name):  # answered late; the connection's other requests are served meanwhile
                task = asyncio.get_running_loop().create_task(self._late_reply(conn, dumps(reply)))
                conn.late.add(task)
                task.add_done_callback(conn.late.discard)
                return
        except RpcError as e:
            reply = self._envelope(req_id, us_in, error=e)
        except Exception:
            log.exception("jsonrpc.ws.unhandled")
            reply = self._envelope(req_id, us_in, error=RpcError(10001, "error"))
        conn.writer.send(dumps(reply))
        if conn.graceful and conn.ws is not None:
            conn.writer.close()

    def _slow(self, method: str) -> bool:
        """The ``slow_ack_ms`` fault strikes this request: an order placed (``private/buy`` / ``sell``) is held by
        the engine at once, its answer sent late (its private notifications are not held back)."""
        return bool(self.faults.slow_ack_ms) and method in ("private/buy", "private/sell")

    async def _late_reply(self, conn: Conn, text: str) -> None:
        await asyncio.sleep(self.faults.slow_ack_ms / 1000)
        if conn.writer is not None and conn in self.conns:
            conn.writer.send(text)

    async def close_dropped(self) -> None:
        gen = self.faults.drop_generation
        for conn in [c for c in self.conns if c.generation < gen and c.ws is not None]:
            conn.generation = gen
            assert conn.ws is not None
            with contextlib.suppress(Exception):
                await conn.ws.close(message=b"dropped")

    async def close_all(self) -> None:
        for conn in list(self.conns):
            if conn.ws is not None:
                with contextlib.suppress(Exception):
                    await conn.ws.close(message=b"shutdown")

    # ------------------------------------------------------------------ subscriptions

    def subscribers(self, channels: Iterable[str]) -> list[tuple[Conn, str]]:
        wanted = set(channels)
        return [(c, ch) for c in self.conns for ch in c.subscriptions & wanted]

    def publish(self, channels: Iterable[str], data: Any, account_id: str | None = None) -> None:
        """Send ``data`` to every connection subscribed to one of ``channels`` (private: its account's)."""
        for conn, channel in self.subscribers(channels):
            if account_id is not None and (conn.account is None or conn.account.account_id != account_id):
                continue
            conn.notify(channel, data)

    def _subscribe(self, private: bool) -> Handler:
        def handler(conn: Conn, account: Account | None, p: Params) -> Any:
            if conn.ws is None:
                raise RpcError(10030, "must_be_websocket_request")
            done: list[str] = []
            for channel in p.array("channels"):
                if isinstance(channel, str) and self.channel_checker(channel, private):
                    conn.subscriptions.add(channel)
                    done.append(channel)
            for channel in done:
                self.on_subscribe(conn, channel)
            return done if self.dialect.subscribe_returns_channels else "ok"

        return handler

    def _unsubscribe(self, conn: Conn, _: Account | None, p: Params) -> Any:
        gone = [c for c in p.array("channels") if isinstance(c, str) and c in conn.subscriptions]
        conn.subscriptions.difference_update(gone)
        return gone

    def _unsubscribe_all(self, conn: Conn, _: Account | None, p: Params) -> Any:
        conn.subscriptions.clear()
        return self.dialect.ok

    # ------------------------------------------------------------------ session methods

    def _install_session_methods(self) -> None:
        self.method("public/auth", self._auth)
        self.method("public/test", lambda c, a, p: {"version": "1.2.26"})
        self.method("public/get_time", lambda c, a, p: self.exchange.now_ms())
        self.method("public/subscribe", self._subscribe(False), ws_only=True)
        self.method("private/subscribe", self._subscribe(True), private=True, ws_only=True)
        self.method("public/unsubscribe", self._unsubscribe, ws_only=True)
        self.method("private/unsubscribe", self._unsubscribe, private=True, ws_only=True)
        self.method("public/unsubscribe_all", self._unsubscribe_all, ws_only=True)
        self.method("private/unsubscribe_all", self._unsubscribe_all, private=True, ws_only=True)
        self.method("public/set_heartbeat", self._set_heartbeat, ws_only=True)
        self.method("public/disable_heartbeat", self._disable_heartbeat, ws_only=True)
        self.method("private/enable_cancel_on_disconnect", self._cod(True), private=True, ws_only=True)
        self.method("private/disable_cancel_on_disconnect", self._cod(False), private=True, ws_only=True)
        self.method("private/get_cancel_on_disconnect", self._get_cod, private=True, ws_only=True)
        self.method("private/logout", self._logout, private=True, ws_only=True)

    def _set_heartbeat(self, conn: Conn, _: Account | None, p: Params) -> Any:
        interval = p.integer("interval", required=True)
        assert interval is not None
        if interval < MIN_HEARTBEAT_S:
            raise invalid_params("interval", f"must be at least {MIN_HEARTBEAT_S}")
        conn.heartbeat_s = interval
        if conn.heartbeat_task is not None:
            conn.heartbeat_task.cancel()
        conn.heartbeat_task = asyncio.get_running_loop().create_task(self._heartbeats(conn))
        return self.dialect.ok

    def _disable_heartbeat(self, conn: Conn, _: Account | None, p: Params) -> Any:
        conn.heartbeat_s = 0
        if conn.heartbeat_task is not None:
            conn.heartbeat_task.cancel()
            conn.heartbeat_task = None
        return self.dialect.ok

    async def _heartbeats(self, conn: Conn) -> None:
        while conn.heartbeat_s:
            await asyncio.sleep(conn.heartbeat_s)
            if conn.test_pending:  # the last test_request went unanswered: the connection is lost
                log.info("jsonrpc: heartbeat test_request unanswered, closing connection %s", conn.conn_id)
                if conn.ws is not None:
                    await conn.ws.close(message=b"heartbeat timeout")
                return
            conn.test_pending = True
            if conn.writer is not None:
                conn.writer.send(dumps({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}))

    def _cod(self, enable: bool) -> Handler:
        def handler(conn: Conn, account: Account | None, p: Params) -> Any:
            assert account is not None
            scope = p.text("scope", "connection")
            if scope not in ("connection", "account"):
                raise invalid_params("scope", "must be connection or account")
            if scope == "account":
                if enable:
                    self.cod_accounts.add(account.account_id)
                else:
                    self.cod_accounts.discard(account.account_id)
            conn.cancel_on_disconnect = enable
            return self.dialect.ok

        return handler

    def _get_cod(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        scope = p.text("scope", "connection")
        enabled = account.account_id in self.cod_accounts if scope == "account" else conn.cancel_on_disconnect
        return enabled if self.dialect.cod_state_as_bool else {"scope": scope, "enabled": enabled}

    def _logout(self, conn: Conn, account: Account | None, p: Params) -> Any:
        conn.graceful = True
        if p.flag("invalidate_token", True):
            for key in [k for k, t in self.tokens.items() if t.conn_id == conn.conn_id]:
                del self.tokens[key]
        return self.dialect.ok
