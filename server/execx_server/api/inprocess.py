"""The gRPC server's handlers and interceptors, callable in-process: the REST gateway's way in.

The servicers are registered once, through ``InProcessServer`` (which forwards every registration to the
real ``grpc.aio`` server). A call from the gateway runs the same interceptor chain as a gRPC call (tracing,
then ``access.AccessInterceptor``: API key, scope, session ownership, per-key rate limit, audit), then the
same servicer method, with an ``InProcessContext`` standing for gRPC's ``ServicerContext``: no
serialisation, no socket, no second event-loop turn per message. A call ends as gRPC's would: a response,
or ``CallError`` with the status code, details and trailing metadata the handler aborted with (an
unexpected exception: UNKNOWN, as grpc.aio answers it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

log = logging.getLogger("execx.inprocess")

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
GenericHandler = grpc.GenericRpcHandler

Metadata = tuple[tuple[str, str | bytes], ...]
Send = Callable[[Any], Awaitable[None]]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]


class CallError(Exception):
    """An in-process call that ended with a status other than OK."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: Metadata = ()) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code, self.details, self.trailing_metadata = code, details, trailing_metadata


class _Details(grpc.HandlerCallDetails):
    def __init__(self, method: str, invocation_metadata: Metadata) -> None:
        self.method = method
        self.invocation_metadata = invocation_metadata


class InProcessContext:
    """What a servicer or an interceptor uses of ``grpc.aio.ServicerContext``, for an in-process call.

    ``read`` takes the next request from ``requests`` (``grpc.aio.EOF`` at the end); ``write`` hands a
    response to ``send``; ``abort`` records the status and raises ``grpc.aio.AbortError``, as grpc.aio does.
    """

    def __init__(
        self,
        metadata: Metadata,
        peer: str,
        send: Send | None = None,
        requests: asyncio.Queue[Any] | None = None,
    ) -> None:
        self._metadata = metadata
        self._peer = peer
        self._send = send
        self._requests = requests
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._trailing: Metadata = ()
        self.send_error: Exception | None = None  # what ``send`` raised (the caller's own failure: re-raised)

    def invocation_metadata(self) -> Metadata:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def time_remaining(self) -> float | None:
        return None  # the gateway sets no deadline

    def auth_context(self) -> dict[str, Any]:
        return {}

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Iterable[Any] = ()) -> None:
        self._code, self._details, self._trailing = code, details, tuple(trailing_metadata)
        raise grpc.aio.AbortError(f"{code.name}: {details}")

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    def set_trailing_metadata(self, trailing_metadata: Iterable[Any]) -> None:
        self._trailing = tuple(trailing_metadata)

    def trailing_metadata(self) -> Metadata:
        return self._trailing

    async def send_initial_metadata(self, initial_metadata: Iterable[Any]) -> None:
        return None

    def set_compression(self, compression: Any) -> None:
        return None

    def disable_next_message_compression(self) -> None:
        return None

    def cancelled(self) -> bool:
        return False

    async def read(self) -> Any:
        if self._requests is None:
            raise RuntimeError("read() on a call without a request stream")
        return await self._requests.get()

    async def write(self, message: Any) -> None:
        if self._send is None:
            raise RuntimeError("write() on a call without a response stream")
        try:
            await self._send(message)
        except Exception as e:
            self.send_error = e
            raise

    def error(self, e: BaseException | None) -> CallError | None:
        """The call's end as an error (None: it ended OK), after the handler returned or raised ``e``."""
        code = self._code
        if e is not None and not isinstance(e, grpc.aio.AbortError) and code in (None, grpc.StatusCode.OK):
            log.error("inprocess.unexpected_error", exc_info=e)
            return CallError(grpc.StatusCode.UNKNOWN, f"Unexpected {type(e)}: {e}", self._trailing)
        if code is None or code == grpc.StatusCode.OK:
            return None
        return CallError(code, self._details or code.name, self._trailing)


