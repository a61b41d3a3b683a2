"""HTTP client sessions for venue connectors: connection pool, keep-alive, source-address binding.

``interface`` (ConnectorConfig.interface) selects the local address outgoing sockets bind to:

- ``""``: the kernel chooses (default route);
- a literal IP address (``"10.0.0.5"``, ``"fd00::5"``): bind to it;
- an interface name (``"eth0"``): its first IPv4 address;
- ``"<name>:<n>"`` (``"eth0:1"``): the (n+1)-th IPv4 address of that interface, i.e. ``eth0:1`` is
  the second address, as with classic interface aliases. An address whose label is exactly
  ``eth0:1`` (an ``ip addr add ... label eth0:1`` alias) is preferred when it exists.

Addresses are read with ``ip -j -4 addr show dev <name>`` (iproute2's JSON output), which lists
every address of an interface in order, with labels — the classic ``SIOCGIFADDR`` ioctl only
returns the primary one. The choice is made once, at session creation; an unknown interface or a
missing address is a ``ValidationError("interface", ...)`` naming it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
import subprocess
from typing import Any

import aiohttp

from ...domain.errors import ValidationError

DEFAULT_TIMEOUT_S = 10.0


def pick_address(ip_json: list[dict[str, Any]], spec: str) -> str:
    """The IPv4 address ``spec`` names in ``ip -j addr`` output (pure; see module docstring)."""
    name, _, index_text = spec.partition(":")
    try:
        index = int(index_text) if index_text else 0
    except ValueError:
        raise ValueError(f"interface {spec!r}: the part after ':' must be an address index") from None
    for link in ip_json:
        if link.get("ifname") != name:
            continue
        inet = [a for a in link.get("addr_info", []) if a.get("family") == "inet"]
        for addr in inet:
            if index_text and addr.get("label") == spec:
                return str(addr["local"])
        if index < len(inet):
            return str(inet[index]["local"])
        raise ValueError(f"interface {name!r} has {len(inet)} IPv4 address(es); {spec!r} asks for #{index + 1}")
    raise ValueError(f"no network interface named {name!r}")


def read_interface_addresses(name: str) -> list[dict[str, Any]]:
    """``ip -j -4 addr show dev <name>`` parsed (blocking; call off the event loop)."""
    ip = shutil.which("ip")
    if ip is None:
        raise ValueError("binding to an interface by name needs iproute2's `ip` command")
    proc = subprocess.run(
        [ip, "-j", "-4", "addr", "show", "dev", name], capture_output=True, text=True, timeout=5, check=False
    )
    if proc.returncode != 0:
        raise ValueError(f"no network interface named {name!r}")
    data = json.loads(proc.stdout or "[]")
    if not isinstance(data, list):
        raise ValueError(f"unexpected `ip -j addr` output for {name!r}")
    return data


async def resolve_interface(interface: str) -> str | None:
    """The local IP address to bind to for ``interface``; None when unset."""
    if not interface:
        return None
    try:
        return str(ipaddress.ip_address(interface))
    except ValueError:
        pass
    name = interface.partition(":")[0]
    try:
        data = await asyncio.to_thread(read_interface_addresses, name)
        return pick_address(data, interface)
    except ValueError as exc:
        raise ValidationError("interface", str(exc)) from None


async def make_session(
    interface: str = "",
    *,
    pool_size: int = 32,
    keepalive_s: float = 60.0,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientSession:
    """A pooled keep-alive ``ClientSession`` whose sockets (HTTP and websockets) bind to ``interface``.

    The caller owns the session and closes it (``await session.close()``)."""
    local = await resolve_interface(interface)
    connector = aiohttp.TCPConnector(
        limit=pool_size,
        keepalive_timeout=keepalive_s,
        local_addr=(local, 0) if local else None,
        ttl_dns_cache=300,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(5.0, timeout_s)),
        headers=headers,
        raise_for_status=False,
    )
