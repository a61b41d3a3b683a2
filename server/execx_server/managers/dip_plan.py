"""The dip buyer's rule, pure: the recent high over a sliding window, and whether (and how much) to buy.

No I/O and no clock of its own: times are passed in (seconds, any monotonic origin). The runner
(``dip.py``) feeds every public trade price of its feed into ``Window`` and asks ``decide`` after each.

- The **recent high** is the highest trade price of the last ``timePeriod`` seconds (trades only: a
  quote is an offer, not a price anyone paid).
- A **dip** is a trade at or below ``high * (1 - dipPercentage / 100)``.
- **Cooldown**: no buy within ``cooldown`` seconds of the previous one.
- **maxLongPos**: the position plus what its live orders may still buy plus the new order never exceeds
  it; the last buy is cut to the room left (rounded down to the lot), and none is sent when that is
  below the venue's minimum quantity.
- The high is not reset by a buy: while the price stays below the threshold, it buys again after each
  cooldown, until ``maxLongPos`` (averaging into the dip); the window forgets the old high after
  ``timePeriod``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from ..domain.instruments import InstrumentRules

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class DipConfig:
    dip_percentage: Decimal
    order_qty: Decimal
    max_long_pos: Decimal
    time_period: float
    cooldown: float


class Window:
    """Sliding maximum of prices over the last ``period`` seconds (monotonic deque: O(1) amortised)."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._q: deque[tuple[float, Decimal]] = deque()

    def add(self, t: float, price: Decimal) -> None:
        while self._q and self._q[-1][1] <= price:
            self._q.pop()
        self._q.append((t, price))

    def high(self, now: float) -> Decimal | None:
        while self._q and self._q[0][0] < now - self.period:
            self._q.popleft()
        return self._q[0][1] if self._q else None


@dataclass(frozen=True, slots=True)
class Decision:
    qty: Decimal  # zero: no buy
    reason: str  # why not (empty when buying)


def threshold(high: Decimal, cfg: DipConfig) -> Decimal:
    return high * (1 - cfg.dip_percentage / HUNDRED)


def decide(
    high: Decimal | None,
    last: Decimal,
    position: Decimal,
    in_flight: Decimal,
    now: float,
    last_buy_at: float | None,
    cfg: DipConfig,
    rules: InstrumentRules,
) -> Decision:
    if high is None:
        return Decision(ZERO, "no trade in the window yet")
    if last > threshold(high, cfg):
        return Decision(ZERO, "")
    if last_buy_at is not None and now - last_buy_at < cfg.cooldown:
        return Decision(ZERO, "cooldown")
    room = cfg.max_long_pos - position - in_flight
    qty = rules.round_qty(min(cfg.order_qty, room)) if room > 0 else ZERO
    if qty <= 0 or qty < rules.min_qty:
        return Decision(ZERO, "maxLongPos reached")
    return Decision(qty, "")
