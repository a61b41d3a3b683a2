"""The journal: an append-only SQLite database (WAL mode) of sessions and of every event with its
per-session sequence number.

Writes never block the event loop: ``append`` puts the record on a queue and returns; one writer
thread drains whatever has accumulated and commits it in one transaction (group commit), so a
burst of N events costs one fsync, not N. ``flush()`` waits until everything appended so far is
committed (used on graceful shutdown and by tests). Reads (replay after a restart, ``fromSeq``
resumes) use their own connection and run in a worker thread.

Secrets are never written: callers journal requests without credentials.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("execx.journal")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    exchange   TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    config     TEXT NOT NULL          -- JSON, without credentials
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,         -- "order" (an order transaction), "request", "position", ...
    payload    TEXT NOT NULL,         -- JSON
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Record:
    session_id: str
    seq: int
    kind: str
    payload: dict[str, Any]


_Item = tuple[str, tuple[Any, ...]] | Future[None] | None


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._writer, name="execx-journal", daemon=True)
        self._thread.start()
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoint, never corrupt
        return db

    # ------------------------------------------------------------------ writes (any thread, non-blocking)

    def add_session(self, session_id: str, exchange: str, created_ns: int, config: dict[str, Any]) -> None:
        self._put("INSERT INTO sessions VALUES (?, ?, ?, ?)", (session_id, exchange, created_ns, _dumps(config)))

    def append(self, record: Record) -> None:
        self._put(
            "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?)",
            (record.session_id, record.seq, record.kind, _dumps(record.payload)),
        )

    def _put(self, sql: str, args: tuple[Any, ...]) -> None:
        if self._closed:
            raise RuntimeError("journal is closed")
        self._queue.put((sql, args))

    async def flush(self) -> None:
        """Wait until everything appended before this call is committed."""
        done: Future[None] = Future()
        self._queue.put(done)
        await asyncio.wrap_future(done)

    async def close(self) -> None:
        if self._closed:
            return
        await self.flush()
        self._closed = True
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _writer(self) -> None:
        db = self._connect()
        try:
            while True:
                item = self._queue.get()
                batch: list[tuple[str, tuple[Any, ...]]] = []
                waiters: list[Future[None]] = []
                stop = False
                while True:
                    if item is None:
                        stop = True
                    elif isinstance(item, Future):
                        waiters.append(item)
                    else:
                        batch.append(item)
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    self._commit(db, batch)
                for w in waiters:
                    w.set_result(None)
                if stop:
                    return
        finally:
            db.close()

    @staticmethod
    def _commit(db: sqlite3.Connection, batch: list[tuple[str, tuple[Any, ...]]]) -> None:
        try:
            db.execute("BEGIN")
            for sql, args in batch:
                db.execute(sql, args)
            db.execute("COMMIT")
        except sqlite3.Error:
            # One bad statement must not cost the batch: redo it statement by statement.
            db.execute("ROLLBACK")
            for sql, args in batch:
                try:
                    db.execute(sql, args)
                except sqlite3.Error:
                    log.exception("journal.write_failed", extra={"sql": sql.split("(")[0]})

    # ------------------------------------------------------------------ reads

    def sessions(self) -> dict[str, tuple[str, int, dict[str, Any]]]:
        with self._connect() as db:
            rows = db.execute("SELECT session_id, exchange, created_ns, config FROM sessions").fetchall()
        return {sid: (exchange, created, json.loads(config)) for sid, exchange, created, config in rows}

    def last_seq(self) -> dict[str, int]:
        with self._connect() as db:
            rows = db.execute("SELECT session_id, MAX(seq) FROM events GROUP BY session_id").fetchall()
        return {sid: seq for sid, seq in rows}

    def read(self, session_id: str, from_seq: int = 0, kind: str | None = None) -> Iterator[Record]:
        """Records of a session with ``seq >= from_seq``, in order."""
        db = self._connect()
        try:
            sql = "SELECT seq, kind, payload FROM events WHERE session_id = ? AND seq >= ?"
            args: list[Any] = [session_id, from_seq]
            if kind is not None:
                sql += " AND kind = ?"
                args.append(kind)
            for seq, k, payload in db.execute(sql + " ORDER BY seq", args):
                yield Record(session_id, seq, k, json.loads(payload))
        finally:
            db.close()


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)
