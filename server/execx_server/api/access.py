"""Access control on the gRPC server (and so on REST, whose gateway calls the servicers in-process through
this same interceptor: ``api/inprocess.py``): scoped API keys, per-key session ownership, a per-key request
rate limit, and the audit log of every mutating call.

- **Keys** (``KeyStore``): ``--key`` is one admin key (id ``admin``); ``--keysFile`` (JSON, or YAML when the
  name ends in ``.yaml``/``.yml``) lists ``{id, key | sha256, scopes, ratePerSecond?, burst?}``. Only the
  SHA-256 of a key is held; a presented key is hashed and looked up. The file is read again when it changes
  (``reload_if_changed``); a file that does not parse is logged and the previous keys kept.
- **Scopes** are ranked: ``read`` may query and subscribe (Get*, List*, Subscribe*, RefreshOrders);
  ``trade`` may also open sessions, send orders and run algorithms (every other RPC); ``admin`` may also
  change log levels, set risk limits, use the kill switch, and see every session (``required_scope``).
  Wrong scope: PERMISSION_DENIED (403).
- **Ownership**: a session belongs to the key that opened it (``SessionOwners``, kept in the data directory
  across restarts). A key that is not admin gets PERMISSION_DENIED for a request naming another key's
  session (``sessionId`` of the request, of its ``order`` or of any of its ``orders``), and list answers
  are filtered to its own sessions.
- **Rate limit**: a token bucket per key of the keys file (default ``--keyRatePerSecond``/``--keyBurst``,
  or the key's own; ``--key`` is not limited); every unary call, stream opening and OrderEntry request
  (each request of a message's ``batch`` too) takes one token. Empty: RESOURCE_EXHAUSTED (429) with
  trailing metadata ``retry-after`` (seconds), which REST sends as the ``Retry-After`` header.
- **Audit** (``AuditLog``): every call needing ``trade`` or ``admin`` — allowed or refused — is one
  ``audit`` log event and one audit record of the journal (committed with the next journal write,
  ``Journal.audit``; kept as long as the journal's retention; ``ListAuditRecords``, admin scope, reads them):
  time, key id, peer, method, sessions, clOrderIds, outcome (the status code name). The peer is gRPC's
  (``ipv4:…``), or ``rest:<address>`` for a REST / websocket call. Never a secret: the fields are picked, not copied.
- Health and reflection are open (no key): they describe the API and run nothing (docs/security.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

from ..engine.journal import AuditEntry, Journal
from ..observability import logging as xlog
from ..watched import read_config, stamp
from . import ownership

log = logging.getLogger("execx.access")
audit_log = logging.getLogger("execx.audit")

if TYPE_CHECKING:
    Ctx = grpc.aio.ServicerContext[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
else:
    Ctx = grpc.aio.ServicerContext
    Handler = grpc.RpcMethodHandler

READ, TRADE, ADMIN = "read", "trade", "admin"
RANK = {READ: 0, TRADE: 1, ADMIN: 2}
PUBLIC_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.")
ADMIN_METHODS = frozenset({"SetLogLevel", "SetRiskLimits", "EngageKillSwitch", "ReleaseKillSwitch", "ListAuditRecords"})
READ_PREFIXES = ("Get", "List", "Subscribe")
READ_METHODS = frozenset({"RefreshOrders"})
ADMIN_KEY_ID = "admin"


def required_scope(method: str) -> str:
    """The scope a full gRPC method name (``/execx.v1.Service/Method``) needs."""
    name = method.rpartition("/")[2]
    if name in ADMIN_METHODS:
        return ADMIN
    if name in READ_METHODS or name.startswith(READ_PREFIXES):
        return READ
    return TRADE


class KeysFileError(Exception):
    """The keys file cannot be used (the message never holds a key)."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    scope: str  # the highest scope it was given
    rate_per_s: float
    burst: float

    def allows(self, scope: str) -> bool:
        return RANK[self.scope] >= RANK[scope]

    @property
    def admin(self) -> bool:
        return self.scope == ADMIN


ANONYMOUS = ApiKey("", READ, 0.0, 0.0)  # the audit's key id of a call that presented no valid key


def _digest(entry: dict[str, Any], where: str) -> bytes:
    if isinstance(entry.get("key"), str) and entry["key"]:
        return hashlib.sha256(entry["key"].encode()).digest()
    sha = entry.get("sha256")
    if isinstance(sha, str):
        try:
            raw = bytes.fromhex(sha)
        except ValueError:
            raw = b""
        if len(raw) == 32:
            return raw
    raise KeysFileError(f"{where}: needs `key` or `sha256` (64 hex digits)")


