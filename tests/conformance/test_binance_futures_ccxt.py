"""ccxt (binanceusdm / binancecoinm, and ccxt.pro for the user stream) against the simulated Binance
futures venues, changing only URLs.

URL keys ccxt uses: REST ``urls['api']['fapiPublic' | 'fapiPrivate' | 'fapiPrivateV2' | ...]`` and
``['dapiPublic' | 'dapiPrivate' | 'dapiPrivateV2']``; websockets ``urls['api']['ws']['linear']`` /
``['inverse']`` (ccxt rewrites a URL ending in ``/ws`` to the routed ``/private/ws?listenKey=…`` for
USDⓈ-M). ``options['fetchCurrencies'] = False`` is ccxt's documented switch that stops
``load_markets`` from calling the spot ``sapi`` wallet endpoint, which is not part of a futures venue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]
import ccxt.pro as ccxtpro  # type: ignore[import-untyped]
import pytest
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.venues.binance.futures_frontend import FuturesFrontend

T = TypeVar("T")

FLAVORS = {
    "usdm": ("binance-usdm-future", "fapi", "linear", "BTC/USDT:USDT", "BTCUSDT", Decimal("0.01")),
    "coinm": ("binance-coinm-future", "dapi", "inverse", "BTC/USD:BTC", "BTCUSD_PERP", Decimal("2")),
}


def point_at_sim(ex: Any, sim: Simulator, flavor: str) -> Any:
    venue, kind, ws_kind = FLAVORS[flavor][:3]
    urls = sim.ready["venues"][venue]
    for key, value in list(ex.urls["api"].items()):
        if isinstance(value, str) and key.startswith(kind):
            ex.urls["api"][key] = urls["rest"] + value[value.index("/", len("https://")) :]
    if "ws" in ex.urls["api"]:
        ex.urls["api"]["ws"][ws_kind] = urls["stream"] + "/ws"
        ex.urls["api"]["ws"]["ws-api"][ws_kind] = urls["wsApi"]
    return ex


def make(cls: Any, sim: Simulator, flavor: str, account: Account, secret: str | None = None) -> Any:
    ex = cls(
        {
            "apiKey": account.api_key,
            "secret": secret if secret is not None else account.secret_key,
            "options": {"fetchCurrencies": False},
            "enableRateLimit": False,
        }
    )
    return point_at_sim(ex, sim, flavor)


async def within(aw: Awaitable[T], seconds: float = 10.0) -> T:
    return await asyncio.wait_for(aw, seconds)


async def admin(sim: Simulator, path: str, body: dict[str, Any]) -> Any:
    async with aiohttp.ClientSession() as http, http.post(sim.ready["admin"] + path, json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def frontend(sim: Simulator, venue: str) -> FuturesFrontend:
    fe = next(f for f in sim.frontends if f.venue == venue)
    assert isinstance(fe, FuturesFrontend)
    return fe


@pytest.fixture(params=["usdm", "coinm"])
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def exchange(sim: Simulator, flavor: str, account: Account) -> AsyncIterator[Any]:
    cls = ccxt_async.binanceusdm if flavor == "usdm" else ccxt_async.binancecoinm
    ex = make(cls, sim, flavor, account)
    try:
        await ex.load_markets()
        yield ex
    finally:
        await ex.close()


@pytest.fixture(autouse=True)
async def recentre(sim: Simulator, account: Account) -> AsyncIterator[None]:
    """Trades printed by a test eat into the static book: re-quote it around the start price after."""
    yield
    # Leave the shared session book as found: no resting orders of this test's account.
    for name in ("binance-usdm-future", "binance-coinm-future"):
        market = sim.exchange.markets[name]
        for order in market.open_orders(account):
            market.cancel(account, order.symbol, order.order_id)
    for flavor in FLAVORS.values():
        market = sim.exchange.markets[flavor[0]]
        sym = flavor[4]
        sim.synthetic.move_to(market.name, sym, market.instruments[sym].ref_price)


async def test_load_markets(exchange: Any, flavor: str) -> None:
    symbol = FLAVORS[flavor][3]
    market = exchange.market(symbol)
    assert market["swap"] and market["active"]
    assert market["linear"] is (flavor == "usdm")
    assert market["inverse"] is (flavor == "coinm")
    assert market["precision"]["price"] == 0.1
    if flavor == "usdm":
        assert market["contractSize"] == 1
        assert market["precision"]["amount"] == 0.001
        assert market["limits"]["cost"]["min"] == 100
    else:
        assert market["contractSize"] == 100
        assert market["precision"]["amount"] == 1
        assert market["settle"] == "BTC"


async def test_order_lifecycle(exchange: Any, flavor: str, sim: Simulator) -> None:
    symbol, _, qty = FLAVORS[flavor][3:]
    amount = float(qty)
    book = await exchange.fetch_order_book(symbol)
    best_bid, best_ask = book["bids"][0][0], book["asks"][0][0]

    order = await exchange.create_order(symbol, "limit", "buy", amount, best_bid - 100)
    assert order["status"] == "open" and order["price"] == pytest.approx(best_bid - 100)
    assert order["amount"] == amount

    edited = await exchange.edit_order(order["id"], symbol, "limit", "buy", amount * 2, best_bid - 110)
    assert edited["id"] == order["id"]
    assert edited["price"] == pytest.approx(best_bid - 110) and edited["amount"] == amount * 2

    open_orders = await exchange.fetch_open_orders(symbol)
    assert [o["id"] for o in open_orders] == [order["id"]]
    fetched = await exchange.fetch_order(order["id"], symbol)
    assert fetched["status"] == "open" and fetched["amount"] == amount * 2

    post_only = await exchange.create_order(symbol, "limit", "sell", amount, best_ask + 100, {"postOnly": True})
    assert post_only["status"] == "open"
    assert (await exchange.fetch_order(post_only["id"], symbol))["timeInForce"] == "PO"

    cancelled = await exchange.cancel_order(order["id"], symbol)
    assert cancelled["status"] == "canceled"
    await exchange.cancel_all_orders(symbol)
    assert await exchange.fetch_open_orders(symbol) == []
    assert (await exchange.fetch_order(post_only["id"], symbol))["status"] == "canceled"

    filled = await exchange.create_order(symbol, "market", "buy", amount)
    assert filled["status"] == "closed" and filled["filled"] == amount
    assert filled["average"] == pytest.approx(best_ask)

    balance = await exchange.fetch_balance()
    positions = await exchange.fetch_positions([symbol])
    [pos] = [p for p in positions if p["contracts"]]
    assert pos["side"] == "long" and pos["contracts"] == amount
    assert pos["entryPrice"] == pytest.approx(best_ask)
    # Exact numbers: wallet = start - taker fee (0.05 %); ccxt's total adds the unrealised PnL at the mark.
    wallet = {a["asset"]: Decimal(a["walletBalance"]) for a in balance["info"]["assets"]}
    entry = Decimal(str(best_ask))
    if flavor == "usdm":
        fee = entry * qty * Decimal("0.0005")
        assert wallet["USDT"] == Decimal(100000) - fee
        assert Decimal(str(balance["total"]["USDT"])) == Decimal(100000) - fee + Decimal(str(pos["unrealizedPnl"]))
    else:
        fee = (qty * 100 / entry * Decimal("0.0005")).quantize(Decimal("1e-8"))
        assert wallet["BTC"] == Decimal(5) - fee


async def test_post_only_cross_is_rejected(exchange: Any, flavor: str) -> None:
    symbol, _, qty = FLAVORS[flavor][3:]
    book = await exchange.fetch_order_book(symbol)
    expected = ccxt_async.InvalidOrder if flavor == "usdm" else ccxt_async.ExchangeError
    with pytest.raises(expected, match="-5022"):
        await exchange.create_order(symbol, "limit", "buy", float(qty), book["asks"][0][0], {"postOnly": True})
    assert await exchange.fetch_open_orders(symbol) == []


async def test_wrong_secret(sim: Simulator, flavor: str, account: Account) -> None:
    cls = ccxt_async.binanceusdm if flavor == "usdm" else ccxt_async.binancecoinm
    ex = make(cls, sim, flavor, account, secret="not-the-secret")
    try:
        await ex.load_markets()
        with pytest.raises(ccxt_async.AuthenticationError, match="-1022"):
            await ex.fetch_balance()
    finally:
        await ex.close()


async def test_watch_orders_and_my_trades(sim: Simulator, flavor: str, account: Account) -> None:
    venue, symbol, sym_id, qty = FLAVORS[flavor][0], *FLAVORS[flavor][3:]
    cls = ccxtpro.binanceusdm if flavor == "usdm" else ccxtpro.binancecoinm
    ex = make(cls, sim, flavor, account)
    try:
        await ex.load_markets()
        orders_task = asyncio.ensure_future(ex.watch_orders(symbol))
        trades_task = asyncio.ensure_future(ex.watch_my_trades(symbol))
        fe = frontend(sim, venue)
        deadline = time.monotonic() + 10
        # The subscription is live once the listen key exists and a stream connection holds it.
        while not fe.streams.by_key.get(fe.key_of_account.get(account.account_id, ""), ()):
            assert time.monotonic() < deadline, "ccxt.pro never connected its user stream"
            await asyncio.sleep(0.01)
        book = await ex.fetch_order_book(symbol)
        price = book["bids"][0][0] - 50
        order = await ex.create_order(symbol, "limit", "buy", float(qty), price)
        first = await within(orders_task)
        assert first[-1]["id"] == order["id"] and first[-1]["status"] == "open"
        # Another participant sells into our bid: a maker fill for us.
        orders_task = asyncio.ensure_future(ex.watch_orders(symbol))
        await admin(
            sim,
            "/admin/market/trade",
            {"market": venue, "symbol": sym_id, "price": str(price), "qty": str(qty), "aggressor": "SELL"},
        )
        trades = await within(trades_task)
        assert trades[-1]["order"] == order["id"]
        assert trades[-1]["price"] == pytest.approx(price) and trades[-1]["amount"] == float(qty)
        assert trades[-1]["takerOrMaker"] == "maker"
        filled = await within(orders_task)
        final = [o for o in filled if o["id"] == order["id"]][-1]
        assert final["status"] == "closed"
        assert final["filled"] == float(qty) and final["average"] == pytest.approx(price)
    finally:
        await ex.close()


async def test_market_data_and_history(exchange: Any, flavor: str, sim: Simulator) -> None:
    venue, symbol, sym_id, qty = FLAVORS[flavor][0], *FLAVORS[flavor][3:]
    book = await exchange.fetch_order_book(symbol, 5)
    ask = book["asks"][0][0]
    order = await exchange.create_order(symbol, "market", "buy", float(qty))
    trades = await exchange.fetch_trades(symbol)
    assert trades[-1]["price"] == pytest.approx(ask) and trades[-1]["side"] == "buy"  # aggressor side
    mine = await exchange.fetch_my_trades(symbol)
    assert mine[-1]["order"] == order["id"] and mine[-1]["takerOrMaker"] == "taker"
    assert mine[-1]["fee"]["currency"] == ("USDT" if flavor == "usdm" else "BTC")
    candles = await exchange.fetch_ohlcv(symbol, "1m", limit=3)
    assert len(candles) == 3 and candles[-1][4] == pytest.approx(ask)
    # ccxt reads the base volume: contracts for USDⓈ-M, coin value (contracts x 100 USD / price) for COIN-M.
    traded = float(qty) if flavor == "usdm" else float(qty) * 100 / ask
    assert candles[-1][5] >= traded * 0.999
    ticker = await exchange.fetch_ticker(symbol)
    assert ticker["last"] == pytest.approx(ask)
    funding = await exchange.fetch_funding_rate(symbol)
    assert funding["fundingRate"] == pytest.approx(0.0001)
    leverage = await exchange.set_leverage(10, symbol)
    assert leverage["leverage"] == 10
    if flavor == "coinm":  # positionRisk v3 (USDⓈ-M) carries no leverage field, as on Binance
        positions = await exchange.fetch_positions([symbol])
        assert [p["leverage"] for p in positions if p["contracts"]] == [10]
    assert (await exchange.fetch_position_mode(symbol))["hedged"] is False
    closed = await exchange.fetch_closed_orders(symbol)
    assert [o["id"] for o in closed] == [order["id"]]
    del venue, sym_id


async def test_conditional_orders_on_the_algo_order_api() -> None:
    """ccxt's stop orders on USDⓈ-M go to ``/fapi/v1/algoOrder`` (its ``isAlgoOrder`` path); on a simulator
    of the test's own (it prints trades): a level already reached is -2021, an armed stop-market is listed
    and fires on the last price, its order fills under the algo order's client id; a take-profit limit is
    cancelled. The user stream carries ALGO_UPDATE (NEW ->) TRIGGERING -> TRIGGERED -> FINISHED."""
    from execx_sim.core.types import Side

    sim = Simulator(quiet=True, seed=12)
    await sim.start()
    account = sim.exchange.create_account()
    sim.fund_default(account)
    venue, symbol = "binance-usdm-future", "BTCUSDT"
    ex = make(ccxt_async.binanceusdm, sim, "usdm", account)
    pro = make(ccxtpro.binanceusdm, sim, "usdm", account)
    try:
        market = sim.exchange.markets[venue]
        ask = market.books[symbol].best_ask()
        assert ask is not None
        sim.synthetic.print_trade(venue, symbol, ask, Decimal("0.001"), Side.BUY)
        await ex.load_markets()
        with pytest.raises(ccxt_async.BaseError) as crossed:
            await ex.create_order("BTC/USDT:USDT", "market", "buy", 0.01, None, {"triggerPrice": float(ask - 10)})
        assert "-2021" in str(crossed.value)
        async with aiohttp.ClientSession() as http:
            rest = sim.ready["venues"][venue]["rest"]
            async with http.post(f"{rest}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": account.api_key}) as r:
                key = (await r.json())["listenKey"]
            async with http.ws_connect(f"{sim.ready['venues'][venue]['stream']}/ws/{key}") as ws:
                stop = await ex.create_order(
                    "BTC/USDT:USDT",
                    "market",
                    "buy",
                    0.01,
                    None,
                    {"triggerPrice": float(ask + 20), "clientOrderId": "algo-stop-1"},
                )
                assert stop["id"]
                raw = await ex.fapiPrivateGetOpenAlgoOrders({"symbol": symbol})
                assert [(o["clientAlgoId"], o["algoStatus"], o["orderType"]) for o in raw] == [
                    ("algo-stop-1", "NEW", "STOP_MARKET")
                ]
                sim.synthetic.print_trade(venue, symbol, ask + 30, Decimal("0.001"), Side.BUY)
                statuses: list[str] = []
                child = ""
                while "FINISHED" not in statuses:
                    msg = await ws.receive_json(timeout=10)
                    if msg.get("e") == "ALGO_UPDATE":
                        statuses.append(msg["o"]["X"])
                        child = msg["o"]["ai"] or child
                # (its NEW came while the stream connection may still have been registering: not asserted)
                assert statuses[-3:] == ["TRIGGERING", "TRIGGERED", "FINISHED"] and statuses[0] in ("NEW", "TRIGGERING")
            done = await ex.fapiPrivateGetAlgoOrder({"clientAlgoId": "algo-stop-1"})
            assert (done["algoStatus"], done["actualOrderId"], done["executedQty"]) == ("FINISHED", child, "0.01")
            order = await ex.fetch_order(child, "BTC/USDT:USDT")
            assert order["status"] == "closed" and order["filled"] == 0.01 and order["clientOrderId"] == "algo-stop-1"
            tp = await ex.create_order(
                "BTC/USDT:USDT", "limit", "sell", 0.01, float(ask + 100), {"takeProfitPrice": float(ask + 90)}
            )
            cancelled = await ex.fapiPrivateDeleteAlgoOrder({"algoId": tp["id"]})
            assert cancelled["algoId"] == int(tp["id"])
            assert await ex.fapiPrivateGetOpenAlgoOrders({"symbol": symbol}) == []
    finally:
        await ex.close()
        await pro.close()
        await sim.stop()
