"""Pulse's error answers under the outcome policy (seed 004: JSON-RPC 2.0 ``error`` objects).

An error answer is ``Rejected`` with Pulse's message, except ``too_many_requests``, ``retry`` and
``matching_engine_queue_full``: nothing was executed, so they are ``Retryable``.
"""

from __future__ import annotations

from ...domain.venue import Rejected, Retryable
from ..jsonrpc.client import RpcError

RETRYABLE_CODES = frozenset({10028, 10040, 10047})  # too_many_requests, retry, matching_engine_queue_full


def classify(exc: RpcError) -> Rejected | Retryable:
    """The outcome of an order-entry call Pulse answered with an error."""
    if exc.code in RETRYABLE_CODES:
        return Retryable(f"pulse: {exc.text}", str(exc.code))
    return Rejected(exc.text, str(exc.code))
