"""What every example strategy reads from its environment: execx's gRPC address and service key, and the
venue account (defaults: the simulator's demo account, as ``execx --sim`` prints it)."""

from __future__ import annotations

import os

from execx_client import ExecxClient

TARGET = os.environ.get("EXECX_TARGET", "127.0.0.1:35028")
API_KEY = os.environ.get("EXECX_API_KEY", "execx-demo-api-key")
SECRET_KEY = os.environ.get("EXECX_SECRET_KEY", "execx-demo-secret-key")


def client() -> ExecxClient:
    """A client of the execx at ``EXECX_TARGET`` with the key in ``EXECX_KEY``."""
    return ExecxClient(TARGET, timeout=15)
