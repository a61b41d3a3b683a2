"""Why a channel to execx cannot connect, when the cause is TLS: a probe with Python's ``ssl`` module.

gRPC reports a refused TLS handshake only as a channel in TRANSIENT_FAILURE, and a call made with
``wait_for_ready`` waits for its deadline. When the channel fails, the client (``ExecxClient``) probes the
target once with the same TLS settings and, when the probe names a TLS cause, fails the call at once
with UNAVAILABLE and that cause:

- execx's certificate not accepted: signed by another CA than ``tls_ca`` (or, with ``tls=True`` alone, one
  the system does not trust), or not naming the host dialled / ``tls_server_name``;
- the client certificate refused under mTLS (none given, or one another CA signed): execx's alert after the
  handshake;
- a plaintext client on execx's TLS port (the probe completes a TLS handshake there);
- a TLS client on a plaintext port.

A target that does not answer at all (execx down, restarting) is no TLS cause: ``refusal`` returns None and
the call waits for execx as before. Certificates and keys given as PEM bytes are written to a private
temporary directory for the ``ssl`` module and removed at once. The probe never sends the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# an HTTP/2 client's first bytes (RFC 9113 §3.4) and an empty SETTINGS frame: a gRPC server answers them
# with its own SETTINGS; one that refused the client's certificate sends its TLS alert instead
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class TlsOptions:
    """The TLS settings of a channel (``enabled`` False: plaintext)."""

    enabled: bool
    ca: str | Path | bytes | None = None
    cert: str | Path | bytes | None = None
    key: str | Path | bytes | None = None
    server_name: str | None = None


def host_port(target: str) -> tuple[str, int] | None:
    """``host:port`` (``[v6]:port``, an optional ``dns:///`` / ``ipv4:`` / ``ipv6:`` prefix) of a gRPC target;
    None for other forms (unix sockets, name resolvers): those are not probed."""
    for prefix in ("dns:///", "ipv4:", "ipv6:"):
        target = target.removeprefix(prefix)
    if "/" in target or target.startswith("unix:"):
        return None
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "localhost", int(port)


@contextlib.contextmanager
def _files(opts: TlsOptions) -> Iterator[tuple[str | None, str | None]]:
    """The client certificate and key as file paths (PEM bytes written to a 0700 temporary directory)."""
    if opts.cert is None or opts.key is None:
        yield None, None
        return
    if not isinstance(opts.cert, bytes) and not isinstance(opts.key, bytes):
        yield str(opts.cert), str(opts.key)
        return
    with tempfile.TemporaryDirectory(prefix="execx-tls-") as tmp:
        paths = []
        for name, source in (("cert.pem", opts.cert), ("key.pem", opts.key)):
            if isinstance(source, bytes):
                path = Path(tmp) / name
                path.touch(mode=0o600)
                path.write_bytes(source)
                paths.append(str(path))
            else:
                paths.append(str(source))
        yield paths[0], paths[1]


def _context(opts: TlsOptions) -> ssl.SSLContext:
    if isinstance(opts.ca, bytes):
        ctx = ssl.create_default_context(cadata=opts.ca.decode("ascii", "replace"))
    elif opts.ca is not None:
        ctx = ssl.create_default_context(cafile=str(opts.ca))
    else:
        ctx = ssl.create_default_context()
    ctx.set_alpn_protocols(["h2"])
    return ctx


async def refusal(target: str, opts: TlsOptions) -> str | None:
    """The TLS reason execx at ``target`` cannot be reached with ``opts`` (module docstring), else None."""
    address = host_port(target)
    if address is None:
        return None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            if opts.enabled:
                return await _tls_refusal(target, address, opts)
            return await _plaintext_refusal(target, address)
    except (TimeoutError, OSError):  # nothing answers (in time): no TLS cause to name
        return None


async def _tls_refusal(target: str, address: tuple[str, int], opts: TlsOptions) -> str | None:
    host, port = address
    name = opts.server_name or host
    with _files(opts) as (cert, key):
        ctx = _context(opts)
        if cert is not None and key is not None:
            ctx.load_cert_chain(cert, key)
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=name)
    except ssl.SSLCertVerificationError as e:
        why = e.verify_message or e.reason or str(e)
        return (
            f"TLS handshake with {target} failed: execx's certificate was not accepted ({why}); "
            f"check tls_ca (execx ctl --cacert) and that the certificate names {name!r} (tls_server_name)"
        )
    except ssl.SSLError as e:
        return f"TLS handshake with {target} failed: {e.reason or e} (is execx serving TLS on this port?)"
    except ConnectionResetError:
        return f"TLS handshake with {target} failed: execx closed the connection (is it serving TLS on this port?)"
    try:
        writer.write(_H2_PREFACE)
        await writer.drain()
        data = await reader.read(9)
    except ssl.SSLError as e:
        return f"execx at {target} refused the TLS connection after the handshake: {e.reason or e} ({_mtls_hint(opts)})"
    except ConnectionResetError:
        data = b""
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    if not data:
        return f"execx at {target} closed the TLS connection after the handshake ({_mtls_hint(opts)})"
    return None


def _mtls_hint(opts: TlsOptions) -> str:
    if opts.cert is None:
        return "it asks for a client certificate (mTLS): pass tls_cert and tls_key (execx ctl --cert/--key)"
    return "mTLS: is the client certificate signed by the CA execx trusts (--tlsClientCa)?"


async def _plaintext_refusal(target: str, address: tuple[str, int]) -> str | None:
    """A plaintext channel: does the port speak TLS? (a handshake that completes, nothing verified)"""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    try:
        _, writer = await asyncio.open_connection(*address, ssl=ctx)
    except (ssl.SSLError, ConnectionError):
        return None  # not TLS: the failure is something else
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return f"execx at {target} serves TLS: a plaintext channel is refused; pass tls_ca (execx ctl --cacert)"
