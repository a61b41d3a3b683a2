"""A FIX 4.4 initiator session over asyncio TCP (TLS optional), with simplefix for encoding and parsing.

simplefix only builds and splits messages; everything a session is lives here:

- **Logon**: the first message on every connection; the venue-specific authentication fields come from
  a ``logon_fields`` callable (fresh nonce per attempt; Deribit's is in ``connectors/deribit/signing.py``).
  The session is up when the venue echoes Logon; a Logout answer (or a close) is a refusal, kept in
  ``refusal`` with the venue's text.
- **Sequence numbers** both ways, persisted in a 16-byte file (``SeqStore``, memory-mapped so a message
  costs a memory write, not a file write) under the service's data directory: a reconnect, or a restart
  of execx, continues the sequence. No secret is ever written there.
- **Gaps** (FIX session rules): a message above the expected number triggers one ResendRequest
  (``BeginSeqNo`` = expected, ``EndSeqNo`` = 0, "everything after") and is queued; resent messages
  (``PossDupFlag=Y``) and SequenceReset-GapFill close the gap, then the queue is drained in order. A
  message below the expected number without ``PossDupFlag`` is fatal (Logout "MsgSeqNum too low",
  disconnect); with it, a duplicate, ignored. SequenceReset-Reset sets the expected number as told.
- **ResendRequest from the venue**: admin messages are replaced by SequenceReset-GapFill; application
  messages too by default (resending an order minutes late is worse than not sending it: the outcome
  policy already reconciles anything unanswered), or resent with ``PossDupFlag=Y`` and
  ``OrigSendingTime`` from the outbound store when ``resend_application`` is set.
- **Heartbeat / TestRequest** both ways: a Heartbeat after ``heartbeat_s`` of sending nothing; a
  TestRequest after ``heartbeat_s`` (+20%) of hearing nothing; no answer within another ``heartbeat_s``
  = the connection is dead, closed, and the run loop reconnects. A TestRequest from the venue is
  answered with its ``TestReqID``.
- **Bad FIX from the venue** never crashes the session: a garbled frame (bad BeginString, BodyLength or
  CheckSum) is logged and ignored without consuming a sequence number (the next good message shows the
  gap and triggers a resend); a missing required tag gets Reject(3) ``SessionRejectReason=1``, an
  unknown MsgType ``=11``, a wrong CompID ``=9`` (then Logout); each consumes its sequence number as
  the rules say. Reject(3) from the venue is surfaced through ``on_reject``; BusinessMessageReject(j)
  is an application message and goes to ``on_message`` like any other.
- **Logout**: ``stop()`` sends Logout (optional extra fields, e.g. Deribit's DontCancelOnDisconnect)
  and waits for the echo before closing; a Logout from the venue is echoed.
- **Reconnect** with exponential backoff (``transport.websocket.Backoff``); ``on_state`` tells the owner
  when the session is up (logged on) or down.

``FixSession.run()`` runs until cancelled or stopped; its owner starts it in a TaskGroup. The reader and
the timer of a connection are tasks owned by ``run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mmap
import os
import ssl
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import simplefix
import simplefix.errors
from simplefix.data import RAW_LEN_TAGS

from .websocket import DEFAULT_BACKOFF, Backoff, NotSent

log = logging.getLogger("execx.connectors.fix")

SOH = b"\x01"
BEGIN_STRING = "FIX.4.4"
_BEGIN = b"8=FIX.4.4\x01"

# MsgType values of the session layer (FIX 4.4 volume 2).
HEARTBEAT, TEST_REQUEST, RESEND_REQUEST, REJECT, SEQUENCE_RESET, LOGOUT, LOGON = "0", "1", "2", "3", "4", "5", "A"
ADMIN_TYPES = frozenset({HEARTBEAT, TEST_REQUEST, RESEND_REQUEST, REJECT, SEQUENCE_RESET, LOGOUT, LOGON})

#: Tags a session message must carry (beyond the standard header), checked before it is acted on.
ADMIN_REQUIRED: dict[str, tuple[int, ...]] = {
    TEST_REQUEST: (112,),
    RESEND_REQUEST: (7, 16),
    REJECT: (45,),
    SEQUENCE_RESET: (36,),
    LOGON: (98, 108),
}

# SessionRejectReason(373) values used here.
REJECT_REQUIRED_TAG_MISSING = 1
REJECT_VALUE_INCORRECT = 5
REJECT_COMPID_PROBLEM = 9
REJECT_INVALID_MSGTYPE = 11

STORED_OUTBOUND_MAX = 10_000  # application messages kept for ResendRequest (when resending them)
QUEUED_INBOUND_MAX = 10_000  # messages above a gap held until the gap is filled
RESEND_RETRY_S = 1.0  # a ResendRequest whose gap is still open this long after is sent again


class LogonRefused(Exception):
    """The venue answered our Logon with Logout (wrong credentials, ...) or closed the socket."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class SessionDropped(ConnectionError):
    """The connection ended (peer closed, liveness lost, fatal session error)."""


