"""Bybit v5 REST (``api.bybit.com``): one host for every category, the ``retCode``/``retMsg``/
``result``/``retExtInfo``/``time`` envelope, ``X-BAPI-*`` signing, per-UID rate limits and the
fault switchboard of the request's category (``../shared/venues/bybit.md`` §3, §7, §8).

Requests without a category (wallet balance, server time) use the spot category's faults.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ...core.accounts import Account
from ...core.types import Order, OrderStatus
from ..common import dumps, loads, parse_query
from . import auth, dcp, errors, wire
from .errors import BybitError
from .instruments import CATEGORIES
from .trading import category_of, decimal, text

if TYPE_CHECKING:
    from .frontend import BybitVenue

log = logging.getLogger("execx_sim.bybit")

QUERY_LIMIT_MAX = {"realtime": 50, "history": 50, "execution": 100, "instruments": 1000}


@dataclass
class Call:
    request: web.Request
    params: dict[str, Any]
    account_: Account | None
    category: str
    headers: dict[str, str] = field(default_factory=dict)
    ext: dict[str, Any] = field(default_factory=dict)  # retExtInfo

    @property
    def account(self) -> Account:
        assert self.account_ is not None, "endpoint is not authenticated"
        return self.account_


Handler = Callable[[Call], Awaitable[Any]]


def envelope(code: int, msg: str, result: Any, ext: dict[str, Any], now_ms: int) -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": ext, "time": now_ms}


def page(rows: list[Any], params: dict[str, Any], default: int, maximum: int) -> tuple[list[Any], str]:
    """One page of ``rows`` and the cursor of the next ("" at the end). Cursors are opaque offsets."""
    limit_text = text(params, "limit")
    limit = int(limit_text) if limit_text.isdigit() else default
    if not 1 <= limit <= maximum:
        raise errors.param(f"limit must be in [1, {maximum}]")
    cursor = text(params, "cursor")
    start = int(cursor) if cursor.isdigit() else 0
    chunk = rows[start : start + limit]
    return chunk, (str(start + limit) if start + limit < len(rows) else "")


class BybitHttp:
    def __init__(self, venue: BybitVenue) -> None:
        self.venue = venue
        self.app = web.Application()
        self._routes()

    def route(self, method: str, path: str, private: bool, kind: str = "") -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            async def endpoint(request: web.Request) -> web.Response:
                return await self._dispatch(request, handler, private, kind, path)

            self.app.router.add_route(method, path, endpoint)
            return handler

        return decorate

    async def _dispatch(
        self, request: web.Request, handler: Handler, private: bool, kind: str, path: str
    ) -> web.Response:
        venue = self.venue
        now = venue.now_ms()
        headers: dict[str, str] = {}
        try:
            if request.method == "GET":
                payload = request.raw_path.partition("?")[2]
                params: dict[str, Any] = dict(parse_query(payload))
            else:
                payload = await request.text()
                try:
                    body = loads(payload) if payload else {}
                except json.JSONDecodeError:
                    raise errors.param("request body is not valid JSON") from None
                if not isinstance(body, dict):
                    raise errors.param("request body must be a JSON object")
                params = body
            raw_category = params.get("category")
            category = raw_category if raw_category in CATEGORIES else "spot"
            faults = venue.faults(category)
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            if faults.take("ban"):
                return web.Response(text="access too frequent", status=403)
            if faults.take("rate_limit"):
                reset = now + faults.retry_after_s * 1000
                raise BybitError(
                    errors.RATE,
                    "Too many visits. Exceeded the API Rate Limit.",
                    headers={
                        "X-Bapi-Limit": "10",
                        "X-Bapi-Limit-Status": "0",
                        "X-Bapi-Limit-Reset-Timestamp": str(reset),
                    },
                )
            if faults.take("http_5xx"):
                return web.Response(text="Service Unavailable", status=faults.http_5xx_status)
            account = auth.authenticate_rest(venue.exchange, request.headers, payload, now) if private else None
            if kind and account is not None:
                units = len(params["request"]) if isinstance(params.get("request"), list) else 1
                headers.update(venue.limiter.take(kind, account.account_id, path, category, units, now))
            call = Call(request, params, account, category)
            result = await handler(call)
            if kind == "ORDER" and faults.take("unknown_outcome"):
                return web.Response(text="Bad Gateway", status=502)
            if kind == "ORDER" and faults.slow_ack_ms:
                await asyncio.sleep(faults.slow_ack_ms / 1000)
            headers.update(call.headers)
            return self._json(envelope(0, "OK", result, call.ext, venue.now_ms()), 200, headers)
        except BybitError as e:
            headers.update(e.headers)
            return self._json(envelope(e.code, e.msg, {}, {}, venue.now_ms()), e.status, headers)
        except Exception:
            log.exception("bybit.unhandled", extra={"path": request.path})
            return self._json(envelope(errors.SERVER, "Internal System Error.", {}, {}, venue.now_ms()), 200, headers)

    @staticmethod
    def _json(data: Any, status: int, headers: dict[str, str]) -> web.Response:
        return web.Response(text=dumps(data), status=status, headers=headers, content_type="application/json")

    # ------------------------------------------------------------------ routes

    def _routes(self) -> None:
        venue = self.venue
        trading = venue.trading
        route = self.route

        @route("GET", "/v5/market/time", private=False)
        async def server_time(call: Call) -> Any:
            now = venue.now_ms()
            return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

        @route("GET", "/v5/market/instruments-info", private=False)
        async def instruments_info(call: Call) -> Any:
            category = category_of(call.params)
            market = trading.market(category)
            symbol, base = text(call.params, "symbol"), text(call.params, "baseCoin")
            rows = [
                wire.instrument(inst, category, venue.launch_ms)
                for inst in market.instruments.values()
                if (not symbol or inst.symbol == symbol) and (not base or inst.base == base)
            ]
            chunk, cursor = page(rows, call.params, 500, QUERY_LIMIT_MAX["instruments"])
            return {"category": category, "list": chunk, "nextPageCursor": cursor}

        @route("POST", "/v5/order/create", private=True, kind="ORDER")
        async def create(call: Call) -> Any:
            category = category_of(call.params)
            return trading.ack(category, trading.create(call.account, category, call.params))

        @route("POST", "/v5/order/amend", private=True, kind="ORDER")
        async def amend(call: Call) -> Any:
            category = category_of(call.params)
            return trading.ack(category, trading.amend(call.account, category, call.params))

        @route("POST", "/v5/order/cancel", private=True, kind="ORDER")
        async def cancel(call: Call) -> Any:
            category = category_of(call.params)
            return trading.ack(category, trading.cancel(call.account, category, call.params))

        @route("POST", "/v5/order/cancel-all", private=True, kind="ORDER")
        async def cancel_all(call: Call) -> Any:
            category = category_of(call.params)
            cancelled = trading.cancel_all(call.account, category, call.params)
            return {"list": [trading.ack(category, o) for o in cancelled], "success": "1"}

        @route("POST", "/v5/order/disconnected-cancel-all", private=True)
        async def disconnected_cancel_all(call: Call) -> Any:
            """DCP's window of one product (dcp.py); ``product`` defaults to OPTIONS."""
            product = text(call.params, "product") or "OPTIONS"
            if product not in dcp.PRODUCTS:
                raise errors.param(f"product must be one of {', '.join(dcp.PRODUCTS)}")
            window = call.params.get("timeWindow")
            if isinstance(window, str) and window.isdigit():
                window = int(window)
            if not isinstance(window, int) or isinstance(window, bool):
                raise errors.param("timeWindow is required (an integer, seconds)")
            if not dcp.WINDOW_MIN_S <= window <= dcp.WINDOW_MAX_S:
                raise errors.param(f"timeWindow must be in [{dcp.WINDOW_MIN_S}, {dcp.WINDOW_MAX_S}]")
            assert call.account is not None  # a private route
            venue.dcp.set_window(call.account, product, window)
            return {}

        def batch(op: Callable[[Account, str, dict[str, Any]], Order]) -> Handler:
            async def handler(call: Call) -> Any:
                category = category_of(call.params)
                results, infos = trading.batch(call.account, category, call.params, op)
                call.ext = {"list": infos}
                return {"list": results}

            return handler

        route("POST", "/v5/order/create-batch", private=True, kind="ORDER")(batch(trading.create))
        route("POST", "/v5/order/amend-batch", private=True, kind="ORDER")(batch(trading.amend))
        route("POST", "/v5/order/cancel-batch", private=True, kind="ORDER")(batch(trading.cancel))

        def orders_of(call: Call, category: str) -> list[Order]:
            market = trading.market(category)
            p = call.params
            symbol, base, settle = text(p, "symbol"), text(p, "baseCoin"), text(p, "settleCoin")
            oid, link = text(p, "orderId"), text(p, "orderLinkId")
            orders = [
                o
                for o in market.account_orders(call.account)
                if (not symbol or o.symbol == symbol)
                and (not base or market.instruments[o.symbol].base == base)
                and (not settle or market.instruments[o.symbol].settle == settle)
                and (not oid or wire.order_id(category, o.order_id) == oid)
                and (not link or wire.link_id(o) == link)
            ]
            orders.sort(key=lambda o: (o.created_ms, o.order_id), reverse=True)
            return orders

        @route("GET", "/v5/order/realtime", private=True, kind="QUERY")
        async def realtime(call: Call) -> Any:
            category = category_of(call.params)
            p = call.params
            if category == "linear" and not any(text(p, k) for k in ("symbol", "baseCoin", "settleCoin")):
                raise errors.param("Missing some parameters that must be filled in, symbol or settleCoin or baseCoin")
            open_only = text(p, "openOnly") or "0"
            if open_only not in ("0", "1", "2"):
                raise errors.param("openOnly invalid")
            by_id = bool(text(p, "orderId") or text(p, "orderLinkId"))
            orders = orders_of(call, category)
            order_filter = text(p, "orderFilter")
            if order_filter == "StopOrder":
                orders = [o for o in orders if o.trigger is not None]
            elif order_filter == "Order":
                orders = [o for o in orders if o.trigger is None]
            if open_only == "0" and not by_id:
                orders = [o for o in orders if o.is_open or o.status is OrderStatus.UNTRIGGERED]
            elif open_only != "0":
                orders = [o for o in orders if not o.is_open][:500]
            market = trading.market(category)
            chunk, cursor = page(orders, p, 20, QUERY_LIMIT_MAX["realtime"])
            return {"category": category, "list": [wire.order(o, market) for o in chunk], "nextPageCursor": cursor}

        @route("GET", "/v5/order/history", private=True, kind="QUERY")
        async def history(call: Call) -> Any:
            category = category_of(call.params)
            market = trading.market(category)
            status = text(call.params, "orderStatus")
            orders = [o for o in orders_of(call, category) if not status or wire.order_status(o, category) == status]
            chunk, cursor = page(orders, call.params, 20, QUERY_LIMIT_MAX["history"])
            return {"category": category, "list": [wire.order(o, market) for o in chunk], "nextPageCursor": cursor}

        @route("GET", "/v5/execution/list", private=True, kind="QUERY")
        async def executions(call: Call) -> Any:
            category = category_of(call.params)
            market = trading.market(category)
            p = call.params
            symbol, oid, link = text(p, "symbol"), text(p, "orderId"), text(p, "orderLinkId")
            start, end = text(p, "startTime"), text(p, "endTime")
            now = venue.now_ms()
            end_ms = int(end) if end.isdigit() else now
            start_ms = int(start) if start.isdigit() else end_ms - 7 * 86_400_000
            rows = []
            for fill in reversed(market.account_trades(call.account, symbol or None)):
                if not start_ms <= fill.time_ms <= end_ms:
                    continue
                o = market.orders.get(fill.order_id)
                if o is None:
                    continue
                if (oid and wire.order_id(category, o.order_id) != oid) or (link and wire.link_id(o) != link):
                    continue
                rows.append((fill, o))
            chunk, cursor = page(rows, p, 50, QUERY_LIMIT_MAX["execution"])
            return {
                "category": category,
                "list": [wire.execution(f, o, market, venue.exec_seq(f)) for f, o in chunk],
                "nextPageCursor": cursor,
            }

        @route("GET", "/v5/position/list", private=True, kind="QUERY")
        async def positions(call: Call) -> Any:
            category = category_of(call.params)
            if category == "spot":
                raise errors.param("category spot is not supported for positions")
            market = trading.market(category)
            p = call.params
            symbol, settle, base = text(p, "symbol"), text(p, "settleCoin"), text(p, "baseCoin")
            if category == "linear" and not (symbol or settle):
                raise errors.param("symbol or settleCoin is required")
            if symbol and symbol not in market.instruments:
                raise errors.param("symbol invalid")
            wallet = call.account.wallet(market.name)
            rows = []
            for sym, inst in market.instruments.items():
                if symbol and sym != symbol:
                    continue
                if (settle and inst.settle != settle) or (base and inst.base != base):
                    continue
                pos = wallet.positions.get(sym)
                if pos is None or not pos.qty:
                    if not symbol:
                        continue
                    pos = wallet.position(sym)
                rows.append(wire.position(pos, market))
            chunk, cursor = page(rows, p, 20, 200)
            return {"category": category, "list": chunk, "nextPageCursor": cursor}

        @route("GET", "/v5/account/wallet-balance", private=True, kind="QUERY")
        async def wallet_balance(call: Call) -> Any:
            account_type = text(call.params, "accountType", required=True)
            if account_type != "UNIFIED":
                raise errors.param("accountType only support UNIFIED")
            coins = {c for c in text(call.params, "coin").split(",") if c} or None
            owed = trading.borrowed_of(call.account.account_id)
            return {"list": [wire.wallet(venue.market_list(), call.account, coins, owed)]}

        @route("GET", "/v5/account/info", private=True, kind="QUERY")
        async def account_info(call: Call) -> Any:
            # A unified trading account (UTA 2.0): what clients such as ccxt check before trading.
            return {
                "unifiedMarginStatus": 6,
                "marginMode": "REGULAR_MARGIN",
                "isMasterTrader": False,
                "spotHedgingStatus": "OFF",
                "updatedTime": str(venue.launch_ms),
                "dcpStatus": "OFF",
                "timeWindow": 0,
                "smpGroup": 0,
            }

        @route("GET", "/v5/user/query-api", private=True, kind="QUERY")
        async def query_api(call: Call) -> Any:
            account = call.account
            return {
                "id": account.account_id,
                "note": "execx simulator",
                "apiKey": account.api_key,
                "readOnly": 0,
                "secret": "",
                "permissions": {
                    "ContractTrade": ["Order", "Position"],
                    "Spot": ["SpotTrade"],
                    "Wallet": [],
                    "Options": ["OptionsTrade"],
                    "Derivatives": [],
                    "Exchange": [],
                    "NFT": [],
                },
                "ips": ["*"],
                "type": 1,
                "deadlineDay": -1,
                "expiredAt": "",
                "createdAt": "",
                "unified": 0,
                "uta": 1,
                "userID": zlib.crc32(account.account_id.encode()),
                "inviterID": 0,
                "vipLevel": "No VIP",
                "mktMakerLevel": "0",
                "affiliateID": 0,
                "rsaPublicKey": "",
                "isMaster": True,
                "parentUid": "0",
                "kycLevel": "LEVEL_DEFAULT",
                "kycRegion": "",
            }

        @route("GET", "/v5/asset/coin/query-info", private=True, kind="QUERY")
        async def coin_info(call: Call) -> Any:
            coin = text(call.params, "coin")
            coins = sorted(
                {c for m in venue.market_list() for i in m.instruments.values() for c in (i.base, i.settle or i.quote)}
            )
            chain = {
                "confirmation": "1",
                "withdrawFee": "0",
                "depositMin": "0",
                "withdrawMin": "0",
                "chainDeposit": "1",
                "chainWithdraw": "1",
                "minAccuracy": "8",
                "withdrawPercentageFee": "0",
            }
            rows = [
                {"name": c, "coin": c, "remainAmount": "1000000", "chains": [{**chain, "chainType": c, "chain": c}]}
                for c in coins
                if not coin or c == coin
            ]
            return {"rows": rows}

        @route("GET", "/v5/account/fee-rate", private=True, kind="QUERY")
        async def fee_rate(call: Call) -> Any:
            category = category_of(call.params)
            market = trading.market(category)
            symbol = text(call.params, "symbol")
            rows = [
                {"symbol": s, "takerFeeRate": wire.num(i.taker_fee), "makerFeeRate": wire.num(i.maker_fee)}
                for s, i in market.instruments.items()
                if not symbol or s == symbol
            ]
            return {"list": rows}

        @route("POST", "/v5/position/set-leverage", private=True, kind="QUERY")
        async def set_leverage(call: Call) -> Any:
            category = category_of(call.params)
            if category not in ("linear", "inverse"):
                raise errors.param("category only support linear or inverse")
            market = trading.market(category)
            symbol = text(call.params, "symbol", required=True)
            if symbol not in market.instruments:
                raise errors.param("symbol invalid")
            buy, sell = decimal(call.params, "buyLeverage", True), decimal(call.params, "sellLeverage", True)
            if buy != sell or buy is None or not Decimal(1) <= buy <= Decimal(100) or buy != int(buy):
                raise errors.param("buyLeverage must equal sellLeverage, an integer in [1, 100]")
            market.set_leverage(call.account, symbol, int(buy))
            return {}
