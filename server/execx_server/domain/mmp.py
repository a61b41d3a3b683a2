"""A venue's own market-maker protection (issue 20): what ``managers/mmp.py`` asks of a connector whose venue
has one (Deribit, Pulse: ``private/set_mmp_config``). The protection is per MMP index (``btc_usd``: every
instrument of the currency) and counts the fills of the orders that carry the venue's mmp flag."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class VenueMmpConfig:
    """The venue's configuration of one index: limits in the venue's own units."""

    index_name: str
    interval_s: int
    frozen_s: int  # 0: frozen until reset
    quantity_limit: Decimal | None
    delta_limit: Decimal | None


@dataclass(frozen=True)
class VenueMmpState:
    frozen: bool
    frozen_until_ms: int  # with ``frozen``: when it ends, 0 = until reset
    trips: int  # the venue's trigger notifications seen since the connector started


@runtime_checkable
class NativeMmp(Protocol):
    """A connector's ``native_mmp``. While a configuration is set, the session's limit orders carry the venue's
    mmp flag (the venue cancels them when it trips and refuses new ones while frozen)."""

    supports_delta: bool

    def index_of(self, symbol: str) -> str: ...

    async def set(self, config: VenueMmpConfig) -> None: ...

    async def remove(self, index_name: str) -> None: ...

    def adopt(self, config: VenueMmpConfig) -> None:
        """After an execx restart: the venue still holds ``config``; flag orders and listen again (no call)."""

    async def state(self, index_name: str) -> VenueMmpState: ...

    async def reset(self, index_name: str) -> None: ...
