"""The simulator's memory stays bounded (issue 22): counts of what its registries hold, not RSS.

- The synthetic market, stepped thousands of times on a fake clock, leaves no trace of its finished
  orders: every container of every market and venue front-end stays the size it had after warm-up.
- An account trading thousands of orders keeps exactly its history window (count and age) of
  finished orders and fills, and the venue's history queries (Binance allOrders, myTrades, order
  by client id, over loopback) still answer for everything inside the window.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from execx_sim import cli
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.core.engine import MAX_PUBLIC_TRADES, HistoryWindow, Market
from execx_sim.core.synthetic import FlowConfig
from execx_sim.core.types import OrderError, OrderStatus, OrderType, Side, TimeInForce
from yarl import URL

D = Decimal
T0 = 1_700_000_000_000
CONTAINERS = (dict, list, set, frozenset, deque, tuple)


class FakeClock:
    def __init__(self, ms: int = T0) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def container_sizes(root: object) -> dict[str, int]:
    """len() of every container attribute reachable from ``root`` through objects of the simulator's
    own classes (markets, books, front-ends, their helpers), by attribute path."""
    sizes: dict[str, int] = {}
    seen: set[int] = set()

    def own(obj: object) -> bool:
        return type(obj).__module__.startswith("execx_sim.")

    def attrs(obj: object) -> list[tuple[str, object]]:
        names: list[str] = list(getattr(obj, "__dict__", {}))
        for klass in type(obj).__mro__:
            names += [n for n in getattr(klass, "__slots__", ()) if hasattr(obj, n)]
        return [(n, getattr(obj, n)) for n in names]

    def walk(obj: object, path: str, depth: int) -> None:
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        for name, value in attrs(obj):
            where = f"{path}.{name}"
            if isinstance(value, CONTAINERS):
                sizes[where] = len(value)
                items = value.values() if isinstance(value, dict) else value
                for i, item in enumerate(list(items)[:64]):  # containers of our objects (books, flows)
                    if own(item):
                        walk(item, f"{where}[{i}]", depth + 1)
            elif own(value):
                walk(value, where, depth + 1)

    walk(root, "sim", 0)
    return sizes


def test_synthetic_market_leaves_no_trace() -> None:
    clock = FakeClock()
    sim = Simulator(seed=7, clock=clock, flow=FlowConfig(trade_probability=0.5))
    markets = list(sim.exchange.markets.values())
    flows = len(sim.synthetic.flows)
    levels = sim.synthetic.config.levels

    def step(n: int) -> None:
        for _ in range(n):
            clock.ms += 250  # 4 steps a second, as --rate 4
            sim.synthetic.step_all()

    step(60)  # warm-up: every public tape has its trades, every book its levels
    warm = container_sizes(sim)
    trades_before = sum(len(t) for m in markets for t in m.public_trades.values())
    step(340)  # 400 steps of every symbol: 11 600 symbol steps, ~240 000 orders placed and finished
    after = container_sizes(sim)

    printed = sum(len(t) for m in markets for t in m.public_trades.values())
    assert printed > trades_before, "the synthetic market must have traded during the run"
    grown = {path: (warm.get(path, 0), n) for path, n in after.items() if n > warm.get(path, 0) + 2 * levels + 8}
    # Only the trade tapes may still fill up to their ring size after warm-up.
    grown = {p: v for p, v in grown.items() if ".public_trades[" not in p}
    assert not grown, f"registries grew while the synthetic market ran: {grown}"

    for market in markets:
        resting = sum(1 for book in market.books.values() for _ in book.orders())
        assert len(market.orders) == resting, market.name  # finished background orders are gone
        assert resting <= 2 * levels * len(market.books)
        assert market.history_size() == (0, 0)
        assert all(len(t) <= MAX_PUBLIC_TRADES for t in market.public_trades.values())
    total = sum(len(m.orders) for m in markets)
    assert total <= 2 * levels * flows


def _counterparty_book(market: Market, mm: Account, symbol: str, mid: Decimal) -> None:
    """Asks for the account under test to lift (so its buys fill), far from its resting bids."""
    for i in range(5):
        market.place(mm, symbol, Side.SELL, OrderType.LIMIT, D("50"), mid + i, stp=None)


class SignedSpot:
    """A minimal signed Binance spot REST client, written from the docs (HMAC-SHA256 of the query)."""

    def __init__(self, session: aiohttp.ClientSession, rest: str, account: Account, clock: Callable[[], int]):
        self.session, self.rest, self.account, self.clock = session, rest, account, clock

    async def get(self, path: str, params: dict[str, Any]) -> tuple[int, Any]:
        query = urlencode({**params, "timestamp": self.clock()})  # the simulator checks it against its clock
        sig = hmac.new(self.account.secret_key.encode(), query.encode(), hashlib.sha256).hexdigest()
        url = URL(f"{self.rest}{path}?{query}&signature={sig}", encoded=True)
        async with self.session.get(url, headers={"X-MBX-APIKEY": self.account.api_key}) as resp:
            return resp.status, await resp.json()


async def test_account_history_kept_within_its_window() -> None:
    clock = FakeClock(time.time_ns() // 1_000_000)
    window = HistoryWindow(orders=200, trades=150, age_ms=3_600_000)
    async with Simulator(quiet=True, clock=clock, history=window) as sim:
        market = sim.exchange.markets["binance-spot"]
        symbol, acct = "ETHUSDT", sim.demo
        mm = sim.synthetic.mm
        mid = market.mark_price(symbol)
        market.cancel_all(mm, symbol)  # our own asks only: every lift fills at a known price
        bid = (mid * D("0.9")).quantize(D("0.01"))

        # Five bids placed first and never touched: open orders never leave, however old.
        keep = [
            market.place(acct, symbol, Side.BUY, OrderType.LIMIT, D("0.01"), bid, client_id=f"keep-{i}")
            for i in range(5)
        ]
        finished: list[str] = []  # client ids in the order they finished
        fill_ids: list[int] = []
        for i in range(3_000):
            clock.ms += 100
            cid = f"h-{i}"
            if i % 3 == 0:  # lifts an ask: FILLED, with a fill
                if not market.open_orders(mm, symbol):
                    _counterparty_book(market, mm, symbol, mid)
                ask = market.books[symbol].best_ask()
                assert ask is not None
                order = market.place(
                    acct, symbol, Side.BUY, OrderType.LIMIT, D("0.01"), ask, TimeInForce.IOC, client_id=cid
                )
                assert order.status is OrderStatus.FILLED
                fill_ids.append(market.account_trades(acct, symbol)[-1].trade_id)
            else:  # rests, then is cancelled
                order = market.place(acct, symbol, Side.BUY, OrderType.LIMIT, D("0.01"), bid, client_id=cid)
                market.cancel(acct, symbol, client_id=cid)
            finished.append(cid)

        # The engine keeps exactly the window: the newest 200 finished orders, the newest 150 fills.
        assert market.history_size() == (200, 150)
        history = market.account_orders(acct, symbol)
        assert [o.client_id for o in history if not o.is_open] == finished[-200:]
        assert [o.client_id for o in history if o.is_open] == [o.client_id for o in keep]
        assert [f.trade_id for f in market.account_trades(acct, symbol)] == fill_ids[-150:]
        assert len(market.orders) == 200 + 5 + len(market.open_orders(mm))
        assert len(market._by_client) == 200 + 5
        with pytest.raises(OrderError):
            market.find_order(acct, symbol, client_id=finished[-201])
        assert market.find_order(acct, symbol, client_id=finished[-200]).status is OrderStatus.CANCELED

        # The venue's history queries answer inside the window exactly as before.
        async with aiohttp.ClientSession() as session:
            api = SignedSpot(session, sim.ready["venues"]["binance-spot"]["rest"], acct, clock)
            status, rows = await api.get("/api/v3/allOrders", {"symbol": symbol, "limit": 1000})
            assert status == 200
            assert [r["clientOrderId"] for r in rows] == [o.client_id for o in keep] + finished[-200:]
            status, trades = await api.get("/api/v3/myTrades", {"symbol": symbol, "limit": 1000})
            assert status == 200
            assert [t["id"] for t in trades] == fill_ids[-150:]
            status, row = await api.get("/api/v3/order", {"symbol": symbol, "origClientOrderId": finished[-1]})
            assert status == 200 and row["clientOrderId"] == finished[-1]
            status, err = await api.get("/api/v3/order", {"symbol": symbol, "origClientOrderId": finished[0]})
            assert status == 400 and err["code"] == -2013

            # An hour later (the window's age) an idle account's finished history is gone; open orders stay.
            clock.ms += 3_600_001
            status, rows = await api.get("/api/v3/allOrders", {"symbol": symbol, "limit": 1000})
            assert [r["clientOrderId"] for r in rows] == [o.client_id for o in keep]
            status, trades = await api.get("/api/v3/myTrades", {"symbol": symbol})
            assert trades == []
            sim.trim_history()
            assert market.history_size() == (0, 0)
            assert len(market.orders) == 5 + len(market.open_orders(mm))


def test_history_window_rejects_negative_bounds() -> None:
    with pytest.raises(ValueError):
        HistoryWindow(orders=-1)


def test_history_window_from_flags_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.history_window(cli.parse_args([])) == HistoryWindow()
    args = cli.parse_args(["--history-orders", "50", "--history-trades", "70", "--history-days", "0.5"])
    assert cli.history_window(args) == HistoryWindow(orders=50, trades=70, age_ms=43_200_000)
    monkeypatch.setenv("EXECX_SIM_HISTORY_ORDERS", "12")
    monkeypatch.setenv("EXECX_SIM_HISTORY_DAYS", "1")
    assert cli.history_window(cli.parse_args([])) == HistoryWindow(orders=12, age_ms=86_400_000)
    assert cli.history_window(cli.parse_args(["--history-orders", "3"])).orders == 3  # a flag beats the env
    with pytest.raises(SystemExit):
        cli.parse_args(["--history-trades", "-1"])
