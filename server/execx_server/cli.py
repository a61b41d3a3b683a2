"""``execx``: the execution service.

Flags (each also read from an ``EXECX_*`` environment variable, for containers):
``--key`` (required, EXECX_KEY), ``--port`` 35027 (EXECX_PORT, REST + websocket), ``--grpcPort``
35028 (EXECX_GRPC_PORT), ``--promPort`` 9091 (EXECX_PROM_PORT), ``--host`` 127.0.0.1 (EXECX_HOST),
``--dataDir`` ./execx-data (EXECX_DATA_DIR), ``--testnet`` (EXECX_TESTNET), ``--debug``
(EXECX_DEBUG), ``--orderEntry websocket|rest`` (EXECX_ORDER_ENTRY), ``--marketDataStaleSeconds`` 5
(EXECX_MARKET_DATA_STALE_SECONDS: a market-data feed without an update for this long is stale),
``--sim`` (EXECX_SIM: embed the exchange simulator and point every venue at it), ``--busyPoll``
(EXECX_BUSY_POLL: the event loop spins instead of sleeping; lower latency for one busy CPU),
``--tlsCert``/``--tlsKey`` (EXECX_TLS_CERT/EXECX_TLS_KEY: TLS on gRPC and REST), ``--tlsClientCa``
(EXECX_TLS_CLIENT_CA: mTLS), ``--insecure`` (EXECX_INSECURE: a non-loopback ``--host`` without TLS),
``--keysFile`` (EXECX_KEYS_FILE: scoped API keys), ``--keyRatePerSecond`` 100 / ``--keyBurst`` 200
(EXECX_KEY_RATE_PER_SECOND / EXECX_KEY_BURST: the per-key request rate limit), ``--credentialsFile``
(EXECX_CREDENTIALS_FILE: exchange accounts by reference), ``--noInlineCredentials``
(EXECX_NO_INLINE_CREDENTIALS: stored accounts only).

Prints one JSON ready line on stdout once every port listens; logs are JSON lines on stderr.
SIGTERM / SIGINT: graceful shutdown (stop accepting, drain, flush the journal).
Tracing: OpenTelemetry, set by the standard ``OTEL_*`` variables only (``observability/tracing.py``).

``execx health [--grpc HOST:PORT] [--service NAME] [--timeout S] [--cacert CA [--cert C --key K]
[--serverName N]]``: asks the gRPC health service (default
``127.0.0.1:$EXECX_GRPC_PORT``, service ``""``: the whole server); exit 0 when SERVING, else 1 (a container
HEALTHCHECK).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when used: `execx health` (a HEALTHCHECK run every few seconds) loads none of it
    import grpc

    from .app import Settings


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")


def parse_args(argv: list[str] | None = None) -> Settings:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="execx", description="execx crypto execution service")
    p.add_argument("--key", default=env("EXECX_KEY", ""), help="shared secret every caller must present (EXECX_KEY)")
    p.add_argument("--port", type=int, default=int(env("EXECX_PORT", "35027")), help="REST + websocket port")
    p.add_argument("--grpcPort", type=int, default=int(env("EXECX_GRPC_PORT", "35028")), help="gRPC port")
    p.add_argument("--promPort", type=int, default=int(env("EXECX_PROM_PORT", "9091")), help="Prometheus port")
    p.add_argument("--host", default=env("EXECX_HOST", "127.0.0.1"), help="listen address (0.0.0.0 in containers)")
    p.add_argument("--dataDir", default=env("EXECX_DATA_DIR", "execx-data"), help="journal directory")
    p.add_argument("--testnet", action="store_true", default=_env_flag("EXECX_TESTNET"), help="venues' testnets")
    p.add_argument("--debug", action="store_true", default=_env_flag("EXECX_DEBUG"), help="debug logging")
    p.add_argument(
        "--orderEntry",
        choices=["websocket", "rest"],
        default=env("EXECX_ORDER_ENTRY", "websocket"),
        help="orders over the venue's websocket order entry where execx has it (Binance spot), or always REST",
    )
    p.add_argument(
        "--marketDataStaleSeconds",
        type=float,
        default=float(env("EXECX_MARKET_DATA_STALE_SECONDS", "5")),
        help="a market-data feed without an update for this long is stale (position managers pause)",
    )
    p.add_argument(
        "--sim",
        action="store_true",
        default=_env_flag("EXECX_SIM"),
        help="embed the exchange simulator; every venue's default host points at it",
    )
    p.add_argument(
        "--emulateContingent",
        action="store_true",
        default=_env_flag("EXECX_EMULATE_CONTINGENT"),
        help="emulate every stop / take-profit / trailing stop in execx, also where the venue holds them natively",
    )
    p.add_argument(
        "--busyPoll",
        action="store_true",
        default=_env_flag("EXECX_BUSY_POLL"),
        help="the event loop never sleeps: lower order latency at the cost of one CPU kept busy",
    )
    p.add_argument(
        "--journalFsync",
        action="store_true",
        default=_env_flag("EXECX_JOURNAL_FSYNC"),
        help="every journal commit waits for the disk (power-loss safe; ~0.3 ms per commit) instead of the OS",
    )
    p.add_argument(
        "--journalRetentionDays",
        type=float,
        default=float(env("EXECX_JOURNAL_RETENTION_DAYS", "30")),
        help="drop the journal records of orders finished longer ago than this (0: keep everything)",
    )
    p.add_argument("--tlsCert", default=env("EXECX_TLS_CERT", ""), help="PEM certificate chain: TLS on gRPC and REST")
    p.add_argument("--tlsKey", default=env("EXECX_TLS_KEY", ""), help="PEM private key of --tlsCert")
    p.add_argument(
        "--tlsClientCa",
        default=env("EXECX_TLS_CLIENT_CA", ""),
        help="mTLS: PEM CA bundle; clients must present a certificate it signed",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        default=_env_flag("EXECX_INSECURE"),
        help="allow a non-loopback --host without TLS (a TLS proxy or mesh in front)",
    )
    p.add_argument(
        "--keysFile",
        default=env("EXECX_KEYS_FILE", ""),
        help="scoped API keys (JSON or YAML: id, key or sha256, scopes read/trade/admin), reloaded on change",
    )
    p.add_argument(
        "--keyRatePerSecond",
        type=float,
        default=float(env("EXECX_KEY_RATE_PER_SECOND", "100")),
        help="requests per second per API key (a key in --keysFile may set its own)",
    )
    p.add_argument("--keyBurst", type=float, default=float(env("EXECX_KEY_BURST", "200")), help="burst per API key")
    p.add_argument(
        "--credentialsFile",
        default=env("EXECX_CREDENTIALS_FILE", ""),
        help="the credential store: exchange accounts named by exchangeKey.accountRef (JSON or YAML)",
    )
    p.add_argument(
        "--noInlineCredentials",
        action="store_true",
        default=_env_flag("EXECX_NO_INLINE_CREDENTIALS"),
        help="refuse apiKey/secretKey in StartOrderHandler: stored accounts (accountRef) only",
    )
    p.add_argument(
        "--redis",
        default=env("EXECX_REDIS", ""),
        help="fleet mode: redis://host:port shared by every execx on the account(s) (docs/fleet.md)",
    )
    p.add_argument(
        "--fleetExpectedSize",
        type=int,
        default=int(env("EXECX_FLEET_EXPECTED_SIZE", "3")),
        help="fleet mode, Redis unreachable: each execx keeps 1/N of every venue limit",
    )
    p.add_argument("--fleetNode", default=env("EXECX_FLEET_NODE", ""), help="this execx's name in the fleet view")
    p.add_argument(
        "--nats",
        default=env("EXECX_NATS", ""),
        help="drop copy: every journaled event published once to JetStream at nats://host:port (docs/fleet.md)",
    )
    a = p.parse_args(argv)
    from .app import Settings

    if not a.key and not a.keysFile:
        p.error("--key is required (or set EXECX_KEY, or give --keysFile)")
    if not (0 < a.keyRatePerSecond < math.inf and 1 <= a.keyBurst < math.inf):
        p.error("--keyRatePerSecond must be positive and --keyBurst at least 1")
    if a.fleetExpectedSize < 1:
        p.error("--fleetExpectedSize must be at least 1")
    if not 0 < a.marketDataStaleSeconds < math.inf:
        p.error("--marketDataStaleSeconds must be a positive number of seconds")
    if not 0 <= a.journalRetentionDays < math.inf:
        p.error("--journalRetentionDays must be 0 (keep everything) or a positive number of days")
    return Settings(
        key=a.key,
        host=a.host,
        port=a.port,
        grpc_port=a.grpcPort,
        prom_port=a.promPort,
        data_dir=Path(a.dataDir),
        testnet=a.testnet,
        debug=a.debug,
        order_entry=a.orderEntry,
        market_data_stale_s=a.marketDataStaleSeconds,
        sim=a.sim,
        emulate_contingent=a.emulateContingent,
        busy_poll=a.busyPoll,
        journal_fsync=a.journalFsync,
        journal_retention_days=a.journalRetentionDays,
        tls_cert=Path(a.tlsCert) if a.tlsCert else None,
        tls_key=Path(a.tlsKey) if a.tlsKey else None,
        tls_client_ca=Path(a.tlsClientCa) if a.tlsClientCa else None,
        insecure=a.insecure,
        keys_file=Path(a.keysFile) if a.keysFile else None,
        key_rate_per_s=a.keyRatePerSecond,
        key_burst=a.keyBurst,
        credentials_file=Path(a.credentialsFile) if a.credentialsFile else None,
        no_inline_credentials=a.noInlineCredentials,
        redis_url=a.redis,
        fleet_expected_size=a.fleetExpectedSize,
        fleet_node_id=a.fleetNode,
        nats_url=a.nats,
    )


async def serve(settings: Settings) -> None:
    from .app import Service, StartupError

    service = Service(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        ready = await service.start()
    except StartupError as e:
        print(f"execx: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    await stop.wait()
    await service.stop()


def health(argv: list[str]) -> int:
    """``execx health``: 0 when the gRPC health service answers SERVING, else 1 (the reason on stderr)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    env = os.environ.get
    p = argparse.ArgumentParser(prog="execx health", description="ask execx's gRPC health service")
    p.add_argument("--grpc", default=f"127.0.0.1:{os.environ.get('EXECX_GRPC_PORT', '35028')}", help="HOST:PORT")
    p.add_argument("--service", default="", help="a service's full name ('' = the whole server)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds")
    p.add_argument("--cacert", default=env("EXECX_HEALTH_CACERT", ""), help="TLS: the CA that signed execx's cert")
    p.add_argument("--cert", default=env("EXECX_HEALTH_CERT", ""), help="mTLS: a client certificate (PEM)")
    p.add_argument("--key", default=env("EXECX_HEALTH_KEY", ""), help="mTLS: its private key (PEM)")
    p.add_argument("--serverName", default="", help="TLS: the name execx's certificate is checked against")
    a = p.parse_args(argv)
    try:
        with _health_channel(a) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=a.service), timeout=a.timeout
            )
    except grpc.RpcError as e:
        print(f"execx health: {a.grpc}: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    except OSError as e:  # a certificate file that cannot be read
        print(f"execx health: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    print(status)
    return 0 if answer.status == health_pb2.HealthCheckResponse.SERVING else 1


def _health_channel(a: argparse.Namespace) -> grpc.Channel:
    """Plaintext, or TLS when ``--cacert`` is given (with a client certificate for mTLS)."""
    import grpc

    if not a.cacert:
        return grpc.insecure_channel(a.grpc)
    creds = grpc.ssl_channel_credentials(
        root_certificates=Path(a.cacert).read_bytes(),
        private_key=Path(a.key).read_bytes() if a.key else None,
        certificate_chain=Path(a.cert).read_bytes() if a.cert else None,
    )
    options = [("grpc.ssl_target_name_override", a.serverName)] if a.serverName else []
    return grpc.secure_channel(a.grpc, creds, options=options)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["health"]:
        raise SystemExit(health(args[1:]))
    if args[:1] == ["fleet"]:  # fleet mode's view and kill switch, straight on Redis (fleet/cli.py)
        from .fleet.cli import main as fleet

        raise SystemExit(fleet(args[1:]))
    if args[:1] == ["ctl"]:  # the operator's command line (ctl.py)
        from .ctl import main as ctl

        raise SystemExit(ctl(args[1:]))
    settings = parse_args(args)
    from .observability import logging as xlog
    from .observability import tracing

    xlog.setup("debug" if settings.debug else "info")
    try:
        tracing.configure()
    except tracing.TracingConfigError as e:
        print(f"execx: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        try:
            runner.run(serve(settings))
        finally:
            tracing.shutdown()  # the last spans out to the exporter


if __name__ == "__main__":
    main()
