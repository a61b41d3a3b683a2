"""Fleet mode (issue 21), layer 2: the shared rate budget. Three execx on one simulated Binance spot account
(the simulator counts new orders per account across every connection, as Binance does: ``-1015``, HTTP 429)
send more orders than the account's 10-second limit allows:

- without fleet mode the venue refuses some (the control: the test can fail);
- in fleet mode (a real ``redis-server``) the venue refuses none, and no execx is starved;
- Redis killed mid-run and restarted: still no venue refusal (local share, then shared again), and every
  execx says so in its metrics and its gRPC health (``execx.Fleet``).
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from execx_sim.app import Simulator
from fleet_helpers import LIMIT, RedisServer, VenueCount, fleet_of, post_only_wave
from grpc_health.v1 import health_pb2, health_pb2_grpc
from market_helpers import Svc
from waiting import eventually

VENUE, SYMBOL = "binance-spot", "BTCUSDT"
MESSAGES: list[str] = []


async def wave(fleet: list[Svc], sids: list[str], per_node: int, price: Decimal) -> list[int]:
    """``per_node`` post-only buys from every execx at once; how many each got accepted by the venue."""
    return await post_only_wave(fleet, sids, SYMBOL, float(price), 0.001, per_node, MESSAGES)


async def sessions(fleet: list[Svc]) -> tuple[list[str], Decimal]:
    acct = await fleet[0].admin_post("/admin/accounts", {})
    sids = [await svc.session(VENUE, acct) for svc in fleet]
    bid, _ = await fleet[0].top(VENUE, SYMBOL)
    return sids, bid - 200


async def fleet_health(svc: Svc) -> Any:
    stub = health_pb2_grpc.HealthStub(svc.channel)
    answer = await stub.Check(health_pb2.HealthCheckRequest(service="execx.Fleet"))
    return answer.status


def shared_gauge(svc: Svc) -> float:
    value = svc.service.metrics.registry.get_sample_value("om_fleet_rate_budget_shared")
    return -1.0 if value is None else value


async def test_without_fleet_the_venue_refuses(tmp_path: Path, simulator: Simulator) -> None:
    """The control: three execx that know only themselves pass the account's limit together."""
    venue = VenueCount(simulator)
    async with fleet_of(3, tmp_path, "", simulator) as fleet:
        sids, price = await sessions(fleet)
        accepted = await wave(fleet, sids, 15, price)
    assert venue.refused > 0, (venue.refused, accepted, MESSAGES[:3])


async def test_shared_budget_no_venue_refusal_none_starved(
    tmp_path: Path, simulator: Simulator, redis_server: RedisServer
) -> None:
    venue = VenueCount(simulator)
    async with fleet_of(3, tmp_path, redis_server.url, simulator) as fleet:
        assert all(shared_gauge(svc) == 1.0 for svc in fleet)
        sids, price = await sessions(fleet)
        accepted = await wave(fleet, sids, 20, price)  # 60 orders against a limit of 30 per 10 s
        print(f"fleet budget: accepted per execx {accepted}, venue refused {venue.refused}")
        assert venue.refused == 0, accepted
        assert sum(accepted) <= 2 * LIMIT  # a wave may straddle two of the venue's windows, never more
        assert min(accepted) >= LIMIT // 6, accepted  # fair: none starved
        assert sum(accepted) >= LIMIT // 2, accepted  # and the budget is used, not hoarded


async def test_weight_shared_per_ip(tmp_path: Path, simulator: Simulator, redis_server: RedisServer) -> None:
    """Binance counts request weight per IP, across accounts: three execx, each on an account of its own,
    all leaving through the default route (one IP, loopback), draw the weight from one budget per IP; the
    IP's lowered weight limit is never passed (the venue refuses nothing) though the three accounts' own
    budgets together would pass it."""
    venue = VenueCount(simulator)
    weight = next(lim for lim in venue.limiter.limits if lim.kind == "REQUEST_WEIGHT")
    weight.limit = 150  # per minute; each session's start spends ~25 (exchangeInfo 20, account)
    async with fleet_of(3, tmp_path, redis_server.url, simulator) as fleet:
        sids = [await svc.session(VENUE) for svc in fleet]  # an account each
        bid, _ = await fleet[0].top(VENUE, SYMBOL)
        accepted = await wave(fleet, sids, 30, bid - 200)  # 90 orders of weight 1 on top of the starts
        gates = [g for svc in fleet if svc.service.fleet for g in svc.service.fleet.budget.gates.values()]
        assert len({g.ip_prefix for g in gates}) == 1 and len({g.prefix for g in gates}) == 3
        redis = fleet[0].service.fleet.redis if fleet[0].service.fleet else None
        assert redis is not None
        keys = [k.decode() for k in await redis.keys("execx:rl:binance-spot:*w1M:*")]
        print(f"weight per IP: accepted {accepted}, venue refused {venue.weight_refused}, keys {keys}")
        assert venue.weight_refused == 0, accepted
        assert keys and all(":ip:default:" in k for k in keys), keys  # no weight counted per account
        for key in keys:  # one count per IP window, every execx drawing from it, never past 90% of the limit
            used = {k.decode(): int(v) for k, v in (await redis.hgetall(key)).items()}
            assert used["_"] <= 135 and used["_"] == sum(v for k, v in used.items() if k != "_"), used
        assert min(accepted) > 0, accepted


