"""Bybit's official SDK ``pybit`` (``unified_trading``: ``HTTP``, ``WebSocket``, ``WebSocketTrading``)
against the simulated Bybit v5 venue.

Only base URLs change: pybit has no base-URL argument, so the HTTP session's ``endpoint`` attribute
is set to the simulator's REST host after construction, and the module-level URL templates pybit
formats its websocket hosts from (``unified_trading.PRIVATE_WSS`` / ``PUBLIC_WSS``,
``_websocket_trading.TRADE_WSS``) are pointed at the simulator's websocket hosts. pybit is
synchronous (``requests``, ``websocket-client`` threads): its calls run in worker threads so the
in-process simulator keeps serving; callbacks land in lists that the test polls with a deadline.
"""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import pybit._websocket_trading as pybit_trading
import pybit.unified_trading as ut
import pytest
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.venues.bybit.instruments import option_expiry, option_symbol
from pybit.exceptions import InvalidRequestError
from waiting import eventually

T = TypeVar("T")
OPTION = option_symbol("BTC", option_expiry(datetime.datetime.now(datetime.UTC).date()), 100000, True)


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


def http(sim: Simulator, account: Account, secret: str | None = None) -> ut.HTTP:
    session = ut.HTTP(api_key=account.api_key, api_secret=secret or account.secret_key, max_retries=1)
    session.endpoint = sim.ready["venues"]["bybit-linear"]["rest"]
    return session


