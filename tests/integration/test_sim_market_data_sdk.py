"""The official SDKs' REST market-data classes against the simulator's moving market, unchanged but
for the base URL: python-okx ``okx.MarketData.MarketAPI`` (``domain=``) and pybit
``unified_trading.HTTP`` (its ``endpoint`` attribute, pybit has no base-URL argument). Both SDKs are
synchronous; their calls run in a worker thread while the simulator serves on the test's loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import okx.MarketData as OkxMarket  # type: ignore[import-untyped]
import okx.PublicData as OkxPublic  # type: ignore[import-untyped]
import test_sim_market_data
import waiting
from execx_sim.app import Simulator
from pybit import unified_trading  # type: ignore[import-untyped]

D = Decimal
live = test_sim_market_data.live  # the moving-market simulator fixture (one per module)


async def sdk(call: Callable[[], Any]) -> Any:
    return await asyncio.wait_for(asyncio.to_thread(call), 10)


async def traded(sim: Simulator, market: str, symbol: str) -> None:
    tape = sim.exchange.markets[market].public_trades[symbol]
    await waiting.eventually(lambda: len(tape) >= 3, f"trades on {market} {symbol}", within_s=15)


async def test_python_okx_market_data(live: Simulator) -> None:
    await traded(live, "okx", "BTC-USDT-SWAP")
    rest = live.ready["venues"]["okx"]["rest"]
    market = OkxMarket.MarketAPI(flag="0", domain=rest, debug=False)
    public = OkxPublic.PublicAPI(flag="0", domain=rest, debug=False)
    (ticker,) = (await sdk(lambda: market.get_ticker(instId="BTC-USDT-SWAP")))["data"]
    assert D(ticker["bidPx"]) < D(ticker["askPx"]) and D(ticker["low24h"]) <= D(ticker["last"]), ticker
    tickers = (await sdk(lambda: market.get_tickers(instType="SWAP")))["data"]
    assert {t["instId"] for t in tickers} >= {"BTC-USDT-SWAP", "ETH-USDT-SWAP"}
    (book,) = (await sdk(lambda: market.get_orderbook(instId="BTC-USDT-SWAP", sz="5")))["data"]
    assert len(book["bids"]) == len(book["asks"]) == 5 and D(book["bids"][0][0]) < D(book["asks"][0][0])
    candles = (await sdk(lambda: market.get_candlesticks(instId="BTC-USDT-SWAP", bar="1m")))["data"]
    assert candles and all(D(c[3]) <= D(c[1]) <= D(c[2]) for c in candles), candles[:2]
    trades = (await sdk(lambda: market.get_trades(instId="BTC-USDT-SWAP", limit="5")))["data"]
    assert 1 <= len(trades) <= 5 and all(t["side"] in ("buy", "sell") for t in trades)
    (funding,) = (await sdk(lambda: public.get_funding_rate(instId="BTC-USDT-SWAP")))["data"]
    assert funding["fundingRate"] == "0.0001"
    (mark,) = (await sdk(lambda: public.get_mark_price(instType="SWAP", instId="BTC-USDT-SWAP")))["data"]
    assert D(mark["markPx"]) > 0


async def test_pybit_market_data(live: Simulator) -> None:
    await traded(live, "bybit-linear", "BTCUSDT")
    session = unified_trading.HTTP(max_retries=1)
    session.endpoint = live.ready["venues"]["bybit-linear"]["rest"]
    book = (await sdk(lambda: session.get_orderbook(category="linear", symbol="BTCUSDT", limit=5)))["result"]
    assert len(book["b"]) == 5 and D(book["b"][0][0]) < D(book["a"][0][0]) and book["u"] >= 1
    (ticker,) = (await sdk(lambda: session.get_tickers(category="linear", symbol="BTCUSDT")))["result"]["list"]
    assert ticker["fundingRate"] == "0.0001" and D(ticker["lowPrice24h"]) <= D(ticker["lastPrice"])
    kline = (await sdk(lambda: session.get_kline(category="linear", symbol="BTCUSDT", interval="1")))["result"]
    assert kline["list"] and kline["symbol"] == "BTCUSDT"
    trades = await sdk(lambda: session.get_public_trade_history(category="linear", symbol="BTCUSDT", limit=5))
    assert 1 <= len(trades["result"]["list"]) <= 5
    funding = await sdk(lambda: session.get_funding_rate_history(category="linear", symbol="BTCUSDT"))
    assert funding["retCode"] == 0
    oi = await sdk(lambda: session.get_open_interest(category="linear", symbol="BTCUSDT", intervalTime="5min"))
    assert oi["result"]["list"][0]["openInterest"] is not None
    chain = (await sdk(lambda: session.get_tickers(category="option", baseCoin="BTC")))["result"]["list"]
    assert chain and all(row["symbol"].startswith("BTC-") for row in chain)
