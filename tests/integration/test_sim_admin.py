"""The simulator's admin HTTP API over loopback: accounts, balances, market control and faults.

Runs against its own quiet simulator (module scope): these tests move prices, step the synthetic
market and set faults, which must not leak into the shared session simulator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from execx_sim.app import DEFAULT_BALANCES, Simulator
from execx_sim.core.types import OrderType, PublicTrade, Side

D = Decimal
SPOT = "binance-spot"


@pytest.fixture(scope="module")
async def admin_sim() -> AsyncIterator[Simulator]:
    s = Simulator(quiet=True, seed=21)
    await s.start()
    yield s
    await s.stop()


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


class Admin:
    def __init__(self, sim: Simulator, http: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.url = sim.ready["admin"]
        self.http = http

    async def call(
        self, method: str, path: str, body: Any = None, raw: str | None = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"params": params}
        if raw is not None:
            kwargs["data"] = raw
            kwargs["headers"] = {"Content-Type": "application/json"}
        elif body is not None:
            kwargs["json"] = body
        async with self.http.request(method, self.url + path, **kwargs) as resp:
            assert resp.content_type == "application/json"
            return resp.status, await resp.json()

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, data = await self.call(method, path, body, **kw)
        assert status == 200, data
        return data

    async def bad(self, method: str, path: str, body: Any = None, **kw: Any) -> str:
        status, data = await self.call(method, path, body, **kw)
        assert status == 400, data
        assert set(data) == {"error"}
        error = data["error"]
        assert isinstance(error, str)
        return error


@pytest.fixture
def admin(admin_sim: Simulator, http: aiohttp.ClientSession) -> Admin:
    return Admin(admin_sim, http)


def free(sim: Simulator, api_key: str, market: str, asset: str) -> Decimal:
    acct = sim.exchange.account_by_key(api_key)
    assert acct is not None
    return acct.wallet(market).balance(asset).free


# ---------------------------------------------------------------------- accounts and balances


async def test_create_account_with_default_balances(admin: Admin) -> None:
    data = await admin.ok("POST", "/admin/accounts", {})
    assert set(data) == {"accountId", "apiKey", "secretKey", "passphrase"}
    assert len(data["apiKey"]) >= 32 and len(data["secretKey"]) >= 32
    for market, assets in DEFAULT_BALANCES.items():
        for asset, amount in assets.items():
            assert free(admin.sim, data["apiKey"], market, asset) == D(amount)


async def test_create_account_with_chosen_keys_and_balances(admin: Admin) -> None:
    body = {
        "apiKey": "admin-test-key",
        "secretKey": "admin-test-secret",
        "balances": {SPOT: {"USDT": "123.45", "BTC": 0.5}, "binance-coinm-future": {"ETH": "7"}},
    }
    data = await admin.ok("POST", "/admin/accounts", body)
    assert (data["apiKey"], data["secretKey"]) == ("admin-test-key", "admin-test-secret")
    assert free(admin.sim, "admin-test-key", SPOT, "USDT") == D("123.45")
    assert free(admin.sim, "admin-test-key", SPOT, "BTC") == D("0.5")
    assert free(admin.sim, "admin-test-key", SPOT, "ETH") == 0  # no defaults when balances are given
    assert free(admin.sim, "admin-test-key", "binance-coinm-future", "ETH") == D("7")
    assert free(admin.sim, "admin-test-key", "binance-usdm-future", "USDT") == 0

    error = await admin.bad("POST", "/admin/accounts", {"apiKey": "admin-test-key"})
    assert "already exists" in error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"balances": [1, 2]}, "balances"),
        ({"balances": {"nowhere": {"USDT": "1"}}}, "market"),
        ({"balances": {SPOT: {"USDT": "lots"}}}, "amount"),
        ({"balances": {SPOT: "USDT"}}, "balances"),
        ({"apiKey": 12}, "apiKey"),
    ],
)
async def test_create_account_bad_input(admin: Admin, body: dict[str, Any], field: str) -> None:
    assert field in await admin.bad("POST", "/admin/accounts", body)


async def test_set_balance(admin: Admin) -> None:
    acct = await admin.ok("POST", "/admin/accounts", {})
    await admin.ok(
        "POST",
        "/admin/balances",
        {"apiKey": acct["apiKey"], "market": "binance-usdm-future", "asset": "USDT", "amount": "42.5"},
    )
    assert free(admin.sim, acct["apiKey"], "binance-usdm-future", "USDT") == D("42.5")
    await admin.ok("POST", "/admin/balances", {"apiKey": acct["apiKey"], "market": SPOT, "asset": "DOGE", "amount": 3})
    assert free(admin.sim, acct["apiKey"], SPOT, "DOGE") == D("3")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"apiKey": None}, "apiKey"),
        ({"apiKey": "nobody"}, "apiKey"),
        ({"market": None}, "market"),
        ({"market": "binance-moon"}, "market"),
        ({"asset": None}, "asset"),
        ({"asset": ""}, "asset"),
        ({"amount": None}, "amount"),
        ({"amount": "1,5"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "-Infinity"}, "amount"),
        ({"amount": [1]}, "amount"),
    ],
)
async def test_set_balance_bad_input(admin: Admin, change: dict[str, Any], field: str) -> None:
    body = {"apiKey": "execx-demo-api-key", "market": SPOT, "asset": "USDT", "amount": "1", **change}
    body = {k: v for k, v in body.items() if v is not None}
    assert field in await admin.bad("POST", "/admin/balances", body)
    assert free(admin.sim, "execx-demo-api-key", SPOT, "USDT") == D(DEFAULT_BALANCES[SPOT]["USDT"])


async def test_body_must_be_a_json_object(admin: Admin) -> None:
    assert "JSON" in await admin.bad("POST", "/admin/balances", raw="{not json")
    assert "object" in await admin.bad("POST", "/admin/balances", raw="[1, 2]")


# ---------------------------------------------------------------------- market control


async def test_state_and_book(admin: Admin) -> None:
    state = await admin.ok("GET", "/admin/state")
    assert state["paused"] is True
    assert set(state["markets"]) == set(admin.sim.exchange.markets)  # every registered venue market
    assert {SPOT, "binance-usdm-future", "binance-coinm-future"} <= set(state["markets"])
    assert set(state["faults"]) == set(state["markets"])
    book = await admin.ok("GET", "/admin/book", params={"market": SPOT, "symbol": "ETHUSDT", "limit": "3"})
    assert len(book["bids"]) == len(book["asks"]) == 3
    assert D(book["bids"][0][0]) < D(state["markets"][SPOT]["ETHUSDT"]["mid"]) < D(book["asks"][0][0])


async def test_book_bad_input(admin: Admin) -> None:
    assert "symbol" in await admin.bad("GET", "/admin/book", params={"market": SPOT, "symbol": "NOPE"})
    assert "market" in await admin.bad("GET", "/admin/book", params={"symbol": "ETHUSDT"})
    assert "limit" in await admin.bad("GET", "/admin/book", params={"market": SPOT, "symbol": "ETHUSDT", "limit": "x"})


async def test_move_market(admin: Admin) -> None:
    await admin.ok("POST", "/admin/market/move", {"market": SPOT, "symbol": "SOLUSDT", "price": "200"})
    book = await admin.ok("GET", "/admin/book", params={"market": SPOT, "symbol": "SOLUSDT", "limit": "1"})
    bid, ask = D(book["bids"][0][0]), D(book["asks"][0][0])
    assert bid < 200 < ask and (bid + ask) / 2 == 200
    state = await admin.ok("GET", "/admin/state")
    assert D(state["markets"][SPOT]["SOLUSDT"]["mid"]) == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"symbol": "SOLUSDT", "price": "1"}, "market"),
        ({"market": SPOT, "price": "1"}, "symbol"),
        ({"market": SPOT, "symbol": "SOLUSDT"}, "price"),
        ({"market": SPOT, "symbol": "SOLUSDT", "price": "abc"}, "price"),
        ({"market": SPOT, "symbol": "SOLUSDT", "price": "-5"}, "price"),
        ({"market": SPOT, "symbol": "SOLUSDT", "price": 0}, "price"),
        ({"market": SPOT, "symbol": "DOGEUSDT", "price": "1"}, "DOGEUSDT"),
    ],
)
async def test_move_bad_input(admin: Admin, body: dict[str, Any], field: str) -> None:
    assert field in await admin.bad("POST", "/admin/market/move", body)


async def test_print_trade(admin: Admin) -> None:
    seen: list[PublicTrade] = []
    unsubscribe = admin.sim.exchange.subscribe(lambda e: seen.append(e) if isinstance(e, PublicTrade) else None)
    try:
        await admin.ok(
            "POST",
            "/admin/market/trade",
            {
                "market": "binance-usdm-future",
                "symbol": "ETHUSDT",
                "price": "3401.5",
                "qty": "0.25",
                "aggressor": "sell",
            },
        )
    finally:
        unsubscribe()
    assert [(t.market, t.symbol, t.price, t.qty, t.taker_side.value) for t in seen] == [
        ("binance-usdm-future", "ETHUSDT", D("3401.5"), D("0.25"), "SELL")
    ]
    state = await admin.ok("GET", "/admin/state")
    assert D(state["markets"]["binance-usdm-future"]["ETHUSDT"]["last"]) == D("3401.5")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"aggressor": "up"}, "aggressor"),
        ({"aggressor": None}, "aggressor"),
        ({"qty": None}, "qty"),
        ({"qty": "-1"}, "qty"),
        ({"qty": "0"}, "qty"),
        ({"price": "x"}, "price"),
        ({"symbol": "XYZ"}, "XYZ"),
    ],
)
async def test_print_trade_bad_input(admin: Admin, change: dict[str, Any], field: str) -> None:
    body = {"market": SPOT, "symbol": "BNBUSDT", "price": "650", "qty": "1", "aggressor": "BUY", **change}
    body = {k: v for k, v in body.items() if v is not None}
    assert field in await admin.bad("POST", "/admin/market/trade", body)


async def test_pause_resume_step(admin: Admin) -> None:
    synthetic = admin.sim.synthetic
    try:
        assert await admin.ok("POST", "/admin/market/resume") == {"paused": False}
        assert synthetic.paused is False
        assert (await admin.ok("GET", "/admin/state"))["paused"] is False
    finally:
        assert await admin.ok("POST", "/admin/market/pause") == {"paused": True}
    assert synthetic.paused is True

    before = {k: f.mid for k, f in synthetic.flows.items()}
    await admin.ok("POST", "/admin/market/step", {"steps": 3})
    after = {k: f.mid for k, f in synthetic.flows.items()}
    assert all(after[k] != before[k] for k in before)
    await admin.ok("POST", "/admin/market/step")  # one step by default


@pytest.mark.parametrize("steps", ["abc", -1, 1.5, 100_000, None])
async def test_step_bad_input(admin: Admin, steps: Any) -> None:
    assert "steps" in await admin.bad("POST", "/admin/market/step", {"steps": steps})


# ---------------------------------------------------------------------- faults


async def test_faults_get_set_reset(admin: Admin) -> None:
    initial = await admin.ok("GET", "/admin/faults/binance-usdm-future")
    assert initial["http_5xx"] == 0 and initial["latency_ms"] == 0 and initial["silent"] is False
    try:
        snap = await admin.ok(
            "POST",
            "/admin/faults/binance-usdm-future",
            {"http_5xx": 2, "latency_ms": "1.5", "reject_orders": 1, "silent_s": 30},
        )
        assert (snap["http_5xx"], snap["latency_ms"], snap["reject_orders"], snap["silent"]) == (2, 1.5, 1, True)
        assert admin.sim.faults["binance-usdm-future"].http_5xx == 2
        assert (await admin.ok("GET", "/admin/faults/binance-spot"))["http_5xx"] == 0  # per venue
    finally:
        reset = await admin.ok("DELETE", "/admin/faults/binance-usdm-future")
    assert reset == initial


async def test_faults_drop_keeps_generation(admin: Admin) -> None:
    before = (await admin.ok("GET", "/admin/faults/binance-spot"))["drop_generation"]
    dropped = await admin.ok("POST", "/admin/faults/binance-spot/drop")
    assert dropped == {"dropped": 0}
    await admin.ok("DELETE", "/admin/faults/binance-spot")
    assert (await admin.ok("GET", "/admin/faults/binance-spot"))["drop_generation"] == before + 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"http_5xx": "many"}, "http_5xx"),
        ({"latency_ms": "slow"}, "latency_ms"),
        ({"_extra": {}}, "_extra"),
        ({"silent_s": "x"}, "silent_s"),
        ({"http_5xx": -1}, "http_5xx"),
    ],
)
async def test_faults_bad_input(admin: Admin, body: dict[str, Any], field: str) -> None:
    try:
        assert field in await admin.bad("POST", "/admin/faults/binance-spot", body)
    finally:
        await admin.ok("DELETE", "/admin/faults/binance-spot")


async def test_faults_unknown_venue(admin: Admin) -> None:
    assert "binance-moon" in await admin.bad("GET", "/admin/faults/binance-moon")
    assert "binance-moon" in await admin.bad("POST", "/admin/faults/binance-moon", {"http_5xx": 1})


async def test_rate_limits_can_be_raised_and_exchange_info_reports_them(admin_sim: Simulator) -> None:
    admin = admin_sim.ready["admin"]
    rest = admin_sim.ready["venues"]["binance-spot"]["rest"]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{admin}/admin/ratelimits/binance-spot", json={"ORDERS": 0}) as r:
            assert r.status == 400 and "ORDERS" in (await r.json())["error"]
        async with http.post(f"{admin}/admin/ratelimits/binance-spot", json={"BOGUS": 1}) as r:
            assert r.status == 400 and "BOGUS" in (await r.json())["error"]
        async with http.post(f"{admin}/admin/ratelimits/nowhere", json={"ORDERS": 1}) as r:
            assert r.status == 400
        async with http.post(f"{admin}/admin/ratelimits/binance-spot", json={"ORDERS": 123456, "enabled": True}) as r:
            assert r.status == 200
        async with http.get(f"{rest}/api/v3/exchangeInfo") as r:
            info = await r.json()
        orders = [lim["limit"] for lim in info["rateLimits"] if lim["rateLimitType"] == "ORDERS"]
        assert orders and all(n == 123456 for n in orders)
        async with http.get(f"{admin}/admin/ratelimits/binance-spot") as r:
            assert (await r.json())["enabled"] is True


# ---------------------------------------------------------------------- history (venue-side truth)


async def test_history_lists_the_accounts_orders_and_fills(admin: Admin) -> None:
    """Orders placed through the engine (open, partially filled, cancelled, a market taker), a printed trade
    that fills a resting order: the history lists exactly this account's orders and fills, nobody else's."""
    created = await admin.ok("POST", "/admin/accounts", {})
    other = await admin.ok("POST", "/admin/accounts", {})
    market = admin.sim.exchange.markets["binance-usdm-future"]
    acct = admin.sim.exchange.account_by_key(created["apiKey"])
    stranger = admin.sim.exchange.account_by_key(other["apiKey"])
    assert acct is not None and stranger is not None
    mid = market.mark_price("ETHUSDT")
    rest_px = (mid - 20).quantize(D("0.01"))
    resting = market.place(acct, "ETHUSDT", Side.BUY, OrderType.LIMIT, D("1"), rest_px, client_id="h-rest")
    gone = market.place(acct, "ETHUSDT", Side.BUY, OrderType.LIMIT, D("0.5"), rest_px - 5, client_id="h-gone")
    market.cancel(acct, "ETHUSDT", gone.order_id)
    taker = market.place(acct, "ETHUSDT", Side.BUY, OrderType.MARKET, D("0.3"), client_id="h-take")
    market.place(stranger, "ETHUSDT", Side.BUY, OrderType.LIMIT, D("1"), rest_px, client_id="h-other")
    await admin.ok(
        "POST",
        "/admin/market/trade",
        {
            "market": "binance-usdm-future",
            "symbol": "ETHUSDT",
            "price": str(rest_px),
            "qty": "0.4",
            "aggressor": "sell",
        },
    )
    hist = await admin.ok(
        "GET", "/admin/history", params={"apiKey": created["apiKey"], "market": "binance-usdm-future"}
    )
    orders = {o["clientOrderId"]: o for o in hist["orders"]}
    assert set(orders) == {"h-rest", "h-gone", "h-take"}
    rest = orders["h-rest"]
    assert (rest["orderId"], rest["symbol"], rest["side"], rest["status"]) == (
        str(resting.order_id),
        "ETHUSDT",
        "buy",
        "PARTIALLY_FILLED",
    )
    assert (D(rest["qty"]), D(rest["filledQty"]), D(rest["price"])) == (D("1"), D("0.4"), rest_px)
    assert orders["h-gone"]["status"] == "CANCELED" and D(orders["h-gone"]["filledQty"]) == 0
    assert orders["h-take"]["status"] == "FILLED" and orders["h-take"]["price"] is None
    by_order: dict[str, D] = {}
    for t in hist["trades"]:
        assert t["venueTradeId"] == t["tradeId"]  # Binance sends the number
        assert t["clientOrderId"] == orders[t["clientOrderId"]]["clientOrderId"]
        assert t["orderId"] == orders[t["clientOrderId"]]["orderId"]
        by_order[t["clientOrderId"]] = by_order.get(t["clientOrderId"], D(0)) + D(t["qty"])
    assert by_order == {"h-rest": D("0.4"), "h-take": D("0.3")}
    assert len({t["tradeId"] for t in hist["trades"]}) == len(hist["trades"])
    assert str(taker.order_id) in {t["orderId"] for t in hist["trades"]}


async def test_history_bybit_trade_ids_are_its_exec_ids(admin: Admin) -> None:
    """Bybit's wire names a fill by ``execId``, a UUID (order id in the high 64 bits, trade number low)."""
    created = await admin.ok("POST", "/admin/accounts", {})
    market = admin.sim.exchange.markets["bybit-linear"]
    acct = admin.sim.exchange.account_by_key(created["apiKey"])
    assert acct is not None
    order = market.place(acct, "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.01"), client_id="h-bybit")
    hist = await admin.ok("GET", "/admin/history", params={"apiKey": created["apiKey"], "market": "bybit-linear"})
    assert [o["clientOrderId"] for o in hist["orders"]] == ["h-bybit"] and hist["trades"]
    for t in hist["trades"]:
        assert t["venueTradeId"] == str(uuid.UUID(int=(order.order_id << 64) | int(t["tradeId"])))


