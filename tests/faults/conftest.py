"""The fault matrix's knobs (environment), its marker, and the per-family summary JSON lines printed at the
end of the session (runs, orders, fills checked, violations by invariant)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from fault_harness import SUMMARY


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults_full: the full fault matrix (make faults); skipped by make test")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The venue-fault scenarios run under ``make faults`` (EXECX_FAULT_FULL=1) or when a seed is replayed."""
    if os.environ.get("EXECX_FAULT_FULL") or os.environ.get("EXECX_FAULT_SEED"):
        return
    skip = pytest.mark.skip(reason="full fault matrix: make faults (EXECX_FAULT_FULL=1)")
    for item in items:
        if "faults_full" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SUMMARY:
        return
    terminalreporter.write_sep("=", "fault matrix summary (one JSON line per family)")
    for venue in sorted(SUMMARY):
        terminalreporter.write_line(json.dumps(SUMMARY[venue], sort_keys=False))
    out = os.environ.get("EXECX_FAULT_SUMMARY")
    if out:
        with open(out, "a") as f:
            for venue in sorted(SUMMARY):
                f.write(json.dumps(SUMMARY[venue]) + "\n")
