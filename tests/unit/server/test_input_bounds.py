"""Input bounds (issue 11): the instrument limits of ``InstrumentRules.normalise`` at their exact boundaries,
the venues' limit fields as each ``parse.py`` reads them, ``from_double``'s range, the ``restUrl`` /
``wsUrl`` forms the API accepts and refuses, and the clamp of uint64 sequence numbers."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any, cast

import pytest
from execx_server.api.convert import JOURNAL_SEQ_MAX, journal_seq
from execx_server.api.endpoints import check_endpoints
from execx_server.connectors.binance.parse import parse_exchange_info
from execx_server.connectors.bybit.parse import parse_instruments as parse_bybit
from execx_server.connectors.okx.parse import parse_instrument as parse_okx
from execx_server.domain.enums import Exchange, Side
from execx_server.domain.errors import ValidationError
from execx_server.domain.instruments import InstrumentRules, PriceBand
from execx_server.domain.numbers import from_double

RULES = InstrumentRules(
    Exchange.BINANCE_SPOT,
    "BTCUSDT",
    tick=D("0.01"),
    lot=D("0.00001"),
    min_qty=D("0.0001"),
    max_qty=D("9000"),
    min_notional=D("5"),
    market_max_qty=D("500"),
    min_price=D("0.01"),
    max_price=D("1000000"),
    max_notional=D("9000000"),
    band=PriceBand(D("5"), D("0.2"), D("4"), D("0.5")),
)


def refusal(fn: Any, *args: Any, **kwargs: Any) -> ValidationError:
    with pytest.raises(ValidationError) as e:
        fn(*args, **kwargs)
    return e.value


# ------------------------------------------------------------------------------------------------ rules


def test_every_limit_is_inclusive_at_its_boundary() -> None:
    assert RULES.normalise(Side.BUY, D("9000"), D("1000")) == (D("9000"), D("1000"))  # max qty
    assert RULES.normalise(Side.BUY, D("0.0001"), D("50000")) == (D("0.0001"), D("50000"))  # min qty, notional 5
    assert RULES.normalise(Side.BUY, D("500"), None) == (D("500"), None)  # market max
    assert RULES.normalise(Side.SELL, D("1"), D("1000000")) == (D("1"), D("1000000"))  # max price
    assert RULES.normalise(Side.BUY, D("500"), D("0.01")) == (D("500"), D("0.01"))  # min price, notional 5
    assert RULES.normalise(Side.BUY, D("9"), D("1000000")) == (D("9"), D("1000000"))  # max notional
    ref = D("100")
    assert RULES.normalise(Side.BUY, D("1"), D("500"), ref)[1] == D("500")  # buy band top: 100 * 5
    assert RULES.normalise(Side.BUY, D("1"), D("20"), ref)[1] == D("20")  # buy band bottom: 100 * 0.2
    assert RULES.normalise(Side.SELL, D("1"), D("400"), ref)[1] == D("400")
    assert RULES.normalise(Side.SELL, D("1"), D("50"), ref)[1] == D("50")


@pytest.mark.parametrize(
    ("side", "qty", "price", "reference", "field", "message"),
    [
        (Side.BUY, "9000.00001", "1000", None, "qty", "9000.00001 is above the maximum 9000 for BTCUSDT"),
        (Side.BUY, "0.00009", "100000", None, "qty", "0.00009 is below the minimum 0.0001 for BTCUSDT (lot 0.00001)"),
        (Side.BUY, "500.00001", None, None, "qty", "500.00001 is above the market order maximum 500 for BTCUSDT"),
        (Side.SELL, "1", "1000000.001", None, "price", "1000000.001 is above the maximum 1000000 for BTCUSDT"),
        (Side.BUY, "1", "1E+20", None, "price", "1E+20 is above the maximum 1000000 for BTCUSDT"),
        (Side.BUY, "0.0001", "49999.99", None, "qty", "notional 4.999999 is below the minimum 5 for BTCUSDT"),
        (Side.BUY, "9.00001", "1000000", None, "qty", "notional 9000010 is above the maximum 9000000 for BTCUSDT"),
        (Side.BUY, "1", "500.01", "100", "price", "500.01 is outside the buy band [20, 500] around the market"),
        (Side.BUY, "1", "19.99", "100", "price", "19.99 is outside the buy band [20, 500]"),
        (Side.SELL, "1", "400.01", "100", "price", "400.01 is outside the sell band [50, 400]"),
        (Side.SELL, "1", "49.99", "100", "price", "49.99 is outside the sell band [50, 400]"),
    ],
)
def test_each_limit_names_its_field_and_the_limit(
    side: Side, qty: str, price: str | None, reference: str | None, field: str, message: str
) -> None:
    e = refusal(RULES.normalise, side, D(qty), D(price) if price else None, D(reference) if reference else None)
    assert e.field == field
    assert e.reason.startswith(message), e.reason


def test_min_price_is_checked_after_rounding_towards_the_passive_side() -> None:
    rules = InstrumentRules(Exchange.OKX, "X", tick=D("0.5"), lot=D(1), min_qty=D(1), min_price=D("1"))
    assert rules.normalise(Side.SELL, D(1), D("0.9")) == (D(1), D(1))  # a sell rounds up, onto the minimum
    assert rules.normalise(Side.BUY, D(1), D("1.4")) == (D(1), D(1))  # a buy rounds down, onto it
    e = refusal(rules.normalise, Side.BUY, D(1), D("0.9"))  # a buy rounds down to 0.5, below it
    assert (e.field, e.reason) == ("price", "0.9 is below the minimum 1 for X")


def test_without_published_limits_nothing_extra_is_refused() -> None:
    bare = InstrumentRules(Exchange.DERIBIT, "BTC-PERPETUAL", tick=D("0.5"), lot=D(1), min_qty=D(1))
    assert bare.normalise(Side.BUY, D("1000000"), D("999999999")) == (D("1000000"), D("999999999"))
    assert bare.normalise(Side.BUY, D("1000000"), None) == (D("1000000"), None)
    # a band without a reference price is not checked (the engine passes none yet)
    assert RULES.normalise(Side.BUY, D(1), D("1000000")) == (D(1), D("1000000"))


def test_a_market_order_without_its_own_maximum_uses_the_limit_maximum() -> None:
    rules = InstrumentRules(
        Exchange.BYBIT_SPOT, "BTCUSDT", tick=D("0.01"), lot=D("0.001"), min_qty=D("0.001"), max_qty=D(5)
    )
    assert rules.normalise(Side.BUY, D(5), None) == (D(5), None)
    e = refusal(rules.normalise, Side.BUY, D("5.001"), None)
    assert (e.field, e.reason) == ("qty", "5.001 is above the maximum 5 for BTCUSDT")


# ------------------------------------------------------------------------------------------------ doubles


def test_from_double_refuses_non_finite_and_absurd_values_naming_the_field() -> None:
    assert from_double(1e15, "qty") == D("1E+15")
    assert from_double(-1e15, "price") == D("-1E+15")
    for value, words in [(1.0000000000000002e15, "out of range"), (1e20, "out of range"), (-1e300, "out of range")]:
        e = refusal(from_double, value, "price")
        assert e.field == "price" and words in e.reason
    for value in (float("nan"), float("inf"), float("-inf")):
        e = refusal(from_double, value, "qty")
        assert (e.field, e.reason) == ("qty", "must be a finite number")


# ------------------------------------------------------------------------------------------------ parsing


def test_binance_spot_filters_become_limits() -> None:
    info = {
        "symbols": [
            {
                "symbol": "BTCUSDT",
                "status": "TRADING",
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": "0.01000000",
                        "maxPrice": "1000000.00000000",
                        "tickSize": "0.01000000",
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": "0.00001000",
                        "maxQty": "9000.00000000",
                        "stepSize": "0.00001000",
                    },
                    {
                        "filterType": "MARKET_LOT_SIZE",
                        "minQty": "0.00000000",
                        "maxQty": "120.5",
                        "stepSize": "0.00000000",
                    },
                    {
                        "filterType": "PERCENT_PRICE_BY_SIDE",
                        "bidMultiplierUp": "5",
                        "bidMultiplierDown": "0.2",
                        "askMultiplierUp": "4",
                        "askMultiplierDown": "0.5",
                        "avgPriceMins": 5,
                    },
                    {"filterType": "NOTIONAL", "minNotional": "5.00000000", "maxNotional": "9000000.00000000"},
                ],
            }
        ]
    }
    r = parse_exchange_info(cast(Any, info), Exchange.BINANCE_SPOT)["BTCUSDT"]
    assert (r.min_price, r.max_price, r.max_qty, r.market_max_qty) == (D("0.01"), D("1000000"), D(9000), D("120.5"))
    assert (r.min_notional, r.max_notional) == (D(5), D(9000000))
    assert r.band == PriceBand(D(5), D("0.2"), D(4), D("0.5"))


def test_binance_zero_limits_are_no_limits_and_futures_percent_price_is_symmetric() -> None:
    info = {
        "symbols": [
            {
                "symbol": "BTCUSDT",
                "status": "TRADING",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0", "maxPrice": "0", "tickSize": "0.10"},
                    {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "0", "stepSize": "0.001"},
                    {"filterType": "MIN_NOTIONAL", "notional": "100"},
                    {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500"},
                ],
            }
        ]
    }
    r = parse_exchange_info(cast(Any, info), Exchange.BINANCE_USDM_FUTURE)["BTCUSDT"]
    assert (r.min_price, r.max_price, r.max_qty, r.market_max_qty, r.max_notional) == (0, None, None, None, None)
    assert r.min_notional == D(100)
    assert r.band == PriceBand.symmetric(D("1.05"), D("0.95"))


def test_bybit_limits() -> None:
    linear = {
        "symbol": "BTCUSDT",
        "status": "Trading",
        "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
        "lotSizeFilter": {
            "maxOrderQty": "1190.000",
            "minOrderQty": "0.001",
            "qtyStep": "0.001",
            "maxMktOrderQty": "119.000",
            "minNotionalValue": "5",
        },
    }
    r = parse_bybit(Exchange.BYBIT_LINEAR, "linear", [cast(Any, linear)])["BTCUSDT"]
    assert (r.min_price, r.max_price, r.max_qty, r.market_max_qty) == (D("0.1"), D("1999999.8"), D(1190), D(119))
    assert (r.min_notional, r.max_notional) == (D(5), None)
    spot = {
        "symbol": "BTCUSDT",
        "status": "Trading",
        "priceFilter": {"tickSize": "0.01"},
        "lotSizeFilter": {
            "basePrecision": "0.000001",
            "minOrderQty": "0.000048",
            "maxOrderQty": "71.73956243",
            "maxLimitOrderQty": "83",
            "maxMarketOrderQty": "41",
            "minOrderAmt": "1",
            "maxOrderAmt": "2000000",
        },
    }
    r = parse_bybit(Exchange.BYBIT_SPOT, "spot", [cast(Any, spot)])["BTCUSDT"]
    assert (r.min_price, r.max_price, r.max_qty, r.market_max_qty) == (0, None, D(83), D(41))
    assert (r.min_notional, r.max_notional) == (D(1), D(2000000))


def test_okx_limit_and_market_maximums() -> None:
    row = {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "tickSz": "0.1", "lotSz": "1", "minSz": "1", "ctVal": "0.01"}
    r = parse_okx(cast(Any, {**row, "maxLmtSz": "100000", "maxMktSz": "20000"}))
    assert (r.max_qty, r.market_max_qty) == (D(100000), D(20000))
    r = parse_okx(cast(Any, {**row, "maxLmtSz": "", "maxMktSz": "0"}))
    assert (r.max_qty, r.market_max_qty) == (None, None)


# ------------------------------------------------------------------------------------------------ URLs


@pytest.mark.parametrize(
    ("exchange", "rest_url", "ws_url"),
    [
        (Exchange.BINANCE_SPOT, "", ""),
        (Exchange.BINANCE_SPOT, "https://api.binance.com", "wss://stream.binance.com:9443"),
        (Exchange.BINANCE_SPOT, "http://127.0.0.1:9001/", "ws://127.0.0.1:9002/ws-api/v3"),
        (Exchange.BINANCE_USDM_FUTURE, "", "wss://proxy.example/ws-fapi/v1"),
        (Exchange.BINANCE_SPOT, "", "stream=ws://127.0.0.1:9003;wsApi=ws://127.0.0.1:9002/ws-api/v3"),
        (Exchange.BINANCE_SPOT, "", "wsApi=ws://127.0.0.1:9002/ws-api/v3;rest=http://127.0.0.1:9001"),
        (
            Exchange.BINANCE_SPOT,
            "",
            '{"rest": "http://127.0.0.1:1", "wsApi": "ws://127.0.0.1:2/ws-api/v3", "stream": "ws://127.0.0.1:3"}',
        ),
        (Exchange.BINANCE_SPOT, "http://[::1]:9001", "ws://[::1]:9003"),
        (Exchange.BYBIT_LINEAR, "https://api.bybit.com", "wss://stream.bybit.com"),
        (Exchange.BYBIT_SPOT, "", "ws://127.0.0.1:1/v5/public/spot"),
        (Exchange.BYBIT_SPOT, "", "private=ws://h:1/v5/private;trade=ws://h:1/v5/trade;public=ws://h:1/v5/public"),
        (
            Exchange.BYBIT_OPTION,
            "",
            '{"rest": "http://h:1", "private": "ws://h:2/v5/private", "trade": "ws://h:2/v5/trade", "public": "ws://h:2"}',
        ),
        (Exchange.OKX, "https://aws.okx.com", "wss://wsaws.okx.com:8443"),
        (Exchange.OKX, "", "ws://127.0.0.1:5/ws/v5/private"),
        (
            Exchange.OKX,
            "",
            '{"rest": "http://h:1", "private": "ws://h:2/ws/v5/private", "public": "ws://h:2/ws/v5/public", "business": "ws://h:2/ws/v5/business"}',
        ),
        (Exchange.DERIBIT, "https://www.deribit.com", "www.deribit.com:9883"),
        (Exchange.DERIBIT, "", "fix.deribit.com"),
        (Exchange.DERIBIT, "", "tcp://127.0.0.1:9881"),
        (Exchange.DERIBIT, "", "ssl://fix.deribit.com:9883"),
        (Exchange.DERIBIT, "", '{"rest": "http://h:1", "ws": "ws://h:1/ws/api/v2", "fix": "tcp://h:2"}'),
        (Exchange.PULSE, "http://dev.pulsegateway.devucc.name", "wss://dev.pulsegateway.devucc.name/ws/api/v2"),
        (Exchange.PULSE, "http://h:1", "h:2"),
        (Exchange.PULSE, "", '{"rest": "http://h:1", "ws": "ws://h:1/ws/api/v2"}'),
    ],
)
def test_every_documented_url_form_is_accepted(exchange: Exchange, rest_url: str, ws_url: str) -> None:
    check_endpoints(exchange, rest_url, ws_url)


@pytest.mark.parametrize(
    ("exchange", "rest_url", "ws_url", "field", "words"),
    [
        (Exchange.BINANCE_SPOT, "api.binance.com", "", "restUrl", "not an absolute http:// or https:// URL"),
        (Exchange.BINANCE_SPOT, "wss://api.binance.com", "", "restUrl", "not an absolute"),
        (Exchange.BINANCE_SPOT, "https://api.binance.com/api/v3", "", "restUrl", "without a path"),
        (Exchange.BINANCE_SPOT, "https://", "", "restUrl", "has no host"),
        (Exchange.BINANCE_SPOT, "https://h:port", "", "restUrl", "invalid port"),
        (Exchange.BINANCE_SPOT, "https://h:0", "", "restUrl", "port 0"),
        (Exchange.BINANCE_SPOT, "https://h:1?x=1", "", "restUrl", "query or fragment"),
        (Exchange.BINANCE_SPOT, "https://h :1", "", "restUrl", "whitespace"),
        (Exchange.BINANCE_SPOT, "https://user:hunter2@h", "", "restUrl", "user info"),
        (Exchange.BINANCE_SPOT, "", "https://stream.binance.com", "wsUrl", "not an absolute ws:// or wss:// URL"),
        (Exchange.BINANCE_SPOT, "", "wss://stream.binance.com:9443/ws", "wsUrl", "/ws-api/v3"),
        (Exchange.BINANCE_SPOT, "", "wss://h/ws-fapi/v1", "wsUrl", "/ws-api/v3"),
        (Exchange.BINANCE_SPOT, "", "stream=ws://h:1/ws;wsApi=ws://h:1/ws-api/v3", "wsUrl.stream", "without a path"),
        (Exchange.BINANCE_SPOT, "", "stream=ws://h:1;public=ws://h:1", "wsUrl", "unknown name 'public'"),
        (Exchange.BINANCE_SPOT, "", "stream=ws://h:1;stream=ws://h:2", "wsUrl", "twice"),
        (Exchange.BINANCE_SPOT, "", "stream ws://h:1;", "wsUrl", "name=URL"),
        (Exchange.BINANCE_SPOT, "", '{"stream": 5}', "wsUrl", "non-empty URL string"),
        (Exchange.BINANCE_SPOT, "", "{}", "wsUrl", "names no URL"),
        (Exchange.BINANCE_SPOT, "", "[1]", "wsUrl", "not an absolute"),
        (Exchange.BINANCE_SPOT, "", "{nope", "wsUrl", "does not parse"),
        (Exchange.BINANCE_SPOT, "", '{"rest": "h:1"}', "wsUrl.rest", "not an absolute http"),
        (Exchange.BYBIT_LINEAR, "", "ws://h:1/v5/public/futures", "wsUrl", "/v5/public"),
        (Exchange.OKX, "", "stream=ws://h:1", "wsUrl", "not an absolute"),
        (Exchange.OKX, "", "wss://h/ws/v5/trade", "wsUrl", "/ws/v5/<private|public|business>"),
        (Exchange.DERIBIT, "", "fix.deribit.com:abc", "wsUrl", "invalid port"),
        (Exchange.DERIBIT, "", "wss://fix.deribit.com:9883", "wsUrl", "tcp://"),
        (Exchange.DERIBIT, "", "tcp://h:1/x", "wsUrl", "without a path"),
        (Exchange.DERIBIT, "", '{"rest": "http://h:1"}', "wsUrl", "must name 'fix'"),
        (Exchange.PULSE, "", "http://h:1", "wsUrl", "not an absolute ws://"),
        (Exchange.PULSE, "ws://h:1", "", "restUrl", "not an absolute http"),
    ],
)
def test_malformed_urls_name_the_field(exchange: Exchange, rest_url: str, ws_url: str, field: str, words: str) -> None:
    e = refusal(check_endpoints, exchange, rest_url, ws_url)
    assert e.field == field, str(e)
    assert words in e.reason, str(e)
    assert "hunter2" not in str(e)  # a password in a URL is never echoed


# ------------------------------------------------------------------------------------------------ seqs


def test_uint64_sequence_numbers_are_clamped_to_the_journal_range() -> None:
    assert journal_seq(0) == 0
    assert journal_seq(JOURNAL_SEQ_MAX) == JOURNAL_SEQ_MAX == 2**63 - 1
    assert journal_seq(2**63) == JOURNAL_SEQ_MAX
    assert journal_seq(2**64 - 1) == JOURNAL_SEQ_MAX
