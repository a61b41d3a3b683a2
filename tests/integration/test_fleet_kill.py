"""Fleet mode (issue 21), layer 1: three execx on one simulated Binance spot account joined through a real
``redis-server``: a global kill issued to one reaches the other two at once (printed; 16-66 ms here), each
pulls its open orders and refuses new ones until the switch is released (through another one); the fleet view lists the
three with their sessions and open orders; ``execx fleet kill`` works without any execx answering."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
import redis.asyncio as aioredis
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx_server.fleet import list_nodes
from execx_sim.app import Simulator
from fleet_helpers import RedisServer, execx_fleet, fleet_of
from market_helpers import AUTH, Svc, uid
from waiting import eventually

VENUE, SYMBOL = "binance-spot", "BTCUSDT"


def buy(sid: str, price: Decimal) -> om.SendOrderRequest:
    return om.SendOrderRequest(
        session_id=sid,
        cl_order_id=uid("k"),
        symbol=SYMBOL,
        price=float(price),
        qty=0.001,
        order_type=c.ORDER_TYPE_LIMIT,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_GTC,
        side=c.SIDE_BUY,
    )


def open_orders(svc: Svc, sid: str) -> int:
    assert svc.service.engine is not None
    return len(svc.service.engine.sessions[sid].store.open_orders())


async def test_kill_reaches_every_execx(tmp_path: Path, redis_server: RedisServer, simulator: Simulator) -> None:
    async with fleet_of(3, tmp_path, redis_server.url, simulator) as fleet:
        acct = await fleet[0].admin_post("/admin/accounts", {})
        sids = [await svc.session(VENUE, acct) for svc in fleet]
        bid, _ = await fleet[0].top(VENUE, SYMBOL)
        for svc, sid in zip(fleet, sids, strict=True):
            await svc.om.SendOrder(buy(sid, bid - 100), metadata=AUTH)
            await eventually(lambda svc=svc, sid=sid: open_orders(svc, sid) == 1, "the order resting")

        # the fleet view: every execx, its session and its open order
        redis = aioredis.Redis.from_url(redis_server.url)
        try:

            async def view_complete() -> list[dict[str, object]] | None:
                nodes = await list_nodes(redis, 3.0)
                ok = len(nodes) == 3 and all(
                    [len(s["openOrders"]) for s in n["sessions"]] == [1]
                    for n in nodes  # type: ignore[index,attr-defined,union-attr]
                )
                return nodes if ok else None

            nodes = await eventually(view_complete, "three execx with one open order each in the fleet view")
            assert sorted(n["node"] for n in nodes) == ["node0", "node1", "node2"]
            assert {n["sessions"][0]["sessionId"] for n in nodes} == set(sids)  # type: ignore[index]
        finally:
            await redis.aclose()

        # a kill issued to node0 reaches node1 and node2 at once, by the channel (target: within 100 ms)
        engines = [svc.service.engine for svc in fleet]
        t0 = time.perf_counter()
        await fleet[0].om.EngageKillSwitch(om.EngageKillSwitchRequest(session_id="all", reason="drill"), metadata=AUTH)
        await eventually(
            lambda: all(e is not None and e.risk.global_killed for e in engines), "every execx killed", 10.0, 0.001
        )
        latency_ms = (time.perf_counter() - t0) * 1000
        print(f"fleet kill reached all three execx in {latency_ms:.1f} ms")
        # the 100 ms target is measured and printed, not asserted (DESIGN §5: no timed assertions; on a loaded
        # 2-core CI machine a scheduling hiccup alone can pass it). A kill the channel did not carry would not
        # arrive at all (the kept key is read only on a reconnect): the wait above fails then.
        for svc, sid in zip(fleet, sids, strict=True):  # each pulled its own orders
            await eventually(lambda svc=svc, sid=sid: open_orders(svc, sid) == 0, "the kill's cancels")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await fleet[2].om.SendOrder(buy(sids[2], bid - 100), metadata=AUTH)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "killSwitch" in str(refused.value.details()) and "drill" in str(refused.value.details())

        # re-armed through another execx: all three take orders again
        await fleet[1].om.ReleaseKillSwitch(om.ReleaseKillSwitchRequest(session_id="all"), metadata=AUTH)
        await eventually(
            lambda: not any(e is not None and e.risk.global_killed for e in engines), "every execx re-armed"
        )
        for svc, sid in zip(fleet, sids, strict=True):
            await svc.om.SendOrder(buy(sid, bid - 100), metadata=AUTH)

        # the operator's command line, straight on Redis
        code, out = await execx_fleet("list", "--redis", redis_server.url)
        assert code == 0 and out.count("node") >= 3, out
        code, out = await execx_fleet("kill", "--redis", redis_server.url, "--reason", "from the cli")
        assert code == 0 and "3 execx listening" in out, out
        await eventually(lambda: all(e is not None and e.risk.global_killed for e in engines), "the cli's kill")
        assert (await execx_fleet("release", "--redis", redis_server.url))[0] == 0
        await eventually(lambda: not any(e is not None and e.risk.global_killed for e in engines), "the cli's release")


async def test_kill_kept_for_a_late_joiner(tmp_path: Path, redis_server: RedisServer, simulator: Simulator) -> None:
    """An execx that joins after the kill (or reconnects) takes the fleet's kept state."""
    async with fleet_of(1, tmp_path / "a", redis_server.url, simulator, "a") as first:
        await first[0].om.EngageKillSwitch(om.EngageKillSwitchRequest(session_id="all", reason="kept"), metadata=AUTH)
        async with fleet_of(1, tmp_path / "b", redis_server.url, simulator, "b") as late:
            engine = late[0].service.engine
            await eventually(lambda: engine is not None and engine.risk.global_killed, "the late execx killed")
            assert engine is not None and "kept" in engine.risk.global_reason


