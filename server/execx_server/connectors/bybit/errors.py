"""Bybit answers -> the outcome policy (DESIGN §2): ``Rejected`` / ``Retryable`` / ``OutcomeUnknown``.

The rule is "never report rejected when the order may be live":

================================================  ===============  =================================
answer (``../shared/venues/bybit.md`` §7, §8)     outcome          why
================================================  ===============  =================================
HTTP 403 (IP limit), HTTP 429 / retCode 429,      Retryable        refused before execution; wait
retCode 10006 / 10018 (rate limit)                                 until ``X-Bapi-Limit-Reset-
                                                                   Timestamp`` (or a default)
retCode 10002 (timestamp outside recv window)     Retryable        refused before the matching engine
retCode 10000 / 10016 (server timeout / error),   OutcomeUnknown   may have executed (reads: Retryable)
HTTP 5xx
anything else with a retCode (10001, 10003,       Rejected         the venue refused; its message kept
10004, 110001, 110007, 170131, ...), HTTP 401
================================================  ===============  =================================
"""

from __future__ import annotations

from ...domain.venue import OutcomeUnknown, Rejected, Retryable, VenueError

RATE_CODES = frozenset({10006, 10018, 429, 10429, 20003})
RETRYABLE_CODES = frozenset({10002}) | RATE_CODES
UNKNOWN_CODES = frozenset({10000, 10016, 10019})
# A new order under an orderLinkId that exists already: 110072 "OrderLinkedID is duplicate"
# (derivatives), 170141 "Duplicate clientOrderId." (spot).
DUPLICATE_CODES = frozenset({"110072", "170141"})
UNKNOWN_ORDER_CODES = frozenset({110001, 170213})  # cancel / amend / query of an order the venue does not know
UNKNOWN_ORDER_TEXT = frozenset(str(c) for c in UNKNOWN_ORDER_CODES)  # as ``VenueError.code``
DEFAULT_RATE_WAIT_S = 1.0
IP_BAN_WAIT_S = 600.0  # docs: HTTP 403 "access too frequent" -> stop and wait at least 10 minutes


def classify(
    status: int, code: int | None, msg: str, *, mutating: bool, retry_after_s: float | None = None
) -> VenueError:
    code_text = str(code) if code is not None else f"http-{status}"
    text = msg or f"HTTP {status}"
    if status == 403:
        return Retryable(text or "access too frequent", code_text, retry_after_s=retry_after_s or IP_BAN_WAIT_S)
    if status == 429 or code in RATE_CODES:
        return Retryable(text, code_text, retry_after_s=retry_after_s or DEFAULT_RATE_WAIT_S)
    if code in RETRYABLE_CODES:
        return Retryable(text, code_text)
    if code in UNKNOWN_CODES or status >= 500 or status == 408:
        return OutcomeUnknown(text, code_text) if mutating else Retryable(text, code_text)
    return Rejected(text, code_text)


def reset_wait_s(reset_ms: str | None, now_ms: int) -> float | None:
    """Seconds until ``X-Bapi-Limit-Reset-Timestamp``; None when absent or unreadable."""
    if not reset_ms:
        return None
    try:
        return max(0.05, (int(reset_ms) - now_ms) / 1000)
    except ValueError:
        return None
