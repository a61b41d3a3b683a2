"""The Bybit venue: one REST host, one private-stream host, one order-entry host for every category,
and one public-stream host per category (``../shared/venues/bybit.md`` §1), over four engine
markets (``bybit-spot``, ``bybit-linear``, ``bybit-inverse``, ``bybit-option``).

The ready line lists the four exchange names with the same ``rest`` / ``private`` / ``trade`` URLs
and each category's own ``public`` path (``/v5/public/<category>``) on one public host. A websocket
drop (admin ``/admin/faults/<name>/drop``) closes every Bybit websocket: the private connection carries all categories.

The venue object wires REST (``rest.py``, ``marketdata.py``) and the websockets (``ws.py``), runs the timers
(level-1 re-sends, DCP, tickers) and turns engine events into the websockets' pushes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from ...core.accounts import Account
from ...core.engine import Market
from ...core.faults import Faults
from ...core.types import ZERO, AccountEvent, BookTop, Event, ExecType, OrderEvent, PublicTrade
from ..common import Endpoint, WsRegistry
from . import wire
from .dcp import REASON as DCP_REASON
from .dcp import Dcp
from .instruments import CATEGORY_OF, MARKET_OF
from .marketdata import BybitMarketData
from .ratelimit import BybitLimiter
from .rest import BybitHttp
from .trading import Trading
from .ws import BybitWs

if TYPE_CHECKING:
    from ...app import Simulator

log = logging.getLogger("execx_sim.bybit")

SNAPSHOT_EVERY_S = 3.0  # level-1 books are re-sent every 3 s when unchanged (docs: orderbook)
DCP_CHECK_S = 0.01  # the DCP timer's resolution


class BybitVenue:
    def __init__(self, sim: Simulator, markets: dict[str, Market]) -> None:
        self.sim = sim
        self.exchange = sim.exchange
        self.now_ms = sim.exchange.now_ms
        self.markets = markets
        self.launch_ms = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
        self.sockets = WsRegistry()
        self.limiter = BybitLimiter()
        self.trading = Trading(markets, self.faults, self.now_ms)
        self.dcp = Dcp(self.now_ms, self._dcp_cancel)  # disconnection protection (dcp.py)
        self.http = BybitHttp(self)
        self.marketdata = BybitMarketData(self)  # market-data REST routes and the tickers topic
        self.marketdata.routes(self.http)
        self.ws = BybitWs(self)  # private, trade and public websockets (ws.py)
        self.exchange.subscribe(self._on_event)

    def faults(self, category: str) -> Faults:
        return self.sim.faults[MARKET_OF[category]]

    def market_list(self) -> list[Market]:
        return list(self.markets.values())

    @staticmethod
    def exec_seq(fill: Any) -> int:
        return int(fill.trade_id)

    async def run(self) -> None:
        """Re-send level-1 snapshots every 3 s (the venue does so for unchanged books) until cancelled."""
        tickers = asyncio.create_task(self.marketdata.run())
        dcp = asyncio.create_task(self._dcp_timer())
        try:
            await self._resend_books()
        finally:
            tickers.cancel()
            dcp.cancel()

    async def _dcp_timer(self) -> None:
        while True:
            await asyncio.sleep(DCP_CHECK_S)
            self.dcp.check()

    def _dcp_cancel(self, account: Account, category: str) -> int:
        """DCP ran out: every open order of the account in ``category`` cancelled (``CancelByDCP``)."""
        market = self.trading.market(category)
        symbols = sorted({o.symbol for o in market.account_orders(account) if o.is_open})
        return sum(len(market.cancel_all(account, symbol, reason=DCP_REASON)) for symbol in symbols)

    async def _resend_books(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_EVERY_S)
            for category, conns in self.ws.public.items():
                for conn in list(conns):
                    for topic in list(conn.topics):
                        if self.marketdata.snapshot_only(category, topic):  # others: deltas (marketdata.py)
                            self.ws.send_book(conn, category, topic)

    # ------------------------------------------------------------------ engine events

    def _on_event(self, ev: Event) -> None:
        category = CATEGORY_OF.get(ev.market)
        if category is None:
            return
        market = self.markets[category]
        if isinstance(ev, OrderEvent):
            o = ev.order
            if ev.fill is not None:
                o.extra["fee"] = o.extra.get("fee", ZERO) + ev.fill.fee
            if o.account_id not in self.ws.private:
                return
            if ev.fill is not None:
                fill = ev.fill
                self.ws.push(
                    o.account_id, category, "execution", [wire.execution(fill, o, market, fill.trade_id, ws=True)]
                )
                self.ws.push(
                    o.account_id,
                    category,
                    "execution.fast",
                    [
                        {
                            "category": category,
                            "symbol": fill.symbol,
                            "orderId": wire.order_id(category, o.order_id),
                            "isMaker": fill.is_maker,
                            "orderLinkId": "" if fill.is_maker else wire.link_id(o),
                            "execId": wire.exec_id(fill),
                            "execPrice": wire.num(fill.price),
                            "execQty": wire.num(fill.qty),
                            "side": wire.SIDE[fill.side],
                            "execTime": str(fill.time_ms),
                            "seq": fill.trade_id,
                        }
                    ],
                )
            rows = [wire.order(o, market, ws=True)]
            if ev.exec_type is ExecType.TRIGGERED:  # Untriggered -> Triggered (transient) -> New
                rows.insert(0, {**rows[0], "orderStatus": "Triggered"})
            self.ws.push(o.account_id, category, "order", rows)
        elif isinstance(ev, AccountEvent):
            if ev.account_id not in self.ws.private:
                return
            account = self.exchange.accounts[ev.account_id]
            if ev.symbols and category != "spot":
                wallet = account.wallet(market.name)
                rows = [wire.position(wallet.position(s), market, ws=True) for s in sorted(ev.symbols)]
                self.ws.push(ev.account_id, category, "position", rows)
            if ev.assets:
                self.ws.push(
                    ev.account_id,
                    category,
                    "wallet",
                    [wire.wallet(self.market_list(), account, set(ev.assets), self.trading.borrowed_of(ev.account_id))],
                )
        elif isinstance(ev, BookTop):
            # Level 1 (and option books) is a snapshot whenever the top moves (and every 3 s by run());
            # deeper books are a snapshot on subscribe then deltas every 100 ms (marketdata.py).
            if not self.faults(category).silent:
                for conn in self.ws.public[category]:
                    for topic in [t for t in conn.topics if self.marketdata.snapshot_only(category, t)]:
                        if topic.split(".")[2] == ev.symbol:
                            self.ws.send_book(conn, category, topic)
        elif isinstance(ev, PublicTrade):
            inst = market.instruments[ev.symbol]
            key = inst.base if category == "option" else ev.symbol
            last = market.last_price.get(ev.symbol, ev.price)
            self.ws.publish(
                category,
                f"publicTrade.{key}",
                lambda: {
                    "topic": f"publicTrade.{key}",
                    "type": "snapshot",
                    "ts": ev.time_ms,
                    "data": [
                        {
                            "T": ev.time_ms,
                            "s": ev.symbol,
                            "S": wire.SIDE[ev.taker_side],
                            "v": inst.fmt_qty(ev.qty),
                            "p": inst.fmt_price(ev.price),
                            "L": "PlusTick" if ev.price >= last else "MinusTick",
                            "i": str(ev.trade_id),
                            "BT": False,
                            "RPI": False,
                            "seq": ev.trade_id,
                        }
                    ],
                },
            )


class CategoryFrontend:
    """One exchange name of the ready line (``bybit-<category>``) over the shared venue: the same
    REST, private and trade apps (hence ports) for every category, and the category's public path."""

    def __init__(self, venue: BybitVenue, category: str, primary: bool) -> None:
        self.venue_state = venue
        self.venue = MARKET_OF[category]
        self.category = category
        self.primary = primary
        self.sockets: WsRegistry = venue.sockets
        self.limiter = venue.limiter

    def endpoints(self) -> list[Endpoint]:
        v = self.venue_state
        return [
            Endpoint("rest", v.http.app),
            Endpoint("private", v.ws.private_app, "ws", "/v5/private"),
            Endpoint("trade", v.ws.trade_app, "ws", "/v5/trade"),
            Endpoint("public", v.ws.public_app, "ws", f"/v5/public/{self.category}"),
        ]

    async def run(self) -> None:
        if self.primary:
            await self.venue_state.run()
        else:
            await asyncio.Event().wait()  # the primary front-end runs the venue's timers
