"""Bybit v5 wire types (field names exactly as the venue spells them; numbers are strings).

Only the fields the connector reads are declared; the venue sends more."""

from __future__ import annotations

from typing import Any, TypedDict

Params = dict[str, Any]  # a request's JSON body / query (REST) or ``args`` item (``/v5/trade``)


class OrderRow(TypedDict, total=False):
    """``/v5/order/realtime|history`` rows and ``order`` topic items."""

    category: str
    orderId: str
    orderLinkId: str
    symbol: str
    side: str  # Buy | Sell
    orderType: str  # Market | Limit
    timeInForce: str  # GTC | IOC | FOK | PostOnly
    price: str
    qty: str
    orderStatus: str
    rejectReason: str
    cancelType: str
    cumExecQty: str
    leavesQty: str
    avgPrice: str
    updatedTime: str
    createdTime: str


class ExecutionRow(TypedDict, total=False):
    """``/v5/execution/list`` rows and ``execution`` topic items."""

    category: str
    symbol: str
    orderId: str
    orderLinkId: str
    side: str
    orderPrice: str
    orderQty: str
    leavesQty: str
    execId: str
    execPrice: str
    execQty: str
    execFee: str
    feeCurrency: str
    execType: str
    execTime: str
    isMaker: bool


class PriceFilter(TypedDict, total=False):
    tickSize: str
    minPrice: str  # derivatives
    maxPrice: str  # derivatives


class LotSizeFilter(TypedDict, total=False):
    basePrecision: str  # spot
    minOrderQty: str
    maxOrderQty: str
    maxLimitOrderQty: str  # spot (newer rows; maxOrderQty is its older name)
    maxMarketOrderQty: str  # spot (newer rows)
    minOrderAmt: str  # spot
    maxOrderAmt: str  # spot
    qtyStep: str  # derivatives
    maxMktOrderQty: str  # linear, inverse
    minNotionalValue: str  # linear


class InstrumentRow(TypedDict, total=False):
    symbol: str
    status: str
    baseCoin: str
    quoteCoin: str
    settleCoin: str
    priceFilter: PriceFilter
    lotSizeFilter: LotSizeFilter


class PositionRow(TypedDict, total=False):
    symbol: str
    side: str  # Buy | Sell | "" (flat)
    size: str
    avgPrice: str


class BookData(TypedDict):
    s: str
    b: list[list[str]]
    a: list[list[str]]
    u: int


class TradeItem(TypedDict):
    T: int
    s: str
    S: str  # taker side
    v: str
    p: str
    i: str
