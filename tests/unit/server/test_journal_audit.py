"""The journal's audit records (issue 23): committed with the next journal write (no commit of their own next
to the orders'), by themselves shortly after otherwise, kept across a restart, filtered and paged by
``audit_records``, and dropped by the retention like finished orders."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from execx_server.engine.journal import AuditEntry, AuditQuery, Journal, Record

SEND = "/execx.v1.OrderManagerService/SendOrder"
START = "/execx.v1.OrderManagerService/StartOrderHandler"


def entry(ts: int, key: str = "trader", method: str = SEND, session: str = "s1", outcome: str = "OK") -> AuditEntry:
    return AuditEntry(ts, key, "ipv4:127.0.0.1:5000", method, (session,), (f"c{ts}",), outcome)


def committed(path: Path) -> int:
    """Audit rows another connection sees (what a crash of this process cannot take back)."""
    db = sqlite3.connect(path)
    try:
        count: int = db.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
        return count
    finally:
        db.close()


async def test_audit_rides_with_the_next_journal_write(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = Journal(path, audit_flush_s=3600)  # the timer out of the way: only a write takes them
    j.add_session("s1", "okx", 1, {})
    j.audit(entry(1))
    assert committed(path) == 0  # queued
    j.append(Record("s1", 1, "note", {"clOrderId": "c1"}))  # an order's own commit takes it along
    assert committed(path) == 1
    j.audit(entry(2))
    await asyncio.sleep(0)
    assert committed(path) == 1  # no commit of its own
    await j.close()  # closing commits what waits
    j2 = Journal(path)  # kept across a restart
    assert [(e.ts_ns, e.key_id, e.sessions, e.cl_order_ids) for e in j2.audit_records(AuditQuery())] == [
        (1, "trader", ("s1",), ("c1",)),
        (2, "trader", ("s1",), ("c2",)),
    ]
    await j2.close()


async def test_audit_is_committed_by_itself_when_nothing_else_is_written(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = Journal(path, audit_flush_s=0.01)
    j.audit(entry(1))
    deadline = time.monotonic() + 30
    while committed(path) == 0:  # within audit_flush_s; polled with a generous deadline
        assert time.monotonic() < deadline, "the audit record was never committed"
        await asyncio.sleep(0.01)
    await j.close()


async def test_filters_and_pages(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.audit(entry(10, key="trader", method=START))
    j.audit(entry(20, key="trader"))
    j.audit(entry(30, key="other", session="s2", outcome="PERMISSION_DENIED"))
    j.audit(entry(40, key="", outcome="UNAUTHENTICATED"))
    j.flush_audit()

    def ts(**kw: object) -> list[int]:
        return [e.ts_ns for e in j.audit_records(AuditQuery(**kw))]  # type: ignore[arg-type]

    assert ts() == [10, 20, 30, 40]
    assert ts(from_ns=20, to_ns=40) == [20, 30]
    assert ts(key_id="trader") == [10, 20]
    assert ts(key_id="") == [40]
    assert ts(methods=(START,)) == [10]
    assert ts(session_id="s2") == [30]
    assert ts(outcome="PERMISSION_DENIED") == [30]
    page = j.audit_records(AuditQuery(limit=3))
    assert [e.ts_ns for e in page] == [10, 20, 30]
    assert ts(after_id=page[-1].id) == [40]
    await j.close()


async def test_retention_drops_old_audit_records(tmp_path: Path) -> None:
    day = 86_400 * 10**9
    now = 100 * day
    j = Journal(tmp_path / "j.db", retention_s=30 * 86_400, clock_ns=lambda: now)
    j.audit(entry(now - 31 * day))
    j.audit(entry(now - 29 * day))
    j.flush_audit()
    j.compact()
    assert [e.ts_ns for e in j.audit_records(AuditQuery())] == [now - 29 * day]
    await j.close()
