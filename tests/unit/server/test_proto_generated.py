"""The execx.v1 API definition: generated code up to date, seed paths and enum strings present,
seed JSON examples accepted, and buf lint/build clean.

The committed generated code in ``clients/python`` is what these tests import (it is put first on
``sys.path``), so they test the files a strategy would install.
"""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from seed_examples import SEED_ORDER_TRANSACTION, SEED_SEND_ORDER

ROOT = Path(__file__).resolve().parents[3]
CLIENT = ROOT / "clients" / "python"
sys.path.insert(0, str(CLIENT))

from execx.v1 import (  # noqa: E402
    common_pb2,
    dip_buyer_pb2,
    grid_trader_pb2,
    market_data_pb2,
    options_pb2,
    order_manager_pb2,
    position_manager_pb2,
    smart_order_pb2,
    trigger_manager_pb2,
)
from google.api import annotations_pb2  # noqa: E402
from google.protobuf import descriptor as _d  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from google.protobuf.message import Message  # noqa: E402

MODULES = [
    common_pb2,
    dip_buyer_pb2,
    grid_trader_pb2,
    market_data_pb2,
    options_pb2,
    order_manager_pb2,
    position_manager_pb2,
    smart_order_pb2,
    trigger_manager_pb2,
]
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# --------------------------------------------------------------------------- generated code


def _generated(directory: Path) -> dict[str, Path]:
    v1 = directory / "execx" / "v1"
    return {p.name: p for p in sorted(v1.iterdir()) if p.name.endswith(GENERATED_SUFFIXES)}


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    """Regenerating from proto/ gives byte-identical files: nobody edited the protos without
    running scripts/gen_proto.sh, or edited generated files by hand."""
    env = {**os.environ, "PYTHON": sys.executable}
    run = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gen_proto.sh"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    fresh, committed = _generated(tmp_path), _generated(CLIENT)
    assert sorted(fresh) == sorted(committed), "generated file set differs: run scripts/gen_proto.sh"
    stale = [name for name in fresh if not filecmp.cmp(fresh[name], committed[name], shallow=False)]
    assert not stale, f"stale generated files {stale}: run scripts/gen_proto.sh"
    # One module per .proto file, nothing missing.
    protos = sorted(p.stem for p in (ROOT / "proto" / "execx" / "v1").glob("*.proto"))
    assert sorted({n.split("_pb2")[0] for n in fresh}) == protos


# --------------------------------------------------------------------------- HTTP rules

