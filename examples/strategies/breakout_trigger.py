"""A breakout trigger: arm a buy that execx sends the moment a buyer lifts the market at or above a
level, then follow it on the update stream until the venue acknowledges it.

    EXECX_KEY=K [EXECX_TARGET=127.0.0.1:35028] .venv/bin/python examples/strategies/breakout_trigger.py \
        --level 97100 [--exchange binance-spot] [--symbol BTCUSDT] [--qty 0.001] [--seconds 60]

Prints {"armed": ...} once the trigger is set, then {"sent": ...} with the triggered order's update;
exits 1 if nothing fired within --seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid

from env import API_KEY, SECRET_KEY, client
from execx_client import OrderRequest, OrderTransaction


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--level", type=float, required=True)
    p.add_argument("--exchange", default="binance-spot")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--qty", type=float, default=0.001)
    p.add_argument("--seconds", type=float, default=60)
    a = p.parse_args()
    async with client() as x:
        session = await x.start_session("bo-" + uuid.uuid4().hex[:8], a.exchange, API_KEY, SECRET_KEY)
        trigger = "breakout-" + uuid.uuid4().hex[:6]
        # the order: an IOC buy a little above the level (it takes what is offered there)
        order = OrderRequest(session, trigger, a.symbol, "buy", a.qty, round(a.level * 1.003, 2), "limit", "ioc")
        await x.start_trigger_manager(session, a.exchange, a.symbol)
        await x.set_trigger(trigger, a.exchange, a.symbol, a.level, "up", [order])
        print(json.dumps({"armed": trigger, "level": a.level}), flush=True)

        async def first_update() -> OrderTransaction:
            async for u in x.updates(session, from_seq=1):
                if isinstance(u, OrderTransaction) and u.trigger_id == trigger and u.order_status != "pendingnew":
                    return u
            raise AssertionError("the update stream ended")

        try:
            u = await asyncio.wait_for(first_update(), a.seconds)
        except TimeoutError:
            print(json.dumps({"fired": False}))
            return 1
        finally:
            await x.stop_trigger_manager(session, a.exchange, a.symbol)
        print(json.dumps({"sent": u.cl_order_id, "status": u.order_status, "filled": u.cumulative_filled_qty}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
