"""Linked orders of the JSON-RPC dialect (seed 004, Pulse's ``private/buy`` / ``private/sell`` with
``linked_order_type`` and ``otoco_config``): a primary order and its secondary orders, placed when the primary
executes.

- ``one_triggers_other``: every ``otoco_config`` entry is placed when the primary executes;
  ``one_triggers_one_cancels_other``: two entries, placed the same way, and when one of them executes the
  other is cancelled (an OCO pair, e.g. a take-profit and a stop-loss of the primary's position).
- ``trigger_fill_condition``: ``first_hit`` (default: the primary's first execution places them in full) or
  ``complete_fill`` (once the primary is filled). ``incremental`` (proportional placement per fill) is
  refused by the simulator (``invalid_params``).
- The secondaries exist from the start (the primary's ``oto_order_ids``), ``order_state`` ``untriggered`` with
  ``is_secondary_oto`` and ``primary_order_id``; an entry with a ``trigger`` (stop_* / take_*) then waits for
  its price like any trigger order, the others rest or trade at once. A primary cancelled (or ended) before any
  execution cancels its secondaries.
- Engine changes are made after the operation that caused them (``loop.call_soon``): an event arrives in the
  middle of matching, where orders must not be placed or cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ...core import conditional
from ...core.accounts import Account
from ...core.engine import Market
from ...core.types import Direction, Event, ExecType, Order, OrderError, OrderEvent, OrderStatus, Side, Trigger
from ..jsonrpc import invalid_params
from .errors import from_order_error
from .trading import TRIGGER_REF, TRIGGER_TYPES, DeribitTrading, NewOrder, order_id_text

LINKED_TYPES = ("one_triggers_other", "one_triggers_one_cancels_other")
FILL_CONDITIONS = ("first_hit", "complete_fill")  # "incremental": refused (see the module docstring)
NEVER = Trigger(Direction.RISE, Decimal("1e30"))  # a held plain secondary's trigger: it never fires by price


@dataclass
class Group:
    kind: str
    condition: str
    primary: Order
    secondaries: list[Order] = field(default_factory=list)
    triggers: dict[int, Trigger | None] = field(default_factory=dict)  # a secondary's own trigger, if any
    released: bool = False
    done: bool = False


class LinkedOrders:
    def __init__(self, market: Market, trading: DeribitTrading) -> None:
        self.market = market
        self.trading = trading
        self.groups: dict[int, Group] = {}  # by the primary's and every secondary's order id
        market.exchange.subscribe(self._on_event)

    def place(
        self, account: Account, primary: NewOrder, kind: str, condition: str, secondaries: list[NewOrder]
    ) -> Order:
        if kind not in LINKED_TYPES:
            raise invalid_params("linked_order_type", "one_triggers_other or one_triggers_one_cancels_other")
        if condition == "incremental":
            raise invalid_params("trigger_fill_condition", "incremental is not supported by the simulator")
        if condition not in FILL_CONDITIONS:
            raise invalid_params("trigger_fill_condition", "first_hit, complete_fill or incremental")
        if not secondaries:
            raise invalid_params("otoco_config", "must list the orders to create")
        if kind == "one_triggers_one_cancels_other" and len(secondaries) != 2:
            raise invalid_params("otoco_config", "one_triggers_one_cancels_other takes two orders")
        held = [self._hold(account, s) for s in secondaries]
        try:
            order = self.trading.place(account, primary)
        except Exception:
            for o, _ in held:
                self.market.cancel(account, o.symbol, order_id=o.order_id)
            raise
        group = Group(kind, condition, order, [o for o, _ in held], {o.order_id: t for o, t in held})
        for o in (order, *group.secondaries):
            self.groups[o.order_id] = group
        for o in group.secondaries:
            o.extra.update(linked_order_type=kind, is_secondary_oto=True, primary_order_id=order_id_text(order))
        order.extra.update(
            linked_order_type=kind,
            is_primary_otoco=True,
            oto_order_ids=[order_id_text(o) for o in group.secondaries],
            trigger_fill_condition=condition,
        )
        self._primary_moved(group)  # it may have traded already
        return order

    def _hold(self, account: Account, req: NewOrder) -> tuple[Order, Trigger | None]:
        """A secondary armed (validated like the order it places) and held off the price evaluation."""
        trigger: Trigger | None = None
        if req.trigger_type:
            ref = TRIGGER_REF[req.trigger]
            _, rise = TRIGGER_TYPES[req.trigger_type]
            up = rise if req.side is Side.BUY else (Direction.FALL if rise is Direction.RISE else Direction.RISE)
            assert req.trigger_price is not None
            trigger = Trigger(up, req.trigger_price, ref)
        extra: dict[str, Any] = {"label": req.label, "api": req.api, "mmp": False}
        if req.trigger_type:
            extra.update(order_type=req.trigger_type, trigger=req.trigger)
        else:
            extra["linked_plain"] = True  # shown as the limit / market order it is (no trigger fields)
        market = self.market
        market.firing = True  # nothing fires while it is armed: it is held next
        try:
            order = conditional.arm(
                market,
                account,
                req.symbol,
                req.side,
                req.type,
                req.qty,
                trigger or Trigger(NEVER.direction, NEVER.price),
                req.price,
                req.tif,
                reduce_only=req.reduce_only,
                extra=extra,
                reject_crossed=False,
            )
        except OrderError as e:
            raise from_order_error(e, market, req.symbol) from None
        finally:
            market.firing = False
        conditional.hold(market, order)
        return order, trigger

    # ------------------------------------------------------------------ reactions

    def _on_event(self, ev: Event) -> None:
        if not isinstance(ev, OrderEvent) or ev.market != self.market.name:
            return
        group = self.groups.get(ev.order.order_id)
        if group is None or group.done:
            return
        if ev.order is group.primary:
            self._later(lambda: self._primary_moved(group))
        elif ev.exec_type is ExecType.TRADE and group.kind == "one_triggers_one_cancels_other":
            self._later(lambda: self._cancel_others(group, ev.order))

    def _primary_moved(self, group: Group) -> None:
        primary = group.primary
        if group.released:
            return
        executed = primary.filled > 0
        if executed and (group.condition == "first_hit" or primary.status is OrderStatus.FILLED):
            group.released = True
            for o in group.secondaries:
                conditional.release(self.market, o, group.triggers.get(o.order_id))
            if group.kind == "one_triggers_other":
                self._forget(group)
        elif not primary.is_open and not executed:  # cancelled, expired or rejected before any execution
            self._cancel(group, group.secondaries)
            self._forget(group)

    def _cancel_others(self, group: Group, filled: Order) -> None:
        if group.done:
            return
        self._cancel(group, [o for o in group.secondaries if o is not filled])
        self._forget(group)

    def _cancel(self, group: Group, orders: list[Order]) -> None:
        account = self.market.exchange.accounts[group.primary.account_id]
        for o in orders:
            if o.is_open or o.status is OrderStatus.UNTRIGGERED:
                o.extra["cancel_reason"] = "linked_order"
                self.market.cancel(account, o.symbol, order_id=o.order_id)

    def _forget(self, group: Group) -> None:
        group.done = True
        for o in (group.primary, *group.secondaries):
            self.groups.pop(o.order_id, None)

    @staticmethod
    def _later(action: Callable[[], None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a unit test driving the engine): after this event, synchronously
            action()
            return
        loop.call_soon(action)


def linked_fields(o: Order) -> dict[str, Any]:
    """The seed's linked-order fields of an order object (none for an order outside a group)."""
    out: dict[str, Any] = {}
    for key in ("linked_order_type", "is_primary_otoco", "is_secondary_oto", "primary_order_id", "oto_order_ids"):
        if key in o.extra:
            out[key] = o.extra[key]
    if "trigger_fill_condition" in o.extra:
        out["trigger_fill_condition"] = o.extra["trigger_fill_condition"]
    return out
