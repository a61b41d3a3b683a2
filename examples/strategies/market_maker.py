"""Market making with the position manager: execx quotes post-only orders at the touch to take the
position to a target; this strategy moves the target long, then back to flat, and reports what it cost.

    EXECX_KEY=K [EXECX_TARGET=127.0.0.1:35028] .venv/bin/python examples/strategies/market_maker.py \
        [--exchange binance-usdm-future] [--symbol BTCUSDT] [--clip 0.002] [--target 0.004] [--seconds 60]

Prints one JSON line per target reached and a summary line {"done": true, ...}; exits 1 if a target is
not reached within --seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid

from env import API_KEY, SECRET_KEY, client
from execx_client import ExecxClient


async def reach(x: ExecxClient, exchange: str, symbol: str, target: float, clip: float, deadline: float) -> bool:
    await x.set_target_position(exchange, symbol, target)
    while time.monotonic() < deadline:
        status = await x.get_position_manager(exchange, symbol)
        if status is not None and abs(status.current_position - target) < clip / 2:
            print(json.dumps({"target": target, "position": status.current_position, "state": status.state}))
            return True
        await asyncio.sleep(0.2)
    return False


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--exchange", default="binance-usdm-future")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--clip", type=float, default=0.002)
    p.add_argument("--target", type=float, default=0.004)
    p.add_argument("--seconds", type=float, default=60)
    a = p.parse_args()
    deadline = time.monotonic() + a.seconds
    async with client() as x:
        session = await x.start_session("mm-" + uuid.uuid4().hex[:8], a.exchange, API_KEY, SECRET_KEY)
        await x.start_position_manager(
            session, a.exchange, a.symbol, min_order_qty=a.clip, quote_levels=2, price_level_interval=0.0005
        )
        try:
            ok = await reach(x, a.exchange, a.symbol, a.target, a.clip, deadline)
            ok = ok and await reach(x, a.exchange, a.symbol, 0.0, a.clip, deadline)
        finally:
            status = await x.stop_position_manager(a.exchange, a.symbol)
        fills = await x.list_fills(session)
        print(
            json.dumps(
                {
                    "done": ok,
                    "fills": len(fills),
                    "maker_fills": sum(f.trade_liquidity == "add" for f in fills),
                    "fees": round(sum(f.fee for f in fills), 8),
                    "position": status.current_position if status else None,
                }
            )
        )
        await x.stop_session(session, cancel_open_orders=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
