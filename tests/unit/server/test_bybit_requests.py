"""Bybit request building and ids-only answers (``connectors/bybit/parse.py``): domain orders into
``order.create|amend|cancel`` parameters, pinned to ``../shared/venues/bybit.md`` (place-order
parameters, post-only = ``timeInForce=PostOnly``) and to the signed body of ``test-vectors.md`` C1."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, cast

import pytest
from execx_server.connectors.base import Secret
from execx_server.connectors.bybit import parse
from execx_server.connectors.bybit.schemas import ExecutionRow
from execx_server.connectors.bybit.signing import Signer
from execx_server.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from execx_server.domain.errors import ValidationError
from execx_server.domain.venue import NativeTrigger, OrderRequest

D = Decimal


def test_linear_post_only_is_the_signed_body_of_vector_c1() -> None:
    order = OrderRequest("abc-123", "BTCUSDT", Side.BUY, OrderType.POSTONLY, TimeInForce.GTC, D("0.001"), D("25000"))
    body = json.dumps({"category": "linear", **parse.order_params(order, "linear")}, separators=(",", ":"))
    assert body == (
        '{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001",'
        '"price":"25000","timeInForce":"PostOnly","orderLinkId":"abc-123"}'
    )
    signer = Signer("TESTKEYbybit01", Secret("TESTSECRETbybit0123456789abcdef0"), lambda: 1658385579423)
    assert signer.rest_headers(body)["X-BAPI-SIGN"] == (
        "f7f17735db012bd0073787b47ee1997042b2d07d8e4fe900951e9f2520971245"
    )


def test_spot_market_order_is_sized_in_the_base_coin_and_margin_borrows() -> None:
    order = OrderRequest("m1", "BTCUSDT", Side.SELL, OrderType.MARKET, TimeInForce.IOC, D("0.50"), None)
    params = parse.order_params(order, "spot", margin=True)
    assert params == {
        "symbol": "BTCUSDT",
        "side": "Sell",
        "orderType": "Market",
        "qty": "0.5",
        "marketUnit": "baseCoin",
        "orderLinkId": "m1",
        "isLeverage": 1,
    }
    assert "marketUnit" not in parse.order_params(order, "linear")


def test_limit_time_in_force_reduce_only_and_a_missing_price() -> None:
    fok = OrderRequest("l1", "BTCUSD", Side.BUY, OrderType.LIMIT, TimeInForce.FOK, D(10), D("60000.5"), True)
    params = parse.order_params(fok, "inverse")
    assert (params["timeInForce"], params["price"], params["reduceOnly"]) == ("FOK", "60000.5", True)
    priceless = OrderRequest("l1", "BTCUSD", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, D(10), None)
    with pytest.raises(ValidationError) as info:
        parse.order_params(priceless, "inverse")
    assert info.value.field == "price"


def triggered(cl: str, side: Side, price: Decimal | None, trigger: NativeTrigger) -> OrderRequest:
    """A BTCUSDT order of 0.01 with ``trigger``: a limit one at ``price``, else market."""
    kind, tif = (OrderType.LIMIT, TimeInForce.GTC) if price is not None else (OrderType.MARKET, TimeInForce.IOC)
    return OrderRequest(cl, "BTCUSDT", side, kind, tif, D("0.01"), price, trigger=trigger)


def test_spot_conditional_order_is_a_stop_order_without_direction() -> None:
    """Spot: ``orderFilter=StopOrder`` + ``triggerPrice`` (no ``triggerDirection`` / ``triggerBy``: linear and
    inverse parameters); linear keeps them. A level the last price already reached is refused on spot."""
    trigger = NativeTrigger("stop", "last", D("96000.50"))
    order = OrderRequest(
        "s1", "BTCUSDT", Side.SELL, OrderType.MARKET, TimeInForce.IOC, D("0.01"), None, trigger=trigger
    )
    assert parse.order_params(order, "spot") == {
        "symbol": "BTCUSDT",
        "side": "Sell",
        "orderType": "Market",
        "qty": "0.01",
        "marketUnit": "baseCoin",
        "orderLinkId": "s1",
        "triggerPrice": "96000.5",
        "orderFilter": "StopOrder",
    }
    linear = parse.order_params(order, "linear")
    assert (linear["triggerDirection"], linear["triggerBy"]) == (2, "LastPrice") and "orderFilter" not in linear
    assert parse.spot_level_reached(order, D("96001")) == ""  # a sell stop below the last price: falls to it
    assert "at or above the last price 96000.5" in parse.spot_level_reached(order, D("96000.5"))
    tp = triggered("t1", Side.SELL, D("97000"), NativeTrigger("takeprofit", "last", D("97000")))
    assert parse.spot_level_reached(tp, D("96999.9")) == ""  # a sell take-profit above: rises to it
    assert "at or below" in parse.spot_level_reached(tp, D("97100"))
    mark = triggered("m1", Side.BUY, None, NativeTrigger("stop", "mark", D("97000")))
    with pytest.raises(ValidationError) as info:
        parse.order_params(mark, "spot")
    assert info.value.field == "triggerReference"
    row = cast(Any, {"orderLinkId": "s1", "triggerDirection": 2})
    assert parse.spot_held_the_other_way(order, row) == ""  # a sell stop falls to its level: as meant
    assert "rises to triggerPrice 96000.5" in parse.spot_held_the_other_way(order, cast(Any, {"triggerDirection": 1}))
    assert parse.spot_held_the_other_way(order, cast(Any, {"triggerDirection": 0})) == ""  # says nothing
    assert parse.parse_last_price([{"symbol": "BTCUSDT", "lastPrice": "96000.1"}]) == D("96000.1")
    assert parse.parse_last_price([]) is None


def test_amend_and_cancel_parameters() -> None:
    assert parse.amend_params("linear", "BTCUSDT", "c1", D("0.002"), None) == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "orderLinkId": "c1",
        "qty": "0.002",
    }
    assert parse.amend_params("linear", "BTCUSDT", "c1", D("0.002"), D("24000.0"))["price"] == "24000"
    assert parse.cancel_params("BTCUSDT", "c1") == {"symbol": "BTCUSDT", "orderLinkId": "c1"}
    assert parse.cancel_params("BTCUSDT", "c1", "StopOrder") == {
        "symbol": "BTCUSDT",
        "orderLinkId": "c1",
        "orderFilter": "StopOrder",
    }
    assert parse.cancel_all_params("spot", "BTCUSDT", "StopOrder")["orderFilter"] == "StopOrder"


def test_ids_only_answers_as_reports() -> None:
    order = OrderRequest("c1", "BTCUSDT", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, D(1), D(100))
    ack = parse.acknowledged(order, "1321003749386327552", 7)
    assert (ack.status, ack.exch_order_id, ack.cum_filled, ack.exch_time_ns) == (
        OrderStatus.NEW,
        "1321003749386327552",
        0,
        7,
    )
    amended = parse.amended("BTCUSDT", "c1", "x", Side.BUY, D(2), D(99), D("0.5"), 8)
    assert (amended.status, amended.qty, amended.message) == (OrderStatus.PARTIALLYFILLED, D(2), "amend")
    assert parse.amended("BTCUSDT", "c1", "x", Side.BUY, D(2), None, D(0), 8).status is OrderStatus.NEW
    cancelled = parse.cancelled("BTCUSDT", "c1", "x", Side.SELL, D(2), D(99), D(1), 9)
    assert (cancelled.status, cancelled.side, cancelled.cum_filled) == (OrderStatus.CANCELLED, Side.SELL, D(1))


def test_execution_list_rows_become_fills_oldest_first_without_funding() -> None:
    """``/v5/execution/list`` answers newest first; a Funding row is not a fill."""

    def row(exec_id: str, t: int, qty: str, leaves: str, kind: str = "Trade") -> ExecutionRow:
        return cast(ExecutionRow, {
            "symbol": "BTCUSDT", "orderId": "o1", "orderLinkId": "c1", "side": "Buy", "orderPrice": "100",
            "orderQty": "3", "leavesQty": leaves, "execId": exec_id, "execPrice": "100", "execQty": qty,
            "execFee": "0.01", "feeCurrency": "USDT", "execTime": str(t), "isMaker": True, "execType": kind,
        })  # fmt: skip

    rows = [row("e3", 3, "2", "0"), row("f", 2, "0", "1", "Funding"), row("e1", 1, "1", "2")]
    fills = parse.parse_fills(rows)
    assert [(f.trade_id, f.cum_filled, f.status) for f in fills] == [
        ("e1", D(1), OrderStatus.PARTIALLYFILLED),
        ("e3", D(3), OrderStatus.FILLED),
    ]
    assert [r["execId"] for r in parse.in_time_order(rows)] == ["e1", "f", "e3"]


def test_query_and_listing_requests() -> None:
    """``/v5/order/realtime``, ``/history``, ``/v5/execution/list``, ``/v5/position/list``, ``/v5/order/cancel-all``
    (``venues/bybit.md``): ``category`` always; linear lists need ``symbol``, ``baseCoin`` or ``settleCoin``, so
    a whole-category listing asks once per settle coin."""
    assert parse.order_query("linear", "BTCUSDT", "c1") == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "orderLinkId": "c1",
    }
    assert parse.order_query("linear", "BTCUSDT", "c1", stop=True) == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "orderLinkId": "c1",
        "orderFilter": "StopOrder",
    }
    assert parse.executions_since("spot", "BTCUSDT", 1_700_000_000_000) == {
        "category": "spot",
        "symbol": "BTCUSDT",
        "startTime": 1_700_000_000_000,
    }
    assert parse.executions_since("spot", "BTCUSDT", -1)["startTime"] == 0
    assert parse.listing_queries("linear", ["USDC", "USDT"]) == [
        {"category": "linear", "settleCoin": "USDC"},
        {"category": "linear", "settleCoin": "USDT"},
    ]
    assert parse.listing_queries("linear", ["USDT"], "ETHUSDT") == [{"category": "linear", "symbol": "ETHUSDT"}]
    assert parse.listing_queries("inverse", ["BTC"]) == [{"category": "inverse"}]
    assert parse.listing_queries("spot", [], "BTCUSDT") == [{"category": "spot", "symbol": "BTCUSDT"}]
    assert parse.cancel_all_params("option", "BTC-30DEC26-90000-C") == {
        "category": "option",
        "symbol": "BTC-30DEC26-90000-C",
    }
