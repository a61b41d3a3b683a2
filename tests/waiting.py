"""How every test waits: for a condition, with a deadline, failing with a message that names what it
waited for — never a bare sleep. ``until`` is woken by an event the code under test sets; ``eventually``
polls (for state that raises no event, e.g. another process)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

WAIT_S = 5.0


async def until(
    changed: asyncio.Event,
    predicate: Callable[[], object],
    what: str = "the condition",
    within_s: float = WAIT_S,
    detail: Callable[[], str] | None = None,
) -> None:
    """Wait, woken by ``changed``, until ``predicate()`` holds; at the deadline fail naming ``what`` (and
    ``detail()``, e.g. the last reports)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not predicate():
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(
                f"timed out after {within_s} s waiting for {what}" + (f"; {detail()}" if detail else "")
            )
        changed.clear()
        if predicate():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), remaining)


async def eventually(
    check: Callable[[], Any], what: str = "the condition", within_s: float = WAIT_S, every_s: float = 0.005
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy, and return it; fail naming ``what``
    at the deadline."""
    deadline = time.monotonic() + within_s
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(every_s)
