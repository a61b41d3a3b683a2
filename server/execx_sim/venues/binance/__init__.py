"""Binance front-ends: spot (api / ws-api / stream hosts), USD-M futures (fapi / ws-fapi / fstream)
and COIN-M futures (dapi / ws-dapi / dstream), over one matching engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.engine import Market
from ...core.instruments import Instrument
from ...core.types import PostOnlyCross, STPMode
from ..common import VenueFrontend
from .instruments import BINANCE_COINM, BINANCE_SPOT, BINANCE_USDM

if TYPE_CHECKING:
    from ...app import Simulator


def frontends(sim: Simulator) -> list[VenueFrontend]:
    from .futures_frontend import FuturesFrontend
    from .spot_frontend import SpotFrontend

    def market(name: str, instruments: tuple[Instrument, ...], first_order_id: int) -> Market:
        # Binance refuses a crossing post-only order outright (LIMIT_MAKER -2010, GTX -5022).
        return sim.add_market(
            Market(
                sim.exchange,
                name,
                instruments,
                post_only_cross=PostOnlyCross.REJECT,
                default_stp=STPMode.EXPIRE_MAKER,
                first_order_id=first_order_id,
            )
        )

    spot = market("binance-spot", BINANCE_SPOT, 10_000_000)
    usdm = market("binance-usdm-future", BINANCE_USDM, 40_000_000_000)
    coinm = market("binance-coinm-future", BINANCE_COINM, 70_000_000_000)
    return [
        SpotFrontend(sim, spot),
        FuturesFrontend(sim, usdm, flavor="usdm"),
        FuturesFrontend(sim, coinm, flavor="coinm"),
    ]
