"""Bybit-only connector behaviour against the simulator: batch place/cancel (chunked to the category's
limit, one outcome per order), order entry over ``/v5/trade`` with REST while that socket is down, spot
conditional orders (the level check, the cancel filters),
the option clOrderId rule checked before sending, spot margin (``isLeverage=1``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from connector_harness import VENUES, Harness, Venue, running
from execx_server.connectors.bybit.connector import BybitConnector
from execx_server.connectors.tracking import Known
from execx_server.connectors.transport.websocket import Backoff
from execx_server.domain.enums import Exchange, OrderStatus, OrderType, Side, TimeInForce
from execx_server.domain.errors import ValidationError
from execx_server.domain.venue import ExecutionReport, NativeTrigger, OrderRequest, OutcomeUnknown, Rejected
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account

BYBIT_SPOT, BYBIT_LINEAR, _, BYBIT_OPTION, BYBIT_WS = (v for v in VENUES if v.exchange.value.startswith("bybit"))


class Requests:
    """Telemetry that records the REST endpoints the connector called."""

    def __init__(self) -> None:
        self.endpoints: list[str] = []

    def request(self, endpoint: str, outcome: str, seconds: float) -> None:
        self.endpoints.append(endpoint)

    def reconnect(self, stream: str) -> None:
        return None

    def headroom(self, ratio: float) -> None:
        return None


async def test_batch_place_and_cancel_are_chunked_with_one_outcome_per_order(sim: Simulator, account: Account) -> None:
    async with running(sim, BYBIT_SPOT, account, Backoff(base_s=0.05, cap_s=1.0)) as h:
        connector = h.connector
        assert isinstance(connector, BybitConnector)
        price = await h.passive_price(Side.BUY)
        orders = [h.order(Side.BUY, price - i * Decimal("0.01"), tag="bt") for i in range(12)]
        orders[11] = dataclasses.replace(orders[11], cl_order_id=orders[3].cl_order_id)  # a duplicate link id
        outcomes = await connector.submit_orders(orders)
        assert all(isinstance(o, ExecutionReport) and o.status is OrderStatus.NEW for o in outcomes[:11])
        # Bybit refuses the duplicate link id (170141): the order exists, so its outcome is that order's report.
        existing = outcomes[11]
        assert isinstance(existing, ExecutionReport) and isinstance(outcomes[3], ExecutionReport)
        assert existing.cl_order_id == orders[3].cl_order_id and existing.exch_order_id == outcomes[3].exch_order_id
        assert len(await connector.open_orders(h.venue.symbol)) == 11
        names = [o.cl_order_id for o in orders[:11]] + ["never-sent-1"]
        cancels = await connector.cancel_orders(h.venue.symbol, names)
        assert all(isinstance(c, ExecutionReport) and c.status is OrderStatus.CANCELLED for c in cancels[:11])
        unknown = cancels[11]
        assert isinstance(unknown, Rejected) and unknown.code == "170213"
        assert await connector.open_orders(h.venue.symbol) == []


async def test_order_entry_over_the_trade_socket_and_rest_while_it_is_down(sim: Simulator, account: Account) -> None:
    assert BYBIT_WS.variant == "wstrade"
    async with running(sim, BYBIT_WS, account, Backoff(base_s=1.0, cap_s=1.0, jitter=0.0)) as h:
        connector = h.connector
        assert isinstance(connector, BybitConnector)
        requests = Requests()
        connector.rest.telemetry = requests
        assert connector._trade is not None  # type: ignore[attr-defined]
        await connector._trade.ws.wait_live(5)  # type: ignore[attr-defined]
        order = h.order(Side.BUY, await h.passive_price(Side.BUY), tag="ws")
        assert (await connector.submit_order(order)).status is OrderStatus.NEW
        await connector.amend_order(h.venue.symbol, order.cl_order_id, Side.BUY, order.qty, order.price)
        await connector.cancel_order(h.venue.symbol, order.cl_order_id)
        assert requests.endpoints == []  # no HTTP round trip
        await h.admin_post(f"/admin/faults/{h.venue.exchange.value}/drop")
        await h.until(lambda: h.states[-1] is False, "sockets down")
        down = h.order(Side.BUY, await h.passive_price(Side.BUY), tag="wsd")
        assert (await connector.submit_order(down)).status is OrderStatus.NEW
        assert "POST /v5/order/create" in requests.endpoints


async def test_option_client_order_id_is_checked_before_sending(sim: Simulator, account: Account) -> None:
    async with running(sim, BYBIT_OPTION, account, Backoff(base_s=0.05, cap_s=1.0)) as h:
        order = dataclasses.replace(h.order(Side.BUY, await h.passive_price(Side.BUY)), cl_order_id="has.dot")
        with pytest.raises(ValidationError) as info:
            await h.connector.submit_order(order)
        assert info.value.field == "clOrderId"
        market = sim.exchange.markets["bybit-option"]
        assert not [o for o in market.orders.values() if o.account_id == account.account_id]


@pytest.mark.parametrize("venue", [BYBIT_SPOT, BYBIT_LINEAR], ids=str)
async def test_use_margin_is_spot_margin_only(sim: Simulator, account: Account, venue: Venue) -> None:
    margin = dataclasses.replace(
        venue, factory=lambda c, b: BybitConnector(dataclasses.replace(c, use_margin=True), backoff=b)
    )
    async with running(sim, margin, account, Backoff(base_s=0.05, cap_s=1.0)) as h:
        order = h.order(Side.BUY, await h.passive_price(Side.BUY), tag="mg")
        await h.connector.submit_order(order)
        market = sim.exchange.markets[venue.exchange.value]
        sent = [o for o in market.orders.values() if o.extra.get("link") == order.cl_order_id]
        # spot: isLeverage=1; linear: not sent (the venue refuses isLeverage outside spot)
        assert [o.extra["isLeverage"] for o in sent] == ["1" if venue.exchange is Exchange.BYBIT_SPOT else "0"]


def batch_requests(sim: Simulator, venue: Venue) -> dict[str, int]:
    """Create-batch / cancel-batch requests (REST or ``/v5/trade``) the simulator has counted so far."""
    limiter = next(fe.limiter for fe in sim.frontends if fe.venue == venue.exchange.value)  # type: ignore[attr-defined]
    counts: dict[str, int] = limiter.request_counts().get(venue.exchange.value.removeprefix("bybit-"), {})
    return {op: counts.get(f"/v5/order/{op}-batch", 0) for op in ("create", "cancel")}


@contextlib.asynccontextmanager
async def order_limit(h: Harness, per_second: int) -> AsyncIterator[None]:
    """Bybit counts a batch's orders against the endpoint's per-second limit (linear: 10): more room."""
    await h.admin_post(f"/admin/ratelimits/{h.venue.exchange.value}", {"ORDER": per_second})
    try:
        yield
    finally:
        await h.admin_post(f"/admin/ratelimits/{h.venue.exchange.value}", {"ORDER": 10})


async def test_orders_of_one_loop_turn_go_out_as_trade_socket_batches(sim: Simulator, account: Account) -> None:
    """25 creates started together: two ``order.create-batch`` (20 + 5) over ``/v5/trade``, each caller
    its own outcome (an unaffordable one refused with its own retCode, the rest resting); 25 cancels
    likewise in two ``order.cancel-batch``; a lone order and a lone cancel stay single-order ops."""
    async with running(sim, BYBIT_WS, account, Backoff(base_s=0.05, cap_s=1.0)) as h, order_limit(h, 60):
        connector = h.connector
        assert isinstance(connector, BybitConnector)
        rest, ops = Requests(), Requests()
        connector.rest.telemetry, connector.telemetry = rest, ops
        await connector._trade.ws.wait_live(5)  # type: ignore[attr-defined]
        price, tick = await h.passive_price(Side.BUY), connector.rules(h.venue.symbol).tick
        orders = [h.order(Side.BUY, price - i * tick, tag="cb") for i in range(25)]
        orders[6] = h.order(Side.BUY, price, qty=Decimal("100"), tag="cbig")  # 100 BTC: more than the margin
        before = batch_requests(sim, BYBIT_WS)
        placed = await asyncio.gather(*(connector.submit_order(o) for o in orders), return_exceptions=True)
        assert batch_requests(sim, BYBIT_WS)["create"] - before["create"] == 2
        assert ops.endpoints == ["WS order.create-batch"] * 2 and rest.endpoints == []
        refused = placed.pop(6)
        assert isinstance(refused, Rejected) and refused.code == "110007"
        assert refused.message == "Insufficient available balance"
        resting = [o for i, o in enumerate(orders) if i != 6]
        assert [(r.cl_order_id, r.status) for r in placed if isinstance(r, ExecutionReport)] == [
            (o.cl_order_id, OrderStatus.NEW) for o in resting
        ]
        on_book = {r.cl_order_id: r.exch_order_id for r in await connector.open_orders(h.venue.symbol)}
        assert on_book == {r.cl_order_id: r.exch_order_id for r in placed if isinstance(r, ExecutionReport)}

        ops.endpoints.clear()
        names = [o.cl_order_id for o in resting] + ["never-sent-2"]
        cancels = await asyncio.gather(
            *(connector.cancel_order(h.venue.symbol, c) for c in names), return_exceptions=True
        )
        assert batch_requests(sim, BYBIT_WS)["cancel"] - before["cancel"] == 2
        assert ops.endpoints == ["WS order.cancel-batch"] * 2
        unknown = cancels.pop()
        assert isinstance(unknown, Rejected) and unknown.code == "110001"
        assert all(isinstance(c, ExecutionReport) and c.status is OrderStatus.CANCELLED for c in cancels)
        assert await connector.open_orders(h.venue.symbol) == []

        ops.endpoints.clear()
        lone = h.order(Side.BUY, price, tag="cl")
        assert (await connector.submit_order(lone)).status is OrderStatus.NEW
        assert (await connector.cancel_order(h.venue.symbol, lone.cl_order_id)).status is OrderStatus.CANCELLED
        assert ops.endpoints == ["WS order.create", "WS order.cancel"]
        assert batch_requests(sim, BYBIT_WS) == {"create": before["create"] + 2, "cancel": before["cancel"] + 2}


async def test_rest_batches_and_an_unknown_batch_outcome(sim: Simulator, account: Account) -> None:
    """REST order entry: 12 spot creates started together are two ``create-batch`` requests (10 + 2);
    when a batch request's answer is lost every item's outcome is unknown (the orders did reach the
    book, which is why the engine reconciles each)."""
    async with running(sim, BYBIT_SPOT, account, Backoff(base_s=0.05, cap_s=1.0)) as h, order_limit(h, 60):
        connector = h.connector
        assert isinstance(connector, BybitConnector)
        rest = Requests()
        connector.rest.telemetry = rest
        price, tick = await h.passive_price(Side.BUY), connector.rules(h.venue.symbol).tick
        orders = [h.order(Side.BUY, price - i * tick, tag="rb") for i in range(12)]
        placed = await asyncio.gather(*(connector.submit_order(o) for o in orders))
        assert [(r.cl_order_id, r.status) for r in placed] == [(o.cl_order_id, OrderStatus.NEW) for o in orders]
        assert rest.endpoints == ["POST /v5/order/create-batch"] * 2

        await h.fault(unknown_outcome=1)  # the next order request reaches the book, then answers 502
        lost = [h.order(Side.BUY, price - i * tick, tag="ru") for i in range(3)]
        outcomes = await asyncio.gather(*(connector.submit_order(o) for o in lost), return_exceptions=True)
        assert all(isinstance(o, OutcomeUnknown) for o in outcomes), outcomes
        for order in lost:
            found = await connector.query_order(h.venue.symbol, order.cl_order_id)
            assert found is not None and found.status is OrderStatus.NEW
        assert rest.endpoints[2] == "POST /v5/order/create-batch"


async def test_spot_conditional_orders_cancel_filters_and_the_level_check(sim: Simulator, account: Account) -> None:
    """Bybit spot conditional orders through the connector: a level the last price already reached is refused
    before anything is sent; one the venue holds the other way round (the last price crossed the level between
    the connector's read and the placement) is cancelled at once and answered ``cancelled`` with the reason; a
    held one is cancelled by a connector that does not know it (after a restart) or has no answer for it yet:
    ``orderFilter=Order`` first, "Order does not exist", then ``StopOrder``; one that fired and rests on the
    book is cancelled under ``Order``; ``cancel_all`` cancels a held one too."""
    async with running(sim, BYBIT_SPOT, account, Backoff(base_s=0.05, cap_s=1.0)) as h:
        connector = h.connector
        assert isinstance(connector, BybitConnector)
        _, ask = await h.book()
        await h.trade_print(ask, Decimal("0.001"), Side.BUY)  # the last price: the ask
        symbol, below = h.venue.symbol, await h.passive_price(Side.BUY)

        def held(side: Side, level: Decimal, price: Decimal | None, tag: str) -> OrderRequest:
            kind = OrderType.LIMIT if price is not None else OrderType.MARKET
            tif = TimeInForce.GTC if price is not None else TimeInForce.IOC
            base = h.order(side, price, order_type=kind, tif=tif, tag=tag)
            return dataclasses.replace(base, trigger=NativeTrigger("stop", "last", level))

        with pytest.raises(Rejected) as refused:
            await connector.submit_order(held(Side.BUY, ask - 50, below, "bl"))  # a buy stop under the market
        assert "other way round" in refused.value.message
        assert [o for o in await connector.open_orders(symbol) if o.status is OrderStatus.PENDINGTRIGGER] == []
        # the race: the last price crossed the level between the connector's read and the placement (the read
        # answers a last price below the level); the venue holds it as a fall; the connector cancels it at once
        real = connector.rest.tickers

        async def stale(params: Any) -> list[dict[str, Any]]:
            return [{**(await real(params))[0], "lastPrice": str(ask - 100)}]

        connector.rest.tickers = stale  # type: ignore[method-assign]
        raced = held(Side.BUY, ask - 50, below, "brc")
        report = await connector.submit_order(raced)
        connector.rest.tickers = real  # type: ignore[method-assign]
        assert report.status is OrderStatus.CANCELLED and "held it to fire when the price falls" in report.message
        got = await connector.query_order(symbol, raced.cl_order_id)
        assert got is not None and got.status is OrderStatus.CANCELLED

        sleeping = held(Side.BUY, ask + 500, below, "bh")
        resting = held(Side.BUY, ask + 20, below, "br")
        swept = held(Side.BUY, ask + 600, None, "bs")
        unacked = held(Side.BUY, ask + 700, below, "bu")
        for order in (sleeping, resting, swept, unacked):
            assert (await connector.submit_order(order)).status is OrderStatus.PENDINGTRIGGER
        await h.trade_print(ask + 20, Decimal("0.001"), Side.BUY)  # fires the near one: it rests at its limit
        await h.wait_report(
            lambda r: r.cl_order_id == resting.cl_order_id and r.status is OrderStatus.NEW, "the near one on the book"
        )
        async with running(sim, BYBIT_SPOT, account, Backoff(base_s=0.05, cap_s=1.0)) as fresh:  # knows none
            other = fresh.connector
            assert isinstance(other, BybitConnector)
            assert other.tracker.get(sleeping.cl_order_id) is None  # unknown to it: Order first, then StopOrder
            # one it sent whose answer has not come yet (pendingnew: held or not is not known): the same
            other.tracker.track(unacked.cl_order_id, Known(symbol, Side.BUY, OrderType.LIMIT, qty=unacked.qty))
            for order in (sleeping, resting, unacked):
                assert (await other.cancel_order(symbol, order.cl_order_id)).status is OrderStatus.CANCELLED
            await other.cancel_all(symbol)
            for order in (sleeping, resting, swept, unacked):
                report = await other.query_order(symbol, order.cl_order_id)
                assert report is not None and report.status is OrderStatus.CANCELLED, order.cl_order_id
