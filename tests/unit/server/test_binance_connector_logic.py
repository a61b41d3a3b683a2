"""Binance connector decisions that the simulator cannot provoke, against a scripted REST double:
older GTX behaviour, entry fills that cannot be fetched, duplicate fills from answer and stream,
cancel-replace outcomes, and the replaced order's cancel event."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from execx_server.connectors.base import ConnectorConfig, Secret
from execx_server.connectors.binance.connector import BinanceConnector
from execx_server.connectors.binance.rest import CancelReplaceFailed
from execx_server.connectors.tracking import Known
from execx_server.domain.enums import Exchange, Liquidity, OrderStatus, OrderType, Side, TimeInForce
from execx_server.domain.venue import ExecutionReport, OrderRequest, OutcomeUnknown, Rejected, Retryable

D = Decimal


class FakeRest:
    """Answers scripted per method; records calls."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[tuple[str, Any]] = []

    def _answer(self, name: str, arg: Any) -> Any:
        self.calls.append((name, arg))
        answer = self.answers[name]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def new_order(self, params: Any) -> Any:
        return self._answer("new_order", params)

    async def trades(self, symbol: str, **kw: Any) -> Any:
        return self._answer("trades", kw)

    async def cancel_replace(self, params: Any) -> Any:
        return self._answer("cancel_replace", params)

    async def amend_keep_priority(self, symbol: str, cl: str, qty: Decimal) -> Any:
        return self._answer("amend_keep_priority", qty)

    async def query_order(self, symbol: str, **kw: Any) -> Any:
        return self._answer("query_order", kw)


def connector(exchange: Exchange, rest: FakeRest) -> tuple[BinanceConnector, list[ExecutionReport]]:
    c = BinanceConnector(ConnectorConfig(exchange, "k", Secret("s")))
    c._rest = rest  # type: ignore[assignment]
    reports: list[ExecutionReport] = []
    c._on_report = reports.append
    return c, reports


def futures_answer(status: str, executed: str = "0") -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "orderId": 7, "clientOrderId": "c1", "price": "97000", "origQty": "0.01",
            "executedQty": executed, "status": status, "timeInForce": "GTX", "type": "LIMIT", "side": "BUY",
            "updateTime": 1}  # fmt: skip


async def test_futures_gtx_expired_at_entry_is_a_post_only_reject() -> None:
    c, _ = connector(Exchange.BINANCE_USDM_FUTURE, FakeRest(new_order=futures_answer("EXPIRED")))
    order = OrderRequest("c1", "BTCUSDT", Side.BUY, OrderType.POSTONLY, TimeInForce.GTC, D("0.01"), D(97000))
    with pytest.raises(Rejected) as info:
        await c.submit_order(order)
    assert "Post Only" in info.value.message


async def test_futures_entry_fills_unavailable_never_fail_an_accepted_order() -> None:
    rest = FakeRest(new_order=futures_answer("FILLED", "0.01"), trades=Retryable("busy"))
    c, reports = connector(Exchange.BINANCE_USDM_FUTURE, rest)
    order = OrderRequest("c1", "BTCUSDT", Side.BUY, OrderType.MARKET, TimeInForce.IOC, D("0.01"), None)
    ack = await c.submit_order(order)
    assert ack.status is OrderStatus.FILLED and reports == []  # fills will come on the stream


async def test_futures_entry_fills_reported_before_the_ack_and_not_twice() -> None:
    row = {"symbol": "BTCUSDT", "id": 55, "orderId": 7, "side": "BUY", "price": "97000", "qty": "0.01",
           "commission": "0.38", "commissionAsset": "USDT", "time": 2, "maker": False}  # fmt: skip
    c, reports = connector(
        Exchange.BINANCE_USDM_FUTURE, FakeRest(new_order=futures_answer("FILLED", "0.01"), trades=[row])
    )
    order = OrderRequest("c1", "BTCUSDT", Side.BUY, OrderType.MARKET, TimeInForce.IOC, D("0.01"), None)
    await c.submit_order(order)
    assert [(r.trade_id, r.status, r.liquidity) for r in reports] == [("55", OrderStatus.FILLED, Liquidity.REMOVE)]
    stream_fill = {"e": "ORDER_TRADE_UPDATE", "E": 3, "T": 3, "o": {
        "s": "BTCUSDT", "c": "c1", "S": "BUY", "o": "MARKET", "f": "IOC", "q": "0.01", "p": "0", "ap": "97000",
        "x": "TRADE", "X": "FILLED", "i": 7, "l": "0.01", "z": "0.01", "L": "97000", "T": 2, "t": 55, "m": False,
        "n": "0.38", "N": "USDT"}}  # fmt: skip
    c._on_user_event(stream_fill)
    assert len(reports) == 1  # the same trade from the stream is not reported again


def spot_order(order_id: int, status: str = "NEW", **extra: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "orderId": order_id, "clientOrderId": "c1", "transactTime": 5, "price": "96000",
            "origQty": "0.02", "executedQty": "0", "status": status, "timeInForce": "GTC", "type": "LIMIT",
            "side": "BUY", **extra}  # fmt: skip


def spot_connector_with_order(rest: FakeRest) -> tuple[BinanceConnector, list[ExecutionReport]]:
    c, reports = connector(Exchange.BINANCE_SPOT, rest)
    c.tracker.track("c1", Known("BTCUSDT", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, D("0.02"), D(96000), "10"))
    return c, reports


