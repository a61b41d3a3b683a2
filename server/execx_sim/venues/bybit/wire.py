"""Bybit wire shapes (``../shared/venues/bybit.md`` §3-§6): orders, executions, positions, wallet and
instruments as the REST answers and websocket topics carry them. Numbers are strings; ``side`` is
``Buy``/``Sell``; spot order ids are decimal strings, derivative order ids UUIDs (as on the venue)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ...core.accounts import Account, Position
from ...core.engine import Market
from ...core.instruments import Instrument, Kind
from ...core.types import ZERO, Direction, Fill, Order, OrderStatus, OrderType, Side, TimeInForce
from .instruments import CATEGORY_OF, expiry_ms

SIDE = {Side.BUY: "Buy", Side.SELL: "Sell"}
SIDE_IN = {"Buy": Side.BUY, "Sell": Side.SELL}
TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK", TimeInForce.GTX: "PostOnly"}
TIF_IN = {v: k for k, v in TIF.items()}


def num(value: Decimal) -> str:
    """A decimal as Bybit prints it: plain notation, no exponent, trailing zeros dropped."""
    text = format(value.normalize(), "f") if value else "0"
    return text


def order_id(category: str, engine_id: int) -> str:
    return str(engine_id) if category == "spot" else str(uuid.UUID(int=engine_id))


def engine_order_id(category: str, text: str) -> int | None:
    """The engine id of a venue order id; None if it is not one this venue could have issued."""
    try:
        return int(text) if category == "spot" else uuid.UUID(text).int
    except ValueError:
        return None


def exec_id(fill: Fill) -> str:
    return str(uuid.UUID(int=(fill.order_id << 64) | fill.trade_id))


def link_id(order: Order) -> str:
    return str(order.extra.get("link", ""))


def order_status(order: Order, category: str) -> str:
    s = order.status
    if s is OrderStatus.UNTRIGGERED:
        return "Untriggered"
    if order.trigger is not None and not order.trigger.fired_ms and s is OrderStatus.CANCELED:
        return "Deactivated"  # a conditional order cancelled before it fired
    if s is OrderStatus.NEW:
        return "New"
    if s is OrderStatus.PARTIALLY_FILLED:
        return "PartiallyFilled"
    if s is OrderStatus.FILLED:
        return "Filled"
    if s is OrderStatus.REJECTED:
        return "Rejected"
    if category == "spot" and order.filled:
        return "PartiallyFilledCanceled"
    return "Cancelled"


def _reject_reason(order: Order) -> str:
    reason = order.expire_reason
    if reason == "POST_ONLY":
        return "EC_PostOnlyWillTakeLiquidity"
    if reason in ("IOC", "FOK", "NO_LIQUIDITY") and not order.filled:
        return "EC_NoImmediateQtyToFill"
    if reason == "STP":
        return "EC_BySelfMatch"
    return "EC_NoError"


def _cancel_type(order: Order) -> str:
    if order.is_open or order.status is OrderStatus.FILLED:
        return "UNKNOWN"
    if order.expire_reason == "STP":
        return "CancelBySmp"
    if order.expire_reason == "DCP":  # disconnection protection ran out (dcp.py)
        return "CancelByDCP"
    if order.status is OrderStatus.CANCELED and order.expire_reason in ("", "AMEND_QTY"):
        return "CancelByUser"
    return "UNKNOWN"


def order(o: Order, market: Market, *, ws: bool = False) -> dict[str, Any]:
    category = CATEGORY_OF[market.name]
    inst = market.instruments[o.symbol]
    leaves = o.remaining if o.is_open else ZERO
    price = o.price if o.price is not None else ZERO
    fee: Decimal = o.extra.get("fee", ZERO)
    trigger = o.trigger
    row: dict[str, Any] = {
        "orderId": order_id(category, o.order_id),
        "orderLinkId": link_id(o),
        "blockTradeId": "",
        "symbol": o.symbol,
        "price": num(price),
        "qty": num(o.qty if o.quote_qty is None else o.quote_qty),
        "side": SIDE[o.side],
        "isLeverage": str(o.extra.get("isLeverage", "0")) if category == "spot" else "",
        "positionIdx": 0,
        "orderStatus": order_status(o, category),
        "cancelType": _cancel_type(o),
        "rejectReason": _reject_reason(o),
        "avgPrice": num(o.avg_price) if o.filled else ("" if category == "spot" else "0"),
        "leavesQty": num(leaves),
        "leavesValue": num(inst.notional(leaves, price)) if o.price is not None else "0",
        "cumExecQty": num(o.filled),
        "cumExecValue": num(o.cum_quote if inst.kind is not Kind.INVERSE else inst.notional(o.filled, price)),
        "cumExecFee": num(fee),
        "timeInForce": "IOC" if o.type is OrderType.MARKET else TIF[o.tif],
        "orderType": "Market" if o.type is OrderType.MARKET else "Limit",
        "stopOrderType": str(o.extra.get("stopOrderType", "Stop")) if trigger is not None else "",
        "orderIv": "",
        "marketUnit": str(o.extra.get("marketUnit", "")),
        "triggerPrice": num(trigger.price) if trigger is not None and trigger.price is not None else "0",
        "takeProfit": "0",
        "stopLoss": "0",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": (1 if trigger.direction is Direction.RISE else 2) if trigger is not None else 0,
        "triggerBy": str(o.extra.get("triggerBy", "")),
        "lastPriceOnCreated": str(o.extra.get("lastPriceOnCreated", "")),
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": bool(o.extra.get("closeOnTrigger", False)),
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "tpslMode": "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "placeType": "",
        "createdTime": str(o.created_ms),
        "updatedTime": str(o.updated_ms),
    }
    if category == "spot":
        del row["tpslMode"]  # "Spot does not have this field" (v5 order docs); ccxt tells spot orders by it
    if ws:
        row["category"] = category
        row["createType"] = "CreateByUser"
        row["closedPnl"] = "0"
        row["feeCurrency"] = ""
    return row


def execution(fill: Fill, o: Order, market: Market, seq: int, *, ws: bool = False) -> dict[str, Any]:
    category = CATEGORY_OF[market.name]
    inst = market.instruments[o.symbol]
    rate = inst.maker_fee if fill.is_maker else inst.taker_fee
    row: dict[str, Any] = {
        "symbol": fill.symbol,
        "orderType": "Market" if o.type is OrderType.MARKET else "Limit",
        "underlyingPrice": "",
        "orderLinkId": link_id(o),
        "orderId": order_id(category, o.order_id),
        "side": SIDE[fill.side],
        "indexPrice": "",
        "orderPrice": num(o.price if o.price is not None else ZERO),
        "orderQty": num(o.qty),
        "leavesQty": num(o.remaining if o.is_open else ZERO),
        "execFee": num(fill.fee),
        "feeCurrency": fill.fee_asset if category == "spot" else "",
        "execId": exec_id(fill),
        "execPrice": num(fill.price),
        "execQty": num(fill.qty),
        "execType": "Trade",
        "execValue": num(inst.notional(fill.qty, fill.price) if inst.kind is Kind.INVERSE else fill.quote_qty),
        "execTime": str(fill.time_ms),
        "isMaker": fill.is_maker,
        "feeRate": num(rate),
        "tradeIv": "",
        "markIv": "",
        "markPrice": num(market.mark_price(fill.symbol)),
        "closedSize": "0",
        "seq": seq,
        "blockTradeId": "",
        "stopOrderType": "",
        "createType": "CreateByUser",
    }
    if ws:
        row["category"] = category
    return row


def position(pos: Position, market: Market, *, ws: bool = False) -> dict[str, Any]:
    inst = market.instruments[pos.symbol]
    mark = market.mark_price(pos.symbol)
    size = abs(pos.qty)
    side = "" if not pos.qty else ("Buy" if pos.qty > 0 else "Sell")
    row: dict[str, Any] = {
        "positionIdx": 0,
        "riskId": 1,
        "riskLimitValue": "2000000",
        "symbol": pos.symbol,
        "side": side,
        "size": num(size),
        "avgPrice": num(pos.entry_price),
        "positionValue": num(inst.notional(size, pos.entry_price) if size else ZERO),
        "tradeMode": 0,
        "positionStatus": "Normal",
        "autoAddMargin": 0,
        "adlRankIndicator": 2 if size else 0,
        "leverage": str(pos.leverage) if inst.kind is not Kind.OPTION else "",
        "positionBalance": num(pos.initial_margin(inst, mark)),
        "markPrice": num(mark),
        "liqPrice": "",
        "bustPrice": "",
        "positionMM": "0",
        "positionIM": num(pos.initial_margin(inst, mark)),
        "tpslMode": "Full",
        "takeProfit": "0",
        "stopLoss": "0",
        "trailingStop": "0",
        "unrealisedPnl": num(pos.unrealized(inst, mark)),
        "curRealisedPnl": num(pos.realized_pnl),
        "cumRealisedPnl": num(pos.realized_pnl),
        "seq": pos.updated_ms,
        "isReduceOnly": False,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
        "createdTime": str(pos.updated_ms),
        "updatedTime": str(pos.updated_ms),
    }
    if ws:
        row["category"] = CATEGORY_OF[market.name]
    return row


@dataclass(slots=True)
class CoinTotals:
    """One coin of the unified account, summed over the simulator's Bybit category wallets: ``wallet``
    balance, ``locked`` by spot orders, ``order_im`` held by derivative orders, ``position_im`` and
    ``upnl`` of the positions margined in it."""

    wallet: Decimal = ZERO
    locked: Decimal = ZERO
    order_im: Decimal = ZERO
    position_im: Decimal = ZERO
    upnl: Decimal = ZERO

    @property
    def held(self) -> Decimal:
        return self.locked + self.order_im + self.position_im


def coin_totals(markets: list[Market], account: Account, coins: set[str] | None) -> dict[str, CoinTotals]:
    """Per coin, summed over the account's Bybit category wallets (the simulator keeps one wallet per
    category; the unified account reports their sum)."""
    totals: dict[str, CoinTotals] = {}
    for market in markets:
        wallet = account.wallets.get(market.name)
        if wallet is None:
            continue
        for coin, bal in wallet.balances.items():
            if coins and coin not in coins:
                continue
            t = totals.setdefault(coin, CoinTotals())
            t.wallet += bal.total
            t.locked += bal.locked
            t.order_im += wallet.order_margin.get(coin, ZERO)
        for sym, pos in wallet.positions.items():
            inst = market.instruments.get(sym)
            if inst is None or not pos.qty or (coins and inst.margin_asset not in coins):
                continue
            mark = market.mark_price(sym)
            t = totals.setdefault(inst.margin_asset, CoinTotals())
            t.position_im += pos.initial_margin(inst, mark)
            t.upnl += pos.unrealized(inst, mark)
    return totals


def wallet(
    markets: list[Market], account: Account, coins: set[str] | None, borrowed: dict[str, Decimal]
) -> dict[str, Any]:
    """The unified wallet; ``borrowed``: spot margin liabilities per coin (``borrowAmount``, taken off
    the coin's equity). ``locked``: spot orders; ``totalOrderIM`` / ``totalPositionIM``: derivative orders
    and positions (v5 get-wallet-balance)."""
    rows = []
    for coin, t in sorted(coin_totals(markets, account, coins).items()):
        owed = borrowed.get(coin, ZERO)
        rows.append(
            {
                "availableToBorrow": "",
                "bonus": "0",
                "accruedInterest": "0",
                "availableToWithdraw": num(t.wallet - t.held),
                "totalOrderIM": num(t.order_im),
                "equity": num(t.wallet + t.upnl - owed),
                "totalPositionMM": "0",
                "usdValue": num(t.wallet),
                "unrealisedPnl": num(t.upnl),
                "collateralSwitch": True,
                "spotHedgingQty": "0",
                "borrowAmount": num(owed),
                "totalPositionIM": num(t.position_im),
                "walletBalance": num(t.wallet),
                "cumRealisedPnl": "0",
                "locked": num(t.locked),
                "marginCollateral": True,
                "coin": coin,
            }
        )
    return {
        "totalEquity": "0",
        "accountIMRate": "0",
        "totalMarginBalance": "0",
        "totalInitialMargin": "0",
        "accountType": "UNIFIED",
        "totalAvailableBalance": "0",
        "accountMMRate": "0",
        "totalPerpUPL": "0",
        "totalWalletBalance": "0",
        "accountLTV": "0",
        "totalMaintenanceMargin": "0",
        "coin": rows,
    }


def instrument(inst: Instrument, category: str, launch_ms: int) -> dict[str, Any]:
    price_filter = {"tickSize": num(inst.tick)}
    if category == "spot":
        return {
            "symbol": inst.symbol,
            "baseCoin": inst.base,
            "quoteCoin": inst.quote,
            "innovation": "0",
            "status": "Trading",
            "marginTrading": "utaOnly",
            "stTag": "0",
            "lotSizeFilter": {
                "basePrecision": num(inst.lot),
                "quotePrecision": "0.00000001",
                "minOrderQty": num(inst.min_qty),
                "maxOrderQty": num(inst.max_qty),
                "minOrderAmt": num(inst.min_notional),
                "maxOrderAmt": "2000000",
            },
            "priceFilter": price_filter,
            "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
        }
    price_filter = {"minPrice": num(inst.min_price), "maxPrice": num(inst.max_price), "tickSize": num(inst.tick)}
    lot = {"maxOrderQty": num(inst.max_qty), "minOrderQty": num(inst.min_qty), "qtyStep": num(inst.lot)}
    if category == "option":
        return {
            "symbol": inst.symbol,
            "optionsType": "Call" if inst.symbol.endswith("-C") else "Put",
            "status": "Trading",
            "baseCoin": inst.base,
            "quoteCoin": "USD",
            "settleCoin": inst.settle,
            "launchTime": str(launch_ms),
            "deliveryTime": str(expiry_ms(inst)),
            "deliveryFeeRate": "0.00015",
            "priceFilter": price_filter,
            "lotSizeFilter": lot,
            "displayName": "",
        }
    return {
        "symbol": inst.symbol,
        "contractType": "LinearPerpetual" if category == "linear" else "InversePerpetual",
        "status": "Trading",
        "baseCoin": inst.base,
        "quoteCoin": inst.quote,
        "launchTime": str(launch_ms),
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(inst.price_precision),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": price_filter,
        "lotSizeFilter": {
            **lot,
            "postOnlyMaxOrderQty": num(inst.max_qty),
            "maxMktOrderQty": num(inst.market_max_qty or inst.max_qty),
            "minNotionalValue": num(inst.min_notional),
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": inst.settle,
        "copyTrading": "both",
        "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005",
        "isPreListing": False,
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
        "displayName": "",
    }
