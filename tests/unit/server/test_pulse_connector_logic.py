"""Pulse's own modules: the order parameters execx sends (``parse``) and the outcome of its error
answers (``errors``)."""

from __future__ import annotations

from decimal import Decimal

from execx_server.connectors.jsonrpc.client import RpcError
from execx_server.connectors.pulse import errors, parse
from execx_server.connectors.tracking import Known
from execx_server.domain.enums import Exchange, OrderStatus, OrderType, Side, TimeInForce
from execx_server.domain.instruments import InstrumentRules
from execx_server.domain.venue import OrderRequest, Rejected, Retryable

D = Decimal
INVERSE = InstrumentRules(
    Exchange.PULSE, "BTC-PERPETUAL", D("0.5"), D("1"), D("1"), contract_size=D("10"), inverse=True
)


def test_order_params() -> None:
    postonly = OrderRequest("c1", "BTC-PERPETUAL", Side.BUY, OrderType.POSTONLY, TimeInForce.GTC, D("3"), D("100.5"))
    assert parse.order_params(postonly, INVERSE) == {
        "instrument_name": "BTC-PERPETUAL",
        "amount": "30",  # contracts of 10 USD
        "type": "limit",
        "label": "c1",
        "time_in_force": "good_til_cancelled",
        "price": "100.5",
        "post_only": True,
    }
    market = OrderRequest("c2", "BTC-PERPETUAL", Side.SELL, OrderType.MARKET, TimeInForce.IOC, D("1"), D("1"), True)
    assert parse.order_params(market, INVERSE) == {
        "instrument_name": "BTC-PERPETUAL",
        "amount": "10",
        "type": "market",
        "label": "c2",
        "time_in_force": "immediate_or_cancel",
        "reduce_only": True,
    }
    known = Known("BTC-PERPETUAL", Side.BUY, OrderType.POSTONLY, exch_order_id="9")
    assert parse.edit_params(known, D("2"), None, INVERSE) == {"order_id": "9", "amount": "20", "post_only": True}
    # seed 004: private/cancel takes order_id; cancel_all_by_instrument instrument_name and an optional type
    assert parse.cancel_params("646f0ae259c5e9efdb83c564") == {"order_id": "646f0ae259c5e9efdb83c564"}
    assert parse.cancel_all_params("BTC-PERPETUAL") == {"instrument_name": "BTC-PERPETUAL", "type": "all"}


def test_user_trade_is_a_fill_of_the_known_order() -> None:
    known = Known("BTC-PERPETUAL", Side.BUY, qty=D("3"), price=D("100"), exch_order_id="9", cum_filled=D("1"))
    known.status = OrderStatus.PARTIALLYFILLED
    trade = {
        "instrument_name": "BTC-PERPETUAL",
        "order_id": "9",
        "trade_id": "t1",
        "amount": D("10"),
        "price": D("100"),
        "direction": "buy",
        "liquidity": "M",
        "timestamp": 1,
    }
    fill = parse.parse_user_trade(trade, "c1", known, INVERSE)
    assert (fill.cl_order_id, fill.exch_order_id, fill.trade_id, fill.fill_qty, fill.cum_filled) == (
        "c1",
        "9",
        "t1",
        D("1"),
        D("2"),
    )


def test_error_answers() -> None:
    busy = errors.classify(RpcError(10028, "too_many_requests"))
    assert isinstance(busy, Retryable) and busy.code == "10028"
    refused = errors.classify(RpcError(10009, "not_enough_funds"))
    assert isinstance(refused, Rejected) and not isinstance(refused, Retryable) and refused.code == "10009"