async def test_history_bad_input(admin: Admin) -> None:
    created = await admin.ok("POST", "/admin/accounts", {})
    assert "apiKey" in await admin.bad("GET", "/admin/history", params={"apiKey": "nobody", "market": SPOT})
    assert "market" in await admin.bad("GET", "/admin/history", params={"apiKey": created["apiKey"]})
    assert "moon" in await admin.bad("GET", "/admin/history", params={"apiKey": created["apiKey"], "market": "moon"})


async def test_history_names_deribit_and_pulse_orders_by_label(admin: Admin) -> None:
    """Deribit and Pulse identify a client's order by its ``label``: the history's clientOrderId is the label."""
    created = await admin.ok("POST", "/admin/accounts", {})
    for venue, symbol in (("deribit", "BTC-PERPETUAL"), ("pulse", "BTC_USD-PERPETUAL")):
        market = admin.sim.exchange.markets[venue]
        acct = admin.sim.exchange.account_by_key(created["apiKey"])
        assert acct is not None
        lot = market.instruments[symbol].lot
        market.place(acct, symbol, Side.BUY, OrderType.MARKET, lot, client_id="engine-7", extra={"label": "lbl7"})
        hist = await admin.ok("GET", "/admin/history", params={"apiKey": created["apiKey"], "market": venue})
        assert [o["clientOrderId"] for o in hist["orders"]] == ["lbl7"]
        assert hist["trades"] and {t["clientOrderId"] for t in hist["trades"]} == {"lbl7"}


