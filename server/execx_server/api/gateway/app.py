"""The REST + websocket shim: an aiohttp application that calls our own gRPC servicers in-process.

Every request is a call on the ``InProcessServer`` (``api/inprocess.py``) that the gRPC server's servicers
and interceptors are registered through: the same interceptor chain (tracing, API key, scope, session
ownership, per-key rate limit, audit) and the same servicer method as a gRPC call, with the caller's auth
headers as the call's metadata and ``rest:<address>`` as its peer, but no serialisation and no socket in
between. Auth, validation, metrics and errors stay in one place, the gRPC servicer path.

- Unary RPCs: the annotated verb and path; the JSON body (``body``) and the path variables and
  query parameters form the request; the response (or its ``response_body`` field) is the JSON
  answer. Errors are ``google.rpc.Status`` JSON with grpc-gateway's HTTP status.
- Server-streaming RPCs: a websocket (``GET`` upgrade) on the same path. When the rule has a
  body the client's first frame is the request (JSON); otherwise the request is taken from the
  query string and the stream starts at once. Each streamed message is one JSON text frame.
- Bidirectional RPCs: a websocket where each client frame is a request and each server frame a
  response.
- A stream that ends normally closes the websocket with 1000; an error sends the Status JSON as a
  last text frame and closes with 4000 + its HTTP status (4400, 4401, 4404, 4429, ...). A client
  that does not read for ``send_timeout`` seconds is disconnected (4429): nothing is buffered
  beyond the socket's buffers (a server stream waits for each send; a bidirectional stream's requests
  queue up to ``request_queue`` messages, then the client's socket is not read).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from aiohttp import WSMsgType, web
from google.protobuf.message import Message

from ...observability import tracing
from ..inprocess import CallError, InProcessServer
from .jsonmap import JsonCodec, JsonMappingError, descriptor_of, set_path_value
from .openapi import openapi_document
from .routes import Route, load_routes
from .status import (
    WS_CLOSE_GOING_AWAY,
    WS_CLOSE_OK,
    code_from_http,
    http_status,
    rich_status,
    status_json,
    ws_close_code,
)

log = logging.getLogger("execx.gateway")

FORWARDED_HEADERS = ("x-api-key", "authorization", "x-request-id", "traceparent", "tracestate")

Metadata = tuple[tuple[str, str | bytes], ...]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Tunables of the shim (defaults suit a strategy on the same host)."""

    max_body_bytes: int = 4 * 1024 * 1024  # gRPC's default message limit
    first_message_timeout: float = 30.0  # a streaming websocket must send its request within this
    send_timeout: float = 5.0  # a websocket that does not read for this long is disconnected
    heartbeat: float | None = 20.0  # websocket ping interval
    forwarded_headers: tuple[str, ...] = FORWARDED_HEADERS
    request_queue: int = 256  # a bidirectional websocket's requests read ahead of the servicer


class GatewayError(Exception):
    """An error the gateway answers itself (before or instead of calling the server)."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        http: int | None = None,
        headers: dict[str, str] | None = None,
        field: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field  # the JSON path at fault, when one is
        self.http = http if http is not None else http_status(code)
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return status_json(self.code, self.message)


class _SlowConsumer(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes | str) -> Any:
    """Strict JSON (no NaN / Infinity literals); GatewayError 400 if malformed."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise GatewayError(grpc.StatusCode.INVALID_ARGUMENT, "malformed JSON") from None


def _frame_error(e: GatewayError) -> dict[str, Any]:
    """A client frame that did not convert, as an answered error's data (``answered_frame_errors``)."""
    return {"command": "", "code": e.code.value[0], "status": e.code.name, "message": e.message, "field": e.field}


def dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=dump_json(body), status=status, content_type="application/json", headers=headers)


