"""The clients over TLS and mTLS, on loopback with certificates made in the test: the Python client
(``ExecxClient(tls_ca=..., tls_cert=..., tls_key=..., tls_server_name=...)``), ``execx ctl`` (flags and
``EXECX_TLS_*`` variables) and ``buf curl --cacert``; each refused without the CA, and under mTLS without
a client certificate the CA signed."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
import tls_helpers
from execx_client import ExecxClient, ExecxError, OrderTransaction
from execx_server.app import Service, Settings
from tls_helpers import Ca, Pem, write_pair

KEY = "tls-clients-test-key"


@asynccontextmanager
async def tls_service(tmp: Path, ca: Ca, client_ca: Ca | None = None) -> AsyncIterator[str]:
    """execx with TLS (mTLS with ``client_ca``) on the embedded simulator; yields its gRPC target."""
    async with tls_helpers.tls_service(tmp, ca, KEY, client_ca) as service:
        yield str(service.ready["grpc"])


async def refused(client: ExecxClient) -> str:
    """The client's refusal: UNAVAILABLE naming the TLS cause, at once. The call's timeout is long (60 s): a
    client that waited for it instead would fail with DEADLINE_EXCEEDED, not pass slowly."""
    async with client as x:
        with pytest.raises(ExecxError) as e:
            await x.list_sessions(timeout=60)
    assert e.value.code == grpc.StatusCode.UNAVAILABLE, e.value
    return e.value.message


async def test_python_client_over_tls(tmp_path: Path) -> None:
    ca = Ca()
    ca_file = ca.write(tmp_path / "ca.pem")
    async with tls_service(tmp_path, ca) as target:
        async with ExecxClient(target, KEY, tls_ca=ca_file) as x:
            sid = await x.start_session("tls-py", "binance-spot", "execx-demo-api-key", "execx-demo-secret-key")
            order = await x.insert(sid, "tls-1", "BTCUSDT", "buy", qty=0.001, price=90_000.0)  # the OrderEntry stream
            assert order.cl_order_id == "tls-1"
            async for u in x.updates(sid, from_seq=1):  # a server stream
                assert isinstance(u, OrderTransaction) and u.cl_order_id == "tls-1"
                break
            assert [s.session_id for s in await x.list_sessions()] == [sid]
        async with ExecxClient(target, KEY, tls_ca=ca.pem, tls_server_name="localhost") as x:  # PEM bytes; a SAN
            assert [s.session_id for s in await x.list_sessions()] == [sid]
        assert "serves TLS: a plaintext channel is refused" in await refused(ExecxClient(target, KEY))
        why = await refused(ExecxClient(target, KEY, tls=True))  # the system's CAs do not know it
        assert "certificate was not accepted" in why and "unable to get local issuer certificate" in why, why
        why = await refused(ExecxClient(target, KEY, tls_ca=Ca("another CA").pem))
        assert "certificate was not accepted" in why and "local issuer" in why, why
        # the name checked is the override: one the certificate does not carry is refused
        why = await refused(ExecxClient(target, KEY, tls_ca=ca_file, tls_server_name="not-execx.example"))
        assert "certificate was not accepted" in why and "not-execx.example" in why, why
        async with ExecxClient(target, KEY, tls_ca=Ca("another CA").pem) as x:  # a stream ends the same way
            with pytest.raises(ExecxError) as e:
                async for _ in x.updates("tls-py"):
                    pass
            assert e.value.code == grpc.StatusCode.UNAVAILABLE and "certificate was not accepted" in e.value.message
            with pytest.raises(ExecxError) as e:  # and an order on the OrderEntry stream
                await x.insert("tls-py", "tls-2", "BTCUSDT", "buy", qty=0.001, price=90_000.0, timeout=60)
            assert e.value.code == grpc.StatusCode.UNAVAILABLE and "certificate was not accepted" in e.value.message
    with pytest.raises(ExecxError) as e:
        ExecxClient(target, KEY, tls_ca=ca_file, tls_cert=ca_file)  # a certificate without its key
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_python_client_over_mtls(tmp_path: Path) -> None:
    ca, clients = Ca(), Ca("client CA")
    cert, key = write_pair(clients.issue("strategy-1", server=False), tmp_path, "client")
    rogue = Ca("rogue").issue("rogue", server=False)
    async with tls_service(tmp_path, ca, client_ca=clients) as target:
        async with ExecxClient(target, KEY, tls_ca=ca.pem, tls_cert=cert, tls_key=key) as x:
            assert await x.list_sessions() == []
        why = await refused(ExecxClient(target, KEY, tls_ca=ca.pem))  # no client certificate
        assert "client certificate" in why and "tls_cert" in why, why
        stranger = ExecxClient(target, KEY, tls_ca=ca.pem, tls_cert=rogue.cert, tls_key=rogue.key)
        why = await refused(stranger)  # one another CA signed
        assert "after the handshake" in why and "--tlsClientCa" in why, why


async def test_python_client_with_tls_on_a_plaintext_port(tmp_path: Path) -> None:
    service = Service(Settings(key=KEY, port=0, grpc_port=0, prom_port=0, data_dir=tmp_path / "data"))
    await service.start()
    try:
        why = await refused(ExecxClient(service.ready["grpc"], KEY, tls_ca=Ca().pem))
        assert "TLS handshake" in why and "serving TLS on this port" in why, why
    finally:
        await service.stop()


async def ctl(target: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EXECX_TLS_")}
    environment |= {"EXECX_KEY": KEY, "EXECX_TARGET": target, **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "execx_server.cli",
        "ctl",
        "--timeout",
        "3",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_ctl_over_tls_and_mtls(tmp_path: Path) -> None:
    ca, clients = Ca(), Ca("client CA")
    ca_file = ca.write(tmp_path / "ca.pem")
    cert, key = write_pair(clients.issue("operator", server=False), tmp_path, "client")
    (tmp_path / "tls").mkdir()
    async with tls_service(tmp_path / "tls", ca) as target:
        async with ExecxClient(target, KEY, tls_ca=ca_file) as x:
            sid = await x.start_session("tls-ctl", "binance-spot", "execx-demo-api-key", "execx-demo-secret-key")
        rc, out, err = await ctl(target, "--cacert", str(ca_file), "--json", "sessions")
        assert rc == 0, err
        assert [json.loads(line)["session_id"] for line in out.splitlines()] == [sid]
        rc, out, err = await ctl(target, "sessions", env={"EXECX_TLS_CA": str(ca_file)})
        assert rc == 0 and sid in out, err
        rc, _, err = await ctl(target, "--cacert", str(ca_file), "--serverName", "localhost", "sessions")
        assert rc == 0, err
        rc, _, err = await ctl(target, "sessions")  # plaintext on the TLS port: named, not a timeout
        assert rc == 1 and err.startswith("execx ctl: UNAVAILABLE") and "serves TLS" in err, err
        rc, _, err = await ctl(target, "--cacert", str(cert), "sessions")  # a CA that did not sign execx's
        assert rc == 1 and "UNAVAILABLE" in err and "certificate was not accepted" in err, err
        rc, _, err = await ctl(target, "--cacert", str(tmp_path / "missing.pem"), "sessions")
        assert rc == 1 and "missing.pem" in err, err
        rc, _, err = await ctl(target, "--cacert", str(ca_file), "--cert", str(cert), "sessions")  # no key
        assert rc == 1 and "INVALID_ARGUMENT" in err, err

    mtls = tmp_path / "mtls"
    mtls.mkdir()
    async with tls_service(mtls, ca, client_ca=clients) as target:
        rc, _, err = await ctl(target, "--cacert", str(ca_file), "--cert", str(cert), "--key", str(key), "sessions")
        assert rc == 0, err
        tls_env = {"EXECX_TLS_CA": str(ca_file), "EXECX_TLS_CLIENT_CERT": str(cert), "EXECX_TLS_CLIENT_KEY": str(key)}
        rc, _, err = await ctl(target, "sessions", env=tls_env)
        assert rc == 0, err
        rc, _, err = await ctl(target, "sessions", env={"EXECX_TLS_CA": str(ca_file)})  # no client certificate
        assert rc == 1 and err.startswith("execx ctl: UNAVAILABLE") and "client certificate" in err, err


def _buf() -> str:
    candidates = [os.environ.get("EXECX_BUF", ""), "/tmp/buf/node_modules/.bin/buf", shutil.which("buf") or ""]
    for buf in candidates:
        if buf and Path(buf).is_file() and os.access(buf, os.X_OK):
            return buf
    message = f"buf not found (EXECX_BUF={candidates[0]!r}); .ci/run installs it from npm (@bufbuild/buf)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


async def buf_curl(target: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        _buf(),
        "curl",
        "--protocol",
        "grpc",
        "--reflect",
        "--connect-timeout",
        "5",
        "-H",
        f"x-api-key: {KEY}",
        "-d",
        "{}",
        *args,
        f"https://{target}/execx.v1.OrderManagerService/ListSessions",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_buf_curl_over_tls_and_mtls(tmp_path: Path) -> None:
    _buf()  # skip (or fail under CI) before starting anything
    ca, clients = Ca(), Ca("client CA")
    ca_file = ca.write(tmp_path / "ca.pem")
    client: Pem = clients.issue("buf", server=False)
    cert, key = write_pair(client, tmp_path, "client")
    (tmp_path / "tls").mkdir()
    async with tls_service(tmp_path / "tls", ca) as target:
        rc, out, err = await buf_curl(target, "--cacert", str(ca_file))
        assert rc == 0, err
        assert json.loads(out) == {}  # no sessions: every field at its default
        rc, out, err = await buf_curl(target)  # the system's CAs do not know execx's: reflection fails
        assert rc != 0 and out == "", err
    (tmp_path / "mtls").mkdir()
    async with tls_service(tmp_path / "mtls", ca, client_ca=clients) as target:
        rc, _, err = await buf_curl(target, "--cacert", str(ca_file), "--cert", str(cert), "--key", str(key))
        assert rc == 0, err
        rc, out, err = await buf_curl(target, "--cacert", str(ca_file))  # no client certificate
        assert rc != 0 and out == "", err


NODE_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "node"
NODE_SCRIPT = """
const { ExecxClient } = require(process.argv[1]);
const [target, key, tls] = [process.argv[2], process.argv[3], JSON.parse(process.argv[4])];
const x = new ExecxClient(target, key, 3000, tls === null ? undefined : tls);
x.listSessions().then(
  (s) => { console.log(JSON.stringify({ sessions: s.map((v) => v.sessionId) })); x.close(); },
  (e) => { console.log(JSON.stringify({ code: e.code })); x.close(); });
