"""What connectors report for metrics, without importing the metrics module (connectors import only
``domain`` and ``transport``). The composition root sets ``connector.telemetry`` to an adapter over
``observability.metrics.Metrics``; the default records nothing.

Labels stay bounded: ``endpoint`` is a method and path template (``"POST /api/v3/order"``), never
an id; ``outcome`` is one of ``ok``, ``rejected``, ``retryable``, ``unknown``; ``stream`` is a
stream kind (``"user"``, ``"market"``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

from ...domain.venue import OutcomeUnknown, Rejected, Retryable

T = TypeVar("T")


class Telemetry(Protocol):
    def request(self, endpoint: str, outcome: str, seconds: float) -> None: ...

    def reconnect(self, stream: str) -> None: ...

    def headroom(self, ratio: float) -> None: ...


class NullTelemetry:
    def request(self, endpoint: str, outcome: str, seconds: float) -> None:
        return None

    def reconnect(self, stream: str) -> None:
        return None

    def headroom(self, ratio: float) -> None:
        return None


NULL_TELEMETRY = NullTelemetry()


async def measured(
    telemetry: Telemetry,
    endpoint: str,
    request: Awaitable[T],
    rejected: tuple[type[Exception], ...] = (Rejected,),
) -> T:
    """Await one venue request and report its latency and outcome: ``ok``, ``rejected`` (one of the
    ``rejected`` exceptions: the venue refused), ``retryable``, ``unknown``; anything else propagates as it
    is, counted ``ok`` (not a venue answer)."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        return await request
    except rejected:
        outcome = "rejected"
        raise
    except Retryable:
        outcome = "retryable"
        raise
    except OutcomeUnknown:
        outcome = "unknown"
        raise
    finally:
        telemetry.request(endpoint, outcome, time.perf_counter() - started)
