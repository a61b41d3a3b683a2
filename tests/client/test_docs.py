"""Every code block of README.md and clients/python/README.md runs as written against `execx --key K --sim`
(a process on free ports: the blocks' 35027 / 35028 are rewritten to them), and so does every example
strategy in examples/strategies/.

Blocks: ``sh`` runs in bash (``set -e``; exit code 0), ``python`` runs in one namespace per README with
top-level ``await`` (a block with ``asyncio.run(`` runs as a process of its own), ``text`` and bare fences
are not code. A block preceded by ``<!-- not run: reason -->`` is skipped; those are listed below, so a
new one has to be argued here."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
READMES = [ROOT / "README.md", ROOT / "clients" / "python" / "README.md"]
NOT_RUN = {  # (readme, the start of the block's first line); the reasons are in the READMEs
    ("README.md", "make demo   # installs into .venv, runs"),
    ("README.md", '{"event": "ready",'),
    ("README.md", ".venv/bin/python bench/sim_throughput.py"),
    ("README.md", "docker build -t execx ."),
    ("README.md", "kubectl create secret generic execx-api-"),
    ("python/README.md", "pip install -e clients/python     # from"),
}
FENCE = re.compile(r"(?:<!-- not run: (?P<why>[^>]*) -->\n)?```(?P<lang>[a-z]*)\n(?P<code>.*?)```", re.S)


def blocks(readme: Path) -> list[tuple[str, str, str | None]]:
    """(language, code, why it is not run or None) of every fenced block."""
    return [(m["lang"], m["code"], m["why"]) for m in FENCE.finditer(readme.read_text())]


@pytest.fixture(scope="module")
async def execx(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """`execx --key K --sim` as a process (the synthetic market moves), its ready line."""
    data = tmp_path_factory.mktemp("docs-data")
    argv = ["--key", "K", "--sim", "--port", "0", "--grpcPort", "0", "--promPort", "0", "--dataDir", str(data)]
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "execx"), *argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
    try:
        yield ready
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


def localize(code: str, ready: dict[str, Any]) -> str:
    rest = ready["rest"].removeprefix("http://")
    return (
        code.replace("localhost:35027", rest).replace("127.0.0.1:35027", rest).replace("127.0.0.1:35028", ready["grpc"])
    )


def env(ready: dict[str, Any]) -> dict[str, str]:
    return {**os.environ, "EXECX_KEY": "K", "EXECX_TARGET": ready["grpc"]}


async def run(argv: list[str], ready: dict[str, Any], within_s: float = 90) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=env(ready), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), within_s)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{out.decode()[-3000:]}"
    return out.decode()


def test_the_blocks_not_run_are_the_argued_ones() -> None:
    skipped = {
        (str(r.relative_to(ROOT)).removeprefix("clients/"), code.splitlines()[0][:40].rstrip())
        for r in READMES
        for _, code, why in blocks(r)
        if why is not None
    }
    assert skipped == NOT_RUN


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
async def test_readme_blocks_run(readme: Path, execx: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {"__name__": "readme"}
    ran = 0
    for lang, code, why in blocks(readme):
        if why is not None or lang not in ("sh", "python"):
            continue
        code = localize(code, execx)
        if lang == "sh":
            out = await run(["bash", "-c", "set -e\n" + code], execx)
            assert '"code"' not in out, out  # no google.rpc.Status error body
        elif "asyncio.run(" in code:
            await run([sys.executable, "-c", code], execx)
        else:  # the notebook blocks: shared names, top-level await
            compiled = compile(code, f"{readme.name}:block{ran}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(compiled, namespace)
            if asyncio.iscoroutine(result):
                await asyncio.wait_for(result, 60)
        ran += 1
    assert ran >= 2


async def test_example_strategies(execx: dict[str, Any]) -> None:
    strategies = ROOT / "examples" / "strategies"
    py = sys.executable
    out = await run([py, str(strategies / "market_maker.py"), "--seconds", "60"], execx)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["done"] and summary["fills"] >= 2 and summary["maker_fills"] == summary["fills"], out
    out = await run([py, str(strategies / "twap.py"), "--amount", "0.002", "--duration", "4SEC"], execx)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["done"] and summary["filled"] == pytest.approx(0.002), out

    # the breakout: armed, then the market trades through the level (the simulator's admin API)
    admin = execx["sim"]["admin"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{admin}/admin/state") as r:
            level = round(float((await r.json())["markets"]["binance-spot"]["BTCUSDT"]["mid"]) * 1.002, 2)
        proc = await asyncio.create_subprocess_exec(
            py, str(strategies / "breakout_trigger.py"), "--level", str(level), "--seconds", "30",
            cwd=ROOT, env=env(execx), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert proc.stdout is not None
        armed = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        assert armed["level"] == level
        body = {"market": "binance-spot", "symbol": "BTCUSDT", "price": str(level), "qty": "0.01", "aggressor": "buy"}
        async with http.post(f"{admin}/admin/market/trade", json=body) as r:
            assert r.status == 200
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, rest.decode()
    sent = json.loads(rest.decode().strip().splitlines()[-1])
    assert sent["sent"] == armed["armed"] and sent["status"] in ("new", "filled", "partiallyfilled", "expired")


def test_client_readme_shows_every_method() -> None:
    from execx_client import ExecxClient

    text = (ROOT / "clients" / "python" / "README.md").read_text()
    methods = [n for n in dir(ExecxClient) if not n.startswith("_") and callable(getattr(ExecxClient, n))]
    assert [n for n in methods if f"{n}(" not in text] == []
