"""``buf curl`` (nobody here wrote it) against the running service, with the schema taken from the
service's own gRPC server reflection: list the services, open a session on binance-spot with the
simulator's demo account, send an order, read the server stream of its updates, and be refused
without the key.

The service runs as its own process (``execx --sim``, ports chosen by the OS, read from the ready
line). buf is installed from npm (``@bufbuild/buf``) by ``.ci/run``, which exports ``EXECX_BUF``;
under CI a missing buf fails these tests instead of skipping them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from execx_proc import execx_sim, in_ci, read_until, stop

KEY = "buf-curl-conformance-key"
OM = "execx.v1.OrderManagerService"
UNAUTHENTICATED = 16
TIMEOUT_S = 10.0


def _buf() -> str:
    candidates = [os.environ.get("EXECX_BUF", ""), "/tmp/buf/node_modules/.bin/buf", shutil.which("buf") or ""]
    for buf in candidates:
        if buf and Path(buf).is_file() and os.access(buf, os.X_OK):
            return _native(Path(buf))
    message = f"buf not found (EXECX_BUF={candidates[0]!r}); .ci/run installs it from npm (@bufbuild/buf)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def _native(buf: Path) -> str:
    """npm's ``buf`` is a Node shim that spawns the platform binary of ``@bufbuild/buf-<os>-<arch>``;
    run that binary itself, so a signal or a timeout reaches the process that holds the connection."""
    with buf.open("rb") as f:
        first_line = f.read(128).split(b"\n", 1)[0]
    if not (first_line.startswith(b"#!") and b"node" in first_line):
        return str(buf)
    scope = buf.resolve().parents[2]  # node_modules/@bufbuild/buf/bin/buf -> node_modules/@bufbuild
    for native in sorted(scope.glob("buf-*/bin/buf")):
        if os.access(native, os.X_OK):
            return str(native)
    return str(buf)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``execx --key K --sim`` on ephemeral ports; yields its ready line."""
    with execx_sim(KEY, tmp_path_factory.mktemp("execx-buf-data")) as ready:
        yield ready


def _curl_argv(service: dict[str, Any], *args: str, key: str | None = KEY) -> list[str]:
    auth = ["-H", f"x-api-key: {key}"] if key is not None else []
    return [
        _buf(),
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--reflect",
        "--connect-timeout",
        "5",
        *auth,
        *args,
    ]


def _curl(service: dict[str, Any], *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _curl_argv(service, *args, key=key), capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL
    )


def _url(service: dict[str, Any], method: str = "") -> str:
    return f"http://{service['grpc']}/{method}"


def _call(service: dict[str, Any], method: str, body: dict[str, Any]) -> dict[str, Any]:
    run = _curl(service, "-d", json.dumps(body), _url(service, f"{OM}/{method}"))
    assert run.returncode == 0, f"{method}: rc={run.returncode} {run.stdout} {run.stderr}"
    reply: dict[str, Any] = json.loads(run.stdout)
    return reply


def _json_documents(text: str) -> list[dict[str, Any]]:
    """buf curl prints one (pretty-printed) JSON document per stream message."""
    decoder, i = json.JSONDecoder(), 0
    docs: list[dict[str, Any]] = []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return docs
        try:
            doc, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return docs  # a document still being written
        docs.append(doc)


def _mid(service: dict[str, Any], venue: str, symbol: str) -> float:
    with urllib.request.urlopen(f"{service['sim']['admin']}/admin/state", timeout=TIMEOUT_S) as r:
        return float(json.load(r)["markets"][venue][symbol]["mid"])


def test_lists_services_and_methods_by_reflection(service: dict[str, Any]) -> None:
    services = _curl(service, "--list-services", _url(service))
    assert services.returncode == 0, services.stderr
    listed = set(services.stdout.split())
    assert {
        OM,
        "execx.v1.PositionManagerService",
        "execx.v1.TriggerManagerService",
        "execx.v1.DipBuyerService",
        "execx.v1.GridTraderService",
        "execx.v1.SmartOrderService",
        "grpc.health.v1.Health",
    } <= listed
    methods = _curl(service, "--list-methods", _url(service))
    assert methods.returncode == 0, methods.stderr
    assert {
        f"{OM}/{m}"
        for m in (
            "StartOrderHandler",
            "StopOrderHandler",
            "SendOrder",
            "RefreshOrders",
            "GetPosition",
            "SubscribeUpdates",
            "SubscribePositions",
            "SetLogLevel",
        )
    } <= set(methods.stdout.split())


