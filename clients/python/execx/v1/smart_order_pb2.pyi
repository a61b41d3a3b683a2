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

class SmartOrderAlgorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SMART_ORDER_ALGORITHM_UNSPECIFIED: _ClassVar[SmartOrderAlgorithm]
    SMART_ORDER_ALGORITHM_TWAP: _ClassVar[SmartOrderAlgorithm]
    SMART_ORDER_ALGORITHM_VWAP: _ClassVar[SmartOrderAlgorithm]

class SmartOrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SMART_ORDER_STATUS_UNSPECIFIED: _ClassVar[SmartOrderStatus]
    SMART_ORDER_STATUS_RUNNING: _ClassVar[SmartOrderStatus]
    SMART_ORDER_STATUS_COMPLETED: _ClassVar[SmartOrderStatus]
    SMART_ORDER_STATUS_CANCELLED: _ClassVar[SmartOrderStatus]
    SMART_ORDER_STATUS_FAILED: _ClassVar[SmartOrderStatus]

class SmartOrderEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SMART_ORDER_EVENT_TYPE_UNSPECIFIED: _ClassVar[SmartOrderEventType]
    SMART_ORDER_EVENT_TYPE_STATUS_CHANGE: _ClassVar[SmartOrderEventType]
    SMART_ORDER_EVENT_TYPE_TRADE_REQUEST: _ClassVar[SmartOrderEventType]
    SMART_ORDER_EVENT_TYPE_TRADE_FILL: _ClassVar[SmartOrderEventType]
    SMART_ORDER_EVENT_TYPE_NEW: _ClassVar[SmartOrderEventType]
    SMART_ORDER_EVENT_TYPE_ERROR: _ClassVar[SmartOrderEventType]

class SmartOrderCommandType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SMART_ORDER_COMMAND_TYPE_UNSPECIFIED: _ClassVar[SmartOrderCommandType]
    SMART_ORDER_COMMAND_TYPE_NEW: _ClassVar[SmartOrderCommandType]
    SMART_ORDER_COMMAND_TYPE_CANCEL: _ClassVar[SmartOrderCommandType]
    SMART_ORDER_COMMAND_TYPE_PARAM_CHANGE: _ClassVar[SmartOrderCommandType]
    SMART_ORDER_COMMAND_TYPE_SUBSCRIBE: _ClassVar[SmartOrderCommandType]
SMART_ORDER_ALGORITHM_UNSPECIFIED: SmartOrderAlgorithm
SMART_ORDER_ALGORITHM_TWAP: SmartOrderAlgorithm
SMART_ORDER_ALGORITHM_VWAP: SmartOrderAlgorithm
SMART_ORDER_STATUS_UNSPECIFIED: SmartOrderStatus
SMART_ORDER_STATUS_RUNNING: SmartOrderStatus
SMART_ORDER_STATUS_COMPLETED: SmartOrderStatus
SMART_ORDER_STATUS_CANCELLED: SmartOrderStatus
SMART_ORDER_STATUS_FAILED: SmartOrderStatus
SMART_ORDER_EVENT_TYPE_UNSPECIFIED: SmartOrderEventType
SMART_ORDER_EVENT_TYPE_STATUS_CHANGE: SmartOrderEventType
SMART_ORDER_EVENT_TYPE_TRADE_REQUEST: SmartOrderEventType
SMART_ORDER_EVENT_TYPE_TRADE_FILL: SmartOrderEventType
SMART_ORDER_EVENT_TYPE_NEW: SmartOrderEventType
SMART_ORDER_EVENT_TYPE_ERROR: SmartOrderEventType
SMART_ORDER_COMMAND_TYPE_UNSPECIFIED: SmartOrderCommandType
SMART_ORDER_COMMAND_TYPE_NEW: SmartOrderCommandType
SMART_ORDER_COMMAND_TYPE_CANCEL: SmartOrderCommandType
SMART_ORDER_COMMAND_TYPE_PARAM_CHANGE: SmartOrderCommandType
SMART_ORDER_COMMAND_TYPE_SUBSCRIBE: SmartOrderCommandType

