"""Binance spot behaviour the client libraries do not reach: exact error codes and bodies,
cancelReplace partial failures, rate limits, fault injection, STP events, the WebSocket API's frame
rules and the market-stream control frames. Requests are signed here as the docs describe."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.core.types import Side
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_binance_spot_ccxt import admin, best_bid_ask, spot_frontend
from waiting import eventually
from yarl import URL

Reply = tuple[int, dict[str, str], Any]


class Client:
    """A minimal signed Binance spot client (REST + WebSocket API), written from the docs."""

    def __init__(self, session: aiohttp.ClientSession, sim: Simulator, account: Account) -> None:
        self.session = session
        self.urls = sim.ready["venues"]["binance-spot"]
        self.account = account

    def sign(self, params: dict[str, Any], secret: str | None = None) -> str:
        query = urlencode(params)
        sig = hmac.new((secret or self.account.secret_key).encode(), query.encode(), hashlib.sha256).hexdigest()
        return f"{query}&signature={sig}"

    async def rest(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        signed: bool = True,
        secret: str | None = None,
    ) -> Reply:
        params = dict(params or {})
        if signed:
            params.setdefault("timestamp", int(time.time() * 1000))
            query = self.sign(params, secret)
        else:
            query = urlencode(params)
        url = URL(f"{self.urls['rest']}{path}?{query}", encoded=True)  # sent exactly as signed
        headers = {"X-MBX-APIKEY": self.account.api_key}
        async with self.session.request(method, url, headers=headers) as resp:
            return resp.status, dict(resp.headers), await resp.json()

    def ws_params(self, params: dict[str, Any]) -> dict[str, Any]:
        params = {"apiKey": self.account.api_key, "timestamp": int(time.time() * 1000), **params}
        payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        params["signature"] = hmac.new(self.account.secret_key.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return params


@pytest.fixture
async def client(sim: Simulator, account: Account) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, sim, account)


async def ws_call(
    ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any], others: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Send one request and return its response; other frames (events) go to ``others``."""
    await ws.send_str(json.dumps(frame))
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        if "id" in msg and msg["id"] == frame.get("id"):
            return dict(msg)
        if others is not None:
            others.append(msg)


def limit_order(symbol: str, side: str, qty: str, price: Decimal | str, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "side": side,
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": qty,
        "price": str(price),
        **extra,
    }


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("params", "code", "msg"),
    [
        (
            {"side": "BUY", "type": "LIMIT"},
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        ),
        ({"symbol": "NOPE", "side": "BUY", "type": "MARKET", "quantity": "1"}, -1121, "Invalid symbol."),
        ({"symbol": "BTCUSDT", "side": "UP", "type": "MARKET", "quantity": "1"}, -1117, "Invalid side."),
        ({"symbol": "BTCUSDT", "side": "BUY", "type": "ICEBERG", "quantity": "1"}, -1116, "Invalid orderType."),
        (limit_order("BTCUSDT", "BUY", "0.001", "96000", timeInForce="GTX"), -1115, "Invalid timeInForce."),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "96000"},
            -1102,
            "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
        ),
        (
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT_MAKER",
                "quantity": "0.001",
                "price": "96000",
                "timeInForce": "GTC",
            },
            -1106,
            "Parameter 'timeInForce' sent when not required.",
        ),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001", "price": "96000"},
            -1106,
            "Parameter 'price' sent when not required.",
        ),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"},
            -1102,
            "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
        ),
        (limit_order("BTCUSDT", "BUY", "0.001", "96000.001"), -1013, "Filter failure: PRICE_FILTER"),
        (limit_order("BTCUSDT", "BUY", "0.000001", "96000"), -1013, "Filter failure: LOT_SIZE"),
        (limit_order("BTCUSDT", "BUY", "0.00001", "96000"), -1013, "Filter failure: NOTIONAL"),
        (limit_order("BTCUSDT", "BUY", "0.001", "960000"), -1013, "Filter failure: PERCENT_PRICE_BY_SIDE"),
        (limit_order("BTCUSDT", "BUY", "1e-3", "96000"), -1100, None),
        (limit_order("BTCUSDT", "BUY", "0.001", "96000", newClientOrderId="bad id!"), -1100, None),
        (limit_order("BTCUSDT", "BUY", "5", "96000"), -2010, "Account has insufficient balance for requested action."),
        (
            {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS", "quantity": "0.001"},
            -1102,
            "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!",
        ),
        (
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_LOSS",
                "quantity": "0.001",
                "stopPrice": "90000",
                "price": "89000",
            },
            -1106,
            "Parameter 'price' sent when not required.",
        ),
        (
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_LOSS_LIMIT",
                "quantity": "0.001",
                "price": "89000",
                "stopPrice": "90000",
            },
            -1102,
            "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
        ),
        (
            {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS", "quantity": "0.001", "trailingDelta": "5000"},
            -1013,
            "Filter failure: TRAILING_DELTA",
        ),
        (
            limit_order("BTCUSDT", "BUY", "0.001", "96000", stopPrice="95000"),
            -1106,
            "Parameter 'stopPrice' sent when not required.",
        ),
        (
            limit_order("BTCUSDT", "BUY", "0.01", "96000", icebergQty="0.001"),
            -2010,
            "Iceberg orders are not supported for this symbol.",
        ),
        (
            limit_order("BTCUSDT", "BUY", "0.001", "96000", newOrderRespType="ALL"),
            -1130,
            "Data sent for parameter 'newOrderRespType' is not valid.",
        ),
        (limit_order("BTCUSDT", "BUY", "0.001", "96000.000000001"), -1111, "Parameter 'price' has too much precision."),
    ],
)
async def test_new_order_errors(client: Client, params: dict[str, Any], code: int, msg: str | None) -> None:
    status, _, body = await client.rest("POST", "/api/v3/order", params)
    assert status == 400 and body["code"] == code, body
    if msg is not None:
        assert body["msg"] == msg


