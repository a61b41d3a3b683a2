"""Pre-trade risk limits and the kill switch (issue 14, items 2 and 3).

Every insert and every amend of a session passes ``RiskControl.check_insert`` / ``check_amend`` before
anything is registered or sent. A refusal is ``RiskRefused`` (FAILED_PRECONDITION) naming the limit:

    killSwitch          the session's or the global kill switch is engaged
    maxOrderQty         order quantity above the limit
    maxOrderNotional    qty x price above the limit (a market order is valued at the market-data mid)
    maxOpenOrders       the session already has this many open orders (inserts only)
    maxPositionLong     position + every open buy's remaining qty + this order, per symbol
    maxPositionShort    the same, short side (open sells)
    priceBand           a buy priced more than X % above the mid, a sell more than X % below it
    maxOrdersPerSecond  inserts and amends of the session in the last second (cancels are never limited)

Policy without a reference price: when ``priceBand`` is set, or ``maxOrderNotional`` must value a market
order, and execx has no fresh market-data mid for the symbol, the order is refused (the limit is named
and the message says there is no fresh mid): a configured band is never silently skipped.

The kill switch (per session and global) refuses every insert and amend until released; deletes and
pulls stay allowed. Engaging it first runs the ``kill_hooks`` on each session (what execx holds armed off
the venue: contingent orders and held group legs are disarmed, managers/contingent.py), then pulls every
open order of the session(s) through the engine's own pull path (also a venue-held conditional order).
Releasing it re-arms nothing. Its state and the session's limits are journaled as ``risk`` events on the
session (a snapshot each time: ``killSwitch``, ``limits``), the global switch as a saved record in the
journal's ``algorithms`` table (kind ``killswitch``); both come back after a restart (``restore``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..domain.enums import OrderType, Side, TransactionType
from ..domain.errors import FailedPrecondition, NotFound, ValidationError
from .journal import Journal

if TYPE_CHECKING:
    from ..domain.orders import Order
    from .sessions import OrderEngine, Session

log = logging.getLogger("execx.risk")

RISK = "risk"  # bus / journal kind of the risk events of a session
GLOBAL_KIND, GLOBAL_KEY = "killswitch", "global"
ALL = "all"  # the session id that means every session (the global switch)
INLINE = "inline"  # the account of a session opened with inline keys (no stored account)
ACCOUNT_KEY = "account:"  # journal key prefix of an account's switch (under GLOBAL_KIND)
_WINDOW_NS = 1_000_000_000
_HUNDRED = Decimal(100)

LIMIT_NAMES = (
    "killSwitch",
    "maxOrderQty",
    "maxOrderNotional",
    "maxOpenOrders",
    "maxPositionLong",
    "maxPositionShort",
    "priceBand",
    "maxOrdersPerSecond",
)


class RiskRefused(FailedPrecondition):
    """An order refused by a pre-trade limit or the kill switch; ``limit`` is one of ``LIMIT_NAMES``."""

    def __init__(self, limit: str, reason: str) -> None:
        super().__init__(f"risk limit {limit}: {reason}; nothing was sent")
        self.limit = limit
        self.reason = reason


@dataclass(frozen=True)
class RiskLimits:
    """A session's limits; None = no limit. Quantities in the instrument's unit, notional in its quote."""

    max_order_qty: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_open_orders: int | None = None
    max_position_long: Decimal | None = None
    max_position_short: Decimal | None = None
    price_band_pct: Decimal | None = None
    max_orders_per_second: int | None = None
    _empty: bool = field(default=True, init=False, repr=False, compare=False)

    _JSON = {
        "max_order_qty": "maxOrderQty",
        "max_order_notional": "maxOrderNotional",
        "max_open_orders": "maxOpenOrders",
        "max_position_long": "maxPositionLong",
        "max_position_short": "maxPositionShort",
        "price_band_pct": "priceBandPct",
        "max_orders_per_second": "maxOrdersPerSecond",
    }

    def __post_init__(self) -> None:
        for attr, name in self._JSON.items():
            value = getattr(self, attr)
            if value is None:
                continue
            if isinstance(value, Decimal) and not value.is_finite():
                raise ValidationError(f"riskLimits.{name}", "must be a finite number")
            if value <= 0:
                raise ValidationError(f"riskLimits.{name}", f"must be positive (unset = no limit), not {value}")
        if self.price_band_pct is not None and self.price_band_pct >= _HUNDRED:
            raise ValidationError("riskLimits.priceBandPct", "must be below 100 (%)")
        object.__setattr__(self, "_empty", all(getattr(self, a) is None for a in self._JSON))

    @property
    def empty(self) -> bool:
        """No limit set (computed once: this is on every order's path)."""
        return self._empty

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr, name in self._JSON.items():
            value = getattr(self, attr)
            if value is not None:
                out[name] = str(value) if isinstance(value, Decimal) else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RiskLimits:
        kwargs: dict[str, Any] = {}
        for attr, name in cls._JSON.items():
            if name in data:
                kwargs[attr] = (
                    int(data[name]) if attr in ("max_open_orders", "max_orders_per_second") else Decimal(data[name])
                )
        return cls(**kwargs)


@dataclass
class SessionRisk:
    limits: RiskLimits = field(default_factory=RiskLimits)
    killed: bool = False
    reason: str = ""
    sent: deque[int] = field(default_factory=deque)  # ns of the inserts/amends of the last second

    def snapshot(self) -> dict[str, Any]:
        return {"killSwitch": self.killed, "reason": self.reason, "limits": self.limits.to_json()}


class RiskControl:
    """Limits and kill-switch state of every session, and the global switch. ``clock_ns`` is injected
    (the order rate window); ``refusal_observers`` see (exchange, limit) of every refusal (metrics)."""

    def __init__(self, journal: Journal | None, clock_ns: Callable[[], int]) -> None:
        self.journal = journal
        self.clock_ns = clock_ns
        self.sessions: dict[str, SessionRisk] = {}
        self.global_killed = False
        self.global_reason = ""
        self.refusal_observers: list[Callable[[str, str], None]] = []
        self.cancel_observers: list[Callable[[str, int], None]] = []  # (exchange, cancels sent by a kill)
        # (op "engage" | "release", reason) of the global switch changed here by a caller: fleet mode
        # (fleet/) broadcasts it to every other execx on the account(s)
        self.global_observers: list[Callable[[str, str], None]] = []
        # the switch of one account (the stored account a session was opened with, ``inline`` for inline
        # keys): account -> reason; fleet mode engages it on every execx trading the account
        self.account_kills: dict[str, str] = {}
        self.account_of: Callable[[str], str] = lambda _sid: INLINE  # session id -> its account (app.py)
        self.account_observers: list[Callable[[str, str, str], None]] = []  # (op, account, reason), as global
        # run on each session a switch covers when it is engaged, before its open orders are pulled: each
        # disarms what it holds armed for the session off the venue (contingent orders) and answers the client
        # order ids it disarmed; releasing the switch re-arms nothing
        self.kill_hooks: list[Callable[[Session], Awaitable[list[str]]]] = []

    def state(self, session_id: str) -> SessionRisk:
        state = self.sessions.get(session_id)
        if state is None:
            state = self.sessions[session_id] = SessionRisk()
        return state

    # ------------------------------------------------------------------ restart

    def restore(self, session_ids: list[str]) -> None:
        """The global switch and each session's last risk snapshot, from the journal."""
        if self.journal is None:
            return
        for key, _sid, cfg in self.journal.algorithms(GLOBAL_KIND):
            if key == GLOBAL_KEY:
                self.global_killed, self.global_reason = True, str(cfg.get("reason", ""))
            elif key.startswith(ACCOUNT_KEY):
                self.account_kills[key[len(ACCOUNT_KEY) :]] = str(cfg.get("reason", ""))
        for sid in session_ids:
            rec = self.journal.last_record(sid, RISK)
            if rec is not None and isinstance(rec.payload, dict):
                state = self.state(sid)
                state.killed = bool(rec.payload.get("killSwitch"))
                state.reason = str(rec.payload.get("reason", ""))
                state.limits = RiskLimits.from_json(rec.payload.get("limits") or {})

    # ------------------------------------------------------------------ checks

    def _refuse(self, exchange: str, limit: str, reason: str) -> RiskRefused:
        for observe in self.refusal_observers:
            observe(exchange, limit)
        return RiskRefused(limit, reason)

    def kill_reason(self, session_id: str) -> str:
        """Why a kill switch covering ``session_id`` is engaged (global, its account's or its own), '' if none."""
        if self.global_killed:
            return f"the global kill switch is engaged ({self.global_reason})"
        if self.account_kills:
            account = self.account_of(session_id)
            if account in self.account_kills:
                return f"the kill switch of account {account!r} is engaged ({self.account_kills[account]})"
        state = self.sessions.get(session_id)
        if state is not None and state.killed:
            return f"the kill switch of session {session_id!r} is engaged ({state.reason})"
        return ""

    def check_kill(self, session_id: str, exchange: str) -> None:
        reason = self.kill_reason(session_id)
        if reason:
            raise self._refuse(exchange, "killSwitch", reason)

    def check_insert(self, session: Session, order: Order, reference: Decimal | None, *, rate: bool = True) -> None:
        """A new order (after validation and tick/lot rounding, before it is registered or sent). ``rate``
        False: every check but ``maxOrdersPerSecond`` (a contingent order being armed: nothing is sent)."""
        ex = session.exchange.value
        self.check_kill(session.session_id, ex)
        state = self.sessions.get(session.session_id)
        if state is None or state.limits.empty:
            return
        lim = state.limits
        self._check_size(ex, lim, order.side, order.qty, order.price, order.order_type, reference)
        self._check_book(session, ex, lim, order.symbol, order.side, order.qty, None)
        if rate:
            self._check_rate(ex, state)

    def check_amend(
        self, session: Session, order: Order, qty: Decimal, price: Decimal | None, reference: Decimal | None
    ) -> None:
        """An amend of ``order`` to ``qty`` (total, filled included) and ``price`` (rounded)."""
        ex = session.exchange.value
        self.check_kill(session.session_id, ex)
        state = self.sessions.get(session.session_id)
        if state is None or state.limits.empty:
            return
        lim = state.limits
        band = price is not None and price != order.price  # the band applies to a new price only
        self._check_size(ex, lim, order.side, qty, price, order.order_type, reference, band=band)
        self._check_book(session, ex, lim, order.symbol, order.side, qty - order.cum_filled, order)
        self._check_rate(ex, state)

    def _check_size(
        self,
        ex: str,
        lim: RiskLimits,
        side: Side,
        qty: Decimal,
        price: Decimal | None,
        order_type: OrderType,
        reference: Decimal | None,
        band: bool = True,
    ) -> None:
        if lim.max_order_qty is not None and qty > lim.max_order_qty:
            raise self._refuse(ex, "maxOrderQty", f"qty {qty} is above {lim.max_order_qty}")
        priced = price if order_type is not OrderType.MARKET and price is not None else None
        if lim.max_order_notional is not None:
            value_at = priced if priced is not None else reference
            if value_at is None:
                raise self._refuse(ex, "maxOrderNotional", "no fresh market-data mid to value a market order")
            notional = qty * value_at
            if notional > lim.max_order_notional:
                raise self._refuse(ex, "maxOrderNotional", f"notional {notional} is above {lim.max_order_notional}")
        if lim.price_band_pct is not None and priced is not None and band:
            if reference is None:
                raise self._refuse(ex, "priceBand", "no fresh market-data mid for the symbol to check the band against")
            pct = lim.price_band_pct
            if side is Side.BUY and priced > reference * (1 + pct / _HUNDRED):
                raise self._refuse(ex, "priceBand", f"buy at {priced} is more than {pct}% above the mid {reference}")
            if side is Side.SELL and priced < reference * (1 - pct / _HUNDRED):
                raise self._refuse(ex, "priceBand", f"sell at {priced} is more than {pct}% below the mid {reference}")

    def _check_book(
        self,
        session: Session,
        ex: str,
        lim: RiskLimits,
        symbol: str,
        side: Side,
        remaining: Decimal,
        amended: Order | None,
    ) -> None:
        """Open orders (inserts: ``amended`` is None) and the worst-case position if every open order of the
        side filled: position + their remaining + this order. One pass over the session's orders in memory."""
        count = lim.max_open_orders if amended is None else None
        cap = lim.max_position_long if side is Side.BUY else lim.max_position_short
        if count is None and cap is None:
            return
        n_open, open_qty = 0, Decimal(0)
        for o in session.store.orders.values():
            if o.status.is_final:
                continue
            n_open += 1
            if o.side is side and o.symbol == symbol and o is not amended:
                open_qty += o.qty - o.cum_filled
        if count is not None and n_open >= count:
            raise self._refuse(ex, "maxOpenOrders", f"the session has {count} open orders already")
        if cap is None:
            return
        position = session.positions.get(symbol)
        if side is Side.BUY:
            worst = position + open_qty + remaining
            if worst > cap:
                raise self._refuse(ex, "maxPositionLong", f"{symbol} long could reach {worst}, above {cap}")
        else:
            worst = -(position - open_qty - remaining)
            if worst > cap:
                raise self._refuse(ex, "maxPositionShort", f"{symbol} short could reach {worst}, above {cap}")

    def _check_rate(self, ex: str, state: SessionRisk) -> None:
        """Last: a refusal by another limit does not use up the rate."""
        limit = state.limits.max_orders_per_second
        if limit is None:
            return
        now = self.clock_ns()
        sent = state.sent
        while sent and sent[0] <= now - _WINDOW_NS:
            sent.popleft()
        if len(sent) >= limit:
            raise self._refuse(ex, "maxOrdersPerSecond", f"{limit} orders in the last second already")
        sent.append(now)

    # ------------------------------------------------------------------ changes (journaled, published)

    def set_limits(self, session: Session, limits: RiskLimits) -> None:
        state = self.state(session.session_id)
        state.limits = limits
        self._publish(session, "riskLimitsChanged", "session", [])

    def _publish(self, session: Session, event: str, scope: str, cancelling: list[str]) -> None:
        state = self.state(session.session_id)
        payload = state.snapshot() | {
            "event": event,
            "scope": scope,
            "globalKillSwitch": self.global_killed,
            "globalReason": self.global_reason,
            "cancelling": cancelling,
            "localTime": self.clock_ns(),
        }
        session.bus.publish(RISK, payload)
        session.bus.flush()


def _targets(engine: OrderEngine, session_id: str) -> list[Session]:
    if session_id == ALL:
        return [s for s in engine.sessions.values() if s.state != "stopped"]
    return [engine.session(session_id)]


async def engage_kill_switch(engine: OrderEngine, session_id: str, reason: str, *, broadcast: bool = True) -> list[str]:
    """Engage the switch of ``session_id`` (``all``: the global one), journal and publish it, then disarm
    the session(s)' armed contingent orders (``kill_hooks``) and pull every open order of those that have a
    live connection. Returns the client order ids disarmed or a cancel was sent for. Idempotent: engaging
    again pulls again (what is still open). ``broadcast``: the global
    switch is told to ``global_observers`` (fleet mode: every other execx); false when it came from there."""
    risk = engine.risk
    if not session_id:
        raise ValidationError("sessionId", f"is required: a session id or {ALL!r}")
    reason = reason or "engaged by an operator"
    targets = _targets(engine, session_id)
    if session_id == ALL:
        engine.journal.save_algorithm(GLOBAL_KIND, GLOBAL_KEY, "", {"reason": reason})
        risk.global_killed, risk.global_reason = True, reason
        if broadcast:
            for tell in risk.global_observers:
                tell("engage", reason)
    else:
        state = risk.state(session_id)
        state.killed, state.reason = True, reason
    return await _engaged(engine, targets, "global" if session_id == ALL else "session")


async def _engaged(engine: OrderEngine, targets: list[Session], scope: str) -> list[str]:
    """A switch engaged over ``targets``: published to each, then each one's armed contingent orders disarmed
    (``kill_hooks``) and its open orders pulled."""
    cancelled: list[str] = []
    for session in targets:
        ids = [o.cl_order_id for o in session.store.open_orders()]
        engine.risk._publish(session, "killSwitchEngaged", scope, ids)
        disarmed: list[str] = []
        for hook in engine.risk.kill_hooks:
            try:
                disarmed.extend(await hook(session))
            except Exception as e:  # one failing must not stop the pull
                log.warning("killswitch.hook_failed", extra={"session": session.session_id, "error": str(e)})
        pulled = await pull_open_orders(engine, session, "killswitch")
        cancelled.extend(disarmed + [cl for cl in pulled if cl not in disarmed])
        if pulled:
            for observe in engine.risk.cancel_observers:
                observe(session.exchange.value, len(pulled))
    return cancelled


async def pull_open_orders(engine: OrderEngine, session: Session, why: str) -> list[str]:
    """Pull every open order of a live session, symbol by symbol (the venue's cancel-all where it has one);
    the client order ids a cancel went out for. A symbol whose pull fails is logged and skipped: one failure
    must not stop the other cancels. Used by the kill switch and cancel-on-disconnect (disconnect.py)."""
    from .sessions import SendOrder  # sessions.py imports this module

    if session.connector is None or session.state != "live":
        return []
    cancelled: list[str] = []
    for symbol in sorted({o.symbol for o in session.store.open_orders()}):
        before = {o.cl_order_id for o in session.store.open_orders(symbol)}
        try:
            await engine.send(SendOrder(session.session_id, TransactionType.PULL, symbol=symbol))
        except Exception as e:  # one venue failing must not stop the others' cancels
            log.warning(f"{why}.pull_failed", extra={"session": session.session_id, "error": str(e)})
            continue
        cancelled.extend(sorted(before))
    return cancelled


async def engage_account_kill(engine: OrderEngine, account: str, reason: str, *, broadcast: bool = True) -> list[str]:
    """Engage the switch of one account (every session opened with it, also ones started later), journal and
    publish it, pull those sessions' open orders; the client order ids a cancel was sent for. ``broadcast``:
    told to ``account_observers`` (fleet mode: every other execx)."""
    risk = engine.risk
    if not account:
        raise ValidationError("account", "is required: a stored account name (or inline)")
    reason = reason or "engaged by an operator"
    engine.journal.save_algorithm(GLOBAL_KIND, ACCOUNT_KEY + account, "", {"reason": reason})
    risk.account_kills[account] = reason
    if broadcast:
        for tell in risk.account_observers:
            tell("engage", account, reason)
    targets = [t for t in _targets(engine, ALL) if risk.account_of(t.session_id) == account]
    return await _engaged(engine, targets, "account")


def release_account_kill(engine: OrderEngine, account: str, *, broadcast: bool = True) -> None:
    """Re-arm one account's switch (sessions engaged one by one, and the global switch, stay as they are)."""
    risk = engine.risk
    if not account:
        raise ValidationError("account", "is required: a stored account name (or inline)")
    engine.journal.drop_algorithm(GLOBAL_KIND, ACCOUNT_KEY + account)
    if risk.account_kills.pop(account, None) is None:
        return
    if broadcast:
        for tell in risk.account_observers:
            tell("release", account, "")
    for session in _targets(engine, ALL):
        if risk.account_of(session.session_id) == account:
            risk._publish(session, "killSwitchReleased", "account", [])


def release_kill_switch(engine: OrderEngine, session_id: str, *, broadcast: bool = True) -> None:
    """Re-arm: ``all`` releases the global switch (sessions engaged one by one stay engaged); a session
    id releases that session's switch. Journaled and published like the engagement (``broadcast``: as
    for ``engage_kill_switch``)."""
    risk = engine.risk
    if not session_id:
        raise ValidationError("sessionId", f"is required: a session id or {ALL!r}")
    if session_id == ALL:
        engine.journal.drop_algorithm(GLOBAL_KIND, GLOBAL_KEY)
        risk.global_killed, risk.global_reason = False, ""
        if broadcast:
            for tell in risk.global_observers:
                tell("release", "")
    else:
        if session_id not in engine.sessions:
            raise NotFound(f"session {session_id!r} does not exist")
        state = risk.state(session_id)
        state.killed, state.reason = False, ""
    for session in _targets(engine, session_id):
        risk._publish(session, "killSwitchReleased", "global" if session_id == ALL else "session", [])
