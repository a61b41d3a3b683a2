"""OKX order operations on the matching engine, shared by REST (``/api/v5/trade/...``) and the
private WebSocket's order operations: place, cancel and amend, single or batched (≤ 20 items), with
OKX's validation, ``sCode`` / ``sMsg`` per item and the envelope codes ``0`` / ``1`` / ``2``.

Venue rules modelled (``../shared/venues/okx.md`` §3-§5): ``ordType`` carries the time in force
(``limit``, ``post_only``, ``ioc``, ``fok``, ``market``, ``optimal_limit_ioc``); a crossing
``post_only`` order is accepted and then cancelled with ``cancelSource "31"``; ``clOrdId`` is 1-32
letters and digits and unique among pending orders (``51016``); spot ``tdMode`` is ``cash``, swaps
``cross`` or ``isolated``; derivative sizes are contracts; spot market buys are sized in the quote
currency unless ``tgtCcy=base_ccy``; ``newSz`` of an amend is the new total size; there is no
cancel-all by instrument (cancel-all-after only); an order's attached TP/SL (``attachAlgoOrds``, one item:
``attached``) is placed by ``OkxAlgo.place_attached`` once the order ends filled or partially filled.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from ...core.accounts import Account
from ...core.engine import Market
from ...core.faults import Faults
from ...core.types import Order, OrderError, OrderType, RejectReason, Side, STPMode, TimeInForce
from . import errors
from .errors import ItemError, OkxError
from .instruments import OkxInstrument
from .ratelimit import OkxLimiter

CL_ORD_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
TAG = re.compile(r"^[A-Za-z0-9]{1,16}$")
MAX_BATCH = 20
ORD_TYPES = {
    "limit": (OrderType.LIMIT, TimeInForce.GTC),
    "post_only": (OrderType.LIMIT, TimeInForce.GTX),
    "ioc": (OrderType.LIMIT, TimeInForce.IOC),
    "fok": (OrderType.LIMIT, TimeInForce.FOK),
    "market": (OrderType.MARKET, TimeInForce.IOC),
    "optimal_limit_ioc": (OrderType.MARKET, TimeInForce.IOC),
}
STP = {"cancel_maker": STPMode.EXPIRE_MAKER, "cancel_taker": STPMode.EXPIRE_TAKER, "cancel_both": STPMode.EXPIRE_BOTH}

Op = Callable[[Account, dict[str, Any]], dict[str, Any]]


def text(item: dict[str, Any], key: str) -> str:
    """A parameter as text; OKX treats an empty string like an absent parameter (SDKs send both)."""
    value = item.get(key)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


ATTACH_CL_ORD_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
ATTACH_PX_TYPES = ("last", "index", "mark")


def attached(item: dict[str, Any]) -> dict[str, str] | None:
    """An order's ``attachAlgoOrds`` (its TP/SL, placed by the venue as an algo order once the order fills:
    ``OkxAlgo.place_attached``): one item, with ``attachAlgoClOrdId``, a take-profit (``tpTriggerPx``,
    ``tpOrdPx`` -1 for market, ``tpTriggerPxType``) and / or a stop-loss (``sl*``); None without one. Several items
    (OKX's split take-profit) are not simulated: refused naming ``attachAlgoOrds``."""
    raw = item.get("attachAlgoOrds")
    if raw is None or raw == [] or raw == "":
        return None
    if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], dict):
        raise errors.item_param_error("attachAlgoOrds")
    one: dict[str, Any] = raw[0]
    out = {"attachAlgoClOrdId": text(one, "attachAlgoClOrdId")}
    if out["attachAlgoClOrdId"] and not ATTACH_CL_ORD_ID.match(out["attachAlgoClOrdId"]):
        raise errors.item_param_error("attachAlgoClOrdId")
    for leg in ("tp", "sl"):
        trigger, ord_px, px_type = (text(one, f"{leg}{k}") for k in ("TriggerPx", "OrdPx", "TriggerPxType"))
        if not trigger:
            if ord_px:
                raise errors.item_param_error(f"{leg}TriggerPx")
            continue
        decimal(one, f"{leg}TriggerPx", required=True)  # positive, else 51000 naming it
        if ord_px != "-1":  # -1: a market order when it fires; else its limit price (required)
            decimal(one, f"{leg}OrdPx", required=True)
        if px_type and px_type not in ATTACH_PX_TYPES:
            raise errors.item_param_error(f"{leg}TriggerPxType")
        out |= {f"{leg}TriggerPx": trigger, f"{leg}OrdPx": ord_px, f"{leg}TriggerPxType": px_type or "last"}
    if "tpTriggerPx" not in out and "slTriggerPx" not in out:
        raise errors.item_param_error("attachAlgoOrds")
    return out


