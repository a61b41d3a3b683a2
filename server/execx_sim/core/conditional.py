"""Conditional orders of the matching engine: stop, take-profit and trailing-stop orders held by the venue
until a reference price reaches their level, then placed into the book.

Venue front-ends translate their own wire format (Binance futures algo orders, Bybit ``triggerPrice``,
OKX ``order-algo``, Deribit ``stop_*`` / ``take_*`` / ``trailing_stop``) into an ``Order`` with a
``Trigger`` and status ``UNTRIGGERED``. The order is registered (found by id and client id, listed by
``armed_orders``, cancelled by ``Market.cancel``) but is not on the book and reserves nothing. At the end
of every engine operation on the symbol (``Market._finish``) the armed orders are evaluated against the
symbol's last trade price or mark price; one that fires becomes ``NEW`` (event ``TRIGGERED``) and matches
like a freshly placed order, or, for a ``spawn`` trigger, ends ``TRIGGERED`` and places a child order.
An order that can no longer be placed when it fires (reduce-only without a position, no margin) ends
``REJECTED`` (event ``REJECTED``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .types import (
    Direction,
    ExecType,
    Order,
    OrderError,
    OrderEvent,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
    Trigger,
    TriggerRef,
)

if TYPE_CHECKING:
    from .accounts import Account
    from .engine import Market

ONE = Decimal(1)


def reference(market: Market, symbol: str, ref: TriggerRef) -> Decimal | None:
    """The price a trigger reads now: the last trade's (None before the first), or the mark, the mid of a
    two-sided book (None while a side is empty, e.g. while the book is re-quoted: a one-sided book says
    nothing about where the market is)."""
    if ref is TriggerRef.LAST:
        return market.last_price.get(symbol)
    book = market.books[symbol]
    bid, ask = book.best_bid(), book.best_ask()
    return None if bid is None or ask is None else (bid + ask) / 2


def crossed(direction: Direction, level: Decimal, price: Decimal) -> bool:
    return price >= level if direction is Direction.RISE else price <= level


def arm(
    market: Market,
    account: Account,
    symbol: str,
    side: Side,
    type: OrderType,
    qty: Decimal,
    trigger: Trigger,
    price: Decimal | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    client_id: str = "",
    reduce_only: bool = False,
    extra: dict[str, Any] | None = None,
    reject_crossed: bool = True,
    check_funds: bool = True,
) -> Order:
    """Register a conditional order (status ``UNTRIGGERED``, event ``NEW``). The order it will place is
    validated now as ``Market.place`` validates it (tick, lot, limits, client id, and the funds it would
    reserve now, unless ``check_funds`` is False: a pending order of a venue order list, funded by the order
    that releases it), except reduce-only; funds and reduce-only are checked again when it fires (nothing is
    reserved while it waits). A fixed level the reference already reached is refused
    (``WOULD_TRIGGER_IMMEDIATELY``) when ``reject_crossed``, else fires on this operation's end."""
    if trigger.trailing:
        if (trigger.offset is not None and trigger.offset <= 0) or (trigger.rate is not None and trigger.rate <= 0):
            raise OrderError(RejectReason.PRICE_FILTER, "trailing distance must be positive")
    elif trigger.price is None or trigger.price <= 0:
        raise OrderError(RejectReason.PRICE_FILTER, "trigger price required")
    market.place(
        account,
        symbol,
        side,
        type,
        qty,
        price,
        tif,
        client_id=client_id,
        stp=None,
        validate_only=True,
        check_funds=check_funds,
    )
    now = reference(market, symbol, trigger.ref)
    if reject_crossed and not trigger.trailing and now is not None and trigger.price is not None:
        if crossed(trigger.direction, trigger.price, now):
            raise OrderError(RejectReason.WOULD_TRIGGER_IMMEDIATELY, f"trigger price {trigger.price}, now {now}")
    ts = market.exchange.now_ms()
    market._seq += 1
    order = Order(
        order_id=market._new_order_id(),
        client_id=client_id or f"sim-{market._next_order_id}",
        account_id=account.account_id,
        market=market.name,
        symbol=symbol,
        side=side,
        type=type,
        tif=tif if type is OrderType.LIMIT else TimeInForce.IOC,
        price=price if type is OrderType.LIMIT else None,
        qty=qty,
        created_ms=ts,
        updated_ms=ts,
        stp=market.default_stp,
        reduce_only=reduce_only,
        seq=market._seq,
        status=OrderStatus.UNTRIGGERED,
        extra=extra or {},
        trigger=trigger,
    )
    market.orders[order.order_id] = order
    market._by_client[(order.account_id, symbol, order.client_id)] = order
    market.armed.setdefault(symbol, {})[order.order_id] = order
    if trigger.trailing:
        _trail(trigger, now)
    market._emit(OrderEvent(market.name, order, ExecType.NEW))
    market._finish(symbol)
    return order


