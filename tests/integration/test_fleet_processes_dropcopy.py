"""Fleet mode (issue 21), the drop copy of three real ``execx`` processes (``--redis`` and ``--nats``, as an
operator runs them) trading one simulated Binance spot account, with a real ``redis-server`` and a real
``nats-server -js`` started by the test (skipped where absent, failing under ``CI=1``):

- every process fills orders; ``nats-server`` is ``kill -9``'d while they fill more, and restarted on its store;
- one execx is ``kill -9``'d while its orders are in flight, its drop copy's persisted acks deleted (a crash
  before any was written: everything is published again), restarted on its data directory and its session
  started again (the reconciler resolves what was in flight and fetches the fills it missed); all fill more;
- a JetStream consumer reading the stream from the start receives every fill the venue made for each session
  (the simulator's own trade history of the account, each trade mapped to its session by its client order
  id) exactly once, by trade id and by ``session:seq``, none missing, each session's seqs 1..N without a gap.

The kill points are randomised: the seed is printed (``EXECX_TEST_SEED=<seed>`` replays it).
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import nats
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx_server.fleet.dropcopy import STREAM, SUBJECT_PREFIX
from fleet_helpers import (
    PROC_AUTH,
    ExecxProcess,
    NatsServer,
    RedisServer,
    consume,
    processes,
    start_process_session,
)
from market_helpers import uid
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from waiting import eventually

VENUE, SYMBOL = "binance-spot", "BTCUSDT"
WAIT_S = 30.0
FINAL = {c.ORDER_STATUS_FILLED, c.ORDER_STATUS_REJECTED, c.ORDER_STATUS_CANCELLED, c.ORDER_STATUS_EXPIRED}


class Trader:
    """One process's session and the client order ids it sent (to map the venue's trades to sessions)."""

    def __init__(self, proc: ExecxProcess, sid: str, bid: Decimal, ask: Decimal) -> None:
        self.proc, self.sid, self.bid, self.ask = proc, sid, bid, ask
        self.sent: set[str] = set()
        self.filled = 0
        self.killing = False  # set before the test kills the process: a failed call then means ``gone``

    async def fill(self, n: int) -> list[str]:
        """``n`` marketable orders one after the other (buy, sell, buy, …: the book keeps its depth), each
        until final: ``filled``, ``other`` (refused, …) or ``gone`` (the process died meanwhile)."""
        outcomes = []
        for i in range(n):
            outcomes.append(await self.one(buy=(len(self.sent) + i) % 2 == 0))
            if outcomes[-1] == "gone":
                break
        return outcomes

    async def one(self, buy: bool) -> str:
        p = self.proc
        assert p.om is not None
        cl = uid(f"{p.name}-")
        self.sent.add(cl)
        request = om.SendOrderRequest(
            session_id=self.sid,
            cl_order_id=cl,
            symbol=SYMBOL,
            price=float(self.ask * 2 if buy else self.bid / 2),
            qty=0.001,
            order_type=c.ORDER_TYPE_LIMIT,
            transaction_type=c.TRANSACTION_TYPE_INSERT,
            tif=c.TIME_IN_FORCE_GTC,
            side=c.SIDE_BUY if buy else c.SIDE_SELL,
        )
        try:
            status = (await p.om.SendOrder(request, metadata=PROC_AUTH, timeout=30.0)).order.order_status
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT_S
            while status not in FINAL and loop.time() < deadline:
                await asyncio.sleep(0.01)
                got = await p.om.GetOrder(
                    om.GetOrderRequest(session_id=self.sid, cl_order_id=cl), metadata=PROC_AUTH, timeout=10.0
                )
                status = got.order.order_status
        except grpc.aio.AioRpcError:
            if self.killing:
                return "gone"
            raise
        if status == c.ORDER_STATUS_FILLED:
            self.filled += 1
            return "filled"
        return "other"


def journal_last_seq(data_dir: Path, sid: str) -> int:
    """The session's last seq in the execx's journal (the source of truth), read-only beside the process."""
    with sqlite3.connect(f"file:{data_dir / 'journal.db'}?mode=ro", uri=True) as db:
        row = db.execute("SELECT MAX(seq) FROM events WHERE session_id = ?", (sid,)).fetchone()
    return int(row[0] or 0)


async def venue_trades(http: aiohttp.ClientSession, admin: str, acct: dict[str, Any]) -> list[dict[str, Any]]:
    """Every fill the simulated venue made for the account (its own history, not execx's)."""
    params = {"market": VENUE, "apiKey": acct["apiKey"]}
    async with http.get(f"{admin}/admin/history", params=params) as r:
        assert r.status == 200, await r.text()
        trades: list[dict[str, Any]] = (await r.json())["trades"]
    return trades


async def test_drop_copy_of_three_processes_across_nats_and_execx_kill_9(
    tmp_path: Path, simulator: Any, redis_server: RedisServer
) -> None:
    seed = int(os.environ.get("EXECX_TEST_SEED") or random.randrange(1 << 30))
    print(f"fleet drop copy: seed {seed} (EXECX_TEST_SEED={seed} replays it)")
    rng = random.Random(seed)
    admin = simulator.ready["admin"]
    nats_server = NatsServer(tmp_path / "nats", WAIT_S)
    await nats_server.start()
    async with aiohttp.ClientSession() as http:
        body = {"balances": {VENUE: {"USDT": 10_000_000, "BTC": 100}}}
        async with http.post(f"{admin}/admin/accounts", json=body) as r:
            acct = await r.json()
        async with http.post(f"{admin}/admin/ratelimits/{VENUE}", json={"ORDERS": 10_000}) as r:
            assert r.status == 200, await r.text()  # this test is about the drop copy, not the budget
        async with http.get(f"{admin}/admin/book", params={"market": VENUE, "symbol": SYMBOL}) as r:
            book = await r.json()
        bid, ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
        venue = simulator.ready["venues"][VENUE]
        nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        seen: list[dict[str, Any]] = []
        try:
            async with processes(tmp_path, redis_server.url, nats_server.url) as procs:
                sids = list(await asyncio.gather(*(start_process_session(p, acct, venue) for p in procs)))
                traders = [Trader(p, sid, bid, ask) for p, sid in zip(procs, sids, strict=True)]
                await asyncio.gather(*(t.fill(rng.randint(2, 4)) for t in traders))

                # a back-office consumer, durable, on every session's records from the start of the stream
                js = nc.jetstream()
                await eventually(lambda: stream_exists(js), "the drop copy's stream", WAIT_S, 0.05)
                config = ConsumerConfig(
                    durable_name="backoffice3",
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.EXPLICIT,
                    filter_subject=f"{SUBJECT_PREFIX}.>",
                )
                await js.add_consumer(STREAM, config)
                await consume(js, "backoffice3", seen)

                # nats-server kill -9 while all three fill, restarted on its store while they still fill
                before = sum(t.filled for t in traders)
                loads = [asyncio.ensure_future(t.fill(rng.randint(6, 8))) for t in traders]
                await eventually(lambda: sum(t.filled for t in traders) >= before + 3, "fills under way", WAIT_S)
                await nats_server.kill()
                during = sum(t.filled for t in traders)
                await eventually(lambda: sum(t.filled for t in traders) >= during + 3, "fills, NATS down", WAIT_S)
                await nats_server.start()
                outcomes = await asyncio.gather(*loads)
                print(f"fleet drop copy: across the NATS restart {outcomes}")

                # proc2 kill -9 with its orders in flight; restarted on its data directory, session started again
                loads = [asyncio.ensure_future(t.fill(rng.randint(5, 7))) for t in traders]
                target = traders[2].filled + rng.randint(1, 3)
                await eventually(lambda: traders[2].filled >= target, "proc2 filling", WAIT_S, 0.002)
                traders[2].killing = True
                await procs[2].kill(keep_channel=True)
                outcomes = await asyncio.gather(*loads)
                await procs[2].close_channel()
                print(f"fleet drop copy: proc2 kill -9 after {target} fills; {outcomes}")
                assert outcomes[2][-1] == "gone" or len(outcomes[2]) > 0
                # the worst case of a kill -9: before the drop copy persisted any acknowledged seq; the restarted
                # execx publishes all its records again, and JetStream drops each as a duplicate (its msg id)
                (procs[2].data / "dropcopy_acks.json").unlink(missing_ok=True)
                await procs[2].start()
                traders[2].killing = False
                await start_process_session(procs[2], acct, venue, sids[2])
                await asyncio.gather(*(t.fill(rng.randint(2, 3)) for t in traders))

                # every fill the venue made, mapped to its session by client order id
                trades = await venue_trades(http, admin, acct)
                session_of = {cl: t.sid for t in traders for cl in t.sent}
                expected: dict[str, set[str]] = {sid: set() for sid in sids}
                for trade in trades:
                    expected[session_of[trade["clientOrderId"]]].add(trade["tradeId"])
                assert len(trades) == len({t["tradeId"] for t in trades})
                last = {sid: journal_last_seq(p.data, sid) for p, sid in zip(procs, sids, strict=True)}

                def fills_of(sid: str) -> list[str]:
                    return [
                        m["event"]["tradeId"]
                        for m in seen
                        if m["session"] == sid and m["kind"] == "order" and Decimal(m["event"]["executedQty"]) > 0
                    ]

                async def everything() -> bool:
                    try:
                        await consume(js, "backoffice3", seen)
                    except nats.errors.Error:  # the consumer's connection not back yet: again
                        return False
                    return all(
                        set(fills_of(sid)) >= expected[sid]
                        and max((m["seq"] for m in seen if m["session"] == sid), default=0) >= last[sid]
                        for sid in sids
                    )

                await eventually(everything, "every fill and record in the drop copy", WAIT_S, 0.1)
                await consume(js, "backoffice3", seen)  # anything published twice would be here by now
        finally:
            await nc.close()
            await nats_server.kill()

    print(
        f"fleet drop copy: {len(trades)} venue fills "
        f"({', '.join(str(len(expected[s])) for s in sids)} per session), {len(seen)} records received"
    )
    assert all(len(expected[sid]) >= 5 for sid in sids), expected
    for sid in sids:
        ids = fills_of(sid)
        assert len(ids) == len(set(ids)), f"a fill of {sid} delivered twice"
        assert set(ids) == expected[sid], (sid, sorted(set(ids) ^ expected[sid]))
        seqs = sorted(m["seq"] for m in seen if m["session"] == sid)
        assert seqs == list(range(1, len(seqs) + 1)), f"a record of {sid} missing or twice"
    all_ids = [m["id"] for m in seen]
    assert len(all_ids) == len(set(all_ids)), "a journal record delivered twice"
    assert all(m["id"] == f"{m['session']}:{m['seq']}" for m in seen)
    trade_ids = [tid for sid in sids for tid in fills_of(sid)]
    assert len(trade_ids) == len(set(trade_ids)) == len(trades)


async def stream_exists(js: Any) -> bool:
    try:
        await js.stream_info(STREAM)
    except Exception:  # not created yet
        return False
    return True
