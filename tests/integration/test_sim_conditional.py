"""Venue-native conditional orders on the simulator, in each venue's wire format and through ccxt where ccxt
supports the venue's stop parameters: armed at the venue, fired by the simulator's own last (or mark) price,
then filled under the venue's ids (ccxt's trigger orders: tests/conformance). Each test runs on a simulator
of its own (``simulator`` fixture): it prints trades that move the last price."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from algo_helpers import sim_trade
from execx_sim.app import Simulator
from execx_sim.core import conditional
from test_sim_bybit import Client
from test_sim_deribit_rpc import PERP, RpcWs, connect, top
from test_sim_okx import Okx

WAIT_S = 30.0


async def until(check: Any, what: str, within_s: float = WAIT_S) -> Any:
    """Poll ``await check()`` until it answers something truthy; fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


async def until_filled(ws: Any, category: str, oid: str) -> tuple[list[str], list[dict[str, Any]]]:
    """``order.{category}`` statuses and ``execution.{category}`` items of ``oid`` read until it is Filled."""
    statuses: list[str] = []
    fills: list[dict[str, Any]] = []
    while "Filled" not in statuses:
        msg = await ws.receive_json(timeout=WAIT_S)
        if msg.get("topic") == f"order.{category}":
            statuses += [o["orderStatus"] for o in msg["data"] if o["orderId"] == oid]
        elif msg.get("topic") == f"execution.{category}":
            fills += [e for e in msg["data"] if e["orderId"] == oid]
    return statuses, fills


@pytest.fixture
async def bybit(simulator: Simulator) -> AsyncIterator[Client]:
    account = simulator.exchange.create_account()
    simulator.fund_default(account)
    async with aiohttp.ClientSession() as http:
        yield Client(simulator, account, http)


# ---------------------------------------------------------------------- Bybit v5: triggerPrice


async def test_bybit_conditional_order_untriggered_then_triggered_then_filled(bybit: Client) -> None:
    sim = bybit.sim
    last = bybit.ask("bybit-linear", "BTCUSDT")
    await sim_trade(sim, "bybit-linear", "BTCUSDT", last, Decimal("0.001"), "buy")
    stop = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Market",
        "qty": "0.01",
        "orderLinkId": "stop-1",
        "triggerPrice": str(last + 20),
        "triggerBy": "LastPrice",
    }
    _, missing, _ = await bybit.post("/v5/order/create", stop)
    assert (missing["retCode"], missing["retMsg"]) == (10001, "params error: TriggerDirection invalid")
    _, wrong, _ = await bybit.post("/v5/order/create", {**stop, "triggerDirection": 2})
    assert wrong["retCode"] == 110093 and wrong["retMsg"].startswith("expect Falling")

    async with bybit.http.ws_connect(bybit.urls["private"]) as ws:
        await ws.send_json(bybit.ws_auth())
        assert (await ws.receive_json(timeout=10))["success"] is True
        await ws.send_json({"req_id": "s", "op": "subscribe", "args": ["order.linear", "execution.linear"]})
        assert (await ws.receive_json(timeout=10))["success"] is True
        _, ok, _ = await bybit.post("/v5/order/create", {**stop, "triggerDirection": 1})
        assert ok["retCode"] == 0, ok
        oid = ok["result"]["orderId"]
        _, listed, _ = await bybit.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT&orderFilter=StopOrder")
        (row,) = listed["result"]["list"]
        assert (row["orderId"], row["orderStatus"], row["stopOrderType"]) == (oid, "Untriggered", "Stop")
        assert (row["triggerPrice"], row["triggerDirection"], row["triggerBy"]) == (str(last + 20), 1, "LastPrice")
        _, plain, _ = await bybit.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT&orderFilter=Order")
        assert plain["result"]["list"] == []

        await sim_trade(sim, "bybit-linear", "BTCUSDT", last + 30, Decimal("0.001"), "buy")  # gaps through
        statuses, _ = await until_filled(ws, "linear", oid)
        assert statuses[:2] == ["Untriggered", "Triggered"] or statuses[:2] == ["Triggered", "New"]
        assert statuses[-1] == "Filled" and "Triggered" in statuses
    _, done, _ = await bybit.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT&orderLinkId=stop-1")
    (row,) = done["result"]["list"]
    assert (row["orderStatus"], row["cumExecQty"], row["stopOrderType"]) == ("Filled", "0.01", "Stop")


async def test_bybit_conditional_amend_and_cancel_deactivates(bybit: Client) -> None:
    sim = bybit.sim
    last = bybit.bid("bybit-linear", "BTCUSDT")
    await sim_trade(sim, "bybit-linear", "BTCUSDT", last, Decimal("0.001"), "sell")
    body = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Sell",
        "orderType": "Limit",
        "price": str(last - 300),
        "qty": "0.01",
        "orderLinkId": "sl-2",
        "triggerPrice": str(last - 200),
        "triggerDirection": 2,
    }
    _, ok, _ = await bybit.post("/v5/order/create", body)
    assert ok["retCode"] == 0, ok
    amend = {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "sl-2", "triggerPrice": str(last - 250)}
    _, amended, _ = await bybit.post("/v5/order/amend", amend)
    assert amended["retCode"] == 0, amended
    _, got, _ = await bybit.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT&orderLinkId=sl-2")
    assert got["result"]["list"][0]["triggerPrice"] == str(last - 250)
    cancel = {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "sl-2"}
    _, cancelled, _ = await bybit.post("/v5/order/cancel", cancel)
    assert cancelled["retCode"] == 0
    await sim_trade(sim, "bybit-linear", "BTCUSDT", last - 400, Decimal("0.001"), "sell")
    _, got, _ = await bybit.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT&orderLinkId=sl-2")
    assert (got["result"]["list"][0]["orderStatus"], got["result"]["list"][0]["cumExecQty"]) == ("Deactivated", "0")


