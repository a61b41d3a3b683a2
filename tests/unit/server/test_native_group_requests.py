"""Native groups (issue 20): the venue requests execx builds for a linked group, against the documented shapes
(seed 004's ``linked_order_type`` / ``otoco_config``; Binance rest-api.md "New Order list - OCO / OTO / OTOCO"),
and the groups each venue does not hold (emulated, with the reason)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from execx_server.connectors.binance import parse as binance
from execx_server.connectors.pulse import parse as pulse
from execx_server.domain.enums import Exchange, OrderType, Side, TimeInForce
from execx_server.domain.errors import ValidationError
from execx_server.domain.instruments import InstrumentRules
from execx_server.domain.venue import GroupRequest, NativeTrigger, OrderRequest

D = Decimal
GTC = TimeInForce.GTC
LINEAR = InstrumentRules(Exchange.PULSE, "BTC_USD-PERPETUAL", D("0.5"), D("0.001"), D("0.001"))


def order(cl: str, side: Side, kind: OrderType, price: str | None = None, **kw: object) -> OrderRequest:
    fields: dict[str, object] = dict(tif=GTC, qty=D("0.01"), price=None if price is None else D(price))
    fields.update(kw)
    return OrderRequest(cl, str(fields.pop("symbol", "BTCUSDT")), side, kind, **fields)  # type: ignore[arg-type]


def stop(kind: str, price: str, reference: str = "last") -> NativeTrigger:
    return NativeTrigger(kind, reference, D(price))


def test_pulse_otoco_is_one_linked_buy() -> None:
    sym = "BTC_USD-PERPETUAL"
    group = GroupRequest(
        "g1",
        "otoco",
        (
            order("en", Side.BUY, OrderType.LIMIT, "100", symbol=sym),
            order("tp", Side.SELL, OrderType.LIMIT, "120", symbol=sym, trigger=stop("takeprofit", "119")),
            order("sl", Side.SELL, OrderType.MARKET, symbol=sym, trigger=stop("stop", "90", "index")),
        ),
    )
    assert pulse.linked_refusal(group) == ""
    assert pulse.linked_params(group, LINEAR) == {
        "instrument_name": sym,
        "amount": "0.01",
        "type": "limit",
        "label": "en",
        "time_in_force": "good_til_cancelled",
        "price": "100",
        "linked_order_type": "one_triggers_one_cancels_other",
        "trigger_fill_condition": "complete_fill",  # execx's OTO rule: released once completely filled
        "otoco_config": [
            {
                "amount": "0.01",
                "direction": "sell",
                "type": "take_limit",
                "time_in_force": "good_til_cancelled",
                "trigger": "last_price",
                "trigger_price": "119",
                "price": "120",
            },
            {
                "amount": "0.01",
                "direction": "sell",
                "type": "stop_market",
                "time_in_force": "good_til_cancelled",
                "trigger": "index_price",
                "trigger_price": "90",
            },
        ],
    }


def test_pulse_groups_it_does_not_hold() -> None:
    sym = "BTC_USD-PERPETUAL"
    entry = order("en", Side.BUY, OrderType.LIMIT, "100", symbol=sym)
    exit_ = order("ex", Side.SELL, OrderType.LIMIT, "120", symbol=sym)
    assert "no native oco" in pulse.linked_refusal(GroupRequest("g", "oco", (entry, exit_)))
    other = order("ex", Side.SELL, OrderType.LIMIT, "120", symbol="ETH_USD-PERPETUAL")
    assert "otoco_config orders are on the primary's" in pulse.linked_refusal(GroupRequest("g", "oto", (entry, other)))
    postonly = order("ex", Side.SELL, OrderType.POSTONLY, "120", symbol=sym)
    assert "post_only" in pulse.linked_refusal(GroupRequest("g", "oto", (entry, postonly)))
    reduce = order("ex", Side.SELL, OrderType.LIMIT, "120", symbol=sym, reduce_only=True)
    assert "reduce_only" in pulse.linked_refusal(GroupRequest("g", "oto", (entry, reduce)))
    mark = order("ex", Side.SELL, OrderType.MARKET, symbol=sym, trigger=stop("stop", "90", "mark"))
    assert "last or index" in pulse.linked_refusal(GroupRequest("g", "oto", (entry, mark)))


def test_binance_oco_is_an_above_and_a_below_order() -> None:
    limit = order("lm", Side.SELL, OrderType.LIMIT, "110")
    sl = order("sl", Side.SELL, OrderType.LIMIT, "89", trigger=stop("stop", "90"))
    params, why = binance.order_list_request(GroupRequest("g1", "oco", (limit, sl)))
    assert why == ""
    assert params == [
        ("symbol", "BTCUSDT"),
        ("listClientOrderId", "g1"),
        ("side", "SELL"),
        ("quantity", "0.01"),
        ("aboveType", "LIMIT_MAKER"),  # a sell's limit is the above order
        ("aboveClientOrderId", "lm"),
        ("abovePrice", "110"),
        ("belowType", "STOP_LOSS_LIMIT"),
        ("belowClientOrderId", "sl"),
        ("belowPrice", "89"),
        ("belowTimeInForce", "GTC"),
        ("belowStopPrice", "90"),
        ("newOrderRespType", "FULL"),
    ]
    # a buy's stop is the above order
    buy_tp = order("tp", Side.BUY, OrderType.MARKET, trigger=stop("takeprofit", "80"))
    buy_sl = order("sl", Side.BUY, OrderType.MARKET, trigger=stop("stop", "120"))
    params, why = binance.order_list_request(GroupRequest("g2", "oco", (buy_tp, buy_sl)))
    assert why == "" and ("aboveType", "STOP_LOSS") in params and ("belowType", "TAKE_PROFIT") in params


def test_binance_otoco_working_and_pending_pair() -> None:
    working = order("w", Side.SELL, OrderType.LIMIT, "100", tif=TimeInForce.IOC)
    tp = order("tp", Side.BUY, OrderType.MARKET, trigger=stop("takeprofit", "80"))
    sl = order("sl", Side.BUY, OrderType.MARKET, trigger=stop("stop", "120"))
    params, why = binance.order_list_request(GroupRequest("g3", "otoco", (working, tp, sl)))
    assert why == ""
    assert params == [
        ("symbol", "BTCUSDT"),
        ("listClientOrderId", "g3"),
        ("workingType", "LIMIT"),
        ("workingSide", "SELL"),
        ("workingClientOrderId", "w"),
        ("workingPrice", "100"),
        ("workingTimeInForce", "IOC"),
        ("workingQuantity", "0.01"),
        ("pendingSide", "BUY"),
        ("pendingQuantity", "0.01"),
        ("pendingAboveType", "STOP_LOSS"),
        ("pendingAboveClientOrderId", "sl"),
        ("pendingAboveStopPrice", "120"),
        ("pendingBelowType", "TAKE_PROFIT"),
        ("pendingBelowClientOrderId", "tp"),
        ("pendingBelowStopPrice", "80"),
        ("newOrderRespType", "FULL"),
    ]
    pending = order("p", Side.BUY, OrderType.MARKET)
    params, why = binance.order_list_request(GroupRequest("g4", "oto", (working, pending)))
    assert why == "" and ("pendingType", "MARKET") in params and ("pendingClientOrderId", "p") in params


@pytest.mark.parametrize(
    ("gtype", "legs", "why"),
    [
        (
            "oco",
            (order("a", Side.SELL, OrderType.LIMIT, "110"), order("b", Side.BUY, OrderType.LIMIT, "90")),
            "one side and quantity",
        ),
        (
            "oco",
            (order("a", Side.SELL, OrderType.LIMIT, "110"), order("b", Side.SELL, OrderType.LIMIT, "90")),
            "one STOP_LOSS",
        ),
        (
            "oco",
            (
                order("a", Side.SELL, OrderType.LIMIT, "110", tif=TimeInForce.IOC),
                order("b", Side.SELL, OrderType.MARKET, trigger=stop("stop", "90")),
            ),
            "resting LIMIT_MAKER",
        ),
        (
            "oto",
            (order("a", Side.BUY, OrderType.MARKET), order("b", Side.SELL, OrderType.LIMIT, "110")),
            "not a market order",
        ),
        (
            "oto",
            (
                order("a", Side.BUY, OrderType.LIMIT, "100"),
                order("b", Side.SELL, OrderType.MARKET, trigger=stop("stop", "90", "mark")),
            ),
            "last price only",
        ),
        (
            "oto",
            (order("a", Side.BUY, OrderType.LIMIT, "100"), order("b", Side.SELL, OrderType.LIMIT, "110", symbol="X")),
            "one symbol",
        ),
    ],
)
def test_binance_groups_it_does_not_hold(gtype: str, legs: tuple[OrderRequest, ...], why: str) -> None:
    group = GroupRequest("g", gtype, legs)
    assert why in binance.order_list_refusal(group)
    with pytest.raises(ValidationError):
        binance.order_list_params(group)  # never sent
