"""The simulated Deribit FIX acceptor against QuickFIX, an independent FIX engine, as the initiator.

QuickFIX logs on with Deribit's authentication (fields set in ``toAdmin``), sends orders, a replace,
cancels and a mass cancel, and validates every message it receives against its FIX 4.4 data
dictionary (``UseDataDictionary=Y``, fields out of order, values, required fields): a message that
fails validation is answered by QuickFIX with a Reject(3) instead of reaching ``fromApp``, so the test
asserts that QuickFIX sent no Reject at all. The dictionary is QuickFIX's own FIX44.xml (shipped in
the wheel under ``share/quickfix``) plus the Deribit fields the venue documents on top of FIX 4.4
(CancelOnDisconnect 9001 on Logon; DeribitLabel 100010, TrdMatchID 880 and MassStatusReqType 585 on
ExecutionReports).
A wrong secret is refused with a Logout that QuickFIX reports.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from execx_proc import missing_tool
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account

try:
    import quickfix as fix
except ImportError:  # pragma: no cover - depends on the environment
    fix = None

PERP = "BTC-PERPETUAL"
WAIT_S = 15.0
_ids = itertools.count(1)


def _dictionary(tmp: Path) -> Path:
    src = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"
    if not src.exists():
        missing_tool(f"QuickFIX data dictionary not found at {src}")
    tree = ET.parse(src)
    root = tree.getroot()
    fields = root.find("fields")
    assert fields is not None
    messages = {m.get("msgtype"): m for m in root.iter("message")}
    ET.SubElement(fields, "field", number="9001", name="CancelOnDisconnect", type="BOOLEAN")
    ET.SubElement(messages["A"], "field", name="CancelOnDisconnect", required="N")
    ET.SubElement(fields, "field", number="100010", name="DeribitLabel", type="STRING")
    for msg_type in ("8", "9", "D", "G"):
        ET.SubElement(messages[msg_type], "field", name="DeribitLabel", required="N")
    ET.SubElement(messages["8"], "field", name="TrdMatchID", required="N")
    ET.SubElement(messages["8"], "field", name="MassStatusReqType", required="N")
    out = tmp / "FIX44-deribit.xml"
    tree.write(out)
    return out


def _fields(message: Any) -> dict[int, str]:
    out: dict[int, str] = {}
    for part in message.toString().split("\x01"):
        if "=" in part:
            tag, _, value = part.partition("=")
            out.setdefault(int(tag), value)
    return out


@dataclass
class Seen:
    """What the QuickFIX initiator saw, filled on QuickFIX's threads."""

    changed: threading.Condition = field(default_factory=threading.Condition)
    admin_in: list[dict[int, str]] = field(default_factory=list)
    admin_out: list[dict[int, str]] = field(default_factory=list)
    app_in: list[dict[int, str]] = field(default_factory=list)
    logons: int = 0
    logouts: int = 0

    async def wait(self, what: str, pred: Callable[[Seen], bool]) -> None:
        def block() -> bool:
            with self.changed:
                return self.changed.wait_for(lambda: pred(self), WAIT_S)

        assert await asyncio.to_thread(block), f"timed out waiting for {what}: {self.app_in[-3:]} {self.admin_in[-3:]}"

    def add(self, box: list[dict[int, str]], msg: dict[int, str]) -> None:
        with self.changed:
            box.append(msg)
            self.changed.notify_all()


def _application(seen: Seen, account: Account, secret: str) -> Any:
    class Initiator(fix.Application):  # type: ignore[misc,name-defined]
        session_id: Any = None

        def onCreate(self, session_id: Any) -> None:
            self.session_id = session_id

        def onLogon(self, session_id: Any) -> None:
            with seen.changed:
                seen.logons += 1
                seen.changed.notify_all()

        def onLogout(self, session_id: Any) -> None:
            with seen.changed:
                seen.logouts += 1
                seen.changed.notify_all()

        def toAdmin(self, message: Any, session_id: Any) -> None:
            if message.getHeader().getField(35) == "A":
                raw = f"{time.time_ns() // 1000}.{base64.b64encode(os.urandom(32)).decode()}"
                password = base64.b64encode(hashlib.sha256((raw + secret).encode()).digest()).decode()
                message.setField(fix.RawDataLength(len(raw)))
                message.setField(fix.RawData(raw))
                message.setField(fix.Username(account.api_key))
                message.setField(fix.Password(password))
                message.setField(fix.StringField(9001, "Y"))
            seen.add(seen.admin_out, _fields(message))

        def fromAdmin(self, message: Any, session_id: Any) -> None:
            seen.add(seen.admin_in, _fields(message))

        def toApp(self, message: Any, session_id: Any) -> None:
            return None

        def fromApp(self, message: Any, session_id: Any) -> None:
            seen.add(seen.app_in, _fields(message))

    return Initiator()


