"""Deribit's FIX 4.4 order-entry gateway: Logon authentication, NewOrderSingle(D),
OrderCancelRequest(F), OrderCancelReplaceRequest(G), OrderMassCancelRequest(q), ExecutionReports and
cancel-on-disconnect (Deribit "FIX API" pages; session protocol in ``fix_session``).

- Logon: Username(553) = client id, RawData(96) = ``<timestamp>.<nonce>`` with a timestamp strictly
  greater than that client's previous Logon, Password(554) = base64(sha256(RawData ++ secret)).
  CancelOnDisconnect(9001)=Y cancels the orders this connection created when it drops and at
  Logout (unless the Logout carries DontCancelOnDisconnect(9003)=Y). Unsubscribe/Connection-only
  execution reports (9009/9010) are honoured.
- ExecutionReports: OrderID(37) is Deribit's order id, ClOrdID(11) is Deribit's own value (here
  the order id too), OrigClOrdID(41) carries the client's ClOrdID from the NewOrderSingle (Deribit's
  reversal of 11/41). Quantities are contracts. Every fill is its own report (ExecType F with
  LastPx/LastQty/TrdMatchID/LastLiquidityInd), as with ReportFillsAsExecReports(9015)=Y; the
  simulator always reports fills that way.
- Cancels and replaces find the order by OrigClOrdID(41) = Deribit order id, else by ClOrdID(11)
  = the client's original ClOrdID, else by DeribitLabel(100010); ambiguous or unknown → Order
  Cancel Reject(9) with the reason in Text(58).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
from decimal import Decimal, InvalidOperation
from itertools import count

import simplefix

from ...core.accounts import Account
from ...core.engine import Exchange, Market
from ...core.instruments import Kind
from ...core.ratelimit import CreditLimiter
from ...core.types import Event, ExecType, Order, OrderEvent, OrderStatus, OrderType, Side, TimeInForce
from ..common import WsRegistry
from .errors import DeribitError
from .fix_session import FixConnection, SessionRejected, SessionState, text, utc_timestamp
from .trading import DeribitTrading, NewOrder, order_id_text, parse_order_id

log = logging.getLogger("execx_sim.deribit.fix")

LABEL = 100010  # DeribitLabel; 5010 with UseWordsafeTags(9002)=Y (custom tags renumbered from 5000)
REQUIRED: dict[bytes, tuple[int, ...]] = {
    b"D": (11, 54, 38, 55),
    b"F": (),
    b"G": (54, 38, 55),
    b"q": (11, 530),
    b"AF": (584, 585),
}
TIF = {None: TimeInForce.GTC, "1": TimeInForce.GTC, "0": TimeInForce.GTC, "3": TimeInForce.IOC, "4": TimeInForce.FOK}
ORD_STATUS = {
    OrderStatus.NEW: "0",
    OrderStatus.PARTIALLY_FILLED: "1",
    OrderStatus.FILLED: "2",
    OrderStatus.CANCELED: "4",
    OrderStatus.EXPIRED: "4",  # Deribit reports IOC/FOK/market remainders as cancelled
    OrderStatus.REJECTED: "8",
    OrderStatus.UNTRIGGERED: "0",  # a stop order waiting for its trigger (OrdType 4 / S with StopPx)
}
# Stop orders (NewOrderSingle OrdType 4 stop-limit / S stop-market with StopPx(99), ConditionTriggerMethod
# 5127: 1 mark, 2 last, 3 index): the JSON-RPC trigger order types they are (trading.py).
STOP_ORD_TYPES = {"4": "stop_limit", "S": "stop_market"}
STOP_ORD_TYPE_OUT = {v: k for k, v in STOP_ORD_TYPES.items()}
TRIGGER_METHOD = {"1": "mark_price", "2": "last_price", "3": "index_price"}
TRIGGER_METHOD_OUT = {v: k for k, v in TRIGGER_METHOD.items()}


def num(value: Decimal) -> str:
    """A quantity or price in plain notation, without trailing zeros (remembered: an order's price and
    quantities recur in each of its reports)."""
    text = _NUM.get(value)
    if text is None:
        if len(_NUM) >= 4096:
            _NUM.clear()
        text = _NUM[value] = format(value.normalize(), "f") if value else "0"
    return text


_NUM: dict[Decimal, str] = {}
EXEC_TYPE = {
    ExecType.NEW: "0",
    ExecType.TRADE: "F",
    ExecType.CANCELED: "4",
    ExecType.AMENDED: "5",
    ExecType.REJECTED: "8",
    ExecType.TRIGGERED: "7",  # stopped: a stop order triggered
}
TIF_OUT = {TimeInForce.IOC: "3", TimeInForce.FOK: "4"}


class FixConn(FixConnection):
    """A FIX connection with its Deribit options."""

    ids = count(1)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.conn_id = -next(self.ids)  # negative: websocket connections use positive ids
        self.account: Account | None = None
        self.cancel_on_disconnect = False
        self.unsubscribe_reports = False
        self.connection_only_reports = False
        self.label_tag = LABEL


class FixRegistry(WsRegistry):
    """Open websockets and FIX connections of the venue; the admin ``drop`` fault closes both."""

    def __init__(self) -> None:
        super().__init__()
        self.fix: set[FixConn] = set()

    def __len__(self) -> int:
        return super().__len__() + len(self.fix)

    async def drop_all(self, code: int = 1001) -> None:
        await super().drop_all(code)
        for conn in list(self.fix):
            conn.writer.transport.abort()  # like a cut cable: no Logout, cancel-on-disconnect fires


class DeribitFix:
    """The FIX application: one per simulator, serving every connection of the ``deribit`` venue."""

    def __init__(self, exchange: Exchange, market: Market, trading: DeribitTrading, sockets: FixRegistry) -> None:
        self.exchange = exchange
        self.market = market
        self.trading = trading
        self.sockets = sockets
        self.sessions: dict[tuple[str, str], SessionState] = {}
        self.last_logon_ts: dict[str, int] = {}  # client id -> last RawData timestamp
        self.by_account: dict[str, set[FixConn]] = {}
        self._exec_ids = count(1)
        self.credits = CreditLimiter()  # the venue's, shared with its JSON-RPC: set by the frontend
        exchange.subscribe(self._on_event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = FixConn(self, self.sessions, reader, writer)
        self.sockets.fix.add(conn)
        try:
            await conn.run()
        finally:
            self.sockets.fix.discard(conn)

    async def close_all(self) -> None:
        for conn in list(self.sockets.fix):
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.closed.wait(), 1.0)

    # ------------------------------------------------------------------ session hooks

    def logon(self, conn: FixConnection, msg: simplefix.FixMessage) -> None:
        assert isinstance(conn, FixConn)
        username, raw, password = text(msg, 553), text(msg, 96), text(msg, 554)
        if not username or not raw or not password:
            missing = [
                n for n, v in (("Username(553)", username), ("RawData(96)", raw), ("Password(554)", password)) if not v
            ]
            raise SessionRejected(f"invalid_credentials: {', '.join(missing)} missing")
        account = self.exchange.account_by_key(username)
        if account is None or account.is_background:
            raise SessionRejected("invalid_credentials: unknown client id")
        ts_text, dot, nonce = raw.partition(".")
        if not dot or not ts_text.isdigit() or not nonce:
            raise SessionRejected("invalid_credentials: RawData(96) must be <timestamp>.<nonce>")
        expected = base64.b64encode(hashlib.sha256((raw + account.secret_key).encode()).digest()).decode()
        if not hmac.compare_digest(expected, password):
            raise SessionRejected("invalid_credentials: bad signature")
        ts = int(ts_text)
        if ts <= self.last_logon_ts.get(username, -1):
            raise SessionRejected("invalid_credentials: RawData timestamp must increase with every Logon")
        self.last_logon_ts[username] = ts
        conn.account = account
        conn.cancel_on_disconnect = msg.get(9001) == b"Y"
        conn.unsubscribe_reports = msg.get(9009) == b"Y"
        conn.connection_only_reports = msg.get(9010) == b"Y"
        conn.label_tag = LABEL - 100_000 + 5_000 if msg.get(9002) == b"Y" else LABEL
        for tag in (9001, 9002, 9007, 9009, 9010, 9015):
            value = text(msg, tag)
            if value is not None:
                conn.logon_echo.append((tag, value))
        self.by_account.setdefault(account.account_id, set()).add(conn)

    def on_logout(self, conn: FixConnection, msg: simplefix.FixMessage | None) -> None:
        assert isinstance(conn, FixConn)
        if conn.account is None:
            return
        self.by_account.get(conn.account.account_id, set()).discard(conn)
        keep = msg is not None and msg.get(9003) == b"Y"
        if conn.cancel_on_disconnect and not keep:
            orders = [o for o in self.market.open_orders(conn.account) if o.extra.get("connection") == conn.conn_id]
            self.trading.cancel_many(conn.account, orders)
            log.info("FIX %s: cancel-on-disconnect cancelled %d orders", conn.peer, len(orders))

    def required_tags(self, msg_type: bytes) -> tuple[int, ...] | None:
        return REQUIRED.get(msg_type)

    def on_message(self, conn: FixConnection, msg_type: bytes, msg: simplefix.FixMessage) -> None:
        assert isinstance(conn, FixConn) and conn.account is not None
        if msg_type in (b"D", b"F", b"G", b"q") and not self.credits.take(
            conn.account.account_id, "MATCHING_ENGINE", self.exchange.now_ms()
        ):
            self._too_many(conn, msg_type, msg)
        elif msg_type == b"D":
            self._new_order(conn, conn.account, msg)
        elif msg_type in (b"F", b"G"):
            self._cancel_or_replace(conn, conn.account, msg_type, msg)
        elif msg_type == b"q":
            self._mass_cancel(conn, conn.account, msg)
        elif msg_type == b"AF":
            self._mass_status(conn, conn.account, msg)

    # ------------------------------------------------------------------ orders

    def _qty(self, symbol: str, msg: simplefix.FixMessage, tag: int = 38) -> Decimal:
        """OrderQty in contracts (QtyType 1, default) or units (QtyType 0: USD for perpetuals)."""
        raw = text(msg, tag) or ""
        try:
            qty = Decimal(raw)
        except InvalidOperation:
            raise DeribitError(10021, "invalid_amount") from None
        if not qty.is_finite() or qty <= 0:
            raise DeribitError(10021, "invalid_amount")
        inst = self.market.instruments.get(symbol)
        if text(msg, 854) == "0" and inst is not None and inst.kind is Kind.INVERSE:
            contracts = qty / inst.contract_size
            if contracts != contracts.to_integral_value():
                raise DeribitError(10027, "non_integer_contract_amount")
            return contracts
        return qty

    def _new_order(self, conn: FixConn, account: Account, msg: simplefix.FixMessage) -> None:
        cl_ord_id = text(msg, 11) or ""
        symbol = text(msg, 55) or ""
        side_text = text(msg, 54)
        if side_text not in ("1", "2"):
            conn.reject(msg, 5, "Value is incorrect (out of range) for this tag", 54)
            return
        side = Side.BUY if side_text == "1" else Side.SELL
        try:
            ord_type = text(msg, 40) or "2"
            if ord_type not in ("1", "2", *STOP_ORD_TYPES):
                raise DeribitError(10001, "error", {"reason": f"OrdType {ord_type} is not supported by the simulator"})
            tif_text = text(msg, 59)
            if tif_text not in TIF:
                raise DeribitError(10001, "error", {"reason": f"TimeInForce {tif_text} is not supported"})
            exec_inst = text(msg, 18) or ""
            price_text = text(msg, 44)
            price: Decimal | None = None
            if ord_type in ("2", "4"):
                if not price_text:
                    raise DeribitError(10023, "invalid_price")
                try:
                    price = Decimal(price_text)
                except InvalidOperation:
                    raise DeribitError(10023, "invalid_price") from None
            req = NewOrder(
                symbol=symbol,
                side=side,
                qty=self._qty(symbol, msg),
                type=OrderType.LIMIT if ord_type in ("2", "4") else OrderType.MARKET,
                price=price,
                tif=TIF[tif_text],
                good_til_day=tif_text == "0",
                post_only="6" in exec_inst,
                reject_post_only="6" in exec_inst and "A" in exec_inst,
                reduce_only="E" in exec_inst,
                label=text(msg, conn.label_tag) or "",
                cl_ord_id=cl_ord_id,
                connection=conn.conn_id,
                api="fix",
                mmp=text(msg, 9008) == "Y",  # DeribitMMProtection
                trigger_type=STOP_ORD_TYPES.get(ord_type, ""),
                trigger=TRIGGER_METHOD.get(text(msg, 5127) or "2", "") if ord_type in STOP_ORD_TYPES else "",
                trigger_price=_stop_px(msg) if ord_type in STOP_ORD_TYPES else None,
            )
            self.trading.place(account, req)
        except DeribitError as e:
            self._reject_report(conn, msg, side_text, e)

    def _too_many(self, conn: FixConn, msg_type: bytes, msg: simplefix.FixMessage) -> None:
        """Out of credits (``10028 too_many_requests``): the request's refusal, nothing done."""
        if msg_type == b"D":
            self._reject_report(conn, msg, text(msg, 54) or "1", DeribitError(10028, "too_many_requests"))
        elif msg_type == b"q":
            body = [(11, text(msg, 11) or ""), (37, text(msg, 11) or ""), (530, text(msg, 530) or "")]
            conn.send("r", [*body, (531, "0"), (532, "99"), (58, "too_many_requests")])
        else:
            conn.send(
                "9",
                [
                    (37, "NONE"),
                    (11, text(msg, 11) or "NONE"),
                    (41, text(msg, 41) or "NONE"),
                    (39, "8"),
                    (434, "1" if msg_type == b"F" else "2"),
                    (102, "99"),
                    (58, "too_many_requests"),
                ],
            )

    def _reject_report(self, conn: FixConn, msg: simplefix.FixMessage, side_text: str, e: DeribitError) -> None:
        reason = {10020: "1", 10004: "5", 10009: "3"}.get(e.code, "99")
        detail = e.message if not e.data else f"{e.message}: {e.data.get('reason') or e.data.get('limit', '')}"
        body = [
            (37, "NONE"),
            (11, text(msg, 11) or ""),
            (41, text(msg, 11) or ""),
            (17, str(next(self._exec_ids))),
            (150, "8"),
            (39, "8"),
            (55, text(msg, 55) or ""),
            (54, side_text),
            (38, text(msg, 38) or "0"),
            (151, "0"),
            (14, "0"),
            (6, "0"),
            (60, utc_timestamp()),
            (103, reason),
            (58, detail),
        ]
        conn.send("8", body)

    def _find(self, account: Account, msg: simplefix.FixMessage, label_tag: int) -> Order:
        """The order an F/G targets: 41 = Deribit order id, else 11 = client ClOrdID, else label."""
        symbol = text(msg, 55)
        orig = text(msg, 41)
        if orig:
            return self.trading.order_by_id(account, orig)
        for tag, key in ((11, "cl_ord_id"), (label_tag, "label")):
            value = text(msg, tag)
            if value:
                if not symbol:
                    raise DeribitError(10001, "error", {"reason": "Symbol(55) required without OrigClOrdID(41)"})
                found = self.trading.open_by(account, key, value, symbol)
                if len(found) != 1:
                    if found:
                        raise DeribitError(13032, "non_unique_order_label")
                    raise DeribitError(10004, "order_not_found")
                return found[0]
        raise DeribitError(10001, "error", {"reason": "one of OrigClOrdID(41), ClOrdID(11), DeribitLabel(100010)"})

    def _cancel_or_replace(self, conn: FixConn, account: Account, msg_type: bytes, msg: simplefix.FixMessage) -> None:
        order: Order | None = None
        try:
            order = self._find(account, msg, conn.label_tag)
            if msg_type == b"F":
                self.trading.cancel(account, order)
                return
            if text(msg, 54) != ("1" if order.side is Side.BUY else "2"):
                raise DeribitError(10001, "error", {"reason": "Side(54) must match the order"})
            price_text = text(msg, 44)
            try:
                price = Decimal(price_text) if price_text else None
            except InvalidOperation:
                raise DeribitError(10023, "invalid_price") from None
            exec_inst = text(msg, 18)
            post_only = None if exec_inst is None else "6" in exec_inst
            reject = None if exec_inst is None else ("6" in exec_inst and "A" in exec_inst)
            self.trading.edit(account, order, self._qty(order.symbol, msg), price, post_only, reject)
        except DeribitError as e:
            detail = e.message if not e.data else f"{e.message}: {e.data.get('reason', '')}"
            body = [
                (37, order_id_text(order) if order is not None else "NONE"),
                (11, text(msg, 11) or (order_id_text(order) if order is not None else "NONE")),
                (41, text(msg, 41) or (order.extra.get("cl_ord_id", "") if order is not None else "") or "NONE"),
                (39, ORD_STATUS[order.status] if order is not None else "8"),
                (434, "1" if msg_type == b"F" else "2"),
                (102, "1" if e.code in (10004,) else "0" if e.code == 11044 else "99"),
                (58, detail),
            ]
            label = text(msg, conn.label_tag)
            if label:
                body.append((conn.label_tag, label))
            conn.send("9", body)

    def _mass_cancel(self, conn: FixConn, account: Account, msg: simplefix.FixMessage) -> None:
        kind = text(msg, 530) or ""
        currency = text(msg, 15)
        orders = self.market.open_orders(account)
        reject = ""
        if kind == "1":
            symbol = text(msg, 55)
            if not symbol:
                reject = "Symbol(55) required for MassCancelRequestType 1"
            orders = [o for o in orders if o.symbol == symbol]
        elif kind == "5":
            sec = text(msg, 167)
            kinds = {"FUT": Kind.INVERSE, "OPT": Kind.OPTION}
            if sec not in kinds:
                reject = "SecurityType(167) must be FUT or OPT"
            orders = [o for o in orders if self.market.instruments[o.symbol].kind is kinds.get(sec or "")]
        elif kind == "10":
            label = text(msg, conn.label_tag)
            if not label:
                reject = "DeribitLabel(100010) required for MassCancelRequestType 10"
            orders = [o for o in orders if o.extra.get("label") == label]
        elif kind != "7":
            reject = f"MassCancelRequestType {kind} is not supported"
        if currency:
            orders = [o for o in orders if self.market.instruments[o.symbol].base == currency]
        body = [(11, text(msg, 11) or ""), (37, text(msg, 11) or ""), (530, kind)]
        if reject:
            conn.send("r", [*body, (531, "0"), (532, "99"), (58, reject)])
            return
        done = self.trading.cancel_many(account, orders)
        conn.send("r", [*body, (531, kind), (533, str(len(done)))])

    def _mass_status(self, conn: FixConn, account: Account, msg: simplefix.FixMessage) -> None:
        """OrderMassStatusRequest(AF): 585=7 the open orders (9014: 0 all, 1 by the client's ClOrdID
        = 584, 2 by label = 584; 1 and 2 need Symbol or Currency), 585=1 one order by Deribit id = 584,
        open or closed. One ExecType I report per order, 911 TotNumReports, 912 on the last."""
        req_id = text(msg, 584) or ""
        req_type = text(msg, 585)
        id_type = text(msg, 9014) or "0"
        symbol, currency = text(msg, 55), text(msg, 15)
        orders: list[Order] = []
        if req_type == "1":
            oid = parse_order_id(req_id)
            order = self.market.orders.get(oid) if oid is not None else None
            if order is not None and order.account_id == account.account_id:
                orders = [order]
        elif req_type == "7":
            orders = self.market.open_orders(account, symbol)
            if currency:
                orders = [o for o in orders if self.market.instruments[o.symbol].base == currency]
            if id_type in ("1", "2"):
                if not symbol and not currency:
                    conn.reject(msg, 1, "Required tag missing", 55)
                    return
                key = "cl_ord_id" if id_type == "1" else "label"
                orders = [o for o in orders if o.extra.get(key) == req_id]
        else:
            conn.reject(msg, 5, "Value is incorrect (out of range) for this tag", 585)
            return
        if not orders:
            conn.send(
                "8",
                [
                    (37, "NONE"),
                    (17, str(next(self._exec_ids))),
                    (150, "I"),
                    (39, "8"),
                    (54, "1"),
                    (55, symbol or "NONE"),
                    (151, "0"),
                    (14, "0"),
                    (6, "0"),
                    (584, req_id),
                    (585, req_type),
                    (911, "0"),
                    (912, "Y"),
                    (103, "5"),
                    (58, "order_not_found"),
                ],
            )
            return
        for i, order in enumerate(orders):
            body = self._report(OrderEvent(self.market.name, order, ExecType.NEW), conn.label_tag, True)
            body += [(584, req_id), (911, str(len(orders)))]
            if i == 0:
                body.append((585, req_type))
            if i == len(orders) - 1:
                body.append((912, "Y"))
            conn.send("8", body)

    # ------------------------------------------------------------------ execution reports

    def _on_event(self, ev: Event) -> None:
        if not isinstance(ev, OrderEvent) or ev.market != self.market.name:
            return
        conns = self.by_account.get(ev.order.account_id)
        if not conns:
            return
        order = ev.order
        for conn in list(conns):
            if not conn.logged_on:
                continue
            own = order.extra.get("connection") == conn.conn_id
            if (conn.unsubscribe_reports or conn.connection_only_reports) and not own:
                continue
            conn.send("8", self._report(ev, conn.label_tag))

    def _report(self, ev: OrderEvent, label_tag: int, status_report: bool = False) -> list[tuple[int, str]]:
        """An ExecutionReport for one order event (``status_report``: ExecType I, the order as it is)."""
        order = ev.order
        oid = order_id_text(order)
        exec_type = EXEC_TYPE.get(ev.exec_type, "4")
        if order.expire_reason == "DAY" and not order.is_open:
            exec_type = "3"
        if status_report:
            exec_type = "I"
        body: list[tuple[int, str]] = [(37, oid), (11, oid)]
        if order.extra.get("cl_ord_id"):
            body.append((41, order.extra["cl_ord_id"]))
        body += [
            (17, str(next(self._exec_ids))),
            (527, f"{oid}:{order.updated_ms}:{order.amend_count}"),
            (150, exec_type),
            (39, "3" if order.expire_reason == "DAY" and not order.is_open else ORD_STATUS[order.status]),
            (55, order.symbol),
            (54, "1" if order.side is Side.BUY else "2"),
            (
                40,
                STOP_ORD_TYPE_OUT.get(order.extra.get("order_type", ""), "2" if order.type is OrderType.LIMIT else "1"),
            ),
        ]
        if order.price is not None:
            body.append((44, num(order.price)))
        if order.trigger is not None and order.trigger.price is not None:
            body += [
                (99, num(order.trigger.price)),
                (5127, TRIGGER_METHOD_OUT.get(order.extra.get("trigger", ""), "2")),
            ]
        day = "0" if order.extra.get("good_til_day") else "1"
        tif = TIF_OUT.get(order.tif, day)
        flags = ("6" if order.extra.get("post_only") else "") + ("A" if order.extra.get("reject_post_only") else "")
        flags += "E" if order.reduce_only else ""
        body += [
            (59, tif),
            (38, num(order.qty)),
            (151, num(order.remaining if order.is_open else Decimal(0))),
            (14, num(order.filled)),
            (6, num(order.avg_price)),
            (12, "0"),
            (60, utc_timestamp()),
            (854, "1"),
        ]
        if flags:
            body.append((18, flags))
        fill = ev.fill
        if fill is not None:
            body += [
                (31, num(fill.price)),
                (32, num(fill.qty)),
                (880, str(fill.trade_id)),
                (851, "1" if fill.is_maker else "2"),
            ]
        if order.extra.get("label"):
            body.append((label_tag, order.extra["label"]))
        return body


def _stop_px(msg: simplefix.FixMessage) -> Decimal:
    """StopPx(99) of a stop order (required)."""
    try:
        return Decimal(text(msg, 99) or "")
    except InvalidOperation:
        raise DeribitError(10001, "error", {"reason": "StopPx (99) is required for a stop order"}) from None
