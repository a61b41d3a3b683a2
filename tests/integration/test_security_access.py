"""Scoped API keys end to end over gRPC and REST: the scope matrix for every RPC and every REST route
(parametrised from the service descriptors and the gateway's route table), session ownership, the per-key
rate limit, keys-file rotation while a stream stays up, and the audit log."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import os
import pkgutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import execx.v1
import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_server.api.gateway.routes import load_routes
from execx_server.app import Service, Settings, StartupError
from google.protobuf import json_format, symbol_database
from service_helpers import resting_buy as buy

KEYS = {"read": "key-read-0123456789", "trade": "key-trade-0123456789", "admin": "key-admin-0123456789"}
OTHER_TRADER = "key-trade2-0123456789"
LIMITED = "key-limited-0123456789"
RANK = {"none": -1, "read": 0, "trade": 1, "admin": 2}
# the policy, written out (not computed by the server's code): what each RPC needs
ADMIN_RPCS = {"SetLogLevel", "SetRiskLimits", "EngageKillSwitch", "ReleaseKillSwitch", "ListAuditRecords"}


def expected_scope(name: str) -> str:
    if name in ADMIN_RPCS:
        return "admin"
    if name.startswith(("Get", "List", "Subscribe")) or name == "RefreshOrders":
        return "read"
    return "trade"


def rpcs() -> list[tuple[str, Any]]:
    """(``/package.Service/Method``, method descriptor) of every service of every execx.v1 module."""
    out = []
    for info in pkgutil.iter_modules(execx.v1.__path__):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"execx.v1.{info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            for m in service.methods:
                out.append((f"/{service.full_name}/{m.name}", m))
    return sorted(out, key=lambda x: x[0])


RPCS = rpcs()


def keys_file(path: Path, extra: list[dict[str, Any]] | None = None) -> Path:
    entries = [
        {"id": "reader", "key": KEYS["read"], "scopes": ["read"]},
        {"id": "trader", "sha256": hashlib.sha256(KEYS["trade"].encode()).hexdigest(), "scopes": ["read", "trade"]},
        {"id": "trader2", "key": OTHER_TRADER, "scopes": ["trade"]},
        {"id": "boss", "key": KEYS["admin"], "scopes": ["admin"]},
        {"id": "limited", "key": LIMITED, "scopes": ["trade"], "ratePerSecond": 0.5, "burst": 3},
        *(extra or []),
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": entries}))
    tmp.replace(path)
    return path


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    tmp = tmp_path_factory.mktemp("access")
    service = Service(
        Settings(
            key="",
            port=0,
            grpc_port=0,
            prom_port=0,
            data_dir=tmp / "data",
            sim=True,
            sim_quiet=True,
            keys_file=keys_file(tmp / "keys.json"),
            watch_interval_s=0.1,
        )
    )
    await service.start()
    yield service
    await service.stop()


@pytest.fixture(scope="module")
async def channel(svc: Service) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(svc.ready["grpc"]) as ch:
        yield ch


def md(key: str) -> tuple[tuple[str, str], ...]:
    return (("x-api-key", key),)


async def call_rpc(channel: grpc.aio.Channel, path: str, m: Any, key: str, refused: bool = False) -> grpc.StatusCode:
    """Calls ``path`` with an empty request; the status code (OK if it answered, DEADLINE_EXCEEDED if a
    stream was allowed and is waiting for data). A call expected to be ``refused`` waits up to 10 s for its
    refusal instead of 1.5 s, so a loaded machine cannot turn a slow refusal into a waiting stream."""
    stream_s = 10.0 if refused else 1.5
    req_cls = symbol_database.Default().GetSymbol(m.input_type.full_name)
    res_cls = symbol_database.Default().GetSymbol(m.output_type.full_name)
    kw: dict[str, Any] = {"request_serializer": req_cls.SerializeToString, "response_deserializer": res_cls.FromString}
    try:
        if m.client_streaming:
            call = channel.stream_stream(path, **kw)(metadata=md(key), timeout=stream_s)
            await call.write(req_cls())
            await call.read()
            call.cancel()
        elif m.server_streaming:
            call = channel.unary_stream(path, **kw)(req_cls(), metadata=md(key), timeout=stream_s)
            await call.read()
            call.cancel()
        else:
            await channel.unary_unary(path, **kw)(req_cls(), metadata=md(key), timeout=5)
    except grpc.aio.AioRpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def test_the_policy_covers_known_rpcs() -> None:
    names = {m.name: expected_scope(m.name) for _, m in RPCS}
    assert names["SendOrder"] == "trade" and names["StartOrderHandler"] == "trade" and names["OrderEntry"] == "trade"
    assert names["GetPosition"] == "read" and names["SubscribeUpdates"] == "read"
    assert names["EngageKillSwitch"] == "admin" and names["SetLogLevel"] == "admin"
    assert len(RPCS) >= 40


@pytest.mark.parametrize(("path", "m"), RPCS, ids=[p for p, _ in RPCS])
async def test_grpc_scope_matrix(channel: grpc.aio.Channel, path: str, m: Any) -> None:
    need = RANK[expected_scope(m.name)]
    assert await call_rpc(channel, path, m, "not-a-key", refused=True) == grpc.StatusCode.UNAUTHENTICATED
    for scope, key in KEYS.items():
        code = await call_rpc(channel, path, m, key, refused=RANK[scope] < need)
        if RANK[scope] < need:
            assert code == grpc.StatusCode.PERMISSION_DENIED, (scope, code)
        else:
            assert code not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED), (scope, code)


ROUTES = list(load_routes())


async def ws_status(http: aiohttp.ClientSession, url: str, key: str, send_request: bool, refused: bool) -> int:
    """A websocket route's outcome as an HTTP status: an error is a Status JSON frame and a 4000 + status
    close; anything else (an answer, or a stream waiting for data) is 200. A route expected to be
    ``refused`` waits up to 10 s for it instead of 2 s."""
    wait_s = 10.0 if refused else 2.0
    async with http.ws_connect(url, headers={"x-api-key": key}) as ws:
        if send_request:
            await ws.send_str("{}")
        try:
            msg = await ws.receive(timeout=wait_s)
            if msg.type == aiohttp.WSMsgType.TEXT and "code" in json.loads(msg.data):
                msg = await ws.receive(timeout=wait_s)
        except TimeoutError:
            return 200
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return (ws.close_code or 1000) - 4000 if (ws.close_code or 1000) >= 4000 else 200
        return 200


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.http_method} {r.template}" for r in ROUTES])
async def test_rest_scope_matrix(svc: Service, route: Any) -> None:
    need = RANK[expected_scope(route.grpc_path.rpartition("/")[2])]
    rest = svc.ready["rest"]
    path = route.aiohttp_path.replace("{", "").replace("}", "")  # a path variable's value: its name
    async with aiohttp.ClientSession() as http:
        for scope, key in [("none", "not-a-key"), *KEYS.items()]:
            if route.is_websocket:
                refused = scope == "none" or RANK[scope] < need
                status = await ws_status(http, rest + path, key, bool(route.body), refused)
            else:
                kwargs: dict[str, Any] = {"json": {}} if route.body else {}
                async with http.request(route.http_method, rest + path, headers={"x-api-key": key}, **kwargs) as r:
                    status = r.status
            if scope == "none":
                assert status == 401, (scope, status)
            elif RANK[scope] < need:
                assert status == 403, (scope, status)
            else:
                assert status not in (401, 403), (scope, status)


async def start_trigger_manager(
    tms: Any, ex: Any, session_id: str, trigger_id: str, cl_order_id: str, metadata: Any
) -> None:
    """A trigger manager on ``session_id`` with one armed trigger (far below the market) sending one buy."""
    from execx.v1 import trigger_manager_pb2 as tm

    await tms.StartTriggerManager(
        tm.StartTriggerManagerRequest(session_id=session_id, exchange=ex, symbol="BTCUSDT"), metadata=metadata
    )
    order = buy(session_id, cl_order_id)
    order.ClearField("transaction_type")
    await tms.SetTrigger(
        tm.SetTriggerRequest(
            id=trigger_id,
            price=1000.0,
            symbol="BTCUSDT",
            direction=tm.TRIGGER_DIRECTION_DOWN,
            exchange=ex,
            orders=[order],
        ),
        metadata=metadata,
    )


async def start(channel: grpc.aio.Channel, svc: Service, session_id: str, key: str) -> None:
    demo = svc.ready["sim"]["accounts"][0]
    await om_grpc.OrderManagerServiceStub(channel).StartOrderHandler(
        om.StartOrderHandlerRequest(
            session_id=session_id,
            exchange_key=c.ExchangeKey(
                api_key=demo["apiKey"], secret_key=demo["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT
            ),
        ),
        metadata=md(key),
    )


async def test_a_key_sees_only_its_own_sessions(channel: grpc.aio.Channel, svc: Service) -> None:
    stub = om_grpc.OrderManagerServiceStub(channel)
    await start(channel, svc, "own-1", KEYS["trade"])
    await stub.SendOrder(buy("own-1", "mine-1"), metadata=md(KEYS["trade"]))
    for attempt in (
        stub.SendOrder(buy("own-1", "theirs-1"), metadata=md(OTHER_TRADER)),
        stub.GetOrder(om.GetOrderRequest(session_id="own-1", cl_order_id="mine-1"), metadata=md(OTHER_TRADER)),
        stub.StopOrderHandler(om.StopOrderHandlerRequest(session_id="own-1"), metadata=md(OTHER_TRADER)),
        stub.BatchSendOrders(om.BatchSendOrdersRequest(orders=[buy("own-1", "b-1")]), metadata=md(OTHER_TRADER)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await attempt
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, e.value
    with pytest.raises(grpc.aio.AioRpcError) as e:  # nor can it take the session over by re-starting it
        await start(channel, svc, "own-1", OTHER_TRADER)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    stream = stub.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id="own-1"), metadata=md(OTHER_TRADER))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stream.read()
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    entry = stub.OrderEntry(metadata=md(OTHER_TRADER))  # order entry checks every message, answers each
    await start(channel, svc, "own-2", OTHER_TRADER)
    await entry.write(om.OrderEntryRequest(request_id=1, order=buy("own-1", "oe-1")))
    answer = await asyncio.wait_for(entry.read(), 10)
    assert answer.request_id == 1 and answer.status.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    await entry.write(om.OrderEntryRequest(request_id=2, order=buy("own-2", "oe-2")))  # its own: the stream goes on
    answer = await asyncio.wait_for(entry.read(), 10)
    assert answer.request_id == 2 and answer.status.code == 0 and answer.order.order_status == c.ORDER_STATUS_NEW
    await entry.done_writing()
    listed = lambda key: stub.ListSessions(om.ListSessionsRequest(), metadata=md(key))  # noqa: E731
    assert "own-1" in [s.session_id for s in (await listed(KEYS["trade"])).sessions]
    assert "own-1" not in [s.session_id for s in (await listed(OTHER_TRADER)).sessions]
    assert "own-1" in [s.session_id for s in (await listed(KEYS["admin"])).sessions]
    got = await stub.GetOrder(om.GetOrderRequest(session_id="own-1", cl_order_id="mine-1"), metadata=md(KEYS["admin"]))
    assert got.order.cl_order_id == "mine-1"  # admin sees every session
    # REST: the same ownership, 403
    async with aiohttp.ClientSession() as http:
        async with http.post(
            svc.ready["rest"] + "/sendOrder",
            json={
                "sessionId": "own-1",
                "clOrderId": "rest-1",
                "symbol": "BTCUSDT",
                "price": 90000,
                "qty": 0.001,
                "orderType": "limit",
                "transactionType": "insert",
                "side": "buy",
            },
            headers={"x-api-key": OTHER_TRADER},
        ) as r:
            assert r.status == 403, await r.text()


async def test_rate_limit_is_per_key_with_retry_after(channel: grpc.aio.Channel, svc: Service) -> None:
    stub = om_grpc.OrderManagerServiceStub(channel)
    codes = []
    for _ in range(6):
        try:
            await stub.ListSessions(om.ListSessionsRequest(), metadata=md(LIMITED))
            codes.append(grpc.StatusCode.OK)
        except grpc.aio.AioRpcError as e:
            codes.append(e.code())
            if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                retry = dict(e.trailing_metadata() or ())
                assert 0 < float(retry["retry-after"]) <= 2.0
    assert codes[:3] == [grpc.StatusCode.OK] * 3 and grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    await stub.ListSessions(om.ListSessionsRequest(), metadata=md(KEYS["read"]))  # another key is not limited
    async with aiohttp.ClientSession() as http:
        async with http.post(svc.ready["rest"] + "/listSessions", json={}, headers={"x-api-key": LIMITED}) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1


async def test_keys_rotate_without_restart_and_streams_stay(channel: grpc.aio.Channel, svc: Service) -> None:
    stub = om_grpc.OrderManagerServiceStub(channel)
    await start(channel, svc, "rot-keys", KEYS["trade"])
    stream = stub.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id="rot-keys"), metadata=md(KEYS["trade"]))
    assert svc.settings.keys_file is not None and svc.keys is not None
    new_key = "key-new-0123456789"
    keys_file(svc.settings.keys_file, [{"id": "newcomer", "key": new_key, "scopes": ["read"]}])
    deadline = time.monotonic() + 10
    while True:
        try:
            await stub.ListSessions(om.ListSessionsRequest(), metadata=md(new_key))
            break
        except grpc.aio.AioRpcError as e:
            assert e.code() == grpc.StatusCode.UNAUTHENTICATED and time.monotonic() < deadline
            await asyncio.sleep(0.05)
    # a keys file that does not parse is refused and the keys in use are kept
    reloads = svc.keys.reloads
    svc.settings.keys_file.write_text("{not json")
    await asyncio.sleep(0.3)
    assert svc.keys.reloads == reloads
    await stub.ListSessions(om.ListSessionsRequest(), metadata=md(new_key))
    keys_file(svc.settings.keys_file)  # the newcomer removed again
    while True:
        try:
            await stub.ListSessions(om.ListSessionsRequest(), metadata=md(new_key))
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        except grpc.aio.AioRpcError as e:
            assert e.code() == grpc.StatusCode.UNAUTHENTICATED
            break
    await stub.SendOrder(buy("rot-keys", "after-keys-rotation"), metadata=md(KEYS["trade"]))
    while True:  # the stream opened before both rotations still delivers
        msg = await asyncio.wait_for(stream.read(), 10)
        assert msg is not grpc.aio.EOF
        if msg.transaction.cl_order_id == "after-keys-rotation":
            break
    stream.cancel()


async def test_audit_log_records_mutating_calls_without_secrets(channel: grpc.aio.Channel, svc: Service) -> None:
    stub = om_grpc.OrderManagerServiceStub(channel)
    await start(channel, svc, "audited", KEYS["trade"])
    await stub.SendOrder(buy("audited", "aud-1"), metadata=md(KEYS["trade"]))
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.SendOrder(buy("audited", "aud-2"), metadata=md(OTHER_TRADER))
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.EngageKillSwitch(om.EngageKillSwitchRequest(session_id="audited"), metadata=md(KEYS["trade"]))
    async with aiohttp.ClientSession() as http:
        async with http.post(
            svc.ready["rest"] + "/sendOrder",
            json={
                "sessionId": "audited",
                "clOrderId": "aud-rest",
                "symbol": "BTCUSDT",
                "price": 90000,
                "qty": 0.001,
                "orderType": "limit",
                "transactionType": "insert",
                "side": "buy",
            },
            headers={"x-api-key": KEYS["trade"]},
        ) as r:
            assert r.status == 200, await r.text()
    with pytest.raises(grpc.aio.AioRpcError):  # a wrong key: audited under no key id, the key never written
        await stub.SendOrder(buy("audited", "aud-nokey"), metadata=md("not-a-key-" + KEYS["trade"]))
    await stub.ListSessions(om.ListSessionsRequest(), metadata=md(KEYS["trade"]))  # a read: not audited
    # the journal's audit records, through the admin RPC (its own filter: this session)
    boss = md(KEYS["admin"])
    listed = await stub.ListAuditRecords(om.ListAuditRecordsRequest(session_id="audited"), metadata=boss)
    records = list(listed.records)
    by = {(r.method.rpartition("/")[2], ",".join(r.cl_order_ids)): r for r in records}
    assert by[("StartOrderHandler", "")].outcome == "OK" and by[("StartOrderHandler", "")].key_id == "trader"
    assert by[("SendOrder", "aud-1")].outcome == "OK" and by[("SendOrder", "aud-1")].peer.startswith("ipv")
    assert (by[("SendOrder", "aud-2")].key_id, by[("SendOrder", "aud-2")].outcome) == ("trader2", "PERMISSION_DENIED")
    assert by[("EngageKillSwitch", "")].outcome == "PERMISSION_DENIED"
    assert (by[("SendOrder", "aud-nokey")].key_id, by[("SendOrder", "aud-nokey")].outcome) == ("", "UNAUTHENTICATED")
    assert by[("SendOrder", "aud-rest")].peer.startswith("rest:127.0.0.1")
    assert [r.id for r in records] == sorted(r.id for r in records) and all(r.time > 0 for r in records)
    assert all(list(r.session_ids) == ["audited"] for r in records)
    # the other filters: key, method by name or full name, outcome, unauthenticated, time, paging
    q = om.ListAuditRecordsRequest

    async def listing(**kw: Any) -> list[Any]:
        return list((await stub.ListAuditRecords(q(session_id="audited", **kw), metadata=boss)).records)

    assert {r.key_id for r in await listing(key_id="trader2")} == {"trader2"}
    assert {",".join(r.cl_order_ids) for r in await listing(method="SendOrder")} >= {"aud-1", "aud-2", "aud-rest"}
    full = "/execx.v1.OrderManagerService/EngageKillSwitch"
    assert [r.method for r in await listing(method=full)] == [full]
    assert {r.outcome for r in await listing(outcome="PERMISSION_DENIED")} == {"PERMISSION_DENIED"}
    assert [",".join(r.cl_order_ids) for r in await listing(unauthenticated=True)] == ["aud-nokey"]
    # (each ListAuditRecords naming the session is audited too: compare the records listed first only)
    ids = {r.id for r in records}
    middle = records[len(records) // 2]
    got = [r.id for r in await listing(from_time=middle.time) if r.id in ids]
    assert got == [r.id for r in records if r.time >= middle.time]
    assert [r.id for r in await listing(to_time=middle.time)] == [r.id for r in records if r.time < middle.time]
    first = await listing(limit=2)
    assert [r.id for r in first + await listing(after_id=first[-1].id) if r.id in ids] == [r.id for r in records]
    everything = (await stub.ListAuditRecords(q(), metadata=boss)).records
    assert not any(r.method.endswith("/ListSessions") for r in everything)
    for bad, named in ((q(limit=10_001), "limit"), (q(method="NoSuchCall"), "method"), (q(to_time=-1), "toTime")):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListAuditRecords(bad, metadata=boss)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and named in (err.value.details() or "")
    # REST: the same records (admin), 403 for a trader
    async with aiohttp.ClientSession() as http:
        route = svc.ready["rest"] + "/listAuditRecords"
        body = {"sessionId": "audited", "method": "SendOrder", "keyId": "trader"}
        async with http.post(route, json=body, headers={"x-api-key": KEYS["admin"]}) as r:
            assert r.status == 200, await r.text()
            got = (await r.json())["records"]
        assert {",".join(x["clOrderIds"]) for x in got} == {"aud-1", "aud-rest"}
        assert set(got[0]) >= {"id", "time", "keyId", "peer", "method", "sessionIds", "clOrderIds", "outcome"}
        async with http.post(route, json={}, headers={"x-api-key": KEYS["trade"]}) as r:
            assert r.status == 403

    # execx ctl audit: the export, one JSON record a line; a table; a bad time named
    async def ctl_audit(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "execx_server.cli", "ctl", "--target", svc.ready["grpc"], *args],
            env={**os.environ, "EXECX_KEY": KEYS["admin"]},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    rc, out, err = await ctl_audit(
        "--json", "audit", "--session", "audited", "--method", "SendOrder", "--outcome", "OK"
    )
    assert rc == 0, err
    exported = [json.loads(line) for line in out.splitlines()]
    assert [x["cl_order_ids"] for x in exported] == [["aud-1"], ["aud-rest"]]
    assert exported[0]["key_id"] == "trader" and exported[0]["time"].endswith("Z")
    rc, out, err = await ctl_audit("audit", "--session", "audited", "--from", "2000-01-01T00:00:00", "--limit", "1")
    assert rc == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "TIME", "KEY_ID", "PEER", "METHOD", "SESSION_IDS", "CL_ORDER_IDS", "OUTCOME"]
    assert len(rows) == 1 and "StartOrderHandler" in rows[0] and "audited" in rows[0]
    rc, _, err = await ctl_audit("audit", "--from", "yesterday")
    assert rc == 2 and "not an ISO 8601 time" in err, err
    # never a secret, in the audit records nor anywhere in the data directory (the journal holds them)
    demo = svc.ready["sim"]["accounts"][0]
    secrets = [*KEYS.values(), OTHER_TRADER, demo["secretKey"]]
    for f in svc.settings.data_dir.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert not any(secret.encode() in data for secret in secrets), f
    assert not (svc.settings.data_dir / "audit.jsonl").exists()  # the journal is the audit log


async def test_a_bad_keys_file_refuses_to_start(tmp_path: Path) -> None:
    bad = tmp_path / "keys.json"
    bad.write_text(json.dumps([{"id": "x", "key": "secret-value-123", "scopes": ["root"]}]))
    with pytest.raises(StartupError, match="scopes") as e:
        await Service(Settings(key="", keys_file=bad, data_dir=tmp_path, port=0, grpc_port=0, prom_port=0)).start()
    assert "secret-value-123" not in str(e.value)
    bad.write_text("[{'id': 'secret-value-123'")
    with pytest.raises(StartupError, match="does not parse") as e:
        await Service(Settings(key="", keys_file=bad, data_dir=tmp_path, port=0, grpc_port=0, prom_port=0)).start()
    assert "secret-value-123" not in str(e.value)
    yml = tmp_path / "keys.yaml"
    yml.write_text("keys:\n  - id: y\n    key: yaml-key-0123456789\n    scopes: [read]\n")
    service = Service(Settings(key="", keys_file=yml, data_dir=tmp_path / "d", port=0, grpc_port=0, prom_port=0))
    await service.start()
    try:
        async with grpc.aio.insecure_channel(service.ready["grpc"]) as ch:
            await om_grpc.OrderManagerServiceStub(ch).ListSessions(
                om.ListSessionsRequest(), metadata=md("yaml-key-0123456789")
            )
    finally:
        await service.stop()


async def test_objects_named_by_their_own_id_belong_to_their_sessions_key(
    channel: grpc.aio.Channel, svc: Service
) -> None:
    """Position managers (by exchange and symbol), triggers (by id), smart orders (by id) and the account views
    across sessions: another trade key gets PERMISSION_DENIED (403 on REST) or sees none of them; the owner and
    an admin key may use them."""
    from execx.v1 import position_manager_pb2 as pm
    from execx.v1 import position_manager_pb2_grpc as pm_grpc
    from execx.v1 import smart_order_pb2 as so
    from execx.v1 import smart_order_pb2_grpc as so_grpc
    from execx.v1 import trigger_manager_pb2 as tm
    from execx.v1 import trigger_manager_pb2_grpc as tm_grpc

    mine, theirs, boss = md(KEYS["trade"]), md(OTHER_TRADER), md(KEYS["admin"])
    ex = c.EXCHANGE_BINANCE_SPOT
    await start(channel, svc, "alg-mine", KEYS["trade"])
    await start(channel, svc, "alg-theirs", OTHER_TRADER)
    om_stub = om_grpc.OrderManagerServiceStub(channel)
    await om_stub.SendOrder(buy("alg-mine", "alg-mine-1"), metadata=mine)
    pms, tms, sos = (
        pm_grpc.PositionManagerServiceStub(channel),
        tm_grpc.TriggerManagerServiceStub(channel),
        so_grpc.SmartOrderServiceStub(channel),
    )
    await pms.StartPositionManager(
        pm.StartPositionManagerRequest(
            session_id="alg-mine",
            exchange=ex,
            symbol="ETHUSDT",
            config=pm.PositionManagerConfig(
                quote_levels=1, min_order_qty=0.01, re_entry_ticker_seconds=0.2, price_level_interval=0.001
            ),
        ),
        metadata=mine,
    )
    await start_trigger_manager(tms, ex, "alg-mine", "t-mine", "alg-trig-1", mine)
    deadline = time.monotonic() + 60
    while True:  # a smart order waits for the feed's first quote: FAILED_PRECONDITION until then
        try:
            added = await sos.AddSmartOrder(
                so.AddSmartOrderRequest(
                    algorithm=so.SMART_ORDER_ALGORITHM_TWAP,
                    exchanges=[ex],
                    session_id="alg-mine",
                    parameters=so.SmartOrderParameters(
                        side=c.SIDE_BUY,
                        symbol="BTCUSDT",
                        amount=0.002,
                        duration="120SEC",
                        interval="60SEC",
                    ),
                ),
                metadata=mine,
            )
            break
        except grpc.aio.AioRpcError as e:
            assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and time.monotonic() < deadline, e
            async with aiohttp.ClientSession() as http:  # the venue pushes a new best bid/ask
                move = {"market": "binance-spot", "symbol": "BTCUSDT", "price": "98000"}
                async with http.post(svc.ready["sim"]["admin"] + "/admin/market/move", json=move) as r:
                    assert r.status == 200, await r.text()
            await asyncio.sleep(0.1)
    sid = added.id

    async def denied(call: Any) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, e.value

    # another trade key: refused on each object, and shown none of them
    await denied(pms.GetPositionManager(pm.GetPositionManagerRequest(exchange=ex, symbol="ETHUSDT"), metadata=theirs))
    await denied(
        pms.SetTargetPosition(
            pm.SetTargetPositionRequest(exchange=ex, symbol="ETHUSDT", target_position=1), metadata=theirs
        )
    )
    await denied(pms.StopPositionManager(pm.StopPositionManagerRequest(exchange=ex, symbol="ETHUSDT"), metadata=theirs))
    listed_pm = await pms.ListPositionManagers(pm.ListPositionManagersRequest(), metadata=theirs)
    assert "alg-mine" not in [m.session_id for m in listed_pm.managers]
    await denied(tms.ClearTrigger(tm.ClearTriggerRequest(exchange=ex, symbol="BTCUSDT", id="t-mine"), metadata=theirs))
    cleared = await tms.ClearTriggers(tm.ClearTriggersRequest(clear_all=True), metadata=theirs)
    assert cleared.cleared == 0
    listed_t = await tms.ListTriggers(tm.ListTriggersRequest(exchange=ex, symbol="BTCUSDT"), metadata=theirs)
    assert "t-mine" not in [t.trigger.id for t in listed_t.triggers]
    foreign = buy("", "alg-trig-2")  # no session named: the one manager on the symbol would be "alg-mine"'s
    foreign.ClearField("transaction_type")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await tms.SetTrigger(
            tm.SetTriggerRequest(
                id="t-theirs",
                price=1000.0,
                symbol="BTCUSDT",
                direction=tm.TRIGGER_DIRECTION_DOWN,
                exchange=ex,
                orders=[foreign],
            ),
            metadata=theirs,
        )
    assert e.value.code() == grpc.StatusCode.NOT_FOUND  # not armed on another key's manager
    await denied(sos.CancelSmartOrder(so.CancelSmartOrderRequest(id=sid), metadata=theirs))
    change = so.SmartOrderParametersChange(amount=0.004)
    await denied(sos.UpdateSmartOrder(so.UpdateSmartOrderRequest(id=sid, parameters=change), metadata=theirs))
    await denied(sos.SubscribeSmartOrders(so.SubscribeSmartOrdersRequest(id=sid), metadata=theirs).read())
    assert sid not in [o.id for o in (await sos.ListSmartOrders(so.ListSmartOrdersRequest(), metadata=theirs)).requests]
    channel_call = sos.SmartOrderChannel(metadata=theirs)  # a refused command is an Error frame; the stream goes on
    await channel_call.write(so.SmartOrderCommand(type=so.SMART_ORDER_COMMAND_TYPE_CANCEL, id=sid))
    frame = await asyncio.wait_for(channel_call.read(), 10)
    assert frame.type == so.SMART_ORDER_EVENT_TYPE_ERROR and frame.error.status == "PERMISSION_DENIED", frame
    channel_call.cancel()
    open_orders = await sos.GetOpenOrders(so.GetOpenOrdersRequest(), metadata=theirs)
    seen = [o.client_order_id for entry in open_orders.orders.values() for o in entry.orders]
    assert "alg-mine-1" not in seen and all("alg-mine" not in k for k in open_orders.orders)
    balances = await sos.GetBalances(so.GetBalancesRequest(), metadata=theirs)
    assert all("alg-mine" not in k for k in balances.balances)
    async with aiohttp.ClientSession() as http:  # REST: the same checks, 403
        async with http.post(
            svc.ready["rest"] + "/getPositionManager",
            json={"exchange": "binance-spot", "symbol": "ETHUSDT"},
            headers={"x-api-key": OTHER_TRADER},
        ) as r:
            assert r.status == 403, await r.text()

    # the owner and an admin may use them; everything is still there
    for key in (mine, boss):
        got = await pms.GetPositionManager(pm.GetPositionManagerRequest(exchange=ex, symbol="ETHUSDT"), metadata=key)
        assert got.status.session_id == "alg-mine"
        listed_t = await tms.ListTriggers(tm.ListTriggersRequest(exchange=ex, symbol="BTCUSDT"), metadata=key)
        assert "t-mine" in [t.trigger.id for t in listed_t.triggers]
        assert sid in [o.id for o in (await sos.ListSmartOrders(so.ListSmartOrdersRequest(), metadata=key)).requests]
    mine_open = await sos.GetOpenOrders(so.GetOpenOrdersRequest(), metadata=mine)
    assert "alg-mine-1" in [o.client_order_id for entry in mine_open.orders.values() for o in entry.orders]
    await sos.UpdateSmartOrder(so.UpdateSmartOrderRequest(id=sid, parameters=change), metadata=mine)
    await sos.CancelSmartOrder(so.CancelSmartOrderRequest(id=sid), metadata=boss)
    await tms.ClearTrigger(tm.ClearTriggerRequest(exchange=ex, symbol="BTCUSDT", id="t-mine"), metadata=mine)
    await pms.StopPositionManager(pm.StopPositionManagerRequest(exchange=ex, symbol="ETHUSDT"), metadata=mine)


# ------------------------------------------------------------------ the matrix of calls naming an object by its own id

OWN_ID_SESSION = "matrix-own"


@pytest.fixture(scope="module")
async def owned(channel: grpc.aio.Channel, svc: Service) -> dict[str, str]:
    """Objects of the trade key "trader" on its session ``OWN_ID_SESSION``: a position manager on SOLUSDT, the
    trigger "t-matrix", a smart order (its id)."""
    from execx.v1 import position_manager_pb2 as pm
    from execx.v1 import position_manager_pb2_grpc as pm_grpc
    from execx.v1 import smart_order_pb2 as so
    from execx.v1 import smart_order_pb2_grpc as so_grpc
    from execx.v1 import trigger_manager_pb2_grpc as tm_grpc

    mine, ex = md(KEYS["trade"]), c.EXCHANGE_BINANCE_SPOT
    await start(channel, svc, OWN_ID_SESSION, KEYS["trade"])
    config = pm.PositionManagerConfig(
        quote_levels=1, min_order_qty=0.01, re_entry_ticker_seconds=0.2, price_level_interval=0.001
    )
    await pm_grpc.PositionManagerServiceStub(channel).StartPositionManager(
        pm.StartPositionManagerRequest(session_id=OWN_ID_SESSION, exchange=ex, symbol="SOLUSDT", config=config),
        metadata=mine,
    )
    tms = tm_grpc.TriggerManagerServiceStub(channel)
    await start_trigger_manager(tms, ex, OWN_ID_SESSION, "t-matrix", "matrix-trig-1", mine)
    add = so.AddSmartOrderRequest(
        algorithm=so.SMART_ORDER_ALGORITHM_TWAP,
        exchanges=[ex],
        session_id=OWN_ID_SESSION,
        parameters=so.SmartOrderParameters(
            side=c.SIDE_BUY, symbol="BTCUSDT", amount=0.002, duration="600SEC", interval="300SEC"
        ),
    )
    deadline = time.monotonic() + 60
    while True:  # a smart order waits for the feed's first quote: FAILED_PRECONDITION until then
        try:
            added = await so_grpc.SmartOrderServiceStub(channel).AddSmartOrder(add, metadata=mine)
            break
        except grpc.aio.AioRpcError as e:
            assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and time.monotonic() < deadline, e
            async with aiohttp.ClientSession() as http:  # the venue pushes a new best bid/ask
                move = {"market": "binance-spot", "symbol": "BTCUSDT", "price": "98000"}
                async with http.post(svc.ready["sim"]["admin"] + "/admin/market/move", json=move) as r:
                    assert r.status == 200, await r.text()
            await asyncio.sleep(0.1)
    return {"smart": added.id}


def own_id_calls() -> list[tuple[str, Any]]:
    """(method, request of the ids of ``owned``): every call that names an object by its own id, or a session's
    object by its session (each refused for another key)."""
    from execx.v1 import contingent_order_pb2 as co
    from execx.v1 import dip_buyer_pb2 as db
    from execx.v1 import grid_trader_pb2 as gt
    from execx.v1 import mmp_pb2 as mm
    from execx.v1 import position_manager_pb2 as pm
    from execx.v1 import smart_order_pb2 as so
    from execx.v1 import trigger_manager_pb2 as tm

    ex, s, pms, tms = c.EXCHANGE_BINANCE_SPOT, OWN_ID_SESSION, "PositionManagerService", "TriggerManagerService"
    return [
        (
            f"/execx.v1.{pms}/GetPositionManager",
            lambda ids: pm.GetPositionManagerRequest(exchange=ex, symbol="SOLUSDT"),
        ),
        (
            f"/execx.v1.{pms}/SetTargetPosition",
            lambda ids: pm.SetTargetPositionRequest(exchange=ex, symbol="SOLUSDT", target_position=1),
        ),
        (
            f"/execx.v1.{pms}/StopPositionManager",
            lambda ids: pm.StopPositionManagerRequest(exchange=ex, symbol="SOLUSDT"),
        ),
        (
            f"/execx.v1.{tms}/ClearTrigger",
            lambda ids: tm.ClearTriggerRequest(exchange=ex, symbol="BTCUSDT", id="t-matrix"),
        ),
        (
            f"/execx.v1.{tms}/GetTriggerManager",
            lambda ids: tm.GetTriggerManagerRequest(session_id=s, exchange=ex, symbol="BTCUSDT"),
        ),
        (
            f"/execx.v1.{tms}/StopTriggerManager",
            lambda ids: tm.StopTriggerManagerRequest(session_id=s, exchange=ex, symbol="BTCUSDT"),
        ),
        ("/execx.v1.SmartOrderService/CancelSmartOrder", lambda ids: so.CancelSmartOrderRequest(id=ids["smart"])),
        (
            "/execx.v1.SmartOrderService/UpdateSmartOrder",
            lambda ids: so.UpdateSmartOrderRequest(
                id=ids["smart"], parameters=so.SmartOrderParametersChange(amount=0.004)
            ),
        ),
        (
            "/execx.v1.SmartOrderService/SubscribeSmartOrders",
            lambda ids: so.SubscribeSmartOrdersRequest(id=ids["smart"]),
        ),
        (
            "/execx.v1.DipBuyerService/GetDipBuyer",
            lambda ids: db.GetDipBuyerRequest(session_id=s, exchange=ex, symbol="BTCUSDT"),
        ),
        (
            "/execx.v1.DipBuyerService/StopDipBuyer",
            lambda ids: db.StopDipBuyerRequest(session_id=s, exchange=ex, symbol="BTCUSDT"),
        ),
        (
            "/execx.v1.GridTraderService/GetGridTrader",
            lambda ids: gt.GetGridTraderRequest(session_id=s, exchange=ex, symbol="BTCUSDT"),
        ),
        (
            "/execx.v1.GridTraderService/StopGridTrader",
            lambda ids: gt.StopGridTraderRequest(session_id=s, exchange=ex, symbol="BTCUSDT"),
        ),
        (
            "/execx.v1.ContingentOrderService/GetOrderGroup",
            lambda ids: co.GetOrderGroupRequest(session_id=s, group_id="g"),
        ),
        (
            "/execx.v1.ContingentOrderService/CancelOrderGroup",
            lambda ids: co.CancelOrderGroupRequest(session_id=s, group_id="g"),
        ),
        ("/execx.v1.MarketMakerProtectionService/GetMmpStatus", lambda ids: mm.GetMmpStatusRequest(session_id=s)),
        ("/execx.v1.MarketMakerProtectionService/ResetMmp", lambda ids: mm.ResetMmpRequest(session_id=s)),
    ]


OWN_ID_CALLS = own_id_calls()
ROUTE_OF = {r.grpc_path: r for r in ROUTES}


@pytest.mark.parametrize(("path", "request_of"), OWN_ID_CALLS, ids=[p for p, _ in OWN_ID_CALLS])
async def test_own_id_scope_matrix(
    channel: grpc.aio.Channel, svc: Service, owned: dict[str, str], path: str, request_of: Any
) -> None:
    """Another trade key: PERMISSION_DENIED over gRPC, 403 over REST; nothing changed (the owner's objects are
    all still there after the whole matrix: ``test_own_id_objects_survive_the_matrix``)."""
    request = request_of(owned)
    m = next(m for p, m in RPCS if p == path)
    res_cls = symbol_database.Default().GetSymbol(m.output_type.full_name)
    kw: dict[str, Any] = {
        "request_serializer": type(request).SerializeToString,
        "response_deserializer": res_cls.FromString,
    }
    with pytest.raises(grpc.aio.AioRpcError) as e:
        if m.server_streaming:
            await channel.unary_stream(path, **kw)(request, metadata=md(OTHER_TRADER), timeout=10).read()
        else:
            await channel.unary_unary(path, **kw)(request, metadata=md(OTHER_TRADER), timeout=10)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, e.value
    route = ROUTE_OF.get(path)
    if route is None or route.is_websocket:
        return
    rest_path = route.template
    body = json_format.MessageToDict(request)
    for name in list(body):  # path variables come out of the body
        if "{" + name + "}" in rest_path:
            rest_path = rest_path.replace("{" + name + "}", str(body.pop(name)))
    kwargs: dict[str, Any] = {"json": body} if route.body else {}
    async with aiohttp.ClientSession() as http:
        async with http.request(
            route.http_method, svc.ready["rest"] + rest_path, headers={"x-api-key": OTHER_TRADER}, **kwargs
        ) as r:
            assert r.status == 403, (r.status, await r.text())


async def test_own_id_objects_survive_the_matrix(channel: grpc.aio.Channel, owned: dict[str, str]) -> None:
    from execx.v1 import position_manager_pb2 as pm
    from execx.v1 import position_manager_pb2_grpc as pm_grpc
    from execx.v1 import smart_order_pb2 as so
    from execx.v1 import smart_order_pb2_grpc as so_grpc
    from execx.v1 import trigger_manager_pb2 as tm
    from execx.v1 import trigger_manager_pb2_grpc as tm_grpc

    mine, ex = md(KEYS["trade"]), c.EXCHANGE_BINANCE_SPOT
    got = await pm_grpc.PositionManagerServiceStub(channel).GetPositionManager(
        pm.GetPositionManagerRequest(exchange=ex, symbol="SOLUSDT"), metadata=mine
    )
    assert got.status.session_id == OWN_ID_SESSION and got.status.target_position == 0
    listed = await tm_grpc.TriggerManagerServiceStub(channel).ListTriggers(
        tm.ListTriggersRequest(exchange=ex, symbol="BTCUSDT"), metadata=mine
    )
    assert "t-matrix" in [t.trigger.id for t in listed.triggers]
    smart = await so_grpc.SmartOrderServiceStub(channel).ListSmartOrders(so.ListSmartOrdersRequest(), metadata=mine)
    order = next(o for o in smart.requests if o.id == owned["smart"])
    assert order.status != so.SMART_ORDER_STATUS_CANCELLED and order.amount == 0.002
