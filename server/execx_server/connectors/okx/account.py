"""OKX v5 account views: ``GET /api/v5/account/balance`` (``details``, one per currency of the unified
account) and ``GET /api/v5/account/positions``. Mapping: ``docs/accounts.md``."""

from __future__ import annotations

from typing import Any

from ...domain.account import AccountPosition, AssetBalance
from ..account import dec, opt_dec, raw
from .rest import OkxRest


class OkxAccount:
    def __init__(self, rest: OkxRest) -> None:
        self.rest = rest

    async def balances(self) -> list[AssetBalance]:
        details: list[dict[str, Any]] = []
        for account in await self.rest.balance():
            details += account.get("details") or []
        return parse_balance(details)

    async def positions(self) -> list[AccountPosition]:
        return parse_positions(list(await self.rest.positions()))


def parse_balance(details: list[dict[str, Any]]) -> list[AssetBalance]:
    """``cashBal`` total, ``availBal`` available, ``frozenBal`` locked (orders and margin)."""
    out = []
    for row in details:
        total, locked = dec(row, "cashBal"), dec(row, "frozenBal")
        if total or locked:
            out.append(AssetBalance(str(row.get("ccy", "")), total, dec(row, "availBal"), locked))
    return out


def parse_positions(rows: list[Any]) -> list[AccountPosition]:
    """Net mode: ``pos`` is signed (contracts); long/short mode: ``posSide`` gives the sign."""
    out = []
    for row in rows:
        qty = dec(row, "pos")
        if not qty:
            continue
        if row.get("posSide") == "short" and qty > 0:
            qty = -qty
        out.append(
            AccountPosition(
                symbol=str(row.get("instId", "")),
                qty=qty,
                entry_price=dec(row, "avgPx"),
                unrealized_pnl=dec(row, "upl"),
                leverage=opt_dec(row, "lever"),
                liquidation_price=opt_dec(row, "liqPx"),
                cross_margin=row.get("mgnMode", "cross") == "cross",
                raw=raw(row),
            )
        )
    return out
