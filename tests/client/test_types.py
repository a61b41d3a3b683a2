"""execx_client.types is the generated image of the protos, and the conversion reads every field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from execx.v1 import common_pb2, order_manager_pb2
from execx_client import ExecxError, OrderRequest, types
from execx_client.convert import result

ROOT = Path(__file__).resolve().parents[2]


def test_types_are_generated_from_the_current_protos() -> None:
    gen = ROOT / "clients" / "python" / "gen_types.py"
    assert subprocess.run([sys.executable, str(gen), "--check"]).returncode == 0, f"run {gen}"


def test_result_converts_enums_optionals_nested_and_maps() -> None:
    msg = order_manager_pb2.SubscribeUpdatesResponse(
        transaction=common_pb2.OrderTransaction(
            cl_order_id="c1",
            side=common_pb2.SIDE_SELL,
            order_status=common_pb2.ORDER_STATUS_PARTIALLY_FILLED,
            exchange=common_pb2.EXCHANGE_BINANCE_SPOT,
            seq=7,
        )
    )
    out = result(msg)
    assert isinstance(out, types.SubscribeUpdatesResponse) and out.risk_event is None
    assert out.transaction == types.OrderTransaction(
        cl_order_id="c1", side="sell", order_status="partiallyfilled", exchange="binance-spot", seq=7
    )
    limits = result(order_manager_pb2.RiskLimits(max_order_qty=0.5))
    assert limits == types.RiskLimits(max_order_qty=0.5)  # unset optionals are None, not 0
    batch = result(order_manager_pb2.BatchSendOrdersResult(status={"code": 5, "message": "gone"}))
    assert batch.status == types.Status(grpc.StatusCode.NOT_FOUND, "gone")
    pos = result(order_manager_pb2.SubscribePositionsResponse(positions={"BTCUSDT": -1.5}, seq=3))
    assert pos.positions == {"BTCUSDT": -1.5}


def test_inputs_any_case_and_refusals_name_the_field() -> None:
    req = OrderRequest("s", "c", "BTCUSDT", "BUY", 1.0, 2.0, "PostOnly", "IOC").to_proto()
    assert (req.side, req.order_type, req.tif) == (
        common_pb2.SIDE_BUY,
        common_pb2.ORDER_TYPE_POSTONLY,
        common_pb2.TIME_IN_FORCE_IOC,
    )
    with pytest.raises(ExecxError) as e:
        OrderRequest("s", "c", "BTCUSDT", "long", 1.0).to_proto()
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and e.value.message.startswith("side: 'long'")


RENAMED = {  # RPC -> the client's method(s), where the name is not the RPC's in snake_case
    "StartOrderHandler": ["start_session"],
    "StopOrderHandler": ["stop_session"],
    "OrderEntry": ["insert", "amend", "cancel", "pull"],
    "SubscribeUpdates": ["updates"],
    "SubscribePositions": ["positions"],
    "SubscribeMarketData": ["market_data"],
    "SubscribeSmartOrders": ["smart_orders"],
    "BatchSendOrders": ["batch_send"],
    "CancelAllOrders": ["cancel_all"],
    # seed 003's two-way websocket as an RPC: its commands are add/cancel/update_smart_order, its feed
    # smart_orders; a Python strategy has no use for the one stream carrying both
    "SmartOrderChannel": [],
}


def test_every_rpc_has_a_client_method() -> None:
    from execx.v1 import (
        contingent_order_pb2,
        dip_buyer_pb2,
        grid_trader_pb2,
        market_data_pb2,
        position_manager_pb2,
        smart_order_pb2,
        trigger_manager_pb2,
    )
    from execx_client import ExecxClient

    modules = (order_manager_pb2, market_data_pb2, position_manager_pb2, trigger_manager_pb2)
    missing = []
    for module in (*modules, dip_buyer_pb2, grid_trader_pb2, smart_order_pb2, contingent_order_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for rpc in service.methods:
                snake = "".join("_" + ch.lower() if ch.isupper() else ch for ch in rpc.name).lstrip("_")
                names = RENAMED.get(rpc.name, [snake])
                missing += [f"{service.name}.{rpc.name}" for n in names if not callable(getattr(ExecxClient, n, None))]
    assert missing == []