# Every RPC with its HTTP rule. Seed 000's endpoints are POST with the JSON body ("body: *") at
# the seed's paths; seed 003's smart-order API keeps its verbs and /v1/sor paths.
SEED_000 = {
    "OrderManagerService.StartOrderHandler": ("post", "/startOrderHandler"),
    "OrderManagerService.SetLogLevel": ("post", "/setLogLevel"),
    "OrderManagerService.SendOrder": ("post", "/sendOrder"),
    "OrderManagerService.RefreshOrders": ("post", "/refreshOrders"),
    "OrderManagerService.GetPosition": ("post", "/getPosition"),
    "OrderManagerService.SubscribePositions": ("post", "/subscribePositions"),
    "OrderManagerService.SubscribeUpdates": ("post", "/subscribeUpdates"),
    "PositionManagerService.StartPositionManager": ("post", "/startPositionManager"),
    "PositionManagerService.StopPositionManager": ("post", "/stopPositionManager"),
    "PositionManagerService.SetTargetPosition": ("post", "/setTargetPosition"),
    "TriggerManagerService.StartTriggerManager": ("post", "/startTriggerManager"),
    "TriggerManagerService.StopTriggerManager": ("post", "/stopTriggerManager"),
    "TriggerManagerService.SetTrigger": ("post", "/setTrigger"),
    "TriggerManagerService.ClearTrigger": ("post", "/clearTrigger"),
    "TriggerManagerService.ClearTriggers": ("post", "/clearTriggers"),
    "DipBuyerService.StartDipBuyer": ("post", "/startDipBuyer"),
    "DipBuyerService.StopDipBuyer": ("post", "/stopDipBuyer"),
    "GridTraderService.StartGridTrader": ("post", "/startGridTrader"),
    "GridTraderService.StopGridTrader": ("post", "/stopGridTrader"),
}
SEED_003 = {
    "SmartOrderService.ListSmartOrders": ("get", "/v1/sor/requests"),
    "SmartOrderService.GetBalances": ("get", "/v1/sor/balances"),
    "SmartOrderService.GetOpenOrders": ("get", "/v1/sor/orders"),
    "SmartOrderService.GetOpenPositions": ("get", "/v1/sor/positions"),
    "SmartOrderService.AddSmartOrder": ("post", "/v1/sor/add"),
    "SmartOrderService.CancelSmartOrder": ("post", "/v1/sor/cancel/{id}"),
    "SmartOrderService.UpdateSmartOrder": ("put", "/v1/sor/update"),
    "SmartOrderService.SmartOrderChannel": ("get", "/v1/sor/ws"),
}
EXTENSIONS = {
    "SmartOrderService.SubscribeSmartOrders": ("get", "/v1/sor/feed"),
    "OrderManagerService.StopOrderHandler": ("post", "/stopOrderHandler"),
    "OrderManagerService.OrderEntry": ("post", "/orderEntry"),
    "OrderManagerService.BatchSendOrders": ("post", "/batchSendOrders"),
    "OrderManagerService.CancelAllOrders": ("post", "/cancelAllOrders"),
    "OrderManagerService.GetOrder": ("post", "/getOrder"),
    "OrderManagerService.ListOrders": ("post", "/listOrders"),
    "OrderManagerService.ListFills": ("post", "/listFills"),
    "OrderManagerService.ListSessions": ("post", "/listSessions"),
    "OrderManagerService.SetRiskLimits": ("post", "/setRiskLimits"),
    "OrderManagerService.GetRiskLimits": ("post", "/getRiskLimits"),
    "OrderManagerService.EngageKillSwitch": ("post", "/engageKillSwitch"),
    "OrderManagerService.ReleaseKillSwitch": ("post", "/releaseKillSwitch"),
    "OrderManagerService.ListAuditRecords": ("post", "/listAuditRecords"),
    "PositionManagerService.GetPositionManager": ("post", "/getPositionManager"),
    "PositionManagerService.ListPositionManagers": ("post", "/listPositionManagers"),
    "TriggerManagerService.ListTriggers": ("post", "/listTriggers"),
    "TriggerManagerService.GetTriggerManager": ("post", "/getTriggerManager"),
    "DipBuyerService.GetDipBuyer": ("post", "/getDipBuyer"),
    "GridTraderService.GetGridTrader": ("post", "/getGridTrader"),
    "MarketDataService.SubscribeMarketData": ("post", "/subscribeMarketData"),
}


def _services() -> Iterator[_d.ServiceDescriptor]:
    for module in MODULES:
        yield from module.DESCRIPTOR.services_by_name.values()


def _rules() -> dict[str, tuple[str, str, str, str]]:
    rules = {}
    for service in _services():
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            verb = rule.WhichOneof("pattern")
            path = getattr(rule, verb) if verb else ""
            rules[f"{service.name}.{method.name}"] = (verb or "", path, rule.body, rule.response_body)
    return rules


def test_every_rpc_has_its_http_rule() -> None:
    rules = _rules()
    expected = {**SEED_000, **SEED_003, **EXTENSIONS}
    assert {k: v[:2] for k, v in rules.items()} == expected
    for name, (verb, path, body, _) in rules.items():
        if verb == "post" and "{" not in path:
            assert body == "*", f"{name}: the JSON body must map onto the whole request"
    paths = [(v[0], v[1]) for v in rules.values()]
    assert len(paths) == len(set(paths)), "two RPCs share a route"


def test_seed_endpoints_by_path() -> None:
    by_path = {(v[0], v[1]): k for k, v in _rules().items()}
    assert by_path[("post", "/sendOrder")] == "OrderManagerService.SendOrder"
    assert by_path[("post", "/startOrderHandler")] == "OrderManagerService.StartOrderHandler"
    # the websocket of seed 000 sends the bare order transaction
    assert _rules()["OrderManagerService.SubscribeUpdates"][3] == "transaction"


