"""ccxt ``bybit`` and ``ccxt.pro`` ``bybit`` against the simulated Bybit v5 venue.

Only URLs change: ``urls['api'][spot|futures|v2|public|private]`` -> the simulator's REST host,
``urls['api']['ws']['public'][<category>]`` / ``['private'][...]`` -> its websocket hosts. One
documented client option: ``enableRateLimit: False`` (ccxt's client-side throttle only slows the
tests down; the simulator enforces Bybit's own limits). No ccxt ``options`` are changed: the
start-up calls (``/v5/asset/coin/query-info`` for currencies, ``/v5/user/query-api`` and
``/v5/account/info`` for the unified-account check, instruments of all four categories with the
option base coins ccxt asks for) are served by the simulator.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.core.types import Side
from execx_sim.venues.bybit.instruments import option_expiry

CATEGORIES = ("spot", "linear", "inverse", "option")


def configure(ex: Any, sim: Simulator) -> Any:
    urls = sim.ready["venues"]["bybit-linear"]
    api = dict(ex.urls["api"])
    for key in ("spot", "futures", "v2", "public", "private"):
        api[key] = urls["rest"]
    if "ws" in api:
        public = urls["public"].rsplit("/", 1)[0]
        api["ws"] = {
            "public": {c: f"{public}/{c}" for c in CATEGORIES},
            "private": {
                "spot": {"unified": urls["private"], "nonUnified": urls["private"]},
                "contract": urls["private"],
                "usdc": urls["private"],
                "trade": urls["trade"],
            },
        }
    ex.urls["api"] = api
    return ex


@pytest.fixture
async def exchange(sim: Simulator, account: Account) -> AsyncIterator[Any]:
    ex = configure(
        ccxt_async.bybit({"apiKey": account.api_key, "secret": account.secret_key, "enableRateLimit": False}), sim
    )
    try:
        yield ex
    finally:
        await ex.close()


def top(sim: Simulator, market: str, symbol: str) -> tuple[Decimal, Decimal]:
    bid, _, ask, _ = sim.exchange.markets[market].books[symbol].top()
    assert bid is not None and ask is not None
    return bid, ask


async def test_load_markets_of_every_category(exchange: Any) -> None:
    markets = await exchange.load_markets()
    expiry = option_expiry(datetime.datetime.now(datetime.UTC).date()).strftime("%y%m%d")
    for symbol in ("BTC/USDT", "BTC/USDT:USDT", "BTC/USD:BTC", f"BTC/USD:USDC-{expiry}-100000-C"):
        assert symbol in markets, symbol
    assert markets["BTC/USDT:USDT"]["precision"]["price"] == 0.1
    assert markets["BTC/USDT:USDT"]["precision"]["amount"] == 0.001
    assert markets["BTC/USD:BTC"]["inverse"] is True
    assert "USDT" in exchange.currencies


async def test_place_amend_cancel_batch_balance_positions(sim: Simulator, exchange: Any) -> None:
    await exchange.load_markets()
    bid, _ = top(sim, "bybit-linear", "BTCUSDT")
    symbol = "BTC/USDT:USDT"
    order = await exchange.create_order(symbol, "limit", "buy", 0.01, float(bid - 50), {"clientOrderId": "ccxt-1"})
    assert order["id"] and order["clientOrderId"] == "ccxt-1"
    edited = await exchange.edit_order(order["id"], symbol, "limit", "buy", 0.01, float(bid - 60))
    assert edited["id"] == order["id"]
    fetched = await exchange.fetch_order(order["id"], symbol, {"acknowledged": True})
    assert fetched["price"] == float(bid - 60) and fetched["status"] == "open" and fetched["amount"] == 0.01
    opened = await exchange.fetch_open_orders(symbol)
    assert [o["clientOrderId"] for o in opened] == ["ccxt-1"]
    await exchange.cancel_order(order["id"], symbol)
    with pytest.raises(ccxt.OrderNotFound):
        await exchange.cancel_order(order["id"], symbol)

    batch = await exchange.create_orders(
        [
            {"symbol": symbol, "type": "limit", "side": "buy", "amount": 0.01, "price": float(bid - 70)},
            {"symbol": symbol, "type": "limit", "side": "buy", "amount": 0.01, "price": float(bid - 71)},
        ]
    )
    assert len(batch) == 2 and all(o["id"] for o in batch)
    cancelled = await exchange.cancel_orders([o["id"] for o in batch], symbol)
    assert len(cancelled) == 2
    assert await exchange.fetch_open_orders(symbol) == []

    await exchange.create_order(symbol, "market", "buy", 0.01)
    positions = await exchange.fetch_positions([symbol])
    assert positions[0]["contracts"] == 0.01 and positions[0]["side"] == "long"
    trades = await exchange.fetch_my_trades(symbol)
    assert sum(t["amount"] for t in trades) == pytest.approx(0.01) and trades[0]["takerOrMaker"] == "taker"
    balance = await exchange.fetch_balance()
    assert balance["total"]["USDT"] > 0 and balance["total"]["BTC"] == 7  # spot 2 + inverse 5 BTC
    await exchange.create_order(symbol, "limit", "sell", 0.01, float(bid + 500))
    await exchange.cancel_all_orders(symbol)
    assert await exchange.fetch_open_orders(symbol) == []


async def test_spot_and_option_orders(sim: Simulator, exchange: Any) -> None:
    markets = await exchange.load_markets()
    bid, _ = top(sim, "bybit-spot", "BTCUSDT")
    spot = await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, float(bid - 100))
    assert (await exchange.fetch_open_orders("BTC/USDT"))[0]["id"] == spot["id"]
    await exchange.cancel_order(spot["id"], "BTC/USDT")
    option = next(m for m in markets.values() if m["option"] and m["base"] == "BTC" and m["optionType"] == "call")
    obid, _ = top(sim, "bybit-option", option["id"])
    placed = await exchange.create_order(option["symbol"], "limit", "buy", 0.1, float(obid - 10))
    assert placed["id"]
    open_options = await exchange.fetch_open_orders(option["symbol"])
    assert open_options[0]["clientOrderId"]  # ccxt generates the orderLinkId options require
    await exchange.cancel_order(placed["id"], option["symbol"])


async def test_wrong_secret_is_the_venue_error(sim: Simulator, account: Account) -> None:
    ex = configure(ccxt_async.bybit({"apiKey": account.api_key, "secret": "wrong", "enableRateLimit": False}), sim)
    try:
        await ex.load_markets()  # the currencies call is signed
    except ccxt.AuthenticationError as e:
        assert "10004" in str(e)
    else:
        pytest.fail("a wrong secret must be refused")
    finally:
        await ex.close()


@pytest.mark.parametrize(("symbol", "market"), [("BTC/USDT:USDT", "bybit-linear"), ("BTC/USDT", "bybit-spot")])
async def test_pro_watch_orders_and_my_trades(sim: Simulator, account: Account, symbol: str, market: str) -> None:
    """Also on spot: ccxt picks its private topics from the account's unified status (a UTA account)."""
    ex = configure(
        ccxt_pro.bybit({"apiKey": account.api_key, "secret": account.secret_key, "enableRateLimit": False}), sim
    )
    try:
        await ex.load_markets()
        watch = asyncio.create_task(ex.watch_orders(symbol))
        trades_watch = asyncio.create_task(ex.watch_my_trades(symbol))
        venue = next(fe for fe in sim.frontends if fe.venue == market).venue_state  # type: ignore[attr-defined]
        deadline = asyncio.get_running_loop().time() + 10
        while not {"order", "execution"} <= {t for c in venue.ws.private.get(account.account_id, ()) for t in c.topics}:
            assert asyncio.get_running_loop().time() < deadline, "ccxt.pro never subscribed"
            await asyncio.sleep(0.01)
        placed = await ex.create_order(symbol, "market", "buy", 0.01)
        orders = await asyncio.wait_for(watch, 10)
        assert orders[-1]["id"] == placed["id"]
        trades = await asyncio.wait_for(trades_watch, 10)
        assert trades[-1]["order"] == placed["id"] and trades[-1]["side"] == "buy"
    finally:
        await ex.close()


