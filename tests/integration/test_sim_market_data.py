"""The simulator's public market data, seen by unmodified ccxt (REST and ccxt.pro) on every venue ccxt
supports, only URLs changed (the same URL settings as ``tests/conformance/test_*_ccxt.py``), plus the
wire details ccxt does not check: OKX ``books`` seqId chain and CRC32 checksum, Bybit REST/websocket
shapes, Deribit candles and the option chain. The simulator here runs its synthetic flow (a moving
market with trades), on loopback sockets."""

from __future__ import annotations

import asyncio
import json
import sys
import zlib
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]
import ccxt.pro as ccxt_pro  # type: ignore[import-untyped]
import pytest
import waiting
from execx_sim.app import Simulator
from execx_sim.core import marketdata as md
from execx_sim.core.synthetic import FlowConfig
from execx_sim.core.types import PublicTrade, Side

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "conformance"))

import test_binance_futures_ccxt as binance_futures
import test_binance_spot_ccxt as binance_spot
import test_bybit_ccxt as bybit
import test_okx_ccxt as okx

T = TypeVar("T")
D = Decimal

# (ccxt id, simulator market, engine symbol, ccxt symbol)
MARKETS = [
    ("binance", "binance-spot", "BTCUSDT", "BTC/USDT"),
    ("binanceusdm", "binance-usdm-future", "BTCUSDT", "BTC/USDT:USDT"),
    ("binancecoinm", "binance-coinm-future", "BTCUSD_PERP", "BTC/USD:BTC"),
    ("bybit", "bybit-spot", "BTCUSDT", "BTC/USDT"),
    ("bybit", "bybit-linear", "BTCUSDT", "BTC/USDT:USDT"),
    ("bybit", "bybit-inverse", "BTCUSD", "BTC/USD:BTC"),
    ("okx", "okx", "BTC-USDT", "BTC/USDT"),
    ("okx", "okx", "BTC-USDT-SWAP", "BTC/USDT:USDT"),
    ("deribit", "deribit", "BTC-PERPETUAL", "BTC/USD:BTC"),
]


@pytest.fixture(scope="module")
async def live() -> AsyncIterator[Simulator]:
    """A simulator whose synthetic market moves and trades (20 steps a second per symbol)."""
    s = Simulator(seed=11, flow=FlowConfig(rate=20.0, trade_probability=0.5))
    await s.start()
    yield s
    await s.stop()


def make(ccxt_id: str, pro: bool, sim: Simulator) -> Any:
    lib = ccxt_pro if pro else ccxt_async
    if ccxt_id == "binance":
        return binance_spot.configure(lib.binance({}), sim)
    if ccxt_id in ("binanceusdm", "binancecoinm"):
        ex = getattr(lib, ccxt_id)({"options": {"fetchCurrencies": False}, "enableRateLimit": False})
        return binance_futures.point_at_sim(ex, sim, "usdm" if ccxt_id == "binanceusdm" else "coinm")
    if ccxt_id == "bybit":
        return bybit.configure(lib.bybit({"enableRateLimit": False}), sim)
    if ccxt_id == "okx":
        return okx.configure(lib.okx({}), sim)
    ex = lib.deribit({"enableRateLimit": False})
    urls = sim.ready["venues"]["deribit"]
    ex.urls["api"]["rest"] = urls["rest"]
    if pro:
        ex.urls["api"]["ws"] = urls["ws"]
    return ex


async def within(aw: Awaitable[T], seconds: float = 10.0) -> T:
    return await asyncio.wait_for(aw, seconds)


def check_book(book: dict[str, Any], what: str) -> None:
    bids, asks = book["bids"], book["asks"]
    assert len(bids) >= 5 and len(asks) >= 5, f"{what}: {len(bids)} bids, {len(asks)} asks"
    assert [b[0] for b in bids] == sorted((b[0] for b in bids), reverse=True), f"{what}: bids not best first"
    assert [a[0] for a in asks] == sorted(a[0] for a in asks), f"{what}: asks not best first"
    assert bids[0][0] < asks[0][0], f"{what}: crossed book {bids[0]} / {asks[0]}"
    assert all(level[1] > 0 for level in bids + asks), f"{what}: a level without size"


