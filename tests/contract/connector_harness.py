"""The connector contract harness: venues under test, a connector started against the simulator, and
event-driven waits with deadlines. Shared by the venue-neutral suite and venue-specific edge tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import waiting
from execx_server.connectors.base import Connector, ConnectorConfig, Secret
from execx_server.connectors.binance.connector import BinanceConnector
from execx_server.connectors.bybit.connector import BybitConnector
from execx_server.connectors.deribit.connector import DeribitConnector
from execx_server.connectors.okx.connector import OkxConnector
from execx_server.connectors.pulse.connector import PulseConnector
from execx_server.connectors.transport.websocket import Backoff
from execx_server.domain.enums import Exchange, OrderType, Side, TimeInForce
from execx_server.domain.venue import ExecutionReport, OrderRequest, Retryable
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.venues.bybit.instruments import option_expiry, option_symbol

D = Decimal
WAIT_S = 10.0


@dataclass(frozen=True)
class Venue:
    exchange: Exchange
    symbol: str
    qty: Decimal  # a small order size valid on the venue (contracts for inverse)
    derivative: bool
    factory: Callable[[ConnectorConfig, Backoff], Connector]
    variant: str = ""  # e.g. another order-entry transport of the same venue
    http_faults: bool = True  # orders go over HTTP, so the simulator's HTTP faults (5xx, 429, unknown outcome) apply

    def __str__(self) -> str:
        return f"{self.exchange.value}-{self.variant}" if self.variant else self.exchange.value


def _binance(config: ConnectorConfig, backoff: Backoff) -> Connector:
    return BinanceConnector(config, backoff=backoff)


def _binance_ws_entry(config: ConnectorConfig, backoff: Backoff) -> Connector:
    return BinanceConnector(config, backoff=backoff, order_entry="ws")


def _binance_margin(config: ConnectorConfig, backoff: Backoff) -> Connector:
    # A session with useMargin: cross margin (/sapi/v1/margin/..., listenToken stream); the WebSocket-API
    # order entry asked for here must fall back to REST (margin has none).
    return BinanceConnector(dataclasses.replace(config, use_margin=True), backoff=backoff, order_entry="ws")


def _bybit(config: ConnectorConfig, backoff: Backoff) -> Connector:
    return BybitConnector(config, backoff=backoff)


def _bybit_ws_entry(config: ConnectorConfig, backoff: Backoff) -> Connector:
    return BybitConnector(config, backoff=backoff, order_entry="ws")


# The simulator lists Bybit options expiring on the last Friday of the month after next.
BYBIT_OPTION_SYMBOL = option_symbol("BTC", option_expiry(datetime.datetime.now(datetime.UTC).date()), 100000, True)


def _okx(config: ConnectorConfig, backoff: Backoff) -> Connector:
    return OkxConnector(config, backoff=backoff)


def _okx_ws_entry(config: ConnectorConfig, backoff: Backoff) -> Connector:
    return OkxConnector(config, backoff=backoff, order_entry="ws")


def _deribit(config: ConnectorConfig, backoff: Backoff) -> Connector:
    return DeribitConnector(config, backoff=backoff)


def _pulse(config: ConnectorConfig, backoff: Backoff) -> Connector:
    return PulseConnector(config, backoff=backoff)


def _pulse_signature(config: ConnectorConfig, backoff: Backoff) -> Connector:
    return PulseConnector(config, backoff=backoff, grant="client_signature")


VENUES = [
    Venue(Exchange.BINANCE_SPOT, "BTCUSDT", D("0.01"), False, _binance),
    Venue(Exchange.BINANCE_USDM_FUTURE, "BTCUSDT", D("0.01"), True, _binance),
    Venue(Exchange.BINANCE_COINM_FUTURE, "BTCUSD_PERP", D("2"), True, _binance),
    Venue(Exchange.BINANCE_SPOT, "BTCUSDT", D("0.01"), False, _binance_ws_entry, "wsapi"),
    Venue(Exchange.BINANCE_SPOT, "BTCUSDT", D("0.01"), False, _binance_margin, "margin"),
    Venue(Exchange.OKX, "BTC-USDT", D("0.01"), False, _okx),
    Venue(Exchange.OKX, "BTC-USDT", D("0.01"), False, _okx_ws_entry, "wsapi"),
    Venue(Exchange.BYBIT_SPOT, "BTCUSDT", D("0.01"), False, _bybit),
    Venue(Exchange.BYBIT_LINEAR, "BTCUSDT", D("0.01"), True, _bybit),
    Venue(Exchange.BYBIT_INVERSE, "BTCUSD", D("100"), True, _bybit),
    Venue(Exchange.BYBIT_OPTION, BYBIT_OPTION_SYMBOL, D("0.1"), True, _bybit),
    Venue(Exchange.BYBIT_LINEAR, "BTCUSDT", D("0.01"), True, _bybit_ws_entry, "wstrade"),
    # Orders over FIX (Deribit) and the JSON-RPC websocket (Pulse): HTTP faults do not apply; their
    # outcome, credential, post-only and reconnect behaviour in the venue's words: test_deribit_pulse_edges.py
    Venue(Exchange.DERIBIT, "BTC-PERPETUAL", D("10"), True, _deribit, http_faults=False),  # 10-USD contracts
    Venue(Exchange.PULSE, "BTC_USD-PERPETUAL", D("0.01"), True, _pulse, http_faults=False),
    Venue(Exchange.PULSE, "BTC_USD-PERPETUAL", D("0.01"), True, _pulse_signature, "signature", http_faults=False),
]
JSONRPC_VENUES = frozenset({Exchange.DERIBIT, Exchange.PULSE})  # venue words in test_deribit_pulse_edges.py
BYBIT = frozenset({Exchange.BYBIT_SPOT, Exchange.BYBIT_LINEAR, Exchange.BYBIT_INVERSE, Exchange.BYBIT_OPTION})

_ids = itertools.count(1)


def cl_id(tag: str) -> str:
    return f"ct{tag}{int(time.time() * 1000) % 10**9}x{next(_ids)}"


@dataclass
class Harness:
    venue: Venue
    connector: Connector
    admin: str
    http: aiohttp.ClientSession
    reports: list[ExecutionReport] = field(default_factory=list)
    states: list[bool] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_report(self, report: ExecutionReport) -> None:
        self.reports.append(report)
        self.changed.set()

    def on_state(self, live: bool) -> None:
        self.states.append(live)
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], what: str, within_s: float = WAIT_S) -> None:
        """Wait (on report/state events, with a deadline) until ``predicate()`` holds."""
        await waiting.until(self.changed, predicate, what, within_s, lambda: f"reports: {self.reports[-5:]}")

    async def wait_report(
        self, predicate: Callable[[ExecutionReport], bool], what: str, within_s: float = WAIT_S
    ) -> ExecutionReport:
        await self.until(lambda: any(predicate(r) for r in self.reports), what, within_s)
        return next(r for r in self.reports if predicate(r))

    def fills(self, cl_order_id: str) -> list[ExecutionReport]:
        return [r for r in self.reports if r.cl_order_id == cl_order_id and r.trade_id]

    async def admin_post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.http.post(f"{self.admin}{path}", json=body or {}) as resp:
            data = await resp.json()
            assert resp.status == 200, data
            return data

    async def book(self) -> tuple[Decimal, Decimal]:
        params = {"market": self.venue.exchange.value, "symbol": self.venue.symbol, "limit": "1"}
        async with self.http.get(f"{self.admin}/admin/book", params=params) as resp:
            data = await resp.json()
        return D(data["bids"][0][0]), D(data["asks"][0][0])

    async def passive_price(self, side: Side, ticks: int = 40) -> Decimal:
        bid, ask = await self.book()
        tick = self.connector.rules(self.venue.symbol).tick
        return bid - ticks * tick if side is Side.BUY else ask + ticks * tick

    async def trade_print(self, price: Decimal, qty: Decimal, aggressor: Side) -> None:
        await self.admin_post(
            "/admin/market/trade",
            {
                "market": self.venue.exchange.value,
                "symbol": self.venue.symbol,
                "price": str(price),
                "qty": str(qty),
                "aggressor": aggressor.value,
            },
        )

    async def fault(self, **values: Any) -> None:
        await self.admin_post(f"/admin/faults/{self.venue.exchange.value}", values)

    def order(
        self,
        side: Side,
        price: Decimal | None,
        *,
        qty: Decimal | None = None,
        order_type: OrderType = OrderType.LIMIT,
        tif: TimeInForce = TimeInForce.GTC,
        tag: str = "o",
    ) -> OrderRequest:
        return OrderRequest(cl_id(tag), self.venue.symbol, side, order_type, tif, qty or self.venue.qty, price)


def config_for(sim: Simulator, venue: Venue, account: Account) -> ConnectorConfig:
    hosts = sim.ready["venues"][venue.exchange.value]
    # The whole per-venue object of the ready line as wsUrl (documented override form).
    return ConnectorConfig(
        venue.exchange,
        account.api_key,
        Secret(account.secret_key),
        passphrase=Secret(account.passphrase),  # OKX signs with a passphrase too
        rest_url=hosts["rest"],
        ws_url=json.dumps(hosts),
    )


@contextlib.asynccontextmanager
async def running(sim: Simulator, venue: Venue, account: Account, backoff: Backoff) -> AsyncIterator[Harness]:
    connector = venue.factory(config_for(sim, venue, account), backoff)
    async with aiohttp.ClientSession() as http:
        h = Harness(venue, connector, sim.ready["admin"], http)
        await connector.start(h.on_report, h.on_state)
        try:
            yield h
        finally:
            async with http.delete(f"{h.admin}/admin/faults/{venue.exchange.value}"):
                pass
            try:
                with contextlib.suppress(Retryable):  # still inside a Retry-After: nothing was placed
                    await connector.cancel_all(venue.symbol)
            finally:
                await connector.close()