class SmartOrderParameters(_message.Message):
    __slots__ = ("side", "symbol", "symbol_type", "amount", "duration", "interval", "limit_price", "maker", "max_behind", "safety_threshold")
    SIDE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_TYPE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    MAKER_FIELD_NUMBER: _ClassVar[int]
    MAX_BEHIND_FIELD_NUMBER: _ClassVar[int]
    SAFETY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    side: _common_pb2.Side
    symbol: str
    symbol_type: str
    amount: float
    duration: str
    interval: str
    limit_price: float
    maker: bool
    max_behind: float
    safety_threshold: float
    def __init__(self, side: _Optional[_Union[_common_pb2.Side, str]] = ..., symbol: _Optional[str] = ..., symbol_type: _Optional[str] = ..., amount: _Optional[float] = ..., duration: _Optional[str] = ..., interval: _Optional[str] = ..., limit_price: _Optional[float] = ..., maker: _Optional[bool] = ..., max_behind: _Optional[float] = ..., safety_threshold: _Optional[float] = ...) -> None: ...

class SmartOrderFill(_message.Message):
    __slots__ = ("exchange", "amount_filled", "price", "time_stamp", "order_id", "maker", "fee", "fee_asset")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FILLED_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    MAKER_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    FEE_ASSET_FIELD_NUMBER: _ClassVar[int]
    exchange: _common_pb2.Exchange
    amount_filled: float
    price: float
    time_stamp: str
    order_id: str
    maker: bool
    fee: float
    fee_asset: str
    def __init__(self, exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., amount_filled: _Optional[float] = ..., price: _Optional[float] = ..., time_stamp: _Optional[str] = ..., order_id: _Optional[str] = ..., maker: _Optional[bool] = ..., fee: _Optional[float] = ..., fee_asset: _Optional[str] = ...) -> None: ...

class SmartOrderChild(_message.Message):
    __slots__ = ("order_id", "slice", "sent_time", "qty", "price", "kind", "filled", "status", "exchange")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SLICE_FIELD_NUMBER: _ClassVar[int]
    SENT_TIME_FIELD_NUMBER: _ClassVar[int]
    QTY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILLED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    slice: int
    sent_time: str
    qty: float
    price: float
    kind: str
    filled: float
    status: str
    exchange: _common_pb2.Exchange
    def __init__(self, order_id: _Optional[str] = ..., slice: _Optional[int] = ..., sent_time: _Optional[str] = ..., qty: _Optional[float] = ..., price: _Optional[float] = ..., kind: _Optional[str] = ..., filled: _Optional[float] = ..., status: _Optional[str] = ..., exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ...) -> None: ...

class SmartOrderVenue(_message.Message):
    __slots__ = ("exchange", "session_id", "status", "children", "filled", "average_price")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    FILLED_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_PRICE_FIELD_NUMBER: _ClassVar[int]
    exchange: _common_pb2.Exchange
    session_id: str
    status: str
    children: int
    filled: float
    average_price: float
    def __init__(self, exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., session_id: _Optional[str] = ..., status: _Optional[str] = ..., children: _Optional[int] = ..., filled: _Optional[float] = ..., average_price: _Optional[float] = ...) -> None: ...

