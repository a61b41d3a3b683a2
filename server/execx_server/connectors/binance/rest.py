"""Binance REST endpoints (spot ``/api/v3``, cross margin ``/sapi/v1/margin``, USDⓈ-M ``/fapi``,
COIN-M ``/dapi``).

Methods are named after the endpoints and return the decoded JSON (typed by ``schemas``); every
failure is raised as ``Rejected`` / ``Retryable`` / ``OutcomeUnknown`` (see ``errors.py``). Every
parameter goes in the query string (allowed for POST/PUT/DELETE), so the signed payload is exactly
the query sent. Before sending, the weight limiter may refuse (``Retryable``) to stay clear of a
429; every answer's ``X-MBX-USED-WEIGHT-*`` / ``X-MBX-ORDER-COUNT-*`` headers feed it back, and
429/418 block it for ``Retry-After`` seconds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any, Protocol, cast

import aiohttp

from ...domain.venue import OutcomeUnknown, Rejected, Retryable, VenueError
from ..transport.ratelimit import Bucket, RateGate, WeightLimiter
from ..transport.rest import RestTransport, unreadable
from ..transport.telemetry import Telemetry
from . import parse
from .errors import classify, parse_retry_after
from .schemas import (
    ExchangeInfo,
    FuturesOrder,
    FuturesTrade,
    Params,
    PositionRisk,
    SpotAmendResponse,
    SpotCancelReplace,
    SpotOrder,
    SpotTrade,
)
from .signing import Signer
from .urls import Flavor

log = logging.getLogger("execx.connectors.binance")

MARGIN = "/sapi/v1/margin"
CROSS = ("isIsolated", "FALSE")  # cross margin (isolated margin is not used)
ORDER_COUNT_EXCEEDED = -1015  # "Too many new orders": the account's ORDERS limit, not the IP's weight
ORDER_WINDOW_S = 10.0  # Binance's shortest new-order window (10S)
DEFAULT_WEIGHT_LIMIT = {Flavor.SPOT: 6000, Flavor.USDM: 2400, Flavor.COINM: 2400}


class CancelReplaceFailed(Exception):
    """``cancelReplace`` answered -2021/-2022: ``data`` says which half failed."""

    def __init__(self, error: VenueError, data: SpotCancelReplace) -> None:
        super().__init__(error.message)
        self.error = error
        self.data = data


class OrderEntry(Protocol):
    """Binance's order-changing requests (submit, amend, cancel), with the same parameters and answers
    over REST (``BinanceRest``) and over the spot WebSocket API (``stream.WsOrderEntry``). The connector
    picks one for each request; failures are raised as ``Rejected`` / ``Retryable`` / ``OutcomeUnknown``
    (``CancelReplaceFailed`` for a half-failed cancel-replace)."""

    async def new_order(self, params: Params) -> Any: ...

    async def cancel_order(self, symbol: str, orig_client_order_id: str) -> Any: ...

    async def amend_keep_priority(self, symbol: str, cl_order_id: str, new_qty: Decimal) -> SpotAmendResponse: ...

    async def cancel_replace(self, params: Params) -> SpotCancelReplace: ...

    async def new_order_list(self, kind: str, params: Params) -> Any:
        """Spot: ``POST /api/v3/orderList/{kind}`` / ``orderList.place.{kind}`` (issue 20's native groups)."""
        ...

    async def cancel_order_list(self, symbol: str, list_client_order_id: str) -> Any:
        """Spot: ``DELETE /api/v3/orderList`` / ``orderList.cancel`` by ``listClientOrderId``."""
        ...


class BinanceRest:
    """Binance REST; an ``OrderEntry`` (spot, cross margin, futures)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, flavor: Flavor, signer: Signer) -> None:
        self.http = RestTransport(session, base_url)
        self.base = base_url
        self.flavor = flavor
        self.signer = signer
        self.prefix = {Flavor.SPOT: "/api/v3", Flavor.USDM: "/fapi/v1", Flavor.COINM: "/dapi/v1"}[flavor]
        self.weights = WeightLimiter()
        self.weights.set_limit("1M", DEFAULT_WEIGHT_LIMIT[flavor])
        self.orders = WeightLimiter(header_prefix="x-mbx-order-count-")
        # spot: trade the cross-margin account (``/sapi/v1/margin/...``, REST only: the WebSocket API has
        # no margin order entry)
        self.margin = False
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
        params: Params | None = None,
        *,
        signed: bool = True,
        api_key: bool = False,
        weight: int = 1,
        mutating: bool = False,
        order: bool = False,
    ) -> Any:
        """One request; its latency and outcome go to ``telemetry`` (endpoint = method + path)."""
        return await self.measure(
            f"{method} {path}", self._call(method, path, params, signed, api_key, weight, mutating, order)
        )

    async def measure(self, endpoint: str, request: Coroutine[Any, Any, Any]) -> Any:
        """Await one venue request (REST or WebSocket API): latency, outcome and weight headroom to telemetry."""
        try:
            return await self.http.measured(endpoint, request, rejected=(Rejected, CancelReplaceFailed))
        finally:
            self.telemetry.headroom(self.weights.headroom_fraction())

    def rate_limited(self, code: object, retry_after: float | None, reason: str) -> None:
        """A 429/418 (REST or websocket API). ``-1015`` is the account's new-order count: only new
        orders wait (the venue's Retry-After, else the shortest order window, 10 s); cancels,
        queries and the reconciliation sweep go on, or an order the venue ended would stay open
        here. Anything else is the IP's request weight (or a ban): every request waits, fleet-wide."""
        if code == ORDER_COUNT_EXCEEDED:
            self.orders.block(retry_after if retry_after is not None else ORDER_WINDOW_S, reason)
            return
        seconds = retry_after if retry_after is not None else 60.0
        self.weights.block(seconds, reason)
        if self.gate is not None:
            self.gate.venue_block(seconds, reason)

    def fleet_buckets(self, weight: int, order: bool) -> list[Bucket]:
        """The venue windows one request counts against, for the fleet's shared budget."""
        buckets = self.weights.buckets("w", weight, per_ip=True)  # Binance counts weight per IP, orders per account
        return buckets + self.orders.buckets("o", 1) if order else buckets

    async def _call(
        self,
        method: str,
        path: str,
        params: Params | None,
        signed: bool,
        api_key: bool,
        weight: int,
        mutating: bool,
        order: bool,
    ) -> Any:
        self.weights.check(weight)
        if order:
            self.orders.check(1)
        if self.gate is not None:
            await self.gate.acquire(self.fleet_buckets(weight, order), order=order)
        query = self.signer.signed_query(params or []) if signed else _urlencode(params or [])
        url = f"{self.base}{path}" + (f"?{query}" if query else "")
        headers = self.signer.headers() if (signed or api_key) else None
        answer = await self.http.send(method, url, path=path, mutating=mutating, headers=headers)
        text, status, resp_headers = answer.text, answer.status, answer.headers
        self.weights.update(resp_headers)
        if order:
            self.orders.update(resp_headers)
        if 200 <= status < 300:
            try:
                return json.loads(text) if text else {}
            except json.JSONDecodeError as exc:
                raise unreadable(method, path, mutating) from exc
        body = _json_or_none(text)
        code = body.get("code") if isinstance(body, dict) else None
        msg = str(body.get("msg", "")) if isinstance(body, dict) else text[:200]
        retry_after = parse_retry_after(resp_headers.get("Retry-After"))
        if status in (418, 429):
            self.rate_limited(code, retry_after, msg or f"HTTP {status}")
        error = classify(status, code if isinstance(code, int) else None, msg, retry_after)
        if isinstance(error, OutcomeUnknown) and not mutating:
            error = Retryable(error.message, error.code)  # a read changes nothing: asking again is safe
        if isinstance(body, dict) and isinstance(body.get("data"), dict) and code in (-2021, -2022):
            raise CancelReplaceFailed(error, cast(SpotCancelReplace, body["data"]))
        log.info("binance.rest.error", extra={"path": path, "status": status, "code": code})
        raise error

    # ------------------------------------------------------------------ reference data

    async def exchange_info(self) -> ExchangeInfo:
        info = cast(ExchangeInfo, await self.call("GET", f"{self.prefix}/exchangeInfo", signed=False, weight=20))
        for limit in info.get("rateLimits", []):
            key = f"{limit['intervalNum']}{limit['interval'][0]}"
            if limit["rateLimitType"] == "REQUEST_WEIGHT":
                self.weights.set_limit(key, limit["limit"])
            elif limit["rateLimitType"] == "ORDERS":
                self.orders.set_limit(key, limit["limit"])
        return info

    # ------------------------------------------------------------------ orders (all flavours)

    async def new_order(self, params: Params) -> Any:
        if self.margin:
            return await self.call("POST", f"{MARGIN}/order", [*params, CROSS], weight=6, mutating=True, order=True)
        return await self.call("POST", f"{self.prefix}/order", params, mutating=True, order=True)

    async def cancel_order(self, symbol: str, orig_client_order_id: str) -> Any:
        params = parse.cancel_params(symbol, orig_client_order_id)
        if self.margin:
            return await self.call("DELETE", f"{MARGIN}/order", [*params, CROSS], weight=10, mutating=True)
        return await self.call("DELETE", f"{self.prefix}/order", params, mutating=True)

    async def new_order_list(self, kind: str, params: Params) -> Any:
        """Spot order list: ``POST /api/v3/orderList/oco`` (its orders count as two)."""
        return await self.call("POST", f"{self.prefix}/orderList/{kind}", params, mutating=True, order=True)

    async def cancel_order_list(self, symbol: str, list_client_order_id: str) -> Any:
        """Spot order list: ``DELETE /api/v3/orderList`` (every order of the list still open)."""
        params = [("symbol", symbol), ("listClientOrderId", list_client_order_id)]
        return await self.call("DELETE", f"{self.prefix}/orderList", params, mutating=True)

    async def new_algo_order(self, params: Params) -> Any:
        """Futures conditional order: ``POST /fapi|dapi/v1/algoOrder`` (the Algo Order API)."""
        return await self.call("POST", f"{self.prefix}/algoOrder", params, mutating=True, order=True)

    async def cancel_algo_order(self, client_algo_id: str) -> Any:
        return await self.call("DELETE", f"{self.prefix}/algoOrder", [("clientAlgoId", client_algo_id)], mutating=True)

    async def query_algo_order(self, client_algo_id: str) -> Any:
        return await self.call("GET", f"{self.prefix}/algoOrder", [("clientAlgoId", client_algo_id)], weight=1)

    async def cancel_open_orders(self, symbol: str) -> Any:
        if self.margin:
            return await self.call("DELETE", f"{MARGIN}/openOrders", [("symbol", symbol), CROSS], mutating=True)
        path = f"{self.prefix}/openOrders" if self.flavor is Flavor.SPOT else f"{self.prefix}/allOpenOrders"
        return await self.call("DELETE", path, [("symbol", symbol)], mutating=True)

    async def query_order(
        self, symbol: str, *, orig_client_order_id: str = "", order_id: str = ""
    ) -> SpotOrder | FuturesOrder:
        params = parse.order_query_params(symbol, orig_client_order_id=orig_client_order_id, order_id=order_id)
        if self.margin:
            return cast(SpotOrder, await self.call("GET", f"{MARGIN}/order", [*params, CROSS], weight=10))
        weight = 4 if self.flavor is Flavor.SPOT else 1
        return cast(SpotOrder | FuturesOrder, await self.call("GET", f"{self.prefix}/order", params, weight=weight))

    async def open_orders(self, symbol: str | None) -> list[Any]:
        params = parse.open_orders_params(symbol)
        if self.margin:
            return cast(list[Any], await self.call("GET", f"{MARGIN}/openOrders", [*params, CROSS], weight=10))
        weight = (6 if symbol else 80) if self.flavor is Flavor.SPOT else (1 if symbol else 40)
        return cast(list[Any], await self.call("GET", f"{self.prefix}/openOrders", params, weight=weight))

    async def agg_trades(self, symbol: str, start_ms: int, end_ms: int) -> list[Any]:
        """Public ``aggTrades`` (spot ``/api/v3``, ``/fapi/v1``, ``/dapi/v1``; unsigned) of ``symbol`` from
        ``start_ms`` to ``end_ms``, oldest first, at most 1000 (``parse.agg_trades_params``)."""
        weight = 4 if self.flavor is Flavor.SPOT else 20
        params = parse.agg_trades_params(symbol, start_ms, end_ms)
        return cast(list[Any], await self.call("GET", f"{self.prefix}/aggTrades", params, signed=False, weight=weight))

    async def trades(
        self, symbol: str, start_time_ms: int | None = None, order_id: str = "", from_id: int | None = None
    ) -> list[Any]:
        """Spot ``myTrades`` / futures ``userTrades`` of ``symbol`` (of one order, from a trade id, or
        from ``start_time_ms``), oldest first, at most 1000."""
        params = parse.trades_params(symbol, start_time_ms, order_id, from_id)
        if self.margin:
            return cast(list[SpotTrade], await self.call("GET", f"{MARGIN}/myTrades", [*params, CROSS], weight=10))
        if self.flavor is Flavor.SPOT:
            rows = await self.call("GET", "/api/v3/myTrades", params, weight=5 if order_id else 20)
            return cast(list[SpotTrade], rows)
        rows = await self.call("GET", f"{self.prefix}/userTrades", params, weight=5)
        return cast(list[FuturesTrade], rows)

    # ------------------------------------------------------------------ spot amend

    async def amend_keep_priority(self, symbol: str, cl_order_id: str, new_qty: Decimal) -> SpotAmendResponse:
        params = parse.keep_priority_params(symbol, cl_order_id, new_qty)
        return cast(
            SpotAmendResponse,
            await self.call("PUT", "/api/v3/order/amend/keepPriority", params, weight=4, mutating=True),
        )

    async def cancel_replace(self, params: Params) -> SpotCancelReplace:
        return cast(
            SpotCancelReplace,
            await self.call("POST", "/api/v3/order/cancelReplace", params, mutating=True, order=True),
        )

    async def new_user_listen_token(self) -> str:
        """Cross margin: a ``listenToken`` for ``userDataStream.subscribe.listenToken`` (valid 24 h).
        The docs list the endpoint as USER_STREAM; the official SDKs sign it, and so do we."""
        data = await self.call("POST", "/sapi/v1/userListenToken", [CROSS])
        return str(data["token"])

    # ------------------------------------------------------------------ futures

    async def modify_order(self, params: Params) -> FuturesOrder:
        return cast(FuturesOrder, await self.call("PUT", f"{self.prefix}/order", params, mutating=True))

    async def countdown_cancel_all(self, symbol: str, countdown_ms: int) -> Any:
        """Futures' dead-man switch: every open order of ``symbol`` is cancelled ``countdown_ms`` from now
        unless this is called again (0: off). Weight 10."""
        params = [("symbol", symbol), ("countdownTime", str(countdown_ms))]
        return await self.call("POST", f"{self.prefix}/countdownCancelAll", params, weight=10, mutating=True)

    async def position_risk(self) -> list[PositionRisk]:
        path = "/fapi/v3/positionRisk" if self.flavor is Flavor.USDM else "/dapi/v1/positionRisk"
        return cast(list[PositionRisk], await self.call("GET", path, weight=5))

    async def new_listen_key(self) -> str:
        data = await self.call("POST", f"{self.prefix}/listenKey", signed=False, api_key=True, mutating=True)
        return str(data["listenKey"])

    async def keepalive_listen_key(self, listen_key: str) -> None:
        await self.call("PUT", f"{self.prefix}/listenKey", [("listenKey", listen_key)], signed=False, api_key=True)

    async def close_listen_key(self, listen_key: str) -> None:
        await self.call("DELETE", f"{self.prefix}/listenKey", [("listenKey", listen_key)], signed=False, api_key=True)


def _urlencode(params: Params) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None
