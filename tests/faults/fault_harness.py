"""The fault matrix harness: ``execx-sim`` and ``execx`` as two processes (so the venue outlives execx), a
seeded burst of mixed orders over gRPC (OrderEntry + SubscribeUpdates), kill -9 of execx at seeded points,
restart on the same data dir, resume from the last seq seen, resend the unanswered inserts, then the
invariants checked against the simulator's own order and trade history (``GET /admin/history``).

Everything random comes from one ``random.Random(seed)``; every run prints ``seed=…`` and the command that
replays it. Process timing is not seeded, so a replay repeats the same orders and kill points, not the
same interleaving to the microsecond.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from execx.v1 import common_pb2 as c
from execx.v1 import options_pb2 as opts
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY = "fault-matrix-key"
AUTH = (("x-api-key", KEY),)
D = Decimal

PENDING = {c.ORDER_STATUS_PENDING_NEW, c.ORDER_STATUS_PENDING_UPDATE, c.ORDER_STATUS_PENDING_CANCEL}
OPEN = {c.ORDER_STATUS_NEW, c.ORDER_STATUS_PARTIALLY_FILLED}
STATUS_NAME = {v.number: v.GetOptions().Extensions[opts.json_value] or v.name for v in c.OrderStatus.DESCRIPTOR.values}
# The simulator's engine status -> the execx statuses that say the same thing. A venue's wire may call an
# expired IOC remainder "Cancelled" (Bybit, OKX, Deribit), so cancelled and expired are one class.
VENUE_STATUS = {
    "NEW": {c.ORDER_STATUS_NEW},
    "PARTIALLY_FILLED": {c.ORDER_STATUS_PARTIALLY_FILLED},
    "FILLED": {c.ORDER_STATUS_FILLED},
    "CANCELED": {c.ORDER_STATUS_CANCELLED, c.ORDER_STATUS_EXPIRED},
    "EXPIRED": {c.ORDER_STATUS_CANCELLED, c.ORDER_STATUS_EXPIRED},
}
INVARIANTS = (
    "lost_fill",  # (a) a venue trade of the account never arrived as a fill update
    "duplicate_fill",  # (b) one trade id reported twice
    "phantom_fill",  # (b) a fill update the venue has no trade for
    "placed_twice",  # (c) one clOrderId placed more than once on the venue
    "left_pending",  # (d) an order still pendingnew / pendingupdate / pendingcancel at the end
    "status_mismatch",  # (e) execx's final status or filled quantity differs from the venue's
    "seq_reused",  # (f) one seq number with two different contents (live vs live, or live vs replay)
    "seq_gap",  # (f) an order update the fromSeq=1 replay has below the last seq seen, never streamed live
    "resend_refused",  # the same insert resent after a restart was not answered with the existing order
    "answered_twice",  # one OrderEntry requestId answered more than once (batched or not)
    "answer_mismatch",  # an answer for a requestId never sent, or carrying another order's clOrderId
)
BATCHES = (0, 8, 32)  # OrderEntry requests per message a run sends at most (0: one per message, no batch)


@dataclass(frozen=True)
class Family:
    venue: str
    symbol: str
    exchange: int
    tick: Decimal
    qty: Decimal  # one unit of order size, in execx's quantity (contracts where the venue counts them)
    venue_qty: Decimal  # the simulator engine's quantity per unit of execx quantity (OKX swap: 0.01 BTC)


FAMILIES: dict[str, Family] = {
    f.venue: f
    for f in (
        Family("binance-spot", "BTCUSDT", c.EXCHANGE_BINANCE_SPOT, D("0.01"), D("0.001"), D(1)),
        Family("binance-usdm-future", "BTCUSDT", c.EXCHANGE_BINANCE_USDM_FUTURE, D("0.1"), D("0.002"), D(1)),
        Family("bybit-linear", "BTCUSDT", c.EXCHANGE_BYBIT_LINEAR, D("0.1"), D("0.001"), D(1)),
        Family("okx", "BTC-USDT-SWAP", c.EXCHANGE_OKX, D("0.1"), D("1"), D("0.01")),
        Family("deribit", "BTC-PERPETUAL", c.EXCHANGE_DERIBIT, D("0.5"), D("1"), D(1)),
        Family("pulse", "BTC_USD-PERPETUAL", c.EXCHANGE_PULSE, D("0.5"), D("0.001"), D(1)),
    )
}


def order_batch_of(seed: int) -> int:
    """A run's OrderEntry batching (one of ``BATCHES``): ``EXECX_FAULT_BATCH`` forces it, else chosen from the
    seed by a random source of its own (the run's orders, kill points and faults stay those of its seed)."""
    forced = os.environ.get("EXECX_FAULT_BATCH")
    return int(forced) if forced else random.Random(seed ^ 0xBA7C4).choice(BATCHES)


def replay_command(seed: int, nodeid: str, kills: int = 1, orders: int = 200, batch: int | None = None) -> str:
    """The command that replays one run: the seed, and the knobs that shape its plan."""
    knobs = f"EXECX_FAULT_SEED={seed} EXECX_FAULT_KILLS={kills} EXECX_FAULT_KILLS_PER_RUN={kills}"
    knobs += f" EXECX_FAULT_BATCH={order_batch_of(seed) if batch is None else batch}"
    return f"{knobs} EXECX_FAULT_ORDERS={orders} .venv/bin/python -m pytest -q -s '{nodeid}'"


# ------------------------------------------------------------------------------------------- processes


def _read_line(proc: subprocess.Popen[bytes], within_s: float) -> bytes:
    assert proc.stdout is not None
    out = b""
    deadline = time.monotonic() + within_s
    while b"\n" not in out:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([proc.stdout], [], [], remaining)[0]:
            break
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        out += chunk
    return out


def _env() -> dict[str, str]:
    paths = [str(ROOT / "server"), str(ROOT / "clients" / "python")]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _terminate(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


class SimProcess:
    """``execx-sim --quiet`` as its own process, on a chosen base port so a restart gets the same ports
    (the simulator keeps no state across a restart: a restarted venue has forgotten everything)."""

    def __init__(self, workdir: Path, seed: int) -> None:
        self.workdir = workdir
        self.seed = seed
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] = {}
        self.base_port = 0

    def start(self) -> dict[str, Any]:
        rng = random.Random(self.seed ^ 0x5EED)
        for _ in range(20):
            base = self.base_port or rng.randrange(20_000, 55_000, 50)
            if self._spawn(base):
                self.base_port = base
                return self.ready
            if self.base_port:  # a restart must get its ports back: the old socket may linger briefly
                time.sleep(0.2)
        raise AssertionError(f"execx-sim did not start: {(self.workdir / 'sim.log').read_text()[-2000:]}")

    def _spawn(self, base: int) -> bool:
        argv = [str(BIN / "execx-sim"), "--quiet", "--seed", str(self.seed % 2**31), "--base-port", str(base)]
        with (self.workdir / "sim.log").open("ab") as log:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=_env(), cwd=self.workdir)
        line = _read_line(proc, 30.0)
        if b"\n" not in line:
            _terminate(proc)
            return False
        self.proc = proc
        self.ready = json.loads(line.splitlines()[0])
        return True

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.proc = None

    def stop(self) -> None:
        _terminate(self.proc)
        self.proc = None


