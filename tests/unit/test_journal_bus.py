"""Journal (SQLite WAL, group commit off the loop) and event bus (sequence numbers, replay, slow consumers)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from execx_server.engine.bus import SessionBus, SlowConsumer
from execx_server.engine.journal import Journal, Record


async def test_records_survive_a_restart(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.add_session("s1", "binance-spot", 123, {"sessionId": "s1"})
    for seq in range(1, 101):
        j.append(Record("s1", seq, "order", {"clOrderId": f"c{seq}", "price": "1.5"}))
    await j.close()

    j2 = Journal(tmp_path / "j.db")
    assert j2.sessions() == {"s1": ("binance-spot", 123, {"sessionId": "s1"})}
    assert j2.last_seq() == {"s1": 100}
    records = list(j2.read("s1", from_seq=98))
    assert [r.seq for r in records] == [98, 99, 100]
    assert records[0].payload == {"clOrderId": "c98", "price": "1.5"}
    await j2.close()


async def test_a_failing_write_does_not_lose_its_batch(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.add_session("s1", "okx", 1, {})
    j.add_session("s1", "okx", 2, {})  # duplicate primary key in the same batch
    j.append(Record("s1", 1, "order", {}))
    await j.flush()
    assert j.sessions()["s1"][1] == 1
    assert j.last_seq() == {"s1": 1}
    await j.close()


async def test_resume_from_seq_has_no_gap_and_no_duplicate(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    bus = SessionBus("s1", j)
    for i in range(5):
        bus.publish("order", {"i": i})
    sub = await bus.subscribe(from_seq=3)
    bus.publish("order", {"i": 5})
    seen = [(await anext(sub)).seq for _ in range(4)]
    assert seen == [3, 4, 5, 6]
    bus.publish("position", {"p": 1})
    assert (await anext(sub)).kind == "position"
    await j.close()


async def test_sequence_continues_after_restart(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    bus = SessionBus("s1", j)
    bus.publish("order", {})
    bus.publish("order", {})
    await j.close()
    j2 = Journal(tmp_path / "j.db")
    bus2 = SessionBus("s1", j2, last_seq=j2.last_seq()["s1"])
    bus2.publish("order", {})
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
        bus.publish("order", {"i": i})
        await asyncio.sleep(0)  # let the fast consumer run, as the event loop would between venue messages
    await asyncio.wait_for(task, 5)
    assert got == list(range(1, 51))
    with pytest.raises(SlowConsumer):
        while True:
            await anext(slow)
    assert bus.subscriber_count == 1
    await j.close()


async def test_kind_filter(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    bus = SessionBus("s1", j)
    sub = await bus.subscribe(kinds=frozenset({"position"}))
    bus.publish("order", {})
    bus.publish("position", {"x": 1})
    r = await asyncio.wait_for(anext(sub), 1)
    assert (r.kind, r.seq) == ("position", 2)
    await j.close()


async def test_a_batch_is_written_one_linger_after_its_first_record(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db", linger_s=0.3)
    j.append(Record("s1", 1, "order", {"a": 1}))
    j.append(Record("s1", 2, "order", {"a": 2}))
    await asyncio.sleep(0.05)
    assert j.last_seq() == {}  # still lingering: the writer has not been woken
    await asyncio.sleep(0.6)
    assert j.last_seq() == {"s1": 2}  # written without a flush
    j.append(Record("s1", 3, "order", {"a": 3}))
    await j.flush()  # a flush does not wait for the linger
    assert [r.payload for r in j.read("s1", 3)] == [{"a": 3}]
    await j.close()


async def test_events_of_one_iteration_are_numbered_in_order_at_its_end(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    bus = SessionBus("s1", j)
    sub = await bus.subscribe()
    made: list[int] = []

    def payload(i: int) -> dict[str, int]:
        made.append(i)
        return {"i": i}

    for i in range(3):
        bus.publish("order", lambda i=i: payload(i))
    bus.publish("position", {"p": 1})
    assert made == []  # nothing is done on the publisher's path ...
    await asyncio.sleep(0)  # ... until the iteration ends
    assert made == [0, 1, 2]
    got = [await asyncio.wait_for(anext(sub), 1) for _ in range(4)]
    assert [(r.seq, r.kind, r.payload) for r in got] == [
        (1, "order", {"i": 0}),
        (2, "order", {"i": 1}),
        (3, "order", {"i": 2}),
        (4, "position", {"p": 1}),
    ]
    bus.publish("order", {"i": 9})
    assert bus.seq == 5  # reading the sequence numbers what was published first
    await j.flush()
    assert [r.seq for r in j.read("s1")] == [1, 2, 3, 4, 5]
    await j.close()
