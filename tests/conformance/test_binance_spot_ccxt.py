"""ccxt (``binance`` and ``ccxt.pro`` ``binance``) against the simulated Binance spot venue.

Only URLs and documented ccxt options change:
- ``urls['api']['public' | 'private' | 'v1']`` -> our REST host, ``urls['api']['ws']['spot']`` -> our
  stream host, ``urls['api']['ws']['ws-api']['spot']`` -> our WebSocket API;
- ``options['fetchMarkets'] = {'types': ['spot']}`` (ccxt would also load USD-M / COIN-M markets),
  ``options['fetchCurrencies'] = False`` (``/sapi/v1/capital/config/getall`` is a wallet endpoint
  the simulator does not serve; ccxt then derives currencies from the markets) and
  ``options['fetchMargins'] = False`` (no ``/sapi`` margin pair lists).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.venues.binance.spot_frontend import SpotFrontend
from waiting import eventually

T = TypeVar("T")
SYMBOL = "BTC/USDT"


def configure(ex: Any, sim: Simulator) -> Any:
    urls = sim.ready["venues"]["binance-spot"]
    api = dict(ex.urls["api"])
    api["public"] = urls["rest"] + "/api/v3"
    api["private"] = urls["rest"] + "/api/v3"
    api["v1"] = urls["rest"] + "/api/v1"
    if "ws" in api:
        ws = dict(api["ws"])
        ws["spot"] = urls["stream"] + "/ws"
        ws["ws-api"] = dict(ws["ws-api"], spot=urls["wsApi"])
        api["ws"] = ws
    ex.urls["api"] = api
    ex.options["fetchMarkets"] = {"types": ["spot"]}
    ex.options["fetchCurrencies"] = False
    ex.options["fetchMargins"] = False
    return ex


@pytest.fixture
async def exchange(sim: Simulator, account: Account) -> AsyncIterator[Any]:
    ex = configure(ccxt_async.binance({"apiKey": account.api_key, "secret": account.secret_key}), sim)
    try:
        yield ex
    finally:
        await ex.close()


@pytest.fixture
async def pro(sim: Simulator, account: Account) -> AsyncIterator[Any]:
    ex = configure(ccxt_pro.binance({"apiKey": account.api_key, "secret": account.secret_key}), sim)
    try:
        yield ex
    finally:
        await ex.close()


async def admin(sim: Simulator, path: str, body: dict[str, Any]) -> Any:
    async with aiohttp.ClientSession() as s, s.post(sim.ready["admin"] + path, json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def within(aw: Awaitable[T], seconds: float = 5.0) -> T:
    return await asyncio.wait_for(aw, seconds)


def spot_frontend(sim: Simulator) -> SpotFrontend:
    return next(fe for fe in sim.frontends if isinstance(fe, SpotFrontend))


def best_bid_ask(sim: Simulator, symbol: str = "BTCUSDT") -> tuple[Decimal, Decimal]:
    book = sim.exchange.markets["binance-spot"].books[symbol]
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is not None and ask is not None
    return bid, ask


async def test_load_markets_and_market_data(exchange: Any, sim: Simulator) -> None:
    markets = await exchange.load_markets()
    btc = markets[SYMBOL]
    assert btc["id"] == "BTCUSDT" and btc["spot"] and btc["active"]
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["amount"]["min"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5
    assert "ETH/BTC" in markets
    bid, ask = best_bid_ask(sim)
    ticker = await exchange.fetch_ticker(SYMBOL)
    assert ticker["bid"] == float(bid) and ticker["ask"] == float(ask)
    book = await exchange.fetch_order_book(SYMBOL, limit=5)
    assert book["bids"][0][0] == float(bid) and book["asks"][0][0] == float(ask)
    assert len(book["bids"]) == 5
    assert await exchange.fetch_time() > 0


async def test_order_lifecycle(exchange: Any, sim: Simulator) -> None:
    await exchange.load_markets()
    bid, ask = best_bid_ask(sim)
    price = float(bid - 100)
    order = await exchange.create_order(SYMBOL, "limit", "buy", 0.001, price)
    assert order["status"] == "open" and order["price"] == price and order["amount"] == 0.001
    assert order["clientOrderId"]

    open_orders = await exchange.fetch_open_orders(SYMBOL)
    assert [o["id"] for o in open_orders] == [order["id"]]
    fetched = await exchange.fetch_order(order["id"], SYMBOL)
    assert fetched["status"] == "open" and fetched["remaining"] == 0.001

    balance = await exchange.fetch_balance()
    assert balance["USDT"]["used"] == pytest.approx(price * 0.001)
    assert balance["USDT"]["free"] == pytest.approx(100_000 - price * 0.001)

    # editOrder on spot = POST /api/v3/order/cancelReplace (STOP_ON_FAILURE)
    edited = await exchange.edit_order(order["id"], SYMBOL, "limit", "buy", 0.002, price - 10)
    assert edited["id"] != order["id"] and edited["price"] == price - 10 and edited["amount"] == 0.002
    old = await exchange.fetch_order(order["id"], SYMBOL)
    assert old["status"] == "canceled"

    cancelled = await exchange.cancel_order(edited["id"], SYMBOL)
    assert cancelled["status"] == "canceled"
    assert await exchange.fetch_open_orders(SYMBOL) == []

    # post-only = LIMIT_MAKER
    maker = await exchange.create_order(SYMBOL, "limit", "sell", 0.001, float(ask + 50), {"postOnly": True})
    assert maker["status"] == "open" and maker["postOnly"] is True
    with pytest.raises(ccxt_async.InvalidOrder):  # -2010 "Order would immediately match and take."
        await exchange.create_order(SYMBOL, "limit", "buy", 0.001, float(ask), {"postOnly": True})

    await exchange.create_order(SYMBOL, "limit", "buy", 0.001, price)
    cancelled_all = await exchange.cancel_all_orders(SYMBOL)
    assert len(cancelled_all) == 2 and all(o["status"] == "canceled" for o in cancelled_all)
    balance = await exchange.fetch_balance()
    assert balance["USDT"]["used"] == 0 and balance["BTC"]["used"] == 0


async def test_market_orders_and_trades(exchange: Any, sim: Simulator) -> None:
    await exchange.load_markets()
    bid, ask = best_bid_ask(sim, "ETHUSDT")
    bought = await exchange.create_order("ETH/USDT", "market", "buy", 0.01)
    assert bought["status"] == "closed" and bought["filled"] == 0.01
    assert bought["average"] == float(ask)
    assert bought["trades"] and bought["trades"][0]["price"] == float(ask)
    # a market buy sized in quote currency (quoteOrderQty)
    spent = await exchange.create_order("ETH/USDT", "market", "buy", None, None, {"quoteOrderQty": 50})
    assert spent["status"] == "closed" and 0 < spent["cost"] <= 50
    sold = await exchange.create_order("ETH/USDT", "market", "sell", 0.01)
    assert sold["average"] == float(bid)

    trades = await exchange.fetch_my_trades("ETH/USDT")
    assert len(trades) == 3
    first = trades[0]
    assert first["order"] == bought["id"] and first["side"] == "buy" and first["takerOrMaker"] == "taker"
    assert first["fee"]["currency"] == "ETH" and first["fee"]["cost"] == pytest.approx(0.01 * 0.001)
    public = await exchange.fetch_trades("ETH/USDT")  # aggTrades
    assert [(t["side"], t["price"]) for t in public[-2:]] == [("buy", float(ask)), ("sell", float(bid))]
    orders = await exchange.fetch_orders("ETH/USDT")  # allOrders
    assert [o["id"] for o in orders] == [bought["id"], spent["id"], sold["id"]]
    assert all(o["status"] == "closed" for o in orders)
    candles = await exchange.fetch_ohlcv("ETH/USDT", "1m")
    assert candles[-1][4] == float(bid) and candles[-1][5] > 0  # the last close is the last print
    balance = await exchange.fetch_balance()
    assert balance["ETH"]["total"] == pytest.approx(20 + 0.01 * 0.999 + spent["filled"] * 0.999 - 0.01)


async def test_watch_orders_and_my_trades(pro: Any, sim: Simulator, account: Account) -> None:
    await pro.load_markets()
    bid, _ = best_bid_ask(sim, "SOLUSDT")
    price = float(bid + Decimal("0.01"))  # the new best bid, ahead of the background maker
    listeners = spot_frontend(sim).ws_api.listeners

    orders_task = asyncio.create_task(pro.watch_orders("SOL/USDT"))
    await eventually(lambda: account.account_id in listeners, within_s=5.0)
    placed = await pro.create_order("SOL/USDT", "limit", "buy", 1, price)
    updates = await within(orders_task)
    assert updates[-1]["id"] == placed["id"] and updates[-1]["status"] == "open"

    trades_task = asyncio.create_task(pro.watch_my_trades("SOL/USDT"))
    fills_task = asyncio.create_task(pro.watch_orders("SOL/USDT"))
    await admin(
        sim,
        "/admin/market/trade",
        {"market": "binance-spot", "symbol": "SOLUSDT", "price": str(price), "qty": "1", "aggressor": "SELL"},
    )
    trades = await within(trades_task)
    assert trades[-1]["order"] == placed["id"] and trades[-1]["price"] == price and trades[-1]["amount"] == 1
    assert trades[-1]["takerOrMaker"] == "maker" and trades[-1]["side"] == "buy"
    orders = await within(fills_task)
    assert orders[-1]["id"] == placed["id"] and orders[-1]["status"] == "closed"


async def test_watch_public_streams(pro: Any, sim: Simulator) -> None:
    await pro.load_markets()
    bid, _ = best_bid_ask(sim, "BNBUSDT")
    trades_task = asyncio.create_task(pro.watch_trades("BNB/USDT"))
    tops_task = asyncio.create_task(pro.watch_bids_asks(["BNB/USDT"]))
    streams = spot_frontend(sim).streams
    await eventually(lambda: {"bnbusdt@trade", "bnbusdt@bookTicker"} <= set(streams.by_stream), within_s=5.0)
    await admin(
        sim,
        "/admin/market/trade",
        {"market": "binance-spot", "symbol": "BNBUSDT", "price": str(bid), "qty": "0.5", "aggressor": "SELL"},
    )
    trades = await within(trades_task)
    assert trades[-1]["price"] == float(bid) and trades[-1]["side"] == "sell" and trades[-1]["amount"] == 0.5
    # The print may move the top more than once: follow the updates until the last one is seen.
    new_bid, new_ask = best_bid_ask(sim, "BNBUSDT")
    tops = await within(tops_task)
    deadline = time.monotonic() + 5
    while (tops["BNB/USDT"]["bid"], tops["BNB/USDT"]["ask"]) != (float(new_bid), float(new_ask)):
        assert time.monotonic() < deadline, tops
        tops = await within(pro.watch_bids_asks(["BNB/USDT"]))


async def test_wrong_secret_is_authentication_error(sim: Simulator, account: Account) -> None:
    ex = configure(ccxt_async.binance({"apiKey": account.api_key, "secret": "not-the-secret"}), sim)
    try:
        await ex.load_markets()
        with pytest.raises(ccxt_async.AuthenticationError, match="-1022"):
            await ex.fetch_balance()
    finally:
        await ex.close()


async def test_ws_api_order_entry(pro: Any, sim: Simulator) -> None:
    """ccxt.pro's WebSocket API order entry (``order.place`` / ``order.cancelReplace`` / ``order.cancel`` ...)."""
    await pro.load_markets()
    bid, _ = best_bid_ask(sim, "ETHUSDT")
    price = float(bid - 20)
    order = await within(pro.create_order_ws("ETH/USDT", "limit", "buy", 0.01, price))
    assert order["status"] == "open" and order["price"] == price
    edited = await within(pro.edit_order_ws(order["id"], "ETH/USDT", "limit", "buy", 0.02, price - 1))
    assert edited["id"] != order["id"] and edited["amount"] == 0.02
    fetched = await within(pro.fetch_order_ws(edited["id"], "ETH/USDT"))
    assert fetched["status"] == "open" and fetched["price"] == price - 1
    open_orders = await within(pro.fetch_open_orders_ws("ETH/USDT"))
    assert [o["id"] for o in open_orders] == [edited["id"]]
    cancelled = await within(pro.cancel_order_ws(edited["id"], "ETH/USDT"))
    assert cancelled["status"] == "canceled"
    # ccxt 4.5's fetchBalanceWs parses account.status without a market type and so returns no
    # currencies; the raw answer it received is checked instead.
    balance = await within(pro.fetch_balance_ws())
    usdt = next(b for b in balance["info"]["balances"] if b["asset"] == "USDT")
    assert usdt == {"asset": "USDT", "free": "100000.00000000", "locked": "0.00000000"}


