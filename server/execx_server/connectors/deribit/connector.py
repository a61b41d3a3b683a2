"""The Deribit connector: orders over FIX 4.4, market and account data over JSON-RPC v2 (websocket).

Seed 000 trades Deribit over FIX for latency; the ``Connector`` contract of ``connectors.base`` maps as:

- ``submit_order`` / ``amend_order`` / ``cancel_order`` / ``cancel_all``: NewOrderSingle,
  OrderCancelReplaceRequest, OrderCancelRequest, OrderMassCancelRequest by symbol (``parse``).
  Each waits for the venue's answer on the FIX session: the first ExecutionReport of a new order (or its
  reject report), the cancel / replace report, an OrderCancelReject(9), an OrderMassCancelReport(r), or a
  session Reject(3) / BusinessMessageReject(j) naming our message's sequence number.
- Outcome policy: not logged on = ``Retryable`` (nothing was sent); a refusal = ``Rejected`` with the
  venue's text; the session dropping, or no answer in ``answer_timeout_s`` = ``OutcomeUnknown`` (the
  engine asks ``query_order``, which finds the order by its label = clOrderId over JSON-RPC).
- Every ExecutionReport reaches the engine through ``on_report`` as it arrives, fills included (each its
  own report with the trade id; once per trade id). A fill's fee is not on the FIX report (Commission(12) is
  deprecated, always 0): it is looked up with ``private/get_user_trades_by_order`` (``fee``,
  ``fee_currency``) before the fill is passed on, the reports behind it waiting in order (at most
  ``FEE_LOOKUP_TIMEOUT_S``; then the fill goes on with fee 0, logged).
  An answer returns the order's latest state (never a
  stale one: reports may overtake the coroutine that waits for them). Answers first: a report that answers
  a request resumes the requester before it (and whatever arrives behind it) goes to ``on_report``, in
  arrival order, at the next turn of the event loop; the order path does not wait for the stream's work.
- Cancel-on-disconnect: ``CancelOnDisconnect(9001)=Y`` at Logon by default, so Deribit cancels this
  connection's orders when it drops (and at Logout); ``cancel_on_disconnect_armed`` says whether it is in
  force now. ``close()`` logs out with ``DontCancelOnDisconnect(9003)=Y``: a deliberate stop keeps the
  resting orders (9001 would cancel them at Logout too).
- Sequence numbers persist under the service's data directory (``ConnectorConfig.state_dir``) so a
  reconnect, or a restart, continues them; gaps are resent by the FIX session layer.
- After the FIX session comes back, the orders believed live are checked over JSON-RPC
  (``private/get_order_state``, ``private/get_user_trades_by_order``): missed fills and final states
  (e.g. cancelled by cancel-on-disconnect while we were away) are reported.
- Instruments (tick, contract size, minimum), positions, order state, fills, and market data
  (``quote.{instrument}``, ``trades.{instrument}.raw``) come over the JSON-RPC websocket
  (``connectors.jsonrpc``). Quantities are contracts (FIX ``OrderQty``), see ``jsonrpc.parse``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import simplefix

from ...domain.enums import Exchange, OrderType, Side, TimeInForce
from ...domain.instruments import InstrumentRules
from ...domain.venue import (
    ExecutionReport,
    OrderRequest,
    OutcomeUnknown,
    Rejected,
    Retryable,
    VenueError,
)
from ..base import Capabilities, ConnectorConfig
from ..jsonrpc import parse as rpc_parse
from ..jsonrpc.client import DERIBIT, Credentials, JsonRpcConnection, JsonRpcHttp, RpcError
from ..jsonrpc.credits import BLOCK_S, Credits
from ..jsonrpc.market import MarketWatch
from ..jsonrpc.mmp import RpcMmp
from ..jsonrpc.orders import QueriesOverRpc, RpcQueries
from ..tracking import Known
from ..transport.fix import FixSession, FixSessionConfig, SessionReject, text
from ..transport.supervisor import Run
from ..transport.telemetry import measured
from ..transport.websocket import DEFAULT_BACKOFF, Backoff, NotSent, StreamError
from ..venue import START_TIMEOUT_S, VenueConnector
from . import parse
from .signing import FixLogon
from .urls import Hosts, resolve_hosts

log = logging.getLogger("execx.connectors.deribit")

TARGET_COMP_ID = "DERIBITSERVER"
ANSWER_TIMEOUT_S = 10.0
FEE_LOOKUP_TIMEOUT_S = 2.0  # a fill waits at most this long for its fee (then goes on without it)
TOO_MANY_REQUESTS = "too_many_requests"  # Deribit's 10028 in a FIX reject's Text(58)
_senders_in_use: set[str] = set()  # SenderCompIDs of running connectors (two sessions never share one)


def sender_comp_id(client_id: str) -> str:
    """A stable SenderCompID per API key (its sequence numbers persist under that name); while one
    connector of this process uses it, a second one on the same key gets the next free suffix."""
    base = "EXECX" + hashlib.sha256(client_id.encode()).hexdigest()[:10].upper()
    name, n = base, 1
    while name in _senders_in_use:
        n += 1
        name = f"{base}-{n}"
    _senders_in_use.add(name)
    return name


class DeribitConnector(QueriesOverRpc, VenueConnector):
    def __init__(
        self,
        config: ConnectorConfig,
        *,
        clock_ms: Callable[[], int] | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        cancel_on_disconnect: bool = True,
        fix_options: dict[str, bool] | None = None,
        heartbeat_s: int = 30,
        answer_timeout_s: float = ANSWER_TIMEOUT_S,
    ) -> None:
        if config.exchange is not Exchange.DERIBIT:
            raise ValueError(f"not Deribit: {config.exchange}")
        super().__init__(config, clock_ms=clock_ms, backoff=backoff)
        self.hosts: Hosts = resolve_hosts(config.testnet, config.rest_url, config.ws_url)
        self.cancel_on_disconnect = cancel_on_disconnect
        self.capabilities = Capabilities(
            supported_tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY}),
            supports_reduce_only=True,
            cancel_on_disconnect=cancel_on_disconnect,  # FIX Logon 9001=Y
            # stop orders over FIX (OrdType S / 4 with StopPx); take-profits and trailing stops: emulated (FIX's
            # if-touched OrdType J is "stop limit, if StopPx is set" in Deribit's words and no report lists it;
            # NewOrderSingle has no trailing offset tag: docs/contingent_orders.md)
            native_triggers=frozenset({"stop"}),
            native_references=frozenset(parse.TRIGGER_METHOD),
        )
        self._answer_timeout_s = answer_timeout_s
        self.sender_comp_id = sender_comp_id(config.api_key)
        options = {"ReportFillsAsExecReports": True, **(fix_options or {})}
        store = None  # without a state directory the numbers cannot persist: each Logon resets them (141=Y)
        if config.state_dir:
            store = (
                Path(config.state_dir) / "fix" / f"{self.sender_comp_id}@{self.hosts.fix_host}_{self.hosts.fix_port}"
            )
        self.fix = FixSession(
            FixSessionConfig(
                host=self.hosts.fix_host,
                port=self.hosts.fix_port,
                sender_comp_id=self.sender_comp_id,
                target_comp_id=TARGET_COMP_ID,
                logon_fields=FixLogon(config.api_key, config.secret_key, cancel_on_disconnect, options),
                tls=self.hosts.fix_tls,
                heartbeat_s=heartbeat_s,
                store_path=store,
                reset_on_logon=store is None,
                app_required=parse.APP_REQUIRED,
                backoff=backoff,
            ),
            self._on_fix,
            on_state=self._fix_state,
            on_reject=self._on_session_reject,
        )
        self._rpc: JsonRpcConnection | None = None
        self._http: JsonRpcHttp | None = None  # the same JSON-RPC calls over HTTP (websocket down or silent)
        # After the FIX session comes back (``_recover_once``): orders believed live, their state and fills,
        # over JSON-RPC.
        self.queries = RpcQueries(
            self._rpc_call,
            self._rules,
            self.tracker,
            positions_params={"currency": "any"},
            all_open_orders="private/get_open_orders",
            trades_method="public/get_last_trades_by_instrument_and_time",
        )
        # While the FIX session is down or silent with orders live (``_poll_once``): poll over JSON-RPC's HTTP
        # form (the websocket may be as silent as FIX). A FIX session that answers TestRequests is not taken as
        # proof that every fill reached the engine (in the kill -9 fault matrix fills went missing after a
        # restart, in part because the taker side of a self-trade was dropped as a duplicate, fixed in
        # 4f0f1b2): while FIX is quiet, poll like elsewhere.
        self._polls = RpcQueries(
            self._http_call,
            self._rules,
            self.tracker,
            positions_params={"currency": "any"},
            all_open_orders="private/get_open_orders",
        )
        self._waiters: dict[tuple[str, str], asyncio.Future[ExecutionReport]] = {}
        self._by_seq: dict[int, tuple[str, str]] = {}
        self._mass: dict[str, asyncio.Future[simplefix.FixMessage]] = {}
        self._mass_ids = itertools.count(1)
        self.market = MarketWatch(self._watchers, self._rules)
        self._held: list[ExecutionReport] | None = None  # reports held behind an answer (answers first)
        # reports waiting behind a FIX fill whose fee is being looked up over JSON-RPC (in order)
        self._fee_queue: deque[asyncio.Future[ExecutionReport]] = deque()
        self._fee_drain: asyncio.Future[None] | None = None
        # the venue's market-maker protection (managers/mmp.py): JSON-RPC; flags the FIX orders with 9008
        self.native_mmp = RpcMmp(self._rpc_call, lambda channels: self.rpc.subscribe(channels), pulse=False)
        self._fix_ups = 0
        self.credits = Credits(config.rate_gate)  # fleet mode: the account's budget shared with other execx

    # ------------------------------------------------------------------ lifecycle

    @property
    def rpc(self) -> JsonRpcConnection:
        if self._rpc is None:
            raise RuntimeError("connector not started")
        return self._rpc

    @property
    def cancel_on_disconnect_armed(self) -> bool:
        """Deribit's cancel-on-disconnect is in force for this session now (FIX logged on with 9001=Y)."""
        return self.cancel_on_disconnect and self.fix.logged_on

    def _open_transport(self, session: aiohttp.ClientSession, *, keyless: bool) -> None:
        """The JSON-RPC websocket (keyless: without ``public/auth``, public channels and instruments only)
        and, for an order session, its HTTP form."""
        credentials = None if keyless else Credentials(self._config.api_key, self._config.secret_key)
        self._rpc = JsonRpcConnection(
            session,
            self.hosts.rpc_ws,
            DERIBIT,
            self._on_notification,
            name="deribit.rpc",
            credentials=credentials,
            backoff=self._backoff,
            clock_ms=self._clock_ms,
        )
        self._rpc.telemetry = self.telemetry
        if credentials is not None:
            self._http = JsonRpcHttp(session, self.hosts.rpc_http, DERIBIT, credentials, self._clock_ms)
            self._rpc.credits = self._http.credits = self.credits  # one account's credits, FIX included

    def _transport_runs(self, *, keyless: bool) -> list[Run]:
        return [("deribit.rpc", self.rpc.run)]

    async def _load_rules(self, *, keyless: bool) -> dict[str, InstrumentRules]:
        """``public/get_instruments`` over the JSON-RPC websocket, once it is up."""
        await self._wait_up(self.rpc.ws.wait_live(START_TIMEOUT_S), self.rpc.refused, "JSON-RPC")
        rows = list(await self.rpc.call("public/get_instruments", {"currency": "any"}))
        self.queries.currencies.update(rpc_parse.instrument_currencies(rows))
        if not keyless:
            await self.credits.learn(self.rpc.call, self.queries.currencies)
        return rpc_parse.parse_instruments(rows, self.exchange)

    async def _private_runs(self, session: aiohttp.ClientSession) -> list[Run]:
        return [("deribit.fix", self.fix.run)]

    async def _wait_private(self) -> None:
        await self._wait_up(self.fix.wait_logged_on(START_TIMEOUT_S), self.fix.refused, "FIX")

    def _liveness(self) -> FixSession:
        return self.fix

    def _streams_failed(self) -> None:
        """No stream-state report when the group dies: the FIX session reports its own state."""

    async def _recover_once(self) -> None:
        await self.queries.recover()

    async def _poll_once(self) -> None:
        await self._polls.recover()

    async def _wait_up(self, live: Any, refused: asyncio.Event, what: str) -> None:
        """Until ``live`` completes; a refusal of our credentials is ``Rejected`` in the venue's words."""
        if await self._supervisor.wait_up(live, refused):
            return
        if refused.is_set():
            if what == "FIX":
                reason = self.fix.refusal.text if self.fix.refusal else "Logout"
                raise Rejected(f"deribit FIX logon refused: {reason}", "logon")
            refusal = self.rpc.refusal
            raise Rejected(
                f"deribit: public/auth refused: {refusal.text if refusal else ''}", str(refusal.code if refusal else "")
            )
        raise Retryable(f"deribit {what} connection did not come up in {START_TIMEOUT_S:.0f}s", "start")

    async def _before_close(self) -> None:
        """Log out with ``DontCancelOnDisconnect(9003)=Y``: a deliberate stop keeps the resting orders
        (the engine cancels them first when the session is stopped with ``cancelOpenOrders``);
        cancel-on-disconnect is for connections that are lost, not closed."""
        if self.fix.logged_on:
            await self.fix.stop("execx session closed", [(9003, "Y")])

    async def _close_transport(self) -> None:
        self.fix.close()
        if self._fee_drain is not None and not self._fee_drain.done():
            await asyncio.wait([self._fee_drain], timeout=FEE_LOOKUP_TIMEOUT_S)  # the fills behind it reach the engine
        _senders_in_use.discard(self.sender_comp_id)

    # ------------------------------------------------------------------ orders (FIX)

    async def submit_order(self, order: OrderRequest) -> ExecutionReport:
        self.rules(order.symbol)
        if self.tracker.live_order(order.cl_order_id) is not None:
            # Deribit does not refuse a second order under the same label / ClOrdID: refuse it here, and
            # answer with the order that exists (a duplicate client order id is never a rejection).
            why = f"deribit: {order.cl_order_id} is live already"
            return await self.tracker.existing(order.symbol, order.cl_order_id, None, self.query_order, why)
        known = Known(order.symbol, order.side, order.order_type, order.tif, order.qty, order.price)
        self.tracker.track(order.cl_order_id, known)
        try:
            return await self._request("new", order.cl_order_id, self._new_order_single(order))
        except Retryable:  # nothing reached the venue: not live (a retry tracks it again)
            self.tracker.refused(order.cl_order_id)
            raise
        except Rejected:
            self.tracker.refused(order.cl_order_id)
            raise

    def _new_order_single(self, order: OrderRequest) -> simplefix.FixMessage:
        """NewOrderSingle; a limit order carries DeribitMMProtection(9008)=Y while the venue's MMP is set."""
        msg = parse.new_order_single(order)
        if self.native_mmp.orders and order.order_type is not OrderType.MARKET:
            msg.append_pair(9008, "Y")
        return msg

    async def amend_order(
        self, symbol: str, cl_order_id: str, side: Side, qty: Decimal, price: Decimal | None
    ) -> ExecutionReport:
        known = await self.queries.known(symbol, cl_order_id)
        msg = parse.replace_request(
            cl_order_id,
            known.exch_order_id,
            symbol,
            side,
            qty,
            price if price is not None else known.price,
            known.order_type is OrderType.POSTONLY,
        )
        return await self._request("replace", cl_order_id, msg)

    async def cancel_order(self, symbol: str, cl_order_id: str) -> ExecutionReport:
        known = await self.queries.known(symbol, cl_order_id)
        msg = parse.cancel_request(cl_order_id, known.exch_order_id, symbol, known.side)
        return await self._request("cancel", cl_order_id, msg)

    async def cancel_all(self, symbol: str) -> None:
        request_id = f"mc-{self._clock_ms()}-{next(self._mass_ids)}"
        fut: asyncio.Future[simplefix.FixMessage] = asyncio.get_running_loop().create_future()
        self._mass[request_id] = fut
        try:
            await self.credits.draw("private/cancel_all_by_instrument")  # FIX orders use the same credits
            try:
                self.fix.send(parse.mass_cancel_request(request_id, symbol))
            except NotSent as exc:
                raise Retryable(str(exc), "not_logged_on") from None
            try:
                async with asyncio.timeout(self._answer_timeout_s):
                    report = await fut
            except TimeoutError:
                raise OutcomeUnknown("deribit: no OrderMassCancelReport in time", "timeout") from None
        finally:
            self._mass.pop(request_id, None)
        if text(report, 531) == "0":
            raise Rejected(text(report, 58) or "mass cancel rejected", text(report, 532))

    async def _request(self, kind: str, cl_order_id: str, msg: simplefix.FixMessage) -> ExecutionReport:
        return await measured(self.telemetry, f"FIX {kind}", self._ask(kind, cl_order_id, msg))

    async def _ask(self, kind: str, cl_order_id: str, msg: simplefix.FixMessage) -> ExecutionReport:
        key = (kind, cl_order_id)
        fut: asyncio.Future[ExecutionReport] = asyncio.get_running_loop().create_future()
        self._waiters[key] = fut
        seq = 0
        try:
            await self.credits.draw("private/buy")  # FIX orders use the account's matching-engine credits
            try:
                seq = self.fix.send(msg)
            except NotSent as exc:
                raise Retryable(str(exc), "not_logged_on") from None
            self._by_seq[seq] = key
            try:
                async with asyncio.timeout(self._answer_timeout_s):
                    return await fut
            except TimeoutError:
                raise OutcomeUnknown(f"deribit: no answer to {kind} {cl_order_id} in time", "timeout") from None
        finally:
            if self._waiters.get(key) is fut:
                del self._waiters[key]
            self._by_seq.pop(seq, None)

    def _answer(self, key: tuple[str, str], result: ExecutionReport | VenueError) -> None:
        fut = self._waiters.pop(key, None)
        if fut is None or fut.done():
            return
        if isinstance(result, Rejected) and TOO_MANY_REQUESTS in result.message:
            # out of credits (10028): nothing was done; in fleet mode every execx on the account holds back
            self.credits.answered(10028)
            result = Retryable(f"deribit: {result.message}", "too_many_requests", retry_after_s=BLOCK_S)
        if isinstance(result, VenueError):
            fut.set_exception(result)
        else:
            fut.set_result(result)

    # ------------------------------------------------------------------ FIX messages

    def _on_fix(self, msg: simplefix.FixMessage, poss_dup: bool) -> None:
        kind = text(msg, 35)
        if kind == "8":
            self._on_execution_report(msg)
        elif kind == "9":
            cl = text(msg, 11)
            if cl not in self.tracker.orders:
                cl = self.tracker.by_exch_id.get(text(msg, 41), cl)
            waiter = "cancel" if text(msg, 434) == "1" else "replace"
            self._answer((waiter, cl), Rejected(text(msg, 58) or "cancel rejected", text(msg, 102)))
        elif kind == "r":
            fut = self._mass.get(text(msg, 11))
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif kind == "j":
            key = self._by_seq.get(int(text(msg, 45) or 0))
            if key is not None:
                self._answer(key, Rejected(text(msg, 58) or f"BusinessMessageReject {text(msg, 380)}", text(msg, 380)))

    def _on_execution_report(self, msg: simplefix.FixMessage) -> None:
        try:
            report = parse.parse_execution_report(msg)
        except (ArithmeticError, ValueError) as exc:
            log.warning("deribit.fix.bad_report", extra={"error": repr(exc)})
            return
        cl = report.cl_order_id
        exec_type = text(msg, 150)
        if exec_type == "8" and ("new", cl) in self._waiters:
            self._answer(("new", cl), Rejected(report.message or "rejected", text(msg, 103)))
            return
        answers = [("new", cl)]
        if exec_type in ("4", "3", "C") or report.status.is_final:
            answers.append(("cancel", cl))
        if exec_type == "5" or report.status.is_final:
            answers.append(("replace", cl))
        answering = any(key in self._waiters for key in answers)
        if answering and self._held is None:
            self._held = []
        self.tracker.emit(report)
        state = self.tracker.latest(cl, report)
        for key in answers:
            self._answer(key, state)
        if answering:  # after the requesters' wake-ups: they run first
            asyncio.get_running_loop().call_soon(self._release)

    def _report(self, report: ExecutionReport) -> None:
        """Every report to the engine, in arrival order. A FIX fill has no fee (Commission(12) is deprecated,
        always 0): its fee is looked up over JSON-RPC first, and reports behind it wait for it."""
        if report.trade_id and not report.fee and not report.fee_asset:
            self._fee_queue.append(asyncio.ensure_future(self._with_fee(report)))
        elif self._fee_queue:
            done: asyncio.Future[ExecutionReport] = asyncio.get_running_loop().create_future()
            done.set_result(report)
            self._fee_queue.append(done)
        else:
            self._deliver(report)
            return
        if self._fee_drain is None or self._fee_drain.done():
            self._fee_drain = asyncio.ensure_future(self._drain_fees())

    def _deliver(self, report: ExecutionReport) -> None:
        if self._held is not None:
            self._held.append(report)
        else:
            self._on_report(report)

    async def _drain_fees(self) -> None:
        while self._fee_queue:
            report = await self._fee_queue[0]
            self._fee_queue.popleft()
            try:
                self._deliver(report)
            except Exception:
                log.exception("deribit.report_failed", extra={"clOrderId": report.cl_order_id})

    async def _with_fee(self, report: ExecutionReport) -> ExecutionReport:
        """``report`` with its trade's ``fee`` and ``fee_currency`` from ``private/get_user_trades_by_order``
        (Deribit's own figure); unchanged, and logged, when the lookup fails or is late."""
        try:
            answer = await asyncio.wait_for(
                self._rpc_call("private/get_user_trades_by_order", {"order_id": report.exch_order_id}),
                FEE_LOOKUP_TIMEOUT_S,
            )
            priced = parse.with_fee(report, answer)
            if priced is not None:
                return priced
            log.warning("deribit.fee_not_found", extra={"clOrderId": report.cl_order_id, "tradeId": report.trade_id})
        except (
            VenueError,
            StreamError,
            RpcError,
            aiohttp.ClientError,
            TimeoutError,
            ArithmeticError,
            AttributeError,
            TypeError,
        ) as exc:
            log.warning("deribit.fee_lookup_failed", extra={"clOrderId": report.cl_order_id, "error": repr(exc)})
        return report

    def _release(self) -> None:
        held, self._held = self._held, None
        for report in held or ():
            try:
                self._on_report(report)
            except Exception:  # as the FIX session does for a report it delivers: logged, the others go on
                log.exception("deribit.report_failed", extra={"clOrderId": report.cl_order_id})

    def _on_session_reject(self, rej: SessionReject) -> None:
        key = self._by_seq.get(rej.ref_seq_num)
        if key is not None:
            self._answer(key, Rejected(f"FIX session reject: {rej.text or rej.reason}", str(rej.reason or "")))

    def _fix_state(self, up: bool) -> None:
        if not up:
            lost = OutcomeUnknown("deribit: FIX connection lost before the answer", "disconnected")
            for key in list(self._waiters):
                self._answer(key, lost)
            for fut in self._mass.values():
                if not fut.done():
                    fut.set_exception(lost)
            self._on_stream_state(False)
            return
        self._fix_ups += 1
        self._on_stream_state(True)
        if self._fix_ups > 1 and self._supervisor.running:
            self._supervisor.spawn("deribit.recover", self._recovery.run)

    # ------------------------------------------------------------------ queries (JSON-RPC)

    async def _rpc_call(self, method: str, params: dict[str, Any]) -> Any:
        """Over the JSON-RPC websocket when it is up, else over HTTP."""
        if self._rpc is not None and self._rpc.live:
            return await self._rpc.call(method, params)
        return await self._http_call(method, params)

    async def _http_call(self, method: str, params: dict[str, Any]) -> Any:
        if self._http is None:
            raise NotSent("deribit: not started")
        return await self._http.call(method, params)

    # ------------------------------------------------------------------ market data (JSON-RPC)

    def _subscribe_market(self, symbol: str) -> None:
        self.rpc.subscribe(self.market.channels(symbol))

    def _unsubscribe_market(self, symbol: str) -> None:
        self.rpc.unsubscribe(self.market.channels(symbol))

    def _on_notification(self, channel: str, data: Any) -> None:
        if channel.startswith("user.mmp_trigger."):
            self.native_mmp.on_trigger(data)
            return
        self.market.on_notification(channel, data)
