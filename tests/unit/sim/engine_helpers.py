"""Small building blocks for driving the matching engine directly: a fake clock, instruments with
round numbers, and an exchange that records every event it publishes."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from execx_sim.core.accounts import Account
from execx_sim.core.engine import Exchange, Market
from execx_sim.core.instruments import Instrument, Kind
from execx_sim.core.types import (
    AccountEvent,
    BookTop,
    Event,
    ExecType,
    OrderEvent,
    OrderType,
    PostOnlyCross,
    PublicTrade,
    Side,
    STPMode,
    TimeInForce,
)

D = Decimal


class FakeClock:
    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.t = start_ms

    def __call__(self) -> int:
        return self.t

    def advance(self, ms: int) -> None:
        self.t += ms


SPOT_BTC = Instrument(
    symbol="BTCUSDT",
    base="BTC",
    quote="USDT",
    kind=Kind.SPOT,
    tick=D("0.01"),
    lot=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("1000"),
    min_notional=D("5"),
    ref_price=D("100"),
    min_price=D("0.01"),
    market_max_qty=D("100"),
    maker_fee=D("0.001"),
    taker_fee=D("0.002"),
)
SPOT_ETH = Instrument(
    symbol="ETHUSDT",
    base="ETH",
    quote="USDT",
    kind=Kind.SPOT,
    tick=D("0.01"),
    lot=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("1000"),
    min_notional=D("5"),
    ref_price=D("10"),
    min_price=D("0.01"),
    maker_fee=D("0.001"),
    taker_fee=D("0.002"),
)
LINEAR = Instrument(
    symbol="BTCUSDT",
    base="BTC",
    quote="USDT",
    kind=Kind.LINEAR,
    tick=D("0.1"),
    lot=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("1000"),
    min_notional=D("5"),
    ref_price=D("100"),
    min_price=D("0.1"),
    settle="USDT",
    maker_fee=D("0.0002"),
    taker_fee=D("0.0005"),
)
INVERSE = Instrument(
    symbol="BTCUSD_PERP",
    base="BTC",
    quote="USD",
    kind=Kind.INVERSE,
    tick=D("0.1"),
    lot=D("1"),
    min_qty=D("1"),
    max_qty=D("1000000"),
    min_notional=D("0"),
    ref_price=D("50000"),
    min_price=D("0.1"),
    contract_size=D("100"),
    settle="BTC",
    pair="BTCUSD",
    maker_fee=D("0.0002"),
    taker_fee=D("0.0005"),
)


@dataclass
class Env:
    clock: FakeClock
    exchange: Exchange
    market: Market
    events: list[Event] = field(default_factory=list)

    def account(self, name: str, **balances: str) -> Account:
        acct = self.exchange.create_account(name, api_key=f"key-{name}", secret_key=f"secret-{name}")
        for asset, amount in balances.items():
            self.market.adjust_balance(acct, asset, D(amount))
        self.events.clear()
        return acct

    def bal(self, acct: Account, asset: str) -> tuple[Decimal, Decimal]:
        b = acct.wallet(self.market.name).balance(asset)
        return b.free, b.locked

    def limit(
        self,
        acct: Account,
        side: Side,
        qty: str,
        price: str,
        symbol: str | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        stp: STPMode | None = None,
        reduce_only: bool = False,
    ) -> object:
        sym = symbol or next(iter(self.market.instruments))
        return self.market.place(
            acct, sym, side, OrderType.LIMIT, D(qty), D(price), tif=tif, stp=stp, reduce_only=reduce_only
        )

    def order_events(self) -> list[tuple[int, ExecType]]:
        return [(e.order.order_id, e.exec_type) for e in self.events if isinstance(e, OrderEvent)]

    def kinds(self) -> list[str]:
        out = []
        for e in self.events:
            if isinstance(e, OrderEvent):
                out.append(e.exec_type.value)
            elif isinstance(e, PublicTrade):
                out.append("PUBLIC_TRADE")
            elif isinstance(e, BookTop):
                out.append("BOOK_TOP")
            elif isinstance(e, AccountEvent):
                out.append("ACCOUNT")
        return out


def make_env(
    *instruments: Instrument,
    name: str = "m",
    post_only: PostOnlyCross = PostOnlyCross.REJECT,
    default_stp: STPMode = STPMode.NONE,
) -> Env:
    clock = FakeClock()
    ex = Exchange(clock=clock)
    market = ex.add_market(Market(ex, name, instruments, post_only_cross=post_only, default_stp=default_stp))
    env = Env(clock, ex, market)
    ex.subscribe(env.events.append)
    return env
