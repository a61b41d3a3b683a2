"""ccxt (``binance`` and ``ccxt.pro`` ``binance``) trading **cross margin** against the simulated Binance
spot venue: ``/sapi/v1/margin/...`` order endpoints, ``/sapi/v1/margin/account`` balances with debt,
and the margin user data stream (ccxt.pro: ``POST /sapi/v1/userListenToken`` then
``userDataStream.subscribe.listenToken`` on the WebSocket API).

Only URLs and documented ccxt options change (as in ``test_binance_spot_ccxt.py``), plus
``urls['api']['sapi']`` -> our REST host's ``/sapi/v1`` and
``options['watchPositions'] = {'fetchPositionsSnapshot': False}`` (otherwise ccxt.pro loads USD-M
futures positions when a margin user stream opens); orders carry ccxt's documented
``marginMode: 'cross'`` parameter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from test_binance_spot_ccxt import configure as configure_spot
from waiting import eventually

SYMBOL = "BTC/USDT"
CROSS = {"marginMode": "cross"}


def configure(ex: Any, sim: Simulator) -> Any:
    """The spot set-up (test_binance_spot_ccxt.configure) plus the margin REST and stream URLs."""
    configure_spot(ex, sim)
    urls = sim.ready["venues"]["binance-spot"]
    ex.urls["api"]["sapi"] = urls["rest"] + "/sapi/v1"
    if "ws" in ex.urls["api"]:
        ex.urls["api"]["ws"]["margin"] = urls["stream"] + "/ws"
    # ccxt.pro would fetch USD-M positions (fapi leverage brackets) when a non-spot user stream opens.
    ex.options["watchPositions"] = {"fetchPositionsSnapshot": False}
    return ex


@pytest.fixture
async def exchange(sim: Simulator, account: Account) -> AsyncIterator[Any]:
    ex = configure(ccxt_async.binance({"apiKey": account.api_key, "secret": account.secret_key}), sim)
    try:
        yield ex
    finally:
        await ex.close()


async def mid(sim: Simulator) -> Decimal:
    params = {"market": "binance-spot", "symbol": "BTCUSDT", "limit": "1"}
    async with aiohttp.ClientSession() as s, s.get(sim.ready["admin"] + "/admin/book", params=params) as resp:
        data = await resp.json()
    return (Decimal(data["bids"][0][0]) + Decimal(data["asks"][0][0])) / 2


async def test_ccxt_cross_margin_order_borrows_and_shows_debt(exchange: Any, sim: Simulator) -> None:
    price = (await mid(sim) * Decimal("0.98")).quantize(Decimal("0.01"))
    amount = (Decimal(150_000) / price).quantize(Decimal("0.00001"))
    spot_free = (await exchange.fetch_balance())["USDT"]["free"]
    assert spot_free == 100_000  # the spot wallet could not pay for this buy

    order = await exchange.create_order(
        SYMBOL, "limit", "buy", float(amount), float(price), {**CROSS, "sideEffectType": "MARGIN_BUY"}
    )
    assert order["status"] == "open" and order["clientOrderId"]
    assert order["info"]["marginBuyBorrowAsset"] == "USDT"
    borrowed = price * amount - 100_000
    assert order["info"]["marginBuyBorrowAmount"] == pytest.approx(float(borrowed))  # a JSON number

    fetched = await exchange.fetch_order(order["id"], SYMBOL, CROSS)
    assert fetched["id"] == order["id"] and fetched["status"] == "open"
    assert [o["id"] for o in await exchange.fetch_open_orders(SYMBOL, params=CROSS)] == [order["id"]]
    assert await exchange.fetch_open_orders(SYMBOL) == []  # not a spot order

    margin = await exchange.fetch_balance({"type": "margin", **CROSS})
    assert Decimal(str(margin["USDT"]["debt"])) == borrowed
    assert Decimal(str(margin["USDT"]["used"])) == price * amount

    cancelled = await exchange.cancel_order(order["id"], SYMBOL, CROSS)
    assert cancelled["status"] == "canceled"
    assert await exchange.fetch_open_orders(SYMBOL, params=CROSS) == []


async def test_ccxt_pro_margin_user_stream_delivers_orders_and_fills(sim: Simulator, account: Account) -> None:
    ex = configure(ccxt_pro.binance({"apiKey": account.api_key, "secret": account.secret_key}), sim)
    try:
        watcher = asyncio.ensure_future(ex.watch_orders(SYMBOL, params={"type": "margin", **CROSS}))
        frontend = next(fe for fe in sim.frontends if fe.venue == "binance-spot")
        listeners = frontend.ws_api.listeners  # type: ignore[attr-defined]
        await eventually(
            lambda: f"{account.account_id}:margin" in listeners, within_s=10.0
        )  # the listenToken subscription
        # Just under the best bid: the print below only clears the few synthetic bids above it (shared book).
        price = sim.exchange.markets["binance-spot"].books["BTCUSDT"].best_bid() - Decimal("0.05")
        order = await ex.create_order(SYMBOL, "limit", "buy", 0.01, float(price), CROSS)
        updates = await asyncio.wait_for(watcher, 10)
        assert any(u["id"] == order["id"] for u in updates)
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                sim.ready["admin"] + "/admin/market/trade",
                json={
                    "market": "binance-spot",
                    "symbol": "BTCUSDT",
                    "price": str(price),
                    "qty": "0.01",
                    "aggressor": "SELL",
                },
            ) as resp,
        ):
            assert resp.status == 200
        # The fill's executionReport reaches ccxt's own trade cache (what watch_my_trades reads).
        await eventually(lambda: any(t["order"] == order["id"] for t in (ex.myTrades or [])), within_s=10.0)
        fill = next(t for t in ex.myTrades if t["order"] == order["id"])
        assert fill["amount"] == pytest.approx(0.01) and fill["price"] == pytest.approx(float(price))
    finally:
        await ex.close()
