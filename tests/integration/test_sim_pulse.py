"""The simulated Pulse gateway (seed 004) over loopback: its HTTP shapes (bare results, connection.Message
errors, JSON-RPC request bodies on ``/api/v2/{method}``, ``GET /api/v2/public/auth``) and its WebSocket
JSON-RPC (``/ws/api/v2``), on the same matching engine as the other venues."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from test_sim_deribit_rpc import RpcWs, top

PERP = "BTC_USD-PERPETUAL"
OPTION = "BTC-31JUN23-50000-C"
OK = {"description": "ok", "response": None, "status": 200}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def token(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> str:
    url = sim.ready["venues"]["pulse"]["rest"] + "/api/v2/public/auth"
    params = {"grant_type": "client_credentials", "client_id": account.api_key, "client_secret": account.secret_key}
    async with http.get(url, params=params) as resp:
        body = await resp.json()
    assert resp.status == 200, body
    assert set(body) >= {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    return str(body["access_token"])


async def post(sim: Simulator, http: aiohttp.ClientSession, method: str, body: Any, tok: str) -> tuple[int, Any]:
    url = sim.ready["venues"]["pulse"]["rest"] + f"/api/v2/{method}"
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {tok}"}) as resp:
        return resp.status, await resp.json()


async def test_ready_line(sim: Simulator) -> None:
    urls = sim.ready["venues"]["pulse"]
    assert set(urls) == {"rest", "ws"}
    assert urls["ws"] == urls["rest"].replace("http://", "ws://") + "/ws/api/v2"


async def test_http_shapes(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
    url = sim.ready["venues"]["pulse"]["rest"] + "/api/v2/public/auth"
    async with http.get(
        url, params={"grant_type": "client_credentials", "client_id": account.api_key, "client_secret": "wrong"}
    ) as resp:
        body = await resp.json()
    assert (resp.status, body["description"], body["status"], body["response"]["code"]) == (
        400,
        "invalid_credentials",
        400,
        13004,
    )
    tok = await token(sim, account, http)
    # The document's GetInstruments body, sent as is.
    status, instruments = await post(
        sim, http, "private/get_instruments", {"currency": "BTC", "expired": False, "kind": "option"}, tok
    )
    assert status == 200 and [i["instrument_name"] for i in instruments] == [OPTION]
    assert (instruments[0]["option_type"], instruments[0]["strike"], instruments[0]["settlement_currency"]) == (
        "call",
        50000,
        "USD",
    )
    bid, _ = top(sim, "pulse", PERP)
    # The document's BuySell request model (a whole JSON-RPC request with "method": "Method Name").
    buy = {
        "id": 1,
        "jsonrpc": "2.0",
        "method": "Method Name",
        "params": {
            "amount": 0.5,
            "instrument_name": PERP,
            "label": "label_example",
            "post_only": False,
            "price": float(bid - 100),
            "reduce_only": False,
            "time_in_force": "good_til_cancelled",
            "type": "limit",
        },
    }
    status, placed = await post(sim, http, "private/buy", buy, tok)
    assert status == 200, placed
    order = placed["order"]
    assert (order["order_state"], order["amount"], order["label"], placed["trades"]) == (
        "open",
        0.5,
        "label_example",
        [],
    )
    status, opened = await post(
        sim,
        http,
        "private/get_open_orders_by_instrument",
        {"id": 2, "jsonrpc": "2.0", "method": "x", "params": {"instrument_name": PERP}},
        tok,
    )
    assert [o["order_id"] for o in opened] == [order["order_id"]]
    status, cancelled = await post(
        sim, http, "private/cancel_all_by_instrument", {"params": {"instrument_name": PERP, "type": "all"}}, tok
    )
    assert (status, [(o["order_id"], o["order_state"], o["cancel_reason"]) for o in cancelled]) == (
        200,
        [(order["order_id"], "cancelled", "user_request")],
    )
    status, state = await post(sim, http, "private/get_order_state", {"order_id": order["order_id"]}, tok)
    assert (status, [o["order_state"] for o in state]) == (200, ["cancelled"])  # Pulse: a list
    status, err = await post(sim, http, "private/cancel", {"params": {"order_id": order["order_id"]}}, tok)
    assert (status, err["description"], err["response"]["code"]) == (400, "not_open_order", 11044)
    status, index = await post(sim, http, "public/get_index_price", {"count": 10, "index_name": "btc_usd"}, tok)
    mid = (top(sim, "pulse", PERP)[0] + top(sim, "pulse", PERP)[1]) / 2
    assert (status, index) == (200, float(mid))  # Pulse: the price itself
    status, summary = await post(sim, http, "private/get_account_summary", {"params": {"currency": "USD"}}, tok)
    assert (status, summary["currency"], summary["balance"]) == (200, "USD", 1000000)


async def test_websocket_flow(sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
    market = sim.exchange.markets["pulse"]
    c = RpcWs(await http.ws_connect(sim.ready["venues"]["pulse"]["ws"]))
    await c.ok(
        "public/auth", grant_type="client_credentials", client_id=account.api_key, client_secret=account.secret_key
    )
    assert await c.ok("private/subscribe", channels=[f"user.orders.{PERP}.raw", f"user.trades.{PERP}.raw"]) == "ok"
    assert await c.ok("public/set_heartbeat", interval=30) == OK
    assert await c.ok("private/enable_cancel_on_disconnect") == OK
    assert await c.ok("private/get_cancel_on_disconnect") is True
    bid, ask = top(sim, "pulse", PERP)
    rest = await c.ok("private/buy", instrument_name=PERP, amount=0.25, price=float(bid - 10))
    note = await c.note(f"user.orders.{PERP}.raw")
    assert (note["order_id"], note["order_state"], note["amount"]) == (rest["order"]["order_id"], "open", 0.25)
    taken = await c.ok("private/buy", instrument_name=PERP, amount=0.01, type="market")
    trade = await c.note(f"user.trades.{PERP}.raw")  # one trade object per notification
    assert (trade["order_id"], trade["price"], trade["amount"]) == (taken["order"]["order_id"], float(ask), 0.01)
    mine = await c.ok("private/get_user_trades_by_instrument", instrument_name=PERP)
    assert [t["trade_id"] for t in mine] == [trade["trade_id"]]  # Pulse: a list, not a page
    positions = await c.ok("private/get_positions", currency="USD")
    assert [(p["instrument_name"], p["direction"], p["size"]) for p in positions] == [(PERP, "buy", 0.01)]
    await c.close()
    oid = int(rest["order"]["order_id"])
    for _ in range(200):
        if not market.orders[oid].is_open:
            break
        await asyncio.sleep(0.01)
    assert market.orders[oid].extra.get("cancel_reason") == "cancel_on_disconnect"
