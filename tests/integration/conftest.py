"""Fixtures of the integration tests beyond the session-wide ones of ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from algo_helpers import simulator as own_simulator


@pytest.fixture
async def simulator() -> AsyncIterator[Any]:
    """A quiet simulator of the test's own, apart from the session-wide one (several execx on one account)."""
    async with own_simulator() as sim:
        yield sim
