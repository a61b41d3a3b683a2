"""Fleet mode (issue 21): the shared rate budget on every venue beyond Binance (``test_fleet_budget.py``).
Three execx on one simulated account send more orders at once than the account's limit allows; the
simulator counts per account across every connection, as the venues do:

- Bybit: ``/v5/order/create`` (and ``/v5/trade``'s ``order.create``, its batch endpoint) 10 per second per
  endpoint, windows starting with the first request (``10006``);
- OKX: order placement per instrument per 2 s (lowered to 20 on the simulator and in execx's table, as a
  lower account limit would be; ``50011``, HTTP 429);
- Deribit (FIX order entry) and Pulse (JSON-RPC): the matching-engine credits per account (lowered to 5
  per second with a burst of 10; execx reads them from ``private/get_account_summary``; ``10028``).

Without fleet mode the venue refuses some (the control: the test can fail); in fleet mode (a real
``redis-server``) it refuses none and no execx is starved.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from execx.v1 import common_pb2 as c
from execx.v1 import order_manager_pb2 as om
from execx_server.connectors.okx import rest as okx_rest
from execx_server.domain.enums import OrderStatus
from fleet_helpers import RedisServer, fleet_of, post_only_wave, status_of
from market_helpers import AUTH, Svc, uid
from waiting import eventually

# venue -> (symbol, qty, orders per execx per wave)
VENUES = {
    "bybit-linear": ("BTCUSDT", 0.01, 12),
    "okx": ("BTC-USDT-SWAP", 1.0, 15),
    "deribit": ("BTC-PERPETUAL", 10.0, 10),
    "pulse": ("BTC_USD-PERPETUAL", 0.01, 10),
}
OKX_LIMIT = 20


class VenueRefusals:
    """The simulated venue's limiter, watched: how many requests it refused for a limit."""

    def __init__(self, sim: Any, venue: str) -> None:
        fe = next(fe for fe in sim.frontends if fe.venue == venue)
        self.refused = 0
        if venue in ("deribit", "pulse"):
            limiter = fe.rpc_server.credits  # the same object as Deribit's FIX session's
            engine = limiter.limit_of("MATCHING_ENGINE")
            engine.rate, engine.burst = 5.0, 10  # (a test may lower them further)
        else:
            limiter = fe.limiter
            if venue == "okx":
                for lim in limiter.limits:
                    if lim.kind in ("ORDERS", "BATCH"):
                        lim.limit = OKX_LIMIT
        take: Callable[..., Any] = limiter.take

        def counting(*args: Any, **kwargs: Any) -> Any:
            try:
                answer = take(*args, **kwargs)
            except Exception:
                self.refused += 1
                raise
            if answer is False:
                self.refused += 1
            return answer

        limiter.take = counting


async def wave(fleet: list[Svc], venue: str, per_node: int = 0) -> list[int]:
    """Every execx opens a session on one new account and sends its orders at once (post-only, far from
    the touch); how many each got accepted by the venue."""
    symbol, qty, default = VENUES[venue]
    per_node = per_node or default
    acct = await fleet[0].admin_post("/admin/accounts", {})
    sids = [await svc.session(venue, acct) for svc in fleet]
    bid, _ = await fleet[0].top(venue, symbol)
    return await post_only_wave(fleet, sids, symbol, float(bid - 200), qty, per_node, [])


