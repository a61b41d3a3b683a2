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

class PositionManagerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POSITION_MANAGER_STATE_UNSPECIFIED: _ClassVar[PositionManagerState]
    POSITION_MANAGER_STATE_RUNNING: _ClassVar[PositionManagerState]
    POSITION_MANAGER_STATE_PAUSED: _ClassVar[PositionManagerState]
    POSITION_MANAGER_STATE_DONE: _ClassVar[PositionManagerState]
    POSITION_MANAGER_STATE_STOPPED: _ClassVar[PositionManagerState]
    POSITION_MANAGER_STATE_FAILED: _ClassVar[PositionManagerState]
POSITION_MANAGER_STATE_UNSPECIFIED: PositionManagerState
POSITION_MANAGER_STATE_RUNNING: PositionManagerState
POSITION_MANAGER_STATE_PAUSED: PositionManagerState
POSITION_MANAGER_STATE_DONE: PositionManagerState
POSITION_MANAGER_STATE_STOPPED: PositionManagerState
POSITION_MANAGER_STATE_FAILED: PositionManagerState

class PositionManagerConfig(_message.Message):
    __slots__ = ("pull_on_startup", "maintain_spreads", "quote_levels", "min_order_qty", "re_entry_ticker_seconds", "price_level_interval")
    PULL_ON_STARTUP_FIELD_NUMBER: _ClassVar[int]
    MAINTAIN_SPREADS_FIELD_NUMBER: _ClassVar[int]
    QUOTE_LEVELS_FIELD_NUMBER: _ClassVar[int]
    MIN_ORDER_QTY_FIELD_NUMBER: _ClassVar[int]
    RE_ENTRY_TICKER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PRICE_LEVEL_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    pull_on_startup: bool
    maintain_spreads: bool
    quote_levels: int
    min_order_qty: float
    re_entry_ticker_seconds: float
    price_level_interval: float
    def __init__(self, pull_on_startup: _Optional[bool] = ..., maintain_spreads: _Optional[bool] = ..., quote_levels: _Optional[int] = ..., min_order_qty: _Optional[float] = ..., re_entry_ticker_seconds: _Optional[float] = ..., price_level_interval: _Optional[float] = ...) -> None: ...

class StartPositionManagerRequest(_message.Message):
    __slots__ = ("session_id", "exchange", "symbol", "config")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    exchange: _common_pb2.Exchange
    symbol: str
    config: PositionManagerConfig
    def __init__(self, session_id: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ..., config: _Optional[_Union[PositionManagerConfig, _Mapping]] = ...) -> None: ...

class StartPositionManagerResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: PositionManagerStatus
    def __init__(self, status: _Optional[_Union[PositionManagerStatus, _Mapping]] = ...) -> None: ...

class StopPositionManagerRequest(_message.Message):
    __slots__ = ("exchange", "symbol")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    exchange: _common_pb2.Exchange
    symbol: str
    def __init__(self, exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ...) -> None: ...

class StopPositionManagerResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: PositionManagerStatus
    def __init__(self, status: _Optional[_Union[PositionManagerStatus, _Mapping]] = ...) -> None: ...

class SetTargetPositionRequest(_message.Message):
    __slots__ = ("exchange", "symbol", "target_position")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TARGET_POSITION_FIELD_NUMBER: _ClassVar[int]
    exchange: _common_pb2.Exchange
    symbol: str
    target_position: float
    def __init__(self, exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ..., target_position: _Optional[float] = ...) -> None: ...

class SetTargetPositionResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: PositionManagerStatus
    def __init__(self, status: _Optional[_Union[PositionManagerStatus, _Mapping]] = ...) -> None: ...

class GetPositionManagerRequest(_message.Message):
    __slots__ = ("exchange", "symbol")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    exchange: _common_pb2.Exchange
    symbol: str
    def __init__(self, exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ...) -> None: ...

class GetPositionManagerResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: PositionManagerStatus
    def __init__(self, status: _Optional[_Union[PositionManagerStatus, _Mapping]] = ...) -> None: ...

class ListPositionManagersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPositionManagersResponse(_message.Message):
    __slots__ = ("managers",)
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    managers: _containers.RepeatedCompositeFieldContainer[PositionManagerStatus]
    def __init__(self, managers: _Optional[_Iterable[_Union[PositionManagerStatus, _Mapping]]] = ...) -> None: ...

class PositionManagerStatus(_message.Message):
    __slots__ = ("session_id", "exchange", "symbol", "config", "target_position", "current_position", "working_orders", "filled_qty", "avg_fill_price", "fees_paid", "state", "reason", "realised_pnl", "unrealised_pnl", "mark_price", "net_qty", "avg_entry_price")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    TARGET_POSITION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_POSITION_FIELD_NUMBER: _ClassVar[int]
    WORKING_ORDERS_FIELD_NUMBER: _ClassVar[int]
    FILLED_QTY_FIELD_NUMBER: _ClassVar[int]
    AVG_FILL_PRICE_FIELD_NUMBER: _ClassVar[int]
    FEES_PAID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REALISED_PNL_FIELD_NUMBER: _ClassVar[int]
    UNREALISED_PNL_FIELD_NUMBER: _ClassVar[int]
    MARK_PRICE_FIELD_NUMBER: _ClassVar[int]
    NET_QTY_FIELD_NUMBER: _ClassVar[int]
    AVG_ENTRY_PRICE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    exchange: _common_pb2.Exchange
    symbol: str
    config: PositionManagerConfig
    target_position: float
    current_position: float
    working_orders: _containers.RepeatedCompositeFieldContainer[_common_pb2.OrderTransaction]
    filled_qty: float
    avg_fill_price: float
    fees_paid: float
    state: PositionManagerState
    reason: str
    realised_pnl: float
    unrealised_pnl: float
    mark_price: float
    net_qty: float
    avg_entry_price: float
    def __init__(self, session_id: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ..., config: _Optional[_Union[PositionManagerConfig, _Mapping]] = ..., target_position: _Optional[float] = ..., current_position: _Optional[float] = ..., working_orders: _Optional[_Iterable[_Union[_common_pb2.OrderTransaction, _Mapping]]] = ..., filled_qty: _Optional[float] = ..., avg_fill_price: _Optional[float] = ..., fees_paid: _Optional[float] = ..., state: _Optional[_Union[PositionManagerState, str]] = ..., reason: _Optional[str] = ..., realised_pnl: _Optional[float] = ..., unrealised_pnl: _Optional[float] = ..., mark_price: _Optional[float] = ..., net_qty: _Optional[float] = ..., avg_entry_price: _Optional[float] = ...) -> None: ...
