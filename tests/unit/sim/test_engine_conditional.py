"""Matching engine: conditional orders (core/conditional.py) — stop and take-profit levels on the last and
mark price, gap-through, refusal of a level already crossed, trailing stops, spawned children, cancel,
amend and a trigger that can no longer be placed."""

from __future__ import annotations

import pytest
from engine_helpers import LINEAR, D, Env, make_env
from execx_sim.core import conditional
from execx_sim.core.accounts import Account
from execx_sim.core.types import (
    Direction,
    ExecType,
    Order,
    OrderError,
    OrderEvent,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    Trigger,
    TriggerRef,
)

BUY, SELL = Side.BUY, Side.SELL


@pytest.fixture
def env() -> Env:
    return make_env(LINEAR, name="usdm")


def trade_at(env: Env, maker: Account, taker: Account, price: str, qty: str = "1") -> None:
    """One print at ``price``: ``maker`` rests a sell, ``taker`` lifts it."""
    env.limit(maker, SELL, qty, price)
    env.limit(taker, BUY, qty, price)


def arm(env: Env, acct: Account, side: Side, trigger: Trigger, qty: str = "1", **kw: object) -> Order:
    return conditional.arm(env.market, acct, "BTCUSDT", side, OrderType.MARKET, D(qty), trigger, **kw)  # type: ignore[arg-type]


def events_of(env: Env, order: Order) -> list[ExecType]:
    return [e.exec_type for e in env.events if isinstance(e, OrderEvent) and e.order is order]


@pytest.fixture
def people(env: Env) -> tuple[Account, Account, Account]:
    return tuple(env.account(n, USDT="1000000") for n in ("mm", "tk", "me"))  # type: ignore[return-value]


def test_stop_market_fires_on_the_last_price_and_fills_under_the_same_id(env: Env, people: tuple[Account, ...]) -> None:
    mm, tk, me = people
    trade_at(env, mm, tk, "100")
    stop = arm(env, me, BUY, Trigger(Direction.RISE, D("105")), client_id="s1")
    assert stop.status is OrderStatus.UNTRIGGERED
    assert conditional.armed_orders(env.market, me) == [stop]
    assert env.market.find_order(me, "BTCUSDT", client_id="s1") is stop
    env.limit(mm, SELL, "5", "106")  # liquidity for the stop's market order
    trade_at(env, mm, tk, "104")
    assert stop.status is OrderStatus.UNTRIGGERED
    env.events.clear()
    trade_at(env, mm, tk, "105.5")  # at or beyond the level (gapped through 105)
    assert stop.status is OrderStatus.FILLED
    assert stop.trigger is not None and stop.trigger.fired_price == D("105.5")
    assert events_of(env, stop) == [ExecType.TRIGGERED, ExecType.TRADE]
    assert conditional.armed_orders(env.market, me) == []
    assert me.wallet("usdm").position("BTCUSDT").qty == D("1")


def test_a_level_already_crossed_is_refused_or_fires_at_once(env: Env, people: tuple[Account, ...]) -> None:
    mm, tk, me = people
    trade_at(env, mm, tk, "100")
    with pytest.raises(OrderError) as e:
        arm(env, me, SELL, Trigger(Direction.FALL, D("101")))
    assert e.value.reason is RejectReason.WOULD_TRIGGER_IMMEDIATELY
    env.limit(mm, BUY, "5", "99")
    now = arm(env, me, SELL, Trigger(Direction.FALL, D("101")), reject_crossed=False)
    assert now.status is OrderStatus.FILLED


def test_mark_reference_reads_the_mid(env: Env, people: tuple[Account, ...]) -> None:
    mm, _tk, me = people
    env.limit(mm, BUY, "1", "99")
    ask = env.limit(mm, SELL, "1", "101")
    assert isinstance(ask, Order)
    tp = arm(env, me, SELL, Trigger(Direction.RISE, D("102"), ref=TriggerRef.MARK))
    env.limit(mm, SELL, "1", "104")
    assert tp.status is OrderStatus.UNTRIGGERED  # no trade at all: the last price plays no part
    env.market.cancel(mm, "BTCUSDT", order_id=ask.order_id)  # best ask 104: mid 101.5
    assert tp.status is OrderStatus.UNTRIGGERED
    env.limit(mm, BUY, "1", "100")  # bid 100 / ask 104: mid 102
    assert tp.status is OrderStatus.FILLED and tp.trigger is not None and tp.trigger.fired_price == D("102")


def test_trailing_stop_follows_the_best_price_then_fires(env: Env, people: tuple[Account, ...]) -> None:
    mm, tk, _me = people
    trade_at(env, mm, tk, "100")
    me_long = env.account("long", USDT="1000000")
    trade_at(env, mm, me_long, "100")  # a long position to protect
    trail = arm(env, me_long, SELL, Trigger(Direction.FALL, offset=D("2"), activation=D("101")), reduce_only=True)
    trade_at(env, mm, tk, "100.5")  # below the activation: not trailing yet
    assert trail.trigger is not None and trail.trigger.price is None
    trade_at(env, mm, tk, "101")
    assert trail.trigger.price == D("99")
    trade_at(env, mm, tk, "105")
    assert trail.trigger.price == D("103")
    trade_at(env, mm, tk, "104")  # never loosens
    assert trail.trigger.price == D("103") and trail.status is OrderStatus.UNTRIGGERED
    env.limit(mm, BUY, "5", "102")  # liquidity for the stop's market sell
    env.limit(mm, SELL, "1", "103")
    env.limit(tk, BUY, "1", "103")  # print at 103: fires
    assert trail.status is OrderStatus.FILLED
    assert me_long.wallet("usdm").position("BTCUSDT").qty == 0


