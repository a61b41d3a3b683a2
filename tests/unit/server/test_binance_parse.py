"""Binance connector, pure parts: recorded venue messages (written from the official docs' examples)
into domain reports, the error -> outcome table, host overrides, signing vectors, rate limiter,
interface address selection and reconnect backoff."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, cast

import pytest
from execx_server.connectors.base import Secret
from execx_server.connectors.binance import parse
from execx_server.connectors.binance.errors import classify, parse_retry_after
from execx_server.connectors.binance.schemas import (
    BookTickerMsg,
    ExchangeInfo,
    FuturesOrder,
    FuturesTrade,
    PositionRisk,
    SpotAmendResponse,
    SpotOrder,
    SpotTrade,
    TradeMsg,
)
from execx_server.connectors.binance.signing import Signer, sign_rest_payload, sign_ws_params
from execx_server.connectors.binance.urls import Flavor, resolve_hosts
from execx_server.connectors.transport.http import pick_address
from execx_server.connectors.transport.ratelimit import WeightLimiter
from execx_server.connectors.transport.websocket import Backoff
from execx_server.domain.enums import Exchange, Liquidity, OrderStatus, Side
from execx_server.domain.venue import OutcomeUnknown, Rejected, Retryable

D = Decimal

# ---------------------------------------------------------------------------------------- private events

# user-data-stream.md "Order Update" example, as delivered on the WebSocket API.
SPOT_NEW = {
    "subscriptionId": 0,
    "event": {
        "e": "executionReport", "E": 1499405658658, "s": "ETHBTC", "c": "mUvoqJxFIILMdfAW5iGSOW", "S": "BUY",
        "o": "LIMIT", "f": "GTC", "q": "1.00000000", "p": "0.10264410", "P": "0.00000000", "F": "0.00000000",
        "g": -1, "C": "", "x": "NEW", "X": "NEW", "r": "NONE", "i": 4293153, "l": "0.00000000",
        "z": "0.00000000", "L": "0.00000000", "n": "0", "N": None, "T": 1499405658657, "t": -1, "v": 3,
        "I": 8641984, "w": True, "m": False, "M": False, "O": 1499405658657, "Z": "0.00000000",
        "Y": "0.00000000", "Q": "0.00000000", "W": 1499405658657, "V": "NONE",
    },
}  # fmt: skip


def _spot_event(**changes: Any) -> dict[str, Any]:
    return {**cast(dict[str, Any], SPOT_NEW["event"]), **changes}


def test_spot_execution_report_new() -> None:
    r = parse.parse_user_event(_spot_event())
    assert r is not None
    assert (r.cl_order_id, r.symbol, r.exch_order_id) == ("mUvoqJxFIILMdfAW5iGSOW", "ETHBTC", "4293153")
    assert r.status is OrderStatus.NEW and r.side is Side.BUY
    assert r.price == D("0.10264410") and r.qty == D("1") and r.cum_filled == 0
    assert r.exch_time_ns == 1499405658657 * 1_000_000
    assert r.trade_id == "" and r.liquidity is None and r.fill_qty == 0


def test_spot_execution_report_trade_is_one_fill() -> None:
    ev = _spot_event(
        x="TRADE", X="PARTIALLY_FILLED", l="0.40000000", z="0.40000000", L="0.10264000", n="0.00000040",
        N="ETH", t=9001, m=True, T=1499405658700,
    )  # fmt: skip
    r = parse.parse_user_event(ev)
    assert r is not None
    assert r.trade_id == "9001" and r.fill_qty == D("0.4") and r.fill_price == D("0.10264")
    assert r.liquidity is Liquidity.ADD  # m = this side was the maker
    assert r.fee == D("0.0000004") and r.fee_asset == "ETH"
    assert r.status is OrderStatus.PARTIALLYFILLED and r.cum_filled == D("0.4")
    taker = parse.parse_user_event({**ev, "m": False})
    assert taker is not None and taker.liquidity is Liquidity.REMOVE


def test_spot_execution_report_cancel_names_the_original_order() -> None:
    r = parse.parse_user_event(_spot_event(x="CANCELED", X="CANCELED", c="cancelReq1", C="mUvoqJxFIILMdfAW5iGSOW"))
    assert r is not None and r.cl_order_id == "mUvoqJxFIILMdfAW5iGSOW" and r.status is OrderStatus.CANCELLED


def test_spot_execution_report_reject_and_expiry() -> None:
    rej = parse.parse_user_event(_spot_event(x="REJECTED", X="REJECTED", r="WOULD_MATCH_IMMEDIATELY"))
    assert rej is not None and rej.status is OrderStatus.REJECTED and rej.message == "WOULD_MATCH_IMMEDIATELY"
    exp = parse.parse_user_event(_spot_event(x="TRADE_PREVENTION", X="EXPIRED_IN_MATCH"))
    assert exp is not None and exp.status is OrderStatus.EXPIRED and exp.trade_id == ""
    amended = parse.parse_user_event(_spot_event(x="REPLACED", X="NEW", q="0.50000000"))
    assert amended is not None and amended.qty == D("0.5") and "keepPriority" in amended.message


def test_non_order_events_are_ignored() -> None:
    balance = {"e": "outboundAccountPosition", "E": 1, "u": 1, "B": [{"a": "ETH", "f": "1", "l": "0"}]}
    assert parse.parse_user_event(balance) is None
    assert parse.parse_user_event({"e": "ACCOUNT_UPDATE", "E": 1, "T": 1, "a": {}}) is None


# USDⓈ-M "Event: Order Update" example (fields per the docs / official SDK model).
FUTURES_TRADE = {
    "e": "ORDER_TRADE_UPDATE", "E": 1568879465651, "T": 1568879465650,
    "o": {
        "s": "BTCUSDT", "c": "TEST", "S": "SELL", "o": "LIMIT", "f": "GTC", "q": "0.001", "p": "7103.04",
        "ap": "7103.04", "sp": "0", "x": "TRADE", "X": "FILLED", "i": 8886774, "l": "0.001", "z": "0.001",
        "L": "7103.04", "N": "USDT", "n": "0.00071030", "T": 1568879465650, "t": 77, "b": "0", "a": "9.91",
        "m": False, "R": False, "wt": "CONTRACT_PRICE", "ot": "LIMIT", "ps": "BOTH", "cp": False, "rp": "0",
        "pP": False, "si": 0, "ss": 0, "V": "EXPIRE_TAKER", "pm": "NONE", "gtd": 0,
    },
}  # fmt: skip


def test_futures_order_trade_update_fill() -> None:
    r = parse.parse_user_event(FUTURES_TRADE)
    assert r is not None
    assert (r.cl_order_id, r.exch_order_id, r.side) == ("TEST", "8886774", Side.SELL)
    assert r.trade_id == "77" and r.fill_qty == D("0.001") and r.fill_price == D("7103.04")
    assert r.liquidity is Liquidity.REMOVE and r.fee == D("0.0007103") and r.fee_asset == "USDT"
    assert r.status is OrderStatus.FILLED and r.exch_time_ns == 1568879465650 * 1_000_000


def test_futures_order_update_without_commission_and_new() -> None:
    o = {k: v for k, v in cast(dict[str, Any], FUTURES_TRADE["o"]).items() if k not in ("n", "N")}
    maker = parse.parse_user_event({**FUTURES_TRADE, "o": {**o, "m": True}})
    assert maker is not None and maker.fee == 0 and maker.fee_asset == "" and maker.liquidity is Liquidity.ADD
    new = parse.parse_user_event({**FUTURES_TRADE, "o": {**o, "x": "NEW", "X": "NEW", "l": "0", "z": "0", "t": 0}})
    assert new is not None and new.status is OrderStatus.NEW and new.trade_id == ""
    amend = parse.parse_user_event({**FUTURES_TRADE, "o": {**o, "x": "AMENDMENT", "X": "NEW", "l": "0", "t": 0}})
    assert amend is not None and "modify" in amend.message and amend.trade_id == ""


# ---------------------------------------------------------------------------------------- REST answers


def test_spot_full_response_fills_each_reported() -> None:
    # rest-api.md "Response - FULL" (fills abbreviated to two).
    resp = {
        "symbol": "BTCUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": "6gCrw2kRUAF9CvJDGP16IP",
        "transactTime": 1507725176595, "price": "0.00000000", "origQty": "6.00000000",
        "executedQty": "6.00000000", "cummulativeQuoteQty": "23995.00000000", "status": "FILLED",
        "timeInForce": "GTC", "type": "MARKET", "side": "SELL",
        "fills": [
            {"price": "4000.00000000", "qty": "1.00000000", "commission": "4.00000000",
             "commissionAsset": "USDT", "tradeId": 56},
            {"price": "3999.00000000", "qty": "5.00000000", "commission": "19.99500000",
             "commissionAsset": "USDT", "tradeId": 57},
        ],
    }  # fmt: skip
    ack = parse.parse_spot_order(cast(SpotOrder, resp))
    assert ack.status is OrderStatus.FILLED and ack.price is None and ack.cum_filled == 6
    fills = parse.parse_spot_fills(cast(SpotOrder, resp))
    assert [(f.trade_id, f.fill_qty, f.status) for f in fills] == [
        ("56", D(1), OrderStatus.PARTIALLYFILLED),
        ("57", D(5), OrderStatus.FILLED),
    ]
    assert all(f.liquidity is Liquidity.REMOVE and f.fee_asset == "USDT" for f in fills)


def test_spot_cancel_response_names_the_cancelled_order() -> None:
    resp = {
        "symbol": "LTCBTC", "origClientOrderId": "myOrder1", "orderId": 4, "orderListId": -1,
        "clientOrderId": "cancelMyOrder1", "transactTime": 1684804350068, "price": "2.00000000",
        "origQty": "1.00000000", "executedQty": "0.00000000", "cummulativeQuoteQty": "0.00000000",
        "status": "CANCELED", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY",
    }  # fmt: skip
    r = parse.parse_spot_order(cast(SpotOrder, resp))
    assert r.cl_order_id == "myOrder1" and r.status is OrderStatus.CANCELLED and r.price == D(2)


def test_spot_amend_keep_priority_response() -> None:
    resp = {
        "transactTime": 1741926410255, "executionId": 75,
        "amendedOrder": {
            "symbol": "BTCUSDT", "orderId": 33, "orderListId": -1, "origClientOrderId": "5xrgbMyg6z36NzBn2pbT8H",
            "clientOrderId": "5xrgbMyg6z36NzBn2pbT8H", "price": "6.00000000", "qty": "5.00000000",
            "executedQty": "0.00000000", "preventedQty": "0.00000000", "quoteOrderQty": "0.00000000",
            "cumulativeQuoteQty": "0.00000000", "status": "NEW", "timeInForce": "GTC", "type": "LIMIT",
            "side": "SELL", "workingTime": 1741926410242, "selfTradePreventionMode": "NONE",
        },
    }  # fmt: skip
    r = parse.parse_spot_amend(cast(SpotAmendResponse, resp))
    assert r.qty == D(5) and r.status is OrderStatus.NEW and r.orig_cl_order_id == ""
    assert "keepPriority" in r.message


def test_futures_order_response() -> None:
    resp = {
        "clientOrderId": "testOrder", "cumQty": "0", "cumQuote": "0", "executedQty": "0", "orderId": 22542179,
        "avgPrice": "0.00000", "origQty": "10", "price": "0", "reduceOnly": False, "side": "BUY",
        "positionSide": "SHORT", "status": "NEW", "stopPrice": "9300", "closePosition": False,
        "symbol": "BTCUSDT", "timeInForce": "GTD", "type": "TRAILING_STOP_MARKET", "origType": "TRAILING_STOP_MARKET",
        "updateTime": 1566818724722, "workingType": "CONTRACT_PRICE", "priceProtect": False,
    }  # fmt: skip
    r = parse.parse_futures_order(cast(FuturesOrder, resp))
    assert (r.cl_order_id, r.exch_order_id, r.status, r.qty, r.price) == (
        "testOrder", "22542179", OrderStatus.NEW, D(10), None,
    )  # fmt: skip


def test_trade_rows_as_fills() -> None:
    order = parse.parse_spot_order(
        cast(SpotOrder, {"symbol": "BNBBTC", "orderId": 100234, "clientOrderId": "c1", "price": "4.00000100",
                         "origQty": "20", "executedQty": "12", "status": "PARTIALLY_FILLED", "side": "BUY"})
    )  # fmt: skip
    spot = {"symbol": "BNBBTC", "id": 28457, "orderId": 100234, "orderListId": -1, "price": "4.00000100",
            "qty": "12.00000000", "quoteQty": "48.000012", "commission": "10.10000000", "commissionAsset": "BNB",
            "time": 1499865549590, "isBuyer": True, "isMaker": False, "isBestMatch": True}  # fmt: skip
    f = parse.parse_trade_row(cast(SpotTrade, spot), order, OrderStatus.PARTIALLYFILLED, D(12))
    assert (f.cl_order_id, f.trade_id, f.side, f.liquidity, f.fill_qty, f.fee, f.qty) == (
        "c1", "28457", Side.BUY, Liquidity.REMOVE, D(12), D("10.1"), D(20),
    )  # fmt: skip
    fut = {"buyer": False, "commission": "-0.07819010", "commissionAsset": "USDT", "id": 698759, "maker": True,
           "orderId": 100234, "price": "7819.01", "qty": "0.002", "quoteQty": "15.63802", "realizedPnl": "-0.91539999",
           "side": "SELL", "positionSide": "SHORT", "symbol": "BNBBTC", "time": 1569514978020}  # fmt: skip
    f = parse.parse_trade_row(cast(FuturesTrade, fut), order, OrderStatus.PARTIALLYFILLED, D("12.002"))
    assert (f.side, f.liquidity, f.fee, f.exch_time_ns) == (Side.SELL, Liquidity.ADD, D("-0.0781901"),
                                                             1569514978020 * 1_000_000)  # fmt: skip


# ---------------------------------------------------------------------------------------- market data


def test_book_ticker_spot_has_no_time_futures_has() -> None:
    spot = {"u": 400900217, "s": "BNBUSDT", "b": "25.35190000", "B": "31.21000000", "a": "25.36520000",
            "A": "40.66000000"}  # fmt: skip
    t = parse.parse_book_ticker(cast(BookTickerMsg, spot), now_ns=123)
    assert (t.bid, t.bid_qty, t.ask, t.ask_qty, t.exch_time_ns) == (
        D("25.3519"), D("31.21"), D("25.3652"), D("40.66"), 123,
    )  # fmt: skip
    fut = {"e": "bookTicker", "u": 400900217, "E": 1568014460893, "T": 1568014460891, "s": "BNBUSDT",
           "b": "25.35190000", "B": "31.21000000", "a": "25.36520000", "A": "40.66000000"}  # fmt: skip
    assert parse.parse_book_ticker(cast(BookTickerMsg, fut), now_ns=0).exch_time_ns == 1568014460891 * 1_000_000


@pytest.mark.parametrize(("m", "aggressor"), [(True, Side.SELL), (False, Side.BUY)])
def test_trade_aggressor_from_buyer_is_maker(m: bool, aggressor: Side) -> None:
    spot = {"e": "trade", "E": 1672515782136, "s": "BNBBTC", "t": 12345, "p": "0.001", "q": "100",
            "T": 1672515782136, "m": m, "M": True}  # fmt: skip
    t = parse.parse_trade(cast(TradeMsg, spot))
    assert (t.trade_id, t.price, t.qty, t.aggressor) == ("12345", D("0.001"), D(100), aggressor)
    agg = {"e": "aggTrade", "E": 123456789, "s": "BTCUSDT", "a": 5933014, "p": "0.001", "q": "100",
           "f": 100, "l": 105, "T": 123456785, "m": m}  # fmt: skip
    t = parse.parse_trade(cast(TradeMsg, agg))
    assert t.trade_id == "5933014" and t.aggressor is aggressor


# ---------------------------------------------------------------------------------------- reference data


def test_exchange_info_rules_per_market() -> None:
    spot = {
        "symbols": [
            {"symbol": "ETHBTC", "status": "TRADING", "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.00000100", "maxPrice": "100000.00000000",
                 "tickSize": "0.00000100"},
                {"filterType": "LOT_SIZE", "minQty": "0.00100000", "maxQty": "100000.00000000",
                 "stepSize": "0.00100000"},
                {"filterType": "NOTIONAL", "minNotional": "0.00010000", "applyMinToMarket": False}]},
            {"symbol": "OLDOLD", "status": "BREAK", "filters": []},
        ]
    }  # fmt: skip
    rules = parse.parse_exchange_info(cast(ExchangeInfo, spot), Exchange.BINANCE_SPOT)
    assert list(rules) == ["ETHBTC"]
    r = rules["ETHBTC"]
    assert (r.tick, r.lot, r.min_qty, r.max_qty, r.min_notional) == (
        D("0.000001"), D("0.001"), D("0.001"), D(100000), D("0.0001"),
    )  # fmt: skip
    assert not r.inverse
    usdm = {"symbols": [{"symbol": "BTCUSDT", "status": "TRADING", "filters": [
        {"filterType": "PRICE_FILTER", "tickSize": "0.10"}, {"filterType": "LOT_SIZE", "stepSize": "0.001",
         "minQty": "0.001", "maxQty": "1000"}, {"filterType": "MIN_NOTIONAL", "notional": "100"}]}]}  # fmt: skip
    assert (
        parse.parse_exchange_info(cast(ExchangeInfo, usdm), Exchange.BINANCE_USDM_FUTURE)["BTCUSDT"].min_notional == 100
    )
    coinm = {"symbols": [{"symbol": "BTCUSD_PERP", "contractStatus": "TRADING", "contractSize": 100, "filters": [
        {"filterType": "PRICE_FILTER", "tickSize": "0.1"}, {"filterType": "LOT_SIZE", "stepSize": "1",
         "minQty": "1", "maxQty": "1000000"}]}]}  # fmt: skip
    c = parse.parse_exchange_info(cast(ExchangeInfo, coinm), Exchange.BINANCE_COINM_FUTURE)["BTCUSD_PERP"]
    assert c.inverse and c.contract_size == 100 and c.lot == 1 and c.min_notional == 0


def test_positions_non_zero_and_hedge_mode_summed() -> None:
    rows = [
        {"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.010", "entryPrice": "97000.0"},
        {"symbol": "ETHUSDT", "positionSide": "BOTH", "positionAmt": "0.000", "entryPrice": "0.0"},
        {"symbol": "BNBUSDT", "positionSide": "LONG", "positionAmt": "3", "entryPrice": "600"},
        {"symbol": "BNBUSDT", "positionSide": "SHORT", "positionAmt": "-1", "entryPrice": "620"},
    ]
    positions = {p.symbol: p for p in parse.parse_positions(cast(list[PositionRisk], rows))}
    assert set(positions) == {"BTCUSDT", "BNBUSDT"}
    assert positions["BTCUSDT"].qty == D("0.01") and positions["BTCUSDT"].entry_price == D(97000)
    assert positions["BNBUSDT"].qty == D(2)


# ---------------------------------------------------------------------------------------- outcome table


@pytest.mark.parametrize(
    ("status", "code", "msg", "outcome"),
    [
        (400, -2010, "Order would immediately match and take.", Rejected),  # spot post-only cross
        (400, -5022, "Due to the order could not be executed as maker, the Post Only order will be rejected.",
         Rejected),
        (400, -2010, "Account has insufficient balance for requested action.", Rejected),
        (400, -2011, "Unknown order sent.", Rejected),
        (400, -2013, "Order does not exist.", Rejected),
        (400, -1013, "Filter failure: PRICE_FILTER", Rejected),
        (400, -2019, "Margin is insufficient.", Rejected),
        (401, -2015, "Invalid API-key, IP, or permissions for action.", Rejected),
        (400, -1022, "Signature for this request is not valid.", Rejected),
        (429, -1003, "Too many requests.", Retryable),
        (418, -1003, "Way too many requests; IP banned until 1659146239883.", Retryable),
        (400, -1015, "Too many new orders.", Retryable),
        (503, -1008, "Server is currently overloaded with other requests.", Retryable),
        (400, -1021, "Timestamp for this request is outside of the recvWindow.", Retryable),
        (408, -1007, "Timeout waiting for response from backend server.", OutcomeUnknown),
        (503, None, "Service Unavailable", OutcomeUnknown),
        (500, None, "", OutcomeUnknown),
        (502, None, "Bad Gateway", OutcomeUnknown),
        (400, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
         OutcomeUnknown),
    ],
)  # fmt: skip
def test_error_classification(status: int, code: int | None, msg: str, outcome: type[Exception]) -> None:
    error = classify(status, code, msg, retry_after_s=3.0)
    assert type(error) is outcome
    if msg:
        assert error.message == msg  # the venue's own words reach the client
    assert error.code == (str(code) if code is not None else f"http-{status}")
    if isinstance(error, Retryable) and status in (418, 429):
        assert error.retry_after_s == 3.0


def test_retry_after_header() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


# ---------------------------------------------------------------------------------------- hosts


def test_default_and_testnet_hosts() -> None:
    assert resolve_hosts(Flavor.SPOT, False).ws_api == "wss://ws-api.binance.com:443/ws-api/v3"
    assert resolve_hosts(Flavor.USDM, False).routed_streams
    assert resolve_hosts(Flavor.COINM, True).rest == "https://testnet.binancefuture.com"
    assert resolve_hosts(Flavor.SPOT, True).stream == "wss://stream.testnet.binance.vision"


def test_override_forms() -> None:
    ready = {"rest": "http://127.0.0.1:9001", "wsApi": "ws://127.0.0.1:9002/ws-api/v3", "stream": "ws://127.0.0.1:9003"}
    h = resolve_hosts(Flavor.SPOT, False, "", json.dumps(ready))
    assert (h.rest, h.ws_api, h.stream) == (ready["rest"], ready["wsApi"], ready["stream"])
    h = resolve_hosts(Flavor.SPOT, False, "http://r:1/", "stream=ws://s:3;wsApi=ws://a:2/ws-api/v3")
    assert (h.rest, h.ws_api, h.stream) == ("http://r:1", "ws://a:2/ws-api/v3", "ws://s:3")
    h = resolve_hosts(Flavor.USDM, False, "", "ws://proxy:7")  # one URL: the stream host; WS API derived
    assert (h.stream, h.ws_api, h.rest) == ("ws://proxy:7", "ws://proxy:7/ws-fapi/v1", "https://fapi.binance.com")
    h = resolve_hosts(Flavor.SPOT, False, "", "ws://proxy:7/ws-api/v3")  # a WS-API URL: stream derived
    assert (h.stream, h.ws_api) == ("ws://proxy:7", "ws://proxy:7/ws-api/v3")
    with pytest.raises(ValueError, match="wsUrl"):
        resolve_hosts(Flavor.SPOT, False, "", "bogus=ws://x")


# ---------------------------------------------------------------------------------------- signing


KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = Secret("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j")


def test_rest_signature_vectors() -> None:  # test-vectors.md A1, A6
    a1 = (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    )
    assert sign_rest_payload(SECRET, a1) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    a6 = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000"
        "&timestamp=1591702613943"
    )
    secret6 = Secret("2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9")
    assert sign_rest_payload(secret6, a6) == "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def test_ws_signature_vectors() -> None:  # test-vectors.md A3, A4 (raw UTF-8, sorted)
    params: dict[str, Any] = {
        "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01000000",
        "price": "52000.00", "recvWindow": 100, "timestamp": 1645423376532, "apiKey": KEY,
    }  # fmt: skip
    assert sign_ws_params(SECRET, params) == "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
    params.update(
        symbol="\uff11\uff12\uff13\uff14\uff15\uff16",
        side="BUY",
        quantity="1.00000000",
        price="0.10000000",
        recvWindow=5000,
    )
    assert sign_ws_params(SECRET, params) == "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"


def test_signer_query_and_ws_params_never_show_the_secret() -> None:
    signer = Signer(KEY, SECRET, clock_ms=lambda: 1499827319559)
    query = signer.signed_query([("symbol", "LTCBTC"), ("side", "BUY")])
    payload, _, signature = query.rpartition("&signature=")
    assert payload == "symbol=LTCBTC&side=BUY&recvWindow=5000&timestamp=1499827319559"
    assert signature == sign_rest_payload(SECRET, payload)
    ws = signer.signed_ws_params({})
    assert ws["apiKey"] == KEY and ws["timestamp"] == 1499827319559
    assert ws["signature"] == sign_ws_params(SECRET, ws)
    assert SECRET.reveal() not in repr(signer) + str(SECRET) + query + json.dumps(ws)


# ---------------------------------------------------------------------------------------- rate limiter


def test_limiter_backs_off_before_the_limit_and_blocks_after_429() -> None:
    now = [100.0]
    lim = WeightLimiter(clock=lambda: now[0], headroom=0.9)
    lim.set_limit("1M", 1000)
    lim.update({"X-MBX-USED-WEIGHT-1M": "880"})
    lim.check(10)  # 890 <= 900
    with pytest.raises(Retryable) as info:
        lim.check(30)  # 910 > 90% of 1000: refuse before the venue says 429
    assert info.value.retry_after_s is not None and 0 < info.value.retry_after_s <= 60
    now[0] += 61  # the window rolled over
    lim.check(30)
    lim.block(5.0, "Too many requests.")
    with pytest.raises(Retryable) as info:
        lim.check(1)
    assert info.value.retry_after_s == pytest.approx(5.0)
    now[0] += 5.1
    lim.check(1)
    assert 0.0 <= lim.headroom_fraction() <= 1.0


# ---------------------------------------------------------------------------------------- interface, backoff

IP_JSON = [
    {"ifindex": 2, "ifname": "eth0", "addr_info": [
        {"family": "inet", "local": "10.0.0.5", "prefixlen": 24, "label": "eth0"},
        {"family": "inet", "local": "10.0.0.6", "prefixlen": 24, "label": "eth0"},
        {"family": "inet", "local": "10.0.0.9", "prefixlen": 24, "label": "eth0:2"}]},
    {"ifindex": 3, "ifname": "eth1", "addr_info": [{"family": "inet6", "local": "fe80::1"}]},
]  # fmt: skip


def test_pick_interface_address() -> None:
    assert pick_address(IP_JSON, "eth0") == "10.0.0.5"
    assert pick_address(IP_JSON, "eth0:1") == "10.0.0.6"  # the second address
    assert pick_address(IP_JSON, "eth0:2") == "10.0.0.9"  # an alias labelled eth0:2 wins
    with pytest.raises(ValueError, match="eth1"):
        pick_address(IP_JSON, "eth1")
    with pytest.raises(ValueError, match="no network interface"):
        pick_address(IP_JSON, "wlan0")


def test_backoff_grows_caps_and_jitters() -> None:
    b = Backoff(base_s=0.5, cap_s=4.0, jitter=0.5)
    assert [b.delay(n, rnd=lambda: 0.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert b.delay(1, rnd=lambda: 1.0) == 0.5  # at most half the delay taken off


def test_spot_contingent_order_held_then_working() -> None:
    """A spot stop (STOP_LOSS_LIMIT) NEW without ``W`` is held by the venue (pendingtrigger); NEW with ``W``
    fired and works (new); an answer or query with ``workingTime`` -1 is held; a plain NEW is new."""
    held = _spot_event(o="STOP_LOSS_LIMIT", P="96000.00000000", w=False)
    del held["W"]
    r = parse.parse_user_event(held)
    assert r is not None and r.status is OrderStatus.PENDINGTRIGGER
    r = parse.parse_user_event(_spot_event(o="STOP_LOSS_LIMIT", P="96000.00000000"))
    assert r is not None and r.status is OrderStatus.NEW
    row = {"symbol": "BTCUSDT", "orderId": 1, "clientOrderId": "s1", "status": "NEW", "type": "TAKE_PROFIT"}
    assert parse.parse_spot_order(cast(Any, {**row, "workingTime": -1})).status is OrderStatus.PENDINGTRIGGER
    assert parse.parse_spot_order(cast(Any, {**row, "workingTime": 1})).status is OrderStatus.NEW
    assert parse.parse_spot_order(cast(Any, {**row, "type": "LIMIT", "workingTime": -1})).status is OrderStatus.NEW


def test_spot_trailing_stop_held_only_where_trailing_delta_is_exact() -> None:
    """A trailing stop by percent is STOP_LOSS with trailingDelta in BIPS and no stopPrice (trailing-stop-faq.md:
    tracking from placement); refused (emulated) with a triggerPrice (an activation price on spot), by amount,
    in a fraction of a BIPS, or outside the symbol's TRAILING_DELTA filter (BUY: above bounds, SELL: below)."""
    from execx_server.domain.enums import OrderType, TimeInForce
    from execx_server.domain.venue import NativeTrigger, OrderRequest

    info = cast(Any, {"symbols": [{"symbol": "BTCUSDT", "filters": [
        {"filterType": "PRICE_FILTER", "tickSize": "0.01"},
        {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
         "minTrailingBelowDelta": 20, "maxTrailingBelowDelta": 1500},
    ]}, {"symbol": "ETHUSDT", "filters": []}]})  # fmt: skip
    filters = parse.trailing_delta_filters(info)
    assert filters == {"BTCUSDT": (10, 2000, 20, 1500)}
    pct = NativeTrigger("trailingstop", "last", None, None, D("1.25"))
    assert parse.spot_trailing_refusal(Side.SELL, pct, filters["BTCUSDT"]) == ""
    order = OrderRequest("t1", "BTCUSDT", Side.SELL, OrderType.MARKET, TimeInForce.IOC, D("0.01"), None, trigger=pct)
    assert parse.spot_contingent_params(order) == [
        ("symbol", "BTCUSDT"), ("side", "SELL"), ("type", "STOP_LOSS"), ("quantity", "0.01"),
        ("trailingDelta", "125"), ("newClientOrderId", "t1"), ("newOrderRespType", "RESULT"),
    ]  # fmt: skip
    refused = {
        "activation": (Side.SELL, NativeTrigger("trailingstop", "last", D("96000"), None, D("1"))),
        "amount": (Side.SELL, NativeTrigger("trailingstop", "last", None, D("100"), None)),
        "fraction": (Side.SELL, NativeTrigger("trailingstop", "last", None, None, D("1.005"))),
        "below max": (Side.SELL, NativeTrigger("trailingstop", "last", None, None, D("16"))),
        "below min": (Side.SELL, NativeTrigger("trailingstop", "last", None, None, D("0.15"))),
        "above min": (Side.BUY, NativeTrigger("trailingstop", "last", None, None, D("0.05"))),
    }
    for what, (side, trigger) in refused.items():
        assert parse.spot_trailing_refusal(side, trigger, filters["BTCUSDT"]), what
    assert (
        parse.spot_trailing_refusal(
            Side.BUY, NativeTrigger("trailingstop", "last", None, None, D("16")), filters["BTCUSDT"]
        )
        == ""
    )
    assert parse.spot_trailing_refusal(Side.SELL, pct, None)  # no filter known: emulated
    assert parse.spot_trailing_refusal(Side.SELL, NativeTrigger("stop", "last", D("96000")), None) == ""


