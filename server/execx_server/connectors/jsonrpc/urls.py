"""Host settings shared by the JSON-RPC venues: the simulator's ready-line entry and the websocket URL
that goes with an HTTP host."""

from __future__ import annotations

import json
from typing import Any


def ready_entry(ws_url: str) -> dict[str, Any] | None:
    """With ``execx --sim`` the session's ``ws_url`` is the JSON of the venue's ready-line entry
    (``{"rest": ..., "ws": ..., "fix": ...}``); anything else is a plain host."""
    if not ws_url.startswith("{"):
        return None
    try:
        entry = json.loads(ws_url)
    except json.JSONDecodeError:
        raise ValueError("ws_url looks like JSON but does not parse") from None
    if not isinstance(entry, dict):
        raise ValueError("ws_url JSON must be an object")
    return entry


def ws_from_http(rest: str, path: str) -> str:
    """``https://host`` -> ``wss://host{path}`` (``http`` -> ``ws``)."""
    base = rest.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + path
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :] + path
    return "wss://" + base + path
