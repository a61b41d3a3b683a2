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

class GroupType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUP_TYPE_UNSPECIFIED: _ClassVar[GroupType]
    GROUP_TYPE_OCO: _ClassVar[GroupType]
    GROUP_TYPE_OTO: _ClassVar[GroupType]
    GROUP_TYPE_OTOCO: _ClassVar[GroupType]
GROUP_TYPE_UNSPECIFIED: GroupType
GROUP_TYPE_OCO: GroupType
GROUP_TYPE_OTO: GroupType
GROUP_TYPE_OTOCO: GroupType

class SendOrderGroupRequest(_message.Message):
    __slots__ = ("session_id", "group_id", "group_type", "orders")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_TYPE_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    group_id: str
    group_type: GroupType
    orders: _containers.RepeatedCompositeFieldContainer[_order_manager_pb2.SendOrderRequest]
    def __init__(self, session_id: _Optional[str] = ..., group_id: _Optional[str] = ..., group_type: _Optional[_Union[GroupType, str]] = ..., orders: _Optional[_Iterable[_Union[_order_manager_pb2.SendOrderRequest, _Mapping]]] = ...) -> None: ...

class SendOrderGroupResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: OrderGroup
    def __init__(self, group: _Optional[_Union[OrderGroup, _Mapping]] = ...) -> None: ...

class AmendOrderGroupRequest(_message.Message):
    __slots__ = ("session_id", "group_id", "orders")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    group_id: str
    orders: _containers.RepeatedCompositeFieldContainer[_order_manager_pb2.SendOrderRequest]
    def __init__(self, session_id: _Optional[str] = ..., group_id: _Optional[str] = ..., orders: _Optional[_Iterable[_Union[_order_manager_pb2.SendOrderRequest, _Mapping]]] = ...) -> None: ...

class AmendOrderGroupResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: OrderGroup
    def __init__(self, group: _Optional[_Union[OrderGroup, _Mapping]] = ...) -> None: ...

class CancelOrderGroupRequest(_message.Message):
    __slots__ = ("session_id", "group_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    group_id: str
    def __init__(self, session_id: _Optional[str] = ..., group_id: _Optional[str] = ...) -> None: ...

class CancelOrderGroupResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: OrderGroup
    def __init__(self, group: _Optional[_Union[OrderGroup, _Mapping]] = ...) -> None: ...

class GetOrderGroupRequest(_message.Message):
    __slots__ = ("session_id", "group_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    group_id: str
    def __init__(self, session_id: _Optional[str] = ..., group_id: _Optional[str] = ...) -> None: ...

class GetOrderGroupResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: OrderGroup
    def __init__(self, group: _Optional[_Union[OrderGroup, _Mapping]] = ...) -> None: ...

class OrderGroup(_message.Message):
    __slots__ = ("group_id", "session_id", "group_type", "done", "legs")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_TYPE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    LEGS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    session_id: str
    group_type: GroupType
    done: bool
    legs: _containers.RepeatedCompositeFieldContainer[_common_pb2.OrderTransaction]
    def __init__(self, group_id: _Optional[str] = ..., session_id: _Optional[str] = ..., group_type: _Optional[_Union[GroupType, str]] = ..., done: _Optional[bool] = ..., legs: _Optional[_Iterable[_Union[_common_pb2.OrderTransaction, _Mapping]]] = ...) -> None: ...

class ListContingentOrdersRequest(_message.Message):
    __slots__ = ("session_id", "symbol", "include_finished")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    symbol: str
    include_finished: bool
    def __init__(self, session_id: _Optional[str] = ..., symbol: _Optional[str] = ..., include_finished: _Optional[bool] = ...) -> None: ...

class ListContingentOrdersResponse(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[_order_manager_pb2.ContingentEvent]
    def __init__(self, orders: _Optional[_Iterable[_Union[_order_manager_pb2.ContingentEvent, _Mapping]]] = ...) -> None: ...
