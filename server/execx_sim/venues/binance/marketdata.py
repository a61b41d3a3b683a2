"""Binance market streams pushed once a second, for spot and futures alike: ``<symbol>@ticker``
(``24hrTicker``), ``<symbol>@miniTicker`` (``24hrMiniTicker``), ``!ticker@arr`` /
``!miniTicker@arr`` (every symbol, spot's legacy all-market streams) and ``<symbol>@kline_<interval>``
(``kline``; every interval but spot's ``1s``). Figures come from the simulator's own trades
(``core.marketdata``): a rolling 24 h window and candles with history from start-up.

Field lists follow binance-spot-api-docs ``web-socket-streams.md`` and the USDⓈ-M / COIN-M
"Individual Symbol Ticker", "Mini Ticker" and "Kline/Candlestick" stream pages: spot's ticker adds
``x``, ``Q``... best bid/ask ``b B a A``; COIN-M adds ``ps`` (pair) and its volumes ``q`` are in the
base asset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...core import marketdata as md
from ...core.engine import Market
from .errors import BinanceError

if TYPE_CHECKING:
    from .futures_frontend import FuturesFrontend
    from .rest_common import Call

KLINE_INTERVALS = {
    **{f"{m}m": m * md.MINUTE_MS for m in (1, 3, 5, 15, 30)},
    **{f"{h}h": h * md.HOUR_MS for h in (1, 2, 4, 6, 8, 12)},
    "1d": md.DAY_MS,
    "3d": 3 * md.DAY_MS,
    "1w": 7 * md.DAY_MS,
    "1M": md.MONTH,
}
_PATTERN = r"^(?:([a-z0-9_]+)@(ticker|miniTicker|kline_(\w+))|!(ticker|miniTicker)@arr)$"
SPOT_STREAM = re.compile(_PATTERN)  # spot stream names are case-sensitive (symbol lowercase)
FUTURES_STREAM = re.compile(_PATTERN, re.IGNORECASE)  # futures match names case-insensitively

Fmt = Callable[[Decimal], str]


class PeriodicStreams:
    """Builds the payload of one of these streams for one market (spot or futures)."""

    def __init__(
        self, data: md.MarketData, market: Market, kind: str, fmt_price: Fmt | None = None, fmt_qty: Fmt | None = None
    ) -> None:
        """``fmt_price`` / ``fmt_qty``: how numbers are printed (default: the instrument's decimals)."""
        self.data = data
        self.market = market
        self.fmt_price = fmt_price
        self.fmt_qty = fmt_qty
        self.kind = kind  # "spot" | "usdm" | "coinm"
        self._symbols = {s.lower(): s for s in market.instruments}
        self._re = SPOT_STREAM if kind == "spot" else FUTURES_STREAM

    def valid(self, name: str) -> bool:
        m = self._re.match(name)
        if m is None:
            return False
        if m.group(4):
            return True
        interval = m.group(3)
        symbol = m.group(1) if self.kind == "spot" else m.group(1).lower()
        return symbol in self._symbols and (interval is None or self._interval(interval) is not None)

    @staticmethod
    def _interval(text: str) -> int | None:
        # Futures stream names arrive lowercased: "1M" (month) and "1m" collide; Binance's month is "1M".
        return KLINE_INTERVALS.get(text)

    def payload(self, name: str, now: int) -> Any:
        """The payload to push on ``name`` now, or None when ``name`` is not one of these streams."""
        m = self._re.match(name)
        if m is None:
            return None
        if m.group(4):
            mini = m.group(4).lower() == "miniticker"
            return [self.ticker(s, now, mini) for s in self.market.instruments]
        symbol = self._symbols.get(m.group(1).lower())
        if symbol is None:
            return None
        if m.group(3):
            width = self._interval(m.group(3))
            return None if width is None else self.kline(symbol, m.group(3), width, now)
        return self.ticker(symbol, now, m.group(2).lower() == "miniticker")

    def _fmt(self, symbol: str) -> tuple[Fmt, Fmt]:
        inst = self.market.instruments[symbol]
        return self.fmt_price or inst.fmt_price, self.fmt_qty or inst.fmt_qty

    def _quote(self, symbol: str, quote: Decimal, volume: Decimal) -> Decimal:
        if self.kind != "coinm":
            return quote
        # COIN-M: volume in contracts, "quote" volume in the base asset (contracts x size / price)
        inst = self.market.instruments[symbol]
        return volume * inst.contract_size * volume / quote if quote else Decimal(0)

    def ticker(self, symbol: str, now: int, mini: bool) -> dict[str, Any]:
        market = self.market
        fp, fq = self._fmt(symbol)
        stats = self.data.stats_24h(market.name, symbol)
        last = market.last_price.get(symbol, market.mark_price(symbol))
        o = stats.open if stats.open is not None else last
        quote = f"{self._quote(symbol, stats.quote, stats.volume).quantize(Decimal('1e-8')):f}"
        out: dict[str, Any] = {"e": "24hrMiniTicker" if mini else "24hrTicker", "E": now, "s": symbol}
        if self.kind == "coinm":
            out["ps"] = market.instruments[symbol].pair
        high = stats.high if stats.high is not None else last
        low = stats.low if stats.low is not None else last
        if mini:
            out.update({"c": fp(last), "o": fp(o), "h": fp(high), "l": fp(low), "v": fq(stats.volume), "q": quote})
            return out
        trades = market.public_trades[symbol]
        first_id = trades[0].trade_id if trades else -1
        last_id = trades[-1].trade_id if trades else -1
        out.update({"p": fp(last - o), "P": f"{stats.change_pct.quantize(Decimal('0.001')):f}"})
        out["w"] = fp(stats.vwap if stats.vwap else last)
        if self.kind == "spot":
            out["x"] = fp(o)
        out.update({"c": fp(last), "Q": fq(trades[-1].qty if trades else Decimal(0))})
        if self.kind == "spot":
            bid, bid_qty, ask, ask_qty = market.books[symbol].top()
            zero = Decimal(0)
            out.update({"b": fp(bid or zero), "B": fq(bid_qty), "a": fp(ask or zero), "A": fq(ask_qty)})
        out.update({"o": fp(o), "h": fp(high), "l": fp(low), "v": fq(stats.volume), "q": quote})
        out.update({"O": stats.open_ms, "C": stats.close_ms, "F": first_id, "L": last_id, "n": stats.count})
        return out

    def kline(self, symbol: str, interval: str, width: int, now: int) -> dict[str, Any] | None:
        bars = self.data.candles.bars(self.market.name, symbol, width, md.bucket_start(now, width), None, 1)
        if not bars:
            return None  # no trade in the current interval yet
        b = bars[0]
        close = (md.bucket_start(b.open_ms + 32 * md.DAY_MS, width) if width == md.MONTH else b.open_ms + width) - 1
        fp, fq = self._fmt(symbol)
        k = {
            "t": b.open_ms,
            "T": close,
            "s": symbol,
            "i": interval,
            "f": -1,
            "L": -1,
            "o": fp(b.open),
            "c": fp(b.close),
            "h": fp(b.high),
            "l": fp(b.low),
            "v": fq(b.volume),
            "n": b.count,
            "x": now > close,
            "q": f"{self._quote(symbol, b.quote, b.volume).quantize(Decimal('1e-8')):f}",
            "V": fq(b.buy_volume),
            "Q": f"{self._quote(symbol, b.buy_quote, b.buy_volume).quantize(Decimal('1e-8')):f}",
            "B": "0",
        }
        out: dict[str, Any] = {"e": "kline", "E": now, "s": symbol}
        if self.kind == "coinm":
            out["ps"] = self.market.instruments[symbol].pair
        out["k"] = k
        return out


def register_futures_rest(fe: FuturesFrontend) -> None:
    """``GET <p>/v1/fundingRate`` (funding history since start-up) and ``GET <p>/v1/openInterest``
    (every account's long contracts) on a futures front-end."""
    route, p, market = fe.http.route, fe.prefix, fe.market

    @route("GET", f"{p}/v1/fundingRate", 1)
    async def funding_rate(call: Call) -> Any:
        symbol = fe.symbol(call.params, required=False)
        limit = call.params.int("limit", default=100) or 100
        if not 1 <= limit <= 1000:
            raise BinanceError(-1130, "Invalid data sent for a parameter: 'limit'.")
        start, end = call.params.int("startTime"), call.params.int("endTime") or fe.now()
        times = md.funding_history(fe.sim.marketdata.started_ms, end, 10_000)
        times = [t for t in times if start is None or t >= start]
        times = times[:limit] if start is not None else times[-limit:]
        rows = []
        for t in times:
            for s in market.instruments:
                if not symbol or s == symbol:
                    rate = f"{md.FUNDING_RATE:.8f}"
                    mark = f"{market.mark_price(s):.8f}"
                    rows.append({"symbol": s, "fundingTime": t, "fundingRate": rate, "markPrice": mark})
        return rows

    @route("GET", f"{p}/v1/openInterest", 1)
    async def open_interest(call: Call) -> Any:
        symbol = fe.symbol(call.params)
        inst = market.instruments[symbol]
        qty = fe.sim.marketdata.open_interest(market.name, symbol)
        out: dict[str, Any] = {"symbol": symbol}
        if fe.coinm:
            out.update(pair=inst.pair, openInterest=inst.fmt_qty(qty), contractType="PERPETUAL")
        else:
            out["openInterest"] = inst.fmt_qty(qty)
        out["time"] = fe.now()
        return out
