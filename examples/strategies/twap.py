"""A TWAP through SmartOrderService: buy an amount in equal slices over a duration, and follow its
progress on the smart-order stream.

    EXECX_KEY=K [EXECX_TARGET=127.0.0.1:35028] .venv/bin/python examples/strategies/twap.py \
        [--exchange binance-spot] [--symbol BTCUSDT] [--amount 0.003] [--duration 6SEC] [--interval 2SEC]

Prints one JSON line per fill and a summary {"done": true, "filled": ..., "average_price": ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid

from env import API_KEY, SECRET_KEY, client


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--exchange", default="binance-spot")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--amount", type=float, default=0.003)
    p.add_argument("--duration", default="6SEC")
    p.add_argument("--interval", default="2SEC")
    a = p.parse_args()
    async with client() as x:
        session = await x.start_session("twap-" + uuid.uuid4().hex[:8], a.exchange, API_KEY, SECRET_KEY)
        twap_id = str(uuid.uuid4())
        events = x.smart_orders(twap_id)
        await x.add_smart_order(
            session, "twap", "buy", a.symbol, a.amount, a.duration, a.interval, smart_order_id=twap_id
        )
        async for e in events:
            if e.trade_fill is not None:
                print(json.dumps({"fill": e.trade_fill.amount_filled, "price": e.trade_fill.price}))
            if e.status_change is not None and e.status_change.status in ("Completed", "Cancelled", "Failed"):
                break
        (order,) = [o for o in await x.list_smart_orders() if o.id == twap_id]
        print(
            json.dumps(
                {"done": order.status == "Completed", "filled": order.filled, "average_price": order.average_price}
            )
        )
        await x.stop_session(session)
    return 0 if order.status == "Completed" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