class SmartOrder(_message.Message):
    __slots__ = ("id", "status", "status_info", "symbol", "amount", "algorithm", "side", "duration", "interval", "exchanges", "status_history", "parameters_updates", "fills", "session_id", "parameters", "filled", "average_price", "maker_fraction", "fees", "fee_asset", "arrival_mid", "start_time", "end_time", "children", "venues")
    class StatusHistoryEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ParametersUpdatesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: SmartOrderParameters
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[SmartOrderParameters, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_INFO_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_FIELD_NUMBER: _ClassVar[int]
    STATUS_HISTORY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_UPDATES_FIELD_NUMBER: _ClassVar[int]
    FILLS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    FILLED_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_PRICE_FIELD_NUMBER: _ClassVar[int]
    MAKER_FRACTION_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    FEE_ASSET_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_MID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    VENUES_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: SmartOrderStatus
    status_info: str
    symbol: str
    amount: float
    algorithm: SmartOrderAlgorithm
    side: _common_pb2.Side
    duration: str
    interval: str
    exchanges: _containers.RepeatedScalarFieldContainer[_common_pb2.Exchange]
    status_history: _containers.ScalarMap[str, str]
    parameters_updates: _containers.MessageMap[str, SmartOrderParameters]
    fills: _containers.RepeatedCompositeFieldContainer[SmartOrderFill]
    session_id: str
    parameters: SmartOrderParameters
    filled: float
    average_price: float
    maker_fraction: float
    fees: float
    fee_asset: str
    arrival_mid: float
    start_time: str
    end_time: str
    children: _containers.RepeatedCompositeFieldContainer[SmartOrderChild]
    venues: _containers.RepeatedCompositeFieldContainer[SmartOrderVenue]
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[SmartOrderStatus, str]] = ..., status_info: _Optional[str] = ..., symbol: _Optional[str] = ..., amount: _Optional[float] = ..., algorithm: _Optional[_Union[SmartOrderAlgorithm, str]] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., duration: _Optional[str] = ..., interval: _Optional[str] = ..., exchanges: _Optional[_Iterable[_Union[_common_pb2.Exchange, str]]] = ..., status_history: _Optional[_Mapping[str, str]] = ..., parameters_updates: _Optional[_Mapping[str, SmartOrderParameters]] = ..., fills: _Optional[_Iterable[_Union[SmartOrderFill, _Mapping]]] = ..., session_id: _Optional[str] = ..., parameters: _Optional[_Union[SmartOrderParameters, _Mapping]] = ..., filled: _Optional[float] = ..., average_price: _Optional[float] = ..., maker_fraction: _Optional[float] = ..., fees: _Optional[float] = ..., fee_asset: _Optional[str] = ..., arrival_mid: _Optional[float] = ..., start_time: _Optional[str] = ..., end_time: _Optional[str] = ..., children: _Optional[_Iterable[_Union[SmartOrderChild, _Mapping]]] = ..., venues: _Optional[_Iterable[_Union[SmartOrderVenue, _Mapping]]] = ...) -> None: ...

class ListSmartOrdersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSmartOrdersResponse(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[SmartOrder]
    def __init__(self, requests: _Optional[_Iterable[_Union[SmartOrder, _Mapping]]] = ...) -> None: ...

class AddSmartOrderRequest(_message.Message):
    __slots__ = ("algorithm", "exchanges", "parameters", "session_id", "id")
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    algorithm: SmartOrderAlgorithm
    exchanges: _containers.RepeatedScalarFieldContainer[_common_pb2.Exchange]
    parameters: SmartOrderParameters
    session_id: str
    id: str
    def __init__(self, algorithm: _Optional[_Union[SmartOrderAlgorithm, str]] = ..., exchanges: _Optional[_Iterable[_Union[_common_pb2.Exchange, str]]] = ..., parameters: _Optional[_Union[SmartOrderParameters, _Mapping]] = ..., session_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class AddSmartOrderResponse(_message.Message):
    __slots__ = ("type", "id", "exchanges", "algorithm", "parameters")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    type: str
    id: str
    exchanges: _containers.RepeatedScalarFieldContainer[_common_pb2.Exchange]
    algorithm: SmartOrderAlgorithm
    parameters: SmartOrderParameters
    def __init__(self, type: _Optional[str] = ..., id: _Optional[str] = ..., exchanges: _Optional[_Iterable[_Union[_common_pb2.Exchange, str]]] = ..., algorithm: _Optional[_Union[SmartOrderAlgorithm, str]] = ..., parameters: _Optional[_Union[SmartOrderParameters, _Mapping]] = ...) -> None: ...

class CancelSmartOrderRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelSmartOrderResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SmartOrderParametersChange(_message.Message):
    __slots__ = ("amount", "duration", "interval", "limit_price")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    amount: float
    duration: str
    interval: str
    limit_price: float
    def __init__(self, amount: _Optional[float] = ..., duration: _Optional[str] = ..., interval: _Optional[str] = ..., limit_price: _Optional[float] = ...) -> None: ...

class UpdateSmartOrderRequest(_message.Message):
    __slots__ = ("id", "parameters")
    ID_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    parameters: SmartOrderParametersChange
    def __init__(self, id: _Optional[str] = ..., parameters: _Optional[_Union[SmartOrderParametersChange, _Mapping]] = ...) -> None: ...

class UpdateSmartOrderResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Balance(_message.Message):
    __slots__ = ("id", "asset_id_exchange", "asset_id_coinapi", "balance", "available", "locked", "traded", "last_updated_by", "rate_usd")
    ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_ID_EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    ASSET_ID_COINAPI_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    TRADED_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    RATE_USD_FIELD_NUMBER: _ClassVar[int]
    id: str
    asset_id_exchange: str
    asset_id_coinapi: str
    balance: float
    available: float
    locked: float
    traded: float
    last_updated_by: str
    rate_usd: float
    def __init__(self, id: _Optional[str] = ..., asset_id_exchange: _Optional[str] = ..., asset_id_coinapi: _Optional[str] = ..., balance: _Optional[float] = ..., available: _Optional[float] = ..., locked: _Optional[float] = ..., traded: _Optional[float] = ..., last_updated_by: _Optional[str] = ..., rate_usd: _Optional[float] = ...) -> None: ...

class ExchangeBalances(_message.Message):
    __slots__ = ("balances",)
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    balances: _containers.RepeatedCompositeFieldContainer[Balance]
    def __init__(self, balances: _Optional[_Iterable[_Union[Balance, _Mapping]]] = ...) -> None: ...

class GetBalancesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBalancesResponse(_message.Message):
    __slots__ = ("balances",)
    class BalancesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ExchangeBalances
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ExchangeBalances, _Mapping]] = ...) -> None: ...
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    balances: _containers.MessageMap[str, ExchangeBalances]
    def __init__(self, balances: _Optional[_Mapping[str, ExchangeBalances]] = ...) -> None: ...