def decimal(item: dict[str, Any], key: str, required: bool = False) -> Decimal | None:
    raw = text(item, key)
    if not raw:
        if required:
            raise errors.item_param_error(key)
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise errors.item_param_error(key) from None
    if not value.is_finite() or value <= 0:
        raise errors.item_param_error(key)
    return value


def mode_and_side(inst: OkxInstrument, item: dict[str, Any]) -> tuple[str, Side]:
    """An order item's ``tdMode`` (cross / isolated on swaps, cash on spot) and ``side``."""
    td_mode = text(item, "tdMode")
    if not td_mode:
        raise ItemError("50014", "Parameter tdMode can not be empty.")
    if td_mode not in (("cross", "isolated") if inst.is_swap else ("cash",)):
        raise errors.item_param_error("tdMode")
    side_text = text(item, "side")
    if side_text not in ("buy", "sell"):
        raise errors.item_param_error("side")
    return td_mode, Side.BUY if side_text == "buy" else Side.SELL


class OkxTrading:
    def __init__(
        self,
        market: Market,
        instruments: dict[str, OkxInstrument],
        faults: Faults,
        limiter: OkxLimiter,
        now_ms: Callable[[], int],
    ) -> None:
        self.market = market
        market.index_tag("clOrdId")  # unique among the account's pending orders: checked on every order
        self.instruments = instruments
        self.by_code = {i.inst_id_code: i for i in instruments.values()}
        self.faults = faults
        self.limiter = limiter
        self.now_ms = now_ms

    # ------------------------------------------------------------------ lookups

    def inst(self, item: dict[str, Any], ws: bool = False) -> OkxInstrument:
        """The instrument an item names: ``instIdCode`` over WebSocket (required there since the
        2026 change), ``instId`` over REST (``instIdCode`` accepted too; it wins when both are given)."""
        code = text(item, "instIdCode")
        if code:
            try:
                found = self.by_code.get(int(code))
            except ValueError:
                raise errors.item_param_error("instIdCode") from None
            if found is None:
                raise errors.UNKNOWN_INSTRUMENT
            return found
        if ws:
            raise ItemError("50014", "Parameter instIdCode can not be empty.")
        inst_id = text(item, "instId")
        if not inst_id:
            raise ItemError("50014", "Parameter instId can not be empty.")
        found = self.instruments.get(inst_id)
        if found is None:
            raise errors.UNKNOWN_INSTRUMENT
        return found

    def find(self, account: Account, inst: OkxInstrument, item: dict[str, Any]) -> Order:
        ord_id, cl = text(item, "ordId"), text(item, "clOrdId")
        if ord_id:
            if not ord_id.isdigit():
                raise errors.item_param_error("ordId")
            order = self.market.find_order(account, inst.inst_id, order_id=int(ord_id))
        elif cl:
            order = self.market.find_order(account, inst.inst_id, client_id=cl)
        else:
            raise ItemError("50014", "Parameter ordId or clOrdId can not be empty.")
        if order.trigger is not None:  # an algo order (algo.py): not an order of these endpoints
            raise OrderError(RejectReason.UNKNOWN_ORDER, "order does not exist")
        return order

    # ------------------------------------------------------------------ operations (one item each)

    def place(self, account: Account, item: dict[str, Any], ws: bool = False) -> dict[str, Any]:
        cl, tag = text(item, "clOrdId"), text(item, "tag")
        if cl and not CL_ORD_ID.match(cl):
            raise errors.item_param_error("clOrdId")
        if tag and not TAG.match(tag):
            raise errors.item_param_error("tag")
        inst = self.inst(item, ws)
        td_mode, side = mode_and_side(inst, item)
        pos_side = text(item, "posSide")
        if pos_side and (not inst.is_swap or pos_side != "net"):
            raise errors.item_param_error("posSide")  # net mode: long/short need long_short_mode
        ord_type = text(item, "ordType")
        if ord_type not in ORD_TYPES or (ord_type == "optimal_limit_ioc" and not inst.is_swap):
            raise errors.item_param_error("ordType")
        kind, tif = ORD_TYPES[ord_type]
        sz = decimal(item, "sz", required=True)
        assert sz is not None
        px = decimal(item, "px", required=kind is OrderType.LIMIT) if kind is OrderType.LIMIT else None
        tgt = text(item, "tgtCcy")
        if tgt and (inst.is_swap or tgt not in ("base_ccy", "quote_ccy")):
            raise errors.item_param_error("tgtCcy")
        quote_qty: Decimal | None = None
        qty = inst.to_engine(sz)
        if not inst.is_swap and kind is OrderType.MARKET and side is Side.BUY and tgt != "base_ccy":
            quote_qty, tgt = sz, "quote_ccy"
        elif not inst.is_swap and kind is OrderType.MARKET and tgt == "quote_ccy":
            raise errors.item_param_error("tgtCcy")  # market sells by quote amount: not simulated
        else:
            if sz % inst.lot_sz:
                raise ItemError("51121", f"Order quantity must be a multiple of the lot size. (lotSz {inst.lot_sz})")
            if sz < inst.min_sz:
                raise ItemError("51020", "Your order should meet or exceed the minimum order amount.")
        if px is not None and px % inst.tick_sz:
            raise errors.item_param_error("px")
        stp_text = text(item, "stpMode")
        if stp_text and (stp_text not in STP or (stp_text == "cancel_both" and ord_type == "fok")):
            raise errors.item_param_error("stpMode")
        reduce = text(item, "reduceOnly")
        if reduce not in ("", "true", "false"):
            raise errors.item_param_error("reduceOnly")
        attach = attached(item)
        if self.faults.take("reject_orders"):
            raise ItemError("51000", self.faults.reject_message)
        if cl and self.market.open_by_tag(account, "clOrdId", cl):
            raise errors.DUPLICATE_CL_ORD_ID  # unique among the account's pending orders
        extra: dict[str, Any] = {"clOrdId": cl, "tag": tag, "ordType": ord_type, "tdMode": td_mode}
        if tgt:
            extra["tgtCcy"] = tgt
        if attach is not None:
            extra["attach"] = attach
        try:
            order = self.market.place(
                account,
                inst.inst_id,
                side,
                kind,
                qty,
                px,
                tif,
                client_id=cl,
                quote_qty=quote_qty,
                reduce_only=reduce == "true",
                stp=STP.get(stp_text, STPMode.EXPIRE_MAKER),
                extra=extra,
            )
        except OrderError as exc:
            raise errors.from_engine(exc, inst.quote if side is Side.BUY else inst.base) from None
        return {
            "clOrdId": cl,
            "ordId": str(order.order_id),
            "tag": tag,
            "ts": str(self.now_ms()),
            "sCode": "0",
            "sMsg": "Order placed",
            "subCode": "",
        }

    def cancel(self, account: Account, item: dict[str, Any], ws: bool = False) -> dict[str, Any]:
        inst = self.inst(item, ws)
        try:
            order = self.find(account, inst, item)
            self.market.cancel(account, inst.inst_id, order_id=order.order_id)
        except OrderError:
            raise errors.CANCEL_FAILED from None
        return {
            "clOrdId": order.extra.get("clOrdId", ""),
            "ordId": str(order.order_id),
            "ts": str(self.now_ms()),
            "sCode": "0",
            "sMsg": "",
        }

    def amend(self, account: Account, item: dict[str, Any], ws: bool = False) -> dict[str, Any]:
        inst = self.inst(item, ws)
        req_id = text(item, "reqId")
        if req_id and not CL_ORD_ID.match(req_id):
            raise errors.item_param_error("reqId")
        new_sz = decimal(item, "newSz")
        new_px = decimal(item, "newPx")
        if new_sz is None and new_px is None:
            raise ItemError("51000", "Parameter newSz or newPx error")  # one of them is required
        if new_sz is not None and new_sz % inst.lot_sz:
            raise ItemError("51121", f"Order quantity must be a multiple of the lot size. (lotSz {inst.lot_sz})")
        if new_px is not None and new_px % inst.tick_sz:
            raise errors.item_param_error("newPx")
        try:
            order = self.find(account, inst, item)
        except OrderError:
            raise errors.AMEND_CLOSED from None
        if not order.is_open:
            raise errors.AMEND_CLOSED
        if order.type is not OrderType.LIMIT:
            raise ItemError("51512", "Market orders cannot be amended.")
        if order.tif is TimeInForce.GTX and new_px is not None:
            book = self.market.books[inst.inst_id]
            best = book.best_ask() if order.side is Side.BUY else book.best_bid()
            if best is not None and (new_px >= best if order.side is Side.BUY else new_px <= best):
                raise errors.AMEND_POST_ONLY_CROSS
        order.extra["reqId"] = req_id
        try:
            self.market.amend(
                account,
                inst.inst_id,
                order_id=order.order_id,
                new_qty=inst.to_engine(new_sz) if new_sz is not None else None,
                new_price=new_px,
            )
        except OrderError as exc:
            if text(item, "cxlOnFail") == "true" and order.is_open:
                self.market.cancel(account, inst.inst_id, order_id=order.order_id)
            raise errors.from_engine(exc) from None
        return {
            "clOrdId": order.extra.get("clOrdId", ""),
            "ordId": str(order.order_id),
            "reqId": req_id,
            "ts": str(self.now_ms()),
            "sCode": "0",
            "sMsg": "",
        }

    # ------------------------------------------------------------------ envelopes

    def run(
        self, account: Account, op: str, items: list[dict[str, Any]], batch: bool, ws: bool = False
    ) -> tuple[str, str, list[dict[str, Any]]]:
        """Run ``op`` (``place`` / ``cancel`` / ``amend``) over ``items``; returns (code, msg, data)
        with ``code`` ``"0"`` all succeeded, ``"1"`` all failed, ``"2"`` partly."""
        if batch and len(items) > MAX_BATCH:
            raise OkxError("51000", f"Parameter {'orders' if op == 'place' else 'ordIds'} error (max {MAX_BATCH})")
        if not items:
            raise OkxError("50014", "Parameter data can not be empty.")
        fn = {"place": self.place, "cancel": self.cancel, "amend": self.amend}[op]
        now = self.now_ms()
        kind = "BATCH" if batch and len(items) > 1 else "ORDERS"
        keys = {text(i, "instId") or text(i, "instIdCode") for i in items}
        for key in keys:
            self.limiter.take(kind, (account.account_id, op, key), len(items) if kind == "BATCH" else 1, now)
        data: list[dict[str, Any]] = []
        ok = 0
        for item in items:
            if not isinstance(item, dict):
                raise OkxError("50002", "Invalid JSON")
            try:
                data.append(fn(account, item, ws))
                ok += 1
            except ItemError as exc:
                failed: dict[str, Any] = {
                    "clOrdId": text(item, "clOrdId"),
                    "ordId": text(item, "ordId"),
                    "ts": str(self.now_ms()),
                    "sCode": exc.code,
                    "sMsg": exc.msg,
                    "subCode": "",
                }
                if op == "place":
                    failed["tag"] = text(item, "tag")
                if op == "amend":
                    failed["reqId"] = text(item, "reqId")
                data.append(failed)
        if ok == len(items):
            return "0", "", data
        if ok == 0:
            return "1", errors.ALL_FAILED, data
        return "2", errors.PARTIAL, data

    def cancel_all(self, account: Account, reason: str) -> None:
        """Cancel every open order of the account (cancel-all-after firing, ``cancelSource 20``)."""
        for inst in self.instruments.values():
            for order in self.market.open_orders(account, inst.inst_id):
                order.extra["cancelSource"] = "20"
            if self.market.open_orders(account, inst.inst_id):
                self.market.cancel_all(account, inst.inst_id, reason)
