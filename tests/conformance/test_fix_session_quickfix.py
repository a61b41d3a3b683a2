"""Our FIX session layer (``connectors/transport/fix.py``) against QuickFIX, an independent FIX engine,
as the acceptor: Logon with Deribit's authentication (QuickFIX verifies the password in ``fromAdmin`` and
refuses a wrong one with ``RejectLogon``), heartbeats and TestRequest, sequence numbers continued across
a reconnect from the persisted store, a forced gap in each direction closed by ResendRequest /
SequenceReset-GapFill / PossDup resends, and Logout with its echo.

QuickFIX validates every message against its FIX 4.4 data dictionary, extended with Deribit's custom
Logon fields (9001 CancelOnDisconnect, ...) as Deribit's own dictionary has them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import json
import socket
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import simplefix
from execx_proc import missing_tool
from execx_server.connectors.base import Secret
from execx_server.connectors.deribit.signing import FixLogon
from execx_server.connectors.transport.fix import FixSession, FixSessionConfig, new_message, text
from execx_server.connectors.transport.websocket import Backoff
from waiting import until

CLIENT_ID = "execx-test"
SECRET = "s3cr3t-value"
SENDER = "EXECXTEST"
TARGET = "DERIBITSERVER"
WAIT_S = 15.0
FAST = Backoff(base_s=0.05, cap_s=0.2, jitter=0.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _deribit_dictionary(tmp: Path) -> Path:
    """QuickFIX's FIX44.xml plus Deribit's custom Logon fields."""
    src = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"
    if not src.exists():
        missing_tool(f"QuickFIX data dictionary not found at {src}")
    tree = ET.parse(src)
    root = tree.getroot()
    fields = root.find("fields")
    logon = next(m for m in root.iter("message") if m.get("msgtype") == "A")
    assert fields is not None
    for number, name in ((9001, "CancelOnDisconnect"), (9002, "UseWordsafeTags"), (9015, "ReportFillsAsExecReports")):
        ET.SubElement(fields, "field", number=str(number), name=name, type="BOOLEAN")
        ET.SubElement(logon, "field", name=name, required="N")
    out = tmp / "FIX44-deribit.xml"
    tree.write(out)
    return out


@dataclass
class QuickFix:
    """The QuickFIX acceptor process (``quickfix_acceptor.py``) and what it reported."""

    port: int
    proc: asyncio.subprocess.Process
    admin_in: list[dict[int, str]] = field(default_factory=list)
    admin_out: list[dict[int, str]] = field(default_factory=list)
    app_in: list[dict[int, str]] = field(default_factory=list)
    logons: int = 0
    logouts: int = 0
    seqnums: asyncio.Queue[tuple[int, int]] = field(default_factory=asyncio.Queue)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            ev = json.loads(line)
            kind = ev["ev"]
            got = {int(k): v for k, v in ev.get("f", {}).items()}
            if kind in ("admin_in", "admin_out", "app_in"):
                getattr(self, kind).append(got)
            elif kind == "logon":
                self.logons += 1
            elif kind == "logout":
                self.logouts += 1
            elif kind == "seqnums":
                self.seqnums.put_nowait((int(ev["target"]), int(ev["sender"])))
            self.changed.set()

    async def command(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()

    async def expected(self) -> tuple[int, int]:
        """QuickFIX's next expected (target = ours, sender = its own) sequence numbers."""
        await self.command(cmd="seqnums")
        return await asyncio.wait_for(self.seqnums.get(), WAIT_S)

    async def until_expected_target(self, n: int) -> None:
        """Until QuickFIX expects ``n`` from us next: it counts a message only after ``fromApp`` returned,
        so what ``fromApp`` reported may not be counted yet (asked again, no sleeping; deadline)."""
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while (got := (await self.expected())[0]) != n:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"QuickFIX expects {got}, not {n}")

    async def await_(self, predicate: Any, what: str) -> None:
        """Until ``predicate(acceptor)`` holds, woken by each change (``waiting.until``)."""
        await until(self.changed, lambda: predicate(self), f"QuickFIX to see {what}", WAIT_S)


@pytest.fixture
async def quickfix_acceptor(tmp_path: Path) -> AsyncIterator[QuickFix]:
    if importlib.util.find_spec("quickfix") is None:
        missing_tool("the quickfix package is not installed")
    port = _free_port()
    dictionary = _deribit_dictionary(tmp_path)
    cfg = tmp_path / "acceptor.cfg"
    cfg.write_text(
        "[DEFAULT]\n"
        "ConnectionType=acceptor\n"
        f"FileStorePath={tmp_path / 'store'}\n"
        "StartTime=00:00:00\nEndTime=00:00:00\n"
        "UseDataDictionary=Y\n"
        f"DataDictionary={dictionary}\n"
        "SocketAcceptHost=127.0.0.1\n"
        f"SocketAcceptPort={port}\n"
        "[SESSION]\n"
        f"BeginString=FIX.4.4\nSenderCompID={TARGET}\nTargetCompID={SENDER}\n"
    )
    script = Path(__file__).with_name("quickfix_acceptor.py")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(cfg),
        str(tmp_path),
        CLIENT_ID,
        SECRET,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    qf = QuickFix(port, proc)
    reader = asyncio.create_task(qf.read())
    try:
        await qf.await_(lambda q: q.changed.is_set(), "its own start")  # the "ready" line
        yield qf
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), WAIT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


