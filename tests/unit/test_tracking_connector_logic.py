"""The order tracker every connector uses (connectors/tracking.py): fills once, status rules, and
bounded memory however many orders finish."""

from __future__ import annotations

from decimal import Decimal

from execx_server.connectors.tracking import Known, OrderTracker
from execx_server.domain.enums import OrderStatus, Side
from execx_server.domain.venue import ExecutionReport

D = Decimal


def report(
    cl: str, status: OrderStatus, exch: str = "e1", cum: str = "0", trade: str = "", fill: str = "0"
) -> ExecutionReport:
    return ExecutionReport(
        cl, "BTCUSDT", exch, status, Side.BUY, D(100), D(2), D(cum), 1_000_000 * 5, trade_id=trade, fill_qty=D(fill)
    )


def test_fill_forwarded_once_and_counted_once() -> None:
    out: list[ExecutionReport] = []
    t = OrderTracker(out.append)
    t.track("c1", Known("BTCUSDT", Side.BUY, qty=D(2)))
    fill = report("c1", OrderStatus.PARTIALLYFILLED, cum="1", trade="t1", fill="1")
    assert t.emit(fill) and not t.emit(fill)
    assert out == [fill] and t.orders["c1"].cum_filled == 1 and t.cl_of("e1") == "c1"
    assert t.seen("BTCUSDT", "t1") and t.trades_since_ms("BTCUSDT", 0) == 5


def test_status_ahead_of_its_fills_waits_for_them_and_final_is_final() -> None:
    t = OrderTracker(lambda r: None)
    t.track("c1", Known("BTCUSDT", Side.BUY, qty=D(2)))
    t.emit(report("c1", OrderStatus.NEW))
    t.emit(report("c1", OrderStatus.FILLED, cum="2"))  # its fill has not been seen: the order stays live
    assert t.orders["c1"].status is OrderStatus.NEW and [cl for cl, _ in t.live()] == ["c1"]
    t.emit(report("c1", OrderStatus.FILLED, cum="2", trade="t1", fill="2"))
    assert t.orders["c1"].status is OrderStatus.FILLED and t.live() == []
    t.emit(report("c1", OrderStatus.NEW))
    assert t.orders["c1"].status is OrderStatus.FILLED


def test_partially_filled_never_goes_back_to_new() -> None:
    t = OrderTracker(lambda r: None)
    t.track("c1", Known("BTCUSDT", Side.BUY, qty=D(2)))
    t.emit(report("c1", OrderStatus.PARTIALLYFILLED, cum="1", trade="t1", fill="1"))
    t.note(report("c1", OrderStatus.NEW))
    assert t.orders["c1"].status is OrderStatus.PARTIALLYFILLED


def test_superseded_venue_order_counts_fills_not_status() -> None:
    t = OrderTracker(lambda r: None)
    t.track("c1", Known("BTCUSDT", Side.BUY, qty=D(2), exch_order_id="old"))
    t.supersede("old")
    t.emit(report("c1", OrderStatus.NEW, exch="new"))
    t.emit(report("c1", OrderStatus.CANCELLED, exch="old"))
    t.emit(report("c1", OrderStatus.CANCELLED, exch="old", cum="1", trade="t0", fill="1"))
    known = t.orders["c1"]
    assert known.exch_order_id == "new" and known.status is OrderStatus.NEW and known.cum_filled == 1
    assert t.cl_of("old") == "c1" and t.cl_of("new") == "c1"


def test_memory_stays_bounded_with_every_venue_id() -> None:
    t = OrderTracker(lambda r: None, finished_kept=10)
    for n in range(1000):
        cl = f"c{n}"
        t.track(cl, Known("BTCUSDT", Side.BUY, qty=D(2), exch_order_id=f"a{n}"))
        t.supersede(f"a{n}")  # a cancel-replace moved it to b{n}
        t.emit(report(cl, OrderStatus.NEW, exch=f"b{n}"))
        t.emit(report(cl, OrderStatus.CANCELLED, exch=f"b{n}"))
    assert len(t.orders) == 10 and len(t.by_exch_id) <= 20 and len(t.superseded) <= 10
    assert t.get("c999") is not None and t.get("c0") is None


def test_restore_puts_back_the_order_known_before() -> None:
    t = OrderTracker(lambda r: None)
    first = Known("BTCUSDT", Side.BUY, qty=D(2), exch_order_id="e1", status=OrderStatus.NEW)
    t.track("c1", first)
    previous = t.track("c1", Known("BTCUSDT", Side.BUY, qty=D(2)))
    assert previous is first
    t.restore("c1", previous)
    assert t.get("c1") is first and t.cl_of("e1") == "c1"
