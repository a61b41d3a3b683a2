"""The FIX 4.4 session layer of the simulated Deribit acceptor (``fix.deribit.com:9881``).

simplefix encodes and parses fields; framing, validation and the session protocol are here, written
from the FIX 4.4 session rules and Deribit's FIX pages:

- Framing: ``8=FIX.4.4|9=len|...|10=ccc|``. A frame whose BodyLength or CheckSum is wrong is garbled:
  it is logged and ignored without consuming a sequence number (FIX: "garbled messages are ignored");
  the next good message then shows the gap and is answered with a ResendRequest.
- Logon(A) must come first (anything else closes the socket). Authentication is the application's
  (``FixApplication.logon``); a refusal is a Logout(5) with the reason in Text(58), then close.
- Sequence numbers both ways, kept per (Username, SenderCompID) for the simulator's lifetime, so a
  reconnecting client continues its sequence; ``ResetSeqNumFlag(141)=Y`` on Logon restarts both at 1.
  Too high: ResendRequest(2) for the gap (messages after the gap are ignored until it is filled). Too
  low without PossDupFlag: Logout "MsgSeqNum too low, expecting N but received M" and close.
- ResendRequest received: stored application messages are resent with PossDupFlag=Y and
  OrigSendingTime; administrative ones are replaced by SequenceReset-GapFill.
- SequenceReset(4): GapFill mode follows the sequence rules and moves the expected number forward;
  Reset mode (GapFillFlag absent/N) ignores MsgSeqNum and, as Deribit documents, is answered with a
  ResendRequest whose BeginSeqNo = EndSeqNo = NewSeqNo on success, or = the current expected number
  when it would lower the sequence.
- Heartbeat(0) after HeartBtInt seconds without sending; TestRequest(1) after HeartBtInt (+20%)
  without receiving; the connection is dropped (cancel-on-disconnect fires) when that goes
  unanswered for another interval. TestRequest is answered with Heartbeat(112); a client Heartbeat
  is echoed, as Deribit documents.
- Bad messages get Reject(3) with RefSeqNum, RefTagID, RefMsgType and SessionRejectReason
  (1 required tag missing, 4 tag without value, 5 incorrect value, 9 CompID problem, 11 invalid
  MsgType); an application message type of FIX 4.4 that Deribit's gateway does not serve here gets
  BusinessMessageReject(j) with BusinessRejectReason 3 (unsupported message type).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import simplefix
from simplefix.data import RAW_LEN_TAGS

log = logging.getLogger("execx_sim.deribit.fix")

SOH = b"\x01"
BEGIN_STRING = b"FIX.4.4"
SERVER_COMP_ID = "DERIBITSERVER"
MAX_STORED = 100_000  # outgoing messages kept for resends per session; older ones are gap-filled
MAX_FRAME = 1 << 20
WRITE_BUFFER_LIMIT = 8 << 20  # a client this far behind is disconnected (slow consumer)

ADMIN_TYPES = frozenset({b"0", b"1", b"2", b"3", b"4", b"5", b"A"})
# Application message types defined by FIX 4.4 (an unknown MsgType is a session-level Reject).
FIX44_APP_TYPES = frozenset(
    b"6 7 8 9 B C D E F G H J K L M N P Q R S T V W X Y Z a b c d e f g h i j k l m n o p q r s t u v w x y z "
    b"AA AB AC AD AE AF AG AH AI AJ AK AL AM AN AO AP AQ AR AS AT AU AV AW AX AY AZ BA BB BC BD BE BF BG BH".split()
)

_FRAME_HEAD = re.compile(rb"8=([^\x01]*)\x019=(\d{1,7})\x01")


class Garbled(Exception):
    """A frame that cannot be a FIX message (bad BodyLength / CheckSum layout or value)."""


@dataclass
class Frame:
    raw: bytes
    msg: simplefix.FixMessage


def split_frames(buf: bytearray) -> list[Frame | Garbled]:
    """Take every complete frame off the front of ``buf`` (garbled ones as ``Garbled``)."""
    out: list[Frame | Garbled] = []
    while True:
        start = buf.find(b"8=")
        if start < 0:
            if len(buf) > MAX_FRAME:
                buf.clear()
            return out
        if start:
            out.append(Garbled(f"{start} bytes before BeginString discarded"))
            del buf[:start]
        head = _FRAME_HEAD.match(buf)
        if head is None:
            if SOH in buf[:32] and buf.count(SOH, 0, 32) >= 2:  # two complete fields, not 8=...|9=n|
                out.append(Garbled("BodyLength(9) missing after BeginString(8)"))
                del buf[:2]
                continue
            return out
        end = head.end() + int(head.group(2))
        if len(buf) < end + 7:
            if end > MAX_FRAME:
                out.append(Garbled("BodyLength too large"))
                del buf[:2]
                continue
            return out
        trailer = bytes(buf[end : end + 7])
        if not (trailer.startswith(b"10=") and trailer.endswith(SOH) and trailer[3:6].isdigit()):
            out.append(Garbled("BodyLength(9) does not end at CheckSum(10)"))
            del buf[:2]
            continue
        raw = bytes(buf[: end + 7])
        del buf[: end + 7]
        checksum = sum(raw[:end]) % 256
        if int(trailer[3:6]) != checksum:
            out.append(Garbled(f"CheckSum(10) {trailer[3:6].decode()} but computed {checksum:03d}"))
            continue
        msg = parse_message(raw)
        if msg is None:
            out.append(Garbled("unparseable"))
            continue
        out.append(Frame(raw, msg))


_RAW_LENGTH_TAGS = frozenset(str(tag).encode() for tag in RAW_LEN_TAGS)


def parse_message(raw: bytes) -> simplefix.FixMessage | None:
    """A framed message as simplefix's parser (empty values allowed) makes it. Plain tag=value fields are
    split in C, which is ~10x faster than that parser's byte-by-byte loop; anything else (a raw data
    field, whose value may hold SOH; a field that is not tag=value) goes to simplefix's parser itself."""
    msg = ParsedMessage()
    first = msg.first
    for pair in raw.split(SOH)[:-1]:
        tag, eq, value = pair.partition(b"=")
        if not eq or not tag.isdigit() or tag[0] == 0x30 or tag in _RAW_LENGTH_TAGS:  # 0x30: "0"
            parser = simplefix.FixParser(allow_empty_values=True)
            parser.append_buffer(raw)
            return parser.get_message()
        msg.pairs.append((tag, value))
        first.setdefault(tag, value)
    msg.indexed = len(msg.pairs)
    msg.begin_string, msg.message_type = msg.get(8), msg.get(35)
    return msg


