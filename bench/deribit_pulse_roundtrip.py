"""Order round trips on Deribit (orders over FIX 4.4) and Pulse (orders over its JSON-RPC websocket),
through execx versus straight to the simulated venue, side by side in one run on loopback. Prints one
JSON line per figure (µs; p50/p99 over ``--orders`` inserts; only the insert is timed; each order is
cancelled before the next; the ways take turns order by order).

    .venv/bin/python bench/deribit_pulse_roundtrip.py [--orders 300]

Processes as ``bench/order_roundtrip.py`` runs them: the simulator (``execx_sim.cli --quiet``), execx,
and this strategy process. Figures:
- ``deribit_grpc_unary``: SendOrder → the response (execx sent a NewOrderSingle and got the first
  ExecutionReport back over FIX)
- ``deribit_direct_fix``: a NewOrderSingle on a FIX session of this process straight to the simulator
  → its ExecutionReport (execx's FIX session layer without the engine: the floor for a FIX client)
- ``pulse_grpc_unary``: SendOrder → the response (``private/buy`` over execx's websocket)
- ``pulse_direct_ws``: ``private/buy`` on a bare aiohttp websocket → its answer (the floor)
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
import simplefix
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_server.connectors.base import Secret
from execx_server.connectors.deribit.auth import FixLogon
from execx_server.connectors.deribit.fix_orders import APP_REQUIRED, cancel_request, new_order_single
from execx_server.connectors.transport.fix import FixSession, FixSessionConfig, text
from execx_server.domain.enums import OrderType, Side, TimeInForce
from execx_server.domain.venue import OrderRequest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from order_roundtrip import AUTH, KEY, emit, pct, start

PRICE = 93000  # below the simulated market (~97000) but inside its price band: rests, never fills
MARKETS = {
    "deribit": (c.EXCHANGE_DERIBIT, "BTC-PERPETUAL", 10.0),  # contracts of 10 USD
    "pulse": (c.EXCHANGE_PULSE, "BTC_USD-PERPETUAL", 0.01),  # BTC
}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=300)
    n = ap.parse_args().orders
    sim, sim_ready = await start(sys.executable, "-m", "execx_sim.cli", "--quiet")
    with tempfile.TemporaryDirectory() as tmp:
        execx, ready = await start(
            sys.executable, "-m", "execx_server.cli", "--key", KEY, "--port", "0", "--grpcPort", "0",
            "--promPort", "0", "--dataDir", tmp,
        )  # fmt: skip
        try:
            await run(sim_ready, ready, n)
        finally:
            for proc in (execx, sim):
                proc.terminate()
                await proc.wait()


async def run(sim_ready: dict[str, Any], ready: dict[str, Any], n: int) -> None:
    channel = grpc.aio.insecure_channel(ready["grpc"])
    stub = om_grpc.OrderManagerServiceStub(channel)
    async with aiohttp.ClientSession() as http:
        accounts: dict[str, dict[str, str]] = {}
        for venue, (exchange, _, _) in MARKETS.items():
            async with http.post(sim_ready["admin"] + "/admin/accounts", json={}) as r:
                accounts[venue] = await r.json()
            hosts = sim_ready["venues"][venue]
            key = c.ExchangeKey(
                api_key=accounts[venue]["apiKey"], secret_key=accounts[venue]["secretKey"], exchange=exchange
            )
            await stub.StartOrderHandler(
                om.StartOrderHandlerRequest(
                    session_id=venue, rest_url=hosts["rest"], ws_url=json.dumps(hosts), exchange_key=key
                ),
                metadata=AUTH,
            )
        fix, fix_task, answers = await _direct_fix(sim_ready, accounts["deribit"])
        ws = await http.ws_connect(sim_ready["venues"]["pulse"]["ws"])
        pulse = accounts["pulse"]
        await _ws_call(ws, 0, "public/auth", {
            "grant_type": "client_credentials", "client_id": pulse["apiKey"], "client_secret": pulse["secretKey"]
        })  # fmt: skip
        samples: dict[str, list[float]] = {
            k: [] for k in ("deribit_grpc_unary", "deribit_direct_fix", "pulse_grpc_unary", "pulse_direct_ws")
        }
        for i in range(n):
            for venue, (_, symbol, qty) in MARKETS.items():
                cl = f"g{venue[0]}{i}"
                insert = om.SendOrderRequest(
                    session_id=venue, cl_order_id=cl, symbol=symbol, price=float(PRICE), qty=qty,
                    order_type=c.ORDER_TYPE_LIMIT, transaction_type=c.TRANSACTION_TYPE_INSERT, side=c.SIDE_BUY,
                )  # fmt: skip
                t = time.perf_counter_ns()
                resp = await stub.SendOrder(insert, metadata=AUTH)
                samples[f"{venue}_grpc_unary"].append((time.perf_counter_ns() - t) / 1000)
                assert resp.order.order_status == c.ORDER_STATUS_NEW, resp.order.message
                delete = om.SendOrderRequest(
                    session_id=venue, cl_order_id=cl, symbol=symbol, transaction_type=c.TRANSACTION_TYPE_DELETE
                )
                await stub.SendOrder(delete, metadata=AUTH)
            cl = f"f{i}"
            order = OrderRequest(
                cl, "BTC-PERPETUAL", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, Decimal(10), Decimal(PRICE)
            )
            t = time.perf_counter_ns()
            report = await _fix_request(fix, answers, cl, new_order_single(order))
            samples["deribit_direct_fix"].append((time.perf_counter_ns() - t) / 1000)
            await _fix_request(fix, answers, cl, cancel_request(cl, text(report, 37), "BTC-PERPETUAL", Side.BUY))
            params = {"instrument_name": "BTC_USD-PERPETUAL", "amount": "0.01", "type": "limit",
                      "price": str(PRICE), "label": f"w{i}"}  # fmt: skip
            t = time.perf_counter_ns()
            answer = await _ws_call(ws, 2 * i + 1, "private/buy", params)
            samples["pulse_direct_ws"].append((time.perf_counter_ns() - t) / 1000)
            await _ws_call(ws, 2 * i + 2, "private/cancel", {"order_id": answer["order"]["order_id"]})
        for name, values in samples.items():
            emit(name, **pct(values))
        await ws.close()
        await fix.stop()
        fix_task.cancel()
        fix.close()
    await channel.close()


async def _direct_fix(
    sim_ready: dict[str, Any], account: dict[str, str]
) -> tuple[FixSession, asyncio.Task[None], dict[str, asyncio.Future[simplefix.FixMessage]]]:
    host, _, port = sim_ready["venues"]["deribit"]["fix"].removeprefix("tcp://").rpartition(":")
    answers: dict[str, asyncio.Future[simplefix.FixMessage]] = {}

    def on_message(msg: simplefix.FixMessage, poss_dup: bool) -> None:
        fut = answers.pop(text(msg, 41), None)
        if fut is not None and not fut.done():
            fut.set_result(msg)

    config = FixSessionConfig(
        host, int(port), "BENCHDIRECT", "DERIBITSERVER",
        logon_fields=FixLogon(account["apiKey"], Secret(account["secretKey"])), app_required=APP_REQUIRED,
    )  # fmt: skip
    session = FixSession(config, on_message)
    task = asyncio.create_task(session.run())
    await session.wait_logged_on(10)
    return session, task, answers


async def _fix_request(
    session: FixSession, answers: dict[str, asyncio.Future[simplefix.FixMessage]], cl: str, msg: simplefix.FixMessage
) -> simplefix.FixMessage:
    fut: asyncio.Future[simplefix.FixMessage] = asyncio.get_running_loop().create_future()
    answers[cl] = fut
    session.send(msg)
    return await asyncio.wait_for(fut, 10)


async def _ws_call(ws: aiohttp.ClientWebSocketResponse, req_id: int, method: str, params: dict[str, Any]) -> Any:
    await ws.send_json({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})
    while True:
        msg = json.loads((await ws.receive()).data)
        if msg.get("id") == req_id:
            assert "error" not in msg, msg
            return msg["result"]


if __name__ == "__main__":
    asyncio.run(main())
