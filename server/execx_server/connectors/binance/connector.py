"""The Binance connector (spot, USDⓈ-M futures, COIN-M futures): the ``Connector`` contract of
``connectors.base`` over Binance's REST API and websockets.

Mechanisms (``../shared/venues/binance.md``):

- Orders over REST: ``POST /api/v3/order`` (``newOrderRespType=FULL``: immediate fills come back
  with their trade ids and are reported at once), ``POST /fapi|dapi/v1/order``
  (``newOrderRespType=RESULT``; when the answer shows an immediate fill, ``userTrades`` of that order
  are fetched so every fill is reported with its trade id before the acknowledgement). Post-only is
  spot ``LIMIT_MAKER`` / futures ``timeInForce=GTX``; a crossing post-only order is refused by the
  venue (spot -2010, futures -5022) and becomes ``Rejected`` with the venue's message. Binance has
  no DAY time in force: such an order is refused locally (nothing is sent).
- Amend: futures ``PUT /fapi|dapi/v1/order`` (the venue re-queues the order). Spot has no general
  amend: a pure quantity decrease uses ``PUT /api/v3/order/amend/keepPriority`` (priority kept);
  anything else (price change, quantity increase) uses ``POST /api/v3/order/cancelReplace``
  (``STOP_ON_FAILURE``; new order under the same client order id, sized to the quantity not yet
  filled; priority lost). The acknowledgement's ``message`` says which one ran
  (``"amend/keepPriority"`` / ``"cancel-replace"``). ``supports_amend`` is True for every flavour
  because the connector always performs the amend itself and reports how.
- Cancel ``DELETE .../order``, cancel-all ``DELETE /api/v3/openOrders`` / ``.../allOpenOrders``,
  query by ``origClientOrderId`` (-2013 = unknown -> None), open orders, ``positionRisk``.
- Private streams: see ``stream.py``. Every fill is its own ``ExecutionReport`` (trade id, fill
  qty/price, liquidity, fee). After a reconnect the connector asks for open orders, the trades since
  the last trade it saw (``myTrades`` / ``userTrades``) and the state of orders it believed live,
  and reports what it missed (the engine drops duplicates by trade id and status).
- Market data: ``bookTicker`` plus ``trade`` (spot) / ``aggTrade`` (futures), aggressor from ``m``.
- Spot order entry (place, cancel, amend, cancel-replace) can go over the WebSocket API connection
  that already carries the private stream (``order_entry="ws"``: ``order.place``, ``order.cancel``,
  ``order.amend.keepPriority``, ``order.cancelReplace``; no HTTP round trip). While that connection
  is down, the REST endpoints are used. Default: REST.
- Cross margin (``ConnectorConfig.use_margin`` on spot; the session's ``useMargin``): orders, cancels,
  queries, open orders and trades use ``/sapi/v1/margin/...`` with ``isIsolated=FALSE`` over REST
  (the WebSocket API has no margin order entry, so ``order_entry="ws"`` is ignored), every order
  carries ``sideEffectType=MARGIN_BUY`` (borrow what is missing at entry), an amend is a cancel
  followed by a new order under the same client order id (margin has neither amend nor
  cancel-replace), and the private stream is the margin user data stream (``listenToken``, see
  ``stream.py``). Futures are margined already: ``use_margin`` is ignored there.
- Spot order lists (issue 20's native OCO / OTO / OTOCO groups, ``PlacesGroups``): ``POST /api/v3/orderList/
  oco|oto|otoco`` or ``orderList.place.*`` over the WebSocket API (``parse.order_list_request``); a pending
  order (``PENDING_NEW``) is ``pendingtrigger``; a group is cancelled with ``DELETE /api/v3/orderList`` /
  ``orderList.cancel`` (a cancel of one leg cancels the list too); an order of a list on the book is amended
  by a quantity decrease only (``order.amend.keepPriority``).
- Hosts, ``--testnet`` and the ``rest_url`` / ``ws_url`` overrides: ``urls.py``.

Lifecycle, tracking, recovery, the stall watch, the dead-man switch and market-data watching are
``connectors.venue.VenueConnector``'s; this module supplies Binance's hooks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, Literal, cast

import aiohttp

from ...domain.enums import OrderStatus, OrderType, Side, TimeInForce
from ...domain.errors import ValidationError
from ...domain.instruments import InstrumentRules
from ...domain.venue import (
    ExecutionReport,
    GroupRequest,
    NativeTrigger,
    OrderRequest,
    Rejected,
    Retryable,
    Trade,
    TradeWindow,
    VenueError,
    VenuePosition,
)
from ..base import Capabilities, ConnectorConfig
from ..deadman import DeadManSwitch
from ..tracking import PARSE_ERRORS, Known, refused_as_duplicate
from ..transport.supervisor import Run
from ..transport.websocket import DEFAULT_BACKOFF, Backoff
from ..venue import VenueConnector
from . import parse
from .errors import DUPLICATE_CODES, DUPLICATE_SHARED_CODES, UNKNOWN_ORDER_CODES
from .rest import BinanceRest, CancelReplaceFailed, OrderEntry
from .schemas import BookTickerMsg, FuturesOrder, SpotOrder, TradeMsg
from .signing import Signer
from .stream import FuturesUserStream, MarketStream, SpotUserStream, WsOrderEntry
from .urls import FLAVOR_OF, Flavor, Hosts, resolve_hosts

log = logging.getLogger("execx.connectors.binance")

RECOVERY_WINDOW_MS = 23 * 3600 * 1000  # trades older than this are left to the engine's reconciliation
TRADES_PAGE = 1000  # myTrades / userTrades maximum limit
TRADES_MAX = 20_000  # recovery reads at most this many missed trades per symbol
HISTORY_REQUESTS = 48  # trades_between: aggTrades requests at most (a day of quiet hours; 48 000 trades)
MS_NS = 1_000_000


class BinanceConnector(VenueConnector):
    def __init__(
        self,
        config: ConnectorConfig,
        *,
        clock_ms: Callable[[], int] | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        order_entry: Literal["rest", "ws"] = "rest",
        probe_every_s: float = 30.0,
    ) -> None:
        if config.exchange not in FLAVOR_OF:
            raise ValueError(f"not a Binance market: {config.exchange}")
        super().__init__(config, clock_ms=clock_ms, backoff=backoff)
        self.flavor = FLAVOR_OF[config.exchange]
        self.capabilities = Capabilities(
            supported_tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),  # no DAY on Binance
            supports_reduce_only=self.flavor is not Flavor.SPOT,
        )
        if self.flavor is not Flavor.SPOT:  # conditional orders on the Algo Order API (spot's: emulated)
            self.capabilities = replace(
                self.capabilities,
                native_triggers=frozenset({"stop", "takeprofit", "trailingstop"}),
                native_references=frozenset(parse.WORKING_TYPE),
                native_trailing=frozenset({"percent"}),
            )
        # Cross margin (session ``useMargin``) exists on spot only; futures are margined already, so
        # ``use_margin`` means nothing there and is ignored.
        self.margin = config.use_margin and self.flavor is Flavor.SPOT
        if self.flavor is Flavor.SPOT and not self.margin:
            # spot's own contingent types (STOP_LOSS(_LIMIT), TAKE_PROFIT(_LIMIT) with stopPrice) on the last
            # trade price, and a trailing stop by percent as STOP_LOSS with trailingDelta where that is exact
            # (``holds_trigger``: whole BIPS within the filter, no triggerPrice); post-only stops stay emulated
            # (spot has none), and cross margin's (execx's margin orders are not sent as contingent types)
            self.capabilities = replace(
                self.capabilities,
                native_triggers=frozenset({"stop", "takeprofit", "trailingstop"}),
                native_references=frozenset({"last"}),
                native_trailing=frozenset({"percent"}),
                native_postonly=False,
                # spot's order lists (``PlacesGroups`` below): OCO, OTO, OTOCO; their orders on the book are amended
                # by a quantity decrease only (order.amend.keepPriority; a cancel-replace would leave the list)
                native_groups=parse.LIST_TYPES,
                native_group_qty_decrease=True,
            )
        self._trailing_filters: dict[str, parse.TrailingDeltaFilter] = {}  # spot: each symbol's TRAILING_DELTA
        if order_entry == "ws" and self.flavor is not Flavor.SPOT:
            raise ValueError("order entry over the WebSocket API is implemented for Binance spot only")
        # The WebSocket API has no margin order entry: margin orders always go over REST.
        self.order_entry: Literal["rest", "ws"] = "rest" if self.margin else order_entry
        self._probe_every_s = probe_every_s  # private stream liveness probe (spot ping, futures LIST_SUBSCRIPTIONS)
        self.hosts: Hosts = resolve_hosts(self.flavor, config.testnet, config.rest_url, config.ws_url)
        self._signer = Signer(config.api_key, config.secret_key, self._clock_ms)
        self._rest: BinanceRest | None = None
        self._ws_entry: WsOrderEntry | None = None  # spot, ``order_entry="ws"``: the WebSocket API
        # ``tracker.superseded``: venue ids replaced by cancel-replace.
        self._user: SpotUserStream | FuturesUserStream | None = None
        self._market: dict[str, MarketStream] = {}
        self._gap_fetches: set[str] = set()  # venue order ids whose trades are being fetched (``_fetch_if_gap``)
        # spot, after a restart: each journal order's venue ids (``restore_order``), until it is asked for
        self._journal_ids: dict[str, tuple[str, ...]] = {}
        # futures' countdownCancelAll, per symbol, kept armed for every symbol the session traded
        # (``cancelOnDisconnect``; docs/safety.md). Spot has no dead-man switch.
        self._dead_man_symbols: set[str] = set(config.dead_man_symbols)  # a resumed session's open orders
        if config.dead_man_s and self.flavor is not Flavor.SPOT:
            self.capabilities = replace(self.capabilities, cancel_on_disconnect=True)
            self._dead_man = DeadManSwitch(self.name, config.dead_man_s, self._countdown, max_s=600)

    # ------------------------------------------------------------------ lifecycle

    @property
    def rest(self) -> BinanceRest:
        if self._rest is None:
            raise RuntimeError("connector not started")
        return self._rest

    def _entry(self) -> OrderEntry:
        """Where an order request goes: the WebSocket API while its connection is live (spot, chosen with
        ``order_entry="ws"``; never cross margin), otherwise REST."""
        ws = self._ws_entry
        return ws if ws is not None and ws.live else self.rest

    def _open_transport(self, session: aiohttp.ClientSession, *, keyless: bool) -> None:
        rest = self._rest = BinanceRest(session, self.hosts.rest, self.flavor, self._signer)
        rest.telemetry = self.telemetry
        rest.margin = self.margin
        rest.gate = self.rate_gate

    async def _load_rules(self, *, keyless: bool) -> dict[str, InstrumentRules]:
        """``exchangeInfo`` (public); spot's ``TRAILING_DELTA`` filters kept for ``holds_trigger``."""
        info = await self.rest.exchange_info()
        if self.flavor is Flavor.SPOT:
            self._trailing_filters = parse.trailing_delta_filters(info)
        return parse.parse_exchange_info(info, self.exchange)

    async def _private_runs(self, session: aiohttp.ClientSession) -> list[Run]:
        user: SpotUserStream | FuturesUserStream
        if self.flavor is Flavor.SPOT:
            spot = user = SpotUserStream(
                session,
                self.hosts,
                self._signer,
                self._on_user_event,
                self._stream_state,
                self._recovery.run,
                self._backoff,
                self._probe_every_s,
                listen_token=self.rest.new_user_listen_token if self.margin else None,
            )
            if self.order_entry == "ws":
                self._ws_entry = WsOrderEntry(spot, self._signer, self.rest)
        else:
            # listenKey requests are not signed: check the secret once, with a cheap signed read, so
            # wrong credentials fail the start in the venue's words instead of the first order.
            await self.rest.position_risk()
            user = FuturesUserStream(
                session,
                self.hosts,
                self.flavor,
                self.rest,
                self._on_user_event,
                self._stream_state,
                self._recovery.run,
                self._backoff,
                probe_every_s=self._probe_every_s,
            )
        user.ws.telemetry = self.telemetry
        self._user = user
        return [(f"{self.exchange}.user", user.run)]

    def _private_stream(self) -> SpotUserStream | FuturesUserStream | None:
        return self._user

    async def _countdown(self, countdown_ms: int) -> None:
        """Set the countdown of every symbol the session traded (the dead-man switch's beat)."""
        symbols = sorted(self._dead_man_symbols)
        await asyncio.gather(*(self.rest.countdown_cancel_all(s, countdown_ms) for s in symbols))

    async def _arm_symbol(self, symbol: str) -> None:
        """A symbol's first order: its countdown armed before the order leaves."""
        if self._dead_man is None or symbol in self._dead_man_symbols:
            return
        self._dead_man_symbols.add(symbol)
        await self._dead_man.beat()

    # ------------------------------------------------------------------ orders

    async def _submit_algo(self, order: OrderRequest) -> ExecutionReport:
        """A native contingent order: an algo order (``clientAlgoId`` = clOrderId), held as
        ``pendingtrigger``; the order it places when it fires reports itself under the same client id."""
        params = parse.algo_order_params(order)
        known = Known(order.symbol, order.side, order.order_type, order.tif, order.qty, order.price)
        self.tracker.track(order.cl_order_id, known)
        try:
            answer = await self.rest.new_algo_order(params)
        except (Retryable, Rejected):
            self.tracker.refused(order.cl_order_id)
            raise
        report = parse.parse_algo_order(answer)
        self.tracker.note(report)
        return report

    async def submit_order(self, order: OrderRequest) -> ExecutionReport:
        if order.trigger is not None and self.flavor is not Flavor.SPOT:
            return await self._submit_algo(order)
        await self._arm_symbol(order.symbol)
        if order.trigger is not None:  # spot: held by the venue as a contingent order type (pendingtrigger)
            params = parse.spot_contingent_params(order)
        else:
            params = parse.order_params(order, self.flavor, margin=self.margin)
        known = Known(order.symbol, order.side, order.order_type, order.tif, order.qty, order.price)
        previous = self.tracker.track(order.cl_order_id, known)
        try:
            answer = await self._entry().new_order(params)
        except Retryable:  # nothing reached the venue: not live (a retry tracks it again)
            self.tracker.refused(order.cl_order_id)
            raise
        except Rejected as exc:
            if refused_as_duplicate(exc, DUPLICATE_CODES, DUPLICATE_SHARED_CODES):  # the order exists
                why = f"{self.exchange} refused {order.cl_order_id} as a duplicate ({exc.code} {exc.message})"
                return await self.tracker.existing(order.symbol, order.cl_order_id, previous, self.query_order, why)
            self.tracker.refused(order.cl_order_id)
            raise
        if self.flavor is Flavor.SPOT:
            spot = cast(SpotOrder, answer)
            for fill in parse.parse_spot_fills(spot):
                self.tracker.emit(fill)
            report = parse.parse_spot_order(spot)
        else:
            fut = cast(FuturesOrder, answer)
            report = parse.parse_futures_order(fut)
            expired = report.status is OrderStatus.EXPIRED and not report.cum_filled
            if order.order_type is OrderType.POSTONLY and expired:
                # Older venue behaviour for a crossing GTX order: accepted, then expired at once instead of
                # refused with -5022. Either way nothing is live: it is a post-only reject.
                self.tracker.refused(order.cl_order_id)
                raise Rejected("Post Only order would have executed as taker: expired by the venue (GTX)", "-5022")
            if report.cum_filled > 0:
                try:
                    await self._report_order_trades(report)
                except VenueError as exc:
                    # The order is accepted whatever happens here: never turn that into an error.
                    # Its fills still arrive on the private stream (or through recovery).
                    log.warning("binance.entry_fills.unavailable", extra={"error": exc.message})
        self.tracker.note(report)
        return report

    def holds_trigger(self, symbol: str, side: Side, trigger: NativeTrigger) -> str:
        """``HoldsTriggers``: spot's trailing stops only where ``trailingDelta`` says exactly what execx means."""
        if self.flavor is not Flavor.SPOT:
            return ""
        return parse.spot_trailing_refusal(side, trigger, self._trailing_filters.get(symbol))

    # ------------------------------------------------------------------ order lists (PlacesGroups, spot)

    def holds_group(self, group: GroupRequest) -> str:
        if self.flavor is not Flavor.SPOT or self.margin:
            return f"{self.exchange} has no order lists in execx (spot only, not cross margin)"
        return parse.order_list_refusal(group)

    async def submit_group(self, group: GroupRequest) -> list[ExecutionReport]:
        """``POST /api/v3/orderList/oco|oto|otoco`` (or ``orderList.place.*`` over the WebSocket API),
        ``listClientOrderId`` = the group id, each leg under its clOrderId (``parse.order_list_request``); every
        order placed (an OTO's pending ones held, ``PENDING_NEW`` = pendingtrigger) or none. Answered with each
        leg's report (``orderReports``, fills first); their later events are ordinary ``executionReport``s."""
        params = parse.order_list_params(group)
        for leg in group.legs:
            known = Known(leg.symbol, leg.side, leg.order_type, leg.tif, leg.qty, leg.price)
            self.tracker.track(leg.cl_order_id, known)
        try:
            answer = await self._entry().new_order_list(group.type, params)
        except (Retryable, Rejected):
            for leg in group.legs:
                self.tracker.refused(leg.cl_order_id)
            raise
        rows = answer.get("orderReports") if isinstance(answer, dict) else None
        reports = {}
        for row in rows if isinstance(rows, list) else []:
            for fill in parse.parse_spot_fills(cast(SpotOrder, row)):  # a working order filled at placement
                self.tracker.emit(fill)
            report = parse.parse_spot_order(cast(SpotOrder, row))
            self.tracker.note(report)
            reports[report.cl_order_id] = report
        return [reports[leg.cl_order_id] for leg in group.legs if leg.cl_order_id in reports]

    async def cancel_group(self, group: GroupRequest) -> list[ExecutionReport]:
        """``DELETE /api/v3/orderList`` (``orderList.cancel``) by its ``listClientOrderId`` (the group id): every
        order of the list still open, answered with each one's report. A list the venue no longer has open
        (done, or cancelled meanwhile) is no error: nothing to report (the engine asks for each leg)."""
        try:
            answer = await self._entry().cancel_order_list(group.symbol, group.group_id)
        except Rejected as exc:
            if exc.code in {str(c) for c in UNKNOWN_ORDER_CODES}:  # -2011 "Unknown order list sent."
                return []
            raise
        rows = answer.get("orderReports") if isinstance(answer, dict) else None
        out = []
        for row in rows if isinstance(rows, list) else []:
            report = self._client_view(parse.parse_spot_order(cast(SpotOrder, row)))
            self.tracker.note(report)
            out.append(report)
        return out

    async def restore_group(self, group: GroupRequest, exch_ids: Mapping[str, str]) -> None:
        """Nothing to learn: every leg is found by its client order id."""

    async def amend_order(
        self, symbol: str, cl_order_id: str, side: Side, qty: Decimal, price: Decimal | None
    ) -> ExecutionReport:
        tracked = self.tracker.get(cl_order_id)
        if tracked is not None and tracked.status is OrderStatus.PENDINGTRIGGER:
            if self.flavor is Flavor.SPOT:
                raise Rejected(
                    "Binance spot does not amend a stop order waiting for its stop price "
                    "(order.amend.keepPriority: orders on the book): cancel it and send it again",
                    "untriggered",
                )
            raise Rejected("Binance cannot modify a conditional (algo) order: cancel it and send it again", "algo")
        known = await self._known(symbol, cl_order_id)
        if self.flavor is not Flavor.SPOT:
            new_price = price if price is not None else _required_price(known)
            answer = await self.rest.modify_order(parse.modify_params(symbol, cl_order_id, side, qty, new_price))
            report = parse.parse_futures_order(answer, message=parse.AMENDED_BY_MODIFY)
            self.tracker.note(report)
            return report
        if self.margin:
            return await self._margin_replace(symbol, cl_order_id, known, side, qty, price)
        if (price is None or price == known.price) and qty < known.qty:
            # the venue order's quantity counts from its cancel-replace, if it had one (``_client_view``)
            venue_qty = qty - known.replaced_filled
            if venue_qty <= 0:
                return await self.cancel_order(symbol, cl_order_id)
            amended = await self._entry().amend_keep_priority(symbol, cl_order_id, venue_qty)
            report = self._client_view(parse.parse_spot_amend(amended))
            self.tracker.note(report)
            return report
        return await self._cancel_replace(symbol, cl_order_id, known, side, qty, price)

    async def _cancel_replace(
        self, symbol: str, cl_order_id: str, known: Known, side: Side, qty: Decimal, price: Decimal | None
    ) -> ExecutionReport:
        new_price = price if price is not None else _required_price(known)
        remaining = qty - known.cum_filled
        if remaining <= 0:
            return await self.cancel_order(symbol, cl_order_id)
        post_only = known.order_type is OrderType.POSTONLY
        params = parse.cancel_replace_params(symbol, cl_order_id, side, post_only, known.tif, remaining, new_price)
        old_id = known.exch_order_id
        base_before = known.replaced_filled
        # The stream's CANCELED for the replaced order may arrive before this answer: mark it first
        # so it is not reported as the end of the (still live) client order.
        if old_id:
            self.tracker.supersede(old_id)
        # The replacement's own reports (the stream's may come before this answer) count from it: until
        # the answer says what the replaced order filled in the end, what is known filled now.
        known.replaced_filled = known.cum_filled
        try:
            answer = await self._entry().cancel_replace(params)
        except CancelReplaceFailed as exc:
            known.replaced_filled = base_before
            data = exc.data
            if data.get("cancelResult") == "SUCCESS":
                # Old order gone, new one refused: the client order is now cancelled (its end is that one's).
                self.tracker.unsupersede(old_id)
                new: Any = data.get("newOrderResponse")
                why = str(new.get("msg", exc.error.message)) if isinstance(new, dict) else exc.error.message
                cancelled = self._client_view(
                    parse.parse_spot_order(
                        cast(SpotOrder, data["cancelResponse"]),
                        message=f"cancel-replace: cancelled, replacement refused: {why}",
                    )
                )
                self.tracker.note(cancelled)
                return cancelled
            self.tracker.unsupersede(old_id)
            cancel = data.get("cancelResponse")
            why = str(cancel.get("msg", exc.error.message)) if isinstance(cancel, dict) else exc.error.message
            code = str(cancel.get("code", exc.error.code)) if isinstance(cancel, dict) else exc.error.code
            raise Rejected(f"cancel-replace: {why}", code) from None
        except Rejected:
            known.replaced_filled = base_before
            self.tracker.unsupersede(old_id)
            raise
        new_order = cast(SpotOrder, answer["newOrderResponse"])
        cancelled_order: Any = answer.get("cancelResponse")
        if isinstance(cancelled_order, dict) and "executedQty" in cancelled_order:
            known.replaced_filled = base_before + Decimal(cancelled_order["executedQty"])
        # Report the amended order as a whole (``_client_view``): total quantity and what was filled before.
        for fill in parse.parse_spot_fills(new_order):
            self.tracker.emit(self._client_view(fill))
        report = self._client_view(
            parse.parse_spot_order(
                new_order,
                message=f"amended by cancel-replace (queue priority lost): order {old_id or '?'} replaced by "
                f"{new_order['orderId']}",
            )
        )
        self.tracker.note(report)
        return report

    async def _margin_replace(
        self, symbol: str, cl_order_id: str, known: Known, side: Side, qty: Decimal, price: Decimal | None
    ) -> ExecutionReport:
        """Cross margin has no amend and no cancel-replace endpoint: cancel, then place the new terms
        under the same client order id (queue priority lost; not atomic, so a fill can land between)."""
        new_price = price if price is not None else _required_price(known)
        old_id = known.exch_order_id
        base_before = known.replaced_filled
        if old_id:
            self.tracker.supersede(old_id)
        try:
            cancelled = parse.with_base(
                parse.parse_spot_order(cast(SpotOrder, await self._entry().cancel_order(symbol, cl_order_id))),
                base_before,
            )
        except Rejected:
            self.tracker.unsupersede(old_id)
            raise
        known.cum_filled = max(known.cum_filled, cancelled.cum_filled)
        remaining = qty - known.cum_filled
        if remaining <= 0:
            done = replace(cancelled, message="amend: cancelled (the new quantity is already filled)")
            self.tracker.unsupersede(old_id)
            self.tracker.note(done)
            return done
        request = OrderRequest(cl_order_id, symbol, side, known.order_type, known.tif, remaining, new_price)
        known.replaced_filled = cancelled.cum_filled  # the new order's reports count from it (``_client_view``)
        try:
            params = parse.order_params(request, self.flavor, margin=self.margin)
            answer = cast(SpotOrder, await self._entry().new_order(params))
        except Rejected as exc:
            known.replaced_filled = base_before
            refused = replace(cancelled, message=f"cancel-replace: cancelled, replacement refused: {exc.message}")
            self.tracker.unsupersede(old_id)
            self.tracker.note(refused)
            return refused
        for fill in parse.parse_spot_fills(answer):
            self.tracker.emit(self._client_view(fill))
        report = self._client_view(
            parse.parse_spot_order(
                answer,
                message=f"amended by cancel and new margin order (queue priority lost): order {old_id or '?'} "
                f"replaced by {answer['orderId']}",
            )
        )
        self.tracker.note(report)
        return report

    async def _cancel_algo(self, cl_order_id: str) -> ExecutionReport | None:
        """Cancel the algo order ``cl_order_id``; None if the venue has no such algo order."""
        try:
            await self.rest.cancel_algo_order(cl_order_id)
        except Rejected as exc:
            if exc.code in {str(c) for c in UNKNOWN_ORDER_CODES}:
                return None
            raise
        report = parse.parse_algo_order(await self.rest.query_algo_order(cl_order_id))
        self.tracker.note(report)
        return report

    async def cancel_order(self, symbol: str, cl_order_id: str) -> ExecutionReport:
        tracked = self.tracker.get(cl_order_id)
        if self.flavor is not Flavor.SPOT and (tracked is None or tracked.status is OrderStatus.PENDINGTRIGGER):
            # held by the venue as an algo order (or unknown here, e.g. after a restart: the algo API says)
            algo = await self._cancel_algo(cl_order_id)
            if algo is not None:
                return algo
        answer = await self._entry().cancel_order(symbol, cl_order_id)
        report = self._client_view(
            parse.parse_spot_order(cast(SpotOrder, answer))
            if self.flavor is Flavor.SPOT
            else parse.parse_futures_order(cast(FuturesOrder, answer))
        )
        self.tracker.note(report)
        return report

    async def cancel_all(self, symbol: str) -> None:
        try:
            answer = await self.rest.cancel_open_orders(symbol)
        except Rejected as exc:
            if exc.code == "-2011":  # spot: nothing to cancel
                return
            raise
        if self.flavor is Flavor.SPOT and isinstance(answer, list):
            for item in answer:
                if isinstance(item, dict) and "orderId" in item:  # order lists carry "orderListId" only
                    self.tracker.emit(parse.parse_spot_order(cast(SpotOrder, item)))

    async def query_order(self, symbol: str, cl_order_id: str) -> ExecutionReport | None:
        try:
            answer = await self.rest.query_order(symbol, orig_client_order_id=cl_order_id)
        except Rejected as exc:
            if exc.code not in {str(c) for c in UNKNOWN_ORDER_CODES}:
                raise
            if self.flavor is Flavor.SPOT:
                return None
            return await self._query_algo(cl_order_id)  # a conditional order not triggered (yet)
        report, base, earlier = await self._journal_view(symbol, self._parse_order(answer))
        self.tracker.learn(report)
        self._took_over(report, base, earlier)
        return report

    def restore_order(self, cl_order_id: str, exch_ids: tuple[str, ...]) -> None:
        if self.flavor is Flavor.SPOT:
            self._journal_ids[cl_order_id] = exch_ids

    async def _journal_view(self, symbol: str, report: ExecutionReport) -> tuple[ExecutionReport, Decimal, list[str]]:
        """After a restart (the order not known to this connector instance), the venue's answer for a client id
        as the client's order, with what the venue order counts from and the journal's older venue ids of the
        order. Spot cancel-replace makes a fresh venue order sized to what was left, counting its own fills;
        the client's order is those plus the fills of every venue order it had before, each asked for by its
        id (an amend whose answer was lost to a kill: the replacement's quantity alone, taken as the order's,
        made its two earlier fills (0.002) a FILLED order while the replacement rested; fault matrix
        binance-spot kill seed 174117283)."""
        ids = self._journal_ids.get(report.cl_order_id)
        if not ids or self.tracker.get(report.cl_order_id) is not None:
            return report, Decimal(0), []
        earlier = [i for i in ids if _older_id(i, report.exch_order_id)]
        base = Decimal(0)
        for exch_id in earlier:
            base += await self._executed(symbol, exch_id)
        return parse.with_base(report, base), base, earlier

    def _took_over(self, report: ExecutionReport, base: Decimal, earlier: list[str]) -> None:
        """The order as ``_journal_view`` saw it is tracked: its later reports count from its start too
        (``_client_view``), its older venue ids are its own but their status is not."""
        cl_order_id = report.cl_order_id
        self._journal_ids.pop(cl_order_id, None)
        known = self.tracker.get(cl_order_id)
        if not earlier or known is None or known.exch_order_id != report.exch_order_id:
            return
        known.replaced_filled = base
        for exch_id in earlier:
            self.tracker.supersede(exch_id)
            self.tracker.map_exch_id(exch_id, cl_order_id)

    async def _executed(self, symbol: str, exch_order_id: str) -> Decimal:
        """What the venue order ``exch_order_id`` filled (0 if the venue no longer has it)."""
        try:
            row = await self.rest.query_order(symbol, order_id=exch_order_id)
        except Rejected as exc:
            if exc.code not in {str(c) for c in UNKNOWN_ORDER_CODES}:
                raise
            log.warning("binance.replaced_order_unknown", extra={"exchOrderId": exch_order_id})
            return Decimal(0)
        return Decimal(str(row["executedQty"]))

    async def _query_algo(self, cl_order_id: str) -> ExecutionReport | None:
        try:
            row = await self.rest.query_algo_order(cl_order_id)
        except Rejected as exc:
            if exc.code in {str(c) for c in UNKNOWN_ORDER_CODES}:
                return None
            raise
        report = parse.parse_algo_order(row)
        self.tracker.learn(report)
        return report

    async def open_orders(self, symbol: str | None = None) -> list[ExecutionReport]:
        rows = await self.rest.open_orders(symbol)
        reports = [self._parse_order(row) for row in rows]
        for report in reports:
            self.tracker.note(report)
        return reports

    async def positions(self) -> list[VenuePosition]:
        if self.flavor is Flavor.SPOT:
            return []
        return parse.parse_positions(await self.rest.position_risk())

    # ------------------------------------------------------------------ market data

    def _market_names(self, symbol: str) -> tuple[tuple[str, str], tuple[str, str]]:
        """(route, stream name) of ``symbol``'s book ticker and of its trades (spot ``trade``, futures ``aggTrade``)."""
        lower = symbol.lower()
        trade = f"{lower}@trade" if self.flavor is Flavor.SPOT else f"{lower}@aggTrade"
        routed = self.hosts.routed_streams
        return ("public" if routed else "", f"{lower}@bookTicker"), ("market" if routed else "", trade)

    def _subscribe_market(self, symbol: str) -> None:
        for route, name in self._market_names(symbol):
            self._market_stream(route).subscribe([name])

    def _unsubscribe_market(self, symbol: str) -> None:
        for route, name in self._market_names(symbol):
            stream = self._market.get(route)
            if stream is not None:
                stream.unsubscribe([name])

    def _market_stream(self, route: str) -> MarketStream:
        stream = self._market.get(route)
        if stream is None:
            if self._session is None or not self._supervisor.running:
                raise RuntimeError("connector not started")
            url = f"{self.hosts.stream}/{route}/stream" if route else f"{self.hosts.stream}/stream"
            stream = MarketStream(
                self._session,
                url,
                self._on_market_data,
                name=f"{self.exchange}.market{'.' + route if route else ''}",
                backoff=self._backoff,
            )
            stream.ws.telemetry = self.telemetry
            self._market[route] = stream
            self._supervisor.spawn(stream.ws.name, stream.run)
        return stream

    def _on_market_data(self, data: dict[str, Any]) -> None:
        if data.get("s") not in self._watchers:
            return
        kind = data.get("e")
        try:
            if kind in ("trade", "aggTrade"):
                self._watchers.trade(parse.parse_trade(cast(TradeMsg, data)))
            elif kind == "bookTicker" or (kind is None and "b" in data and "B" in data):
                self._watchers.ticker(parse.parse_book_ticker(cast(BookTickerMsg, data), time.time_ns()))
        except PARSE_ERRORS as exc:
            log.warning("binance.market.parse_error", extra={"error": repr(exc)})

    # ------------------------------------------------------------------ private events

    def _on_user_event(self, event: dict[str, Any]) -> None:
        try:
            report = parse.parse_user_event(event)
        except PARSE_ERRORS as exc:
            log.warning("binance.user.parse_error", extra={"error": repr(exc), "event": event.get("e")})
            return
        if report is None:
            return
        if report.exch_order_id in self.tracker.superseded and not report.trade_id:
            return  # the cancel (or a late status) of an order replaced by cancel-replace
        report = self._client_view(report)
        self.tracker.emit(report)
        self._fetch_if_gap(report)

    def _fetch_if_gap(self, report: ExecutionReport) -> None:
        """A report whose venue total counts fills that never reached us (their messages were lost: the
        stream dropped or went silent in between): fetch that order's trades now. The recovery would not:
        it reads trades since the newest one seen, which is this order's later one (or a fill an order's
        answer carried meanwhile), and an order that ended filled is not live any more (fault matrix,
        binance-usdm-future drop/silent: one fill lost, the order left partiallyfilled)."""
        known = self.tracker.get(report.cl_order_id)
        exch_id = report.exch_order_id
        if known is None or not exch_id or exch_id != known.exch_order_id or report.cum_filled <= known.cum_filled:
            return
        if exch_id in self._gap_fetches or not self._supervisor.running:
            return
        self._gap_fetches.add(exch_id)
        symbol = report.symbol

        async def fetch() -> None:
            try:
                await self._recovery.attempt(1, lambda: self._recover_order_trades(symbol, exch_id))
            finally:
                self._gap_fetches.discard(exch_id)

        self._supervisor.spawn(f"{self.exchange}.fills_of.{exch_id}", fetch)

    async def _recover_order_trades(self, symbol: str, exch_order_id: str) -> None:
        rows = await self.rest.trades(symbol, order_id=exch_order_id)
        await self._report_trades(symbol, [r for r in rows if str(r["orderId"]) == exch_order_id])

    def _parse_order(self, row: Any) -> ExecutionReport:
        if self.flavor is Flavor.SPOT:
            return self._client_view(parse.parse_spot_order(cast(SpotOrder, row)))
        return parse.parse_futures_order(cast(FuturesOrder, row))

    def _client_view(self, report: ExecutionReport) -> ExecutionReport:
        """A report of the venue order that took over a client order by cancel-replace, as the client's
        order: the venue order is sized to what was left at the replacement and counts its own fills, the
        client's order counts from its start (total = filled before + the replacement's quantity). Reports
        of the replaced venue orders, and of orders never replaced, are left as they are."""
        known = self.tracker.get(report.cl_order_id)
        if known is None or report.exch_order_id in self.tracker.superseded:
            return report
        return parse.with_base(report, known.replaced_filled)

    async def _known(self, symbol: str, cl_order_id: str) -> Known:
        """What we know of an order; asks the venue when it was not sent by this connector instance
        (e.g. after a restart of execx)."""
        known = self.tracker.get(cl_order_id)
        if known is not None and known.exch_order_id:
            return known
        try:
            row = cast(dict[str, Any], await self.rest.query_order(symbol, orig_client_order_id=cl_order_id))
        except Rejected as exc:
            if exc.code in {str(c) for c in UNKNOWN_ORDER_CODES}:
                raise Rejected(f"order {cl_order_id} is unknown to {self.exchange}", exc.code) from None
            raise
        answer, base, earlier = await self._journal_view(symbol, self._parse_order(row))
        order_type, tif = parse.order_terms(row)
        known = Known(
            symbol,
            answer.side,
            order_type,
            tif,
            answer.qty,
            answer.price,
            answer.exch_order_id,
            answer.cum_filled,
            answer.status,
        )
        self.tracker.track(cl_order_id, known)
        self._took_over(answer, base, earlier)
        return known

    # ------------------------------------------------------------------ gap recovery

    async def _recover_once(self) -> None:
        """Open orders, trades since the last one seen, and final states of orders we believed live —
        for the orders this connector knows (other sessions on the same account recover their own;
        orders from before a restart are reconciled by the engine through ``query_order`` /
        ``order_fills``)."""
        open_rows = await self.rest.open_orders(None)
        open_reports = [self._parse_order(row) for row in open_rows]
        open_ids = {r.exch_order_id for r in open_reports}
        for symbol in self.tracker.symbols(live_only=True):
            # Trade queries cover at most a day (spot myTrades) / a week (futures userTrades).
            since = max(self.tracker.trades_since_ms(symbol, self._started_ms), self._clock_ms() - RECOVERY_WINDOW_MS)
            rows = page = await self.rest.trades(symbol, start_time_ms=max(0, since - 1))
            while len(page) >= TRADES_PAGE and len(rows) < TRADES_MAX:  # more than one page was missed
                page = await self.rest.trades(symbol, from_id=max(int(r["id"]) for r in page) + 1)
                rows = rows + page
            ours = [r for r in rows if self.tracker.cl_of(str(r["orderId"])) is not None]
            await self._report_trades(symbol, ours)
        for report in open_reports:
            known = self.tracker.get(report.cl_order_id)
            if (
                known is not None
                and report.exch_order_id not in self.tracker.superseded
                and self.tracker.changed(report)
            ):
                self.tracker.emit(report)
                self._fetch_if_gap(report)
        # Orders we believed live that are no longer open ended while we were away.
        for cl_order_id, known in self.tracker.live():
            if known.exch_order_id not in open_ids:
                try:
                    if known.exch_order_id in self.tracker.superseded:
                        # a cancel-replace whose answer was lost: its client id is on the replacement if the
                        # venue made one (fault matrix binance-spot silent seed 62284960: the replaced order's
                        # CANCELED ended the client order, the replacement's fill was never reported)
                        answer = await self.rest.query_order(known.symbol, orig_client_order_id=cl_order_id)
                    else:
                        answer = await self.rest.query_order(known.symbol, order_id=known.exch_order_id)
                except Rejected as exc:
                    if exc.code not in {str(c) for c in UNKNOWN_ORDER_CODES} or not known.exch_order_id:
                        raise
                    self.tracker.vanished(cl_order_id, self._clock_ms() * 1_000_000)
                    continue
                ended = self._parse_order(answer)
                self.tracker.emit(ended)
                self._fetch_if_gap(ended)

    async def _report_order_trades(self, ack: ExecutionReport) -> None:
        """Futures: fills of an order that traded on entry, reported before its acknowledgement."""
        rows = await self.rest.trades(ack.symbol, order_id=ack.exch_order_id)
        self.tracker.map_exch_id(ack.exch_order_id, ack.cl_order_id)
        await self._report_trades(ack.symbol, rows, orders={ack.exch_order_id: ack})

    async def _report_trades(
        self, symbol: str, rows: list[Any], orders: dict[str, ExecutionReport] | None = None
    ) -> None:
        """Report trade rows (``myTrades`` / ``userTrades``) not seen yet as fills."""
        fresh = [r for r in rows if not self.tracker.seen(symbol, str(r["id"]), str(r["orderId"]))]
        by_order: dict[str, list[Any]] = {}
        for row in fresh:
            by_order.setdefault(str(row["orderId"]), []).append(row)
        for exch_id, trades in by_order.items():
            order = (orders or {}).get(exch_id)
            if order is None:
                order = self._parse_order(await self.rest.query_order(symbol, order_id=exch_id))
            self.tracker.map_exch_id(exch_id, order.cl_order_id)
            for fill in parse.fills_from_trades(trades, order):
                self.tracker.emit(fill)
            # the order counts fills older than the trades read (``since`` is the newest trade seen, which an
            # order's answer may have carried while this order's earlier fills were lost): fetch them
            self._fetch_if_gap(order)

    async def trades_between(self, symbol: str, start_ms: int, end_ms: int) -> TradeWindow:
        """The public aggregate trades of ``symbol`` from ``start_ms`` to ``end_ms`` (``aggTrades`` with
        ``startTime`` / ``endTime``), read in windows of under an hour and pages of 1000 (a full page is
        followed from its last trade's time); incomplete past ``HISTORY_REQUESTS`` requests."""
        out: list[Trade] = []
        seen: set[str] = set()
        start, requests = start_ms, 0
        while start <= end_ms:
            if requests == HISTORY_REQUESTS:
                return TradeWindow(out, complete=False)
            stop = min(end_ms, start + parse.AGG_TRADES_SPAN_MS)
            rows = await self.rest.agg_trades(symbol, start, stop)
            requests += 1
            page = parse.parse_agg_trades(symbol, rows)
            out.extend(t for t in page if t.trade_id not in seen)
            seen.update(t.trade_id for t in page)
            if len(rows) >= parse.AGG_TRADES_LIMIT:  # more in this window: on from the last one's time
                start = max(start + 1, page[-1].exch_time_ns // MS_NS)
                continue
            start = stop + 1
        return TradeWindow(out, complete=True)

    async def order_fills(self, symbol: str, cl_order_id: str) -> list[ExecutionReport]:
        """Every fill of the order's current venue order id, as fill reports with trade ids (after a
        spot cancel-replace, fills of the replaced order were reported when they happened)."""
        answer = await self.rest.query_order(symbol, orig_client_order_id=cl_order_id)
        order = self._parse_order(answer)
        rows = await self.rest.trades(symbol, order_id=order.exch_order_id)
        return parse.fills_from_trades([r for r in rows if str(r["orderId"]) == order.exch_order_id], order)


def _older_id(exch_order_id: str, than: str) -> bool:
    """Binance order ids grow: ``exch_order_id`` was placed before ``than``."""
    try:
        return int(exch_order_id) < int(than)
    except ValueError:
        return False


def _required_price(known: Known) -> Decimal:
    if known.price is None:
        raise ValidationError("price", "the order has no price to keep; give one")
    return known.price
