"""Pre-trade risk limits and the kill switch (issue 14, items 2 and 3) through the running service
(``execx --sim`` in this process), over gRPC and the REST gateway. Every refusal is FAILED_PRECONDITION
naming the limit, and the simulated venue's own order count (Binance ``X-MBX-ORDER-COUNT-1D``) shows
that nothing was sent."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import market_data_pb2 as md
from execx.v1 import order_manager_pb2 as om
from execx_server.app import Service, Settings
from jsonrpc_venue_helpers import Svc, running_service
from market_helpers import AUTH, KEY, Reader, uid
from market_helpers import Svc as MarketSvc

HEADERS = {"x-api-key": KEY}
WAIT_S = 10.0
SPOT = "binance-spot"


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running_service(tmp_path_factory.mktemp("execx-risk"), c.EXCHANGE_BINANCE_SPOT) as s:
        yield s


def order(sid: str, cl: str, price: float, qty: float, side: int = c.SIDE_BUY, symbol: str = "BTCUSDT") -> Any:
    return om.SendOrderRequest(
        session_id=sid,
        cl_order_id=cl,
        symbol=symbol,
        price=price,
        qty=qty,
        order_type=c.ORDER_TYPE_LIMIT,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        tif=c.TIME_IN_FORCE_GTC,
        side=side,
    )


async def start(svc: MarketSvc, acct: dict[str, str], limits: om.RiskLimits | None = None, sid: str = "") -> str:
    sid = sid or uid("r")
    key = c.ExchangeKey(api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT)
    req = om.StartOrderHandlerRequest(session_id=sid, exchange_key=key)
    if limits is not None:
        req.risk_limits.CopyFrom(limits)
    await svc.om.StartOrderHandler(req, metadata=AUTH)
    return sid


async def refused(svc: MarketSvc, req: Any, limit: str, call: str = "SendOrder") -> str:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await getattr(svc.om, call)(req, metadata=AUTH)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value.details()
    details = str(e.value.details())
    assert f"risk limit {limit}:" in details, details
    return details


def binance_sign(secret: str, params: dict[str, str]) -> str:
    query = urllib.parse.urlencode(params)
    return query + "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


async def venue_order_count(svc: MarketSvc, acct: dict[str, str]) -> int:
    """The venue's count of the account's new-order requests today: one order sent directly to the simulated
    Binance spot REST API answers with ``X-MBX-ORDER-COUNT-1D`` (that order, cancelled again, excluded)."""
    rest = svc.sim["venues"][SPOT]["rest"]
    bid, _ = await ftop(svc, "BTCUSDT")
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.001",
        "price": f"{bid * 0.5:.2f}",
        "newClientOrderId": uid("probe"),
        "timestamp": str(int(time.time() * 1000)),
    }
    url = f"{rest}/api/v3/order?{binance_sign(acct['secretKey'], params)}"
    async with svc.http.post(url, headers={"X-MBX-APIKEY": acct["apiKey"]}) as r:
        assert r.status == 200, await r.text()
        count = int(r.headers["X-MBX-ORDER-COUNT-1D"])
    cancel = {"symbol": "BTCUSDT", "origClientOrderId": params["newClientOrderId"], "timestamp": params["timestamp"]}
    async with svc.http.delete(
        f"{rest}/api/v3/order?{binance_sign(acct['secretKey'], cancel)}", headers={"X-MBX-APIKEY": acct["apiKey"]}
    ) as r:
        assert r.status == 200, await r.text()
    return count - 1 - getattr(svc, "_probes", {}).get(acct["apiKey"], 0)


async def probe_count(svc: MarketSvc, acct: dict[str, str]) -> int:
    """``venue_order_count``, remembering the probe order it sent itself."""
    n = await venue_order_count(svc, acct)
    probes: dict[str, int] = getattr(svc, "_probes", {})
    probes[acct["apiKey"]] = probes.get(acct["apiKey"], 0) + 1
    svc._probes = probes  # type: ignore[attr-defined]
    return n


async def ftop(svc: MarketSvc, symbol: str) -> tuple[float, float]:
    bid, ask = await svc.top(SPOT, symbol)
    return float(bid), float(ask)


def refusals(svc: MarketSvc, limit: str) -> float:
    value = svc.service.metrics.registry.get_sample_value("om_risk_refusals_total", {"exchange": SPOT, "limit": limit})
    return value or 0.0


async def open_ids(svc: MarketSvc, sid: str) -> set[str]:
    listed = await svc.om.ListOrders(om.ListOrdersRequest(session_id=sid, open_only=True), metadata=AUTH)
    return {o.cl_order_id for o in listed.orders}


# ------------------------------------------------------------------------------------------------ limits


async def test_grpc_every_limit_refuses_before_sending(svc: Svc) -> None:
    acct = await svc.admin_post("/admin/accounts", {})
    bid, _ = await ftop(svc, "BTCUSDT")
    p = float(round(bid * 0.5, 2))  # rests far below the book
    notional = round(p * 0.005 + 1, 2)  # 0.005 at p passes, 0.006 does not
    sid = await start(svc, acct, om.RiskLimits(max_order_qty=0.01, max_order_notional=notional))
    got = await svc.om.GetRiskLimits(om.GetRiskLimitsRequest(session_id=sid), metadata=AUTH)
    assert got.limits.max_order_qty == 0.01 and not got.limits.HasField("max_open_orders") and not got.kill_switch
    before = refusals(svc, "maxOrderQty")
    await refused(svc, order(sid, "q1", p, 0.02), "maxOrderQty")
    assert refusals(svc, "maxOrderQty") == before + 1
    await refused(svc, order(sid, "n1", p, 0.006), "maxOrderNotional")
    ok = await svc.om.SendOrder(order(sid, "a1", p, 0.001), metadata=AUTH)
    assert ok.order.order_status == c.ORDER_STATUS_NEW
    sent = 1

    # changed at run time: open orders
    await svc.om.SetRiskLimits(
        om.SetRiskLimitsRequest(session_id=sid, limits=om.RiskLimits(max_open_orders=2)), metadata=AUTH
    )
    await svc.om.SendOrder(order(sid, "a2", p, 0.001), metadata=AUTH)
    sent += 1
    await refused(svc, order(sid, "o1", p, 0.02), "maxOpenOrders")  # maxOrderQty is gone: replaced
    assert await open_ids(svc, sid) == {"a1", "a2"}

    # position: the open buys (0.002) count as if filled
    await svc.om.SetRiskLimits(
        om.SetRiskLimitsRequest(
            session_id=sid, limits=om.RiskLimits(max_position_long=0.0025, max_position_short=0.0005)
        ),
        metadata=AUTH,
    )
    await refused(svc, order(sid, "l1", p, 0.001), "maxPositionLong")
    await refused(svc, order(sid, "s1", float(round(bid * 2, 2)), 0.001, c.SIDE_SELL), "maxPositionShort")

    # amend: the new quantity is checked, the order is unchanged
    await svc.om.SetRiskLimits(
        om.SetRiskLimitsRequest(session_id=sid, limits=om.RiskLimits(max_order_qty=0.002)), metadata=AUTH
    )
    amend = om.SendOrderRequest(session_id=sid, cl_order_id="a1", qty=0.003, transaction_type=c.TRANSACTION_TYPE_UPDATE)
    await refused(svc, amend, "maxOrderQty")
    assert (await svc.order(sid, "a1")).qty == 0.001

    # order rate: four at once, two per second allowed
    await svc.om.SetRiskLimits(
        om.SetRiskLimitsRequest(session_id=sid, limits=om.RiskLimits(max_orders_per_second=2)), metadata=AUTH
    )
    results = await asyncio.gather(
        *(svc.om.SendOrder(order(sid, f"rt{i}", p, 0.001), metadata=AUTH) for i in range(4)), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(errors) == 2 and all(
        e.code() == grpc.StatusCode.FAILED_PRECONDITION and "maxOrdersPerSecond" in str(e.details()) for e in errors
    ), results
    sent += 2
    assert await probe_count(svc, acct) == sent  # the venue saw exactly the accepted inserts


async def test_grpc_price_band_on_the_fresh_mid_and_refused_without_one(svc: Svc) -> None:
    acct = await svc.admin_post("/admin/accounts", {})
    sid = await start(svc, acct, om.RiskLimits(price_band_pct=2.0))
    bid, ask = await ftop(svc, "BTCUSDT")
    mid = (bid + ask) / 2
    # no market-data feed for the symbol yet: a band cannot be checked, the order is refused
    details = await refused(svc, order(sid, "nb1", float(round(mid * 0.99, 2)), 0.001), "priceBand")
    assert "no fresh market-data mid" in details
    feed = Reader(
        svc.md.SubscribeMarketData(
            md.SubscribeMarketDataRequest(exchange=c.EXCHANGE_BINANCE_SPOT, symbol="BTCUSDT"), metadata=AUTH
        )
    )
    try:
        for _ in range(30):  # a quote once the venue subscription is up (the quiet book moves only when told)
            await svc.move(SPOT, "BTCUSDT", str(round(mid, 2)))
            try:
                await feed.wait(lambda m: m.HasField("quote"), "a quote", within_s=0.5)
                break
            except AssertionError:
                continue
        await refused(svc, order(sid, "b1", float(round(mid * 1.03, 2)), 0.001), "priceBand")
        await refused(svc, order(sid, "b2", float(round(mid * 0.97, 2)), 0.001, c.SIDE_SELL), "priceBand")
        assert await probe_count(svc, acct) == 0
        ok = await svc.om.SendOrder(order(sid, "b3", float(round(mid * 0.9, 2)), 0.001), metadata=AUTH)
        assert ok.order.order_status == c.ORDER_STATUS_NEW  # a buy far below the mid is not through it
    finally:
        await feed.close()


async def test_rest_limits_at_start_and_at_run_time(svc: Svc) -> None:
    acct = await svc.admin_post("/admin/accounts", {})
    rest, sid = svc.rest, uid("rr")
    bid, _ = await ftop(svc, "ETHUSDT")
    price = float(round(bid * 0.5, 2))
    start_body = {
        "sessionId": sid,
        "exchangeKey": {"exchange": SPOT, "apiKey": acct["apiKey"], "secretKey": acct["secretKey"]},
        "riskLimits": {"maxOrderQty": 0.5, "maxOpenOrders": 5},
    }
    async with svc.http.post(f"{rest}/startOrderHandler", json=start_body | {"sessionId": "all"}, headers=HEADERS) as r:
        body = await r.json()
        assert r.status == 400 and body["message"].startswith("sessionId: 'all' is reserved"), body
    async with svc.http.post(f"{rest}/startOrderHandler", json=start_body, headers=HEADERS) as r:
        assert r.status == 200, await r.text()
    send = {
        "sessionId": sid,
        "clOrderId": "e1",
        "symbol": "ETHUSDT",
        "price": price,
        "qty": 1.0,
        "orderType": "limit",
        "transactionType": "insert",
        "side": "buy",
    }
    async with svc.http.post(f"{rest}/sendOrder", json=send, headers=HEADERS) as r:
        body = await r.json()
        assert r.status == 400 and body["code"] == 9 and "risk limit maxOrderQty" in body["message"], body
    limits = {"sessionId": sid, "limits": {"maxOrderQty": 2, "priceBandPct": 1.5}}
    async with svc.http.post(f"{rest}/setRiskLimits", json=limits, headers=HEADERS) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["limits"] == {"maxOrderQty": 2, "priceBandPct": 1.5}
    async with svc.http.post(f"{rest}/getRiskLimits", json={"sessionId": sid}, headers=HEADERS) as r:
        got = await r.json()
        assert got["limits"] == {"maxOrderQty": 2, "priceBandPct": 1.5} and not got.get("killSwitch"), got
    # maxOrderQty now lets it through; the band refuses it: nobody watches ETHUSDT, so there is no mid
    async with svc.http.post(f"{rest}/sendOrder", json=send, headers=HEADERS) as r:
        body = await r.json()
        assert r.status == 400 and "risk limit priceBand" in body["message"], body
    async with svc.http.post(f"{rest}/setRiskLimits", json={"sessionId": sid, "limits": {}}, headers=HEADERS) as r:
        assert r.status == 200
    async with svc.http.post(f"{rest}/sendOrder", json=send, headers=HEADERS) as r:
        assert r.status == 200 and (await r.json())["order"]["orderStatus"] == "new"
    assert await probe_count(svc, acct) == 1
    async with svc.http.post(f"{rest}/setRiskLimits", json={"sessionId": sid, "limits": {"maxOrderQty": 0}}) as r:
        assert r.status == 401
    async with svc.http.post(
        f"{rest}/setRiskLimits", json={"sessionId": sid, "limits": {"maxOrderQty": 0}}, headers=HEADERS
    ) as r:
        body = await r.json()
        assert r.status == 400 and "limits.maxOrderQty" in body["message"], body


# ------------------------------------------------------------------------------------------------ kill switch


async def test_grpc_kill_switch_cancels_all_refuses_inserts_and_amends_allows_deletes(svc: Svc) -> None:
    acct = await svc.admin_post("/admin/accounts", {})
    sid = await start(svc, acct)
    bid, _ = await ftop(svc, "BTCUSDT")
    eth, _ = await ftop(svc, "ETHUSDT")
    p = float(round(bid * 0.5, 2))
    stream = svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH)
    for cl, price, symbol in (
        ("k1", p, "BTCUSDT"),
        ("k2", p, "BTCUSDT"),
        ("k3", float(round(eth * 0.5, 2)), "ETHUSDT"),
    ):
        await svc.om.SendOrder(
            order(sid, cl, price, 0.01 if symbol == "ETHUSDT" else 0.001, symbol=symbol), metadata=AUTH
        )
    assert await open_ids(svc, sid) == {"k1", "k2", "k3"}
    cancels = svc.service.metrics.registry.get_sample_value("om_kill_switch_cancels_total", {"exchange": SPOT}) or 0
    out = await svc.om.EngageKillSwitch(om.EngageKillSwitchRequest(session_id=sid, reason="test halt"), metadata=AUTH)
    assert sorted(out.cl_order_ids) == ["k1", "k2", "k3"]
    assert await open_ids(svc, sid) == set()
    for cl in ("k1", "k2", "k3"):
        assert (await svc.order(sid, cl)).order_status == c.ORDER_STATUS_CANCELLED
    reg = svc.service.metrics.registry
    assert reg.get_sample_value("om_kill_switch_cancels_total", {"exchange": SPOT}) == cancels + 3
    assert reg.get_sample_value("om_kill_switch_engaged", {"scope": "session"}) >= 1  # type: ignore[operator]
    # on the update stream: the event, then the cancels
    events: list[om.SubscribeUpdatesResponse] = []
    deadline = time.monotonic() + WAIT_S
    while sum(1 for m in events if m.transaction.order_status == c.ORDER_STATUS_CANCELLED) < 3:
        events.append(await asyncio.wait_for(stream.read(), deadline - time.monotonic()))
    stream.cancel()
    risk_events = [m.risk_event for m in events if m.HasField("risk_event")]
    assert len(risk_events) == 1
    ev = risk_events[0]
    assert (ev.event, ev.scope, ev.kill_switch, ev.reason) == ("killSwitchEngaged", "session", True, "test halt")
    assert sorted(ev.cancelling_cl_order_ids) == ["k1", "k2", "k3"] and ev.seq > 0
    # nothing can be sent while it is on
    count = await probe_count(svc, acct)
    details = await refused(svc, order(sid, "k4", p, 0.001), "killSwitch")
    assert "test halt" in details
    assert await probe_count(svc, acct) == count
    # re-armed: orders go out again
    await svc.om.ReleaseKillSwitch(om.ReleaseKillSwitchRequest(session_id=sid), metadata=AUTH)
    ok = await svc.om.SendOrder(order(sid, "k5", p, 0.001), metadata=AUTH)
    assert ok.order.order_status == c.ORDER_STATUS_NEW
    assert await probe_count(svc, acct) == count + 1


async def test_kill_switch_refuses_amends_of_an_order_its_cancel_missed_and_allows_its_delete(svc: Svc) -> None:
    """The venue refuses the kill switch's cancel (IP ban): the order stays open; amending it is refused,
    deleting it works."""
    acct = await svc.admin_post("/admin/accounts", {})
    sid = await start(svc, acct)
    bid, _ = await ftop(svc, "BTCUSDT")
    p = float(round(bid * 0.5, 2))
    await svc.om.SendOrder(order(sid, "m1", p, 0.001), metadata=AUTH)
    await svc.admin_post(f"/admin/faults/{SPOT}", {"ban": 1000, "retry_after_s": 0})
    try:
        await svc.om.EngageKillSwitch(om.EngageKillSwitchRequest(session_id=sid), metadata=AUTH)
    finally:
        async with svc.http.delete(f"{svc.admin}/admin/faults/{SPOT}") as r:
            assert r.status == 200
    assert await open_ids(svc, sid) == {"m1"}
    amend = om.SendOrderRequest(
        session_id=sid, cl_order_id="m1", price=p - 1, transaction_type=c.TRANSACTION_TYPE_UPDATE
    )
    await refused(svc, amend, "killSwitch")
    delete = om.SendOrderRequest(session_id=sid, cl_order_id="m1", transaction_type=c.TRANSACTION_TYPE_DELETE)
    gone = await svc.om.SendOrder(delete, metadata=AUTH)
    assert gone.order.order_status == c.ORDER_STATUS_CANCELLED
    await svc.om.ReleaseKillSwitch(om.ReleaseKillSwitchRequest(session_id=sid), metadata=AUTH)


async def test_rest_global_kill_switch_covers_every_session_and_later_ones(svc: Svc) -> None:
    rest = svc.rest
    bid, _ = await ftop(svc, "BTCUSDT")
    p = float(round(bid * 0.5, 2))
    accts = [await svc.admin_post("/admin/accounts", {}) for _ in range(2)]
    sids = [await start(svc, a) for a in accts]
    for sid in sids:
        await svc.om.SendOrder(order(sid, "g1", p, 0.001), metadata=AUTH)

    async def post(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with svc.http.post(f"{rest}{path}", json=body, headers=HEADERS) as r:
            return r.status, await r.json()

    async with svc.http.ws_connect(f"{rest}/subscribeUpdates", headers=HEADERS) as ws:
        await ws.send_json({"sessionId": sids[0]})
        status, out = await post("/engageKillSwitch", {"sessionId": "all", "reason": "desk-wide stop"})
        # every session's open orders (the module's other sessions too), both g1 among them
        assert status == 200 and out["clOrderIds"].count("g1") == 2, out
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + WAIT_S
        while not any("riskEvent" in m for m in seen):
            seen.append(await ws.receive_json(timeout=deadline - time.monotonic()))
        ev = next(m["riskEvent"] for m in seen if "riskEvent" in m)
        assert ev["event"] == "killSwitchEngaged" and ev["scope"] == "global" and ev["globalKillSwitch"], ev
        assert ev["reason"] == "desk-wide stop" and ev["cancellingClOrderIds"] == ["g1"]
    for sid in sids:
        assert await open_ids(svc, sid) == set()
    later = await start(svc, await svc.admin_post("/admin/accounts", {}))
    for sid in (*sids, later):
        status, body = await post(
            "/sendOrder",
            {
                "sessionId": sid,
                "clOrderId": "g2",
                "symbol": "BTCUSDT",
                "price": p,
                "qty": 0.001,
                "orderType": "limit",
                "transactionType": "insert",
                "side": "buy",
            },
        )
        assert status == 400 and "risk limit killSwitch" in body["message"] and "global" in body["message"], body
    status, got = await post("/getRiskLimits", {"sessionId": later})
    assert got["globalKillSwitch"] is True and got["reason"] == "desk-wide stop", got
    assert svc.service.metrics.registry.get_sample_value("om_kill_switch_engaged", {"scope": "global"}) == 1
    status, _ = await post("/releaseKillSwitch", {"sessionId": "all"})
    assert status == 200
    assert svc.service.metrics.registry.get_sample_value("om_kill_switch_engaged", {"scope": "global"}) == 0
    ok = await svc.om.SendOrder(order(later, "g3", p, 0.001), metadata=AUTH)
    assert ok.order.order_status == c.ORDER_STATUS_NEW
    for a in accts:
        assert await probe_count(svc, a) == 1  # g1 only


async def test_engaged_kill_switch_and_limits_survive_a_restart(tmp_path: Path) -> None:
    from execx_sim.app import Simulator

    settings = Settings(key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=tmp_path, sim=True)
    async with Simulator(quiet=True) as venue, aiohttp.ClientSession() as http:  # the venue outlives execx
        first = Service(settings, simulator=venue)
        await first.start()
        s = MarketSvc(first, http)
        acct = await s.admin_post("/admin/accounts", {})
        sid = await start(s, acct, om.RiskLimits(max_order_qty=0.005))
        await s.om.EngageKillSwitch(om.EngageKillSwitchRequest(session_id=sid, reason="before restart"), metadata=AUTH)
        await s.channel.close()
        await first.stop()

        second = Service(settings, simulator=venue)
        await second.start()
        try:
            s = MarketSvc(second, http)
            await start(s, acct, sid=sid)  # resumed, no limits given: it keeps its own
            got = await s.om.GetRiskLimits(om.GetRiskLimitsRequest(session_id=sid), metadata=AUTH)
            assert got.kill_switch and got.reason == "before restart" and got.limits.max_order_qty == 0.005
            bid, _ = await ftop(s, "BTCUSDT")
            p = float(round(bid * 0.5, 2))
            await refused(s, order(sid, "x1", p, 0.001), "killSwitch")
            await s.om.ReleaseKillSwitch(om.ReleaseKillSwitchRequest(session_id=sid), metadata=AUTH)
            await refused(s, order(sid, "x2", p, 0.01), "maxOrderQty")
            ok = await s.om.SendOrder(order(sid, "x3", p, 0.001), metadata=AUTH)
            assert ok.order.order_status == c.ORDER_STATUS_NEW
            await s.channel.close()
        finally:
            await second.stop()