def parse_keys(data: Any, default_rate: float, default_burst: float) -> dict[bytes, ApiKey]:
    """The keys of a parsed keys file (a list, or ``{"keys": [...]}``), by the SHA-256 of the key."""
    entries = data.get("keys") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise KeysFileError("the keys file must be a list of keys or {keys: [...]}")
    out: dict[bytes, ApiKey] = {}
    ids: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"keys[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
            raise KeysFileError(f"{where}: needs an `id`")
        key_id = entry["id"]
        if key_id in ids:
            raise KeysFileError(f"{where}: duplicate id {key_id!r}")
        scopes = entry.get("scopes")
        if not isinstance(scopes, list) or not scopes or any(s not in RANK for s in scopes):
            raise KeysFileError(f"{where} ({key_id}): `scopes` must list some of read, trade, admin")
        rate = entry.get("ratePerSecond", default_rate)
        burst = entry.get("burst", default_burst)
        if not all(isinstance(x, (int, float)) and 0 < x < math.inf for x in (rate, burst)):
            raise KeysFileError(f"{where} ({key_id}): ratePerSecond and burst must be positive numbers")
        digest = _digest(entry, f"{where} ({key_id})")
        if digest in out:
            raise KeysFileError(f"{where} ({key_id}): the same key as {out[digest].id!r}")
        ids.add(key_id)
        out[digest] = ApiKey(key_id, max(scopes, key=RANK.__getitem__), float(rate), float(burst))
    return out


class KeyStore:
    """The API keys: ``--key`` (admin) plus the keys file, looked up by the SHA-256 of a presented key."""

    def __init__(self, admin_key: str, keys_file: Path | None, rate_per_s: float = 100.0, burst: float = 200.0) -> None:
        self.keys_file = keys_file
        self.rate_per_s, self.burst = rate_per_s, burst
        self._admin: dict[bytes, ApiKey] = {}
        if admin_key:
            # --key: the operator's and the single-strategy sidecar's key, not rate limited (benchmarks)
            self._admin[hashlib.sha256(admin_key.encode()).digest()] = ApiKey(ADMIN_KEY_ID, ADMIN, math.inf, math.inf)
        self._keys: dict[bytes, ApiKey] = dict(self._admin)
        self._stamp: tuple[int, int] | None = None
        self.reloads = 0
        if keys_file is not None:
            self._stamp = stamp(keys_file)
            self._keys = self._load(keys_file)  # raises KeysFileError at start-up

    def _load(self, path: Path) -> dict[bytes, ApiKey]:
        keys = parse_keys(read_config(path, "keys file", KeysFileError), self.rate_per_s, self.burst)
        if any(k.id == ADMIN_KEY_ID for k in keys.values()) and self._admin:
            raise KeysFileError(f"the keys file {path}: id {ADMIN_KEY_ID!r} is --key's")
        return {**keys, **self._admin}

    def reload_if_changed(self) -> bool:
        if self.keys_file is None:
            return False
        now = stamp(self.keys_file)
        if now == self._stamp:
            return False
        self._stamp = now
        try:
            self._keys = self._load(self.keys_file)
        except KeysFileError as e:
            log.warning("keys.reload_failed", extra={"reason": str(e)})
            return False
        self.reloads += 1
        log.info("keys.reloaded", extra={"keys": len(self._keys)})
        return True

    def lookup(self, metadata: Iterable[tuple[str, str | bytes]]) -> ApiKey | None:
        """The key presented in ``x-api-key`` or ``authorization: Bearer`` (None: none or unknown)."""
        for k, v in metadata:
            value = v.encode() if isinstance(v, str) else v
            if k == "authorization":
                if not value.startswith(b"Bearer "):
                    continue
                value = value[7:]
            elif k != "x-api-key":
                continue
            found = self._keys.get(hashlib.sha256(value).digest())
            if found is not None:
                return found
        return None


