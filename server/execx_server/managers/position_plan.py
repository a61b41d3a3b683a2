"""The position manager's quoting plan: a pure function from (best bid/ask, position, target, the
manager's working orders, instrument rules, config) to the orders to place, move and cancel.

No I/O and no clock: the runner (``position.py``) calls ``plan()`` on every best bid/ask change, on
every order update and every ``reEntryTickerSeconds``, and executes the actions through the engine.
The behaviour it encodes is documented in ``docs/position_manager.md``; in short:

- ``need = target - position``; buy when positive, sell when negative; orders on the other side are
  cancelled (a target crossing zero flips sides). ``need == 0``: every working order is cancelled.
- Post-only prices only: a buy is always strictly below the best ask, a sell strictly above the best
  bid. The top level goes one tick inside the spread when the spread is wider than one tick
  ("diming"), else joins the best price. A top order already at (or, with a lagging ticker, better
  than) the best price is left alone.
- Up to ``quoteLevels`` levels, level ``i`` at ``top * (1 -/+ i * priceLevelInterval)`` (rounded to the
  tick towards the passive side, and always at least one tick behind the level before it).
  ``maintainSpreads`` true: deeper orders follow that spacing whenever the top moves. False: a deeper
  order keeps the price it was placed at while it stays behind the level before it, so a favourable
  swing fills it at its better price; it is moved only when the ladder would otherwise be out of order.
- Each level is one iceberg clip of ``minOrderQty`` (rounded down to the lot, raised to the venue's
  minimum quantity and to its minimum notional at that price); the clips never add up to more than
  ``|need|``. A working order larger than what is left of ``|need|`` is amended down (or cancelled
  when the smaller size is below the venue's minimum). A remainder too small to be an order on its
  own is reported as ``unplaceable``: the runner treats the target as reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from ..domain.enums import Side
from ..domain.instruments import InstrumentRules

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PlanConfig:
    quote_levels: int
    min_order_qty: Decimal
    price_level_interval: Decimal
    maintain_spreads: bool


@dataclass(frozen=True, slots=True)
class Quote:
    """Best bid/ask as the market-data hub last saw it (our own orders included)."""

    bid: Decimal
    ask: Decimal


@dataclass(frozen=True, slots=True)
class Working:
    """One of the manager's own live orders."""

    cl_order_id: str
    side: Side
    price: Decimal
    remaining: Decimal


@dataclass(frozen=True, slots=True)
class Place:
    side: Side
    price: Decimal
    qty: Decimal
    level: int


@dataclass(frozen=True, slots=True)
class Amend:
    """Move an order: a new price and/or a smaller quantity (None: unchanged)."""

    cl_order_id: str
    price: Decimal | None
    qty: Decimal | None
    level: int


@dataclass(frozen=True, slots=True)
class Cancel:
    cl_order_id: str
    reason: str


Action = Place | Amend | Cancel


@dataclass(frozen=True, slots=True)
class Plan:
    side: Side | None  # None: nothing to do (target reached)
    need: Decimal  # |target - position|
    levels: tuple[tuple[Decimal, Decimal], ...]  # (price, qty) of every level after the actions, best first
    actions: tuple[Action, ...]
    unplaceable: bool = False  # what is left of ``need`` is below the venue's minimum order
    note: str = ""


def clip_qty(rules: InstrumentRules, min_order_qty: Decimal, price: Decimal) -> Decimal:
    """The size of one iceberg clip at ``price``: ``minOrderQty`` rounded down to the lot, but never
    below the venue's minimum quantity nor its minimum notional."""
    qty = max(rules.round_qty(min_order_qty), rules.min_qty, rules.lot)
    if rules.min_notional and rules.notional(qty, price) < rules.min_notional:
        unit = rules.contract_size if rules.inverse else price
        qty = (rules.min_notional / unit / rules.lot).to_integral_value(ROUND_CEILING) * rules.lot
    return qty


def placeable(rules: InstrumentRules, qty: Decimal, price: Decimal) -> bool:
    """Whether ``qty`` at ``price`` is a valid order on its own on the venue."""
    return (
        qty > 0
        and rules.round_qty(qty) == qty
        and qty >= rules.min_qty
        and (rules.max_qty is None or qty <= rules.max_qty)
        and (not rules.min_notional or rules.notional(qty, price) >= rules.min_notional)
    )


