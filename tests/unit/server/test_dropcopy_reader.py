"""The drop copy's journal reader: used from worker threads, closed while one may still be reading."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from execx_server.engine.journal import Journal, Record
from execx_server.fleet.dropcopy import JournalReader


def _follow(reader: JournalReader, started: threading.Event, reads: list[int], errors: list[BaseException]) -> None:
    """Read the whole session over and over, as the follower does, until a read fails (kept in ``errors``)."""
    try:
        while True:
            rows = reader.after("s1", 0, limit=2000)
            assert len(rows) == 2000 and reader.heads() == {"s1": 2000}
            reads.append(1)
            started.set()
    except BaseException as e:  # what ended the thread is asserted by the test
        errors.append(e)
        started.set()


async def test_close_waits_for_a_read_in_flight_and_later_reads_refuse(tmp_path: Path) -> None:
    """``close`` while another thread reads: the read finishes on an open connection, the next one is
    refused by the reader itself. (Before, ``close`` closed the connection under a running query: a
    closed-database error at best, a segmentation fault of the process in a CI run.)"""
    j = Journal(tmp_path / "journal.db")
    j.add_session("s1", "binance-spot", 1, {"sessionId": "s1"})
    j.write([Record("s1", seq, "note", {"clOrderId": f"c{seq}", "text": "x" * 200}) for seq in range(1, 2001)])
    for _ in range(30):
        reader = JournalReader(tmp_path / "journal.db")
        started = threading.Event()
        reads: list[int] = []
        errors: list[BaseException] = []
        thread = threading.Thread(target=_follow, args=(reader, started, reads, errors))
        thread.start()
        assert started.wait(10)
        reader.close()
        thread.join(10)
        assert not thread.is_alive()
        assert reads
        assert len(errors) == 1 and isinstance(errors[0], sqlite3.ProgrammingError)
        assert str(errors[0]) == "the journal reader is closed"
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            reader.sessions()
    await j.close()
