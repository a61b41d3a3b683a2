"""``convert.transaction`` (every update to every subscriber) reads the enum maps' dicts directly: each
enum field carries the number ``EnumMap.proto`` gives, every member of each domain enum, None as 0."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from execx_server.api import convert
from execx_server.domain import enums
from execx_server.engine.updates import OrderUpdate

BASE = OrderUpdate(
    session_id="s1",
    exchange=enums.Exchange.BINANCE_SPOT,
    symbol="BTCUSDT",
    cl_order_id="c1",
    exch_order_id="123",
    message="",
    trade_id="",
    local_time=1,
    exch_time=2,
    send_time=3,
    price=Decimal("10000"),
    qty=Decimal("0.001"),
    cumulative_filled_qty=Decimal(0),
    executed_qty=Decimal(0),
    remaining_qty=Decimal("0.001"),
    order_type=enums.OrderType.LIMIT,
    order_status=enums.OrderStatus.NEW,
    transaction_type=enums.TransactionType.INSERT,
    tif=enums.TimeInForce.GTC,
    side=enums.Side.BUY,
    trade_liquidity=None,
    trigger_id="",
    order_price=Decimal("10000"),
    order_qty=Decimal("0.001"),
)

FIELDS = [  # (OrderUpdate field, OrderTransaction field, its map, the domain enum)
    ("exchange", "exchange", convert.EXCHANGE, enums.Exchange),
    ("order_type", "order_type", convert.ORDER_TYPE, enums.OrderType),
    ("order_status", "order_status", convert.STATUS, enums.OrderStatus),
    ("transaction_type", "transaction_type", convert.TRANSACTION_TYPE, enums.TransactionType),
    ("tif", "tif", convert.TIF, enums.TimeInForce),
    ("side", "side", convert.SIDE, enums.Side),
    ("trade_liquidity", "trade_liquidity", convert.LIQUIDITY, enums.Liquidity),
]


def test_every_enum_field_carries_its_maps_number() -> None:
    for name, proto_name, enum_map, domain in FIELDS:
        for member in domain:
            got = getattr(convert.transaction(replace(BASE, **{name: member})), proto_name)
            assert got == enum_map.proto(member) != 0, (name, member)


def test_a_missing_liquidity_is_zero() -> None:
    assert convert.transaction(BASE).trade_liquidity == 0
    assert convert.transaction(BASE, 7).seq == 7
