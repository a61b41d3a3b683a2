"""Parsing of Bybit v5 messages (shapes from the docs' examples) into domain types, host overrides and
the outcome policy."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, cast

import pytest
from execx_server.connectors.bybit import parse
from execx_server.connectors.bybit.errors import classify
from execx_server.connectors.bybit.schemas import BookData, ExecutionRow, InstrumentRow, OrderRow, TradeItem
from execx_server.connectors.bybit.urls import resolve_hosts
from execx_server.domain.enums import Exchange, Liquidity, OrderStatus, Side
from execx_server.domain.venue import OutcomeUnknown, Rejected, Retryable

D = Decimal

ORDER_POST_ONLY_CANCELLED: dict[str, Any] = {
    "category": "linear",
    "orderId": "fd4300ae-7847-404e-b947-b46980a4d140",
    "orderLinkId": "cl-1",
    "symbol": "BTCUSDT",
    "price": "97010.0",
    "qty": "0.010",
    "side": "Buy",
    "orderStatus": "Cancelled",
    "cancelType": "UNKNOWN",
    "rejectReason": "EC_PostOnlyWillTakeLiquidity",
    "cumExecQty": "0",
    "leavesQty": "0",
    "timeInForce": "PostOnly",
    "orderType": "Limit",
    "createdTime": "1672364262444",
    "updatedTime": "1672364262457",
}
EXECUTION: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "execFee": "0.005061",
    "execId": "7e2ae69c-4edf-5800-a352-893d52b446aa",
    "execPrice": "0.3374",
    "execQty": "25",
    "execType": "Trade",
    "execValue": "8.435",
    "isMaker": False,
    "feeRate": "0.0006",
    "orderId": "f6e324ff-99c2-4e89-9739-3086e47f9381",
    "orderLinkId": "cl-2",
    "orderPrice": "0.3207",
    "orderQty": "25",
    "leavesQty": "0",
    "side": "Sell",
    "execTime": "1672364174443",
}


def test_order_topic_post_only_cross_is_a_cancel_with_the_reason() -> None:
    report = parse.parse_order(cast(OrderRow, ORDER_POST_ONLY_CANCELLED))
    assert report.status is OrderStatus.CANCELLED and report.cl_order_id == "cl-1"
    assert report.message.startswith("EC_PostOnlyWillTakeLiquidity")
    assert (report.price, report.qty, report.cum_filled) == (D("97010.0"), D("0.010"), D(0))
    assert report.exch_time_ns == 1672364262457 * 1_000_000 and not report.trade_id


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("New", OrderStatus.NEW),
        ("PartiallyFilled", OrderStatus.PARTIALLYFILLED),
        ("Filled", OrderStatus.FILLED),
        ("PartiallyFilledCanceled", OrderStatus.CANCELLED),
        ("Rejected", OrderStatus.REJECTED),
        ("Untriggered", OrderStatus.PENDINGTRIGGER),
        ("Triggered", OrderStatus.TRIGGERED),
        ("Deactivated", OrderStatus.CANCELLED),
    ],
)
def test_order_statuses(status: str, expected: OrderStatus) -> None:
    row = {**ORDER_POST_ONLY_CANCELLED, "orderStatus": status, "rejectReason": "EC_NoError"}
    report = parse.parse_order(cast(OrderRow, row))
    assert report.status is expected and report.message == ""


def test_execution_is_one_fill_with_its_exec_id() -> None:
    fill = parse.parse_execution(cast(ExecutionRow, EXECUTION), D(25))
    assert fill.trade_id == "7e2ae69c-4edf-5800-a352-893d52b446aa" and fill.cl_order_id == "cl-2"
    assert (fill.fill_qty, fill.fill_price, fill.fee, fill.cum_filled) == (D(25), D("0.3374"), D("0.005061"), D(25))
    assert fill.status is OrderStatus.FILLED and fill.side is Side.SELL and fill.liquidity is Liquidity.REMOVE
    partial = parse.parse_execution(cast(ExecutionRow, {**EXECUTION, "leavesQty": "5", "isMaker": True}), D(20))
    assert partial.status is OrderStatus.PARTIALLYFILLED and partial.liquidity is Liquidity.ADD


def test_instruments_per_category() -> None:
    spot = {
        "symbol": "BTCUSDT",
        "status": "Trading",
        "priceFilter": {"tickSize": "0.01"},
        "lotSizeFilter": {
            "basePrecision": "0.000001",
            "minOrderQty": "0.000048",
            "maxOrderQty": "71.73956243",
            "minOrderAmt": "1",
        },
    }
    inverse = {
        "symbol": "BTCUSD",
        "status": "Trading",
        "priceFilter": {"tickSize": "0.50"},
        "lotSizeFilter": {"qtyStep": "1", "minOrderQty": "1", "maxOrderQty": "1000000"},
    }
    closed = {**inverse, "symbol": "ETHUSD", "status": "Closed"}
    rules = parse.parse_instruments(Exchange.BYBIT_SPOT, "spot", [cast(InstrumentRow, spot)])["BTCUSDT"]
    assert (rules.tick, rules.lot, rules.min_qty, rules.min_notional) == (D("0.01"), D("0.000001"), D("0.000048"), 1)
    inv = parse.parse_instruments(
        Exchange.BYBIT_INVERSE, "inverse", [cast(InstrumentRow, r) for r in (inverse, closed)]
    )
    assert list(inv) == ["BTCUSD"] and inv["BTCUSD"].inverse and inv["BTCUSD"].contract_size == 1


def test_public_book_and_trade() -> None:
    book = parse.parse_book(
        cast(BookData, {"s": "BTCUSDT", "b": [["16493.50", "0.006"]], "a": [["16611.00", "0.029"]], "u": 18521288}), 7
    )
    assert book is not None and (book.bid, book.bid_qty, book.ask, book.ask_qty) == (
        D("16493.50"),
        D("0.006"),
        D("16611.00"),
        D("0.029"),
    )
    assert parse.parse_book(cast(BookData, {"s": "BTCUSDT", "b": [], "a": [["1", "1"]], "u": 1}), 7) is None
    trade = parse.parse_trade(
        cast(
            TradeItem,
            {
                "T": 1672304486865,
                "s": "BTCUSDT",
                "S": "Buy",
                "v": "0.001",
                "p": "16578.50",
                "i": "20f43950-d8dd-5b31-9112-a178eb6023af",
            },
        )
    )
    assert trade.aggressor is Side.BUY and trade.price == D("16578.50") and trade.trade_id.startswith("20f43950")


def test_positions_are_signed() -> None:
    rows = [
        {"symbol": "BTCUSDT", "side": "Sell", "size": "0.5", "avgPrice": "97000"},
        {"symbol": "ETHUSDT", "side": "", "size": "0", "avgPrice": "0"},
    ]
    assert [(p.symbol, p.qty) for p in parse.parse_positions(cast(Any, rows))] == [("BTCUSDT", D("-0.5"))]


def test_outcome_policy() -> None:
    assert isinstance(classify(200, 10001, "params error", mutating=True), Rejected)
    assert isinstance(classify(401, 10003, "API key is invalid.", mutating=False), Rejected)
    limited = classify(200, 10006, "Too many visits.", mutating=True, retry_after_s=0.4)
    assert isinstance(limited, Retryable) and limited.retry_after_s == 0.4
    assert isinstance(classify(200, 10002, "time window", mutating=True), Retryable)
    assert isinstance(classify(503, None, "", mutating=True), OutcomeUnknown)
    assert isinstance(classify(503, None, "", mutating=False), Retryable)
    banned = classify(403, None, "access too frequent", mutating=True)
    assert isinstance(banned, Retryable) and banned.retry_after_s == 600


def test_host_overrides() -> None:
    prod = resolve_hosts(False)
    assert (prod.rest, prod.private, prod.public("option")) == (
        "https://api.bybit.com",
        "wss://stream.bybit.com/v5/private",
        "wss://stream.bybit.com/v5/public/option",
    )
    assert resolve_hosts(True).trade == "wss://stream-testnet.bybit.com/v5/trade"
    ready = {
        "rest": "http://127.0.0.1:1",
        "private": "ws://127.0.0.1:2/v5/private",
        "trade": "ws://127.0.0.1:3/v5/trade",
        "public": "ws://127.0.0.1:4/v5/public/linear",
    }
    hosts = resolve_hosts(False, "", json.dumps(ready))
    assert (hosts.rest, hosts.private, hosts.trade, hosts.public("spot")) == (
        "http://127.0.0.1:1",
        "ws://127.0.0.1:2/v5/private",
        "ws://127.0.0.1:3/v5/trade",
        "ws://127.0.0.1:4/v5/public/spot",
    )
    one = resolve_hosts(False, "http://r", "ws://h:9")
    assert (one.rest, one.private, one.public("inverse")) == (
        "http://r",
        "ws://h:9/v5/private",
        "ws://h:9/v5/public/inverse",
    )
    named = resolve_hosts(False, "", "private=ws://a/v5/private;public=ws://b/v5/public/spot")
    assert (named.trade, named.public("linear")) == ("ws://a/v5/trade", "ws://b/v5/public/linear")
    with pytest.raises(ValueError, match="wsUrl"):
        resolve_hosts(False, "", "stream=ws://x")