async def own_sim(seed: int, market: str) -> tuple[Simulator, Any, Decimal]:
    """A started simulator of the test's own (it prints trades), a funded account's ccxt client on it, and the
    last price of ``market``'s BTCUSDT (a trade printed at the best ask)."""
    sim = Simulator(quiet=True, seed=seed)
    await sim.start()
    account = sim.exchange.create_account()
    sim.fund_default(account)
    _, last = top(sim, market, "BTCUSDT")
    sim.synthetic.print_trade(market, "BTCUSDT", last, Decimal("0.001"), Side.BUY)
    ex = configure(
        ccxt_async.bybit({"apiKey": account.api_key, "secret": account.secret_key, "enableRateLimit": False}), sim
    )
    return sim, ex, last


async def closed(ex: Any, order_id: str, symbol: str) -> Any:
    """ccxt's ``fetch_order`` until the order is closed (the fill is immediate; polled for a loaded machine)."""
    for _ in range(600):
        o = await ex.fetch_order(order_id, symbol, {"acknowledged": True})
        if o["status"] == "closed":
            return o
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {order_id} not closed")


async def test_trigger_order_is_armed_at_the_venue_and_fires_there() -> None:
    """A conditional order (``triggerPrice`` + ``triggerDirection``) on a simulator of the test's own (it
    prints trades): listed with ``trigger: True`` until the last price reaches it, then filled."""
    sim, ex, last = await own_sim(11, "bybit-linear")
    trade = sim.synthetic.print_trade
    try:
        await ex.load_markets()
        order = await ex.create_order(
            "BTC/USDT:USDT",
            "market",
            "buy",
            0.01,
            None,
            {"triggerPrice": float(last + 20), "triggerDirection": "ascending", "clientOrderId": "ccxt-stop"},
        )
        pending = await ex.fetch_open_orders("BTC/USDT:USDT", None, None, {"trigger": True})
        assert [(o["id"], o["triggerPrice"]) for o in pending] == [(order["id"], float(last + 20))]
        trade("bybit-linear", "BTCUSDT", last + 20, Decimal("0.001"), Side.BUY)
        done = await closed(ex, order["id"], "BTC/USDT:USDT")
        assert done["filled"] == 0.01 and done["clientOrderId"] == "ccxt-stop"
    finally:
        await ex.close()
        await sim.stop()


