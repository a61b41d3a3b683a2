"""Account views (balances, positions with their margin figures) read from each venue: the venue-neutral
entry point. Each venue's ``account`` module holds its requests and field mapping; this module picks the
one for a connector, so the connectors themselves carry no account code (``docs/accounts.md``)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from ..domain.account import AccountPosition, AssetBalance
from .base import Connector


class AccountReader(Protocol):
    """Reads one session's account at its venue; every call is a venue request."""

    async def balances(self) -> list[AssetBalance]: ...

    async def positions(self) -> list[AccountPosition]:
        """Open positions only (size not zero); spot venues have none."""
        ...


def account_reader(connector: Connector) -> AccountReader:
    """The reader for a started connector (its REST or JSON-RPC client)."""
    from .binance.connector import BinanceConnector
    from .bybit.connector import BybitConnector
    from .jsonrpc.orders import QueriesOverRpc
    from .okx.connector import OkxConnector

    if isinstance(connector, BinanceConnector):
        from .binance.account import BinanceAccount

        return BinanceAccount(connector.rest, connector.flavor, connector.margin)
    if isinstance(connector, BybitConnector):
        from .bybit.account import BybitAccount

        # linear positions are asked per settle coin: the ones the connector learnt from the instruments
        return BybitAccount(connector.rest, connector.category, connector._settle_coins)
    if isinstance(connector, OkxConnector):
        from .okx.account import OkxAccount

        return OkxAccount(connector.rest)
    if isinstance(connector, QueriesOverRpc):
        from .jsonrpc.account import RpcAccount

        return RpcAccount(connector.queries)
    raise TypeError(f"no account reader for {type(connector).__name__}")


def dec(row: dict[str, Any], key: str) -> Decimal:
    """A venue number field (string or JSON number); empty, missing or null is 0."""
    value = row.get(key)
    if value is None or value == "":
        return Decimal(0)
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    return out if out.is_finite() else Decimal(0)


def opt_dec(row: dict[str, Any], key: str) -> Decimal | None:
    """A number the venue may leave out (empty, null, missing or 0 means it gives none)."""
    value = dec(row, key)
    return value if value else None


def raw(row: Any) -> str:
    return json.dumps(row, separators=(",", ":"), sort_keys=True, default=str)
