"""The REST transport every venue's ``rest.py`` sends through: it owns the use of the connector's
``aiohttp`` session, the translation of transport failures into the outcome policy, and the timing.

- ``send``: one HTTP exchange; a failure to connect is ``Retryable`` (nothing reached the venue), a
  failure after the request may have left (timeout, dropped connection) is ``OutcomeUnknown`` for a
  mutating request and ``Retryable`` for a read (asking again changes nothing). The aiohttp error is
  kept as the cause (``raise ... from exc``).
- ``measured``: one venue request's latency and outcome to the telemetry (``transport.telemetry``).
- ``unreadable``: the outcome of a 2xx answer whose body cannot be decoded.

A venue ``rest.py`` keeps only what is the venue's own: signing, paths, and reading its envelopes and
error codes (its ``errors.classify``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from ...domain.venue import OutcomeUnknown, Rejected, Retryable, VenueError
from .telemetry import NULL_TELEMETRY, Telemetry, measured

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RestAnswer:
    """What the venue answered: HTTP status, body text, headers (rate-limit counters, Retry-After)."""

    status: int
    text: str
    headers: CIMultiDictProxy[str]


class RestTransport:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base = base_url
        self.telemetry: Telemetry = NULL_TELEMETRY  # set by the connector (the composition root's hook)

    async def send(
        self,
        method: str,
        url: str | URL,
        *,
        path: str,
        mutating: bool,
        data: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RestAnswer:
        """One HTTP request to ``url`` (``path``: how errors name it); transport failures raised as
        ``Retryable`` / ``OutcomeUnknown`` with the aiohttp error as their cause."""
        try:
            async with self.session.request(method, url, data=data, headers=headers) as resp:
                text = await resp.text()
                return RestAnswer(resp.status, text, resp.headers)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise Retryable(f"connection to {self.base} failed: {type(exc).__name__}", "connect") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            if mutating:
                raise OutcomeUnknown(f"{method} {path}: {type(exc).__name__} after sending", "transport") from exc
            raise Retryable(f"{method} {path}: {type(exc).__name__}", "transport") from exc

    def measured(
        self, endpoint: str, request: Awaitable[T], rejected: tuple[type[Exception], ...] = (Rejected,)
    ) -> Coroutine[Any, Any, T]:
        """``request``, its latency and outcome reported under ``endpoint`` (method + path) once awaited
        (``telemetry.measured``, returned as it is: no frame of its own on every resumption)."""
        return measured(self.telemetry, endpoint, request, rejected)


def unreadable(method: str, path: str, mutating: bool) -> VenueError:
    """A 2xx answer that cannot be decoded: the order may exist (``OutcomeUnknown``) if it was mutating,
    otherwise asking again is safe (``Retryable``). Raise it ``from`` the decoding error."""
    if mutating:
        return OutcomeUnknown(f"{method} {path}: unreadable answer", "bad-json")
    return Retryable(f"{method} {path}: unreadable answer", "bad-json")
