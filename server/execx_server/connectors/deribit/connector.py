"""The Deribit connector: orders over FIX 4.4, market and account data over JSON-RPC v2 (websocket).

Seed 000 trades Deribit over FIX for latency; the ``Connector`` contract of ``connectors.base`` maps as:

- ``submit_order`` / ``amend_order`` / ``cancel_order`` / ``cancel_all``: NewOrderSingle,
  OrderCancelReplaceRequest, OrderCancelRequest, OrderMassCancelRequest by symbol (``fix_orders``).
  Each waits for the venue's answer on the FIX session: the first ExecutionReport of a new order (or its
  reject report), the cancel / replace report, an OrderCancelReject(9), an OrderMassCancelReport(r), or a
  session Reject(3) / BusinessMessageReject(j) naming our message's sequence number.
- Outcome policy: not logged on = ``Retryable`` (nothing was sent); a refusal = ``Rejected`` with the
  venue's text; the session dropping, or no answer in ``answer_timeout_s`` = ``OutcomeUnknown`` (the
  engine asks ``query_order``, which finds the order by its label = clOrderId over JSON-RPC).
- Every ExecutionReport reaches the engine through ``on_report`` as it arrives, fills included (each its
  own report with the trade id; once per trade id). An answer returns the order's latest state (never a
  stale one: reports may overtake the coroutine that waits for them).
- Cancel-on-disconnect: ``CancelOnDisconnect(9001)=Y`` at Logon by default, so Deribit cancels this
  connection's orders when it drops (and at Logout); ``cancel_on_disconnect_armed`` says whether it is in
  force now. ``close()`` logs out (orders are cancelled then too, as Deribit documents for 9001).
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
import contextlib
import hashlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import simplefix

from ...domain.enums import Exchange, OrderStatus, OrderType, Side, TimeInForce
from ...domain.errors import ValidationError
from ...domain.instruments import InstrumentRules
from ...domain.venue import (
    BookTicker,
    ExecutionReport,
    OrderRequest,
    OutcomeUnknown,
    Rejected,
    Retryable,
    Trade,
    VenueError,
    VenuePosition,
)
from ..base import ConnectorConfig, ReportSink, StreamStateSink
from ..jsonrpc import parse as rpc_parse
from ..jsonrpc.client import DERIBIT, Credentials, JsonRpcConnection, RpcError
from ..transport.fix import FixSession, FixSessionConfig, SessionReject, text
from ..transport.http import make_session
from ..transport.telemetry import NULL_TELEMETRY, Telemetry
from ..transport.websocket import DEFAULT_BACKOFF, Backoff, NoAnswer, NotSent
from . import fix_orders
from .auth import FixLogon
from .urls import Hosts, resolve_hosts

log = logging.getLogger("execx.connectors.deribit")

TARGET_COMP_ID = "DERIBITSERVER"
START_TIMEOUT_S = 15.0
ANSWER_TIMEOUT_S = 10.0
SEEN_TRADES_MAX = 50_000
FINISHED_KEPT = 10_000
UNKNOWN_ORDER_CODES = frozenset({10004, 11044})  # order_not_found, not_open_order
_LIVE = frozenset(
    {
        OrderStatus.PENDINGNEW,
        OrderStatus.NEW,
        OrderStatus.PARTIALLYFILLED,
        OrderStatus.PENDINGUPDATE,
        OrderStatus.PENDINGCANCEL,
    }
)
_sender_ids: dict[str, int] = {}  # SenderCompIDs in use in this process (two sessions never share one)


@dataclass
class _Known:
    """What the connector knows of an order it sent or looked up."""

    symbol: str
    side: Side
    order_type: OrderType
    qty: Decimal
    price: Decimal | None
    exch_order_id: str = ""
    cum_filled: Decimal = Decimal(0)
    status: OrderStatus = OrderStatus.PENDINGNEW
    state: ExecutionReport | None = None  # the latest status (fill fields cleared)


def sender_comp_id(client_id: str) -> str:
    """A stable SenderCompID per API key (its sequence numbers persist under that name); a second
    connector on the same key in this process gets a suffix so the two sessions stay apart."""
    base = "EXECX" + hashlib.sha256(client_id.encode()).hexdigest()[:10].upper()
    n = _sender_ids.get(base, 0) + 1
    _sender_ids[base] = n
    return base if n == 1 else f"{base}-{n}"


class DeribitConnector:
    supports_amend = True
    supported_tifs = frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY})

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
        self.exchange = Exchange.DERIBIT
        self.hosts: Hosts = resolve_hosts(config.testnet, config.rest_url, config.ws_url)
        self.telemetry: Telemetry = NULL_TELEMETRY
        self.cancel_on_disconnect = cancel_on_disconnect
        self._config = config
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._backoff = backoff
        self._answer_timeout_s = answer_timeout_s
        self.sender_comp_id = sender_comp_id(config.api_key)
        options = {"ReportFillsAsExecReports": True, **(fix_options or {})}
        store = None
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
                app_required=fix_orders.APP_REQUIRED,
                backoff=backoff,
            ),
            self._on_fix,
            on_state=self._fix_state,
            on_reject=self._on_session_reject,
        )
        self._session: aiohttp.ClientSession | None = None
        self._rpc: JsonRpcConnection | None = None
        self._rules: dict[str, InstrumentRules] = {}
        self._orders: dict[str, _Known] = {}
        self._by_exch_id: dict[str, str] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._seen_trades: OrderedDict[str, None] = OrderedDict()
        self._waiters: dict[tuple[str, str], asyncio.Future[ExecutionReport]] = {}
        self._by_seq: dict[int, tuple[str, str]] = {}
        self._mass: dict[str, asyncio.Future[simplefix.FixMessage]] = {}
        self._mass_ids = itertools.count(1)
        self._watchers: dict[str, list[tuple[Callable[[BookTicker], None], Callable[[Trade], None]]]] = {}
        self._on_report: ReportSink = _ignore_report
        self._on_stream_state: StreamStateSink = _ignore_state
        self._supervisor: asyncio.Task[None] | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._fix_ups = 0

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

    async def start(self, on_report: ReportSink, on_stream_state: StreamStateSink) -> None:
        self._on_report = on_report
        self._on_stream_state = on_stream_state
        self._session = await make_session(self._config.interface)
        self._rpc = JsonRpcConnection(
            self._session,
            self.hosts.rpc_ws,
            DERIBIT,
            self._on_notification,
            name="deribit.rpc",
            credentials=Credentials(self._config.api_key, self._config.secret_key),
            backoff=self._backoff,
            clock_ms=self._clock_ms,
        )
        self._rpc.telemetry = self.telemetry
        try:
            self._supervisor = asyncio.create_task(self._supervise(), name="deribit.supervisor")
            await self._wait_up(self._rpc.ws.wait_live(START_TIMEOUT_S), self._rpc.refused, "JSON-RPC")
            rows = await self.rpc.call("public/get_instruments", {"currency": "any"})
            self._rules = rpc_parse.parse_instruments(list(rows), self.exchange)
            await self._wait_up(self.fix.wait_logged_on(START_TIMEOUT_S), self.fix.refused, "FIX")
        except BaseException:
            await self.close()
            raise

    async def _wait_up(self, live: Any, refused: asyncio.Event, what: str) -> None:
        """Until ``live`` completes; a refusal of our credentials is ``Rejected`` in the venue's words."""
        assert self._supervisor is not None
        up = asyncio.ensure_future(live)
        no = asyncio.ensure_future(refused.wait())
        try:
            done, _ = await asyncio.wait({up, no, self._supervisor}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, no):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await task
        if self._supervisor in done:
            self._supervisor.result()
        if up in done and not up.cancelled() and up.exception() is None:
            return
        if no in done:
            reason = self.fix.refusal.text if what == "FIX" and self.fix.refusal else str(self.rpc.refusal)
            raise Rejected(f"deribit {what} logon refused: {reason}", "logon")
        raise Retryable(f"deribit {what} connection did not come up in {START_TIMEOUT_S:.0f}s", "start")

    async def _supervise(self) -> None:
        assert self._rpc is not None
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            tg.create_task(self._rpc.run(), name="deribit.rpc")
            tg.create_task(self.fix.run(), name="deribit.fix")

    async def close(self) -> None:
        if self.fix.logged_on:
            await self.fix.stop("execx session closed")
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        self._tg = None
        self.fix.close()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # ------------------------------------------------------------------ reference data

    def rules(self, symbol: str) -> InstrumentRules:
        try:
            return self._rules[symbol]
        except KeyError:
            raise ValidationError("symbol", f"{symbol!r} is not traded on deribit") from None

    # ------------------------------------------------------------------ orders (FIX)

    async def submit_order(self, order: OrderRequest) -> ExecutionReport:
        self.rules(order.symbol)
        known = _Known(order.symbol, order.side, order.order_type, order.qty, order.price)
        self._orders[order.cl_order_id] = known
        try:
            return await self._request("new", order.cl_order_id, fix_orders.new_order_single(order))
        except Rejected:
            known.status = OrderStatus.REJECTED
            raise

    async def amend_order(
        self, symbol: str, cl_order_id: str, side: Side, qty: Decimal, price: Decimal | None
    ) -> ExecutionReport:
        known = await self._known(symbol, cl_order_id)
        msg = fix_orders.replace_request(
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
        known = await self._known(symbol, cl_order_id)
        msg = fix_orders.cancel_request(cl_order_id, known.exch_order_id, symbol, known.side)
        return await self._request("cancel", cl_order_id, msg)

    async def cancel_all(self, symbol: str) -> None:
        request_id = f"mc-{self._clock_ms()}-{next(self._mass_ids)}"
        fut: asyncio.Future[simplefix.FixMessage] = asyncio.get_running_loop().create_future()
        self._mass[request_id] = fut
        try:
            try:
                self.fix.send(fix_orders.mass_cancel_request(request_id, symbol))
            except NotSent as exc:
                raise Retryable(str(exc), "not_logged_on") from None
            try:
                report = await asyncio.wait_for(fut, self._answer_timeout_s)
            except TimeoutError:
                raise OutcomeUnknown("deribit: no OrderMassCancelReport in time", "timeout") from None
        finally:
            self._mass.pop(request_id, None)
        if text(report, 531) == "0":
            raise Rejected(text(report, 58) or "mass cancel rejected", text(report, 532))

    async def _request(self, kind: str, cl_order_id: str, msg: simplefix.FixMessage) -> ExecutionReport:
        key = (kind, cl_order_id)
        fut: asyncio.Future[ExecutionReport] = asyncio.get_running_loop().create_future()
        self._waiters[key] = fut
        seq = 0
        started = time.perf_counter()
        outcome = "unknown"
        try:
            try:
                seq = self.fix.send(msg)
            except NotSent as exc:
                outcome = "retryable"
                raise Retryable(str(exc), "not_logged_on") from None
            self._by_seq[seq] = key
            try:
                report = await asyncio.wait_for(fut, self._answer_timeout_s)
            except TimeoutError:
                raise OutcomeUnknown(f"deribit: no answer to {kind} {cl_order_id} in time", "timeout") from None
            except Rejected:
                outcome = "rejected"
                raise
            outcome = "ok"
            return report
        finally:
            if self._waiters.get(key) is fut:
                del self._waiters[key]
            self._by_seq.pop(seq, None)
            self.telemetry.request(f"FIX {kind}", outcome, time.perf_counter() - started)

    def _answer(self, key: tuple[str, str], result: ExecutionReport | VenueError) -> None:
        fut = self._waiters.pop(key, None)
        if fut is None or fut.done():
            return
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
            if cl not in self._orders:
                cl = self._by_exch_id.get(text(msg, 41), cl)
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
            report = fix_orders.parse_execution_report(msg)
        except (ArithmeticError, ValueError) as exc:
            log.warning("deribit.fix.bad_report", extra={"error": repr(exc)})
            return
        cl = report.cl_order_id
        exec_type = text(msg, 150)
        if exec_type == "8" and ("new", cl) in self._waiters:
            self._answer(("new", cl), Rejected(report.message or "rejected", text(msg, 103)))
            return
        self._emit(report)
        known = self._orders.get(cl)
        state = known.state if known is not None and known.state is not None else report
        self._answer(("new", cl), state)
        if exec_type in ("4", "3", "C") or report.status.is_final:
            self._answer(("cancel", cl), state)
        if exec_type == "5" or report.status.is_final:
            self._answer(("replace", cl), state)

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
        if self._fix_ups > 1 and self._tg is not None:
            self._tg.create_task(self._recover(), name="deribit.recover")

    def _emit(self, report: ExecutionReport) -> None:
        """Forward a report to the engine (once per trade id) and keep what we know current."""
        if report.trade_id:
            key = f"{report.symbol}:{report.trade_id}"
            if key in self._seen_trades:
                return
            self._seen_trades[key] = None
            if len(self._seen_trades) > SEEN_TRADES_MAX:
                self._seen_trades.popitem(last=False)
        self._note(report)
        self._on_report(report)

    def _note(self, report: ExecutionReport) -> None:
        known = self._orders.get(report.cl_order_id)
        if known is None:
            return
        if report.exch_order_id:
            known.exch_order_id = report.exch_order_id
            self._by_exch_id[report.exch_order_id] = report.cl_order_id
        if report.trade_id:
            known.cum_filled = max(known.cum_filled, report.cum_filled)
        known.status = report.status
        if report.qty:
            known.qty = report.qty
        if report.price is not None:
            known.price = report.price
        known.state = replace(
            report,
            trade_id="",
            fill_qty=Decimal(0),
            fill_price=Decimal(0),
            liquidity=None,
            fee=Decimal(0),
            fee_asset="",
        )
        if report.status.is_final:
            self._finished[report.cl_order_id] = None
            while len(self._finished) > FINISHED_KEPT:
                old, _ = self._finished.popitem(last=False)
                gone = self._orders.get(old)
                if gone is not None and gone.status.is_final:
                    del self._orders[old]
                    self._by_exch_id.pop(gone.exch_order_id, None)

    async def _known(self, symbol: str, cl_order_id: str) -> _Known:
        """What we know of an order; asks the venue (by label) when this instance did not send it."""
        known = self._orders.get(cl_order_id)
        if known is not None and known.exch_order_id:
            return known
        report = await self.query_order(symbol, cl_order_id)
        if report is None:
            if known is not None:
                return known  # sent by us, no answer yet: address it by ClOrdID
            raise Rejected(f"order {cl_order_id} is unknown to deribit", "10004")
        known = self._orders.get(cl_order_id) or _Known(symbol, report.side, OrderType.LIMIT, report.qty, report.price)
        known.exch_order_id = report.exch_order_id
        known.status = report.status
        self._orders[cl_order_id] = known
        self._by_exch_id[report.exch_order_id] = cl_order_id
        return known

    # ------------------------------------------------------------------ queries (JSON-RPC)

    async def _rpc_call(self, method: str, params: dict[str, Any]) -> Any:
        """A JSON-RPC call under the outcome policy (queries only: nothing here changes an order)."""
        try:
            return await self.rpc.call(method, params)
        except RpcError as exc:
            raise Rejected(exc.text, str(exc.code)) from None
        except NotSent as exc:
            raise Retryable(str(exc), "not_connected") from None
        except NoAnswer as exc:
            raise OutcomeUnknown(str(exc), "no_answer") from None

    async def query_order(self, symbol: str, cl_order_id: str) -> ExecutionReport | None:
        known = self._orders.get(cl_order_id)
        try:
            if known is not None and known.exch_order_id:
                obj = await self._rpc_call("private/get_order_state", {"order_id": known.exch_order_id})
            else:
                rows = await self._rpc_call(
                    "private/get_order_state_by_label", {"currency": _currency(symbol), "label": cl_order_id}
                )
                mine = [r for r in rows if r.get("instrument_name") == symbol] if isinstance(rows, list) else []
                if not mine:
                    return None
                obj = max(mine, key=lambda r: int(r.get("creation_timestamp", 0) or 0))
        except Rejected as exc:
            if exc.code.isdigit() and int(exc.code) in UNKNOWN_ORDER_CODES:
                return None
            raise
        report = rpc_parse.parse_order(obj, self._rules.get(symbol), cl_order_id)
        if known is not None and report.exch_order_id:
            known.exch_order_id = report.exch_order_id
            self._by_exch_id[report.exch_order_id] = cl_order_id
        return report

    async def order_fills(self, symbol: str, cl_order_id: str) -> list[ExecutionReport]:
        order = await self.query_order(symbol, cl_order_id)
        if order is None:
            return []
        trades = await self._rpc_call("private/get_user_trades_by_order", {"order_id": order.exch_order_id})
        return rpc_parse.fills_of(list(trades), order, self._rules.get(symbol))

    async def open_orders(self, symbol: str | None = None) -> list[ExecutionReport]:
        if symbol is not None:
            rows = await self._rpc_call("private/get_open_orders_by_instrument", {"instrument_name": symbol})
        else:
            rows = await self._rpc_call("private/get_open_orders", {})
        return [rpc_parse.parse_order(r, self._rules.get(str(r.get("instrument_name")))) for r in rows]

    async def positions(self) -> list[VenuePosition]:
        rows = await self._rpc_call("private/get_positions", {"currency": "any"})
        return rpc_parse.parse_positions(list(rows), self._rules)

    # ------------------------------------------------------------------ gap recovery

    async def _recover(self) -> None:
        """After the FIX session came back: report what happened to our live orders meanwhile."""
        for attempt in range(3):
            try:
                await self.rpc.ws.wait_live(START_TIMEOUT_S)
                await self._recover_once()
                return
            except (VenueError, TimeoutError) as exc:
                log.warning("deribit.recovery_failed", extra={"attempt": attempt + 1, "error": str(exc)})
                await asyncio.sleep(self._backoff.delay(attempt))
        log.error("deribit.recovery_gave_up")

    async def _recover_once(self) -> None:
        for cl, known in list(self._orders.items()):
            if known.status not in _LIVE or not known.exch_order_id:
                continue
            obj = await self._rpc_call("private/get_order_state", {"order_id": known.exch_order_id})
            rules = self._rules.get(known.symbol)
            state = rpc_parse.parse_order(obj, rules, cl)
            if state.cum_filled > known.cum_filled:
                trades = await self._rpc_call("private/get_user_trades_by_order", {"order_id": known.exch_order_id})
                for fill in rpc_parse.fills_of(list(trades), state, rules):
                    self._emit(fill)
            if state.status is not known.status or state.qty != known.qty:
                self._emit(state)

    # ------------------------------------------------------------------ market data (JSON-RPC)

    async def watch_market(
        self, symbol: str, on_ticker: Callable[[BookTicker], None], on_trade: Callable[[Trade], None]
    ) -> Callable[[], None]:
        self.rules(symbol)
        entry = (on_ticker, on_trade)
        self._watchers.setdefault(symbol, []).append(entry)
        channels = [f"quote.{symbol}", f"trades.{symbol}.raw"]
        self.rpc.subscribe(channels)

        def unsubscribe() -> None:
            watchers = self._watchers.get(symbol, [])
            if entry in watchers:
                watchers.remove(entry)
            if not watchers:
                self._watchers.pop(symbol, None)
                self.rpc.unsubscribe(channels)

        return unsubscribe

    def _on_notification(self, channel: str, data: Any) -> None:
        head, _, rest = channel.partition(".")
        symbol = rest.split(".")[0]
        watchers = self._watchers.get(symbol)
        if not watchers:
            return
        rules = self._rules.get(symbol)
        try:
            if head == "quote" and isinstance(data, dict):
                ticker = rpc_parse.parse_quote(data, rules)
                if ticker is not None:
                    for on_ticker, _ in list(watchers):
                        on_ticker(ticker)
            elif head == "trades" and isinstance(data, list):
                for row in data:
                    trade = rpc_parse.parse_public_trade(row, rules)
                    for _, on_trade in list(watchers):
                        on_trade(trade)
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            log.warning("deribit.market.parse_error", extra={"channel": channel, "error": repr(exc)})


def _currency(symbol: str) -> str:
    """The currency an instrument belongs to: ``BTC-PERPETUAL`` -> BTC, ``BTC_USDC-PERPETUAL`` -> USDC."""
    head = symbol.split("-")[0]
    return head.split("_")[1] if "_" in head else head


def _ignore_report(report: ExecutionReport) -> None:
    return None


def _ignore_state(live: bool) -> None:
    return None
