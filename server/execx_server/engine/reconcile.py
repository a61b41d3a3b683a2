"""The reconciler: asks the venue about orders whose state execx does not know, until it does.

An order becomes unresolved when a request on it had an unknown outcome (timeout, 5xx, dropped socket
after sending), when a venue refused an amend or cancel (the order may just have ended), and after a
restart for every order the journal left open. Resolving it (its lock held, so nothing else is sent for
it meanwhile): found on the venue -> its real state and every fill we missed (from the venue's trade
history, applied once per trade id); unknown to the venue once its acceptance window has passed after
its request left -> ``rejected``, not sent (the same insert then sends it). Fills a venue report says an
ended order had, but that never arrived, are collected from the trade history too.

Time is injected (``clock_ns``, ``sleep``) so tests drive it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from ..domain.enums import OrderStatus, OrderType, TimeInForce, TransactionType
from ..domain.orders import Order
from ..domain.venue import ExecutionReport, VenueError
from .tasks import Supervisor
from .updates import OrderUpdate

if TYPE_CHECKING:
    from .sessions import RetryPolicy, Session
    from .store import OrderStore

log = logging.getLogger("execx.engine")
ADOPTED = "adopted: live on the venue, unknown to execx's journal"


class Apply(Protocol):
    def __call__(
        self, session: Session, r: ExecutionReport, tx: TransactionType | None, send_time: int
    ) -> OrderUpdate | None: ...


class Reconciler:
    def __init__(
        self,
        apply: Apply,
        publish: Callable[[Session, OrderUpdate], None],
        tasks: Supervisor,
        retry: Callable[[], RetryPolicy],
        clock_ns: Callable[[], int],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._apply = apply
        self._publish = publish
        self._tasks = tasks
        self._retry = retry
        self._clock_ns = clock_ns
        self._sleep = sleep

    def spawn(self, session: Session, order: Order) -> None:
        """The outcome of a request on ``order`` is unknown: ask the venue until its state is known."""
        session.store.unresolved.add(order.cl_order_id)
        self._tasks.spawn(self._reconcile(session, order), f"reconcile/{order.cl_order_id}")

    async def _reconcile(self, session: Session, order: Order) -> None:
        """Resolve until the order's state is known, however long the venue takes to answer (its lock is
        released between rounds, so requests on the order are not held up behind a venue outage)."""
        while True:
            async with session.store.lock(order):
                await self.resolve(session, order)
            if order.cl_order_id not in session.store.unresolved or session.connector is None:
                return
            await self._sleep(self._retry().reconcile_delays_s[-1])

    async def resolve(self, session: Session, order: Order) -> None:
        """Ask the venue about an unresolved order (the caller holds its lock) until its state is known.
        Venue errors are retried with the reconcile delays; it stays unresolved if they run out
        (logged; ``_reconcile`` goes on asking)."""
        store = session.store
        if order.cl_order_id not in store.unresolved:
            return
        retry = self._retry()
        delays = iter(retry.reconcile_delays_s)
        while True:
            connector = session.connector
            if connector is None:
                return
            try:
                report = await connector.query_order(order.symbol, order.cl_order_id)
            except VenueError as e:
                log.warning("reconcile.query_failed", extra={"clOrderId": order.cl_order_id, "error": e.message})
            else:
                if report is not None:
                    store.unresolved.discard(order.cl_order_id)
                    await self.catch_up(session, order, report, order.sent_ns)
                    return
                if order.status is not OrderStatus.PENDINGNEW:
                    # a venue that no longer knows an order it acknowledged (e.g. it restarted, or the order
                    # left its history): a cancel or amend in flight found nothing live, so the order is
                    # not live; a live-looking order is left as it is (nothing truthful to report)
                    store.unresolved.discard(order.cl_order_id)
                    log.warning("reconcile.unknown_to_venue", extra={"clOrderId": order.cl_order_id})
                    if order.status in (OrderStatus.PENDINGCANCEL, OrderStatus.PENDINGUPDATE):
                        order.status = OrderStatus.CANCELLED
                        order.message = "the venue has no record of this order any more: it is not live"
                        self._publish(session, OrderUpdate.of(order, TransactionType.DELETE, self._clock_ns()))
                    return
                if (self._clock_ns() - order.sent_ns) / 1e9 >= retry.unknown_after_s:
                    store.unresolved.discard(order.cl_order_id)
                    order.mark_not_sent("not sent: the venue has no record of this order")
                    self._publish(session, OrderUpdate.of(order, TransactionType.INSERT, self._clock_ns()))
                    return
            delay = next(delays, None)
            if delay is None:  # _reconcile goes on asking
                log.warning(
                    "reconcile.unresolved", extra={"session": session.session_id, "clOrderId": order.cl_order_id}
                )
                return
            await self._sleep(delay)

    async def resume(self, session: Session) -> None:
        """After a resume: every order the journal left open is resolved with the venue, and the fills
        owed to ended orders are collected."""
        store = session.store
        for order in [store.orders[cl] for cl in sorted(store.unresolved) if cl in store.orders]:
            if session.connector is not None and order.exch_order_id:
                # its venue ids from the journal (a Binance spot order moved by cancel-replace counts its
                # fills on each: the venue's answer for its client id is the latest one only)
                session.connector.restore_order(
                    order.cl_order_id, tuple(sorted({*order.former_exch_ids, order.exch_order_id}))
                )
            async with store.lock(order):
                await self.resolve(session, order)
            if order.cl_order_id in store.unresolved:  # the venue did not answer: keep asking, in the background
                self.spawn(session, order)
        for order in [o for o in store.orders.values() if o.status.is_final and o.fills_owed]:
            await self.collect_owed_fills(session, order, 0.0)

    async def adopt(self, session: Session, prefix: str, others: list[OrderStore]) -> None:
        """The venue's live orders with client ids under ``prefix`` that neither this session nor any other
        knows (the journal that had them was lost) become this session's: each is reported with its venue
        status and then its fills, so a client sees it like any other order. Retried while the venue does
        not answer."""
        delays = iter((0.0, *self._retry().reconcile_delays_s))
        while (delay := next(delays, None)) is not None:
            await self._sleep(delay)
            connector = session.connector
            if connector is None:
                return
            try:
                live = await connector.open_orders()
            except VenueError as e:
                log.warning("adopt.query_failed", extra={"session": session.session_id, "error": e.message})
                continue
            for r in live:
                cl = r.cl_order_id
                if not cl.startswith(prefix) or any(s.get(cl) is not None for s in (session.store, *others)):
                    continue
                order = Order(
                    session.session_id,
                    cl,
                    session.exchange,
                    r.symbol,
                    r.side,
                    OrderType.LIMIT if r.price else OrderType.MARKET,
                    TimeInForce.GTC,
                    r.qty,
                    r.price,
                    exch_order_id=r.exch_order_id,
                )
                session.store.add(order)
                log.warning("adopt.order", extra={"session": session.session_id, "clOrderId": cl})
                async with session.store.lock(order):
                    self._apply(session, replace(r, cum_filled=Decimal(0), message=ADOPTED), TransactionType.INSERT, 0)
                if r.cum_filled:  # its fills from the venue's trade history, retried like any owed fills
                    order.venue_filled = r.cum_filled
                    await self.collect_owed_fills(session, order, 0.0)
            return
        log.error("adopt.gave_up", extra={"session": session.session_id})

    async def catch_up(self, session: Session, order: Order, report: ExecutionReport, send_time: int) -> None:
        """Apply the venue's view of an order, first recovering any fills we have not seen. If the venue does
        not give its fills now (a rate limit, an outage), its state is applied anyway: the fills it counts
        beyond ours are owed and collected from its history with retries (``owe_fills``), never dropped, and
        the order is never left pending."""
        if report.cum_filled > order.cum_filled and session.connector is not None:
            try:
                fills = await session.connector.order_fills(order.symbol, order.cl_order_id)
            except VenueError as e:
                log.warning("reconcile.fills_failed", extra={"clOrderId": order.cl_order_id, "error": e.message})
                fills = []
            for fill in fills:
                self._apply(session, fill, None, send_time)
        self._apply(session, report, None, send_time)

    def owe_fills(self, session: Session, order: Order) -> None:
        self._tasks.spawn(self.collect_owed_fills(session, order), f"fills/{order.cl_order_id}")

    async def collect_owed_fills(self, session: Session, order: Order, wait_s: float = 1.0) -> None:
        """A report ended ``order`` saying it filled more than the fills we have: those fills are on their
        way (the private stream reports them after the answer that ended the order) or were missed.
        After ``wait_s`` the venue's trade history is asked for the ones still missing."""
        await self._sleep(wait_s)
        for delay in (0.0, *self._retry().reconcile_delays_s):
            await self._sleep(delay)
            if not order.fills_owed or session.connector is None:
                return
            try:
                fills = await session.connector.order_fills(order.symbol, order.cl_order_id)
            except VenueError as e:
                log.warning("fills.recovery_failed", extra={"clOrderId": order.cl_order_id, "error": e.message})
                continue
            for fill in fills:
                self._apply(session, fill, None, 0)
            if order.fills_owed:
                log.warning("fills.still_owed", extra={"clOrderId": order.cl_order_id})
            return
