"""ccxt ``okx`` and ccxt.pro ``okx`` against the simulated OKX venue, unchanged except for base URLs:
``urls['api']['rest']`` -> the simulator's REST host and (ccxt.pro) ``urls['api']['ws']`` -> its
WebSocket host + ``/ws/v5`` (ccxt appends ``/private``, ``/public``, ``/business``). No ccxt option is
changed: ``loadMarkets`` asks for every instrument type (FUTURES and OPTION answer empty lists) and
the currencies (``/api/v5/asset/currencies``, served)."""

from __future__ import annotations

import asyncio
import contextlib
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

D = Decimal


def configure(ex: Any, sim: Simulator) -> Any:
    urls = sim.ready["venues"]["okx"]
    api = dict(ex.urls["api"], rest=urls["rest"])
    if "ws" in api:
        api["ws"] = urls["private"].rsplit("/", 1)[0]  # ws://host:port/ws/v5
    ex.urls["api"] = api
    return ex


def credentials(account: Account) -> dict[str, str]:
    return {"apiKey": account.api_key, "secret": account.secret_key, "password": account.passphrase}


@pytest.fixture
async def ex(sim: Simulator, account: Account) -> AsyncIterator[Any]:
    exchange = configure(ccxt_async.okx(credentials(account)), sim)
    try:
        yield exchange
    finally:
        await exchange.close()


def best(sim: Simulator, inst_id: str) -> tuple[Decimal, Decimal]:
    book = sim.exchange.markets["okx"].books[inst_id]
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is not None and ask is not None
    return bid, ask


async def test_load_markets(ex: Any) -> None:
    markets = await ex.load_markets()
    assert sorted(markets) == ["BTC/USD:BTC", "BTC/USDT", "BTC/USDT:USDT", "ETH/USDT", "ETH/USDT:USDT"]
    inverse = markets["BTC/USD:BTC"]
    assert (inverse["id"], inverse["contractSize"], inverse["inverse"], inverse["settle"]) == (
        "BTC-USD-SWAP",
        100,
        True,
        "BTC",
    )
    swap = markets["BTC/USDT:USDT"]
    assert (swap["id"], swap["contractSize"], swap["linear"], swap["precision"]["price"]) == (
        "BTC-USDT-SWAP",
        0.01,
        True,
        0.1,
    )
    assert markets["BTC/USDT"]["limits"]["amount"]["min"] == 0.00001


async def test_place_fetch_amend_cancel_and_batches(ex: Any, sim: Simulator) -> None:
    await ex.load_markets()
    bid, _ = best(sim, "BTC-USDT")
    order = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, float(bid - 5), {"clOrdId": "ccxt1"})
    assert order["clientOrderId"] == "ccxt1" and order["id"]
    fetched = await ex.fetch_order(order["id"], "BTC/USDT")
    assert (fetched["status"], fetched["amount"], fetched["price"]) == ("open", 0.01, float(bid - 5))
    await ex.edit_order(order["id"], "BTC/USDT", "limit", "buy", 0.02, float(bid - 6))
    (open_order,) = await ex.fetch_open_orders("BTC/USDT")
    assert (open_order["id"], open_order["amount"], open_order["price"]) == (order["id"], 0.02, float(bid - 6))
    await ex.cancel_order(order["id"], "BTC/USDT")
    assert (await ex.fetch_order(order["id"], "BTC/USDT"))["status"] == "canceled"
    placed = await ex.create_orders(
        [
            {"symbol": "BTC/USDT", "type": "limit", "side": "buy", "amount": 0.01, "price": float(bid - 7)},
            {"symbol": "BTC/USDT", "type": "limit", "side": "buy", "amount": 0.01, "price": float(bid - 8)},
        ]
    )
    ids = [p["id"] for p in placed]
    assert len(ids) == 2 and all(ids)
    await ex.cancel_orders(ids, "BTC/USDT")
    assert await ex.fetch_open_orders("BTC/USDT") == []


async def test_balances_positions_and_trades(ex: Any) -> None:
    await ex.load_markets()
    balance = await ex.fetch_balance()
    assert balance["USDT"]["free"] == 100000 and balance["BTC"]["total"] == 2
    await ex.create_order("BTC/USDT:USDT", "market", "buy", 2)  # two contracts of 0.01 BTC
    (position,) = await ex.fetch_positions(["BTC/USDT:USDT"])
    assert (position["contracts"], position["contractSize"], position["side"]) == (2, 0.01, "long")
    trades = await ex.fetch_my_trades("BTC/USDT:USDT")
    assert sum(t["amount"] for t in trades) == 2 and all(t["takerOrMaker"] == "taker" for t in trades)
    assert all(t["fee"]["currency"] == "USDT" and t["fee"]["cost"] > 0 for t in trades)