@dataclass(frozen=True, slots=True)
class SessionReject:
    """A Reject(3) the venue sent about one of our messages."""

    ref_seq_num: int
    ref_msg_type: str
    ref_tag: int | None
    reason: int | None
    text: str


@dataclass(frozen=True)
class FixSessionConfig:
    host: str
    port: int
    sender_comp_id: str
    target_comp_id: str
    logon_fields: Callable[[], list[tuple[int, str]]] = lambda: []  # auth and options, fresh per Logon
    tls: bool = False
    tls_ca_file: str = ""  # trust this CA bundle instead of the system's (a private or test venue)
    heartbeat_s: int = 30
    store_path: Path | None = None  # sequence numbers; None = memory only (a restart starts at 1)
    reset_on_logon: bool = False  # ResetSeqNumFlag(141)=Y on every Logon (both sides restart at 1)
    resend_application: bool = False  # answer ResendRequest with the application messages (else GapFill)
    app_required: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # app MsgTypes we accept
    logon_timeout_s: float = 10.0
    logout_timeout_s: float = 2.0
    backoff: Backoff = DEFAULT_BACKOFF
    stable_after_s: float = 10.0  # a session up this long resets the backoff


# ---------------------------------------------------------------------------------------------- framing


@dataclass(frozen=True, slots=True)
class Garbled:
    """Bytes that are not a well-formed FIX message (they consume no sequence number)."""

    reason: str
    data: bytes


class FixFramer:
    """Splits a byte stream into whole FIX 4.4 messages, checking BeginString, BodyLength and CheckSum.

    After a garbled frame it resynchronises at the next ``8=FIX.4.4<SOH>``.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes | Garbled]:
        self._buf += data
        out: list[bytes | Garbled] = []
        while self._buf:
            start = self._buf.find(_BEGIN)
            if start < 0:
                # Keep a tail that could be the start of a BeginString split across reads.
                keep = len(_BEGIN) - 1
                if len(self._buf) > keep:
                    out.append(Garbled("no BeginString", bytes(self._buf[:-keep])))
                    del self._buf[:-keep]
                return out
            if start > 0:
                out.append(Garbled("bytes before BeginString", bytes(self._buf[:start])))
                del self._buf[:start]
            head = len(_BEGIN)
            if len(self._buf) < head + 3:
                return out
            if self._buf[head : head + 2] != b"9=":
                out.append(self._skip("BodyLength(9) missing after BeginString"))
                continue
            soh = self._buf.find(SOH, head)
            if soh < 0:
                if len(self._buf) - head > 12:
                    out.append(self._skip("BodyLength(9) not terminated"))
                    continue
                return out
            try:
                body_len = int(self._buf[head + 2 : soh])
            except ValueError:
                out.append(self._skip("BodyLength(9) is not a number"))
                continue
            body_end = soh + 1 + body_len
            if len(self._buf) < body_end + 7:
                # The frame is not complete yet, unless a wrong BodyLength points past the next message.
                nxt = self._buf.find(_BEGIN, soh)
                if 0 <= nxt < body_end:
                    out.append(self._skip("BodyLength(9) runs into the next message"))
                    continue
                return out
            trailer = bytes(self._buf[body_end : body_end + 7])
            if not (trailer.startswith(b"10=") and trailer.endswith(SOH)):
                out.append(self._skip("BodyLength(9) does not end where CheckSum(10) starts"))
                continue
            frame = bytes(self._buf[: body_end + 7])
            del self._buf[: body_end + 7]
            expected = sum(frame[:body_end]) % 256
            try:
                got = int(trailer[3:6])
            except ValueError:
                got = -1
            if got != expected:
                out.append(Garbled(f"CheckSum(10) {trailer[3:6].decode(errors='replace')} != {expected:03d}", frame))
                continue
            out.append(frame)
        return out

    def _skip(self, reason: str) -> Garbled:
        """Drop the current (broken) frame up to the next BeginString."""
        nxt = self._buf.find(_BEGIN, 1)
        cut = nxt if nxt > 0 else len(self._buf)
        bad = bytes(self._buf[:cut])
        del self._buf[:cut]
        return Garbled(reason, bad)


_RAW_LENGTH_TAGS = frozenset(str(tag).encode() for tag in RAW_LEN_TAGS)


def parse_frame(frame: bytes) -> simplefix.FixMessage:
    """A checked frame (``FixFramer`` output) as a simplefix message, the same one simplefix's parser
    makes. The fields are split in C: simplefix's parser walks the frame byte by byte in Python (~110 µs
    an ExecutionReport here, on every order's path, against ~10). A frame with a raw data field (its value
    may hold SOH) goes through simplefix's parser. ``ValueError`` for a malformed field."""
    fields = frame.split(SOH)
    if fields.pop():
        raise ValueError("frame does not end with SOH")
    msg = simplefix.FixMessage()
    for pair in fields:
        tag, eq, value = pair.partition(b"=")
        if not (eq and value and tag.isdigit()):
            raise ValueError(f"malformed field {pair[:32]!r}")
        if tag[0] == 0x30:  # "0"
            tag = str(int(tag)).encode()
        if tag in _RAW_LENGTH_TAGS:
            return _parse_with_simplefix(frame)
        msg.pairs.append((tag, value))
    msg.begin_string, msg.message_type = msg.get(8), msg.get(35)
    return msg


