"""Deribit order-entry semantics shared by the FIX acceptor and the JSON-RPC API (and Pulse).

- Post-only (``post_only=true`` / FIX ``ExecInst=6``): a price that would take is moved to just
  inside the spread (a buy to one tick below the best ask, a sell one tick above the best bid);
  with ``reject_post_only=true`` / ``ExecInst=6A`` the order is refused with ``11054
  post_only_reject``. Post-only needs good_til_cancelled.
- Labels and FIX ClOrdIDs are not unique (Deribit allows repeats): they live in ``Order.extra`` and
  lookups by them need exactly one open match.
- Engine refusals become Deribit's error codes and messages (``errors.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ...core import conditional
from ...core.accounts import Account
from ...core.engine import Market
from ...core.faults import Faults
from ...core.types import (
    Direction,
    Order,
    OrderError,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    Trigger,
    TriggerRef,
)
from ..jsonrpc import invalid_params
from .errors import DeribitError, from_order_error

SETTLEMENT_MS = 8 * 3_600_000  # 08:00 UTC
# Trigger orders (private/buy|sell ``type``): the order each places when it fires, and which way it fires
# for a buy (a sell fires the other way): stops on a rise, take-profits on a fall; a trailing stop is a
# stop market order whose level follows the best price by ``trigger_offset``.
TRIGGER_TYPES: dict[str, tuple[OrderType, Direction]] = {
    "stop_market": (OrderType.MARKET, Direction.RISE),
    "stop_limit": (OrderType.LIMIT, Direction.RISE),
    "take_market": (OrderType.MARKET, Direction.FALL),
    "take_limit": (OrderType.LIMIT, Direction.FALL),
    "trailing_stop": (OrderType.MARKET, Direction.RISE),
}
TRIGGER_REF = {"last_price": TriggerRef.LAST, "mark_price": TriggerRef.MARK, "index_price": TriggerRef.INDEX}


@dataclass
class NewOrder:
    symbol: str
    side: Side
    qty: Decimal  # engine units: contracts for perpetuals, coin for options
    type: OrderType = OrderType.LIMIT
    price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    good_til_day: bool = False
    post_only: bool = False
    reject_post_only: bool = False
    reduce_only: bool = False
    label: str = ""
    cl_ord_id: str = ""  # FIX ClOrdID(11) of the NewOrderSingle
    connection: int = 0  # id of the FIX / websocket connection that created the order (cancel-on-disconnect)
    api: str = "rpc"  # "fix" or "rpc"
    trigger_type: str = ""  # a key of TRIGGER_TYPES (a trigger order), else a plain order
    trigger: str = ""  # last_price / mark_price / index_price
    trigger_price: Decimal | None = None
    trigger_offset: Decimal | None = None  # trailing_stop
    mmp: bool = False  # market-maker protection (mmp.py): limit orders only


class DeribitTrading:
    def __init__(self, market: Market, faults: Faults) -> None:
        self.market = market
        for key in ("label", "cl_ord_id"):  # FIX cancels and replaces name orders by either
            market.index_tag(key)
        self.faults = faults
        self.day_orders: dict[int, int] = {}  # good_til_day order id -> expiry (ms)
        # an order with the mmp flag: refused unless a limit order, or while its index is frozen (mmp.py)
        self.mmp_check: Callable[[Account, str, OrderType], None] = lambda account, symbol, order_type: None

    def place(self, account: Account, req: NewOrder) -> Order:
        market = self.market
        try:
            inst = market.instrument(req.symbol)
        except OrderError as e:
            raise from_order_error(e, market, req.symbol) from None
        if self.faults.take("reject_orders"):
            raise DeribitError(10001, "error", {"reason": self.faults.reject_message})
        if req.mmp:
            self.mmp_check(account, req.symbol, req.type)
        price = req.price
        tif = req.tif
        if req.type is OrderType.LIMIT and price is None:
            raise invalid_params("price", "must be present for limit orders")
        if req.post_only:
            if req.type is not OrderType.LIMIT or tif is not TimeInForce.GTC:
                raise invalid_params("post_only", "only valid for good_til_cancelled limit orders")
            assert price is not None
            price = self._post_only_price(req.symbol, req.side, price, req.reject_post_only)
            tif = TimeInForce.GTX
        extra: dict[str, Any] = {
            "label": req.label,
            "cl_ord_id": req.cl_ord_id,
            "connection": req.connection,
            "api": req.api,
            "post_only": req.post_only,
            "reject_post_only": req.reject_post_only,
            "good_til_day": req.good_til_day,
            "requested_price": req.price,
            "mmp": req.mmp,
        }
        if req.price is not None and price != req.price:
            extra["repriced"] = True
        if req.trigger_type:
            return self._arm(account, req, price, tif, extra)
        try:
            order = market.place(
                account,
                req.symbol,
                req.side,
                req.type,
                req.qty,
                price,
                tif,
                reduce_only=req.reduce_only,
                extra=extra,
            )
        except OrderError as e:
            raise from_order_error(e, market, inst.symbol) from None
        if req.good_til_day and order.is_open:
            day = 86_400_000
            deadline = order.created_ms // day * day + SETTLEMENT_MS
            self.day_orders[order.order_id] = deadline if deadline > order.created_ms else deadline + day
        return order

    def _arm(
        self, account: Account, req: NewOrder, price: Decimal | None, tif: TimeInForce, extra: dict[str, Any]
    ) -> Order:
        """A trigger order (``stop_*``, ``take_*``, ``trailing_stop``): ``order_state`` ``untriggered`` until
        its ``trigger`` price reaches ``trigger_price`` (a level already reached fires at once), then the
        same order id goes ``open`` / ``filled`` with ``triggered: true``."""
        ref = TRIGGER_REF.get(req.trigger)
        if ref is None:
            raise invalid_params("trigger", "index_price, mark_price or last_price is required for trigger orders")
        _, rise = TRIGGER_TYPES[req.trigger_type]
        direction = rise if req.side is Side.BUY else (Direction.FALL if rise is Direction.RISE else Direction.RISE)
        if req.trigger_type == "trailing_stop":
            if req.trigger_offset is None or req.trigger_offset <= 0:
                raise invalid_params("trigger_offset", "must be present and positive for trailing_stop")
            trigger = Trigger(direction, None, ref, offset=req.trigger_offset)
        else:
            if req.trigger_price is None or req.trigger_price <= 0:
                raise invalid_params("trigger_price", "must be present and positive for trigger orders")
            trigger = Trigger(direction, req.trigger_price, ref)
        extra["order_type"] = req.trigger_type
        extra["trigger"] = req.trigger
        try:
            return conditional.arm(
                self.market,
                account,
                req.symbol,
                req.side,
                req.type,
                req.qty,
                trigger,
                price,
                tif,
                reduce_only=req.reduce_only,
                extra=extra,
                reject_crossed=False,
            )
        except OrderError as e:
            raise from_order_error(e, self.market, req.symbol) from None

    def expire_day_orders(self, now_ms: int) -> None:
        """good_til_day orders end at Deribit's daily settlement, 08:00 UTC."""
        for order_id, deadline in list(self.day_orders.items()):
            order = self.market.orders.get(order_id)
            if order is None or not order.is_open:
                del self.day_orders[order_id]
            elif now_ms >= deadline:
                del self.day_orders[order_id]
                account = self.market.exchange.accounts[order.account_id]
                self.market.expire(account, order.symbol, order_id, "DAY")

    def _post_only_price(self, symbol: str, side: Side, price: Decimal, reject: bool) -> Decimal:
        """Deribit's post-only rule: a crossing price is refused (reject mode) or moved inside the spread."""
        book = self.market.books[symbol]
        tick = self.market.instruments[symbol].tick
        if side is Side.BUY:
            ask = book.best_ask()
            if ask is None or price < ask:
                return price
            if reject:
                raise DeribitError(11054, "post_only_reject")
            return ask - tick
        bid = book.best_bid()
        if bid is None or price > bid:
            return price
        if reject:
            raise DeribitError(11054, "post_only_reject")
        return bid + tick

    def edit(
        self,
        account: Account,
        order: Order,
        qty: Decimal | None,
        price: Decimal | None,
        post_only: bool | None = None,
        reject_post_only: bool | None = None,
        trigger_price: Decimal | None = None,
        trigger_offset: Decimal | None = None,
    ) -> Order:
        """Amend an open order (new quantity is the total, filled part included, as Deribit defines it), or
        an untriggered trigger order (also its ``trigger_price`` / ``trigger_offset``)."""
        if order.status is OrderStatus.UNTRIGGERED:
            try:
                return conditional.amend(self.market, order, qty, price, trigger_price, trigger_offset)
            except OrderError as e:
                raise from_order_error(e, self.market, order.symbol) from None
        if not order.is_open:
            raise DeribitError(11044, "not_open_order")
        po = order.extra.get("post_only", False) if post_only is None else post_only
        rpo = order.extra.get("reject_post_only", False) if reject_post_only is None else reject_post_only
        if po and price is not None:
            price = self._post_only_price(order.symbol, order.side, price, rpo)
        order.extra["post_only"], order.extra["reject_post_only"] = po, rpo
        try:
            return self.market.amend(account, order.symbol, order_id=order.order_id, new_qty=qty, new_price=price)
        except OrderError as e:
            raise from_order_error(e, self.market, order.symbol) from None

    def cancel(self, account: Account, order: Order) -> Order:
        if not order.is_open and order.status is not OrderStatus.UNTRIGGERED:
            raise DeribitError(11044, "not_open_order")
        try:
            return self.market.cancel(account, order.symbol, order_id=order.order_id)
        except OrderError as e:
            raise from_order_error(e, self.market, order.symbol) from None

    def order_by_id(self, account: Account, order_id: str) -> Order:
        oid = parse_order_id(order_id)
        order = self.market.orders.get(oid) if oid is not None else None
        if order is None or order.account_id != account.account_id:
            raise DeribitError(10004, "order_not_found")
        return order

    def open_by(self, account: Account, key: str, value: str, symbol: str | None = None) -> list[Order]:
        """Open orders whose ``extra[key]`` (label / cl_ord_id) equals ``value``."""
        return self.market.open_by_tag(account, key, value, symbol)

    def cancel_many(self, account: Account, orders: list[Order]) -> list[Order]:
        done: list[Order] = []
        for order in orders:
            if order.is_open or order.status is OrderStatus.UNTRIGGERED:
                self.market.cancel(account, order.symbol, order_id=order.order_id)
                done.append(order)
        return done


def order_id_text(order: Order) -> str:
    """Deribit order ids: a number for BTC instruments, ``ETH-<number>`` for the others."""
    coin = order.symbol.split("-", 1)[0].split("_", 1)[0]
    return str(order.order_id) if coin == "BTC" else f"{coin}-{order.order_id}"


def parse_order_id(text: str) -> int | None:
    tail = text.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None
