"""The order transaction (seed 000 ``ordertransaction``) as the engine publishes and journals it.

Journal payloads and bus records use the seed's JSON names (camelCase) and lowercase enum strings;
prices and quantities are decimal strings so nothing is lost before the API layer turns them into
the documented doubles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..domain.enums import Exchange, Liquidity, OrderStatus, OrderType, Side, TimeInForce, TransactionType
from ..domain.orders import Order

ORDER = "order"
POSITION = "position"
ALGORITHM = "algorithm"  # a trading algorithm's event (a dict: managers/grid.py)


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    session_id: str
    exchange: Exchange
    symbol: str
    cl_order_id: str
    exch_order_id: str
    message: str
    trade_id: str
    local_time: int  # ns: when execx produced this update
    exch_time: int  # ns: the venue's event time (0 if none)
    send_time: int  # ns: when execx sent the request this update answers (0 if none)
    price: Decimal  # fill price for a fill, else the order price (0 for market orders)
    qty: Decimal  # fill quantity for a fill, else the order quantity
    cumulative_filled_qty: Decimal
    executed_qty: Decimal  # quantity of this fill (0 if not a fill)
    remaining_qty: Decimal
    order_type: OrderType
    order_status: OrderStatus
    transaction_type: TransactionType
    tif: TimeInForce
    side: Side
    trade_liquidity: Liquidity | None
    trigger_id: str
    # the truthful fields (issue 14): the order's own price and quantity on every update (``price`` and ``qty``
    # above are the fill's on a fill), the average price of every fill so far, this fill's fee as the venue
    # reported it, and the venue id a cancel-replace retired
    order_price: Decimal = Decimal(0)
    order_qty: Decimal = Decimal(0)
    avg_fill_price: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    fee_currency: str = ""
    replaced_exch_order_id: str = ""
    # journal-only fields (reduceOnly, notSent, venueFilledQty): what a restart needs to finish the order's
    # story; the API never shows them
    journal: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def of(
        cls,
        order: Order,
        transaction: TransactionType,
        local_time: int,
        *,
        exch_time: int = 0,
        send_time: int = 0,
        trade_id: str = "",
        fill_qty: Decimal = Decimal(0),
        fill_price: Decimal = Decimal(0),
        liquidity: Liquidity | None = None,
        fee: Decimal = Decimal(0),
        fee_currency: str = "",
    ) -> OrderUpdate:
        return cls(
            session_id=order.session_id,
            exchange=order.exchange,
            symbol=order.symbol,
            cl_order_id=order.cl_order_id,
            exch_order_id=order.exch_order_id,
            message=order.message,
            trade_id=trade_id,
            local_time=local_time,
            exch_time=exch_time,
            send_time=send_time,
            price=fill_price if trade_id else (order.price or Decimal(0)),
            qty=fill_qty if trade_id else order.qty,
            cumulative_filled_qty=order.cum_filled,
            executed_qty=fill_qty,
            remaining_qty=order.remaining,
            order_type=order.order_type,
            order_status=order.status,
            transaction_type=transaction,
            tif=order.tif,
            side=order.side,
            trade_liquidity=liquidity,
            trigger_id=order.trigger_id,
            order_price=order.price or Decimal(0),
            order_qty=order.qty,
            avg_fill_price=order.avg_price,
            fee=fee if trade_id else Decimal(0),
            fee_currency=fee_currency if trade_id else "",
            replaced_exch_order_id=order.replaced_exch_id,
        )

    def to_json(self) -> dict[str, Any]:
        """The seed's JSON shape (decimal strings for exactness). An enum's text is its ``_value_`` (what
        ``.value`` answers, without the enum property's Python-level ``__get__``: six per update)."""
        return {
            "exchOrderId": self.exch_order_id,
            "message": self.message,
            "clOrderId": self.cl_order_id,
            "exchange": self.exchange._value_,
            "symbol": self.symbol,
            "sessionId": self.session_id,
            "tradeId": self.trade_id,
            "localTime": self.local_time,
            "exchTime": self.exch_time,
            "sendTime": self.send_time,
            "price": str(self.price),
            "qty": str(self.qty),
            "cumulativeFilledQty": str(self.cumulative_filled_qty),
            "executedQty": str(self.executed_qty),
            "remainingQty": str(self.remaining_qty),
            "orderType": self.order_type._value_,
            "orderStatus": self.order_status._value_,
            "transactionType": self.transaction_type._value_,
            "tif": self.tif._value_,
            "side": self.side._value_,
            "tradeLiquidity": self.trade_liquidity._value_ if self.trade_liquidity else "",
            "triggerId": self.trigger_id,
            **self._truthful_json(),
            **self.journal,
        }

    def _truthful_json(self) -> dict[str, Any]:
        """The issue-14 fields, written only where they say something (``from_json`` has the defaults)."""
        out: dict[str, Any] = {}
        if self.trade_id:
            out |= {"orderPrice": str(self.order_price), "orderQty": str(self.order_qty)}
            out |= {"fee": str(self.fee), "feeCurrency": self.fee_currency}
        if self.avg_fill_price:
            out["avgFillPrice"] = str(self.avg_fill_price)
        if self.replaced_exch_order_id:
            out["replacedExchOrderId"] = self.replaced_exch_order_id
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> OrderUpdate:
        return cls(
            session_id=d["sessionId"],
            exchange=Exchange(d["exchange"]),
            symbol=d["symbol"],
            cl_order_id=d["clOrderId"],
            exch_order_id=d["exchOrderId"],
            message=d["message"],
            trade_id=d["tradeId"],
            local_time=d["localTime"],
            exch_time=d["exchTime"],
            send_time=d["sendTime"],
            price=Decimal(d["price"]),
            qty=Decimal(d["qty"]),
            cumulative_filled_qty=Decimal(d["cumulativeFilledQty"]),
            executed_qty=Decimal(d["executedQty"]),
            remaining_qty=Decimal(d["remainingQty"]),
            order_type=OrderType(d["orderType"]),
            order_status=OrderStatus(d["orderStatus"]),
            transaction_type=TransactionType(d["transactionType"]),
            tif=TimeInForce(d["tif"]),
            side=Side(d["side"]),
            trade_liquidity=Liquidity(d["tradeLiquidity"]) if d["tradeLiquidity"] else None,
            trigger_id=d["triggerId"],
            # records written before these fields: a fill's order price/qty unknown (its fill's shown)
            order_price=Decimal(d.get("orderPrice", d["price"])),
            order_qty=Decimal(d.get("orderQty", d["qty"])),
            avg_fill_price=Decimal(d.get("avgFillPrice", 0)),
            fee=Decimal(d.get("fee", 0)),
            fee_currency=d.get("feeCurrency", ""),
            replaced_exch_order_id=d.get("replacedExchOrderId", ""),
            journal={k: d[k] for k in JOURNAL_FIELDS if k in d},
        )


JOURNAL_FIELDS = ("reduceOnly", "notSent", "venueFilledQty", "nativeTrigger")


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """A session's positions after a change (kind ``position``)."""

    session_id: str
    positions: dict[str, Decimal]

    def to_json(self) -> dict[str, Any]:
        return {"sessionId": self.session_id, "positions": {k: str(v) for k, v in self.positions.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PositionUpdate:
        return cls(d["sessionId"], {k: Decimal(v) for k, v in d["positions"].items()})


Event = OrderUpdate | PositionUpdate | dict[str, Any]


def encode(event: Event) -> dict[str, Any]:
    """The event's JSON object (what the journal stores)."""
    return event if isinstance(event, dict) else event.to_json()


def decode(kind: str, payload: dict[str, Any]) -> Event:
    """A journaled event back as the type the bus carries."""
    if kind == ORDER:
        return OrderUpdate.from_json(payload)
    if kind == POSITION:
        return PositionUpdate.from_json(payload)
    return payload
