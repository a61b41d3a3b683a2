"""OpenTelemetry tracing of the real service (``execx --sim`` in this process, an in-memory exporter): a REST
call is one trace (gateway span → gRPC span → venue span), an incoming W3C ``traceparent`` continues the
caller's trace over REST and over gRPC metadata, venue spans carry exchange / symbol / clOrderId / sessionId
for REST and websocket order entry and FIX, and no span holds a key or a secret. ``configure`` reads only
the ``OTEL_*`` variables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_server.app import Service, Settings
from execx_server.observability import tracing
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

KEY = "tracing-test-service-key"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    assert tracing.configure({}, exporter=spans)
    try:
        yield spans
    finally:
        tracing.shutdown()


@contextlib.asynccontextmanager
async def execx(data: Path, **settings: Any) -> AsyncIterator[Service]:
    service = Service(Settings(key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=data, sim=True, **settings))
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


def hexid(n: int, width: int) -> str:
    return format(n, f"0{width}x")


def by_kind(spans: list[ReadableSpan], kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in spans if s.kind is kind]


async def wait_spans(exporter: InMemorySpanExporter, pred: Any, within_s: float = 5.0) -> list[ReadableSpan]:
    for _ in range(int(within_s / 0.02)):
        spans = list(exporter.get_finished_spans())
        if pred(spans):
            return spans
        await asyncio.sleep(0.02)
    raise AssertionError([(s.name, s.kind, dict(s.attributes or {})) for s in exporter.get_finished_spans()])


def no_secret(spans: list[ReadableSpan], *secrets: str) -> None:
    for s in spans:
        text = json.dumps({"name": s.name, "attrs": dict(s.attributes or {}), "events": [e.name for e in s.events]})
        for secret in secrets:
            assert secret not in text, (s.name, secret)


async def test_rest_call_is_one_trace_continuing_the_callers(tmp_path: Path, exporter: InMemorySpanExporter) -> None:
    async with execx(tmp_path) as service, aiohttp.ClientSession() as http:
        rest = service.ready["rest"]
        acct = service.ready["sim"]["accounts"][0]
        start = {
            "exchangeKey": {"exchange": "binance-spot", "apiKey": acct["apiKey"], "secretKey": acct["secretKey"]},
            "sessionId": "trace-rest",
        }
        async with http.post(f"{rest}/startOrderHandler", json=start, headers={"x-api-key": KEY}) as r:
            assert r.status == 200, await r.text()
        exporter.clear()
        order = {
            "clOrderId": "trace-cl-1",
            "symbol": "BTCUSDT",
            "sessionId": "trace-rest",
            "price": 90000,
            "qty": 0.01,
            "orderType": "postonly",
            "transactionType": "insert",
            "tif": "gtc",
            "side": "buy",
        }
        headers = {"x-api-key": KEY, "traceparent": TRACEPARENT}
        async with http.post(f"{rest}/sendOrder", json=order, headers=headers) as r:
            assert r.status == 200, await r.text()
            answer = await r.json()
            assert answer["order"]["orderStatus"] == "new", answer
        spans = await wait_spans(exporter, lambda ss: len(by_kind(ss, SpanKind.SERVER)) >= 2)

    (gateway,) = [s for s in by_kind(spans, SpanKind.SERVER) if s.name == "POST /sendOrder"]
    (rpc,) = [s for s in by_kind(spans, SpanKind.SERVER) if s.name == "execx.v1.OrderManagerService/SendOrder"]
    venue = [s for s in by_kind(spans, SpanKind.CLIENT) if s.attributes and s.attributes.get("execx.clOrderId")]
    assert venue, [s.name for s in spans]
    for s in (gateway, rpc, *venue):
        assert s.context is not None and hexid(s.context.trace_id, 32) == TRACE_ID  # the caller's trace
    assert gateway.parent is not None and hexid(gateway.parent.span_id, 16) == CALLER_SPAN
    assert rpc.parent is not None and gateway.context is not None and rpc.parent.span_id == gateway.context.span_id
    assert rpc.context is not None
    assert all(v.parent is not None and v.parent.span_id == rpc.context.span_id for v in venue)
    attrs = dict(venue[0].attributes or {})
    assert attrs["execx.exchange"] == "binance-spot"
    assert attrs["execx.symbol"] == "BTCUSDT"
    assert attrs["execx.clOrderId"] == "trace-cl-1"
    assert attrs["execx.sessionId"] == "trace-rest"
    # default order entry: Binance's WebSocket API
    assert attrs["execx.venue.transport"] == "WS" and venue[0].name == "WS order.place"
    assert dict(rpc.attributes or {})["execx.exchange"] == "binance-spot"
    assert dict(gateway.attributes or {})["http.response.status_code"] == 200
    no_secret(spans, KEY, acct["secretKey"], acct["apiKey"])


@pytest.mark.parametrize(
    ("exchange", "session", "symbol", "price", "qty", "transport", "settings"),
    [
        (c.EXCHANGE_BINANCE_SPOT, "trace-rest-entry", "BTCUSDT", 90000.0, 0.01, "REST", {"order_entry": "rest"}),
        (c.EXCHANGE_DERIBIT, "trace-fix", "BTC-PERPETUAL", 93000.0, 10.0, "FIX", {}),
    ],
)
async def test_grpc_metadata_traceparent_and_venue_span_per_transport(
    tmp_path: Path,
    exporter: InMemorySpanExporter,
    exchange: int,
    session: str,
    symbol: str,
    price: float,
    qty: float,
    transport: str,
    settings: dict[str, Any],
) -> None:
    async with execx(tmp_path, **settings) as service:
        acct = service.ready["sim"]["accounts"][0]
        async with grpc.aio.insecure_channel(service.ready["grpc"]) as ch:
            stub = om_grpc.OrderManagerServiceStub(ch)
            md = (("x-api-key", KEY),)
            await stub.StartOrderHandler(
                om.StartOrderHandlerRequest(
                    exchange_key=c.ExchangeKey(
                        exchange=exchange,
                        api_key=acct["apiKey"],
                        secret_key=acct["secretKey"],  # type: ignore[arg-type]
                    ),
                    session_id=session,
                ),
                metadata=md,
                timeout=20,
            )
            exporter.clear()
            answer = await stub.SendOrder(
                om.SendOrderRequest(
                    cl_order_id="tracecl2",
                    symbol=symbol,
                    session_id=session,
                    price=price,
                    qty=qty,
                    order_type=c.ORDER_TYPE_POSTONLY,
                    transaction_type=c.TRANSACTION_TYPE_INSERT,
                    tif=c.TIME_IN_FORCE_GTC,
                    side=c.SIDE_BUY,
                ),
                metadata=(*md, ("traceparent", TRACEPARENT)),
                timeout=10,
            )
            # the venue's answer either way (a moving simulated market may refuse the post-only price)
            assert answer.order.order_status in (c.ORDER_STATUS_NEW, c.ORDER_STATUS_REJECTED), answer
            assert answer.order.order_status == c.ORDER_STATUS_NEW or "too" in answer.order.message, answer
            spans = await wait_spans(exporter, lambda ss: any(s.name.endswith("/SendOrder") for s in ss))
    (rpc,) = [s for s in spans if s.name == "execx.v1.OrderManagerService/SendOrder"]
    assert rpc.context is not None and hexid(rpc.context.trace_id, 32) == TRACE_ID
    assert rpc.parent is not None and hexid(rpc.parent.span_id, 16) == CALLER_SPAN and rpc.parent.is_remote
    venue = [s for s in by_kind(spans, SpanKind.CLIENT) if s.parent and s.parent.span_id == rpc.context.span_id]
    assert venue, [(s.name, s.parent) for s in spans]
    attrs = dict(venue[0].attributes or {})
    assert attrs["execx.venue.transport"] == transport, venue[0].name
    assert attrs["execx.clOrderId"] == "tracecl2" and attrs["execx.symbol"] == symbol
    assert attrs["execx.sessionId"] == session
    no_secret(spans, KEY, acct["secretKey"], acct["apiKey"])


async def test_order_entry_stream_venue_spans_carry_each_orders_attributes(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    async with execx(tmp_path) as service, grpc.aio.insecure_channel(service.ready["grpc"]) as ch:
        acct = service.ready["sim"]["accounts"][0]
        stub = om_grpc.OrderManagerServiceStub(ch)
        md = (("x-api-key", KEY),)
        key = c.ExchangeKey(api_key=acct["apiKey"], secret_key=acct["secretKey"])
        key.exchange = c.EXCHANGE_BINANCE_SPOT
        await stub.StartOrderHandler(om.StartOrderHandlerRequest(exchange_key=key, session_id="trace-oe"), metadata=md)
        exporter.clear()
        call = stub.OrderEntry(metadata=(*md, ("traceparent", TRACEPARENT)))
        for i in range(2):
            order = om.SendOrderRequest(
                cl_order_id=f"oe{i}",
                symbol="BTCUSDT",
                session_id="trace-oe",
                price=90000.0,
                qty=0.01,
                order_type=c.ORDER_TYPE_POSTONLY,
                transaction_type=c.TRANSACTION_TYPE_INSERT,
                tif=c.TIME_IN_FORCE_GTC,
                side=c.SIDE_BUY,
            )
            await call.write(om.OrderEntryRequest(request_id=i + 1, order=order))
            answer = await asyncio.wait_for(call.read(), 10)
            assert answer.status.code == 0, answer
        await call.done_writing()
        assert await call.read() is grpc.aio.EOF
        spans = await wait_spans(exporter, lambda ss: any(s.name.endswith("/OrderEntry") for s in ss))
    (rpc,) = [s for s in spans if s.name.endswith("/OrderEntry")]
    assert rpc.context is not None and hexid(rpc.context.trace_id, 32) == TRACE_ID
    venue = [s for s in by_kind(spans, SpanKind.CLIENT) if s.parent and s.parent.span_id == rpc.context.span_id]
    assert sorted(dict(s.attributes or {}).get("execx.clOrderId", "") for s in venue) == ["oe0", "oe1"]
    assert all(dict(s.attributes or {})["execx.sessionId"] == "trace-oe" for s in venue)


async def test_unauthenticated_call_is_traced_as_an_error(tmp_path: Path, exporter: InMemorySpanExporter) -> None:
    async with execx(tmp_path) as service, grpc.aio.insecure_channel(service.ready["grpc"]) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await om_grpc.OrderManagerServiceStub(ch).ListSessions(om.ListSessionsRequest(), timeout=5)
        assert e.value.code() is grpc.StatusCode.UNAUTHENTICATED
        spans = await wait_spans(exporter, lambda ss: any(s.name.endswith("/ListSessions") for s in ss))
    (rpc,) = [s for s in spans if s.name.endswith("/ListSessions")]
    assert dict(rpc.attributes or {})["rpc.grpc.status_code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert rpc.parent is None  # no traceparent: a trace of its own


def test_configure_reads_only_the_otel_variables() -> None:
    assert not tracing.configure({})  # default: none
    assert not tracing.configure({"OTEL_TRACES_EXPORTER": "none"})
    assert tracing.grpc_interceptors() == [] and tracing.http_middlewares() == []
    with pytest.raises(tracing.TracingConfigError, match="zipkin"):
        tracing.configure({"OTEL_TRACES_EXPORTER": "zipkin"})
    try:
        assert tracing.configure({"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "sidecar-a"})
        assert tracing.enabled() and len(tracing.grpc_interceptors()) == 1
    finally:
        tracing.shutdown()
    assert not tracing.enabled()


def test_console_exporter_from_the_environment_in_the_cli(tmp_path: Path) -> None:
    """``execx`` with OTEL_TRACES_EXPORTER=console prints its spans (JSON) on stdout after the ready line."""
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "execx-under-test",
        "OTEL_TRACES_SAMPLER": "always_on",
    }
    code = (
        "import sys\n"
        "from execx_server import cli\n"
        "cli.main(['--key', 'k', '--port', '0', '--grpcPort', '0', '--promPort', '0', '--dataDir', sys.argv[1]])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        with grpc.insecure_channel(ready["grpc"]) as ch:
            om_grpc.OrderManagerServiceStub(ch).ListSessions(
                om.ListSessionsRequest(), metadata=(("x-api-key", "k"),), timeout=5
            )
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert '"name": "execx.v1.OrderManagerService/ListSessions"' in out
    assert '"service.name": "execx-under-test"' in out
