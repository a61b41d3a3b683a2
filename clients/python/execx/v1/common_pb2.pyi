from execx.v1 import options_pb2 as _options_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Exchange(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXCHANGE_UNSPECIFIED: _ClassVar[Exchange]
    EXCHANGE_BINANCE_SPOT: _ClassVar[Exchange]
    EXCHANGE_BINANCE_USDM_FUTURE: _ClassVar[Exchange]
    EXCHANGE_BINANCE_COINM_FUTURE: _ClassVar[Exchange]
    EXCHANGE_BYBIT_SPOT: _ClassVar[Exchange]
    EXCHANGE_BYBIT_LINEAR: _ClassVar[Exchange]
    EXCHANGE_BYBIT_INVERSE: _ClassVar[Exchange]
    EXCHANGE_BYBIT_OPTION: _ClassVar[Exchange]
    EXCHANGE_OKX: _ClassVar[Exchange]
    EXCHANGE_DERIBIT: _ClassVar[Exchange]
    EXCHANGE_PULSE: _ClassVar[Exchange]

class LogLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_LEVEL_UNSPECIFIED: _ClassVar[LogLevel]
    LOG_LEVEL_DEBUG: _ClassVar[LogLevel]
    LOG_LEVEL_INFO: _ClassVar[LogLevel]
    LOG_LEVEL_WARN: _ClassVar[LogLevel]
    LOG_LEVEL_ERROR: _ClassVar[LogLevel]

class OrderType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_TYPE_UNSPECIFIED: _ClassVar[OrderType]
    ORDER_TYPE_LIMIT: _ClassVar[OrderType]
    ORDER_TYPE_MARKET: _ClassVar[OrderType]
    ORDER_TYPE_POSTONLY: _ClassVar[OrderType]

class TransactionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSACTION_TYPE_UNSPECIFIED: _ClassVar[TransactionType]
    TRANSACTION_TYPE_INSERT: _ClassVar[TransactionType]
    TRANSACTION_TYPE_UPDATE: _ClassVar[TransactionType]
    TRANSACTION_TYPE_DELETE: _ClassVar[TransactionType]
    TRANSACTION_TYPE_PULL: _ClassVar[TransactionType]

class TimeInForce(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIME_IN_FORCE_UNSPECIFIED: _ClassVar[TimeInForce]
    TIME_IN_FORCE_GTC: _ClassVar[TimeInForce]
    TIME_IN_FORCE_IOC: _ClassVar[TimeInForce]
    TIME_IN_FORCE_DAY: _ClassVar[TimeInForce]
    TIME_IN_FORCE_FOK: _ClassVar[TimeInForce]

class Side(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIDE_UNSPECIFIED: _ClassVar[Side]
    SIDE_BUY: _ClassVar[Side]
    SIDE_SELL: _ClassVar[Side]

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_UNSPECIFIED: _ClassVar[OrderStatus]
    ORDER_STATUS_NEW: _ClassVar[OrderStatus]
    ORDER_STATUS_PARTIALLY_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_CANCELLED: _ClassVar[OrderStatus]
    ORDER_STATUS_REJECTED: _ClassVar[OrderStatus]
    ORDER_STATUS_EXPIRED: _ClassVar[OrderStatus]
    ORDER_STATUS_PENDING_NEW: _ClassVar[OrderStatus]
    ORDER_STATUS_PENDING_UPDATE: _ClassVar[OrderStatus]
    ORDER_STATUS_PENDING_CANCEL: _ClassVar[OrderStatus]
    ORDER_STATUS_PENDING_TRIGGER: _ClassVar[OrderStatus]
    ORDER_STATUS_TRIGGERED: _ClassVar[OrderStatus]

class TradeLiquidity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRADE_LIQUIDITY_UNSPECIFIED: _ClassVar[TradeLiquidity]
    TRADE_LIQUIDITY_ADD: _ClassVar[TradeLiquidity]
    TRADE_LIQUIDITY_REMOVE: _ClassVar[TradeLiquidity]

class RunnerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUNNER_STATE_UNSPECIFIED: _ClassVar[RunnerState]
    RUNNER_STATE_RUNNING: _ClassVar[RunnerState]
    RUNNER_STATE_PAUSED: _ClassVar[RunnerState]
    RUNNER_STATE_STOPPED: _ClassVar[RunnerState]
    RUNNER_STATE_FAILED: _ClassVar[RunnerState]
EXCHANGE_UNSPECIFIED: Exchange
EXCHANGE_BINANCE_SPOT: Exchange
EXCHANGE_BINANCE_USDM_FUTURE: Exchange
EXCHANGE_BINANCE_COINM_FUTURE: Exchange
EXCHANGE_BYBIT_SPOT: Exchange
EXCHANGE_BYBIT_LINEAR: Exchange
EXCHANGE_BYBIT_INVERSE: Exchange
EXCHANGE_BYBIT_OPTION: Exchange
EXCHANGE_OKX: Exchange
EXCHANGE_DERIBIT: Exchange
EXCHANGE_PULSE: Exchange
LOG_LEVEL_UNSPECIFIED: LogLevel
LOG_LEVEL_DEBUG: LogLevel
LOG_LEVEL_INFO: LogLevel
LOG_LEVEL_WARN: LogLevel
LOG_LEVEL_ERROR: LogLevel
ORDER_TYPE_UNSPECIFIED: OrderType
ORDER_TYPE_LIMIT: OrderType
ORDER_TYPE_MARKET: OrderType
ORDER_TYPE_POSTONLY: OrderType
TRANSACTION_TYPE_UNSPECIFIED: TransactionType
TRANSACTION_TYPE_INSERT: TransactionType
TRANSACTION_TYPE_UPDATE: TransactionType
TRANSACTION_TYPE_DELETE: TransactionType
TRANSACTION_TYPE_PULL: TransactionType
TIME_IN_FORCE_UNSPECIFIED: TimeInForce
TIME_IN_FORCE_GTC: TimeInForce
TIME_IN_FORCE_IOC: TimeInForce
TIME_IN_FORCE_DAY: TimeInForce
TIME_IN_FORCE_FOK: TimeInForce
SIDE_UNSPECIFIED: Side
SIDE_BUY: Side
SIDE_SELL: Side
ORDER_STATUS_UNSPECIFIED: OrderStatus
ORDER_STATUS_NEW: OrderStatus
ORDER_STATUS_PARTIALLY_FILLED: OrderStatus
ORDER_STATUS_FILLED: OrderStatus
ORDER_STATUS_CANCELLED: OrderStatus
ORDER_STATUS_REJECTED: OrderStatus
ORDER_STATUS_EXPIRED: OrderStatus
ORDER_STATUS_PENDING_NEW: OrderStatus
ORDER_STATUS_PENDING_UPDATE: OrderStatus
ORDER_STATUS_PENDING_CANCEL: OrderStatus
ORDER_STATUS_PENDING_TRIGGER: OrderStatus
ORDER_STATUS_TRIGGERED: OrderStatus
TRADE_LIQUIDITY_UNSPECIFIED: TradeLiquidity
TRADE_LIQUIDITY_ADD: TradeLiquidity
TRADE_LIQUIDITY_REMOVE: TradeLiquidity
RUNNER_STATE_UNSPECIFIED: RunnerState
RUNNER_STATE_RUNNING: RunnerState
RUNNER_STATE_PAUSED: RunnerState
RUNNER_STATE_STOPPED: RunnerState
RUNNER_STATE_FAILED: RunnerState

class ExchangeKey(_message.Message):
    __slots__ = ("api_key", "secret_key", "passphrase", "exchange", "account_ref")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_KEY_FIELD_NUMBER: _ClassVar[int]
    PASSPHRASE_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_REF_FIELD_NUMBER: _ClassVar[int]
    api_key: str
    secret_key: str
    passphrase: str
    exchange: Exchange
    account_ref: str
    def __init__(self, api_key: _Optional[str] = ..., secret_key: _Optional[str] = ..., passphrase: _Optional[str] = ..., exchange: _Optional[_Union[Exchange, str]] = ..., account_ref: _Optional[str] = ...) -> None: ...

class OrderTransaction(_message.Message):
    __slots__ = ("exch_order_id", "message", "cl_order_id", "exchange", "symbol", "session_id", "trade_id", "local_time", "exch_time", "send_time", "price", "qty", "cumulative_filled_qty", "executed_qty", "remaining_qty", "order_type", "order_status", "transaction_type", "tif", "side", "trade_liquidity", "trigger_id", "seq", "fill_price", "avg_fill_price", "fee", "fee_currency", "replaced_exch_order_id", "group_id")
    EXCH_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CL_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    EXCH_TIME_FIELD_NUMBER: _ClassVar[int]
    SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QTY_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_FILLED_QTY_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_QTY_FIELD_NUMBER: _ClassVar[int]
    REMAINING_QTY_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    ORDER_STATUS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    TIF_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    TRADE_LIQUIDITY_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    FILL_PRICE_FIELD_NUMBER: _ClassVar[int]
    AVG_FILL_PRICE_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    FEE_CURRENCY_FIELD_NUMBER: _ClassVar[int]
    REPLACED_EXCH_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    exch_order_id: str
    message: str
    cl_order_id: str
    exchange: Exchange
    symbol: str
    session_id: str
    trade_id: str
    local_time: int
    exch_time: int
    send_time: int
    price: float
    qty: float
    cumulative_filled_qty: float
    executed_qty: float
    remaining_qty: float
    order_type: OrderType
    order_status: OrderStatus
    transaction_type: TransactionType
    tif: TimeInForce
    side: Side
    trade_liquidity: TradeLiquidity
    trigger_id: str
    seq: int
    fill_price: float
    avg_fill_price: float
    fee: float
    fee_currency: str
    replaced_exch_order_id: str
    group_id: str
    def __init__(self, exch_order_id: _Optional[str] = ..., message: _Optional[str] = ..., cl_order_id: _Optional[str] = ..., exchange: _Optional[_Union[Exchange, str]] = ..., symbol: _Optional[str] = ..., session_id: _Optional[str] = ..., trade_id: _Optional[str] = ..., local_time: _Optional[int] = ..., exch_time: _Optional[int] = ..., send_time: _Optional[int] = ..., price: _Optional[float] = ..., qty: _Optional[float] = ..., cumulative_filled_qty: _Optional[float] = ..., executed_qty: _Optional[float] = ..., remaining_qty: _Optional[float] = ..., order_type: _Optional[_Union[OrderType, str]] = ..., order_status: _Optional[_Union[OrderStatus, str]] = ..., transaction_type: _Optional[_Union[TransactionType, str]] = ..., tif: _Optional[_Union[TimeInForce, str]] = ..., side: _Optional[_Union[Side, str]] = ..., trade_liquidity: _Optional[_Union[TradeLiquidity, str]] = ..., trigger_id: _Optional[str] = ..., seq: _Optional[int] = ..., fill_price: _Optional[float] = ..., avg_fill_price: _Optional[float] = ..., fee: _Optional[float] = ..., fee_currency: _Optional[str] = ..., replaced_exch_order_id: _Optional[str] = ..., group_id: _Optional[str] = ...) -> None: ...

class Fill(_message.Message):
    __slots__ = ("seq", "session_id", "exchange", "symbol", "cl_order_id", "exch_order_id", "trade_id", "side", "price", "qty", "trade_liquidity", "fee", "fee_currency", "exch_time", "local_time", "trigger_id")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    CL_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    EXCH_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QTY_FIELD_NUMBER: _ClassVar[int]
    TRADE_LIQUIDITY_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    FEE_CURRENCY_FIELD_NUMBER: _ClassVar[int]
    EXCH_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    seq: int
    session_id: str
    exchange: Exchange
    symbol: str
    cl_order_id: str
    exch_order_id: str
    trade_id: str
    side: Side
    price: float
    qty: float
    trade_liquidity: TradeLiquidity
    fee: float
    fee_currency: str
    exch_time: int
    local_time: int
    trigger_id: str
    def __init__(self, seq: _Optional[int] = ..., session_id: _Optional[str] = ..., exchange: _Optional[_Union[Exchange, str]] = ..., symbol: _Optional[str] = ..., cl_order_id: _Optional[str] = ..., exch_order_id: _Optional[str] = ..., trade_id: _Optional[str] = ..., side: _Optional[_Union[Side, str]] = ..., price: _Optional[float] = ..., qty: _Optional[float] = ..., trade_liquidity: _Optional[_Union[TradeLiquidity, str]] = ..., fee: _Optional[float] = ..., fee_currency: _Optional[str] = ..., exch_time: _Optional[int] = ..., local_time: _Optional[int] = ..., trigger_id: _Optional[str] = ...) -> None: ...
