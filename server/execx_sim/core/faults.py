"""Fault injection, per venue, set at run time through the admin API.

Counters are deterministic ("the next N requests"), so tests can provoke exactly one fault.
Front-ends consult ``Faults`` at fixed points: before answering any REST / WS-API request
(latency, 5xx, rate limit), before accepting an order (reject), after an order reached the engine
(slow ack, unknown outcome), and in their stream writers (silence, drop).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Faults:
    latency_ms: float = 0.0  # added to every REST / WS-API answer
    http_5xx: int = 0  # the next N requests answer with a 5xx (nothing reaches the engine)
    http_5xx_status: int = 503
    rate_limit: int = 0  # the next N requests answer 429 with the venue's rate-limit headers
    ban: int = 0  # the next N requests answer 418 (IP banned) with Retry-After
    retry_after_s: int = 2
    reject_orders: int = 0  # the next N orders are refused with the venue's generic reject
    reject_message: str = "Order rejected by fault injection."
    slow_ack_ms: float = 0.0  # an order reaches the engine at once but its answer is delayed
    unknown_outcome: int = 0  # the next N orders reach the engine, then the request fails with a 5xx / drop
    silent_until: float = 0.0  # monotonic deadline: websockets stay open but send nothing
    drop_generation: int = 0  # bumped by drop_ws(); writers close connections opened before

    def take(self, name: str) -> bool:
        """Consume one unit of a counted fault; True if it fires."""
        n: int = getattr(self, name)
        if n > 0:
            setattr(self, name, n - 1)
            return True
        return False

    @property
    def silent(self) -> bool:
        return time.monotonic() < self.silent_until

    def silence(self, seconds: float) -> None:
        self.silent_until = time.monotonic() + seconds

    def update(self, values: dict[str, Any]) -> None:
        """Set faults from ``{name: value}``, all or nothing; ``ValueError`` names the offending field."""
        parsed: dict[str, Any] = {}
        for key, value in values.items():
            if key != "silent_s" and (key.startswith("_") or key == "silent_until" or not hasattr(self, key)):
                raise ValueError(f"unknown fault {key!r}")
            kind = float if key == "silent_s" else type(getattr(self, key))
            try:
                if isinstance(value, bool) or not isinstance(value, int | float | str):
                    raise TypeError
                converted = kind(value)
            except (TypeError, ValueError):
                raise ValueError(f"fault {key!r} must be a {kind.__name__}") from None
            if kind is not str and not 0 <= converted < float("inf"):
                raise ValueError(f"fault {key!r} must be a finite number >= 0")
            parsed[key] = converted
        for key, converted in parsed.items():
            if key == "silent_s":
                self.silence(converted)
            else:
                setattr(self, key, converted)

    def snapshot(self) -> dict[str, Any]:
        data = asdict(self)
        data["silent"] = self.silent
        return data
