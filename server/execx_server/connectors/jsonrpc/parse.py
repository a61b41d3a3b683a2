"""Deribit-dialect JSON-RPC objects (order, trade, instrument, position, quote, public trade) into domain
types; used by the Deribit and Pulse connectors (seed 004 documents the same objects).

Quantities inside execx are **contracts** for these venues (what FIX ``OrderQty`` counts): an object's
``contracts`` field when present, else ``amount`` divided by the instrument's ``contract_size`` for
inverse ("reversed") instruments, whose ``amount`` is USD; for the others ``amount`` already counts
contracts (coin). Numbers arrive as JSON numbers and are read as ``Decimal`` (the connections parse
with ``parse_float=Decimal``), never through a float.

The client order id is the order's ``label``: execx sends its clOrderId as the label (FIX
``DeribitLabel(100010)``, JSON-RPC ``label``), which is how orders are found again over JSON-RPC.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...domain.enums import Exchange, Liquidity, OrderStatus, Side
from ...domain.instruments import InstrumentRules
from ...domain.venue import BookTicker, ExecutionReport, Trade, VenuePosition

STATE = {
    "open": OrderStatus.NEW,
    "untriggered": OrderStatus.PENDINGTRIGGER,  # a stop order the venue holds (a native contingent order)
    "triggered": OrderStatus.TRIGGERED,
    "partially_filled": OrderStatus.PARTIALLYFILLED,  # Pulse's extra state (seed 004 types.OrderStatus)
    "filled": OrderStatus.FILLED,
    "cancelled": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
}


def dec(value: Any) -> Decimal:
    """A JSON number (already Decimal or int) or numeric string as Decimal; absent/None is 0."""
    if value is None or value == "":
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def contracts(obj: dict[str, Any], rules: InstrumentRules | None, field: str = "amount") -> Decimal:
    """``obj[field]`` in contracts (see module docstring)."""
    if field == "amount" and obj.get("contracts") is not None:
        return dec(obj["contracts"])
    value = dec(obj.get(field))
    if rules is not None and rules.inverse and rules.contract_size:
        return value / rules.contract_size
    return value


def amount_of(qty: Decimal, rules: InstrumentRules) -> Decimal:
    """Contracts as the JSON-RPC ``amount`` (USD for inverse instruments)."""
    return qty * rules.contract_size if rules.inverse else qty


def parse_instruments(rows: list[dict[str, Any]], exchange: Exchange) -> dict[str, InstrumentRules]:
    """``public/get_instruments`` rows as rules: tick ``tick_size``, lot and minimum ``min_trade_amount``
    (in contracts), ``contract_size`` (USD per contract for inverse instruments). The rows publish no
    maximum quantity and no static price limit: Deribit's price band is the ticker's ``min_price`` /
    ``max_price``, which moves with the market and is not checked before sending."""
    out: dict[str, InstrumentRules] = {}
    for row in rows:
        name = str(row["instrument_name"])
        inverse = row.get("instrument_type", row.get("future_type")) == "reversed"
        size = dec(row.get("contract_size")) or Decimal(1)
        min_amount = dec(row.get("min_trade_amount")) or Decimal(1)
        lot = (min_amount / size if inverse else min_amount).normalize()
        out[name] = InstrumentRules(
            exchange,
            name,
            tick=dec(row["tick_size"]).normalize(),
            lot=lot,
            min_qty=lot,
            contract_size=size if inverse else Decimal(1),
            inverse=inverse,
        )
    return out


def instrument_currencies(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per instrument, the currencies an order-by-label query may name: its ``base_currency``, then its
    ``settlement_currency`` (Deribit groups a linear USDC perpetual under USDC; seed 004's example uses
    USD while the document does not say which of the two it means)."""
    out: dict[str, list[str]] = {}
    for row in rows:
        names = [str(row[k]) for k in ("base_currency", "settlement_currency") if row.get(k)]
        out[str(row["instrument_name"])] = list(dict.fromkeys(names))
    return out


def parse_order(obj: dict[str, Any], rules: InstrumentRules | None, cl_order_id: str = "") -> ExecutionReport:
    """An order object as a status report (no fill: fills come from trades)."""
    state = str(obj.get("order_state", "open"))
    status = STATE.get(state, OrderStatus.NEW)
    qty = contracts(obj, rules)
    filled = contracts(obj, rules, "filled_amount")
    if status is OrderStatus.NEW and filled:
        status = OrderStatus.PARTIALLYFILLED
    price = obj.get("price")
    message = ""
    if status is OrderStatus.CANCELLED and obj.get("cancel_reason") not in (None, "user_request"):
        message = f"cancelled by the venue: {obj['cancel_reason']}"
    return ExecutionReport(
        cl_order_id=cl_order_id or str(obj.get("label", "")),
        symbol=str(obj.get("instrument_name", "")),
        exch_order_id=str(obj.get("order_id", "")),
        status=status,
        side=Side.BUY if obj.get("direction") == "buy" else Side.SELL,
        price=dec(price) if isinstance(price, (int, Decimal, float)) else None,
        qty=qty,
        cum_filled=filled,
        exch_time_ns=int(obj.get("last_update_timestamp", 0) or 0) * 1_000_000,
        message=message,
    )


