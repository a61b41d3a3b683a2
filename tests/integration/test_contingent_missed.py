"""A trigger missed while execx was down (issue 20): at start-up an armed emulated ``last`` stop is checked
against the venue's public trade history for the time execx was down (Binance spot and USDⓈ-M ``aggTrades``, Deribit
``public/get_last_trades_by_instrument_and_time``, Pulse ``public/last_trades_by_instrument``), on a
simulator of the test's own.

Per venue: two armed stops (buy, last; emulated), execx stopped (the SIGTERM path), the venue prints a trade
through the near level and then back below it (the crossing reverted: the first price after start-up no longer
fires it), execx started again on the same journal: the near stop fires at start-up (``triggered`` with a
message naming the venue's trade history, its order sent and filled); the far one (control: no trade reached
it) stays armed, with no ``missedWindowUnknown``. And the journaled row carries ``seenMs``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from algo_helpers import execx, poll, simulator
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx_sim.core.types import Side
from market_helpers import AUTH, Svc, uid
from test_contingent_orders import stop, updates

D = Decimal
# (venue, symbol, quantity, emulate on the request: the venue would hold the stop natively)
CASES = [
    ("binance-spot", "BTCUSDT", 0.001, True),
    ("binance-usdm-future", "BTCUSDT", 0.01, True),
    ("deribit", "BTC-PERPETUAL", 10.0, True),
    ("pulse", "BTC_USD-PERPETUAL", 0.01, True),
    ("bybit-linear", "BTCUSDT", 0.01, True),
    ("okx", "BTC-USDT-SWAP", 0.01, True),
]


async def _found(co_: Any, sid: str, cl: str) -> Any:
    """The contingent order (None until the restored session has it)."""
    return co_.get(sid, cl)


async def started(svc: Svc, venue: str, symbol: str) -> tuple[str, dict[str, str], Decimal]:
    """A new account's session on ``venue``, and a print at the best ask (the last price)."""
    acct = await svc.admin_post("/admin/accounts", {})
    sid = uid("s")
    await svc.start_session(sid, venue, acct)
    _, ask = await svc.top(venue, symbol)
    await svc.trade(venue, symbol, ask, D("0.001"), "buy")
    return sid, acct, ask


@pytest.mark.parametrize(("venue", "symbol", "qty", "emulate"), CASES, ids=[v for v, *_ in CASES])
async def test_a_crossing_that_reverted_while_down_fires_at_start_up(
    tmp_path: Path, venue: str, symbol: str, qty: float, emulate: bool
) -> None:
    async with simulator() as sim:
        async with execx(tmp_path, sim) as svc:
            sid, acct, last = await started(svc, venue, symbol)
            near, far = uid("mn"), uid("mf")
            for cl, level in ((near, last + 20), (far, last + 60)):
                req = stop(sid, cl, c.SIDE_BUY, level, symbol=symbol, qty=qty, emulate=emulate)
                ans = await svc.om.SendOrder(req, metadata=AUTH)
                assert ans.order.order_status == c.ORDER_STATUS_PENDING_TRIGGER
            co_ = svc.service.contingent_orders
            assert co_ is not None and not co_.get(sid, near).native  # type: ignore[union-attr]
            rows = [cfg for _, s, cfg in co_.saved.load() if s == sid]
            assert rows and all(o["seenMs"] > 0 for o in rows[0]["orders"])
        # execx is down: a print through the near level (not the far one), then back below it
        sim.synthetic.print_trade(venue, symbol, last + 30, D("0.001"), Side.BUY)
        sim.synthetic.print_trade(venue, symbol, last, D("0.001"), Side.SELL)
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, venue, acct)
            co_ = svc.service.contingent_orders
            assert co_ is not None
            x = await poll(
                lambda: _found(co_, sid, near), lambda x: x is not None and x.status.value == "triggered", "fired"
            )
            assert "venue's trade history" in x.message and x.reference_price == last + 30, x.message
            await poll(
                lambda: svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=near), metadata=AUTH),
                lambda a: a.order.order_status == c.ORDER_STATUS_FILLED,
                "its order sent and filled",
            )
            y = co_.get(sid, far)
            assert y is not None and y.status.value == "pendingtrigger"  # control: nothing reached it
            assert "missedWindowUnknown" not in y.message
            assert y in co_.watchers[(sid, y.exchange, symbol)].armed  # armed again


