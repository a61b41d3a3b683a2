"""OKX rate limits (``../shared/venues/okx.md`` §9): counted per user id in 2-second windows.

- ``ORDERS``: place, amend and cancel are each limited per (user, instrument) — 60 requests / 2 s;
- ``BATCH``: the batch endpoints count their items — 300 orders / 2 s per (user, instrument);
- ``REQUESTS``: other private endpoints (queries, balances) — 60 requests / 2 s per endpoint.

Over a limit the answer is HTTP 429 ``{"code": "50011", "msg": "Too Many Requests"}`` (OKX sends no
Retry-After). The admin API (``/admin/ratelimits/okx``) changes the limits (the bench raises them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import RATE_LIMITED, OkxError

WINDOW_MS = 2_000


@dataclass
class Limit:
    kind: str
    limit: int

    def describe(self) -> dict[str, object]:
        return {"rateLimitType": self.kind, "interval": "SECOND", "intervalNum": 2, "limit": self.limit}


@dataclass
class OkxLimiter:
    limits: list[Limit] = field(
        default_factory=lambda: [Limit("ORDERS", 60), Limit("BATCH", 300), Limit("REQUESTS", 60)]
    )
    enabled: bool = True
    _windows: dict[tuple[str, ...], tuple[int, int]] = field(default_factory=dict)

    def describe(self) -> list[dict[str, object]]:
        return [lim.describe() for lim in self.limits]

    def take(self, now_ms: int, kind: str, key: tuple[str, ...], n: int = 1) -> None:
        """Count ``n`` against ``kind`` for ``key``; raise 50011 (HTTP 429) when over the limit."""
        limit = next(lim.limit for lim in self.limits if lim.kind == kind)
        start = now_ms - now_ms % WINDOW_MS
        full = (kind, *key)
        w_start, used = self._windows.get(full, (start, 0))
        if w_start != start:
            used = 0
        used += n
        self._windows[full] = (start, used)
        if len(self._windows) > 100_000:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == start}
        if self.enabled and used > limit:
            raise OkxError(*RATE_LIMITED, status=429)