@dataclass
class Client:
    session: FixSession
    task: asyncio.Task[None]
    messages: list[tuple[simplefix.FixMessage, bool]]
    admin: list[simplefix.FixMessage]
    got: asyncio.Event

    async def sees(self, predicate: Any, what: str) -> None:
        """Until ``predicate(client)`` holds, woken by each message (``waiting.until``)."""
        await until(self.got, lambda: predicate(self), f"the FIX client to see {what}", WAIT_S)

    async def stop(self) -> None:
        await self.session.stop("bye")
        await asyncio.wait_for(self.task, WAIT_S)
        self.session.close()


def _client(port: int, store: Path, *, secret: str = SECRET, heartbeat_s: int = 30, **options: Any) -> Client:
    messages: list[tuple[simplefix.FixMessage, bool]] = []
    admin: list[simplefix.FixMessage] = []
    got = asyncio.Event()

    def on_message(msg: simplefix.FixMessage, poss_dup: bool) -> None:
        messages.append((msg, poss_dup))
        got.set()

    def on_admin(msg: simplefix.FixMessage) -> None:
        admin.append(msg)
        got.set()

    config = FixSessionConfig(
        host="127.0.0.1",
        port=port,
        sender_comp_id=SENDER,
        target_comp_id=TARGET,
        logon_fields=FixLogon(CLIENT_ID, Secret(secret)),
        heartbeat_s=heartbeat_s,
        store_path=store,
        app_required={"8": (37, 39, 150)},
        backoff=FAST,
        **options,
    )
    session = FixSession(config, on_message, on_admin=on_admin, on_state=lambda up: got.set())
    return Client(session, asyncio.create_task(session.run()), messages, admin, got)


def _order(cl_ord_id: str) -> simplefix.FixMessage:
    return new_message(
        "D",
        [(11, cl_ord_id), (54, "1"), (38, "10"), (44, "50000"), (55, "BTC-PERPETUAL"), (40, "2"), (60, _now())],
    )


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


async def test_logon_heartbeats_test_request_and_logout(quickfix_acceptor: QuickFix, tmp_path: Path) -> None:
    qf = quickfix_acceptor
    client = _client(qf.port, tmp_path / "seq", heartbeat_s=1)
    await client.session.wait_logged_on(WAIT_S)
    logon = next(m for m in qf.admin_in if m[35] == "A")
    assert (logon[553], logon[9001], logon[108], logon[34]) == (CLIENT_ID, "Y", "1", "1")
    ts, _, nonce = logon[96].partition(".")
    assert ts.isdigit() and len(base64.b64decode(nonce)) == 32
    # Heartbeats both ways once the line is idle for HeartBtInt.
    await qf.await_(lambda q: any(m[35] == "0" for m in q.admin_in), "a Heartbeat from the client")
    await client.sees(lambda c: any(text(m, 35) == "0" for m in c.admin), "a Heartbeat from QuickFIX")
    # A TestRequest from the acceptor is answered with its TestReqID.
    await qf.command(cmd="test_request", id="PING-7")
    await qf.await_(lambda q: any(m[35] == "0" and m.get(112) == "PING-7" for m in q.admin_in), "Heartbeat(PING-7)")
    # Logout: QuickFIX echoes it; the client waits for the echo and closes. Counted from here: on a loaded
    # machine a 1 s heartbeat can miss its TestRequest deadline, and that disconnect and logon again is a
    # logout QuickFIX counts too (CI flaked once on ``logouts == 1`` with 2).
    before = qf.logouts
    await client.stop()
    await qf.await_(lambda q: q.logouts > before, "the Logout")
    assert any(m[35] == "5" for m in qf.admin_out)  # the echo
    assert client.session.store.next_out == max(int(m[34]) for m in qf.admin_in) + 1


async def test_wrong_secret_is_refused(quickfix_acceptor: QuickFix, tmp_path: Path) -> None:
    client = _client(quickfix_acceptor.port, tmp_path / "seq", secret="wrong")
    await asyncio.wait_for(client.session.refused.wait(), WAIT_S)
    assert client.session.refusal is not None
    assert client.session.refusal.text == "Rejected Logon Attempt: invalid credentials"  # QuickFIX's prefix
    assert not client.session.logged_on and quickfix_acceptor.logons == 0
    client.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await client.task
    client.session.close()


