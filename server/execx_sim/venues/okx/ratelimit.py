"""OKX rate limits (``../shared/venues/okx.md`` §9): counted per user id in 2-second windows.

- ``ORDERS``: place, amend and cancel are each limited per (user, instrument) — 60 requests / 2 s;
- ``BATCH``: the batch endpoints count their items — 300 orders / 2 s per (user, instrument);
- ``REQUESTS``: other private endpoints (queries, balances) — 60 requests / 2 s per endpoint.

Over a limit the answer is HTTP 429 ``{"code": "50011", "msg": "Too Many Requests"}`` (OKX sends no
Retry-After). The admin API (``/admin/ratelimits/okx``) changes the limits (the bench raises them).
Counted by ``core.ratelimit`` in 2 s windows aligned on the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...core.ratelimit import FixedWindows, Limit, RateLimiter
from .errors import RATE_LIMITED, OkxError

WINDOW_MS = 2_000


def default_limits() -> list[Limit]:
    return [Limit("ORDERS", "SECOND", 2, 60), Limit("BATCH", "SECOND", 2, 300), Limit("REQUESTS", "SECOND", 2, 60)]


@dataclass
class OkxLimiter(RateLimiter):
    limits: list[Limit] = field(default_factory=default_limits)
    _windows: FixedWindows = field(default_factory=FixedWindows)  # aligned on the epoch

    def take(self, kind: str, key: tuple[str, ...], n: int, now_ms: int) -> dict[str, str]:
        """Count ``n`` against ``kind`` for ``key``; raise 50011 (HTTP 429) when over the limit. OKX sends
        no rate-limit headers: the answer is ``{}``."""
        limit = self.limit_of(kind).limit
        used = self._windows.take((kind, *key), WINDOW_MS, now_ms, n).used
        if self.enabled and used > limit:
            raise OkxError(*RATE_LIMITED, status=429)
        return {}