def parse_fill(
    trade: dict[str, Any], order: ExecutionReport, rules: InstrumentRules | None, cum: Decimal
) -> ExecutionReport:
    """A user trade of ``order`` as a fill report; ``cum`` = the order's filled quantity after it."""
    status = OrderStatus.FILLED if order.qty and cum >= order.qty else OrderStatus.PARTIALLYFILLED
    if order.status.is_final and order.status is not OrderStatus.FILLED and cum >= order.cum_filled:
        status = order.status  # the last fill of an order that then ended (IOC remainder cancelled)
    return ExecutionReport(
        cl_order_id=order.cl_order_id,
        symbol=order.symbol,
        exch_order_id=order.exch_order_id,
        status=status,
        side=order.side,
        price=order.price,
        qty=order.qty,
        cum_filled=cum,
        exch_time_ns=int(trade.get("timestamp", 0) or 0) * 1_000_000,
        trade_id=str(trade["trade_id"]),
        fill_qty=contracts(trade, rules),
        fill_price=dec(trade.get("price")),
        liquidity=Liquidity.ADD if trade.get("liquidity") == "M" else Liquidity.REMOVE,
        fee=dec(trade.get("fee")),
        fee_asset=str(trade.get("fee_currency", "")),
    )


def fills_of(
    trades: list[dict[str, Any]], order: ExecutionReport, rules: InstrumentRules | None
) -> list[ExecutionReport]:
    """Every trade of one order, oldest first, with the cumulative quantity after each."""
    rows = sorted(trades, key=lambda t: (int(t.get("trade_seq", 0) or 0), str(t["trade_id"])))
    total = sum((contracts(t, rules) for t in rows), Decimal(0))
    cum = order.cum_filled - total
    out: list[ExecutionReport] = []
    for row in rows:
        cum += contracts(row, rules)
        out.append(parse_fill(row, order, rules, cum))
    return out


def parse_positions(rows: list[dict[str, Any]], rules: dict[str, InstrumentRules]) -> list[VenuePosition]:
    """``private/get_positions`` rows: ``size`` is signed (USD for inverse instruments)."""
    out: list[VenuePosition] = []
    for row in rows:
        name = str(row.get("instrument_name", ""))
        qty = contracts(row, rules.get(name), "size")
        if qty:
            out.append(VenuePosition(name, qty, dec(row.get("average_price"))))
    return out


def parse_quote(data: dict[str, Any], rules: InstrumentRules | None) -> BookTicker | None:
    """A ``quote.{instrument}`` notification; None while one side of the book is empty."""
    bid, ask = data.get("best_bid_price"), data.get("best_ask_price")
    if bid is None or ask is None:
        return None
    return BookTicker(
        str(data["instrument_name"]),
        dec(bid),
        contracts(data, rules, "best_bid_amount"),
        dec(ask),
        contracts(data, rules, "best_ask_amount"),
        int(data.get("timestamp", 0) or 0) * 1_000_000,
    )


TRADES_COUNT = 1000  # the trades-by-time methods' maximum ``count``


def trades_by_time_params(symbol: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    """Deribit ``public/get_last_trades_by_instrument_and_time`` / Pulse ``public/last_trades_by_instrument``
    (seed 004): the oldest ``TRADES_COUNT`` public trades of ``symbol`` from ``start_ms`` to ``end_ms``."""
    if end_ms < start_ms:
        raise ValueError(f"trades window {start_ms}..{end_ms} ends before it starts")
    return {
        "instrument_name": symbol,
        "start_timestamp": start_ms,
        "end_timestamp": end_ms,
        "count": TRADES_COUNT,
        "sorting": "asc",
    }


def parse_trades_page(answer: Any, rules: InstrumentRules | None) -> tuple[list[Trade], bool]:
    """A trades-by-time answer (Deribit ``{"trades": [...], "has_more"}``, Pulse a plain list) as trades, and
    whether more follow (Pulse: a full page)."""
    rows = answer.get("trades", []) if isinstance(answer, dict) else answer
    if not isinstance(rows, list):
        raise ValueError(f"trades answer is {type(rows).__name__}")
    trades = [parse_public_trade(r, rules) for r in rows if isinstance(r, dict)]
    more = bool(answer.get("has_more")) if isinstance(answer, dict) else len(rows) >= TRADES_COUNT
    return trades, more


def parse_public_trade(data: dict[str, Any], rules: InstrumentRules | None) -> Trade:
    """One element of a ``trades.{instrument}.{interval}`` notification; ``direction`` is the taker's side."""
    return Trade(
        str(data["instrument_name"]),
        str(data["trade_id"]),
        dec(data["price"]),
        contracts(data, rules),
        Side.BUY if data.get("direction") == "buy" else Side.SELL,
        int(data.get("timestamp", 0) or 0) * 1_000_000,
    )