def _parse_with_simplefix(frame: bytes) -> simplefix.FixMessage:
    parser = simplefix.FixParser()
    parser.append_buffer(frame)
    try:
        msg = parser.get_message()
    except simplefix.errors.ParsingError as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    if msg is None:  # cannot happen for a framed message; kept as a clear error rather than None downstream
        raise ValueError("frame did not parse")
    return msg


def text(msg: simplefix.FixMessage, tag: int, default: str = "") -> str:
    """Tag value as text (simplefix stores bytes)."""
    value = msg.get(tag)
    return default if value is None else bytes(value).decode(errors="replace")


def integer(msg: simplefix.FixMessage, tag: int) -> int | None:
    value = msg.get(tag)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def new_message(msg_type: str, fields: Iterable[tuple[int, str]] = ()) -> simplefix.FixMessage:
    """An application or admin message with its body fields; the session adds the header."""
    msg = simplefix.FixMessage()
    msg.append_pair(35, msg_type, header=True)
    for tag, value in fields:
        msg.append_pair(tag, value)
    return msg


# ---------------------------------------------------------------------------------------------- store


class SeqStore:
    """Next outgoing and next expected incoming MsgSeqNum, persisted in a 16-byte memory-mapped file.

    ``path=None`` keeps them in memory. The file holds two little-endian unsigned 64-bit integers and
    nothing else (no credentials).
    """

    _FMT = struct.Struct("<QQ")

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._mm: mmap.mmap | None = None
        self._out, self._in = 1, 1
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < self._FMT.size:
                os.ftruncate(fd, self._FMT.size)
                os.pwrite(fd, self._FMT.pack(1, 1), 0)
            self._mm = mmap.mmap(fd, self._FMT.size)
        finally:
            os.close(fd)
        out, in_ = self._FMT.unpack_from(self._mm, 0)
        self._out, self._in = max(1, out), max(1, in_)

    @property
    def next_out(self) -> int:
        return self._out

    @next_out.setter
    def next_out(self, value: int) -> None:
        self._out = value
        if self._mm is not None:
            self._FMT.pack_into(self._mm, 0, self._out, self._in)

    @property
    def next_in(self) -> int:
        return self._in

    @next_in.setter
    def next_in(self, value: int) -> None:
        self._in = value
        if self._mm is not None:
            self._FMT.pack_into(self._mm, 0, self._out, self._in)

    def reset(self) -> None:
        self.next_out = 1
        self.next_in = 1

    def close(self) -> None:
        if self._mm is not None:
            self._mm.flush()
            self._mm.close()
            self._mm = None


