"""SmartOrderService's account views (GetBalances, GetOpenPositions, GetOpenOrders; docs/accounts.md) on every
venue value, against the simulator's own account state (its admin API ``/admin/account``): after a fill (fees
charged) and with an order resting, every asset's total, locked and available and every position's size,
entry price, unrealised PnL and leverage equal what the simulator holds. Over gRPC and over the REST
gateway (seed 003's shapes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import waiting
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import smart_order_pb2 as so
from execx.v1 import smart_order_pb2_grpc as so_grpc
from execx_sim.venues.okx.instruments import OKX_INSTRUMENTS
from market_helpers import AUTH, KEY, Svc, running, uid
from test_grid_trader import CASES as GRID_CASES

D = Decimal

# venue, symbol, mid, a price step well inside the venue's bands, quantity: the grid tests' venue cases
CASES = GRID_CASES
BYBIT = ["bybit-spot", "bybit-linear", "bybit-inverse", "bybit-option"]  # one unified account
# venues whose "available" includes the positions' unrealised PnL (margin available for new orders)
AVAILABLE_WITH_UPNL = {"binance-usdm-future", "binance-coinm-future", "deribit", "pulse"}
# the simulator books OKX linear swaps in the base coin; the venue (and execx) count contracts of ctVal
OKX_CT_VAL = {i.inst_id: i.ct_val for i in OKX_INSTRUMENTS if i.inst_id.endswith("-USDT-SWAP")}
DERIVATIVE = {"binance-usdm-future", "binance-coinm-future", "bybit-linear", "bybit-inverse", "bybit-option", "deribit"}


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running(tmp_path_factory.mktemp("execx-accounts"), 120) as s:
        yield s


def approx(value: Decimal | str) -> Any:
    return pytest.approx(float(D(value)), rel=1e-9, abs=1e-8)


async def truth(svc: Svc, api_key: str) -> dict[str, Any]:
    async with svc.http.get(f"{svc.admin}/admin/account", params={"apiKey": api_key}) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


def expected_balances(state: dict[str, Any], venue: str) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    """asset -> (total, available, locked) by docs/accounts.md's rule, from the simulator's wallets."""
    total: dict[str, Decimal] = {}
    held: dict[str, Decimal] = {}
    upnl: dict[str, Decimal] = {}
    for market in BYBIT if venue in BYBIT else [venue]:
        wallet = state.get(market, {"balances": {}, "positions": {}})
        for asset, b in wallet["balances"].items():
            total[asset] = total.get(asset, D(0)) + D(b["free"]) + D(b["locked"])
            held[asset] = held.get(asset, D(0)) + D(b["locked"]) + D(b["orderMargin"])
        for p in wallet["positions"].values():
            asset = p["marginAsset"]
            held[asset] = held.get(asset, D(0)) + D(p["initialMargin"])
            upnl[asset] = upnl.get(asset, D(0)) + D(p["unrealizedPnl"])
    out = {}
    for asset in total.keys() | held.keys():
        t, h = total.get(asset, D(0)), held.get(asset, D(0))
        if t or h:
            extra = upnl.get(asset, D(0)) if venue in AVAILABLE_WITH_UPNL else D(0)
            out[asset] = (t, t - h + extra, h)
    return out


def entry_of(answer: Any, venue: str, sid: str) -> Any:
    """The map entry of this session: the exchange's key, or ``EXCHANGE/sessionId`` beside other sessions."""
    for key, value in answer.items():
        if key in (venue.upper(), f"{venue.upper()}/{sid}"):
            return value
    raise AssertionError(f"no entry for {venue} in {list(answer)}")


async def _is(status: Any, want: int) -> bool:
    return bool(await status == want)


async def send(svc: Svc, sid: str, symbol: str, price: Decimal, qty: float, tif: int) -> str:
    cl = uid("acct")
    await svc.om.SendOrder(
        om.SendOrderRequest(
            cl_order_id=cl,
            symbol=symbol,
            session_id=sid,
            price=float(price),
            qty=qty,
            order_type=c.ORDER_TYPE_LIMIT,
            transaction_type=c.TRANSACTION_TYPE_INSERT,
            tif=tif,
            side=c.SIDE_BUY,
        ),
        metadata=AUTH,
    )
    return cl