async def test_ids_continue_after_the_given_ones_never_backwards(admin: Admin) -> None:
    """POST /admin/ids: a restarted simulator continues its numbering (a venue never reuses an id)."""
    created = await admin.ok("POST", "/admin/accounts", {})
    market = admin.sim.exchange.markets["binance-usdm-future"]
    acct = admin.sim.exchange.account_by_key(created["apiKey"])
    assert acct is not None
    before = market.place(acct, "ETHUSDT", Side.BUY, OrderType.MARKET, D("0.1"), client_id="ids-0")
    last_trade = max(f.trade_id for f in market.account_trades(acct))
    body = {"market": "binance-usdm-future", "orderId": before.order_id + 1000, "tradeId": last_trade + 5000}
    await admin.ok("POST", "/admin/ids", body)
    after = market.place(acct, "ETHUSDT", Side.BUY, OrderType.MARKET, D("0.1"), client_id="ids-1")
    assert after.order_id == before.order_id + 1001
    assert min(f.trade_id for f in market.account_trades(acct) if f.order_id == after.order_id) == last_trade + 5001
    await admin.ok("POST", "/admin/ids", {"market": "binance-usdm-future", "orderId": 1, "tradeId": 1})
    again = market.place(acct, "ETHUSDT", Side.BUY, OrderType.MARKET, D("0.1"), client_id="ids-2")
    assert again.order_id == after.order_id + 1  # never backwards
    assert "orderId" in await admin.bad("POST", "/admin/ids", {"market": "binance-usdm-future", "orderId": -1})
