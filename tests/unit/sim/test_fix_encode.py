"""The simulated Deribit's FIX encoder writes exactly the bytes simplefix's ``FixMessage.encode`` writes."""

from __future__ import annotations

import simplefix
from execx_sim.venues.deribit.fix_session import encode_message, parse_message


def simplefix_bytes(msg_type: str, header: list[tuple[int, object]], body: list[tuple[int, object]]) -> bytes:
    m = simplefix.FixMessage()
    m.append_pair(8, b"FIX.4.4", header=True)
    m.append_pair(35, msg_type, header=True)
    for tag, value in header:
        m.append_pair(tag, value, header=True)
    for tag, value in body:
        m.append_pair(tag, value)
    encoded: bytes = m.encode()
    return encoded


def test_encode_matches_simplefix() -> None:
    header: list[tuple[int, object]] = [(49, "DERIBITSERVER"), (56, "CLIENT1"), (34, "17")]
    header.append((52, "20261207-22:40:00.123"))
    body: list[tuple[int, object]] = [
        (37, "1000001"),
        (41, "clé-1"),  # non-ASCII: UTF-8, as simplefix writes it
        (44, 95000.5),
        (38, 10),
        (58, b"raw \xff bytes"),  # not UTF-8: carried through byte for byte
        (100010, None),  # None: left out
        (10, "999"),  # a framing tag in the body: left out, as simplefix does
    ]
    for extra in ([], [(43, "Y"), (122, "20261207-22:39:00.000")]):
        ours = encode_message("8", [*header, *extra], body)
        assert ours == simplefix_bytes("8", [*header, *extra], body)
        parsed = parse_message(ours)
        assert parsed is not None and parsed.get(35) == b"8" and parsed.get(41) == "clé-1".encode()


def test_parsed_message_reads_as_simplefix() -> None:
    """``parse_message``'s indexed ``get`` answers as simplefix's own scan: first value, nth value, an
    absent tag, and a message changed after parsing."""
    raw = encode_message("D", [(49, "C"), (56, "DERIBITSERVER"), (34, "2")], [(11, "a"), (448, "p1"), (448, "p2")])
    ours = parse_message(raw)
    theirs = simplefix.FixParser()
    theirs.append_buffer(raw)
    reference = theirs.get_message()
    assert ours is not None and reference is not None
    for tag in (8, 35, 49, 11, 448, 999):
        assert ours.get(tag) == reference.get(tag)
    assert ours.get(448, 2) == reference.get(448, 2) == b"p2"
    assert ours.get(b"11") == b"a"
    ours.remove(11)
    ours.append_pair(11, "b")
    assert ours.get(11) == b"b"
