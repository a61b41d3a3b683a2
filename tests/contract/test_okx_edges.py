"""OKX-specific connector behaviour against the simulator over real sockets: the ready-made pull
(batch cancels of every working order, 20 per request, no look-up), the pull racing fills, batch
coalescing of concurrent inserts and cancels, swaps in contracts, and a wrong passphrase in OKX's words
(a wrong key or secret and the crossing post-only order: the contract suite, test_connector.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from connector_harness import WAIT_S, Harness, Venue, config_for, running
from execx_server.connectors.base import Connector, ConnectorConfig, Secret
from execx_server.connectors.okx.connector import OkxConnector
from execx_server.connectors.transport.websocket import Backoff
from execx_server.domain.enums import Exchange, Liquidity, OrderStatus, OrderType, Side, TimeInForce
from execx_server.domain.venue import OrderRequest, Rejected
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account

D = Decimal
CANCEL_BATCH = "POST /api/v5/trade/cancel-batch-orders"
PLACE_BATCH = "POST /api/v5/trade/batch-orders"


class RecordingTelemetry:
    def __init__(self) -> None:
        self.requests: list[str] = []

    def request(self, endpoint: str, outcome: str, seconds: float) -> None:
        self.requests.append(endpoint)

    def reconnect(self, stream: str) -> None:
        return None

    def headroom(self, ratio: float) -> None:
        return None


telemetry = RecordingTelemetry()


def _okx(config: ConnectorConfig, backoff: Backoff) -> Connector:
    connector = OkxConnector(config, backoff=backoff)
    connector.telemetry = telemetry
    return connector


SPOT = Venue(Exchange.OKX, "BTC-USDT", D("0.01"), False, _okx)
SWAP = Venue(Exchange.OKX, "BTC-USDT-SWAP", D("1"), True, _okx)  # contracts of 0.01 BTC


@pytest.fixture
async def h(sim: Simulator, account: Account) -> AsyncIterator[Harness]:
    telemetry.requests.clear()
    async with running(sim, SPOT, account, Backoff(base_s=0.05, cap_s=1.0)) as harness:
        yield harness


async def _ladder(h: Harness, n: int, tag: str) -> list[str]:
    """``n`` resting buys one tick apart below the book, placed together (coalesced into batches)."""
    bid, _ = await h.book()
    tick = h.connector.rules(h.venue.symbol).tick
    orders = [h.order(Side.BUY, bid - (5 + i) * tick, tag=tag) for i in range(n)]
    acks = await asyncio.gather(*(h.connector.submit_order(o) for o in orders))
    assert all(a.status is OrderStatus.NEW and a.exch_order_id for a in acks)
    return [o.cl_order_id for o in orders]


async def test_pull_sends_the_ready_made_batches_one_request_per_20_orders(h: Harness) -> None:
    ids = await _ladder(h, 45, "pl")
    assert telemetry.requests.count(PLACE_BATCH) == 3  # 20 + 20 + 5 inserts issued together
    assert len(await h.connector.open_orders(h.venue.symbol)) == 45
    telemetry.requests.clear()
    await h.connector.cancel_all(h.venue.symbol)
    assert telemetry.requests == [CANCEL_BATCH] * 3  # no look-up: no orders-pending before the cancels
    assert await h.connector.open_orders(h.venue.symbol) == []
    for cl in ids:
        await h.wait_report(lambda r, cl=cl: r.cl_order_id == cl and r.status is OrderStatus.CANCELLED, "cancel")
    telemetry.requests.clear()
    await h.connector.cancel_all(h.venue.symbol)  # nothing works any more: nothing is sent
    assert telemetry.requests == []


async def test_concurrent_cancels_are_coalesced_into_batches(h: Harness) -> None:
    ids = await _ladder(h, 25, "cc")
    telemetry.requests.clear()
    results = await asyncio.gather(*(h.connector.cancel_order(h.venue.symbol, cl) for cl in ids[:22]))
    assert [r.status for r in results] == [OrderStatus.CANCELLED] * 22
    assert telemetry.requests.count(CANCEL_BATCH) == 2  # 20 + 2
    assert sorted(o.cl_order_id for o in await h.connector.open_orders(h.venue.symbol)) == sorted(ids[22:])


async def test_pull_racing_fills_cancels_exactly_the_working_orders(h: Harness) -> None:
    ids = await _ladder(h, 30, "rf")
    bid, _ = await h.book()
    tick = h.connector.rules(h.venue.symbol).tick
    # Sells that fill the five best of our buys, sent at the same time as the pull.
    prints = [h.trade_print(bid - (5 + i) * tick, h.venue.qty, Side.SELL) for i in range(5)]
    await asyncio.gather(h.connector.cancel_all(h.venue.symbol), *prints)
    assert await h.connector.open_orders(h.venue.symbol) == []

    def final(cl: str) -> list[OrderStatus]:
        return [r.status for r in h.reports if r.cl_order_id == cl and r.status.is_final and not r.trade_id]

    await h.until(lambda: all(final(cl) or h.fills(cl) for cl in ids), "every order ended")
    filled = {cl for cl in ids if h.fills(cl)}
    cancelled = {cl for cl in ids if OrderStatus.CANCELLED in final(cl)}
    assert filled | cancelled == set(ids) and not filled & cancelled  # each order ended exactly one way
    assert filled <= set(ids[:5])  # only the orders the prints reached traded
    for cl in filled:
        fills = h.fills(cl)
        assert len(fills) == 1 and fills[0].fill_qty == h.venue.qty and fills[0].status is OrderStatus.FILLED
        queried = await h.connector.query_order(h.venue.symbol, cl)
        assert queried is not None and queried.status is OrderStatus.FILLED
    for cl in cancelled:
        queried = await h.connector.query_order(h.venue.symbol, cl)
        assert queried is not None and queried.status is OrderStatus.CANCELLED and queried.cum_filled == 0


async def test_cancel_returns_the_final_state_after_its_fills(h: Harness) -> None:
    price = (await h.book())[0] - 3 * h.connector.rules(h.venue.symbol).tick
    order = h.order(Side.BUY, price, qty=h.venue.qty * 3, tag="cf")
    await h.connector.submit_order(order)
    await h.trade_print(price, h.venue.qty, Side.SELL)
    cancelled = await h.connector.cancel_order(h.venue.symbol, order.cl_order_id)
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.cum_filled == h.venue.qty
    seen = [r for r in h.reports if r.cl_order_id == order.cl_order_id]
    fill_at = next(i for i, r in enumerate(seen) if r.trade_id)
    cancel_at = next(i for i, r in enumerate(seen) if r.status is OrderStatus.CANCELLED)
    assert fill_at < cancel_at  # the fill reached the engine before the cancellation


async def test_amend_is_the_venue_amend(h: Harness) -> None:
    price = await h.passive_price(Side.SELL)
    order = h.order(Side.SELL, price, qty=h.venue.qty * 3, tag="am")
    ack = await h.connector.submit_order(order)
    tick = h.connector.rules(h.venue.symbol).tick
    amended = await h.connector.amend_order(h.venue.symbol, order.cl_order_id, Side.SELL, h.venue.qty, price + tick)
    assert amended.exch_order_id == ack.exch_order_id and amended.qty == h.venue.qty
    queried = await h.connector.query_order(h.venue.symbol, order.cl_order_id)
    assert queried is not None and (queried.qty, queried.price) == (h.venue.qty, price + tick)
    assert queried.exch_order_id == ack.exch_order_id  # same order, amended in place


async def test_swap_sizes_are_contracts(sim: Simulator, account: Account) -> None:
    async with running(sim, SWAP, account, Backoff(base_s=0.05, cap_s=1.0)) as h:
        inverse = h.connector.rules("BTC-USD-SWAP")
        assert (inverse.contract_size, inverse.lot, inverse.inverse) == (D(100), D(1), True)  # 100 USD contracts
        rules = h.connector.rules("BTC-USDT-SWAP")
        assert (rules.contract_size, rules.lot, rules.min_qty, rules.inverse) == (
            D("0.01"),
            D("0.01"),
            D("0.01"),
            False,
        )
        order = h.order(Side.BUY, None, qty=D(2), order_type=OrderType.MARKET, tif=TimeInForce.IOC, tag="sw")
        await h.connector.submit_order(order)
        await h.until(lambda: sum(f.fill_qty for f in h.fills(order.cl_order_id)) == 2, "swap fills in contracts")
        assert all(f.liquidity is Liquidity.REMOVE and f.fee > 0 for f in h.fills(order.cl_order_id))
        positions = {p.symbol: p for p in await h.connector.positions()}
        assert positions["BTC-USDT-SWAP"].qty == 2 and positions["BTC-USDT-SWAP"].entry_price > 0
        # A resting order of one contract is filled by a print of 0.01 BTC (the admin API speaks base units).
        price = await h.passive_price(Side.SELL, ticks=3)
        rest = h.order(Side.SELL, price, qty=D(1), tag="sr")
        await h.connector.submit_order(rest)
        await h.trade_print(price, D("0.01"), Side.BUY)
        fill = await h.wait_report(lambda r: r.cl_order_id == rest.cl_order_id and bool(r.trade_id), "swap fill")
        assert (fill.fill_qty, fill.fill_price, fill.status) == (D(1), price, OrderStatus.FILLED)
        positions = {p.symbol: p for p in await h.connector.positions()}
        assert positions["BTC-USDT-SWAP"].qty == 1


async def test_wrong_passphrase_refused_in_okx_words(sim: Simulator, account: Account) -> None:
    """A wrong key or secret: the contract suite (test_connector.py); the passphrase is OKX's own."""
    config = config_for(sim, SPOT, account)
    cases = [(dataclasses.replace(config, passphrase=Secret("wrong")), "50105", "Invalid OK-ACCESS-PASSPHRASE")]
    for bad, code, message in cases:
        connector = OkxConnector(bad, backoff=Backoff(base_s=0.05, cap_s=0.2))
        with pytest.raises(Rejected) as info:
            await connector.start(lambda r: None, lambda up: None)
        assert (info.value.code, info.value.message) == (code, message)
        assert account.secret_key not in repr(info.value) + str(info.value)
        await connector.close()


