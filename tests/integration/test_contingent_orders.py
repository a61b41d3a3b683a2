"""Contingent orders (issue 20) end to end over gRPC and REST: execx --sim (quiet book), the market driven by
the simulator's admin API (/admin/market/trade, /admin/market/move).

Covered: a stop-market buy on last (a print below the level fires nothing, one at or beyond it fires it once;
pendingtrigger → triggered on the stream, then the order's own lifecycle under the same clOrderId, filled at
the venue), a stop-limit sell via REST (the seed's JSON plus triggerKind / triggerPrice), a trailing-stop buy
on mark (the level follows the mid down, fires on the rebound), amend and cancel of an armed order, a pull
disarming, validation naming the field with nothing armed, an armed stop surviving a restart and firing on
the first mark after it, OTOCO (working leg filled → the bracket armed; the stop firing cancels the
take-profit; every leg's update carries groupId), OCO via REST cancelled as a group.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from algo_helpers import execx, poll, sim_trade, simulator, venue_open_orders
from execx.v1 import common_pb2 as c
from execx.v1 import contingent_order_pb2 as co
from execx.v1 import contingent_order_pb2_grpc as co_grpc
from execx.v1 import market_data_pb2 as md
from execx.v1 import order_manager_pb2 as om
from execx_server.domain.enums import Exchange
from market_helpers import AUTH, KEY, WAIT_S, Reader, Svc, exchange_enum, running, uid

D = Decimal
VENUE, SYMBOL, EX = "binance-spot", "BTCUSDT", c.EXCHANGE_BINANCE_SPOT
PENDING, TRIGGERED = c.ORDER_STATUS_PENDING_TRIGGER, c.ORDER_STATUS_TRIGGERED


@contextlib.asynccontextmanager
async def watched(data_dir: Path) -> AsyncIterator[Svc]:
    """execx --sim on a simulator of its own, with a market-data stream that keeps the hub's feed of the
    symbol open for every test (fresh() waits on it)."""
    async with running(data_dir, 120) as s:
        feed = Reader(
            s.md.SubscribeMarketData(md.SubscribeMarketDataRequest(exchange=EX, symbol=SYMBOL), metadata=AUTH)
        )
        try:
            yield s
        finally:
            await feed.close()


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with watched(tmp_path_factory.mktemp("execx-contingent")) as s:
        yield s


async def fresh(svc: Svc, price: str = "97000") -> tuple[Decimal, Decimal]:
    """Move the book until the hub's feed is fresh; the best bid and ask."""
    hub = svc.service.market_data
    assert hub is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        await svc.move(VENUE, SYMBOL, price)
        feed = hub.feeds.get((Exchange.BINANCE_SPOT, SYMBOL))
        if feed is not None and not feed.stale:
            return await svc.top(VENUE, SYMBOL)
        assert loop.time() < deadline, "the feed never became fresh"
        await asyncio.sleep(0.05)  # the poll interval


def stop(sid: str, cl: str, side: int, trigger: Decimal, **kw: object) -> om.SendOrderRequest:
    """A stop-market insert; ``emulate`` by default: this module tests emulation, on Binance spot, whose stops on
    the last price are native otherwise (test_contingent_native.py)."""
    fields: dict[str, object] = dict(
        cl_order_id=cl,
        symbol=SYMBOL,
        session_id=sid,
        qty=0.001,
        order_type=c.ORDER_TYPE_MARKET,
        transaction_type=c.TRANSACTION_TYPE_INSERT,
        side=side,
        trigger_kind=om.TRIGGER_KIND_STOP,
        trigger_price=float(trigger),
        emulate=True,
    )
    fields.update(kw)
    return om.SendOrderRequest(**fields)  # type: ignore[arg-type]


def updates(svc: Svc, sid: str) -> Reader:
    return Reader(svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid, from_seq=1), metadata=AUTH))


def events(r: Reader, cl: str) -> list[int]:
    return [
        m.contingent_event.status
        for m in r.got
        if m.HasField("contingent_event") and m.contingent_event.cl_order_id == cl
    ]


def statuses(r: Reader, cl: str) -> list[int]:
    return [m.transaction.order_status for m in r.got if m.HasField("transaction") and m.transaction.cl_order_id == cl]


