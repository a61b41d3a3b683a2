"""OKX request building and answers (``connectors/okx/parse.py``): domain orders into ``place-order`` /
``amend-order`` / ``cancel-order`` items, pinned to ``../shared/venues/okx.md`` (post-only is an order
type, spot market orders sized with ``tgtCcy``) and to the signed body of ``test-vectors.md`` C3."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import cast

import pytest
from execx_server.connectors.base import Secret
from execx_server.connectors.okx import parse
from execx_server.connectors.okx.schemas import FillRow
from execx_server.connectors.okx.signing import okx_sign
from execx_server.domain.enums import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from execx_server.domain.errors import ValidationError
from execx_server.domain.venue import ExecutionReport, OrderRequest

D = Decimal


def test_spot_limit_order_is_the_signed_body_of_vector_c3() -> None:
    order = OrderRequest("b15", "BTC-USDT", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, D("2"), D("2.15"))
    body = json.dumps(parse.order_item(order, swap=False), separators=(",", ":"))
    assert (
        body
        == '{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"b15","side":"buy","ordType":"limit","px":"2.15","sz":"2"}'
    )
    payload = "2020-12-08T09:08:57.715ZPOST/api/v5/trade/order" + body
    assert (
        okx_sign(Secret("22582BD0CFF14C41EDBF1AB98506286D"), payload) == "dI6rrL9rXW/HdaPKJ/6LC1OgvH4/PYju6R3CqixMTNQ="
    )


@pytest.mark.parametrize(
    ("order_type", "tif", "ord_type"),
    [
        (OrderType.POSTONLY, TimeInForce.GTC, "post_only"),
        (OrderType.LIMIT, TimeInForce.IOC, "ioc"),
        (OrderType.LIMIT, TimeInForce.FOK, "fok"),
    ],
)
def test_post_only_ioc_and_fok_are_order_types(order_type: OrderType, tif: TimeInForce, ord_type: str) -> None:
    order = OrderRequest("c1", "BTC-USDT-SWAP", Side.SELL, order_type, tif, D("3"), D("60000.10"), True)
    item = parse.order_item(order, swap=True)
    assert item["ordType"] == ord_type and item["tdMode"] == "cross" and item["reduceOnly"] == "true"
    assert (item["px"], item["sz"]) == ("60000.1", "3")


def test_spot_market_order_is_sized_in_base_and_refusals_name_the_field() -> None:
    market = OrderRequest("m1", "BTC-USDT", Side.BUY, OrderType.MARKET, TimeInForce.IOC, D("0.5"), None)
    item = parse.order_item(market, swap=False)
    assert (item["ordType"], item["tgtCcy"]) == ("market", "base_ccy") and "px" not in item
    assert "tgtCcy" not in parse.order_item(market, swap=True)
    reduce_spot = OrderRequest("m1", "BTC-USDT", Side.BUY, OrderType.MARKET, TimeInForce.IOC, D(1), None, True)
    day = OrderRequest("d1", "BTC-USDT", Side.BUY, OrderType.LIMIT, TimeInForce.DAY, D(1), D(1))
    priceless = OrderRequest("p1", "BTC-USDT", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, D(1), None)
    for order, field in ((reduce_spot, "reduceOnly"), (day, "tif"), (priceless, "price")):
        with pytest.raises(ValidationError) as info:
            parse.order_item(order, swap=False)
        assert info.value.field == field


def test_amend_and_cancel_items() -> None:
    assert parse.amend_item("BTC-USDT", "c1", D("2.50"), None) == {
        "instId": "BTC-USDT",
        "clOrdId": "c1",
        "newSz": "2.5",
    }
    assert parse.amend_item("BTC-USDT", "c1", D(2), D("9.0"))["newPx"] == "9"
    assert parse.cancel_item("BTC-USDT", "c1") == {"instId": "BTC-USDT", "clOrdId": "c1"}


def test_answers_as_reports() -> None:
    order = OrderRequest("c1", "BTC-USDT", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, D(2), D(100))
    ack = parse.acknowledged(order, "312269865356374016", OrderStatus.NEW, D(0), 5)
    assert (ack.exch_order_id, ack.status, ack.qty, ack.price) == ("312269865356374016", OrderStatus.NEW, D(2), D(100))
    amended = parse.amended("BTC-USDT", "c1", "o", OrderStatus.PARTIALLYFILLED, Side.BUY, D(3), D(99), D(1), 6)
    assert (amended.symbol, amended.cl_order_id, amended.qty, amended.cum_filled) == ("BTC-USDT", "c1", D(3), D(1))
    assert amended.message == "amended (OKX amend-order)"


def test_fill_rows_become_fills_oldest_first() -> None:
    """``GET /api/v5/trade/fills`` rows (newest first, fees negative = paid) of an order filled 3 of 3."""
    order = ExecutionReport("c1", "BTC-USDT", "o1", OrderStatus.FILLED, Side.BUY, D(100), D(3), D(3), 0)

    def row(trade_id: str, size: str, maker: bool) -> FillRow:
        return cast(FillRow, {
            "instId": "BTC-USDT", "tradeId": trade_id, "ordId": "o1", "clOrdId": "c1", "fillPx": "100",
            "fillSz": size, "side": "buy", "execType": "M" if maker else "T", "fee": "-0.001", "feeCcy": "BTC",
            "ts": "1597026383085",
        })  # fmt: skip

    fills = parse.fills_of([row("12", "2", False), row("11", "1", True)], order)
    assert [(f.trade_id, f.cum_filled, f.status, f.liquidity) for f in fills] == [
        ("11", D(1), OrderStatus.PARTIALLYFILLED, Liquidity.ADD),
        ("12", D(3), OrderStatus.FILLED, Liquidity.REMOVE),
    ]
    assert fills[0].fee == D("0.001")


def test_query_and_listing_requests() -> None:
    """``GET /api/v5/trade/order`` (``instId`` + ``ordId``/``clOrdId``), ``orders-pending`` and ``fills`` with
    ``after`` paging (``fills`` from ``begin``), ``account/positions`` by ``instType`` (``venues/okx.md``)."""
    assert parse.order_query("BTC-USDT", cl_ord_id="c1") == {"instId": "BTC-USDT", "clOrdId": "c1"}
    assert parse.order_query("BTC-USDT", cl_ord_id="c1", ord_id="312") == {"instId": "BTC-USDT", "ordId": "312"}
    assert parse.pending_query() == {"instId": "", "after": ""}
    assert parse.pending_query("BTC-USDT-SWAP", "312") == {"instId": "BTC-USDT-SWAP", "after": "312"}
    assert parse.fills_query(begin_ms=1_700_000_000_000) == {
        "instId": "",
        "ordId": "",
        "after": "",
        "begin": "1700000000000",
    }
    assert parse.fills_query("BTC-USDT", "312", after="99") == {"instId": "BTC-USDT", "ordId": "312", "after": "99"}
    assert parse.positions_query("SWAP") == {"instType": "SWAP"}


def test_orders_algo_rows_as_reports() -> None:
    """``orders-algo``: a held algo order's end before it fired (``canceled``, ``order_failed`` with OKX's
    ``failCode``) is a report of the native contingent order; ``live`` and ``effective`` are not (the ack and
    the order it places say those)."""
    row = {
        "instId": "BTC-USDT-SWAP",
        "algoId": "681",
        "algoClOrdId": "sl1",
        "side": "sell",
        "sz": "2",
        "ordType": "conditional",
        "state": "canceled",
        "failCode": "",
        "uTime": "1700000000123",
    }
    report = parse.parse_algo_push(row)
    assert report is not None
    assert (report.cl_order_id, report.symbol, report.side, report.qty) == ("sl1", "BTC-USDT-SWAP", Side.SELL, 2)
    assert report.status is OrderStatus.CANCELLED and "orders-algo canceled" in report.message
    assert report.exch_time_ns == 1700000000123 * 1_000_000
    failed = parse.parse_algo_push({**row, "state": "order_failed", "failCode": "51008"})
    assert failed is not None and failed.status is OrderStatus.REJECTED and "failCode 51008" in failed.message
    for state in ("live", "effective", "partially_effective", "pause"):
        assert parse.parse_algo_push({**row, "state": state}) is None
    assert parse.parse_algo_push({**row, "algoClOrdId": ""}) is None  # not one execx named


def test_oco_group_item_and_the_shapes_okx_holds() -> None:
    """An execx OCO of a stop and a take-profit (one symbol, side, quantity) is one ``oco`` algo item: the stop's
    ``sl*``, the take-profit's ``tp*``, one ``algoClOrdId`` derived from the group (letters and digits, 32 at
    most, the same again after a restart); other shapes are refused with the reason (emulated)."""
    from execx_server.domain.venue import GroupRequest, NativeTrigger

    def leg(cl: str, kind: str, level: str, **kw: object) -> OrderRequest:
        fields: dict[str, object] = dict(
            cl_order_id=cl,
            symbol="BTC-USDT-SWAP",
            side=Side.SELL,
            order_type=OrderType.MARKET,
            tif=TimeInForce.GTC,
            qty=D(2),
            price=None,
            trigger=NativeTrigger(kind, "last", D(level)),
        )
        fields.update(kw)
        return OrderRequest(**fields)  # type: ignore[arg-type]

    take = leg("tp1", "takeprofit", "101", order_type=OrderType.LIMIT, price=D("100.5"))
    stop = leg("sl1", "stop", "90", trigger=NativeTrigger("stop", "mark", D(90)))
    group = GroupRequest("g-1", "oco", (take, stop))
    assert parse.oco_refusal(group) == ""
    algo_cl = parse.oco_algo_cl(group)
    assert (
        algo_cl.isalnum()
        and len(algo_cl) <= 32
        and algo_cl == parse.oco_algo_cl(GroupRequest("g-1", "oco", (take, stop)))
    )
    assert algo_cl != parse.oco_algo_cl(GroupRequest("g-2", "oco", (take, stop)))
    item = parse.oco_item(group, True, algo_cl)
    assert item == {
        "instId": "BTC-USDT-SWAP",
        "tdMode": "cross",
        "side": "sell",
        "sz": "2",
        "algoClOrdId": algo_cl,
        "ordType": "oco",
        "tpTriggerPx": "101",
        "tpTriggerPxType": "last",
        "tpOrdPx": "100.5",
        "slTriggerPx": "90",
        "slTriggerPxType": "mark",
        "slOrdPx": "-1",
    }
    refused = [
        GroupRequest("g", "oto", (take, stop)),
        GroupRequest("g", "oco", (take, leg("tp2", "takeprofit", "102"))),
        GroupRequest("g", "oco", (take, leg("sl2", "stop", "90", side=Side.BUY))),
        GroupRequest("g", "oco", (take, leg("sl2", "stop", "90", qty=D(1)))),
        GroupRequest("g", "oco", (take, leg("sl2", "stop", "90", trigger=None))),
        GroupRequest("g", "oco", (take, leg("sl2", "stop", "90", order_type=OrderType.POSTONLY, price=D(89)))),
        GroupRequest(
            "g", "oco", (take, leg("sl2", "stop", "90", trigger=NativeTrigger("trailingstop", "last", None, D(5))))
        ),
    ]
    for g in refused:
        assert parse.oco_refusal(g), g
