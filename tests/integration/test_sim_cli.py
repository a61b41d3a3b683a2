"""``execx-sim`` as a user runs it: a subprocess that prints exactly one JSON ready line on stdout,
serves every venue on loopback, and exits cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

VENUES = {"binance-spot", "binance-usdm-future", "binance-coinm-future"}
START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 10.0


def command() -> list[str]:
    script = Path(sys.executable).parent / "execx-sim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "execx_sim.cli"]


class Sim:
    def __init__(self, proc: asyncio.subprocess.Process, ready: dict[str, Any]) -> None:
        self.proc = proc
        self.ready = ready

    async def terminate(self) -> tuple[int, bytes]:
        """SIGTERM, then the exit code and whatever else was written to stdout."""
        self.proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(self.proc.wait(), STOP_DEADLINE_S)
        assert self.proc.stdout is not None
        rest = await asyncio.wait_for(self.proc.stdout.read(), STOP_DEADLINE_S)
        return rc, rest


@contextlib.asynccontextmanager
async def execx_sim(*args: str) -> AsyncIterator[Sim]:
    proc = await asyncio.create_subprocess_exec(
        *command(),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), START_DEADLINE_S)
        assert line.endswith(b"\n"), f"no ready line (rc={proc.returncode})"
        yield Sim(proc, json.loads(line))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def all_urls(ready: dict[str, Any]) -> list[str]:
    return [url for venue in ready["venues"].values() for url in venue.values()] + [ready["admin"]]


def free_port_range(n: int) -> int:
    """A base port with ``n`` consecutive free loopback ports after it, below the kernel's ephemeral range
    (so no outgoing connection of another test takes one between this check and the simulator's bind)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    for _ in range(200):
        base = random.randint(10_000, max(10_001, ephemeral_low - n - 1))
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


async def test_ready_line_serves_and_stops_on_sigterm() -> None:
    async with execx_sim("--quiet", "--seed", "3") as sim:
        ready = sim.ready
        assert ready["event"] == "ready"
        assert VENUES <= set(ready["venues"])  # and every other venue in the tree
        for name in VENUES:
            venue = ready["venues"][name]
            assert set(venue) == {"rest", "wsApi", "stream"}, name
            assert urlsplit(venue["rest"]).scheme == "http"
            assert urlsplit(venue["wsApi"]).scheme == "ws" and urlsplit(venue["stream"]).scheme == "ws"
        assert ready["accounts"] == [
            {
                "apiKey": "execx-demo-api-key",
                "secretKey": "execx-demo-secret-key",
                "passphrase": "execx-demo-passphrase",
            }
        ]
        urls = all_urls(ready)
        assert all(urlsplit(u).hostname == "127.0.0.1" for u in urls)
        # One port per venue host (venues whose REST and WebSocket API share a host print one port for both).
        binance = [urlsplit(u).port for name in VENUES for u in ready["venues"][name].values()]
        assert len(set(binance)) == len(binance)
        assert [urlsplit(u).port for u in urls].count(urlsplit(ready["admin"]).port) == 1

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.get(ready["admin"] + "/admin/state") as resp:
                assert resp.status == 200
                assert (await resp.json())["paused"] is True  # --quiet
            async with http.get(ready["venues"]["binance-spot"]["rest"] + "/api/v3/time") as resp:
                assert resp.status == 200
                assert isinstance((await resp.json())["serverTime"], int)
            async with http.get(ready["venues"]["binance-usdm-future"]["rest"] + "/fapi/v1/time") as resp:
                assert resp.status == 200

        rc, rest = await sim.terminate()
        assert rc == 0
        assert rest == b""  # exactly one line on stdout; logs go to stderr


async def test_sigint_also_stops_cleanly() -> None:
    async with execx_sim("--quiet") as sim:
        sim.proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(sim.proc.wait(), STOP_DEADLINE_S) == 0


async def test_base_port_assigns_consecutive_ports() -> None:
    n = 60  # room for every venue's hosts + admin
    base = free_port_range(n)
    async with execx_sim("--quiet", "--base-port", str(base)) as sim:
        urls = all_urls(sim.ready)
        ports = [urlsplit(u).port for u in urls]
        distinct = sorted(set(ports))  # a shared REST/WebSocket host is one port
        assert distinct == list(range(base, base + len(distinct)))
        assert ports[-1] == distinct[-1]  # the admin API comes last
        assert urlsplit(sim.ready["venues"]["binance-spot"]["rest"]).port == base
        rc, _ = await sim.terminate()
        assert rc == 0


async def test_busy_port_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            *command(),
            "--quiet",
            "--base-port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), START_DEADLINE_S)
    assert proc.returncode == 2
    assert out == b""
    assert b"cannot listen" in err


@pytest.mark.parametrize("args", [["--base-port", "x"], ["--nope"]])
async def test_bad_arguments(args: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *command(),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), START_DEADLINE_S)
    assert proc.returncode == 2 and out == b"" and b"usage: execx-sim" in err
