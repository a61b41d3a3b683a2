"""Profit and loss of an algorithm's own fills: one implementation for every algorithm's status.

``Book`` books fills at *average cost*, per symbol: a fill that adds to the position moves the average
entry price (a harmonic average on inverse contracts, whose PnL is in the coin); a fill that reduces it
realises ``grid_plan.round_trip_pnl`` (the grid trader's round-trip rule: ``(sell - buy) x qty x
contract size``, inverse contracts valued at the closing price) on the closed quantity; a fill that
flips the position realises what it closes and opens the rest at its price.

- ``realised()``: what the closed quantity made, **after** every fee the book's fills paid (fees are
  cash spent: those of the still-open quantity too), in the symbol's quote currency;
- ``unrealised(mark)``: what the open quantity would make closed at ``mark`` (the market-data hub's
  mid), before fees; None without a mark;
- ``fees``: the fills' fees in the quote currency (``position.fee_in_quote``; negative = rebates).

Pure, no I/O; decimals only. Saved as JSON (``to_json`` / ``from_json``: decimals as strings).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..domain.enums import Side
from ..domain.instruments import InstrumentRules
from .grid_plan import round_trip_pnl

ZERO = Decimal(0)


@dataclass
class Book:
    rules: InstrumentRules
    qty: Decimal = ZERO  # signed: the net position these fills make (> 0 long)
    avg_price: Decimal = ZERO  # average entry price of ``qty`` (0 when flat)
    gross: Decimal = ZERO  # realised on the closed quantity, before fees
    fees: Decimal = ZERO  # in the quote currency
    fills: int = 0

    def fill(self, side: Side, qty: Decimal, price: Decimal, fee: Decimal = ZERO) -> Decimal:
        """Book one fill (``qty`` > 0 at ``price``; ``fee`` in the quote currency); returns what it realised
        before fees."""
        self.fills += 1
        self.fees += fee
        if qty <= 0 or price <= 0:
            return ZERO
        buy = side is Side.BUY
        realised = ZERO
        if self.qty and (self.qty > 0) != buy:  # it reduces (or flips) the position
            closed = min(abs(self.qty), qty)
            realised = (
                round_trip_pnl(self.rules, price, self.avg_price, closed, price)
                if buy  # covering a short: bought now, sold at the entry
                else round_trip_pnl(self.rules, self.avg_price, price, closed, price)
            )
            self.gross += realised
            self.qty += closed if buy else -closed
            qty -= closed
            if not self.qty:
                self.avg_price = ZERO
        if qty:  # it adds to (or opens) the position
            held = abs(self.qty)
            if not held:
                self.avg_price = price
            elif self.rules.inverse:  # contracts of fixed quote value: the harmonic average
                self.avg_price = (held + qty) / (held / self.avg_price + qty / price)
            else:
                self.avg_price = (held * self.avg_price + qty * price) / (held + qty)
            self.qty += qty if buy else -qty
        return realised

    def realised(self) -> Decimal:
        return self.gross - self.fees

    def unrealised(self, mark: Decimal | None) -> Decimal | None:
        if mark is None or mark <= 0:
            return None
        if not self.qty:
            return ZERO
        if self.qty > 0:
            return round_trip_pnl(self.rules, self.avg_price, mark, self.qty, mark)
        return round_trip_pnl(self.rules, mark, self.avg_price, -self.qty, mark)

    def to_json(self) -> dict[str, Any]:
        return {
            "qty": str(self.qty),
            "avgPrice": str(self.avg_price),
            "gross": str(self.gross),
            "fees": str(self.fees),
            "fills": self.fills,
        }

    @classmethod
    def from_json(cls, rules: InstrumentRules, d: dict[str, Any]) -> Book:
        return cls(
            rules, Decimal(d["qty"]), Decimal(d["avgPrice"]), Decimal(d["gross"]), Decimal(d["fees"]), int(d["fills"])
        )
