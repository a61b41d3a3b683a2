"""Drop copy on NATS JetStream (issue 21, ``--nats nats://…`` / ``EXECX_NATS``; off by default).

Every journaled event (orders and their fills, positions, every other kind the journal keeps) is published
once to the durable JetStream stream ``EXECX_DROPCOPY`` (file storage, created when absent) on the subject

    execx.dropcopy.<exchange>.<account>.<session>.<kind>

``<account>`` is the session's stored account (``exchangeKey.accountRef``) or ``inline`` when the
session was opened with inline keys; each token has ``.``, ``*``, ``>`` and white space replaced by
``_``. A consumer filters on any level: ``execx.dropcopy.*.ACCT.>`` for one account,
``execx.dropcopy.*.*.SESSION.order`` for a session's orders and fills.

The message is the journal record as JSON: ``{"session", "seq", "kind", "exchange", "account", "event"}``
(``event``: the journaled payload, as the journal stores it). Its header ``Nats-Msg-Id`` is
``<session>:<seq>``: JetStream drops a second message with the same id inside the stream's duplicate
window (created with ``DUPLICATE_WINDOW_S``), so a republish after a crash or a reconnect is not a
second fill.

The local journal stays the source of truth: publication is a background follower of the journal (its own
read-only SQLite connection, in a worker thread), never on the order path. It reads each session's
records after the last one JetStream acknowledged, publishes them in order, each awaiting its ack, and
persists the acknowledged seq per session (``dropcopy_acks.json`` in the data directory, replaced
atomically after each batch). While NATS is away it retries; it catches up when NATS is back, and after
an execx restart it starts from the persisted seqs (the records published but not yet persisted when
execx died are published again and deduplicated by their id). The journal's retention
(``--journalRetentionDays``) may drop a finished order's records that an outage longer than it kept
from being published.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger("execx.fleet.dropcopy")

STREAM = "EXECX_DROPCOPY"
SUBJECT_PREFIX = "execx.dropcopy"
DUPLICATE_WINDOW_S = 3600.0  # JetStream keeps the message ids of the last hour to drop duplicates
POLL_S = 0.05  # how often the follower looks for new journal records
BATCH = 500  # records read from the journal at once per session
RETRY_S = 0.5  # after a failed publish (NATS away): wait before trying again
DROPCOPY_HEALTH_SERVICE = "execx.DropCopy"  # gRPC health: SERVING while connected and caught up (app.py)
DROPCOPY_HEALTHY_LAG_S = 5.0  # behind the journal longer than this: NOT_SERVING
MEASURE_S = 0.5  # how often the lag is measured (the journal's head seq per session)
_UNSAFE = re.compile(r"[.*>\s]")


def token(value: str) -> str:
    """``value`` as one subject token (no ``.``, ``*``, ``>`` or white space)."""
    return _UNSAFE.sub("_", value) or "_"


def subject(exchange: str, account: str, session_id: str, kind: str) -> str:
    return ".".join([SUBJECT_PREFIX, token(exchange), token(account), token(session_id), token(kind)])


def msg_id(session_id: str, seq: int) -> str:
    return f"{session_id}:{seq}"


class Acks:
    """The last seq JetStream acknowledged, per session, kept in a JSON file (replaced atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seqs: dict[str, int] = {}
        with contextlib.suppress(FileNotFoundError):
            loaded = json.loads(path.read_text())
            self.seqs = {str(k): int(v) for k, v in loaded.items()}

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.seqs, sort_keys=True))
        os.replace(tmp, self.path)


class JournalReader:
    """Reads the journal's sessions and events on its own read-only connection, from worker threads one
    call at a time: a lock keeps two threads (the follower and the lag measure) off the connection at once
    and ``close`` from closing it under a query still running in a thread (that crashed the process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _conn(self) -> sqlite3.Connection:
        """The connection, opened on first use; the caller holds the lock."""
        if self._closed:
            raise sqlite3.ProgrammingError("the journal reader is closed")
        if self._db is None:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=2000")
        return self._db

    def sessions(self) -> dict[str, str]:
        """Session id → exchange."""
        with self._lock:
            return {sid: ex for sid, ex in self._conn().execute("SELECT session_id, exchange FROM sessions")}

    def heads(self) -> dict[str, int]:
        """Session id → its last journaled seq (one primary-key lookup per session)."""
        with self._lock:
            db = self._conn()
            sessions = [sid for (sid,) in db.execute("SELECT session_id FROM sessions")]
            heads: dict[str, int] = {}
            for sid in sessions:
                (head,) = db.execute("SELECT MAX(seq) FROM events WHERE session_id = ?", (sid,)).fetchone()
                heads[sid] = int(head or 0)
            return heads

    def after(self, session_id: str, seq: int, limit: int = BATCH) -> list[tuple[int, str, str]]:
        """(seq, kind, payload JSON) of the session's records after ``seq``, in order."""
        with self._lock:
            rows = self._conn().execute(
                "SELECT seq, kind, payload FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (session_id, seq, limit),
            )
            return [(int(s), str(k), str(p)) for s, k, p in rows]

    def close(self) -> None:
        """Close the connection once no query runs (waits for one in a thread); later reads raise."""
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None
            self._db = None


