"""``ExecxClient``: the whole execx.v1 API over one gRPC channel, with streams that heal.

Every call sends the service key, takes a ``timeout`` (seconds; the client's default otherwise) and waits
for execx to be reachable within it (gRPC ``wait_for_ready``), so a call made while execx restarts
succeeds once it is back. Every failure is an ``ExecxError`` whose ``code`` is a ``grpc.StatusCode``.
Results are the frozen dataclasses of ``execx_client.types``; enum inputs are the wire strings in any
case ("BUY", "binance-spot", "postonly").

Orders (``insert``, ``amend``, ``cancel``, ``pull``) travel over one bidirectional ``OrderEntry`` stream. If
it breaks (network drop, execx restart), the client opens a new one with backoff and sends again every
request still waiting for its answer: inserts are idempotent by clOrderId, so a resent insert answers
the one order; a resent cancel that finds its order already cancelled answers that order.

The update streams (``updates``, ``positions``, ``market_data``, ``smart_orders``) reconnect with backoff
on their own. ``updates`` resumes from the sequence number after the last one it delivered: no gap, no
duplicate. ``on_reconnect`` is called each time a stream resumes; ``connection_state()`` and
``connection_states()`` show the channel's state.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from execx.v1 import (
    common_pb2,
    contingent_order_pb2,
    contingent_order_pb2_grpc,
    dip_buyer_pb2,
    dip_buyer_pb2_grpc,
    grid_trader_pb2,
    grid_trader_pb2_grpc,
    market_data_pb2,
    market_data_pb2_grpc,
    order_manager_pb2,
    order_manager_pb2_grpc,
    position_manager_pb2,
    position_manager_pb2_grpc,
    smart_order_pb2,
    smart_order_pb2_grpc,
    trigger_manager_pb2,
    trigger_manager_pb2_grpc,
)
from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message

from . import types as t
from .convert import enum_number, result, result_as, status_code
from .errors import ExecxError
from .tls_probe import TlsOptions, refusal

__all__ = ["ExecxClient", "OrderRequest", "Update", "channel_credentials"]

T = TypeVar("T")
Update = t.OrderTransaction | t.RiskEvent | t.AlgorithmEvent | t.ContingentEvent
# a stream that fails with one of these is resumed; any other code ends it with ExecxError
_RESUMABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.RESOURCE_EXHAUSTED,  # a subscriber that fell behind: resubscribe from its last seq
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
_STATES = {
    grpc.ChannelConnectivity.IDLE: "idle",
    grpc.ChannelConnectivity.CONNECTING: "connecting",
    grpc.ChannelConnectivity.READY: "ready",
    grpc.ChannelConnectivity.TRANSIENT_FAILURE: "transient_failure",
    grpc.ChannelConnectivity.SHUTDOWN: "shutdown",
}


def _enum(desc: EnumDescriptor, value: str, field: str) -> Any:
    return enum_number(desc, value, field)


def _error(e: BaseException) -> ExecxError:
    if isinstance(e, ExecxError):
        return e
    if isinstance(e, grpc.aio.AioRpcError):
        return ExecxError(e.code(), e.details() or "")
    return ExecxError(grpc.StatusCode.UNAVAILABLE, f"the call failed: {e!r}")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order transaction (the seed's ``sendorder``), for ``batch_send`` and ``set_trigger``.
    ``transaction_type``: insert, update, delete or pull; strings in any case."""

    session_id: str
    cl_order_id: str = ""
    symbol: str = ""
    side: str = ""
    qty: float | None = None
    price: float | None = None
    order_type: str = "limit"
    tif: str = "gtc"
    transaction_type: str = "insert"
    reduce_only: bool = False
    # contingent orders (issue 20): stop, takeprofit or trailingstop, held by execx until triggered
    trigger_kind: str = ""
    trigger_price: float | None = None
    trigger_reference: str = ""  # last, mark or index
    trailing_amount: float | None = None
    trailing_percent: float | None = None
    emulate: bool = False  # held by execx even where the venue could hold it (a group: any leg's flag)

    def to_proto(self) -> order_manager_pb2.SendOrderRequest:
        tx = _enum(common_pb2.TransactionType.DESCRIPTOR, self.transaction_type, "transactionType")
        req = order_manager_pb2.SendOrderRequest(
            session_id=self.session_id,
            cl_order_id=self.cl_order_id,
            symbol=self.symbol,
            transaction_type=tx,
            reduce_only=self.reduce_only,
            emulate=self.emulate,
        )
        if tx == common_pb2.TRANSACTION_TYPE_INSERT:
            req.side = _enum(common_pb2.Side.DESCRIPTOR, self.side, "side")
            req.order_type = _enum(common_pb2.OrderType.DESCRIPTOR, self.order_type, "orderType")
            req.tif = _enum(common_pb2.TimeInForce.DESCRIPTOR, self.tif, "tif")
        elif self.side:
            req.side = _enum(common_pb2.Side.DESCRIPTOR, self.side, "side")
        if self.trigger_kind:
            req.trigger_kind = _enum(order_manager_pb2.TriggerKind.DESCRIPTOR, self.trigger_kind, "triggerKind")
        if self.trigger_reference:
            req.trigger_reference = _enum(
                order_manager_pb2.TriggerReference.DESCRIPTOR, self.trigger_reference, "triggerReference"
            )
        for name in ("qty", "price", "trigger_price", "trailing_amount", "trailing_percent"):
            if getattr(self, name) is not None:
                setattr(req, name, getattr(self, name))
        return req


class _Backoff:
    """Exponential backoff with jitter, from ``first`` to ``cap`` seconds; ``reset`` after a success."""

    def __init__(self, first: float, cap: float) -> None:
        self.first, self.cap, self.delay = first, cap, first

    async def wait(self) -> None:
        await asyncio.sleep(self.delay * (0.5 + random.random() / 2))
        self.delay = min(self.cap, self.delay * 2)

    def reset(self) -> None:
        self.delay = self.first


@dataclass
class _Pending:
    request: order_manager_pb2.SendOrderRequest
    answer: asyncio.Future[order_manager_pb2.OrderEntryResponse]
    resent: bool = False
    call: Any = None  # the stream it was last written on