@dataclass
class QuickFixInitiator:
    seen: Seen
    app: Any
    keep: list[Any]

    def send(self, msg_type: str, body: list[tuple[int, str]]) -> None:
        msg = fix.Message()
        msg.getHeader().setField(fix.MsgType(msg_type))
        for tag, value in body:
            msg.setField(fix.StringField(tag, value))
        assert fix.Session.sendToTarget(msg, self.app.session_id)


@pytest.fixture
def initiator_factory(sim: Simulator, tmp_path: Path) -> Iterator[Callable[[Account, str], QuickFixInitiator]]:
    if fix is None:
        missing_tool("quickfix is not installed")
    dictionary = _dictionary(tmp_path)
    host, port = sim.ready["venues"]["deribit"]["fix"].removeprefix("tcp://").split(":")
    started: list[Any] = []

    def make(account: Account, secret: str) -> QuickFixInitiator:
        n = next(_ids)
        cfg = tmp_path / f"initiator{n}.cfg"
        cfg.write_text(
            "[DEFAULT]\n"
            "ConnectionType=initiator\n"
            "BeginString=FIX.4.4\n"
            f"SenderCompID=QFIX{n}\n"
            "TargetCompID=DERIBITSERVER\n"
            f"SocketConnectHost={host}\n"
            f"SocketConnectPort={port}\n"
            "HeartBtInt=30\n"
            "ReconnectInterval=60\n"
            "StartTime=00:00:00\n"
            "EndTime=00:00:00\n"
            "ResetOnLogon=Y\n"
            "UseDataDictionary=Y\n"
            f"DataDictionary={dictionary}\n"
            "ValidateFieldsOutOfOrder=Y\n"
            "ValidateFieldsHaveValues=Y\n"
            "ValidateUserDefinedFields=Y\n"
            "AllowUnknownMsgFields=N\n"
            f"FileStorePath={tmp_path / f'store{n}'}\n"
            "\n[SESSION]\n"
        )
        seen = Seen()
        app = _application(seen, account, secret)
        settings = fix.SessionSettings(str(cfg))
        store = fix.FileStoreFactory(settings)
        logs = fix.ScreenLogFactory(False, False, False)
        initiator = fix.SocketInitiator(app, store, settings, logs)
        initiator.start()
        started.append(initiator)
        return QuickFixInitiator(seen, app, [settings, store, logs, initiator])

    yield make
    for initiator in started:
        initiator.stop(True)


def _reports(seen: Seen, cl: str) -> list[dict[int, str]]:
    return [m for m in seen.app_in if m.get(35) == "8" and m.get(41) == cl]


