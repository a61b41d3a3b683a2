"""Composition root: builds everything and owns start-up and shutdown order.

Start: (simulator if ``sim``) → journal + order engine → gRPC server (auth interceptor, servicers,
health, reflection) → REST/websocket gateway (calling the same servicers, through the same interceptors,
in-process: ``api/inprocess.py``) → metrics endpoint → ready.
Stop (SIGTERM): stop accepting (gateway, then gRPC with a grace period to drain in-flight calls)
→ engine (background tasks, connectors) → journal flushed and closed → simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import importlib.util
import json
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from aiohttp import web
from execx.v1 import (
    contingent_order_pb2,
    contingent_order_pb2_grpc,
    dip_buyer_pb2,
    dip_buyer_pb2_grpc,
    grid_trader_pb2,
    grid_trader_pb2_grpc,
    market_data_pb2,
    market_data_pb2_grpc,
    mmp_pb2,
    mmp_pb2_grpc,
    order_manager_pb2,
    position_manager_pb2,
    position_manager_pb2_grpc,
    smart_order_pb2,
    smart_order_pb2_grpc,
    trigger_manager_pb2,
    trigger_manager_pb2_grpc,
)
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .api.access import AccessInterceptor, AuditLog, KeysFileError, KeyStore, SessionOwners
from .api.accounts import AccountViewsServicer
from .api.contingent_orders import ContingentOrderServicer, Hook
from .api.dip_buyer import DipBuyerServicer
from .api.gateway import build_gateway
from .api.grid_trader import GridTraderServicer
from .api.inprocess import InProcessServer
from .api.market_data import MarketData
from .api.mmp import MmpServicer
from .api.position_manager import PositionManagerServicer
from .api.servicers import OrderManager, add_order_manager
from .api.smart_orders import SmartOrderServicer
from .api.tls import TlsFiles, TlsSettings, exposure_error
from .api.trigger_manager import TriggerManagerServicer
from .connectors.base import Connector, ConnectorConfig, Secret
from .domain.enums import Exchange
from .domain.errors import FailedPrecondition
from .engine.accounts import AccountViews
from .engine.credentials import CredentialsFileError, CredentialStore, SessionAccounts
from .engine.journal import Journal
from .engine.sessions import DETACHED, LIVE, OrderEngine
from .fleet import FLEET_HEALTH_SERVICE, Fleet, FleetSettings
from .managers.contingent import ContingentOrders
from .managers.dip import DipBuyers
from .managers.grid import GridTraders
from .managers.mmp import MarketMakerProtection
from .managers.position import PositionManagers
from .managers.smart import SmartOrders
from .managers.trigger import TriggerManagers
from .marketdata.hub import MarketDataHub
from .observability import tracing
from .observability.metrics import Metrics, VenueTelemetry

if TYPE_CHECKING:
    from .fleet.dropcopy import DropCopy

log = logging.getLogger("execx.app")

#: exchange -> ("module:factory(ConnectorConfig, **options) -> Connector", options for websocket order
#: entry). A venue whose connector module is not in this tree yet is refused at StartOrderHandler with
#: FAILED_PRECONDITION. ``--orderEntry websocket`` (the default) passes the options: Binance spot then
#: sends orders over its WebSocket API, Bybit over ``/v5/trade`` (both falling back to REST while that
#: socket is down); ``rest`` never does.
#: OKX likewise sends inserts, amends and cancels as its private websocket's order operations.
_BINANCE = "execx_server.connectors.binance.connector:BinanceConnector"
_BYBIT = "execx_server.connectors.bybit.connector:BybitConnector"
CONNECTORS: dict[Exchange, tuple[str, dict[str, Any]]] = {
    Exchange.BINANCE_SPOT: (_BINANCE, {"order_entry": "ws"}),
    Exchange.BINANCE_USDM_FUTURE: (_BINANCE, {}),
    Exchange.BINANCE_COINM_FUTURE: (_BINANCE, {}),
    Exchange.BYBIT_SPOT: (_BYBIT, {"order_entry": "ws"}),
    Exchange.BYBIT_LINEAR: (_BYBIT, {"order_entry": "ws"}),
    Exchange.BYBIT_INVERSE: (_BYBIT, {"order_entry": "ws"}),
    Exchange.BYBIT_OPTION: (_BYBIT, {"order_entry": "ws"}),
    Exchange.OKX: ("execx_server.connectors.okx.connector:OkxConnector", {"order_entry": "ws"}),
    Exchange.DERIBIT: ("execx_server.connectors.deribit.connector:DeribitConnector", {}),
    Exchange.PULSE: ("execx_server.connectors.pulse.connector:PulseConnector", {}),
}

#: Services whose RPCs all answer UNIMPLEMENTED (the generated base classes) until their issues land; the
#: health service reports them NOT_SERVING.
UNIMPLEMENTED_SERVICES: list[tuple[Any, Any, str]] = []


class StartupError(Exception):
    """A clear reason the service cannot start (missing key, port in use, ...)."""


@dataclass
class Settings:
    key: str
    host: str = "127.0.0.1"
    port: int = 35027  # REST + websocket
    grpc_port: int = 35028
    prom_port: int = 9091
    data_dir: Path = Path("execx-data")
    testnet: bool = False
    debug: bool = False
    sim: bool = False
    sim_quiet: bool = False  # static simulated book (tests); the demo keeps the synthetic flow
    order_entry: str = "websocket"  # "websocket": a venue's websocket order entry where built; "rest"
    market_data_stale_s: float = 5.0  # a market-data feed with no update for this long is stale
    busy_poll: bool = False  # the event loop never sleeps (see busy_poll)
    emulate_contingent: bool = False  # contingent orders emulated in execx everywhere, never native (issue 20)
    journal_fsync: bool = False  # every journal commit is fsynced (power-loss safety), see engine/journal.py
    journal_retention_days: float = 30.0  # records of orders finished longer ago are dropped (0: never)
    tls_cert: Path | None = None  # TLS on the gRPC and REST listeners (with tls_key); see api/tls.py
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # mTLS: clients must present a certificate this CA signed
    insecure: bool = False  # allow a non-loopback listener without TLS (behind a TLS proxy or mesh)
    watch_interval_s: float = 1.0  # how often certificate (and keys) files are checked for changes
    keys_file: Path | None = None  # scoped API keys (api/access.py); ``key`` stays one admin key
    key_rate_per_s: float = 100.0  # per-key request rate limit (a key in the keys file may set its own)
    key_burst: float = 200.0
    credentials_file: Path | None = None  # the credential store (exchangeKey.accountRef), engine/credentials.py
    no_inline_credentials: bool = False  # refuse apiKey/secretKey in StartOrderHandler: stored accounts only
    redis_url: str = ""  # fleet mode (fleet/, docs/fleet.md): kill switch, fleet view, shared rate budget
    fleet_expected_size: int = 3  # Redis unreachable: each execx keeps 1/this of every venue limit
    fleet_node_id: str = ""  # this execx's name in the fleet view (default host-pid-random)
    nats_url: str = ""  # drop copy of the journal on NATS JetStream (fleet/dropcopy.py, docs/fleet.md); off if empty

    def tls(self) -> TlsSettings | None:
        if self.tls_cert is None and self.tls_key is None:
            if self.tls_client_ca is not None:
                raise StartupError("--tlsClientCa needs --tlsCert and --tlsKey")
            return None
        if self.tls_cert is None or self.tls_key is None:
            raise StartupError("--tlsCert and --tlsKey go together (EXECX_TLS_CERT, EXECX_TLS_KEY)")
        return TlsSettings(self.tls_cert, self.tls_key, self.tls_client_ca)


async def busy_poll() -> None:
    """Keep the event loop from sleeping, as low-latency systems spin instead of blocking (Aeron's
    yielding idle strategy): every iteration polls the sockets with a zero timeout, so a venue answer
    or a gRPC request is picked up without waking an idle process, at the cost of one CPU kept busy.
    ``sched_yield`` gives the CPU to any other runnable thread (gRPC's, the journal writer) or process
    first. Measured in bench/order_roundtrip.py (``--busyPoll``)."""
    while True:
        os.sched_yield()
        await asyncio.sleep(0)


class Service:
    def __init__(self, settings: Settings, simulator: Any = None) -> None:
        """``simulator``: an already running ``execx_sim`` Simulator to use for ``--sim`` (not stopped by
        ``stop()``, so a test can restart execx while the venue keeps running)."""
        if not settings.key and settings.keys_file is None:
            raise StartupError(
                "--key is required (or EXECX_KEY, or --keysFile): the shared secret every caller must present"
            )
        self.settings = settings
        self.metrics = Metrics()
        self.sim: Any = simulator
        self._owns_sim = simulator is None
        self.engine: OrderEngine | None = None
        self.market_data: MarketDataHub | None = None
        self.position_managers: PositionManagers | None = None
        self.grid_traders: GridTraders | None = None
        self.trigger_managers: TriggerManagers | None = None
        self.dip_buyers: DipBuyers | None = None
        self.smart_orders: SmartOrders | None = None
        self.contingent_orders: ContingentOrders | None = None
        self.mmp: MarketMakerProtection | None = None
        self._grpc: grpc.aio.Server | None = None
        self._runners: list[web.AppRunner] = []
        self._busy_poll: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self.keys: KeyStore | None = None
        self.audit = AuditLog()  # its records go to the journal once there is one (_start)
        self.credentials: CredentialStore | None = None
        self.tls: TlsFiles | None = None
        self.ready: dict[str, Any] = {}
        self.fleet: Fleet | None = None  # fleet mode (--redis)
        self.dropcopy: DropCopy | None = None  # drop copy on NATS JetStream (--nats)

    def _make_connector(self, config: ConnectorConfig) -> Connector:
        spec, ws_options = CONNECTORS[config.exchange]
        module, _, attr = spec.partition(":")
        if importlib.util.find_spec(module.rpartition(".")[0]) is None:
            raise FailedPrecondition(f"exchange {config.exchange.value} is not supported yet")
        options = ws_options if self.settings.order_entry == "websocket" else {}
        config = dataclasses.replace(config, state_dir=str(self.settings.data_dir / "venues"))
        if self.fleet is not None:  # fleet mode: the account's requests drawn from the budget shared on Redis
            gate = self.fleet.budget.gate(config.exchange.value, config.api_key, config.interface)
            config = dataclasses.replace(config, rate_gate=gate)
        connector: Connector = getattr(importlib.import_module(module), attr)(config, **options)
        connector.telemetry = VenueTelemetry(self.metrics, config.exchange.value)
        return connector

    def _endpoint_defaults(self, cfg: ConnectorConfig) -> ConnectorConfig:
        """With ``--sim`` every venue's default hosts are the simulator's; explicit URLs still win."""
        venues = self.sim.ready["venues"] if self.sim is not None else {}
        endpoints = venues.get(cfg.exchange.value)
        cfg = dataclasses.replace(cfg, testnet=self.settings.testnet)
        if endpoints is None or cfg.rest_url or cfg.ws_url:
            return cfg
        return dataclasses.replace(cfg, rest_url=endpoints["rest"], ws_url=json.dumps(endpoints))

    async def _keyless_market_data(self, exchange: Exchange) -> Connector:
        """The exchange's market-data client without credentials (no session needed): its connector
        started for public data only, on the same hosts a session would use (``--sim``, ``--testnet``)."""
        connector = self._make_connector(self._endpoint_defaults(ConnectorConfig(exchange, "", Secret(""))))
        await connector.start_market_data()
        return connector

    async def start(self) -> dict[str, Any]:
        """Start everything; on any failure, undo what started and re-raise."""
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> dict[str, Any]:
        s = self.settings
        tls = s.tls()
        refusal = exposure_error(s.host, tls, s.insecure)
        if refusal is not None:
            raise StartupError(refusal)
        if tls is not None:
            try:
                self.tls = TlsFiles(tls)
            except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
                raise StartupError(f"cannot load the TLS certificate/key ({tls.cert}, {tls.key}): {e}") from None
        keys = self._load_stores()
        if s.sim and self.sim is None:
            from execx_sim.app import Simulator

            self.sim = Simulator(host=s.host if s.host != "0.0.0.0" else "127.0.0.1", quiet=s.sim_quiet)
            await self.sim.start()
        self.engine = OrderEngine(
            Journal(s.data_dir / "journal.db", fsync=s.journal_fsync, retention_s=s.journal_retention_days * 86_400),
            self._make_connector,
        )
        self.audit.journal = self.engine.journal
        self.engine.invalid_transition_observers.append(
            lambda exchange: self.metrics.invalid_transitions.labels(exchange.value).inc()
        )

        engine = self.engine
        self.market_data = MarketDataHub(
            lambda exchange: [
                x.connector
                for x in engine.sessions.values()
                if x.exchange is exchange and x.state == LIVE and x.connector is not None
            ],
            stale_after_s=s.market_data_stale_s,
            keyless=self._keyless_market_data,
        )
        self.engine.reference_price = self.market_data.mid
        self.position_managers = PositionManagers(self.engine, self.market_data, self.metrics)
        self.grid_traders = GridTraders(self.engine, self.market_data, self.metrics)
        self.trigger_managers = TriggerManagers(self.engine, self.market_data, self.metrics)
        self.dip_buyers = DipBuyers(self.engine, self.market_data, self.metrics)
        self.smart_orders = SmartOrders(self.engine, self.market_data, self.metrics)
        self.contingent_orders = ContingentOrders(
            self.engine, self.market_data, self.metrics, emulate=self.settings.emulate_contingent
        )
        self.mmp = MarketMakerProtection(self.engine, self.metrics)

        access = AccessInterceptor(
            keys, SessionOwners(s.data_dir / "session_owners.json"), engine.sessions.__contains__, self.audit
        )
        interceptors = [*tracing.grpc_interceptors(), access]
        server = grpc.aio.server(interceptors=interceptors)
        # every servicer registered through `api`: on the gRPC server, and callable in-process by the REST gateway
        # through the same interceptors
        api = InProcessServer(server, interceptors)
        order_manager = OrderManager(self.engine, self.metrics, self._endpoint_defaults)
        session_accounts = SessionAccounts(s.data_dir / "session_accounts.json")
        self.engine.risk.account_of = session_accounts.account_of  # the per-account kill switch
        order_manager.credentials = self.credentials
        order_manager.inline_credentials = not s.no_inline_credentials
        order_manager.session_accounts = session_accounts
        order_manager.contingent = Hook(self.contingent_orders)  # stops, take-profits, groups (issue 20)
        add_order_manager(order_manager, api)  # SubscribeUpdates: bytes serialized once for all subscribers
        contingent_order_pb2_grpc.add_ContingentOrderServiceServicer_to_server(
            ContingentOrderServicer(self.contingent_orders), api
        )
        mmp_pb2_grpc.add_MarketMakerProtectionServiceServicer_to_server(MmpServicer(self.mmp), api)
        market_data_pb2_grpc.add_MarketDataServiceServicer_to_server(MarketData(self.market_data, self.metrics), api)
        position_manager_pb2_grpc.add_PositionManagerServiceServicer_to_server(
            PositionManagerServicer(self.position_managers), api
        )
        trigger_manager_pb2_grpc.add_TriggerManagerServiceServicer_to_server(
            TriggerManagerServicer(self.trigger_managers), api
        )
        dip_buyer_pb2_grpc.add_DipBuyerServiceServicer_to_server(DipBuyerServicer(self.dip_buyers), api)
        grid_trader_pb2_grpc.add_GridTraderServiceServicer_to_server(GridTraderServicer(self.grid_traders), api)
        # one servicer per service: the smart orders here, the account RPCs (GetBalances, ...) delegated
        smart = SmartOrderServicer(self.smart_orders, accounts=AccountViewsServicer(AccountViews(engine)))
        smart_order_pb2_grpc.add_SmartOrderServiceServicer_to_server(smart, api)
        names = [
            order_manager_pb2.DESCRIPTOR.services_by_name["OrderManagerService"].full_name,
            grid_trader_pb2.DESCRIPTOR.services_by_name["GridTraderService"].full_name,
            market_data_pb2.DESCRIPTOR.services_by_name["MarketDataService"].full_name,
            position_manager_pb2.DESCRIPTOR.services_by_name["PositionManagerService"].full_name,
            trigger_manager_pb2.DESCRIPTOR.services_by_name["TriggerManagerService"].full_name,
            dip_buyer_pb2.DESCRIPTOR.services_by_name["DipBuyerService"].full_name,
            smart_order_pb2.DESCRIPTOR.services_by_name["SmartOrderService"].full_name,
            contingent_order_pb2.DESCRIPTOR.services_by_name["ContingentOrderService"].full_name,
            mmp_pb2.DESCRIPTOR.services_by_name["MarketMakerProtectionService"].full_name,
        ]
        not_serving = []
        for pb2, pb2_grpc, name in UNIMPLEMENTED_SERVICES:
            base = getattr(pb2_grpc, f"{name}Servicer")
            getattr(pb2_grpc, f"add_{name}Servicer_to_server")(base(), api)
            not_serving.append(pb2.DESCRIPTOR.services_by_name[name].full_name)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            [*names, *not_serving, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        try:
            if self.tls is not None:
                grpc_port = server.add_secure_port(f"{s.host}:{s.grpc_port}", self.tls.grpc_credentials())
            else:
                grpc_port = server.add_insecure_port(f"{s.host}:{s.grpc_port}")
        except RuntimeError as e:
            raise StartupError(f"cannot listen on gRPC port {s.host}:{s.grpc_port}: {e}") from None
        await self._reopen_stored_sessions(session_accounts)  # before any client can call
        await server.start()
        self._grpc = server
        for name in ["", *names]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        for name in not_serving:  # declared, not built yet: UNIMPLEMENTED on every call
            await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        if s.redis_url:
            await self._join_fleet(health_servicer)
        if s.nats_url:  # a background follower of the journal: never delays the start nor the order path
            self._start_dropcopy(session_accounts, health_servicer)

        grpc_target = f"{s.host if s.host != '0.0.0.0' else '127.0.0.1'}:{grpc_port}"
        ssl_context = self.tls.ssl_context if self.tls is not None else None
        rest_port = await self._serve(build_gateway(api), s.port, "REST", ssl_context)
        prom_port = await self._serve(self._metrics_app(), s.prom_port, "metrics")  # plaintext (docs/security.md)
        scheme = "https" if self.tls is not None else "http"
        self._watch = asyncio.create_task(self._watch_files(), name="execx-watch-files")
        self.ready = {
            "event": "ready",
            "rest": f"{scheme}://{s.host}:{rest_port}",
            "grpc": grpc_target,
            "metrics": f"http://{s.host}:{prom_port}/metrics",
        }
        if self.sim is not None:
            self.ready["sim"] = self.sim.ready
        if self.fleet is not None:
            self.fleet.info = {"rest": self.ready["rest"], "grpc": grpc_target}
            self.ready["fleet"] = {"node": self.fleet.node_id, "rateBudget": "shared" if self.fleet.shared else "local"}
        if s.busy_poll:
            self._busy_poll = asyncio.create_task(busy_poll(), name="busy-poll")
        log.info("service.ready", extra={"rest": self.ready["rest"], "grpc": grpc_target})
        return self.ready

    def _start_dropcopy(self, accounts: SessionAccounts, health_servicer: health.aio.HealthServicer) -> None:
        """The drop copy (``--nats``), its lag on ``/metrics``, in health and in the fleet view."""
        from .fleet.dropcopy import dropcopy_for

        dropcopy = self.dropcopy = dropcopy_for(self.settings.nats_url, self.settings.data_dir, accounts.account_of)
        dropcopy.lag_observers.append(self._dropcopy_lag(health_servicer))
        if self.fleet is not None:

            def lag() -> dict[str, Any]:
                seconds = round(dropcopy.lag_s, 3)
                return {
                    "dropCopy": {
                        "connected": dropcopy.connected,
                        "lagRecords": dropcopy.lag_records,
                        "lagSeconds": seconds,
                    }
                }

            self.fleet.details.append(lag)
        dropcopy.start()

    def _dropcopy_lag(self, health_servicer: health.aio.HealthServicer) -> Callable[[DropCopy], Awaitable[None]]:
        """The drop copy's lag to ``/metrics`` and to the gRPC health service ``execx.DropCopy``: SERVING while
        NATS is connected and the drop copy is less than ``DROPCOPY_HEALTHY_LAG_S`` behind the journal."""
        from .fleet.dropcopy import DROPCOPY_HEALTH_SERVICE, DROPCOPY_HEALTHY_LAG_S, STREAM

        records = self.metrics.dropcopy_lag_records.labels(STREAM)
        seconds = self.metrics.dropcopy_lag_seconds.labels(STREAM)

        async def observe(dropcopy: DropCopy) -> None:
            records.set(dropcopy.lag_records)
            seconds.set(dropcopy.lag_s)
            healthy = dropcopy.connected and dropcopy.lag_s < DROPCOPY_HEALTHY_LAG_S
            serving = health_pb2.HealthCheckResponse.SERVING if healthy else health_pb2.HealthCheckResponse.NOT_SERVING
            await health_servicer.set(DROPCOPY_HEALTH_SERVICE, serving)

        return observe

    async def _join_fleet(self, health_servicer: health.aio.HealthServicer) -> None:
        """Fleet mode: the kill switch and the fleet view on Redis, the shared rate budget; the gRPC health
        service ``execx.Fleet`` is SERVING while the budget is shared (NOT_SERVING: local fallback)."""
        if self.engine is None:
            return
        s = self.settings
        settings = FleetSettings(s.redis_url, s.fleet_node_id, expected_size=s.fleet_expected_size)
        fleet = Fleet(settings, self.engine, self.metrics)

        def mode(shared: bool) -> None:
            status = health_pb2.HealthCheckResponse.SERVING if shared else health_pb2.HealthCheckResponse.NOT_SERVING
            fleet.spawn(health_servicer.set(FLEET_HEALTH_SERVICE, status))

        fleet.mode_observers.append(mode)
        self.fleet = fleet
        await fleet.start()
        mode(fleet.shared)

    def _metrics_app(self) -> web.Application:
        async def metrics(request: web.Request) -> web.Response:
            return web.Response(
                body=generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        return app

    def _load_stores(self) -> KeyStore:
        """The API keys and the credential store; a file that does not load stops the start (exit code 2)."""
        s = self.settings
        try:
            self.keys = KeyStore(s.key, s.keys_file, s.key_rate_per_s, s.key_burst)
            self.credentials = CredentialStore(s.credentials_file)
        except (KeysFileError, CredentialsFileError) as e:
            raise StartupError(str(e)) from None
        return self.keys

    async def _reopen_stored_sessions(self, accounts: SessionAccounts) -> None:
        """After a restart: every session opened with a stored account (exchangeKey.accountRef) whose account is
        still in the store is started again at once, so its open orders are reconciled with the venue before any
        client reconnects. A session that cannot be re-opened stays detached (logged) until a client starts it."""
        engine, store = self.engine, self.credentials
        if engine is None or store is None:
            return
        journaled = engine.journal.sessions()

        async def reopen(session_id: str, ref: str) -> None:
            session, account = engine.sessions.get(session_id), store.get(ref)
            if session is None or session.state != DETACHED or account is None or session_id not in journaled:
                log.info("session.not_reopened", extra={"session": session_id, "account": ref})
                return
            cfg = journaled[session_id][2]
            config = ConnectorConfig(
                session.exchange,
                account.api_key,
                account.secret_key,
                account.passphrase,
                rest_url=str(cfg.get("restUrl", "")),
                ws_url=str(cfg.get("wsUrl", "")),
                interface=str(cfg.get("interface", "")),
                use_margin=bool(cfg.get("useMargin", False)),
                dead_man_s=engine.disconnect.dead_man_s(session_id),  # cancelOnDisconnect as journaled
            )
            try:
                await engine.start_session(session_id, self._endpoint_defaults(config))
            except Exception as e:  # the venue out of reach, the keys refused: the client can start it later
                log.warning("session.reopen_failed", extra={"session": session_id, "error": type(e).__name__})
                return
            self.metrics.sessions.labels(session.exchange.value).inc()
            log.info("session.reopened", extra={"session": session_id, "account": ref})

        await asyncio.gather(*(reopen(sid, ref) for sid, ref in accounts.items()))

    async def _watch_files(self) -> None:
        """Reloads the TLS certificate files (cert-manager rotation) and the keys file when they change."""
        while True:
            await asyncio.sleep(self.settings.watch_interval_s)
            if self.tls is not None:
                await asyncio.to_thread(self.tls.reload_if_changed)
            if self.keys is not None:
                self.keys.reload_if_changed()
            if self.credentials is not None:
                self.credentials.reload_if_changed()

    async def _serve(
        self, app: web.Application, port: int, what: str, ssl_context: ssl.SSLContext | None = None
    ) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.settings.host, port, ssl_context=ssl_context).start()
        except OSError as e:
            await runner.cleanup()
            raise StartupError(f"cannot listen on {what} port {self.settings.host}:{port}: {e.strerror}") from None
        self._runners.append(runner)
        actual: int = runner.addresses[-1][1]
        return actual

    async def _close_algorithms(self) -> None:
        """Stop the algorithms acting (they stay saved: they run again after a restart)."""
        if self.position_managers is not None:
            await self.position_managers.close()  # they stay saved, their orders at the venue: back after a restart
            self.position_managers = None
        if self.trigger_managers is not None:
            await self.trigger_managers.close()  # they stay saved: they run again after a restart
            self.trigger_managers = None
        if self.dip_buyers is not None:
            await self.dip_buyers.close()  # they stay saved: they run again after a restart
            self.dip_buyers = None
        if self.contingent_orders is not None:
            await self.contingent_orders.close()  # armed ones stay journaled: armed again after a restart
            self.contingent_orders = None
        if self.mmp is not None:
            await self.mmp.close()  # configurations and a running freeze stay journaled
            self.mmp = None
        if self.smart_orders is not None:
            await self.smart_orders.close()  # they stay saved: they run again after a restart
            self.smart_orders = None
        if self.grid_traders is not None:
            await self.grid_traders.close()  # they stay saved, their orders working: they carry on after a restart
            self.grid_traders = None

    async def stop(self) -> None:
        if self.engine is not None:
            self.engine.disconnect.close()  # a deliberate stop is no client disconnect (engine/disconnect.py)
        if self._busy_poll is not None:
            self._busy_poll.cancel()
            self._busy_poll = None
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self._grpc is not None:
            await self._grpc.stop(grace=2.0)
            self._grpc = None
        await self._close_algorithms()
        if self.fleet is not None:
            await self.fleet.stop()
            self.fleet = None
        if self.dropcopy is not None:
            await self.dropcopy.stop()
            self.dropcopy = None
        if self.market_data is not None:
            await self.market_data.close()
            self.market_data = None
        if self.engine is not None:
            await self.engine.close()
            await self.engine.journal.close()
            self.engine = None
        self.audit.journal = None
        if self.sim is not None and self._owns_sim:
            await self.sim.stop()
            self.sim = None
