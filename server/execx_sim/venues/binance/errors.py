"""Binance error codes and messages, as the venue sends them (``{"code": -2010, "msg": ...}``).

Source: binance-spot-api-docs ``errors.md`` and the USDⓈ-M "Error Codes" page
(https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code).
"""

from __future__ import annotations

from decimal import Decimal

from ...core.instruments import Instrument
from ...core.types import OrderError, RejectReason


class BinanceError(Exception):
    """An error answer: HTTP status + Binance code + message (+ headers, e.g. Retry-After)."""

    def __init__(self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def unknown_error() -> BinanceError:
    return BinanceError(-1000, "An unknown error occurred while processing the request.", 500)


def execution_unknown() -> BinanceError:
    # 5xx with -1007: the request may or may not have reached the matching engine.
    return BinanceError(
        -1007,
        "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        503,
    )


def mandatory(param: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed.")


def illegal_chars(param: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{param}'; legal range is '^[0-9]{{1,20}}$'.")


def illegal_decimal(param: str) -> BinanceError:
    return BinanceError(
        -1100,
        f"Illegal characters found in parameter '{param}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.",
    )


def not_required(param: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{param}' sent when not required.")


def invalid_param(param: str, value: str = "") -> BinanceError:
    if param == "side":
        return BinanceError(-1117, "Invalid side.")
    if param == "type":
        return BinanceError(-1116, "Invalid orderType.")
    if param == "timeInForce":
        return BinanceError(-1115, "Invalid timeInForce.")
    return BinanceError(-1130, f"Invalid data sent for a parameter: '{param}'.")


def precision(param: str) -> BinanceError:
    return BinanceError(-1111, f"Parameter '{param}' has too much precision.")


def bad_api_key_format() -> BinanceError:
    return BinanceError(-2014, "API-key format invalid.", 401)


def bad_api_key() -> BinanceError:
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def bad_signature() -> BinanceError:
    return BinanceError(-1022, "Signature for this request is not valid.")


def bad_timestamp(ahead: bool) -> BinanceError:
    if ahead:
        return BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    return BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def bad_recv_window() -> BinanceError:
    return BinanceError(-1131, "recvWindow must be less than 60000")


def listen_key_missing() -> BinanceError:
    return BinanceError(-1125, "This listenKey does not exist.")


def too_many_requests(limit: int, retry_after: int) -> BinanceError:
    return BinanceError(
        -1003,
        f"Too many requests; current limit of IP is {limit} requests per minute. Please use the websocket for live"
        " updates to avoid polling the API.",
        429,
        {"Retry-After": str(retry_after)},
    )


def banned(until_ms: int, retry_after: int) -> BinanceError:
    return BinanceError(
        -1003,
        f"Way too many requests; IP banned until {until_ms}. Please use the websocket for live updates to avoid bans.",
        418,
        {"Retry-After": str(retry_after)},
    )


def too_many_orders(limit: int, interval: str) -> BinanceError:
    return BinanceError(-1015, f"Too many new orders; current limit is {limit} orders per {interval}.", 429)


def from_order_error(e: OrderError, futures: bool, inst: Instrument | None = None, op: str = "place") -> BinanceError:
    """Map an engine refusal to what Binance answers. ``op`` is place / cancel / query / amend."""
    r, d = e.reason, e.detail
    if r is RejectReason.UNKNOWN_SYMBOL:
        return BinanceError(-1121, "Invalid symbol.")
    if r in (RejectReason.UNKNOWN_ORDER, RejectReason.ORDER_NOT_OPEN):
        if op == "query":
            return BinanceError(-2013, "Order does not exist.")
        return BinanceError(-2011, "Unknown order sent.")
    if r is RejectReason.INJECTED:
        return BinanceError(-2010, d or "Order rejected.")
    if futures:
        return _futures_error(r, d, inst)
    return _spot_error(r, d)


def _spot_error(r: RejectReason, d: str) -> BinanceError:
    if r is RejectReason.PRICE_FILTER:
        return BinanceError(-1013, "Filter failure: PRICE_FILTER")
    if r is RejectReason.PERCENT_PRICE:
        return BinanceError(-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")
    if r is RejectReason.LOT_SIZE:
        return BinanceError(-1013, "Filter failure: LOT_SIZE")
    if r is RejectReason.MARKET_LOT_SIZE:
        return BinanceError(-1013, "Filter failure: MARKET_LOT_SIZE")
    if r is RejectReason.MIN_NOTIONAL:
        return BinanceError(-1013, "Filter failure: NOTIONAL")
    if r in (RejectReason.INSUFFICIENT_BALANCE, RejectReason.INSUFFICIENT_MARGIN):
        return BinanceError(-2010, "Account has insufficient balance for requested action.")
    if r is RejectReason.POST_ONLY_WOULD_TAKE:
        return BinanceError(-2010, "Order would immediately match and take.")
    if r is RejectReason.DUPLICATE_CLIENT_ID:
        return BinanceError(-2010, "Duplicate order sent.")
    if r is RejectReason.INVALID_AMEND:
        return BinanceError(-2038, "Order amend rejected: " + d)
    if r is RejectReason.WOULD_TRIGGER_IMMEDIATELY:
        return BinanceError(-2010, "Stop price would trigger immediately.")
    return BinanceError(-2010, d or str(r))


def _futures_error(r: RejectReason, d: str, inst: Instrument | None) -> BinanceError:
    if r is RejectReason.PRICE_FILTER:
        if "tick" in d:
            return BinanceError(-4014, "Price not increased by tick size.")
        return BinanceError(-4013, "Price less than min price.")
    if r is RejectReason.PERCENT_PRICE:
        if d == "up":
            return BinanceError(-4016, "Limit price can't be higher than the allowed band.")
        return BinanceError(-4024, "Limit price can't be lower than the allowed band.")
    if r in (RejectReason.LOT_SIZE, RejectReason.MARKET_LOT_SIZE):
        if "lot" in d:
            return BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        if inst is not None and "outside" in d and _qty_of(d) > (inst.market_max_qty or inst.max_qty):
            return BinanceError(-4005, "Quantity greater than max quantity.")
        return BinanceError(-4003, "Quantity less than or equal to zero.")
    if r is RejectReason.MIN_NOTIONAL:
        minimum = inst.min_notional if inst is not None else Decimal(0)
        return BinanceError(
            -4164, f"Order's notional must be no smaller than {minimum} (unless you choose reduce only)."
        )
    if r in (RejectReason.INSUFFICIENT_MARGIN, RejectReason.INSUFFICIENT_BALANCE):
        return BinanceError(-2019, "Margin is insufficient.")
    if r is RejectReason.POST_ONLY_WOULD_TAKE:
        return BinanceError(
            -5022,
            "Due to the order could not be executed as maker, the Post Only order will be rejected. "
            "The order will not be recorded in the order history",
        )
    if r is RejectReason.DUPLICATE_CLIENT_ID:
        return BinanceError(-4116, "ClientOrderId is duplicated.")
    if r is RejectReason.REDUCE_ONLY:
        return BinanceError(-2022, "ReduceOnly Order is rejected.")
    if r is RejectReason.INVALID_AMEND:
        return BinanceError(-4028, "Invalid modification: " + d)
    return BinanceError(-1000, d or str(r), 400)


def _qty_of(detail: str) -> Decimal:
    try:
        return Decimal(detail.split()[1])
    except (IndexError, ArithmeticError):
        return Decimal(0)
