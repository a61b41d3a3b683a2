"""The simulator's one rate limiter: fixed-window counters and the limits they are checked against.

Every venue that limits (Binance, Bybit, OKX) subclasses :class:`RateLimiter` and counts with one
verb, ``take(kind, …, n)``: it returns the headers the venue sends with the answer and raises the
venue's own error when a limit is passed. The venue keeps its own keys (per IP, per account, per
endpoint or instrument), headers and errors; this module only counts.

- :class:`Limit` is one published limit: ``limit`` units per ``interval_num`` ``interval``s, of one
  ``kind`` (``REQUEST_WEIGHT``, ``ORDERS``, ``ORDER``, ``QUERY``, ``BATCH``, …); ``describe()`` is the
  ``rateLimits`` entry Binance's exchangeInfo and the admin API (``/admin/ratelimits/{venue}``) show,
  and the admin API changes ``limit`` and ``enabled`` in place.
- :class:`FixedWindows` counts units per key in fixed windows, either aligned on the epoch (Binance,
  OKX: the window of ``now`` starts at ``now - now % window``) or anchored at the first unit after the
  previous window ended (Bybit). Memory is bounded: once more than ``max_keys`` keys are held, the
  windows that have ended (which count as empty anyway) are dropped.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from functools import cached_property

INTERVAL_MS = {"S": 1_000, "M": 60_000, "H": 3_600_000, "D": 86_400_000}


@dataclass
class Limit:
    kind: str  # REQUEST_WEIGHT | ORDERS (Binance), ORDER | QUERY (Bybit), ORDERS | BATCH | REQUESTS (OKX)
    interval: str  # SECOND | MINUTE | HOUR | DAY
    interval_num: int
    limit: int

    @cached_property
    def header_suffix(self) -> str:  # interval and interval_num never change (the admin API sets ``limit``)
        return f"{self.interval_num}{self.interval[0]}"

    @property
    def window_ms(self) -> int:
        return self.interval_num * INTERVAL_MS[self.interval[0]]

    def describe(self) -> dict[str, object]:
        return {
            "rateLimitType": self.kind,
            "interval": self.interval,
            "intervalNum": self.interval_num,
            "limit": self.limit,
        }


@dataclass(slots=True)
class Window:
    start_ms: int
    window_ms: int
    used: int = 0


class FixedWindows:
    """Units counted per key in fixed windows (see the module docstring); bounded memory."""

    def __init__(self, *, anchored: bool = False, max_keys: int = 100_000) -> None:
        self.anchored = anchored
        self.max_keys = max_keys
        self._windows: dict[Hashable, Window] = {}
        self._prune_above = max_keys

    def __len__(self) -> int:
        return len(self._windows)

    def _start(self, now_ms: int, window_ms: int) -> int:
        return now_ms if self.anchored else now_ms - now_ms % window_ms

    def _ended(self, w: Window, now_ms: int) -> bool:
        if self.anchored:
            return now_ms - w.start_ms >= w.window_ms
        return w.start_ms != now_ms - now_ms % w.window_ms

    def window(self, key: Hashable, window_ms: int, now_ms: int) -> Window:
        """The window of ``key`` at ``now_ms`` (a fresh, empty one when the last has ended)."""
        w = self._windows.get(key)
        if w is None or w.window_ms != window_ms or self._ended(w, now_ms):
            w = self._windows[key] = Window(self._start(now_ms, window_ms), window_ms)
            if len(self._windows) > self._prune_above:
                self._prune(now_ms)
        return w

    def take(self, key: Hashable, window_ms: int, now_ms: int, n: int) -> Window:
        """Count ``n`` units for ``key``; the window, with ``used`` including them."""
        w = self.window(key, window_ms, now_ms)
        w.used += n
        return w

    def _prune(self, now_ms: int) -> None:
        self._windows = {k: w for k, w in self._windows.items() if not self._ended(w, now_ms)}
        # Amortised: prune again only once the table has doubled (or passed max_keys).
        self._prune_above = max(self.max_keys, 2 * len(self._windows))


@dataclass
class RateLimiter:
    """A venue's limits and their counters; venues subclass it and add ``take``."""

    limits: list[Limit]
    enabled: bool = True  # false: still counts and reports usage, never refuses

    def describe(self) -> list[dict[str, object]]:
        return [lim.describe() for lim in self.limits]

    def limit_of(self, kind: str) -> Limit:
        """The (first) limit of ``kind``."""
        return next(lim for lim in self.limits if lim.kind == kind)


