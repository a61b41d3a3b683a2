"""Bybit v5 websockets: the private stream (``/v5/private``: auth, ``order`` / ``execution`` /
``position`` / ``wallet`` / ``dcp`` topics), order entry (``/v5/trade``: ``order.create`` …, batches) and
the public streams (``/v5/public/<category>``: ``orderbook``, ``publicTrade``, ``tickers`` …)
(``../shared/venues/bybit.md``). The venue object (``frontend.py``) owns the state and turns engine
events into pushes through ``push``, ``publish`` and ``send_book``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ...core.accounts import Account
from ...core.faults import Faults
from ..common import StreamWriter, dumps, loads
from . import auth, errors
from .dcp import TOPIC_PRODUCTS
from .errors import BybitError
from .instruments import CATEGORIES
from .trading import category_of

if TYPE_CHECKING:
    from .frontend import BybitVenue

PRIVATE_TOPICS = {"order", "execution", "execution.fast", "position", "wallet", "greeks", "dcp"}
TRADE_OPS = {
    "order.create": "/v5/order/create",
    "order.amend": "/v5/order/amend",
    "order.cancel": "/v5/order/cancel",
    "order.create-batch": "/v5/order/create-batch",
    "order.amend-batch": "/v5/order/amend-batch",
    "order.cancel-batch": "/v5/order/cancel-batch",
}
NEVER_SILENT = Faults()  # writers check the silence of the event's own category before sending


@dataclass(eq=False)
class Conn:
    writer: StreamWriter
    conn_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    account: Account | None = None
    topics: set[str] = field(default_factory=set)
    req_ids: set[str] = field(default_factory=set)


class BybitWs:
    """The three websocket apps (private, trade, public) and their connections."""

    def __init__(self, venue: BybitVenue) -> None:
        self.venue = venue
        self.private: dict[str, set[Conn]] = {}  # account id -> its authenticated private connections
        self.public: dict[str, set[Conn]] = {c: set() for c in CATEGORIES}
        self.private_app = web.Application()
        self.private_app.router.add_get("/v5/private", self._private)
        self.trade_app = web.Application()
        self.trade_app.router.add_get("/v5/trade", self._trade)
        self.public_app = web.Application()
        for category in CATEGORIES:
            self.public_app.router.add_get(f"/v5/public/{category}", self._public)

    # ------------------------------------------------------------------ connections

    async def _serve(self, request: web.Request, on_text: Any, on_close: Any) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.venue.sockets.add(ws)
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
            self.venue.sockets.discard(ws)
        return ws

    # ------------------------------------------------------------------ private stream

    async def _private(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, self._private_msg, self._private_closed)

    def _private_closed(self, conn: Conn) -> None:
        if conn.account is not None:
            self.private.get(conn.account.account_id, set()).discard(conn)
            self.venue.dcp.disconnected(conn.account, conn.conn_id)

    async def _private_msg(self, conn: Conn, data: dict[str, Any]) -> None:
        # The private host carries every category: the largest latency fault among them delays its answers.
        latency_ms = max(self.venue.faults(c).latency_ms for c in CATEGORIES)
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        op, req_id = data.get("op"), data.get("req_id")
        reply: dict[str, Any] = {"success": True, "ret_msg": "", "op": op, "conn_id": conn.conn_id}
        if req_id is not None:
            reply["req_id"] = req_id
        if op == "ping":
            conn.writer.send_json(
                {"req_id": req_id, "op": "pong", "args": [str(self.venue.now_ms())], "conn_id": conn.conn_id}
            )
            return
        if op == "auth":
            if conn.account is not None:
                reply.update(success=False, ret_msg="Repeat auth")
            else:
                try:
                    conn.account = auth.authenticate_ws(self.venue.exchange, data.get("args"), self.venue.now_ms())
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
                self.venue.dcp.subscribed(conn.account, conn.conn_id, args)
            else:
                conn.topics.difference_update(args)
                self.venue.dcp.unsubscribed(conn.account, conn.conn_id, args)
        else:
            reply.update(success=False, ret_msg=f"Invalid op: {op}")
        conn.writer.send_json(reply)

    def push(self, account_id: str, category: str, base: str, rows: list[dict[str, Any]]) -> None:
        """Send ``rows`` on topic ``base`` (or ``base.<category>``) to the account's subscribed connections."""
        if self.venue.faults(category).silent:
            return
        for conn in self.private.get(account_id, ()):
            for topic in (base, f"{base}.{category}"):
                if topic in conn.topics:
                    conn.writer.send_json(
                        {"id": str(uuid.uuid4()), "topic": topic, "creationTime": self.venue.now_ms(), "data": rows}
                    )

    # ------------------------------------------------------------------ order entry (/v5/trade)

    async def _trade(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, self._trade_msg, lambda conn: None)

    async def _trade_msg(self, conn: Conn, data: dict[str, Any]) -> None:
        op = data.get("op")
        if op == "ping":
            conn.writer.send_json({"op": "pong", "args": [str(self.venue.now_ms())], "req_id": data.get("req_id")})
            return
        if op == "auth":
            reply: dict[str, Any] = {"retCode": 0, "retMsg": "OK", "op": "auth", "connId": conn.conn_id}
            if conn.account is not None:
                reply.update(retCode=20001, retMsg="Repeat auth")
            else:
                try:
                    conn.account = auth.authenticate_ws(self.venue.exchange, data.get("args"), self.venue.now_ms())
                except BybitError as e:
                    reply.update(retCode=e.code, retMsg=e.msg)
            conn.writer.send_json(reply)
            return
        req_id = str(data.get("reqId", ""))
        out: dict[str, Any] = {"reqId": req_id, "retCode": 0, "retMsg": "OK", "op": op, "data": {}, "retExtInfo": {}}
        now = self.venue.now_ms()
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
            faults = self.venue.faults(category)
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
            limit_headers = self.venue.limiter.take(
                "ORDER", conn.account.account_id, TRADE_OPS[op], category, units, now
            )
            account, trading = conn.account, self.venue.trading
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
            "Timenow": str(self.venue.now_ms()),
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
        if self.venue.faults(category).latency_ms:
            await asyncio.sleep(self.venue.faults(category).latency_ms / 1000)
        op, req_id = data.get("op"), data.get("req_id")
        if op == "ping":
            if category == "option":
                conn.writer.send_json({"args": [str(self.venue.now_ms())], "op": "pong"})
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
                if self.venue.marketdata.snapshot_only(category, topic):
                    self.send_book(conn, category, topic)
                elif topic.startswith("orderbook."):
                    self.venue.marketdata.book_subscribed(conn, category, topic)
                elif topic.startswith(("tickers.", "kline.")):
                    self.venue.marketdata.send_ticker(conn, category, topic)

    def _public_topic(self, category: str, topic: str) -> bool:
        market = self.venue.markets[category]
        if self.venue.marketdata.topic_ok(category, topic):
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

    def send_book(self, conn: Conn, category: str, topic: str) -> None:
        _, depth, symbol = topic.split(".")
        market = self.venue.markets[category]
        book, inst = market.books[symbol], market.instruments[symbol]
        bids, asks = book.depth(int(depth))
        now = self.venue.now_ms()
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

    def publish(self, category: str, topic: str, make: Any) -> None:
        if self.venue.faults(category).silent:
            return
        text_msg: str | None = None
        for conn in self.public[category]:
            if topic in conn.topics:
                text_msg = text_msg or dumps(make())
                conn.writer.send(text_msg)


def _private_topic(topic: str) -> bool:
    if topic in PRIVATE_TOPICS or topic in TOPIC_PRODUCTS:
        return True
    base, _, category = topic.rpartition(".")
    return base in ("order", "execution", "execution.fast", "position") and category in CATEGORIES
