"""OpenTelemetry tracing, configured only by the standard ``OTEL_*`` environment variables.

- ``OTEL_TRACES_EXPORTER``: ``none`` (the default: tracing off, nothing is installed on the request path),
  ``console`` (spans as JSON on stdout) or ``otlp`` (the optional extra ``execx[otlp]``; its endpoint from
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, protocol from
  ``OTEL_EXPORTER_OTLP_PROTOCOL``: ``grpc``, the default, or ``http/protobuf``).
- ``OTEL_SERVICE_NAME`` (default ``execx``), ``OTEL_RESOURCE_ATTRIBUTES``.
- ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` (the SDK's default: parentbased_always_on).

Spans: one SERVER span per gRPC call (``grpc_interceptors``), one SERVER span per REST / websocket request
of the gateway (``http_middlewares``) whose context goes on to the gRPC call as ``traceparent`` metadata
(``inject_metadata``), so a REST call is one trace with its gRPC span; one CLIENT span per venue request
(``venue_request``, fed by the connectors' telemetry hook: REST, websocket order entry, FIX, JSON-RPC), a
child of the call that caused it. An incoming W3C ``traceparent`` (gRPC metadata or HTTP header) continues
the caller's trace. Attributes: ``execx.exchange``, ``execx.symbol``, ``execx.clOrderId``,
``execx.sessionId`` (read from the request message by name, nothing else of it) and the venue endpoint:
never a key, a secret or a header.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import inspect
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

EXPORTERS = ("none", "console", "otlp")
ATTR_EXCHANGE = "execx.exchange"
ATTR_SYMBOL = "execx.symbol"
ATTR_CL_ORDER_ID = "execx.clOrderId"
ATTR_SESSION_ID = "execx.sessionId"
# request message fields copied onto the spans (and nothing else of the request)
_REQUEST_FIELDS = (("session_id", ATTR_SESSION_ID), ("cl_order_id", ATTR_CL_ORDER_ID), ("symbol", ATTR_SYMBOL))

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None
# the order attributes of the call being served, copied onto the venue spans it causes
_call_attrs: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "execx_trace_attrs", default=None
)


class TracingConfigError(ValueError):
    """``OTEL_*`` settings execx cannot honour (unknown exporter, the OTLP extra missing)."""


def enabled() -> bool:
    return _tracer is not None


def _otlp_exporter(environ: Mapping[str, str]) -> SpanExporter:
    protocol = environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    ).strip()
    modules = {
        "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    }
    if protocol not in modules:
        raise TracingConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: execx speaks grpc or http/protobuf")
    try:
        module = importlib.import_module(modules[protocol])
    except ImportError:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER=otlp ({protocol}) needs the optional extra: pip install 'execx[otlp]'"
        ) from None
    exporter: SpanExporter = module.OTLPSpanExporter()  # endpoint, headers, timeout: the OTEL_EXPORTER_OTLP_* variables
    return exporter


def configure(environ: Mapping[str, str] | None = None, exporter: SpanExporter | None = None) -> bool:
    """Set tracing up from ``environ`` (default ``os.environ``); True when it is on. ``exporter`` (tests,
    benchmarks) replaces the one ``OTEL_TRACES_EXPORTER`` names and is flushed span by span. Raises
    ``TracingConfigError`` for settings it cannot honour."""
    global _provider, _tracer
    env = os.environ if environ is None else environ
    shutdown()
    if exporter is None:
        names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "none").split(",") if n.strip()]
        unknown = [n for n in names if n not in EXPORTERS]
        if unknown:
            raise TracingConfigError(f"OTEL_TRACES_EXPORTER={unknown[0]!r}: execx knows {', '.join(EXPORTERS)}")
        exporters: list[SpanExporter] = []
        for name in dict.fromkeys(n for n in names if n != "none"):
            exporters.append(ConsoleSpanExporter() if name == "console" else _otlp_exporter(env))
        if not exporters:
            return False
        processors: list[Any] = [BatchSpanProcessor(e) for e in exporters]
    else:
        processors = [SimpleSpanProcessor(exporter)]
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or "execx"})
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER(_ARG), read by the SDK
    for p in processors:
        provider.add_span_processor(p)
    _provider = provider
    _tracer = provider.get_tracer("execx")
    return True


def shutdown() -> None:
    """Flush and stop the exporters (the service's last step); tracing is off afterwards."""
    global _provider, _tracer
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


def _request_attrs(request: Any) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for field, attr in _REQUEST_FIELDS:
        value = getattr(request, field, None)
        if isinstance(value, str) and value:
            attrs[attr] = value
    return attrs


def _parent(pairs: Sequence[tuple[str, str | bytes]]) -> otel_context.Context:
    carrier = {k: (v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in pairs if k in _TRACE_HEADERS}
    return _propagator.extract(carrier)


_TRACE_HEADERS = ("traceparent", "tracestate")


# ---------------------------------------------------------------------------------------------- gRPC


def _code_of(context: Any, exc: BaseException | None) -> grpc.StatusCode:
    code = context.code() if hasattr(context, "code") else None
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # some grpc versions give the int value
        return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    return grpc.StatusCode.OK if exc is None else grpc.StatusCode.UNKNOWN


class _RpcSpan:
    """The SERVER span of one gRPC call, current while the handler runs."""

    def __init__(self, tracer: trace.Tracer, method: str, metadata: Sequence[tuple[str, str | bytes]]) -> None:
        service, _, name = method.lstrip("/").rpartition("/")
        self.span = tracer.start_span(
            method.lstrip("/"),
            context=_parent(metadata),
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )
        self._tokens: list[object] = []

    def enter(self, request: Any) -> None:
        attrs = _request_attrs(request) if request is not None else {}
        if attrs:
            self.span.set_attributes(attrs)
        self._tokens = [otel_context.attach(trace.set_span_in_context(self.span)), _call_attrs.set(attrs)]

    def exit(self, context: Any, exc: BaseException | None) -> None:
        token, attrs_token = self._tokens
        _call_attrs.reset(attrs_token)  # type: ignore[arg-type]
        otel_context.detach(token)  # type: ignore[arg-type]
        code = _code_of(context, exc)
        self.span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code not in (grpc.StatusCode.OK, grpc.StatusCode.CANCELLED):
            self.span.set_status(Status(StatusCode.ERROR, code.name))
        self.span.end()


def _wrap(
    tracer: trace.Tracer, method: str, metadata: Sequence[tuple[str, str | bytes]], fn: Any, streaming_in: bool
) -> Any:
    if inspect.isasyncgenfunction(fn):

        async def gen(request: Any, context: Any) -> AsyncIterator[Any]:
            rpc = _RpcSpan(tracer, method, metadata)
            rpc.enter(None if streaming_in else request)
            exc: BaseException | None = None
            try:
                async for item in fn(request, context):
                    yield item
            except BaseException as e:
                exc = e
                raise
            finally:
                rpc.exit(context, exc)

        return gen

    @functools.wraps(fn)
    async def call(request: Any, context: Any) -> Any:
        rpc = _RpcSpan(tracer, method, metadata)
        rpc.enter(None if streaming_in else request)
        exc: BaseException | None = None
        try:
            return await fn(request, context)
        except BaseException as e:
            exc = e
            raise
        finally:
            rpc.exit(context, exc)

    return call


class TracingInterceptor(grpc.aio.ServerInterceptor):
    """A SERVER span around every call but health and reflection; continues an incoming ``traceparent``."""

    SKIPPED = ("/grpc.health.v1.Health/", "/grpc.reflection.")

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(self.SKIPPED):
            return handler
        md = tuple(details.invocation_metadata or ())
        t = self._tracer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap(t, method, md, handler.unary_unary, False),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap(t, method, md, handler.unary_stream, False),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _wrap(t, method, md, handler.stream_unary, True),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            _wrap(t, method, md, handler.stream_stream, True),
            handler.request_deserializer,
            handler.response_serializer,
        )


def grpc_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """The interceptors to put first on the gRPC server: none while tracing is off."""
    return [] if _tracer is None else [TracingInterceptor(_tracer)]


# ---------------------------------------------------------------------------------------------- gateway

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def http_middlewares() -> list[Any]:
    """The gateway's outermost middleware: a SERVER span per REST / websocket request (none while off)."""
    tracer = _tracer
    if tracer is None:
        return []

    @web.middleware
    async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.resource
        path = route.canonical if route is not None else request.path
        with tracer.start_as_current_span(
            f"{request.method} {path}",
            context=_parent(list(request.headers.items())),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "url.path": request.path, "http.route": path},
        ) as span:
            response = await handler(request)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response

    return [traced]