"""


def _node() -> str:
    node = shutil.which("node")
    if node and (NODE_CLIENT / "node_modules" / "typescript" / "package.json").is_file():
        return node
    message = "node or clients/node/node_modules missing: .ci/run installs them with `npm ci --prefix clients/node`"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


async def node_list_sessions(target: str, tls: dict[str, str] | None) -> dict[str, object]:
    """The TypeScript client's ``listSessions`` (``new ExecxClient(target, key, 3000, tls)``) in node."""
    node = _node()
    argv = [node, "-e", NODE_SCRIPT, str(NODE_CLIENT / "dist" / "execx.js"), target, KEY, json.dumps(tls)]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    answer: dict[str, object] = json.loads(out.decode().strip().splitlines()[-1])
    return answer


async def test_node_client_over_tls_and_mtls(tmp_path: Path) -> None:
    _node()  # skip (or fail under CI) before building
    build = await asyncio.create_subprocess_exec(
        "npm",
        "run",
        "build",
        "--prefix",
        str(NODE_CLIENT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(build.communicate(), 180)
    assert build.returncode == 0, out.decode()[-3000:]
    node_refused = [
        {"code": grpc.StatusCode.UNAVAILABLE.value[0]},
        {"code": grpc.StatusCode.DEADLINE_EXCEEDED.value[0]},
    ]
    ca, clients = Ca(), Ca("client CA")
    ca_file = str(ca.write(tmp_path / "ca.pem"))
    cert, key = (str(p) for p in write_pair(clients.issue("node", server=False), tmp_path, "client"))
    (tmp_path / "tls").mkdir()
    async with tls_service(tmp_path / "tls", ca) as target:
        assert await node_list_sessions(target, {"ca": ca_file}) == {"sessions": []}
        assert await node_list_sessions(target, {"ca": ca_file, "serverName": "localhost"}) == {"sessions": []}
        assert await node_list_sessions(target, {"ca": ca_file, "serverName": "not-execx.example"}) in node_refused
        assert await node_list_sessions(target, None) in node_refused  # plaintext on the TLS port
    (tmp_path / "mtls").mkdir()
    async with tls_service(tmp_path / "mtls", ca, client_ca=clients) as target:
        assert await node_list_sessions(target, {"ca": ca_file, "cert": cert, "key": key}) == {"sessions": []}
        assert await node_list_sessions(target, {"ca": ca_file}) in node_refused  # no client certificate
