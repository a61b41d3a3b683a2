"""``ListAuditRecords`` (issue 23, admin scope): the journal's audit records (``Journal.audit_records``),
written by ``access.AuditLog`` for every call needing ``trade`` or ``admin``. Filters by time, key id,
method (full gRPC name or just its name), session and outcome; pages with ``afterId``. Bad input is
INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import asyncio
import functools
import importlib
import pkgutil

import execx.v1
from execx.v1 import order_manager_pb2

from ..domain.errors import ValidationError
from ..engine.journal import AUDIT_LIMIT_MAX, AuditQuery, Journal


@functools.cache
def _methods() -> dict[str, tuple[str, ...]]:
    """Every execx.v1 RPC's full gRPC name, by its name (one name may be in several services)."""
    out: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(execx.v1.__path__):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"execx.v1.{info.name}")
            for service in module.DESCRIPTOR.services_by_name.values():
                for m in service.methods:
                    out.setdefault(m.name, []).append(f"/{service.full_name}/{m.name}")
    return {name: tuple(full) for name, full in out.items()}


def audit_query(r: order_manager_pb2.ListAuditRecordsRequest) -> AuditQuery:
    if r.from_time < 0:
        raise ValidationError("fromTime", "must be nanoseconds since the epoch (>= 0)")
    if r.to_time < 0:
        raise ValidationError("toTime", "must be nanoseconds since the epoch (>= 0)")
    if r.to_time and r.to_time <= r.from_time:
        raise ValidationError("toTime", "must be after fromTime")
    if r.after_id < 0:
        raise ValidationError("afterId", "must be >= 0")
    if r.limit > AUDIT_LIMIT_MAX:
        raise ValidationError("limit", f"must be at most {AUDIT_LIMIT_MAX}")
    if r.unauthenticated and r.key_id:
        raise ValidationError("keyId", "give keyId or unauthenticated, not both")
    methods: tuple[str, ...] = ()
    if r.method:
        known = _methods()
        if r.method.startswith("/"):
            if r.method.rpartition("/")[2] not in known or r.method not in known[r.method.rpartition("/")[2]]:
                raise ValidationError("method", f"no RPC {r.method!r}")
            methods = (r.method,)
        elif r.method in known:
            methods = known[r.method]
        else:
            raise ValidationError("method", f"no RPC named {r.method!r}")
    return AuditQuery(
        from_ns=r.from_time,
        to_ns=r.to_time,
        key_id="" if r.unauthenticated else (r.key_id or None),
        methods=methods,
        session_id=r.session_id,
        outcome=r.outcome,
        after_id=r.after_id,
        limit=r.limit or 1000,
    )


async def list_audit_records(
    journal: Journal, request: order_manager_pb2.ListAuditRecordsRequest
) -> order_manager_pb2.ListAuditRecordsResponse:
    query = audit_query(request)
    journal.flush_audit()  # the calls audited in this loop turn are listed too
    entries = await asyncio.to_thread(journal.audit_records, query)
    return order_manager_pb2.ListAuditRecordsResponse(
        records=[
            order_manager_pb2.AuditRecord(
                id=e.id,
                time=e.ts_ns,
                key_id=e.key_id,
                peer=e.peer,
                method=e.method,
                session_ids=e.sessions,
                cl_order_ids=e.cl_order_ids,
                outcome=e.outcome,
            )
            for e in entries
        ]
    )
