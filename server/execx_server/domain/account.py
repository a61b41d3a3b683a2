"""Account views in venue-neutral terms: what a venue says an account holds (``docs/accounts.md``).

Every venue names its balance fields differently; each connector's ``account`` module maps them to
these three numbers, by one rule written down per venue in ``docs/accounts.md``:

- ``total``: the asset's wallet (cash) balance, without unrealised profit or loss;
- ``locked``: the part held by open orders and by the initial margin of open positions;
- ``available``: what the venue says can still be used for new orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class AssetBalance:
    asset: str
    total: Decimal
    available: Decimal
    locked: Decimal


@dataclass(frozen=True, slots=True)
class AccountPosition:
    """One open position as the venue reports it. ``qty`` is signed (long > 0), in the venue's unit
    (contracts for inverse instruments, as the order quantities). ``None``: the venue does not give it."""

    symbol: str
    qty: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal
    leverage: Decimal | None = None
    liquidation_price: Decimal | None = None
    cross_margin: bool = True
    raw: str = ""  # the venue's record, verbatim JSON
