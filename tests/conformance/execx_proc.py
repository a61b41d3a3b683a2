"""Running ``execx --sim`` as its own process for the conformance tests that drive it with independent
clients (buf curl, Node, promtool, schemathesis), and the CI rule for missing tools."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_tool(message: str) -> None:
    """A tool a test needs is absent: under CI that fails the test (``.ci/run`` installs it); locally it skips."""
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def read_until(proc: subprocess.Popen[bytes], done: Callable[[bytes], bool], within_s: float) -> bytes:
    """Read ``proc``'s stdout until ``done(bytes so far)``, EOF, or the deadline."""
    assert proc.stdout is not None
    out = b""
    deadline = time.monotonic() + within_s
    while not done(out):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if select.select([proc.stdout], [], [], remaining)[0]:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
    return out


def stop(proc: subprocess.Popen[bytes], group: bool = False) -> None:
    """SIGTERM, then SIGKILL after 20 s; ``group``: to the process group ``proc`` leads."""

    def send(sig: int) -> None:
        try:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            pass

    if group or proc.poll() is None:
        send(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@contextmanager
def execx_sim(key: str, data: Path) -> Iterator[dict[str, Any]]:
    """``execx --key KEY --sim`` on ephemeral ports with its journal in ``data``; yields the ready line.
    Its stderr goes to ``data/stderr.log`` (quoted if it never gets ready)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "server"), str(ROOT / "clients" / "python")]
            + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        ),
    }
    argv = [sys.executable, "-m", "execx_server.cli", "--key", key, "--sim"]
    argv += ["--port", "0", "--grpcPort", "0", "--promPort", "0", "--dataDir", str(data)]
    with (data / "stderr.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=env, cwd=data)
        try:
            line = read_until(proc, lambda out: b"\n" in out, 60.0)
            assert b"\n" in line, (
                f"no ready line; execx exited {proc.poll()}: "
                f"{(data / 'stderr.log').read_text(errors='replace')[-2000:]}"
            )
            ready: dict[str, Any] = json.loads(line.splitlines()[0])
            assert ready["event"] == "ready"
            yield ready
        finally:
            stop(proc)