class RateLimiter:
    """A token bucket per key id: ``take`` answers 0 (a token taken) or the seconds until one is there."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, at)

    def take(self, key: ApiKey) -> float:
        if key.rate_per_s == math.inf:
            return 0.0
        now = self._clock()
        tokens, at = self._buckets.get(key.id, (key.burst, now))
        tokens = min(key.burst, tokens + (now - at) * key.rate_per_s)
        if tokens >= 1.0:
            self._buckets[key.id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key.id] = (tokens, now)
        return (1.0 - tokens) / key.rate_per_s


class SessionOwners:
    """Which key opened each session, in ``session_owners.json`` of the data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._owners: dict[str, str] = {}
        if path.exists():
            try:
                loaded = json.loads(path.read_text())
            except (OSError, ValueError):
                loaded = {}
            if isinstance(loaded, dict):
                self._owners = {str(k): str(v) for k, v in loaded.items()}

    def owner(self, session_id: str) -> str | None:
        return self._owners.get(session_id)

    def record(self, session_id: str, key_id: str) -> None:
        if self._owners.get(session_id) == key_id:
            return
        self._owners[session_id] = key_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._owners, sort_keys=True))
        tmp.replace(self.path)


class AuditLog:
    """Every audited call as an ``audit`` log event (logger ``execx.audit``) and an audit record of the journal
    (``Journal.audit``: committed with the next journal write, at the latest 10 ms later; the journal's
    retention; ``ListAuditRecords`` reads them). Before the journal is attached (start-up) only the log
    event is written: nothing can be called then."""

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.journal: Journal | None = None
        self._clock_ns = clock_ns

    def record(
        self, key_id: str, peer: str, method: str, sessions: Sequence[str], cl_order_ids: Sequence[str], outcome: str
    ) -> None:
        entry = AuditEntry(self._clock_ns(), key_id, peer, method, tuple(sessions), tuple(cl_order_ids), outcome)
        if audit_log.isEnabledFor(logging.INFO):  # the line's fields built only when it is written
            xlog.write_line(
                audit_log,
                "audit",
                {
                    "key": key_id,
                    "peer": peer,
                    "method": method,
                    "session": ",".join(entry.sessions),
                    "clOrderId": ",".join(entry.cl_order_ids),
                    "outcome": outcome,
                },
            )
        if self.journal is not None:
            self.journal.audit(entry)


def _is_str_field(descriptor: Any, name: str) -> bool:
    fd = descriptor.fields_by_name.get(name)
    return fd is not None and fd.type == fd.TYPE_STRING and not fd.is_repeated


# What ``sessions_of`` / ``cl_order_ids_of`` read of a message type, worked out once per type from its
# descriptor (they run on every audited request: walking the descriptor each time was ~2 % of the order path)
_SessionPlan = tuple[bool, tuple[tuple[str, bool], ...]]  # its own session_id?; (field, repeated) naming one
_ClPlan = tuple[bool, tuple[tuple[str, bool], ...]]  # its own cl_order_id?; ("order"/"orders", repeated)
_session_plans: dict[Any, _SessionPlan] = {}
_cl_plans: dict[Any, _ClPlan] = {}


def _session_plan(descriptor: Any) -> _SessionPlan:
    plan = _session_plans.get(descriptor)
    if plan is None:
        subs = tuple(
            (fd.name, fd.is_repeated)
            for fd in descriptor.fields
            if fd.message_type is not None
            and "session_id" in fd.message_type.fields_by_name
            and _is_str_field(fd.message_type, "session_id")  # else it never names one
        )
        plan = _session_plans[descriptor] = (_is_str_field(descriptor, "session_id"), subs)
    return plan


def _cl_plan(descriptor: Any) -> _ClPlan:
    plan = _cl_plans.get(descriptor)
    if plan is None:
        subs = tuple(
            (name, fd.is_repeated)
            for name in ("order", "orders")
            if (fd := descriptor.fields_by_name.get(name)) is not None
            and fd.message_type is not None
            and _is_str_field(fd.message_type, "cl_order_id")  # else it never names one
        )
        plan = _cl_plans[descriptor] = (_is_str_field(descriptor, "cl_order_id"), subs)
    return plan


def sessions_of(msg: Message) -> list[str]:
    """The session ids a request names: its ``sessionId``, its ``order``'s, its ``orders``'."""
    own, subs = _session_plan(msg.DESCRIPTOR)
    out = [s] if own and (s := getattr(msg, "session_id")) else []  # noqa: B009 - a field named at run time
    for name, repeated in subs:
        value = getattr(msg, name)
        for item in value if repeated else ([value] if msg.HasField(name) else []):
            if s := item.session_id:
                out.append(s)
    return out


