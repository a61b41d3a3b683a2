"""The account RPCs of ``SmartOrderService`` (seed 003): GetBalances, GetOpenOrders, GetOpenPositions, in the
seed's OEML shapes (``docs/accounts.md``). ``AccountViewsServicer`` answers only these three; the smart-order
RPCs keep the generated base class's UNIMPLEMENTED until a servicer that builds them subclasses this one.

The OEML spellings (``oeml_*``) are shared with the smart-order feed's TradeRequest messages."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import grpc
from execx.v1 import smart_order_pb2, smart_order_pb2_grpc

from ..domain.enums import OrderStatus, OrderType, Side, TimeInForce
from ..domain.orders import Order
from ..engine.accounts import AccountViews
from ..engine.updates import OrderUpdate
from . import ownership
from .convert import EXCHANGE
from .servicers import unary

if TYPE_CHECKING:
    Ctx = grpc.aio.ServicerContext[Any, Any]
else:
    Ctx = grpc.aio.ServicerContext

OEML_TIF = {
    TimeInForce.GTC: "GOOD_TILL_CANCEL",
    TimeInForce.IOC: "IMMEDIATE_OR_CANCEL",
    TimeInForce.FOK: "FILL_OR_KILL",
    TimeInForce.DAY: "GOOD_TILL_TIME_EXCHANGE",
}


def oeml_side(side: Side) -> str:
    return "BUY" if side is Side.BUY else "SELL"


def oeml_status(status: OrderStatus, cum_filled: Decimal) -> str:
    """OEML has no pending-update/cancel states: such an order shows the state it is still in."""
    if status is OrderStatus.PENDINGNEW:
        return "ROUTING"
    if status in (OrderStatus.NEW, OrderStatus.PENDINGUPDATE, OrderStatus.PENDINGCANCEL):
        return "PARTIALLY_FILLED" if cum_filled else "NEW"
    return {
        OrderStatus.PARTIALLYFILLED: "PARTIALLY_FILLED",
        OrderStatus.FILLED: "FILLED",
        OrderStatus.REJECTED: "REJECTED",
    }.get(status, "CANCELED")


def rfc3339(ns: int) -> str:
    """RFC 3339 UTC with microseconds ("2024-07-24T09:41:45.772704Z")."""
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def coinapi_symbol(exchange_key: str, symbol: str) -> str:
    """Seed 003's ``symbol_id_coinapi``: execx has no CoinAPI mapping and writes ``EXCHANGE_SYMBOL``."""
    return f"{exchange_key.split('/')[0]}_{symbol}"


def _f(value: Decimal | None) -> float:
    return float(value) if value is not None else 0.0


def open_order(key: str, order: Order, updates: list[OrderUpdate]) -> smart_order_pb2.OpenOrder:
    """An order in seed 003's OEML shape; ``updates``: its journaled updates, for the status history (each
    change of OEML status, when execx recorded it) and the fills (the venue's time of each)."""
    history: list[smart_order_pb2.OpenOrderStatusChange] = []
    fills = []
    for u in updates:
        status = oeml_status(u.order_status, u.cumulative_filled_qty)
        if not history or history[-1].status != status:
            history.append(smart_order_pb2.OpenOrderStatusChange(status=status, time=rfc3339(u.local_time)))
        if u.trade_id:
            fills.append(
                smart_order_pb2.SmartOrderFill(
                    exchange=EXCHANGE.proto(order.exchange),
                    amount_filled=float(u.executed_qty),
                    price=float(u.price),
                    time_stamp=rfc3339(u.exch_time or u.local_time),
                )
            )
    return smart_order_pb2.OpenOrder(
        id=order.cl_order_id,
        client_order_id_format_exchange=order.cl_order_id,
        exchange_order_id=order.exch_order_id,
        amount_open=float(order.remaining),
        amount_filled=float(order.cum_filled),
        status=oeml_status(order.status, order.cum_filled),
        status_history=history,
        error_message=order.message if order.status is OrderStatus.REJECTED else "",
        fills=fills,
        exchange_id=key.split("/")[0],
        client_order_id=order.cl_order_id,
        symbol_id_exchange=order.symbol,
        symbol_id_coinapi=coinapi_symbol(key, order.symbol),
        amount_order=float(order.qty),
        price=_f(order.price),
        avg_px=float(order.avg_price),
        side=oeml_side(order.side),
        order_type="MARKET" if order.order_type is OrderType.MARKET else "LIMIT",
        time_in_force=OEML_TIF[order.tif],
        exec_inst=["MAKER_OR_CANCEL"] if order.order_type is OrderType.POSTONLY else [],
    )


class AccountViewsServicer(smart_order_pb2_grpc.SmartOrderServiceServicer):
    def __init__(self, views: AccountViews) -> None:
        self.views = views

    @unary
    async def GetBalances(
        self, request: smart_order_pb2.GetBalancesRequest, context: Ctx
    ) -> smart_order_pb2.GetBalancesResponse:
        out = smart_order_pb2.GetBalancesResponse()
        for key, rows in (await self.views.balances(ownership.visible)).items():
            entry = out.balances[key]
            for b in rows:
                entry.balances.add(
                    id=b.asset,
                    asset_id_exchange=b.asset,
                    asset_id_coinapi=b.asset,
                    balance=float(b.total),
                    available=float(b.available),
                    locked=float(b.locked),
                    last_updated_by="EXCHANGE",
                )
        return out

    @unary
    async def GetOpenOrders(
        self, request: smart_order_pb2.GetOpenOrdersRequest, context: Ctx
    ) -> smart_order_pb2.GetOpenOrdersResponse:
        out = smart_order_pb2.GetOpenOrdersResponse()
        for key, orders in (await self.views.open_orders(ownership.visible)).items():
            entry = out.orders[key]
            entry.orders.extend(open_order(key, o, updates) for o, updates in orders)
        return out

    @unary
    async def GetOpenPositions(
        self, request: smart_order_pb2.GetOpenPositionsRequest, context: Ctx
    ) -> smart_order_pb2.GetOpenPositionsResponse:
        out = smart_order_pb2.GetOpenPositionsResponse()
        for key, rows in (await self.views.positions(ownership.visible)).items():
            entry = out.positions[key]
            for p in rows:
                entry.positions.add(
                    id=p.symbol,
                    symbol_id_exchange=p.symbol,
                    symbol_id_coinapi=coinapi_symbol(key, p.symbol),
                    avg_entry_price=float(p.entry_price),
                    quantity=float(abs(p.qty)),
                    side="BUY" if p.qty > 0 else "SELL",
                    unrealized_pnl=float(p.unrealized_pnl),
                    leverage=_f(p.leverage),
                    cross_margin=p.cross_margin,
                    liquidation_price=_f(p.liquidation_price),
                    raw_data=p.raw,
                )
        return out
