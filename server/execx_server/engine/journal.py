"""The journal: an append-only SQLite database (WAL mode) of sessions and of every event with its
per-session sequence number.

Writes never block the event loop: ``append`` adds the record to the current batch and returns. A
batch is handed to the writer thread ``linger_s`` after its first record (group commit with a linger,
like Postgres' ``commit_delay`` or Kafka's ``linger.ms``): the writer wakes once per batch and commits
it in one transaction, so a burst of N events costs one wake-up and one fsync, not N; and the records
of an order's round trip are written after it, not while the order path competes with the writer for
the CPU and the GIL (measured: bench/order_roundtrip.py). Records are encoded to JSON on the writer
thread. ``flush()`` hands the batch over at once and waits until everything appended so far is
committed (graceful shutdown, ``fromSeq`` replays, tests). Reads (replay after a restart, ``fromSeq``
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


_Write = tuple[str, tuple[Any, ...]]  # SQL and its arguments; a dict argument is stored as JSON
_Item = list[_Write] | Future[None] | None

LINGER_S = 0.002


class Journal:
    def __init__(self, path: Path, linger_s: float = LINGER_S) -> None:
        self.path = path
        self.linger_s = linger_s
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._batch: list[_Write] = []
        self._handoff: asyncio.TimerHandle | None = None
        self._thread = threading.Thread(target=self._writer, name="execx-journal", daemon=True)
        self._thread.start()
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoint, never corrupt
        return db

    # ------------------------------------------------------------------ writes (event loop thread, non-blocking)

    def add_session(self, session_id: str, exchange: str, created_ns: int, config: dict[str, Any]) -> None:
        self._put("INSERT INTO sessions VALUES (?, ?, ?, ?)", (session_id, exchange, created_ns, config))

    def append(self, record: Record) -> None:
        """Journal ``record``; its payload must not change afterwards (it is encoded on the writer thread)."""
        self._put(
            "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?)",
            (record.session_id, record.seq, record.kind, record.payload),
        )

    def _put(self, sql: str, args: tuple[Any, ...]) -> None:
        if self._closed:
            raise RuntimeError("journal is closed")
        self._batch.append((sql, args))
        if self._handoff is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop (startup, scripts): no linger
                self._hand_off()
                return
            self._handoff = loop.call_later(self.linger_s, self._hand_off)

    def _hand_off(self) -> None:
        if self._handoff is not None:
            self._handoff.cancel()
            self._handoff = None
        if self._batch:
            batch, self._batch = self._batch, []
            self._queue.put(batch)

    async def flush(self) -> None:
        """Wait until everything appended before this call is committed. The event loop first runs the
        callbacks already due, so events published on a bus before the call (journaled at the end of
        their iteration, see bus.py) are included."""
        await asyncio.sleep(0)
        self._hand_off()
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
                batch: list[_Write] = []
                waiters: list[Future[None]] = []
                stop = False
                while True:
                    if item is None:
                        stop = True
                    elif isinstance(item, Future):
                        waiters.append(item)
                    else:
                        batch.extend(item)
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
    def _commit(db: sqlite3.Connection, batch: list[_Write]) -> None:
        batch = [(sql, tuple(_dumps(a) if isinstance(a, dict) else a for a in args)) for sql, args in batch]
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
