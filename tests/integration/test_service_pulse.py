"""execx end to end on exchange ``pulse`` (seed 004's Deribit-style JSON-RPC gateway: orders, private
stream, heartbeat and cancel-on-disconnect over one websocket), over gRPC and REST, against the embedded
simulator on real loopback sockets: every transaction type, limit / market / post-only (Pulse moves a
crossing post-only price inside the spread), fills on the stream, venue rejects with Pulse's message, and
the websocket dropped mid-session: Pulse cancels the resting orders (cancel-on-disconnect), execx
reconnects, reconciles and the stream shows exactly what happened, with no fill lost."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx_server.connectors.pulse.connector import PulseConnector
from jsonrpc_venue_helpers import Svc, check_fills_update_delete, check_market_data, check_reduce_only, running_service
from market_helpers import AUTH, KEY, uid
from service_helpers import collect, receive_until, rest_poster

PERP = "BTC_USD-PERPETUAL"
D = Decimal


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running_service(tmp_path_factory.mktemp("execx-pulse"), c.EXCHANGE_PULSE) as s:
        yield s


def connector(svc: Svc, sid: str) -> PulseConnector:
    conn = svc.connector(sid)
    assert isinstance(conn, PulseConnector)
    return conn


def limit(sid: str, cl: str, price: Decimal, qty: str, side: int = c.SIDE_BUY, **extra: Any) -> dict[str, Any]:
    return {
        "session_id": sid,
        "cl_order_id": cl,
        "symbol": PERP,
        "price": float(price),
        "qty": float(qty),
        "order_type": c.ORDER_TYPE_LIMIT,
        "transaction_type": c.TRANSACTION_TYPE_INSERT,
        "side": side,
        **extra,
    }


async def test_insert_fill_update_delete(svc: Svc) -> None:
    sid = await svc.new_session()
    assert connector(svc, sid).cancel_on_disconnect_armed
    bid, _ = await svc.top("pulse", PERP)
    price = bid - 50
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    ack = await svc.send(**limit(sid, "o1", price, "0.03", tif=c.TIME_IN_FORCE_GTC))
    assert ack.order.order_status == c.ORDER_STATUS_NEW and ack.order.exch_order_id
    await check_fills_update_delete(svc, "pulse", PERP, sid, stream, price, D("0.01"))


async def test_market_postonly_reject_and_pull(svc: Svc) -> None:
    sid = await svc.new_session()
    bid, ask = await svc.top("pulse", PERP)
    mkt = await svc.send(
        session_id=sid,
        cl_order_id="m1",
        symbol=PERP,
        qty=0.01,
        order_type=c.ORDER_TYPE_MARKET,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        side=c.SIDE_BUY,
        tif=c.TIME_IN_FORCE_IOC,
    )
    assert mkt.order.exch_order_id
    done = await svc.order(sid, "m1")
    assert done.order_status == c.ORDER_STATUS_FILLED and done.cumulative_filled_qty == 0.01
    # a post-only buy at the ask would take: Pulse moves it just below the ask instead
    po = await svc.send(**limit(sid, "po1", ask, "0.01", order_type=c.ORDER_TYPE_POSTONLY))
    assert po.order.order_status == c.ORDER_STATUS_NEW and po.order.price == float(ask - D("0.5"))
    # a venue refusal carries Pulse's message
    far = await svc.send(**limit(sid, "far", bid * 2, "0.01", side=c.SIDE_SELL, order_type=c.ORDER_TYPE_LIMIT))
    assert far.order.order_status == c.ORDER_STATUS_REJECTED and far.order.message.startswith("10007 price_too_high")
    for i in range(2):
        await svc.send(**limit(sid, f"p{i}", bid - 200 - i, "0.01"))
    await svc.send(session_id=sid, symbol=PERP, transaction_type=c.TRANSACTION_TYPE_PULL)
    for cl in ("po1", "p0", "p1"):
        assert (await svc.order(sid, cl)).order_status == c.ORDER_STATUS_CANCELLED


async def test_websocket_drop_cancel_on_disconnect_reconnect_and_no_fill_lost(svc: Svc) -> None:
    sid = await svc.new_session()
    conn = connector(svc, sid)
    bid, _ = await svc.top("pulse", PERP)
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    for cl, px in (("a", bid - 40), ("b", bid - 60)):
        ack = await svc.send(**limit(sid, cl, px, "0.03"))
        assert ack.order.order_status == c.ORDER_STATUS_NEW
    # fills 0.01 of "a"; its notification may or may not reach us before the drop
    await svc.trade("pulse", PERP, bid - 40, D("0.01"), "sell")
    await svc.admin_post("/admin/faults/pulse/drop", {})
    got = await collect(
        stream, lambda g: sum(1 for t in g if t.order_status == c.ORDER_STATUS_CANCELLED) == 2, within_s=20.0
    )
    fills = [t for t in got if t.trade_id]
    assert [(t.cl_order_id, t.executed_qty, t.cumulative_filled_qty) for t in fills] == [("a", 0.01, 0.01)]
    cancelled = {t.cl_order_id: t for t in got if t.order_status == c.ORDER_STATUS_CANCELLED}
    assert set(cancelled) == {"a", "b"}
    assert cancelled["a"].cumulative_filled_qty == 0.01 and cancelled["b"].cumulative_filled_qty == 0.0
    assert conn.rpc.ws.reconnects == 1 and conn.cancel_on_disconnect_armed
    after = await svc.send(**limit(sid, "c", bid - 80, "0.01"))
    assert after.order.order_status == c.ORDER_STATUS_NEW
    more = await collect(
        stream, lambda g: any(t.cl_order_id == "c" and t.order_status == c.ORDER_STATUS_NEW for t in g)
    )
    assert not any(t.trade_id for t in more)
    stream.cancel()


async def test_rest_and_websocket_with_the_seed_json(svc: Svc) -> None:
    acct = await svc.admin_post("/admin/accounts", {})
    url, headers, sid = svc.ready["rest"], {"x-api-key": KEY}, uid("r-")
    bid, _ = await svc.top("pulse", PERP)
    price = bid - 25
    post = rest_poster(svc.http, url, headers)

    key = {"apiKey": acct["apiKey"], "secretKey": acct["secretKey"], "exchange": "pulse"}
    assert await post("/startOrderHandler", {"sessionId": sid, "exchangeKey": key}) == {"sessionId": sid}
    async with svc.http.ws_connect(url + "/subscribeUpdates", headers=headers) as ws:
        await ws.send_json({"sessionId": sid, "fromSeq": 0})
        order = {
            "sessionId": sid,
            "clOrderId": "rest1",
            "symbol": PERP,
            "price": float(price),
            "qty": 0.02,
            "orderType": "limit",
            "transactionType": "insert",
            "tif": "gtc",
            "side": "buy",
        }
        out = await post("/sendOrder", order)
        assert out["order"]["exchange"] == "pulse" and out["order"]["orderStatus"] == "new"
        await svc.trade("pulse", PERP, price, D("0.01"), "sell")
        updates: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10

        async def until(pred: Any) -> None:
            await receive_until(ws, updates, pred, deadline)

        await until(lambda u: u.get("tradeId"))
        fill = next(u for u in updates if u.get("tradeId"))
        assert (fill["orderStatus"], fill["executedQty"], fill["clOrderId"]) == ("partiallyfilled", 0.01, "rest1")
        gone = await post("/sendOrder", {**order, "transactionType": "delete"})
        assert gone["order"]["orderStatus"] == "cancelled"
    bad = {**key, "secretKey": "wrong"}
    async with svc.http.post(
        url + "/startOrderHandler", json={"sessionId": uid("x-"), "exchangeKey": bad}, headers=headers
    ) as r:
        err = await r.json()
    assert r.status == 400 and "invalid_credentials" in err["message"], err


async def test_market_data_hub_quote_and_trade(svc: Svc) -> None:
    await check_market_data(svc, "pulse", PERP, D("0.01"))


async def test_reduce_only(svc: Svc) -> None:
    await check_reduce_only(svc, "pulse", PERP, 0.01)
