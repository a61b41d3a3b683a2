"""One skeleton for every venue connector (issue 12): ``VenueConnector``.

The base owns what every venue does the same way, and each venue connector supplies only its hooks:

- the engine's sinks (``on_report``, ``on_stream_state``) and the ``OrderTracker`` (the one door to
  ``on_report``), the bounded ``Recovery`` around the venue's ``_recover_once``, the ``StallWatch``
  polling fallback (``_poll_once``, over ``_liveness()``), and the ``StreamSupervisor`` that owns every
  background task (``close()`` cancels and awaits them);
- the start-up template, the same for an order session and a keyless market-data client:

  ``start()``: HTTP session → ``_open_transport`` → supervisor start (``_transport_runs`` and the stall
  watch) → ``_load_rules`` → ``_private_runs`` (the venue's private streams, spawned under the
  supervisor) → ``_wait_private`` → the dead-man switch armed (``_dead_man``, if the venue set one);
  ``start_market_data()``: HTTP session → ``_open_transport(keyless=True)`` → supervisor start →
  ``_load_rules(keyless=True)``. On any failure either one closes what it opened and re-raises;

- ``close()``: the dead-man switch disarmed (a deliberate stop keeps the orders), ``_before_close``
  (a venue's goodbye: logout, leaving the DCP topic), the supervisor closed, ``_close_transport``, the
  HTTP session closed;
- ``rules()`` from the rules ``_load_rules`` loaded;
- ``watch_market``: the registry of who watches which symbol (``Watchers``), the wait for the
  supervisor, and the venue's ``_subscribe_market`` / ``_unsubscribe_market`` on a symbol's first and
  last watcher; the venue's market-data handler dispatches to ``self._watchers``;
- ``telemetry`` (set by the composition root) and the fleet ``rate_gate`` (``ConnectorConfig.rate_gate``)
  for the venue's transports to use.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import aiohttp

from ..domain.enums import Exchange, TimeInForce
from ..domain.instruments import InstrumentRules
from ..domain.venue import BookTicker, ExecutionReport, Trade
from .base import (
    Capabilities,
    ConnectorConfig,
    ReportSink,
    StreamStateSink,
    Watchers,
    ignore_report,
    ignore_state,
    rules_of,
)
from .deadman import DeadManSwitch
from .tracking import Known, Liveness, OrderTracker, Recovery, StallWatch
from .transport.http import make_session
from .transport.ratelimit import RateGate
from .transport.supervisor import PrivateStream, Run, StreamSupervisor, idle
from .transport.telemetry import NULL_TELEMETRY, Telemetry
from .transport.websocket import DEFAULT_BACKOFF, Backoff

START_TIMEOUT_S = 15.0  # a venue connection (private stream, FIX logon, JSON-RPC websocket) up within this


class VenueConnector(ABC):
    """The ``Connector`` skeleton (module docstring); a venue subclasses it and fills in the hooks."""

    capabilities: Capabilities  # set by the venue (class attribute or in ``__init__``)

    # False: the venue has no keyless market-data client (``start_market_data`` raises NotImplementedError)
    keyless_market_data: ClassVar[bool] = True
    no_keyless_reason: ClassVar[str] = "market data of this venue needs an order session (startOrderHandler)"

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        clock_ms: Callable[[], int] | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.exchange: Exchange = config.exchange
        self.name = str(config.exchange)  # the supervisor's, recovery's and stall watch's name in logs
        self._config = config
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._backoff = backoff
        self.telemetry: Telemetry = NULL_TELEMETRY  # set by the composition root (metrics adapter)
        self.rate_gate: RateGate | None = config.rate_gate  # fleet mode: the account's shared rate budget
        self._session: aiohttp.ClientSession | None = None
        self._rules: dict[str, InstrumentRules] = {}
        self._started_ms = 0
        self._on_report: ReportSink = ignore_report
        self._on_stream_state: StreamStateSink = ignore_state
        self.tracker = OrderTracker(self._report, on_final=self._order_final)
        self._recovery = Recovery(self.name, self._recover_once, backoff)
        # While the private stream is down or silent with orders live: the venue's poll (REST / HTTP).
        self.stall = StallWatch(self.name, self._liveness, self.tracker, self._recovery, self._poll_once)
        self._supervisor = StreamSupervisor(self.name, self._streams_failed)
        self._watchers = Watchers()
        self._dead_man: DeadManSwitch | None = None  # a venue with a countdown cancel-all sets one

    # ------------------------------------------------------------------ lifecycle (the template)

    async def start(self, on_report: ReportSink, on_stream_state: StreamStateSink) -> None:
        self._on_report = on_report
        self._on_stream_state = on_stream_state
        self._started_ms = self._clock_ms()
        try:
            session = await self._open(keyless=False)
            self._supervisor.start(*self._transport_runs(keyless=False), (f"{self.name}.stall", self.stall.run))
            await self._supervisor.ready.wait()
            self._rules.update(await self._load_rules(keyless=False))
            for task_name, run in await self._private_runs(session):
                self._supervisor.spawn(task_name, run)
            await self._wait_private()
            if self._dead_man is not None:
                await self._dead_man.beat()
                self._supervisor.spawn(f"{self.name}.deadman", self._dead_man.run)
        except BaseException:
            await self.close()
            raise

    async def start_market_data(self) -> None:
        """Keyless: instrument rules and public streams only (nothing signed, no private stream)."""
        if not self.keyless_market_data:
            raise NotImplementedError(self.no_keyless_reason)
        try:
            await self._open(keyless=True)
            self._supervisor.start(*self._transport_runs(keyless=True), (f"{self.name}.idle", idle))
            await self._supervisor.ready.wait()
            self._rules.update(await self._load_rules(keyless=True))
        except BaseException:
            await self.close()
            raise

    async def _open(self, *, keyless: bool) -> aiohttp.ClientSession:
        session = self._session = await make_session(self._config.interface)
        self._open_transport(session, keyless=keyless)
        return session

    async def close(self) -> None:
        if self._dead_man is not None and self._dead_man.armed:
            await self._dead_man.disarm()  # a deliberate stop keeps the orders
        await self._before_close()
        await self._supervisor.close()
        await self._close_transport()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    @property
    def supported_tifs(self) -> frozenset[TimeInForce]:
        return self.capabilities.supported_tifs

    @property
    def cancel_on_disconnect_armed(self) -> bool:
        """The dead-man switch is armed (venues with a native cancel-on-disconnect say otherwise)."""
        return self._dead_man is not None and self._dead_man.armed

    # ------------------------------------------------------------------ venue hooks: lifecycle

    @abstractmethod
    def _open_transport(self, session: aiohttp.ClientSession, *, keyless: bool) -> None:
        """Build the venue's clients on ``session`` (REST client, JSON-RPC connection); nothing sent yet."""

    def _transport_runs(self, *, keyless: bool) -> list[Run]:
        """Connections that must run before the rules load (a JSON-RPC websocket that carries them)."""
        return []

    @abstractmethod
    async def _load_rules(self, *, keyless: bool) -> dict[str, InstrumentRules]:
        """The venue's instruments as rules (and whatever else the venue keeps of them)."""

    @abstractmethod
    async def _private_runs(self, session: aiohttp.ClientSession) -> list[Run]:
        """Check the credentials where the private stream would not, build the private streams (and order
        entry connections); return their runs, started under the supervisor."""

    def _private_stream(self) -> PrivateStream | None:
        """The private stream ``_wait_private`` waits for and the stall watch watches (None: not started)."""
        return None

    async def _wait_private(self) -> None:
        """Until the private stream is live; a refusal of our credentials fails the start in the venue's words."""
        stream = self._private_stream()
        if stream is not None:
            await self._supervisor.wait_private(stream, START_TIMEOUT_S)

    async def _before_close(self) -> None:
        """A deliberate stop's goodbye to the venue, while the connections still run."""
        return  # nothing by default

    async def _close_transport(self) -> None:
        """What the venue owns beyond the supervisor (after its tasks ended)."""
        return  # nothing by default

    def _streams_failed(self) -> None:
        """The supervisor's group ended with a failure: the private stream is down."""
        self._on_stream_state(False)

    # ------------------------------------------------------------------ venue hooks: orders and recovery

    @abstractmethod
    async def _recover_once(self) -> None:
        """Open orders, trades since the last one seen, final states of orders believed live, reported
        through ``tracker`` (run by ``Recovery`` after a reconnect)."""

    async def _poll_once(self) -> None:
        """The stall watch's poll (default: the recover-once hook)."""
        await self._recover_once()

    def _liveness(self) -> Liveness | None:
        """The private stream as the stall watch sees it (default: ``_private_stream()``'s websocket)."""
        stream = self._private_stream()
        return stream.ws if stream is not None else None

    def restore_order(self, cl_order_id: str, exch_ids: tuple[str, ...]) -> None:
        """The journal's venue ids of an order (``Connector.restore_order``): nothing to learn by default
        (a venue that keeps an order's id across amends finds it by its client id)."""
        return

    def _order_final(self, cl_order_id: str, known: Known, report: ExecutionReport) -> None:
        """An order reached a final state (the tracker's ``on_final``)."""
        return  # nothing by default

    def _report(self, report: ExecutionReport) -> None:
        """Every report to the engine (the tracker's sink)."""
        self._on_report(report)

    def _stream_state(self, live: bool) -> None:
        """The private stream's state to the engine."""
        self._on_stream_state(live)

    # ------------------------------------------------------------------ reference data

    @property
    def _rules_venue(self) -> str:
        """How ``rules`` names the venue when a symbol is unknown."""
        return self.name

    def rules(self, symbol: str) -> InstrumentRules:
        return rules_of(self._rules, symbol, self._rules_venue)

    # ------------------------------------------------------------------ market data

    async def watch_market(
        self, symbol: str, on_ticker: Callable[[BookTicker], None], on_trade: Callable[[Trade], None]
    ) -> Callable[[], None]:
        self.rules(symbol)
        if not self._supervisor.running:
            await asyncio.wait_for(self._supervisor.ready.wait(), START_TIMEOUT_S)
        if symbol not in self._watchers:
            self._subscribe_market(symbol)
        remove = self._watchers.add(symbol, on_ticker, on_trade)

        def unsubscribe() -> None:
            if remove():
                self._unsubscribe_market(symbol)

        return unsubscribe

    @abstractmethod
    def _subscribe_market(self, symbol: str) -> None:
        """Subscribe the venue's best bid/ask and trades of ``symbol`` (its first watcher)."""

    @abstractmethod
    def _unsubscribe_market(self, symbol: str) -> None:
        """Unsubscribe them (its last watcher left)."""
