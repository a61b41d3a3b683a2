"""The hub calls a feed's ``first`` listeners (triggers that send orders on a print) before the others (streams
that only forward it), each group in the order it joined; leaving keeps the order of the rest."""

from __future__ import annotations

from decimal import Decimal as D

from execx_server.domain.enums import Exchange, Side
from execx_server.domain.venue import Trade
from execx_server.marketdata.hub import Feed, MarketDataHub, MarketEvent


async def test_first_listeners_are_called_first() -> None:
    hub = MarketDataHub(lambda exchange: [])
    feed = hub.feeds[(Exchange.BINANCE_SPOT, "BTCUSDT")] = Feed(hub, Exchange.BINANCE_SPOT, "BTCUSDT")
    calls: list[str] = []

    def listener(name: str) -> object:
        def call(event: MarketEvent) -> None:
            calls.append(name)

        return call

    subs = {}
    for name, first in (("a", False), ("b", True), ("c", False), ("d", True)):
        subs[name] = await hub.subscribe(Exchange.BINANCE_SPOT, "BTCUSDT", listener(name), first=first)  # type: ignore[arg-type]
    feed.on_trade(Trade("BTCUSDT", "t1", D("97000"), D("0.1"), Side.BUY, 0))
    assert calls == ["b", "d", "a", "c"]
    calls.clear()
    subs["b"].close()
    subs["e"] = await hub.subscribe(Exchange.BINANCE_SPOT, "BTCUSDT", listener("e"))  # type: ignore[arg-type]
    feed.on_trade(Trade("BTCUSDT", "t2", D("97001"), D("0.1"), Side.BUY, 0))
    assert calls == ["d", "a", "c", "e"]
    await hub.close()
