"""``--marketDataStaleSeconds`` (EXECX_MARKET_DATA_STALE_SECONDS): the hub's staleness time."""

from __future__ import annotations

import pytest
from execx_server.cli import parse_args


def test_default_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_args(["--key", "k"]).market_data_stale_s == 5.0
    assert parse_args(["--key", "k", "--marketDataStaleSeconds", "2.5"]).market_data_stale_s == 2.5
    monkeypatch.setenv("EXECX_MARKET_DATA_STALE_SECONDS", "0.75")
    assert parse_args(["--key", "k"]).market_data_stale_s == 0.75


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_a_non_positive_time_is_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        parse_args(["--key", "k", "--marketDataStaleSeconds", value])
    assert e.value.code == 2
    assert "--marketDataStaleSeconds must be a positive number of seconds" in capsys.readouterr().err