async def test_stop_market_fires_once_then_the_order_lifecycle(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    _, ask = await fresh(svc)
    level = ask + 50
    r = updates(svc, sid)
    try:
        cl = uid("stp")
        ans = await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, level), metadata=AUTH)
        assert ans.order.order_status == PENDING and ans.order.cl_order_id == cl
        await r.wait(lambda m: m.contingent_event.cl_order_id == cl, "pendingtrigger event")
        # idempotent: the same request answers the armed order
        again = await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, level), metadata=AUTH)
        assert again.order.order_status == PENDING
        await svc.trade(VENUE, SYMBOL, level - 10, D("0.0001"), "buy")  # below a buy stop: nothing
        assert svc.service.contingent_orders is not None
        assert svc.service.contingent_orders.get(sid, cl).status.value == "pendingtrigger"  # type: ignore[union-attr]
        await svc.trade(VENUE, SYMBOL, level + 20, D("0.0001"), "buy")  # gapped through: fires
        await r.wait(
            lambda m: m.transaction.cl_order_id == cl and m.transaction.order_status == c.ORDER_STATUS_FILLED,
            "child filled",
        )
        await svc.trade(VENUE, SYMBOL, level + 30, D("0.0001"), "buy")  # fires once only
        assert events(r, cl) == [PENDING, TRIGGERED]
        trig = next(
            m.contingent_event
            for m in r.got
            if m.contingent_event.status == TRIGGERED and m.contingent_event.cl_order_id == cl
        )
        assert D(str(trig.reference_price)) == level + 20 and D(str(trig.trigger_price)) == level
        assert statuses(r, cl)[0] == c.ORDER_STATUS_PENDING_NEW
        got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
        assert got.order.order_status == c.ORDER_STATUS_FILLED
    finally:
        await r.close()


