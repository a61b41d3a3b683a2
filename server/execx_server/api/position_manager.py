"""``PositionManagerService`` (seed 000): start, stop and re-target position managers, read their status.

Validation before anything starts (INVALID_ARGUMENT naming the field): sessionId, exchange, symbol
and config are required; the config's rules are in ``PositionManagerConfig.validate``; the session
must trade that exchange. Unknown session or manager: NOT_FOUND; a second manager on the same
exchange and symbol: ALREADY_EXISTS.
"""

from __future__ import annotations

import time

from execx.v1 import position_manager_pb2, position_manager_pb2_grpc

from ..domain.enums import Exchange, TransactionType
from ..domain.errors import ValidationError
from ..domain.numbers import from_double
from ..engine.updates import OrderUpdate
from ..managers.position import PositionManager, PositionManagerConfig, PositionManagers, State, Status
from . import convert, ownership
from .servicers import Ctx, unary

STATE = convert.EnumMap(position_manager_pb2.PositionManagerState.DESCRIPTOR, State)


def config_of(request: position_manager_pb2.StartPositionManagerRequest) -> PositionManagerConfig:
    if not request.HasField("config"):
        raise ValidationError("config", "is required")
    c = request.config
    return PositionManagerConfig(
        pull_on_startup=c.pull_on_startup,
        maintain_spreads=c.maintain_spreads,
        quote_levels=c.quote_levels,
        min_order_qty=from_double(c.min_order_qty, "config.minOrderQty"),
        re_entry_ticker_seconds=c.re_entry_ticker_seconds,
        price_level_interval=from_double(c.price_level_interval, "config.priceLevelInterval"),
    )


def status_message(s: Status) -> position_manager_pb2.PositionManagerStatus:
    now = time.time_ns()
    cfg = s.config
    return position_manager_pb2.PositionManagerStatus(
        session_id=s.session_id,
        exchange=convert.EXCHANGE.proto(s.exchange),
        symbol=s.symbol,
        config=position_manager_pb2.PositionManagerConfig(
            pull_on_startup=cfg.pull_on_startup,
            maintain_spreads=cfg.maintain_spreads,
            quote_levels=cfg.quote_levels,
            min_order_qty=float(cfg.min_order_qty),
            re_entry_ticker_seconds=cfg.re_entry_ticker_seconds,
            price_level_interval=float(cfg.price_level_interval),
        ),
        target_position=float(s.target),
        current_position=float(s.current),
        working_orders=[convert.transaction(OrderUpdate.of(o, TransactionType.INSERT, now)) for o in s.working],
        filled_qty=float(s.filled_qty),
        avg_fill_price=float(s.avg_fill_price),
        fees_paid=float(s.fees_paid),
        state=STATE.proto(s.state),
        reason=s.reason,
        realised_pnl=float(s.realised_pnl),
        unrealised_pnl=float(s.unrealised_pnl),
        mark_price=float(s.mark_price),
        net_qty=float(s.net_qty),
        avg_entry_price=float(s.avg_entry_price),
    )


class PositionManagerServicer(position_manager_pb2_grpc.PositionManagerServiceServicer):
    def __init__(self, managers: PositionManagers) -> None:
        self.managers = managers

    @unary
    async def StartPositionManager(
        self, request: position_manager_pb2.StartPositionManagerRequest, context: Ctx
    ) -> position_manager_pb2.StartPositionManagerResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange", required=True)
        manager = await self.managers.start(request.session_id, exchange, request.symbol, config_of(request))
        return position_manager_pb2.StartPositionManagerResponse(status=status_message(manager.status()))

    @unary
    async def StopPositionManager(
        self, request: position_manager_pb2.StopPositionManagerRequest, context: Ctx
    ) -> position_manager_pb2.StopPositionManagerResponse:
        key = self._key(request)
        self._check(key)
        manager = await self.managers.stop(*key)
        return position_manager_pb2.StopPositionManagerResponse(status=status_message(manager.status()))

    @unary
    async def SetTargetPosition(
        self, request: position_manager_pb2.SetTargetPositionRequest, context: Ctx
    ) -> position_manager_pb2.SetTargetPositionResponse:
        key = self._key(request)
        target = from_double(request.target_position, "targetPosition")
        manager = self._check(key)
        manager.set_target(target)
        return position_manager_pb2.SetTargetPositionResponse(status=status_message(manager.status()))

    @unary
    async def GetPositionManager(
        self, request: position_manager_pb2.GetPositionManagerRequest, context: Ctx
    ) -> position_manager_pb2.GetPositionManagerResponse:
        manager = self._check(self._key(request))
        return position_manager_pb2.GetPositionManagerResponse(status=status_message(manager.status()))

    @unary
    async def ListPositionManagers(
        self, request: position_manager_pb2.ListPositionManagersRequest, context: Ctx
    ) -> position_manager_pb2.ListPositionManagersResponse:
        return position_manager_pb2.ListPositionManagersResponse(
            managers=[status_message(m.status()) for m in self.managers.managers.values()]
        )

    def _check(self, key: tuple[Exchange, str]) -> PositionManager:
        """The manager on (exchange, symbol), if the calling key owns its session (else PERMISSION_DENIED)."""
        manager = self.managers.get(*key)
        ownership.check(manager.session_id, f"the position manager on {key[0].value} {key[1]}")
        return manager

    @staticmethod
    def _key(
        request: position_manager_pb2.StopPositionManagerRequest
        | position_manager_pb2.SetTargetPositionRequest
        | position_manager_pb2.GetPositionManagerRequest,
    ) -> tuple[Exchange, str]:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange", required=True)
        if not request.symbol:
            raise ValidationError("symbol", "is required")
        return exchange, request.symbol
