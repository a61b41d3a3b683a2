"""Matching engine (futures, one-way mode): positions with entry averaging, realised PnL on reduce and
flip for linear and inverse contracts, fees in the margin asset, margin checks and reduce-only."""

from __future__ import annotations

import pytest
from engine_helpers import INVERSE, LINEAR, D, Env, make_env
from execx_sim.core.accounts import Account
from execx_sim.core.types import Fill, Order, OrderError, OrderEvent, OrderStatus, OrderType, RejectReason, Side

BUY, SELL = Side.BUY, Side.SELL


def fills_of(env: Env, acct: Account) -> list[Fill]:
    return [
        e.fill for e in env.events if isinstance(e, OrderEvent) and e.fill and e.order.account_id == acct.account_id
    ]


def cross(env: Env, maker: Account, taker: Account, taker_side: Side, qty: str, price: str) -> Order:
    """``maker`` rests ``qty`` at ``price``; ``taker`` takes all of it with a limit order at that price."""
    env.limit(maker, taker_side.opposite, qty, price)
    o = env.limit(taker, taker_side, qty, price)
    assert isinstance(o, Order) and o.status is OrderStatus.FILLED
    return o


def position(env: Env, acct: Account, symbol: str) -> tuple[D, D, D]:
    p = acct.wallet(env.market.name).position(symbol)
    return p.qty, p.entry_price, p.realized_pnl


# ---------------------------------------------------------------------- linear (USDT-margined)


@pytest.fixture
def lin() -> Env:
    return make_env(LINEAR, name="usdm")


def test_linear_entry_average_reduce_and_flip(lin: Env) -> None:
    alice, bob = lin.account("alice", USDT="100000"), lin.account("bob", USDT="100000")
    cross(lin, bob, alice, BUY, "2", "100")
    cross(lin, bob, alice, BUY, "2", "110")
    assert position(lin, alice, "BTCUSDT") == (D("4"), D("105"), D("0"))
    assert position(lin, bob, "BTCUSDT") == (D("-4"), D("105"), D("0"))

    lin.events.clear()
    cross(lin, bob, alice, SELL, "3", "120")  # alice reduces: +3 * (120 - 105)
    [fill] = fills_of(lin, alice)
    assert (fill.realized_pnl, fill.fee, fill.fee_asset, fill.is_maker) == (D("45"), D("0.18"), "USDT", False)
    [bob_fill] = fills_of(lin, bob)
    assert (bob_fill.realized_pnl, bob_fill.fee, bob_fill.is_maker) == (D("-45"), D("0.072"), True)
    assert position(lin, alice, "BTCUSDT") == (D("1"), D("105"), D("45"))
    assert position(lin, bob, "BTCUSDT") == (D("-1"), D("105"), D("-45"))

    cross(lin, bob, alice, SELL, "3", "100")  # alice closes 1 at a loss of 5 and flips short 2 @ 100
    assert position(lin, alice, "BTCUSDT") == (D("-2"), D("100"), D("40"))
    assert position(lin, bob, "BTCUSDT") == (D("2"), D("100"), D("-40"))

    # Wallet: realised PnL minus taker fees 0.0005 * (200 + 220 + 360 + 300) = 0.54.
    assert lin.bal(alice, "USDT") == (D("100039.46"), D("0"))
    # Maker fees 0.0002 * 1080 = 0.216.
    assert lin.bal(bob, "USDT") == (D("99959.784"), D("0"))


def test_linear_close_to_flat_resets_entry(lin: Env) -> None:
    alice, bob = lin.account("alice", USDT="100000"), lin.account("bob", USDT="100000")
    cross(lin, bob, alice, SELL, "1.5", "200")
    cross(lin, bob, alice, BUY, "1.5", "190")
    assert position(lin, alice, "BTCUSDT") == (D("0"), D("0"), D("15"))


def test_linear_unrealized_pnl(lin: Env) -> None:
    alice, bob = lin.account("alice", USDT="100000"), lin.account("bob", USDT="100000")
    cross(lin, bob, alice, BUY, "2", "100")
    pos = alice.wallet("usdm").position("BTCUSDT")
    assert pos.unrealized(LINEAR, D("112.5")) == D("25")
    assert pos.initial_margin(LINEAR, D("112.5")) == D("11.25")  # 2 * 112.5 / 20x


