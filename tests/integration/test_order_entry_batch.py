"""OrderEntry batching (issue 17) end to end, on a real gRPC server and its simulator: several requests in one
message (``batch``), each admitted, answered and journaled as if it had come alone; answers coalesced under
``maxBatch``; the limits (one level, 1 000 per message); the gateway's websocket with the same JSON shapes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx_server.app import Service, Settings
from execx_server.engine.updates import ORDER, OrderUpdate
from test_service_grpc import AUTH, KEY, VENUES, Svc, buy, uid

LIMITED = "batch-limited-key"  # burst 6, refilled at 0.001/s: the test's tokens are counted
OTHER = "batch-other-trader-key"
INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    tmp = tmp_path_factory.mktemp("execx-batch")
    keys = tmp / "keys.json"
    keys.write_text(
        json.dumps(
            {
                "keys": [
                    {"id": "limited", "key": LIMITED, "scopes": ["trade"], "ratePerSecond": 0.001, "burst": 6},
                    {"id": "other", "key": OTHER, "scopes": ["trade"]},
                ]
            }
        )
    )
    service = Service(
        Settings(
            key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=tmp / "data", sim=True, sim_quiet=True, keys_file=keys
        )
    )
    await service.start()
    s = Svc(service)
    yield s
    await s.channel.close()
    await service.stop()


def journaled(svc: Svc, session_id: str) -> set[str]:
    """The clOrderIds of the session's committed order records (the journal's own read connection)."""
    engine = svc.service.engine
    assert engine is not None
    return {cast(OrderUpdate, r.payload).cl_order_id for r in engine.journal.read(session_id, 1, ORDER)}


async def answers_of(
    call: Any, svc: Svc | None = None, session_id: str = ""
) -> tuple[list[om.OrderEntryResponse], list[int]]:
    """Every answer of a stream (a ``batch`` message taken apart) and each message's answer count; with
    ``svc``, each successful answer's order is checked to be journaled when its answer is read."""
    answers: list[om.OrderEntryResponse] = []
    sizes: list[int] = []
    async with asyncio.timeout(30):
        async for msg in call:
            if len(msg.batch):
                assert not msg.request_id and not msg.HasField("status") and not msg.HasField("order"), msg
                assert all(not len(one.batch) for one in msg.batch)
                got = list(msg.batch)
            else:
                got = [msg]
            sizes.append(len(got))
            for one in got:
                if svc is not None and one.status.code == 0:  # durable before visible
                    assert one.order.cl_order_id in journaled(svc, session_id), one
            answers.extend(got)
    return answers, sizes


async def test_a_batch_in_one_message_is_answered_and_journaled_request_by_request(svc: Svc) -> None:
    sid = await svc.session("binance-spot")
    price = round(await svc.mid("binance-spot", "BTCUSDT") * 0.97, 2)
    call = svc.om.OrderEntry(metadata=AUTH)
    bad = buy(sid, "bad id", "BTCUSDT", price, 0.001)  # a clOrderId with a space: INVALID_ARGUMENT naming it
    msg = om.OrderEntryRequest(request_id=100, order=buy(sid, "bt-0", "BTCUSDT", price, 0.001))  # its own first
    msg.batch.extend(
        om.OrderEntryRequest(request_id=101 + i, order=buy(sid, f"bt-{i + 1}", "BTCUSDT", price, 0.001))
        for i in range(3)
    )
    msg.batch.add(request_id=104, order=bad)
    nested = msg.batch.add(request_id=105, order=buy(sid, "bt-nested", "BTCUSDT", price, 0.001))
    nested.batch.add(request_id=999, order=buy(sid, "bt-deep", "BTCUSDT", price, 0.001))  # two levels: refused
    msg.batch.extend(
        om.OrderEntryRequest(request_id=106 + i, order=buy(sid, f"bt-{i + 4}", "BTCUSDT", price, 0.001))
        for i in range(2)
    )
    await call.write(msg)
    carrier = om.OrderEntryRequest(request_id=7)  # only a batch: its own requestId is not a request
    carrier.batch.add(request_id=200, order=buy(sid, "bt-6", "BTCUSDT", price, 0.001))
    await call.write(carrier)
    await call.done_writing()
    answers, sizes = await answers_of(call, svc, sid)
    assert sizes == [1] * len(answers)  # no maxBatch: one answer per message, as ever
    by_id = {a.request_id: a for a in answers}
    assert len(by_id) == len(answers) == 9 and set(by_id) == {100, 101, 102, 103, 104, 105, 106, 107, 200}
    ok = {100: "bt-0", 101: "bt-1", 102: "bt-2", 103: "bt-3", 106: "bt-4", 107: "bt-5", 200: "bt-6"}
    for rid, cl in ok.items():
        assert by_id[rid].status.code == 0 and by_id[rid].order.cl_order_id == cl, by_id[rid]
        assert by_id[rid].order.order_status == c.ORDER_STATUS_NEW
    assert by_id[104].status.code == INVALID and by_id[104].status.message.startswith("clOrderId"), by_id[104]
    assert by_id[105].status.code == INVALID and by_id[105].status.message.startswith("batch[4].batch:"), by_id[105]
    listed = await svc.om.ListOrders(om.ListOrdersRequest(session_id=sid), metadata=AUTH)
    assert sorted(o.cl_order_id for o in listed.orders) == sorted(ok.values())  # nothing of the refused ones
    assert journaled(svc, sid) == set(ok.values())


