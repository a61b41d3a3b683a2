"""Journal (SQLite WAL, durable before visible) and event bus (sequence numbers, replay, slow consumers)."""

from __future__ import annotations

import asyncio
import signal
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest
from execx_server.domain.enums import Exchange, OrderStatus, OrderType, Side, TimeInForce, TransactionType
from execx_server.engine.bus import SessionBus, SlowConsumer
from execx_server.engine.journal import Journal, JournalError, Record
from execx_server.engine.updates import OrderUpdate, PositionUpdate


async def test_records_survive_a_restart(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.add_session("s1", "binance-spot", 123, {"sessionId": "s1"})
    for seq in range(1, 101):
        j.append(Record("s1", seq, "note", {"clOrderId": f"c{seq}", "price": "1.5"}))
    await j.close()

    j2 = Journal(tmp_path / "j.db")
    assert j2.sessions() == {"s1": ("binance-spot", 123, {"sessionId": "s1"})}
    assert j2.last_seq() == {"s1": 100}
    records = list(j2.read("s1", from_seq=98))
    assert [r.seq for r in records] == [98, 99, 100]
    assert records[0].payload == {"clOrderId": "c98", "price": "1.5"}
    await j2.close()


async def test_a_failing_write_raises_and_the_journal_goes_on(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.add_session("s1", "okx", 1, {})
    with pytest.raises(JournalError, match="UNIQUE"):
        j.add_session("s1", "okx", 2, {})  # a session id is never written twice
    assert j.failed
    j.append(Record("s1", 1, "note", {}))
    assert not j.failed
    with pytest.raises(JournalError):
        j.append(Record("s1", 1, "note", {"other": "content"}))  # nor a sequence number
    assert j.sessions()["s1"][1] == 1
    assert [r.payload for r in j.read("s1")] == [{}]
    await j.close()


async def test_resume_from_seq_has_no_gap_and_no_duplicate(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    bus = SessionBus("s1", j)
    for i in range(5):
        bus.publish("note", {"i": i})
    sub = await bus.subscribe(from_seq=3)
    bus.publish("note", {"i": 5})
    seen = [(await anext(sub)).seq for _ in range(4)]
    assert seen == [3, 4, 5, 6]
    bus.publish("position", {"p": 1})
    assert (await anext(sub)).kind == "position"
    await j.close()


async def test_sequence_continues_after_restart(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    bus = SessionBus("s1", j)
    bus.publish("note", {})
    bus.publish("note", {})
    await j.close()
    j2 = Journal(tmp_path / "j.db")
    bus2 = SessionBus("s1", j2, last_seq=j2.last_seq()["s1"])
    bus2.publish("note", {})
    assert bus2.seq == 3
    await j2.close()


async def test_slow_subscriber_is_told_and_others_are_unaffected(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    bus = SessionBus("s1", j, maxsize=10)
    slow = await bus.subscribe()
    fast = await bus.subscribe()
    got: list[int] = []

    async def consume() -> None:
        async for r in fast:
            got.append(r.seq)
            if r.seq == 50:
                return

    task = asyncio.create_task(consume())
    for i in range(50):
        bus.publish("note", {"i": i})
        await asyncio.sleep(0)  # let the fast consumer run, as the event loop would between venue messages
    await asyncio.wait_for(task, 5)
    assert got == list(range(1, 51))
    with pytest.raises(SlowConsumer):
        while True:
            await anext(slow)
    assert bus.subscriber_count == 1
    await j.close()


async def test_a_waiting_subscriber_gets_a_whole_burst_in_order_and_a_slow_one_is_told_at_once(
    tmp_path: Path,
) -> None:
    j = Journal(tmp_path / "j.db")
    bus = SessionBus("s1", j, maxsize=100)
    waiting = await bus.subscribe()
    first = asyncio.create_task(anext(waiting))  # parked on an empty buffer
    await asyncio.sleep(0)
    for i in range(100):  # one loop turn's events (one flush): exactly its room
        bus.publish("note", {"i": i})
    r = await asyncio.wait_for(first, 5)
    got = [r.seq] + [(await asyncio.wait_for(anext(waiting), 5)).seq for _ in range(99)]
    assert got == list(range(1, 101))
    parked = asyncio.create_task(anext(waiting))
    await asyncio.sleep(0)
    for i in range(101):  # one more than its room: told at once, not handed the 100 it holds
        bus.publish("note", {"i": i})
    with pytest.raises(SlowConsumer):
        await asyncio.wait_for(parked, 5)
    assert bus.subscriber_count == 0
    await j.close()


async def test_kind_filter(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    bus = SessionBus("s1", j)
    sub = await bus.subscribe(kinds=frozenset({"position"}))
    bus.publish("note", {})
    bus.publish("position", {"x": 1})
    r = await asyncio.wait_for(anext(sub), 1)
    assert (r.kind, r.seq) == ("position", 2)
    await j.close()


async def test_a_subscriber_only_sees_what_the_journal_already_holds(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    bus = SessionBus("s1", j)
    sub = await bus.subscribe()
    for i in range(20):
        bus.publish("note", {"i": i})
        if i % 3 == 0:
            await asyncio.sleep(0)
    for _ in range(20):
        r = await asyncio.wait_for(anext(sub), 1)
        # another connection (another process, after a crash) reads it already: no flush, no linger
        assert next(x.payload for x in j.read("s1", r.seq)) == r.payload
    await j.close()


_CRASHER = """
import asyncio, os, signal, sys
from pathlib import Path
from execx_server.engine.bus import SessionBus
from execx_server.engine.journal import Journal

async def main() -> None:
    bus = SessionBus("s1", Journal(Path(sys.argv[1])))
    sub = await bus.subscribe()
    for i in range(int(sys.argv[2])):
        bus.publish("note", {"i": i})
        if i % 7 == 0:
            await asyncio.sleep(0)
    seen = 0
    while True:
        try:
            seen = (await asyncio.wait_for(anext(sub), 0.05)).seq
        except TimeoutError:
            break
    print(seen, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush: a crash right after the events were seen

asyncio.run(main())
"""


@pytest.mark.parametrize("events", [1, 50, 333])
async def test_what_a_subscriber_saw_survives_kill_9(tmp_path: Path, events: int) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CRASHER, str(tmp_path / "j.db"), str(events), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    seen = int(out)
    assert seen == events
    j = Journal(tmp_path / "j.db")
    assert j.last_seq() == {"s1": seen}
    assert [r.payload["i"] for r in j.read("s1")] == list(range(events))
    await j.close()


async def test_events_of_one_iteration_are_numbered_in_order_at_its_end(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    bus = SessionBus("s1", j)
    sub = await bus.subscribe()
    encoded: list[int] = []

    class Event:  # a typed event: only the journal serialises it
        def __init__(self, i: int) -> None:
            self.i = i

        def to_json(self) -> dict[str, int]:
            encoded.append(self.i)
            return {"i": self.i}

    events = [Event(i) for i in range(3)]
    for e in events:
        bus.publish("note", e)  # type: ignore[arg-type]
    bus.publish("position", PositionUpdate("s1", {"BTCUSDT": D(1)}))
    assert encoded == []  # nothing is done on the publisher's path ...
    await asyncio.sleep(0)  # ... until the iteration ends
    assert encoded == [0, 1, 2]
    got = [await asyncio.wait_for(anext(sub), 1) for _ in range(4)]
    assert [(r.seq, r.kind) for r in got] == [(1, "note"), (2, "note"), (3, "note"), (4, "position")]
    assert [r.payload for r in got[:3]] == events  # subscribers get the objects themselves, not JSON
    bus.publish("note", {"i": 9})
    assert bus.seq == 5  # reading the sequence numbers what was published first
    assert [r.seq for r in j.read("s1")] == [1, 2, 3, 4, 5]
    assert next(iter(j.read("s1", 4))).payload == PositionUpdate("s1", {"BTCUSDT": D(1)})  # typed again
    await j.close()


def _order(cl: str, status: str, t_ns: int) -> OrderUpdate:
    z = D(0)
    return OrderUpdate(
        "s1", Exchange.OKX, "BTCUSDT", cl, "", "", "", t_ns, 0, 0, D(1), D(1), z, z, z,
        OrderType.LIMIT, OrderStatus(status), TransactionType.INSERT, TimeInForce.GTC, Side.BUY, None, "",
    )  # fmt: skip


async def test_compaction_drops_orders_finished_before_the_retention_and_never_a_seq(tmp_path: Path) -> None:
    day = 86_400 * 10**9
    now = 100 * day
    j = Journal(tmp_path / "j.db", retention_s=30 * 86_400, clock_ns=lambda: now)
    j.add_session("s1", "okx", 1, {})
    records = [
        ("order", _order("old-done", "new", now - 60 * day)),
        ("position", PositionUpdate("s1", {"BTCUSDT": D(1)})),
        ("order", _order("old-live", "new", now - 60 * day)),
        ("order", _order("old-done", "filled", now - 59 * day)),
        ("position", PositionUpdate("s1", {"BTCUSDT": D(2)})),
        ("order", _order("recent-done", "new", now - 2 * day)),
        ("order", _order("recent-done", "cancelled", now - day)),
        ("order", _order("last-done", "new", now - 50 * day)),
        ("order", _order("last-done", "expired", now - 50 * day)),  # the session's last record: kept
    ]
    j.write(Record("s1", seq, kind, payload) for seq, (kind, payload) in enumerate(records, 1))
    assert j.compact() == 1  # old-done only: old-live is not final; last-done holds the last seq
    assert [(r.seq, getattr(r.payload, "cl_order_id", None)) for r in j.read("s1")] == [
        (3, "old-live"),
        (5, None),  # the last position record stays
        (6, "recent-done"),
        (7, "recent-done"),
        (8, "last-done"),
        (9, "last-done"),
    ]
    assert j.order_ids("s1") == ["old-live", "recent-done", "last-done"]
    await j.close()
    j2 = Journal(tmp_path / "j.db")
    assert j2.last_seq() == {"s1": 9}  # numbering goes on after the last seq ever given
    await j2.close()


async def test_the_wal_stays_bounded_under_a_steady_write_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from execx_server.engine import journal

    monkeypatch.setattr(journal, "WAL_RESTART_BYTES", 2**20)
    # the background checkpointer never wakes up here: the test runs its checkpoints, one per interval
    # that would have passed, instead of sleeping through the intervals
    j = Journal(tmp_path / "j.db", checkpoint_s=3600)
    wal = tmp_path / "j.db-wal"
    for seq in range(1, 4001):
        j.write([Record("s1", seq, "note", {"pad": "x" * 1000})])
        if seq % 100 == 0:
            j.checkpoint()  # the checkpointer runs between bursts, as between loop turns
    # ~12 MB went through the WAL; it is started over and truncated instead of growing with them (a PASSIVE
    # checkpoint alone leaves it at its high-water mark for good)
    seq = 4000
    while wal.stat().st_size > 2 * 2**20:  # a write after the RESTART checkpoint starts the WAL over
        assert seq < 4100, f"WAL still {wal.stat().st_size} bytes after {seq - 4000} more writes"
        seq += 1
        j.write([Record("s1", seq, "note", {})])
        j.checkpoint()
    assert j.last_seq()["s1"] >= 4000
    await j.close()