async def test_service_upgrade_notice_reconnects_at_once_and_recovers(h: Harness, sim: Simulator) -> None:
    price = await h.passive_price(Side.BUY, ticks=6)
    order = h.order(Side.BUY, price, tag="up")
    await h.connector.submit_order(order)
    await h.wait_report(lambda r: r.cl_order_id == order.cl_order_id and r.status is OrderStatus.NEW, "NEW")
    fe = next(fe for fe in sim.frontends if fe.venue == "okx")
    private = [c for c in fe.ws.conns if c.kind == "private"]  # type: ignore[attr-defined]
    assert private
    notice = {"event": "notice", "code": "64008", "msg": "The connection will soon be closed for a service upgrade."}
    for conn in private:
        await conn.ws.send_json(notice)
    await h.until(lambda: h.states.count(True) >= 2, "private stream reconnected")
    assert h.states[-3:] == [True, False, True]
    await h.trade_print(price, h.venue.qty, Side.SELL)
    fill = await h.wait_report(
        lambda r: r.cl_order_id == order.cl_order_id and bool(r.trade_id), "fill after reconnect"
    )
    assert fill.fill_qty == h.venue.qty and len(h.fills(order.cl_order_id)) == 1


async def test_silent_private_stream_is_replaced_and_the_fill_recovered(sim: Simulator, account: Account) -> None:
    def quick_probe(config: ConnectorConfig, backoff: Backoff) -> Connector:
        return OkxConnector(config, backoff=backoff, probe_every_s=0.2)  # text ping every 0.2 s

    venue = dataclasses.replace(SPOT, factory=quick_probe)
    async with running(sim, venue, account, Backoff(base_s=0.05, cap_s=0.5)) as h:
        price = await h.passive_price(Side.BUY, ticks=8)
        order = h.order(Side.BUY, price, tag="sil")
        await h.connector.submit_order(order)
        await h.wait_report(lambda r: r.cl_order_id == order.cl_order_id and r.status is OrderStatus.NEW, "NEW")
        await h.fault(silent_s=1.0)  # the venue's sockets stay open but send nothing (no pong, no orders)
        await h.trade_print(price, h.venue.qty, Side.SELL)  # the fill's push is lost with the silence
        await h.until(lambda: False in h.states, "silent stream dropped (no pong)")
        fill = await h.wait_report(lambda r: r.cl_order_id == order.cl_order_id and bool(r.trade_id), "recovered fill")
        assert (fill.fill_qty, fill.fill_price, fill.status) == (h.venue.qty, price, OrderStatus.FILLED)
        # The polling fallback may find the fill before the stream is back: the stream comes back all the same.
        await h.until(lambda: h.states[-1] is True, "private stream back")
        assert len(h.fills(order.cl_order_id)) == 1