async def test_limit_maker_would_take(client: Client, sim: Simulator) -> None:
    _, ask = best_bid_ask(sim)
    status, _, body = await client.rest(
        "POST",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.001", "price": str(ask)},
    )
    assert (status, body) == (400, {"code": -2010, "msg": "Order would immediately match and take."})
    status, _, body = await client.rest("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
    assert body == []


async def test_auth_errors(client: Client) -> None:
    old = int(time.time() * 1000) - 10_000
    status, _, body = await client.rest("GET", "/api/v3/account", {"timestamp": old})
    assert (status, body["code"]) == (400, -1021)
    assert body["msg"] == "Timestamp for this request is outside of the recvWindow."
    status, _, body = await client.rest("GET", "/api/v3/account", {"timestamp": old, "recvWindow": 20_000})
    assert status == 200
    status, _, body = await client.rest("GET", "/api/v3/account", {"timestamp": int(time.time() * 1000) + 5000})
    assert body["code"] == -1021
    status, _, body = await client.rest("GET", "/api/v3/account", secret="wrong")
    assert (status, body) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})
    status, _, body = await client.rest("GET", "/api/v3/account", signed=False)
    assert body["code"] == -1102  # signature / timestamp missing
    client.account = Account("nobody", "unknown-key", "x")
    status, _, body = await client.rest("GET", "/api/v3/account")
    assert (status, body["code"]) == (401, -2015)