class Gateway:
    """The shim's state: the route table, the codec, the servicers it calls and the open websockets."""

    def __init__(
        self, server: InProcessServer, routes: Sequence[Route], codec: JsonCodec, config: GatewayConfig
    ) -> None:
        self.server = server
        self.routes = list(routes)
        self.codec = codec
        self.config = config
        self._websockets: set[web.WebSocketResponse] = set()
        # server-stream messages as JSON text, by route and wire bytes: the session's N websocket subscribers
        # get the same update, converted once (the proto -> JSON conversion is Python work per message)
        self._stream_texts: dict[tuple[str, bytes], str] = {}
        # ... and by the message object itself: the servicers hand every subscriber of an update the same
        # message (servicers.py), so after the first websocket the others find it without serialising it
        self._stream_objects: dict[int, tuple[Message, Route, str]] = {}
        self._openapi: str | None = None

    # ------------------------------------------------------------------ lifecycle

    async def lifespan(self, app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: the OpenAPI document is made on start-up."""
        if self._openapi is None:
            # Reads the descriptor set with the comments: off the loop, before serving starts.
            self._openapi = await asyncio.to_thread(self._openapi_text)
        yield

    async def on_shutdown(self, app: web.Application) -> None:
        """Closes every open websocket (1001 going away)."""
        for ws in list(self._websockets):
            await ws.close(code=WS_CLOSE_GOING_AWAY, message=b"server shutting down")

    # ------------------------------------------------------------------ request / response helpers

    def metadata(self, request: web.Request) -> Metadata:
        """The caller's auth (and tracing) headers as gRPC metadata; invalid values are dropped."""
        md: list[tuple[str, str]] = []
        for name in self.config.forwarded_headers:
            for value in request.headers.getall(name, ()):
                if value and all(0x20 <= ord(c) <= 0x7E for c in value):
                    md.append((name, value))
        return tracing.inject_metadata(tuple(md))

    @staticmethod
    def peer(request: web.Request) -> str:
        """The call's peer as the audit log writes it: ``rest:`` and the caller's address."""
        return f"rest:{request.remote or ''}"

    def _apply_params(self, route: Route, request: web.Request, msg: Message) -> None:
        if route.body != "*" and request.query:
            params = {k: request.query.getall(k) for k in dict.fromkeys(request.query.keys())}
            self.codec.from_query(params, msg)
        for var in route.variables:
            set_path_value(self.codec, msg, var.field_path, request.match_info[var.route_name])

    def _from_body(self, route: Route, data: Any, msg: Message) -> None:
        if route.body == "*":
            self.codec.from_json(data, msg)
        elif route.body:
            fi = self.codec.field_info(descriptor_of(msg), (route.body,))
            self.codec.from_json({fi.json_name: data}, msg)

    async def request_message(self, route: Route, request: web.Request) -> Message:
        """The request message of a unary call: body, query parameters and path variables."""
        msg = route.request_class()
        if route.body:
            raw = await request.read()
            data = parse_json(raw) if raw.strip() else {}
            self._from_body(route, data, msg)
        self._apply_params(route, request, msg)
        return msg

    def response_json(self, route: Route, msg: Message) -> Any:
        if route.response_body and not _unset_message_field(msg, route.response_body):
            return self.codec.field_to_json(msg, route.response_body)
        return self.codec.to_json(msg)

    def rpc_error_body(self, err: CallError) -> tuple[int, dict[str, Any]]:
        code = err.code
        details: list[Any] = []
        rich = rich_status(err.trailing_metadata)
        if rich is not None:
            details = [self.codec.to_json(d) for d in rich.details]
        message = err.details or code.name
        return http_status(code), status_json(code, message, details)

    # ------------------------------------------------------------------ unary

    def unary_handler(self, route: Route) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                msg = await self.request_message(route, request)
            except JsonMappingError as e:
                raise GatewayError(grpc.StatusCode.INVALID_ARGUMENT, str(e)) from None
            try:
                resp = await self.server.unary(route.grpc_path, msg, self.metadata(request), self.peer(request))
            except CallError as e:
                status, body = self.rpc_error_body(e)
                return json_response(body, status=status, headers=retry_after(e.trailing_metadata))
            return json_response(self.response_json(route, resp))

        return handle

    # ------------------------------------------------------------------ websockets

    def websocket_handler(self, route: Route) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            ws = web.WebSocketResponse(
                heartbeat=self.config.heartbeat,
                max_msg_size=self.config.max_body_bytes,
                # close() waits at most this long for the client's close frame.
                timeout=self.config.send_timeout,
            )
            if not ws.can_prepare(request).ok:
                raise GatewayError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"{route.template} is a websocket: connect with a GET upgrade",
                    http=426,
                )
            await ws.prepare(request)
            self._websockets.add(ws)
            aborted = False
            try:
                if route.client_streaming:
                    await self._serve_bidi(route, request, ws)
                else:
                    await self._serve_server_stream(route, request, ws)
            except _SlowConsumer:
                # The socket's buffers are full: a close frame could not get through either.
                log.info("gateway.ws_slow_consumer", extra={"route": route.template})
                self._abort(request)
                aborted = True
            except GatewayError as e:
                await self._fail(ws, e.code, e.body())
            except ConnectionError:
                pass  # the client went away; nothing left to tell it
            except Exception:
                log.exception("gateway.internal_error", extra={"path": request.path})
                internal = grpc.StatusCode.INTERNAL
                await self._fail(ws, internal, status_json(internal, "internal error"))
            finally:
                self._websockets.discard(ws)
                if not ws.closed and not aborted:
                    await ws.close()
            return ws

        return handle

    @staticmethod
    def _abort(request: web.Request) -> None:
        transport = request.transport
        if transport is not None:
            transport.abort()

    async def _send(self, ws: web.WebSocketResponse, body: Any) -> None:
        await self._send_text(ws, dump_json(body))

    async def _send_text(self, ws: web.WebSocketResponse, text: str, transport: Any = None) -> None:
        """Sends one text frame; a client that does not take it within ``send_timeout`` is a _SlowConsumer.
        With the connection's ``transport``: when its buffer is (nearly) empty the frame is written without
        arming a timer, as it cannot wait for the client (aiohttp waits only once the buffer is over its
        high-water mark, and it is resumed below the low one)."""
        if transport is not None:
            buffered = transport.get_write_buffer_size()
            low, high = transport.get_write_buffer_limits()
            if buffered <= low and buffered + 4 * len(text) + 16 < high:
                await ws.send_str(text)
                return
        try:
            async with asyncio.timeout(self.config.send_timeout):
                await ws.send_str(text)
        except TimeoutError:
            raise _SlowConsumer from None

    def _stream_text(self, route: Route, msg: Message) -> str:
        """A server-stream message's JSON text, converted once for every websocket that streams it: found by
        the message object (one update's message is shared by its subscribers), else by its bytes (the same
        bytes give the same text); the last 1024 of each kept."""
        found = self._stream_objects.get(id(msg))
        if found is not None and found[0] is msg and found[1] is route:
            return found[2]
        key = (route.template, msg.SerializeToString(deterministic=True))
        text = self._stream_texts.get(key)
        if text is None:
            text = self._stream_texts[key] = dump_json(self.response_json(route, msg))
            if len(self._stream_texts) > 1024:
                del self._stream_texts[next(iter(self._stream_texts))]
        self._stream_objects[id(msg)] = (msg, route, text)  # holds msg: its id is not reused meanwhile
        if len(self._stream_objects) > 1024:
            del self._stream_objects[next(iter(self._stream_objects))]
        return text

    async def _fail(self, ws: web.WebSocketResponse, code: grpc.StatusCode, body: dict[str, Any]) -> None:
        """Sends the Status JSON and closes with 4000 + its HTTP status."""
        if ws.closed:
            return
        try:
            await self._send(ws, body)
        except ConnectionError:
            return
        reason = str(body.get("message", "")).encode("ascii", "replace")[:120]
        await ws.close(code=ws_close_code(code), message=reason)

    async def _first_request(self, route: Route, request: web.Request, ws: web.WebSocketResponse) -> Message | None:
        """The request of a server-streaming websocket (None if the client went away first)."""
        msg = route.request_class()
        try:
            if route.body:
                try:
                    async with asyncio.timeout(self.config.first_message_timeout):
                        frame = await ws.receive()
                except TimeoutError:
                    raise GatewayError(
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"no request message within {self.config.first_message_timeout:g}s",
                    ) from None
                if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    return None
                self._from_body(route, self._frame_json(frame), msg)
            self._apply_params(route, request, msg)
        except JsonMappingError as e:
            raise GatewayError(grpc.StatusCode.INVALID_ARGUMENT, str(e)) from None
        return msg

    @staticmethod
    def _frame_json(frame: Any) -> Any:
        if frame.type == WSMsgType.TEXT:
            return parse_json(frame.data)
        if frame.type == WSMsgType.BINARY:
            return parse_json(frame.data)
        raise GatewayError(grpc.StatusCode.INVALID_ARGUMENT, "expected a JSON text frame")

    async def _serve_server_stream(self, route: Route, request: web.Request, ws: web.WebSocketResponse) -> None:
        try:
            msg = await self._first_request(route, request, ws)
        except GatewayError as e:
            await self._fail(ws, e.code, e.body())
            return
        if msg is None:
            return

        transport = request.transport

        async def send(resp: Message) -> None:
            await self._send_text(ws, self._stream_text(route, resp), transport)

        async def pump() -> None:
            try:
                await self.server.server_stream(route.grpc_path, msg, self.metadata(request), self.peer(request), send)
            except ConnectionError:  # the client went away mid-send: nothing left to tell it
                return

        async def drain() -> None:
            async for frame in ws:  # ends when the client closes; answers pings meanwhile
                if frame.type == WSMsgType.ERROR:
                    return

        try:
            first = await _first_completed(pump(), drain())  # the client going away cancels the call
        except CallError as e:
            _, body = self.rpc_error_body(e)
            await self._fail(ws, e.code, body)
            return
        if first == 0 and not ws.closed:  # the stream ended normally
            await ws.close(code=WS_CLOSE_OK)

    async def _serve_bidi(self, route: Route, request: web.Request, ws: web.WebSocketResponse) -> None:
        requests: asyncio.Queue[Any] = asyncio.Queue(self.config.request_queue)

        async def upstream() -> None:
            await self._bidi_upstream(route, request, ws, requests)

        async def send(resp: Message) -> None:
            await self._send(ws, self.response_json(route, resp))

        async def downstream() -> None:
            try:
                await self.server.stream_stream(
                    route.grpc_path, requests, self.metadata(request), self.peer(request), send
                )
            except ConnectionError:  # the client went away mid-send
                return

        try:
            first = await _first_completed(downstream(), upstream())  # the client going away cancels the call
        except GatewayError as e:
            await self._fail(ws, e.code, e.body())
            return
        except CallError as e:
            _, body = self.rpc_error_body(e)
            await self._fail(ws, e.code, body)
            return
        if first == 0 and not ws.closed:  # the call ended OK
            await ws.close(code=WS_CLOSE_OK)

    async def _bidi_upstream(
        self, route: Route, request: web.Request, ws: web.WebSocketResponse, requests: asyncio.Queue[Any]
    ) -> None:
        """Client frames to the stream; the query string, if any, first (/v1/sor/ws?id=...). A frame that
        does not fit ends the socket, or is answered on it (``answered_frame_errors`` routes)."""
        answered = self.codec.shapes.answered_frame_errors.get(route.grpc_path)
        if request.query:
            await requests.put(self._bidi_request(route, lambda msg: self._query_into(request, msg)))
        async for frame in ws:
            if frame.type == WSMsgType.ERROR:
                return
            try:
                data = self._frame_json(frame)
                msg = self._bidi_request(route, lambda msg: self._from_body(route, data, msg))  # noqa: B023
            except GatewayError as e:
                if answered is None:
                    raise
                await self._send(ws, {**answered, "Data": _frame_error(e)})
                continue
            await requests.put(msg)

    def _query_into(self, request: web.Request, msg: Message) -> None:
        self.codec.from_query({k: request.query.getall(k) for k in request.query}, msg)

    @staticmethod
    def _bidi_request(route: Route, fill: Callable[[Message], None]) -> Message:
        """A bidirectional stream's request, filled by ``fill``; GatewayError naming the field if it does not fit."""
        msg = route.request_class()
        try:
            fill(msg)
        except JsonMappingError as e:
            raise GatewayError(grpc.StatusCode.INVALID_ARGUMENT, str(e), field=e.field) from None
        return msg

    def not_a_websocket_verb(self, route: Route) -> Handler:
        """The annotated verb of a streaming route (e.g. POST /subscribeUpdates): 405, pointing at GET."""

        async def handle(request: web.Request) -> web.StreamResponse:
            raise GatewayError(
                grpc.StatusCode.UNIMPLEMENTED,
                f"{route.template} is a websocket: connect with a GET upgrade",
                http=405,
                headers={"Allow": "GET"},
            )

        return handle

    # ------------------------------------------------------------------ misc routes

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return json_response({"status": "SERVING"})

    def _openapi_text(self) -> str:
        return dump_json(openapi_document(self.routes, self.codec))

    async def openapi(self, request: web.Request) -> web.StreamResponse:
        if self._openapi is None:
            raise GatewayError(grpc.StatusCode.UNAVAILABLE, "gateway is not running")
        return web.Response(text=self._openapi, content_type="application/json")


