"""OKX v5 error codes and messages (docs ``error-code-rest-api-public``, ``error-code-websocket-public``;
``../shared/venues/okx.md`` §8).

OKX answers HTTP 200 for almost everything, with the outcome in the envelope: top-level ``code``
(``"0"`` success, ``"1"`` every item failed, ``"2"`` a batch partly succeeded, or the error code of
a request-level failure with empty ``data``) and, per order item, ``sCode`` / ``sMsg``. Auth errors
are HTTP 401, rate limits HTTP 429 (``50011``).
"""

from __future__ import annotations

from ...core.types import OrderError, RejectReason


class OkxError(Exception):
    """A request-level failure: ``{"code": code, "msg": msg, "data": []}`` with HTTP ``status``."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status


class ItemError(Exception):
    """One order item failed: reported as its ``sCode`` / ``sMsg`` inside ``data``."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


def param_error(name: str) -> OkxError:
    return OkxError("51000", f"Parameter {name} error")


def param_empty(name: str) -> OkxError:
    return OkxError("50014", f"Parameter {name} can not be empty.")


def item_param_error(name: str) -> ItemError:
    return ItemError("51000", f"Parameter {name} error")


RATE_LIMITED = ("50011", "Too Many Requests")
ALL_FAILED = "All operations failed"
PARTIAL = "Batch operation partially succeeded"

UNKNOWN_INSTRUMENT = ItemError("51001", "Instrument ID, Instrument ID code or Spread ID doesn't exist.")
DUPLICATE_CL_ORD_ID = ItemError("51016", "Client order ID already exists.")
CANCEL_FAILED = ItemError(
    "51400", "Order cancellation failed as the order has been filled, canceled or does not exist."
)
AMEND_CLOSED = ItemError("51503", "Your order has already been filled or canceled.")
AMEND_POST_ONLY_CROSS = ItemError(
    "51511", "Operation failed as the order price would take liquidity (post-only order)."
)
ORDER_NOT_FOUND = OkxError("51603", "Order does not exist.")


def from_engine(exc: OrderError, ccy: str = "") -> ItemError:
    """The ``sCode`` / ``sMsg`` OKX gives for an engine refusal."""
    r = exc.reason
    if r is RejectReason.UNKNOWN_SYMBOL:
        return UNKNOWN_INSTRUMENT
    if r in (RejectReason.INSUFFICIENT_BALANCE, RejectReason.INSUFFICIENT_MARGIN):
        asset = exc.detail or ccy
        return ItemError("51008", f"Order failed. Insufficient {asset} balance in account.")
    if r is RejectReason.DUPLICATE_CLIENT_ID:
        return DUPLICATE_CL_ORD_ID
    if r in (RejectReason.LOT_SIZE, RejectReason.MARKET_LOT_SIZE):
        return ItemError("51121", f"Order quantity must be a multiple of the lot size. ({exc.detail})")
    if r is RejectReason.MIN_NOTIONAL:
        return ItemError("51020", "Your order should meet or exceed the minimum order amount.")
    if r is RejectReason.PRICE_FILTER:
        return ItemError("51000", "Parameter px error")
    if r is RejectReason.PERCENT_PRICE:
        return ItemError("51006", "Order price is not within the price limit")
    if r is RejectReason.REDUCE_ONLY:
        return ItemError(
            "51169",
            "Order failed because you don't have any positions in this direction for this contract to reduce or close.",
        )
    if r in (RejectReason.UNKNOWN_ORDER, RejectReason.ORDER_NOT_OPEN):
        return CANCEL_FAILED
    if r is RejectReason.NO_LIQUIDITY:
        return ItemError("51116", "Order price or trigger price exceeds the limit.")
    return ItemError("51000", exc.detail or str(r))
