"""The TypeScript client (``clients/node/src/execx.ts``, types and stubs generated from the protos by
``npm run build``) through an execx restart: ``dist/follow.js`` inserts an order and reads it `new` on its
update stream; execx is stopped and started again on the same data dir and port; the script inserts a
second order (the client starts the detached session again by itself), cancels the first, and its
update stream, resumed from the next sequence number, delivers every update exactly once.

``.ci/run`` installs the packages with ``npm ci --prefix clients/node``; without node or them the test
skips locally and fails under CI."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest
from client_helpers import KEY, Execx, Keys

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "node"


def _node() -> str:
    node = shutil.which("node")
    if node and (CLIENT / "node_modules" / "typescript" / "package.json").is_file():
        return node
    message = "node or clients/node/node_modules missing: .ci/run installs them with `npm ci --prefix clients/node`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


async def test_typescript_client_resumes_across_an_execx_restart(execx: Execx, keys: Keys) -> None:
    node = _node()
    build = await asyncio.create_subprocess_exec(
        "npm", "run", "build", "--prefix", str(CLIENT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(build.communicate(), 180)
    assert build.returncode == 0, out.decode()[-3000:]

    async with aiohttp.ClientSession() as http, http.get(execx.sim.ready["admin"] + "/admin/state") as r:
        price = round(float((await r.json())["markets"]["binance-spot"]["BTCUSDT"]["mid"]) * 0.95, 2)
    proc = await asyncio.create_subprocess_exec(
        node, str(CLIENT / "dist" / "follow.js"), execx.target, KEY, keys["api_key"], keys["secret_key"], str(price),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdin is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert json.loads(line)["phase"] == "a-new", line
        await execx.stop()
        await execx.start()  # same data dir and port
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    done = json.loads(out.decode().strip().splitlines()[-1])
    seqs = done["seqs"]
    assert seqs == list(range(1, len(seqs) + 1)), done  # no gap, no duplicate across the restart
    assert done["reconnects"] >= 1, done
    assert "b:new" in done["statuses"] and "a:cancelled" in done["statuses"], done
