"""Engine invariants under random sequences of place / cancel / amend / cancel-all (Hypothesis).

After every operation, refused or not: funds are conserved (balances + fees paid = initial), locked
balances equal what open orders hold, nothing is negative, the book is never crossed and holds exactly
the open limit orders, fills never exceed quantities; on futures, positions net to zero."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine_helpers import INVERSE, LINEAR, SPOT_BTC, D, Env, make_env
from execx_sim.core.accounts import Account
from execx_sim.core.instruments import Instrument, Kind
from execx_sim.core.types import (
    Order,
    OrderError,
    OrderEvent,
    OrderStatus,
    OrderType,
    PostOnlyCross,
    Side,
    STPMode,
    TimeInForce,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ACCOUNTS = ("a", "b", "c")

place_op = st.tuples(
    st.just("place"),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(list(Side)),
    st.sampled_from([OrderType.LIMIT, OrderType.LIMIT, OrderType.LIMIT, OrderType.MARKET]),
    st.sampled_from([TimeInForce.GTC] * 4 + list(TimeInForce)),
    st.integers(1, 40),
    st.integers(-4, 4),
    st.sampled_from(list(STPMode)),
    st.booleans(),
    st.sampled_from([False, False, False, True]),
)
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 10**6))
amend_op = st.tuples(
    st.just("amend"),
    st.integers(0, 10**6),
    st.one_of(st.none(), st.integers(1, 40)),
    st.one_of(st.none(), st.integers(-4, 4)),
    st.sampled_from(["auto", "keep", "lose"]),
)
cancel_all_op = st.tuples(st.just("cancel_all"), st.sampled_from(ACCOUNTS))
ops = st.lists(st.one_of(place_op, place_op, place_op, cancel_op, amend_op, cancel_all_op), min_size=10, max_size=60)


def prices(inst: Instrument) -> tuple[Decimal, Decimal]:
    """(centre, step) of the price grid the random orders use."""
    return inst.ref_price, inst.tick * (5 if inst.kind is Kind.INVERSE else 50)


def lot_qty(inst: Instrument, n: int) -> Decimal:
    return inst.lot * n * (1 if inst.kind is Kind.INVERSE else 60)


def run(env: Env, inst: Instrument, sequence: list[tuple[Any, ...]]) -> None:
    market = env.market
    accounts = {name: env.exchange.accounts[name] for name in ACCOUNTS}
    centre, step = prices(inst)
    for op in sequence:
        try:
            if op[0] == "place":
                _, who, side, otype, tif, n, k, stp, quote, reduce_only = op
                qty = lot_qty(inst, n)
                price = centre + step * k if otype is OrderType.LIMIT else None
                quote_qty = qty * centre if (quote and otype is OrderType.MARKET and inst.kind is Kind.SPOT) else None
                market.place(
                    accounts[who],
                    inst.symbol,
                    side,
                    otype,
                    qty,
                    price,
                    tif=tif,
                    stp=stp,
                    quote_qty=quote_qty,
                    reduce_only=reduce_only and inst.is_derivative,
                )
            elif op[0] == "cancel" or op[0] == "amend":
                open_orders = [o for acct in accounts.values() for o in market.open_orders(acct, inst.symbol)]
                if not open_orders:
                    continue
                order = open_orders[op[1] % len(open_orders)]
                owner = env.exchange.accounts[order.account_id]
                if op[0] == "cancel":
                    market.cancel(owner, inst.symbol, order.order_id)
                else:
                    _, _, n, k, priority = op
                    market.amend(
                        owner,
                        inst.symbol,
                        order.order_id,
                        new_qty=lot_qty(inst, n) if n is not None else None,
                        new_price=centre + step * k if k is not None else None,
                        priority=priority,
                    )
            else:
                market.cancel_all(accounts[op[1]], inst.symbol)
        except OrderError:
            pass
        check_invariants(env, inst, accounts)


def check_invariants(env: Env, inst: Instrument, accounts: dict[str, Account]) -> None:
    market = env.market
    book = market.books[inst.symbol]
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is None or ask is None or bid < ask, f"crossed book {bid} >= {ask}"

    in_book = {o.order_id for o in book.orders()}
    open_limit = {o.order_id for acct in accounts.values() for o in market.open_orders(acct, inst.symbol)}
    assert in_book == open_limit
    for o in book.orders():
        assert o.is_open and o.remaining > 0 and o.type is OrderType.LIMIT
    for o in market.orders.values():
        assert 0 <= o.filled <= o.qty, (o.order_id, o.filled, o.qty)
        assert o.locked >= 0, (o.order_id, o.locked)
        if not o.is_open:
            assert o.locked == 0, (o.order_id, o.status, o.locked)
        assert (o.status is OrderStatus.FILLED) == (o.filled == o.qty), (o.order_id, o.status, o.filled, o.qty)
        if o.quote_qty is not None:
            assert o.cum_quote <= o.quote_qty, (o.order_id, o.cum_quote, o.quote_qty)

    fees: dict[str, Decimal] = {}
    for e in env.events:
        if isinstance(e, OrderEvent) and e.fill is not None:
            fees[e.fill.fee_asset] = fees.get(e.fill.fee_asset, D(0)) + e.fill.fee

    if inst.kind is Kind.SPOT:
        for asset, initial in (("BTC", D(3) * 100), ("USDT", D(3) * 100_000)):
            total = sum((a.wallet(market.name).balance(asset).total for a in accounts.values()), D(0))
            assert total + fees.get(asset, D(0)) == initial, (asset, total, fees)
        for a in accounts.values():
            w = a.wallet(market.name)
            held = {"BTC": D(0), "USDT": D(0)}
            for o in market.open_orders(a, inst.symbol):
                held["USDT" if o.side is Side.BUY else "BTC"] += o.locked
            for asset in ("BTC", "USDT"):
                bal = w.balance(asset)
                assert bal.free >= 0 and bal.locked >= 0, (a.account_id, asset, bal)
                assert bal.locked == held[asset], (a.account_id, asset, bal.locked, held[asset])
    else:
        positions = [a.wallet(market.name).position(inst.symbol) for a in accounts.values()]
        assert sum((p.qty for p in positions), D(0)) == 0
        for a in accounts.values():
            w = a.wallet(market.name)
            held = sum((o.locked for o in market.open_orders(a, inst.symbol)), D(0))
            assert w.order_margin.get(inst.margin_asset, D(0)) == held, (a.account_id, w.order_margin, held)


def fund(env: Env, inst: Instrument) -> None:
    for name in ACCOUNTS:
        if inst.kind is Kind.SPOT:
            env.account(name, BTC="100", USDT="100000")
        elif inst.kind is Kind.LINEAR:
            env.account(name, USDT="100000")
        else:
            env.account(name, BTC="100")


SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(sequence=ops, policy=st.sampled_from(list(PostOnlyCross)))
def test_spot_invariants(sequence: list[tuple[Any, ...]], policy: PostOnlyCross) -> None:
    env = make_env(SPOT_BTC, post_only=policy)
    fund(env, SPOT_BTC)
    run(env, SPOT_BTC, sequence)


@SETTINGS
@given(sequence=ops)
def test_linear_invariants(sequence: list[tuple[Any, ...]]) -> None:
    env = make_env(LINEAR)
    fund(env, LINEAR)
    run(env, LINEAR, sequence)


@SETTINGS
@given(sequence=ops)
def test_inverse_invariants(sequence: list[tuple[Any, ...]]) -> None:
    env = make_env(INVERSE)
    fund(env, INVERSE)
    run(env, INVERSE, sequence)


def test_invariant_checker_catches_a_leak() -> None:
    """The checker is not vacuous: a balance changed behind the engine's back is reported."""
    env = make_env(SPOT_BTC)
    fund(env, SPOT_BTC)
    accounts = {name: env.exchange.accounts[name] for name in ACCOUNTS}
    order = env.limit(accounts["a"], Side.BUY, "1", "100")
    assert isinstance(order, Order)
    check_invariants(env, SPOT_BTC, accounts)
    order.locked -= D("0.01")
    try:
        check_invariants(env, SPOT_BTC, accounts)
    except AssertionError:
        return
    raise AssertionError("invariant checker missed a leaked lock")
