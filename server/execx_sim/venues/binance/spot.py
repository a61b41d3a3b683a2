"""Binance spot front-end: REST (api.binance.com), WebSocket API (ws-api) and market streams."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ...core.engine import Market
from ..common import Endpoint, WsRegistry

if TYPE_CHECKING:
    from ...app import Simulator


class SpotFrontend:
    def __init__(self, sim: Simulator, market: Market) -> None:
        self.venue = market.name
        self.sim = sim
        self.market = market
        self.sockets = WsRegistry()

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("rest", web.Application()), Endpoint("wsApi", web.Application(), "ws", "/ws-api/v3"),
                Endpoint("stream", web.Application(), "ws")]

    async def run(self) -> None:
        return None