def armed_orders(market: Market, account: Account, symbol: str | None = None) -> list[Order]:
    """The account's conditional orders waiting for their trigger, oldest first."""
    symbols = [symbol] if symbol is not None else list(market.armed)
    return [o for s in symbols for o in market.armed.get(s, {}).values() if o.account_id == account.account_id]


def amend(
    market: Market,
    order: Order,
    qty: Decimal | None = None,
    price: Decimal | None = None,
    trigger_price: Decimal | None = None,
    offset: Decimal | None = None,
    new_client_id: str | None = None,
) -> Order:
    """Change an armed conditional order's quantity, limit price, level, trailing distance or client id (event
    ``AMENDED``). A fixed level moved beyond the reference fires on this operation's end."""
    if order.status is not OrderStatus.UNTRIGGERED or order.trigger is None:
        raise OrderError(RejectReason.ORDER_NOT_OPEN, f"order is {order.status}")
    inst = market.instrument(order.symbol)
    if qty is not None:
        market.check_qty(inst, qty, market=order.type is OrderType.MARKET)
    if price is not None:
        if order.type is not OrderType.LIMIT:
            raise OrderError(RejectReason.INVALID_AMEND, "a market conditional order has no price")
        market.check_price(inst, price)
    if (trigger_price is not None and trigger_price <= 0) or (offset is not None and offset <= 0):
        raise OrderError(RejectReason.PRICE_FILTER, "trigger price and offset must be positive")
    if qty is not None:
        order.qty = qty
    if price is not None:
        order.price = price
    trigger = order.trigger
    if trigger_price is not None and not trigger.trailing:
        trigger.price = trigger_price
    if offset is not None and trigger.trailing:
        trigger.offset, trigger.rate, trigger.price = offset, None, None
        _trail(trigger, reference(market, order.symbol, trigger.ref))
    if new_client_id:
        market.rename(order, new_client_id)
    order.amend_count += 1
    order.updated_ms = market.exchange.now_ms()
    market._emit(OrderEvent(market.name, order, ExecType.AMENDED))
    market._finish(order.symbol)
    return order


def _trail(trigger: Trigger, price: Decimal | None) -> None:
    """Follow ``price`` with a trailing trigger: activate it, move its extreme and level (tighten only)."""
    if price is None:
        return
    rise = trigger.direction is Direction.RISE
    if trigger.extreme is None:
        if trigger.activation is not None:
            toward = trigger.activation_direction or (Direction.FALL if rise else Direction.RISE)
            if not crossed(toward, trigger.activation, price):
                return  # not active yet (by default a buy trail starts once the price fell to it, a sell once it rose)
        trigger.extreme = price
    elif price < trigger.extreme if rise else price > trigger.extreme:
        trigger.extreme = price
    else:
        return
    extreme = trigger.extreme
    if trigger.offset is not None:
        level = extreme + trigger.offset if rise else extreme - trigger.offset
    else:
        rate = trigger.rate if trigger.rate is not None else Decimal(0)
        level = extreme * (ONE + rate) if rise else extreme * (ONE - rate)
    trigger.price = level


