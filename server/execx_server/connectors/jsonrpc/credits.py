"""Deribit's (and Pulse's) request credits in fleet mode: each private request drawn from the account's
budget shared on Redis before it is sent (``transport.ratelimit.RateGate``, ``fleet/budget.py``).

Deribit counts credits per (sub-)account across every connection, JSON-RPC and FIX alike
(``../shared/venues/deribit.md`` §5): a leaky bucket for the matching engine (place, edit, cancel; by
7-day volume tier, tier 4 being 5 per second with a burst of 20) and one for every other request (20 per
second, burst 100); ``private/subscribe`` costs six requests. Out of credits the venue answers ``10028
too_many_requests``. The account's own figures come from ``private/get_account_summary`` (``limits``),
read at start in fleet mode (``learn``); until then the most conservative tier is assumed. Pulse (seed
004) documents no limits of its own: as a Deribit-style gateway it is budgeted the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ...domain.venue import Retryable
from ..transport.ratelimit import Bucket, RateGate, credit_bucket
from ..transport.websocket import NoAnswer, NotSent

log = logging.getLogger("execx.jsonrpc.credits")

MATCHING_ENGINE = frozenset(
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
COST = {"private/subscribe": 6}  # 3000 credits: six of the default 500
TOO_MANY_REQUESTS = 10028
QUERY_WAIT_S = 5.0  # a query refused by the budget is held this long at most (an order never)
BLOCK_S = 1.0  # after a 10028: the bucket refills ~10 credits per ms; a second is ample


class Credits:
    """The account's two credit buckets; ``gate`` None (not fleet mode): nothing is drawn."""

    def __init__(self, gate: RateGate | None) -> None:
        self.gate = gate
        self.matching: tuple[float, int] = (5.0, 20)  # (rate per s, burst): tier 4 until the venue says
        self.other: tuple[float, int] = (20.0, 100)

    def buckets(self, method: str) -> list[Bucket]:
        rate, burst = self.matching if method in MATCHING_ENGINE else self.other
        name = "me" if method in MATCHING_ENGINE else "nme"
        return [credit_bucket(name, rate, burst, COST.get(method, 1))]

    async def draw(self, method: str) -> None:
        """Count ``method`` (a JSON-RPC method; FIX order messages count as ``private/buy``); ``Retryable``
        (not sent) when the fleet's budget is spent."""
        if self.gate is None or not method.startswith("private/"):
            return
        if method in MATCHING_ENGINE:
            await self.gate.acquire(self.buckets(method), order=True)
            return
        waited = 0.0
        while True:  # a query (or the start's subscriptions) waits its turn, up to QUERY_WAIT_S
            try:
                await self.gate.acquire(self.buckets(method), order=False)
                return
            except Retryable as e:
                pause = min(max(e.retry_after_s or 0.1, 0.05), 1.0)
                if waited + pause > QUERY_WAIT_S:
                    raise
            await asyncio.sleep(pause)
            waited += pause

    def answered(self, code: int) -> None:
        """An error answer: ``10028`` holds every execx on the account."""
        if code == TOO_MANY_REQUESTS and self.gate is not None:
            self.gate.venue_block(BLOCK_S, "too_many_requests")

    async def learn(
        self, call: Callable[[str, dict[str, Any]], Awaitable[Any]], currencies: Mapping[str, list[str]]
    ) -> None:
        """Fleet mode: the account's limits from ``private/get_account_summary`` (``currencies``: per
        instrument its base and settlement currency; one settlement currency is asked). Not answered: the
        conservative defaults stay."""
        if self.gate is None or not currencies:
            return
        from .client import RpcError  # the client uses this module

        try:
            summary = await call("private/get_account_summary", {"currency": min(c[-1] for c in currencies.values())})
        except (RpcError, NotSent, NoAnswer, Retryable) as e:
            log.warning("jsonrpc.credits.limits_unknown", extra={"error": str(e)})
            return
        limits = summary.get("limits") if isinstance(summary, dict) else None
        if not isinstance(limits, dict):
            return
        total = (limits.get("matching_engine") or {}).get("trading", {}).get("total")
        other = limits.get("non_matching_engine")
        if isinstance(total, dict) and "rate" in total and "burst" in total:
            self.matching = (float(total["rate"]), int(total["burst"]))
        if isinstance(other, dict) and "rate" in other and "burst" in other:
            self.other = (float(other["rate"]), int(other["burst"]))
