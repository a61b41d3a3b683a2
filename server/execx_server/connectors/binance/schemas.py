"""Binance wire types, field names exactly as the venue spells them (``../shared/venues/binance.md``).

``TypedDict`` views over the decoded JSON: no copying on the hot path, checked by mypy where the
parser reads them. Only ``parse.py`` turns these into domain types. Decimal fields are JSON strings.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

Params = list[tuple[str, str]]  # a request's parameters, in the order they are sent (and signed)


class ErrorBody(TypedDict):
    code: int
    msg: str


# ---------------------------------------------------------------------------------------- REST: orders


class SpotFill(TypedDict):
    price: str
    qty: str
    commission: str
    commissionAsset: str
    tradeId: int


class SpotOrder(TypedDict):
    """``POST/DELETE/GET /api/v3/order`` and ``GET /api/v3/openOrders`` items (RESULT/FULL shape)."""

    symbol: str
    orderId: int
    clientOrderId: str
    origClientOrderId: NotRequired[str]  # cancel responses
    transactTime: NotRequired[int]
    time: NotRequired[int]
    updateTime: NotRequired[int]
    price: NotRequired[str]
    origQty: NotRequired[str]
    executedQty: NotRequired[str]
    cummulativeQuoteQty: NotRequired[str]
    status: NotRequired[str]
    timeInForce: NotRequired[str]
    type: NotRequired[str]
    side: NotRequired[str]
    fills: NotRequired[list[SpotFill]]
    expiryReason: NotRequired[str]


class SpotAmendedOrder(TypedDict):
    symbol: str
    orderId: int
    origClientOrderId: str
    clientOrderId: str
    price: str
    qty: str
    executedQty: str
    status: str
    timeInForce: str
    type: str
    side: str


class SpotAmendResponse(TypedDict):
    """``PUT /api/v3/order/amend/keepPriority``."""

    transactTime: int
    executionId: int
    amendedOrder: SpotAmendedOrder


class SpotCancelReplace(TypedDict):
    """``POST /api/v3/order/cancelReplace`` (also the ``data`` of its -2021/-2022 errors)."""

    cancelResult: Literal["SUCCESS", "FAILURE"]
    newOrderResult: Literal["SUCCESS", "FAILURE", "NOT_ATTEMPTED"]
    cancelResponse: SpotOrder | ErrorBody
    newOrderResponse: SpotOrder | ErrorBody | None


class FuturesOrder(TypedDict):
    """``/fapi|dapi/v1/order`` (POST/PUT/DELETE/GET) and ``openOrders`` items."""

    symbol: str
    orderId: int
    clientOrderId: str
    price: str
    origQty: str
    executedQty: str
    status: str
    timeInForce: str
    type: str
    side: str
    avgPrice: NotRequired[str]
    cumQty: NotRequired[str]
    time: NotRequired[int]
    updateTime: NotRequired[int]


class SpotTrade(TypedDict):
    """``GET /api/v3/myTrades`` item."""

    symbol: str
    id: int
    orderId: int
    price: str
    qty: str
    commission: str
    commissionAsset: str
    time: int
    isBuyer: bool
    isMaker: bool


class FuturesTrade(TypedDict):
    """``GET /fapi|dapi/v1/userTrades`` item."""

    symbol: str
    id: int
    orderId: int
    side: str
    price: str
    qty: str
    commission: str
    commissionAsset: str
    time: int
    maker: bool
    buyer: NotRequired[bool]


class PositionRisk(TypedDict):
    symbol: str
    positionAmt: str
    entryPrice: str
    positionSide: NotRequired[str]


# ---------------------------------------------------------------------------------------- exchangeInfo


class Filter(TypedDict, total=False):
    filterType: str
    tickSize: str  # PRICE_FILTER
    minPrice: str  # PRICE_FILTER ("0": no limit)
    maxPrice: str
    stepSize: str  # LOT_SIZE, MARKET_LOT_SIZE
    minQty: str
    maxQty: str
    minNotional: str  # spot NOTIONAL / MIN_NOTIONAL
    maxNotional: str  # spot NOTIONAL
    applyMaxToMarket: bool
    notional: str  # USDⓈ-M MIN_NOTIONAL
    multiplierUp: str  # futures PERCENT_PRICE, spot PERCENT_PRICE
    multiplierDown: str
    bidMultiplierUp: str  # spot PERCENT_PRICE_BY_SIDE
    bidMultiplierDown: str
    askMultiplierUp: str
    askMultiplierDown: str


class SymbolInfo(TypedDict):
    symbol: str
    filters: list[Filter]
    status: NotRequired[str]  # spot, USDⓈ-M
    contractStatus: NotRequired[str]  # COIN-M
    contractSize: NotRequired[int]  # COIN-M: quote units (USD) per contract
    amendAllowed: NotRequired[bool]
    cancelReplaceAllowed: NotRequired[bool]


class RateLimit(TypedDict):
    rateLimitType: str
    interval: str
    intervalNum: int
    limit: int


class ExchangeInfo(TypedDict):
    symbols: list[SymbolInfo]
    rateLimits: NotRequired[list[RateLimit]]


# ---------------------------------------------------------------------------------------- private events


class ExecutionReportEvent(TypedDict):
    """Spot ``executionReport`` (inside ``{"subscriptionId", "event"}`` on the WebSocket API)."""

    e: Literal["executionReport"]
    E: int
    s: str
    c: str
    S: str
    o: str
    f: str
    q: str
    p: str
    C: str
    x: str
    X: str
    r: str
    i: int
    l: str  # noqa: E741 - venue field name
    z: str
    L: str
    n: str
    N: str | None
    T: int
    t: int
    m: bool
    Z: NotRequired[str]


class FuturesOrderUpdate(TypedDict):
    s: str
    c: str
    S: str
    o: str
    f: str
    q: str
    p: str
    ap: str
    x: str
    X: str
    i: int
    l: str  # noqa: E741 - venue field name
    z: str
    L: str
    T: int
    t: int
    m: bool
    n: NotRequired[str]  # absent when there is no commission
    N: NotRequired[str]


class OrderTradeUpdateEvent(TypedDict):
    """Futures ``ORDER_TRADE_UPDATE`` on the listenKey stream."""

    e: Literal["ORDER_TRADE_UPDATE"]
    E: int
    T: int
    o: FuturesOrderUpdate


# ---------------------------------------------------------------------------------------- market data


class BookTickerMsg(TypedDict):
    """``<symbol>@bookTicker``; spot has no ``e``/``E``/``T``."""

    u: int
    s: str
    b: str
    B: str
    a: str
    A: str
    E: NotRequired[int]
    T: NotRequired[int]


class TradeMsg(TypedDict):
    """Spot ``<symbol>@trade`` (``t``) and futures ``<symbol>@aggTrade`` (``a``)."""

    e: str
    E: int
    s: str
    p: str
    q: str
    T: int
    m: bool
    t: NotRequired[int]
    a: NotRequired[int]
