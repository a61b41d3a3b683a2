"""The market-data hub: one venue subscription per (exchange, symbol), shared by every consumer.

Consumers (position managers, client ``SubscribeMarketData`` streams, later triggers and grids) call
``MarketDataHub.subscribe(exchange, symbol, listener)``; the first one opens the venue subscription
through a live session's connector (``Connector.watch_market``: every venue gets it for free once its
connector implements that method), the last one to close it closes the venue subscription. Without a
live session, through the venue's keyless market-data client (``keyless``: started on first need, no
credentials, kept until the hub closes) where the venue has one (``Connector.start_market_data``).

Staleness (documented in ``docs/position_manager.md``): a feed is *stale* until its first best
bid/ask arrives, when no update (quote or trade) came for ``stale_after_s``, after a reconnect of one
of its connector's websockets (until the next quote arrives on the new connection: the last quote may
be outdated), and while no live session of the exchange is left to read it through. Every change
of staleness is published to the listeners as a ``StatusEvent``; a consumer must not trust prices
while the feed is stale. When the session whose connector carries a feed stops, the watchdog moves
the feed to another live session of that exchange.

Listeners are called synchronously from the connector's stream reader and must not block.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from ..connectors.base import Connector
from ..domain.enums import Exchange
from ..domain.errors import FailedPrecondition
from ..domain.venue import BookTicker, Trade, VenueError
from ..engine.tasks import Supervisor

log = logging.getLogger("execx.marketdata")

WAITING = "waiting for the first best bid/ask"
RECONNECTED = "venue stream reconnected; waiting for a new best bid/ask"
NO_SOURCE = "no live order session on this exchange to read market data through"


@dataclass(frozen=True, slots=True)
class QuoteEvent:
    """The best bid/ask changed."""

    quote: BookTicker
    local_ns: int


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """A public trade printed."""

    trade: Trade
    local_ns: int


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """The feed became stale (``reason`` says why) or fresh again (``stale`` False, no reason)."""

    stale: bool
    reason: str
    local_ns: int


MarketEvent = QuoteEvent | TradeEvent | StatusEvent
Listener = Callable[[MarketEvent], None]
Sources = Callable[[Exchange], list[Connector]]
Keyless = Callable[[Exchange], Awaitable[Connector]]  # a started keyless market-data client of the exchange


async def wait_event(event: asyncio.Event, timeout_s: float) -> None:
    """Wait until ``event`` is set or ``timeout_s`` passed. Unlike ``asyncio.wait_for`` on Python 3.11,
    a cancellation arriving just as the event is set is never swallowed: the owner's cancel always
    ends the waiting task."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        pass


@runtime_checkable
class ReconnectSource(Protocol):
    """A connector telemetry that can tell the hub about websocket reconnects (``VenueTelemetry``)."""

    def add_reconnect_listener(self, listener: Callable[[str], None]) -> None: ...


