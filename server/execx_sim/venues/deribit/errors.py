"""Deribit's errors: ``DeribitError`` (the JSON-RPC ``error`` object, also a FIX reject's text) and the
engine's refusals as Deribit's codes and messages (docs "Errors", complete table)."""

from __future__ import annotations

from ...core.engine import Market
from ...core.types import OrderError, RejectReason
from ..jsonrpc import RpcError as DeribitError

__all__ = ["DeribitError", "from_order_error"]


def from_order_error(e: OrderError, market: Market, symbol: str) -> DeribitError:
    r = e.reason
    if r is RejectReason.UNKNOWN_SYMBOL:
        return DeribitError(10020, "invalid_or_unsupported_instrument")
    if r is RejectReason.PRICE_FILTER:
        if "tick" in e.detail:
            return DeribitError(10043, "price_wrong_tick")
        return DeribitError(10023, "invalid_price")
    if r is RejectReason.PERCENT_PRICE:
        inst = market.instruments[symbol]
        mark = market.mark_price(symbol)
        if e.detail == "up":
            return DeribitError(10007, "price_too_high", {"limit": inst.fmt_price(mark * inst.percent_up)})
        return DeribitError(10005, "price_too_low", {"limit": inst.fmt_price(mark * inst.percent_down)})
    if r in (RejectReason.LOT_SIZE, RejectReason.MARKET_LOT_SIZE):
        if "multiple" in e.detail:
            return DeribitError(10027, "non_integer_contract_amount")
        if "outside" in e.detail and market.instruments[symbol].min_qty:
            return DeribitError(10002, "qty_too_low")
        return DeribitError(10021, "invalid_amount")
    if r in (RejectReason.INSUFFICIENT_BALANCE, RejectReason.INSUFFICIENT_MARGIN):
        return DeribitError(10009, "not_enough_funds")
    if r is RejectReason.POST_ONLY_WOULD_TAKE:
        return DeribitError(11054, "post_only_reject")
    if r is RejectReason.UNKNOWN_ORDER:
        return DeribitError(10004, "order_not_found")
    if r is RejectReason.ORDER_NOT_OPEN:
        return DeribitError(11044, "not_open_order")
    if r is RejectReason.REDUCE_ONLY:
        return DeribitError(10001, "error", {"reason": "reduce_only order would increase the position"})
    return DeribitError(10001, "error", {"reason": str(e)})
