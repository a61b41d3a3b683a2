from execx.v1 import common_pb2 as _common_pb2
from execx.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TriggerKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIGGER_KIND_UNSPECIFIED: _ClassVar[TriggerKind]
    TRIGGER_KIND_STOP: _ClassVar[TriggerKind]
    TRIGGER_KIND_TAKE_PROFIT: _ClassVar[TriggerKind]
    TRIGGER_KIND_TRAILING_STOP: _ClassVar[TriggerKind]

class TriggerReference(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIGGER_REFERENCE_UNSPECIFIED: _ClassVar[TriggerReference]
    TRIGGER_REFERENCE_LAST: _ClassVar[TriggerReference]
    TRIGGER_REFERENCE_MARK: _ClassVar[TriggerReference]
    TRIGGER_REFERENCE_INDEX: _ClassVar[TriggerReference]
TRIGGER_KIND_UNSPECIFIED: TriggerKind
TRIGGER_KIND_STOP: TriggerKind
TRIGGER_KIND_TAKE_PROFIT: TriggerKind
TRIGGER_KIND_TRAILING_STOP: TriggerKind
TRIGGER_REFERENCE_UNSPECIFIED: TriggerReference
TRIGGER_REFERENCE_LAST: TriggerReference
TRIGGER_REFERENCE_MARK: TriggerReference
TRIGGER_REFERENCE_INDEX: TriggerReference

class StartOrderHandlerRequest(_message.Message):
    __slots__ = ("exchange_key", "session_id", "rest_url", "ws_url", "interface", "use_margin", "cancel_on_disconnect", "cancel_on_disconnect_grace_ms", "risk_limits", "adopt_prefix")
    EXCHANGE_KEY_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REST_URL_FIELD_NUMBER: _ClassVar[int]
    WS_URL_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    USE_MARGIN_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ON_DISCONNECT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ON_DISCONNECT_GRACE_MS_FIELD_NUMBER: _ClassVar[int]
    RISK_LIMITS_FIELD_NUMBER: _ClassVar[int]
    ADOPT_PREFIX_FIELD_NUMBER: _ClassVar[int]
    exchange_key: _common_pb2.ExchangeKey
    session_id: str
    rest_url: str
    ws_url: str
    interface: str
    use_margin: bool
    cancel_on_disconnect: bool
    cancel_on_disconnect_grace_ms: int
    risk_limits: RiskLimits
    adopt_prefix: str
    def __init__(self, exchange_key: _Optional[_Union[_common_pb2.ExchangeKey, _Mapping]] = ..., session_id: _Optional[str] = ..., rest_url: _Optional[str] = ..., ws_url: _Optional[str] = ..., interface: _Optional[str] = ..., use_margin: _Optional[bool] = ..., cancel_on_disconnect: _Optional[bool] = ..., cancel_on_disconnect_grace_ms: _Optional[int] = ..., risk_limits: _Optional[_Union[RiskLimits, _Mapping]] = ..., adopt_prefix: _Optional[str] = ...) -> None: ...

class StartOrderHandlerResponse(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class StopOrderHandlerRequest(_message.Message):
    __slots__ = ("session_id", "cancel_open_orders")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CANCEL_OPEN_ORDERS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    cancel_open_orders: bool
    def __init__(self, session_id: _Optional[str] = ..., cancel_open_orders: _Optional[bool] = ...) -> None: ...

class StopOrderHandlerResponse(_message.Message):
    __slots__ = ("cancelled_orders",)
    CANCELLED_ORDERS_FIELD_NUMBER: _ClassVar[int]
    cancelled_orders: int
    def __init__(self, cancelled_orders: _Optional[int] = ...) -> None: ...

class SetLogLevelRequest(_message.Message):
    __slots__ = ("log_level",)
    LOG_LEVEL_FIELD_NUMBER: _ClassVar[int]
    log_level: _common_pb2.LogLevel
    def __init__(self, log_level: _Optional[_Union[_common_pb2.LogLevel, str]] = ...) -> None: ...

class SetLogLevelResponse(_message.Message):
    __slots__ = ("log_level",)
    LOG_LEVEL_FIELD_NUMBER: _ClassVar[int]
    log_level: _common_pb2.LogLevel
    def __init__(self, log_level: _Optional[_Union[_common_pb2.LogLevel, str]] = ...) -> None: ...

class SendOrderRequest(_message.Message):
    __slots__ = ("cl_order_id", "symbol", "session_id", "price", "qty", "order_type", "transaction_type", "tif", "side", "reduce_only", "trigger_kind", "trigger_price", "trigger_reference", "trailing_amount", "trailing_percent", "emulate")
    CL_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QTY_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    TIF_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    REDUCE_ONLY_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_KIND_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_PRICE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    TRAILING_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TRAILING_PERCENT_FIELD_NUMBER: _ClassVar[int]
    EMULATE_FIELD_NUMBER: _ClassVar[int]
    cl_order_id: str
    symbol: str
    session_id: str
    price: float
    qty: float
    order_type: _common_pb2.OrderType
    transaction_type: _common_pb2.TransactionType
    tif: _common_pb2.TimeInForce
    side: _common_pb2.Side
    reduce_only: bool
    trigger_kind: TriggerKind
    trigger_price: float
    trigger_reference: TriggerReference
    trailing_amount: float
    trailing_percent: float
    emulate: bool
    def __init__(self, cl_order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., session_id: _Optional[str] = ..., price: _Optional[float] = ..., qty: _Optional[float] = ..., order_type: _Optional[_Union[_common_pb2.OrderType, str]] = ..., transaction_type: _Optional[_Union[_common_pb2.TransactionType, str]] = ..., tif: _Optional[_Union[_common_pb2.TimeInForce, str]] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., reduce_only: _Optional[bool] = ..., trigger_kind: _Optional[_Union[TriggerKind, str]] = ..., trigger_price: _Optional[float] = ..., trigger_reference: _Optional[_Union[TriggerReference, str]] = ..., trailing_amount: _Optional[float] = ..., trailing_percent: _Optional[float] = ..., emulate: _Optional[bool] = ...) -> None: ...

class ContingentEvent(_message.Message):
    __slots__ = ("seq", "session_id", "cl_order_id", "group_id", "status", "exchange", "symbol", "side", "order_type", "price", "qty", "trigger_kind", "trigger_reference", "trigger_price", "reference_price", "message", "local_time", "native")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CL_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QTY_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_KIND_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_PRICE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_PRICE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    NATIVE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    session_id: str
    cl_order_id: str
    group_id: str
    status: _common_pb2.OrderStatus
    exchange: _common_pb2.Exchange
    symbol: str
    side: _common_pb2.Side
    order_type: _common_pb2.OrderType
    price: float
    qty: float
    trigger_kind: TriggerKind
    trigger_reference: TriggerReference
    trigger_price: float
    reference_price: float
    message: str
    local_time: int
    native: bool
    def __init__(self, seq: _Optional[int] = ..., session_id: _Optional[str] = ..., cl_order_id: _Optional[str] = ..., group_id: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.OrderStatus, str]] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., order_type: _Optional[_Union[_common_pb2.OrderType, str]] = ..., price: _Optional[float] = ..., qty: _Optional[float] = ..., trigger_kind: _Optional[_Union[TriggerKind, str]] = ..., trigger_reference: _Optional[_Union[TriggerReference, str]] = ..., trigger_price: _Optional[float] = ..., reference_price: _Optional[float] = ..., message: _Optional[str] = ..., local_time: _Optional[int] = ..., native: _Optional[bool] = ...) -> None: ...

class SendOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: _common_pb2.OrderTransaction
    def __init__(self, order: _Optional[_Union[_common_pb2.OrderTransaction, _Mapping]] = ...) -> None: ...

class RefreshOrdersRequest(_message.Message):
    __slots__ = ("session_id", "transactions")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    transactions: _containers.RepeatedCompositeFieldContainer[_common_pb2.OrderTransaction]
    def __init__(self, session_id: _Optional[str] = ..., transactions: _Optional[_Iterable[_Union[_common_pb2.OrderTransaction, _Mapping]]] = ...) -> None: ...

class RefreshOrdersResponse(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[_common_pb2.OrderTransaction]
    def __init__(self, orders: _Optional[_Iterable[_Union[_common_pb2.OrderTransaction, _Mapping]]] = ...) -> None: ...

class GetPositionRequest(_message.Message):
    __slots__ = ("session_id", "symbol", "exchange")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    symbol: str
    exchange: _common_pb2.Exchange
    def __init__(self, session_id: _Optional[str] = ..., symbol: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ...) -> None: ...

class GetPositionResponse(_message.Message):
    __slots__ = ("position",)
    POSITION_FIELD_NUMBER: _ClassVar[int]
    position: float
    def __init__(self, position: _Optional[float] = ...) -> None: ...

class SubscribePositionsRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class SubscribePositionsResponse(_message.Message):
    __slots__ = ("session_id", "positions", "seq")
    class PositionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    positions: _containers.ScalarMap[str, float]
    seq: int
    def __init__(self, session_id: _Optional[str] = ..., positions: _Optional[_Mapping[str, float]] = ..., seq: _Optional[int] = ...) -> None: ...

class SubscribeUpdatesRequest(_message.Message):
    __slots__ = ("session_id", "from_seq", "algorithm_events", "max_batch")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_EVENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    from_seq: int
    algorithm_events: bool
    max_batch: int
    def __init__(self, session_id: _Optional[str] = ..., from_seq: _Optional[int] = ..., algorithm_events: _Optional[bool] = ..., max_batch: _Optional[int] = ...) -> None: ...

class SubscribeUpdatesResponse(_message.Message):
    __slots__ = ("transaction", "algorithm_event", "risk_event", "contingent_event", "batch")
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_EVENT_FIELD_NUMBER: _ClassVar[int]
    RISK_EVENT_FIELD_NUMBER: _ClassVar[int]
    CONTINGENT_EVENT_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    transaction: _common_pb2.OrderTransaction
    algorithm_event: AlgorithmEvent
    risk_event: RiskEvent
    contingent_event: ContingentEvent
    batch: _containers.RepeatedCompositeFieldContainer[SubscribeUpdatesResponse]
    def __init__(self, transaction: _Optional[_Union[_common_pb2.OrderTransaction, _Mapping]] = ..., algorithm_event: _Optional[_Union[AlgorithmEvent, _Mapping]] = ..., risk_event: _Optional[_Union[RiskEvent, _Mapping]] = ..., contingent_event: _Optional[_Union[ContingentEvent, _Mapping]] = ..., batch: _Optional[_Iterable[_Union[SubscribeUpdatesResponse, _Mapping]]] = ...) -> None: ...

class RiskLimits(_message.Message):
    __slots__ = ("max_order_qty", "max_order_notional", "max_open_orders", "max_position_long", "max_position_short", "price_band_pct", "max_orders_per_second")
    MAX_ORDER_QTY_FIELD_NUMBER: _ClassVar[int]
    MAX_ORDER_NOTIONAL_FIELD_NUMBER: _ClassVar[int]
    MAX_OPEN_ORDERS_FIELD_NUMBER: _ClassVar[int]
    MAX_POSITION_LONG_FIELD_NUMBER: _ClassVar[int]
    MAX_POSITION_SHORT_FIELD_NUMBER: _ClassVar[int]
    PRICE_BAND_PCT_FIELD_NUMBER: _ClassVar[int]
    MAX_ORDERS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    max_order_qty: float
    max_order_notional: float
    max_open_orders: int
    max_position_long: float
    max_position_short: float
    price_band_pct: float
    max_orders_per_second: int
    def __init__(self, max_order_qty: _Optional[float] = ..., max_order_notional: _Optional[float] = ..., max_open_orders: _Optional[int] = ..., max_position_long: _Optional[float] = ..., max_position_short: _Optional[float] = ..., price_band_pct: _Optional[float] = ..., max_orders_per_second: _Optional[int] = ...) -> None: ...

class RiskEvent(_message.Message):
    __slots__ = ("seq", "session_id", "event", "scope", "kill_switch", "global_kill_switch", "reason", "limits", "cancelling_cl_order_ids", "local_time")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    KILL_SWITCH_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_KILL_SWITCH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    CANCELLING_CL_ORDER_IDS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    seq: int
    session_id: str
    event: str
    scope: str
    kill_switch: bool
    global_kill_switch: bool
    reason: str
    limits: RiskLimits
    cancelling_cl_order_ids: _containers.RepeatedScalarFieldContainer[str]
    local_time: int
    def __init__(self, seq: _Optional[int] = ..., session_id: _Optional[str] = ..., event: _Optional[str] = ..., scope: _Optional[str] = ..., kill_switch: _Optional[bool] = ..., global_kill_switch: _Optional[bool] = ..., reason: _Optional[str] = ..., limits: _Optional[_Union[RiskLimits, _Mapping]] = ..., cancelling_cl_order_ids: _Optional[_Iterable[str]] = ..., local_time: _Optional[int] = ...) -> None: ...

class AlgorithmEvent(_message.Message):
    __slots__ = ("seq", "algorithm", "event", "session_id", "exchange", "symbol", "level", "side", "price", "qty", "pnl", "detail", "local_time")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QTY_FIELD_NUMBER: _ClassVar[int]
    PNL_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    seq: int
    algorithm: str
    event: str
    session_id: str
    exchange: _common_pb2.Exchange
    symbol: str
    level: int
    side: _common_pb2.Side
    price: float
    qty: float
    pnl: float
    detail: str
    local_time: int
    def __init__(self, seq: _Optional[int] = ..., algorithm: _Optional[str] = ..., event: _Optional[str] = ..., session_id: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ..., level: _Optional[int] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., price: _Optional[float] = ..., qty: _Optional[float] = ..., pnl: _Optional[float] = ..., detail: _Optional[str] = ..., local_time: _Optional[int] = ...) -> None: ...

class OrderEntryRequest(_message.Message):
    __slots__ = ("request_id", "order", "batch", "max_batch")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    order: SendOrderRequest
    batch: _containers.RepeatedCompositeFieldContainer[OrderEntryRequest]
    max_batch: int
    def __init__(self, request_id: _Optional[int] = ..., order: _Optional[_Union[SendOrderRequest, _Mapping]] = ..., batch: _Optional[_Iterable[_Union[OrderEntryRequest, _Mapping]]] = ..., max_batch: _Optional[int] = ...) -> None: ...

class OrderEntryResponse(_message.Message):
    __slots__ = ("request_id", "status", "order", "batch")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    status: _status_pb2.Status
    order: _common_pb2.OrderTransaction
    batch: _containers.RepeatedCompositeFieldContainer[OrderEntryResponse]
    def __init__(self, request_id: _Optional[int] = ..., status: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., order: _Optional[_Union[_common_pb2.OrderTransaction, _Mapping]] = ..., batch: _Optional[_Iterable[_Union[OrderEntryResponse, _Mapping]]] = ...) -> None: ...

class BatchSendOrdersRequest(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[SendOrderRequest]
    def __init__(self, orders: _Optional[_Iterable[_Union[SendOrderRequest, _Mapping]]] = ...) -> None: ...

class BatchSendOrdersResult(_message.Message):
    __slots__ = ("status", "order")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    status: _status_pb2.Status
    order: _common_pb2.OrderTransaction
    def __init__(self, status: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., order: _Optional[_Union[_common_pb2.OrderTransaction, _Mapping]] = ...) -> None: ...

class BatchSendOrdersResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchSendOrdersResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchSendOrdersResult, _Mapping]]] = ...) -> None: ...

