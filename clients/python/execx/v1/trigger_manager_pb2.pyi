from execx.v1 import common_pb2 as _common_pb2
from execx.v1 import options_pb2 as _options_pb2
from execx.v1 import order_manager_pb2 as _order_manager_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TriggerDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIGGER_DIRECTION_UNSPECIFIED: _ClassVar[TriggerDirection]
    TRIGGER_DIRECTION_UP: _ClassVar[TriggerDirection]
    TRIGGER_DIRECTION_DOWN: _ClassVar[TriggerDirection]
TRIGGER_DIRECTION_UNSPECIFIED: TriggerDirection
TRIGGER_DIRECTION_UP: TriggerDirection
TRIGGER_DIRECTION_DOWN: TriggerDirection

class StartTriggerManagerRequest(_message.Message):
    __slots__ = ("symbol", "exchange", "session_id")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    exchange: _common_pb2.Exchange
    session_id: str
    def __init__(self, symbol: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., session_id: _Optional[str] = ...) -> None: ...

class StartTriggerManagerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StopTriggerManagerRequest(_message.Message):
    __slots__ = ("symbol", "exchange", "session_id")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    exchange: _common_pb2.Exchange
    session_id: str
    def __init__(self, symbol: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., session_id: _Optional[str] = ...) -> None: ...

class StopTriggerManagerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetTriggerRequest(_message.Message):
    __slots__ = ("id", "price", "symbol", "direction", "exchange", "orders")
    ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    price: float
    symbol: str
    direction: TriggerDirection
    exchange: _common_pb2.Exchange
    orders: _containers.RepeatedCompositeFieldContainer[_order_manager_pb2.SendOrderRequest]
    def __init__(self, id: _Optional[str] = ..., price: _Optional[float] = ..., symbol: _Optional[str] = ..., direction: _Optional[_Union[TriggerDirection, str]] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., orders: _Optional[_Iterable[_Union[_order_manager_pb2.SendOrderRequest, _Mapping]]] = ...) -> None: ...

class SetTriggerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClearTriggerRequest(_message.Message):
    __slots__ = ("symbol", "exchange", "id")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    exchange: _common_pb2.Exchange
    id: str
    def __init__(self, symbol: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., id: _Optional[str] = ...) -> None: ...

class ClearTriggerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClearTriggersRequest(_message.Message):
    __slots__ = ("symbol", "exchange", "clear_all")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    CLEAR_ALL_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    exchange: _common_pb2.Exchange
    clear_all: bool
    def __init__(self, symbol: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., clear_all: _Optional[bool] = ...) -> None: ...

class ClearTriggersResponse(_message.Message):
    __slots__ = ("cleared",)
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    cleared: int
    def __init__(self, cleared: _Optional[int] = ...) -> None: ...

class ListTriggersRequest(_message.Message):
    __slots__ = ("symbol", "exchange")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    exchange: _common_pb2.Exchange
    def __init__(self, symbol: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ...) -> None: ...

class TriggerInfo(_message.Message):
    __slots__ = ("trigger", "fired", "fired_time")
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    FIRED_FIELD_NUMBER: _ClassVar[int]
    FIRED_TIME_FIELD_NUMBER: _ClassVar[int]
    trigger: SetTriggerRequest
    fired: bool
    fired_time: int
    def __init__(self, trigger: _Optional[_Union[SetTriggerRequest, _Mapping]] = ..., fired: _Optional[bool] = ..., fired_time: _Optional[int] = ...) -> None: ...

class ListTriggersResponse(_message.Message):
    __slots__ = ("triggers",)
    TRIGGERS_FIELD_NUMBER: _ClassVar[int]
    triggers: _containers.RepeatedCompositeFieldContainer[TriggerInfo]
    def __init__(self, triggers: _Optional[_Iterable[_Union[TriggerInfo, _Mapping]]] = ...) -> None: ...

