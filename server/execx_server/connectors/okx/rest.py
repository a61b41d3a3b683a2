"""OKX v5 REST endpoints. Methods are named after the endpoints and return the envelope's ``data``;
failures are raised as ``Rejected`` / ``Retryable`` / ``OutcomeUnknown`` (``errors.py``).

Batch endpoints (``batch-orders``, ``cancel-batch-orders``) return every item's result, successful
or not (envelope code ``0`` / ``1`` / ``2``): the caller reads each ``sCode``. Single-order
endpoints raise for a failed item. After a 429 / ``50011`` every request is refused locally for the
2-second window (``Retryable``; nothing is sent).
"""

from __future__ import annotations

import json
from typing import Any, cast
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from ..transport.ratelimit import Bucket, RateGate, WeightLimiter, epoch_bucket
from ..transport.rest import RestTransport
from ..transport.telemetry import Telemetry
from . import parse
from .errors import RATE_LIMIT_WINDOW_S, classify
from .schemas import FillRow, InstrumentRow, ItemResult, OrderRow, PositionRow
from .signing import Signer

PAGE = 100
# OKX's limits (okx.md §9), per user in 2-second windows aligned on the epoch: place, cancel and amend
# each per instrument (a batch counts its orders in BATCH); other private reads per endpoint
WINDOW_S, ORDER_LIMIT, BATCH_LIMIT, REQUEST_LIMIT = 2.0, 60, 300, 60
ORDER_OPS = {  # REST path tail or WebSocket op -> (op, batch)
    "order": ("place", False),
    "batch-orders": ("place", True),
    "cancel-order": ("cancel", False),
    "cancel-batch-orders": ("cancel", True),
    "batch-cancel-orders": ("cancel", True),
    "amend-order": ("amend", False),
    "amend-batch-orders": ("amend", True),
    "batch-amend-orders": ("amend", True),
}


def fleet_buckets(name: str, items: list[Any]) -> list[Bucket]:
    """The venue windows an order operation (``ORDER_OPS``) on ``items`` counts against, for the fleet's
    shared budget: one per instrument."""
    op, batch = ORDER_OPS[name]
    kind = "BATCH" if batch and len(items) > 1 else "ORDERS"
    limit, cost = (BATCH_LIMIT, len(items)) if kind == "BATCH" else (ORDER_LIMIT, 1)
    instruments = sorted({str(i.get("instId") or i.get("instIdCode")) for i in items if isinstance(i, dict)})
    return [epoch_bucket(f"{op}:{kind}:{inst}", limit, WINDOW_S, cost) for inst in instruments]


