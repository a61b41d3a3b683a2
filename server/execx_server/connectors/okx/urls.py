"""OKX hosts: production, AWS, demo trading, and how ``rest_url`` / ``ws_url`` overrides map onto them.

OKX has one REST host and one WebSocket host with three paths (``../shared/venues/okx.md`` §1):

=============  ==========================  ==========================================
hosts          REST                        WebSocket (``/ws/v5/private|public|business``)
=============  ==========================  ==========================================
production     ``https://www.okx.com``     ``wss://ws.okx.com:8443``
AWS            ``https://aws.okx.com``     ``wss://wsaws.okx.com:8443``
demo trading   ``https://www.okx.com``     ``wss://wspap.okx.com:8443``
=============  ==========================  ==========================================

Seed 000 recommends the AWS hosts when the strategy does not run in Alibaba Cloud Hong Kong. They
are selected by configuration — ``EXECX_OKX_HOSTS=aws`` (or the connector's ``hosts="aws"``) — or by
a session's ``restUrl`` / ``wsUrl``. ``--testnet`` selects demo trading: the demo WebSocket host and
the ``x-simulated-trading: 1`` header on every REST request (OKX's demo REST is the production host
plus that header; demo keys are separate keys).

``ws_url`` forms: empty (defaults); a host without a path (``wss://wsaws.okx.com:8443``: the three
paths are appended); one full URL with a ``/ws/v5/<kind>`` path (its origin serves the other paths);
or a JSON object ``{"rest", "private", "public", "business"}`` — exactly the simulator's ready-line
entry for ``okx`` (its ``rest`` is used when ``rest_url`` is empty).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from ...domain.errors import ValidationError

KINDS = ("private", "public", "business")


@dataclass(frozen=True)
class Hosts:
    rest: str  # no trailing slash
    private: str  # full URLs
    public: str
    business: str
    demo: bool = False  # send x-simulated-trading: 1


def _hosts(rest: str, ws_origin: str, demo: bool = False) -> Hosts:
    private, public, business = (f"{ws_origin}/ws/v5/{k}" for k in KINDS)
    return Hosts(rest, private, public, business, demo)


PRODUCTION = _hosts("https://www.okx.com", "wss://ws.okx.com:8443")
AWS = _hosts("https://aws.okx.com", "wss://wsaws.okx.com:8443")
DEMO = _hosts("https://www.okx.com", "wss://wspap.okx.com:8443", demo=True)
HOST_SETS = {"default": PRODUCTION, "aws": AWS}
HOSTS_ENV = "EXECX_OKX_HOSTS"


def resolve_hosts(testnet: bool, rest_url: str = "", ws_url: str = "", hosts: str | None = None) -> Hosts:
    """The hosts a connector uses: the configured host set (``hosts``, else ``$EXECX_OKX_HOSTS``,
    else production; demo with ``testnet``), then the session's overrides."""
    choice = (hosts if hosts is not None else os.environ.get(HOSTS_ENV, "")).strip().lower() or "default"
    if choice not in HOST_SETS:
        raise ValidationError("hosts", f"{choice!r} is not an OKX host set (default or aws)")
    base = DEMO if testnet else HOST_SETS[choice]
    named = _parse_ws(ws_url.strip())
    rest = (rest_url.strip() or named.pop("rest", "") or base.rest).rstrip("/")
    if not named:
        return Hosts(rest, base.private, base.public, base.business, demo=testnet)
    origin = next(_origin(u) for u in named.values())
    urls = {k: named.get(k) or f"{origin}/ws/v5/{k}" for k in KINDS}
    return Hosts(rest, urls["private"], urls["public"], urls["business"], demo=testnet)


def _parse_ws(text: str) -> dict[str, str]:
    if not text:
        return {}
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            raise ValidationError("wsUrl", "is not valid JSON") from None
        if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
            raise ValidationError("wsUrl", "a JSON wsUrl must map names to URL strings")
        out = {k: v.rstrip("/") for k, v in obj.items() if k in (*KINDS, "rest")}
        if not any(k in out for k in KINDS):
            raise ValidationError("wsUrl", "names none of private, public, business")
        return out
    parts = urlsplit(text)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValidationError("wsUrl", f"{text!r} is not a ws:// or wss:// URL")
    path = parts.path.rstrip("/")
    for kind in KINDS:
        if path.endswith(f"/ws/v5/{kind}"):
            return {kind: text.rstrip("/")}
    if path:
        raise ValidationError("wsUrl", f"{text!r}: give the host only, or a /ws/v5/<private|public|business> URL")
    return {kind: f"{text.rstrip('/')}/ws/v5/{kind}" for kind in KINDS}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
