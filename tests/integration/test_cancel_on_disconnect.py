"""Cancel-on-disconnect bound to the client's streams, and truthful fill fields (issue 14, items 1 and 4),
through the running service (``execx --sim`` in this process) over gRPC and the REST gateway, on every venue
family.

- A session started with ``cancelOnDisconnect`` whose last stream closes has its open orders cancelled at the
  venue once the grace period has passed (a ``cancelOnDisconnect`` riskEvent, then the cancels, on the update
  stream); a stream that comes back within the grace stops it; a session without it keeps its orders.
- execx killed with SIGKILL (its own process, the simulator another): the venue's dead-man switch execx armed
  (OKX cancel-all-after and Binance futures countdownCancelAll kept alive by execx's heartbeat; Deribit FIX
  CancelOnDisconnect; Pulse enable_cancel_on_disconnect) cancels the orders at the venue by itself.
- Every fill update carries the venue's own fee and fee currency (equal to the simulator's fill), the average
  fill price, the order's price and quantity (the fill's price in ``fillPrice``), and ``ListFills`` the fee.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from jsonrpc_venue_helpers import Svc, running_service
from market_helpers import AUTH, KEY, exchange_enum, uid
from waiting import eventually

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))
from fault_harness import KEY as FAULT_KEY
from fault_harness import ExecxProcess, SimProcess

D = Decimal
WAIT_S = 15.0
# venue -> (symbol, an order quantity above the venue minimums)
VENUES: dict[str, tuple[str, str]] = {
    "binance-spot": ("BTCUSDT", "0.001"),
    "binance-usdm-future": ("BTCUSDT", "0.002"),
    "binance-coinm-future": ("BTCUSD_PERP", "1"),
    "bybit-linear": ("BTCUSDT", "0.01"),
    "bybit-inverse": ("BTCUSD", "100"),
    "okx": ("BTC-USDT-SWAP", "1"),
    "deribit": ("BTC-PERPETUAL", "10"),
    "pulse": ("BTC_USD-PERPETUAL", "0.01"),
}


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running_service(tmp_path_factory.mktemp("execx-cod"), c.EXCHANGE_BINANCE_SPOT) as s:
        yield s


async def start(svc: Svc, venue: str, cod: bool, grace_ms: int = 0) -> tuple[str, dict[str, str]]:
    acct = await svc.admin_post("/admin/accounts", {})
    sid = uid("cod")
    key = c.ExchangeKey(
        api_key=acct["apiKey"],
        secret_key=acct["secretKey"],
        passphrase=acct.get("passphrase", ""),
        exchange=exchange_enum(venue),
    )
    req = om.StartOrderHandlerRequest(
        session_id=sid, exchange_key=key, cancel_on_disconnect=cod, cancel_on_disconnect_grace_ms=grace_ms
    )
    await svc.om.StartOrderHandler(req, metadata=AUTH)
    return sid, acct


def insert(sid: str, cl: str, symbol: str, price: Decimal, qty: str, side: int = c.SIDE_BUY) -> om.SendOrderRequest:
    return om.SendOrderRequest(
        session_id=sid,
        cl_order_id=cl,
        symbol=symbol,
        price=float(price),
        qty=float(qty),
        order_type=c.ORDER_TYPE_LIMIT,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_GTC,
        side=side,
    )


async def rest_orders(svc: Svc, venue: str, sid: str, n: int) -> list[str]:
    """``n`` buys resting far below the market; their client ids."""
    symbol, qty = VENUES[venue]
    bid, _ = await svc.top(venue, symbol)
    ids = [f"r{i}" for i in range(n)]
    for i, cl in enumerate(ids):
        ack = await svc.om.SendOrder(insert(sid, cl, symbol, bid * D("0.97") - i, qty), metadata=AUTH)
        assert ack.order.order_status == c.ORDER_STATUS_NEW, ack.order.message
    return ids


def venue_open(svc: Svc, venue: str, acct: dict[str, str]) -> int:
    """The simulated venue's own count of the account's open orders."""
    sim = svc.service.sim
    account = sim.exchange.account_by_key(acct["apiKey"])
    return sum(1 for o in sim.exchange.markets[venue].account_orders(account) if o.is_open)


async def statuses(svc: Svc, sid: str, ids: list[str]) -> set[int]:
    return {(await svc.order(sid, cl)).order_status for cl in ids}


# ------------------------------------------------------------------------------ cancel-on-disconnect


@pytest.mark.parametrize("venue", list(VENUES))
async def test_grpc_stream_gone_past_the_grace_cancels_at_the_venue(svc: Svc, venue: str) -> None:
    sid, acct = await start(svc, venue, cod=True, grace_ms=300)
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid), metadata=AUTH)
    await eventually(lambda: _streams(svc, sid, 1), "the stream is counted", WAIT_S)
    ids = await rest_orders(svc, venue, sid, 2)
    assert venue_open(svc, venue, acct) == 2
    gone = time.monotonic()
    stream.cancel()
    await eventually(lambda: _all_cancelled(svc, sid, ids), "orders cancelled after the grace", WAIT_S)
    elapsed = time.monotonic() - gone
    assert elapsed >= 0.3, elapsed  # not before the grace period
    assert venue_open(svc, venue, acct) == 0  # the venue cancelled them
    # reported on the update stream: the event naming the orders, then the cancels
    replay = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    got: list[om.SubscribeUpdatesResponse] = []
    deadline = time.monotonic() + WAIT_S
    while sum(1 for m in got if m.transaction.order_status == c.ORDER_STATUS_CANCELLED) < 2:
        got.append(await asyncio.wait_for(replay.read(), deadline - time.monotonic()))
    replay.cancel()
    events = [m.risk_event for m in got if m.HasField("risk_event")]
    assert [(e.event, sorted(e.cancelling_cl_order_ids)) for e in events] == [("cancelOnDisconnect", ids)]


async def _streams(svc: Svc, sid: str, n: int) -> bool:
    assert svc.service.engine is not None
    g = svc.service.engine.disconnect._guarded.get(sid)
    return g is not None and g.streams == n and g.timer is None


async def _all_cancelled(svc: Svc, sid: str, ids: list[str]) -> bool:
    return await statuses(svc, sid, ids) == {c.ORDER_STATUS_CANCELLED}


async def test_a_stream_back_within_the_grace_keeps_the_orders(svc: Svc) -> None:
    venue = "binance-spot"
    sid, acct = await start(svc, venue, cod=True, grace_ms=60_000)
    first = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid), metadata=AUTH)
    await eventually(lambda: _streams(svc, sid, 1), "the stream is counted", WAIT_S)
    ids = await rest_orders(svc, venue, sid, 2)
    first.cancel()
    assert svc.service.engine is not None
    guard = svc.service.engine.disconnect

    async def timing() -> bool:
        g = guard._guarded[sid]
        return g.streams == 0 and g.timer is not None

    await eventually(timing, "the grace period runs", WAIT_S)
    again = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid), metadata=AUTH)
    await eventually(lambda: _streams(svc, sid, 1), "the grace period stopped by the new stream", WAIT_S)
    assert await statuses(svc, sid, ids) == {c.ORDER_STATUS_NEW}
    assert venue_open(svc, venue, acct) == 2
    again.cancel()
    await svc.om.CancelAllOrders(om.CancelAllOrdersRequest(session_id=sid), metadata=AUTH)


async def test_without_cancel_on_disconnect_nothing_is_cancelled(svc: Svc) -> None:
    venue = "binance-spot"
    sid, acct = await start(svc, venue, cod=False)
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid), metadata=AUTH)
    ids = await rest_orders(svc, venue, sid, 1)
    stream.cancel()
    assert svc.service.engine is not None
    assert sid not in svc.service.engine.disconnect._guarded
    assert await statuses(svc, sid, ids) == {c.ORDER_STATUS_NEW}
    assert venue_open(svc, venue, acct) == 1
    await svc.om.CancelAllOrders(om.CancelAllOrdersRequest(session_id=sid), metadata=AUTH)


async def test_grpc_order_entry_stream_counts_as_a_connection(svc: Svc) -> None:
    venue = "okx"
    symbol, qty = VENUES[venue]
    sid, acct = await start(svc, venue, cod=True, grace_ms=200)
    bid, _ = await svc.top(venue, symbol)
    call = svc.om.OrderEntry(metadata=AUTH)
    await call.write(om.OrderEntryRequest(request_id=1, order=insert(sid, "e1", symbol, bid * D("0.97"), qty)))
    answer = await asyncio.wait_for(call.read(), WAIT_S)
    assert answer.status.code == 0 and answer.order.order_status == c.ORDER_STATUS_NEW, answer
    assert venue_open(svc, venue, acct) == 1
    call.cancel()
    await eventually(lambda: _all_cancelled(svc, sid, ["e1"]), "the order-entry stream's order cancelled", WAIT_S)
    assert venue_open(svc, venue, acct) == 0


async def test_rest_websocket_closed_cancels_after_the_grace(svc: Svc) -> None:
    venue = "bybit-linear"
    acct = await svc.admin_post("/admin/accounts", {})
    sid = uid("codrest")
    headers = {"x-api-key": KEY}
    body = {
        "sessionId": sid,
        "exchangeKey": {"exchange": venue, "apiKey": acct["apiKey"], "secretKey": acct["secretKey"]},
        "cancelOnDisconnect": True,
        "cancelOnDisconnectGraceMs": 250,
    }
    async with svc.http.post(svc.rest + "/startOrderHandler", json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
    ws = await svc.http.ws_connect(svc.rest.replace("http", "ws", 1) + "/subscribeUpdates", headers=headers)
    await ws.send_str(json.dumps({"sessionId": sid}))
    await eventually(lambda: _streams(svc, sid, 1), "the websocket is counted", WAIT_S)
    ids = await rest_orders(svc, venue, sid, 2)
    await ws.close()
    await eventually(lambda: _all_cancelled(svc, sid, ids), "orders cancelled after the websocket closed", WAIT_S)
    assert venue_open(svc, venue, acct) == 0


async def test_grace_beyond_an_hour_is_invalid_argument(svc: Svc) -> None:
    acct = await svc.admin_post("/admin/accounts", {})
    key = c.ExchangeKey(api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT)
    req = om.StartOrderHandlerRequest(
        session_id=uid("cod"), exchange_key=key, cancel_on_disconnect=True, cancel_on_disconnect_grace_ms=3_600_001
    )
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await svc.om.StartOrderHandler(req, metadata=AUTH)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cancelOnDisconnectGraceMs" in str(e.value.details())


# ------------------------------------------------------------------------------ truthful fill fields


@pytest.mark.parametrize("venue", VENUES)  # Deribit: the fee from private/get_user_trades_by_order, not FIX
async def test_fill_fields_are_the_venues_own(svc: Svc, venue: str) -> None:
    """A buy limit above the ask fills as a taker at the book's price: ``price`` is the order's limit,
    ``fillPrice`` the fill's, ``fee``/``feeCurrency`` the simulator's own fill, ``avgFillPrice`` their
    average; ``ListFills`` carries the same fee."""
    symbol, qty = VENUES[venue]
    sid, acct = await start(svc, venue, cod=False)
    _, ask = await svc.top(venue, symbol)
    limit = ask * D("1.002")
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    ack = await svc.om.SendOrder(insert(sid, "t1", symbol, limit, qty), metadata=AUTH)
    order_price = ack.order.price
    assert order_price >= float(ask)
    got: list[c.OrderTransaction] = []
    deadline = time.monotonic() + WAIT_S
    while not got or got[-1].order_status != c.ORDER_STATUS_FILLED or not got[-1].trade_id:
        msg = await asyncio.wait_for(stream.read(), deadline - time.monotonic())
        if msg.HasField("transaction"):
            got.append(msg.transaction)
    stream.cancel()
    fills = [t for t in got if t.trade_id]
    sim = svc.service.sim
    account = sim.exchange.account_by_key(acct["apiKey"])
    venue_fills = sim.exchange.markets[venue].account_trades(account, symbol)
    assert len(fills) == len(venue_fills) >= 1
    for t, f in zip(fills, venue_fills, strict=True):
        assert t.price == order_price and t.qty == float(qty)  # the order's, on every update
        assert t.fill_price == float(f.price)  # (quantities: contracts at the API, base units in the sim)
        # the venue's own figure: the simulator's fee as its wire writes it (Binance: 8 decimals)
        assert abs(D(repr(t.fee)) - f.fee) <= D("0.5e-8") and t.fee_currency == f.fee_asset, (t, f)
        assert t.fee != 0
    assert sum(D(repr(t.executed_qty)) for t in fills) == D(qty) == D(repr(fills[-1].cumulative_filled_qty))
    notional = sum((f.price * f.qty for f in venue_fills), D(0))
    avg = notional / sum((f.qty for f in venue_fills), D(0))
    assert abs(D(repr(fills[-1].avg_fill_price)) - avg) <= avg * D("1e-12")
    assert all(t.price == order_price for t in got if t.order_status != c.ORDER_STATUS_PENDING_NEW or t.price)
    listed = await svc.om.ListFills(om.ListFillsRequest(session_id=sid), metadata=AUTH)
    assert [(f.fee, f.fee_currency) for f in listed.fills] == [(t.fee, t.fee_currency) for t in fills]


# ------------------------------------------------------------------------------ the venue's own dead-man switch

DEAD_MAN_VENUES = {
    # venue -> how long after execx's death the venue cancels at the latest (s)
    "okx": 10.0 + 2.0,  # cancel-all-after: execx's floor of 10 s (heartbeat every ~3.3 s)
    "binance-usdm-future": 10.0 + 2.0,  # countdownCancelAll per symbol, the same floor
    "binance-coinm-future": 10.0 + 2.0,
    "deribit": 2.0,  # FIX Logon CancelOnDisconnect(9001)=Y: at once when the connection drops
    "pulse": 2.0,  # private/enable_cancel_on_disconnect: at once when the websocket drops
    # DCP: timeWindow 10 s (execx's floor) from the moment the private stream subscribed to dcp.future drops
    "bybit-linear": 10.0 + 2.0,
}


@pytest.mark.parametrize("venue", list(DEAD_MAN_VENUES))
async def test_kill_9_of_execx_the_venue_cancels_the_orders(tmp_path: Path, venue: str) -> None:
    """execx as its own process against ``execx-sim`` as another; a session with cancelOnDisconnect rests two
    orders, execx is killed with SIGKILL (nothing of execx runs after it), and the simulated venue cancels
    them by itself within the venue's timeout."""
    symbol, qty = VENUES[venue]
    sim = SimProcess(tmp_path, seed=14)
    sim.start()
    execx = ExecxProcess(tmp_path / "data")
    (tmp_path / "data").mkdir()
    try:
        ready = execx.start()
        async with aiohttp.ClientSession() as http:

            async def admin(method: str, path: str, **kw: Any) -> Any:
                async with http.request(method, sim.ready["admin"] + path, **kw) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            acct = await admin("POST", "/admin/accounts", json={})
            hosts = sim.ready["venues"][venue]
            async with grpc.aio.insecure_channel(ready["grpc"]) as channel:
                stub = om_grpc.OrderManagerServiceStub(channel)
                auth = (("x-api-key", FAULT_KEY),)
                sid = uid("dm")
                key = c.ExchangeKey(
                    api_key=acct["apiKey"],
                    secret_key=acct["secretKey"],
                    passphrase=acct.get("passphrase", ""),
                    exchange=exchange_enum(venue),
                )
                await stub.StartOrderHandler(
                    om.StartOrderHandlerRequest(
                        session_id=sid,
                        exchange_key=key,
                        rest_url=hosts["rest"],
                        ws_url=json.dumps(hosts),
                        cancel_on_disconnect=True,
                    ),
                    metadata=auth,
                )
                listed = await stub.ListSessions(om.ListSessionsRequest(), metadata=auth)
                assert next(s for s in listed.sessions if s.session_id == sid).venue_cancel_on_disconnect
                book = await admin("GET", "/admin/book", params={"market": venue, "symbol": symbol})
                bid = D(book["bids"][0][0])
                for i in range(2):
                    ack = await stub.SendOrder(insert(sid, f"k{i}", symbol, bid * D("0.97") - i, qty), metadata=auth)
                    assert ack.order.order_status == c.ORDER_STATUS_NEW, ack.order.message

            async def open_at_venue() -> int:
                hist = await admin("GET", "/admin/history", params={"apiKey": acct["apiKey"], "market": venue})
                return sum(1 for o in hist["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED"))

            assert await open_at_venue() == 2
            execx.kill()
            killed = time.monotonic()

            async def none_open() -> bool:
                return await open_at_venue() == 0

            await eventually(none_open, f"{venue} cancels after execx died", DEAD_MAN_VENUES[venue] + 5.0)
            log_ = (tmp_path / "execx.log").read_text(errors="replace")
            assert acct["secretKey"] not in log_
            print(f"{venue}: orders cancelled by the venue {time.monotonic() - killed:.2f}s after kill -9")
    finally:
        execx.stop()
        sim.stop()


