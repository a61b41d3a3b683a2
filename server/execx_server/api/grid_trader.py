"""``GridTraderService`` (seed 000): start and stop grid traders, read their status.

Validation before anything is sent (INVALID_ARGUMENT naming the field): sessionId, exchange, symbol,
gridLevels (at least 2), orderQty (positive), mode; upperPrice above lowerPrice, or
gridRangePercentage; recenterThreshold for a dynamic grid; then, with the market, the levels against
the instrument (``grid_plan.grid_prices``). Unknown session or grid: NOT_FOUND; a second grid on the
same session and symbol: ALREADY_EXISTS; a stale feed at the start: FAILED_PRECONDITION.
"""

from __future__ import annotations

import time

from execx.v1 import common_pb2, grid_trader_pb2, grid_trader_pb2_grpc

from ..domain.enums import Exchange, TransactionType
from ..domain.errors import ValidationError
from ..domain.numbers import from_double
from ..engine.updates import OrderUpdate
from ..managers.grid import GridTraders, Status
from ..managers.grid_plan import GridConfig, Mode
from ..managers.runtime import RunnerState
from . import convert
from .servicers import Ctx, unary

MODE = convert.EnumMap(grid_trader_pb2.GridMode.DESCRIPTOR, Mode)
STATE = convert.EnumMap(common_pb2.RunnerState.DESCRIPTOR, RunnerState)


def config_of(r: grid_trader_pb2.StartGridTraderRequest) -> GridConfig:
    return GridConfig(
        upper_price=from_double(r.upper_price, "upperPrice") if r.HasField("upper_price") else None,
        lower_price=from_double(r.lower_price, "lowerPrice") if r.HasField("lower_price") else None,
        grid_range_percentage=(
            from_double(r.grid_range_percentage, "gridRangePercentage") if r.HasField("grid_range_percentage") else None
        ),
        grid_levels=r.grid_levels,
        order_qty=from_double(r.order_qty, "orderQty"),
        mode=MODE.domain(r.mode, "mode", required=True),
        dynamic=r.dynamic,
        recenter_threshold=r.recenter_threshold if r.HasField("recenter_threshold") else None,
    )


def request_of(s: Status) -> grid_trader_pb2.StartGridTraderRequest:
    c = s.config
    out = grid_trader_pb2.StartGridTraderRequest(
        symbol=s.symbol,
        exchange=convert.EXCHANGE.proto(s.exchange),
        session_id=s.session_id,
        grid_levels=c.grid_levels,
        order_qty=float(c.order_qty),
        mode=MODE.proto(c.mode),
        dynamic=c.dynamic,
    )
    if c.upper_price is not None:
        out.upper_price = float(c.upper_price)
    if c.lower_price is not None:
        out.lower_price = float(c.lower_price)
    if c.grid_range_percentage is not None:
        out.grid_range_percentage = float(c.grid_range_percentage)
    if c.recenter_threshold is not None:
        out.recenter_threshold = c.recenter_threshold
    return out


def status_message(s: Status) -> grid_trader_pb2.GridTraderStatus:
    now = time.time_ns()
    g = s.grid
    return grid_trader_pb2.GridTraderStatus(
        request=request_of(s),
        state=STATE.proto(s.state),
        reason=s.reason,
        levels=[float(p) for p in g.prices] if g else [],
        center_price=float(g.centre) if g else 0.0,
        recenters=g.recenters if g else 0,
        working_orders=[convert.transaction(OrderUpdate.of(o, TransactionType.INSERT, now)) for o in s.working],
        round_trips=g.round_trips if g else 0,
        traded_qty=float(g.traded_qty) if g else 0.0,
        realized_pnl=float(g.realized_pnl) if g else 0.0,
        position=float(s.position),
        fills=g.fills if g else 0,
        fees_paid=float(g.fees) if g else 0.0,
    )


Keyed = (
    grid_trader_pb2.StartGridTraderRequest
    | grid_trader_pb2.StopGridTraderRequest
    | grid_trader_pb2.GetGridTraderRequest
)


def key_of(r: Keyed) -> tuple[str, Exchange, str]:
    exchange = convert.EXCHANGE.domain(r.exchange, "exchange", required=True)
    if not r.session_id:
        raise ValidationError("sessionId", "is required")
    if not r.symbol:
        raise ValidationError("symbol", "is required")
    return r.session_id, exchange, r.symbol


class GridTraderServicer(grid_trader_pb2_grpc.GridTraderServiceServicer):
    def __init__(self, traders: GridTraders) -> None:
        self.traders = traders

    @unary
    async def StartGridTrader(
        self, request: grid_trader_pb2.StartGridTraderRequest, context: Ctx
    ) -> grid_trader_pb2.StartGridTraderResponse:
        key = key_of(request)
        trader = await self.traders.start(*key, config_of(request))
        return grid_trader_pb2.StartGridTraderResponse(status=status_message(trader.status()))

    @unary
    async def StopGridTrader(
        self, request: grid_trader_pb2.StopGridTraderRequest, context: Ctx
    ) -> grid_trader_pb2.StopGridTraderResponse:
        trader = await self.traders.stop(*key_of(request))
        return grid_trader_pb2.StopGridTraderResponse(status=status_message(trader.status()))

    @unary
    async def GetGridTrader(
        self, request: grid_trader_pb2.GetGridTraderRequest, context: Ctx
    ) -> grid_trader_pb2.GetGridTraderResponse:
        trader = self.traders.get(*key_of(request))
        return grid_trader_pb2.GetGridTraderResponse(status=status_message(trader.status()))
