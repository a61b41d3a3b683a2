"""OKX answers -> the outcome policy (DESIGN §2): ``Rejected`` / ``Retryable`` / ``OutcomeUnknown``.

"Never report rejected when the order may be live" (``../shared/venues/okx.md`` §8, §9):

=============================================  ==============  =======================================
answer                                         outcome         why
=============================================  ==============  =======================================
HTTP 429, code 50011 (rate limit), 50013       Retryable       refused before execution; OKX windows
(busy), 50061 (sub-account order limit)                        are 2 s (no Retry-After header)
50102 timestamp expired                        Retryable       refused at the gate; a new timestamp fixes it
HTTP 5xx, 50001 (service unavailable), 50004   OutcomeUnknown  may have executed
(endpoint timeout), 50026 (system error)
anything else with a code (51008, 51016,       Rejected        the venue refused; its message kept
51400, 51503, 50113, ...)
=============================================  ==============  =======================================

For reads (queries) an "unknown" outcome is reported as ``Retryable``: asking again is harmless.
"""

from __future__ import annotations

from ...domain.venue import OutcomeUnknown, Rejected, Retryable, VenueError

RATE_LIMIT_WINDOW_S = 2.0
RETRYABLE_CODES = frozenset({"50011", "50013", "50061", "50102", "60014"})
UNKNOWN_CODES = frozenset({"50001", "50004", "50026", "51149"})
UNKNOWN_ORDER_CODES = frozenset(
    {"51603", "51400", "51503"}
)  # query / cancel / amend of an order not (or no longer) live
CANCEL_FAILED = "51400"
DUPLICATE_CODES = frozenset({"51016"})  # "Client order ID already exists." (okx.md §8)
NOT_FOUND = "51603"


def classify(status: int, code: str, msg: str, mutating: bool = True) -> VenueError:
    """The outcome of a failed answer (HTTP ``status``; ``code`` / ``msg`` from the envelope or the item)."""
    code = code or f"http-{status}"
    text = msg or f"HTTP {status}"
    if status == 429 or code in RETRYABLE_CODES:
        return Retryable(text, code, retry_after_s=RATE_LIMIT_WINDOW_S if code != "50102" else None)
    if status >= 500 or status == 408 or code in UNKNOWN_CODES:
        return OutcomeUnknown(text, code) if mutating else Retryable(text, code)
    return Rejected(text, code)
