"""A venue's dead-man switch kept armed by execx's heartbeat (issue 14, docs/safety.md).

Venues with a countdown cancel-all (Binance USD-M/COIN-M ``countdownCancelAll``, OKX ``cancel-all-after``)
cancel the account's orders when the countdown runs out; execx re-arms it every third of the timeout, so
only a dead or cut-off execx lets it run out. A session asks for it with ``cancelOnDisconnect``
(``ConnectorConfig.dead_man_s``). ``disarm()`` (a deliberate stop) sets the countdown off: orders stay, as
after Deribit's logout with DontCancelOnDisconnect.

The connector owns the refresh task (its stream supervisor runs ``run``). A refusal or a lost request is
logged and ``armed`` turns False until the next beat succeeds; the beat keeps its rhythm either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..domain.venue import VenueError

log = logging.getLogger("execx.connectors.deadman")

DEAD_MAN_MIN_S = 10.0  # execx's floor (OKX accepts 10-120 s): a heartbeat every ~3 s at most


class DeadManSwitch:
    def __init__(self, venue: str, timeout_s: float, arm: Callable[[int], Awaitable[object]], *, max_s: float) -> None:
        """``arm(ms)``: set the venue's countdown to ``ms`` milliseconds (0: off). ``timeout_s`` is clamped
        to [``DEAD_MAN_MIN_S``, ``max_s``]."""
        self.venue = venue
        self.timeout_s = min(max(timeout_s, DEAD_MAN_MIN_S), max_s)
        self._arm = arm
        self.armed = False

    async def beat(self) -> None:
        """Arm (again) now."""
        try:
            await self._arm(round(self.timeout_s * 1000))
        except VenueError as e:
            if self.armed:
                log.warning("deadman.refresh_failed", extra={"venue": self.venue, "error": e.message})
            self.armed = False
            return
        if not self.armed:
            log.info("deadman.armed", extra={"venue": self.venue, "timeoutS": self.timeout_s})
        self.armed = True

    async def run(self) -> None:
        """The heartbeat (after a first ``beat()`` at start)."""
        while True:
            await asyncio.sleep(self.timeout_s / 3)  # the heartbeat's period
            await self.beat()

    async def disarm(self) -> None:
        """Countdown off (a deliberate stop keeps the orders)."""
        try:
            await self._arm(0)
        except VenueError as e:
            log.warning("deadman.disarm_failed", extra={"venue": self.venue, "error": e.message})
        self.armed = False