async def test_kill_one_account(tmp_path: Path, redis_server: RedisServer, simulator: Simulator) -> None:
    """The switch of one account (a stored account of the credentials file): engaged through one execx, every
    execx pulls and refuses that account's sessions only; the other account trades on; the fleet view and
    ``execx fleet`` show it; released from the command line."""
    accounts = {name: await simulator_account(simulator) for name in ("desk-a", "desk-b")}
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"accounts": accounts}))
    async with fleet_of(3, tmp_path, redis_server.url, simulator, credentials_file=creds) as fleet:
        sids: dict[str, list[str]] = {"desk-a": [], "desk-b": []}
        for svc in fleet:
            for name in sids:
                sid = uid("s")
                key = c.ExchangeKey(account_ref=name, exchange=c.EXCHANGE_BINANCE_SPOT)
                await svc.om.StartOrderHandler(
                    om.StartOrderHandlerRequest(session_id=sid, exchange_key=key), metadata=AUTH
                )
                sids[name].append(sid)
        bid, _ = await fleet[0].top(VENUE, SYMBOL)
        for name in sids:
            for svc, sid in zip(fleet, sids[name], strict=True):
                await svc.om.SendOrder(buy(sid, bid - 100), metadata=AUTH)
                await eventually(lambda svc=svc, sid=sid: open_orders(svc, sid) == 1, "the order resting")
        engines = [svc.service.engine for svc in fleet]

        request = om.EngageKillSwitchRequest(session_id="all", account="desk-a", reason="desk a drill")
        await fleet[0].om.EngageKillSwitch(request, metadata=AUTH)
        await eventually(
            lambda: all(e is not None and "desk-a" in e.risk.account_kills for e in engines), "every execx: desk-a"
        )
        for svc, a, b in zip(fleet, sids["desk-a"], sids["desk-b"], strict=True):
            await eventually(lambda svc=svc, a=a: open_orders(svc, a) == 0, "desk-a's orders pulled")
            assert open_orders(svc, b) == 1  # desk-b untouched
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await svc.om.SendOrder(buy(a, bid - 100), metadata=AUTH)
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "desk-a" in str(refused.value.details())
            await svc.om.SendOrder(buy(b, bid - 100), metadata=AUTH)  # desk-b trades on
        assert all(e is not None and not e.risk.global_killed for e in engines)

        async def shown() -> list[dict[str, Any]] | None:
            redis = aioredis.Redis.from_url(redis_server.url)
            try:
                nodes = await list_nodes(redis, 3.0)
            finally:
                await redis.aclose()
            ok = len(nodes) == 3 and all("desk-a" in (n.get("accountKills") or {}) for n in nodes)
            return nodes if ok else None

        nodes = await eventually(shown, "the account's switch in the fleet view")
        assert {s["account"] for n in nodes for s in n["sessions"]} == {"desk-a", "desk-b"}
        code, out = await execx_fleet("list", "--redis", redis_server.url)
        assert code == 0 and "kill switch of account desk-a: ENGAGED" in out and "desk-b" in out, out

        code, out = await execx_fleet("release", "--redis", redis_server.url, "--account", "desk-a")
        assert code == 0 and "3 execx listening" in out, out
        await eventually(lambda: not any(e is not None and e.risk.account_kills for e in engines), "desk-a re-armed")
        for svc, a in zip(fleet, sids["desk-a"], strict=True):
            await svc.om.SendOrder(buy(a, bid - 100), metadata=AUTH)


async def simulator_account(simulator: Simulator) -> dict[str, str]:
    """A new simulated account's keys, as a credentials file holds them."""
    async with aiohttp.ClientSession() as http, http.post(f"{simulator.ready['admin']}/admin/accounts", json={}) as r:
        acct = await r.json()
    return {"apiKey": acct["apiKey"], "secretKey": acct["secretKey"]}


async def test_account_kill_survives_a_restart(tmp_path: Path, simulator: Simulator) -> None:
    """An account's switch is journaled (no Redis here: the engine's own switch): after a restart on the same
    data directory it still refuses that account's orders, until released."""
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"accounts": {"desk-a": await simulator_account(simulator)}}))
    key = c.ExchangeKey(account_ref="desk-a", exchange=c.EXCHANGE_BINANCE_SPOT)
    async with fleet_of(1, tmp_path, "", simulator, credentials_file=creds) as (svc,):
        kill = om.EngageKillSwitchRequest(session_id="all", account="desk-a", reason="kept")
        await svc.om.EngageKillSwitch(kill, metadata=AUTH)
    async with fleet_of(1, tmp_path, "", simulator, credentials_file=creds) as (svc,):
        assert svc.service.engine is not None and svc.service.engine.risk.account_kills == {"desk-a": "kept"}
        await svc.om.StartOrderHandler(om.StartOrderHandlerRequest(session_id="after", exchange_key=key), metadata=AUTH)
        bid, _ = await svc.top(VENUE, SYMBOL)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await svc.om.SendOrder(buy("after", bid - 100), metadata=AUTH)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "desk-a" in str(refused.value.details())
        release = om.ReleaseKillSwitchRequest(session_id="all", account="desk-a")
        await svc.om.ReleaseKillSwitch(release, metadata=AUTH)
        await svc.om.SendOrder(buy("after", bid - 100), metadata=AUTH)
