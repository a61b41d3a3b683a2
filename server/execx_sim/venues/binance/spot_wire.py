"""Binance spot wire shapes: how orders, fills, balances, symbols and events look on the wire.

Spot sends every decimal as a JSON string with 8 decimals (``"0.01000000"``), whatever the symbol's
tick or step (binance-spot-api-docs ``rest-api.md`` examples, ``user-data-stream.md``). Order types
the engine does not know are kept in ``Order.extra["type"]`` (``LIMIT_MAKER`` is an engine LIMIT
order with the post-only time in force).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ...core import marketdata as md
from ...core.accounts import Account
from ...core.engine import Market
from ...core.instruments import Instrument
from ...core.types import ZERO, Fill, Order, OrderEvent, OrderStatus, OrderType, Side, TimeInForce
from .ratelimit import BinanceLimiter

ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
PRECISION = 8


def list_id(order: Order) -> int:
    """The order list an order belongs to (an OCO, OTO or OTOCO order), else -1."""
    return int(order.extra.get("order_list_id", -1))


def d8(value: Decimal | None) -> str:
    """A decimal as Binance spot prints it: fixed point, 8 decimals."""
    return f"{(value if value is not None else ZERO):.8f}"


def wire_type(order: Order) -> str:
    return str(order.extra.get("type", order.type.value))


def wire_tif(order: Order) -> str:
    # LIMIT_MAKER and MARKET orders report GTC (the engine's GTX / GTC are internal).
    return "GTC" if order.tif is TimeInForce.GTX else order.tif.value


def wire_status(order: Order) -> str:
    if order.status is OrderStatus.UNTRIGGERED:
        # a contingent order waiting for its stop price is NEW (isWorking false); an order list's pending order
        # waiting for its working order to fill is PENDING_NEW (enums.md, "Order status")
        return "PENDING_NEW" if order.extra.get("pending") else "NEW"
    if order.status is OrderStatus.EXPIRED and order.expire_reason == "STP":
        return "EXPIRED_IN_MATCH"
    return order.status.value


def working_time(order: Order) -> int:
    """When the order started working: at acceptance, a contingent order when it fired; -1 while it waits
    for its stop price (rest-api.md: "workingTime": -1 for an untriggered order)."""
    if order.trigger is not None:
        return order.trigger.fired_ms or -1  # -1: never fired (waiting, or cancelled before it fired)
    return order.created_ms


def stop_price(order: Order) -> Decimal:
    """``stopPrice`` as sent (0 for a trailing order sent without one, and for the other types)."""
    value = order.extra.get("stop_price")
    return value if isinstance(value, Decimal) else ZERO


def is_working(order: Order) -> bool:
    return order.status is not OrderStatus.UNTRIGGERED and order.type is OrderType.LIMIT


def orig_qty(order: Order) -> Decimal:
    # A MARKET order sized with quoteOrderQty reports the quantity it ended up executing.
    if order.quote_qty is not None and not order.is_open:
        return order.filled
    return order.qty


def _common(order: Order) -> dict[str, Any]:
    return {
        "price": d8(order.price),
        "origQty": d8(orig_qty(order)),
        "executedQty": d8(order.filled),
        "origQuoteOrderQty": d8(order.quote_qty),
        "cummulativeQuoteQty": d8(order.cum_quote),
        "status": wire_status(order),
        "timeInForce": wire_tif(order),
        "type": wire_type(order),
        "side": order.side.value,
    }


def order_ack(order: Order) -> dict[str, Any]:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": list_id(order),
        "clientOrderId": order.client_id,
        "transactTime": order.created_ms,
    }


def _contingent_fields(order: Order, out: dict[str, Any]) -> None:
    if "stop_price" in order.extra:
        out["stopPrice"] = d8(stop_price(order))
    if "trailing_delta" in order.extra:
        out["trailingDelta"] = int(order.extra["trailing_delta"])


def order_result(order: Order) -> dict[str, Any]:
    out = order_ack(order)
    out.update(_common(order))
    _contingent_fields(order, out)
    out["workingTime"] = working_time(order)
    out["selfTradePreventionMode"] = order.stp.value
    _stp_fields(order, out)
    return out


def order_full(order: Order, fills: list[Fill]) -> dict[str, Any]:
    out = order_result(order)
    out["fills"] = [
        {
            "price": d8(f.price),
            "qty": d8(f.qty),
            "commission": d8(f.fee),
            "commissionAsset": f.fee_asset,
            "tradeId": f.trade_id,
        }
        for f in fills
    ]
    return out


def order_response(order: Order, resp_type: str, fills: list[Fill]) -> dict[str, Any]:
    if resp_type == "ACK":
        return order_ack(order)
    if resp_type == "RESULT":
        return order_result(order)
    return order_full(order, fills)


def cancel_response(order: Order, cancel_client_id: str, orig_client_id: str, ts: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "symbol": order.symbol,
        "origClientOrderId": orig_client_id,
        "orderId": order.order_id,
        "orderListId": list_id(order),
        "clientOrderId": cancel_client_id,
        "transactTime": ts,
    }
    out.update(_common(order))
    _contingent_fields(order, out)
    out["selfTradePreventionMode"] = order.stp.value
    _stp_fields(order, out)
    return out


def order_query(order: Order) -> dict[str, Any]:
    out: dict[str, Any] = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": list_id(order),
        "clientOrderId": order.client_id,
    }
    out.update(_common(order))
    out.pop("origQuoteOrderQty")
    out.update(
        {
            "stopPrice": d8(stop_price(order)),
            "icebergQty": d8(ZERO),
            "time": order.created_ms,
            "updateTime": order.updated_ms,
            "isWorking": is_working(order),
            "workingTime": working_time(order),
            "origQuoteOrderQty": d8(order.quote_qty),
            "selfTradePreventionMode": order.stp.value,
        }
    )
    if "trailing_delta" in order.extra:
        out["trailingDelta"] = int(order.extra["trailing_delta"])
        if order.trigger is not None and order.trigger.extreme is not None:
            out["trailingTime"] = order.trigger.fired_ms or order.updated_ms
    _stp_fields(order, out)
    return out


def _stp_fields(order: Order, out: dict[str, Any]) -> None:
    if order.status is OrderStatus.EXPIRED and order.expire_reason == "STP":
        out["preventedMatchId"] = int(order.extra.get("prevented_match_id", 0))
        out["preventedQuantity"] = d8(order.remaining)
    elif order.status is OrderStatus.EXPIRED:
        out["expiryReason"] = _expiry_reason(order)


def _expiry_reason(order: Order) -> str:
    reason = order.expire_reason
    if reason in ("NO_LIQUIDITY", "QUOTE_QTY", "IOC", "FOK"):
        return "INSUFFICIENT_LIQUIDITY"
    if reason == "INSUFFICIENT_BALANCE":
        return "INSUFFICIENT_BALANCE"
    return reason or "NONE"


def amended_order(order: Order, orig_client_id: str) -> dict[str, Any]:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": list_id(order),
        "origClientOrderId": orig_client_id,
        "clientOrderId": order.client_id,
        "price": d8(order.price),
        "qty": d8(order.qty),
        "executedQty": d8(order.filled),
        "preventedQty": d8(ZERO),
        "quoteOrderQty": d8(order.quote_qty),
        "cumulativeQuoteQty": d8(order.cum_quote),
        "status": wire_status(order),
        "timeInForce": wire_tif(order),
        "type": wire_type(order),
        "side": order.side.value,
        "workingTime": working_time(order),
        "selfTradePreventionMode": order.stp.value,
    }


def my_trade(fill: Fill, order: Order | None = None) -> dict[str, Any]:
    """A ``myTrades`` row; ``order``: the fill's order (its order list), when still known."""
    return {
        "symbol": fill.symbol,
        "id": fill.trade_id,
        "orderId": fill.order_id,
        "orderListId": -1 if order is None else list_id(order),
        "price": d8(fill.price),
        "qty": d8(fill.qty),
        "quoteQty": d8(fill.quote_qty),
        "commission": d8(fill.fee),
        "commissionAsset": fill.fee_asset,
        "time": fill.time_ms,
        "isBuyer": fill.side is Side.BUY,
        "isMaker": fill.is_maker,
        "isBestMatch": True,
    }


