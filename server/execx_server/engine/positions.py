"""Positions of one session, per symbol, from its fills; derivatives take the venue's as the truth at
start and after a reconnect. Every change is published on the session's bus (kind ``position``)."""

from __future__ import annotations

from decimal import Decimal

from ..connectors.base import Connector
from ..domain.enums import Side
from .bus import SessionBus
from .journal import Journal
from .updates import POSITION, PositionUpdate


class Positions:
    def __init__(self, session_id: str, bus: SessionBus) -> None:
        self.session_id = session_id
        self.bus = bus
        self.qty: dict[str, Decimal] = {}

    def restore(self, journal: Journal) -> None:
        last = journal.last_record(self.session_id, POSITION)
        if last is not None and isinstance(last.payload, PositionUpdate):
            self.qty = dict(last.payload.positions)

    def get(self, symbol: str) -> Decimal:
        return self.qty.get(symbol, Decimal(0))

    def fill(self, symbol: str, side: Side, qty: Decimal) -> None:
        self.qty[symbol] = self.get(symbol) + (qty if side is Side.BUY else -qty)
        self.publish()

    def publish(self) -> None:
        self.bus.publish(POSITION, PositionUpdate(self.session_id, dict(self.qty)))

    async def sync(self, connector: Connector) -> None:
        """Derivatives: the venue's positions are the truth (spot connectors report none)."""
        changed = False
        for p in await connector.positions():
            if self.qty.get(p.symbol) != p.qty:
                self.qty[p.symbol] = p.qty
                changed = True
        if changed:
            self.publish()