@pytest.mark.parametrize("case", CASES, ids=[f"{x[0]}-{x[1]}" for x in CASES])
async def test_balances_positions_and_open_orders_equal_the_simulators_account(svc: Svc, case: tuple[Any, ...]) -> None:
    venue, symbol, mid, step, qty = case
    acct = await svc.admin_post("/admin/accounts", {})
    sid = await svc.session(venue, acct)
    stub = so_grpc.SmartOrderServiceStub(svc.channel)
    try:
        await svc.move(venue, symbol, mid)
        taker = await send(svc, sid, symbol, mid + 2 * step, qty, c.TIME_IN_FORCE_IOC)  # crosses the ask
        resting = await send(svc, sid, symbol, mid - 2 * step, qty, c.TIME_IN_FORCE_GTC)

        async def filled() -> bool:
            got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=taker), metadata=AUTH)
            return bool(got.order.order_status == c.ORDER_STATUS_FILLED)

        await waiting.eventually(filled, f"{taker} filled", 15)

        async def resting_new() -> bool:
            got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=resting), metadata=AUTH)
            return bool(got.order.order_status == c.ORDER_STATUS_NEW)

        await waiting.eventually(resting_new, f"{resting} resting", 15)
        await svc.admin_post("/admin/market/pause", {})  # the mark stays put between the two reads
        try:
            balances = await stub.GetBalances(so.GetBalancesRequest(), metadata=AUTH)
            positions = await stub.GetOpenPositions(so.GetOpenPositionsRequest(), metadata=AUTH)
            state = await truth(svc, acct["apiKey"])
        finally:
            await svc.admin_post("/admin/market/resume", {})

        want = expected_balances(state, venue)
        got = {b.asset_id_exchange: b for b in entry_of(balances.balances, venue, sid).balances}
        assert set(got) == set(want), (got, want)
        for asset, (total, available, locked) in want.items():
            assert (got[asset].balance, got[asset].available, got[asset].locked) == (
                approx(total),
                approx(available),
                approx(locked),
            ), asset
            assert got[asset].last_updated_by == "EXCHANGE"

        sim_positions = state.get(venue, {}).get("positions", {})
        mine = entry_of(positions.positions, venue, sid).positions
        if venue in DERIVATIVE or symbol.endswith("SWAP") or venue == "pulse":
            assert symbol in sim_positions, "the fill opened a position at the simulator"
            assert len(mine) == len(sim_positions)
            (pos,) = [p for p in mine if p.symbol_id_exchange == symbol]
            p = sim_positions[symbol]
            assert pos.side == "BUY" and pos.quantity == approx(D(p["qty"]) / OKX_CT_VAL.get(symbol, D(1)))
            assert pos.avg_entry_price == approx(p["entryPrice"])
            assert pos.unrealized_pnl == pytest.approx(float(D(p["unrealizedPnl"])), rel=1e-6, abs=1e-8)
            if venue != "bybit-option":  # Bybit gives options no leverage
                assert pos.leverage == p["leverage"]
            assert pos.symbol_id_coinapi == f"{venue.upper()}_{symbol}"
            assert pos.raw_data.startswith("{")
        else:
            assert list(mine) == []

        orders = await stub.GetOpenOrders(so.GetOpenOrdersRequest(), metadata=AUTH)
        (order,) = entry_of(orders.orders, venue, sid).orders
        assert (order.id, order.status, order.side, order.order_type) == (resting, "NEW", "BUY", "LIMIT")
        assert (order.amount_order, order.amount_open, order.amount_filled) == (qty, qty, 0)
        assert order.time_in_force == "GOOD_TILL_CANCEL" and order.exchange_id == venue.upper()
    finally:
        await svc.om.StopOrderHandler(
            om.StopOrderHandlerRequest(session_id=sid, cancel_open_orders=True), metadata=AUTH
        )


async def test_rest_gateway_writes_seed_003_shapes(svc: Svc) -> None:
    """GET /v1/sor/balances, /positions and /orders: each exchange maps to a bare array (seed 003)."""
    acct = await svc.admin_post("/admin/accounts", {})
    sid = await svc.session("binance-usdm-future", acct)
    try:
        await svc.move("binance-usdm-future", "BTCUSDT", D("97000"))
        taker = await send(svc, sid, "BTCUSDT", D("98000"), 0.002, c.TIME_IN_FORCE_IOC)

        async def filled() -> bool:
            got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=taker), metadata=AUTH)
            return bool(got.order.order_status == c.ORDER_STATUS_FILLED)

        await waiting.eventually(filled, "the taker filled", 15)
        resting = await send(svc, sid, "BTCUSDT", D("96000"), 0.004, c.TIME_IN_FORCE_GTC)

        async def status_of(cl: str) -> int:
            got = await svc.om.GetOrder(om.GetOrderRequest(session_id=sid, cl_order_id=cl), metadata=AUTH)
            return int(got.order.order_status)

        await waiting.eventually(lambda: _is(status_of(resting), c.ORDER_STATUS_NEW), "the buy resting", 15)
        await svc.trade("binance-usdm-future", "BTCUSDT", D("96000"), D("0.002"), "sell")  # half of it fills
        await waiting.eventually(
            lambda: _is(status_of(resting), c.ORDER_STATUS_PARTIALLY_FILLED), "the buy half filled", 15
        )
        headers = {"x-api-key": KEY}
        out = {}
        for what in ("balances", "positions", "orders"):
            async with svc.http.get(f"{svc.rest}/v1/sor/{what}", headers=headers) as r:
                assert r.status == 200, await r.text()
                out[what] = await r.json()
        usdt = next(b for b in out["balances"]["BINANCE-USDM-FUTURE"] if b["asset_id_exchange"] == "USDT")
        assert set(usdt) >= {"balance", "available", "locked", "last_updated_by", "asset_id_coinapi"}
        (pos,) = out["positions"]["BINANCE-USDM-FUTURE"]
        assert pos["symbol_id_exchange"] == "BTCUSDT" and pos["side"] == "BUY" and pos["quantity"] == 0.004
        assert {"avg_entry_price", "unrealized_pnl", "leverage", "liquidation_price", "raw_data"} <= set(pos)
        (order,) = out["orders"]["BINANCE-USDM-FUTURE"]
        assert (order["id"], order["status"], order["amount_open"], order["amount_filled"]) == (
            resting,
            "PARTIALLY_FILLED",
            0.002,
            0.002,
        )
        # seed 003 writes each status change as a [status, time] pair
        assert [h[0] for h in order["status_history"]] == ["ROUTING", "NEW", "PARTIALLY_FILLED"]
        assert all(h[1].endswith("Z") for h in order["status_history"])
        (fill,) = order["fills"]
        assert (fill["amountFilled"], fill["price"], fill["exchange"]) == (0.002, 96000, "binance-usdm-future")
        async with svc.http.get(f"{svc.rest}/v1/sor/balances") as r:
            assert r.status == 401
    finally:
        await svc.om.StopOrderHandler(om.StopOrderHandlerRequest(session_id=sid), metadata=AUTH)
