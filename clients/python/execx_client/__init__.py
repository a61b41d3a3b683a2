"""An asyncio client of execx over gRPC: what a Python strategy imports.

    async with ExecxClient("127.0.0.1:35028", key="K") as x:
        await x.start_session("alpha", "binance-spot", api_key, secret_key)
        ack = await x.insert("alpha", "cl-1", "BTCUSDT", "buy", qty=0.001, price=90000.0)
        async for update in x.updates("alpha"):
            ...

The whole execx.v1 API (``client.py``), results as the dataclasses of ``execx_client.types`` with enums as
the wire strings, one ``ExecxError`` (``.code`` a ``grpc.StatusCode``), streams that resume after a drop
or an execx restart. Documentation: clients/python/README.md.
"""

from __future__ import annotations

from . import types
from .client import ExecxClient, OrderRequest, Update
from .errors import ExecxError
from .types import (
    AlgorithmEvent,
    Balance,
    Fill,
    OrderTransaction,
    PositionManagerStatus,
    RiskEvent,
    RiskLimits,
    SessionInfo,
    Status,
)

__all__ = [
    "AlgorithmEvent",
    "Balance",
    "ExecxClient",
    "ExecxError",
    "Fill",
    "OrderRequest",
    "OrderTransaction",
    "PositionManagerStatus",
    "RiskEvent",
    "RiskLimits",
    "SessionInfo",
    "Status",
    "Update",
    "types",
]
