"""Binance spot trading and account logic shared by the REST API and the WebSocket API.

Each operation takes the authenticated account and the request ``Params`` (same parameter names on
both APIs), validates them in Binance's order with Binance's errors, calls the engine and returns
the result object. Order-count headers of successful new orders are returned to the caller, which
puts them in HTTP headers (REST) or in ``rateLimits`` (WebSocket API).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from ...core import conditional
from ...core.accounts import Account
from ...core.engine import Market
from ...core.faults import Faults
from ...core.instruments import Instrument
from ...core.types import (
    Direction,
    Fill,
    Order,
    OrderError,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    STPMode,
    TimeInForce,
    Trigger,
)
from . import errors
from .errors import BinanceError
from .ratelimit import BinanceLimiter
from .rest_common import Params
from .spot_lists import OrderLists
from .spot_wire import (
    ORDER_TYPES,
    STP_MODES,
    amended_order,
    cancel_response,
    my_trade,
    order_query,
    order_response,
)

CLIENT_ID_RE = re.compile(r"^[a-zA-Z0-9\-_]{1,36}$")
SIDES = ("BUY", "SELL")
TIFS = ("GTC", "IOC", "FOK")
RESP_TYPES = ("ACK", "RESULT", "FULL")
UNSUPPORTED_TYPES = {  # margin orders (sapi) do not take the contingent types here: see margin.py
    "STOP_LOSS": "Stop loss orders are not supported for this symbol.",
    "STOP_LOSS_LIMIT": "Stop loss limit orders are not supported for this symbol.",
    "TAKE_PROFIT": "Take profit orders are not supported for this symbol.",
    "TAKE_PROFIT_LIMIT": "Take profit limit orders are not supported for this symbol.",
}
UNSUPPORTED_FEATURES = {  # exchangeInfo: icebergAllowed / pegInstructionsAllowed false
    "icebergQty": "Iceberg orders are not supported for this symbol.",
    "pegPriceType": "Pegged orders are not supported for this symbol.",
}
# The contingent types (rest-api.md "New order"; faqs/trailing-stop-faq.md): held untriggered until the last
# trade price reaches ``stopPrice`` (or moves ``trailingDelta`` BIPS against the best price since placement,
# or since ``stopPrice`` was reached when both are sent), then the order itself (same orderId) goes to the
# book as a MARKET (STOP_LOSS, TAKE_PROFIT) or LIMIT (the _LIMIT types) order.
CONTINGENT_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
TRAILING_DELTA_RANGE = (10, 2000)  # exchangeInfo's TRAILING_DELTA filter (spot_wire.symbol_info)
BIPS = Decimal(10000)
MAX_DECIMALS = 8
T = TypeVar("T")


def new_client_id() -> str:
    """A Binance-style generated client order id: 22 characters of ``[A-Za-z0-9-_]``."""
    return secrets.token_urlsafe(16)


def client_id_param(p: Params, key: str) -> str:
    value = p.str(key)
    if value and not CLIENT_ID_RE.match(value):
        raise BinanceError(
            -1100, f"Illegal characters found in parameter '{key}'; legal range is '^[a-zA-Z0-9-_]{{1,36}}$'."
        )
    return value


def decimal_param(p: Params, key: str, required: bool = False) -> Decimal | None:
    value = p.decimal(key, required)
    if value is not None and -value.as_tuple().exponent > MAX_DECIMALS:  # type: ignore[operator]
        raise errors.precision(key)
    return value


def invalid_data(param: str) -> BinanceError:
    return BinanceError(-1130, f"Data sent for parameter '{param}' is not valid.")


def enum_param(p: Params, key: str, allowed: tuple[str, ...]) -> str:
    """An optional enum parameter without a dedicated error code (-1130, errors.md wording)."""
    value = p.str(key)
    if value and value not in allowed:
        raise invalid_data(key)
    return value


def either_id_missing(id_key: str, cid_key: str) -> BinanceError:
    return BinanceError(-1102, f"Param '{cid_key}' or '{id_key}' must be sent, but both were empty/null!")


def required_fields(
    qty: Decimal | None, price: Decimal | None, quote_qty: Decimal | None, tif_raw: str, limit: bool, tif: bool
) -> None:
    """The fields of a LIMIT-like (``limit``: price) or MARKET-like order sized by quantity, with or without
    ``timeInForce`` (``tif``): -1102 for one missing, -1106 for one not taken."""
    if tif and not tif_raw:
        raise errors.mandatory("timeInForce")
    if qty is None:
        raise errors.mandatory("quantity")
    if limit and price is None:
        raise errors.mandatory("price")
    if not tif and tif_raw:
        raise errors.not_required("timeInForce")
    if not limit and price is not None:
        raise errors.not_required("price")
    if quote_qty is not None:
        raise errors.not_required("quoteOrderQty")


@dataclass(slots=True)
class OrderSpec:
    """A validated new-order request."""

    inst: Instrument
    side: Side
    wire_type: str
    type: OrderType
    tif: TimeInForce
    qty: Decimal
    price: Decimal | None
    quote_qty: Decimal | None
    client_id: str
    stp: STPMode
    resp_type: str
    stop_price: Decimal | None = None
    trailing_delta: int | None = None

    @property
    def contingent(self) -> bool:
        return self.wire_type in CONTINGENT_TYPES

    def trigger(self) -> Trigger:
        """The engine trigger of a contingent order (faqs/trailing-stop-faq.md's table): a sell stop-loss and
        a buy take-profit fire on a fall, the others on a rise; a trailing one trails from the best price
        (the highest for a sell, the lowest for a buy) and starts trailing once ``stopPrice`` is reached."""
        stop = self.wire_type.startswith("STOP_LOSS")
        falls = (self.side is Side.SELL) == stop
        if self.trailing_delta is None:
            return Trigger(Direction.FALL if falls else Direction.RISE, self.stop_price)
        # the trailing level follows the price the way the order's side is hurt: a sell trails a fall
        # from the highest price, a buy a rise from the lowest; the stop price is reached the way the
        # type says (a sell stop-loss when the price falls to it, a sell take-profit when it rises to it)
        return Trigger(
            Direction.FALL if self.side is Side.SELL else Direction.RISE,
            None,
            rate=Decimal(self.trailing_delta) / BIPS,
            activation=self.stop_price,
            activation_direction=Direction.FALL if falls else Direction.RISE,
        )


class SpotTrading:
    def __init__(self, market: Market, faults: Faults, limiter: BinanceLimiter, clock: Callable[[], int]) -> None:
        self.market = market
        self.faults = faults
        self.limiter = limiter
        self.now = clock
        self.last_execution_id = 0
        self._capture: list[Fill] | None = None
        self.lists = OrderLists(self)

    # ------------------------------------------------------------------ engine plumbing

    def on_fill(self, fill: Fill) -> None:
        """Called by the front-end's engine listener for every fill of this market."""
        if self._capture is not None:
            self._capture.append(fill)

    def instrument(self, p: Params, key: str = "symbol") -> Instrument:
        symbol = p.str(key, required=True)
        inst = self.market.instruments.get(symbol)
        if inst is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return inst

    def _engine_error(self, e: OrderError, inst: Instrument | None, op: str) -> BinanceError:
        return errors.from_order_error(e, futures=False, inst=inst, op=op)

    # ------------------------------------------------------------------ new orders

    def parse_order(self, p: Params, client_id_key: str = "newClientOrderId", contingent: bool = True) -> OrderSpec:
        """``contingent``: the contingent types are taken (spot orders); margin orders refuse them."""
        inst = self.instrument(p)
        side = p.enum("side", SIDES, required=True)
        raw_type = p.str("type", required=True)
        if raw_type in UNSUPPORTED_TYPES and not contingent:
            # Valid Binance types the simulated symbols do not enable (exchangeInfo orderTypes): the
            # matching engine's answer for a type not enabled on the symbol (errors.md, -2010 messages).
            raise BinanceError(-2010, UNSUPPORTED_TYPES[raw_type])
        if raw_type not in ORDER_TYPES:
            raise errors.invalid_param("type", raw_type)
        tif_raw = p.str("timeInForce")
        if tif_raw and tif_raw not in TIFS:
            raise errors.invalid_param("timeInForce", tif_raw)
        qty = decimal_param(p, "quantity")
        quote_qty = decimal_param(p, "quoteOrderQty")
        price = decimal_param(p, "price")
        for param, message in UNSUPPORTED_FEATURES.items():
            if param in p:
                raise BinanceError(-2010, message)
        if not contingent and "trailingDelta" in p:
            raise BinanceError(-2010, "Trailing stop orders are not supported for this symbol.")
        stop_price: Decimal | None = None
        trailing_delta: int | None = None
        if raw_type in CONTINGENT_TYPES:
            stop_price = decimal_param(p, "stopPrice")
            trailing_delta = p.int("trailingDelta")
            if stop_price is None and trailing_delta is None:
                raise BinanceError(
                    -1102, "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!"
                )
            if trailing_delta is not None and not TRAILING_DELTA_RANGE[0] <= trailing_delta <= TRAILING_DELTA_RANGE[1]:
                raise BinanceError(-1013, "Filter failure: TRAILING_DELTA")
        else:
            if "stopPrice" in p:
                raise errors.not_required("stopPrice")
            if "trailingDelta" in p:
                raise errors.not_required("trailingDelta")
        if raw_type in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
            required_fields(qty, price, quote_qty, tif_raw, limit=True, tif=True)
            engine_type, tif = OrderType.LIMIT, TimeInForce(tif_raw)
        elif raw_type == "LIMIT_MAKER":
            required_fields(qty, price, quote_qty, tif_raw, limit=True, tif=False)
            engine_type, tif = OrderType.LIMIT, TimeInForce.GTX
        elif raw_type in ("STOP_LOSS", "TAKE_PROFIT"):  # the order a market stop places is a MARKET order
            required_fields(qty, price, quote_qty, tif_raw, limit=False, tif=False)
            engine_type, tif = OrderType.MARKET, TimeInForce.GTC
        else:  # MARKET
            if qty is None and quote_qty is None:
                raise BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
            if qty is not None and quote_qty is not None:
                raise errors.not_required("quoteOrderQty")
            if price is not None:
                raise errors.not_required("price")
            if tif_raw:
                raise errors.not_required("timeInForce")
            engine_type, tif = OrderType.MARKET, TimeInForce.GTC
        resp_type = enum_param(p, "newOrderRespType", RESP_TYPES)
        if not resp_type:
            resp_type = "FULL" if raw_type in ("LIMIT", "MARKET") else "ACK"
        stp_raw = enum_param(p, "selfTradePreventionMode", STP_MODES)
        stp = STPMode(stp_raw) if stp_raw else self.market.default_stp
        client_id = client_id_param(p, client_id_key) or new_client_id()
        return OrderSpec(
            inst,
            Side(side),
            raw_type,
            engine_type,
            tif,
            qty if qty is not None else Decimal(0),
            price,
            quote_qty,
            client_id,
            stp,
            resp_type,
            stop_price,
            trailing_delta,
        )

    def prefilter(self, spec: OrderSpec) -> None:
        """Symbol filters, evaluated before anything happens (cancelReplace checks them up front)."""
        inst = spec.inst
        try:
            if spec.price is not None:
                self.market.check_price(inst, spec.price)
            if spec.stop_price is not None:
                self.market.check_price(inst, spec.stop_price)
            if spec.quote_qty is None:
                self.market.check_qty(inst, spec.qty, market=spec.type is OrderType.MARKET)
            if spec.price is not None and inst.min_notional and inst.notional(spec.qty, spec.price) < inst.min_notional:
                raise OrderError(RejectReason.MIN_NOTIONAL, "")
        except OrderError as e:
            raise self._engine_error(e, inst, "place") from None

    def _engine_place(
        self, account: Account, spec: OrderSpec, validate_only: bool = False, order_list_id: int | None = None
    ) -> tuple[Order, list[Fill]]:
        if spec.contingent:
            self._check_stop(spec)
            if not validate_only:
                return self._engine_arm(account, spec, order_list_id), []
        fills: list[Fill] = []
        self._capture = fills
        try:
            order = self.market.place(
                account,
                spec.inst.symbol,
                spec.side,
                spec.type,
                spec.qty,
                spec.price,
                spec.tif,
                client_id=spec.client_id,
                quote_qty=spec.quote_qty,
                stp=spec.stp,
                extra={"type": spec.wire_type, **({} if order_list_id is None else {"order_list_id": order_list_id})},
                validate_only=validate_only,
            )
        except OrderError as e:
            raise self._engine_error(e, spec.inst, "place") from None
        finally:
            self._capture = None
        return order, [f for f in fills if f.order_id == order.order_id]

    def _engine_arm(self, account: Account, spec: OrderSpec, order_list_id: int | None = None) -> Order:
        """A contingent order: held untriggered (status NEW on the wire, not on the book) until its trigger
        fires on the last trade price (``conditional.arm`` refuses a fixed level already reached)."""
        extra: dict[str, Any] = {"type": spec.wire_type, "stop_price": spec.stop_price}
        if spec.trailing_delta is not None:
            extra["trailing_delta"] = spec.trailing_delta
        if order_list_id is not None:
            extra["order_list_id"] = order_list_id
        try:
            return conditional.arm(
                self.market,
                account,
                spec.inst.symbol,
                spec.side,
                spec.type,
                spec.qty,
                spec.trigger(),
                price=spec.price,
                tif=spec.tif,
                client_id=spec.client_id,
                extra=extra,
            )
        except OrderError as e:
            raise self._engine_error(e, spec.inst, "place") from None

    def _check_stop(self, spec: OrderSpec) -> None:
        """A contingent order's stop price: PRICE_FILTER, and -2010 "Stop price would trigger immediately."
        (errors.md) for a fixed level the last price already reached (``order/test`` checks it too)."""
        trigger = spec.trigger()
        try:
            if spec.stop_price is not None:
                self.market.check_price(spec.inst, spec.stop_price)
            now = conditional.reference(self.market, spec.inst.symbol, trigger.ref)
            if not trigger.trailing and now is not None and trigger.price is not None:
                if conditional.crossed(trigger.direction, trigger.price, now):
                    raise OrderError(RejectReason.WOULD_TRIGGER_IMMEDIATELY, f"stop price {trigger.price}, now {now}")
        except OrderError as e:
            raise self._engine_error(e, spec.inst, "place") from None

    async def new_order(self, account: Account, p: Params) -> tuple[dict[str, Any], dict[str, str]]:
        spec = self.parse_order(p)
        counts = self.limiter.take("ORDERS", account.account_id)
        if self.faults.take("reject_orders"):
            raise BinanceError(-2010, self.faults.reject_message)
        order, fills = self._engine_place(account, spec)
        await self.after_accept()
        return order_response(order, spec.resp_type, fills), counts

    async def after_accept(self) -> None:
        """Faults that strike once the engine has the order: a slow answer, or no answer at all."""
        if self.faults.slow_ack_ms:
            await asyncio.sleep(self.faults.slow_ack_ms / 1000)
        if self.faults.take("unknown_outcome"):
            raise errors.execution_unknown()

    def test_order(self, account: Account, p: Params) -> dict[str, Any]:
        spec = self.parse_order(p)
        compute = p.bool("computeCommissionRates")
        self._engine_place(account, spec, validate_only=True)
        if not compute:
            return {}
        inst = spec.inst
        zero = "0.00000000"
        return {
            "standardCommissionForOrder": {"maker": f"{inst.maker_fee:.8f}", "taker": f"{inst.taker_fee:.8f}"},
            "specialCommissionForOrder": {"maker": zero, "taker": zero},
            "taxCommissionForOrder": {"maker": zero, "taker": zero},
            "discount": {
                "enabledForAccount": False,
                "enabledForSymbol": False,
                "discountAsset": "BNB",
                "discount": zero,
            },
        }

    # ------------------------------------------------------------------ cancel / amend / replace

    def find(self, account: Account, inst: Instrument, p: Params, id_key: str, cid_key: str, op: str) -> Order:
        order_id = p.int(id_key)
        client_id = p.str(cid_key)
        if order_id is None and not client_id:
            raise either_id_missing(id_key, cid_key)
        try:
            order = self.market.find_order(account, inst.symbol, order_id, client_id or None)
        except OrderError as e:
            raise self._engine_error(e, inst, op) from None
        if order_id is not None and client_id and order.client_id != client_id:
            raise BinanceError(-2039, "Client order ID is not correct for this order ID.")
        return order

    def _cancel_order(
        self, account: Account, inst: Instrument, p: Params, id_key: str, cid_key: str, new_cid_key: str
    ) -> dict[str, Any]:
        restriction = p.str("cancelRestrictions")
        if restriction and restriction not in ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"):
            raise BinanceError(-1145, "Invalid cancelRestrictions")
        cancel_cid = client_id_param(p, new_cid_key) or new_client_id()
        order = self.find(account, inst, p, id_key, cid_key, "cancel")
        if not order.is_open and order.status is not OrderStatus.UNTRIGGERED:
            raise BinanceError(-2011, "Unknown order sent.")
        if restriction and order.status.value != restriction.removeprefix("ONLY_"):
            raise BinanceError(-2011, "Order was not canceled due to cancel restrictions.")
        orig_cid = order.client_id
        order.extra["cancel_cid"] = cancel_cid  # read by the executionReport ("c"; "C" = original id)
        try:
            self.market.cancel(account, inst.symbol, order.order_id)
        except OrderError as e:
            raise self._engine_error(e, inst, "cancel") from None
        return cancel_response(order, cancel_cid, orig_cid, self.now())

    def cancel_order(self, account: Account, p: Params) -> dict[str, Any]:
        inst = self.instrument(p)
        return self._cancel_order(account, inst, p, "orderId", "origClientOrderId", "newClientOrderId")

    def cancel_open_orders(self, account: Account, p: Params) -> list[dict[str, Any]]:
        """Every open order of the symbol cancelled under one cancel client id, as rest-api.md's example answers;
        an order list's orders are answered as the list object (with its ``orderReports``)."""
        inst = self.instrument(p)
        # contingent orders waiting for their stop price, and order lists' pending orders, are open orders too
        armed = conditional.armed_orders(self.market, account, inst.symbol)
        open_orders = [*self.market.open_orders(account, inst.symbol), *armed, *self.lists.held(account, inst.symbol)]
        if not open_orders:
            raise BinanceError(-2011, "Unknown order sent.")
        cancel_cid = new_client_id()
        lists = self.lists.cancel_all(account, inst.symbol, cancel_cid)
        orig = {o.order_id: o.client_id for o in open_orders}
        for o in open_orders:
            o.extra["cancel_cid"] = cancel_cid
        for o in armed:
            if o.status is OrderStatus.UNTRIGGERED:  # (not already cancelled with its list)
                self.market.cancel(account, inst.symbol, o.order_id)
        cancelled = [*armed, *self.market.cancel_all(account, inst.symbol)]
        now = self.now()
        listed = {r["orderId"] for lst in lists for r in lst["orderReports"]}
        plain = [o for o in cancelled if o.order_id not in listed]
        return [*(cancel_response(o, cancel_cid, orig[o.order_id], now) for o in plain), *lists]

    async def cancel_replace(self, account: Account, p: Params) -> tuple[dict[str, Any], dict[str, str]]:
        inst = self.instrument(p)
        mode = p.str("cancelReplaceMode", required=True)
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise invalid_data("cancelReplaceMode")
        enum_param(p, "orderRateLimitExceededMode", ("DO_NOTHING", "CANCEL_ONLY"))
        if "cancelOrderId" not in p and "cancelOrigClientOrderId" not in p:
            raise either_id_missing("cancelOrderId", "cancelOrigClientOrderId")
        spec = self.parse_order(p)
        # "Filters and Order Count are evaluated before the processing of the cancellation and order
        # placement occurs" (rest-api.md, cancelReplace).
        self.prefilter(spec)
        counts = self.limiter.take("ORDERS", account.account_id)
        cancel_result: dict[str, Any] | None = None
        cancel_error: BinanceError | None = None
        try:
            cancel_result = self._cancel_order(
                account, inst, p, "cancelOrderId", "cancelOrigClientOrderId", "cancelNewClientOrderId"
            )
        except BinanceError as e:
            cancel_error = e
        new_result: dict[str, Any] | None = None
        new_error: BinanceError | None = None
        if cancel_error is None or mode == "ALLOW_FAILURE":
            try:
                if self.faults.take("reject_orders"):
                    raise BinanceError(-2010, self.faults.reject_message)
                order, fills = self._engine_place(account, spec)
                new_result = order_response(order, spec.resp_type, fills)
            except BinanceError as e:
                new_error = e
        if cancel_error is None and new_error is None:
            await self.after_accept()
            assert cancel_result is not None and new_result is not None
            return {
                "cancelResult": "SUCCESS",
                "newOrderResult": "SUCCESS",
                "cancelResponse": cancel_result,
                "newOrderResponse": new_result,
            }, counts
        data = {
            "cancelResult": "FAILURE" if cancel_error else "SUCCESS",
            "newOrderResult": ("FAILURE" if new_error else "SUCCESS") if (new_error or new_result) else "NOT_ATTEMPTED",
            "cancelResponse": cancel_error.body() if cancel_error else cancel_result,
            "newOrderResponse": new_error.body() if new_error else new_result,
        }
        if cancel_error is not None and (new_error is not None or new_result is None):
            raise DataError(-2022, "Order cancel-replace failed.", 400, data)
        raise DataError(-2021, "Order cancel-replace partially failed.", 409, data)

    def amend_keep_priority(self, account: Account, p: Params) -> dict[str, Any]:
        """Reduce an order's quantity in place (rest-api.md "Order Amend Keep Priority"). An order of a list may be
        amended too, a pending one (PENDING_NEW) included; an OCO pair keeps one quantity, so amending one leg
        amends both (faqs/order_amend_keep_priority.md); the answer then carries the ``listStatus``, and a changed
        client id is a ``listStatus`` UPDATED event."""
        inst = self.instrument(p)
        new_qty = decimal_param(p, "newQty", required=True)
        assert new_qty is not None
        new_cid = client_id_param(p, "newClientOrderId") or new_client_id()
        order = self.find(account, inst, p, "orderId", "origClientOrderId", "amend")
        if not order.is_open and order.status is not OrderStatus.UNTRIGGERED:
            raise BinanceError(-2011, "Unknown order sent.")
        if new_qty == order.qty:
            raise BinanceError(-2038, "The requested action would change no state; rejecting")
        if new_qty > order.qty:
            raise BinanceError(-2038, "Order amend (quantity increase) is not supported.")
        if new_qty <= 0:
            raise BinanceError(-1013, "Filter failure: LOT_SIZE")
        lst = self.lists.of(order)
        orig_cid = order.client_id
        for o, cid in [(order, new_cid), *((o, None) for o in self.lists.pair_partners(lst, order))]:
            o.extra["orig_cid"] = o.client_id  # executionReport "C" of the REPLACED event
            try:
                if o.status is OrderStatus.UNTRIGGERED:
                    conditional.amend(self.market, o, qty=new_qty, new_client_id=cid)
                else:
                    self.market.amend(
                        account, inst.symbol, o.order_id, new_qty=new_qty, priority="keep", new_client_id=cid
                    )
            except OrderError as e:
                raise self._engine_error(e, inst, "amend") from None
            finally:
                o.extra.pop("orig_cid", None)
        out = {
            "transactTime": self.now(),
            "executionId": self.last_execution_id,
            "amendedOrder": amended_order(order, orig_cid),
        }
        if lst is not None:
            out["listStatus"] = self.lists.amend_status(lst, renamed=new_cid != orig_cid)
        return out

    # ------------------------------------------------------------------ queries

    def query_order(self, account: Account, p: Params) -> dict[str, Any]:
        inst = self.instrument(p)
        return order_query(self.find(account, inst, p, "orderId", "origClientOrderId", "query"))

    def open_orders(self, account: Account, p: Params) -> list[dict[str, Any]]:
        symbol = None
        if "symbol" in p:
            symbol = self.instrument(p).symbol
        orders = sorted(
            [
                *self.market.open_orders(account, symbol),
                *conditional.armed_orders(self.market, account, symbol),
                *self.lists.held(account, symbol),
            ],
            key=lambda o: o.order_id,
        )
        return [order_query(o) for o in orders]

    def all_orders(self, account: Account, p: Params) -> list[dict[str, Any]]:
        inst = self.instrument(p)
        from_id = p.int("orderId")
        start, end = p.int("startTime"), p.int("endTime")
        orders = sorted(
            [*self.market.account_orders(account, inst.symbol), *self.lists.held(account, inst.symbol)],
            key=lambda o: o.order_id,
        )
        selected = select(
            orders, lambda o: o.order_id, lambda o: o.created_ms, from_id, start, end, self._limit(p, 500, 1000)
        )
        return [order_query(o) for o in selected]

    def my_trades(self, account: Account, p: Params) -> list[dict[str, Any]]:
        inst = self.instrument(p)
        order_id, from_id = p.int("orderId"), p.int("fromId")
        start, end = p.int("startTime"), p.int("endTime")
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        fills = self.market.account_trades(account, inst.symbol)
        if order_id is not None:
            fills = [f for f in fills if f.order_id == order_id]
        selected = select(
            fills, lambda f: f.trade_id, lambda f: f.time_ms, from_id, start, end, self._limit(p, 500, 1000)
        )
        orders = self.market.orders
        return [my_trade(f, orders.get(f.order_id)) for f in selected]

    @staticmethod
    def _limit(p: Params, default: int, maximum: int) -> int:
        limit = p.int("limit", default=default)
        assert limit is not None
        if limit <= 0:
            raise BinanceError(-1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.")
        return min(limit, maximum)


def select(
    items: Sequence[T],
    id_of: Callable[[T], int],
    time_of: Callable[[T], int],
    from_id: int | None,
    start: int | None,
    end: int | None,
    limit: int,
) -> Sequence[T]:
    """Binance's history window: ``fromId`` / ``startTime`` give the oldest items from there on,
    otherwise the most recent ``limit`` items (up to ``endTime``)."""
    if from_id is not None:
        items = [i for i in items if id_of(i) >= from_id]
    if start is not None:
        items = [i for i in items if time_of(i) >= start]
    if end is not None:
        items = [i for i in items if time_of(i) <= end]
    return items[:limit] if (from_id is not None or start is not None) else items[-limit:]


class DataError(BinanceError):
    """An error whose body carries a ``data`` object (cancelReplace failures)."""

    def __init__(self, code: int, msg: str, status: int, data: dict[str, Any]) -> None:
        super().__init__(code, msg, status)
        self.data = data

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg, "data": self.data}


def symbols_param(p: Params, known: dict[str, Instrument]) -> list[str]:
    """``symbol`` or ``symbols`` (a JSON array) of a market-data request; all symbols if neither."""
    if "symbol" in p and "symbols" in p:
        raise BinanceError(-1128, "Combination of optional parameters invalid.")
    if "symbol" in p:
        symbol = p.str("symbol")
        if symbol not in known:
            raise BinanceError(-1121, "Invalid symbol.")
        return [symbol]
    if "symbols" in p:
        try:
            symbols = json.loads(p.str("symbols"))
        except ValueError:
            raise BinanceError(
                -1100,
                "Illegal characters found in parameter 'symbols'; legal range is "
                '\'^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$\'.',
            ) from None
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise errors.invalid_param("symbols")
        for s in symbols:
            if s not in known:
                raise BinanceError(-1121, "Invalid symbol.")
        return list(symbols)
    return list(known)