class _OrderEntry:
    """The client's one ``OrderEntry`` stream: opened on first use, reopened with backoff when it breaks,
    every unanswered request sent again on the new stream."""

    def __init__(self, client: ExecxClient) -> None:
        self._client = client
        self._call: Any = None
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        # one write at a time: gRPC refuses a second send on a call while one is in flight (TOO_MANY_OPERATIONS),
        # which fails the whole stream
        self._writing = asyncio.Lock()
        # with order_batch: the requests made while a write is in flight, sent together right after it
        self._outbox: deque[tuple[int, _Pending]] = deque()
        self._flushing = False
        self.messages = 0  # OrderEntry messages written

    def _open(self) -> Any:
        if self._call is None:
            self._call = self._client._om.OrderEntry(metadata=self._client._md, wait_for_ready=True)
            task = asyncio.get_running_loop().create_task(self._read(self._call))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return self._call

    async def _write(self, rid: int, pending: _Pending) -> None:
        batch = self._client.order_batch
        if batch <= 1:
            await self._write_message([(rid, pending)], 0)
            return
        # batching: written at once when no write is in flight, else by the writer in flight right after its
        # own, together with the others made meanwhile (never held back waiting for more)
        self._outbox.append((rid, pending))
        if not self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        batch = self._client.order_batch
        self._flushing = True
        try:
            while self._outbox:
                items = [self._outbox.popleft() for _ in range(min(batch, len(self._outbox)))]
                await self._write_message(items, batch)
        finally:
            self._flushing = False
            # the writer gave up (its own request timed out): the requests it was to send get another writer
            if any(not p.answer.done() for _, p in self._outbox):
                task = asyncio.get_running_loop().create_task(self._flush())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _write_message(self, items: list[tuple[int, _Pending]], max_batch: int) -> None:
        """One OrderEntry message carrying ``items`` (one request, or several in ``batch``); ``max_batch``
        asks execx to coalesce its answers likewise (0: not asked)."""
        if len(items) == 1:
            rid, pending = items[0]
            msg = order_manager_pb2.OrderEntryRequest(request_id=rid, order=pending.request, max_batch=max_batch)
        else:
            msg = order_manager_pb2.OrderEntryRequest(max_batch=max_batch)
            msg.batch.extend(order_manager_pb2.OrderEntryRequest(request_id=r, order=p.request) for r, p in items)
        while True:
            call = self._open()
            try:
                async with self._writing:
                    await call.write(msg)
                self.messages += 1
                for _, pending in items:
                    pending.call = call
                return
            except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError):
                if self._call is call:
                    return  # the reader sees the broken stream and sends these requests again
                # the stream was replaced while we wrote: write on the new one

    async def send(self, req: order_manager_pb2.SendOrderRequest, timeout: float) -> t.OrderTransaction:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            return await self._send(req, timeout)
        except ExecxError as e:
            # execx restarted and the session waits to be started again: do it, send once more
            if e.code != grpc.StatusCode.FAILED_PRECONDITION or "is detached" not in e.message:
                raise
            left = deadline - loop.time()
            if left <= 0 or not await self._client._reattach(req.session_id, left):
                raise
            return await self._send(req, deadline - loop.time())

    async def _send(self, req: order_manager_pb2.SendOrderRequest, timeout: float) -> t.OrderTransaction:
        rid = next(self._ids)
        pending = _Pending(req, asyncio.get_running_loop().create_future())
        self._pending[rid] = pending
        try:
            async with asyncio.timeout(timeout):
                await self._client._connect_or_refused(None)  # a TLS refusal named at once, not a timeout
                await self._write(rid, pending)
                resp = await pending.answer
        except TimeoutError:
            raise ExecxError(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"no answer from execx within {timeout} s (OrderEntry)"
            ) from None
        except grpc.aio.UsageError as e:
            raise ExecxError(grpc.StatusCode.CANCELLED, f"the client is closed: {e}") from None
        finally:
            self._pending.pop(rid, None)
        if resp.status.code == 0:
            return result_as(t.OrderTransaction, resp.order)
        code = status_code(resp.status.code)
        if (
            pending.resent
            and req.transaction_type == common_pb2.TRANSACTION_TYPE_DELETE
            and code == grpc.StatusCode.FAILED_PRECONDITION
        ):
            # the cancel sent before the stream broke did its work: answer the cancelled order
            order = await self._client.get_order(req.session_id, req.cl_order_id, timeout=timeout)
            if order.order_status in ("cancelled", "filled", "expired", "rejected"):
                return order
        raise ExecxError(code, resp.status.message)

    async def _read(self, call: Any) -> None:
        try:
            async for msg in call:
                for resp in msg.batch if len(msg.batch) else (msg,):  # several answers in one (order_batch)
                    pending = self._pending.get(resp.request_id)
                    if pending is not None and not pending.answer.done():
                        pending.answer.set_result(resp)
            code, details = grpc.StatusCode.UNAVAILABLE, "execx ended the OrderEntry stream"  # it is stopping
        except grpc.aio.AioRpcError as e:
            code, details = e.code(), e.details() or ""
        if self._call is call:
            self._call = None
        if code not in _RESUMABLE:
            err = ExecxError(code, details)
            for pending in self._pending.values():
                if not pending.answer.done():
                    pending.answer.set_exception(err)
            return
        await self._resend()

    async def _resend(self) -> None:
        """Send the requests still waiting for an answer that were written on a broken stream again, on
        the current stream (opened here unless a new request opened it meanwhile); the sessions they
        belong to are started again first (a no-op re-attach unless execx restarted). A new stream waits
        for execx (wait_for_ready), so this runs once per broken stream, never in a hot loop."""
        if not self._pending:
            return
        await self._client._backoff().wait()
        # not answered, and not known to be on the current stream (a write still in progress when the
        # stream broke may never finish: sent again; twice on one stream is harmless, the first answer wins)
        stale = [
            (rid, p)
            for rid, p in self._pending.items()
            if not p.answer.done() and (p.call is None or p.call is not self._call)
        ]
        if not stale:
            return
        self._client._reconnected("orderEntry", 0)
        for session_id in {p.request.session_id for _, p in stale}:
            try:
                await self._client._reattach(session_id, self._client.timeout)
            except ExecxError:
                break  # execx is not back yet: the new stream's reader finds out and resends
        call = self._open()
        for rid, pending in stale:
            pending.resent = True
            batch = self._client.order_batch if self._client.order_batch > 1 else 0  # a new stream: asked again
            try:
                async with self._writing:
                    await call.write(
                        order_manager_pb2.OrderEntryRequest(request_id=rid, order=pending.request, max_batch=batch)
                    )
                self.messages += 1
                pending.call = call
            except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError):
                break  # that stream broke too: its reader resends

    async def close(self) -> None:
        call, self._call = self._call, None
        if call is not None:
            call.cancel()
        for pending in self._pending.values():
            if not pending.answer.done():
                pending.answer.set_exception(ExecxError(grpc.StatusCode.CANCELLED, "the client is closed"))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _pem(source: str | Path | bytes | None) -> bytes | None:
    if source is None or isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


def channel_credentials(
    tls: bool | None = None,
    ca: str | Path | bytes | None = None,
    cert: str | Path | bytes | None = None,
    key: str | Path | bytes | None = None,
    server_name: str | None = None,
) -> grpc.ChannelCredentials | None:
    """The TLS credentials of a channel to execx, or None for plaintext (``tls`` False, or None and no
    TLS option given). ``ca``, ``cert`` and ``key`` are PEM files' paths or PEM bytes; ``cert`` and
    ``key`` (mTLS) go together. An unreadable file raises ``OSError``."""
    wanted = tls if tls is not None else any(v for v in (ca, cert, key, server_name))
    if (cert is None) != (key is None):
        raise ExecxError(grpc.StatusCode.INVALID_ARGUMENT, "tls_cert and tls_key: a client certificate needs both")
    if not wanted:
        if any(v for v in (ca, cert, key, server_name)):
            raise ExecxError(grpc.StatusCode.INVALID_ARGUMENT, "tls=False with TLS options")
        return None
    return grpc.ssl_channel_credentials(root_certificates=_pem(ca), private_key=_pem(key), certificate_chain=_pem(cert))


