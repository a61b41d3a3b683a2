"""Venue-neutral types of the simulated exchange: orders, fills and the events the engine publishes.

Every price and quantity is a ``Decimal``. Front-ends translate these to and from their venue's
wire format; nothing in ``core`` knows any venue's field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

ZERO = Decimal(0)


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"  # post-only: never takes liquidity


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    UNTRIGGERED = "UNTRIGGERED"  # a conditional order waiting for its trigger (``Trigger``)
    TRIGGERED = "TRIGGERED"  # a conditional order that fired and placed a separate child order (``Trigger.spawn``)

    @property
    def is_open(self) -> bool:
        return self is OrderStatus.NEW or self is OrderStatus.PARTIALLY_FILLED


_NEW, _PARTIALLY_FILLED = OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED


class STPMode(StrEnum):
    """Self-trade prevention: what happens when an account's taker order meets its own maker order."""

    NONE = "NONE"  # trade with yourself
    EXPIRE_TAKER = "EXPIRE_TAKER"
    EXPIRE_MAKER = "EXPIRE_MAKER"
    EXPIRE_BOTH = "EXPIRE_BOTH"


class PostOnlyCross(StrEnum):
    """How a venue handles a post-only order that would take liquidity."""

    REJECT = "REJECT"  # synchronous error, no order recorded (Binance LIMIT_MAKER / GTX)
    CANCEL = "CANCEL"  # order accepted then cancelled (Bybit PostOnly, OKX post_only, Deribit reject_post_only=false)


class ExecType(StrEnum):
    NEW = "NEW"
    TRADE = "TRADE"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    AMENDED = "AMENDED"
    REJECTED = "REJECTED"
    TRIGGERED = "TRIGGERED"  # a conditional order fired: it is NEW now and matches next


class RejectReason(StrEnum):
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    PRICE_FILTER = "PRICE_FILTER"
    PERCENT_PRICE = "PERCENT_PRICE"
    LOT_SIZE = "LOT_SIZE"
    MARKET_LOT_SIZE = "MARKET_LOT_SIZE"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
    POST_ONLY_WOULD_TAKE = "POST_ONLY_WOULD_TAKE"
    DUPLICATE_CLIENT_ID = "DUPLICATE_CLIENT_ID"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    ORDER_NOT_OPEN = "ORDER_NOT_OPEN"
    REDUCE_ONLY = "REDUCE_ONLY"
    INVALID_AMEND = "INVALID_AMEND"
    NO_LIQUIDITY = "NO_LIQUIDITY"
    WOULD_TRIGGER_IMMEDIATELY = "WOULD_TRIGGER_IMMEDIATELY"  # a conditional order's level is already crossed
    INJECTED = "INJECTED"  # fault injection


class OrderError(Exception):
    """The engine refused a request. Front-ends map ``reason`` to their venue's error code."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail


class TriggerRef(StrEnum):
    """The price a conditional order watches. The simulator has no index: ``INDEX`` reads the mark."""

    LAST = "LAST"  # the last trade price of the symbol
    MARK = "MARK"  # the mark price (the book's mid, else the last trade, else the reference price)
    INDEX = "INDEX"


class Direction(StrEnum):
    RISE = "RISE"  # fires when the reference price is at or above the level
    FALL = "FALL"  # fires when the reference price is at or below the level


@dataclass(slots=True, eq=False)
class Trigger:
    """What makes a conditional order fire (stop, take-profit, trailing stop; every venue's flavour).

    A fixed trigger fires when the reference is at or beyond ``price`` in ``direction`` (a gap through
    the level fires it). A trailing trigger (``offset`` in price or ``rate`` as a fraction) becomes
    active once the reference reaches ``activation`` (at once without one), then follows the best
    reference seen (``extreme``: the highest for a FALL, the lowest for a RISE); its level, kept in
    ``price``, is that extreme minus (FALL) or plus (RISE) the distance, and only ever tightens.
    ``spawn``: on firing, the conditional order ends ``TRIGGERED`` and a separate child order is
    placed (Binance's and OKX's algo orders); otherwise the order itself becomes ``NEW`` under the same
    id (Bybit, Deribit)."""

    direction: Direction
    price: Decimal | None = None
    ref: TriggerRef = TriggerRef.LAST
    offset: Decimal | None = None
    rate: Decimal | None = None
    activation: Decimal | None = None
    # the way the reference reaches ``activation``: None = against the trail (a RISE trail starts once the
    # price fell to it, a FALL trail once it rose to it); Binance spot's trailing stop-loss starts the
    # other way (a sell once the price fell to its stopPrice)
    activation_direction: Direction | None = None
    extreme: Decimal | None = None
    spawn: bool = False
    fired_ms: int = 0
    fired_price: Decimal | None = None  # the reference price that fired it
    child: Order | None = None  # spawn: the order it placed

    @property
    def trailing(self) -> bool:
        return self.offset is not None or self.rate is not None


@dataclass(slots=True, eq=False)
class Order:
    order_id: int
    client_id: str
    account_id: str
    market: str
    symbol: str
    side: Side
    type: OrderType
    tif: TimeInForce
    price: Decimal | None
    qty: Decimal
    created_ms: int
    updated_ms: int
    stp: STPMode = STPMode.NONE
    reduce_only: bool = False
    quote_qty: Decimal | None = None  # market orders sized in quote currency (spot)
    filled: Decimal = ZERO
    cum_quote: Decimal = ZERO  # sum(price * qty) of fills
    status: OrderStatus = OrderStatus.NEW
    expire_reason: str = ""  # "STP", "IOC", "FOK", "NO_LIQUIDITY", "POST_ONLY", "COUNTDOWN"...
    seq: int = 0  # time priority: higher = later
    locked: Decimal = ZERO  # spot: funds locked by this order; futures: initial margin reserved
    amend_count: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # venue-specific pass-through fields
    trigger: Trigger | None = None  # a conditional order's trigger (None: a plain order)

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.filled if self.filled else ZERO

    @property
    def is_open(self) -> bool:
        status = self.status
        return status is _NEW or status is _PARTIALLY_FILLED


@dataclass(slots=True, unsafe_hash=True)  # immutable by convention; frozen=True costs ~1 µs per event
class Fill:
    trade_id: int
    order_id: int
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    time_ms: int
    realized_pnl: Decimal = ZERO


@dataclass(slots=True, unsafe_hash=True)  # immutable by convention; frozen=True costs ~1 µs per event
class OrderEvent:
    """One change of one order. ``order`` is the live object: serialise it inside the callback."""

    market: str
    order: Order
    exec_type: ExecType
    fill: Fill | None = None


@dataclass(slots=True, unsafe_hash=True)  # immutable by convention; frozen=True costs ~1 µs per event
class PublicTrade:
    market: str
    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    taker_side: Side
    time_ms: int


@dataclass(slots=True, unsafe_hash=True)  # immutable by convention; frozen=True costs ~1 µs per event
class BookTop:
    market: str
    symbol: str
    update_id: int
    bid: Decimal | None
    bid_qty: Decimal
    ask: Decimal | None
    ask_qty: Decimal
    time_ms: int


@dataclass(slots=True, unsafe_hash=True)  # immutable by convention; frozen=True costs ~1 µs per event
class AccountEvent:
    """Balances and/or positions of an account changed on a market (emitted once per operation)."""

    market: str
    account_id: str
    assets: frozenset[str]
    symbols: frozenset[str]
    reason: str  # "ORDER", "FUNDING", "ADMIN", ...
    time_ms: int


Event = OrderEvent | PublicTrade | BookTop | AccountEvent