async def test_the_setting_survives_a_restart_and_its_firing_is_counted(tmp_path: Path) -> None:
    """binance-spot (no venue dead-man switch: only execx's own layer). A session started with
    cancelOnDisconnect rests two orders; execx is stopped (SIGTERM keeps the orders) and started again on the
    same journal; the strategy starts the session again *without* the flag: it is guarded as journaled, so
    when its stream closes the orders are cancelled after the grace, and ``/metrics`` counts the firing."""
    venue = "binance-spot"
    symbol, qty = VENUES[venue]
    sim = SimProcess(tmp_path, seed=15)
    sim.start()
    execx = ExecxProcess(tmp_path / "data")
    (tmp_path / "data").mkdir()
    auth = (("x-api-key", FAULT_KEY),)
    sid = uid("cr")
    try:
        ready = execx.start()
        async with aiohttp.ClientSession() as http:

            async def admin(method: str, path: str, **kw: Any) -> Any:
                async with http.request(method, sim.ready["admin"] + path, **kw) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            acct = await admin("POST", "/admin/accounts", json={})
            hosts = sim.ready["venues"][venue]
            key = c.ExchangeKey(api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=exchange_enum(venue))

            def start_req(cod: bool) -> om.StartOrderHandlerRequest:
                return om.StartOrderHandlerRequest(
                    session_id=sid,
                    exchange_key=key,
                    rest_url=hosts["rest"],
                    ws_url=json.dumps(hosts),
                    cancel_on_disconnect=cod,
                    cancel_on_disconnect_grace_ms=300 if cod else 0,
                )

            async with grpc.aio.insecure_channel(ready["grpc"]) as channel:
                stub = om_grpc.OrderManagerServiceStub(channel)
                await stub.StartOrderHandler(start_req(True), metadata=auth)
                book = await admin("GET", "/admin/book", params={"market": venue, "symbol": symbol})
                bid = D(book["bids"][0][0])
                for i in range(2):
                    ack = await stub.SendOrder(insert(sid, f"k{i}", symbol, bid * D("0.97") - i, qty), metadata=auth)
                    assert ack.order.order_status == c.ORDER_STATUS_NEW, ack.order.message

            async def open_at_venue() -> int:
                hist = await admin("GET", "/admin/history", params={"apiKey": acct["apiKey"], "market": venue})
                return sum(1 for o in hist["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED"))

            execx.stop()  # SIGTERM: a deliberate stop keeps the orders
            assert await open_at_venue() == 2
            ready = execx.start()
            async with grpc.aio.insecure_channel(ready["grpc"]) as channel:
                stub = om_grpc.OrderManagerServiceStub(channel)
                await stub.StartOrderHandler(start_req(False), metadata=auth)
                call = stub.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=auth)
                await call.read()  # the stream is open (the journal's first record)
                call.cancel()

                async def none_open() -> bool:
                    return await open_at_venue() == 0

                await eventually(none_open, "the journaled cancel-on-disconnect cancels after the restart", WAIT_S)

                async def counted() -> bool:
                    async with http.get(ready["metrics"]) as r:
                        exposition = await r.text()
                    return (
                        'om_cancel_on_disconnect_fired_total{exchange="binance-spot"} 1.0' in exposition
                        and 'om_cancel_on_disconnect_cancels_total{exchange="binance-spot"} 2.0' in exposition
                    )

                await eventually(counted, "the firing counted in /metrics", WAIT_S)
                async with http.get(ready["metrics"]) as r:
                    exposition = await r.text()
                tool = shutil.which("promtool")
                if tool is not None:  # .ci/run installs it; test_algorithm_metrics skips without it
                    proc = await asyncio.create_subprocess_exec(
                        tool, "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=STDOUT
                    )
                    out, _ = await asyncio.wait_for(proc.communicate(exposition.encode()), 10)
                    assert proc.returncode == 0 and not out.strip(), out.decode()
    finally:
        execx.stop()
        sim.stop()


