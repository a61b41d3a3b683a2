"""Binance answers -> the outcome policy (DESIGN §2): ``Rejected`` / ``Retryable`` / ``OutcomeUnknown``.

The rule is "never report rejected when the order may be live":

============================================  ================  ====================================
answer                                        outcome           why (binance.md §7, spot errors.md)
============================================  ================  ====================================
HTTP 418 (IP ban), HTTP 429                   Retryable         answered before execution; wait
                                                                ``Retry-After`` seconds
code -1003 TOO_MANY_REQUESTS, -1015 TOO_MANY  Retryable         refused by the rate limiter
_ORDERS, -1008 (futures: throttled, "retry")
code -1021 timestamp outside recvWindow       Retryable         refused before the matching engine;
                                                                a fresh timestamp fixes it
code -1007 TIMEOUT ("execution status         OutcomeUnknown    may have executed
unknown"), HTTP 408, any HTTP 5xx
other 4xx with a code (-2010, -2011, -5022,   Rejected          the venue refused; its message kept
-1013 filters, -2019 margin, ...)
============================================  ================  ====================================

Transport failures (``rest.py``): connection refused / connect timeout -> Retryable (nothing was
sent); read timeout or socket dropped after the request was written -> OutcomeUnknown for requests
that change state, Retryable for reads (asking again is harmless).
"""

from __future__ import annotations

from ...domain.venue import OutcomeUnknown, Rejected, Retryable, VenueError

RETRYABLE_CODES = frozenset({-1003, -1015, -1008, -1021})
UNKNOWN_CODES = frozenset({-1007, -1006})  # -1006: "unexpected response ... execution status unknown"

UNKNOWN_ORDER_CODES = frozenset({-2013, -2011})  # query / cancel of an order the venue does not know
# A new order under a client order id that is live already (binance.md §7): futures -4116 "ClientOrderId is
# duplicated."; spot answers -2010, its code for several refusals, with "Duplicate order sent.".
DUPLICATE_CODES = frozenset({"-4116"})
DUPLICATE_SHARED_CODES = frozenset({"-2010"})
POST_ONLY_CROSS_CODES = frozenset({-5022})  # futures GTX; spot uses -2010 with a message


def classify(status: int, code: int | None, msg: str, retry_after_s: float | None = None) -> VenueError:
    """The outcome of a non-2xx answer (``code``/``msg`` from the JSON body, when there was one)."""
    code_text = str(code) if code is not None else f"http-{status}"
    text = msg or f"HTTP {status}"
    if status in (418, 429):
        return Retryable(text, code_text, retry_after_s=retry_after_s)
    if code in RETRYABLE_CODES:
        return Retryable(text, code_text, retry_after_s=retry_after_s)
    if code in UNKNOWN_CODES or status == 408 or status >= 500:
        return OutcomeUnknown(text, code_text)
    return Rejected(text, code_text)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` is seconds (binance.md §8); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
