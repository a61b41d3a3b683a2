"""Pulse hosts (seed 004): JSON-RPC over HTTP at ``{host}/api/v2`` and over WebSocket at
``{host}/ws/api/v2``. The document names only its development (``dev.pulsegateway.devucc.name``, used
with ``--testnet``) and staging (``stg.pulsegateway.devucc.name``) environments, with ``http://`` for
REST as it writes; the production host is not documented, so a production session needs ``restUrl``
(and optionally ``wsUrl``, a websocket origin or URL). With ``execx --sim`` ``ws_url`` is the
simulator's ready-line entry ``{"rest", "ws"}``."""

from __future__ import annotations

from dataclasses import dataclass

from ...domain.errors import ValidationError
from ..jsonrpc.urls import ready_entry, ws_from_http

WS_PATH = "/ws/api/v2"
DEV_REST = "http://dev.pulsegateway.devucc.name"
DEV_WS = "wss://dev.pulsegateway.devucc.name" + WS_PATH


@dataclass(frozen=True)
class Hosts:
    rest: str  # origin, no path
    ws: str  # full websocket URL


def resolve_hosts(testnet: bool, rest_url: str = "", ws_url: str = "") -> Hosts:
    entry = ready_entry(ws_url)
    if entry is not None:
        rest = str(entry.get("rest") or rest_url)
        return Hosts(rest, str(entry.get("ws") or ws_from_http(rest, WS_PATH)))
    if rest_url:
        rest = rest_url.rstrip("/")
    elif testnet:
        rest = DEV_REST
    else:
        raise ValidationError("restUrl", "Pulse documents no production host; give restUrl (or use --testnet)")
    if ws_url:
        ws = ws_url.rstrip("/")
        ws = ws if "/" in ws.partition("://")[2] else ws + WS_PATH
        if "://" not in ws:
            ws = "wss://" + ws
    else:
        ws = DEV_WS if testnet and not rest_url else ws_from_http(rest, WS_PATH)
    return Hosts(rest, ws)
