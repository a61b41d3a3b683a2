"""The contract between the engine and a venue connector.

Connectors import ``domain`` and ``connectors.transport`` only (never ``engine`` or ``api``). Methods
say intent (``submit_order``); each raises ``Rejected`` / ``Retryable`` / ``OutcomeUnknown`` from
``domain.venue`` and nothing else for venue failures. Everything the venue reports about orders,
from REST answers and private streams alike, reaches the engine through ``on_report``.

Every connector is a ``connectors.venue.VenueConnector`` (start / close through one supervisor, market-data
watching, rules) built on the same pieces of ``connectors.tracking``, and supplies only its venue hooks:

- ``OrderTracker``: what it knows of each order, the one door to ``on_report`` (a fill once per trade
  id), bounded memory;
- ``Recovery`` around its recover-once hook (open orders, trades since the last one seen, final states
  of orders believed live): run after every private-stream reconnect, bounded attempts with backoff;
- ``StallWatch``: while the private stream is down or has said nothing for 3 s with orders live, the
  recover-once hook over REST / HTTP every 2 s (5 s while the stream still answers its pings), so a fill
  reaches the engine within 10 s whatever the stream does;
- a venue's "duplicate client order id" refusal of ``submit_order`` means the order exists: the answer
  is that order's report (``OrderTracker.existing``), ``OutcomeUnknown`` if the venue cannot find it.

The engine drops duplicates by trade id and by status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from ..domain.enums import Exchange, Side, TimeInForce
from ..domain.errors import ValidationError
from ..domain.instruments import InstrumentRules
from ..domain.venue import (
    BookTicker,
    ExecutionReport,
    GroupRequest,
    NativeTrigger,
    OrderRequest,
    Trade,
    TradeWindow,
    VenuePosition,
)
from .transport.ratelimit import RateGate
from .transport.telemetry import Telemetry


class Secret:
    """A credential that never prints: ``repr``/``str`` give ``***``; ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class ConnectorConfig:
    exchange: Exchange
    api_key: str
    secret_key: Secret
    passphrase: Secret = field(default_factory=lambda: Secret(""))
    rest_url: str = ""  # override of the venue's REST host (no path, no trailing slash)
    ws_url: str = ""  # override of the venue's websocket host (Deribit: the FIX host:port)
    testnet: bool = False
    interface: str = ""  # bind outgoing sockets: "eth0", "eth0:1" (second address), or an IP address
    use_margin: bool = False
    state_dir: str = ""  # where a connector keeps state across restarts (FIX sequence numbers); never secrets
    # arm the venue's countdown cancel-all with this timeout and keep it armed (connectors/deadman.py);
    # 0: not armed. Set by cancelOnDisconnect.
    dead_man_s: float = 0.0
    # the symbols of the session's orders still open when it is resumed after a restart: a venue whose
    # countdown is per symbol (Binance futures) arms them at start, before any new order (engine/sessions.py)
    dead_man_symbols: frozenset[str] = frozenset()
    # fleet mode (``--redis``): the account's rate budget shared with the other execx on it (fleet/budget.py);
    # None: this execx's own limiters only
    rate_gate: RateGate | None = field(default=None, compare=False)


class PostOnlyCross(StrEnum):
    """How a venue answers a post-only order that would take liquidity."""

    REFUSED = "refused"  # refused at once: ``submit_order`` raises ``Rejected`` (Binance, Deribit)
    CANCELLED = "cancelled"  # accepted, then cancelled by the venue with its reason (Bybit, OKX)
    REPRICED = "repriced"  # re-priced to rest one tick inside the spread (Pulse, seed 004)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a connector can do, read by the engine and the API (never probed with ``getattr``)."""

    supported_tifs: frozenset[TimeInForce]  # e.g. Binance has no DAY orders: the engine refuses them up front
    supports_amend: bool = True  # False: the engine amends by cancel-replace and reports it as such
    supports_reduce_only: bool = False  # False: a reduce-only order is INVALID_ARGUMENT before it is sent
    max_batch_place: int = 1  # orders started together go out this many per venue request (1: one each)
    max_batch_cancel: int = 1  # the same for cancels
    cancel_on_disconnect: bool = False  # the venue cancels the connection's orders when it drops (native)
    post_only_cross: PostOnlyCross = PostOnlyCross.REFUSED
    # Contingent orders the venue holds itself (issue 20): the trigger kinds (``stop``, ``takeprofit``,
    # ``trailingstop``) and references (``last``, ``mark``, ``index``) ``submit_order`` sends natively;
    # anything else is emulated by managers/contingent.py. Trailing stops by amount and / or by percent.
    native_triggers: frozenset[str] = frozenset()
    native_references: frozenset[str] = frozenset()
    native_trailing: frozenset[str] = frozenset()  # "amount", "percent"
    native_trigger_amend: bool = False  # a held one's trigger price is amended at the venue (``AmendsTriggers``)
    native_postonly: bool = True  # False: a post-only contingent order is emulated (the venue has no such stop)
    # Linked groups the venue holds itself (issue 20, ``PlacesGroups``): "oco", "oto", "otoco"; which legs it
    # takes is ``PlacesGroups.holds_group``'s answer. ``native_group_amend``: a native group's legs' price / qty
    # can be amended at the venue (each leg's ``amend_order``); False: ``AmendOrderGroup`` is FAILED_PRECONDITION.
    native_groups: frozenset[str] = frozenset()
    native_group_amend: bool = False
    native_group_qty_decrease: bool = False  # a leg on the book: a quantity decrease only (Binance keepPriority)