async def test_watch_orders_and_fills(sim: Simulator, account: Account, ex: Any) -> None:
    pro = configure(ccxt_pro.okx(credentials(account)), sim)
    try:
        await ex.load_markets()
        bid, _ = best(sim, "ETH-USDT")
        first = asyncio.create_task(pro.watch_orders("ETH/USDT"))
        for _ in range(50):  # the subscription may still be in flight: place again until it is seen
            await ex.create_order("ETH/USDT", "limit", "buy", 0.02, float(bid - 1))
            done, _ = await asyncio.wait({first}, timeout=0.2)
            if done:
                break
        seen = first.result()
        assert any(o["status"] == "open" and o["symbol"] == "ETH/USDT" for o in seen)
        price = bid + D("0.01")  # a new best bid: first in its queue
        # ccxt.pro resolves a watch with the messages that arrive while it waits: watch, then act.
        placed = asyncio.create_task(pro.watch_orders("ETH/USDT"))
        order = await ex.create_order("ETH/USDT", "limit", "buy", 0.02, float(price))
        assert any(o["id"] == order["id"] for o in await asyncio.wait_for(placed, 5))
        fill = asyncio.create_task(pro.watch_orders("ETH/USDT"))
        sim.synthetic.print_trade("okx", "ETH-USDT", price, D("0.02"), Side.SELL)
        filled = await asyncio.wait_for(fill, 5)
        done_order = next(o for o in filled if o["id"] == order["id"])
        assert done_order["status"] == "closed"
        leftovers = [o["id"] for o in await ex.fetch_open_orders("ETH/USDT")]
        await ex.cancel_orders(leftovers, "ETH/USDT")  # the shared book keeps its shape for other tests
        assert (done_order["filled"], done_order["average"]) == (0.02, float(price))
    finally:
        await pro.close()


async def test_wrong_secret_gets_okx_error(sim: Simulator, account: Account) -> None:
    bad = configure(ccxt_async.okx({**credentials(account), "secret": "wrong"}), sim)
    try:
        with pytest.raises(ccxt.AuthenticationError, match="50113"):
            await bad.fetch_balance()
    finally:
        await bad.close()


@contextlib.asynccontextmanager
async def own_okx() -> AsyncIterator[tuple[Simulator, Any, Decimal]]:
    """A simulator of the test's own (the test prints trades on it), ccxt ``okx`` on a funded account with its
    markets loaded, and the ask of ``BTC-USDT-SWAP``, printed as the last price."""
    sim = Simulator(quiet=True, seed=13)
    await sim.start()
    account = sim.exchange.create_account()
    sim.fund_default(account)
    exchange = configure(ccxt_async.okx(credentials(account)), sim)
    try:
        _, ask = best(sim, "BTC-USDT-SWAP")
        sim.synthetic.print_trade("okx", "BTC-USDT-SWAP", ask, D("0.01"), Side.BUY)
        await exchange.load_markets()
        yield sim, exchange, ask
    finally:
        await exchange.close()
        await sim.stop()


async def test_algo_orders_through_ccxt() -> None:
    """ccxt's stop-loss and trigger orders on OKX go to ``/api/v5/trade/order-algo`` (its
    ``privatePostTradeOrderAlgo`` path): on a simulator of the test's own (it prints trades), a stop-loss
    market buy is listed live, fires on the last price and its order fills; a trigger order is cancelled."""
    async with own_okx() as (sim, exchange, ask):
        stop = await exchange.create_order(
            "BTC/USDT:USDT", "market", "buy", 1, None, {"stopLossPrice": float(ask + 20), "algoClOrdId": "ccxtsl1"}
        )
        assert stop["id"]
        live = await exchange.privateGetTradeOrdersAlgoPending({"ordType": "conditional"})
        assert [(r["algoId"], r["state"], r["slTriggerPx"]) for r in live["data"]] == [
            (stop["id"], "live", str(ask + 20))
        ]
        sim.synthetic.print_trade("okx", "BTC-USDT-SWAP", ask + 30, D("0.01"), Side.BUY)
        done = await exchange.privateGetTradeOrderAlgo({"algoId": stop["id"]})
        row = done["data"][0]
        assert row["state"] == "effective" and row["ordId"]
        order = await exchange.fetch_order(row["ordId"], "BTC/USDT:USDT")
        assert order["status"] == "closed" and order["filled"] == 1
        trig = await exchange.create_order(
            "BTC/USDT:USDT", "limit", "sell", 1, float(ask - 50), {"triggerPrice": float(ask - 40)}
        )
        cancelled = await exchange.privatePostTradeCancelAlgos([{"algoId": trig["id"], "instId": "BTC-USDT-SWAP"}])
        assert cancelled["code"] == "0"
        assert (await exchange.privateGetTradeOrdersAlgoPending({"ordType": "trigger"}))["data"] == []