def assets_of(market: Market) -> list[str]:
    seen: dict[str, None] = {}
    for inst in market.instruments.values():
        seen.setdefault(inst.base)
        seen.setdefault(inst.quote)
    return list(seen)


def account_info(market: Market, account: Account, now: int, omit_zero: bool) -> dict[str, Any]:
    inst = next(iter(market.instruments.values()))
    wallet = account.wallet(market.name)
    assets = assets_of(market) + [a for a in wallet.balances if a not in assets_of(market)]
    balances = []
    for asset in assets:
        bal = wallet.balances.get(asset)
        free, locked = (bal.free, bal.locked) if bal is not None else (ZERO, ZERO)
        if omit_zero and not free and not locked:
            continue
        balances.append({"asset": asset, "free": d8(free), "locked": d8(locked)})
    return {
        # Commissions in basis points (x 10000) and as rates; the simulator charges the instrument fees.
        "makerCommission": int(inst.maker_fee * 10_000),
        "takerCommission": int(inst.taker_fee * 10_000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": d8(inst.maker_fee),
            "taker": d8(inst.taker_fee),
            "buyer": d8(ZERO),
            "seller": d8(ZERO),
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": now,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": uid_of(account),
    }


def uid_of(account: Account) -> int:
    return 100_000_000 + (int.from_bytes(account.account_id.encode()[-6:], "big") % 900_000_000)


def symbol_info(market: Market, inst: Instrument) -> dict[str, Any]:
    max_notional = Decimal("9000000")
    return {
        "symbol": inst.symbol,
        "status": "TRADING",
        "baseAsset": inst.base,
        "baseAssetPrecision": PRECISION,
        "quoteAsset": inst.quote,
        "quotePrecision": PRECISION,
        "quoteAssetPrecision": PRECISION,
        "baseCommissionPrecision": PRECISION,
        "quoteCommissionPrecision": PRECISION,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": d8(inst.min_price),
                "maxPrice": d8(inst.max_price),
                "tickSize": d8(inst.tick),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": d8(inst.min_qty),
                "maxQty": d8(inst.max_qty),
                "stepSize": d8(inst.lot),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": d8(inst.min_qty),
                "maxQty": d8(inst.market_max_qty or inst.max_qty),
                "stepSize": d8(inst.lot),
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            # The engine checks limit prices against the current mid, the same band for both sides.
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": d8(inst.percent_up),
                "bidMultiplierDown": d8(inst.percent_down),
                "askMultiplierUp": d8(inst.percent_up),
                "askMultiplierDown": d8(inst.percent_down),
                "avgPriceMins": 0,
            },
            # The engine applies the minimum notional to priced (limit) orders only.
            {
                "filterType": "NOTIONAL",
                "minNotional": d8(inst.min_notional),
                "applyMinToMarket": False,
                "maxNotional": d8(max_notional),
                "applyMaxToMarket": False,
                "avgPriceMins": 0,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": market.default_stp.value,
        "allowedSelfTradePreventionModes": list(STP_MODES),
    }


def exchange_info(market: Market, limiter: BinanceLimiter, now: int, symbols: list[str]) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": now,
        "rateLimits": limiter.describe(),
        "exchangeFilters": [],
        "symbols": [symbol_info(market, market.instruments[s]) for s in symbols],
    }


