"""The session's ``restUrl`` / ``wsUrl`` overrides, checked when StartOrderHandler's request is read: a
malformed one is INVALID_ARGUMENT (HTTP 400) naming the field, and nothing is connected.

Accepted forms (``docs/connectors.md``, each venue's doc and ``connectors/<venue>/urls.py``):

- ``restUrl`` (every venue): an origin, ``http://`` or ``https://`` + host[:port], no path (a lone
  trailing ``/`` is tolerated), no query, fragment or user info.
- ``wsUrl``:

  * Binance: one ``ws://`` / ``wss://`` URL, the stream host (an origin) or the market's WebSocket-API
    URL (path ``/ws-api/v3``, ``/ws-fapi/v1`` or ``/ws-dapi/v1``); ``name=URL`` pairs separated by ``;``
    with names ``stream`` (origin), ``wsApi`` (URL) and ``rest`` (origin); or a JSON object with those
    keys (the simulator's ready-line entry).
  * Bybit: one websocket URL, an origin or a ``/v5/private``, ``/v5/trade``, ``/v5/public[/<category>]``
    URL; ``name=URL`` pairs or a JSON object with names ``private``, ``trade``, ``public`` (URLs) and
    ``rest`` (origin).
  * OKX: one websocket URL, an origin or a ``/ws/v5/<private|public|business>`` URL; or a JSON object
    with names ``private``, ``public``, ``business`` (URLs) and ``rest`` (origin).
  * Deribit: the FIX host, ``host[:port]`` or ``tcp://`` / ``ssl://`` / ``tls://`` + host[:port], no
    path; or a JSON object ``{"fix", "ws", "rest"}`` (``fix`` required).
  * Pulse: one websocket URL (a scheme-less ``host[:port][/path]`` is ``wss://``, as the connector
    reads it); or a JSON object ``{"ws", "rest"}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import SplitResult, urlsplit

from ..domain.enums import Exchange
from ..domain.errors import ValidationError

HTTP = ("http", "https")
WS = ("ws", "wss")
FIX = ("tcp", "ssl", "tls")
BINANCE_WS_API = {
    Exchange.BINANCE_SPOT: "/ws-api/v3",
    Exchange.BINANCE_USDM_FUTURE: "/ws-fapi/v1",
    Exchange.BINANCE_COINM_FUTURE: "/ws-dapi/v1",
}
BYBIT = (Exchange.BYBIT_SPOT, Exchange.BYBIT_LINEAR, Exchange.BYBIT_INVERSE, Exchange.BYBIT_OPTION)
BYBIT_PATH = re.compile(r"/v5/(private|trade|public(/(spot|linear|inverse|option))?)$")
OKX_PATH = re.compile(r"/ws/v5/(private|public|business)$")
_SPACE = re.compile(r"\s")
Check = Callable[[str, str], None]  # (url, field name) -> None or ValidationError


def check_endpoints(exchange: Exchange, rest_url: str, ws_url: str) -> None:
    """Raises ``ValidationError`` naming ``restUrl`` or ``wsUrl`` if either is given and malformed."""
    if rest_url:
        _origin(rest_url, "restUrl", HTTP)
    if ws_url:
        _check_ws(exchange, ws_url.strip(), "wsUrl")


def _check_ws(exchange: Exchange, text: str, field: str) -> None:
    if not text:
        raise ValidationError(field, "is blank")
    if exchange in BINANCE_WS_API:
        api = BINANCE_WS_API[exchange]
        names = {"rest": _rest, "stream": _ws_origin, "wsApi": _ws_any}
        if not _named(text, field, names, pairs=True):
            _ws_url(
                text, field, lambda path: not path or path.endswith(api), f"the stream host (no path) or a {api} URL"
            )
    elif exchange in BYBIT:
        names = {"rest": _rest, "private": _ws_any, "trade": _ws_any, "public": _ws_any}
        if not _named(text, field, names, pairs=True):
            _ws_url(
                text,
                field,
                lambda path: not path or BYBIT_PATH.search(path) is not None,
                "an origin or a /v5/private, /v5/trade or /v5/public[/<category>] URL",
            )
    elif exchange is Exchange.OKX:
        names = {"rest": _rest, "private": _ws_any, "public": _ws_any, "business": _ws_any}
        if not _named(text, field, names, pairs=False):
            _ws_url(
                text,
                field,
                lambda path: not path or OKX_PATH.search(path) is not None,
                "an origin or a /ws/v5/<private|public|business> URL",
            )
    elif exchange is Exchange.DERIBIT:
        if not _named(text, field, {"rest": _rest, "ws": _ws_any, "fix": _fix}, pairs=False, required=("fix",)):
            _fix(text, field)
    elif exchange is Exchange.PULSE:
        if not _named(text, field, {"rest": _rest, "ws": _ws_any}, pairs=False):
            _ws_any(text if "://" in text else "wss://" + text, field)


def _named(
    text: str,
    field: str,
    checks: Mapping[str, Check],
    pairs: bool,
    required: tuple[str, ...] = (),
) -> bool:
    """A JSON object (or, where ``pairs``, ``name=URL;name=URL``) of named URLs: each checked; False if
    ``text`` is neither form (then it is one URL)."""
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            raise ValidationError(field, "looks like a JSON object but does not parse") from None
        if not isinstance(obj, dict):
            raise ValidationError(field, "a JSON wsUrl must be an object")
        items = list(obj.items())
    elif pairs and ("=" in text.split("://", 1)[0] or ";" in text):
        items = []
        for part in filter(None, (p.strip() for p in text.split(";"))):
            name, sep, url = part.partition("=")
            if not sep:
                raise ValidationError(field, f"expected name=URL pairs separated by ';', got {part!r}")
            items.append((name.strip(), url.strip()))
    else:
        return False
    known = ", ".join(checks)
    seen: set[str] = set()
    for name, value in items:
        check = checks.get(name)
        if check is None:
            raise ValidationError(field, f"unknown name {name!r} (expected {known})")
        if name in seen:
            raise ValidationError(field, f"names {name!r} twice")
        seen.add(name)
        if not isinstance(value, str) or not value:
            raise ValidationError(field, f"{name} must be a non-empty URL string")
        check(value, f"{field}.{name}")
    if not seen:
        raise ValidationError(field, f"names no URL (expected {known})")
    for name in required:
        if name not in seen:
            raise ValidationError(field, f"must name {name!r}")
    return True


def _parse(url: str, field: str, schemes: tuple[str, ...]) -> SplitResult:
    if _SPACE.search(url):
        raise ValidationError(field, f"{url!r} contains whitespace")
    parts = urlsplit(url)
    if parts.scheme.lower() not in schemes or not url.lower().startswith(parts.scheme.lower() + "://"):
        raise ValidationError(field, f"{url!r} is not an absolute {' or '.join(s + '://' for s in schemes)} URL")
    try:
        port = parts.port  # ValueError if not a number in 0..65535
    except ValueError:
        raise ValidationError(field, f"{url!r} has an invalid port") from None
    if not parts.hostname:
        raise ValidationError(field, f"{url!r} has no host")
    if port == 0:
        raise ValidationError(field, f"{url!r} has port 0")
    if parts.username is not None or parts.password is not None:
        raise ValidationError(field, "must not carry user info (user:password@)")  # never echoed: a secret
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValidationError(field, f"{url!r} must not have a query or fragment")
    return parts


def _origin(url: str, field: str, schemes: tuple[str, ...]) -> None:
    parts = _parse(url, field, schemes)
    if parts.path not in ("", "/"):
        raise ValidationError(field, f"{url!r}: give the host only ({parts.scheme}://host[:port]), without a path")


def _ws_url(url: str, field: str, path_ok: Callable[[str], bool], expected: str) -> None:
    parts = _parse(url, field, WS)
    if not path_ok(parts.path.rstrip("/")):
        raise ValidationError(field, f"{url!r}: expected {expected}")


def _rest(url: str, field: str) -> None:
    _origin(url, field, HTTP)


def _ws_origin(url: str, field: str) -> None:
    _origin(url, field, WS)


def _ws_any(url: str, field: str) -> None:
    _parse(url, field, WS)


def _fix(text: str, field: str) -> None:
    """``[tcp|ssl|tls://]host[:port]`` (``connectors/deribit/urls.parse_fix_host``)."""
    url = text if "://" in text else "tcp://" + text
    parts = _parse(url, field, FIX)
    if parts.path not in ("", "/"):
        raise ValidationError(field, f"{text!r}: the FIX host is host:port, without a path")
