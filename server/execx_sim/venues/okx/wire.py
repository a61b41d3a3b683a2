"""OKX v5 wire shapes built from engine state: order rows (REST order details, ``orders`` channel),
fill rows (REST ``fills``, ``fills`` channel), instruments, balances and positions. Every number is a
string, as OKX sends them; derivative sizes are contracts (``instruments.py``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...core.accounts import Account
from ...core.engine import Market
from ...core.types import ZERO, Fill, Order, OrderStatus, OrderType, Side
from .instruments import OkxInstrument

STATE = {
    OrderStatus.NEW: "live",
    OrderStatus.PARTIALLY_FILLED: "partially_filled",
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.EXPIRED: "canceled",
    OrderStatus.REJECTED: "canceled",
}
# Why an order ended (engine reason) -> OKX ``cancelSource`` (docs: order channel, cancelSource).
CANCEL_SOURCE = {
    "": "1",  # canceled by the user
    "POST_ONLY": "31",  # the post-only order would have taken liquidity
    "STP": "32",  # self-trade prevention
    "IOC": "14",  # IOC order partially filled, the rest cancelled
    "FOK": "13",  # FOK order not fully fillable
    "COUNTDOWN": "20",  # cancel-all-after triggered
    "NO_LIQUIDITY": "14",
    "QUOTE_QTY": "14",
    "AMEND_QTY": "1",
}
STP_MODE = {"EXPIRE_MAKER": "cancel_maker", "EXPIRE_TAKER": "cancel_taker", "EXPIRE_BOTH": "cancel_both"}


def num(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value else "0"
    return "0" if text in ("-0", "") else text


def side(s: Side) -> str:
    return "buy" if s is Side.BUY else "sell"


def order_sz(inst: OkxInstrument, order: Order) -> str:
    if order.quote_qty is not None:  # spot market order sized in quote currency (tgtCcy=quote_ccy)
        return num(order.quote_qty)
    return num(inst.from_engine(order.qty))


def attach_row(attach: dict[str, str]) -> dict[str, str]:
    """An order's attached TP/SL as its ``attachAlgoOrds`` item (``attachAlgoId`` once OKX placed it; ``failCode``
    / ``failReason`` if that was refused)."""
    row = {"attachAlgoId": attach.get("attachAlgoId", ""), "attachAlgoClOrdId": attach.get("attachAlgoClOrdId", "")}
    for leg in ("tp", "sl"):
        for k in ("TriggerPx", "TriggerPxType", "OrdPx"):
            row[f"{leg}{k}"] = attach.get(f"{leg}{k}", "")
    row |= {"sz": "", "amendPxOnTriggerType": "0", "failCode": attach.get("failCode", "")}
    row["failReason"] = attach.get("failReason", "")
    return row


def order_row(inst: OkxInstrument, order: Order, lever: int = 1) -> dict[str, Any]:
    """An order as ``GET /api/v5/trade/order`` and ``orders-pending`` give it. ``fill*`` = last fill."""
    x = order.extra
    last: Fill | None = x.get("lastFill")
    attach: dict[str, str] | None = x.get("attach")
    state = STATE[order.status]
    return {
        "instType": inst.inst_type,
        "instId": inst.inst_id,
        "tgtCcy": x.get("tgtCcy", ""),
        "ccy": "",
        "ordId": str(order.order_id),
        "clOrdId": x.get("clOrdId", ""),
        "tag": x.get("tag", ""),
        "px": num(order.price) if order.price is not None else "",
        "pxUsd": "",
        "pxVol": "",
        "pxType": "",
        "sz": order_sz(inst, order),
        "pnl": num(x.get("pnl", ZERO)),
        "ordType": x.get("ordType", "limit" if order.type is OrderType.LIMIT else "market"),
        "side": side(order.side),
        "posSide": "net" if inst.is_swap else "",
        "tdMode": x.get("tdMode", "cash"),
        "accFillSz": num(inst.from_engine(order.filled)),
        "fillPx": num(last.price) if last else "",
        "tradeId": str(last.trade_id) if last else "",
        "fillSz": num(inst.from_engine(last.qty)) if last else "0",
        "fillTime": str(last.time_ms) if last else "",
        "avgPx": num(order.avg_price) if order.filled else "",
        "state": state,
        "stpId": "",
        "stpMode": STP_MODE.get(order.stp.value, "cancel_maker"),
        "lever": str(lever) if inst.is_swap else "",
        "attachAlgoClOrdId": attach.get("attachAlgoClOrdId", "") if attach else "",
        "tpTriggerPx": "",
        "tpTriggerPxType": "",
        "tpOrdPx": "",
        "slTriggerPx": "",
        "slTriggerPxType": "",
        "slOrdPx": "",
        "attachAlgoOrds": [attach_row(attach)] if attach else [],
        "linkedAlgoOrd": {"algoId": ""},
        "feeCcy": x.get("feeCcy", inst.settle or (inst.base if order.side is Side.BUY else inst.quote)),
        "fee": num(x.get("fee", ZERO)),
        "rebateCcy": inst.quote,
        "rebate": "0",
        "source": "",
        "category": "normal",
        "reduceOnly": "true" if order.reduce_only else "false",
        "isTpLimit": "false",
        "cancelSource": CANCEL_SOURCE.get(order.expire_reason, "0") if state == "canceled" else "",
        "cancelSourceReason": "",
        "quickMgnType": "",
        "algoClOrdId": "",
        "algoId": "",
        "tradeQuoteCcy": inst.quote if not inst.is_swap else "",
        "uTime": str(order.updated_ms),
        "cTime": str(order.created_ms),
    }


def order_push(
    inst: OkxInstrument, order: Order, fill: Fill | None, amended: bool, now_ms: int, lever: int = 1
) -> dict[str, Any]:
    """One ``orders`` channel item: the order row with this update's fill (``fillSz`` per update)."""
    row = order_row(inst, order, lever)
    x = order.extra
    row.update(
        {
            "fillPx": num(fill.price) if fill else "",
            "tradeId": str(fill.trade_id) if fill else "",
            "fillSz": num(inst.from_engine(fill.qty)) if fill else "0",
            "fillPnl": num(fill.realized_pnl) if fill else "0",
            "fillTime": str(fill.time_ms) if fill else "",
            "fillFee": num(-fill.fee) if fill else "0",
            "fillFeeCcy": fill.fee_asset if fill else "",
            "execType": ("M" if fill.is_maker else "T") if fill else "",
            "fillNotionalUsd": num(fill.quote_qty) if fill else "",
            "fillMarkPx": "",
            "fillIdxPx": "",
            "fillMarkVol": "",
            "fillPxVol": "",
            "fillPxUsd": "",
            "fillFwdPx": "",
            "notionalUsd": num(order.qty * inst.ct_val)
            if inst.inverse
            else num(order.qty * order.price)
            if order.price is not None
            else "",
            "amendResult": "0" if amended else "",
            "reqId": x.get("reqId", "") if amended else "",
            "amendSource": "1" if amended else "",
            "code": "0",
            "msg": "",
            "lastPx": num(fill.price) if fill else "",
        }
    )
    return row


