"""The simulated OKX v5 venue on the wire, written from the docs and checked with hand-made requests
(no execx code): REST signing and its errors, the code/msg/data envelope with per-item sCode,
partial batch success (code 2), clOrdId rules, post-only cancelled with cancelSource 31, no
cancel-all by instrument, cancel-all-after, rate limits (50011), the demo header and the AWS host,
and the websockets: login, orders channel, order operations by instIdCode, bbo-tbt, trades and the
text ping/pong."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account
from execx_sim.core.types import Side

D = Decimal


def sign(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


def iso_now(offset_s: float = 0) -> str:
    return (
        datetime.fromtimestamp(time.time() + offset_s, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class Okx:
    def __init__(self, sim: Simulator, account: Account, http: aiohttp.ClientSession) -> None:
        self.urls = sim.ready["venues"]["okx"]
        self.account = account
        self.http = http

    async def call(
        self, method: str, path: str, body: Any = None, *, secret: str | None = None, ts: str | None = None, **hdr: str
    ) -> tuple[int, dict[str, Any]]:
        text = json.dumps(body) if body is not None else ""
        ts = ts or iso_now()
        headers = {
            "OK-ACCESS-KEY": self.account.api_key,
            "OK-ACCESS-SIGN": sign(secret or self.account.secret_key, ts + method + path + text),
            "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": self.account.passphrase,
            "Content-Type": "application/json",
            **hdr,
        }
        async with self.http.request(method, self.urls["rest"] + path, data=text or None, headers=headers) as r:
            return r.status, await r.json()

    async def place(self, **item: str) -> dict[str, Any]:
        _, out = await self.call("POST", "/api/v5/trade/order", {"instId": "BTC-USDT", "tdMode": "cash", **item})
        return out

    async def ws(self, kind: str) -> aiohttp.ClientWebSocketResponse:
        return await self.http.ws_connect(self.urls[kind])

    def login(self, secret: str | None = None) -> dict[str, Any]:
        ts = str(int(time.time()))
        s = sign(secret or self.account.secret_key, ts + "GET/users/self/verify")
        arg = {"apiKey": self.account.api_key, "passphrase": self.account.passphrase, "timestamp": ts, "sign": s}
        return {"op": "login", "args": [arg]}


@pytest.fixture
async def okx(sim: Simulator, account: Account) -> AsyncIterator[Okx]:
    async with aiohttp.ClientSession() as http:
        yield Okx(sim, account, http)


async def test_signing_errors_in_okx_words(okx: Okx) -> None:
    assert (await okx.call("GET", "/api/v5/account/balance"))[1]["code"] == "0"
    status, out = await okx.call("GET", "/api/v5/account/balance", secret="wrong")
    assert (status, out["code"], out["msg"], out["data"]) == (401, "50113", "Invalid Sign", [])
    status, out = await okx.call("GET", "/api/v5/account/balance", ts=iso_now(-60))
    assert (status, out["code"]) == (401, "50102")
    status, out = await okx.call("GET", "/api/v5/account/balance", **{"OK-ACCESS-PASSPHRASE": "nope"})
    assert (status, out["code"]) == (401, "50105")
    status, out = await okx.call("GET", "/api/v5/account/balance", **{"OK-ACCESS-KEY": "unknown"})
    assert (status, out["code"], out["msg"]) == (401, "50111", "Invalid OK-ACCESS-KEY")
    # The demo-trading header and the AWS host name are accepted (same API, other base URL).
    status, out = await okx.call("GET", "/api/v5/account/balance?ccy=USDT", **{"x-simulated-trading": "1"})
    assert status == 200 and [d["ccy"] for d in out["data"][0]["details"]] == ["USDT"]
    status, out = await okx.call("GET", "/api/v5/account/config", Host="aws.okx.com")
    assert status == 200 and out["data"][0]["posMode"] == "net_mode"


async def test_instruments_and_time(okx: Okx) -> None:
    async with okx.http.get(okx.urls["rest"] + "/api/v5/public/instruments?instType=SWAP") as r:
        swaps = (await r.json())["data"]
    btc = next(i for i in swaps if i["instId"] == "BTC-USDT-SWAP")
    assert (btc["ctVal"], btc["ctType"], btc["lotSz"], btc["settleCcy"], type(btc["instIdCode"])) == (
        "0.01",
        "linear",
        "0.01",
        "USDT",
        int,
    )
    async with okx.http.get(okx.urls["rest"] + "/api/v5/public/instruments") as r:
        assert (await r.json())["code"] == "50014"  # instType is required
    async with okx.http.get(okx.urls["rest"] + "/api/v5/public/time") as r:
        assert abs(int((await r.json())["data"][0]["ts"]) - time.time() * 1000) < 60_000


async def test_orders_envelope_client_ids_and_post_only(okx: Okx, sim: Simulator) -> None:
    bid = sim.exchange.markets["okx"].books["BTC-USDT"].best_bid()
    ask = sim.exchange.markets["okx"].books["BTC-USDT"].best_ask()
    assert bid is not None and ask is not None
    ok = await okx.place(side="buy", ordType="limit", px=str(bid - 10), sz="0.01", clOrdId="good1")
    assert ok["code"] == "0" and ok["data"][0]["sCode"] == "0" and ok["data"][0]["clOrdId"] == "good1"
    dup = await okx.place(side="buy", ordType="limit", px=str(bid - 10), sz="0.01", clOrdId="good1")
    assert (dup["code"], dup["msg"], dup["data"][0]["sCode"]) == ("1", "All operations failed", "51016")
    bad = await okx.place(side="buy", ordType="limit", px=str(bid - 10), sz="0.01", clOrdId="bad-id")
    assert (bad["code"], bad["data"][0]["sCode"], bad["data"][0]["sMsg"]) == ("1", "51000", "Parameter clOrdId error")
    po = await okx.place(side="buy", ordType="post_only", px=str(ask), sz="0.01", clOrdId="po1")
    assert po["code"] == "0"  # accepted ...
    _, got = await okx.call("GET", "/api/v5/trade/order?instId=BTC-USDT&clOrdId=po1")
    row = got["data"][0]
    assert (row["state"], row["cancelSource"], row["accFillSz"]) == ("canceled", "31", "0")  # ... then cancelled
    _, missing = await okx.call("GET", "/api/v5/trade/order?instId=BTC-USDT&clOrdId=nosuch")
    assert (missing["code"], missing["msg"], missing["data"]) == ("51603", "Order does not exist.", [])
    # A batch: two good, one refused -> code 2 with per-item sCode.
    items = [
        {
            "instId": "BTC-USDT",
            "tdMode": "cash",
            "side": "buy",
            "ordType": "limit",
            "px": str(bid - 20),
            "sz": "0.01",
            "clOrdId": "b1",
        },
        {
            "instId": "BTC-USDT",
            "tdMode": "cash",
            "side": "buy",
            "ordType": "limit",
            "px": str(bid - 21),
            "sz": "0.01",
            "clOrdId": "b2",
        },
        {
            "instId": "NOPE-USDT",
            "tdMode": "cash",
            "side": "buy",
            "ordType": "limit",
            "px": "1",
            "sz": "1",
            "clOrdId": "b3",
        },
    ]
    _, batch = await okx.call("POST", "/api/v5/trade/batch-orders", items)
    assert batch["code"] == "2" and [d["sCode"] for d in batch["data"]] == ["0", "0", "51001"]
    _, too_many = await okx.call("POST", "/api/v5/trade/batch-orders", [items[0]] * 21)
    assert too_many["code"] == "51000"
    # No cancel-all by instrument: cancel by batch (the connector's pull); an unknown order is 51400.
    cancels = [{"instId": "BTC-USDT", "clOrdId": c} for c in ("b1", "b2", "good1", "nosuch")]
    _, out = await okx.call("POST", "/api/v5/trade/cancel-batch-orders", cancels)
    assert out["code"] == "2" and [d["sCode"] for d in out["data"]] == ["0", "0", "0", "51400"]
    _, pending = await okx.call("GET", "/api/v5/trade/orders-pending?instId=BTC-USDT")
    assert pending["data"] == []
    async with okx.http.post(okx.urls["rest"] + "/api/v5/trade/cancel-all", json={}) as r:
        assert r.status == 404


async def test_amend_and_fills(okx: Okx, sim: Simulator) -> None:
    market = sim.exchange.markets["okx"]
    bid = market.books["BTC-USDT-SWAP"].best_bid()
    assert bid is not None
    item = {
        "instId": "BTC-USDT-SWAP",
        "tdMode": "cross",
        "side": "buy",
        "ordType": "limit",
        "px": str(bid - 1),
        "sz": "2",
        "clOrdId": "sw1",
    }
    _, out = await okx.call("POST", "/api/v5/trade/order", item)
    assert out["code"] == "0"
    _, out = await okx.call(
        "POST", "/api/v5/trade/amend-order", {"instId": "BTC-USDT-SWAP", "clOrdId": "sw1", "newSz": "3", "reqId": "r1"}
    )
    assert out["code"] == "0" and out["data"][0]["reqId"] == "r1"
    sim.synthetic.print_trade("okx", "BTC-USDT-SWAP", bid - 1, D("0.01"), Side.SELL)
    _, order = await okx.call("GET", "/api/v5/trade/order?instId=BTC-USDT-SWAP&clOrdId=sw1")
    row = order["data"][0]
    assert (row["sz"], row["accFillSz"], row["state"], row["fillSz"]) == (
        "3",
        "1",
        "partially_filled",
        "1",
    )  # contracts
    _, fills = await okx.call("GET", "/api/v5/trade/fills?instId=BTC-USDT-SWAP")
    assert [(f["fillSz"], f["execType"], f["ordId"]) for f in fills["data"]] == [("1", "M", row["ordId"])]
    assert D(fills["data"][0]["fee"]) < 0  # OKX reports charges as negative numbers
    _, pos = await okx.call("GET", "/api/v5/account/positions?instType=SWAP")
    assert [(p["instId"], p["pos"], p["posSide"]) for p in pos["data"]] == [("BTC-USDT-SWAP", "1", "net")]
    _, done = await okx.call(
        "POST", "/api/v5/trade/amend-order", {"instId": "BTC-USDT-SWAP", "clOrdId": "nosuch", "newSz": "1"}
    )
    assert done["code"] == "1" and done["data"][0]["sCode"] == "51503"
    _, out = await okx.call("POST", "/api/v5/trade/cancel-order", {"instId": "BTC-USDT-SWAP", "clOrdId": "sw1"})
    assert out["code"] == "0"  # nothing left on the shared book


async def test_rate_limit_is_50011(okx: Okx, sim: Simulator) -> None:
    limiter = next(fe for fe in sim.frontends if fe.venue == "okx").limiter  # type: ignore[attr-defined]
    orders = next(lim for lim in limiter.limits if lim.kind == "ORDERS")
    orders.limit = 1
    try:
        answers = [
            await okx.call("POST", "/api/v5/trade/cancel-order", {"instId": "ETH-USDT", "clOrdId": "x"})
            for _ in range(3)
        ]
    finally:
        orders.limit = 60
    limited = [a for a in answers if a[0] == 429]
    assert limited and limited[0][1]["code"] == "50011" and limited[0][1]["msg"] == "Too Many Requests"


async def test_cancel_all_after_fires_with_cancel_source_20(okx: Okx, sim: Simulator) -> None:
    _, out = await okx.call("POST", "/api/v5/trade/cancel-all-after", {"timeOut": "5"})
    assert out["code"] == "51000"  # 0 or 10..120 seconds
    _, out = await okx.call("POST", "/api/v5/trade/cancel-all-after", {"timeOut": "10"})
    assert out["code"] == "0" and int(out["data"][0]["triggerTime"]) - int(out["data"][0]["ts"]) == 10_000
    bid = sim.exchange.markets["okx"].books["ETH-USDT"].best_bid()
    assert bid is not None
    await okx.place(instId="ETH-USDT", side="buy", ordType="limit", px=str(bid - 1), sz="0.01", clOrdId="caa1")
    fe = next(fe for fe in sim.frontends if fe.venue == "okx")
    fe._countdowns[okx.account.account_id] = 0  # type: ignore[attr-defined]  # the deadline is now
    deadline = time.monotonic() + 5
    while True:
        _, got = await okx.call("GET", "/api/v5/trade/order?instId=ETH-USDT&clOrdId=caa1")
        if got["data"][0]["state"] == "canceled" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)  # poll the venue until the countdown fires (deadline above)
    assert (got["data"][0]["state"], got["data"][0]["cancelSource"]) == ("canceled", "20")


async def test_private_websocket_login_orders_and_order_ops(okx: Okx, sim: Simulator) -> None:
    async with aiohttp.ClientSession() as http:
        okx.http = http
        ws = await okx.ws("private")
        await ws.send_str("ping")
        assert (await ws.receive(timeout=5)).data == "pong"
        await ws.send_json({"id": "s0", "op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]})
        assert (await ws.receive_json(timeout=5))["code"] == "60011"  # log in first
        await ws.send_json(okx.login(secret="wrong"))
        assert (await ws.receive_json(timeout=5))["code"] == "60007"
        await ws.send_json(okx.login())
        assert (await ws.receive_json(timeout=5))["event"] == "login"
        await ws.send_json({"id": "s1", "op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]})
        ack = await ws.receive_json(timeout=5)
        assert ack["event"] == "subscribe" and ack["id"] == "s1"
        bid = sim.exchange.markets["okx"].books["BTC-USDT"].best_bid()
        assert bid is not None
        order = {
            "side": "buy",
            "ordType": "limit",
            "px": str(bid - 3),
            "sz": "0.01",
            "clOrdId": "ws1",
            "tdMode": "cash",
        }
        await ws.send_json({"id": "o1", "op": "order", "args": [{"instId": "BTC-USDT", **order}]})
        refused = await ws.receive_json(timeout=5)
        assert refused["code"] == "1" and refused["data"][0]["sCode"] == "50014"  # instIdCode is required on WS
        await ws.send_json({"id": "o2", "op": "order", "args": [{"instIdCode": 10001, **order}]})
        msgs = [await ws.receive_json(timeout=5) for _ in range(2)]
        answer = next(m for m in msgs if m.get("op") == "order")
        push = next(m for m in msgs if "arg" in m)
        assert answer["id"] == "o2" and answer["code"] == "0" and answer["data"][0]["sCode"] == "0"
        assert push["arg"]["channel"] == "orders" and push["data"][0]["state"] == "live"
        assert push["data"][0]["clOrdId"] == "ws1" and push["data"][0]["ordId"] == answer["data"][0]["ordId"]
        await ws.send_json({"id": "o3", "op": "cancel-order", "args": [{"instIdCode": 10001, "clOrdId": "ws1"}]})
        msgs = [await ws.receive_json(timeout=5) for _ in range(2)]
        push = next(m for m in msgs if "arg" in m)
        assert (push["data"][0]["state"], push["data"][0]["cancelSource"]) == ("canceled", "1")
        await ws.close()


async def test_public_websocket_bbo_and_trades(okx: Okx, sim: Simulator) -> None:
    async with aiohttp.ClientSession() as http:
        okx.http = http
        ws = await okx.ws("public")
        await ws.send_json(
            {
                "op": "subscribe",
                "args": [{"channel": "bbo-tbt", "instId": "ETH-USDT"}, {"channel": "trades", "instId": "ETH-USDT"}],
            }
        )
        seen: list[dict[str, Any]] = []
        while not any(m.get("arg", {}).get("channel") == "bbo-tbt" and "data" in m for m in seen):
            seen.append(await ws.receive_json(timeout=5))
        bbo = next(m for m in seen if "data" in m)["data"][0]
        book = sim.exchange.markets["okx"].books["ETH-USDT"]
        assert D(bbo["bids"][0][0]) == book.best_bid() and D(bbo["asks"][0][0]) == book.best_ask()
        ask = book.best_ask()
        assert ask is not None
        sim.synthetic.print_trade("okx", "ETH-USDT", ask, D("0.01"), Side.BUY)
        while True:
            msg = await ws.receive_json(timeout=5)
            if msg.get("arg", {}).get("channel") == "trades" and "data" in msg:
                break
        trade = msg["data"][0]
        assert (trade["instId"], D(trade["px"]), trade["sz"], trade["side"]) == ("ETH-USDT", ask, "0.01", "buy")
        await ws.send_json({"op": "subscribe", "args": [{"channel": "nope", "instId": "ETH-USDT"}]})
        while True:
            err = await ws.receive_json(timeout=5)
            if err.get("event") == "error":
                break
        assert err["code"] == "60018"
        await ws.close()