class OpenOrder(_message.Message):
    __slots__ = ("id", "client_order_id_format_exchange", "exchange_order_id", "amount_open", "amount_filled", "status", "status_history", "error_message", "fills", "exchange_id", "client_order_id", "symbol_id_exchange", "symbol_id_coinapi", "amount_order", "price", "avg_px", "side", "order_type", "time_in_force", "expire_time", "exec_inst")
    ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FORMAT_EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_OPEN_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FILLED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_HISTORY_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FILLS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_ID_EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_ID_COINAPI_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_ORDER_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    AVG_PX_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXEC_INST_FIELD_NUMBER: _ClassVar[int]
    id: str
    client_order_id_format_exchange: str
    exchange_order_id: str
    amount_open: float
    amount_filled: float
    status: str
    status_history: _containers.RepeatedCompositeFieldContainer[OpenOrderStatusChange]
    error_message: str
    fills: _containers.RepeatedCompositeFieldContainer[SmartOrderFill]
    exchange_id: str
    client_order_id: str
    symbol_id_exchange: str
    symbol_id_coinapi: str
    amount_order: float
    price: float
    avg_px: float
    side: str
    order_type: str
    time_in_force: str
    expire_time: str
    exec_inst: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., client_order_id_format_exchange: _Optional[str] = ..., exchange_order_id: _Optional[str] = ..., amount_open: _Optional[float] = ..., amount_filled: _Optional[float] = ..., status: _Optional[str] = ..., status_history: _Optional[_Iterable[_Union[OpenOrderStatusChange, _Mapping]]] = ..., error_message: _Optional[str] = ..., fills: _Optional[_Iterable[_Union[SmartOrderFill, _Mapping]]] = ..., exchange_id: _Optional[str] = ..., client_order_id: _Optional[str] = ..., symbol_id_exchange: _Optional[str] = ..., symbol_id_coinapi: _Optional[str] = ..., amount_order: _Optional[float] = ..., price: _Optional[float] = ..., avg_px: _Optional[float] = ..., side: _Optional[str] = ..., order_type: _Optional[str] = ..., time_in_force: _Optional[str] = ..., expire_time: _Optional[str] = ..., exec_inst: _Optional[_Iterable[str]] = ...) -> None: ...