async def test_watch_order_book(pro: Any, exchange: Any, sim: Simulator) -> None:
    """ccxt.pro keeps a local book from the diff-depth stream plus a REST snapshot, by update ids."""
    await pro.load_markets()
    await exchange.load_markets()
    book_task = asyncio.create_task(pro.watch_order_book("ETH/BTC"))
    streams = spot_frontend(sim).streams
    await eventually(lambda: "ethbtc@depth@100ms" in streams.by_stream, within_s=5.0)
    bid, ask = best_bid_ask(sim, "ETHBTC")
    inside = float(bid + Decimal("0.00001"))
    placed = await exchange.create_order("ETH/BTC", "limit", "buy", 0.5, inside)
    book = await within(book_task)
    deadline = time.monotonic() + 5
    while not book["bids"] or book["bids"][0][0] != inside:
        assert time.monotonic() < deadline, book["bids"][:3]
        book = await within(pro.watch_order_book("ETH/BTC"))
    assert book["bids"][0] == [inside, 0.5] and book["asks"][0][0] == float(ask)
    # a partial fill (the print leaves the background buyer's 0.2 at the level) and a cancel are diffs too
    await admin(
        sim,
        "/admin/market/trade",
        {"market": "binance-spot", "symbol": "ETHBTC", "price": str(inside), "qty": "0.2", "aggressor": "SELL"},
    )
    assert (await exchange.fetch_order(placed["id"], "ETH/BTC"))["filled"] == 0.2

    def sim_depth() -> tuple[list[list[float]], list[list[float]]]:
        bids, asks = sim.exchange.markets["binance-spot"].books["ETHBTC"].depth(10)
        return [[float(p), float(q)] for p, q in bids], [[float(p), float(q)] for p, q in asks]

    while (book["bids"][:10], book["asks"][:10]) != sim_depth():
        assert time.monotonic() < deadline, (book["bids"][:3], sim_depth()[0][:3])
        book = await within(pro.watch_order_book("ETH/BTC"))
    assert book["bids"][0] == [inside, 0.5]
    await exchange.cancel_order(placed["id"], "ETH/BTC")
    while (book["bids"][:10], book["asks"][:10]) != sim_depth():
        assert time.monotonic() < deadline, (book["bids"][:3], sim_depth()[0][:3])
        book = await within(pro.watch_order_book("ETH/BTC"))
    assert book["bids"][0] == [inside, 0.2]