async def test_redis_lost_and_back(tmp_path: Path, simulator: Simulator, redis_server: RedisServer) -> None:
    venue = VenueCount(simulator)
    async with fleet_of(3, tmp_path, redis_server.url, simulator) as fleet:
        sids, price = await sessions(fleet)
        first = await wave(fleet, sids, 12, price)
        await redis_server.stop()  # kill -9 mid-run
        local = await wave(fleet, sids, 12, price)

        async def all_local() -> bool:
            states = [await fleet_health(svc) for svc in fleet]
            return states == [health_pb2.HealthCheckResponse.NOT_SERVING] * 3 and all(
                shared_gauge(svc) == 0.0 for svc in fleet
            )

        await eventually(all_local, "every execx on its local share, saying so", within_s=5.0, every_s=0.05)
        await redis_server.start()  # empty: the counts it held are gone

        async def all_shared() -> bool:
            states = [await fleet_health(svc) for svc in fleet]
            return states == [health_pb2.HealthCheckResponse.SERVING] * 3 and all(
                shared_gauge(svc) == 1.0 for svc in fleet
            )

        await eventually(all_shared, "every execx back on the shared budget", within_s=10.0, every_s=0.05)
        # the local share holds until the windows open in local mode have ended (Redis came back empty), and
        # each execx's own limiter keeps the venue's last count for a full window after it
        until_ms = max(
            g.local_until_ms for svc in fleet if svc.service.fleet for g in svc.service.fleet.budget.gates.values()
        )
        await eventually(lambda: time.time() * 1000 > until_ms + 10_000, "the local-mode windows over", 25.0, 0.05)
        after = await wave(fleet, sids, 12, price)
        print(
            f"redis lost and back: accepted {first} shared, {local} local, {after} after; venue refused {venue.refused}"
        )
        assert venue.refused == 0, (first, local, after)
        assert sum(first) > 0 and sum(after) > 0


async def test_budget_script_rules(redis_server: RedisServer) -> None:
    """The Lua script's rules on a real Redis, two execx (two budgets) on one account: a venue 429 seen by
    one holds the other; queries stop at their share so orders keep the rest; past half a window a sidecar
    over its fair share yields."""
    from execx_server.connectors.transport.ratelimit import Bucket
    from execx_server.domain.venue import Retryable
    from execx_server.fleet import client
    from execx_server.fleet.budget import FleetBudget
    from execx_server.observability.metrics import Metrics

    redis = client(redis_server.url, 0.5)
    try:
        a, b = (FleetBudget(redis, node, 2, Metrics()) for node in ("a", "b"))
        for budget in (a, b):
            await budget.probe()
            budget.fleet_size = 2
        gate_a, gate_b = a.gate(VENUE, "key"), b.gate(VENUE, "key")
        window = [Bucket("w1D", 10, 86_400.0, 1)]  # a day: no window boundary during the test
        for _ in range(5):  # the first half of the window: anyone's
            await gate_a.acquire(window, order=False)
        with pytest.raises(Retryable):  # a took its fair share (10 / 2): it yields
            await gate_a.acquire(window, order=False)
        for _ in range(3):
            await gate_b.acquire(window, order=False)
        with pytest.raises(Retryable):  # queries may use 80% of the window ...
            await gate_b.acquire(window, order=False)
        await gate_b.acquire(window, order=True)  # ... orders the rest
        with pytest.raises(Retryable):
            await gate_a.acquire(window, order=True)  # not a: over its fair share
        await gate_b.acquire(window, order=True)
        with pytest.raises(Retryable):  # the window is spent
            await gate_b.acquire(window, order=True)
        gate_a.venue_block(30.0, "HTTP 429")
        await eventually(lambda: redis.exists(gate_b.block_key), "the 429 shared on Redis")
        with pytest.raises(Retryable) as held:
            await gate_b.acquire([Bucket("o10S", 100, 10.0, 1)], order=True)
        assert "429" in held.value.message and (held.value.retry_after_s or 0) > 20
    finally:
        await redis.aclose()
