"""The hub's mid, the engine's reference price for the venue's percent price band: only from a fresh feed
with both sides of the book."""

from __future__ import annotations

from decimal import Decimal as D

from execx_server.domain.enums import Exchange
from execx_server.domain.venue import BookTicker
from execx_server.marketdata.hub import Feed, MarketDataHub


async def test_mid_needs_a_fresh_feed_with_both_sides() -> None:
    hub = MarketDataHub(lambda exchange: [])
    assert hub.mid(Exchange.BINANCE_SPOT, "BTCUSDT") is None  # nobody watches it
    feed = hub.feeds[(Exchange.BINANCE_SPOT, "BTCUSDT")] = Feed(hub, Exchange.BINANCE_SPOT, "BTCUSDT")
    assert hub.mid(Exchange.BINANCE_SPOT, "BTCUSDT") is None  # no quote yet (stale)
    feed.on_ticker(BookTicker("BTCUSDT", D("97000"), D("1"), D("97002"), D("2"), 0))
    assert hub.mid(Exchange.BINANCE_SPOT, "BTCUSDT") == D("97001")
    feed.on_ticker(BookTicker("BTCUSDT", D("0"), D("0"), D("97002"), D("2"), 0))  # the bid side emptied
    assert hub.mid(Exchange.BINANCE_SPOT, "BTCUSDT") is None
    feed.on_ticker(BookTicker("BTCUSDT", D("97000"), D("1"), D("97002"), D("2"), 0))
    feed.set_stale(True, "no update")
    assert hub.mid(Exchange.BINANCE_SPOT, "BTCUSDT") is None
    await hub.close()
