"""``tif: day`` (issue 14): on a venue without day orders execx sends the order as gtc and cancels it at 00:00
UTC; the schedule is journaled, so an order whose day ended while execx was down is cancelled once its session
is live again; where the venue has a day order (Deribit, Pulse) the venue ends it and execx schedules nothing.
The clock is injected (``DayOrders.now_ns``), never a real midnight."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_server.app import Service, Settings
from execx_server.engine.day_orders import day_end_ns
from jsonrpc_venue_helpers import Svc, running_service
from market_helpers import AUTH, KEY, exchange_enum, uid
from waiting import eventually

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))
from fault_harness import SimProcess

D = Decimal
WAIT_S = 15.0


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running_service(tmp_path_factory.mktemp("execx-day"), c.EXCHANGE_BINANCE_SPOT) as s:
        yield s


def day_buy(sid: str, cl: str, symbol: str, price: Decimal, qty: str) -> om.SendOrderRequest:
    return om.SendOrderRequest(
        session_id=sid,
        cl_order_id=cl,
        symbol=symbol,
        price=float(price),
        qty=float(qty),
        order_type=c.ORDER_TYPE_LIMIT,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_DAY,
        side=c.SIDE_BUY,
    )


async def start(svc: Svc, venue: str) -> tuple[str, dict[str, str]]:
    acct = await svc.admin_post("/admin/accounts", {})
    sid = uid("day")
    await svc.start_session(sid, venue, acct)
    return sid, acct


async def test_emulated_day_order_rests_as_gtc_and_is_cancelled_at_midnight(svc: Svc) -> None:
    """binance-spot has no day orders: the order is accepted, rests at the venue as GTC, and when the
    injected clock passes 00:00 UTC execx cancels it (a ``dayOrderExpired`` riskEvent first)."""
    venue, symbol = "binance-spot", "BTCUSDT"
    sid, acct = await start(svc, venue)
    bid, _ = await svc.top(venue, symbol)
    before = time.time_ns()
    ack = await svc.om.SendOrder(day_buy(sid, "d1", symbol, bid * D("0.97"), "0.001"), metadata=AUTH)
    assert ack.order.order_status == c.ORDER_STATUS_NEW, ack.order.message
    assert ack.order.tif == c.TIME_IN_FORCE_DAY
    sim = svc.service.sim
    account = sim.exchange.account_by_key(acct["apiKey"])
    assert account is not None
    (resting,) = [o for o in sim.exchange.markets[venue].account_orders(account) if o.is_open]
    assert resting.tif.value == "GTC"
    day = svc.service.engine.day_orders
    due = day.due(sid, "d1")
    assert due == day_end_ns(before) and due % 86_400_000_000_000 == 0
    day.now_ns = lambda: due - 1  # one nanosecond before midnight: nothing happens
    try:
        assert await day.check() == []
        day.now_ns = lambda: due  # 00:00 UTC
        assert await day.check() == ["d1"]

        async def cancelled() -> bool:
            return (await svc.order(sid, "d1")).order_status == c.ORDER_STATUS_CANCELLED

        await eventually(cancelled, "the day order cancelled at 00:00 UTC", WAIT_S)
        assert not resting.is_open and day.due(sid, "d1") is None
    finally:
        day.now_ns = lambda: svc.service.engine.clock_ns()


async def test_native_day_order_is_the_venues(svc: Svc) -> None:
    """Deribit has good-til-day: the order goes as a day order and execx schedules no cancel of its own."""
    venue, symbol = "deribit", "BTC-PERPETUAL"
    sid, _ = await start(svc, venue)
    bid, _ = await svc.top(venue, symbol)
    ack = await svc.om.SendOrder(day_buy(sid, "n1", symbol, (bid * D("0.97")).quantize(D("1")), "10"), metadata=AUTH)
    assert ack.order.order_status == c.ORDER_STATUS_NEW, ack.order.message
    assert svc.service.engine.day_orders.due(sid, "n1") is None
    await svc.om.SendOrder(
        om.SendOrderRequest(
            session_id=sid, cl_order_id="n1", symbol=symbol, transaction_type=c.TRANSACTION_TYPE_DELETE
        ),
        metadata=AUTH,
    )


async def test_a_day_that_ended_while_execx_was_down_is_cancelled_at_start_up(tmp_path: Path) -> None:
    """execx (in this process) against ``execx-sim`` (its own process, so the venue keeps the order across
    execx's restart): a day order on binance-spot, execx stopped, started again on the same journal with the
    clock past midnight; when the strategy starts the session again the order is cancelled."""
    venue, symbol = "binance-spot", "BTCUSDT"
    sim = SimProcess(tmp_path, seed=16)
    sim.start()
    data = tmp_path / "data"
    data.mkdir()
    sid = uid("dr")
    try:
        async with aiohttp.ClientSession() as http:

            async def admin(method: str, path: str, **kw: Any) -> Any:
                async with http.request(method, sim.ready["admin"] + path, **kw) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            acct = await admin("POST", "/admin/accounts", json={})
            hosts = sim.ready["venues"][venue]
            start_req = om.StartOrderHandlerRequest(
                session_id=sid,
                exchange_key=c.ExchangeKey(
                    api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=exchange_enum(venue)
                ),
                rest_url=hosts["rest"],
                ws_url=json.dumps(hosts),
            )

            async def open_at_venue() -> int:
                hist = await admin("GET", "/admin/history", params={"apiKey": acct["apiKey"], "market": venue})
                return sum(1 for o in hist["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED"))

            service = Service(Settings(key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=data))
            await service.start()
            try:
                async with grpc.aio.insecure_channel(service.ready["grpc"]) as channel:
                    stub = om_grpc.OrderManagerServiceStub(channel)
                    await stub.StartOrderHandler(start_req, metadata=AUTH)
                    book = await admin("GET", "/admin/book", params={"market": venue, "symbol": symbol})
                    price = D(book["bids"][0][0]) * D("0.97")
                    ack = await stub.SendOrder(day_buy(sid, "d1", symbol, price, "0.001"), metadata=AUTH)
                    assert ack.order.order_status == c.ORDER_STATUS_NEW, ack.order.message
                    assert service.engine is not None
                    due = service.engine.day_orders.due(sid, "d1")
                    assert due is not None
            finally:
                await service.stop()  # a deliberate stop: the order stays at the venue
            assert await open_at_venue() == 1

            service = Service(Settings(key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=data))
            await service.start()
            try:
                assert service.engine is not None
                day = service.engine.day_orders
                assert day.due(sid, "d1") == due  # read back from the journal
                day.now_ns = lambda: due + 3_600_000_000_000  # execx came back an hour after midnight
                async with grpc.aio.insecure_channel(service.ready["grpc"]) as channel:
                    stub = om_grpc.OrderManagerServiceStub(channel)
                    await stub.StartOrderHandler(start_req, metadata=AUTH)

                    async def none_open() -> bool:
                        return await open_at_venue() == 0

                    await eventually(none_open, "the expired day order cancelled at start-up", WAIT_S)

                    async def cancelled() -> bool:
                        got = await stub.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id="d1"), metadata=AUTH)
                        return got.order.order_status == c.ORDER_STATUS_CANCELLED

                    await eventually(cancelled, "execx reports the cancel", WAIT_S)
            finally:
                await service.stop()
    finally:
        sim.stop()
