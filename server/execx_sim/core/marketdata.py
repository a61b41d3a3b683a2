"""Venue-neutral public market data built from the simulator's own trades and books: candles at any
interval, rolling 24 h statistics, funding (perpetuals) and order-book diffs for incremental feeds.

Memory is bounded whatever the run time (the simulator runs for weeks): candles are kept in three
tiers, each a ring buffer per (market, symbol): 1-minute bars for ``MINUTE_BARS`` minutes, 1-hour
bars for ``HOUR_BARS`` hours and 1-day bars for ``DAY_BARS`` days, every tier fed by every trade.
An interval is built from the coarsest tier that divides it, so a 5-minute candle reaches back one
day, a 4-hour candle 30 days and a daily or weekly candle a year. History starts at start-up: an
interval without any trade has no candle (venues print flat candles there; clients read both).
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from .engine import Exchange
from .types import ZERO, Event, PublicTrade

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_OFFSET_MS = 4 * DAY_MS  # the epoch was a Thursday: weekly candles open on Monday 00:00 UTC
MINUTE_BARS = 1_440  # one day of 1-minute bars
HOUR_BARS = 720  # 30 days of 1-hour bars
DAY_BARS = 366  # a year of daily bars
TIERS = ((MINUTE_MS, MINUTE_BARS), (HOUR_MS, HOUR_BARS), (DAY_MS, DAY_BARS))
MONTH = -1  # interval marker: calendar months (Binance ``1M``, OKX ``1M``, Bybit ``M``)

# Funding: every perpetual charges a constant rate every 8 hours (00:00, 08:00, 16:00 UTC).
FUNDING_RATE = Decimal("0.0001")
FUNDING_INTERVAL_MS = 8 * HOUR_MS


@dataclass(slots=True)
class Bar:
    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base quantity (contracts for contract venues: the venue's own qty unit)
    quote: Decimal  # sum(price * qty)
    count: int
    buy_volume: Decimal  # taker-buy base quantity
    buy_quote: Decimal

    def add(self, price: Decimal, qty: Decimal, buy: bool) -> None:
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.close = price
        self.volume += qty
        self.quote += price * qty
        self.count += 1
        if buy:
            self.buy_volume += qty
            self.buy_quote += price * qty

    def merge(self, other: Bar) -> None:
        self.high = max(self.high, other.high)
        self.low = min(self.low, other.low)
        self.close = other.close
        self.volume += other.volume
        self.quote += other.quote
        self.count += other.count
        self.buy_volume += other.buy_volume
        self.buy_quote += other.buy_quote

    def copy(self, open_ms: int) -> Bar:
        return Bar(
            open_ms,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.quote,
            self.count,
            self.buy_volume,
            self.buy_quote,
        )


@dataclass(frozen=True, slots=True)
class Stats24h:
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    last: Decimal | None
    volume: Decimal
    quote: Decimal
    count: int
    open_ms: int
    close_ms: int

    @property
    def change(self) -> Decimal:
        return self.last - self.open if self.last is not None and self.open is not None else ZERO

    @property
    def change_pct(self) -> Decimal:
        return (self.change / self.open * 100) if self.open else ZERO

    @property
    def vwap(self) -> Decimal:
        return self.quote / self.volume if self.volume else ZERO


def month_start(ms: int) -> int:
    d = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return int(dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC).timestamp() * 1000)


def bucket_start(ms: int, interval_ms: int, offset_ms: int = 0) -> int:
    """The open time of the candle of ``interval_ms`` containing ``ms``: aligned on UTC midnight, shifted
    by ``offset_ms`` (OKX's Hong Kong-time bars: -8 h); weeks open on Monday."""
    if interval_ms == MONTH:
        return month_start(ms + offset_ms) - offset_ms
    if interval_ms % (7 * DAY_MS) == 0:
        offset_ms += WEEK_OFFSET_MS
    return (ms - offset_ms) // interval_ms * interval_ms + offset_ms


class Candles:
    """The tiered candle store of every (market, symbol), fed by the exchange's public trades."""

    def __init__(self) -> None:
        self._tiers: dict[tuple[str, str], tuple[deque[Bar], ...]] = {}

    def add(self, trade: PublicTrade) -> None:
        tiers = self._tiers.get((trade.market, trade.symbol))
        if tiers is None:
            tiers = self._tiers[(trade.market, trade.symbol)] = tuple(deque(maxlen=n) for _, n in TIERS)
        buy = trade.taker_side.value == "BUY"
        for (width, _), bars in zip(TIERS, tiers, strict=True):
            start = trade.time_ms // width * width
            if bars and bars[-1].open_ms == start:
                bars[-1].add(trade.price, trade.qty, buy)
            elif not bars or bars[-1].open_ms < start:
                p = trade.price
                bars.append(Bar(start, p, p, p, p, ZERO, ZERO, 0, ZERO, ZERO))
                bars[-1].add(p, trade.qty, buy)
            # a trade older than the newest bar (clock step back) is not re-bucketed

    def size(self) -> int:
        return sum(len(b) for tiers in self._tiers.values() for b in tiers)

    def _tier(self, market: str, symbol: str, interval_ms: int, offset_ms: int = 0) -> deque[Bar]:
        tiers = self._tiers.get((market, symbol))
        if tiers is None:
            return deque()
        chosen = tiers[0]
        for (width, _), bars in zip(TIERS, tiers, strict=True):
            if (interval_ms == MONTH or interval_ms % width == 0) and offset_ms % width == 0:
                chosen = bars
        return chosen

    def bars(
        self,
        market: str,
        symbol: str,
        interval_ms: int,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
        offset_ms: int = 0,
    ) -> list[Bar]:
        """Candles of ``interval_ms`` (or ``MONTH``) opening in [start_ms, end_ms], oldest first; the
        newest ``limit`` of them unless only ``start_ms`` is given (then the oldest ``limit``)."""
        out: list[Bar] = []
        for bar in self._tier(market, symbol, interval_ms, offset_ms):
            start = bucket_start(bar.open_ms, interval_ms, offset_ms)
            if start_ms is not None and start < bucket_start(start_ms, interval_ms, offset_ms):
                continue
            if end_ms is not None and start > end_ms:
                break
            if out and out[-1].open_ms == start:
                out[-1].merge(bar)
            else:
                out.append(bar.copy(start))
        if start_ms is not None and end_ms is None:
            return out[:limit]
        return out[-limit:] if limit > 0 else []

    def stats_24h(self, market: str, symbol: str, now_ms: int) -> Stats24h:
        since = now_ms - DAY_MS
        o = h = lo = last = None
        volume = quote = ZERO
        count = 0
        for bar in self._tier(market, symbol, MINUTE_MS):
            if bar.open_ms + MINUTE_MS <= since:
                continue
            if o is None:
                o, h, lo = bar.open, bar.high, bar.low
            else:
                assert h is not None and lo is not None
                h, lo = max(h, bar.high), min(lo, bar.low)
            last = bar.close
            volume += bar.volume
            quote += bar.quote
            count += bar.count
        return Stats24h(o, h, lo, last, volume, quote, count, since, now_ms)


def next_funding_ms(now_ms: int) -> int:
    return (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


def funding_history(start_up_ms: int, now_ms: int, limit: int = 100) -> list[int]:
    """The funding times (ms) passed since start-up, oldest first, the newest ``limit`` of them."""
    first = (start_up_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
    last = now_ms // FUNDING_INTERVAL_MS * FUNDING_INTERVAL_MS
    n = max(0, (last - first) // FUNDING_INTERVAL_MS + 1)
    return [last - FUNDING_INTERVAL_MS * i for i in range(min(n, limit))][::-1]


Level = tuple[Decimal, Decimal]


def diff_levels(before: Iterable[Level], after: Iterable[Level]) -> list[Level]:
    """Changed levels from ``before`` to ``after``: new or resized levels with their size, removed
    levels with size 0 (the convention of every venue's incremental book feed)."""
    old, new = dict(before), dict(after)
    changes = [(px, qty) for px, qty in new.items() if old.get(px) != qty]
    changes += [(px, ZERO) for px in old if px not in new]
    return changes


class MarketData:
    """Candles and 24 h statistics of every market, fed from the exchange's events."""

    _of: weakref.WeakKeyDictionary[Exchange, MarketData] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, exchange: Exchange) -> MarketData | None:
        """The market data of ``exchange`` (for wire helpers that are handed a ``Market`` only)."""
        return cls._of.get(exchange)

    def __init__(self, exchange: Exchange) -> None:
        MarketData._of[exchange] = self
        self.exchange = exchange
        self.started_ms = exchange.now_ms()
        self.candles = Candles()
        self._unsubscribe: Callable[[], None] = exchange.subscribe(self._on_event)

    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, PublicTrade):
            self.candles.add(ev)

    def stats_24h(self, market: str, symbol: str) -> Stats24h:
        return self.candles.stats_24h(market, symbol, self.exchange.now_ms())

    def open_interest(self, market: str, symbol: str) -> Decimal:
        """Open contracts (engine quantity): the sum of every account's long positions, background
        accounts included."""
        total = ZERO
        for account in self.exchange.accounts.values():
            wallet = account.wallets.get(market)
            pos = wallet.positions.get(symbol) if wallet is not None else None
            if pos is not None and pos.qty > 0:
                total += pos.qty
        return total

    def index_price(self, market: str, symbol: str) -> Decimal:
        """The index (and mark) of a derivative: the book's mid, else the last or reference price."""
        m = self.exchange.markets[market]
        return m.instruments[symbol].round_price(m.mark_price(symbol))
