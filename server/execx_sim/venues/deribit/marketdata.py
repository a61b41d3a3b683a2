"""Deribit public market data beyond ``rpc.py``'s ticker, book and trades: candles
(``public/get_tradingview_chart_data``), the book summaries that list a currency's whole option chain
(``public/get_book_summary_by_currency``, ``..._by_instrument``), funding
(``public/get_funding_rate_history``, ``public/get_funding_rate_value``) and the 24 h ``stats``,
open interest and funding of ``public/ticker`` and the ``ticker`` channel.

Figures come from the simulator's own trades (``core.marketdata``). Amounts follow Deribit: USD for
inverse contracts, the base currency for linear ones; a candle's ``volume`` is in the base currency
and its ``cost`` in the quote (USD for inverse: the contracts' face value). Implied volatility and
greeks of options are not modelled (``0``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...core import marketdata as md
from ...core.instruments import Instrument, Kind
from ...core.types import ZERO
from ..jsonrpc import Conn, Params, invalid_params, num
from .rpc import DeribitRpc

RESOLUTIONS = {
    **{str(m): m * md.MINUTE_MS for m in (1, 3, 5, 10, 15, 30, 60, 120, 180, 360, 720)},
    "1D": md.DAY_MS,
}
MAX_FUNDING_ROWS = 744  # hourly records of 31 days


class DeribitMarketData:
    def __init__(self, rpc: DeribitRpc, data: md.MarketData) -> None:
        self.rpc = rpc
        self.market = rpc.market
        self.data = data
        m = rpc.server.method
        m("public/get_tradingview_chart_data", self._chart)
        m("public/get_book_summary_by_currency", self._summary_by_currency)
        m("public/get_book_summary_by_instrument", self._summary_by_instrument)
        m("public/get_funding_rate_history", self._funding_history)
        m("public/get_funding_rate_value", self._funding_value)
        rpc.ticker_extra = self.ticker_extra

    # ------------------------------------------------------------------ figures

    def _base_volume(self, inst: Instrument, volume: Decimal, quote: Decimal) -> tuple[Decimal, Decimal]:
        """(volume in base currency, cost in quote) of ``volume`` engine units traded for ``quote``."""
        if inst.kind is Kind.INVERSE:
            usd = volume * inst.contract_size
            return (usd * volume / quote if quote else ZERO), usd
        return volume, quote

    def open_interest(self, inst: Instrument) -> Decimal:
        return self.rpc.amount(inst, self.data.open_interest(self.market.name, inst.symbol))

    def _perpetual(self, inst: Instrument) -> bool:
        return inst.kind is not Kind.OPTION and inst.symbol.endswith("PERPETUAL")

    def ticker_extra(self, inst: Instrument) -> dict[str, Any]:
        stats = self.data.stats_24h(self.market.name, inst.symbol)
        base, usd = self._base_volume(inst, stats.volume, stats.quote)
        out: dict[str, Any] = {
            "open_interest": num(self.open_interest(inst)),
            "stats": {
                "volume": num(base.quantize(Decimal("1e-8"))),
                "volume_usd": num(usd.quantize(Decimal("0.01"))),
                "price_change": num(stats.change_pct.quantize(Decimal("0.0001"))),
                "low": num(stats.low) if stats.low is not None else None,
                "high": num(stats.high) if stats.high is not None else None,
            },
        }
        if self._perpetual(inst):
            out.update(current_funding=num(md.FUNDING_RATE), funding_8h=num(md.FUNDING_RATE))
        return out

    def summary(self, inst: Instrument) -> dict[str, Any]:
        market = self.market
        bid, _, ask, _ = market.books[inst.symbol].top()
        mark = market.mark_price(inst.symbol)
        stats = self.data.stats_24h(market.name, inst.symbol)
        base, usd = self._base_volume(inst, stats.volume, stats.quote)
        last = market.last_price.get(inst.symbol)
        row: dict[str, Any] = {
            "instrument_name": inst.symbol,
            "base_currency": inst.base,
            "quote_currency": inst.quote,
            "bid_price": num(bid) if bid is not None else None,
            "ask_price": num(ask) if ask is not None else None,
            "mid_price": num((bid + ask) / 2) if bid is not None and ask is not None else None,
            "mark_price": num(mark),
            "last": num(last) if last is not None else None,
            "high": num(stats.high) if stats.high is not None else None,
            "low": num(stats.low) if stats.low is not None else None,
            "price_change": num(stats.change_pct.quantize(Decimal("0.0001"))) if stats.open else None,
            "volume": num(base.quantize(Decimal("1e-8"))),
            "volume_usd": num(usd.quantize(Decimal("0.01"))),
            "volume_notional": num(usd.quantize(Decimal("0.01"))),
            "open_interest": num(self.open_interest(inst)),
            "estimated_delivery_price": num(mark),
            "creation_timestamp": self.market.exchange.now_ms(),
        }
        if inst.kind is Kind.OPTION:
            row.update(underlying_price=num(mark), underlying_index="index_price", interest_rate=0, mark_iv=0)
        elif self._perpetual(inst):
            row.update(current_funding=num(md.FUNDING_RATE), funding_8h=num(md.FUNDING_RATE))
        return row

    # ------------------------------------------------------------------ methods

    def _chart(self, conn: Conn, account: Any, p: Params) -> Any:
        inst = self.rpc.inst(p.req_str("instrument_name"))
        start = p.integer("start_timestamp", required=True)
        end = p.integer("end_timestamp", required=True)
        resolution = p.req_str("resolution")
        width = RESOLUTIONS.get(resolution)
        if width is None:
            raise invalid_params("resolution", "must be one of " + ", ".join(RESOLUTIONS))
        assert start is not None and end is not None
        bars = self.data.candles.bars(self.market.name, inst.symbol, width, start, end, 5000)
        out: dict[str, Any] = {k: [] for k in ("ticks", "open", "high", "low", "close", "volume", "cost")}
        for b in bars:
            base, cost = self._base_volume(inst, b.volume, b.quote)
            out["ticks"].append(b.open_ms)
            for key, value in (("open", b.open), ("high", b.high), ("low", b.low), ("close", b.close)):
                out[key].append(num(value))
            out["volume"].append(num(base.quantize(Decimal("1e-8"))))
            out["cost"].append(num(cost.quantize(Decimal("1e-8"))))
        out["status"] = "ok" if bars else "no_data"
        return out

    def _summary_by_currency(self, conn: Conn, account: Any, p: Params) -> Any:
        currency = p.req_str("currency")
        if currency not in self.rpc.currencies():
            raise invalid_params("currency", "unknown currency")
        kind = p.text("kind")
        return [
            self.summary(i)
            for i in self.market.instruments.values()
            if i.base == currency and (kind is None or self._kind(i) == kind)
        ]

    @staticmethod
    def _kind(inst: Instrument) -> str:
        return "option" if inst.kind is Kind.OPTION else "future"

    def _summary_by_instrument(self, conn: Conn, account: Any, p: Params) -> Any:
        return [self.summary(self.rpc.inst(p.req_str("instrument_name")))]

    def _perp(self, p: Params) -> Instrument:
        inst = self.rpc.inst(p.req_str("instrument_name"))
        if not self._perpetual(inst):
            raise invalid_params("instrument_name", "not a perpetual")
        return inst

    def _funding_history(self, conn: Conn, account: Any, p: Params) -> Any:
        inst = self._perp(p)
        start = p.integer("start_timestamp", required=True)
        end = p.integer("end_timestamp", required=True)
        assert start is not None and end is not None
        first = max(start, self.data.started_ms) // md.HOUR_MS * md.HOUR_MS + md.HOUR_MS
        last = min(end, self.market.exchange.now_ms()) // md.HOUR_MS * md.HOUR_MS
        hours = range(max(first, last - (MAX_FUNDING_ROWS - 1) * md.HOUR_MS), last + 1, md.HOUR_MS)
        index = num(self.market.mark_price(inst.symbol))
        rate_1h = num(md.FUNDING_RATE / 8)
        return [
            {
                "timestamp": t,
                "index_price": index,
                "prev_index_price": index,
                "interest_8h": num(md.FUNDING_RATE),
                "interest_1h": rate_1h,
            }
            for t in hours
        ]

    def _funding_value(self, conn: Conn, account: Any, p: Params) -> Any:
        self._perp(p)
        start = p.integer("start_timestamp", required=True)
        end = p.integer("end_timestamp", required=True)
        assert start is not None and end is not None
        if end < start:
            raise invalid_params("end_timestamp", "must not be before start_timestamp")
        return num(md.FUNDING_RATE * Decimal(end - start) / md.FUNDING_INTERVAL_MS)
