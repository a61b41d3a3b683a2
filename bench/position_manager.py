"""The position manager against the simulator's synthetic market (prices move, background traders hit
the book). Prints one JSON line per run (venue and leg).

    .venv/bin/python bench/position_manager.py [--qty 0.01] [--venues binance-spot,binance-usdm-future]
                                               [--timeout 120] [--seed 1]

For each venue it trades flat -> ``+qty`` (leg ``buy``) then back to flat (leg ``sell``) through execx
(in process, ``execx --sim`` with the synthetic flow running) and reports:

- ``time_to_target_s``: from SetTargetPosition to the position reaching the target (null on timeout);
- ``maker_fill_share``: the share of the manager's fills with ``tradeLiquidity`` "add" (must be 1.0);
- ``fees_paid``: what the manager's fills paid, in the quote currency (the manager's status), versus
  ``market_order_fees``: the same quantity taken right after with a market order by another account,
  at the simulated venue's taker fee (``fee_saving`` = the difference);
- ``avg_fill_price`` versus ``arrival_mid`` (the mid when the target was set): ``slippage_bps`` is
  signed so that positive is worse for the trader; ``market_order_avg_price`` /
  ``market_order_slippage_bps`` are the same for the market order against the mid when it was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx.v1 import position_manager_pb2 as pm
from execx.v1 import position_manager_pb2_grpc as pm_grpc
from execx_server.app import Service, Settings
from execx_server.observability import logging as xlog

KEY = "bench-key"
AUTH = (("x-api-key", KEY),)
VENUES: dict[str, tuple[Any, str]] = {
    "binance-spot": (c.EXCHANGE_BINANCE_SPOT, "BTCUSDT"),
    "binance-usdm-future": (c.EXCHANGE_BINANCE_USDM_FUTURE, "BTCUSDT"),
}
D = Decimal


class Bench:
    def __init__(self, service: Service, http: aiohttp.ClientSession) -> None:
        self.service = service
        self.http = http
        self.admin = service.ready["sim"]["admin"]
        self.channel = grpc.aio.insecure_channel(service.ready["grpc"])
        self.om = om_grpc.OrderManagerServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.pm = pm_grpc.PositionManagerServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self._n = 0

    async def session(self, venue: str) -> str:
        async with self.http.post(f"{self.admin}/admin/accounts", json={}) as r:
            acct = await r.json()
        self._n += 1
        sid = f"bench-{venue}-{self._n}-{time.time_ns()}"
        key = c.ExchangeKey(api_key=acct["apiKey"], secret_key=acct["secretKey"], exchange=VENUES[venue][0])
        await self.om.StartOrderHandler(om.StartOrderHandlerRequest(session_id=sid, exchange_key=key), metadata=AUTH)
        return sid

    async def mid(self, venue: str, symbol: str) -> Decimal:
        async with self.http.get(f"{self.admin}/admin/state") as r:
            state = await r.json()
        return D(str(state["markets"][venue][symbol]["mid"]))

    async def status(self, exchange: Any, symbol: str) -> pm.PositionManagerStatus:
        req = pm.GetPositionManagerRequest(exchange=exchange, symbol=symbol)
        answer: pm.GetPositionManagerResponse = await self.pm.GetPositionManager(req, metadata=AUTH)
        return answer.status

    async def leg(
        self, venue: str, sid: str, fills: list[c.OrderTransaction], target: Decimal, timeout_s: float
    ) -> dict[str, Any]:
        exchange, symbol = VENUES[venue]
        before = await self.status(exchange, symbol)
        n_fills = len(fills)
        arrival = await self.mid(venue, symbol)
        started = time.perf_counter()
        await self.pm.SetTargetPosition(
            pm.SetTargetPositionRequest(exchange=exchange, symbol=symbol, target_position=float(target)), metadata=AUTH
        )
        elapsed: float | None = None
        while time.perf_counter() - started < timeout_s:
            s = await self.status(exchange, symbol)
            if D(repr(s.current_position)) == target:
                elapsed = time.perf_counter() - started
                break
            await asyncio.sleep(0.05)  # status poll interval
        s = await self.status(exchange, symbol)
        leg_fills = [f for f in fills[n_fills:] if f.cl_order_id.startswith("pm")]
        qty = sum((D(repr(f.executed_qty)) for f in leg_fills), D(0))
        notional = sum((D(repr(f.executed_qty)) * D(repr(f.price)) for f in leg_fills), D(0))
        avg = notional / qty if qty else D(0)
        side = 1 if target > D(repr(before.current_position)) else -1
        fees = D(repr(s.fees_paid)) - D(repr(before.fees_paid))
        market = await self.market_order(venue, abs(target - D(repr(before.current_position))), side)
        return {
            "figure": "position_manager",
            "venue": venue,
            "symbol": symbol,
            "leg": "buy" if side > 0 else "sell",
            "qty": str(qty),
            "time_to_target_s": round(elapsed, 3) if elapsed is not None else None,
            "fills": len(leg_fills),
            "maker_fill_share": (
                sum(f.trade_liquidity == c.TRADE_LIQUIDITY_ADD for f in leg_fills) / len(leg_fills)
                if leg_fills
                else None
            ),
            "fees_paid": str(fees.quantize(D("0.000001"))),
            "market_order_fees": str(market["fees"].quantize(D("0.000001"))),
            "fee_saving": str((market["fees"] - fees).quantize(D("0.000001"))),
            "arrival_mid": str(arrival),
            "avg_fill_price": str(avg.quantize(D("0.01"))),
            "slippage_bps": str((side * (avg - arrival) / arrival * 10_000).quantize(D("0.01"))) if qty else None,
            "market_order_avg_price": str(market["avg"].quantize(D("0.01"))),
            "market_order_slippage_bps": str(market["slippage_bps"].quantize(D("0.01"))),
        }

    async def market_order(self, venue: str, qty: Decimal, side: int) -> dict[str, Decimal]:
        """The same quantity taken with a market order by another account, right now."""
        symbol = VENUES[venue][1]
        sid = await self.session(venue)
        stream = self.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid), metadata=AUTH)
        mid = await self.mid(venue, symbol)
        await self.om.SendOrder(
            om.SendOrderRequest(
                session_id=sid,
                cl_order_id="benchmkt",
                symbol=symbol,
                qty=float(qty),
                order_type=c.ORDER_TYPE_MARKET,
                transaction_type=c.TRANSACTION_TYPE_INSERT,
                side=c.SIDE_BUY if side > 0 else c.SIDE_SELL,
            ),
            metadata=AUTH,
        )
        filled, notional = D(0), D(0)
        async for msg in stream:
            t = msg.transaction
            if t.trade_id:
                filled += D(repr(t.executed_qty))
                notional += D(repr(t.executed_qty)) * D(repr(t.price))
            if t.order_status in (c.ORDER_STATUS_FILLED, c.ORDER_STATUS_EXPIRED, c.ORDER_STATUS_CANCELLED):
                break
        stream.cancel()
        inst = self.service.sim.exchange.markets[venue].instruments[symbol]  # the simulated venue's fee schedule
        avg = notional / filled if filled else D(0)
        return {"fees": notional * inst.taker_fee, "avg": avg, "slippage_bps": side * (avg - mid) / mid * 10_000}


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as data:
        service = Service(Settings(key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=Path(data), sim=True))
        await service.start()
        try:
            async with aiohttp.ClientSession() as http:
                bench = Bench(service, http)
                for venue in args.venues.split(","):
                    exchange, symbol = VENUES[venue]
                    sid = await bench.session(venue)
                    fills: list[c.OrderTransaction] = []
                    stream = bench.om.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=sid), metadata=AUTH)

                    async def collect(s: Any = stream, out: list[c.OrderTransaction] = fills) -> None:
                        async for msg in s:
                            if msg.transaction.trade_id:
                                out.append(msg.transaction)

                    reader = asyncio.create_task(collect())
                    config = pm.PositionManagerConfig(
                        pull_on_startup=True,
                        maintain_spreads=True,
                        quote_levels=2,
                        min_order_qty=float(args.clip),
                        re_entry_ticker_seconds=1.0,
                        price_level_interval=0.0005,
                    )
                    await bench.pm.StartPositionManager(
                        pm.StartPositionManagerRequest(session_id=sid, exchange=exchange, symbol=symbol, config=config),
                        metadata=AUTH,
                    )
                    for target in (D(args.qty), D(0)):
                        print(json.dumps(await bench.leg(venue, sid, fills, target, args.timeout)), flush=True)
                    await bench.pm.StopPositionManager(
                        pm.StopPositionManagerRequest(exchange=exchange, symbol=symbol), metadata=AUTH
                    )
                    stream.cancel()
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
                await bench.channel.close()
        finally:
            await service.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--qty", default="0.01", help="target position of the buy leg")
    p.add_argument("--clip", default="0.002", help="minOrderQty of the manager")
    p.add_argument("--venues", default=",".join(VENUES))
    p.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per leg")
    args = p.parse_args()
    xlog.setup("warn")  # JSON log lines on stderr, as execx writes them
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
