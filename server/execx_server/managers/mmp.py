"""Market-maker protection (issue 20): a session whose fills reach ``qty_limit`` (or whose net delta reaches
``delta_limit``) within ``interval_ms`` is frozen.

- **Native** on Deribit and Pulse (unless ``emulate``): the venue's own MMP is configured for the index of
  ``symbol`` (``domain.mmp.NativeMmp`` of the session's connector: ``private/set_mmp_config``); the session's
  limit orders then carry the venue's mmp flag, so the venue cancels them when it trips and refuses new ones
  while frozen; the status is the venue's frozen state, ``reset`` resets it at the venue.
- **Emulated** elsewhere: execx counts the session's fills and engages the session's kill switch (reason
  ``mmp: ...``; it pulls every open order of the session and refuses its inserts and amends, engine/risk.py),
  released after ``frozen_ms`` (0: until ``reset``). A kill switch the operator engaged is never released by
  MMP (a trip while it is engaged only counts).

The configuration is journaled (``algorithms`` table, kind ``mmp``, with the end of a running emulated freeze);
the kill switch is journaled by engine/risk.py. After a restart the protection is back when the session is live
again (a native one flags the orders again without calling the venue, which kept it), and an emulated freeze
whose end has passed is released then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..domain.enums import Side
from ..domain.errors import ValidationError
from ..domain.mmp import NativeMmp, VenueMmpConfig
from ..engine import risk
from ..engine.sessions import OrderEngine
from ..engine.tasks import Supervisor
from ..engine.updates import OrderUpdate
from ..observability.metrics import Metrics
from .runtime import ZERO, Restorer, Saved

log = logging.getLogger("execx.mmp")

KIND = "mmp"
REASON = "mmp:"  # the kill switch reasons MMP engages start with this


@dataclass(frozen=True)
class MmpConfig:
    session_id: str
    symbol: str
    interval_ms: int
    qty_limit: Decimal  # 0: no quantity limit (a delta limit only)
    frozen_ms: int
    delta_limit: Decimal | None = None  # None: no delta limit
    emulate: bool = False  # execx's emulation even where the venue has its own MMP

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "intervalMs": self.interval_ms,
            "qtyLimit": str(self.qty_limit),
            "frozenMs": self.frozen_ms,
            "deltaLimit": None if self.delta_limit is None else str(self.delta_limit),
            "emulate": self.emulate,
        }

    @classmethod
    def from_json(cls, session_id: str, d: dict[str, Any]) -> MmpConfig:
        delta = d.get("deltaLimit")
        return cls(
            session_id,
            d["symbol"],
            int(d["intervalMs"]),
            Decimal(d["qtyLimit"]),
            int(d["frozenMs"]),
            None if delta is None else Decimal(delta),
            bool(d.get("emulate", False)),
        )


@dataclass
class MmpState:
    config: MmpConfig
    window: deque[tuple[int, Decimal, Decimal]]  # (ns, fill qty, signed delta: +qty buy, -qty sell)
    frozen: bool = False
    frozen_until: int = 0  # ns since the epoch; 0 with frozen: until reset
    trips: int = 0
    timer: asyncio.Task[None] | None = None
    native: NativeMmp | None = None  # the venue's own MMP is configured (Deribit, Pulse); None: emulated
    index: str = ""  # the venue's MMP index (native)

    def _trim(self, now_ns: int) -> None:
        start = now_ns - self.config.interval_ms * 1_000_000
        while self.window and self.window[0][0] < start:
            self.window.popleft()

    def window_qty(self, now_ns: int) -> Decimal:
        self._trim(now_ns)
        return sum((q for _, q, _ in self.window), ZERO)

    def window_delta(self, now_ns: int) -> Decimal:
        self._trim(now_ns)
        return sum((d for _, _, d in self.window), ZERO)

    def tripped_by(self, now_ns: int) -> str:
        """Why the window trips the protection now ('' if it does not)."""
        cfg = self.config
        qty, delta = self.window_qty(now_ns), self.window_delta(now_ns)
        if cfg.qty_limit and qty >= cfg.qty_limit:
            return f"{qty} filled within {cfg.interval_ms} ms (limit {cfg.qty_limit})"
        if cfg.delta_limit is not None and abs(delta) >= cfg.delta_limit:
            return f"net delta {delta} within {cfg.interval_ms} ms (limit {cfg.delta_limit})"
        return ""


class MarketMakerProtection:
    def __init__(self, engine: OrderEngine, metrics: Metrics) -> None:
        self.engine = engine
        self.states: dict[str, MmpState] = {}
        self.saved = Saved(engine.journal, KIND)
        self.tasks = Supervisor("mmp")
        engine.observers.append(self._on_update)
        self.restorer = Restorer(engine, self.saved, self._restore, self.tasks, metrics)

    async def set(self, config: MmpConfig) -> MmpState | None:
        """Set (interval 0: remove) a session's protection; INVALID_ARGUMENT naming the field. On a venue with
        its own MMP (unless ``emulate``) the venue is configured first (its refusal is the call's error)."""
        if not config.session_id:
            raise ValidationError("config.sessionId", "is required")
        self.engine.session(config.session_id)  # NOT_FOUND
        old = self.states.get(config.session_id)
        if config.interval_ms == 0:
            if old is not None:
                if old.native is not None:
                    await old.native.remove(old.index)
                await self.reset(config.session_id)
                del self.states[config.session_id]
            self.saved.drop(config.session_id)
            return None
        if not config.qty_limit.is_finite() or config.qty_limit < 0:
            raise ValidationError("config.qtyLimit", "must be positive (0: a delta limit only)")
        if config.delta_limit is not None and (not config.delta_limit.is_finite() or config.delta_limit <= 0):
            raise ValidationError("config.deltaLimit", "must be positive (unset: no delta limit)")
        if config.qty_limit == 0 and config.delta_limit is None:
            raise ValidationError("config.qtyLimit", "must be positive, or set a deltaLimit")
        native = None if config.emulate else self.engine.native_mmp(config.session_id)
        state = MmpState(config, deque(), native=native)
        if native is not None:
            state.index, venue_config = self._venue_config(config, native)
            if old is not None and old.native is not None and old.index != state.index:
                await old.native.remove(old.index)
            await native.set(venue_config)
        else:
            if old is not None and old.native is not None:  # from the venue's MMP to execx's
                await old.native.remove(old.index)
            elif old is not None:
                state.frozen, state.frozen_until, state.trips, state.timer = (
                    old.frozen,
                    old.frozen_until,
                    old.trips,
                    old.timer,
                )
        self.states[config.session_id] = state
        self.save(state)
        log.info("mmp.set", extra={"session": config.session_id, "native": native is not None})
        return state

    def _venue_config(self, config: MmpConfig, native: NativeMmp) -> tuple[str, VenueMmpConfig]:
        venue = self.engine.session(config.session_id).exchange.value
        if not config.symbol:
            raise ValidationError(
                "config.symbol",
                f"is required on {venue}: its own MMP protects an index (every instrument of the symbol's currency); "
                "or set emulate",
            )
        for name, ms in (("config.intervalMs", config.interval_ms), ("config.frozenMs", config.frozen_ms)):
            if ms % 1000:
                raise ValidationError(name, f"must be whole seconds on {venue} (its MMP counts in seconds)")
        if config.delta_limit is not None and not native.supports_delta:
            raise ValidationError("config.deltaLimit", f"{venue}'s own MMP has no delta limit; or set emulate")
        _, connector = self.engine.live_session(config.session_id)
        try:
            connector.rules(config.symbol)
        except ValidationError as e:
            raise ValidationError("config.symbol", e.reason) from None
        index = native.index_of(config.symbol)
        seconds = (config.interval_ms // 1000, config.frozen_ms // 1000)
        return index, VenueMmpConfig(index, *seconds, config.qty_limit or None, config.delta_limit)

    async def get(self, session_id: str) -> MmpState | None:
        """The protection now; a native one's frozen state is asked of the venue."""
        self.engine.session(session_id)  # NOT_FOUND
        state = self.states.get(session_id)
        if state is not None and state.native is not None:
            venue = await state.native.state(state.index)
            state.frozen, state.trips = venue.frozen, venue.trips
            state.frozen_until = venue.frozen_until_ms * 1_000_000 if venue.frozen else 0
        return state

    def save(self, state: MmpState) -> None:
        row = state.config.to_json() | {
            "frozenUntil": state.frozen_until if state.frozen and state.native is None else None,
            "native": state.native is not None,
        }
        self.saved.save(state.config.session_id, state.config.session_id, row)

    # ------------------------------------------------------------------ tripping

    def _on_update(self, u: OrderUpdate) -> None:
        if not u.trade_id:
            return
        state = self.states.get(u.session_id)
        if state is None or state.native is not None or (state.config.symbol and u.symbol != state.config.symbol):
            return  # a native protection is the venue's to count
        delta = u.executed_qty if u.side is Side.BUY else -u.executed_qty
        state.window.append((u.local_time, u.executed_qty, delta))
        why = state.tripped_by(u.local_time)
        if why and not state.frozen:
            self.trip(state, why)

    def trip(self, state: MmpState, why: str) -> None:
        cfg = state.config
        state.frozen, state.trips = True, state.trips + 1
        state.frozen_until = time.time_ns() + cfg.frozen_ms * 1_000_000 if cfg.frozen_ms else 0
        self.save(state)
        reason = f"{REASON} {why}"
        log.warning("mmp.tripped", extra={"session": cfg.session_id, "reason": reason})
        if not risk_state(self.engine, cfg.session_id).killed:  # an operator's switch stays the operator's
            self.tasks.spawn(risk.engage_kill_switch(self.engine, cfg.session_id, reason), f"mmp/{cfg.session_id}")
        if cfg.frozen_ms:
            self._schedule(state, cfg.frozen_ms / 1000)

    def _schedule(self, state: MmpState, after_s: float) -> None:
        if state.timer is not None:
            state.timer.cancel()
        state.timer = self.tasks.spawn(self._unfreeze_after(state, after_s), f"mmp/{state.config.session_id}/thaw")

    async def _unfreeze_after(self, state: MmpState, after_s: float) -> None:
        await asyncio.sleep(max(after_s, 0.0))  # the frozen time itself, not a wait for something
        state.timer = None
        self.thaw(state)

    def thaw(self, state: MmpState) -> None:
        sid = state.config.session_id
        rs = risk_state(self.engine, sid)
        if rs.killed and rs.reason.startswith(REASON):
            risk.release_kill_switch(self.engine, sid)
        state.frozen, state.frozen_until = False, 0
        state.window.clear()
        self.save(state)
        log.info("mmp.thawed", extra={"session": sid})

    async def reset(self, session_id: str) -> MmpState | None:
        self.engine.session(session_id)  # NOT_FOUND
        state = self.states.get(session_id)
        if state is None:
            return None
        if state.native is not None:
            await state.native.reset(state.index)
            return await self.get(session_id)
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        self.thaw(state)
        return state

    # ------------------------------------------------------------------ restart

    async def _restore(self, key: str, session_id: str, d: dict[str, Any]) -> None:
        cfg = MmpConfig.from_json(session_id, d)
        state = MmpState(cfg, deque())
        self.states[session_id] = state
        native = self.engine.native_mmp(session_id) if d.get("native") else None
        if native is not None:  # the venue kept its configuration: flag the orders and listen again
            state.native = native
            state.index, venue_config = self._venue_config(cfg, native)
            native.adopt(venue_config)
            return
        rs = risk_state(self.engine, session_id)
        if d.get("frozenUntil") is not None and rs.killed and rs.reason.startswith(REASON):
            state.frozen, state.frozen_until = True, int(d["frozenUntil"])
            if state.frozen_until:
                self._schedule(state, (state.frozen_until - time.time_ns()) / 1e9)
        self.save(state)

    async def close(self) -> None:
        self.restorer.close()
        if self._on_update in self.engine.observers:
            self.engine.observers.remove(self._on_update)
        await self.tasks.close()


def risk_state(engine: OrderEngine, session_id: str) -> risk.SessionRisk:
    return engine.risk.state(session_id)
