"""Binance USDⓈ-M and COIN-M futures front-ends: REST (fapi/dapi), WebSocket API (ws-fapi/ws-dapi)
and streams (fstream/dstream), over one engine market each.

``flavor="usdm"`` serves ``/fapi/...``, ``/ws-fapi/v1`` and the fstream paths; ``flavor="coinm"``
serves ``/dapi/...``, ``/ws-dapi/v1`` and dstream. This module holds the state both transports share
(listen keys, countdown-cancel timers) and the order operations (``op_*``), which REST
(``futures_rest``) and the WebSocket API (``futures_ws``) both call, so validation and errors are
written once. Docs: https://developers.binance.com/docs/derivatives/usds-margined-futures and
.../coin-margined-futures; notes in ``shared/venues/binance.md``.

Simulator choices where Binance is unspecified or the simulator is deliberately smaller:

- One-way position mode only (``positionSide`` BOTH; LONG/SHORT -> -4061; switching to hedge mode is
  refused), cross margin only, one static leverage bracket (maintenance margin rate 0.4 %), funding rate
  fixed at 0.01 %, mark price = order-book mid.
- LIMIT and MARKET orders (GTC, IOC, FOK, GTX; GTD on USDⓈ-M). Conditional types and ``closePosition``
  answer -4120 (Binance moved them to the Algo Order API, served by ``futures_algo.py``). Unfillable FOK
  -> -5021 and crossing GTX -> -5022, nothing recorded. ``selfTradePreventionMode`` defaults to NONE
  (USDⓈ-M docs); COIN-M modify resets it to NONE (COIN-M docs). More decimals than the symbol's
  precision -> -1111 before filters.
- One listen key per account (POST returns and extends the active one), 60 min lifetime
  (``listen_key_ttl_ms``); on expiry ``listenKeyExpired`` is pushed and URL-keyed streams are closed.
- Streams: every stream is served on every route (Binance limits unrouted connections to /public streams).
  Server pings every 3 min via aiohttp's heartbeat, which closes a connection whose pong is 90 s late
  (Binance allows 10 min); connections are closed after 24 h (``max_connection_s``).
- WebSocket API: ``session.logon`` accepts the HMAC keys the simulator issues (Binance wants Ed25519);
  an unknown method answers -1000.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from ...core import marketdata as md
from ...core.accounts import Account
from ...core.engine import Market
from ...core.types import (
    AccountEvent,
    BookTop,
    Event,
    Order,
    OrderError,
    OrderEvent,
    OrderType,
    PublicTrade,
    RejectReason,
    Side,
    STPMode,
    TimeInForce,
)
from ..common import Endpoint, WsRegistry, loads
from . import errors
from .errors import BinanceError
from .futures_wire import Wire, alias_of, fixed
from .ratelimit import futures_limits
from .rest_common import BinanceHttp, Params

if TYPE_CHECKING:
    from ...app import Simulator

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
CONDITIONAL_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
ORDER_TYPES = ("LIMIT", "MARKET", *CONDITIONAL_TYPES)
PRICE_MATCH = (
    "NONE",
    "OPPONENT",
    "OPPONENT_5",
    "OPPONENT_10",
    "OPPONENT_20",
    "QUEUE",
    "QUEUE_5",
    "QUEUE_10",
    "QUEUE_20",
)
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
MAX_BATCH = 5
MAX_BATCH_CANCEL = 10
LISTEN_KEY_TTL_MS = 60 * 60 * 1000
KLINE_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}


@dataclass
class ListenKey:
    key: str
    account_id: str
    expires_ms: int


def client_id_error(param: str) -> BinanceError:
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{param}'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{{1,36}}$'."
    )


class FuturesFrontend:
    """One Binance futures venue (USDⓈ-M or COIN-M) on three ports: REST, WS API and streams."""

    def __init__(self, sim: Simulator, market: Market, flavor: str) -> None:
        if flavor not in ("usdm", "coinm"):
            raise ValueError(f"unknown futures flavor {flavor!r}")
        self.venue = market.name
        self.sim = sim
        self.market = market
        self.flavor = flavor
        self.coinm = flavor == "coinm"
        self.prefix = "/dapi" if self.coinm else "/fapi"
        self.ws_api_path = "/ws-dapi/v1" if self.coinm else "/ws-fapi/v1"
        self.sockets = WsRegistry()
        self.faults = sim.faults[market.name]
        self.limiter = futures_limits()
        self.wire = Wire(market, self.coinm)
        from .futures_algo import AlgoOrders

        self.algo = AlgoOrders(self)  # conditional orders: the Algo Order API (futures_algo.py)
        # Tunables (tests shorten them): listen-key lifetime, timer resolution, server ping interval.
        self.listen_key_ttl_ms = LISTEN_KEY_TTL_MS
        self.tick_s = 0.01  # Binance checks countdownCancelAll "roughly every 10 ms"
        self.ping_interval_s = 180.0  # futures: server ping every 3 minutes, pong within 10
        self.max_connection_s = 24 * 3600.0  # a websocket is disconnected after 24 hours
        self.opened: dict[web.WebSocketResponse, float] = {}  # websocket -> monotonic open time
        self._lifetime_checked = 0.0
        self.listen_keys: dict[str, ListenKey] = {}
        self.key_of_account: dict[str, str] = {}
        self.countdowns: dict[tuple[str, str], int] = {}  # (account id, symbol) -> deadline ms
        self.good_till: dict[int, tuple[str, str, int]] = {}  # GTD order id -> (account id, symbol, deadline)
        self.http = BinanceHttp(sim.exchange, self.faults, self.limiter, futures=True)
        from .futures_rest import register_rest
        from .futures_ws import FuturesStreams, FuturesWsApi
        from .marketdata import register_futures_rest

        register_rest(self)
        register_futures_rest(self)  # funding history, open interest (marketdata.py)
        self.ws_api = FuturesWsApi(self)
        self.streams = FuturesStreams(self)
        sim.exchange.subscribe(self._on_event)

    # ------------------------------------------------------------------ VenueFrontend

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("rest", self.http.app),
            Endpoint("wsApi", self.ws_api.app, "ws", self.ws_api_path),
            Endpoint("stream", self.streams.app, "ws"),
        ]

    async def run(self) -> None:
        """Timers until cancelled: countdownCancelAll deadlines, listen-key expiry, markPrice pushes."""
        while True:
            await asyncio.sleep(self.tick_s)
            now = self.now()
            self._fire_countdowns(now)
            self._expire_good_till(now)
            self._expire_listen_keys(now)
            self.streams.tick(now)
            await self._close_old_connections()

    def track(self, ws: web.WebSocketResponse) -> None:
        """Register an open websocket (fault drops via ``sockets``, the 24 h lifetime via ``opened``)."""
        self.sockets.add(ws)
        self.opened[ws] = time.monotonic()

    def untrack(self, ws: web.WebSocketResponse) -> None:
        self.sockets.discard(ws)
        self.opened.pop(ws, None)

    async def _close_old_connections(self) -> None:
        mono = time.monotonic()
        if mono - self._lifetime_checked < 1.0:
            return
        self._lifetime_checked = mono
        for ws, opened in list(self.opened.items()):
            if mono - opened >= self.max_connection_s:
                self.opened.pop(ws, None)
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"connection lifetime reached")

    # ------------------------------------------------------------------ helpers

    def now(self) -> int:
        return self.sim.exchange.now_ms()

    def account_by_id(self, account_id: str) -> Account | None:
        return self.sim.exchange.accounts.get(account_id)

    def symbol(self, params: Params, required: bool = True) -> str:
        sym = params.str("symbol", required)
        if sym and sym not in self.market.instruments:
            raise BinanceError(-1121, "Invalid symbol.")
        return sym

    def order_error(self, e: OrderError, symbol: str = "", op: str = "place") -> BinanceError:
        return errors.from_order_error(e, futures=True, inst=self.market.instruments.get(symbol), op=op)

    def _on_event(self, event: Event) -> None:
        if event.market != self.market.name:
            return
        if isinstance(event, OrderEvent):
            account = self.account_by_id(event.order.account_id)
            if account is None or account.is_background or event.order.account_id not in self.key_of_account:
                return
            if event.order.trigger is not None or "parent" in event.order.extra:
                if self.algo.on_event(event, account):
                    return
            payload = self.wire.order_update(event.order, event.exec_type, event.fill, account, self.now())
            self.streams.user_event(account.account_id, "ORDER_TRADE_UPDATE", payload)
        elif isinstance(event, AccountEvent):
            if event.account_id not in self.key_of_account:
                return
            account = self.account_by_id(event.account_id)
            if account is None:
                return
            payload = self.wire.account_update(account, event.assets, event.symbols, event.reason, event.time_ms)
            self.streams.user_event(account.account_id, "ACCOUNT_UPDATE", payload)
        elif isinstance(event, BookTop):
            self.streams.book_top(event)
        elif isinstance(event, PublicTrade):
            self.streams.public_trade(event)

    # ------------------------------------------------------------------ timers

    def _fire_countdowns(self, now: int) -> None:
        due = [k for k, deadline in self.countdowns.items() if deadline <= now]
        for account_id, symbol in due:
            del self.countdowns[(account_id, symbol)]
            account = self.account_by_id(account_id)
            if account is not None:
                self.market.cancel_all(account, symbol, reason="COUNTDOWN")

    def _expire_good_till(self, now: int) -> None:
        orders = self.market.orders
        for order_id in [oid for oid in self.good_till if (o := orders.get(oid)) is None or not o.is_open]:
            del self.good_till[order_id]  # finished before its deadline: nothing left to expire
        due = [oid for oid, (_, _, deadline) in self.good_till.items() if deadline <= now]
        for order_id in due:
            account_id, symbol, _ = self.good_till.pop(order_id)
            account = self.account_by_id(account_id)
            if account is None:
                continue
            with contextlib.suppress(OrderError):  # already filled or cancelled
                self.market.expire(account, symbol, order_id, "GTD")

    def _expire_listen_keys(self, now: int) -> None:
        expired = [lk for lk in self.listen_keys.values() if lk.expires_ms <= now]
        for lk in expired:
            self.drop_listen_key(lk.key)
            self.streams.listen_key_expired(lk.key, now)

    # ------------------------------------------------------------------ listen keys

    def listen_key_start(self, account: Account) -> str:
        """Create the account's listen key, or return and extend the active one."""
        key = self.key_of_account.get(account.account_id)
        if key is None or key not in self.listen_keys:
            key = secrets.token_urlsafe(48).replace("-", "a").replace("_", "b")[:64]
            self.listen_keys[key] = ListenKey(key, account.account_id, 0)
            self.key_of_account[account.account_id] = key
        self.listen_keys[key].expires_ms = self.now() + self.listen_key_ttl_ms
        return key

    def listen_key_keepalive(self, account: Account, key: str = "") -> str:
        current = self.key_of_account.get(account.account_id)
        if current is None or current not in self.listen_keys or (key and key != current):
            raise errors.listen_key_missing()
        self.listen_keys[current].expires_ms = self.now() + self.listen_key_ttl_ms
        return current

    def listen_key_close(self, account: Account, key: str = "") -> None:
        current = self.key_of_account.get(account.account_id)
        if current is None or (key and key != current):
            raise errors.listen_key_missing()
        self.drop_listen_key(current)

    def drop_listen_key(self, key: str) -> None:
        lk = self.listen_keys.pop(key, None)
        if lk is not None and self.key_of_account.get(lk.account_id) == key:
            del self.key_of_account[lk.account_id]

    # ------------------------------------------------------------------ order operations

    def _order_ref(self, params: Params) -> tuple[int | None, str | None]:
        order_id = params.int("orderId")
        client_id = params.str("origClientOrderId") or None
        if order_id is None and client_id is None:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        return order_id, client_id

    def _price_match(self, symbol: str, side: Side, mode: str) -> Decimal:
        """Price of a ``priceMatch`` order: the n-th best opposite (OPPONENT) or same-side (QUEUE) level."""
        base, _, nth = mode.partition("_")
        depth = int(nth or 1)
        bids, asks = self.market.books[symbol].depth(depth)
        same, opposite = (bids, asks) if side is Side.BUY else (asks, bids)
        levels = opposite if base == "OPPONENT" else same
        if not levels:
            raise BinanceError(-4131, "The counterparty's best price does not meet the PERCENT_PRICE filter limit.")
        return levels[min(depth, len(levels)) - 1][0]

    def _good_till_date(self, params: Params) -> dict[str, Any]:
        """USDⓈ-M GTD: ``goodTillDate`` is mandatory, kept to the second, and must lie between now + 600 s
        and 253402300799000."""
        raw = params.int("goodTillDate", required=True)
        assert raw is not None
        gtd = raw - raw % 1000
        if gtd <= self.now() + 600_000 or gtd >= 253402300799000:
            raise BinanceError(-1130, "Invalid data sent for a parameter: 'goodTillDate'.")
        return {"tif": "GTD", "goodTillDate": gtd}

    def check_precision(self, symbol: str, qty: Decimal | None, price: Decimal | None) -> None:
        """Binance checks decimals before filters: more decimals than quantityPrecision / pricePrecision
        is -1111 (a price on the precision grid but off the tick is -4014, from the engine)."""
        inst = self.market.instruments[symbol]
        for value, places in ((qty, inst.qty_precision), (price, inst.price_precision)):
            if value is not None and value != value.quantize(Decimal(1).scaleb(-places)):
                raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")

    def parse_new_order(self, account: Account, params: Params) -> dict[str, Any]:
        """Validate a new-order request; return keyword arguments for ``Market.place`` plus extras."""
        symbol = self.symbol(params)
        side = Side(params.enum("side", ("BUY", "SELL"), required=True))
        position_side = params.enum("positionSide", ("BOTH", "LONG", "SHORT"), default="BOTH")
        if position_side != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        otype = params.enum("type", ORDER_TYPES, required=True)
        if otype in CONDITIONAL_TYPES:
            raise BinanceError(
                -4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
            )
        tif_values = ("GTC", "IOC", "FOK", "GTX") + (() if self.coinm else ("GTD",))
        tif_raw = params.enum("timeInForce", tif_values)
        price_match = params.enum("priceMatch", PRICE_MATCH, default="NONE")
        price = params.decimal("price")
        qty = params.decimal("quantity")
        reduce_only = params.bool("reduceOnly")
        if "closePosition" in params and params.bool("closePosition"):
            raise BinanceError(
                -4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
            )
        # USDⓈ-M New Order: "selfTradePreventionMode ... default NONE" (official docs).
        stp = params.enum("selfTradePreventionMode", STP_MODES, default="NONE")
        resp_type = params.enum("newOrderRespType", ("ACK", "RESULT"), default="ACK")
        client_id = params.str("newClientOrderId")
        if client_id and not CLIENT_ID_RE.match(client_id):
            raise client_id_error("newClientOrderId")
        if client_id.startswith(("autoclose-", "adl_autoclose", "settlement_autoclose-", "delivery_autoclose-")):
            raise client_id_error("newClientOrderId")
        if qty is None:
            raise errors.mandatory("quantity")
        extra: dict[str, Any] = {}
        if otype == "LIMIT":
            if not tif_raw:
                raise errors.mandatory("timeInForce")
            if tif_raw == "GTD":
                extra.update(self._good_till_date(params))
                tif_raw = "GTC"  # the engine rests it like GTC; run() expires it at goodTillDate
            if price_match != "NONE":
                if price is not None:
                    raise BinanceError(-1106, "Parameter 'price' sent when not required.")
                price = self._price_match(symbol, side, price_match)
                extra["priceMatch"] = price_match
            elif price is None:
                raise errors.mandatory("price")
            tif = TimeInForce(tif_raw)
        else:
            if price is not None:
                raise errors.not_required("price")
            if price_match != "NONE":
                raise errors.not_required("priceMatch")
            tif = TimeInForce.GTC
        self.check_precision(symbol, qty, price)
        if qty == 0:
            raise BinanceError(-4003, "Quantity less than or equal to zero.")
        if price is not None and price == 0:
            raise BinanceError(-4001, "Price less than 0.")
        return {
            "symbol": symbol,
            "side": side,
            "type": OrderType(otype),
            "qty": qty,
            "price": price,
            "tif": tif,
            "client_id": client_id,
            "reduce_only": reduce_only,
            "stp": STPMode(stp),
            "extra": extra,
            "_resp": resp_type,
        }

    async def op_place(self, account: Account, params: Params, headers: dict[str, str]) -> dict[str, Any]:
        """POST order / ``order.place``: validate, count, apply faults, place, answer ACK or RESULT."""
        spec = self.parse_new_order(account, params)
        return await self._place_spec(account, spec, headers)

    async def _place_spec(self, account: Account, spec: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        headers.update(self.limiter.take("ORDERS", account.account_id))
        if self.faults.take("reject_orders"):
            raise self.order_error(OrderError(RejectReason.INJECTED, self.faults.reject_message), spec["symbol"])
        resp = spec.pop("_resp")
        if spec["tif"] is TimeInForce.FOK and not self._fok_fillable(account, spec):
            # Binance futures rejects an unfillable FOK synchronously; nothing is recorded.
            raise BinanceError(
                -5021,
                "Due to the order could not be filled immediately, the FOK order has been "
                "rejected. The order will not be recorded in the order history",
            )
        try:
            order = self.market.place(account, **spec)
            if order.is_open and "goodTillDate" in order.extra:
                self.good_till[order.order_id] = (account.account_id, order.symbol, order.extra["goodTillDate"])
            ack = self.wire.ack(order) if resp == "ACK" else None
            result = ack if ack is not None else self.wire.order(order)
        except OrderError as e:
            raise self.order_error(e, spec["symbol"]) from None
        if self.faults.take("unknown_outcome"):
            raise errors.execution_unknown()
        if self.faults.slow_ack_ms:
            await asyncio.sleep(self.faults.slow_ack_ms / 1000)
        return result

    def _fok_fillable(self, account: Account, spec: dict[str, Any]) -> bool:
        """Would a FOK order fill completely against the book right now? Own resting orders do not count
        when self-trade prevention would expire them."""
        side: Side = spec["side"]
        limit: Decimal | None = spec["price"]
        need: Decimal = spec["qty"]
        skip_own = spec["stp"] is not STPMode.NONE
        for px, level in self.market.books[spec["symbol"]].opposite_levels(side):
            if limit is not None and (px > limit if side is Side.BUY else px < limit):
                break
            for maker in level.values():
                if skip_own and maker.account_id == account.account_id:
                    continue
                need -= maker.remaining
                if need <= 0:
                    return True
        return False

    def op_modify(
        self,
        account: Account,
        params: Params,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """PUT order / ``order.modify``: new price and quantity; the order loses queue priority.

        USDⓈ-M needs both ``quantity`` and ``price`` (or ``priceMatch``); COIN-M accepts either.
        A new quantity at or below the executed quantity cancels the order, as does a GTX order whose
        new price would cross (the engine's Binance rules)."""
        symbol = self.symbol(params)
        side = Side(params.enum("side", ("BUY", "SELL"), required=True))
        self._order_ref(params)  # -1102 if neither orderId nor origClientOrderId, before other checks
        price_match = params.enum("priceMatch", PRICE_MATCH, default="NONE")
        qty = params.decimal("quantity")
        price = params.decimal("price")
        if price_match != "NONE":
            if price is not None:
                raise BinanceError(-1106, "Parameter 'price' sent when not required.")
            price = self._price_match(symbol, side, price_match)
        if self.coinm:
            if qty is None and price is None:
                raise BinanceError(-1102, "Param 'quantity' or 'price' must be sent, but both were empty/null!")
        else:
            if qty is None:
                raise errors.mandatory("quantity")
            if price is None:
                raise errors.mandatory("price")
        order = self._find(account, params, open_only=True)
        if order.type is not OrderType.LIMIT:
            raise BinanceError(-4028, "Invalid modification: only LIMIT orders can be modified.")
        if order.side is not side:
            raise BinanceError(-4028, "Invalid modification: side does not match the order.")
        if (qty is None or qty == order.qty) and (price is None or price == order.price):
            raise BinanceError(-5027, "No need to modify the order.")
        self.check_precision(symbol, qty, price)
        if qty is not None and qty == 0:
            raise BinanceError(-4003, "Quantity less than or equal to zero.")
        # Modify weighs 1 on both order-count limits (and 0 on IP weight).
        counted = self.limiter.take("ORDERS", account.account_id)
        if headers is not None:
            headers.update(counted)
        if price_match != "NONE":
            order.extra["priceMatch"] = price_match
        try:
            order = self.market.amend(
                account, symbol, order.order_id, None, new_qty=qty, new_price=price, priority="lose"
            )
        except OrderError as e:
            raise self.order_error(e, symbol, op="amend") from None
        if self.coinm:
            order.stp = STPMode.NONE  # COIN-M docs: "Modify order will set selfTradePreventionMode to NONE"
        return self.wire.order(order)

    def op_cancel(self, account: Account, params: Params) -> dict[str, Any]:
        symbol = self.symbol(params)
        order_id, client_id = self._order_ref(params)
        try:
            order = self.market.cancel(account, symbol, order_id, client_id)
        except OrderError as e:
            raise self.order_error(e, symbol, op="cancel") from None
        return self.wire.order(order)

    def _find(self, account: Account, params: Params, open_only: bool) -> Order:
        symbol = self.symbol(params)
        order_id, client_id = self._order_ref(params)
        try:
            order = self.market.find_order(account, symbol, order_id, client_id)
        except OrderError:
            raise BinanceError(-2013, "Order does not exist.") from None
        if order.trigger is not None or (open_only and not order.is_open):  # an algo order: not on this API
            raise BinanceError(-2013, "Order does not exist.")
        return order

    def op_query(self, account: Account, params: Params) -> dict[str, Any]:
        """GET order / ``order.status``: an open or recently closed order."""
        return self.wire.order(self._find(account, params, open_only=False), with_time=True)

    def op_open_order(self, account: Account, params: Params) -> dict[str, Any]:
        """GET openOrder: only while the order is open."""
        return self.wire.order(self._find(account, params, open_only=True), with_time=True)

    def op_cancel_all(self, account: Account, params: Params) -> dict[str, Any]:
        symbol = self.symbol(params)
        self.market.cancel_all(account, symbol)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def op_countdown(self, account: Account, params: Params) -> dict[str, Any]:
        symbol = self.symbol(params)
        countdown = params.int("countdownTime", required=True)
        assert countdown is not None
        if countdown < 0:
            raise errors.illegal_chars("countdownTime")
        key = (account.account_id, symbol)
        if countdown == 0:
            self.countdowns.pop(key, None)
        else:
            self.countdowns[key] = self.now() + countdown
        return {"symbol": symbol, "countdownTime": str(countdown)}

    def batch_items(self, params: Params, name: str, limit: int) -> list[Any]:
        raw = params.str(name, required=True)
        try:
            items = loads(raw)
        except json.JSONDecodeError:
            raise BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.") from None
        if not isinstance(items, list) or not items:
            raise BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")
        if len(items) > limit:
            raise BinanceError(
                -4052 if name != "batchOrders" else -1130, f"Param '{name}' must be less than or equal to {limit}."
            )
        return items

    async def op_batch_place(self, account: Account, params: Params, headers: dict[str, str]) -> list[Any]:
        items = self.batch_items(params, "batchOrders", MAX_BATCH)
        out: list[Any] = []
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise BinanceError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
                spec = self.parse_new_order(account, Params(item))
                spec["_resp"] = "RESULT" if spec["_resp"] == "RESULT" else "ACK"
                out.append(await self._place_spec(account, spec, headers))
            except BinanceError as e:
                if e.code in (-1003, -1015) or e.status >= 500:
                    raise
                out.append(e.body())
        return out

    def op_batch_modify(self, account: Account, params: Params, headers: dict[str, str]) -> list[Any]:
        items = self.batch_items(params, "batchOrders", MAX_BATCH)
        out: list[Any] = []
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise BinanceError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
                out.append(self.op_modify(account, Params(item), headers))
            except BinanceError as e:
                out.append(e.body())
        return out

    def op_batch_cancel(self, account: Account, params: Params) -> list[Any]:
        symbol = self.symbol(params)
        if "orderIdList" in params:
            refs: list[tuple[int | None, str | None]] = []
            for v in self.batch_items(params, "orderIdList", MAX_BATCH_CANCEL):
                if not isinstance(v, int) or isinstance(v, bool):
                    raise BinanceError(-1130, "Data sent for parameter 'orderIdList' is not valid.")
                refs.append((v, None))
        elif "origClientOrderIdList" in params:
            refs = [(None, str(v)) for v in self.batch_items(params, "origClientOrderIdList", MAX_BATCH_CANCEL)]
        else:
            raise BinanceError(
                -1102, "Param 'orderIdList' or 'origClientOrderIdList' must be sent, but both were empty/null!"
            )
        out: list[Any] = []
        for order_id, client_id in refs:
            try:
                order = self.market.cancel(account, symbol, order_id, client_id)
                out.append(self.wire.order(order))
            except OrderError as e:
                out.append(self.order_error(e, symbol, op="cancel").body())
        return out

    def op_open_orders(self, account: Account, params: Params) -> list[dict[str, Any]]:
        symbol = self.symbol(params, required=False) or None
        orders = sorted(self.market.open_orders(account, symbol), key=lambda o: o.order_id)
        return [self.wire.order(o, with_time=True) for o in orders]

    def op_all_orders(self, account: Account, params: Params) -> list[dict[str, Any]]:
        symbol = self.symbol(params)
        limit = min(max(params.int("limit", default=500) or 500, 1), 1000)
        start_id = params.int("orderId")
        start, end = params.int("startTime"), params.int("endTime")
        orders: list[Order] = sorted(
            (o for o in self.market.account_orders(account, symbol) if o.trigger is None), key=lambda o: o.order_id
        )
        if start_id is not None:
            orders = [o for o in orders if o.order_id >= start_id]
        if start is not None:
            orders = [o for o in orders if o.created_ms >= start]
        if end is not None:
            orders = [o for o in orders if o.created_ms <= end]
        return [self.wire.order(o, with_time=True) for o in orders[-limit:]]

    def op_user_trades(self, account: Account, params: Params) -> list[dict[str, Any]]:
        symbol = self.symbol(params, required=not self.coinm) or None
        if self.coinm and symbol is None:
            pair = params.str("pair", required=True)
            fills = [f for f in self.market.account_trades(account) if self.market.instruments[f.symbol].pair == pair]
        else:
            fills = self.market.account_trades(account, symbol)
        limit = min(max(params.int("limit", default=500) or 500, 1), 1000)
        from_id, order_id = params.int("fromId"), params.int("orderId")
        start, end = params.int("startTime"), params.int("endTime")
        if from_id is not None:
            fills = [f for f in fills if f.trade_id >= from_id]
        if order_id is not None:
            fills = [f for f in fills if f.order_id == order_id]
        if start is not None:
            fills = [f for f in fills if f.time_ms >= start]
        if end is not None:
            fills = [f for f in fills if f.time_ms <= end]
        return [self.wire.trade(f, account) for f in fills[-limit:]]

    def op_leverage(self, account: Account, params: Params) -> dict[str, Any]:
        symbol = self.symbol(params)
        leverage = params.int("leverage", required=True)
        assert leverage is not None
        if not 1 <= leverage <= 125:
            raise BinanceError(-4028, f"Leverage {leverage} is not valid")
        self.market.set_leverage(account, symbol, leverage)
        if self.coinm:
            return {"leverage": leverage, "maxQty": "1000000", "symbol": symbol}
        return {"leverage": leverage, "maxNotionalValue": "250000000", "symbol": symbol}

    def op_account(self, account: Account, version: int) -> dict[str, Any]:
        return self.wire.account(account, version)

    def op_balance(self, account: Account) -> list[dict[str, Any]]:
        return self.wire.balances(account, alias_of(account))

    def op_position_risk(self, account: Account, params: Params, version: int) -> list[dict[str, Any]]:
        if self.coinm:
            pair = params.str("pair")
            rows = self.wire.position_risk(account, None, version)
            return [r for r in rows if not pair or self.market.instruments[r["symbol"]].pair == pair]
        return self.wire.position_risk(account, self.symbol(params, required=False) or None, version)

    def rate_limits(self, weight_used: int, orders: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """The ``rateLimits`` array of a WebSocket API answer."""
        out: list[dict[str, Any]] = []
        for lim in self.limiter.limits:
            entry = lim.describe()
            if lim.kind == "REQUEST_WEIGHT":
                entry["count"] = weight_used
                out.append(entry)
            elif lim.kind == "ORDERS" and orders is not None:
                entry["count"] = int(orders.get(f"X-MBX-ORDER-COUNT-{lim.header_suffix}", "0"))
                out.append(entry)
        return out

    # ------------------------------------------------------------------ market data

    def depth(self, params: Params) -> dict[str, Any]:
        """GET depth / WS API ``depth``: the order book, aggregated by price level."""
        symbol = self.symbol(params)
        limit = params.int("limit", default=500) or 500
        if limit not in (5, 10, 20, 50, 100, 500, 1000):
            raise BinanceError(-1130, "Invalid data sent for a parameter: 'limit'.")
        book = self.market.books[symbol]
        inst = self.market.instruments[symbol]
        bids, asks = book.depth(limit)
        now = self.now()
        out: dict[str, Any] = {"lastUpdateId": book.update_id, "E": now, "T": now}
        if self.coinm:
            out.update({"symbol": symbol, "pair": inst.pair})
        out["bids"] = [[inst.fmt_price(px), inst.fmt_qty(q)] for px, q in bids]
        out["asks"] = [[inst.fmt_price(px), inst.fmt_qty(q)] for px, q in asks]
        return out

    def klines(self, params: Params) -> list[list[Any]]:
        """GET klines: candles of the simulator's trades since start-up (``core.marketdata``); an
        interval without trades is flat at the previous close, as the venue prints it."""
        symbol = self.symbol(params)
        interval = params.enum("interval", tuple(KLINE_MS), required=True)
        limit = params.int("limit", default=500) or 500
        if not 1 <= limit <= 1500:
            raise BinanceError(-1130, "Invalid data sent for a parameter: 'limit'.")
        step = KLINE_MS[interval]
        inst = self.market.instruments[symbol]
        end = params.int("endTime") or self.now()
        first = md.bucket_start(end, step) - (limit - 1) * step
        start = params.int("startTime")
        if start is not None and start > first:
            first = md.bucket_start(start, step)
        candles = self.sim.marketdata.candles
        bars = {b.open_ms: b for b in candles.bars(self.market.name, symbol, step, first, end, limit)}
        before = candles.bars(self.market.name, symbol, step, None, first - 1, 1)
        close = before[-1].close if before else self.market.last_price.get(symbol, self.market.mark_price(symbol))

        def coin(volume: Decimal, quote: Decimal) -> Decimal:  # COIN-M: contracts x size / price, at the VWAP
            return volume * inst.contract_size * volume / quote if quote else Decimal(0)

        rows: list[list[Any]] = []
        t0 = first
        while t0 <= end and len(rows) < limit:
            b = bars.get(t0)
            if b is None:
                row = [t0, *[inst.fmt_price(close)] * 4, inst.fmt_qty(Decimal(0)), t0 + step - 1, fixed(Decimal(0), 8)]
                row += [0, inst.fmt_qty(Decimal(0)), fixed(Decimal(0), 8), "0"]
            else:
                quote = coin(b.volume, b.quote) if self.coinm else b.quote
                buy_quote = coin(b.buy_volume, b.buy_quote) if self.coinm else b.buy_quote
                row = [t0, *(inst.fmt_price(p) for p in (b.open, b.high, b.low, b.close)), inst.fmt_qty(b.volume)]
                row += [t0 + step - 1, fixed(quote, 8), b.count, inst.fmt_qty(b.buy_volume), fixed(buy_quote, 8), "0"]
                close = b.close
            rows.append(row)
            t0 += step
        return rows

    def exchange_info(self) -> dict[str, Any]:
        symbols = []
        for inst in self.market.instruments.values():
            filters: list[dict[str, Any]] = [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": inst.fmt_price(inst.min_price),
                    "maxPrice": inst.fmt_price(inst.max_price),
                    "tickSize": inst.fmt_price(inst.tick),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": inst.fmt_qty(inst.min_qty),
                    "maxQty": inst.fmt_qty(inst.max_qty),
                    "stepSize": inst.fmt_qty(inst.lot),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": inst.fmt_qty(inst.min_qty),
                    "maxQty": inst.fmt_qty(inst.market_max_qty or inst.max_qty),
                    "stepSize": inst.fmt_qty(inst.lot),
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            ]
            if not self.coinm:
                filters.append({"filterType": "MIN_NOTIONAL", "notional": f"{inst.min_notional:f}"})
            filters.append(
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": fixed(inst.percent_up, 4),
                    "multiplierDown": fixed(inst.percent_down, 4),
                    "multiplierDecimal": "4",
                }
            )
            row: dict[str, Any] = {
                "symbol": inst.symbol,
                "pair": inst.pair or inst.symbol,
                "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000,
                "onboardDate": 1569398400000,
            }
            if self.coinm:
                row["contractStatus"] = "TRADING"
                row["contractSize"] = int(inst.contract_size)
            else:
                row["status"] = "TRADING"
            row.update(
                {
                    "maintMarginPercent": "2.5000",
                    "requiredMarginPercent": "5.0000",
                    "baseAsset": inst.base,
                    "quoteAsset": inst.quote,
                    "marginAsset": inst.margin_asset,
                    "pricePrecision": inst.price_precision,
                    "quantityPrecision": inst.qty_precision,
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                }
            )
            if self.coinm:
                row["equalQtyPrecision"] = 4
            row.update(
                {
                    "underlyingType": "COIN",
                    "underlyingSubType": ["PoW"] if inst.base == "BTC" else ["Layer-1"],
                    "triggerProtect": "0.0500",
                    "liquidationFee": "0.012500",
                    "marketTakeBound": "0.05",
                    "maxMoveOrderLimit": 10000,
                    "filters": filters,
                    "orderTypes": ["LIMIT", "MARKET", *CONDITIONAL_TYPES],
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX"] + ([] if self.coinm else ["GTD"]),
                }
            )
            if not self.coinm:
                row["settlePlan"] = 0
                row["permissionSet"] = ["GRID", "COPY"]
            symbols.append(row)
        info: dict[str, Any] = {"timezone": "UTC", "serverTime": self.now()}
        if not self.coinm:
            info["futuresType"] = "U_MARGINED"
        info["rateLimits"] = self.limiter.describe()
        info["exchangeFilters"] = []
        if not self.coinm:
            info["assets"] = [
                {"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in self.wire.assets()
            ]
        info["symbols"] = symbols
        return info
