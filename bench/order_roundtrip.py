"""Order round trip through execx versus calling the venue directly, measured side by side in one run
against the embedded simulator on loopback: binance-spot in full, then bybit-linear, okx, deribit (execx
sends Deribit orders over FIX) and pulse. Prints one JSON line per figure.

    .venv/bin/python bench/order_roundtrip.py [--orders 500] [--venues binance-spot,bybit-linear,okx,deribit,pulse]
        [--modes default|busypoll|both] [--batch 16]

The simulator (``execx-sim``) and execx run as separate processes, as a venue and a sidecar would;
this process is the strategy. Every venue's rate limits are raised out of the way first (admin API).
Latency figures are µs; p50/p99 over ``--orders`` inserts after 50 warm-up rounds; only the insert is
timed (each order is cancelled before the next, then 5 ms pass for every process to settle); the ways
take turns order by order, each round starting one way later, so a busy machine weighs on all of them
alike and no way always follows the same one. binance-spot figures (one line each, BTCUSDT):
- ``grpc_unary``: SendOrder call → venue ack seen by the caller (the response)
- ``grpc_stream``: the same over the bidirectional OrderEntry stream (one in flight at a time)
- ``grpc_unary_to_update``: SendOrder call → the ``new`` update seen on SubscribeUpdates
- ``rest``: POST /sendOrder through the REST gateway
- ``direct_aiohttp``: a signed POST /api/v3/order straight to the simulator (the floor)
- ``direct_ccxt``: ccxt ``create_order`` straight to the simulator (what a user would call in-process)
Plus ``orders_per_second`` (pipelined OrderEntry, 64 in flight, ``"batch": 1``) with the CPU µs per order each
process spent (execx, simulator, strategy: unlike latency, not skewed by what else runs), and with
``--batch N`` a second ``orders_per_second`` line (``"batch": N``: N orders per OrderEntry message, the answers
asked in batches of N with ``maxBatch``), and execx's resident memory at rest and with 10k open orders.

One line per venue (binance-spot too), ``{"figure": <venue>, <way>: {p50_us, p99_us, n}, ...}``, on a session
of the simulator's demo account (binance-spot BTCUSDT, bybit-linear BTCUSDT, okx BTC-USDT spot, deribit
BTC-PERPETUAL, pulse BTC_USD-PERPETUAL; the smallest size, 4% below the mid):
- ``grpc_stream``: an OrderEntry insert → its answer, once execx has the venue's ack (execx's default
  order entry: Binance WebSocket API ``order.place``, Bybit ``order.create`` on ``/v5/trade``, OKX ``order``
  on the private websocket, a FIX NewOrderSingle → ExecutionReport for Deribit, ``private/buy`` on Pulse's
  JSON-RPC websocket)
- ``grpc_unary``: the same through SendOrder
- ``direct_ccxt`` (every venue but pulse, which no ccxt supports): ccxt ``create_order`` straight to the
  simulator, only its URLs changed: over REST (ccxt's way; for Deribit the JSON-RPC REST API, not FIX)
- the bare venue protocol, the floor execx's own cost is measured against: ``direct_ws`` (binance-spot
  ``order.place`` on the WebSocket API, bybit-linear ``order.create`` on ``/v5/trade``, okx ``order`` on the
  private websocket, pulse ``private/buy``: one authenticated bare aiohttp websocket, request → its answer)
  or ``direct_fix`` (deribit: a bare simplefix session, NewOrderSingle → its ExecutionReport)
Then every venue again on a second execx started with ``--busyPoll``: ``{"figure": "<venue> busyPoll", ...}``.
Its event loop spins instead of sleeping, so it runs on its own: it would take a CPU from the other ways'
processes on a small machine. ``--modes default|busypoll|both`` (default both): a quick run skips either.
A venue whose path fails prints ``{"figure": <venue>, "error": ...}`` instead; a session stop that does
not return within 10 s prints ``{"figure": "<venue>_stop", "error": ...}`` after the venue's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import ccxt.async_support as ccxt  # type: ignore[import-untyped]
import grpc
import simplefix
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from order_profile import pipelined  # this directory's helper

KEY = "bench-key"
AUTH = (("x-api-key", KEY),)
WARMUP = 50  # rounds of every way before the timed ones
D = Decimal


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


async def start(*cmd: str, ready_s: float = 60) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    return proc, json.loads(await asyncio.wait_for(proc.stdout.readline(), ready_s))


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=500)
    ap.add_argument("--venues", default=",".join(VENUES), help=f"comma-separated subset of {','.join(VENUES)}")
    ap.add_argument(
        "--modes",
        choices=("default", "busypoll", "both"),
        default="both",
        help="execx's default event loop, the --busyPoll one, or both (a quick run skips the busy-poll rows)",
    )
    ap.add_argument(
        "--batch", type=int, default=1, help="orders_per_second once more with this many orders per OrderEntry message"
    )
    args = ap.parse_args()
    n = args.orders
    venues = args.venues.split(",")
    if unknown := set(venues) - set(VENUES):
        ap.error(f"unknown venues {sorted(unknown)}; known: {', '.join(VENUES)}")
    # Three processes, as in production: the venue (simulator), execx, and the strategy (this one).
    sim, sim_ready = await start(sys.executable, "-m", "execx_sim.cli", "--quiet")
    # One data dir for both execx runs, as for a restarted execx: the second continues the venues' session
    # state (e.g. Deribit's FIX sequence numbers, which the venue remembers).
    tmp = tempfile.TemporaryDirectory()
    data = tmp.name
    try:
        async with aiohttp.ClientSession() as http:
            for name in venues:  # the bench measures latency, not the venue's rate limits
                await raise_rate_limits(http, sim_ready["admin"], name)
        if args.modes in ("default", "both"):
            async with execx(data) as (pid, ready):
                if "binance-spot" in venues:
                    pids = {"execx": pid, "sim": sim.pid, "strategy": os.getpid()}
                    await run(pids, ready, sim_ready, n, args.batch)
                for name in venues:
                    await venue_row(name, name, ready, sim_ready, n)
        if args.modes in ("busypoll", "both"):
            # The same with execx's event loop spinning instead of sleeping (one CPU kept busy). On its own: a
            # spinning execx would take CPU from the other ways' processes.
            async with execx(data, "--busyPoll") as (_, ready):
                for name in venues:
                    await venue_row(f"{name} busyPoll", name, ready, sim_ready, n)
    finally:
        sim.terminate()
        await sim.wait()
        tmp.cleanup()


@contextlib.asynccontextmanager
async def execx(data: str, *flags: str) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """An execx process (its pid and ready line) on data dir ``data``, stopped at the end."""
    args = ("--key", KEY, "--port", "0", "--grpcPort", "0", "--promPort", "0", "--dataDir", data, *flags)
    proc, ready = await start(sys.executable, "-m", "execx_server.cli", *args)
    try:
        yield proc.pid, ready
    finally:
        proc.terminate()
        await proc.wait()


async def raise_rate_limits(http: aiohttp.ClientSession, admin: str, venue: str) -> None:
    """Every rate limit the simulated venue enforces to 10^9 (each venue names its own kinds: Binance
    REQUEST_WEIGHT/ORDERS/RAW_REQUESTS, Bybit ORDER/QUERY, OKX ORDERS/BATCH/REQUESTS, Deribit and Pulse
    MATCHING_ENGINE/NON_MATCHING_ENGINE credits)."""
    async with http.get(f"{admin}/admin/ratelimits/{venue}") as r:
        body = await r.json()
        if r.status == 400 and "has no rate limiter" in body.get("error", ""):
            return
        assert r.status == 200, body
    limits = {lim["rateLimitType"]: 10**9 for lim in body["rateLimits"]}
    async with http.post(f"{admin}/admin/ratelimits/{venue}", json=limits) as r:
        assert r.status == 200, await r.text()


SETTLE_S = 0.005


async def turns(
    ways: Sequence[Callable[[str], Awaitable[float]]], n: int, cl: Callable[[int, int], str]
) -> dict[str, list[float]]:
    """Every way of sending is timed in turn, order by order (round robin, starting one way later each
    round), so that whatever else the machine does at a moment weighs on all of them alike; the first
    ``WARMUP`` rounds are not counted.
    Before each insert the processes get ``SETTLE_S`` to finish what the previous request left behind
    (execx journaling and streaming it, the venue's events), so no way is timed against another's
    leftovers. Each way takes a client order id (``cl(way index, round)``) and returns the insert's ns."""
    samples: dict[str, list[float]] = {way.__name__: [] for way in ways}
    for i in range(n + WARMUP):
        for j in range(len(ways)):
            k = (i + j) % len(ways)  # the order rotates: no way always comes first or after the same one
            way = ways[k]
            await asyncio.sleep(SETTLE_S)
            took = await way(cl(k, i))
            if i >= WARMUP:
                samples[way.__name__].append(took / 1000)
    return samples


async def run(pids: dict[str, int], ready: dict[str, Any], sim_ready: dict[str, Any], n: int, batch: int) -> None:
    venue = sim_ready["venues"]["binance-spot"]
    acct = sim_ready["accounts"][0]
    execx_pid = pids["execx"]
    emit("memory_at_rest", execx_rss_mb=round(rss_mb(execx_pid), 1))
    channel = grpc.aio.insecure_channel(ready["grpc"])
    stub = om_grpc.OrderManagerServiceStub(channel)  # type: ignore[no-untyped-call]
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

    def insert(cl: str, qty: float = 0.001) -> om.SendOrderRequest:
        return om.SendOrderRequest(
            session_id=sid,
            cl_order_id=cl,
            symbol="BTCUSDT",
            price=price,
            qty=qty,
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

    # enableRateLimit off: a latency-sensitive user would not let ccxt's client-side throttle queue orders
    ex = ccxt.binance({"apiKey": acct["apiKey"], "secret": acct["secretKey"], "enableRateLimit": False})
    api = dict(ex.urls["api"])
    for part in ("public", "private"):
        api[part] = venue["rest"] + "/api/v3"
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
    for name, values in (await turns(ways, n, lambda k, i: f"w{k}-{i}")).items():
        emit(name, **pct(values))
    await ex.close()
    await http.close()
    updates.cancel()

    # sustained throughput: pipelined OrderEntry with 64 in flight; CPU per order of each process; then (with
    # --batch N) the same with N orders per OrderEntry message and the answers asked in batches of N
    # 0.0001 BTC (9 USDT, over the 5 USDT minimum): the demo account's 100 000 USDT holds all 10 000 orders
    # of the memory figure at once (at 0.001 most were refused for the balance: not the order path measured)
    total, window, small = 2000, 64, 0.0001
    for size in dict.fromkeys((1, batch)):
        cpu = Cpu(pids)
        t0 = time.perf_counter()
        outcomes = await pipelined(call, lambda cl: insert(cl, small), f"t{size}-", total, window, size)
        per_s = round(total / (time.perf_counter() - t0))
        emit("orders_per_second", batch=size, grpc_stream_pipelined=per_s, outcomes=outcomes, **cpu.per_request(total))
        await stub.CancelAllOrders(om.CancelAllOrdersRequest(session_id=sid, symbol="BTCUSDT"), metadata=AUTH)
    await call.done_writing()

    # memory with 10k open orders
    call = stub.OrderEntry(metadata=AUTH)
    sent = received = 0
    while received < 10_000:
        while sent < 10_000 and sent - received < window:
            await call.write(om.OrderEntryRequest(request_id=sent, order=insert(f"m{sent}", small)))
            sent += 1
        await call.read()
        received += 1
    await call.done_writing()
    emit("memory_10k_open_orders", execx_rss_mb=round(rss_mb(execx_pid), 1))
    # free the account's balance for the rows that follow
    await stub.CancelAllOrders(om.CancelAllOrdersRequest(session_id=sid, symbol="BTCUSDT"), metadata=AUTH)
    await channel.close()


@dataclass(frozen=True)
class Market:
    """One instrument of a venue beyond binance-spot, as execx and the direct client name and size it."""

    exchange: c.Exchange
    symbol: str  # the venue's name, which execx uses too
    tick: Decimal
    qty: Decimal  # the smallest order execx accepts (base coin; Deribit: contracts of 10 USD)
    ccxt: tuple[str, str, float, str] | None  # ccxt class, its symbol, the same qty in ccxt's unit, client-id param


MARKETS = {
    "binance-spot": Market(
        c.EXCHANGE_BINANCE_SPOT, "BTCUSDT", D("0.01"), D("0.001"), ("binance", "BTC/USDT", 0.001, "newClientOrderId")
    ),
    "bybit-linear": Market(
        c.EXCHANGE_BYBIT_LINEAR, "BTCUSDT", D("0.1"), D("0.001"), ("bybit", "BTC/USDT:USDT", 0.001, "clientOrderId")
    ),
    "okx": Market(c.EXCHANGE_OKX, "BTC-USDT", D("0.1"), D("0.00001"), ("okx", "BTC/USDT", 0.00001, "clOrdId")),
    # ccxt sizes Deribit's inverse perpetual in USD (the JSON-RPC amount): one contract is 10 USD
    "deribit": Market(c.EXCHANGE_DERIBIT, "BTC-PERPETUAL", D("0.5"), D(1), ("deribit", "BTC/USD:BTC", 10.0, "label")),
    "pulse": Market(c.EXCHANGE_PULSE, "BTC_USD-PERPETUAL", D("0.5"), D("0.001"), None),  # seed 004; no ccxt
}
VENUES = tuple(MARKETS)
ROWS = itertools.count()


def ccxt_client(name: str, hosts: dict[str, str], acct: dict[str, str]) -> Any:
    """ccxt for the venue with only its URLs changed, as tests/conformance/test_{bybit,okx,deribit}_ccxt.py
    do, and ccxt's client-side throttle off (a latency-sensitive user would not let it queue orders)."""
    market = MARKETS[name]
    assert market.ccxt is not None
    config = {"apiKey": acct["apiKey"], "secret": acct["secretKey"], "enableRateLimit": False}
    if name == "okx":
        config["password"] = acct["passphrase"]
    ex = getattr(ccxt, market.ccxt[0])(config)
    api = dict(ex.urls["api"], rest=hosts["rest"])
    if name == "bybit-linear":
        api.update(dict.fromkeys(("spot", "futures", "v2", "public", "private"), hosts["rest"]))
    if name == "binance-spot":
        api.update(public=hosts["rest"] + "/api/v3", private=hosts["rest"] + "/api/v3", v1=hosts["rest"] + "/api/v1")
        ex.options.update({"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False})
    ex.urls["api"] = api
    return ex


class BareWs:
    """One authenticated order-entry websocket on bare aiohttp: the venue protocol's floor. ``call`` sends
    one request and returns the answer carrying its id (``id_field``: Binance and OKX ``id``, Bybit
    ``reqId``); anything else on the socket (pushes, pongs) is skipped."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, id_field: str) -> None:
        self.ws = ws
        self.id_field = id_field
        self.ids = itertools.count(1)
        self.inst_code = 0  # OKX: the instrument's instIdCode (its websocket order operations name it so)

    async def call(self, frame: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        req_id = str(next(self.ids))
        if key is None:
            frame = {self.id_field: req_id, **frame}
        await self.ws.send_str(json.dumps(frame))
        while True:
            msg: dict[str, Any] = json.loads((await self.ws.receive()).data)
            if (msg.get(self.id_field) == req_id) if key is None else (msg.get("op") == key or msg.get("event") == key):
                return msg


def binance_signed(acct: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
    """Binance WebSocket API params with apiKey, timestamp and the HMAC-SHA256 signature of the sorted
    ``k=v&...`` of them (the WebSocket API's signing, venues/binance)."""
    out = {**params, "apiKey": acct["apiKey"], "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={out[k]}" for k in sorted(out))
    return {**out, "signature": hmac.new(acct["secretKey"].encode(), payload.encode(), hashlib.sha256).hexdigest()}


async def direct_ws_client(
    name: str, http: aiohttp.ClientSession, hosts: dict[str, str], acct: dict[str, str]
) -> BareWs | None:
    """An authenticated bare websocket to the venue's own order entry (None for venues without one here:
    Deribit's floor is FIX, Pulse's is ``JsonRpc``)."""
    if name == "binance-spot":
        return BareWs(await http.ws_connect(hosts["wsApi"]), "id")  # every request is signed
    if name == "bybit-linear":
        ws = BareWs(await http.ws_connect(hosts["trade"]), "reqId")
        expires = int(time.time() * 1000) + 10_000
        sig = hmac.new(acct["secretKey"].encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()
        answer = await ws.call({"op": "auth", "args": [acct["apiKey"], expires, sig]}, key="auth")
        assert answer.get("retCode") == 0, answer
        return ws
    if name == "okx":
        ws = BareWs(await http.ws_connect(hosts["private"]), "id")
        ts = str(int(time.time()))
        mac = hmac.new(acct["secretKey"].encode(), f"{ts}GET/users/self/verify".encode(), hashlib.sha256)
        login = {"apiKey": acct["apiKey"], "passphrase": acct["passphrase"], "timestamp": ts}
        login["sign"] = base64.b64encode(mac.digest()).decode()
        answer = await ws.call({"op": "login", "args": [login]}, key="login")
        assert str(answer.get("code")) == "0", answer
        query = {"instType": "SPOT", "instId": MARKETS[name].symbol}
        async with http.get(f"{hosts['rest']}/api/v5/public/instruments", params=query) as r:
            ws.inst_code = int((await r.json())["data"][0]["instIdCode"])
        return ws
    return None


async def direct_ws_order(
    name: str, ws: BareWs, acct: dict[str, str], symbol: str, qty: Decimal, price: Decimal, cl: str
) -> tuple[float, Callable[[], Awaitable[None]]]:
    """Insert one limit buy on the venue's own websocket order entry: the ns to its answer, and how to cancel
    it. Raises unless the venue accepted it."""
    if name == "binance-spot":
        params = {"symbol": symbol, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": str(qty),
                  "price": str(price), "newClientOrderId": cl}  # fmt: skip
        t = time.perf_counter_ns()
        answer = await ws.call({"method": "order.place", "params": binance_signed(acct, params)})
        took = time.perf_counter_ns() - t
        if answer.get("status") != 200:
            raise RuntimeError(f"order.place: {answer}")
        cancel = {"symbol": symbol, "orderId": answer["result"]["orderId"]}

        async def undo() -> None:
            done = await ws.call({"method": "order.cancel", "params": binance_signed(acct, cancel)})
            if done.get("status") != 200:
                raise RuntimeError(f"order.cancel: {done}")

        return took, undo
    if name == "bybit-linear":
        header = {"X-BAPI-TIMESTAMP": str(int(time.time() * 1000)), "X-BAPI-RECV-WINDOW": "5000"}
        args = {"category": "linear", "symbol": symbol, "side": "Buy", "orderType": "Limit", "qty": str(qty),
                "price": str(price), "timeInForce": "GTC", "orderLinkId": cl}  # fmt: skip
        t = time.perf_counter_ns()
        answer = await ws.call({"header": header, "op": "order.create", "args": [args]})
        took = time.perf_counter_ns() - t
        if answer.get("retCode") != 0:
            raise RuntimeError(f"order.create: {answer}")
        oid = answer["data"]["orderId"]

        async def undo() -> None:
            args = {"category": "linear", "symbol": symbol, "orderId": oid}
            done = await ws.call({"header": header, "op": "order.cancel", "args": [args]})
            if done.get("retCode") != 0:
                raise RuntimeError(f"order.cancel: {done}")

        return took, undo
    if name == "okx":
        item: dict[str, Any] = {"instIdCode": ws.inst_code, "tdMode": "cash", "side": "buy", "ordType": "limit",
                "sz": str(qty), "px": str(price), "clOrdId": cl}  # fmt: skip
        t = time.perf_counter_ns()
        answer = await ws.call({"op": "order", "args": [item]})
        took = time.perf_counter_ns() - t
        if str(answer.get("code")) != "0":
            raise RuntimeError(f"order: {answer}")
        oid = answer["data"][0]["ordId"]

        async def undo() -> None:
            done = await ws.call({"op": "cancel-order", "args": [{"instIdCode": ws.inst_code, "ordId": oid}]})
            if str(done.get("code")) != "0":
                raise RuntimeError(f"cancel-order: {done}")

        return took, undo
    raise ValueError(name)


class FixClient:
    """A bare FIX 4.4 session to the simulated Deribit (simplefix over asyncio TCP): the floor of execx's
    Deribit order entry. Logon as Deribit's docs have it (RawData ``<ms>.<nonce>``, Password
    ``base64(sha256(RawData ++ secret))``, ResetSeqNumFlag so both sides start at 1); each request waits for
    the ExecutionReport whose OrigClOrdID(41) is ours (Deribit's reversal, venues/deribit.md §2.4)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sender: str) -> None:
        self.reader, self.writer, self.sender = reader, writer, sender
        self.parser = simplefix.FixParser()
        self.seq = itertools.count(1)

    @classmethod
    async def connect(cls, url: str, acct: dict[str, str]) -> FixClient:
        host, _, port = url.removeprefix("tcp://").rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        # a SenderCompID of our own: execx's sessions on the same key use theirs
        self = cls(reader, writer, "BENCH" + os.urandom(4).hex().upper())
        raw = f"{int(time.time() * 1000)}.{base64.b64encode(os.urandom(32)).decode()}"
        password = base64.b64encode(hashlib.sha256((raw + acct["secretKey"]).encode()).digest()).decode()
        logon = [(98, "0"), (108, "30"), (141, "Y"), (95, str(len(raw))), (96, raw), (553, acct["apiKey"]),
                 (554, password), (9001, "N")]  # fmt: skip
        self.send("A", logon)
        answer = await self.read(lambda m: m.get(35) in (b"A", b"5", b"3"))
        if answer.get(35) != b"A":
            raise RuntimeError(f"FIX logon refused: {answer.get(58)!r}")
        return self

    def send(self, msg_type: str, fields: list[tuple[int, str]]) -> None:
        msg = simplefix.FixMessage()
        msg.append_pair(8, "FIX.4.4", header=True)
        msg.append_pair(35, msg_type, header=True)
        msg.append_pair(49, self.sender, header=True)
        msg.append_pair(56, "DERIBITSERVER", header=True)
        msg.append_pair(34, str(next(self.seq)), header=True)
        msg.append_utc_timestamp(52, precision=3, header=True)
        for tag, value in fields:
            msg.append_pair(tag, value)
        self.writer.write(msg.encode())

    async def read(self, want: Callable[[simplefix.FixMessage], bool]) -> simplefix.FixMessage:
        while True:
            while (msg := self.parser.get_message()) is not None:
                if msg.get(35) == b"1":  # TestRequest: a Heartbeat with its id
                    self.send("0", [(112, msg.get(112).decode())])
                elif want(msg):
                    return msg
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("FIX: the venue closed the connection")
            self.parser.append_buffer(data)

    async def request(self, msg_type: str, fields: list[tuple[int, str]], cl: str) -> simplefix.FixMessage:
        self.send(msg_type, fields)
        answer = await self.read(lambda m: m.get(35) in (b"8", b"9", b"3") and (m.get(41) or m.get(11)) == cl.encode())
        if answer.get(35) != b"8" or answer.get(150) == b"8":
            raise RuntimeError(f"FIX {msg_type} {cl}: {answer.get(58)!r}")
        return answer

    async def new_order(self, symbol: str, qty: Decimal, price: Decimal, cl: str) -> None:
        now = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
        fields = [(11, cl), (54, "1"), (38, str(qty)), (55, symbol), (40, "2"), (44, str(price)), (59, "1"), (60, now)]
        await self.request("D", fields, cl)

    async def cancel(self, symbol: str, cl: str) -> None:
        now = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
        await self.request("F", [(11, cl), (55, symbol), (54, "1"), (60, now)], cl)

    async def close(self) -> None:
        self.send("5", [])
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class JsonRpc:
    """One authenticated JSON-RPC websocket on bare aiohttp (the Pulse floor: no client library exists)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        req_id = next(self.ids)
        await self.ws.send_json({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("id") == req_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]


async def venue_row(figure: str, name: str, ready: dict[str, Any], sim_ready: dict[str, Any], n: int) -> None:
    """One figure line for a venue, or ``{"figure": figure, "error": ...}`` when any of its ways fails
    (each order must be acknowledged as new and cancelled, or the figures mean nothing)."""
    try:
        async with asyncio.timeout(120 + n):  # a venue that stops answering must not hang the bench
            await venue_figure(figure, name, ready, sim_ready, n)
    except Exception as e:  # reported; the bench goes on with the next venue
        emit(figure, error=f"{type(e).__name__}: {e}")


async def venue_figure(figure: str, name: str, ready: dict[str, Any], sim_ready: dict[str, Any], n: int) -> None:
    market, hosts, acct = MARKETS[name], sim_ready["venues"][name], sim_ready["accounts"][0]
    _, ex_symbol, ex_amount, ex_cl = market.ccxt or ("", "", 0.0, "")
    row = next(ROWS)
    sid = f"bench-{name}-{row}"  # session ids are never reused, also across execx restarts
    channel = grpc.aio.insecure_channel(ready["grpc"])
    stub = om_grpc.OrderManagerServiceStub(channel)  # type: ignore[no-untyped-call]
    async with aiohttp.ClientSession() as http, contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(channel.close)
        ex: Any = ccxt_client(name, hosts, acct) if market.ccxt else None
        if ex is not None:
            stack.push_async_callback(ex.close)
            await ex.load_markets()
        if name == "pulse":
            rpc = JsonRpc(await http.ws_connect(hosts["ws"]))
            stack.push_async_callback(rpc.ws.close)
            credentials = {"client_id": acct["apiKey"], "client_secret": acct["secretKey"]}
            await rpc.call("public/auth", {"grant_type": "client_credentials", **credentials})
        bare = await direct_ws_client(name, http, hosts, acct)
        if bare is not None:
            stack.push_async_callback(bare.ws.close)
        fix = await FixClient.connect(hosts["fix"], acct) if name == "deribit" else None
        if fix is not None:
            stack.push_async_callback(fix.close)
        # 4% below the simulator's mid (its mark price), on the tick: rests, never fills, and stays inside
        # the 5% band around the mark that the simulated Bybit derivatives, Deribit and Pulse enforce (as the
        # venues do). The simulated OKX serves no REST market data, so the admin state is the one source.
        async with http.get(f"{sim_ready['admin']}/admin/state") as r:
            mid = D((await r.json())["markets"][name][market.symbol]["mid"])
        price = (mid * D("0.96") / market.tick).to_integral_value(ROUND_FLOOR) * market.tick

        key = c.ExchangeKey(
            api_key=acct["apiKey"],
            secret_key=acct["secretKey"],
            passphrase=acct["passphrase"],
            exchange=market.exchange,
        )
        await stub.StartOrderHandler(
            om.StartOrderHandlerRequest(
                session_id=sid, rest_url=hosts["rest"], ws_url=json.dumps(hosts), exchange_key=key
            ),
            metadata=AUTH,
        )
        stack.push_async_callback(stop_session, stub, figure, sid)
        call = stub.OrderEntry(metadata=AUTH)
        stack.callback(call.cancel)

        def insert(cl: str) -> om.SendOrderRequest:
            return om.SendOrderRequest(
                session_id=sid,
                cl_order_id=cl,
                symbol=market.symbol,
                price=float(price),
                qty=float(market.qty),
                order_type=c.ORDER_TYPE_LIMIT,
                transaction_type=c.TRANSACTION_TYPE_INSERT,
                side=c.SIDE_BUY,
            )

        def delete(cl: str) -> om.SendOrderRequest:
            return om.SendOrderRequest(
                session_id=sid, cl_order_id=cl, symbol=market.symbol, transaction_type=c.TRANSACTION_TYPE_DELETE
            )

        def acked(order: c.OrderTransaction, want: c.OrderStatus) -> None:
            if order.order_status != want:
                raise RuntimeError(f"{order.cl_order_id}: {c.OrderStatus.Name(order.order_status)} {order.message}")

        async def entry(request: om.SendOrderRequest) -> om.OrderEntryResponse:
            await call.write(om.OrderEntryRequest(request_id=1, order=request))
            answer: om.OrderEntryResponse = await call.read()
            if answer.status.code:
                raise RuntimeError(f"{request.cl_order_id}: {answer.status.message}")
            return answer

        async def grpc_stream(cl: str) -> float:
            t = time.perf_counter_ns()
            answer = await entry(insert(cl))
            took = time.perf_counter_ns() - t
            acked(answer.order, c.ORDER_STATUS_NEW)
            acked((await entry(delete(cl))).order, c.ORDER_STATUS_CANCELLED)
            return took

        async def grpc_unary(cl: str) -> float:
            t = time.perf_counter_ns()
            resp = await stub.SendOrder(insert(cl), metadata=AUTH)
            took = time.perf_counter_ns() - t
            acked(resp.order, c.ORDER_STATUS_NEW)
            acked((await stub.SendOrder(delete(cl), metadata=AUTH)).order, c.ORDER_STATUS_CANCELLED)
            return took

        async def direct_ccxt(cl: str) -> float:
            t = time.perf_counter_ns()
            order = await ex.create_order(ex_symbol, "limit", "buy", ex_amount, float(price), {ex_cl: cl})
            took = time.perf_counter_ns() - t
            await ex.cancel_order(order["id"], ex_symbol)
            return took

        async def direct_ws(cl: str) -> float:
            if bare is not None:
                took, undo = await direct_ws_order(name, bare, acct, market.symbol, market.qty, price, cl)
                await undo()
                return took
            params = {"instrument_name": market.symbol, "amount": float(market.qty), "type": "limit",
                      "price": float(price), "label": cl}  # fmt: skip
            t = time.perf_counter_ns()
            answer = await rpc.call("private/buy", params)
            took = time.perf_counter_ns() - t
            await rpc.call("private/cancel", {"order_id": answer["order"]["order_id"]})
            return took

        async def direct_fix(cl: str) -> float:
            assert fix is not None
            t = time.perf_counter_ns()
            await fix.new_order(market.symbol, market.qty, price, cl)
            took = time.perf_counter_ns() - t
            await fix.cancel(market.symbol, cl)
            return took

        # client order ids of letters and digits only: valid on every venue (OKX allows nothing else), and
        # new on the venue's account in every row (several rows trade on the same account)
        ways: list[Callable[[str], Awaitable[float]]] = [grpc_stream, grpc_unary]
        if ex is not None:
            ways.append(direct_ccxt)
        ways.append(direct_fix if fix is not None else direct_ws)
        samples = await turns(ways, n, lambda k, i: f"{'sucd'[k]}{row}x{i}")
        await call.done_writing()
        emit(figure, **{way: pct(values) for way, values in samples.items()})


async def stop_session(stub: om_grpc.OrderManagerServiceStub, name: str, sid: str) -> None:
    """Stop the venue's session (every order was already cancelled one by one) so that it does not weigh
    on the next venue; a stop that hangs is reported as ``<venue>_stop`` and the bench goes on."""
    try:
        await stub.StopOrderHandler(om.StopOrderHandlerRequest(session_id=sid), metadata=AUTH, timeout=10)
    except grpc.aio.AioRpcError as e:
        emit(f"{name}_stop", error=f"StopOrderHandler: {e.code().name} {e.details()}")


if __name__ == "__main__":
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
