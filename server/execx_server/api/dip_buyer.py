"""``DipBuyerService`` (seed 000): start, stop and read dip buyers.

Validation before anything starts (INVALID_ARGUMENT naming the field): sessionId, exchange, symbol
(known to the venue), config required; ``config.dipPercentage`` in (0, 100), ``config.orderQty`` and
``config.maxLongPos`` positive with orderQty <= maxLongPos, ``config.timePeriod`` positive,
``config.cooldown`` >= 0 (``managers/dip.py``). A second dip buyer on the same (session, exchange,
symbol): ALREADY_EXISTS; none: NOT_FOUND.
"""

from __future__ import annotations

import time

from execx.v1 import common_pb2, dip_buyer_pb2, dip_buyer_pb2_grpc

from ..domain.enums import TransactionType
from ..domain.errors import ValidationError
from ..engine.updates import OrderUpdate
from ..managers.dip import DipBuyers, Status
from ..managers.dip_plan import DipConfig
from ..managers.runtime import RunnerState, double
from . import convert
from .servicers import Ctx, unary

STATE = convert.EnumMap(common_pb2.RunnerState.DESCRIPTOR, RunnerState)


def config_of(request: dip_buyer_pb2.StartDipBuyerRequest) -> DipConfig:
    if not request.HasField("config"):
        raise ValidationError("config", "is required")
    c = request.config
    return DipConfig(
        dip_percentage=double(c.dip_percentage, "config.dipPercentage"),
        order_qty=double(c.order_qty, "config.orderQty"),
        max_long_pos=double(c.max_long_pos, "config.maxLongPos"),
        time_period=c.time_period,
        cooldown=c.cooldown,
    )


def status_message(s: Status) -> dip_buyer_pb2.DipBuyerStatus:
    now = time.time_ns()
    cfg = s.config
    return dip_buyer_pb2.DipBuyerStatus(
        session_id=s.session_id,
        exchange=convert.EXCHANGE.proto(s.exchange),
        symbol=s.symbol,
        config=dip_buyer_pb2.DipBuyerConfig(
            dip_percentage=float(cfg.dip_percentage),
            order_qty=float(cfg.order_qty),
            max_long_pos=float(cfg.max_long_pos),
            time_period=cfg.time_period,
            cooldown=cfg.cooldown,
        ),
        state=STATE.proto(s.state),
        reason=s.reason,
        recent_high=float(s.recent_high),
        buys=s.buys,
        bought_qty=float(s.bought_qty),
        last_buy_time=s.last_buy_ns,
        position=float(s.position),
        working_orders=[convert.transaction(OrderUpdate.of(o, TransactionType.INSERT, now)) for o in s.working],
        avg_buy_price=float(s.avg_buy_price),
        last_price=float(s.last_price),
        unrealised_pnl=float(s.bought_qty * (s.last_price - s.avg_buy_price)) if s.bought_qty else 0.0,
    )


class DipBuyerServicer(dip_buyer_pb2_grpc.DipBuyerServiceServicer):
    def __init__(self, buyers: DipBuyers) -> None:
        self.buyers = buyers

    @unary
    async def StartDipBuyer(
        self, request: dip_buyer_pb2.StartDipBuyerRequest, context: Ctx
    ) -> dip_buyer_pb2.StartDipBuyerResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange", required=True)
        await self.buyers.start(request.session_id, exchange, request.symbol, config_of(request))
        return dip_buyer_pb2.StartDipBuyerResponse()

    @unary
    async def StopDipBuyer(
        self, request: dip_buyer_pb2.StopDipBuyerRequest, context: Ctx
    ) -> dip_buyer_pb2.StopDipBuyerResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange", required=True)
        buyer = await self.buyers.stop(request.session_id, exchange, request.symbol)
        return dip_buyer_pb2.StopDipBuyerResponse(status=status_message(buyer.status()))

    @unary
    async def GetDipBuyer(
        self, request: dip_buyer_pb2.GetDipBuyerRequest, context: Ctx
    ) -> dip_buyer_pb2.GetDipBuyerResponse:
        exchange = convert.EXCHANGE.domain(request.exchange, "exchange", required=True)
        buyer = self.buyers.get(request.session_id, exchange, request.symbol)
        return dip_buyer_pb2.GetDipBuyerResponse(status=status_message(buyer.status()))
