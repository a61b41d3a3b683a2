"""The shared market-data hub through execx: ``SubscribeMarketData`` over gRPC and as a websocket, on
the embedded simulator (quiet book, moved through its admin API). Staleness is configured at 1 s so
the quiet book goes stale between moves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import market_data_pb2 as md
from execx_server.domain.enums import Exchange
from execx_server.marketdata.hub import RECONNECTED, WAITING
from market_helpers import AUTH, KEY, Reader, Svc, exchange_enum, running, until

STALE_S = 1.0
D = Decimal
ETH = (Exchange.BINANCE_SPOT, "ETHUSDT")


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running(tmp_path_factory.mktemp("execx-md"), STALE_S) as s:
        yield s


def subscribe(svc: Svc, exchange: int, symbol: str, **flags: bool) -> Reader:
    return Reader(
        svc.md.SubscribeMarketData(
            md.SubscribeMarketDataRequest(exchange=exchange, symbol=symbol, **flags), metadata=AUTH
        )
    )


async def quote_at(svc: Svc, r: Reader, venue: str, symbol: str, price: str) -> md.SubscribeMarketDataResponse:
    """Move the book to ``price`` until the stream shows its new best bid/ask (the venue subscription
    may still be in flight when the first move happens)."""
    for _ in range(30):
        await svc.move(venue, symbol, price)
        bid, ask = await svc.top(venue, symbol)

        def match(m: md.SubscribeMarketDataResponse, b: Decimal = bid, a: Decimal = ask) -> bool:
            return m.HasField("quote") and (D(repr(m.quote.bid_price)), D(repr(m.quote.ask_price))) == (b, a)

        try:
            return await r.wait(match, f"quote {bid}/{ask}", within_s=0.5)
        except AssertionError:
            continue
    raise AssertionError(f"no quote after moving {symbol} to {price}")


async def fresh_again(svc: Svc, r: Reader, venue: str, symbol: str, price: str) -> None:
    """A stale feed turns fresh (a status with ``stale`` false) with the next quote."""
    n = len(r.got)
    await quote_at(svc, r, venue, symbol, price)
    assert any(m.HasField("status") and not m.status.stale for m in r.got[n:])


async def test_no_live_session_is_failed_precondition_and_bad_input_names_the_field(svc: Svc) -> None:
    """Pulse has no keyless market-data client: its market data needs an order session."""
    for request, code, text in (
        (
            md.SubscribeMarketDataRequest(exchange=c.EXCHANGE_PULSE, symbol="BTC_USD-PERPETUAL"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "no live order session",
        ),
        (md.SubscribeMarketDataRequest(symbol="BTCUSDT"), grpc.StatusCode.INVALID_ARGUMENT, "exchange: is required"),
        (
            md.SubscribeMarketDataRequest(exchange=c.EXCHANGE_BINANCE_SPOT),
            grpc.StatusCode.INVALID_ARGUMENT,
            "symbol: is required",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as e:
            async for _ in svc.md.SubscribeMarketData(request, metadata=AUTH):
                pass
        assert e.value.code() == code and text in (e.value.details() or ""), e.value
    await svc.session("binance-spot")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        async for _ in svc.md.SubscribeMarketData(
            md.SubscribeMarketDataRequest(exchange=c.EXCHANGE_BINANCE_SPOT, symbol="NOPEUSDT"), metadata=AUTH
        ):
            pass
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and (e.value.details() or "").startswith("symbol:")


async def test_quotes_trades_and_staleness_over_grpc(svc: Svc) -> None:
    await svc.session("binance-spot")
    r = subscribe(svc, c.EXCHANGE_BINANCE_SPOT, "BTCUSDT")
    try:
        first = await r.wait(lambda m: True, "first message")
        assert first.HasField("status") and first.seq == 1 and first.symbol == "BTCUSDT"
        assert first.exchange == c.EXCHANGE_BINANCE_SPOT
        q = await quote_at(svc, r, "binance-spot", "BTCUSDT", "96000")
        assert q.quote.bid_qty > 0 and q.quote.ask_qty > 0 and q.local_time > 0
        assert [m.seq for m in r.got] == list(range(1, len(r.got) + 1))
        fresh = await r.wait(lambda m: m.HasField("status") and not m.status.stale, "fresh status")
        assert fresh.status.reason == ""
        # a seller hits the bid: a trade with aggressor "sell", its price and quantity
        bid, _ = await svc.top("binance-spot", "BTCUSDT")
        await svc.trade("binance-spot", "BTCUSDT", bid, D("0.01"), "sell")
        t = await r.wait(lambda m: m.HasField("trade"), "trade")
        assert (D(repr(t.trade.price)), D(repr(t.trade.qty))) == (bid, D("0.01"))
        assert t.trade.aggressor_side == c.SIDE_SELL and t.trade.trade_id
        # the quiet book sends nothing more: stale after STALE_S, fresh again with the next quote
        stale = await r.wait(lambda m: m.HasField("status") and m.status.stale and m.seq > t.seq, "stale")
        assert stale.status.reason == f"no update for {STALE_S:g}s"
        await fresh_again(svc, r, "binance-spot", "BTCUSDT", "96100")
    finally:
        await r.close()


async def test_one_venue_subscription_shared_and_closed_by_the_last_consumer(svc: Svc) -> None:
    await svc.session("binance-spot")
    hub = svc.service.market_data
    assert hub is not None
    streams = svc.service.sim.frontends[0].streams.by_stream  # the simulated venue's subscriptions
    a = subscribe(svc, c.EXCHANGE_BINANCE_SPOT, "ETHUSDT")
    b = subscribe(svc, c.EXCHANGE_BINANCE_SPOT, "ETHUSDT", no_trades=True)
    try:
        await quote_at(svc, a, "binance-spot", "ETHUSDT", "3000")
        await quote_at(svc, b, "binance-spot", "ETHUSDT", "3001")
        assert len(hub.feeds[ETH].listeners) == 2
        assert len(streams["ethusdt@bookTicker"]) == 1  # one venue connection carries both consumers
        # no_trades: b never sees a trade that a sees
        bid, _ = await svc.top("binance-spot", "ETHUSDT")
        await svc.trade("binance-spot", "ETHUSDT", bid, D("0.1"), "sell")
        await a.wait(lambda m: m.HasField("trade"), "trade on a")
        assert not any(m.HasField("trade") for m in b.got)
        await a.close()
        await until(lambda: len(hub.feeds[ETH].listeners) == 1, "a left", b.changed)
        assert len(streams.get("ethusdt@bookTicker", ())) == 1
    finally:
        await a.close()
        await b.close()
    changed = asyncio.Event()
    for _ in range(200):  # the venue processes the UNSUBSCRIBE asynchronously
        if not streams.get("ethusdt@bookTicker") and ETH not in hub.feeds:
            break
        try:
            await asyncio.wait_for(changed.wait(), 0.05)
        except TimeoutError:
            pass
    assert ETH not in hub.feeds
    assert not streams.get("ethusdt@bookTicker") and not streams.get("ethusdt@trade")


async def test_a_venue_reconnect_makes_the_feed_stale_until_the_next_quote(svc: Svc) -> None:
    await svc.session("binance-spot")
    r = subscribe(svc, c.EXCHANGE_BINANCE_SPOT, "SOLUSDT")
    try:
        await quote_at(svc, r, "binance-spot", "SOLUSDT", "150")
        n = len(r.got)
        await svc.admin_post("/admin/faults/binance-spot/drop", {})
        await r.wait(lambda m: m.seq > n and m.HasField("status") and m.status.reason == RECONNECTED, "reconnect")
        await fresh_again(svc, r, "binance-spot", "SOLUSDT", "151")
    finally:
        await r.close()


async def test_the_feed_moves_to_another_source_when_its_session_stops(svc: Svc) -> None:
    """Pulse (no keyless client): stale with no session, back on the next session. Binance: straight on
    to its keyless market-data client."""
    from execx.v1 import order_manager_pb2 as om

    first = await svc.session("pulse")
    r = subscribe(svc, c.EXCHANGE_PULSE, "BTC_USD-PERPETUAL")
    try:
        await quote_at(svc, r, "pulse", "BTC_USD-PERPETUAL", "97000")
        await svc.om.StopOrderHandler(om.StopOrderHandlerRequest(session_id=first), metadata=AUTH)
        await r.wait(
            lambda m: m.HasField("status") and m.status.stale and "no live order session" in m.status.reason,
            "no source",
        )
        await svc.session("pulse")
        back = await r.wait(lambda m: m.HasField("status") and m.status.reason == WAITING and m.seq > 2, "resourced")
        # Pulse sends the current quote on subscribe: the feed may be fresh before the book moves
        await quote_at(svc, r, "pulse", "BTC_USD-PERPETUAL", "97100")
        assert any(m.HasField("status") and not m.status.stale and m.seq > back.seq for m in r.got)
    finally:
        await r.close()
    first = await svc.session("binance-usdm-future")
    r = subscribe(svc, c.EXCHANGE_BINANCE_USDM_FUTURE, "ETHUSDT")
    try:
        await quote_at(svc, r, "binance-usdm-future", "ETHUSDT", "3000")
        await svc.om.StopOrderHandler(om.StopOrderHandlerRequest(session_id=first), metadata=AUTH)
        await r.wait(lambda m: m.HasField("status") and m.status.reason == WAITING and m.seq > 2, "keyless")
        assert not any("no live order session" in m.status.reason for m in r.got if m.HasField("status"))
        await fresh_again(svc, r, "binance-usdm-future", "ETHUSDT", "3010")
    finally:
        await r.close()


@pytest.mark.parametrize(
    ("venue", "symbol"),
    [
        ("binance-coinm-future", "BTCUSD_PERP"),
        ("bybit-linear", "ETHUSDT"),
        ("okx", "ETH-USDT-SWAP"),
        ("deribit", "ETH-PERPETUAL"),
    ],
)
async def test_market_data_without_any_session_or_key(svc: Svc, venue: str, symbol: str) -> None:
    """No order session of the venue, no API key anywhere: the keyless market-data client gives quotes and
    trades, and an unknown symbol is still INVALID_ARGUMENT naming ``symbol``."""
    engine = svc.service.engine
    assert engine is not None
    assert not any(x.exchange.value == venue for x in engine.sessions.values())
    r = subscribe(svc, exchange_enum(venue), symbol)
    try:
        ref = svc.service.sim.exchange.markets[venue].instruments[symbol].ref_price
        await quote_at(svc, r, venue, symbol, str(ref))
        bid, _ = await svc.top(venue, symbol)
        qty = svc.service.sim.exchange.markets[venue].instruments[symbol].min_qty
        await svc.trade(venue, symbol, bid, qty, "sell")
        t = await r.wait(lambda m: m.HasField("trade"), "trade")
        assert D(repr(t.trade.price)) == bid and t.trade.aggressor_side == c.SIDE_SELL
    finally:
        await r.close()
    with pytest.raises(grpc.aio.AioRpcError) as e:
        async for _ in svc.md.SubscribeMarketData(
            md.SubscribeMarketDataRequest(exchange=exchange_enum(venue), symbol="NOPE"), metadata=AUTH
        ):
            pass
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and (e.value.details() or "").startswith("symbol:")


async def test_subscribe_market_data_websocket(svc: Svc) -> None:
    await svc.session("binance-spot")
    async with svc.http.ws_connect(svc.rest + "/subscribeMarketData", headers={"x-api-key": KEY}) as ws:
        await ws.send_json({"exchange": "binance-spot", "symbol": "BNBUSDT", "noTrades": True})
        msg = json.loads((await ws.receive(timeout=10)).data)
        assert msg["exchange"] == "binance-spot" and msg["symbol"] == "BNBUSDT" and msg["seq"] == 1
        assert msg["status"]["stale"] is True
        for _ in range(30):
            await svc.move("binance-spot", "BNBUSDT", "600")
            try:
                while "quote" not in (msg := json.loads((await ws.receive(timeout=0.5)).data)):
                    pass
                break
            except TimeoutError:
                continue
        bid, ask = await svc.top("binance-spot", "BNBUSDT")
        while (D(repr(msg["quote"]["bidPrice"])), D(repr(msg["quote"]["askPrice"]))) != (bid, ask):
            msg = json.loads((await ws.receive(timeout=10)).data)
            if "quote" not in msg:
                continue
        assert msg["quote"]["bidQty"] > 0 and msg["quote"]["askQty"] > 0
    async with svc.http.ws_connect(svc.rest + "/subscribeMarketData", headers={}) as ws:
        await ws.send_json({"exchange": "binance-spot", "symbol": "BNBUSDT"})
        body = json.loads((await ws.receive(timeout=10)).data)
        closing = await ws.receive(timeout=10)
    assert body["code"] == 16 and closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4401


async def test_every_landed_venue_feeds_the_hub(svc: Svc) -> None:
    """The hub is built on the connectors' generic watch_market: each venue of the simulator gives quotes."""
    failures, tested = [], []
    for venue, market in svc.service.sim.exchange.markets.items():
        if venue not in svc.sim["venues"]:
            continue  # a product served under another venue's name (e.g. Binance cross margin)
        tested.append(venue)
        symbol = sorted(market.instruments)[0]
        try:
            await svc.session(venue)
        except grpc.aio.AioRpcError as e:
            failures.append(f"{venue}: session: {e.details()}")
            continue
        r = subscribe(svc, exchange_enum(venue), symbol)
        try:
            ref = market.instruments[symbol].ref_price
            await quote_at(svc, r, venue, symbol, str(ref))
        except AssertionError as e:
            failures.append(f"{venue} {symbol}: {e}")
        finally:
            await r.close()
    assert not failures, failures
    assert {"binance-spot", "binance-usdm-future", "binance-coinm-future"} <= set(tested), tested
