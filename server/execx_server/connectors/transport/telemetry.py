"""What connectors report for metrics, without importing the metrics module (connectors import only
``domain`` and ``transport``). The composition root sets ``connector.telemetry`` to an adapter over
``observability.metrics.Metrics``; the default records nothing.

Labels stay bounded: ``endpoint`` is a method and path template (``"POST /api/v3/order"``), never
an id; ``outcome`` is one of ``ok``, ``rejected``, ``retryable``, ``unknown``; ``stream`` is a
stream kind (``"user"``, ``"market"``).
"""

from __future__ import annotations

from typing import Protocol


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