async def test_stop_limit_via_rest_amend_and_cancel(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    bid, _ = await fresh(svc)
    cl = uid("sl")
    body = {
        "clOrderId": cl,
        "symbol": SYMBOL,
        "sessionId": sid,
        "price": float(bid - 200),
        "qty": 0.001,
        "orderType": "limit",
        "transactionType": "insert",
        "tif": "gtc",
        "side": "sell",
        "triggerKind": "stop",
        "emulate": True,
        "triggerPrice": float(bid - 100),
    }
    headers = {"x-api-key": KEY}
    async with svc.http.post(f"{svc.rest}/sendOrder", json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["order"]["orderStatus"] == "pendingtrigger"
    # amend the armed order: a new trigger level
    amend = {
        "clOrderId": cl,
        "symbol": SYMBOL,
        "sessionId": sid,
        "transactionType": "update",
        "triggerPrice": float(bid - 150),
    }
    async with svc.http.post(f"{svc.rest}/sendOrder", json=amend, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
    co_ = svc.service.contingent_orders
    assert co_ is not None
    armed = co_.get(sid, cl)
    assert armed is not None and armed.state is not None and armed.state.level == bid - 150
    await svc.trade(VENUE, SYMBOL, bid - 120, D("0.0001"), "sell")  # above the amended level: nothing
    assert armed.status.value == "pendingtrigger"
    listed = {"sessionId": sid, "symbol": SYMBOL}
    async with svc.http.post(f"{svc.rest}/listContingentOrders", json=listed, headers=headers) as resp:
        rows = (await resp.json())["orders"]
        assert [(o["clOrderId"], o["status"], o["triggerKind"]) for o in rows] == [(cl, "pendingtrigger", "stop")]
        assert D(str(rows[0]["triggerPrice"])) == bid - 150 and rows[0]["side"] == "sell"
    delete = {"clOrderId": cl, "symbol": SYMBOL, "sessionId": sid, "transactionType": "delete"}
    async with svc.http.post(f"{svc.rest}/sendOrder", json=delete, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["order"]["orderStatus"] == "cancelled"
    await svc.trade(VENUE, SYMBOL, bid - 300, D("0.0001"), "sell")  # cancelled: nothing fires
    assert armed.status.value == "cancelled"
    async with svc.http.post(f"{svc.rest}/listContingentOrders", json=listed, headers=headers) as resp:
        assert (await resp.json())["orders"] == []
    listed["includeFinished"] = True
    async with svc.http.post(f"{svc.rest}/listContingentOrders", json=listed, headers=headers) as resp:
        assert [o["status"] for o in (await resp.json())["orders"]] == ["cancelled"]
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND  # never sent


async def test_trailing_stop_on_mark_follows_the_mid(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    await fresh(svc, "97000")
    r = updates(svc, sid)
    try:
        cl = uid("trl")
        req = om.SendOrderRequest(
            cl_order_id=cl,
            symbol=SYMBOL,
            session_id=sid,
            qty=0.001,
            order_type=c.ORDER_TYPE_MARKET,
            transaction_type=c.TRANSACTION_TYPE_INSERT,
            side=c.SIDE_BUY,
            trigger_kind=om.TRIGGER_KIND_TRAILING_STOP,
            trigger_reference=om.TRIGGER_REFERENCE_MARK,
            trailing_amount=100,
        )
        await svc.om.SendOrder(req, metadata=AUTH)
        co_ = svc.service.contingent_orders
        assert co_ is not None
        armed = co_.get(sid, cl)
        assert armed is not None
        await poll(
            lambda: svc.move(VENUE, SYMBOL, "96500"),
            lambda _: armed.state is not None and armed.state.best is not None and armed.state.best < 96600,
            "the trail follows the mid down",
        )
        assert armed.status.value == "pendingtrigger"
        level = armed.state.level  # type: ignore[union-attr]
        assert level is not None and level < D(96700)
        await svc.move(VENUE, SYMBOL, "96560")  # up less than 100 from the low: nothing
        assert armed.status.value == "pendingtrigger"
        await svc.move(VENUE, SYMBOL, str(level + 50))  # the rebound beyond the level fires it
        await r.wait(
            lambda m: m.transaction.cl_order_id == cl and m.transaction.order_status == c.ORDER_STATUS_FILLED,
            "trailing child filled",
        )
        assert events(r, cl) == [PENDING, TRIGGERED]
    finally:
        await r.close()
        await svc.move(VENUE, SYMBOL, "97000")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trigger_price": None}, "triggerPrice"),
        ({"trigger_reference": om.TRIGGER_REFERENCE_INDEX}, "triggerReference"),
        ({"trailing_amount": 5.0}, "trailingAmount"),
        ({"trigger_price": -1.0}, "triggerPrice"),
        ({"qty": 0.0}, "qty"),
        ({"trigger_kind": om.TRIGGER_KIND_TRAILING_STOP, "trigger_price": None}, "trailingAmount"),
    ],
)
async def test_validation_names_the_field_and_arms_nothing(svc: Svc, change: dict[str, object], field: str) -> None:
    sid = await svc.session(VENUE)
    cl = uid("bad")
    req = stop(sid, cl, c.SIDE_BUY, D(99000))
    for k, v in change.items():
        if v is None:
            req.ClearField(k)  # type: ignore[arg-type]
        else:
            setattr(req, k, v)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await svc.om.SendOrder(req, metadata=AUTH)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (e.value.details() or "").startswith(field), e.value.details()
    assert svc.service.contingent_orders is not None and svc.service.contingent_orders.get(sid, cl) is None


async def test_pull_disarms(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    _, ask = await fresh(svc)
    cl = uid("pl")
    await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, ask + 500), metadata=AUTH)
    pull = om.SendOrderRequest(session_id=sid, symbol=SYMBOL, transaction_type=c.TRANSACTION_TYPE_PULL)
    await svc.om.SendOrder(pull, metadata=AUTH)
    armed = svc.service.contingent_orders.get(sid, cl)  # type: ignore[union-attr]
    assert armed is not None and armed.status.value == "cancelled" and armed.message == "pulled"


async def test_otoco_bracket_groups(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    bid, ask = await fresh(svc)
    r = updates(svc, sid)
    stub = co_grpc.ContingentOrderServiceStub(svc.channel)
    try:
        gid, entry, tp, sl = uid("g"), uid("en"), uid("tp"), uid("sl")
        legs = [
            om.SendOrderRequest(
                cl_order_id=entry, symbol=SYMBOL, qty=0.001, order_type=c.ORDER_TYPE_MARKET, side=c.SIDE_BUY
            ),
            om.SendOrderRequest(
                cl_order_id=tp,
                symbol=SYMBOL,
                qty=0.001,
                order_type=c.ORDER_TYPE_MARKET,
                side=c.SIDE_SELL,
                trigger_kind=om.TRIGGER_KIND_TAKE_PROFIT,
                trigger_price=float(ask + 1000),
            ),
            om.SendOrderRequest(
                cl_order_id=sl,
                symbol=SYMBOL,
                qty=0.001,
                order_type=c.ORDER_TYPE_MARKET,
                side=c.SIDE_SELL,
                trigger_kind=om.TRIGGER_KIND_STOP,
                trigger_price=float(bid - 1000),
                trigger_reference=om.TRIGGER_REFERENCE_MARK,
            ),
        ]
        ans = await stub.SendOrderGroup(
            co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OTOCO, orders=legs),
            metadata=AUTH,
        )
        assert [leg.cl_order_id for leg in ans.group.legs] == [entry, tp, sl]
        await r.wait(
            lambda m: m.transaction.cl_order_id == entry and m.transaction.order_status == c.ORDER_STATUS_FILLED,
            "entry filled",
        )
        assert all(m.transaction.group_id == gid for m in r.got if m.transaction.cl_order_id == entry)
        co_ = svc.service.contingent_orders
        assert co_ is not None
        await poll(lambda: asyncio.sleep(0), lambda _: not co_.get(sid, sl).held, "the bracket released")  # type: ignore[union-attr]
        await svc.move(
            VENUE, SYMBOL, str(bid - 1100)
        )  # the mark falls through the stop: it fires, the take-profit goes
        await r.wait(
            lambda m: m.transaction.cl_order_id == sl and m.transaction.order_status == c.ORDER_STATUS_FILLED,
            "stop filled",
        )
        await r.wait(
            lambda m: m.contingent_event.cl_order_id == tp and m.contingent_event.status == c.ORDER_STATUS_CANCELLED,
            "tp cancelled",
        )
        assert all(m.contingent_event.group_id == gid for m in r.got if m.contingent_event.cl_order_id in (tp, sl))
        g = await stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH)
        assert g.group.done
        assert [leg.order_status for leg in g.group.legs] == [
            c.ORDER_STATUS_FILLED,
            c.ORDER_STATUS_CANCELLED,
            c.ORDER_STATUS_FILLED,
        ]
    finally:
        await r.close()
        await svc.move(VENUE, SYMBOL, "97000")


async def test_oco_via_rest_cancelled_as_a_group(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    bid, ask = await fresh(svc)
    gid, lim, st = uid("g"), uid("lm"), uid("st")
    body = {
        "sessionId": sid,
        "groupId": gid,
        "groupType": "oco",
        "orders": [
            {
                "clOrderId": lim,
                "symbol": SYMBOL,
                "price": float(ask + 800),
                "qty": 0.001,
                "orderType": "limit",
                "tif": "gtc",
                "side": "sell",
            },
            {
                "clOrderId": st,
                "symbol": SYMBOL,
                "qty": 0.001,
                "orderType": "market",
                "side": "sell",
                "triggerKind": "stop",
                "triggerPrice": float(bid - 800),
                "emulate": True,  # execx's own OCO (this module tests emulation; a Binance spot order list otherwise)
            },
        ],
    }
    headers = {"x-api-key": KEY}
    async with svc.http.post(f"{svc.rest}/sendOrderGroup", json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        group = (await resp.json())["group"]
        assert [leg["clOrderId"] for leg in group["legs"]] == [lim, st]
    co_ = svc.service.contingent_orders
    assert co_ is not None
    await poll(
        lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=lim), metadata=AUTH),
        lambda a: a.order.order_status == c.ORDER_STATUS_NEW,
        "limit leg live",
    )
    async with svc.http.post(
        f"{svc.rest}/cancelOrderGroup", json={"sessionId": sid, "groupId": gid}, headers=headers
    ) as resp:
        assert resp.status == 200, await resp.text()
    await poll(
        lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=lim), metadata=AUTH),
        lambda a: a.order.order_status == c.ORDER_STATUS_CANCELLED,
        "limit leg cancelled",
    )
    assert co_.get(sid, st).status.value == "cancelled"  # type: ignore[union-attr]
    # a bad group: named field, nothing sent
    bad = dict(
        body,
        groupId=uid("g"),
        orders=[
            dict(body["orders"][0], clOrderId=uid("x")),
            dict(body["orders"][1], clOrderId=uid("y"), triggerPrice=-1),
        ],
    )  # type: ignore[call-overload]
    async with svc.http.post(f"{svc.rest}/sendOrderGroup", json=bad, headers=headers) as resp:
        assert resp.status == 400
        assert "orders[1].triggerPrice" in await resp.text()