def depth(market: Market, symbol: str, limit: int, update_id: int) -> dict[str, Any]:
    bids, asks = market.books[symbol].depth(limit)
    return {
        "lastUpdateId": update_id,
        "bids": [[d8(p), d8(q)] for p, q in bids],
        "asks": [[d8(p), d8(q)] for p, q in asks],
    }


def book_ticker(market: Market, symbol: str) -> dict[str, Any]:
    bid, bid_qty, ask, ask_qty = market.books[symbol].top()
    return {"symbol": symbol, "bidPrice": d8(bid), "bidQty": d8(bid_qty), "askPrice": d8(ask), "askQty": d8(ask_qty)}


def last_price(market: Market, symbol: str) -> Decimal:
    return market.last_price.get(symbol) or market.mark_price(symbol)


def ticker_24hr(market: Market, symbol: str, now: int, mini: bool = False) -> dict[str, Any]:
    since = now - 86_400_000
    trades = [t for t in market.public_trades[symbol] if t.time_ms >= since]
    last = last_price(market, symbol)
    if trades:
        open_px = trades[0].price
        high = max(t.price for t in trades)
        low = min(t.price for t in trades)
        volume = sum((t.qty for t in trades), ZERO)
        quote_volume = sum((t.qty * t.price for t in trades), ZERO)
        first_id, last_id, last_qty = trades[0].trade_id, trades[-1].trade_id, trades[-1].qty
    else:
        open_px = high = low = last
        volume = quote_volume = last_qty = ZERO
        first_id = last_id = -1
    change = last - open_px
    pct = (change / open_px * 100) if open_px else ZERO
    wavg = quote_volume / volume if volume else last
    out: dict[str, Any] = {"symbol": symbol}
    if not mini:
        bid, bid_qty, ask, ask_qty = market.books[symbol].top()
        out.update(
            {
                "priceChange": d8(change),
                "priceChangePercent": f"{pct:.3f}",
                "weightedAvgPrice": d8(wavg),
                "prevClosePrice": d8(open_px),
                "lastPrice": d8(last),
                "lastQty": d8(last_qty),
                "bidPrice": d8(bid),
                "bidQty": d8(bid_qty),
                "askPrice": d8(ask),
                "askQty": d8(ask_qty),
            }
        )
    else:
        out["lastPrice"] = d8(last)
    out.update(
        {
            "openPrice": d8(open_px),
            "highPrice": d8(high),
            "lowPrice": d8(low),
            "volume": d8(volume),
            "quoteVolume": d8(quote_volume),
            "openTime": since,
            "closeTime": now,
            "firstId": first_id,
            "lastId": last_id,
            "count": len(trades),
        }
    )
    return out


