"""Update fan-out: one order session, N subscribers (gRPC ``SubscribeUpdates`` and the gateway's
``/subscribeUpdates`` websocket, mixed), a burst of updates.

    .venv/bin/python bench/fanout.py [--subscribers 10] [--websockets 5] [--orders 1000] [--window 64] [--batch 0]
        [--procs 0] [--profile out.prof [--top 25]]

The simulator and execx run as separate processes on loopback; this process holds every subscriber and
sends the burst: ``--orders`` limit orders far from the market over one pipelined OrderEntry stream (each
makes two updates, ``pendingnew`` then ``new``), all cancelled afterwards. Prints
``{"figure": "fanout", "subscribers": n, "grpc": g, "websocket": w, "updates": total, "updates_per_s": ...,
"p50_us": ..., "p99_us": ..., "execx_cpu_us_per_update": ...}``: updates delivered to all subscribers together
per second, from the first order sent to the last update received; the delay of each update from the
moment execx made it (its ``localTime``) to its arrival at a subscriber; execx's CPU µs per delivered update
(not skewed by what else the machine runs, unlike the two time figures), and the part of it that is the
fan-out's: less execx's CPU for the same burst sent before anyone subscribed (the orders alone), per
delivered update (and the orders-alone burst's CPU per order); the subscribers' own CPU per update
and the CPU shares of execx and of the subscribers' process(es) over the burst. By default the subscribers
share this process with the sender: on a small machine the figure is a floor of what execx can do. With
``--procs N`` they run in N processes of their own (as real subscribers do), split round-robin, each
reporting its delays here. ``--profile``: execx under
cProfile during the burst only, its top functions printed as in ``order_profile.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pstats
import signal
import sys
import tempfile
import time
from typing import Any, cast

import aiohttp
import grpc
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from order_profile import (  # this directory's helpers
    AUTH,
    KEY,
    cpu_s,
    no_rate_limits,
    print_profile,
    profiled,
    start,
)


class Tally:
    """What the subscribers saw: every update's delay (ns) and the time the last one arrived."""

    def __init__(self, prefix: str, orders: int) -> None:
        self.prefix, self.orders = prefix, orders
        self.delays: list[int] = []
        self.last_ns = 0

    def seen(self, cl: str, local_time: int, acked: set[str]) -> bool:
        """Record one update of order ``cl``; True once this subscriber has every order of the burst acked."""
        if not cl.startswith(self.prefix):
            return False
        now = time.time_ns()
        self.delays.append(now - local_time)
        self.last_ns = max(self.last_ns, now)
        return len(acked) == self.orders


async def grpc_subscriber(stub: Any, sid: str, tally: Tally, ready: asyncio.Event, batch: int) -> None:
    call = stub.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, max_batch=batch), metadata=AUTH)
    acked: set[str] = set()
    try:
        async for resp in call:
            for one in resp.batch or (resp,):
                tx = one.transaction
                if tx.cl_order_id.startswith("r"):  # a marker: this subscription is live
                    ready.set()
                if tx.order_status == c.ORDER_STATUS_NEW:
                    acked.add(tx.cl_order_id)
                if tally.seen(tx.cl_order_id, tx.local_time, acked):
                    return
    finally:
        call.cancel()


async def ws_subscriber(http: aiohttp.ClientSession, url: str, sid: str, tally: Tally, ready: asyncio.Event) -> None:
    async with http.ws_connect(url + "/subscribeUpdates", headers={"x-api-key": KEY}) as ws:
        await ws.send_json({"sessionId": sid})
        acked: set[str] = set()
        async for msg in ws:
            u = json.loads(msg.data)
            cl = u.get("clOrderId", "")
            if cl.startswith("r"):  # a marker: this subscription is live
                ready.set()
            if u.get("orderStatus") == "new":
                acked.add(cl)
            if tally.seen(cl, int(u.get("localTime", 0)), acked):
                return