async def test_armed_stop_survives_a_restart(tmp_path: Path) -> None:
    async with simulator() as sim:
        acct = None
        async with execx(tmp_path, sim) as svc:
            acct = await svc.admin_post("/admin/accounts", {})
            sid = uid("s")
            await svc.start_session(sid, VENUE, acct)
            await svc.move(VENUE, SYMBOL, "97000")
            _, ask = await svc.top(VENUE, SYMBOL)
            cl = uid("rs")
            req = stop(sid, cl, c.SIDE_BUY, ask + 300, trigger_reference=om.TRIGGER_REFERENCE_MARK)
            await svc.om.SendOrder(req, metadata=AUTH)  # its watcher opens the feed
            await fresh(svc)
            assert svc.service.contingent_orders.get(sid, cl).status.value == "pendingtrigger"  # type: ignore[union-attr]
        # execx is down: the market moves through the level
        async with execx(tmp_path, sim) as svc:
            await svc.move(VENUE, SYMBOL, str(ask + 1000))
            assert not await venue_open_orders(sim, VENUE, acct)
            await svc.start_session(sid, VENUE, acct)
            co_ = svc.service.contingent_orders
            assert co_ is not None
            await poll(
                lambda: svc.move(VENUE, SYMBOL, str(ask + 1000)),
                lambda _: (x := co_.get(sid, cl)) is not None and x.status.value == "triggered",
                "fired after the restart",
            )
            await poll(
                lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH),
                lambda a: a.order.order_status == c.ORDER_STATUS_FILLED,
                "filled",
            )
            await svc.move(VENUE, SYMBOL, "97000")