async def test_websocket_order_entry_falls_back_to_rest_while_the_socket_is_down(
    sim: Simulator, account: Account
) -> None:
    def ws_entry(config: ConnectorConfig, backoff: Backoff) -> Connector:
        connector = OkxConnector(config, backoff=backoff, order_entry="ws")
        connector.telemetry = telemetry
        return connector

    venue = dataclasses.replace(SPOT, factory=ws_entry)
    async with running(sim, venue, account, Backoff(base_s=1.0, cap_s=1.0, jitter=0.0)) as h:
        telemetry.requests.clear()
        first = h.order(Side.BUY, await h.passive_price(Side.BUY), tag="wsa")
        assert (await h.connector.submit_order(first)).status is OrderStatus.NEW
        assert telemetry.requests[-1:] == ["WS order"]
        await h.admin_post("/admin/faults/okx/drop")
        await h.until(lambda: h.states[-1] is False, "private stream down")
        second = h.order(Side.BUY, await h.passive_price(Side.BUY), tag="wsb")
        assert (await h.connector.submit_order(second)).status is OrderStatus.NEW  # nothing lost: REST
        assert telemetry.requests[-1] == "POST /api/v5/trade/order"
        await h.until(lambda: h.states[-1] is True, "private stream back")
        third = h.order(Side.BUY, await h.passive_price(Side.BUY), tag="wsc")
        await h.connector.submit_order(third)
        assert telemetry.requests[-1] == "WS order"
        live = {o.cl_order_id for o in await h.connector.open_orders(h.venue.symbol)}
        assert live == {first.cl_order_id, second.cl_order_id, third.cl_order_id}


