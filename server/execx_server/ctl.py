"""``execx ctl``: the operator's command line over gRPC (``execx_client``), the key from ``EXECX_KEY``.

    execx ctl sessions
    execx ctl orders SESSION [--symbol S] [--all] [--limit N]
    execx ctl fills SESSION [--symbol S] [--limit N]
    execx ctl positions SESSION
    execx ctl tail SESSION [--from-seq N] [--count N]
    execx ctl send SESSION CLORDERID SYMBOL SIDE QTY [--price P] [--type limit] [--tif gtc]
    execx ctl cancel SESSION CLORDERID
    execx ctl pull SESSION SYMBOL
    execx ctl cancel-all SESSION [--symbol S]
    execx ctl kill SESSION|all [--reason TEXT]
    execx ctl release SESSION|all
    execx ctl audit [--from ISO-TIME] [--to ISO-TIME] [--keyId K | --unauthenticated] [--method M]
                    [--session S] [--outcome O] [--limit N]     (admin key; --json: one record a line)

``--target HOST:PORT`` (default ``EXECX_TARGET``, else 127.0.0.1 and ``EXECX_GRPC_PORT`` or 35028),
``--json`` prints JSON lines instead of tables, ``--timeout`` seconds per call. Exit code 0, or 1 with
``execx ctl: CODE: message`` on stderr.

TLS (execx started with ``--tlsCert``): ``--cacert CA`` (``EXECX_TLS_CA``) the CA bundle that signed
execx's certificate, ``--cert C --key K`` (``EXECX_TLS_CLIENT_CERT``, ``EXECX_TLS_CLIENT_KEY``) a client
certificate for mTLS (``--key`` is its private key; the API key is ``EXECX_KEY``), ``--serverName N``
(``EXECX_TLS_SERVER_NAME``) the name the certificate is checked against when it is not the target's host.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from execx_client import ExecxClient, ExecxError, OrderTransaction

ORDER_COLUMNS = ("cl_order_id", "symbol", "side", "order_type", "order_status", "price", "qty", "cumulative_filled_qty")
FILL_COLUMNS = ("seq", "cl_order_id", "symbol", "side", "price", "qty", "trade_liquidity", "fee", "fee_currency")
SESSION_COLUMNS = ("session_id", "exchange", "active", "last_seq", "use_margin", "rest_url")
UPDATE_COLUMNS = ("seq", "cl_order_id", "order_status", "price", "qty", "cumulative_filled_qty", "trade_id", "message")


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as an aligned text table with a header."""
    cells = [[str(c).upper() for c in columns]] + [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def _parser() -> argparse.ArgumentParser:
    default = os.environ.get("EXECX_TARGET") or f"127.0.0.1:{os.environ.get('EXECX_GRPC_PORT', '35028')}"
    p = argparse.ArgumentParser(prog="execx ctl", description="operate execx over gRPC (key: EXECX_KEY)")
    p.add_argument("--target", default=default, help="execx's gRPC HOST:PORT (EXECX_TARGET)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of tables")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per call")
    env = os.environ.get
    p.add_argument("--cacert", default=env("EXECX_TLS_CA", ""), help="TLS: the CA that signed execx's cert")
    p.add_argument("--cert", default=env("EXECX_TLS_CLIENT_CERT", ""), help="mTLS: a client certificate (PEM)")
    p.add_argument(
        "--key", default=env("EXECX_TLS_CLIENT_KEY", ""), help="mTLS: its private key (PEM; the API key is EXECX_KEY)"
    )
    p.add_argument("--serverName", default=env("EXECX_TLS_SERVER_NAME", ""), help="TLS: the name to check")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("sessions", help="every session")
    o = sub.add_parser("orders", help="a session's open orders (--all: every order)")
    o.add_argument("session")
    o.add_argument("--symbol", default="")
    o.add_argument("--all", action="store_true")
    o.add_argument("--limit", type=int, default=0)
    f = sub.add_parser("fills", help="a session's fills")
    f.add_argument("session")
    f.add_argument("--symbol", default="")
    f.add_argument("--limit", type=int, default=0)
    sub.add_parser("positions", help="a session's positions").add_argument("session")
    t = sub.add_parser("tail", help="follow a session's updates (resumes after a drop)")
    t.add_argument("session")
    t.add_argument("--from-seq", type=int, default=None)
    t.add_argument("--count", type=int, default=0, help="stop after this many updates (0: never)")
    s = sub.add_parser("send", help="insert an order")
    for name in ("session", "cl_order_id", "symbol", "side"):
        s.add_argument(name)
    s.add_argument("qty", type=float)
    s.add_argument("--price", type=float, default=None)
    s.add_argument("--type", default="limit", help="limit, market, postonly")
    s.add_argument("--tif", default="gtc", help="gtc, ioc, fok, day")
    c = sub.add_parser("cancel", help="cancel an order")
    c.add_argument("session")
    c.add_argument("cl_order_id")
    pl = sub.add_parser("pull", help="cancel every open order of a session on a symbol")
    pl.add_argument("session")
    pl.add_argument("symbol")
    ca = sub.add_parser("cancel-all", help="cancel every open order of a session")
    ca.add_argument("session")
    ca.add_argument("--symbol", default="")
    k = sub.add_parser("kill", help="engage the kill switch of a session (or 'all')")
    k.add_argument("session")
    k.add_argument("--reason", default="execx ctl")
    sub.add_parser("release", help="release the kill switch of a session (or 'all')").add_argument("session")
    a = sub.add_parser("audit", help="the audit records of the journal, oldest first (admin key)")
    a.add_argument("--from", dest="from_time", type=_iso_ns, default=0, help="at or after (ISO 8601, UTC if no zone)")
    a.add_argument("--to", dest="to_time", type=_iso_ns, default=0, help="before (ISO 8601)")
    a.add_argument("--keyId", default="", help="calls made with this API key id")
    a.add_argument("--unauthenticated", action="store_true", help="calls that presented no valid API key")
    a.add_argument("--method", default="", help="an RPC's name (SendOrder) or full gRPC name")
    a.add_argument("--session", default="", help="calls naming this session")
    a.add_argument("--outcome", default="", help="OK, OPENED or a status code name (PERMISSION_DENIED, ...)")
    a.add_argument("--limit", type=int, default=0, help="at most this many records (default: every one)")
    return p


def _iso_ns(text: str) -> int:
    """An ISO 8601 time as nanoseconds since the epoch (UTC when it names no zone)."""
    try:
        t = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.UTC)
    return int(t.timestamp()) * 10**9 + t.microsecond * 1000


