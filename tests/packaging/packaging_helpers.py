"""Packaging tests use outside tools (podman, helm, hadolint): missing, a test skips locally and fails
under ``CI=1`` (``.ci/run`` installs them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(why: str) -> NoReturn:
    """Skip (fail under CI: .ci/run was to provide it)."""
    if in_ci():
        pytest.fail(f"{why} (.ci/run installs it)")
    pytest.skip(why)
