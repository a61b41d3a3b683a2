"""The position manager end to end: gRPC -> execx -> Binance connector -> simulator, with the simulated
market moved deterministically through the admin API (re-centred book, trades printed into our orders).

From flat to a long target, then to a short target, on Binance spot and USD-M futures and on the
other venues that have landed (Bybit spot and linear, OKX spot, Deribit and Pulse perpetuals): the position
reaches each target, every fill of the manager is maker liquidity, no order of it was ever refused
(a post-only order that would cross is refused by the venue), its orders were re-priced as the
market moved, and stop cancels everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import position_manager_pb2 as pm
from execx_sim.venues.bybit.instruments import option_expiry, option_symbol
from market_helpers import AUTH, EXCHANGES, WAIT_S, Reader, Svc, exchange_enum, running

D = Decimal


def dec(x: float) -> Decimal:
    return D(repr(x))


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    # the quiet book only moves when a test moves it: staleness is set long so it never pauses the tests
    async with running(tmp_path_factory.mktemp("execx-pm"), 120) as s:
        yield s


def config(**overrides: Any) -> pm.PositionManagerConfig:
    base: dict[str, Any] = dict(
        pull_on_startup=True,
        maintain_spreads=True,
        quote_levels=2,
        min_order_qty=0.001,
        re_entry_ticker_seconds=0.2,
        price_level_interval=0.001,
    )
    base.update(overrides)
    return pm.PositionManagerConfig(**base)


class Manager:
    """One manager under test: its status over gRPC, woken by the session's update stream."""

    def __init__(self, svc: Svc, venue: str, symbol: str, updates: Reader) -> None:
        self.svc = svc
        self.venue = venue
        self.exchange = exchange_enum(venue)
        self.symbol = symbol
        self.updates = updates

    async def status(self) -> pm.PositionManagerStatus:
        r = await self.svc.pm.GetPositionManager(
            pm.GetPositionManagerRequest(exchange=self.exchange, symbol=self.symbol), metadata=AUTH
        )
        return r.status

    async def wait(
        self, predicate: Callable[[pm.PositionManagerStatus], bool], what: str, within_s: float = WAIT_S
    ) -> pm.PositionManagerStatus:
        """Poll the status (woken by order updates, else every 0.2 s) until ``predicate`` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            self.updates.changed.clear()
            s = await self.status()
            if predicate(s):
                return s
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; last status: {s}")
            try:
                await asyncio.wait_for(self.updates.changed.wait(), 0.2)
            except TimeoutError:
                pass

    async def moved_until(
        self, price: Decimal | str, predicate: Callable[[pm.PositionManagerStatus], bool], what: str
    ) -> pm.PositionManagerStatus:
        """Re-centre the book at ``price`` until ``predicate`` holds: the venue pushes the book on a move,
        and a (re)subscription may still be in flight at the venue when the first move happens."""
        for _ in range(30):
            await self.svc.move(self.venue, self.symbol, price)
            try:
                return await self.wait(predicate, what, within_s=0.5)
            except AssertionError:
                continue
        raise AssertionError(f"{what}: never after moving the book to {price}")

    async def set_target(self, target: float) -> None:
        await self.svc.pm.SetTargetPosition(
            pm.SetTargetPositionRequest(exchange=self.exchange, symbol=self.symbol, target_position=target),
            metadata=AUTH,
        )

    async def fill_until(self, target: float, aggressor: str) -> None:
        """Print trades into the manager's best order until the position is ``target``."""
        for _ in range(40):
            s = await self.wait(
                lambda s: dec(s.current_position) == dec(target) or bool(s.working_orders), "working orders"
            )
            if dec(s.current_position) == dec(target):
                return
            best = (max if aggressor == "sell" else min)(s.working_orders, key=lambda o: o.price)
            seen = len(self.updates.got)
            await self.svc.trade(self.venue, self.symbol, dec(best.price), dec(best.remaining_qty), aggressor)
            with contextlib.suppress(AssertionError):  # the order may have moved meanwhile: print again
                await self.updates.wait(
                    lambda u, n=seen: u.transaction.trade_id != "" and u in self.updates.got[n:], "the fill", 2.0
                )
        raise AssertionError(f"position never reached {target}")


