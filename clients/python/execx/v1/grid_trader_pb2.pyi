from execx.v1 import common_pb2 as _common_pb2
from execx.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GridMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRID_MODE_UNSPECIFIED: _ClassVar[GridMode]
    GRID_MODE_ARITHMETIC: _ClassVar[GridMode]
    GRID_MODE_GEOMETRIC: _ClassVar[GridMode]
GRID_MODE_UNSPECIFIED: GridMode
GRID_MODE_ARITHMETIC: GridMode
GRID_MODE_GEOMETRIC: GridMode

class StartGridTraderRequest(_message.Message):
    __slots__ = ("symbol", "exchange", "session_id", "upper_price", "lower_price", "grid_range_percentage", "grid_levels", "order_qty", "mode", "dynamic", "recenter_threshold")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    UPPER_PRICE_FIELD_NUMBER: _ClassVar[int]
    LOWER_PRICE_FIELD_NUMBER: _ClassVar[int]
    GRID_RANGE_PERCENTAGE_FIELD_NUMBER: _ClassVar[int]
    GRID_LEVELS_FIELD_NUMBER: _ClassVar[int]
    ORDER_QTY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DYNAMIC_FIELD_NUMBER: _ClassVar[int]
    RECENTER_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    exchange: _common_pb2.Exchange
    session_id: str
    upper_price: float
    lower_price: float
    grid_range_percentage: float
    grid_levels: int
    order_qty: float
    mode: GridMode
    dynamic: bool
    recenter_threshold: int
    def __init__(self, symbol: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., session_id: _Optional[str] = ..., upper_price: _Optional[float] = ..., lower_price: _Optional[float] = ..., grid_range_percentage: _Optional[float] = ..., grid_levels: _Optional[int] = ..., order_qty: _Optional[float] = ..., mode: _Optional[_Union[GridMode, str]] = ..., dynamic: _Optional[bool] = ..., recenter_threshold: _Optional[int] = ...) -> None: ...

class StartGridTraderResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: GridTraderStatus
    def __init__(self, status: _Optional[_Union[GridTraderStatus, _Mapping]] = ...) -> None: ...

class StopGridTraderRequest(_message.Message):
    __slots__ = ("symbol", "exchange", "session_id")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    exchange: _common_pb2.Exchange
    session_id: str
    def __init__(self, symbol: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., session_id: _Optional[str] = ...) -> None: ...

class StopGridTraderResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: GridTraderStatus
    def __init__(self, status: _Optional[_Union[GridTraderStatus, _Mapping]] = ...) -> None: ...

class GetGridTraderRequest(_message.Message):
    __slots__ = ("symbol", "exchange", "session_id")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    exchange: _common_pb2.Exchange
    session_id: str
    def __init__(self, symbol: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., session_id: _Optional[str] = ...) -> None: ...

class GetGridTraderResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: GridTraderStatus
    def __init__(self, status: _Optional[_Union[GridTraderStatus, _Mapping]] = ...) -> None: ...

class GridTraderStatus(_message.Message):
    __slots__ = ("request", "state", "reason", "levels", "center_price", "recenters", "working_orders", "round_trips", "traded_qty", "realized_pnl", "position", "fills", "fees_paid")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    CENTER_PRICE_FIELD_NUMBER: _ClassVar[int]
    RECENTERS_FIELD_NUMBER: _ClassVar[int]
    WORKING_ORDERS_FIELD_NUMBER: _ClassVar[int]
    ROUND_TRIPS_FIELD_NUMBER: _ClassVar[int]
    TRADED_QTY_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    FILLS_FIELD_NUMBER: _ClassVar[int]
    FEES_PAID_FIELD_NUMBER: _ClassVar[int]
    request: StartGridTraderRequest
    state: _common_pb2.RunnerState
    reason: str
    levels: _containers.RepeatedScalarFieldContainer[float]
    center_price: float
    recenters: int
    working_orders: _containers.RepeatedCompositeFieldContainer[_common_pb2.OrderTransaction]
    round_trips: int
    traded_qty: float
    realized_pnl: float
    position: float
    fills: int
    fees_paid: float
    def __init__(self, request: _Optional[_Union[StartGridTraderRequest, _Mapping]] = ..., state: _Optional[_Union[_common_pb2.RunnerState, str]] = ..., reason: _Optional[str] = ..., levels: _Optional[_Iterable[float]] = ..., center_price: _Optional[float] = ..., recenters: _Optional[int] = ..., working_orders: _Optional[_Iterable[_Union[_common_pb2.OrderTransaction, _Mapping]]] = ..., round_trips: _Optional[int] = ..., traded_qty: _Optional[float] = ..., realized_pnl: _Optional[float] = ..., position: _Optional[float] = ..., fills: _Optional[int] = ..., fees_paid: _Optional[float] = ...) -> None: ...