class DropCopy:
    """The journal follower publishing to JetStream (module docstring)."""

    def __init__(
        self,
        url: str,
        journal_path: Path,
        acks_path: Path,
        account_of: Callable[[str], str] = lambda _sid: "inline",
        poll_s: float = POLL_S,
    ) -> None:
        self.url = url
        self.reader = JournalReader(journal_path)
        self.acks = Acks(acks_path)
        self.account_of = account_of
        self.poll_s = poll_s
        self.published = 0  # messages JetStream stored
        self.duplicates = 0  # messages JetStream acknowledged as duplicates (a republish)
        self.connected = False
        # the lag (``measure``): journaled records not yet acknowledged by JetStream, summed over the sessions,
        # and how long the drop copy has been behind (since a measurement last found it caught up)
        self.lag_records = 0
        self.lag_s = 0.0
        self._behind_since: float | None = None
        self._measured_at = 0.0
        self.lag_observers: list[Callable[[DropCopy], Awaitable[None]]] = []  # metrics and health (app.py)
        self._nc: Client | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="execx-dropcopy")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), 2.0)
            self._nc = None
        await asyncio.to_thread(self.reader.close)  # after a read still running in a worker thread

    async def measure(self) -> None:
        """The lag now (the journal's head seq minus the acknowledged seq, per session), told to the
        observers. A journal not readable yet leaves the last figures."""
        try:
            heads = await asyncio.to_thread(self.reader.heads)
        except sqlite3.Error as e:
            log.debug("dropcopy.lag_unknown", extra={"error": str(e)})
            return
        now = time.monotonic()
        self._measured_at = now
        self.lag_records = sum(max(0, head - self.acks.seqs.get(sid, 0)) for sid, head in heads.items())
        if self.lag_records == 0:
            self._behind_since = None
        elif self._behind_since is None:
            self._behind_since = now
        self.lag_s = 0.0 if self._behind_since is None else now - self._behind_since
        for observe in self.lag_observers:
            await observe(self)

    async def _run(self) -> None:
        while True:
            if time.monotonic() - self._measured_at >= MEASURE_S:
                await self.measure()
            try:
                if self._nc is None or self._nc.is_closed:
                    self._nc = await self._connect()
                progressed = await self._publish_new(self._nc)
            except (NatsError, OSError, TimeoutError) as e:
                self.connected = False
                log.warning("dropcopy.publish_failed", extra={"error": repr(e)})
                if isinstance(e, NoRespondersError) and self._nc is not None:
                    # no stream answers (a NATS restarted without its store): connect again, which creates it
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(self._nc.close(), 2.0)
                    self._nc = None
                await asyncio.sleep(RETRY_S)
                continue
            except sqlite3.Error as e:  # the journal not there yet, or busy: the next poll reads it
                log.warning("dropcopy.journal_read_failed", extra={"error": str(e)})
                progressed = False
            except Exception:  # a bug here must not end the drop copy: logged, retried
                log.exception("dropcopy.failed")
                await asyncio.sleep(RETRY_S)
                continue
            if not progressed:
                await asyncio.sleep(self.poll_s)

    async def _connect(self) -> Client:
        async def disconnected() -> None:
            self.connected = False

        async def reconnected() -> None:
            self.connected = True

        nc = await nats.connect(
            self.url,
            name="execx-dropcopy",
            connect_timeout=2,
            reconnect_time_wait=0.25,
            max_reconnect_attempts=-1,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
        )
        try:
            await _ensure_stream(nc)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 2.0)
            raise
        self.connected = True
        log.info("dropcopy.connected", extra={"url": self.url, "stream": STREAM})
        return nc

    async def _publish_new(self, nc: Client) -> bool:
        """Publish every session's records after its acknowledged seq; True when any was published."""
        js = nc.jetstream()
        sessions = await asyncio.to_thread(self.reader.sessions)
        progressed = False
        for sid, exchange in sessions.items():
            acked = self.acks.seqs.get(sid, 0)
            rows = await asyncio.to_thread(self.reader.after, sid, acked)
            if not rows:
                continue
            account = self.account_of(sid)
            try:
                for seq, kind, payload in rows:
                    body = _message(sid, seq, kind, exchange, account, payload)
                    ack = await js.publish(
                        subject(exchange, account, sid, kind),
                        body,
                        timeout=2.0,
                        headers={"Nats-Msg-Id": msg_id(sid, seq)},
                    )
                    if ack.duplicate:
                        self.duplicates += 1
                    else:
                        self.published += 1
                    self.acks.seqs[sid] = seq
                    progressed = True
            finally:
                if self.acks.seqs.get(sid, 0) != acked:
                    await asyncio.to_thread(self.acks.save)
        return progressed


async def _ensure_stream(nc: Client) -> None:
    """The stream, created when absent (an existing one is used as it is)."""
    js = nc.jetstream()
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=STREAM,
                subjects=[f"{SUBJECT_PREFIX}.>"],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S,
            )
        )


def _message(sid: str, seq: int, kind: str, exchange: str, account: str, payload: str) -> bytes:
    head = json.dumps({"session": sid, "seq": seq, "kind": kind, "exchange": exchange, "account": account})
    return f'{head[:-1]}, "event": {payload}}}'.encode()


def dropcopy_for(url: str, data_dir: Path, account_of: Callable[[str], str] | None = None) -> DropCopy:
    """The drop copy of the journal in ``data_dir``."""
    return DropCopy(url, data_dir / "journal.db", data_dir / "dropcopy_acks.json", account_of or (lambda _s: "inline"))


__all__ = ["STREAM", "SUBJECT_PREFIX", "Acks", "DropCopy", "dropcopy_for", "msg_id", "subject", "token"]
