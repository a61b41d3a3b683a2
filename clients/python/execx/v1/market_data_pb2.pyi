from execx.v1 import common_pb2 as _common_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubscribeMarketDataRequest(_message.Message):
    __slots__ = ("exchange", "symbol", "no_quotes", "no_trades")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    NO_QUOTES_FIELD_NUMBER: _ClassVar[int]
    NO_TRADES_FIELD_NUMBER: _ClassVar[int]
    exchange: _common_pb2.Exchange
    symbol: str
    no_quotes: bool
    no_trades: bool
    def __init__(self, exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ..., no_quotes: _Optional[bool] = ..., no_trades: _Optional[bool] = ...) -> None: ...

class Quote(_message.Message):
    __slots__ = ("bid_price", "bid_qty", "ask_price", "ask_qty")
    BID_PRICE_FIELD_NUMBER: _ClassVar[int]
    BID_QTY_FIELD_NUMBER: _ClassVar[int]
    ASK_PRICE_FIELD_NUMBER: _ClassVar[int]
    ASK_QTY_FIELD_NUMBER: _ClassVar[int]
    bid_price: float
    bid_qty: float
    ask_price: float
    ask_qty: float
    def __init__(self, bid_price: _Optional[float] = ..., bid_qty: _Optional[float] = ..., ask_price: _Optional[float] = ..., ask_qty: _Optional[float] = ...) -> None: ...

class Trade(_message.Message):
    __slots__ = ("trade_id", "price", "qty", "aggressor_side")
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QTY_FIELD_NUMBER: _ClassVar[int]
    AGGRESSOR_SIDE_FIELD_NUMBER: _ClassVar[int]
    trade_id: str
    price: float
    qty: float
    aggressor_side: _common_pb2.Side
    def __init__(self, trade_id: _Optional[str] = ..., price: _Optional[float] = ..., qty: _Optional[float] = ..., aggressor_side: _Optional[_Union[_common_pb2.Side, str]] = ...) -> None: ...

class MarketDataStatus(_message.Message):
    __slots__ = ("stale", "reason")
    STALE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    stale: bool
    reason: str
    def __init__(self, stale: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class SubscribeMarketDataResponse(_message.Message):
    __slots__ = ("exchange", "symbol", "exch_time", "local_time", "seq", "quote", "trade", "status")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    EXCH_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_TIME_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    QUOTE_FIELD_NUMBER: _ClassVar[int]
    TRADE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    exchange: _common_pb2.Exchange
    symbol: str
    exch_time: int
    local_time: int
    seq: int
    quote: Quote
    trade: Trade
    status: MarketDataStatus
    def __init__(self, exchange: _Optional[_Union[_common_pb2.Exchange, str]] = ..., symbol: _Optional[str] = ..., exch_time: _Optional[int] = ..., local_time: _Optional[int] = ..., seq: _Optional[int] = ..., quote: _Optional[_Union[Quote, _Mapping]] = ..., trade: _Optional[_Union[Trade, _Mapping]] = ..., status: _Optional[_Union[MarketDataStatus, _Mapping]] = ...) -> None: ...
