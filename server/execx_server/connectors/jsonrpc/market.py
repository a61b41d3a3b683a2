"""Market data over a Deribit-dialect JSON-RPC websocket, for ``Connector.watch_market`` (Deribit and
Pulse): ``quote.{instrument}`` (best bid/ask) and ``trades.{instrument}.raw`` (public trades, ``direction``
= the taker's side), subscribed while someone watches the instrument, in contracts (``parse``)."""

from __future__ import annotations

import logging
from typing import Any

from ...domain.instruments import InstrumentRules
from ..base import Watchers
from ..tracking import PARSE_ERRORS
from . import parse

log = logging.getLogger("execx.connectors.jsonrpc")


class MarketWatch:
    """The JSON-RPC channels of an instrument's market data, and their notifications to its watchers
    (the connector's ``Watchers``; ``VenueConnector.watch_market`` registers them)."""

    def __init__(self, watchers: Watchers, rules: dict[str, InstrumentRules]) -> None:
        self._watchers = watchers
        self._rules = rules

    @staticmethod
    def channels(symbol: str) -> list[str]:
        """Best bid/ask and public trades of ``symbol``."""
        return [f"quote.{symbol}", f"trades.{symbol}.raw"]

    def on_notification(self, channel: str, data: Any) -> None:
        """A ``quote.*`` / ``trades.*`` notification to the instrument's watchers (others are ignored)."""
        head, _, rest = channel.partition(".")
        symbol = rest.split(".")[0]
        if symbol not in self._watchers or head not in ("quote", "trades"):
            return
        rules = self._rules.get(symbol)
        try:
            if head == "quote" and isinstance(data, dict):
                ticker = parse.parse_quote(data, rules)
                if ticker is not None:
                    self._watchers.ticker(ticker)
            elif head == "trades":
                for row in data if isinstance(data, list) else [data]:
                    self._watchers.trade(parse.parse_public_trade(row, rules))
        except PARSE_ERRORS as exc:
            log.warning("jsonrpc.market.parse_error", extra={"channel": channel, "error": repr(exc)})
