"""The FIX session layer against a scripted venue on a loopback socket: bad FIX from the venue (bad
checksum, wrong BodyLength, missing required tags, unknown MsgType, MsgSeqNum too low) is rejected or
ignored per the FIX session rules and never ends the session uncontrolled; liveness (TestRequest, then
disconnect and reconnect); a venue Logout is echoed; the framer and the persisted sequence store.

The venue side is written with simplefix directly (not with the framer under test)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import simplefix
import waiting
from execx_server.connectors.transport.fix import (
    FixFramer,
    FixSession,
    FixSessionConfig,
    Garbled,
    SeqStore,
    SessionReject,
    new_message,
    parse_frame,
    text,
)
from execx_server.connectors.transport.websocket import Backoff
from execx_sim.venues.deribit.fix_session import parse_message as sim_parse

WAIT_S = 10.0
VENUE, CLIENT = "DERIBITSERVER", "EXECX"


def venue_msg(msg_type: str, seq: int, *fields: tuple[int, str], poss_dup: bool = False) -> bytes:
    msg = simplefix.FixMessage()
    msg.append_pair(8, "FIX.4.4", header=True)
    msg.append_pair(35, msg_type, header=True)
    msg.append_pair(49, VENUE, header=True)
    msg.append_pair(56, CLIENT, header=True)
    msg.append_pair(34, seq, header=True)
    if poss_dup:
        msg.append_pair(43, "Y", header=True)
    msg.append_utc_timestamp(52, precision=3, header=True)
    for tag, value in fields:
        msg.append_pair(tag, value)
    return bytes(msg.encode())


@dataclass
class Venue:
    """A scripted FIX acceptor: records what the client sends, per connection."""

    server: asyncio.Server | None = None
    port: int = 0
    received: list[simplefix.FixMessage] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    answer_logon: bool = True

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        parser = simplefix.FixParser()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                parser.append_buffer(data)
                while (msg := parser.get_message()) is not None:
                    self.received.append(msg)
                    self.changed.set()
                    if text(msg, 35) == "A" and self.answer_logon:
                        writer.write(venue_msg("A", 1, (98, "0"), (108, text(msg, 108))))
        self.changed.set()

    def send(self, *frames: bytes) -> None:
        self.writers[-1].write(b"".join(frames))

    def sent(self, msg_type: str) -> list[simplefix.FixMessage]:
        return [m for m in self.received if text(m, 35) == msg_type]

    async def until(self, predicate: Callable[[Venue], object], what: str) -> None:
        await waiting.until(self.changed, lambda: predicate(self), f"the venue to see {what}", WAIT_S)


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    v = Venue()
    v.server = await asyncio.start_server(v.serve, "127.0.0.1", 0)
    v.port = v.server.sockets[0].getsockname()[1]
    yield v
    for w in v.writers:
        w.close()
    v.server.close()


@dataclass
class Client:
    session: FixSession
    task: asyncio.Task[None]
    app: list[simplefix.FixMessage]
    rejects: list[SessionReject]
    changed: asyncio.Event

    async def until(self, predicate: Callable[[], object], what: str) -> None:
        await waiting.until(self.changed, predicate, f"the client to see {what}", WAIT_S)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.session.close()


MakeClient = Callable[..., Client]


@pytest.fixture
async def client_factory(tmp_path: Path) -> AsyncIterator[MakeClient]:
    made: list[Client] = []

    def make(port: int, heartbeat_s: int = 30) -> Client:
        app: list[simplefix.FixMessage] = []
        rejects: list[SessionReject] = []
        config = FixSessionConfig(
            "127.0.0.1",
            port,
            CLIENT,
            VENUE,
            heartbeat_s=heartbeat_s,
            store_path=tmp_path / "seq",
            app_required={"8": (37, 39, 150), "j": (45, 380)},
            backoff=Backoff(base_s=0.05, cap_s=0.1, jitter=0.0),
        )
        changed = asyncio.Event()

        def on_message(msg: simplefix.FixMessage, poss_dup: bool) -> None:
            app.append(msg)
            changed.set()

        def on_reject(rej: SessionReject) -> None:
            rejects.append(rej)
            changed.set()

        session = FixSession(config, on_message, on_reject=on_reject)
        c = Client(session, asyncio.create_task(session.run()), app, rejects, changed)
        made.append(c)
        return c

    yield make
    for c in made:
        await c.close()


def _tamper_checksum(frame: bytes) -> bytes:
    good = frame[-4:-1]
    bad = b"%03d" % ((int(good) + 1) % 256)
    return frame[:-4] + bad + b"\x01"


async def test_bad_fix_from_the_venue_is_rejected_and_the_session_survives(
    venue: Venue, client_factory: MakeClient
) -> None:
    client = client_factory(venue.port)
    await client.session.wait_logged_on(WAIT_S)
    # Seq 2 arrives with a bad checksum: ignored (consumes no number); seq 3 then shows the gap.
    venue.send(_tamper_checksum(venue_msg("0", 2)), venue_msg("0", 3))
    await venue.until(lambda v: v.sent("2"), "a ResendRequest")
    resend = venue.sent("2")[0]
    assert (text(resend, 7), text(resend, 16)) == ("2", "0")
    assert client.session.garbled == 1
    venue.send(venue_msg("4", 2, (123, "Y"), (36, "3"), poss_dup=True))  # gap-fill 2; queued 3 follows
    # An unknown MsgType, a TestRequest without TestReqID, an ExecutionReport without OrdStatus.
    venue.send(venue_msg("ZZ", 4), venue_msg("1", 5), venue_msg("8", 6, (37, "o1"), (150, "0")))
    await venue.until(lambda v: len(v.sent("3")) == 3, "three Rejects")
    rejects = [(text(m, 45), text(m, 373), text(m, 371), text(m, 58)) for m in venue.sent("3")]
    assert rejects == [
        ("4", "11", "35", "Invalid MsgType 'ZZ'"),
        ("5", "1", "112", "Required tag missing"),
        ("6", "1", "39", "Required tag missing"),
    ]
    assert client.app == []  # the incomplete report never reached the application
    # A frame whose BodyLength is wrong is garbled too; the good TestRequest after it is answered.
    broken = venue_msg("0", 7).replace(b"9=", b"9=1", 1)
    venue.send(broken, venue_msg("1", 7, (112, "hello")))
    await venue.until(lambda v: any(text(m, 112) == "hello" for m in v.sent("0")), "Heartbeat(hello)")
    assert client.session.garbled == 2 and client.session.logged_on
    assert client.session.store.next_in == 8
    # A message below the expected number without PossDupFlag is fatal: Logout with the reason, reconnect.
    venue.send(venue_msg("0", 3))
    await venue.until(lambda v: v.sent("5"), "a Logout")
    assert text(venue.sent("5")[0], 58) == "MsgSeqNum too low, expecting 8 but received 3"
    await venue.until(lambda v: len(v.sent("A")) == 2, "a new Logon")


async def test_silent_venue_gets_a_test_request_then_a_reconnect(venue: Venue, client_factory: MakeClient) -> None:
    client = client_factory(venue.port, heartbeat_s=1)
    await client.session.wait_logged_on(WAIT_S)
    await venue.until(lambda v: v.sent("1"), "a TestRequest")
    assert text(venue.sent("1")[0], 112) == "TEST1"
    await venue.until(lambda v: len(v.sent("A")) == 2, "the Logon of a new connection")
    assert client.session.connections >= 1


async def test_venue_logout_is_echoed_and_refused_logon_is_reported(venue: Venue, client_factory: MakeClient) -> None:
    client = client_factory(venue.port)
    await client.session.wait_logged_on(WAIT_S)
    venue.answer_logon = False
    venue.send(venue_msg("5", 2, (58, "maintenance")))
    await venue.until(lambda v: v.sent("5"), "the Logout echo")
    await venue.until(lambda v: len(v.sent("A")) == 2, "the next Logon")
    venue.send(venue_msg("5", 1, (58, "invalid credentials")))  # the answer to the second Logon
    await asyncio.wait_for(client.session.refused.wait(), WAIT_S)
    assert client.session.refusal is not None and client.session.refusal.text == "invalid credentials"


async def test_venue_reject_and_business_reject_are_surfaced(venue: Venue, client_factory: MakeClient) -> None:
    """A Reject(3) naming our message reaches ``on_reject`` with its fields; a BusinessMessageReject(j)
    is an application message for the owner."""
    client = client_factory(venue.port)
    await client.session.wait_logged_on(WAIT_S)
    seq = client.session.send(new_message("D", [(11, "x"), (54, "9"), (38, "1"), (55, "BTC-PERPETUAL")]))
    await venue.until(lambda v: v.sent("D"), "the order")
    venue.send(
        venue_msg("3", 2, (45, str(seq)), (372, "D"), (371, "54"), (373, "5"), (58, "Value is incorrect")),
        venue_msg("j", 3, (45, str(seq)), (372, "D"), (380, "3"), (58, "Unsupported")),
    )
    await client.until(lambda: client.rejects and client.app, "the Reject and the BusinessMessageReject")
    assert client.rejects == [SessionReject(seq, "D", 54, 5, "Value is incorrect")]
    assert [(text(m, 35), text(m, 45), text(m, 58)) for m in client.app] == [("j", str(seq), "Unsupported")]
    assert client.session.store.next_in == 4 and client.session.logged_on


async def test_a_venue_that_restarted_its_numbering_is_followed_not_refused(
    venue: Venue, client_factory: MakeClient
) -> None:
    """The venue restarts and answers the next Logon numbering from 1 again (it lost its session state):
    the session continues from its numbering instead of refusing every message as "MsgSeqNum too low"."""
    client = client_factory(venue.port)
    await client.session.wait_logged_on(WAIT_S)
    venue.send(*(venue_msg("j", n, (45, "1"), (380, "3"), (58, f"m{n}")) for n in (2, 3)))
    await client.until(lambda: len(client.app) == 2, "two messages")
    assert client.session.store.next_in == 4
    venue.writers[-1].close()  # the venue goes away and comes back numbering from 1
    await venue.until(lambda v: len(v.sent("A")) == 2 and len(v.writers) == 2, "the next Logon")
    venue.send(venue_msg("j", 2, (45, "1"), (380, "3"), (58, "after")))
    await client.until(lambda: len(client.app) == 3, "the message after the venue's restart")
    assert text(client.app[-1], 58) == "after" and not venue.sent("5")  # no Logout "MsgSeqNum too low"


async def test_logon_over_tls(tmp_path: Path) -> None:
    """TLS with certificate verification against a venue whose certificate the session is told to trust."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    proc = await asyncio.create_subprocess_exec(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
        "-keyout",
        str(key),
        "-out",
        str(cert),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await proc.wait() == 0
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    venue = Venue()
    server = await asyncio.start_server(venue.serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    config = FixSessionConfig("localhost", port, CLIENT, VENUE, tls=True, tls_ca_file=str(cert))
    session = FixSession(config, lambda m, dup: None)
    task = asyncio.create_task(session.run())
    try:
        await session.wait_logged_on(WAIT_S)
        assert text(venue.sent("A")[0], 49) == CLIENT
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        session.close()
        for w in venue.writers:
            w.close()
        server.close()


def test_framer_splits_resyncs_and_checks() -> None:
    a, b = venue_msg("0", 1), venue_msg("1", 2, (112, "x"))
    framer = FixFramer()
    out: list[bytes | Garbled] = []
    for i in range(len(a + b)):
        out += framer.feed((a + b)[i : i + 1])
    assert out == [a, b]
    out = FixFramer().feed(b"junk" + _tamper_checksum(a) + b)
    assert [type(x).__name__ for x in out] == ["Garbled", "Garbled", "bytes"]
    assert isinstance(out[1], Garbled) and out[1].reason.startswith("CheckSum(10)")
    assert out[2] == b


def test_seq_store_persists(tmp_path: Path) -> None:
    store = SeqStore(tmp_path / "s" / "seq")
    assert (store.next_out, store.next_in) == (1, 1)
    store.next_out, store.next_in = 42, 17
    store.close()
    again = SeqStore(tmp_path / "s" / "seq")
    assert (again.next_out, again.next_in) == (42, 17)
    assert (tmp_path / "s" / "seq").stat().st_size == 16
    again.close()


def test_parse_frame_and_the_simulators_parser_make_what_simplefix_makes() -> None:
    def simplefix_parse(frame: bytes) -> simplefix.FixMessage:
        parser = simplefix.FixParser()
        parser.append_buffer(frame)
        msg = parser.get_message()
        assert msg is not None
        return msg

    report = venue_msg("8", 7, (37, "ETH-1"), (11, "c1"), (150, "0"), (39, "0"), (44, "86400.5"), (58, "a b=c"))
    logon = venue_msg("A", 1, (95, "5"), (96, "x\x01y=z"), (553, "u"))  # raw data holds SOH and "="
    for frame in (report, logon, report.replace(b"\x0137=", b"\x01037=")):
        theirs = simplefix_parse(frame)
        for ours in (parse_frame(frame), sim_parse(frame)):
            assert ours is not None and ours.pairs == theirs.pairs
            assert (ours.begin_string, ours.message_type) == (theirs.begin_string, theirs.message_type)
    assert text(parse_frame(logon), 96) == "x\x01y=z"
    for bad in (report[:-1], report.replace(b"\x0137=", b"\x01x7="), report.replace(b"\x0111=c1", b"\x0111=")):
        with pytest.raises(ValueError):
            parse_frame(bad)
