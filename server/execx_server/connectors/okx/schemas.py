"""OKX v5 wire types, with the venue's own field names (every number is a string on the wire).

Only the fields the connector reads are listed; OKX sends many more (``../shared/venues/okx.md``).
"""

from __future__ import annotations

from typing import Any, TypedDict


class Envelope(TypedDict):
    code: str
    msg: str
    data: list[Any]


class ItemResult(TypedDict, total=False):
    """One item of a place / cancel / amend answer (REST and WebSocket order operations)."""

    ordId: str
    clOrdId: str
    tag: str
    reqId: str
    ts: str
    sCode: str
    sMsg: str


class OrderRow(TypedDict, total=False):
    """An order: ``GET /trade/order``, ``/trade/orders-pending`` and the ``orders`` channel.
    In the channel ``fillSz``/``fillPx``/``tradeId`` describe this update's fill; in REST answers
    they describe the last fill."""

    instType: str
    instId: str
    ordId: str
    clOrdId: str
    px: str
    sz: str
    ordType: str
    side: str
    state: str  # live | partially_filled | filled | canceled | mmp_canceled
    accFillSz: str
    avgPx: str
    fillPx: str
    fillSz: str
    tradeId: str
    fillTime: str
    fillFee: str  # negative = charged
    fillFeeCcy: str
    execType: str  # T taker | M maker
    cancelSource: str
    amendResult: str  # -1 failed, 0 ok, 1 auto-cancelled, 2 auto-amended
    reqId: str
    code: str  # with amendResult -1: why the amend failed
    msg: str
    uTime: str
    cTime: str


class FillRow(TypedDict, total=False):
    """``GET /api/v5/trade/fills``."""

    instId: str
    tradeId: str
    ordId: str
    clOrdId: str
    billId: str
    fillPx: str
    fillSz: str
    side: str
    execType: str
    fee: str
    feeCcy: str
    ts: str


class InstrumentRow(TypedDict, total=False):
    instType: str
    instId: str
    instIdCode: int
    tickSz: str
    lotSz: str
    minSz: str
    maxLmtSz: str  # maximum size of a limit order
    maxMktSz: str  # maximum size of a market order
    ctVal: str
    ctType: str
    state: str


class PositionRow(TypedDict, total=False):
    instId: str
    pos: str
    avgPx: str
    posSide: str


class BboItem(TypedDict):
    asks: list[list[str]]
    bids: list[list[str]]
    ts: str


class TradeItem(TypedDict):
    instId: str
    tradeId: str
    px: str
    sz: str
    side: str
    ts: str