# venue, symbol, quantity (contracts on inverse / Deribit), market price; the Bybit option is left out
VENUE_CASES = [
    ("binance-spot", "BTCUSDT", "0.001", "97000"),
    ("binance-usdm-future", "BTCUSDT", "0.002", "97000"),
    ("binance-coinm-future", "BTCUSD_PERP", "1", "97000"),
    ("bybit-spot", "BTCUSDT", "0.001", "97000"),
    ("bybit-linear", "BTCUSDT", "0.001", "97000"),
    ("bybit-inverse", "BTCUSD", "1", "97000"),
    ("okx", "BTC-USDT", "0.001", "97000"),
    ("okx", "BTC-USDT-SWAP", "0.01", "97000"),
    ("deribit", "BTC-PERPETUAL", "10", "97000"),
    ("pulse", "BTC_USD-PERPETUAL", "0.001", "97000"),
]


@pytest.mark.parametrize("case", VENUE_CASES, ids=[f"{v[0]}-{v[1]}" for v in VENUE_CASES])
async def test_emulated_stop_on_every_venue(svc: Svc, case: tuple[str, str, str, str]) -> None:
    """A stop-market buy on mark: armed, fired by the mid moving through it, its order filled at the venue."""
    venue, symbol, qty, mid = case
    ex = exchange_enum(venue)
    sid = await svc.session(venue)
    feed = Reader(svc.md.SubscribeMarketData(md.SubscribeMarketDataRequest(exchange=ex, symbol=symbol), metadata=AUTH))
    r = updates(svc, sid)
    try:
        hub = svc.service.market_data
        assert hub is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while (f := hub.feeds.get((Exchange(venue), symbol))) is None or f.stale or f.quote is None:
            await svc.move(venue, symbol, mid)
            assert loop.time() < deadline, f"the {venue} {symbol} feed never became fresh"
            await asyncio.sleep(0.05)  # the poll interval
        cl = uid("ev")
        req = om.SendOrderRequest(
            cl_order_id=cl,
            symbol=symbol,
            session_id=sid,
            qty=float(qty),
            order_type=c.ORDER_TYPE_MARKET,
            transaction_type=c.TRANSACTION_TYPE_INSERT,
            side=c.SIDE_BUY,
            trigger_kind=om.TRIGGER_KIND_STOP,
            trigger_price=float(D(mid) + 200),
            trigger_reference=om.TRIGGER_REFERENCE_MARK,
        )
        ans = await svc.om.SendOrder(req, metadata=AUTH)
        assert ans.order.order_status == PENDING
        await svc.move(venue, symbol, str(D(mid) + 100))  # below the level: nothing
        await svc.move(venue, symbol, str(D(mid) + 400))  # through it: fires
        await r.wait(
            lambda m: m.transaction.cl_order_id == cl and m.transaction.order_status == c.ORDER_STATUS_FILLED,
            f"the stop's order filled on {venue} {symbol}",
        )
        assert events(r, cl) == [PENDING, TRIGGERED]
    finally:
        await r.close()
        await feed.close()
        await svc.move(venue, symbol, mid)


