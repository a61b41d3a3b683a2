"""The official OKX SDK (``python-okx``: ``okx.Trade``, ``okx.Account``, ``okx.PublicData``) against
the simulated OKX venue, unchanged except for the base URL (``domain=``). The SDK is synchronous
(httpx), so its calls run in a worker thread while the simulator serves on the test's loop.

``flag="1"`` (the SDK's default) sends ``x-simulated-trading: 1``, i.e. demo trading; ``flag="0"``
(live) works the same: the simulator serves both environments.

The SDK's websocket classes (``okx.websocket.WsPrivateAsync`` / ``WsPublicAsync``) always connect
with a TLS context (``websockets.connect(url, ssl=...)``), which ``websockets`` refuses for a
``ws://`` URL, and the simulator has no TLS: they cannot run offline. Their login frame is built by
the SDK's own ``WsUtils.initLoginParams`` and checked against the simulator's private websocket here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import okx.Account as OkxAccount
import okx.PublicData as OkxPublic
import okx.Trade as OkxTrade
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.core.types import Side
from okx.websocket import WsUtils

T = TypeVar("T")
D = Decimal


async def sdk(call: Callable[[], T]) -> T:
    return await asyncio.to_thread(call)


def trade_api(sim: Simulator, account: Account, flag: str = "1", secret: str | None = None) -> OkxTrade.TradeAPI:
    rest = sim.ready["venues"]["okx"]["rest"]
    return OkxTrade.TradeAPI(
        account.api_key, secret or account.secret_key, account.passphrase, flag=flag, domain=rest, debug=False
    )


def bid_of(sim: Simulator, inst_id: str) -> Decimal:
    bid = sim.exchange.markets["okx"].books[inst_id].best_bid()
    assert bid is not None
    return bid


async def test_public_data(sim: Simulator) -> None:
    public = OkxPublic.PublicAPI(flag="1", domain=sim.ready["venues"]["okx"]["rest"], debug=False)
    spot = await sdk(lambda: public.get_instruments(instType="SPOT"))
    assert spot["code"] == "0" and {i["instId"] for i in spot["data"]} == {"BTC-USDT", "ETH-USDT"}
    swap = await sdk(lambda: public.get_instruments(instType="SWAP", instId="BTC-USDT-SWAP"))
    assert [(i["ctVal"], i["instIdCode"]) for i in swap["data"]] == [("0.01", 20001)]
    assert int((await sdk(public.get_system_time))["data"][0]["ts"]) > 0


async def test_place_amend_cancel_and_batches(sim: Simulator, account: Account) -> None:
    trade = trade_api(sim, account)
    bid = bid_of(sim, "BTC-USDT")
    placed = await sdk(
        lambda: trade.place_order(
            instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit", sz="0.01", px=str(bid - 5), clOrdId="sdk1"
        )
    )
    assert placed["code"] == "0" and placed["data"][0]["sCode"] == "0"
    ord_id = placed["data"][0]["ordId"]
    amended = await sdk(lambda: trade.amend_order(instId="BTC-USDT", ordId=ord_id, newSz="0.02", newPx=str(bid - 6)))
    assert amended["code"] == "0"
    got = await sdk(lambda: trade.get_order(instId="BTC-USDT", clOrdId="sdk1"))
    assert (got["data"][0]["sz"], got["data"][0]["px"], got["data"][0]["state"]) == ("0.02", str(bid - 6), "live")
    listed = await sdk(lambda: trade.get_order_list(instType="SPOT"))
    assert [o["clOrdId"] for o in listed["data"]] == ["sdk1"]
    cancelled = await sdk(lambda: trade.cancel_order(instId="BTC-USDT", clOrdId="sdk1"))
    assert cancelled["code"] == "0" and cancelled["data"][0]["ordId"] == ord_id
    again = await sdk(lambda: trade.cancel_order(instId="BTC-USDT", clOrdId="sdk1"))
    assert (again["code"], again["data"][0]["sCode"]) == ("1", "51400")
    orders = [
        {
            "instId": "BTC-USDT",
            "tdMode": "cash",
            "side": "buy",
            "ordType": "limit",
            "sz": "0.01",
            "px": str(bid - i),
            "clOrdId": f"sdkb{i}",
        }
        for i in (7, 8)
    ] + [
        {
            "instId": "BTC-USDT",
            "tdMode": "cash",
            "side": "buy",
            "ordType": "limit",
            "sz": "0.01",
            "px": "1",
            "clOrdId": "x-y",
        }
    ]
    batch = await sdk(lambda: trade.place_multiple_orders(orders))
    assert batch["code"] == "2" and [d["sCode"] for d in batch["data"]] == ["0", "0", "51000"]  # partial success
    gone = await sdk(
        lambda: trade.cancel_multiple_orders([{"instId": "BTC-USDT", "clOrdId": c} for c in ("sdkb7", "sdkb8")])
    )
    assert gone["code"] == "0" and [d["sCode"] for d in gone["data"]] == ["0", "0"]


async def test_account_positions_and_fills(sim: Simulator, account: Account) -> None:
    rest = sim.ready["venues"]["okx"]["rest"]
    acct = OkxAccount.AccountAPI(
        account.api_key, account.secret_key, account.passphrase, flag="0", domain=rest, debug=False
    )
    trade = trade_api(sim, account, flag="0")
    balance = await sdk(lambda: acct.get_account_balance(ccy="USDT"))
    assert [(d["ccy"], d["availBal"]) for d in balance["data"][0]["details"]] == [("USDT", "100000")]
    config = await sdk(acct.get_account_config)
    assert config["data"][0]["posMode"] == "net_mode"
    bid = bid_of(sim, "BTC-USDT-SWAP") + D("0.1")  # a new best bid: first in its queue
    placed = await sdk(
        lambda: trade.place_order(
            instId="BTC-USDT-SWAP", tdMode="cross", side="buy", ordType="limit", sz="3", px=str(bid)
        )
    )
    assert placed["code"] == "0"
    sim.synthetic.print_trade("okx", "BTC-USDT-SWAP", bid, D("0.02"), Side.SELL)  # two contracts of 0.01 BTC
    fills = await sdk(lambda: trade.get_fills(instType="SWAP", instId="BTC-USDT-SWAP"))
    assert [(f["fillSz"], f["fillPx"], f["execType"]) for f in fills["data"]] == [("2", str(bid), "M")]
    positions = await sdk(lambda: acct.get_positions(instType="SWAP"))
    assert [(p["instId"], p["pos"], p["avgPx"]) for p in positions["data"]] == [("BTC-USDT-SWAP", "2", str(bid))]
    left = await sdk(lambda: trade.cancel_order(instId="BTC-USDT-SWAP", ordId=placed["data"][0]["ordId"]))
    assert left["code"] == "0"  # the unfilled contract leaves the shared book


async def test_wrong_secret_gets_invalid_sign(sim: Simulator, account: Account) -> None:
    bad = trade_api(sim, account, secret="wrong")
    out = await sdk(lambda: bad.get_order_list())
    assert (out["code"], out["msg"]) == ("50113", "Invalid Sign")


async def test_sdk_login_frame_and_orders_channel(sim: Simulator, account: Account) -> None:
    login = WsUtils.initLoginParams(False, account.api_key, account.passphrase, account.secret_key)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ready["venues"]["okx"]["private"]) as ws:
        await ws.send_str(login)
        assert (await ws.receive_json(timeout=5))["event"] == "login"
        await ws.send_json({"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]})
        assert (await ws.receive_json(timeout=5))["event"] == "subscribe"
        trade = trade_api(sim, account)
        bid = bid_of(sim, "ETH-USDT")
        await sdk(
            lambda: trade.place_order(
                instId="ETH-USDT",
                tdMode="cash",
                side="buy",
                ordType="limit",
                sz="0.01",
                px=str(bid - 1),
                clOrdId="wss1",
            )
        )
        push: dict[str, Any] = await ws.receive_json(timeout=5)
        assert push["arg"]["channel"] == "orders" and push["data"][0]["clOrdId"] == "wss1"
        assert push["data"][0]["state"] == "live"
        bad = json.loads(login)
        bad["args"][0]["sign"] = "AAAA"
        await ws.send_json(bad)
        assert (await ws.receive_json(timeout=5))["code"] == "60007"