def test_streaming_shapes() -> None:
    methods = {f"{s.name}.{m.name}": m for s in _services() for m in s.methods}
    # proto descriptors in Python do not expose streaming flags directly; the generated stubs do.
    from execx.v1 import market_data_pb2_grpc, order_manager_pb2_grpc, smart_order_pb2_grpc

    channel_calls: dict[str, str] = {}

    class Recorder:
        def __getattr__(self, kind: str) -> Any:
            def factory(path: str, **_: Any) -> str:
                channel_calls[path] = kind
                return kind

            return factory

    for module, stub in [
        (order_manager_pb2_grpc, "OrderManagerServiceStub"),
        (market_data_pb2_grpc, "MarketDataServiceStub"),
        (smart_order_pb2_grpc, "SmartOrderServiceStub"),
    ]:
        getattr(module, stub)(Recorder())
    assert channel_calls["/execx.v1.OrderManagerService/SubscribeUpdates"] == "unary_stream"
    assert channel_calls["/execx.v1.OrderManagerService/SubscribePositions"] == "unary_stream"
    assert channel_calls["/execx.v1.OrderManagerService/OrderEntry"] == "stream_stream"
    assert channel_calls["/execx.v1.OrderManagerService/SendOrder"] == "unary_unary"
    assert channel_calls["/execx.v1.MarketDataService/SubscribeMarketData"] == "unary_stream"
    assert channel_calls["/execx.v1.SmartOrderService/SubscribeSmartOrders"] == "unary_stream"
    assert channel_calls["/execx.v1.SmartOrderService/SmartOrderChannel"] == "stream_stream"
    assert "OrderManagerService.OrderEntry" in methods


# --------------------------------------------------------------------------- enum strings


def _json_value(value: _d.EnumValueDescriptor) -> str:
    return str(value.GetOptions().Extensions[options_pb2.json_value])


def _enums() -> Iterator[_d.EnumDescriptor]:
    def nested(message: _d.Descriptor) -> Iterator[_d.EnumDescriptor]:
        yield from message.enum_types
        for sub in message.nested_types:
            yield from nested(sub)

    for module in MODULES:
        yield from module.DESCRIPTOR.enum_types_by_name.values()
        for message in module.DESCRIPTOR.message_types_by_name.values():
            yield from nested(message)


def test_every_enum_value_has_a_unique_json_value() -> None:
    enums = list(_enums())
    assert len(enums) >= 10
    for enum in enums:
        zero = enum.values_by_number[0]
        assert zero.name.endswith("_UNSPECIFIED") and _json_value(zero) == ""
        strings = [_json_value(v) for v in enum.values if v.number != 0]
        assert all(strings), f"{enum.full_name}: a value has no json_value"
        assert len({s.lower() for s in strings}) == len(strings), f"{enum.full_name}: duplicate json_value"


def _strings(enum: _d.EnumDescriptor) -> dict[str, str]:
    return {_json_value(v): v.name for v in enum.values if v.number != 0}