AUDIT_COLUMNS = ("id", "time", "key_id", "peer", "method", "session_ids", "cl_order_ids", "outcome")
AUDIT_PAGE = 1000


async def _audit(x: ExecxClient, out: _Out, a: argparse.Namespace) -> None:
    """Every matching record (``--limit``: at most that many), page by page."""
    after, left = 0, a.limit or -1
    table_rows: list[dict[str, Any]] = []  # a table is printed once; JSON lines page by page (an export)
    while left != 0:
        page = await x.list_audit_records(
            from_time=a.from_time,
            to_time=a.to_time,
            key_id=a.keyId,
            method=a.method,
            session_id=a.session,
            outcome=a.outcome,
            unauthenticated=a.unauthenticated,
            after_id=after,
            limit=AUDIT_PAGE if left < 0 else min(left, AUDIT_PAGE),
        )
        if not page:
            break
        rows = []
        for r in page:
            row = dataclasses.asdict(r)
            when = datetime.datetime.fromtimestamp(r.time / 1e9, datetime.UTC)
            row["time"] = when.isoformat(timespec="microseconds").replace("+00:00", "Z")
            if not out.as_json:
                row |= {k: ",".join(row[k]) for k in ("session_ids", "cl_order_ids")}
            rows.append(row)
        if out.as_json:
            out.rows(rows, AUDIT_COLUMNS)
        else:
            table_rows += rows
        after = page[-1].id
        left = left - len(page) if left > 0 else left
    if not out.as_json:
        out.rows(table_rows, AUDIT_COLUMNS)


