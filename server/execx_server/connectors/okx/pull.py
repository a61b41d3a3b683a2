"""Ready-made pulls: OKX cannot cancel all orders of an instrument (mass-cancel is for options
only), so — as seed 000 describes — the connector keeps, per instrument, the ``cancel-batch-orders``
request bodies for every working order, updated as orders are sent, fill and end. A pull sends
those bodies as they are: one round trip per 20 orders (OKX's batch limit), no look-up and no
serialisation on the pull path.

Orders are named by ``clOrdId`` (execx always sets it), so an order is in the pull from the moment
it is sent, before the venue's acknowledgement: a pull racing an insert still cancels it (or gets
``51400`` for it when the insert has not reached the venue, which is harmless).

Each change touches at most two 20-item chunks: an order joins the last chunk; a leaving order's
slot is filled by the last order (swap-remove), so only its chunk and the last one are rebuilt.
"""

from __future__ import annotations

import json

BATCH_LIMIT = 20  # OKX cancel-batch-orders: at most 20 orders per request


class PullBook:
    """The working orders of one instrument and their ready cancel-batch-orders bodies."""

    def __init__(self, inst_id: str, chunk: int = BATCH_LIMIT) -> None:
        self.inst_id = inst_id
        self._chunk = chunk
        self._ids: list[str] = []  # clOrdIds, in slot order
        self._items: list[str] = []  # their JSON fragments
        self._slot: dict[str, int] = {}
        self._bodies: list[str] = []

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, cl_ord_id: object) -> bool:
        return cl_ord_id in self._slot

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self._slot)

    def add(self, cl_ord_id: str) -> None:
        if cl_ord_id in self._slot:
            return
        self._slot[cl_ord_id] = len(self._ids)
        self._ids.append(cl_ord_id)
        self._items.append(json.dumps({"instId": self.inst_id, "clOrdId": cl_ord_id}, separators=(",", ":")))
        self._rebuild(len(self._ids) - 1)

    def remove(self, cl_ord_id: str) -> None:
        slot = self._slot.pop(cl_ord_id, None)
        if slot is None:
            return
        last = len(self._ids) - 1
        if slot != last:
            moved = self._ids[last]
            self._ids[slot], self._items[slot] = moved, self._items[last]
            self._slot[moved] = slot
        self._ids.pop()
        self._items.pop()
        self._rebuild(slot)
        self._rebuild(last)

    def bodies(self) -> list[str]:
        """The request bodies of a pull right now (JSON arrays of ≤ 20 items); empty if nothing works."""
        return list(self._bodies)

    def chunks(self) -> list[list[str]]:
        """The clOrdIds of each body of ``bodies()``, in the same order."""
        return [self._ids[start : start + self._chunk] for start in range(0, len(self._ids), self._chunk)]

    def body_of(self, ids: list[str]) -> str | None:
        """The ready body of exactly ``ids`` (one of ``chunks()``, in order) while the book still has it."""
        slot = self._slot.get(ids[0]) if ids else None
        if slot is None or slot % self._chunk or self._ids[slot : slot + self._chunk] != ids:
            return None
        return self._bodies[slot // self._chunk]

    def _rebuild(self, slot: int) -> None:
        index = slot // self._chunk
        chunks = (len(self._items) + self._chunk - 1) // self._chunk
        del self._bodies[chunks:]
        if index >= chunks:
            return
        body = "[" + ",".join(self._items[index * self._chunk : (index + 1) * self._chunk]) + "]"
        if index == len(self._bodies):
            self._bodies.append(body)
        else:
            self._bodies[index] = body
