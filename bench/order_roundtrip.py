"""Order round trip through execx versus calling the venue directly, measured side by side in one run
against the embedded simulator (binance-spot) on loopback. Prints one JSON line per figure.

    .venv/bin/python bench/order_roundtrip.py [--orders 500]

The simulator (``execx-sim``) and execx run as separate processes, as a venue and a sidecar would;
this process is the strategy. Figures (µs; p50/p99 over ``--orders`` inserts, only the insert is timed):
- ``grpc_unary``: SendOrder call → venue ack seen by the caller (the response)
- ``grpc_stream``: the same over the bidirectional OrderEntry stream (one in flight at a time)
- ``grpc_unary_to_update``: SendOrder call → the ``new`` update seen on SubscribeUpdates
- ``rest``: POST /sendOrder through the REST gateway
- ``direct_aiohttp``: a signed POST /api/v3/order straight to the simulator (the floor)
- ``direct_ccxt``: ccxt ``create_order`` straight to the simulator (what a user would call in-process)
Plus ``orders_per_second`` (pipelined OrderEntry, 64 in flight) and execx's resident memory at rest
and with 10k open orders.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import grpc
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc

KEY = "bench-key"
AUTH = (("x-api-key", KEY),)


def emit(name: str, **fields: Any) -> None:
    print(json.dumps({"figure": name, **fields}), flush=True)


def pct(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"p50_us": round(statistics.median(s), 1), "p99_us": round(s[int(len(s) * 0.99) - 1], 1), "n": len(s)}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def timed(n: int, one: Callable[[int], Awaitable[None]]) -> list[float]:
    for i in range(min(50, n)):  # warm-up
        await one(10_000_000 + i)
    out = []
    for i in range(n):
        t = time.perf_counter_ns()
        await one(i)
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


async def start(*cmd: str) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    return proc, json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=500)
    n = ap.parse_args().orders
    # Three processes, as in production: the venue (simulator), execx, and the strategy (this one).
    sim, sim_ready = await start(sys.executable, "-m", "execx_sim.cli", "--quiet")
    with tempfile.TemporaryDirectory() as tmp:
        execx, ready = await start(
            sys.executable,
            "-m",
            "execx_server.cli",
            "--key",
            KEY,
            "--port",
            "0",
            "--grpcPort",
            "0",
            "--promPort",
            "0",
            "--dataDir",
            tmp,
        )
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{sim_ready['admin']}/admin/ratelimits/binance-spot",
                    json={"REQUEST_WEIGHT": 10**9, "ORDERS": 10**9, "RAW_REQUESTS": 10**9},
                ) as r,
            ):
                assert r.status == 200  # the bench measures latency, not the venue's rate limits
            await run(execx.pid, ready, sim_ready, n)
        finally:
            for proc in (execx, sim):
                proc.terminate()
                await proc.wait()


async def run(execx_pid: int, ready: dict[str, Any], sim_ready: dict[str, Any], n: int) -> None:
    venue = sim_ready["venues"]["binance-spot"]
    acct = sim_ready["accounts"][0]
    emit("memory_at_rest", execx_rss_mb=round(rss_mb(execx_pid), 1))
    channel = grpc.aio.insecure_channel(ready["grpc"])
    stub = om_grpc.OrderManagerServiceStub(channel)
    sid = "bench"
    await stub.StartOrderHandler(
        om.StartOrderHandlerRequest(
            session_id=sid,
            rest_url=venue["rest"],
            ws_url=json.dumps(venue),
            exchange_key=c.ExchangeKey(
                api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT
            ),
        ),
        metadata=AUTH,
    )
    price = 90000.0  # far below the market: rests, never fills

    def insert(cl: str) -> om.SendOrderRequest:
        return om.SendOrderRequest(
            session_id=sid,
            cl_order_id=cl,
            symbol="BTCUSDT",
            price=price,
            qty=0.001,
            order_type=c.ORDER_TYPE_LIMIT,
            transaction_type=c.TRANSACTION_TYPE_INSERT,
            side=c.SIDE_BUY,
        )

    def delete(cl: str) -> om.SendOrderRequest:
        return om.SendOrderRequest(
            session_id=sid, cl_order_id=cl, symbol="BTCUSDT", transaction_type=c.TRANSACTION_TYPE_DELETE
        )

    # gRPC unary
    samples = []
    for i in range(n + 50):
        cl = f"u{i}"
        t = time.perf_counter_ns()
        await stub.SendOrder(insert(cl), metadata=AUTH)
        if i >= 50:
            samples.append((time.perf_counter_ns() - t) / 1000)
        await stub.SendOrder(delete(cl), metadata=AUTH)
    emit("grpc_unary", **pct(samples))

    # gRPC unary → update on the stream
    stream = stub.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid), metadata=AUTH)
    samples = []
    for i in range(n):
        cl = f"s{i}"
        t = time.perf_counter_ns()
        await stub.SendOrder(insert(cl), metadata=AUTH)
        while True:
            msg = await stream.read()
            if msg.transaction.cl_order_id == cl and msg.transaction.order_status == c.ORDER_STATUS_NEW:
                break
        samples.append((time.perf_counter_ns() - t) / 1000)
        await stub.SendOrder(delete(cl), metadata=AUTH)
    stream.cancel()
    emit("grpc_unary_to_update", **pct(samples))

    # bidirectional OrderEntry, one in flight
    call = stub.OrderEntry(metadata=AUTH)
    samples = []
    for i in range(n + 50):
        cl = f"b{i}"
        t = time.perf_counter_ns()
        await call.write(om.OrderEntryRequest(request_id=i, order=insert(cl)))
        await call.read()
        if i >= 50:
            samples.append((time.perf_counter_ns() - t) / 1000)
        await call.write(om.OrderEntryRequest(request_id=i, order=delete(cl)))
        await call.read()
    emit("grpc_stream", **pct(samples))

    # sustained throughput: pipelined OrderEntry with 64 in flight
    total, window = 2000, 64
    t0 = time.perf_counter()
    sent = received = 0
    while received < total:
        while sent < total and sent - received < window:
            await call.write(om.OrderEntryRequest(request_id=sent, order=insert(f"t{sent}")))
            sent += 1
        await call.read()
        received += 1
    emit("orders_per_second", grpc_stream_pipelined=round(total / (time.perf_counter() - t0)))
    await call.done_writing()
    await stub.CancelAllOrders(om.CancelAllOrdersRequest(session_id=sid, symbol="BTCUSDT"), metadata=AUTH)

    # REST through the gateway
    async with aiohttp.ClientSession(headers={"x-api-key": KEY}) as http:
        samples = []
        for i in range(n + 50):
            cl = f"r{i}"
            body = {
                "sessionId": sid,
                "clOrderId": cl,
                "symbol": "BTCUSDT",
                "price": price,
                "qty": 0.001,
                "orderType": "limit",
                "transactionType": "insert",
                "tif": "gtc",
                "side": "buy",
            }
            t = time.perf_counter_ns()
            async with http.post(f"{ready['rest']}/sendOrder", json=body) as r:
                await r.read()
            if i >= 50:
                samples.append((time.perf_counter_ns() - t) / 1000)
            async with http.post(
                f"{ready['rest']}/sendOrder",
                json={"sessionId": sid, "clOrderId": cl, "symbol": "BTCUSDT", "transactionType": "delete"},
            ) as r:
                await r.read()
        emit("rest", **pct(samples))

        # the floor: a signed REST order straight to the simulated venue
        secret = acct["secretKey"].encode()

        async def direct(i: int) -> None:
            q = urlencode(
                {
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "0.00100",
                    "price": "90000.00",
                    "newClientOrderId": f"d{i}",
                    "newOrderRespType": "ACK",
                    "timestamp": int(time.time() * 1000),
                }
            )
            sig = hmac.new(secret, q.encode(), hashlib.sha256).hexdigest()
            async with http.post(
                f"{venue['rest']}/api/v3/order?{q}&signature={sig}", headers={"X-MBX-APIKEY": acct["apiKey"]}
            ) as r:
                await r.read()

        emit("direct_aiohttp", **pct(await timed(n, direct)))

    import ccxt.async_support as ccxt

    # enableRateLimit off: a latency-sensitive user would not let ccxt's client-side throttle queue orders
    ex = ccxt.binance({"apiKey": acct["apiKey"], "secret": acct["secretKey"], "enableRateLimit": False})
    api = dict(ex.urls["api"])
    for k in ("public", "private"):
        api[k] = venue["rest"] + "/api/v3"
    api["v1"] = venue["rest"] + "/api/v1"
    ex.urls["api"] = api
    ex.options.update({"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False})
    await ex.load_markets()

    async def via_ccxt(i: int) -> None:
        await ex.create_order("BTC/USDT", "limit", "buy", 0.001, 90000.0, {"newClientOrderId": f"x{i}"})

    emit("direct_ccxt", **pct(await timed(n, via_ccxt)))
    await ex.close()

    # memory with 10k open orders
    call = stub.OrderEntry(metadata=AUTH)
    sent = received = 0
    while received < 10_000:
        while sent < 10_000 and sent - received < window:
            await call.write(om.OrderEntryRequest(request_id=sent, order=insert(f"m{sent}")))
            sent += 1
        await call.read()
        received += 1
    await call.done_writing()
    emit("memory_10k_open_orders", execx_rss_mb=round(rss_mb(execx_pid), 1))
    await channel.close()


if __name__ == "__main__":
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
