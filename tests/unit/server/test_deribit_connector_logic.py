"""Deribit connector logic without a network: the Logon password and the ``client_signature`` grant
against the derived vectors (``venues/test-vectors.md`` C5, C6), hosts (production, testnet, the FIX
``wsUrl`` override of seed 000, the simulator's ready line), the FIX order messages, Deribit's reversed
ExecutionReport ids, and the JSON-RPC objects in contracts."""

from __future__ import annotations

from decimal import Decimal

import pytest
import simplefix
from execx_server.connectors.base import Secret
from execx_server.connectors.deribit import parse as deribit_parse
from execx_server.connectors.deribit.signing import FixLogon, fix_password
from execx_server.connectors.deribit.urls import PRODUCTION, TESTNET, Hosts, resolve_hosts
from execx_server.connectors.jsonrpc import parse as rpc
from execx_server.connectors.jsonrpc.client import client_signature
from execx_server.domain.enums import Exchange, Liquidity, OrderStatus, OrderType, Side, TimeInForce
from execx_server.domain.venue import OrderRequest

D = Decimal
SECRET = Secret("TESTSECRETderibit")
RAW = "1700000000000.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


def test_fix_password_matches_vector_c5() -> None:
    assert fix_password(RAW, SECRET) == "xyBhS2XJN3SiJsxxybHZYolW7XfpsQvZa6Kny6nrhjQ="


def test_logon_fields_carry_the_vector_and_increasing_timestamps() -> None:
    logon = FixLogon("TESTCLIENTID", SECRET, clock_ms=lambda: 1_700_000_000_000, random_bytes=lambda n: bytes(range(n)))
    first = dict(logon())
    assert first[96] == RAW and first[95] == str(len(RAW))
    assert (first[553], first[554], first[9001]) == (
        "TESTCLIENTID",
        "xyBhS2XJN3SiJsxxybHZYolW7XfpsQvZa6Kny6nrhjQ=",
        "Y",
    )
    second = dict(logon())  # the same clock reading: the timestamp still increases
    assert second[96].startswith("1700000000001.")
    off = dict(FixLogon("id", SECRET, cancel_on_disconnect=False, options={"ReportFillsAsExecReports": True})())
    assert (off[9001], off[9015]) == ("N", "Y")


def test_client_signature_matches_vector_c6() -> None:
    sig = client_signature(SECRET, 1_700_000_000_000, "abcd1234")
    assert sig == "527294722e9b0142e75fe683881ce7e035f48269268df7638044e51b64a18f9a"


@pytest.mark.parametrize(
    ("testnet", "rest_url", "ws_url", "hosts"),
    [
        (False, "", "", PRODUCTION),
        (True, "", "", TESTNET),
        (
            False,
            "",
            "www.deribit.com:9883",
            Hosts("www.deribit.com", 9883, True, "https://www.deribit.com", "wss://www.deribit.com/ws/api/v2"),
        ),
        (
            True,
            "https://test.deribit.com",
            "tcp://fix-test.deribit.com:9881",
            Hosts("fix-test.deribit.com", 9881, False, "https://test.deribit.com", "wss://test.deribit.com/ws/api/v2"),
        ),
        (
            False,
            "http://127.0.0.1:5",
            '{"rest": "http://127.0.0.1:5", "ws": "ws://127.0.0.1:5/ws/api/v2", "fix": "tcp://127.0.0.1:6"}',
            Hosts("127.0.0.1", 6, False, "http://127.0.0.1:5", "ws://127.0.0.1:5/ws/api/v2"),
        ),
    ],
)
def test_hosts(testnet: bool, rest_url: str, ws_url: str, hosts: Hosts) -> None:
    assert resolve_hosts(testnet, rest_url, ws_url) == hosts


def test_bad_fix_host_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="port must be a number"):
        resolve_hosts(False, "", "fix.deribit.com:x")


def _pairs(msg: simplefix.FixMessage) -> dict[int, str]:
    return {int(t): bytes(v).decode() for t, v in msg.pairs}


def test_new_order_single_fields() -> None:
    post = OrderRequest("c-1", "BTC-PERPETUAL", Side.SELL, OrderType.POSTONLY, TimeInForce.GTC, D(30), D("97000.5"))
    f = _pairs(deribit_parse.new_order_single(post))
    assert {k: f[k] for k in (35, 11, 54, 38, 55, 40, 59, 44, 18, 100010)} == {
        35: "D",
        11: "c-1",
        54: "2",
        38: "30",
        55: "BTC-PERPETUAL",
        40: "2",
        59: "1",
        44: "97000.5",
        18: "6A",
        100010: "c-1",
    }
    mkt = OrderRequest("m", "BTC-PERPETUAL", Side.BUY, OrderType.MARKET, TimeInForce.IOC, D(10), None)
    f = _pairs(deribit_parse.new_order_single(mkt))
    assert (f[40], f[59], f[54]) == ("1", "3", "1") and 44 not in f and 18 not in f
    day = OrderRequest("d", "BTC-PERPETUAL", Side.BUY, OrderType.LIMIT, TimeInForce.DAY, D(10), D(1))
    assert _pairs(deribit_parse.new_order_single(day))[59] == "0"
    cancel = _pairs(deribit_parse.cancel_request("c-1", "31000000001", "BTC-PERPETUAL", Side.SELL))
    assert (cancel[35], cancel[41], cancel[11], cancel[55]) == ("F", "31000000001", "c-1", "BTC-PERPETUAL")
    by_cl = _pairs(deribit_parse.cancel_request("c-1", "", "BTC-PERPETUAL", Side.SELL))
    assert 41 not in by_cl and by_cl[11] == "c-1"