class ExecxClient:
    """An asyncio client of one execx (``target`` "host:port" of its gRPC port).

    ``key`` is execx's service key (default: the ``EXECX_KEY`` environment variable); ``timeout`` the
    default per-call timeout in seconds; ``backoff`` the first and the longest wait between two
    reconnection attempts of a stream; ``on_reconnect(stream, from_seq)`` is called each time a stream
    resumes. Use as ``async with ExecxClient(...) as x:`` or call ``close()``.

    TLS (execx started with ``--tlsCert``): ``tls_ca`` is the CA bundle that signed execx's certificate
    (a PEM file's path, or the PEM itself as bytes); ``tls_cert`` and ``tls_key`` a client certificate and
    its private key for mTLS (``--tlsClientCa``); ``tls_server_name`` the name execx's certificate is
    checked against when it is not the host of ``target``. Any of them turns TLS on; ``tls=True`` alone
    uses the system's trusted CAs. Without them the channel is plaintext (loopback).

    ``order_batch`` (above 1): orders made while the OrderEntry stream is writing go together in its next
    message (``batch``, up to this many), and execx is asked to send its answers the same way (``maxBatch``):
    fewer gRPC messages per order under load; an order is never held back waiting for more. 0 (the default):
    one message per order. ``order_entry_messages()`` counts the messages written."""

    def __init__(
        self,
        target: str = "127.0.0.1:35028",
        key: str | None = None,
        *,
        timeout: float = 10.0,
        backoff: tuple[float, float] = (0.05, 2.0),
        on_reconnect: Callable[[str, int], None] | None = None,
        tls: bool | None = None,
        tls_ca: str | Path | bytes | None = None,
        tls_cert: str | Path | bytes | None = None,
        tls_key: str | Path | bytes | None = None,
        tls_server_name: str | None = None,
        order_batch: int = 0,
    ) -> None:
        key = key if key is not None else os.environ.get("EXECX_KEY", "")
        if not key:
            raise ExecxError(grpc.StatusCode.UNAUTHENTICATED, "no service key: pass key= or set EXECX_KEY")
        first_ms = max(1, int(backoff[0] * 1000))
        cap_ms = max(first_ms, int(backoff[1] * 1000))
        options: list[tuple[str, Any]] = [  # the channel's own reconnection, as quick as the streams'
            ("grpc.initial_reconnect_backoff_ms", first_ms),
            ("grpc.min_reconnect_backoff_ms", first_ms),
            ("grpc.max_reconnect_backoff_ms", cap_ms),
        ]
        creds = channel_credentials(tls, tls_ca, tls_cert, tls_key, tls_server_name)
        if creds is None:
            self._channel = grpc.aio.insecure_channel(target, options=options)
        else:
            if tls_server_name:
                options.append(("grpc.ssl_target_name_override", tls_server_name))
            self._channel = grpc.aio.secure_channel(target, creds, options=options)
        self.target = target
        self._tls = TlsOptions(creds is not None, tls_ca, tls_cert, tls_key, tls_server_name)
        self._probed: tuple[float, str | None] = (-1e9, None)  # (loop time, reason) of the last TLS probe
        self.timeout = timeout
        self.on_reconnect = on_reconnect
        self.reconnects = 0  # how many times a stream of this client resumed
        if not 0 <= order_batch <= 1000:
            raise ExecxError(grpc.StatusCode.INVALID_ARGUMENT, f"order_batch: 0 to 1000, got {order_batch}")
        self.order_batch = order_batch
        self._backoff_s = backoff
        self._md = (("x-api-key", key),)
        ch = self._channel
        self._om: Any = order_manager_pb2_grpc.OrderManagerServiceStub(ch)  # type: ignore[no-untyped-call]
        self._md_svc: Any = market_data_pb2_grpc.MarketDataServiceStub(ch)  # type: ignore[no-untyped-call]
        self._pm: Any = position_manager_pb2_grpc.PositionManagerServiceStub(ch)  # type: ignore[no-untyped-call]
        self._tm: Any = trigger_manager_pb2_grpc.TriggerManagerServiceStub(ch)  # type: ignore[no-untyped-call]
        self._dip: Any = dip_buyer_pb2_grpc.DipBuyerServiceStub(ch)  # type: ignore[no-untyped-call]
        self._grid: Any = grid_trader_pb2_grpc.GridTraderServiceStub(ch)  # type: ignore[no-untyped-call]
        self._sor: Any = smart_order_pb2_grpc.SmartOrderServiceStub(ch)  # type: ignore[no-untyped-call]
        self._co: Any = contingent_order_pb2_grpc.ContingentOrderServiceStub(ch)  # type: ignore[no-untyped-call]
        self._entry = _OrderEntry(self)
        self._sessions: dict[str, order_manager_pb2.StartOrderHandlerRequest] = {}

    async def __aenter__(self) -> ExecxClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the order stream and the channel (open update streams end with CANCELLED)."""
        await self._entry.close()
        await self._channel.close()

    # ------------------------------------------------------------------ plumbing

    def _backoff(self) -> _Backoff:
        return _Backoff(*self._backoff_s)

    def _reconnected(self, stream: str, from_seq: int) -> None:
        self.reconnects += 1
        if self.on_reconnect is not None:
            self.on_reconnect(stream, from_seq)

    async def _call(self, method: Any, request: Message, timeout: float | None, *, retry: bool = True) -> Any:
        """One unary call within ``timeout``. A call the connection dropped under (UNAVAILABLE) is made
        again until then when doing it twice is doing it once (queries, inserts by clOrderId, a session
        start re-attaches, a cancel-all or kill switch twice is the same); ``retry=False`` for one that
        is not (starting an algorithm or arming a trigger twice is ALREADY_EXISTS, a smart order without
        an id would start twice): its UNAVAILABLE reaches the caller, who can ask what became of it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        backoff = self._backoff()
        while True:
            await self._connect_or_refused(deadline)
            try:
                return await method(
                    request, metadata=self._md, timeout=max(0.0, deadline - loop.time()), wait_for_ready=True
                )
            except grpc.aio.AioRpcError as e:
                if not retry or e.code() != grpc.StatusCode.UNAVAILABLE or loop.time() + backoff.delay >= deadline:
                    raise _error(e) from None
            except grpc.aio.UsageError as e:  # the client was closed
                raise ExecxError(grpc.StatusCode.CANCELLED, f"the client is closed: {e}") from None
            await backoff.wait()

    async def _connect_or_refused(self, deadline: float | None) -> None:
        """Nothing while the channel is ready. Otherwise wait until it is, or until ``deadline`` (loop time;
        None: no limit), as a call with ``wait_for_ready`` does, except that a channel failing because of TLS
        raises UNAVAILABLE at once with the cause: each time the channel fails, a probe with Python's ssl
        module (``tls_probe``, at most one a second) names it (execx's certificate not trusted or not naming
        the host, a client certificate refused under mTLS, plaintext against TLS or the reverse)."""
        channel = self._channel
        state = channel.get_state(try_to_connect=True)
        loop = asyncio.get_running_loop()
        while state not in (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.SHUTDOWN):
            if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                at, reason = self._probed
                if loop.time() - at >= 1.0:
                    reason = await refusal(self.target, self._tls)
                    self._probed = (loop.time(), reason)
                if reason is not None:
                    raise ExecxError(grpc.StatusCode.UNAVAILABLE, reason)
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return  # the call itself answers DEADLINE_EXCEEDED
            try:
                # a failed channel retries on its own backoff; re-check at least every second
                await asyncio.wait_for(channel.wait_for_state_change(state), min(1.0, left or 1.0))
            except TimeoutError:
                pass
            state = channel.get_state(try_to_connect=True)

    def order_entry_messages(self) -> int:
        """How many OrderEntry messages this client has written (with ``order_batch``: fewer than its orders
        under load)."""
        return self._entry.messages

    def connection_state(self) -> str:
        """The channel's state: idle, connecting, ready, transient_failure or shutdown."""
        return _STATES[self._channel.get_state(try_to_connect=False)]

    async def connection_states(self) -> AsyncIterator[str]:
        """The channel's state now, then each change, until the client is closed."""
        state = self._channel.get_state(try_to_connect=True)
        while True:
            yield _STATES[state]
            if state == grpc.ChannelConnectivity.SHUTDOWN:
                return
            await self._channel.wait_for_state_change(state)
            state = self._channel.get_state(try_to_connect=False)

    async def _stream(
        self, name: str, open_call: Callable[[int | None], Any], seq_of: Callable[[Any], int] | None, start: int | None
    ) -> AsyncIterator[Any]:
        """Messages of a server stream, reopened with backoff on a resumable failure or end. With
        ``seq_of``: resumed from the sequence number after the last one delivered, older ones skipped."""
        last = None if start is None else start - 1
        backoff = self._backoff()
        first = True
        while True:
            if not first:
                self._reconnected(name, 0 if last is None else last + 1)
            first = False
            await self._connect_or_refused(None)  # a TLS refusal ends the stream (UNAVAILABLE naming it)
            try:
                call = open_call(None if last is None else last + 1)
            except grpc.aio.UsageError as e:
                raise ExecxError(grpc.StatusCode.CANCELLED, f"the client is closed: {e}") from None
            try:
                async for msg in call:
                    backoff.reset()
                    if seq_of is not None:
                        seq = seq_of(msg)
                        if last is not None and seq <= last:
                            continue  # already delivered before the stream broke
                        last = seq
                    yield msg
            except grpc.aio.AioRpcError as e:
                if e.code() not in _RESUMABLE:
                    raise _error(e) from None
            finally:
                call.cancel()
            await backoff.wait()

    # ------------------------------------------------------------------ sessions

    async def start_session(
        self,
        session_id: str,
        exchange: str,
        api_key: str,
        secret_key: str,
        passphrase: str = "",
        *,
        rest_url: str = "",
        ws_url: str = "",
        interface: str = "",
        use_margin: bool = False,
        cancel_on_disconnect: bool = False,
        cancel_on_disconnect_grace_ms: int = 0,
        risk_limits: t.RiskLimits | None = None,
        adopt_prefix: str = "",
        account_ref: str | None = None,
        timeout: float | None = None,
    ) -> str:
        """StartOrderHandler: open (or, with the same keys, re-attach to) an order session; its id.
        ``account_ref``: an account of execx's credential store instead of the keys (pass "" for them)."""
        req = order_manager_pb2.StartOrderHandlerRequest(
            session_id=session_id,
            rest_url=rest_url,
            ws_url=ws_url,
            interface=interface,
            use_margin=use_margin,
            cancel_on_disconnect=cancel_on_disconnect,
            cancel_on_disconnect_grace_ms=cancel_on_disconnect_grace_ms,
            adopt_prefix=adopt_prefix,
            exchange_key=common_pb2.ExchangeKey(
                api_key=api_key,
                secret_key=secret_key,
                passphrase=passphrase,
                exchange=_enum(common_pb2.Exchange.DESCRIPTOR, exchange, "exchangeKey.exchange"),
            ),
        )
        if risk_limits is not None:
            req.risk_limits.CopyFrom(_risk_limits(risk_limits))
        if account_ref is not None:
            req.exchange_key.account_ref = account_ref
        resp = await self._call(self._om.StartOrderHandler, req, timeout)
        self._sessions[session_id] = req  # to re-attach after an execx restart (keys kept in memory only)
        return str(resp.session_id)

    async def _reattach(self, session_id: str, timeout: float) -> bool:
        """Start a session this client started again with the same request: after an execx restart
        it resumes the detached session, on a live one it is a no-op re-attach. False: not ours."""
        req = self._sessions.get(session_id)
        if req is None:
            return False
        again = order_manager_pb2.StartOrderHandlerRequest()
        again.CopyFrom(req)
        again.ClearField("risk_limits")  # execx keeps the session's own (they may have changed since)
        again.adopt_prefix = ""  # adoption was done once
        req = again
        await self._call(self._om.StartOrderHandler, req, timeout)
        self._reconnected("session", 0)
        return True

    async def stop_session(
        self, session_id: str, cancel_open_orders: bool = False, *, timeout: float | None = None
    ) -> int:
        """StopOrderHandler: close the session's venue connections; how many orders it cancelled."""
        self._sessions.pop(session_id, None)
        req = order_manager_pb2.StopOrderHandlerRequest(session_id=session_id, cancel_open_orders=cancel_open_orders)
        return int((await self._call(self._om.StopOrderHandler, req, timeout)).cancelled_orders)

    async def list_sessions(self, *, timeout: float | None = None) -> list[t.SessionInfo]:
        """ListSessions: every session execx knows (live, detached after a restart, stopped)."""
        resp = await self._call(self._om.ListSessions, order_manager_pb2.ListSessionsRequest(), timeout)
        return [result_as(t.SessionInfo, s) for s in resp.sessions]

    async def set_log_level(self, level: str, *, timeout: float | None = None) -> str:
        """SetLogLevel: debug, info, warn, error (any case); the level now in force."""
        req = order_manager_pb2.SetLogLevelRequest(log_level=_enum(common_pb2.LogLevel.DESCRIPTOR, level, "logLevel"))
        return result_as(t.SetLogLevelResponse, await self._call(self._om.SetLogLevel, req, timeout)).log_level

    # ------------------------------------------------------------------ orders

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
        *,
        reduce_only: bool = False,
        trigger_kind: str = "",
        trigger_price: float | None = None,
        trigger_reference: str = "",
        trailing_amount: float | None = None,
        trailing_percent: float | None = None,
        emulate: bool = False,
        timeout: float | None = None,
    ) -> t.OrderTransaction:
        """A new order (over the OrderEntry stream); its first update (pendingnew, new, filled, rejected…;
        ``pendingtrigger`` for a contingent order: ``trigger_kind`` stop, takeprofit or trailingstop;
        ``emulate``: held by execx even where the venue could hold it)."""
        req = OrderRequest(
            session_id, cl_order_id, symbol, side, qty, price, order_type, tif, "insert", reduce_only,
            trigger_kind, trigger_price, trigger_reference, trailing_amount, trailing_percent, emulate,
        )  # fmt: skip
        return await self._entry.send(req.to_proto(), self._timeout(timeout))

    async def amend(
        self,
        session_id: str,
        cl_order_id: str,
        qty: float | None = None,
        price: float | None = None,
        *,
        timeout: float | None = None,
    ) -> t.OrderTransaction:
        """Amend an open order's quantity and/or price (transaction ``update``)."""
        req = OrderRequest(session_id, cl_order_id, qty=qty, price=price, transaction_type="update")
        return await self._entry.send(req.to_proto(), self._timeout(timeout))

    async def cancel(self, session_id: str, cl_order_id: str, *, timeout: float | None = None) -> t.OrderTransaction:
        """Cancel an order (transaction ``delete``)."""
        req = OrderRequest(session_id, cl_order_id, transaction_type="delete")
        return await self._entry.send(req.to_proto(), self._timeout(timeout))

    async def pull(self, session_id: str, symbol: str, *, timeout: float | None = None) -> t.OrderTransaction:
        """Cancel every open order of the session on ``symbol`` (transaction ``pull``)."""
        req = OrderRequest(session_id, symbol=symbol, transaction_type="pull")
        return await self._entry.send(req.to_proto(), self._timeout(timeout))

    async def send_order(self, order: OrderRequest, *, timeout: float | None = None) -> t.OrderTransaction:
        """Any order transaction as one unary SendOrder call (the REST shim's path)."""
        resp = await self._call(self._om.SendOrder, order.to_proto(), timeout)
        return result_as(t.OrderTransaction, resp.order)

    async def batch_send(
        self, orders: Sequence[OrderRequest], *, timeout: float | None = None
    ) -> list[t.BatchSendOrdersResult]:
        """BatchSendOrders: one result per order, in order (``status.code`` OK or that order's error)."""
        req = order_manager_pb2.BatchSendOrdersRequest(orders=[o.to_proto() for o in orders])
        resp = await self._call(self._om.BatchSendOrders, req, timeout)
        return [result_as(t.BatchSendOrdersResult, r) for r in resp.results]

    async def cancel_all(self, session_id: str, symbol: str = "", *, timeout: float | None = None) -> list[str]:
        """CancelAllOrders: cancel the session's open orders (on ``symbol``, or all); the clOrderIds."""
        req = order_manager_pb2.CancelAllOrdersRequest(session_id=session_id, symbol=symbol)
        return list((await self._call(self._om.CancelAllOrders, req, timeout)).cl_order_ids)

    async def refresh_orders(
        self, session_id: str, cl_order_ids: Sequence[str], *, timeout: float | None = None
    ) -> list[t.OrderTransaction]:
        """RefreshOrders: ask the venue for these orders' state now; their updated orders."""
        req = order_manager_pb2.RefreshOrdersRequest(
            session_id=session_id, transactions=[common_pb2.OrderTransaction(cl_order_id=c) for c in cl_order_ids]
        )
        resp = await self._call(self._om.RefreshOrders, req, timeout)
        return [result_as(t.OrderTransaction, o) for o in resp.orders]

    async def get_order(self, session_id: str, cl_order_id: str, *, timeout: float | None = None) -> t.OrderTransaction:
        """GetOrder: the order's latest state."""
        req = order_manager_pb2.GetOrderRequest(session_id=session_id, cl_order_id=cl_order_id)
        return result_as(t.OrderTransaction, (await self._call(self._om.GetOrder, req, timeout)).order)

    async def list_orders(
        self,
        session_id: str,
        symbol: str = "",
        *,
        open_only: bool = False,
        limit: int = 0,
        timeout: float | None = None,
    ) -> list[t.OrderTransaction]:
        """ListOrders: the session's orders (``open_only``, on ``symbol``, at most ``limit``; 0 = no limit)."""
        req = order_manager_pb2.ListOrdersRequest(
            session_id=session_id, symbol=symbol, open_only=open_only, limit=limit
        )
        return [result_as(t.OrderTransaction, o) for o in (await self._call(self._om.ListOrders, req, timeout)).orders]

    async def list_fills(
        self, session_id: str, symbol: str = "", *, after_seq: int = 0, limit: int = 0, timeout: float | None = None
    ) -> list[t.Fill]:
        """ListFills: the session's fills, oldest first, after sequence number ``after_seq``."""
        req = order_manager_pb2.ListFillsRequest(session_id=session_id, symbol=symbol, after_seq=after_seq, limit=limit)
        return [result_as(t.Fill, f) for f in (await self._call(self._om.ListFills, req, timeout)).fills]

    def _timeout(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    # ------------------------------------------------------------------ positions and risk

    async def get_position(
        self, session_id: str, symbol: str, exchange: str = "", *, timeout: float | None = None
    ) -> float:
        """GetPosition: the session's position on ``symbol`` (signed: negative is short)."""
        req = order_manager_pb2.GetPositionRequest(session_id=session_id, symbol=symbol)
        if exchange:
            req.exchange = _enum(common_pb2.Exchange.DESCRIPTOR, exchange, "exchange")
        return float((await self._call(self._om.GetPosition, req, timeout)).position)

    async def set_risk_limits(
        self, session_id: str, limits: t.RiskLimits, *, timeout: float | None = None
    ) -> t.RiskLimits | None:
        """SetRiskLimits: replace the session's pre-trade limits (a field left None: no limit)."""
        req = order_manager_pb2.SetRiskLimitsRequest(session_id=session_id, limits=_risk_limits(limits))
        return result_as(t.SetRiskLimitsResponse, await self._call(self._om.SetRiskLimits, req, timeout)).limits

    async def get_risk_limits(self, session_id: str, *, timeout: float | None = None) -> t.GetRiskLimitsResponse:
        """GetRiskLimits: the session's limits and kill-switch state."""
        req = order_manager_pb2.GetRiskLimitsRequest(session_id=session_id)
        return result_as(t.GetRiskLimitsResponse, await self._call(self._om.GetRiskLimits, req, timeout))

    async def engage_kill_switch(self, session_id: str, reason: str = "", *, timeout: float | None = None) -> list[str]:
        """EngageKillSwitch (``session_id`` or "all"): pull every open order, refuse inserts; the ids pulled."""
        req = order_manager_pb2.EngageKillSwitchRequest(session_id=session_id, reason=reason)
        return list((await self._call(self._om.EngageKillSwitch, req, timeout)).cl_order_ids)

    async def release_kill_switch(self, session_id: str, *, timeout: float | None = None) -> None:
        """ReleaseKillSwitch (``session_id`` or "all")."""
        req = order_manager_pb2.ReleaseKillSwitchRequest(session_id=session_id)
        await self._call(self._om.ReleaseKillSwitch, req, timeout)

    async def list_audit_records(
        self,
        *,
        from_time: int = 0,
        to_time: int = 0,
        key_id: str = "",
        method: str = "",
        session_id: str = "",
        outcome: str = "",
        unauthenticated: bool = False,
        after_id: int = 0,
        limit: int = 0,
        timeout: float | None = None,
    ) -> list[t.AuditRecord]:
        """ListAuditRecords (admin key): the audited calls, oldest first; times in nanoseconds since the epoch,
        ``method`` a full gRPC name or just its name; page with ``after_id`` (the last id of a page)."""
        req = order_manager_pb2.ListAuditRecordsRequest(
            from_time=from_time,
            to_time=to_time,
            key_id=key_id,
            method=method,
            session_id=session_id,
            outcome=outcome,
            unauthenticated=unauthenticated,
            after_id=after_id,
            limit=limit,
        )
        resp = await self._call(self._om.ListAuditRecords, req, timeout)
        return [result_as(t.AuditRecord, r) for r in resp.records]

    # ------------------------------------------------------------------ streams

    async def updates(
        self, session_id: str, from_seq: int | None = None, *, algorithm_events: bool = False
    ) -> AsyncIterator[Update]:
        """Every update of the session, forever: ``OrderTransaction`` (orders and fills), ``RiskEvent``,
        and with ``algorithm_events`` ``AlgorithmEvent``. From ``from_seq`` (replayed from the journal),
        else from the moment the iteration starts. Resumes after a drop or an execx restart from the next
        sequence number."""
        if from_seq is None:
            sessions = {s.session_id: s for s in await self.list_sessions()}
            if session_id not in sessions:
                raise ExecxError(grpc.StatusCode.NOT_FOUND, f"session {session_id!r} does not exist")
            from_seq = sessions[session_id].last_seq + 1

        def open_call(seq: int | None) -> Any:
            req = order_manager_pb2.SubscribeUpdatesRequest(
                session_id=session_id, algorithm_events=algorithm_events, max_batch=UPDATES_BATCH
            )
            if seq is not None:
                req.from_seq = seq
            return _Unbatched(self._om.SubscribeUpdates(req, metadata=self._md, wait_for_ready=True))

        async for msg in self._stream("updates", open_call, _update_seq, from_seq):
            kind = next((k for k in _UPDATE_KINDS if msg.HasField(k)), "transaction")
            yield result(getattr(msg, kind))

    async def positions(self, session_id: str) -> AsyncIterator[t.SubscribePositionsResponse]:
        """SubscribePositions: the session's positions now, then each change (``positions`` per symbol,
        ``seq``). Resubscribes after a drop (a fresh snapshot; nothing older than delivered)."""

        def open_call(_: int | None) -> Any:
            req = order_manager_pb2.SubscribePositionsRequest(session_id=session_id)
            return self._om.SubscribePositions(req, metadata=self._md, wait_for_ready=True)

        async for msg in self._stream("positions", open_call, lambda m: int(m.seq), None):
            yield result_as(t.SubscribePositionsResponse, msg)

    async def market_data(
        self, exchange: str, symbol: str, *, quotes: bool = True, trades: bool = True
    ) -> AsyncIterator[t.SubscribeMarketDataResponse]:
        """SubscribeMarketData: best bid/ask (``quote``), trades (``trade``) and feed status (``status``)
        of one symbol; resubscribes after a drop."""
        req = market_data_pb2.SubscribeMarketDataRequest(
            **_where(exchange, symbol),
            no_quotes=not quotes,
            no_trades=not trades,
        )

        def open_call(_: int | None) -> Any:
            return self._md_svc.SubscribeMarketData(req, metadata=self._md, wait_for_ready=True)

        async for msg in self._stream("marketData", open_call, None, None):
            yield result_as(t.SubscribeMarketDataResponse, msg)

    # ------------------------------------------------------------------ position manager

    async def start_position_manager(
        self,
        session_id: str,
        exchange: str,
        symbol: str,
        *,
        min_order_qty: float,
        quote_levels: int = 1,
        re_entry_ticker_seconds: float = 5.0,
        price_level_interval: float = 0.001,
        pull_on_startup: bool = False,
        maintain_spreads: bool = False,
        timeout: float | None = None,
    ) -> t.PositionManagerStatus | None:
        """StartPositionManager: work the session's position on ``symbol`` towards a target with
        post-only orders (set it with ``set_target_position``)."""
        req = position_manager_pb2.StartPositionManagerRequest(
            **_where(exchange, symbol, session_id),
            config=position_manager_pb2.PositionManagerConfig(
                pull_on_startup=pull_on_startup,
                maintain_spreads=maintain_spreads,
                quote_levels=quote_levels,
                min_order_qty=min_order_qty,
                re_entry_ticker_seconds=re_entry_ticker_seconds,
                price_level_interval=price_level_interval,
            ),
        )
        return result_as(
            t.StartPositionManagerResponse, await self._call(self._pm.StartPositionManager, req, timeout, retry=False)
        ).status

    async def set_target_position(
        self, exchange: str, symbol: str, target_position: float, *, timeout: float | None = None
    ) -> t.PositionManagerStatus | None:
        """SetTargetPosition: the position the manager works towards (negative: short)."""
        req = position_manager_pb2.SetTargetPositionRequest(
            **_where(exchange, symbol),
            target_position=target_position,
        )
        return result_as(t.SetTargetPositionResponse, await self._call(self._pm.SetTargetPosition, req, timeout)).status

    async def get_position_manager(
        self, exchange: str, symbol: str, *, timeout: float | None = None
    ) -> t.PositionManagerStatus | None:
        """GetPositionManager: its target, position, working orders, fills and state."""
        req = position_manager_pb2.GetPositionManagerRequest(**_where(exchange, symbol))
        return result_as(
            t.GetPositionManagerResponse, await self._call(self._pm.GetPositionManager, req, timeout)
        ).status

    async def list_position_managers(self, *, timeout: float | None = None) -> list[t.PositionManagerStatus]:
        """ListPositionManagers: every manager, running or not."""
        req = position_manager_pb2.ListPositionManagersRequest()
        resp = await self._call(self._pm.ListPositionManagers, req, timeout)
        return [result_as(t.PositionManagerStatus, m) for m in resp.managers]

    async def stop_position_manager(
        self, exchange: str, symbol: str, *, timeout: float | None = None
    ) -> t.PositionManagerStatus | None:
        """StopPositionManager: cancel its orders and stop; its final status."""
        req = position_manager_pb2.StopPositionManagerRequest(**_where(exchange, symbol))
        return result_as(
            t.StopPositionManagerResponse, await self._call(self._pm.StopPositionManager, req, timeout)
        ).status

    # ------------------------------------------------------------------ trigger manager

    async def start_trigger_manager(
        self, session_id: str, exchange: str, symbol: str, *, timeout: float | None = None
    ) -> None:
        """StartTriggerManager: watch ``symbol``'s trades for the session's triggers."""
        req = trigger_manager_pb2.StartTriggerManagerRequest(**_where(exchange, symbol, session_id))
        await self._call(self._tm.StartTriggerManager, req, timeout, retry=False)

    async def stop_trigger_manager(
        self, session_id: str, exchange: str, symbol: str, *, timeout: float | None = None
    ) -> None:
        """StopTriggerManager: disarm its triggers and cancel the orders they sent."""
        req = trigger_manager_pb2.StopTriggerManagerRequest(**_where(exchange, symbol, session_id))
        await self._call(self._tm.StopTriggerManager, req, timeout)

    async def get_trigger_manager(
        self, session_id: str, exchange: str, symbol: str, *, timeout: float | None = None
    ) -> t.TriggerManagerStatus | None:
        """GetTriggerManager: its state, armed and fired triggers, the orders they sent, fills and PnL."""
        req = trigger_manager_pb2.GetTriggerManagerRequest(**_where(exchange, symbol, session_id))
        return result_as(t.GetTriggerManagerResponse, await self._call(self._tm.GetTriggerManager, req, timeout)).status

    async def set_trigger(
        self,
        trigger_id: str,
        exchange: str,
        symbol: str,
        price: float,
        direction: str,
        orders: Sequence[OrderRequest],
        *,
        timeout: float | None = None,
    ) -> None:
        """SetTrigger: send ``orders`` once a trade prints at or beyond ``price`` (``up``: a buy aggressor
        at or above it, ``down``: a sell aggressor at or below it)."""
        req = trigger_manager_pb2.SetTriggerRequest(
            id=trigger_id,
            **_where(exchange, symbol),
            price=price,
            direction=_enum(trigger_manager_pb2.TriggerDirection.DESCRIPTOR, direction, "direction"),
            orders=[o.to_proto() for o in orders],
        )
        await self._call(self._tm.SetTrigger, req, timeout, retry=False)

    async def clear_trigger(self, exchange: str, symbol: str, trigger_id: str, *, timeout: float | None = None) -> None:
        """ClearTrigger: disarm one trigger."""
        req = trigger_manager_pb2.ClearTriggerRequest(**_where(exchange, symbol), id=trigger_id)
        await self._call(self._tm.ClearTrigger, req, timeout)

    async def clear_triggers(
        self, exchange: str = "", symbol: str = "", *, clear_all: bool = False, timeout: float | None = None
    ) -> int:
        """ClearTriggers: disarm the triggers of one manager (or with ``clear_all`` of every one); how many."""
        req = trigger_manager_pb2.ClearTriggersRequest(symbol=symbol, clear_all=clear_all)
        if exchange:
            req.exchange = _enum(common_pb2.Exchange.DESCRIPTOR, exchange, "exchange")
        return int((await self._call(self._tm.ClearTriggers, req, timeout)).cleared)

    async def list_triggers(
        self, exchange: str = "", symbol: str = "", *, timeout: float | None = None
    ) -> list[t.TriggerInfo]:
        """ListTriggers: armed and fired triggers (of one exchange / symbol, or all)."""
        req = trigger_manager_pb2.ListTriggersRequest(symbol=symbol)
        if exchange:
            req.exchange = _enum(common_pb2.Exchange.DESCRIPTOR, exchange, "exchange")
        return [result_as(t.TriggerInfo, i) for i in (await self._call(self._tm.ListTriggers, req, timeout)).triggers]

    # ------------------------------------------------------------------ dip buyer

    async def start_dip_buyer(
        self,
        session_id: str,
        exchange: str,
        symbol: str,
        *,
        dip_percentage: float,
        order_qty: float,
        max_long_pos: float,
        time_period: float,
        cooldown: float,
        timeout: float | None = None,
    ) -> None:
        """StartDipBuyer: an IOC buy of ``order_qty`` whenever a trade prints ``dip_percentage`` % below
        the high of the last ``time_period`` seconds."""
        req = dip_buyer_pb2.StartDipBuyerRequest(
            **_where(exchange, symbol, session_id),
            config=dip_buyer_pb2.DipBuyerConfig(
                dip_percentage=dip_percentage,
                order_qty=order_qty,
                max_long_pos=max_long_pos,
                time_period=time_period,
                cooldown=cooldown,
            ),
        )
        await self._call(self._dip.StartDipBuyer, req, timeout, retry=False)

    async def get_dip_buyer(
        self, session_id: str, exchange: str, symbol: str, *, timeout: float | None = None
    ) -> t.DipBuyerStatus | None:
        """GetDipBuyer: its state, recent high and buys."""
        req = dip_buyer_pb2.GetDipBuyerRequest(**_where(exchange, symbol, session_id))
        return result_as(t.GetDipBuyerResponse, await self._call(self._dip.GetDipBuyer, req, timeout)).status

    async def stop_dip_buyer(
        self, session_id: str, exchange: str, symbol: str, *, timeout: float | None = None
    ) -> t.DipBuyerStatus | None:
        """StopDipBuyer; its final status."""
        req = dip_buyer_pb2.StopDipBuyerRequest(**_where(exchange, symbol, session_id))
        return result_as(t.StopDipBuyerResponse, await self._call(self._dip.StopDipBuyer, req, timeout)).status

    # ------------------------------------------------------------------ grid trader

    async def start_grid_trader(
        self,
        session_id: str,
        exchange: str,
        symbol: str,
        *,
        grid_levels: int,
        order_qty: float,
        mode: str = "arithmetic",
        upper_price: float | None = None,
        lower_price: float | None = None,
        grid_range_percentage: float | None = None,
        dynamic: bool = False,
        recenter_threshold: int | None = None,
        timeout: float | None = None,
    ) -> t.GridTraderStatus | None:
        """StartGridTrader: limit orders on ``grid_levels`` levels between ``lower_price`` and
        ``upper_price`` (or ``grid_range_percentage`` around the mid)."""
        req = grid_trader_pb2.StartGridTraderRequest(
            **_where(exchange, symbol, session_id),
            grid_levels=grid_levels,
            order_qty=order_qty,
            mode=_enum(grid_trader_pb2.GridMode.DESCRIPTOR, mode, "mode"),
            dynamic=dynamic,
        )
        for name, value in (
            ("upper_price", upper_price),
            ("lower_price", lower_price),
            ("grid_range_percentage", grid_range_percentage),
            ("recenter_threshold", recenter_threshold),
        ):
            if value is not None:
                setattr(req, name, value)
        return result_as(
            t.StartGridTraderResponse, await self._call(self._grid.StartGridTrader, req, timeout, retry=False)
        ).status

    async def get_grid_trader(
        self, session_id: str, exchange: str, symbol: str, *, timeout: float | None = None
    ) -> t.GridTraderStatus | None:
        """GetGridTrader: its levels, orders, round trips and PnL."""
        req = grid_trader_pb2.GetGridTraderRequest(**_where(exchange, symbol, session_id))
        return result_as(t.GetGridTraderResponse, await self._call(self._grid.GetGridTrader, req, timeout)).status

    async def stop_grid_trader(
        self, session_id: str, exchange: str, symbol: str, *, timeout: float | None = None
    ) -> t.GridTraderStatus | None:
        """StopGridTrader: cancel its orders; its final status."""
        req = grid_trader_pb2.StopGridTraderRequest(**_where(exchange, symbol, session_id))
        return result_as(t.StopGridTraderResponse, await self._call(self._grid.StopGridTrader, req, timeout)).status

    # ------------------------------------------------------------------ contingent orders

    async def send_order_group(
        self,
        session_id: str,
        group_id: str,
        group_type: str,
        orders: Sequence[OrderRequest],
        *,
        timeout: float | None = None,
    ) -> t.OrderGroup | None:
        """SendOrderGroup: an ``oco``, ``oto`` or ``otoco`` group of orders (contingent legs carry a
        ``trigger_kind``); the group with its legs."""
        req = contingent_order_pb2.SendOrderGroupRequest(
            session_id=session_id,
            group_id=group_id,
            group_type=_enum(contingent_order_pb2.GroupType.DESCRIPTOR, group_type, "groupType"),
            orders=[o.to_proto() for o in orders],
        )
        return result_as(t.SendOrderGroupResponse, await self._call(self._co.SendOrderGroup, req, timeout)).group

    async def amend_order_group(
        self, session_id: str, group_id: str, orders: Sequence[OrderRequest], *, timeout: float | None = None
    ) -> t.OrderGroup | None:
        """AmendOrderGroup: amend legs of a group (each an ``update`` naming its clOrderId)."""
        req = contingent_order_pb2.AmendOrderGroupRequest(
            session_id=session_id, group_id=group_id, orders=[o.to_proto() for o in orders]
        )
        return result_as(t.AmendOrderGroupResponse, await self._call(self._co.AmendOrderGroup, req, timeout)).group

    async def cancel_order_group(
        self, session_id: str, group_id: str, *, timeout: float | None = None
    ) -> t.OrderGroup | None:
        """CancelOrderGroup: cancel every leg of the group."""
        req = contingent_order_pb2.CancelOrderGroupRequest(session_id=session_id, group_id=group_id)
        return result_as(t.CancelOrderGroupResponse, await self._call(self._co.CancelOrderGroup, req, timeout)).group

    async def get_order_group(
        self, session_id: str, group_id: str, *, timeout: float | None = None
    ) -> t.OrderGroup | None:
        """GetOrderGroup: the group and its legs' latest state."""
        req = contingent_order_pb2.GetOrderGroupRequest(session_id=session_id, group_id=group_id)
        return result_as(t.GetOrderGroupResponse, await self._call(self._co.GetOrderGroup, req, timeout)).group

    async def list_contingent_orders(
        self, session_id: str, symbol: str = "", *, include_finished: bool = False, timeout: float | None = None
    ) -> list[t.ContingentEvent]:
        """ListContingentOrders: the session's contingent orders (armed; with ``include_finished`` all)."""
        req = contingent_order_pb2.ListContingentOrdersRequest(
            session_id=session_id, symbol=symbol, include_finished=include_finished
        )
        resp = await self._call(self._co.ListContingentOrders, req, timeout)
        return [result_as(t.ContingentEvent, e) for e in resp.orders]

    # ------------------------------------------------------------------ smart orders and account views

    async def add_smart_order(
        self,
        session_id: str,
        algorithm: str,
        side: str,
        symbol: str,
        amount: float,
        duration: str,
        interval: str,
        *,
        exchanges: Sequence[str] = (),
        limit_price: float | None = None,
        maker: bool = False,
        max_behind: float | None = None,
        safety_threshold: float | None = None,
        smart_order_id: str = "",
        timeout: float | None = None,
    ) -> t.AddSmartOrderResponse:
        """AddSmartOrder: a TWAP or VWAP of ``amount`` over ``duration`` ("5MIN") in slices every
        ``interval`` ("30SEC"), through the session (``exchanges`` default: the session's)."""
        if not exchanges:
            info = {s.session_id: s for s in await self.list_sessions(timeout=timeout)}.get(session_id)
            exchanges = [info.exchange] if info is not None else []
        params = smart_order_pb2.SmartOrderParameters(
            side=_enum(common_pb2.Side.DESCRIPTOR, side, "parameters.side"),
            symbol=symbol,
            amount=amount,
            duration=duration,
            interval=interval,
            maker=maker,
        )
        for name, value in (
            ("limit_price", limit_price),
            ("max_behind", max_behind),
            ("safety_threshold", safety_threshold),
        ):
            if value is not None:
                setattr(params, name, value)
        req = smart_order_pb2.AddSmartOrderRequest(
            algorithm=_enum(smart_order_pb2.SmartOrderAlgorithm.DESCRIPTOR, algorithm, "algorithm"),
            exchanges=[_enum(common_pb2.Exchange.DESCRIPTOR, e, "exchanges") for e in exchanges],
            parameters=params,
            session_id=session_id,
            id=smart_order_id,
        )
        resp = await self._call(self._sor.AddSmartOrder, req, timeout, retry=bool(smart_order_id))
        return result_as(t.AddSmartOrderResponse, resp)

    async def list_smart_orders(self, *, timeout: float | None = None) -> list[t.SmartOrder]:
        """ListSmartOrders: every smart order, newest first, with its fills and children."""
        resp = await self._call(self._sor.ListSmartOrders, smart_order_pb2.ListSmartOrdersRequest(), timeout)
        return [result_as(t.SmartOrder, o) for o in resp.requests]

    async def update_smart_order(
        self,
        smart_order_id: str,
        *,
        amount: float | None = None,
        duration: str | None = None,
        interval: str | None = None,
        limit_price: float | None = None,
        timeout: float | None = None,
    ) -> None:
        """UpdateSmartOrder: change its amount, duration, interval or limit price (0 removes the limit)."""
        change = smart_order_pb2.SmartOrderParametersChange()
        for name, value in (("amount", amount), ("duration", duration), ("interval", interval)):
            if value is not None:
                setattr(change, name, value)
        if limit_price is not None:
            change.limit_price = limit_price
        req = smart_order_pb2.UpdateSmartOrderRequest(id=smart_order_id, parameters=change)
        await self._call(self._sor.UpdateSmartOrder, req, timeout)

    async def cancel_smart_order(self, smart_order_id: str, *, timeout: float | None = None) -> None:
        """CancelSmartOrder: stop it and cancel its working child."""
        await self._call(
            self._sor.CancelSmartOrder, smart_order_pb2.CancelSmartOrderRequest(id=smart_order_id), timeout
        )

    async def smart_orders(self, smart_order_id: str = "") -> AsyncIterator[t.SubscribeSmartOrdersResponse]:
        """SubscribeSmartOrders: status changes, child requests and fills (of one smart order or all);
        resubscribes after a drop."""
        req = smart_order_pb2.SubscribeSmartOrdersRequest(id=smart_order_id)

        def open_call(_: int | None) -> Any:
            return self._sor.SubscribeSmartOrders(req, metadata=self._md, wait_for_ready=True)

        async for msg in self._stream("smartOrders", open_call, None, None):
            yield result_as(t.SubscribeSmartOrdersResponse, msg)

    async def get_balances(self, *, timeout: float | None = None) -> dict[str, list[t.Balance]]:
        """GetBalances: per exchange ("BINANCE-SPOT"), each asset's total, available and locked."""
        resp = await self._call(self._sor.GetBalances, smart_order_pb2.GetBalancesRequest(), timeout)
        return {k: [result_as(t.Balance, b) for b in v.balances] for k, v in resp.balances.items()}

    async def get_open_positions(self, *, timeout: float | None = None) -> dict[str, list[t.OpenPosition]]:
        """GetOpenPositions: per exchange, the venue's open positions."""
        resp = await self._call(self._sor.GetOpenPositions, smart_order_pb2.GetOpenPositionsRequest(), timeout)
        return {k: [result_as(t.OpenPosition, p) for p in v.positions] for k, v in resp.positions.items()}

    async def get_open_orders(self, *, timeout: float | None = None) -> dict[str, list[t.OpenOrder]]:
        """GetOpenOrders: per exchange, the open orders of every session."""
        resp = await self._call(self._sor.GetOpenOrders, smart_order_pb2.GetOpenOrdersRequest(), timeout)
        return {k: [result_as(t.OpenOrder, o) for o in v.orders] for k, v in resp.orders.items()}


# the one-of-several fields of an update (transaction, risk_event, algorithm_event, contingent_event, …)
_UPDATE_KINDS = tuple(f.name for f in order_manager_pb2.SubscribeUpdatesResponse.DESCRIPTOR.fields if f.name != "batch")
# updates() asks execx for the updates that are ready together in one message (up to this many): one gRPC
# message per burst instead of one per update, far less CPU on both ends; the iterator hands them out one by one
UPDATES_BATCH = 256


class _Unbatched:
    """A SubscribeUpdates call whose messages may carry ``batch``: iterated one update at a time (an execx
    that does not batch sends them one by one anyway)."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def cancel(self) -> bool:
        return bool(self._call.cancel())

    async def __aiter__(self) -> AsyncIterator[Any]:
        async for msg in self._call:
            if len(msg.batch):
                for one in msg.batch:
                    yield one
            else:
                yield msg


def _where(exchange: str, symbol: str, session_id: str | None = None) -> dict[str, Any]:
    """The exchange / symbol (/ session) fields that name an algorithm instance."""
    out: dict[str, Any] = {"exchange": _enum(common_pb2.Exchange.DESCRIPTOR, exchange, "exchange"), "symbol": symbol}
    if session_id is not None:
        out["session_id"] = session_id
    return out


def _update_seq(msg: Any) -> int:
    for kind in _UPDATE_KINDS:
        if msg.HasField(kind):
            return int(getattr(msg, kind).seq)
    return 0


def _risk_limits(limits: t.RiskLimits) -> order_manager_pb2.RiskLimits:
    out = order_manager_pb2.RiskLimits()
    for name in order_manager_pb2.RiskLimits.DESCRIPTOR.fields_by_name:
        value = getattr(limits, name)
        if value is not None:
            setattr(out, name, value)
    return out
