"""Binance futures conditional orders on the Algo Order API (``/fapi/v1/algoOrder``, ``/dapi/v1/algoOrder``):
STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET and TRAILING_STOP_MARKET with ``algoType=CONDITIONAL``
(Binance moved them off ``/fapi/v1/order``, which answers -4120; ``shared/venues/binance.md`` §3.3; docs
"New Algo Order", "Event: Algo Order Update").

An algo order is an engine conditional order with a ``spawn`` trigger (core/conditional.py): its id is
``algoId``, ``clientAlgoId`` its client id. ``triggerPrice`` is read on the last trade price
(``workingType=CONTRACT_PRICE``, the default) or the mark price (``MARK_PRICE``); a trailing stop follows
the best price by ``callbackRate`` percent (0.1-10) from ``activatePrice`` (default: at once). A level the
price already reached is refused (-2021 "Order would immediately trigger."). When it fires it places its
order (STOP / TAKE_PROFIT: a limit order at ``price``; the others a market order) under the same client id:
``ALGO_UPDATE`` says ``TRIGGERING``, then ``TRIGGERED`` with the order's id (``ai``), then ``FINISHED``
once that order is done; the order itself has its ``ORDER_TRADE_UPDATE``s. A cancelled one is
``CANCELED``; one that cannot be placed when it fires is ``REJECTED``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...core import conditional
from ...core.accounts import Account
from ...core.types import (
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
from . import errors
from .errors import BinanceError
from .futures_wire import plain
from .rest_common import Params

if TYPE_CHECKING:
    from .futures_frontend import FuturesFrontend

ALGO_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
WORKING = {"CONTRACT_PRICE": TriggerRef.LAST, "MARK_PRICE": TriggerRef.MARK}
HUNDRED = Decimal(100)
_CLIENT_ID = re.compile(r"[\.A-Z\:/a-z0-9_-]{1,36}")


def is_algo(order: Order) -> bool:
    return order.trigger is not None and order.trigger.spawn


def algo_status(order: Order) -> str:
    s = order.status
    if s is OrderStatus.UNTRIGGERED:
        return "NEW"
    if s is OrderStatus.CANCELED:
        return "CANCELED"
    if s is OrderStatus.REJECTED:
        return "REJECTED"
    child = order.trigger.child if order.trigger is not None else None
    if child is None:
        return "TRIGGERING"
    return "TRIGGERED" if child.is_open else "FINISHED"


class AlgoOrders:
    """The Algo Order API of one futures front-end."""

    def __init__(self, fe: FuturesFrontend) -> None:
        self.fe = fe
        self.market = fe.market

    # ------------------------------------------------------------------ wire

    def json(self, o: Order) -> dict[str, Any]:
        """An algo order as the REST answers carry it."""
        t = o.trigger
        assert t is not None
        inst = self.market.instruments[o.symbol]
        child = t.child
        out: dict[str, Any] = {
            "algoId": o.order_id,
            "clientAlgoId": o.client_id,
            "algoType": "CONDITIONAL",
            "orderType": o.extra["algo_type"],
            "symbol": o.symbol,
            "side": o.side.value,
            "positionSide": "BOTH",
            "timeInForce": o.tif.value if o.type is OrderType.LIMIT else "GTC",
            "quantity": plain(o.qty),
            "algoStatus": algo_status(o),
            "triggerPrice": inst.fmt_price(t.price) if t.price is not None and not t.trailing else "0",
            "price": inst.fmt_price(o.price) if o.price is not None else "0",
            "icebergQuantity": None,
            "selfTradePreventionMode": "NONE",
            "workingType": o.extra["working_type"],
            "priceMatch": "NONE",
            "closePosition": False,
            "priceProtect": False,
            "reduceOnly": o.reduce_only,
            "activatePrice": plain(t.activation) if t.activation is not None else "",
            "callbackRate": plain(t.rate * HUNDRED) if t.rate is not None else "",
            "createTime": o.created_ms,
            "updateTime": o.updated_ms,
            "triggerTime": t.fired_ms,
            "goodTillDate": 0,
        }
        if child is not None:
            out["actualOrderId"] = str(child.order_id)
            out["executedQty"] = plain(child.filled)
            out["avgPrice"] = plain(child.avg_price)
        return out

    def update(self, o: Order, now: int) -> dict[str, Any]:
        """``ALGO_UPDATE`` (user data stream)."""
        t = o.trigger
        assert t is not None
        child = t.child
        inst = self.market.instruments[o.symbol]
        body: dict[str, Any] = {
            "caid": o.client_id,
            "aid": o.order_id,
            "at": "CONDITIONAL",
            "o": o.extra["algo_type"],
            "s": o.symbol,
            "S": o.side.value,
            "ps": "BOTH",
            "f": o.tif.value if o.type is OrderType.LIMIT else "GTC",
            "q": plain(o.qty),
            "X": algo_status(o),
            "ai": str(child.order_id) if child is not None else "",
            "ap": plain(child.avg_price) if child is not None else "0",
            "aq": plain(child.filled) if child is not None else "0",
            "act": child.type.value if child is not None else "",
            "tp": inst.fmt_price(t.price) if t.price is not None else "0",
            "p": inst.fmt_price(o.price) if o.price is not None else "0",
            "V": "NONE",
            "wt": o.extra["working_type"],
            "pm": "NONE",
            "cp": False,
            "pP": False,
            "R": o.reduce_only,
            "tt": t.fired_ms,
            "gtd": 0,
            "rm": o.expire_reason if o.status is OrderStatus.REJECTED else "",
        }
        return {"e": "ALGO_UPDATE", "T": o.updated_ms, "E": now, "o": body}

    def on_event(self, event: OrderEvent, account: Account) -> bool:
        """Stream the algo side of an order event: the algo order's own (True: nothing else to send), or
        its child's start and end (False: the child's ORDER_TRADE_UPDATE follows as usual)."""
        o = event.order
        if is_algo(o):
            self.fe.streams.user_event(account.account_id, "ALGO_UPDATE", self.update(o, self.fe.now()))
            return True
        parent = o.extra.get("parent")
        if isinstance(parent, Order) and parent.trigger is not None and parent.trigger.spawn:
            parent.trigger.child = o  # (set by the engine once placing returns; its events come first)
            if event.exec_type is ExecType.NEW or not o.is_open:  # TRIGGERED with its id, then FINISHED
                self.fe.streams.user_event(account.account_id, "ALGO_UPDATE", self.update(parent, self.fe.now()))
        return False

    # ------------------------------------------------------------------ operations

    def place(self, account: Account, params: Params) -> dict[str, Any]:
        """POST algoOrder: validate, arm, answer the algo order."""
        fe = self.fe
        if params.str("algoType", required=True) != "CONDITIONAL":
            raise BinanceError(-1116, "Invalid orderType.")
        symbol = fe.symbol(params)
        side = Side(params.enum("side", ("BUY", "SELL"), required=True))
        if params.enum("positionSide", ("BOTH", "LONG", "SHORT"), default="BOTH") != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        algo_type = params.enum("type", ALGO_TYPES, required=True)
        working = params.enum("workingType", tuple(WORKING), default="CONTRACT_PRICE")
        if params.bool("closePosition"):
            raise BinanceError(-1106, "Parameter 'closePosition' is not supported by the simulator.")
        qty = params.decimal("quantity")
        if qty is None:
            raise errors.mandatory("quantity")
        price = params.decimal("price")
        limit = algo_type in ("STOP", "TAKE_PROFIT")
        if limit and price is None:
            raise errors.mandatory("price")
        if not limit and price is not None:
            raise errors.not_required("price")
        tif = TimeInForce(params.enum("timeInForce", ("GTC", "IOC", "FOK", "GTX"), default="GTC")) if limit else None
        client_id = params.str("clientAlgoId")
        if client_id and not _CLIENT_ID.fullmatch(client_id):
            raise BinanceError(-4015, "Client order id is not valid.")
        fe.trading.check_precision(symbol, qty, price)
        rise = (algo_type.startswith("STOP") or algo_type == "TRAILING_STOP_MARKET") == (side is Side.BUY)
        direction = Direction.RISE if rise else Direction.FALL
        ref = WORKING[working]
        if algo_type == "TRAILING_STOP_MARKET":
            rate = params.decimal("callbackRate")
            if rate is None:
                raise errors.mandatory("callbackRate")
            if not Decimal("0.1") <= rate <= Decimal(10):
                raise BinanceError(-2007, "Invalid callBackRate.")
            trigger = Trigger(direction, None, ref, rate=rate / HUNDRED, activation=params.decimal("activatePrice"))
        else:
            level = params.decimal("triggerPrice")
            if level is None:
                raise errors.mandatory("triggerPrice")
            fe.trading.check_precision(symbol, None, level)
            trigger = Trigger(direction, level, ref)
        trigger.spawn = True
        extra = {"algo_type": algo_type, "working_type": working, "child_client_id": client_id}
        try:
            order = conditional.arm(
                self.market,
                account,
                symbol,
                side,
                OrderType.LIMIT if limit else OrderType.MARKET,
                qty,
                trigger,
                price,
                tif or TimeInForce.GTC,
                client_id=client_id,
                reduce_only=params.bool("reduceOnly"),
                extra=extra,
            )
        except OrderError as e:
            if e.reason is RejectReason.WOULD_TRIGGER_IMMEDIATELY:
                raise BinanceError(-2021, "Order would immediately trigger.") from None
            raise fe.order_error(e, symbol) from None
        if not client_id:
            order.extra["child_client_id"] = order.client_id
        return self.json(order)

    def _find(self, account: Account, params: Params) -> Order:
        algo_id = params.int("algoId")
        client_id = params.str("clientAlgoId")
        if algo_id is None and not client_id:
            raise BinanceError(-1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!")
        for o in self._all(account):
            if (algo_id is not None and o.order_id == algo_id) or (algo_id is None and o.client_id == client_id):
                return o
        raise BinanceError(-2013, "Order does not exist.")

    def _all(self, account: Account, symbol: str | None = None) -> list[Order]:
        return [o for o in self.market.account_orders(account, symbol) if is_algo(o)]

    def cancel(self, account: Account, params: Params) -> dict[str, Any]:
        o = self._find(account, params)
        if o.status is not OrderStatus.UNTRIGGERED:
            raise BinanceError(-2011, "Unknown order sent.")
        self.market.cancel(account, o.symbol, order_id=o.order_id)
        return {"algoId": o.order_id, "clientAlgoId": o.client_id, "code": "200", "msg": "success"}

    def query(self, account: Account, params: Params) -> dict[str, Any]:
        return self.json(self._find(account, params))

    def open_orders(self, account: Account, params: Params) -> list[dict[str, Any]]:
        symbol = self.fe.symbol(params, required=False) or None
        return [self.json(o) for o in conditional.armed_orders(self.market, account, symbol) if is_algo(o)]

    def all_orders(self, account: Account, params: Params) -> list[dict[str, Any]]:
        symbol = self.fe.symbol(params)
        return [self.json(o) for o in self._all(account, symbol)]

    def cancel_all(self, account: Account, params: Params) -> dict[str, Any]:
        symbol = self.fe.symbol(params)
        for o in conditional.armed_orders(self.market, account, symbol):
            if is_algo(o):
                self.market.cancel(account, symbol, order_id=o.order_id)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}
