"""execx's own CPU per order under pipelined load, optionally with a profile of where it goes.

    .venv/bin/python bench/order_profile.py [--orders 2000] [--window 64] [--profile out.prof] [--top 25]
    .venv/bin/python bench/order_profile.py --baseline /tmp/base/server [--pairs 5]   # before/after
    .venv/bin/python bench/order_profile.py --batch 16                # 16 orders per OrderEntry message
    .venv/bin/python bench/order_profile.py --batches 1,16,64 [--pairs 3]   # each in turn, with the medians

``--baseline``: the same on another source tree (e.g. ``git archive <commit> server | tar -x -C /tmp/base``)
and on this one, run after run, with the medians.

Starts the simulator (``execx-sim``) and execx as separate processes on loopback, opens a binance-spot
session and sends ``--orders`` limit orders far from the market over one OrderEntry stream with
``--window`` in flight (each answered once the venue's ack is in), after a warm-up of 200; with ``--batch N``
N orders per OrderEntry message (``batch``), answers and updates asked in batches of N (``maxBatch``). Prints
``{"figure": "order_cpu", "orders": n, "batch": N, "execx_cpu_us": ..., "sim_cpu_us": ..., "strategy_cpu_us": ...}``:
CPU µs per order of each process (user + system, every thread), which unlike wall-clock latency does not
depend on what else the machine runs (though a loaded machine inflates it too: compare runs taken in turns,
``--baseline``). With ``--profile``, execx runs under cProfile switched on and off around the measured phase
(its event-loop thread only; the profiler itself roughly doubles the CPU figure) and the top functions by
own time are printed as ``{"figure": "profile", "rank": i, "function": ..., "own_share": ...,
"cumulative_share": ...}`` lines. ``--pyspy <binary>``: py-spy samples execx (native frames, every thread)
instead, printed as ``pyspy_own`` / ``pyspy_inclusive`` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pstats
import signal
import statistics
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import aiohttp
import grpc
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc

KEY = "bench-key"
last = [""]  # the last answer seen (status and comment)
messages = [0, 0]  # OrderEntry messages written, answer messages read (of the last pipelined run)
AUTH = (("x-api-key", KEY),)


def profiled(package: str) -> str:
    """``python -c`` code running ``package``'s CLI under a profiler switched on (SIGUSR1) and off, dumped to
    argv[1] (SIGUSR2) by the bench, so only the measured phase is in the profile (not start-up, the warm-up
    or the stop)."""
    return f"""
import cProfile, signal, sys
from {package} import cli
out = sys.argv.pop(1)
prof = cProfile.Profile()
signal.signal(signal.SIGUSR1, lambda *_: prof.enable())
signal.signal(signal.SIGUSR2, lambda *_: (prof.disable(), prof.dump_stats(out)))
cli.main()
"""


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def start(*cmd: str) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    return proc, json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))


async def no_rate_limits(admin: str, venue: str = "binance-spot") -> None:
    """Every rate limit of the simulated venue to 10^9 (its admin API)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{admin}/admin/ratelimits/{venue}") as r:
            limits = {lim["rateLimitType"]: 10**9 for lim in (await r.json())["rateLimits"]}
        async with http.post(f"{admin}/admin/ratelimits/{venue}", json=limits) as r:
            assert r.status == 200, await r.text()


