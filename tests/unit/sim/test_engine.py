"""Matching engine (spot): priority, fills, time in force, post-only, fees, balances, amend, STP,
events and instrument filters, asserted on exact Decimal numbers with an injected clock."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engine_helpers import SPOT_BTC, SPOT_ETH, D, Env, make_env
from execx_sim.core.types import (
    AccountEvent,
    BookTop,
    ExecType,
    Order,
    OrderError,
    OrderEvent,
    OrderStatus,
    OrderType,
    PostOnlyCross,
    PublicTrade,
    RejectReason,
    Side,
    STPMode,
    TimeInForce,
)

BUY, SELL = Side.BUY, Side.SELL


@pytest.fixture
def env() -> Env:
    return make_env(SPOT_BTC, SPOT_ETH)


def place(env: Env, acct: object, side: Side, qty: str, price: str, **kw: object) -> Order:
    o = env.limit(acct, side, qty, price, **kw)  # type: ignore[arg-type]
    assert isinstance(o, Order)
    return o


def trades(env: Env) -> list[tuple[int, Decimal, Decimal, bool]]:
    """(order id, price, qty, is_maker) of every fill published, in order."""
    return [
        (e.order.order_id, e.fill.price, e.fill.qty, e.fill.is_maker)
        for e in env.events
        if isinstance(e, OrderEvent) and e.fill is not None
    ]


# ---------------------------------------------------------------------- priority and partial fills


def test_better_price_first_then_arrival_order(env: Env) -> None:
    a, b, c, t = (env.account(n, BTC="10", USDT="10000") for n in "abct")
    far = place(env, a, SELL, "1", "101")
    first = place(env, b, SELL, "1", "100")
    env.clock.advance(5)
    second = place(env, c, SELL, "1", "100")
    env.events.clear()

    taker = place(env, t, BUY, "2.5", "101")

    assert trades(env) == [
        (first.order_id, D("100"), D("1"), True),
        (taker.order_id, D("100"), D("1"), False),
        (second.order_id, D("100"), D("1"), True),
        (taker.order_id, D("100"), D("1"), False),
        (far.order_id, D("101"), D("0.5"), True),
        (taker.order_id, D("101"), D("0.5"), False),
    ]
    assert taker.status is OrderStatus.FILLED
    assert taker.cum_quote == D("250.5")
    assert taker.avg_price == D("100.2")
    assert far.status is OrderStatus.PARTIALLY_FILLED and far.remaining == D("0.5")
    assert env.market.books["BTCUSDT"].top() == (None, D(0), D("101"), D("0.5"))


def test_taker_partial_fill_rests_remainder(env: Env) -> None:
    m, t = env.account("m", BTC="10"), env.account("t", USDT="10000")
    maker = place(env, m, SELL, "2", "100")
    taker = place(env, t, BUY, "3", "100.5")
    assert maker.status is OrderStatus.FILLED
    assert taker.status is OrderStatus.PARTIALLY_FILLED
    assert (taker.filled, taker.remaining) == (D("2"), D("1"))
    # The remainder rests at its own limit price and is the best bid.
    assert env.market.books["BTCUSDT"].top() == (D("100.5"), D("1"), None, D(0))
    assert env.market.last_price["BTCUSDT"] == D("100")


def test_maker_partially_filled_keeps_its_place(env: Env) -> None:
    m, m2, t = env.account("m", BTC="10"), env.account("m2", BTC="10"), env.account("t", USDT="10000")
    maker = place(env, m, SELL, "2", "100")
    behind = place(env, m2, SELL, "1", "100")
    place(env, t, BUY, "0.5", "100")
    assert maker.status is OrderStatus.PARTIALLY_FILLED and maker.remaining == D("1.5")
    env.events.clear()
    place(env, t, BUY, "1.6", "100")
    makers = [(oid, q) for oid, _, q, mk in trades(env) if mk]
    assert makers == [(maker.order_id, D("1.5")), (behind.order_id, D("0.1"))]


# ---------------------------------------------------------------------- time in force


def test_ioc_remainder_expires_and_funds_unlock(env: Env) -> None:
    m, t = env.account("m", BTC="10"), env.account("t", USDT="1000")
    place(env, m, SELL, "1", "100")
    place(env, m, SELL, "1", "100.01")
    env.events.clear()
    ioc = place(env, t, BUY, "1.5", "100", tif=TimeInForce.IOC)
    assert ioc.status is OrderStatus.EXPIRED
    assert ioc.expire_reason == "IOC"
    assert ioc.filled == D("1")
    assert env.market.books["BTCUSDT"].best_bid() is None
    # 1 BTC bought at 100 with the taker fee (0.2%) paid in BTC; nothing stays locked.
    assert env.bal(t, "USDT") == (D("900"), D("0"))
    assert env.bal(t, "BTC") == (D("0.998"), D("0"))
    assert env.kinds() == ["NEW", "TRADE", "TRADE", "PUBLIC_TRADE", "EXPIRED", "ACCOUNT", "ACCOUNT", "BOOK_TOP"]


def test_fok_all_or_nothing(env: Env) -> None:
    m, t = env.account("m", BTC="10"), env.account("t", USDT="1000")
    a1 = place(env, m, SELL, "1", "100")
    a2 = place(env, m, SELL, "1", "101")
    env.events.clear()

    too_big = place(env, t, BUY, "2.5", "101", tif=TimeInForce.FOK)
    assert too_big.status is OrderStatus.EXPIRED and too_big.expire_reason == "FOK"
    assert too_big.filled == 0 and trades(env) == []
    beyond_limit = place(env, t, BUY, "2", "100", tif=TimeInForce.FOK)
    assert beyond_limit.status is OrderStatus.EXPIRED and trades(env) == []
    assert env.bal(t, "USDT") == (D("1000"), D("0"))
    assert (a1.remaining, a2.remaining) == (D("1"), D("1"))

    exact = place(env, t, BUY, "2", "101", tif=TimeInForce.FOK)
    assert exact.status is OrderStatus.FILLED
    assert exact.cum_quote == D("201")
    # Limit 101 * 2 was locked; the fill at 100 gives 1 USDT back.
    assert env.bal(t, "USDT") == (D("799"), D("0"))


# ---------------------------------------------------------------------- post-only


def test_post_only_reject_records_nothing(env: Env) -> None:
    m, t = env.account("m", BTC="10"), env.account("t", USDT="1000")
    place(env, m, SELL, "1", "100")
    orders_before = dict(env.market.orders)
    env.events.clear()
    with pytest.raises(OrderError) as e:
        place(env, t, BUY, "1", "100", tif=TimeInForce.GTX)
    assert e.value.reason is RejectReason.POST_ONLY_WOULD_TAKE
    assert env.market.orders == orders_before
    assert env.events == []
    assert env.bal(t, "USDT") == (D("1000"), D("0"))
    # One tick below the ask is a maker: it rests.
    ok = place(env, t, BUY, "1", "99.99", tif=TimeInForce.GTX)
    assert ok.status is OrderStatus.NEW
    assert env.bal(t, "USDT") == (D("900.01"), D("99.99"))


def test_post_only_cancel_policy_records_then_cancels() -> None:
    env = make_env(SPOT_BTC, post_only=PostOnlyCross.CANCEL)
    m, t = env.account("m", BTC="10"), env.account("t", USDT="1000")
    place(env, m, SELL, "1", "100")
    env.events.clear()
    o = place(env, t, BUY, "1", "100.5", tif=TimeInForce.GTX)
    assert o.status is OrderStatus.CANCELED
    assert o.expire_reason == "POST_ONLY"
    assert o.filled == 0
    assert env.market.orders[o.order_id] is o
    assert env.order_events() == [(o.order_id, ExecType.NEW), (o.order_id, ExecType.CANCELED)]
    assert env.bal(t, "USDT") == (D("1000"), D("0"))
    assert env.market.books["BTCUSDT"].best_bid() is None


# ---------------------------------------------------------------------- market orders


def test_market_buy_by_quantity_walks_the_book(env: Env) -> None:
    m, t = env.account("m", BTC="10"), env.account("t", USDT="1000")
    place(env, m, SELL, "1", "100")
    place(env, m, SELL, "1", "101")
    o = env.market.place(t, "BTCUSDT", BUY, OrderType.MARKET, D("1.5"))
    assert o.status is OrderStatus.FILLED
    assert o.cum_quote == D("150.5")
    assert env.bal(t, "USDT") == (D("849.5"), D("0"))
    assert env.bal(t, "BTC") == (D("1.497"), D("0"))  # 1.5 - 0.2% taker fee in base
    # Maker sold 1.5 BTC and receives 150.5 USDT minus the 0.1% maker fee in quote.
    assert env.bal(m, "USDT") == (D("150.3495"), D("0"))
    assert env.bal(m, "BTC") == (D("8"), D("0.5"))


def test_market_buy_by_quote_quantity(env: Env) -> None:
    m, t = env.account("m", BTC="10"), env.account("t", USDT="1000")
    place(env, m, SELL, "1", "100")
    place(env, m, SELL, "1", "101")
    o = env.market.place(t, "BTCUSDT", BUY, OrderType.MARKET, D(0), quote_qty=D("100.5"))
    # 1 @ 100, then 0.5 USDT buys floor(0.5 / 101 / lot) lots = 0.004 @ 101.
    assert o.status is OrderStatus.FILLED
    assert (o.filled, o.qty, o.cum_quote) == (D("1.004"), D("1.004"), D("100.404"))
    assert env.bal(t, "USDT") == (D("899.596"), D("0"))


def test_market_sell_by_quote_quantity(env: Env) -> None:
    m, t = env.account("m", USDT="1000"), env.account("t", BTC="10")
    place(env, m, BUY, "1", "100")
    place(env, m, BUY, "1", "99")
    o = env.market.place(t, "BTCUSDT", SELL, OrderType.MARKET, D(0), quote_qty=D("149.5"))
    assert o.status is OrderStatus.FILLED
    assert (o.filled, o.cum_quote) == (D("1.5"), D("149.5"))
    assert env.bal(t, "BTC") == (D("8.5"), D("0"))
    assert env.bal(t, "USDT") == (D("149.201"), D("0"))  # 149.5 - 0.2%


def test_market_order_without_enough_liquidity_expires(env: Env) -> None:
    m, t = env.account("m", BTC="10"), env.account("t", USDT="1000")
    place(env, m, SELL, "1", "100")
    o = env.market.place(t, "BTCUSDT", BUY, OrderType.MARKET, D("3"))
    assert o.status is OrderStatus.EXPIRED
    assert o.filled == D("1")


# ---------------------------------------------------------------------- fees and spot balances


def test_fees_per_side_and_asset(env: Env) -> None:
    # maker SELL pays maker rate in quote; taker BUY pays taker rate in base.
    s, b = env.account("s", BTC="10"), env.account("b", USDT="1000")
    place(env, s, SELL, "2", "50")
    env.events.clear()
    place(env, b, BUY, "2", "50")
    fills = {e.fill.is_maker: e.fill for e in env.events if isinstance(e, OrderEvent) and e.fill}
    assert (fills[True].fee, fills[True].fee_asset, fills[True].side) == (D("0.1"), "USDT", SELL)
    assert (fills[False].fee, fills[False].fee_asset, fills[False].side) == (D("0.004"), "BTC", BUY)
    # And the other way round: maker BUY pays maker rate in base, taker SELL taker rate in quote.
    place(env, b, BUY, "1", "50")
    env.events.clear()
    place(env, s, SELL, "1", "50")
    fills = {e.fill.is_maker: e.fill for e in env.events if isinstance(e, OrderEvent) and e.fill}
    assert (fills[True].fee, fills[True].fee_asset, fills[True].side) == (D("0.001"), "BTC", BUY)
    assert (fills[False].fee, fills[False].fee_asset, fills[False].side) == (D("0.1"), "USDT", SELL)
    assert env.bal(s, "BTC") == (D("7"), D("0"))
    assert env.bal(s, "USDT") == (D("149.8"), D("0"))
    assert env.bal(b, "BTC") == (D("2.995"), D("0"))
    assert env.bal(b, "USDT") == (D("850"), D("0"))


def test_spot_balances_through_place_fill_amend_cancel(env: Env) -> None:
    bob, alice = env.account("bob", USDT="10000", BTC="10"), env.account("alice", USDT="10000", BTC="10")
    bid = place(env, bob, BUY, "2", "100")
    assert env.bal(bob, "USDT") == (D("9800"), D("200"))
    assert bid.locked == D("200")

    place(env, alice, SELL, "0.5", "99")  # crosses: fills at the maker's 100
    assert env.bal(alice, "BTC") == (D("9.5"), D("0"))
    assert env.bal(alice, "USDT") == (D("10049.9"), D("0"))  # 50 - 0.2% taker fee
    assert env.bal(bob, "USDT") == (D("9800"), D("150"))
    assert env.bal(bob, "BTC") == (D("10.4995"), D("0"))  # 0.5 - 0.1% maker fee
    assert bid.locked == D("150")

    env.market.amend(bob, "BTCUSDT", bid.order_id, new_price=D("90"))  # 1.5 left at 90
    assert env.bal(bob, "USDT") == (D("9815"), D("135"))
    env.market.amend(bob, "BTCUSDT", bid.order_id, new_qty=D("3"))  # 2.5 left at 90
    assert env.bal(bob, "USDT") == (D("9725"), D("225"))
    assert (bid.qty, bid.filled, bid.locked) == (D("3"), D("0.5"), D("225"))

    ask = place(env, alice, SELL, "1", "120")
    assert env.bal(alice, "BTC") == (D("8.5"), D("1"))
    env.market.cancel(alice, "BTCUSDT", ask.order_id)
    env.market.cancel(bob, "BTCUSDT", bid.order_id)
    assert env.bal(alice, "BTC") == (D("9.5"), D("0"))
    assert env.bal(bob, "USDT") == (D("9950"), D("0"))
    assert ask.status is OrderStatus.CANCELED and bid.status is OrderStatus.CANCELED
    with pytest.raises(OrderError) as e:
        env.market.cancel(bob, "BTCUSDT", bid.order_id)
    assert e.value.reason is RejectReason.ORDER_NOT_OPEN


def test_insufficient_balance_rejected(env: Env) -> None:
    poor = env.account("poor", USDT="99.99", BTC="0.5")
    with pytest.raises(OrderError) as e:
        place(env, poor, BUY, "1", "100")
    assert e.value.reason is RejectReason.INSUFFICIENT_BALANCE
    with pytest.raises(OrderError) as e:
        place(env, poor, SELL, "0.501", "100")
    assert e.value.reason is RejectReason.INSUFFICIENT_BALANCE
    assert env.market.orders == {}
    place(env, poor, SELL, "0.5", "100")
    assert env.bal(poor, "BTC") == (D("0"), D("0.5"))


def test_duplicate_open_client_id_rejected(env: Env) -> None:
    a = env.account("a", USDT="1000")
    env.market.place(a, "BTCUSDT", BUY, OrderType.LIMIT, D(1), D(90), client_id="x1")
    with pytest.raises(OrderError) as e:
        env.market.place(a, "BTCUSDT", BUY, OrderType.LIMIT, D(1), D(91), client_id="x1")
    assert e.value.reason is RejectReason.DUPLICATE_CLIENT_ID
    env.market.cancel(a, "BTCUSDT", client_id="x1")
    again = env.market.place(a, "BTCUSDT", BUY, OrderType.LIMIT, D(1), D(92), client_id="x1")
    assert env.market.find_order(a, "BTCUSDT", client_id="x1") is again


def test_open_orders_by_tag_follow_fills_and_cancels(env: Env) -> None:
    """``open_by_tag`` (a venue's label / client id in ``extra``) lists exactly the open orders a scan of
    ``open_orders`` finds, oldest first, per account and symbol, as orders rest, fill and are cancelled."""
    m = env.market
    a, b = env.account("a", USDT="10000", BTC="10"), env.account("b", USDT="10000", BTC="10")
    early = m.place(a, "BTCUSDT", BUY, OrderType.LIMIT, D(1), D(90), extra={"label": "x"})  # before the index
    m.index_tag("label")
    rest = [m.place(a, "BTCUSDT", BUY, OrderType.LIMIT, D(1), D(91 + i), extra={"label": "x"}) for i in range(3)]
    eth = m.place(a, "ETHUSDT", BUY, OrderType.LIMIT, D(1), D(50), extra={"label": "x"})
    other = m.place(a, "BTCUSDT", SELL, OrderType.LIMIT, D(1), D(120), extra={"label": "y"})
    m.place(b, "BTCUSDT", BUY, OrderType.LIMIT, D(1), D(80), extra={"label": "x"})

    def scan(value: str, symbol: str | None = None) -> list[Order]:
        return [o for o in m.open_orders(a, symbol) if o.extra.get("label") == value]

    assert m.open_by_tag(a, "label", "x") == scan("x") == [early, *rest, eth]
    assert m.open_by_tag(a, "label", "x", "BTCUSDT") == scan("x", "BTCUSDT") == [early, *rest]
    assert m.open_by_tag(a, "label", "y") == [other]
    m.cancel(a, "BTCUSDT", order_id=rest[1].order_id)
    m.place(b, "BTCUSDT", SELL, OrderType.LIMIT, D(1), D(93))  # fills rest[2] (the best bid of a's)
    assert rest[2].status is OrderStatus.FILLED
    assert m.open_by_tag(a, "label", "x") == scan("x") == [early, rest[0], eth]
    m.cancel_all(a, "BTCUSDT")
    assert m.open_by_tag(a, "label", "x") == [eth]
    assert m.open_by_tag(a, "label", "y") == []
    with pytest.raises(KeyError):
        m.open_by_tag(a, "clOrdId", "x")  # not indexed: an error, never a silently empty answer


# ---------------------------------------------------------------------- amend priority


@pytest.fixture
def queue(env: Env) -> tuple[Env, object, Order, Order, object]:
    a, b, t = env.account("a", BTC="10"), env.account("b", BTC="10"), env.account("t", USDT="10000")
    first = place(env, a, SELL, "1", "100")
    second = place(env, b, SELL, "1", "100")
    return env, a, first, second, t


def first_maker_hit(env: Env, taker: object) -> int:
    env.events.clear()
    place(env, taker, BUY, "0.1", "100")
    return next(oid for oid, _, _, mk in trades(env) if mk)


def test_amend_auto_qty_down_keeps_priority(queue: tuple[Env, object, Order, Order, object]) -> None:
    env, a, first, _, t = queue
    seq = first.seq
    env.market.amend(a, "BTCUSDT", first.order_id, new_qty=D("0.5"))
    assert first.seq == seq and first.qty == D("0.5")
    assert first_maker_hit(env, t) == first.order_id


def test_amend_auto_qty_up_loses_priority(queue: tuple[Env, object, Order, Order, object]) -> None:
    env, a, first, second, t = queue
    env.market.amend(a, "BTCUSDT", first.order_id, new_qty=D("2"))
    assert first.seq > second.seq
    assert first_maker_hit(env, t) == second.order_id


def test_amend_auto_price_change_loses_priority(env: Env) -> None:
    a, b, t = env.account("a", BTC="10"), env.account("b", BTC="10"), env.account("t", USDT="10000")
    early = place(env, a, SELL, "1", "101")
    late = place(env, b, SELL, "1", "100")
    env.market.amend(a, "BTCUSDT", early.order_id, new_price=D("100"))
    assert first_maker_hit(env, t) == late.order_id


def test_amend_lose_always_requeues(queue: tuple[Env, object, Order, Order, object]) -> None:
    env, a, first, second, t = queue
    env.market.amend(a, "BTCUSDT", first.order_id, new_qty=D("0.5"), priority="lose")
    assert first_maker_hit(env, t) == second.order_id


def test_amend_keep_on_qty_increase_keeps_priority(queue: tuple[Env, object, Order, Order, object]) -> None:
    env, a, first, _, t = queue
    env.market.amend(a, "BTCUSDT", first.order_id, new_qty=D("2"), priority="keep")
    assert first_maker_hit(env, t) == first.order_id


def test_amend_to_crossing_price_trades_as_taker(env: Env) -> None:
    b, a = env.account("b", USDT="1000"), env.account("a", BTC="10")
    bid = place(env, b, BUY, "1", "99")
    ask = place(env, a, SELL, "1", "101")
    env.events.clear()
    env.market.amend(a, "BTCUSDT", ask.order_id, new_price=D("99"))
    assert env.order_events()[0] == (ask.order_id, ExecType.AMENDED)
    assert trades(env) == [(bid.order_id, D("99"), D("1"), True), (ask.order_id, D("99"), D("1"), False)]
    assert ask.status is OrderStatus.FILLED and bid.status is OrderStatus.FILLED
    assert env.bal(a, "USDT") == (D("98.802"), D("0"))  # taker fee 0.2% of 99


def test_amend_post_only_to_crossing_price_cancels(env: Env) -> None:
    b, a = env.account("b", USDT="1000"), env.account("a", BTC="10")
    place(env, b, BUY, "1", "99")
    ask = place(env, a, SELL, "1", "101", tif=TimeInForce.GTX)
    env.market.amend(a, "BTCUSDT", ask.order_id, new_price=D("99"))
    assert ask.status is OrderStatus.CANCELED and ask.expire_reason == "POST_ONLY"
    assert ask.filled == 0
    assert env.bal(a, "BTC") == (D("10"), D("0"))


def test_amend_qty_to_filled_cancels(env: Env) -> None:
    m, t = env.account("m", BTC="10"), env.account("t", USDT="1000")
    ask = place(env, m, SELL, "2", "100")
    place(env, t, BUY, "0.5", "100")
    env.market.amend(m, "BTCUSDT", ask.order_id, new_qty=D("0.5"))
    assert ask.status is OrderStatus.CANCELED
    assert env.bal(m, "BTC") == (D("9.5"), D("0"))


# ---------------------------------------------------------------------- self-trade prevention


@pytest.fixture
def stp_book(env: Env) -> tuple[Env, object, Order, Order]:
    alice, bob = env.account("alice", BTC="10", USDT="1000"), env.account("bob", BTC="10")
    own = place(env, alice, SELL, "1", "100")
    other = place(env, bob, SELL, "1", "100.5")
    env.events.clear()
    return env, alice, own, other


def test_stp_expire_maker(stp_book: tuple[Env, object, Order, Order]) -> None:
    env, alice, own, other = stp_book
    taker = place(env, alice, BUY, "2", "101", stp=STPMode.EXPIRE_MAKER)
    assert own.status is OrderStatus.EXPIRED and own.expire_reason == "STP"
    assert other.status is OrderStatus.FILLED
    assert (taker.status, taker.filled) == (OrderStatus.PARTIALLY_FILLED, D("1"))
    assert env.bal(alice, "BTC") == (D("10.998"), D("0"))  # own ask released, 1 bought minus fee


def test_stp_expire_taker(stp_book: tuple[Env, object, Order, Order]) -> None:
    env, alice, own, other = stp_book
    taker = place(env, alice, BUY, "2", "101", stp=STPMode.EXPIRE_TAKER)
    assert (taker.status, taker.expire_reason, taker.filled) == (OrderStatus.EXPIRED, "STP", D(0))
    assert own.status is OrderStatus.NEW and other.status is OrderStatus.NEW
    assert trades(env) == []
    assert env.bal(alice, "USDT") == (D("1000"), D("0"))


def test_stp_expire_both(stp_book: tuple[Env, object, Order, Order]) -> None:
    env, alice, own, other = stp_book
    taker = place(env, alice, BUY, "2", "101", stp=STPMode.EXPIRE_BOTH)
    assert taker.status is OrderStatus.EXPIRED and own.status is OrderStatus.EXPIRED
    assert other.status is OrderStatus.NEW
    assert env.bal(alice, "BTC") == (D("10"), D("0"))
    assert env.bal(alice, "USDT") == (D("1000"), D("0"))


def test_stp_none_trades_with_itself(stp_book: tuple[Env, object, Order, Order]) -> None:
    env, alice, own, other = stp_book
    taker = place(env, alice, BUY, "2", "101", stp=STPMode.NONE)
    assert taker.status is OrderStatus.FILLED and own.status is OrderStatus.FILLED
    assert [oid for oid, _, _, mk in trades(env) if mk] == [own.order_id, other.order_id]


def test_market_default_stp_applies() -> None:
    env = make_env(SPOT_BTC, default_stp=STPMode.EXPIRE_MAKER)
    alice = env.account("alice", BTC="10", USDT="1000")
    own = place(env, alice, SELL, "1", "100")
    taker = place(env, alice, BUY, "1", "100")
    assert taker.stp is STPMode.EXPIRE_MAKER
    assert own.status is OrderStatus.EXPIRED and taker.status is OrderStatus.NEW


# ---------------------------------------------------------------------- cancel all


def test_cancel_all_by_symbol(env: Env) -> None:
    a, other = env.account("a", USDT="10000"), env.account("o", USDT="10000")
    b1 = place(env, a, BUY, "1", "90")
    b2 = place(env, a, BUY, "1", "91")
    e1 = place(env, a, BUY, "1", "9", symbol="ETHUSDT")
    o1 = place(env, other, BUY, "1", "89")
    cancelled = env.market.cancel_all(a, "BTCUSDT")
    assert {o.order_id for o in cancelled} == {b1.order_id, b2.order_id}
    assert all(o.status is OrderStatus.CANCELED for o in (b1, b2))
    assert e1.status is OrderStatus.NEW and o1.status is OrderStatus.NEW
    assert env.bal(a, "USDT") == (D("9991"), D("9"))
    assert env.market.open_orders(a) == [e1]
    assert env.market.cancel_all(a, "BTCUSDT") == []
    with pytest.raises(OrderError):
        env.market.cancel_all(a, "NOPE")


# ---------------------------------------------------------------------- events


def test_event_sequence_of_a_crossing_order(env: Env) -> None:
    m, t = env.account("m", BTC="10"), env.account("t", USDT="1000")
    maker = place(env, m, SELL, "2", "100")
    assert env.kinds() == ["NEW", "ACCOUNT", "BOOK_TOP"]
    top = env.events[-1]
    assert isinstance(top, BookTop) and (top.ask, top.ask_qty, top.bid) == (D("100"), D("2"), None)
    env.events.clear()

    env.clock.advance(7)
    taker = place(env, t, BUY, "0.5", "100")
    assert env.kinds() == ["NEW", "TRADE", "TRADE", "PUBLIC_TRADE", "ACCOUNT", "ACCOUNT", "BOOK_TOP"]
    assert env.order_events() == [
        (taker.order_id, ExecType.NEW),
        (maker.order_id, ExecType.TRADE),
        (taker.order_id, ExecType.TRADE),
    ]
    pub = env.events[3]
    assert isinstance(pub, PublicTrade)
    assert (pub.price, pub.qty, pub.taker_side, pub.time_ms) == (D("100"), D("0.5"), BUY, env.clock.t)
    accounts = [e.account_id for e in env.events if isinstance(e, AccountEvent)]
    assert sorted(accounts) == ["m", "t"]
    acct_t = next(e for e in env.events if isinstance(e, AccountEvent) and e.account_id == "t")
    assert acct_t.assets == frozenset({"BTC", "USDT"}) and acct_t.reason == "ORDER"
    top = env.events[-1]
    assert isinstance(top, BookTop) and (top.ask, top.ask_qty) == (D("100"), D("1.5"))


def test_book_top_only_when_top_changes(env: Env) -> None:
    m = env.account("m", BTC="10", USDT="10000")
    place(env, m, BUY, "1", "99")
    assert env.kinds() == ["NEW", "ACCOUNT", "BOOK_TOP"]
    env.events.clear()
    deeper = place(env, m, BUY, "1", "98")  # behind the best bid: top unchanged
    assert env.kinds() == ["NEW", "ACCOUNT"]
    env.events.clear()
    env.market.cancel(m, "BTCUSDT", deeper.order_id)
    assert env.kinds() == ["CANCELED", "ACCOUNT"]
    env.events.clear()
    place(env, m, BUY, "1", "99")  # same best price, more quantity: top changed
    assert env.kinds() == ["NEW", "ACCOUNT", "BOOK_TOP"]


def test_account_event_once_per_operation(env: Env) -> None:
    m, t = env.account("m", BTC="10"), env.account("t", USDT="10000")
    for px in ("100", "100.01", "100.02", "100.03"):
        place(env, m, SELL, "1", px)
    env.events.clear()
    place(env, t, BUY, "4", "100.03")  # four fills, one account event per account
    assert [e.account_id for e in env.events if isinstance(e, AccountEvent)].count("t") == 1
    assert [e.account_id for e in env.events if isinstance(e, AccountEvent)].count("m") == 1
    assert env.kinds().count("PUBLIC_TRADE") == 4
    assert env.kinds().count("BOOK_TOP") == 1


def test_events_carry_clock_time(env: Env) -> None:
    m = env.account("m", BTC="10")
    env.clock.t = 1_234_567
    o = place(env, m, SELL, "1", "100")
    env.clock.t = 1_234_999
    env.market.cancel(m, "BTCUSDT", o.order_id)
    assert (o.created_ms, o.updated_ms) == (1_234_567, 1_234_999)


# ---------------------------------------------------------------------- instrument filters


@pytest.mark.parametrize(
    ("side", "type", "qty", "price", "reason", "detail"),
    [
        (BUY, OrderType.LIMIT, "1", "100.005", RejectReason.PRICE_FILTER, "tick"),
        (BUY, OrderType.LIMIT, "1", "0.001", RejectReason.PRICE_FILTER, "outside"),
        (BUY, OrderType.LIMIT, "0.0015", "100", RejectReason.LOT_SIZE, "lot"),
        (BUY, OrderType.LIMIT, "0.0001", "100", RejectReason.LOT_SIZE, "outside"),
        (BUY, OrderType.LIMIT, "1000.001", "100", RejectReason.LOT_SIZE, "outside"),
        (BUY, OrderType.LIMIT, "0.049", "100", RejectReason.MIN_NOTIONAL, ""),
        (SELL, OrderType.LIMIT, "1", "500.01", RejectReason.PERCENT_PRICE, "up"),
        (BUY, OrderType.LIMIT, "1", "19.99", RejectReason.PERCENT_PRICE, "down"),
        (BUY, OrderType.MARKET, "100.001", None, RejectReason.MARKET_LOT_SIZE, "outside"),
    ],
)
def test_filter_rejections(
    env: Env, side: Side, type: OrderType, qty: str, price: str | None, reason: RejectReason, detail: str
) -> None:
    rich = env.account("rich", USDT="10000000", BTC="100000")
    with pytest.raises(OrderError) as e:
        env.market.place(rich, "BTCUSDT", side, type, D(qty), D(price) if price else None)
    assert e.value.reason is reason
    assert detail in e.value.detail
    assert env.market.orders == {} and env.events == []


def test_filter_boundaries_accepted(env: Env) -> None:
    rich = env.account("rich", USDT="10000000", BTC="100000")
    for side, qty, px in ((BUY, "0.05", "100"), (SELL, "1", "500"), (BUY, "1", "20"), (BUY, "1000", "20")):
        o = place(env, rich, side, qty, px)
        assert o.status is OrderStatus.NEW
        env.market.cancel(rich, "BTCUSDT", o.order_id)  # keep the mid (and so the band) at the reference


def test_percent_band_follows_the_book_mid(env: Env) -> None:
    m = env.account("m", USDT="100000", BTC="100")
    place(env, m, BUY, "1", "199.98")
    place(env, m, SELL, "1", "200.02")  # mid 200: band is now [40, 1000]
    with pytest.raises(OrderError) as e:
        place(env, m, BUY, "1", "39.99")
    assert e.value.reason is RejectReason.PERCENT_PRICE
    assert place(env, m, SELL, "1", "1000").status is OrderStatus.NEW


def test_unknown_symbol(env: Env) -> None:
    a = env.account("a", USDT="1")
    with pytest.raises(OrderError) as e:
        env.market.place(a, "XRPUSDT", BUY, OrderType.LIMIT, D(1), D(1))
    assert e.value.reason is RejectReason.UNKNOWN_SYMBOL


def test_cancel_all_publishes_one_account_event(env: Env) -> None:
    a = env.account("a", USDT="10000")
    for px in ("90", "91", "92"):
        place(env, a, BUY, "1", px)
    env.events.clear()
    env.market.cancel_all(a, "BTCUSDT")
    assert env.kinds() == ["CANCELED", "CANCELED", "CANCELED", "ACCOUNT", "BOOK_TOP"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"new_price": D("90.001")}, RejectReason.PRICE_FILTER),
        ({"new_qty": D("0.0005")}, RejectReason.LOT_SIZE),
        ({"new_qty": D("200")}, RejectReason.INSUFFICIENT_BALANCE),
        ({"new_qty": D("0.05"), "new_price": D("90")}, RejectReason.MIN_NOTIONAL),
    ],
)
def test_refused_amend_changes_nothing(env: Env, change: dict[str, Decimal], reason: RejectReason) -> None:
    a = env.account("a", USDT="10000")
    bid = place(env, a, BUY, "1", "90")
    seq = bid.seq
    env.events.clear()
    with pytest.raises(OrderError) as e:
        env.market.amend(a, "BTCUSDT", bid.order_id, **change)  # type: ignore[arg-type]
    assert e.value.reason is reason
    assert (bid.qty, bid.price, bid.seq, bid.locked, bid.amend_count) == (D("1"), D("90"), seq, D("90"), 0)
    assert env.bal(a, "USDT") == (D("9910"), D("90"))
    assert env.events == []


def test_amend_unknown_or_closed_order(env: Env) -> None:
    a, other = env.account("a", USDT="10000"), env.account("o", USDT="10000")
    bid = place(env, a, BUY, "1", "90")
    with pytest.raises(OrderError) as e:
        env.market.amend(other, "BTCUSDT", bid.order_id, new_qty=D("0.5"))  # not theirs
    assert e.value.reason is RejectReason.UNKNOWN_ORDER
    env.market.cancel(a, "BTCUSDT", bid.order_id)
    with pytest.raises(OrderError) as e:
        env.market.amend(a, "BTCUSDT", bid.order_id, new_qty=D("0.5"))
    assert e.value.reason is RejectReason.ORDER_NOT_OPEN
    m = env.market.place(a, "BTCUSDT", BUY, OrderType.MARKET, D("1"))  # expires: nothing to buy
    with pytest.raises(OrderError):
        env.market.amend(a, "BTCUSDT", m.order_id, new_qty=D("0.5"))
