"""The simulator's one rate-limit counter (``execx_sim.core.ratelimit``): aligned and anchored fixed
windows, bounded memory."""

from __future__ import annotations

from execx_sim.core.ratelimit import FixedWindows, Limit


def test_aligned_windows_start_on_the_epoch() -> None:
    c = FixedWindows()
    assert c.take("k", 2_000, 1_500, 1).used == 1
    w = c.take("k", 2_000, 1_999, 2)
    assert (w.start_ms, w.used) == (0, 3)
    w = c.take("k", 2_000, 2_000, 1)  # a new window at 2 000, whatever the first unit's time
    assert (w.start_ms, w.used) == (2_000, 1)
    assert c.take("other", 2_000, 2_001, 5).used == 5  # per key


def test_anchored_windows_start_with_the_first_unit() -> None:
    c = FixedWindows(anchored=True)
    assert c.take("k", 1_000, 1_500, 1).start_ms == 1_500
    assert c.take("k", 1_000, 2_499, 1).used == 2  # still the window that started at 1 500
    w = c.take("k", 1_000, 2_500, 1)
    assert (w.start_ms, w.used) == (2_500, 1)
    assert c.window("k", 1_000, 2_600).used == 1  # window() reads without counting


def test_memory_is_bounded_by_the_live_windows() -> None:
    c = FixedWindows(max_keys=100)
    for i in range(1_000):
        c.take(("ip", i), 1_000, i * 10, 1)  # a new second every 100 keys
    assert len(c) <= 200
    assert c.take(("ip", 999), 1_000, 9_990, 1).used == 2  # the live window survives a prune


def test_limit_description() -> None:
    lim = Limit("ORDERS", "SECOND", 10, 100)
    assert (lim.window_ms, lim.header_suffix) == (10_000, "10S")
    assert lim.describe() == {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}