def fill_row(inst: OkxInstrument, fill: Fill, order: Order | None, bill_id: str) -> dict[str, Any]:
    """A row of ``GET /api/v5/trade/fills``."""
    return {
        "instType": inst.inst_type,
        "instId": inst.inst_id,
        "tradeId": str(fill.trade_id),
        "ordId": str(fill.order_id),
        "clOrdId": order.extra.get("clOrdId", "") if order else "",
        "billId": bill_id,
        "subType": "1" if fill.side is Side.BUY else "2",
        "tag": order.extra.get("tag", "") if order else "",
        "fillPx": num(fill.price),
        "fillSz": num(inst.from_engine(fill.qty)),
        "fillIdxPx": "",
        "fillPnl": num(fill.realized_pnl),
        "fillPxVol": "",
        "fillPxUsd": "",
        "fillMarkVol": "",
        "fillFwdPx": "",
        "fillMarkPx": "",
        "side": side(fill.side),
        "posSide": "net" if inst.is_swap else "",
        "execType": "M" if fill.is_maker else "T",
        "feeCcy": fill.fee_asset,
        "fee": num(-fill.fee),
        "ts": str(fill.time_ms),
        "fillTime": str(fill.time_ms),
        "feeRate": num(-(inst.engine.maker_fee if fill.is_maker else inst.engine.taker_fee)) if inst.engine else "",
    }


def instrument_row(inst: OkxInstrument) -> dict[str, Any]:
    swap = inst.is_swap
    return {
        "instType": inst.inst_type,
        "instId": inst.inst_id,
        "instIdCode": inst.inst_id_code,
        "uly": inst.inst_family,
        "instFamily": inst.inst_family,
        "baseCcy": "" if swap else inst.base,
        "quoteCcy": "" if swap else inst.quote,
        "settleCcy": inst.settle,
        "ctVal": num(inst.ct_val) if swap else "",
        "ctMult": "1" if swap else "",
        "ctValCcy": (inst.quote if inst.inverse else inst.base) if swap else "",
        "ctType": ("inverse" if inst.inverse else "linear") if swap else "",
        "optType": "",
        "stk": "",
        "listTime": "1606468572000",
        "expTime": "",
        "lever": "100" if swap else "10",
        "tickSz": num(inst.tick_sz),
        "lotSz": num(inst.lot_sz),
        "minSz": num(inst.min_sz),
        "alias": "",
        "state": "live",
        "maxLmtSz": "100000" if swap else "10000",
        "maxMktSz": "20000" if swap else "1000",
        "maxLmtAmt": "20000000",
        "maxMktAmt": "1000000",
        "maxTwapSz": "",
        "maxIcebergSz": "",
        "maxTriggerSz": "",
        "maxStopSz": "",
        "ruleType": "normal",
        "category": "1",
        "tradeQuoteCcyList": [] if swap else [inst.quote],
        "openType": "",
        "auctionEndTime": "",
        "futureSettlement": False,
    }


