"""`execx ctl` (a process) against execx on the simulator: tables of sessions, orders, fills and positions,
tail of updates, send / cancel / pull / cancel-all, the kill switch; the key only from EXECX_KEY."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from client_helpers import KEY, Execx, Keys
from execx_client import ExecxClient

EXECX = str(Path(sys.executable).parent / "execx")


async def ctl(execx: Execx, *args: str, key: str = KEY, ok: bool = True) -> str:
    env = {**os.environ, "EXECX_KEY": key, "EXECX_TARGET": execx.target}
    proc = await asyncio.create_subprocess_exec(
        EXECX, "ctl", *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert (proc.returncode == 0) == ok, (args, proc.returncode, out.decode(), err.decode())
    return (out if ok else err).decode()


async def test_ctl(execx: Execx, keys: Keys) -> None:
    sid = "ctl-" + uuid.uuid4().hex[:6]
    async with ExecxClient(execx.target, KEY) as x:
        await x.start_session(sid, "binance-spot", **keys)
    sessions = await ctl(execx, "sessions")
    header, *rows = sessions.splitlines()
    assert header.split()[:4] == ["SESSION_ID", "EXCHANGE", "ACTIVE", "LAST_SEQ"]
    assert any(r.split()[:3] == [sid, "binance-spot", "True"] for r in rows), sessions

    sent = await ctl(execx, "send", sid, "ctl-1", "BTCUSDT", "BUY", "0.001", "--price", "90000", "--type", "postonly")
    assert "ctl-1" in sent and "postonly" in sent
    await ctl(execx, "send", sid, "ctl-2", "BTCUSDT", "buy", "0.001", "--price", "89000")
    orders = [json.loads(line) for line in (await ctl(execx, "--json", "orders", sid)).splitlines()]
    assert sorted(o["cl_order_id"] for o in orders) == ["ctl-1", "ctl-2"]
    assert (await ctl(execx, "cancel", sid, "ctl-2")).count("ctl-2") == 1
    tail = [json.loads(line) for line in (await ctl(execx, "--json", "tail", sid, "--from-seq", "1", "--count", "4"))
            .splitlines()]  # fmt: skip
    assert [u["seq"] for u in tail] == [1, 2, 3, 4] and tail[0]["cl_order_id"] == "ctl-1"
    assert "SYMBOL" in await ctl(execx, "positions", sid)
    assert "SEQ" in await ctl(execx, "fills", sid)

    killed = json.loads(await ctl(execx, "--json", "kill", sid, "--reason", "test"))
    assert killed["cancelled"] == ["ctl-1"]
    refused = await ctl(execx, "send", sid, "ctl-3", "BTCUSDT", "buy", "0.001", "--price", "89000", ok=False)
    assert refused.startswith("execx ctl: FAILED_PRECONDITION: risk limit killSwitch"), refused
    assert "released" in await ctl(execx, "release", sid)
    await ctl(execx, "send", sid, "ctl-3", "BTCUSDT", "buy", "0.001", "--price", "89000")
    assert "cancelled" in await ctl(execx, "pull", sid, "BTCUSDT")
    assert (await ctl(execx, "orders", sid)).splitlines()[1:] == []  # the header only
    assert json.loads(await ctl(execx, "--json", "cancel-all", sid)) == {"cancelled": []}

    wrong = await ctl(execx, "sessions", key="wrong", ok=False)
    assert wrong.startswith("execx ctl: UNAUTHENTICATED"), wrong
