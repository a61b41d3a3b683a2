"""Deribit hosts (``../shared/venues/deribit.md`` §1): FIX 4.4 on ``fix.deribit.com`` (9881 raw TCP, 9883
TLS; test: ``fix-test.deribit.com``), JSON-RPC on ``www.deribit.com`` / ``test.deribit.com``
(``/api/v2``, ``/ws/api/v2``).

Seed 000: a session's ``wsUrl`` overrides the **FIX** host (``host:port``; ``tcp://`` forces plain TCP,
``ssl://`` / ``tls://`` TLS; a bare ``host:port`` is TLS on 9883 and plain TCP otherwise). ``restUrl``
overrides the JSON-RPC host (its websocket is derived from it). Deribit announced that FIX is no longer
served on ``www.deribit.com`` (the seed's example ``www.deribit.com:9883`` is the older host); the
defaults are the current FIX hosts. With ``execx --sim`` ``ws_url`` is the simulator's ready-line entry
``{"rest", "ws", "fix": "tcp://127.0.0.1:Q"}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..jsonrpc.urls import ready_entry, ws_from_http

TLS_PORT = 9883


@dataclass(frozen=True)
class Hosts:
    fix_host: str
    fix_port: int
    fix_tls: bool
    rpc_http: str  # JSON-RPC over HTTP origin (no path)
    rpc_ws: str  # JSON-RPC websocket URL


PRODUCTION = Hosts("fix.deribit.com", TLS_PORT, True, "https://www.deribit.com", "wss://www.deribit.com/ws/api/v2")
TESTNET = Hosts("fix-test.deribit.com", TLS_PORT, True, "https://test.deribit.com", "wss://test.deribit.com/ws/api/v2")


def parse_fix_host(text: str) -> tuple[str, int, bool]:
    """``[scheme://]host[:port]`` -> (host, port, tls)."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    host, _, port_text = rest.rstrip("/").rpartition(":")
    if not host:
        host, port_text = port_text, str(TLS_PORT)
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"FIX host {text!r}: the port must be a number") from None
    if scheme in ("ssl", "tls"):
        return host, port, True
    if scheme == "tcp":
        return host, port, False
    if scheme:
        raise ValueError(f"FIX host {text!r}: scheme must be tcp://, ssl:// or tls://")
    return host, port, port == TLS_PORT


def resolve_hosts(testnet: bool, rest_url: str = "", ws_url: str = "") -> Hosts:
    base = TESTNET if testnet else PRODUCTION
    entry = ready_entry(ws_url)
    if entry is not None:
        host, port, tls = parse_fix_host(str(entry["fix"]))
        rest = str(entry.get("rest") or rest_url or base.rpc_http)
        return Hosts(host, port, tls, rest, str(entry.get("ws") or ws_from_http(rest, "/ws/api/v2")))
    host, port, tls = parse_fix_host(ws_url) if ws_url else (base.fix_host, base.fix_port, base.fix_tls)
    rest = rest_url.rstrip("/") if rest_url else base.rpc_http
    return Hosts(host, port, tls, rest, ws_from_http(rest, "/ws/api/v2") if rest_url else base.rpc_ws)
