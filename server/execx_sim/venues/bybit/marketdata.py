"""Bybit v5 public market data beyond the order book and trade streams of ``frontend.py``: REST
``/v5/market/orderbook``, ``recent-trade``, ``kline`` (+ mark / index / premium-index klines),
``tickers`` (24 h statistics; mark, index, funding, open interest on derivatives; the option chain
with ``category=option``), ``funding/history``, ``open-interest``; and the public ``tickers.{symbol}``
websocket topic (a snapshot every 100 ms while anything changed, as the docs' derivatives
snapshot+delta stream resolves to).

Candles and 24 h figures come from the simulator's own trades (``core.marketdata``). Implied
volatility and greeks of options are not modelled: they are ``"0"``.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...core import marketdata as md
from ...core.engine import Market
from ...core.types import ZERO
from ..common import dumps
from . import errors, wire
from .trading import category_of, text

if TYPE_CHECKING:
    from .frontend import BybitVenue
    from .rest import BybitHttp, Call
    from .ws import Conn

TICKER_EVERY_S = 0.1
INTERVALS: dict[str, int] = {
    **{str(m): m * md.MINUTE_MS for m in (1, 3, 5, 15, 30, 60, 120, 240, 360, 720)},
    "D": md.DAY_MS,
    "W": 7 * md.DAY_MS,
    "M": md.MONTH,
}
BOOK_LIMITS = {"spot": (1, 200), "linear": (25, 500), "inverse": (25, 500), "option": (1, 25)}  # (default, max)
TRADE_LIMITS = {"spot": (60, 60), "linear": (500, 1000), "inverse": (500, 1000), "option": (500, 1000)}
OI_INTERVALS = {"5min": 5 * md.MINUTE_MS, "15min": 15 * md.MINUTE_MS, "30min": 30 * md.MINUTE_MS}
OI_INTERVALS.update({"1h": md.HOUR_MS, "4h": 4 * md.HOUR_MS, "1d": md.DAY_MS})


def _limit(params: dict[str, Any], default: int, maximum: int) -> int:
    raw = text(params, "limit")
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise errors.param(f"limit must be in [1, {maximum}]")
    return int(raw)


def _ms(params: dict[str, Any], key: str) -> int | None:
    raw = text(params, key)
    if not raw:
        return None
    if not raw.isdigit():
        raise errors.param(f"{key} invalid")
    return int(raw)


@dataclass
class BookFeed:
    """What an ``orderbook.{depth}.{symbol}`` topic last published (shared by its subscribers; one per
    topic ever subscribed: bounded by the instrument list and the four depths)."""

    u: int = 0
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)


class BybitMarketData:
    def __init__(self, venue: BybitVenue) -> None:
        self.venue = venue
        self.data: md.MarketData = venue.sim.marketdata
        self._sent: dict[tuple[str, str], tuple[Any, ...]] = {}  # (category, topic) -> last state sent
        self._books: dict[tuple[str, str], BookFeed] = {}  # (category, orderbook topic) -> published

    # ------------------------------------------------------------------ helpers

    def _symbol(self, market: Market, params: dict[str, Any]) -> str:
        symbol = text(params, "symbol", required=True)
        if symbol not in market.instruments:
            raise errors.BybitError(errors.PARAM, "params error: symbol invalid")
        return symbol

    def open_interest(self, market: Market, symbol: str) -> Decimal:
        return self.data.open_interest(market.name, symbol)

    def ticker(self, category: str, market: Market, sym: str) -> dict[str, Any]:
        inst = market.instruments[sym]
        bid, bid_qty, ask, ask_qty = market.books[sym].top()
        stats = self.data.stats_24h(market.name, sym)
        last = market.last_price.get(sym, market.mark_price(sym))
        index = self.data.index_price(market.name, sym)
        prev = stats.open if stats.open is not None else last
        row: dict[str, Any] = {
            "symbol": sym,
            "bid1Price": wire.num(bid) if bid is not None else "",
            "bid1Size": wire.num(bid_qty),
            "ask1Price": wire.num(ask) if ask is not None else "",
            "ask1Size": wire.num(ask_qty),
            "lastPrice": wire.num(last),
            "prevPrice24h": wire.num(prev),
            "price24hPcnt": wire.num(((last - prev) / prev).quantize(Decimal("0.000001")) if prev else ZERO),
            "highPrice24h": wire.num(stats.high if stats.high is not None else last),
            "lowPrice24h": wire.num(stats.low if stats.low is not None else last),
            "turnover24h": wire.num(stats.quote),
            "volume24h": wire.num(stats.volume),
        }
        if category == "spot":
            row["usdIndexPrice"] = wire.num(index)
            return row
        if category == "option":
            row.update(
                bid1Iv="0",
                ask1Iv="0",
                markIv="0",
                underlyingPrice=wire.num(index),
                markPrice=wire.num(index),
                indexPrice=wire.num(index),
                openInterest=wire.num(self.open_interest(market, sym)),
                totalVolume=wire.num(stats.volume),
                totalTurnover=wire.num(stats.quote),
                delta="0",
                gamma="0",
                vega="0",
                theta="0",
                predictedDeliveryPrice="0",
                change24h=row["price24hPcnt"],
            )
            return row
        oi = self.open_interest(market, sym)
        row.update(
            indexPrice=wire.num(index),
            markPrice=wire.num(index),
            prevPrice1h=wire.num(prev),
            openInterest=wire.num(oi),
            openInterestValue=wire.num((oi * inst.contract_size * index).quantize(Decimal("0.01"))),
            fundingRate=wire.num(md.FUNDING_RATE),
            nextFundingTime=str(md.next_funding_ms(self.venue.now_ms())),
            predictedDeliveryPrice="",
            basisRate="",
            deliveryFeeRate="",
            deliveryTime="0",
            basis="",
        )
        return row

    # ------------------------------------------------------------------ REST

    def routes(self, http: BybitHttp) -> None:
        route = http.route
        venue = self.venue

        @route("GET", "/v5/market/tickers", private=False)
        async def tickers(call: Call) -> Any:
            category = category_of(call.params)
            market = venue.trading.market(category)
            symbol, base = text(call.params, "symbol"), text(call.params, "baseCoin")
            if symbol and symbol not in market.instruments:
                raise errors.BybitError(errors.PARAM, "params error: symbol invalid")
            rows = [
                self.ticker(category, market, sym)
                for sym, inst in market.instruments.items()
                if (not symbol or sym == symbol) and (not base or inst.base == base)
            ]
            return {"category": category, "list": rows}

        @route("GET", "/v5/market/orderbook", private=False)
        async def orderbook(call: Call) -> Any:
            category = category_of(call.params)
            market = venue.trading.market(category)
            symbol = self._symbol(market, call.params)
            default, maximum = BOOK_LIMITS[category]
            limit = _limit(call.params, default, maximum)
            book, inst = market.books[symbol], market.instruments[symbol]
            bids, asks = book.depth(limit)
            now = venue.now_ms()
            return {
                "s": symbol,
                "b": [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in bids],
                "a": [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in asks],
                "ts": now,
                "u": book.update_id,
                "seq": book.update_id,
                "cts": now,
            }

        @route("GET", "/v5/market/recent-trade", private=False)
        async def recent_trade(call: Call) -> Any:
            category = category_of(call.params)
            market = venue.trading.market(category)
            default, maximum = TRADE_LIMITS[category]
            limit = _limit(call.params, default, maximum)
            symbol = text(call.params, "symbol")
            if category != "option" or symbol:
                symbols = [self._symbol(market, call.params)]
            else:
                base = text(call.params, "baseCoin") or "BTC"
                symbols = [s for s, i in market.instruments.items() if i.base == base]
            trades = sorted(
                (t for s in symbols for t in market.public_trades[s]), key=lambda t: t.trade_id, reverse=True
            )[:limit]
            rows = []
            for t in trades:
                inst = market.instruments[t.symbol]
                rows.append(
                    {
                        "execId": str(t.trade_id),
                        "symbol": t.symbol,
                        "price": inst.fmt_price(t.price),
                        "size": inst.fmt_qty(t.qty),
                        "side": wire.SIDE[t.taker_side],
                        "time": str(t.time_ms),
                        "isBlockTrade": False,
                        "isRPITrade": False,
                        "seq": str(t.trade_id),
                    }
                )
            return {"category": category, "list": rows}

        def candles(call: Call, what: str) -> dict[str, Any]:
            category = category_of(call.params) if call.params.get("category") else "linear"
            if what != "kline" and category not in ("linear", "inverse"):
                raise errors.param("category only support linear or inverse")
            market = venue.trading.market(category)
            symbol = self._symbol(market, call.params)
            interval = INTERVALS.get(text(call.params, "interval", required=True))
            if interval is None:
                raise errors.param("interval invalid")
            limit = _limit(call.params, 200, 1000)
            start, end = _ms(call.params, "start"), _ms(call.params, "end")
            bars = self.data.candles.bars(market.name, symbol, interval, start, end, limit)
            inst = market.instruments[symbol]
            rows: list[list[str]] = []
            for b in reversed(bars):  # newest first, as the venue lists them
                if what == "mark":  # mark and index follow the traded price in the simulator
                    ohlc = (b.open, b.high, b.low, b.close)
                elif what == "premium":
                    ohlc = (ZERO, ZERO, ZERO, ZERO)
                else:
                    ohlc = (b.open, b.high, b.low, b.close)
                row = [str(b.open_ms), *(inst.fmt_price(p) if what != "premium" else "0" for p in ohlc)]
                if what == "kline":
                    if category == "inverse":  # volume in contracts, turnover in coin (at the bar's VWAP)
                        coin = b.volume * inst.contract_size * b.volume / b.quote if b.quote else ZERO
                        row += [wire.num(b.volume), wire.num(coin.quantize(Decimal("1e-8")))]
                    else:
                        row += [wire.num(b.volume), wire.num(b.quote)]
                rows.append(row)
            return {"category": category, "symbol": symbol, "list": rows}

        def candle_route(path: str, what: str) -> None:
            async def handler(call: Call) -> Any:
                return candles(call, what)

            route("GET", path, private=False)(handler)

        for path, what in (("kline", "kline"), ("mark-price-kline", "mark"), ("index-price-kline", "mark")):
            candle_route(f"/v5/market/{path}", what)
        candle_route("/v5/market/premium-index-price-kline", "premium")

        def perpetual(call: Call) -> tuple[str, Market, str]:
            category = category_of(call.params)
            if category not in ("linear", "inverse"):
                raise errors.param("category only support linear or inverse")
            market = venue.trading.market(category)
            return category, market, self._symbol(market, call.params)

        @route("GET", "/v5/market/funding/history", private=False)
        async def funding_history(call: Call) -> Any:
            category, _market, symbol = perpetual(call)
            limit = _limit(call.params, 200, 200)
            end = _ms(call.params, "endTime") or venue.now_ms()
            times = md.funding_history(self.data.started_ms, end, limit)
            rows = [
                {"symbol": symbol, "fundingRate": wire.num(md.FUNDING_RATE), "fundingRateTimestamp": str(t)}
                for t in reversed(times)
            ]
            return {"category": category, "list": rows}

        @route("GET", "/v5/market/open-interest", private=False)
        async def open_interest(call: Call) -> Any:
            category, market, symbol = perpetual(call)
            width = OI_INTERVALS.get(text(call.params, "intervalTime", required=True))
            if width is None:
                raise errors.param("intervalTime invalid")
            now = venue.now_ms()
            # History is not kept: the current figure, stamped with the open of the current interval.
            row = {"openInterest": wire.num(self.open_interest(market, symbol)), "timestamp": str(now // width * width)}
            return {"category": category, "symbol": symbol, "list": [row], "nextPageCursor": ""}

    # ------------------------------------------------------------------ websocket ``tickers.{symbol}``

    def topic_ok(self, category: str, topic: str) -> bool:
        parts = topic.split(".")
        instruments = self.venue.markets[category].instruments
        if len(parts) == 3 and parts[0] == "kline" and category != "option":
            return parts[1] in INTERVALS and parts[2] in instruments
        return len(parts) == 2 and parts[0] == "tickers" and parts[1] in instruments

    def send_ticker(self, conn: Conn, category: str, topic: str) -> None:
        """The first message of a ``tickers`` or ``kline`` subscription."""
        msg = self._ticker_msg(category, topic) if topic.startswith("tickers.") else self._kline_msg(category, topic)
        if msg is not None:
            conn.writer.send_json(msg)

    def _kline_msg(self, category: str, topic: str) -> dict[str, Any] | None:
        _, interval, symbol = topic.split(".")
        market = self.venue.markets[category]
        width, now = INTERVALS[interval], self.venue.now_ms()
        bars = self.data.candles.bars(market.name, symbol, width, md.bucket_start(now, width), None, 1)
        if not bars:
            return None  # no trade in the current interval yet
        b, inst = bars[0], market.instruments[symbol]
        end = (md.bucket_start(b.open_ms + 32 * md.DAY_MS, width) if width == md.MONTH else b.open_ms + width) - 1
        row = {
            "start": b.open_ms,
            "end": end,
            "interval": interval,
            "open": inst.fmt_price(b.open),
            "close": inst.fmt_price(b.close),
            "high": inst.fmt_price(b.high),
            "low": inst.fmt_price(b.low),
            "volume": wire.num(b.volume),
            "turnover": wire.num(b.quote),
            "confirm": now > end,
            "timestamp": now,
        }
        return {"topic": topic, "data": [row], "ts": now, "type": "snapshot"}

    def _ticker_msg(self, category: str, topic: str) -> dict[str, Any]:
        symbol = topic.partition(".")[2]
        market = self.venue.markets[category]
        data = self.ticker(category, market, symbol)
        now = self.venue.now_ms()
        msg: dict[str, Any] = {"topic": topic, "ts": now, "type": "snapshot", "data": data}
        if category != "spot":
            msg["cs"] = market.books[symbol].update_id
        if category == "option":
            msg["id"] = str(uuid.uuid4())
        return msg

    # ------------------------------------------------------------------ websocket ``orderbook.{depth}.{symbol}``

    @staticmethod
    def snapshot_only(category: str, topic: str) -> bool:
        """Topics sent as whole snapshots (on every top move and every 3 s, by ``frontend.py``): level 1
        as the venue does, and option books, which the venue streams as deltas but execx's Bybit
        connector reads as snapshots (docs/sim_market_data.md)."""
        return topic.startswith("orderbook.") and (category == "option" or topic.split(".")[1] == "1")

    def _book_msg(self, category: str, topic: str, kind: str, bids: Any, asks: Any, u: int) -> dict[str, Any]:
        _, _, symbol = topic.split(".")
        market = self.venue.markets[category]
        inst, now = market.instruments[symbol], self.venue.now_ms()
        data = {
            "s": symbol,
            "b": [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in bids],
            "a": [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in asks],
            "u": u,
            "seq": market.books[symbol].update_id,
        }
        return {"topic": topic, "type": kind, "ts": now, "data": data, "cts": now}

    def _flush_book(self, category: str, topic: str, joining: Conn | None = None) -> None:
        """Send the changes since the last publication as a ``delta`` to the topic's subscribers but
        ``joining`` (nothing when unchanged). Levels that leave the depth are deleted (size 0)."""
        _, depth, symbol = topic.split(".")
        feed = self._books.setdefault((category, topic), BookFeed())
        bids, asks = self.venue.markets[category].books[symbol].depth(int(depth))
        bid_changes = md.diff_levels(feed.bids.items(), bids)
        ask_changes = md.diff_levels(feed.asks.items(), asks)
        if not bid_changes and not ask_changes and feed.u:
            return
        first = not feed.u
        feed.u += 1
        feed.bids, feed.asks = dict(bids), dict(asks)
        if first:
            return
        subs = [c for c in self.venue.ws.public[category] if topic in c.topics and c is not joining]
        if subs:
            msg = dumps(
                self._book_msg(category, topic, "delta", sorted(bid_changes, reverse=True), sorted(ask_changes), feed.u)
            )
            for conn in subs:
                conn.writer.send(msg)

    def book_subscribed(self, conn: Conn, category: str, topic: str) -> None:
        """A new subscriber: bring the others up to date, then send it a snapshot of what was published."""
        self._flush_book(category, topic, joining=conn)
        feed = self._books[(category, topic)]
        bids, asks = sorted(feed.bids.items(), reverse=True), sorted(feed.asks.items())
        conn.writer.send_json(self._book_msg(category, topic, "snapshot", bids, asks, feed.u))

    async def run(self) -> None:
        """Every 100 ms: ``orderbook`` deltas (depths above 1), and ``tickers`` / ``kline`` messages of
        symbols whose figures changed."""
        while True:
            await asyncio.sleep(TICKER_EVERY_S)
            for category, conns in self.venue.ws.public.items():
                if self.venue.faults(category).silent:
                    continue
                market = self.venue.markets[category]
                books = {
                    t
                    for c in conns
                    for t in c.topics
                    if t.startswith("orderbook.") and not self.snapshot_only(category, t)
                }
                for topic in sorted(books):
                    self._flush_book(category, topic)
                topics = {t for c in conns for t in c.topics if t.startswith(("tickers.", "kline."))}
                for topic in topics:
                    sym = topic.rpartition(".")[2]
                    tape = market.public_trades[sym]
                    state: tuple[Any, ...] = (market.books[sym].top(), market.last_price.get(sym))
                    if topic.startswith("kline."):  # a new trade, or a new minute (``confirm`` flips)
                        state = (tape[-1].trade_id if tape else 0, self.venue.now_ms() // md.MINUTE_MS)
                    if self._sent.get((category, topic)) == state:
                        continue
                    self._sent[(category, topic)] = state
                    msg = (
                        self._ticker_msg(category, topic)
                        if topic.startswith("tickers.")
                        else self._kline_msg(category, topic)
                    )
                    if msg is None:
                        continue
                    text_msg = dumps(msg)
                    for conn in list(conns):
                        if topic in conn.topics:
                            conn.writer.send(text_msg)
                for key in [k for k in self._sent if k[0] == category and k[1] not in topics]:
                    del self._sent[key]  # nobody listens any more: bounded by live subscriptions
