"""Deribit front-end: FIX 4.4 order entry (``fix.deribit.com:9881``) and JSON-RPC v2 over HTTP and
WebSocket (``www.deribit.com/api/v2`` and ``/ws/api/v2``), over one matching engine market
``deribit`` (inverse perpetuals and a BTC option, ``instruments``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.engine import Market
from ...core.types import PostOnlyCross
from ..common import VenueFrontend
from .instruments import DERIBIT_INSTRUMENTS

if TYPE_CHECKING:
    from ...app import Simulator


def frontends(sim: Simulator) -> list[VenueFrontend]:
    from .frontend import DeribitFrontend

    # Post-only crossing: Deribit reprices (or, with reject_post_only / ExecInst 6A, refuses with
    # 11054) before the order reaches the book; ``trading`` does that, so the engine never sees a
    # crossing post-only order and REJECT is only its safety net.
    market = sim.add_market(
        Market(
            sim.exchange,
            "deribit",
            DERIBIT_INSTRUMENTS,
            post_only_cross=PostOnlyCross.REJECT,
            first_order_id=31_000_000_000,
        )
    )
    return [DeribitFrontend(sim, market)]
