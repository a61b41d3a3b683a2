"""The one exception of the client."""

from __future__ import annotations

import grpc


class ExecxError(Exception):
    """Any failure of a call: ``code`` is always a ``grpc.StatusCode`` (INVALID_ARGUMENT for an input
    the client refuses before sending, UNAVAILABLE / DEADLINE_EXCEEDED when execx cannot be reached
    within the call's timeout, otherwise execx's own status), ``message`` execx's text."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
