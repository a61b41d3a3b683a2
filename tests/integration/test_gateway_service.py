"""The REST + websocket contract of the real execx service (``execx --sim``), over real sockets.

The seed's JSON examples are sent verbatim, except that ``/startOrderHandler`` points at the
embedded simulator: the demo account's keys from the ready line, and the simulator's hosts as
``restUrl`` / ``wsUrl``. Everything goes REST/websocket -> gateway -> gRPC servicer -> engine ->
Binance connector -> simulator and back.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from execx_server.app import Service, Settings
from seed_examples import SEED_GET_POSITION, SEED_SEND_ORDER, SEED_SET_LOG_LEVEL, SEED_START_ORDER_HANDLER
from waiting import eventually

KEY = "gateway-service-test-key"
AUTH = {"x-api-key": KEY}
TIMEOUT = 10.0

SEED_SUBSCRIBE = {"sessionId": "string"}  # the seed's request shape; the session id is ours
ORDER_TRANSACTION_FIELDS = {
    "exchOrderId",
    "message",
    "clOrderId",
    "exchange",
    "symbol",
    "sessionId",
    "tradeId",
    "localTime",
    "exchTime",
    "sendTime",
    "price",
    "qty",
    "cumulativeFilledQty",
    "executedQty",
    "remainingQty",
    "orderType",
    "orderStatus",
    "transactionType",
    "tif",
    "side",
    "triggerId",
}


class Rest:
    def __init__(self, ready: dict[str, Any], http: aiohttp.ClientSession) -> None:
        self.url = ready["rest"]
        self.metrics = ready["metrics"]
        self.http = http
        self.sim = ready["sim"]
        self.demo = self.sim["accounts"][0]
        self.spot = self.sim["venues"]["binance-spot"]

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        async with self.http.post(self.url + path, json=body, headers=AUTH if headers is None else headers) as r:
            assert r.content_type == "application/json"
            return r.status, await r.json()

    async def ok(self, path: str, body: Any) -> Any:
        status, out = await self.post(path, body)
        assert status == 200, out
        return out

    def start_body(self, session_id: str) -> dict[str, Any]:
        """The seed's /startOrderHandler body pointed at the simulator (demo keys, its hosts)."""
        body = json.loads(json.dumps(SEED_START_ORDER_HANDLER))
        body["exchangeKey"].update(
            apiKey=self.demo["apiKey"], secretKey=self.demo["secretKey"], passphrase=self.demo["passphrase"]
        )
        body["sessionId"] = session_id
        body["restUrl"] = self.spot["rest"]
        # the simulator serves the WebSocket API and the streams on two hosts: name both
        body["wsUrl"] = f"wsApi={self.spot['wsApi']};stream={self.spot['stream']}"
        body["interface"] = "lo"  # the simulator is on loopback
        return body

    def ws(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.http.ws_connect(self.url + path, headers=AUTH if headers is None else headers)


@pytest.fixture(scope="module")
async def rest(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rest]:
    data = tmp_path_factory.mktemp("execx-gateway-data")
    service = Service(Settings(key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=data, sim=True, sim_quiet=True))
    ready = await service.start()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as http:
        r = Rest(ready, http)
        # the seed's order buys BTCUSDT at 124.2 post-only: bring the simulated market there, so the
        # venue's price filters (PERCENT_PRICE_BY_SIDE) accept it and it rests in the book
        move = {"market": "binance-spot", "symbol": "BTCUSDT", "price": "125"}
        async with http.post(r.sim["admin"] + "/admin/market/move", json=move) as resp:
            assert resp.status == 200, await resp.text()
        for sid in ("binance-spot-account", "test-session"):
            await r.ok("/startOrderHandler", r.start_body(sid))
        yield r
    await service.stop()


async def receive_json(ws: aiohttp.ClientWebSocketResponse, within: float = TIMEOUT) -> Any:
    msg = await ws.receive(timeout=within)
    assert msg.type == WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def read_until(ws: aiohttp.ClientWebSocketResponse, done: Callable[[list[Any]], bool]) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + TIMEOUT
    while not done(got):
        got.append(await receive_json(ws, within=max(0.01, deadline - time.monotonic())))
    return got


async def test_seed_start_order_handler(rest: Rest) -> None:
    body = rest.start_body("unique-session-id")
    assert body.keys() == {*SEED_START_ORDER_HANDLER, "restUrl"}
    status, out = await rest.post("/startOrderHandler", body)
    assert status == 200, out
    assert out == {"sessionId": "unique-session-id"}
    # the same keys re-attach to the live session; other keys: ALREADY_EXISTS -> 409
    assert await rest.ok("/startOrderHandler", body) == {"sessionId": "unique-session-id"}
    other = {**body, "exchangeKey": {**body["exchangeKey"], "secretKey": "another-secret"}}
    status, out = await rest.post("/startOrderHandler", other)
    assert status == 409 and out["code"] == 6, out
    assert rest.demo["secretKey"] not in json.dumps(out)


async def test_seed_set_log_level(rest: Rest) -> None:
    assert await rest.ok("/setLogLevel", SEED_SET_LOG_LEVEL) == {"logLevel": "debug"}
    assert await rest.ok("/setLogLevel", {"logLevel": "info"}) == {"logLevel": "info"}


async def test_seed_send_order_and_its_updates_on_the_websocket(rest: Rest) -> None:
    async with rest.ws("/subscribeUpdates") as ws:
        await ws.send_json({**SEED_SUBSCRIBE, "sessionId": "binance-spot-account", "fromSeq": 0})
        out = await rest.ok("/sendOrder", SEED_SEND_ORDER)
        order = out["order"]
        assert order["clOrderId"] == "cl-abcd" and order["sessionId"] == "binance-spot-account"
        assert order["exchange"] == "binance-spot" and order["symbol"] == "BTCUSDT"
        assert order["orderType"] == "postonly" and order["transactionType"] == "insert"
        assert order["tif"] == "gtc" and order["side"] == "buy"
        assert order["price"] == 124.2 and order["qty"] == 1
        assert order["orderStatus"] in {"pendingnew", "new"}, order
        updates = await read_until(ws, lambda got: any(u.get("orderStatus") == "new" for u in got))
    new = next(u for u in updates if u["orderStatus"] == "new")
    # each frame is the seed's order transaction, in the seed's shape
    assert ORDER_TRANSACTION_FIELDS - {"tradeLiquidity"} <= set(new)
    assert new["clOrderId"] == "cl-abcd" and new["exchOrderId"]
    assert isinstance(new["localTime"], int) and new["localTime"] > 1_700_000_000 * 10**9
    assert isinstance(new["seq"], int) and new["seq"] >= 1
    assert [u["seq"] for u in updates] == sorted(u["seq"] for u in updates)
    # cancel it (delete) through REST; the seed's shape again
    out = await rest.ok("/sendOrder", {**SEED_SEND_ORDER, "transactionType": "delete"})
    assert out["order"]["clOrderId"] == "cl-abcd"


async def test_subscribe_updates_resumes_from_seq(rest: Rest) -> None:
    await rest.ok("/startOrderHandler", rest.start_body("resume-session"))
    order = {**SEED_SEND_ORDER, "sessionId": "resume-session", "clOrderId": "cl-resume"}
    await rest.ok("/sendOrder", order)
    await rest.ok("/sendOrder", {**order, "transactionType": "delete"})
    async with rest.ws("/subscribeUpdates") as ws:
        await ws.send_json({"sessionId": "resume-session", "fromSeq": 0})
        history = await read_until(ws, lambda got: any(u["orderStatus"] == "cancelled" for u in got))
    seqs = [u["seq"] for u in history]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs  # no gap, no duplicate
    resume = seqs[1]
    async with rest.ws("/subscribeUpdates") as ws:
        await ws.send_json({"sessionId": "resume-session", "fromSeq": resume})
        replay = await read_until(ws, lambda got: bool(got) and got[-1]["seq"] == seqs[-1])
    # the journal's history again, from the requested point, as the same JSON frames. The proto
    # says "seq greater than fromSeq"; the engine currently replays from fromSeq inclusive, so
    # either is accepted here (the gateway's part is passing fromSeq through).
    assert replay[0]["seq"] in (resume, resume + 1)
    assert replay == [u for u in history if u["seq"] >= replay[0]["seq"]]


async def test_seed_get_position(rest: Rest) -> None:
    out = await rest.ok("/getPosition", SEED_GET_POSITION)
    assert out == {"position": 0.0}


async def test_subscribe_positions_websocket(rest: Rest) -> None:
    async with rest.ws("/subscribePositions") as ws:
        await ws.send_json({**SEED_SUBSCRIBE, "sessionId": "test-session"})
        snapshot = await receive_json(ws)
    assert snapshot["sessionId"] == "test-session"
    assert isinstance(snapshot["positions"], dict)


async def test_closing_a_websocket_ends_its_in_process_stream(rest: Rest) -> None:
    """The gateway runs SubscribeUpdates in-process: the servicer's stream is open while the websocket is, and
    ends (its subscription closed, the subscriber gauge back to 0) when the client goes away."""

    async def subscribers() -> float:
        async with rest.http.get(rest.metrics) as r:
            text = await r.text()
        line = next((x for x in text.splitlines() if x.startswith('om_stream_subscribers{stream="updates"}')), "")
        return float(line.rpartition(" ")[2]) if line else 0.0

    async def opened() -> bool:
        return await subscribers() >= 1

    async def closed() -> bool:
        return await subscribers() == 0

    async with rest.ws("/subscribeUpdates") as ws:
        await ws.send_json({**SEED_SUBSCRIBE, "sessionId": "test-session"})
        await eventually(opened, "the websocket's subscription", within_s=TIMEOUT)
    await eventually(closed, "the subscription to end with the websocket", within_s=TIMEOUT)


async def test_without_the_key_nothing_runs(rest: Rest) -> None:
    status, out = await rest.post("/sendOrder", SEED_SEND_ORDER, headers={})
    assert status == 401 and out["code"] == 16, out
    status, out = await rest.post("/getPosition", SEED_GET_POSITION, headers={"x-api-key": "wrong"})
    assert status == 401, out
    status, out = await rest.post("/getPosition", SEED_GET_POSITION, headers={"authorization": f"Bearer {KEY}"})
    assert status == 200, out
    async with rest.ws("/subscribeUpdates", headers={}) as ws:
        await ws.send_json({"sessionId": "test-session"})
        body = await receive_json(ws)
        closing = await ws.receive(timeout=TIMEOUT)
    assert body["code"] == 16 and closing.type == WSMsgType.CLOSE and closing.data == 4401


async def test_unknown_session_is_404(rest: Rest) -> None:
    status, out = await rest.post("/sendOrder", {**SEED_SEND_ORDER, "sessionId": "no-such-session"})
    assert status == 404 and out["code"] == 5, out
    assert out["details"] == []
    async with rest.ws("/subscribeUpdates") as ws:
        await ws.send_json({"sessionId": "no-such-session"})
        body = await receive_json(ws)
        closing = await ws.receive(timeout=TIMEOUT)
    assert body["code"] == 5 and closing.data == 4404


async def test_bad_input_is_400_naming_the_field(rest: Rest) -> None:
    # refused by the gateway's JSON mapping (nothing reaches the server)
    status, out = await rest.post("/sendOrder", {**SEED_SEND_ORDER, "side": "long"})
    assert status == 400 and out["code"] == 3 and "'side'" in out["message"], out
    status, out = await rest.post("/sendOrder", {**SEED_SEND_ORDER, "quantity": 1})
    assert status == 400 and "'quantity'" in out["message"], out
    # refused by the servicer's validation (same Status shape, same HTTP mapping)
    status, out = await rest.post("/sendOrder", {**SEED_SEND_ORDER, "clOrderId": "cl-neg", "qty": -1})
    assert status == 400 and out["code"] == 3 and "qty" in out["message"], out


async def test_order_entry_websocket(rest: Rest) -> None:
    async with rest.ws("/orderEntry") as ws:
        for i in (1, 2):
            await ws.send_json({"requestId": i, "order": {**SEED_SEND_ORDER, "clOrderId": f"cl-oe-{i}"}})
        answers = await read_until(ws, lambda got: len(got) == 2)
        await ws.send_json({"requestId": 3, "order": {**SEED_SEND_ORDER, "sessionId": "no-such-session"}})
        missing = await receive_json(ws)
    assert sorted(a["requestId"] for a in answers) == [1, 2]
    for a in answers:
        assert a["status"]["code"] == 0, a
        assert a["order"]["clOrderId"] == f"cl-oe-{a['requestId']}"
    assert missing["requestId"] == 3 and missing["status"]["code"] == 5


async def test_openapi_and_health(rest: Rest) -> None:
    async with rest.http.get(rest.url + "/healthz") as r:
        assert r.status == 200
    async with rest.http.get(rest.url + "/openapi.json") as r:
        doc = await r.json()
    assert "/sendOrder" in doc["paths"] and "/subscribeUpdates" in doc["paths"]


async def test_empty_smart_order_add_is_400_naming_the_field(rest: Rest) -> None:
    status, out = await rest.post("/v1/sor/add", {})
    assert status == 400 and out["code"] == 3 and "Algorithm" in out["message"], out


async def test_many_concurrent_rest_calls_share_the_channel(rest: Rest) -> None:
    results = await asyncio.gather(*(rest.post("/getPosition", SEED_GET_POSITION) for _ in range(50)))
    assert {s for s, _ in results} == {200}
