"""OKX v5 WebSockets: ``/ws/v5/private`` (login, ``orders`` and ``fills`` channels, order operations),
``/ws/v5/public`` (``bbo-tbt``, ``trades``) and ``/ws/v5/business`` (login, then ``orders-algo``: the
account's algo orders, algo.py; its market channels are marketdata.py's; anything else answers ``60018``).

Keepalive is the text ``ping`` answered by the text ``pong``; a connection that has neither received
nor sent anything for 30 s is closed, as the venue does. WebSocket order operations take the numeric
``instIdCode`` (``instId`` was delisted for them in 2026) and answer
``{"id", "op", "code", "msg", "data": [{sCode, sMsg, ...}], "inTime", "outTime"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ...core.accounts import Account
from ..common import StreamWriter, dumps, loads
from . import auth
from .errors import OkxError

if TYPE_CHECKING:
    from .frontend import OkxFrontend

IDLE_S = 30.0
REQUEST_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
PRIVATE_CHANNELS = ("orders", "fills")
BUSINESS_CHANNELS = ("orders-algo",)  # algo orders (algo.py); login first
PUBLIC_CHANNELS = ("bbo-tbt", "trades")
ORDER_OPS = {
    "order": ("place", False),
    "batch-orders": ("place", True),
    "cancel-order": ("cancel", False),
    "batch-cancel-orders": ("cancel", True),
    "amend-order": ("amend", False),
    "batch-amend-orders": ("amend", True),
}


@dataclass(eq=False)
class Conn:
    ws: web.WebSocketResponse
    writer: StreamWriter
    kind: str  # private | public | business
    conn_id: str
    account: Account | None = None
    subs: list[dict[str, str]] = field(default_factory=list)
    last_seen: float = field(default_factory=time.monotonic)

    def send(self, obj: Any) -> None:
        self.last_seen = time.monotonic()
        self.writer.send(dumps(obj))


class OkxWs:
    def __init__(self, fe: OkxFrontend) -> None:
        self.fe = fe
        self.conns: set[Conn] = set()
        self._ids = 0
        self._closing: set[asyncio.Task[bool]] = set()

    def app(self) -> web.Application:
        """One websocket host (``ws.okx.com:8443``): every path on it."""
        app = web.Application()
        for kind in ("private", "public", "business"):
            app.router.add_get(f"/ws/v5/{kind}", self._handler(kind))
        return app

    def _handler(self, kind: str) -> Any:
        async def handle(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(autoping=True)
            await ws.prepare(request)
            self._ids += 1
            conn = Conn(ws, StreamWriter(ws, self.fe.faults), kind, f"{self._ids:08x}")
            self.conns.add(conn)
            self.fe.sockets.add(ws)
            drain = request.loop.create_task(conn.writer.drain())
            try:
                async for msg in ws:
                    if msg.type is not WSMsgType.TEXT:
                        continue
                    conn.last_seen = time.monotonic()
                    if msg.data == "ping":
                        conn.writer.send("pong")
                        continue
                    self._message(conn, msg.data)
            finally:
                self.conns.discard(conn)
                self.fe.sockets.discard(ws)
                conn.writer.close()
                with contextlib.suppress(Exception):
                    await drain
            return ws

        return handle

    async def close_idle(self) -> None:
        now = time.monotonic()
        for conn in [c for c in self.conns if now - c.last_seen > IDLE_S]:
            self.conns.discard(conn)
            with contextlib.suppress(Exception):
                await conn.ws.close(message=b"idle")

    # ------------------------------------------------------------------ requests

    def _error(self, conn: Conn, code: str, msg: str, req_id: Any = None) -> None:
        out: dict[str, Any] = {"event": "error", "code": code, "msg": msg, "connId": conn.conn_id}
        if req_id is not None:
            out = {"id": req_id, **out}
        conn.send(out)

    def _message(self, conn: Conn, raw: str) -> None:
        try:
            frame = loads(raw)
        except ValueError:
            self._error(conn, "60012", f"Invalid request: {raw[:100]}")
            return
        if not isinstance(frame, dict):
            self._error(conn, "60012", f"Invalid request: {raw[:100]}")
            return
        op, req_id, args = frame.get("op"), frame.get("id"), frame.get("args")
        if op == "login":
            self._login(conn, args)
        elif op in ("subscribe", "unsubscribe"):
            self._subscribe(conn, op, args, req_id)
        elif op in ORDER_OPS:
            self._order_op(conn, str(op), req_id, args)
        else:
            self._error(conn, "60012", f"Invalid request: {raw[:100]}", req_id)

    def _login(self, conn: Conn, args: Any) -> None:
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            self._error(conn, "60012", "Invalid request")
            return
        try:
            conn.account = auth.ws_login(self.fe.exchange, args[0], self.fe.exchange.now_ms())
        except OkxError as exc:
            self._error(conn, exc.code, exc.msg)
            return
        conn.send({"event": "login", "code": "0", "msg": "", "connId": conn.conn_id})

    def _subscribe(self, conn: Conn, op: str, args: Any, req_id: Any) -> None:
        if not isinstance(args, list) or not args:
            self._error(conn, "60012", "Invalid request", req_id)
            return
        for arg in args:
            if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
                self._error(conn, "60012", f"Invalid request: {json.dumps(arg)}", req_id)
                continue
            channel = arg["channel"]
            allowed = (
                PRIVATE_CHANNELS
                if conn.kind == "private"
                else PUBLIC_CHANNELS
                if conn.kind == "public"
                else BUSINESS_CHANNELS
            )
            known_inst = arg.get("instId") in self.fe.instruments
            served = self.fe.marketdata.channel_ok(conn.kind, arg)  # books, tickers, candles...
            if not served and (channel not in allowed or (channel in PUBLIC_CHANNELS and not known_inst)):
                detail = ",".join(f"{k}:{v}" for k, v in arg.items())
                self._error(conn, "60018", f"Wrong URL or channel:{detail}, doesn't exist.", req_id)
                continue
            if channel in ("orders", "orders-algo") and not arg.get("instType"):
                self._error(conn, "60013", f"Invalid args: {json.dumps(arg)}", req_id)
                continue
            if (channel in PRIVATE_CHANNELS or channel in BUSINESS_CHANNELS) and conn.account is None:
                self._error(conn, "60011", "Please log in", req_id)
                continue
            clean = {str(k): str(v) for k, v in arg.items()}
            if op == "subscribe":
                if clean not in conn.subs:
                    conn.subs.append(clean)
            elif clean in conn.subs:
                conn.subs.remove(clean)
            ack: dict[str, Any] = {"event": op, "arg": clean, "connId": conn.conn_id}
            if req_id is not None:
                ack = {"id": req_id, **ack}
            conn.send(ack)
            if op == "subscribe" and channel == "bbo-tbt":
                self.fe.push_bbo_snapshot(conn, clean["instId"])
            elif op == "subscribe" and self.fe.marketdata.channel_ok(conn.kind, clean):
                self.fe.marketdata.on_subscribe(conn, clean)

    def _order_op(self, conn: Conn, op: str, req_id: Any, args: Any) -> None:
        in_us = time.time_ns() // 1000
        reply: dict[str, Any] = {"id": req_id if req_id is not None else "", "op": op}
        if conn.kind != "private" or conn.account is None:
            conn.send({**reply, "code": "60011", "msg": "Please log in", "data": []})
            return
        if not isinstance(req_id, str) or not REQUEST_ID.match(req_id) or not isinstance(args, list) or not args:
            conn.send({**reply, "code": "60013", "msg": "Invalid args", "data": []})
            return
        name, batch = ORDER_OPS[op]
        if not batch and len(args) != 1:
            conn.send({**reply, "code": "60013", "msg": "Invalid args", "data": []})
            return
        faults = self.fe.faults
        if faults.take("rate_limit"):
            conn.send({**reply, "code": "50011", "msg": "Rate limit reached.", "data": []})
            return
        if faults.take("http_5xx"):
            conn.send({**reply, "code": "50001", "msg": "Service temporarily unavailable.", "data": []})
            return
        try:
            code, msg, data = self.fe.trading.run(conn.account, name, args, batch, ws=True)
        except OkxError as exc:
            code, msg, data = exc.code, exc.msg, []
        if faults.take("unknown_outcome"):  # executed, then the connection drops before the answer
            task = asyncio.get_running_loop().create_task(conn.ws.close(message=b"fault: unknown outcome"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            return
        conn.send(
            {
                **reply,
                "code": code,
                "msg": msg,
                "data": data,
                "inTime": str(in_us),
                "outTime": str(time.time_ns() // 1000),
            }
        )