async def test_sequence_numbers_continue_after_reconnect(quickfix_acceptor: QuickFix, tmp_path: Path) -> None:
    qf = quickfix_acceptor
    store = tmp_path / "seq"
    first = _client(qf.port, store)
    await first.session.wait_logged_on(WAIT_S)
    seq = first.session.send(_order("c1"))
    await first.sees(lambda c: len(c.messages) == 1, "the ExecutionReport")
    er, poss_dup = first.messages[0]
    assert (text(er, 11), text(er, 39), poss_dup) == ("c1", "0", False)
    await first.stop()
    # A new session object (as after a restart of execx) continues from the persisted numbers.
    second = _client(qf.port, store)
    await second.session.wait_logged_on(WAIT_S)
    logons = [m for m in qf.admin_in if m[35] == "A"]
    assert int(logons[1][34]) == seq + 2  # the Logout took seq + 1
    second.session.send(_order("c2"))
    await qf.await_(lambda q: [m[11] for m in q.app_in] == ["c1", "c2"], "both orders")
    await qf.until_expected_target(second.session.store.next_out)
    assert not any(m[35] == "2" for m in qf.admin_out)  # no gap, no ResendRequest
    await second.stop()


async def test_outbound_gap_is_gap_filled(quickfix_acceptor: QuickFix, tmp_path: Path) -> None:
    """Our stored numbers ran ahead (messages lost): QuickFIX asks for a resend, we answer GapFill."""
    qf = quickfix_acceptor
    store = tmp_path / "seq"
    first = _client(qf.port, store)
    await first.session.wait_logged_on(WAIT_S)
    await first.stop()
    gap_from = first.session.store.next_out
    from execx_server.connectors.transport.fix import SeqStore

    bumped = SeqStore(store)
    bumped.next_out = gap_from + 5
    bumped.close()
    second = _client(qf.port, store)
    await second.session.wait_logged_on(WAIT_S)
    await qf.await_(lambda q: any(m[35] == "2" for m in q.admin_out), "its own ResendRequest")
    resend = next(m for m in qf.admin_out if m[35] == "2")
    assert (int(resend[7]), resend[16]) == (gap_from, "0")
    await qf.await_(lambda q: any(m[35] == "4" and m.get(123) == "Y" for m in q.admin_in), "a GapFill")
    fill = next(m for m in qf.admin_in if m[35] == "4")
    # One GapFill over the missing numbers and the Logon itself (an admin message is never resent).
    assert (int(fill[34]), int(fill[36]), fill[43]) == (gap_from, gap_from + 6, "Y")
    second.session.send(_order("after-gap"))
    await qf.await_(lambda q: any(m.get(11) == "after-gap" for m in q.app_in), "the order after the gap")
    await qf.until_expected_target(second.session.store.next_out)
    await second.stop()


async def test_application_messages_resent_with_possdup(quickfix_acceptor: QuickFix, tmp_path: Path) -> None:
    """With ``resend_application``, a ResendRequest gets our orders again, flagged PossDupFlag=Y."""
    qf = quickfix_acceptor
    client = _client(qf.port, tmp_path / "seq", resend_application=True)
    await client.session.wait_logged_on(WAIT_S)
    seq = client.session.send(_order("dup-me"))
    await qf.await_(lambda q: any(m.get(11) == "dup-me" for m in q.app_in), "the order")
    await qf.until_expected_target(seq + 1)
    await qf.command(cmd="set_next_target", seq=seq)
    # QuickFIX "forgets" the order: the next message shows it a gap.
    assert (await qf.expected())[0] == seq  # applied before we send on
    client.session.send(_order("next"))
    await qf.await_(lambda q: any(m.get(11) == "dup-me" and m.get(43) == "Y" for m in q.app_in), "the resend")
    again = next(m for m in qf.app_in if m.get(11) == "dup-me" and m.get(43) == "Y")
    assert int(again[34]) == seq and 122 in again
    await qf.await_(lambda q: any(m.get(11) == "next" for m in q.app_in), "the order after the gap")
    await qf.until_expected_target(client.session.store.next_out)
    await client.stop()


async def test_inbound_gap_is_resent_by_quickfix(quickfix_acceptor: QuickFix, tmp_path: Path) -> None:
    """We lost QuickFIX's messages (our expected number went back): the Logon shows the gap, we ask
    for a resend, QuickFIX resends the ExecutionReport with PossDupFlag=Y and gap-fills the rest."""
    qf = quickfix_acceptor
    store = tmp_path / "seq"
    first = _client(qf.port, store)
    await first.session.wait_logged_on(WAIT_S)
    first.session.send(_order("lost"))
    await first.sees(lambda c: len(c.messages) == 1, "the ExecutionReport")
    er_seq = int(first.messages[0][0].get(34))
    await first.stop()
    expected_after = first.session.store.next_in
    from execx_server.connectors.transport.fix import SeqStore

    rewound = SeqStore(store)
    rewound.next_in = er_seq
    rewound.close()
    second = _client(qf.port, store)
    await second.session.wait_logged_on(WAIT_S)
    await second.sees(lambda c: len(c.messages) == 1, "the resent ExecutionReport")
    er, poss_dup = second.messages[0]
    assert (text(er, 11), int(er.get(34)), poss_dup) == ("lost", er_seq, True)
    await qf.await_(lambda q: any(m[35] == "2" and int(m[7]) == er_seq for m in q.admin_in), "our ResendRequest")
    await second.sees(lambda c: c.session.store.next_in > expected_after, "the gap closed")
    assert second.session.store.next_in == (await qf.expected())[1]
    await second.stop()