ReportSink = Callable[[ExecutionReport], None]
StreamStateSink = Callable[[bool], None]  # True: private stream live; False: down (reconnecting)


def ignore_report(report: ExecutionReport) -> None:
    """The report sink of a connector not started yet."""


def ignore_state(live: bool) -> None:
    """The stream-state sink of a connector not started yet."""


def rules_of(rules: Mapping[str, InstrumentRules], symbol: str, venue: str) -> InstrumentRules:
    """``rules[symbol]``; a symbol the venue does not trade is INVALID_ARGUMENT naming ``symbol``."""
    try:
        return rules[symbol]
    except KeyError:
        raise ValidationError("symbol", f"{symbol!r} is not traded on {venue}") from None


class Connector(Protocol):
    exchange: Exchange
    capabilities: Capabilities
    telemetry: Telemetry  # set by the composition root: request latency, reconnects, rate-limit headroom

    @property
    def supported_tifs(self) -> frozenset[TimeInForce]:
        """``capabilities.supported_tifs``."""
        ...

    @property
    def cancel_on_disconnect_armed(self) -> bool:
        """The venue's cancel-on-disconnect (``capabilities.cancel_on_disconnect``) is in force now."""
        ...

    async def start(self, on_report: ReportSink, on_stream_state: StreamStateSink) -> None:
        """Load instrument rules, open the private stream; return once both are ready."""
        ...

    async def start_market_data(self) -> None:
        """Start as a keyless market-data client: instrument rules and public streams only, nothing signed,
        no private stream (``rules`` and ``watch_market`` work; order methods do not). Venues without one
        raise ``NotImplementedError``: their market data needs an order session."""
        ...

    async def close(self) -> None: ...

    def rules(self, symbol: str) -> InstrumentRules:
        """Trading rules of ``symbol``; raises ``ValidationError("symbol", ...)`` if the venue has none."""
        ...

    async def submit_order(self, order: OrderRequest) -> ExecutionReport:
        """Send a new order; returns the venue's acknowledgement."""
        ...

    async def amend_order(
        self, symbol: str, cl_order_id: str, side: Side, qty: Decimal, price: Decimal | None
    ) -> ExecutionReport: ...

    async def cancel_order(self, symbol: str, cl_order_id: str) -> ExecutionReport: ...

    async def cancel_all(self, symbol: str) -> None: ...

    async def query_order(self, symbol: str, cl_order_id: str) -> ExecutionReport | None:
        """The venue's view of an order; None if the venue does not know the client order id."""
        ...

    def restore_order(self, cl_order_id: str, exch_ids: tuple[str, ...]) -> None:
        """After an execx restart, before the order is asked for again: the venue ids the journal has for
        ``cl_order_id`` (more than one after a cancel-replace; its current one among them). No I/O."""
        ...

    async def order_fills(self, symbol: str, cl_order_id: str) -> list[ExecutionReport]:
        """Every fill of one order as fill reports (with trade ids): used to recover fills missed
        while a stream or execx itself was down."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[ExecutionReport]: ...

    async def positions(self) -> list[VenuePosition]:
        """Derivatives: the venue's positions; spot: empty."""
        ...

    async def watch_market(
        self, symbol: str, on_ticker: Callable[[BookTicker], None], on_trade: Callable[[Trade], None]
    ) -> Callable[[], None]:
        """Subscribe to best bid/ask and trades of ``symbol``; returns the unsubscribe function."""
        ...


@runtime_checkable
class TradeHistory(Protocol):
    """A connector that reads its venue's public trade history (a restart's missed triggers,
    ``managers/contingent.py``)."""

    async def trades_between(self, symbol: str, start_ms: int, end_ms: int) -> TradeWindow:
        """The public trades of ``symbol`` printed from ``start_ms`` to ``end_ms`` (inclusive), oldest first."""
        ...


