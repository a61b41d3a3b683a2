"""Binance USDⓈ-M and COIN-M futures order operations (``op_*``), shared by REST (``futures_rest``) and the
WebSocket API (``futures_ws``), so validation and errors are written once: new, modify, cancel, query,
batches, countdown cancel-all, leverage and the account views. The front-end (``futures_frontend``)
holds the state they use (market, wire shapes, countdown and GTD timers).
"""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...core.accounts import Account
from ...core.types import (
    Order,
    OrderError,
    OrderType,
    RejectReason,
    Side,
    STPMode,
    TimeInForce,
)
from ..common import loads
from . import errors
from .errors import BinanceError
from .futures_wire import alias_of
from .rest_common import Params

if TYPE_CHECKING:
    from .futures_frontend import FuturesFrontend

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
CONDITIONAL_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
ORDER_TYPES = ("LIMIT", "MARKET", *CONDITIONAL_TYPES)
PRICE_MATCH = (
    "NONE",
    "OPPONENT",
    "OPPONENT_5",
    "OPPONENT_10",
    "OPPONENT_20",
    "QUEUE",
    "QUEUE_5",
    "QUEUE_10",
    "QUEUE_20",
)
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
MAX_BATCH = 5
MAX_BATCH_CANCEL = 10


def client_id_error(param: str) -> BinanceError:
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{param}'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{{1,36}}$'."
    )