EXEC_TYPES = {
    "NEW": "NEW",
    "TRADE": "TRADE",
    "CANCELED": "CANCELED",
    "EXPIRED": "EXPIRED",
    "AMENDED": "REPLACED",
    "REJECTED": "REJECTED",
    # a contingent order reaching its stop price: Binance reports the same order NEW again, now working
    # ("w" true for a limit order on the book, "W" its working time)
    "TRIGGERED": "NEW",
}


def execution_report(ev: OrderEvent, execution_id: int, now: int) -> dict[str, Any]:
    """The ``executionReport`` user data event for one engine order event (``user-data-stream.md``)."""
    order, fill = ev.order, ev.fill
    x = EXEC_TYPES[ev.exec_type.value]
    client_id, orig_client_id = order.client_id, ""
    if x == "CANCELED" and "cancel_cid" in order.extra:
        # A cancel request: "c" is the cancel's own client id, "C" the order's.
        client_id, orig_client_id = str(order.extra["cancel_cid"]), order.client_id
    elif x == "REPLACED" and "orig_cid" in order.extra:
        orig_client_id = str(order.extra["orig_cid"])
    if x == "EXPIRED" and order.expire_reason == "STP":
        x = "TRADE_PREVENTION"
    event: dict[str, Any] = {
        "e": "executionReport",
        "E": now,
        "s": order.symbol,
        "c": client_id,
        "S": order.side.value,
        "o": wire_type(order),
        "f": wire_tif(order),
        "q": d8(orig_qty(order)),
        "p": d8(order.price),
        "P": d8(stop_price(order)),
        "F": d8(ZERO),
        "g": list_id(order),
        "C": orig_client_id,
        "x": x,
        "X": wire_status(order),
        "r": "NONE",
        "i": order.order_id,
        "l": d8(fill.qty if fill else ZERO),
        "z": d8(order.filled),
        "L": d8(fill.price if fill else ZERO),
        "n": d8(fill.fee) if fill else "0",
        "N": fill.fee_asset if fill else None,
        "T": fill.time_ms if fill else order.updated_ms,
        "t": fill.trade_id if fill else -1,
        "I": execution_id,
        "w": order.is_open
        and order.status is not OrderStatus.UNTRIGGERED
        and order.type is OrderType.LIMIT
        and order.tif in (TimeInForce.GTC, TimeInForce.GTX),
        "m": fill.is_maker if fill else False,
        "M": False,
        "O": order.created_ms,
        "Z": d8(order.cum_quote),
        "Y": d8(fill.quote_qty if fill else ZERO),
        "Q": d8(order.quote_qty),
        "W": working_time(order),
        "V": order.stp.value,
    }
    if working_time(order) < 0:
        # user-data-stream.md: "W" (working time) only once the order is working
        del event["W"]
    if "trailing_delta" in order.extra:
        event["d"] = int(order.extra["trailing_delta"])  # only on a trailing stop order
        trigger = order.trigger
        if trigger is not None and trigger.extreme is not None:
            event["D"] = trigger.fired_ms or order.updated_ms  # trailing time: once the trailing is active
    if x == "TRADE_PREVENTION":
        event["v"] = int(order.extra.get("prevented_match_id", 0))
        event["A"] = d8(order.remaining)
        event["B"] = d8(order.remaining)
    elif x == "EXPIRED":
        event["eR"] = _expiry_reason(order)
    return event


