"""Deribit's JSON-RPC v2 methods and subscription channels over the matching engine (also Pulse's:
seed 004 is a Deribit-style gateway with the same methods, objects and channels).

Amounts follow Deribit: USD for inverse perpetuals (``amount`` = contracts x contract size), the
coin for options and linear instruments; ``contracts`` may be given instead (both must agree).
Numbers are JSON numbers, as the venue sends them. Objects carry the fields Deribit documents for
orders, trades, positions, account summaries, instruments, tickers and books.

Channels: ``user.orders.{instrument|kind.currency}.{interval}`` (one order object per notification
for ``raw``, a list otherwise), ``user.trades.{...}`` (a list of trades), ``user.changes.{...}``
(``{instrument_name, orders, trades, positions}``), ``user.portfolio.{currency}``,
``quote.{instrument}``, ``ticker.{instrument}.{interval}``, ``trades.{instrument}.{interval}``,
``book.{instrument}.{interval}`` (a snapshot, then ``change`` messages with ``prev_change_id``)
and ``book.{instrument}.{group}.{depth}.{interval}`` (snapshots). Book and ticker notifications are
flushed on the front-end's 100 ms timer, whatever the interval; the others as events happen.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ...core import conditional
from ...core.accounts import Account, Position
from ...core.engine import Market
from ...core.instruments import Instrument, Kind
from ...core.types import (
    ZERO,
    AccountEvent,
    BookTop,
    Event,
    ExecType,
    Fill,
    Order,
    OrderEvent,
    OrderStatus,
    OrderType,
    PublicTrade,
    Side,
    TimeInForce,
)
from ..jsonrpc import Conn, JsonRpcServer, Params, RpcError, invalid_params, num
from .linked import LinkedOrders, linked_fields
from .trading import TRIGGER_TYPES, DeribitTrading, NewOrder, order_id_text

PERPETUAL_EXPIRY_MS = 32_503_708_800_000  # Deribit lists perpetuals as expiring in the year 3000
TIF = {
    "good_til_cancelled": TimeInForce.GTC,
    "good_til_day": TimeInForce.GTC,
    "fill_or_kill": TimeInForce.FOK,
    "immediate_or_cancel": TimeInForce.IOC,
}
TIF_NAME = {TimeInForce.IOC: "immediate_or_cancel", TimeInForce.FOK: "fill_or_kill"}
INTERVALS = ("raw", "100ms", "agg2")
STATE = {
    OrderStatus.NEW: "open",
    OrderStatus.PARTIALLY_FILLED: "open",
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELED: "cancelled",
    OrderStatus.EXPIRED: "cancelled",
    OrderStatus.REJECTED: "rejected",
    OrderStatus.UNTRIGGERED: "untriggered",
    OrderStatus.TRIGGERED: "triggered",
}
TRIGGER_KINDS = {  # private/get_open_orders* and cancel_all_by_instrument ``type`` filters of trigger orders
    "trigger_all": set(TRIGGER_TYPES),
    "stop": {"stop_market", "stop_limit"},
    "take": {"take_market", "take_limit"},
    "trailing_stop": {"trailing_stop"},
    **{t: {t} for t in TRIGGER_TYPES},
}
DERIBIT_TYPE_FILTERS = ("all", "limit", "trigger_all", "stop", "take", "trailing_stop", *TRIGGER_TYPES)
PULSE_TYPE_FILTERS = ("all", "limit", "market", "trigger_all", "stop_limit", "stop_market", "take_limit", "take_market")
BOOK_LEVELS = 1000


def option_fields(expiry_ms: int) -> Callable[[Instrument], dict[str, Any]]:
    """The option-only instrument fields, from the name CCY-DMMMYY-STRIKE-C|P and the expiry."""

    def fields(inst: Instrument) -> dict[str, Any]:
        if inst.kind is not Kind.OPTION:
            return {}
        _, _, strike, letter = inst.symbol.split("-")
        return {
            "option_type": "call" if letter == "C" else "put",
            "strike": int(strike),
            "expiration_timestamp": expiry_ms,
            "settlement_period": "month",
        }

    return fields


def kind_name(inst: Instrument) -> str:
    return "option" if inst.kind is Kind.OPTION else "future"


class DeribitRpc:
    """Installs the venue methods and channels on a ``JsonRpcServer`` and feeds its subscriptions."""

    def __init__(
        self,
        server: JsonRpcServer,
        market: Market,
        trading: DeribitTrading,
        instrument_extra: Callable[[Instrument], dict[str, Any]],
    ) -> None:
        self.server = server
        self.market = market
        self.trading = trading
        self.instrument_extra = instrument_extra
        self.exchange = market.exchange
        self.dialect = server.dialect
        private_instruments = server.dialect.private_instruments
        self._last_trade_px: dict[str, Decimal] = {}
        self._book_state: dict[tuple[int, str], tuple[int, dict[str, dict[Decimal, Decimal]]]] = {}
        self._ticker_sent: dict[tuple[int, str], tuple[Any, ...]] = {}
        self._change_id = 0
        # Venue figures merged into every ticker (24 h stats, open interest, funding: marketdata.py)
        self.ticker_extra: Callable[[Instrument], dict[str, Any]] | None = None
        self.linked = LinkedOrders(market, trading) if server.dialect.linked_orders else None
        server.channel_checker = self._channel_ok
        server.on_subscribe = self._on_subscribe
        server.on_close = self._on_close
        m = server.method
        m(
            "private/get_instruments" if private_instruments else "public/get_instruments",
            self._get_instruments,
            private=private_instruments,
        )
        m("public/get_instrument", self._get_instrument)
        m("public/get_currencies", self._get_currencies)
        m("public/ticker", self._ticker)
        m("public/get_order_book", self._get_order_book)
        m("private/get_order_book", self._get_order_book, private=True)
        m("public/get_last_trades_by_instrument", self._last_trades)
        m("public/last_trades_by_instrument", self._last_trades)
        m("public/get_last_trades_by_instrument_and_time", self._last_trades_by_time)
        m("public/get_index_price", self._index_price)
        m("private/buy", self._order(Side.BUY), private=True)
        m("private/sell", self._order(Side.SELL), private=True)
        m("private/edit", self._edit, private=True)
        m("private/cancel", self._cancel, private=True)
        m("private/cancel_all", self._cancel_all, private=True)
        m("private/cancel_all_by_instrument", self._cancel_all_by_instrument, private=True)
        m("private/cancel_all_by_currency", self._cancel_all_by_currency, private=True)
        m("private/cancel_by_label", self._cancel_by_label, private=True)
        m("private/get_open_orders_by_instrument", self._open_by_instrument, private=True)
        m("private/get_open_orders_by_currency", self._open_by_currency, private=True)
        m("private/get_open_orders", self._open_by_currency, private=True)
        m("private/get_order_state", self._order_state, private=True)
        m("private/get_order_state_by_label", self._order_state_by_label, private=True)
        m("private/get_order_history_by_instrument", self._history_by_instrument, private=True)
        m("private/get_user_trades_by_instrument", self._trades_by_instrument, private=True)
        m("private/get_user_trades_by_order", self._trades_by_order, private=True)
        m("private/get_positions", self._positions, private=True)
        m("private/get_position", self._position, private=True)
        m("private/get_account_summary", self._account_summary, private=True)
        m("private/get_account_summaries", self._account_summaries, private=True)
        self.exchange.subscribe(self._on_event)

    # ------------------------------------------------------------------ helpers

    def inst(self, name: str | None) -> Instrument:
        inst = self.market.instruments.get(name or "")
        if inst is None:
            raise invalid_params("instrument_name", "instrument not found")
        return inst

    def currencies(self) -> list[str]:
        return sorted(
            {i.base for i in self.market.instruments.values()}
            | {i.margin_asset for i in self.market.instruments.values()}
        )

    def amount(self, inst: Instrument, qty: Decimal) -> Decimal:
        return qty * inst.contract_size if inst.kind is Kind.INVERSE else qty

    def qty_from(self, inst: Instrument, p: Params, required: bool = True) -> Decimal | None:
        amount, contracts = p.decimal("amount"), p.decimal("contracts")
        if amount is None and contracts is None:
            if required:
                raise invalid_params("amount", "must be present")
            return None
        qty_a = None
        if amount is not None:
            if amount <= 0:
                raise RpcError(10021, "invalid_amount")
            qty_a = amount / inst.contract_size if inst.kind is Kind.INVERSE else amount
            if inst.kind is Kind.INVERSE and qty_a != qty_a.to_integral_value():
                raise RpcError(10027, "non_integer_contract_amount")
        if contracts is not None:
            if contracts <= 0:
                raise RpcError(10021, "invalid_amount")
            if qty_a is not None and contracts != qty_a:
                raise invalid_params("contracts", "must match amount")
            return contracts
        return qty_a

    def order_json(self, o: Order) -> dict[str, Any]:
        inst = self.market.instruments[o.symbol]
        tif = TIF_NAME.get(o.tif, "good_til_day" if o.extra.get("good_til_day") else "good_til_cancelled")
        out: dict[str, Any] = {
            "order_id": order_id_text(o),
            "instrument_name": o.symbol,
            "direction": "buy" if o.side is Side.BUY else "sell",
            "order_type": o.extra.get("order_type") or ("limit" if o.type is OrderType.LIMIT else "market"),
            "order_state": self._state(o.status),
            "price": num(o.price) if o.price is not None else "market_price",
            "amount": num(self.amount(inst, o.qty)),
            "contracts": num(o.qty),
            "filled_amount": num(self.amount(inst, o.filled)),
            "average_price": num(o.avg_price),
            "label": o.extra.get("label", ""),
            "time_in_force": tif,
            "post_only": bool(o.extra.get("post_only")),
            "reject_post_only": bool(o.extra.get("reject_post_only")),
            "reduce_only": o.reduce_only,
            "max_show": num(self.amount(inst, o.qty)),
            "creation_timestamp": o.created_ms,
            "last_update_timestamp": o.updated_ms,
            "api": True,
            "web": False,
            "replaced": bool(o.extra.get("replaced")),
            "is_liquidation": False,
            "is_rebalance": False,
            "risk_reducing": False,
            "mmp": bool(o.extra.get("mmp")),
        }
        if o.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED):
            reason = o.extra.get("cancel_reason")
            if reason is None:
                reason = "settlement" if o.expire_reason == "DAY" else "user_request"
            out["cancel_reason"] = reason
        if inst.kind is not Kind.OPTION and o.filled:
            out["profit_loss"] = 0
        if self.linked is not None:
            out.update(linked_fields(o))
        trigger = o.trigger
        if trigger is not None and not o.extra.get("linked_plain"):  # a linked limit / market order has none
            out["trigger"] = o.extra.get("trigger", "")
            out["trigger_price"] = num(trigger.price) if trigger.price is not None else None
            if self.dialect.triggered_state:  # Deribit's; Pulse's order model has none of these
                out["triggered"] = bool(trigger.fired_ms)
                if trigger.offset is not None:
                    out["trigger_offset"] = num(trigger.offset)
                out["stop_price"] = out["trigger_price"]
        return out

    def _state(self, status: OrderStatus) -> str:
        """``order_state``; Pulse has no ``triggered`` state (seed 004): a fired trigger order is ``open``."""
        if status is OrderStatus.TRIGGERED and not self.dialect.triggered_state:
            return "open"
        return STATE[status]

    def trade_json(self, f: Fill, o: Order) -> dict[str, Any]:
        inst = self.market.instruments[f.symbol]
        return {
            "trade_id": str(f.trade_id),
            "trade_seq": f.trade_id,
            "order_id": order_id_text(o),
            "order_type": "limit" if o.type is OrderType.LIMIT else "market",
            "instrument_name": f.symbol,
            "direction": "buy" if f.side is Side.BUY else "sell",
            "price": num(f.price),
            "amount": num(self.amount(inst, f.qty)),
            "contracts": num(f.qty),
            "fee": num(f.fee),
            "fee_currency": f.fee_asset,
            "liquidity": "M" if f.is_maker else "T",
            "timestamp": f.time_ms,
            "state": STATE[o.status],
            "label": o.extra.get("label", ""),
            "post_only": bool(o.extra.get("post_only")),
            "reduce_only": o.reduce_only,
            "index_price": num(self.market.mark_price(f.symbol)),
            "mark_price": num(self.market.mark_price(f.symbol)),
            "tick_direction": 0,
            "matching_id": None,
            "api": True,
            "mmp": bool(o.extra.get("mmp")),
            "self_trade": False,
            "risk_reducing": False,
            "profit_loss": num(f.realized_pnl),
        }

    def position_json(self, inst: Instrument, pos: Position, account: Account) -> dict[str, Any]:
        mark = self.market.mark_price(inst.symbol)
        size = self.amount(inst, pos.qty)
        upl = pos.unrealized(inst, mark)
        wallet = account.wallet(self.market.name)
        order_margin = sum((o.locked for o in self.market.open_orders(account, inst.symbol)), ZERO)
        initial = pos.initial_margin(inst, mark)
        out = {
            "instrument_name": inst.symbol,
            "kind": kind_name(inst),
            "direction": "buy" if pos.qty > 0 else "sell" if pos.qty < 0 else "zero",
            "size": num(size),
            "average_price": num(pos.entry_price),
            "mark_price": num(mark),
            "index_price": num(mark),
            "floating_profit_loss": num(upl),
            "realized_profit_loss": num(pos.realized_pnl),
            "total_profit_loss": num(upl + pos.realized_pnl),
            "initial_margin": num(initial),
            "maintenance_margin": num(initial / 2),
            "open_orders_margin": num(order_margin),
            "leverage": wallet.leverage.get(inst.symbol, pos.leverage),
            "delta": num(size / mark if inst.kind is Kind.INVERSE and mark else pos.qty),
            "settlement_price": num(mark),
            "interest_value": 0,
            "realized_funding": 0,
            "estimated_liquidation_price": None,
        }
        if inst.kind is Kind.INVERSE:
            out["size_currency"] = num(size / mark if mark else ZERO)
        return out

    def summary_json(self, account: Account, currency: str) -> dict[str, Any]:
        wallet = account.wallet(self.market.name)
        balance = wallet.balance(currency).free
        upl = ZERO
        pos_margin = ZERO
        rpl = ZERO
        for sym, pos in wallet.positions.items():
            inst = self.market.instruments.get(sym)
            if inst is None or inst.margin_asset != currency:
                continue
            mark = self.market.mark_price(sym)
            upl += pos.unrealized(inst, mark)
            pos_margin += pos.initial_margin(inst, mark)
            rpl += pos.realized_pnl
        order_margin = wallet.order_margin.get(currency, ZERO)
        equity = balance + upl
        available = self.market.available_margin(wallet, currency)
        return {
            "currency": currency,
            "balance": num(balance),
            "equity": num(equity),
            "margin_balance": num(equity),
            "available_funds": num(available),
            "available_withdrawal_funds": num(max(ZERO, min(available, balance))),
            "initial_margin": num(pos_margin + order_margin),
            "maintenance_margin": num(pos_margin / 2),
            "projected_initial_margin": num(pos_margin + order_margin),
            "projected_maintenance_margin": num(pos_margin / 2),
            "session_upl": num(upl),
            "session_rpl": num(rpl),
            "total_pl": num(upl + rpl),
            "futures_pl": num(upl + rpl),
            "options_pl": 0,
            "futures_session_upl": num(upl),
            "futures_session_rpl": num(rpl),
            "options_session_upl": 0,
            "options_session_rpl": 0,
            "delta_total": 0,
            "fee_balance": 0,
            "portfolio_margining_enabled": False,
            "cross_collateral_enabled": False,
            "margin_model": "segregated_sm",
            "limits": self.server.credits.summary(),
            "id": account.account_id,
            "creation_timestamp": 0,
        }

    def instrument_json(self, inst: Instrument) -> dict[str, Any]:
        min_amount = self.amount(inst, inst.min_qty)
        out: dict[str, Any] = {
            "instrument_name": inst.symbol,
            "instrument_id": zlib.crc32(inst.symbol.encode()) % 1_000_000,  # stable across runs
            "kind": kind_name(inst),
            "base_currency": inst.base,
            "counter_currency": "USD",
            "quote_currency": inst.quote,
            "settlement_currency": inst.margin_asset,
            "price_index": f"{inst.base.lower()}_usd",
            "tick_size": num(inst.tick),
            "min_trade_amount": num(min_amount),
            "contract_size": num(inst.contract_size if inst.kind is Kind.INVERSE else Decimal(1)),
            "maker_commission": num(inst.maker_fee),
            "taker_commission": num(inst.taker_fee),
            "is_active": True,
            "creation_timestamp": 1_534_167_754_000,
            "rfq": False,
            "block_trade_commission": num(inst.taker_fee),
            "block_trade_min_trade_amount": num(min_amount * 25),
            "block_trade_tick_size": num(inst.tick),
        }
        if inst.kind is not Kind.OPTION:
            out.update(
                settlement_period="perpetual",
                expiration_timestamp=PERPETUAL_EXPIRY_MS,
                max_leverage=50,
                future_type="reversed" if inst.kind is Kind.INVERSE else "linear",
                instrument_type="reversed" if inst.kind is Kind.INVERSE else "linear",
                max_liquidation_commission=0.0075,
            )
        out.update(self.instrument_extra(inst))
        return out

    def ticker_json(self, inst: Instrument) -> dict[str, Any]:
        book = self.market.books[inst.symbol]
        bid, bid_qty, ask, ask_qty = book.top()
        mark = self.market.mark_price(inst.symbol)
        last = self.market.last_price.get(inst.symbol)
        out = {
            "instrument_name": inst.symbol,
            "timestamp": self.exchange.now_ms(),
            "state": "open",
            "best_bid_price": num(bid) if bid is not None else None,
            "best_bid_amount": num(self.amount(inst, bid_qty)),
            "best_ask_price": num(ask) if ask is not None else None,
            "best_ask_amount": num(self.amount(inst, ask_qty)),
            "last_price": num(last) if last is not None else None,
            "mark_price": num(mark),
            "index_price": num(mark),
            "settlement_price": num(mark),
            "estimated_delivery_price": num(mark),
            "min_price": num(inst.round_price(mark * inst.percent_down)),
            "max_price": num(inst.round_price(mark * inst.percent_up)),
            "open_interest": 0,
            "current_funding": 0,
            "funding_8h": 0,
            "interest_value": 0,
            "stats": {"volume": None, "price_change": None, "low": None, "high": None},
        }
        if self.ticker_extra is not None:
            out.update(self.ticker_extra(inst))
        return out

    def quote_json(self, inst: Instrument, top: tuple[Decimal | None, Decimal, Decimal | None, Decimal]) -> Any:
        bid, bid_qty, ask, ask_qty = top
        return {
            "timestamp": self.exchange.now_ms(),
            "instrument_name": inst.symbol,
            "best_bid_price": num(bid) if bid is not None else None,
            "best_bid_amount": num(self.amount(inst, bid_qty)),
            "best_ask_price": num(ask) if ask is not None else None,
            "best_ask_amount": num(self.amount(inst, ask_qty)),
        }

    def _fills_of(self, account: Account, order: Order) -> list[dict[str, Any]]:
        return [
            self.trade_json(f, order)
            for f in self.market.account_trades(account, order.symbol)
            if f.order_id == order.order_id
        ]

    # ------------------------------------------------------------------ public methods

    def _get_instruments(self, conn: Conn, account: Account | None, p: Params) -> Any:
        currency = p.text("currency", "any")
        kind = p.text("kind")
        if p.flag("expired"):
            return []
        out = []
        for inst in self.market.instruments.values():
            if currency not in ("any", inst.base, inst.margin_asset):
                continue
            if kind is not None and kind != kind_name(inst):
                continue
            out.append(self.instrument_json(inst))
        return out

    def _get_instrument(self, conn: Conn, account: Account | None, p: Params) -> Any:
        return self.instrument_json(self.inst(p.req_str("instrument_name")))

    def _get_currencies(self, conn: Conn, account: Account | None, p: Params) -> Any:
        names = {"BTC": "Bitcoin", "ETH": "Ethereum", "USD": "US Dollar"}
        return [
            {
                "currency": c,
                "currency_long": names.get(c, c),
                "coin_type": "BITCOIN" if c == "BTC" else c,
                "min_confirmations": 1,
                "min_withdrawal_fee": 0.0001,
                "withdrawal_fee": 0.0001,
                "fee_precision": 4,
                "withdrawal_priorities": [],
            }
            for c in self.currencies()
        ]

    def _ticker(self, conn: Conn, account: Account | None, p: Params) -> Any:
        return self.ticker_json(self.inst(p.req_str("instrument_name")))

    def _get_order_book(self, conn: Conn, account: Account | None, p: Params) -> Any:
        inst = self.inst(p.req_str("instrument_name"))
        depth = p.integer("depth", 20) or 20
        bids, asks = self.market.books[inst.symbol].depth(depth)
        out = self.ticker_json(inst)
        out.update(
            bids=[[num(px), num(self.amount(inst, q))] for px, q in bids],
            asks=[[num(px), num(self.amount(inst, q))] for px, q in asks],
            change_id=self.market.books[inst.symbol].update_id,
        )
        return out

    def _last_trades(self, conn: Conn, account: Account | None, p: Params) -> Any:
        """``public/get_last_trades_by_instrument`` (Pulse: ``public/last_trades_by_instrument``, seed 004, with
        ``start_timestamp`` / ``end_timestamp`` / ``sorting``): the newest ``count`` (<= 1000) trades within
        the optional time range, newest first unless ``sorting`` is ``asc`` (then the oldest ``count``)."""
        return self._trades_in(p, p.integer("start_timestamp"), p.integer("end_timestamp"))

    def _last_trades_by_time(self, conn: Conn, account: Account | None, p: Params) -> Any:
        """Deribit ``public/get_last_trades_by_instrument_and_time``: ``start_timestamp`` and ``end_timestamp``
        (ms, both required), ``count`` (default 10, max 1000), ``sorting``; ``{"trades", "has_more"}``."""
        return self._trades_in(
            p, p.integer("start_timestamp", required=True), p.integer("end_timestamp", required=True)
        )

    def _trades_in(self, p: Params, start: int | None, end: int | None) -> Any:
        inst = self.inst(p.req_str("instrument_name"))
        count = p.integer("count", 10) or 10
        if not 1 <= count <= 1000:
            raise invalid_params("count", "must be between 1 and 1000")
        sorting = p.text("sorting", "default")
        if sorting not in ("asc", "desc", "default"):
            raise invalid_params("sorting", "must be asc, desc or default")
        rows = [
            t
            for t in self.market.public_trades[inst.symbol]
            if (start is None or t.time_ms >= start) and (end is None or t.time_ms <= end)
        ]
        chosen = rows[:count] if sorting == "asc" else list(reversed(rows[-count:]))
        out = [self.public_trade_json(inst, t) for t in chosen]
        return out if self.dialect.lists_not_pages else {"trades": out, "has_more": len(rows) > count}

    def _index_price(self, conn: Conn, account: Account | None, p: Params) -> Any:
        index = p.req_str("index_name")
        for inst in self.market.instruments.values():
            if f"{inst.base.lower()}_usd" == index and inst.kind is not Kind.OPTION:
                mark = self.market.mark_price(inst.symbol)
                if self.dialect.index_price_as_number:
                    return num(mark)
                return {"index_price": num(mark), "estimated_delivery_price": num(mark)}
        raise invalid_params("index_name", "unknown index")

    def public_trade_json(self, inst: Instrument, t: PublicTrade) -> dict[str, Any]:
        prev = self._last_trade_px.get(inst.symbol)
        tick = 0 if prev is None or t.price > prev else 2 if t.price < prev else 1
        return {
            "trade_id": str(t.trade_id),
            "trade_seq": t.trade_id,
            "instrument_name": inst.symbol,
            "timestamp": t.time_ms,
            "direction": "buy" if t.taker_side is Side.BUY else "sell",
            "price": num(t.price),
            "amount": num(self.amount(inst, t.qty)),
            "contracts": num(t.qty),
            "tick_direction": tick,
            "index_price": num(self.market.mark_price(inst.symbol)),
            "mark_price": num(self.market.mark_price(inst.symbol)),
        }

    # ------------------------------------------------------------------ trading

    def _order(self, side: Side) -> Callable[[Conn, Account | None, Params], Any]:
        def handler(conn: Conn, account: Account | None, p: Params) -> Any:
            assert account is not None
            inst = self.inst(p.req_str("instrument_name"))
            qty = self.qty_from(inst, p)
            assert qty is not None
            type_name = p.text("type", "limit") or "limit"
            if type_name not in ("limit", "market") and type_name not in TRIGGER_TYPES:
                raise invalid_params("type", f"{type_name} orders are not supported by the simulator")
            if type_name == "trailing_stop" and not self.dialect.trailing_stop:
                raise invalid_params("type", "trailing_stop is not an order type of this venue")
            trigger = p.text("trigger", "") or ""
            if type_name in TRIGGER_TYPES and trigger not in self.dialect.trigger_refs:
                refs = " or ".join(self.dialect.trigger_refs)
                raise invalid_params("trigger", f"{refs} is required for trigger orders")
            order_type = TRIGGER_TYPES[type_name][0] if type_name in TRIGGER_TYPES else OrderType(type_name.upper())
            tif_name = p.text("time_in_force", "good_til_cancelled")
            if tif_name not in TIF:
                raise invalid_params("time_in_force", "unknown value")
            label = p.text("label", "") or ""
            if len(label) > 64:
                raise invalid_params("label", "at most 64 characters")
            req = NewOrder(
                symbol=inst.symbol,
                side=side,
                qty=qty,
                type=order_type,
                price=p.decimal("price") if order_type is OrderType.LIMIT else None,
                tif=TIF[tif_name],
                good_til_day=tif_name == "good_til_day",
                post_only=p.flag("post_only"),
                reject_post_only=p.flag("reject_post_only"),
                reduce_only=p.flag("reduce_only"),
                label=label,
                connection=conn.conn_id if conn.ws is not None else 0,
                trigger_type=type_name if type_name in TRIGGER_TYPES else "",
                trigger=trigger,
                trigger_price=p.decimal("trigger_price"),
                trigger_offset=p.decimal("trigger_offset"),
                mmp=p.flag("mmp"),
            )
            if self.linked is not None and "linked_order_type" in p:
                kind = p.req_str("linked_order_type")
                condition = p.text("trigger_fill_condition", "first_hit") or "first_hit"
                secondaries = self._otoco_config(inst, p)
                order = self.linked.place(account, req, kind, condition, secondaries)
            else:
                order = self.trading.place(account, req)
            return {"order": self.order_json(order), "trades": self._fills_of(account, order)}

        return handler

    def _otoco_config(self, inst: Instrument, p: Params) -> list[NewOrder]:
        """``otoco_config`` (seed 004 models.OtocoConfig): the secondary orders of a linked order, on the
        primary's instrument; a bad entry is ``invalid_params`` naming ``otoco_config[i].field``."""
        rows = p.raw.get("otoco_config")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise invalid_params("otoco_config", "must be a list of orders")
        out: list[NewOrder] = []
        for i, row in enumerate(rows):
            name = f"otoco_config[{i}]"
            c = Params(row)
            direction = c.text("direction")
            if direction not in ("buy", "sell"):
                raise invalid_params(f"{name}.direction", "buy or sell")
            type_name = c.text("type", "limit") or "limit"
            if type_name not in ("limit", "market") and type_name not in self._trigger_types():
                raise invalid_params(
                    f"{name}.type", "limit, market, stop_limit, stop_market, take_limit or take_market"
                )
            order_type = TRIGGER_TYPES[type_name][0] if type_name in TRIGGER_TYPES else OrderType(type_name.upper())
            tif_name = c.text("time_in_force", "good_til_cancelled") or "good_til_cancelled"
            if tif_name not in TIF:
                raise invalid_params(f"{name}.time_in_force", "unknown value")
            price = c.decimal("price") if order_type is OrderType.LIMIT else None
            if order_type is OrderType.LIMIT and (price is None or price <= 0):
                raise invalid_params(f"{name}.price", "must be present for limit orders")
            trigger = c.text("trigger", "") or ""
            trigger_price = c.decimal("trigger_price")
            if type_name in TRIGGER_TYPES:
                if trigger not in self.dialect.trigger_refs:
                    raise invalid_params(f"{name}.trigger", " or ".join(self.dialect.trigger_refs) + " is required")
                if trigger_price is None or trigger_price <= 0:
                    raise invalid_params(f"{name}.trigger_price", "must be present and positive for trigger orders")
            try:
                qty = self.qty_from(inst, c)
            except RpcError as e:
                raise invalid_params(f"{name}.amount", e.message) from None
            assert qty is not None
            out.append(
                NewOrder(
                    symbol=inst.symbol,
                    side=Side.BUY if direction == "buy" else Side.SELL,
                    qty=qty,
                    type=order_type,
                    price=price,
                    tif=TIF[tif_name],
                    trigger_type=type_name if type_name in TRIGGER_TYPES else "",
                    trigger=trigger,
                    trigger_price=trigger_price,
                )
            )
        return out

    def _trigger_types(self) -> tuple[str, ...]:
        return tuple(t for t in TRIGGER_TYPES if t != "trailing_stop" or self.dialect.trailing_stop)

    def _edit(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        order = self.trading.order_by_id(account, p.req_str("order_id"))
        inst = self.market.instruments[order.symbol]
        qty = self.qty_from(inst, p, required=False)
        before = {f.trade_id for f in self.market.account_trades(account, order.symbol) if f.order_id == order.order_id}
        post_only = p.flag("post_only") if "post_only" in p else None
        reject = p.flag("reject_post_only") if "reject_post_only" in p else None
        if "mmp" in p:  # absent: unchanged
            if p.flag("mmp"):
                self.trading.mmp_check(account, order.symbol, order.type)
            order.extra["mmp"] = p.flag("mmp")
        order.extra["replaced"] = True
        self.trading.edit(
            account,
            order,
            qty,
            p.decimal("price"),
            post_only,
            reject,
            p.decimal("trigger_price"),
            p.decimal("trigger_offset"),
        )
        trades = [t for t in self._fills_of(account, order) if int(t["trade_id"]) not in before]
        return {"order": self.order_json(order), "trades": trades}

    def _cancel(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        order = self.trading.order_by_id(account, p.req_str("order_id"))
        order.extra["cancel_reason"] = "user_request"
        return self.order_json(self.trading.cancel(account, order))

    def _cancel_result(self, account: Account, orders: list[Order], p: Params) -> Any:
        for o in orders:
            o.extra["cancel_reason"] = "user_request"
        done = self.trading.cancel_many(account, orders)
        if self.dialect.cancel_all_returns_orders:
            return [self.order_json(o) for o in done]
        if p.flag("detailed"):
            return [
                {
                    "instrument_name": o.symbol,
                    "currency": self.market.instruments[o.symbol].base,
                    "result": [self.order_json(o)],
                    "type": "limit",
                }
                for o in done
            ]
        return len(done)

    def _type_filter(self, p: Params) -> None:
        kind = p.text("type", "all")
        # Pulse's filters (seed 004 types.Type) are its order types and trigger_all; Deribit also has stop,
        # take and trailing_stop
        kinds = PULSE_TYPE_FILTERS if not self.dialect.trailing_stop else DERIBIT_TYPE_FILTERS
        if kind not in kinds:
            raise invalid_params("type", "unknown order type filter")

    def _listed(self, account: Account, p: Params, symbol: str | None = None) -> list[Order]:
        """The account's open orders and untriggered trigger orders that ``type`` selects (``all``: both,
        ``limit``: open ones, a trigger kind: untriggered orders of that kind)."""
        self._type_filter(p)
        kind = p.text("type", "all")
        orders: list[Order] = []
        if kind in ("all", "limit"):
            orders += self.market.open_orders(account, symbol)
        if kind not in ("limit", "market"):  # Pulse's market: no market order rests
            kinds = TRIGGER_KINDS.get(kind or "trigger_all", TRIGGER_KINDS["trigger_all"])
            orders += [
                o for o in conditional.armed_orders(self.market, account, symbol) if o.extra.get("order_type") in kinds
            ]
        return orders

    def _cancel_all(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        return self._cancel_result(
            account, [*self.market.open_orders(account), *conditional.armed_orders(self.market, account)], p
        )

    def _cancel_all_by_instrument(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        inst = self.inst(p.req_str("instrument_name"))
        return self._cancel_result(account, self._listed(account, p, inst.symbol), p)

    def _cancel_all_by_currency(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        currency = p.req_str("currency")
        kind = p.text("kind", "any")
        orders = [
            o
            for o in self.market.open_orders(account)
            if self.market.instruments[o.symbol].base == currency
            and kind in ("any", kind_name(self.market.instruments[o.symbol]))
        ]
        return self._cancel_result(account, orders, p)

    def _cancel_by_label(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        label = p.req_str("label")
        return self._cancel_result(account, self.trading.open_by(account, "label", label), p)

    def _open_by_instrument(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        inst = self.inst(p.req_str("instrument_name"))
        return [self.order_json(o) for o in self._listed(account, p, inst.symbol)]

    def _open_by_currency(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        currency = p.text("currency", "any")
        kind = p.text("kind", "any")
        return [
            self.order_json(o)
            for o in self._listed(account, p)
            if currency in ("any", self.market.instruments[o.symbol].base)
            and kind in ("any", kind_name(self.market.instruments[o.symbol]))
        ]

    def _order_state(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        order = self.order_json(self.trading.order_by_id(account, p.req_str("order_id")))
        return [order] if self.dialect.lists_not_pages else order

    def _order_state_by_label(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        label = p.req_str("label")
        currency = p.text("currency")
        return [
            self.order_json(o)
            for o in self.market.account_orders(account)
            if o.extra.get("label") == label and currency in (None, self.market.instruments[o.symbol].base)
        ]

    def _history_by_instrument(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        inst = self.inst(p.req_str("instrument_name"))
        count = p.integer("count", 20) or 20
        closed = [
            o
            for o in self.market.account_orders(account, inst.symbol)
            if not o.is_open and o.status is not OrderStatus.UNTRIGGERED
        ]
        closed.sort(key=lambda o: o.updated_ms, reverse=True)
        return [self.order_json(o) for o in closed[:count]]

    def _trades_by_instrument(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        inst = self.inst(p.req_str("instrument_name"))
        count = p.integer("count", 10) or 10
        fills = self.market.account_trades(account, inst.symbol)
        if p.text("sorting", "desc") != "asc":
            fills = list(reversed(fills))
        trades = [
            self.trade_json(f, self.market.orders[f.order_id])
            for f in fills[:count]
            if f.order_id in self.market.orders
        ]
        return trades if self.dialect.lists_not_pages else {"trades": trades, "has_more": len(fills) > count}

    def _trades_by_order(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        return self._fills_of(account, self.trading.order_by_id(account, p.req_str("order_id")))

    def _positions(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        currency = p.text("currency", "any")
        kind = p.text("kind", "any")
        wallet = account.wallet(self.market.name)
        out = []
        for sym, pos in wallet.positions.items():
            inst = self.market.instruments.get(sym)
            if inst is None or not pos.qty:
                continue
            if currency not in ("any", inst.base, inst.margin_asset) or kind not in ("any", kind_name(inst)):
                continue
            out.append(self.position_json(inst, pos, account))
        return out

    def _position(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        inst = self.inst(p.req_str("instrument_name"))
        return self.position_json(inst, account.wallet(self.market.name).position(inst.symbol), account)

    def _account_summary(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        currency = p.req_str("currency")
        if currency not in self.currencies():
            raise invalid_params("currency", "unknown currency")
        return self.summary_json(account, currency)

    def _account_summaries(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        return {
            "id": account.account_id,
            "username": account.account_id,
            "system_name": account.account_id,
            "type": "main",
            "email": "",
            "summaries": [
                self.summary_json(account, c) for c in self.currencies() if c != "USD" or self.market.name != "deribit"
            ],
        }

    # ------------------------------------------------------------------ channels

    def _channel_ok(self, channel: str, private: bool) -> bool:
        parts = channel.split(".")
        head = parts[0]
        if head == "user":
            if not private or len(parts) < 3:
                return False
            if parts[1] == "portfolio":
                return len(parts) == 3 and parts[2].upper() in ([*self.currencies(), "ANY"])
            if parts[1] == "mmp_trigger":  # mmp.py
                indexes = {f"{i.base.lower()}_usd" for i in self.market.instruments.values()}
                return len(parts) == 3 and parts[2] in indexes
            if parts[1] not in ("orders", "trades", "changes") or parts[-1] not in INTERVALS:
                return False
            return self._selector_ok(parts[2:-1])
        if head == "quote":
            return len(parts) == 2 and parts[1] in self.market.instruments
        if head in ("ticker", "trades"):
            if head == "trades" and len(parts) == 4:
                return self._selector_ok(parts[1:3]) and parts[3] in INTERVALS
            return len(parts) == 3 and parts[1] in self.market.instruments and parts[2] in INTERVALS
        if head == "book":
            if parts[1:2] and parts[1] not in self.market.instruments:
                return False
            if len(parts) == 3:
                return parts[2] in INTERVALS
            return len(parts) == 5 and parts[3] in ("1", "10", "20") and parts[4] in INTERVALS
        return False

    def _selector_ok(self, sel: list[str]) -> bool:
        if len(sel) == 1:
            return sel[0] in self.market.instruments
        if len(sel) == 2:
            return sel[0] in ("any", "future", "option", "perpetual") and (
                sel[1] == "any" or sel[1] in self.currencies()
            )
        return False

    def _selectors(self, inst: Instrument) -> list[str]:
        kinds = ["any", kind_name(inst)] + (["perpetual"] if inst.kind is not Kind.OPTION else [])
        return [inst.symbol] + [f"{k}.{c}" for k in kinds for c in ("any", inst.base)]

    def _on_subscribe(self, conn: Conn, channel: str) -> None:
        parts = channel.split(".")
        if parts[0] == "quote":
            inst = self.market.instruments[parts[1]]
            conn.notify(channel, self.quote_json(inst, self.market.books[inst.symbol].top()))
        elif parts[0] == "ticker":
            self._ticker_sent.pop((conn.conn_id, channel), None)
            self._flush_ticker(conn, channel)
        elif parts[0] == "book":
            self._book_state.pop((conn.conn_id, channel), None)
            self._flush_book(conn, channel)
        elif parts[0] == "user" and parts[1] == "portfolio" and conn.account is not None:
            currency = parts[2].upper()
            if currency != "ANY":
                conn.notify(channel, self.summary_json(conn.account, currency))

    def _on_close(self, conn: Conn) -> None:
        for key in [k for k in self._book_state if k[0] == conn.conn_id]:
            del self._book_state[key]
        for key in [k for k in self._ticker_sent if k[0] == conn.conn_id]:
            del self._ticker_sent[key]
        account = conn.account
        if conn.cancel_on_disconnect and not conn.graceful and account is not None:
            orders = [o for o in self.market.open_orders(account) if o.extra.get("connection") == conn.conn_id]
            for o in orders:
                o.extra["cancel_reason"] = "cancel_on_disconnect"
            self.trading.cancel_many(account, orders)

    def _on_event(self, ev: Event) -> None:
        if ev.market != self.market.name or not self.server.conns:
            return
        if isinstance(ev, OrderEvent):
            self._on_order(ev)
        elif isinstance(ev, BookTop):
            inst = self.market.instruments[ev.symbol]
            self.server.publish([f"quote.{ev.symbol}"], self.quote_json(inst, (ev.bid, ev.bid_qty, ev.ask, ev.ask_qty)))
        elif isinstance(ev, PublicTrade):
            inst = self.market.instruments[ev.symbol]
            data = [self.public_trade_json(inst, ev)]
            self._last_trade_px[ev.symbol] = ev.price
            channels = [f"trades.{ev.symbol}.{i}" for i in INTERVALS]
            channels += [f"trades.{s}.{i}" for s in self._selectors(inst)[1:] for i in INTERVALS]
            self.server.publish(channels, data)
        elif isinstance(ev, AccountEvent):
            account = self.exchange.accounts.get(ev.account_id)
            if account is None:
                return
            for currency in ev.assets:
                channels = [f"user.portfolio.{currency}", f"user.portfolio.{currency.lower()}"]
                self.server.publish(channels, self.summary_json(account, currency), ev.account_id)

    def _watched(self, account: Account) -> bool:
        """Whether a connection of the account subscribes to any private (``user.``) channel: an order
        entry connection alone subscribes to nothing, and no notification is built for nobody."""
        aid = account.account_id
        return any(
            c.account is not None
            and c.account.account_id == aid
            and any(ch.startswith("user.") for ch in c.subscriptions)
            for c in self.server.conns
        )

    def _on_order(self, ev: OrderEvent) -> None:
        order = ev.order
        account = self.exchange.accounts[order.account_id]
        if account.is_background or not self._watched(account):
            return
        inst = self.market.instruments[order.symbol]
        sels = self._selectors(inst)
        order_data = self.order_json(order)
        for interval in INTERVALS:
            data: Any = order_data if interval == "raw" else [order_data]
            self.server.publish([f"user.orders.{s}.{interval}" for s in sels], data, order.account_id)
        trades: list[dict[str, Any]] = []
        if ev.exec_type is ExecType.TRADE and ev.fill is not None:
            trades = [self.trade_json(ev.fill, order)]
            note: Any = trades if self.dialect.trade_notifications_as_list else trades[0]
            self.server.publish([f"user.trades.{s}.{i}" for s in sels for i in INTERVALS], note, order.account_id)
        change: dict[str, Any] = {
            "instrument_name": order.symbol,
            "orders": [order_data],
            "trades": trades,
            "positions": [],
        }
        if trades:
            pos = account.wallet(self.market.name).position(order.symbol)
            change["positions"] = [self.position_json(inst, pos, account)]
        self.server.publish([f"user.changes.{s}.{i}" for s in sels for i in INTERVALS], change, order.account_id)

    # ------------------------------------------------------------------ timer (book / ticker)

    def tick(self) -> None:
        for conn in list(self.server.conns):
            for channel in list(conn.subscriptions):
                if channel.startswith("book."):
                    self._flush_book(conn, channel)
                elif channel.startswith("ticker."):
                    self._flush_ticker(conn, channel)

    def _flush_ticker(self, conn: Conn, channel: str) -> None:
        inst = self.market.instruments[channel.split(".")[1]]
        data = self.ticker_json(inst)
        key = (
            data["best_bid_price"],
            data["best_bid_amount"],
            data["best_ask_price"],
            data["best_ask_amount"],
            data["last_price"],
            data["mark_price"],
        )
        if self._ticker_sent.get((conn.conn_id, channel)) != key:
            self._ticker_sent[(conn.conn_id, channel)] = key
            conn.notify(channel, data)

    def _levels(self, inst: Instrument, depth: int) -> dict[str, dict[Decimal, Decimal]]:
        bids, asks = self.market.books[inst.symbol].depth(depth)
        return {
            "bids": {px: self.amount(inst, q) for px, q in bids},
            "asks": {px: self.amount(inst, q) for px, q in asks},
        }

    def _flush_book(self, conn: Conn, channel: str) -> None:
        parts = channel.split(".")
        inst = self.market.instruments[parts[1]]
        grouped = len(parts) == 5
        levels = self._levels(inst, int(parts[3]) if grouped else BOOK_LEVELS)
        key = (conn.conn_id, channel)
        prev = self._book_state.get(key)
        now = self.exchange.now_ms()
        if prev is not None and prev[1] == levels:
            return
        self._change_id += 1
        change_id = self._change_id
        self._book_state[key] = (change_id, levels)
        if grouped:
            conn.notify(
                channel,
                {
                    "timestamp": now,
                    "instrument_name": inst.symbol,
                    "change_id": change_id,
                    "bids": [[num(px), num(q)] for px, q in levels["bids"].items()],
                    "asks": [[num(px), num(q)] for px, q in levels["asks"].items()],
                },
            )
            return
        data: dict[str, Any] = {"timestamp": now, "instrument_name": inst.symbol, "change_id": change_id}
        if prev is None:
            data["type"] = "snapshot"
            if self.dialect.book_snapshot_prev_change_id:
                data["prev_change_id"] = 0
            for side in ("bids", "asks"):
                data[side] = [["new", num(px), num(q)] for px, q in levels[side].items()]
        else:
            data["type"] = "change"
            data["prev_change_id"] = prev[0]
            for side in ("bids", "asks"):
                old, new = prev[1][side], levels[side]
                entries = [["delete", num(px), 0] for px in old if px not in new]
                entries += [
                    ["new" if px not in old else "change", num(px), num(q)] for px, q in new.items() if old.get(px) != q
                ]
                data[side] = entries
        conn.notify(channel, data)
