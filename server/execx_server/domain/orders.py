"""Orders: the client-order-id rules per venue, the status transition table and the order aggregate.

The transition table is the only authority on status changes. A venue report that the table does
not allow is refused with ``InvalidTransition`` (the engine logs and counts it; it is never applied
silently). Fills are applied once per ``trade_id``, so a fill replayed after a reconnect or a
reconciliation does not count twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from .enums import Exchange, Liquidity, OrderStatus, OrderType, Side, TimeInForce
from .errors import InvalidTransition, ValidationError
from .venue import NativeTrigger

S = OrderStatus

#: status -> statuses a venue report may move it to. Final statuses move nowhere.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDINGNEW: frozenset(
        {S.NEW, S.PARTIALLYFILLED, S.FILLED, S.REJECTED, S.CANCELLED, S.EXPIRED, S.PENDINGTRIGGER, S.TRIGGERED}
    ),
    # A native contingent order (issue 20) held by the venue until its trigger fires, then the order it sends
    # (same clOrderId): triggered, then new / filled (a venue may skip the transient triggered state).
    S.PENDINGTRIGGER: frozenset(
        {S.PENDINGTRIGGER, S.TRIGGERED, S.NEW, S.PARTIALLYFILLED, S.FILLED, S.PENDINGUPDATE, S.PENDINGCANCEL}
        | {S.CANCELLED, S.REJECTED, S.EXPIRED}
    ),
    S.TRIGGERED: frozenset({S.NEW, S.PARTIALLYFILLED, S.FILLED, S.PENDINGCANCEL, S.CANCELLED, S.REJECTED, S.EXPIRED}),
    S.NEW: frozenset({S.NEW, S.PARTIALLYFILLED, S.FILLED, S.PENDINGUPDATE, S.PENDINGCANCEL, S.CANCELLED, S.EXPIRED}),
    S.PARTIALLYFILLED: frozenset(
        {S.PARTIALLYFILLED, S.FILLED, S.PENDINGUPDATE, S.PENDINGCANCEL, S.CANCELLED, S.EXPIRED}
    ),
    # An amend in flight can be acknowledged, raced by fills, or end the order (amend to <= filled).
    S.PENDINGUPDATE: frozenset(
        {S.NEW, S.PARTIALLYFILLED, S.FILLED, S.PENDINGCANCEL, S.CANCELLED, S.EXPIRED, S.PENDINGTRIGGER, S.TRIGGERED}
    ),
    # A cancel in flight can be raced by fills, or refused (the order stays live).
    S.PENDINGCANCEL: frozenset(
        {S.NEW, S.PARTIALLYFILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.PENDINGTRIGGER, S.TRIGGERED}
    ),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class ClientIdRule:
    pattern: re.Pattern[str]
    description: str

    def check(self, cl_order_id: str) -> None:
        if not self.pattern.fullmatch(cl_order_id):
            raise ValidationError("clOrderId", f"{cl_order_id!r} does not match the venue rule: {self.description}")


_BINANCE_SPOT = ClientIdRule(re.compile(r"[a-zA-Z0-9_-]{1,36}"), "1-36 characters of a-z A-Z 0-9 _ -")
_BINANCE_FUTURES = ClientIdRule(re.compile(r"[.A-Z:/a-z0-9_-]{1,36}"), "1-36 characters of a-z A-Z 0-9 . : / _ -")
_BYBIT = ClientIdRule(re.compile(r"[a-zA-Z0-9_-]{1,36}"), "1-36 characters of a-z A-Z 0-9 _ -")
_OKX = ClientIdRule(re.compile(r"[a-zA-Z0-9]{1,32}"), "1-32 letters and digits")
_DERIBIT = ClientIdRule(re.compile(r"[a-zA-Z0-9_-]{1,64}"), "1-64 characters of a-z A-Z 0-9 _ -")
# Pulse has no client order id: execx sends it as the order's label (at most 64 characters, seed 004).
_PULSE = ClientIdRule(re.compile(r"[a-zA-Z0-9_-]{1,64}"), "1-64 characters of a-z A-Z 0-9 _ - (sent as the label)")

CLIENT_ID_RULES: dict[Exchange, ClientIdRule] = {
    Exchange.BINANCE_SPOT: _BINANCE_SPOT,
    Exchange.BINANCE_USDM_FUTURE: _BINANCE_FUTURES,
    Exchange.BINANCE_COINM_FUTURE: _BINANCE_FUTURES,
    Exchange.BYBIT_SPOT: _BYBIT,
    Exchange.BYBIT_LINEAR: _BYBIT,
    Exchange.BYBIT_INVERSE: _BYBIT,
    Exchange.BYBIT_OPTION: _BYBIT,
    Exchange.OKX: _OKX,
    Exchange.DERIBIT: _DERIBIT,
    Exchange.PULSE: _PULSE,
}


@dataclass(frozen=True, slots=True)
class FillReport:
    trade_id: str
    qty: Decimal
    price: Decimal
    liquidity: Liquidity | None
    exch_time_ns: int


@dataclass(slots=True)
class Order:
    session_id: str
    cl_order_id: str
    exchange: Exchange
    symbol: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    qty: Decimal
    price: Decimal | None
    trigger_id: str = ""
    reduce_only: bool = False
    status: OrderStatus = OrderStatus.PENDINGNEW
    exch_order_id: str = ""
    former_exch_ids: set[str] = field(default_factory=set)  # replaced by a cancel-replace; late fills still count
    replaced_exch_id: str = ""  # the venue id the last cancel-replace retired (replacedExchOrderId)
    cum_filled: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    message: str = ""
    last_message: str = ""  # the message of its last published update
    trade_ids: set[str] = field(default_factory=set)
    sent_ns: int = 0  # when its insert request last left for the venue (0: not sent by this execx)
    not_sent: bool = False  # rejected because the venue never received it: the same insert sends it
    venue_filled: Decimal = Decimal(0)  # the venue's filled quantity when a report said more than our fills
    native_trigger: NativeTrigger | None = None  # a native contingent order: sent with its trigger (issue 20)

    @property
    def remaining(self) -> Decimal:
        return max(Decimal(0), self.qty - self.cum_filled) if not self.status.is_final else Decimal(0)

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.cum_filled if self.cum_filled else Decimal(0)

    def same_request(self, other: Order) -> bool:
        """True if ``other`` is the same insert (an idempotent retry), False if it conflicts."""
        return (
            self.exchange == other.exchange
            and self.symbol == other.symbol
            and self.side == other.side
            and self.order_type == other.order_type
            and self.tif == other.tif
            and self.reduce_only == other.reduce_only
            and self.qty == other.qty
            and self.price == other.price
            and self.trigger_id == other.trigger_id
            and self.native_trigger == other.native_trigger
        )

    def can_move_to(self, status: OrderStatus) -> bool:
        return status in TRANSITIONS[self.status]

    def move_to(self, status: OrderStatus) -> None:
        if not self.can_move_to(status):
            raise InvalidTransition(self.cl_order_id, self.status, status)
        self.status = status

    def status_after_fills(self, otherwise: OrderStatus) -> OrderStatus:
        """What the fills say the order is: filled, partially filled, or ``otherwise`` without fills."""
        if not self.cum_filled:
            return otherwise
        return OrderStatus.FILLED if self.cum_filled >= self.qty else OrderStatus.PARTIALLYFILLED

    @property
    def fills_owed(self) -> bool:
        """A venue report said the order filled more than the fills we have: some are still to come."""
        return self.venue_filled > self.cum_filled

    def mark_not_sent(self, message: str) -> None:
        """The venue has no record of the order after its acceptance window: it never reached the venue."""
        self.status = OrderStatus.REJECTED
        self.not_sent = True
        self.message = message

    def revive(self) -> None:
        """A ``not_sent`` order becomes pending again: it is being sent now, or the venue knew it after all."""
        if not self.not_sent:
            raise InvalidTransition(self.cl_order_id, self.status, OrderStatus.PENDINGNEW)
        self.status = OrderStatus.PENDINGNEW
        self.not_sent = False
        self.message = ""

    def apply_fill(self, fill: FillReport) -> bool:
        """Count a fill once. Returns False for a fill already applied (same trade id).
        The status follows: filled when nothing remains, else partially filled. A fill of an order
        already cancelled or expired (it traded before the venue ended it, and its report came after
        the end's) counts and leaves the status as it is."""
        if fill.trade_id in self.trade_ids:
            return False
        target = OrderStatus.FILLED if self.cum_filled + fill.qty >= self.qty else OrderStatus.PARTIALLYFILLED
        # During an amend the quantity the fill is measured against is not known until the venue answers:
        # the order stays pendingupdate, and the answer (or the reconciliation) says what it is.
        if self.status is not target and not self.status.is_final and self.status is not OrderStatus.PENDINGUPDATE:
            self.move_to(target)
        self.trade_ids.add(fill.trade_id)
        self.cum_filled += fill.qty
        self.cum_quote += fill.qty * fill.price
        return True
