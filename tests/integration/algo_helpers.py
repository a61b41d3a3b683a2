"""Restart scaffolding shared by the algorithm tests (position manager, trigger manager, dip buyer, grid
trader): a simulator that outlives execx (a restart keeps the venue and its orders), ``execx --sim`` on it
over one data directory (the session is started again with ``Svc.start_session``), a status polled until
it holds, the venue's own list of an account's open orders (the simulator's admin ``/admin/history``), a
trade printed while execx is down, a book kept moving, and the algorithms' journaled events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import grpc
from execx_server.engine.updates import ALGORITHM
from market_helpers import WAIT_S, Svc, running

T = TypeVar("T")


@contextlib.asynccontextmanager
async def simulator() -> AsyncIterator[Any]:
    """The exchange simulator alone (quiet book), for execx to run on and restart over."""
    from execx_sim.app import Simulator

    sim = Simulator(host="127.0.0.1", quiet=True)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def execx(
    data_dir: Path, sim: Any, stale_s: float = 120, order_entry: str = "websocket"
) -> contextlib.AbstractAsyncContextManager[Svc]:
    """``execx --sim`` on the already running ``sim`` with its journal in ``data_dir``; a second one on the
    same directory is the same execx after a restart (SIGTERM's path: ``Service.stop``); ``--orderEntry``
    ``order_entry``."""
    return running(data_dir, stale_s, sim, order_entry)


async def poll(get: Callable[[], Awaitable[T]], pred: Callable[[T], bool], what: str, within_s: float = WAIT_S) -> T:
    """``await get()`` until ``pred`` holds on its answer (an RPC answering NOT_FOUND counts as not yet: an
    algorithm restored after a restart appears once its session is live); fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    last: Any = None
    while True:
        try:
            last = await get()
            if pred(last):
                return last
        except grpc.aio.AioRpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:
                raise
            last = e.details()
        assert loop.time() < deadline, f"timed out after {within_s} s waiting for {what}; last: {last}"
        await asyncio.sleep(0.05)  # the poll interval


async def venue_open_orders(sim: Any, venue: str, acct: dict[str, str]) -> list[dict[str, Any]]:
    """The account's open orders as the simulator itself holds them (``clientOrderId``, side, price, qty,
    filledQty), read from its admin API (``/admin/history``): the venue's truth, whether execx runs or not."""
    async with aiohttp.ClientSession() as http:
        url = f"{sim.ready['admin']}/admin/history"
        async with http.get(url, params={"market": venue, "apiKey": acct["apiKey"]}) as r:
            assert r.status == 200, await r.text()
            history = await r.json()
    return [o for o in history["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED")]


async def sim_trade(sim: Any, venue: str, symbol: str, price: Decimal, qty: Decimal, aggressor: str) -> None:
    """Print a trade on the simulator (``/admin/market/trade``), also while execx is down."""
    body = {"market": venue, "symbol": symbol, "price": str(price), "qty": str(qty), "aggressor": aggressor}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.ready['admin']}/admin/market/trade", json=body) as r:
            assert r.status == 200, await r.text()


@contextlib.asynccontextmanager
async def moving(svc: Svc, venue: str, symbol: str, mid: Decimal) -> AsyncIterator[None]:
    """Re-centre the book at ``mid`` every 0.1 s while the block runs: the quiet book only sends a best
    bid/ask when it moves, and an algorithm acts only on a fresh one."""

    async def mover() -> None:
        while True:
            await svc.move(venue, symbol, mid)
            await asyncio.sleep(0.1)  # the move interval

    task = asyncio.create_task(mover())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def algorithm_events(svc: Svc, sid: str) -> list[dict[str, Any]]:
    """The algorithms' events as journaled on the session (records of kind ``algorithm``)."""
    assert svc.service.engine is not None
    svc.service.engine.session(sid)  # flushes what is published
    return [r.payload for r in svc.service.engine.journal.read(sid, 0, ALGORITHM)]  # type: ignore[misc]
