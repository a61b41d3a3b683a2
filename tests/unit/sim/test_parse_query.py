"""The simulator's query-string split (``venues.common.parse_query``) gives exactly the pairs
``urllib.parse.parse_qsl(raw, keep_blank_values=True)`` gives, quoted or not."""

from __future__ import annotations

from urllib.parse import parse_qsl

from execx_sim.venues.common import parse_query
from hypothesis import given
from hypothesis import strategies as st

CASES = [
    "",
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.001&price=95000.10&timestamp=1765170000000&signature=ab12",
    "a",
    "a=",
    "=b",
    "a=b=c",
    "&&a=1&&",
    "a=1&a=2",
    "name=a%20b&x=%zz",
    "q=a+b&r=%2B",
    "k=é&ü=1",
]


def test_the_cases_split_as_parse_qsl() -> None:
    for raw in CASES:
        assert parse_query(raw) == parse_qsl(raw, keep_blank_values=True), raw


@given(st.text(alphabet="ab=&%+2Aé ", max_size=30))
def test_any_string_splits_as_parse_qsl(raw: str) -> None:
    assert parse_query(raw) == parse_qsl(raw, keep_blank_values=True)
