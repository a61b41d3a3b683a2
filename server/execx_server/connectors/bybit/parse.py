"""Bybit wire types -> domain types: the one place that sees both (DESIGN §2)."""

from __future__ import annotations

from decimal import Decimal

from ...domain.enums import Exchange, Liquidity, OrderStatus, Side
from ...domain.instruments import InstrumentRules
from ...domain.venue import BookTicker, ExecutionReport, Trade, VenuePosition
from .schemas import BookData, ExecutionRow, InstrumentRow, OrderRow, PositionRow, TradeItem

D = Decimal
SIDE = {"Buy": Side.BUY, "Sell": Side.SELL}
SIDE_OUT = {Side.BUY: "Buy", Side.SELL: "Sell"}
STATUS = {
    "Created": OrderStatus.PENDINGNEW,
    "New": OrderStatus.NEW,
    "Untriggered": OrderStatus.NEW,
    "PartiallyFilled": OrderStatus.PARTIALLYFILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "PartiallyFilledCanceled": OrderStatus.CANCELLED,
    "Deactivated": OrderStatus.CANCELLED,
    "Triggered": OrderStatus.NEW,
    "Rejected": OrderStatus.REJECTED,
}
POST_ONLY_CROSS = "EC_PostOnlyWillTakeLiquidity"
POST_ONLY_MESSAGE = f"{POST_ONLY_CROSS}: the post-only order would have taken liquidity and was cancelled"


def _dec(text: str | None) -> Decimal:
    return D(text) if text else D(0)


def _ns(ms: str | int | None) -> int:
    return int(ms or 0) * 1_000_000


def parse_instruments(exchange: Exchange, category: str, rows: list[InstrumentRow]) -> dict[str, InstrumentRules]:
    """``/v5/market/instruments-info`` rows as rules: ``priceFilter`` tickSize/minPrice/maxPrice,
    ``lotSizeFilter`` step (spot basePrecision, else qtyStep), minOrderQty, the limit-order maximum
    (maxOrderQty; spot maxLimitOrderQty where given), the market-order maximum (maxMktOrderQty; spot
    maxMarketOrderQty), the notional limits (spot minOrderAmt/maxOrderAmt, linear minNotionalValue).
    Absent or zero: no limit. Spot's price band (``riskParameters``) needs the market price: not checked."""
    rules: dict[str, InstrumentRules] = {}
    for row in rows:
        if row.get("status", "Trading") != "Trading":
            continue
        lot = row.get("lotSizeFilter", {})
        price = row.get("priceFilter", {})
        spot = category == "spot"
        tick = _dec(price.get("tickSize"))
        step = _dec(lot.get("basePrecision") if spot else lot.get("qtyStep"))
        rules[row["symbol"]] = InstrumentRules(
            exchange=exchange,
            symbol=row["symbol"],
            tick=tick,
            lot=step,
            min_qty=_dec(lot.get("minOrderQty")) or step,
            max_qty=_limit(lot.get("maxLimitOrderQty") or lot.get("maxOrderQty")),
            min_notional=_dec(lot.get("minOrderAmt") if spot else lot.get("minNotionalValue")),
            contract_size=D(1),
            inverse=category == "inverse",  # quantities are USD contracts of 1 USD each
            market_max_qty=_limit(lot.get("maxMarketOrderQty") if spot else lot.get("maxMktOrderQty")),
            min_price=_dec(price.get("minPrice")),
            max_price=_limit(price.get("maxPrice")),
            max_notional=_limit(lot.get("maxOrderAmt")) if spot else None,
        )
    return rules


def _limit(text: str | None) -> Decimal | None:
    value = _dec(text)
    return value if value > 0 else None


def order_message(row: OrderRow) -> str:
    reason = row.get("rejectReason", "")
    if reason == POST_ONLY_CROSS:
        return POST_ONLY_MESSAGE
    return reason if reason and reason != "EC_NoError" else ""


def parse_order(row: OrderRow) -> ExecutionReport:
    """An order row (REST or ``order`` topic) as a status report (no fill: fills come from executions)."""
    price = _dec(row.get("price"))
    return ExecutionReport(
        cl_order_id=row.get("orderLinkId", ""),
        symbol=row["symbol"],
        exch_order_id=row["orderId"],
        status=STATUS.get(row.get("orderStatus", ""), OrderStatus.NEW),
        side=SIDE[row["side"]],
        price=price if price else None,
        qty=_dec(row.get("qty")),
        cum_filled=_dec(row.get("cumExecQty")),
        exch_time_ns=_ns(row.get("updatedTime") or row.get("createdTime")),
        message=order_message(row),
    )


def parse_execution(row: ExecutionRow, cum_filled: Decimal, final_status: OrderStatus | None = None) -> ExecutionReport:
    """One execution as a fill report; ``cum_filled`` includes it. The status follows ``leavesQty``
    (0: filled), unless ``final_status`` (e.g. an IOC remainder cancelled) is known."""
    leaves = _dec(row.get("leavesQty"))
    status = OrderStatus.FILLED if leaves == 0 else OrderStatus.PARTIALLYFILLED
    order_price = _dec(row.get("orderPrice"))
    return ExecutionReport(
        cl_order_id=row.get("orderLinkId", ""),
        symbol=row["symbol"],
        exch_order_id=row["orderId"],
        status=final_status or status,
        side=SIDE[row["side"]],
        price=order_price if order_price else None,
        qty=_dec(row.get("orderQty")),
        cum_filled=cum_filled,
        exch_time_ns=_ns(row.get("execTime")),
        trade_id=row["execId"],
        fill_qty=_dec(row["execQty"]),
        fill_price=_dec(row["execPrice"]),
        liquidity=Liquidity.ADD if row.get("isMaker") else Liquidity.REMOVE,
        fee=_dec(row.get("execFee")),
        fee_asset=row.get("feeCurrency", ""),
    )


def parse_positions(rows: list[PositionRow]) -> list[VenuePosition]:
    out = []
    for row in rows:
        size = _dec(row.get("size"))
        if not size:
            continue
        signed = size if row.get("side") == "Buy" else -size
        out.append(VenuePosition(row["symbol"], signed, _dec(row.get("avgPrice"))))
    return out


def parse_book(data: BookData, now_ns: int) -> BookTicker | None:
    """Level 1 of an ``orderbook.1`` snapshot; None while a side is empty."""
    if not data["b"] or not data["a"]:
        return None
    (bid, bid_qty), (ask, ask_qty) = data["b"][0][:2], data["a"][0][:2]
    return BookTicker(data["s"], D(bid), D(bid_qty), D(ask), D(ask_qty), now_ns)


def parse_trade(item: TradeItem) -> Trade:
    return Trade(item["s"], str(item["i"]), D(item["p"]), D(item["v"]), SIDE[item["S"]], _ns(item["T"]))