class ParsedMessage(simplefix.FixMessage):  # type: ignore[misc]
    """A message ``parse_message`` split: ``get`` of a tag's first value is a dict look-up (simplefix's
    scans every pair and converts the tag on every call; a handler reads a dozen tags of each message).
    A message changed after parsing (``append_*``, ``remove``) is read as simplefix reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[bytes, bytes] = {}
        self.indexed = -1

    def append_pair(self, tag: object, value: object, header: bool = False) -> None:
        self.indexed = -1  # every append_* goes through here
        super().append_pair(tag, value, header)

    def remove(self, tag: object, nth: int = 1) -> bytes | None:
        self.indexed = -1
        value: bytes | None = super().remove(tag, nth)
        return value

    def get(self, tag: int | str | bytes, nth: int = 1) -> bytes | None:
        if nth == 1 and type(tag) is int and len(self.pairs) == self.indexed:
            key = _TAG_BYTES.get(tag)
            if key is None:
                key = _TAG_BYTES[tag] = str(tag).encode()
            return self.first.get(key)
        value: bytes | None = super().get(tag, nth)
        return value


_TAG_BYTES: dict[int, bytes] = {}


_FRAMING_TAGS = frozenset((8, 9, 35, 10))


def encode_message(msg_type: str, header: Iterable[tuple[int, object]], body: Iterable[tuple[int, object]]) -> bytes:
    """A message on the wire, byte for byte as simplefix's ``FixMessage.encode`` makes it from these header
    and body fields (BeginString, BodyLength, MsgType first, CheckSum last; a field with a framing tag or a
    None value is left out), at a fraction of its cost: simplefix sums the checksum byte by byte in Python
    and converts every tag and value through several calls."""
    return frame(msg_type, encode_fields(header), encode_fields(body))


def encode_fields(fields: Iterable[tuple[int, object]]) -> bytes:
    """``tag=value<SOH>`` of each field (but framing tags and None values), formatted as one text and
    encoded once (a bytes value is carried through unchanged: surrogateescape round-trips any byte)."""
    return "".join(
        [
            f"{tag}={value if type(value) is str else _field_text(value)}\x01"
            for tag, value in fields
            if value is not None and tag not in _FRAMING_TAGS
        ]
    ).encode("utf-8", "surrogateescape")


def frame(msg_type: str, header: bytes, body: bytes) -> bytes:
    """A message from its encoded header fields (after MsgType) and body fields."""
    rest = b"35=" + msg_type.encode() + SOH + header + body
    out = b"8=" + BEGIN_STRING + b"\x019=%d\x01" % len(rest) + rest
    return out + b"10=%03d\x01" % (sum(out) % 256)


def _field_text(value: object) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def text(msg: simplefix.FixMessage, tag: int) -> str | None:
    value = msg.get(tag)
    if value is None:
        return None
    return (value if type(value) is bytes else bytes(value)).decode("utf-8", "replace")


def utc_timestamp() -> str:
    t = time.time()
    second = int(t)
    if second != _second[0]:  # the date and time part changes once a second: formatted once a second
        _second[:] = [second, time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second))]
    return f"{_second[1]}.{int(t * 1000) % 1000:03d}"


_second: list[Any] = [-1, ""]  # (epoch second, its "%Y%m%d-%H:%M:%S")


Fields = list[tuple[int, str]]


class Stored(NamedTuple):
    """A sent message kept for resends: its body encoded once (bytes and a tuple of texts: nothing for the
    garbage collector to walk, though a session keeps up to ``MAX_STORED`` of them)."""

    msg_type: str
    body: bytes
    sending_time: str


@dataclass
class SessionState:
    """Sequence numbers and sent messages of one FIX session; survives the TCP connection."""

    username: str
    comp_id: str
    next_in: int = 1
    next_out: int = 1
    sent: dict[int, Stored] = field(default_factory=dict)

    def reset(self) -> None:
        self.next_in = 1
        self.next_out = 1
        self.sent.clear()


class SessionRejected(Exception):
    """Logon refused: ``reason`` goes into the Logout's Text(58)."""