async def test_contingent_orders_stop_loss_limit_trailing_and_take_profit() -> None:
    """ccxt's spot stop orders (``stopLossPrice`` on a limit order: ``STOP_LOSS_LIMIT`` with ``stopPrice``;
    ``trailingDelta`` in BIPS; ``TAKE_PROFIT`` over the WebSocket API's ``order.place``) on a simulator of
    the test's own (it prints trades): a stop price the last price already reached is -2010 "Stop price would
    trigger immediately."; an armed stop is NEW, not working (``workingTime`` -1, ``isWorking`` false) and
    listed as open; the last price reaching it makes it work and fill under the same orderId (``executionReport``
    TRADE FILLED with its ``W``); a trailing stop and a take-profit are cancelled while armed."""
    from execx_sim.core.types import Side

    sim = Simulator(quiet=True, seed=12)
    await sim.start()
    account = sim.exchange.create_account()
    sim.fund_default(account)
    venue, symbol = "binance-spot", "BTCUSDT"
    ex = configure(ccxt_async.binance({"apiKey": account.api_key, "secret": account.secret_key}), sim)
    pro = configure(ccxt_pro.binance({"apiKey": account.api_key, "secret": account.secret_key}), sim)
    try:
        ask = sim.exchange.markets[venue].books[symbol].best_ask()
        assert ask is not None
        sim.synthetic.print_trade(venue, symbol, ask, Decimal("0.001"), Side.BUY)
        await ex.load_markets()
        assert "STOP_LOSS_LIMIT" in ex.market(SYMBOL)["info"]["orderTypes"]
        with pytest.raises(ccxt_async.BaseError) as crossed:  # a sell stop above the last price
            await ex.create_order(SYMBOL, "limit", "sell", 0.01, float(ask - 100), {"stopLossPrice": float(ask + 10)})
        assert "Stop price would trigger immediately." in str(crossed.value)
        stop = await ex.create_order(
            SYMBOL, "limit", "sell", 0.01, float(ask - 100), {"stopLossPrice": float(ask - 50), "clientOrderId": "sl-1"}
        )
        info = stop["info"]
        assert (info["type"], info["status"], info["stopPrice"], info["workingTime"]) == (
            "STOP_LOSS_LIMIT",
            "NEW",
            f"{ask - 50:.8f}",
            -1,
        )
        (listed,) = await ex.fetch_open_orders(SYMBOL)
        assert (listed["clientOrderId"], listed["info"]["isWorking"], listed["triggerPrice"]) == (
            "sl-1",
            False,
            float(ask - 50),
        )
        watching = asyncio.ensure_future(pro.watch_orders(SYMBOL))
        await eventually(lambda: spot_frontend(sim).ws_api.listeners.get(account.account_id), "user data subscribed")
        sim.synthetic.print_trade(venue, symbol, ask - 60, Decimal("0.001"), Side.SELL)
        reports: list[dict[str, Any]] = []
        while not reports or reports[-1]["X"] != "FILLED":
            for o in await within(watching, 10):
                reports.append(o["info"])
            watching = asyncio.ensure_future(pro.watch_orders(SYMBOL))
        watching.cancel()
        sl = [r for r in reports if r["c"] == "sl-1"]
        assert sl[-1]["x"] == "TRADE" and sl[-1]["X"] == "FILLED"  # (ccxt merges an order's updates: the
        # NEW it reports on firing is checked on the raw wire, test_binance_spot_edges.py)
        assert all(
            r["o"] == "STOP_LOSS_LIMIT" and r["P"] == f"{ask - 50:.8f}" and r["i"] == int(stop["id"]) for r in sl
        )
        assert sl[-1]["W"] > 0  # working since it fired
        done = await ex.fetch_order(stop["id"], SYMBOL)
        assert (done["status"], done["filled"], done["info"]["isWorking"]) == ("closed", 0.01, True)
        trailing = await ex.create_order(
            SYMBOL, "STOP_LOSS_LIMIT", "buy", 0.01, float(ask + 500), {"trailingDelta": 100}
        )
        assert (trailing["info"]["trailingDelta"], trailing["info"]["status"]) == (100, "NEW")
        with pytest.raises(ccxt_async.BaseError) as delta:
            await ex.create_order(SYMBOL, "STOP_LOSS_LIMIT", "buy", 0.01, float(ask + 500), {"trailingDelta": 5})
        assert "TRAILING_DELTA" in str(delta.value)
        assert (await ex.cancel_order(trailing["id"], SYMBOL))["status"] == "canceled"
        tp = await pro.create_order_ws(SYMBOL, "TAKE_PROFIT", "sell", 0.01, None, {"stopPrice": float(ask + 300)})
        assert (tp["info"]["type"], tp["info"]["status"], tp["info"]["workingTime"]) == ("TAKE_PROFIT", "NEW", -1)
        assert (await ex.cancel_order(tp["id"], SYMBOL))["status"] == "canceled"
        assert await ex.fetch_open_orders(SYMBOL) == []
    finally:
        await ex.close()
        await pro.close()
        await sim.stop()
