"""Runs the exchange simulator and trades on it the way a Binance client would.

    make demo        (or: .venv/bin/python examples/sim_demo.py)

Starts ``execx-sim`` as a subprocess, reads its ready line, then with the demo account: reads the
top of book, subscribes to its own order updates on the spot WebSocket API, places a limit buy
below the market, amends it (keep priority), makes the market trade through it with the admin
API, and prints every execution report it receives. Plain aiohttp + hmac, no SDK: the point is to
show the wire protocol.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


async def rest(
    http: aiohttp.ClientSession, base: str, method: str, path: str, key: str, secret: str, **params: Any
) -> Any:
    params["timestamp"] = int(time.time() * 1000)
    query = urlencode(params)
    url = f"{base}{path}?{query}&signature={sign(secret, query)}"
    async with http.request(method, url, headers={"X-MBX-APIKEY": key}) as resp:
        body = await resp.json()
        print(f"  {method} {path} -> HTTP {resp.status} {json.dumps(body)[:160]}")
        return body


async def main() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "execx_sim.cli",
        "--quiet",
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    ready = json.loads(await proc.stdout.readline())
    print("execx-sim is ready:")
    print(json.dumps(ready, indent=2))
    spot = ready["venues"]["binance-spot"]
    acct = ready["accounts"][0]
    key, secret = acct["apiKey"], acct["secretKey"]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{spot['rest']}/api/v3/ticker/bookTicker", params={"symbol": "BTCUSDT"}) as r:
                top = await r.json()
            print(f"\nBTCUSDT top of book: bid {top['bidPrice']} / ask {top['askPrice']}")
            bid = Decimal(top["bidPrice"])

            ws = await http.ws_connect(spot["wsApi"])
            ts = int(time.time() * 1000)
            await ws.send_json(
                {
                    "id": "sub",
                    "method": "userDataStream.subscribe.signature",
                    "params": {
                        "apiKey": key,
                        "timestamp": ts,
                        "signature": sign(secret, f"apiKey={key}&timestamp={ts}"),
                    },
                }
            )
            print("user data:", (await ws.receive_json())["status"])

            print("\nPlace a limit buy 0.01 BTC 50 below the bid, then reduce it to 0.005 keeping priority:")
            price = f"{bid - 50:.2f}"
            order = await rest(
                http,
                spot["rest"],
                "POST",
                "/api/v3/order",
                key,
                secret,
                symbol="BTCUSDT",
                side="BUY",
                type="LIMIT",
                timeInForce="GTC",
                quantity="0.01000",
                price=price,
                newClientOrderId="demo-1",
            )
            await rest(
                http,
                spot["rest"],
                "PUT",
                "/api/v3/order/amend/keepPriority",
                key,
                secret,
                symbol="BTCUSDT",
                orderId=order["orderId"],
                newQty="0.00500",
            )

            print(f"\nA seller hits {price} (admin API prints a trade with aggressor SELL):")
            async with http.post(
                f"{ready['admin']}/admin/market/trade",
                json={
                    "market": "binance-spot",
                    "symbol": "BTCUSDT",
                    "price": price,
                    "qty": "0.01",
                    "aggressor": "sell",
                },
            ) as r:
                assert r.status == 200, await r.text()

            print("\nExecution reports received on the WebSocket API:")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                msg = await ws.receive_json(timeout=deadline - time.monotonic())
                ev = msg.get("event", {})
                if ev.get("e") == "executionReport":
                    print(
                        f"  {ev['c']}: {ev['x']:<8} status {ev['X']:<16} last {ev['l']} @ {ev['L']}"
                        f"  cum {ev['z']}  trade {ev['t']}"
                    )
                    if ev["X"] == "FILLED":
                        break
            await ws.close()
            await rest(http, spot["rest"], "GET", "/api/v3/account", key, secret, omitZeroBalances="true")
    finally:
        proc.terminate()
        await proc.wait()
    print(f"\nexecx-sim stopped (exit code {proc.returncode}).")


if __name__ == "__main__":
    asyncio.run(main())