def balance(
    market: Market, account: Account, insts: dict[str, OkxInstrument], ccy: set[str], now_ms: int
) -> dict[str, Any]:
    """``GET /api/v5/account/balance``: one unified trading account (spot and swaps share USDT)."""
    wallet = account.wallet(market.name)
    upl: dict[str, Decimal] = {}
    imr: dict[str, Decimal] = {}
    for sym, pos in wallet.positions.items():
        inst = insts.get(sym)
        if inst is None or inst.engine is None or not pos.qty:
            continue
        mark = market.mark_price(sym)
        asset = inst.engine.margin_asset
        upl[asset] = upl.get(asset, ZERO) + pos.unrealized(inst.engine, mark)
        imr[asset] = imr.get(asset, ZERO) + pos.initial_margin(inst.engine, mark)
    details = []
    total = ZERO
    for asset, bal in sorted(wallet.balances.items()):
        if ccy and asset not in ccy:
            continue
        order_margin = wallet.order_margin.get(asset, ZERO)
        frozen = bal.locked + order_margin + imr.get(asset, ZERO)
        eq = bal.free + bal.locked + upl.get(asset, ZERO)
        avail = bal.free - order_margin - imr.get(asset, ZERO)
        usd = eq * (market.mark_price(f"{asset}-USDT") if f"{asset}-USDT" in market.instruments else Decimal(1))
        total += usd
        details.append(
            {
                "ccy": asset,
                "eq": num(eq),
                "cashBal": num(bal.free + bal.locked),
                "availBal": num(avail),
                "availEq": num(avail),
                "frozenBal": num(frozen),
                "ordFrozen": num(bal.locked + order_margin),
                "upl": num(upl.get(asset, ZERO)),
                "eqUsd": num(usd),
                "disEq": num(usd),
                "isoEq": "0",
                "imr": num(imr.get(asset, ZERO)),
                "mmr": "0",
                "liab": "0",
                "crossLiab": "0",
                "interest": "0",
                "notionalLever": "0",
                "stgyEq": "0",
                "twap": "0",
                "uTime": str(now_ms),
            }
        )
    return {
        "adjEq": num(total),
        "totalEq": num(total),
        "imr": "0",
        "mmr": "0",
        "isoEq": "0",
        "ordFroz": "0",
        "notionalUsd": "0",
        "mgnRatio": "",
        "upl": "0",
        "uTime": str(now_ms),
        "details": details,
    }


def position_row(market: Market, account: Account, inst: OkxInstrument, now_ms: int) -> dict[str, Any] | None:
    wallet = account.wallet(market.name)
    pos = wallet.positions.get(inst.inst_id)
    if pos is None or not pos.qty or inst.engine is None:
        return None
    mark = market.mark_price(inst.inst_id)
    contracts = inst.from_engine(pos.qty)
    return {
        "instType": inst.inst_type,
        "instId": inst.inst_id,
        "mgnMode": "cross",
        "posId": str(1_000_000 + inst.inst_id_code),
        "posSide": "net",
        "pos": num(contracts),
        "availPos": "",
        "baseBal": "",
        "quoteBal": "",
        "posCcy": "",
        "avgPx": num(pos.entry_price),
        "upl": num(pos.unrealized(inst.engine, mark)),
        "uplRatio": "0",
        "uplLastPx": num(pos.unrealized(inst.engine, mark)),
        "lever": str(pos.leverage),
        "liqPx": "",
        "markPx": num(mark),
        "imr": num(pos.initial_margin(inst.engine, mark)),
        "margin": "",
        "mgnRatio": "",
        "mmr": "0",
        "notionalUsd": num(abs(pos.qty) * inst.ct_val if inst.inverse else abs(pos.qty) * mark),
        "ccy": inst.settle,
        "last": num(market.last_price.get(inst.inst_id, mark)),
        "idxPx": num(mark),
        "realizedPnl": num(pos.realized_pnl),
        "pnl": num(pos.realized_pnl),
        "fee": "0",
        "fundingFee": "0",
        "adl": "1",
        "bizRefId": "",
        "bizRefType": "",
        "cTime": str(pos.updated_ms or now_ms),
        "uTime": str(pos.updated_ms or now_ms),
    }
