"""Bybit-only connector behaviour against the simulator: batch place/cancel (chunked to the category's
limit, one outcome per order), order entry over ``/v5/trade`` with REST while that socket is down,
the option clOrderId rule checked before sending, spot margin (``isLeverage=1``)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from connector_harness import VENUES, Venue, running
from execx_server.connectors.bybit.connector import BybitConnector
from execx_server.connectors.transport.websocket import Backoff
from execx_server.domain.enums import Exchange, OrderStatus, Side
from execx_server.domain.errors import ValidationError
from execx_server.domain.venue import ExecutionReport, Rejected
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
        refused = outcomes[11]
        assert isinstance(refused, Rejected) and refused.code == "170141"
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
