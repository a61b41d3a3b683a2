"""TWAP and VWAP smart orders (seed 003), the pure part: the schedule and what each slice must have done.

No I/O and no clock of its own: times are passed in (wall-clock nanoseconds, so a schedule survives a
restart). The runner (``smart.py``) asks these functions on every tick.

- **Slices** (seed 003's pseudocode): ``iterationCount = duration // interval + 1`` slices, slice ``i``
  due at ``start + i * interval``; the last one at or before the end time (``start + duration``).
- **TWAP**: after slice ``i`` the cumulative target is ``amount * (i + 1) / iterationCount``, rounded
  down to the lot (after an update: ``base + (amount - base) * (i + 1) / iterationCount``, ``base`` the
  quantity filled when the update re-planned the rest from that moment); the last slice's target is
  the whole amount. What a slice must send is the target
  minus what is filled and working: a slice that fell behind is caught up by the next one.
- **VWAP**: the profile is the market's own traded volume, measured live from the market-data hub
  (public trades of the symbol). ``volumes[i]`` is the volume traded in the interval before slice
  ``i``, less our own fills in it. Slice ``i`` gets
  ``remaining * v_i / (v_i + mean(v_1..v_i) * (iterationCount - i - 1))``: its share of the volume
  expected for the rest of the schedule, the future intervals forecast at the mean rate seen so far.
  Slice 0 (no whole interval measured yet) and any slice while no volume was seen get TWAP's even share
  of what remains; the last slice takes all that remains.
  ``safety_threshold`` (seed 003's safetyThreshold) caps a slice at that fraction of ``v_i``
  (never the last slice). The target is fixed when the slice starts and persisted.
- **Maker mode**: a slice's quantity rests post-only at the touch for the length of its interval; what
  is *due* is the previous slice's target (the last slice: its own, the end has come). When the fills
  lag what is due by more than ``max_behind`` (default 0), the overdue part crosses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

from ..domain.enums import Side
from ..domain.errors import ValidationError

ZERO = Decimal(0)
NS = 1_000_000_000
UNITS = {"SEC": 1, "S": 1, "MIN": 60, "M": 60, "HRS": 3600, "HR": 3600, "H": 3600, "DAY": 86_400, "D": 86_400}
MAX_SPAN_S = 366 * 86_400
_SPAN = re.compile(r"^\s*(\d+)\s*([A-Za-z]+)\s*$")


class Algorithm(StrEnum):
    TWAP = "TWAP"
    VWAP = "VWAP"


def parse_span(text: str, field: str) -> int:
    """Seed 003's durations, ``"5MIN"``, ``"30SEC"``, ``"1HRS"``, ``"1DAY"`` (case-insensitive; ``DAYS``,
    ``HOUR(S)`` and ``MINS`` too), in whole seconds; INVALID_ARGUMENT naming ``field`` otherwise."""
    m = _SPAN.match(text or "")
    unit = m.group(2).upper() if m else ""
    if unit not in UNITS:
        unit = {"SECS": "SEC", "MINS": "MIN", "HOUR": "HRS", "HOURS": "HRS", "DAYS": "DAY"}.get(unit, "")
    if m is None or not unit:
        raise ValidationError(field, f"{text!r} is not a duration like '30SEC', '5MIN', '1HRS' or '1DAY'")
    n = int(m.group(1)) * UNITS[unit]
    if n <= 0:
        raise ValidationError(field, "must be positive")
    if n > MAX_SPAN_S:
        raise ValidationError(field, f"{text!r} is longer than the maximum, 366DAY")
    return n


def format_span(seconds: int) -> str:
    for unit, size in (("DAY", 86_400), ("HRS", 3600), ("MIN", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}SEC"


@dataclass(frozen=True, slots=True)
class SmartConfig:
    algorithm: Algorithm
    side: Side
    symbol: str
    amount: Decimal  # on the lot
    start_ns: int
    duration_s: int
    interval_s: int
    limit_price: Decimal | None = None
    maker: bool = False
    max_behind: Decimal = ZERO
    safety_threshold: Decimal | None = None
    symbol_type: str = ""
    base: Decimal = ZERO  # filled before this schedule began (an update re-plans the rest from then)

    @property
    def count(self) -> int:
        """Seed 003's iterationCount."""
        return self.duration_s // self.interval_s + 1

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.duration_s * NS

    def slice_ns(self, i: int) -> int:
        return self.start_ns + i * self.interval_s * NS

    def slice_at(self, now_ns: int) -> int:
        """The latest slice due at ``now_ns`` (-1 before the start; at most the last)."""
        if now_ns < self.start_ns:
            return -1
        return min((now_ns - self.start_ns) // (self.interval_s * NS), self.count - 1)

    def replan(
        self, now_ns: int, end_ns: int, interval_s: int, amount: Decimal, filled: Decimal, limit: Decimal | None
    ) -> SmartConfig:
        """The rest of the schedule from ``now_ns`` to ``end_ns`` (a parameter update): ``filled`` is done,
        the slices restart at ``now_ns``."""
        duration_s = max(1, -(-(end_ns - now_ns) // NS))
        return replace(
            self,
            start_ns=now_ns,
            duration_s=duration_s,
            interval_s=min(interval_s, duration_s),
            amount=amount,
            base=filled,
            limit_price=limit,
        )


def check_spans(duration_s: int, interval_s: int, field: str) -> None:
    if interval_s > duration_s:
        raise ValidationError(f"{field}.interval", f"{interval_s}s is longer than the duration {duration_s}s")


def lot_floor(qty: Decimal, lot: Decimal) -> Decimal:
    return (qty / lot).to_integral_value(ROUND_FLOOR) * lot if qty > 0 else ZERO


def twap_target(cfg: SmartConfig, i: int, lot: Decimal) -> Decimal:
    """TWAP's cumulative target after slice ``i`` (0 before the first)."""
    if i < 0:
        return ZERO
    if i >= cfg.count - 1:
        return cfg.amount
    return cfg.base + lot_floor((cfg.amount - cfg.base) * (i + 1) / cfg.count, lot)


def vwap_slice(cfg: SmartConfig, i: int, done: Decimal, volumes: list[Decimal], lot: Decimal) -> Decimal:
    """VWAP: the quantity slice ``i`` adds to the target, given ``done`` (filled + working) and the market
    volume of every interval so far (``volumes[0..i]``)."""
    remaining = cfg.amount - done
    if remaining <= 0:
        return ZERO
    if i >= cfg.count - 1:
        return remaining
    seen = volumes[1 : i + 1]  # slice 0's interval was not measured whole (the feed just opened)
    v = seen[-1] if seen else ZERO
    mean = sum(seen, ZERO) / len(seen) if seen else ZERO
    rest = cfg.count - i - 1
    if mean <= 0:
        qty = remaining / (rest + 1)  # no volume seen: TWAP's even share
    else:
        qty = remaining * v / (v + mean * rest)
    if cfg.safety_threshold is not None and cfg.safety_threshold > 0:
        qty = min(qty, v * cfg.safety_threshold)
    return min(lot_floor(qty, lot), remaining)


def due(targets: list[Decimal], i: int, count: int, maker: bool) -> Decimal:
    """What must be filled by now at slice ``i`` given each slice's cumulative target: the current
    slice's target (taker), the previous one's (maker: the current slice may rest for its interval),
    everything at the last slice."""
    if i < 0 or not targets:
        return ZERO
    if not maker or i >= count - 1:
        return targets[min(i, len(targets) - 1)]
    return targets[i - 1] if i >= 1 else ZERO


@dataclass(frozen=True, slots=True)
class Step:
    """What the runner should do now. ``cross``: the quantity to take at the far touch (IOC);
    ``rest``: the quantity to rest post-only at the touch (maker mode); both zero: nothing."""

    cross: Decimal
    rest: Decimal


def step(target: Decimal, due_now: Decimal, filled: Decimal, cfg: SmartConfig, min_qty: Decimal, lot: Decimal) -> Step:
    """Taker: cross ``target - filled``. Maker: cross the overdue part when it exceeds ``max_behind``,
    rest the rest of the target. Quantities below the venue's minimum wait (they accumulate)."""
    want = lot_floor(target - filled, lot)
    if want <= 0:
        return Step(ZERO, ZERO)
    if not cfg.maker:
        return Step(want if want >= min_qty else ZERO, ZERO)
    behind = lot_floor(due_now - filled, lot)
    cross = behind if behind > cfg.max_behind and behind >= min_qty else ZERO
    rest = want - cross
    return Step(cross, rest if rest >= min_qty else ZERO)


def child_price(side: Side, bid: Decimal, ask: Decimal, cross: bool, limit: Decimal | None) -> Decimal | None:
    """A crossing child takes the far touch (a buy the ask), a resting one joins the near touch (a buy the
    bid); never beyond ``limit`` (a crossing child the limit cannot reach waits: None)."""
    if side is Side.BUY:
        price = ask if cross else bid
        if limit is not None and price > limit:
            return None if cross else limit
    else:
        price = bid if cross else ask
        if limit is not None and price < limit:
            return None if cross else limit
    return price


def check_limit(side: Side, limit: Decimal, bid: Decimal | None, ask: Decimal | None, field: str) -> None:
    """A limit on the wrong side of the market: a buy's limit below the best bid (it could not even join
    the book at the touch), a sell's above the best ask."""
    if side is Side.BUY and bid is not None and limit < bid:
        raise ValidationError(field, f"{limit} is below the best bid {bid}: a buy limit must be at or above it")
    if side is Side.SELL and ask is not None and limit > ask:
        raise ValidationError(field, f"{limit} is above the best ask {ask}: a sell limit must be at or below it")


def schedule_error(
    cfg: SmartConfig, targets: list[Decimal], fills: list[tuple[int, Decimal]]
) -> list[tuple[int, Decimal, Decimal]]:
    """For the benchmark: per slice, (slice time ns, planned cumulative, filled cumulative by the next
    slice's time — or the end). ``fills``: (time ns, qty)."""
    out = []
    for i, target in enumerate(targets):
        until = cfg.slice_ns(i + 1) if i + 1 < cfg.count else cfg.end_ns + cfg.interval_s * NS
        got = sum((q for t, q in fills if t < until), ZERO)
        out.append((cfg.slice_ns(i), target, got))
    return out
