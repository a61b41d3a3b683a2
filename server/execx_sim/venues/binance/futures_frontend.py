"""Binance USDⓈ-M and COIN-M futures front-ends: REST (fapi/dapi), WebSocket API (ws-fapi/ws-dapi)
and streams (fstream/dstream), over one engine market each.

``flavor="usdm"`` serves ``/fapi/...``, ``/ws-fapi/v1`` and the fstream paths; ``flavor="coinm"``
serves ``/dapi/...``, ``/ws-dapi/v1`` and dstream. This module holds the state both transports share
(listen keys, countdown-cancel and GTD timers); the order operations (``op_*``), which REST
(``futures_rest``) and the WebSocket API (``futures_ws``) both call so that validation and errors are
written once, are ``futures_trading``'s (``fe.trading``).
Docs: https://developers.binance.com/docs/derivatives/usds-margined-futures and
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
    OrderError,
    OrderEvent,
    PublicTrade,
)
from ..common import Endpoint, WsRegistry
from . import errors
from .errors import BinanceError
from .futures_trading import CONDITIONAL_TYPES, FuturesTrading
from .futures_wire import Wire, fixed
from .ratelimit import futures_limits
from .rest_common import BinanceHttp, Params

if TYPE_CHECKING:
    from ...app import Simulator

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
        self.trading = FuturesTrading(self)  # the order operations (futures_trading.py)
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
        from .futures_streams import FuturesStreams
        from .futures_ws import FuturesWsApi
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

    # ------------------------------------------------------------------ WebSocket API

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
