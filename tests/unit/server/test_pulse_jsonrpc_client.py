"""The shared JSON-RPC dialect module (``connectors/jsonrpc/client.py``) against a scripted venue on a
loopback websocket / HTTP server: the access token is refreshed (``refresh_token`` grant) before it
expires, the venue's heartbeat ``test_request`` is answered with ``public/test``, a connection that the
venue drops fails the pending request as NoAnswer and re-authenticates on the next connection, a refused
subscription is detected where the dialect lists subscribed channels (Deribit) and not where it answers
"ok" (Pulse), and the HTTP answers of each dialect (Deribit envelope, Pulse bare result and
``connection.Message`` errors) are read into results and ``RpcError``s."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import waiting
from aiohttp import web
from execx_server.connectors.base import Secret
from execx_server.connectors.jsonrpc.client import (
    DERIBIT,
    PULSE,
    Credentials,
    Dialect,
    JsonRpcConnection,
    JsonRpcHttp,
    RpcError,
)
from execx_server.connectors.transport.websocket import Backoff, NoAnswer

WAIT_S = 10.0


@dataclass
class Venue:
    """A scripted JSON-RPC venue: records every request; answers by ``script``."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    expires_in: int = 1
    subscribe_answer: Any = None  # None: echo the channels
    refuse: set[str] = field(default_factory=set)
    hold: set[str] = field(default_factory=set)  # methods never answered

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        async for msg in ws:
            req = json.loads(msg.data)
            self.requests.append(req)
            self.changed.set()
            method, params = req["method"], req.get("params", {})
            if method in self.hold:
                continue
            if method in self.refuse:
                await ws.send_json(
                    {"jsonrpc": "2.0", "id": req["id"], "error": {"code": 13004, "message": "invalid_credentials"}}
                )
                continue
            result: Any = "ok"
            if method == "public/auth":
                n = sum(1 for r in self.requests if r["method"] == "public/auth")
                result = {"access_token": f"a{n}", "refresh_token": f"r{n}", "expires_in": self.expires_in}
            elif method.endswith("/subscribe"):
                result = params["channels"] if self.subscribe_answer is None else self.subscribe_answer
            elif method == "public/set_heartbeat":
                await ws.send_json({"jsonrpc": "2.0", "id": req["id"], "result": "ok"})
                await ws.send_json({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}})
                continue
            await ws.send_json({"jsonrpc": "2.0", "id": req["id"], "result": result})
        return ws

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method]

    async def until(self, predicate: Any, what: str) -> None:
        await waiting.until(self.changed, lambda: predicate(self), f"the venue to see {what}", WAIT_S)


@dataclass
class Served:
    venue: Venue
    url: str
    session: aiohttp.ClientSession


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    venue = Venue()
    app = web.Application()
    app.router.add_get("/ws/api/v2", venue.ws)
    app.router.add_route("*", "/api/v2/{method:.+}", _http)
    app.router.add_route("*", "/pulse/api/v2/{method:.+}", _http)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        yield Served(venue, f"127.0.0.1:{port}", session)
    await runner.cleanup()


async def _http(request: web.Request) -> web.Response:
    """HTTP answers in both dialects: Pulse's under ``/pulse``."""
    method = request.match_info["method"]
    pulse = request.path.startswith("/pulse/")
    if method == "public/auth":
        assert request.method == "GET" and request.query["grant_type"] == "client_credentials"
        result: Any = {"access_token": "h1", "expires_in": 900, "refresh_token": "x"}
    else:
        body = await request.json()
        assert body["jsonrpc"] == "2.0" and body["method"] == method
        if request.headers.get("Authorization") != "Bearer h1":
            error = {"code": 13009, "message": "unauthorized", "data": {"reason": "invalid access_token"}}
            if pulse:
                return web.json_response({"description": "unauthorized", "response": error, "status": 400}, status=400)
            return web.json_response({"jsonrpc": "2.0", "id": body["id"], "error": error}, status=400)
        if body["params"].get("order_id") == "missing":
            error = {"code": 10004, "message": "order_not_found"}
            if pulse:
                return web.json_response(
                    {"description": "order_not_found", "response": error, "status": 400}, status=400
                )
            return web.json_response({"jsonrpc": "2.0", "id": body["id"], "error": error}, status=400)
        result = {"order_id": body["params"]["order_id"], "price": 97000.5}
    if pulse:
        return web.json_response(result)
    return web.json_response({"jsonrpc": "2.0", "result": result})


