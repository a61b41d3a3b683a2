"""The journal: an append-only SQLite database (WAL mode) of sessions and of every event with its
per-session sequence number. It is the source of truth (DESIGN §2, "durable before visible").

**Durable before visible.** ``write`` commits its records at once, on the calling (event-loop) thread:
in WAL mode a commit is one ``write()`` of the new pages to the ``-wal`` file, i.e. the records are
handed to the operating system before ``write`` returns (~20 µs for a typical order event, measured).
A ``kill -9`` of execx one instant later cannot take them back; only a power loss or a kernel crash can
(the OS has not yet written its page cache to disk). The bus (bus.py) calls ``write`` before any
subscriber sees an event or its sequence number, and the order path before a request leaves for the
venue, so nobody ever sees an event that a process crash can take back.

``fsync=True`` (``--journalFsync``) is the power-loss mode: ``synchronous=FULL``, every commit also
waits for the disk (fsync of the WAL: ~300 µs per commit on this project's machine, measured, on the
event loop). Without it (``synchronous=NORMAL``) the database is never corrupted, and the events of the
last moments before a power loss may be missing; the reconciliation after the restart recovers what the
venue still has.

The WAL is folded back into the database (checkpointed) by a background thread with its own connection
every ``checkpoint_s``, never on the event loop (a checkpoint fsyncs); once it is larger than
``WAL_RESTART_BYTES`` it is started over, so it stays bounded under any write load. Reads (replay after a restart,
``fromSeq`` resumes) use their own connection; run them in a worker thread.

Secrets are never written: callers journal requests without credentials.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..domain.errors import Unavailable
from .updates import Event, decode, encode

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
-- one row per order (kept by write()): what a restart loads, and how queries find older orders
CREATE TABLE IF NOT EXISTS orders (
    session_id  TEXT NOT NULL,
    cl_order_id TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    first_seq   INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL,
    final       INTEGER NOT NULL,     -- 1 once its status is final (filled, cancelled, rejected, expired)
    last_ns     INTEGER NOT NULL,     -- localTime of its last event
    seqs        TEXT NOT NULL,        -- the seqs of its records, comma-separated (no index on events)
    PRIMARY KEY (session_id, cl_order_id)
) WITHOUT ROWID;
-- the configuration of each running algorithm (trigger manager, trigger, dip buyer, ...): what a restart
-- starts again (managers/runtime.py); a row is deleted when its algorithm stops
CREATE TABLE IF NOT EXISTS algorithms (
    kind       TEXT NOT NULL,         -- "trigger_manager", "trigger", "dip_buyer", ...
    key        TEXT NOT NULL,         -- unique within its kind
    session_id TEXT NOT NULL,
    config     TEXT NOT NULL,         -- JSON, decimals as strings
    updated_ns INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
-- the audit records (api/access.py): every call needing trade or admin scope, allowed or refused; picked
-- fields only, never a secret; committed with the next journal write (``audit``), dropped by the retention
-- like finished orders
CREATE TABLE IF NOT EXISTS audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns        INTEGER NOT NULL,
    key_id       TEXT NOT NULL,
    peer         TEXT NOT NULL,
    method       TEXT NOT NULL,
    sessions     TEXT NOT NULL,       -- JSON list
    cl_order_ids TEXT NOT NULL,       -- JSON list
    outcome      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (ts_ns);
"""
_INSERT_AUDIT = (
    "INSERT INTO audit (ts_ns, key_id, peer, method, sessions, cl_order_ids, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
AUDIT_LIMIT_MAX = 10_000
AUDIT_FLUSH_S = 0.01  # an audit record waits at most this long for a commit to ride along with (``audit``)

_INSERT_EVENT = "INSERT INTO events VALUES (?, ?, ?, ?)"

FINAL_STATUSES = frozenset({"filled", "cancelled", "rejected", "expired"})
_UPSERT_ORDER = (
    "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET last_seq = excluded.last_seq, "
    "final = excluded.final, last_ns = excluded.last_ns, seqs = seqs || ',' || excluded.seqs"
)

CHECKPOINT_S = 1.0
COMPACT_EVERY_S = 3600.0
WAL_RESTART_BYTES = 32 * 2**20  # the WAL is started over (RESTART checkpoint) once it is larger
COMPACT_BATCH = 200
SEQ_MAX = 2**63 - 1  # SQLite's largest integer


class JournalError(Unavailable):
    """The journal could not write: nothing more may be made visible or sent (the service is unavailable)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited call (api/access.py); ``id`` is the journal's (0 before it is written)."""

    ts_ns: int
    key_id: str
    peer: str
    method: str
    sessions: tuple[str, ...]
    cl_order_ids: tuple[str, ...]
    outcome: str
    id: int = 0


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of ``Journal.audit_records`` (each optional; ``key_id`` None: any key)."""

    from_ns: int = 0
    to_ns: int = 0
    key_id: str | None = None
    methods: tuple[str, ...] = ()  # full gRPC method names
    session_id: str = ""
    outcome: str = ""
    after_id: int = 0
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class Record:
    session_id: str
    seq: int
    kind: str
    payload: Event  # typed on the bus (OrderUpdate, PositionUpdate, ...); the journal alone serialises it


class Journal:
    def __init__(
        self,
        path: Path,
        fsync: bool = False,
        checkpoint_s: float = CHECKPOINT_S,
        retention_s: float = 0.0,
        clock_ns: Callable[[], int] = time.time_ns,
        compact_every_s: float = COMPACT_EVERY_S,
        audit_flush_s: float = AUDIT_FLUSH_S,
    ) -> None:
        self.path = path
        self.fsync = fsync
        self.retention_s = retention_s  # 0: keep everything
        self._clock_ns = clock_ns
        self._compact_every_s = compact_every_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._connect(writer=True)
        self._db.executescript(SCHEMA)
        self._backfill_orders()
        self.failed: str = ""  # why the last write failed; the engine refuses orders while set
        self._audit: list[tuple[Any, ...]] = []  # audit rows waiting for the next commit (``audit``)
        self._audit_timer: asyncio.TimerHandle | None = None
        self.audit_flush_s = audit_flush_s
        self._closed = False
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, args=(checkpoint_s,), name="execx-journal-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _connect(self, writer: bool = False) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
        if writer:
            db.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run on the checkpointer thread
        # the compaction and a RESTART checkpoint (checkpointer thread) hold the lock briefly
        db.execute("PRAGMA busy_timeout=2000")
        db.execute(f"PRAGMA journal_size_limit={WAL_RESTART_BYTES}")
        return db

    # ------------------------------------------------------------------ writes (event-loop thread)

    def add_session(self, session_id: str, exchange: str, created_ns: int, config: dict[str, Any]) -> None:
        self._commit(
            [("INSERT INTO sessions VALUES (?, ?, ?, ?)", [(session_id, exchange, created_ns, _dumps(config))])]
        )

    def save_algorithm(self, kind: str, key: str, session_id: str, config: dict[str, Any]) -> None:
        """Keep (insert or replace) a running algorithm's configuration: committed when this returns."""
        self._commit(
            [
                (
                    "INSERT OR REPLACE INTO algorithms VALUES (?, ?, ?, ?, ?)",
                    [(kind, key, session_id, _dumps(config), self._clock_ns())],
                )
            ]
        )

    def drop_algorithm(self, kind: str, key: str) -> None:
        self._commit([("DELETE FROM algorithms WHERE kind = ? AND key = ?", [(kind, key)])])

    def write(self, records: Iterable[Record]) -> None:
        """Commit ``records`` now, in one transaction: when this returns they survive a process crash.
        A sequence number is never written twice (that would be a bug: it raises). Order records
        (kind ``order``) also keep their order's row in ``orders``: the events rows in one statement, the
        orders rows in another, in the records' order (``executemany``: one statement each, not one per row)."""
        events: list[tuple[Any, ...]] = []
        orders: list[tuple[Any, ...]] = []
        for r in records:
            payload = encode(r.payload)
            events.append((r.session_id, r.seq, r.kind, _dumps(payload)))
            row = _order_row(r.session_id, r.seq, r.kind, payload)
            if row is not None:
                orders.append(row)
        self._commit([(_INSERT_EVENT, events), (_UPSERT_ORDER, orders)] if orders else [(_INSERT_EVENT, events)])

    def append(self, record: Record) -> None:
        self.write((record,))

    def audit(self, entry: AuditEntry) -> None:
        """Queue an audit record: it is committed with the next journal write (the next order's records, under
        any order flow), or by itself ``AUDIT_FLUSH_S`` after it was queued when nothing else is written by
        then (at once without a running loop). So an audit record adds no commit of its own to the orders'
        (a call is audited after its order's own commits: a flush at the end of the call's loop turn was one
        more commit per order, measured), and is handed to the OS at most ``AUDIT_FLUSH_S`` after its call
        answered: a crash of execx within that window can lose the audit records of its last calls, never an
        order event."""
        self._audit.append(
            (
                entry.ts_ns,
                entry.key_id,
                entry.peer,
                entry.method,
                _dumps(entry.sessions),  # a tuple: a JSON list
                _dumps(entry.cl_order_ids),
                entry.outcome,
            )
        )
        if len(self._audit) == 1:
            try:
                self._audit_timer = asyncio.get_running_loop().call_later(self.audit_flush_s, self.flush_audit)
            except RuntimeError:
                self.flush_audit()

    def flush_audit(self) -> None:
        """Commit the queued audit records now (a no-op once a write took them). A failure is logged and the
        records kept for the next commit: an audit record never fails the call it describes."""
        if not self._audit or self._closed:
            return
        try:
            self._commit([])
        except JournalError:
            pass  # logged by _commit; the rows wait for the next commit

    def _commit(self, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """One transaction: each statement run for each of its rows (``executemany``), then the queued audit
        rows (``audit``), in one statement too."""
        if self._closed:
            raise JournalError("journal is closed")
        db = self._db
        audit, self._audit = self._audit, []
        if audit and self._audit_timer is not None:
            self._audit_timer.cancel()  # they ride along here
            self._audit_timer = None
        try:
            db.execute("BEGIN")
            for sql, rows in statements:
                db.executemany(sql, rows)
            if audit:  # this turn's audit records ride along (``audit``)
                db.executemany(_INSERT_AUDIT, audit)
            db.execute("COMMIT")
        except sqlite3.Error as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._audit[:0] = audit
            self.failed = f"journal write failed: {e}"
            log.error("journal.write_failed", extra={"error": str(e)})
            raise JournalError(self.failed) from e
        self.failed = ""

    async def flush(self) -> None:
        """Let the event loop run the callbacks already due first, so that events published on a bus
        before this call (journaled at the end of their loop iteration, see bus.py) are written."""
        await asyncio.sleep(0)

    async def close(self) -> None:
        if self._closed:
            return
        await self.flush()
        self.flush_audit()
        self._closed = True
        self._stop.set()
        await asyncio.to_thread(self._checkpointer.join)
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as e:  # the WAL stays; the next start reads it
            log.warning("journal.checkpoint_failed", extra={"error": str(e)})
        self._db.close()

    def _checkpoint_loop(self, every_s: float) -> None:
        db = self._connect()
        # the first compaction a minute after start (not during start-up), then every compact_every_s
        next_compaction = time.monotonic() + min(60.0, self._compact_every_s)
        try:
            while True:
                if self.retention_s and time.monotonic() >= next_compaction:
                    next_compaction = time.monotonic() + self._compact_every_s
                    try:
                        self.compact(db)
                    except sqlite3.Error as e:
                        log.warning("journal.compaction_failed", extra={"error": str(e)})
                if self._stop.wait(every_s):
                    return
                self.checkpoint(db)
        finally:
            db.close()

    def checkpoint(self, db: sqlite3.Connection | None = None) -> None:
        """One checkpoint, as the background thread runs every ``checkpoint_s`` (tests call it to let that
        time pass): the WAL folded into the database, and started over once larger than
        ``WAL_RESTART_BYTES``. Errors are logged."""
        own = db is None
        conn = self._connect() if db is None else db
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            if self._wal_bytes() > WAL_RESTART_BYTES:
                # PASSIVE copies the WAL into the database but, under a steady write load, the WAL
                # never starts over (measured: it grew ~24 MB/s at 500 orders/s). RESTART makes
                # the next write start it over (that write may wait for the checkpoint: ~10-20 ms),
                # and journal_size_limit truncates the file.
                conn.execute("PRAGMA wal_checkpoint(RESTART)")
        except sqlite3.Error as e:
            log.warning("journal.checkpoint_failed", extra={"error": str(e)})
        finally:
            if own:
                conn.close()

    def _wal_bytes(self) -> int:
        try:
            return self.path.with_name(self.path.name + "-wal").stat().st_size
        except FileNotFoundError:
            return 0

    def compact(self, db: sqlite3.Connection | None = None) -> int:
        """Delete the records of orders finished more than ``retention_s`` ago (and the position records
        older than the oldest record kept, except each session's last), in small transactions so the event
        loop's writes wait at most one of them. Session rows and each session's last record stay: session
        ids are never reused and sequence numbers continue. Freed pages are reused by new records, so the
        file stops growing once the retention period is reached. Returns how many orders were dropped."""
        own = db is None
        db = db or self._connect()
        cutoff = self._clock_ns() - int(self.retention_s * 1e9)
        dropped = 0
        try:
            for (sid,) in db.execute("SELECT session_id FROM sessions").fetchall():
                last = db.execute("SELECT MAX(seq) FROM events WHERE session_id = ?", (sid,)).fetchone()[0] or 0
                while True:
                    batch = db.execute(
                        "SELECT cl_order_id FROM orders WHERE session_id = ? AND final = 1 AND last_ns < ? "
                        "AND last_seq < ? LIMIT ?",
                        (sid, cutoff, last, COMPACT_BATCH),
                    ).fetchall()
                    if not batch:
                        break
                    db.execute("BEGIN IMMEDIATE")
                    for (cl,) in batch:
                        for chunk in _chunks(_seqs_of(db, sid, cl)):
                            db.execute(
                                f"DELETE FROM events WHERE session_id = ? AND seq IN ({','.join('?' * len(chunk))})",
                                (sid, *chunk),
                            )
                        db.execute("DELETE FROM orders WHERE session_id = ? AND cl_order_id = ?", (sid, cl))
                    db.execute("COMMIT")
                    dropped += len(batch)
                oldest = (
                    db.execute("SELECT MIN(first_seq) FROM orders WHERE session_id = ?", (sid,)).fetchone()[0] or last
                )
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "DELETE FROM events WHERE session_id = ? AND kind = 'position' AND seq < ? AND seq < "
                    "(SELECT MAX(seq) FROM events WHERE session_id = ? AND kind = 'position')",
                    (sid, oldest, sid),
                )
                db.execute("COMMIT")
            db.execute("BEGIN IMMEDIATE")
            audited = db.execute("DELETE FROM audit WHERE ts_ns < ?", (cutoff,)).rowcount
            db.execute("COMMIT")
        finally:
            if own:
                db.close()
        if dropped or audited:
            log.info("journal.compacted", extra={"orders": dropped, "auditRecords": audited})
        return dropped

    # ------------------------------------------------------------------ reads

    def sessions(self) -> dict[str, tuple[str, int, dict[str, Any]]]:
        with self._reader() as db:
            rows = db.execute("SELECT session_id, exchange, created_ns, config FROM sessions").fetchall()
        return {sid: (exchange, created, json.loads(config)) for sid, exchange, created, config in rows}

    def algorithms(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """The saved algorithms of ``kind``: (key, session id, configuration), oldest first."""
        with self._reader() as db:
            rows = db.execute(
                "SELECT key, session_id, config FROM algorithms WHERE kind = ? ORDER BY updated_ns, key", (kind,)
            ).fetchall()
        return [(key, sid, json.loads(config)) for key, sid, config in rows]

    def audit_records(self, q: AuditQuery) -> list[AuditEntry]:
        """The audit records matching ``q``, oldest first (a read connection: for a worker thread)."""
        sql = "SELECT id, ts_ns, key_id, peer, method, sessions, cl_order_ids, outcome FROM audit WHERE id > ?"
        args: list[Any] = [q.after_id]
        if q.from_ns:
            sql += " AND ts_ns >= ?"
            args.append(q.from_ns)
        if q.to_ns:
            sql += " AND ts_ns < ?"
            args.append(q.to_ns)
        if q.key_id is not None:
            sql += " AND key_id = ?"
            args.append(q.key_id)
        if q.methods:
            sql += f" AND method IN ({','.join('?' * len(q.methods))})"
            args += q.methods
        if q.outcome:
            sql += " AND outcome = ?"
            args.append(q.outcome)
        if q.session_id:
            sql += " AND EXISTS (SELECT 1 FROM json_each(audit.sessions) WHERE value = ?)"
            args.append(q.session_id)
        sql += " ORDER BY id LIMIT ?"
        args.append(max(1, min(q.limit or 1000, AUDIT_LIMIT_MAX)))
        with self._reader() as db:
            rows = db.execute(sql, args).fetchall()
        return [
            AuditEntry(ts, key, peer, method, tuple(json.loads(ss)), tuple(json.loads(cl)), outcome, id=rid)
            for rid, ts, key, peer, method, ss, cl, outcome in rows
        ]

    def last_seq(self) -> dict[str, int]:
        with self._reader() as db:
            rows = db.execute("SELECT session_id, MAX(seq) FROM events GROUP BY session_id").fetchall()
        return {sid: seq for sid, seq in rows}

    def read(self, session_id: str, from_seq: int = 0, kind: str | None = None) -> Iterator[Record]:
        """Records of a session with ``seq >= from_seq``, in order."""
        with self._reader() as db:
            sql = "SELECT seq, kind, payload FROM events WHERE session_id = ? AND seq >= ?"
            args: list[Any] = [session_id, min(from_seq, SEQ_MAX)]
            if kind is not None:
                sql += " AND kind = ?"
                args.append(kind)
            for seq, k, payload in db.execute(sql + " ORDER BY seq", args):
                yield Record(session_id, seq, k, decode(k, json.loads(payload)))

    def order_records(self, session_id: str, cl_order_id: str) -> list[Record]:
        """Every record of one order, in order (an indexed read on the writer's connection, ~5 µs: for the
        event loop only)."""
        return _records_of(self._db, session_id, cl_order_id)

    def orders_records(self, session_id: str, cl_order_ids: Iterable[str]) -> Iterator[list[Record]]:
        """``order_records`` of many orders on a connection of its own (for a worker thread)."""
        with self._reader() as db:
            for cl in cl_order_ids:
                yield _records_of(db, session_id, cl)

    def live_and_recent(self, session_id: str, recent: int) -> list[str]:
        """Client order ids of the session's orders not final, and of its ``recent`` last finished ones,
        in the order they were first journaled (what a restart loads into memory)."""
        with self._reader() as db:
            rows = db.execute(
                "SELECT cl_order_id, first_seq FROM orders WHERE session_id = ? AND final = 0 "
                "UNION SELECT cl_order_id, first_seq FROM "
                "(SELECT cl_order_id, first_seq FROM orders WHERE session_id = ? AND final = 1 "
                "ORDER BY last_seq DESC LIMIT ?) ORDER BY first_seq",
                (session_id, session_id, recent),
            ).fetchall()
        return [cl for cl, _ in rows]

    def order_ids(self, session_id: str, symbol: str = "", limit: int = 0) -> list[str]:
        """Client order ids of the session (on ``symbol``), in the order they were first journaled; the last
        ``limit`` if given."""
        sql = "SELECT cl_order_id FROM orders WHERE session_id = ?"
        args: list[Any] = [session_id]
        if symbol:
            sql += " AND symbol = ?"
            args.append(symbol)
        sql += " ORDER BY first_seq DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        with self._reader() as db:
            rows = db.execute(sql, args).fetchall()
        return [cl for (cl,) in reversed(rows)]

    def last_record(self, session_id: str, kind: str) -> Record | None:
        with self._reader() as db:
            row = db.execute(
                "SELECT seq, payload FROM events WHERE session_id = ? AND kind = ? ORDER BY seq DESC LIMIT 1",
                (session_id, kind),
            ).fetchone()
        return Record(session_id, row[0], kind, decode(kind, json.loads(row[1]))) if row else None

    def _backfill_orders(self) -> None:
        """A journal written before the ``orders`` table: build its rows once from the events."""
        db = self._db
        if (
            db.execute("SELECT 1 FROM orders LIMIT 1").fetchone()
            or not db.execute("SELECT 1 FROM events WHERE kind = 'order' LIMIT 1").fetchone()
        ):
            return
        db.execute("BEGIN")
        for sid, seq, payload in db.execute(
            "SELECT session_id, seq, payload FROM events WHERE kind = 'order' ORDER BY session_id, seq"
        ):
            row = _order_row(sid, seq, "order", json.loads(payload))
            if row is not None:
                db.execute(_UPSERT_ORDER, row)
        db.execute("COMMIT")

    def _reader(self) -> _Reader:
        return _Reader(self._connect())


class _Reader:
    """A read connection closed on exit (``sqlite3.Connection``'s own context manager only commits)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.db.close()


def _seqs_of(db: sqlite3.Connection, session_id: str, cl_order_id: str) -> list[int]:
    row = db.execute(
        "SELECT seqs FROM orders WHERE session_id = ? AND cl_order_id = ?", (session_id, cl_order_id)
    ).fetchone()
    return [int(x) for x in row[0].split(",")] if row else []


def _chunks(seqs: list[int], size: int = 500) -> Iterator[list[int]]:
    for i in range(0, len(seqs), size):
        yield seqs[i : i + size]


def _records_of(db: sqlite3.Connection, session_id: str, cl_order_id: str) -> list[Record]:
    """An order's records: its seqs from ``orders`` (one primary-key read), then those events."""
    out: list[Record] = []
    for chunk in _chunks(_seqs_of(db, session_id, cl_order_id)):
        rows = db.execute(
            f"SELECT seq, kind, payload FROM events WHERE session_id = ? AND seq IN ({','.join('?' * len(chunk))}) "
            "ORDER BY seq",
            (session_id, *chunk),
        ).fetchall()
        out += [Record(session_id, seq, kind, decode(kind, json.loads(payload))) for seq, kind, payload in rows]
    return out


def _order_row(session_id: str, seq: int, kind: str, p: dict[str, Any]) -> tuple[Any, ...] | None:
    """The ``orders`` row an order record keeps (None for other records)."""
    cl = p.get("clOrderId")
    if kind != "order" or not cl:
        return None
    final = int(p.get("orderStatus") in FINAL_STATUSES)
    return (session_id, cl, p.get("symbol", ""), seq, seq, final, p.get("localTime", 0), str(seq))


def _dumps(obj: Any) -> str:
    """Compact JSON, anything else (Decimal) as its str. orjson: ~4 µs less than json per order event, on
    the order path (bench/order_profile.py); json for what orjson refuses (an int beyond 64 bits)."""
    try:
        return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), default=str)