class ExecxProcess:
    """``execx --key K --dataDir D`` on ephemeral ports as its own process; ``kill()`` is kill -9."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] = {}
        self.starts = 0

    def start(self) -> dict[str, Any]:
        argv = [str(BIN / "execx"), "--key", KEY, "--dataDir", str(self.data)]
        argv += ["--port", "0", "--grpcPort", "0", "--promPort", "0"]
        self.starts += 1
        with (self.data.parent / "execx.log").open("ab") as log:
            log.write(f"\n===== start {self.starts} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=_env(), cwd=self.data.parent)
        line = _read_line(self.proc, 60.0)
        assert b"\n" in line, (
            f"execx did not get ready (exit {self.proc.poll()}): "
            f"{(self.data.parent / 'execx.log').read_text(errors='replace')[-3000:]}"
        )
        self.ready = json.loads(line.splitlines()[0])
        assert self.ready["event"] == "ready"
        return self.ready

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no drain, no journal flush
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.proc = None

    def stop(self) -> None:
        _terminate(self.proc)
        self.proc = None


# ------------------------------------------------------------------------------------------- the client


@dataclass
class Sent:
    """One order request as the client sent it, and what came back."""

    index: int
    request: om.SendOrderRequest
    answer: om.OrderEntryResponse | None = None
    resent: int = 0


@dataclass
class Book:
    """What the client believes about one of its orders (from answers and updates)."""

    cl: str
    side: int
    resting: bool
    price: Decimal | None
    qty: Decimal
    status: int = c.ORDER_STATUS_PENDING_NEW
    updates_sent: int = 0


@dataclass
class RunResult:
    venue: str
    scenario: str
    seed: int
    order_batch: int = 0
    orders: int = 0
    fills_checked: int = 0
    kills: int = 0
    restarts: int = 0
    violations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    notes: list[str] = field(default_factory=list)

    def count(self) -> dict[str, int]:
        return {k: len(self.violations.get(k, [])) for k in INVARIANTS}

    def failure_text(self, nodeid: str) -> str:
        lines = [
            f"{self.venue} {self.scenario}: invariants violated (seed={self.seed}, order_batch={self.order_batch}; "
            f"replay: {replay_command(self.seed, nodeid, max(1, self.kills), self.orders, self.order_batch)})"
        ]
        for name in INVARIANTS:
            items = self.violations.get(name, [])
            if items:
                shown = "; ".join(items[:8]) + (f"; … {len(items) - 8} more" if len(items) > 8 else "")
                lines.append(f"  {name} x{len(items)}: {shown}")
        lines += [f"  note: {n}" for n in self.notes[:10]]
        return "\n".join(lines)


class Client:
    """The strategy side: one gRPC channel to execx, an OrderEntry stream, a SubscribeUpdates stream that
    records every update by seq."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        self.channel: grpc.aio.Channel | None = None
        self.stub: om_grpc.OrderManagerServiceStub | None = None
        self.entry: Any = None
        self.updates_task: asyncio.Task[None] | None = None
        self.answers_task: asyncio.Task[None] | None = None
        self.seen: dict[int, bytes] = {}  # seq -> serialized OrderTransaction, as first seen live
        self.by_seq: dict[int, c.OrderTransaction] = {}
        self.last_seq = 0
        self.waiting: dict[int, Sent] = {}  # request id -> request without an answer yet
        self.sent_ids: dict[int, Sent] = {}  # every request id ever written (ids are not reused across restarts)
        self.answered_ids: set[int] = set()
        self.messages = 0  # OrderEntry messages written
        self.batched = 0  # requests written inside a message's batch
        self.answered = asyncio.Event()
        self.books: dict[str, Book] = {}
        self.update_count = 0

    async def connect(self, grpc_addr: str, session_id: str, start: om.StartOrderHandlerRequest) -> None:
        self.channel = grpc.aio.insecure_channel(grpc_addr)
        self.stub = om_grpc.OrderManagerServiceStub(self.channel)
        await self.stub.StartOrderHandler(start, metadata=AUTH, timeout=60)
        stream = self.stub.SubscribeUpdates(
            om.SubscribeUpdatesRequest(session_id=session_id, from_seq=self.last_seq + 1), metadata=AUTH
        )
        self.updates_task = asyncio.create_task(self._read_updates(stream, self.last_seq + 1))
        self.entry = self.stub.OrderEntry(metadata=AUTH)
        self.answers_task = asyncio.create_task(self._read_answers(self.entry))

    async def _read_updates(self, stream: Any, first: int) -> None:
        expect = first
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
            async for msg in stream:
                t = msg.transaction
                blob = t.SerializeToString(deterministic=True)
                if t.seq < expect:  # seqs skip position records, but never go back
                    self.result.violations["seq_reused"].append(f"stream went back: seq {t.seq} after {expect - 1}")
                expect = t.seq + 1
                old = self.seen.get(t.seq)
                if old is not None and old != blob:
                    self.result.violations["seq_reused"].append(
                        f"seq {t.seq}: live {_brief(self.by_seq[t.seq])} then live {_brief(t)}"
                    )
                    continue
                self.seen[t.seq] = blob
                self.by_seq[t.seq] = t
                self.last_seq = max(self.last_seq, t.seq)
                self.update_count += 1
                book = self.books.get(t.cl_order_id)
                if book is not None and t.order_status:
                    book.status = t.order_status

    async def _read_answers(self, call: Any) -> None:
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
            async for msg in call:
                for answer in msg.batch if len(msg.batch) else (msg,):  # several answers in one (maxBatch)
                    self._answer(answer)
                self.answered.set()

    def _answer(self, answer: om.OrderEntryResponse) -> None:
        v = self.result.violations
        rid = answer.request_id
        of = self.sent_ids.get(rid)
        if of is None:
            v["answer_mismatch"].append(f"an answer for requestId {rid}, never sent ({_brief(answer.order)})")
            return
        if rid in self.answered_ids:
            v["answered_twice"].append(
                f"requestId {rid} ({of.request.cl_order_id}) answered again: {_brief(answer.order)}"
            )
            return
        self.answered_ids.add(rid)
        if answer.order.cl_order_id and answer.order.cl_order_id != of.request.cl_order_id:
            v["answer_mismatch"].append(
                f"requestId {rid} sent for {of.request.cl_order_id}, answered with {_brief(answer.order)}"
            )
        sent = self.waiting.pop(rid, None)
        if sent is not None:
            sent.answer = answer
            book = self.books.get(sent.request.cl_order_id)
            if book is not None and answer.status.code == 0 and answer.order.order_status:
                book.status = answer.order.order_status

    async def send(self, sent: Sent, request_id: int) -> None:
        await self.send_message([(sent, request_id)], 0, outer=True)

    async def send_message(self, items: list[tuple[Sent, int]], max_batch: int, outer: bool) -> None:
        """One OrderEntry message: a lone request, or (more than one) the first as the message's own order when
        ``outer`` and the rest in its ``batch``; ``max_batch`` asks for the answers batched the same way."""
        for sent, rid in items:
            self.waiting[rid] = self.sent_ids[rid] = sent
        if len(items) == 1:
            (sent, rid), rest = items[0], []
            msg = om.OrderEntryRequest(request_id=rid, order=sent.request, max_batch=max_batch)
        elif outer:
            (sent, rid), rest = items[0], items[1:]
            msg = om.OrderEntryRequest(request_id=rid, order=sent.request, max_batch=max_batch)
        else:
            rest = items
            msg = om.OrderEntryRequest(max_batch=max_batch)
        msg.batch.extend(om.OrderEntryRequest(request_id=rid, order=sent.request) for sent, rid in rest)
        self.messages += 1
        self.batched += len(rest)
        await self.entry.write(msg)

    async def wait_in_flight(self, at_most: int, within_s: float) -> None:
        deadline = time.monotonic() + within_s
        while len(self.waiting) > at_most:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self.waiting)} order requests unanswered after {within_s} s")
            self.answered.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.answered.wait(), remaining)

    async def close(self) -> None:
        for task in (self.updates_task, self.answers_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.channel is not None:
            await self.channel.close(grace=None)
        self.channel = self.stub = self.entry = None


def _brief(t: c.OrderTransaction) -> str:
    return (
        f"[{t.cl_order_id} {STATUS_NAME.get(t.order_status, t.order_status)} tx={t.transaction_type}"
        f" trade={t.trade_id or '-'} cum={t.cumulative_filled_qty}]"
    )


# ------------------------------------------------------------------------------------------- the run


@dataclass
class Plan:
    """A run: its family, scenario, seed, burst size and kill points (action indexes)."""

    family: Family
    scenario: str  # "kill" or a fault name
    seed: int
    orders: int = 200
    kills: int = 1
    settle_s: float = 40.0
    # OrderEntry requests per message at most (0: one per message, as a strategy without batching sends them);
    # above 0 each message carries 1 to this many (drawn from the seed), maxBatch asks for batched answers,
    # and the inserts resent after a restart go batched too
    order_batch: int = 0


class Run:
    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan = plan
        self.family = plan.family
        self.rng = random.Random(plan.seed)
        self.workdir = workdir
        self.result = RunResult(plan.family.venue, plan.scenario, plan.seed, plan.order_batch)
        # the messages' sizes from a source of their own: a run's orders and kill points are its seed's either way
        self.batch_rng = random.Random(plan.seed ^ 0xBA7C4)
        self.sim = SimProcess(workdir, plan.seed)
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        self.execx = ExecxProcess(workdir / "data")
        self.client = Client(self.result)
        self.http: aiohttp.ClientSession | None = None
        self.session_id = f"fault{plan.seed % 10**9}"
        self.account: dict[str, Any] = {}
        self.sent: list[Sent] = []
        self.request_ids = iter(range(1, 10**9))
        self.history_before_restart: dict[str, Any] | None = None
        self.trade_prints = 0

    # -------------------------------------------------------------- admin

    async def admin(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        assert self.http is not None
        url = self.sim.ready["admin"] + path
        async with self.http.request(method, url, json=body, params=params) as r:
            data = await r.json()
            assert r.status == 200, f"{method} {path}: {r.status} {data}"
            return data

    async def history(self) -> dict[str, Any]:
        params = {"apiKey": self.account["apiKey"], "market": self.family.venue}
        data: dict[str, Any] = await self.admin("GET", "/admin/history", params=params)
        return data

    def start_request(self) -> om.StartOrderHandlerRequest:
        venue = self.sim.ready["venues"][self.family.venue]
        return om.StartOrderHandlerRequest(
            session_id=self.session_id,
            exchange_key=c.ExchangeKey(
                api_key=self.account["apiKey"],
                secret_key=self.account["secretKey"],
                passphrase=self.account.get("passphrase", ""),
                exchange=self.family.exchange,
            ),
            rest_url=venue["rest"],
            ws_url=json.dumps(venue),
        )

    # -------------------------------------------------------------- prices

    async def load_prices(self) -> None:
        book = await self.admin(
            "GET", "/admin/book", params={"market": self.family.venue, "symbol": self.family.symbol}
        )
        self.bid = D(book["bids"][0][0])
        self.ask = D(book["asks"][0][0])
        self.tick = self.family.tick
        spread_ticks = int((self.ask - self.bid) / self.tick)
        self.grid = max(2, int(spread_ticks * 0.4))  # resting prices: this many ticks inside each touch
        assert spread_ticks > 4, f"spread too narrow to rest inside it: {self.bid} / {self.ask}"

    def resting_price(self, side: int) -> Decimal:
        k = self.rng.randint(1, self.grid)
        return self.bid + k * self.tick if side == c.SIDE_BUY else self.ask - k * self.tick

    def marketable_price(self, side: int) -> Decimal:
        k = self.rng.randint(2, 10)
        return self.ask + k * self.tick if side == c.SIDE_BUY else self.bid - k * self.tick

    # -------------------------------------------------------------- actions

    def next_action(self, i: int) -> om.SendOrderRequest | tuple[str, Any]:
        rng, fam = self.rng, self.family
        open_resting = sorted(
            cl
            for cl, b in self.client.books.items()
            if b.resting and b.status in OPEN | {c.ORDER_STATUS_PENDING_UPDATE}
        )
        roll = rng.random()
        if open_resting and roll < 0.10:
            book = self.client.books[rng.choice(open_resting)]
            return ("trade", book)
        if open_resting and roll < 0.27:
            book = self.client.books[rng.choice(open_resting)]
            price = self.resting_price(book.side)
            qty = book.qty + (fam.qty if rng.random() < 0.3 else 0)
            book.updates_sent += 1
            book.price, book.qty = price, qty
            return om.SendOrderRequest(
                cl_order_id=book.cl,
                symbol=fam.symbol,
                session_id=self.session_id,
                price=float(price),
                qty=float(qty),
                transaction_type=c.TRANSACTION_TYPE_UPDATE,
            )
        if open_resting and roll < 0.40:
            book = self.client.books[rng.choice(open_resting)]
            return om.SendOrderRequest(
                cl_order_id=book.cl,
                symbol=fam.symbol,
                session_id=self.session_id,
                transaction_type=c.TRANSACTION_TYPE_DELETE,
            )
        side = rng.choice((c.SIDE_BUY, c.SIDE_SELL))
        qty = fam.qty * rng.randint(1, 3)
        kind = rng.random()
        cl = f"f{self.plan.seed % 10**6}n{i}"
        req = om.SendOrderRequest(
            cl_order_id=cl,
            symbol=fam.symbol,
            session_id=self.session_id,
            qty=float(qty),
            transaction_type=c.TRANSACTION_TYPE_INSERT,
            side=side,
        )
        if kind < 0.50:  # resting limit
            price = self.resting_price(side)
            req.price, req.order_type, req.tif = float(price), c.ORDER_TYPE_LIMIT, c.TIME_IN_FORCE_GTC
            self.client.books[cl] = Book(cl, side, True, price, qty)
        elif kind < 0.65:  # resting post-only
            price = self.resting_price(side)
            req.price, req.order_type, req.tif = float(price), c.ORDER_TYPE_POSTONLY, c.TIME_IN_FORCE_GTC
            self.client.books[cl] = Book(cl, side, True, price, qty)
        elif kind < 0.80:  # marketable limit
            price = self.marketable_price(side)
            req.price, req.order_type, req.tif = float(price), c.ORDER_TYPE_LIMIT, c.TIME_IN_FORCE_GTC
            self.client.books[cl] = Book(cl, side, False, price, qty)
        elif kind < 0.90:  # market
            req.order_type, req.tif = c.ORDER_TYPE_MARKET, c.TIME_IN_FORCE_IOC
            self.client.books[cl] = Book(cl, side, False, None, qty)
        else:  # IOC limit, marketable or not
            price = self.marketable_price(side) if rng.random() < 0.6 else self.resting_price(side)
            req.price, req.order_type, req.tif = float(price), c.ORDER_TYPE_LIMIT, c.TIME_IN_FORCE_IOC
            self.client.books[cl] = Book(cl, side, False, price, qty)
        return req

    async def print_trade(self, book: Book) -> None:
        """A trade printed at the order's price by the other side: fills it (whole or part) on the venue."""
        assert book.price is not None
        units = int(book.qty / self.family.qty)
        units = max(1, units // 2) if self.rng.random() < 0.35 else units
        qty = self.family.qty * units * self.family.venue_qty
        aggressor = "sell" if book.side == c.SIDE_BUY else "buy"
        body = {"market": self.family.venue, "symbol": self.family.symbol, "price": str(book.price)}
        await self.admin("POST", "/admin/market/trade", {**body, "qty": str(qty), "aggressor": aggressor})
        self.trade_prints += 1

    # -------------------------------------------------------------- the phases

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30), connector=aiohttp.TCPConnector(force_close=True)
        )
        self.sim.start()
        self.account = await self.admin("POST", "/admin/accounts", {})
        await self.load_prices()
        self.execx.start()
        await self.client.connect(self.execx.ready["grpc"], self.session_id, self.start_request())

    async def restart_execx(self) -> None:
        """kill -9, start again on the same data dir, StartOrderHandler with the same id and keys, resume
        the update stream from the last seq seen + 1, resend every insert that has no answer."""
        self.execx.kill()
        self.result.kills += 1
        await self.client.close()
        self.execx.start()
        self.result.restarts += 1
        await self.client.connect(self.execx.ready["grpc"], self.session_id, self.start_request())
        await self.resend_unanswered()

    async def resend_unanswered(self) -> None:
        lost = [s for s in self.sent if s.answer is None]
        self.client.waiting.clear()
        inserts = [s for s in lost if s.request.transaction_type == c.TRANSACTION_TYPE_INSERT]
        for s in inserts:
            s.resent += 1
        step = max(1, self.plan.order_batch)  # a batched run resends batched, as the client library does
        for k in range(0, len(inserts), step):
            await self.send_group(inserts[k : k + step])
        await self.client.wait_in_flight(0, 60.0)
        for s in lost:
            if s.resent and s.answer is not None and s.answer.status.code != 0:
                self.result.violations["resend_refused"].append(
                    f"{s.request.cl_order_id}: code {s.answer.status.code} {s.answer.status.message!r}"
                )

    async def restart_venue(self) -> None:
        """The venue process dies and comes back on the same ports, having forgotten everything; the same
        account (same keys) is created again. The history before the restart is kept for the checks."""
        # The venue dies after execx had the chance to hear about every fill (10 s): a fill report still
        # unsent when a venue process dies is lost by the venue, not by execx. What is still missing
        # after that is checked (lost_fill) like any other.
        deadline = time.monotonic() + 10
        while True:
            self.history_before_restart = await self.history()
            fills = {(t.cl_order_id, t.trade_id) for t in self.client.by_seq.values() if t.trade_id}
            trades = {(t["clientOrderId"], t["venueTradeId"]) for t in self.history_before_restart["trades"]}
            if trades <= fills or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)  # polling interval (deadline above)
        self.sim.kill()
        self.sim.start()
        await self.admin(
            "POST",
            "/admin/accounts",
            {k: self.account[k] for k in ("apiKey", "secretKey", "passphrase") if self.account.get(k)},
        )
        # A restarted simulator would number orders and trades from the start again; a real venue never
        # reuses an id, so the simulator is told to continue after the last ones it handed out.
        before = self.history_before_restart
        await self.admin(
            "POST",
            "/admin/ids",
            {
                "market": self.family.venue,
                "orderId": max((int(o["orderId"]) for o in before["orders"]), default=0),
                "tradeId": max((int(t["tradeId"]) for t in before["trades"]), default=0),
            },
        )

    async def inject(self, scenario: str) -> None:
        venue = self.family.venue
        if scenario == "venue_restart":
            await self.restart_venue()
        elif scenario == "drop":
            await self.admin("POST", f"/admin/faults/{venue}/drop")
        else:
            await self.admin("POST", f"/admin/faults/{venue}", FAULTS[scenario])

    async def clear_faults(self) -> None:
        await self.admin("DELETE", f"/admin/faults/{self.family.venue}")

    async def burst(self) -> None:
        plan = self.plan
        low = min(10, plan.orders - 1)
        kill_at = sorted(self.rng.sample(range(low, plan.orders), plan.kills)) if plan.scenario == "kill" else []
        fault_at = self.rng.randrange(low, max(low + 1, plan.orders // 2)) if plan.scenario != "kill" else -1
        clear_at = fault_at + 40
        window = 16
        i = 0
        injected = cleared = False
        group: list[Sent] = []  # the requests of the next OrderEntry message
        size = 1
        while i < plan.orders:
            # once each: a printed trade (below) repeats the loop at the same i
            if i == fault_at and not injected:
                injected = True
                await self.inject(plan.scenario)
            if i == clear_at and plan.scenario != "venue_restart" and not cleared:
                cleared = True
                await self.clear_faults()
            if not group and plan.order_batch:
                size = self.batch_rng.randint(1, plan.order_batch)
            action = self.next_action(i)
            if isinstance(action, tuple):
                await self.print_trade(action[1])
                continue
            sent = Sent(i, action)
            self.sent.append(sent)
            group.append(sent)
            i += 1
            kill = bool(kill_at) and i - 1 == kill_at[0]
            # a message ends at its size, at a kill point (the kill lands with it in flight), before a fault
            # is injected or cleared, and at the burst's end
            if len(group) < size and not kill and i not in (fault_at, clear_at) and i < plan.orders:
                continue
            await self.send_group(group)
            group = []
            if kill:
                kill_at.pop(0)
                if self.rng.random() < 0.5:  # sometimes let the loop run once: requests reach execx first
                    await asyncio.sleep(0)
                await self.restart_execx()
                continue
            await self.client.wait_in_flight(max(window, plan.order_batch), 60.0)
        await self.client.wait_in_flight(0, 90.0)
        if plan.scenario != "kill":
            await self.clear_faults()

    async def send_group(self, group: list[Sent]) -> None:
        """The requests in one OrderEntry message (batched runs), or each alone."""
        if not self.plan.order_batch:
            for sent in group:
                await self.client.send(sent, next(self.request_ids))
            return
        outer = self.batch_rng.random() < 0.5  # the first as the message's own order, or all in its batch
        await self.client.send_message([(s, next(self.request_ids)) for s in group], self.plan.order_batch, outer)

    async def settle(self) -> tuple[dict[str, Any], list[c.OrderTransaction]]:
        """Wait (deadline) until execx has no pending order and every venue trade has arrived as a fill
        update; return the venue's history and execx's orders as they are then (checked either way)."""
        assert self.client.stub is not None
        deadline = time.monotonic() + self.plan.settle_s
        while True:
            hist = await self.history()
            listed = await self.client.stub.ListOrders(om.ListOrdersRequest(session_id=self.session_id), metadata=AUTH)
            orders = list(listed.orders)
            fills = {(t.cl_order_id, t.trade_id) for t in self.client.by_seq.values() if t.trade_id}
            venue_fills = {(t["clientOrderId"], t["venueTradeId"]) for t in hist["trades"]}
            pending = [o for o in orders if o.order_status in PENDING]
            # an order execx calls open is open on the venue (a lost report is caught by execx's sweep)
            venue_open = {o["clientOrderId"] for o in hist["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED")}
            open_here = {o.cl_order_id for o in orders if o.order_status in OPEN}
            if (not pending and venue_fills <= fills and open_here <= venue_open) or time.monotonic() > deadline:
                # one more look at the venue: anything that happened while we listed
                return await self.history(), orders
            await asyncio.sleep(0.25)  # polling interval of the settle loop (not a wait for an event)

    # -------------------------------------------------------------- the invariants

    async def check(self, hist: dict[str, Any], orders: list[c.OrderTransaction]) -> None:
        res = self.result
        v = res.violations
        before = self.history_before_restart or {"orders": [], "trades": []}
        venue_trades = [(t, "before venue restart") for t in before["trades"]] + [(t, "") for t in hist["trades"]]
        venue_orders = before["orders"] + hist["orders"]
        fills = [t for t in self.client.by_seq.values() if t.trade_id]
        res.orders = len(self.sent)
        (self.workdir / "history.json").write_text(json.dumps({"before_restart": before, "final": hist}, indent=1))
        self.dump("live.jsonl", [self.client.by_seq[s] for s in sorted(self.client.by_seq)])
        self.dump("final_orders.jsonl", orders)
        res.fills_checked = len(venue_trades)
        # (a) every venue trade exactly once as a fill update; (b) no fill twice, none the venue lacks
        seen = Counter((t.cl_order_id, t.trade_id) for t in fills)
        for t, when in venue_trades:
            key = (t["clientOrderId"], t["venueTradeId"])
            if seen[key] == 0:
                v["lost_fill"].append(
                    f"tradeId {t['venueTradeId']} of {t['clientOrderId']} qty {t['qty']} @ {t['price']} {when}".strip()
                )
        venue_keys = {(t["clientOrderId"], t["venueTradeId"]) for t, _ in venue_trades}
        for key, n in seen.items():
            if n > 1:
                seqs = sorted(s for s, t in self.client.by_seq.items() if (t.cl_order_id, t.trade_id) == key)
                v["duplicate_fill"].append(f"tradeId {key[1]} of {key[0]} reported {n}x (seqs {seqs})")
            if key not in venue_keys:
                v["phantom_fill"].append(f"tradeId {key[1]} of {key[0]}: no such trade on the venue")
        # (c) no clOrderId placed twice (Binance spot's cancelReplace amend re-places under the same id)
        placed = Counter(o["clientOrderId"] for o in venue_orders)
        for cl, n in placed.items():
            book = self.client.books.get(cl)
            allowed = 1 + (book.updates_sent if book and self.family.venue == "binance-spot" else 0)
            live = [o for o in venue_orders if o["clientOrderId"] == cl and o["status"] in ("NEW", "PARTIALLY_FILLED")]
            if n > allowed or len(live) > 1:
                ids = [o["orderId"] for o in venue_orders if o["clientOrderId"] == cl]
                v["placed_twice"].append(f"{cl} placed {n}x on the venue (orders {ids}, {len(live)} live)")
        # (d) nothing pending
        by_cl = {o.cl_order_id: o for o in orders}
        latest_status = {o["clientOrderId"]: o["status"] for o in venue_orders}
        for o in orders:
            if o.order_status in PENDING:
                v["left_pending"].append(
                    f"{o.cl_order_id} {STATUS_NAME[o.order_status]} (exchOrderId {o.exch_order_id or '-'}; "
                    f"venue {latest_status.get(o.cl_order_id, 'never had it')}; {self.story(o.cl_order_id)})"
                )
        # (e) execx's final status and filled quantity equal the venue's
        latest: dict[str, dict[str, Any]] = {}
        for o in venue_orders:
            latest[o["clientOrderId"]] = o  # orders are listed oldest first
        venue_filled: dict[str, Decimal] = defaultdict(Decimal)
        for t, _ in venue_trades:
            venue_filled[t["clientOrderId"]] += D(t["qty"])
        forgotten = {o["clientOrderId"] for o in before["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED")}
        inserted = {s.request.cl_order_id for s in self.sent if s.request.transaction_type == c.TRANSACTION_TYPE_INSERT}
        for cl in sorted(inserted):
            mine = by_cl.get(cl)
            venue = latest.get(cl)
            if mine is None:
                if venue is not None:
                    v["status_mismatch"].append(f"{cl}: unknown to execx, venue has it {venue['status']}")
                continue
            got = mine.order_status
            if venue is None:
                if got != c.ORDER_STATUS_REJECTED and got not in PENDING:
                    v["status_mismatch"].append(f"{cl}: execx {STATUS_NAME[got]}, the venue never had it")
                continue
            if cl in forgotten and cl not in {o["clientOrderId"] for o in hist["orders"]}:
                continue  # open when the venue restarted and forgot it: no venue truth to compare with
            want = VENUE_STATUS.get(venue["status"], set())
            if got not in want and got not in PENDING:
                v["status_mismatch"].append(
                    f"{cl}: execx {STATUS_NAME[got]}, venue {venue['status']} {venue['expireReason']}".rstrip()
                    + f" ({self.story(cl)})"
                )
            mine_filled = D(repr(mine.cumulative_filled_qty)) * self.family.venue_qty
            if mine_filled != venue_filled.get(cl, D(0)):
                v["status_mismatch"].append(
                    f"{cl}: execx filled {mine.cumulative_filled_qty}, venue trades sum "
                    f"{venue_filled.get(cl, D(0)) / self.family.venue_qty}"
                )
        # (f) a seq seen before a kill means the same thing after: replay from 1 and compare
        await self.check_replay()

    def story(self, cl: str) -> str:
        """The order's updates as the client saw them: status (transaction) and any message, in seq order."""
        steps = []
        for seq in sorted(self.client.by_seq):
            t = self.client.by_seq[seq]
            if t.cl_order_id == cl:
                tx = c.TransactionType.Name(t.transaction_type).removeprefix("TRANSACTION_TYPE_").lower()
                fill = f" fill {t.executed_qty}" if t.trade_id else ""
                note = f" {t.message!r}" if t.message else ""
                steps.append(f"{seq}:{STATUS_NAME.get(t.order_status, '?')}/{tx}{fill}{note}")
        return "seen: " + " > ".join(steps[-6:]) if steps else "no update seen"

    async def check_replay(self) -> None:
        assert self.client.stub is not None
        seen = dict(self.client.seen)  # what the client had seen when the checks began (the stream goes on)
        last = max(seen, default=0)
        stream = self.client.stub.SubscribeUpdates(
            om.SubscribeUpdatesRequest(session_id=self.session_id, from_seq=1), metadata=AUTH
        )
        replayed: dict[int, c.OrderTransaction] = {}
        deadline = time.monotonic() + 30
        try:
            while last and max(replayed, default=0) < last and time.monotonic() < deadline:
                msg = await asyncio.wait_for(stream.read(), deadline - time.monotonic())
                if msg is grpc.aio.EOF:
                    break
                replayed[msg.transaction.seq] = msg.transaction
        except TimeoutError:
            pass
        finally:
            stream.cancel()
        v = self.result.violations
        for seq, live in sorted(seen.items()):
            again = replayed.get(seq)
            if again is None:
                v["seq_reused"].append(f"seq {seq} seen live {_brief(self.client.by_seq[seq])}, absent from the replay")
            elif live != again.SerializeToString(deterministic=True):
                v["seq_reused"].append(f"seq {seq}: live {_brief(self.client.by_seq[seq])}, replay {_brief(again)}")
        for seq in sorted(set(replayed) - set(seen)):
            if seq <= last:
                v["seq_gap"].append(f"seq {seq} {_brief(replayed[seq])} in the replay, never streamed live")
        self.dump("replay.jsonl", [replayed[s] for s in sorted(replayed)])

    def dump(self, name: str, transactions: list[c.OrderTransaction]) -> None:
        from google.protobuf.json_format import MessageToDict

        with (self.workdir / name).open("w") as f:
            for t in transactions:
                f.write(json.dumps(MessageToDict(t)) + "\n")

    async def close(self) -> None:
        await self.client.close()
        self.execx.stop()
        self.sim.stop()
        if self.http is not None:
            await self.http.close()


FAULTS: dict[str, dict[str, Any]] = {
    "http_5xx": {"http_5xx": 5},
    "rate_limit": {"rate_limit": 5, "retry_after_s": 1},
    "ban": {"ban": 3, "retry_after_s": 1},
    "unknown_outcome": {"unknown_outcome": 5},
    "slow_ack": {"slow_ack_ms": 1500},
    "silent": {"silent_s": 4},
    "drop": {},
    "venue_restart": {},
}


SUMMARY: dict[str, dict[str, Any]] = {}  # family -> totals, printed by conftest at the end


def record(result: RunResult) -> None:
    s = SUMMARY.setdefault(
        result.venue,
        {"family": result.venue, "runs": 0, "kills": 0, "orders": 0, "fills_checked": 0, "failed_seeds": []}
        | {"violations": dict.fromkeys(INVARIANTS, 0), "by_scenario": {}, "runs_by_order_batch": {}},
    )
    s["runs"] += 1
    by_batch = s["runs_by_order_batch"]
    by_batch[str(result.order_batch)] = by_batch.get(str(result.order_batch), 0) + 1
    s["kills"] += result.kills
    s["orders"] += result.orders
    s["fills_checked"] += result.fills_checked
    counts = result.count()
    for k, n in counts.items():
        s["violations"][k] += n
    bad = {k: n for k, n in counts.items() if n}
    scen = s["by_scenario"].setdefault(result.scenario, {"runs": 0, "failed": 0})
    scen["runs"] += 1
    if bad or any(n.startswith("run aborted") for n in result.notes):
        scen["failed"] += 1
        s["failed_seeds"].append(
            {"scenario": result.scenario, "seed": result.seed, "order_batch": result.order_batch, **bad}
        )


async def run_plan(plan: Plan, workdir: Path) -> RunResult:
    """One run of the matrix: start both processes, burst (with kills or a fault), settle, check."""
    run = Run(plan, workdir)
    print(
        f"seed={plan.seed} venue={plan.family.venue} scenario={plan.scenario} order_batch={plan.order_batch} "
        f"workdir={workdir}",
        flush=True,
    )
    try:
        t0 = time.monotonic()
        await run.start()
        t1 = time.monotonic()
        await run.burst()
        t2 = time.monotonic()
        hist, orders = await run.settle()
        t3 = time.monotonic()
        await run.check(hist, orders)
        t4 = time.monotonic()
        print(
            f"seed={plan.seed} phases: start {t1 - t0:.1f}s burst {t2 - t1:.1f}s settle {t3 - t2:.1f}s "
            f"check {t4 - t3:.1f}s; {run.client.messages} OrderEntry messages ({run.client.batched} requests "
            f"inside a batch); {run.result.count()}",
            flush=True,
        )
    except Exception as e:
        run.result.notes.append(f"run aborted: {type(e).__name__}: {e}")
        raise
    finally:
        await run.close()
    return run.result
