"""Pulse front-end (seed 004): a Deribit-style JSON-RPC gateway over HTTP (``/api/v2/{method}``) and
WebSocket (``/ws/api/v2``), on its own engine market ``pulse`` with USD-settled instruments.

It reuses the Deribit order semantics (``deribit.trading``) and methods/channels (``deribit.rpc``);
what Pulse's document does differently is ``jsonrpc.PULSE`` (bare HTTP results, connection.Message
errors and acknowledgements, ``private/get_instruments``, cancel-all returning the cancelled orders,
one trade per ``user.trades`` notification, get_cancel_on_disconnect as a boolean).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.engine import Market
from ...core.types import PostOnlyCross
from ..common import VenueFrontend
from .instruments import PULSE_INSTRUMENTS

if TYPE_CHECKING:
    from ...app import Simulator


def frontends(sim: Simulator) -> list[VenueFrontend]:
    from .frontend import PulseFrontend

    market = sim.add_market(
        Market(
            sim.exchange,
            "pulse",
            PULSE_INSTRUMENTS,
            post_only_cross=PostOnlyCross.REJECT,
            first_order_id=52_000_000_000,
        )
    )
    return [PulseFrontend(sim, market)]