SEED_ENUMS = {
    "Exchange": {
        "binance-spot": "EXCHANGE_BINANCE_SPOT",
        "binance-usdm-future": "EXCHANGE_BINANCE_USDM_FUTURE",
        "binance-coinm-future": "EXCHANGE_BINANCE_COINM_FUTURE",
        "bybit-spot": "EXCHANGE_BYBIT_SPOT",
        "bybit-linear": "EXCHANGE_BYBIT_LINEAR",
        "bybit-inverse": "EXCHANGE_BYBIT_INVERSE",
        "bybit-option": "EXCHANGE_BYBIT_OPTION",
        "okx": "EXCHANGE_OKX",
        "deribit": "EXCHANGE_DERIBIT",
    },
    "LogLevel": {
        "debug": "LOG_LEVEL_DEBUG",
        "info": "LOG_LEVEL_INFO",
        "warn": "LOG_LEVEL_WARN",
        "error": "LOG_LEVEL_ERROR",
    },
    "OrderType": {"limit": "ORDER_TYPE_LIMIT", "market": "ORDER_TYPE_MARKET", "postonly": "ORDER_TYPE_POSTONLY"},
    "TransactionType": {
        "insert": "TRANSACTION_TYPE_INSERT",
        "update": "TRANSACTION_TYPE_UPDATE",
        "delete": "TRANSACTION_TYPE_DELETE",
        "pull": "TRANSACTION_TYPE_PULL",
    },
    "TimeInForce": {
        "gtc": "TIME_IN_FORCE_GTC",
        "ioc": "TIME_IN_FORCE_IOC",
        "day": "TIME_IN_FORCE_DAY",
        "fok": "TIME_IN_FORCE_FOK",
    },
    "Side": {"buy": "SIDE_BUY", "sell": "SIDE_SELL"},
    "OrderStatus": {
        "new": "ORDER_STATUS_NEW",
        "partiallyfilled": "ORDER_STATUS_PARTIALLY_FILLED",
        "filled": "ORDER_STATUS_FILLED",
        "cancelled": "ORDER_STATUS_CANCELLED",
        "rejected": "ORDER_STATUS_REJECTED",
        "expired": "ORDER_STATUS_EXPIRED",
        "pendingnew": "ORDER_STATUS_PENDING_NEW",
        "pendingupdate": "ORDER_STATUS_PENDING_UPDATE",
        "pendingcancel": "ORDER_STATUS_PENDING_CANCEL",
    },
    "TradeLiquidity": {"add": "TRADE_LIQUIDITY_ADD", "remove": "TRADE_LIQUIDITY_REMOVE"},
    "TriggerDirection": {"up": "TRIGGER_DIRECTION_UP", "down": "TRIGGER_DIRECTION_DOWN"},
    "GridMode": {"ARITHMETIC": "GRID_MODE_ARITHMETIC", "GEOMETRIC": "GRID_MODE_GEOMETRIC"},
    "SmartOrderAlgorithm": {"TWAP": "SMART_ORDER_ALGORITHM_TWAP", "VWAP": "SMART_ORDER_ALGORITHM_VWAP"},
}


@pytest.mark.parametrize("enum_name", sorted(SEED_ENUMS))
def test_seed_enum_strings(enum_name: str) -> None:
    enum = next(e for e in _enums() if e.name == enum_name)
    strings = _strings(enum)
    for wire, name in SEED_ENUMS[enum_name].items():
        assert strings.get(wire) == name, f"{enum_name}: {wire!r} should be {name}"


def test_proto_enums_cover_the_domain_enums() -> None:
    """The service's domain enums (server/execx_server/domain/enums.py) and the API agree: every
    domain value has a proto value with the same JSON string."""
    sys.path.insert(0, str(ROOT / "server"))
    try:
        from execx_server.domain import enums as domain
    finally:
        sys.path.remove(str(ROOT / "server"))
    pairs = {
        domain.Exchange: "Exchange",
        domain.OrderType: "OrderType",
        domain.TimeInForce: "TimeInForce",
        domain.Side: "Side",
        domain.TransactionType: "TransactionType",
        domain.Liquidity: "TradeLiquidity",
        domain.OrderStatus: "OrderStatus",
    }
    for py_enum, proto_name in pairs.items():
        strings = _strings(next(e for e in _enums() if e.name == proto_name))
        missing = {m.value for m in py_enum} - set(strings)
        assert not missing, f"{proto_name} lacks {missing}"


# --------------------------------------------------------------------------- seed JSON examples


def _to_proto_json(obj: Any, message: _d.Descriptor) -> dict[str, Any]:
    """Rewrites the seed's JSON (json_value enum strings, case-insensitively) into the proto JSON
    mapping (enum value names), checking that every key is a field of ``message``."""
    fields = {f.json_name: f for f in message.fields} | {f.name: f for f in message.fields}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        assert key in fields, f"{message.full_name} has no field {key!r}"
        field = fields[key]
        out[key] = _convert(value, field)
    return out


