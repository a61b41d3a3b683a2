"""``MarketMakerProtectionService`` (issue 20): SetMmpConfig, GetMmpStatus, ResetMmp over
``managers/mmp.py`` (the venue's own MMP on Deribit and Pulse, else emulated; docs/contingent_orders.md)."""

from __future__ import annotations

import time

from execx.v1 import mmp_pb2, mmp_pb2_grpc

from ..domain.errors import ValidationError
from ..domain.numbers import from_double
from ..managers.mmp import MarketMakerProtection, MmpConfig, MmpState
from .servicers import Ctx, unary


def status(session_id: str, state: MmpState | None) -> mmp_pb2.MmpStatus:
    if state is None:
        return mmp_pb2.MmpStatus(config=mmp_pb2.MmpConfig(session_id=session_id))
    c = state.config
    now = time.time_ns()
    return mmp_pb2.MmpStatus(
        config=mmp_pb2.MmpConfig(
            session_id=c.session_id,
            symbol=c.symbol,
            interval_ms=c.interval_ms,
            qty_limit=float(c.qty_limit),
            frozen_ms=c.frozen_ms,
            delta_limit=None if c.delta_limit is None else float(c.delta_limit),
            emulate=c.emulate,
        ),
        frozen=state.frozen,
        frozen_until=state.frozen_until,
        trips=state.trips,
        window_qty=float(state.window_qty(now)),
        window_delta=float(state.window_delta(now)),
        native=state.native is not None,
        index_name=state.index,
    )


class MmpServicer(mmp_pb2_grpc.MarketMakerProtectionServiceServicer):
    def __init__(self, mmp: MarketMakerProtection) -> None:
        self.mmp = mmp

    @unary
    async def SetMmpConfig(self, request: mmp_pb2.SetMmpConfigRequest, context: Ctx) -> mmp_pb2.SetMmpConfigResponse:
        if not request.HasField("config"):
            raise ValidationError("config", "is required")
        c = request.config
        delta = from_double(c.delta_limit, "config.deltaLimit") if c.HasField("delta_limit") else None
        qty = from_double(c.qty_limit, "config.qtyLimit")
        cfg = MmpConfig(c.session_id, c.symbol, c.interval_ms, qty, c.frozen_ms, delta, c.emulate)
        return mmp_pb2.SetMmpConfigResponse(status=status(c.session_id, await self.mmp.set(cfg)))

    @unary
    async def GetMmpStatus(self, request: mmp_pb2.GetMmpStatusRequest, context: Ctx) -> mmp_pb2.GetMmpStatusResponse:
        return mmp_pb2.GetMmpStatusResponse(status=status(request.session_id, await self.mmp.get(request.session_id)))

    @unary
    async def ResetMmp(self, request: mmp_pb2.ResetMmpRequest, context: Ctx) -> mmp_pb2.ResetMmpResponse:
        return mmp_pb2.ResetMmpResponse(status=status(request.session_id, await self.mmp.reset(request.session_id)))