def test_spot_contingent_params() -> None:
    """stop / takeprofit on last: STOP_LOSS(_LIMIT) / TAKE_PROFIT(_LIMIT) with stopPrice; no post-only stop."""
    from execx_server.domain.enums import OrderType, TimeInForce
    from execx_server.domain.errors import ValidationError
    from execx_server.domain.venue import NativeTrigger, OrderRequest

    def req(kind: str, type_: OrderType, price: Decimal | None, ref: str = "last") -> OrderRequest:
        trigger = NativeTrigger(kind, ref, D("96000"))
        return OrderRequest("c1", "BTCUSDT", Side.SELL, type_, TimeInForce.GTC, D("0.01"), price, trigger=trigger)

    params = dict(parse.spot_contingent_params(req("stop", OrderType.LIMIT, D("95900"))))
    assert params == {
        "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.01", "timeInForce": "GTC",
        "price": "95900", "stopPrice": "96000", "newClientOrderId": "c1", "newOrderRespType": "RESULT",
    }  # fmt: skip
    params = dict(parse.spot_contingent_params(req("takeprofit", OrderType.MARKET, None)))
    assert (params["type"], params["stopPrice"], "price" in params) == ("TAKE_PROFIT", "96000", False)
    with pytest.raises(ValidationError):
        parse.spot_contingent_params(req("stop", OrderType.POSTONLY, D("95900")))
    with pytest.raises(ValidationError):
        parse.spot_contingent_params(req("stop", OrderType.MARKET, None, ref="mark"))
