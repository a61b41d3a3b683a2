"""Binance-only connector behaviour against the simulator: listen-key expiry, spot amend paths that
the venue-neutral suite cannot name (cancel-replace after a partial fill, cancel-replace whose new
order is refused), futures modify of a post-only order that would cross."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from connector_harness import VENUES, Harness, Venue, cl_id, config_for, running
from execx_server.connectors.binance.connector import BinanceConnector
from execx_server.connectors.binance.stream import FuturesUserStream
from execx_server.connectors.transport.websocket import Backoff
from execx_server.domain.enums import Exchange, Liquidity, OrderStatus, OrderType, Side, TimeInForce
from execx_server.domain.venue import ExecutionReport, OrderRequest, OutcomeUnknown, Rejected, Retryable
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account

SPOT, USDM, COINM = VENUES[:3]


@pytest.mark.parametrize("venue", [USDM, COINM], ids=str)
async def test_listen_key_expiry_reconnects_with_a_new_key(sim: Simulator, venue: Venue, account: Account) -> None:
    async with running(sim, venue, account, Backoff(base_s=0.05, cap_s=0.2)) as h:
        frontend = next(fe for fe in sim.frontends if fe.venue == venue.exchange.value)
        user = h.connector._user  # type: ignore[attr-defined]
        first_key = user.listen_key
        frontend.listen_keys[first_key].expires_ms = 0  # the venue expires it on its next tick
        await h.until(lambda: False in h.states and h.states[-1] is True, "reconnected after listenKeyExpired")
        assert user.listen_key and user.listen_key != first_key
        price = await h.passive_price(Side.BUY, ticks=9)
        order = h.order(Side.BUY, price, tag="lk")
        await h.connector.submit_order(order)
        await h.trade_print(price, order.qty, Side.SELL)
        fill = await h.wait_report(lambda r: r.cl_order_id == order.cl_order_id and bool(r.trade_id), "fill")
        assert fill.liquidity is Liquidity.ADD


@pytest.fixture
async def spot(sim: Simulator, account: Account) -> AsyncIterator[Harness]:
    async with running(sim, SPOT, account, Backoff(base_s=0.05, cap_s=0.2)) as h:
        yield h


@pytest.mark.parametrize("venue", [SPOT, *VENUES[3:5]], ids=str)  # REST, WebSocket API, cross margin
async def test_spot_cancel_replace_after_partial_fill_reports_the_clients_whole_order(
    sim: Simulator, venue: Venue, account: Account
) -> None:
    """A cancel-replace moves the clOrderId to a new venue order sized to what was left; every report of
    that order (answer, stream, query, open orders, a later amend) says the client's order: total quantity
    = filled before + the replacement's, filled counted from the start (fault matrix seed 262471266:
    the replacement's quantity overwrote the total and execx said filled with quantity still open)."""
    async with running(sim, venue, account, Backoff(base_s=0.05, cap_s=0.2)) as h:
        q, symbol = h.venue.qty, h.venue.symbol
        price = await h.passive_price(Side.BUY, ticks=11)
        order = h.order(Side.BUY, price, qty=q * 4, tag="crp")
        await h.connector.submit_order(order)
        await h.trade_print(price, q, Side.SELL)
        await h.wait_report(lambda r: r.cl_order_id == order.cl_order_id and bool(r.trade_id), "partial fill")
        tick = h.connector.rules(symbol).tick
        report = await h.connector.amend_order(symbol, order.cl_order_id, Side.BUY, order.qty, price - tick)
        assert "replaced by" in report.message
        assert (report.qty, report.cum_filled, report.price) == (q * 4, q, price - tick)
        raw = await h.connector.rest.query_order(symbol, orig_client_order_id=order.cl_order_id)  # type: ignore[attr-defined]
        assert Decimal(raw["origQty"]) == q * 3 and str(raw["orderId"]) == report.exch_order_id  # venue: the rest
        mine = await h.connector.query_order(symbol, order.cl_order_id)
        assert mine is not None and (mine.qty, mine.cum_filled, mine.status) == (q * 4, q, OrderStatus.NEW)
        [listed] = [r for r in await h.connector.open_orders(symbol) if r.cl_order_id == order.cl_order_id]
        assert (listed.qty, listed.cum_filled) == (q * 4, q)

        await h.trade_print(price - tick, q, Side.SELL)  # the replacement fills q: the client's order 2q of 4q
        second = await h.wait_report(
            lambda r: r.exch_order_id == report.exch_order_id and bool(r.trade_id), "fill of the replacement"
        )
        assert (second.qty, second.cum_filled, second.status) == (q * 4, q * 2, OrderStatus.PARTIALLYFILLED)
        for r in h.reports:
            if r.cl_order_id == order.cl_order_id and r.exch_order_id == report.exch_order_id:
                assert r.qty == q * 4, r  # the stream's reports of the replacement too

        # down to 3q at the same price: the venue order goes to 3q - q (filled before it), leaving q open
        down = await h.connector.amend_order(symbol, order.cl_order_id, Side.BUY, q * 3, None)
        assert (down.qty, down.cum_filled) == (q * 3, q * 2) and not down.status.is_final
        await h.trade_print(price - tick, q, Side.SELL)
        last = await h.wait_report(
            lambda r: r.cl_order_id == order.cl_order_id and r.status is OrderStatus.FILLED, "the order filled"
        )
        assert (last.qty, last.cum_filled) == (q * 3, q * 3)
        assert await h.connector.open_orders(symbol) == []


