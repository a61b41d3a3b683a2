"""Binance futures WebSocket API (``/ws-fapi/v1``, ``/ws-dapi/v1``): ``{"id", "method", "params"}`` in,
``{"id", "status", "result" | "error", "rateLimits"}`` out; signed methods carry
``apiKey``/``timestamp``/``signature`` in ``params`` (sorted-params HMAC) or run on a ``session.logon``
connection. User data is not delivered there (Binance: use a listenKey stream, ``futures_streams``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ...core.accounts import Account
from ...core.types import ZERO
from ..common import dumps, loads
from . import auth, errors
from .errors import BinanceError
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