async def test_oco_algo_orders_through_ccxt() -> None:
    """ccxt's stop-loss and take-profit prices together make an OKX ``oco`` algo order (its
    ``privatePostTradeOrderAlgo`` path): listed live with both legs, its take-profit fires on the last price and its
    order fills, the algo order ``effective`` on the ``tp`` side and the stop-loss leg gone; a second one, sent with
    ``privatePostTradeOrderAlgo`` itself, is cancelled by ccxt's ``cancel_order(..., {"trigger": True})``."""
    async with own_okx() as (sim, exchange, ask):
        params = {"takeProfitPrice": float(ask + 50), "stopLossPrice": float(ask - 50), "algoClOrdId": "ccxtoco1"}
        oco = await exchange.create_order("BTC/USDT:USDT", "market", "sell", 1, None, params)
        live = await exchange.privateGetTradeOrdersAlgoPending({"ordType": "oco"})
        assert [(r["algoId"], r["state"], r["tpTriggerPx"], r["slTriggerPx"]) for r in live["data"]] == [
            (oco["id"], "live", str(ask + 50), str(ask - 50))
        ]
        sim.synthetic.print_trade("okx", "BTC-USDT-SWAP", ask + 60, D("0.01"), Side.BUY)
        row = (await exchange.privateGetTradeOrderAlgo({"algoId": oco["id"]}))["data"][0]
        assert (row["state"], row["actualSide"]) == ("effective", "tp") and row["ordId"]
        order = await exchange.fetch_order(row["ordId"], "BTC/USDT:USDT")
        assert order["status"] == "closed" and order["filled"] == 1 and order["clientOrderId"] == "ccxtoco1"
        assert (await exchange.privateGetTradeOrdersAlgoPending({"ordType": "oco"}))["data"] == []
        _, ask = best(sim, "BTC-USDT-SWAP")
        sim.synthetic.print_trade("okx", "BTC-USDT-SWAP", ask, D("0.01"), Side.BUY)
        body = {
            "instId": "BTC-USDT-SWAP",
            "tdMode": "cross",
            "side": "buy",
            "ordType": "oco",
            "sz": "1",
            "tpTriggerPx": str(ask - 50),
            "tpOrdPx": "-1",
            "slTriggerPx": str(ask + 50),
            "slOrdPx": str(ask + 60),
        }
        placed = await exchange.privatePostTradeOrderAlgo(body)
        algo_id = placed["data"][0]["algoId"]
        await exchange.cancel_order(algo_id, "BTC/USDT:USDT", {"trigger": True})
        assert (await exchange.privateGetTradeOrdersAlgoPending({"ordType": "oco"}))["data"] == []
        row = (await exchange.privateGetTradeOrderAlgo({"algoId": algo_id}))["data"][0]
        assert (row["state"], row["slOrdPx"]) == ("canceled", str(ask + 60))


async def test_attached_take_profit_and_stop_loss_through_ccxt() -> None:
    """ccxt's ``takeProfit`` / ``stopLoss`` params on ``create_order`` attach them to the order (``attachAlgoOrds``):
    ccxt reads them back from the order (``takeProfitPrice`` / ``stopLossPrice``); once the order fills, OKX holds
    them as one ``oco`` algo order of the other side and the filled size."""
    async with own_okx() as (sim, exchange, _ask):
        bid, _ = best(sim, "BTC-USDT-SWAP")
        px = bid - 100
        params = {"takeProfit": {"triggerPrice": float(px + 200)}, "stopLoss": {"triggerPrice": float(px - 100)}}
        order = await exchange.create_order("BTC/USDT:USDT", "limit", "buy", 1, float(px), params)
        got = await exchange.fetch_order(order["id"], "BTC/USDT:USDT")
        assert (got["takeProfitPrice"], got["stopLossPrice"]) == (float(px + 200), float(px - 100))
        assert (await exchange.privateGetTradeOrdersAlgoPending({"ordType": "oco"}))["data"] == []
        sim.synthetic.print_trade("okx", "BTC-USDT-SWAP", px, D("0.01"), Side.SELL)  # fills it
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while not (live := (await exchange.privateGetTradeOrdersAlgoPending({"ordType": "oco"}))["data"]):
            assert loop.time() < deadline, "the attached oco was never placed"
            await asyncio.sleep(0.05)  # the poll interval
        assert [(r["side"], r["sz"], r["tpTriggerPx"], r["slTriggerPx"]) for r in live] == [
            ("sell", "1", str(px + 200), str(px - 100))
        ]
        filled = await exchange.fetch_order(order["id"], "BTC/USDT:USDT")
        assert filled["status"] == "closed" and filled["info"]["attachAlgoOrds"][0]["attachAlgoId"] == live[0]["algoId"]
