"""Streams that heal: the client's update stream, order entry and session survive an execx restart (same
data dir and port) and a network drop (a TCP proxy between client and execx cuts every connection),
with no gap and no duplicate in the sequence numbers it delivers, and nothing asked of the caller."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import aiohttp
import pytest
from client_helpers import KEY, Execx, Keys, Tail
from execx_client import ExecxClient, OrderTransaction
from waiting import eventually

SYMBOL = "BTCUSDT"


async def bid(x: Execx) -> float:
    async with aiohttp.ClientSession() as http, http.get(x.sim.ready["admin"] + "/admin/state") as r:
        return float((await r.json())["markets"]["binance-spot"][SYMBOL]["mid"]) * 0.95


def assert_exactly_once(items: list[Any]) -> list[int]:
    seqs: list[int] = [u.seq for u in items]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"gap or duplicate: {seqs}"
    return seqs


class Proxy:
    """A TCP forwarder on loopback whose ``drop()`` cuts every open connection (a network drop)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers |= {w, uw}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(r, uw), pipe(ur, w))
        self.writers -= {w, uw}

    def drop(self) -> int:
        n = len(self.writers)
        for w in list(self.writers):
            w.transport.abort()
        return n

    async def stop(self) -> None:
        self.drop()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_execx_restart_mid_stream(execx: Execx, keys: Keys) -> None:
    resumed: list[tuple[str, int]] = []
    async with ExecxClient(execx.target, KEY, timeout=20, on_reconnect=lambda s, q: resumed.append((s, q))) as x:
        states = Tail(x.connection_states())
        sid = "r-" + uuid.uuid4().hex[:8]
        await x.start_session(sid, "binance-spot", **keys)
        updates = Tail(x.updates(sid, from_seq=1))
        price = round(await bid(execx), 2)
        a = await x.insert(sid, "a-" + uuid.uuid4().hex[:8], SYMBOL, "buy", 0.001, price, "postonly")
        await updates.wait(lambda u: u.cl_order_id == a.cl_order_id and u.order_status == "new", what="a new")
        await states.wait(lambda s: s == "ready", what="ready")

        await execx.stop()  # execx goes away; the client's streams break
        await states.wait(lambda s: s in ("transient_failure", "idle", "connecting"), what="disconnected")
        # an order sent while execx is down waits for it (within the call's timeout) and goes through
        pending = asyncio.create_task(x.insert(sid, "b-" + uuid.uuid4().hex[:8], SYMBOL, "buy", 0.001, price * 0.99))
        await asyncio.sleep(0.3)
        assert not pending.done()
        await execx.start()  # same data dir, same port: the session is detached until started again

        b = await pending  # the client re-attached the session by itself and sent the order
        assert b.order_status in ("pendingnew", "new"), b
        cancelled = await x.cancel(sid, a.cl_order_id)
        assert cancelled.order_status in ("pendingcancel", "cancelled")
        await updates.wait(lambda u: u.cl_order_id == a.cl_order_id and u.order_status == "cancelled", what="a end")
        await updates.wait(lambda u: u.cl_order_id == b.cl_order_id and u.order_status == "new", what="b new")
        await states.wait(lambda s: s == "ready", what="ready again")

        got = [u for u in updates.items]
        seqs = assert_exactly_once(got)
        assert seqs[0] == 1
        # what the stream delivered is what the journal holds: a fresh replay gives the same updates
        replay = Tail(x.updates(sid, from_seq=1))
        await replay.wait(lambda u: u.seq == seqs[-1], what="replay to the last seq")
        assert [(u.seq, u.cl_order_id, u.order_status) for u in replay.items[: len(got)]] == [
            (u.seq, u.cl_order_id, u.order_status) for u in got
        ]
        assert any(s == "updates" for s, _ in resumed) and any(s == "session" for s, _ in resumed)
        await x.cancel_all(sid)
        for t in (updates, replay, states):
            await t.close()


