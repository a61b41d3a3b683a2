"""Bybit v5 REST endpoints. Methods are named after the endpoints and return the envelope's
``result`` (typed by ``schemas``); every failure is raised as ``Rejected`` / ``Retryable`` /
``OutcomeUnknown`` (``errors.py``).

GET parameters go in the query string in the order given (the signed payload is exactly the query
sent); POST bodies are compact JSON, signed as sent. After a rate-limit answer (``10006``, HTTP 403 /
429) every request is refused locally (``Retryable``) until the venue's
``X-Bapi-Limit-Reset-Timestamp``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import quote

import aiohttp
from yarl import URL

from ...domain.venue import Retryable, VenueError
from ..transport.ratelimit import Bucket, RateGate, WeightLimiter, anchored_bucket
from ..transport.rest import RestTransport
from ..transport.telemetry import Telemetry
from .errors import classify, reset_wait_s
from .schemas import ExecutionRow, InstrumentRow, OrderRow, Params, PositionRow
from .signing import Signer

PAGE_MAX = {"realtime": 50, "history": 50, "execution": 100}
PAGES_MAX = 50  # at most this many pages per listing (then the caller sees what it got)
# Bybit's documented defaults per UID, endpoint and second (bybit.md §8); the X-Bapi-Limit header of each
# answer gives the account's real figure, which then replaces them
ORDER_PATHS = frozenset(
    f"/v5/order/{op}"
    for op in ("create", "amend", "cancel", "cancel-all", "create-batch", "amend-batch", "cancel-batch")
)
ORDER_LIMIT, SPOT_ORDER_LIMIT, QUERY_LIMIT = 10, 20, 50


class BatchItem:
    """One item of a batch answer: ``result.list[i]`` with ``retExtInfo.list[i]``."""

    __slots__ = ("code", "msg", "row")

    def __init__(self, row: dict[str, Any], code: int, msg: str) -> None:
        self.row, self.code, self.msg = row, code, msg

    def error(self) -> VenueError | None:
        """The item's own outcome when the venue refused it (the outcome policy of ``errors.classify``)."""
        return classify(200, self.code, self.msg, mutating=True) if self.code else None


def batch_items(result: Any, ext: Any) -> list[BatchItem]:
    """A batch answer (REST ``result`` / ``retExtInfo``, or the ``/v5/trade`` reply's ``data`` /
    ``retExtInfo``) as one ``BatchItem`` per answered request item, in request order."""
    rows = result.get("list", []) if isinstance(result, dict) else []
    infos = ext.get("list", []) if isinstance(ext, dict) else []
    return [
        BatchItem(row, int(info.get("code", 0)), str(info.get("msg", "")))
        for row, info in zip(rows, infos, strict=False)
    ]


