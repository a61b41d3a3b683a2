"""Fleet mode (issue 21), the drop copy: execx (``nats_url``) publishes every journaled event to a real
``nats-server -js`` started by the test (skipped where Debian's ``nats-server`` is absent, failing under
``CI=1``: .ci/run installs it). A back-office consumer (a durable JetStream consumer) receives every fill
of a session exactly once across a NATS ``kill -9`` and restart, and across an execx restart on the same
data directory whose acknowledged seqs were lost (the republished records deduplicated by their
``Nats-Msg-Id``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx_server.app import Service, Settings
from execx_server.domain.enums import OrderStatus
from execx_server.fleet.dropcopy import STREAM, SUBJECT_PREFIX, DropCopy, subject
from execx_sim.app import Simulator
from fleet_helpers import NatsServer, consume
from market_helpers import AUTH, KEY, Svc, uid
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from waiting import eventually

VENUE, SYMBOL = "binance-spot", "BTCUSDT"
WAIT_S = 20.0


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = NatsServer(tmp_path, WAIT_S)
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


def settings(data_dir: Path, nats_url: str) -> Settings:
    return Settings(
        key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=data_dir, sim=True, sim_quiet=True, nats_url=nats_url
    )


def journal_fills(data_dir: Path, sid: str) -> set[str]:
    """The trade ids of the session's fills in execx's journal (the source of truth)."""
    with sqlite3.connect(f"file:{data_dir / 'journal.db'}?mode=ro", uri=True) as db:
        payloads = [
            json.loads(p)
            for (p,) in db.execute("SELECT payload FROM events WHERE session_id = ? AND kind = 'order'", (sid,))
        ]
    return {p["tradeId"] for p in payloads if Decimal(p["executedQty"]) > 0}


def journal_last_seq(service: Service, sid: str) -> int:
    assert service.engine is not None
    return service.engine.journal.last_seq().get(sid, 0)


async def caught_up(service: Service, sid: str) -> None:
    """Wait until the drop copy's acknowledged seq of ``sid`` is the journal's last."""
    dc = service.dropcopy
    assert isinstance(dc, DropCopy)
    await eventually(
        lambda: dc.acks.seqs.get(sid, 0) == journal_last_seq(service, sid) > 0,
        "the drop copy caught up with the journal",
        within_s=WAIT_S,
        every_s=0.02,
    )


async def fill(svc: Svc, sid: str, n: int) -> None:
    """``n`` marketable buys (each fills at once against the simulated book), each waited for."""
    assert svc.service.engine is not None
    store = svc.service.engine.sessions[sid].store
    _, ask = await svc.top(VENUE, SYMBOL)
    for _ in range(n):
        cl = uid("d")
        await svc.om.SendOrder(
            om.SendOrderRequest(
                session_id=sid,
                cl_order_id=cl,
                symbol=SYMBOL,
                price=float(ask * 2),
                qty=0.001,
                order_type=c.ORDER_TYPE_LIMIT,
                transaction_type=c.TRANSACTION_TYPE_INSERT,
                tif=c.TIME_IN_FORCE_GTC,
                side=c.SIDE_BUY,
            ),
            metadata=AUTH,
        )

        def filled(cl: str = cl) -> bool:
            order = store.get(cl)
            return order is not None and order.status == OrderStatus.FILLED

        await eventually(filled, f"order {cl} filled", within_s=WAIT_S)


async def test_every_fill_exactly_once_across_nats_and_execx_restarts(
    tmp_path: Path, nats_server: NatsServer, simulator: Simulator
) -> None:
    data = tmp_path / "execx"
    service = Service(settings(data, nats_server.url), simulator=simulator)
    await service.start()
    async with aiohttp.ClientSession() as http:
        svc = Svc(service, http)
        try:
            acct = await svc.admin_post("/admin/accounts", {})
            sid = await svc.session(VENUE, acct)
            await fill(svc, sid, 4)
            await caught_up(service, sid)

            # a back-office consumer, durable, on this session's orders and fills
            nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
            js = nc.jetstream()
            await js.add_consumer(
                STREAM,
                ConsumerConfig(
                    durable_name="backoffice",
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.EXPLICIT,
                    filter_subject=f"{SUBJECT_PREFIX}.*.*.{sid}.>",
                ),
            )
            seen: list[dict[str, Any]] = []
            await consume(js, "backoffice", seen)

            # NATS killed: execx keeps trading and journaling; the drop copy catches up once NATS is back
            await nats_server.kill()
            await fill(svc, sid, 4)
            assert service.dropcopy is not None
            assert service.dropcopy.acks.seqs[sid] < journal_last_seq(service, sid)
            await nats_server.start()
            await caught_up(service, sid)
            await eventually(lambda: nc.is_connected, "the consumer reconnected", within_s=WAIT_S)
            await consume(js, "backoffice", seen)

            # execx stopped, and its acknowledged seqs lost (as by a crash before they were persisted):
            # the restarted execx publishes everything again, JetStream drops each as a duplicate
            await svc.channel.close()
            await service.stop()
            (data / "dropcopy_acks.json").unlink()
            service = Service(settings(data, nats_server.url), simulator=simulator)
            await service.start()
            svc = Svc(service, http)
            await svc.start_session(sid, VENUE, acct)
            await fill(svc, sid, 4)
            await caught_up(service, sid)
            assert service.dropcopy is not None and service.dropcopy.duplicates > 0
            await consume(js, "backoffice", seen)
            await nc.close()
        finally:
            await svc.channel.close()
            await service.stop()

    fills = [m for m in seen if m["kind"] == "order" and Decimal(m["event"]["executedQty"]) > 0]
    trade_ids = [m["event"]["tradeId"] for m in fills]
    assert len(trade_ids) == len(set(trade_ids)), "a fill delivered twice"
    assert set(trade_ids) == journal_fills(data, sid) and len(trade_ids) >= 12, (trade_ids, journal_fills(data, sid))
    ids = [m["id"] for m in seen]
    assert len(ids) == len(set(ids)), "a journal record delivered twice"
    assert sorted(m["seq"] for m in seen) == list(range(1, len(seen) + 1)), "a journal record missing"
    assert all(m["id"] == f"{sid}:{m['seq']}" for m in seen)
    assert all(m["subject"] == subject(VENUE, "inline", sid, m["kind"]) for m in seen)


async def test_started_while_nats_is_down_then_catches_up(tmp_path: Path, simulator: Simulator) -> None:
    """NATS unreachable when execx starts: execx starts and trades all the same (the journal is the source
    of truth); once NATS answers, the drop copy creates the stream and publishes what it missed."""
    down = NatsServer(tmp_path)  # its port chosen, nothing listening yet
    service = Service(settings(tmp_path / "execx", down.url), simulator=simulator)
    await service.start()
    async with aiohttp.ClientSession() as http:
        svc = Svc(service, http)
        try:
            sid = await svc.session(VENUE, await svc.admin_post("/admin/accounts", {}))
            await fill(svc, sid, 2)
            assert service.dropcopy is not None and service.dropcopy.acks.seqs.get(sid, 0) == 0
            await down.start()
            try:
                await caught_up(service, sid)
                nc = await nats.connect(down.url)
                try:
                    info = await nc.jetstream().stream_info(STREAM)
                    assert info.state.messages == journal_last_seq(service, sid)
                finally:
                    await nc.close()
            finally:
                await down.kill()
        finally:
            await svc.channel.close()
            await service.stop()


async def test_lag_metric_and_health(tmp_path: Path, nats_server: NatsServer, simulator: Simulator) -> None:
    """``om_dropcopy_lag_records`` / ``om_dropcopy_lag_seconds`` on /metrics and the health service
    ``execx.DropCopy``: 0 and SERVING while caught up; growing and NOT_SERVING while NATS is down and execx
    journals more; back to 0 and SERVING once NATS is back."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    service = Service(settings(tmp_path / "execx", nats_server.url), simulator=simulator)
    await service.start()
    async with aiohttp.ClientSession() as http:
        svc = Svc(service, http)
        health = health_pb2_grpc.HealthStub(svc.channel)

        async def state() -> tuple[float, float, int]:
            async with http.get(service.ready["metrics"]) as r:
                text = await r.text()
            lag = {
                name: float(line.rpartition(" ")[2])
                for line in text.splitlines()
                for name in ("om_dropcopy_lag_records", "om_dropcopy_lag_seconds")
                if line.startswith(name + '{stream="EXECX_DROPCOPY"}')
            }
            status = await health.Check(health_pb2.HealthCheckRequest(service="execx.DropCopy"))
            return lag.get("om_dropcopy_lag_records", -1), lag.get("om_dropcopy_lag_seconds", -1), status.status

        serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
        try:
            sid = await svc.session(VENUE, await svc.admin_post("/admin/accounts", {}))
            await fill(svc, sid, 2)
            await caught_up(service, sid)
            await eventually(lambda: has(state(), (0.0, 0.0, serving)), "caught up, SERVING", WAIT_S, 0.05)

            await nats_server.kill()
            await fill(svc, sid, 3)  # journaled, not published
            behind = journal_last_seq(service, sid) - (
                service.dropcopy.acks.seqs.get(sid, 0) if service.dropcopy else 0
            )
            assert behind > 0

            async def lagging() -> bool:
                records, seconds, status = await state()
                return records >= behind and seconds > 0 and status == not_serving  # (more may be journaled)

            await eventually(lagging, "the lag on /metrics and NOT_SERVING", WAIT_S, 0.05)
            first = (await state())[1]
            await eventually(lambda: grows(state(), first), "the lag in seconds growing", WAIT_S, 0.05)

            await nats_server.start()
            await caught_up(service, sid)
            await eventually(lambda: has(state(), (0.0, 0.0, serving)), "back to 0 and SERVING", WAIT_S, 0.05)
        finally:
            await svc.channel.close()
            await service.stop()


async def has(value: Any, want: Any) -> bool:
    return bool(await value == want)


async def grows(value: Any, since: float) -> bool:
    return bool((await value)[1] > since)