NO_MAKER_FEE = {"deribit", "pulse"}  # perpetual maker fee 0 % on these (simulated) venues
CASES = [
    # venue, symbol, market price, tick, long target, short target, minOrderQty, the manager's clip
    # (USD-M: 0.001 BTC is below the 100 USDT minimum notional, so the clip is 0.002; inverse and
    # Deribit quantities are contracts)
    ("binance-spot", "BTCUSDT", D("97000"), D("0.01"), 0.003, -0.002, 0.001, D("0.001")),
    ("binance-usdm-future", "BTCUSDT", D("97000"), D("0.1"), 0.004, -0.004, 0.001, D("0.002")),
    ("binance-coinm-future", "BTCUSD_PERP", D("97000"), D("0.1"), 3, -2, 1, D("1")),
    ("bybit-spot", "BTCUSDT", D("97000"), D("0.01"), 0.003, -0.002, 0.001, D("0.001")),
    ("bybit-linear", "BTCUSDT", D("97000"), D("0.1"), 0.003, -0.002, 0.001, D("0.001")),
    ("bybit-inverse", "BTCUSD", D("97000"), D("0.5"), 3, -2, 1, D("1")),
    ("okx", "BTC-USDT", D("97000"), D("0.1"), 0.003, -0.002, 0.001, D("0.001")),
    ("okx", "BTC-USDT-SWAP", D("97000"), D("0.1"), 0.03, -0.02, 0.01, D("0.01")),
    ("deribit", "BTC-PERPETUAL", D("97000"), D("0.5"), 30, -20, 10, D("10")),
    ("pulse", "BTC_USD-PERPETUAL", D("97000"), D("0.5"), 0.003, -0.002, 0.001, D("0.001")),
]