async def test_quickfix_trades_on_the_acceptor_and_validates_every_message(
    sim: Simulator, account: Account, initiator_factory: Callable[[Account, str], QuickFixInitiator]
) -> None:
    qf = initiator_factory(account, account.secret_key)
    seen = qf.seen
    await seen.wait("the Logon", lambda s: s.logons == 1)
    logon_echo = next(m for m in seen.admin_in if m.get(35) == "A")
    assert (logon_echo[49], logon_echo[108], logon_echo[9001]) == ("DERIBITSERVER", "30", "Y")
    book = sim.exchange.markets["deribit"].books[PERP]
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is not None and ask is not None
    now = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())

    def order(cl: str, side: str, qty: str, price: object, *extra: tuple[int, str]) -> list[tuple[int, str]]:
        return [(11, cl), (21, "1"), (55, PERP), (54, side), (60, now), (38, qty), (40, "2"), (44, str(price)), *extra]

    # A resting limit order with a label: ExecutionReport New.
    qf.send("D", order("q-rest", "1", "4", bid - 100, (100010, "qf")))
    await seen.wait("New", lambda s: len(_reports(s, "q-rest")) == 1)
    new = _reports(seen, "q-rest")[0]
    assert (new[150], new[39], new[38], new[151], new[100010]) == ("0", "0", "4", "4", "qf")
    order_id = new[37]
    # Replace: price and quantity.
    qf.send(
        "G",
        [
            (41, order_id),
            (11, "q-rest-2"),
            (21, "1"),
            (55, PERP),
            (54, "1"),
            (60, now),
            (38, "6"),
            (40, "2"),
            (44, str(bid - 101)),
        ],
    )
    await seen.wait("Replaced", lambda s: len(_reports(s, "q-rest")) == 2)
    replaced = _reports(seen, "q-rest")[1]
    assert (replaced[150], replaced[38], Decimal(replaced[44]), replaced[37]) == ("5", "6", bid - 101, order_id)
    # A crossing order: New, then a report for its fill.
    qf.send("D", order("q-take", "1", "2", ask))
    await seen.wait("the fill", lambda s: len(_reports(s, "q-take")) == 2)
    fill = _reports(seen, "q-take")[1]
    assert (fill[150], fill[39], Decimal(fill[31]), fill[32], fill[14]) == ("F", "2", ask, "2", "2")
    # Post-only with reject (ExecInst 6A) that would cross: Rejected.
    qf.send("D", order("q-po", "1", "1", ask, (18, "6A")))
    await seen.wait("post-only reject", lambda s: len(_reports(s, "q-po")) == 1)
    assert (_reports(seen, "q-po")[0][150], _reports(seen, "q-po")[0][58]) == ("8", "post_only_reject")
    # Mass status of the open orders: one ExecType I report per order, the last flagged.
    qf.send("AF", [(584, "q-status"), (585, "7")])
    await seen.wait(
        "the status reports", lambda s: any(m.get(584) == "q-status" and m.get(912) == "Y" for m in s.app_in)
    )
    status = [m for m in seen.app_in if m.get(584) == "q-status"]
    assert [(m[150], m[37]) for m in status] == [("I", order_id)]
    # Cancel by Deribit id, then an unknown order: OrderCancelReject.
    qf.send("F", [(41, order_id), (11, "q-cxl"), (55, PERP), (54, "1"), (60, now)])
    await seen.wait("Cancelled", lambda s: _reports(s, "q-rest")[-1][150] == "4")
    assert [m[150] for m in _reports(seen, "q-rest")] == ["0", "5", "I", "4"]
    qf.send("F", [(41, "999999"), (11, "q-cxl-2"), (55, PERP), (54, "1"), (60, now)])
    await seen.wait("OrderCancelReject", lambda s: any(m.get(35) == "9" for m in s.app_in))
    assert next(m for m in seen.app_in if m.get(35) == "9")[58] == "order_not_found"
    # Mass cancel of everything: a report per cancelled order, then OrderMassCancelReport.
    for i in range(2):
        qf.send("D", order(f"q-m{i}", "2", "1", ask + 50 + i))
    await seen.wait("two more orders", lambda s: all(_reports(s, f"q-m{i}") for i in range(2)))
    qf.send("q", [(11, "q-mass"), (530, "7"), (60, now)])
    await seen.wait("OrderMassCancelReport", lambda s: any(m.get(35) == "r" for m in s.app_in))
    report = next(m for m in seen.app_in if m.get(35) == "r")
    assert (report[530], report[531], report[533]) == ("7", "7", "2")
    assert all(_reports(seen, f"q-m{i}")[-1][150] == "4" for i in range(2))
    # QuickFIX rejected nothing it received: every message passed its data dictionary.
    assert [m for m in seen.admin_out if m.get(35) in ("3", "j")] == []


async def test_quickfix_wrong_secret_is_refused(
    account: Account, initiator_factory: Callable[[Account, str], QuickFixInitiator]
) -> None:
    qf = initiator_factory(account, "not-the-secret")
    await qf.seen.wait("the Logout", lambda s: any(m.get(35) == "5" for m in s.admin_in))
    logout = next(m for m in qf.seen.admin_in if m.get(35) == "5")
    assert logout[58] == "invalid_credentials: bad signature"
    assert qf.seen.logons == 0


async def test_quickfix_recovers_a_gap_in_the_acceptors_sequence(
    sim: Simulator, account: Account, initiator_factory: Callable[[Account, str], QuickFixInitiator]
) -> None:
    """Two of the acceptor's sequence numbers go missing (the simulator skips them): QuickFIX asks
    with ResendRequest, the acceptor answers with SequenceReset-GapFill, and QuickFIX then delivers the
    report that came after the gap, all without a Reject."""
    qf = initiator_factory(account, account.secret_key)
    seen = qf.seen
    await seen.wait("the Logon", lambda s: s.logons == 1)
    fe = next(f for f in sim.frontends if f.venue == "deribit")
    state = next(
        st
        for (user, comp), st in fe.fix.sessions.items()  # type: ignore[attr-defined]
        if user == account.api_key and comp == qf.app.session_id.getSenderCompID().getValue()
    )
    state.next_out += 2
    book = sim.exchange.markets["deribit"].books[PERP]
    bid = book.best_bid()
    assert bid is not None
    now = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
    qf.send(
        "D", [(11, "gap-1"), (21, "1"), (55, PERP), (54, "1"), (60, now), (38, "1"), (40, "2"), (44, str(bid - 500))]
    )
    await seen.wait("the report after the gap", lambda s: len(_reports(s, "gap-1")) == 1)
    resend = next(m for m in seen.admin_out if m.get(35) == "2")
    gap_fill = next(m for m in seen.admin_in if m.get(35) == "4")
    assert (gap_fill[123], gap_fill[43], int(gap_fill[36])) == ("Y", "Y", int(resend[7]) + 2)
    assert [m for m in seen.admin_out if m.get(35) in ("3", "j")] == []
    qf.send("F", [(41, _reports(seen, "gap-1")[0][37]), (11, "gap-x"), (55, PERP), (54, "1"), (60, now)])
    await seen.wait("the cancel", lambda s: len(_reports(s, "gap-1")) == 2)
