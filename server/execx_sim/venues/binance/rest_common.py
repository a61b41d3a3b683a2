"""REST plumbing shared by the Binance front-ends: parameter parsing with Binance's validation
errors, security types (NONE / USER_STREAM / SIGNED), weights and rate-limit headers, fault
injection and error bodies. Handlers receive a ``Call`` and return JSON-able data."""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, Literal

from aiohttp import web

from ...core.accounts import Account
from ...core.engine import Exchange
from ...core.faults import Faults
from ..common import dumps, fault_middleware, parse_query
from . import auth, errors
from .ratelimit import BinanceLimiter

log = logging.getLogger("execx_sim.binance")

# USER_STREAM_OR_SIGNED: an endpoint the docs list as USER_STREAM (API key only) that SDKs sign
# (``POST /sapi/v1/userListenToken``): a signature, when present, is verified like SIGNED.
Security = Literal["NONE", "USER_STREAM", "SIGNED", "USER_STREAM_OR_SIGNED"]
DECIMAL_RE = re.compile(r"^-?([0-9]{1,20})(\.[0-9]{1,20})?$")
INT_RE = re.compile(r"^-?[0-9]{1,20}$")


class Params:
    """Request parameters as strings, with typed getters that raise Binance's own errors."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values: dict[str, str] = {k: auth.ws_value(v) for k, v in values.items() if v is not None}

    @classmethod
    def of_texts(cls, values: dict[str, str]) -> Params:
        """Parameters that are all text already (a query string's, or converted by the caller): kept as
        they are, without a second pass over them."""
        params = cls.__new__(cls)
        params.values = values
        return params

    def __contains__(self, key: builtins.str) -> builtins.bool:
        return self.values.get(key, "") != ""

    def str(self, key: builtins.str, required: builtins.bool = False, default: builtins.str = "") -> builtins.str:
        value = self.values.get(key, "")
        if value == "":
            if required:
                raise errors.mandatory(key)
            return default
        return value

    def decimal(self, key: builtins.str, required: builtins.bool = False) -> Decimal | None:
        raw = self.str(key, required)
        if raw == "":
            return None
        if not DECIMAL_RE.match(raw):
            raise errors.illegal_decimal(key)
        value = Decimal(raw)
        if value < 0:
            raise errors.illegal_decimal(key)
        return value

    def int(
        self, key: builtins.str, required: builtins.bool = False, default: builtins.int | None = None
    ) -> builtins.int | None:
        raw = self.str(key, required)
        if raw == "":
            return default
        if not INT_RE.match(raw):
            raise errors.illegal_chars(key)
        return int(raw)

    def enum(
        self,
        key: builtins.str,
        allowed: tuple[builtins.str, ...],
        required: builtins.bool = False,
        default: builtins.str = "",
    ) -> builtins.str:
        raw = self.str(key, required, default)
        if raw and raw not in allowed:
            raise errors.invalid_param(key, raw)
        return raw

    def bool(self, key: builtins.str, default: builtins.bool = False) -> builtins.bool:
        raw = self.str(key).lower()
        if raw == "":
            return default
        if raw not in ("true", "false"):
            raise errors.invalid_param(key, raw)
        return raw == "true"


class Call:
    """One REST call: its parameters, the authenticated account (if any) and headers to add."""

    def __init__(self, request: web.Request, params: Params, account: Account | None) -> None:
        self.request = request
        self.params = params
        self._account = account
        self.headers: dict[str, str] = {}
        self.status = 200

    @property
    def account(self) -> Account:
        assert self._account is not None, "endpoint is not authenticated"
        return self._account

    @property
    def api_key(self) -> str | None:
        return self.request.headers.get("X-MBX-APIKEY")


Handler = Callable[[Call], Awaitable[Any]]


class BinanceHttp:
    """Builds an aiohttp application whose routes behave like Binance REST endpoints."""

    def __init__(self, exchange: Exchange, faults: Faults, limiter: BinanceLimiter, futures: bool) -> None:
        self.exchange = exchange
        self.faults = faults
        self.limiter = limiter
        self.futures = futures
        self.app = web.Application(middlewares=[fault_middleware(faults, self._fault_response)])

    def route(
        self,
        method: str,
        path: str,
        weight: int = 1,
        security: Security = "NONE",
    ) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            async def endpoint(request: web.Request) -> web.Response:
                return await self._dispatch(request, handler, weight, security)

            self.app.router.add_route(method, path, endpoint)
            return handler

        return decorate

    async def _dispatch(self, request: web.Request, handler: Handler, weight: int, security: Security) -> web.Response:
        headers: dict[str, str] = {}
        try:
            raw_query = request.raw_path.partition("?")[2]
            raw_body = (await request.read()).decode("utf-8", "replace") if request.can_read_body else ""
            values: dict[str, str] = dict(parse_query(raw_body)) if raw_body else {}
            values.update(parse_query(raw_query))  # query string wins over body
            params = Params.of_texts(values)
            headers.update(self.limiter.take("REQUEST_WEIGHT", request.remote or "?", weight))
            account: Account | None = None
            if security == "SIGNED" or (security == "USER_STREAM_OR_SIGNED" and "signature" in params):
                account = auth.authenticate_rest(
                    self.exchange,
                    request.headers.get("X-MBX-APIKEY"),
                    raw_query,
                    raw_body,
                    params.values,
                    self.exchange.now_ms(),
                )
            elif security in ("USER_STREAM", "USER_STREAM_OR_SIGNED"):
                account = auth.account_for_key(self.exchange, request.headers.get("X-MBX-APIKEY"))
            call = Call(request, params, account)
            result = await handler(call)
            headers.update(call.headers)
            return web.Response(
                text=dumps(result), status=call.status, headers=headers, content_type="application/json"
            )
        except errors.BinanceError as e:
            headers.update(e.headers)
            return web.Response(text=dumps(e.body()), status=e.status, headers=headers, content_type="application/json")
        except Exception:
            log.exception("binance.unhandled", extra={"path": request.path})
            err = errors.unknown_error()
            return web.Response(text=dumps(err.body()), status=err.status, content_type="application/json")

    def _fault_response(self, kind: str, request: web.Request) -> web.Response:
        retry = self.faults.retry_after_s
        if kind == "418":
            err = errors.banned(self.exchange.now_ms() + retry * 1000, retry)
        elif kind == "429":
            err = errors.too_many_requests(6000 if not self.futures else 2400, retry)
        else:
            err = errors.execution_unknown()
            err.status = self.faults.http_5xx_status
        return web.Response(
            text=dumps(err.body()), status=err.status, headers=err.headers, content_type="application/json"
        )
