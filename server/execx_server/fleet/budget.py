"""The fleet's shared rate budget (issue 21): every execx draws each venue request from the venue's own
limit windows for that account, kept in Redis and counted by one atomic Lua script.

A connector hands ``acquire`` the windows the request counts against (``transport.ratelimit.Bucket``:
Binance's REQUEST_WEIGHT and ORDERS windows with the limits its exchangeInfo published, scaled by the
limiter's headroom). The script, in one step on Redis's clock (``TIME``):

- refuses while a venue 429/418 seen by any sidecar is in force (``venue_block``: every sidecar on the
  account waits out the venue's Retry-After);
- per window aligned on the epoch (as Binance's are), refuses when the request would pass the limit; a
  query may use only ``query_share`` of a window, so the rest stays for orders (orders never wait
  behind queries: nothing is queued, a query is refused first);
- fairness: once half a window is used, a sidecar that already took its fair share (limit ÷ live
  sidecars) is refused, so a busy sidecar cannot starve the others;
- a request within ``guard_ms`` of a window's end is also counted in the next window (it may reach the
  venue after the boundary);
- then counts the request in every window, or in none.

Redis unreachable (or slower than ``op_timeout_s``): each execx keeps to a conservative local share,
1/``expected_size`` of every limit, counted in-process; a window it cannot know the fleet's use of (the
one in progress when Redis went away) counts as full until it ends. Windows over ``LONG_WINDOW_MS`` (a
minute's request weight, a day's orders) are shared 1/expected_size from the start instead: refusing for
a minute or a day would stop trading; there each execx's own limiter still follows the venue's used-weight
and order-count headers, which Binance gives per IP and per account, i.e. for the whole fleet. Back on Redis,
the local share stays in force too until every window that was open in local mode has ended (a Redis
that restarted lost its counts). The mode is the ``om_fleet_rate_budget_shared`` gauge and the gRPC
health service ``execx.Fleet``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from ..connectors.transport.ratelimit import Bucket
from ..domain.venue import Retryable

if TYPE_CHECKING:
    from ..observability.metrics import Metrics

log = logging.getLogger("execx.fleet.budget")

LONG_WINDOW_MS = 15_000  # see the module docstring: longer windows are shared 1/N at once
MAX_WAIT_S = 0.25  # a refusal whose window ends sooner is waited out here; a longer one is Retryable

ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local blocked = redis.call('PTTL', KEYS[1])
if blocked > 0 then return {2, blocked} end
local node, size, order = ARGV[1], math.max(1, tonumber(ARGV[2])), ARGV[3] == '1'
local share, guard, prefix = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local keys, costs, wins, n = {}, {}, {}, 0
local i = 7
while i <= #ARGV do
  local name, limit, win, cost = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local cap = limit
  if not order then cap = math.floor(limit * share) end
  local starts = {now - (now % win)}
  if (now + guard) - ((now + guard) % win) ~= starts[1] then starts[2] = starts[1] + win end
  for _, start in ipairs(starts) do
    local key = prefix .. name .. ':' .. start
    local used = tonumber(redis.call('HGET', key, '_') or '0')
    local wait = start + win - now
    if wait > win then wait = wait - win end
    if used + cost > cap then return {1, wait} end
    if used * 2 >= limit then
      local mine = tonumber(redis.call('HGET', key, node) or '0')
      if mine + cost > math.ceil(limit / size) then return {1, wait} end
    end
    n = n + 1
    keys[n], costs[n], wins[n] = key, cost, win
  end
  i = i + 4
end
for j = 1, n do
  redis.call('HINCRBY', keys[j], '_', costs[j])
  redis.call('HINCRBY', keys[j], node, costs[j])
  redis.call('PEXPIRE', keys[j], wins[j] * 2 + 1000)
end
return {0, 0}
"""
_SHA = hashlib.sha1(ACQUIRE.encode()).hexdigest()


