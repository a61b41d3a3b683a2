"""Fixtures of the client tests: execx in this process on a quiet simulator of each test module's own,
restartable on the same data dir and gRPC port, and a fresh simulator account per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from client_helpers import Execx, Keys
from execx_sim.app import Simulator
from execx_sim.core.accounts import Account


@pytest.fixture(scope="module")
async def sim() -> AsyncIterator[Simulator]:
    """A quiet simulator of the module's own: the client tests trade and move markets (the examples make
    markets and run TWAPs), which would leave the session-wide simulator's static books changed for the
    conformance and contract tests after them."""
    s = Simulator(quiet=True, seed=7)
    await s.start()
    yield s
    await s.stop()


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