async def test_max_batch_coalesces_answers_never_more_than_asked_each_exactly_once(svc: Svc) -> None:
    sid = await svc.session("binance-spot")
    price = round(await svc.mid("binance-spot", "BTCUSDT") * 0.97, 2)
    call = svc.om.OrderEntry(metadata=AUTH)
    # a burst of pipelined orders, one per message, the first asking for maxBatch 4
    for i in range(24):
        await call.write(
            om.OrderEntryRequest(
                request_id=i, order=buy(sid, f"mb-{i}", "BTCUSDT", price, 0.001), max_batch=4 if i == 0 else 0
            )
        )
    # and 24 requests that fail at once, in one message: their answers are ready together, so while the
    # first is written the others wait, and go in batches
    burst = om.OrderEntryRequest()
    burst.batch.extend(
        om.OrderEntryRequest(request_id=100 + i, order=buy(sid, f"bad {i}", "BTCUSDT", price, 0.001)) for i in range(24)
    )
    await call.write(burst)
    await call.done_writing()
    answers, sizes = await answers_of(call, svc, sid)
    ids = [a.request_id for a in answers]
    assert sorted(ids) == [*range(24), *range(100, 124)]  # every request answered exactly once
    assert max(sizes) <= 4 and len(sizes) < len(answers), sizes
    assert all(a.status.code == 0 for a in answers if a.request_id < 100)
    assert all(
        a.status.code == INVALID and a.status.message.startswith("clOrderId") for a in answers if a.request_id >= 100
    )
    assert journaled(svc, sid) == {f"mb-{i}" for i in range(24)}


async def test_more_than_1000_in_one_message_is_refused_whole(svc: Svc) -> None:
    sid = await svc.session("binance-spot")
    price = round(await svc.mid("binance-spot", "BTCUSDT") * 0.97, 2)
    call = svc.om.OrderEntry(metadata=AUTH)
    big = om.OrderEntryRequest(request_id=5, order=buy(sid, "big-0", "BTCUSDT", price, 0.001))
    big.batch.extend(
        om.OrderEntryRequest(request_id=10 + i, order=buy(sid, f"big-{i + 1}", "BTCUSDT", price, 0.001))
        for i in range(1001)
    )
    await call.write(big)
    await call.write(om.OrderEntryRequest(request_id=6, order=buy(sid, "after", "BTCUSDT", price, 0.001)))  # goes on
    await call.done_writing()
    answers, _ = await answers_of(call)
    by_id = {a.request_id: a for a in answers}
    assert sorted(by_id) == [5, 6] and len(answers) == 2
    assert by_id[5].status.code == INVALID, by_id[5]
    assert by_id[5].status.message == "batch: at most 1000 requests in one message, got 1001"
    assert by_id[6].status.code == 0
    listed = await svc.om.ListOrders(om.ListOrdersRequest(session_id=sid), metadata=AUTH)
    assert [o.cl_order_id for o in listed.orders] == ["after"]


async def start_as(svc: Svc, key: str) -> str:
    acct = await svc.new_account()
    sid = uid("bs-")
    exchange = c.ExchangeKey(api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=VENUES["binance-spot"][0])
    await svc.om.StartOrderHandler(
        om.StartOrderHandlerRequest(session_id=sid, exchange_key=exchange), metadata=(("x-api-key", key),)
    )
    return sid


