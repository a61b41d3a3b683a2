"""Accounts: API credentials, spot balances (free/locked) and futures wallets with one-way positions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from .instruments import Instrument, Kind
from .types import ZERO, Side


@dataclass(slots=True)
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(slots=True)
class Position:
    """One-way mode position: ``qty`` is signed (long > 0). Inverse quantities are contracts."""

    symbol: str
    qty: Decimal = ZERO
    entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    leverage: int = 20
    updated_ms: int = 0

    def unrealized(self, inst: Instrument, mark: Decimal) -> Decimal:
        if not self.qty or not mark or not self.entry_price:
            return ZERO
        if inst.kind is Kind.INVERSE:
            return self.qty * inst.contract_size * (1 / self.entry_price - 1 / mark)
        return self.qty * (mark - self.entry_price)

    def initial_margin(self, inst: Instrument, mark: Decimal) -> Decimal:
        if not self.qty:
            return ZERO
        if inst.kind is Kind.INVERSE:
            return abs(self.qty) * inst.contract_size / (mark or self.entry_price) / self.leverage
        return abs(self.qty) * (mark or self.entry_price) / self.leverage

    def apply_fill(self, inst: Instrument, side: Side, qty: Decimal, price: Decimal) -> Decimal:
        """Apply a fill; return the realised PnL (in the margin asset) of the part that closed."""
        signed = qty if side is Side.BUY else -qty
        realized = ZERO
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            new_qty = self.qty + signed
            if inst.kind is Kind.INVERSE:
                # Inverse entry is the harmonic mean of fill prices weighted by contracts.
                coin = (abs(self.qty) / self.entry_price if self.qty else ZERO) + qty / price
                self.entry_price = abs(new_qty) / coin
            else:
                self.entry_price = (abs(self.qty) * self.entry_price + qty * price) / abs(new_qty)
            self.qty = new_qty
        else:
            closing = min(qty, abs(self.qty))
            direction = 1 if self.qty > 0 else -1
            if inst.kind is Kind.INVERSE:
                realized = direction * closing * inst.contract_size * (1 / self.entry_price - 1 / price)
            else:
                realized = direction * closing * (price - self.entry_price)
            self.qty += signed
            if self.qty == 0:
                self.entry_price = ZERO
            elif (self.qty > 0) != (direction > 0):  # flipped: the rest opens at the fill price
                self.entry_price = price
        self.realized_pnl += realized
        return realized


@dataclass(slots=True)
class Wallet:
    """An account's funds on one market: spot balances, or a futures wallet plus positions."""

    balances: dict[str, Balance] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    order_margin: dict[str, Decimal] = field(default_factory=dict)  # margin asset -> reserved by open orders
    leverage: dict[str, int] = field(default_factory=dict)

    def balance(self, asset: str) -> Balance:
        bal = self.balances.get(asset)
        if bal is None:
            bal = self.balances[asset] = Balance()
        return bal

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol, leverage=self.leverage.get(symbol, 20))
        return pos


@dataclass(slots=True)
class Account:
    account_id: str
    api_key: str
    secret_key: str
    passphrase: str = ""
    wallets: dict[str, Wallet] = field(default_factory=dict)  # market name -> wallet
    is_background: bool = False  # the synthetic market's own participants

    def wallet(self, market: str) -> Wallet:
        w = self.wallets.get(market)
        if w is None:
            w = self.wallets[market] = Wallet()
        return w

    def public(self) -> dict[str, str]:
        return {"apiKey": self.api_key, "secretKey": self.secret_key, "passphrase": self.passphrase}


def new_credentials() -> tuple[str, str, str]:
    return secrets.token_hex(32), secrets.token_hex(32), secrets.token_urlsafe(12)
