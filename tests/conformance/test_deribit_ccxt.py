"""ccxt ``deribit`` (REST, signed with ``deri-hmac-sha256``) and ccxt.pro (WebSocket, ``public/auth``
with ``client_signature``, ``user.orders.any.any.raw``, ``book``, ``ticker`` and ``trades`` channels)
against the simulated Deribit JSON-RPC, changing only URLs: ``urls['api']['rest']`` and
``urls['api']['ws']``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from typing import Any, TypeVar

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]
import ccxt.pro as ccxtpro  # type: ignore[import-untyped]
import pytest
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.core.types import OrderType, Side

T = TypeVar("T")
D = Decimal
SYMBOL = "BTC/USD:BTC"
PERP = "BTC-PERPETUAL"


def make(cls: Any, sim: Simulator, account: Account, secret: str | None = None) -> Any:
    urls = sim.ready["venues"]["deribit"]
    ex = cls({"apiKey": account.api_key, "secret": secret or account.secret_key, "enableRateLimit": False})
    ex.urls["api"]["rest"] = urls["rest"]
    if "ws" in ex.urls["api"]:
        ex.urls["api"]["ws"] = urls["ws"]
    return ex


async def within(aw: Awaitable[T], seconds: float = 10.0) -> T:
    return await asyncio.wait_for(aw, seconds)


@pytest.fixture
async def exchange(sim: Simulator, account: Account) -> AsyncIterator[Any]:
    ex = make(ccxt_async.deribit, sim, account)
    try:
        yield ex
    finally:
        await ex.close()


def book(sim: Simulator) -> tuple[Decimal, Decimal]:
    b = sim.exchange.markets["deribit"].books[PERP]
    bid, ask = b.best_bid(), b.best_ask()
    assert bid is not None and ask is not None
    return bid, ask


async def test_markets_and_ticker(exchange: Any, sim: Simulator) -> None:
    markets = await within(exchange.load_markets())
    m = markets[SYMBOL]
    assert (m["id"], m["type"], m["inverse"], m["contractSize"], m["precision"]["price"]) == (
        PERP,
        "swap",
        True,
        10,
        0.5,
    )
    assert any(v["type"] == "option" for v in markets.values())
    ticker = await within(exchange.fetch_ticker(SYMBOL))
    bid, ask = book(sim)
    assert (D(str(ticker["bid"])), D(str(ticker["ask"]))) == (bid, ask)


async def test_place_edit_cancel_fetch(exchange: Any, sim: Simulator) -> None:
    await exchange.load_markets()
    bid, ask = book(sim)
    order = await within(exchange.create_order(SYMBOL, "limit", "buy", 50, float(bid - 100), {"label": "cx"}))
    assert (order["status"], order["amount"], order["price"], order["side"]) == ("open", 50, float(bid - 100), "buy")
    edited = await within(exchange.edit_order(order["id"], SYMBOL, "limit", "buy", 70, float(bid - 101)))
    assert (edited["id"], edited["amount"], edited["price"]) == (order["id"], 70, float(bid - 101))
    open_orders = await within(exchange.fetch_open_orders(SYMBOL))
    assert [o["id"] for o in open_orders] == [order["id"]]
    cancelled = await within(exchange.cancel_order(order["id"], SYMBOL))
    assert cancelled["status"] == "canceled"
    fetched = await within(exchange.fetch_order(order["id"], SYMBOL))
    assert fetched["status"] == "canceled"
    # A crossing market order fills; the balance and the position show it.
    filled = await within(exchange.create_order(SYMBOL, "market", "buy", 20))
    assert (filled["status"], filled["filled"]) == ("closed", 20)
    assert filled["trades"] and D(str(filled["trades"][0]["price"])) == ask
    positions = await within(exchange.fetch_positions([SYMBOL]))
    assert [(p["symbol"], p["side"], p["contracts"]) for p in positions] == [(SYMBOL, "long", 20)]
    balance = await within(exchange.fetch_balance())
    assert 0 < balance["BTC"]["total"] <= 10
    assert balance["ETH"]["total"] == 100
    btc = await within(exchange.fetch_balance({"code": "BTC"}))
    assert btc["BTC"]["total"] == balance["BTC"]["total"]
    trades = await within(exchange.fetch_my_trades(SYMBOL))
    assert [t["order"] for t in trades][-1] == filled["id"]


async def test_errors_map_to_ccxt_exceptions(exchange: Any, sim: Simulator, account: Account) -> None:
    await exchange.load_markets()
    _, ask = book(sim)
    with pytest.raises(ccxt_async.InvalidOrder):
        await within(
            exchange.create_order(SYMBOL, "limit", "buy", 10, float(ask), {"postOnly": True, "reject_post_only": True})
        )
    with pytest.raises(ccxt_async.OrderNotFound):
        await within(exchange.cancel_order("4242", SYMBOL))
    wrong = make(ccxt_async.deribit, sim, account, secret="not-the-secret")
    try:
        wrong.markets, wrong.markets_by_id, wrong.symbols = exchange.markets, exchange.markets_by_id, exchange.symbols
        with pytest.raises(ccxt_async.AuthenticationError):
            await within(wrong.fetch_open_orders(SYMBOL))
    finally:
        await wrong.close()


async def test_pro_watch_orders(sim: Simulator, account: Account) -> None:
    pro = make(ccxtpro.deribit, sim, account)
    rest = make(ccxt_async.deribit, sim, account)
    try:
        await pro.load_markets()
        await rest.load_markets()
        bid, _ = book(sim)
        watcher = asyncio.ensure_future(pro.watch_orders(SYMBOL))
        # ccxt.pro subscribes after authenticating; place the order once the subscription is live.
        for _ in range(500):
            if any(c.subscriptions for c in frontend_conns(sim)):
                break
            await asyncio.sleep(0.01)
        order = await within(rest.create_order(SYMBOL, "limit", "sell", 30, float(bid + 300)))
        seen = await within(watcher)
        assert [(o["id"], o["status"], o["amount"]) for o in seen] == [(order["id"], "open", 30)]
        watcher = asyncio.ensure_future(pro.watch_orders(SYMBOL))
        await asyncio.sleep(0)  # let the watch register before the update it waits for can arrive
        await within(rest.cancel_order(order["id"], SYMBOL))
        seen = await within(watcher)
        assert (seen[-1]["id"], seen[-1]["status"]) == (order["id"], "canceled")
    finally:
        await pro.close()
        await rest.close()


async def test_pro_public_streams(sim: Simulator, account: Account) -> None:
    """ccxt.pro's book (snapshot, then changes chained by change_id), ticker and trades handlers."""
    pro = make(ccxtpro.deribit, sim, account)
    market = sim.exchange.markets["deribit"]
    try:
        await pro.load_markets()
        ob = await within(pro.watch_order_book(SYMBOL))
        bid, ask = book(sim)
        assert (D(str(ob["bids"][0][0])), D(str(ob["asks"][0][0]))) == (bid, ask)
        ticker = await within(pro.watch_ticker(SYMBOL))
        assert (D(str(ticker["bid"])), D(str(ticker["ask"]))) == (bid, ask)
        better = bid + D("0.5")
        market.place(account, PERP, Side.BUY, OrderType.LIMIT, D(3), better)
        for _ in range(20):  # book changes arrive on the 100 ms timer
            ob = await within(pro.watch_order_book(SYMBOL))
            if D(str(ob["bids"][0][0])) == better:
                break
        assert (D(str(ob["bids"][0][0])), ob["bids"][0][1]) == (better, 30)
        trades = asyncio.ensure_future(pro.watch_trades(SYMBOL))
        for _ in range(500):
            if any(any(ch.startswith("trades.") for ch in c.subscriptions) for c in frontend_conns(sim)):
                break
            await asyncio.sleep(0.01)
        market.place(account, PERP, Side.SELL, OrderType.MARKET, D(3))
        seen = await within(trades)
        assert (D(str(seen[-1]["price"])), seen[-1]["amount"], seen[-1]["side"]) == (better, 30, "sell")
    finally:
        await pro.close()


