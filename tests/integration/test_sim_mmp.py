"""The simulator's market-maker protection on Deribit (JSON-RPC over its WebSocket) and Pulse (seed 004, over
HTTP and its WebSocket), on a simulator of this module's own (fills are printed with the admin market API):
set / get the configuration, a trip by quantity and by delta cancelling the MMP orders only (cancel_reason
``mmp_trigger``) with the ``user.mmp_trigger`` notification, new MMP orders refused ``13030 mmp_trigger`` while
frozen, ``get_mmp_status``, ``reset_mmp``; the venues' differences (Pulse: one object, no delta limit, a reset
by setting the configuration again)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from algo_helpers import simulator
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.core.types import Side
from test_sim_deribit_rpc import RpcWs, connect, top
from test_sim_pulse import post, token

D = Decimal
PERP, PULSE_PERP = "BTC-PERPETUAL", "BTC_USD-PERPETUAL"


@pytest.fixture(scope="module")
async def own() -> AsyncIterator[Simulator]:
    async with simulator() as sim:
        yield sim


async def authed(sim: Simulator, http: aiohttp.ClientSession, venue: str) -> tuple[RpcWs, Account]:
    acct = sim.exchange.create_account()
    sim.fund_default(acct)
    ws = await connect(http, sim.ready["venues"][venue]["ws"])
    await ws.ok("public/auth", grant_type="client_credentials", client_id=acct.api_key, client_secret=acct.secret_key)
    return ws, acct


async def open_ids(ws: RpcWs, symbol: str) -> list[str]:
    return [o["order_id"] for o in await ws.ok("private/get_open_orders_by_instrument", instrument_name=symbol)]


async def test_deribit_quantity_trip_freeze_status_and_reset(own: Simulator) -> None:
    async with aiohttp.ClientSession() as http:
        ws, _ = await authed(own, http, "deribit")
        try:
            bid, _ = top(own, "deribit", PERP)
            rows = await ws.ok(
                "private/set_mmp_config", index_name="btc_usd", interval=600, frozen_time=0, quantity_limit=20
            )
            assert rows == [{"index_name": "btc_usd", "interval": 600, "frozen_time": 0, "quantity_limit": 20}]
            assert await ws.ok("private/get_mmp_config", index_name="btc_usd") == rows
            assert await ws.ok("private/subscribe", channels=["user.mmp_trigger.btc_usd"]) == [
                "user.mmp_trigger.btc_usd"
            ]
            err = await ws.error("private/buy", instrument_name=PERP, amount=10, type="market", mmp=True)
            assert err["data"]["param"] == "mmp"
            level, far = bid - 150, bid - 400
            placed = [
                (await ws.ok("private/buy", instrument_name=PERP, amount=10, price=float(p), mmp=m))["order"]
                for p, m in ((level, True), (level, True), (far, True), (far, False))
            ]
            assert [o["mmp"] for o in placed] == [True, True, True, False]
            own.synthetic.print_trade("deribit", PERP, level, D(1), Side.SELL)  # 10 USD: below the limit
            assert await ws.ok("private/get_mmp_status") == []
            own.synthetic.print_trade("deribit", PERP, level, D(1), Side.SELL)  # 20 USD within 60 s: tripped
            note = await ws.note("user.mmp_trigger.btc_usd")
            assert note == {"index_name": "btc_usd", "frozen_until": 0}
            assert await open_ids(ws, PERP) == [placed[3]["order_id"]]  # the MMP quote pulled, the other kept
            pulled = await ws.ok("private/get_order_state", order_id=placed[2]["order_id"])
            assert (pulled["order_state"], pulled["cancel_reason"]) == ("cancelled", "mmp_trigger")
            err = await ws.error("private/buy", instrument_name=PERP, amount=10, price=float(far), mmp=True)
            assert (err["code"], err["message"]) == (13030, "mmp_trigger")
            await ws.ok("private/buy", instrument_name=PERP, amount=10, price=float(far))  # no flag: not frozen
            assert await ws.ok("private/get_mmp_status") == [{"index_name": "btc_usd", "frozen_until": 0}]
            assert await ws.ok("private/reset_mmp", index_name="btc_usd") == "ok"
            assert await ws.ok("private/get_mmp_status") == []
            again = await ws.ok("private/buy", instrument_name=PERP, amount=10, price=float(far), mmp=True)
            assert again["order"]["order_state"] == "open"
            await ws.ok("private/cancel_all")
            assert await ws.ok("private/set_mmp_config", index_name="btc_usd", interval=0, frozen_time=0) == []
            assert await ws.ok("private/get_mmp_config") == []
        finally:
            await ws.close()


async def test_deribit_delta_limit_nets_buys_and_sells(own: Simulator) -> None:
    async with aiohttp.ClientSession() as http:
        ws, _ = await authed(own, http, "deribit")
        try:
            bid, ask = top(own, "deribit", PERP)
            # 10 USD at ~97 000 is ~0.000103 BTC of delta; two buys net ~0.000206 > 0.00015
            await ws.ok(
                "private/set_mmp_config", index_name="btc_usd", interval=600, frozen_time=30, delta_limit=0.00015
            )
            await ws.ok("private/subscribe", channels=["user.mmp_trigger.btc_usd"])
            lo, hi = bid - 250, ask + 250
            for _ in range(2):
                await ws.ok("private/buy", instrument_name=PERP, amount=10, price=float(lo), mmp=True)
            await ws.ok("private/sell", instrument_name=PERP, amount=10, price=float(hi), mmp=True)
            own.synthetic.print_trade("deribit", PERP, lo, D(1), Side.SELL)  # +0.000103
            own.synthetic.print_trade("deribit", PERP, hi, D(1), Side.BUY)  # -0.000103: net 0
            assert await ws.ok("private/get_mmp_status") == []
            await ws.ok("private/sell", instrument_name=PERP, amount=10, price=float(hi), mmp=True)
            own.synthetic.print_trade("deribit", PERP, lo, D(1), Side.SELL)  # +0.000103
            own.synthetic.print_trade("deribit", PERP, lo, D(1), Side.SELL)  # nothing rests there now: no fill
            assert await ws.ok("private/get_mmp_status") == []
            await ws.ok("private/buy", instrument_name=PERP, amount=10, price=float(lo), mmp=True)
            own.synthetic.print_trade("deribit", PERP, lo, D(1), Side.SELL)  # +0.000206 net: tripped
            note = await ws.note("user.mmp_trigger.btc_usd")
            assert note["index_name"] == "btc_usd" and note["frozen_until"] > 0  # frozen for 30 s
            assert await open_ids(ws, PERP) == []  # the resting MMP offer pulled
            await ws.ok("private/reset_mmp", index_name="btc_usd")
            await ws.ok("private/set_mmp_config", index_name="btc_usd", interval=0, frozen_time=0)
        finally:
            await ws.close()


async def test_pulse_config_object_no_delta_and_reset_by_setting(own: Simulator) -> None:
    async with aiohttp.ClientSession() as http:
        ws, acct = await authed(own, http, "pulse")
        try:
            tok = await token(own, acct, http)
            # the document's SetMMPConfig body, as is
            body = {"frozen_time": 10, "index_name": "btc_usd", "interval": 10, "quantity_limit": 10}
            status, cfg = await post(own, http, "private/set_mmp_config", body, tok)
            assert (status, cfg) == (200, body)
            status, got = await post(own, http, "private/get_mmp_config", {"index_name": "btc_usd"}, tok)
            assert (status, got) == (200, body)
            status, err = await post(own, http, "private/set_mmp_config", {**body, "delta_limit": 1}, tok)
            assert status == 400 and err["response"]["data"]["param"] == "delta_limit"
            status, err = await post(own, http, "private/reset_mmp", {"index_name": "btc_usd"}, tok)
            assert status == 400 and err["response"]["code"] == -32601  # no such method on Pulse
            # a trip: 0.001 BTC limit
            trip = {**body, "interval": 600, "frozen_time": 600, "quantity_limit": 0.002}  # long: a slow machine
            await post(own, http, "private/set_mmp_config", trip, tok)
            await ws.ok("private/subscribe", channels=["user.mmp_trigger.btc_usd"])
            bid, _ = top(own, "pulse", PULSE_PERP)
            level = bid - 50
            for _ in range(2):
                await ws.ok("private/buy", instrument_name=PULSE_PERP, amount=0.001, price=float(level), mmp=True)
            own.synthetic.print_trade("pulse", PULSE_PERP, level, D("0.002"), Side.SELL)
            note = await ws.note("user.mmp_trigger.btc_usd")
            now_s = own.exchange.now_ms() / 1000
            assert note["index_name"] == "btc_usd" and now_s < note["frozen_until"] <= now_s + 601  # seconds
            err = await ws.error("private/buy", instrument_name=PULSE_PERP, amount=0.001, price=float(level), mmp=True)
            assert err["code"] == 13030
            # setting the configuration again resets the freeze (the document: "triggers MMP reset")
            await post(own, http, "private/set_mmp_config", body, tok)
            placed = await ws.ok("private/buy", instrument_name=PULSE_PERP, amount=0.001, price=float(level), mmp=True)
            assert placed["order"]["order_state"] == "open"
            await ws.ok("private/cancel_all")
        finally:
            await ws.close()