async def test_bybit_dcp_armed_with_the_flag_and_left_by_a_deliberate_stop(svc: Svc) -> None:
    """bybit-linear with cancelOnDisconnect: execx set the account's DCP window for DERIVATIVES (10 s, its
    floor) and its private stream subscribed ``dcp.future`` (``venueCancelOnDisconnect`` true); a deliberate
    ``stopOrderHandler`` leaves the topic before closing, so the venue starts no DCP timing and the order
    stays (the same as the other venues' dead-man switches set off by a deliberate stop)."""
    from execx_sim.venues.bybit.frontend import CategoryFrontend

    venue = "bybit-linear"
    sid, acct = await start(svc, venue, True, grace_ms=500)
    listed = await svc.om.ListSessions(om.ListSessionsRequest(), metadata=AUTH)
    assert next(s for s in listed.sessions if s.session_id == sid).venue_cancel_on_disconnect
    sim = svc.service.sim
    dcp = next(fe.venue_state.dcp for fe in sim.frontends if isinstance(fe, CategoryFrontend))
    account = sim.exchange.account_by_key(acct["apiKey"])
    assert account is not None and dcp.window(account, "DERIVATIVES") == 10
    await rest_orders(svc, venue, sid, 1)
    await svc.om.StopOrderHandler(om.StopOrderHandlerRequest(session_id=sid), metadata=AUTH)
    assert dcp.pending(account) == [] and venue_open(svc, venue, acct) == 1