async def pipelined(call: Any, insert: Any, prefix: str, total: int, window: int, batch: int = 1) -> dict[str, int]:
    """``total`` inserts with ``window`` in flight; how many answers had each status (or error code). With
    ``batch`` above 1: ``batch`` inserts per OrderEntry message (its ``batch``; the window widened to two
    messages' worth if smaller), and execx asked for ``maxBatch`` ``batch`` (answers come several per message)."""
    sent = received = 0
    outcomes: dict[str, int] = {}
    window = max(window, 2 * batch)
    messages[:] = [0, 0]
    while received < total:
        while sent < total and sent - received + min(batch, total - sent) <= window:
            n = min(batch, total - sent)
            msg = om.OrderEntryRequest(max_batch=batch if batch > 1 else 0)
            if n == 1:
                msg.request_id = sent
                msg.order.CopyFrom(insert(f"{prefix}{sent}"))
            else:
                msg.batch.extend(
                    om.OrderEntryRequest(request_id=sent + i, order=insert(f"{prefix}{sent + i}")) for i in range(n)
                )
            await call.write(msg)
            sent += n
            messages[0] += 1
        got = await call.read()
        messages[1] += 1
        for answer in got.batch if len(got.batch) else (got,):
            key = (
                c.OrderStatus.Name(answer.order.order_status)
                if answer.status.code == 0
                else f"code{answer.status.code}"
            )
            outcomes[key] = outcomes.get(key, 0) + 1
            last[0] = f"{key} {answer.order.message or answer.status.message}"
            received += 1
    return outcomes


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--profile", default="", help="write execx's cProfile here and print its top functions")
    ap.add_argument("--pyspy", default="", help="path of a py-spy binary: sample execx (native frames too) instead")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--cumulative", type=int, default=0, help="also print this many rows by cumulative time (stderr)")
    ap.add_argument("--baseline", default="", help="a source tree (its server/ dir) to compare with, run by run")
    ap.add_argument(
        "--pairs", type=int, default=5, help="with --baseline or --batches: this many runs of each, interleaved"
    )
    ap.add_argument("--batch", type=int, default=1, help="orders per OrderEntry message (and maxBatch of the answers)")
    ap.add_argument("--batches", default="", help="e.g. 1,16,64: --batch of each in turn, --pairs runs each")
    args = ap.parse_args()
    if args.baseline:
        variants = {"baseline": ({"PYTHONPATH": args.baseline}, ()), "tree": ({}, ())}
        await interleaved("order_cpu_ab", variants, args.pairs, args.orders, args.window)
        return
    if args.batches:
        sizes = [int(b) for b in args.batches.split(",")]
        await interleaved(
            "order_cpu_batches",
            {f"batch{b}": ({}, ("--batch", str(b))) for b in sizes},
            args.pairs,
            args.orders,
            args.window,
        )
        return
    sim, sim_ready = await start(sys.executable, "-m", "execx_sim.cli", "--quiet")
    await no_rate_limits(sim_ready["admin"])  # the bench measures CPU, not the venue's rate limits
    tmp = tempfile.TemporaryDirectory()
    prof = ("-c", profiled("execx_server"), args.profile) if args.profile else ("-m", "execx_server.cli")
    flags = ("--key", KEY, "--port", "0", "--grpcPort", "0", "--promPort", "0", "--dataDir", tmp.name)
    ex, ready = await start(sys.executable, *prof, *flags)
    try:
        venue = sim_ready["venues"]["binance-spot"]
        acct = sim_ready["accounts"][0]
        channel = grpc.aio.insecure_channel(ready["grpc"])
        stub = om_grpc.OrderManagerServiceStub(channel)  # type: ignore[no-untyped-call]
        await stub.StartOrderHandler(
            om.StartOrderHandlerRequest(
                session_id="p",
                rest_url=venue["rest"],
                ws_url=json.dumps(venue),
                exchange_key=c.ExchangeKey(
                    api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT
                ),
            ),
            metadata=AUTH,
        )
        batching = args.batch if args.batch > 1 else 0
        updates = stub.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id="p", max_batch=batching), metadata=AUTH)

        async def drain() -> None:
            with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
                async for _ in updates:
                    pass

        reader = asyncio.create_task(drain())  # a strategy keeps its update stream open

        def insert(cl: str) -> om.SendOrderRequest:
            return om.SendOrderRequest(
                session_id="p",
                cl_order_id=cl,
                symbol="BTCUSDT",
                price=90000.0,  # far below the market: rests, never fills
                qty=0.0002,  # 18 USDT: the demo account's 100 000 USDT holds every order of a run
                order_type=c.ORDER_TYPE_LIMIT,
                transaction_type=c.TRANSACTION_TYPE_INSERT,
                side=c.SIDE_BUY,
            )

        call = stub.OrderEntry(metadata=AUTH)
        await pipelined(call, insert, "w", 200, args.window, args.batch)
        pids = {"execx": ex.pid, "sim": sim.pid, "strategy": os.getpid()}
        if args.profile:
            ex.send_signal(signal.SIGUSR1)
        spy = None
        if args.pyspy:
            cmd = (args.pyspy, "record", "--pid", str(ex.pid), "--rate", "250", "--native", "--format", "raw")
            spy = await asyncio.create_subprocess_exec(
                *cmd, "-o", "/tmp/execx-pyspy.txt", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
            await asyncio.sleep(1)  # py-spy attached
        before = {k: cpu_s(p) for k, p in pids.items()}
        outcomes = await pipelined(call, insert, "o", args.orders, args.window, args.batch)
        cpu = {f"{k}_cpu_us": round((cpu_s(p) - before[k]) * 1e6 / args.orders) for k, p in pids.items()}
        if args.profile:
            ex.send_signal(signal.SIGUSR2)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            await spy.wait()
            print_pyspy("/tmp/execx-pyspy.txt", args.top)
        fig = {"figure": "order_cpu", "orders": args.orders, "batch": args.batch}
        fig["profiled"] = bool(args.profile) or bool(args.pyspy)
        per = {"request_messages": messages[0], "answer_messages": messages[1]}
        print(json.dumps({**fig, "outcomes": outcomes, "last_answer": last[0], **per, **cpu}))
        await call.done_writing()
        await stub.CancelAllOrders(om.CancelAllOrdersRequest(session_id="p", symbol="BTCUSDT"), metadata=AUTH)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await channel.close()
    finally:
        ex.send_signal(signal.SIGTERM)
        await ex.wait()
        sim.terminate()
        await sim.wait()
        tmp.cleanup()
    if args.profile:
        st = pstats.Stats(args.profile, stream=sys.stderr)
        if args.cumulative:
            st.sort_stats("cumulative").print_stats(args.cumulative)
        print_profile(st, args.top)


def print_profile(st: pstats.Stats, top: int, **tags: Any) -> None:
    """The ``top`` functions of a profile by own time, with their shares of the total, one JSON line each."""
    total = sum(v[2] for v in st.stats.values())  # type: ignore[attr-defined]
    rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:top]  # type: ignore[attr-defined]
    for i, ((file, line, fn), (_, calls, tt, ct, _)) in enumerate(rows, 1):
        row = {"rank": i, "function": f"{os.path.basename(file)}:{line}:{fn}", "calls": calls}
        share = {"own_share": round(tt / total, 3), "cumulative_share": round(ct / total, 3)}
        print(json.dumps({"figure": "profile", **tags, **row, **share}), flush=True)