async def test_network_drop_mid_stream(execx: Execx, keys: Keys) -> None:
    proxy = Proxy(execx.grpc_port)
    await proxy.start()
    resumed: list[tuple[str, int]] = []
    try:
        async with ExecxClient(
            f"127.0.0.1:{proxy.port}", KEY, timeout=20, on_reconnect=lambda s, q: resumed.append((s, q))
        ) as x:
            sid = "n-" + uuid.uuid4().hex[:8]
            await x.start_session(sid, "binance-spot", **keys)
            updates = Tail(x.updates(sid, from_seq=1))
            positions = Tail(x.positions(sid))
            price = round(await bid(execx), 2)
            ids = []
            for i in range(6):
                o = await x.insert(sid, f"n{i}-" + uuid.uuid4().hex[:6], SYMBOL, "buy", 0.001, price - i)
                ids.append(o.cl_order_id)
                if i % 2 == 1:
                    assert proxy.drop() > 0  # cut mid-stream, also right after an answer
            await positions.wait(lambda p: p.session_id == sid, what="positions snapshot")
            for cl in ids:
                await updates.wait(lambda u, c=cl: isinstance(u, OrderTransaction) and u.cl_order_id == c, what=cl)
            # the last updates may have arrived before the last drop: wait for the streams to reconnect
            await eventually(lambda: proxy.writers, "a connection through the proxy again", within_s=20)
            assert proxy.drop() > 0
            assert sorted(await x.cancel_all(sid)) == sorted(ids)  # order entry and unary calls work again
            for cl in ids:
                await updates.wait(lambda u, c=cl: u.cl_order_id == c and u.order_status == "cancelled", what=cl)
            assert_exactly_once(updates.items)
            assert {s for s, _ in resumed} >= {"updates"}, resumed
            for t in (updates, positions):
                await t.close()
    finally:
        await proxy.stop()


@pytest.mark.parametrize("order_batch", [0, 8])
async def test_orders_in_flight_when_the_stream_breaks_are_resent_once(
    execx: Execx, keys: Keys, order_batch: int
) -> None:
    """The venue answers slowly; the network drops while three orders wait for their answers: the client
    sends them again on a new OrderEntry stream, each call answers its order, and the venue has each
    clOrderId once (inserts are idempotent by clOrderId). With ``order_batch`` the orders went in one batch
    (the first alone, the two made while it was written together)."""
    proxy = Proxy(execx.grpc_port)
    await proxy.start()
    resumed: list[str] = []
    faults = execx.sim.ready["admin"] + "/admin/faults/binance-spot"
    try:
        async with ExecxClient(
            f"127.0.0.1:{proxy.port}",
            KEY,
            timeout=20,
            on_reconnect=lambda s, q: resumed.append(s),
            order_batch=order_batch,
        ) as x:
            sid = "f-" + uuid.uuid4().hex[:8]
            await x.start_session(sid, "binance-spot", **keys)
            price = round(await bid(execx), 2)
            await execx.admin("/admin/faults/binance-spot", {"slow_ack_ms": 800})
            try:
                ids = [f"f{i}-" + uuid.uuid4().hex[:6] for i in range(3)]
                sends = [
                    asyncio.create_task(x.insert(sid, cl, SYMBOL, "buy", 0.001, price - i)) for i, cl in enumerate(ids)
                ]
                await asyncio.sleep(0.3)  # the requests are at the venue, their answers not back
                assert proxy.drop() > 0
                answers = await asyncio.gather(*sends)
            finally:
                async with aiohttp.ClientSession() as http, http.delete(faults) as r:
                    assert r.status == 200
            assert [a.cl_order_id for a in answers] == ids
            assert "orderEntry" in resumed, resumed
            params = {"apiKey": keys["api_key"], "market": "binance-spot"}
            async with aiohttp.ClientSession() as http:
                async with http.get(execx.sim.ready["admin"] + "/admin/history", params=params) as r:
                    history = await r.json()
            at_venue = [o["clientOrderId"] for o in history["orders"]]
            assert sorted(at_venue) == sorted(ids), at_venue  # each once
            assert sorted(await x.cancel_all(sid)) == sorted(ids)
    finally:
        await proxy.stop()