async def test_each_request_of_a_batch_is_admitted_rate_limited_and_audited_alone(svc: Svc) -> None:
    """Session ownership and the key's rate limit per request of a batch, one audit record each."""
    theirs = await start_as(svc, OTHER)
    mine = await start_as(svc, LIMITED)  # the limited key's 1st token (of 6)
    price = round(await svc.mid("binance-spot", "BTCUSDT") * 0.97, 2)
    call = svc.om.OrderEntry(metadata=(("x-api-key", LIMITED),))  # 2nd token
    msg = om.OrderEntryRequest()
    msg.batch.add(request_id=1, order=buy(mine, "ad-1", "BTCUSDT", price, 0.001))  # 3rd
    msg.batch.add(request_id=2, order=buy(theirs, "ad-2", "BTCUSDT", price, 0.001))  # another key's: refused
    for i in range(3, 9):  # 4th, 5th, 6th token, then none left
        msg.batch.add(request_id=i, order=buy(mine, f"ad-{i}", "BTCUSDT", price, 0.001))
    await call.write(msg)
    await call.done_writing()
    answers, _ = await answers_of(call, svc, mine)
    codes = {a.request_id: grpc.StatusCode.OK if a.status.code == 0 else a.status.code for a in answers}
    assert len(answers) == len(codes) == 8
    assert codes[2] == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert [codes[i] for i in (1, 3, 4, 5)] == [grpc.StatusCode.OK] * 4
    assert [codes[i] for i in (6, 7, 8)] == [grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]] * 3
    listed = await svc.om.ListAuditRecords(
        om.ListAuditRecordsRequest(method="OrderEntry", key_id="limited"), metadata=AUTH
    )
    outcomes = {",".join(r.cl_order_ids): r.outcome for r in listed.records}
    assert outcomes == {
        "ad-1": "OK",
        "ad-2": "PERMISSION_DENIED",
        **{f"ad-{i}": "OK" for i in (3, 4, 5)},
        **{f"ad-{i}": "RESOURCE_EXHAUSTED" for i in (6, 7, 8)},
    }


async def test_the_gateway_websocket_takes_and_gives_batches(svc: Svc) -> None:
    sid = await svc.session("binance-spot")
    price = round(await svc.mid("binance-spot", "BTCUSDT") * 0.97, 2)
    order = {"sessionId": sid, "symbol": "BTCUSDT", "price": price, "qty": 0.001, "orderType": "limit"}
    order |= {"transactionType": "insert", "side": "buy"}
    frame = {
        "maxBatch": 8,
        "batch": [
            {"requestId": i, "order": {**order, "clOrderId": f"ws-{i}" if i < 3 else f"bad ws {i}"}} for i in range(12)
        ],
    }
    answers: list[dict[str, Any]] = []
    frames: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(headers={"x-api-key": KEY}) as http:
        async with http.ws_connect(svc.ready["rest"] + "/orderEntry") as ws:
            await ws.send_json(frame)
            async with asyncio.timeout(30):
                while len(answers) < 12:
                    got = json.loads((await ws.receive()).data)
                    frames.append(got)
                    if got["batch"]:  # several answers: the batch only (the gateway prints every field)
                        assert got == {"requestId": 0, "batch": got["batch"]} and 2 <= len(got["batch"]) <= 8, got
                        assert all(one["batch"] == [] for one in got["batch"])
                        answers.extend(got["batch"])
                    else:  # alone: as without maxBatch (plus the empty batch)
                        answers.append(got)
    assert sorted(int(a["requestId"]) for a in answers) == list(range(12))
    # (a websocket frame is written at once while the socket's buffer has room: answers come together there
    # only when the client is slower than execx, so how many frames is not checked)
    assert len(frames) <= len(answers)
    by_id = {int(a["requestId"]): a for a in answers}
    for i in range(3):
        assert by_id[i]["status"]["code"] == 0 and by_id[i]["order"]["clOrderId"] == f"ws-{i}"
    for i in range(3, 12):
        assert by_id[i]["status"]["code"] == INVALID and by_id[i]["status"]["message"].startswith("clOrderId")
    assert journaled(svc, sid) == {"ws-0", "ws-1", "ws-2"}


def test_the_proto_only_adds_fields() -> None:
    """The batch fields are new field numbers of the existing messages (``buf breaking`` runs in CI)."""
    fields = {f.name: f.number for f in om.OrderEntryRequest.DESCRIPTOR.fields}
    assert fields == {"request_id": 1, "order": 2, "batch": 3, "max_batch": 4}
    assert {f.name: f.number for f in om.OrderEntryResponse.DESCRIPTOR.fields} == {
        "request_id": 1,
        "status": 2,
        "order": 3,
        "batch": 4,
    }
