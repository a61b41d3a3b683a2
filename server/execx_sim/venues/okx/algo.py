"""OKX algo orders (``POST /api/v5/trade/order-algo``, ``cancel-algos``, ``orders-algo-pending``,
``orders-algo-history``, ``GET order-algo``; the business websocket's ``orders-algo`` channel), over the
engine's conditional orders (core/conditional.py, ``spawn``: the algo order places its order when it fires).

``ordType``: ``conditional`` (one-way stop: a stop-loss ``slTriggerPx`` / ``slOrdPx`` or a take-profit
``tpTriggerPx`` / ``tpOrdPx``; with both, only the stop-loss, as OKX's document says), ``oco`` (both, each
with its trigger price type: one algo order whose first leg to reach its level places its order and ends the
other; a buy's take-profit must be below the reference price and its stop-loss above, a sell's the other way
round, else ``51277`` / ``51278`` / ``51279`` / ``51280`` in OKX's words; two engine orders behind one
``algoId``, the stop-loss leg listed, ``Oco``), ``trigger`` (``triggerPx``, ``orderPx``; it fires when the
price reaches ``triggerPx`` from where it was when placed), ``move_order_stop`` (a trailing stop:
``callbackRatio`` or ``callbackSpread``, optional ``activePx``). An order price ``-1`` is a
market order. Trigger price types ``last`` (default), ``mark`` (the book's mid), ``index`` (the mid too: the
simulator has no index). States: ``live`` until it fires, then ``effective`` (``ordId`` = the order it placed,
under ``algoClOrdId`` as its ``clOrdId``; ``actualSide`` sl / tp), ``canceled``, ``order_failed``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
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
from . import errors, wire
from .errors import ItemError, OkxError
from .trading import decimal, mode_and_side, text

if TYPE_CHECKING:
    from .frontend import OkxFrontend

ALGO_TYPES = ("conditional", "oco", "trigger", "move_order_stop")
PX_TYPES = {"last": TriggerRef.LAST, "mark": TriggerRef.MARK, "index": TriggerRef.INDEX}
ORD_PX = {"triggerPxType": "orderPx", "slTriggerPxType": "slOrdPx", "tpTriggerPxType": "tpOrdPx"}
ALGO_CL_ORD_ID = re.compile(r"[A-Za-z0-9]{1,32}")
STATE = {
    OrderStatus.UNTRIGGERED: "live",
    OrderStatus.TRIGGERED: "effective",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.REJECTED: "order_failed",
}


# an oco leg's level on the wrong side of the reference price: (leg, buy) -> OKX's code and message
OCO_SIDE_ERRORS = {
    ("tp", True): ("51277", "TP trigger price cannot be higher than the last price."),
    ("sl", True): ("51278", "SL trigger price cannot be lower than the last price."),
    ("tp", False): ("51279", "TP trigger price cannot be lower than the last price."),
    ("sl", False): ("51280", "SL trigger price cannot be higher than the last price."),
}


def is_algo(order: Order) -> bool:
    """An algo order as the API lists it (an oco's take-profit leg is listed through its stop-loss leg)."""
    if order.trigger is None or not order.trigger.spawn:
        return False
    oco = order.extra.get("oco")
    return oco is None or oco.sl is order


@dataclass(eq=False)
class Oco:
    """One ``oco`` algo order: its stop-loss leg (carries the algoId, listed) and take-profit leg, each an armed
    engine order that spawns the order when it fires. ``state``: live, effective (``fired`` placed its order),
    canceled, order_failed."""

    sl: Order
    tp: Order | None = None
    fired: Order | None = None
    state: str = "live"
    placing: bool = True

    def other(self, leg: Order) -> Order | None:
        return self.tp if leg is self.sl else self.sl


class OkxAlgo:
    def __init__(self, fe: OkxFrontend) -> None:
        self.fe = fe
        self.market = fe.market

    # ------------------------------------------------------------------ wire

    def row(self, o: Order) -> dict[str, Any]:
        oco: Oco | None = o.extra.get("oco")
        if oco is not None:
            o = oco.sl
        t = o.trigger
        assert t is not None
        inst = self.fe.instruments[o.symbol]
        x = o.extra
        kind = x["ordType"]
        legs = {"sl": oco.sl, "tp": oco.tp} if oco is not None else {x.get("leg", ""): o}
        fired = (oco.fired if oco is not None else o) or o
        child = fired.trigger.child if fired.trigger is not None else None
        ord_px = wire.num(o.price) if o.price is not None else "-1"
        level = wire.num(t.price) if t.price is not None else ""
        account = self.fe.exchange.accounts[o.account_id]

        def leg_field(leg: str, what: str) -> str:
            order = legs.get(leg)
            if order is None or order.trigger is None:
                return ""
            if what == "px":
                return wire.num(order.trigger.price) if order.trigger.price is not None else ""
            if what == "type":
                return str(order.extra["pxType"])
            return wire.num(order.price) if order.price is not None else "-1"

        return {
            "instType": inst.inst_type,
            "instId": inst.inst_id,
            "ordId": str(child.order_id) if child is not None else "",
            "ordIdList": [str(child.order_id)] if child is not None else [],
            "algoId": str(o.order_id),
            "algoClOrdId": x.get("algoClOrdId", ""),
            "clOrdId": "",
            "sz": wire.num(inst.from_engine(o.qty)),
            "ordType": kind,
            "side": wire.side(o.side),
            "posSide": "net",
            "tdMode": x.get("tdMode", ""),
            "tgtCcy": "",
            "state": self.state(o),
            "lever": str(self.fe.lever(account, inst)) if inst.is_swap else "",
            "tpTriggerPx": leg_field("tp", "px"),
            "tpTriggerPxType": leg_field("tp", "type"),
            "tpOrdPx": leg_field("tp", "ordPx"),
            "slTriggerPx": leg_field("sl", "px"),
            "slTriggerPxType": leg_field("sl", "type"),
            "slOrdPx": leg_field("sl", "ordPx"),
            "triggerPx": level if kind == "trigger" else "",
            "triggerPxType": x["pxType"] if kind == "trigger" else "",
            "ordPx": ord_px if kind == "trigger" else "",
            "callbackRatio": wire.num(t.rate) if t.rate is not None else "",
            "callbackSpread": wire.num(t.offset) if t.offset is not None else "",
            "activePx": wire.num(t.activation) if t.activation is not None else "",
            "moveTriggerPx": level if kind == "move_order_stop" else "",
            "actualSz": wire.num(inst.from_engine(child.qty)) if child is not None else "",
            "actualPx": wire.num(child.price) if child is not None and child.price is not None else "",
            "actualSide": str(fired.extra.get("leg", "")) if fired.trigger and fired.trigger.fired_ms else "",
            "triggerTime": str(fired.trigger.fired_ms) if fired.trigger is not None and fired.trigger.fired_ms else "",
            "failCode": self._fail_code(fired) if self.state(o) == "order_failed" else "",
            "reduceOnly": "true" if o.reduce_only else "false",
            "tag": "",
            "cTime": str(o.created_ms),
            "uTime": str(max(leg.updated_ms for leg in (o, fired))),
        }

    @staticmethod
    def _fail_code(o: Order) -> str:
        """Why the order an algo order placed was refused, as OKX's code (``failCode`` of ``order_failed``)."""
        try:
            reason = RejectReason(o.expire_reason)
        except ValueError:
            return "51000"
        return errors.from_engine(OrderError(reason)).code

    def state(self, o: Order) -> str:
        oco: Oco | None = o.extra.get("oco")
        return oco.state if oco is not None else STATE.get(o.status, "live")

    # ------------------------------------------------------------------ operations

    def place(self, account: Account, item: dict[str, Any]) -> list[dict[str, Any]]:
        inst = self.fe.trading.inst(item)
        kind = text(item, "ordType")
        if kind not in ALGO_TYPES:
            raise errors.item_param_error("ordType")
        td_mode, side = mode_and_side(inst, item)
        sz = decimal(item, "sz", required=True)
        assert sz is not None
        cl = text(item, "algoClOrdId")
        if cl and not ALGO_CL_ORD_ID.fullmatch(cl):
            raise errors.item_param_error("algoClOrdId")
        reduce = text(item, "reduceOnly")
        if reduce not in ("", "true", "false"):
            raise errors.item_param_error("reduceOnly")
        if kind == "oco":
            return self._place_oco(account, inst.inst_id, side, td_mode, inst.to_engine(sz), cl, reduce, item)
        extra: dict[str, Any] = {"ordType": kind, "tdMode": td_mode, "algoClOrdId": cl}
        trigger, price = self._trigger(inst.inst_id, kind, side, item, extra)
        trigger.spawn = True
        extra["child_client_id"] = cl
        extra["child_extra"] = {"clOrdId": cl, "tag": "", "ordType": "limit" if price else "market", "tdMode": td_mode}
        order = self._arm(account, inst.inst_id, side, inst.to_engine(sz), trigger, price, cl, reduce, extra)
        return [{"algoId": str(order.order_id), "algoClOrdId": cl, "clOrdId": "", "sCode": "0", "sMsg": "", "tag": ""}]

    def _arm(
        self,
        account: Account,
        symbol: str,
        side: Side,
        qty: Decimal,
        trigger: Trigger,
        price: Decimal | None,
        client_id: str,
        reduce: str,
        extra: dict[str, Any],
    ) -> Order:
        inst = self.fe.instruments[symbol]
        try:
            return conditional.arm(
                self.market,
                account,
                symbol,
                side,
                OrderType.LIMIT if price is not None else OrderType.MARKET,
                qty,
                trigger,
                price,
                TimeInForce.GTC,
                client_id=client_id,
                reduce_only=reduce == "true",
                extra=extra,
                reject_crossed=False,
            )
        except OrderError as exc:
            raise errors.from_engine(exc, inst.quote if side is Side.BUY else inst.base) from None

    def _place_oco(
        self,
        account: Account,
        symbol: str,
        side: Side,
        td_mode: str,
        qty: Decimal,
        cl: str,
        reduce: str,
        item: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """An ``oco``: both legs required; each leg's level on its side of its reference price (a buy's
        take-profit below, its stop-loss above; a sell's the other way round), so neither fires at once."""
        legs: dict[str, tuple[Trigger, Decimal | None, dict[str, Any]]] = {}
        for leg in ("sl", "tp"):
            if decimal(item, f"{leg}TriggerPx") is None:
                raise errors.item_param_error(f"{leg}TriggerPx")
            extra: dict[str, Any] = {"ordType": "oco", "tdMode": td_mode, "algoClOrdId": cl if leg == "sl" else ""}
            trigger, price = self._leg_trigger(side, item, leg, extra)
            now = conditional.reference(self.market, symbol, trigger.ref)
            assert trigger.price is not None
            if now is not None and conditional.crossed(trigger.direction, trigger.price, now):
                raise ItemError(*OCO_SIDE_ERRORS[(leg, side is Side.BUY)])
            legs[leg] = (trigger, price, extra)
        oco: Oco | None = None
        armed: list[Order] = []
        try:
            for leg, (trigger, price, extra) in legs.items():
                trigger.spawn = True
                ord_type = "limit" if price is not None else "market"
                extra["child_client_id"] = cl
                extra["child_extra"] = {"clOrdId": cl, "tag": "", "ordType": ord_type, "tdMode": td_mode}
                if oco is not None:
                    extra["oco"] = oco
                order = self._arm(account, symbol, side, qty, trigger, price, cl if leg == "sl" else "", reduce, extra)
                armed.append(order)
                if oco is None:
                    oco = order.extra["oco"] = Oco(order)
                else:
                    oco.tp = order
        except ItemError:
            for order in armed:  # the stop-loss leg armed, the take-profit refused: nothing stays
                self.market.cancel(account, symbol, order_id=order.order_id)
            raise
        assert oco is not None
        oco.placing = False
        self.fe._push_algo(account, oco.sl)
        return [{"algoId": str(oco.sl.order_id), "algoClOrdId": cl, "clOrdId": "", "sCode": "0", "sMsg": "", "tag": ""}]

    def on_leg_event(self, ev: OrderEvent) -> Order | None:
        """An event of an algo order's engine order: the algo order to push on ``orders-algo``, None for none. An
        oco's legs are one algo order: the first to fire (or end) ends the other, taken off the evaluation at once
        and cancelled after this engine operation; that cancel is not pushed."""
        order = ev.order
        oco: Oco | None = order.extra.get("oco")
        if oco is None:
            return None if order.extra.get("ordType") == "oco" else order  # an oco's first leg being armed
        if oco.placing:
            return None  # pushed once both legs are armed
        if oco.state != "live":  # the fired leg's order refused when placed; else the other leg's end
            if ev.exec_type is not ExecType.REJECTED or order is not oco.fired:
                return None
            oco.state = "order_failed"
            return oco.sl
        if ev.exec_type is ExecType.TRIGGERED:
            oco.fired, oco.state = order, "effective"
        elif ev.exec_type is ExecType.REJECTED:
            oco.fired, oco.state = order, "order_failed"
        elif ev.exec_type in (ExecType.CANCELED, ExecType.EXPIRED):
            oco.state = "canceled"
        else:
            return oco.sl
        other = oco.other(order)
        if other is not None and other.status is OrderStatus.UNTRIGGERED:
            conditional.hold(self.market, other)
            asyncio.get_running_loop().call_soon(self._end_leg, other)
        return oco.sl

    def place_attached(self, order: Order) -> None:
        """The TP/SL attached to ``order`` (``attachAlgoOrds``, ``trading.attached``), placed once the order is fully
        filled or partially filled with the rest cancelled, for the filled size (OKX's rule since its announcement of
        1 July 2026; before, only on a full fill): an ``oco`` algo order with both legs, else a ``conditional`` one,
        of the opposite side, under ``attachAlgoClOrdId`` (its ``attachAlgoId`` = the algo order's ``algoId``).
        Refused when placed (a level already on the wrong side of the last price, ...): nothing placed, the order's
        ``attachAlgoOrds`` row carries ``failCode`` / ``failReason``. Placed once."""
        attach = order.extra.get("attach")
        if not isinstance(attach, dict) or order.extra.get("attachPlaced") or not order.filled:
            return
        order.extra["attachPlaced"] = True
        inst = self.fe.instruments[order.symbol]
        legs = {k: v for k, v in attach.items() if k[:2] in ("tp", "sl")}
        item = {
            "instId": order.symbol,
            "tdMode": order.extra.get("tdMode", "cash"),
            "side": "sell" if order.side is Side.BUY else "buy",
            "ordType": "oco" if "tpTriggerPx" in legs and "slTriggerPx" in legs else "conditional",
            "sz": wire.num(inst.from_engine(order.filled)),
            "algoClOrdId": attach["attachAlgoClOrdId"],
            **legs,
        }
        try:
            (placed,) = self.place(self.fe.exchange.accounts[order.account_id], item)
        except (ItemError, OkxError) as exc:
            attach["failCode"], attach["failReason"] = exc.code, exc.msg
            return
        attach["attachAlgoId"] = str(placed["algoId"])

    def _end_leg(self, leg: Order) -> None:
        if leg.status is OrderStatus.UNTRIGGERED:
            self.market.cancel(self.fe.exchange.accounts[leg.account_id], leg.symbol, order_id=leg.order_id)

    def _trigger(
        self, symbol: str, kind: str, side: Side, item: dict[str, Any], extra: dict[str, Any]
    ) -> tuple[Trigger, Decimal | None]:
        """The trigger and the limit price (None: market) of an algo order of ``kind``."""
        rise = side is Side.BUY
        if kind == "move_order_stop":
            ratio, spread = decimal(item, "callbackRatio"), decimal(item, "callbackSpread")
            if (ratio is None) == (spread is None):
                raise ItemError("51000", "Parameter callbackRatio or callbackSpread error")
            direction = Direction.RISE if rise else Direction.FALL
            trigger = Trigger(
                direction, None, TriggerRef.LAST, offset=spread, rate=ratio, activation=decimal(item, "activePx")
            )
            extra["pxType"] = "last"
            return trigger, None
        if kind == "trigger":
            level, px_text, type_key = decimal(item, "triggerPx", required=True), text(item, "orderPx"), "triggerPxType"
        else:
            sl, tp = decimal(item, "slTriggerPx"), decimal(item, "tpTriggerPx")
            if sl is None and tp is None:
                raise ItemError("51000", "Parameter slTriggerPx or tpTriggerPx error")
            # both: "only stop-loss logic will be performed and take-profit logic will be ignored" (OKX)
            return self._leg_trigger(side, item, "sl" if sl is not None else "tp", extra)
        return self._level_trigger(symbol, kind, rise, level, px_text, type_key, "", item, extra)

    def _leg_trigger(
        self, side: Side, item: dict[str, Any], leg: str, extra: dict[str, Any]
    ) -> tuple[Trigger, Decimal | None]:
        """The trigger of a take-profit / stop-loss leg (``conditional``, ``oco``): a buy stop-loss rises to its
        level, a buy take-profit falls to it (a sell's the other way round)."""
        rise = (side is Side.BUY) == (leg == "sl")
        level, px_text, type_key = decimal(item, f"{leg}TriggerPx"), text(item, f"{leg}OrdPx"), f"{leg}TriggerPxType"
        return self._level_trigger("", "conditional", rise, level, px_text, type_key, leg, item, extra)

    def _level_trigger(
        self,
        symbol: str,
        kind: str,
        rise: bool,
        level: Decimal | None,
        px_text: str,
        type_key: str,
        leg: str,
        item: dict[str, Any],
        extra: dict[str, Any],
    ) -> tuple[Trigger, Decimal | None]:
        px_type = text(item, type_key) or "last"
        if px_type not in PX_TYPES or level is None:
            raise errors.item_param_error(type_key)
        if not px_text:
            raise ItemError(
                "50014",
                f"Parameter {ORD_PX[type_key]} can not be empty.",
            )
        price = None if px_text == "-1" else Decimal(px_text)
        ref = PX_TYPES[px_type]
        if kind == "trigger":  # it fires when the price reaches the level from where it is now
            now = conditional.reference(self.market, symbol, ref) or self.market.mark_price(symbol)
            rise = level >= now
        extra["pxType"], extra["leg"] = px_type, leg
        return Trigger(Direction.RISE if rise else Direction.FALL, level, ref), price

    def _find(self, account: Account, algo_id: str, cl: str = "") -> Order:
        for o in self.market.account_orders(account):
            if is_algo(o) and (
                (algo_id and str(o.order_id) == algo_id) or (not algo_id and cl and o.extra.get("algoClOrdId") == cl)
            ):
                return o
        raise OkxError("51603", "Order does not exist")

    def cancel(self, account: Account, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for item in items:
            algo_id = text(item, "algoId")
            try:
                o = self._find(account, algo_id)
                if self.state(o) != "live":
                    raise OkxError("51603", "Order does not exist")
                self.market.cancel(account, o.symbol, order_id=o.order_id)  # an oco's other leg: on_leg_event
                out.append({"algoId": algo_id, "sCode": "0", "sMsg": ""})
            except OkxError as exc:
                out.append({"algoId": algo_id, "sCode": exc.code, "sMsg": exc.msg})
        return out

    def listed(self, account: Account, q: dict[str, str], pending: bool) -> list[dict[str, Any]]:
        kinds = [k for k in q.get("ordType", "").split(",") if k]
        if not kinds:
            raise errors.param_empty("ordType")
        state = q.get("state", "")
        if not pending and not state and not q.get("algoId"):
            raise errors.param_empty("state")
        rows = []
        for o in sorted(self.market.account_orders(account), key=lambda o: o.order_id, reverse=True):
            if not is_algo(o) or o.extra["ordType"] not in kinds:
                continue
            if (self.state(o) == "live") != pending:
                continue
            row = self.row(o)
            if (q.get("instId") and row["instId"] != q["instId"]) or (q.get("algoId") and row["algoId"] != q["algoId"]):
                continue
            if state and row["state"] != state:
                continue
            rows.append(row)
        return rows

    def detail(self, account: Account, q: dict[str, str]) -> list[dict[str, Any]]:
        if not q.get("algoId") and not q.get("algoClOrdId"):
            raise errors.param_empty("algoId")
        return [self.row(self._find(account, q.get("algoId", ""), q.get("algoClOrdId", "")))]