# ------------------------------------------------------------------------------ getPosition without sessionId


async def test_rest_get_position_without_session_id_sums_the_exchanges_sessions(svc: Svc) -> None:
    """Seed 000 marks every getPosition field optional: without ``sessionId`` the answer is the position on
    the exchange and symbol across every session; without ``exchange`` too it is HTTP 400 naming it."""
    venue, symbol = "binance-usdm-future", "BTCUSDT"
    headers = {"x-api-key": KEY}
    _, ask = await svc.top(venue, symbol)
    sids = []
    for qty in ("0.002", "0.003"):
        sid, _ = await start(svc, venue, cod=False)
        ack = await svc.om.SendOrder(insert(sid, "p1", symbol, ask * D("1.002"), qty), metadata=AUTH)
        assert ack.order.order_status != c.ORDER_STATUS_REJECTED, ack.order.message
        sids.append(sid)

    async def filled() -> bool:
        return {(await svc.order(sid, "p1")).order_status for sid in sids} == {c.ORDER_STATUS_FILLED}

    await eventually(filled, "both buys filled", WAIT_S)
    listed = await svc.om.ListSessions(om.ListSessionsRequest(), metadata=AUTH)
    each = [
        D(
            repr(
                (
                    await svc.om.GetPosition(
                        om.GetPositionRequest(session_id=s.session_id, symbol=symbol), metadata=AUTH
                    )
                ).position
            )
        )
        for s in listed.sessions
        if s.exchange == c.EXCHANGE_BINANCE_USDM_FUTURE
    ]
    async with svc.http.post(
        svc.rest + "/getPosition", json={"symbol": symbol, "exchange": venue}, headers=headers
    ) as r:
        assert r.status == 200, await r.text()
        total = D(repr((await r.json())["position"]))
    assert total == sum(each, D(0)) and total >= D("0.005")
    async with svc.http.post(svc.rest + "/getPosition", json={"symbol": symbol}, headers=headers) as r:
        assert r.status == 400
        assert "exchange" in (await r.json())["message"]


