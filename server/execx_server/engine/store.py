"""The order store of one session: its orders by clOrderId, bounded by what is live.

Memory holds the orders not final and the last ``FINISHED_KEPT`` finished ones; older finished orders
leave memory once journaled and are read back from the journal (``get``, ``list``) when asked for, so a
session's memory follows its live orders, not its history. The store also serialises the venue
requests of each order (``lock``) and knows which orders are still to be resolved with the venue after
a restart or an unknown outcome (``unresolved``).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from ..domain.enums import OrderStatus
from ..domain.orders import Order
from ..domain.venue import NativeTrigger
from .journal import Journal, Record
from .updates import OrderUpdate

# Finished orders kept in memory per session, beyond the live ones: idempotent retries of recent inserts
# and late venue reports are answered without a journal read. Older ones are read back from the journal
# when asked for (GetOrder, ListOrders, a retry, a late report), so memory follows the live orders only.
FINISHED_KEPT = 1_000
FINISHED_SLACK = 100  # evicted in batches: the bus is flushed once per batch


class OrderStore:
    def __init__(self, session_id: str, journal: Journal, flush: Callable[[], None]) -> None:
        self.session_id = session_id
        self.journal = journal
        self._flush = flush  # the session bus's flush: what leaves memory is journaled first
        self.orders: dict[str, Order] = {}
        self.finished: OrderedDict[str, None] = OrderedDict()  # in memory, oldest first
        # One venue request at a time per order: an update or delete of an order whose insert (or amend)
        # is in flight waits for its answer, then acts on what it learned.
        self.locks: dict[str, _LockEntry] = {}
        # Orders whose venue state is not known yet (restored pending, or an unknown outcome).
        self.unresolved: set[str] = set()
        # True while memory holds every order the session ever had: an unknown clOrderId (every new insert)
        # then needs no journal read. False once an order has left memory or after a restart.
        self.complete = True

    def restore(self) -> None:
        """After a restart: the orders not final and the recent finished ones, from the journal; every
        order not final is unresolved until the venue says what it is."""
        self.complete = False
        ids = self.journal.live_and_recent(self.session_id, FINISHED_KEPT)
        for records in self.journal.orders_records(self.session_id, ids):
            order = replay(self.orders, records)
            if order is not None and order.status.is_final:
                self.finished[order.cl_order_id] = None
        self.unresolved = {cl for cl, o in self.orders.items() if not o.status.is_final}

    def add(self, order: Order) -> None:
        self.orders[order.cl_order_id] = order

    def get(self, cl_order_id: str) -> Order | None:
        """The order ``cl_order_id``: in memory, else read back from the journal (a finished order that
        left memory) and kept in the recent window again; None if the session never had it."""
        order = self.orders.get(cl_order_id)
        if order is None and cl_order_id and not self.complete:
            order = replay(self.orders, self.journal.order_records(self.session_id, cl_order_id))
            if order is not None and order.status.is_final:
                self.note_finished(order)
        return order

    def open_orders(self, symbol: str = "") -> list[Order]:
        return [o for o in self.orders.values() if not o.status.is_final and (not symbol or o.symbol == symbol)]

    def note_finished(self, order: Order) -> None:
        """A finished order joins the recent window; beyond ``FINISHED_KEPT`` (plus the slack) the oldest
        leave memory, once journaled. An order with a request in flight, being resolved or owed fills
        stays."""
        self.finished[order.cl_order_id] = None
        self.finished.move_to_end(order.cl_order_id)
        if len(self.finished) <= FINISHED_KEPT + FINISHED_SLACK:
            return
        self._flush()  # nothing leaves memory before it is in the journal
        kept: list[str] = []
        while len(self.finished) > FINISHED_KEPT:
            cl, _ = self.finished.popitem(last=False)
            o = self.orders.get(cl)
            if o is None:
                continue
            if not o.status.is_final or o.fills_owed or cl in self.locks or cl in self.unresolved:
                kept.append(cl)
                continue
            del self.orders[cl]
            self.complete = False
        for cl in kept:
            self.finished[cl] = None

    async def list(self, symbol: str = "", open_only: bool = False, limit: int = 0) -> list[Order]:
        """The orders in the order they were sent (open ones: from memory; all: from the journal, read in a
        worker thread); the last ``limit`` if given."""
        if open_only:
            orders = self.open_orders(symbol)
            return orders[-limit:] if limit else orders
        ids = await asyncio.to_thread(self.journal.order_ids, self.session_id, symbol, limit)
        missing = [cl for cl in ids if cl not in self.orders]

        def load() -> dict[str, Order]:
            found: dict[str, Order] = {}
            for records in self.journal.orders_records(self.session_id, missing):
                replay(found, records)
            return found

        found = await asyncio.to_thread(load)
        return [o for o in (self.orders.get(cl) or found.get(cl) for cl in ids) if o is not None]

    def lock(self, order: Order) -> OrderLock:
        """Serialises the venue requests of ``order``."""
        return OrderLock(self, order.cl_order_id)


class OrderLock:
    """Holds ``store.locks[clOrderId]`` (created on first use, dropped when nobody holds or awaits it, so
    the map only has orders with a request in flight)."""

    def __init__(self, store: OrderStore, key: str) -> None:
        self.store = store
        self.key = key

    async def __aenter__(self) -> None:
        entry = self.store.locks.get(self.key)
        if entry is None:
            entry = self.store.locks[self.key] = _LockEntry()
        entry.users += 1
        try:
            await entry.lock.acquire()
        except BaseException:
            self._leave(entry)
            raise

    async def __aexit__(self, *exc: object) -> None:
        entry = self.store.locks[self.key]
        entry.lock.release()
        self._leave(entry)

    def _leave(self, entry: _LockEntry) -> None:
        entry.users -= 1
        if entry.users == 0:
            del self.store.locks[self.key]


class _LockEntry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


def replay_record(orders: dict[str, Order], u: OrderUpdate) -> Order:
    """Apply one journaled order update to ``orders`` (creating the order at its first record)."""
    payload = u.journal
    order = orders.get(u.cl_order_id)
    if order is None:
        order = orders[u.cl_order_id] = Order(
            u.session_id,
            u.cl_order_id,
            u.exchange,
            u.symbol,
            u.side,
            u.order_type,
            u.tif,
            u.qty,
            u.price or None,
            u.trigger_id,
            reduce_only=bool(payload.get("reduceOnly", False)),
            native_trigger=NativeTrigger.from_json(payload["nativeTrigger"]) if "nativeTrigger" in payload else None,
        )
    if not u.trade_id:
        order.qty = u.qty
        order.price = u.price or None
        if "nativeTrigger" in payload:  # amended at the venue (Pulse)
            order.native_trigger = NativeTrigger.from_json(payload["nativeTrigger"])
    else:
        order.trade_ids.add(u.trade_id)
        order.cum_quote += u.executed_qty * u.price
    order.status = u.order_status
    if u.exch_order_id and order.exch_order_id and u.exch_order_id != order.exch_order_id:
        order.former_exch_ids.add(order.exch_order_id)  # replaced by a cancel-replace: still this order's
        order.replaced_exch_id = order.exch_order_id
    order.exch_order_id = u.exch_order_id or order.exch_order_id
    order.cum_filled = u.cumulative_filled_qty
    order.message = u.message
    order.not_sent = bool(payload.get("notSent", False))
    order.venue_filled = max(order.venue_filled, Decimal(payload.get("venueFilledQty", 0)))
    if u.order_status is OrderStatus.PENDINGNEW and u.send_time:
        order.sent_ns = u.send_time
    return order


def replay(orders: dict[str, Order], records: Iterable[Record]) -> Order | None:
    """Rebuild one order from its journaled records into ``orders``; None if there were none."""
    order = None
    for rec in records:
        if isinstance(rec.payload, OrderUpdate):
            order = replay_record(orders, rec.payload)
    return order


def journal_fields(order: Order, update: OrderUpdate) -> dict[str, Any]:
    """Journal-only fields of an order update (``OrderUpdate.journal``; the API never shows them): what a
    restart needs to finish the order's story."""
    extra: dict[str, Any] = {}
    if order.reduce_only and update.transaction_type.value == "insert":
        extra["reduceOnly"] = True
    if order.native_trigger is not None and update.transaction_type.value in ("insert", "update"):
        extra["nativeTrigger"] = order.native_trigger.to_json()  # an update: its trigger may have been amended
    if order.not_sent:
        extra["notSent"] = True
    if order.fills_owed:
        extra["venueFilledQty"] = str(order.venue_filled)
    return extra