def cl_order_ids_of(msg: Message) -> list[str]:
    """The clOrderIds a request names: its own, else its ``order``'s or its ``orders``'."""
    own, subs = _cl_plan(msg.DESCRIPTOR)
    if own and (s := getattr(msg, "cl_order_id")):  # noqa: B009 - a field named at run time
        return [s]
    for name, repeated in subs:
        value = getattr(msg, name)
        items = list(value) if repeated else ([value] if msg.HasField(name) else [])
        ids = [i for i in (item.cl_order_id for item in items) if i]
        if ids:
            return ids
    return []


class _Denied(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after = code, message, retry_after


@dataclass
class _Call:
    key: ApiKey
    method: str
    mutating: bool
    extra: dict[str, str] = field(default_factory=dict)


class AccessInterceptor(grpc.aio.ServerInterceptor):
    """Authentication, scopes, ownership, rate limit and audit for every gRPC call (module docstring)."""

    def __init__(
        self,
        keys: KeyStore,
        owners: SessionOwners,
        session_exists: Callable[[str], bool],
        audit: AuditLog,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.keys = keys
        self.owners = owners
        self.session_exists = session_exists
        self.audit = audit
        self.limiter = limiter or RateLimiter()

    # ------------------------------------------------------------------ decisions

    def may_use(self, key: ApiKey, session_id: str) -> bool:
        if key.admin:
            return True
        owner = self.owners.owner(session_id)
        if owner is None:
            return not self.session_exists(session_id)  # a new session; one opened before owners were kept: admin
        return owner == key.id

    def _calling(self, call: _Call) -> AbstractContextManager[None]:
        """The servicer runs as the call's key: what it names by its own id is checked (``ownership``)."""
        key = call.key
        return ownership.calling(key.id, lambda session_id: self.may_use(key, session_id))

    def _check(self, call: _Call, request: Message) -> None:
        for sid in sessions_of(request):
            if not self.may_use(call.key, sid):
                raise _Denied(grpc.StatusCode.PERMISSION_DENIED, f"session {sid!r} belongs to another API key")

    def _rate(self, key: ApiKey) -> None:
        wait = self.limiter.take(key)
        if wait > 0:
            raise _Denied(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"API key {key.id!r} is over its request rate limit ({key.rate_per_s:g}/s): retry after {wait:.3f}s",
                retry_after=wait,
            )

    def _filter(self, key: ApiKey, response: Message) -> None:
        """Drops, from a list answer, the entries of sessions another key owns."""
        if key.admin:
            return
        for fd in response.DESCRIPTOR.fields:
            if not fd.is_repeated or fd.message_type is None or "session_id" not in fd.message_type.fields_by_name:
                continue
            items = getattr(response, fd.name)
            keep = [item for item in items if self.may_use(key, item.session_id)]
            if len(keep) != len(items):
                kept = [type(item)() for item in keep]
                for new, old in zip(kept, keep, strict=True):
                    new.CopyFrom(old)
                del items[:]
                items.extend(kept)

    def _audit(self, call: _Call, context: Ctx | None, request: Message | None, outcome: str) -> None:
        if call.mutating:
            self._record(call, context.peer() if context is not None else "", request, outcome)

    def _audit_soon(self, call: _Call, context: Ctx, request: Message | None, outcome: str) -> None:
        """``_audit`` at the next loop turn (the call's peer read now, while the call is still there)."""
        if call.mutating:
            asyncio.get_running_loop().call_soon(self._record, call, context.peer(), request, outcome)

    def _record(self, call: _Call, peer: str, request: Message | None, outcome: str) -> None:
        sessions = list(dict.fromkeys(sessions_of(request))) if request is not None else []
        cl = cl_order_ids_of(request) if request is not None else []
        self.audit.record(call.key.id, peer, call.method, sessions, cl, outcome)

    # ------------------------------------------------------------------ the interceptor

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        if details.method.startswith(PUBLIC_METHODS):
            return await continuation(details)
        handler = await continuation(details)
        if handler is None:
            return None
        metadata = tuple(details.invocation_metadata or ())
        key = self.keys.lookup(metadata)
        scope = required_scope(details.method)
        if key is None:
            # audited like any refused mutating call, under no key id (what was presented is never written)
            anonymous = _Call(ANONYMOUS, details.method, scope != READ)
            return _deny(
                handler,
                _Denied(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong API key (x-api-key or bearer)"),
                lambda ctx, req: self._audit(anonymous, ctx, req, "UNAUTHENTICATED"),
            )
        call = _Call(key, details.method, scope != READ)
        if not key.allows(scope):
            denied = _Denied(
                grpc.StatusCode.PERMISSION_DENIED,
                f"API key {key.id!r} ({key.scope}) may not call {details.method.rpartition('/')[2]}: needs {scope}",
            )
            return _deny(handler, denied, lambda ctx, req: self._audit(call, ctx, req, "PERMISSION_DENIED"))
        try:
            self._rate(key)
        except _Denied as denied:
            return _deny(handler, denied, lambda ctx, req: self._audit(call, ctx, req, "RESOURCE_EXHAUSTED"))
        return self._wrap(handler, call)

    def _wrap(self, handler: Handler, call: _Call) -> Handler:
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(
                self._bidi(handler, call), handler.request_deserializer, handler.response_serializer
            )
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                self._server_stream(handler, call), handler.request_deserializer, handler.response_serializer
            )
        if handler.request_streaming:  # no client-streaming RPC in the API: refused rather than unchecked
            return _deny(handler, _Denied(grpc.StatusCode.UNIMPLEMENTED, "client streaming is not served"))
        return grpc.unary_unary_rpc_method_handler(
            self._unary(handler, call), handler.request_deserializer, handler.response_serializer
        )

    def _unary(self, handler: Handler, call: _Call) -> Callable[[Any, Ctx], Awaitable[Any]]:
        behavior: Any = handler.unary_unary  # grpc's stubs type it for the sync server
        if behavior is None:
            raise RuntimeError(f"{call.method}: the handler has no unary_unary behaviour")

        async def run(request: Message, context: Ctx) -> Any:
            outcome = "OK"
            try:
                self._check(call, request)
                with self._calling(call):
                    response = await behavior(request, context)
                if call.method.endswith("/StartOrderHandler"):
                    self.owners.record(request.session_id, call.key.id)  # type: ignore[attr-defined]
                self._filter(call.key, response)
                return response
            except _Denied as denied:
                outcome = denied.code.name
                await context.abort(denied.code, denied.message)
            except BaseException:
                code = context.code()
                outcome = code.name if isinstance(code, grpc.StatusCode) else "ERROR"
                raise
            finally:
                # audited once the answer has left (the next loop turn: gRPC starts sending the answer in this
                # one, when this returns), off the answer's way; before any later call is served
                self._audit_soon(call, context, request, outcome)

        return run

    def _server_stream(self, handler: Handler, call: _Call) -> Callable[[Any, Ctx], AsyncIterator[Any]]:
        behavior: Any = handler.unary_stream  # grpc's stubs type it for the sync server
        if behavior is None:
            raise RuntimeError(f"{call.method}: the handler has no unary_stream behaviour")

        async def run(request: Message, context: Ctx) -> AsyncIterator[Any]:
            try:
                self._check(call, request)
            except _Denied as denied:
                self._audit(call, context, request, denied.code.name)
                await context.abort(denied.code, denied.message)
            self._audit(call, context, request, "OPENED")
            with self._calling(call):
                result = behavior(request, context)
                if inspect.isasyncgen(result):
                    async for response in result:
                        yield response
                else:
                    await result

        return run

    def _bidi(self, handler: Handler, call: _Call) -> Callable[[Any, Ctx], AsyncIterator[Any]]:
        behavior: Any = handler.stream_stream  # grpc's stubs type it for the sync server
        if behavior is None:
            raise RuntimeError(f"{call.method}: the handler has no stream_stream behaviour")
        response_class = _response_class(call.method)

        async def run(requests: AsyncIterator[Message], context: Ctx) -> AsyncIterator[Any]:
            checked = _CheckedStream(self, call, context, response_class)
            with self._calling(call):
                result = behavior(checked.requests(requests), checked)
                if not inspect.isasyncgen(result):
                    await result
                    return
                response: Any
                async for response in result:
                    checked.answered(response)
                    yield response

        return run


class _CheckedStream:
    """The context a bidirectional servicer (OrderEntry) sees: every request it reads is checked (session
    ownership, rate limit) and audited with its answer. A refused request gets its own answer (its
    ``requestId`` with the refusal's status, as the API answers any failing request) and the stream goes on;
    a stream whose answers carry no such status is ended with the refusal instead.

    Batching (a request type with ``batch``, a repeated field of its own type, and ``max_batch``:
    OrderEntry): the requests a message carries in ``batch`` are taken one by one, after the message's own
    (when it carries one), each checked, rate limited, audited and answered as if it had come alone. One
    level only (a nested ``batch`` is INVALID_ARGUMENT for that request), at most ``MAX_BATCH`` per message
    (more: one INVALID_ARGUMENT answer for the message, none of it taken). Answers are written at once when
    no write is in flight; those written meanwhile go in the next message, together (in the response's
    ``batch``, up to the stream's last ``max_batch``) when it is above 1, else one message each."""

    def __init__(self, access: AccessInterceptor, call: _Call, context: Ctx, response_class: type[Message] | None):
        self._access, self._call, self._context = access, call, context
        self._response_class = response_class
        self._pending: dict[int, Message] = {}  # request_id -> request, audited with its answer
        self._ready: deque[tuple[Message, str | None]] = deque()  # a message's requests (or refusals) to take
        self._batches = response_class is not None and _batching(response_class.DESCRIPTOR)
        self._max_batch = 1  # answers per message, from the requests' max_batch
        self._out: deque[tuple[Any, Message | None]] = deque()  # answers waiting for the write (their requests)
        self._flushing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def _admit(self, request: Message) -> bool:
        """True: hand the request to the servicer; False: it was answered here (refused)."""
        try:
            self._access._check(self._call, request)
            self._access._rate(self._call.key)
        except _Denied as denied:
            await self._refuse(request, denied.code, denied.message)
            return False
        if hasattr(request, "request_id"):
            self._pending[request.request_id] = request
        return True

    async def _refuse(self, request: Message, code: grpc.StatusCode, message: str) -> None:
        """Audits a refused request and answers it (or ends the stream when its answers carry no status)."""
        self._access._audit(self._call, self._context, request, code.name)
        request_id = getattr(request, "request_id", None)
        if self._response_class is None or request_id is None:
            await self._context.abort(code, message)
            return
        answer: Any = self._response_class()
        answer.request_id = request_id
        status = getattr(answer, "status")  # noqa: B009 - a google.rpc.Status by the check in _response_class
        status.code, status.message = code.value[0], message
        await self.write(answer, audited=True)

    def _unbatch(self, message: Message) -> list[tuple[Message, str | None]]:
        """The requests a message carries, in order, each with the reason it is refused (None: taken)."""
        if not _batching(message.DESCRIPTOR):
            return [(message, None)]
        items: Any = getattr(message, "batch")  # noqa: B009 - checked by _batching
        if len(items) > MAX_BATCH:
            return [(message, f"batch: at most {MAX_BATCH} requests in one message, got {len(items)}")]
        self._take_max_batch(message)
        if not items:
            return [(message, None)]
        out: list[tuple[Message, str | None]] = [(message, None)] if message.HasField("order") else []
        for i, item in enumerate(items):
            nested = "a request inside a batch carries no batch of its own (one level only)"
            out.append((item, f"batch[{i}].batch: {nested}" if len(item.batch) else None))
        return out

    def _take_max_batch(self, request: Message) -> None:
        if wanted := getattr(request, "max_batch", 0):
            self._max_batch = min(wanted, MAX_BATCH)

    async def _next(self, receive: Callable[[], Awaitable[Any]]) -> Any:
        """The next request to hand to the servicer (``grpc.aio.EOF`` at the end)."""
        while True:
            if not self._ready:
                message = await receive()
                if message is grpc.aio.EOF:
                    return message
                self._ready.extend(self._unbatch(message))
            request, refused = self._ready.popleft()
            if refused is not None:
                await self._refuse(request, grpc.StatusCode.INVALID_ARGUMENT, refused)
                continue
            self._take_max_batch(request)
            if await self._admit(request):
                return request

    async def read(self) -> Any:
        return await self._next(self._context.read)

    async def requests(self, source: AsyncIterator[Message]) -> AsyncIterator[Message]:
        async def receive() -> Any:
            try:
                return await anext(source)
            except StopAsyncIteration:
                return grpc.aio.EOF

        while (request := await self._next(receive)) is not grpc.aio.EOF:
            yield request

    async def write(self, message: Any, audited: bool = False) -> None:
        """Writes an answer at once, or, while another write is in flight, leaves it to that writer, which
        sends it (with the others that came meanwhile, up to max_batch in one message) as soon as it is done.
        One write at a time: gRPC refuses a second send on a call while one is in flight. Each answer is
        audited with its request once written: the audit (its log line, its journal row) is off the answer's
        way (~190 µs of a lone order's latency on this project's machine, measured). The request is taken from
        the pending ones at once, so a request id the client reuses once it has the answer is never confused."""
        request = None if audited else self._pending.pop(getattr(message, "request_id", -1), None)
        self._out.append((message, request))
        if self._flushing:
            return
        self._flushing = True
        try:
            while self._out:
                out, answers = self._coalesced()
                try:
                    await self._context.write(out)
                finally:
                    self._audit_answers(answers)
        except BaseException:
            # the stream is gone: the answers still waiting are audited all the same (and only once)
            left = list(self._out)
            self._out.clear()
            self._out.extend((m, None) for m, _ in left)
            self._audit_answers(left)
            raise
        finally:
            self._flushing = False

    def _coalesced(self) -> tuple[Any, list[tuple[Any, Message | None]]]:
        """The next message to write, the oldest waiting answer or up to max_batch of them in ``batch``, and
        the answers it carries (each with its request to audit)."""
        if self._max_batch <= 1 or len(self._out) == 1 or not self._batches or self._response_class is None:
            answer = self._out.popleft()
            return answer[0], [answer]
        answers = [self._out.popleft() for _ in range(min(self._max_batch, len(self._out)))]
        out: Any = self._response_class()
        out.batch.extend(m for m, _ in answers)
        return out, answers

    def _audit_answers(self, answers: list[tuple[Any, Message | None]]) -> None:
        for response, request in answers:
            if request is not None:
                self._audit_answer(request, response)

    def answered(self, response: Any) -> None:
        request = self._pending.pop(getattr(response, "request_id", -1), None)
        if request is not None:
            self._audit_answer(request, response)

    def _audit_answer(self, request: Message, response: Any) -> None:
        code = response.status.code if response.HasField("status") else 0
        self._access._audit(self._call, self._context, request, _CODE_NAMES.get(code, "UNKNOWN"))


# OrderEntry's requests per message and answers per message (batch, max_batch), and SubscribeUpdates' maxBatch:
# at most this many (1 000 order updates are ~250 kB, far below gRPC's 4 MiB message limit)
MAX_BATCH = 1000
_batching_types: dict[str, bool] = {}


def _batching(descriptor: Any) -> bool:
    """Whether a message type carries more of itself in ``batch`` (OrderEntryRequest, OrderEntryResponse)."""
    found = _batching_types.get(descriptor.full_name)
    if found is None:
        fd = descriptor.fields_by_name.get("batch")
        found = _batching_types[descriptor.full_name] = (
            fd is not None
            and fd.is_repeated
            and fd.message_type is not None
            and fd.message_type.full_name == descriptor.full_name
        )
    return found


def _response_class(method: str) -> type[Message] | None:
    """A bidirectional method's response message class when it answers each request in-band (fields
    ``request_id`` and a ``google.rpc.Status`` ``status``), else None."""
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(method.strip("/").replace("/", "."))
    except KeyError:
        return None
    out = descriptor.output_type
    status = out.fields_by_name.get("status")
    if "request_id" not in out.fields_by_name or status is None or status.message_type is None:
        return None
    if status.message_type.full_name != "google.rpc.Status":
        return None
    return message_factory.GetMessageClass(out)


_CODE_NAMES: dict[int, str] = {c.value[0]: c.name for c in grpc.StatusCode}


def _deny(handler: Handler, denied: _Denied, audit: Callable[[Ctx, Any], None] | None = None) -> Handler:
    """A handler answering ``denied`` (with ``retry-after`` trailing metadata when rate limited)."""
    trailing = (("retry-after", f"{denied.retry_after:.3f}"),) if denied.retry_after is not None else ()

    async def unary(request: Any, context: Ctx) -> Any:
        if audit is not None:
            audit(context, request)
        await context.abort(denied.code, denied.message, trailing_metadata=trailing)

    async def stream(request: Any, context: Ctx) -> AsyncIterator[Any]:
        if audit is not None:
            audit(context, request if isinstance(request, Message) else None)
        await context.abort(denied.code, denied.message, trailing_metadata=trailing)
        yield None

    de, ser = handler.request_deserializer, handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(stream, de, ser)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(stream, de, ser)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(unary, de, ser)
    return grpc.unary_unary_rpc_method_handler(unary, de, ser)