async def test_algo_order_ended_while_the_business_socket_was_away_is_recovered(
    sim: Simulator, account: Account
) -> None:
    """A native stop (algo order) cancelled at the venue while the business websocket hears nothing of it (its
    ``orders-algo`` subscription dropped, then the connection lost): after the reconnect the held algo orders are
    asked for (``GET order-algo``) and its ``cancelled`` is reported."""
    from execx_server.domain.venue import NativeTrigger
    from execx_sim.core import conditional
    from waiting import eventually

    async with running(sim, SWAP, account, Backoff(base_s=0.05, cap_s=0.5)) as h:
        connector = h.connector
        assert isinstance(connector, OkxConnector) and connector._business is not None
        business = connector._business
        _, ask = await h.book()
        await h.trade_print(ask, h.venue.qty, Side.BUY)  # the last price
        stop = dataclasses.replace(
            h.order(Side.BUY, None, order_type=OrderType.MARKET, tag="bz"),
            trigger=NativeTrigger("stop", "last", ask + 20),
        )
        ack = await connector.submit_order(stop)
        assert ack.status is OrderStatus.PENDINGTRIGGER
        fe = next(fe for fe in sim.frontends if fe.venue == "okx")
        conns = [c for c in fe.ws.conns if c.kind == "business"]  # type: ignore[attr-defined]
        assert len(conns) == 1
        await business.ws.send_json({"op": "unsubscribe", "args": [{"channel": "orders-algo", "instType": "ANY"}]})
        await eventually(lambda: conns[0].subs == [], "orders-algo unsubscribed", WAIT_S)
        market = sim.exchange.markets["okx"]
        (held,) = conditional.armed_orders(market, account)
        market.cancel(account, held.symbol, order_id=held.order_id)  # at the venue: nobody hears of it
        connections = business.ws.connections
        await business.ws.drop()
        await eventually(lambda: business.ws.connections > connections, "business websocket back", WAIT_S)
        cancelled = await h.wait_report(
            lambda r: r.cl_order_id == stop.cl_order_id and r.status is OrderStatus.CANCELLED, "recovered cancel"
        )
        assert "orders-algo canceled" in cancelled.message


