"""Binance front-ends: spot (api / ws-api / stream hosts), USD-M futures (fapi / ws-fapi / fstream)
and COIN-M futures (dapi / ws-dapi / dstream), over one matching engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.engine import Market
from ...core.instruments import BINANCE_COINM, BINANCE_SPOT, BINANCE_USDM
from ...core.types import PostOnlyCross, STPMode
from ..common import VenueFrontend

if TYPE_CHECKING:
    from ...app import Simulator


def frontends(sim: Simulator) -> list[VenueFrontend]:
    from .futures import FuturesFrontend
    from .spot import SpotFrontend

    spot = sim.add_market(
        Market(
            sim.exchange,
            "binance-spot",
            BINANCE_SPOT,
            post_only_cross=PostOnlyCross.REJECT,
            default_stp=STPMode.EXPIRE_MAKER,
            first_order_id=10_000_000,
        )
    )
    usdm = sim.add_market(
        Market(
            sim.exchange,
            "binance-usdm-future",
            BINANCE_USDM,
            post_only_cross=PostOnlyCross.REJECT,
            default_stp=STPMode.EXPIRE_MAKER,
            first_order_id=40_000_000_000,
        )
    )
    coinm = sim.add_market(
        Market(
            sim.exchange,
            "binance-coinm-future",
            BINANCE_COINM,
            post_only_cross=PostOnlyCross.REJECT,
            default_stp=STPMode.EXPIRE_MAKER,
            first_order_id=70_000_000_000,
        )
    )
    return [
        SpotFrontend(sim, spot),
        FuturesFrontend(sim, usdm, flavor="usdm"),
        FuturesFrontend(sim, coinm, flavor="coinm"),
    ]