async def test_unknown_orders(client: Client) -> None:
    status, _, body = await client.rest("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 1})
    assert (status, body) == (400, {"code": -2013, "msg": "Order does not exist."})
    status, _, body = await client.rest("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "x"})
    assert (status, body) == (400, {"code": -2011, "msg": "Unknown order sent."})
    status, _, body = await client.rest("DELETE", "/api/v3/order", {"symbol": "BTCUSDT"})
    assert body["code"] == -1102


# ---------------------------------------------------------------------------------------------- orders


async def test_response_types_and_queries(client: Client, sim: Simulator) -> None:
    _, ask = best_bid_ask(sim, "ETHUSDT")
    _, headers, ack = await client.rest(
        "POST",
        "/api/v3/order",
        {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01", "newOrderRespType": "ACK"},
    )
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    assert headers["X-MBX-ORDER-COUNT-10S"] == "1" and headers["X-MBX-ORDER-COUNT-1D"] == "1"
    _, _, result = await client.rest(
        "POST",
        "/api/v3/order",
        {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01", "newOrderRespType": "RESULT"},
    )
    assert "fills" not in result and result["status"] == "FILLED" and result["executedQty"] == "0.01000000"
    _, _, full = await client.rest(
        "POST", "/api/v3/order", {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
    )
    assert full["fills"] == [
        {
            "price": f"{ask:.8f}",
            "qty": "0.01000000",
            "commission": "0.00001000",
            "commissionAsset": "ETH",
            "tradeId": full["fills"][0]["tradeId"],
        }
    ]
    assert full["cummulativeQuoteQty"] == f"{ask * Decimal('0.01'):.8f}"
    _, _, maker_ack = await client.rest(
        "POST",
        "/api/v3/order",
        {"symbol": "ETHUSDT", "side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.01", "price": str(ask + 10)},
    )
    assert "status" not in maker_ack  # LIMIT_MAKER defaults to ACK
    _, _, query = await client.rest(
        "GET", "/api/v3/order", {"symbol": "ETHUSDT", "origClientOrderId": maker_ack["clientOrderId"]}
    )
    assert query["type"] == "LIMIT_MAKER" and query["timeInForce"] == "GTC" and query["isWorking"] is True
    _, _, orders = await client.rest("GET", "/api/v3/allOrders", {"symbol": "ETHUSDT"})
    assert [o["orderId"] for o in orders] == [ack["orderId"], result["orderId"], full["orderId"], maker_ack["orderId"]]
    _, _, trades = await client.rest("GET", "/api/v3/myTrades", {"symbol": "ETHUSDT", "orderId": full["orderId"]})
    assert [t["id"] for t in trades] == [full["fills"][0]["tradeId"]] and trades[0]["isBuyer"] is True
    status, _, test = await client.rest(
        "POST", "/api/v3/order/test", {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
    )
    assert (status, test) == (200, {})


async def test_cancel_replace_outcomes(client: Client, sim: Simulator) -> None:
    bid, ask = best_bid_ask(sim)
    _, _, resting = await client.rest("POST", "/api/v3/order", limit_order("BTCUSDT", "BUY", "0.001", bid - 50))
    replace = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT_MAKER",
        "quantity": "0.001",
        "cancelReplaceMode": "STOP_ON_FAILURE",
    }
    # the cancel succeeds, the new post-only order would take: 409 -2021
    status, _, body = await client.rest(
        "POST", "/api/v3/order/cancelReplace", {**replace, "price": str(ask), "cancelOrderId": resting["orderId"]}
    )
    assert status == 409 and body["code"] == -2021 and body["msg"] == "Order cancel-replace partially failed."
    data = body["data"]
    assert data["cancelResult"] == "SUCCESS" and data["newOrderResult"] == "FAILURE"
    assert data["cancelResponse"]["status"] == "CANCELED" and data["cancelResponse"]["orderId"] == resting["orderId"]
    assert data["newOrderResponse"] == {"code": -2010, "msg": "Order would immediately match and take."}
    # STOP_ON_FAILURE with an unknown order: 400 -2022, nothing attempted
    status, _, body = await client.rest(
        "POST", "/api/v3/order/cancelReplace", {**replace, "price": str(bid - 60), "cancelOrderId": resting["orderId"]}
    )
    assert status == 400 and body["code"] == -2022
    assert body["data"] == {
        "cancelResult": "FAILURE",
        "newOrderResult": "NOT_ATTEMPTED",
        "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
        "newOrderResponse": None,
    }
    # ALLOW_FAILURE: the new order goes in anyway: 409 with newOrderResult SUCCESS
    status, _, body = await client.rest(
        "POST",
        "/api/v3/order/cancelReplace",
        {**replace, "price": str(bid - 60), "cancelOrderId": resting["orderId"], "cancelReplaceMode": "ALLOW_FAILURE"},
    )
    assert status == 409 and body["data"]["cancelResult"] == "FAILURE"
    assert body["data"]["newOrderResult"] == "SUCCESS" and "orderId" in body["data"]["newOrderResponse"]
    # filters are checked before anything happens
    status, _, body = await client.rest(
        "POST",
        "/api/v3/order/cancelReplace",
        {**replace, "price": "1.001", "cancelOrderId": body["data"]["newOrderResponse"]["orderId"]},
    )
    assert (status, body) == (400, {"code": -1013, "msg": "Filter failure: PRICE_FILTER"})
    _, _, still_open = await client.rest("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
    assert len(still_open) == 1


async def test_amend_keep_priority(client: Client, sim: Simulator) -> None:
    bid, _ = best_bid_ask(sim, "ETHUSDT")
    _, _, first = await client.rest("POST", "/api/v3/order", limit_order("ETHUSDT", "BUY", "0.5", bid))
    _, _, second = await client.rest("POST", "/api/v3/order", limit_order("ETHUSDT", "BUY", "0.5", bid))
    for qty, msg in (
        ("0.5", "The requested action would change no state; rejecting"),
        ("0.6", "Order amend (quantity increase) is not supported."),
    ):
        status, _, body = await client.rest(
            "PUT", "/api/v3/order/amend/keepPriority", {"symbol": "ETHUSDT", "orderId": first["orderId"], "newQty": qty}
        )
        assert (status, body) == (400, {"code": -2038, "msg": msg})
    status, _, body = await client.rest(
        "PUT",
        "/api/v3/order/amend/keepPriority",
        {"symbol": "ETHUSDT", "orderId": first["orderId"], "newQty": "0.2", "newClientOrderId": "amended-1"},
    )
    assert status == 200 and body["amendedOrder"]["qty"] == "0.20000000"
    assert body["amendedOrder"]["clientOrderId"] == "amended-1"
    assert body["amendedOrder"]["origClientOrderId"] == first["clientOrderId"]
    # priority kept: a sell at the bid fills the amended (first) order before the second one
    await admin(
        sim,
        "/admin/market/trade",
        {"market": "binance-spot", "symbol": "ETHUSDT", "price": str(bid), "qty": "0.2", "aggressor": "SELL"},
    )
    _, _, first_now = await client.rest("GET", "/api/v3/order", {"symbol": "ETHUSDT", "orderId": first["orderId"]})
    _, _, second_now = await client.rest("GET", "/api/v3/order", {"symbol": "ETHUSDT", "orderId": second["orderId"]})
    assert first_now["status"] == "FILLED" and second_now["status"] == "NEW"


# ---------------------------------------------------------------------------------------------- limits, faults


async def test_rate_limit_then_ban() -> None:
    async with Simulator(quiet=True) as other, aiohttp.ClientSession() as session:
        spot_frontend(other).limiter.limits[0].limit = 3
        rest = other.ready["venues"]["binance-spot"]["rest"]
        for expected in ("1", "2", "3"):
            async with session.get(rest + "/api/v3/ping") as resp:
                assert resp.status == 200 and resp.headers["X-MBX-USED-WEIGHT-1M"] == expected
        async with session.get(rest + "/api/v3/ping") as resp:
            assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
            assert (await resp.json())["code"] == -1003
        async with session.get(rest + "/api/v3/ping") as resp:
            assert resp.status == 418 and int(resp.headers["Retry-After"]) > 0
            body = await resp.json()
            assert body["code"] == -1003 and "banned until" in body["msg"]


async def test_injected_faults(client: Client, sim: Simulator, account: Account) -> None:
    bid, _ = best_bid_ask(sim)
    base = "/admin/faults/binance-spot"
    try:
        await admin(sim, base, {"reject_orders": 1, "reject_message": "Rejected for the test."})
        status, _, body = await client.rest("POST", "/api/v3/order", limit_order("BTCUSDT", "BUY", "0.001", bid - 70))
        assert (status, body) == (400, {"code": -2010, "msg": "Rejected for the test."})

        await admin(sim, base, {"unknown_outcome": 1})
        params = limit_order("BTCUSDT", "BUY", "0.001", bid - 70, newClientOrderId="maybe-live")
        status, _, body = await client.rest("POST", "/api/v3/order", params)
        assert (status, body["code"]) == (503, -1007)
        status, _, body = await client.rest(
            "GET", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "maybe-live"}
        )
        assert status == 200 and body["status"] == "NEW"  # it did reach the engine

        await admin(sim, base, {"slow_ack_ms": 300})
        market = sim.exchange.markets["binance-spot"]
        task = asyncio.create_task(
            client.rest(
                "POST", "/api/v3/order", limit_order("BTCUSDT", "BUY", "0.001", bid - 71, newClientOrderId="slow-one")
            )
        )
        await eventually(lambda: any(o.client_id == "slow-one" for o in market.open_orders(account)), within_s=5.0)
        assert not task.done()  # in the book, answer still pending
        status, _, body = await task
        assert status == 200 and body["clientOrderId"] == "slow-one"
        await admin(sim, base, {"slow_ack_ms": 0, "rate_limit": 1, "ban": 1, "http_5xx": 1})
        statuses = [(await client.rest("GET", "/api/v3/time", signed=False))[0] for _ in range(4)]
        assert statuses == [418, 429, 503, 200]
    finally:
        async with aiohttp.ClientSession() as s, s.delete(sim.ready["admin"] + base) as resp:
            assert resp.status == 200


# ---------------------------------------------------------------------------------------------- WebSocket API


async def test_ws_api_frames(client: Client, sim: Simulator) -> None:
    async with client.session.ws_connect(client.urls["wsApi"]) as ws:
        reply = await ws_call(ws, {"id": 1, "method": "ping"})
        assert reply["status"] == 200 and reply["result"] == {}
        assert reply["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
        reply = await ws_call(ws, {"id": "t", "method": "time", "params": {"returnRateLimits": False}})
        assert "rateLimits" not in reply and reply["result"]["serverTime"] > 0
        reply = await ws_call(ws, {"id": 2, "method": "account.status", "params": {}})
        assert reply["status"] == 400 and reply["error"]["code"] == -1102
        params = client.ws_params({})
        params["signature"] = "0" * 64
        reply = await ws_call(ws, {"id": 3, "method": "account.status", "params": params})
        assert reply["error"] == {"code": -1022, "msg": "Signature for this request is not valid."}
        reply = await ws_call(ws, {"id": 4, "method": "exchangeInfo", "params": {"symbols": ["ETHBTC"]}})
        assert [s["symbol"] for s in reply["result"]["symbols"]] == ["ETHBTC"]
        reply = await ws_call(
            ws,
            {
                "id": 5,
                "method": "v3/order.place",
                "params": client.ws_params(limit_order("BTCUSDT", "BUY", "0.001", "95000", newOrderRespType="RESULT")),
            },
        )
        assert reply["status"] == 200 and reply["result"]["status"] == "NEW"
        assert {r["rateLimitType"] for r in reply["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
        reply = await ws_call(ws, {"id": 6, "method": "session.logon", "params": client.ws_params({})})
        assert reply["result"]["apiKey"] == client.account.api_key
        # logged on: apiKey and signature may be omitted, timestamp is still required
        reply = await ws_call(
            ws,
            {
                "id": 7,
                "method": "openOrders.status",
                "params": {"symbol": "BTCUSDT", "timestamp": int(time.time() * 1000)},
            },
        )
        assert reply["status"] == 200 and len(reply["result"]) == 1
        reply = await ws_call(ws, {"id": 8, "method": "nope.nothing"})
        assert reply["status"] == 400
    async with client.session.ws_connect(client.urls["wsApi"] + "?returnRateLimits=false") as ws:
        reply = await ws_call(ws, {"id": 1, "method": "ping"})
        assert reply == {"id": 1, "status": 200, "result": {}}
        reply = await ws_call(ws, {"id": 2, "method": "ping", "params": {"returnRateLimits": True}})
        assert reply["rateLimits"][0]["count"] > 0


async def test_ws_api_stp_event(client: Client, sim: Simulator) -> None:
    """A taker meeting its own maker with EXPIRE_MAKER: the maker is EXPIRED_IN_MATCH (TRADE_PREVENTION)."""
    bid, _ = best_bid_ask(sim, "BNBUSDT")
    async with client.session.ws_connect(client.urls["wsApi"]) as ws:
        reply = await ws_call(
            ws, {"id": 1, "method": "userDataStream.subscribe.signature", "params": client.ws_params({})}
        )
        sub = reply["result"]["subscriptionId"]
        maker_price = bid + Decimal("0.01")
        frames: list[dict[str, Any]] = []
        await ws_call(
            ws,
            {
                "id": 2,
                "method": "order.place",
                "params": client.ws_params(
                    limit_order("BNBUSDT", "BUY", "1", maker_price, newClientOrderId="own-maker")
                ),
            },
            frames,
        )
        await ws_call(
            ws,
            {
                "id": 3,
                "method": "order.place",
                "params": client.ws_params(
                    limit_order(
                        "BNBUSDT",
                        "SELL",
                        "1",
                        maker_price,
                        timeInForce="IOC",
                        selfTradePreventionMode="EXPIRE_MAKER",
                        newClientOrderId="own-taker",
                    )
                ),
            },
            frames,
        )
        while not any(f["event"].get("x") == "TRADE_PREVENTION" for f in frames if "event" in f):
            frames.append(await asyncio.wait_for(ws.receive_json(), 5))
        assert {f["subscriptionId"] for f in frames if "event" in f} == {sub}
        events = [f["event"] for f in frames if "event" in f]
        reply = await ws_call(
            ws, {"id": 4, "method": "userDataStream.unsubscribe", "params": {"subscriptionId": sub}}, frames
        )
        assert reply["result"] == {}
        assert frames[-1]["event"]["e"] == "eventStreamTerminated" and frames[-1]["subscriptionId"] == sub
        events = [f["event"] for f in frames if "event" in f]
        prevented = next(e for e in events if e.get("x") == "TRADE_PREVENTION")
        assert prevented["c"] == "own-maker" and prevented["X"] == "EXPIRED_IN_MATCH"
        assert prevented["V"] == "EXPIRE_MAKER"


# ---------------------------------------------------------------------------------------------- streams


async def test_streams_control_and_combined(client: Client, sim: Simulator) -> None:
    bid, _ = best_bid_ask(sim, "SOLUSDT")
    stream = client.urls["stream"]
    async with (
        client.session.ws_connect(stream + "/stream?streams=solusdt@trade/solusdt@bookTicker") as combined,
        client.session.ws_connect(stream + "/ws") as raw,
    ):
        # depth5@100ms pushes every 100 ms from the subscription on: its frames may come between the answers
        pushed: list[dict[str, Any]] = []
        subscribe = {"method": "SUBSCRIBE", "params": ["solusdt@aggTrade", "solusdt@depth5@100ms"], "id": 1}
        assert await ws_call(raw, subscribe, pushed) == {"result": None, "id": 1}
        listed = await ws_call(raw, {"method": "LIST_SUBSCRIPTIONS", "id": 2}, pushed)
        assert listed == {"result": ["solusdt@aggTrade", "solusdt@depth5@100ms"], "id": 2}
        got = await ws_call(raw, {"method": "GET_PROPERTY", "params": ["combined"], "id": 3}, pushed)
        assert got == {"result": False, "id": 3}
        depth = pushed[0] if pushed else await asyncio.wait_for(raw.receive_json(), 5)
        assert len(depth["bids"]) == 5 and "lastUpdateId" in depth
        await raw.send_json({"method": "UNSUBSCRIBE", "params": ["solusdt@depth5@100ms"], "id": 4})
        await eventually(lambda: "solusdt@depth5@100ms" not in spot_frontend(sim).streams.by_stream, within_s=5.0)

        await admin(
            sim,
            "/admin/market/trade",
            {"market": "binance-spot", "symbol": "SOLUSDT", "price": str(bid), "qty": "2", "aggressor": "SELL"},
        )
        seen: dict[str, dict[str, Any]] = {}
        while set(seen) != {"solusdt@trade", "solusdt@bookTicker"}:
            msg = await asyncio.wait_for(combined.receive_json(), 5)
            seen[msg["stream"]] = msg["data"]
        trade = seen["solusdt@trade"]
        assert trade["e"] == "trade" and trade["p"] == f"{bid:.8f}" and trade["q"] == "2.00000000"
        assert trade["m"] is True  # the buyer was the maker: the aggressor sold
        assert set(seen["solusdt@bookTicker"]) == {"u", "s", "b", "B", "a", "A"}
        while True:
            agg = await asyncio.wait_for(raw.receive_json(), 5)
            if agg.get("e") == "aggTrade":
                break
        assert agg["p"] == f"{bid:.8f}" and agg["m"] is True

        dropped = await admin(sim, "/admin/faults/binance-spot/drop", {})
        assert dropped["dropped"] >= 2
        closing = await asyncio.wait_for(raw.receive(), 5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


def test_kline_boundaries() -> None:
    # 2026-11-18 is a Wednesday: its week opens Monday 2026-11-16 00:00 UTC, its month on 2026-11-01.
    from datetime import UTC, datetime

    from execx_sim.venues.binance.spot_wire import kline_open

    ts = int(datetime(2026, 11, 18, 13, 7, 5, tzinfo=UTC).timestamp() * 1000)
    monday = int(datetime(2026, 11, 16, tzinfo=UTC).timestamp() * 1000)
    assert kline_open("1w", ts) == (monday, monday + 7 * 86_400_000 - 1)
    first = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
    december = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
    assert kline_open("1M", ts) == (first, december - 1)
    hour = int(datetime(2026, 11, 18, 13, tzinfo=UTC).timestamp() * 1000)
    assert kline_open("1h", ts) == (hour, hour + 3_599_999)


# ---------------------------------------------------------------------------------------------- fuzz

_ANY_TEXT = st.text(max_size=12)
_DECIMALS = st.decimals(min_value=-10, max_value=200_000, places=6, allow_nan=False, allow_infinity=False)
_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.sampled_from(["BTCUSDT", "ETHBTC", "btcusdt", "NOPE", ""]) | _ANY_TEXT,
    "side": st.sampled_from(["BUY", "SELL", "buy", ""]) | _ANY_TEXT,
    "type": st.sampled_from(["LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS", "limit"]) | _ANY_TEXT,
    "timeInForce": st.sampled_from(["GTC", "IOC", "FOK", "GTX"]) | _ANY_TEXT,
    "quantity": _DECIMALS.map(str) | _ANY_TEXT,
    "quoteOrderQty": _DECIMALS.map(str) | _ANY_TEXT,
    "price": _DECIMALS.map(str) | _ANY_TEXT,
    "newClientOrderId": st.from_regex(r"[a-zA-Z0-9_-]{1,40}", fullmatch=True) | _ANY_TEXT,
    "newOrderRespType": st.sampled_from(["ACK", "RESULT", "FULL", "NOPE"]),
    "selfTradePreventionMode": st.sampled_from(["NONE", "EXPIRE_MAKER", "DECREMENT", "x"]),
    "recvWindow": st.integers(-5, 70_000).map(str) | _ANY_TEXT,
}
_ORDER_PARAMS = st.fixed_dictionaries({}, optional=_FIELDS)
_JSON_VALUE = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False) | _ANY_TEXT


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(params=_ORDER_PARAMS)
async def test_fuzz_rest_new_order(sim: Simulator, params: dict[str, Any]) -> None:
    """Whatever the parameters, the answer is Binance's: 200 or a {code, msg} error, never a 5xx."""
    account = fuzz_account(sim)
    async with aiohttp.ClientSession() as session:
        status, _, body = await Client(session, sim, account).rest("POST", "/api/v3/order", params)
    assert status < 500, body
    if status != 200:
        assert set(body) == {"code", "msg"} and body["code"] < 0


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(params=st.dictionaries(st.sampled_from(sorted(_FIELDS)), _JSON_VALUE, max_size=8))
async def test_fuzz_ws_order_place(sim: Simulator, params: dict[str, Any]) -> None:
    account = fuzz_account(sim)
    async with aiohttp.ClientSession() as session:
        client = Client(session, sim, account)
        async with session.ws_connect(client.urls["wsApi"]) as ws:
            reply = await ws_call(ws, {"id": 1, "method": "order.place", "params": client.ws_params(params)})
    assert reply["status"] < 500, reply
    if reply["status"] != 200:
        assert reply["error"]["code"] < 0


def fuzz_account(sim: Simulator) -> Account:
    account = sim.exchange.accounts.get("spot-fuzz")
    if account is None:
        account = sim.exchange.create_account("spot-fuzz")
        sim.fund_default(account)
    return account


@contextlib.asynccontextmanager
async def own_sim_at_ask() -> AsyncIterator[tuple[Simulator, Account, Decimal]]:
    """A simulator of the test's own (it prints trades), a funded account, and a print at the best ask."""
    sim = Simulator(quiet=True, seed=12)
    await sim.start()
    try:
        account = sim.exchange.create_account()
        sim.fund_default(account)
        _, ask = best_bid_ask(sim, "BTCUSDT")
        sim.synthetic.print_trade("binance-spot", "BTCUSDT", ask, Decimal("0.001"), Side.BUY)
        yield sim, account, ask
    finally:
        await sim.stop()


async def test_contingent_order_on_the_ws_api_held_then_fired_once() -> None:
    """``order.place`` of a STOP_LOSS_LIMIT buy (stopPrice) and a trailing STOP_LOSS sell (trailingDelta, BIPS)
    on a simulator of the test's own (it prints trades). On the wire: the response NEW with ``workingTime`` -1;
    the ``executionReport`` NEW with ``P`` the stop price, ``w`` false and no ``W`` (not working); a print at
    the stop price: the same orderId NEW again, now working (``w``, ``W``), then TRADE FILLED, each once;
    ``order.status`` while held: ``isWorking`` false. The trailing one reports ``d``; a level the last price
    already reached is -2010 "Stop price would trigger immediately." and nothing is held."""
    async with own_sim_at_ask() as (sim, account, ask):
        venue, symbol = "binance-spot", "BTCUSDT"
        async with aiohttp.ClientSession() as session:
            client = Client(session, sim, account)
            async with session.ws_connect(client.urls["wsApi"]) as ws:
                frames: list[dict[str, Any]] = []
                reply = await ws_call(
                    ws, {"id": 1, "method": "userDataStream.subscribe.signature", "params": client.ws_params({})}
                )
                stop = {
                    "symbol": symbol,
                    "side": "BUY",
                    "type": "STOP_LOSS_LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "0.01",
                    "price": str(ask + 100),
                    "newClientOrderId": "stop-buy-1",
                    "newOrderRespType": "RESULT",  # (ACK is the default of the contingent types)
                }
                crossed = await ws_call(
                    ws,
                    {"id": 2, "method": "order.place", "params": client.ws_params({**stop, "stopPrice": str(ask - 1)})},
                    frames,
                )
                assert crossed["status"] == 400 and crossed["error"] == {
                    "code": -2010,
                    "msg": "Stop price would trigger immediately.",
                }
                reply = await ws_call(
                    ws,
                    {
                        "id": 3,
                        "method": "order.place",
                        "params": client.ws_params({**stop, "stopPrice": str(ask + 20)}),
                    },
                    frames,
                )
                placed = reply["result"]
                assert (placed["status"], placed["type"], placed["workingTime"], placed["stopPrice"]) == (
                    "NEW",
                    "STOP_LOSS_LIMIT",
                    -1,
                    f"{ask + 20:.8f}",
                )
                status = await ws_call(
                    ws,
                    {
                        "id": 4,
                        "method": "order.status",
                        "params": client.ws_params({"symbol": symbol, "orderId": placed["orderId"]}),
                    },
                    frames,
                )
                assert (status["result"]["status"], status["result"]["isWorking"]) == ("NEW", False)
                trailing = await ws_call(
                    ws,
                    {
                        "id": 5,
                        "method": "order.place",
                        "params": client.ws_params(
                            {
                                "symbol": symbol,
                                "side": "SELL",
                                "type": "STOP_LOSS",
                                "quantity": "0.01",
                                "trailingDelta": "200",
                                "newOrderRespType": "RESULT",
                            }
                        ),
                    },
                    frames,
                )
                assert trailing["result"]["trailingDelta"] == 200
                sim.synthetic.print_trade(venue, symbol, ask + 20, Decimal("0.001"), Side.BUY)

                def mine() -> list[dict[str, Any]]:
                    return [f["event"] for f in frames if f.get("event", {}).get("c") == "stop-buy-1"]

                while not any(e["X"] == "FILLED" for e in mine()):
                    frames.append(await asyncio.wait_for(ws.receive_json(), 10))
                while True:  # what else had come: nothing more for it
                    try:
                        frames.append(await asyncio.wait_for(ws.receive_json(), 0.2))
                    except TimeoutError:
                        break
                events = mine()
                assert [(e["x"], e["X"]) for e in events] == [("NEW", "NEW"), ("NEW", "NEW"), ("TRADE", "FILLED")]
                held, fired, filled = events
                assert {e["i"] for e in events} == {placed["orderId"]}
                assert all(e["o"] == "STOP_LOSS_LIMIT" and e["P"] == f"{ask + 20:.8f}" for e in events)
                assert held["w"] is False and "W" not in held
                assert fired["w"] is True and fired["W"] > 0 and filled["W"] == fired["W"]
                trail_events = [
                    f["event"] for f in frames if f.get("event", {}).get("i") == trailing["result"]["orderId"]
                ]
                assert trail_events and all(e["d"] == 200 and e["o"] == "STOP_LOSS" for e in trail_events)
                assert trail_events[-1]["X"] == "NEW" and "W" not in trail_events[-1]


async def test_oco_order_list_on_the_wire() -> None:
    """``POST /api/v3/orderList/oco`` (and ``orderList.place.oco``) on a simulator of the test's own (it prints
    trades): a SELL OCO, LIMIT_MAKER above the last price and STOP_LOSS_LIMIT below, is placed as two orders of
    one ``orderListId`` (``listStatus`` EXEC_STARTED / EXECUTING, each leg's ``executionReport`` with ``g``);
    the last price falling to the stop fires it and expires the limit maker (``eR`` OCO_TRIGGER; ``listStatus``
    ALL_DONE once).
    Prices on the wrong side are -2010 "The relationship of the prices for the orders is not correct."; a
    cancel of one leg of a second OCO (WebSocket API) cancels the other."""
    async with own_sim_at_ask() as (sim, account, ask):
        venue, symbol = "binance-spot", "BTCUSDT"
        oco = {
            "symbol": symbol,
            "side": "SELL",
            "quantity": "0.01",
            "listClientOrderId": "oco-1",
            "aboveType": "LIMIT_MAKER",
            "abovePrice": str(ask + 500),
            "aboveClientOrderId": "oco-1-tp",
            "belowType": "STOP_LOSS_LIMIT",
            "belowStopPrice": str(ask - 100),
            "belowPrice": str(ask - 150),
            "belowTimeInForce": "GTC",
            "belowClientOrderId": "oco-1-sl",
        }
        async with aiohttp.ClientSession() as session:
            client = Client(session, sim, account)
            status, _, body = await client.rest("POST", "/api/v3/orderList/oco", {**oco, "abovePrice": str(ask - 500)})
            assert status == 400 and body == {
                "code": -2010,
                "msg": "The relationship of the prices for the orders is not correct.",
            }
            async with session.ws_connect(client.urls["wsApi"]) as ws:
                frames: list[dict[str, Any]] = []
                await ws_call(
                    ws, {"id": 1, "method": "userDataStream.subscribe.signature", "params": client.ws_params({})}
                )
                status, _, placed = await client.rest("POST", "/api/v3/orderList/oco", oco)
                assert status == 200, placed
                list_id = placed["orderListId"]
                assert (placed["contingencyType"], placed["listStatusType"], placed["listOrderStatus"]) == (
                    "OCO",
                    "EXEC_STARTED",
                    "EXECUTING",
                )
                assert placed["listClientOrderId"] == "oco-1"
                assert [o["clientOrderId"] for o in placed["orders"]] == ["oco-1-sl", "oco-1-tp"]
                reports = {r["clientOrderId"]: r for r in placed["orderReports"]}
                assert (reports["oco-1-sl"]["type"], reports["oco-1-sl"]["stopPrice"]) == (
                    "STOP_LOSS_LIMIT",
                    f"{ask - 100:.8f}",
                )
                assert reports["oco-1-tp"]["type"] == "LIMIT_MAKER"
                assert all(r["orderListId"] == list_id and r["status"] == "NEW" for r in reports.values())
                sim.synthetic.print_trade(venue, symbol, ask - 100, Decimal("0.001"), Side.SELL)

                def events() -> list[dict[str, Any]]:
                    return [f["event"] for f in frames if "event" in f]

                def lists() -> list[dict[str, Any]]:
                    return [e for e in events() if e["e"] == "listStatus" and e["g"] == list_id]

                while not any(e["l"] == "ALL_DONE" for e in lists()):
                    frames.append(await asyncio.wait_for(ws.receive_json(), 10))
                while True:  # what else had come
                    try:
                        frames.append(await asyncio.wait_for(ws.receive_json(), 0.2))
                    except TimeoutError:
                        break
                assert [(e["l"], e["L"], e["C"]) for e in lists()] == [
                    ("EXEC_STARTED", "EXECUTING", "oco-1"),
                    ("ALL_DONE", "ALL_DONE", "oco-1"),
                ]
                assert [(o["c"], o["i"]) for o in lists()[-1]["O"]] == [
                    (o["clientOrderId"], o["orderId"]) for o in placed["orders"]
                ]
                reports_by = {
                    cid: [(e["x"], e["X"]) for e in events() if e["e"] == "executionReport" and e["c"] == cid]
                    for cid in ("oco-1-sl", "oco-1-tp")
                }
                assert reports_by["oco-1-sl"][:2] == [("NEW", "NEW"), ("NEW", "NEW")]  # held, then fired: working
                # the other leg expires (user-data-stream.md, expiry reason OCO_TRIGGER)
                assert reports_by["oco-1-tp"] == [("NEW", "NEW"), ("EXPIRED", "EXPIRED")]
                expired = [e for e in events() if e.get("c") == "oco-1-tp" and e["x"] == "EXPIRED"]
                assert [e["eR"] for e in expired] == ["OCO_TRIGGER"]
                assert all(e["g"] == list_id for e in events() if e["e"] == "executionReport")
                # a second OCO over the WebSocket API; a cancel of its stop leg cancels the list
                second = {**oco, "listClientOrderId": "oco-2", "aboveClientOrderId": "oco-2-tp"}
                second |= {"belowClientOrderId": "oco-2-sl", "belowStopPrice": str(ask - 300)}
                second["belowPrice"] = str(ask - 350)
                reply = await ws_call(
                    ws, {"id": 2, "method": "orderList.place.oco", "params": client.ws_params(second)}, frames
                )
                assert reply["status"] == 200 and reply["result"]["listClientOrderId"] == "oco-2", reply
                second_id = reply["result"]["orderListId"]
                status, _, _ = await client.rest(
                    "DELETE", "/api/v3/order", {"symbol": symbol, "origClientOrderId": "oco-2-sl"}
                )
                assert status == 200
                while not any(
                    e["e"] == "listStatus" and e["g"] == second_id and e["l"] == "ALL_DONE" for e in events()
                ):
                    frames.append(await asyncio.wait_for(ws.receive_json(), 10))
                status, _, tp = await client.rest(
                    "GET", "/api/v3/order", {"symbol": symbol, "origClientOrderId": "oco-2-tp"}
                )
                assert tp["status"] == "CANCELED" and tp["orderListId"] == second_id
