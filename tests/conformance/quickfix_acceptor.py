"""A QuickFIX FIX 4.4 acceptor in its own process, for ``test_fix_session_quickfix.py``.

QuickFIX runs its sessions on native threads; in its own process it cannot disturb the test's event
loop (and its shutdown cannot take the test run down). It plays Deribit's side of the session:
verifies the Logon password (``base64(sha256(RawData ++ secret))``) in ``fromAdmin`` and refuses a
wrong one with ``RejectLogon``, validates every message against the data dictionary given, and answers
each NewOrderSingle with an ExecutionReport (New).

Protocol: one JSON object per line. Out (stdout): ``{"ev": "ready"}``, ``{"ev": "admin_in"|"admin_out"|
"app_in", "f": {tag: value}}``, ``{"ev": "logon"}``, ``{"ev": "logout"}``, ``{"ev": "seqnums", "target":
n, "sender": n}``. In (stdin): ``{"cmd": "test_request", "id": ...}``, ``{"cmd": "set_next_target",
"seq": n}``, ``{"cmd": "seqnums"}``. EOF on stdin ends the process.

Usage: ``python quickfix_acceptor.py CONFIG_FILE LOG_DIR CLIENT_ID SECRET``
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import threading
from typing import Any

import quickfix as fix

_out = threading.Lock()


def emit(obj: dict[str, Any]) -> None:
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def fields(message: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in message.toString().split("\x01"):
        if "=" in part:
            tag, _, value = part.partition("=")
            out.setdefault(tag, value)
    return out


class Acceptor(fix.Application):  # type: ignore[misc]
    def __init__(self, client_id: str, secret: str) -> None:
        super().__init__()
        self.client_id = client_id
        self.secret = secret
        self.session_id: Any = None

    def onCreate(self, session_id: Any) -> None:
        self.session_id = session_id

    def onLogon(self, session_id: Any) -> None:
        emit({"ev": "logon"})

    def onLogout(self, session_id: Any) -> None:
        emit({"ev": "logout"})

    def toAdmin(self, message: Any, session_id: Any) -> None:
        emit({"ev": "admin_out", "f": fields(message)})

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        got = fields(message)
        if got.get("35") == "A":
            raw = got.get("96", "")
            want = base64.b64encode(hashlib.sha256((raw + self.secret).encode()).digest()).decode()
            if got.get("553") != self.client_id or got.get("554") != want:
                emit({"ev": "admin_in", "f": got, "refused": True})
                raise fix.RejectLogon("invalid credentials")
        emit({"ev": "admin_in", "f": got})

    def toApp(self, message: Any, session_id: Any) -> None:
        return None

    def fromApp(self, message: Any, session_id: Any) -> None:
        got = fields(message)
        emit({"ev": "app_in", "f": got})
        if got.get("35") == "D" and got.get("43") != "Y":  # acknowledge each new order
            er = fix.Message()
            er.getHeader().setField(fix.MsgType("8"))
            for tag, value in (
                (37, f"ORD-{got['11']}"),
                (17, f"EX-{got['11']}"),
                (11, got["11"]),
                (150, "0"),
                (39, "0"),
                (55, got["55"]),
                (54, got["54"]),
                (151, got["38"]),
                (14, "0"),
                (6, "0"),
            ):
                er.setField(fix.StringField(tag, value))
            fix.Session.sendToTarget(er, session_id)


def main() -> None:
    config, log_dir, client_id, secret = sys.argv[1:5]
    app = Acceptor(client_id, secret)
    settings = fix.SessionSettings(config)
    store = fix.FileStoreFactory(settings)
    logs = fix.FileLogFactory(log_dir)
    acceptor = fix.SocketAcceptor(app, store, settings, logs)
    acceptor.start()
    emit({"ev": "ready"})
    for line in sys.stdin:
        cmd = json.loads(line)
        session = fix.Session.lookupSession(app.session_id)
        if cmd["cmd"] == "test_request":
            probe = fix.Message()
            probe.getHeader().setField(fix.MsgType("1"))
            probe.setField(fix.TestReqID(cmd["id"]))
            fix.Session.sendToTarget(probe, app.session_id)
        elif cmd["cmd"] == "set_next_target":
            session.setNextTargetMsgSeqNum(int(cmd["seq"]))
        elif cmd["cmd"] == "seqnums":
            emit({"ev": "seqnums", "target": session.getExpectedTargetNum(), "sender": session.getExpectedSenderNum()})
    os._exit(0)  # QuickFIX's stop() can crash its Python binding at exit; the store is already on disk


if __name__ == "__main__":
    main()
