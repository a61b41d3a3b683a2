from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MmpConfig(_message.Message):
    __slots__ = ("session_id", "symbol", "interval_ms", "qty_limit", "frozen_ms", "delta_limit", "emulate")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    QTY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    FROZEN_MS_FIELD_NUMBER: _ClassVar[int]
    DELTA_LIMIT_FIELD_NUMBER: _ClassVar[int]
    EMULATE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    symbol: str
    interval_ms: int
    qty_limit: float
    frozen_ms: int
    delta_limit: float
    emulate: bool
    def __init__(self, session_id: _Optional[str] = ..., symbol: _Optional[str] = ..., interval_ms: _Optional[int] = ..., qty_limit: _Optional[float] = ..., frozen_ms: _Optional[int] = ..., delta_limit: _Optional[float] = ..., emulate: _Optional[bool] = ...) -> None: ...

class MmpStatus(_message.Message):
    __slots__ = ("config", "frozen", "frozen_until", "trips", "window_qty", "window_delta", "native", "index_name")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FROZEN_FIELD_NUMBER: _ClassVar[int]
    FROZEN_UNTIL_FIELD_NUMBER: _ClassVar[int]
    TRIPS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_QTY_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DELTA_FIELD_NUMBER: _ClassVar[int]
    NATIVE_FIELD_NUMBER: _ClassVar[int]
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    config: MmpConfig
    frozen: bool
    frozen_until: int
    trips: int
    window_qty: float
    window_delta: float
    native: bool
    index_name: str
    def __init__(self, config: _Optional[_Union[MmpConfig, _Mapping]] = ..., frozen: _Optional[bool] = ..., frozen_until: _Optional[int] = ..., trips: _Optional[int] = ..., window_qty: _Optional[float] = ..., window_delta: _Optional[float] = ..., native: _Optional[bool] = ..., index_name: _Optional[str] = ...) -> None: ...

class SetMmpConfigRequest(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: MmpConfig
    def __init__(self, config: _Optional[_Union[MmpConfig, _Mapping]] = ...) -> None: ...

class SetMmpConfigResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: MmpStatus
    def __init__(self, status: _Optional[_Union[MmpStatus, _Mapping]] = ...) -> None: ...

class GetMmpStatusRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class GetMmpStatusResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: MmpStatus
    def __init__(self, status: _Optional[_Union[MmpStatus, _Mapping]] = ...) -> None: ...

class ResetMmpRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ResetMmpResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: MmpStatus
    def __init__(self, status: _Optional[_Union[MmpStatus, _Mapping]] = ...) -> None: ...
