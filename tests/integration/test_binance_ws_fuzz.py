"""Fuzz the Binance WebSocket APIs (spot ``ws-api``, USD-M ``ws-fapi``, COIN-M ``ws-dapi``) with signed
order requests carrying arbitrary JSON parameters, plus malformed frames: every request gets exactly one
answer with its id, status 200 or 4xx with Binance's ``{"code", "msg"}`` error. Never 5xx, never a hang,
and the connection survives bad input."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import aiohttp
import pytest
from execx_sim.app import Simulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_binance_fuzz import decimal_like, order_params

T = TypeVar("T")
TIMEOUT_S = 5.0
EXAMPLES = 120

METHODS = {
    "binance-spot": [
        "order.place",
        "order.test",
        "order.cancel",
        "order.cancelReplace",
        "order.amend.keepPriority",
        "order.status",
        "openOrders.cancelAll",
        "v3/order.place",
    ],
    "binance-usdm-future": ["order.place", "order.modify", "order.cancel", "order.status"],
    "binance-coinm-future": ["order.place", "order.modify", "order.cancel", "order.status"],
}

LIVENESS = {  # a public request answered 200, to show the connection still works
    "binance-spot": ("ping", {}),
    "binance-usdm-future": ("ticker.book", {"symbol": "BTCUSDT"}),
    "binance-coinm-future": ("ticker.book", {"symbol": "BTCUSD_PERP"}),
}


@pytest.fixture(scope="module")
async def ws_sim() -> AsyncIterator[Simulator]:
    s = Simulator(quiet=True, seed=98)
    await s.start()
    for fe in s.frontends:
        limiter = getattr(fe, "limiter", None)
        if limiter is not None:
            limiter.enabled = False
    yield s
    await s.stop()


class Conn:
    """One WebSocket API connection; ``call`` sends a frame and waits for the answer with its id."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, frame: str, req_id: Any, *alt_ids: Any) -> dict[str, Any]:
        await self.ws.send_str(frame)
        return await self.answer(req_id, *alt_ids)

    async def answer(self, req_id: Any, *alt_ids: Any) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                msg = await self.ws.receive()
                assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
                data = json.loads(msg.data)
                if isinstance(data, dict) and "id" in data and data["id"] in (req_id, *alt_ids):
                    return data


@pytest.fixture(scope="module")
async def conns(ws_sim: Simulator) -> AsyncIterator[dict[str, Conn]]:
    async with aiohttp.ClientSession() as http:
        out: dict[str, Conn] = {}
        for venue in METHODS:
            out[venue] = Conn(await http.ws_connect(ws_sim.ready["venues"][venue]["wsApi"]))
        yield out
        for conn in out.values():
            await conn.ws.close()


def on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, loop).result(TIMEOUT_S + 1)


def check(reply: dict[str, Any], context: object) -> None:
    status = reply.get("status")
    assert isinstance(status, int) and status < 500, (reply, context)
    if status == 200:
        assert "result" in reply, (reply, context)
    else:
        assert 400 <= status < 500, (reply, context)
        error = reply.get("error")
        assert isinstance(error, dict) and isinstance(error.get("code"), int) and error["code"] < 0, (reply, context)
        assert isinstance(error.get("msg"), str) and error["msg"], (reply, context)


def ws_sign(params: dict[str, Any], secret: str) -> str:
    """The documented payload: params except signature, sorted by key, ``k=v`` joined by ``&``."""

    def text(v: Any) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    payload = "&".join(f"{k}={text(v)}" for k, v in sorted(params.items()))
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


json_garbage = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def fuzz_settings() -> settings:
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.mark.parametrize("venue", sorted(METHODS))
async def test_signed_requests_with_arbitrary_params(ws_sim: Simulator, conns: dict[str, Conn], venue: str) -> None:
    conn = conns[venue]
    symbols = sorted(ws_sim.exchange.markets[venue].instruments)
    futures = venue != "binance-spot"
    loop = asyncio.get_running_loop()

    @fuzz_settings()
    @given(
        method=st.sampled_from(METHODS[venue]),
        params=order_params(symbols, futures),
        typed=st.dictionaries(
            st.sampled_from(
                ["quantity", "price", "orderId", "symbol", "side", "recvWindow", "newOrderRespType", "returnRateLimits"]
            ),
            json_garbage,
            max_size=2,
        ),
        numeric=st.booleans(),
    )
    def one(method: str, params: dict[str, str | None], typed: dict[str, Any], numeric: bool) -> None:
        p: dict[str, Any] = {k: v for k, v in params.items() if v is not None}
        if numeric:  # JSON numbers where strings are usual
            for k in ("quantity", "price"):
                if k in p:
                    try:
                        p[k] = float(p[k])
                    except ValueError:
                        pass
        p.update(typed)
        p |= {"apiKey": ws_sim.demo.api_key, "timestamp": time.time_ns() // 1_000_000}
        p["signature"] = ws_sign(p, ws_sim.demo.secret_key)
        req_id = next(conn.ids)
        frame = json.dumps({"id": req_id, "method": method, "params": p})
        check(on_loop(loop, conn.call(frame, req_id)), (method, p))

    await asyncio.to_thread(one)


@pytest.mark.parametrize("venue", sorted(METHODS))
async def test_malformed_frames(conns: dict[str, Conn], venue: str) -> None:
    conn = conns[venue]
    loop = asyncio.get_running_loop()

    @fuzz_settings()
    @given(
        method=st.one_of(st.sampled_from(METHODS[venue]), st.text(max_size=10), json_garbage),
        params=st.one_of(
            json_garbage,
            st.dictionaries(st.text(max_size=8), json_garbage, max_size=4),
            st.dictionaries(
                st.sampled_from(["symbol", "side", "quantity", "apiKey", "signature", "timestamp"]),
                decimal_like,
                max_size=6,
            ),
        ),
        extra=st.dictionaries(st.sampled_from(["foo", "jsonrpc"]), json_garbage, max_size=1),
    )
    def one(method: Any, params: Any, extra: dict[str, Any]) -> None:
        req_id = f"r{next(conn.ids)}"
        frame = json.dumps({"id": req_id, "method": method, "params": params, **extra})
        check(on_loop(loop, conn.call(frame, req_id)), frame)

    await asyncio.to_thread(one)
    # Frames that are not even requests get an answer (null id; an invalid id may be echoed or nulled),
    # and the connection lives on.
    for frame in ("{not json", "[1, 2]", "42", '{"id": [1], "method": "order.place"}'):
        reply = await conn.call(frame, None, [1])
        check(reply, frame)
        assert reply["status"] != 200
    ping_id = next(conn.ids)
    method, params = LIVENESS[venue]
    reply = await conn.call(json.dumps({"id": ping_id, "method": method, "params": params}), ping_id)
    assert reply["status"] == 200
