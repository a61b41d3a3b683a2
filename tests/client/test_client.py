"""execx_client.ExecxClient against execx (in-process, on the simulator) over real gRPC sockets: every
area of the API, typed results with the wire strings, one ExecxError with a grpc.StatusCode, inputs in
any case, per-call timeouts, the key on every call, session re-attach."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import aiohttp
import grpc
import pytest
from client_helpers import KEY, Execx, Keys, Tail
from execx_client import ExecxClient, ExecxError, OrderRequest, OrderTransaction, RiskLimits, types

SYMBOL = "BTCUSDT"


async def mid(x: Execx, venue: str = "binance-spot", symbol: str = SYMBOL) -> float:
    async with aiohttp.ClientSession() as http, http.get(x.sim.ready["admin"] + "/admin/state") as r:
        return float((await r.json())["markets"][venue][symbol]["mid"])


def cid() -> str:
    return "c" + uuid.uuid4().hex[:20]


async def test_orders_queries_and_errors(execx: Execx, keys: Keys) -> None:
    async with ExecxClient(execx.target, KEY, timeout=10) as x:
        sid = "s-" + uuid.uuid4().hex[:8]
        assert await x.start_session(sid, "BINANCE-SPOT", **keys) == sid  # enums in any case
        updates = Tail(x.updates(sid, from_seq=1))
        price = round(await mid(execx) * 0.9, 2)
        o = await x.insert(sid, cid(), SYMBOL, "BUY", qty=0.001, price=price, order_type="POSTONLY")
        assert isinstance(o, OrderTransaction)
        assert (o.side, o.order_type, o.tif, o.exchange) == ("buy", "postonly", "gtc", "binance-spot")
        assert o.order_status in ("pendingnew", "new")
        first = await updates.wait(lambda u: isinstance(u, OrderTransaction) and u.order_status == "new")
        assert first.cl_order_id == o.cl_order_id and first.seq > 0

        got = await x.get_order(sid, o.cl_order_id)
        assert got.order_status == "new" and got.price == price
        assert [g.cl_order_id for g in await x.list_orders(sid, SYMBOL, open_only=True)] == [o.cl_order_id]
        amended = await x.amend(sid, o.cl_order_id, price=round(price - 1, 2))
        assert amended.transaction_type == "update"
        positions = Tail(x.positions(sid))
        await positions.wait(lambda p: p.session_id == sid, what="the positions snapshot")
        # the market trades into the order: a fill, typed
        await execx.admin(
            "/admin/market/trade",
            {"market": "binance-spot", "symbol": SYMBOL, "price": str(price - 1), "qty": "0.001", "aggressor": "sell"},
        )
        fill = await updates.wait(lambda u: isinstance(u, OrderTransaction) and u.trade_id != "")
        assert fill.order_status == "filled" and fill.executed_qty == pytest.approx(0.001)
        fills = await x.list_fills(sid)
        assert [(f.trade_id, f.side, f.trade_liquidity) for f in fills] == [(fill.trade_id, "buy", "add")]
        assert await x.get_position(sid, SYMBOL) == pytest.approx(0.001)
        await positions.wait(lambda p: p.positions.get(SYMBOL) == pytest.approx(0.001), what="the new position")
        await positions.close()

        # batch, cancel-all, cancel of a single order
        batch = await x.batch_send(
            [
                OrderRequest(sid, cid(), SYMBOL, "Buy", 0.001, round(price * 0.99, 2), "postonly"),
                OrderRequest(sid, cid(), SYMBOL, "buy", 0.001, round(price * 0.98, 2), "limit"),
                OrderRequest(sid, cid(), SYMBOL, "buy", -1, price, "limit"),
            ]
        )
        assert [r.status.code if r.status else None for r in batch][:2] == [grpc.StatusCode.OK, grpc.StatusCode.OK]
        assert batch[2].status is not None and batch[2].status.code == grpc.StatusCode.INVALID_ARGUMENT
        single = await x.insert(sid, cid(), SYMBOL, "buy", 0.001, round(price * 0.97, 2))
        assert (await x.cancel(sid, single.cl_order_id)).order_status in ("pendingcancel", "cancelled")
        cancelled = await x.cancel_all(sid, SYMBOL)
        assert sorted(cancelled) == sorted(r.order.cl_order_id for r in batch[:2] if r.order)
        assert await x.list_orders(sid, open_only=True) == []

        # sessions, risk limits, kill switch
        info = {s.session_id: s for s in await x.list_sessions()}[sid]
        assert info.exchange == "binance-spot" and info.active and info.last_seq >= fill.seq
        limits = await x.set_risk_limits(sid, RiskLimits(max_order_qty=0.01))
        assert limits is not None and limits.max_order_qty == pytest.approx(0.01) and limits.max_open_orders is None
        with pytest.raises(ExecxError) as e:
            await x.insert(sid, cid(), SYMBOL, "buy", 0.02, price)
        assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION and "maxOrderQty" in e.value.message
        assert await x.engage_kill_switch(sid, "test") == []
        assert (await x.get_risk_limits(sid)).kill_switch
        risk = await updates.wait(lambda u: isinstance(u, types.RiskEvent))
        assert risk.event in ("riskLimitsChanged", "killSwitchEngaged")
        await x.release_kill_switch(sid)
        assert await x.set_log_level("INFO") == "info"

        # errors: always ExecxError with a grpc.StatusCode
        with pytest.raises(ExecxError) as e:
            await x.insert(sid, cid(), SYMBOL, "sideways", 0.001, price)
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and "side" in e.value.message
        with pytest.raises(ExecxError) as e:
            await x.get_order("no-such-session", "x")
        assert e.value.code == grpc.StatusCode.NOT_FOUND
        with pytest.raises(ExecxError) as e:
            await x.insert("no-such-session", cid(), SYMBOL, "buy", 0.001, price)
        assert isinstance(e.value.code, grpc.StatusCode) and e.value.code == grpc.StatusCode.NOT_FOUND

        # re-attach: the same keys answer the live session, other keys ALREADY_EXISTS
        assert await x.start_session(sid, "binance-spot", **keys) == sid
        with pytest.raises(ExecxError) as e:
            await x.start_session(sid, "binance-spot", keys["api_key"], keys["secret_key"] + "-other")
        assert e.value.code == grpc.StatusCode.ALREADY_EXISTS
        assert await x.stop_session(sid) == 0
        await updates.close()
    # openapi.json says what the README and the proto comments say about reusing a session id
    async with aiohttp.ClientSession() as http, http.get(execx.ready["rest"] + "/openapi.json") as r:
        text = json.dumps((await r.json())["paths"]["/startOrderHandler"])
    assert "re-attaches to the live" in text and "ALREADY_EXISTS" in text, text


async def test_wrong_key_and_unreachable_are_execx_errors(execx: Execx) -> None:
    async with ExecxClient(execx.target, "wrong-key") as x:
        with pytest.raises(ExecxError) as e:
            await x.list_sessions()
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(ExecxError) as e:
            await x.insert("s", "c", SYMBOL, "buy", 0.001, 1.0)
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    # nothing listens: each call ends at its own timeout with DEADLINE_EXCEEDED (waiting for execx)
    async with ExecxClient("127.0.0.1:9", KEY) as x:
        t0 = time.monotonic()
        with pytest.raises(ExecxError) as e:
            await x.list_sessions(timeout=0.3)
        assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        with pytest.raises(ExecxError) as e:
            await x.insert("s", "c", SYMBOL, "buy", 0.001, 1.0, timeout=0.3)
        assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - t0 < 3
        assert x.connection_state() in ("connecting", "transient_failure", "idle")


async def test_market_data_and_algorithms(execx: Execx, keys: Keys) -> None:
    async with ExecxClient(execx.target, KEY) as x:
        sid = "a-" + uuid.uuid4().hex[:8]
        await x.start_session(sid, "binance-spot", **keys)
        md = Tail(x.market_data("binance-spot", "ETHUSDT"))
        m = await mid(execx, symbol="ETHUSDT")
        for _ in range(30):  # the quiet book sends a quote when it moves (the venue subscription may be in flight)
            await execx.admin("/admin/market/move", {"market": "binance-spot", "symbol": "ETHUSDT", "price": str(m)})
            try:
                quote = await md.wait(
                    lambda u: u.quote is not None and 0 < u.quote.bid_price < u.quote.ask_price, within_s=0.5
                )
                break
            except AssertionError:
                continue
        assert quote.exchange == "binance-spot" and 0 < quote.quote.bid_price < quote.quote.ask_price
        # grid trader on the fresh feed
        grid = await x.start_grid_trader(
            sid, "binance-spot", "ETHUSDT", grid_levels=4, order_qty=0.01, mode="Arithmetic", grid_range_percentage=2
        )
        assert grid is not None
        got = await x.get_grid_trader(sid, "binance-spot", "ETHUSDT")
        assert got is not None and got.state in ("running", "paused")
        await x.stop_grid_trader(sid, "binance-spot", "ETHUSDT")
        await md.close()

        # trigger manager: an order sent when a trade prints at or above the level
        await x.start_trigger_manager(sid, "binance-spot", "ETHUSDT")
        await x.set_trigger(
            "t1", "binance-spot", "ETHUSDT", round(m * 1.001, 2), "UP",
            [OrderRequest(sid, cid(), "ETHUSDT", "buy", 0.01, round(m * 0.9, 2), "postonly")],
        )  # fmt: skip
        (info,) = await x.list_triggers("binance-spot", "ETHUSDT")
        assert info.trigger is not None and info.trigger.direction == "up" and not info.fired
        assert await x.clear_triggers("binance-spot", "ETHUSDT") == 1
        await x.stop_trigger_manager(sid, "binance-spot", "ETHUSDT")

        # position manager: target, status, stop
        status = await x.start_position_manager(sid, "binance-spot", "SOLUSDT", min_order_qty=0.1)
        assert status is not None and status.symbol == "SOLUSDT"
        status = await x.set_target_position("binance-spot", "SOLUSDT", 0.0)
        assert status is not None and status.target_position == 0.0
        assert any(p.symbol == "SOLUSDT" for p in await x.list_position_managers())
        stopped = await x.stop_position_manager("binance-spot", "SOLUSDT")
        assert stopped is not None and stopped.state == "stopped"

        # dip buyer
        await x.start_dip_buyer(
            sid, "binance-spot", "BNBUSDT", dip_percentage=5, order_qty=0.01, max_long_pos=1, time_period=60, cooldown=1
        )
        dip = await x.get_dip_buyer(sid, "binance-spot", "BNBUSDT")
        assert dip is not None and dip.state in ("running", "paused")
        await x.stop_dip_buyer(sid, "binance-spot", "BNBUSDT")

        # account views (SmartOrderService)
        balances = await x.get_balances()
        assert any(b.asset_id_exchange == "USDT" and b.balance > 0 for b in balances["BINANCE-SPOT"])
        with pytest.raises(ExecxError) as e:
            await x.start_grid_trader(sid, "binance-spot", "ETHUSDT", grid_levels=4, order_qty=0.01, mode="spiral")
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and "ARITHMETIC" in e.value.message
        await x.stop_session(sid)


async def test_a_closed_client_answers_cancelled(execx: Execx) -> None:
    x = ExecxClient(execx.target, KEY)
    await x.close()
    for call in (x.list_sessions(), x.insert("s", "c", SYMBOL, "buy", 0.001, 1.0)):
        with pytest.raises(ExecxError) as e:
            await call
        assert e.value.code == grpc.StatusCode.CANCELLED
    assert x.connection_state() == "shutdown"


async def test_concurrent_orders_on_a_fresh_order_stream_all_answered(execx: Execx, keys: Keys) -> None:
    """Many inserts at once on a client's first OrderEntry stream: its writes are one at a time (gRPC refuses a
    second send while one is in flight, which failed the stream and left requests unanswered until their
    timeout), and every insert is answered."""
    async with ExecxClient(execx.target, KEY, timeout=30) as x:
        sid = await x.start_session("s-" + uuid.uuid4().hex[:8], "binance-spot", **keys)
        price = round(await mid(execx) * 0.9, 2)
        orders = await asyncio.gather(*(x.insert(sid, cid(), SYMBOL, "buy", qty=0.001, price=price) for _ in range(40)))
        assert len({o.cl_order_id for o in orders}) == 40
        assert all(o.order_status in ("pendingnew", "new") for o in orders)


async def test_order_batch_sends_concurrent_orders_together_and_takes_batched_answers(execx: Execx, keys: Keys) -> None:
    """With ``order_batch``, orders made while a write is in flight go in the next message together (execx's
    ``batch``), and answers that come several in one message (``maxBatch``) each reach their caller: 40
    inserts at once after the first take fewer than 40 messages; 20 refused at once come back batched."""
    async with ExecxClient(execx.target, KEY, timeout=30, order_batch=8) as x:
        sid = await x.start_session("s-" + uuid.uuid4().hex[:8], "binance-spot", **keys)
        price = round(await mid(execx) * 0.9, 2)
        await x.insert(sid, cid(), SYMBOL, "buy", qty=0.001, price=price)  # the stream is open, the channel ready
        before = x.order_entry_messages()
        orders = await asyncio.gather(*(x.insert(sid, cid(), SYMBOL, "buy", qty=0.001, price=price) for _ in range(40)))
        assert len({o.cl_order_id for o in orders}) == 40
        assert all(o.order_status in ("pendingnew", "new") for o in orders)
        assert x.order_entry_messages() - before <= 1 + 39 // 8 + 1  # the first alone, the rest up to 8 a message
        bad = await asyncio.gather(
            *(x.insert(sid, f"bad id {i}", SYMBOL, "buy", qty=0.001, price=price) for i in range(20)),
            return_exceptions=True,
        )
        assert all(isinstance(e, ExecxError) and e.code == grpc.StatusCode.INVALID_ARGUMENT for e in bad), bad
        assert all("clOrderId" in str(e) for e in bad)
        listed = await x.list_orders(sid, open_only=True)
        assert {o.cl_order_id for o in orders} <= {o.cl_order_id for o in listed}
    with pytest.raises(ExecxError) as e:
        ExecxClient(execx.target, KEY, order_batch=1001)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and "order_batch" in e.value.message
