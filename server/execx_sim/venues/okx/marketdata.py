"""OKX v5 public market data beyond ``bbo-tbt`` and ``trades`` (``frontend.py``).

REST: ``/api/v5/market/ticker``, ``/tickers``, ``/books``, ``/trades``, ``/history-trades``,
``/candles``, ``/history-candles``, ``/mark-price-candles``, ``/index-candles``;
``/api/v5/public/mark-price``, ``/funding-rate``, ``/funding-rate-history``, ``/open-interest``.

Websocket ``/ws/v5/public``: ``tickers`` (pushed at most every 100 ms, when something changed),
``books`` (a 400-level snapshot, then every 100 ms the changed levels, size ``"0"`` deleting a
level, each message with ``seqId``/``prevSeqId`` and the ``checksum``: CRC32, as a signed 32-bit
integer, of ``bid1px:bid1sz:ask1px:ask1sz:...`` over the first 25 levels of each side, the longer
side's remaining levels appended alone), ``books5`` (a 5-level snapshot every 100 ms when it
changed). ``/ws/v5/business``: ``candle<bar>`` (the bar of the moment, pushed when it changed).

Sizes are contracts on swaps, base currency on spot. Candles and 24 h figures come from the
simulator's own trades (``core.marketdata``); the index and mark price are the book's mid.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from ...core import marketdata as md
from ...core.types import ZERO
from . import errors, wire
from .instruments import OkxInstrument

if TYPE_CHECKING:
    from .frontend import OkxFrontend
    from .rest import Call, OkxRest
    from .ws import Conn

HK_OFFSET = -8 * md.HOUR_MS  # OKX's plain bars (6H and up) open at 00:00 Hong Kong time
BARS: dict[str, tuple[int, int]] = {
    **{f"{m}m": (m * md.MINUTE_MS, 0) for m in (1, 3, 5, 15, 30)},
    **{f"{h}H": (h * md.HOUR_MS, 0) for h in (1, 2, 4)},
    "6H": (6 * md.HOUR_MS, HK_OFFSET),
    "12H": (12 * md.HOUR_MS, HK_OFFSET),
    "1D": (md.DAY_MS, HK_OFFSET),
    "2D": (2 * md.DAY_MS, HK_OFFSET),
    "3D": (3 * md.DAY_MS, HK_OFFSET),
    "1W": (7 * md.DAY_MS, HK_OFFSET),
    "1M": (md.MONTH, HK_OFFSET),
    "6Hutc": (6 * md.HOUR_MS, 0),
    "12Hutc": (12 * md.HOUR_MS, 0),
    "1Dutc": (md.DAY_MS, 0),
    "2Dutc": (2 * md.DAY_MS, 0),
    "3Dutc": (3 * md.DAY_MS, 0),
    "1Wutc": (7 * md.DAY_MS, 0),
    "1Mutc": (md.MONTH, 0),
}
BOOK_DEPTH = 400
CHECKSUM_LEVELS = 25
PUBLIC = ("tickers", "books", "books5")
BUSINESS = tuple(f"candle{b}" for b in BARS)

Handler = Callable[["Call"], Awaitable[list[dict[str, Any]]]]
Level = list[str]


def checksum(bids: list[Level], asks: list[Level]) -> int:
    """OKX's book checksum over the level strings as sent (signed CRC32)."""
    parts: list[str] = []
    for i in range(CHECKSUM_LEVELS):
        if i < len(bids):
            parts += bids[i][:2]
        if i < len(asks):
            parts += asks[i][:2]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


@dataclass
class BookFeed:
    """What was last published for one instrument, shared by its subscribers (one per instrument, kept
    while the simulator runs: bounded by the instrument list)."""

    seq: int = 0
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    top5: Any = None
    ticker: Any = None
    candles: dict[str, Any] = field(default_factory=dict)


def _int(q: dict[str, str], name: str, default: int, maximum: int) -> int:
    raw = q.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise errors.param_error(name)
    return int(raw)


