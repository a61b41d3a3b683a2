"""Market data over a Deribit-dialect JSON-RPC websocket, for ``Connector.watch_market`` (Deribit and
Pulse): ``quote.{instrument}`` (best bid/ask) and ``trades.{instrument}.raw`` (public trades, ``direction``
= the taker's side), subscribed while someone watches the instrument, in contracts (``parse``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...domain.instruments import InstrumentRules
from ...domain.venue import BookTicker, Trade
from ..base import Watchers
from . import parse
from .client import JsonRpcConnection

log = logging.getLogger("execx.connectors.jsonrpc")


class MarketWatch:
    def __init__(self, rpc: Callable[[], JsonRpcConnection], rules: dict[str, InstrumentRules]) -> None:
        self._rpc = rpc  # the connection (created at start)
        self._rules = rules
        self._watchers = Watchers()

    def watch(
        self, symbol: str, on_ticker: Callable[[BookTicker], None], on_trade: Callable[[Trade], None]
    ) -> Callable[[], None]:
        """Subscribe (first watcher of ``symbol``) and return the unsubscribe function."""
        remove = self._watchers.add(symbol, on_ticker, on_trade)
        channels = [f"quote.{symbol}", f"trades.{symbol}.raw"]
        self._rpc().subscribe(channels)

        def unsubscribe() -> None:
            if remove():
                self._rpc().unsubscribe(channels)

        return unsubscribe

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
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            log.warning("jsonrpc.market.parse_error", extra={"channel": channel, "error": repr(exc)})
