"""The Bybit v5 connector (spot, linear, inverse, option): the ``Connector`` contract of
``connectors.base`` over Bybit's REST API and websockets.

Mechanisms (``../shared/venues/bybit.md``):

- One category per connector (``bybit-spot`` -> ``spot``, ...). Every order carries
  ``orderLinkId`` = execx's clOrderId, checked against Bybit's rule (1-36 of ``A-Za-z0-9_-``) before
  anything is sent; options require it on the venue, the other categories get it too, so every
  stream event and query maps to the client order by that id.
- Orders over the ``/v5/trade`` websocket (``order_entry="ws"``: ``order.create`` / ``order.amend`` /
  ``order.cancel``, authenticated once per connection, no HTTP round trip; REST while that socket is
  down) or over REST. ``/v5/order/create`` (its answer means "accepted": ``New`` is reported, fills and
  final states come from the ``execution`` / ``order`` topics). Market orders are ``Market`` (IOC on
  the venue; spot sized in the base coin, ``marketUnit=baseCoin``). Post-only is
  ``timeInForce=PostOnly``: a crossing one is accepted, then cancelled by the venue with
  ``rejectReason=EC_PostOnlyWillTakeLiquidity``, reported as ``cancelled`` with that reason as
  message (the order was live for an instant, so it is not ``rejected``). No DAY time in force.
- Amend ``/v5/order/amend`` (venue amend, queue priority as the venue rules); cancel
  ``/v5/order/cancel``; ``cancel_all`` ``/v5/order/cancel-all`` by symbol.
- Batches: creates and cancels started in the same event-loop turn (``BatchSendOrders``, a pull
  through the engine, ``submit_orders`` / ``cancel_orders``) are collected per symbol
  (``transport.coalesce.Coalescer``) and sent as ``order.create-batch`` / ``order.cancel-batch`` over
  ``/v5/trade`` or ``/v5/order/create-batch`` / ``cancel-batch`` over REST, chunked to 10 orders on
  spot and 20 elsewhere; a lone one stays ``order.create`` / ``order.cancel``. Each caller gets its
  own outcome (a refused item its own ``retExtInfo.list`` code); a batch request that fails as a
  whole is every item's outcome (unknown included: the engine reconciles each).
- ``use_margin`` on spot: ``isLeverage=1`` (spot margin of the unified account); ignored elsewhere.
- Contingent orders held by the venue (``Capabilities.native_triggers``): a stop / take-profit with
  ``triggerPrice``; linear / inverse with ``triggerDirection`` and ``triggerBy``; spot (not margin) with
  ``orderFilter=StopOrder`` on the last price, whose direction Bybit takes from the last price, so the last
  price is read first (``tickers``) and a level it already reached is refused before sending, and the placed
  order read back (one held the other way round, the price having crossed meanwhile, is cancelled); spot's cancel
  of a held one goes alone under ``orderFilter=StopOrder``, and ``cancel_all`` also cancels under it.
- Cancel-on-disconnect (``ConnectorConfig.dead_man_s``): Bybit's Disconnection Protection. At start
  ``/v5/order/disconnected-cancel-all`` sets the category's product (SPOT, DERIVATIVES, OPTIONS) to a
  ``timeWindow`` of ``dead_man_s`` clamped to 10-300 s, and the private stream subscribes ``dcp.spot`` /
  ``dcp.future`` / ``dcp.option``: when every private connection subscribed to it is gone that long, Bybit
  cancels the product's orders (of the whole account). No heartbeat beyond the stream's own ping. A refusal
  (DCP is enabled by Bybit on request) is logged and the session goes on without it. ``close()`` leaves
  the topic first: a deliberate stop keeps the orders.
- Private stream: ``stream.PrivateStream``. Each execution is its own fill report (``execId`` as
  trade id). After a reconnect the connector reads ``/v5/execution/list`` since the last execution it
  saw for each symbol it traded, then open orders, then the final state of orders it believed live,
  and reports what it missed (the engine drops duplicates by trade id and status).
- Market data: ``orderbook.1.<symbol>`` (level 1) and ``publicTrade.<symbol>`` (options:
  ``publicTrade.<baseCoin>``, filtered by symbol) on the category's public host; aggressor = ``S``.
- Hosts, ``--testnet`` and the ``rest_url`` / ``ws_url`` overrides: ``urls.py``.

Lifecycle, tracking, recovery, the stall watch and market-data watching are
``connectors.venue.VenueConnector``'s; this module supplies Bybit's hooks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from decimal import Decimal
from typing import Any, Literal, cast

import aiohttp

from ...domain.enums import OrderStatus, Side, TimeInForce
from ...domain.errors import ValidationError
from ...domain.instruments import InstrumentRules
from ...domain.orders import CLIENT_ID_RULES
from ...domain.venue import (
    ExecutionReport,
    OrderRequest,
    OutcomeUnknown,
    Rejected,
    Retryable,
    TradeWindow,
    VenueError,
    VenuePosition,
)
from ..base import Capabilities, ConnectorConfig, PostOnlyCross
from ..tracking import PARSE_ERRORS, Known, refused_as_duplicate
from ..transport.coalesce import Coalescer
from ..transport.supervisor import Run
from ..transport.telemetry import measured
from ..transport.websocket import DEFAULT_BACKOFF, Backoff, NoAnswer, NotSent
from ..venue import VenueConnector
from . import parse
from .errors import DUPLICATE_CODES, UNKNOWN_ORDER_TEXT, classify, reset_wait_s
from .rest import BybitRest, batch_items
from .schemas import BookData, ExecutionRow, OrderRow, Params, PositionRow, TradeItem
from .signing import Signer
from .stream import PrivateStream, PublicStream, TradeStream
from .urls import CATEGORY_OF, Hosts, resolve_hosts

log = logging.getLogger("execx.connectors.bybit")

RECOVERY_WINDOW_MS = 7 * 86_400_000  # /v5/execution/list covers 7 days per query
BATCH_MAX = {"spot": 10, "linear": 20, "inverse": 20, "option": 20}
# Disconnection Protection (DCP, docs/safety.md): the product of a category and its private-stream topic
DCP_PRODUCT = {"spot": "SPOT", "linear": "DERIVATIVES", "inverse": "DERIVATIVES", "option": "OPTIONS"}
DCP_TOPIC = {"spot": "dcp.spot", "linear": "dcp.future", "inverse": "dcp.future", "option": "dcp.option"}
MARKET_PARSE_ERRORS: tuple[type[Exception], ...] = (*PARSE_ERRORS, IndexError)  # a book update without levels
DCP_WINDOW_MIN_S, DCP_WINDOW_MAX_S = 10, 300  # Bybit accepts 3-300 s; execx's floor is 10 s, Bybit's default


class BybitConnector(VenueConnector):
    def __init__(
        self,
        config: ConnectorConfig,
        *,
        clock_ms: Callable[[], int] | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        probe_every_s: float = 20.0,
        order_entry: Literal["rest", "ws"] = "rest",
    ) -> None:
        if config.exchange not in CATEGORY_OF:
            raise ValueError(f"not a Bybit market: {config.exchange}")
        super().__init__(config, clock_ms=clock_ms, backoff=backoff)
        self.category = CATEGORY_OF[config.exchange]
        self.capabilities = Capabilities(
            supported_tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),  # no DAY on Bybit
            supports_reduce_only=self.category != "spot",
            max_batch_place=BATCH_MAX[self.category],
            max_batch_cancel=BATCH_MAX[self.category],
            post_only_cross=PostOnlyCross.CANCELLED,  # EC_PostOnlyWillTakeLiquidity
            # conditional orders (triggerPrice): linear / inverse on last, mark or index; spot's (orderFilter
            # StopOrder) on the last price, but not spot margin's (isLeverage=1: execx sends none as conditional)
            native_triggers=parse.NATIVE_TRIGGERS if self.category != "option" else frozenset(),
            native_references=frozenset(parse.SPOT_TRIGGER_BY if self.category == "spot" else parse.TRIGGER_BY),
        )
        if self.category == "spot" and config.use_margin:
            self.capabilities = replace(self.capabilities, native_triggers=frozenset(), native_references=frozenset())
        # DCP with cancelOnDisconnect: the window set at start, the private stream subscribed to its topic
        self._dcp_window_s = (
            round(min(max(config.dead_man_s, DCP_WINDOW_MIN_S), DCP_WINDOW_MAX_S)) if config.dead_man_s else 0
        )
        self._dcp_set = False
        if self._dcp_window_s:
            self.capabilities = replace(self.capabilities, cancel_on_disconnect=True)
        self.margin = config.use_margin and self.category == "spot"  # derivatives are margined already
        self.hosts: Hosts = resolve_hosts(config.testnet, config.rest_url, config.ws_url)
        self._probe_every_s = probe_every_s
        self._signer = Signer(config.api_key, config.secret_key, self._clock_ms)
        self._client_ids = CLIENT_ID_RULES[config.exchange]
        self._rest: BybitRest | None = None
        self._settle_of: dict[str, str] = {}  # symbol -> settle coin (the fee currency of a derivative)
        self._settle_coins: list[str] = []  # linear: USDT, USDC (queries without a symbol need one)
        self._private: PrivateStream | None = None
        self._public: PublicStream | None = None
        self.order_entry = order_entry
        self._trade: TradeStream | None = None
        self._batches: Coalescer[tuple[str, str], Params, dict[str, Any]] = Coalescer(
            self._send, self.capabilities.max_batch_place, "Bybit"
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def rest(self) -> BybitRest:
        if self._rest is None:
            raise RuntimeError("connector not started")
        return self._rest

    def _open_transport(self, session: aiohttp.ClientSession, *, keyless: bool) -> None:
        self._rest = BybitRest(session, self.hosts.rest, self._signer, self._clock_ms)
        self._rest.telemetry = self.telemetry
        self._rest.gate = None if keyless else self.rate_gate  # fleet mode: the account's shared budget

    async def _load_rules(self, *, keyless: bool) -> dict[str, InstrumentRules]:
        """The category's instruments (public), and each one's settle coin."""
        rows = await self.rest.instruments_info(self.category)
        self._settle_coins = sorted({r.get("settleCoin", "") for r in rows} - {""})
        self._settle_of = {r["symbol"]: r.get("settleCoin", "") for r in rows}
        return parse.parse_instruments(self.exchange, self.category, rows)

    async def _private_runs(self, session: aiohttp.ClientSession) -> list[Run]:
        # A cheap signed read first, so wrong credentials fail the start in the venue's words.
        await self.rest.wallet_balance()
        if self._dcp_window_s:
            await self._set_dcp()
        private = self._private = PrivateStream(
            session,
            self.hosts.private,
            self._signer,
            self._on_private,
            self._stream_state,
            self._recovery.run,
            self._backoff,
            self._probe_every_s,
            extra_topics=(DCP_TOPIC[self.category],) if self._dcp_set else (),
        )
        private.ws.telemetry = self.telemetry
        runs: list[Run] = [(f"{self.exchange}.private", private.run)]
        if self.order_entry == "ws":
            trade = self._trade = TradeStream(
                session, self.hosts.trade, self._signer, self._backoff, self._probe_every_s
            )
            trade.ws.telemetry = self.telemetry
            runs.append((f"{self.exchange}.trade", trade.run))
        return runs

    def _private_stream(self) -> PrivateStream | None:
        return self._private

    async def _set_dcp(self) -> None:
        """Bybit's DCP window for this category's product; refused (DCP is enabled by Bybit for institutional
        accounts on request): logged, the session goes on with execx's own cancel-on-disconnect only."""
        product = DCP_PRODUCT[self.category]
        try:
            await self.rest.disconnected_cancel_all(product, self._dcp_window_s)
        except VenueError as e:
            log.warning("deadman.dcp_refused", extra={"venue": str(self.exchange), "error": e.message})
            return
        self._dcp_set = True
        log.info(
            "deadman.armed", extra={"venue": str(self.exchange), "product": product, "timeoutS": self._dcp_window_s}
        )

    @property
    def cancel_on_disconnect_armed(self) -> bool:
        """DCP is in force: its window set and the private stream (subscribed to its topic) up."""
        return self._dcp_set and self._private is not None and self._private.ws.live

    async def _before_close(self) -> None:
        if self._dcp_set and self._private is not None:
            # a deliberate stop keeps the orders: the connection leaves the DCP topic before it closes
            await self._private.unsubscribe([DCP_TOPIC[self.category]])
            self._dcp_set = False
        await self._batches.close()

    # ------------------------------------------------------------------ orders

    def _order_params(self, order: OrderRequest) -> Params:
        """The ``order.create`` item of ``order`` (without ``category``: a batch carries it once)."""
        self._client_ids.check(order.cl_order_id)
        self.rules(order.symbol)
        if order.tif not in self.supported_tifs:
            raise ValidationError("tif", f"{order.tif.value} is not supported by Bybit")
        return parse.order_params(order, self.category, margin=self.margin)

    async def submit_order(self, order: OrderRequest) -> ExecutionReport:
        params = self._order_params(order)
        if order.trigger is not None and self.category == "spot":
            await self._check_spot_level(order)
        known = Known(order.symbol, order.side, order.order_type, order.tif, order.qty, order.price)
        previous = self.tracker.track(order.cl_order_id, known)
        try:
            ack = await self._batches.submit(("create", order.symbol), params)
        except Retryable:  # nothing reached the venue: not live (a retry tracks it again)
            self.tracker.refused(order.cl_order_id)
            raise
        except Rejected as exc:
            if refused_as_duplicate(exc, DUPLICATE_CODES):  # the order exists
                why = f"{self.exchange} refused {order.cl_order_id} as a duplicate ({exc.code} {exc.message})"
                return await self.tracker.existing(order.symbol, order.cl_order_id, previous, self.query_order, why)
            self.tracker.refused(order.cl_order_id)
            raise
        report = self._ack(order, known, str(ack.get("orderId", "")))
        if order.trigger is not None and self.category == "spot":
            return await self._check_spot_direction(order, report)
        return report

    async def _check_spot_direction(self, order: OrderRequest, ack: ExecutionReport) -> ExecutionReport:
        """After a spot conditional order is placed: read it back (``orderFilter=StopOrder``); if the venue holds
        it the other way round (its ``triggerDirection``: the last price crossed the level between the read of
        ``_check_spot_level`` and the placement), cancel it at once and answer it ``cancelled`` with the reason.
        A read or cancel that fails leaves the answer as it is (logged): the order is live as placed."""
        query = parse.order_query(self.category, order.symbol, order.cl_order_id, stop=True)
        try:
            rows = await self.rest.order_realtime(query)
        except VenueError as exc:
            log.warning("bybit.spot_trigger.unchecked", extra={"clOrderId": order.cl_order_id, "error": exc.message})
            return ack
        why = parse.spot_held_the_other_way(order, rows[0]) if rows else ""
        if not why:
            return ack
        log.warning("bybit.spot_trigger.other_way", extra={"clOrderId": order.cl_order_id, "why": why})
        try:
            await self._order_op("order.cancel", self._spot_cancel(order.symbol, order.cl_order_id, "StopOrder"))
        except VenueError as exc:
            log.warning(
                "bybit.spot_trigger.not_cancelled", extra={"clOrderId": order.cl_order_id, "error": exc.message}
            )
            return ack
        report = replace(self._cancelled(order.symbol, order.cl_order_id, ack.exch_order_id), message=why)
        self.tracker.note(report)
        return report

    async def _check_spot_level(self, order: OrderRequest) -> None:
        """Bybit spot takes a conditional order's direction from the last price when it is placed: the last
        price is read first (``tickers``), and a level it already reached is refused before anything is sent
        (``Rejected``; linear's 110092 / 110093 say the same). The price can still move between this read and
        the venue's creation (docs/contingent_orders.md)."""
        last = parse.parse_last_price(await self.rest.tickers(parse.ticker_params(self.category, order.symbol)))
        why = "no last price to place it against" if last is None else parse.spot_level_reached(order, last)
        if why:
            raise Rejected(f"{self.exchange} conditional order {order.cl_order_id} not sent: {why}", "execx")

    async def _send(self, key: tuple[str, str], items: list[Params]) -> list[dict[str, Any] | VenueError]:
        """One loop turn's creates or cancels of one symbol (at most the batch limit): a lone one as
        ``order.create`` / ``order.cancel``, several as one ``create-batch`` / ``cancel-batch``; one
        outcome per item, the item's own refusal from ``retExtInfo.list``."""
        action = key[0]
        cap = self.rest.batch_cap(action, self.category)  # fleet mode: a batch fits the shared budget
        if cap and len(items) > cap:
            outcomes: list[dict[str, Any] | VenueError] = []
            for i in range(0, len(items), cap):
                chunk = items[i : i + cap]
                try:
                    outcomes += await self._send(key, chunk)
                except VenueError as e:  # this chunk's outcome; the chunks sent before keep theirs
                    outcomes += [e] * len(chunk)
            return outcomes
        if len(items) == 1:
            return [await self._order_op(f"order.{action}", {"category": self.category, **items[0]})]
        args: Params = {"category": self.category, "request": items}
        reply = await self._trade_reply(f"order.{action}-batch", args)
        answered = (
            batch_items(reply.get("data"), reply.get("retExtInfo"))
            if reply is not None
            else await self.rest.batch(action, self.category, items)
        )
        return [item.error() or item.row for item in answered]

    async def _order_op(self, op: str, params: Params) -> dict[str, str]:
        """``order.create|amend|cancel`` over ``/v5/trade`` while that connection is live (no HTTP round
        trip), else over REST."""
        reply = await self._trade_reply(op, params)
        if reply is not None:
            return cast(dict[str, str], reply.get("data") or {})
        rest_call = {
            "order.create": self.rest.order_create,
            "order.amend": self.rest.order_amend,
            "order.cancel": self.rest.order_cancel,
        }[op]
        return await rest_call(params)

    async def _trade_reply(self, op: str, args: Params) -> dict[str, Any] | None:
        """``op`` over ``/v5/trade``: the venue's reply when it accepted the request (``retCode`` 0; a
        batch's items may still be refused one by one); None when that socket is not in use or never
        sent the request (the caller goes over REST). Sent but not answered is ``OutcomeUnknown``."""
        trade = self._trade
        if trade is None or not trade.ws.live:
            return None
        self.rest.limiter.check()  # shared with REST: the venue counts both against one limit
        await self.rest.draw("/v5/" + op.replace(".", "/"), args, True)  # counted as its REST endpoint
        try:
            return await measured(self.telemetry, f"WS {op}", self._trade_ask(trade, op, args))
        except NotSent:
            log.info("bybit.trade.not_sent", extra={"op": op})
            return None

    async def _trade_ask(self, trade: TradeStream, op: str, args: Params) -> dict[str, Any]:
        try:
            reply = await trade.request(op, args)
        except NoAnswer as exc:
            raise OutcomeUnknown(f"{op}: {exc}", "transport") from None
        code = reply.get("retCode")
        header = reply.get("header") or {}
        error = None
        if code != 0:
            error = classify(
                200,
                code if isinstance(code, int) else None,
                str(reply.get("retMsg", "")),
                mutating=True,
                retry_after_s=reset_wait_s(header.get("X-Bapi-Limit-Reset-Timestamp"), self._clock_ms()),
            )
        self.rest.limited("/v5/" + op.replace(".", "/"), args, header.get("X-Bapi-Limit"), error)
        if error is not None:
            raise error
        return reply

    def _ack(self, order: OrderRequest, known: Known, exch_order_id: str) -> ExecutionReport:
        ack = parse.acknowledged(order, exch_order_id, time.time_ns())
        self.tracker.note(ack)
        return ack

    async def submit_orders(self, orders: list[OrderRequest]) -> list[ExecutionReport | VenueError]:
        """Several new orders, one outcome per order, in order: ``submit_order`` for a batch limit's worth
        at a time (so each chunk is one ``create-batch``, the chunks in sequence). Invalid orders raise
        ``ValidationError`` before anything is sent."""
        for order in orders:
            self._order_params(order)
        size = BATCH_MAX[self.category]
        out: list[ExecutionReport | VenueError] = []
        for start in range(0, len(orders), size):
            out += await _outcomes(self.submit_order(o) for o in orders[start : start + size])
        return out

    async def amend_order(
        self, symbol: str, cl_order_id: str, side: Side, qty: Decimal, price: Decimal | None
    ) -> ExecutionReport:
        ack = await self._order_op("order.amend", parse.amend_params(self.category, symbol, cl_order_id, qty, price))
        known = self.tracker.get(cl_order_id)
        cum = Decimal(0)
        if known is not None:
            known.qty, cum = qty, known.cum_filled
            known.price = price if price is not None else known.price
        new_price = price if price is not None else (known.price if known else None)
        exch_order_id = ack.get("orderId", "")
        untriggered = known is not None and known.status is OrderStatus.PENDINGTRIGGER
        return parse.amended(symbol, cl_order_id, exch_order_id, side, qty, new_price, cum, time.time_ns(), untriggered)

    async def cancel_order(self, symbol: str, cl_order_id: str) -> ExecutionReport:
        if self.category == "spot" and self.capabilities.native_triggers:
            ack = await self._cancel_spot(symbol, cl_order_id)
        else:
            ack = await self._batches.submit(("cancel", symbol), parse.cancel_params(symbol, cl_order_id))
        return self._cancelled(symbol, cl_order_id, str(ack.get("orderId", "")))

    async def _cancel_spot(self, symbol: str, cl_order_id: str) -> dict[str, Any]:
        """Spot's cancel takes ``orderFilter`` (``Order`` by default): a conditional order still waiting for its
        trigger is cancelled under ``StopOrder``, alone (the batch cancel has no filter). An order believed
        held is asked for under ``StopOrder`` first, one not known to the connector (after a restart) or not
        acknowledged yet as an order on the book first; "Order does not exist" under the one filter (it fired
        meanwhile, or is held) is asked again under the other."""
        known = self.tracker.get(cl_order_id)
        held = known is not None and known.status is OrderStatus.PENDINGTRIGGER
        unsure = known is None or known.status is OrderStatus.PENDINGNEW  # not known yet whether it is held
        if not held and not unsure:
            return await self._batches.submit(("cancel", symbol), parse.cancel_params(symbol, cl_order_id))
        first, then = ("StopOrder", "Order") if held else ("Order", "StopOrder")
        try:
            return await self._order_op("order.cancel", self._spot_cancel(symbol, cl_order_id, first))
        except Rejected as exc:
            if exc.code not in UNKNOWN_ORDER_TEXT:
                raise
        return await self._order_op("order.cancel", self._spot_cancel(symbol, cl_order_id, then))

    def _spot_cancel(self, symbol: str, cl_order_id: str, order_filter: str) -> Params:
        return {"category": self.category, **parse.cancel_params(symbol, cl_order_id, order_filter)}

    def _cancelled(self, symbol: str, cl_order_id: str, exch_order_id: str) -> ExecutionReport:
        known = self.tracker.get(cl_order_id)
        now = time.time_ns()
        if known is None:
            return parse.cancelled(symbol, cl_order_id, exch_order_id, Side.BUY, Decimal(0), None, Decimal(0), now)
        return parse.cancelled(
            symbol, cl_order_id, exch_order_id, known.side, known.qty, known.price, known.cum_filled, now
        )

    async def cancel_orders(self, symbol: str, cl_order_ids: list[str]) -> list[ExecutionReport | VenueError]:
        """Several cancels, one outcome per order, in order (``cancel-batch`` per batch limit's worth)."""
        size = BATCH_MAX[self.category]
        out: list[ExecutionReport | VenueError] = []
        for start in range(0, len(cl_order_ids), size):
            out += await _outcomes(self.cancel_order(symbol, c) for c in cl_order_ids[start : start + size])
        return out

    async def cancel_all(self, symbol: str) -> None:
        await self.rest.order_cancel_all(parse.cancel_all_params(self.category, symbol))
        if self.category == "spot" and self.capabilities.native_triggers:  # the held conditional orders too
            await self.rest.order_cancel_all(parse.cancel_all_params(self.category, symbol, "StopOrder"))

    async def query_order(self, symbol: str, cl_order_id: str) -> ExecutionReport | None:
        query = parse.order_query(self.category, symbol, cl_order_id)
        rows = await self.rest.order_realtime(query)
        if not rows and self.capabilities.native_triggers:  # a conditional order: listed under StopOrder
            rows = await self.rest.order_realtime(parse.order_query(self.category, symbol, cl_order_id, stop=True))
        rows = rows or await self.rest.order_history(query)
        if not rows:
            return None
        report = parse.parse_order(rows[0])
        self.tracker.learn(report)
        return report

    async def order_fills(self, symbol: str, cl_order_id: str) -> list[ExecutionReport]:
        rows = await self.rest.execution_list(parse.order_query(self.category, symbol, cl_order_id))
        return [self._fee_currency(r) for r in parse.parse_fills(rows)]

    async def open_orders(self, symbol: str | None = None) -> list[ExecutionReport]:
        rows: list[OrderRow] = []
        for query in parse.listing_queries(self.category, self._settle_coins, symbol):
            rows += await self.rest.order_realtime(query)
        reports = [parse.parse_order(r) for r in rows]
        for report in reports:
            self.tracker.note(report)
        return reports

    async def trades_between(self, symbol: str, start_ms: int, end_ms: int) -> TradeWindow:
        """The public trades of ``symbol`` from ``start_ms`` to ``end_ms`` that Bybit still lists: ``recent-trade``
        keeps the newest ones only (60 on spot, 1000 elsewhere), so a busy or long gap is not complete."""
        rows = await self.rest.recent_trade(parse.recent_trade_params(self.category, symbol))
        return parse.parse_recent_trades(rows, start_ms, end_ms, parse.RECENT_TRADE_LIMIT[self.category])

    async def positions(self) -> list[VenuePosition]:
        if self.category == "spot":
            return []
        rows: list[PositionRow] = []
        for query in parse.listing_queries(self.category, self._settle_coins):
            rows += await self.rest.position_list(query)
        return parse.parse_positions(rows)

    # ------------------------------------------------------------------ market data

    def _market_topics(self, symbol: str) -> list[str]:
        """Level 1 book (options: 25) and public trades (options: of the base coin, filtered by symbol)."""
        trade_key = self._rules[symbol].symbol.split("-")[0] if self.category == "option" else symbol
        return [f"orderbook.{'25' if self.category == 'option' else '1'}.{symbol}", f"publicTrade.{trade_key}"]

    def _subscribe_market(self, symbol: str) -> None:
        self._public_stream().subscribe(self._market_topics(symbol))

    def _unsubscribe_market(self, symbol: str) -> None:
        if self._public is not None:
            self._public.unsubscribe(self._market_topics(symbol))  # the stream counts its topics' watchers

    def _public_stream(self) -> PublicStream:
        if self._public is None:
            if self._session is None or not self._supervisor.running:
                raise RuntimeError("connector not started")
            self._public = PublicStream(
                self._session,
                self.hosts.public(self.category),
                self._on_public,
                name=f"{self.exchange}.market",
                backoff=self._backoff,
                probe_every_s=self._probe_every_s,
            )
            self._public.ws.telemetry = self.telemetry
            self._supervisor.spawn(self._public.ws.name, self._public.run)
        return self._public

    def _on_public(self, topic: str, data: Any) -> None:
        try:
            if topic.startswith("orderbook.") and isinstance(data, dict):
                ticker = parse.parse_book(cast(BookData, data), time.time_ns())
                if ticker is not None:
                    self._watchers.ticker(ticker)
            elif topic.startswith("publicTrade.") and isinstance(data, list):
                for item in data:
                    self._watchers.trade(parse.parse_trade(cast(TradeItem, item)))
        except MARKET_PARSE_ERRORS as exc:
            log.warning("bybit.market.parse_error", extra={"error": repr(exc), "topic": topic})

    # ------------------------------------------------------------------ private events

    def _on_private(self, topic: str, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row.get("category", self.category) != self.category or not row.get("orderLinkId"):
                continue  # another category of the same account, or an order not sent with a link id
            try:
                if topic == "execution" and row.get("execType", "Trade") == "Trade":
                    self._on_execution(cast(ExecutionRow, row))
                elif topic == "order":
                    self.tracker.emit(parse.parse_order(cast(OrderRow, row)))
            except PARSE_ERRORS as exc:
                log.warning("bybit.private.parse_error", extra={"error": repr(exc), "topic": topic})

    def _on_execution(self, row: ExecutionRow) -> None:
        if self.tracker.seen(row["symbol"], row["execId"], row["orderId"]):
            return
        known = self.tracker.get(row.get("orderLinkId", ""))
        qty = Decimal(row["execQty"])
        if known is not None:
            cum = known.cum_filled + qty
        else:
            cum = Decimal(row.get("orderQty") or 0) - Decimal(row.get("leavesQty") or 0)
        self.tracker.emit(self._fee_currency(parse.parse_execution(row, cum)))

    def _fee_currency(self, report: ExecutionReport) -> ExecutionReport:
        """Bybit sends ``feeCurrency`` for spot only; a derivative's fee is in its settle coin."""
        if report.fee_asset or not report.trade_id:
            return report
        return replace(report, fee_asset=self._settle_of.get(report.symbol, ""))

    # ------------------------------------------------------------------ gap recovery

    async def _recover_once(self) -> None:
        """Executions since the last one seen (per symbol this connector traded), then open orders, then
        the final state of orders believed live that are no longer open."""
        for symbol in self.tracker.symbols(live_only=True):
            since = max(self.tracker.trades_since_ms(symbol, self._started_ms), self._clock_ms() - RECOVERY_WINDOW_MS)
            rows = await self.rest.execution_list(parse.executions_since(self.category, symbol, since - 1))
            for row in parse.in_time_order(rows):
                if self.tracker.get(row.get("orderLinkId", "")) is not None and row.get("execType", "Trade") == "Trade":
                    self._on_execution(row)
        open_reports = await self.open_orders()
        open_ids = {r.cl_order_id for r in open_reports}
        for report in open_reports:
            if self.tracker.get(report.cl_order_id) is not None and self.tracker.changed(report):
                self.tracker.emit(report)
        for cl_order_id, known in self.tracker.live():
            if cl_order_id not in open_ids:
                final = await self.query_order(known.symbol, cl_order_id)
                if final is not None:
                    self.tracker.emit(final)
                elif known.exch_order_id:
                    self.tracker.vanished(cl_order_id, self._clock_ms() * 1_000_000)


async def _outcomes(calls: Iterable[Awaitable[ExecutionReport]]) -> list[ExecutionReport | VenueError]:
    """The calls started together (so they coalesce into one batch); each one's report or venue error."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, VenueError):
            raise result
    return cast(list[ExecutionReport | VenueError], results)
