"""Fleet mode (issue 21, ``docs/fleet.md``): many execx sidecars trading the same exchange account(s),
joined through one Redis (``--redis redis://…`` / ``EXECX_REDIS``; off by default, and execx works alone
exactly as before without it).

- **Global kill switch**: the engine's own switch (``engine/risk.py``) engaged or released through any
  execx is published on the Redis channel ``execx:fleet:kill`` and kept in the key
  ``execx:fleet:killswitch``; every other execx applies it at once (refuses inserts and amends, pulls its
  open orders), and one that (re)connects later reads the key. A kill made while Redis is unreachable
  is applied locally and published when Redis is back.
- **Fleet view**: each execx registers itself (``execx:fleet:node:<id>``, a TTL of ``ttl_s`` refreshed
  three times per TTL; its id in the sorted set ``execx:fleet:nodes`` scored by its last beat) with its
  addresses, its sessions and their open orders. ``Fleet.nodes()`` / ``execx fleet`` list them.
- **Shared rate budget**: ``budget.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..engine.risk import (
    ALL,
    engage_account_kill,
    engage_kill_switch,
    release_account_kill,
    release_kill_switch,
)
from .budget import FleetBudget

if TYPE_CHECKING:
    from ..engine.sessions import OrderEngine
    from ..observability.metrics import Metrics

log = logging.getLogger("execx.fleet")

CHANNEL = "execx:fleet:kill"
KILL_KEY = "execx:fleet:killswitch"
ACCOUNT_KILLS = "execx:fleet:killswitch:accounts"  # hash: account -> the engage message
NODES = "execx:fleet:nodes"
NODE_PREFIX = "execx:fleet:node:"
MAX_ORDERS_LISTED = 1000  # per session in the fleet view
FLEET_HEALTH_SERVICE = "execx.Fleet"  # gRPC health: SERVING while Redis is reachable (shared mode)


@dataclass(frozen=True)
class FleetSettings:
    redis_url: str
    node_id: str = ""  # default: host-pid-random
    ttl_s: float = 3.0  # a sidecar silent this long leaves the fleet view
    expected_size: int = 3  # Redis unreachable: each sidecar keeps 1/expected_size of every venue limit
    op_timeout_s: float = 0.25  # one Redis command; past it Redis counts as unreachable


def new_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def client(url: str, timeout_s: float) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)


def text(value: bytes | str) -> str:
    """A Redis key or field as text (the client answers bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


async def list_nodes(redis: aioredis.Redis, ttl_s: float) -> list[dict[str, Any]]:
    """Every live sidecar's registration (the fleet view), oldest first."""
    now_ms = int(time.time() * 1000)
    ids = await redis.zrangebyscore(NODES, now_ms - int(ttl_s * 1000), "+inf")
    if not ids:
        return []
    raw = await redis.mget([NODE_PREFIX + (i.decode() if isinstance(i, bytes) else str(i)) for i in ids])
    return [orjson.loads(r) for r in raw if r is not None]


async def publish_kill(redis: aioredis.Redis, op: str, reason: str, origin: str, account: str = "") -> int:
    """Keep and publish one kill switch change (``op`` engage / release) of the global switch, or of
    ``account``'s, in one MULTI; how many execx were listening."""
    body: dict[str, Any] = {"op": op, "reason": reason, "origin": origin, "at": time.time()}
    if account:
        body["account"] = account
    message = orjson.dumps(body)
    async with redis.pipeline(transaction=True) as pipe:
        if op == "engage":
            pipe.hset(ACCOUNT_KILLS, account, message) if account else pipe.set(KILL_KEY, message)
        else:
            pipe.hdel(ACCOUNT_KILLS, account) if account else pipe.delete(KILL_KEY)
        pipe.publish(CHANNEL, message)
        answers = await pipe.execute()
    return int(answers[-1])


class Fleet:
    """One execx's membership in the fleet: the kill switch link, its registration, the rate budget."""

    def __init__(
        self, settings: FleetSettings, engine: OrderEngine, metrics: Metrics, info: dict[str, Any] | None = None
    ) -> None:
        self.settings = settings
        self.node_id = settings.node_id or new_node_id()
        self.engine = engine
        self.metrics = metrics
        self.info = info or {}  # addresses shown in the fleet view (rest, grpc)
        self.details: list[Callable[[], dict[str, Any]]] = []  # more of this execx's state in the view (drop copy)
        self.redis = client(settings.redis_url, settings.op_timeout_s)
        self.budget = FleetBudget(self.redis, self.node_id, settings.expected_size, metrics)
        self.mode_observers: list[Callable[[bool], None]] = []  # shared (True) / local (False)
        self.nodes_live = 1
        # local kill changes not yet published: account ("" for the global switch) -> (op, reason)
        self._pending: dict[str, tuple[str, str]] = {}
        self._from_fleet = False  # the engaged global switch came from another execx
        self._fleet_accounts: set[str] = set()  # accounts whose engaged switch came from another execx
        self._tasks: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[Any]] = set()
        self._subscribed = asyncio.Event()
        self._started_ms = int(time.time() * 1000)
        self.budget.mode_observers.append(self._mode_changed)

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Join: subscribe to the kill channel, take the fleet's kill state, register. Redis unreachable is
        not fatal (local fallback, said in metrics and health); the links keep retrying."""
        self.engine.risk.global_observers.append(self._local_change)
        self.engine.risk.account_observers.append(self._local_account_change)
        self.metrics.fleet_shared.set(0)
        await self.budget.probe()
        self._tasks = [
            asyncio.create_task(self._listen(), name="fleet.listen"),
            asyncio.create_task(self._beat(), name="fleet.beat"),
        ]
        with contextlib.suppress(TimeoutError):  # Redis down: start anyway, in local mode
            await asyncio.wait_for(self._subscribed.wait(), 2.0)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.engine.risk.global_observers.remove(self._local_change)
        with contextlib.suppress(ValueError):
            self.engine.risk.account_observers.remove(self._local_account_change)
        for task in [*self._tasks, *self._spawned]:
            task.cancel()
        for task in [*self._tasks, *self._spawned]:
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(RedisError, OSError):  # leave the fleet view at once
            await self.redis.zrem(NODES, self.node_id)
            await self.redis.delete(NODE_PREFIX + self.node_id)
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    @property
    def shared(self) -> bool:
        return self.budget.shared

    def _mode_changed(self, shared: bool) -> None:
        self.metrics.fleet_shared.set(1 if shared else 0)
        for observe in self.mode_observers:
            observe(shared)

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    # ------------------------------------------------------------------ kill switch

    def _local_change(self, op: str, reason: str) -> None:
        """The global switch changed through this execx (an operator's call): tell the fleet."""
        self._from_fleet = False
        self._pending[""] = (op, reason)
        self.spawn(self._flush_pending())

    def _local_account_change(self, op: str, account: str, reason: str) -> None:
        """An account's switch changed through this execx: tell the fleet."""
        self._fleet_accounts.discard(account)
        self._pending[account] = (op, reason)
        self.spawn(self._flush_pending())

    async def _flush_pending(self) -> None:
        for account, pending in list(self._pending.items()):
            op, reason = pending
            try:
                await publish_kill(self.redis, op, reason, self.node_id, account)
            except (RedisError, OSError) as e:
                log.warning("fleet.kill_publish_failed", extra={"op": op, "account": account, "error": str(e)})
                return  # published by the next beat once Redis answers
            if self._pending.get(account) == pending:
                del self._pending[account]

    async def _apply(self, data: dict[str, Any]) -> None:
        """A kill change from another execx (the channel, or the kept key after a reconnect)."""
        if data.get("origin") == self.node_id:
            return
        op = str(data.get("op", ""))
        risk = self.engine.risk
        account = str(data.get("account") or "")
        if account:
            if op == "engage":
                self.metrics.fleet_kills_received.labels("engage").inc()
                self._fleet_accounts.add(account)
                reason = f"fleet: {data.get('reason') or 'engaged'} (from {data.get('origin')})"
                await engage_account_kill(self.engine, account, reason, broadcast=False)
            elif op == "release" and account in risk.account_kills:
                self.metrics.fleet_kills_received.labels("release").inc()
                self._fleet_accounts.discard(account)
                release_account_kill(self.engine, account, broadcast=False)
            return
        if op == "engage":
            self.metrics.fleet_kills_received.labels("engage").inc()
            self._from_fleet = True
            reason = f"fleet: {data.get('reason') or 'engaged'} (from {data.get('origin')})"
            await engage_kill_switch(self.engine, ALL, reason, broadcast=False)
        elif op == "release" and risk.global_killed:
            self.metrics.fleet_kills_received.labels("release").inc()
            self._from_fleet = False
            release_kill_switch(self.engine, ALL, broadcast=False)

    async def _sync_kill(self) -> None:
        """After (re)subscribing: a change of ours not yet published goes out; else the fleet's kept state
        wins (a kill or release sent while this execx was not listening)."""
        if self._pending:
            await self._flush_pending()
            return
        kept = await self.redis.get(KILL_KEY)
        risk = self.engine.risk
        if kept is not None and not risk.global_killed:
            await self._apply(orjson.loads(kept) | {"origin": "fleet"})
        elif kept is None and risk.global_killed and self._from_fleet:
            await self._apply({"op": "release", "origin": "fleet"})
        accounts = {text(k): v for k, v in (await self.redis.hgetall(ACCOUNT_KILLS)).items()}
        for account, message in accounts.items():
            if account not in risk.account_kills:
                await self._apply(orjson.loads(message) | {"origin": "fleet", "account": account})
        for account in self._fleet_accounts - accounts.keys():
            await self._apply({"op": "release", "origin": "fleet", "account": account})

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                await self._sync_kill()
                self._subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        await self._apply(orjson.loads(message["data"]))
            except (RedisError, OSError, orjson.JSONDecodeError) as e:
                log.warning("fleet.subscription_lost", extra={"error": str(e)})
                self.budget.down(str(e))  # the same Redis: the budget is not shared either
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            self._subscribed.clear()
            await asyncio.sleep(0.5)

    # ------------------------------------------------------------------ registration (fleet view)

    def view(self) -> dict[str, Any]:
        """This execx as the fleet view shows it."""
        sessions = []
        for s in self.engine.sessions.values():
            if s.state == "stopped":
                continue
            orders = s.store.open_orders()[:MAX_ORDERS_LISTED]
            sessions.append(
                {
                    "sessionId": s.session_id,
                    "exchange": s.exchange.value,
                    "account": self.engine.risk.account_of(s.session_id),
                    "state": s.state,
                    "openOrders": [
                        {
                            "clOrderId": o.cl_order_id,
                            "symbol": o.symbol,
                            "side": o.side.value,
                            "price": str(o.price) if o.price is not None else None,
                            "qty": str(o.qty),
                            "leavesQty": str(o.remaining),
                            "status": o.status.value,
                        }
                        for o in orders
                    ],
                }
            )
        return {
            "node": self.node_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "startedAt": self._started_ms,
            "seenAt": int(time.time() * 1000),
            "rateBudget": "shared" if self.shared else "local",
            "killSwitch": self.engine.risk.global_killed,
            "accountKills": dict(self.engine.risk.account_kills),
            **self.info,
            **{k: v for detail in self.details for k, v in detail().items()},
            "sessions": sessions,
        }

    async def _beat(self) -> None:
        every = self.settings.ttl_s / 3
        while True:
            try:
                if self._pending and self._subscribed.is_set():
                    await self._flush_pending()
                now_ms = int(time.time() * 1000)
                ttl_ms = int(self.settings.ttl_s * 1000)
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.set(NODE_PREFIX + self.node_id, orjson.dumps(self.view()), px=ttl_ms)
                    pipe.zadd(NODES, {self.node_id: now_ms})
                    pipe.zremrangebyscore(NODES, "-inf", now_ms - ttl_ms)
                    pipe.zcard(NODES)
                    answers = await pipe.execute()
                self.nodes_live = max(1, int(answers[-1]))
                self.budget.fleet_size = self.nodes_live
                self.metrics.fleet_nodes.set(self.nodes_live)
                await self.budget.probe()
            except (RedisError, OSError) as e:
                log.debug("fleet.beat_failed", extra={"error": str(e)})
                self.budget.down(str(e))
            await asyncio.sleep(every)

    async def nodes(self) -> list[dict[str, Any]]:
        return await list_nodes(self.redis, self.settings.ttl_s)