class OkxMarketData:
    def __init__(self, fe: OkxFrontend) -> None:
        self.fe = fe
        self.data: md.MarketData = fe.sim.marketdata
        self.feeds: dict[str, BookFeed] = {}

    # ------------------------------------------------------------------ wire rows

    def _inst(self, q: dict[str, str]) -> OkxInstrument:
        inst_id = q.get("instId", "")
        if not inst_id:
            raise errors.param_empty("instId")
        inst = self.fe.instruments.get(inst_id)
        if inst is None:
            raise errors.OkxError("51001", "Instrument ID, Instrument ID code or Spread ID doesn't exist.")
        return inst

    def _levels(self, inst: OkxInstrument, levels: list[tuple[Decimal, Decimal]]) -> list[Level]:
        return [[wire.num(px), wire.num(inst.from_engine(qty)), "0", "1" if qty else "0"] for px, qty in levels]

    def ticker(self, inst: OkxInstrument) -> dict[str, Any]:
        market = self.fe.market
        sym = inst.inst_id
        bid, bid_qty, ask, ask_qty = market.books[sym].top()
        stats = self.data.stats_24h(market.name, sym)
        last = market.last_price.get(sym, market.mark_price(sym))
        trades = market.public_trades[sym]
        last_sz = inst.from_engine(trades[-1].qty) if trades else ZERO
        vol = inst.from_engine(stats.volume)
        if inst.is_swap:  # volCcy24h: base currency (linear: contracts x ctVal; inverse: USD / price)
            vol_ccy = stats.volume * inst.ct_val / stats.vwap if inst.inverse and stats.vwap else stats.volume
        else:
            vol_ccy = stats.quote
        sod = stats.open if stats.open is not None else last
        return {
            "instType": inst.inst_type,
            "instId": sym,
            "last": wire.num(last),
            "lastSz": wire.num(last_sz),
            "askPx": wire.num(ask) if ask is not None else "",
            "askSz": wire.num(inst.from_engine(ask_qty)),
            "bidPx": wire.num(bid) if bid is not None else "",
            "bidSz": wire.num(inst.from_engine(bid_qty)),
            "open24h": wire.num(sod),
            "high24h": wire.num(stats.high if stats.high is not None else last),
            "low24h": wire.num(stats.low if stats.low is not None else last),
            "volCcy24h": wire.num(vol_ccy.quantize(Decimal("1e-8"))),
            "vol24h": wire.num(vol),
            "sodUtc0": wire.num(sod),
            "sodUtc8": wire.num(sod),
            "ts": str(self.fe.exchange.now_ms()),
        }

    def candle_rows(self, inst: OkxInstrument, q: dict[str, str], maximum: int, what: str) -> list[list[str]]:
        bar = q.get("bar", "1m") or "1m"
        if bar not in BARS:
            raise errors.param_error("bar")
        width, offset = BARS[bar]
        limit = _int(q, "limit", 100, maximum)
        after, before = q.get("after", ""), q.get("before", "")
        for name, raw in (("after", after), ("before", before)):
            if raw and not raw.isdigit():
                raise errors.param_error(name)
        market = self.fe.market
        bars = self.data.candles.bars(market.name, inst.inst_id, width, None, None, 10_000, offset)
        if after:
            bars = [b for b in bars if b.open_ms < int(after)]
        if before:
            bars = [b for b in bars if b.open_ms > int(before)]
            bars = bars[:limit]  # the oldest newer than ``before``
        else:
            bars = bars[-limit:]
        now = self.fe.exchange.now_ms()
        rows = []
        for b in reversed(bars):  # newest first
            ohlc = [wire.num(p) for p in (b.open, b.high, b.low, b.close)]
            confirm = "1" if md.bucket_start(now, width, offset) != b.open_ms else "0"
            if what != "trade":
                rows.append([str(b.open_ms), *ohlc, confirm])
                continue
            contracts = inst.from_engine(b.volume)
            if inst.is_swap:
                ccy = b.volume * inst.ct_val / (b.quote / b.volume) if inst.inverse and b.quote else b.volume
                quote = b.volume * inst.ct_val if inst.inverse else b.quote
            else:
                ccy, quote = b.volume, b.quote
            rows.append([str(b.open_ms), *ohlc, wire.num(contracts), wire.num(ccy), wire.num(quote), confirm])
        return rows

    # ------------------------------------------------------------------ REST

    def routes(self, rest: OkxRest) -> None:
        public: dict[str, Handler] = {
            "/api/v5/market/ticker": self.r_ticker,
            "/api/v5/market/tickers": self.r_tickers,
            "/api/v5/market/books": self.r_books,
            "/api/v5/market/trades": self.r_trades,
            "/api/v5/market/history-trades": self.r_trades,
            "/api/v5/market/candles": self.r_candles(300, "trade"),
            "/api/v5/market/history-candles": self.r_candles(100, "trade"),
            "/api/v5/market/mark-price-candles": self.r_candles(100, "mark"),
            "/api/v5/market/index-candles": self.r_candles(100, "mark"),
            "/api/v5/public/mark-price": self.r_mark_price,
            "/api/v5/public/funding-rate": self.r_funding_rate,
            "/api/v5/public/funding-rate-history": self.r_funding_history,
            "/api/v5/public/open-interest": self.r_open_interest,
        }
        for path, handler in public.items():
            rest.app.router.add_get(path, rest._wrap(handler, signed=False))

    async def r_ticker(self, call: Call) -> list[dict[str, Any]]:
        return [self.ticker(self._inst(call.query))]

    def _of_type(self, q: dict[str, str]) -> list[OkxInstrument]:
        inst_type = q.get("instType", "")
        if not inst_type:
            raise errors.param_empty("instType")
        family = q.get("instFamily", "") or q.get("uly", "")
        return [
            i
            for i in self.fe.instruments.values()
            if i.inst_type == inst_type and (not family or i.inst_family == family)
        ]

    async def r_tickers(self, call: Call) -> list[dict[str, Any]]:
        return [self.ticker(i) for i in self._of_type(call.query)]

    async def r_books(self, call: Call) -> list[dict[str, Any]]:
        inst = self._inst(call.query)
        sz = _int(call.query, "sz", 1, BOOK_DEPTH)
        bids, asks = self.fe.market.books[inst.inst_id].depth(sz)
        return [
            {
                "asks": self._levels(inst, asks),
                "bids": self._levels(inst, bids),
                "ts": str(self.fe.exchange.now_ms()),
            }
        ]

    async def r_trades(self, call: Call) -> list[dict[str, Any]]:
        inst = self._inst(call.query)
        limit = _int(call.query, "limit", 100, 500 if call.request.path.endswith("/trades") else 100)
        trades = list(self.fe.market.public_trades[inst.inst_id])
        if call.request.path.endswith("/history-trades"):  # ``type`` 1: after / before a tradeId, 2: a ts (ms)
            kind = call.query.get("type") or "1"
            if kind not in ("1", "2"):
                raise errors.param_error("type")
            after, before = _int(call.query, "after", 0, 2**63), _int(call.query, "before", 0, 2**63)
            key: Callable[[Any], int] = (lambda t: t.trade_id) if kind == "1" else (lambda t: t.time_ms)
            if after:
                trades = [t for t in trades if key(t) < after]
            if before:
                trades = [t for t in trades if key(t) > before]
                trades = trades[:limit]  # before: the records newer than it, the nearest first
        trades = trades[-limit:]
        return [
            {
                "instId": inst.inst_id,
                "side": wire.side(t.taker_side),
                "sz": wire.num(inst.from_engine(t.qty)),
                "px": wire.num(t.price),
                "source": "0",
                "tradeId": str(t.trade_id),
                "ts": str(t.time_ms),
            }
            for t in reversed(trades)
        ]

    def r_candles(self, maximum: int, what: str) -> Handler:
        async def handle(call: Call) -> list[dict[str, Any]]:
            rows = self.candle_rows(self._inst(call.query), call.query, maximum, what)
            return cast(list[dict[str, Any]], rows)  # the envelope's data is a list of arrays here

        return handle

    def _swap(self, call: Call) -> OkxInstrument:
        inst = self._inst(call.query)
        if not inst.is_swap:
            raise errors.param_error("instId")
        return inst

    async def r_mark_price(self, call: Call) -> list[dict[str, Any]]:
        if call.query.get("instId"):
            insts = [self._swap(call)]
        else:
            insts = [i for i in self._of_type(call.query) if i.is_swap]
        now = str(self.fe.exchange.now_ms())
        return [
            {
                "instType": i.inst_type,
                "instId": i.inst_id,
                "markPx": wire.num(self.data.index_price(self.fe.market.name, i.inst_id)),
                "ts": now,
            }
            for i in insts
        ]

    async def r_funding_rate(self, call: Call) -> list[dict[str, Any]]:
        inst = self._swap(call)
        now = self.fe.exchange.now_ms()
        nxt = md.next_funding_ms(now)
        rate = wire.num(md.FUNDING_RATE)
        return [
            {
                "instType": "SWAP",
                "instId": inst.inst_id,
                "method": "current_period",
                "fundingRate": rate,
                "nextFundingRate": "",
                "fundingTime": str(nxt),
                "nextFundingTime": str(nxt + md.FUNDING_INTERVAL_MS),
                "minFundingRate": "-0.0075",
                "maxFundingRate": "0.0075",
                "settFundingRate": rate,
                "settState": "settled",
                "premium": "0",
                "interestRate": "0.0001",
                "impactValue": "",
                "ts": str(now),
            }
        ]

    async def r_funding_history(self, call: Call) -> list[dict[str, Any]]:
        inst = self._swap(call)
        limit = _int(call.query, "limit", 100, 400)
        times = md.funding_history(self.data.started_ms, self.fe.exchange.now_ms(), limit)
        rate = wire.num(md.FUNDING_RATE)
        return [
            {
                "instType": "SWAP",
                "instId": inst.inst_id,
                "fundingRate": rate,
                "realizedRate": rate,
                "fundingTime": str(t),
                "method": "current_period",
            }
            for t in reversed(times)
        ]

    async def r_open_interest(self, call: Call) -> list[dict[str, Any]]:
        insts = [self._swap(call)] if call.query.get("instId") else [i for i in self._of_type(call.query) if i.is_swap]
        market = self.fe.market
        rows = []
        for inst in insts:
            qty = self.data.open_interest(market.name, inst.inst_id)
            px = self.data.index_price(market.name, inst.inst_id)
            base = qty * inst.ct_val / px if inst.inverse and px else qty
            usd = qty * inst.ct_val if inst.inverse else qty * px
            rows.append(
                {
                    "instType": "SWAP",
                    "instId": inst.inst_id,
                    "oi": wire.num(inst.from_engine(qty)),
                    "oiCcy": wire.num(base.quantize(Decimal("1e-8"))),
                    "oiUsd": wire.num(usd.quantize(Decimal("0.01"))),
                    "ts": str(self.fe.exchange.now_ms()),
                }
            )
        return rows

    # ------------------------------------------------------------------ websocket

    def channel_ok(self, kind: str, arg: dict[str, Any]) -> bool:
        channel = arg.get("channel")
        if arg.get("instId") not in self.fe.instruments:
            return False
        return (kind == "public" and channel in PUBLIC) or (kind == "business" and channel in BUSINESS)

    def on_subscribe(self, conn: Conn, arg: dict[str, str]) -> None:
        channel, inst_id = arg["channel"], arg["instId"]
        inst = self.fe.instruments[inst_id]
        if channel == "books":
            self._flush_books(inst, conn)  # bring subscribers up to date, then snapshot what was published
            feed = self.feeds[inst_id]
            bids = self._levels(inst, sorted(feed.bids.items(), reverse=True))
            asks = self._levels(inst, sorted(feed.asks.items()))
            conn.send(self._book_msg(arg, "snapshot", bids, asks, -1, feed.seq, checksum(bids, asks)))
        elif channel == "books5":
            conn.send(self._books5(inst))
        elif channel == "tickers":
            conn.send({"arg": arg, "data": [self.ticker(inst)]})
        elif channel.startswith("candle"):
            rows = self.candle_rows(inst, {"bar": channel[6:], "limit": "1"}, 1, "trade")
            if rows:
                conn.send({"arg": arg, "data": rows})

    def _book_msg(
        self, arg: dict[str, str], action: str, bids: list[Level], asks: list[Level], prev: int, seq: int, crc: int
    ) -> dict[str, Any]:
        ts = str(self.fe.exchange.now_ms())
        data = {"asks": asks, "bids": bids, "ts": ts, "checksum": crc, "prevSeqId": prev, "seqId": seq}
        return {"arg": arg, "action": action, "data": [data]}

    def _books5(self, inst: OkxInstrument) -> dict[str, Any]:
        bids, asks = self.fe.market.books[inst.inst_id].depth(5)
        data = {
            "asks": self._levels(inst, asks),
            "bids": self._levels(inst, bids),
            "instId": inst.inst_id,
            "ts": str(self.fe.exchange.now_ms()),
            "seqId": self.feeds.setdefault(inst.inst_id, BookFeed()).seq,
        }
        return {"arg": {"channel": "books5", "instId": inst.inst_id}, "data": [data]}

    def _subscribers(self, arg: dict[str, str], kind: str = "public") -> list[Conn]:
        return [c for c in self.fe.ws.conns if c.kind == kind and arg in c.subs]

    def _flush_books(self, inst: OkxInstrument, joining: Conn | None = None) -> None:
        """Publish the changes of ``inst``'s book since the last publication (nothing if none) to its
        subscribers but ``joining`` (which gets the snapshot next)."""
        feed = self.feeds.setdefault(inst.inst_id, BookFeed())
        bids, asks = self.fe.market.books[inst.inst_id].depth(BOOK_DEPTH)
        bid_changes = md.diff_levels(feed.bids.items(), bids)
        ask_changes = md.diff_levels(feed.asks.items(), asks)
        if not bid_changes and not ask_changes and feed.seq:
            return
        prev = feed.seq
        feed.seq += 1
        feed.bids, feed.asks = dict(bids), dict(asks)
        arg = {"channel": "books", "instId": inst.inst_id}
        subs = [c for c in self._subscribers(arg) if c is not joining]
        if not subs or not prev:
            return
        full_bids, full_asks = self._levels(inst, bids), self._levels(inst, asks)
        msg = self._book_msg(
            arg,
            "update",
            self._levels(inst, sorted(bid_changes, reverse=True)),
            self._levels(inst, sorted(ask_changes)),
            prev,
            feed.seq,
            checksum(full_bids, full_asks),
        )
        for conn in subs:
            conn.send(msg)

    def tick(self) -> None:
        """Every 100 ms (the front-end's timer): books increments, books5, tickers and candles."""
        if self.fe.faults.silent:
            return
        wanted: set[tuple[str, str, str]] = set()
        for conn in self.fe.ws.conns:
            for sub in conn.subs:
                if sub.get("channel") in PUBLIC or sub.get("channel") in BUSINESS:
                    wanted.add((conn.kind, sub["channel"], sub["instId"]))
        for kind, channel, inst_id in sorted(wanted):
            inst = self.fe.instruments.get(inst_id)
            if inst is None:
                continue
            feed = self.feeds.setdefault(inst_id, BookFeed())
            arg = {"channel": channel, "instId": inst_id}
            msg: dict[str, Any] | None = None
            if channel == "books":
                self._flush_books(inst)
                continue
            if channel == "books5":
                top5 = self.fe.market.books[inst_id].depth(5)
                if top5 != feed.top5:
                    feed.top5, msg = top5, self._books5(inst)
            elif channel == "tickers":
                state = (self.fe.market.books[inst_id].top(), self.fe.market.last_price.get(inst_id))
                if state != feed.ticker:
                    feed.ticker, msg = state, {"arg": arg, "data": [self.ticker(inst)]}
            else:
                rows = self.candle_rows(inst, {"bar": channel[6:], "limit": "1"}, 1, "trade")
                if rows and rows != feed.candles.get(channel):
                    feed.candles[channel], msg = rows, {"arg": arg, "data": rows}
            if msg is not None:
                for conn in self._subscribers(arg, kind):
                    conn.send(msg)
