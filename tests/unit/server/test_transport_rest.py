"""``transport.rest.RestTransport`` over real loopback sockets: the outcome policy of transport failures
(nothing sent: Retryable; maybe sent: OutcomeUnknown for a mutating request, Retryable for a read),
the aiohttp error kept as the cause, and the timing reported to the telemetry."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from execx_server.connectors.transport.rest import RestTransport, unreadable
from execx_server.domain.venue import OutcomeUnknown, Rejected, Retryable


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def request(self, endpoint: str, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        self.requests.append((endpoint, outcome))

    def reconnect(self, stream: str) -> None:
        return None

    def headroom(self, ratio: float) -> None:
        return None


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s:
        yield s


async def _server(reply: bytes | None) -> tuple[asyncio.Server, str]:
    """A loopback HTTP server that reads a request, then answers ``reply`` or drops the connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if reply is not None:
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_answer_is_returned_with_status_text_and_headers(session: aiohttp.ClientSession) -> None:
    body = b'{"ok":1}'
    reply = b"HTTP/1.1 418 I'm a teapot\r\nRetry-After: 7\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    server, base = await _server(reply)
    async with server:
        http = RestTransport(session, base)
        answer = await http.send("GET", f"{base}/x", path="/x", mutating=False)
    assert (answer.status, answer.text, answer.headers["Retry-After"]) == (418, '{"ok":1}', "7")


async def test_connection_refused_is_retryable_with_its_cause(session: aiohttp.ClientSession) -> None:
    base = f"http://127.0.0.1:{_closed_port()}"
    http = RestTransport(session, base)
    with pytest.raises(Retryable) as caught:
        await http.send("POST", f"{base}/order", path="/order", mutating=True)
    assert caught.value.code == "connect"
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)


async def test_a_dropped_answer_is_unknown_when_mutating_and_retryable_for_a_read(
    session: aiohttp.ClientSession,
) -> None:
    server, base = await _server(None)
    async with server:
        http = RestTransport(session, base)
        with pytest.raises(OutcomeUnknown) as unknown:
            await http.send("POST", f"{base}/order", path="/order", mutating=True)
        with pytest.raises(Retryable) as retry:
            await http.send("GET", f"{base}/order", path="/order", mutating=False)
    assert unknown.value.message.startswith("POST /order: ")
    assert retry.value.code == "transport"
    assert isinstance(unknown.value.__cause__, aiohttp.ClientError)
    assert isinstance(retry.value.__cause__, aiohttp.ClientError)


async def test_measured_reports_each_outcome(session: aiohttp.ClientSession) -> None:
    http = RestTransport(session, "http://127.0.0.1:1")
    recorder = Recorder()
    http.telemetry = recorder

    async def ok() -> int:
        return 1

    async def fail(exc: Exception) -> int:
        raise exc

    assert await http.measured("GET /a", ok()) == 1
    for exc in (Rejected("no", "1"), Retryable("later", "2"), OutcomeUnknown("maybe", "3")):
        with pytest.raises(type(exc)):
            await http.measured("POST /b", fail(exc))
    assert recorder.requests == [
        ("GET /a", "ok"),
        ("POST /b", "rejected"),
        ("POST /b", "retryable"),
        ("POST /b", "unknown"),
    ]


def test_an_unreadable_answer_follows_the_outcome_policy() -> None:
    assert isinstance(unreadable("POST", "/order", True), OutcomeUnknown)
    assert isinstance(unreadable("GET", "/order", False), Retryable)
