"""Bybit hosts per category, testnet hosts, and how ``rest_url`` / ``ws_url`` overrides map onto them.

Bybit v5 has one REST host for every category and three websocket hosts (``../shared/venues/bybit.md``
§1): private streams ``/v5/private``, order entry ``/v5/trade`` and public market data
``/v5/public/<category>``. Production: ``https://api.bybit.com``, ``wss://stream.bybit.com``;
``--testnet``: ``https://api-testnet.bybit.com``, ``wss://stream-testnet.bybit.com``.

Overrides (``ConnectorConfig``, i.e. the session's ``restUrl`` / ``wsUrl``):

- ``rest_url``: the REST host (scheme + host[:port], no path). Empty: default.
- ``ws_url``, one of:

  * empty: default websocket hosts;
  * one URL: the websocket origin serving every path (``ws://127.0.0.1:9003``); the standard paths
    are appended. A URL whose path is one of the standard paths names that host only, and the others
    are derived from its origin;
  * ``name=URL`` pairs separated by ``;`` with names ``private``, ``trade``, ``public`` (and
    optionally ``rest``);
  * a JSON object with those keys — exactly the per-venue object of the simulator's ready line,
    ``{"rest": ..., "private": ..., "trade": ..., "public": ...}`` — so ``wsUrl`` can be pasted from it
    verbatim (its ``rest`` is used when ``rest_url`` is empty). ``public`` may end in
    ``/v5/public/<category>`` (that category's URL) or be an origin.

  A missing websocket host is derived from the origin of a given one; it never silently falls back to
  the production host once any websocket override is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from ...domain.enums import Exchange

CATEGORY_OF: dict[Exchange, str] = {
    Exchange.BYBIT_SPOT: "spot",
    Exchange.BYBIT_LINEAR: "linear",
    Exchange.BYBIT_INVERSE: "inverse",
    Exchange.BYBIT_OPTION: "option",
}
CATEGORIES = ("spot", "linear", "inverse", "option")
NAMES = ("rest", "private", "trade", "public")


@dataclass(frozen=True)
class Hosts:
    rest: str  # no trailing slash
    private: str  # full URL
    trade: str  # full URL
    public_base: str  # up to "/v5/public": the category is appended by ``public``

    def public(self, category: str) -> str:
        return f"{self.public_base}/{category}"


def _standard(rest: str, ws_origin: str) -> Hosts:
    return Hosts(rest, f"{ws_origin}/v5/private", f"{ws_origin}/v5/trade", f"{ws_origin}/v5/public")


PRODUCTION = _standard("https://api.bybit.com", "wss://stream.bybit.com")
TESTNET = _standard("https://api-testnet.bybit.com", "wss://stream-testnet.bybit.com")


def resolve_hosts(testnet: bool, rest_url: str = "", ws_url: str = "") -> Hosts:
    """The hosts a connector uses, after applying the overrides (see the module docstring)."""
    base = TESTNET if testnet else PRODUCTION
    named = _parse_ws_override(ws_url.strip())
    rest = (rest_url.strip() or named.get("rest", "") or base.rest).rstrip("/")
    given = {k: v.rstrip("/") for k, v in named.items() if k != "rest"}
    if not given:
        return Hosts(rest, base.private, base.trade, base.public_base)
    origin = _origin(next(iter(given.values())))
    public = given.get("public", f"{origin}/v5/public")
    path = urlsplit(public).path
    if path.rsplit("/", 1)[-1] in CATEGORIES:
        public = public.rsplit("/", 1)[0]
    elif not path.endswith("/v5/public"):
        public = f"{_origin(public)}/v5/public"
    return Hosts(rest, given.get("private", f"{origin}/v5/private"), given.get("trade", f"{origin}/v5/trade"), public)


def _parse_ws_override(text: str) -> dict[str, str]:
    if not text:
        return {}
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("wsUrl: not valid JSON") from None
        if not isinstance(obj, dict):
            raise ValueError("wsUrl: a JSON override must be an object")
        return {k: str(v) for k, v in obj.items() if k in NAMES and v}
    if "=" in text.split("://", 1)[0] or ";" in text:
        out: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in text.split(";"))):
            name, sep, url = part.partition("=")
            if not sep or name not in NAMES:
                raise ValueError(f"wsUrl: expected name=URL with name rest, private, trade or public, got {part!r}")
            out[name] = url.strip()
        return out
    path = urlsplit(text).path.rstrip("/")
    if path.endswith("/v5/private"):
        return {"private": text}
    if path.endswith("/v5/trade"):
        return {"trade": text}
    if "/v5/public" in path:
        return {"public": text}
    origin = _origin(text)
    return {"private": f"{origin}/v5/private", "trade": f"{origin}/v5/trade", "public": f"{origin}/v5/public"}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