@pytest.mark.parametrize(("ccxt_id", "market", "symbol", "unified"), MARKETS, ids=[f"{m[1]}:{m[2]}" for m in MARKETS])
async def test_ccxt_public_market_data(live: Simulator, ccxt_id: str, market: str, symbol: str, unified: str) -> None:
    trades = live.exchange.markets[market].public_trades[symbol]
    await waiting.eventually(lambda: len(trades) >= 3, f"three trades on {market} {symbol}", within_s=15)
    rest, pro = make(ccxt_id, False, live), make(ccxt_id, True, live)
    try:
        ticker = await within(rest.fetch_ticker(unified))
        assert ticker["symbol"] == unified and ticker["last"] > 0, ticker
        if ticker["bid"] is not None and ticker["ask"] is not None:  # Binance futures' 24 h ticker has no bid/ask
            assert ticker["bid"] < ticker["ask"], ticker
        assert ticker["low"] <= ticker["last"] <= ticker["high"], ticker

        check_book(await within(rest.fetch_order_book(unified)), f"fetch_order_book {unified}")

        fetched = await within(rest.fetch_trades(unified))
        assert fetched, "fetch_trades returned nothing"
        assert all(t["side"] in ("buy", "sell") and t["price"] > 0 and t["amount"] > 0 for t in fetched), fetched[:3]

        candles = await within(rest.fetch_ohlcv(unified, "1m"))
        traded = [c for c in candles if c[5]]
        assert traded, f"no traded 1m candle: {candles[-3:]}"
        for ts, o, h, low, c, _v in traded:
            assert ts % 60_000 == 0 and low <= min(o, c) <= max(o, c) <= h, (ts, o, h, low, c)

        check_book(await within(pro.watch_order_book(unified)), f"watch_order_book {unified}")
        streamed = await within(pro.watch_trades(unified))
        assert streamed and all(t["symbol"] == unified and t["price"] > 0 for t in streamed), streamed[:3]
        live_ticker = await within(pro.watch_ticker(unified))
        assert live_ticker["symbol"] == unified and live_ticker["last"] > 0, live_ticker
        if ccxt_id != "deribit":  # kline streams: Binance @kline_<i>, Bybit kline.<i>.<s>, OKX candle<bar>
            bars = await within(pro.watch_ohlcv(unified, "1m"))
            assert bars and bars[-1][0] % 60_000 == 0 and bars[-1][3] <= bars[-1][4] <= bars[-1][2], bars
    finally:
        await rest.close()
        await pro.close()


# ---------------------------------------------------------------------------------------------- OKX


def okx_checksum(bids: dict[str, str], asks: dict[str, str]) -> int:
    """The documented checksum, computed independently from a client-side book kept as strings."""
    b = sorted(bids.items(), key=lambda kv: D(kv[0]), reverse=True)[:25]
    a = sorted(asks.items(), key=lambda kv: D(kv[0]))[:25]
    parts: list[str] = []
    for i in range(25):
        if i < len(b):
            parts += b[i]
        if i < len(a):
            parts += a[i]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - 2**32 if crc >= 2**31 else crc