async def test_oto_working_leg_filled_while_down_releases_the_pending_leg(tmp_path: Path) -> None:
    async with simulator() as sim:
        async with execx(tmp_path, sim) as svc:
            acct = await svc.admin_post("/admin/accounts", {})
            sid = uid("s")
            await svc.start_session(sid, VENUE, acct)
            await svc.move(VENUE, SYMBOL, "97000")
            bid, _ = await svc.top(VENUE, SYMBOL)
            gid, work, pend = uid("g"), uid("wk"), uid("pd")
            legs = [
                om.SendOrderRequest(
                    cl_order_id=work,
                    symbol=SYMBOL,
                    price=float(bid - 500),
                    qty=0.001,
                    order_type=c.ORDER_TYPE_LIMIT,
                    tif=c.TIME_IN_FORCE_GTC,
                    side=c.SIDE_BUY,
                ),
                stop(sid, pend, c.SIDE_SELL, bid - 2000),
            ]
            stub = co_grpc.ContingentOrderServiceStub(svc.channel)
            req = co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OTO, orders=legs)
            await stub.SendOrderGroup(req, metadata=AUTH)
            await poll(
                lambda: venue_open_orders(sim, VENUE, acct),
                lambda orders: [o["clientOrderId"] for o in orders] == [work],
                "the working leg resting at the venue",
            )
            assert svc.service.contingent_orders.get(sid, pend).held  # type: ignore[union-attr]
        # execx is down: the working leg fills at the venue
        await sim_trade(sim, VENUE, SYMBOL, bid - 500, D("0.001"), "sell")
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, VENUE, acct)
            co_ = svc.service.contingent_orders
            assert co_ is not None
            await poll(
                lambda: asyncio.sleep(0),
                lambda _: (x := co_.get(sid, pend)) is not None and not x.held and x.status.value == "pendingtrigger",
                "the pending leg released after the restart",
            )
            stub = co_grpc.ContingentOrderServiceStub(svc.channel)
            g = await stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH)
            assert [leg.order_status for leg in g.group.legs] == [c.ORDER_STATUS_FILLED, PENDING]
            await stub.CancelOrderGroup(co.CancelOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH)
            assert co_.get(sid, pend).status.value == "cancelled"  # type: ignore[union-attr]


async def test_finished_ones_are_forgotten_beyond_the_bound(svc: Svc, monkeypatch: pytest.MonkeyPatch) -> None:
    from execx_server.managers import contingent

    monkeypatch.setattr(contingent, "FINISHED_KEPT", 2)
    sid = await svc.session(VENUE)
    _, ask = await svc.top(VENUE, SYMBOL)
    co_ = svc.service.contingent_orders
    assert co_ is not None
    cls = [uid("fg") for _ in range(3)]
    for cl in cls:
        await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, ask + 5000), metadata=AUTH)
        delete = om.SendOrderRequest(
            session_id=sid, cl_order_id=cl, symbol=SYMBOL, transaction_type=c.TRANSACTION_TYPE_DELETE
        )
        assert (await svc.om.SendOrder(delete, metadata=AUTH)).order.order_status == c.ORDER_STATUS_CANCELLED
    assert [co_.get(sid, cl) is not None for cl in cls] == [False, True, True]


