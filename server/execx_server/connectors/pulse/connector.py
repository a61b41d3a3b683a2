"""The Pulse connector (exchange ``pulse``, seed 004: a Deribit-style JSON-RPC 2.0 gateway).

Everything runs over one authenticated JSON-RPC websocket (``connectors.jsonrpc``), as the seed offers
subscriptions only there; queries fall back to JSON-RPC over HTTP (Bearer token) while the websocket is
down.

- Auth: ``public/auth`` with ``client_credentials`` (default) or ``client_signature`` (``grant``
  option), on every connection; the token is refreshed with its ``refresh_token`` before it expires.
- Session upkeep: ``public/set_heartbeat`` (the venue's ``test_request`` is answered with
  ``public/test``), ``private/enable_cancel_on_disconnect`` on every connection (on by default;
  ``cancel_on_disconnect_armed`` tells whether the venue confirmed it on the current connection).
- Orders: ``private/buy`` / ``private/sell`` (``label`` = clOrderId, ``amount`` in the instrument's
  units, ``type`` limit/market, ``time_in_force``; a native stop / take-profit as ``type``
  stop_market / stop_limit / take_market / take_limit with ``trigger`` last_price / index_price and
  ``trigger_price``: ``order_state`` ``untriggered`` = pendingtrigger, then ``open`` / ``filled`` when it
  fired, Pulse having no ``triggered`` state), ``private/edit``, ``private/cancel``,
  ``private/cancel_all_by_instrument`` (Pulse answers with the cancelled orders). Post-only: Pulse's
  ``post_only`` moves a crossing price to just inside the spread (its document; it has no
  ``reject_post_only``), so an execx postonly order never takes but may rest at a better price than
  asked; the acknowledgement carries the price the venue set.
- Private stream: ``user.orders.{instrument}.raw`` and ``user.trades.{instrument}.raw`` for every
  instrument (Pulse sends one trade object per notification). Each fill is its own report with its
  trade id, reported once whether it came in an answer's ``trades`` or on the stream.
- Outcome policy: an error answer is ``Rejected`` with Pulse's message (``too_many_requests``, ``retry``
  and ``matching_engine_queue_full`` are ``Retryable``: nothing was executed), no connection
  ``Retryable``, no answer ``OutcomeUnknown`` (the engine then finds the order by its label).
- After a reconnect: orders believed live are checked (state, fills not seen) and reported.
- Market data: ``quote.{instrument}`` (seed 004) and ``trades.{instrument}.raw`` (a Deribit channel the
  seed does not list; Pulse's own document has no public trades channel).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import aiohttp

from ...domain.enums import Exchange, OrderType, Side
from ...domain.instruments import InstrumentRules
from ...domain.venue import (
    ExecutionReport,
    GroupRequest,
    NativeTrigger,
    OrderRequest,
    OutcomeUnknown,
    Rejected,
    Retryable,
)
from ..base import Capabilities, ConnectorConfig, PostOnlyCross
from ..jsonrpc import parse as rpc_parse
from ..jsonrpc.client import PULSE, Credentials, Grant, JsonRpcConnection, JsonRpcHttp, RpcError
from ..jsonrpc.credits import Credits
from ..jsonrpc.market import MarketWatch
from ..jsonrpc.mmp import RpcMmp
from ..jsonrpc.orders import UNKNOWN_ORDER_CODES, QueriesOverRpc, RpcQueries
from ..tracking import PARSE_ERRORS, Known
from ..transport.supervisor import Run
from ..transport.websocket import DEFAULT_BACKOFF, Backoff, NoAnswer, NotSent, ReconnectingWebSocket
from ..venue import START_TIMEOUT_S, VenueConnector
from . import parse
from .errors import classify
from .urls import Hosts, resolve_hosts

log = logging.getLogger("execx.connectors.pulse")


class PulseConnector(QueriesOverRpc, VenueConnector):
    keyless_market_data = False
    no_keyless_reason = (
        "pulse has no keyless market data: seed 004 lists instruments only with private/get_instruments "
        "(Authorization required), so a symbol cannot be checked nor its rules loaded without an order session"
    )

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        clock_ms: Callable[[], int] | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        grant: Grant = "client_credentials",
        cancel_on_disconnect: bool = True,
        heartbeat_s: int = 10,
        probe_every_s: float = 30.0,
        answer_timeout_s: float = 10.0,
    ) -> None:
        if config.exchange is not Exchange.PULSE:
            raise ValueError(f"not Pulse: {config.exchange}")
        super().__init__(config, clock_ms=clock_ms, backoff=backoff)
        self.hosts: Hosts = resolve_hosts(config.testnet, config.rest_url, config.ws_url)
        self.cancel_on_disconnect = cancel_on_disconnect
        self.capabilities = Capabilities(
            supported_tifs=frozenset(parse.TIF),
            supports_reduce_only=True,
            cancel_on_disconnect=cancel_on_disconnect,  # private/enable_cancel_on_disconnect
            post_only_cross=PostOnlyCross.REPRICED,  # seed 004: rests one tick inside the spread
            # trigger orders (stop_* / take_* with trigger last_price / index_price); no trailing stop on Pulse
            native_triggers=parse.NATIVE_TRIGGERS,
            native_references=frozenset(parse.TRIGGER_REF),
            native_trigger_amend=True,  # private/edit with trigger_price (seed 004's Edit model)
            # linked orders (linked_order_type + otoco_config): OTO and OTOCO; no OCO (PlacesGroups below)
            native_groups=parse.NATIVE_GROUPS,
            native_group_amend=True,  # each leg by private/edit, as any order
        )
        self._credentials = Credentials(config.api_key, config.secret_key, grant)
        self._heartbeat_s = heartbeat_s
        self._probe_every_s = probe_every_s
        self._answer_timeout_s = answer_timeout_s  # an order call unanswered this long is OutcomeUnknown
        self._rpc: JsonRpcConnection | None = None
        self._http: JsonRpcHttp | None = None
        # After a reconnect (``_recover_once``): the orders believed live, over the websocket (else HTTP).
        self.queries = RpcQueries(self._query, self._rules, self.tracker)
        # While the websocket is down or silent with orders live (``_poll_once``): poll over HTTP (a silent
        # websocket answers no request either).
        self._polls = RpcQueries(self._http_query, self._rules, self.tracker)
        self.market = MarketWatch(self._watchers, self._rules)
        # the venue's market-maker protection (managers/mmp.py); flags the limit orders with mmp: true
        self.native_mmp = RpcMmp(self._query, lambda channels: self.rpc.subscribe(channels), pulse=True)
        # linked orders' secondaries not mapped to their venue ids yet (an unanswered submit_group, a restart):
        # clOrderId -> (the primary's clOrderId, its place in otoco_config); found through the primary's
        # oto_order_ids when asked for (``query_order``)
        self._linked: dict[str, tuple[str, int]] = {}

    # ------------------------------------------------------------------ lifecycle

    @property
    def rpc(self) -> JsonRpcConnection:
        if self._rpc is None:
            raise RuntimeError("connector not started")
        return self._rpc

    @property
    def cancel_on_disconnect_armed(self) -> bool:
        """Pulse confirmed ``enable_cancel_on_disconnect`` on the current connection."""
        return self._rpc is not None and self._rpc.live and self._rpc.cod_enabled

    def _open_transport(self, session: aiohttp.ClientSession, *, keyless: bool) -> None:
        """One authenticated JSON-RPC websocket (orders, queries, private and public channels) and the HTTP
        form of the same calls."""
        self._http = JsonRpcHttp(session, self.hosts.rest, PULSE, self._credentials, self._clock_ms)
        self._rpc = JsonRpcConnection(
            session,
            self.hosts.ws,
            PULSE,
            self._on_notification,
            name="pulse.private",
            credentials=self._credentials,
            cancel_on_disconnect=self.cancel_on_disconnect,
            heartbeat_s=self._heartbeat_s,
            on_reconnect=self._recovery.run,
            on_state=self._stream_state,
            backoff=self._backoff,
            probe_every_s=self._probe_every_s,
            clock_ms=self._clock_ms,
        )
        self._rpc.telemetry = self.telemetry
        self._rpc.credits = self._http.credits = Credits(self._config.rate_gate)

    def _transport_runs(self, *, keyless: bool) -> list[Run]:
        return [("pulse.private", self.rpc.run)]

    async def _load_rules(self, *, keyless: bool) -> dict[str, InstrumentRules]:
        """``private/get_instruments`` once the websocket is up and authenticated."""
        await self._wait_live()
        rows = list(await self._start_call(self.rpc.call("private/get_instruments", {"currency": "any"})))
        self.queries.currencies.update(rpc_parse.instrument_currencies(rows))
        await self._start_call(self.rpc.credits.learn(self.rpc.call, self.queries.currencies))
        return rpc_parse.parse_instruments(rows, self.exchange)

    async def _private_runs(self, session: aiohttp.ClientSession) -> list[Run]:
        """The private channels of every instrument, on the websocket already running."""
        names = sorted(self._rules)
        channels = [f"user.{kind}.{n}.raw" for n in names for kind in ("orders", "trades")]
        await self._start_call(self.rpc.subscribe_now(channels))
        return []

    @staticmethod
    async def _start_call(call: Awaitable[Any]) -> Any:
        """A start-up call; Pulse's error answer is ``Rejected`` in its words."""
        try:
            return await call
        except RpcError as exc:
            raise Rejected(f"pulse: {exc.text}", str(exc.code)) from None

    def _liveness(self) -> ReconnectingWebSocket | None:
        return self._rpc.ws if self._rpc is not None else None

    async def _recover_once(self) -> None:
        await self.queries.recover()

    async def _poll_once(self) -> None:
        await self._polls.recover()

    async def _wait_live(self) -> None:
        await self._supervisor.wait_up(self.rpc.ws.wait_live(START_TIMEOUT_S), self.rpc.refused)
        if self.rpc.live:
            return
        if self.rpc.refusal is not None:
            raise Rejected(f"pulse: public/auth refused: {self.rpc.refusal.text}", str(self.rpc.refusal.code))
        raise Retryable(f"pulse: websocket did not come up in {START_TIMEOUT_S:.0f}s", "start")

    async def _before_close(self) -> None:
        """``private/logout`` first: Pulse closes the connection gracefully and, unlike a lost connection,
        does not cancel the orders (seed 004), so a deliberate stop keeps them (the engine cancels them
        first when the session is stopped with ``cancelOpenOrders``)."""
        if self._rpc is not None and self._rpc.live:
            with contextlib.suppress(RpcError, NotSent, NoAnswer):
                await self._rpc.call("private/logout", {"invalidate_token": True}, timeout_s=2.0)

    # ------------------------------------------------------------------ orders

    async def _trade(self, method: str, params: dict[str, Any]) -> Any:
        """An order-entry call under the outcome policy."""
        try:
            return await self.rpc.call(method, params, self._answer_timeout_s)
        except RpcError as exc:
            raise classify(exc) from None
        except NotSent as exc:
            raise Retryable(str(exc), "not_connected") from None
        except NoAnswer as exc:
            raise OutcomeUnknown(str(exc), "no_answer") from None

    async def submit_order(self, order: OrderRequest) -> ExecutionReport:
        rules = self.rules(order.symbol)
        if self.tracker.live_order(order.cl_order_id) is not None:
            # Pulse labels need not be unique: a second order under a live clOrderId is refused here and
            # answered with the order that exists (a duplicate client order id is never a rejection).
            why = f"pulse: {order.cl_order_id} is live already"
            return await self.tracker.existing(order.symbol, order.cl_order_id, None, self.query_order, why)
        params = parse.order_params(order, rules)
        if self.native_mmp.orders and order.order_type is not OrderType.MARKET and order.trigger is None:
            params["mmp"] = True
        known = Known(order.symbol, order.side, order.order_type, order.tif, order.qty, order.price)
        self.tracker.track(order.cl_order_id, known)
        try:
            answer = await self._trade("private/buy" if order.side is Side.BUY else "private/sell", params)
        except Retryable:  # nothing reached the venue: not live (a retry tracks it again)
            self.tracker.refused(order.cl_order_id)
            raise
        except Rejected:
            self.tracker.refused(order.cl_order_id)
            raise
        return self._answered(answer, order.cl_order_id)

    async def amend_order(
        self, symbol: str, cl_order_id: str, side: Side, qty: Decimal, price: Decimal | None
    ) -> ExecutionReport:
        return await self._edit(symbol, cl_order_id, qty, price, None)

    async def amend_trigger(
        self, symbol: str, cl_order_id: str, side: Side, qty: Decimal, price: Decimal | None, trigger: NativeTrigger
    ) -> ExecutionReport:
        """An untriggered order's new ``trigger_price`` (seed 004's Edit model), with its qty and price."""
        return await self._edit(symbol, cl_order_id, qty, price, trigger)

    async def _edit(
        self, symbol: str, cl_order_id: str, qty: Decimal, price: Decimal | None, trigger: NativeTrigger | None
    ) -> ExecutionReport:
        known = await self.queries.known(symbol, cl_order_id)
        params = parse.edit_params(known, qty, price, self.rules(symbol), trigger)
        return self._answered(await self._trade("private/edit", params), cl_order_id)

    async def cancel_order(self, symbol: str, cl_order_id: str) -> ExecutionReport:
        known = await self.queries.known(symbol, cl_order_id)
        answer = await self._trade("private/cancel", parse.cancel_params(known.exch_order_id))
        report = rpc_parse.parse_order(answer, self._rules.get(symbol), cl_order_id)
        self.tracker.emit(report)
        return self.tracker.latest(cl_order_id, report)

    async def cancel_all(self, symbol: str) -> None:
        self.rules(symbol)
        answer = await self._trade("private/cancel_all_by_instrument", parse.cancel_all_params(symbol))
        if isinstance(answer, list):  # Pulse: the cancelled orders
            for obj in answer:
                self.tracker.emit(rpc_parse.parse_order(obj, self._rules.get(symbol)))

    # ------------------------------------------------------------------ linked groups (PlacesGroups)

    def holds_group(self, group: GroupRequest) -> str:
        return parse.linked_refusal(group)

    async def submit_group(self, group: GroupRequest) -> list[ExecutionReport]:
        """One ``private/buy`` / ``sell`` of the primary with ``linked_order_type`` and ``otoco_config``
        (``parse.linked_params``). The secondaries have no label at the venue (``otoco_config`` has none): they
        are known by the ``oto_order_ids`` of the primary's answer, in ``otoco_config``'s order, and their state
        is read once mapped (a notification of them before the answer could not be told apart)."""
        primary, secondaries = group.legs[0], group.legs[1:]
        rules = self.rules(primary.symbol)
        params = parse.linked_params(group, rules)
        if self.native_mmp.orders and primary.order_type is not OrderType.MARKET and primary.trigger is None:
            params["mmp"] = True
        for leg in group.legs:
            self.tracker.track(
                leg.cl_order_id, Known(leg.symbol, leg.side, leg.order_type, leg.tif, leg.qty, leg.price)
            )
        for i, leg in enumerate(secondaries):
            self._linked[leg.cl_order_id] = (primary.cl_order_id, i)
        try:
            answer = await self._trade("private/buy" if primary.side is Side.BUY else "private/sell", params)
        except (Retryable, Rejected):
            for leg in group.legs:
                self.tracker.refused(leg.cl_order_id)
                self._linked.pop(leg.cl_order_id, None)
            raise
        obj = answer.get("order") if isinstance(answer, dict) else None
        ids = [str(x) for x in obj.get("oto_order_ids") or []] if isinstance(obj, dict) else []
        for leg, exch_id in zip(secondaries, ids, strict=False):
            self._know(leg.cl_order_id, exch_id)
        reports = [self._answered(answer, primary.cl_order_id)]
        if len(ids) != len(secondaries):  # the engine asks for them by clOrderId (and finds nothing)
            log.warning("pulse.linked_ids_missing", extra={"groupId": group.group_id, "ids": len(ids)})
            return reports
        for leg, exch_id in zip(secondaries, ids, strict=True):
            try:
                state = await self.queries.order_state(exch_id)
            except (Rejected, Retryable, OutcomeUnknown) as e:  # the engine asks again by clOrderId
                log.warning("pulse.linked_state_failed", extra={"clOrderId": leg.cl_order_id, "error": e.message})
                continue
            report = rpc_parse.parse_order(state, rules, leg.cl_order_id)
            self.tracker.emit(report)
            reports.append(self.tracker.latest(leg.cl_order_id, report))
        return reports

    def _know(self, cl_order_id: str, exch_order_id: str) -> None:
        known = self.tracker.get(cl_order_id)
        if known is not None and exch_order_id:
            known.exch_order_id = exch_order_id
            self.tracker.track(cl_order_id, known)
            self._linked.pop(cl_order_id, None)

    async def query_order(self, symbol: str, cl_order_id: str) -> ExecutionReport | None:
        """By its label (``RpcQueries``); a linked order's secondary not mapped yet (it has no label) first
        through its primary's ``oto_order_ids``."""
        link = self._linked.get(cl_order_id)
        if link is not None:
            primary = await self.queries.order_by_label(symbol, link[0])
            ids = [str(x) for x in (primary or {}).get("oto_order_ids") or []]
            if link[1] < len(ids):
                self._know(cl_order_id, ids[link[1]])
        return await self.queries.query_order(symbol, cl_order_id)

    async def cancel_group(self, group: GroupRequest) -> list[ExecutionReport]:
        """``private/cancel`` of every leg still live, the secondaries first (Pulse cancels an unexecuted
        primary's secondaries itself; a leg already ended is skipped)."""
        out = []
        for leg in (*group.legs[1:], group.legs[0]):
            known = self.tracker.get(leg.cl_order_id)
            if known is not None and not known.live:
                continue
            try:
                out.append(await self.cancel_order(leg.symbol, leg.cl_order_id))
            except Rejected as e:
                if not (e.code.isdigit() and int(e.code) in UNKNOWN_ORDER_CODES):
                    raise
        return out

    async def restore_group(self, group: GroupRequest, exch_ids: Mapping[str, str]) -> None:
        """The legs known again by their journaled order ids; a secondary without one is found through the
        primary's ``oto_order_ids`` (the primary by its label) when it is asked for (``query_order``)."""
        for i, leg in enumerate(group.legs):
            if self.tracker.get(leg.cl_order_id) is None:
                self.tracker.track(
                    leg.cl_order_id, Known(leg.symbol, leg.side, leg.order_type, leg.tif, leg.qty, leg.price)
                )
            exch_id = exch_ids.get(leg.cl_order_id, "")
            if exch_id:
                self._know(leg.cl_order_id, exch_id)
            elif i:
                self._linked[leg.cl_order_id] = (group.legs[0].cl_order_id, i - 1)

    def _answered(self, answer: Any, cl_order_id: str) -> ExecutionReport:
        """A ``{"order", "trades"}`` answer: fills first (each with its trade id), then the status."""
        obj = answer.get("order") if isinstance(answer, dict) else None
        if not isinstance(obj, dict):
            raise OutcomeUnknown(f"pulse: unexpected answer {type(answer).__name__}", "answer")
        rules = self._rules.get(str(obj.get("instrument_name")))
        report = rpc_parse.parse_order(obj, rules, cl_order_id)
        trades = [t for t in answer.get("trades") or [] if isinstance(t, dict)]
        for fill in rpc_parse.fills_of(trades, report, rules):
            self.tracker.emit(fill)
        self.tracker.emit(report)
        return self.tracker.latest(cl_order_id, report)

    # ------------------------------------------------------------------ private stream

    def _on_notification(self, channel: str, data: Any) -> None:
        head, _, rest = channel.partition(".")
        try:
            if head == "user" and rest.startswith("mmp_trigger."):
                self.native_mmp.on_trigger(data)
            elif head == "user":
                kind = rest.partition(".")[0]
                rows = data if isinstance(data, list) else [data]
                for row in rows:
                    if isinstance(row, dict):
                        if kind == "orders":
                            self._on_order(row)
                        elif kind == "trades":
                            self._on_user_trade(row)
            else:
                self.market.on_notification(channel, data)
        except PARSE_ERRORS as exc:
            log.warning("pulse.stream.parse_error", extra={"channel": channel, "error": repr(exc)})

    def _on_order(self, obj: dict[str, Any]) -> None:
        exch_id = str(obj.get("order_id", ""))
        cl = self.tracker.by_exch_id.get(exch_id) or str(obj.get("label", ""))
        self.tracker.emit(rpc_parse.parse_order(obj, self._rules.get(str(obj.get("instrument_name"))), cl))

    def _on_user_trade(self, trade: dict[str, Any]) -> None:
        exch_id = str(trade.get("order_id", ""))
        cl = self.tracker.by_exch_id.get(exch_id) or str(trade.get("label", ""))
        known = self.tracker.orders.get(cl)
        symbol = str(trade.get("instrument_name", ""))
        if known is None or self.tracker.seen(symbol, str(trade.get("trade_id")), exch_id):
            return  # not ours (another session on the account), or reported already
        self.tracker.emit(parse.parse_user_trade(trade, cl, known, self._rules.get(symbol)))

    # ------------------------------------------------------------------ queries

    async def _query(self, method: str, params: dict[str, Any]) -> Any:
        """Over the websocket when it is up, else over HTTP."""
        if self._rpc is not None and self._rpc.live:
            return await self._rpc.call(method, params)
        return await self._http_query(method, params)

    async def _http_query(self, method: str, params: dict[str, Any]) -> Any:
        if self._http is None:
            raise NotSent("pulse: not started")
        return await self._http.call(method, params)

    # ------------------------------------------------------------------ market data

    def _subscribe_market(self, symbol: str) -> None:
        self.rpc.subscribe(self.market.channels(symbol))

    def _unsubscribe_market(self, symbol: str) -> None:
        self.rpc.unsubscribe(self.market.channels(symbol))
