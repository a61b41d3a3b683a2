"""The REST + websocket gateway over real sockets, calling servicers in-process (``api/inprocess.py``).

The servicers here are test doubles: the generated servicer base classes (every method answers
UNIMPLEMENTED) with a few methods answering canned values, registered through an ``InProcessServer``
as the service registers its own, so the JSON shapes, routing, error mapping and websocket behaviour of
the gateway are checked both ways without the order engine. The same routes against the real service
are in test_gateway_service.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from aiohttp import WSMsgType, web
from execx.v1 import (
    common_pb2,
    order_manager_pb2,
    order_manager_pb2_grpc,
    smart_order_pb2,
    smart_order_pb2_grpc,
)
from execx_server.api.gateway import (
    GATEWAY_KEY,
    GatewayConfig,
    JsonCodec,
    JsonMappingError,
    build_gateway,
    load_routes,
)
from execx_server.api.gateway.comments import DESCRIPTOR_SET_NAME, load_comments
from execx_server.api.gateway.routes import api_files, api_modules
from execx_server.api.inprocess import InProcessServer
from google.api import annotations_pb2
from google.protobuf import any_pb2, descriptor_pb2
from google.rpc import error_details_pb2, status_pb2
from seed_examples import (
    SEED_GET_POSITION,
    SEED_ORDER_TRANSACTION,
    SEED_REFRESH_ORDERS,
    SEED_SEND_ORDER,
    SEED_SET_LOG_LEVEL,
    SEED_START_ORDER_HANDLER,
)

KEY = "gateway-test-key"
AUTH = {"x-api-key": KEY}
SESSIONS = {"test-session", "binance-spot-account", "unique-session-id"}


def seed_transaction(**changes: Any) -> common_pb2.OrderTransaction:
    """The seed's order transaction as a proto message (parsed by the gateway's own codec)."""
    msg = common_pb2.OrderTransaction()
    JsonCodec().from_json({**SEED_ORDER_TRANSACTION, **changes}, msg)
    return msg


@dataclass
class Calls:
    """What the fake servicers saw."""

    requests: list[tuple[str, Any]] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)
    flood_ended: asyncio.Event = field(default_factory=asyncio.Event)
    positions_ended: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, method: str) -> list[Any]:
        return [r for m, r in self.requests if m == method]


class FakeOrderManager(order_manager_pb2_grpc.OrderManagerServiceServicer):
    """Canned answers; checks the key like the real auth interceptor (UNAUTHENTICATED otherwise)."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def _enter(self, name: str, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        md = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        if md.get("x-api-key") != KEY and md.get("authorization") != f"Bearer {KEY}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong service key")
        self.calls.requests.append((name, request))
        self.calls.metadata.append(md)

    async def _session(self, session_id: str, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if session_id not in SESSIONS:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown session {session_id!r}")

    async def StartOrderHandler(self, request: Any, context: Any) -> Any:
        await self._enter("StartOrderHandler", request, context)
        return order_manager_pb2.StartOrderHandlerResponse(session_id=request.session_id)

    async def SetLogLevel(self, request: Any, context: Any) -> Any:
        await self._enter("SetLogLevel", request, context)
        return order_manager_pb2.SetLogLevelResponse(log_level=request.log_level)

    async def SendOrder(self, request: Any, context: Any) -> Any:
        await self._enter("SendOrder", request, context)
        await self._session(request.session_id, context)
        order = common_pb2.OrderTransaction(
            cl_order_id=request.cl_order_id,
            exchange=common_pb2.EXCHANGE_BINANCE_SPOT,
            symbol=request.symbol,
            session_id=request.session_id,
            local_time=1720181590000000000,
            price=request.price,
            qty=request.qty,
            remaining_qty=request.qty,
            order_type=request.order_type,
            order_status=common_pb2.ORDER_STATUS_PENDING_NEW,
            transaction_type=request.transaction_type,
            tif=request.tif,
            side=request.side,
            seq=2**60 + 1,
        )
        return order_manager_pb2.SendOrderResponse(order=order)

    async def RefreshOrders(self, request: Any, context: Any) -> Any:
        await self._enter("RefreshOrders", request, context)
        return order_manager_pb2.RefreshOrdersResponse(orders=list(request.transactions))

    async def GetPosition(self, request: Any, context: Any) -> Any:
        await self._enter("GetPosition", request, context)
        await self._session(request.session_id, context)
        return order_manager_pb2.GetPositionResponse(position=0.1)

    async def CancelAllOrders(self, request: Any, context: Any) -> Any:
        await self._enter("CancelAllOrders", request, context)
        bad = error_details_pb2.BadRequest(
            field_violations=[error_details_pb2.BadRequest.FieldViolation(field="symbol", description="unknown")]
        )
        detail = any_pb2.Any()
        detail.Pack(bad)
        st = status_pb2.Status(code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message="bad symbol", details=[detail])
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            "bad symbol",
            trailing_metadata=(("grpc-status-details-bin", st.SerializeToString()),),
        )

    async def SubscribeUpdates(self, request: Any, context: Any) -> AsyncIterator[Any]:
        await self._enter("SubscribeUpdates", request, context)
        if request.session_id == "flood":
            try:
                seq = 0
                while True:
                    seq += 1
                    yield order_manager_pb2.SubscribeUpdatesResponse(
                        transaction=common_pb2.OrderTransaction(seq=seq, session_id="flood", message="x" * 65536)
                    )
            finally:
                self.calls.flood_ended.set()
        await self._session(request.session_id, context)
        first = request.from_seq + 1 if request.HasField("from_seq") else 1
        for seq in range(first, first + 3):
            yield order_manager_pb2.SubscribeUpdatesResponse(transaction=seed_transaction(seq=seq))

    async def SubscribePositions(self, request: Any, context: Any) -> AsyncIterator[Any]:
        await self._enter("SubscribePositions", request, context)
        await self._session(request.session_id, context)
        try:
            yield order_manager_pb2.SubscribePositionsResponse(
                session_id=request.session_id, positions={"BTCUSDT": 0.1, "ETHUSDT": -2.5}
            )
            await asyncio.Event().wait()  # live: nothing more until the client goes away
        finally:
            self.calls.positions_ended.set()

    async def OrderEntry(self, request_iterator: Any, context: Any) -> AsyncIterator[Any]:
        await self._enter("OrderEntry", None, context)
        async for req in request_iterator:
            if req.order.session_id not in SESSIONS:
                status = status_pb2.Status(code=grpc.StatusCode.NOT_FOUND.value[0], message="unknown session")
                yield order_manager_pb2.OrderEntryResponse(request_id=req.request_id, status=status)
                continue
            order = common_pb2.OrderTransaction(
                cl_order_id=req.order.cl_order_id,
                session_id=req.order.session_id,
                order_status=common_pb2.ORDER_STATUS_PENDING_NEW,
            )
            ok = status_pb2.Status()
            yield order_manager_pb2.OrderEntryResponse(request_id=req.request_id, status=ok, order=order)


