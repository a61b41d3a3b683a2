"""The trigger manager's rule, pure: which armed triggers a public trade fires.

Direction (the seed's field reference, followed here; its overview says the opposite and is not
followed — see docs/algorithms.md): **up** triggers are activated by trades whose aggressor is a
buyer, **down** triggers by trades whose aggressor is a seller.

"At the trigger price" means *at or beyond it in the trigger's direction*: an up trigger at 1020 fires
on a buyer-aggressor trade at 1020 or above (a print at 1025 that gapped through 1020 fires it), a down
trigger at 1020 on a seller-aggressor trade at 1020 or below. A trade of the other aggressor never
fires it, whatever its price. Like a stop order, a trigger set on the far side of the market fires on
the next qualifying trade.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ..domain.enums import Side


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Level:
    """An armed trigger as the rule sees it."""

    id: str
    price: Decimal
    direction: Direction


def fires(level: Level, price: Decimal, aggressor: Side) -> bool:
    if level.direction is Direction.UP:
        return aggressor is Side.BUY and price >= level.price
    return aggressor is Side.SELL and price <= level.price


def due(levels: Iterable[Level], price: Decimal, aggressor: Side) -> list[str]:
    """The ids of the armed triggers a trade at ``price`` with ``aggressor`` fires, in the given order."""
    return [level.id for level in levels if fires(level, price, aggressor)]