class InProcessServer:
    """Registrations of a ``grpc.aio`` server, kept to be called in-process through its interceptors.

    Pass it to the generated ``add_<Service>Servicer_to_server`` functions in place of the server: each
    registration goes to ``server`` too (when given), so both entry points run the same handlers.
    """

    def __init__(self, server: Any = None, interceptors: Sequence[grpc.aio.ServerInterceptor] = ()) -> None:
        self._server = server
        self._interceptors = list(interceptors)
        self._methods: dict[str, Handler] = {}  # full method name -> handler
        self._generic: list[GenericHandler] = []

    # ------------------------------------------------------------------ registration (grpc.Server's)

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Sequence[GenericHandler]) -> None:
        if self._server is not None:
            self._server.add_generic_rpc_handlers(generic_rpc_handlers)
        self._generic.extend(generic_rpc_handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict[str, Handler]) -> None:
        if self._server is not None:
            self._server.add_registered_method_handlers(service_name, method_handlers)
        for name, handler in method_handlers.items():
            self._methods[f"/{service_name}/{name}"] = handler

    # ------------------------------------------------------------------ calls

    def _lookup(self, details: grpc.HandlerCallDetails) -> Handler | None:
        found = self._methods.get(details.method)
        if found is not None:
            return found
        for generic in self._generic:
            handler = generic.service(details)
            if handler is not None:
                return handler
        return None

    async def handler(self, method: str, metadata: Metadata) -> Handler | None:
        """``method``'s handler as the interceptors make it for this call (None: no such method)."""

        async def lookup(details: grpc.HandlerCallDetails) -> Handler | None:
            return self._lookup(details)

        continuation: Continuation = lookup
        for interceptor in reversed(self._interceptors):
            continuation = functools.partial(interceptor.intercept_service, continuation)
        return await continuation(_Details(method, metadata))

    async def _handler(self, method: str, metadata: Metadata, kind: str) -> Any:
        handler = await self.handler(method, metadata)
        if handler is None:
            raise CallError(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
        behaviour = getattr(handler, kind)
        if behaviour is None:
            raise CallError(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not a {kind} method")
        return behaviour

    async def unary(self, method: str, request: Any, metadata: Metadata, peer: str) -> Any:
        """A unary call: its response, or ``CallError``."""
        behaviour = await self._handler(method, metadata, "unary_unary")
        context = InProcessContext(metadata, peer)
        try:
            response = await behaviour(request, context)
        except Exception as e:
            raise _error(context, e) from None
        if (error := context.error(None)) is not None:
            raise error
        return response

    async def server_stream(self, method: str, request: Any, metadata: Metadata, peer: str, send: Send) -> None:
        """A server-streaming call: ``send`` gets each response; returns when the stream ends OK, else
        ``CallError``. Cancelling the awaiting task cancels the call (the servicer's ``finally`` runs)."""
        behaviour = await self._handler(method, metadata, "unary_stream")
        context = InProcessContext(metadata, peer, send=send)
        await _drive(context, behaviour(request, context))

    async def stream_stream(
        self, method: str, requests: asyncio.Queue[Any], metadata: Metadata, peer: str, send: Send
    ) -> None:
        """A bidirectional call: requests are taken from ``requests`` until ``grpc.aio.EOF``; ``send``
        gets each response. Returns when the handler ends OK, else ``CallError``."""
        behaviour = await self._handler(method, metadata, "stream_stream")
        context = InProcessContext(metadata, peer, send=send, requests=requests)

        async def iterate() -> AsyncIterator[Any]:
            while (request := await requests.get()) is not grpc.aio.EOF:
                yield request

        await _drive(context, behaviour(iterate(), context))


def _error(context: InProcessContext, e: BaseException) -> CallError:
    error = context.error(e)
    return error if error is not None else CallError(grpc.StatusCode.UNKNOWN, "unknown error", ())


async def _drive(context: InProcessContext, result: Any) -> None:
    """Runs a streaming handler's result (an async generator of responses, or a coroutine that writes);
    an exception of the context's ``send`` (the caller's side failing) is raised as it is."""
    try:
        if inspect.isasyncgen(result):
            async with contextlib.aclosing(result):
                async for response in result:
                    await context.write(response)
        else:
            await result
    except Exception as e:
        if context.send_error is not None:
            raise context.send_error from None
        raise _error(context, e) from None
    if (error := context.error(None)) is not None:
        raise error