class FakeSmartOrders(smart_order_pb2_grpc.SmartOrderServiceServicer):
    """Routes with path variables, query strings and response_body (seed 003 shapes)."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def CancelSmartOrder(self, request: Any, context: Any) -> Any:
        self.calls.requests.append(("CancelSmartOrder", request))
        return smart_order_pb2.CancelSmartOrderResponse()

    async def ListSmartOrders(self, request: Any, context: Any) -> Any:
        return smart_order_pb2.ListSmartOrdersResponse(
            requests=[
                smart_order_pb2.SmartOrder(
                    id="fb7d3987",
                    status=smart_order_pb2.SMART_ORDER_STATUS_CANCELLED,
                    amount=20,
                    algorithm=smart_order_pb2.SMART_ORDER_ALGORITHM_TWAP,
                    exchanges=[common_pb2.EXCHANGE_DERIBIT],
                    status_history={"Running": "07/24/2024 09:41:40"},
                )
            ]
        )

    async def GetBalances(self, request: Any, context: Any) -> Any:
        resp = smart_order_pb2.GetBalancesResponse()
        resp.balances["DERIBIT"].balances.add(id="BTC", balance=1.5, available=1.0)
        return resp

    async def SubscribeSmartOrders(self, request: Any, context: Any) -> AsyncIterator[Any]:
        self.calls.requests.append(("SubscribeSmartOrders", request))
        yield smart_order_pb2.SubscribeSmartOrdersResponse(
            type=smart_order_pb2.SMART_ORDER_EVENT_TYPE_STATUS_CHANGE,
            composite_id=request.id,
            status_change=smart_order_pb2.SmartOrderStatusChange(id=request.id, total_filled=3.0),
        )


@dataclass
class Backend:
    target: InProcessServer
    calls: Calls


@pytest.fixture(scope="module")
def backend() -> Backend:
    server = InProcessServer()
    calls = Calls()
    order_manager_pb2_grpc.add_OrderManagerServiceServicer_to_server(FakeOrderManager(calls), server)
    smart_order_pb2_grpc.add_SmartOrderServiceServicer_to_server(FakeSmartOrders(calls), server)
    return Backend(server, calls)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture(scope="module")
async def gw(backend: Backend) -> AsyncIterator[str]:
    runner, url = await serve(build_gateway(backend.target))
    yield url
    await runner.cleanup()


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def post(
    http: aiohttp.ClientSession,
    url: str,
    body: Any = None,
    *,
    raw: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    hdrs = dict(AUTH if headers is None else headers)
    data = raw if raw is not None else json.dumps(body)
    async with http.post(url, data=data, headers={**hdrs, "Content-Type": "application/json"}) as resp:
        assert resp.content_type == "application/json"
        return resp.status, await resp.json()


def assert_status(body: Any, code: grpc.StatusCode) -> None:
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code.value[0], body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], list)


# ---------------------------------------------------------------------- route table


def test_routes_come_from_every_annotated_method() -> None:
    annotated = {
        m.full_name
        for f in api_files()
        for s in f.services_by_name.values()
        for m in s.methods
        if m.GetOptions().HasExtension(annotations_pb2.http)
    }
    routes = load_routes()
    assert {r.method.full_name for r in routes} == annotated
    by_path = {r.template: r for r in routes}
    assert by_path["/sendOrder"].http_method == "POST" and not by_path["/sendOrder"].is_websocket
    assert by_path["/subscribeUpdates"].server_streaming and by_path["/subscribeUpdates"].response_body == "transaction"
    assert by_path["/orderEntry"].client_streaming and by_path["/orderEntry"].server_streaming
    assert by_path["/v1/sor/cancel/{id}"].variables[0].field_path == ("id",)
    assert by_path["/v1/sor/requests"].http_method == "GET"
    assert by_path["/getPosition"].grpc_path == "/execx.v1.OrderManagerService/GetPosition"


def test_codec_shapes_both_ways() -> None:
    codec = JsonCodec()
    msg = order_manager_pb2.RefreshOrdersRequest()
    codec.from_json(SEED_REFRESH_ORDERS, msg)
    t = msg.transactions[0]
    assert t.local_time == 1720181590000000000
    assert t.order_status == common_pb2.ORDER_STATUS_PARTIALLY_FILLED
    assert t.trade_liquidity == common_pb2.TRADE_LIQUIDITY_ADD
    out = codec.to_json(msg)
    # every field the seed wrote comes back with the same name and value (plus the extensions)
    for k, v in SEED_ORDER_TRANSACTION.items():
        assert out["transactions"][0][k] == v, k
    # int64 stays a JSON number, exactly
    assert json.dumps(out).count("1720181590000000000") == 3
    # optional fields absent stay unset; present ones are written even at zero
    req = order_manager_pb2.SendOrderRequest()
    codec.from_json({"clOrderId": "a", "qty": 0}, req)
    assert not req.HasField("price") and req.HasField("qty")
    assert codec.to_json(req) == {
        "clOrderId": "a",
        "symbol": "",
        "sessionId": "",
        "qty": 0.0,
        "reduceOnly": False,
        "emulate": False,  # a plain bool (issue 20's extension): written at its default, like reduceOnly
    }
    # maps, uint64 from strings, numeric strings, proto enum names, snake_case names
    pos = order_manager_pb2.SubscribePositionsResponse()
    codec.from_json({"session_id": "s", "positions": {"BTCUSDT": "0.5"}, "seq": "18446744073709551615"}, pos)
    assert pos.positions["BTCUSDT"] == 0.5 and pos.seq == 2**64 - 1
    assert codec.to_json(pos) == {"sessionId": "s", "positions": {"BTCUSDT": 0.5}, "seq": 2**64 - 1}
    lvl = order_manager_pb2.SetLogLevelRequest()
    codec.from_json({"log_level": "LOG_LEVEL_WARN"}, lvl)
    assert lvl.log_level == common_pb2.LOG_LEVEL_WARN


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({"clOrderId": 5}, "clOrderId"),
        ({"bogus": 1}, "bogus"),
        ({"side": "BUY"}, "side"),
        ({"orderType": "post-only"}, "orderType"),
        ({"qty": "one"}, "qty"),
        ({"price": True}, "price"),
        ({"qty": [1]}, "qty"),
        ({"clOrderId": "a", "cl_order_id": "b"}, "cl_order_id"),
    ],
)
def test_codec_errors_name_the_field(body: dict[str, Any], field_name: str) -> None:
    with pytest.raises(JsonMappingError) as err:
        JsonCodec().from_json(body, order_manager_pb2.SendOrderRequest())
    assert err.value.field == field_name


def test_codec_nested_error_paths_and_ranges() -> None:
    codec = JsonCodec()
    with pytest.raises(JsonMappingError) as err:
        codec.from_json({"exchangeKey": {"exchange": "binance"}}, order_manager_pb2.StartOrderHandlerRequest())
    assert err.value.field == "exchangeKey.exchange"
    with pytest.raises(JsonMappingError) as err:
        codec.from_json({"transactions": [{}, {"localTime": 1.5}]}, order_manager_pb2.RefreshOrdersRequest())
    assert err.value.field == "transactions[1].localTime"
    with pytest.raises(JsonMappingError) as err:
        codec.from_json({"limit": 2**32}, order_manager_pb2.ListOrdersRequest())
    assert err.value.field == "limit"
    with pytest.raises(JsonMappingError) as err:
        codec.from_json({"fromSeq": -1}, order_manager_pb2.SubscribeUpdatesRequest())
    assert err.value.field == "fromSeq"


def test_codec_query_parameters() -> None:
    codec = JsonCodec()
    req = order_manager_pb2.ListOrdersRequest()
    codec.from_query({"sessionId": ["s"], "open_only": ["true"], "limit": ["5"]}, req)
    assert (req.session_id, req.open_only, req.limit) == ("s", True, 5)
    pos = order_manager_pb2.GetPositionRequest()
    codec.from_query({"exchange": ["binance-usdm-future"]}, pos)
    assert pos.exchange == common_pb2.EXCHANGE_BINANCE_USDM_FUTURE
    nested = order_manager_pb2.StartOrderHandlerRequest()
    codec.from_query({"exchangeKey.exchange": ["okx"]}, nested)
    assert nested.exchange_key.exchange == common_pb2.EXCHANGE_OKX
    for params, name in [
        ({"limit": ["x"]}, "limit"),
        ({"limit": ["1", "2"]}, "limit"),
        ({"openOnly": ["yes"]}, "openOnly"),
        ({"nope": ["1"]}, "nope"),
    ]:
        with pytest.raises(JsonMappingError) as err:
            codec.from_query(params, order_manager_pb2.ListOrdersRequest())
        assert err.value.field == name


def test_codec_seed003_shapes() -> None:
    codec = JsonCodec()
    balances = smart_order_pb2.GetBalancesResponse()
    balances.balances["DERIBIT"].balances.add(id="BTC", balance=1.5)
    assert codec.field_to_json(balances, "balances")["DERIBIT"][0]["balance"] == 1.5
    order = smart_order_pb2.OpenOrder(id="x")
    order.status_history.add(status="NEW", time="2024-07-24T09:41:45Z")
    assert codec.to_json(order)["status_history"] == [["NEW", "2024-07-24T09:41:45Z"]]
    feed = smart_order_pb2.SubscribeSmartOrdersResponse(
        type=smart_order_pb2.SMART_ORDER_EVENT_TYPE_TRADE_FILL,
        trade_fill=smart_order_pb2.SmartOrderTradeFill(order_id="c1", amount_filled=2),
    )
    out = codec.to_json(feed)
    assert out["Type"] == "TradeFill" and out["Data"]["OrderId"] == "c1"
    # seed 003 enum strings are case-insensitive on input, amounts may be strings
    add = smart_order_pb2.AddSmartOrderRequest()
    codec.from_json(
        {"Algorithm": "twap", "Exchanges": ["DERIBIT"], "Parameters": {"side": "Sell", "amount": "29"}}, add
    )
    assert add.algorithm == smart_order_pb2.SMART_ORDER_ALGORITHM_TWAP
    assert add.exchanges[0] == common_pb2.EXCHANGE_DERIBIT and add.parameters.amount == 29.0


# ---------------------------------------------------------------------- unary calls


async def test_set_log_level_seed_example(gw: str, http: aiohttp.ClientSession, backend: Backend) -> None:
    status, body = await post(http, gw + "/setLogLevel", SEED_SET_LOG_LEVEL)
    assert status == 200 and body == {"logLevel": "debug"}
    assert backend.calls.of("SetLogLevel")[-1].log_level == common_pb2.LOG_LEVEL_DEBUG
    assert backend.calls.metadata[-1]["x-api-key"] == KEY


async def test_start_order_handler_seed_example(gw: str, http: aiohttp.ClientSession, backend: Backend) -> None:
    status, body = await post(http, gw + "/startOrderHandler", SEED_START_ORDER_HANDLER)
    assert status == 200 and body == {"sessionId": "unique-session-id"}
    req = backend.calls.of("StartOrderHandler")[-1]
    assert req.exchange_key.exchange == common_pb2.EXCHANGE_BINANCE_SPOT
    assert req.exchange_key.secret_key == "abcd-efgh" and req.exchange_key.passphrase == "secret-password"
    assert req.ws_url == "wss://stream.binance.com" and req.interface == "eth0" and req.use_margin


async def test_send_order_seed_example(gw: str, http: aiohttp.ClientSession, backend: Backend) -> None:
    status, body = await post(http, gw + "/sendOrder", SEED_SEND_ORDER)
    assert status == 200, body
    req = backend.calls.of("SendOrder")[-1]
    assert (req.cl_order_id, req.price, req.qty) == ("cl-abcd", 124.2, 1.0)
    assert req.order_type == common_pb2.ORDER_TYPE_POSTONLY and req.tif == common_pb2.TIME_IN_FORCE_GTC
    order = body["order"]
    assert order["clOrderId"] == "cl-abcd" and order["exchange"] == "binance-spot"
    assert order["orderType"] == "postonly" and order["orderStatus"] == "pendingnew"
    assert order["transactionType"] == "insert" and order["tif"] == "gtc" and order["side"] == "buy"
    assert order["localTime"] == 1720181590000000000 and order["seq"] == 2**60 + 1  # numbers, exact
    assert order["price"] == 124.2 and order["remainingQty"] == 1
    assert "tradeLiquidity" not in order  # the zero value of an enum has no string: left out


async def test_get_position_seed_example(gw: str, http: aiohttp.ClientSession) -> None:
    status, body = await post(http, gw + "/getPosition", SEED_GET_POSITION)
    assert (status, body) == (200, {"position": 0.1})


async def test_refresh_orders_seed_example(gw: str, http: aiohttp.ClientSession, backend: Backend) -> None:
    status, body = await post(http, gw + "/refreshOrders", SEED_REFRESH_ORDERS)
    assert status == 200, body
    assert backend.calls.of("RefreshOrders")[-1].transactions[0].exch_time == 1720181590000000000
    for k, v in SEED_ORDER_TRANSACTION.items():
        assert body["orders"][0][k] == v, k


async def test_snake_case_strings_and_bearer(gw: str, http: aiohttp.ClientSession, backend: Backend) -> None:
    body = {
        "cl_order_id": "cl-2",
        "symbol": "BTCUSDT",
        "session_id": "test-session",
        "price": "100.5",
        "qty": "2",
        "order_type": "ORDER_TYPE_LIMIT",
        "transaction_type": "insert",
        "side": "sell",
    }
    status, out = await post(http, gw + "/sendOrder", body, headers={"Authorization": f"Bearer {KEY}"})
    assert status == 200, out
    req = backend.calls.of("SendOrder")[-1]
    assert (req.price, req.qty, req.side) == (100.5, 2.0, common_pb2.SIDE_SELL)
    assert backend.calls.metadata[-1]["authorization"] == f"Bearer {KEY}"


async def test_empty_body_is_an_empty_request(gw: str, http: aiohttp.ClientSession, backend: Backend) -> None:
    status, body = await post(http, gw + "/setLogLevel", raw="")
    assert (status, body) == (200, {})
    assert backend.calls.of("SetLogLevel")[-1].log_level == common_pb2.LOG_LEVEL_UNSPECIFIED


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ('{"clOrderId": "a", "side": "long"}', "side"),
        ('{"clOrderId": "a", "quantity": 1}', "quantity"),
        ('{"clOrderId": "a", "qty": "lots"}', "qty"),
        ('{"clOrderId": ["a"]}', "clOrderId"),
        ('{"clOrderId": "a", "price": NaN}', None),
        ('{"clOrderId": "a",', None),
        ("[1, 2]", None),
    ],
)
async def test_bad_input_is_400_naming_the_field_and_nothing_is_called(
    gw: str, http: aiohttp.ClientSession, backend: Backend, raw: str, name: str | None
) -> None:
    before = len(backend.calls.requests)
    status, body = await post(http, gw + "/sendOrder", raw=raw)
    assert status == 400
    assert_status(body, grpc.StatusCode.INVALID_ARGUMENT)
    if name is not None:
        assert f"'{name}'" in body["message"]
    assert len(backend.calls.requests) == before


async def test_bad_nested_field_is_named(gw: str, http: aiohttp.ClientSession) -> None:
    body = {**SEED_START_ORDER_HANDLER, "exchangeKey": {**SEED_START_ORDER_HANDLER["exchangeKey"], "exchange": "x"}}
    status, out = await post(http, gw + "/startOrderHandler", body)
    assert status == 400 and "'exchangeKey.exchange'" in out["message"]
    assert "binance-spot" in out["message"]  # lists the accepted strings
    assert "abcd-efgh" not in out["message"]  # never echoes values (they may be secrets)


async def test_grpc_errors_map_to_http(gw: str, http: aiohttp.ClientSession) -> None:
    status, body = await post(http, gw + "/getPosition", SEED_GET_POSITION, headers={})
    assert status == 401
    assert_status(body, grpc.StatusCode.UNAUTHENTICATED)
    status, body = await post(http, gw + "/getPosition", SEED_GET_POSITION, headers={"x-api-key": "wrong"})
    assert status == 401
    status, body = await post(http, gw + "/getPosition", {**SEED_GET_POSITION, "sessionId": "nope"})
    assert status == 404
    assert_status(body, grpc.StatusCode.NOT_FOUND)
    assert "nope" in body["message"]
    # the generated base class answers UNIMPLEMENTED for everything not overridden
    status, body = await post(http, gw + "/listSessions", {})
    assert status == 501
    assert_status(body, grpc.StatusCode.UNIMPLEMENTED)
    # a service not registered at all on the server: UNIMPLEMENTED too
    status, body = await post(http, gw + "/startPositionManager", {})
    assert status == 501


async def test_rich_error_details_are_rendered(gw: str, http: aiohttp.ClientSession) -> None:
    status, body = await post(http, gw + "/cancelAllOrders", {"sessionId": "test-session", "symbol": "?"})
    assert status == 400
    assert body["code"] == 3 and body["message"] == "bad symbol"
    assert body["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "symbol", "description": "unknown", "reason": ""}],
        }
    ]


async def test_unknown_route_and_wrong_method_are_status_json(gw: str, http: aiohttp.ClientSession) -> None:
    status, body = await post(http, gw + "/noSuchEndpoint", {})
    assert status == 404
    assert_status(body, grpc.StatusCode.NOT_FOUND)
    async with http.get(gw + "/sendOrder", headers=AUTH) as resp:
        assert resp.status == 405
        assert_status(await resp.json(), grpc.StatusCode.UNIMPLEMENTED)
    async with http.post(gw + "/sendOrder", data=b"{" + b" " * (5 * 1024 * 1024) + b"}", headers=AUTH) as resp:
        assert resp.status == 413
        assert_status(await resp.json(), grpc.StatusCode.RESOURCE_EXHAUSTED)


async def test_health_needs_no_key(gw: str, http: aiohttp.ClientSession) -> None:
    async with http.get(gw + "/healthz") as resp:
        assert resp.status == 200 and await resp.json() == {"status": "SERVING"}


async def test_path_variables_query_strings_and_response_body(
    gw: str, http: aiohttp.ClientSession, backend: Backend
) -> None:
    async with http.post(gw + "/v1/sor/cancel/fb7d3987-fd78", headers=AUTH) as resp:
        assert resp.status == 200 and await resp.json() == {}
    assert backend.calls.of("CancelSmartOrder")[-1].id == "fb7d3987-fd78"
    async with http.get(gw + "/v1/sor/requests", headers=AUTH) as resp:
        assert resp.status == 200
        body = await resp.json()
    # response_body "requests": the bare array, as seed 003 shows it
    assert isinstance(body, list) and body[0]["id"] == "fb7d3987"
    assert body[0]["status"] == "Cancelled" and body[0]["algorithm"] == "TWAP"
    assert body[0]["exchanges"] == ["deribit"] and body[0]["statusHistory"] == {"Running": "07/24/2024 09:41:40"}
    async with http.get(gw + "/v1/sor/balances", headers=AUTH) as resp:
        balances = await resp.json()
    assert balances["DERIBIT"][0]["balance"] == 1.5  # the wrapper message unwrapped into the bare array
    async with http.get(gw + "/v1/sor/requests", params={"nope": "1"}, headers=AUTH) as resp:
        assert resp.status == 400 and "'nope'" in (await resp.json())["message"]


# ---------------------------------------------------------------------- websockets


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await ws.receive(timeout=5)
    assert msg.type == WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def test_ws_subscribe_updates_streams_order_transactions(gw: str, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(gw + "/subscribeUpdates", headers=AUTH) as ws:
        await ws.send_json({"sessionId": "binance-spot-account", "fromSeq": 10})
        updates = [await receive_json(ws) for _ in range(3)]
        closing = await ws.receive(timeout=5)
    # response_body "transaction": each frame is the order transaction itself
    assert [u["seq"] for u in updates] == [11, 12, 13]
    for k, v in SEED_ORDER_TRANSACTION.items():
        assert updates[0][k] == v, k
    assert closing.type == WSMsgType.CLOSE and closing.data == 1000
    assert ws.close_code == 1000


async def test_ws_subscribe_positions_and_client_close_ends_the_rpc(
    gw: str, http: aiohttp.ClientSession, backend: Backend
) -> None:
    backend.calls.positions_ended.clear()
    async with http.ws_connect(gw + "/subscribePositions", headers=AUTH) as ws:
        await ws.send_str(json.dumps({"sessionId": "test-session"}))
        snapshot = await receive_json(ws)
        assert snapshot == {"sessionId": "test-session", "positions": {"BTCUSDT": 0.1, "ETHUSDT": -2.5}, "seq": 0}
        assert not backend.calls.positions_ended.is_set()
    await asyncio.wait_for(backend.calls.positions_ended.wait(), timeout=5)


@pytest.mark.parametrize(
    ("headers", "first", "code", "close_code", "needle"),
    [
        ({}, {"sessionId": "test-session"}, grpc.StatusCode.UNAUTHENTICATED, 4401, "key"),
        (AUTH, {"sessionId": "nope"}, grpc.StatusCode.NOT_FOUND, 4404, "nope"),
        (AUTH, {"sessionId": "s", "fromSeq": "x"}, grpc.StatusCode.INVALID_ARGUMENT, 4400, "'fromSeq'"),
        (AUTH, {"session": "s"}, grpc.StatusCode.INVALID_ARGUMENT, 4400, "'session'"),
        (AUTH, "not json", grpc.StatusCode.INVALID_ARGUMENT, 4400, "JSON"),
    ],
)
async def test_ws_errors_send_status_then_close(
    gw: str,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    first: Any,
    code: grpc.StatusCode,
    close_code: int,
    needle: str,
) -> None:
    async with http.ws_connect(gw + "/subscribeUpdates", headers=headers) as ws:
        if isinstance(first, str):
            await ws.send_str(first)
        else:
            await ws.send_json(first)
        body = await receive_json(ws)
        closing = await ws.receive(timeout=5)
    assert_status(body, code)
    assert needle in body["message"]
    assert closing.type == WSMsgType.CLOSE and closing.data == close_code


async def test_streaming_route_without_upgrade_is_426(gw: str, http: aiohttp.ClientSession) -> None:
    async with http.get(gw + "/subscribeUpdates", headers=AUTH) as resp:
        assert resp.status == 426
        assert_status(await resp.json(), grpc.StatusCode.FAILED_PRECONDITION)
    # the annotated verb (POST) points at the websocket
    status, body = await post(http, gw + "/subscribeUpdates", {"sessionId": "test-session"})
    assert status == 405 and "websocket" in body["message"]
    assert_status(body, grpc.StatusCode.UNIMPLEMENTED)


async def test_ws_get_route_takes_the_request_from_the_query(
    gw: str, http: aiohttp.ClientSession, backend: Backend
) -> None:
    async with http.ws_connect(gw + "/v1/sor/feed?id=abc", headers=AUTH) as ws:
        msg = await receive_json(ws)
        closing = await ws.receive(timeout=5)
    assert msg == {
        "Type": "StatusChange",
        "CompositeId": "abc",
        "Data": {"Id": "abc", "TotalFilled": 3.0, "FillsCount": 0, "Fills": []},
    }
    assert closing.data == 1000
    assert backend.calls.of("SubscribeSmartOrders")[-1].id == "abc"


async def test_ws_order_entry_is_bidirectional(gw: str, http: aiohttp.ClientSession) -> None:
    order = {k: v for k, v in SEED_SEND_ORDER.items()}
    async with http.ws_connect(gw + "/orderEntry", headers=AUTH) as ws:
        for i in range(1, 4):
            await ws.send_json({"requestId": i, "order": {**order, "clOrderId": f"cl-{i}"}})
        answers = [await receive_json(ws) for _ in range(3)]
        await ws.send_json({"requestId": 9, "order": {**order, "sessionId": "nope"}})
        rejected = await receive_json(ws)
        await ws.send_json({"requestId": 10, "order": {**order, "side": "up"}})
        bad = await receive_json(ws)
        closing = await ws.receive(timeout=5)
    assert [a["requestId"] for a in answers] == [1, 2, 3]
    assert [a["order"]["clOrderId"] for a in answers] == ["cl-1", "cl-2", "cl-3"]
    assert answers[0]["status"] == {"code": 0, "message": "", "details": []}
    assert answers[0]["order"]["orderStatus"] == "pendingnew"
    assert rejected["requestId"] == 9 and rejected["status"]["code"] == 5
    # a frame that is not a valid request ends the socket with the Status naming the field
    assert_status(bad, grpc.StatusCode.INVALID_ARGUMENT)
    assert "'order.side'" in bad["message"]
    assert closing.data == 4400


async def test_ws_slow_client_is_disconnected_and_the_rpc_cancelled(
    backend: Backend, http: aiohttp.ClientSession
) -> None:
    config = GatewayConfig(send_timeout=0.3, heartbeat=None)
    runner, url = await serve(build_gateway(backend.target, config=config))
    try:
        backend.calls.flood_ended.clear()
        ws = await http.ws_connect(url + "/subscribeUpdates", headers=AUTH, max_msg_size=0)
        try:
            await ws.send_json({"sessionId": "flood"})
            # never read: the socket fills up, the gateway's send blocks, and it gives up
            await asyncio.wait_for(backend.calls.flood_ended.wait(), timeout=20)
        finally:
            await ws.close()
    finally:
        await runner.cleanup()


async def test_ws_without_a_request_frame_times_out(backend: Backend, http: aiohttp.ClientSession) -> None:
    runner, url = await serve(build_gateway(backend.target, config=GatewayConfig(first_message_timeout=0.2)))
    try:
        async with http.ws_connect(url + "/subscribeUpdates", headers=AUTH) as ws:
            body = await receive_json(ws)
            closing = await ws.receive(timeout=5)
    finally:
        await runner.cleanup()
    assert_status(body, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert closing.data == 4504


async def test_shutdown_closes_open_websockets(backend: Backend, http: aiohttp.ClientSession) -> None:
    app = build_gateway(backend.target)
    runner, url = await serve(app)
    try:
        ws = await http.ws_connect(url + "/subscribePositions", headers=AUTH)
        await ws.send_json({"sessionId": "test-session"})
        await receive_json(ws)
        assert len(app[GATEWAY_KEY]._websockets) == 1
    finally:
        await runner.cleanup()
    closing = await ws.receive(timeout=5)
    assert closing.type == WSMsgType.CLOSE and closing.data == 1001
    await ws.close()


# ---------------------------------------------------------------------- OpenAPI


async def test_openapi_document(gw: str, http: aiohttp.ClientSession) -> None:
    async with http.get(gw + "/openapi.json") as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    for route in load_routes():
        verb = "get" if route.is_websocket else route.http_method.lower()
        assert verb in doc["paths"][route.template], route.template
    send = doc["paths"]["/sendOrder"]["post"]
    body_schema = send["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/SendOrderRequest"}
    schemas = doc["components"]["schemas"]
    props = schemas["OrderTransaction"]["properties"]
    assert set(SEED_ORDER_TRANSACTION) <= set(props)
    assert props["localTime"] == {**props["localTime"], "type": "integer", "format": "int64"}
    assert props["price"]["type"] == "number" and props["price"]["format"] == "double"
    assert props["orderStatus"] == {"$ref": "#/components/schemas/OrderStatus"}
    statuses = set(schemas["OrderStatus"]["enum"])
    assert {"new", "partiallyfilled", "filled", "cancelled", "rejected", "expired"} <= statuses
    assert "binance-spot" in schemas["Exchange"]["enum"]
    assert set(schemas["SendOrderRequest"]["required"]) >= {"clOrderId", "symbol", "sessionId", "transactionType"}
    assert schemas["SendOrderRequest"]["additionalProperties"] is False
    assert schemas["google.rpc.Status"]["properties"]["code"]["type"] == "integer"
    assert doc["components"]["securitySchemes"]["ApiKeyHeader"] == {
        **doc["components"]["securitySchemes"]["ApiKeyHeader"],
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }
    ws = doc["paths"]["/subscribeUpdates"]["get"]
    assert "101" in ws["responses"]
    assert ws["x-execx-websocket"]["serverMessage"] == {"$ref": "#/components/schemas/OrderTransaction"}
    assert doc["paths"]["/healthz"]["get"]["security"] == []


def _clear_json_names(messages: Any) -> None:
    for m in messages:
        for f in m.field:
            f.ClearField("json_name")
        _clear_json_names(m.nested_type)


def test_descriptor_set_with_comments_matches_the_generated_code() -> None:
    """scripts/gen_proto.sh writes the comments next to the _pb2 modules; it must not be stale."""
    modules = api_modules()
    directory = Path(modules[0].__file__ or "").parent
    fds = descriptor_pb2.FileDescriptorSet.FromString((directory / DESCRIPTOR_SET_NAME).read_bytes())
    with_comments = {f.name: f for f in fds.file}
    assert sorted(with_comments) == sorted(m.DESCRIPTOR.name for m in modules)
    for module in modules:
        stripped = descriptor_pb2.FileDescriptorProto()
        stripped.CopyFrom(with_comments[module.DESCRIPTOR.name])
        stripped.ClearField("source_code_info")
        compiled = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        for proto in (stripped, compiled):  # protoc's python output leaves default json_names out
            _clear_json_names(proto.message_type)
            for ext in proto.extension:
                ext.ClearField("json_name")
        assert stripped == compiled, f"{module.DESCRIPTOR.name}: run scripts/gen_proto.sh"
    comments = load_comments()
    assert comments.get("execx.v1.OrderTransaction.local_time").startswith("When execx produced this update")


async def test_openapi_descriptions_come_from_proto_comments(gw: str, http: aiohttp.ClientSession) -> None:
    async with http.get(gw + "/openapi.json") as resp:
        doc = await resp.json()
    send = doc["paths"]["/sendOrder"]["post"]
    assert send["description"].startswith("Send a new order to the exchange")
    props = doc["components"]["schemas"]["OrderTransaction"]["properties"]
    assert "ns since the epoch" in props["localTime"]["description"]
    assert "`binance-spot`" in doc["components"]["schemas"]["Exchange"]["description"]