async def _first_completed(*coros: Awaitable[None]) -> int:
    """Runs the coroutines as tasks owned here; when one finishes, cancels and awaits the others.

    Returns the index of the first one to finish, or raises its exception.
    """
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    first = next(i for i, t in enumerate(tasks) if t in done)
    exc = tasks[first].exception()
    if exc is not None:
        raise exc
    return first


@web.middleware
async def status_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error the gateway answers itself becomes a ``google.rpc.Status`` JSON body."""
    try:
        return await handler(request)
    except GatewayError as e:
        return json_response(e.body(), status=e.http, headers=e.headers)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = code_from_http(e.status)
        headers = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
        return json_response(status_json(code, e.reason), status=e.status, headers=headers)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        log.exception("gateway.internal_error", extra={"path": request.path})
        return json_response(status_json(grpc.StatusCode.INTERNAL, "internal error"), status=500)


def retry_after(trailing_metadata: Metadata) -> dict[str, str] | None:
    """A rate-limited call's ``retry-after`` trailing metadata (seconds) as the HTTP ``Retry-After`` header
    (whole seconds, rounded up)."""
    for k, v in trailing_metadata:
        if k == "retry-after" and isinstance(v, str):
            try:
                return {"Retry-After": str(max(1, math.ceil(float(v))))}
            except ValueError:
                return None
    return None


GATEWAY_KEY = web.AppKey("execx_gateway", Gateway)


def build_gateway(
    server: InProcessServer,
    *,
    routes: Sequence[Route] | None = None,
    codec: JsonCodec | None = None,
    config: GatewayConfig | None = None,
) -> web.Application:
    """The REST + websocket application calling the servicers registered through ``server`` in-process.

    Routes are read from the ``google.api.http`` annotations of every generated execx.v1 service
    (``routes`` overrides, for tests). Open websockets are closed (1001) on shutdown.
    """
    cfg = config or GatewayConfig()
    gateway = Gateway(server, routes if routes is not None else load_routes(), codec or JsonCodec(), cfg)
    app = web.Application(middlewares=[*tracing.http_middlewares(), status_errors], client_max_size=cfg.max_body_bytes)
    app[GATEWAY_KEY] = gateway
    app.cleanup_ctx.append(gateway.lifespan)
    app.on_shutdown.append(gateway.on_shutdown)
    app.router.add_get("/healthz", gateway.healthz)
    app.router.add_get("/openapi.json", gateway.openapi)
    for route in gateway.routes:
        if route.is_websocket:
            app.router.add_get(route.aiohttp_path, gateway.websocket_handler(route), allow_head=False)
            if route.http_method != "GET":
                app.router.add_route(route.http_method, route.aiohttp_path, gateway.not_a_websocket_verb(route))
        else:
            app.router.add_route(route.http_method, route.aiohttp_path, gateway.unary_handler(route))
    return app


def _unset_message_field(msg: Message, name: str) -> bool:
    """``response_body`` names a message field this response leaves unset (SubscribeUpdates' algorithm
    events carry ``algorithmEvent`` instead of ``transaction``): the whole response is written."""
    field = msg.DESCRIPTOR.fields_by_name.get(name)
    return field is not None and field.message_type is not None and not field.is_repeated and not msg.HasField(name)
