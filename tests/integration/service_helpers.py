"""Helpers shared by the per-venue service tests (Binance, Bybit, OKX, Deribit, Pulse): a reader of the gRPC
``SubscribeUpdates`` stream until a condition, and for the REST gateway a JSON poster that insists on HTTP 200
and a reader of the ``/subscribeUpdates`` websocket until a condition."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx_server.app import Service, Settings


def resting_buy(session_id: str, cl_order_id: str) -> om.SendOrderRequest:
    """A BTCUSDT limit buy far below the simulated spot market (90 000): it rests."""
    return om.SendOrderRequest(
        session_id=session_id,
        cl_order_id=cl_order_id,
        symbol="BTCUSDT",
        price=90000.0,
        qty=0.001,
        order_type=c.ORDER_TYPE_LIMIT,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        side=c.SIDE_BUY,
    )


@contextlib.asynccontextmanager
async def running_execx(data: Path, key: str) -> AsyncIterator[tuple[Service, aiohttp.ClientSession]]:
    """``execx --sim`` (quiet book) in this process with API key ``key``, and an HTTP client for its REST
    gateway and the simulator's admin API."""
    service = Service(Settings(key=key, port=0, grpc_port=0, prom_port=0, data_dir=data, sim=True, sim_quiet=True))
    await service.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield service, http
    finally:
        await service.stop()


async def collect(
    stream: Any, until: Any, got: list[c.OrderTransaction] | None = None, within_s: float = 10.0
) -> list[c.OrderTransaction]:
    """Read transactions from a SubscribeUpdates stream (onto ``got`` if given) until ``until(list)`` holds
    (deadline)."""
    got = [] if got is None else got
    deadline = time.monotonic() + within_s
    while not until(got):
        msg = await asyncio.wait_for(stream.read(), deadline - time.monotonic())
        assert msg is not grpc.aio.EOF
        got.append(msg.transaction)
    return got


def rest_poster(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> Callable[[str, dict[str, Any]], Awaitable[Any]]:
    """``post(path, body)``: the gateway's JSON answer, asserting HTTP 200 (the answer is the failure text)."""

    async def post(path: str, body: dict[str, Any]) -> Any:
        async with http.post(url + path, json=body, headers=headers) as r:
            out = await r.json()
            assert r.status == 200, out
            return out

    return post


async def receive_until(
    ws: aiohttp.ClientWebSocketResponse, updates: list[dict[str, Any]], pred: Callable[[Any], Any], deadline: float
) -> None:
    """Append the websocket's updates to ``updates`` until one satisfies ``pred`` (``deadline``: monotonic)."""
    while not any(pred(u) for u in updates):
        msg = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        updates.append(json.loads(msg.data))