def test_linear_margin_check(lin: Env) -> None:
    alice = lin.account("alice", USDT="1000")  # 20x leverage: 20000 USDT of orders
    o = lin.limit(alice, BUY, "200", "100")
    assert isinstance(o, Order) and o.locked == D("1000")
    assert lin.market.available_margin(alice.wallet("usdm"), "USDT") == D("0")
    with pytest.raises(OrderError) as e:
        lin.limit(alice, BUY, "0.1", "100")
    assert e.value.reason is RejectReason.INSUFFICIENT_MARGIN

    carol = lin.account("carol", USDT="1000")
    with pytest.raises(OrderError) as e:
        lin.limit(carol, SELL, "200.001", "100")
    assert e.value.reason is RejectReason.INSUFFICIENT_MARGIN
    assert lin.market.open_orders(carol) == []

    lin.market.cancel(alice, "BTCUSDT", o.order_id)
    assert lin.market.available_margin(alice.wallet("usdm"), "USDT") == D("1000")
    lin.market.set_leverage(alice, "BTCUSDT", 5)
    with pytest.raises(OrderError):
        lin.limit(alice, BUY, "50.001", "100")
    assert isinstance(lin.limit(alice, BUY, "50", "100"), Order)


def test_closing_order_needs_no_margin(lin: Env) -> None:
    alice, bob = lin.account("alice", USDT="100000"), lin.account("bob", USDT="100000")
    cross(lin, bob, alice, BUY, "10", "100")
    lin.market.adjust_balance(alice, "USDT", D("0"))
    # A sell up to the position size only closes: accepted with nothing reserved.
    close = lin.limit(alice, SELL, "10", "101")
    assert isinstance(close, Order) and close.locked == D("0")
    with pytest.raises(OrderError) as e:
        lin.limit(alice, SELL, "20", "101")
    assert e.value.reason is RejectReason.INSUFFICIENT_MARGIN


def test_reduce_only(lin: Env) -> None:
    alice, bob = lin.account("alice", USDT="100000"), lin.account("bob", USDT="100000")
    with pytest.raises(OrderError) as e:
        lin.limit(alice, SELL, "1", "100", reduce_only=True)  # flat: nothing to reduce
    assert e.value.reason is RejectReason.REDUCE_ONLY
    cross(lin, bob, alice, BUY, "1", "100")
    with pytest.raises(OrderError) as e:
        lin.limit(alice, BUY, "1", "100", reduce_only=True)  # would increase the long
    assert e.value.reason is RejectReason.REDUCE_ONLY
    ro = lin.limit(alice, SELL, "0.4", "105", reduce_only=True)
    assert isinstance(ro, Order) and ro.locked == D("0") and ro.reduce_only
    lin.limit(bob, BUY, "0.4", "105")
    assert position(lin, alice, "BTCUSDT") == (D("0.6"), D("100"), D("2"))


def test_resting_reduce_only_never_flips(lin: Env) -> None:
    alice, bob = lin.account("alice", USDT="100000"), lin.account("bob", USDT="100000")
    cross(lin, bob, alice, BUY, "1", "100")
    ro = lin.limit(alice, SELL, "2", "105", reduce_only=True)
    taker = lin.limit(bob, BUY, "2", "105")
    assert isinstance(ro, Order) and isinstance(taker, Order)
    assert (ro.status, ro.filled, ro.expire_reason) == (OrderStatus.EXPIRED, D("1"), "REDUCE_ONLY")
    assert (taker.status, taker.filled) == (OrderStatus.PARTIALLY_FILLED, D("1"))
    assert position(lin, alice, "BTCUSDT") == (D("0"), D("0"), D("5"))


def test_taker_reduce_only_capped_at_position(lin: Env) -> None:
    alice, bob = lin.account("alice", USDT="100000"), lin.account("bob", USDT="100000")
    cross(lin, bob, alice, SELL, "1.5", "100")
    lin.limit(bob, SELL, "5", "99")
    ro = lin.market.place(alice, "BTCUSDT", BUY, OrderType.MARKET, D("3"), reduce_only=True)
    assert (ro.status, ro.filled, ro.expire_reason) == (OrderStatus.EXPIRED, D("1.5"), "REDUCE_ONLY")
    assert position(lin, alice, "BTCUSDT") == (D("0"), D("0"), D("1.5"))


# ---------------------------------------------------------------------- inverse (coin-margined)


