"""Helpers shared by the per-venue service tests that drive execx's REST gateway (Bybit, OKX): a JSON
poster that insists on HTTP 200, and a reader of the ``/subscribeUpdates`` websocket until a condition."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp


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
