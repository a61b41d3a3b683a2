"""``transport.coalesce.Coalescer``: what is queued in one loop turn goes out together, chunked, and
every caller gets its own outcome (including when the whole request fails or is never answered)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from execx_server.connectors.transport.coalesce import Coalescer
from execx_server.domain.venue import OutcomeUnknown, Rejected, Retryable, VenueError


class Venue:
    """A send function that records each request and answers per item (or fails as told)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, list[str]]] = []
        self.fail: Exception | None = None
        self.short = False
        self.hold: asyncio.Event | None = None

    async def send(self, key: str, items: list[str]) -> Sequence[str | VenueError]:
        self.requests.append((key, items))
        if self.hold is not None:
            await self.hold.wait()
        if self.fail is not None:
            raise self.fail
        answers: list[str | VenueError] = [Rejected("bad item", "110007") if i == "bad" else f"ok:{i}" for i in items]
        return answers[:-1] if self.short else answers


async def test_one_loop_turn_is_one_request_per_chunk_and_per_key() -> None:
    venue = Venue()
    batches: Coalescer[str, str, str] = Coalescer(venue.send, 3, "test")
    futures = [batches.submit("BTC", f"o{i}") for i in range(7)] + [batches.submit("ETH", "e0")]
    results = await asyncio.gather(*futures)
    assert results == [f"ok:o{i}" for i in range(7)] + ["ok:e0"]
    assert venue.requests == [
        ("BTC", ["o0", "o1", "o2"]),
        ("BTC", ["o3", "o4", "o5"]),
        ("BTC", ["o6"]),
        ("ETH", ["e0"]),
    ]
    assert await batches.submit("BTC", "later") == "ok:later"  # a later turn: a request of its own
    assert venue.requests[-1] == ("BTC", ["later"])


async def test_each_caller_gets_its_own_outcome() -> None:
    venue = Venue()
    batches: Coalescer[str, str, str] = Coalescer(venue.send, 10, "test")
    good, bad = batches.submit("BTC", "good"), batches.submit("BTC", "bad")
    assert await good == "ok:good"
    with pytest.raises(Rejected) as info:
        await bad
    assert info.value.code == "110007"

    venue.short = True  # the venue answered one item fewer than asked
    first, last = batches.submit("BTC", "a"), batches.submit("BTC", "b")
    assert await first == "ok:a"
    with pytest.raises(OutcomeUnknown, match="answered the batch without this item"):
        await last


@pytest.mark.parametrize("error", [Retryable("slow down", "10006"), OutcomeUnknown("lost", "transport")])
async def test_a_failed_request_is_every_items_outcome(error: VenueError) -> None:
    venue = Venue()
    venue.fail = error
    batches: Coalescer[str, str, str] = Coalescer(venue.send, 10, "test")
    outcomes = await asyncio.gather(*(batches.submit("BTC", f"o{i}") for i in range(3)), return_exceptions=True)
    assert outcomes == [error] * 3


async def test_close_while_in_flight_leaves_the_outcome_unknown() -> None:
    venue = Venue()
    venue.hold = asyncio.Event()  # never answered
    batches: Coalescer[str, str, str] = Coalescer(venue.send, 10, "test")
    futures = [batches.submit("BTC", "o1"), batches.submit("BTC", "o2")]
    await asyncio.sleep(0)  # the turn ends: the request is sent
    await asyncio.sleep(0)
    assert venue.requests == [("BTC", ["o1", "o2"])]
    await batches.close()
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(o, OutcomeUnknown) and "cancelled while in flight" in o.message for o in outcomes)


async def test_a_split_chooses_the_requests_and_leftovers_go_in_chunks() -> None:
    venue = Venue()

    def split(key: str, items: list[str]) -> list[list[int]] | None:
        return [[3, 0], [0, 9]] if key == "BTC" else None  # 0 twice and 9 (no such item): each item sent once

    batches: Coalescer[str, str, str] = Coalescer(venue.send, 2, "test", split=split)
    futures = [batches.submit("BTC", f"o{i}") for i in range(6)] + [batches.submit("ETH", f"e{i}") for i in range(3)]
    results = await asyncio.gather(*futures)
    assert results == [f"ok:o{i}" for i in range(6)] + [f"ok:e{i}" for i in range(3)]
    assert venue.requests == [
        ("BTC", ["o3", "o0"]),
        ("BTC", ["o1", "o2"]),
        ("BTC", ["o4", "o5"]),
        ("ETH", ["e0", "e1"]),
        ("ETH", ["e2"]),
    ]
