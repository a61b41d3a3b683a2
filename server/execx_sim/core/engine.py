"""The matching engine: markets (one per simulated venue product), their books, accounts and events.

One ``Exchange`` owns every account and every ``Market``. All state changes happen synchronously on
the event loop that calls in; each operation publishes its events to the listeners in order before
it returns, so a front-end that serialises events inside its listener sees consistent state.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, Literal

from . import conditional
from .accounts import Account, Wallet, new_credentials
from .book import Book
from .instruments import Instrument, Kind
from .types import (
    ZERO,
    AccountEvent,
    BookTop,
    Event,
    ExecType,
    Fill,
    Order,
    OrderError,
    OrderEvent,
    OrderStatus,
    OrderType,
    PostOnlyCross,
    PublicTrade,
    RejectReason,
    Side,
    STPMode,
    TimeInForce,
)

Listener = Callable[[Event], None]
Priority = Literal["auto", "keep", "lose"]

MAX_PUBLIC_TRADES = 1_000  # per symbol: the public trade tape (and the klines built from it) is a ring buffer
DAY_MS = 86_400_000
# Futures margin reserved by orders is kept on a fixed grid, so that the wallet's running total of
# order margin (sums and differences) stays exactly the sum of what its open orders hold: divisions
# (inverse contracts, leverage, partial releases) would otherwise leave 28-digit rounding residues.
MARGIN_QUANTUM = Decimal("1e-16")


def _margin(amount: Decimal, rounding: str) -> Decimal:
    return amount.quantize(MARGIN_QUANTUM, rounding) if amount.adjusted() < 11 else amount


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class HistoryWindow:
    """How much finished history the simulator keeps, per account and market, as a venue keeps it.

    An order that is open is always kept. Once finished (filled, cancelled, expired) an order stays
    queryable (by id, by client id, in all-orders / order-history endpoints) until it is older than
    ``age_ms`` (counted from when it finished) or more than ``orders`` newer finished orders of the
    same account on the same market exist; own fills likewise by ``trades`` and ``age_ms``. The
    synthetic market's own orders are forgotten as soon as they finish. Memory is therefore a
    function of open orders and of these bounds, not of run time.
    """

    orders: int = 10_000
    trades: int = 10_000
    age_ms: int = 7 * DAY_MS

    def __post_init__(self) -> None:
        if self.orders < 0 or self.trades < 0 or self.age_ms < 0:
            raise ValueError("history window bounds must not be negative")


class Market:
    """One venue product (e.g. ``binance-spot``): its instruments, books, orders and trades."""

    def __init__(
        self,
        exchange: Exchange,
        name: str,
        instruments: Iterable[Instrument],
        *,
        post_only_cross: PostOnlyCross = PostOnlyCross.REJECT,
        default_stp: STPMode = STPMode.NONE,
        first_order_id: int = 1_000_000,
    ) -> None:
        self.exchange = exchange
        self.name = name
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in instruments}
        self.books: dict[str, Book] = {s: Book(s) for s in self.instruments}
        self.ref_price: dict[str, Decimal] = {i.symbol: i.ref_price for i in self.instruments.values()}
        self.last_price: dict[str, Decimal] = {}
        self.post_only_cross = post_only_cross
        self.default_stp = default_stp
        # Every open order, plus the finished orders of (non-background) accounts within the
        # exchange's HistoryWindow. Background (synthetic market) orders leave as they finish.
        self.orders: dict[int, Order] = {}
        self._finished: dict[str, deque[Order]] = {}  # account id -> its finished orders, oldest first
        self._by_client: dict[tuple[str, str, str], Order] = {}  # (account, symbol, client id) -> order
        self._open_by_account: dict[str, dict[int, Order]] = {}  # account id -> its open orders
        self._tag_keys: tuple[str, ...] = ()  # the ``extra`` keys open orders are indexed by (index_tag)
        self._open_by_tag: dict[tuple[str, str, Any], dict[int, Order]] = {}  # (account, key, value) -> open
        self.trades: dict[str, deque[Fill]] = {}  # account id -> own fills within the window, oldest first
        self.public_trades: dict[str, deque[PublicTrade]] = {
            s: deque(maxlen=MAX_PUBLIC_TRADES) for s in self.instruments
        }
        self._next_order_id = first_order_id
        self._next_trade_id: dict[str, int] = dict.fromkeys(self.instruments, 100_000)
        self._seq = 0
        self._tops: dict[str, tuple[Decimal | None, Decimal, Decimal | None, Decimal]] = {}
        # Conditional orders waiting for their trigger, per symbol, in arming order (conditional.py).
        self.armed: dict[str, dict[int, Order]] = {}
        self.firing = False  # conditional.fire is running: the orders it places do not re-enter it
        self._touched: dict[str, tuple[set[str], set[str]]] = {}

    # ------------------------------------------------------------------ lookups

    def instrument(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise OrderError(RejectReason.UNKNOWN_SYMBOL, symbol)
        return inst

    @property
    def is_derivative(self) -> bool:
        return any(i.is_derivative for i in self.instruments.values())

    def mark_price(self, symbol: str) -> Decimal:
        mid = self.books[symbol].mid()
        return mid if mid is not None else self.last_price.get(symbol, self.ref_price[symbol])

    def find_order(
        self, account: Account, symbol: str, order_id: int | None = None, client_id: str | None = None
    ) -> Order:
        """An order of this account (open or recently closed) by venue id or client id."""
        order: Order | None = None
        if order_id is not None:
            order = self.orders.get(order_id)
        elif client_id:
            order = self._by_client.get((account.account_id, symbol, client_id))
        if order is None or order.account_id != account.account_id or order.symbol != symbol:
            raise OrderError(RejectReason.UNKNOWN_ORDER, "order does not exist")
        return order

    def open_orders(self, account: Account, symbol: str | None = None) -> list[Order]:
        live = self._open_by_account.get(account.account_id, {})
        return [o for o in live.values() if symbol is None or o.symbol == symbol]

    def index_tag(self, key: str) -> None:
        """Keep each account's open orders findable by ``extra[key]`` (``open_by_tag``): for a venue's own
        client id or label, set when the order is placed and never changed afterwards."""
        if key not in self._tag_keys:
            self._tag_keys = (*self._tag_keys, key)
            for order in self.orders.values():  # orders placed before the key was indexed
                if order.is_open:
                    self._tag(order, (key,))

    def open_by_tag(self, account: Account, key: str, value: Any, symbol: str | None = None) -> list[Order]:
        """The account's open orders whose ``extra[key]`` equals ``value`` (``key`` indexed by ``index_tag``),
        oldest first, as ``open_orders`` lists them."""
        if key not in self._tag_keys:
            raise KeyError(f"extra key {key!r} is not indexed")
        live = self._open_by_tag.get((account.account_id, key, value), {})
        return [o for o in live.values() if symbol is None or o.symbol == symbol]

    def account_orders(self, account: Account, symbol: str | None = None) -> list[Order]:
        """The account's open orders and its finished orders within the history window (all symbols
        when ``symbol`` is None), oldest order id first."""
        self.trim_history(account.account_id)
        aid = account.account_id
        orders = [
            *self._finished.get(aid, ()),
            *self._open_by_account.get(aid, {}).values(),
            *conditional.armed_orders(self, account),
        ]
        if symbol is not None:
            orders = [o for o in orders if o.symbol == symbol]
        orders.sort(key=lambda o: o.order_id)
        return orders

    def account_trades(self, account: Account, symbol: str | None = None) -> list[Fill]:
        """The account's own fills within the history window, oldest first."""
        self.trim_history(account.account_id)
        fills = self.trades.get(account.account_id, ())
        return [f for f in fills if symbol is None or f.symbol == symbol]

    def history_size(self) -> tuple[int, int]:
        """(finished orders, own fills) kept for all accounts of this market."""
        return sum(map(len, self._finished.values())), sum(map(len, self.trades.values()))

    # ------------------------------------------------------------------ validation

    def check_price(self, inst: Instrument, price: Decimal) -> None:
        if price < inst.min_price or price > inst.max_price:
            raise OrderError(RejectReason.PRICE_FILTER, f"price {price} outside [{inst.min_price}, {inst.max_price}]")
        if not inst.on_tick(price):
            raise OrderError(RejectReason.PRICE_FILTER, f"price {price} not a multiple of tick {inst.tick}")
        ref = self.mark_price(inst.symbol)
        if price > ref * inst.percent_up:
            raise OrderError(RejectReason.PERCENT_PRICE, "up")
        if price < ref * inst.percent_down:
            raise OrderError(RejectReason.PERCENT_PRICE, "down")

    def check_qty(self, inst: Instrument, qty: Decimal, market: bool = False) -> None:
        max_qty = inst.market_max_qty if market and inst.market_max_qty is not None else inst.max_qty
        if qty < inst.min_qty or qty > max_qty:
            reason = RejectReason.MARKET_LOT_SIZE if market else RejectReason.LOT_SIZE
            raise OrderError(reason, f"quantity {qty} outside [{inst.min_qty}, {max_qty}]")
        if not inst.on_lot(qty):
            raise OrderError(RejectReason.LOT_SIZE, f"quantity {qty} not a multiple of lot {inst.lot}")

    def _would_cross(self, book: Book, side: Side, price: Decimal) -> bool:
        if side is Side.BUY:
            ask = book.best_ask()
            return ask is not None and price >= ask
        bid = book.best_bid()
        return bid is not None and price <= bid

    # ------------------------------------------------------------------ order entry

    def place(
        self,
        account: Account,
        symbol: str,
        side: Side,
        type: OrderType,
        qty: Decimal,
        price: Decimal | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        client_id: str = "",
        quote_qty: Decimal | None = None,
        reduce_only: bool = False,
        stp: STPMode | None = None,
        extra: dict[str, Any] | None = None,
        validate_only: bool = False,
        check_funds: bool = True,
    ) -> Order:
        """Place an order; returns it after matching. Raises ``OrderError`` if refused (nothing recorded).
        ``check_funds`` False (with ``validate_only``): the order's funds are not checked (an order validated
        now and funded later, e.g. a venue order list's pending order)."""
        inst = self.instrument(symbol)
        book = self.books[symbol]
        bg = account.is_background
        if type is OrderType.LIMIT:
            if price is None:
                raise OrderError(RejectReason.PRICE_FILTER, "price required")
            if not bg:
                self.check_price(inst, price)
        else:
            price = None
            if tif is TimeInForce.GTX:
                raise OrderError(RejectReason.POST_ONLY_WOULD_TAKE, "market order cannot be post-only")
        if quote_qty is None and not bg:
            self.check_qty(inst, qty, market=type is OrderType.MARKET)
        if quote_qty is not None:
            if quote_qty <= 0 or type is not OrderType.MARKET:
                raise OrderError(RejectReason.MIN_NOTIONAL, "quote quantity must be positive, market orders only")
            qty = inst.market_max_qty or inst.max_qty  # bounded by the quote amount while matching
        if not bg and price is not None and inst.min_notional and inst.notional(qty, price) < inst.min_notional:
            raise OrderError(RejectReason.MIN_NOTIONAL, f"notional below {inst.min_notional}")
        if client_id and not bg:
            prev = self._by_client.get((account.account_id, symbol, client_id))
            if prev is not None and prev.is_open:
                raise OrderError(RejectReason.DUPLICATE_CLIENT_ID, client_id)
        post_only = tif is TimeInForce.GTX
        if post_only and price is not None and self._would_cross(book, side, price):
            if self.post_only_cross is PostOnlyCross.REJECT:
                raise OrderError(RejectReason.POST_ONLY_WOULD_TAKE, "order would immediately match and take")
        wallet = account.wallet(self.name)
        reserve = ZERO
        if not bg:
            if reduce_only:
                pos = wallet.position(symbol)
                if not inst.is_derivative or pos.qty == 0 or (pos.qty > 0) == (side is Side.BUY):
                    raise OrderError(RejectReason.REDUCE_ONLY, "reduce-only order would increase position")
            if check_funds or not validate_only:
                reserve = self._reserve_needed(inst, wallet, side, type, qty, price, quote_qty, reduce_only)
        if validate_only:
            return Order(0, client_id, account.account_id, self.name, symbol, side, type, tif, price, qty, 0, 0)

        ts = self.exchange.now_ms()
        self._seq += 1
        order = Order(
            order_id=self._new_order_id(),
            client_id=client_id or f"sim-{self._next_order_id}",
            account_id=account.account_id,
            market=self.name,
            symbol=symbol,
            side=side,
            type=type,
            tif=tif,
            price=price,
            qty=qty,
            created_ms=ts,
            updated_ms=ts,
            stp=stp if stp is not None else self.default_stp,
            reduce_only=reduce_only,
            quote_qty=quote_qty,
            seq=self._seq,
            locked=reserve,
            extra=extra or {},
        )
        if not bg:
            self._lock(inst, wallet, order, reserve)
        self._register(order)
        self._emit(OrderEvent(self.name, order, ExecType.NEW))
        self.execute(inst, book, order)
        self._finish(symbol)
        return order

    def execute(self, inst: Instrument, book: Book, order: Order) -> None:
        """Match a registered NEW order (just placed, or a conditional order that fired) and rest what
        its type and time in force let rest."""
        if (
            order.tif is TimeInForce.GTX
            and order.price is not None
            and self._would_cross(book, order.side, order.price)
        ):
            # PostOnlyCross.CANCEL (or a post-only conditional order that fired): recorded, then cancelled.
            self._close(order, OrderStatus.CANCELED, "POST_ONLY")
        elif order.tif is TimeInForce.FOK and not self._fillable(book, order):
            self._close(order, OrderStatus.EXPIRED, "FOK")
        else:
            self._match(inst, book, order)
            if order.is_open:
                if order.type is OrderType.MARKET or order.tif in (TimeInForce.IOC, TimeInForce.FOK):
                    reason = "NO_LIQUIDITY" if order.type is OrderType.MARKET else order.tif.value
                    self._close(order, OrderStatus.EXPIRED, order.expire_reason or reason)
                else:
                    book.add(order)

    def cancel(self, account: Account, symbol: str, order_id: int | None = None, client_id: str | None = None) -> Order:
        order = self.find_order(account, symbol, order_id, client_id)
        if not order.is_open and order.status is not OrderStatus.UNTRIGGERED:
            raise OrderError(RejectReason.ORDER_NOT_OPEN, f"order is {order.status}")
        self._close(order, OrderStatus.CANCELED)
        self._finish(symbol)
        return order

    def expire(self, account: Account, symbol: str, order_id: int, reason: str) -> Order:
        """Expire an open order by a venue rule (e.g. a good-till-date deadline), or a conditional order that
        waits for its trigger (e.g. the other leg of a venue's OCO list): status EXPIRED."""
        order = self.find_order(account, symbol, order_id)
        if not order.is_open and order.status is not OrderStatus.UNTRIGGERED:
            raise OrderError(RejectReason.ORDER_NOT_OPEN, f"order is {order.status}")
        self._close(order, OrderStatus.EXPIRED, reason)
        self._finish(symbol)
        return order

    def cancel_all(self, account: Account, symbol: str, reason: str = "") -> list[Order]:
        self.instrument(symbol)
        cancelled = self.open_orders(account, symbol)
        for order in cancelled:
            self._close(order, OrderStatus.CANCELED, reason)
        self._finish(symbol)
        return cancelled

    def amend(
        self,
        account: Account,
        symbol: str,
        order_id: int | None = None,
        client_id: str | None = None,
        new_qty: Decimal | None = None,
        new_price: Decimal | None = None,
        priority: Priority = "auto",
        new_client_id: str | None = None,
    ) -> Order:
        """Change price and/or quantity of an open limit order.

        ``priority``: ``keep`` keeps the queue position, ``lose`` always re-queues, ``auto`` keeps it
        only when the price is unchanged and the quantity does not grow (the usual venue rule).
        A new quantity at or below the filled quantity cancels the order. A post-only order amended
        to a crossing price is cancelled; any other crossing amend trades as a taker.
        """
        order = self.find_order(account, symbol, order_id, client_id)
        if not order.is_open:
            raise OrderError(RejectReason.ORDER_NOT_OPEN, f"order is {order.status}")
        if order.type is not OrderType.LIMIT or order.price is None:
            raise OrderError(RejectReason.INVALID_AMEND, "only limit orders can be amended")
        inst = self.instrument(symbol)
        book = self.books[symbol]
        qty = order.qty if new_qty is None else new_qty
        price = order.price if new_price is None else new_price
        if new_price is not None:
            self.check_price(inst, price)
        if new_qty is not None:
            self.check_qty(inst, qty)
        if inst.min_notional and inst.notional(qty, price) < inst.min_notional:
            raise OrderError(RejectReason.MIN_NOTIONAL, f"notional below {inst.min_notional}")
        wallet = account.wallet(self.name)
        old_price, old_qty = order.price, order.qty
        if qty <= order.filled:
            self._close(order, OrderStatus.CANCELED, "AMEND_QTY")
            self._finish(symbol)
            return order
        # Re-reserve funds for the new terms (spot lock / futures initial margin).
        new_reserve = self._reserve_needed(
            inst,
            wallet,
            order.side,
            order.type,
            qty - order.filled,
            price,
            None,
            order.reduce_only,
            releasing=order.locked,
        )
        self._unlock(inst, wallet, order, order.locked)
        self._lock(inst, wallet, order, new_reserve)
        keep = priority == "keep" or (priority == "auto" and price == old_price and qty <= old_qty)
        order.qty = qty
        order.amend_count += 1
        order.updated_ms = self.exchange.now_ms()
        if new_client_id:
            self.rename(order, new_client_id)
        if keep and price == old_price:
            book.update_id += 1
            self._emit(OrderEvent(self.name, order, ExecType.AMENDED))
        else:
            book.remove(order)
            order.price = price
            self._seq += 1
            order.seq = self._seq
            self._emit(OrderEvent(self.name, order, ExecType.AMENDED))
            if self._would_cross(book, order.side, price):
                if order.tif is TimeInForce.GTX:
                    self._close(order, OrderStatus.CANCELED, "POST_ONLY")
                else:
                    self._match(inst, book, order)
            if order.is_open:
                book.add(order)
        self._finish(symbol)
        return order

    def rename(self, order: Order, new_client_id: str) -> None:
        """Give an order a new client id (an amend's): found by it from now on, no longer by the old one."""
        self._by_client.pop((order.account_id, order.symbol, order.client_id), None)
        order.client_id = new_client_id
        self._by_client[(order.account_id, order.symbol, new_client_id)] = order

    # ------------------------------------------------------------------ matching

    def _fillable(self, book: Book, order: Order) -> bool:
        need = order.qty
        for px, level in book.opposite_levels(order.side):
            if order.price is not None and not self._crosses(order.side, order.price, px):
                break
            for maker in level.values():
                if maker.account_id != order.account_id or order.stp is STPMode.NONE:
                    need -= maker.remaining
                if need <= 0:
                    return True
        return False

    @staticmethod
    def _crosses(side: Side, limit: Decimal, px: Decimal) -> bool:
        return limit >= px if side is Side.BUY else limit <= px

    def _match(self, inst: Instrument, book: Book, taker: Order) -> None:
        prices = book._ask_px if taker.side is Side.BUY else book._bid_px
        levels = book.asks if taker.side is Side.BUY else book.bids
        while taker.is_open and prices:
            px = prices[0] if taker.side is Side.BUY else prices[-1]
            if taker.price is not None and not self._crosses(taker.side, taker.price, px):
                break
            level = levels[px]
            for maker in list(level.values()):
                if not taker.is_open:
                    break
                if maker.account_id == taker.account_id and taker.stp is not STPMode.NONE:
                    if taker.stp in (STPMode.EXPIRE_MAKER, STPMode.EXPIRE_BOTH):
                        self._close(maker, OrderStatus.EXPIRED, "STP")
                    if taker.stp in (STPMode.EXPIRE_TAKER, STPMode.EXPIRE_BOTH):
                        self._close(taker, OrderStatus.EXPIRED, "STP")
                    continue
                qty = min(taker.remaining, maker.remaining)
                if taker.quote_qty is not None:  # market order sized in quote currency
                    affordable = ((taker.quote_qty - taker.cum_quote) / px // inst.lot) * inst.lot
                    if affordable <= 0:
                        self._close(taker, OrderStatus.EXPIRED, "QUOTE_QTY")
                        break
                    if affordable <= maker.remaining:  # this fill spends the quote amount: order complete
                        qty = affordable
                        taker.qty = taker.filled + qty
                if not self.exchange.accounts[taker.account_id].is_background:
                    qty = self._affordable(inst, taker, px, qty)
                    if qty <= 0:
                        self._close(taker, OrderStatus.EXPIRED, "INSUFFICIENT_BALANCE")
                        break
                # Reduce-only orders never fill beyond the position they reduce (no flip); once the
                # position is closed their remainder expires.
                if taker.reduce_only:
                    cap = self._reducible(taker)
                    if cap <= 0:
                        self._close(taker, OrderStatus.EXPIRED, "REDUCE_ONLY")
                        break
                    qty = min(qty, cap)
                maker_cap = self._reducible(maker) if maker.reduce_only else None
                if maker_cap is not None:
                    if maker_cap <= 0:
                        self._close(maker, OrderStatus.EXPIRED, "REDUCE_ONLY")
                        continue
                    qty = min(qty, maker_cap)
                self._trade(inst, book, maker, taker, px, qty)
                if maker_cap is not None and maker.is_open and qty >= maker_cap:
                    self._close(maker, OrderStatus.EXPIRED, "REDUCE_ONLY")

    def _reducible(self, order: Order) -> Decimal:
        """How much a reduce-only order may still fill: the size of the opposite position."""
        pos = self.exchange.accounts[order.account_id].wallet(self.name).positions.get(order.symbol)
        if pos is None or not pos.qty or (pos.qty > 0) == (order.side is Side.BUY):
            return ZERO
        return abs(pos.qty)

    def _affordable(self, inst: Instrument, taker: Order, px: Decimal, qty: Decimal) -> Decimal:
        """Spot market orders spend free funds as they fill: cap each fill at what the account has."""
        if inst.kind is not Kind.SPOT or taker.type is not OrderType.MARKET:
            return qty
        wallet = self.exchange.accounts[taker.account_id].wallet(self.name)
        if taker.side is Side.SELL:
            return min(qty, wallet.balance(inst.base).free)
        free = wallet.balance(inst.quote).free
        if free >= px * qty:
            return qty
        return (free / px // inst.lot) * inst.lot

    def _trade(self, inst: Instrument, book: Book, maker: Order, taker: Order, px: Decimal, qty: Decimal) -> None:
        ts = self.exchange.now_ms()
        tid = self._next_trade_id[inst.symbol]
        self._next_trade_id[inst.symbol] = tid + 1
        for order, is_maker in ((maker, True), (taker, False)):
            before = order.remaining
            order.filled += qty
            order.cum_quote += px * qty
            order.updated_ms = ts
            order.status = OrderStatus.FILLED if order.filled >= order.qty else OrderStatus.PARTIALLY_FILLED
            fill = self._settle(inst, order, px, qty, is_maker, tid, ts, before)
            if order.status is OrderStatus.FILLED:
                if is_maker:
                    book.remove(order)
                self._retire(order)
            self._emit(OrderEvent(self.name, order, ExecType.TRADE, fill))
        self.last_price[inst.symbol] = px
        trade = PublicTrade(self.name, inst.symbol, tid, px, qty, taker.side, ts)
        self.public_trades[inst.symbol].append(trade)
        self._emit(trade)

    def _settle(
        self,
        inst: Instrument,
        order: Order,
        px: Decimal,
        qty: Decimal,
        is_maker: bool,
        tid: int,
        ts: int,
        remaining_before: Decimal,
    ) -> Fill:
        account = self.exchange.accounts[order.account_id]
        rate = inst.maker_fee if is_maker else inst.taker_fee
        quote = px * qty
        realized = ZERO
        if inst.kind is Kind.SPOT:
            fee_asset = inst.base if order.side is Side.BUY else inst.quote
            fee = (qty if order.side is Side.BUY else quote) * rate
        else:
            fee_asset = inst.margin_asset
            fee = (qty * inst.contract_size / px if inst.kind is Kind.INVERSE else quote) * rate
        if account.is_background:
            fee = ZERO
        else:
            w = account.wallet(self.name)
            release = order.locked * qty / remaining_before if remaining_before else order.locked
            if order.status is OrderStatus.FILLED:
                release = order.locked
            elif inst.kind is not Kind.SPOT:
                release = _margin(release, ROUND_DOWN)
            if inst.kind is Kind.SPOT:
                base, quote_bal = w.balance(inst.base), w.balance(inst.quote)
                if order.side is Side.BUY:
                    if order.type is OrderType.MARKET:
                        quote_bal.free -= quote
                    else:
                        quote_bal.locked -= release
                        quote_bal.free += release - quote
                    base.free += qty - fee
                else:
                    if order.type is OrderType.MARKET:
                        base.free -= qty
                    else:
                        base.locked -= release
                        base.free += release - qty
                    quote_bal.free += quote - fee
                self._touch(account, {inst.base, inst.quote}, set())
            else:
                pos = w.position(inst.symbol)
                realized = pos.apply_fill(inst, order.side, qty, px)
                pos.updated_ms = ts
                margin = inst.margin_asset
                w.order_margin[margin] = w.order_margin.get(margin, ZERO) - release
                w.balance(margin).free += realized - fee
                self._touch(account, {margin}, {inst.symbol})
            order.locked -= release
        fill = Fill(
            tid,
            order.order_id,
            inst.symbol,
            order.side,
            px,
            qty,
            quote,
            fee,
            fee_asset,
            is_maker,
            ts,
            realized,
        )
        if not account.is_background:
            dq = self.trades.get(account.account_id)
            if dq is None:
                dq = self.trades[account.account_id] = deque()
            dq.append(fill)
            history = self.exchange.history
            if len(dq) > history.trades or dq[0].time_ms < ts - history.age_ms:
                self._trim_trades(dq, ts)
        return fill

    # ------------------------------------------------------------------ funds

    def _reserve_needed(
        self,
        inst: Instrument,
        wallet: Wallet,
        side: Side,
        type: OrderType,
        qty: Decimal,
        price: Decimal | None,
        quote_qty: Decimal | None,
        reduce_only: bool,
        releasing: Decimal = ZERO,
    ) -> Decimal:
        """Funds an order must reserve; raises INSUFFICIENT_* if the account cannot. ``releasing`` is
        what the order already holds (for amends)."""
        book = self.books[inst.symbol]
        if inst.kind is Kind.SPOT:
            if side is Side.BUY:
                if type is OrderType.MARKET:
                    est = quote_qty if quote_qty is not None else self._market_cost(book, side, qty)
                    if wallet.balance(inst.quote).free < est:
                        raise OrderError(RejectReason.INSUFFICIENT_BALANCE, inst.quote)
                    return ZERO  # spent from free as it fills
                assert price is not None
                need = price * qty
                if wallet.balance(inst.quote).free + releasing < need:
                    raise OrderError(RejectReason.INSUFFICIENT_BALANCE, inst.quote)
                return need
            if quote_qty is not None:
                qty = (quote_qty / self.mark_price(inst.symbol) // inst.lot) * inst.lot
            if wallet.balance(inst.base).free + releasing < qty:
                raise OrderError(RejectReason.INSUFFICIENT_BALANCE, inst.base)
            return ZERO if type is OrderType.MARKET else qty  # market sells spend free base as they fill
        # Derivatives: initial margin for the part that opens or increases exposure.
        pos = wallet.position(inst.symbol)
        if reduce_only:
            return ZERO
        opening = qty
        if pos.qty and (pos.qty > 0) != (side is Side.BUY):
            opening = max(ZERO, qty - abs(pos.qty))
        if not opening:
            return ZERO
        px = price if price is not None else self.mark_price(inst.symbol)
        lev = pos.leverage
        need = (opening * inst.contract_size / px if inst.kind is Kind.INVERSE else opening * px) / lev
        need = _margin(need, ROUND_UP)
        if self.available_margin(wallet, inst.margin_asset) + releasing < need:
            raise OrderError(RejectReason.INSUFFICIENT_MARGIN, inst.margin_asset)
        return need

    def _market_cost(self, book: Book, side: Side, qty: Decimal) -> Decimal:
        cost, left = ZERO, qty
        for px, level in book.opposite_levels(side):
            lq = sum((o.remaining for o in level.values()), ZERO)
            take = min(left, lq)
            cost += take * px
            left -= take
            if left <= 0:
                break
        return cost

    def available_margin(self, wallet: Wallet, asset: str) -> Decimal:
        bal = wallet.balance(asset).free
        for sym, pos in wallet.positions.items():
            inst = self.instruments.get(sym)
            if inst is None or inst.margin_asset != asset or not pos.qty:
                continue
            mark = self.mark_price(sym)
            bal += pos.unrealized(inst, mark) - pos.initial_margin(inst, mark)
        return bal - wallet.order_margin.get(asset, ZERO)

    def _lock(self, inst: Instrument, wallet: Wallet, order: Order, amount: Decimal) -> None:
        order.locked = amount
        if not amount:
            return
        if inst.kind is Kind.SPOT:
            bal = wallet.balance(inst.quote if order.side is Side.BUY else inst.base)
            bal.free -= amount
            bal.locked += amount
            self._touch_id(order.account_id, {inst.quote if order.side is Side.BUY else inst.base}, set())
        else:
            asset = inst.margin_asset
            wallet.order_margin[asset] = wallet.order_margin.get(asset, ZERO) + amount

    def _unlock(self, inst: Instrument, wallet: Wallet, order: Order, amount: Decimal) -> None:
        if not amount:
            return
        order.locked -= amount
        if inst.kind is Kind.SPOT:
            asset = inst.quote if order.side is Side.BUY else inst.base
            bal = wallet.balance(asset)
            bal.free += amount
            bal.locked -= amount
            self._touch_id(order.account_id, {asset}, set())
        else:
            asset = inst.margin_asset
            wallet.order_margin[asset] = wallet.order_margin.get(asset, ZERO) - amount

    # ------------------------------------------------------------------ bookkeeping

    def advance_ids(self, order_id: int, trade_id: int) -> None:
        """Number the next order after ``order_id`` and the next trade of every symbol after ``trade_id``
        (never backwards): a venue that restarts keeps counting, it never hands out an id twice."""
        self._next_order_id = max(self._next_order_id, order_id)
        for symbol, tid in self._next_trade_id.items():
            self._next_trade_id[symbol] = max(tid, trade_id + 1)

    def _new_order_id(self) -> int:
        self._next_order_id += 1
        return self._next_order_id

    def _register(self, order: Order) -> None:
        self.orders[order.order_id] = order
        self._open_by_account.setdefault(order.account_id, {})[order.order_id] = order
        self._tag(order, self._tag_keys)
        if not self.exchange.accounts[order.account_id].is_background:
            self._by_client[(order.account_id, order.symbol, order.client_id)] = order

    def _tag(self, order: Order, keys: tuple[str, ...]) -> None:
        for key in keys:
            self._open_by_tag.setdefault((order.account_id, key, order.extra.get(key)), {})[order.order_id] = order

    def _retire(self, order: Order) -> None:
        """The order finished: off the open set; kept in the account's history window, or (the
        synthetic market's own orders) forgotten at once."""
        aid = order.account_id
        live = self._open_by_account.get(aid)
        if live is not None:
            live.pop(order.order_id, None)
        for key in self._tag_keys:
            tag = (aid, key, order.extra.get(key))
            tagged = self._open_by_tag.get(tag)
            if tagged is not None:
                tagged.pop(order.order_id, None)
                if not tagged:
                    del self._open_by_tag[tag]
        if self.exchange.accounts[aid].is_background:
            self.orders.pop(order.order_id, None)
            return
        dq = self._finished.get(aid)
        if dq is None:
            dq = self._finished[aid] = deque()
        dq.append(order)
        history = self.exchange.history
        if len(dq) > history.orders or dq[0].updated_ms < order.updated_ms - history.age_ms:
            self._trim_orders(dq, order.updated_ms)

    def trim_history(self, account_id: str | None = None) -> None:
        """Forget finished orders and fills older than the history window (one account, or all).
        Count bounds are kept as history is added; this applies the age bound to idle accounts."""
        now = self.exchange.now_ms()
        ids = (account_id,) if account_id is not None else (*self._finished, *self.trades)
        for aid in ids:
            orders = self._finished.get(aid)
            if orders:
                self._trim_orders(orders, now)
            fills = self.trades.get(aid)
            if fills:
                self._trim_trades(fills, now)

    def _trim_orders(self, dq: deque[Order], now: int) -> None:
        history = self.exchange.history
        cutoff = now - history.age_ms
        while dq and (len(dq) > history.orders or dq[0].updated_ms < cutoff):
            old = dq.popleft()
            self.orders.pop(old.order_id, None)
            key = (old.account_id, old.symbol, old.client_id)
            if self._by_client.get(key) is old:
                del self._by_client[key]

    def _trim_trades(self, dq: deque[Fill], now: int) -> None:
        history = self.exchange.history
        cutoff = now - history.age_ms
        while dq and (len(dq) > history.trades or dq[0].time_ms < cutoff):
            dq.popleft()

    def _close(self, order: Order, status: OrderStatus, reason: str = "") -> None:
        """Cancel or expire an open order (or disarm a conditional one): off the book, funds released, published."""
        if not order.is_open:
            if order.status is not OrderStatus.UNTRIGGERED:
                return
            self.armed[order.symbol].pop(order.order_id, None)
        self.books[order.symbol].remove(order)
        account = self.exchange.accounts[order.account_id]
        if not account.is_background and order.locked:
            self._unlock(self.instruments[order.symbol], account.wallet(self.name), order, order.locked)
        order.status = status
        order.expire_reason = reason
        order.updated_ms = self.exchange.now_ms()
        self._retire(order)
        self._emit(
            OrderEvent(self.name, order, ExecType.CANCELED if status is OrderStatus.CANCELED else ExecType.EXPIRED)
        )

    def _touch(self, account: Account, assets: set[str], symbols: set[str]) -> None:
        self._touch_id(account.account_id, assets, symbols)

    def _touch_id(self, account_id: str, assets: set[str], symbols: set[str]) -> None:
        if self.exchange.accounts[account_id].is_background:
            return
        entry = self._touched.get(account_id)
        if entry is None:
            self._touched[account_id] = (set(assets), set(symbols))
        else:
            entry[0].update(assets)
            entry[1].update(symbols)

    def _finish(self, symbol: str, reason: str = "ORDER") -> None:
        """End of an operation: publish account changes, then the new top of book if it moved."""
        if self._touched:
            ts = self.exchange.now_ms()
            touched, self._touched = self._touched, {}
            for account_id, (assets, symbols) in touched.items():
                self._emit(AccountEvent(self.name, account_id, frozenset(assets), frozenset(symbols), reason, ts))
        book = self.books[symbol]
        top = book.top()
        if self._tops.get(symbol) != top:
            self._tops[symbol] = top
            self._emit(
                BookTop(self.name, symbol, book.update_id, top[0], top[1], top[2], top[3], self.exchange.now_ms())
            )
        if self.armed.get(symbol) and not self.firing:
            conditional.fire(self, symbol)

    def _emit(self, event: Event) -> None:
        self.exchange.publish(event)

    # ------------------------------------------------------------------ admin

    def adjust_balance(self, account: Account, asset: str, free: Decimal) -> None:
        account.wallet(self.name).balance(asset).free = free
        self._touch(account, {asset}, set())
        self._finish(next(iter(self.instruments)), reason="ADMIN")

    def set_leverage(self, account: Account, symbol: str, leverage: int) -> None:
        w = account.wallet(self.name)
        w.leverage[symbol] = leverage
        w.position(symbol).leverage = leverage


class Exchange:
    """Every account and every market of the simulator, plus the event fan-out."""

    def __init__(self, clock: Callable[[], int] = now_ms, history: HistoryWindow | None = None) -> None:
        self.now_ms = clock
        self.history = history or HistoryWindow()
        self.accounts: dict[str, Account] = {}
        self.by_api_key: dict[str, Account] = {}
        self.markets: dict[str, Market] = {}
        self._listeners: tuple[Listener, ...] = ()  # replaced, never mutated: safe to (un)subscribe while publishing

    def add_market(self, market: Market) -> Market:
        self.markets[market.name] = market
        return market

    def create_account(
        self,
        account_id: str | None = None,
        api_key: str | None = None,
        secret_key: str | None = None,
        passphrase: str | None = None,
        background: bool = False,
    ) -> Account:
        key, secret, phrase = new_credentials()
        account = Account(
            account_id=account_id or f"acct-{len(self.accounts) + 1}",
            api_key=api_key or key,
            secret_key=secret_key or secret,
            passphrase=phrase if passphrase is None else passphrase,
            is_background=background,
        )
        if account.account_id in self.accounts or account.api_key in self.by_api_key:
            raise ValueError("account id or api key already exists")
        self.accounts[account.account_id] = account
        self.by_api_key[account.api_key] = account
        return account

    def account_by_key(self, api_key: str) -> Account | None:
        return self.by_api_key.get(api_key)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            listeners = list(self._listeners)
            listeners.remove(listener)
            self._listeners = tuple(listeners)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)