def account_position(
    market: Market,
    account: Account,
    assets: frozenset[str],
    now: int,
    updated: int,
) -> dict[str, Any]:
    wallet = account.wallet(market.name)
    balances = []
    for asset in sorted(assets):
        bal = wallet.balances.get(asset)
        free, locked = (bal.free, bal.locked) if bal is not None else (ZERO, ZERO)
        balances.append({"a": asset, "f": d8(free), "l": d8(locked)})
    return {"e": "outboundAccountPosition", "E": now, "u": updated, "B": balances}


KLINE_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
    "1M": 0,
}
_WEEK_OFFSET_MS = 3 * 86_400_000  # weeks open on Monday 00:00 UTC; the epoch was a Thursday


def kline_open(interval: str, ts: int) -> tuple[int, int]:
    """Open time and close time (inclusive) of the interval holding ``ts`` (UTC)."""
    if interval == "1M":
        day = datetime.fromtimestamp(ts / 1000, UTC)
        first = datetime(day.year, day.month, 1, tzinfo=UTC)
        nxt = datetime(day.year + (day.month == 12), day.month % 12 + 1, 1, tzinfo=UTC)
        return int(first.timestamp() * 1000), int(nxt.timestamp() * 1000) - 1
    width = KLINE_MS[interval]
    offset = _WEEK_OFFSET_MS if interval == "1w" else 0
    open_ms = (ts + offset) // width * width - offset
    return open_ms, open_ms + width - 1


def klines(
    market: Market,
    symbol: str,
    interval: str,
    start: int | None,
    end: int | None,
    limit: int,
) -> list[list[Any]]:
    """Candles built from the simulator's trades since start-up (``core.marketdata``; ``1s`` from the
    recent public trades); intervals without trades are omitted."""
    data = md.MarketData.of(market.exchange)
    if data is not None and interval != "1s":
        width = md.MONTH if interval == "1M" else KLINE_MS[interval]
        return [
            [
                b.open_ms,
                d8(b.open),
                d8(b.high),
                d8(b.low),
                d8(b.close),
                d8(b.volume),
                kline_open(interval, b.open_ms)[1],
                d8(b.quote),
                b.count,
                d8(b.buy_volume),
                d8(b.buy_quote),
                "0",
            ]
            for b in data.candles.bars(market.name, symbol, width, start, end, limit)
        ]
    bars: dict[int, list[Any]] = {}
    for t in market.public_trades[symbol]:
        if (start is not None and t.time_ms < start) or (end is not None and t.time_ms > end):
            continue
        open_ms, close_ms = kline_open(interval, t.time_ms)
        bar = bars.get(open_ms)
        quote = t.price * t.qty
        taker_buy = t.taker_side is Side.BUY
        if bar is None:
            bars[open_ms] = [
                open_ms,
                t.price,
                t.price,
                t.price,
                t.price,
                t.qty,
                close_ms,
                quote,
                1,
                t.qty if taker_buy else ZERO,
                quote if taker_buy else ZERO,
                "0",
            ]
            continue
        bar[2], bar[3], bar[4] = max(bar[2], t.price), min(bar[3], t.price), t.price
        bar[5] += t.qty
        bar[7] += quote
        bar[8] += 1
        if taker_buy:
            bar[9] += t.qty
            bar[10] += quote
    rows = [bars[k] for k in sorted(bars)]
    rows = rows[:limit] if start is not None else rows[-limit:]
    return [
        [r[0], d8(r[1]), d8(r[2]), d8(r[3]), d8(r[4]), d8(r[5]), r[6], d8(r[7]), r[8], d8(r[9]), d8(r[10]), "0"]
        for r in rows
    ]