# ------------------------------------------------------------------------------ the pull's answer


async def test_pull_answers_what_it_cancelled_and_echoes_the_request(svc: Svc) -> None:
    venue = "binance-spot"
    symbol, _ = VENUES[venue]
    sid, acct = await start(svc, venue, cod=False)
    pull = om.SendOrderRequest(
        session_id=sid, cl_order_id="pull-1", symbol=symbol, transaction_type=c.TRANSACTION_TYPE_PULL
    )
    empty = (await svc.om.SendOrder(pull, metadata=AUTH)).order
    assert (empty.cl_order_id, empty.symbol, empty.session_id) == ("pull-1", symbol, sid)
    assert (empty.order_type, empty.side, empty.tif) == (
        c.ORDER_TYPE_UNSPECIFIED,
        c.SIDE_UNSPECIFIED,
        c.TIME_IN_FORCE_UNSPECIFIED,
    )
    assert empty.transaction_type == c.TRANSACTION_TYPE_PULL and empty.message == "pull: no open orders"
    ids = await rest_orders(svc, venue, sid, 2)
    pull.cl_order_id = "pull-2"
    done = (await svc.om.SendOrder(pull, metadata=AUTH)).order
    assert done.cl_order_id == "pull-2" and done.order_status == c.ORDER_STATUS_CANCELLED
    assert done.message.startswith("pull: 2 cancelled: ") and sorted(done.message[19:].split(", ")) == ids
    assert venue_open(svc, venue, acct) == 0