async def test_a_history_that_cannot_cover_the_gap_fires_nothing_and_says_so(tmp_path: Path) -> None:
    """Bybit spot's recent-trade keeps the newest 60 trades: a crossing followed by 70 prints below it while
    execx was down is out of reach; the stop stays armed with a ``missedWindowUnknown`` event (fire only on
    evidence)."""
    venue, symbol = "bybit-spot", "BTCUSDT"
    async with simulator() as sim:
        async with execx(tmp_path, sim) as svc:
            sid, acct, last = await started(svc, venue, symbol)
            cl = uid("mu")
            await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, last + 20, symbol=symbol), metadata=AUTH)
        sim.synthetic.print_trade(venue, symbol, last + 30, D("0.001"), Side.BUY)
        for _ in range(70):
            sim.synthetic.print_trade(venue, symbol, last, D("0.001"), Side.SELL)
        async with execx(tmp_path, sim) as svc:
            await svc.start_session(sid, venue, acct)
            r = updates(svc, sid)  # from sequence 1: the event published at start-up too
            try:
                got = await r.wait(
                    lambda m: (
                        m.contingent_event.cl_order_id == cl
                        and m.contingent_event.message.startswith("missedWindowUnknown")
                    ),
                    "the missedWindowUnknown event",
                )
                assert got.contingent_event.status == c.ORDER_STATUS_PENDING_TRIGGER
                assert "does not cover" in got.contingent_event.message
                co_ = svc.service.contingent_orders
                assert co_ is not None and (x := co_.get(sid, cl)) is not None and x.status.value == "pendingtrigger"
            finally:
                await r.close()


async def test_the_last_seen_print_is_journaled(tmp_path: Path) -> None:
    """A fresh print seen by an armed stop's watcher moves its journaled ``seenMs`` to the print's time (saved
    at most once a second, without any other change to the order): the window read after a restart starts there."""
    venue, symbol = "binance-spot", "BTCUSDT"
    async with simulator() as sim, execx(tmp_path, sim) as svc:
        sid, _, last = await started(svc, venue, symbol)
        cl = uid("ms")
        await svc.om.SendOrder(stop(sid, cl, c.SIDE_BUY, last + 50, symbol=symbol), metadata=AUTH)
        co_ = svc.service.contingent_orders
        assert co_ is not None

        async def seen() -> int:
            rows = [cfg for _, s, cfg in co_.saved.load() if s == sid]
            return int(rows[0]["orders"][0]["seenMs"]) if rows else 0

        armed_at = await seen()
        assert armed_at > 0
        printed = [t.time_ms for t in sim.exchange.markets[venue].public_trades[symbol]]
        # prints below the level (nothing fires) until the watcher has seen one after the arming and journaled it
        await poll(
            lambda: _print_then_seen(svc, venue, symbol, last, seen),
            lambda ms: ms > armed_at,
            "seenMs moved by a print",
        )
        now_printed = [t.time_ms for t in sim.exchange.markets[venue].public_trades[symbol]]
        assert await seen() in now_printed[len(printed) :]  # the venue time of a print it saw
        assert (x := co_.get(sid, cl)) is not None and x.status.value == "pendingtrigger"


async def _print_then_seen(svc: Svc, venue: str, symbol: str, price: Decimal, seen: Any) -> int:
    await svc.trade(venue, symbol, price, D("0.001"), "buy")
    return int(await seen())
