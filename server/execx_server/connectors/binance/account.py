"""Binance account views: spot ``GET /api/v3/account`` (cross margin: ``GET /sapi/v1/margin/account``),
USD-M ``GET /fapi/v2/account`` + ``GET /fapi/v2/positionRisk``, COIN-M ``GET /dapi/v1/account`` +
``GET /dapi/v1/positionRisk`` (v2 and COIN-M keep ``leverage`` and ``marginType`` in the position rows;
USD-M v3 dropped them). Mapping: ``docs/accounts.md``."""

from __future__ import annotations

from typing import Any

from ...domain.account import AccountPosition, AssetBalance
from ..account import dec, opt_dec, raw
from .rest import BinanceRest
from .urls import Flavor


class BinanceAccount:
    def __init__(self, rest: BinanceRest, flavor: Flavor, margin: bool) -> None:
        self.rest = rest
        self.flavor = flavor
        self.margin = margin

    @property
    def _futures_prefix(self) -> str:
        return "/fapi/v2" if self.flavor is Flavor.USDM else "/dapi/v1"

    async def balances(self) -> list[AssetBalance]:
        if self.flavor is Flavor.SPOT:
            if self.margin:
                data = await self.rest.call("GET", "/sapi/v1/margin/account", weight=10)
                return parse_spot_balances(data.get("userAssets") or [])
            data = await self.rest.call("GET", "/api/v3/account", [("omitZeroBalances", "true")], weight=20)
            return parse_spot_balances(data.get("balances") or [])
        data = await self.rest.call("GET", f"{self._futures_prefix}/account", weight=5)
        return parse_futures_balances(data.get("assets") or [])

    async def positions(self) -> list[AccountPosition]:
        if self.flavor is Flavor.SPOT:
            return []
        rows = await self.rest.call("GET", f"{self._futures_prefix}/positionRisk", weight=5)
        return parse_futures_positions(rows if isinstance(rows, list) else [])


def parse_spot_balances(rows: list[dict[str, Any]]) -> list[AssetBalance]:
    """Spot and cross margin: ``free`` is available, ``locked`` is held by open orders."""
    out = []
    for row in rows:
        free, locked = dec(row, "free"), dec(row, "locked")
        if free or locked:
            out.append(AssetBalance(str(row.get("asset", "")), free + locked, free, locked))
    return out


def parse_futures_balances(rows: list[dict[str, Any]]) -> list[AssetBalance]:
    """Futures assets: ``walletBalance`` (no unrealised PnL), ``initialMargin`` (positions + open orders)
    locked, ``availableBalance`` available."""
    out = []
    for row in rows:
        total = dec(row, "walletBalance")
        locked, available = dec(row, "initialMargin"), dec(row, "availableBalance")
        if total or locked or available:
            out.append(AssetBalance(str(row.get("asset", "")), total, available, locked))
    return out


def parse_futures_positions(rows: list[dict[str, Any]]) -> list[AccountPosition]:
    out = []
    for row in rows:
        qty = dec(row, "positionAmt")
        if not qty:
            continue
        out.append(
            AccountPosition(
                symbol=str(row.get("symbol", "")),
                qty=qty,
                entry_price=dec(row, "entryPrice"),
                unrealized_pnl=dec(row, "unRealizedProfit"),
                leverage=opt_dec(row, "leverage"),
                liquidation_price=opt_dec(row, "liquidationPrice"),
                cross_margin=str(row.get("marginType", "cross")).lower() == "cross",
                raw=raw(row),
            )
        )
    return out
