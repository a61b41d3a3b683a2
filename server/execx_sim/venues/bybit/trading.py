"""Order entry shared by REST and the websocket order-entry host: Bybit's parameter rules
(``../shared/venues/bybit.md`` §3-§4) in front of the matching engine.

Every method takes the request object (JSON values as sent) and returns the ``result`` object, or
raises ``BybitError``. Post-only orders that would cross are accepted and then cancelled by the
engine (``PostOnlyCross.CANCEL``): the answer is an ordinary acknowledgement and the order topic
shows ``Cancelled`` with ``EC_PostOnlyWillTakeLiquidity``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from ...core import conditional
from ...core.accounts import Account
from ...core.engine import Market
from ...core.faults import Faults
from ...core.types import (
    ZERO,
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
from . import errors, wire
from .errors import BybitError
from .instruments import CATEGORIES, CATEGORY_OF

LINK_RE = re.compile(r"[A-Za-z0-9_-]{1,36}")
DECIMAL_RE = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
TRIGGER_BY = {"LastPrice": TriggerRef.LAST, "MarkPrice": TriggerRef.MARK, "IndexPrice": TriggerRef.INDEX}
SPOT_ORDER_FILTERS = ("Order", "tpslOrder", "StopOrder")  # spot's orderFilter (v5 create / cancel order)
BATCH_MAX = {"spot": 10, "linear": 20, "inverse": 20, "option": 20}
MARGIN_LEVERAGE = Decimal(2)  # spot margin: borrowing up to twice the spot wallet's value (simulator rule)


def text(req: dict[str, Any], key: str, required: bool = False) -> str:
    value = req.get(key)
    if value is None or value == "":
        if required:
            raise errors.param(f"{key} is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise errors.param(f"{key} invalid")
    return str(value)


def decimal(req: dict[str, Any], key: str, required: bool = False) -> Decimal | None:
    raw = text(req, key, required)
    if not raw:
        return None
    if not DECIMAL_RE.fullmatch(raw):
        raise errors.param(f"{key} invalid")
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise errors.param(f"{key} invalid") from None


def flag(req: dict[str, Any], key: str) -> bool:
    value = req.get(key)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1"):
        return True
    if str(value).lower() in ("false", "0"):
        return False
    raise errors.param(f"{key} invalid")


def category_of(req: dict[str, Any]) -> str:
    category = text(req, "category", required=True)
    if category not in CATEGORIES:
        raise errors.param(f"category {category!r} invalid; one of spot, linear, inverse, option")
    return category


class Trading:
    """Place / amend / cancel on the Bybit markets (one engine market per category)."""

    def __init__(self, markets: dict[str, Market], faults: Callable[[str], Faults], now_ms: Callable[[], int]) -> None:
        self.markets = markets
        self.faults = faults
        self.now_ms = now_ms
        self.borrowed: dict[tuple[str, str], Decimal] = {}  # (account id, coin) -> spot margin liability

    def borrowed_of(self, account_id: str) -> dict[str, Decimal]:
        return {coin: amount for (acct, coin), amount in self.borrowed.items() if acct == account_id and amount}

    def market(self, category: str) -> Market:
        return self.markets[category]

    # ------------------------------------------------------------------ lookups

    def find(self, account: Account, category: str, req: dict[str, Any]) -> Order:
        """The order named by ``orderId`` (wins) or ``orderLinkId``."""
        market = self.market(category)
        symbol = text(req, "symbol", required=True)
        if symbol not in market.instruments:
            raise errors.param("symbol invalid")
        oid, link = text(req, "orderId"), text(req, "orderLinkId")
        if not oid and not link:
            raise errors.param("orderId or orderLinkId is required")
        try:
            if oid:
                engine_id = wire.engine_order_id(category, oid)
                if engine_id is None:
                    raise errors.not_found(category == "spot")
                return market.find_order(account, symbol, order_id=engine_id)
            return market.find_order(account, symbol, client_id=link)
        except OrderError as e:
            raise errors.from_engine(e, category == "spot") from None

    def ack(self, category: str, o: Order) -> dict[str, Any]:
        return {"orderId": wire.order_id(category, o.order_id), "orderLinkId": wire.link_id(o)}

    # ------------------------------------------------------------------ entry

    def create(self, account: Account, category: str, req: dict[str, Any]) -> Order:
        market = self.market(category)
        spot = category == "spot"
        symbol = text(req, "symbol", required=True)
        if symbol not in market.instruments:
            raise errors.param("symbol invalid")
        side = wire.SIDE_IN.get(text(req, "side", required=True))
        if side is None:
            raise errors.param("side invalid")
        order_type = text(req, "orderType", required=True)
        if order_type not in ("Market", "Limit"):
            raise errors.param("orderType invalid")
        qty = decimal(req, "qty", required=True)
        assert qty is not None
        if qty <= 0:
            raise errors.param("qty invalid")
        price = decimal(req, "price")
        tif_text = text(req, "timeInForce") or "GTC"
        tif = wire.TIF_IN.get(tif_text)
        if tif is None:
            raise errors.param(f"timeInForce {tif_text} invalid")
        link = text(req, "orderLinkId")
        if category == "option" and not link:
            raise errors.param("orderLinkId is required for options")
        if link and not LINK_RE.fullmatch(link):
            raise errors.param("orderLinkId invalid: 1-36 characters of A-Z a-z 0-9 - _")
        if link and self._link_used(market, account, link):
            raise errors.duplicate_link(spot)
        position_idx = text(req, "positionIdx") or "0"
        if position_idx != "0":
            raise errors.param("position idx not match position mode")
        reduce_only = flag(req, "reduceOnly")
        if reduce_only and spot:
            raise errors.param("reduceOnly is not supported for spot")
        is_leverage = text(req, "isLeverage") or "0"
        if is_leverage not in ("0", "1") or (is_leverage == "1" and not spot):
            raise errors.param("isLeverage invalid")
        market_unit = text(req, "marketUnit")
        if market_unit not in ("", "baseCoin", "quoteCoin"):
            raise errors.param("marketUnit invalid")
        faults = self.faults(category)
        if faults.take("reject_orders"):
            raise BybitError(errors.SPOT_BALANCE if spot else errors.PARAM, faults.reject_message)
        extra: dict[str, Any] = {"link": link, "isLeverage": is_leverage, "marketUnit": market_unit}
        engine_type = OrderType.MARKET if order_type == "Market" else OrderType.LIMIT
        quote_qty = None
        if engine_type is OrderType.MARKET:
            price = None
            if tif is TimeInForce.GTX:
                raise errors.param("PostOnly is for limit orders")
            tif = TimeInForce.IOC
            # Spot market buys are sized in the quote coin unless marketUnit=baseCoin (docs: create order).
            if spot and side.value == "BUY" and market_unit != "baseCoin":
                quote_qty, extra["marketUnit"] = qty, "quoteCoin"
        elif price is None:
            raise errors.param("price is required for limit orders")
        trigger_price = decimal(req, "triggerPrice")
        if spot:
            order_filter = text(req, "orderFilter") or "Order"
            if order_filter not in SPOT_ORDER_FILTERS:
                raise errors.order_filter()
            if order_filter == "tpslOrder":
                raise errors.param("orderFilter tpslOrder: spot TP/SL orders are not simulated (StopOrder is)")
            if (order_filter == "StopOrder") != (trigger_price is not None):
                raise errors.param("triggerPrice goes with orderFilter=StopOrder on spot, and StopOrder needs it")
            if trigger_price is not None and quote_qty is not None:
                raise errors.param("a spot conditional market buy is sized in the base coin here (marketUnit=baseCoin)")
            if trigger_price is not None and is_leverage == "1":
                raise errors.param("isLeverage: spot margin conditional orders are not simulated")
        if trigger_price is not None:
            return self._conditional(account, market, req, symbol, side, engine_type, qty, price, tif, link, extra)
        loan = self._borrow(account, market, symbol, side, qty, price, quote_qty) if is_leverage == "1" else None
        try:
            return market.place(
                account,
                symbol,
                side,
                engine_type,
                qty,
                price,
                tif,
                client_id=link,
                quote_qty=quote_qty,
                reduce_only=reduce_only,
                extra=extra,
            )
        except OrderError as e:
            if loan is not None:  # refused: nothing stays borrowed for it
                coin, amount = loan
                self.borrowed[(account.account_id, coin)] -= amount
                wallet = account.wallet(market.name)
                market.adjust_balance(account, coin, wallet.balance(coin).free - amount)
            raise errors.from_engine(e, spot) from None

    def _conditional(
        self,
        account: Account,
        market: Market,
        req: dict[str, Any],
        symbol: str,
        side: Side,
        engine_type: OrderType,
        qty: Decimal,
        price: Decimal | None,
        tif: TimeInForce,
        link: str,
        extra: dict[str, Any],
    ) -> Order:
        """A conditional order (``triggerPrice``, v5 create order). Derivatives: ``triggerDirection`` 1 (fires
        when the ``triggerBy`` price rises to the trigger price) or 2 (falls to it); a trigger price already on
        the wrong side of the market is refused (110092 / 110093). Spot (``orderFilter=StopOrder``):
        ``triggerDirection`` and ``triggerBy`` are derivatives' parameters (ignored); it watches the last price
        and its direction is where the trigger price stands against the last price at creation (above: fires
        when the price rises to it; below: when it falls to it; ``lastPriceOnCreated`` on its rows); nothing is
        occupied until it fires. Status ``Untriggered`` until it fires, then ``Triggered`` → ``New`` under the
        same orderId."""
        category = CATEGORY_OF[market.name]
        if category not in ("linear", "inverse", "spot"):
            raise errors.param("triggerPrice: conditional orders are simulated for spot, linear and inverse only")
        trigger_price = decimal(req, "triggerPrice")
        assert trigger_price is not None
        if trigger_price <= 0:
            raise errors.param("triggerPrice invalid")
        spot = category == "spot"
        trigger = (
            self._spot_trigger(market, symbol, trigger_price, extra)
            if spot
            else self._derivative_trigger(market, req, symbol, trigger_price, extra)
        )
        try:
            return conditional.arm(
                market,
                account,
                symbol,
                side,
                engine_type,
                qty,
                trigger,
                price,
                tif,
                client_id=link,
                reduce_only=flag(req, "reduceOnly"),
                extra=extra,
                reject_crossed=False,
            )
        except OrderError as e:
            raise errors.from_engine(e, spot) from None

    def _spot_trigger(self, market: Market, symbol: str, trigger_price: Decimal, extra: dict[str, Any]) -> Trigger:
        """Spot: on the last price, rising to a trigger price above the last price, falling to one below."""
        last = conditional.reference(market, symbol, TriggerRef.LAST)
        if last is None:
            last = market.mark_price(symbol)
        if trigger_price == last:
            raise errors.param(f"triggerPrice {wire.num(trigger_price)} equals the last price")
        extra.update(triggerBy="LastPrice", lastPriceOnCreated=wire.num(last), stopOrderType="StopOrder")
        return Trigger(Direction.RISE if trigger_price > last else Direction.FALL, trigger_price, TriggerRef.LAST)

    def _derivative_trigger(
        self, market: Market, req: dict[str, Any], symbol: str, trigger_price: Decimal, extra: dict[str, Any]
    ) -> Trigger:
        """Linear / inverse: ``triggerDirection`` and ``triggerBy``, the level on the side it says."""
        direction = req.get("triggerDirection")
        if direction not in (1, 2, "1", "2"):
            raise errors.param("TriggerDirection invalid")
        by = text(req, "triggerBy") or "LastPrice"
        ref = TRIGGER_BY.get(by)
        if ref is None:
            raise errors.param("triggerBy invalid")
        rise = str(direction) == "1"
        now = conditional.reference(market, symbol, ref)
        if now is None:
            now = market.mark_price(symbol)
        if rise and trigger_price <= now:
            raise BybitError(
                errors.EXPECT_RISING,
                f"expect Rising, but trigger_price[{wire.num(trigger_price)}] <= current[{wire.num(now)}]??{by}",
            )
        if not rise and trigger_price >= now:
            raise BybitError(
                errors.EXPECT_FALLING,
                f"expect Falling, but trigger_price[{wire.num(trigger_price)}] >= current[{wire.num(now)}]??{by}",
            )
        extra["triggerBy"] = by
        extra["closeOnTrigger"] = flag(req, "closeOnTrigger")
        return Trigger(Direction.RISE if rise else Direction.FALL, trigger_price, ref)

    def _borrow(
        self,
        account: Account,
        market: Market,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal | None,
        quote_qty: Decimal | None,
    ) -> tuple[str, Decimal] | None:
        """Spot margin (``isLeverage=1``): borrow, at order entry, what the order needs beyond the free
        balance, while all liabilities stay within ``MARGIN_LEVERAGE`` times the spot wallet's value
        (in USDT at mark prices). Beyond that nothing is borrowed and the engine refuses the order
        (170131). Liabilities show as ``borrowAmount`` in the wallet; they are not repaid automatically."""
        inst = market.instruments[symbol]
        wallet = account.wallet(market.name)
        if side is Side.BUY:
            coin = inst.quote
            need = quote_qty if quote_qty is not None else qty * (price or market.mark_price(symbol))
        else:
            coin, need = inst.base, qty
        short = need - wallet.balance(coin).free
        if short <= 0:
            return None

        def usdt(c: str, amount: Decimal) -> Decimal:
            pair = f"{c}{inst.quote}"
            return (
                amount if c == inst.quote else amount * market.mark_price(pair) if pair in market.instruments else ZERO
            )

        owed = self.borrowed_of(account.account_id)
        equity = sum((usdt(c, b.total) for c, b in wallet.balances.items()), ZERO)
        equity -= sum((usdt(c, a) for c, a in owed.items()), ZERO)
        if sum((usdt(c, a) for c, a in owed.items()), ZERO) + usdt(coin, short) > equity * MARGIN_LEVERAGE:
            return None
        key = (account.account_id, coin)
        self.borrowed[key] = self.borrowed.get(key, ZERO) + short
        market.adjust_balance(account, coin, wallet.balance(coin).free + short)
        return coin, short

    def _link_used(self, market: Market, account: Account, link: str) -> bool:
        """orderLinkId must be unique per account (open and closed orders alike)."""
        for symbol in market.instruments:
            try:
                market.find_order(account, symbol, client_id=link)
            except OrderError:
                continue
            return True
        return False

    def amend(self, account: Account, category: str, req: dict[str, Any]) -> Order:
        order = self.find(account, category, req)
        qty, price = decimal(req, "qty"), decimal(req, "price")
        trigger_price = decimal(req, "triggerPrice")
        if order.status is OrderStatus.UNTRIGGERED:
            if qty is None and price is None and trigger_price is None:
                raise errors.param("The order remains unchanged as the parameters entered match the existing ones.")
            try:
                return conditional.amend(self.market(category), order, qty, price, trigger_price)
            except OrderError as e:
                raise errors.from_engine(e, False) from None
        if qty is None and price is None:
            raise errors.param("The order remains unchanged as the parameters entered match the existing ones.")
        if not order.is_open:
            raise errors.not_found(category == "spot")
        if qty is not None and qty <= order.filled:
            raise BybitError(
                errors.AMEND_BELOW_FILLED,
                "The number of contracts modified cannot be less than or equal to the filled quantity",
            )
        try:
            return self.market(category).amend(
                account, order.symbol, order_id=order.order_id, new_qty=qty, new_price=price
            )
        except OrderError as e:
            raise errors.from_engine(e, category == "spot") from None

    def cancel(self, account: Account, category: str, req: dict[str, Any]) -> Order:
        order = self.find(account, category, req)
        if category == "spot":
            # spot's orderFilter (Order by default) says which kind of order is cancelled: a conditional order
            # waiting for its trigger only under StopOrder, an order on the book (a fired one too) under Order
            order_filter = text(req, "orderFilter") or "Order"
            if order_filter not in SPOT_ORDER_FILTERS:
                raise errors.order_filter()
            if order_filter != ("StopOrder" if order.status is OrderStatus.UNTRIGGERED else "Order"):
                raise errors.not_found(True)
        try:
            return self.market(category).cancel(account, order.symbol, order_id=order.order_id)
        except OrderError as e:
            raise errors.from_engine(e, category == "spot") from None

    def cancel_all(self, account: Account, category: str, req: dict[str, Any]) -> list[Order]:
        """By ``symbol``, else ``baseCoin``, else ``settleCoin``; linear/inverse need one of them."""
        market = self.market(category)
        symbol, base, settle = text(req, "symbol"), text(req, "baseCoin"), text(req, "settleCoin")
        if category in ("linear", "inverse") and not (symbol or base or settle):
            raise errors.param("symbol, baseCoin or settleCoin is required")
        if symbol and symbol not in market.instruments:
            raise errors.param("symbol invalid")
        symbols = [
            s
            for s, inst in market.instruments.items()
            if (s == symbol if symbol else (inst.base == base if base else (not settle or inst.settle == settle)))
        ]
        order_filter = text(req, "orderFilter")
        cancelled: list[Order] = []
        for s in symbols:
            if order_filter != "StopOrder":
                cancelled.extend(market.cancel_all(account, s))
            if order_filter in ("", "StopOrder"):  # conditional orders too, unless orderFilter=Order
                for o in conditional.armed_orders(market, account, s):
                    cancelled.append(market.cancel(account, s, order_id=o.order_id))
        return cancelled

    def batch(
        self, account: Account, category: str, body: dict[str, Any], op: Callable[[Account, str, dict[str, Any]], Order]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``result.list`` and ``retExtInfo.list``, item by item in request order (one failing does not
        stop the others)."""
        items = body.get("request")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise errors.param("request must be a non-empty list of orders")
        if len(items) > BATCH_MAX[category]:
            raise errors.param(f"batch size exceeds the limit of {BATCH_MAX[category]} for {category}")
        results: list[dict[str, Any]] = []
        infos: list[dict[str, Any]] = []
        for item in items:
            try:
                o = op(account, category, item)
                results.append(
                    {"category": category, "symbol": o.symbol, **self.ack(category, o), "createAt": str(o.created_ms)}
                )
                infos.append({"code": 0, "msg": "OK"})
            except BybitError as e:
                results.append(
                    {
                        "category": category,
                        "symbol": str(item.get("symbol", "")),
                        "orderId": "",
                        "orderLinkId": str(item.get("orderLinkId", "")),
                        "createAt": "",
                    }
                )
                infos.append({"code": e.code, "msg": e.msg})
        return results, infos
