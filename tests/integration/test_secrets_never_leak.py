"""Secrets never leak, with every security and fleet feature on at once (issue 23), execx as its own process
(``--sim``): exchange secrets from the credentials file, from ``EXECX_ACCOUNT_*`` variables and inline; API keys
from the keys file and ``--key``, and a wrong one presented; the TLS private key; fleet mode on a real
``redis-server`` and the drop copy on a real ``nats-server``; OpenTelemetry spans on the console; ``--debug``.

None of them may appear in the logs (stderr), the traces (stdout), any file of the data directory (the journal
with its audit records, ``session_accounts.json``, ``session_owners.json``, the drop copy's acks, ...), the
metrics, an error, the audit records as listed by ``ListAuditRecords``, Redis, or the drop copy's messages."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import nats
import pytest
import redis.asyncio as aioredis
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from fleet_helpers import running_redis
from service_helpers import resting_buy as buy
from test_fleet_dropcopy import NatsServer
from tls_helpers import Ca, write_pair
from waiting import eventually

# each secret distinctive, so a match anywhere is a leak of that one
FILE_SECRET = "FILESECRET-" + "f" * 40
ENV_SECRET = "ENVSECRET-" + "e" * 40
INLINE_SECRET = "INLINESECRET-" + "i" * 40
WRONG_SECRET = "WRONGSECRET-" + "w" * 40
ADMIN_KEY = "ADMINAPIKEY-" + "a" * 30
TRADER_KEY = "TRADERAPIKEY-" + "t" * 30
WRONG_KEY = "WRONGAPIKEY-" + "x" * 30


def leaks(blob: bytes, secrets: list[bytes]) -> list[bytes]:
    return [s for s in secrets if s in blob]


async def test_no_secret_in_logs_traces_files_metrics_audit_redis_or_drop_copy(tmp_path: Path) -> None:
    ca = Ca()
    server = ca.issue("execx", server=True)
    cert, key = write_pair(server, tmp_path, "tls")
    # the private key's body (its base64 lines) must never be copied anywhere
    tls_secret = b"".join(line for line in server.key.splitlines() if line and not line.startswith(b"-----"))[:48]
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [{"id": "desk", "key": TRADER_KEY, "scopes": ["trade"]}]}))
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"accounts": {"fileacct": {"apiKey": "file-api-key", "secretKey": FILE_SECRET}}}))
    data = tmp_path / "data"
    secrets = [
        s.encode() for s in (FILE_SECRET, ENV_SECRET, INLINE_SECRET, WRONG_SECRET, ADMIN_KEY, TRADER_KEY, WRONG_KEY)
    ] + [tls_secret]
    nats_server = NatsServer(tmp_path)
    await nats_server.start()
    try:
        async with running_redis(tmp_path) as redis_server:
            env = {
                **os.environ,
                "EXECX_ACCOUNT_ENVACCT_API_KEY": "env-api-key",
                "EXECX_ACCOUNT_ENVACCT_SECRET_KEY": ENV_SECRET,
                "OTEL_TRACES_EXPORTER": "console",
                "OTEL_TRACES_SAMPLER": "always_on",
            }
            proc = await asyncio.create_subprocess_exec(
                *[sys.executable, "-m", "execx_server.cli", "--sim", "--debug", "--dataDir", str(data)],
                *["--port", "0", "--grpcPort", "0", "--promPort", "0", "--key", ADMIN_KEY, "--keysFile", str(keys)],
                *["--credentialsFile", str(creds), "--tlsCert", str(cert), "--tlsKey", str(key)],
                *["--redis", redis_server.url, "--nats", nats_server.url],
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
            assert proc.stdout is not None and proc.stderr is not None
            stderr_task = asyncio.ensure_future(proc.stderr.read())  # read all along: a full pipe would block it
            try:
                ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
                stdout_task = asyncio.ensure_future(proc.stdout.read())
                listed, metrics = await exercise(ready, ca)
                redis_blob = await everything_in_redis(redis_server.url)
                nats_blob = await everything_in_the_drop_copy(nats_server.url)
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(proc.wait(), 30)
            logs, traces = await stderr_task, await stdout_task
    finally:
        await nats_server.kill()

    assert proc.returncode == 0, logs[-2000:]
    assert b'"level": "debug"' in logs and b'"audit"' in logs  # really logged at debug, the audit events too
    assert b'"span_id"' in traces or b"span_id" in traces  # spans were really exported on the console
    assert b"session.started" in logs or b"session" in logs
    assert listed.records and nats_blob and redis_blob  # there was something to look into
    assert leaks(logs, secrets) == [], "in the logs"
    assert leaks(traces, secrets) == [], "in the traces"
    assert leaks(metrics, secrets) == [], "in the metrics"
    assert leaks(listed.SerializeToString(), secrets) == [], "in ListAuditRecords"
    assert leaks(redis_blob, secrets) == [], "in Redis"
    assert leaks(nats_blob, secrets) == [], "in the drop copy"
    files = [f for f in data.rglob("*") if f.is_file()]
    assert any(f.name == "journal.db" for f in files) and any(f.name == "session_accounts.json" for f in files)
    for f in files:
        assert leaks(f.read_bytes(), secrets) == [], f


async def exercise(ready: dict[str, Any], ca: Ca) -> tuple[om.ListAuditRecordsResponse, bytes]:
    """Sessions by stored account (file and environment) and inline, orders, a refused secret and a wrong API
    key, over TLS; the audit records as an admin lists them, and the metrics text."""
    async with aiohttp.ClientSession() as http:
        for api_key, secret in (
            ("file-api-key", FILE_SECRET),
            ("env-api-key", ENV_SECRET),
            ("inline-key", INLINE_SECRET),
        ):
            body = {"apiKey": api_key, "secretKey": secret}
            async with http.post(ready["sim"]["admin"] + "/admin/accounts", json=body) as r:
                assert r.status == 200, await r.text()
    trader, admin = (("x-api-key", TRADER_KEY),), (("authorization", f"Bearer {ADMIN_KEY}"),)
    creds = grpc.ssl_channel_credentials(root_certificates=ca.pem)
    async with grpc.aio.secure_channel(ready["grpc"], creds) as ch:
        stub = om_grpc.OrderManagerServiceStub(ch)
        spot = c.EXCHANGE_BINANCE_SPOT
        for sid, key in (
            ("by-file", c.ExchangeKey(account_ref="fileacct", exchange=spot)),
            ("by-env", c.ExchangeKey(account_ref="envacct", exchange=spot)),
            ("inline", c.ExchangeKey(api_key="inline-key", secret_key=INLINE_SECRET, exchange=spot)),
        ):
            await stub.StartOrderHandler(om.StartOrderHandlerRequest(session_id=sid, exchange_key=key), metadata=trader)
            await stub.SendOrder(buy(sid, f"{sid}-1"), metadata=trader)
        wrong = c.ExchangeKey(api_key="inline-key", secret_key=WRONG_SECRET, exchange=spot)
        with pytest.raises(grpc.aio.AioRpcError) as e:  # the venue refuses the secret: not echoed
            await stub.StartOrderHandler(
                om.StartOrderHandlerRequest(session_id="wrong", exchange_key=wrong), metadata=trader
            )
        assert WRONG_SECRET not in (e.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as e:  # a wrong API key: audited, never written
            await stub.SendOrder(buy("by-file", "nokey-1"), metadata=(("x-api-key", WRONG_KEY),))
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED and WRONG_KEY not in (e.value.details() or "")
        listed = await stub.ListAuditRecords(om.ListAuditRecordsRequest(), metadata=admin)
    assert {"by-file-1", "by-env-1", "inline-1", "nokey-1"} <= {cl for r in listed.records for cl in r.cl_order_ids}
    async with aiohttp.ClientSession() as http:
        async with http.get(ready["metrics"]) as r:
            assert r.status == 200
            metrics = await r.read()
    return listed, metrics


async def everything_in_redis(url: str) -> bytes:
    """Every key of the fleet's Redis with its serialised value."""
    r = aioredis.Redis.from_url(url)
    try:
        out = b""
        async for k in r.scan_iter(count=1000):
            out += k + b"=" + (await r.dump(k) or b"") + b"\n"
        return out
    finally:
        await r.aclose()


async def everything_in_the_drop_copy(url: str) -> bytes:
    """Every message of the drop copy's stream once execx has published the journal (subjects, headers, data)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()

        async def published() -> bool:
            try:
                return (await js.stream_info("EXECX_DROPCOPY")).state.messages > 0
            except Exception:  # the stream is not there yet
                return False

        await eventually(published, "the drop copy's first messages", within_s=30.0)
        last = (await js.stream_info("EXECX_DROPCOPY")).state.last_seq
        out = b""
        for seq in range(1, last + 1):
            msg = await js.get_msg("EXECX_DROPCOPY", seq)
            out += (msg.subject or "").encode() + json.dumps(msg.headers or {}).encode() + (msg.data or b"") + b"\n"
        return out
    finally:
        await nc.close()
