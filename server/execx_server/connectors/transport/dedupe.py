"""Fills are reported more than once (the order's answer, the private stream, a recovery after a
reconnect); each connector forwards a fill to the engine once, keyed by its trade id."""

from __future__ import annotations

from collections import OrderedDict

SEEN_MAX = 50_000


class SeenIds:
    """The newest ``maxsize`` ids seen (older ones are forgotten: a venue does not repeat them that late)."""

    def __init__(self, maxsize: int = SEEN_MAX) -> None:
        self.maxsize = maxsize
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def first(self, key: str) -> bool:
        """Record ``key``; True the first time it is seen."""
        if key in self._ids:
            return False
        self._ids[key] = None
        if len(self._ids) > self.maxsize:
            self._ids.popitem(last=False)
        return True