class CancelAllOrdersRequest(_message.Message):
    __slots__ = ("session_id", "symbol")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    symbol: str
    def __init__(self, session_id: _Optional[str] = ..., symbol: _Optional[str] = ...) -> None: ...

class CancelAllOrdersResponse(_message.Message):
    __slots__ = ("cl_order_ids",)
    CL_ORDER_IDS_FIELD_NUMBER: _ClassVar[int]
    cl_order_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cl_order_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("session_id", "cl_order_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CL_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    cl_order_id: str
    def __init__(self, session_id: _Optional[str] = ..., cl_order_id: _Optional[str] = ...) -> None: ...

class GetOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: _common_pb2.OrderTransaction
    def __init__(self, order: _Optional[_Union[_common_pb2.OrderTransaction, _Mapping]] = ...) -> None: ...

class ListOrdersRequest(_message.Message):
    __slots__ = ("session_id", "symbol", "open_only", "limit")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    OPEN_ONLY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    symbol: str
    open_only: bool
    limit: int
    def __init__(self, session_id: _Optional[str] = ..., symbol: _Optional[str] = ..., open_only: _Optional[bool] = ..., limit: _Optional[int] = ...) -> None: ...

class ListOrdersResponse(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[_common_pb2.OrderTransaction]
    def __init__(self, orders: _Optional[_Iterable[_Union[_common_pb2.OrderTransaction, _Mapping]]] = ...) -> None: ...

class ListFillsRequest(_message.Message):
    __slots__ = ("session_id", "symbol", "after_seq", "limit")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    symbol: str
    after_seq: int
    limit: int
    def __init__(self, session_id: _Optional[str] = ..., symbol: _Optional[str] = ..., after_seq: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListFillsResponse(_message.Message):
    __slots__ = ("fills",)
    FILLS_FIELD_NUMBER: _ClassVar[int]
    fills: _containers.RepeatedCompositeFieldContainer[_common_pb2.Fill]
    def __init__(self, fills: _Optional[_Iterable[_Union[_common_pb2.Fill, _Mapping]]] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SessionInfo(_message.Message):
    __slots__ = ("session_id", "exchange", "rest_url", "ws_url", "interface", "use_margin", "active", "last_seq", "venue_cancel_on_disconnect")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    REST_URL_FIELD_NUMBER: _ClassVar[int]
    WS_URL_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    USE_MARGIN_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    VENUE_CANCEL_ON_DISCONNECT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    exchange: _common_pb2.Exchange
    rest_url: str
    ws_url: str
    interface: str
    use_margin: bool
    active: bool
    last_seq: int
    venue_cancel_on_disconnect: bool
    def __init__(self, session_id: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., rest_url: _Optional[str] = ..., ws_url: _Optional[str] = ..., interface: _Optional[str] = ..., use_margin: _Optional[bool] = ..., active: _Optional[bool] = ..., last_seq: _Optional[int] = ..., venue_cancel_on_disconnect: _Optional[bool] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[SessionInfo]
    def __init__(self, sessions: _Optional[_Iterable[_Union[SessionInfo, _Mapping]]] = ...) -> None: ...

class SetRiskLimitsRequest(_message.Message):
    __slots__ = ("session_id", "limits")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    limits: RiskLimits
    def __init__(self, session_id: _Optional[str] = ..., limits: _Optional[_Union[RiskLimits, _Mapping]] = ...) -> None: ...

class SetRiskLimitsResponse(_message.Message):
    __slots__ = ("limits",)
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: RiskLimits
    def __init__(self, limits: _Optional[_Union[RiskLimits, _Mapping]] = ...) -> None: ...

class GetRiskLimitsRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class GetRiskLimitsResponse(_message.Message):
    __slots__ = ("limits", "kill_switch", "global_kill_switch", "reason")
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    KILL_SWITCH_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_KILL_SWITCH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    limits: RiskLimits
    kill_switch: bool
    global_kill_switch: bool
    reason: str
    def __init__(self, limits: _Optional[_Union[RiskLimits, _Mapping]] = ..., kill_switch: _Optional[bool] = ..., global_kill_switch: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class EngageKillSwitchRequest(_message.Message):
    __slots__ = ("session_id", "reason", "account")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    reason: str
    account: str
    def __init__(self, session_id: _Optional[str] = ..., reason: _Optional[str] = ..., account: _Optional[str] = ...) -> None: ...

class EngageKillSwitchResponse(_message.Message):
    __slots__ = ("cl_order_ids",)
    CL_ORDER_IDS_FIELD_NUMBER: _ClassVar[int]
    cl_order_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cl_order_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ReleaseKillSwitchRequest(_message.Message):
    __slots__ = ("session_id", "account")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    account: str
    def __init__(self, session_id: _Optional[str] = ..., account: _Optional[str] = ...) -> None: ...

class ReleaseKillSwitchResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAuditRecordsRequest(_message.Message):
    __slots__ = ("from_time", "to_time", "key_id", "method", "session_id", "outcome", "unauthenticated", "after_id", "limit")
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    UNAUTHENTICATED_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    from_time: int
    to_time: int
    key_id: str
    method: str
    session_id: str
    outcome: str
    unauthenticated: bool
    after_id: int
    limit: int
    def __init__(self, from_time: _Optional[int] = ..., to_time: _Optional[int] = ..., key_id: _Optional[str] = ..., method: _Optional[str] = ..., session_id: _Optional[str] = ..., outcome: _Optional[str] = ..., unauthenticated: _Optional[bool] = ..., after_id: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class AuditRecord(_message.Message):
    __slots__ = ("id", "time", "key_id", "peer", "method", "session_ids", "cl_order_ids", "outcome")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SESSION_IDS_FIELD_NUMBER: _ClassVar[int]
    CL_ORDER_IDS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    id: int
    time: int
    key_id: str
    peer: str
    method: str
    session_ids: _containers.RepeatedScalarFieldContainer[str]
    cl_order_ids: _containers.RepeatedScalarFieldContainer[str]
    outcome: str
    def __init__(self, id: _Optional[int] = ..., time: _Optional[int] = ..., key_id: _Optional[str] = ..., peer: _Optional[str] = ..., method: _Optional[str] = ..., session_ids: _Optional[_Iterable[str]] = ..., cl_order_ids: _Optional[_Iterable[str]] = ..., outcome: _Optional[str] = ...) -> None: ...

class ListAuditRecordsResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[AuditRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[AuditRecord, _Mapping]]] = ...) -> None: ...