class FixApplication(Protocol):
    """What the session layer needs from the venue (authentication and application messages)."""

    def logon(self, conn: FixConnection, msg: simplefix.FixMessage) -> None:
        """Authenticate a Logon (raise ``SessionRejected``); may set ``conn.logon_echo``."""
        ...

    def required_tags(self, msg_type: bytes) -> tuple[int, ...] | None:
        """Required body tags of a served application message type, None if not served."""
        ...

    def on_message(self, conn: FixConnection, msg_type: bytes, msg: simplefix.FixMessage) -> None: ...

    def on_logout(self, conn: FixConnection, msg: simplefix.FixMessage | None) -> None:
        """The session ends: a Logout received (``msg``) or the connection lost (None)."""
        ...


class FixConnection:
    """One accepted TCP connection running the FIX session protocol."""

    def __init__(
        self,
        app: FixApplication,
        sessions: dict[tuple[str, str], SessionState],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.reader = reader
        self.writer = writer
        self.state: SessionState | None = None
        self.logged_on = False
        self.heartbeat_s = 0
        self.logon_echo: Fields = []  # extra Logon tags the application echoes
        self.closing = False
        self._last_sent = time.monotonic()
        self._last_recv = time.monotonic()
        self._test_req: str | None = None
        self._resend_until: int | None = None  # a ResendRequest is outstanding up to this number
        self.closed = asyncio.Event()
        self.peer = str(writer.get_extra_info("peername"))
        self._out: list[bytes] = []  # messages written in this turn of the event loop, sent together

    # ------------------------------------------------------------------ sending

    def send(self, msg_type: str, body: Iterable[tuple[int, str]]) -> None:
        """Send one message with the next outgoing sequence number (no-op once the socket is gone)."""
        state = self.state
        if state is None or self.writer.is_closing():
            return
        encoded = encode_fields(body)
        seq = state.next_out
        state.next_out += 1
        now = utc_timestamp()
        state.sent[seq] = Stored(msg_type, encoded, now)
        if len(state.sent) > MAX_STORED:
            state.sent.pop(next(iter(state.sent)))
        self._write(msg_type, seq, now, encoded)

    def _write(
        self, msg_type: str, seq: int, sending_time: str, body: bytes, extra_header: Iterable[tuple[int, str]] = ()
    ) -> None:
        assert self.state is not None
        header = [(49, SERVER_COMP_ID), (56, self.state.comp_id), (34, str(seq)), (52, sending_time), *extra_header]
        self._queue(frame(msg_type, encode_fields(header), body))
        self._last_sent = time.monotonic()

    def _queue(self, data: bytes) -> None:
        """Write ``data`` at the end of this turn of the event loop, with every other message written in it:
        one send to the socket for the reports of a batch of requests, not one each (in order)."""
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        if not self._out:
            return
        data = b"".join(self._out)
        self._out.clear()
        transport = self.writer.transport
        if transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            log.warning("FIX %s: slow consumer, disconnecting", self.peer)
            transport.abort()

    def send_raw_logout(self, comp_id: str, seq: int, reason: str) -> None:
        """A Logout outside any session state (refused Logon of an unknown session)."""
        m = simplefix.FixMessage()
        m.append_pair(8, BEGIN_STRING, header=True)
        m.append_pair(35, "5", header=True)
        m.append_pair(49, SERVER_COMP_ID, header=True)
        m.append_pair(56, comp_id, header=True)
        m.append_pair(34, seq, header=True)
        m.append_pair(52, utc_timestamp(), header=True)
        m.append_pair(58, reason)
        self._queue(m.encode())

    def reject(self, ref: simplefix.FixMessage, reason: int, why: str, tag: int | None = None) -> None:
        body: Fields = [(45, text(ref, 34) or "0")]
        if tag is not None:
            body.append((371, str(tag)))
        msg_type = text(ref, 35)
        if msg_type:
            body.append((372, msg_type))
        body += [(373, str(reason)), (58, why)]
        log.info("FIX %s: Reject(3) %s", self.peer, why)
        self.send("3", body)

    def logout(self, reason: str) -> None:
        """Send Logout with ``reason`` and close the socket (session-level error)."""
        log.info("FIX %s: Logout: %s", self.peer, reason)
        self.send("5", [(58, reason)])
        self.close()

    def close(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):
            self._flush()  # what was written before closing is sent before the close
            self.writer.close()

    # ------------------------------------------------------------------ receiving

    async def run(self) -> None:
        buf = bytearray()
        timer = asyncio.create_task(self._timers())
        try:
            while not self.closing:
                data = await self.reader.read(65536)
                if not data:
                    break
                self._last_recv = time.monotonic()
                self._test_req = None
                buf += data
                for item in split_frames(buf):
                    if isinstance(item, Garbled):
                        log.warning("FIX %s: garbled message ignored: %s", self.peer, item)
                        continue
                    self._on_frame(item.msg)
                    if self.closing:
                        break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
            if self.logged_on:
                self.logged_on = False
                self.app.on_logout(self, None)
            self.close()
            self.closed.set()

    def _on_frame(self, msg: simplefix.FixMessage) -> None:
        msg_type = msg.get(35)
        if not self.logged_on:
            if msg_type != b"A":
                log.info("FIX %s: first message is not Logon; closing", self.peer)
                self.close()
                return
            self._on_logon(msg)
            return
        assert self.state is not None
        if msg.get(8) != BEGIN_STRING:
            self.logout(f"Incorrect BeginString {text(msg, 8)}")
            return
        seq_text = text(msg, 34)
        if not seq_text or not seq_text.isdigit():
            self.logout("MsgSeqNum(34) missing or not a number")
            return
        if msg.get(49) != self.state.comp_id.encode() or msg.get(56) != SERVER_COMP_ID.encode():
            self.reject(msg, 9, "CompID problem", 49 if msg.get(49) != self.state.comp_id.encode() else 56)
            self.logout("CompID problem")
            return
        seq = int(seq_text)
        poss_dup = msg.get(43) == b"Y"
        if msg_type == b"4" and msg.get(123) != b"Y":
            self._on_sequence_reset(msg)
            return
        if seq > self.state.next_in:
            if self._resend_until is None:
                self._resend_until = seq
                self.send("2", [(7, str(self.state.next_in)), (16, "0")])
            if msg_type == b"5":
                self._on_logout(msg)
            return
        if seq < self.state.next_in:
            if poss_dup:
                return
            self.logout(f"MsgSeqNum too low, expecting {self.state.next_in} but received {seq}")
            return
        self.state.next_in = seq + 1
        if self._resend_until is not None and seq >= self._resend_until:
            self._resend_until = None
        if poss_dup and msg.get(122) is None:
            self.reject(msg, 1, "Required tag missing", 122)
            return
        self._dispatch(msg_type, msg)

    def _dispatch(self, msg_type: bytes | None, msg: simplefix.FixMessage) -> None:
        assert self.state is not None
        if not msg_type:
            self.reject(msg, 1, "Required tag missing", 35)
            return
        if msg_type == b"0":
            req = text(msg, 112)
            if req is None:
                self.send("0", [])  # Deribit echoes a heartbeat as confirmation
        elif msg_type == b"1":
            req = text(msg, 112)
            if not req:
                self.reject(msg, 1, "Required tag missing", 112)
            else:
                self.send("0", [(112, req)])
        elif msg_type == b"2":
            self._on_resend_request(msg)
        elif msg_type == b"3":
            log.info("FIX %s: client rejected our message %s: %s", self.peer, text(msg, 45), text(msg, 58))
        elif msg_type == b"4":
            self._on_gap_fill(msg)
        elif msg_type == b"5":
            self._on_logout(msg)
        elif msg_type == b"A":
            self.reject(msg, 5, "Already logged on", 35)
        else:
            required = self.app.required_tags(msg_type)
            if required is None:
                if msg_type in FIX44_APP_TYPES:
                    self.send(
                        "j",
                        [
                            (45, text(msg, 34) or "0"),
                            (372, msg_type.decode()),
                            (380, "3"),
                            (58, f"Unsupported Message Type {msg_type.decode()}"),
                        ],
                    )
                else:
                    self.reject(msg, 11, "Invalid MsgType", 35)
                return
            for tag in required:
                value = msg.get(tag)
                if value is None:
                    self.reject(msg, 1, "Required tag missing", tag)
                    return
                if value == b"":
                    self.reject(msg, 4, "Tag specified without a value", tag)
                    return
            try:
                self.app.on_message(self, msg_type, msg)
            except Exception:  # a bug must not end the session: the client hears of it, the log has it
                log.exception("FIX %s: unhandled error processing %s", self.peer, msg_type)
                self.send(
                    "j", [(45, text(msg, 34) or "0"), (372, msg_type.decode()), (380, "0"), (58, "internal error")]
                )

    def _on_logon(self, msg: simplefix.FixMessage) -> None:
        comp_id = text(msg, 49) or ""
        username = text(msg, 553) or ""
        seq_text = text(msg, 34) or ""
        if msg.get(8) != BEGIN_STRING or not comp_id or not seq_text.isdigit():
            log.info("FIX %s: malformed Logon; closing", self.peer)
            self.close()
            return
        seq = int(seq_text)
        key = (username, comp_id)
        state = self.sessions.get(key)
        reply_seq = state.next_out if state is not None else 1
        try:
            if text(msg, 56) != SERVER_COMP_ID:
                raise SessionRejected(f"TargetCompID(56) must be {SERVER_COMP_ID}")
            hb = text(msg, 108)
            if hb is None or not hb.isdigit():
                raise SessionRejected("HeartBtInt(108) missing or invalid")
            self.app.logon(self, msg)
        except SessionRejected as e:
            log.info("FIX %s: Logon refused: %s", self.peer, e)
            self.send_raw_logout(comp_id, reply_seq, str(e))
            if state is not None:
                state.next_out += 1
            self.close()
            return
        if state is None:
            state = self.sessions[key] = SessionState(username, comp_id)
        reset = msg.get(141) == b"Y"
        if reset:
            state.reset()
        self.state = state
        if seq < state.next_in:
            self.logout(f"MsgSeqNum too low, expecting {state.next_in} but received {seq}")
            return
        self.heartbeat_s = int(text(msg, 108) or "0")
        self.logged_on = True
        echo: Fields = [(98, "0"), (108, str(self.heartbeat_s))]
        if reset:
            echo.append((141, "Y"))
        self.send("A", echo + self.logon_echo)
        if seq > state.next_in:
            self._resend_until = seq
            self.send("2", [(7, str(state.next_in)), (16, "0")])
        else:
            state.next_in = seq + 1
        log.info("FIX %s: logged on %s/%s", self.peer, username, comp_id)

    def _on_logout(self, msg: simplefix.FixMessage) -> None:
        self.logged_on = False
        self.app.on_logout(self, msg)
        self.send("5", [])
        self.close()

    def _on_resend_request(self, msg: simplefix.FixMessage) -> None:
        assert self.state is not None
        begin, end = text(msg, 7), text(msg, 16)
        if begin is None or end is None:
            self.reject(msg, 1, "Required tag missing", 7 if begin is None else 16)
            return
        if not begin.isdigit() or not end.isdigit():
            self.reject(msg, 5, "Value is incorrect (out of range) for this tag", 7 if not begin.isdigit() else 16)
            return
        last = self.state.next_out - 1
        lo, hi = int(begin), int(end)
        if hi == 0 or hi > last:
            hi = last
        gap_from: int | None = None
        for seq in range(max(lo, 1), hi + 1):
            stored = self.state.sent.get(seq)
            if stored is None or stored.msg_type.encode() in ADMIN_TYPES:
                if gap_from is None:
                    gap_from = seq
                continue
            if gap_from is not None:
                self._gap_fill(gap_from, seq)
                gap_from = None
            self._write(stored.msg_type, seq, utc_timestamp(), stored.body, [(43, "Y"), (122, stored.sending_time)])
        if gap_from is not None:
            self._gap_fill(gap_from, hi + 1)

    def _gap_fill(self, seq: int, new_seq: int) -> None:
        """SequenceReset-GapFill in place of messages not resent; PossDupFlag needs OrigSendingTime."""
        now = utc_timestamp()
        self._write("4", seq, now, encode_fields([(123, "Y"), (36, str(new_seq))]), [(43, "Y"), (122, now)])

    def _on_gap_fill(self, msg: simplefix.FixMessage) -> None:
        assert self.state is not None
        new = text(msg, 36)
        if new is None or not new.isdigit():
            self.reject(msg, 1 if new is None else 5, "NewSeqNo(36) missing or invalid", 36)
            return
        if int(new) < self.state.next_in:
            self.reject(msg, 5, f"Attempt to lower sequence number, invalid value NewSeqNo={new}", 36)
            return
        self.state.next_in = int(new)
        if self._resend_until is not None and int(new) > self._resend_until:
            self._resend_until = None

    def _on_sequence_reset(self, msg: simplefix.FixMessage) -> None:
        assert self.state is not None
        new = text(msg, 36)
        if new is None or not new.isdigit() or int(new) < self.state.next_in:
            current = str(self.state.next_in)
            self.send("2", [(7, current), (16, current)])
            return
        self.state.next_in = int(new)
        self._resend_until = None
        self.send("2", [(7, new), (16, new)])

    # ------------------------------------------------------------------ timers

    async def _timers(self) -> None:
        while True:
            hb = self.heartbeat_s
            await asyncio.sleep(min(1.0, max(0.05, hb / 10)) if hb else 0.5)
            if not self.logged_on or not hb or self.closing:
                continue
            now = time.monotonic()
            if now - self._last_sent >= hb:
                self.send("0", [])
            silent = now - self._last_recv
            if self._test_req is None and silent >= hb * 1.2:
                self._test_req = f"TEST-{int(time.time() * 1000)}"
                self.send("1", [(112, self._test_req)])
            elif self._test_req is not None and silent >= hb * 2.2:
                log.info("FIX %s: no answer to TestRequest; dropping the connection", self.peer)
                self.writer.transport.abort()
                return
