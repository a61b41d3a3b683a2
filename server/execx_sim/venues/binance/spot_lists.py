"""Binance spot order lists (rest-api.md and web-socket-api.md, "Order lists"): OCO, OTO and OTOCO.

- **OCO** (``POST /api/v3/orderList/oco``, ``orderList.place.oco``): two orders of one side and quantity, an
  *above* and a *below* leg (a SELL: a LIMIT_MAKER or TAKE_PROFIT(_LIMIT) above the last price, a
  STOP_LOSS(_LIMIT) below it; a BUY the mirror). When one leg trades, fires (a stop reaching its stop price)
  or ends, the other is expired (``eR`` ``OCO_TRIGGER``) and the list is ``ALL_DONE``.
- **OTO** (``/oto``, ``orderList.place.oto``): a *working* order (LIMIT or LIMIT_MAKER, ``working*``
  parameters) on the book, and a *pending* order (any type, ``pending*``) that exists from the start with
  status ``PENDING_NEW`` and is placed when the working order is **fully filled** (then reported ``NEW``,
  a contingent type waiting for its stop price from there). Placing it ends the list (``ALL_DONE``). A
  working order that expires (IOC, FOK, STP) expires the pending one (``eR`` ``OTO_PHASE_ONE_EXPIRED``).
- **OTOCO** (``/otoco``, ``orderList.place.otoco``): a working order and a pending OCO pair
  (``pendingAbove*`` / ``pendingBelow*``, one ``pendingSide`` and ``pendingQuantity``), placed together when
  the working order is fully filled (a ``listStatus`` update), from then on an OCO. Its contingency type is
  ``OTO`` (enums.md lists OCO and OTO only; the OTOCO response example says ``OTO``).

Every order of a list is an ordinary spot order (same validation, same engine order, ``orderListId`` set);
the list is placed only if all of them pass (the pending ones' funds are checked when they are placed).
Cancelling one order of a list (``DELETE /api/v3/order``) cancels the list; ``DELETE /api/v3/orderList``
(``orderList.cancel``) cancels it by ``orderListId`` or ``listClientOrderId``. ``GET /api/v3/orderList``
(``orderList.status``), ``openOrderList`` (``openOrderLists.status``) and ``allOrderList`` (``allOrderLists``)
answer the list objects. ``listStatus`` user data events say when a list is placed (``EXEC_STARTED`` /
``EXECUTING``), updated (its pending orders placed) and done (``ALL_DONE`` / ``ALL_DONE``).

The engine changes a list makes in answer to an engine event (releasing or ending orders) run once the
operation that reported it is over (``loop.call_soon``), never inside matching.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...core import conditional
from ...core.accounts import Account
from ...core.types import (
    Direction,
    ExecType,
    Fill,
    Order,
    OrderError,
    OrderEvent,
    OrderStatus,
    OrderType,
    TimeInForce,
    Trigger,
)
from .errors import BinanceError
from .rest_common import Params
from .spot_wire import cancel_response, order_response

if TYPE_CHECKING:
    from .spot_trading import OrderSpec, SpotTrading

# the wire parameters of one order of a list, after its prefix ("above", "working", "pendingBelow", ...)
LEG_FIELDS = (
    "Type",
    "ClientOrderId",
    "Price",
    "StopPrice",
    "TrailingDelta",
    "TimeInForce",
    "IcebergQty",
    "PegPriceType",
)
# (side, leg) -> the types the leg may have (rest-api.md, "aboveType" / "belowType")
LEG_TYPES = {
    ("SELL", "above"): ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"),
    ("SELL", "below"): ("STOP_LOSS", "STOP_LOSS_LIMIT"),
    ("BUY", "above"): ("STOP_LOSS", "STOP_LOSS_LIMIT"),
    ("BUY", "below"): ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"),
}
WORKING_TYPES = ("LIMIT", "LIMIT_MAKER")
SIDES = ("BUY", "SELL")
RESP_TYPES = ("ACK", "RESULT", "FULL")
BAD_PRICES = "The relationship of the prices for the orders is not correct."
NEVER = Decimal("1e30")  # a held pending order's trigger level: it is released by its list, never by a price
INTEGRAL_DECIMAL = re.compile(r"^[0-9]{1,20}\.0+$")
DONE_KEPT = 10_000
# the list object of an amend's answer (rest-api.md, "Order Amend Keep Priority")
AMEND_LIST_FIELDS = (
    "orderListId",
    "contingencyType",
    "listOrderStatus",
    "listClientOrderId",
    "symbol",
    "orders",
)  # finished lists kept for the queries (the engine's history window keeps their orders)


@dataclass(slots=True, eq=False)
class OrderList:
    list_id: int
    kind: str  # "OCO", "OTO" or "OTOCO"
    client_id: str
    symbol: str
    account_id: str
    orders: list[Order] = field(default_factory=list)  # as Binance lists them: working first, the stop leg first
    working: Order | None = None
    pending: list[Order] = field(default_factory=list)
    triggers: dict[int, Trigger | None] = field(default_factory=dict)  # a pending order's own trigger, if any
    placing: bool = True
    released: bool = False
    done: bool = False
    transaction_ms: int = 0  # the list's last status update

    @property
    def contingency(self) -> str:
        return "OCO" if self.kind == "OCO" else "OTO"

    @property
    def pair_live(self) -> bool:
        """Its OCO rule applies now: an OCO, or an OTOCO whose pending pair has been placed."""
        return self.kind == "OCO" or (self.kind == "OTOCO" and self.released)


class OrderLists:
    def __init__(self, trading: SpotTrading) -> None:
        self.trading = trading
        self.lists: dict[int, OrderList] = {}
        self._open: dict[int, OrderList] = {}
        self._done: deque[int] = deque()
        self._next_id = 0
        # set by the front-end: (account id, listStatus event) to the account's user data subscribers
        self.publish: Callable[[str, dict[str, Any]], None] = lambda account_id, event: None

    # ------------------------------------------------------------------ parsing

    def _parse_leg(self, p: Params, prefix: str, side: str, quantity: str) -> OrderSpec:
        """One order of a list as a new-order request; an error names the list's parameter (``belowPrice``)."""
        values = {"symbol": p.str("symbol"), "side": side, "quantity": quantity, "newOrderRespType": "RESULT"}
        names = {"side": prefix + "Side", "quantity": prefix + "Quantity"}
        for name in LEG_FIELDS:
            key = prefix + name
            target = "newClientOrderId" if name == "ClientOrderId" else name[0].lower() + name[1:]
            names[target] = key
            if key in p:
                values[target] = p.str(key)
        delta = values.get("trailingDelta", "")
        if INTEGRAL_DECIMAL.match(delta):  # the lists' trailing deltas are DECIMAL (rest-api.md): "250.0" is 250
            values["trailingDelta"] = delta.split(".")[0]
        values["type"] = p.str(prefix + "Type", required=True)
        if "selfTradePreventionMode" in p:
            values["selfTradePreventionMode"] = p.str("selfTradePreventionMode")
        try:
            return self.trading.parse_order(Params(values))
        except BinanceError as e:
            for target, key in names.items():
                e.msg = e.msg.replace(f"'{target}'", f"'{key}'")
            e.args = (f"{e.code} {e.msg}",)
            raise

    def _pair(self, p: Params, above: str, below: str, side: str, quantity: str, last: bool) -> list[OrderSpec]:
        """An OCO pair (``above`` / ``below``: the parameters' prefixes), the stop-loss leg first; ``last``:
        the prices must also lie either side of the last price (a pair placed now)."""
        specs: dict[str, OrderSpec] = {}
        for leg, prefix in (("above", above), ("below", below)):
            key = prefix + "Type"
            leg_type = p.str(key, required=True)
            if leg_type not in LEG_TYPES[(side, leg)]:
                raise BinanceError(-1130, f"Data sent for parameter '{key}' is not valid.")
            specs[leg] = self._parse_leg(p, prefix, side, quantity)
        hi, lo = _level(specs["above"]), _level(specs["below"])
        now = self.trading.market.last_price.get(specs["above"].inst.symbol)
        if hi is not None and lo is not None:
            if hi <= lo or (last and now is not None and not lo < now < hi):
                raise BinanceError(-2010, BAD_PRICES)
        stop_first = ("below", "above") if side == "SELL" else ("above", "below")
        return [specs[leg] for leg in stop_first]

    def _working(self, p: Params) -> OrderSpec:
        side = p.enum("workingSide", SIDES, required=True)
        working_type = p.str("workingType", required=True)
        if working_type not in WORKING_TYPES:
            raise BinanceError(-1130, "Data sent for parameter 'workingType' is not valid.")
        return self._parse_leg(p, "working", side, p.str("workingQuantity", required=True))

    def _begin(
        self, account: Account, p: Params, kind: str, placed_now: list[OrderSpec], held: list[OrderSpec]
    ) -> tuple[OrderList, dict[str, str]]:
        """Validate every order of a new list (nothing is placed if one fails), count them (the unfilled order
        count: one per order), open the list."""
        from .spot_trading import client_id_param, new_client_id

        trading = self.trading
        list_cid = client_id_param(p, "listClientOrderId") or new_client_id()
        specs = [*placed_now, *held]
        for spec in placed_now:
            trading.prefilter(spec)
            trading._engine_place(account, spec, validate_only=True)
        for spec in held:
            trading.prefilter(spec)
            self._check_pending(account, spec)
        if len({s.client_id for s in specs}) < len(specs) or any(
            lst.client_id == list_cid and lst.account_id == account.account_id for lst in self._open.values()
        ):
            raise BinanceError(-2010, "Duplicate order sent.")
        counts: dict[str, str] = {}
        for _ in specs:
            counts = trading.limiter.take("ORDERS", account.account_id)
        if trading.faults.take("reject_orders"):  # an injected reject, as a new order's
            raise BinanceError(-2010, trading.faults.reject_message)
        self._next_id += 1
        lst = OrderList(self._next_id, kind, list_cid, specs[0].inst.symbol, account.account_id)
        lst.transaction_ms = trading.now()
        self.lists[lst.list_id] = lst
        self._open[lst.list_id] = lst
        return lst, counts

    def _abandon(self, lst: OrderList) -> None:
        """A list whose placement failed half-way (an order refused after the checks): its orders cancelled,
        the list forgotten."""
        market = self.trading.market
        account = market.exchange.accounts[lst.account_id]
        lst.done = True
        for order in lst.orders:
            if order.is_open or order.status is OrderStatus.UNTRIGGERED:
                market.cancel(account, lst.symbol, order.order_id)
        self.lists.pop(lst.list_id, None)
        self._open.pop(lst.list_id, None)

    def _check_pending(self, account: Account, spec: OrderSpec) -> None:
        """A pending order's own validation now (filters, client id); its funds are checked when it is placed,
        its post-only rule and stop price against the market of then."""
        trading = self.trading
        try:
            trading.market.place(
                account,
                spec.inst.symbol,
                spec.side,
                spec.type,
                spec.qty,
                spec.price,
                TimeInForce.GTC if spec.tif is TimeInForce.GTX else spec.tif,
                client_id=spec.client_id,
                validate_only=True,
                check_funds=False,
            )
        except OrderError as e:
            raise trading._engine_error(e, spec.inst, "place") from None

    @staticmethod
    def _resp_type(p: Params) -> str:
        from .spot_trading import enum_param

        return enum_param(p, "newOrderRespType", RESP_TYPES) or "RESULT"

    # ------------------------------------------------------------------ placing

    async def place_oco(self, account: Account, p: Params) -> tuple[dict[str, Any], dict[str, str]]:
        trading = self.trading
        trading.instrument(p)
        side = p.enum("side", SIDES, required=True)
        quantity = p.str("quantity", required=True)
        resp_type = self._resp_type(p)
        specs = self._pair(p, "above", "below", side, quantity, last=True)
        lst, counts = self._begin(account, p, "OCO", specs, [])
        fills: dict[int, list[Fill]] = {}
        try:
            for spec in specs:
                order, order_fills = trading._engine_place(account, spec, order_list_id=lst.list_id)
                lst.orders.append(order)
                fills[order.order_id] = order_fills
        except BinanceError:
            self._abandon(lst)
            raise
        self._placed(lst)
        for order in lst.orders:  # a leg that ended at placement (an IOC limit leg): the list ends
            if not order.is_open and order.status is not OrderStatus.UNTRIGGERED:
                self._end_soon(lst, order, OrderStatus.EXPIRED, "OCO_TRIGGER")
                break
        await trading.after_accept()  # injected faults once the engine has the list: slow or no answer
        return self.response(lst, resp_type, fills), counts

    async def place_oto(self, account: Account, p: Params) -> tuple[dict[str, Any], dict[str, str]]:
        self.trading.instrument(p)
        resp_type = self._resp_type(p)
        working = self._working(p)
        side = p.enum("pendingSide", SIDES, required=True)
        pending = self._parse_leg(p, "pending", side, p.str("pendingQuantity", required=True))
        answer = self._place_linked(account, p, "OTO", working, [pending], resp_type)
        await self.trading.after_accept()
        return answer

    async def place_otoco(self, account: Account, p: Params) -> tuple[dict[str, Any], dict[str, str]]:
        self.trading.instrument(p)
        resp_type = self._resp_type(p)
        working = self._working(p)
        side = p.enum("pendingSide", SIDES, required=True)
        quantity = p.str("pendingQuantity", required=True)
        pair = self._pair(p, "pendingAbove", "pendingBelow", side, quantity, last=False)
        answer = self._place_linked(account, p, "OTOCO", working, pair, resp_type)
        await self.trading.after_accept()
        return answer

    def _place_linked(
        self, account: Account, p: Params, kind: str, working: OrderSpec, pending: list[OrderSpec], resp_type: str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """An OTO or OTOCO: the working order placed, the pending ones held (PENDING_NEW) for its fill."""
        trading = self.trading
        lst, counts = self._begin(account, p, kind, [working], pending)
        try:
            order, fills = trading._engine_place(account, working, order_list_id=lst.list_id)
            lst.working = order
            lst.orders.append(order)
            for spec in pending:
                held = self._hold(account, lst, spec)
                lst.pending.append(held)
                lst.orders.append(held)
        except BinanceError:
            self._abandon(lst)
            raise
        self._placed(lst)
        # a working order filled (or ended) at once: the answer still shows the pending orders PENDING_NEW
        # (rest-api.md, "New Order list - OTO"); they are placed (or ended) right after it
        self._later(lambda: self._working_moved(lst))
        return self.response(lst, resp_type, {order.order_id: fills}), counts

    def _hold(self, account: Account, lst: OrderList, spec: OrderSpec) -> Order:
        """A pending order: registered (its orderId, found by id and client id, cancellable) and held off the
        price evaluation until its list releases it."""
        market = self.trading.market
        extra: dict[str, Any] = {"type": spec.wire_type, "order_list_id": lst.list_id, "pending": True}
        if spec.contingent:
            extra["stop_price"] = spec.stop_price
            if spec.trailing_delta is not None:
                extra["trailing_delta"] = spec.trailing_delta
        else:
            extra["plain"] = True  # placed by its release (an engine trigger that fires at once), not a stop
        market.firing = True  # nothing fires while it is armed: it is held next
        try:
            order = conditional.arm(
                market,
                account,
                spec.inst.symbol,
                spec.side,
                spec.type,
                spec.qty,
                Trigger(Direction.RISE, NEVER),
                price=spec.price,
                tif=TimeInForce.GTC if spec.tif is TimeInForce.GTX else spec.tif,  # post-only: checked when placed
                client_id=spec.client_id,
                extra=extra,
                reject_crossed=False,
                check_funds=False,
            )
        except OrderError as e:
            raise self.trading._engine_error(e, spec.inst, "place") from None
        finally:
            market.firing = False
        conditional.hold(market, order)
        order.stp = spec.stp
        if spec.type is OrderType.LIMIT:
            order.tif = spec.tif  # a LIMIT_MAKER's post-only time in force, once it is armed
        lst.triggers[order.order_id] = spec.trigger() if spec.contingent else None
        return order

    def _placed(self, lst: OrderList) -> None:
        lst.placing = False
        self.publish(lst.account_id, self.list_status(lst))

    # ------------------------------------------------------------------ the lists' rules

    def on_event(self, ev: OrderEvent) -> None:
        """An engine event of an order of a list (called by the front-end for every order event)."""
        list_id = ev.order.extra.get("order_list_id")
        if list_id is None:
            return
        lst = self._open.get(int(list_id))
        if lst is None or lst.done or lst.placing:
            return
        order, x = ev.order, ev.exec_type
        if order is lst.working and not lst.released:
            if x is ExecType.TRADE and order.status is OrderStatus.FILLED:
                self._later(lambda: self._working_moved(lst))
            elif x is ExecType.CANCELED:
                self._end_soon(lst, order, OrderStatus.CANCELED)
            elif x in (ExecType.EXPIRED, ExecType.REJECTED):
                self._end_soon(lst, order, OrderStatus.EXPIRED, "OTO_PHASE_ONE_EXPIRED")
        elif lst.pair_live:
            # one leg trades, fires (a stop reaching its price: not a plain order placed by its release) or ends
            if x is ExecType.CANCELED:
                self._end_soon(lst, order, OrderStatus.CANCELED)
            elif x in (ExecType.TRADE, ExecType.EXPIRED, ExecType.REJECTED) or (
                x is ExecType.TRIGGERED and not order.extra.get("plain")
            ):
                self._end_soon(lst, order, OrderStatus.EXPIRED, "OCO_TRIGGER")
        elif not lst.released and x is ExecType.CANCELED:  # a pending order cancelled on its own
            self._end_soon(lst, order, OrderStatus.CANCELED)

    def _working_moved(self, lst: OrderList) -> None:
        working = lst.working
        if lst.done or lst.released or working is None:
            return
        if working.status is OrderStatus.FILLED:
            self._release(lst)
        elif working.status is OrderStatus.CANCELED:
            self._end_soon(lst, working, OrderStatus.CANCELED)
        elif not working.is_open:
            self._end_soon(lst, working, OrderStatus.EXPIRED, "OTO_PHASE_ONE_EXPIRED")

    def _release(self, lst: OrderList) -> None:
        """The working order is filled: place the pending order(s). An OTO is done; an OTOCO's pair is an OCO."""
        market = self.trading.market
        lst.released = True
        for order in lst.pending:
            if lst.done:  # the first one ended the pair at once (a stop level already reached)
                break
            if order.status is not OrderStatus.UNTRIGGERED:
                continue
            order.extra.pop("pending", None)
            trigger = lst.triggers.get(order.order_id)
            if trigger is not None:  # a contingent order: on the venue from now, waiting for its stop price
                order.updated_ms = market.exchange.now_ms()
                market._emit(OrderEvent(market.name, order, ExecType.NEW))
            conditional.release(market, order, trigger)  # a plain order is placed now (its event: NEW)
        lst.transaction_ms = self.trading.now()
        if lst.kind == "OTO":
            self._finish(lst)
        elif not lst.done:
            self.publish(lst.account_id, self.list_status(lst))

    def _end_soon(self, lst: OrderList, cause: Order, status: OrderStatus, reason: str = "") -> None:
        """End the list: the orders other than ``cause`` are cancelled (``status`` CANCELED) or expired with
        ``reason`` (``eR``), once the engine operation that reported ``cause`` is over."""
        lst.done = True
        self._later(lambda: self._end(lst, cause, status, reason))

    def _end(self, lst: OrderList, cause: Order, status: OrderStatus, reason: str) -> None:
        market = self.trading.market
        account = market.exchange.accounts[lst.account_id]
        for order in lst.orders:
            if order is not cause and (order.is_open or order.status is OrderStatus.UNTRIGGERED):
                if status is OrderStatus.CANCELED:
                    market.cancel(account, lst.symbol, order.order_id)
                else:
                    market.expire(account, lst.symbol, order.order_id, reason)
        self._finish(lst)

    def _finish(self, lst: OrderList) -> None:
        lst.done = True
        lst.transaction_ms = self.trading.now()
        self._open.pop(lst.list_id, None)
        self._done.append(lst.list_id)
        while len(self._done) > DONE_KEPT:
            self.lists.pop(self._done.popleft(), None)
        self.publish(lst.account_id, self.list_status(lst))

    @staticmethod
    def _later(action: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_soon(action)

    def of(self, order: Order) -> OrderList | None:
        """The open list ``order`` belongs to, if any."""
        list_id = order.extra.get("order_list_id")
        return None if list_id is None else self._open.get(int(list_id))

    def pair_partners(self, lst: OrderList | None, order: Order) -> list[Order]:
        """The other leg of ``order``'s OCO pair (an OCO's, or an OTOCO's pending pair), still open or held."""
        if lst is None or lst.kind == "OTO" or order is lst.working:
            return []
        return [
            o
            for o in lst.orders
            if o is not order and o is not lst.working and (o.is_open or o.status is OrderStatus.UNTRIGGERED)
        ]

    def amend_status(self, lst: OrderList, renamed: bool) -> dict[str, Any]:
        """The ``listStatus`` of an amend's answer; a renamed order also makes a ``listStatus`` UPDATED event."""
        if renamed:
            event = self.list_status(lst)
            event["l"] = "UPDATED"
            self.publish(lst.account_id, event)
        summary = self.summary(lst)
        return {k: summary[k] for k in AMEND_LIST_FIELDS}

    def held(self, account: Account, symbol: str | None = None) -> list[Order]:
        """The account's pending orders (PENDING_NEW) of open lists, oldest first."""
        return [
            o
            for lst in self._open.values()
            if lst.account_id == account.account_id and (symbol is None or lst.symbol == symbol)
            for o in lst.pending
            if o.status is OrderStatus.UNTRIGGERED and o.extra.get("pending")
        ]

    # ------------------------------------------------------------------ cancel and queries

    def cancel(self, account: Account, p: Params) -> dict[str, Any]:
        """``DELETE /api/v3/orderList`` (``orderList.cancel``): every order of the list still open cancelled."""
        from .spot_trading import client_id_param, either_id_missing, new_client_id

        inst = self.trading.instrument(p)
        list_id, list_cid = p.int("orderListId"), p.str("listClientOrderId")
        if list_id is None and not list_cid:
            raise either_id_missing("orderListId", "listClientOrderId")
        cancel_cid = client_id_param(p, "newClientOrderId") or new_client_id()
        lst = self._find(account, list_id, list_cid, self._open)
        if lst is None or lst.symbol != inst.symbol:
            raise BinanceError(-2011, "Unknown order list sent.")
        return self._cancel_list(account, lst, cancel_cid)

    def cancel_all(self, account: Account, symbol: str, cancel_cid: str) -> list[dict[str, Any]]:
        """Every open list of the account on ``symbol`` cancelled (``DELETE /api/v3/openOrders`` reports each one
        as its list object)."""
        mine = [lst for lst in self._open.values() if lst.account_id == account.account_id and lst.symbol == symbol]
        return [self._cancel_list(account, lst, cancel_cid) for lst in mine]

    def _cancel_list(self, account: Account, lst: OrderList, cancel_cid: str) -> dict[str, Any]:
        market = self.trading.market
        lst.done = True  # its orders' cancel events are this request's, not a leg's
        orig = {o.order_id: o.client_id for o in lst.orders}
        for order in lst.orders:
            if order.is_open or order.status is OrderStatus.UNTRIGGERED:
                order.extra["cancel_cid"] = cancel_cid
                market.cancel(account, lst.symbol, order.order_id)
        self._finish(lst)
        now = self.trading.now()
        out = self.summary(lst)
        out["orderReports"] = [
            cancel_response(o, str(o.extra.get("cancel_cid", o.client_id)), orig[o.order_id], now) for o in lst.orders
        ]
        return out

    def _find(
        self, account: Account, list_id: int | None, list_cid: str, among: dict[int, OrderList]
    ) -> OrderList | None:
        """A list of the account by id (its client id checked when both are sent), else the latest by client id."""
        if list_id is not None:
            lst = among.get(list_id)
            if lst is None or lst.account_id != account.account_id or (list_cid and lst.client_id != list_cid):
                return None
            return lst
        for lst in reversed(among.values()):
            if lst.account_id == account.account_id and lst.client_id == list_cid:
                return lst
        return None

    def query(self, account: Account, p: Params) -> dict[str, Any]:
        """``GET /api/v3/orderList`` (``orderList.status``): by ``orderListId`` or ``origClientOrderId``."""
        from .spot_trading import either_id_missing

        list_id, list_cid = p.int("orderListId"), p.str("origClientOrderId")
        if list_id is None and not list_cid:
            raise either_id_missing("orderListId", "origClientOrderId")
        lst = self._find(account, list_id, "" if list_id is not None else list_cid, self.lists)
        if lst is None:
            raise BinanceError(-2018, "Order list does not exist.")
        return self.summary(lst)

    def open_lists(self, account: Account) -> list[dict[str, Any]]:
        """``GET /api/v3/openOrderList`` (``openOrderLists.status``)."""
        return [self.summary(lst) for lst in self._open.values() if lst.account_id == account.account_id]

    def all_lists(self, account: Account, p: Params, ws: bool) -> list[dict[str, Any]]:
        """``GET /api/v3/allOrderList`` (``allOrderLists``): ``fromId`` or a ``startTime`` / ``endTime`` window of
        ``transactionTime`` (REST refuses both, the WebSocket API ignores ``fromId`` then), newest first as the
        docs' example answers."""
        from .spot_trading import select

        from_id, start, end = p.int("fromId"), p.int("startTime"), p.int("endTime")
        if from_id is not None and (start is not None or end is not None):
            if not ws:
                raise BinanceError(-1128, "Combination of optional parameters invalid.")
            from_id = None
        mine = [lst for lst in self.lists.values() if lst.account_id == account.account_id]
        chosen = select(
            mine,
            lambda lst: lst.list_id,
            lambda lst: lst.transaction_ms,
            from_id,
            start,
            end,
            self.trading._limit(p, 500, 1000),
        )
        return [self.summary(lst) for lst in reversed(chosen)]

    # ------------------------------------------------------------------ wire shapes

    def summary(self, lst: OrderList) -> dict[str, Any]:
        """The list object of the queries (``GET /api/v3/orderList`` ...): no order reports."""
        return {
            "orderListId": lst.list_id,
            "contingencyType": lst.contingency,
            "listStatusType": "ALL_DONE" if lst.done else "EXEC_STARTED",
            "listOrderStatus": "ALL_DONE" if lst.done else "EXECUTING",
            "listClientOrderId": lst.client_id,
            "transactionTime": lst.transaction_ms,
            "symbol": lst.symbol,
            "orders": [{"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_id} for o in lst.orders],
        }

    def response(
        self, lst: OrderList, resp_type: str = "RESULT", fills: dict[int, list[Fill]] | None = None
    ) -> dict[str, Any]:
        """A new list's answer: the list object and one report per order (``newOrderRespType``'s format)."""
        out = self.summary(lst)
        out["orderReports"] = [order_response(o, resp_type, (fills or {}).get(o.order_id, [])) for o in lst.orders]
        return out

    def list_status(self, lst: OrderList) -> dict[str, Any]:
        """The ``listStatus`` user data event (user-data-stream.md)."""
        now = self.trading.now()
        return {
            "e": "listStatus",
            "E": now,
            "s": lst.symbol,
            "g": lst.list_id,
            "c": lst.contingency,
            "l": "ALL_DONE" if lst.done else "EXEC_STARTED",
            "L": "ALL_DONE" if lst.done else "EXECUTING",
            "r": "NONE",
            "C": lst.client_id,
            "T": lst.transaction_ms,
            "O": [{"s": o.symbol, "i": o.order_id, "c": o.client_id} for o in lst.orders],
        }


def _level(spec: OrderSpec) -> Decimal | None:
    """A leg's price on the book side of the OCO rule: its stop price for a contingent type, else its price."""
    return spec.stop_price if spec.contingent else spec.price
