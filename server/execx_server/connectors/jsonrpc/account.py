"""Deribit and Pulse account views over their JSON-RPC API (Deribit's orders go over FIX; its connector
keeps a JSON-RPC client for queries): ``private/get_account_summaries`` (every currency at once) and
``private/get_positions``. Mapping: ``docs/accounts.md``."""

from __future__ import annotations

from typing import Any

from ...domain.account import AccountPosition, AssetBalance
from ...domain.instruments import InstrumentRules
from ..account import dec, opt_dec, raw
from .orders import RpcQueries
from .parse import contracts


class RpcAccount:
    def __init__(self, queries: RpcQueries) -> None:
        self.queries = queries

    async def balances(self) -> list[AssetBalance]:
        answer = await self.queries.call("private/get_account_summaries", {})
        summaries = answer.get("summaries") if isinstance(answer, dict) else None
        return parse_summaries(summaries or [])

    async def positions(self) -> list[AccountPosition]:
        # the connector's own parameters for this venue (Deribit ``currency: any``; Pulse none)
        rows = await self.queries.call("private/get_positions", dict(self.queries._positions_params))
        return parse_positions(rows if isinstance(rows, list) else [], self.queries.rules)


def parse_summaries(rows: list[dict[str, Any]]) -> list[AssetBalance]:
    """``balance`` total (no unrealised PnL), ``available_funds`` available, ``initial_margin`` (positions
    and open orders) locked."""
    out = []
    for row in rows:
        total, locked = dec(row, "balance"), dec(row, "initial_margin")
        if total or locked:
            out.append(AssetBalance(str(row.get("currency", "")), total, dec(row, "available_funds"), locked))
    return out


def parse_positions(rows: list[dict[str, Any]], rules: dict[str, InstrumentRules]) -> list[AccountPosition]:
    """``size`` is signed in the venue's amount unit (USD for inverse instruments); the quantity is in the
    order unit, as the orders (contracts for inverse instruments, ``parse.contracts``)."""
    out = []
    for row in rows:
        symbol = str(row.get("instrument_name", ""))
        qty = contracts(row, rules.get(symbol), "size")
        if not qty:
            continue
        out.append(
            AccountPosition(
                symbol=symbol,
                qty=qty,
                entry_price=dec(row, "average_price"),
                unrealized_pnl=dec(row, "floating_profit_loss"),
                leverage=opt_dec(row, "leverage"),
                liquidation_price=opt_dec(row, "estimated_liquidation_price"),
                raw=raw(row),
            )
        )
    return out
