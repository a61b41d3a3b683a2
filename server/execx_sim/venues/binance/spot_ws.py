"""Binance spot WebSocket API (``ws-api.binance.com/ws-api/v3``): JSON request/response frames and the
user data stream delivered on the same connection.

Frames: ``{"id", "method", "params"}`` in, ``{"id", "status", "result"|"error", "rateLimits"}`` out
(``rateLimits`` omitted when ``returnRateLimits=false``). Signed requests carry ``apiKey``,
``timestamp`` and ``signature`` in ``params`` (signature over the sorted params, see ``auth.py``),
or rely on ``session.logon``. User data events arrive as ``{"subscriptionId": N, "event": {...}}``
(binance-spot-api-docs ``web-socket-api.md``, ``user-data-stream.md``).

Requests of one connection are handled concurrently (one task each, owned by the connection's
TaskGroup), in arrival order up to their first await: the engine is synchronous, so two orders sent
back to back reach it in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from ...core.accounts import Account
from ...core.engine import Exchange, Market
from ...core.faults import Faults
from ..common import StreamWriter, WsRegistry, dumps, loads
from . import auth, errors
from .errors import BinanceError
from .ratelimit import BinanceLimiter
from .rest_common import Params
from .spot_trading import SpotTrading, symbols_param
from .spot_wire import account_info, book_ticker, depth, exchange_info

log = logging.getLogger("execx_sim.binance.spot.wsapi")

# Spot: a server ping frame every 20 s (aiohttp heartbeat). aiohttp closes a connection whose pong has not
# come back within heartbeat / 2 = 10 s; Binance allows a minute.
HEARTBEAT_S = 20.0
CONNECT_WEIGHT = 2
MAX_SUBSCRIPTIONS = 1000
MAX_LIFETIME_SUBSCRIPTIONS = 65_535
RATE_LIMIT_HEADERS = {"REQUEST_WEIGHT": "X-MBX-USED-WEIGHT-", "ORDERS": "X-MBX-ORDER-COUNT-"}  # the echo's counts

Result = tuple[Any, dict[str, str]]


@dataclass(eq=False)
class WsApiSession:
    """One WebSocket API connection."""

    ws: web.WebSocketResponse
    writer: StreamWriter
    ip: str
    connected_ms: int
    generation: int
    return_limits: bool = True  # ?returnRateLimits= on the connection URL; a request's param overrides it
    account: Account | None = None  # session.logon
    authorized_ms: int | None = None
    subscriptions: dict[int, Account] = field(default_factory=dict)  # subscriptionId -> account
    logon_subscription: int | None = None  # the one opened by userDataStream.subscribe
    next_subscription: int = 0
    # User data events raised while requests of this connection are being answered wait for those answers:
    # on Binance the answer comes straight from the API gateway, the events through the user data stream.
    answering: int = 0
    held: list[str] = field(default_factory=list)

    def send_event(self, text: str) -> None:
        if self.answering:
            self.held.append(text)
        else:
            self.writer.send(text)


@dataclass(frozen=True)
class Method:
    handler: Callable[[WsApiSession, Account | None, Params], Awaitable[Result]]
    weight: int
    security: str  # NONE | SIGNED | LOGON (needs the session's account)


class SpotWsApi:
    def __init__(
        self,
        exchange: Exchange,
        market: Market,
        faults: Faults,
        limiter: BinanceLimiter,
        trading: SpotTrading,
        sockets: WsRegistry,
        book_update_id: Callable[[str], int],
    ) -> None:
        self.exchange = exchange
        self.market = market
        self.faults = faults
        self.limiter = limiter
        self.trading = trading
        self.sockets = sockets
        self.book_update_id = book_update_id
        self.sessions: set[WsApiSession] = set()
        # account id -> {session: subscriptionId}: who receives that account's user data events
        self.listeners: dict[str, dict[WsApiSession, int]] = {}
        self.methods: dict[str, Method] = {}
        self._install()

    # ------------------------------------------------------------------ connection

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ip = request.remote or "?"
        default_limits = request.query.get("returnRateLimits", "true").lower() != "false"
        try:
            self.limiter.take("REQUEST_WEIGHT", ip, CONNECT_WEIGHT)  # "Connecting to WS API costs 2 weight"
        except BinanceError as e:
            return web.Response(
                status=e.status, text=dumps(e.body()), headers=e.headers, content_type="application/json"
            )
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, autoping=True)
        await ws.prepare(request)
        writer = StreamWriter(ws, self.faults)
        session = WsApiSession(
            ws, writer, ip, self.exchange.now_ms(), self.faults.drop_generation, return_limits=default_limits
        )
        self.sessions.add(session)
        self.sockets.add(ws)
        pending: set[asyncio.Task[None]] = set()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(writer.drain())
                async for msg in ws:
                    if msg.type is WSMsgType.TEXT:
                        task = tg.create_task(self._request(session, msg.data))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
                    elif msg.type is WSMsgType.BINARY:
                        writer.send_json(
                            {
                                "id": None,
                                "status": 400,
                                "error": {"code": -1000, "msg": "Binary frames are not supported."},
                            }
                        )
                # The client went away: answers in flight have nobody to go to.
                for task in pending:
                    task.cancel()
                writer.close()
        finally:
            self._forget(session)
        return ws

    def _forget(self, session: WsApiSession) -> None:
        self.sessions.discard(session)
        self.sockets.discard(session.ws)
        for account in session.subscriptions.values():
            subs = self.listeners.get(account.account_id)
            if subs is not None:
                subs.pop(session, None)
                if not subs:
                    del self.listeners[account.account_id]
        session.subscriptions.clear()

    async def close_dropped(self) -> None:
        """Close connections opened before the last ``drop`` fault (called by the front-end's timer)."""
        gen = self.faults.drop_generation
        for session in [s for s in self.sessions if s.generation < gen]:
            session.generation = gen
            with contextlib.suppress(Exception):
                await session.ws.close(message=b"dropped")

    # ------------------------------------------------------------------ one request

    async def _request(self, session: WsApiSession, text: str) -> None:
        session.answering += 1
        try:
            reply = await self._answer(session, text)
        finally:
            session.answering -= 1
        session.writer.send(dumps(reply))
        if not session.answering and session.held:
            for event in session.held:
                session.writer.send(event)
            session.held.clear()

    async def _answer(self, session: WsApiSession, text: str) -> dict[str, Any]:
        req_id: Any = None
        return_limits = session.return_limits
        rate_headers: dict[str, str] = {}
        try:
            try:
                frame = loads(text)
            except ValueError:
                raise BinanceError(-1000, "Malformed request: invalid JSON.") from None
            if not isinstance(frame, dict):
                raise BinanceError(-1000, "Malformed request: expected a JSON object.")
            req_id = frame.get("id")
            if req_id is not None and not isinstance(req_id, int | str):
                req_id = None
                raise BinanceError(-1000, "Malformed request: 'id' must be an integer, a string or null.")
            raw_params = frame.get("params") or {}
            if not isinstance(raw_params, dict):
                raise BinanceError(-1000, "Malformed request: 'params' must be an object.")
            rl = raw_params.get("returnRateLimits")
            if rl is not None:
                if not isinstance(rl, bool) and str(rl).lower() not in ("true", "false"):
                    raise errors.invalid_param("returnRateLimits", str(rl))
                return_limits = rl if isinstance(rl, bool) else str(rl).lower() == "true"
            name = frame.get("method")
            if not isinstance(name, str) or not name:
                raise errors.mandatory("method")
            method = self.methods.get(name.removeprefix("v3/"))
            if method is None:
                raise BinanceError(-1000, f"Unknown method '{name}'.")
            if self.faults.latency_ms:
                await asyncio.sleep(self.faults.latency_ms / 1000)
            self._injected_faults()
            rate_headers.update(self.limiter.take("REQUEST_WEIGHT", session.ip, method.weight))
            account = self._authenticate(session, method, raw_params)
            params = Params.of_texts({k: _flatten(v) for k, v in raw_params.items() if v is not None})
            result, counts = await method.handler(session, account, params)
            rate_headers.update(counts)
            reply: dict[str, Any] = {"id": req_id, "status": 200, "result": result}
        except BinanceError as e:
            rate_headers.update({k: v for k, v in e.headers.items() if k.startswith("X-MBX-")})
            reply = {"id": req_id, "status": e.status, "error": self._error_body(e)}
        except Exception:
            log.exception("binance.spot.wsapi.unhandled")
            err = errors.unknown_error()
            reply = {"id": req_id, "status": err.status, "error": err.body()}
        if return_limits:
            reply["rateLimits"] = self._rate_limits(rate_headers)
        return reply

    def _injected_faults(self) -> None:
        retry = self.faults.retry_after_s
        if self.faults.take("ban"):
            raise errors.banned(self.exchange.now_ms() + retry * 1000, retry)
        if self.faults.take("rate_limit"):
            raise errors.too_many_requests(6000, retry)
        if self.faults.take("http_5xx"):
            err = errors.execution_unknown()
            err.status = self.faults.http_5xx_status
            raise err

    def _error_body(self, e: BinanceError) -> dict[str, object]:
        body = e.body()
        if e.status in (418, 429) and "Retry-After" in e.headers:
            # WS API: the ban / back-off end is given in data.retryAfter (epoch ms).
            now = self.exchange.now_ms()
            body["data"] = {"serverTime": now, "retryAfter": now + int(e.headers["Retry-After"]) * 1000}
        return body

    def _rate_limits(self, headers: dict[str, str]) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for lim in self.limiter.limits:
            prefix = RATE_LIMIT_HEADERS.get(lim.kind)
            if prefix is None:
                continue
            count = headers.get(prefix + lim.header_suffix)
            if count is not None:
                out.append({**lim.describe(), "count": int(count)})
        return out

    def _authenticate(self, session: WsApiSession, method: Method, params: dict[str, Any]) -> Account | None:
        if method.security == "NONE":
            return None
        now = self.exchange.now_ms()
        if method.security == "SIGNED" and ("signature" in params or session.account is None):
            if not params.get("apiKey"):
                raise errors.mandatory("apiKey")
            return auth.authenticate_ws(self.exchange, params, now)
        if session.account is None:
            # USER_STREAM methods on a connection that is not logged on.
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        if method.security == "SIGNED":
            auth.check_timestamp({k: auth.ws_value(params[k]) for k in ("timestamp", "recvWindow") if k in params}, now)
        return session.account

    # ------------------------------------------------------------------ user data fan-out

    def push(self, account_id: str, event_json: str) -> None:
        """Send one user data event (already serialised) to every subscription of the account."""
        subs = self.listeners.get(account_id)
        if not subs:
            return
        for session, sub_id in subs.items():
            session.send_event(f'{{"subscriptionId":{sub_id},"event":{event_json}}}')

    # ------------------------------------------------------------------ methods

    def _install(self) -> None:
        trading = self.trading
        market = self.market
        now = self.exchange.now_ms

        def method(
            name: str, weight: int, security: str = "NONE"
        ) -> Callable[
            [Callable[[WsApiSession, Account | None, Params], Awaitable[Result]]],
            Callable[[WsApiSession, Account | None, Params], Awaitable[Result]],
        ]:
            def register(
                fn: Callable[[WsApiSession, Account | None, Params], Awaitable[Result]],
            ) -> Callable[[WsApiSession, Account | None, Params], Awaitable[Result]]:
                self.methods[name] = Method(fn, weight, security)
                return fn

            return register

        def acct(a: Account | None) -> Account:
            assert a is not None
            return a

        @method("ping", 1)
        async def ping(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return {}, {}

        @method("time", 1)
        async def time_(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return {"serverTime": now()}, {}

        @method("exchangeInfo", 20)
        async def exchange_information(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return exchange_info(market, self.limiter, now(), symbols_param(p, market.instruments)), {}

        @method("depth", 5)
        async def order_book(s: WsApiSession, a: Account | None, p: Params) -> Result:
            inst = trading.instrument(p)
            limit = trading._limit(p, 100, 5000)
            return depth(market, inst.symbol, limit, self.book_update_id(inst.symbol)), {}

        @method("ticker.book", 2)
        async def ticker_book(s: WsApiSession, a: Account | None, p: Params) -> Result:
            symbols = symbols_param(p, market.instruments)
            if "symbol" in p:
                return book_ticker(market, symbols[0]), {}
            return [book_ticker(market, sym) for sym in symbols], {}

        @method("order.place", 1, "SIGNED")
        async def order_place(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return await trading.new_order(acct(a), p)

        @method("orderList.place.oco", 1, "SIGNED")
        async def order_list_place_oco(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return await trading.lists.place_oco(acct(a), p)

        @method("orderList.place.oto", 1, "SIGNED")
        async def order_list_place_oto(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return await trading.lists.place_oto(acct(a), p)

        @method("orderList.place.otoco", 1, "SIGNED")
        async def order_list_place_otoco(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return await trading.lists.place_otoco(acct(a), p)

        @method("orderList.cancel", 1, "SIGNED")
        async def order_list_cancel(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return trading.lists.cancel(acct(a), p), {}

        @method("orderList.status", 4, "SIGNED")
        async def order_list_status(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return trading.lists.query(acct(a), p), {}

        @method("openOrderLists.status", 6, "SIGNED")
        async def open_order_lists_status(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return trading.lists.open_lists(acct(a)), {}

        @method("allOrderLists", 20, "SIGNED")
        async def all_order_lists(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return trading.lists.all_lists(acct(a), p, ws=True), {}

        @method("order.test", 1, "SIGNED")
        async def order_test(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return trading.test_order(acct(a), p), {}

        @method("order.cancel", 1, "SIGNED")
        async def order_cancel(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return trading.cancel_order(acct(a), p), {}

        @method("order.cancelReplace", 1, "SIGNED")
        async def order_cancel_replace(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return await trading.cancel_replace(acct(a), p)

        @method("order.amend.keepPriority", 4, "SIGNED")
        async def order_amend(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return trading.amend_keep_priority(acct(a), p), {}

        @method("order.status", 4, "SIGNED")
        async def order_status(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return trading.query_order(acct(a), p), {}

        @method("openOrders.status", 6, "SIGNED")
        async def open_orders_status(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return trading.open_orders(acct(a), p), {}

        @method("openOrders.cancelAll", 1, "SIGNED")
        async def open_orders_cancel_all(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return trading.cancel_open_orders(acct(a), p), {}

        @method("allOrders", 20, "SIGNED")
        async def all_orders(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return trading.all_orders(acct(a), p), {}

        @method("myTrades", 20, "SIGNED")
        async def my_trades(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return trading.my_trades(acct(a), p), {}

        @method("account.status", 20, "SIGNED")
        async def account_status(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return account_info(market, acct(a), now(), p.bool("omitZeroBalances")), {}

        # -------------------------------------------------------------- session

        def status(s: WsApiSession) -> dict[str, Any]:
            return {
                "apiKey": s.account.api_key if s.account else None,
                "authorizedSince": s.authorized_ms,
                "connectedSince": s.connected_ms,
                "returnRateLimits": s.return_limits,
                "serverTime": now(),
                "userDataStream": bool(s.subscriptions),
            }

        @method("session.logon", 2, "SIGNED")
        async def session_logon(s: WsApiSession, a: Account | None, p: Params) -> Result:
            # The docs say session.logon accepts Ed25519 keys only; the simulator only has HMAC keys
            # and accepts an HMAC-signed logon (the docs' own logon example is an HMAC signature).
            if "signature" not in p:
                raise errors.mandatory("signature")
            account = acct(a)
            if s.account is not None and s.account is not account and s.logon_subscription is not None:
                self.unsubscribe(s, s.logon_subscription)
            s.account, s.authorized_ms = account, now()
            return status(s), {}

        @method("session.status", 2)
        async def session_status(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return status(s), {}

        @method("session.logout", 2)
        async def session_logout(s: WsApiSession, a: Account | None, p: Params) -> Result:
            # Closes the subscription opened by userDataStream.subscribe, not the signature ones.
            if s.logon_subscription is not None:
                self.unsubscribe(s, s.logon_subscription)
            s.account, s.authorized_ms = None, None
            return status(s), {}

        @method("session.subscriptions", 2)
        async def session_subscriptions(s: WsApiSession, a: Account | None, p: Params) -> Result:
            return [{"subscriptionId": sid} for sid in sorted(s.subscriptions)], {}

        @method("userDataStream.subscribe", 2, "LOGON")
        async def uds_subscribe(s: WsApiSession, a: Account | None, p: Params) -> Result:
            sid = self.add_subscription(s, acct(a))
            s.logon_subscription = sid
            return {"subscriptionId": sid}, {}

        @method("userDataStream.subscribe.signature", 2, "SIGNED")
        async def uds_subscribe_signature(s: WsApiSession, a: Account | None, p: Params) -> Result:
            if "signature" not in p:
                raise errors.mandatory("signature")
            return {"subscriptionId": self.add_subscription(s, acct(a))}, {}

        @method("userDataStream.unsubscribe", 2)
        async def uds_unsubscribe(s: WsApiSession, a: Account | None, p: Params) -> Result:
            sid = p.int("subscriptionId")
            if sid is None:
                for existing in list(s.subscriptions):
                    self.unsubscribe(s, existing)
            elif sid not in s.subscriptions:
                raise BinanceError(-2036, "User Data Stream subscription not active.")
            else:
                self.unsubscribe(s, sid)
            return {}, {}

    def add_subscription(self, session: WsApiSession, account: Account) -> int:
        if any(a is account for a in session.subscriptions.values()):
            raise BinanceError(-2035, "User Data Stream subscription already active.")
        if len(session.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise BinanceError(
                -1191,
                f"Too many subscriptions. Connection may create up to '{MAX_SUBSCRIPTIONS}' subscriptions at a time.",
            )
        if session.next_subscription >= MAX_LIFETIME_SUBSCRIPTIONS:
            raise BinanceError(-2042, "Maximum subscription ID reached for this connection.")
        sid = session.next_subscription
        session.next_subscription += 1
        session.subscriptions[sid] = account
        self.listeners.setdefault(account.account_id, {})[session] = sid
        return sid

    def unsubscribe(self, session: WsApiSession, sid: int) -> None:
        account = session.subscriptions.pop(sid, None)
        if session.logon_subscription == sid:
            session.logon_subscription = None
        if account is None:
            return
        # user-data-stream.md: a subscription stopped by userDataStream.unsubscribe or session.logout
        # ends with an eventStreamTerminated event.
        now = self.exchange.now_ms()
        session.writer.send(f'{{"subscriptionId":{sid},"event":{{"e":"eventStreamTerminated","E":{now}}}}}')
        subs = self.listeners.get(account.account_id)
        if subs is not None:
            subs.pop(session, None)
            if not subs:
                del self.listeners[account.account_id]


def _flatten(value: Any) -> str:
    """A JSON param as the text REST would carry: arrays / objects (exchangeInfo ``symbols``) as compact
    JSON, numbers in plain decimal notation (a JSON ``1e-05`` quantity is ``0.00001``), booleans as
    ``true`` / ``false``. The signature is checked on the params as received, before this conversion."""
    if type(value) is str:  # most params
        return value
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float) and math.isfinite(value):
        return format(Decimal(repr(value)), "f")
    return auth.ws_value(value)
