"""Order round trip through execx versus calling the venue directly, measured side by side in one run
against the embedded simulator (binance-spot) on loopback. Prints one JSON line per figure.

    .venv/bin/python bench/order_roundtrip.py [--orders 500]

The simulator (``execx-sim``) and execx run as separate processes, as a venue and a sidecar would;
this process is the strategy. Figures (µs; p50/p99 over ``--orders`` inserts, only the insert is timed; the
ways take turns order by order, so a busy machine weighs on all of them alike):
- ``grpc_unary``: SendOrder call → venue ack seen by the caller (the response)
- ``grpc_stream``: the same over the bidirectional OrderEntry stream (one in flight at a time)
- ``grpc_unary_to_update``: SendOrder call → the ``new`` update seen on SubscribeUpdates
- ``rest``: POST /sendOrder through the REST gateway
- ``direct_aiohttp``: a signed POST /api/v3/order straight to the simulator (the floor)
- ``direct_ccxt``: ccxt ``create_order`` straight to the simulator (what a user would call in-process)
Plus ``orders_per_second`` (pipelined OrderEntry, 64 in flight) with the CPU µs per order each process
spent (execx, simulator, strategy: unlike latency, not skewed by what else runs), and execx's resident
memory at rest and with 10k open orders.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import statistics
import sys
import tempfile
import time
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


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Cpu:
    """CPU µs per request spent by each process (execx, the simulator, this strategy) over a phase: unlike
    wall-clock latency, it does not depend on what else the machine is doing."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = {k: cpu_s(p) for k, p in pids.items()}

    def per_request(self, requests: int) -> dict[str, float]:
        return {f"{k}_cpu_us": round((cpu_s(p) - self.start[k]) * 1e6 / requests) for k, p in self.pids.items()}


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
            await run({"execx": execx.pid, "sim": sim.pid, "strategy": os.getpid()}, ready, sim_ready, n)
        finally:
            for proc in (execx, sim):
                proc.terminate()
                await proc.wait()


async def run(pids: dict[str, int], ready: dict[str, Any], sim_ready: dict[str, Any], n: int) -> None:
    venue = sim_ready["venues"]["binance-spot"]
    acct = sim_ready["accounts"][0]
    execx_pid = pids["execx"]
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

    # Every way of sending is timed in turn, order by order (round robin), so that whatever else the
    # machine does at a moment weighs on all of them alike. A strategy keeps its update stream open.
    updates = stub.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid), metadata=AUTH)
    call = stub.OrderEntry(metadata=AUTH)
    http = aiohttp.ClientSession(headers={"x-api-key": KEY})
    secret = acct["secretKey"].encode()

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

    def signed(params: dict[str, str]) -> str:
        q = urlencode({**params, "timestamp": str(int(time.time() * 1000))})
        return f"{q}&signature={hmac.new(secret, q.encode(), hashlib.sha256).hexdigest()}"

    async def grpc_unary(cl: str) -> float:
        t = time.perf_counter_ns()
        await stub.SendOrder(insert(cl), metadata=AUTH)
        took = time.perf_counter_ns() - t
        await stub.SendOrder(delete(cl), metadata=AUTH)
        return took

    async def grpc_unary_to_update(cl: str) -> float:
        t = time.perf_counter_ns()
        await stub.SendOrder(insert(cl), metadata=AUTH)
        while True:
            msg = await updates.read()
            if msg.transaction.cl_order_id == cl and msg.transaction.order_status == c.ORDER_STATUS_NEW:
                break
        took = time.perf_counter_ns() - t
        await stub.SendOrder(delete(cl), metadata=AUTH)
        return took

    async def grpc_stream(cl: str) -> float:
        t = time.perf_counter_ns()
        await call.write(om.OrderEntryRequest(request_id=1, order=insert(cl)))
        await call.read()
        took = time.perf_counter_ns() - t
        await call.write(om.OrderEntryRequest(request_id=2, order=delete(cl)))
        await call.read()
        return took

    async def rest(cl: str) -> float:
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
        took = time.perf_counter_ns() - t
        cancel = {"sessionId": sid, "clOrderId": cl, "symbol": "BTCUSDT", "transactionType": "delete"}
        async with http.post(f"{ready['rest']}/sendOrder", json=cancel) as r:
            await r.read()
        return took

    async def direct_aiohttp(cl: str) -> float:
        # the floor: a signed REST order straight to the simulated venue
        order = {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.00100",
            "price": "90000.00",
            "newClientOrderId": cl,
            "newOrderRespType": "ACK",
        }
        headers = {"X-MBX-APIKEY": acct["apiKey"]}
        t = time.perf_counter_ns()
        async with http.post(f"{venue['rest']}/api/v3/order?{signed(order)}", headers=headers) as r:
            await r.read()
        took = time.perf_counter_ns() - t
        query = signed({"symbol": "BTCUSDT", "origClientOrderId": cl})
        async with http.delete(f"{venue['rest']}/api/v3/order?{query}", headers=headers) as r:
            await r.read()
        return took

    async def direct_ccxt(cl: str) -> float:
        t = time.perf_counter_ns()
        await ex.create_order("BTC/USDT", "limit", "buy", 0.001, price, {"newClientOrderId": cl})
        took = time.perf_counter_ns() - t
        await ex.cancel_order("", "BTC/USDT", {"origClientOrderId": cl})
        return took

    ways = [grpc_unary, grpc_unary_to_update, grpc_stream, rest, direct_aiohttp, direct_ccxt]
    samples: dict[str, list[float]] = {way.__name__: [] for way in ways}
    for i in range(n + 50):  # the first 50 rounds warm up
        for k, way in enumerate(ways):
            took = await way(f"w{k}-{i}")
            if i >= 50:
                samples[way.__name__].append(took / 1000)
    for name, values in samples.items():
        emit(name, **pct(values))
    await ex.close()
    await http.close()
    updates.cancel()

    # sustained throughput: pipelined OrderEntry with 64 in flight; CPU per order of each process
    total, window = 2000, 64
    cpu = Cpu(pids)
    t0 = time.perf_counter()
    sent = received = 0
    while received < total:
        while sent < total and sent - received < window:
            await call.write(om.OrderEntryRequest(request_id=sent, order=insert(f"t{sent}")))
            sent += 1
        await call.read()
        received += 1
    emit("orders_per_second", grpc_stream_pipelined=round(total / (time.perf_counter() - t0)), **cpu.per_request(total))
    await call.done_writing()
    await stub.CancelAllOrders(om.CancelAllOrdersRequest(session_id=sid, symbol="BTCUSDT"), metadata=AUTH)

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
