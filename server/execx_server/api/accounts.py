"""The account RPCs of ``SmartOrderService`` (seed 003): GetBalances, GetOpenOrders, GetOpenPositions, in the
seed's OEML shapes (``docs/accounts.md``). ``AccountViewsServicer`` answers only these three; the smart-order
RPCs keep the generated base class's UNIMPLEMENTED until a servicer that builds them subclasses this one.

The OEML spellings (``oeml_*``) are shared with the smart-order feed's TradeRequest messages."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import grpc
from execx.v1 import smart_order_pb2, smart_order_pb2_grpc

from ..domain.enums import OrderStatus, OrderType, Side, TimeInForce
from ..domain.orders import Order
from ..engine.accounts import AccountViews
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


def oeml_status(order: Order) -> str:
    """OEML has no pending-update/cancel states: such an order shows the state it is still in."""
    if order.status is OrderStatus.PENDINGNEW:
        return "ROUTING"
    if order.status in (OrderStatus.NEW, OrderStatus.PENDINGUPDATE, OrderStatus.PENDINGCANCEL):
        return "PARTIALLY_FILLED" if order.cum_filled else "NEW"
    return {
        OrderStatus.PARTIALLYFILLED: "PARTIALLY_FILLED",
        OrderStatus.FILLED: "FILLED",
        OrderStatus.REJECTED: "REJECTED",
    }.get(order.status, "CANCELED")


def coinapi_symbol(exchange_key: str, symbol: str) -> str:
    """Seed 003's ``symbol_id_coinapi``: execx has no CoinAPI mapping and writes ``EXCHANGE_SYMBOL``."""
    return f"{exchange_key.split('/')[0]}_{symbol}"


def _f(value: Decimal | None) -> float:
    return float(value) if value is not None else 0.0


def open_order(key: str, order: Order) -> smart_order_pb2.OpenOrder:
    return smart_order_pb2.OpenOrder(
        id=order.cl_order_id,
        client_order_id_format_exchange=order.cl_order_id,
        exchange_order_id=order.exch_order_id,
        amount_open=float(order.remaining),
        amount_filled=float(order.cum_filled),
        status=oeml_status(order),
        error_message=order.message if order.status is OrderStatus.REJECTED else "",
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
        for key, rows in (await self.views.balances()).items():
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
        for key, orders in self.views.open_orders().items():
            entry = out.orders[key]
            entry.orders.extend(open_order(key, o) for o in orders)
        return out

    @unary
    async def GetOpenPositions(
        self, request: smart_order_pb2.GetOpenPositionsRequest, context: Ctx
    ) -> smart_order_pb2.GetOpenPositionsResponse:
        out = smart_order_pb2.GetOpenPositionsResponse()
        for key, rows in (await self.views.positions()).items():
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