class Feed:
    """The shared state of one (exchange, symbol): latest quote, staleness, listeners."""

    def __init__(self, hub: MarketDataHub, exchange: Exchange, symbol: str) -> None:
        self.hub = hub
        self.exchange = exchange
        self.symbol = symbol
        self.quote: BookTicker | None = None
        self.stale = True
        self.reason = WAITING
        self.last_update = hub.clock()
        self.listeners: dict[int, Listener] = {}  # called in this order: the ``first`` ones, then the others
        self.first: set[int] = set()
        self.connector: Connector | None = None
        self.unwatch: Callable[[], None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()

    # ------------------------------------------------------------------ venue callbacks

    def on_ticker(self, t: BookTicker) -> None:
        self.last_update = self.hub.clock()
        if self.quote is not None and (t.bid, t.bid_qty, t.ask, t.ask_qty) == (
            self.quote.bid,
            self.quote.bid_qty,
            self.quote.ask,
            self.quote.ask_qty,
        ):
            if self.stale:
                self.set_stale(False, "")
            return
        self.quote = t
        if self.stale:
            self.set_stale(False, "")
        self.emit(QuoteEvent(t, self.hub.now_ns()))

    def on_trade(self, t: Trade) -> None:
        self.last_update = self.hub.clock()
        self.emit(TradeEvent(t, self.hub.now_ns()))

    # ------------------------------------------------------------------ state

    def set_stale(self, stale: bool, reason: str) -> None:
        if stale == self.stale and reason == self.reason:
            return
        self.stale, self.reason = stale, reason
        log.info(
            "marketdata.stale" if stale else "marketdata.fresh",
            extra={"exchange": self.exchange.value, "symbol": self.symbol, "reason": reason},
        )
        self.emit(StatusEvent(stale, reason, self.hub.now_ns()))
        self.wake.set()

    def status(self) -> StatusEvent:
        return StatusEvent(self.stale, self.reason, self.hub.now_ns())

    def emit(self, event: MarketEvent) -> None:
        for listener in list(self.listeners.values()):
            listener(event)


class MarketSubscription:
    """One consumer's handle on a shared feed: ``feed.quote`` / ``feed.stale`` for the latest state,
    events through its listener; ``close()`` leaves (the last one out closes the venue subscription)."""

    def __init__(self, hub: MarketDataHub, feed: Feed, key: int) -> None:
        self._hub = hub
        self.feed = feed
        self._key = key
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._hub._leave(self.feed, self._key)


class MarketDataHub:
    def __init__(
        self,
        sources: Sources,
        stale_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        now_ns: Callable[[], int] = time.time_ns,
        keyless: Keyless | None = None,
    ) -> None:
        """``sources(exchange)``: the connectors of the exchange's live sessions (the hub reads through one
        of them); ``keyless(exchange)``: the exchange's keyless market-data client, for when no session is
        live (raises ``NotImplementedError`` for a venue without one)."""
        if stale_after_s <= 0:
            raise ValueError("stale_after_s must be positive")
        self.sources = sources
        self.stale_after_s = stale_after_s
        self.clock = clock
        self.now_ns = now_ns
        self.feeds: dict[tuple[Exchange, str], Feed] = {}
        self.tasks = Supervisor("marketdata")
        self._lock = asyncio.Lock()
        self._keys = itertools.count(1)
        self._hooked: weakref.WeakSet[Connector] = weakref.WeakSet()  # connectors whose reconnects we hear
        self._keyless_factory = keyless
        self._keyless: dict[Exchange, Connector] = {}
        self._keyless_lock = asyncio.Lock()

    def mid(self, exchange: Exchange, symbol: str) -> Decimal | None:
        """The current mid of a watched, fresh feed; None if nobody watches the symbol or the feed is stale
        (the engine's reference price for the venue's percent price band)."""
        feed = self.feeds.get((exchange, symbol))
        if feed is None or feed.stale or feed.quote is None:
            return None
        q = feed.quote
        if q.bid <= 0 or q.ask <= 0 or q.bid_qty <= 0 or q.ask_qty <= 0:
            return None  # one side of the book is empty: there is no mid to check a band against
        return (q.bid + q.ask) / 2

    async def subscribe(
        self, exchange: Exchange, symbol: str, listener: Listener, first: bool = False
    ) -> MarketSubscription:
        """Join (or open) the feed of ``symbol``. Raises ``ValidationError`` naming ``symbol`` if the venue
        does not list it, ``FailedPrecondition`` if no live session of ``exchange`` exists. ``first``: the
        listener is called before every listener that is not (a trigger that sends orders on a print goes
        before the streams that only forward it: the tasks those wake would otherwise run before its send;
        measured ~0.3 ms, bench/contingent_orders.py)."""
        async with self._lock:
            feed = self.feeds.get((exchange, symbol))
            if feed is None:
                connector = await self._pick(exchange)
                if connector is None:
                    raise FailedPrecondition(f"{NO_SOURCE} ({exchange.value}): start one with startOrderHandler")
                connector.rules(symbol)  # ValidationError("symbol", ...) for an unknown symbol
                feed = Feed(self, exchange, symbol)
                try:
                    await self._watch(feed, connector)
                except NotImplementedError:
                    raise FailedPrecondition(f"market data of {exchange.value} is not available yet") from None
                self.feeds[(exchange, symbol)] = feed
                feed.task = self.tasks.spawn(self._watchdog(feed), f"{exchange.value}/{symbol}")
            key = next(self._keys)
            feed.listeners[key] = listener
            if first:
                feed.first.add(key)
                order = sorted(feed.listeners, key=lambda k: k not in feed.first)  # stable: joining order kept
                feed.listeners = {k: feed.listeners[k] for k in order}
            return MarketSubscription(self, feed, key)

    async def _pick(self, exchange: Exchange) -> Connector | None:
        """A live session's connector, else the keyless client (None: the venue has none)."""
        live = self.sources(exchange)
        if live:
            return live[0]
        if self._keyless_factory is None:
            return None
        async with self._keyless_lock:
            client = self._keyless.get(exchange)
            if client is None:
                try:
                    client = await self._keyless_factory(exchange)
                except NotImplementedError:
                    return None
                self._keyless[exchange] = client
                log.info("marketdata.keyless", extra={"exchange": exchange.value})
            return client

    def _usable(self, connector: Connector | None, exchange: Exchange) -> bool:
        if connector is None:
            return False
        return connector in self.sources(exchange) or self._keyless.get(exchange) is connector

    async def _watch(self, feed: Feed, connector: Connector) -> None:
        feed.unwatch = await connector.watch_market(feed.symbol, feed.on_ticker, feed.on_trade)
        feed.connector = connector
        telemetry = connector.telemetry
        if connector not in self._hooked and isinstance(telemetry, ReconnectSource):
            self._hooked.add(connector)
            telemetry.add_reconnect_listener(functools.partial(self._reconnected, connector))

    def _reconnected(self, connector: Connector, stream: str) -> None:
        for feed in self.feeds.values():
            if feed.connector is connector:
                feed.set_stale(True, RECONNECTED)

    def _leave(self, feed: Feed, key: int) -> None:
        feed.listeners.pop(key, None)
        feed.first.discard(key)
        if feed.listeners or self.feeds.get((feed.exchange, feed.symbol)) is not feed:
            return
        del self.feeds[(feed.exchange, feed.symbol)]
        self._unwatch(feed)
        if feed.task is not None:
            feed.task.cancel()

    @staticmethod
    def _unwatch(feed: Feed) -> None:
        if feed.unwatch is not None:
            feed.unwatch()
            feed.unwatch = None
        feed.connector = None

    async def _watchdog(self, feed: Feed) -> None:
        """Flags a feed stale after ``stale_after_s`` without an update, and moves it to another live
        session's connector when its own session stops."""
        while True:
            if not self._usable(feed.connector, feed.exchange):
                await self._resource(feed)
            now = self.clock()
            if not feed.stale and now - feed.last_update >= self.stale_after_s:
                feed.set_stale(True, f"no update for {self.stale_after_s:g}s")
            wait = self.stale_after_s if feed.stale else max(0.0, feed.last_update + self.stale_after_s - now)
            feed.wake.clear()
            await wait_event(feed.wake, max(wait, 0.01))  # the staleness deadline, or a re-check of the sources

    async def _resource(self, feed: Feed) -> None:
        self._unwatch(feed)
        try:
            connector = await self._pick(feed.exchange)
            if connector is None:
                feed.set_stale(True, NO_SOURCE)
                return
            await self._watch(feed, connector)
        except VenueError as e:
            feed.set_stale(True, f"cannot subscribe: {e.message}")
            return
        except NotImplementedError:
            feed.set_stale(True, f"market data of {feed.exchange.value} is not available yet")
            return
        feed.set_stale(True, WAITING)
        log.info("marketdata.resourced", extra={"exchange": feed.exchange.value, "symbol": feed.symbol})

    async def close(self) -> None:
        await self.tasks.close()
        for feed in list(self.feeds.values()):
            self._unwatch(feed)
        self.feeds.clear()
        clients, self._keyless = list(self._keyless.values()), {}
        for client in clients:
            await client.close()
