"""The EXECX API's enumerations, spelled exactly as the seed's JSON spells them."""

from __future__ import annotations

from enum import StrEnum


class Exchange(StrEnum):
    BINANCE_SPOT = "binance-spot"
    BINANCE_USDM_FUTURE = "binance-usdm-future"
    BINANCE_COINM_FUTURE = "binance-coinm-future"
    BYBIT_SPOT = "bybit-spot"
    BYBIT_LINEAR = "bybit-linear"
    BYBIT_INVERSE = "bybit-inverse"
    BYBIT_OPTION = "bybit-option"
    OKX = "okx"
    DERIBIT = "deribit"
    PULSE = "pulse"  # seed 004's Deribit-style JSON-RPC gateway


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    POSTONLY = "postonly"  # limit order that must add liquidity; refused or cancelled if it would take


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    DAY = "day"
    FOK = "fok"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class TransactionType(StrEnum):
    INSERT = "insert"  # new order
    UPDATE = "update"  # amend price/qty of the order named by clOrderId
    DELETE = "delete"  # cancel the order named by clOrderId
    PULL = "pull"  # cancel every open order of the session on the symbol


class Liquidity(StrEnum):
    ADD = "add"  # maker
    REMOVE = "remove"  # taker


class OrderStatus(StrEnum):
    """The seed's statuses plus the pending states an engine needs between request and venue answer."""

    PENDINGNEW = "pendingnew"  # sent, no venue answer yet (or outcome unknown, being reconciled)
    NEW = "new"
    PARTIALLYFILLED = "partiallyfilled"
    PENDINGUPDATE = "pendingupdate"  # amend sent, not yet acknowledged
    PENDINGCANCEL = "pendingcancel"  # cancel sent, not yet acknowledged
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    # a contingent order (managers/contingent.py) before its order is sent; in the store only when it is
    # native (held by the venue until it fires: pendingtrigger, then triggered)
    PENDINGTRIGGER = "pendingtrigger"
    TRIGGERED = "triggered"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