def _due(market: Market, order: Order) -> Decimal | None:
    """The reference price that fires ``order`` now, else None (moving a trailing level first)."""
    trigger = order.trigger
    assert trigger is not None
    price = reference(market, order.symbol, trigger.ref)
    if price is None:
        return None
    if trigger.trailing:
        was_active = trigger.extreme is not None
        _trail(trigger, price)
        if not was_active or trigger.price is None:
            return None  # activated now: the level is measured from here
    if trigger.price is not None and crossed(trigger.direction, trigger.price, price):
        return price
    return None


def fire(market: Market, symbol: str) -> None:
    """Fire every armed order of ``symbol`` whose trigger is due, oldest first, until none is (an order
    that fires and trades moves the prices the others read)."""
    armed = market.armed[symbol]
    market.firing = True
    try:
        while armed:
            for order in list(armed.values()):
                price = _due(market, order)
                if price is not None:
                    _fire_one(market, order, price)
                    break
            else:
                return
    finally:
        market.firing = False


def _fire_one(market: Market, order: Order, price: Decimal) -> None:
    trigger = order.trigger
    assert trigger is not None
    market.armed[order.symbol].pop(order.order_id, None)
    account = market.exchange.accounts[order.account_id]
    inst = market.instruments[order.symbol]
    now = market.exchange.now_ms()
    trigger.fired_ms, trigger.fired_price = now, price
    order.updated_ms = now
    if trigger.spawn:
        order.status = OrderStatus.TRIGGERED
        market._retire(order)
        market._emit(OrderEvent(market.name, order, ExecType.TRIGGERED))
        try:
            trigger.child = market.place(
                account,
                order.symbol,
                order.side,
                order.type,
                order.qty,
                order.price,
                order.tif,
                client_id=str(order.extra.get("child_client_id", "")),
                reduce_only=order.reduce_only,
                extra={**order.extra.get("child_extra", {}), "parent": order},
            )
        except OrderError as e:
            order.status = OrderStatus.REJECTED
            order.expire_reason = str(e.reason)
            market._emit(OrderEvent(market.name, order, ExecType.REJECTED))
        return
    wallet = account.wallet(market.name)
    try:
        if order.reduce_only and not market._reducible(order):
            raise OrderError(RejectReason.REDUCE_ONLY, "reduce-only order would increase position")
        reserve = market._reserve_needed(
            inst, wallet, order.side, order.type, order.qty, order.price, None, order.reduce_only
        )
    except OrderError as e:
        order.status = OrderStatus.REJECTED
        order.expire_reason = str(e.reason)
        market._retire(order)
        market._emit(OrderEvent(market.name, order, ExecType.REJECTED))
        return
    order.status = OrderStatus.NEW
    market._seq += 1
    order.seq = market._seq
    order.locked = reserve
    market._lock(inst, wallet, order, reserve)
    market._open_by_account.setdefault(order.account_id, {})[order.order_id] = order
    market._emit(OrderEvent(market.name, order, ExecType.TRIGGERED))
    market.execute(inst, market.books[order.symbol], order)
    market._finish(order.symbol)


def hold(market: Market, order: Order) -> None:
    """Keep an armed order ``UNTRIGGERED`` but off the trigger evaluation: a linked order's secondary
    (Deribit-style ``otoco_config``) waits for its primary's fill, not for a price."""
    market.armed.get(order.symbol, {}).pop(order.order_id, None)


def release(market: Market, order: Order, trigger: Trigger | None) -> None:
    """Put a held order back on the evaluation: with its own ``trigger`` (a secondary stop / take order,
    fired by its price), or, without one (a secondary limit / market order), placed now (a trigger that is
    due on any last price: its primary has just traded, so the symbol has one)."""
    if order.status is not OrderStatus.UNTRIGGERED:
        return
    order.trigger = trigger if trigger is not None else Trigger(Direction.RISE, Decimal(0), TriggerRef.LAST)
    market.armed.setdefault(order.symbol, {})[order.order_id] = order
    market._finish(order.symbol)
