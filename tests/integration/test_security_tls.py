"""TLS and mTLS on the gRPC and REST/websocket listeners, with real TLS clients on loopback: plaintext
refused on the TLS ports, mTLS without a client certificate refused, certificate rotation while a stream
stays up, and the secure-by-default start-up refusal."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import grpc
import pytest
import tls_helpers
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx.v1 import order_manager_pb2_grpc as om_grpc
from execx_server.app import Service, Settings, StartupError
from tls_helpers import Ca, Pem, client_ssl, write_pair

KEY = "tls-test-key"
AUTH = (("x-api-key", KEY),)


@asynccontextmanager
async def tls_service(tmp: Path, ca: Ca, client_ca: Ca | None = None) -> AsyncIterator[Service]:
    async with tls_helpers.tls_service(tmp, ca, KEY, client_ca) as service:
        yield service


async def health(target: str, *args: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "execx_server.cli",
        "health",
        "--grpc",
        target,
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(proc.wait(), 30)


def channel(target: str, ca: Ca, client: Pem | None = None) -> grpc.aio.Channel:
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca.pem,
        private_key=client.key if client else None,
        certificate_chain=client.cert if client else None,
    )
    return grpc.aio.secure_channel(target, creds)


async def test_grpc_and_rest_over_tls_and_plaintext_refused(tmp_path: Path) -> None:
    ca = Ca()
    async with tls_service(tmp_path, ca) as service:
        target, rest = service.ready["grpc"], service.ready["rest"]
        assert rest.startswith("https://")
        async with channel(target, ca) as ch:
            answer = await om_grpc.OrderManagerServiceStub(ch).ListSessions(om.ListSessionsRequest(), metadata=AUTH)
            assert list(answer.sessions) == []
        async with grpc.aio.insecure_channel(target) as ch:  # plaintext HTTP/2 on the TLS port
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await om_grpc.OrderManagerServiceStub(ch).ListSessions(
                    om.ListSessionsRequest(), metadata=AUTH, timeout=5
                )
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        async with channel(target, Ca("another CA")) as ch:  # a certificate the client does not trust
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await om_grpc.OrderManagerServiceStub(ch).ListSessions(
                    om.ListSessionsRequest(), metadata=AUTH, timeout=5
                )
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        ca_file = ca.write(tmp_path / "ca.pem")
        assert await health(target, "--cacert", str(ca_file)) == 0  # `execx health` over TLS: SERVING
        assert await health(target) == 1  # plaintext: refused
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{rest}/listSessions", json={}, headers=dict(AUTH), ssl=client_ssl(ca)) as r:
                assert r.status == 200, await r.text()
            async with http.post(f"{rest}/listSessions", json={}, headers={"x-api-key": "no"}, ssl=client_ssl(ca)) as r:
                assert r.status == 401
            with pytest.raises(aiohttp.ClientError):  # plaintext HTTP on the TLS port
                async with http.post(rest.replace("https://", "http://") + "/listSessions", json={}) as r:
                    await r.read()
            # the websocket over TLS: the handshake authenticated, a stream's request answered
            async with http.ws_connect(
                rest.replace("https://", "wss://") + "/subscribeUpdates", headers=dict(AUTH), ssl=client_ssl(ca)
            ) as ws:
                await ws.send_str(json.dumps({"sessionId": "nobody"}))
                msg = await ws.receive(timeout=10)
                assert msg.type == aiohttp.WSMsgType.TEXT and "nobody" in msg.data  # NOT_FOUND names it


async def test_mtls_refuses_a_client_without_a_certificate(tmp_path: Path) -> None:
    ca, clients = Ca(), Ca("client CA")
    good, stranger = clients.issue("strategy-1", server=False), Ca("rogue").issue("rogue", server=False)
    async with tls_service(tmp_path, ca, client_ca=clients) as service:
        target, rest = service.ready["grpc"], service.ready["rest"]
        async with channel(target, ca, good) as ch:
            await om_grpc.OrderManagerServiceStub(ch).ListSessions(om.ListSessionsRequest(), metadata=AUTH)
        for who in (None, stranger):
            async with channel(target, ca, who) as ch:
                with pytest.raises(grpc.aio.AioRpcError) as e:
                    await om_grpc.OrderManagerServiceStub(ch).ListSessions(
                        om.ListSessionsRequest(), metadata=AUTH, timeout=5
                    )
                assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        async with aiohttp.ClientSession() as http:
            ctx = client_ssl(ca, good, tmp_path)
            async with http.post(f"{rest}/listSessions", json={}, headers=dict(AUTH), ssl=ctx) as r:
                assert r.status == 200
            for who in (None, stranger):
                with pytest.raises((aiohttp.ClientError, ssl.SSLError)):
                    async with http.post(
                        f"{rest}/listSessions", json={}, headers=dict(AUTH), ssl=client_ssl(ca, who, tmp_path)
                    ) as r:
                        await r.read()


async def test_certificate_rotation_keeps_live_streams(tmp_path: Path) -> None:
    old, new = Ca("CA before rotation"), Ca("CA after rotation")
    async with tls_service(tmp_path, old) as service:
        target, rest = service.ready["grpc"], service.ready["rest"]
        demo = service.ready["sim"]["accounts"][0]
        async with channel(target, old) as ch:
            stub = om_grpc.OrderManagerServiceStub(ch)
            await stub.StartOrderHandler(
                om.StartOrderHandlerRequest(
                    session_id="rot",
                    exchange_key=c.ExchangeKey(
                        api_key=demo["apiKey"], secret_key=demo["secretKey"], exchange=c.EXCHANGE_BINANCE_SPOT
                    ),
                ),
                metadata=AUTH,
            )
            stream = stub.SubscribeUpdates(om.SubscribeUpdatesRequest(session_id="rot"), metadata=AUTH)
            http = aiohttp.ClientSession()
            ws = await http.ws_connect(
                rest.replace("https://", "wss://") + "/subscribeUpdates", headers=dict(AUTH), ssl=client_ssl(old)
            )
            await ws.send_str(json.dumps({"sessionId": "rot"}))
            try:
                write_pair(new.issue("execx", server=True), tmp_path, "server")  # cert-manager's rotation
                deadline = time.monotonic() + 15
                while True:  # new connections get the new certificate
                    async with channel(target, new) as fresh:
                        try:
                            await om_grpc.OrderManagerServiceStub(fresh).ListSessions(
                                om.ListSessionsRequest(), metadata=AUTH, timeout=2
                            )
                            break
                        except grpc.aio.AioRpcError:
                            assert time.monotonic() < deadline, "the rotated certificate was never served"
                            await asyncio.sleep(0.1)
                async with aiohttp.ClientSession() as h2:
                    async with h2.post(f"{rest}/listSessions", json={}, headers=dict(AUTH), ssl=client_ssl(new)) as r:
                        assert r.status == 200
                    with pytest.raises(aiohttp.ClientError):
                        async with h2.post(f"{rest}/listSessions", json={}, headers=dict(AUTH), ssl=client_ssl(old)):
                            pass
                # the streams opened before the rotation are still up and still deliver
                await stub.SendOrder(
                    om.SendOrderRequest(
                        session_id="rot",
                        cl_order_id="after-rotation",
                        symbol="BTCUSDT",
                        price=90000.0,
                        qty=0.001,
                        order_type=c.ORDER_TYPE_LIMIT,
                        transaction_type=c.TRANSACTION_TYPE_INSERT,
                        side=c.SIDE_BUY,
                    ),
                    metadata=AUTH,
                )
                seen: list[str] = []
                while "after-rotation" not in seen:
                    msg = await asyncio.wait_for(stream.read(), 10)
                    assert msg is not grpc.aio.EOF
                    seen.append(msg.transaction.cl_order_id)
                while True:
                    frame = await ws.receive(timeout=10)
                    assert frame.type == aiohttp.WSMsgType.TEXT, frame
                    if json.loads(frame.data).get("clOrderId") == "after-rotation":
                        break
                assert service.tls is not None and service.tls.reloads >= 1
            finally:
                stream.cancel()
                await ws.close()
                await http.close()


async def test_a_half_written_rotation_keeps_the_old_certificate(tmp_path: Path) -> None:
    ca = Ca()
    async with tls_service(tmp_path, ca) as service:
        assert service.tls is not None
        (tmp_path / "server.key").write_bytes(Ca().issue("x", server=True).key)  # a key of another cert
        assert not service.tls.reload_if_changed()
        async with channel(service.ready["grpc"], ca) as ch:
            await om_grpc.OrderManagerServiceStub(ch).ListSessions(om.ListSessionsRequest(), metadata=AUTH)


async def test_non_loopback_without_tls_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="without TLS"):
        await Service(Settings(key=KEY, host="0.0.0.0", port=0, grpc_port=0, prom_port=0, data_dir=tmp_path)).start()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "execx_server.cli",
        "--host",
        "0.0.0.0",
        "--dataDir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "EXECX_KEY": KEY},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and out == b""
    assert b"--insecure" in err and b"--tlsCert" in err
    with pytest.raises(StartupError, match="go together"):
        await Service(Settings(key=KEY, tls_cert=tmp_path / "c.pem", data_dir=tmp_path)).start()