def _behind(side: Side, price: Decimal, ref: Decimal) -> bool:
    """``price`` is strictly less aggressive than ``ref`` on ``side``."""
    return price < ref if side is Side.BUY else price > ref


def top_price(side: Side, quote: Quote, tick: Decimal, best_own: Decimal | None) -> Decimal:
    """Where the top level belongs: our best order if it is already at the best price, else one tick
    inside the spread when the spread is wider than a tick (diming), else joining the best price."""
    best = quote.bid if side is Side.BUY else quote.ask
    if best_own is not None and not _behind(side, best_own, best):
        return best_own
    if quote.ask - quote.bid > tick:
        return best + tick if side is Side.BUY else best - tick
    return best


def level_price(
    rules: InstrumentRules, side: Side, top: Decimal, i: int, interval: Decimal, before: Decimal
) -> Decimal:
    """Level ``i``'s price from the top, rounded passive and at least one tick behind ``before``."""
    raw = top * (1 - i * interval) if side is Side.BUY else top * (1 + i * interval)
    price = rules.round_price(raw, side)
    if not _behind(side, price, before):
        price = before - rules.tick if side is Side.BUY else before + rules.tick
    return price


def plan(
    quote: Quote | None,
    position: Decimal,
    target: Decimal,
    working: list[Working],
    rules: InstrumentRules,
    cfg: PlanConfig,
) -> Plan:
    need = target - position
    if need == 0:
        return Plan(
            None, ZERO, (), tuple(Cancel(w.cl_order_id, "target reached") for w in working), note="target reached"
        )
    side = Side.BUY if need > 0 else Side.SELL
    need = abs(need)
    actions: list[Action] = [Cancel(w.cl_order_id, "flip: other side") for w in working if w.side is not side]
    mine = sorted((w for w in working if w.side is side), key=lambda w: w.price, reverse=side is Side.BUY)
    if quote is None or quote.bid <= 0 or quote.ask <= 0 or quote.bid >= quote.ask:
        return Plan(side, need, (), tuple(actions), note="no two-sided book")
    tick = rules.tick
    opposite = quote.ask if side is Side.BUY else quote.bid
    top = top_price(side, quote, tick, mine[0].price if mine else None)
    # Our best order is the top level's order unless it sits as deep as level 1 would: then it is a
    # deeper level already and the top gets a new clip (an iceberg refill keeps the deeper orders).
    zone = level_price(rules, side, top, 1, cfg.price_level_interval, top)
    slots: list[Working | None] = list(mine)
    if mine and not _behind(side, zone, mine[0].price):
        slots.insert(0, None)
    budget = need
    levels: list[tuple[Decimal, Decimal]] = []
    kept: set[str] = set()
    before = top
    for i in range(cfg.quote_levels):
        w = slots[i] if i < len(slots) else None
        if i == 0:
            price = top
        else:
            price = level_price(rules, side, top, i, cfg.price_level_interval, before)
            if w is not None and not cfg.maintain_spreads and _behind(side, w.price, before):
                price = w.price  # anchored: keeps its price while it stays behind the level before
        if price <= 0:
            break
        if (w is None or price != w.price) and not _behind(side, price, opposite):
            break  # post-only: never at or through the other side (a ticker lagging our own orders)
        if w is not None:
            qty = min(w.remaining, budget)
            if not placeable(rules, qty, price):
                break
            new_price = price if price != w.price else None
            new_qty = qty if qty != w.remaining else None
            if new_price is not None or new_qty is not None:
                actions.append(Amend(w.cl_order_id, new_price, new_qty, i))
            kept.add(w.cl_order_id)
        else:
            qty = min(clip_qty(rules, cfg.min_order_qty, price), rules.round_qty(budget))
            if not placeable(rules, qty, price):
                break
            actions.append(Place(side, price, qty, i))
        levels.append((price, qty))
        budget -= qty
        before = price
        if budget <= 0:
            break
    actions.extend(Cancel(w.cl_order_id, "beyond the quoted levels") for w in mine if w.cl_order_id not in kept)
    return Plan(side, need, tuple(levels), tuple(actions), unplaceable=not levels and not mine)
