"""OKX algo orders (``POST /api/v5/trade/order-algo``, ``cancel-algos``, ``orders-algo-pending``,
``orders-algo-history``, ``GET order-algo``; the business websocket's ``orders-algo`` channel), over the
engine's conditional orders (core/conditional.py, ``spawn``: the algo order places its order when it fires).

``ordType``: ``conditional`` (one-way stop: a stop-loss ``slTriggerPx`` / ``slOrdPx`` or a take-profit
``tpTriggerPx`` / ``tpOrdPx``; both at once is an OCO, not simulated), ``trigger`` (``triggerPx``,
``orderPx``; it fires when the price reaches ``triggerPx`` from where it was when placed), ``move_order_stop``
(a trailing stop: ``callbackRatio`` or ``callbackSpread``, optional ``activePx``). An order price ``-1`` is a
market order. Trigger price types ``last`` (default), ``mark`` (the book's mid), ``index`` (the mid too: the
simulator has no index). States: ``live`` until it fires, then ``effective`` (``ordId`` = the order it placed,
under ``algoClOrdId`` as its ``clOrdId``), ``canceled``, ``order_failed``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...core import conditional
from ...core.accounts import Account
from ...core.types import Direction, Order, OrderError, OrderStatus, OrderType, Side, TimeInForce, Trigger, TriggerRef
from . import errors, wire
from .errors import ItemError, OkxError
from .trading import decimal, mode_and_side, text

if TYPE_CHECKING:
    from .frontend import OkxFrontend

ALGO_TYPES = ("conditional", "trigger", "move_order_stop")
PX_TYPES = {"last": TriggerRef.LAST, "mark": TriggerRef.MARK, "index": TriggerRef.INDEX}
ORD_PX = {"triggerPxType": "orderPx", "slTriggerPxType": "slOrdPx", "tpTriggerPxType": "tpOrdPx"}
ALGO_CL_ORD_ID = re.compile(r"[A-Za-z0-9]{1,32}")
STATE = {
    OrderStatus.UNTRIGGERED: "live",
    OrderStatus.TRIGGERED: "effective",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.REJECTED: "order_failed",
}


def is_algo(order: Order) -> bool:
    return order.trigger is not None and order.trigger.spawn


class OkxAlgo:
    def __init__(self, fe: OkxFrontend) -> None:
        self.fe = fe
        self.market = fe.market

    # ------------------------------------------------------------------ wire

    def row(self, o: Order) -> dict[str, Any]:
        t = o.trigger
        assert t is not None
        inst = self.fe.instruments[o.symbol]
        x = o.extra
        child = t.child
        ord_px = wire.num(o.price) if o.price is not None else "-1"
        level = wire.num(t.price) if t.price is not None else ""
        kind, leg = x["ordType"], x.get("leg", "")
        account = self.fe.exchange.accounts[o.account_id]
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
            "state": STATE.get(o.status, "live"),
            "lever": str(self.fe.lever(account, inst)) if inst.is_swap else "",
            "tpTriggerPx": level if leg == "tp" else "",
            "tpTriggerPxType": x["pxType"] if leg == "tp" else "",
            "tpOrdPx": ord_px if leg == "tp" else "",
            "slTriggerPx": level if leg == "sl" else "",
            "slTriggerPxType": x["pxType"] if leg == "sl" else "",
            "slOrdPx": ord_px if leg == "sl" else "",
            "triggerPx": level if kind == "trigger" else "",
            "triggerPxType": x["pxType"] if kind == "trigger" else "",
            "ordPx": ord_px if kind == "trigger" else "",
            "callbackRatio": wire.num(t.rate) if t.rate is not None else "",
            "callbackSpread": wire.num(t.offset) if t.offset is not None else "",
            "activePx": wire.num(t.activation) if t.activation is not None else "",
            "moveTriggerPx": level if kind == "move_order_stop" else "",
            "actualSz": wire.num(inst.from_engine(child.qty)) if child is not None else "",
            "actualPx": wire.num(child.price) if child is not None and child.price is not None else "",
            "actualSide": ("sl" if leg == "sl" else "tp" if leg == "tp" else "") if child is not None else "",
            "triggerTime": str(t.fired_ms) if t.fired_ms else "",
            "reduceOnly": "true" if o.reduce_only else "false",
            "tag": "",
            "cTime": str(o.created_ms),
            "uTime": str(o.updated_ms),
        }

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
        extra: dict[str, Any] = {"ordType": kind, "tdMode": td_mode, "algoClOrdId": cl}
        trigger, price = self._trigger(inst.inst_id, kind, side, item, extra)
        trigger.spawn = True
        extra["child_client_id"] = cl
        extra["child_extra"] = {"clOrdId": cl, "tag": "", "ordType": "limit" if price else "market", "tdMode": td_mode}
        try:
            order = conditional.arm(
                self.market,
                account,
                inst.inst_id,
                side,
                OrderType.LIMIT if price is not None else OrderType.MARKET,
                inst.to_engine(sz),
                trigger,
                price,
                TimeInForce.GTC,
                client_id=cl,
                reduce_only=reduce == "true",
                extra=extra,
                reject_crossed=False,
            )
        except OrderError as exc:
            raise errors.from_engine(exc, inst.quote if side is Side.BUY else inst.base) from None
        return [{"algoId": str(order.order_id), "algoClOrdId": cl, "clOrdId": "", "sCode": "0", "sMsg": "", "tag": ""}]

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
            leg = ""
        else:
            sl, tp = decimal(item, "slTriggerPx"), decimal(item, "tpTriggerPx")
            if (sl is None) == (tp is None):
                raise ItemError("51000", "Parameter slTriggerPx or tpTriggerPx error (one of them; both: ordType oco)")
            leg = "sl" if sl is not None else "tp"
            level, px_text, type_key = (
                (sl, text(item, "slOrdPx"), "slTriggerPxType") if sl else (tp, text(item, "tpOrdPx"), "tpTriggerPxType")
            )
            rise = rise if leg == "sl" else not rise  # a buy stop-loss rises to it, a buy take-profit falls
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
                if o.status is not OrderStatus.UNTRIGGERED:
                    raise OkxError("51603", "Order does not exist")
                self.market.cancel(account, o.symbol, order_id=o.order_id)
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
            if (o.status is OrderStatus.UNTRIGGERED) != pending:
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
