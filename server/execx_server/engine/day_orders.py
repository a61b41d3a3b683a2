"""Day orders (``tif: day``) on venues without one: execx cancels them at 00:00 UTC (issue 14, docs/safety.md).

Where the venue has a day order of its own (Deribit and Pulse ``good_til_day``: ``day`` in the connector's
``supported_tifs``) the venue ends it. Elsewhere the engine sends the order as ``gtc`` (``venue_tif``) and this
schedule cancels it at the end of the UTC day it was accepted in:

- The schedule is journaled (the ``algorithms`` table, kind ``dayOrder``, ``{"clOrderId", "endNs"}``) when
  the order's first update (``pendingnew``) is published, before its request leaves for the venue, and
  dropped when the order is final. After a restart it is read back: an order whose day ended while execx
  was down is cancelled as soon as its session is live again (the strategy starts it with its keys).
- The check runs every ``CHECK_EVERY_S`` while anything is scheduled. It cancels through the normal order
  path (``delete``) after publishing a ``riskEvent`` ``dayOrderExpired`` naming the order, so the client
  sees why; a cancel that fails is tried again ``RETRY_S`` later.
- ``now_ns`` is the clock (the engine's by default): tests inject one instead of waiting for midnight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..connectors.base import Connector
from ..domain.enums import TimeInForce, TransactionType
from .updates import OrderUpdate

if TYPE_CHECKING:
    from .sessions import OrderEngine

log = logging.getLogger("execx.engine.day_orders")

DAY_NS = 86_400 * 1_000_000_000
JOURNAL_KIND = "dayOrder"
CHECK_EVERY_S = 1.0
RETRY_S = 10.0


def day_end_ns(accepted_ns: int) -> int:
    """The next 00:00 UTC after ``accepted_ns``."""
    return (accepted_ns // DAY_NS + 1) * DAY_NS


def emulated(connector: Connector) -> bool:
    """execx, not the venue, ends this connector's day orders."""
    return TimeInForce.DAY not in connector.supported_tifs


def venue_tif(connector: Connector, tif: TimeInForce) -> TimeInForce:
    """The time in force sent to the venue: an emulated day order rests as ``gtc`` until execx cancels it."""
    return TimeInForce.GTC if tif is TimeInForce.DAY and emulated(connector) else tif


class DayOrders:
    def __init__(self, engine: OrderEngine) -> None:
        self.engine = engine
        self.now_ns: Callable[[], int] = lambda: engine.clock_ns()
        self._due: dict[tuple[str, str], int] = {}  # (session, clOrderId) -> end of its day, ns
        self._tried: dict[tuple[str, str], float] = {}  # cancels sent: when (monotonic), for RETRY_S
        self._task: asyncio.Task[None] | None = None
        for _key, session_id, cfg in engine.journal.algorithms(JOURNAL_KIND):
            self._due[(session_id, str(cfg["clOrderId"]))] = int(cfg["endNs"])
        engine.observers.append(self._observe)
        engine.stream_observers.append(lambda session_id, up: self._ensure_running() if up else None)

    def due(self, session_id: str, cl_order_id: str) -> int | None:
        """When execx cancels the order (ns), or None if it does not."""
        return self._due.get((session_id, cl_order_id))

    def _observe(self, u: OrderUpdate) -> None:
        if u.tif is not TimeInForce.DAY:
            return
        key = (u.session_id, u.cl_order_id)
        if u.order_status.is_final:
            if self._due.pop(key, None) is not None:
                self._tried.pop(key, None)
                self.engine.journal.drop_algorithm(JOURNAL_KIND, _journal_key(key))
            return
        if key in self._due:
            return
        session = self.engine.sessions.get(u.session_id)
        if session is None or session.connector is None or not emulated(session.connector):
            return
        end = day_end_ns(self.now_ns())
        self._due[key] = end
        self.engine.journal.save_algorithm(
            JOURNAL_KIND, _journal_key(key), u.session_id, {"clOrderId": u.cl_order_id, "endNs": end}
        )
        self._ensure_running()

    def _ensure_running(self) -> None:
        if self._due and (self._task is None or self._task.done()):
            self._task = self.engine.tasks.spawn(self._run(), "day-orders")

    async def _run(self) -> None:
        while self._due:
            await self.check()
            await asyncio.sleep(CHECK_EVERY_S)  # the schedule's resolution

    async def check(self) -> list[str]:
        """Cancel every scheduled order whose day has ended (of a live session); the client order ids a
        cancel was sent for."""
        from .sessions import SendOrder  # sessions.py imports this module

        now, sent = self.now_ns(), []
        for key, end in sorted(self._due.items(), key=lambda kv: kv[1]):
            if end > now:
                continue
            session_id, cl = key
            session = self.engine.sessions.get(session_id)
            order = session.store.get(cl) if session is not None else None
            if session is None or order is None or order.status.is_final:
                self._due.pop(key, None)
                self._tried.pop(key, None)
                self.engine.journal.drop_algorithm(JOURNAL_KIND, _journal_key(key))
                continue
            if session.state != "live" or session.connector is None:
                continue  # when the strategy starts the session again
            loop_now = asyncio.get_running_loop().time()
            if loop_now - self._tried.get(key, -RETRY_S) < RETRY_S:
                continue
            self._tried[key] = loop_now
            log.info("day_order.expired", extra={"session": session_id, "clOrderId": cl, "endNs": end})
            self.engine.risk._publish(session, "dayOrderExpired", "session", [cl])
            try:
                await self.engine.send(SendOrder(session_id, TransactionType.DELETE, cl_order_id=cl))
            except Exception as e:  # tried again RETRY_S later while the order is open
                log.warning("day_order.cancel_failed", extra={"session": session_id, "clOrderId": cl, "error": str(e)})
                continue
            sent.append(cl)
        return sent


def _journal_key(key: tuple[str, str]) -> str:
    return f"{key[0]}\x1f{key[1]}"
