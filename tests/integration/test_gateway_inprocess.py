"""The REST gateway calls the servicers in-process (``api/inprocess.py``), through the gRPC server's own
interceptors: with the gRPC server stopped, REST and websocket calls still run, still need a key with the
right scope, are still rate limited per key, audited (peer ``rest:<address>``) and mapped to the same
errors. A gRPC caller cannot pass itself off as a REST one in the audit log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
import waiting
from aiohttp import WSMsgType
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_server.app import Service, Settings
from execx_server.engine.journal import AuditQuery

READER, TRADER, LIMITED = "key-reader-0123456789", "key-trader-0123456789", "key-limited-0123456789"


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Service]:
    keys = [
        {"id": "reader", "key": READER, "scopes": ["read"]},
        {"id": "trader", "key": TRADER, "scopes": ["trade"]},
        # two requests, then none for 200 s: the third is refused however slow the machine
        {"id": "limited", "key": LIMITED, "scopes": ["trade"], "ratePerSecond": 0.01, "burst": 2},
    ]
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    settings = Settings(key="", keys_file=tmp_path / "keys.json", port=0, grpc_port=0, prom_port=0, data_dir=tmp_path)
    service = Service(settings)
    await service.start()
    yield service
    await service.stop()


def order(cl: str) -> dict[str, Any]:
    return {
        "clOrderId": cl,
        "symbol": "BTCUSDT",
        "sessionId": "ghost",
        "price": 100,
        "qty": 1,
        "orderType": "limit",
        "transactionType": "insert",
        "side": "buy",
    }


def audit(svc: Service) -> dict[str, dict[str, Any]]:
    """The journal's audit records by clOrderId (or method name when there is none)."""
    assert svc.engine is not None
    svc.engine.journal.flush_audit()
    out = {}
    for e in svc.engine.journal.audit_records(AuditQuery()):
        r = {"key": e.key_id, "peer": e.peer, "method": e.method, "session": ",".join(e.sessions)}
        r |= {"clOrderId": ",".join(e.cl_order_ids), "outcome": e.outcome}
        out[r["clOrderId"] or e.method.rpartition("/")[2]] = r
    return out


async def test_rest_runs_in_process_through_the_same_access_checks(svc: Service) -> None:
    # a gRPC caller naming a REST peer in its metadata (the old gateway's header) is audited as itself
    async with grpc.aio.insecure_channel(svc.ready["grpc"]) as channel:
        stub = om_grpc.OrderManagerServiceStub(channel)
        request = om.SendOrderRequest(
            cl_order_id="via-grpc",
            symbol="BTCUSDT",
            session_id="ghost",
            price=100,
            qty=1,
            order_type=c.ORDER_TYPE_LIMIT,
            transaction_type=c.TRANSACTION_TYPE_INSERT,
            side=c.SIDE_BUY,
        )
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.SendOrder(request, metadata=(("x-api-key", TRADER), ("x-execx-peer", "10.9.8.7")))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # gRPC's abort sends the status before the interceptor's audit (its finally) has run: wait for the record
    record = await waiting.eventually(lambda: audit(svc).get("via-grpc"), "the gRPC call's audit record")
    assert record["peer"].startswith("ipv")

    grpc_server = svc._grpc
    assert grpc_server is not None
    await grpc_server.stop(None)  # nothing can reach the servicers over gRPC any more

    rest = svc.ready["rest"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def post(path: str, body: Any, key: str | None) -> tuple[int, Any, Any]:
            headers = {"x-api-key": key} if key is not None else {}
            async with http.post(rest + path, json=body, headers=headers) as r:
                return r.status, await r.json(), r.headers

        status, body, _ = await post("/listSessions", {}, READER)
        assert (status, body) == (200, {"sessions": []})
        status, body, _ = await post("/sendOrder", order("no-key"), None)
        assert status == 401 and body["code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
        status, body, _ = await post("/sendOrder", order("reader-order"), READER)
        assert status == 403 and "needs trade" in body["message"]
        status, body, _ = await post("/sendOrder", order("ghost-1"), TRADER)
        assert status == 404 and "ghost" in body["message"]  # the servicer's own error mapping
        status, body, _ = await post("/sendOrder", {**order("bad-qty"), "qty": "lots"}, TRADER)
        assert status == 400 and "'qty'" in body["message"]  # refused before any call: not audited
        for i in range(2):
            status, _, _ = await post("/sendOrder", order(f"limited-{i}"), LIMITED)
            assert status == 404
        status, body, headers = await post("/sendOrder", order("limited-2"), LIMITED)
        assert status == 429 and int(headers["Retry-After"]) >= 1
        # websockets too: a stream of an unknown session, and order entry refused per request by scope
        async with http.ws_connect(rest + "/subscribeUpdates", headers={"x-api-key": READER}) as ws:
            await ws.send_json({"sessionId": "ghost"})
            frame = await ws.receive(timeout=10)
            closing = await ws.receive(timeout=10)
        assert frame.type == WSMsgType.TEXT and json.loads(frame.data)["code"] == grpc.StatusCode.NOT_FOUND.value[0]
        assert closing.type == WSMsgType.CLOSE and closing.data == 4404
        async with http.ws_connect(rest + "/orderEntry", headers={"x-api-key": TRADER}) as ws:
            await ws.send_json({"requestId": 7, "order": order("ws-ghost")})
            frame = await ws.receive(timeout=10)
        answer = json.loads(frame.data)
        assert answer["requestId"] == 7 and answer["status"]["code"] == grpc.StatusCode.NOT_FOUND.value[0]

    records = audit(svc)
    assert records["no-key"] | {"key": "", "outcome": "UNAUTHENTICATED"} == records["no-key"]
    assert records["reader-order"] | {"key": "reader", "outcome": "PERMISSION_DENIED"} == records["reader-order"]
    assert records["ghost-1"] | {"key": "trader", "outcome": "NOT_FOUND"} == records["ghost-1"]
    assert "bad-qty" not in records
    assert records["limited-2"] | {"key": "limited", "outcome": "RESOURCE_EXHAUSTED"} == records["limited-2"]
    assert records["ws-ghost"] | {"key": "trader", "outcome": "NOT_FOUND"} == records["ws-ghost"]
    for cl in ("no-key", "reader-order", "ghost-1", "limited-2", "ws-ghost"):
        assert records[cl]["peer"] == "rest:127.0.0.1", records[cl]
    assert "ListSessions" not in records  # a read: not audited
