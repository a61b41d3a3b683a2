"""Binance **cross margin** on the spot front-end: ``/sapi/v1/margin/...`` on the spot REST host and the
margin user data stream (``listenToken``) on the spot WebSocket API.

Written from Binance's margin-trading docs (developers.binance.com ``margin_trading``: trade,
account and "trade data stream" pages; binance-connector-python ``margin_trading`` client):

- Orders: ``POST/DELETE/GET /sapi/v1/margin/order``, ``GET/DELETE /sapi/v1/margin/openOrders``,
  ``GET /sapi/v1/margin/allOrders``, ``GET /sapi/v1/margin/myTrades``: the spot parameters plus
  ``isIsolated`` (``FALSE``, the default; ``TRUE`` — isolated margin — is not simulated and answers
  -1130) and ``sideEffectType``: ``NO_SIDE_EFFECT`` (trade the margin wallet's own funds),
  ``MARGIN_BUY`` (borrow what the order is missing when it is placed: quote for a buy, base for a
  sell), ``AUTO_REPAY`` (what a fill brings in repays that asset's loan), ``AUTO_BORROW_REPAY``
  (both). Answers are the spot shapes plus ``isIsolated: false`` and, when the order borrowed,
  ``marginBuyBorrowAmount`` / ``marginBuyBorrowAsset``. Margin orders trade on the **spot order
  book** (as on Binance): same matching, same trade ids, same public trades.
- ``GET /sapi/v1/margin/account``: ``userAssets`` (free, locked, borrowed, interest, netAsset),
  totals in BTC, ``marginLevel``.
- ``POST /sapi/v1/margin/borrow-repay`` (``type`` BORROW / REPAY, ``asset``, ``amount``).
- User data: ``POST /sapi/v1/userListenToken`` (``validity`` ms, default and maximum 24 h) returns
  ``{"token", "expirationTime"}``; the WebSocket API method ``userDataStream.subscribe.listenToken``
  (``{"listenToken"}``, no logon needed; unknown or expired token: -1209) subscribes the connection
  to the margin account's ``executionReport`` / ``outboundAccountPosition`` events, in the usual
  ``{"subscriptionId", "event"}`` envelope; the answer carries ``expirationTime``. When the token
  expires the subscription ends with ``eventStreamTerminated`` (subscribing again with a new token
  before then extends it). The legacy margin
  listenKey (``/sapi/v1/userDataStream``) is deprecated by Binance and not served.

The simulator's model, kept small (not exchange facts):

- The cross-margin wallet is a separate wallet of the same account, held by a linked engine account
  ``<accountId>:margin`` that shares the API key (created on first use, funded with
  ``MARGIN_DEFAULT_BALANCES``; the admin API's ``POST /admin/balances`` sets them with market
  ``binance-margin``). Being its own engine participant, self-trade prevention does not act between
  an account's spot and margin orders.
- Borrowing: allowed while total liabilities stay within ``MAX_LEVERAGE - 1`` (= 2) times the
  wallet's net equity, i.e. assets up to 3x equity (Binance's "Cross Margin Classic" 3x), values
  in USDT at the book's mark price. A borrow beyond that is -3006. Interest is not charged,
  there are no liquidations, and ``autoRepayAtCancel`` is accepted but does not repay (loans stay
  until repaid by a fill under AUTO_REPAY or by ``borrow-repay``).
- Weights are counted on the spot limiter and reported in the spot ``X-MBX-*`` headers (Binance
  reports ``/sapi`` weight as ``X-SAPI-USED-IP-WEIGHT-1M`` / ``X-SAPI-USED-UID-WEIGHT-1M``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ...core.accounts import Account
from ...core.engine import Exchange, Market
from ...core.faults import Faults
from ...core.types import ZERO, Fill, Order, OrderType, Side
from .errors import BinanceError
from .rest_common import BinanceHttp, Call, Params
from .spot_trading import OrderSpec, SpotTrading, invalid_data
from .spot_wire import d8, order_response
from .spot_ws import Method, Result, SpotWsApi, WsApiSession

MAX_LEVERAGE = Decimal(3)
TOKEN_VALIDITY_MS = 24 * 3600 * 1000
SIDE_EFFECTS = ("NO_SIDE_EFFECT", "MARGIN_BUY", "AUTO_REPAY", "AUTO_BORROW_REPAY")
BORROWING = ("MARGIN_BUY", "AUTO_BORROW_REPAY")
REPAYING = ("AUTO_REPAY", "AUTO_BORROW_REPAY")
VALUATION_QUOTE = "USDT"
MARGIN_DEFAULT_BALANCES = {"USDT": "100000", "BTC": "2"}


@dataclass
class ListenToken:
    account: Account
    expires_ms: int


class MarginDesk:
    """Cross-margin wallets, loans and listen tokens of the spot market's accounts."""

    def __init__(self, exchange: Exchange, market: Market, trading: SpotTrading, faults: Faults) -> None:
        self.exchange = exchange
        self.market = market
        self.trading = trading
        self.faults = faults
        self.loans: dict[str, dict[str, Decimal]] = {}  # margin account id -> asset -> borrowed
        self.tokens: dict[str, ListenToken] = {}
        # listenToken subscriptions: (connection, subscriptionId, expirationTime), ended when the token expires
        self.subscriptions: list[tuple[WsApiSession, int, int]] = []

    # ------------------------------------------------------------------ wallets and loans

    def account(self, parent: Account) -> Account:
        """The margin account linked to ``parent`` (created and funded on first use)."""
        margin_id = f"{parent.account_id}:margin"
        acct = self.exchange.accounts.get(margin_id)
        if acct is None:
            acct = Account(margin_id, parent.api_key, parent.secret_key, parent.passphrase)
            self.exchange.accounts[margin_id] = acct  # not in by_api_key: the parent's key reaches it here only
            wallet = acct.wallet(self.market.name)
            for asset, amount in MARGIN_DEFAULT_BALANCES.items():
                wallet.balance(asset).free = Decimal(amount)
        return acct

    def value(self, asset: str, amount: Decimal) -> Decimal:
        """``amount`` of ``asset`` in USDT at the book's mark price (0 for an asset without a USDT book)."""
        if asset == VALUATION_QUOTE or not amount:
            return amount
        symbol = f"{asset}{VALUATION_QUOTE}"
        if symbol not in self.market.instruments:
            return ZERO
        return amount * self.market.mark_price(symbol)

    def totals(self, acct: Account) -> tuple[Decimal, Decimal]:
        """(assets, liabilities) of a margin account, in USDT."""
        wallet = acct.wallet(self.market.name)
        assets = sum((self.value(a, b.total) for a, b in wallet.balances.items()), ZERO)
        debts = sum((self.value(a, q) for a, q in self.loans.get(acct.account_id, {}).items()), ZERO)
        return assets, debts

    def borrow(self, acct: Account, asset: str, amount: Decimal) -> None:
        assets, debts = self.totals(acct)
        equity = assets - debts
        if amount <= 0 or debts + self.value(asset, amount) > (MAX_LEVERAGE - 1) * equity:
            raise BinanceError(-3006, "Your borrow amount has exceed maximum borrow amount.")
        self.loans.setdefault(acct.account_id, {})[asset] = self.loan(acct, asset) + amount
        acct.wallet(self.market.name).balance(asset).free += amount

    def repay(self, acct: Account, asset: str, amount: Decimal) -> Decimal:
        """Repay up to ``amount`` of the ``asset`` loan from free funds; returns what was repaid."""
        bal = acct.wallet(self.market.name).balance(asset)
        paid = min(amount, self.loan(acct, asset), bal.free)
        if paid <= 0:
            return ZERO
        bal.free -= paid
        self.loans[acct.account_id][asset] -= paid
        return paid

    def loan(self, acct: Account, asset: str) -> Decimal:
        return self.loans.get(acct.account_id, {}).get(asset, ZERO)

    def on_fill(self, order: Order, fill: Fill) -> None:
        """Engine listener hook (every fill of the market): AUTO_REPAY from what the fill brought in."""
        if order.extra.get("sideEffectType") not in REPAYING:
            return
        acct = self.exchange.accounts.get(order.account_id)
        if acct is None:
            return
        inst = self.market.instruments[fill.symbol]
        received = inst.base if fill.side is Side.BUY else inst.quote
        gross = fill.qty if fill.side is Side.BUY else fill.quote_qty
        self.repay(acct, received, gross - (fill.fee if fill.fee_asset == received else ZERO))  # net of the fee

    # ------------------------------------------------------------------ orders

    @staticmethod
    def check_cross(p: Params) -> None:
        raw = p.str("isIsolated").upper()
        if raw not in ("", "FALSE", "TRUE"):
            raise invalid_data("isIsolated")
        if raw == "TRUE":  # isolated margin is not simulated
            raise invalid_data("isIsolated")

    def _need(self, spec: OrderSpec) -> tuple[str, Decimal]:
        """The asset and amount an order must have free when placed (what MARGIN_BUY borrows up to)."""
        inst = spec.inst
        if spec.side is Side.BUY:
            if spec.type is OrderType.MARKET:
                if spec.quote_qty is not None:
                    return inst.quote, spec.quote_qty
                return inst.quote, self.market._market_cost(self.market.books[inst.symbol], spec.side, spec.qty)
            assert spec.price is not None
            return inst.quote, spec.price * spec.qty
        if spec.quote_qty is not None:
            return inst.base, (spec.quote_qty / self.market.mark_price(inst.symbol) // inst.lot) * inst.lot
        return inst.base, spec.qty

    async def new_order(self, parent: Account, p: Params) -> tuple[dict[str, Any], dict[str, str]]:
        self.check_cross(p)
        side_effect = p.enum("sideEffectType", SIDE_EFFECTS) or "NO_SIDE_EFFECT"
        p.bool("autoRepayAtCancel", default=True)  # validated; see the module docstring
        acct = self.account(parent)
        spec = self.trading.parse_order(p, contingent=False)
        self.trading.prefilter(spec)
        counts = self.trading.limiter.take("ORDERS", acct.account_id)
        if self.faults.take("reject_orders"):
            raise BinanceError(-2010, self.faults.reject_message)
        asset, borrowed = "", ZERO
        if side_effect in BORROWING:
            asset, need = self._need(spec)
            shortfall = need - acct.wallet(self.market.name).balance(asset).free
            if shortfall > 0:
                self.borrow(acct, asset, shortfall)
                borrowed = shortfall
        try:
            order, fills = self.trading._engine_place(acct, spec)
        except BinanceError:
            if borrowed:
                self.repay(acct, asset, borrowed)
            raise
        order.extra["sideEffectType"] = side_effect
        for fill in fills:  # fills during placement happened before the order carried its side effect
            self.on_fill(order, fill)
        await self.trading.after_accept()
        out = order_response(order, spec.resp_type, fills)
        out["isIsolated"] = False
        if borrowed:
            # A JSON number in the docs' example (and an integer in the SDK's model); amounts are rarely whole.
            whole = borrowed == borrowed.to_integral_value()
            out["marginBuyBorrowAmount"] = int(borrowed) if whole else float(borrowed)
            out["marginBuyBorrowAsset"] = asset
        return out, counts

    # ------------------------------------------------------------------ account

    def account_info(self, parent: Account) -> dict[str, Any]:
        acct = self.account(parent)
        wallet = acct.wallet(self.market.name)
        loans = self.loans.get(acct.account_id, {})
        assets = sorted(set(wallet.balances) | set(loans))
        rows = []
        for asset in assets:
            bal = wallet.balance(asset)
            debt = loans.get(asset, ZERO)
            rows.append(
                {
                    "asset": asset,
                    "borrowed": d8(debt),
                    "free": d8(bal.free),
                    "interest": d8(ZERO),
                    "locked": d8(bal.locked),
                    "netAsset": d8(bal.total - debt),
                }
            )
        total, debts = self.totals(acct)
        btc = self.market.mark_price("BTCUSDT") if "BTCUSDT" in self.market.instruments else Decimal(1)
        level = total / debts if debts else Decimal(999)
        return {
            "created": True,
            "borrowEnabled": True,
            "marginLevel": d8(level),
            "collateralMarginLevel": d8(level),
            "totalAssetOfBtc": d8(total / btc),
            "totalLiabilityOfBtc": d8(debts / btc),
            "totalNetAssetOfBtc": d8((total - debts) / btc),
            "totalCollateralValueInUSDT": d8(total),
            "totalOpenOrderLossInUSDT": d8(ZERO),
            "tradeEnabled": True,
            "transferInEnabled": True,
            "transferOutEnabled": True,
            "accountType": "MARGIN_1",
            "userAssets": rows,
        }

    def borrow_repay(self, parent: Account, p: Params) -> dict[str, Any]:
        self.check_cross(p)
        kind = p.enum("type", ("BORROW", "REPAY"), required=True)
        asset = p.str("asset", required=True)
        amount = p.decimal("amount", required=True)
        assert amount is not None
        acct = self.account(parent)
        if kind == "BORROW":
            self.borrow(acct, asset, amount)
        elif self.repay(acct, asset, amount) <= 0:
            raise BinanceError(-3041, "Balance is not enough")
        return {"tranId": secrets.randbelow(10**12)}

    # ------------------------------------------------------------------ listen tokens

    def new_token(self, parent: Account, p: Params) -> dict[str, Any]:
        self.check_cross(p)
        validity = p.int("validity", default=TOKEN_VALIDITY_MS)
        assert validity is not None
        if validity <= 0 or validity > TOKEN_VALIDITY_MS:
            raise invalid_data("validity")
        now = self.exchange.now_ms()
        self.tokens = {t: v for t, v in self.tokens.items() if v.expires_ms > now}
        token = secrets.token_urlsafe(48)
        self.tokens[token] = ListenToken(self.account(parent), now + validity)
        return {"token": token, "expirationTime": now + validity}

    def expire(self, ws_api: SpotWsApi) -> None:
        """End listenToken subscriptions whose token expired (``eventStreamTerminated``, as Binance does);
        called by the front-end's timer."""
        if not self.subscriptions:
            return
        now = self.exchange.now_ms()
        live = []
        for session, sid, expires_ms in self.subscriptions:
            if sid not in session.subscriptions or session not in ws_api.sessions:
                continue  # unsubscribed or disconnected meanwhile
            if expires_ms <= now:
                ws_api.unsubscribe(session, sid)
            else:
                live.append((session, sid, expires_ms))
        self.subscriptions = live


def install_margin(http: BinanceHttp, ws_api: SpotWsApi, desk: MarginDesk) -> None:
    """Register the margin REST routes on the spot REST host and the listenToken WebSocket API method."""
    trading = desk.trading

    def crossed(call: Call) -> Account:
        desk.check_cross(call.params)
        return desk.account(call.account)

    def flagged(row: dict[str, Any]) -> dict[str, Any]:
        row["isIsolated"] = False
        return row

    @http.route("POST", "/sapi/v1/margin/order", weight=6, security="SIGNED")
    async def new_order(call: Call) -> Any:
        result, counts = await desk.new_order(call.account, call.params)
        call.headers.update(counts)
        return result

    @http.route("DELETE", "/sapi/v1/margin/order", weight=10, security="SIGNED")
    async def cancel_order(call: Call) -> Any:
        row = flagged(trading.cancel_order(crossed(call), call.params))
        row["orderId"] = str(row["orderId"])  # a string in this answer only (docs example, SDK model)
        return row

    @http.route("GET", "/sapi/v1/margin/order", weight=10, security="SIGNED")
    async def query_order(call: Call) -> Any:
        return flagged(trading.query_order(crossed(call), call.params))

    @http.route("DELETE", "/sapi/v1/margin/openOrders", weight=1, security="SIGNED")
    async def cancel_open_orders(call: Call) -> Any:
        return [flagged(r) for r in trading.cancel_open_orders(crossed(call), call.params)]

    @http.route("GET", "/sapi/v1/margin/openOrders", weight=10, security="SIGNED")
    async def open_orders(call: Call) -> Any:
        return [flagged(r) for r in trading.open_orders(crossed(call), call.params)]

    @http.route("GET", "/sapi/v1/margin/allOrders", weight=200, security="SIGNED")
    async def all_orders(call: Call) -> Any:
        return [flagged(r) for r in trading.all_orders(crossed(call), call.params)]

    @http.route("GET", "/sapi/v1/margin/myTrades", weight=10, security="SIGNED")
    async def my_trades(call: Call) -> Any:
        return [flagged(r) for r in trading.my_trades(crossed(call), call.params)]

    @http.route("GET", "/sapi/v1/margin/account", weight=10, security="SIGNED")
    async def account(call: Call) -> Any:
        return desk.account_info(call.account)

    @http.route("POST", "/sapi/v1/margin/borrow-repay", weight=100, security="SIGNED")
    async def borrow_repay(call: Call) -> Any:
        return desk.borrow_repay(call.account, call.params)

    @http.route("POST", "/sapi/v1/userListenToken", weight=1, security="USER_STREAM_OR_SIGNED")
    async def listen_token(call: Call) -> Any:
        return desk.new_token(call.account, call.params)

    async def subscribe_token(s: WsApiSession, a: Account | None, p: Params) -> Result:
        token = desk.tokens.get(p.str("listenToken", required=True))
        if token is None or token.expires_ms <= desk.exchange.now_ms():
            raise BinanceError(-1209, "Invalid listenToken.")
        existing = next((sid for sid, acct in s.subscriptions.items() if acct is token.account), None)
        if existing is not None:  # a new token for the same account extends the subscription (docs)
            desk.subscriptions = [e for e in desk.subscriptions if not (e[0] is s and e[1] == existing)]
        sid = existing if existing is not None else ws_api.add_subscription(s, token.account)
        desk.subscriptions.append((s, sid, token.expires_ms))
        return {"subscriptionId": sid, "expirationTime": token.expires_ms}, {}

    ws_api.methods["userDataStream.subscribe.listenToken"] = Method(subscribe_token, 2, "NONE")