async def test_okx_books_seq_chain_and_checksum(live: Simulator) -> None:
    url = live.ready["venues"]["okx"]["public"]
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_json({"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT-SWAP"}]})
        bids: dict[str, str] = {}
        asks: dict[str, str] = {}
        seq, updates = None, 0
        while updates < 8:
            msg = json.loads((await within(ws.receive())).data)
            if msg.get("event"):
                assert msg["event"] == "subscribe", msg
                continue
            (data,) = msg["data"]
            if msg["action"] == "snapshot":
                assert seq is None and data["prevSeqId"] == -1
                bids = {p: s for p, s, _, _ in data["bids"]}
                asks = {p: s for p, s, _, _ in data["asks"]}
            else:
                assert data["prevSeqId"] == seq, (data["prevSeqId"], seq)
                updates += 1
                for side, levels in ((bids, data["bids"]), (asks, data["asks"])):
                    for p, s, _, _ in levels:
                        if D(s) == 0:
                            assert side.pop(p, None) is not None, f"deleted a level never sent: {p}"
                        else:
                            side[p] = s
            assert data["seqId"] > (seq or 0)
            seq = data["seqId"]
            assert data["checksum"] == okx_checksum(bids, asks), "checksum disagrees with the book kept"
            assert D(max(bids, key=D)) < D(min(asks, key=D))


