"""Seed 000's position-manager JSON examples, verbatim, over REST against ``execx --sim``:
/startPositionManager, /setTargetPosition, /stopPositionManager (and the status extensions)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from market_helpers import KEY, WAIT_S, Svc, running
from seed_examples import SEED_SET_TARGET_POSITION, SEED_START_POSITION_MANAGER, SEED_STOP_POSITION_MANAGER

AUTH = {"x-api-key": KEY}
D = Decimal


@pytest.fixture(scope="module")
async def svc(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Svc]:
    async with running(tmp_path_factory.mktemp("execx-pm-rest"), 120) as s:
        yield s


async def post(svc: Svc, path: str, body: Any) -> tuple[int, Any]:
    async with svc.http.post(svc.rest + path, json=body, headers=AUTH) as r:
        return r.status, await r.json()


async def ok(svc: Svc, path: str, body: Any) -> Any:
    status, out = await post(svc, path, body)
    assert status == 200, out
    return out


async def status_until(svc: Svc, what: str, predicate: Any, move_to: str = "") -> dict[str, Any]:
    """Poll /getPositionManager (every 50 ms, with a deadline) until ``predicate(status)``; with
    ``move_to``, re-centre the book there every 0.5 s meanwhile (the venue pushes the book on a move, and
    the manager's market-data subscription may still be in flight at the venue)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    next_move = 0.0
    while True:
        if move_to and loop.time() >= next_move:
            await svc.move("binance-spot", "BTCUSDT", move_to)
            next_move = loop.time() + 0.5
        out = await ok(svc, "/getPositionManager", SEED_STOP_POSITION_MANAGER)
        if predicate(out["status"]):
            return dict(out["status"])
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {out}")
        await asyncio.sleep(0.05)  # the poll interval


async def test_seed_position_manager_examples_verbatim(svc: Svc) -> None:
    demo = svc.sim["accounts"][0]
    await ok(
        svc,
        "/startOrderHandler",
        {
            "exchangeKey": {"apiKey": demo["apiKey"], "secretKey": demo["secretKey"], "exchange": "binance-spot"},
            "sessionId": SEED_START_POSITION_MANAGER["sessionId"],
        },
    )
    await svc.move("binance-spot", "BTCUSDT", "97000")
    bid, _ = await svc.top("binance-spot", "BTCUSDT")

    out = await ok(svc, "/startPositionManager", SEED_START_POSITION_MANAGER)
    status = out["status"]
    assert status["sessionId"] == "test-session" and status["exchange"] == "binance-spot"
    assert status["symbol"] == "BTCUSDT" and status["state"] == "done" and status["targetPosition"] == 0
    assert status["config"] == SEED_START_POSITION_MANAGER["config"]
    # the same manager again: 409 ALREADY_EXISTS
    code, err = await post(svc, "/startPositionManager", SEED_START_POSITION_MANAGER)
    assert code == 409 and err["code"] == 6, err

    out = await ok(svc, "/setTargetPosition", SEED_SET_TARGET_POSITION)
    assert out["status"]["targetPosition"] == 0.1
    # quoteLevels 2 but only one clip of minOrderQty 0.1 is needed: one post-only buy, diming the bid
    s = await status_until(svc, "quoting", lambda s: len(s["workingOrders"]) == 1, move_to="97000")
    order = s["workingOrders"][0]
    assert D(repr(order["price"])) == bid + D("0.01") and order["qty"] == 0.1 and order["orderType"] == "postonly"
    assert s["state"] == "running" and order["clOrderId"].startswith("pm")

    await svc.trade("binance-spot", "BTCUSDT", D(repr(order["price"])), D("0.1"), "sell")
    s = await status_until(svc, "target reached", lambda s: s["state"] == "done" and s["currentPosition"] == 0.1)
    assert s["filledQty"] == 0.1 and D(repr(s["avgFillPrice"])) == bid + D("0.01") and s["workingOrders"] == []
    listed = await ok(svc, "/listPositionManagers", {})
    assert [m["symbol"] for m in listed["managers"]] == ["BTCUSDT"]

    out = await ok(svc, "/stopPositionManager", SEED_STOP_POSITION_MANAGER)
    assert out["status"]["state"] == "stopped" and out["status"]["filledQty"] == 0.1


async def test_errors_over_rest(svc: Svc) -> None:
    code, err = await post(svc, "/setTargetPosition", {**SEED_SET_TARGET_POSITION, "symbol": "ETHBTC"})
    assert code == 404 and err["code"] == 5, err
    bad = {**SEED_START_POSITION_MANAGER, "config": {**SEED_START_POSITION_MANAGER["config"], "quoteLevels": 0}}
    code, err = await post(svc, "/startPositionManager", bad)
    assert code == 400 and err["message"] == "config.quoteLevels: must be at least 1", err
    code, err = await post(svc, "/startPositionManager", {**SEED_START_POSITION_MANAGER, "sessionId": "nope"})
    assert code == 404 and err["code"] == 5, err