def test_rate_trailing_stop_for_a_buy(env: Env, people: tuple[Account, ...]) -> None:
    mm, tk, me = people
    trade_at(env, mm, tk, "100")
    trail = arm(env, me, BUY, Trigger(Direction.RISE, rate=D("0.01")))
    assert trail.trigger is not None and trail.trigger.price == D("101.00")
    trade_at(env, mm, tk, "90")
    assert trail.trigger.price == D("90.90")
    env.limit(mm, SELL, "5", "95")
    trade_at(env, mm, tk, "91")
    assert trail.status is OrderStatus.FILLED


def test_spawned_child_has_its_own_id(env: Env, people: tuple[Account, ...]) -> None:
    mm, tk, me = people
    trade_at(env, mm, tk, "100")
    algo = arm(env, me, BUY, Trigger(Direction.RISE, D("101"), spawn=True), extra={"child_client_id": "child-1"})
    env.limit(mm, SELL, "5", "102")
    env.events.clear()
    trade_at(env, mm, tk, "101")
    child = algo.trigger.child if algo.trigger else None
    assert algo.status is OrderStatus.TRIGGERED and child is not None
    assert child.order_id != algo.order_id and child.client_id == "child-1"
    assert child.status is OrderStatus.FILLED and child.extra["parent"] is algo
    assert events_of(env, algo) == [ExecType.TRIGGERED]


def test_cancel_and_amend_an_armed_order(env: Env, people: tuple[Account, ...]) -> None:
    mm, tk, me = people
    trade_at(env, mm, tk, "100")
    stop = arm(env, me, SELL, Trigger(Direction.FALL, D("95")), client_id="s2")
    conditional.amend(env.market, stop, qty=D("2"), trigger_price=D("96"))
    assert (stop.qty, stop.trigger.price if stop.trigger else None) == (D("2"), D("96"))
    env.events.clear()
    env.market.cancel(me, "BTCUSDT", client_id="s2")
    assert stop.status is OrderStatus.CANCELED and events_of(env, stop) == [ExecType.CANCELED]
    assert conditional.armed_orders(env.market, me) == []
    trade_at(env, mm, tk, "90")
    assert stop.status is OrderStatus.CANCELED
    with pytest.raises(OrderError):
        env.market.cancel(me, "BTCUSDT", client_id="s2")


def test_reduce_only_without_a_position_is_rejected_when_it_fires(env: Env, people: tuple[Account, ...]) -> None:
    mm, tk, me = people
    trade_at(env, mm, tk, "100")
    stop = arm(env, me, SELL, Trigger(Direction.FALL, D("95")), reduce_only=True)
    env.events.clear()
    trade_at(env, mm, tk, "94")
    assert stop.status is OrderStatus.REJECTED and events_of(env, stop) == [ExecType.REJECTED]


def test_arm_validates_the_order_it_will_place(env: Env, people: tuple[Account, ...]) -> None:
    _mm, _tk, me = people
    with pytest.raises(OrderError) as e:
        arm(env, me, BUY, Trigger(Direction.RISE, D("105")), qty="0.0001")
    assert e.value.reason is RejectReason.MARKET_LOT_SIZE
    with pytest.raises(OrderError):
        arm(env, me, BUY, Trigger(Direction.RISE, None))


def test_trailing_with_an_activation_reached_the_trailing_way(env: Env, people: tuple[Account, ...]) -> None:
    """Binance spot's trailing STOP_LOSS sell with a stopPrice (faqs/trailing-stop-faq.md, scenario B scaled:
    stop 390, 10 %): the trail starts once the price FELL to the stop (``activation_direction``), from
    there trails the highest price, fires 10 % below it. Without it, a sell trail starts once the price rose."""
    mm, tk, me = people
    trade_at(env, mm, tk, "400")
    trigger = Trigger(Direction.FALL, None, rate=D("0.1"), activation=D("390"), activation_direction=Direction.FALL)
    stop = arm(env, me, SELL, trigger, client_id="bs")
    env.limit(mm, BUY, "5", "300")  # liquidity for the stop's market order
    trade_at(env, mm, tk, "415")  # rises: not active yet (a default sell trail would start here)
    assert trigger.extreme is None
    trade_at(env, mm, tk, "390")  # falls to the stop: active, highest 390
    assert trigger.extreme == D("390") and trigger.price == D("351.0")
    trade_at(env, mm, tk, "370")
    trade_at(env, mm, tk, "410")  # new highest: level 369
    assert stop.status is OrderStatus.UNTRIGGERED and trigger.price == D("369.0")
    trade_at(env, mm, tk, "369")
    assert stop.status is OrderStatus.FILLED
    assert events_of(env, stop)[:2] == [ExecType.NEW, ExecType.TRIGGERED]