def _connection(served: Served, dialect: Dialect, **options: Any) -> JsonRpcConnection:
    return JsonRpcConnection(
        served.session,
        f"ws://{served.url}/ws/api/v2",
        dialect,
        lambda channel, data: None,
        name="test.rpc",
        credentials=Credentials("id", Secret("s3cr3t")),
        backoff=Backoff(base_s=0.05, cap_s=0.1, jitter=0.0),
        **options,
    )


async def test_token_refreshed_before_expiry_and_test_request_answered(served: Served) -> None:
    conn = _connection(served, PULSE)
    task = asyncio.create_task(conn.run())
    try:
        await conn.ws.wait_live(WAIT_S)
        venue = served.venue
        auth = venue.calls("public/auth")[0]["params"]
        assert (auth["grant_type"], auth["client_id"], auth["client_secret"]) == ("client_credentials", "id", "s3cr3t")
        assert venue.calls("public/set_heartbeat")[0]["params"] == {"interval": 10}
        await venue.until(lambda v: v.calls("public/test"), "public/test answering test_request")
        # expires_in = 1 s: the refresh comes at 80% of it, on the same connection, with the refresh token
        await venue.until(lambda v: len(v.calls("public/auth")) == 2, "the token refresh")
        refresh = venue.calls("public/auth")[1]["params"]
        assert refresh == {"grant_type": "refresh_token", "refresh_token": "r1"}
        assert len(venue.sockets) == 1 and conn.live
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_dropped_connection_fails_the_pending_call_and_reauthenticates(served: Served) -> None:
    served.venue.expires_in = 900
    served.venue.hold = {"private/get_order_state"}
    conn = _connection(served, DERIBIT, cancel_on_disconnect=True)
    task = asyncio.create_task(conn.run())
    try:
        await conn.ws.wait_live(WAIT_S)
        assert conn.cod_enabled
        assert served.venue.calls("private/enable_cancel_on_disconnect")[0]["params"] == {"scope": "connection"}
        pending = asyncio.create_task(conn.call("private/get_order_state", {"order_id": "1"}))
        await served.venue.until(lambda v: v.calls("private/get_order_state"), "the request")
        await served.venue.sockets[0].close()
        with pytest.raises(NoAnswer):
            await pending
        await served.venue.until(lambda v: len(v.calls("public/auth")) == 2, "a new public/auth")
        await conn.ws.wait_live(WAIT_S)
        assert len(served.venue.calls("private/enable_cancel_on_disconnect")) == 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(("dialect", "detected"), [(DERIBIT, True), (PULSE, False)])
async def test_refused_subscription_is_detected_where_the_dialect_lists_channels(
    served: Served, dialect: Dialect, detected: bool
) -> None:
    served.venue.expires_in = 900
    served.venue.subscribe_answer = [] if dialect is DERIBIT else "ok"
    conn = _connection(served, dialect)
    task = asyncio.create_task(conn.run())
    try:
        await conn.ws.wait_live(WAIT_S)
        if detected:
            with pytest.raises(Exception, match=r"subscription refused for \['user.orders.X.raw'\]"):
                await conn.subscribe_now(["user.orders.X.raw"])
        else:
            await conn.subscribe_now(["user.orders.X.raw"])
        assert served.venue.calls("private/subscribe")[0]["params"] == {"channels": ["user.orders.X.raw"]}
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_refused_credentials_are_kept_for_the_owner(served: Served) -> None:
    served.venue.refuse = {"public/auth"}
    conn = _connection(served, PULSE)
    task = asyncio.create_task(conn.run())
    try:
        await asyncio.wait_for(conn.refused.wait(), WAIT_S)
        assert conn.refusal is not None and (conn.refusal.code, conn.refusal.message) == (13004, "invalid_credentials")
        assert not conn.live
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("dialect", [DERIBIT, PULSE])
async def test_http_answers_of_each_dialect(served: Served, dialect: Dialect) -> None:
    base = f"http://{served.url}" + ("/pulse" if dialect is PULSE else "")
    http = JsonRpcHttp(served.session, base, dialect, Credentials("id", Secret("s3cr3t")))
    got = await http.call("private/get_order_state", {"order_id": "7"})
    assert got == {"order_id": "7", "price": Decimal("97000.5")}
    with pytest.raises(RpcError) as info:
        await http.call("private/get_order_state", {"order_id": "missing"})
    assert (info.value.code, info.value.message) == (10004, "order_not_found")
