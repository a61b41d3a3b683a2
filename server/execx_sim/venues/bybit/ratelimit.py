"""Bybit's per-UID, per-endpoint, per-second limits with the ``X-Bapi-Limit*`` headers
(``../shared/venues/bybit.md`` §8).

Two kinds, adjustable through the admin API (``/admin/ratelimits/bybit-<category>``): ``ORDER``
(create, amend, cancel, cancel-all; batch endpoints consume one unit per order) with the docs'
defaults of 10/s (spot 20/s), and ``QUERY`` (order, execution, position and wallet reads) at 50/s.
Over the limit the answer is ``retCode 10006`` with HTTP 200 and the reset timestamp in
``X-Bapi-Limit-Reset-Timestamp``. Counted by ``core.ratelimit`` in 1 s windows that start with the
first request after the previous window ended (refused units are not counted).

Every counted request is also tallied per category and endpoint (``/v5/trade`` ops under their REST
endpoint, as the venue counts them), whatever the answer: the admin API shows the tally
(``GET /admin/ratelimits/bybit-<category>`` -> ``requests``), so tests can see how many requests, not
orders, a client sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...core.ratelimit import FixedWindows, Limit, RateLimiter
from . import errors
from .errors import BybitError

WINDOW_MS = 1000


def default_limits() -> list[Limit]:
    return [Limit("ORDER", "SECOND", 1, 10), Limit("QUERY", "SECOND", 1, 50)]


@dataclass
class BybitLimiter(RateLimiter):
    limits: list[Limit] = field(default_factory=default_limits)  # per second, per UID and endpoint (spot ORDER: twice)
    # A window starts with the first request after the previous one ended (not on the epoch).
    _windows: FixedWindows = field(default_factory=lambda: FixedWindows(anchored=True))
    _requests: dict[str, dict[str, int]] = field(default_factory=dict)  # category -> endpoint -> requests

    def request_counts(self) -> dict[str, dict[str, int]]:
        return {category: dict(counts) for category, counts in self._requests.items()}

    def take(self, kind: str, account_id: str, endpoint: str, category: str, n: int, now_ms: int) -> dict[str, str]:
        """Count ``n`` units; the headers to send; ``BybitError(10006)`` when over the limit (then the
        units are not counted)."""
        counts = self._requests.setdefault(category, {})
        counts[endpoint] = counts.get(endpoint, 0) + 1
        base = self.limit_of(kind).limit
        limit = base * 2 if kind == "ORDER" and category == "spot" else base
        window = self._windows.window((account_id, endpoint, category), WINDOW_MS, now_ms)
        over = window.used + n > limit and self.enabled
        if not over:
            window.used += n
        headers = {
            "X-Bapi-Limit": str(limit),
            "X-Bapi-Limit-Status": str(max(0, limit - window.used)),
            "X-Bapi-Limit-Reset-Timestamp": str(window.start_ms + WINDOW_MS if over else now_ms),
        }
        if over:
            raise BybitError(errors.RATE, "Too many visits. Exceeded the API Rate Limit.", headers=headers)
        return headers
