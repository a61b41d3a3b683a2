"""Certificates made in the test: a CA, a server certificate for 127.0.0.1/localhost and client
certificates, with the ``cryptography`` package (PEM files written to a directory)."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from execx_server.app import Service, Settings


@dataclass
class Pem:
    cert: bytes
    key: bytes


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Ca:
    """A self-signed certificate authority that signs server and client certificates."""

    def __init__(self, cn: str = "execx test CA") -> None:
        self._key = _key()
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(_name(cn))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str, server: bool) -> Pem:
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(self._key, hashes.SHA256())
        return Pem(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))

    def write(self, path: Path) -> Path:
        path.write_bytes(self.pem)
        return path


def write_pair(pem: Pem, directory: Path, stem: str) -> tuple[Path, Path]:
    """``stem.crt`` and ``stem.key`` in ``directory`` (replaced atomically if they exist: as cert-manager does)."""
    cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
    for path, data in ((cert, pem.cert), (key, pem.key)):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return cert, key


def client_ssl(ca: Ca, client: Pem | None = None, tmp: Path | None = None) -> ssl.SSLContext:
    """An aiohttp client context trusting ``ca`` (and presenting ``client`` if given)."""
    ctx = ssl.create_default_context(cadata=ca.pem.decode())
    if client is not None:
        assert tmp is not None
        cert, key = write_pair(client, tmp, "client-for-aiohttp")
        ctx.load_cert_chain(cert, key)
    return ctx


@asynccontextmanager
async def tls_service(tmp: Path, ca: Ca, key: str, client_ca: Ca | None = None) -> AsyncIterator[Service]:
    """execx with TLS (mTLS with ``client_ca``) on the embedded simulator, certificates watched every 0.1 s."""
    cert, cert_key = write_pair(ca.issue("execx", server=True), tmp, "server")
    service = Service(
        Settings(
            key=key,
            port=0,
            grpc_port=0,
            prom_port=0,
            data_dir=tmp / "data",
            sim=True,
            sim_quiet=True,
            tls_cert=cert,
            tls_key=cert_key,
            tls_client_ca=client_ca.write(tmp / "client-ca.pem") if client_ca is not None else None,
            watch_interval_s=0.1,
        )
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
