"""The exchange simulator's own CPU per order, over each venue's real order-entry protocol.

    PYTHONPATH=server .venv/bin/python bench/sim_cpu.py [--orders 2000] [--window 32]
        [--protocols binance-wsapi,binance-rest,bybit-ws,bybit-rest,okx-ws,deribit-fix,deribit-ws,pulse-ws]
        [--profile DIR] [--top 25]

For each protocol a fresh quiet simulator (``execx-sim --quiet``: no synthetic flow) runs in a process of
its own; this process is the client. A bench account (ample balances) is created through the admin API and
every rate limit raised to 10^9 (Deribit's and Pulse's credits too; the limiters still count, as they do in every
other benchmark). The client
sends ``--orders`` resting limit buys (4 % below the mid: they never fill, and stay inside the price bands
the simulated derivatives venues enforce), pipelined with ``--window`` in flight, then cancels each of them
the same way. Every answer must be the venue's success, or the protocol's line is an error.

One line per protocol: ``{"bench": "sim_cpu", "protocol": ..., "orders": n, "sim_cpu_us_per_order": ...,
"sim_cpu_us_per_cancel": ...}``: the simulator process's CPU time (user + system, ``/proc/<pid>/stat``) over
the insert phase and over the cancel phase, per request. Then a summary line
``{"bench": "sim_cpu", "figure": "summary", "sim_cpu_us_per_order": {protocol: µs, ...}}``.

``--profile DIR``: the simulator runs under cProfile, switched on (SIGUSR1) for the insert and cancel phases
only and dumped (SIGUSR2) to ``DIR/<protocol>.prof``; the top functions by own time are printed as
``{"figure": "profile", "protocol": ..., "rank": i, "function": ..., "own_share": ..., "cumulative_share":
...}``. The profiler itself inflates the CPU figure (roughly 2x); compare shares, not those µs.

``--callgrind DIR``: the simulator runs under valgrind's callgrind, instrumented for the insert and cancel
phases only (``callgrind_control``), and the line gives ``sim_instructions_per_order`` /
``sim_instructions_per_cancel`` instead of CPU time: the simulator's user-space instructions per request,
the same from run to run on a loaded machine (CPU time there varies by ±30 %), blind to the kernel's share
and to cache misses. ~50x slower: a few hundred orders are enough.

Protocols (the bare venue protocol, as a venue's own SDK sends it):
- ``binance-wsapi``: spot WebSocket API ``order.place`` / ``order.cancel`` (HMAC-signed per request)
- ``binance-rest``: spot ``POST`` / ``DELETE /api/v3/order`` (signed), ``--window`` keep-alive connections
- ``bybit-ws``: linear ``order.create`` / ``order.cancel`` on the ``/v5/trade`` websocket
- ``bybit-rest``: linear ``POST /v5/order/create`` / ``/v5/order/cancel`` (signed headers)
- ``okx-ws``: spot ``order`` / ``cancel-order`` on the private websocket
- ``deribit-fix``: FIX 4.4 NewOrderSingle / OrderCancelRequest on BTC-PERPETUAL
- ``deribit-ws``: JSON-RPC ``private/buy`` / ``private/cancel`` on the websocket
- ``pulse-ws``: JSON-RPC ``private/buy`` / ``private/cancel`` on BTC_USD-PERPETUAL
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import pstats
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from order_profile import print_profile, profiled  # this directory's helpers
from order_roundtrip import (
    MARKETS,
    BareWs,
    FixClient,
    binance_signed,
    direct_ws_client,
    raise_rate_limits,
    start,
)

D = Decimal
WARMUP = 100  # orders (and their cancels) before the measured ones


@dataclass
class Proto:
    venue: str  # the simulator's venue (its hosts in the ready object)
    market: str  # order_roundtrip.MARKETS key: symbol, tick, size
    funds: dict[str, dict[str, str]]  # the bench account's balances, {engine market: {asset: amount}}


PROTOCOLS = {
    "binance-wsapi": Proto("binance-spot", "binance-spot", {"binance-spot": {"USDT": "1e9"}}),
    "binance-rest": Proto("binance-spot", "binance-spot", {"binance-spot": {"USDT": "1e9"}}),
    "bybit-ws": Proto("bybit-linear", "bybit-linear", {"bybit-linear": {"USDT": "1e9"}}),
    "bybit-rest": Proto("bybit-linear", "bybit-linear", {"bybit-linear": {"USDT": "1e9"}}),
    "okx-ws": Proto("okx", "okx", {"okx": {"USDT": "1e9"}}),
    "deribit-fix": Proto("deribit", "deribit", {"deribit": {"BTC": "1e6"}}),
    "deribit-ws": Proto("deribit", "deribit", {"deribit": {"BTC": "1e6"}}),
    "pulse-ws": Proto("pulse", "pulse", {"pulse": {"USD": "1e12"}}),
}


def cpu_ns(pid: int) -> int:
    """CPU time a process has run so far, every thread, in ns (``/proc/<pid>/task/*/schedstat``: exact,
    where ``/proc/<pid>/stat`` counts 10 ms clock ticks)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
    return total


def bybit_order(qty: D, price: D, cl: str) -> dict[str, str]:
    """A Bybit v5 limit buy (``order.create`` args / ``/v5/order/create`` body, less category and symbol)."""
    return {"side": "Buy", "orderType": "Limit", "qty": str(qty), "price": str(price), "timeInForce": "GTC",
            "orderLinkId": cl}  # fmt: skip


def emit(**fields: Any) -> None:
    print(json.dumps({"bench": "sim_cpu", **fields}), flush=True)


# ---------------------------------------------------------------------- one request kind over one connection


class Pipe:
    """Requests pipelined on one connection, ``window`` in flight. A protocol supplies ``send(i)`` (write
    request ``i``) and feeds each answer to ``answered(i, answer)``; ``run`` returns when all ``n`` are in."""

    def __init__(self, n: int, window: int) -> None:
        self.n = n
        self.free = asyncio.Semaphore(window)
        self.left = n
        self.done = asyncio.Event()
        self.answers: dict[int, Any] = {}
        self.failure: str = ""

    def answered(self, i: int, answer: Any, ok: bool) -> None:
        if not ok and not self.failure:
            self.failure = f"request {i}: {answer}"
        self.answers[i] = answer
        self.left -= 1
        self.free.release()
        if self.left == 0:
            self.done.set()

    async def run(self, send: Callable[[int], Awaitable[None]]) -> dict[int, Any]:
        for i in range(self.n):
            await self.free.acquire()
            await send(i)
        await asyncio.wait_for(self.done.wait(), 30 + self.n / 20)
        if self.failure:
            raise RuntimeError(self.failure)
        return self.answers


class Client(abc.ABC):
    """One protocol's client: ``place_all`` inserts one order per client order id (the answers by index),
    ``cancel_all`` cancels each of them, pipelined ``window`` deep."""

    @abc.abstractmethod
    async def place_all(self, cls: list[str], window: int) -> dict[int, Any]: ...

    @abc.abstractmethod
    async def cancel_all(self, placed: dict[int, Any], cls: list[str], window: int) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class WsJson(Client, abc.ABC):
    """A JSON websocket protocol: requests carry an id, answers echo it (``id_of``), ``ok`` says success."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, id_of: Callable[[dict[str, Any]], Any]) -> None:
        self.ws = ws
        self.id_of = id_of
        self.pipe: Pipe | None = None
        self.ids = itertools.count(1)
        self.index: dict[Any, int] = {}
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = orjson.loads(msg.data)
            i = self.index.pop(self.id_of(data), None)
            if i is not None and self.pipe is not None:
                self.pipe.answered(i, data, self.ok(data))

    @abc.abstractmethod
    def ok(self, answer: dict[str, Any]) -> bool: ...

    async def request(self, i: int, frame: Callable[[str], dict[str, Any]]) -> None:
        req_id = str(next(self.ids))
        self.index[req_id] = i
        await self.ws.send_str(orjson.dumps(frame(req_id)).decode())

    async def each(self, n: int, window: int, frame: Callable[[int, str], dict[str, Any]]) -> dict[int, Any]:
        self.pipe = Pipe(n, window)
        return await self.pipe.run(lambda i: self.request(i, lambda rid: frame(i, rid)))

    async def close(self) -> None:
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)
        await self.ws.close()


class BinanceWs(WsJson):
    def __init__(self, bare: BareWs, acct: dict[str, str], symbol: str, qty: D, price: D) -> None:
        super().__init__(bare.ws, lambda m: m.get("id"))
        self.acct, self.symbol, self.qty, self.price = acct, symbol, qty, price

    def ok(self, answer: dict[str, Any]) -> bool:
        return answer.get("status") == 200

    async def place_all(self, cls: list[str], window: int) -> dict[int, Any]:
        def frame(i: int, rid: str) -> dict[str, Any]:
            params = {"symbol": self.symbol, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                      "quantity": str(self.qty), "price": str(self.price), "newClientOrderId": cls[i]}  # fmt: skip
            return {"id": rid, "method": "order.place", "params": binance_signed(self.acct, params)}

        return await self.each(len(cls), window, frame)

    async def cancel_all(self, placed: dict[int, Any], cls: list[str], window: int) -> None:
        def frame(i: int, rid: str) -> dict[str, Any]:
            params = {"symbol": self.symbol, "origClientOrderId": cls[i]}
            return {"id": rid, "method": "order.cancel", "params": binance_signed(self.acct, params)}

        await self.each(len(cls), window, frame)


class BybitWs(WsJson):
    def __init__(self, bare: BareWs, symbol: str, qty: D, price: D) -> None:
        super().__init__(bare.ws, lambda m: m.get("reqId"))
        self.symbol, self.qty, self.price = symbol, qty, price

    def ok(self, answer: dict[str, Any]) -> bool:
        return answer.get("retCode") == 0

    def frame(self, rid: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
        header = {"X-BAPI-TIMESTAMP": str(int(time.time() * 1000)), "X-BAPI-RECV-WINDOW": "5000"}
        args = {"category": "linear", "symbol": self.symbol, **args}
        return {"reqId": rid, "header": header, "op": op, "args": [args]}

    async def place_all(self, cls: list[str], window: int) -> dict[int, Any]:
        order = bybit_order
        return await self.each(
            len(cls), window, lambda i, rid: self.frame(rid, "order.create", order(self.qty, self.price, cls[i]))
        )

    async def cancel_all(self, placed: dict[int, Any], cls: list[str], window: int) -> None:
        await self.each(len(cls), window, lambda i, rid: self.frame(rid, "order.cancel", {"orderLinkId": cls[i]}))


class OkxWs(WsJson):
    def __init__(self, bare: BareWs, qty: D, price: D) -> None:
        super().__init__(bare.ws, lambda m: m.get("id"))
        self.code, self.qty, self.price = bare.inst_code, qty, price

    def ok(self, answer: dict[str, Any]) -> bool:
        return str(answer.get("code")) == "0"

    async def place_all(self, cls: list[str], window: int) -> dict[int, Any]:
        def frame(i: int, rid: str) -> dict[str, Any]:
            item = {"instIdCode": self.code, "tdMode": "cash", "side": "buy", "ordType": "limit",
                    "sz": str(self.qty), "px": str(self.price), "clOrdId": cls[i]}  # fmt: skip
            return {"id": rid, "op": "order", "args": [item]}

        return await self.each(len(cls), window, frame)

    async def cancel_all(self, placed: dict[int, Any], cls: list[str], window: int) -> None:
        def frame(i: int, rid: str) -> dict[str, Any]:
            return {"id": rid, "op": "cancel-order", "args": [{"instIdCode": self.code, "clOrdId": cls[i]}]}

        await self.each(len(cls), window, frame)


class JsonRpcWs(WsJson):
    """Deribit's and Pulse's JSON-RPC over a websocket (authenticated with ``public/auth``)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, symbol: str, qty: D, price: D) -> None:
        super().__init__(ws, lambda m: str(m.get("id")))
        self.symbol, self.qty, self.price = symbol, qty, price

    def ok(self, answer: dict[str, Any]) -> bool:
        return "result" in answer

    @staticmethod
    def call(rid: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": int(rid), "method": method, "params": params}

    async def place_all(self, cls: list[str], window: int) -> dict[int, Any]:
        params = {"instrument_name": self.symbol, "amount": float(self.qty), "type": "limit",
                  "price": float(self.price)}  # fmt: skip
        return await self.each(
            len(cls), window, lambda i, rid: self.call(rid, "private/buy", {**params, "label": cls[i]})
        )

    async def cancel_all(self, placed: dict[int, Any], cls: list[str], window: int) -> None:
        def frame(i: int, rid: str) -> dict[str, Any]:
            return self.call(rid, "private/cancel", {"order_id": placed[i]["result"]["order"]["order_id"]})

        await self.each(len(cls), window, frame)


class Rest(Client):
    """A signed REST order entry: ``window`` keep-alive connections, one request in flight on each."""

    def __init__(self, http: aiohttp.ClientSession, url: str, acct: dict[str, str], symbol: str, qty: D, price: D):
        self.http, self.url, self.acct, self.symbol, self.qty, self.price = http, url, acct, symbol, qty, price

    async def each(self, n: int, window: int, request: Callable[[int], Awaitable[tuple[bool, Any]]]) -> dict[int, Any]:
        pipe = Pipe(n, window)

        async def send(i: int) -> None:
            async def one() -> None:
                ok, answer = await request(i)
                pipe.answered(i, answer, ok)

            tasks.add(task := asyncio.create_task(one()))
            task.add_done_callback(tasks.discard)

        tasks: set[asyncio.Task[None]] = set()
        try:
            return await pipe.run(send)
        finally:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        pass


class BinanceRest(Rest):
    async def call(self, method: str, params: dict[str, str]) -> tuple[bool, Any]:
        query = urlencode({**params, "timestamp": int(time.time() * 1000)})
        sig = hmac.new(self.acct["secretKey"].encode(), query.encode(), hashlib.sha256).hexdigest()
        headers = {"X-MBX-APIKEY": self.acct["apiKey"]}
        async with self.http.request(method, f"{self.url}/api/v3/order?{query}&signature={sig}", headers=headers) as r:
            return r.status == 200, await r.read()

    async def place_all(self, cls: list[str], window: int) -> dict[int, Any]:
        params = {"symbol": self.symbol, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                  "quantity": str(self.qty), "price": str(self.price)}  # fmt: skip
        return await self.each(len(cls), window, lambda i: self.call("POST", {**params, "newClientOrderId": cls[i]}))

    async def cancel_all(self, placed: dict[int, Any], cls: list[str], window: int) -> None:
        await self.each(
            len(cls), window, lambda i: self.call("DELETE", {"symbol": self.symbol, "origClientOrderId": cls[i]})
        )


class BybitRest(Rest):
    async def call(self, path: str, body: dict[str, Any]) -> tuple[bool, Any]:
        raw = orjson.dumps({"category": "linear", "symbol": self.symbol, **body})
        ts, window = str(int(time.time() * 1000)), "5000"
        payload = ts.encode() + self.acct["apiKey"].encode() + window.encode() + raw
        sig = hmac.new(self.acct["secretKey"].encode(), payload, hashlib.sha256).hexdigest()
        headers = {"X-BAPI-API-KEY": self.acct["apiKey"], "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": window,
                   "X-BAPI-SIGN": sig, "Content-Type": "application/json"}  # fmt: skip
        async with self.http.post(f"{self.url}{path}", data=raw, headers=headers) as r:
            answer = orjson.loads(await r.read())
            return r.status == 200 and answer.get("retCode") == 0, answer

    async def place_all(self, cls: list[str], window: int) -> dict[int, Any]:
        order = bybit_order
        return await self.each(
            len(cls), window, lambda i: self.call("/v5/order/create", order(self.qty, self.price, cls[i]))
        )

    async def cancel_all(self, placed: dict[int, Any], cls: list[str], window: int) -> None:
        await self.each(len(cls), window, lambda i: self.call("/v5/order/cancel", {"orderLinkId": cls[i]}))


class Fix(Client):
    """Deribit FIX: NewOrderSingle / OrderCancelRequest pipelined on one session; the answer to each is the
    ExecutionReport (or reject) naming its ClOrdID (Deribit reverses 11 and 41 on cancels: either is ours)."""

    def __init__(self, fix: FixClient, symbol: str, qty: D, price: D) -> None:
        self.fix, self.symbol, self.qty, self.price = fix, symbol, qty, price
        self.pipe: Pipe | None = None
        self.index: dict[bytes, int] = {}
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        while True:
            msg = await self.fix.read(lambda m: m.get(35) in (b"8", b"9", b"3"))
            for tag in (41, 11):
                i = self.index.pop(msg.get(tag) or b"", None)
                if i is not None and self.pipe is not None:
                    self.pipe.answered(i, msg, msg.get(35) == b"8" and msg.get(150) != b"8")
                    break

    async def each(self, cls: list[str], window: int, send: Callable[[int], None]) -> dict[int, Any]:
        self.pipe = Pipe(len(cls), window)

        async def one(i: int) -> None:
            self.index[cls[i].encode()] = i
            send(i)

        return await self.pipe.run(one)

    async def place_all(self, cls: list[str], window: int) -> dict[int, Any]:
        def send(i: int) -> None:
            now = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
            self.fix.send("D", [(11, cls[i]), (54, "1"), (38, str(self.qty)), (55, self.symbol), (40, "2"),
                                (44, str(self.price)), (59, "1"), (60, now)])  # fmt: skip

        return await self.each(cls, window, send)

    async def cancel_all(self, placed: dict[int, Any], cls: list[str], window: int) -> None:
        def send(i: int) -> None:
            now = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
            self.fix.send("F", [(11, cls[i]), (55, self.symbol), (54, "1"), (60, now)])

        await self.each(cls, window, send)

    async def close(self) -> None:
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)
        await self.fix.close()


async def connect(
    name: str, http: aiohttp.ClientSession, hosts: dict[str, str], acct: dict[str, str], price: D
) -> Client:
    market = MARKETS[PROTOCOLS[name].market]
    symbol, qty = market.symbol, market.qty
    if name == "binance-rest":
        return BinanceRest(http, hosts["rest"], acct, symbol, qty, price)
    if name == "bybit-rest":
        return BybitRest(http, hosts["rest"], acct, symbol, qty, price)
    if name == "deribit-fix":
        return Fix(await FixClient.connect(hosts["fix"], acct), symbol, qty, price)
    if name in ("deribit-ws", "pulse-ws"):
        if name == "deribit-ws":
            qty *= 10  # the JSON-RPC amount of Deribit's inverse perpetual is USD: one FIX contract is 10 USD
        ws = await http.ws_connect(hosts["ws"], max_msg_size=0)
        credentials = {"client_id": acct["apiKey"], "client_secret": acct["secretKey"]}
        auth = {"grant_type": "client_credentials", **credentials}
        await ws.send_json({"jsonrpc": "2.0", "id": 0, "method": "public/auth", "params": auth})
        answer = json.loads((await ws.receive()).data)
        if "result" not in answer:
            raise RuntimeError(f"public/auth: {answer}")
        return JsonRpcWs(ws, symbol, qty, price)
    bare = await direct_ws_client(PROTOCOLS[name].venue, http, hosts, acct)
    assert bare is not None
    if name == "binance-wsapi":
        return BinanceWs(bare, acct, symbol, qty, price)
    if name == "bybit-ws":
        return BybitWs(bare, symbol, qty, price)
    return OkxWs(bare, qty, price)


# ---------------------------------------------------------------------- one protocol against its own simulator


def callgrind_instructions(dump: str) -> int:
    """The instructions a callgrind dump counted (its ``summary:`` line)."""
    with open(dump) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("summary:"))


async def measure(name: str, n: int, window: int, profile: str, top: int, callgrind: str = "") -> float:
    proto = PROTOCOLS[name]
    prof_out = os.path.join(profile, f"{name}.prof") if profile else ""
    launch = ("-c", profiled("execx_sim"), prof_out) if profile else ("-m", "execx_sim.cli")
    grind = os.path.join(callgrind, name)
    valgrind = ("valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={grind}.%p")
    sim, ready = await start(*(valgrind if callgrind else ()), sys.executable, *launch, "--quiet", "--log-level",
                             "warning", ready_s=600 if callgrind else 60)  # fmt: skip

    def control(*what: str) -> None:  # callgrind: instrument the measured phases, dump each
        if callgrind:
            subprocess.run(["callgrind_control", *what, str(sim.pid)], check=True, capture_output=True)

    try:
        admin = ready["admin"]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=window)) as http:
            await raise_rate_limits(http, admin, proto.venue)
            async with http.post(f"{admin}/admin/accounts", json={"balances": proto.funds}) as r:
                acct = await r.json()
                if r.status != 200:
                    raise RuntimeError(f"admin/accounts: {acct}")
            market = MARKETS[proto.market]
            async with http.get(f"{admin}/admin/state") as r:
                mid = D((await r.json())["markets"][proto.market][market.symbol]["mid"])
            price = (mid * D("0.96") / market.tick).to_integral_value(ROUND_FLOOR) * market.tick
            client = await connect(name, http, ready["venues"][proto.venue], acct, price)
            try:
                warm = [f"w{i}" for i in range(WARMUP)]
                await client.cancel_all(await client.place_all(warm, window), warm, window)
                cls = [f"o{i}" for i in range(n)]
                if profile:
                    sim.send_signal(signal.SIGUSR1)
                control("--instr=on")
                cpu0 = cpu_ns(sim.pid)
                placed = await client.place_all(cls, window)
                cpu1 = cpu_ns(sim.pid)
                control("--dump=inserts")
                await client.cancel_all(placed, cls, window)
                cpu2 = cpu_ns(sim.pid)
                control("--dump=cancels")
                if profile:
                    sim.send_signal(signal.SIGUSR2)
            finally:
                await client.close()
        per_order = round((cpu1 - cpu0) / 1e3 / n, 1)
        figures: dict[str, float] = {
            "sim_cpu_us_per_order": per_order,
            "sim_cpu_us_per_cancel": round((cpu2 - cpu1) / 1e3 / n, 1),
        }
        if callgrind:  # CPU time under valgrind means nothing: instructions instead
            inserts, cancels = (callgrind_instructions(f"{grind}.{sim.pid}.{i}") for i in (1, 2))
            figures = {"sim_instructions_per_order": inserts // n, "sim_instructions_per_cancel": cancels // n}
            per_order = inserts // n
        emit(protocol=name, orders=n, window=window, profiled=bool(profile), **figures)
    finally:
        sim.terminate()
        await sim.wait()
    if profile:
        print_profile(pstats.Stats(prof_out), top, protocol=name)
    return per_order


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--window", type=int, default=32, help="requests in flight (REST: connections)")
    ap.add_argument("--protocols", default=",".join(PROTOCOLS), help=f"a subset of {','.join(PROTOCOLS)}")
    ap.add_argument("--profile", default="", help="a directory: profile the simulator, print its top functions")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument(
        "--callgrind",
        default="",
        help="a directory: run the simulator under valgrind's callgrind and report its instructions per request "
        "(deterministic, unlike CPU time on a shared machine; ~50x slower: use a few hundred orders)",
    )
    args = ap.parse_args()
    names = args.protocols.split(",")
    if unknown := set(names) - set(PROTOCOLS):
        ap.error(f"unknown protocols {sorted(unknown)}; known: {', '.join(PROTOCOLS)}")
    for directory in (args.profile, args.callgrind):
        if directory:
            os.makedirs(directory, exist_ok=True)
    summary: dict[str, float | None] = {}
    for name in names:
        try:
            summary[name] = await measure(name, args.orders, args.window, args.profile, args.top, args.callgrind)
        except Exception as e:  # reported; the bench goes on with the next protocol
            summary[name] = None
            emit(protocol=name, error=f"{type(e).__name__}: {e}")
    key = "sim_instructions_per_order" if args.callgrind else "sim_cpu_us_per_order"
    emit(figure="summary", orders=args.orders, **{key: summary})


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
