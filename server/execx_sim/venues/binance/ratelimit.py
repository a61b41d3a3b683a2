"""Binance request-weight and order-count limits, with the headers Binance sends.

Weight is counted per client IP per minute (``X-MBX-USED-WEIGHT-1M``); new orders per account per
10 s and per day (spot) or per minute (futures) (``X-MBX-ORDER-COUNT-10S`` / ``-1D`` / ``-1M``).
Over the weight limit the answer is HTTP 429 ``-1003`` with ``Retry-After``; a client that keeps
sending while limited is banned: HTTP 418 with ``Retry-After`` until the ban ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import errors

INTERVAL_MS = {"S": 1_000, "M": 60_000, "H": 3_600_000, "D": 86_400_000}


@dataclass
class Limit:
    kind: str  # REQUEST_WEIGHT | ORDERS
    interval: str  # SECOND | MINUTE | DAY
    interval_num: int
    limit: int

    @property
    def header_suffix(self) -> str:
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


@dataclass
class _Window:
    start_ms: int = 0
    used: int = 0

    def add(self, now_ms: int, window_ms: int, n: int) -> int:
        start = now_ms - now_ms % window_ms
        if start != self.start_ms:
            self.start_ms, self.used = start, 0
        self.used += n
        return self.used


@dataclass
class RateLimiter:
    limits: list[Limit]
    ban_ms: int = 120_000
    enabled: bool = True
    clock: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    _windows: dict[tuple[str, str, str], _Window] = field(default_factory=dict)
    _limited: dict[str, int] = field(default_factory=dict)  # ip -> limited-until ms
    _banned: dict[str, int] = field(default_factory=dict)  # ip -> banned-until ms

    def request(self, ip: str, weight: int) -> dict[str, str]:
        """Count a request's weight; return the headers to send, or raise 429 / 418."""
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
            used = self._windows.setdefault((ip, lim.kind, lim.header_suffix), _Window()).add(
                now, lim.window_ms, weight
            )
            headers[f"X-MBX-USED-WEIGHT-{lim.header_suffix}"] = str(used)
            if self.enabled and used > lim.limit:
                retry = max(1, (lim.window_ms - now % lim.window_ms) // 1000)
                self._limited[ip] = now + retry * 1000
                err = errors.too_many_requests(lim.limit, retry)
                err.headers.update(headers)
                raise err
        return headers

    def order(self, account_id: str) -> dict[str, str]:
        """Count one new order for an account; return the order-count headers or raise -1015."""
        now = self.clock()
        headers: dict[str, str] = {}
        for lim in self.limits:
            if lim.kind != "ORDERS":
                continue
            used = self._windows.setdefault((account_id, lim.kind, lim.header_suffix), _Window()).add(
                now, lim.window_ms, 1
            )
            headers[f"X-MBX-ORDER-COUNT-{lim.header_suffix}"] = str(used)
            if self.enabled and used > lim.limit:
                raise errors.too_many_orders(lim.limit, f"{lim.interval_num} {lim.interval.lower()}")
        return headers

    def describe(self) -> list[dict[str, object]]:
        return [lim.describe() for lim in self.limits]


def spot_limits() -> RateLimiter:
    return RateLimiter(
        [
            Limit("REQUEST_WEIGHT", "MINUTE", 1, 6000),
            Limit("ORDERS", "SECOND", 10, 100),
            Limit("ORDERS", "DAY", 1, 200_000),
            Limit("RAW_REQUESTS", "MINUTE", 5, 61_000),
        ]
    )


def futures_limits() -> RateLimiter:
    return RateLimiter(
        [
            Limit("REQUEST_WEIGHT", "MINUTE", 1, 2400),
            Limit("ORDERS", "MINUTE", 1, 1200),
            Limit("ORDERS", "SECOND", 10, 300),
        ]
    )
