"""Shared fixtures: one quiet simulator per test session, on ephemeral loopback ports."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))
# this tree's generated execx.v1 and client first (the venv's editable install may be another work tree's),
# in subprocesses (execx ctl, execx) too
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "clients" / "python"))
os.environ["PYTHONPATH"] = os.pathsep.join([*sys.path[:2], *filter(None, [os.environ.get("PYTHONPATH")])])

from execx_sim.app import Simulator
from execx_sim.core.accounts import Account


@pytest.fixture(scope="session")
async def sim() -> AsyncIterator[Simulator]:
    """A running simulator in quiet mode (static book, no synthetic flow)."""
    s = Simulator(quiet=True, seed=7)
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
def account(sim: Simulator) -> Account:
    """A fresh account with the documented default balances, so tests do not share state."""
    acct = sim.exchange.create_account()
    sim.fund_default(acct)
    return acct