async def test_bybit_spot_conditional_order_stop_order_filter(bybit: Client) -> None:
    """Spot conditional orders (``orderFilter=StopOrder`` + ``triggerPrice``; no ``triggerDirection``: the
    direction is where the trigger price stands against the last price at creation): listed under StopOrder
    untriggered, cancelled only under StopOrder (spot's cancel defaults to ``Order``), fired by the last price
    (Untriggered -> Triggered -> New -> Filled on ``order.spot``, one fill), then no longer a StopOrder's to
    cancel."""
    sim = bybit.sim
    last = bybit.ask("bybit-spot", "BTCUSDT")
    await sim_trade(sim, "bybit-spot", "BTCUSDT", last, Decimal("0.001"), "buy")
    buy = {
        "category": "spot",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Market",
        "marketUnit": "baseCoin",
        "qty": "0.01",
        "orderLinkId": "spot-stop-1",
        "triggerPrice": str(last + 20),
        "orderFilter": "StopOrder",
    }
    _, missing, _ = await bybit.post("/v5/order/create", {k: v for k, v in buy.items() if k != "triggerPrice"})
    assert missing["retCode"] == 10001
    _, plain, _ = await bybit.post("/v5/order/create", {k: v for k, v in buy.items() if k != "orderFilter"})
    assert plain["retCode"] == 10001
    _, bogus, _ = await bybit.post("/v5/order/create", {**buy, "orderFilter": "Stop"})
    assert (bogus["retCode"], bogus["retMsg"]) == (170202, "Invalid orderFilter parameter.")
    sell = {
        **buy,
        "side": "Sell",
        "orderType": "Limit",
        "price": str(last - 300),
        "orderLinkId": "spot-sl-1",
        "triggerPrice": str(last - 200),
    }
    del sell["marketUnit"]

    async with bybit.http.ws_connect(bybit.urls["private"]) as ws:
        await ws.send_json(bybit.ws_auth())
        assert (await ws.receive_json(timeout=10))["success"] is True
        await ws.send_json({"req_id": "s", "op": "subscribe", "args": ["order.spot", "execution.spot"]})
        assert (await ws.receive_json(timeout=10))["success"] is True
        _, ok, _ = await bybit.post("/v5/order/create", buy)
        assert ok["retCode"] == 0, ok
        oid = ok["result"]["orderId"]
        _, ok2, _ = await bybit.post("/v5/order/create", sell)
        assert ok2["retCode"] == 0, ok2
        _, listed, _ = await bybit.get("/v5/order/realtime", "category=spot&symbol=BTCUSDT&orderFilter=StopOrder")
        rows = {r["orderLinkId"]: r for r in listed["result"]["list"]}
        assert {k: (r["orderStatus"], r["stopOrderType"], r["triggerDirection"]) for k, r in rows.items()} == {
            "spot-stop-1": ("Untriggered", "StopOrder", 1),
            "spot-sl-1": ("Untriggered", "StopOrder", 2),
        }
        assert Decimal(rows["spot-stop-1"]["lastPriceOnCreated"]) == last
        assert Decimal(rows["spot-sl-1"]["triggerPrice"]) == last - 200
        _, active, _ = await bybit.get("/v5/order/realtime", "category=spot&symbol=BTCUSDT&orderFilter=Order")
        assert active["result"]["list"] == []

        cancel = {"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "spot-sl-1"}
        _, wrong, _ = await bybit.post("/v5/order/cancel", cancel)  # orderFilter Order by default
        assert (wrong["retCode"], wrong["retMsg"]) == (170213, "Order does not exist.")
        _, cancelled, _ = await bybit.post("/v5/order/cancel", {**cancel, "orderFilter": "StopOrder"})
        assert cancelled["retCode"] == 0, cancelled
        _, got, _ = await bybit.get("/v5/order/realtime", "category=spot&symbol=BTCUSDT&orderLinkId=spot-sl-1")
        assert got["result"]["list"][0]["orderStatus"] == "Deactivated"

        await sim_trade(sim, "bybit-spot", "BTCUSDT", last + 30, Decimal("0.001"), "buy")  # gaps through
        statuses, fills = await until_filled(ws, "spot", oid)
        assert statuses[0] == "Untriggered" and statuses[-1] == "Filled"
        assert statuses.index("Triggered") < statuses.index("Filled")
        await until(lambda: _fills_of(bybit, oid, fills), "its fill")
        assert sum(Decimal(f["execQty"]) for f in fills) == Decimal("0.01")
    again = {"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "spot-stop-1", "orderFilter": "StopOrder"}
    _, gone, _ = await bybit.post("/v5/order/cancel", again)
    assert gone["retCode"] == 170213
    _, done, _ = await bybit.get("/v5/order/realtime", "category=spot&symbol=BTCUSDT&orderLinkId=spot-stop-1")
    (row,) = done["result"]["list"]
    assert (row["orderStatus"], row["cumExecQty"], row["stopOrderType"]) == ("Filled", "0.01", "StopOrder")


async def _fills_of(bybit: Client, oid: str, fills: list[dict[str, Any]]) -> bool:
    """True once the fills seen on the stream add up to the order's quantity (the stream may lag the order)."""
    if sum(Decimal(f["execQty"]) for f in fills) >= Decimal("0.01"):
        return True
    _, rows, _ = await bybit.get("/v5/execution/list", f"category=spot&symbol=BTCUSDT&orderId={oid}")
    fills[:] = rows["result"]["list"]
    return sum(Decimal(f["execQty"]) for f in fills) >= Decimal("0.01")


# ---------------------------------------------------------------------- Deribit: stop_* / take_* / trailing_stop


async def rpc_client(simulator: Simulator, venue: str) -> AsyncIterator[RpcWs]:
    """A funded account's authenticated JSON-RPC websocket on ``venue`` (Deribit or Pulse)."""
    account = simulator.exchange.create_account()
    simulator.fund_default(account)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        c = await connect(http, simulator.ready["venues"][venue]["ws"])
        await c.ok(
            "public/auth", grant_type="client_credentials", client_id=account.api_key, client_secret=account.secret_key
        )
        c.sim = simulator  # type: ignore[attr-defined]
        yield c
        await c.close()


@pytest.fixture
async def deribit(simulator: Simulator) -> AsyncIterator[RpcWs]:
    async for c in rpc_client(simulator, "deribit"):
        yield c


async def test_deribit_stop_market_untriggered_then_filled_on_the_channel(deribit: RpcWs) -> None:
    sim: Simulator = deribit.sim  # type: ignore[attr-defined]
    _, ask = top(sim)
    await sim_trade(sim, "deribit", PERP, ask, Decimal("10"), "buy")
    missing = await deribit.error("private/buy", instrument_name=PERP, amount=10, type="stop_market", trigger_price=1)
    assert missing["code"] == -32602 and "trigger" in str(missing)
    await deribit.ok("private/subscribe", channels=["user.orders.BTC-PERPETUAL.raw"])
    placed = await deribit.ok(
        "private/buy",
        instrument_name=PERP,
        amount=10,
        type="stop_market",
        trigger="last_price",
        trigger_price=float(ask + 5),
        label="stop-d1",
    )
    order = placed["order"]
    assert (order["order_state"], order["order_type"], order["triggered"]) == ("untriggered", "stop_market", False)
    assert (order["trigger"], order["trigger_price"]) == ("last_price", float(ask + 5))
    assert placed["trades"] == []
    oid = order["order_id"]
    listed = await deribit.ok("private/get_open_orders_by_instrument", instrument_name=PERP, type="stop")
    assert [o["order_id"] for o in listed] == [oid]
    assert await deribit.ok("private/get_open_orders_by_instrument", instrument_name=PERP, type="limit") == []

    await sim_trade(sim, "deribit", PERP, ask + 5, Decimal("10"), "buy")
    states: list[str] = []
    while "filled" not in states:
        note = await deribit.note("user.orders.BTC-PERPETUAL.raw")
        if note["order_id"] == oid:
            states.append(note["order_state"])
            last_note = note
    assert states[0] == "untriggered" and last_note["triggered"] is True
    assert last_note["order_type"] == "stop_market" and last_note["filled_amount"] == 10
    state = await deribit.ok("private/get_order_state", order_id=oid)
    assert (state["order_state"], state["triggered"]) == ("filled", True)
    assert await deribit.ok("private/get_open_orders_by_instrument", instrument_name=PERP, type="trigger_all") == []


async def test_deribit_take_limit_edit_and_cancel_and_trailing_stop(deribit: RpcWs) -> None:
    sim: Simulator = deribit.sim  # type: ignore[attr-defined]
    bid, _ = top(sim)
    await sim_trade(sim, "deribit", PERP, bid, Decimal("10"), "sell")
    take = await deribit.ok(
        "private/buy",
        instrument_name=PERP,
        amount=10,
        type="take_limit",
        price=float(bid - 10),
        trigger="mark_price",
        trigger_price=float(bid - 20),
    )
    oid = take["order"]["order_id"]
    edited = await deribit.ok("private/edit", order_id=oid, amount=20, trigger_price=float(bid - 30))
    assert (edited["order"]["amount"], edited["order"]["trigger_price"]) == (20, float(bid - 30))
    trail = await deribit.ok(
        "private/sell", instrument_name=PERP, amount=10, type="trailing_stop", trigger="last_price", trigger_offset=50
    )
    assert trail["order"]["trigger_price"] == float(bid - 50)
    assert trail["order"]["trigger_offset"] == 50
    listed = await deribit.ok("private/get_open_orders_by_instrument", instrument_name=PERP, type="trailing_stop")
    assert [o["order_id"] for o in listed] == [trail["order"]["order_id"]]
    cancelled = await deribit.ok("private/cancel", order_id=oid)
    assert cancelled["order_state"] == "cancelled"
    assert await deribit.ok("private/cancel_all_by_instrument", instrument_name=PERP, type="trigger_all") == 1
    assert await deribit.ok("private/get_open_orders_by_instrument", instrument_name=PERP) == []


# ---------------------------------------------------------------------- Pulse (seed 004): stop_* / take_*

PULSE_PERP = "BTC_USD-PERPETUAL"
PULSE_ORDERS = f"user.orders.{PULSE_PERP}.raw"


@pytest.fixture
async def pulse(simulator: Simulator) -> AsyncIterator[RpcWs]:
    async for c in rpc_client(simulator, "pulse"):
        yield c


async def pulse_note(c: RpcWs, channel: str) -> Any:
    """The next notification on ``channel``, waited for with a generous deadline (others are skipped)."""
    while True:
        msg = await asyncio.wait_for(c.notes.get(), WAIT_S)
        if msg.get("method") == "subscription" and msg["params"]["channel"] == channel:
            return msg["params"]["data"]


async def test_pulse_stop_market_untriggered_then_open_then_filled_on_the_channel(pulse: RpcWs) -> None:
    """Seed 004: ``trigger`` is index_price or last_price (no mark_price), no trailing_stop type, and no
    ``triggered`` state: the order goes untriggered -> open -> filled under its order id."""
    sim: Simulator = pulse.sim  # type: ignore[attr-defined]
    _, ask = top(sim, "pulse", PULSE_PERP)
    await sim_trade(sim, "pulse", PULSE_PERP, ask, Decimal("0.01"), "buy")
    base = dict(instrument_name=PULSE_PERP, amount=0.01, type="stop_market", trigger_price=float(ask + 5))
    mark = await pulse.error("private/buy", **base, trigger="mark_price")
    assert mark["code"] == -32602 and "trigger" in str(mark) and "index_price or last_price" in str(mark)
    missing = await pulse.error("private/buy", **base)
    assert missing["code"] == -32602 and "trigger" in str(missing)
    trailing = await pulse.error(
        "private/sell", instrument_name=PULSE_PERP, amount=0.01, type="trailing_stop", trigger="last_price"
    )
    assert trailing["code"] == -32602 and "type" in str(trailing)
    assert await pulse.ok("private/get_open_orders_by_instrument", instrument_name=PULSE_PERP, type="trigger_all") == []
    bad_filter = await pulse.error("private/get_open_orders_by_instrument", instrument_name=PULSE_PERP, type="stop")
    assert bad_filter["code"] == -32602  # Deribit's stop / take filters are not Pulse's types

    await pulse.ok("private/subscribe", channels=[PULSE_ORDERS])
    placed = await pulse.ok("private/buy", **base, trigger="last_price", label="stop-p1")
    order = placed["order"]
    assert (order["order_state"], order["order_type"], order["label"]) == ("untriggered", "stop_market", "stop-p1")
    assert (order["trigger"], order["trigger_price"]) == ("last_price", float(ask + 5))
    assert "triggered" not in order and "stop_price" not in order  # not in Pulse's order model
    assert placed["trades"] == []
    oid = order["order_id"]
    note = await pulse_note(pulse, PULSE_ORDERS)
    assert (note["order_id"], note["order_state"]) == (oid, "untriggered")
    listed = await pulse.ok("private/get_open_orders_by_instrument", instrument_name=PULSE_PERP, type="stop_market")
    assert [o["order_id"] for o in listed] == [oid]
    for kind in ("limit", "market", "take_market"):
        assert await pulse.ok("private/get_open_orders_by_instrument", instrument_name=PULSE_PERP, type=kind) == []

    await sim_trade(sim, "pulse", PULSE_PERP, ask + 4, Decimal("0.01"), "buy")  # short of the level: nothing
    assert sim.exchange.markets["pulse"].orders[int(oid)].status.value == "UNTRIGGERED"
    await sim_trade(sim, "pulse", PULSE_PERP, ask + 5, Decimal("0.01"), "buy")
    states: list[str] = []
    while "filled" not in states:
        note = await pulse_note(pulse, PULSE_ORDERS)
        if note["order_id"] == oid:
            states.append(note["order_state"])
            last_note = note
    assert "triggered" not in states and states[-1] == "filled"
    assert last_note["order_type"] == "stop_market" and last_note["filled_amount"] == 0.01
    assert "triggered" not in last_note
    [state] = await pulse.ok("private/get_order_state", order_id=oid)  # Pulse: a list
    assert state["order_state"] == "filled"
    assert await pulse.ok("private/get_open_orders_by_instrument", instrument_name=PULSE_PERP, type="trigger_all") == []


async def test_pulse_take_limit_on_index_edited_and_cancelled(pulse: RpcWs) -> None:
    """A take_limit on index_price; ``private/edit`` with ``trigger_price`` (seed 004's Edit model); the
    cancel-all answers the cancelled orders (Pulse)."""
    sim: Simulator = pulse.sim  # type: ignore[attr-defined]
    bid, _ = top(sim, "pulse", PULSE_PERP)
    take = await pulse.ok(
        "private/buy",
        instrument_name=PULSE_PERP,
        amount=0.01,
        type="take_limit",
        price=float(bid - 10),
        trigger="index_price",
        trigger_price=float(bid - 20),
    )
    assert (take["order"]["order_state"], take["order"]["trigger"]) == ("untriggered", "index_price")
    oid = take["order"]["order_id"]
    edited = await pulse.ok(
        "private/edit", order_id=oid, amount=0.02, price=float(bid - 11), trigger_price=float(bid - 30)
    )
    assert (edited["order"]["amount"], edited["order"]["price"], edited["order"]["trigger_price"]) == (
        0.02,
        float(bid - 11),
        float(bid - 30),
    )
    assert edited["order"]["order_state"] == "untriggered"
    stop = await pulse.ok(
        "private/sell",
        instrument_name=PULSE_PERP,
        amount=0.01,
        type="stop_market",
        trigger="last_price",
        trigger_price=float(bid - 500),
    )
    cancelled = await pulse.ok("private/cancel", order_id=oid)
    assert cancelled["order_state"] == "cancelled"
    done = await pulse.ok("private/cancel_all_by_instrument", instrument_name=PULSE_PERP, type="trigger_all")
    assert [(o["order_id"], o["order_state"]) for o in done] == [(stop["order"]["order_id"], "cancelled")]
    assert await pulse.ok("private/get_open_orders_by_instrument", instrument_name=PULSE_PERP) == []


async def pulse_state(c: RpcWs, oid: str) -> dict[str, Any]:
    [state] = await c.ok("private/get_order_state", order_id=oid)
    return dict(state)


async def test_pulse_one_triggers_other_places_the_secondary_when_the_primary_executes(pulse: RpcWs) -> None:
    """Seed 004 linked order: ``linked_order_type`` one_triggers_other with ``otoco_config``; the secondary is
    listed from the start (``oto_order_ids``, ``untriggered``, ``is_secondary_oto``) and placed (``open``) once
    the primary executes; a primary cancelled unexecuted cancels its secondary."""
    sim: Simulator = pulse.sim  # type: ignore[attr-defined]
    bid, ask = top(sim, "pulse", PULSE_PERP)
    await pulse.ok("private/subscribe", channels=[PULSE_ORDERS])
    resting = await pulse.ok(
        "private/buy",
        instrument_name=PULSE_PERP,
        amount=0.01,
        type="limit",
        price=float(bid - 100),
        label="oto-rest",
        linked_order_type="one_triggers_other",
        otoco_config=[{"amount": 0.01, "direction": "sell", "price": float(ask + 100), "type": "limit"}],
    )
    primary = resting["order"]
    assert (primary["linked_order_type"], primary["is_primary_otoco"], primary["trigger_fill_condition"]) == (
        "one_triggers_other",
        True,
        "first_hit",
    )
    [held_id] = primary["oto_order_ids"]
    held = await pulse_state(pulse, held_id)
    assert (held["order_state"], held["order_type"], held["is_secondary_oto"]) == ("untriggered", "limit", True)
    assert held["primary_order_id"] == primary["order_id"] and "trigger" not in held
    await pulse.ok("private/cancel", order_id=primary["order_id"])
    await until(lambda: _state_is(pulse, held_id, "cancelled"), "the secondary cancelled with its unexecuted primary")

    placed = await pulse.ok(
        "private/buy",
        instrument_name=PULSE_PERP,
        amount=0.01,
        type="limit",
        price=float(ask),  # executes at once
        linked_order_type="one_triggers_other",
        otoco_config=[{"amount": 0.01, "direction": "sell", "price": float(ask + 100), "type": "limit"}],
    )
    assert placed["order"]["order_state"] == "filled" and placed["trades"]
    [second] = placed["order"]["oto_order_ids"]
    await until(lambda: _state_is(pulse, second, "open"), "the secondary placed")
    states = []
    while "open" not in states:
        note = await pulse_note(pulse, PULSE_ORDERS)
        if note["order_id"] == second:
            states.append(note["order_state"])
    assert states == ["untriggered", "open"]
    listed = await pulse.ok("private/get_open_orders_by_instrument", instrument_name=PULSE_PERP, type="limit")
    assert [o["order_id"] for o in listed] == [second]


async def _state_is(c: RpcWs, oid: str, state: str) -> bool:
    return (await pulse_state(c, oid))["order_state"] == state


async def test_pulse_otoco_releases_a_take_profit_and_a_stop_and_one_cancels_the_other(pulse: RpcWs) -> None:
    """one_triggers_one_cancels_other: the primary's execution places a take-profit limit (resting) and a
    stop-market (untriggered, fired by the last price); the stop's execution cancels the take-profit."""
    sim: Simulator = pulse.sim  # type: ignore[attr-defined]
    bid, ask = top(sim, "pulse", PULSE_PERP)
    placed = await pulse.ok(
        "private/buy",
        instrument_name=PULSE_PERP,
        amount=0.01,
        type="market",
        linked_order_type="one_triggers_one_cancels_other",
        trigger_fill_condition="complete_fill",
        otoco_config=[
            {"amount": 0.01, "direction": "sell", "price": float(ask + 200), "type": "limit"},
            {
                "amount": 0.01,
                "direction": "sell",
                "type": "stop_market",
                "trigger": "last_price",
                "trigger_price": float(bid),
            },
        ],
    )
    assert placed["order"]["order_state"] == "filled"
    tp, sl = placed["order"]["oto_order_ids"]
    await until(lambda: _state_is(pulse, tp, "open"), "the take-profit placed")
    stop = await pulse_state(pulse, sl)
    assert (stop["order_state"], stop["order_type"], stop["trigger_price"]) == (
        "untriggered",
        "stop_market",
        float(bid),
    )
    armed = await pulse.ok("private/get_open_orders_by_instrument", instrument_name=PULSE_PERP, type="stop_market")
    assert [o["order_id"] for o in armed] == [sl]
    await sim_trade(sim, "pulse", PULSE_PERP, bid, Decimal("0.01"), "sell")  # the stop's level (the best bid)
    await until(lambda: _state_is(pulse, sl, "filled"), "the stop fired and filled")
    await until(lambda: _state_is(pulse, tp, "cancelled"), "the take-profit cancelled by the stop's execution")
    assert (await pulse_state(pulse, tp))["cancel_reason"] == "linked_order"


async def test_pulse_linked_order_refusals(pulse: RpcWs) -> None:
    sim: Simulator = pulse.sim  # type: ignore[attr-defined]
    bid, _ = top(sim, "pulse", PULSE_PERP)
    base = dict(instrument_name=PULSE_PERP, amount=0.01, type="limit", price=float(bid - 100))
    leg = {"amount": 0.01, "direction": "sell", "price": float(bid + 100), "type": "limit"}
    cases = [
        ({"linked_order_type": "one_cancels_other", "otoco_config": [leg]}, "linked_order_type"),
        ({"linked_order_type": "one_triggers_other", "otoco_config": []}, "otoco_config"),
        ({"linked_order_type": "one_triggers_one_cancels_other", "otoco_config": [leg]}, "otoco_config"),
        (
            {"linked_order_type": "one_triggers_other", "otoco_config": [leg], "trigger_fill_condition": "incremental"},
            "trigger_fill_condition",
        ),
        ({"linked_order_type": "one_triggers_other", "otoco_config": [{**leg, "direction": "up"}]}, "direction"),
        (
            {"linked_order_type": "one_triggers_other", "otoco_config": [{**leg, "type": "stop_limit"}]},
            "otoco_config[0].trigger",
        ),
    ]
    for extra, field_name in cases:
        err = await pulse.error("private/buy", **base, **extra)
        assert err["code"] == -32602 and field_name in str(err), (extra, err)
    assert await pulse.ok("private/get_open_orders_by_instrument", instrument_name=PULSE_PERP) == []


# ---------------------------------------------------------------------- OKX: order-algo


@pytest.fixture
async def okx(simulator: Simulator) -> AsyncIterator[Okx]:
    account = simulator.exchange.create_account()
    simulator.fund_default(account)
    async with aiohttp.ClientSession() as http:
        client = Okx(simulator, account, http)
        client.sim = simulator  # type: ignore[attr-defined]
        yield client


async def test_okx_conditional_algo_order_live_then_effective_on_the_channel(okx: Okx) -> None:
    sim: Simulator = okx.sim  # type: ignore[attr-defined]
    swap = "BTC-USDT-SWAP"
    _, ask = top(sim, "okx", swap)
    await sim_trade(sim, "okx", swap, ask, Decimal("0.01"), "buy")
    algo = {"instId": swap, "tdMode": "cross", "side": "buy", "ordType": "conditional", "sz": "1"}
    # both legs on a conditional: OKX performs the stop-loss and ignores the take-profit
    legs = {"slTriggerPx": str(ask + 20), "slOrdPx": "-1", "tpTriggerPx": str(ask - 20), "tpOrdPx": "-1"}
    _, both = await okx.call("POST", "/api/v5/trade/order-algo", {**algo, **legs})
    assert both["code"] == "0", both
    _, pending = await okx.call("GET", "/api/v5/trade/orders-algo-pending?ordType=conditional")
    (row,) = pending["data"]
    assert (row["slTriggerPx"], row["tpTriggerPx"]) == (str(ask + 20), "")
    _, gone = await okx.call("POST", "/api/v5/trade/cancel-algos", [{"algoId": row["algoId"], "instId": swap}])
    assert gone["code"] == "0"
    async with await okx.ws("business") as ws:
        await ws.send_json(okx.login())
        assert (await ws.receive_json(timeout=10))["event"] == "login"
        await ws.send_json({"op": "subscribe", "args": [{"channel": "orders-algo", "instType": "SWAP"}]})
        assert (await ws.receive_json(timeout=10))["event"] == "subscribe"
        stop = {**algo, "slTriggerPx": str(ask + 20), "slOrdPx": "-1", "algoClOrdId": "okxstop1"}
        _, placed = await okx.call("POST", "/api/v5/trade/order-algo", stop)
        assert placed["code"] == "0", placed
        algo_id = placed["data"][0]["algoId"]
        _, pending = await okx.call("GET", "/api/v5/trade/orders-algo-pending?ordType=conditional")
        (row,) = pending["data"]
        assert (row["algoId"], row["state"], row["slTriggerPx"], row["slOrdPx"]) == (
            algo_id,
            "live",
            str(ask + 20),
            "-1",
        )
        _, regular = await okx.call("GET", "/api/v5/trade/orders-pending")
        assert regular["data"] == []  # an algo order is not an order until it fires
        await sim_trade(sim, "okx", swap, ask + 30, Decimal("0.01"), "buy")
        states: list[str] = []
        while "effective" not in states:
            msg = await ws.receive_json(timeout=WAIT_S)
            states += [d["state"] for d in msg.get("data", []) if d.get("algoId") == algo_id]
        assert states[0] == "live"
    _, detail = await okx.call("GET", f"/api/v5/trade/order-algo?algoId={algo_id}")
    row = detail["data"][0]
    assert row["state"] == "effective" and row["ordId"] and row["actualSide"] == "sl"
    _, order = await okx.call("GET", f"/api/v5/trade/order?instId={swap}&ordId={row['ordId']}")
    assert (order["data"][0]["state"], order["data"][0]["clOrdId"]) == ("filled", "okxstop1")
    _, history = await okx.call("GET", "/api/v5/trade/orders-algo-history?ordType=conditional&state=effective")
    assert [r["algoId"] for r in history["data"]] == [algo_id]


async def test_okx_trigger_and_trailing_cancelled(okx: Okx) -> None:
    sim: Simulator = okx.sim  # type: ignore[attr-defined]
    swap = "BTC-USDT-SWAP"
    bid, _ = top(sim, "okx", swap)
    await sim_trade(sim, "okx", swap, bid, Decimal("0.01"), "sell")
    base = {"instId": swap, "tdMode": "cross", "side": "sell", "sz": "1"}
    _, trig = await okx.call(
        "POST",
        "/api/v5/trade/order-algo",
        {**base, "ordType": "trigger", "triggerPx": str(bid - 30), "orderPx": str(bid - 40), "triggerPxType": "mark"},
    )
    _, trail = await okx.call(
        "POST", "/api/v5/trade/order-algo", {**base, "ordType": "move_order_stop", "callbackSpread": "50"}
    )
    assert trig["code"] == "0" and trail["code"] == "0", (trig, trail)
    _, pending = await okx.call("GET", "/api/v5/trade/orders-algo-pending?ordType=trigger,move_order_stop")
    rows = {r["ordType"]: r for r in pending["data"]}
    assert rows["trigger"]["triggerPx"] == str(bid - 30) and rows["trigger"]["triggerPxType"] == "mark"
    assert rows["move_order_stop"]["moveTriggerPx"] == str(bid - 50)
    ids = [{"algoId": r["algoId"], "instId": swap} for r in pending["data"]]
    _, cancelled = await okx.call("POST", "/api/v5/trade/cancel-algos", ids)
    assert cancelled["code"] == "0" and all(d["sCode"] == "0" for d in cancelled["data"])
    _, again = await okx.call("POST", "/api/v5/trade/cancel-algos", ids[:1])
    assert again["code"] == "1" and again["data"][0]["sCode"] == "51603"
    _, pending = await okx.call("GET", "/api/v5/trade/orders-algo-pending?ordType=trigger,move_order_stop")
    assert pending["data"] == []


async def algo_states(ws: aiohttp.ClientWebSocketResponse, algo_id: str, until_state: str) -> list[dict[str, Any]]:
    """The ``orders-algo`` rows of ``algo_id`` read until one is ``until_state``."""
    rows: list[dict[str, Any]] = []
    while until_state not in [r["state"] for r in rows]:
        msg = await ws.receive_json(timeout=WAIT_S)
        rows += [d for d in msg.get("data", []) if d.get("algoId") == algo_id]
    return rows


async def test_okx_oco_take_profit_fires_and_ends_the_stop_loss(okx: Okx) -> None:
    """``ordType oco``: one algo order with a take-profit and a stop-loss leg, each with its trigger price type; the
    legs' levels on the wrong side of the last price are refused in OKX's words; the take-profit reached places its
    order (filled, ``clOrdId`` = ``algoClOrdId``) and ends the stop-loss: a print through the stop-loss level later
    places nothing. A second oco cancelled with ``cancel-algos`` leaves neither leg armed."""
    sim: Simulator = okx.sim  # type: ignore[attr-defined]
    swap = "BTC-USDT-SWAP"
    _, ask = top(sim, "okx", swap)
    await sim_trade(sim, "okx", swap, ask, Decimal("0.01"), "buy")  # the last price
    base = {"instId": swap, "tdMode": "cross", "ordType": "oco", "sz": "1", "tpOrdPx": "-1", "slOrdPx": "-1"}
    refusals = [
        ({"side": "sell", "tpTriggerPx": str(ask - 10), "slTriggerPx": str(ask - 50)}, "51279"),
        ({"side": "sell", "tpTriggerPx": str(ask + 50), "slTriggerPx": str(ask + 10)}, "51280"),
        ({"side": "buy", "tpTriggerPx": str(ask + 10), "slTriggerPx": str(ask + 50)}, "51277"),
        ({"side": "buy", "tpTriggerPx": str(ask - 50), "slTriggerPx": str(ask - 10)}, "51278"),
        ({"side": "sell", "tpTriggerPx": str(ask + 50)}, "51000"),  # both legs required
    ]
    for extra, code in refusals:
        _, out = await okx.call("POST", "/api/v5/trade/order-algo", {**base, **extra})
        assert out["code"] == "1" and out["data"][0]["sCode"] == code, (extra, out)
    account = okx.account
    market = sim.exchange.markets["okx"]

    async def no_legs() -> bool:
        return conditional.armed_orders(market, account) == []

    assert await no_legs()  # nothing armed by a refusal
    async with await okx.ws("business") as ws:
        await ws.send_json(okx.login())
        assert (await ws.receive_json(timeout=10))["event"] == "login"
        await ws.send_json({"op": "subscribe", "args": [{"channel": "orders-algo", "instType": "ANY"}]})
        assert (await ws.receive_json(timeout=10))["event"] == "subscribe"
        oco = {
            **base,
            "side": "sell",
            "algoClOrdId": "okxoco1",
            "tpTriggerPx": str(ask + 50),
            "slTriggerPx": str(ask - 50),
            "slTriggerPxType": "mark",
        }
        _, placed = await okx.call("POST", "/api/v5/trade/order-algo", oco)
        assert placed["code"] == "0", placed
        algo_id = placed["data"][0]["algoId"]
        _, pending = await okx.call("GET", "/api/v5/trade/orders-algo-pending?ordType=oco")
        (row,) = pending["data"]
        assert (row["algoId"], row["algoClOrdId"], row["state"], row["ordType"]) == (algo_id, "okxoco1", "live", "oco")
        assert (row["tpTriggerPx"], row["tpTriggerPxType"], row["tpOrdPx"]) == (str(ask + 50), "last", "-1")
        assert (row["slTriggerPx"], row["slTriggerPxType"], row["slOrdPx"]) == (str(ask - 50), "mark", "-1")
        _, conditional_rows = await okx.call("GET", "/api/v5/trade/orders-algo-pending?ordType=conditional")
        assert conditional_rows["data"] == []
        await sim_trade(sim, "okx", swap, ask + 60, Decimal("0.01"), "buy")  # through the take-profit level
        rows = await algo_states(ws, algo_id, "effective")
        assert rows[0]["state"] == "live" and "canceled" not in [r["state"] for r in rows]
        _, detail = await okx.call("GET", f"/api/v5/trade/order-algo?algoId={algo_id}")
        done = detail["data"][0]
        assert (done["state"], done["actualSide"], done["ordType"]) == ("effective", "tp", "oco") and done["ordId"]
        _, order = await okx.call("GET", f"/api/v5/trade/order?instId={swap}&ordId={done['ordId']}")
        assert (order["data"][0]["state"], order["data"][0]["clOrdId"], order["data"][0]["side"]) == (
            "filled",
            "okxoco1",
            "sell",
        )
        await until(no_legs, "the stop-loss leg ended")
        _, pending = await okx.call("GET", "/api/v5/trade/orders-algo-pending?ordType=oco")
        assert pending["data"] == []
        await sim_trade(sim, "okx", swap, ask - 60, Decimal("0.01"), "sell")  # through the stop-loss level
        _, history = await okx.call("GET", "/api/v5/trade/orders-algo-history?ordType=oco&state=effective")
        assert [r["algoId"] for r in history["data"]] == [algo_id]
        _, filled = await okx.call("GET", "/api/v5/trade/orders-history?instType=SWAP")
        assert [o["clOrdId"] for o in filled["data"]].count("okxoco1") == 1  # the stop-loss placed nothing
        _, ask = top(sim, "okx", swap)
        await sim_trade(sim, "okx", swap, ask, Decimal("0.01"), "buy")
        second = {**base, "side": "buy", "tpTriggerPx": str(ask - 50), "slTriggerPx": str(ask + 50)}
        _, placed = await okx.call("POST", "/api/v5/trade/order-algo", second)
        assert placed["code"] == "0", placed
        second_id = placed["data"][0]["algoId"]
        assert len(conditional.armed_orders(market, account)) == 2  # its two legs
        _, cancelled = await okx.call("POST", "/api/v5/trade/cancel-algos", [{"algoId": second_id, "instId": swap}])
        assert cancelled["code"] == "0" and cancelled["data"][0]["sCode"] == "0"
        rows = await algo_states(ws, second_id, "canceled")
        assert [r["state"] for r in rows] == ["live", "canceled"]
        await until(no_legs, "both legs cancelled")
        _, history = await okx.call("GET", "/api/v5/trade/orders-algo-history?ordType=oco&state=canceled")
        assert [r["algoId"] for r in history["data"]] == [second_id]
        _, again = await okx.call("POST", "/api/v5/trade/cancel-algos", [{"algoId": second_id, "instId": swap}])
        assert again["data"][0]["sCode"] == "51603"


async def test_okx_attached_tp_sl_placed_when_its_order_fills(okx: Okx) -> None:
    """``POST trade/order`` (and the websocket's ``order`` op) with ``attachAlgoOrds`` (one item): listed on the
    order's row (no ``attachAlgoId``, no algo order while it rests); filled, OKX places an ``oco`` algo order of the
    other side and the filled size under the ``attachAlgoClOrdId`` (its algoId the row's ``attachAlgoId``);
    partially filled and then cancelled, a ``conditional`` (a stop-loss alone) for the part filled (OKX's rule since
    July 2026); cancelled unfilled, nothing. A take-profit already on the wrong side of the last price when it is
    placed: ``failCode`` 51279 on the row, nothing placed. Refused (51000 naming the field): two items (a split
    take-profit, not simulated), a take-profit without its order price, a trigger price type OKX has not."""
    sim: Simulator = okx.sim  # type: ignore[attr-defined]
    swap = "BTC-USDT-SWAP"
    bid, _ = top(sim, "okx", swap)
    px = bid - 100  # a buy resting under the market
    entry = {"instId": swap, "tdMode": "cross", "side": "buy", "ordType": "limit", "px": str(px)}
    bracket = {"tpTriggerPx": str(px + 200), "tpOrdPx": "-1", "slTriggerPx": str(px - 100), "slOrdPx": "-1"}
    refusals = [
        ([bracket, bracket], "Parameter attachAlgoOrds error"),
        ([{"tpTriggerPx": str(px + 200)}], "Parameter tpOrdPx error"),
        ([{**bracket, "slTriggerPxType": "bid"}], "Parameter slTriggerPxType error"),
    ]
    for attach, msg in refusals:
        _, out = await okx.call("POST", "/api/v5/trade/order", {**entry, "sz": "1", "attachAlgoOrds": attach})
        assert out["data"][0]["sCode"] == "51000" and out["data"][0]["sMsg"] == msg, (attach, out)

    async def algos(kind: str) -> list[dict[str, Any]]:
        _, out = await okx.call("GET", f"/api/v5/trade/orders-algo-pending?ordType={kind}")
        rows: list[dict[str, Any]] = out["data"]
        return rows

    async def row(cl: str) -> dict[str, Any]:
        _, out = await okx.call("GET", f"/api/v5/trade/order?instId={swap}&clOrdId={cl}")
        got: dict[str, Any] = out["data"][0]
        return got

    full = {**entry, "sz": "1", "clOrdId": "att1", "attachAlgoOrds": [{**bracket, "attachAlgoClOrdId": "attTp1"}]}
    _, out = await okx.call("POST", "/api/v5/trade/order", full)
    assert out["data"][0]["sCode"] == "0", out
    (attached,) = (await row("att1"))["attachAlgoOrds"]
    assert (attached["attachAlgoClOrdId"], attached["attachAlgoId"], attached["tpTriggerPx"]) == (
        "attTp1",
        "",
        str(px + 200),
    )
    assert (attached["slTriggerPx"], attached["slOrdPx"], attached["slTriggerPxType"]) == (str(px - 100), "-1", "last")
    assert await algos("oco") == []  # nothing placed while the order rests
    await sim_trade(sim, "okx", swap, px, Decimal("0.01"), "sell")  # fills it (one contract)
    (oco,) = await until(lambda: algos("oco"), "the attached oco placed")
    assert (oco["algoClOrdId"], oco["side"], oco["sz"], oco["state"]) == ("attTp1", "sell", "1", "live")
    assert (oco["tpTriggerPx"], oco["slTriggerPx"]) == (str(px + 200), str(px - 100))
    assert (await row("att1"))["attachAlgoOrds"][0]["attachAlgoId"] == oco["algoId"]
    _, out = await okx.call("POST", "/api/v5/trade/cancel-algos", [{"algoId": oco["algoId"], "instId": swap}])
    assert out["data"][0]["sCode"] == "0"

    stop_only = {"slTriggerPx": str(px - 100), "slOrdPx": "-1", "attachAlgoClOrdId": "attSl2"}
    part = {**entry, "sz": "2", "clOrdId": "att2", "attachAlgoOrds": [stop_only]}
    _, out = await okx.call("POST", "/api/v5/trade/order", part)
    assert out["data"][0]["sCode"] == "0", out
    await sim_trade(sim, "okx", swap, px, Decimal("0.01"), "sell")  # one contract of two
    await until(lambda: _partially(row("att2")), "att2 partially filled")
    _, out = await okx.call("POST", "/api/v5/trade/cancel-order", {"instId": swap, "clOrdId": "att2"})
    assert out["data"][0]["sCode"] == "0"
    (stop,) = await until(lambda: algos("conditional"), "the attached stop-loss placed for the filled part")
    assert (stop["algoClOrdId"], stop["side"], stop["sz"], stop["slTriggerPx"]) == (
        "attSl2",
        "sell",
        "1",
        str(px - 100),
    )
    _, out = await okx.call("POST", "/api/v5/trade/cancel-algos", [{"algoId": stop["algoId"], "instId": swap}])
    assert out["data"][0]["sCode"] == "0"

    unfilled = {**entry, "sz": "1", "clOrdId": "att3", "attachAlgoOrds": [{**bracket, "attachAlgoClOrdId": "attTp3"}]}
    _, instruments = await okx.call("GET", "/api/v5/public/instruments?instType=SWAP")
    code = next(i["instIdCode"] for i in instruments["data"] if i["instId"] == swap)
    async with await okx.ws("private") as ws:  # the websocket's order op takes them too
        await ws.send_json(okx.login())
        assert (await ws.receive_json(timeout=10))["event"] == "login"
        args = {k: v for k, v in unfilled.items() if k != "instId"} | {"instIdCode": code}
        await ws.send_json({"id": "a3", "op": "order", "args": [args]})
        answer = await ws.receive_json(timeout=10)
        assert answer["id"] == "a3" and answer["code"] == "0", answer
    assert (await row("att3"))["attachAlgoOrds"][0]["attachAlgoClOrdId"] == "attTp3"
    _, out = await okx.call("POST", "/api/v5/trade/cancel-order", {"instId": swap, "clOrdId": "att3"})
    assert out["data"][0]["sCode"] == "0" and (await row("att3"))["state"] == "canceled"

    wrong = {**bracket, "tpTriggerPx": str(px - 10), "attachAlgoClOrdId": "attTp4"}  # under the fill's price
    _, out = await okx.call(
        "POST", "/api/v5/trade/order", {**entry, "sz": "1", "clOrdId": "att4", "attachAlgoOrds": [wrong]}
    )
    assert out["data"][0]["sCode"] == "0", out
    await sim_trade(sim, "okx", swap, px, Decimal("0.01"), "sell")
    failed = await until(lambda: _failed(row("att4")), "the attached oco refused when placed")
    assert failed["failCode"] == "51279" and failed["attachAlgoId"] == ""
    assert await algos("oco") == [] and await algos("conditional") == []  # att3 and att4 placed nothing


async def _partially(row: Any) -> bool:
    return bool((await row)["state"] == "partially_filled")


async def _failed(row: Any) -> dict[str, Any] | None:
    attached: dict[str, Any] = (await row)["attachAlgoOrds"][0]
    return attached if attached["failCode"] else None