def account_id(exchange: str, api_key: str) -> str:
    """The account's name in Redis: a digest of the venue key (the key itself is never written)."""
    return hashlib.sha256(f"{exchange}\0{api_key}".encode()).hexdigest()[:16]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class LocalShare:
    """The in-process budget while Redis is unreachable: 1/``size`` of each limit per window."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.used: dict[tuple[str, int], int] = {}  # (bucket, window start) -> units
        self.full_until: dict[str, int] = {}  # bucket -> end of the window whose fleet use is unknown

    def enter(self, buckets: Sequence[Bucket], now_ms: int) -> None:
        for b in buckets:
            win = int(b.window_s * 1000)
            if win <= LONG_WINDOW_MS:
                self.full_until.setdefault(b.name, now_ms - now_ms % win + win)

    def take(self, buckets: Sequence[Bucket], order: bool, share: float, now_ms: int) -> int:
        """0 when counted; else the ms until the refusing window ends."""
        charges: list[tuple[str, int]] = []
        for b in buckets:
            win = int(b.window_s * 1000)
            full = self.full_until.get(b.name, 0)
            if now_ms < full:
                return full - now_ms
            cap = max(1, b.limit // self.size)
            if not order:
                cap = int(cap * share)
            start = now_ms - now_ms % win
            if self.used.get((b.name, start), 0) + b.cost > cap:
                return start + win - now_ms
            charges.append((b.name, start))
        for (name, start), b in zip(charges, buckets, strict=True):
            self.used[(name, start)] = self.used.get((name, start), 0) + b.cost
        if len(self.used) > 1000:
            self.used = {k: v for k, v in self.used.items() if k[1] > now_ms - 2 * LONG_WINDOW_MS}
        return 0


class AccountGate:
    """One venue account's share of the fleet budget: what a connector calls (``transport.ratelimit.RateGate``)."""

    def __init__(self, budget: FleetBudget, exchange: str, account: str, egress: str = "") -> None:
        self.budget = budget
        self.exchange = exchange
        self.prefix = f"execx:rl:{exchange}:{account}:"
        # the windows the venue counts per source IP (``Bucket.per_ip``): shared by every account on the venue
        # behind the same egress (``ConnectorConfig.interface`` as configured; "default" without one)
        self.ip_prefix = f"execx:rl:{exchange}:ip:{egress or 'default'}:"
        self.block_key = self.prefix + "block"
        self.local = LocalShare(budget.expected_size)
        self.blocked_until_ms = 0
        self.blocked_reason = ""
        self.local_until_ms = 0  # back in shared mode: the local share holds too until then
        self.known: dict[str, Bucket] = {}

    async def acquire(self, buckets: Sequence[Bucket], *, order: bool) -> None:
        """Count one request in every bucket, waiting out a refusal shorter than ``MAX_WAIT_S``; raise
        ``Retryable`` (nothing sent) when the budget is spent for longer."""
        for b in buckets:
            self.known[b.name] = b
        for _ in range(3):
            wait_ms, why = await self._try(buckets, order)
            if wait_ms <= 0:
                return
            if wait_ms > MAX_WAIT_S * 1000:
                break
            await asyncio.sleep(wait_ms / 1000)
        mode = "shared" if self.budget.shared else "local"
        self.budget.metrics.fleet_budget_waits.labels(self.exchange, "order" if order else "query", mode).inc()
        raise Retryable(f"fleet rate budget: {why}", "rate-limited", retry_after_s=wait_ms / 1000)

    async def _try(self, buckets: Sequence[Bucket], order: bool) -> tuple[int, str]:
        now = _now_ms()
        if now < self.blocked_until_ms:
            return self.blocked_until_ms - now, f"the venue asked to wait ({self.blocked_reason})"
        budget = self.budget
        if budget.shared:
            if now < self.local_until_ms:
                wait = self.local.take(buckets, order, budget.query_share, now)
                if wait:
                    return wait, "the local share still holds after Redis came back"
            try:
                kind, wait = await budget.run(self, buckets, order)
            except (RedisError, OSError, TimeoutError) as e:
                budget.down(str(e))
            else:
                if kind == 0:
                    return 0, ""
                return int(wait), ("a venue 429/418 is being waited out" if kind == 2 else "limit window spent")
        if not budget.shared:
            if self.local_until_ms < now:
                self.local.enter(buckets, now)
            self.local_until_ms = max(self.local_until_ms, self._windows_end(now))
            wait = self.local.take(buckets, order, budget.query_share, now)
            return wait, "local share (Redis unreachable) spent"
        return 0, ""

    def _windows_end(self, now: int) -> int:
        ends = [now - now % w + w for w in (int(b.window_s * 1000) for b in self.known.values()) if w <= LONG_WINDOW_MS]
        return max(ends, default=now)

    def venue_block(self, seconds: float, reason: str) -> None:
        """A 429/418 from the venue: every sidecar on the account waits ``seconds``."""
        until = _now_ms() + int(max(seconds, 0.0) * 1000)
        if until > self.blocked_until_ms:
            self.blocked_until_ms, self.blocked_reason = until, reason
        self.budget.metrics.fleet_venue_blocks.labels(self.exchange).inc()
        self.budget.spawn(self._share_block(int(seconds * 1000), reason))

    async def _share_block(self, ms: int, reason: str) -> None:
        if ms <= 0:
            return
        try:
            await self.budget.redis.set(self.block_key, reason[:200], px=ms)
        except (RedisError, OSError) as e:
            self.budget.down(str(e))


