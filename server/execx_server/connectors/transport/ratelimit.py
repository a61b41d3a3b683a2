"""Weight-aware request limiter driven by the venue's own accounting (response headers).

Venues that count request weight per IP (Binance: ``X-MBX-USED-WEIGHT-1M``) tell us after every
answer how much of the window is used. The limiter keeps that figure per window and refuses a
request *before* it is sent when it would cross ``headroom`` of the limit (so we back off before
the venue answers 429); after a 429 or 418 it refuses everything until the venue's
``Retry-After`` has passed. Refusal is ``Retryable`` (nothing was sent), carrying the wait.

Time is injected (``clock`` returns seconds, monotonic) so tests drive it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ...domain.venue import Retryable


@dataclass(frozen=True, slots=True)
class Bucket:
    """One venue limit window a request counts against, for a shared budget: ``limit`` units per
    ``window_s`` (already scaled by the limiter's headroom), this request costing ``cost``."""

    name: str
    limit: int
    window_s: float
    cost: int
    per_ip: bool = False  # the venue counts it per source IP (every account behind it), not per account


FLEET_HEADROOM = 0.9  # a shared budget keeps 10% of every venue limit unused (as ``WeightLimiter``)


def epoch_bucket(name: str, limit: int, window_s: float, cost: int = 1) -> Bucket:
    """A venue window aligned on the epoch (Binance, OKX): the budget's own windows are the venue's, so
    ``limit`` (less the headroom) per window is exact."""
    return Bucket(name, max(1, int(limit * FLEET_HEADROOM)), window_s, cost)


def anchored_bucket(name: str, limit: int, window_s: float, cost: int = 1) -> Bucket:
    """A venue window that starts with the first request after the previous one ended (Bybit): any such
    window overlaps two of the budget's epoch-aligned ones, so each of those gets half the limit; no
    venue window can then see more than the limit."""
    return Bucket(name, max(1, int(limit * FLEET_HEADROOM / 2)), window_s, cost)


def credit_bucket(name: str, rate: float, burst: int, cost: int = 1) -> Bucket:
    """A venue credit (leaky) bucket of ``burst`` requests refilled at ``rate`` per second (Deribit, Pulse)
    as 1-second budget windows of ``min(rate, burst / 2)``: two full windows back to back stay within the
    burst, and the sustained rate within the refill."""
    return Bucket(name, max(1, int(min(rate, burst / 2) * FLEET_HEADROOM)), 1.0, cost)


class RateGate(Protocol):
    """A budget shared with other processes trading the same account (fleet mode, ``fleet/budget.py``).
    ``acquire`` counts one request (``order``: a new order, never held behind queries) or raises
    ``Retryable`` (nothing sent); ``venue_block`` shares a venue 429/418 so every process backs off."""

    async def acquire(self, buckets: Sequence[Bucket], *, order: bool) -> None: ...

    def venue_block(self, seconds: float, reason: str) -> None: ...


@dataclass
class Window:
    limit: int
    seconds: float
    used: int = 0
    reset_at: float = 0.0  # clock value when the venue's window rolls over (estimated)


@dataclass
class WeightLimiter:
    """``windows``: header suffix (``"1M"``, ``"10S"``, ``"1D"``) -> window with its limit."""

    windows: dict[str, Window] = field(default_factory=dict)
    header_prefix: str = "x-mbx-used-weight-"
    headroom: float = 0.9
    clock: Callable[[], float] = time.monotonic
    blocked_until: float = 0.0
    blocked_reason: str = ""

    def set_limit(self, interval: str, limit: int) -> None:
        key = interval.upper()
        seconds = interval_seconds(key)
        window = self.windows.get(key)
        if window is None:
            self.windows[key] = Window(limit, seconds)
        else:
            window.limit = limit

    def check(self, weight: int = 1) -> None:
        """Raise ``Retryable`` if sending a request of ``weight`` now would risk a 429 (or a ban)."""
        now = self.clock()
        if now < self.blocked_until:
            raise Retryable(self.blocked_reason, "rate-limited", retry_after_s=self.blocked_until - now)
        for key, window in self.windows.items():
            if now >= window.reset_at:
                window.used = 0
                continue
            if window.used + weight > window.limit * self.headroom:
                raise Retryable(
                    f"request weight {window.used}+{weight} of {window.limit} per {key} would exceed "
                    f"{int(self.headroom * 100)}% of the limit",
                    "rate-limited",
                    retry_after_s=window.reset_at - now,
                )

    def update(self, headers: Mapping[str, str]) -> None:
        """Take the venue's used-weight counters from a response's headers."""
        for name, value in headers.items():
            lower = name.lower()
            if not lower.startswith(self.header_prefix):
                continue
            try:
                self.set_used(lower[len(self.header_prefix) :].upper(), int(value))
            except ValueError:
                continue

    def set_used(self, interval: str, used: int) -> None:
        """The venue says ``used`` of ``interval``'s limit is spent (headers, or a websocket API's
        ``rateLimits`` array)."""
        window = self.windows.get(interval)
        if window is None:
            return  # a window we have no limit for: nothing to compare against
        now = self.clock()
        if now >= window.reset_at or used < window.used:
            window.reset_at = _next_boundary(now, window.seconds)
        window.used = used

    def block(self, seconds: float, reason: str) -> None:
        """After a 429/418: refuse every request for ``seconds`` (the venue's Retry-After)."""
        until = self.clock() + max(seconds, 0.0)
        if until > self.blocked_until:
            self.blocked_until = until
            self.blocked_reason = reason

    def buckets(self, prefix: str, cost: int, per_ip: bool = False) -> list[Bucket]:
        """This limiter's windows as shared-budget buckets (``prefix``: which limiter, e.g. ``w`` / ``o``)."""
        return [
            Bucket(f"{prefix}{key}", max(1, int(w.limit * self.headroom)), w.seconds, cost, per_ip)
            for key, w in self.windows.items()
        ]

    def headroom_fraction(self, interval: str = "1M") -> float:
        """Unused share of ``interval``'s limit (1.0 = idle), for metrics."""
        window = self.windows.get(interval.upper())
        if window is None or window.limit <= 0:
            return 1.0
        if self.clock() >= window.reset_at:
            return 1.0
        return max(0.0, 1.0 - window.used / window.limit)


def interval_seconds(key: str) -> float:
    """``"1M"`` -> 60.0, ``"10S"`` -> 10.0, ``"1H"``, ``"1D"`` (Binance's intervalNum+intervalLetter)."""
    unit = {"S": 1.0, "M": 60.0, "H": 3600.0, "D": 86400.0}[key[-1]]
    return float(key[:-1] or 1) * unit


def _next_boundary(now: float, seconds: float) -> float:
    # Venue windows are aligned to wall-clock boundaries; without the venue's clock we estimate the
    # end of the current window as a full window from now (conservative: never resets too early).
    return now + seconds