@runtime_checkable
class AmendsTriggers(Protocol):
    """A connector whose venue amends a held native contingent order's trigger price (issue 20: Pulse's
    ``private/edit`` with ``trigger_price``); the others' trigger amends are refused by the manager."""

    async def amend_trigger(
        self, symbol: str, cl_order_id: str, side: Side, qty: Decimal, price: Decimal | None, trigger: NativeTrigger
    ) -> ExecutionReport:
        """Amend the held order's qty, price and trigger (same kind and reference, a new ``trigger.price``)."""
        ...


@runtime_checkable
class HoldsTriggers(Protocol):
    """A connector whose venue holds only some of the contingent orders of the kinds its ``Capabilities`` name
    (issue 20): ``managers/contingent.py`` asks it before sending a single contingent order natively."""

    def holds_trigger(self, symbol: str, side: Side, trigger: NativeTrigger) -> str:
        """'' when the venue holds ``trigger`` on ``symbol`` exactly as execx means it; otherwise why not (said
        in the log; the order is then emulated by execx). No I/O."""
        ...


@runtime_checkable
class PlacesGroups(Protocol):
    """A connector whose venue holds linked OCO / OTO / OTOCO groups itself (issue 20; ``Capabilities.native_groups``
    names the types). ``managers/contingent.py`` sends a group natively when the connector has its type,
    ``holds_group`` accepts its legs and neither a leg's ``emulate`` nor ``--emulateContingent`` says otherwise;
    the engine (``OrderEngine.send_group``) journals every leg as an order (pendingnew) before calling
    ``submit_group``. From then on each leg is an ordinary order of the engine under its clOrderId: its reports
    (held legs ``pendingtrigger``, released / fired ones new, fills, the venue's cancel of an OCO sibling) come
    through ``on_report`` as any order's do, and ``query_order`` / ``order_fills`` must find each leg by its
    clOrderId. The venue does the linking; execx does not."""

    def holds_group(self, group: GroupRequest) -> str:
        """'' when the venue holds ``group`` as it is (its type, every leg's type, trigger kind and reference,
        symbol, flags); otherwise why not (said in the log; the group is then emulated by execx). No I/O."""
        ...

    async def submit_group(self, group: GroupRequest) -> list[ExecutionReport]:
        """Place every leg in one venue request, all or nothing. Returns one report per leg, in ``group.legs``
        order. A refusal is ``Rejected`` (no leg is live), ``Retryable`` if nothing was sent, ``OutcomeUnknown``
        if it may have been placed (the engine then asks for each leg by its clOrderId)."""
        ...

    async def cancel_group(self, group: GroupRequest) -> list[ExecutionReport]:
        """Cancel every leg of the group still live at the venue (one request where the venue has one); the
        reports of the legs it cancelled (a leg already ended is not an error)."""
        ...

    async def restore_group(self, group: GroupRequest, exch_ids: Mapping[str, str]) -> None:
        """After an execx restart, before the legs are asked for again: learn what the connector needs to find
        each leg by its clOrderId (``exch_ids``: the venue ids the journal has, by clOrderId; may lack some). Called
        before the engine's reconciliation of the session's open orders (legs still ``pendingnew`` included), and
        again when the group is restored: it must be idempotent."""
        ...


Watcher = tuple[Callable[[BookTicker], None], Callable[[Trade], None]]


class Watchers:
    """Who watches each symbol's market data (``Connector.watch_market``), and the dispatch to them."""

    def __init__(self) -> None:
        self._by_symbol: dict[str, list[Watcher]] = {}

    def add(
        self, symbol: str, on_ticker: Callable[[BookTicker], None], on_trade: Callable[[Trade], None]
    ) -> Callable[[], bool]:
        """Register a watcher; returns its removal, which says whether it was the symbol's last one."""
        entry = (on_ticker, on_trade)
        self._by_symbol.setdefault(symbol, []).append(entry)

        def remove() -> bool:
            watchers = self._by_symbol.get(symbol, [])
            if entry in watchers:
                watchers.remove(entry)
            if watchers:
                return False
            self._by_symbol.pop(symbol, None)
            return True

        return remove

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    def ticker(self, ticker: BookTicker) -> None:
        for on_ticker, _ in list(self._by_symbol.get(ticker.symbol, ())):
            on_ticker(ticker)

    def trade(self, trade: Trade) -> None:
        for _, on_trade in list(self._by_symbol.get(trade.symbol, ())):
            on_trade(trade)
