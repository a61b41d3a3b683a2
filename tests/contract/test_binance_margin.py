"""Binance cross margin (a session's ``useMargin`` on binance-spot) against the simulator: the orders
live in the margin account (not spot), trade on the spot book, reach the margin user data stream
(listenToken), and MARGIN_BUY borrows what the order is missing. The venue-neutral suite also runs
over the ``binance-spot-margin`` variant."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from connector_harness import VENUES, Harness, running
from execx_server.connectors.base import Connector, ConnectorConfig
from execx_server.connectors.binance.connector import BinanceConnector
from execx_server.connectors.transport.websocket import Backoff
from execx_server.domain.enums import Liquidity, OrderStatus, Side
from execx_server.domain.venue import Rejected
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account

SPOT, USDM = VENUES[0], VENUES[1]
MARGIN = next(v for v in VENUES if v.variant == "margin")
BACKOFF = Backoff(base_s=0.05, cap_s=0.5)


@pytest.fixture
async def pair(sim: Simulator, account: Account) -> AsyncIterator[tuple[Harness, Harness]]:
    """The same account traded twice: through a margin session and through a plain spot session."""
    async with running(sim, MARGIN, account, BACKOFF) as margin, running(sim, SPOT, account, BACKOFF) as spot:
        yield margin, spot


def desk_loans(sim: Simulator, account: Account) -> dict[str, Decimal]:
    frontend = next(fe for fe in sim.frontends if fe.venue == "binance-spot")
    return dict(frontend.margin.loans.get(f"{account.account_id}:margin", {}))  # type: ignore[attr-defined]


async def test_margin_orders_live_in_the_margin_account_and_fill_on_the_spot_book(
    sim: Simulator, account: Account, pair: tuple[Harness, Harness]
) -> None:
    margin, spot = pair
    price = await margin.passive_price(Side.BUY, ticks=6)
    order = margin.order(Side.BUY, price, qty=MARGIN.qty * 2, tag="mg")
    ack = await margin.connector.submit_order(order)
    assert ack.status is OrderStatus.NEW
    await margin.wait_report(lambda r: r.cl_order_id == order.cl_order_id and r.status is OrderStatus.NEW, "NEW")
    assert [o.cl_order_id for o in await margin.connector.open_orders(MARGIN.symbol)] == [order.cl_order_id]
    # Not a spot order: the spot session neither sees nor knows it.
    assert await spot.connector.open_orders(SPOT.symbol) == []
    assert await spot.connector.query_order(SPOT.symbol, order.cl_order_id) is None
    engine_account = sim.exchange.accounts[f"{account.account_id}:margin"]
    assert [o.client_id for o in sim.exchange.markets["binance-spot"].open_orders(engine_account)] == [
        order.cl_order_id
    ]

    # A print on the spot book fills it; the fill arrives on the margin user data stream only.
    await margin.trade_print(price, MARGIN.qty, Side.SELL)
    fill = await margin.wait_report(lambda r: r.cl_order_id == order.cl_order_id and bool(r.trade_id), "fill")
    assert fill.liquidity is Liquidity.ADD and fill.fill_qty == MARGIN.qty
    assert not any(r.cl_order_id == order.cl_order_id for r in spot.reports)
    assert [f.trade_id for f in await margin.connector.order_fills(MARGIN.symbol, order.cl_order_id)] == [fill.trade_id]

    queried = await margin.connector.query_order(MARGIN.symbol, order.cl_order_id)
    assert queried is not None and queried.status is OrderStatus.PARTIALLYFILLED
    cancelled = await margin.connector.cancel_order(MARGIN.symbol, order.cl_order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    await margin.wait_report(
        lambda r: r.cl_order_id == order.cl_order_id and r.status is OrderStatus.CANCELLED, "stream CANCELLED"
    )
    assert await margin.connector.open_orders(MARGIN.symbol) == []


async def test_margin_buy_borrows_what_spot_cannot_pay(
    sim: Simulator, account: Account, pair: tuple[Harness, Harness]
) -> None:
    margin, spot = pair
    price = await margin.passive_price(Side.BUY, ticks=50)
    lot = margin.connector.rules(MARGIN.symbol).lot
    qty = (Decimal(150_000) / price // lot) * lot  # 150k USDT: more than either wallet's 100k USDT
    with pytest.raises(Rejected) as info:
        await spot.connector.submit_order(spot.order(Side.BUY, price, qty=qty, tag="sb"))
    assert info.value.message == "Account has insufficient balance for requested action."
    assert desk_loans(sim, account) == {}

    order = margin.order(Side.BUY, price, qty=qty, tag="mb")
    ack = await margin.connector.submit_order(order)
    assert ack.status is OrderStatus.NEW
    loans = desk_loans(sim, account)
    assert set(loans) == {"USDT"} and loans["USDT"] == price * qty - 100_000  # exactly what was missing
    await margin.connector.cancel_order(MARGIN.symbol, order.cl_order_id)


async def test_borrowing_is_bounded(sim: Simulator, account: Account, pair: tuple[Harness, Harness]) -> None:
    margin, _ = pair
    price = await margin.passive_price(Side.BUY, ticks=50)
    lot = margin.connector.rules(MARGIN.symbol).lot
    # Equity is 100k USDT + 2 BTC (~300k); 3x that in one order needs a loan beyond 2x equity.
    qty = (Decimal(1_200_000) / price // lot) * lot
    with pytest.raises(Rejected) as info:
        await margin.connector.submit_order(margin.order(Side.BUY, price, qty=qty, tag="mx"))
    assert info.value.code == "-3006"
    assert desk_loans(sim, account) == {}


async def test_use_margin_is_ignored_on_futures(sim: Simulator, account: Account) -> None:
    def with_margin(config: ConnectorConfig, backoff: Backoff) -> Connector:
        return BinanceConnector(dataclasses.replace(config, use_margin=True), backoff=backoff)

    venue = dataclasses.replace(USDM, factory=with_margin)
    async with running(sim, venue, account, BACKOFF) as h:
        assert h.connector.margin is False  # type: ignore[attr-defined]
        order = h.order(Side.BUY, await h.passive_price(Side.BUY), tag="fm")
        assert (await h.connector.submit_order(order)).status is OrderStatus.NEW


async def test_borrow_limit_follows_the_margin_wallet_set_by_the_admin_api(
    sim: Simulator, account: Account, pair: tuple[Harness, Harness]
) -> None:
    margin, _ = pair
    for asset, amount in (("USDT", "10000"), ("BTC", "0")):
        await margin.admin_post(
            "/admin/balances", {"apiKey": account.api_key, "market": "binance-margin", "asset": asset, "amount": amount}
        )
    price = await margin.passive_price(Side.BUY, ticks=50)
    lot = margin.connector.rules(MARGIN.symbol).lot
    # Equity 10k USDT: a 25k buy borrows 15k (within 2x equity); a further 10k buy would take loans to 25k.
    first = margin.order(Side.BUY, price, qty=(Decimal(25_000) / price // lot) * lot, tag="l1")
    assert (await margin.connector.submit_order(first)).status is OrderStatus.NEW
    assert Decimal(14_990) < desk_loans(sim, account)["USDT"] <= Decimal(15_000)
    with pytest.raises(Rejected) as info:
        await margin.connector.submit_order(margin.order(Side.BUY, price, qty=(Decimal(10_000) / price // lot) * lot))
    assert info.value.code == "-3006" and "exceed maximum borrow" in info.value.message


async def test_expired_listen_token_ends_the_subscription_and_the_connector_resubscribes(
    sim: Simulator, account: Account
) -> None:
    async with running(sim, MARGIN, account, BACKOFF) as h:
        frontend = next(fe for fe in sim.frontends if fe.venue == "binance-spot")
        desk = frontend.margin  # type: ignore[attr-defined]
        margin_id = f"{account.account_id}:margin"

        def ours(entry: Any) -> bool:
            session, sid, _ = entry
            return sid in session.subscriptions and session.subscriptions[sid].account_id == margin_id

        assert len([e for e in desk.subscriptions if ours(e)]) == 1
        # Its token expired: the venue ends the subscription on its next tick.
        desk.subscriptions = [(s, sid, 0 if ours((s, sid, t)) else t) for s, sid, t in desk.subscriptions]
        await h.until(lambda: False in h.states and h.states[-1] is True, "resubscribed with a new listenToken")
        assert len(desk.tokens) >= 2
        price = await h.passive_price(Side.BUY, ticks=7)
        order = h.order(Side.BUY, price, tag="tk")
        await h.connector.submit_order(order)
        await h.trade_print(price, order.qty, Side.SELL)
        fill = await h.wait_report(lambda r: r.cl_order_id == order.cl_order_id and bool(r.trade_id), "fill")
        assert fill.liquidity is Liquidity.ADD