async def test_spot_trigger_orders_are_held_under_stop_order() -> None:
    """ccxt's spot trigger orders (``triggerPrice`` on a spot market: ccxt sends ``orderFilter=StopOrder`` and no
    ``triggerDirection``): listed and cancelled with ``trigger: True``; a market buy one fires at the venue's
    last price and fills."""
    sim, ex, last = await own_sim(12, "bybit-spot")
    trade = sim.synthetic.print_trade
    try:
        await ex.load_markets()
        sl = await ex.create_order(
            "BTC/USDT", "limit", "sell", 0.01, float(last - 310), {"triggerPrice": float(last - 300)}
        )
        buy = await ex.create_order(
            "BTC/USDT", "market", "buy", 0.01, None, {"triggerPrice": float(last + 20), "clientOrderId": "ccxt-ss"}
        )
        pending = await ex.fetch_open_orders("BTC/USDT", None, None, {"trigger": True})
        assert sorted((o["id"], o["triggerPrice"]) for o in pending) == sorted(
            [(sl["id"], float(last - 300)), (buy["id"], float(last + 20))]
        )
        await ex.cancel_order(sl["id"], "BTC/USDT", {"trigger": True})
        pending = await ex.fetch_open_orders("BTC/USDT", None, None, {"trigger": True})
        assert [o["id"] for o in pending] == [buy["id"]]
        trade("bybit-spot", "BTCUSDT", last + 20, Decimal("0.001"), Side.BUY)
        done = await closed(ex, buy["id"], "BTC/USDT")
        assert done["filled"] == 0.01 and done["clientOrderId"] == "ccxt-ss"
    finally:
        await ex.close()
        await sim.stop()