def test_session_order_and_update_stream(service: dict[str, Any]) -> None:
    demo = service["sim"]["accounts"][0]
    session = f"buf-{time.time_ns()}"
    started = _call(
        service,
        "StartOrderHandler",
        {
            "sessionId": session,
            "exchangeKey": {
                "apiKey": demo["apiKey"],
                "secretKey": demo["secretKey"],
                "exchange": "EXCHANGE_BINANCE_SPOT",
            },
        },
    )
    assert started.get("sessionId") == session

    price = round(_mid(service, "binance-spot", "BTCUSDT") * 0.98, 2)  # rests below the market, inside the band
    ack = _call(
        service,
        "SendOrder",
        {
            "sessionId": session,
            "clOrderId": "buf1",
            "symbol": "BTCUSDT",
            "price": price,
            "qty": 0.001,
            "orderType": "ORDER_TYPE_LIMIT",
            "transactionType": "TRANSACTION_TYPE_INSERT",
            "tif": "TIME_IN_FORCE_GTC",
            "side": "SIDE_BUY",
        },
    )["order"]
    assert ack["clOrderId"] == "buf1" and ack["orderStatus"] == "ORDER_STATUS_NEW" and ack["exchOrderId"]
    assert ack["price"] == pytest.approx(price) and ack["side"] == "SIDE_BUY"

    # The server stream, from sequence 1: the order's history is replayed, so sending first is no race.
    stream = subprocess.Popen(
        _curl_argv(
            service, "-d", json.dumps({"sessionId": session, "fromSeq": 1}), _url(service, f"{OM}/SubscribeUpdates")
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: nothing of it outlives the test
    )
    try:

        def statuses(out: bytes) -> list[str]:
            return [
                d["transaction"]["orderStatus"]
                for d in _json_documents(out.decode())
                if d.get("transaction", {}).get("clOrderId") == "buf1"
            ]

        out = read_until(stream, lambda o: "ORDER_STATUS_NEW" in statuses(o), TIMEOUT_S)
        assert stream.poll() is None, f"buf curl ended early (rc={stream.returncode}): {out!r}"
    finally:
        stop(stream, group=True)
        assert stream.stderr is not None
        stream.stderr.close()
    updates = [d["transaction"] for d in _json_documents(out.decode())]
    assert [u["orderStatus"] for u in updates[:2]] == ["ORDER_STATUS_PENDING_NEW", "ORDER_STATUS_NEW"], updates
    assert all(u["sessionId"] == session and u["clOrderId"] == "buf1" for u in updates)
    assert [int(u["seq"]) for u in updates] == list(range(1, len(updates) + 1))  # uint64 in JSON: a string
    assert updates[1]["exchOrderId"] == ack["exchOrderId"]
    assert updates[1]["price"] == pytest.approx(price) and updates[1]["remainingQty"] == pytest.approx(0.001)


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_without_the_key_is_unauthenticated(service: dict[str, Any], key: str | None) -> None:
    run = _curl(
        service,
        "-d",
        json.dumps({"sessionId": f"buf-noauth-{time.time_ns()}"}),
        _url(service, f"{OM}/StartOrderHandler"),
        key=key,
    )
    assert run.returncode == UNAUTHENTICATED << 3, (run.returncode, run.stdout, run.stderr)  # buf: code << 3
    error = json.loads(run.stdout + run.stderr)
    assert error["code"] == "unauthenticated"
    assert KEY not in run.stdout + run.stderr


def test_health_is_open(service: dict[str, Any]) -> None:
    run = _curl(service, "-d", json.dumps({"service": OM}), _url(service, "grpc.health.v1.Health/Check"), key=None)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"status": "SERVING"}