class OkxRest:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, signer: Signer) -> None:
        self.http = RestTransport(session, base_url)
        self.base = base_url
        self.signer = signer
        self.limiter = WeightLimiter()
        self.gate: RateGate | None = None  # fleet mode: the account's budget shared with other execx (fleet/)

    # ------------------------------------------------------------------ plumbing

    @property
    def telemetry(self) -> Telemetry:
        return self.http.telemetry

    @telemetry.setter
    def telemetry(self, value: Telemetry) -> None:
        self.http.telemetry = value

    async def call(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: Any = None,
        *,
        signed: bool = True,
        raw_body: str | None = None,
        items: bool = False,
    ) -> list[Any]:
        """One request; ``items``: return the data of a batch answer whatever its code (0/1/2)."""
        return await self.http.measured(
            f"{method} {path}", self._call(method, path, query, body, signed, raw_body, items)
        )

    async def _call(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None,
        body: Any,
        signed: bool,
        raw_body: str | None,
        items: bool,
    ) -> list[Any]:
        self.limiter.check()
        mutating = method == "POST"
        if self.gate is not None and signed:
            await self.draw(method, path, body if raw_body is None else json.loads(raw_body))
        qs = urlencode({k: v for k, v in (query or {}).items() if v != ""})
        path_qs = f"{path}?{qs}" if qs else path
        text_body = raw_body if raw_body is not None else (json.dumps(body, separators=(",", ":")) if mutating else "")
        headers = self.signer.rest_headers(method, path_qs, text_body) if signed else self.signer.public_headers()
        if mutating and not signed:
            headers["Content-Type"] = "application/json"
        answer = await self.http.send(
            method,
            URL(f"{self.base}{path_qs}", encoded=True),
            path=path,
            mutating=mutating,
            data=text_body.encode() if mutating else None,
            headers=headers,
        )
        status, text = answer.status, answer.text
        try:
            envelope = json.loads(text)
            code, msg, data = str(envelope.get("code", "")), str(envelope.get("msg", "")), envelope.get("data")
        except (ValueError, AttributeError):
            envelope, code, msg, data = None, "", text[:200], None
        if status == 429 or code == "50011":
            self.block(f"OKX rate limit: {msg or 'Too Many Requests'}")
        if status != 200 or envelope is None:
            raise classify(status, code, msg, mutating)
        if not isinstance(data, list):
            data = []
        if code == "0" or (items and code in ("1", "2") and data):
            return data
        if code == "1" and data and isinstance(data[0], dict) and data[0].get("sCode"):
            first = data[0]
            raise classify(status, str(first["sCode"]), str(first.get("sMsg", "")), mutating)
        raise classify(status, code, msg, mutating)

    async def draw(self, method: str, path: str, body: Any) -> None:
        """Fleet mode: count the request in the account's shared budget first (``Retryable``: not sent).
        ``path``: a REST path or a WebSocket order op."""
        if self.gate is None:
            return
        name = path.rpartition("/")[2]
        if method == "GET":
            await self.gate.acquire([epoch_bucket(f"req:{path}", REQUEST_LIMIT, WINDOW_S)], order=False)
        elif name in ORDER_OPS and (method == "WS" or path.startswith("/api/v5/trade/")):
            items = body if isinstance(body, list) else [body]
            await self.gate.acquire(fleet_buckets(name, items), order=True)

    def block(self, reason: str) -> None:
        """A 429 / ``50011``: this execx (and, in fleet mode, every execx on the account) waits out the
        window; OKX sends no Retry-After."""
        self.limiter.block(RATE_LIMIT_WINDOW_S, reason)
        if self.gate is not None:
            self.gate.venue_block(RATE_LIMIT_WINDOW_S, reason)

    # ------------------------------------------------------------------ public

    async def history_trades(self, inst_id: str, after_trade_id: str = "") -> list[Any]:
        """``GET /api/v5/market/history-trades`` (public): 100 trades, newest first, before ``after_trade_id``."""
        params = parse.history_trades_params(inst_id, after_trade_id)
        return await self.call("GET", "/api/v5/market/history-trades", params, signed=False)

    async def instruments(self, inst_type: str) -> list[InstrumentRow]:
        rows = await self.call("GET", "/api/v5/public/instruments", {"instType": inst_type}, signed=False)
        return cast(list[InstrumentRow], rows)

    # ------------------------------------------------------------------ account

    async def account_config(self) -> list[dict[str, Any]]:
        return await self.call("GET", "/api/v5/account/config")

    async def positions(self, inst_type: str = "") -> list[PositionRow]:
        query = parse.positions_query(inst_type)
        return cast(list[PositionRow], await self.call("GET", "/api/v5/account/positions", query))

    async def balance(self) -> list[dict[str, Any]]:
        return await self.call("GET", "/api/v5/account/balance")

    # ------------------------------------------------------------------ trading

    async def order(self, item: dict[str, str]) -> ItemResult:
        return cast(ItemResult, (await self.call("POST", "/api/v5/trade/order", body=item))[0])

    async def batch_orders(self, items: list[dict[str, str]]) -> list[ItemResult]:
        return cast(list[ItemResult], await self.call("POST", "/api/v5/trade/batch-orders", body=items, items=True))

    async def cancel_order(self, item: dict[str, str]) -> ItemResult:
        return cast(ItemResult, (await self.call("POST", "/api/v5/trade/cancel-order", body=item))[0])

    async def cancel_batch_orders(self, raw_body: str) -> list[ItemResult]:
        """``raw_body``: a ready-made JSON array of ≤ 20 ``{"instId", "clOrdId"}`` items (``pull.py``)."""
        rows = await self.call("POST", "/api/v5/trade/cancel-batch-orders", raw_body=raw_body, items=True)
        return cast(list[ItemResult], rows)

    async def amend_order(self, item: dict[str, str]) -> ItemResult:
        return cast(ItemResult, (await self.call("POST", "/api/v5/trade/amend-order", body=item))[0])

    async def order_algo(self, item: dict[str, str]) -> ItemResult:
        """An algo order (``POST /api/v5/trade/order-algo``): a native contingent order."""
        return cast(ItemResult, (await self.call("POST", "/api/v5/trade/order-algo", body=item))[0])

    async def cancel_algos(self, items: list[dict[str, str]]) -> list[ItemResult]:
        return cast(list[ItemResult], await self.call("POST", "/api/v5/trade/cancel-algos", body=items, items=True))

    async def get_algo_order(self, algo_cl_ord_id: str) -> dict[str, Any]:
        rows = await self.call("GET", "/api/v5/trade/order-algo", {"algoClOrdId": algo_cl_ord_id})
        return cast(dict[str, Any], rows[0])

    async def cancel_all_after(self, timeout_s: int) -> list[dict[str, Any]]:
        return await self.call("POST", "/api/v5/trade/cancel-all-after", body={"timeOut": str(timeout_s)})

    # ------------------------------------------------------------------ queries

    async def get_order(self, inst_id: str, cl_ord_id: str = "", ord_id: str = "") -> OrderRow:
        query = parse.order_query(inst_id, cl_ord_id, ord_id)
        return cast(OrderRow, (await self.call("GET", "/api/v5/trade/order", query))[0])

    async def orders_pending(self, inst_id: str = "") -> list[OrderRow]:
        """Every live order (all pages, newest first)."""
        rows: list[OrderRow] = []
        after = ""
        while True:
            page = cast(
                list[OrderRow],
                await self.call("GET", "/api/v5/trade/orders-pending", parse.pending_query(inst_id, after)),
            )
            rows += page
            if len(page) < PAGE:
                return rows
            after = page[-1]["ordId"]

    async def fills(
        self, inst_id: str = "", ord_id: str = "", begin_ms: int | None = None, max_rows: int = 20_000
    ) -> list[FillRow]:
        """Fills (last 3 days), newest first, following ``after`` (billId) pages."""
        rows: list[FillRow] = []
        after = ""
        while len(rows) < max_rows:
            query = parse.fills_query(inst_id, ord_id, begin_ms, after)
            page = cast(list[FillRow], await self.call("GET", "/api/v5/trade/fills", query))
            rows += page
            if len(page) < PAGE:
                break
            after = page[-1]["billId"]
        return rows
