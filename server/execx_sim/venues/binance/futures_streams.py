"""Binance futures market / user-data streams host (fstream / dstream).

Streams: legacy ``/ws/<stream>`` and ``/stream?streams=a/b`` plus the routed ``/public``, ``/market``
and ``/private`` prefixes (``/private/ws?listenKey=K&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE``).
A listen key works wherever a stream name does (``/ws/<listenKey>``, ``SUBSCRIBE [<listenKey>]`` as
the official SDK sends on ``/private/stream``). The simulator serves every stream on every route
(Binance restricts unrouted connections to ``/public`` streams; being lenient keeps old clients
working). Combined connections wrap payloads as ``{"stream", "data"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ...core.types import ZERO, BookTop, PublicTrade, Side
from ..common import StreamWriter, dumps, loads
from .futures_wire import fixed
from .marketdata import PeriodicStreams

if TYPE_CHECKING:
    from .futures_frontend import FuturesFrontend


class _Conn:
    """One stream connection: its writer, public streams (normalised -> as subscribed) and listen keys."""

    def __init__(self, writer: StreamWriter, combined: bool, generation: int) -> None:
        self.writer = writer
        self.combined = combined
        self.generation = generation
        self.streams: dict[str, str] = {}
        self.keys: dict[str, frozenset[str] | None] = {}  # listen key -> event filter (None = all)
        self.keys_in_url = False


def _norm(stream: str) -> str:
    return stream.lower()


class FuturesStreams:
    """The fstream / dstream host."""

    def __init__(self, fe: FuturesFrontend) -> None:
        self.fe = fe
        self.app = web.Application()
        self.app.router.add_get("/{tail:.*}", self.handle)
        self.public: dict[str, set[_Conn]] = {}
        self.by_key: dict[str, set[_Conn]] = {}
        self._mark_pushed: dict[int, int] = {1000: 0, 3000: 0, -1: 0}  # -1: ticker / kline streams
        kind = "coinm" if fe.coinm else "usdm"
        self.periodic = PeriodicStreams(fe.sim.marketdata, fe.market, kind)

    # ------------------------------------------------------------------ connection

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fe = self.fe
        segments = [s for s in request.path.split("/") if s]
        if segments and segments[0] in ("public", "market", "private"):
            segments = segments[1:]
        if not segments or segments[0] not in ("ws", "stream"):
            return web.Response(status=404, text="Not Found")
        combined = segments[0] == "stream"
        names = [s for s in segments[1:] if s]
        raw_streams = request.query.get("streams", "")
        names += [s for s in raw_streams.split("/") if s]
        # /private/stream?listenKey=A&events=X/Y&listenKey=B&events=Z: filters pair with keys in order.
        filters = [frozenset(e for e in raw.split("/") if e) or None for raw in request.query.getall("events", [])]
        url_keys = request.query.getall("listenKey", [])

        def events_for(i: int) -> frozenset[str] | None:
            if i < len(filters):
                return filters[i]
            return filters[0] if len(filters) == 1 else None

        ws = web.WebSocketResponse(heartbeat=fe.ping_interval_s)
        await ws.prepare(request)
        fe.track(ws)
        writer = StreamWriter(ws, fe.faults)
        conn = _Conn(writer, combined, fe.faults.drop_generation)
        for i, key in enumerate(url_keys):
            self._add_key(conn, key, events_for(i))
            conn.keys_in_url = True
        for name in names:
            if name in fe.listen_keys:
                self._add_key(conn, name, events_for(0))
                conn.keys_in_url = True
            else:
                self._add(conn, name)
        drain = asyncio.create_task(writer.drain(), name="fstream-drain")
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                if fe.faults.drop_generation != conn.generation:
                    break
                self._control(conn, msg.data)
        finally:
            self._remove_conn(conn)
            fe.untrack(ws)
            if not drain.done():
                drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            if not ws.closed:
                await ws.close()
        return ws

    def _add(self, conn: _Conn, name: str) -> None:
        norm = _norm(name)
        conn.streams[norm] = name
        self.public.setdefault(norm, set()).add(conn)

    def _add_key(self, conn: _Conn, key: str, events: frozenset[str] | None) -> None:
        conn.keys[key] = events
        self.by_key.setdefault(key, set()).add(conn)

    def _remove(self, conn: _Conn, name: str) -> None:
        if name in conn.keys:
            del conn.keys[name]
            self._discard(self.by_key, name, conn)
            return
        norm = _norm(name)
        if conn.streams.pop(norm, None) is not None:
            self._discard(self.public, norm, conn)

    @staticmethod
    def _discard(index: dict[str, set[_Conn]], name: str, conn: _Conn) -> None:
        conns = index.get(name)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del index[name]

    def _remove_conn(self, conn: _Conn) -> None:
        for norm in list(conn.streams):
            self._discard(self.public, norm, conn)
        for key in list(conn.keys):
            self._discard(self.by_key, key, conn)
        conn.streams.clear()
        conn.keys.clear()

    def _control(self, conn: _Conn, text: str) -> None:
        """SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY frames."""
        try:
            req = loads(text)
        except json.JSONDecodeError:
            conn.writer.send_json({"error": {"code": 3, "msg": "Invalid JSON"}})
            return
        if not isinstance(req, dict):
            conn.writer.send_json({"error": {"code": 2, "msg": "Invalid request"}})
            return
        req_id = req.get("id")
        method = req.get("method")
        params = req.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                conn.writer.send_json(
                    {
                        "error": {"code": 2, "msg": "Invalid request: params must be a list of stream names"},
                        "id": req_id,
                    }
                )
                return
            for name in params:
                if method == "UNSUBSCRIBE":
                    self._remove(conn, name)
                elif name in self.fe.listen_keys:
                    self._add_key(conn, name, None)
                else:
                    self._add(conn, name)
            conn.writer.send_json({"result": None, "id": req_id})
        elif method == "LIST_SUBSCRIPTIONS":
            conn.writer.send_json({"result": [*conn.streams.values(), *conn.keys], "id": req_id})
        elif method == "SET_PROPERTY":
            if (
                isinstance(params, list)
                and len(params) == 2
                and params[0] == "combined"
                and isinstance(params[1], bool)
            ):
                conn.combined = params[1]
                conn.writer.send_json({"result": None, "id": req_id})
            else:
                conn.writer.send_json({"error": {"code": 0, "msg": "Unknown property"}, "id": req_id})
        elif method == "GET_PROPERTY":
            if isinstance(params, list) and params == ["combined"]:
                conn.writer.send_json({"result": conn.combined, "id": req_id})
            else:
                conn.writer.send_json({"error": {"code": 0, "msg": "Unknown property"}, "id": req_id})
        else:
            conn.writer.send_json(
                {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": req_id}
            )

    # ------------------------------------------------------------------ delivery

    def _deliver(self, conns: set[_Conn], name_of: Callable[[_Conn], str], payload: Any) -> None:
        raw: str | None = None
        for conn in list(conns):
            if self.fe.faults.drop_generation != conn.generation:
                conn.writer.close()
                continue
            if conn.combined:
                conn.writer.send(dumps({"stream": name_of(conn), "data": payload}))
            else:
                if raw is None:
                    raw = dumps(payload)
                conn.writer.send(raw)

    def _publish(self, norm: str, payload: Any) -> None:
        conns = self.public.get(norm)
        if conns:
            self._deliver(conns, lambda c: c.streams.get(norm, norm), payload)

    def user_event(self, account_id: str, event: str, payload: dict[str, Any]) -> None:
        key = self.fe.key_of_account.get(account_id)
        if key is None:
            return
        conns = self.by_key.get(key)
        if not conns:
            return
        wanted = {c for c in conns if c.keys.get(key) is None or event in (c.keys.get(key) or ())}
        if wanted:
            self._deliver(wanted, lambda c: key, payload)

    def listen_key_expired(self, key: str, now: int) -> None:
        conns = self.by_key.pop(key, set())
        if not conns:
            return
        self._deliver(conns, lambda c: key, {"e": "listenKeyExpired", "E": now, "listenKey": key})
        for conn in conns:
            conn.keys.pop(key, None)
            if conn.keys_in_url and not conn.keys and not conn.streams:
                conn.writer.close()  # the stream of an expired key is disconnected

    def book_top(self, ev: BookTop) -> None:
        sym = ev.symbol.lower()
        single = self.public.get(f"{sym}@bookticker")
        every = self.public.get("!bookticker")
        if not single and not every:
            return
        inst = self.fe.market.instruments[ev.symbol]
        payload: dict[str, Any] = {"e": "bookTicker", "u": ev.update_id, "s": ev.symbol}
        if self.fe.coinm:
            payload["ps"] = inst.pair
        payload.update(
            {
                "b": inst.fmt_price(ev.bid or ZERO),
                "B": inst.fmt_qty(ev.bid_qty),
                "a": inst.fmt_price(ev.ask or ZERO),
                "A": inst.fmt_qty(ev.ask_qty),
                "T": ev.time_ms,
                "E": ev.time_ms,
            }
        )
        if single:
            self._publish(f"{sym}@bookticker", payload)
        if every:
            self._publish("!bookticker", payload)

    def public_trade(self, ev: PublicTrade) -> None:
        sym = ev.symbol.lower()
        agg, raw = f"{sym}@aggtrade", f"{sym}@trade"
        if agg not in self.public and raw not in self.public:
            return
        inst = self.fe.market.instruments[ev.symbol]
        now = self.fe.now()
        maker_buy = ev.taker_side is Side.SELL
        p, q = inst.fmt_price(ev.price), inst.fmt_qty(ev.qty)
        if agg in self.public:
            payload: dict[str, Any] = {"e": "aggTrade", "E": now, "a": ev.trade_id, "s": ev.symbol, "p": p, "q": q}
            if not self.fe.coinm:
                payload["nq"] = q
            payload.update({"f": ev.trade_id, "l": ev.trade_id, "T": ev.time_ms, "m": maker_buy})
            self._publish(agg, payload)
        if raw in self.public:
            self._publish(
                raw,
                {
                    "e": "trade",
                    "E": now,
                    "T": ev.time_ms,
                    "s": ev.symbol,
                    "t": ev.trade_id,
                    "p": p,
                    "q": q,
                    "X": "MARKET",
                    "m": maker_buy,
                },
            )

    def tick(self, now: int) -> None:
        """Periodic streams: ``<symbol>@markPrice`` (every 3 s) and ``<symbol>@markPrice@1s``; every second
        the ticker, mini-ticker and kline streams (``marketdata.py``)."""
        if now - self._mark_pushed[-1] >= 1000:
            self._mark_pushed[-1] = now
            for norm in list(self.public):
                periodic = self.periodic.payload(norm, now)
                if periodic is not None:
                    self._publish(norm, periodic)
        for period, suffix in ((1000, "@markprice@1s"), (3000, "@markprice")):
            if now - self._mark_pushed[period] < period:
                continue
            self._mark_pushed[period] = now
            for symbol, inst in self.fe.market.instruments.items():
                norm = symbol.lower() + suffix
                if norm not in self.public:
                    continue
                mark = self.fe.market.mark_price(symbol)
                payload: dict[str, Any] = {"e": "markPriceUpdate", "E": now, "s": symbol}
                if self.fe.coinm:
                    payload["ps"] = inst.pair
                payload.update(
                    {
                        "p": fixed(mark, 8),
                        "i": fixed(mark, 8),
                        "P": fixed(mark, 8),
                        "r": "0.00010000",
                        "T": (now // 28_800_000 + 1) * 28_800_000,
                    }
                )
                if not self.fe.coinm:
                    payload["ap"] = fixed(mark, 8)  # USDⓈ-M: mark price moving average
                self._publish(norm, payload)
