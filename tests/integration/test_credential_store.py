"""The credential store: a session opened by reference (exchangeKey.accountRef) to an account of
--credentialsFile, re-opened and reconciled by execx itself after a restart before any client calls,
--noInlineCredentials, and the secrets never in the data directory."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_server.app import Service, Settings, StartupError
from execx_sim.app import Simulator
from service_helpers import resting_buy as buy

KEY = "credential-store-test-key"
MD = (("x-api-key", KEY),)


@pytest.fixture
async def venue() -> AsyncIterator[Simulator]:
    """A simulator that outlives the execx restarts of a test."""
    sim = Simulator(quiet=True, seed=11)
    await sim.start()
    yield sim
    await sim.stop()


def settings(data: Path, creds: Path | None, **kw: Any) -> Settings:
    return Settings(
        key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=data, sim=True, sim_quiet=True, credentials_file=creds, **kw
    )


async def test_sessions_by_reference_survive_a_restart_without_the_client(tmp_path: Path, venue: Simulator) -> None:
    demo = venue.ready["accounts"][0]
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"accounts": {"desk-a": {"apiKey": demo["apiKey"], "secretKey": demo["secretKey"]}}}))
    data = tmp_path / "data"
    start = om.StartOrderHandlerRequest(
        session_id="by-ref", exchange_key=c.ExchangeKey(account_ref="desk-a", exchange=c.EXCHANGE_BINANCE_SPOT)
    )
    first = Service(settings(data, creds), simulator=venue)
    await first.start()
    try:
        async with grpc.aio.insecure_channel(first.ready["grpc"]) as ch:
            stub = om_grpc.OrderManagerServiceStub(ch)
            await stub.StartOrderHandler(start, metadata=MD)
            await stub.SendOrder(buy("by-ref", "before-restart"), metadata=MD)
            for bad, code in (
                (c.ExchangeKey(account_ref="nobody", exchange=c.EXCHANGE_BINANCE_SPOT), "FAILED_PRECONDITION"),
                (
                    c.ExchangeKey(account_ref="desk-a", api_key="x", secret_key="y", exchange=c.EXCHANGE_BINANCE_SPOT),
                    "INVALID_ARGUMENT",
                ),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as e:
                    await stub.StartOrderHandler(
                        om.StartOrderHandlerRequest(session_id="bad", exchange_key=bad), metadata=MD
                    )
                assert e.value.code().name == code
    finally:
        await first.stop()

    second = Service(settings(data, creds), simulator=venue)
    await second.start()  # re-opens "by-ref" from the store before it serves
    try:
        assert second.engine is not None and second.engine.sessions["by-ref"].connector is not None
        async with grpc.aio.insecure_channel(second.ready["grpc"]) as ch:
            stub = om_grpc.OrderManagerServiceStub(ch)
            listed = {
                s.session_id: s for s in (await stub.ListSessions(om.ListSessionsRequest(), metadata=MD)).sessions
            }
            assert listed["by-ref"].active
            got = await stub.GetOrder(
                om.GetOrderRequest(session_id="by-ref", cl_order_id="before-restart"), metadata=MD
            )
            assert got.order.cl_order_id == "before-restart" and got.order.order_status == c.ORDER_STATUS_NEW
            await stub.SendOrder(buy("by-ref", "after-restart"), metadata=MD)  # live with no StartOrderHandler
            await stub.StartOrderHandler(start, metadata=MD)  # the client coming back re-attaches
    finally:
        await second.stop()

    for f in data.rglob("*"):  # the store's secrets never land in execx's files
        if f.is_file():
            assert demo["secretKey"].encode() not in f.read_bytes(), f


async def test_no_inline_credentials_and_a_bad_store(tmp_path: Path, venue: Simulator) -> None:
    demo = venue.ready["accounts"][0]
    service = Service(settings(tmp_path / "d", None, no_inline_credentials=True), simulator=venue)
    await service.start()
    try:
        async with grpc.aio.insecure_channel(service.ready["grpc"]) as ch:
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await om_grpc.OrderManagerServiceStub(ch).StartOrderHandler(
                    om.StartOrderHandlerRequest(
                        session_id="inline",
                        exchange_key=c.ExchangeKey(
                            api_key=demo["apiKey"], secret_key=demo["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT
                        ),
                    ),
                    metadata=MD,
                )
            assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "accountRef" in (e.value.details() or "")
            assert demo["secretKey"] not in (e.value.details() or "")
    finally:
        await service.stop()
    bad = tmp_path / "creds.json"
    bad.write_text('{"accounts": {"x": {"apiKey": "k", "secretKey": "secret-in-a-broken-file"')
    with pytest.raises(StartupError, match="does not parse") as err:
        await Service(settings(tmp_path / "e", bad), simulator=venue).start()
    assert "secret-in-a-broken-file" not in str(err.value)


async def test_a_reopened_session_re_arms_the_venue_dead_man_switch(tmp_path: Path, venue: Simulator) -> None:
    """A stored-credential session with cancelOnDisconnect on Binance USD-M: execx re-opening it at start-up
    arms countdownCancelAll at the venue again for the symbol of its open order, before any client calls."""
    from execx_sim.venues.binance.futures_frontend import FuturesFrontend

    demo = venue.ready["accounts"][0]
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"accounts": {"fut": {"apiKey": demo["apiKey"], "secretKey": demo["secretKey"]}}}))
    fe = next(f for f in venue.frontends if f.venue == "binance-usdm-future")
    assert isinstance(fe, FuturesFrontend)
    armed = lambda: any(symbol == "BTCUSDT" for _, symbol in fe.countdowns)  # noqa: E731
    data = tmp_path / "data"
    first = Service(settings(data, creds), simulator=venue)
    await first.start()
    try:
        async with grpc.aio.insecure_channel(first.ready["grpc"]) as ch:
            stub = om_grpc.OrderManagerServiceStub(ch)
            await stub.StartOrderHandler(
                om.StartOrderHandlerRequest(
                    session_id="guarded",
                    exchange_key=c.ExchangeKey(account_ref="fut", exchange=c.EXCHANGE_BINANCE_USDM_FUTURE),
                    cancel_on_disconnect=True,
                    cancel_on_disconnect_grace_ms=30_000,
                ),
                metadata=MD,
            )
            order = buy("guarded", "resting")
            order.qty = 0.002
            bid = venue.exchange.markets["binance-usdm-future"].books["BTCUSDT"].top()[0]
            order.price = float(round(bid * Decimal("0.98")))  # rests, inside the venue's price band
            sent = await stub.SendOrder(order, metadata=MD)
            assert sent.order.order_status == c.ORDER_STATUS_NEW, sent
            assert armed()  # armed before the order left
    finally:
        await first.stop()
    assert not armed()  # a deliberate stop disarms it (the orders stay)

    second = Service(settings(data, creds), simulator=venue)
    await second.start()  # re-opens "guarded" from the store before it serves; no client calls
    try:
        session = second.engine.sessions["guarded"] if second.engine is not None else None
        assert session is not None and session.connector is not None
        assert session.connector.cancel_on_disconnect_armed
        assert armed()  # the countdown set again at the venue, for the open order's symbol
        deadline = max(ms for (_, symbol), ms in fe.countdowns.items() if symbol == "BTCUSDT")
        assert deadline - time.time() * 1000 > 10_000  # 30 s as the client asked (execx's floor 10 s)
    finally:
        await second.stop()