async def test_contingent_events_on_the_rest_websocket(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    _, ask = await fresh(svc)
    cl = uid("ws")
    headers = {"x-api-key": KEY}
    async with svc.http.ws_connect(f"{svc.rest}/subscribeUpdates", headers=headers) as ws:
        await ws.send_json({"sessionId": sid, "fromSeq": 1})
        body = {
            "clOrderId": cl,
            "symbol": SYMBOL,
            "sessionId": sid,
            "qty": 0.001,
            "orderType": "market",
            "transactionType": "insert",
            "side": "buy",
            "triggerKind": "stop",
            "triggerPrice": float(ask + 40),
            "emulate": True,
        }
        async with svc.http.post(f"{svc.rest}/sendOrder", json=body, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
        await svc.trade(VENUE, SYMBOL, ask + 60, D("0.0001"), "buy")
        seen: list[tuple[str, str]] = []
        while ("order", "filled") not in seen:
            frame = await asyncio.wait_for(ws.receive_json(), WAIT_S)
            if "contingentEvent" in frame and frame["contingentEvent"]["clOrderId"] == cl:
                seen.append(("contingent", frame["contingentEvent"]["status"]))
            elif frame.get("clOrderId") == cl:
                seen.append(("order", frame["orderStatus"]))
        assert seen[:3] == [("contingent", "pendingtrigger"), ("contingent", "triggered"), ("order", "pendingnew")]


async def test_oco_amended_as_a_group_then_a_fill_cancels_the_stop(svc: Svc) -> None:
    sid = await svc.session(VENUE)
    bid, ask = await fresh(svc)
    stub = co_grpc.ContingentOrderServiceStub(svc.channel)
    gid, lim, st = uid("g"), uid("lm"), uid("st")
    legs = [
        om.SendOrderRequest(
            cl_order_id=lim,
            symbol=SYMBOL,
            price=float(ask + 500),
            qty=0.001,
            order_type=c.ORDER_TYPE_LIMIT,
            tif=c.TIME_IN_FORCE_GTC,
            side=c.SIDE_SELL,
        ),
        stop(sid, st, c.SIDE_SELL, bid - 500),
    ]
    req = co.SendOrderGroupRequest(session_id=sid, group_id=gid, group_type=co.GROUP_TYPE_OCO, orders=legs)
    await stub.SendOrderGroup(req, metadata=AUTH)

    def get(cl: str) -> Any:
        return svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)

    await poll(lambda: get(lim), lambda a: a.order.order_status == c.ORDER_STATUS_NEW, "the limit leg live")
    amend = co.AmendOrderGroupRequest(
        session_id=sid,
        group_id=gid,
        orders=[
            om.SendOrderRequest(cl_order_id=lim, price=float(ask + 400), qty=0.001),
            om.SendOrderRequest(cl_order_id=st, trigger_price=float(bid - 600)),
        ],
    )
    await stub.AmendOrderGroup(amend, metadata=AUTH)
    co_ = svc.service.contingent_orders
    assert co_ is not None
    armed = co_.get(sid, st)
    assert armed is not None and armed.state is not None and armed.state.level == bid - 600
    await poll(
        lambda: get(lim),
        lambda a: a.order.order_status == c.ORDER_STATUS_NEW and D(str(a.order.price)) == ask + 400,
        "the limit leg amended at the venue",
    )
    await svc.trade(VENUE, SYMBOL, ask + 400, D("0.001"), "buy")  # fills the limit leg: the stop goes
    await poll(lambda: get(lim), lambda a: a.order.order_status == c.ORDER_STATUS_FILLED, "the limit leg filled")
    await poll(lambda: asyncio.sleep(0), lambda _: armed.status.value == "cancelled", "the stop disarmed")
    assert armed.message == f"oco: {lim} filled"
    g = await stub.GetOrderGroup(co.GetOrderGroupRequest(session_id=sid, group_id=gid), metadata=AUTH)
    assert g.group.done and [x.order_status for x in g.group.legs] == [
        c.ORDER_STATUS_FILLED,
        c.ORDER_STATUS_CANCELLED,
    ]