async def test_okx_candles_and_tickers_rest(live: Simulator) -> None:
    rest = live.ready["venues"]["okx"]["rest"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{rest}/api/v5/market/candles", params={"instId": "BTC-USDT", "bar": "1m"}) as r:
            body = await r.json()
        assert body["code"] == "0" and body["data"], body
        times = [int(row[0]) for row in body["data"]]
        assert times == sorted(times, reverse=True) and all(len(row) == 9 for row in body["data"])
        async with http.get(f"{rest}/api/v5/market/candles", params={"instId": "BTC-USDT", "bar": "7m"}) as r:
            bad = await r.json()
        assert bad["code"] == "51000" and "bar" in bad["msg"], bad
        async with http.get(f"{rest}/api/v5/public/funding-rate", params={"instId": "BTC-USDT-SWAP"}) as r:
            (funding,) = (await r.json())["data"]
        assert funding["fundingRate"] == "0.0001" and int(funding["fundingTime"]) % md.FUNDING_INTERVAL_MS == 0


# -------------------------------------------------------------------------------------------- Bybit


async def test_bybit_rest_shapes_and_tickers_topic(live: Simulator) -> None:
    urls = live.ready["venues"]["bybit-linear"]
    async with aiohttp.ClientSession() as http:
        q = {"category": "linear", "symbol": "BTCUSDT", "limit": "3"}
        async with http.get(f"{urls['rest']}/v5/market/orderbook", params=q) as r:
            book = (await r.json())["result"]
        assert len(book["b"]) == 3 and book["u"] >= 1 and book["seq"] >= 1 and book["s"] == "BTCUSDT", book
        q = {"category": "linear", "symbol": "BTCUSDT", "interval": "1"}
        async with http.get(f"{urls['rest']}/v5/market/kline", params=q) as r:
            rows = (await r.json())["result"]["list"]
        assert rows and [int(r[0]) for r in rows] == sorted((int(r[0]) for r in rows), reverse=True)
        q = {"category": "option", "baseCoin": "BTC"}
        async with http.get(f"{urls['rest']}/v5/market/tickers", params=q) as r:
            chain = (await r.json())["result"]["list"]
        assert len(chain) >= 2 and all("underlyingPrice" in row and "markIv" in row for row in chain), chain[:1]
        q = {"category": "spot", "symbol": "NOPEUSDT"}
        async with http.get(f"{urls['rest']}/v5/market/orderbook", params=q) as r:
            refused = await r.json()
        assert refused["retCode"] == 10001 and "symbol" in refused["retMsg"], refused
        async with http.ws_connect(urls["public"]) as ws:
            await ws.send_json({"op": "subscribe", "args": ["tickers.BTCUSDT"]})
            ack = json.loads((await within(ws.receive())).data)
            assert ack["success"] is True, ack
            first = json.loads((await within(ws.receive())).data)
        data = first["data"]
        assert first["topic"] == "tickers.BTCUSDT" and data["fundingRate"] == "0.0001", first
        assert D(data["bid1Price"]) < D(data["ask1Price"]) and D(data["markPrice"]) > 0, data


async def test_bybit_orderbook_snapshot_then_deltas(live: Simulator) -> None:
    """``orderbook.50``: one snapshot, then deltas whose ``u`` follows on by one; a book kept from them
    stays uncrossed, within 50 levels, without empty levels, and agrees with a fresh snapshot."""
    url = live.ready["venues"]["bybit-linear"]["public"]
    topic = "orderbook.50.BTCUSDT"

    def apply(book: dict[str, dict[str, str]], data: dict[str, Any]) -> None:
        for side, key in (("b", "b"), ("a", "a")):
            for px, sz in data[key]:
                if D(sz) == 0:
                    assert book[side].pop(px, None) is not None, f"deleted a level never sent: {px}"
                else:
                    book[side][px] = sz

    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_json({"op": "subscribe", "args": [topic]})
        book: dict[str, dict[str, str]] = {"b": {}, "a": {}}
        u, deltas = None, 0
        while deltas < 6:
            msg = json.loads((await within(ws.receive())).data)
            if "op" in msg:
                assert msg["success"] is True, msg
                continue
            data = msg["data"]
            if msg["type"] == "snapshot":
                assert u is None, "a second snapshot"
                book = {"b": dict(data["b"]), "a": dict(data["a"])}
            else:
                assert msg["type"] == "delta" and data["u"] == u + 1, (data["u"], u)
                deltas += 1
                apply(book, data)
            u = data["u"]
            assert 0 < len(book["b"]) <= 50 and 0 < len(book["a"]) <= 50
            assert D(max(book["b"], key=D)) < D(min(book["a"], key=D))
        async with http.ws_connect(url) as second:  # a late subscriber's snapshot is the book kept so far
            await second.send_json({"op": "subscribe", "args": [topic]})
            while True:
                fresh = json.loads((await within(second.receive())).data)
                if fresh.get("type") == "snapshot":
                    break
            while u < fresh["data"]["u"]:  # the first connection catches up to the same update id
                msg = json.loads((await within(ws.receive())).data)
                apply(book, msg["data"])
                u = msg["data"]["u"]
        assert u == fresh["data"]["u"] and book == {"b": dict(fresh["data"]["b"]), "a": dict(fresh["data"]["a"])}


# ------------------------------------------------------------------------------------------ Deribit


async def test_deribit_chart_and_option_chain(live: Simulator) -> None:
    url = live.ready["venues"]["deribit"]["rest"] + "/api/v2"
    now = live.exchange.now_ms()
    async with aiohttp.ClientSession() as http:
        q = {
            "instrument_name": "BTC-PERPETUAL",
            "start_timestamp": str(now - 3_600_000),
            "end_timestamp": str(now),
            "resolution": "1",
        }
        await waiting.eventually(
            lambda: live.exchange.markets["deribit"].public_trades["BTC-PERPETUAL"], "a Deribit trade", within_s=15
        )
        async with http.get(f"{url}/public/get_tradingview_chart_data", params=q) as r:
            chart = (await r.json())["result"]
        assert chart["status"] == "ok" and len(chart["ticks"]) == len(chart["close"]) == len(chart["cost"]) >= 1
        async with http.get(f"{url}/public/get_book_summary_by_currency", params={"currency": "BTC"}) as r:
            summaries = (await r.json())["result"]
        options = [s for s in summaries if "underlying_price" in s]
        assert options and any(s["instrument_name"] == "BTC-PERPETUAL" for s in summaries), summaries[:2]
        async with http.get(f"{url}/public/get_tradingview_chart_data", params={**q, "resolution": "7"}) as r:
            bad = await r.json()
        assert bad["error"]["data"]["param"] == "resolution", bad


# ------------------------------------------------------------------------------- candles and memory


def feed(candles: md.Candles, start_ms: int, minutes: int, price: Decimal) -> None:
    for i in range(minutes):
        px = price + i % 7
        candles.add(PublicTrade("m", "S", i, px, D(1), Side.BUY if i % 2 else Side.SELL, start_ms + i * 60_000))


def test_candle_history_is_bounded_and_aggregates() -> None:
    """Ten days of one trade a minute: every tier stays within its ring, and a 5-minute candle equals
    the sum of its five 1-minute candles."""
    candles = md.Candles()
    start = 1_700_000_000_000 // md.DAY_MS * md.DAY_MS
    feed(candles, start, 10 * 1440, D(100))
    assert candles.size() <= md.MINUTE_BARS + md.HOUR_BARS + md.DAY_BARS
    ones = candles.bars("m", "S", md.MINUTE_MS, limit=10)
    fives = candles.bars("m", "S", 5 * md.MINUTE_MS, limit=2)
    last5 = [b for b in ones if b.open_ms >= fives[-1].open_ms]
    assert fives[-1].volume == sum(b.volume for b in last5) and fives[-1].high == max(b.high for b in last5)
    days = candles.bars("m", "S", md.DAY_MS, limit=100)
    assert len(days) == 10 and all(d.volume == 1440 for d in days)
    weeks = candles.bars("m", "S", 7 * md.DAY_MS)
    assert all((w.open_ms // md.DAY_MS + 3) % 7 == 0 for w in weeks)  # Mondays (the epoch was a Thursday)


def test_synthetic_market_data_is_deterministic_under_seed() -> None:
    """Two simulators with the same seed and clock print the same candles; another seed does not."""

    def run(seed: int) -> list[tuple[Any, ...]]:
        now = [1_800_000_000_000]
        sim = Simulator(seed=seed, clock=lambda: now[0])
        for _ in range(400):
            now[0] += 250
            sim.synthetic.step_all()
        bars = sim.marketdata.candles.bars("binance-spot", "BTCUSDT", md.MINUTE_MS)
        return [(b.open_ms, b.open, b.high, b.low, b.close, b.volume, b.count) for b in bars]

    first = run(5)
    assert first and first == run(5)
    assert first != run(6)


async def test_funding_history_and_open_interest_follow_the_clock() -> None:
    """17 h after start-up two funding times have passed: Binance USDⓈ-M ``fundingRate``, OKX
    ``funding-rate-history`` and Bybit ``funding/history`` list exactly those; open interest answers
    in each venue's shape."""
    now = [md.DAY_MS * 20_000 + 3 * md.HOUR_MS]  # 03:00 UTC: funding at 08:00 and 16:00 is to come
    sim = Simulator(quiet=True, seed=3, clock=lambda: now[0])
    await sim.start()
    try:
        now[0] += 17 * md.HOUR_MS
        expected = [md.DAY_MS * 20_000 + 8 * md.HOUR_MS, md.DAY_MS * 20_000 + 16 * md.HOUR_MS]
        urls = sim.ready["venues"]
        async with aiohttp.ClientSession() as http:
            q = {"symbol": "BTCUSDT"}
            async with http.get(urls["binance-usdm-future"]["rest"] + "/fapi/v1/fundingRate", params=q) as r:
                rows = await r.json()
            assert [row["fundingTime"] for row in rows] == expected and rows[0]["fundingRate"] == "0.00010000"
            async with http.get(urls["binance-usdm-future"]["rest"] + "/fapi/v1/openInterest", params=q) as r:
                oi = await r.json()
            assert oi["symbol"] == "BTCUSDT" and D(oi["openInterest"]) >= 0 and oi["time"] == now[0]
            q = {"instId": "BTC-USDT-SWAP"}
            async with http.get(urls["okx"]["rest"] + "/api/v5/public/funding-rate-history", params=q) as r:
                okx_rows = (await r.json())["data"]
            assert [int(row["fundingTime"]) for row in okx_rows] == expected[::-1]  # newest first
            q = {"category": "linear", "symbol": "BTCUSDT"}
            async with http.get(urls["bybit-linear"]["rest"] + "/v5/market/funding/history", params=q) as r:
                bybit_rows = (await r.json())["result"]["list"]
            assert [int(row["fundingRateTimestamp"]) for row in bybit_rows] == expected[::-1]
    finally:
        await sim.stop()
