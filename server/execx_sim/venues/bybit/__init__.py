"""Bybit v5 front-ends (spot, linear, inverse, option) over the matching engine: see ``frontend.py``."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from ...core.engine import Market
from ...core.types import PostOnlyCross, STPMode
from ..common import VenueFrontend
from .instruments import CATEGORIES, MARKET_OF, instruments

if TYPE_CHECKING:
    from ...app import Simulator


# First engine order id per category: spot ids look like Bybit's 19-digit ones; derivatives print as UUIDs.
FIRST_IDS = (1_900_000_000_000_000_000, 10_000_000, 20_000_000, 30_000_000)


def frontends(sim: Simulator) -> list[VenueFrontend]:
    from .frontend import BybitVenue, CategoryFrontend

    listed = instruments(dt.datetime.fromtimestamp(sim.exchange.now_ms() / 1000, dt.UTC).date())
    markets = {
        category: sim.add_market(
            Market(
                sim.exchange,
                MARKET_OF[category],
                listed[category],
                # Bybit accepts a crossing PostOnly order and cancels it (EC_PostOnlyWillTakeLiquidity);
                # self-trade prevention is off unless the order asks for it (smpType None).
                post_only_cross=PostOnlyCross.CANCEL,
                default_stp=STPMode.NONE,
                first_order_id=first_id,
            )
        )
        for category, first_id in zip(CATEGORIES, FIRST_IDS, strict=True)
    }
    venue = BybitVenue(sim, markets)
    return [CategoryFrontend(venue, category, primary=category == "spot") for category in CATEGORIES]
