"""``transport.supervisor.StreamSupervisor``, the owner of the Bybit connector's stream tasks: tasks
run in one group, ``spawn`` adds one, a failing task ends the group and reports it, ``close`` cancels
and awaits everything."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from execx_server.connectors.transport.supervisor import StreamSupervisor


class NeverLive:
    """Stands in for a websocket that never comes up."""

    async def wait_live(self, timeout_s: float) -> None:
        await asyncio.sleep(timeout_s)


async def test_runs_spawns_and_closes() -> None:
    started: list[str] = []
    cancelled: list[str] = []
    both = asyncio.Event()

    def forever(name: str) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            started.append(name)
            if len(started) == 2:
                both.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(name)
                raise

        return run

    failures: list[bool] = []
    sup = StreamSupervisor("t", lambda: failures.append(True))
    with pytest.raises(RuntimeError):
        sup.spawn("early", forever("early"))
    sup.start(("a", forever("a")))
    await asyncio.wait_for(sup.ready.wait(), 1)
    sup.spawn("b", forever("b"))
    await asyncio.wait_for(both.wait(), 1)
    assert sup.running and sorted(started) == ["a", "b"]
    await sup.close()
    assert sorted(cancelled) == ["a", "b"] and not sup.running and failures == []


async def test_a_failing_task_ends_the_group_and_is_reported() -> None:
    failures: list[bool] = []

    async def boom() -> None:
        raise ValueError("stream broke")

    sup = StreamSupervisor("t", lambda: failures.append(True))
    sup.start(("boom", boom))
    with pytest.raises(ExceptionGroup) as info:  # wait_live surfaces what ended the group
        await sup.wait_live(NeverLive(), asyncio.Event(), 5)  # type: ignore[arg-type]
    assert isinstance(info.value.exceptions[0], ValueError)
    assert failures == [True] and not sup.running
    await sup.close()
