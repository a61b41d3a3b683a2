"""The venues of a smart order (seed 003's ``Exchanges``): where each child goes.

A smart order trades one symbol on one or more exchanges, each through a live order session of it.
The first venue is the session the order was added with (``SmartOrder`` itself, a ``Runner``); every
other listed exchange is a ``Venue``: a ``Runner`` of its own (its hub subscription, its orders'
updates, its live orders and cancels) that wakes the smart order on every event.

``route`` picks the venue of the next child: among the venues whose feed is fresh and that can take
the quantity (rounded down to the venue's lot, at least its minimum), the best far touch for the side
(a buy the lowest ask, a sell the highest bid). Ties go to the earlier venue in the list. No fee is
netted: execx's connectors know no venue's fee schedule before a fill.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ..domain.enums import Exchange, Side
from ..domain.instruments import InstrumentRules
from ..engine.sessions import LIVE, OrderEngine
from ..engine.updates import OrderUpdate
from ..marketdata.hub import MarketDataHub, MarketEvent
from ..observability.metrics import Metrics
from .runtime import Runner
from .smart_plan import lot_floor


class Venue(Runner):
    """A further exchange of a smart order: its feed and its children's updates wake the order."""

    algorithm = "smart_order"

    def __init__(
        self,
        engine: OrderEngine,
        hub: MarketDataHub,
        metrics: Metrics,
        session_id: str,
        exchange: Exchange,
        symbol: str,
        rules: InstrumentRules,
        wake: asyncio.Event,
        on_update: Callable[[OrderUpdate], None],
    ) -> None:
        super().__init__(engine, hub, metrics, session_id, exchange, symbol)
        self.rules: InstrumentRules | None = rules
        self._wake = wake
        self._forward = on_update

    def _on_market(self, event: MarketEvent) -> None:
        self._wake.set()

    def _on_update(self, u: OrderUpdate) -> None:
        self._forward(u)


def venue_session(
    engine: OrderEngine, exchange: Exchange, preferred: str, usable: Callable[[str], bool] = lambda _: True
) -> str:
    """The live session of ``exchange`` the smart order routes through: ``preferred`` (the add's
    session) when it trades it, else the earliest-started live one ``usable`` accepts (by session id when
    several; ``usable``: the adding API key's sessions); "" when there is none."""
    live = [
        sid
        for sid, s in engine.sessions.items()
        if s.exchange is exchange and s.state == LIVE and s.connector is not None and usable(sid)
    ]
    if preferred in live:
        return preferred
    return live[0] if live else ""


@dataclass(frozen=True)
class Route:
    venue: Runner
    qty: Decimal
    bid: Decimal
    ask: Decimal


def route(side: Side, venues: Sequence[Runner], qty: Decimal) -> Route | None:
    """The venue for a child of ``qty`` now (see the module's rule), or None when no venue can take it."""
    best: Route | None = None
    for v in venues:
        rules: InstrumentRules | None = getattr(v, "rules", None)
        if rules is None or not v.fresh() or v.sub is None or v.sub.feed.quote is None:
            continue
        q = v.sub.feed.quote
        n = lot_floor(qty, rules.lot)
        if n <= 0 or n < max(rules.min_qty, rules.lot):
            continue
        here = Route(v, n, q.bid, q.ask)
        if best is None or (q.ask < best.ask if side is Side.BUY else q.bid > best.bid):
            best = here
    return best
