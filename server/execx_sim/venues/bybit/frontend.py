"""The Bybit venue: one REST host, one private-stream host, one order-entry host for every category,
and one public-stream host per category (``../shared/venues/bybit.md`` §1), over four engine
markets (``bybit-spot``, ``bybit-linear``, ``bybit-inverse``, ``bybit-option``).

The ready line lists the four exchange names with the same ``rest`` / ``private`` / ``trade`` URLs
and each category's own ``public`` path (``/v5/public/<category>``) on one public host. A websocket
drop (admin ``/admin/faults/<name>/drop``) closes every Bybit websocket: the private connection carries all categories.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ...core.accounts import Account
from ...core.engine import Market
from ...core.faults import Faults
from ...core.types import ZERO, AccountEvent, BookTop, Event, ExecType, OrderEvent, PublicTrade
from ..common import Endpoint, StreamWriter, WsRegistry, dumps, loads
from . import auth, errors, wire
from .dcp import REASON as DCP_REASON
from .dcp import TOPIC_PRODUCTS, Dcp
from .errors import BybitError
from .instruments import CATEGORIES, CATEGORY_OF, MARKET_OF
from .marketdata import BybitMarketData
from .ratelimit import BybitLimiter
from .rest import BybitHttp
from .trading import Trading, category_of

if TYPE_CHECKING:
    from ...app import Simulator

log = logging.getLogger("execx_sim.bybit")

SNAPSHOT_EVERY_S = 3.0  # level-1 books are re-sent every 3 s when unchanged (docs: orderbook)
PRIVATE_TOPICS = {"order", "execution", "execution.fast", "position", "wallet", "greeks", "dcp"}
TRADE_OPS = {
    "order.create": "/v5/order/create",
    "order.amend": "/v5/order/amend",
    "order.cancel": "/v5/order/cancel",
    "order.create-batch": "/v5/order/create-batch",
    "order.amend-batch": "/v5/order/amend-batch",
    "order.cancel-batch": "/v5/order/cancel-batch",
}
DCP_CHECK_S = 0.01  # the DCP timer's resolution
NEVER_SILENT = Faults()  # writers check the silence of the event's own category before sending


@dataclass(eq=False)
class Conn:
    writer: StreamWriter
    conn_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    account: Account | None = None
    topics: set[str] = field(default_factory=set)
    req_ids: set[str] = field(default_factory=set)


class BybitVenue:
    def __init__(self, sim: Simulator, markets: dict[str, Market]) -> None:
        self.sim = sim
        self.exchange = sim.exchange
        self.now_ms = sim.exchange.now_ms
        self.markets = markets
        self.launch_ms = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
        self.sockets = WsRegistry()
        self.limiter = BybitLimiter()
        self.trading = Trading(markets, self.faults, self.now_ms)
        self.dcp = Dcp(self.now_ms, self._dcp_cancel)  # disconnection protection (dcp.py)
        self.http = BybitHttp(self)
        self.marketdata = BybitMarketData(self)  # market-data REST routes and the tickers topic
        self.marketdata.routes(self.http)
        self.private: dict[str, set[Conn]] = {}  # account id -> its authenticated private connections
        self.public: dict[str, set[Conn]] = {c: set() for c in CATEGORIES}
        self.private_app = web.Application()
        self.private_app.router.add_get("/v5/private", self._private)
        self.trade_app = web.Application()
        self.trade_app.router.add_get("/v5/trade", self._trade)
        self.public_app = web.Application()
        for category in CATEGORIES:
            self.public_app.router.add_get(f"/v5/public/{category}", self._public)
        self.exchange.subscribe(self._on_event)

    def faults(self, category: str) -> Faults:
        return self.sim.faults[MARKET_OF[category]]

    def market_list(self) -> list[Market]:
        return list(self.markets.values())

    @staticmethod
    def exec_seq(fill: Any) -> int:
        return int(fill.trade_id)

    async def run(self) -> None:
        """Re-send level-1 snapshots every 3 s (the venue does so for unchanged books) until cancelled."""
        tickers = asyncio.create_task(self.marketdata.run())
        dcp = asyncio.create_task(self._dcp_timer())
        try:
            await self._resend_books()
        finally:
            tickers.cancel()
            dcp.cancel()

    async def _dcp_timer(self) -> None:
        while True:
            await asyncio.sleep(DCP_CHECK_S)
            self.dcp.check()

    def _dcp_cancel(self, account: Account, category: str) -> int:
        """DCP ran out: every open order of the account in ``category`` cancelled (``CancelByDCP``)."""
        market = self.trading.market(category)
        symbols = sorted({o.symbol for o in market.account_orders(account) if o.is_open})
        return sum(len(market.cancel_all(account, symbol, reason=DCP_REASON)) for symbol in symbols)

    async def _resend_books(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_EVERY_S)
            for category, conns in self.public.items():
                for conn in list(conns):
                    for topic in list(conn.topics):
                        if self.marketdata.snapshot_only(category, topic):  # others: deltas (marketdata.py)
                            self._send_book(conn, category, topic)

    # ------------------------------------------------------------------ connections

    async def _serve(self, request: web.Request, on_text: Any, on_close: Any) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.add(ws)
        conn = Conn(StreamWriter(ws, NEVER_SILENT))
        drain = asyncio.create_task(conn.writer.drain(), name="bybit.ws.drain")
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        data = loads(msg.data)
                    except json.JSONDecodeError:
                        data = None
                    if not isinstance(data, dict):
                        conn.writer.send_json({"success": False, "ret_msg": "Invalid JSON", "conn_id": conn.conn_id})
                        continue
                    await on_text(conn, data)
        finally:
            on_close(conn)
            conn.writer.close()
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            self.sockets.discard(ws)
        return ws

    # ------------------------------------------------------------------ private stream

    async def _private(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, self._private_msg, self._private_closed)

    def _private_closed(self, conn: Conn) -> None:
        if conn.account is not None:
            self.private.get(conn.account.account_id, set()).discard(conn)
            self.dcp.disconnected(conn.account, conn.conn_id)

    async def _private_msg(self, conn: Conn, data: dict[str, Any]) -> None:
        # The private host carries every category: the largest latency fault among them delays its answers.
        latency_ms = max(self.faults(c).latency_ms for c in CATEGORIES)
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        op, req_id = data.get("op"), data.get("req_id")
        reply: dict[str, Any] = {"success": True, "ret_msg": "", "op": op, "conn_id": conn.conn_id}
        if req_id is not None:
            reply["req_id"] = req_id
        if op == "ping":
            conn.writer.send_json(
                {"req_id": req_id, "op": "pong", "args": [str(self.now_ms())], "conn_id": conn.conn_id}
            )
            return
        if op == "auth":
            if conn.account is not None:
                reply.update(success=False, ret_msg="Repeat auth")
            else:
                try:
                    conn.account = auth.authenticate_ws(self.exchange, data.get("args"), self.now_ms())
                    self.private.setdefault(conn.account.account_id, set()).add(conn)
                except BybitError as e:
                    reply.update(success=False, ret_msg=e.msg)
        elif op in ("subscribe", "unsubscribe"):
            args = data.get("args")
            if conn.account is None:
                reply.update(success=False, ret_msg="Request not authorized")
            elif not isinstance(args, list) or not all(isinstance(a, str) and _private_topic(a) for a in args):
                reply.update(success=False, ret_msg=f"Invalid topic: {args}")
            elif op == "subscribe":
                conn.topics.update(args)
                self.dcp.subscribed(conn.account, conn.conn_id, args)
            else:
                conn.topics.difference_update(args)
                self.dcp.unsubscribed(conn.account, conn.conn_id, args)
        else:
            reply.update(success=False, ret_msg=f"Invalid op: {op}")
        conn.writer.send_json(reply)

    def _push(self, account_id: str, category: str, base: str, rows: list[dict[str, Any]]) -> None:
        """Send ``rows`` on topic ``base`` (or ``base.<category>``) to the account's subscribed connections."""
        if self.faults(category).silent:
            return
        for conn in self.private.get(account_id, ()):
            for topic in (base, f"{base}.{category}"):
                if topic in conn.topics:
                    conn.writer.send_json(
                        {"id": str(uuid.uuid4()), "topic": topic, "creationTime": self.now_ms(), "data": rows}
                    )

    # ------------------------------------------------------------------ order entry (/v5/trade)

    async def _trade(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, self._trade_msg, lambda conn: None)

    async def _trade_msg(self, conn: Conn, data: dict[str, Any]) -> None:
        op = data.get("op")
        if op == "ping":
            conn.writer.send_json({"op": "pong", "args": [str(self.now_ms())], "req_id": data.get("req_id")})
            return
        if op == "auth":
            reply: dict[str, Any] = {"retCode": 0, "retMsg": "OK", "op": "auth", "connId": conn.conn_id}
            if conn.account is not None:
                reply.update(retCode=20001, retMsg="Repeat auth")
            else:
                try:
                    conn.account = auth.authenticate_ws(self.exchange, data.get("args"), self.now_ms())
                except BybitError as e:
                    reply.update(retCode=e.code, retMsg=e.msg)
            conn.writer.send_json(reply)
            return
        req_id = str(data.get("reqId", ""))
        out: dict[str, Any] = {"reqId": req_id, "retCode": 0, "retMsg": "OK", "op": op, "data": {}, "retExtInfo": {}}
        now = self.now_ms()
        limit_headers: dict[str, str] = {}
        try:
            if op not in TRADE_OPS:
                raise BybitError(10404, f"op {op!r} is not found")
            if conn.account is None:
                raise BybitError(errors.NOT_LOGGED_IN, "User not logged in.")
            if len(req_id) > 36:
                raise errors.param("reqId must be at most 36 characters")
            if req_id and req_id in conn.req_ids:
                raise BybitError(20006, "reqId is duplicated")
            if req_id:
                conn.req_ids.add(req_id)
            header = data.get("header")
            if not isinstance(header, dict):
                raise errors.param("header is required")
            auth.check_timestamp(
                str(header.get("X-BAPI-TIMESTAMP", "")),
                str(header.get("X-BAPI-RECV-WINDOW", auth.DEFAULT_RECV_WINDOW)),
                now,
            )
            args = data.get("args")
            if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
                raise errors.param("args must hold exactly one object")
            req: dict[str, Any] = args[0]
            category = category_of(req)
            faults = self.faults(category)
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            if faults.take("rate_limit"):
                reset = str(now + faults.retry_after_s * 1000)
                raise BybitError(
                    errors.RATE,
                    "Too many visits. Exceeded the API Rate Limit.",
                    headers={"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": reset},
                )
            if faults.take("http_5xx"):
                raise BybitError(errors.SERVER, "Internal System Error.")
            units = len(req["request"]) if isinstance(req.get("request"), list) else 1
            limit_headers = self.limiter.take("ORDER", conn.account.account_id, TRADE_OPS[op], category, units, now)
            account, trading = conn.account, self.trading
            if op.endswith("-batch"):
                action = {"order.create-batch": trading.create, "order.amend-batch": trading.amend}.get(
                    op, trading.cancel
                )
                results, infos = trading.batch(account, category, req, action)
                out["data"], out["retExtInfo"] = {"list": results}, {"list": infos}
            else:
                action = {"order.create": trading.create, "order.amend": trading.amend}.get(op, trading.cancel)
                out["data"] = trading.ack(category, action(account, category, req))
            if faults.take("unknown_outcome"):
                await conn.writer.ws.close()
                return
            if faults.slow_ack_ms:
                await asyncio.sleep(faults.slow_ack_ms / 1000)
        except BybitError as e:
            out.update(retCode=e.code, retMsg=e.msg)
            limit_headers = limit_headers or e.headers
        out["header"] = {
            "X-Bapi-Limit": limit_headers.get("X-Bapi-Limit", "10"),
            "X-Bapi-Limit-Status": limit_headers.get("X-Bapi-Limit-Status", "9"),
            "X-Bapi-Limit-Reset-Timestamp": limit_headers.get("X-Bapi-Limit-Reset-Timestamp", str(now)),
            "Traceid": uuid.uuid4().hex,
            "Timenow": str(self.now_ms()),
        }
        out["connId"] = conn.conn_id
        conn.writer.send_json(out)

    # ------------------------------------------------------------------ public streams

    async def _public(self, request: web.Request) -> web.WebSocketResponse:
        category = request.path.rsplit("/", 1)[1]

        async def on_text(conn: Conn, data: dict[str, Any]) -> None:
            await self._public_msg(conn, category, data)

        return await self._serve(request, on_text, lambda conn: self.public[category].discard(conn))

    async def _public_msg(self, conn: Conn, category: str, data: dict[str, Any]) -> None:
        if self.faults(category).latency_ms:
            await asyncio.sleep(self.faults(category).latency_ms / 1000)
        op, req_id = data.get("op"), data.get("req_id")
        if op == "ping":
            if category == "option":
                conn.writer.send_json({"args": [str(self.now_ms())], "op": "pong"})
            else:
                pong: dict[str, Any] = {"success": True, "ret_msg": "pong", "conn_id": conn.conn_id, "op": "ping"}
                if category != "spot" and req_id is not None:
                    pong["req_id"] = req_id
                conn.writer.send_json(pong)
            return
        reply: dict[str, Any] = {"success": True, "ret_msg": str(op), "conn_id": conn.conn_id, "op": op}
        if req_id is not None:
            reply["req_id"] = req_id
        args = data.get("args")
        if op not in ("subscribe", "unsubscribe"):
            reply.update(success=False, ret_msg=f"Invalid op: {op}")
        elif not isinstance(args, list) or not all(
            isinstance(a, str) and self._public_topic(category, a) for a in args
        ):
            reply.update(success=False, ret_msg=f"error:handler not found,topic:{args}")
        elif op == "subscribe":
            conn.topics.update(args)
            self.public[category].add(conn)
        else:
            conn.topics.difference_update(args)
        conn.writer.send_json(reply)
        if op == "subscribe" and reply["success"]:
            for topic in args or ():
                if self.marketdata.snapshot_only(category, topic):
                    self._send_book(conn, category, topic)
                elif topic.startswith("orderbook."):
                    self.marketdata.book_subscribed(conn, category, topic)
                elif topic.startswith(("tickers.", "kline.")):
                    self.marketdata.send_ticker(conn, category, topic)

    def _public_topic(self, category: str, topic: str) -> bool:
        market = self.markets[category]
        if self.marketdata.topic_ok(category, topic):
            return True
        parts = topic.split(".")
        if len(parts) == 3 and parts[0] == "orderbook":
            depths = ("25", "100") if category == "option" else ("1", "50", "200", "1000")
            return parts[1] in depths and parts[2] in market.instruments
        if len(parts) == 2 and parts[0] == "publicTrade":
            if category == "option":
                return any(i.base == parts[1] for i in market.instruments.values())
            return parts[1] in market.instruments
        return False

    def _send_book(self, conn: Conn, category: str, topic: str) -> None:
        _, depth, symbol = topic.split(".")
        market = self.markets[category]
        book, inst = market.books[symbol], market.instruments[symbol]
        bids, asks = book.depth(int(depth))
        now = self.now_ms()
        conn.writer.send_json(
            {
                "topic": topic,
                "ts": now,
                "type": "snapshot",
                "data": {
                    "s": symbol,
                    # prices and sizes with the instrument's decimals, as the venue prints them ("16493.50")
                    "b": [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in bids],
                    "a": [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in asks],
                    "u": book.update_id,
                    "seq": book.update_id,
                },
                "cts": now,
            }
        )

    def _publish(self, category: str, topic: str, make: Any) -> None:
        if self.faults(category).silent:
            return
        text_msg: str | None = None
        for conn in self.public[category]:
            if topic in conn.topics:
                text_msg = text_msg or dumps(make())
                conn.writer.send(text_msg)

    # ------------------------------------------------------------------ engine events

    def _on_event(self, ev: Event) -> None:
        category = CATEGORY_OF.get(ev.market)
        if category is None:
            return
        market = self.markets[category]
        if isinstance(ev, OrderEvent):
            o = ev.order
            if ev.fill is not None:
                o.extra["fee"] = o.extra.get("fee", ZERO) + ev.fill.fee
            if o.account_id not in self.private:
                return
            if ev.fill is not None:
                fill = ev.fill
                self._push(
                    o.account_id, category, "execution", [wire.execution(fill, o, market, fill.trade_id, ws=True)]
                )
                self._push(
                    o.account_id,
                    category,
                    "execution.fast",
                    [
                        {
                            "category": category,
                            "symbol": fill.symbol,
                            "orderId": wire.order_id(category, o.order_id),
                            "isMaker": fill.is_maker,
                            "orderLinkId": "" if fill.is_maker else wire.link_id(o),
                            "execId": wire.exec_id(fill),
                            "execPrice": wire.num(fill.price),
                            "execQty": wire.num(fill.qty),
                            "side": wire.SIDE[fill.side],
                            "execTime": str(fill.time_ms),
                            "seq": fill.trade_id,
                        }
                    ],
                )
            rows = [wire.order(o, market, ws=True)]
            if ev.exec_type is ExecType.TRIGGERED:  # Untriggered -> Triggered (transient) -> New
                rows.insert(0, {**rows[0], "orderStatus": "Triggered"})
            self._push(o.account_id, category, "order", rows)
        elif isinstance(ev, AccountEvent):
            if ev.account_id not in self.private:
                return
            account = self.exchange.accounts[ev.account_id]
            if ev.symbols and category != "spot":
                wallet = account.wallet(market.name)
                rows = [wire.position(wallet.position(s), market, ws=True) for s in sorted(ev.symbols)]
                self._push(ev.account_id, category, "position", rows)
            if ev.assets:
                self._push(
                    ev.account_id,
                    category,
                    "wallet",
                    [wire.wallet(self.market_list(), account, set(ev.assets), self.trading.borrowed_of(ev.account_id))],
                )
        elif isinstance(ev, BookTop):
            # Level 1 (and option books) is a snapshot whenever the top moves (and every 3 s by run());
            # deeper books are a snapshot on subscribe then deltas every 100 ms (marketdata.py).
            if not self.faults(category).silent:
                for conn in self.public[category]:
                    for topic in [t for t in conn.topics if self.marketdata.snapshot_only(category, t)]:
                        if topic.split(".")[2] == ev.symbol:
                            self._send_book(conn, category, topic)
        elif isinstance(ev, PublicTrade):
            inst = market.instruments[ev.symbol]
            key = inst.base if category == "option" else ev.symbol
            last = market.last_price.get(ev.symbol, ev.price)
            self._publish(
                category,
                f"publicTrade.{key}",
                lambda: {
                    "topic": f"publicTrade.{key}",
                    "type": "snapshot",
                    "ts": ev.time_ms,
                    "data": [
                        {
                            "T": ev.time_ms,
                            "s": ev.symbol,
                            "S": wire.SIDE[ev.taker_side],
                            "v": inst.fmt_qty(ev.qty),
                            "p": inst.fmt_price(ev.price),
                            "L": "PlusTick" if ev.price >= last else "MinusTick",
                            "i": str(ev.trade_id),
                            "BT": False,
                            "RPI": False,
                            "seq": ev.trade_id,
                        }
                    ],
                },
            )


def _private_topic(topic: str) -> bool:
    if topic in PRIVATE_TOPICS or topic in TOPIC_PRODUCTS:
        return True
    base, _, category = topic.rpartition(".")
    return base in ("order", "execution", "execution.fast", "position") and category in CATEGORIES


class CategoryFrontend:
    """One exchange name of the ready line (``bybit-<category>``) over the shared venue: the same
    REST, private and trade apps (hence ports) for every category, and the category's public path."""

    def __init__(self, venue: BybitVenue, category: str, primary: bool) -> None:
        self.venue_state = venue
        self.venue = MARKET_OF[category]
        self.category = category
        self.primary = primary
        self.sockets: WsRegistry = venue.sockets
        self.limiter = venue.limiter

    def endpoints(self) -> list[Endpoint]:
        v = self.venue_state
        return [
            Endpoint("rest", v.http.app),
            Endpoint("private", v.private_app, "ws", "/v5/private"),
            Endpoint("trade", v.trade_app, "ws", "/v5/trade"),
            Endpoint("public", v.public_app, "ws", f"/v5/public/{self.category}"),
        ]

    async def run(self) -> None:
        if self.primary:
            await self.venue_state.run()
        else:
            await asyncio.Event().wait()  # the primary front-end runs the venue's timers
