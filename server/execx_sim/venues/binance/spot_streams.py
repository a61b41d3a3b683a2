"""Binance spot market streams (``stream.binance.com``): raw ``/ws/<stream>`` and combined
``/stream?streams=a/b`` connections, live ``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` /
``SET_PROPERTY`` / ``GET_PROPERTY`` frames (binance-spot-api-docs ``web-socket-streams.md``).

Streams: ``<symbol>@bookTicker`` (spot shape ``u,s,b,B,a,A``, no event type or time),
``<symbol>@trade``, ``<symbol>@aggTrade`` (``m`` = buyer is maker, i.e. the taker sold), the
partial book ``<symbol>@depth<5|10|20>[@100ms]`` and the diff stream ``<symbol>@depth[@100ms]``
(``depthUpdate`` with ``U``/``u``), pushed every 1000 ms (or 100 ms).

Order book update ids: one sequence per symbol, ``update_id(symbol)``, shared by REST ``depth``
(``lastUpdateId``), the partial and diff depth streams and ``bookTicker`` (``u``). It advances on
every book change (a resting order added or removed, a level partly filled), so a client that
buffers ``depthUpdate`` events and applies them to a REST snapshot as the docs describe (drop
``u <= lastUpdateId``, then ``U <= lastUpdateId + 1 <= u``, then contiguous) stays in sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from ...core.engine import Exchange, Market
from ...core.faults import Faults
from ...core.types import ZERO, BookTop, OrderEvent, PublicTrade, Side
from ..common import StreamWriter, WsRegistry, dumps, loads
from .marketdata import PeriodicStreams
from .spot_wire import d8

HEARTBEAT_S = 20.0  # ping frame every 20 s, like the WS API (see spot_ws.HEARTBEAT_S)
MAX_STREAMS = 1024
STREAM_RE = re.compile(r"^([a-z0-9]+)@(bookTicker|trade|aggTrade|depth(5|10|20)?(@100ms|@1000ms)?)$")
MAX_DIFF_LEVELS = 5000


@dataclass(eq=False)
class DiffState:
    """What a diff-depth stream last told its subscribers about one book."""

    symbol: str
    fast: bool  # @100ms (else every 1000 ms)
    update_id: int
    bids: dict[Decimal, Decimal]
    asks: dict[Decimal, Decimal]
    touched: set[tuple[Side, Decimal]] = field(default_factory=set)  # levels orders moved through since


@dataclass(eq=False)
class StreamConn:
    ws: web.WebSocketResponse
    writer: StreamWriter
    combined: bool
    generation: int
    streams: set[str] = field(default_factory=set)


class SpotStreams:
    def __init__(
        self,
        exchange: Exchange,
        market: Market,
        faults: Faults,
        sockets: WsRegistry,
        periodic: PeriodicStreams | None = None,
    ) -> None:
        self.exchange = exchange
        self.periodic = periodic  # @ticker, @miniTicker, !ticker@arr, @kline_<i> (marketdata.py)
        self.market = market
        self.faults = faults
        self.sockets = sockets
        self.conns: set[StreamConn] = set()
        self.by_stream: dict[str, set[StreamConn]] = {}
        self._tick = 0
        self._symbols = {s.lower(): s for s in market.instruments}
        self._trades: dict[str, int] = dict.fromkeys(market.instruments, 0)
        self._diffs: dict[str, DiffState] = {}  # diff-depth stream name -> state
        self.app = web.Application()
        self.app.router.add_get("/ws", self.handle)
        self.app.router.add_get("/ws/{streams:.*}", self.handle)
        self.app.router.add_get("/stream", self.handle)

    # ------------------------------------------------------------------ connection

    async def handle(self, request: web.Request) -> web.StreamResponse:
        combined = request.path.startswith("/stream")
        names = request.query.get("streams", "") if combined else request.match_info.get("streams", "")
        # Names in the URL that are not streams of this venue are accepted and carry nothing (clients
        # such as ccxt connect to ``/ws/<n>`` and subscribe with frames afterwards).
        initial = [n for n in names.split("/") if n and self.valid(n)]
        if len(initial) > MAX_STREAMS:
            return web.Response(
                status=400,
                text=dumps({"code": -1, "msg": "Too many streams requested."}),
                content_type="application/json",
            )
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, autoping=True)
        await ws.prepare(request)
        conn = StreamConn(ws, StreamWriter(ws, self.faults), combined, self.faults.drop_generation)
        self.conns.add(conn)
        self.sockets.add(ws)
        for name in initial:
            self._add(conn, name)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(conn.writer.drain())
                async for msg in ws:
                    if msg.type is WSMsgType.TEXT:
                        self._control(conn, msg.data)
                conn.writer.close()
        finally:
            self._drop(conn)
        return ws

    def valid(self, name: str) -> bool:
        m = STREAM_RE.match(name)
        if self.periodic is not None and self.periodic.valid(name):
            return True
        return m is not None and m.group(1) in self._symbols

    def update_id(self, symbol: str) -> int:
        """The order book update id of ``symbol`` (see the module docstring)."""
        return self.market.books[symbol].update_id + self._trades[symbol]

    def _levels(self, symbol: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        bids, asks = self.market.books[symbol].depth(MAX_DIFF_LEVELS)
        return dict(bids), dict(asks)

    def _add(self, conn: StreamConn, name: str) -> None:
        conn.streams.add(name)
        self.by_stream.setdefault(name, set()).add(conn)
        m = STREAM_RE.match(name)
        if m is not None and m.group(2).startswith("depth") and m.group(3) is None and name not in self._diffs:
            symbol = self._symbols[m.group(1)]
            bids, asks = self._levels(symbol)
            self._diffs[name] = DiffState(symbol, m.group(4) == "@100ms", self.update_id(symbol), bids, asks)

    def _remove(self, conn: StreamConn, name: str) -> None:
        conn.streams.discard(name)
        subs = self.by_stream.get(name)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self.by_stream[name]
                self._diffs.pop(name, None)

    def _drop(self, conn: StreamConn) -> None:
        for name in list(conn.streams):
            self._remove(conn, name)
        self.conns.discard(conn)
        self.sockets.discard(conn.ws)

    async def close_dropped(self) -> None:
        gen = self.faults.drop_generation
        for conn in [c for c in self.conns if c.generation < gen]:
            conn.generation = gen
            with contextlib.suppress(Exception):
                await conn.ws.close(message=b"dropped")

    # ------------------------------------------------------------------ control frames

    def _control(self, conn: StreamConn, text: str) -> None:
        try:
            frame = loads(text)
        except ValueError:
            conn.writer.send_json({"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}})
            return
        if not isinstance(frame, dict):
            conn.writer.send_json({"error": {"code": 3, "msg": "Invalid JSON: expected an object"}})
            return
        req_id = frame.get("id")
        if req_id is not None and (
            isinstance(req_id, bool) or not isinstance(req_id, int | str) or (isinstance(req_id, int) and req_id < 0)
        ):
            conn.writer.send_json(
                {"error": {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}, "id": None}
            )
            return
        method = frame.get("method")
        params = frame.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                conn.writer.send_json(
                    {
                        "error": {"code": 2, "msg": "Invalid request: params must be a list of stream names"},
                        "id": req_id,
                    }
                )
                return
            if method == "SUBSCRIBE":
                bad = [p for p in params if not self.valid(p)]
                if bad:
                    conn.writer.send_json(
                        {"error": {"code": 2, "msg": f"Invalid request: unknown stream '{bad[0]}'"}, "id": req_id}
                    )
                    return
                if len(conn.streams | set(params)) > MAX_STREAMS:
                    conn.writer.send_json(
                        {"error": {"code": 2, "msg": "Invalid request: too many streams"}, "id": req_id}
                    )
                    return
                for p in params:
                    self._add(conn, p)
            else:
                for p in params:
                    self._remove(conn, p)
            conn.writer.send_json({"result": None, "id": req_id})
        elif method == "LIST_SUBSCRIPTIONS":
            conn.writer.send_json({"result": sorted(conn.streams), "id": req_id})
        elif method == "SET_PROPERTY":
            if not isinstance(params, list) or len(params) != 2 or params[0] != "combined":
                conn.writer.send_json({"code": 0, "msg": "Unknown property", "id": req_id})
                return
            if not isinstance(params[1], bool):
                conn.writer.send_json({"code": 1, "msg": "Invalid value type: expected Boolean"})
                return
            conn.combined = params[1]
            conn.writer.send_json({"result": None, "id": req_id})
        elif method == "GET_PROPERTY":
            if not isinstance(params, list) or params != ["combined"]:
                conn.writer.send_json({"code": 0, "msg": "Unknown property", "id": req_id})
                return
            conn.writer.send_json({"result": conn.combined, "id": req_id})
        else:
            conn.writer.send_json(
                {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": req_id}
            )

    # ------------------------------------------------------------------ publishing

    def _publish(self, name: str, payload: str) -> None:
        subs = self.by_stream.get(name)
        if not subs:
            return
        wrapped = ""
        for conn in subs:
            if conn.combined:
                if not wrapped:
                    wrapped = f'{{"stream":"{name}","data":{payload}}}'
                conn.writer.send(wrapped)
            else:
                conn.writer.send(payload)

    def on_order(self, ev: OrderEvent) -> None:
        """Remember which price levels an order went through, for the diff-depth streams."""
        order = ev.order
        if order.price is None or not self._diffs:
            return
        for state in self._diffs.values():
            if state.symbol == order.symbol:
                state.touched.add((order.side, order.price))

    def on_book_top(self, ev: BookTop) -> None:
        name = ev.symbol.lower() + "@bookTicker"
        if name in self.by_stream:
            self._publish(
                name,
                dumps(
                    {
                        "u": self.update_id(ev.symbol),
                        "s": ev.symbol,
                        "b": d8(ev.bid),
                        "B": d8(ev.bid_qty),
                        "a": d8(ev.ask),
                        "A": d8(ev.ask_qty),
                    }
                ),
            )

    def on_trade(self, ev: PublicTrade) -> None:
        self._trades[ev.symbol] += 1
        low = ev.symbol.lower()
        buyer_maker = ev.taker_side is Side.SELL
        now = self.exchange.now_ms()
        name = low + "@trade"
        if name in self.by_stream:
            self._publish(
                name,
                dumps(
                    {
                        "e": "trade",
                        "E": now,
                        "s": ev.symbol,
                        "t": ev.trade_id,
                        "p": d8(ev.price),
                        "q": d8(ev.qty),
                        "T": ev.time_ms,
                        "m": buyer_maker,
                        "M": True,
                    }
                ),
            )
        name = low + "@aggTrade"
        if name in self.by_stream:
            self._publish(
                name,
                dumps(
                    {
                        "e": "aggTrade",
                        "E": now,
                        "s": ev.symbol,
                        "a": ev.trade_id,
                        "p": d8(ev.price),
                        "q": d8(ev.qty),
                        "f": ev.trade_id,
                        "l": ev.trade_id,
                        "T": ev.time_ms,
                        "m": buyer_maker,
                        "M": True,
                    }
                ),
            )

    def tick(self) -> None:
        """Called every 100 ms: push the depth snapshots and diffs that are due."""
        self._tick += 1
        every_second = self._tick % 10 == 0
        now = self.exchange.now_ms()
        if every_second and self.periodic is not None:
            for name in list(self.by_stream):
                periodic = self.periodic.payload(name, now)
                if periodic is not None:
                    self._publish(name, dumps(periodic))
        for name in list(self.by_stream):
            m = STREAM_RE.match(name)
            if m is None or not m.group(2).startswith("depth"):
                continue
            if m.group(4) != "@100ms" and not every_second:
                continue
            symbol = self._symbols[m.group(1)]
            if m.group(3) is None:
                self._push_diff(name, now)
                continue
            bids, asks = self.market.books[symbol].depth(int(m.group(3)))
            payload: dict[str, Any] = {
                "lastUpdateId": self.update_id(symbol),
                "bids": [[d8(p), d8(q)] for p, q in bids],
                "asks": [[d8(p), d8(q)] for p, q in asks],
            }
            self._publish(name, dumps(payload))

    def _push_diff(self, name: str, now: int) -> None:
        state = self._diffs.get(name)
        if state is None:
            return
        update_id = self.update_id(state.symbol)
        if update_id == state.update_id:
            return
        bids, asks = self._levels(state.symbol)
        out: dict[str, list[list[str]]] = {}
        for key, side, old, new, descending in (
            ("b", Side.BUY, state.bids, bids, True),
            ("a", Side.SELL, state.asks, asks, False),
        ):
            changed = {p for p in old.keys() | new.keys() if old.get(p) != new.get(p)}
            changed.update(p for s, p in state.touched if s is side)
            out[key] = [[d8(p), d8(new.get(p, ZERO))] for p in sorted(changed, reverse=descending)]
        payload = {
            "e": "depthUpdate",
            "E": now,
            "s": state.symbol,
            "U": state.update_id + 1,
            "u": update_id,
            "b": out["b"],
            "a": out["a"],
        }
        state.update_id, state.bids, state.asks = update_id, bids, asks
        state.touched.clear()
        self._publish(name, dumps(payload))