@pytest.mark.parametrize("venue", [SPOT, USDM], ids=str)
async def test_a_fill_lost_on_the_stream_is_fetched_when_a_later_report_counts_it(
    sim: Simulator, venue: Venue, account: Account
) -> None:
    """The stream loses one fill (silent for a moment: the venue discards what it pushes); the order's next
    fill says it has filled more than was reported: the connector fetches the order's trades and reports the
    lost one (fault matrix, binance-usdm-future drop/silent: the recovery reads trades since the newest seen,
    which was the later one, and a filled order is no longer live, so the first fill was never reported)."""
    async with running(sim, venue, account, Backoff(base_s=0.05, cap_s=0.2)) as h:
        q = h.venue.qty
        price = await h.passive_price(Side.BUY, ticks=12)
        order = h.order(Side.BUY, price, qty=q * 2, tag="gap")
        await h.connector.submit_order(order)
        await h.wait_report(lambda r: r.cl_order_id == order.cl_order_id and r.status is OrderStatus.NEW, "ack")
        await h.fault(silent_s=0.3)
        await h.trade_print(price, q, Side.SELL)  # its fill is pushed into the silence
        faults = f"{h.admin}/admin/faults/{venue.exchange.value}"
        async with asyncio.timeout(5):
            while True:  # until the venue pushes again
                async with h.http.get(faults) as resp:
                    if not (await resp.json())["silent"]:
                        break
        assert h.fills(order.cl_order_id) == []  # lost indeed
        await h.trade_print(price, q, Side.SELL)
        await h.until(lambda: len(h.fills(order.cl_order_id)) == 2, "both fills, the lost one fetched", within_s=5)
        fills = h.fills(order.cl_order_id)
        assert len({f.trade_id for f in fills}) == 2 and sum(f.fill_qty for f in fills) == q * 2


@pytest.mark.parametrize("venue", [SPOT, USDM], ids=str)
async def test_a_recovery_fetches_fills_older_than_the_newest_trade_seen(
    sim: Simulator, venue: Venue, account: Account
) -> None:
    """While the stream is silent an order fills twice (both pushes lost) and, in between, another order's
    answer carries its own fill: the recovery reads trades since that newest one, so it finds only the
    second fill of the first order, whose total counts the first: that one is fetched too (fault matrix,
    binance-usdm-future drop: lost fills of orders that filled during the reconnect)."""
    async with running(sim, venue, account, Backoff(base_s=0.05, cap_s=0.2)) as h:
        q = h.venue.qty
        price = await h.passive_price(Side.BUY, ticks=14)
        order = h.order(Side.BUY, price, qty=q * 2, tag="rgap")
        await h.connector.submit_order(order)
        await h.wait_report(lambda r: r.cl_order_id == order.cl_order_id and r.status is OrderStatus.NEW, "ack")
        await h.fault(silent_s=0.5)
        await h.trade_print(price, q, Side.SELL)  # lost
        taker = h.order(Side.BUY, None, order_type=OrderType.MARKET, tif=TimeInForce.IOC, tag="rtk")
        await h.connector.submit_order(taker)  # its answer's fill: the newest trade seen
        assert h.fills(taker.cl_order_id)
        await h.trade_print(price, q, Side.SELL)  # lost
        faults = f"{h.admin}/admin/faults/{venue.exchange.value}"
        async with asyncio.timeout(5):
            while True:  # until the venue pushes again
                async with h.http.get(faults) as resp:
                    if not (await resp.json())["silent"]:
                        break
        assert h.fills(order.cl_order_id) == []
        assert await h.connector._recovery.attempt()  # type: ignore[attr-defined]  # as after a reconnect
        await h.until(lambda: len(h.fills(order.cl_order_id)) == 2, "both fills", within_s=5)
        assert sum(f.fill_qty for f in h.fills(order.cl_order_id)) == q * 2


