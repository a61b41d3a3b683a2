"""Bybit error answers: the ``retCode``/``retMsg`` envelope codes the docs list (``docs/v5/error``),
and the mapping of engine refusals to them (spot has its own 170xxx family)."""

from __future__ import annotations

from ...core.types import OrderError, RejectReason


class BybitError(Exception):
    """A refused request: ``retCode``, ``retMsg``; ``status`` is the HTTP status (200 for most)."""

    def __init__(self, code: int, msg: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}


PARAM = 10001
TIMESTAMP = 10002
API_KEY = 10003
SIGN = 10004
RATE = 10006
NOT_LOGGED_IN = 10007
SERVER = 10016
ORDER_NOT_EXIST = 110001
PRICE_RANGE = 110003
INSUFFICIENT = 110007
REDUCE_ONLY = 110017
AMEND_BELOW_FILLED = 110063
DUPLICATE_LINK = 110072
MIN_VALUE = 110094
EXPECT_RISING = 110092  # conditional order: triggerDirection 1 with the trigger price at or below the market
EXPECT_FALLING = 110093  # triggerDirection 2 with the trigger price at or above the market
SPOT_BALANCE = 170131
SPOT_PRICE_DECIMALS = 170134
SPOT_QTY_MAX = 170135
SPOT_QTY_MIN = 170136
SPOT_QTY_DECIMALS = 170137
SPOT_VALUE_MIN = 170140
SPOT_DUPLICATE = 170141
SPOT_PRICE_HIGH = 170193
SPOT_PRICE_LOW = 170194
SPOT_NOT_EXIST = 170213
SPOT_ORDER_FILTER = 170202  # "Invalid orderFilter parameter." (ccxt maps it to InvalidOrder)

MSG_SIGN = "Error sign, please check your signature generation algorithm."
MSG_KEY = "API key is invalid."


def param(detail: str) -> BybitError:
    return BybitError(PARAM, f"params error: {detail}")


def not_found(spot: bool) -> BybitError:
    if spot:
        return BybitError(SPOT_NOT_EXIST, "Order does not exist.")
    return BybitError(ORDER_NOT_EXIST, "order not exists or too late to cancel")


def order_filter() -> BybitError:
    return BybitError(SPOT_ORDER_FILTER, "Invalid orderFilter parameter.")


def duplicate_link(spot: bool) -> BybitError:
    if spot:
        return BybitError(SPOT_DUPLICATE, "Duplicate clientOrderId.")
    return BybitError(DUPLICATE_LINK, "OrderLinkedID is duplicate")


def from_engine(e: OrderError, spot: bool) -> BybitError:
    """The code Bybit answers for a refusal of the matching engine."""
    r, detail = e.reason, e.detail
    if r in (RejectReason.UNKNOWN_ORDER, RejectReason.ORDER_NOT_OPEN):
        return not_found(spot)
    if r is RejectReason.DUPLICATE_CLIENT_ID:
        return duplicate_link(spot)
    if r is RejectReason.UNKNOWN_SYMBOL:
        return param("symbol invalid")
    if spot:
        spot_codes: dict[RejectReason, tuple[int, str]] = {
            RejectReason.PRICE_FILTER: (SPOT_PRICE_DECIMALS, "Order price has too many decimals."),
            RejectReason.PERCENT_PRICE: (
                (SPOT_PRICE_HIGH, "Buy order price cannot be higher than the allowed range.")
                if detail == "up"
                else (SPOT_PRICE_LOW, "Sell order price cannot be lower than the allowed range.")
            ),
            RejectReason.LOT_SIZE: (
                (SPOT_QTY_DECIMALS, "Order quantity has too many decimals.")
                if "multiple" in detail
                else (SPOT_QTY_MIN, "Order quantity is lower than the minimum.")
            ),
            RejectReason.MARKET_LOT_SIZE: (SPOT_QTY_MAX, "Order quantity exceeded upper limit."),
            RejectReason.MIN_NOTIONAL: (SPOT_VALUE_MIN, "Order value exceeded lower limit."),
            RejectReason.INSUFFICIENT_BALANCE: (SPOT_BALANCE, "Insufficient balance."),
            RejectReason.INSUFFICIENT_MARGIN: (SPOT_BALANCE, "Insufficient balance."),
        }
        if r in spot_codes:
            code, msg = spot_codes[r]
            return BybitError(code, msg)
    derivative: dict[RejectReason, tuple[int, str]] = {
        RejectReason.PERCENT_PRICE: (PRICE_RANGE, "Order price is out of permissible range"),
        RejectReason.MIN_NOTIONAL: (MIN_VALUE, "Order does not meet minimum order value"),
        RejectReason.INSUFFICIENT_BALANCE: (INSUFFICIENT, "Insufficient available balance"),
        RejectReason.INSUFFICIENT_MARGIN: (INSUFFICIENT, "Insufficient available balance"),
        RejectReason.REDUCE_ONLY: (REDUCE_ONLY, "Reduce-only rule not satisfied"),
    }
    if r in derivative:
        code, msg = derivative[r]
        return BybitError(code, msg)
    return param(detail or str(r).lower())
