"""execx end to end on exchange ``deribit`` (orders over FIX 4.4, instruments, order state and market data
over JSON-RPC), over gRPC and REST, against the embedded simulator on real loopback sockets: every
transaction type, limit / market / post-only, fills on the stream, venue rejects with the venue's text,
and the FIX connection cut mid-session: the venue cancels the resting orders (cancel-on-disconnect),
execx logs on again continuing its sequence numbers, reconciles, and the stream shows exactly what
happened, with no fill lost."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx_server.connectors.deribit.connector import DeribitConnector
from jsonrpc_venue_helpers import Svc, check_fills_update_delete, check_market_data, check_reduce_only, running_service
from market_helpers import AUTH, KEY, uid
from service_helpers import collect, receive_until, rest_poster

PERP = "BTC-PERPETUAL"
D = Decimal


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running_service(tmp_path_factory.mktemp("execx-deribit"), c.EXCHANGE_DERIBIT) as s:
        yield s


def connector(svc: Svc, sid: str) -> DeribitConnector:
    conn = svc.connector(sid)
    assert isinstance(conn, DeribitConnector)
    return conn


async def test_insert_fill_update_delete_over_fix(svc: Svc) -> None:
    sid = await svc.new_session()
    conn = connector(svc, sid)
    assert conn.cancel_on_disconnect_armed
    listed = await svc.om.ListSessions(om.ListSessionsRequest(), metadata=AUTH)
    assert next(i for i in listed.sessions if i.session_id == sid).venue_cancel_on_disconnect
    bid, _ = await svc.top("deribit", PERP)
    price = bid - D("50")
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    ack = await svc.send(
        session_id=sid,
        cl_order_id="o1",
        symbol=PERP,
        price=float(price),
        qty=30.0,
        order_type=c.ORDER_TYPE_LIMIT,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_GTC,
        side=c.SIDE_BUY,
    )
    assert ack.order.order_status == c.ORDER_STATUS_NEW and ack.order.exch_order_id
    # two fills (ExecType F reports), then update (OrderCancelReplaceRequest) and delete (OrderCancelRequest)
    await check_fills_update_delete(svc, "deribit", PERP, sid, stream, price, D(10))


async def test_market_postonly_reject_and_pull(svc: Svc) -> None:
    sid = await svc.new_session()
    bid, ask = await svc.top("deribit", PERP)
    mkt = await svc.send(
        session_id=sid,
        cl_order_id="m1",
        symbol=PERP,
        qty=10.0,
        order_type=c.ORDER_TYPE_MARKET,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        side=c.SIDE_BUY,
        tif=c.TIME_IN_FORCE_IOC,
    )
    assert mkt.order.exch_order_id
    done = await svc.order(sid, "m1")
    assert done.order_status == c.ORDER_STATUS_FILLED and done.cumulative_filled_qty == 10.0
    # post-only at the ask would take: Deribit refuses it (ExecInst 6A) with its error text
    po = await svc.send(
        session_id=sid,
        cl_order_id="po1",
        symbol=PERP,
        price=float(ask),
        qty=10.0,
        order_type=c.ORDER_TYPE_POSTONLY,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        side=c.SIDE_BUY,
    )
    assert po.order.order_status == c.ORDER_STATUS_REJECTED
    assert po.order.message == "post_only_reject"
    ok = await svc.send(
        session_id=sid,
        cl_order_id="po2",
        symbol=PERP,
        price=float(bid - 100),
        qty=10.0,
        order_type=c.ORDER_TYPE_POSTONLY,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        side=c.SIDE_BUY,
    )
    assert ok.order.order_status == c.ORDER_STATUS_NEW
    for i in range(2):
        await svc.send(
            session_id=sid,
            cl_order_id=f"p{i}",
            symbol=PERP,
            price=float(bid - 200 - i),
            qty=10.0,
            order_type=c.ORDER_TYPE_LIMIT,
            transaction_type=c.TRANSACTION_TYPE_INSERT,
            side=c.SIDE_BUY,
        )
    await svc.send(session_id=sid, symbol=PERP, transaction_type=c.TRANSACTION_TYPE_PULL)
    for cl in ("po2", "p0", "p1"):
        assert (await svc.order(sid, cl)).order_status == c.ORDER_STATUS_CANCELLED


async def test_fix_connection_cut_cancel_on_disconnect_reconnect_and_no_fill_lost(svc: Svc) -> None:
    """The venue drops every Deribit connection right after a fill: cancel-on-disconnect cancels the
    resting orders, execx logs on again (continuing its MsgSeqNums), reconciles over JSON-RPC, and the
    stream shows each fill exactly once and every cancellation."""
    sid = await svc.new_session()
    conn = connector(svc, sid)
    bid, _ = await svc.top("deribit", PERP)
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    for cl, px in (("a", bid - 40), ("b", bid - 60)):
        ack = await svc.send(
            session_id=sid,
            cl_order_id=cl,
            symbol=PERP,
            price=float(px),
            qty=30.0,
            order_type=c.ORDER_TYPE_LIMIT,
            transaction_type=c.TRANSACTION_TYPE_INSERT,
            side=c.SIDE_BUY,
        )
        assert ack.order.order_status == c.ORDER_STATUS_NEW
    seq_out, seq_in = conn.fix.store.next_out, conn.fix.store.next_in
    # fills 10 of "a"; its report may or may not reach us before the cut
    await svc.trade("deribit", PERP, bid - 40, D(10), "sell")
    await svc.admin_post("/admin/faults/deribit/drop", {})  # a cut cable: FIX and websockets closed
    got = await collect(
        stream, lambda g: sum(1 for t in g if t.order_status == c.ORDER_STATUS_CANCELLED) == 2, within_s=20.0
    )
    fills = [t for t in got if t.trade_id]
    assert [(t.cl_order_id, t.executed_qty, t.cumulative_filled_qty) for t in fills] == [("a", 10.0, 10.0)]
    cancelled = {t.cl_order_id: t for t in got if t.order_status == c.ORDER_STATUS_CANCELLED}
    assert set(cancelled) == {"a", "b"}
    assert cancelled["a"].cumulative_filled_qty == 10.0 and cancelled["b"].cumulative_filled_qty == 0.0
    assert conn.fix.connections == 2 and conn.cancel_on_disconnect_armed
    # the second Logon continued the numbers (the venue accepted it: no reset to 1)
    assert conn.fix.store.next_out > seq_out and conn.fix.store.next_in > seq_in
    after = await svc.send(
        session_id=sid,
        cl_order_id="c",
        symbol=PERP,
        price=float(bid - 80),
        qty=10.0,
        order_type=c.ORDER_TYPE_LIMIT,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        side=c.SIDE_BUY,
    )
    assert after.order.order_status == c.ORDER_STATUS_NEW
    more = await collect(
        stream, lambda g: any(t.cl_order_id == "c" and t.order_status == c.ORDER_STATUS_NEW for t in g)
    )
    assert not any(t.trade_id for t in more)  # nothing replayed twice
    stream.cancel()


async def test_rest_and_websocket_with_the_seed_json(svc: Svc) -> None:
    """The seed's JSON over the REST gateway; the session gets the simulator's Deribit hosts (FIX host as
    wsUrl, JSON-RPC as restUrl) by default. A wrong secret is refused at start in the venue's words."""
    acct = await svc.admin_post("/admin/accounts", {})
    url, headers, sid = svc.ready["rest"], {"x-api-key": KEY}, uid("r-")
    bid, _ = await svc.top("deribit", PERP)
    price = bid - 25
    post = rest_poster(svc.http, url, headers)

    key = {"apiKey": acct["apiKey"], "secretKey": acct["secretKey"], "exchange": "deribit"}
    assert await post("/startOrderHandler", {"sessionId": sid, "exchangeKey": key}) == {"sessionId": sid}
    async with svc.http.ws_connect(url + "/subscribeUpdates", headers=headers) as ws:
        await ws.send_json({"sessionId": sid, "fromSeq": 0})
        order = {
            "sessionId": sid,
            "clOrderId": "rest1",
            "symbol": PERP,
            "price": float(price),
            "qty": 20.0,
            "orderType": "limit",
            "transactionType": "insert",
            "tif": "gtc",
            "side": "buy",
        }
        out = await post("/sendOrder", order)
        assert out["order"]["exchange"] == "deribit" and out["order"]["orderStatus"] == "new"
        await svc.trade("deribit", PERP, price, D(10), "sell")
        updates: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10

        async def until(pred: Any) -> None:
            await receive_until(ws, updates, pred, deadline)

        await until(lambda u: u.get("tradeId"))
        fill = next(u for u in updates if u.get("tradeId"))
        assert (fill["orderStatus"], fill["executedQty"], fill["clOrderId"]) == ("partiallyfilled", 10.0, "rest1")
        up = await post("/sendOrder", {**order, "transactionType": "update", "price": float(price - 1)})
        assert up["order"]["price"] == float(price - 1)
        gone = await post("/sendOrder", {**order, "transactionType": "delete"})
        assert gone["order"]["orderStatus"] == "cancelled"
        await post("/sendOrder", {**order, "clOrderId": "rest2", "price": float(price - 2)})
        await post("/sendOrder", {"sessionId": sid, "symbol": PERP, "transactionType": "pull"})
        await until(lambda u: u.get("clOrderId") == "rest2" and u.get("orderStatus") == "cancelled")
    bad = {**key, "secretKey": "wrong"}
    async with svc.http.post(
        url + "/startOrderHandler", json={"sessionId": uid("x-"), "exchangeKey": bad}, headers=headers
    ) as r:
        err = await r.json()
    assert r.status == 400 and "invalid_credentials" in err["message"], err


async def test_market_data_hub_quote_and_trade(svc: Svc) -> None:
    await check_market_data(svc, "deribit", PERP, D(10))


async def test_reduce_only(svc: Svc) -> None:
    await check_reduce_only(svc, "deribit", PERP, 10.0)
