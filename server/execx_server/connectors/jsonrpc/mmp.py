"""Deribit's and Pulse's market-maker protection over their JSON-RPC (``domain.mmp.NativeMmp``).

- ``private/set_mmp_config`` ``{index_name, interval, frozen_time, quantity_limit?, delta_limit?}`` (seconds;
  ``interval: 0`` removes it); Deribit has ``delta_limit``, Pulse (seed 004) does not.
- State: Deribit's ``private/get_mmp_status`` (``frozen_until`` ms, 0: until reset); Pulse has no status method:
  its ``user.mmp_trigger.{index_name}`` notifications (``frozen_until`` in seconds, the seed's example) are
  remembered, so a freeze that began while this connector was not listening is not known.
- Reset: Deribit's ``private/reset_mmp``; Pulse resets by setting the configuration again (seed 004: "Set config
  for MMP - triggers MMP reset").
- Orders: while a configuration is set (``orders``), the connector flags its limit orders with the venue's mmp
  flag (JSON-RPC ``mmp: true``, FIX ``DeribitMMProtection(9008)=Y``).
- Errors: the venue's error answer is ``Rejected`` (FAILED_PRECONDITION, the venue's words), no connection
  ``Retryable`` and no answer ``OutcomeUnknown`` (both UNAVAILABLE).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from ...domain.mmp import VenueMmpConfig, VenueMmpState
from ...domain.numbers import to_wire
from ...domain.venue import OutcomeUnknown, Rejected, Retryable
from ..transport.websocket import NoAnswer, NotSent
from .client import RpcError

Call = Callable[[str, dict[str, Any]], Awaitable[Any]]


class RpcMmp:
    def __init__(self, call: Call, subscribe: Callable[[list[str]], None], pulse: bool) -> None:
        self._rpc = call
        self._subscribe = subscribe
        self.pulse = pulse
        self.supports_delta = not pulse
        self.configs: dict[str, VenueMmpConfig] = {}  # index -> the configuration set
        self._notified: dict[str, tuple[int, int | None]] = {}  # index -> (trips, frozen until ms or None)

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        venue = "pulse" if self.pulse else "deribit"
        try:
            return await self._rpc(method, params)
        except RpcError as e:
            raise Rejected(f"{venue} {method}: {e}", str(e.code)) from None
        except NotSent as e:
            raise Retryable(f"{venue} {method}: {e}", "not_connected") from None
        except NoAnswer as e:
            raise OutcomeUnknown(f"{venue} {method}: {e}", "no_answer") from None

    @property
    def orders(self) -> bool:
        """The connector's limit orders carry the venue's mmp flag."""
        return bool(self.configs)

    def index_of(self, symbol: str) -> str:
        """The MMP index of an instrument: its currency's (``BTC-PERPETUAL``, ``BTC_USD-PERPETUAL``: btc_usd)."""
        return f"{symbol.split('-', 1)[0].split('_', 1)[0].lower()}_usd"

    def _params(self, c: VenueMmpConfig) -> dict[str, Any]:
        params: dict[str, Any] = {"index_name": c.index_name, "interval": c.interval_s, "frozen_time": c.frozen_s}
        if c.quantity_limit is not None:
            params["quantity_limit"] = to_wire(c.quantity_limit)
        if c.delta_limit is not None:
            params["delta_limit"] = to_wire(c.delta_limit)
        return params

    async def set(self, config: VenueMmpConfig) -> None:
        await self._call("private/set_mmp_config", self._params(config))
        self.adopt(config)
        self._notified.pop(config.index_name, None)  # setting it resets a freeze (both venues)

    def adopt(self, config: VenueMmpConfig) -> None:
        self.configs[config.index_name] = config
        self._subscribe([f"user.mmp_trigger.{config.index_name}"])

    async def remove(self, index_name: str) -> None:
        await self._call("private/set_mmp_config", {"index_name": index_name, "interval": 0, "frozen_time": 0})
        self.configs.pop(index_name, None)
        self._notified.pop(index_name, None)

    async def state(self, index_name: str) -> VenueMmpState:
        trips, until = self._notified.get(index_name, (0, None))
        if not self.pulse:
            rows = await self._call("private/get_mmp_status", {"index_name": index_name})
            row = next((r for r in rows or [] if isinstance(r, dict) and r.get("index_name") == index_name), None)
            if row is None:
                return VenueMmpState(False, 0, trips)
            return VenueMmpState(True, int(row.get("frozen_until") or 0), trips)
        now = int(time.time() * 1000)
        if until is None or (until and until <= now):
            return VenueMmpState(False, 0, trips)
        return VenueMmpState(True, until, trips)

    async def reset(self, index_name: str) -> None:
        if self.pulse:
            config = self.configs.get(index_name)
            if config is not None:
                await self._call("private/set_mmp_config", self._params(config))
        else:
            await self._call("private/reset_mmp", {"index_name": index_name})
        trips, _ = self._notified.get(index_name, (0, None))
        self._notified[index_name] = (trips, None)

    def on_trigger(self, data: Any) -> None:
        """A ``user.mmp_trigger.{index_name}`` notification: the venue froze the index."""
        if not isinstance(data, dict):
            return
        index = str(data.get("index_name", ""))
        until = int(data.get("frozen_until") or 0)
        if self.pulse:
            until *= 1000  # Pulse: seconds
        trips, _ = self._notified.get(index, (0, None))
        self._notified[index] = (trips + 1, until)
