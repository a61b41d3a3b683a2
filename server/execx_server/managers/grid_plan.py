"""The grid trader's plan (seed 000): pure functions from (configuration, instrument rules, market, the
grid's state, its orders as the engine sees them, now) to the grid's next state and the orders to
place or cancel. No I/O and no clock of its own: the runner (``grid.py``) calls ``plan()`` on every
best bid/ask change, every update of its own orders and every second, and executes the actions.

The grid (``docs/algorithms.md``, "Grid trader"):

- **Levels**: ``gridLevels`` = n intervals between ``lowerPrice`` and ``upperPrice``, so n + 1 price
  lines (the seed: 100 to 110 with 10 levels is 100, 101, ..., 110). ARITHMETIC: equal steps of
  ``(upper - lower) / n``; GEOMETRIC: equal ratios ``(upper / lower) ** (1 / n)``. Every line is rounded
  down to the tick (``InstrumentRules.round_price``, the one rounding place); lines that collapse onto
  the same tick are refused (the step is below the tick). With ``gridRangePercentage`` p (and no
  upper/lower pair) the range is ``mid * (1 -/+ p / 200)`` (p = 10 around 100: 95 to 105). When both
  are given, upperPrice/lowerPrice win (the seed's own example carries all three).
- **Slots**: each interval ``[line i, line i+1]`` holds exactly one order: a buy at its lower line or a
  sell at its upper line. At the start the line nearest the mid holds no order; intervals below it
  buy, intervals above it sell ("buys below the market, sells above"). A buy filled flips its
  interval to a sell one level up; a sell filled flips it to a buy one level down.
- **Round trips**: the fills of one interval alternate opening and closing legs; a closing fill
  completes a round trip, realised PnL = (sell - buy) x qty (x contract size), after both legs' fees
  (inverse contracts: the coin PnL valued at the closing price).
- **Recentering** (``dynamic``): when the mid is ``recenterThreshold`` steps (arithmetic: price steps;
  geometric: ratio steps) or more from the centre, every grid order is cancelled and, once none is
  live, the grid is rebuilt around the mid with the same width (arithmetic) or the same ratio
  (geometric). Legs opened before a recenter stay in the position and are not counted as round trips.
- An order refused by the venue leaves its slot empty until ``RETRY_S`` later; an order cancelled or
  expired by anyone but the grid is placed again at its level.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ..domain.enums import OrderStatus, Side
from ..domain.errors import ValidationError
from ..domain.instruments import InstrumentRules, plain

ZERO = Decimal(0)
TWO = Decimal(2)
RETRY_S = 2.0  # after a refusal, the slot waits this long before its order is placed again
MAX_LEVELS = 500  # a grid of more intervals is refused (each is a working order)
PENDING = frozenset({OrderStatus.PENDINGNEW, OrderStatus.PENDINGUPDATE, OrderStatus.PENDINGCANCEL})


class Mode(StrEnum):
    ARITHMETIC = "ARITHMETIC"
    GEOMETRIC = "GEOMETRIC"


@dataclass(frozen=True)
class GridConfig:
    """The seed's ``startGridTrader`` body (prices and quantities exact)."""

    upper_price: Decimal | None
    lower_price: Decimal | None
    grid_range_percentage: Decimal | None
    grid_levels: int
    order_qty: Decimal
    mode: Mode | None
    dynamic: bool = False
    recenter_threshold: int | None = None

    def validate(self) -> None:
        """INVALID_ARGUMENT naming the field, for everything that can be checked without the market."""
        if self.grid_levels < 2:
            raise ValidationError("gridLevels", f"must be at least 2 (got {self.grid_levels})")
        if self.grid_levels > MAX_LEVELS:
            raise ValidationError("gridLevels", f"must be at most {MAX_LEVELS} (got {self.grid_levels})")
        if not self.order_qty.is_finite() or self.order_qty <= 0:
            raise ValidationError("orderQty", "must be positive")
        if self.mode is None:
            raise ValidationError("mode", "is required (ARITHMETIC or GEOMETRIC)")
        if self.upper_price is not None or self.lower_price is not None:
            if self.upper_price is None:
                raise ValidationError("upperPrice", "is required with lowerPrice")
            if self.lower_price is None:
                raise ValidationError("lowerPrice", "is required with upperPrice")
            if self.lower_price <= 0:
                raise ValidationError("lowerPrice", "must be positive")
            if self.upper_price <= self.lower_price:
                raise ValidationError(
                    "upperPrice",
                    f"{plain(self.upper_price)} must be above lowerPrice {plain(self.lower_price)}",
                )
        elif self.grid_range_percentage is None:
            raise ValidationError("gridRangePercentage", "is required without upperPrice and lowerPrice")
        elif not 0 < self.grid_range_percentage < 200:
            raise ValidationError("gridRangePercentage", "must be above 0 and below 200 (percent of the mid)")
        if self.dynamic:
            if self.recenter_threshold is None:
                raise ValidationError("recenterThreshold", "is required for a dynamic grid")
            if self.recenter_threshold < 1:
                raise ValidationError("recenterThreshold", "must be at least 1 grid level")

    @property
    def by_range(self) -> bool:
        return self.upper_price is not None and self.lower_price is not None

    def to_json(self) -> dict[str, Any]:
        def s(d: Decimal | None) -> str | None:
            return None if d is None else str(d)

        return {
            "upperPrice": s(self.upper_price),
            "lowerPrice": s(self.lower_price),
            "gridRangePercentage": s(self.grid_range_percentage),
            "gridLevels": self.grid_levels,
            "orderQty": str(self.order_qty),
            "mode": self.mode.value if self.mode else None,
            "dynamic": self.dynamic,
            "recenterThreshold": self.recenter_threshold,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> GridConfig:
        def dec(v: str | None) -> Decimal | None:
            return None if v is None else Decimal(v)

        return cls(
            upper_price=dec(d["upperPrice"]),
            lower_price=dec(d["lowerPrice"]),
            grid_range_percentage=dec(d["gridRangePercentage"]),
            grid_levels=int(d["gridLevels"]),
            order_qty=Decimal(d["orderQty"]),
            mode=Mode(d["mode"]) if d["mode"] else None,
            dynamic=bool(d["dynamic"]),
            recenter_threshold=d["recenterThreshold"],
        )


# ---------------------------------------------------------------------- levels


def bounds(cfg: GridConfig, mid: Decimal) -> tuple[Decimal, Decimal]:
    """(lower, upper) of a new grid: the configured pair, else ``gridRangePercentage`` around ``mid``."""
    if cfg.upper_price is not None and cfg.lower_price is not None:
        return cfg.lower_price, cfg.upper_price
    if cfg.grid_range_percentage is None:
        raise ValueError("bounds: cfg.grid_range_percentage unset (not validated)")
    half = cfg.grid_range_percentage / 200
    return mid * (1 - half), mid * (1 + half)


def centre_of(lower: Decimal, upper: Decimal, mode: Mode) -> Decimal:
    """The centre the recenter threshold is measured from: the middle of the range (arithmetic), its
    geometric mean (geometric)."""
    return (lower + upper) / TWO if mode is Mode.ARITHMETIC else (lower * upper).sqrt()


def raw_lines(lower: Decimal, upper: Decimal, n: int, mode: Mode) -> list[Decimal]:
    """The n + 1 exact lines from ``lower`` to ``upper`` (before rounding)."""
    if mode is Mode.ARITHMETIC:
        step = (upper - lower) / n
        return [lower + step * i for i in range(n)] + [upper]
    ratio = upper / lower
    return [lower * ratio ** (Decimal(i) / n) for i in range(n)] + [upper]


def grid_prices(lower: Decimal, upper: Decimal, cfg: GridConfig, rules: InstrumentRules) -> tuple[Decimal, ...]:
    """The grid's lines, lowest first, rounded down to the tick; ValidationError naming the field when the
    grid cannot be built on this instrument (a line at or below zero, lines closer than a tick, an order
    the venue would refuse at the lowest or highest line)."""
    if cfg.mode is None:
        raise ValueError("grid_prices: cfg.mode unset (not validated)")
    field = "lowerPrice" if cfg.by_range else "gridRangePercentage"
    if lower <= 0:
        raise ValidationError(field, f"the grid's lower price {plain(lower)} must be positive")
    prices = tuple(rules.round_price(p, Side.BUY) for p in raw_lines(lower, upper, cfg.grid_levels, cfg.mode))
    if prices[0] <= 0:
        raise ValidationError(field, f"the grid's lower price {plain(lower)} rounds to zero (tick {plain(rules.tick)})")
    for a, b in itertools.pairwise(prices):
        if b <= a:
            raise ValidationError(
                "gridLevels",
                f"{cfg.grid_levels} levels between {plain(lower)} and {plain(upper)} are closer than the tick "
                f"{plain(rules.tick)} of {rules.symbol}",
            )
    for price in (prices[0], prices[-1]):
        try:
            qty, _ = rules.normalise(Side.BUY, cfg.order_qty, price)
        except ValidationError as e:
            name = "orderQty" if e.field == "qty" else field if price == prices[0] else "upperPrice"
            raise ValidationError(name, f"at the grid level {plain(price)}: {e.reason}") from None
        if qty != cfg.order_qty:
            raise ValidationError("orderQty", f"{plain(cfg.order_qty)} is not a multiple of the lot {plain(rules.lot)}")
    return prices


def steps_from(price: Decimal, centre: Decimal, lower: Decimal, upper: Decimal, cfg: GridConfig) -> Decimal:
    """How many grid steps ``price`` is from ``centre`` (a price step, or a ratio step in geometric mode)."""
    n = cfg.grid_levels
    if cfg.mode is Mode.GEOMETRIC:
        step = (upper / lower).ln() / n
        return abs((price / centre).ln()) / step
    return abs(price - centre) / ((upper - lower) / n)


def recentred(lower: Decimal, upper: Decimal, mid: Decimal, mode: Mode) -> tuple[Decimal, Decimal]:
    """(lower, upper) of the grid rebuilt around ``mid``: the same width (arithmetic) or ratio (geometric)."""
    if mode is Mode.ARITHMETIC:
        half = (upper - lower) / TWO
        return mid - half, mid + half
    k = (upper / lower).sqrt()
    return mid / k, mid * k


# ---------------------------------------------------------------------- state


@dataclass(frozen=True)
class Slot:
    """One interval ``[prices[i], prices[i+1]]``: its order is a buy at the lower line or a sell at the
    upper one. ``open_*``: the leg of a round trip in progress (the interval's last fill)."""

    side: Side
    cl_order_id: str = ""  # its order ("": none yet)
    open_price: Decimal | None = None
    open_qty: Decimal = ZERO
    open_fee: Decimal = ZERO
    retry_at: float = 0.0  # after a refusal: no new order before this time

    def price(self, prices: tuple[Decimal, ...], i: int) -> Decimal:
        return prices[i] if self.side is Side.BUY else prices[i + 1]

    def to_json(self) -> dict[str, Any]:
        return {
            "side": self.side.value,
            "clOrderId": self.cl_order_id,
            "openPrice": None if self.open_price is None else str(self.open_price),
            "openQty": str(self.open_qty),
            "openFee": str(self.open_fee),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Slot:
        return cls(
            Side(d["side"]),
            d["clOrderId"],
            None if d["openPrice"] is None else Decimal(d["openPrice"]),
            Decimal(d["openQty"]),
            Decimal(d["openFee"]),
        )


@dataclass(frozen=True)
class Grid:
    """The grid's state: what a restart needs to carry on (saved after every change)."""

    lower: Decimal  # the exact range (before rounding): recentering keeps its width or ratio
    upper: Decimal
    centre: Decimal
    prices: tuple[Decimal, ...]
    slots: tuple[Slot, ...]
    recentering: bool = False  # cancelling every order before rebuilding around the market
    recenters: int = 0
    round_trips: int = 0
    realized_pnl: Decimal = ZERO
    traded_qty: Decimal = ZERO
    fills: int = 0
    fees: Decimal = ZERO

    def to_json(self) -> dict[str, Any]:
        return {
            "lower": str(self.lower),
            "upper": str(self.upper),
            "centre": str(self.centre),
            "prices": [str(p) for p in self.prices],
            "slots": [s.to_json() for s in self.slots],
            "recentering": self.recentering,
            "recenters": self.recenters,
            "roundTrips": self.round_trips,
            "realizedPnl": str(self.realized_pnl),
            "tradedQty": str(self.traded_qty),
            "fills": self.fills,
            "fees": str(self.fees),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Grid:
        return cls(
            Decimal(d["lower"]),
            Decimal(d["upper"]),
            Decimal(d["centre"]),
            tuple(Decimal(p) for p in d["prices"]),
            tuple(Slot.from_json(s) for s in d["slots"]),
            d["recentering"],
            d["recenters"],
            d["roundTrips"],
            Decimal(d["realizedPnl"]),
            Decimal(d["tradedQty"]),
            d["fills"],
            Decimal(d["fees"]),
        )


def build(
    cfg: GridConfig,
    rules: InstrumentRules,
    bid: Decimal,
    ask: Decimal,
    lower: Decimal | None = None,
    upper: Decimal | None = None,
) -> Grid:
    """A new grid at the market (bid/ask): the configured range (or ``lower``/``upper`` when recentering);
    intervals below the line nearest the mid buy, those above it sell."""
    if cfg.mode is None:
        raise ValueError("build: cfg.mode unset (not validated)")
    mid = (bid + ask) / TWO
    if lower is None or upper is None:
        lower, upper = bounds(cfg, mid)
    prices = grid_prices(lower, upper, cfg, rules)
    centre = centre_of(lower, upper, cfg.mode) if cfg.by_range else mid
    nearest = min(range(len(prices)), key=lambda i: (abs(prices[i] - mid), i))
    slots = tuple(Slot(Side.BUY if i < nearest else Side.SELL) for i in range(cfg.grid_levels))
    return Grid(lower, upper, centre, prices, slots)


def round_trip_pnl(rules: InstrumentRules, buy: Decimal, sell: Decimal, qty: Decimal, closing: Decimal) -> Decimal:
    """Realised PnL of buying ``qty`` at ``buy`` and selling it at ``sell`` (before fees), in the quote
    currency; inverse contracts make it in the coin, valued at the ``closing`` price."""
    if rules.inverse:
        return qty * rules.contract_size * (1 / buy - 1 / sell) * closing
    return (sell - buy) * qty * rules.contract_size


# ---------------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class OrderView:
    """One of the grid's orders as the engine sees it (None from ``lookup``: the engine does not know it)."""

    status: OrderStatus
    filled: Decimal
    avg_price: Decimal
    fee: Decimal  # its fills' fees in the quote currency


@dataclass(frozen=True, slots=True)
class Place:
    slot: int
    side: Side
    price: Decimal
    qty: Decimal
    cl_order_id: str = ""  # set: place again under the same id (the engine never saw it: idempotent)


@dataclass(frozen=True, slots=True)
class Cancel:
    cl_order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Event:
    """What happened, for the session's update stream and the metrics."""

    kind: str  # "filled", "roundtrip", "refused", "replaced", "recenter", "recentered"
    slot: int = -1
    side: Side | None = None
    price: Decimal = ZERO
    qty: Decimal = ZERO
    pnl: Decimal = ZERO
    detail: str = ""


Action = Place | Cancel


@dataclass(frozen=True)
class Plan:
    grid: Grid
    actions: tuple[Action, ...]
    events: tuple[Event, ...]


def _complete(grid: Grid, i: int, view: OrderView, rules: InstrumentRules) -> tuple[Grid, list[Event]]:
    """Slot ``i``'s order filled completely: flip the slot, open or close a round trip."""
    slot = grid.slots[i]
    price, qty, fee = view.avg_price, view.filled, view.fee
    events = [Event("filled", i, slot.side, price, qty)]
    g = dataclasses.replace(grid, traded_qty=grid.traded_qty + qty, fees=grid.fees + fee)
    flipped = Side.SELL if slot.side is Side.BUY else Side.BUY
    if slot.open_price is None:
        new = Slot(flipped, "", price, qty, fee)
    else:
        buy, sell = (slot.open_price, price) if slot.side is Side.SELL else (price, slot.open_price)
        closed = min(qty, slot.open_qty)
        pnl = round_trip_pnl(rules, buy, sell, closed, price) - slot.open_fee - fee
        g = dataclasses.replace(g, round_trips=g.round_trips + 1, realized_pnl=g.realized_pnl + pnl)
        events.append(Event("roundtrip", i, slot.side, price, closed, pnl))
        new = Slot(flipped)
    return dataclasses.replace(g, slots=_with(g.slots, i, new)), events


def _with(slots: tuple[Slot, ...], i: int, slot: Slot) -> tuple[Slot, ...]:
    return (*slots[:i], slot, *slots[i + 1 :])


def _rebuilt(g: Grid, cfg: GridConfig, rules: InstrumentRules, bid: Decimal, ask: Decimal) -> Grid | None:
    """``g`` rebuilt around the market (same width or ratio, totals kept), None if the instrument refuses it."""
    if cfg.mode is None:
        raise ValueError("_rebuilt: cfg.mode unset (not validated)")
    mid = (bid + ask) / TWO
    lower, upper = recentred(g.lower, g.upper, mid, cfg.mode)
    try:
        rebuilt = build(cfg, rules, bid, ask, lower, upper)
    except ValidationError:
        return None
    return dataclasses.replace(
        rebuilt,
        centre=mid,
        recenters=g.recenters + 1,
        round_trips=g.round_trips,
        realized_pnl=g.realized_pnl,
        traded_qty=g.traded_qty,
        fills=g.fills,
        fees=g.fees,
    )


def _live(view: OrderView | None) -> bool:
    return view is not None and not view.status.is_final


def _book(
    grid: Grid,
    orders: dict[str, OrderView | None],
    now: float,
    cfg: GridConfig,
    rules: InstrumentRules,
    cancelled: frozenset[str],
) -> tuple[Grid, list[Event]]:
    """What the slots' orders did: a filled order completes its half of a round trip, the partial fill of
    an ended order is traded, a refused order's slot retries after ``RETRY_S``, an ended order frees its slot."""
    events: list[Event] = []
    g = grid
    for i, slot in enumerate(grid.slots):
        if not slot.cl_order_id:
            continue
        view = orders.get(slot.cl_order_id)
        if view is None or view.status in PENDING or not view.status.is_final:
            continue
        if view.status is OrderStatus.FILLED:
            g, evs = _complete(g, i, view, rules)
            g = dataclasses.replace(g, fills=g.fills + 1)
            events.extend(evs)
            continue
        if view.filled:  # cancelled/expired after a partial fill: the partial fill is traded, not a round trip
            g = dataclasses.replace(g, traded_qty=g.traded_qty + view.filled, fees=g.fees + view.fee, fills=g.fills + 1)
        retry_at = 0.0
        if view.status is OrderStatus.REJECTED:
            retry_at = now + RETRY_S
            events.append(Event("refused", i, slot.side, slot.price(g.prices, i), cfg.order_qty))
        elif slot.cl_order_id not in cancelled:
            events.append(Event("replaced", i, slot.side, slot.price(g.prices, i), cfg.order_qty, detail=view.status))
        g = dataclasses.replace(
            g, slots=_with(g.slots, i, dataclasses.replace(slot, cl_order_id="", retry_at=retry_at))
        )
    return g, events


def plan(
    grid: Grid,
    orders: dict[str, OrderView | None],
    quote: tuple[Decimal, Decimal] | None,
    now: float,
    cfg: GridConfig,
    rules: InstrumentRules,
    cancelled: frozenset[str] = frozenset(),
) -> Plan:
    """The grid's next state and actions. ``orders``: every slot's order by clOrderId (None: unknown to the
    engine); ``quote``: (bid, ask), None while the feed is stale (then nothing is placed nor recentred;
    fills are still booked); ``cancelled``: the orders the grid itself asked to cancel."""
    actions: list[Action] = []
    # 1. book what the orders did
    g, events = _book(grid, orders, now, cfg, rules, cancelled)
    if quote is None:
        return Plan(g, (), tuple(events))
    bid, ask = quote
    mid = (bid + ask) / TWO
    live = [s.cl_order_id for s in g.slots if s.cl_order_id and _live(orders.get(s.cl_order_id))]
    # 2. recentering: cancel everything, then rebuild around the market once nothing is live. A new grid
    # the instrument would refuse (a line at or below zero, an order below its minimums) is no recenter:
    # the grid stays where it is.
    if cfg.mode is None:
        raise ValueError("plan: cfg.mode unset (not validated)")
    if (
        cfg.dynamic
        and not g.recentering
        and cfg.recenter_threshold is not None
        and steps_from(mid, g.centre, g.lower, g.upper, cfg) >= cfg.recenter_threshold
        and _rebuilt(g, cfg, rules, bid, ask) is not None
    ):
        g = dataclasses.replace(g, recentering=True)
        events.append(Event("recenter", price=mid, detail=f"{plain(mid)} is {cfg.recenter_threshold}+ levels away"))
    if g.recentering:
        if live:
            pending_cancel = [c for c in live if c not in cancelled]
            actions.extend(Cancel(c, "recenter") for c in pending_cancel if orders.get(c) is not None)
            return Plan(g, tuple(actions), tuple(events))
        rebuilt = _rebuilt(g, cfg, rules, bid, ask)
        if rebuilt is None:  # the market moved on meanwhile to where no grid can be built: stay
            g = dataclasses.replace(g, recentering=False)
        else:
            g = rebuilt
            events.append(Event("recentered", price=mid, detail=f"{plain(g.prices[0])}..{plain(g.prices[-1])}"))
    # 3. every slot without an order gets one (orders the engine never saw go again under the same id)
    for i, slot in enumerate(g.slots):
        if slot.cl_order_id and orders.get(slot.cl_order_id) is not None:
            continue
        if now < slot.retry_at:
            continue
        actions.append(Place(i, slot.side, slot.price(g.prices, i), cfg.order_qty, slot.cl_order_id))
    return Plan(g, tuple(actions), tuple(events))