@dataclass
class Credits:
    """One credit (leaky) bucket of ``kind`` (``MATCHING_ENGINE`` / ``NON_MATCHING_ENGINE``): ``burst``
    requests, refilled at ``rate`` per second (Deribit's credit system, ``../shared/venues/deribit.md`` §5,
    counted in requests of the default cost)."""

    kind: str
    rate: float
    burst: int

    @property
    def limit(self) -> int:
        return self.burst

    @limit.setter
    def limit(self, value: int) -> None:
        """The admin API's one figure per kind: ``value`` per second with a burst of ``value``."""
        self.rate, self.burst = float(value), value


MATCHING_ENGINE_METHODS = frozenset(
    f"private/{m}"
    for m in (
        "buy",
        "sell",
        "edit",
        "edit_by_label",
        "cancel",
        "cancel_by_label",
        "cancel_all",
        "cancel_all_by_instrument",
        "cancel_all_by_currency",
        "cancel_all_by_kind_or_type",
        "close_position",
    )
)
METHOD_COST = {"private/subscribe": 6}  # 3000 credits: six requests of the default 500


def default_credits() -> list[Credits]:
    """The matching engine's tier 1 (a simulated account trades enough for it) and the documented
    non-matching-engine default."""
    return [Credits("MATCHING_ENGINE", 30.0, 100), Credits("NON_MATCHING_ENGINE", 20.0, 100)]


class CreditLimiter:
    """Deribit's (and Pulse's) credits per account, across every connection (HTTP, WebSocket, FIX):
    ``MATCHING_ENGINE`` for order entry (place, edit, cancel), ``NON_MATCHING_ENGINE`` for every other
    private request. ``take`` returns False when the bucket is empty (the venue answers ``10028
    too_many_requests``); refused requests cost nothing. ``enabled`` false: never refuses. The admin API
    (``/admin/ratelimits/deribit|pulse``) shows and changes ``limits``."""

    def __init__(self, limits: list[Credits] | None = None) -> None:
        self.limits = limits if limits is not None else default_credits()
        self.enabled = True
        self._level: dict[tuple[str, str], tuple[float, int]] = {}  # (account, kind) -> (credits, at ms)

    @staticmethod
    def kind_of(method: str) -> str:
        return "MATCHING_ENGINE" if method in MATCHING_ENGINE_METHODS else "NON_MATCHING_ENGINE"

    def limit_of(self, kind: str) -> Credits:
        return next(lim for lim in self.limits if lim.kind == kind)

    def take(self, account_id: str, kind: str, now_ms: int, cost: int = 1) -> bool:
        limit = self.limit_of(kind)
        level, at = self._level.get((account_id, kind), (float(limit.burst), now_ms))
        level = min(float(limit.burst), level + (now_ms - at) * limit.rate / 1000)
        if level < cost and self.enabled:
            self._level[(account_id, kind)] = (level, now_ms)
            return False
        self._level[(account_id, kind)] = (max(0.0, level - cost), now_ms)
        return True

    def describe(self) -> list[dict[str, object]]:
        """For the admin API."""
        return [{"rateLimitType": lim.kind, "rate": lim.rate, "burst": lim.burst} for lim in self.limits]

    def summary(self) -> dict[str, object]:
        """The ``limits`` object of ``private/get_account_summary``."""
        me, nme = self.limit_of("MATCHING_ENGINE"), self.limit_of("NON_MATCHING_ENGINE")
        return {
            "non_matching_engine": {"burst": nme.burst, "rate": nme.rate},
            "matching_engine": {"trading": {"total": {"burst": me.burst, "rate": me.rate}}},
        }
