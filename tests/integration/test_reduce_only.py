"""reduceOnly (an extension of sendOrder) through execx: sent as the venue's flag where execx can send it,
refused before anything is sent where it cannot. Deribit and Pulse: test_service_deribit/pulse.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from jsonrpc_venue_helpers import Svc, check_reduce_only, running_service
from market_helpers import AUTH


@pytest.fixture(scope="module")
async def usdm(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running_service(tmp_path_factory.mktemp("execx-usdm"), c.EXCHANGE_BINANCE_USDM_FUTURE) as s:
        yield s


async def test_binance_futures_sends_reduce_only(usdm: Svc) -> None:
    await check_reduce_only(usdm, "binance-usdm-future", "BTCUSDT", 0.01)


async def test_a_venue_without_it_refuses_before_sending(tmp_path_factory: pytest.TempPathFactory) -> None:
    async with running_service(tmp_path_factory.mktemp("execx-spot"), c.EXCHANGE_BINANCE_SPOT) as spot:
        sid = await spot.new_session()
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await spot.send(
                session_id=sid,
                cl_order_id="r1",
                symbol="BTCUSDT",
                price=90000.0,
                qty=0.001,
                order_type=c.ORDER_TYPE_LIMIT,
                transaction_type=c.TRANSACTION_TYPE_INSERT,
                side=c.SIDE_SELL,
                reduce_only=True,
            )
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert e.value.details() == "reduceOnly: is not supported on binance-spot"
        listed = await spot.om.ListOrders(om.ListOrdersRequest(session_id=sid), metadata=AUTH)
        assert not listed.orders


@pytest.mark.parametrize(
    ("exchange", "venue", "symbol", "qty"),
    [
        (c.EXCHANGE_BYBIT_LINEAR, "bybit-linear", "BTCUSDT", 0.01),
        (c.EXCHANGE_OKX, "okx", "BTC-USDT-SWAP", 1.0),
    ],
)
async def test_bybit_and_okx_send_reduce_only(
    tmp_path_factory: pytest.TempPathFactory, exchange: int, venue: str, symbol: str, qty: float
) -> None:
    async with running_service(tmp_path_factory.mktemp(venue), exchange) as svc:
        await check_reduce_only(svc, venue, symbol, qty)