def frontend_conns(sim: Simulator) -> list[Any]:
    fe = next(f for f in sim.frontends if f.venue == "deribit")
    return list(fe.rpc_server.conns)  # type: ignore[attr-defined]


async def test_trigger_orders_through_ccxt() -> None:
    """ccxt's stop-loss and trailing orders on Deribit (``type`` stop_market / trailing_stop with ``trigger``,
    ``trigger_price``, ``trigger_offset``) on a simulator of the test's own (it prints trades): the stop is
    listed untriggered, fires on the last price and fills; the trailing stop is cancelled."""
    sim = Simulator(quiet=True, seed=14)
    await sim.start()
    account = sim.exchange.create_account()
    sim.fund_default(account)
    ex = make(ccxt_async.deribit, sim, account)
    try:
        bid, _ = book(sim)
        sim.synthetic.print_trade("deribit", PERP, bid, D("10"), Side.SELL)
        await ex.load_markets()
        stop = await ex.create_order(SYMBOL, "market", "sell", 10, None, {"stopLossPrice": float(bid - 5)})
        assert stop["id"]
        opened = await ex.fetch_open_orders(SYMBOL, None, None, {"type": "stop"})
        assert [(o["id"], o["triggerPrice"]) for o in opened] == [(stop["id"], float(bid - 5))]
        sim.synthetic.print_trade("deribit", PERP, bid - 10, D("10"), Side.SELL)
        done = await ex.fetch_order(stop["id"], SYMBOL)
        assert done["status"] == "closed" and done["filled"] == 10
        trail = await ex.create_order(SYMBOL, "market", "sell", 10, None, {"trailingAmount": 50})
        await ex.cancel_order(trail["id"], SYMBOL)
        assert await ex.fetch_open_orders(SYMBOL, None, None, {"type": "trigger_all"}) == []
    finally:
        await ex.close()
        await sim.stop()
