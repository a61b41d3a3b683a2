"""What ``make demo`` runs: execx on its embedded exchange simulator, driven by a short strategy.

1. starts ``execx --key demo-key --sim`` (free ports, a throw-away journal) and reads its ready line;
2. opens an order session on binance-spot with the simulator's demo account (gRPC, execx_client);
3. streams the session's order updates while it sends a post-only buy below the market, amends its
   price, lets the simulated market sell into it (a fill), and cancels the rest;
4. shows the same API over REST with the seed's JSON (``POST /getPosition``) and stops execx with SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time

import aiohttp
from execx_client import ExecxClient, ExecxError, OrderTransaction

KEY = "demo-key"


async def main() -> None:
    with tempfile.TemporaryDirectory() as data:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "execx_server.cli",
            "--key",
            KEY,
            "--sim",
            "--dataDir",
            data,
            "--port",
            "0",
            "--grpcPort",
            "0",
            "--promPort",
            "0",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        ready = json.loads(await proc.stdout.readline())
        print("execx is ready:", json.dumps({k: ready[k] for k in ("rest", "grpc", "metrics")}))
        try:
            await trade(ready)
        finally:
            proc.terminate()
            await proc.wait()
        print(f"execx stopped on SIGTERM (exit code {proc.returncode})")


async def trade(ready: dict) -> None:  # type: ignore[type-arg]
    demo = ready["sim"]["accounts"][0]
    admin = ready["sim"]["admin"]
    session = f"demo-{int(time.time())}"
    async with ExecxClient(ready["grpc"], KEY) as x, aiohttp.ClientSession() as http:
        await x.start_session(session, "binance-spot", demo["apiKey"], demo["secretKey"])
        print(f"session {session} started on binance-spot (simulated)\n")

        async def show_updates() -> None:
            async for u in x.updates(session, from_seq=1):
                if not isinstance(u, OrderTransaction):
                    continue  # risk events
                fill = f" fill {u.executed_qty:g} @ {u.price:.2f} trade {u.trade_id}" if u.trade_id else ""
                print(
                    f"  update #{u.seq:<3} {u.cl_order_id:<6} {u.order_status:<16} qty {u.qty:g} price {u.price:.2f}"
                    f" filled {u.cumulative_filled_qty:g}{fill} {u.message}"
                )

        printer = asyncio.create_task(show_updates())
        async with http.get(
            f"{ready['sim']['venues']['binance-spot']['rest']}/api/v3/ticker/bookTicker", params={"symbol": "BTCUSDT"}
        ) as r:
            book = await r.json()
        bid = float(book["bidPrice"])
        print(f"BTCUSDT best bid {bid:.2f} / ask {float(book['askPrice']):.2f}\n")

        price = round(bid * 0.998, 2)
        print(f"> insert: post-only buy 0.01 BTCUSDT @ {price:.2f}")
        await x.insert(session, "demo1", "BTCUSDT", "buy", qty=0.01, price=price, order_type="postonly")
        await asyncio.sleep(0.2)
        price = round(bid * 0.999, 2)
        print(f"> update: price -> {price:.2f}")
        await x.amend(session, "demo1", qty=0.01, price=price)
        await asyncio.sleep(0.2)
        print(f"> the market sells 0.004 at {price:.2f} (simulator admin API)")
        async with http.post(
            f"{admin}/admin/market/trade",
            json={"market": "binance-spot", "symbol": "BTCUSDT", "price": price, "qty": "0.004", "aggressor": "sell"},
        ) as r:
            assert r.status == 200, await r.text()
        await asyncio.sleep(0.3)
        print("> delete: cancel the rest")
        try:
            await x.cancel(session, "demo1")
        except ExecxError as e:  # the live synthetic market may have filled it all already
            print(f"  cancel refused: {e.message}")
        await asyncio.sleep(0.3)
        printer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printer

        body = {"sessionId": session, "symbol": "BTCUSDT", "exchange": "binance-spot"}
        async with http.post(f"{ready['rest']}/getPosition", json=body, headers={"x-api-key": KEY}) as r:
            print(f"\nREST POST /getPosition {json.dumps(body)} -> {r.status} {await r.text()}")


if __name__ == "__main__":
    asyncio.run(main())
