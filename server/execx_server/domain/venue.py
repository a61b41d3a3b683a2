"""What connectors tell the engine, in venue-neutral terms, and the outcome policy's error classes.

A connector turns its venue's answers and private-stream messages into ``ExecutionReport``s, and
its failures into exactly one of ``Rejected`` / ``Retryable`` / ``OutcomeUnknown`` (DESIGN §2):

- ``Rejected``: the venue clearly refused; the order becomes ``rejected`` with the venue's message.
- ``Retryable``: nothing reached the venue (connection refused, 429/418 before sending, ...); the
  engine retries with the same clOrderId after backoff.
- ``OutcomeUnknown``: the request may have reached the venue (timeout, 5xx, socket dropped after
  sending); the order stays pending and the reconciler asks the venue by clOrderId.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .enums import Liquidity, OrderStatus, OrderType, Side, TimeInForce


class VenueError(Exception):
    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Rejected(VenueError):
    """The venue refused the request; nothing is live because of it."""


class Retryable(VenueError):
    """Nothing reached the venue. ``retry_after_s`` is the venue's hint, if any."""

    def __init__(self, message: str, code: str = "", retry_after_s: float | None = None) -> None:
        super().__init__(message, code)
        self.retry_after_s = retry_after_s


class OutcomeUnknown(VenueError):
    """The request may or may not have been executed: reconcile by client order id."""


@dataclass(frozen=True, slots=True)
class NativeTrigger:
    """A contingent order's trigger sent to the venue with the order (issue 20, docs/contingent_orders.md):
    the venue holds the order until its ``reference`` price reaches ``price`` (or, a trailing stop, moves
    ``amount`` / ``percent`` back from its best). ``kind`` and ``reference`` are the API's strings
    (``stop``, ``takeprofit``, ``trailingstop``; ``last``, ``mark``, ``index``). A connector sends it only
    when its ``Capabilities.native_triggers`` has the kind; the venue's own status (untriggered, triggered)
    comes back as ``pendingtrigger`` / ``triggered``."""

    kind: str
    reference: str
    price: Decimal | None = None
    amount: Decimal | None = None
    percent: Decimal | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "reference": self.reference,
            "price": None if self.price is None else str(self.price),
            "amount": None if self.amount is None else str(self.amount),
            "percent": None if self.percent is None else str(self.percent),
        }

    @classmethod
    def from_json(cls, d: dict[str, str | None]) -> NativeTrigger:
        def dec(key: str) -> Decimal | None:
            v = d.get(key)
            return None if v is None else Decimal(v)

        return cls(str(d["kind"]), str(d["reference"]), dec("price"), dec("amount"), dec("percent"))


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A validated, rounded order as a connector sends it (``trigger``: a native contingent order)."""

    cl_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    qty: Decimal
    price: Decimal | None
    reduce_only: bool = False
    trigger: NativeTrigger | None = None


@dataclass(frozen=True, slots=True)
class GroupRequest:
    """A linked group of orders placed natively in one venue request (issue 20, docs/contingent_orders.md):
    ``type`` ``oco`` (the first leg to fill or fire cancels the other), ``oto`` (``legs[1]`` waits, held by
    the venue, until ``legs[0]`` is completely filled) or ``otoco`` (``legs[1:]`` wait likewise, then are an
    OCO pair). ``group_id`` is execx's group id (a venue's list client id where it has one); each leg keeps
    its clOrderId. A connector receives one only for a group its ``PlacesGroups.holds_group`` accepted."""

    group_id: str
    type: str  # "oco", "oto", "otoco"
    legs: tuple[OrderRequest, ...]  # in the group type's order: the working leg first (oto / otoco)

    @property
    def symbol(self) -> str:
        return self.legs[0].symbol


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """One change of one order as the venue reported it. ``fill_*`` are set for a fill only."""

    cl_order_id: str
    symbol: str
    exch_order_id: str
    status: OrderStatus
    side: Side
    price: Decimal | None
    qty: Decimal
    cum_filled: Decimal
    exch_time_ns: int
    message: str = ""
    trade_id: str = ""
    fill_qty: Decimal = Decimal(0)
    fill_price: Decimal = Decimal(0)
    liquidity: Liquidity | None = None
    fee: Decimal = Decimal(0)
    fee_asset: str = ""
    orig_cl_order_id: str = ""  # set when the venue renamed the order (cancel-replace)


@dataclass(frozen=True, slots=True)
class VenuePosition:
    symbol: str
    qty: Decimal  # signed; contracts for inverse instruments
    entry_price: Decimal


@dataclass(frozen=True, slots=True)
class BookTicker:
    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    exch_time_ns: int


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    trade_id: str
    price: Decimal
    qty: Decimal
    aggressor: Side
    exch_time_ns: int


@dataclass(frozen=True, slots=True)
class TradeWindow:
    """A venue's public trades of one symbol between two times (``TradeHistory.trades_between``), oldest
    first; ``complete``: they are every trade of the interval (False: the venue's history could not cover it
    all, e.g. Bybit's recent trades only, or the paging cap was reached; ``trades`` is then what was read)."""

    trades: list[Trade]
    complete: bool