# ---------------------------------------------------------------------------------------------- session

MessageSink = Callable[[simplefix.FixMessage, bool], None]  # (application message, PossDupFlag)


@dataclass
class _Stored:
    msg_type: str
    fields: list[tuple[int, str]]
    sending_time: str


class FixSession:
    def __init__(
        self,
        config: FixSessionConfig,
        on_message: MessageSink,
        *,
        on_state: Callable[[bool], None] | None = None,
        on_reject: Callable[[SessionReject], None] | None = None,
        on_admin: Callable[[simplefix.FixMessage], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store = SeqStore(config.store_path)
        self._on_message = on_message
        self._on_state = on_state
        self._on_reject = on_reject
        self._on_admin = on_admin
        self._clock = clock
        self._writer: asyncio.StreamWriter | None = None
        self._logged_on = asyncio.Event()
        self._stopping = False
        self._logout_echo = asyncio.Event()
        self._outbound: OrderedDict[int, _Stored] = OrderedDict()
        self._queued: dict[int, simplefix.FixMessage] = {}
        self._resend_pending = False  # a ResendRequest (through infinity) is outstanding
        self._resend_sent_at = 0.0  # when it was sent (asked again after RESEND_RETRY_S without the gap filled)
        self._last_sent = 0.0
        self._last_recv = 0.0
        self._test_req_sent_at: float | None = None
        self._test_req_id = 0
        self.refusal: LogonRefused | None = None
        self.refused = asyncio.Event()  # set on every refusal (the owner decides whether to keep trying)
        self._heard: list[asyncio.Future[None]] = []  # nudges waiting for the next message in sequence
        self._last_in_sequence = 0.0  # when the last message in sequence was processed
        self.connections = 0
        self.garbled = 0  # frames ignored as garbled (also logged)
        self.rejects_sent = 0

    # ------------------------------------------------------------------ use

    @property
    def logged_on(self) -> bool:
        return self._logged_on.is_set()

    @property
    def live(self) -> bool:
        """Logged on (a stall watch's view of the session)."""
        return self._logged_on.is_set()

    @property
    def last_heard(self) -> float:
        """When the last message in sequence was processed (``clock`` time: monotonic by default). Not
        merely read: messages held behind a sequence gap (waiting for the venue's resend) do not count, so
        a session stuck on a gap looks silent to a stall watch even while its heartbeats flow."""
        return self._last_in_sequence

    async def nudge(self) -> None:
        """Ask the venue for an answer now: a TestRequest, then wait for the next message processed in
        sequence (its Heartbeat answer at the latest, behind every report sent before it); the caller
        bounds the wait."""
        if not self.logged_on or self._writer is None:
            return
        heard: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._heard.append(heard)
        try:
            self._test_req_id += 1
            self._send(new_message(TEST_REQUEST, [(112, f"NUDGE{self._test_req_id}")]), store=False)
            await heard
        finally:
            if heard in self._heard:
                self._heard.remove(heard)

    async def wait_logged_on(self, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            await self._logged_on.wait()

    def send(self, msg: simplefix.FixMessage) -> int:
        """Send an application message now; returns its MsgSeqNum. ``NotSent`` when not logged on."""
        if not self.logged_on or self._writer is None:
            raise NotSent(f"FIX {self.config.sender_comp_id}->{self.config.target_comp_id}: not logged on")
        return self._send(msg, store=True)

    async def stop(self, text: str = "", extra: Iterable[tuple[int, str]] = ()) -> None:
        """Log out (waiting for the echo, at most ``logout_timeout_s``) and end ``run``."""
        self._stopping = True
        writer = self._writer
        if writer is not None and self.logged_on:
            fields = [(58, text)] if text else []
            self._send(new_message(LOGOUT, [*fields, *extra]), store=False)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.logout_timeout_s):
                    await self._logout_echo.wait()
        await self.drop()

    async def drop(self) -> None:
        """Close the socket without Logout (as a network failure would); ``run`` reconnects unless stopping."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ run loop

    async def run(self) -> None:
        """Connect, log on, serve; reconnect with backoff until ``stop()`` or cancellation."""
        attempt = 0
        try:
            while not self._stopping:
                up_at: float | None = None
                try:
                    up_at = await self._connect_and_serve()
                except LogonRefused as exc:
                    self.refusal = exc
                    self.refused.set()
                    log.warning("fix.logon_refused", extra={"session": self._name, "reason": exc.text})
                except (OSError, ConnectionError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    if not self._stopping:  # after stop() the socket is closed on purpose
                        log.warning("fix.disconnected", extra={"session": self._name, "error": repr(exc)})
                finally:
                    self._writer = None
                    if self._logged_on.is_set():
                        self._logged_on.clear()
                        if self._on_state is not None:
                            self._on_state(False)
                if self._stopping:
                    return
                if up_at is not None and self._clock() - up_at >= self.config.stable_after_s:
                    attempt = 0
                delay = self.config.backoff.delay(attempt)
                attempt += 1
                await asyncio.sleep(delay)  # reconnect backoff (cancellation ends the loop)
        finally:
            await self.drop()

    @property
    def _name(self) -> str:
        return f"{self.config.sender_comp_id}->{self.config.target_comp_id}"

    async def _connect_and_serve(self) -> float | None:
        cfg = self.config
        ctx = ssl.create_default_context(cafile=cfg.tls_ca_file or None) if cfg.tls else None
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation of this task
        # when the awaited result arrives at the same moment, and ``run`` must end when cancelled.
        async with asyncio.timeout(cfg.logon_timeout_s):
            reader, writer = await asyncio.open_connection(
                cfg.host, cfg.port, ssl=ctx, server_hostname=cfg.host if cfg.tls else None
            )
        self._writer = writer
        self._logout_echo.clear()
        self._queued.clear()
        self._resend_pending = False
        self._test_req_sent_at = None
        framer = FixFramer()
        self._last_recv = self._clock()
        self._send_logon()
        async with asyncio.timeout(cfg.logon_timeout_s):
            logon, rest = await self._read_logon(reader, framer)
        self.connections += 1
        self.refusal = None
        up_at = self._last_in_sequence = self._clock()
        self._logged_on.set()
        log.info("fix.logged_on", extra={"session": self._name, "seq_out": self.store.next_out})
        if self._on_state is not None:
            self._on_state(True)
        self._handle(logon)  # sequence check of the Logon itself (a gap there asks for a resend)
        self._handle_frames(rest)  # whatever came in the same read as the Logon echo
        timer = asyncio.create_task(self._timer(), name=f"fix.{self._name}.timer")
        try:
            await self._read_loop(reader, framer)
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        return up_at

    def _send_logon(self) -> None:
        cfg = self.config
        fields: list[tuple[int, str]] = [(98, "0"), (108, str(cfg.heartbeat_s))]
        if cfg.reset_on_logon:
            self.store.reset()
            self._outbound.clear()
            fields.append((141, "Y"))
        fields.extend(cfg.logon_fields())
        self._send(new_message(LOGON, fields), store=False)

    async def _read_logon(
        self, reader: asyncio.StreamReader, framer: FixFramer
    ) -> tuple[simplefix.FixMessage, list[bytes | Garbled]]:
        """Frames until the Logon echo (returned with the frames read after it); Logout (or EOF) first
        means refused."""
        while True:
            data = await reader.read(65536)
            if not data:
                raise LogonRefused("the venue closed the connection without answering Logon")
            items = framer.feed(data)
            for i, item in enumerate(items):
                if isinstance(item, Garbled):
                    self._garbled(item)
                    continue
                msg = parse_frame(item)
                kind = text(msg, 35)
                if kind == LOGON:
                    seq = int(text(msg, 34) or 0)
                    if msg.get(141) == b"Y":
                        self.store.next_in = 1
                    elif 0 < seq < self.store.next_in:
                        # the venue numbers from a lower point than it left off: it lost its session state
                        # (a restart, a daily reset). Continue from its numbering; what it sent before is
                        # not replayable, and the connector's recovery after the reconnect fetches it.
                        log.warning(
                            "fix.venue_sequence_reset",
                            extra={"session": self._name, "expected": self.store.next_in, "received": seq},
                        )
                        self.store.next_in = seq
                    return msg, items[i + 1 :]
                if kind == LOGOUT:
                    raise LogonRefused(text(msg, 58) or "Logout without a reason")
                log.warning("fix.before_logon", extra={"session": self._name, "msg_type": kind})

    async def _read_loop(self, reader: asyncio.StreamReader, framer: FixFramer) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                raise SessionDropped("peer closed the connection")
            self._last_recv = self._clock()
            self._test_req_sent_at = None
            self._handle_frames(framer.feed(data))
            if self._writer is None:
                return  # a fatal session error or a Logout ended the connection

    def _handle_frames(self, items: list[bytes | Garbled]) -> None:
        for item in items:
            if isinstance(item, Garbled):
                self._garbled(item)
                continue
            try:
                msg = parse_frame(item)
            except ValueError as exc:
                self._garbled(Garbled(str(exc), item))
                continue
            self._handle(msg)
            if self._writer is None:
                return

    async def _timer(self) -> None:
        """Heartbeats out, TestRequest when the venue is silent, disconnect when it stays silent."""
        hb = float(self.config.heartbeat_s)
        while self._writer is not None:
            now = self._clock()
            if self._test_req_sent_at is not None and now - self._test_req_sent_at >= hb:
                log.warning("fix.liveness_lost", extra={"session": self._name})
                await self.drop()
                return
            if self._test_req_sent_at is None and now - self._last_recv >= hb * 1.2:
                self._test_req_id += 1
                self._send(new_message(TEST_REQUEST, [(112, f"TEST{self._test_req_id}")]), store=False)
                self._test_req_sent_at = now
            elif now - self._last_sent >= hb:
                self._send(new_message(HEARTBEAT), store=False)
            if self._resend_pending and self._queued:  # a gap still open: ask again once it is overdue
                self._request_resend(self.store.next_in, max(self._queued))
            await asyncio.sleep(min(1.0, hb / 4))  # the timer's tick

    # ------------------------------------------------------------------ outbound

    def _send(self, msg: simplefix.FixMessage, *, store: bool, seq: int | None = None) -> int:
        writer = self._writer
        if writer is None or writer.is_closing():  # the socket is gone (its loss not handled yet)
            raise NotSent(f"FIX {self._name}: not connected")
        new_seq = seq is None
        num = self.store.next_out if seq is None else seq
        msg.append_pair(8, BEGIN_STRING, header=True)
        msg.append_pair(49, self.config.sender_comp_id, header=True)
        msg.append_pair(56, self.config.target_comp_id, header=True)
        msg.append_pair(34, str(num), header=True)
        if msg.get(52) is None:
            msg.append_utc_timestamp(52, precision=3, header=True)
        frame = msg.encode()
        # Header order: 8, 9, 35 first as FIX requires; simplefix keeps the rest in insertion order.
        writer.write(frame)
        self._last_sent = self._clock()
        if new_seq:
            self.store.next_out = num + 1
            msg_type = text(msg, 35)
            if store and msg_type not in ADMIN_TYPES and self.config.resend_application:
                body = [(int(t), bytes(v).decode()) for t, v in msg.pairs if int(t) not in _HEADER_TAGS]
                self._outbound[num] = _Stored(msg_type, body, text(msg, 52))
                while len(self._outbound) > STORED_OUTBOUND_MAX:
                    self._outbound.popitem(last=False)
        return num

    def _reject(self, ref: simplefix.FixMessage, reason: int, why: str, ref_tag: int | None = None) -> None:
        fields: list[tuple[int, str]] = [(45, text(ref, 34, "0")), (372, text(ref, 35)), (373, str(reason))]
        if ref_tag is not None:
            fields.append((371, str(ref_tag)))
        fields.append((58, why))
        self.rejects_sent += 1
        log.warning("fix.reject_sent", extra={"session": self._name, "reason": why, "ref_seq": text(ref, 34)})
        self._send(new_message(REJECT, fields), store=False)

    def _fatal(self, why: str) -> None:
        """Logout with the reason and close (FIX: e.g. MsgSeqNum too low, missing MsgSeqNum)."""
        log.error("fix.session_error", extra={"session": self._name, "reason": why})
        with contextlib.suppress(NotSent):
            self._send(new_message(LOGOUT, [(58, why)]), store=False)
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def _garbled(self, item: Garbled) -> None:
        self.garbled += 1
        log.warning("fix.garbled", extra={"session": self._name, "reason": item.reason, "bytes": len(item.data)})

    # ------------------------------------------------------------------ inbound

    def _handle(self, msg: simplefix.FixMessage) -> None:
        cfg = self.config
        msg_type = text(msg, 35)
        seq = integer(msg, 34)
        if seq is None:
            self._fatal("MsgSeqNum(34) missing or not a number")
            return
        if text(msg, 49) != cfg.target_comp_id or text(msg, 56) != cfg.sender_comp_id:
            self._reject(
                msg, REJECT_COMPID_PROBLEM, "CompID problem", 49 if text(msg, 49) != cfg.target_comp_id else 56
            )
            self.store.next_in = max(self.store.next_in, seq + 1)
            self._fatal("CompID problem")
            return
        if msg_type == SEQUENCE_RESET and msg.get(123) != b"Y":
            self._sequence_reset(msg, gap_fill=False)
            return
        expected = self.store.next_in
        poss_dup = msg.get(43) == b"Y"
        if seq < expected:
            if poss_dup:
                return  # a duplicate we already processed
            if msg_type == LOGOUT:
                self._on_logout(msg)
                return
            self._fatal(f"MsgSeqNum too low, expecting {expected} but received {seq}")
            return
        if seq > expected:
            if msg_type == RESEND_REQUEST:
                # Answered at once (FIX: even across a gap); not queued, since the venue's resend replaces
                # it with a GapFill.
                self._on_resend_request(msg)
            elif msg_type == LOGOUT:
                self._on_logout(msg)
                return
            elif len(self._queued) < QUEUED_INBOUND_MAX:
                self._queued[seq] = msg
            self._request_resend(expected, seq)
            return
        self._process(msg, msg_type, seq, poss_dup)
        self._drain_queue()

    def _drain_queue(self) -> None:
        while self._queued and self._writer is not None:
            for old in [s for s in self._queued if s < self.store.next_in]:
                del self._queued[old]
            nxt = self._queued.pop(self.store.next_in, None)
            if nxt is None:
                break
            self._process(nxt, text(nxt, 35), self.store.next_in, nxt.get(43) == b"Y")
        if not self._queued:
            self._resend_pending = False

    def _request_resend(self, begin: int, seen: int) -> None:
        if self._resend_pending and self._clock() - self._resend_sent_at < RESEND_RETRY_S:
            return  # one outstanding ResendRequest (through infinity) covers every later gap
        # ... unless it went unanswered: the venue may have dropped it, e.g. sent while the venue itself waited
        # for our resend, then gap-filled away with our other admin messages (fault matrix, deribit kill -9:
        # every later report held behind the gap, orders unanswered for 10 s each)
        self._resend_pending = True
        self._resend_sent_at = self._clock()
        log.warning("fix.gap", extra={"session": self._name, "expected": begin, "received": seen})
        self._send(new_message(RESEND_REQUEST, [(7, str(begin)), (16, "0")]), store=False)

    def _process(self, msg: simplefix.FixMessage, msg_type: str, seq: int, poss_dup: bool) -> None:
        """A message in sequence: validate, consume its sequence number, act."""
        self._last_in_sequence = self._clock()
        if self._heard:
            for heard in self._heard:
                if not heard.done():
                    heard.set_result(None)
            self._heard.clear()
        known_app = msg_type in self.config.app_required
        if msg_type not in ADMIN_TYPES and not known_app:
            self.store.next_in = seq + 1
            self._reject(msg, REJECT_INVALID_MSGTYPE, f"Invalid MsgType {msg_type!r}", 35)
            return
        required = ADMIN_REQUIRED.get(msg_type) or self.config.app_required.get(msg_type, ())
        missing = next((tag for tag in required if msg.get(tag) is None), None)
        if missing is not None:
            self.store.next_in = seq + 1
            self._reject(msg, REJECT_REQUIRED_TAG_MISSING, "Required tag missing", missing)
            return
        if msg_type == SEQUENCE_RESET:  # GapFill (Reset was handled before the sequence check)
            self._sequence_reset(msg, gap_fill=True)
            if self._on_admin is not None:
                self._on_admin(msg)
            return
        self.store.next_in = seq + 1
        if msg_type in ADMIN_TYPES:
            self._admin(msg, msg_type)
            if self._on_admin is not None:
                self._on_admin(msg)
            return
        try:
            self._on_message(msg, poss_dup)
        except Exception:  # an application bug must not take the session down; the message is logged
            log.exception("fix.app_handler_failed", extra={"session": self._name, "msg_type": msg_type})

    def _admin(self, msg: simplefix.FixMessage, msg_type: str) -> None:
        if msg_type == TEST_REQUEST:
            self._send(new_message(HEARTBEAT, [(112, text(msg, 112))]), store=False)
        elif msg_type == RESEND_REQUEST:
            self._on_resend_request(msg)
        elif msg_type == REJECT:
            rej = SessionReject(
                integer(msg, 45) or 0, text(msg, 372), integer(msg, 371), integer(msg, 373), text(msg, 58)
            )
            log.warning(
                "fix.rejected_by_venue",
                extra={"session": self._name, "ref_seq": rej.ref_seq_num, "reason": rej.reason, "text": rej.text},
            )
            if self._on_reject is not None:
                self._on_reject(rej)
        elif msg_type == LOGOUT:
            self._on_logout(msg)
        elif msg_type == LOGON:
            pass  # the Logon echo itself (sequence checked by the caller)

    def _sequence_reset(self, msg: simplefix.FixMessage, *, gap_fill: bool) -> None:
        new_seq = integer(msg, 36)
        if new_seq is None:
            self._reject(msg, REJECT_REQUIRED_TAG_MISSING, "Required tag missing", 36)
            return
        if new_seq < self.store.next_in:
            if gap_fill:
                self.store.next_in += 1  # consumes its own number; a reset cannot move backwards
            self._reject(msg, REJECT_VALUE_INCORRECT, f"NewSeqNo {new_seq} below expected {self.store.next_in}", 36)
            return
        log.info("fix.sequence_reset", extra={"session": self._name, "new_seq": new_seq, "gap_fill": gap_fill})
        self.store.next_in = new_seq
        self._drain_queue()

    def _on_resend_request(self, msg: simplefix.FixMessage) -> None:
        begin = max(1, integer(msg, 7) or 1)
        end = integer(msg, 16) or 0
        last = self.store.next_out - 1
        if end == 0 or end > last:
            end = last
        if begin > end:
            return
        log.info("fix.resend", extra={"session": self._name, "begin": begin, "end": end})
        gap_start: int | None = None
        for num in range(begin, end + 1):
            stored = self._outbound.get(num) if self.config.resend_application else None
            if stored is None:
                if gap_start is None:
                    gap_start = num
                continue
            if gap_start is not None:
                self._gap_fill(gap_start, num)
                gap_start = None
            again = new_message(stored.msg_type, stored.fields)
            again.append_pair(43, "Y", header=True)
            again.append_pair(122, stored.sending_time, header=True)
            self._send(again, store=False, seq=num)
        if gap_start is not None:
            self._gap_fill(gap_start, end + 1)

    def _gap_fill(self, seq: int, new_seq: int) -> None:
        """SequenceReset-GapFill: PossDupFlag=Y, so OrigSendingTime(122) too (FIX 4.4: required on a resend;
        SendingTime when there is no original). The Deribit acceptor refuses one without it (Reject(3), the
        gap stays open and every later message is dropped: orders and cancels unanswered for seconds, seen
        in the fault matrix after a kill -9)."""
        reset = new_message(SEQUENCE_RESET, [(123, "Y"), (36, str(new_seq))])
        reset.append_pair(43, "Y", header=True)
        reset.append_utc_timestamp(52, precision=3, header=True)
        reset.append_pair(122, text(reset, 52), header=True)
        self._send(reset, store=False, seq=seq)

    def _on_logout(self, msg: simplefix.FixMessage) -> None:
        if self._stopping:
            self._logout_echo.set()
            return
        log.warning("fix.logout_by_venue", extra={"session": self._name, "text": text(msg, 58)})
        with contextlib.suppress(NotSent):
            self._send(new_message(LOGOUT), store=False)
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()


_HEADER_TAGS = frozenset({8, 9, 35, 49, 56, 34, 52, 43, 97, 122, 10})
