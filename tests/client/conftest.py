"""Fixtures of the client tests: execx in this process on the shared quiet simulator (``tests/conftest.py``),
restartable on the same data dir and gRPC port, and a fresh simulator account per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from client_helpers import Execx, Keys
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account


@pytest.fixture
async def execx(sim: Simulator, tmp_path: Path) -> AsyncIterator[Execx]:
    x = Execx(sim, tmp_path / "data")
    await x.start()
    try:
        yield x
    finally:
        await x.stop()


@pytest.fixture
def keys(account: Account) -> Keys:
    """A fresh simulator account's exchange keys."""
    return {"api_key": account.api_key, "secret_key": account.secret_key, "passphrase": account.passphrase}
