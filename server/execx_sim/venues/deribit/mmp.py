"""Market-maker protection (MMP) of Deribit and Pulse (seed 004), per account and index (``btc_usd``: every
instrument whose base is BTC).

Methods (JSON-RPC, private):

- ``private/set_mmp_config`` ``{index_name, interval, frozen_time, quantity_limit, delta_limit?}``: interval
  and frozen time in seconds (``interval: 0`` removes the configuration; ``frozen_time: 0``: frozen until
  ``reset_mmp``). Setting a configuration resets a running freeze (Pulse's document: "triggers MMP reset").
  Deribit answers the index's configurations as a list; Pulse the configuration object (its ``SetMMPConfig``
  model). ``delta_limit`` is Deribit's (Pulse's model has none: refused there, naming the parameter).
- ``private/get_mmp_config`` ``{index_name?}``: Deribit a list (every index without ``index_name``), Pulse the
  one object (an empty one when none is set).
- ``private/reset_mmp`` ``{index_name}`` (Deribit; Pulse resets by setting the configuration again): ends a
  freeze and empties the window; ``private/get_mmp_status`` ``{index_name?}`` (Deribit): a list of
  ``{index_name, frozen_until}`` of the frozen indexes (``frozen_until`` ms, 0: until reset).
- Channel ``user.mmp_trigger.{index_name}``: ``{index_name, frozen_until}`` when a limit is crossed
  (``frozen_until``: Deribit's milliseconds; Pulse's seconds, as its ``MMPNotification`` example
  ``1640995200``; 0: until reset).

Orders take part with ``mmp: true`` on ``private/buy`` / ``private/sell`` / ``private/edit`` (limit orders only),
or FIX ``DeribitMMProtection(9008)=Y``; their objects carry ``mmp``. Each fill of such an order adds its
``amount`` (as the order object reports it) and its delta to the index's window (the simulator has no option
greeks: a fill's delta is its amount in the index currency, + for buys, - for sells; an inverse instrument's
USD amount is converted at the fill price). When the window's amount reaches ``quantity_limit``, or its net
delta reaches ``delta_limit`` in size, the index is frozen: every open MMP order of the account on it is
cancelled (``cancel_reason`` ``mmp_trigger``), the trigger notification is sent, and new MMP orders on it are
refused with ``13030 mmp_trigger`` until ``frozen_until`` (or ``reset_mmp``). Orders without the flag are
not affected.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ...core.accounts import Account
from ...core.engine import Market
from ...core.instruments import Instrument, Kind
from ...core.types import ZERO, Event, ExecType, OrderEvent, OrderType, Side
from ..jsonrpc import Conn, JsonRpcServer, Params, RpcError, invalid_params, num
from .trading import DeribitTrading

FROZEN = RpcError(13030, "mmp_trigger")


def index_of(inst: Instrument) -> str:
    return f"{inst.base.lower()}_usd"


@dataclass
class Limits:
    interval_s: int
    frozen_s: int
    quantity_limit: Decimal | None
    delta_limit: Decimal | None


@dataclass
class IndexState:
    limits: Limits
    window: deque[tuple[int, Decimal, Decimal]] = field(default_factory=deque)  # (ms, amount, delta)
    frozen_until: int | None = None  # ms; 0: until reset; None: not frozen


class VenueMmp:
    """The MMP of one JSON-RPC venue's market (Deribit's or Pulse's dialect)."""

    def __init__(
        self,
        server: JsonRpcServer,
        market: Market,
        trading: DeribitTrading,
        amount: Callable[[Instrument, Decimal], Decimal],
    ) -> None:
        self.server = server
        self.market = market
        self.trading = trading
        self.amount = amount
        self.pulse = server.dialect.venue == "pulse"
        self.states: dict[tuple[str, str], IndexState] = {}  # (account id, index name)
        m = server.method
        m("private/set_mmp_config", self._set, private=True)
        m("private/get_mmp_config", self._get, private=True)
        if not self.pulse:
            m("private/reset_mmp", self._reset, private=True)
            m("private/get_mmp_status", self._status, private=True)
        market.exchange.subscribe(self._on_event)

    # ------------------------------------------------------------------ orders

    def check_order(self, account: Account, symbol: str, order_type: OrderType) -> None:
        """An order with the mmp flag: limit only, and refused while its index is frozen."""
        if order_type is not OrderType.LIMIT:
            raise invalid_params("mmp", "only for limit orders")
        inst = self.market.instruments.get(symbol)
        state = self.states.get((account.account_id, index_of(inst))) if inst is not None else None
        if state is not None and self._frozen(state):
            raise FROZEN

    def _frozen(self, state: IndexState) -> bool:
        if state.frozen_until is None:
            return False
        if state.frozen_until and self.market.exchange.now_ms() >= state.frozen_until:
            state.frozen_until = None  # the frozen time is over
            state.window.clear()
            return False
        return True

    def _on_event(self, ev: Event) -> None:
        if ev.market != self.market.name or not isinstance(ev, OrderEvent):
            return
        if ev.exec_type is not ExecType.TRADE or ev.fill is None or not ev.order.extra.get("mmp"):
            return
        order, fill = ev.order, ev.fill
        inst = self.market.instruments[order.symbol]
        key = (order.account_id, index_of(inst))
        state = self.states.get(key)
        if state is None or self._frozen(state):
            return
        amount = self.amount(inst, fill.qty)
        coin = amount / fill.price if inst.kind is Kind.INVERSE else amount
        now = self.market.exchange.now_ms()
        state.window.append((now, amount, coin if order.side is Side.BUY else -coin))
        while state.window and state.window[0][0] < now - state.limits.interval_s * 1000:
            state.window.popleft()
        total = sum((a for _, a, _ in state.window), ZERO)
        delta = sum((d for _, _, d in state.window), ZERO)
        lim = state.limits
        if (lim.quantity_limit is not None and total >= lim.quantity_limit) or (
            lim.delta_limit is not None and abs(delta) >= lim.delta_limit
        ):
            state.frozen_until = now + lim.frozen_s * 1000 if lim.frozen_s else 0
            # cancel after the matching that produced this fill is over (not inside its event)
            asyncio.get_running_loop().call_soon(self._trip, key)

    def _trip(self, key: tuple[str, str]) -> None:
        account_id, index = key
        account = self.market.exchange.accounts[account_id]
        state = self.states[key]
        hit = [
            o
            for o in self.market.open_orders(account)
            if o.extra.get("mmp") and index_of(self.market.instruments[o.symbol]) == index
        ]
        for o in hit:
            o.extra["cancel_reason"] = "mmp_trigger"
        self.trading.cancel_many(account, hit)
        until = state.frozen_until or 0
        note = {"index_name": index, "frozen_until": -(-until // 1000) if self.pulse else until}
        self.server.publish([f"user.mmp_trigger.{index}"], note, account_id)

    # ------------------------------------------------------------------ methods

    def _index(self, p: Params, required: bool) -> str | None:
        name = p.text("index_name", required=required)
        if name is not None and name not in {index_of(i) for i in self.market.instruments.values()}:
            raise invalid_params("index_name", "unknown index")
        return name

    def _config_json(self, index: str, lim: Limits) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index_name": index,
            "interval": lim.interval_s,
            "frozen_time": lim.frozen_s,
            "quantity_limit": num(lim.quantity_limit or ZERO),
        }
        if not self.pulse and lim.delta_limit is not None:
            out["delta_limit"] = num(lim.delta_limit)
        return out

    def _set(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        index = self._index(p, required=True)
        assert index is not None
        interval = p.integer("interval", required=True)
        frozen = p.integer("frozen_time", 0)
        qty = p.decimal("quantity_limit")
        delta = p.decimal("delta_limit")
        if self.pulse and delta is not None:
            raise invalid_params("delta_limit", "not a parameter of set_mmp_config")
        assert interval is not None and frozen is not None
        if interval < 0:
            raise invalid_params("interval", "must not be negative")
        if frozen < 0:
            raise invalid_params("frozen_time", "must not be negative")
        for name, value in (("quantity_limit", qty), ("delta_limit", delta)):
            if value is not None and value <= 0:
                raise invalid_params(name, "must be positive")
        key = (account.account_id, index)
        if interval == 0:
            self.states.pop(key, None)
            return [] if not self.pulse else {}
        if qty is None and delta is None:
            raise invalid_params("quantity_limit", "must be present")
        lim = Limits(interval, frozen, qty, delta)
        self.states[key] = IndexState(lim)  # a new configuration resets a running freeze
        return self._config_json(index, lim) if self.pulse else [self._config_json(index, lim)]

    def _get(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        index = self._index(p, required=False)
        rows = [
            self._config_json(i, s.limits)
            for (a, i), s in sorted(self.states.items())
            if a == account.account_id and (index is None or i == index)
        ]
        if self.pulse:
            return rows[0] if rows else {}
        return rows

    def _reset(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        index = self._index(p, required=True)
        assert index is not None
        state = self.states.get((account.account_id, index))
        if state is not None:
            state.frozen_until = None
            state.window.clear()
        return "ok"

    def _status(self, conn: Conn, account: Account | None, p: Params) -> Any:
        assert account is not None
        index = self._index(p, required=False)
        return [
            {"index_name": i, "frozen_until": s.frozen_until}
            for (a, i), s in sorted(self.states.items())
            if a == account.account_id and (index is None or i == index) and self._frozen(s)
        ]
