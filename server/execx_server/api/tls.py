"""TLS for the gRPC and REST/websocket listeners, optional mTLS, and certificate reload.

One ``TlsFiles`` watches the certificate, key and client-CA files (cert-manager rotates them in place):
- gRPC uses ``grpc.dynamic_ssl_server_credentials``: gRPC asks ``fetch`` at every new handshake, and a
  changed file pair is handed over as a new configuration. Connections already up (live streams) keep
  the session they negotiated; only new connections see the new certificate.
- aiohttp gets one ``ssl.SSLContext``; ``reload_if_changed`` (called every second by the service) loads
  the new chain into that same context, which again only new handshakes use.
A pair that fails to load (a half-written rotation) is logged and the previous one kept.

Secure by default (``check_exposure``): a listener on a non-loopback address without TLS is refused
unless the operator says ``--insecure``.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import grpc

from ..watched import stamp

log = logging.getLogger("execx.tls")


@dataclass(frozen=True)
class TlsSettings:
    cert: Path
    key: Path
    client_ca: Path | None = None  # mTLS: clients must present a certificate this CA signed


def is_loopback(host: str) -> bool:
    """``host`` (a listen address) reaches this machine only: 127.0.0.0/8, ::1 or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve to any interface


def exposure_error(host: str, tls: TlsSettings | None, insecure: bool) -> str | None:
    """Why the service must not start on ``host`` (None: it may)."""
    if tls is not None or insecure or is_loopback(host):
        return None
    return (
        f"refusing to listen on {host} without TLS: API keys and exchange credentials would cross the network "
        "in plaintext. Give --tlsCert/--tlsKey (EXECX_TLS_CERT/EXECX_TLS_KEY), listen on 127.0.0.1, or pass "
        "--insecure (EXECX_INSECURE=1) if a TLS-terminating proxy or mesh protects the port (docs/security.md)"
    )


class TlsFiles:
    """The certificate files, the contexts built from them, and reload when they change."""

    def __init__(self, settings: TlsSettings) -> None:
        self.settings = settings
        self._stamps = self._now()
        self._pem = self._read()  # raises at start-up: a service that cannot load its certificate must not start
        self.ssl_context = self._build_ssl_context()
        self._grpc_pending = False  # a new pair gRPC has not fetched yet
        self._lock = threading.Lock()  # gRPC asks from its own thread, the service's poll from the loop
        self.reloads = 0

    def _now(self) -> tuple[tuple[int, int] | None, ...]:
        s = self.settings
        return (stamp(s.cert), stamp(s.key), stamp(s.client_ca))

    def _read(self) -> tuple[bytes, bytes, bytes | None]:
        s = self.settings
        ca = s.client_ca.read_bytes() if s.client_ca is not None else None
        return s.cert.read_bytes(), s.key.read_bytes(), ca

    def _build_ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._load_into(ctx)
        return ctx

    def _load_into(self, ctx: ssl.SSLContext) -> None:
        s = self.settings
        ctx.load_cert_chain(s.cert, s.key)
        if s.client_ca is not None:
            ctx.load_verify_locations(cafile=str(s.client_ca))
            ctx.verify_mode = ssl.CERT_REQUIRED

    def _grpc_config(self) -> grpc.ServerCertificateConfiguration:
        cert, key, ca = self._pem
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def grpc_credentials(self) -> grpc.ServerCredentials:
        # gRPC's stubs say the fetcher returns a configuration; None ("keep the current one") is documented
        fetch = cast(Callable[[], grpc.ServerCertificateConfiguration], self._fetch)
        return grpc.dynamic_ssl_server_credentials(
            self._grpc_config(), fetch, require_client_authentication=self.settings.client_ca is not None
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's per-handshake question (from its own thread): a new configuration, or None to keep it."""
        self.reload_if_changed()
        with self._lock:
            if not self._grpc_pending:
                return None
            self._grpc_pending = False
            return self._grpc_config()

    def reload_if_changed(self) -> bool:
        """Load the files again if any changed since the last load; True when a new pair is in use."""
        with self._lock:
            stamps = self._now()
            if stamps == self._stamps:
                return False
            self._stamps = stamps
            try:
                pem = self._read()
                self._build_ssl_context()  # validates the new pair first (a key that does not match raises)
                self._load_into(self.ssl_context)
            except (OSError, ssl.SSLError, ValueError) as e:
                log.warning("tls.reload_failed", extra={"error": type(e).__name__, "cert": str(self.settings.cert)})
                return False
            self._pem = pem
            self._grpc_pending = True
            self.reloads += 1
        log.info("tls.reloaded", extra={"cert": str(self.settings.cert)})
        return True
