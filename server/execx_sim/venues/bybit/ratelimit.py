"""Bybit's per-UID, per-endpoint, per-second limits with the ``X-Bapi-Limit*`` headers
(``../shared/venues/bybit.md`` §8).

Two kinds, adjustable through the admin API (``/admin/ratelimits/bybit-<category>``): ``ORDER``
(create, amend, cancel, cancel-all; batch endpoints consume one unit per order) with the docs'
defaults of 10/s (spot 20/s), and ``QUERY`` (order, execution, position and wallet reads) at 50/s.
Over the limit the answer is ``retCode 10006`` with HTTP 200 and the reset timestamp in
``X-Bapi-Limit-Reset-Timestamp``.

Every counted request is also tallied per category and endpoint (``/v5/trade`` ops under their REST
endpoint, as the venue counts them), whatever the answer: the admin API shows the tally
(``GET /admin/ratelimits/bybit-<category>`` -> ``requests``), so tests can see how many requests, not
orders, a client sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import errors
from .errors import BybitError

WINDOW_MS = 1000


@dataclass
class Limit:
    kind: str  # ORDER | QUERY
    limit: int  # per second, per UID and endpoint (spot ORDER: twice this)

    def describe(self) -> dict[str, object]:
        return {"rateLimitType": self.kind, "interval": "SECOND", "intervalNum": 1, "limit": self.limit}


@dataclass
class RateLimiter:
    limits: list[Limit] = field(default_factory=lambda: [Limit("ORDER", 10), Limit("QUERY", 50)])
    enabled: bool = True
    _used: dict[tuple[str, str, str], tuple[int, int]] = field(default_factory=dict)
    _requests: dict[str, dict[str, int]] = field(default_factory=dict)  # category -> endpoint -> requests

    def request_counts(self) -> dict[str, dict[str, int]]:
        return {category: dict(counts) for category, counts in self._requests.items()}

    def describe(self) -> list[dict[str, object]]:
        return [lim.describe() for lim in self.limits]

    def consume(self, kind: str, account_id: str, endpoint: str, category: str, n: int, now_ms: int) -> dict[str, str]:
        """Count ``n`` units; the headers to send; ``BybitError(10006)`` when over the limit."""
        counts = self._requests.setdefault(category, {})
        counts[endpoint] = counts.get(endpoint, 0) + 1
        base = next(lim.limit for lim in self.limits if lim.kind == kind)
        limit = base * 2 if kind == "ORDER" and category == "spot" else base
        key = (account_id, endpoint, category)
        start, used = self._used.get(key, (now_ms, 0))
        if now_ms - start >= WINDOW_MS:
            start, used = now_ms, 0
        over = used + n > limit and self.enabled
        if not over:
            used += n
        self._used[key] = (start, used)
        headers = {
            "X-Bapi-Limit": str(limit),
            "X-Bapi-Limit-Status": str(max(0, limit - used)),
            "X-Bapi-Limit-Reset-Timestamp": str(start + WINDOW_MS if over else now_ms),
        }
        if over:
            raise BybitError(errors.RATE, "Too many visits. Exceeded the API Rate Limit.", headers=headers)
        return headers
