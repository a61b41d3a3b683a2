"""``promtool check metrics`` (Prometheus' own linter, nobody here wrote it) over the service's
``/metrics`` after real traffic: orders sent, filled, cancelled and rejected through gRPC against the
embedded simulator, so the counters, gauges and histograms all carry samples when promtool reads them.

The service runs as its own process (``execx --sim``, ports chosen by the OS, read from the ready
line). promtool comes from Debian's ``prometheus`` package, installed by ``.ci/run``; under CI a
missing promtool fails these tests instead of skipping them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_proc import execx_sim, in_ci
from prometheus_client.parser import text_string_to_metric_families

KEY = "promtool-conformance-key"
AUTH = (("x-api-key", KEY),)
TIMEOUT_S = 10.0
SYMBOL, QTY = "BTCUSDT", 0.001


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool:
        return promtool
    message = "promtool not on PATH; .ci/run installs it (Debian package `prometheus`)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def _check(exposition: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), "check", "metrics"], input=exposition, capture_output=True, text=True, timeout=TIMEOUT_S
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``execx --key K --sim`` on ephemeral ports; yields its ready line."""
    with execx_sim(KEY, tmp_path_factory.mktemp("execx-promtool-data")) as ready:
        yield ready


def _http(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
        text = r.read().decode()
        return json.loads(text) if r.headers.get_content_type() == "application/json" else text


def _insert(stub: Any, session: str, cl_order_id: str, price: float, **kw: Any) -> om.SendOrderResponse:
    request = om.SendOrderRequest(
        session_id=session,
        cl_order_id=cl_order_id,
        symbol=SYMBOL,
        price=price,
        qty=QTY,
        order_type=kw.get("order_type", c.ORDER_TYPE_LIMIT),
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_GTC,
        side=kw.get("side", c.SIDE_BUY),
    )
    response: om.SendOrderResponse = stub.SendOrder(request, metadata=AUTH, timeout=TIMEOUT_S)
    return response


@pytest.fixture(scope="module")
def traffic(service: dict[str, Any]) -> dict[str, float]:
    """Orders of every outcome on binance-spot: resting then cancelled, filled by a trade, refused by the
    venue (post-only that would cross), refused before sending (invalid argument). Returns the filled order's price."""
    admin, demo = service["sim"]["admin"], service["sim"]["accounts"][0]
    mid = float(_http(f"{admin}/admin/state")["markets"]["binance-spot"][SYMBOL]["mid"])
    with grpc.insecure_channel(service["grpc"]) as channel:
        stub = om_grpc.OrderManagerServiceStub(channel)  # type: ignore[no-untyped-call]
        session = f"prom-{time.time_ns()}"
        key = c.ExchangeKey(api_key=demo["apiKey"], secret_key=demo["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT)
        stub.StartOrderHandler(
            om.StartOrderHandlerRequest(session_id=session, exchange_key=key), metadata=AUTH, timeout=TIMEOUT_S
        )
        updates = stub.SubscribeUpdates(
            om.SubscribeUpdatesRequest(session_id=session, from_seq=1), metadata=AUTH, timeout=TIMEOUT_S
        )

        resting = round(mid * 0.98, 2)
        assert _insert(stub, session, "p1", resting).order.order_status == c.ORDER_STATUS_NEW
        stub.SendOrder(
            om.SendOrderRequest(
                session_id=session, cl_order_id="p1", symbol=SYMBOL, transaction_type=c.TRANSACTION_TYPE_DELETE
            ),
            metadata=AUTH,
            timeout=TIMEOUT_S,
        )
        filled = round(mid * 0.99, 2)
        assert _insert(stub, session, "p2", filled).order.order_status == c.ORDER_STATUS_NEW
        _http(
            f"{admin}/admin/market/trade",
            {"market": "binance-spot", "symbol": SYMBOL, "price": str(filled), "qty": str(QTY), "aggressor": "sell"},
        )
        # a post-only buy above the market would take liquidity: the venue refuses it
        venue_reject = _insert(stub, session, "p3", round(mid * 1.01, 2), order_type=c.ORDER_TYPE_POSTONLY)
        assert venue_reject.order.order_status == c.ORDER_STATUS_REJECTED and venue_reject.order.message
        with pytest.raises(grpc.RpcError) as refused:
            _insert(stub, session, "p4", resting, side=c.SIDE_UNSPECIFIED)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        # Wait (deadline, not sleep) until the fill and the rejection have reached the stream.
        final: dict[str, int] = {}
        for msg in updates:
            final[msg.transaction.cl_order_id] = msg.transaction.order_status
            if (
                final.get("p1") == c.ORDER_STATUS_CANCELLED
                and final.get("p2") == c.ORDER_STATUS_FILLED
                and final.get("p3") == c.ORDER_STATUS_REJECTED
            ):
                break
        updates.cancel()
        assert final == {"p1": c.ORDER_STATUS_CANCELLED, "p2": c.ORDER_STATUS_FILLED, "p3": c.ORDER_STATUS_REJECTED}
    return {"filled": filled}


@pytest.fixture(scope="module")
def exposition(service: dict[str, Any], traffic: dict[str, float]) -> str:
    text: str = _http(service["metrics"])
    return text


def test_promtool_accepts_the_metrics(exposition: str) -> None:
    run = _check(exposition)
    assert run.returncode == 0 and not (run.stdout + run.stderr).strip(), run.stdout + run.stderr


def test_promtool_lint_is_live() -> None:
    """The same check refuses a badly named counter: the test above could fail."""
    run = _check("# HELP om_orders Orders.\n# TYPE om_orders counter\nom_orders 1\n")
    assert run.returncode != 0 and "_total" in run.stdout + run.stderr


def test_metrics_carry_samples_under_namespace_om(exposition: str) -> None:
    families = {f.name: f for f in text_string_to_metric_families(exposition)}
    assert families and all(name.startswith("om_") for name in families), sorted(families)

    def value(family: str, sample: str, **labels: str) -> float:
        return sum(
            s.value
            for s in families[family].samples
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
        )

    spot = {"exchange": "binance-spot"}
    assert value("om_orders_sent", "om_orders_sent_total", **spot, transaction_type="insert") >= 3
    assert value("om_orders_sent", "om_orders_sent_total", **spot, transaction_type="delete") >= 1
    for status in ("pendingnew", "new", "cancelled", "filled", "rejected"):
        assert value("om_order_updates", "om_order_updates_total", **spot, status=status) >= 1, status
    assert value("om_order_rejects", "om_order_rejects_total") >= 1
    assert value("om_order_ack_latency_seconds", "om_order_ack_latency_seconds_count", **spot) >= 3
    assert value("om_order_ack_latency_seconds", "om_order_ack_latency_seconds_bucket", **spot, le="+Inf") >= 3
    assert value("om_venue_request_latency_seconds", "om_venue_request_latency_seconds_count", **spot) >= 3
    assert value("om_active_sessions", "om_active_sessions", **spot) >= 1
    assert value("om_stream_subscribers", "om_stream_subscribers") >= 0
    assert {"om_websocket_reconnects", "om_rate_limit_headroom_ratio", "om_invalid_transitions"} <= set(families)
