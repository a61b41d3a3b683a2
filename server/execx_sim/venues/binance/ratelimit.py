"""Binance request-weight and order-count limits, with the headers Binance sends.

Weight is counted per client IP per minute (``X-MBX-USED-WEIGHT-1M``); new orders per account per
10 s and per day (spot) or per minute (futures) (``X-MBX-ORDER-COUNT-10S`` / ``-1D`` / ``-1M``).
Over the weight limit the answer is HTTP 429 ``-1003`` with ``Retry-After``; a client that keeps
sending while limited is banned: HTTP 418 with ``Retry-After`` until the ban ends. The counting is
``core.ratelimit``'s (windows aligned on the epoch, as Binance's are).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ...core.ratelimit import FixedWindows, Limit, RateLimiter
from . import errors

__all__ = ["BinanceLimiter", "Limit", "futures_limits", "spot_limits"]


@dataclass
class BinanceLimiter(RateLimiter):
    ban_ms: int = 120_000
    clock: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    _windows: FixedWindows = field(default_factory=FixedWindows)
    _limited: dict[str, int] = field(default_factory=dict)  # ip -> limited-until ms
    _banned: dict[str, int] = field(default_factory=dict)  # ip -> banned-until ms

    def take(self, kind: str, who: str, n: int = 1) -> dict[str, str]:
        """Count ``n`` units of ``kind`` for ``who``; return the headers to send, or raise.

        ``REQUEST_WEIGHT``: a request's weight for a client IP (``X-MBX-USED-WEIGHT-*``; 429 / 418);
        ``ORDERS``: new orders for an account (``X-MBX-ORDER-COUNT-*``; -1015)."""
        if kind == "REQUEST_WEIGHT":
            return self._weight(who, n)
        if kind == "ORDERS":
            return self._orders(who, n)
        raise ValueError(f"Binance counts REQUEST_WEIGHT or ORDERS, not {kind!r}")

    def _weight(self, ip: str, weight: int) -> dict[str, str]:
        now = self.clock()
        if self._banned.get(ip, 0) > now:
            until = self._banned[ip]
            raise errors.banned(until, max(1, (until - now) // 1000))
        if self._limited.get(ip, 0) > now:
            # Still limited and still sending: that is what gets an IP banned.
            self._banned[ip] = now + self.ban_ms
            raise errors.banned(now + self.ban_ms, self.ban_ms // 1000)
        headers: dict[str, str] = {}
        for lim in self.limits:
            if lim.kind != "REQUEST_WEIGHT":
                continue
            used = self._windows.take((ip, lim.kind, lim.header_suffix), lim.window_ms, now, weight).used
            headers[f"X-MBX-USED-WEIGHT-{lim.header_suffix}"] = str(used)
            if self.enabled and used > lim.limit:
                retry = max(1, (lim.window_ms - now % lim.window_ms) // 1000)
                self._limited[ip] = now + retry * 1000
                err = errors.too_many_requests(lim.limit, retry)
                err.headers.update(headers)
                raise err
        return headers

    def _orders(self, account_id: str, n: int) -> dict[str, str]:
        now = self.clock()
        headers: dict[str, str] = {}
        for lim in self.limits:
            if lim.kind != "ORDERS":
                continue
            used = self._windows.take((account_id, lim.kind, lim.header_suffix), lim.window_ms, now, n).used
            headers[f"X-MBX-ORDER-COUNT-{lim.header_suffix}"] = str(used)
            if self.enabled and used > lim.limit:
                raise errors.too_many_orders(lim.limit, f"{lim.interval_num} {lim.interval.lower()}")
        return headers


def spot_limits() -> BinanceLimiter:
    return BinanceLimiter(
        [
            Limit("REQUEST_WEIGHT", "MINUTE", 1, 6000),
            Limit("ORDERS", "SECOND", 10, 100),
            Limit("ORDERS", "DAY", 1, 200_000),
            Limit("RAW_REQUESTS", "MINUTE", 5, 61_000),
        ]
    )


def futures_limits() -> BinanceLimiter:
    return BinanceLimiter(
        [
            Limit("REQUEST_WEIGHT", "MINUTE", 1, 2400),
            Limit("ORDERS", "MINUTE", 1, 1200),
            Limit("ORDERS", "SECOND", 10, 300),
        ]
    )
