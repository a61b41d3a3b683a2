"""The dip buyer (seed 000): buys ``orderQty`` when the price falls ``dipPercentage`` below the high of
the last ``timePeriod`` seconds, never above ``maxLongPos``, at most once per ``cooldown``.

The rule is the pure ``dip_plan.decide``; this module is the runner around it (``runtime.Runner``):

- every public trade of its feed (shared market-data hub) enters the window and is checked; nothing
  is decided while an order of it awaits the venue's answer (no double buy) or while the feed is stale
  (state ``paused`` with the hub's reason; those trades do not enter the window either);
- **order type**: a *limit IOC buy at the best ask* seen when the dip printed. IOC, because a dip is a
  moment: an order left resting after the price bounced would buy later at a price nobody chose;
  limit at the ask rather than market, because the price is capped where the dip was seen (no sweep
  up a thin book) and every venue accepts it the same way. What does not fill at once expires; the
  next qualifying trade after the cooldown may buy again;
- the position is the session's position in the symbol (``GetPosition``), whoever traded it;
- persistence: its configuration and the time of its last buy are saved (journal ``algorithms`` table,
  kind ``dip_buyer``); after a restart it runs again with them once its session is started again
  (the window starts empty: the high is rebuilt from new trades);
- stop: its live order (if any) is cancelled, state ``stopped``; the status keeps what it bought.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..domain.enums import Exchange, Liquidity, OrderType, Side, TimeInForce, TransactionType
from ..domain.errors import AlreadyExists, NotFound, ValidationError
from ..domain.instruments import InstrumentRules
from ..domain.orders import Order
from ..engine.sessions import OrderEngine, SendOrder
from ..engine.tasks import Supervisor
from ..engine.updates import OrderUpdate
from ..marketdata.hub import MarketDataHub, MarketEvent, TradeEvent
from ..observability.metrics import Metrics
from .dip_plan import DipConfig, Window, decide
from .runtime import PENDING, ZERO, Restorer, Runner, RunnerState, Saved, base36, percent, positive, required, seconds

log = logging.getLogger("execx.dip_buyer")

KIND = "dip_buyer"


def validate(cfg: DipConfig) -> DipConfig:
    """INVALID_ARGUMENT naming the field (``config.<name>``)."""
    percent(cfg.dip_percentage, "config.dipPercentage")
    positive(cfg.order_qty, "config.orderQty")
    positive(cfg.max_long_pos, "config.maxLongPos")
    seconds(cfg.time_period, "config.timePeriod")
    seconds(cfg.cooldown, "config.cooldown", allow_zero=True)
    if cfg.order_qty > cfg.max_long_pos:
        raise ValidationError("config.orderQty", f"{cfg.order_qty} is above maxLongPos {cfg.max_long_pos}")
    return cfg


def config_json(cfg: DipConfig) -> dict[str, Any]:
    return {
        "dipPercentage": str(cfg.dip_percentage),
        "orderQty": str(cfg.order_qty),
        "maxLongPos": str(cfg.max_long_pos),
        "timePeriod": cfg.time_period,
        "cooldown": cfg.cooldown,
    }


def config_of(d: dict[str, Any]) -> DipConfig:
    return DipConfig(
        Decimal(d["dipPercentage"]), Decimal(d["orderQty"]), Decimal(d["maxLongPos"]), d["timePeriod"], d["cooldown"]
    )


@dataclass(frozen=True)
class Status:
    session_id: str
    exchange: Exchange
    symbol: str
    config: DipConfig
    state: RunnerState
    reason: str
    recent_high: Decimal
    last_price: Decimal
    buys: int
    bought_qty: Decimal
    avg_buy_price: Decimal
    last_buy_ns: int
    position: Decimal
    working: list[Order]


class DipBuyer(Runner):
    algorithm = "dip_buyer"

    def __init__(
        self,
        engine: OrderEngine,
        hub: MarketDataHub,
        metrics: Metrics,
        saved: Saved,
        session_id: str,
        exchange: Exchange,
        symbol: str,
        config: DipConfig,
        last_buy_ns: int = 0,
    ) -> None:
        super().__init__(engine, hub, metrics, session_id, exchange, symbol)
        self.saved = saved
        self.config = config
        self.key = f"{session_id}|{exchange.value}|{symbol}"
        self.window = Window(config.time_period)
        self.rules: InstrumentRules | None = None
        self.last_price = ZERO
        self.buys = 0
        self.bought_qty = ZERO
        self._notional = ZERO
        self.last_buy_ns = last_buy_ns
        # the cooldown survives a restart: the last buy's wall time mapped onto the monotonic clock
        self._last_buy_at: float | None = (
            time.monotonic() - (time.time_ns() - last_buy_ns) / 1e9 if last_buy_ns else None
        )
        self._busy = False
        self._n = 0
        self.prefix = f"db{base36(time.time_ns() // 1_000_000)}x"

    async def start(self) -> None:
        session, connector = self.engine.live_session(self.session_id)
        if session.exchange is not self.exchange:
            raise ValidationError("exchange", f"session {self.session_id!r} trades {session.exchange.value}")
        self.rules = connector.rules(self.symbol)  # ValidationError("symbol") for an unknown symbol
        if TimeInForce.IOC not in connector.supported_tifs:
            raise ValidationError("exchange", f"{self.exchange.value} has no IOC orders")
        await super().start()
        self.save()

    def save(self) -> None:
        self.saved.save(self.key, self.session_id, {**self.identity(), **config_json(self.config)})

    def identity(self) -> dict[str, Any]:
        return {"exchange": self.exchange.value, "symbol": self.symbol, "lastBuyNs": self.last_buy_ns}

    # ------------------------------------------------------------------ events

    def _on_market(self, event: MarketEvent) -> None:
        if not isinstance(event, TradeEvent) or not self.fresh() or self.state is not RunnerState.RUNNING:
            return
        now = time.monotonic()
        price = event.trade.price
        self.last_price = price
        self.window.add(now, price)
        if self._busy or self.rules is None or self.sub is None or self.sub.feed.quote is None:
            return
        live = self.live_orders()
        if any(o.status in PENDING for o in live):
            return
        in_flight = sum((o.remaining for o in live), ZERO)
        d = decide(
            self.window.high(now), price, self.position(), in_flight, now, self._last_buy_at, self.config, self.rules
        )
        if d.qty > 0:
            self._busy = True
            self._last_buy_at = now
            self.buys += 1
            self.spawn(self._buy(d.qty, self.sub.feed.quote.ask), "buy")

    async def _buy(self, qty: Decimal, ask: Decimal) -> None:
        try:
            self._n += 1
            cl = f"{self.prefix}{base36(self._n)}"
            self.ids.add(cl)
            self.last_buy_ns = time.time_ns()
            self.metrics.dip_buys.labels(self.exchange.value).inc()
            log.info("dip_buyer.buy", extra={"symbol": self.symbol, "qty": str(qty), "price": str(ask)})
            req = SendOrder(
                self.session_id,
                TransactionType.INSERT,
                cl,
                self.symbol,
                price=ask,
                qty=qty,
                order_type=OrderType.LIMIT,
                tif=TimeInForce.IOC,
                side=Side.BUY,
            )
            self.publish("buy", Side.BUY, ask, qty, detail=f"dip: limit IOC {cl}")
            await self.send(req)
            self.save()
        finally:
            self._busy = False

    def _on_update(self, u: OrderUpdate) -> None:
        if u.trade_id:
            self.bought_qty += u.executed_qty
            self._notional += u.executed_qty * u.price
            self.metrics.dip_bought.labels(self.exchange.value).inc(float(u.executed_qty))
            if u.trade_liquidity is Liquidity.ADD:
                log.info("dip_buyer.maker_fill", extra={"symbol": self.symbol})

    # ------------------------------------------------------------------ status

    def status(self) -> Status:
        now = time.monotonic()
        return Status(
            self.session_id,
            self.exchange,
            self.symbol,
            self.config,
            self.state,
            self.reason,
            self.window.high(now) or ZERO,
            self.last_price,
            self.buys,
            self.bought_qty,
            self._notional / self.bought_qty if self.bought_qty else ZERO,
            self.last_buy_ns,
            self.position(),
            self.live_orders(),
        )


class DipBuyers:
    """Every dip buyer, one per (session, exchange, symbol); stopped ones stay readable until a restart."""

    def __init__(self, engine: OrderEngine, hub: MarketDataHub, metrics: Metrics) -> None:
        self.engine = engine
        self.hub = hub
        self.metrics = metrics
        self.buyers: dict[tuple[str, Exchange, str], DipBuyer] = {}
        self.saved = Saved(engine.journal, KIND)
        self.tasks = Supervisor("dip-buyers")
        self._lock = asyncio.Lock()
        self.restorer = Restorer(engine, self.saved, self._restore, self.tasks, metrics)

    async def start(
        self, session_id: str, exchange: Exchange, symbol: str, config: DipConfig, last_buy_ns: int = 0
    ) -> DipBuyer:
        required(session_id, "sessionId")
        required(symbol, "symbol")
        validate(config)
        async with self._lock:
            existing = self.buyers.get((session_id, exchange, symbol))
            if existing is not None and existing.state not in (RunnerState.STOPPED, RunnerState.FAILED):
                raise AlreadyExists(
                    f"a dip buyer already runs on {exchange.value} {symbol} for session {session_id!r}; stop it first"
                )
            buyer = DipBuyer(
                self.engine, self.hub, self.metrics, self.saved, session_id, exchange, symbol, config, last_buy_ns
            )
            await buyer.start()
            self.buyers[(session_id, exchange, symbol)] = buyer
            log.info("dip_buyer.started", extra={"session": session_id, "symbol": symbol})
            return buyer

    async def _restore(self, key: str, session_id: str, d: dict[str, Any]) -> None:
        await self.start(session_id, Exchange(d["exchange"]), d["symbol"], config_of(d), int(d.get("lastBuyNs", 0)))

    def get(self, session_id: str, exchange: Exchange, symbol: str) -> DipBuyer:
        required(session_id, "sessionId")
        required(symbol, "symbol")
        buyer = self.buyers.get((session_id, exchange, symbol))
        if buyer is None:
            raise NotFound(
                f"no dip buyer on {exchange.value} {symbol} for session {session_id!r}; start one with startDipBuyer"
            )
        return buyer

    async def stop(self, session_id: str, exchange: Exchange, symbol: str) -> DipBuyer:
        buyer = self.get(session_id, exchange, symbol)
        if buyer.state is not RunnerState.STOPPED:
            self.saved.drop(buyer.key)
            await buyer.stop()
        return buyer

    async def close(self) -> None:
        """Service shutdown: buyers stop acting but stay saved (they run again after the restart)."""
        self.restorer.close()
        await self.tasks.close()
        for b in self.buyers.values():
            await b.tasks.close()
            b.detach()
