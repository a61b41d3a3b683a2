"""Fixtures of the integration tests beyond the session-wide ones of ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from algo_helpers import simulator as own_simulator
from fleet_helpers import RedisServer, running_redis


@pytest.fixture
async def simulator() -> AsyncIterator[Any]:
    """A quiet simulator of the test's own, apart from the session-wide one (several execx on one account)."""
    async with own_simulator() as sim:
        yield sim


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A real ``redis-server`` of the test's own (fleet mode), killed at the end."""
    async with running_redis(tmp_path) as server:
        yield server
