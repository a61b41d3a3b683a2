"""Cancel-on-disconnect bound to the client's streams (issue 14, seed 001 "Cancel on Disconnect").

A session started with ``cancelOnDisconnect`` is guarded: the API layer tells the guard when one of the
session's client streams (``SubscribeUpdates``, ``SubscribePositions``, ``OrderEntry``; the REST gateway's
websockets are gRPC streams underneath) opens and closes. When the last one closes, a timer of the session's
grace period starts; a stream of the session opening again stops it. When it runs out, a ``riskEvent``
``cancelOnDisconnect`` naming the open orders is published (journaled: a client that resubscribes with
``fromSeq`` sees it) and every open order is pulled; the cancels follow as order updates.

Only a disconnection arms the timer: a session nobody has streamed yet is not cancelled. A deliberate stop
of execx (``close``) disarms every timer: the client's streams end because execx stops, not because the
client went away (the venues' own dead-man switches, docs/safety.md, are what protect a crash of execx).
The setting is journaled (the ``algorithms`` table, kind ``cancelOnDisconnect``, keyed by session id): after
an execx restart the session is guarded as before, from its next disconnection on; ``fired_observers``
(metrics) hear of every firing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .risk import pull_open_orders

if TYPE_CHECKING:
    from .sessions import OrderEngine

log = logging.getLogger("execx.engine.disconnect")

DEFAULT_GRACE_MS = 1000
MAX_GRACE_MS = 3_600_000  # an hour: longer is a mistake, not a grace period
JOURNAL_KIND = "cancelOnDisconnect"  # the journal's algorithms table: key = session id, {"graceMs": n}


@dataclass
class _Guarded:
    grace_s: float
    streams: int = 0
    timer: asyncio.Task[None] | None = None


class DisconnectGuard:
    def __init__(self, engine: OrderEngine) -> None:
        self.engine = engine
        self._guarded: dict[str, _Guarded] = {}
        self._closed = False
        # (exchange, cancels sent) each time the grace period runs out: metrics (must not block)
        self.fired_observers: list[Callable[[str, int], None]] = []
        for session_id, _sid, cfg in engine.journal.algorithms(JOURNAL_KIND):
            grace_ms = int(cfg.get("graceMs", 0) or 0)
            self._guarded[session_id] = _Guarded((grace_ms or DEFAULT_GRACE_MS) / 1000)

    def configure(self, session_id: str, enabled: bool, grace_ms: int) -> None:
        """Guard ``session_id`` (or stop guarding it). ``grace_ms`` 0 = ``DEFAULT_GRACE_MS``. Streams already
        open stay counted."""
        current = self._guarded.get(session_id)
        if not enabled:
            if current is not None:
                self._disarm(current)
                del self._guarded[session_id]
                self.engine.journal.drop_algorithm(JOURNAL_KIND, session_id)
            return
        grace_ms = grace_ms or DEFAULT_GRACE_MS
        if current is None:
            self._guarded[session_id] = _Guarded(grace_ms / 1000)
        elif round(current.grace_s * 1000) == grace_ms:
            return  # as journaled already
        else:
            current.grace_s = grace_ms / 1000
        self.engine.journal.save_algorithm(JOURNAL_KIND, session_id, session_id, {"graceMs": grace_ms})

    def grace_ms(self, session_id: str) -> int | None:
        """The session's grace period, or None when it is not guarded."""
        g = self._guarded.get(session_id)
        return None if g is None else round(g.grace_s * 1000)

    def dead_man_s(self, session_id: str) -> float:
        """The venue dead-man timeout a guarded session's connector arms (``ConnectorConfig.dead_man_s``; 0:
        not guarded): a session execx re-opens itself after a restart is protected as its client asked."""
        g = self._guarded.get(session_id)
        return 0.0 if g is None else g.grace_s

    def attach(self, session_id: str) -> None:
        """A client stream of the session opened: a running timer stops."""
        g = self._guarded.get(session_id)
        if g is None:
            return
        g.streams += 1
        self._disarm(g)

    def detach(self, session_id: str) -> None:
        """A client stream of the session closed; the last one starts the grace period."""
        g = self._guarded.get(session_id)
        if g is None or g.streams == 0:
            return
        g.streams -= 1
        if g.streams == 0 and not self._closed:
            self._disarm(g)
            g.timer = self.engine.tasks.spawn(self._expire(session_id, g.grace_s), f"cancel-on-disconnect/{session_id}")

    def close(self) -> None:
        """execx is stopping: no timer fires (see the module docstring)."""
        self._closed = True
        for g in self._guarded.values():
            self._disarm(g)

    @staticmethod
    def _disarm(g: _Guarded) -> None:
        if g.timer is not None and not g.timer.done():
            g.timer.cancel()
        g.timer = None

    async def _expire(self, session_id: str, grace_s: float) -> None:
        await asyncio.sleep(grace_s)  # the grace period itself: a stream coming back cancels this task
        g = self._guarded.get(session_id)
        if g is not None:
            g.timer = None  # from here on the cancels run to the end, whoever connects
        session = self.engine.sessions.get(session_id)
        if session is None:
            return
        ids = [o.cl_order_id for o in session.store.open_orders()]
        log.warning(
            "session.cancel_on_disconnect",
            extra={"session": session_id, "graceMs": round(grace_s * 1000), "openOrders": len(ids)},
        )
        self.engine.risk._publish(session, "cancelOnDisconnect", "session", ids)
        cancelled = await pull_open_orders(self.engine, session, "cancel_on_disconnect")
        for observe in self.fired_observers:
            observe(session.exchange.value, len(cancelled))
