"""Bybit v5 account views: ``GET /v5/account/wallet-balance?accountType=UNIFIED`` (one unified account:
every category of a session sees the same coins) and ``GET /v5/position/list`` of the session's category
(linear once per settle coin of its instruments: the venue wants ``symbol`` or ``settleCoin``).
Mapping: ``docs/accounts.md``."""

from __future__ import annotations

from typing import Any

from ...domain.account import AccountPosition, AssetBalance
from ..account import dec, opt_dec, raw
from .rest import BybitRest

LINEAR_SETTLE_COINS = ("USDT", "USDC")  # when the instruments named none


class BybitAccount:
    def __init__(self, rest: BybitRest, category: str, settle_coins: list[str] | None = None) -> None:
        self.rest = rest
        self.category = category
        self.settle_coins = list(settle_coins or LINEAR_SETTLE_COINS)

    async def balances(self) -> list[AssetBalance]:
        result = await self.rest.wallet_balance()
        coins: list[dict[str, Any]] = []
        for account in result.get("list") or []:
            coins += account.get("coin") or []
        return parse_wallet(coins)

    async def positions(self) -> list[AccountPosition]:
        if self.category == "spot":
            return []
        if self.category == "linear":
            rows: list[Any] = []
            for settle in self.settle_coins:
                rows += await self.rest.position_list({"category": "linear", "settleCoin": settle})
        else:
            rows = list(await self.rest.position_list({"category": self.category}))
        return parse_positions(rows)


def parse_wallet(coins: list[dict[str, Any]]) -> list[AssetBalance]:
    """``walletBalance`` total; locked = ``locked`` (spot orders) + ``totalOrderIM`` (derivative orders) +
    ``totalPositionIM`` (positions); available = the rest (Bybit deprecated ``availableToWithdraw``)."""
    out = []
    for row in coins:
        total = dec(row, "walletBalance")
        locked = dec(row, "locked") + dec(row, "totalOrderIM") + dec(row, "totalPositionIM")
        if total or locked:
            out.append(AssetBalance(str(row.get("coin", "")), total, total - locked, locked))
    return out


def parse_positions(rows: list[dict[str, Any]]) -> list[AccountPosition]:
    out = []
    for row in rows:
        size = dec(row, "size")
        if not size:
            continue
        qty = size if row.get("side") == "Buy" else -size
        out.append(
            AccountPosition(
                symbol=str(row.get("symbol", "")),
                qty=qty,
                entry_price=dec(row, "avgPrice"),
                unrealized_pnl=dec(row, "unrealisedPnl"),
                leverage=opt_dec(row, "leverage"),
                liquidation_price=opt_dec(row, "liqPrice"),
                cross_margin=row.get("tradeMode", 0) in (0, "0"),
                raw=raw(row),
            )
        )
    return out