class OpenOrderStatusChange(_message.Message):
    __slots__ = ("status", "time")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    status: str
    time: str
    def __init__(self, status: _Optional[str] = ..., time: _Optional[str] = ...) -> None: ...

class ExchangeOpenOrders(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[OpenOrder]
    def __init__(self, orders: _Optional[_Iterable[_Union[OpenOrder, _Mapping]]] = ...) -> None: ...

class GetOpenOrdersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetOpenOrdersResponse(_message.Message):
    __slots__ = ("orders",)
    class OrdersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ExchangeOpenOrders
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ExchangeOpenOrders, _Mapping]] = ...) -> None: ...
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.MessageMap[str, ExchangeOpenOrders]
    def __init__(self, orders: _Optional[_Mapping[str, ExchangeOpenOrders]] = ...) -> None: ...

class OpenPosition(_message.Message):
    __slots__ = ("id", "symbol_id_exchange", "symbol_id_coinapi", "avg_entry_price", "quantity", "side", "unrealized_pnl", "leverage", "cross_margin", "liquidation_price", "raw_data")
    ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_ID_EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_ID_COINAPI_FIELD_NUMBER: _ClassVar[int]
    AVG_ENTRY_PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    UNREALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    LEVERAGE_FIELD_NUMBER: _ClassVar[int]
    CROSS_MARGIN_FIELD_NUMBER: _ClassVar[int]
    LIQUIDATION_PRICE_FIELD_NUMBER: _ClassVar[int]
    RAW_DATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    symbol_id_exchange: str
    symbol_id_coinapi: str
    avg_entry_price: float
    quantity: float
    side: str
    unrealized_pnl: float
    leverage: float
    cross_margin: bool
    liquidation_price: float
    raw_data: str
    def __init__(self, id: _Optional[str] = ..., symbol_id_exchange: _Optional[str] = ..., symbol_id_coinapi: _Optional[str] = ..., avg_entry_price: _Optional[float] = ..., quantity: _Optional[float] = ..., side: _Optional[str] = ..., unrealized_pnl: _Optional[float] = ..., leverage: _Optional[float] = ..., cross_margin: _Optional[bool] = ..., liquidation_price: _Optional[float] = ..., raw_data: _Optional[str] = ...) -> None: ...

class ExchangeOpenPositions(_message.Message):
    __slots__ = ("positions",)
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[OpenPosition]
    def __init__(self, positions: _Optional[_Iterable[_Union[OpenPosition, _Mapping]]] = ...) -> None: ...

class GetOpenPositionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetOpenPositionsResponse(_message.Message):
    __slots__ = ("positions",)
    class PositionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ExchangeOpenPositions
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ExchangeOpenPositions, _Mapping]] = ...) -> None: ...
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.MessageMap[str, ExchangeOpenPositions]
    def __init__(self, positions: _Optional[_Mapping[str, ExchangeOpenPositions]] = ...) -> None: ...

class SubscribeSmartOrdersRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class SmartOrderTradeFill(_message.Message):
    __slots__ = ("order_id", "exchange", "symbol_id", "amount_filled", "price", "side", "status", "time_stamp")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FILLED_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    exchange: str
    symbol_id: str
    amount_filled: float
    price: float
    side: _common_pb2.Side
    status: str
    time_stamp: str
    def __init__(self, order_id: _Optional[str] = ..., exchange: _Optional[str] = ..., symbol_id: _Optional[str] = ..., amount_filled: _Optional[float] = ..., price: _Optional[float] = ..., side: _Optional[_Union[_common_pb2.Side, str]] = ..., status: _Optional[str] = ..., time_stamp: _Optional[str] = ...) -> None: ...

class SmartOrderStatusChange(_message.Message):
    __slots__ = ("id", "total_filled", "fills_count", "status", "fills")
    ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FILLED_FIELD_NUMBER: _ClassVar[int]
    FILLS_COUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FILLS_FIELD_NUMBER: _ClassVar[int]
    id: str
    total_filled: float
    fills_count: int
    status: SmartOrderStatus
    fills: _containers.RepeatedCompositeFieldContainer[SmartOrderTradeFill]
    def __init__(self, id: _Optional[str] = ..., total_filled: _Optional[float] = ..., fills_count: _Optional[int] = ..., status: _Optional[_Union[SmartOrderStatus, str]] = ..., fills: _Optional[_Iterable[_Union[SmartOrderTradeFill, _Mapping]]] = ...) -> None: ...