@contextlib.asynccontextmanager
async def started(
    svc: Svc, venue: str, symbol: str, cfg: pm.PositionManagerConfig, sid: str = ""
) -> AsyncIterator[Manager]:
    """A position manager started on a session of ``venue`` (a new one unless ``sid``), its session's
    updates read (``Manager.updates``) until the block ends."""
    sid = sid or await svc.session(venue)
    updates = Reader(svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid), metadata=AUTH))
    try:
        await svc.pm.StartPositionManager(
            pm.StartPositionManagerRequest(session_id=sid, exchange=exchange_enum(venue), symbol=symbol, config=cfg),
            metadata=AUTH,
        )
        yield Manager(svc, venue, symbol, updates)
    finally:
        await updates.close()


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
async def test_flat_to_long_to_short_with_maker_orders_only(svc: Svc, case: tuple[Any, ...]) -> None:
    venue, symbol, price, tick, long_target, short_target, min_qty, clip = case
    exchange = exchange_enum(venue)
    sid = await svc.session(venue)
    updates = Reader(svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid), metadata=AUTH))
    try:
        await svc.move(venue, symbol, price)
        bid, _ = await svc.top(venue, symbol)
        # a client order on the symbol before the manager starts: pullOnStartup cancels it
        await svc.om.SendOrder(
            om.SendOrderRequest(
                session_id=sid,
                cl_order_id="client1",
                symbol=symbol,
                price=float(bid - 50),
                qty=float(clip),
                order_type=c.ORDER_TYPE_LIMIT,
                transaction_type=c.TRANSACTION_TYPE_INSERT,
                side=c.SIDE_BUY,
            ),
            metadata=AUTH,
        )
        started = await svc.pm.StartPositionManager(
            pm.StartPositionManagerRequest(
                session_id=sid, exchange=exchange, symbol=symbol, config=config(min_order_qty=min_qty)
            ),
            metadata=AUTH,
        )
        assert started.status.state == pm.POSITION_MANAGER_STATE_DONE and started.status.target_position == 0
        await updates.wait(
            lambda u: u.transaction.cl_order_id == "client1" and u.transaction.order_status == c.ORDER_STATUS_CANCELLED,
            "pullOnStartup",
        )
        m = Manager(svc, venue, symbol, updates)

        # ---- flat -> long: the top dimes the spread, level 2 sits priceLevelInterval behind
        await m.set_target(long_target)
        s = await m.moved_until(price, lambda s: len(s.working_orders) == 2, "two levels quoted")
        top, second = sorted(s.working_orders, key=lambda o: -o.price)
        assert dec(top.price) == bid + tick and dec(top.qty) == clip and top.order_type == c.ORDER_TYPE_POSTONLY
        assert dec(second.price) == ((bid + tick) * D("0.999") / tick).to_integral_value(rounding="ROUND_FLOOR") * tick
        assert top.cl_order_id.startswith("pm") and s.state == pm.POSITION_MANAGER_STATE_RUNNING

        # ---- the market rises (by less than a level interval): the top order is moved up by an amend
        await svc.move(venue, symbol, price + 50)
        bid2, _ = await svc.top(venue, symbol)
        s = await m.wait(lambda s: max(o.price for o in s.working_orders) == float(bid2 + tick), "re-priced top")
        # maintainSpreads: the deeper order followed at the level spacing
        level2 = ((bid2 + tick) * D("0.999") / tick).to_integral_value(rounding="ROUND_FLOOR") * tick
        s = await m.wait(lambda s: min(dec(o.price) for o in s.working_orders) == level2, "level 2 followed")
        await updates.wait(  # the same order, amended (the stream may trail the status)
            lambda u: (
                u.transaction.transaction_type == c.TRANSACTION_TYPE_UPDATE
                and u.transaction.cl_order_id == top.cl_order_id
                and dec(u.transaction.price) == bid2 + tick
            ),
            "the amend on SubscribeUpdates",
        )

        await m.fill_until(long_target, "sell")
        s = await m.wait(lambda s: s.state == pm.POSITION_MANAGER_STATE_DONE and not s.working_orders, "done long")
        assert dec(s.current_position) == dec(long_target) and dec(s.filled_qty) == dec(long_target)

        # ---- long -> short: the side flips, it sells through zero
        _, ask2 = await svc.top(venue, symbol)
        await m.set_target(short_target)
        s = await m.wait(lambda s: len(s.working_orders) == 2, "sell orders")
        assert all(o.side == c.SIDE_SELL for o in s.working_orders)
        assert min(dec(o.price) for o in s.working_orders) == ask2 - tick
        await m.fill_until(short_target, "buy")
        s = await m.wait(lambda s: s.state == pm.POSITION_MANAGER_STATE_DONE, "done short")
        assert dec(s.current_position) == dec(short_target)
        done = dec(long_target) + (dec(long_target) - dec(short_target))  # bought, then sold through zero
        assert dec(s.filled_qty) == done
        assert s.avg_fill_price > 0 and (s.fees_paid > 0 or venue in NO_MAKER_FEE)
        position = await svc.om.GetPosition(om.GetPositionRequest(session_id=sid, symbol=symbol), metadata=AUTH)
        assert dec(position.position) == dec(short_target)

        # ---- a new target, then stop: everything cancelled, the quantity done reported
        await m.set_target(0.0)
        await m.wait(lambda s: bool(s.working_orders), "buy orders again")
        stopped = await svc.pm.StopPositionManager(
            pm.StopPositionManagerRequest(exchange=exchange, symbol=symbol), metadata=AUTH
        )
        assert stopped.status.state == pm.POSITION_MANAGER_STATE_STOPPED and not stopped.status.working_orders
        assert dec(stopped.status.filled_qty) == done
        open_orders = await svc.om.ListOrders(om.ListOrdersRequest(session_id=sid, open_only=True), metadata=AUTH)
        assert list(open_orders.orders) == []

        ours = [u.transaction for u in updates.got if u.transaction.cl_order_id.startswith("pm")]
        fills = [t for t in ours if t.trade_id]
        assert fills and all(t.trade_liquidity == c.TRADE_LIQUIDITY_ADD for t in fills)  # maker only
        assert all(t.order_type == c.ORDER_TYPE_POSTONLY for t in ours)
        assert not [t for t in ours if t.order_status == c.ORDER_STATUS_REJECTED]  # nothing ever crossed
        # a manager can be started again on the symbol once stopped
        again = await svc.pm.StartPositionManager(
            pm.StartPositionManagerRequest(session_id=sid, exchange=exchange, symbol=symbol, config=config()),
            metadata=AUTH,
        )
        assert again.status.state == pm.POSITION_MANAGER_STATE_DONE
        await svc.pm.StopPositionManager(pm.StopPositionManagerRequest(exchange=exchange, symbol=symbol), metadata=AUTH)
    finally:
        await updates.close()