class BybitRest:
    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, signer: Signer, clock_ms: Callable[[], int]
    ) -> None:
        self.http = RestTransport(session, base_url)
        self.base = base_url
        self.signer = signer
        self.clock_ms = clock_ms
        self.limiter = WeightLimiter()  # no windows: only the venue's "wait until" after a rate-limit answer
        self.gate: RateGate | None = None  # fleet mode: the account's budget shared with other execx (fleet/)
        self.limits: dict[str, int] = {}  # "category:path" -> the venue's X-Bapi-Limit

    @property
    def telemetry(self) -> Telemetry:
        return self.http.telemetry

    @telemetry.setter
    def telemetry(self, value: Telemetry) -> None:
        self.http.telemetry = value

    async def call(self, method: str, path: str, params: Params, *, signed: bool = True, mutating: bool = False) -> Any:
        """One request; returns ``(result, retExtInfo)``."""
        return await self.http.measured(f"{method} {path}", self._call(method, path, params, signed, mutating))

    def fleet_buckets(self, path: str, params: Params) -> list[Bucket]:
        """The venue window one request counts against (per endpoint and category; a batch counts its
        items), for the fleet's shared budget. Bybit's 1-second windows start at the first request, not
        on the epoch (``anchored_bucket``)."""
        category = str(params.get("category") or "spot")
        units = len(params["request"]) if isinstance(params.get("request"), list) else 1
        key = f"{category}:{path}"
        default = QUERY_LIMIT
        if path in ORDER_PATHS:
            default = SPOT_ORDER_LIMIT if category == "spot" else ORDER_LIMIT
        return [anchored_bucket(key, self.limits.get(key, default), 1.0, units)]

    def batch_cap(self, action: str, category: str) -> int:
        """Fleet mode: the most items one ``{action}-batch`` may carry to fit the shared budget's window
        (a bigger one could never be sent); 0: no cap."""
        if self.gate is None:
            return 0
        return self.fleet_buckets(f"/v5/order/{action}-batch", {"category": category})[0].limit

    async def draw(self, path: str, params: Params, mutating: bool) -> None:
        """Fleet mode: count the request in the account's shared budget first (``Retryable``: not sent)."""
        if self.gate is not None:
            await self.gate.acquire(self.fleet_buckets(path, params), order=mutating)

    def limited(self, path: str, params: Params, limit: str | None, error: VenueError | None) -> None:
        """After an answer: keep the venue's limit for the endpoint; a rate-limit refusal holds this execx
        (and, in fleet mode, every execx on the account) until the venue's reset."""
        if limit is not None and limit.isdigit():
            self.limits[f"{params.get('category') or 'spot'}:{path}"] = int(limit)
        if isinstance(error, Retryable) and error.retry_after_s:
            self.limiter.block(error.retry_after_s, f"rate limited by Bybit: {error.message}")
            if self.gate is not None:
                self.gate.venue_block(error.retry_after_s, f"Bybit {error.message}")

    async def _call(self, method: str, path: str, params: Params, signed: bool, mutating: bool) -> Any:
        self.limiter.check()
        if signed:
            await self.draw(path, params, mutating)
        clean = {k: v for k, v in params.items() if v is not None}
        if method == "GET":
            payload = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in clean.items())
            url = URL(f"{self.base}{path}" + (f"?{payload}" if payload else ""), encoded=True)
            body = None
        else:
            payload = json.dumps(clean, separators=(",", ":"))
            url, body = URL(f"{self.base}{path}", encoded=True), payload
        headers = self.signer.rest_headers(payload) if signed else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        answer = await self.http.send(method, url, path=path, mutating=mutating, data=body, headers=headers)
        text, status = answer.text, answer.status
        reset = answer.headers.get("X-Bapi-Limit-Reset-Timestamp")
        data: Any = None
        try:
            data = json.loads(text) if text else None
        except json.JSONDecodeError:
            data = None
        code = data.get("retCode") if isinstance(data, dict) else None
        msg = str(data.get("retMsg", "")) if isinstance(data, dict) else text[:200]
        error = None
        if status != 200 or code != 0:
            error = classify(
                status,
                code if isinstance(code, int) else None,
                msg,
                mutating=mutating,
                retry_after_s=reset_wait_s(reset, self.clock_ms()),
            )
        self.limited(path, params, answer.headers.get("X-Bapi-Limit"), error)
        if error is not None:
            raise error
        return data.get("result") or {}, data.get("retExtInfo") or {}

    async def result(self, method: str, path: str, params: Params, **kw: Any) -> Any:
        result, _ = await self.call(method, path, params, **kw)
        return result

    # ------------------------------------------------------------------ market

    async def instruments_info(self, category: str) -> list[InstrumentRow]:
        rows: list[InstrumentRow] = []
        cursor = ""
        for _ in range(PAGES_MAX):
            params: Params = {"category": category, "limit": 1000 if category == "option" else 500}
            if cursor:
                params["cursor"] = cursor
            result = await self.result("GET", "/v5/market/instruments-info", params, signed=False)
            rows.extend(cast(list[InstrumentRow], result.get("list", [])))
            cursor = result.get("nextPageCursor", "")
            if not cursor:
                break
        return rows

    async def recent_trade(self, params: Params) -> list[dict[str, Any]]:
        """``GET /v5/market/recent-trade`` (public; ``parse.recent_trade_params``): the newest trades, newest first."""
        result = await self.result("GET", "/v5/market/recent-trade", params, signed=False)
        return cast(list[dict[str, Any]], result.get("list", []))

    async def tickers(self, params: Params) -> list[dict[str, Any]]:
        """``GET /v5/market/tickers`` (public; ``parse.ticker_params``)."""
        result = await self.result("GET", "/v5/market/tickers", params, signed=False)
        return cast(list[dict[str, Any]], result.get("list", []))

    # ------------------------------------------------------------------ orders

    async def order_create(self, params: Params) -> dict[str, str]:
        return cast(dict[str, str], await self.result("POST", "/v5/order/create", params, mutating=True))

    async def order_amend(self, params: Params) -> dict[str, str]:
        return cast(dict[str, str], await self.result("POST", "/v5/order/amend", params, mutating=True))

    async def order_cancel(self, params: Params) -> dict[str, str]:
        return cast(dict[str, str], await self.result("POST", "/v5/order/cancel", params, mutating=True))

    async def order_cancel_all(self, params: Params) -> list[dict[str, str]]:
        result = await self.result("POST", "/v5/order/cancel-all", params, mutating=True)
        return cast(list[dict[str, str]], result.get("list", []))

    async def disconnected_cancel_all(self, product: str, time_window_s: int) -> None:
        """DCP's window for ``product`` (OPTIONS, DERIVATIVES, SPOT), 3-300 s."""
        await self.result(
            "POST", "/v5/order/disconnected-cancel-all", {"product": product, "timeWindow": time_window_s}
        )

    async def batch(self, action: str, category: str, items: list[Params]) -> list[BatchItem]:
        """``/v5/order/{create,amend,cancel}-batch``: one ``BatchItem`` per request item, in order."""
        result, ext = await self.call(
            "POST", f"/v5/order/{action}-batch", {"category": category, "request": items}, mutating=True
        )
        return batch_items(result, ext)

    async def order_realtime(self, params: Params) -> list[OrderRow]:
        return cast(list[OrderRow], await self._pages("/v5/order/realtime", params, PAGE_MAX["realtime"]))

    async def order_history(self, params: Params) -> list[OrderRow]:
        return cast(list[OrderRow], await self._pages("/v5/order/history", params, PAGE_MAX["history"], 1))

    async def execution_list(self, params: Params, pages: int = PAGES_MAX) -> list[ExecutionRow]:
        return cast(list[ExecutionRow], await self._pages("/v5/execution/list", params, PAGE_MAX["execution"], pages))

    async def position_list(self, params: Params) -> list[PositionRow]:
        return cast(list[PositionRow], await self._pages("/v5/position/list", params, 200))

    async def wallet_balance(self) -> Any:
        return await self.result("GET", "/v5/account/wallet-balance", {"accountType": "UNIFIED"})

    async def _pages(self, path: str, params: Params, limit: int, pages: int = PAGES_MAX) -> list[Any]:
        rows: list[Any] = []
        cursor = ""
        for _ in range(pages):
            query = {**params, "limit": limit}
            if cursor:
                query["cursor"] = cursor
            result = await self.result("GET", path, query)
            rows.extend(result.get("list", []))
            cursor = result.get("nextPageCursor", "")
            if not cursor:
                break
        return rows
