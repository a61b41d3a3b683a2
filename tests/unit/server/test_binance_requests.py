"""Binance request building (``connectors/binance/parse.py``): domain orders into the venue's request
parameters, pinned to the official docs' examples (``../shared/venues/binance.md``,
``../shared/venues/test-vectors.md`` A1) and to the post-only / amend / cancel-replace rules there."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

import pytest
from execx_server.connectors.base import Secret
from execx_server.connectors.binance import parse
from execx_server.connectors.binance.signing import sign_rest_payload
from execx_server.connectors.binance.urls import Flavor
from execx_server.domain.enums import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from execx_server.domain.errors import ValidationError
from execx_server.domain.venue import ExecutionReport, OrderRequest, Rejected

D = Decimal
DOC_SECRET = Secret("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j")


def _order(
    order_type: OrderType = OrderType.LIMIT, tif: TimeInForce = TimeInForce.GTC, *, reduce_only: bool = False
) -> OrderRequest:
    price = None if order_type is OrderType.MARKET else D("0.1")
    return OrderRequest("cl-1", "LTCBTC", Side.BUY, order_type, tif, D("1"), price, reduce_only)


def test_spot_limit_order_is_the_docs_signed_example() -> None:
    """test-vectors A1: ``symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1`` then
    recvWindow and timestamp; our parameters start with exactly those, in that order, and sign to the
    documented signature."""
    params = parse.order_params(_order(), Flavor.SPOT)
    documented = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    assert urlencode(params[:6]) == documented
    assert params[6:] == [("newClientOrderId", "cl-1"), ("newOrderRespType", "FULL")]
    payload = urlencode([*params[:6], ("recvWindow", "5000"), ("timestamp", "1499827319559")])
    assert sign_rest_payload(DOC_SECRET, payload) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_post_only_is_limit_maker_on_spot_and_gtx_on_futures() -> None:
    spot = dict(parse.order_params(_order(OrderType.POSTONLY), Flavor.SPOT))
    assert spot["type"] == "LIMIT_MAKER" and "timeInForce" not in spot  # LIMIT_MAKER takes quantity + price only
    for flavor in (Flavor.USDM, Flavor.COINM):
        fut = dict(parse.order_params(_order(OrderType.POSTONLY), flavor))
        assert (fut["type"], fut["timeInForce"], fut["newOrderRespType"]) == ("LIMIT", "GTX", "RESULT")


def test_order_params_per_market_are_decimal_strings_on_the_wire() -> None:
    po = OrderRequest("c1", "X", Side.SELL, OrderType.POSTONLY, TimeInForce.GTC, D("1.50"), D("0.000100"))
    fut = dict(parse.order_params(po, Flavor.COINM))
    assert fut["timeInForce"] == "GTX" and fut["quantity"] == "1.5" and fut["price"] == "0.0001"


def test_market_order_has_no_price_and_no_time_in_force() -> None:
    params = dict(parse.order_params(_order(OrderType.MARKET), Flavor.SPOT))
    assert params["type"] == "MARKET" and "price" not in params and "timeInForce" not in params


def test_day_is_refused_before_sending_and_a_limit_needs_a_price() -> None:
    with pytest.raises(Rejected) as info:
        parse.order_params(_order(tif=TimeInForce.DAY), Flavor.SPOT)
    assert info.value.code == "unsupported-tif"
    priceless = OrderRequest("cl-1", "LTCBTC", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, D("1"), None)
    with pytest.raises(ValidationError) as missing:
        parse.order_params(priceless, Flavor.USDM)
    assert missing.value.field == "price"


def test_reduce_only_and_cross_margin_flags() -> None:
    fut = parse.order_params(_order(tif=TimeInForce.IOC, reduce_only=True), Flavor.USDM)
    assert ("reduceOnly", "true") in fut and ("timeInForce", "IOC") in fut
    margin = parse.order_params(_order(), Flavor.SPOT, margin=True)
    assert margin[-1] == ("sideEffectType", "MARGIN_BUY")


def test_amend_cancel_and_cancel_replace_parameters() -> None:
    # futures modify: both quantity and price, by client order id
    assert parse.modify_params("BTCUSDT", "cl-1", Side.SELL, D("0.010"), D("50000.0")) == [
        ("symbol", "BTCUSDT"),
        ("origClientOrderId", "cl-1"),
        ("side", "SELL"),
        ("quantity", "0.01"),
        ("price", "50000"),
    ]
    assert parse.cancel_params("BTCUSDT", "cl-1") == [("symbol", "BTCUSDT"), ("origClientOrderId", "cl-1")]
    keep = dict(parse.keep_priority_params("BTCUSDT", "cl-1", D("0.5")))
    assert keep == {"symbol": "BTCUSDT", "origClientOrderId": "cl-1", "newClientOrderId": "cl-1", "newQty": "0.5"}
    replace = dict(parse.cancel_replace_params("BTCUSDT", "cl-1", Side.BUY, True, TimeInForce.GTC, D("2"), D("9")))
    assert replace["type"] == "LIMIT_MAKER" and "timeInForce" not in replace
    assert (replace["cancelReplaceMode"], replace["cancelOrigClientOrderId"], replace["newClientOrderId"]) == (
        "STOP_ON_FAILURE",
        "cl-1",
        "cl-1",
    )
    limit = dict(parse.cancel_replace_params("BTCUSDT", "cl-1", Side.BUY, False, TimeInForce.IOC, D("2"), D("9")))
    assert (limit["type"], limit["timeInForce"], limit["quantity"], limit["price"]) == ("LIMIT", "IOC", "2", "9")


@pytest.mark.parametrize(
    ("row", "terms"),
    [
        ({"type": "LIMIT_MAKER"}, (OrderType.POSTONLY, TimeInForce.GTC)),
        ({"type": "LIMIT", "timeInForce": "GTX"}, (OrderType.POSTONLY, TimeInForce.GTC)),
        ({"type": "MARKET"}, (OrderType.MARKET, TimeInForce.GTC)),
        ({"type": "LIMIT", "timeInForce": "FOK"}, (OrderType.LIMIT, TimeInForce.FOK)),
        ({"type": "LIMIT", "timeInForce": "IOC"}, (OrderType.LIMIT, TimeInForce.IOC)),
    ],
)
def test_order_terms_of_a_queried_order(row: dict[str, str], terms: tuple[OrderType, TimeInForce]) -> None:
    assert parse.order_terms(row) == terms


def test_fills_from_trade_rows_count_up_to_the_order_total() -> None:
    """``myTrades`` rows (the docs' response shape) of an order filled 3 of 3 in two trades, given out of
    order: fills in trade id order, cumulative from what the order counts."""
    order = ExecutionReport("cl-1", "BNBBTC", "100234", OrderStatus.FILLED, Side.BUY, D("4.0"), D("3"), D("3"), 0)
    rows = [
        {"symbol": "BNBBTC", "id": 29, "orderId": 100234, "price": "4.00000100", "qty": "2", "commission": "0.1",
         "commissionAsset": "BNB", "time": 1499865549590, "isBuyer": True, "isMaker": False},
        {"symbol": "BNBBTC", "id": 28457, "orderId": 100234, "price": "4.00000100", "qty": "1", "commission": "0",
         "commissionAsset": "BNB", "time": 1499865549591, "isBuyer": True, "isMaker": True},
    ]  # fmt: skip
    fills = parse.fills_from_trades(list(reversed(rows)), order)
    assert [(f.trade_id, f.cum_filled, f.status) for f in fills] == [
        ("29", D("2"), OrderStatus.PARTIALLYFILLED),
        ("28457", D("3"), OrderStatus.FILLED),
    ]
    assert (fills[0].liquidity, fills[1].liquidity) == (Liquidity.REMOVE, Liquidity.ADD)
    rebased = parse.with_base(order, D("1"))
    assert (rebased.qty, rebased.cum_filled) == (D("4"), D("4"))
    assert parse.with_base(order, D("0")) is order


def test_query_open_orders_and_trades_parameters() -> None:
    """``GET .../order`` by ``orderId`` or ``origClientOrderId``; ``GET .../openOrders`` with or without
    ``symbol``; ``myTrades`` / ``userTrades`` of one order, from a trade id or from a time, ``limit`` 1000
    (``venues/binance.md``)."""
    assert parse.order_query_params("BTCUSDT", orig_client_order_id="c1") == [
        ("symbol", "BTCUSDT"),
        ("origClientOrderId", "c1"),
    ]
    assert parse.order_query_params("BTCUSDT", orig_client_order_id="c1", order_id="42") == [
        ("symbol", "BTCUSDT"),
        ("orderId", "42"),
    ]
    assert parse.open_orders_params("ETHUSDT") == [("symbol", "ETHUSDT")]
    assert parse.open_orders_params(None) == []
    assert parse.trades_params("BTCUSDT", 1_700_000_000_000) == [
        ("symbol", "BTCUSDT"),
        ("startTime", "1700000000000"),
        ("limit", "1000"),
    ]
    assert parse.trades_params("BTCUSDT", 5, order_id="42", from_id=7) == [
        ("symbol", "BTCUSDT"),
        ("orderId", "42"),
        ("limit", "1000"),
    ]
    assert parse.trades_params("BTCUSDT", 5, from_id=7) == [("symbol", "BTCUSDT"), ("fromId", "7"), ("limit", "1000")]
    assert parse.trades_params("BTCUSDT") == [("symbol", "BTCUSDT"), ("limit", "1000")]