async def test_works_a_target_on_bybit_options(svc: Svc) -> None:
    """The venue the flat -> long -> short cases leave out: a long target on a Bybit option (USDC premium,
    its own tick), post-only orders only, filled, done, then stopped."""
    option = option_symbol("BTC", option_expiry(datetime.datetime.now(datetime.UTC).date()), 100000, True)
    venue = "bybit-option"
    async with started(svc, venue, option, config(min_order_qty=0.1, quote_levels=1)) as m:
        await m.set_target(0.2)
        s = await m.moved_until(D("5000"), lambda s: len(s.working_orders) == 1, "the option quoted")
        assert s.working_orders[0].order_type == c.ORDER_TYPE_POSTONLY and dec(s.working_orders[0].qty) == D("0.1")
        await m.fill_until(0.2, "sell")
        s = await m.wait(lambda s: s.state == pm.POSITION_MANAGER_STATE_DONE and not s.working_orders, "done")
        assert dec(s.filled_qty) == D("0.2") and dec(s.current_position) == D("0.2")
        ours = [u.transaction for u in m.updates.got if u.transaction.trade_id]
        assert ours and all(t.trade_liquidity == c.TRADE_LIQUIDITY_ADD for t in ours)
        stopped = await svc.pm.StopPositionManager(
            pm.StopPositionManagerRequest(exchange=m.exchange, symbol=option), metadata=AUTH
        )
        assert stopped.status.state == pm.POSITION_MANAGER_STATE_STOPPED


async def test_without_maintain_spreads_the_deeper_order_stays_where_it_was_placed(svc: Svc) -> None:
    venue, symbol, tick = "binance-spot", "ETHUSDT", D("0.01")
    exchange = exchange_enum(venue)
    async with started(svc, venue, symbol, config(min_order_qty=0.01, maintain_spreads=False)) as m:
        updates = m.updates
        await m.set_target(0.05)
        s = await m.moved_until("3400", lambda s: len(s.working_orders) == 2, "two levels")
        top, deeper = sorted(s.working_orders, key=lambda o: -o.price)
        # the market rises by less than a level: the top follows, the deeper order keeps its price
        await svc.move(venue, symbol, "3401")
        bid2, _ = await svc.top(venue, symbol)
        s = await m.wait(lambda s: max(dec(o.price) for o in s.working_orders) == bid2 + tick, "top moved")
        assert [(o.cl_order_id, o.price) for o in s.working_orders if o.cl_order_id == deeper.cl_order_id] == [
            (deeper.cl_order_id, deeper.price)
        ]
        # a favourable swing down to it (through the top) fills it at the price it was placed at
        swing = dec(top.remaining_qty) + dec(deeper.remaining_qty)
        await svc.trade(venue, symbol, dec(deeper.price), swing, "sell")
        fill = await updates.wait(
            lambda u: u.transaction.cl_order_id == deeper.cl_order_id and u.transaction.trade_id != "", "its fill"
        )
        assert dec(fill.transaction.price) == dec(deeper.price)
        assert fill.transaction.trade_liquidity == c.TRADE_LIQUIDITY_ADD
        await svc.pm.StopPositionManager(pm.StopPositionManagerRequest(exchange=exchange, symbol=symbol), metadata=AUTH)