# ------------------------------------------------------------------------------ one update per state change


async def test_keep_priority_amend_is_one_update(svc: Svc) -> None:
    """binance-spot amends a pure quantity decrease with amend/keepPriority: its answer and the user stream's
    REPLACED report are one state change, so one update (the delete after it orders the stream)."""
    venue = "binance-spot"
    symbol, _ = VENUES[venue]
    sid, _acct = await start(svc, venue, cod=False)
    bid, _ = await svc.top(venue, symbol)
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    await svc.om.SendOrder(insert(sid, "a1", symbol, bid * D("0.97"), "0.003"), metadata=AUTH)
    amend = om.SendOrderRequest(
        session_id=sid, cl_order_id="a1", symbol=symbol, qty=0.002, transaction_type=c.TRANSACTION_TYPE_UPDATE
    )
    up = (await svc.om.SendOrder(amend, metadata=AUTH)).order
    assert up.qty == 0.002 and "keepPriority" in up.message
    delete = om.SendOrderRequest(
        session_id=sid, cl_order_id="a1", symbol=symbol, transaction_type=c.TRANSACTION_TYPE_DELETE
    )
    await svc.om.SendOrder(delete, metadata=AUTH)
    got: list[c.OrderTransaction] = []
    deadline = time.monotonic() + WAIT_S
    while not got or got[-1].order_status != c.ORDER_STATUS_CANCELLED:
        msg = await asyncio.wait_for(stream.read(), deadline - time.monotonic())
        got.append(msg.transaction)
    stream.cancel()
    statuses_seen = [(t.order_status, t.qty) for t in got]
    assert statuses_seen == [
        (c.ORDER_STATUS_PENDING_NEW, 0.003),
        (c.ORDER_STATUS_NEW, 0.003),
        (c.ORDER_STATUS_PENDING_UPDATE, 0.003),
        (c.ORDER_STATUS_NEW, 0.002),
        (c.ORDER_STATUS_PENDING_CANCEL, 0.002),
        (c.ORDER_STATUS_CANCELLED, 0.002),
    ], statuses_seen
