"""execx's memory follows its live orders (issue 22): thousands of orders through the service leave only
the live ones and the recent window (engine/store.py FINISHED_KEPT) in memory, and every query about the
older ones still answers, from the journal, as it did when they were in memory."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import grpc
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_server.app import Service, Settings
from execx_server.engine.store import FINISHED_KEPT, FINISHED_SLACK

KEY = "memory-test-key"
AUTH = (("x-api-key", KEY),)
N = 3 * FINISHED_KEPT


async def test_thousands_of_orders_leave_only_live_ones_and_the_window_in_memory(tmp_path: Path) -> None:
    service = Service(Settings(key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=tmp_path, sim=True, sim_quiet=True))
    await service.start()
    channel = grpc.aio.insecure_channel(service.ready["grpc"])
    stub = om_grpc.OrderManagerServiceStub(channel)
    try:
        admin = service.ready["sim"]["admin"]
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{admin}/admin/accounts", json={}) as r:
                acct = await r.json()
            # 3 000 orders in a few seconds are far beyond Binance's order rate limits (which execx honours
            # itself, from exchangeInfo): this test is about memory
            big = {"ORDERS": 10**9, "REQUEST_WEIGHT": 10**9, "RAW_REQUESTS": 10**9}
            async with http.post(f"{admin}/admin/ratelimits/binance-spot", json=big) as r:
                assert r.status == 200
        key = c.ExchangeKey(api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT)
        await stub.StartOrderHandler(om.StartOrderHandlerRequest(session_id="mem", exchange_key=key), metadata=AUTH)
        async with aiohttp.ClientSession() as http, http.get(f"{admin}/admin/state") as r:
            mid = float((await r.json())["markets"]["binance-spot"]["BTCUSDT"]["mid"])

        def order(i: int, tif: int) -> om.SendOrderRequest:
            return om.SendOrderRequest(
                session_id="mem",
                cl_order_id=f"m{i}",
                symbol="BTCUSDT",
                price=round(mid * 0.9, 2),
                qty=0.001,
                order_type=c.ORDER_TYPE_LIMIT,
                tif=tif,
                transaction_type=c.TRANSACTION_TYPE_INSERT,
                side=c.SIDE_BUY,
            )

        # 3 000 IOC orders far below the market (each ends expired at once), and 5 that rest
        call = stub.OrderEntry(metadata=AUTH)
        for i in range(N):
            await call.write(om.OrderEntryRequest(request_id=i, order=order(i, c.TIME_IN_FORCE_IOC)))
        for i in range(N, N + 5):
            await call.write(om.OrderEntryRequest(request_id=i, order=order(i, c.TIME_IN_FORCE_GTC)))
        await call.done_writing()
        answers = [a async for a in call]
        assert len(answers) == N + 5 and all(a.status.code == 0 for a in answers)
        resting = [a for a in answers if a.request_id >= N]
        assert all(a.order.order_status == c.ORDER_STATUS_NEW for a in resting), resting

        in_memory = service.engine.sessions["mem"].orders
        assert len(in_memory) <= FINISHED_KEPT + FINISHED_SLACK + 5
        assert all(f"m{i}" in in_memory for i in range(N, N + 5))  # every live order
        assert "m0" not in in_memory

        # every query still answers for the oldest ones, from the journal
        first = await stub.GetOrder(om.GetOrderRequest(session_id="mem", cl_order_id="m0"), metadata=AUTH)
        assert first.order.order_status == c.ORDER_STATUS_EXPIRED and first.order.qty == 0.001
        listed = await stub.ListOrders(om.ListOrdersRequest(session_id="mem"), metadata=AUTH)
        assert [o.cl_order_id for o in listed.orders] == [f"m{i}" for i in range(N + 5)]
        live = await stub.ListOrders(om.ListOrdersRequest(session_id="mem", open_only=True), metadata=AUTH)
        assert [o.cl_order_id for o in live.orders] == [f"m{i}" for i in range(N, N + 5)]
        replay = stub.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id="mem", from_seq=1), metadata=AUTH)
        seen = []
        async for u in replay:
            seen.append(u.transaction)
            if len(seen) == 2 * N + 10:  # pendingnew and its answer, per order
                break
        replay.cancel()
        assert [t.seq for t in seen] == list(range(1, 2 * N + 11))
        # an idempotent retry of the oldest insert is the order it made, not a second one
        again = await stub.SendOrder(order(0, c.TIME_IN_FORCE_IOC), metadata=AUTH)
        assert again.order.order_status == c.ORDER_STATUS_EXPIRED
        listed = await stub.ListOrders(om.ListOrdersRequest(session_id="mem"), metadata=AUTH)
        assert len(listed.orders) == N + 5
    finally:
        await channel.close()
        await service.stop()
