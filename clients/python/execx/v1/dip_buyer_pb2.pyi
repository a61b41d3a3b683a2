from execx.v1 import common_pb2 as _common_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DipBuyerConfig(_message.Message):
    __slots__ = ("dip_percentage", "order_qty", "max_long_pos", "time_period", "cooldown")
    DIP_PERCENTAGE_FIELD_NUMBER: _ClassVar[int]
    ORDER_QTY_FIELD_NUMBER: _ClassVar[int]
    MAX_LONG_POS_FIELD_NUMBER: _ClassVar[int]
    TIME_PERIOD_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_FIELD_NUMBER: _ClassVar[int]
    dip_percentage: float
    order_qty: float
    max_long_pos: float
    time_period: float
    cooldown: float
    def __init__(self, dip_percentage: _Optional[float] = ..., order_qty: _Optional[float] = ..., max_long_pos: _Optional[float] = ..., time_period: _Optional[float] = ..., cooldown: _Optional[float] = ...) -> None: ...

class StartDipBuyerRequest(_message.Message):
    __slots__ = ("session_id", "exchange", "symbol", "config")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    exchange: _common_pb2.Exchange
    symbol: str
    config: DipBuyerConfig
    def __init__(self, session_id: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ..., config: _Optional[_Union[DipBuyerConfig, _Mapping]] = ...) -> None: ...

class StartDipBuyerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StopDipBuyerRequest(_message.Message):
    __slots__ = ("exchange", "symbol", "session_id")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    exchange: _common_pb2.Exchange
    symbol: str
    session_id: str
    def __init__(self, exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class StopDipBuyerResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: DipBuyerStatus
    def __init__(self, status: _Optional[_Union[DipBuyerStatus, _Mapping]] = ...) -> None: ...

class GetDipBuyerRequest(_message.Message):
    __slots__ = ("exchange", "symbol", "session_id")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    exchange: _common_pb2.Exchange
    symbol: str
    session_id: str
    def __init__(self, exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class GetDipBuyerResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: DipBuyerStatus
    def __init__(self, status: _Optional[_Union[DipBuyerStatus, _Mapping]] = ...) -> None: ...

class DipBuyerStatus(_message.Message):
    __slots__ = ("session_id", "exchange", "symbol", "config", "state", "reason", "recent_high", "buys", "bought_qty", "last_buy_time", "position", "working_orders", "avg_buy_price", "last_price", "unrealised_pnl")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECENT_HIGH_FIELD_NUMBER: _ClassVar[int]
    BUYS_FIELD_NUMBER: _ClassVar[int]
    BOUGHT_QTY_FIELD_NUMBER: _ClassVar[int]
    LAST_BUY_TIME_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    WORKING_ORDERS_FIELD_NUMBER: _ClassVar[int]
    AVG_BUY_PRICE_FIELD_NUMBER: _ClassVar[int]
    LAST_PRICE_FIELD_NUMBER: _ClassVar[int]
    UNREALISED_PNL_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    exchange: _common_pb2.Exchange
    symbol: str
    config: DipBuyerConfig
    state: _common_pb2.RunnerState
    reason: str
    recent_high: float
    buys: int
    bought_qty: float
    last_buy_time: int
    position: float
    working_orders: _containers.RepeatedCompositeFieldContainer[_common_pb2.OrderTransaction]
    avg_buy_price: float
    last_price: float
    unrealised_pnl: float
    def __init__(self, session_id: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ..., config: _Optional[_Union[DipBuyerConfig, _Mapping]] = ..., state: _Optional[_Union[_common_pb2.RunnerState, str]] = ..., reason: _Optional[str] = ..., recent_high: _Optional[float] = ..., buys: _Optional[int] = ..., bought_qty: _Optional[float] = ..., last_buy_time: _Optional[int] = ..., position: _Optional[float] = ..., working_orders: _Optional[_Iterable[_Union[_common_pb2.OrderTransaction, _Mapping]]] = ..., avg_buy_price: _Optional[float] = ..., last_price: _Optional[float] = ..., unrealised_pnl: _Optional[float] = ...) -> None: ...