async def test_spot_cancel_replace_whose_new_order_is_refused_reports_the_cancel(spot: Harness) -> None:
    h = spot
    order = h.order(Side.BUY, await h.passive_price(Side.BUY), order_type=OrderType.POSTONLY, tag="crr")
    await h.connector.submit_order(order)
    _, ask = await h.book()
    report = await h.connector.amend_order(h.venue.symbol, order.cl_order_id, Side.BUY, order.qty, ask)
    assert report.status is OrderStatus.CANCELLED
    assert "replacement refused" in report.message and "immediately match" in report.message
    assert await h.connector.open_orders(h.venue.symbol) == []


async def test_spot_amend_unknown_order_is_rejected(spot: Harness) -> None:
    with pytest.raises(Rejected):
        await spot.connector.amend_order(spot.venue.symbol, "nosuchorder1", Side.BUY, Decimal(1), Decimal(1))


@pytest.mark.parametrize("venue", [USDM, COINM], ids=str)
async def test_futures_modify_post_only_across_the_book_ends_the_order(
    sim: Simulator, venue: Venue, account: Account
) -> None:
    async with running(sim, venue, account, Backoff(base_s=0.05, cap_s=0.2)) as h:
        assert h.venue.exchange in (Exchange.BINANCE_USDM_FUTURE, Exchange.BINANCE_COINM_FUTURE)
        order = h.order(Side.BUY, await h.passive_price(Side.BUY), order_type=OrderType.POSTONLY, tag="fm")
        await h.connector.submit_order(order)
        _, ask = await h.book()
        try:
            report = await h.connector.amend_order(h.venue.symbol, order.cl_order_id, Side.BUY, order.qty, ask)
        except Exception as exc:
            from execx_server.domain.venue import Rejected

            assert isinstance(exc, Rejected)
        else:
            assert report.status.is_final or report.price != ask
        assert all(o.price != ask for o in await h.connector.open_orders(h.venue.symbol))