class FleetBudget:
    """The budget of every account this execx trades, on one Redis (or local while it is unreachable)."""

    def __init__(self, redis: aioredis.Redis, node_id: str, expected_size: int, metrics: Metrics) -> None:
        self.redis = redis
        self.node_id = node_id
        self.expected_size = max(1, expected_size)
        self.fleet_size = 1  # live sidecars (the fleet view's count)
        self.metrics = metrics
        self.query_share = 0.8
        self.guard_ms = 50
        self.shared = False
        self.mode_observers: list[Callable[[bool], None]] = []
        self.gates: dict[tuple[str, str, str], AccountGate] = {}
        self._spawned: set[asyncio.Task[Any]] = set()

    def gate(self, exchange: str, api_key: str, egress: str = "") -> AccountGate:
        """The gate of one account on ``exchange``, whose requests leave through ``egress`` (the connector's
        ``interface``: an address or an interface name; empty: the default route)."""
        key = (exchange, account_id(exchange, api_key), egress)
        gate = self.gates.get(key)
        if gate is None:
            gate = self.gates[key] = AccountGate(self, *key)
        return gate

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    def _set(self, shared: bool, why: str) -> None:
        if shared == self.shared:
            return
        self.shared = shared
        if shared:
            log.info("fleet.budget_shared")
        else:
            log.warning("fleet.budget_local", extra={"error": why, "share": f"1/{self.expected_size}"})
        for observe in self.mode_observers:
            observe(shared)

    def down(self, why: str) -> None:
        self._set(False, why)

    async def probe(self) -> None:
        try:
            await self.redis.ping()
        except (RedisError, OSError, TimeoutError) as e:
            self._set(False, str(e))
        else:
            self._set(True, "")

    async def run(self, gate: AccountGate, buckets: Sequence[Bucket], order: bool) -> tuple[int, int]:
        args: list[Any] = [
            self.node_id,
            max(self.fleet_size, 1),
            1 if order else 0,
            self.query_share,
            self.guard_ms,
            "",  # each bucket's name is its whole key: per account, or per source IP
        ]
        for b in buckets:
            args += [(gate.ip_prefix if b.per_ip else gate.prefix) + b.name, b.limit, int(b.window_s * 1000), b.cost]
        try:
            answer = await self.redis.evalsha(_SHA, 1, gate.block_key, *args)
        except NoScriptError:
            answer = await self.redis.eval(ACQUIRE, 1, gate.block_key, *args)
        return int(answer[0]), int(answer[1])
