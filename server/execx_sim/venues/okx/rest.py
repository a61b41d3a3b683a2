"""OKX v5 REST (``https://www.okx.com``, ``https://aws.okx.com`` — the same API under another host):
signed private endpoints, public reference data, the ``code`` / ``msg`` / ``data`` envelope, HTTP 401
for authentication failures, 429 ``50011`` for rate limits, and fault injection.

Every request may carry ``x-simulated-trading: 1`` (demo trading) or ``0``; the simulator serves both
environments with the same accounts, so the header is accepted and not otherwise enforced.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from ...core.accounts import Account
from ...core.types import OrderError
from ..common import dumps, fault_middleware, loads
from . import auth, errors, wire
from .errors import OkxError
from .trading import text

if TYPE_CHECKING:
    from .frontend import OkxFrontend

Handler = Callable[["Call"], Awaitable[list[dict[str, Any]]]]
PAGE_MAX = 100
CAA_MIN_S, CAA_MAX_S = 10, 120


class Call:
    """One REST request: the account (private endpoints), query parameters and JSON body."""

    def __init__(self, request: web.Request, account: Account | None, query: dict[str, str], body: Any) -> None:
        self.request = request
        self.account_or_none = account
        self.query = query
        self.body = body

    @property
    def account(self) -> Account:
        assert self.account_or_none is not None
        return self.account_or_none


def envelope(code: str, msg: str, data: list[dict[str, Any]], in_us: int, status: int = 200) -> web.Response:
    out_us = time.time_ns() // 1000
    payload = {"code": code, "msg": msg, "data": data, "inTime": str(in_us), "outTime": str(out_us)}
    return web.Response(text=dumps(payload), status=status, content_type="application/json")


def _fault(kind: str, request: web.Request) -> web.Response | None:
    us = time.time_ns() // 1000
    if kind == "429":
        return envelope(*errors.RATE_LIMITED, [], us, 429)
    if kind == "5xx":
        return envelope("50001", "Service temporarily unavailable. Please try again later.", [], us, 503)
    return None  # OKX has no IP-ban status (418)


class OkxRest:
    def __init__(self, fe: OkxFrontend) -> None:
        self.fe = fe
        self.app = web.Application(middlewares=[fault_middleware(fe.faults, _fault)])
        public: dict[str, Handler] = {
            "/api/v5/public/time": self.time,
            "/api/v5/public/instruments": self.instruments,
        }
        private_get: dict[str, Handler] = {
            "/api/v5/account/balance": self.balance,
            "/api/v5/account/positions": self.positions,
            "/api/v5/account/config": self.config,
            "/api/v5/asset/currencies": self.currencies,
            "/api/v5/trade/orders-pending": self.orders_pending,
            "/api/v5/trade/orders-history": self.orders_history,
            "/api/v5/trade/order": self.order,
            "/api/v5/trade/fills": self.fills,
            "/api/v5/trade/fills-history": self.fills_history,
            "/api/v5/trade/orders-algo-pending": self.algo_pending,
            "/api/v5/trade/orders-algo-history": self.algo_history,
            "/api/v5/trade/order-algo": self.algo_detail,
        }
        private_post: dict[str, Handler] = {
            "/api/v5/trade/order": self.op("place", batch=False),
            "/api/v5/trade/batch-orders": self.op("place", batch=True),
            "/api/v5/trade/cancel-order": self.op("cancel", batch=False),
            "/api/v5/trade/cancel-batch-orders": self.op("cancel", batch=True),
            "/api/v5/trade/amend-order": self.op("amend", batch=False),
            "/api/v5/trade/amend-batch-orders": self.op("amend", batch=True),
            "/api/v5/trade/cancel-all-after": self.cancel_all_after,
            "/api/v5/trade/order-algo": self.algo_place,
            "/api/v5/trade/cancel-algos": self.algo_cancel,
        }
        for path, handler in public.items():
            self.app.router.add_get(path, self._wrap(handler, signed=False))
        for path, handler in private_get.items():
            self.app.router.add_get(path, self._wrap(handler, signed=True))
        for path, handler in private_post.items():
            self.app.router.add_post(path, self._wrap(handler, signed=True))

    def _wrap(self, handler: Handler, signed: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(request: web.Request) -> web.Response:
            in_us = time.time_ns() // 1000
            raw = await request.text()
            try:
                account = None
                if signed:
                    headers = {k.upper(): v for k, v in request.headers.items()}
                    account = auth.rest_account(
                        self.fe.exchange, headers, request.method, request.path_qs, raw, self.fe.exchange.now_ms()
                    )
                    if request.method == "GET":
                        key = (account.account_id, request.path)
                        self.fe.limiter.take("REQUESTS", key, 1, self.fe.exchange.now_ms())
                body: Any = None
                if request.method == "POST":
                    try:
                        body = loads(raw) if raw else {}
                    except ValueError:
                        raise OkxError("50002", "JSON syntax error") from None
                query = dict(parse_qsl(request.query_string, keep_blank_values=True))
                result = await handler(Call(request, account, query, body))
            except OkxError as exc:
                return envelope(exc.code, exc.msg, [], in_us, exc.status)
            except _Envelope as env:
                return env.response(in_us)
            return envelope("0", "", result, in_us)

        return run

    # ------------------------------------------------------------------ public

    async def time(self, call: Call) -> list[dict[str, Any]]:
        return [{"ts": str(self.fe.exchange.now_ms())}]

    async def instruments(self, call: Call) -> list[dict[str, Any]]:
        inst_type = call.query.get("instType", "")
        if not inst_type:
            raise errors.param_empty("instType")
        if inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "EVENTS"):
            raise errors.param_error("instType")
        inst_id = call.query.get("instId", "")
        family = call.query.get("instFamily", "") or call.query.get("uly", "")
        return [
            wire.instrument_row(i)
            for i in self.fe.instruments.values()
            if i.inst_type == inst_type
            and (not inst_id or i.inst_id == inst_id)
            and (not family or i.inst_family == family)
        ]

    # ------------------------------------------------------------------ account

    async def balance(self, call: Call) -> list[dict[str, Any]]:
        ccy = {c for c in call.query.get("ccy", "").split(",") if c}
        return [wire.balance(self.fe.market, call.account, self.fe.instruments, ccy, self.fe.exchange.now_ms())]

    async def positions(self, call: Call) -> list[dict[str, Any]]:
        inst_type = call.query.get("instType", "")
        ids = {i for i in call.query.get("instId", "").split(",") if i}
        now = self.fe.exchange.now_ms()
        rows = []
        for inst in self.fe.instruments.values():
            if not inst.is_swap or (inst_type and inst.inst_type != inst_type) or (ids and inst.inst_id not in ids):
                continue
            row = wire.position_row(self.fe.market, call.account, inst, now)
            if row is not None:
                rows.append(row)
        return rows

    async def config(self, call: Call) -> list[dict[str, Any]]:
        uid = self.fe.uid(call.account)
        return [
            {
                "uid": uid,
                "mainUid": uid,
                "acctLv": "2",  # spot and futures mode: one unified account
                "acctStpMode": "cancel_maker",
                "posMode": "net_mode",
                "autoLoan": False,
                "greeksType": "PA",
                "level": "Lv1",
                "levelTmp": "",
                "ctIsoMode": "automatic",
                "mgnIsoMode": "automatic",
                "roleType": "0",
                "traderInsts": [],
                "spotRoleType": "0",
                "spotTraderInsts": [],
                "opAuth": "0",
                "kycLv": "2",
                "label": "execx-sim",
                "ip": "",
                "perm": "read_only,trade",
                "liquidationGear": "-1",
                "enableSpotBorrow": False,
                "spotBorrowAutoRepay": False,
                "type": "0",
                "settleCcy": "USDT",
                "settleCcyList": ["USDT"],
            }
        ]

    async def currencies(self, call: Call) -> list[dict[str, Any]]:
        ccys = sorted({i.base for i in self.fe.instruments.values()} | {i.quote for i in self.fe.instruments.values()})
        return [
            {
                "ccy": c,
                "name": c,
                "chain": f"{c}-{c}",
                "canDep": True,
                "canWd": True,
                "canInternal": True,
                "minDep": "0.00000001",
                "minWd": "0.0001",
                "maxWd": "1000000",
                "minFee": "0",
                "maxFee": "0",
                "wdTickSz": "8",
                "mainNet": True,
                "logoLink": "",
            }
            for c in ccys
        ]

    # ------------------------------------------------------------------ trade queries

    def _orders(self, call: Call, open_only: bool) -> list[dict[str, Any]]:
        q = call.query
        inst_type, inst_id, ord_type = q.get("instType", ""), q.get("instId", ""), q.get("ordType", "")
        state = q.get("state", "")
        if not open_only and not inst_type:
            raise errors.param_empty("instType")
        limit = _limit(q)
        market, account = self.fe.market, call.account
        orders = (
            market.open_orders(account)
            if open_only
            else [o for o in market.account_orders(account) if not o.is_open and o.trigger is None]  # algo: own API
        )
        rows = []
        for order in sorted(orders, key=lambda o: o.order_id, reverse=True):
            inst = self.fe.instruments[order.symbol]
            if (inst_type and inst.inst_type != inst_type) or (inst_id and order.symbol != inst_id):
                continue
            row = wire.order_row(inst, order, self.fe.lever(account, inst))
            if (ord_type and row["ordType"] != ord_type) or (state and row["state"] != state):
                continue
            if q.get("after") and order.order_id >= int(q["after"]):
                continue
            if q.get("before") and order.order_id <= int(q["before"]):
                continue
            rows.append(row)
            if len(rows) >= limit:
                break
        return rows

    async def orders_pending(self, call: Call) -> list[dict[str, Any]]:
        return self._orders(call, open_only=True)

    async def orders_history(self, call: Call) -> list[dict[str, Any]]:
        return self._orders(call, open_only=False)

    async def order(self, call: Call) -> list[dict[str, Any]]:
        q = call.query
        inst_id = q.get("instId", "")
        if not inst_id:
            raise errors.param_empty("instId")
        inst = self.fe.instruments.get(inst_id)
        if inst is None:
            raise OkxError(errors.UNKNOWN_INSTRUMENT.code, errors.UNKNOWN_INSTRUMENT.msg)
        if not q.get("ordId") and not q.get("clOrdId"):
            raise errors.param_empty("ordId or clOrdId")
        try:
            order = self.fe.trading.find(call.account, inst, q)
        except OrderError:
            raise errors.ORDER_NOT_FOUND from None
        except errors.ItemError as exc:
            raise OkxError(exc.code, exc.msg) from None
        return [wire.order_row(inst, order, self.fe.lever(call.account, inst))]

    async def fills(self, call: Call) -> list[dict[str, Any]]:
        q = call.query
        limit = _limit(q)
        rows = []
        for bill_id, fill in self.fe.bills_of(call.account):  # newest first
            inst = self.fe.instruments[fill.symbol]
            if q.get("instType") and inst.inst_type != q["instType"]:
                continue
            if q.get("instId") and fill.symbol != q["instId"]:
                continue
            if q.get("ordId") and str(fill.order_id) != q["ordId"]:
                continue
            if q.get("after") and bill_id >= int(q["after"]):
                continue
            if q.get("before") and bill_id <= int(q["before"]):
                continue
            if q.get("begin") and fill.time_ms < int(q["begin"]):
                continue
            if q.get("end") and fill.time_ms > int(q["end"]):
                continue
            rows.append(wire.fill_row(inst, fill, self.fe.market.orders.get(fill.order_id), str(bill_id)))
            if len(rows) >= limit:
                break
        return rows

    async def fills_history(self, call: Call) -> list[dict[str, Any]]:
        """``fills-history`` covers three months on the venue (``fills`` three days); the simulator keeps
        the same recent fills for both. ``instType`` is required here."""
        if not call.query.get("instType"):
            raise errors.param_empty("instType")
        return await self.fills(call)

    # ------------------------------------------------------------------ trading

    def op(self, name: str, batch: bool) -> Handler:
        async def handle(call: Call) -> list[dict[str, Any]]:
            body = call.body
            items = body if batch and isinstance(body, list) else [body] if isinstance(body, dict) else None
            if items is None or (batch and not isinstance(body, list) and not isinstance(body, dict)):
                raise OkxError("50002", "JSON syntax error")
            code, msg, data = self.fe.trading.run(call.account, name, items, batch)
            faults = self.fe.faults
            if faults.take("unknown_outcome"):
                raise OkxError("50001", "Service temporarily unavailable. Please try again later.", 503)
            if faults.slow_ack_ms:
                await asyncio.sleep(faults.slow_ack_ms / 1000)
            if code != "0":
                raise _Envelope(code, msg, data)
            return data

        return handle

    # ------------------------------------------------------------------ algo orders (algo.py)

    async def algo_place(self, call: Call) -> list[dict[str, Any]]:
        if not isinstance(call.body, dict):
            raise OkxError("50002", "JSON syntax error")
        try:
            placed = self.fe.algo.place(call.account, call.body)
        except errors.ItemError as exc:
            raise _Envelope("1", "Operation failed.", [{"algoId": "", "sCode": exc.code, "sMsg": exc.msg}]) from None
        if self.fe.faults.slow_ack_ms:  # held by the venue at once, its answer late (as an order's)
            await asyncio.sleep(self.fe.faults.slow_ack_ms / 1000)
        return placed

    async def algo_cancel(self, call: Call) -> list[dict[str, Any]]:
        if not isinstance(call.body, list):
            raise OkxError("50002", "JSON syntax error")
        data = self.fe.algo.cancel(call.account, call.body)
        if any(d["sCode"] != "0" for d in data):
            raise _Envelope("1", "Operation failed.", data)
        return data

    async def algo_pending(self, call: Call) -> list[dict[str, Any]]:
        return self.fe.algo.listed(call.account, call.query, pending=True)

    async def algo_history(self, call: Call) -> list[dict[str, Any]]:
        return self.fe.algo.listed(call.account, call.query, pending=False)

    async def algo_detail(self, call: Call) -> list[dict[str, Any]]:
        return self.fe.algo.detail(call.account, call.query)

    async def cancel_all_after(self, call: Call) -> list[dict[str, Any]]:
        body = call.body if isinstance(call.body, dict) else {}
        raw = text(body, "timeOut")
        if not raw.isdigit():
            raise errors.param_error("timeOut")
        seconds = int(raw)
        if seconds and not CAA_MIN_S <= seconds <= CAA_MAX_S:
            raise errors.param_error("timeOut")
        tag = text(body, "tag")
        now = self.fe.exchange.now_ms()
        trigger = self.fe.set_countdown(call.account, seconds)
        return [{"triggerTime": str(trigger) if trigger else "0", "tag": tag, "ts": str(now)}]


class _Envelope(Exception):
    """A non-zero envelope code with per-item data (``1`` all failed, ``2`` partial)."""

    def __init__(self, code: str, msg: str, data: list[dict[str, Any]]) -> None:
        super().__init__(msg)
        self.code, self.msg, self.data = code, msg, data

    def response(self, in_us: int) -> web.Response:
        return envelope(self.code, self.msg, self.data, in_us)


def _limit(q: dict[str, str]) -> int:
    raw = q.get("limit", "")
    if not raw:
        return PAGE_MAX
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
        raise errors.param_error("limit")
    return int(raw)