class RecordingTelemetry:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.reconnects: list[str] = []
        self.headrooms: list[float] = []

    def request(self, endpoint: str, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        self.requests.append((endpoint, outcome))

    def reconnect(self, stream: str) -> None:
        self.reconnects.append(stream)

    def headroom(self, ratio: float) -> None:
        self.headrooms.append(ratio)


async def test_telemetry_requests_outcomes_headroom_and_reconnects(sim: Simulator, account: Account) -> None:
    connector = BinanceConnector(config_for(sim, SPOT, account), backoff=Backoff(base_s=0.05, cap_s=0.2))
    telemetry = RecordingTelemetry()
    connector.telemetry = telemetry
    states: list[bool] = []
    back = asyncio.Event()

    def on_state(live: bool) -> None:
        states.append(live)
        if live and False in states:
            back.set()

    await connector.start(lambda r: None, on_state)
    try:
        assert await connector.query_order(SPOT.symbol, "nosuchorder2") is None
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{sim.ready['admin']}/admin/faults/{SPOT.exchange.value}/drop") as resp:
                assert resp.status == 200
        await asyncio.wait_for(back.wait(), 10)
    finally:
        await connector.close()
    assert ("GET /api/v3/exchangeInfo", "ok") in telemetry.requests
    assert ("GET /api/v3/order", "rejected") in telemetry.requests  # -2013: unknown order
    assert telemetry.reconnects == ["user"]
    assert telemetry.headrooms and all(0.0 <= r <= 1.0 for r in telemetry.headrooms)
    assert all("?" not in endpoint for endpoint, _ in telemetry.requests)  # bounded labels: no query strings


async def test_spot_ws_api_order_entry_goes_over_the_websocket(sim: Simulator, account: Account) -> None:
    connector = BinanceConnector(
        config_for(sim, SPOT, account), backoff=Backoff(base_s=0.05, cap_s=0.2), order_entry="ws"
    )
    telemetry = RecordingTelemetry()
    connector.telemetry = telemetry
    await connector.start(lambda r: None, lambda up: None)
    try:
        price = Decimal(60000)  # far below the book, inside the venue's price band
        order = OrderRequest(cl_id("wse"), SPOT.symbol, Side.BUY, OrderType.LIMIT, TimeInForce.GTC, SPOT.qty, price)
        ack = await connector.submit_order(order)
        assert ack.status is OrderStatus.NEW
        await connector.amend_order(SPOT.symbol, order.cl_order_id, Side.BUY, SPOT.qty / 2, price)
        await connector.amend_order(SPOT.symbol, order.cl_order_id, Side.BUY, SPOT.qty / 2, price - 1)
        cancelled = await connector.cancel_order(SPOT.symbol, order.cl_order_id)
        assert cancelled.status is OrderStatus.CANCELLED
    finally:
        await connector.close()
    endpoints = [e for e, _ in telemetry.requests]
    for method in ("order.place", "order.amend.keepPriority", "order.cancelReplace", "order.cancel"):
        assert (f"WS {method}", "ok") in telemetry.requests, endpoints
    assert not any(e.startswith(("POST /api/v3/order", "DELETE /api/v3/order")) for e in endpoints)
    with pytest.raises(ValueError, match="spot only"):
        BinanceConnector(config_for(sim, USDM, account), order_entry="ws")


@pytest.mark.parametrize("venue", [SPOT, USDM, COINM], ids=str)
async def test_silent_private_stream_is_detected_and_the_fill_recovered(
    sim: Simulator, venue: Venue, account: Account
) -> None:
    reports: list[ExecutionReport] = []
    changed = asyncio.Event()

    def on_report(r: ExecutionReport) -> None:
        reports.append(r)
        changed.set()

    connector = BinanceConnector(
        config_for(sim, venue, account), backoff=Backoff(base_s=0.05, cap_s=0.2), probe_every_s=0.2
    )
    await connector.start(on_report, lambda up: None)
    admin, market = sim.ready["admin"], venue.exchange.value
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{admin}/admin/book", params={"market": market, "symbol": venue.symbol}) as r:
                bid = Decimal((await r.json())["bids"][0][0])
            price = bid - 13 * connector.rules(venue.symbol).tick
            order = OrderRequest(
                cl_id("sil"), venue.symbol, Side.BUY, OrderType.LIMIT, TimeInForce.GTC, venue.qty, price
            )
            await connector.submit_order(order)
            # Let one probe be answered (the venue supports it), then the feed stalls: socket open,
            # pings answered, nothing delivered, while the order fills.
            user = connector._user
            if isinstance(user, FuturesUserStream):
                await asyncio.wait_for(user.probe_confirmed.wait(), 5)
            async with http.post(f"{admin}/admin/faults/{market}", json={"silent_s": 0.6}) as r:
                assert r.status == 200
            trade = {"market": market, "symbol": venue.symbol, "price": str(price), "qty": str(venue.qty),
                     "aggressor": "sell"}  # fmt: skip
            async with http.post(f"{admin}/admin/market/trade", json=trade) as r:
                assert r.status == 200
        async with asyncio.timeout(10):
            while not any(r.cl_order_id == order.cl_order_id and r.trade_id for r in reports):
                changed.clear()
                await changed.wait()
    finally:
        await connector.close()
    fill = next(r for r in reports if r.cl_order_id == order.cl_order_id and r.trade_id)
    assert fill.fill_qty == venue.qty and fill.liquidity is Liquidity.ADD


@pytest.mark.parametrize("venue", [SPOT, VENUES[3]], ids=str)  # REST, WebSocket API
async def test_order_count_limit_holds_new_orders_only(sim: Simulator, venue: Venue, account: Account) -> None:
    """A ``-1015`` (the account's new-order count, HTTP 429, no Retry-After) holds new orders for the
    order window, not every request for a minute: cancels and queries go straight on, or an order the
    venue ended stays open here past the reconciliation sweep (fault matrix seed 2077378012: an STP
    expiry stayed ``new`` for 60 s). A new order while held is refused here, never sent."""
    limiter = next(fe.limiter for fe in sim.frontends if fe.venue == "binance-spot")
    window = next(lim for lim in limiter.limits if lim.kind == "ORDERS" and lim.interval == "SECOND")
    saved, window.limit = window.limit, 4
    try:
        async with running(sim, venue, account, Backoff(base_s=0.05, cap_s=0.2)) as h:
            price = await h.passive_price(Side.BUY, ticks=30)
            orders = [h.order(Side.BUY, price, tag="ol") for _ in range(12)]
            answers = await asyncio.gather(*(h.connector.submit_order(o) for o in orders), return_exceptions=True)
            refused = [a for a in answers if isinstance(a, Retryable)]
            placed = [o for o, a in zip(orders, answers, strict=True) if isinstance(a, ExecutionReport)]
            assert refused and placed, answers
            assert any(a.code == -1015 or "Too many new orders" in a.message for a in refused), refused

            cancelled = await h.connector.cancel_order(h.venue.symbol, placed[0].cl_order_id)
            assert cancelled.status is OrderStatus.CANCELLED
            queried = await h.connector.query_order(h.venue.symbol, placed[1].cl_order_id)
            assert queried is not None and queried.status is OrderStatus.NEW

            counted: list[str] = []
            take = limiter.take
            limiter.take = lambda kind, who, n=1: counted.append(kind) or take(kind, who, n)  # type: ignore[method-assign]
            with pytest.raises(Retryable) as held:
                await h.connector.submit_order(h.order(Side.BUY, price, tag="held"))
            assert "Too many new orders" in held.value.message
            assert 0 < (held.value.retry_after_s or 0) <= 10.0
            assert "ORDERS" not in counted  # refused here: the venue saw no new order
    finally:
        window.limit = saved
        limiter.__dict__.pop("take", None)


@pytest.mark.parametrize("venue", [SPOT, VENUES[3]], ids=str)  # REST, WebSocket API
async def test_cancel_replace_whose_answer_is_lost_then_fills_while_the_stream_is_silent(
    sim: Simulator, venue: Venue, account: Account
) -> None:
    """A spot amend (cancel-replace) the venue carries out but whose answer is lost, and the replacement fills
    while the stream is silent (both pushes lost): the recovery asks for the client order id, not the replaced
    venue order, so it finds the replacement and its fill; the replaced order's CANCELED never ends the client
    order (fault matrix binance-spot silent seed 62284960: the client order ended cancelled, the fill lost)."""
    async with running(sim, venue, account, Backoff(base_s=0.05, cap_s=0.2)) as h:
        q = h.venue.qty
        price = await h.passive_price(Side.BUY, ticks=16)
        order = h.order(Side.BUY, price, qty=q, tag="crl")
        await h.connector.submit_order(order)
        await h.wait_report(lambda r: r.cl_order_id == order.cl_order_id and r.status is OrderStatus.NEW, "ack")
        tick = h.connector.rules(h.venue.symbol).tick
        await h.fault(silent_s=3.0, unknown_outcome=1)
        with pytest.raises(OutcomeUnknown):
            await h.connector.amend_order(h.venue.symbol, order.cl_order_id, Side.BUY, q, price + tick)
        await h.trade_print(price + tick, q, Side.SELL)  # the replacement fills; its pushes are lost
        assert h.fills(order.cl_order_id) == []
        assert await h.connector._recovery.attempt()  # type: ignore[attr-defined]  # as the stall watch does
        await h.until(lambda: len(h.fills(order.cl_order_id)) == 1, "the replacement's fill", within_s=10)
        await h.until(
            lambda: any(r.cl_order_id == order.cl_order_id and r.status is OrderStatus.FILLED for r in h.reports),
            "the client order filled",
            within_s=10,
        )
        ours = [r for r in h.reports if r.cl_order_id == order.cl_order_id]
        assert not any(r.status is OrderStatus.CANCELLED for r in ours), ours
        assert h.fills(order.cl_order_id)[0].fill_qty == q