class FuturesTrading:
    """The order operations of one futures front-end (``fe.trading``)."""

    def __init__(self, fe: FuturesFrontend) -> None:
        self.fe = fe

    def _order_ref(self, params: Params) -> tuple[int | None, str | None]:
        order_id = params.int("orderId")
        client_id = params.str("origClientOrderId") or None
        if order_id is None and client_id is None:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        return order_id, client_id

    def _price_match(self, symbol: str, side: Side, mode: str) -> Decimal:
        """Price of a ``priceMatch`` order: the n-th best opposite (OPPONENT) or same-side (QUEUE) level."""
        base, _, nth = mode.partition("_")
        depth = int(nth or 1)
        bids, asks = self.fe.market.books[symbol].depth(depth)
        same, opposite = (bids, asks) if side is Side.BUY else (asks, bids)
        levels = opposite if base == "OPPONENT" else same
        if not levels:
            raise BinanceError(-4131, "The counterparty's best price does not meet the PERCENT_PRICE filter limit.")
        return levels[min(depth, len(levels)) - 1][0]

    def _good_till_date(self, params: Params) -> dict[str, Any]:
        """USDⓈ-M GTD: ``goodTillDate`` is mandatory, kept to the second, and must lie between now + 600 s
        and 253402300799000."""
        raw = params.int("goodTillDate", required=True)
        assert raw is not None
        gtd = raw - raw % 1000
        if gtd <= self.fe.now() + 600_000 or gtd >= 253402300799000:
            raise BinanceError(-1130, "Invalid data sent for a parameter: 'goodTillDate'.")
        return {"tif": "GTD", "goodTillDate": gtd}

    def check_precision(self, symbol: str, qty: Decimal | None, price: Decimal | None) -> None:
        """Binance checks decimals before filters: more decimals than quantityPrecision / pricePrecision
        is -1111 (a price on the precision grid but off the tick is -4014, from the engine)."""
        inst = self.fe.market.instruments[symbol]
        for value, places in ((qty, inst.qty_precision), (price, inst.price_precision)):
            if value is not None and value != value.quantize(Decimal(1).scaleb(-places)):
                raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")

    def parse_new_order(self, account: Account, params: Params) -> dict[str, Any]:
        """Validate a new-order request; return keyword arguments for ``Market.place`` plus extras."""
        symbol = self.fe.symbol(params)
        side = Side(params.enum("side", ("BUY", "SELL"), required=True))
        position_side = params.enum("positionSide", ("BOTH", "LONG", "SHORT"), default="BOTH")
        if position_side != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        otype = params.enum("type", ORDER_TYPES, required=True)
        if otype in CONDITIONAL_TYPES:
            raise BinanceError(
                -4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
            )
        tif_values = ("GTC", "IOC", "FOK", "GTX") + (() if self.fe.coinm else ("GTD",))
        tif_raw = params.enum("timeInForce", tif_values)
        price_match = params.enum("priceMatch", PRICE_MATCH, default="NONE")
        price = params.decimal("price")
        qty = params.decimal("quantity")
        reduce_only = params.bool("reduceOnly")
        if "closePosition" in params and params.bool("closePosition"):
            raise BinanceError(
                -4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
            )
        # USDⓈ-M New Order: "selfTradePreventionMode ... default NONE" (official docs).
        stp = params.enum("selfTradePreventionMode", STP_MODES, default="NONE")
        resp_type = params.enum("newOrderRespType", ("ACK", "RESULT"), default="ACK")
        client_id = params.str("newClientOrderId")
        if client_id and not CLIENT_ID_RE.match(client_id):
            raise client_id_error("newClientOrderId")
        if client_id.startswith(("autoclose-", "adl_autoclose", "settlement_autoclose-", "delivery_autoclose-")):
            raise client_id_error("newClientOrderId")
        if qty is None:
            raise errors.mandatory("quantity")
        extra: dict[str, Any] = {}
        if otype == "LIMIT":
            if not tif_raw:
                raise errors.mandatory("timeInForce")
            if tif_raw == "GTD":
                extra.update(self._good_till_date(params))
                tif_raw = "GTC"  # the engine rests it like GTC; run() expires it at goodTillDate
            if price_match != "NONE":
                if price is not None:
                    raise BinanceError(-1106, "Parameter 'price' sent when not required.")
                price = self._price_match(symbol, side, price_match)
                extra["priceMatch"] = price_match
            elif price is None:
                raise errors.mandatory("price")
            tif = TimeInForce(tif_raw)
        else:
            if price is not None:
                raise errors.not_required("price")
            if price_match != "NONE":
                raise errors.not_required("priceMatch")
            tif = TimeInForce.GTC
        self.check_precision(symbol, qty, price)
        if qty == 0:
            raise BinanceError(-4003, "Quantity less than or equal to zero.")
        if price is not None and price == 0:
            raise BinanceError(-4001, "Price less than 0.")
        return {
            "symbol": symbol,
            "side": side,
            "type": OrderType(otype),
            "qty": qty,
            "price": price,
            "tif": tif,
            "client_id": client_id,
            "reduce_only": reduce_only,
            "stp": STPMode(stp),
            "extra": extra,
            "_resp": resp_type,
        }

    async def op_place(self, account: Account, params: Params, headers: dict[str, str]) -> dict[str, Any]:
        """POST order / ``order.place``: validate, count, apply faults, place, answer ACK or RESULT."""
        spec = self.parse_new_order(account, params)
        return await self._place_spec(account, spec, headers)

    async def _place_spec(self, account: Account, spec: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        headers.update(self.fe.limiter.take("ORDERS", account.account_id))
        if self.fe.faults.take("reject_orders"):
            raise self.fe.order_error(OrderError(RejectReason.INJECTED, self.fe.faults.reject_message), spec["symbol"])
        resp = spec.pop("_resp")
        if spec["tif"] is TimeInForce.FOK and not self._fok_fillable(account, spec):
            # Binance futures rejects an unfillable FOK synchronously; nothing is recorded.
            raise BinanceError(
                -5021,
                "Due to the order could not be filled immediately, the FOK order has been "
                "rejected. The order will not be recorded in the order history",
            )
        try:
            order = self.fe.market.place(account, **spec)
            if order.is_open and "goodTillDate" in order.extra:
                self.fe.good_till[order.order_id] = (account.account_id, order.symbol, order.extra["goodTillDate"])
            ack = self.fe.wire.ack(order) if resp == "ACK" else None
            result = ack if ack is not None else self.fe.wire.order(order)
        except OrderError as e:
            raise self.fe.order_error(e, spec["symbol"]) from None
        if self.fe.faults.take("unknown_outcome"):
            raise errors.execution_unknown()
        if self.fe.faults.slow_ack_ms:
            await asyncio.sleep(self.fe.faults.slow_ack_ms / 1000)
        return result

    def _fok_fillable(self, account: Account, spec: dict[str, Any]) -> bool:
        """Would a FOK order fill completely against the book right now? Own resting orders do not count
        when self-trade prevention would expire them."""
        side: Side = spec["side"]
        limit: Decimal | None = spec["price"]
        need: Decimal = spec["qty"]
        skip_own = spec["stp"] is not STPMode.NONE
        for px, level in self.fe.market.books[spec["symbol"]].opposite_levels(side):
            if limit is not None and (px > limit if side is Side.BUY else px < limit):
                break
            for maker in level.values():
                if skip_own and maker.account_id == account.account_id:
                    continue
                need -= maker.remaining
                if need <= 0:
                    return True
        return False

    def op_modify(
        self,
        account: Account,
        params: Params,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """PUT order / ``order.modify``: new price and quantity; the order loses queue priority.

        USDⓈ-M needs both ``quantity`` and ``price`` (or ``priceMatch``); COIN-M accepts either.
        A new quantity at or below the executed quantity cancels the order, as does a GTX order whose
        new price would cross (the engine's Binance rules)."""
        symbol = self.fe.symbol(params)
        side = Side(params.enum("side", ("BUY", "SELL"), required=True))
        self._order_ref(params)  # -1102 if neither orderId nor origClientOrderId, before other checks
        price_match = params.enum("priceMatch", PRICE_MATCH, default="NONE")
        qty = params.decimal("quantity")
        price = params.decimal("price")
        if price_match != "NONE":
            if price is not None:
                raise BinanceError(-1106, "Parameter 'price' sent when not required.")
            price = self._price_match(symbol, side, price_match)
        if self.fe.coinm:
            if qty is None and price is None:
                raise BinanceError(-1102, "Param 'quantity' or 'price' must be sent, but both were empty/null!")
        else:
            if qty is None:
                raise errors.mandatory("quantity")
            if price is None:
                raise errors.mandatory("price")
        order = self._find(account, params, open_only=True)
        if order.type is not OrderType.LIMIT:
            raise BinanceError(-4028, "Invalid modification: only LIMIT orders can be modified.")
        if order.side is not side:
            raise BinanceError(-4028, "Invalid modification: side does not match the order.")
        if (qty is None or qty == order.qty) and (price is None or price == order.price):
            raise BinanceError(-5027, "No need to modify the order.")
        self.check_precision(symbol, qty, price)
        if qty is not None and qty == 0:
            raise BinanceError(-4003, "Quantity less than or equal to zero.")
        # Modify weighs 1 on both order-count limits (and 0 on IP weight).
        counted = self.fe.limiter.take("ORDERS", account.account_id)
        if headers is not None:
            headers.update(counted)
        if price_match != "NONE":
            order.extra["priceMatch"] = price_match
        try:
            order = self.fe.market.amend(
                account, symbol, order.order_id, None, new_qty=qty, new_price=price, priority="lose"
            )
        except OrderError as e:
            raise self.fe.order_error(e, symbol, op="amend") from None
        if self.fe.coinm:
            order.stp = STPMode.NONE  # COIN-M docs: "Modify order will set selfTradePreventionMode to NONE"
        return self.fe.wire.order(order)

    def op_cancel(self, account: Account, params: Params) -> dict[str, Any]:
        symbol = self.fe.symbol(params)
        order_id, client_id = self._order_ref(params)
        try:
            order = self.fe.market.cancel(account, symbol, order_id, client_id)
        except OrderError as e:
            raise self.fe.order_error(e, symbol, op="cancel") from None
        return self.fe.wire.order(order)

    def _find(self, account: Account, params: Params, open_only: bool) -> Order:
        symbol = self.fe.symbol(params)
        order_id, client_id = self._order_ref(params)
        try:
            order = self.fe.market.find_order(account, symbol, order_id, client_id)
        except OrderError:
            raise BinanceError(-2013, "Order does not exist.") from None
        if order.trigger is not None or (open_only and not order.is_open):  # an algo order: not on this API
            raise BinanceError(-2013, "Order does not exist.")
        return order

    def op_query(self, account: Account, params: Params) -> dict[str, Any]:
        """GET order / ``order.status``: an open or recently closed order."""
        return self.fe.wire.order(self._find(account, params, open_only=False), with_time=True)

    def op_open_order(self, account: Account, params: Params) -> dict[str, Any]:
        """GET openOrder: only while the order is open."""
        return self.fe.wire.order(self._find(account, params, open_only=True), with_time=True)

    def op_cancel_all(self, account: Account, params: Params) -> dict[str, Any]:
        symbol = self.fe.symbol(params)
        self.fe.market.cancel_all(account, symbol)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def op_countdown(self, account: Account, params: Params) -> dict[str, Any]:
        symbol = self.fe.symbol(params)
        countdown = params.int("countdownTime", required=True)
        assert countdown is not None
        if countdown < 0:
            raise errors.illegal_chars("countdownTime")
        key = (account.account_id, symbol)
        if countdown == 0:
            self.fe.countdowns.pop(key, None)
        else:
            self.fe.countdowns[key] = self.fe.now() + countdown
        return {"symbol": symbol, "countdownTime": str(countdown)}

    def batch_items(self, params: Params, name: str, limit: int) -> list[Any]:
        raw = params.str(name, required=True)
        try:
            items = loads(raw)
        except json.JSONDecodeError:
            raise BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.") from None
        if not isinstance(items, list) or not items:
            raise BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")
        if len(items) > limit:
            raise BinanceError(
                -4052 if name != "batchOrders" else -1130, f"Param '{name}' must be less than or equal to {limit}."
            )
        return items

    async def op_batch_place(self, account: Account, params: Params, headers: dict[str, str]) -> list[Any]:
        items = self.batch_items(params, "batchOrders", MAX_BATCH)
        out: list[Any] = []
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise BinanceError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
                spec = self.parse_new_order(account, Params(item))
                spec["_resp"] = "RESULT" if spec["_resp"] == "RESULT" else "ACK"
                out.append(await self._place_spec(account, spec, headers))
            except BinanceError as e:
                if e.code in (-1003, -1015) or e.status >= 500:
                    raise
                out.append(e.body())
        return out

    def op_batch_modify(self, account: Account, params: Params, headers: dict[str, str]) -> list[Any]:
        items = self.batch_items(params, "batchOrders", MAX_BATCH)
        out: list[Any] = []
        for item in items:
            try:
                if not isinstance(item, dict):
                    raise BinanceError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
                out.append(self.op_modify(account, Params(item), headers))
            except BinanceError as e:
                out.append(e.body())
        return out

    def op_batch_cancel(self, account: Account, params: Params) -> list[Any]:
        symbol = self.fe.symbol(params)
        if "orderIdList" in params:
            refs: list[tuple[int | None, str | None]] = []
            for v in self.batch_items(params, "orderIdList", MAX_BATCH_CANCEL):
                if not isinstance(v, int) or isinstance(v, bool):
                    raise BinanceError(-1130, "Data sent for parameter 'orderIdList' is not valid.")
                refs.append((v, None))
        elif "origClientOrderIdList" in params:
            refs = [(None, str(v)) for v in self.batch_items(params, "origClientOrderIdList", MAX_BATCH_CANCEL)]
        else:
            raise BinanceError(
                -1102, "Param 'orderIdList' or 'origClientOrderIdList' must be sent, but both were empty/null!"
            )
        out: list[Any] = []
        for order_id, client_id in refs:
            try:
                order = self.fe.market.cancel(account, symbol, order_id, client_id)
                out.append(self.fe.wire.order(order))
            except OrderError as e:
                out.append(self.fe.order_error(e, symbol, op="cancel").body())
        return out

    def op_open_orders(self, account: Account, params: Params) -> list[dict[str, Any]]:
        symbol = self.fe.symbol(params, required=False) or None
        orders = sorted(self.fe.market.open_orders(account, symbol), key=lambda o: o.order_id)
        return [self.fe.wire.order(o, with_time=True) for o in orders]

    def op_all_orders(self, account: Account, params: Params) -> list[dict[str, Any]]:
        symbol = self.fe.symbol(params)
        limit = min(max(params.int("limit", default=500) or 500, 1), 1000)
        start_id = params.int("orderId")
        start, end = params.int("startTime"), params.int("endTime")
        orders: list[Order] = sorted(
            (o for o in self.fe.market.account_orders(account, symbol) if o.trigger is None), key=lambda o: o.order_id
        )
        if start_id is not None:
            orders = [o for o in orders if o.order_id >= start_id]
        if start is not None:
            orders = [o for o in orders if o.created_ms >= start]
        if end is not None:
            orders = [o for o in orders if o.created_ms <= end]
        return [self.fe.wire.order(o, with_time=True) for o in orders[-limit:]]

    def op_user_trades(self, account: Account, params: Params) -> list[dict[str, Any]]:
        symbol = self.fe.symbol(params, required=not self.fe.coinm) or None
        if self.fe.coinm and symbol is None:
            pair = params.str("pair", required=True)
            fills = [
                f for f in self.fe.market.account_trades(account) if self.fe.market.instruments[f.symbol].pair == pair
            ]
        else:
            fills = self.fe.market.account_trades(account, symbol)
        limit = min(max(params.int("limit", default=500) or 500, 1), 1000)
        from_id, order_id = params.int("fromId"), params.int("orderId")
        start, end = params.int("startTime"), params.int("endTime")
        if from_id is not None:
            fills = [f for f in fills if f.trade_id >= from_id]
        if order_id is not None:
            fills = [f for f in fills if f.order_id == order_id]
        if start is not None:
            fills = [f for f in fills if f.time_ms >= start]
        if end is not None:
            fills = [f for f in fills if f.time_ms <= end]
        return [self.fe.wire.trade(f, account) for f in fills[-limit:]]

    def op_leverage(self, account: Account, params: Params) -> dict[str, Any]:
        symbol = self.fe.symbol(params)
        leverage = params.int("leverage", required=True)
        assert leverage is not None
        if not 1 <= leverage <= 125:
            raise BinanceError(-4028, f"Leverage {leverage} is not valid")
        self.fe.market.set_leverage(account, symbol, leverage)
        if self.fe.coinm:
            return {"leverage": leverage, "maxQty": "1000000", "symbol": symbol}
        return {"leverage": leverage, "maxNotionalValue": "250000000", "symbol": symbol}

    def op_account(self, account: Account, version: int) -> dict[str, Any]:
        return self.fe.wire.account(account, version)

    def op_balance(self, account: Account) -> list[dict[str, Any]]:
        return self.fe.wire.balances(account, alias_of(account))

    def op_position_risk(self, account: Account, params: Params, version: int) -> list[dict[str, Any]]:
        if self.fe.coinm:
            pair = params.str("pair")
            rows = self.fe.wire.position_risk(account, None, version)
            return [r for r in rows if not pair or self.fe.market.instruments[r["symbol"]].pair == pair]
        return self.fe.wire.position_risk(account, self.fe.symbol(params, required=False) or None, version)