async def test_spot_price_amend_is_cancel_replace_and_the_old_cancel_is_not_reported() -> None:
    answer = {"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
              "cancelResponse": spot_order(10, "CANCELED", origClientOrderId="c1", clientOrderId="x"),
              "newOrderResponse": spot_order(11, fills=[])}  # fmt: skip
    rest = FakeRest(cancel_replace=answer)
    c, reports = spot_connector_with_order(rest)
    report = await c.amend_order("BTCUSDT", "c1", Side.BUY, D("0.02"), D(95000))
    assert report.exch_order_id == "11" and "cancel-replace" in report.message and report.qty == D("0.02")
    params = dict(rest.calls[0][1])
    assert params["cancelOrigClientOrderId"] == "c1" and params["newClientOrderId"] == "c1"
    assert params["price"] == "95000" and params["cancelReplaceMode"] == "STOP_ON_FAILURE"
    old_cancel = {"e": "executionReport", "E": 6, "s": "BTCUSDT", "c": "x", "C": "c1", "S": "BUY", "o": "LIMIT",
                  "f": "GTC", "q": "0.02", "p": "96000", "x": "CANCELED", "X": "CANCELED", "r": "NONE", "i": 10,
                  "l": "0", "z": "0", "L": "0", "n": "0", "N": None, "T": 6, "t": -1, "m": False}  # fmt: skip
    c._on_user_event(old_cancel)
    assert reports == []  # the client order lives on as order 11


async def test_spot_qty_decrease_keeps_priority() -> None:
    amended = {"symbol": "BTCUSDT", "orderId": 10, "origClientOrderId": "c1", "clientOrderId": "c1",
               "price": "96000", "qty": "0.01", "executedQty": "0", "status": "NEW", "timeInForce": "GTC",
               "type": "LIMIT", "side": "BUY"}  # fmt: skip
    answer = {"transactTime": 7, "executionId": 1, "amendedOrder": amended}
    rest = FakeRest(amend_keep_priority=answer)
    c, _ = spot_connector_with_order(rest)
    report = await c.amend_order("BTCUSDT", "c1", Side.BUY, D("0.01"), D(96000))
    assert rest.calls == [("amend_keep_priority", D("0.01"))] and "keepPriority" in report.message


async def test_spot_cancel_replace_cancel_failed_is_rejected_and_order_unchanged() -> None:
    data = {"cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
            "cancelResponse": {"code": -2011, "msg": "Unknown order sent."}, "newOrderResponse": None}  # fmt: skip
    rest = FakeRest(cancel_replace=CancelReplaceFailed(Rejected("Order cancel-replace failed.", "-2022"), data))  # type: ignore[arg-type]
    c, _ = spot_connector_with_order(rest)
    with pytest.raises(Rejected) as info:
        await c.amend_order("BTCUSDT", "c1", Side.BUY, D("0.02"), D(95000))
    assert info.value.code == "-2011" and "Unknown order sent." in info.value.message
    assert "10" not in c.tracker.superseded


async def test_spot_cancel_replace_new_order_refused_reports_cancelled() -> None:
    data = {"cancelResult": "SUCCESS", "newOrderResult": "FAILURE",
            "cancelResponse": spot_order(10, "CANCELED", origClientOrderId="c1", clientOrderId="x"),
            "newOrderResponse": {"code": -2010, "msg": "Order would immediately match and take."}}  # fmt: skip
    rest = FakeRest(cancel_replace=CancelReplaceFailed(Rejected("partially failed", "-2021"), data))  # type: ignore[arg-type]
    c, _ = spot_connector_with_order(rest)
    report = await c.amend_order("BTCUSDT", "c1", Side.BUY, D("0.02"), D(99000))
    assert report.status is OrderStatus.CANCELLED and report.cl_order_id == "c1"
    assert "immediately match" in report.message


async def test_spot_full_answer_fills_reported_once() -> None:
    fills = [{"price": "97000", "qty": "0.01", "commission": "0.00001", "commissionAsset": "BTC", "tradeId": 900}]
    rest = FakeRest(new_order=spot_order(12, "FILLED", executedQty="0.01", origQty="0.01", fills=fills))
    c, reports = connector(Exchange.BINANCE_SPOT, rest)
    order = OrderRequest("c1", "BTCUSDT", Side.BUY, OrderType.MARKET, TimeInForce.IOC, D("0.01"), None)
    ack = await c.submit_order(order)
    assert ack.status is OrderStatus.FILLED and [r.trade_id for r in reports] == ["900"]
    params = dict(rest.calls[0][1])
    assert params["type"] == "MARKET" and "price" not in params and params["newOrderRespType"] == "FULL"


async def test_duplicate_client_order_id_not_found_by_the_venue_is_outcome_unknown_never_rejected() -> None:
    rest = FakeRest(
        new_order=Rejected("Duplicate order sent.", "-2010"), query_order=Rejected("Order does not exist.", "-2013")
    )
    c, _ = connector(Exchange.BINANCE_SPOT, rest)
    order = OrderRequest("c1", "BTCUSDT", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, D("0.01"), D(96000))
    with pytest.raises(OutcomeUnknown):
        await c.submit_order(order)
    assert [name for name, _ in rest.calls] == ["new_order", "query_order"]


async def test_other_minus_2010_refusals_stay_rejected() -> None:
    rest = FakeRest(new_order=Rejected("Account has insufficient balance for requested action.", "-2010"))
    c, _ = connector(Exchange.BINANCE_SPOT, rest)
    order = OrderRequest("c1", "BTCUSDT", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, D("0.01"), D(96000))
    with pytest.raises(Rejected):
        await c.submit_order(order)
    assert [name for name, _ in rest.calls] == ["new_order"]