@pytest.mark.parametrize("venue", list(VENUES))
async def test_shared_budget_per_venue(
    venue: str, tmp_path: Path, simulator: Any, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(okx_rest, "ORDER_LIMIT", OKX_LIMIT)  # execx's table of OKX's limits, as lowered
    monkeypatch.setattr(okx_rest, "BATCH_LIMIT", OKX_LIMIT)
    count = VenueRefusals(simulator, venue)
    async with fleet_of(3, tmp_path / "alone", "", simulator, prefix="alone") as fleet:
        alone = await wave(fleet, venue)
    refused_alone = count.refused
    count.refused = 0
    async with fleet_of(3, tmp_path / "fleet", redis_server.url, simulator) as fleet:
        shared = await wave(fleet, venue)
    print(f"{venue}: alone accepted {alone}, venue refused {refused_alone}", end="; ")
    print(f"fleet accepted {shared}, venue refused {count.refused}")
    assert refused_alone > 0, alone  # the control: three execx that know only themselves pass the limit
    assert count.refused == 0, shared
    assert min(shared) >= 1, shared  # none starved


@pytest.mark.parametrize("venue", ["deribit", "pulse"])
async def test_credits_through_the_admin_api(venue: str, simulator: Any) -> None:
    """The simulated credits are shown and changed like every venue's limits (benches raise them)."""
    admin = f"{simulator.ready['admin']}/admin/ratelimits/{venue}"
    async with aiohttp.ClientSession() as http:
        async with http.get(admin) as r:
            shown = {lim["rateLimitType"]: lim for lim in (await r.json())["rateLimits"]}
        assert shown["MATCHING_ENGINE"]["burst"] == 100 and shown["NON_MATCHING_ENGINE"]["rate"] == 20
        async with http.post(admin, json={"MATCHING_ENGINE": 7}) as r:
            assert r.status == 200, await r.text()
    fe = next(fe for fe in simulator.frontends if fe.venue == venue)
    assert fe.rpc_server.credits.summary()["matching_engine"] == {"trading": {"total": {"burst": 7, "rate": 7.0}}}
    assert [fe.rpc_server.credits.take("acct", "MATCHING_ENGINE", 0) for _ in range(8)] == [True] * 7 + [False]


async def test_deribit_fix_out_of_credits_is_retried(tmp_path: Path, simulator: Any) -> None:
    """Deribit's FIX refusal for want of credits (``too_many_requests``) executed nothing: execx retries the
    order (``Retryable``; in fleet mode it also holds every execx on the account) instead of reporting it
    rejected."""
    count = VenueRefusals(simulator, "deribit")
    engine = simulator_credits(simulator, "deribit")
    engine.rate, engine.burst = 1.0, 1  # one order now, the next a second later
    async with fleet_of(1, tmp_path, "", simulator, prefix="fix") as fleet:
        accepted = await wave(fleet, "deribit", per_node=3)
    assert count.refused > 0 and accepted == [3], (count.refused, accepted)


def simulator_credits(simulator: Any, venue: str) -> Any:
    fe = next(fe for fe in simulator.frontends if fe.venue == venue)
    return fe.rpc_server.credits.limit_of("MATCHING_ENGINE")


async def test_bybit_batch_split_to_fit_the_budget(tmp_path: Path, simulator: Any, redis_server: RedisServer) -> None:
    """A Bybit batch larger than the budget's window (10 orders per second per endpoint, budgeted at 4) is
    split: a batch of 8 placed together would otherwise never fit and nothing would go out."""
    count = VenueRefusals(simulator, "bybit-linear")
    symbol, qty, _ = VENUES["bybit-linear"]
    async with fleet_of(1, tmp_path, redis_server.url, simulator, prefix="batch") as (svc,):
        sid = await svc.session("bybit-linear")
        bid, _ = await svc.top("bybit-linear", symbol)
        cls = [uid("b") for _ in range(8)]
        orders = [
            om.SendOrderRequest(
                session_id=sid,
                cl_order_id=cl,
                symbol=symbol,
                price=float(bid - 200),
                qty=qty,
                order_type=c.ORDER_TYPE_POSTONLY,
                transaction_type=c.TRANSACTION_TYPE_INSERT,
                tif=c.TIME_IN_FORCE_GTC,
                side=c.SIDE_BUY,
            )
            for cl in cls
        ]
        await svc.om.BatchSendOrders(om.BatchSendOrdersRequest(orders=orders), metadata=AUTH)
        final = (OrderStatus.NEW, OrderStatus.REJECTED, OrderStatus.CANCELLED)
        await eventually(lambda: all(status_of(svc, sid, cl) in final for cl in cls), "every order answered", 30.0)
        accepted = sum(status_of(svc, sid, cl) is OrderStatus.NEW for cl in cls)
    assert count.refused == 0 and accepted >= 4, (count.refused, accepted)