@pytest.fixture
def inv() -> Env:
    return make_env(INVERSE, name="coinm")


def test_inverse_entry_is_harmonic_mean_and_pnl_in_coin(inv: Env) -> None:
    alice, bob = inv.account("alice", BTC="10"), inv.account("bob", BTC="10")
    inv.events.clear()
    cross(inv, bob, alice, BUY, "2", "40000")
    cross(inv, bob, alice, BUY, "3", "60000")
    # 5 contracts / (2/40000 + 3/60000) = 50000
    assert position(inv, alice, "BTCUSD_PERP") == (D("5"), D("50000"), D("0"))
    fees = [f.fee for f in fills_of(inv, alice)]
    assert fees == [D("0.0000025"), D("0.0000025")]  # 2 * 100 / 40000 * 0.05%, 3 * 100 / 60000 * 0.05%
    assert all(f.fee_asset == "BTC" for f in fills_of(inv, alice))

    pos = alice.wallet("coinm").position("BTCUSD_PERP")
    assert pos.unrealized(INVERSE, D("62500")) == D("0.002")  # 5 * 100 * (1/50000 - 1/62500)
    assert pos.initial_margin(INVERSE, D("62500")) == D("0.0004")  # 500 / 62500 / 20

    inv.events.clear()
    cross(inv, bob, alice, SELL, "5", "62500")
    [fill] = fills_of(inv, alice)
    assert (fill.realized_pnl, fill.fee) == (D("0.002"), D("0.000004"))
    assert position(inv, alice, "BTCUSD_PERP") == (D("0"), D("0"), D("0.002"))
    assert inv.bal(alice, "BTC") == (D("10.001991"), D("0"))
    assert position(inv, bob, "BTCUSD_PERP") == (D("0"), D("0"), D("-0.002"))


def test_inverse_flip(inv: Env) -> None:
    alice, bob = inv.account("alice", BTC="10"), inv.account("bob", BTC="10")
    cross(inv, bob, alice, SELL, "4", "50000")
    cross(inv, bob, alice, BUY, "6", "40000")  # closes the short of 4, opens a long of 2 at 40000
    qty, entry, realized = position(inv, alice, "BTCUSD_PERP")
    assert (qty, entry) == (D("2"), D("40000"))
    assert realized == D("0.002")  # short 4 from 50000 to 40000: 400 * (0.000025 - 0.00002)


def test_inverse_margin_check(inv: Env) -> None:
    alice = inv.account("alice", BTC="0.01")  # 20x: 0.2 BTC of contracts = 100 contracts at 50000
    o = inv.limit(alice, BUY, "100", "50000")
    assert isinstance(o, Order) and o.locked == D("0.01")
    with pytest.raises(OrderError) as e:
        inv.limit(alice, BUY, "1", "50000")
    assert e.value.reason is RejectReason.INSUFFICIENT_MARGIN


def test_market_order_margin_uses_mark(inv: Env) -> None:
    alice, bob = inv.account("alice", BTC="10"), inv.account("bob", BTC="10")
    inv.limit(bob, SELL, "10", "50000")
    o = inv.market.place(alice, "BTCUSD_PERP", BUY, OrderType.MARKET, D("4"))
    assert o.status is OrderStatus.FILLED
    assert position(inv, alice, "BTCUSD_PERP") == (D("4"), D("50000"), D("0"))


def test_order_margin_is_exactly_what_open_orders_hold(inv: Env) -> None:
    """Inverse margins are repeating decimals (contracts / price / leverage). The wallet's running total
    of order margin must stay exactly the sum of what open orders hold, and exactly zero when none are
    left (found by test_engine_properties: it drifted by 1e-31)."""
    alice = inv.account("alice", BTC="100")
    orders = [inv.limit(alice, BUY, "1", "50000") for _ in range(7)]
    orders.append(inv.limit(alice, BUY, "3", "49998.5"))
    inv.market.cancel(alice, "BTCUSD_PERP", orders[0].order_id)  # type: ignore[attr-defined]
    wallet = alice.wallet("coinm")
    held = sum((o.locked for o in orders if isinstance(o, Order) and o.is_open), D(0))
    assert wallet.order_margin["BTC"] == held
    inv.market.cancel_all(alice, "BTCUSD_PERP")
    assert wallet.order_margin["BTC"] == 0
    assert inv.market.available_margin(wallet, "BTC") == D(100)