async def test_start_errors_name_the_problem(svc: Svc) -> None:
    sid = await svc.session("binance-spot")
    spot = c.EXCHANGE_BINANCE_SPOT

    async def start(**kw: Any) -> grpc.aio.AioRpcError:
        base: dict[str, Any] = dict(session_id=sid, exchange=spot, symbol="ETHUSDT", config=config())
        base.update(kw)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await svc.pm.StartPositionManager(pm.StartPositionManagerRequest(**base), metadata=AUTH)
        return e.value

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    for kw, code, text in (
        ({"session_id": "no-such-session"}, grpc.StatusCode.NOT_FOUND, "session 'no-such-session' does not exist"),
        ({"session_id": ""}, invalid, "sessionId: is required"),
        ({"exchange": 0}, invalid, "exchange: is required"),
        ({"exchange": c.EXCHANGE_BINANCE_USDM_FUTURE}, invalid, "exchange: session"),
        ({"symbol": ""}, invalid, "symbol: is required"),
        ({"symbol": "NOPEUSDT"}, invalid, "symbol:"),
        ({"config": None}, invalid, "config: is required"),
        ({"config": config(min_order_qty=0)}, invalid, "config.minOrderQty: must be positive"),
        ({"config": config(min_order_qty=-1)}, invalid, "config.minOrderQty: must be positive"),
        ({"config": config(quote_levels=0)}, invalid, "config.quoteLevels: must be at least 1"),
        ({"config": config(price_level_interval=0)}, invalid, "config.priceLevelInterval:"),
        ({"config": config(price_level_interval=1)}, invalid, "config.priceLevelInterval:"),
        ({"config": config(re_entry_ticker_seconds=0)}, invalid, "config.reEntryTickerSeconds:"),
    ):
        err = await start(**kw)
        assert err.code() == code and (err.details() or "").startswith(text), (kw, err)
    ok = await svc.pm.StartPositionManager(
        pm.StartPositionManagerRequest(session_id=sid, exchange=spot, symbol="ETHUSDT", config=config()), metadata=AUTH
    )
    assert ok.status.session_id == sid and ok.status.config.quote_levels == 2
    err = await start()
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS, err
    listed = await svc.pm.ListPositionManagers(pm.ListPositionManagersRequest(), metadata=AUTH)
    assert any(s.symbol == "ETHUSDT" and s.session_id == sid for s in listed.managers)
    for call, request in (
        (svc.pm.GetPositionManager, pm.GetPositionManagerRequest(exchange=spot, symbol="SOLUSDT")),
        (svc.pm.StopPositionManager, pm.StopPositionManagerRequest(exchange=spot, symbol="SOLUSDT")),
        (svc.pm.SetTargetPosition, pm.SetTargetPositionRequest(exchange=spot, symbol="SOLUSDT", target_position=1)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call(request, metadata=AUTH)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND, e.value
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await svc.pm.SetTargetPosition(
            pm.SetTargetPositionRequest(exchange=spot, symbol="ETHUSDT", target_position=float("nan")), metadata=AUTH
        )
    assert e.value.code() == invalid and (e.value.details() or "").startswith("targetPosition:")
    await svc.pm.StopPositionManager(pm.StopPositionManagerRequest(exchange=spot, symbol="ETHUSDT"), metadata=AUTH)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await svc.pm.SetTargetPosition(
            pm.SetTargetPositionRequest(exchange=spot, symbol="ETHUSDT", target_position=1), metadata=AUTH
        )
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_disconnect_and_stale_market_data_pause_it_and_it_resumes(svc: Svc) -> None:
    venue, symbol = "binance-spot", "SOLUSDT"
    exchange = EXCHANGES[venue]
    async with started(svc, venue, symbol, config(min_order_qty=0.1)) as m:
        updates = m.updates
        await m.set_target(1.0)
        await m.moved_until("150", lambda s: len(s.working_orders) == 2, "quoting")
        # the venue drops every websocket: after the reconnect the feed is stale until a new quote, so
        # the manager pauses and pulls its (possibly mispriced) orders; with the next quote it quotes again
        seen = len(updates.got)
        await svc.admin_post(f"/admin/faults/{venue}/drop", {})
        await updates.wait(
            lambda u: (
                u in updates.got[seen:]
                and u.transaction.cl_order_id.startswith("pm")
                and u.transaction.order_status == c.ORDER_STATUS_CANCELLED
            ),
            "orders pulled while stale",
        )
        await m.moved_until(
            "150", lambda s: s.state == pm.POSITION_MANAGER_STATE_RUNNING and len(s.working_orders) == 2, "resumed"
        )
        # it paused while the session's private stream was down, and while the feed was stale
        for reason in ("disconnected", "stale"):
            paused = svc.service.metrics.registry.get_sample_value(
                "om_position_manager_paused_seconds_total", {"exchange": venue, "reason": reason}
            )
            assert paused is not None and paused > 0, reason
        await svc.pm.StopPositionManager(pm.StopPositionManagerRequest(exchange=exchange, symbol=symbol), metadata=AUTH)


async def test_venue_back_off_pauses_then_resumes(svc: Svc) -> None:
    venue, symbol = "binance-usdm-future", "ETHUSDT"
    exchange = EXCHANGES[venue]
    async with started(svc, venue, symbol, config(min_order_qty=0.05)) as m:
        try:
            await m.moved_until("3000", lambda s: s.state == pm.POSITION_MANAGER_STATE_DONE, "a quote")
            # the venue answers the next 8 requests with 429: the engine retries each order 4 times, then
            # reports it rejected, not sent; the manager backs off and sends nothing meanwhile
            await svc.admin_post(f"/admin/faults/{venue}", {"rate_limit": 8, "retry_after_s": 0})
            await m.set_target(0.2)
            s = await m.wait(lambda s: s.state == pm.POSITION_MANAGER_STATE_PAUSED, "back-off")
            assert s.reason.startswith("venue back-off ("), s.reason
            s = await m.moved_until(
                "3000",
                lambda s: s.state == pm.POSITION_MANAGER_STATE_RUNNING and len(s.working_orders) == 2,
                "resumed after the back-off",
            )
            paused = svc.service.metrics.registry.get_sample_value(
                "om_position_manager_paused_seconds_total", {"exchange": venue, "reason": "backoff"}
            )
            assert paused is not None and paused > 0
            stop = pm.StopPositionManagerRequest(exchange=exchange, symbol=symbol)
            await svc.pm.StopPositionManager(stop, metadata=AUTH)
        finally:
            async with svc.http.delete(f"{svc.admin}/admin/faults/{venue}") as r:
                assert r.status == 200


async def test_refusals_it_cannot_explain_fail_it_with_the_venue_message(svc: Svc) -> None:
    venue, symbol = "binance-spot", "BNBUSDT"
    acct = await svc.admin_post("/admin/accounts", {"balances": {venue: {"USDT": "1"}}})
    sid = await svc.session(venue, acct)
    async with started(svc, venue, symbol, config(min_order_qty=0.1), sid) as m:
        await m.set_target(1.0)
        # 1 USDT cannot pay for 0.1 BNB: every order is refused, and the book does not explain it
        # failed, and once the answers still owed are in, nothing of it is left working
        s = await m.moved_until(
            "600", lambda s: s.state == pm.POSITION_MANAGER_STATE_FAILED and not s.working_orders, "failed, no orders"
        )
        assert s.reason == "5 orders refused in a row; last: Account has insufficient balance for requested action."
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await m.set_target(2.0)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_stopped_session_fails_its_manager(svc: Svc) -> None:
    venue, symbol = "binance-usdm-future", "BTCUSDT"
    sid = await svc.session(venue)
    exchange = EXCHANGES[venue]
    await svc.pm.StartPositionManager(
        pm.StartPositionManagerRequest(session_id=sid, exchange=exchange, symbol=symbol, config=config()), metadata=AUTH
    )
    await svc.om.StopOrderHandler(om.StopOrderHandlerRequest(session_id=sid), metadata=AUTH)
    updates = Reader(svc.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid), metadata=AUTH))
    try:
        m = Manager(svc, venue, symbol, updates)
        s = await m.wait(lambda s: s.state == pm.POSITION_MANAGER_STATE_FAILED, "failed")
        assert s.reason == f"session {sid} was stopped"
    finally:
        await updates.close()