class GetTriggerManagerRequest(_message.Message):
    __slots__ = ("symbol", "exchange", "session_id")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    exchange: _common_pb2.Exchange
    session_id: str
    def __init__(self, symbol: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., session_id: _Optional[str] = ...) -> None: ...

class GetTriggerManagerResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: TriggerManagerStatus
    def __init__(self, status: _Optional[_Union[TriggerManagerStatus, _Mapping]] = ...) -> None: ...

class TriggerSymbolPnl(_message.Message):
    __slots__ = ("symbol", "position", "net_qty", "avg_entry_price", "mark_price", "realised_pnl", "unrealised_pnl", "fees_paid", "fills")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    NET_QTY_FIELD_NUMBER: _ClassVar[int]
    AVG_ENTRY_PRICE_FIELD_NUMBER: _ClassVar[int]
    MARK_PRICE_FIELD_NUMBER: _ClassVar[int]
    REALISED_PNL_FIELD_NUMBER: _ClassVar[int]
    UNREALISED_PNL_FIELD_NUMBER: _ClassVar[int]
    FEES_PAID_FIELD_NUMBER: _ClassVar[int]
    FILLS_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    position: float
    net_qty: float
    avg_entry_price: float
    mark_price: float
    realised_pnl: float
    unrealised_pnl: float
    fees_paid: float
    fills: int
    def __init__(self, symbol: _Optional[str] = ..., position: _Optional[float] = ..., net_qty: _Optional[float] = ..., avg_entry_price: _Optional[float] = ..., mark_price: _Optional[float] = ..., realised_pnl: _Optional[float] = ..., unrealised_pnl: _Optional[float] = ..., fees_paid: _Optional[float] = ..., fills: _Optional[int] = ...) -> None: ...

class TriggerManagerStatus(_message.Message):
    __slots__ = ("session_id", "exchange", "symbol", "state", "reason", "triggers", "armed", "fired", "working_orders", "orders", "fills", "symbols", "realised_pnl", "unrealised_pnl", "fees_paid")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRIGGERS_FIELD_NUMBER: _ClassVar[int]
    ARMED_FIELD_NUMBER: _ClassVar[int]
    FIRED_FIELD_NUMBER: _ClassVar[int]
    WORKING_ORDERS_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    FILLS_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    REALISED_PNL_FIELD_NUMBER: _ClassVar[int]
    UNREALISED_PNL_FIELD_NUMBER: _ClassVar[int]
    FEES_PAID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    exchange: _common_pb2.Exchange
    symbol: str
    state: _common_pb2.RunnerState
    reason: str
    triggers: _containers.RepeatedCompositeFieldContainer[TriggerInfo]
    armed: int
    fired: int
    working_orders: _containers.RepeatedCompositeFieldContainer[_common_pb2.OrderTransaction]
    orders: _containers.RepeatedCompositeFieldContainer[_common_pb2.OrderTransaction]
    fills: _containers.RepeatedCompositeFieldContainer[_common_pb2.Fill]
    symbols: _containers.RepeatedCompositeFieldContainer[TriggerSymbolPnl]
    realised_pnl: float
    unrealised_pnl: float
    fees_paid: float
    def __init__(self, session_id: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.RunnerState, str]] = ..., reason: _Optional[str] = ..., triggers: _Optional[_Iterable[_Union[TriggerInfo, _Mapping]]] = ..., armed: _Optional[int] = ..., fired: _Optional[int] = ..., working_orders: _Optional[_Iterable[_Union[_common_pb2.OrderTransaction, _Mapping]]] = ..., orders: _Optional[_Iterable[_Union[_common_pb2.OrderTransaction, _Mapping]]] = ..., fills: _Optional[_Iterable[_Union[_common_pb2.Fill, _Mapping]]] = ..., symbols: _Optional[_Iterable[_Union[TriggerSymbolPnl, _Mapping]]] = ..., realised_pnl: _Optional[float] = ..., unrealised_pnl: _Optional[float] = ..., fees_paid: _Optional[float] = ...) -> None: ...
