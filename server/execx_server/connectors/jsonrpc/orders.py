"""Order bookkeeping and the JSON-RPC order queries shared by the Deribit and Pulse connectors.

What a connector knows of its orders is the ``OrderTracker`` every connector uses (``connectors.tracking``).

``RpcQueries`` answers the engine's questions over JSON-RPC with the methods both venues document
(``private/get_order_state``, ``get_order_state_by_label``, ``get_user_trades_by_order``,
``get_open_orders_by_instrument``, ``get_positions``) and recovers what a reconnect may have hidden:
for every order believed live, its state now and any fills not seen yet. Errors follow the outcome
policy: an error answer is ``Rejected`` with the venue's words, no connection ``Retryable``, no answer
``OutcomeUnknown``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ...domain.enums import OrderType
from ...domain.instruments import InstrumentRules
from ...domain.venue import ExecutionReport, OutcomeUnknown, Rejected, Retryable, Trade, TradeWindow, VenuePosition
from ..tracking import Known, OrderTracker
from ..transport.websocket import NoAnswer, NotSent
from . import parse
from .client import RpcError

HISTORY_REQUESTS = 48  # trades_between: requests at most (48 000 trades)

log = logging.getLogger("execx.connectors.jsonrpc")

UNKNOWN_ORDER_CODES = frozenset({10004, 11044})  # order_not_found, not_open_order


Call = Callable[[str, dict[str, Any]], Awaitable[Any]]


async def policy_call(call: Call, method: str, params: dict[str, Any]) -> Any:
    """``call`` with the venue's failures as the outcome policy's errors."""
    try:
        return await call(method, params)
    except RpcError as exc:
        raise Rejected(exc.text, str(exc.code)) from None
    except NotSent as exc:
        raise Retryable(str(exc), "not_connected") from None
    except NoAnswer as exc:
        raise OutcomeUnknown(str(exc), "no_answer") from None


def currency_of(symbol: str) -> str:
    """The currency an instrument belongs to: ``BTC-PERPETUAL`` -> BTC, ``BTC_USDC-PERPETUAL`` -> USDC."""
    head = symbol.split("-")[0]
    return head.split("_")[1] if "_" in head else head


class RpcQueries:
    """The engine's questions, answered over JSON-RPC (see module docstring)."""

    def __init__(
        self,
        call: Call,
        rules: dict[str, InstrumentRules],
        tracker: OrderTracker,
        *,
        positions_params: dict[str, Any] | None = None,
        all_open_orders: str = "",
        trades_method: str = "public/last_trades_by_instrument",
    ) -> None:
        """``positions_params``: Deribit needs ``{"currency": "any"}``, Pulse none (seed 004: optional).
        ``all_open_orders``: the method listing every open order (Deribit ``private/get_open_orders``);
        empty = ask per instrument (Pulse documents only ``get_open_orders_by_instrument``)."""
        self._call = call
        self.rules = rules
        self.tracker = tracker
        self._positions_params = positions_params or {}
        self._all_open_orders = all_open_orders
        self._trades_method = trades_method  # public trades by time (Deribit: ..._and_time)
        self.currencies: dict[str, list[str]] = {}  # per instrument (``parse.instrument_currencies``)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        return await policy_call(self._call, method, params)

    async def query_order(self, symbol: str, cl_order_id: str) -> ExecutionReport | None:
        known = self.tracker.orders.get(cl_order_id)
        try:
            if known is not None and known.exch_order_id:
                obj = await self.order_state(known.exch_order_id)
            else:
                found = await self._by_label(symbol, cl_order_id)
                if found is None:
                    return None
                obj = found
        except Rejected as exc:
            if exc.code.isdigit() and int(exc.code) in UNKNOWN_ORDER_CODES:
                return None
            raise
        report = parse.parse_order(obj, self.rules.get(symbol), cl_order_id)
        if known is not None and report.exch_order_id and not known.exch_order_id:
            known.exch_order_id = report.exch_order_id
            self.tracker.by_exch_id[report.exch_order_id] = cl_order_id
        if known is None:
            self.tracker.learn(report)
        return report

    async def trades_between(self, symbol: str, start_ms: int, end_ms: int) -> TradeWindow:
        """The public trades of ``symbol`` from ``start_ms`` to ``end_ms`` (``trades_method``, ``sorting: asc``),
        a page of 1000 followed from its last trade's time; incomplete past ``HISTORY_REQUESTS`` requests."""
        out: list[Trade] = []
        seen: set[str] = set()
        start = start_ms
        for _ in range(HISTORY_REQUESTS):
            answer = await self.call(self._trades_method, parse.trades_by_time_params(symbol, start, end_ms))
            page, more = parse.parse_trades_page(answer, self.rules.get(symbol))
            out.extend(t for t in page if t.trade_id not in seen)
            seen.update(t.trade_id for t in page)
            if not more or not page:
                return TradeWindow(out, complete=True)
            start = max(start + 1, page[-1].exch_time_ns // 1_000_000)
        return TradeWindow(out, complete=False)

    async def order_state(self, order_id: str) -> dict[str, Any]:
        """``private/get_order_state``: Deribit answers the order object, Pulse a list holding it (seed 004)."""
        answer = await self.call("private/get_order_state", {"order_id": order_id})
        if isinstance(answer, list):
            mine = [o for o in answer if isinstance(o, dict) and str(o.get("order_id")) == order_id]
            if not mine:
                raise Rejected(f"order {order_id} not in the venue's answer", "10004")
            return mine[0]
        if not isinstance(answer, dict):
            raise OutcomeUnknown(f"get_order_state answered {type(answer).__name__}", "answer")
        return answer

    async def trades_of(self, order_id: str) -> list[dict[str, Any]]:
        """``private/get_user_trades_by_order``: a list of trades (or ``{"trades": [...]}``)."""
        answer = await self.call("private/get_user_trades_by_order", {"order_id": order_id})
        rows = answer.get("trades", []) if isinstance(answer, dict) else answer
        return [t for t in rows if isinstance(t, dict)] if isinstance(rows, list) else []

    async def order_by_label(self, symbol: str, label: str) -> dict[str, Any] | None:
        """The venue's order object of ``symbol`` with ``label`` (the newest), None if it has none."""
        return await self._by_label(symbol, label)

    async def _by_label(self, symbol: str, label: str) -> dict[str, Any] | None:
        """The newest order of ``symbol`` with ``label``, asking under each currency it may belong to."""
        for currency in self.currencies.get(symbol) or [currency_of(symbol)]:
            rows = await self.call("private/get_order_state_by_label", {"currency": currency, "label": label})
            mine: list[dict[str, Any]] = [
                r
                for r in (rows if isinstance(rows, list) else [])
                if isinstance(r, dict) and r.get("instrument_name") == symbol
            ]
            if mine:
                return max(mine, key=lambda r: int(r.get("creation_timestamp", 0) or 0))
        return None

    async def known(self, symbol: str, cl_order_id: str) -> Known:
        """What we know of an order; asks the venue (by label) when this instance did not send it."""
        known = self.tracker.orders.get(cl_order_id)
        if known is not None and known.exch_order_id:
            return known
        report = await self.query_order(symbol, cl_order_id)
        if report is None:
            if known is not None:
                return known  # sent by us, no answer yet
            raise Rejected(f"order {cl_order_id} is unknown to the venue", "10004")
        if known is None:
            known = Known(symbol, report.side, OrderType.LIMIT, qty=report.qty, price=report.price)
        known.exch_order_id = report.exch_order_id
        known.status = report.status
        self.tracker.track(cl_order_id, known)
        return known

    async def order_fills(self, symbol: str, cl_order_id: str) -> list[ExecutionReport]:
        order = await self.query_order(symbol, cl_order_id)
        if order is None:
            return []
        trades = await self.trades_of(order.exch_order_id)
        return parse.fills_of(trades, order, self.rules.get(symbol))

    async def open_orders(self, symbol: str | None = None) -> list[ExecutionReport]:
        if symbol is None and self._all_open_orders:
            rows = await self.call(self._all_open_orders, {})
            return [parse.parse_order(r, self.rules.get(str(r.get("instrument_name")))) for r in rows]
        symbols = [symbol] if symbol is not None else sorted(self.rules)
        out: list[ExecutionReport] = []
        for name in symbols:
            rows = await self.call("private/get_open_orders_by_instrument", {"instrument_name": name})
            out += [parse.parse_order(r, self.rules.get(name)) for r in rows]
        return out

    async def positions(self) -> list[VenuePosition]:
        rows = await self.call("private/get_positions", dict(self._positions_params))
        return parse.parse_positions(list(rows), self.rules)

    async def recover(self) -> None:
        """Report what happened to the orders believed live while the connection was down (or silent):
        fills not seen yet (before the status they lead to), then the status now (cancelled by
        cancel-on-disconnect, filled, amended). The open orders are read in one go (Deribit; Pulse per
        instrument with live orders); an order is asked for on its own only when it is no longer open."""
        live = self.tracker.live()
        if not live:
            return
        open_now: dict[str, dict[str, Any]] = {}
        if self._all_open_orders:
            rows = await self.call(self._all_open_orders, {})
        else:
            rows = []
            for name in sorted({known.symbol for _, known in live}):
                rows += await self.call("private/get_open_orders_by_instrument", {"instrument_name": name})
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict):
                open_now[str(row.get("order_id"))] = row
        for cl, known in live:
            obj = open_now.get(known.exch_order_id)
            if obj is None:
                try:
                    obj = await self.order_state(known.exch_order_id)
                except Rejected as exc:
                    if exc.code not in {str(c) for c in UNKNOWN_ORDER_CODES} or not known.exch_order_id:
                        raise
                    self.tracker.vanished(cl, time.time_ns())
                    continue
            rules = self.rules.get(known.symbol)
            state = parse.parse_order(obj, rules, cl)
            if state.cum_filled > known.cum_filled:
                trades = await self.trades_of(known.exch_order_id)
                for fill in parse.fills_of(trades, state, rules):
                    self.tracker.emit(fill)
            if state.status is not known.status or state.qty != known.qty:
                self.tracker.emit(state)


class QueriesOverRpc:
    """The ``Connector`` queries of a JSON-RPC venue (Deribit, Pulse), answered by its ``queries``."""

    queries: RpcQueries

    async def query_order(self, symbol: str, cl_order_id: str) -> ExecutionReport | None:
        return await self.queries.query_order(symbol, cl_order_id)

    async def order_fills(self, symbol: str, cl_order_id: str) -> list[ExecutionReport]:
        return await self.queries.order_fills(symbol, cl_order_id)

    async def open_orders(self, symbol: str | None = None) -> list[ExecutionReport]:
        return await self.queries.open_orders(symbol)

    async def positions(self) -> list[VenuePosition]:
        return await self.queries.positions()

    async def trades_between(self, symbol: str, start_ms: int, end_ms: int) -> TradeWindow:
        return await self.queries.trades_between(symbol, start_ms, end_ms)
