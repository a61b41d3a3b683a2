"""OKX v5 front-end: REST (``/api/v5/...``) and WebSockets (``/ws/v5/private|public|business``) over
market ``okx`` of the matching engine (spot BTC-USDT, ETH-USDT; linear swaps BTC-USDT-SWAP,
ETH-USDT-SWAP; inverse swap BTC-USD-SWAP). The production, AWS (``aws.okx.com`` /
``wsaws.okx.com:8443``) and demo hosts are the same API under other base URLs: pointing any of them
at the simulator's URLs works the same."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.engine import Market
from ...core.types import PostOnlyCross, STPMode
from ..common import VenueFrontend
from .instruments import OKX_INSTRUMENTS

if TYPE_CHECKING:
    from ...app import Simulator


def frontends(sim: Simulator) -> list[VenueFrontend]:
    from .frontend import OkxFrontend

    engine_instruments = tuple(i.engine for i in OKX_INSTRUMENTS if i.engine is not None)
    # OKX accepts a crossing post_only order and cancels it (cancelSource "31"); default STP cancel_maker.
    market = sim.add_market(
        Market(
            sim.exchange,
            "okx",
            engine_instruments,
            post_only_cross=PostOnlyCross.CANCEL,
            default_stp=STPMode.EXPIRE_MAKER,
            first_order_id=680_000_000_000_000_000,
        )
    )
    return [OkxFrontend(sim, market, OKX_INSTRUMENTS)]
