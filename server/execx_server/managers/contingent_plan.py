"""Contingent orders' trigger rule, pure: when a stop, take-profit or trailing stop fires.

A trigger watches one reference price (``last``: every public trade's price; ``mark``: the mid of the
best bid/ask). "Reaches the level" means *at or beyond it* (a print that gapped through fires it):

- **stop**: a buy fires when the reference is at or above ``level``, a sell at or below it;
- **take-profit**: a buy fires at or below ``level``, a sell at or above it;
- **trailing stop**: a stop whose level follows the best reference seen since it was armed (the
  highest for a sell, the lowest for a buy) at ``amount`` in price or ``percent`` of that best price.
  With a ``level`` given it starts from that level (it never loosens below it); without one it starts
  from the first reference price it sees. Its level only ever tightens.

A level on the far side of the market (a sell stop above the market) fires on the next reference price,
as a venue's stop would be refused or triggered at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from ..domain.enums import Side
from ..domain.venue import Trade

HUNDRED = Decimal(100)


class Kind(StrEnum):
    STOP = "stop"
    TAKEPROFIT = "takeprofit"
    TRAILINGSTOP = "trailingstop"


class Reference(StrEnum):
    LAST = "last"
    MARK = "mark"
    INDEX = "index"  # refused: execx has no index feed


@dataclass(frozen=True, slots=True)
class TriggerState:
    """What the rule needs: the kind, the side of the order it sends, the level (None: a trailing stop
    that has seen no price yet), a trailing stop's distance and the best price it has seen."""

    kind: Kind
    side: Side
    level: Decimal | None
    amount: Decimal | None = None
    percent: Decimal | None = None
    best: Decimal | None = None


def _rises(kind: Kind, side: Side) -> bool:
    """True when the trigger fires on a price at or above its level."""
    if kind is Kind.TAKEPROFIT:
        return side is Side.SELL
    return side is Side.BUY  # stop and trailing stop


def trail_level(state: TriggerState, best: Decimal) -> Decimal:
    """A trailing stop's level for the best price ``best``."""
    if state.amount is not None:
        distance = state.amount
    else:  # validated: a trailing stop has exactly one of amount and percent
        distance = best * (state.percent or Decimal(0)) / HUNDRED
    return best + distance if state.side is Side.BUY else best - distance


def observe(state: TriggerState, price: Decimal) -> tuple[bool, TriggerState]:
    """The trigger after a reference price ``price``: (fires, new state). A trailing stop first follows the
    price (its level tightens), then the price is checked against the level."""
    if state.kind is Kind.TRAILINGSTOP:
        better = state.best is None or (price < state.best if state.side is Side.BUY else price > state.best)
        if better:
            level = trail_level(state, price)
            if state.level is not None:  # only ever tighten
                level = min(level, state.level) if state.side is Side.BUY else max(level, state.level)
            if state.best is None and state.level is None:
                return False, replace(state, best=price, level=level)  # the first price only arms it
            state = replace(state, best=price, level=level)
    if state.level is None:
        return False, state
    if _rises(state.kind, state.side):
        return price >= state.level, state
    return price <= state.level, state


def replay(state: TriggerState, trades: Sequence[Trade], since_ms: int) -> tuple[Trade | None, TriggerState]:
    """The trigger over a venue's trade history (oldest first), from ``since_ms`` on (earlier trades skipped):
    the first trade that fires it (None: none) and the state after the trades read (a trailing stop's best
    price and level recomputed over them, up to the firing trade)."""
    for t in trades:
        if t.exch_time_ns // 1_000_000 < since_ms:
            continue
        fires, state = observe(state, t.price)
        if fires:
            return t, state
    return None, state
