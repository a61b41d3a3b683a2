"""Binance hosts per market, testnet hosts, and how ``rest_url`` / ``ws_url`` overrides map onto them.

Binance has three hosts per market (``../shared/venues/binance.md`` §1):

- spot: REST ``https://api.binance.com``, WebSocket API ``wss://ws-api.binance.com:443/ws-api/v3``,
  streams ``wss://stream.binance.com:9443``;
- USDⓈ-M: REST ``https://fapi.binance.com``, WebSocket API ``wss://ws-fapi.binance.com/ws-fapi/v1``,
  streams ``wss://fstream.binance.com`` (routed ``/public``, ``/market``, ``/private`` entry points);
- COIN-M: REST ``https://dapi.binance.com``, WebSocket API ``wss://ws-dapi.binance.com/ws-dapi/v1``,
  streams ``wss://dstream.binance.com``.

``--testnet``: spot ``testnet.binance.vision`` (REST, ws-api, stream), futures
``demo-fapi.binance.com`` / ``testnet.binancefuture.com`` with ``fstream``/``dstream.binancefuture.com``.

Which host carries what: REST carries order entry, queries and (futures) listenKey management;
spot private events come over the **WebSocket API** (``userDataStream.subscribe.signature``);
market data and futures private events come over the **stream** host. Futures connectors do not
use their WebSocket API.

Overrides (``ConnectorConfig``, i.e. the session's ``restUrl`` / ``wsUrl``):

- ``rest_url``: the REST host (scheme + host[:port], no path). Empty: default.
- ``ws_url``, one of:

  * empty: default websocket hosts;
  * one URL: the **stream host** (``ws://127.0.0.1:9003``). If its path ends in the market's
    WebSocket-API path (``/ws-api/v3``, ``/ws-fapi/v1``, ``/ws-dapi/v1``) it is the WebSocket API
    instead. The other websocket host is derived from the same origin (a proxy or simulator that
    serves both on one port): stream = origin, WebSocket API = origin + the standard path;
  * ``name=URL`` pairs separated by ``;`` with names ``stream`` and ``wsApi`` (and optionally
    ``rest``): ``stream=ws://127.0.0.1:9003;wsApi=ws://127.0.0.1:9002/ws-api/v3``;
  * a JSON object with those keys — exactly the per-venue object of the simulator's ready line,
    ``{"rest": ..., "wsApi": ..., "stream": ...}`` — so ``wsUrl`` can be pasted from it verbatim
    (its ``rest`` is used when ``rest_url`` is empty).

  A missing one of ``stream`` / ``wsApi`` is derived from the given one's origin as above; it
  never silently falls back to the production host once any websocket override is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from ...domain.enums import Exchange


class Flavor(StrEnum):
    SPOT = "spot"
    USDM = "usdm"
    COINM = "coinm"


FLAVOR_OF: dict[Exchange, Flavor] = {
    Exchange.BINANCE_SPOT: Flavor.SPOT,
    Exchange.BINANCE_USDM_FUTURE: Flavor.USDM,
    Exchange.BINANCE_COINM_FUTURE: Flavor.COINM,
}

WS_API_PATH = {Flavor.SPOT: "/ws-api/v3", Flavor.USDM: "/ws-fapi/v1", Flavor.COINM: "/ws-dapi/v1"}


@dataclass(frozen=True)
class Hosts:
    rest: str  # no trailing slash
    ws_api: str  # full URL including the path
    stream: str  # origin only; paths (/ws, /stream, /public, /market, /private) are added by stream.py
    routed_streams: bool  # USDⓈ-M production: /public, /market, /private entry points


PRODUCTION = {
    Flavor.SPOT: Hosts(
        "https://api.binance.com", "wss://ws-api.binance.com:443/ws-api/v3", "wss://stream.binance.com:9443", False
    ),
    Flavor.USDM: Hosts(
        "https://fapi.binance.com", "wss://ws-fapi.binance.com/ws-fapi/v1", "wss://fstream.binance.com", True
    ),
    Flavor.COINM: Hosts(
        "https://dapi.binance.com", "wss://ws-dapi.binance.com/ws-dapi/v1", "wss://dstream.binance.com", False
    ),
}

TESTNET = {
    Flavor.SPOT: Hosts(
        "https://testnet.binance.vision",
        "wss://ws-api.testnet.binance.vision/ws-api/v3",
        "wss://stream.testnet.binance.vision",
        False,
    ),
    Flavor.USDM: Hosts(
        "https://demo-fapi.binance.com",
        "wss://testnet.binancefuture.com/ws-fapi/v1",
        "wss://fstream.binancefuture.com",
        True,
    ),
    Flavor.COINM: Hosts(
        "https://testnet.binancefuture.com",
        "wss://testnet.binancefuture.com/ws-dapi/v1",
        "wss://dstream.binancefuture.com",
        False,
    ),
}


def resolve_hosts(flavor: Flavor, testnet: bool, rest_url: str = "", ws_url: str = "") -> Hosts:
    """The hosts a connector uses, after applying the overrides (see the module docstring)."""
    base = (TESTNET if testnet else PRODUCTION)[flavor]
    named = _parse_ws_override(flavor, ws_url.strip())
    rest = (rest_url.strip() or named.get("rest", "") or base.rest).rstrip("/")
    stream, ws_api = named.get("stream", ""), named.get("wsApi", "")
    if not stream and not ws_api:
        return Hosts(rest, base.ws_api, base.stream, base.routed_streams)
    if not ws_api:
        ws_api = _origin(stream) + WS_API_PATH[flavor]
    if not stream:
        stream = _origin(ws_api)
    # The USDⓈ-M routed entry points (/public, /market, /private) are kept for an overridden host:
    # that is what the production host requires, and what a faithful proxy or simulator serves.
    return Hosts(rest, ws_api.rstrip("/"), stream.rstrip("/"), base.routed_streams)


def _parse_ws_override(flavor: Flavor, text: str) -> dict[str, str]:
    if not text:
        return {}
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("wsUrl: not valid JSON") from None
        if not isinstance(obj, dict):
            raise ValueError("wsUrl: a JSON override must be an object")
        return {k: str(v) for k, v in obj.items() if k in ("rest", "wsApi", "stream") and v}
    if "=" in text.split("://", 1)[0] or ";" in text:
        out: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in text.split(";"))):
            name, sep, url = part.partition("=")
            if not sep or name not in ("rest", "wsApi", "stream"):
                raise ValueError(f"wsUrl: expected name=URL with name rest, wsApi or stream, got {part!r}")
            out[name] = url.strip()
        return out
    path = urlsplit(text).path.rstrip("/")
    if path.endswith(WS_API_PATH[flavor]):
        return {"wsApi": text}
    return {"stream": text}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
