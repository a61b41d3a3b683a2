"""The Pulse venue object: Deribit's JSON-RPC front-end in Pulse's dialect (``jsonrpc.PULSE``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.engine import Market
from ..deribit.frontend import RpcFrontend
from ..jsonrpc import PULSE
from .instruments import OPTION_EXPIRY_MS

if TYPE_CHECKING:
    from ...app import Simulator


class PulseFrontend(RpcFrontend):
    def __init__(self, sim: Simulator, market: Market) -> None:
        super().__init__(sim, market, PULSE, OPTION_EXPIRY_MS)
