"""Binance spot order lists: ``POST /api/v3/orderList/oco`` (WebSocket API ``orderList.place.oco``), rest-api.md
"New Order list - OCO".

An OCO is two orders of one side and quantity, an *above* and a *below* leg (a SELL: a LIMIT_MAKER or
TAKE_PROFIT(_LIMIT) above the last price, a STOP_LOSS(_LIMIT) below it; a BUY the mirror). Each leg is an
ordinary spot order (same validation, same engine order, its ``orderListId`` set); the list is placed only if
both legs pass. When one leg trades, fires (a stop reaching its stop price) or ends (cancelled, expired), the
other is cancelled and the list is ``ALL_DONE``; cancelling either leg cancels the list. ``listStatus`` user
data events say so (``EXEC_STARTED`` / ``EXECUTING`` when placed, ``ALL_DONE`` / ``ALL_DONE`` at the end).
OTO and OTOCO (``orderList/oto``, ``/otoco``) are not served.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...core.accounts import Account
from ...core.types import ExecType, Order, OrderEvent, OrderStatus
from .errors import BinanceError
from .rest_common import Params
from .spot_wire import order_result

if TYPE_CHECKING:
    from .spot_trading import OrderSpec, SpotTrading

LEG_FIELDS = ("Type", "ClientOrderId", "Price", "StopPrice", "TrailingDelta", "TimeInForce", "IcebergQty")
# (side, leg) -> the types the leg may have (rest-api.md, "aboveType" / "belowType")
LEG_TYPES = {
    ("SELL", "above"): ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"),
    ("SELL", "below"): ("STOP_LOSS", "STOP_LOSS_LIMIT"),
    ("BUY", "above"): ("STOP_LOSS", "STOP_LOSS_LIMIT"),
    ("BUY", "below"): ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"),
}
BAD_PRICES = "The relationship of the prices for the orders is not correct."


@dataclass(slots=True, eq=False)
class OrderList:
    list_id: int
    client_id: str
    symbol: str
    account_id: str
    orders: list[Order]
    done: bool = False
    transaction_ms: int = 0


class OrderLists:
    def __init__(self, trading: SpotTrading) -> None:
        self.trading = trading
        self.lists: dict[int, OrderList] = {}
        self._next_id = 0
        # set by the front-end: (account id, listStatus event) to the account's user data subscribers
        self.publish: Callable[[str, dict[str, Any]], None] = lambda account_id, event: None

    def _leg(self, p: Params, prefix: str, side: str, quantity: str) -> Params:
        values = {"symbol": p.str("symbol"), "side": side, "quantity": quantity, "newOrderRespType": "RESULT"}
        for name in LEG_FIELDS:
            key = prefix + name
            if key in p:
                target = "newClientOrderId" if name == "ClientOrderId" else name[0].lower() + name[1:]
                values[target] = p.str(key)
        values["type"] = p.str(prefix + "Type", required=True)
        if "selfTradePreventionMode" in p:
            values["selfTradePreventionMode"] = p.str("selfTradePreventionMode")
        return Params(values)

    def _level(self, spec: OrderSpec) -> Decimal | None:
        """The leg's price on the book side of the rule: its stop price for a contingent type, else its price."""
        return spec.stop_price if spec.contingent else spec.price

    async def place_oco(self, account: Account, p: Params) -> tuple[dict[str, Any], dict[str, str]]:
        trading = self.trading
        inst = trading.instrument(p)
        side = p.enum("side", ("BUY", "SELL"), required=True)
        quantity = p.str("quantity", required=True)
        list_cid = p.str("listClientOrderId") or ""
        specs = []
        for leg in ("above", "below"):
            leg_type = p.str(leg + "Type", required=True)
            if leg_type not in LEG_TYPES[(side, leg)]:
                raise BinanceError(
                    -1102 if not leg_type else -1130, f"Data sent for parameter '{leg}Type' is not valid."
                )
            specs.append(trading.parse_order(self._leg(p, leg, side, quantity)))
        above, below = specs
        last = trading.market.last_price.get(inst.symbol)
        hi, lo = self._level(above), self._level(below)
        if hi is None or lo is None or hi <= lo or (last is not None and not lo < last < hi):
            raise BinanceError(-2010, BAD_PRICES)
        for spec in specs:  # both legs valid before either is placed
            trading.prefilter(spec)
            trading._engine_place(account, spec, validate_only=True)
        if above.client_id == below.client_id:
            raise BinanceError(-2010, "Duplicate order sent.")
        trading.limiter.take("ORDERS", account.account_id)  # two orders
        counts = trading.limiter.take("ORDERS", account.account_id)
        self._next_id += 1
        lst = OrderList(self._next_id, list_cid or trading_new_client_id(), inst.symbol, account.account_id, [])
        lst.transaction_ms = trading.now()
        self.lists[lst.list_id] = lst
        for spec in (below, above):  # Binance reports the below leg first
            order, _ = trading._engine_place(account, spec, order_list_id=lst.list_id)
            lst.orders.append(order)
        self.publish(account.account_id, self.list_status(lst, "EXEC_STARTED", "EXECUTING"))
        for order in lst.orders:  # a leg that ended at placement (an IOC limit leg): the list ends
            if not order.is_open and order.status is not OrderStatus.UNTRIGGERED:
                self._end_soon(lst, order)
        return self.response(lst, "EXEC_STARTED", "EXECUTING"), counts

    def response(self, lst: OrderList, list_status: str, order_status: str) -> dict[str, Any]:
        return {
            "orderListId": lst.list_id,
            "contingencyType": "OCO",
            "listStatusType": list_status,
            "listOrderStatus": order_status,
            "listClientOrderId": lst.client_id,
            "transactionTime": lst.transaction_ms,
            "symbol": lst.symbol,
            "orders": [{"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_id} for o in lst.orders],
            "orderReports": [order_result(o) for o in lst.orders],
        }

    def list_status(self, lst: OrderList, list_status: str, order_status: str) -> dict[str, Any]:
        """The ``listStatus`` user data event (user-data-stream.md)."""
        now = self.trading.now()
        return {
            "e": "listStatus",
            "E": now,
            "s": lst.symbol,
            "g": lst.list_id,
            "c": "OCO",
            "l": list_status,
            "L": order_status,
            "r": "NONE",
            "C": lst.client_id,
            "T": now,
            "O": [{"s": o.symbol, "i": o.order_id, "c": o.client_id} for o in lst.orders],
        }

    # ------------------------------------------------------------------ the list's rule

    def on_event(self, ev: OrderEvent) -> None:
        """An engine event of a listed order: a trade, a fire or an end of one leg ends the list."""
        list_id = ev.order.extra.get("order_list_id")
        if list_id is None:
            return
        lst = self.lists.get(int(list_id))
        if lst is None or lst.done or len(lst.orders) < 2:
            return
        if ev.exec_type in (ExecType.TRADE, ExecType.TRIGGERED, ExecType.CANCELED, ExecType.EXPIRED, ExecType.REJECTED):
            self._end_soon(lst, ev.order)

    def _end_soon(self, lst: OrderList, cause: Order) -> None:
        # not inside the engine operation that reported it: cancel once it is over
        lst.done = True
        asyncio.get_running_loop().call_soon(self._end, lst, cause)

    def _end(self, lst: OrderList, cause: Order) -> None:
        """Cancel the leg(s) other than ``cause`` (the one that traded, fired or ended) and say ALL_DONE."""
        market = self.trading.market
        account = market.exchange.accounts[lst.account_id]
        for order in lst.orders:
            if order is not cause and (order.is_open or order.status is OrderStatus.UNTRIGGERED):
                market.cancel(account, lst.symbol, order.order_id)
        self.publish(lst.account_id, self.list_status(lst, "ALL_DONE", "ALL_DONE"))


def trading_new_client_id() -> str:
    from .spot_trading import new_client_id

    return new_client_id()