async def test_status_reports_realised_and_unrealised_pnl_of_its_fills(svc: Svc) -> None:
    """Long 0.02 bought at one price, marked at the feed's mid (unrealised), then sold flat higher up:
    the status's realised PnL is what the fills made after the fees it reports, unrealised back to 0."""
    venue, symbol = "bybit-linear", "ETHUSDT"
    async with started(svc, venue, symbol, config(min_order_qty=0.01, quote_levels=1)) as m:
        await m.set_target(0.02)
        await m.moved_until("3000", lambda s: len(s.working_orders) == 1, "quoting")
        await m.fill_until(0.02, "sell")
        s = await m.wait(lambda s: s.state == pm.POSITION_MANAGER_STATE_DONE, "long")
        bought = [u.transaction for u in m.updates.got if u.transaction.trade_id and u.transaction.side == c.SIDE_BUY]
        cost = sum(dec(t.price) * dec(t.qty) for t in bought)
        assert dec(s.net_qty) == D("0.02") and abs(dec(s.avg_entry_price) - cost / D("0.02")) < D("1e-6")
        assert s.fees_paid > 0 and abs(s.realised_pnl + s.fees_paid) < 1e-9  # nothing closed yet: fees only

        # the market rises above the entry: marked at the mid of the shared feed
        await svc.move(venue, symbol, (cost / D("0.02") + 100).quantize(D("0.01")))
        bid, ask = await svc.top(venue, symbol)
        mid = (bid + ask) / 2
        s = await m.wait(lambda s: dec(s.mark_price) == mid, "marked at the new mid")
        assert abs(dec(s.unrealised_pnl) - (mid * D("0.02") - cost)) < D("1e-6")

        # flat again: every fill closed, realised = sold - bought - fees
        await m.set_target(0.0)
        await m.fill_until(0.0, "buy")
        s = await m.wait(lambda s: s.state == pm.POSITION_MANAGER_STATE_DONE and not s.working_orders, "flat")
        fills = [u.transaction for u in m.updates.got if u.transaction.trade_id]
        sold = sum(dec(t.price) * dec(t.qty) for t in fills if t.side == c.SIDE_SELL)
        fees = sum(dec(t.fee) for t in fills)
        assert all(t.fee_currency == "USDT" for t in fills) and abs(dec(s.fees_paid) - fees) < D("1e-9")
        assert sold > cost and abs(dec(s.realised_pnl) - (sold - cost - fees)) < D("1e-6")
        assert s.net_qty == 0 and s.unrealised_pnl == 0
        stopped = await svc.pm.StopPositionManager(
            pm.StopPositionManagerRequest(exchange=m.exchange, symbol=symbol), metadata=AUTH
        )
        assert stopped.status.realised_pnl == s.realised_pnl
