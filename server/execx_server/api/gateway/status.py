"""``google.rpc.Status`` JSON bodies and grpc-gateway's gRPC status -> HTTP status table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2  # noqa: F401 (error_details: Any types for details)

# grpc-gateway's runtime.HTTPStatusFromCode.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

# The reverse, for errors the gateway itself produces from an HTTP condition.
CODE_FOR_HTTP: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ALREADY_EXISTS,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    426: grpc.StatusCode.FAILED_PRECONDITION,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

# Websocket close codes: 1000 when a stream ends normally, else 4000 + the HTTP status of the
# error (4400 invalid argument, 4401 unauthenticated, 4404 not found, 4429 too slow, ...); the
# Status JSON is the last text frame before the close.
WS_CLOSE_OK = 1000
WS_CLOSE_GOING_AWAY = 1001


def code_number(code: grpc.StatusCode) -> int:
    """The numeric value of a status code (``grpc.StatusCode.NOT_FOUND`` -> 5)."""
    value: tuple[int, str] = code.value
    return value[0]


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


def ws_close_code(code: grpc.StatusCode) -> int:
    """The websocket close code for a stream that ended with ``code``."""
    if code == grpc.StatusCode.OK:
        return WS_CLOSE_OK
    return 4000 + http_status(code)


def status_json(code: grpc.StatusCode, message: str, details: Sequence[Any] = ()) -> dict[str, Any]:
    """A ``google.rpc.Status`` JSON body."""
    return {"code": code_number(code), "message": message, "details": list(details)}


def code_from_http(status: int) -> grpc.StatusCode:
    if status in CODE_FOR_HTTP:
        return CODE_FOR_HTTP[status]
    return grpc.StatusCode.INVALID_ARGUMENT if 400 <= status < 500 else grpc.StatusCode.INTERNAL


def rich_status(trailing: Sequence[tuple[str, str | bytes]] | None) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` a server put in ``grpc-status-details-bin``, if any."""
    for key, value in trailing or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            st = status_pb2.Status()
            try:
                st.ParseFromString(value)
            except Exception:  # a malformed detail is ignored, the code and message still stand
                return None
            return st
    return None