@pytest.fixture
async def ws_urls(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    urls = sim.ready["venues"]["bybit-linear"]
    monkeypatch.setattr(ut, "PRIVATE_WSS", urls["private"])
    monkeypatch.setattr(ut, "PUBLIC_WSS", urls["public"].rsplit("/", 1)[0] + "/{CHANNEL_TYPE}")
    monkeypatch.setattr(pybit_trading, "TRADE_WSS", urls["trade"])
    # pybit registers a subscription / request id just *after* sending it; a loopback venue answering
    # within microseconds can beat that (pybit then drops the answer as unknown, or fails and
    # reconnects), which a real network never does. The simulator's latency fault gives its websocket
    # answers a network-like delay.
    await admin(sim, "/admin/faults/bybit-linear", {"latency_ms": 30})
    yield
    async with aiohttp.ClientSession() as web, web.delete(sim.ready["admin"] + "/admin/faults/bybit-linear"):
        pass


async def admin(sim: Simulator, path: str, body: dict[str, Any]) -> Any:
    async with aiohttp.ClientSession() as web, web.post(sim.ready["admin"] + path, json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def subscribed(sim: Simulator, account: Account) -> set[str]:
    """The private topics the simulator has registered for the account's connections."""
    venue = next(fe for fe in sim.frontends if fe.venue == "bybit-linear").venue_state  # type: ignore[attr-defined]
    return {t for conn in venue.ws.private.get(account.account_id, ()) for t in conn.topics}


def top(sim: Simulator, market: str, symbol: str) -> tuple[Decimal, Decimal]:
    bid, _, ask, _ = sim.exchange.markets[market].books[symbol].top()
    assert bid is not None and ask is not None
    return bid, ask


async def test_http_markets_orders_batch_balances_positions(sim: Simulator, account: Account) -> None:
    s = http(sim, account)
    server = await call(s.get_server_time)
    assert server["retCode"] == 0 and abs(int(server["result"]["timeSecond"]) - time.time()) < 5
    for category, symbol in (("spot", "BTCUSDT"), ("linear", "BTCUSDT"), ("inverse", "BTCUSD"), ("option", OPTION)):
        info = await call(s.get_instruments_info, category=category)
        assert symbol in [i["symbol"] for i in info["result"]["list"]]
    linear = (await call(s.get_instruments_info, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
    assert linear["priceFilter"]["tickSize"] == "0.1" and linear["lotSizeFilter"]["qtyStep"] == "0.001"

    bid, _ = top(sim, "bybit-linear", "BTCUSDT")
    price = str(bid - Decimal(50))
    placed = await call(
        s.place_order,
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.01",
        price=price,
        orderLinkId="pybit-1",
    )
    assert placed["retCode"] == 0 and placed["result"]["orderLinkId"] == "pybit-1"
    order_id = placed["result"]["orderId"]
    amended = await call(s.amend_order, category="linear", symbol="BTCUSDT", orderId=order_id, price=str(bid - 60))
    assert amended["result"]["orderId"] == order_id
    open_orders = await call(s.get_open_orders, category="linear", symbol="BTCUSDT")
    row = open_orders["result"]["list"][0]
    assert (row["orderLinkId"], row["price"], row["qty"], row["orderStatus"]) == (
        "pybit-1",
        str(bid - 60),
        "0.01",
        "New",
    )
    cancelled = await call(s.cancel_order, category="linear", symbol="BTCUSDT", orderLinkId="pybit-1")
    assert cancelled["result"]["orderId"] == order_id
    with pytest.raises(InvalidRequestError) as info:
        await call(s.cancel_order, category="linear", symbol="BTCUSDT", orderLinkId="pybit-1")
    assert info.value.status_code == 110001
    history = await call(s.get_order_history, category="linear", symbol="BTCUSDT")
    assert history["result"]["list"][0]["orderStatus"] == "Cancelled"

    # batch create / amend / cancel: result.list and retExtInfo.list, one entry per order, in order
    batch = await call(
        s.place_batch_order,
        category="linear",
        request=[
            {
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.01",
                "price": str(bid - 70),
                "orderLinkId": "pb-a",
            },
            {
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.01",
                "price": str(bid - 71),
                "orderLinkId": "pb-a",
            },  # duplicate orderLinkId: refused, the first stays
        ],
    )
    assert [r["orderLinkId"] for r in batch["result"]["list"]] == ["pb-a", "pb-a"]
    assert [e["code"] for e in batch["retExtInfo"]["list"]] == [0, 110072]
    amended_batch = await call(
        s.amend_batch_order, category="linear", request=[{"symbol": "BTCUSDT", "orderLinkId": "pb-a", "qty": "0.02"}]
    )
    assert amended_batch["retExtInfo"]["list"] == [{"code": 0, "msg": "OK"}]
    gone = await call(s.cancel_batch_order, category="linear", request=[{"symbol": "BTCUSDT", "orderLinkId": "pb-a"}])
    assert gone["retExtInfo"]["list"] == [{"code": 0, "msg": "OK"}]
    too_many = [{"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001", "price": str(bid - 80)}] * 11
    with pytest.raises(InvalidRequestError) as info:
        await call(s.place_batch_order, category="spot", request=too_many)
    assert info.value.status_code == 10001 and "10" in info.value.message

    # a market order fills; executions and the position show it
    market = await call(s.place_order, category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.01")
    fills = await call(s.get_executions, category="linear", orderId=market["result"]["orderId"])
    assert sum(Decimal(f["execQty"]) for f in fills["result"]["list"]) == Decimal("0.01")
    assert all(f["isMaker"] is False and f["execType"] == "Trade" for f in fills["result"]["list"])
    positions = await call(s.get_positions, category="linear", symbol="BTCUSDT")
    assert positions["result"]["list"][0]["size"] == "0.01" and positions["result"]["list"][0]["side"] == "Buy"
    wallet = await call(s.get_wallet_balance, accountType="UNIFIED", coin="USDT")
    coin = wallet["result"]["list"][0]["coin"][0]
    assert coin["coin"] == "USDT" and Decimal(coin["walletBalance"]) < Decimal(200000)

    await call(
        s.place_order,
        category="linear",
        symbol="BTCUSDT",
        side="Sell",
        orderType="Limit",
        qty="0.01",
        price=str(bid + 500),
        orderLinkId="pybit-ca",
    )
    all_cancelled = await call(s.cancel_all_orders, category="linear", symbol="BTCUSDT")
    assert [r["orderLinkId"] for r in all_cancelled["result"]["list"]] == ["pybit-ca"]


async def test_http_option_needs_order_link_id_and_spot_market_buy_in_quote(sim: Simulator, account: Account) -> None:
    s = http(sim, account)
    bid, _ = top(sim, "bybit-option", OPTION)
    with pytest.raises(InvalidRequestError) as info:
        await call(
            s.place_order,
            category="option",
            symbol=OPTION,
            side="Buy",
            orderType="Limit",
            qty="0.1",
            price=str(bid - 10),
        )
    assert info.value.status_code == 10001 and "orderLinkId" in info.value.message
    ok = await call(
        s.place_order,
        category="option",
        symbol=OPTION,
        side="Buy",
        orderType="Limit",
        qty="0.1",
        price=str(bid - 10),
        orderLinkId="opt-1",
    )
    assert ok["retCode"] == 0
    await call(s.cancel_order, category="option", symbol=OPTION, orderLinkId="opt-1")  # the session's book is shared
    # spot market buys are sized in the quote coin by default
    placed = await call(s.place_order, category="spot", symbol="BTCUSDT", side="Buy", orderType="Market", qty="1000")
    fills = (await call(s.get_executions, category="spot", orderId=placed["result"]["orderId"]))["result"]["list"]
    spent = sum(Decimal(f["execValue"]) for f in fills)
    assert Decimal(900) < spent <= Decimal(1000)


async def test_http_spot_conditional_order_under_stop_order(sim: Simulator, account: Account) -> None:
    """A spot conditional order (``orderFilter=StopOrder`` + ``triggerPrice``, no ``triggerDirection``) through
    pybit's ``place_order``: listed untriggered by ``get_open_orders(orderFilter=StopOrder)``, not found by a
    cancel under spot's default filter (170213), cancelled under ``StopOrder`` (``Deactivated``)."""
    s = http(sim, account)
    bid, _ = top(sim, "bybit-spot", "BTCUSDT")
    level, link = bid - 2000, f"pb-stop-{time.monotonic_ns()}"
    ok = await call(
        s.place_order,
        category="spot",
        symbol="BTCUSDT",
        side="Sell",
        orderType="Limit",
        qty="0.001",
        price=str(level - 10),
        triggerPrice=str(level),
        orderFilter="StopOrder",
        orderLinkId=link,
    )
    assert ok["retCode"] == 0
    listed = await call(s.get_open_orders, category="spot", symbol="BTCUSDT", orderFilter="StopOrder")
    row = next(r for r in listed["result"]["list"] if r["orderLinkId"] == link)
    assert (row["orderStatus"], row["stopOrderType"], Decimal(row["triggerPrice"])) == (
        "Untriggered",
        "StopOrder",
        level,
    )
    with pytest.raises(InvalidRequestError) as info:
        await call(s.cancel_order, category="spot", symbol="BTCUSDT", orderLinkId=link)
    assert info.value.status_code == 170213
    await call(s.cancel_order, category="spot", symbol="BTCUSDT", orderLinkId=link, orderFilter="StopOrder")
    got = await call(s.get_open_orders, category="spot", symbol="BTCUSDT", orderLinkId=link)
    assert got["result"]["list"][0]["orderStatus"] == "Deactivated"


async def test_http_wrong_secret_and_key_get_the_venue_errors(sim: Simulator, account: Account) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await call(http(sim, account, secret="not-the-secret").get_wallet_balance, accountType="UNIFIED")
    assert info.value.status_code == 10004 and "signature" in info.value.message


async def test_websocket_private_topics_and_public_streams(sim: Simulator, account: Account, ws_urls: None) -> None:
    lock = threading.Lock()
    got: dict[str, list[dict[str, Any]]] = {
        "order": [],
        "execution": [],
        "position": [],
        "wallet": [],
        "book": [],
        "trade": [],
    }

    def sink(name: str) -> Callable[[dict[str, Any]], None]:
        def on(msg: dict[str, Any]) -> None:
            with lock:
                got[name].append(msg)

        return on

    private = await call(
        ut.WebSocket, testnet=False, channel_type="private", api_key=account.api_key, api_secret=account.secret_key
    )
    public = await call(ut.WebSocket, testnet=False, channel_type="linear")
    try:
        await call(private.order_stream, sink("order"))
        await call(private.execution_stream, sink("execution"))
        await call(private.position_stream, sink("position"))
        await call(private.wallet_stream, sink("wallet"))
        await call(public.orderbook_stream, 1, "BTCUSDT", sink("book"))
        await call(public.trade_stream, "BTCUSDT", sink("trade"))
        await eventually(lambda: bool(got["book"]), within_s=10.0)
        bid, ask = top(sim, "bybit-linear", "BTCUSDT")
        assert got["book"][0]["data"]["b"][0][0] == str(bid) and got["book"][0]["data"]["a"][0][0] == str(ask)

        s = http(sim, account)
        # the private subscriptions are in place (pybit does not wait for their acknowledgements)
        await eventually(
            lambda: subscribed(sim, account) >= {"order", "execution", "position", "wallet"}, within_s=10.0
        )
        placed = await call(
            s.place_order,
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            orderType="Market",
            qty="0.01",
            orderLinkId="ws-mkt",
        )
        await eventually(
            lambda: any(d["orderStatus"] == "Filled" for m in got["order"] for d in m["data"]), within_s=10.0
        )
        await eventually(
            lambda: bool(got["execution"]) and bool(got["position"]) and bool(got["wallet"]) and bool(got["trade"]),
            within_s=10.0,
        )
        execs = [d for m in got["execution"] for d in m["data"]]
        assert {e["orderId"] for e in execs} == {placed["result"]["orderId"]}
        assert sum(Decimal(e["execQty"]) for e in execs) == Decimal("0.01") and execs[0]["orderLinkId"] == "ws-mkt"
        assert got["position"][-1]["data"][0]["size"] == "0.01"
        trade = got["trade"][-1]["data"][-1]
        assert trade["S"] == "Buy" and trade["s"] == "BTCUSDT"
    finally:
        await call(private.exit)
        await call(public.exit)


async def test_websocket_trading_orders(sim: Simulator, account: Account, ws_urls: None) -> None:
    lock = threading.Lock()
    answers: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []

    def ok(msg: dict[str, Any]) -> None:
        with lock:
            answers.append(msg)

    def bad(msg: dict[str, Any]) -> None:
        with lock:
            errors.append(msg)

    trading = await call(
        ut.WebSocketTrading,
        testnet=False,
        api_key=account.api_key,
        api_secret=account.secret_key,
    )
    try:
        await eventually(lambda: trading.auth, within_s=10.0)
        bid, _ = top(sim, "bybit-linear", "BTCUSDT")
        await call(
            trading.place_order,
            ok,
            bad,
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            orderType="Limit",
            qty="0.01",
            price=str(bid - 40),
            orderLinkId="wst-1",
        )
        await eventually(lambda: len(answers) == 1, within_s=10.0)
        assert answers[0]["op"] == "order.create" and answers[0]["data"]["orderLinkId"] == "wst-1"
        assert int(answers[0]["header"]["X-Bapi-Limit-Status"]) < int(answers[0]["header"]["X-Bapi-Limit"])
        await call(
            trading.amend_order, ok, bad, category="linear", symbol="BTCUSDT", orderLinkId="wst-1", price=str(bid - 45)
        )
        await eventually(lambda: len(answers) == 2, within_s=10.0)
        order = sim.exchange.markets["bybit-linear"].orders
        assert [o.price for o in order.values() if o.extra.get("link") == "wst-1"] == [bid - 45]
        await call(
            trading.place_batch_order,
            ok,
            bad,
            category="linear",
            request=[
                {
                    "symbol": "BTCUSDT",
                    "side": "Buy",
                    "orderType": "Limit",
                    "qty": "0.01",
                    "price": str(bid - 50),
                    "orderLinkId": "wst-2",
                }
            ],
        )
        await eventually(lambda: len(answers) == 3, within_s=10.0)
        assert answers[2]["retExtInfo"]["list"] == [{"code": 0, "msg": "OK"}]
        for link in ("wst-1", "wst-2"):
            await call(trading.cancel_order, ok, bad, category="linear", symbol="BTCUSDT", orderLinkId=link)
        await eventually(lambda: len(answers) == 5, within_s=10.0)
        await call(trading.cancel_order, ok, bad, category="linear", symbol="BTCUSDT", orderLinkId="wst-1")
        await eventually(lambda: len(errors) == 1, within_s=10.0)
        assert errors[0]["retCode"] == 110001
    finally:
        await call(trading.exit)