async def test_oco_order_reported_under_its_leg_when_the_orders_algo_row_is_missing(
    sim: Simulator, account: Account
) -> None:
    """An OCO group held as one ``oco`` algo order fires while the business websocket hears nothing (its
    ``orders-algo`` subscription dropped): the order OKX placed (``clOrdId`` = the oco's algoClOrdId) is held back,
    the leg that fired read with ``GET order-algo`` (``actualSide``), then its reports go out under that leg's
    clOrderId (new, fill, filled) and the other leg is ``cancelled``."""
    from execx_server.domain.venue import GroupRequest, NativeTrigger
    from waiting import eventually

    async with running(sim, SWAP, account, Backoff(base_s=0.05, cap_s=0.5)) as h:
        connector = h.connector
        assert isinstance(connector, OkxConnector) and connector._business is not None
        _, ask = await h.book()
        await h.trade_print(ask, h.venue.qty, Side.BUY)  # the last price

        def leg(kind: str, level: Decimal, tag: str) -> OrderRequest:
            order = h.order(Side.SELL, None, order_type=OrderType.MARKET, tag=tag)
            return dataclasses.replace(order, trigger=NativeTrigger(kind, "last", level))

        stop, take = leg("stop", ask - 50, "os"), leg("takeprofit", ask + 50, "ot")
        acks = await connector.submit_group(GroupRequest("g1", "oco", (stop, take)))
        assert [a.status for a in acks] == [OrderStatus.PENDINGTRIGGER] * 2
        fe = next(fe for fe in sim.frontends if fe.venue == "okx")
        (conn,) = [c for c in fe.ws.conns if c.kind == "business"]  # type: ignore[attr-defined]
        unsubscribe = {"op": "unsubscribe", "args": [{"channel": "orders-algo", "instType": "ANY"}]}
        await connector._business.ws.send_json(unsubscribe)
        await eventually(lambda: conn.subs == [], "orders-algo unsubscribed", WAIT_S)
        await h.trade_print(ask + 60, h.venue.qty, Side.BUY)  # through the take-profit at the venue
        filled = await h.wait_report(
            lambda r: r.cl_order_id == take.cl_order_id and r.status is OrderStatus.FILLED, "take-profit filled"
        )
        assert filled.exch_order_id
        await h.wait_report(
            lambda r: r.cl_order_id == stop.cl_order_id and r.status is OrderStatus.CANCELLED, "stop cancelled"
        )
        assert len(h.fills(take.cl_order_id)) == 1 and h.fills(stop.cl_order_id) == []
        assert not [r for r in h.reports if r.cl_order_id.startswith("oco")]  # nothing under the algoClOrdId
