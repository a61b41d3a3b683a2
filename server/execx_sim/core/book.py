"""A price-time priority limit order book for one symbol."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from decimal import Decimal

from .types import ZERO, Order, Side


class Book:
    """Levels are insertion-ordered dicts (order_id -> Order), so time priority is iteration order and
    removal is O(1). Price lists are kept sorted ascending; the best bid is the last bid price."""

    __slots__ = ("_ask_px", "_bid_px", "asks", "bids", "symbol", "update_id")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[Decimal, dict[int, Order]] = {}
        self.asks: dict[Decimal, dict[int, Order]] = {}
        self._bid_px: list[Decimal] = []
        self._ask_px: list[Decimal] = []
        self.update_id = 1

    def _side(self, side: Side) -> tuple[dict[Decimal, dict[int, Order]], list[Decimal]]:
        return (self.bids, self._bid_px) if side is Side.BUY else (self.asks, self._ask_px)

    def add(self, order: Order) -> None:
        assert order.price is not None
        levels, prices = self._side(order.side)
        level = levels.get(order.price)
        if level is None:
            level = levels[order.price] = {}
            bisect.insort(prices, order.price)
        level[order.order_id] = order
        self.update_id += 1

    def remove(self, order: Order) -> None:
        if order.price is None:
            return
        levels, prices = self._side(order.side)
        level = levels.get(order.price)
        if level is None or level.pop(order.order_id, None) is None:
            return
        if not level:
            del levels[order.price]
            i = bisect.bisect_left(prices, order.price)
            del prices[i]
        self.update_id += 1

    def best_bid(self) -> Decimal | None:
        return self._bid_px[-1] if self._bid_px else None

    def best_ask(self) -> Decimal | None:
        return self._ask_px[0] if self._ask_px else None

    def level_qty(self, side: Side, price: Decimal) -> Decimal:
        levels, _ = self._side(side)
        level = levels.get(price)
        return sum((o.remaining for o in level.values()), ZERO) if level else ZERO

    def top(self) -> tuple[Decimal | None, Decimal, Decimal | None, Decimal]:
        bid, ask = self.best_bid(), self.best_ask()
        return (
            bid,
            self.level_qty(Side.BUY, bid) if bid is not None else ZERO,
            ask,
            self.level_qty(Side.SELL, ask) if ask is not None else ZERO,
        )

    def mid(self) -> Decimal | None:
        bid, ask = self.best_bid(), self.best_ask()
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return bid if bid is not None else ask

    def opposite_levels(self, taker_side: Side) -> Iterator[tuple[Decimal, dict[int, Order]]]:
        """Levels a taker on ``taker_side`` would hit, best first. Safe against removal while iterating
        (iterates over a snapshot of prices)."""
        if taker_side is Side.BUY:
            for px in list(self._ask_px):
                level = self.asks.get(px)
                if level:
                    yield px, level
        else:
            for px in reversed(list(self._bid_px)):
                level = self.bids.get(px)
                if level:
                    yield px, level

    def depth(self, limit: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids = [(px, self.level_qty(Side.BUY, px)) for px in reversed(self._bid_px[-limit:])]
        asks = [(px, self.level_qty(Side.SELL, px)) for px in self._ask_px[:limit]]
        return bids, asks

    def orders(self) -> Iterator[Order]:
        for levels in (self.bids, self.asks):
            for level in levels.values():
                yield from level.values()
