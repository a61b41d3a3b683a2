"""Domain errors. The API layer maps them to gRPC codes (INVALID_ARGUMENT, ALREADY_EXISTS, ...)."""

from __future__ import annotations


class ValidationError(ValueError):
    """Bad input: names the field and the reason. Nothing is sent to a venue."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidTransition(RuntimeError):
    """A venue reported a status change the order state machine does not allow."""

    def __init__(self, cl_order_id: str, current: str, reported: str) -> None:
        super().__init__(f"order {cl_order_id}: {current} -> {reported} is not a valid transition")
        self.cl_order_id = cl_order_id
        self.current = current
        self.reported = reported


class NotFound(LookupError):
    """The named session / order / manager does not exist (NOT_FOUND)."""


class AlreadyExists(Exception):
    """A session id was used before, or a clOrderId reused with different parameters (ALREADY_EXISTS)."""


class PermissionDenied(Exception):
    """The calling API key may not use what the request names (another key's session or its objects)."""


class FailedPrecondition(Exception):
    """The request is valid but the current state does not allow it, e.g. amending a filled order."""


class Unavailable(Exception):
    """The service cannot act now (e.g. its journal cannot write); retry later (UNAVAILABLE)."""
