"""ReconnectingWebSocket against a local aiohttp server: (re)subscribe hook on every connection,
reconnect hook only after a reconnect, state callbacks, queued sends, and a refused handshake
retried with backoff — all owned by the caller's TaskGroup and cancelled cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
import waiting
from aiohttp import web
from execx_server.connectors.transport.websocket import Backoff, ReconnectingWebSocket


class Server:
    def __init__(self) -> None:
        self.connections = 0
        self.received: list[str] = []
        self.refuse_next = 0
        self.changed = asyncio.Event()
        self.sockets: list[web.WebSocketResponse] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_next:
            self.refuse_next -= 1
            return web.Response(status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.sockets.append(ws)
        await ws.send_str(f"hello {self.connections}")
        async for msg in ws:
            self.received.append(msg.data)
            self.changed.set()
        return ws


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    srv = Server()
    app = web.Application()
    app.router.add_get("/ws", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield srv, f"ws://127.0.0.1:{port}/ws"
    await runner.cleanup()


async def until(event_source: asyncio.Event, predicate: Callable[[], object], within_s: float = 5.0) -> None:
    await waiting.until(event_source, predicate, "the websocket's state", within_s)


async def test_reconnect_resubscribes_and_runs_the_reconnect_hook(server: tuple[Server, str]) -> None:
    srv, url = server
    changed = asyncio.Event()
    messages: list[str] = []
    states: list[bool] = []
    opens: list[int] = []
    reconnects: list[int] = []

    def on_message(text: str) -> None:
        messages.append(text)
        changed.set()

    def on_state(live: bool) -> None:
        states.append(live)
        changed.set()

    async def on_open(ws: ReconnectingWebSocket) -> None:
        opens.append(len(opens) + 1)
        await ws.send_json({"subscribe": len(opens)})

    async def on_reconnect() -> None:
        reconnects.append(len(opens))
        changed.set()

    srv.refuse_next = 1  # the first handshake fails: retried with backoff
    async with aiohttp.ClientSession() as session:
        ws = ReconnectingWebSocket(
            session,
            url,
            on_message,
            name="test",
            on_open=on_open,
            on_reconnect=on_reconnect,
            on_state=on_state,
            backoff=Backoff(base_s=0.01, cap_s=0.05),
        )
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(ws.run())
            await ws.wait_live(5)
            ws.send_later({"queued": True})
            await until(srv.changed, lambda: any(json.loads(t) == {"queued": True} for t in srv.received))
            await srv.sockets[0].close()  # the venue drops us
            await until(changed, lambda: bool(reconnects))
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert srv.connections == 2 and opens == [1, 2] and reconnects == [2]
    received = [json.loads(text) for text in srv.received]
    assert received[0] == {"subscribe": 1} and {"subscribe": 2} in received
    assert states == [True, False, True, False]  # the last: cancelled on close
    assert messages[:2] == ["hello 1", "hello 2"]
    assert ws.reconnects == 1 and not ws.live


def test_backoff_default_is_bounded() -> None:
    b = Backoff()
    assert all(0 < b.delay(n) <= b.cap_s for n in range(50))


async def test_closing_while_a_dropped_connection_winds_down_ends_the_loop(server: tuple[Server, str]) -> None:
    """The owner cancels the run loop just as a dropped connection's tasks are being wound down: the loop
    must end, not take the cancellation for a child's and reconnect (a stop that never returned)."""
    srv, url = server
    winding_down = asyncio.Event()

    async def slow_probe(ws: ReconnectingWebSocket) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            winding_down.set()
            await asyncio.sleep(0.2)  # e.g. a logout still being written
            raise

    async with aiohttp.ClientSession() as session:
        ws = ReconnectingWebSocket(
            session,
            url,
            lambda text: None,
            name="test",
            probe=slow_probe,
            probe_every_s=0.01,
            backoff=Backoff(base_s=0.01, cap_s=0.05),
        )
        task = asyncio.create_task(ws.run())
        await ws.wait_live(5)
        await asyncio.sleep(0.05)  # the probe is running
        await srv.sockets[0].close()  # the venue drops us; the probe winds down
        await asyncio.wait_for(winding_down.wait(), 5)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)
    assert done and task.cancelled()
    assert srv.connections == 1