class SmartOrderTradeRequest(_message.Message):
    __slots__ = ("type", "exchange_id", "client_order_id", "symbol_id_exchange", "symbol_id_coinapi", "amount_order", "price", "avg_px", "side", "order_type", "time_in_force", "expire_time", "exec_inst")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_ID_EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_ID_COINAPI_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_ORDER_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    AVG_PX_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXEC_INST_FIELD_NUMBER: _ClassVar[int]
    type: str
    exchange_id: str
    client_order_id: str
    symbol_id_exchange: str
    symbol_id_coinapi: str
    amount_order: float
    price: float
    avg_px: float
    side: str
    order_type: str
    time_in_force: str
    expire_time: str
    exec_inst: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, type: _Optional[str] = ..., exchange_id: _Optional[str] = ..., client_order_id: _Optional[str] = ..., symbol_id_exchange: _Optional[str] = ..., symbol_id_coinapi: _Optional[str] = ..., amount_order: _Optional[float] = ..., price: _Optional[float] = ..., avg_px: _Optional[float] = ..., side: _Optional[str] = ..., order_type: _Optional[str] = ..., time_in_force: _Optional[str] = ..., expire_time: _Optional[str] = ..., exec_inst: _Optional[_Iterable[str]] = ...) -> None: ...

class SubscribeSmartOrdersResponse(_message.Message):
    __slots__ = ("type", "composite_id", "status_change", "trade_request", "trade_fill", "new_order", "error")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    COMPOSITE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_CHANGE_FIELD_NUMBER: _ClassVar[int]
    TRADE_REQUEST_FIELD_NUMBER: _ClassVar[int]
    TRADE_FILL_FIELD_NUMBER: _ClassVar[int]
    NEW_ORDER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    type: SmartOrderEventType
    composite_id: str
    status_change: SmartOrderStatusChange
    trade_request: SmartOrderTradeRequest
    trade_fill: SmartOrderTradeFill
    new_order: AddSmartOrderResponse
    error: SmartOrderCommandError
    def __init__(self, type: _Optional[_Union[SmartOrderEventType, str]] = ..., composite_id: _Optional[str] = ..., status_change: _Optional[_Union[SmartOrderStatusChange, _Mapping]] = ..., trade_request: _Optional[_Union[SmartOrderTradeRequest, _Mapping]] = ..., trade_fill: _Optional[_Union[SmartOrderTradeFill, _Mapping]] = ..., new_order: _Optional[_Union[AddSmartOrderResponse, _Mapping]] = ..., error: _Optional[_Union[SmartOrderCommandError, _Mapping]] = ...) -> None: ...

class SmartOrderCommand(_message.Message):
    __slots__ = ("type", "id", "algorithm", "exchanges", "parameters", "session_id")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    type: SmartOrderCommandType
    id: str
    algorithm: SmartOrderAlgorithm
    exchanges: _containers.RepeatedScalarFieldContainer[_common_pb2.Exchange]
    parameters: SmartOrderParameters
    session_id: str
    def __init__(self, type: _Optional[_Union[SmartOrderCommandType, str]] = ..., id: _Optional[str] = ..., algorithm: _Optional[_Union[SmartOrderAlgorithm, str]] = ..., exchanges: _Optional[_Iterable[_Union[_common_pb2.Exchange, str]]] = ..., parameters: _Optional[_Union[SmartOrderParameters, _Mapping]] = ..., session_id: _Optional[str] = ...) -> None: ...

class SmartOrderCommandError(_message.Message):
    __slots__ = ("command", "code", "status", "message", "field")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    command: str
    code: int
    status: str
    message: str
    field: str
    def __init__(self, command: _Optional[str] = ..., code: _Optional[int] = ..., status: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...
