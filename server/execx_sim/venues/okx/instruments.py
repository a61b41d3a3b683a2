"""OKX instruments: the venue's own rules (``tickSz``, ``lotSz``, ``minSz``, ``ctVal``, ``instIdCode``)
and the matching-engine instruments behind them.

Derivative sizes on OKX are **contracts** (``sz``, ``pos``, ``accFillSz``); a linear contract is
``ctVal`` of the base coin (BTC-USDT-SWAP: 0.01 BTC). The engine books base-currency quantities for
linear swaps, so the front-end converts at its edge: engine qty = contracts * ``ctVal``. An inverse
(coin-margined) contract is ``ctVal`` USD (BTC-USD-SWAP: 100 USD, margined in BTC); the engine's
INVERSE kind books contracts, so no conversion. Spot sizes are base currency on both sides. (The
admin API speaks engine units: base currency, or contracts for inverse swaps.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ...core.instruments import Instrument, Kind

D = Decimal


@dataclass(frozen=True, slots=True)
class OkxInstrument:
    inst_id: str
    inst_type: str  # SPOT | SWAP
    inst_id_code: int  # the numeric id WebSocket order operations require
    base: str
    quote: str
    tick_sz: Decimal
    lot_sz: Decimal  # base currency (spot) / contracts (swap)
    min_sz: Decimal
    ct_val: Decimal = D(1)  # linear swap: base currency per contract; inverse swap: USD per contract; spot: 1
    settle: str = ""
    engine: Instrument | None = None
    inverse: bool = False  # coin-margined: the engine books contracts directly (its INVERSE kind)

    @property
    def is_swap(self) -> bool:
        return self.inst_type == "SWAP"

    def to_engine(self, sz: Decimal) -> Decimal:
        return sz if self.inverse else sz * self.ct_val

    def from_engine(self, qty: Decimal) -> Decimal:
        return (qty / self.ct_val).normalize() if self.is_swap and not self.inverse else qty

    @property
    def inst_family(self) -> str:
        return f"{self.base}-{self.quote}" if self.is_swap else ""


def _spot(inst_id: str, code: int, ref: str, tick: str, lot: str, min_sz: str) -> OkxInstrument:
    base, quote = inst_id.split("-")
    engine = Instrument(
        symbol=inst_id,
        base=base,
        quote=quote,
        kind=Kind.SPOT,
        tick=D(tick),
        lot=D(lot),
        min_qty=D(min_sz),
        max_qty=D("10000"),
        min_notional=D(0),
        ref_price=D(ref),
        min_price=D(tick),
        market_max_qty=D("1000"),
        maker_fee=D("0.0008"),
        taker_fee=D("0.001"),
    )
    return OkxInstrument(inst_id, "SPOT", code, base, quote, D(tick), D(lot), D(min_sz), engine=engine)


def _swap(inst_id: str, code: int, ref: str, tick: str, ct_val: str) -> OkxInstrument:
    base, quote, _ = inst_id.split("-")
    lot, min_sz = D("0.01"), D("0.01")  # contracts
    engine = Instrument(
        symbol=inst_id,
        base=base,
        quote=quote,
        kind=Kind.LINEAR,
        tick=D(tick),
        lot=lot * D(ct_val),
        min_qty=min_sz * D(ct_val),
        max_qty=D(100000) * D(ct_val),
        min_notional=D(0),
        ref_price=D(ref),
        min_price=D(tick),
        market_max_qty=D(20000) * D(ct_val),
        percent_up=D("1.05"),
        percent_down=D("0.95"),
        settle=quote,
        maker_fee=D("0.0002"),
        taker_fee=D("0.0005"),
    )
    return OkxInstrument(inst_id, "SWAP", code, base, quote, D(tick), lot, min_sz, D(ct_val), quote, engine)


def _inverse(inst_id: str, code: int, ref: str, tick: str, ct_val: str) -> OkxInstrument:
    base, quote, _ = inst_id.split("-")
    engine = Instrument(
        symbol=inst_id,
        base=base,
        quote=quote,
        kind=Kind.INVERSE,
        tick=D(tick),
        lot=D(1),
        min_qty=D(1),
        max_qty=D(100000),
        min_notional=D(0),
        ref_price=D(ref),
        min_price=D(tick),
        market_max_qty=D(20000),
        percent_up=D("1.05"),
        percent_down=D("0.95"),
        contract_size=D(ct_val),
        settle=base,
        maker_fee=D("0.0002"),
        taker_fee=D("0.0005"),
    )
    return OkxInstrument(inst_id, "SWAP", code, base, quote, D(tick), D(1), D(1), D(ct_val), base, engine, inverse=True)


OKX_INSTRUMENTS = (
    _spot("BTC-USDT", 10001, "97000.0", "0.1", "0.00000001", "0.00001"),
    _spot("ETH-USDT", 10002, "3400.00", "0.01", "0.000001", "0.0001"),
    _swap("BTC-USDT-SWAP", 20001, "97000.0", "0.1", "0.01"),
    _swap("ETH-USDT-SWAP", 20002, "3400.00", "0.01", "0.1"),
    _inverse("BTC-USD-SWAP", 20003, "97000.0", "0.1", "100"),
)