def inject_metadata(md: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The gateway's gRPC metadata with the current span's ``traceparent`` in place of the caller's (the
    gateway span is the caller's child already); unchanged while tracing is off."""
    if _tracer is None:
        return md
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    if not carrier:
        return md
    return (*((k, v) for k, v in md if k not in _TRACE_HEADERS), *carrier.items())


# ---------------------------------------------------------------------------------------------- venues


def order_attrs(request: Any) -> None:
    """One request of a stream (``OrderEntry``): its session id, clOrderId and symbol go on the venue spans
    it causes. Call it in the request's own task (the attributes stay in that task's context)."""
    if _tracer is not None:
        _call_attrs.set(_request_attrs(request))


def venue_request(exchange: str, endpoint: str, outcome: str, seconds: float) -> None:
    """One venue request that took ``seconds`` and just ended, as a CLIENT span under the current call
    (``endpoint``: ``"POST /api/v3/order"``, ``"WS order.create"``, ``"FIX new"``; never an id or a key)."""
    tracer = _tracer
    if tracer is None:
        return
    end = time.time_ns()
    transport = endpoint.split(" ", 1)[0]
    attrs: dict[str, str] = {
        ATTR_EXCHANGE: exchange,
        "execx.venue.endpoint": endpoint,
        "execx.venue.transport": transport if transport in ("WS", "FIX") else "REST",
        "execx.venue.outcome": outcome,
        **(_call_attrs.get() or {}),
    }
    parent = trace.get_current_span()
    if parent.is_recording():
        parent.set_attribute(ATTR_EXCHANGE, exchange)
    span = tracer.start_span(endpoint, kind=SpanKind.CLIENT, attributes=attrs, start_time=end - int(seconds * 1e9))
    if outcome != "ok":
        span.set_status(Status(StatusCode.ERROR, outcome))
    span.end(end_time=end)