def _er(*fields: tuple[int, str]) -> simplefix.FixMessage:
    msg = simplefix.FixMessage()
    msg.append_pair(35, "8", header=True)
    for tag, value in fields:
        msg.append_pair(tag, value)
    return msg


def test_execution_report_reversed_ids_and_fill() -> None:
    fill = deribit_parse.parse_execution_report(
        _er(
            (37, "31000000007"),
            (11, "31000000007"),
            (41, "my-order"),
            (150, "F"),
            (39, "1"),
            (55, "BTC-PERPETUAL"),
            (54, "1"),
            (44, "96950"),
            (38, "30"),
            (151, "20"),
            (14, "10"),
            (60, "20261122-06:40:00.123"),
            (31, "96950"),
            (32, "10"),
            (880, "4711"),
            (851, "1"),
        )
    )
    assert (fill.cl_order_id, fill.exch_order_id, fill.status) == (
        "my-order",
        "31000000007",
        OrderStatus.PARTIALLYFILLED,
    )
    assert (fill.trade_id, fill.fill_qty, fill.fill_price, fill.liquidity) == ("4711", D(10), D(96950), Liquidity.ADD)
    assert (fill.qty, fill.cum_filled, fill.exch_time_ns) == (D(30), D(10), 1_795_329_600_123_000_000)
    rejected = deribit_parse.parse_execution_report(
        _er((37, "NONE"), (11, "x"), (41, "x"), (150, "8"), (39, "8"), (54, "2"), (58, "post_only_reject"))
    )
    assert (rejected.exch_order_id, rejected.status, rejected.message, rejected.trade_id) == (
        "",
        OrderStatus.REJECTED,
        "post_only_reject",
        "",
    )


def test_a_fix_fill_takes_its_fee_from_the_user_trades_answer() -> None:
    """Commission(12) is always 0 on Deribit's FIX: the fill's ``fee`` / ``fee_currency`` come from
    ``private/get_user_trades_by_order`` (a list of trades, or ``{"trades": [...]}``), matched by trade id."""
    fill = deribit_parse.parse_execution_report(
        _er((37, "31"), (41, "c1"), (150, "F"), (39, "2"), (55, "BTC-PERPETUAL"), (54, "2"), (880, "4711"), (32, "10"))
    )
    rows = [
        {"trade_id": "4710", "fee": D("1"), "fee_currency": "BTC"},
        {"trade_id": "4711", "fee": D("-0.00000012"), "fee_currency": "BTC"},
    ]
    for answer in (rows, {"trades": rows}):
        priced = deribit_parse.with_fee(fill, answer)
        assert priced is not None and (priced.fee, priced.fee_asset, priced.trade_id) == (
            D("-0.00000012"),
            "BTC",
            "4711",
        )
    assert deribit_parse.with_fee(fill, rows[:1]) is None
    assert deribit_parse.with_fee(fill, {"trades": []}) is None


def test_jsonrpc_objects_in_contracts() -> None:
    rules = rpc.parse_instruments(
        [
            {
                "instrument_name": "BTC-PERPETUAL",
                "tick_size": D("0.5"),
                "min_trade_amount": 10,
                "contract_size": 10,
                "instrument_type": "reversed",
            },
            {
                "instrument_name": "BTC-26MAR27-100000-C",
                "tick_size": D("0.0005"),
                "min_trade_amount": D("0.1"),
                "contract_size": 1,
                "kind": "option",
            },
        ],
        Exchange.DERIBIT,
    )
    perp, opt = rules["BTC-PERPETUAL"], rules["BTC-26MAR27-100000-C"]
    assert (perp.tick, perp.lot, perp.contract_size, perp.inverse) == (D("0.5"), D(1), D(10), True)
    assert (opt.tick, opt.lot, opt.inverse) == (D("0.0005"), D("0.1"), False)
    order = rpc.parse_order(
        {
            "order_id": "9",
            "instrument_name": "BTC-PERPETUAL",
            "direction": "sell",
            "order_state": "open",
            "price": D("97000.5"),
            "amount": 300,
            "filled_amount": 100,
            "label": "lbl",
            "last_update_timestamp": 5,
        },
        perp,
    )
    assert (order.cl_order_id, order.qty, order.cum_filled, order.status, order.side) == (
        "lbl",
        D(30),
        D(10),
        OrderStatus.PARTIALLYFILLED,
        Side.SELL,
    )
    assert rpc.parse_positions([{"instrument_name": "BTC-PERPETUAL", "size": -200, "average_price": 97000}], rules)[
        0
    ].qty == D(-20)
    quote = rpc.parse_quote(
        {
            "instrument_name": "BTC-PERPETUAL",
            "best_bid_price": 1,
            "best_bid_amount": 50,
            "best_ask_price": 2,
            "best_ask_amount": 70,
            "timestamp": 1,
        },
        perp,
    )
    assert quote is not None and (quote.bid_qty, quote.ask_qty) == (D(5), D(7))
