"""The synthetic market: background participants that quote, cancel and trade.

Each (market, symbol) has a mid price doing a seeded random walk. A background market maker keeps
``levels`` price levels on each side around the mid; a background taker sends small market orders,
so trades print with an aggressor side. Everything derives from ``seed``: the same seed and the
same sequence of steps give the same prices and trades. ``quiet`` mode places a static book once
and never steps (deterministic tests move the market through the admin API instead).
"""

from __future__ import annotations

import asyncio
import random
import zlib
from dataclasses import dataclass
from decimal import Decimal

from .accounts import Account
from .engine import Exchange, Market
from .instruments import Instrument
from .types import OrderType, Side, STPMode, TimeInForce


@dataclass
class FlowConfig:
    rate: float = 4.0  # steps per second per symbol
    volatility: float = 0.0002  # std-dev of the mid's relative move per step
    levels: int = 10  # price levels each side
    trade_probability: float = 0.3  # chance per step of a background market order
    spread_ticks: int = 2  # half-spread around the mid, in ticks (at least)


# The background participants trade with each other: the venues' default self-trade prevention
# (Binance: EXPIRE_MAKER) would otherwise expire their own ladder and no trade would ever print.
NO_STP = STPMode.NONE


class _SymbolFlow:
    def __init__(self, market: Market, inst: Instrument, mm: Account, rng: random.Random) -> None:
        self.market = market
        self.inst = inst
        self.mm = mm
        self.rng = rng
        self.mid = inst.ref_price

    def step_size(self) -> Decimal:
        # Level spacing grows with price/tick so books look alike across instruments (~1 bp).
        return max(self.inst.tick, self.inst.round_price(self.mid / 10_000))

    def level_qty(self) -> Decimal:
        notional = Decimal(self.rng.randint(2_000, 20_000))
        if self.inst.kind.value == "INVERSE":
            return max(self.inst.min_qty, Decimal(int(notional / self.inst.contract_size)))
        qty = (notional / self.mid // self.inst.lot) * self.inst.lot
        return max(qty, self.inst.min_qty)

    def requote(self, cfg: FlowConfig) -> None:
        """Replace the maker's ladder around ``mid``."""
        self.market.cancel_all(self.mm, self.inst.symbol)
        step = self.step_size()
        half = max(step, self.inst.tick * cfg.spread_ticks)
        mid = self.inst.round_price(self.mid)
        for i in range(cfg.levels):
            for side, px in ((Side.BUY, mid - half - step * i), (Side.SELL, mid + half + step * i)):
                if px <= 0:
                    continue
                self.market.place(self.mm, self.inst.symbol, side, OrderType.LIMIT, self.level_qty(), px, stp=NO_STP)

    def step(self, cfg: FlowConfig) -> None:
        move = Decimal(repr(self.rng.gauss(0.0, cfg.volatility)))
        self.mid = max(self.inst.tick, self.mid * (1 + move))
        self.market.ref_price[self.inst.symbol] = self.inst.round_price(self.mid)
        self.requote(cfg)
        if self.rng.random() < cfg.trade_probability:
            side = Side.BUY if self.rng.random() < 0.5 else Side.SELL
            qty = max(self.inst.min_qty, (self.level_qty() / 4 // self.inst.lot) * self.inst.lot)
            self.market.place(self.mm, self.inst.symbol, side, OrderType.MARKET, qty, stp=NO_STP)


class SyntheticMarket:
    def __init__(self, exchange: Exchange, seed: int = 1, quiet: bool = False, config: FlowConfig | None = None):
        self.exchange = exchange
        self.seed = seed
        self.config = config or FlowConfig()
        self.paused = quiet
        self.mm = exchange.create_account("background-market-maker", background=True)
        self.flows: dict[tuple[str, str], _SymbolFlow] = {}
        for market in exchange.markets.values():
            self.add_market(market)

    def add_market(self, market: Market) -> None:
        for inst in market.instruments.values():
            key = (market.name, inst.symbol)
            rng = random.Random(self.seed * 1_000_003 + zlib.crc32(f"{market.name}/{inst.symbol}".encode()))
            flow = self.flows[key] = _SymbolFlow(market, inst, self.mm, rng)
            flow.requote(self.config)

    def flow(self, market: str, symbol: str) -> _SymbolFlow:
        try:
            return self.flows[(market, symbol)]
        except KeyError:
            raise KeyError(f"unknown market/symbol {market}/{symbol}") from None

    def step_all(self) -> None:
        for flow in self.flows.values():
            flow.step(self.config)

    async def run(self) -> None:
        """Step every symbol ``rate`` times a second until cancelled (owned by the simulator's TaskGroup)."""
        while True:
            await asyncio.sleep(1.0 / self.config.rate)
            if not self.paused:
                self.step_all()

    # ------------------------------------------------------------------ admin actions

    def move_to(self, market: str, symbol: str, price: Decimal) -> None:
        """Re-centre the market at ``price``: the ladder is re-quoted there (crossing resting orders trade)."""
        flow = self.flow(market, symbol)
        flow.mid = price
        flow.market.ref_price[symbol] = flow.inst.round_price(price)
        flow.requote(self.config)

    def print_trade(self, market: str, symbol: str, price: Decimal, qty: Decimal, aggressor: Side) -> None:
        """Make a trade print at ``price`` with the given aggressor side. Resting orders of other accounts
        that are better than ``price`` are hit first, as they would be on a real venue."""
        flow = self.flow(market, symbol)
        m = flow.market
        maker_side = aggressor.opposite
        for order in m.open_orders(self.mm, symbol):
            assert order.price is not None
            # Own quotes in the way: better than the price on the maker side, or on the aggressor side at
            # prices the maker order would trade with (that would print with the wrong aggressor).
            if (order.side is maker_side and Market._crosses(aggressor, price, order.price)) or (
                order.side is aggressor and Market._crosses(aggressor, order.price, price)
            ):
                m.cancel(self.mm, symbol, order.order_id)
        m.place(self.mm, symbol, maker_side, OrderType.LIMIT, qty, price, stp=NO_STP)
        m.place(self.mm, symbol, aggressor, OrderType.LIMIT, qty, price, TimeInForce.IOC, stp=NO_STP)
        m.last_price[symbol] = price
