"""Adoption (issue 11): live venue orders whose client ids are under a session's ``adoptPrefix`` and that no
journal knows — the journal that had them was lost — become that session's orders, reported on its update
stream with their venue status and fills. Two execx processes' worth of services share one simulator: the
first places the orders, the second (an empty data dir: a lost journal) adopts them. Orders outside the
prefix, and orders another session of the same execx knows, are never adopted."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_server.app import Service, Settings
from service_helpers import collect, running_execx

KEY = "adopt-key"
AUTH = (("x-api-key", KEY),)
D = Decimal
# venue -> (symbol, exchange, tick, one unit of execx quantity, simulator quantity per execx unit)
VENUES: dict[str, tuple[str, int, Decimal, Decimal, Decimal]] = {
    "binance-spot": ("BTCUSDT", c.EXCHANGE_BINANCE_SPOT, D("0.01"), D("0.001"), D(1)),
    "binance-usdm-future": ("BTCUSDT", c.EXCHANGE_BINANCE_USDM_FUTURE, D("0.1"), D("0.002"), D(1)),
    "bybit-linear": ("BTCUSDT", c.EXCHANGE_BYBIT_LINEAR, D("0.1"), D("0.001"), D(1)),
    "okx": ("BTC-USDT-SWAP", c.EXCHANGE_OKX, D("0.1"), D(1), D("0.01")),
    "deribit": ("BTC-PERPETUAL", c.EXCHANGE_DERIBIT, D("0.5"), D(10), D(1)),
    "pulse": ("BTC_USD-PERPETUAL", c.EXCHANGE_PULSE, D("0.5"), D("0.001"), D(1)),
}


async def _admin(http: Any, base: str, method: str, path: str, **kw: Any) -> Any:
    async with http.request(method, base + path, **kw) as r:
        assert r.status == 200, await r.text()
        return await r.json()


@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_orders_unknown_to_the_journal_are_adopted(venue: str, tmp_path: Path) -> None:
    symbol, exchange, tick, unit, per_unit = VENUES[venue]
    tag = f"{int(time.time() * 1000) % 10**8}"
    prefix = f"adp{tag}"
    async with running_execx(tmp_path / "a", KEY) as (first, http):
        admin = first.ready["sim"]["admin"]
        endpoints = first.ready["sim"]["venues"][venue]
        acct = await _admin(http, admin, "POST", "/admin/accounts", json={})
        keys = c.ExchangeKey(
            api_key=acct["apiKey"],
            secret_key=acct["secretKey"],
            passphrase=acct.get("passphrase", ""),
            exchange=exchange,
        )
        book = await _admin(http, admin, "GET", "/admin/book", params={"market": venue, "symbol": symbol})
        price = (D(book["bids"][0][0]) - 50 * tick).quantize(tick)
        async with grpc.aio.insecure_channel(first.ready["grpc"]) as ch:
            stub = om_grpc.OrderManagerServiceStub(ch)
            await stub.StartOrderHandler(
                om.StartOrderHandlerRequest(session_id=f"s1-{tag}", exchange_key=keys), metadata=AUTH
            )
            placed = {f"{prefix}a": 3 * unit, f"{prefix}b": 2 * unit, f"oth{tag}c": unit}
            for cl, qty in placed.items():
                answer = await stub.SendOrder(
                    om.SendOrderRequest(
                        session_id=f"s1-{tag}",
                        cl_order_id=cl,
                        symbol=symbol,
                        side=c.SIDE_BUY,
                        price=float(price),
                        qty=float(qty),
                        order_type=c.ORDER_TYPE_LIMIT,
                        tif=c.TIME_IN_FORCE_GTC,
                        transaction_type=c.TRANSACTION_TYPE_INSERT,
                    ),
                    metadata=AUTH,
                )
                assert answer.order.order_status == c.ORDER_STATUS_NEW, answer
            # one unit of the first order fills
            trade = {"market": venue, "symbol": symbol, "price": str(price), "qty": str(unit * per_unit)}
            await _admin(http, admin, "POST", "/admin/market/trade", json=trade | {"aggressor": "sell"})
            # a second session of the same execx on the same account: s1's orders are not its to adopt
            await stub.StartOrderHandler(
                om.StartOrderHandlerRequest(session_id=f"s2-{tag}", exchange_key=keys, adopt_prefix=prefix),
                metadata=AUTH,
            )
            await collect(
                stub.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id=f"s1-{tag}", from_seq=1), metadata=AUTH),
                lambda got: any(t.trade_id for t in got),
            )
            listed = await stub.ListOrders(om.ListOrdersRequest(session_id=f"s2-{tag}"), metadata=AUTH)
            assert not listed.orders, "a session adopted orders another session of the same execx knows"

        # a second execx with an empty journal (the first one's was lost), on the same simulator
        second = Service(Settings(key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=tmp_path / "b"))
        await second.start()
        try:
            async with grpc.aio.insecure_channel(second.ready["grpc"]) as ch:
                stub = om_grpc.OrderManagerServiceStub(ch)
                await stub.StartOrderHandler(
                    om.StartOrderHandlerRequest(
                        session_id=f"s3-{tag}",
                        exchange_key=keys,
                        rest_url=endpoints["rest"],
                        ws_url=json.dumps(endpoints),
                        adopt_prefix=prefix,
                    ),
                    metadata=AUTH,
                )
                got = await collect(
                    stub.SubscribeUpdates(
                        om.SubscribeUpdatesRequest(session_id=f"s3-{tag}", from_seq=1), metadata=AUTH
                    ),
                    lambda got: (
                        {t.cl_order_id for t in got} >= {f"{prefix}a", f"{prefix}b"} and any(t.trade_id for t in got)
                    ),
                )
                adopted = {t.cl_order_id for t in got}
                assert adopted == {f"{prefix}a", f"{prefix}b"}, adopted  # never the order outside the prefix
                first_seen = {t.cl_order_id: t for t in reversed(got)}
                for t in first_seen.values():
                    assert t.message.startswith("adopted"), t
                    assert t.exch_order_id, t
                fills = [t for t in got if t.trade_id]
                assert len(fills) == 1 and D(repr(fills[0].executed_qty)) == unit, fills
                orders = await stub.ListOrders(om.ListOrdersRequest(session_id=f"s3-{tag}"), metadata=AUTH)
                by_cl = {o.cl_order_id: o for o in orders.orders}
                assert by_cl[f"{prefix}a"].order_status == c.ORDER_STATUS_PARTIALLY_FILLED
                assert D(repr(by_cl[f"{prefix}a"].cumulative_filled_qty)) == unit
                assert by_cl[f"{prefix}b"].order_status == c.ORDER_STATUS_NEW
                # an adopted order is the session's like any other: it cancels
                answer = await stub.SendOrder(
                    om.SendOrderRequest(
                        session_id=f"s3-{tag}",
                        cl_order_id=f"{prefix}b",
                        symbol=symbol,
                        transaction_type=c.TRANSACTION_TYPE_DELETE,
                    ),
                    metadata=AUTH,
                )
                assert answer.order.order_status in (c.ORDER_STATUS_CANCELLED, c.ORDER_STATUS_PENDING_CANCEL)
        finally:
            await second.stop()
