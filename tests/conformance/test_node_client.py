"""The Node.js example client (``clients/node/example.js``: @grpc/grpc-js + @grpc/proto-loader, a gRPC
stack nobody here wrote) against the running service: it opens a session with the simulator's demo
account, subscribes to the updates from sequence 1, sends a limit buy below the market, cancels it,
prints one JSON line per update and a final ``{"done": true, ...}`` line.

The service runs as its own process (``execx --sim``, ports chosen by the OS, read from the ready
line). ``.ci/run`` installs the client's packages with ``npm ci --prefix clients/node`` from the
committed lock file; under CI a missing ``node`` or ``node_modules`` fails these tests instead of
skipping them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from execx_proc import ROOT, execx_sim, in_ci

CLIENT = ROOT / "clients" / "node"
KEY = "node-conformance-key"
TIMEOUT_S = 12.0
UNAUTHENTICATED = 16
# venue of the ready line, how the example is told the exchange, symbol, tick, qty
VENUES = {
    "binance-spot": ("binance-spot", "BTCUSDT", 0.01, 0.001),
    "binance-usdm-future": ("EXCHANGE_BINANCE_USDM_FUTURE", "BTCUSDT", 0.1, 0.002),
    "binance-coinm-future": ("binance-coinm-future", "BTCUSD_PERP", 0.1, 1.0),
}


def _node() -> str:
    node = shutil.which("node")
    missing = [str(CLIENT / "node_modules" / p) for p in ("@grpc/grpc-js", "@grpc/proto-loader", "protobufjs")]
    missing = [p for p in missing if not Path(p, "package.json").is_file()]
    if node and not missing:
        return node
    problems = ([] if node else ["node is not on PATH"]) + [f"{p} is missing" for p in missing]
    message = f"{'; '.join(problems)}: .ci/run installs the packages with `npm ci --prefix clients/node`"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``execx --key K --sim`` on ephemeral ports; yields its ready line."""
    with execx_sim(KEY, tmp_path_factory.mktemp("execx-node-data")) as ready:
        yield ready


def _mid(service: dict[str, Any], venue: str, symbol: str) -> float:
    with urllib.request.urlopen(f"{service['sim']['admin']}/admin/state", timeout=TIMEOUT_S) as r:
        return float(json.load(r)["markets"][venue][symbol]["mid"])


def _example(service: dict[str, Any], *args: str, key: str = KEY) -> subprocess.CompletedProcess[str]:
    demo = service["sim"]["accounts"][0]
    argv = [_node(), "example.js", "--target", service["grpc"], "--key", key]
    argv += ["--apiKey", demo["apiKey"], "--secretKey", demo["secretKey"], "--timeoutMs", "8000", *args]
    return subprocess.run(argv, cwd=CLIENT, capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("venue", list(VENUES))
def test_session_order_cancel_and_update_stream(service: dict[str, Any], venue: str) -> None:
    exchange, symbol, tick, qty = VENUES[venue]
    price = round(
        round(_mid(service, venue, symbol) * 0.98 / tick) * tick, 2
    )  # a resting limit buy, inside the price band
    run = _example(service, "--exchange", exchange, "--symbol", symbol, "--price", str(price), "--qty", str(qty))
    assert run.returncode == 0, f"rc={run.returncode}\n{run.stdout}\n{run.stderr}"
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    *updates, done = lines

    assert done["done"] is True and done["exchange"] == venue
    assert done["sessionId"].startswith("node-") and done["clOrderId"]
    assert done["ackStatus"] == "new" and done["cancelStatus"] in {"pendingcancel", "cancelled"}
    statuses = [u["status"] for u in updates]
    assert statuses == done["seen"]
    assert statuses[:2] == ["pendingnew", "new"] and statuses[-1] == "cancelled", statuses
    assert set(statuses) <= {"pendingnew", "new", "pendingcancel", "cancelled"}, statuses
    assert all(u["clOrderId"] == done["clOrderId"] for u in updates)
    assert [u["seq"] for u in updates] == list(range(1, len(updates) + 1))  # from seq 1, no gap, no duplicate
    assert len({u["exchOrderId"] for u in updates[1:]}) == 1 and updates[1]["exchOrderId"]
    assert all(u["price"] == pytest.approx(price) and u["qty"] == pytest.approx(qty) for u in updates)
    assert updates[-1]["remainingQty"] == 0


def test_wrong_key_is_unauthenticated(service: dict[str, Any]) -> None:
    run = _example(service, key="not-the-key")
    assert run.returncode == 1, run.stdout
    assert run.stdout == ""
    error = json.loads(run.stderr.strip().splitlines()[-1])
    assert error["code"] == UNAUTHENTICATED and "key" in error["error"]