async def worker() -> None:
    """``--worker``: this process holds some of the subscribers (``--procs``), as its first stdin line says;
    prints ``{"ready": true}`` once each has seen a marker, then ``{"delays": [...], "last_ns": ...}`` once each
    has the whole burst, then waits for its stdin to close (the parent reads its CPU time meanwhile)."""
    config = json.loads(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    tallies = [Tally("b", config["orders"]) for _ in config["kinds"]]
    readies = [asyncio.Event() for _ in tallies]
    channel = grpc.aio.insecure_channel(config["grpc"])
    stub = om_grpc.OrderManagerServiceStub(channel)  # type: ignore[no-untyped-call]
    async with aiohttp.ClientSession() as http:
        subs = [
            asyncio.create_task(
                grpc_subscriber(stub, config["sid"], t, e, config["batch"])
                if kind == "grpc"
                else ws_subscriber(http, config["rest"], config["sid"], t, e)
            )
            for kind, t, e in zip(config["kinds"], tallies, readies, strict=True)
        ]
        live = asyncio.ensure_future(asyncio.gather(*(e.wait() for e in readies)))
        await asyncio.wait([live, *subs], return_when=asyncio.FIRST_COMPLETED)
        for sub in subs:
            if sub.done() and not live.done():
                sub.result()  # a subscriber that failed before it was live: its error, here
        await live
        print(json.dumps({"ready": True}), flush=True)
        await asyncio.wait_for(asyncio.gather(*subs), 120)
    print(json.dumps({"delays": [d for t in tallies for d in t.delays], "last_ns": max(t.last_ns for t in tallies)}))
    sys.stdout.flush()
    await channel.close()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


class Workers:
    """The subscriber processes of ``--procs``."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.ready: list[asyncio.Event] = []
        self.results: list[dict[str, Any]] = []

    async def start(self, n: int) -> None:
        """Started before this process opens any gRPC channel: a fork while gRPC's threads run can leave the
        child hung before it runs anything (seen: a subscriber process that never started, ~1 run in 10)."""
        for _ in range(n):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--worker",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**26,
            )  # fmt: skip
            self.procs.append(proc)
            self.ready.append(asyncio.Event())

    async def configure(self, config: dict[str, Any], kinds: list[str]) -> None:
        """Each process's subscribers: ``kinds`` split round-robin."""
        n = len(self.procs)
        for i, proc in enumerate(self.procs):
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(dict(config, kinds=kinds[i::n])).encode() + b"\n")
            await proc.stdin.drain()

    async def wait_ready(self) -> None:
        async def one(proc: asyncio.subprocess.Process, ready: asyncio.Event) -> None:
            assert proc.stdout is not None
            line = await proc.stdout.readline()
            assert line, f"subscriber process {proc.pid} ended before its subscribers were live (its stderr above)"
            assert json.loads(line) == {"ready": True}
            ready.set()

        await asyncio.gather(*(one(p, e) for p, e in zip(self.procs, self.ready, strict=True)))

    async def results_of(self) -> list[dict[str, Any]]:
        async def one(proc: asyncio.subprocess.Process) -> dict[str, Any]:
            assert proc.stdout is not None
            return cast(dict[str, Any], json.loads(await proc.stdout.readline()))

        self.results = list(await asyncio.gather(*(one(p) for p in self.procs)))
        return self.results

    def cpu_s(self) -> float:
        return sum(cpu_s(p.pid) for p in self.procs)

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        await worker()
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=10)
    ap.add_argument("--websockets", type=int, default=-1, help="how many of them are websockets (default half)")
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--batch", type=int, default=0, help="gRPC subscribers ask for maxBatch (0: one update a message)")
    ap.add_argument("--procs", type=int, default=0, help="the subscribers in this many processes of their own")
    ap.add_argument("--profile", default="", help="write execx's cProfile of the burst here and print its top")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    n_ws = args.subscribers // 2 if args.websockets < 0 else args.websockets
    n_grpc = args.subscribers - n_ws
    sim, sim_ready = await start(sys.executable, "-m", "execx_sim.cli", "--quiet")
    tmp = tempfile.TemporaryDirectory()
    flags = ("--key", KEY, "--port", "0", "--grpcPort", "0", "--promPort", "0", "--dataDir", tmp.name)
    prof = ("-c", profiled("execx_server"), args.profile) if args.profile else ("-m", "execx_server.cli")
    ex, ready = await start(sys.executable, *prof, *flags)
    workers = Workers()
    await workers.start(args.procs)
    try:
        async with aiohttp.ClientSession() as http:
            await no_rate_limits(sim_ready["admin"])
            venue, acct = sim_ready["venues"]["binance-spot"], sim_ready["accounts"][0]
            channel = grpc.aio.insecure_channel(ready["grpc"])
            stub = om_grpc.OrderManagerServiceStub(channel)  # type: ignore[no-untyped-call]
            sid = "fanout"
            key = c.ExchangeKey(api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT)
            start_req = om.StartOrderHandlerRequest(
                session_id=sid, rest_url=venue["rest"], ws_url=json.dumps(venue), exchange_key=key
            )
            await stub.StartOrderHandler(start_req, metadata=AUTH)

            def insert(cl: str) -> om.SendOrderRequest:
                return om.SendOrderRequest(
                    session_id=sid,
                    cl_order_id=cl,
                    symbol="BTCUSDT",
                    price=90000.0,  # far below the market: rests, never fills
                    qty=0.0001,  # 9 USDT: the demo balance holds every order of the burst
                    order_type=c.ORDER_TYPE_LIMIT,
                    transaction_type=c.TRANSACTION_TYPE_INSERT,
                    side=c.SIDE_BUY,
                )

            call = stub.OrderEntry(metadata=AUTH)
            for i in range(50):  # warm-up, before anyone subscribes
                await call.write(om.OrderEntryRequest(request_id=i, order=insert(f"w{i}")))
                await call.read()

            async def burst(prefix: str) -> None:
                """``--orders`` orders named ``prefix<i>``, ``--window`` in flight, until all are answered."""
                sent = received = 0
                while received < args.orders:
                    while sent < args.orders and sent - received < args.window:
                        await call.write(om.OrderEntryRequest(request_id=sent, order=insert(f"{prefix}{sent}")))
                        sent += 1
                    answer = await call.read()
                    assert answer.status.code == 0 and answer.order.order_status == c.ORDER_STATUS_NEW, answer
                    received += 1

            # the same burst with no subscriber: execx's CPU for the orders alone, taken off the burst's below
            ref0 = cpu_s(ex.pid)
            await burst("a")
            ref = cpu_s(ex.pid) - ref0

            kinds = ["grpc"] * n_grpc + ["ws"] * n_ws
            if args.procs:
                config = {"grpc": ready["grpc"], "rest": ready["rest"], "sid": sid, "batch": args.batch}
                await workers.configure(dict(config, orders=args.orders), kinds)
                tallies, readies = [], workers.ready
                subs = [asyncio.create_task(workers.wait_ready())]
            else:
                tallies = [Tally("b", args.orders) for _ in kinds]
                readies = [asyncio.Event() for _ in tallies]
                subs = [
                    asyncio.create_task(
                        grpc_subscriber(stub, sid, t, e, args.batch)
                        if kind == "grpc"
                        else ws_subscriber(http, ready["rest"], sid, t, e)
                    )
                    for kind, t, e in zip(kinds, tallies, readies, strict=True)
                ]
            # markers (one order at a time) until every subscriber has seen one: all are live
            async with asyncio.timeout(30):
                for i in range(10**6):
                    await call.write(om.OrderEntryRequest(request_id=i, order=insert(f"r{i}")))
                    await call.read()
                    if all(e.is_set() for e in readies):
                        break
                    await asyncio.sleep(0.05)

            if args.profile:
                ex.send_signal(signal.SIGUSR1)
            if args.procs:
                await subs[0]
                subs = [asyncio.create_task(workers.results_of())]
            cpu0, own0 = cpu_s(ex.pid), time.process_time() + workers.cpu_s()
            t0 = time.time_ns()
            await burst("b")
            await asyncio.wait_for(asyncio.gather(*subs), 120)
            cpu, own = cpu_s(ex.pid) - cpu0, time.process_time() + workers.cpu_s() - own0
            for r in workers.results:
                tally = Tally("b", args.orders)
                tally.delays, tally.last_ns = r["delays"], r["last_ns"]
                tallies.append(tally)
            if args.profile:
                ex.send_signal(signal.SIGUSR2)
            delays = sorted(d for t in tallies for d in t.delays)
            total = len(delays)
            took_s = (max(t.last_ns for t in tallies) - t0) / 1e9
            print(
                json.dumps(
                    {
                        "figure": "fanout",
                        "subscribers": args.subscribers,
                        "grpc": n_grpc,
                        "websocket": n_ws,
                        "max_batch": args.batch,
                        "subscriber_procs": args.procs,
                        "orders": args.orders,
                        "updates": total,
                        "updates_per_s": round(total / took_s),
                        "p50_us": round(delays[total // 2] / 1000, 1),
                        "p99_us": round(delays[int(total * 0.99) - 1] / 1000, 1),
                        "execx_cpu_us_per_update": round(cpu * 1e6 / total, 1),
                        "execx_fanout_cpu_us_per_update": round((cpu - ref) * 1e6 / total, 1),
                        "execx_cpu_us_per_order_alone": round(ref * 1e6 / args.orders, 1),
                        "bench_cpu_us_per_update": round(own * 1e6 / total, 1),
                        "execx_cpu_share": round(cpu * 1e9 / (max(t.last_ns for t in tallies) - t0), 2),
                        "bench_cpu_share": round(own * 1e9 / (max(t.last_ns for t in tallies) - t0), 2),
                    }
                ),
                flush=True,
            )
            await call.done_writing()
            await stub.CancelAllOrders(om.CancelAllOrdersRequest(session_id=sid, symbol="BTCUSDT"), metadata=AUTH)
            await channel.close()
    finally:
        await workers.stop()
        ex.terminate()
        await ex.wait()
        sim.terminate()
        await sim.wait()
        tmp.cleanup()
    if args.profile:
        print_profile(pstats.Stats(args.profile), args.top)


if __name__ == "__main__":
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
