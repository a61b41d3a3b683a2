"""Bybit's Disconnection Protection (DCP), as its v5 docs describe it (``order/dcp``, ``websocket/private/dcp``).

- ``POST /v5/order/disconnected-cancel-all`` ``{"product": "OPTIONS" | "DERIVATIVES" | "SPOT", "timeWindow":
  3..300}`` sets the window (seconds) of one product; ``product`` defaults to ``OPTIONS``. Bybit enables DCP
  for institutional accounts on request; the simulator has it enabled for every account.
- It triggers on the private websocket: a connection that subscribed ``dcp.future`` (DERIVATIVES: linear and
  inverse), ``dcp.spot`` or ``dcp.option`` (the bare ``dcp`` counts for all three) protects that product. When
  the last such connection of the account closes, the timing starts; if none subscribes again within the
  window, every open order of the product's categories is cancelled (``cancelType`` ``CancelByDCP``). A
  connection that *unsubscribes* first is not a disconnection: the timing does not start (execx's deliberate
  stop keeps the orders so).
- A product whose window was never set is not protected (Bybit's default window of 10 s applies to accounts
  Bybit enabled; here the request is what enables it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ...core.accounts import Account

PRODUCTS = ("OPTIONS", "DERIVATIVES", "SPOT")
CATEGORIES_OF = {"OPTIONS": ("option",), "DERIVATIVES": ("linear", "inverse"), "SPOT": ("spot",)}
TOPIC_PRODUCTS = {
    "dcp": PRODUCTS,
    "dcp.option": ("OPTIONS",),
    "dcp.future": ("DERIVATIVES",),
    "dcp.spot": ("SPOT",),
}
WINDOW_MIN_S, WINDOW_MAX_S = 3, 300
REASON = "DCP"  # the engine's close reason: wire cancelType CancelByDCP


@dataclass
class _Protection:
    window_s: int = 0  # 0: not set
    subscribers: set[str] = field(default_factory=set)  # connection ids subscribed to its topic
    deadline_ms: int | None = None  # the timing after the last subscriber disconnected


@dataclass
class _AccountDcp:
    account: Account
    products: dict[str, _Protection] = field(default_factory=lambda: {p: _Protection() for p in PRODUCTS})


class Dcp:
    def __init__(self, now_ms: Callable[[], int], cancel: Callable[[Account, str], int]) -> None:
        """``cancel(account, category)``: cancel the account's open orders of a category (how many)."""
        self._now_ms = now_ms
        self._cancel = cancel
        self._accounts: dict[str, _AccountDcp] = {}
        self.fired: list[tuple[str, str, int]] = []  # (account id, product, orders cancelled): for tests

    def _of(self, account: Account) -> _AccountDcp:
        state = self._accounts.get(account.account_id)
        if state is None:
            state = self._accounts[account.account_id] = _AccountDcp(account)
        return state

    def set_window(self, account: Account, product: str, window_s: int) -> None:
        self._of(account).products[product].window_s = window_s

    def window(self, account: Account, product: str) -> int:
        return self._of(account).products[product].window_s

    def pending(self, account: Account) -> list[str]:
        """The products whose timing is running (a disconnection waiting out its window)."""
        return [p for p, prot in self._of(account).products.items() if prot.deadline_ms is not None]

    def subscribed(self, account: Account, conn_id: str, topics: list[str]) -> None:
        """A connection subscribed ``topics``: its products' timing (if running) stops."""
        state = self._of(account)
        for topic in topics:
            for product in TOPIC_PRODUCTS.get(topic, ()):
                prot = state.products[product]
                prot.subscribers.add(conn_id)
                prot.deadline_ms = None

    def unsubscribed(self, account: Account, conn_id: str, topics: list[str]) -> None:
        state = self._of(account)
        for topic in topics:
            for product in TOPIC_PRODUCTS.get(topic, ()):
                state.products[product].subscribers.discard(conn_id)

    def disconnected(self, account: Account, conn_id: str) -> None:
        """A private connection closed: where it was the last subscriber of a protected product, the timing
        starts."""
        for prot in self._of(account).products.values():
            if conn_id not in prot.subscribers:
                continue
            prot.subscribers.discard(conn_id)
            if not prot.subscribers and prot.window_s:
                prot.deadline_ms = self._now_ms() + prot.window_s * 1000

    def check(self) -> None:
        """Cancel where a window ran out (the venue's timer; called every few ms)."""
        now = self._now_ms()
        for state in self._accounts.values():
            for product, prot in state.products.items():
                if prot.deadline_ms is None or now < prot.deadline_ms:
                    continue
                prot.deadline_ms = None
                n = sum(self._cancel(state.account, category) for category in CATEGORIES_OF[product])
                self.fired.append((state.account.account_id, product, n))