class _Out:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def rows(self, items: Sequence[Any], columns: Sequence[str]) -> None:
        dicts = [dict(i) if isinstance(i, dict) else dataclasses.asdict(i) for i in items]
        if self.as_json:
            for d in dicts:
                print(json.dumps(d), flush=True)
        else:
            print(table(dicts, columns), flush=True)

    def value(self, key: str, value: Any) -> None:
        print(json.dumps({key: value}) if self.as_json else f"{key}: {value}", flush=True)


async def run(a: argparse.Namespace) -> int:
    out = _Out(a.json)
    async with ExecxClient(
        a.target,
        timeout=a.timeout,
        tls_ca=a.cacert or None,
        tls_cert=a.cert or None,
        tls_key=a.key or None,
        tls_server_name=a.serverName or None,
    ) as x:
        cmd = a.command
        if cmd == "sessions":
            out.rows(await x.list_sessions(), SESSION_COLUMNS)
        elif cmd == "orders":
            out.rows(await x.list_orders(a.session, a.symbol, open_only=not a.all, limit=a.limit), ORDER_COLUMNS)
        elif cmd == "fills":
            out.rows(await x.list_fills(a.session, a.symbol, limit=a.limit), FILL_COLUMNS)
        elif cmd == "positions":
            async for snapshot in x.positions(a.session):
                rows = [{"symbol": s, "position": q} for s, q in sorted(snapshot.positions.items())]
                out.rows(rows, ("symbol", "position"))
                break
        elif cmd == "tail":
            await _tail(x, out, a)
        elif cmd == "send":
            o = await x.insert(a.session, a.cl_order_id, a.symbol, a.side, a.qty, a.price, a.type, a.tif)
            out.rows([o], ORDER_COLUMNS)
        elif cmd == "cancel":
            out.rows([await x.cancel(a.session, a.cl_order_id)], ORDER_COLUMNS)
        elif cmd == "pull":
            out.rows([await x.pull(a.session, a.symbol)], ORDER_COLUMNS)
        elif cmd == "cancel-all":
            out.value("cancelled", await x.cancel_all(a.session, a.symbol))
        elif cmd == "kill":
            out.value("cancelled", await x.engage_kill_switch(a.session, a.reason))
        elif cmd == "audit":
            await _audit(x, out, a)
        elif cmd == "release":
            await x.release_kill_switch(a.session)
            out.value("released", a.session)
    return 0


async def _tail(x: ExecxClient, out: _Out, a: argparse.Namespace) -> None:
    seen = 0
    if not a.json:
        print(table([], UPDATE_COLUMNS), flush=True)
    async for u in x.updates(a.session, a.from_seq):
        row = dataclasses.asdict(u)
        if a.json:
            print(json.dumps({"kind": type(u).__name__, **row}), flush=True)
        elif isinstance(u, OrderTransaction):
            print(table([row], UPDATE_COLUMNS).splitlines()[1], flush=True)
        else:
            print(f"{u.seq}  {type(u).__name__}  {row.get('event', '')}  {row.get('reason', '')}".rstrip(), flush=True)
        seen += 1
        if a.count and seen >= a.count:
            return


def main(argv: list[str]) -> int:
    a = _parser().parse_args(argv)
    try:
        return asyncio.run(run(a))
    except ExecxError as e:
        print(f"execx ctl: {e.code.name}: {e.message}", file=sys.stderr)
        return 1
    except OSError as e:  # a certificate file that cannot be read
        print(f"execx ctl: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
