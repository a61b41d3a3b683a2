"""Account views across the running order sessions (seed 003's balances, open orders and positions per
exchange): balances and positions asked of each live session's venue at the time of the call, open
orders from the engine's own order store (every session's orders not final). See ``docs/accounts.md``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..connectors.account import AccountReader, account_reader
from ..connectors.base import Connector
from ..domain.account import AccountPosition, AssetBalance
from ..domain.orders import Order
from ..domain.venue import OutcomeUnknown, VenueError
from .journal import Journal, Record
from .sessions import LIVE, STOPPED, OrderEngine, Session
from .updates import OrderUpdate

T = TypeVar("T")

#: A venue that has not answered an account query in this long fails the call (UNAVAILABLE).
QUERY_TIMEOUT_S = 10.0


def exchange_key(session: Session, sessions: list[Session]) -> str:
    """The map key of a session's views: its exchange upper-cased (``BINANCE-SPOT``, seed 003), or
    ``EXCHANGE/sessionId`` when more than one session of that exchange is listed."""
    key = session.exchange.value.upper()
    if sum(1 for s in sessions if s.exchange is session.exchange) > 1:
        return f"{key}/{session.session_id}"
    return key


Visible = Callable[[str], bool]  # the sessions a view lists (the calling API key's: api/ownership.py)


def _every(session_id: str) -> bool:
    return True


class AccountViews:
    def __init__(self, engine: OrderEngine, reader_of: Callable[[Connector], AccountReader] = account_reader) -> None:
        self.engine = engine
        self.reader_of = reader_of

    def _live(self, sessions: Visible) -> list[tuple[Session, Connector]]:
        return [
            (s, s.connector)
            for s in sorted(self.engine.sessions.values(), key=lambda s: s.session_id)
            if s.state == LIVE and s.connector is not None and sessions(s.session_id)
        ]

    async def _each(self, ask: Callable[[AccountReader], Awaitable[list[T]]], visible: Visible) -> dict[str, list[T]]:
        live = self._live(visible)
        sessions = [s for s, _ in live]

        async def one(session: Session, connector: Connector) -> list[T]:
            try:
                return await asyncio.wait_for(ask(self.reader_of(connector)), QUERY_TIMEOUT_S)
            except TimeoutError:
                raise OutcomeUnknown(f"session {session.session_id!r}: no answer in {QUERY_TIMEOUT_S:g} s") from None
            except VenueError as e:
                e.message = f"session {session.session_id!r}: {e.message}"
                raise

        answers = await asyncio.gather(*(one(s, c) for s, c in live))
        return {exchange_key(s, sessions): rows for s, rows in zip(sessions, answers, strict=True)}

    async def balances(self, sessions: Visible = _every) -> dict[str, list[AssetBalance]]:
        """Each live session's balances at its venue (of the sessions ``sessions`` accepts: the calling
        API key's)."""
        return await self._each(lambda reader: reader.balances(), sessions)

    async def positions(self, sessions: Visible = _every) -> dict[str, list[AccountPosition]]:
        return await self._each(lambda reader: reader.positions(), sessions)

    async def open_orders(self, sessions: Visible = _every) -> dict[str, list[tuple[Order, list[OrderUpdate]]]]:
        """Every order not final of every session not stopped (live, or restored and awaiting its start),
        in the order they were sent, each with its journaled updates (its status history and fills), read on
        a worker thread."""
        listed = (s for s in self.engine.sessions.values() if s.state != STOPPED and sessions(s.session_id))
        shown = sorted(listed, key=lambda s: s.session_id)
        journal = self.engine.journal
        await journal.flush()
        out: dict[str, list[tuple[Order, list[OrderUpdate]]]] = {}
        for s in shown:
            orders = s.store.open_orders()
            ids = [o.cl_order_id for o in orders]
            records = await asyncio.to_thread(_read_orders, journal, s.session_id, ids)
            out[exchange_key(s, shown)] = [
                (o, [r.payload for r in recs if isinstance(r.payload, OrderUpdate)])
                for o, recs in zip(orders, records, strict=True)
            ]
        return out


def _read_orders(journal: Journal, session_id: str, cl_order_ids: list[str]) -> list[list[Record]]:
    return list(journal.orders_records(session_id, cl_order_ids))