async def interleaved(
    figure: str, variants: dict[str, tuple[dict[str, str], Sequence[str]]], pairs: int, orders: int, window: int
) -> None:
    """This bench once per variant (its environment, e.g. ``PYTHONPATH`` of a baseline tree's execx and
    simulator, and its extra arguments, e.g. ``--batch 16``), taking turns run by run (a load that drifts over
    the runs weighs on all alike): each run's line, then ``{"figure": figure, "<variant>_execx_cpu_us":
    median, ..., "runs": {...}}``."""
    runs: dict[str, list[int]] = {name: [] for name in variants}
    for _ in range(pairs):
        for name, (env, extra) in variants.items():
            cmd = (sys.executable, __file__, "--orders", str(orders), "--window", str(window), *extra)
            proc = await asyncio.create_subprocess_exec(*cmd, env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            fig = json.loads(out.decode().strip().splitlines()[-1])
            print(json.dumps({**fig, "code": name}), flush=True)
            runs[name].append(fig["execx_cpu_us"])
    medians = {f"{name}_execx_cpu_us": statistics.median(v) for name, v in runs.items()}
    print(json.dumps({"figure": figure, "pairs": pairs, **medians, "runs": runs}))


def print_pyspy(path: str, top: int) -> None:
    """From py-spy's collapsed stacks: the share of samples each function is on the stack (inclusive) and at
    the top of it (own), the busiest first."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, n = line.rstrip().rpartition(" ")
            frames = [fr.split(" (")[0] + " " + fr.rpartition("/")[2].split(":")[0] for fr in stack.split(";")]
            count = int(n)
            total += count
            own[frames[-1]] = own.get(frames[-1], 0) + count
            for fr in set(frames):
                incl[fr] = incl.get(fr, 0) + count
    for kind, table in (("own", own), ("inclusive", incl)):
        for i, (fn, k) in enumerate(sorted(table.items(), key=lambda kv: -kv[1])[:top], 1):
            print(json.dumps({"figure": f"pyspy_{kind}", "rank": i, "function": fn, "share": round(k / total, 3)}))


if __name__ == "__main__":
    asyncio.run(main())
