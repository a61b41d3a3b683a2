"""The OKX front-end: one REST host and one WebSocket host (private, public and business paths) over
one unified trading account per user (spot and USDT swaps share the USDT balance, as in OKX's
"spot and futures" account mode), on market ``okx`` of the matching engine.

Engine events become ``orders`` / ``fills`` pushes for the owner's logged-in private connections and
``bbo-tbt`` / ``trades`` pushes for public subscribers, synchronously inside the engine operation
that caused them (so pushes follow the engine's order). ``run()`` fires cancel-all-after countdowns,
closes idle connections and sockets a ``drop`` fault targeted.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...core.accounts import Account
from ...core.engine import Market
from ...core.types import ZERO, BookTop, Event, ExecType, Fill, Order, OrderEvent, OrderStatus, PublicTrade
from ..common import Endpoint, WsRegistry
from . import wire
from .instruments import OkxInstrument
from .marketdata import OkxMarketData
from .ratelimit import OkxLimiter
from .rest import OkxRest
from .trading import OkxTrading
from .ws import Conn, OkxWs

if TYPE_CHECKING:
    from ...app import Simulator

TICK_S = 0.1
# an order's attached TP/SL is placed when it ends filled, or cancelled / expired after a partial fill (algo.py)
ATTACH_ENDS = (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED)


class OkxFrontend:
    def __init__(self, sim: Simulator, market: Market, instruments: tuple[OkxInstrument, ...]) -> None:
        self.venue = market.name
        self.sim = sim
        self.exchange = sim.exchange
        self.market = market
        self.instruments = {i.inst_id: i for i in instruments}
        self.sockets = WsRegistry()
        self.faults = sim.faults[market.name]
        self.limiter = OkxLimiter()
        self.trading = OkxTrading(market, self.instruments, self.faults, self.limiter, self.exchange.now_ms)
        self.rest = OkxRest(self)
        self.marketdata = OkxMarketData(self)  # market-data REST routes and public/business channels
        self.marketdata.routes(self.rest)
        self.ws = OkxWs(self)
        from .algo import OkxAlgo

        self.algo = OkxAlgo(self)  # algo orders: order-algo and the orders-algo channel (algo.py)
        # account id -> its (billId, fill), oldest first; kept within the exchange's history window
        self._bills: dict[str, deque[tuple[int, Fill]]] = {}
        self._next_bill = 700_000_000_000_000_000
        self._countdowns: dict[str, int] = {}  # account id -> cancel-all-after trigger time (ms)
        self._seq: dict[str, int] = dict.fromkeys(self.instruments, 1)
        self._uids: dict[str, str] = {}
        self.exchange.subscribe(self._on_event)

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("rest", self.rest.app),
            Endpoint("private", self.ws.app(), "ws", "/ws/v5/private"),
            Endpoint("public", self.ws.app(), "ws", "/ws/v5/public"),
            Endpoint("business", self.ws.app(), "ws", "/ws/v5/business"),
        ]

    async def run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = self.exchange.now_ms()
            for account_id, deadline in list(self._countdowns.items()):
                if now >= deadline:
                    del self._countdowns[account_id]
                    self.trading.cancel_all(self.exchange.accounts[account_id], "COUNTDOWN")
            self.marketdata.tick()
            await self.ws.close_idle()

    # ------------------------------------------------------------------ helpers for REST / WS

    def uid(self, account: Account) -> str:
        uid = self._uids.get(account.account_id)
        if uid is None:
            uid = self._uids[account.account_id] = str(44_000_000_000_000_000 + len(self._uids) + 1)
        return uid

    def lever(self, account: Account, inst: OkxInstrument) -> int:
        return account.wallet(self.market.name).leverage.get(inst.inst_id, 20)

    def set_countdown(self, account: Account, seconds: int) -> int:
        """Arm (or with 0, disarm) cancel-all-after; returns the trigger time in ms (0: disarmed)."""
        if not seconds:
            self._countdowns.pop(account.account_id, None)
            return 0
        trigger = self.exchange.now_ms() + seconds * 1000
        self._countdowns[account.account_id] = trigger
        return trigger

    def bills_of(self, account: Account) -> Iterator[tuple[int, Fill]]:
        bills = self._bills.get(account.account_id)
        if bills:
            self._trim_bills(bills)
            yield from reversed(bills)

    def _trim_bills(self, bills: deque[tuple[int, Fill]]) -> None:
        history = self.exchange.history
        cutoff = self.exchange.now_ms() - history.age_ms
        while bills and (len(bills) > history.trades or bills[0][1].time_ms < cutoff):
            bills.popleft()

    def _book_side(self, inst: OkxInstrument, px: Decimal | None, qty: Decimal) -> list[list[str]]:
        return [] if px is None else [[wire.num(px), wire.num(inst.from_engine(qty)), "0", "1"]]

    def _bbo(self, inst: OkxInstrument, top: tuple[Decimal | None, Decimal, Decimal | None, Decimal]) -> dict[str, Any]:
        self._seq[inst.inst_id] += 1
        return {
            "arg": {"channel": "bbo-tbt", "instId": inst.inst_id},
            "data": [
                {
                    "asks": self._book_side(inst, top[2], top[3]),
                    "bids": self._book_side(inst, top[0], top[1]),
                    "ts": str(self.exchange.now_ms()),
                    "seqId": self._seq[inst.inst_id],
                }
            ],
        }

    def push_bbo_snapshot(self, conn: Conn, inst_id: str) -> None:
        conn.send(self._bbo(self.instruments[inst_id], self.market.books[inst_id].top()))

    # ------------------------------------------------------------------ engine events

    def _on_event(self, ev: Event) -> None:
        if ev.market != self.market.name:
            return
        if isinstance(ev, OrderEvent):
            self._on_order(ev)
        elif isinstance(ev, BookTop):
            inst = self.instruments[ev.symbol]
            subs = [
                c for c in self.ws.conns if c.kind == "public" and {"channel": "bbo-tbt", "instId": ev.symbol} in c.subs
            ]
            if subs:
                msg = self._bbo(inst, (ev.bid, ev.bid_qty, ev.ask, ev.ask_qty))
                for conn in subs:
                    conn.send(msg)
        elif isinstance(ev, PublicTrade):
            inst = self.instruments[ev.symbol]
            arg = {"channel": "trades", "instId": ev.symbol}
            subs = [c for c in self.ws.conns if c.kind == "public" and arg in c.subs]
            if subs:
                msg = {
                    "arg": arg,
                    "data": [
                        {
                            "instId": ev.symbol,
                            "tradeId": str(ev.trade_id),
                            "px": wire.num(ev.price),
                            "sz": wire.num(inst.from_engine(ev.qty)),
                            "side": wire.side(ev.taker_side),
                            "ts": str(ev.time_ms),
                            "count": "1",
                            "source": "0",
                            "seqId": ev.trade_id,
                        }
                    ],
                }
                for conn in subs:
                    conn.send(msg)

    def _push_algo(self, account: Account, order: Order) -> None:
        """An algo order's state on the business websocket's ``orders-algo`` channel."""
        inst = self.instruments[order.symbol]
        for conn in self.ws.conns:
            if conn.kind != "business" or conn.account is not account:
                continue
            for sub in conn.subs:
                if sub["channel"] == "orders-algo" and _matches(sub, inst):
                    conn.send({"arg": {**sub, "uid": self.uid(account)}, "data": [self.algo.row(order)]})

    def _on_order(self, ev: OrderEvent) -> None:
        order, fill = ev.order, ev.fill
        account = self.exchange.accounts[order.account_id]
        if account.is_background:
            return
        if order.trigger is not None:  # an algo order: its own channel, never ``orders``
            algo = self.algo.on_leg_event(ev)
            if algo is not None:
                self._push_algo(account, algo)
            return
        parent = order.extra.get("parent")
        if isinstance(parent, Order) and parent.trigger is not None and ev.exec_type is ExecType.NEW:
            parent.trigger.child = order  # (set by the engine once placing returns; its events come first)
            self._push_algo(account, parent)  # effective, with the order it placed
        inst = self.instruments[order.symbol]
        if "attach" in order.extra and order.filled and order.status in ATTACH_ENDS:  # its TP/SL, after this event
            asyncio.get_running_loop().call_soon(self.algo.place_attached, order)
        if fill is not None:
            x = order.extra
            x["fee"] = x.get("fee", ZERO) - fill.fee
            x["feeCcy"] = fill.fee_asset
            x["pnl"] = x.get("pnl", ZERO) + fill.realized_pnl
            x["lastFill"] = fill
            self._next_bill += 1
            bills = self._bills.get(order.account_id)
            if bills is None:
                bills = self._bills[order.account_id] = deque()
            bills.append((self._next_bill, fill))
            if len(bills) > self.exchange.history.trades:
                self._trim_bills(bills)
        conns = [c for c in self.ws.conns if c.kind == "private" and c.account is account]
        if not conns:
            return
        item: dict[str, Any] | None = None  # built for the first subscriber: a login alone subscribes nothing
        uid = self.uid(account)
        for conn in conns:
            for sub in conn.subs:
                if sub["channel"] == "orders" and _matches(sub, inst):
                    if item is None:
                        amended, lever = ev.exec_type is ExecType.AMENDED, self.lever(account, inst)
                        item = wire.order_push(inst, order, fill, amended, self.exchange.now_ms(), lever)
                    conn.send({"arg": {**sub, "uid": uid}, "data": [item]})
                elif sub["channel"] == "fills" and fill is not None and sub.get("instId", inst.inst_id) == inst.inst_id:
                    cl = order.extra.get("clOrdId", "")
                    conn.send(
                        {
                            "arg": {**sub, "uid": uid},
                            "data": [
                                {
                                    "instId": inst.inst_id,
                                    "fillSz": wire.num(inst.from_engine(fill.qty)),
                                    "fillPx": wire.num(fill.price),
                                    "side": wire.side(fill.side),
                                    "ts": str(fill.time_ms),
                                    "ordId": str(order.order_id),
                                    # the channel echoes clOrdId only when it is a positive int64 string
                                    "clOrdId": cl if cl.isdigit() and 0 < int(cl) < 2**63 else "0",
                                    "tradeId": str(fill.trade_id),
                                    "execType": "M" if fill.is_maker else "T",
                                    "count": "1",
                                }
                            ],
                        }
                    )


def _matches(sub: dict[str, str], inst: OkxInstrument) -> bool:
    inst_type = sub.get("instType", "ANY")
    if inst_type not in ("ANY", inst.inst_type):
        return False
    if sub.get("instId") and sub["instId"] != inst.inst_id:
        return False
    return not (sub.get("instFamily") and sub["instFamily"] != inst.inst_family)
