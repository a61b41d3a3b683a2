"""Wire shapes of the Binance USDⓈ-M and COIN-M futures APIs: orders, trades, account views,
exchangeInfo and user-data events, built from engine objects.

Field names and JSON types follow the official docs and the official SDK response models
(``binance-sdk-derivatives-trading-usds-futures`` / ``-coin-futures``): ids and times are integers,
every price, quantity and amount is a decimal string without exponent.
COIN-M differs from USDⓈ-M in a few names: ``cumBase`` instead of ``cumQuote``, ``pair`` on orders,
``baseQty`` on trades, ``ma`` (margin asset) in ``ORDER_TRADE_UPDATE`` and an account alias ``i``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from ...core.accounts import Account, Position, Wallet
from ...core.engine import Market
from ...core.instruments import Instrument, Kind
from ...core.types import ZERO, ExecType, Fill, Order, OrderStatus, Side

MAINT_MARGIN_RATE = Decimal("0.004")  # first leverage bracket, as Binance lists for majors
MAX_LEVERAGE = 125
DELIVERY_PERPETUAL = 4133404800000  # Binance's deliveryDate for perpetuals (2100-12-25)
ONBOARD_DATE = 1569398400000

_Q: dict[int, Decimal] = {}


def fixed(value: Decimal, places: int) -> str:
    """A decimal string with exactly ``places`` decimals (Binance never uses exponents)."""
    q = _Q.get(places)
    if q is None:
        q = _Q[places] = Decimal(1).scaleb(-places)
    return f"{value.quantize(q, rounding=ROUND_HALF_EVEN):f}"


def plain(value: Decimal, places: int = 8) -> str:
    """Binance futures order / trade / event numbers: rounded to ``places``, trailing zeros stripped,
    never an exponent (``"0"``, ``"0.001"``, ``"30005"``, ``"9.91"``), as the docs' examples and live
    responses show them."""
    if not value:
        return "0"
    text = fixed(value, places)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def amt(value: Decimal) -> str:
    """Balances, margins and PnL: 8 decimals, as Binance futures account endpoints print them."""
    return fixed(value, 8)


class Wire:
    """Serialisers for one futures flavor (``usdm`` or ``coinm``) over its market."""

    def __init__(self, market: Market, coinm: bool) -> None:
        self.market = market
        self.coinm = coinm

    # ------------------------------------------------------------------ helpers

    def inst(self, symbol: str) -> Instrument:
        return self.market.instruments[symbol]

    def px(self, inst: Instrument, value: Decimal | None) -> str:
        return plain(value if value is not None else ZERO, inst.price_precision)

    def avg(self, inst: Instrument, order: Order) -> str:
        """``avgPrice``: USDⓈ-M prints 5 decimals ("0.00000"); COIN-M at least one ("0.0")."""
        if not self.coinm:
            return fixed(order.avg_price, 5)
        text = plain(order.avg_price, inst.price_precision + 3)
        return text if "." in text else text + ".0"

    def cum_base(self, inst: Instrument, order: Order) -> Decimal:
        """COIN-M: filled value in the base coin (contracts * size / price, summed over fills)."""
        if not order.filled or not order.avg_price:
            return ZERO
        return order.filled * inst.contract_size / order.avg_price

    @staticmethod
    def order_status(order: Order) -> str:
        if order.status is OrderStatus.EXPIRED and order.expire_reason == "STP":
            return "EXPIRED_IN_MATCH"
        return order.status.value

    @staticmethod
    def stp(order: Order) -> str:
        return order.stp.value if order.stp.value != "NONE" else "NONE"

    # ------------------------------------------------------------------ REST / WS-API order

    def order(self, order: Order, with_time: bool = False) -> dict[str, Any]:
        inst = self.inst(order.symbol)
        out: dict[str, Any] = {
            "orderId": order.order_id,
            "symbol": order.symbol,
        }
        if self.coinm:
            out["pair"] = inst.pair
        out.update(
            {
                "status": self.order_status(order),
                "clientOrderId": order.client_id,
                "price": self.px(inst, order.price),
                "avgPrice": self.avg(inst, order),
                "origQty": plain(order.qty),
                "executedQty": plain(order.filled),
                "cumQty": plain(order.filled),
            }
        )
        if self.coinm:
            out["cumBase"] = plain(self.cum_base(inst, order))
        else:
            out["cumQuote"] = plain(order.cum_quote)
        out.update(
            {
                "timeInForce": tif_of(order),
                "type": order.type.value,
                "reduceOnly": order.reduce_only,
                "closePosition": False,
                "side": order.side.value,
                "positionSide": "BOTH",
                "stopPrice": "0",
                "workingType": "CONTRACT_PRICE",
                "priceProtect": False,
                "origType": order.type.value,
                "priceMatch": str(order.extra.get("priceMatch", "NONE")),
                "selfTradePreventionMode": self.stp(order),
            }
        )
        if not self.coinm:
            out["goodTillDate"] = int(order.extra.get("goodTillDate", 0))
        if with_time:
            out["time"] = order.created_ms
        out["updateTime"] = order.updated_ms
        return out

    def ack(self, order: Order) -> dict[str, Any]:
        """``newOrderRespType=ACK``: the order as accepted, before any matching result."""
        out = self.order(order)
        out.update(
            {
                "status": "NEW",
                "executedQty": "0",
                "cumQty": "0",
                "avgPrice": "0.0" if self.coinm else fixed(ZERO, 5),
                "updateTime": order.created_ms,
            }
        )
        out["cumBase" if self.coinm else "cumQuote"] = "0"
        return out

    def trade(self, fill: Fill, account: Account) -> dict[str, Any]:
        inst = self.inst(fill.symbol)
        buyer = fill.side is Side.BUY
        out: dict[str, Any] = {
            "symbol": fill.symbol,
            "id": fill.trade_id,
            "orderId": fill.order_id,
        }
        if self.coinm:
            out["pair"] = inst.pair
        out.update(
            {
                "side": fill.side.value,
                "price": plain(fill.price),
                "qty": plain(fill.qty),
                "realizedPnl": amt(fill.realized_pnl),
                "marginAsset": inst.margin_asset,
            }
        )
        if self.coinm:
            out["baseQty"] = plain(fill.qty * inst.contract_size / fill.price)
        else:
            out["quoteQty"] = plain(fill.quote_qty)
        out.update(
            {
                "commission": amt(fill.fee),
                "commissionAsset": fill.fee_asset,
                "time": fill.time_ms,
                "positionSide": "BOTH",
                "buyer": buyer,
                "maker": fill.is_maker,
            }
        )
        return out

    # ------------------------------------------------------------------ account views

    def position_numbers(self, inst: Instrument, pos: Position) -> dict[str, Decimal]:
        mark = self.market.mark_price(inst.symbol)
        if inst.kind is Kind.INVERSE:
            notional = pos.qty * inst.contract_size / mark if mark else ZERO  # in coin
        else:
            notional = pos.qty * mark
        return {
            "mark": mark,
            "upnl": pos.unrealized(inst, mark),
            "im": pos.initial_margin(inst, mark),
            "mm": abs(notional) * MAINT_MARGIN_RATE,
            "notional": notional,
        }

    def open_notional(self, account: Account, inst: Instrument) -> tuple[Decimal, Decimal, Decimal]:
        """(bid notional, ask notional, open-order initial margin) of the account's open orders."""
        bid = ask = margin = ZERO
        for o in self.market.open_orders(account, inst.symbol):
            price = o.price or self.market.mark_price(inst.symbol)
            value = o.remaining * inst.contract_size / price if self.coinm else o.remaining * price
            if o.side is Side.BUY:
                bid += value
            else:
                ask += value
            margin += o.locked
        return bid, ask, margin

    def positions(self, account: Account, symbol: str | None = None) -> list[tuple[Instrument, Position]]:
        wallet = account.wallet(self.market.name)
        out = []
        for inst in self.market.instruments.values():
            if symbol is not None and inst.symbol != symbol:
                continue
            pos = wallet.positions.get(inst.symbol)
            if pos is None:
                pos = Position(inst.symbol, leverage=wallet.leverage.get(inst.symbol, 20))
            out.append((inst, pos))
        return out

    def liquidation_price(self, inst: Instrument, pos: Position, wallet: Wallet) -> Decimal:
        """Cross-margin liquidation estimate: the mark at which wallet + uPnL = maintenance margin."""
        if not pos.qty or not pos.entry_price:
            return ZERO
        bal = wallet.balance(inst.margin_asset).total
        if inst.kind is Kind.INVERSE:
            # bal + q*c*(1/e - 1/p) = |q|*c/p*mmr  ->  1/p = (bal + q*c/e) / (q*c + |q|*c*mmr)
            qc = pos.qty * inst.contract_size
            denom = qc + abs(qc) * MAINT_MARGIN_RATE
            inv = (bal + qc / pos.entry_price) / denom if denom else ZERO
            return max(ZERO, 1 / inv) if inv > 0 else ZERO
        # bal + q*(p - e) = |q|*p*mmr  ->  p = (q*e - bal) / (q - |q|*mmr)
        denom = pos.qty - abs(pos.qty) * MAINT_MARGIN_RATE
        price = (pos.qty * pos.entry_price - bal) / denom if denom else ZERO
        return max(ZERO, price)

    def position_risk(self, account: Account, symbol: str | None, version: int) -> list[dict[str, Any]]:
        wallet = account.wallet(self.market.name)
        rows = []
        for inst, pos in self.positions(account, symbol):
            n = self.position_numbers(inst, pos)
            bid, ask, order_im = self.open_notional(account, inst)
            liq = inst.fmt_price(self.liquidation_price(inst, pos, wallet))
            entry = fixed(pos.entry_price, 8) if pos.entry_price else "0.0"
            mark = fixed(n["mark"], 8)
            if self.coinm:
                rows.append(
                    {
                        "symbol": inst.symbol,
                        "positionAmt": inst.fmt_qty(pos.qty),
                        "entryPrice": entry,
                        "breakEvenPrice": entry,
                        "markPrice": mark,
                        "unRealizedProfit": amt(n["upnl"]),
                        "liquidationPrice": liq,
                        "leverage": str(pos.leverage),
                        "maxQty": "1000000",
                        "marginType": "cross",
                        "isolatedMargin": amt(ZERO),
                        "isAutoAddMargin": "false",
                        "positionSide": "BOTH",
                        "notionalValue": amt(n["notional"]),
                        "isolatedWallet": "0",
                        "updateTime": pos.updated_ms,
                    }
                )
            elif version == 2:
                rows.append(
                    {
                        "entryPrice": entry,
                        "breakEvenPrice": entry,
                        "marginType": "cross",
                        "isAutoAddMargin": "false",
                        "isolatedMargin": amt(ZERO),
                        "leverage": str(pos.leverage),
                        "liquidationPrice": liq,
                        "markPrice": mark,
                        "maxNotionalValue": "250000000",
                        "positionAmt": inst.fmt_qty(pos.qty),
                        "notional": amt(n["notional"]),
                        "isolatedWallet": "0",
                        "symbol": inst.symbol,
                        "unRealizedProfit": amt(n["upnl"]),
                        "positionSide": "BOTH",
                        "updateTime": pos.updated_ms,
                    }
                )
            else:
                rows.append(
                    {
                        "symbol": inst.symbol,
                        "positionSide": "BOTH",
                        "positionAmt": inst.fmt_qty(pos.qty),
                        "entryPrice": entry,
                        "breakEvenPrice": entry,
                        "markPrice": mark,
                        "unRealizedProfit": amt(n["upnl"]),
                        "liquidationPrice": liq,
                        "isolatedMargin": amt(ZERO),
                        "notional": amt(n["notional"]),
                        "marginAsset": inst.margin_asset,
                        "isolatedWallet": "0",
                        "initialMargin": amt(n["im"] + order_im),
                        "maintMargin": amt(n["mm"]),
                        "positionInitialMargin": amt(n["im"]),
                        "openOrderInitialMargin": amt(order_im),
                        "adl": 0,
                        "bidNotional": amt(bid),
                        "askNotional": amt(ask),
                        "updateTime": pos.updated_ms,
                    }
                )
        if version == 3 and not self.coinm:
            rows = [r for r in rows if Decimal(str(r["positionAmt"])) != 0]
        return rows

    def assets(self) -> list[str]:
        seen: list[str] = []
        for inst in self.market.instruments.values():
            if inst.margin_asset not in seen:
                seen.append(inst.margin_asset)
        return seen

    def asset_numbers(self, account: Account, asset: str) -> dict[str, Decimal]:
        wallet = account.wallet(self.market.name)
        wb = wallet.balance(asset).total
        upnl = im = mm = ZERO
        for inst, pos in self.positions(account):
            if inst.margin_asset != asset or not pos.qty:
                continue
            n = self.position_numbers(inst, pos)
            upnl += n["upnl"]
            im += n["im"]
            mm += n["mm"]
        order_im = wallet.order_margin.get(asset, ZERO)
        avail = self.market.available_margin(wallet, asset)
        return {
            "wb": wb,
            "upnl": upnl,
            "mb": wb + upnl,
            "pim": im,
            "oim": order_im,
            "mm": mm,
            "avail": avail,
            "maxw": max(ZERO, min(avail, wb)),
        }

    def account_asset(self, account: Account, asset: str, version: int) -> dict[str, Any]:
        n = self.asset_numbers(account, asset)
        upd = self.market.exchange.now_ms()
        out: dict[str, Any] = {
            "asset": asset,
            "walletBalance": amt(n["wb"]),
            "unrealizedProfit": amt(n["upnl"]),
            "marginBalance": amt(n["mb"]),
            "maintMargin": amt(n["mm"]),
            "initialMargin": amt(n["pim"] + n["oim"]),
            "positionInitialMargin": amt(n["pim"]),
            "openOrderInitialMargin": amt(n["oim"]),
            "crossWalletBalance": amt(n["wb"]),
            "crossUnPnl": amt(n["upnl"]),
            "availableBalance": amt(n["avail"]),
            "maxWithdrawAmount": amt(n["maxw"]),
        }
        if not self.coinm and version == 2:
            out["marginAvailable"] = True
        out["updateTime"] = upd
        return out

    def account(self, account: Account, version: int) -> dict[str, Any]:
        assets = [self.account_asset(account, a, version) for a in self.assets()]
        positions = []
        for inst, pos in self.positions(account):
            n = self.position_numbers(inst, pos)
            bid, ask, order_im = self.open_notional(account, inst)
            entry = fixed(pos.entry_price, 8) if pos.entry_price else "0.0"
            row: dict[str, Any] = {
                "symbol": inst.symbol,
                "initialMargin": amt(n["im"] + order_im),
                "maintMargin": amt(n["mm"]),
                "unrealizedProfit": amt(n["upnl"]),
                "positionInitialMargin": amt(n["im"]),
                "openOrderInitialMargin": amt(order_im),
                "leverage": str(pos.leverage),
                "isolated": False,
                "positionSide": "BOTH",
                "entryPrice": entry,
                "breakEvenPrice": entry,
                "positionAmt": inst.fmt_qty(pos.qty),
                "updateTime": pos.updated_ms,
            }
            if self.coinm:
                row["maxQty"] = "1000000"
                row["notionalValue"] = amt(n["notional"])
            elif version == 2:
                row.update(
                    {
                        "maxNotional": "250000000",
                        "bidNotional": amt(bid),
                        "askNotional": amt(ask),
                        "notional": amt(n["notional"]),
                        "isolatedWallet": "0",
                    }
                )
            else:
                if not pos.qty:
                    continue
                row = {
                    "symbol": inst.symbol,
                    "positionSide": "BOTH",
                    "positionAmt": inst.fmt_qty(pos.qty),
                    "unrealizedProfit": amt(n["upnl"]),
                    "isolatedMargin": amt(ZERO),
                    "notional": amt(n["notional"]),
                    "isolatedWallet": "0",
                    "initialMargin": amt(n["im"] + order_im),
                    "maintMargin": amt(n["mm"]),
                    "updateTime": pos.updated_ms,
                }
            positions.append(row)
        now = self.market.exchange.now_ms()
        if self.coinm:
            return {
                "assets": assets,
                "positions": positions,
                "canDeposit": True,
                "canTrade": True,
                "canWithdraw": True,
                "feeTier": 0,
                "updateTime": now,
            }
        usdt = self.asset_numbers(account, "USDT")
        totals = {
            "totalInitialMargin": amt(usdt["pim"] + usdt["oim"]),
            "totalMaintMargin": amt(usdt["mm"]),
            "totalWalletBalance": amt(usdt["wb"]),
            "totalUnrealizedProfit": amt(usdt["upnl"]),
            "totalMarginBalance": amt(usdt["mb"]),
            "totalPositionInitialMargin": amt(usdt["pim"]),
            "totalOpenOrderInitialMargin": amt(usdt["oim"]),
            "totalCrossWalletBalance": amt(usdt["wb"]),
            "totalCrossUnPnl": amt(usdt["upnl"]),
            "availableBalance": amt(usdt["avail"]),
            "maxWithdrawAmount": amt(usdt["maxw"]),
        }
        if version == 2:
            return {
                "feeTier": 0,
                "feeBurn": False,
                "canDeposit": True,
                "canTrade": True,
                "canWithdraw": True,
                "updateTime": 0,
                "multiAssetsMargin": False,
                "tradeGroupId": -1,
                **totals,
                "assets": assets,
                "positions": positions,
            }
        return {**totals, "assets": assets, "positions": positions}

    def balances(self, account: Account, alias: str) -> list[dict[str, Any]]:
        rows = []
        for asset in self.assets():
            n = self.asset_numbers(account, asset)
            row: dict[str, Any] = {"accountAlias": alias, "asset": asset, "balance": amt(n["wb"])}
            if self.coinm:
                row["withdrawAvailable"] = amt(n["maxw"])
            row.update(
                {"crossWalletBalance": amt(n["wb"]), "crossUnPnl": amt(n["upnl"]), "availableBalance": amt(n["avail"])}
            )
            if not self.coinm:
                row.update({"maxWithdrawAmount": amt(n["maxw"]), "marginAvailable": True})
            row["updateTime"] = self.market.exchange.now_ms()
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ user-data events

    def order_update(
        self, order: Order, exec_type: ExecType, fill: Fill | None, account: Account, now: int
    ) -> dict[str, Any]:
        """``ORDER_TRADE_UPDATE`` as the user data stream sends it."""
        inst = self.inst(order.symbol)
        bid, ask, _ = self.open_notional(account, inst)
        x = {ExecType.AMENDED: "AMENDMENT", ExecType.REJECTED: "REJECTED"}.get(exec_type, exec_type.value)
        o: dict[str, Any] = {
            "s": order.symbol,
            "c": order.client_id,
            "S": order.side.value,
            "o": order.type.value,
            "f": tif_of(order),
            "q": plain(order.qty),
            "p": self.px(inst, order.price),
            "ap": plain(order.avg_price),
            "sp": "0",
            "x": x,
            "X": self.order_status(order),
            "i": order.order_id,
            "l": plain(fill.qty if fill else ZERO),
            "z": plain(order.filled),
            "L": plain(fill.price if fill else ZERO),
        }
        if self.coinm:
            o["ma"] = inst.margin_asset
        if fill is not None:
            # "Commission, will not push if no commission" (Event-Order-Update).
            o["N"] = fill.fee_asset
            o["n"] = plain(fill.fee)
        o.update(
            {
                "T": fill.time_ms if fill else order.updated_ms,
                "t": fill.trade_id if fill else 0,
                "b": plain(bid),
                "a": plain(ask),
                "m": fill.is_maker if fill else False,
                "R": order.reduce_only,
                "wt": "CONTRACT_PRICE",
                "ot": order.type.value,
                "ps": "BOTH",
                "cp": False,
                "rp": plain(fill.realized_pnl if fill else ZERO),
                "pP": False,
                "si": 0,
                "ss": 0,
                "V": self.stp(order),
                "pm": str(order.extra.get("priceMatch", "NONE")),
                "gtd": int(order.extra.get("goodTillDate", 0)),
            }
        )
        if not self.coinm:
            o["er"] = EXPIRE_REASON.get(order.expire_reason, "0") if order.status is OrderStatus.EXPIRED else "0"
        event: dict[str, Any] = {"e": "ORDER_TRADE_UPDATE", "T": o["T"], "E": now}
        if self.coinm:
            event["i"] = alias_of(account)
        event["o"] = o
        return event

    def account_update(
        self, account: Account, assets: frozenset[str], symbols: frozenset[str], reason: str, now: int
    ) -> dict[str, Any]:
        wallet = account.wallet(self.market.name)
        b = [
            {"a": a, "wb": amt(wallet.balance(a).total), "cw": amt(wallet.balance(a).total), "bc": "0"}
            for a in sorted(assets)
        ]
        p = []
        for sym in sorted(symbols):
            inst = self.market.instruments.get(sym)
            if inst is None:
                continue
            pos = wallet.position(sym)
            n = self.position_numbers(inst, pos)
            p.append(
                {
                    "s": sym,
                    "pa": plain(pos.qty),
                    "ep": plain(pos.entry_price),
                    "bep": plain(pos.entry_price),
                    "cr": plain(pos.realized_pnl),
                    "up": plain(n["upnl"]),
                    "mt": "cross",
                    "iw": "0",
                    "ps": "BOTH",
                }
            )
        m = {"ORDER": "ORDER", "ADMIN": "DEPOSIT", "FUNDING": "FUNDING_FEE"}.get(reason, reason)
        event: dict[str, Any] = {"e": "ACCOUNT_UPDATE", "E": now, "T": now}
        if self.coinm:
            event["i"] = alias_of(account)
        event["a"] = {"m": m, "B": b, "P": p}
        return event


# Expiry reasons of ORDER_TRADE_UPDATE ``er`` (USDⓈ-M): 0 none, 1 IOC/FOK unfilled, 2 GTX post-only,
# 3 STP, 6 reduce-only... Codes for reasons the simulator does not produce are not listed.
EXPIRE_REASON = {"IOC": "1", "FOK": "1", "NO_LIQUIDITY": "1", "POST_ONLY": "2", "STP": "3"}  # GTD: "0"


def alias_of(account: Account) -> str:
    """A stable account alias (Binance shows a short opaque string such as ``SgsR``)."""
    return account.account_id


def tif_of(order: Order) -> str:
    """The order's time in force as sent: GTD orders rest in the engine as GTC."""
    return str(order.extra.get("tif", order.tif.value))
