"""Binance futures websockets: the WebSocket API (``/ws-fapi/v1``, ``/ws-dapi/v1``) and the market /
user-data streams host (fstream / dstream).

WebSocket API: ``{"id", "method", "params"}`` in, ``{"id", "status", "result" | "error", "rateLimits"}``
out; signed methods carry ``apiKey``/``timestamp``/``signature`` in ``params`` (sorted-params HMAC) or
run on a ``session.logon`` connection. User data is not delivered there (Binance: use a listenKey
stream).

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
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ...core.accounts import Account
from ...core.types import ZERO, BookTop, PublicTrade, Side
from ..common import StreamWriter, dumps, loads
from . import auth, errors
from .errors import BinanceError
from .futures_wire import fixed
from .marketdata import PeriodicStreams
from .rest_common import Params

if TYPE_CHECKING:
    from .futures_frontend import FuturesFrontend

log = logging.getLogger("execx_sim.binance.futures")

SIGNED = {
    "order.place",
    "order.modify",
    "order.cancel",
    "order.status",
    "account.position",
    "v2/account.position",
    "account.balance",
    "v2/account.balance",
    "account.status",
    "v2/account.status",
}
USER_STREAM = {"userDataStream.start", "userDataStream.ping", "userDataStream.stop"}
WEIGHTS = {
    "order.place": 0,
    "order.modify": 1,
    "order.cancel": 1,
    "order.status": 1,
    "account.position": 5,
    "v2/account.position": 5,
    "account.balance": 5,
    "v2/account.balance": 5,
    "account.status": 5,
    "v2/account.status": 5,
    "ticker.price": 1,
    "ticker.book": 2,
    "depth": 2,
}


class FuturesWsApi:
    """The futures WebSocket API endpoint."""

    def __init__(self, fe: FuturesFrontend) -> None:
        self.fe = fe
        self.app = web.Application()
        self.app.router.add_get(fe.ws_api_path, self.handle)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        fe = self.fe
        ws = web.WebSocketResponse(heartbeat=fe.ping_interval_s)
        await ws.prepare(request)
        fe.track(ws)
        gen = fe.faults.drop_generation
        state = _Session(connected_ms=fe.now(), ip=request.remote or "?")
        try:
            async for msg in ws:
                if fe.faults.drop_generation != gen:
                    break
                if msg.type is not WSMsgType.TEXT:
                    continue
                reply = await self.dispatch(msg.data, state)
                if not fe.faults.silent:
                    await ws.send_str(dumps(reply))
        finally:
            fe.untrack(ws)
            if not ws.closed:
                await ws.close()
        return ws

    async def dispatch(self, text: str, state: _Session) -> dict[str, Any]:
        fe = self.fe
        req_id: Any = None
        weight_used = 0
        orders: dict[str, str] | None = None
        return_limits = True
        try:
            try:
                req = loads(text)
            except json.JSONDecodeError:
                raise BinanceError(-1000, "Malformed request: invalid JSON.") from None
            if not isinstance(req, dict):
                raise BinanceError(-1000, "Malformed request: expected a JSON object.")
            req_id = req.get("id")
            method = req.get("method")
            params = req.get("params", {})
            if not isinstance(method, str) or not method:
                raise errors.mandatory("method")
            if not isinstance(params, dict):
                raise BinanceError(-1000, "Malformed request: 'params' must be an object.")
            method = method.lstrip("/")
            rrl = params.get("returnRateLimits")
            if rrl is not None:
                return_limits = rrl not in (False, "false")
            if fe.faults.latency_ms:
                await asyncio.sleep(fe.faults.latency_ms / 1000)
            if fe.faults.take("ban"):
                retry = fe.faults.retry_after_s
                raise errors.banned(fe.now() + retry * 1000, retry)
            if fe.faults.take("rate_limit"):
                raise errors.too_many_requests(2400, fe.faults.retry_after_s)
            if fe.faults.take("http_5xx"):
                err = errors.execution_unknown()
                err.status = fe.faults.http_5xx_status
                raise err
            headers = fe.limiter.take("REQUEST_WEIGHT", state.ip, WEIGHTS.get(method, 1))
            weight_used = int(headers.get("X-MBX-USED-WEIGHT-1M", "0"))
            result, orders = await self.call(method, params, state)
            out: dict[str, Any] = {"id": req_id, "status": 200, "result": result}
        except BinanceError as e:
            out = {"id": req_id, "status": e.status, "error": e.body()}
            retry_after = e.headers.get("Retry-After")
            if retry_after is not None:
                out["error"]["data"] = {"retryAfter": fe.now() + int(retry_after) * 1000}
        except Exception:
            log.exception("binance.futures.ws_api.unhandled")
            out = {"id": req_id, "status": 500, "error": errors.unknown_error().body()}
        if return_limits:
            out["rateLimits"] = fe.rate_limits(weight_used, orders)
        return out

    def _account(self, method: str, params: dict[str, Any], state: _Session) -> Account:
        fe = self.fe
        if method in USER_STREAM:
            if "apiKey" in params:
                return auth.account_for_key(fe.sim.exchange, params.get("apiKey"))
            if state.account is not None:
                return state.account
            raise errors.mandatory("apiKey")
        if "signature" not in params and state.account is not None:
            auth.check_timestamp(
                {k: auth.ws_value(v) for k, v in params.items() if k in ("timestamp", "recvWindow")}, fe.now()
            )
            return state.account
        return auth.authenticate_ws(fe.sim.exchange, params, fe.now())

    async def call(
        self,
        method: str,
        raw: dict[str, Any],
        state: _Session,
    ) -> tuple[Any, dict[str, str] | None]:
        fe = self.fe
        params = Params(raw)
        if method == "session.logon":
            state.account = auth.authenticate_ws(fe.sim.exchange, raw, fe.now())
            state.authorized_ms = fe.now()
            return self.session_status(state), None
        if method == "session.status":
            return self.session_status(state), None
        if method == "session.logout":
            state.account = None
            state.authorized_ms = None
            return self.session_status(state), None
        if method == "depth":
            return fe.depth(params), None
        if method == "ticker.price" or method == "ticker.book":
            symbol = fe.symbol(params, required=False)
            symbols = [symbol] if symbol else list(fe.market.instruments)
            rows = [self.ticker(method, s) for s in symbols]
            return (rows[0] if symbol else rows), None
        if method not in SIGNED and method not in USER_STREAM:
            raise BinanceError(-1000, f"Unknown method '{method}'.")
        account = self._account(method, raw, state)
        if method == "userDataStream.start":
            return {"listenKey": fe.listen_key_start(account)}, None
        if method == "userDataStream.ping":
            return {"listenKey": fe.listen_key_keepalive(account, params.str("listenKey"))}, None
        if method == "userDataStream.stop":
            fe.listen_key_close(account, params.str("listenKey"))
            return {}, None
        if method == "order.place":
            headers: dict[str, str] = {}
            return await fe.trading.op_place(account, params, headers), headers
        if method == "order.modify":
            counted: dict[str, str] = {}
            return fe.trading.op_modify(account, params, counted), counted
        if method == "order.cancel":
            return fe.trading.op_cancel(account, params), None
        if method == "order.status":
            return fe.trading.op_query(account, params), None
        v2 = method.startswith("v2/")
        if method.endswith("account.position"):
            return fe.trading.op_position_risk(account, params, 1 if fe.coinm else (3 if v2 else 2)), None
        if method.endswith("account.balance"):
            return fe.trading.op_balance(account), None
        return fe.trading.op_account(account, 1 if fe.coinm else (3 if v2 else 2)), None

    def session_status(self, state: _Session) -> dict[str, Any]:
        return {
            "apiKey": state.account.api_key if state.account is not None else None,
            "authorizedSince": state.authorized_ms,
            "connectedSince": state.connected_ms,
            "returnRateLimits": True,
            "serverTime": self.fe.now(),
        }

    def ticker(self, method: str, symbol: str) -> dict[str, Any]:
        fe = self.fe
        inst = fe.market.instruments[symbol]
        if method == "ticker.price":
            price = fe.market.last_price.get(symbol, fe.market.mark_price(symbol))
            return {"symbol": symbol, "price": inst.fmt_price(price), "time": fe.now()}
        bid, bq, ask, aq = fe.market.books[symbol].top()
        return {
            "lastUpdateId": fe.market.books[symbol].update_id,
            "symbol": symbol,
            "bidPrice": inst.fmt_price(bid or ZERO),
            "bidQty": inst.fmt_qty(bq),
            "askPrice": inst.fmt_price(ask or ZERO),
            "askQty": inst.fmt_qty(aq),
            "time": fe.now(),
        }


class _Session:
    def __init__(self, connected_ms: int, ip: str) -> None:
        self.connected_ms = connected_ms
        self.ip = ip
        self.account: Account | None = None
        self.authorized_ms: int | None = None


# ---------------------------------------------------------------------- streams


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