def _convert(value: Any, field: _d.FieldDescriptor) -> Any:
    if _is_map(field):
        value_field = field.message_type.fields_by_name["value"]
        return {k: _convert_one(v, value_field) for k, v in value.items()}
    if isinstance(value, list):  # a repeated field (ParseDict refuses a list for a singular one)
        return [_convert_one(v, field) for v in value]
    return _convert_one(value, field)


def _is_map(field: _d.FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _convert_one(value: Any, field: _d.FieldDescriptor) -> Any:
    if field.enum_type is not None:
        by_string = {k.lower(): v for k, v in _strings(field.enum_type).items()}
        assert value.lower() in by_string, f"{field.full_name}: unknown enum string {value!r}"
        return by_string[value.lower()]
    if field.message_type is not None:
        return _to_proto_json(value, field.message_type)
    return value


def _parse(seed_json: dict[str, Any], cls: type[Message]) -> Message:
    message = cls()
    json_format.ParseDict(_to_proto_json(seed_json, cls.DESCRIPTOR), message)
    return message


# Seed 000's request examples, verbatim, with the message each one is the body of.
SEED_000_EXAMPLES: list[tuple[type[Message], dict[str, Any]]] = [
    (
        order_manager_pb2.StartOrderHandlerRequest,
        {
            "exchangeKey": {
                "apiKey": "abcd-efgh",
                "secretKey": "abcd-efgh",
                "passphrase": "secret-password",
                "exchange": "binance-spot",
            },
            "sessionId": "unique-session-id",
            "wsUrl": "wss://stream.binance.com",
            "interface": "eth0",
            "useMargin": True,
        },
    ),
    (order_manager_pb2.SetLogLevelRequest, {"logLevel": "debug"}),
    (order_manager_pb2.SendOrderRequest, SEED_SEND_ORDER),
    (order_manager_pb2.RefreshOrdersRequest, {"sessionId": "string", "transactions": [SEED_ORDER_TRANSACTION]}),
    (
        order_manager_pb2.GetPositionRequest,
        {"sessionId": "test-session", "symbol": "BTCUSDT", "exchange": "binance-spot"},
    ),
    (order_manager_pb2.GetPositionResponse, {"position": 0.1}),
    (order_manager_pb2.SubscribePositionsRequest, {"sessionId": "string"}),
    (
        order_manager_pb2.SubscribePositionsResponse,
        {"sessionId": "unique-session-id", "positions": {"property1": 0.1, "property2": 0.1}},
    ),
    (order_manager_pb2.SubscribeUpdatesRequest, {"sessionId": "string"}),
    (common_pb2.OrderTransaction, SEED_ORDER_TRANSACTION),
    (
        position_manager_pb2.StartPositionManagerRequest,
        {
            "sessionId": "test-session",
            "exchange": "binance-spot",
            "symbol": "BTCUSDT",
            "config": {
                "pullOnStartup": True,
                "maintainSpreads": True,
                "quoteLevels": 2,
                "minOrderQty": 0.1,
                "reEntryTickerSeconds": 5,
                "priceLevelInterval": 0.001,
            },
        },
    ),
    (position_manager_pb2.StopPositionManagerRequest, {"exchange": "binance-spot", "symbol": "BTCUSDT"}),
    (
        position_manager_pb2.SetTargetPositionRequest,
        {"exchange": "binance-spot", "symbol": "BTCUSDT", "targetPosition": 0.1},
    ),
    (
        trigger_manager_pb2.StartTriggerManagerRequest,
        {"symbol": "BTC-USDT", "exchange": "binance-spot", "sessionId": "string"},
    ),
    (
        trigger_manager_pb2.StopTriggerManagerRequest,
        {"symbol": "BTC-USDT", "exchange": "binance-spot", "sessionId": "string"},
    ),
    (
        trigger_manager_pb2.SetTriggerRequest,
        {
            "id": "trigger-a",
            "price": 1020,
            "symbol": "BTC-USDT",
            "direction": "up",
            "exchange": "binance-spot",
            "orders": [SEED_SEND_ORDER],
        },
    ),
    (trigger_manager_pb2.ClearTriggerRequest, {"symbol": "BTC-USDT", "exchange": "binance-spot", "id": "trigger-a"}),
    (
        trigger_manager_pb2.ClearTriggersRequest,
        {"symbol": "BTC-USDT", "exchange": "binance-spot", "clearAll": False},
    ),
    (
        dip_buyer_pb2.StartDipBuyerRequest,
        {
            "sessionId": "unique-session-id",
            "exchange": "binance-spot",
            "symbol": "BTCUSDT",
            "config": {"dipPercentage": 1, "orderQty": 0.1, "maxLongPos": 1, "timePeriod": 3600, "cooldown": 60},
        },
    ),
    (
        dip_buyer_pb2.StopDipBuyerRequest,
        {"exchange": "binance-spot", "symbol": "BTCUSDT", "sessionId": "unique-session-id"},
    ),
    (
        grid_trader_pb2.StartGridTraderRequest,
        {
            "symbol": "BTC-USDT",
            "exchange": "binance-spot",
            "sessionId": "string",
            "upperPrice": 28000,
            "lowerPrice": 25000,
            "gridRangePercentage": 10,
            "gridLevels": 10,
            "orderQty": 0.01,
            "mode": "ARITHMETIC",
            "dynamic": False,
            "recenterThreshold": 5,
        },
    ),
    (
        grid_trader_pb2.StopGridTraderRequest,
        {"symbol": "BTC-USDT", "exchange": "binance-spot", "sessionId": "unique-session-id"},
    ),
]


@pytest.mark.parametrize(("cls", "example"), SEED_000_EXAMPLES, ids=lambda v: getattr(v, "__name__", ""))
def test_seed_000_examples_parse(cls: type[Message], example: dict[str, Any]) -> None:
    message = _parse(example, cls)
    # Round trip: every key of the example is a set field (nothing silently dropped).
    emitted = json_format.MessageToDict(message, preserving_proto_field_name=False)
    for key, value in example.items():
        if value not in (False, 0, "", [], {}):
            assert key in emitted, f"{cls.__name__}.{key} was dropped"


def test_seed_000_send_order_fields() -> None:
    order = _parse(SEED_SEND_ORDER, order_manager_pb2.SendOrderRequest)
    assert isinstance(order, order_manager_pb2.SendOrderRequest)
    assert order.order_type == common_pb2.ORDER_TYPE_POSTONLY
    assert order.HasField("price") and order.price == 124.2
    assert order.transaction_type == common_pb2.TRANSACTION_TYPE_INSERT
    update = _parse(SEED_ORDER_TRANSACTION, common_pb2.OrderTransaction)
    assert isinstance(update, common_pb2.OrderTransaction)
    assert update.local_time == 1720181590000000000
    assert update.order_status == common_pb2.ORDER_STATUS_PARTIALLY_FILLED


SMART_PARAMETERS = {
    "side": "sell",
    "symbol": "BTC-USD",
    "symbol_type": "perpetual",
    "amount": "29",
    "duration": "1MIN",
    "interval": "5SEC",
}

# Seed 003's examples, verbatim (exchanges as execx spells them, matched case-insensitively).
SEED_003_EXAMPLES: list[tuple[type[Message], dict[str, Any]]] = [
    (
        smart_order_pb2.AddSmartOrderRequest,
        {"Algorithm": "TWAP", "Exchanges": ["DERIBIT"], "Parameters": SMART_PARAMETERS},
    ),
    (
        smart_order_pb2.AddSmartOrderResponse,
        {
            "type": "New",
            "id": "d574e33e-133f-4bf0-bb8b-9c6294c32d2a",
            "exchanges": ["DERIBIT"],
            "algorithm": "TWAP",
            "parameters": SMART_PARAMETERS,
        },
    ),
    (
        smart_order_pb2.UpdateSmartOrderRequest,
        {"Id": "string", "Parameters": {"amount": "10", "duration": "1DAY", "interval": "1HRS"}},
    ),
    (
        smart_order_pb2.SmartOrder,
        {
            "id": "fb7d3987-fd78-41fa-985e-748a67375b31",
            "status": "Cancelled",
            "statusInfo": "User requested cancel",
            "symbol": "BTC-USD",
            "amount": 20,
            "algorithm": "TWAP",
            "side": "Sell",
            "duration": "5MIN",
            "interval": "30SEC",
            "exchanges": ["DERIBIT"],
            "statusHistory": {"Running": "07/24/2024 09:41:40", "Cancelled": "07/24/2024 09:44:13"},
            "parametersUpdates": {"2024-07-24T09:42:14.9062991Z": {**SMART_PARAMETERS, "amount": "20"}},
            "fills": [
                {
                    "exchange": "DERIBIT",
                    "amountFilled": 3.0,
                    "price": 66370.5,
                    "timeStamp": "2024-07-24T09:41:45.7727049Z",
                }
            ],
        },
    ),
    (
        smart_order_pb2.SubscribeSmartOrdersResponse,
        # seed 003 puts every payload under "Data"; in proto it is the oneof member of the Type
        # (the REST shim maps "Data" to it), so this one key is renamed here.
        {
            "Type": "StatusChange",
            "CompositeId": "fddac1f2-d98a-4e5c-9824-8e334039bb81",
            "statusChange": {
                "Id": "fddac1f2-d98a-4e5c-9824-8e334039bb81",
                "TotalFilled": 20,
                "FillsCount": 6,
                "Status": "Completed",
                "Fills": [
                    {
                        "OrderId": "04fd0f2c-e53f-4ab8-ae05-e881a4cbafb7",
                        "Exchange": "DERIBIT",
                        "SymbolId": "DERIBIT_PERP_BTC_USD",
                        "AmountFilled": 3,
                        "Price": 66484.5,
                        "Side": "Buy",
                        "Status": "FILLED",
                        "TimeStamp": "2024-07-24T11:29:59.6384886Z",
                    }
                ],
            },
        },
    ),
    (
        smart_order_pb2.Balance,
        {
            "id": "BTC",
            "asset_id_exchange": "BTC",
            "asset_id_coinapi": "BTC",
            "balance": 0.00324182,
            "available": 0.00308591,
            "locked": 0.00015591,
            "traded": 0.0,
            "last_updated_by": "EXCHANGE",
        },
    ),
    (
        smart_order_pb2.OpenPosition,
        {
            "id": "BTC-PERPETUAL",
            "symbol_id_exchange": "BTC-PERPETUAL",
            "symbol_id_coinapi": "DERIBIT_PERP_BTC_USD",
            "avg_entry_price": 61362.86103755,
            "quantity": 40.0,
            "side": "BUY",
            "unrealized_pnl": 0.000111354,
            "leverage": 10.0,
            "cross_margin": False,
            "liquidation_price": 41280.82400315,
        },
    ),
]


@pytest.mark.parametrize(("cls", "example"), SEED_003_EXAMPLES, ids=lambda v: getattr(v, "__name__", ""))
def test_seed_003_examples_parse(cls: type[Message], example: dict[str, Any]) -> None:
    _parse(example, cls)


def test_unknown_field_is_refused() -> None:
    with pytest.raises(AssertionError):
        _parse({**SEED_SEND_ORDER, "clientOrderId": "x"}, order_manager_pb2.SendOrderRequest)


# --------------------------------------------------------------------------- buf


def _buf() -> str:
    buf = os.environ.get("EXECX_BUF", "")
    if buf and Path(buf).is_file() and os.access(buf, os.X_OK):
        return buf
    message = f"buf not found (EXECX_BUF={buf!r}); .ci/run installs it from npm (@bufbuild/buf)"
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.parametrize("command", ["lint", "build"])
def test_buf(command: str) -> None:
    run = subprocess.run([_buf(), command], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def test_buf_breaking_against_baseline() -> None:
    """The API stays wire- and source-compatible (buf FILE rules) with the released baseline
    image. A deliberate, agreed breaking change updates the baseline:
    ``buf build --exclude-source-info -o proto/breaking-baseline.binpb``."""
    baseline = "proto/breaking-baseline.binpb"
    run = subprocess.run(
        [_buf(), "breaking", "--against", baseline], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, (
        f"breaking change against {baseline} (fix it, or if deliberate and agreed regenerate the baseline "
        f"with `buf build --exclude-source-info -o {baseline}`):\n{run.stdout}{run.stderr}"
    )
