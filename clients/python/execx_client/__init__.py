"""An asyncio client of execx over gRPC: what a Python strategy imports.

    async with ExecxClient("127.0.0.1:35028", key="K") as x:
        await x.start_session("alpha", "binance-spot", api_key, secret_key)
        async for update in x.updates("alpha", from_seq=1):
            ...
        ack = await x.insert("alpha", "cl-1", "BTCUSDT", "buy", qty=0.001, price=90000.0)

Strings are the EXECX wire strings ("binance-spot", "limit", "postonly", "gtc", "buy"...); they are
mapped to the proto enums through the ``json_value`` option, like the REST shim does. Orders go
over the bidirectional OrderEntry stream (lower latency than unary calls); errors raise
``ExecxError`` with the gRPC status code and message.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import grpc
from execx.v1 import common_pb2, options_pb2, order_manager_pb2, order_manager_pb2_grpc

__all__ = ["ExecxClient", "ExecxError"]


def _enum(desc: Any) -> dict[str, Any]:
    ext: Any = options_pb2.json_value
    return {v.GetOptions().Extensions[ext]: v.number for v in desc.values if v.GetOptions().HasExtension(ext)}


EXCHANGE = _enum(common_pb2.Exchange.DESCRIPTOR)
ORDER_TYPE = _enum(common_pb2.OrderType.DESCRIPTOR)
TIF = _enum(common_pb2.TimeInForce.DESCRIPTOR)
SIDE = _enum(common_pb2.Side.DESCRIPTOR)
TX = _enum(common_pb2.TransactionType.DESCRIPTOR)
STATUS_NAME = {n: s for s, n in _enum(common_pb2.OrderStatus.DESCRIPTOR).items()}


class ExecxError(Exception):
    def __init__(self, code: grpc.StatusCode | int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ExecxClient:
    def __init__(self, target: str, key: str) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._md = (("x-api-key", key),)
        self.stub: Any = order_manager_pb2_grpc.OrderManagerServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._entry: Any = None
        self._pending: dict[int, asyncio.Future[order_manager_pb2.OrderEntryResponse]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ExecxClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._entry is not None:
            await self._entry.done_writing()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._channel.close()

    async def start_session(
        self,
        session_id: str,
        exchange: str,
        api_key: str,
        secret_key: str,
        passphrase: str = "",
        rest_url: str = "",
        ws_url: str = "",
    ) -> None:
        try:
            await self.stub.StartOrderHandler(
                order_manager_pb2.StartOrderHandlerRequest(
                    session_id=session_id,
                    rest_url=rest_url,
                    ws_url=ws_url,
                    exchange_key=common_pb2.ExchangeKey(
                        api_key=api_key, secret_key=secret_key, passphrase=passphrase, exchange=EXCHANGE[exchange]
                    ),
                ),
                metadata=self._md,
            )
        except grpc.aio.AioRpcError as e:
            raise ExecxError(e.code(), e.details() or "") from None

    async def _send(self, req: order_manager_pb2.SendOrderRequest) -> common_pb2.OrderTransaction:
        if self._entry is None:
            self._entry = self.stub.OrderEntry(metadata=self._md)
            self._reader = asyncio.create_task(self._read())
        rid = next(self._ids)
        fut: asyncio.Future[order_manager_pb2.OrderEntryResponse] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        await self._entry.write(order_manager_pb2.OrderEntryRequest(request_id=rid, order=req))
        resp = await fut
        if resp.status.code != 0:
            raise ExecxError(resp.status.code, resp.status.message)
        return resp.order

    async def _read(self) -> None:
        try:
            async for resp in self._entry:
                fut = self._pending.pop(resp.request_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(resp)
        except grpc.aio.AioRpcError as e:
            for fut in self._pending.values():
                fut.set_exception(ExecxError(e.code(), e.details() or ""))
            self._pending.clear()

    async def insert(
        self,
        session_id: str,
        cl_order_id: str,
        symbol: str,
        side: str,
        qty: float,
        price: float | None = None,
        order_type: str = "limit",
        tif: str = "gtc",
    ) -> common_pb2.OrderTransaction:
        req = order_manager_pb2.SendOrderRequest(
            session_id=session_id,
            cl_order_id=cl_order_id,
            symbol=symbol,
            qty=qty,
            side=SIDE[side],
            order_type=ORDER_TYPE[order_type],
            tif=TIF[tif],
            transaction_type=TX["insert"],
        )
        if price is not None:
            req.price = price
        return await self._send(req)

    async def amend(
        self, session_id: str, cl_order_id: str, qty: float | None = None, price: float | None = None
    ) -> common_pb2.OrderTransaction:
        req = order_manager_pb2.SendOrderRequest(
            session_id=session_id, cl_order_id=cl_order_id, transaction_type=TX["update"]
        )
        if qty is not None:
            req.qty = qty
        if price is not None:
            req.price = price
        return await self._send(req)

    async def cancel(self, session_id: str, cl_order_id: str) -> common_pb2.OrderTransaction:
        return await self._send(
            order_manager_pb2.SendOrderRequest(
                session_id=session_id, cl_order_id=cl_order_id, transaction_type=TX["delete"]
            )
        )

    async def pull(self, session_id: str, symbol: str) -> common_pb2.OrderTransaction:
        return await self._send(
            order_manager_pb2.SendOrderRequest(session_id=session_id, symbol=symbol, transaction_type=TX["pull"])
        )

    async def updates(self, session_id: str, from_seq: int | None = None) -> AsyncIterator[common_pb2.OrderTransaction]:
        """Every order update of the session (replayed from ``from_seq`` if given), forever."""
        req = order_manager_pb2.SubscribeUpdatesRequest(session_id=session_id)
        if from_seq is not None:
            req.from_seq = from_seq
        try:
            async for msg in self.stub.SubscribeUpdates(req, metadata=self._md):
                yield msg.transaction
        except grpc.aio.AioRpcError as e:
            raise ExecxError(e.code(), e.details() or "") from None

    @staticmethod
    def status(t: common_pb2.OrderTransaction) -> str:
        return STATUS_NAME.get(t.order_status, "")
