"""The fault matrix (issue 11, "Nothing lost, nothing doubled"): execx and execx-sim as separate processes, a
seeded burst of >= 200 mixed orders per run on each venue family, execx killed with SIGKILL at seeded points
(restart on the same data dir, resume from the last seq seen, resend what was unanswered), and the venue's
faults (5xx, 429, 418, unknown outcome, slow acks, silent and dropped streams, a venue restart). After each
run the invariants are checked against the simulator's own order and trade history:

  lost_fill, duplicate_fill / phantom_fill, placed_twice, left_pending, status_mismatch, seq_reused / seq_gap,
  resend_refused, answered_twice / answer_mismatch (each OrderEntry requestId answered once, for its order).

Knobs (environment):
  EXECX_FAULT_SEED          replay one run exactly (its orders, kill points and faults)
  EXECX_FAULT_KILLS         kill points per family (default 1; ``make faults``: 20)
  EXECX_FAULT_KILLS_PER_RUN kill points within one burst (default 1; ``make faults``: 4)
  EXECX_FAULT_ORDERS        orders per burst (default 200, at least 200 counts as the matrix)
  EXECX_FAULT_RUNS          runs per (family, fault) in the fault scenarios (default 1)
  EXECX_FAULT_SETTLE_S      how long a run waits for execx to settle (no pending, every fill seen; default 20)
  EXECX_FAULT_FULL=1        also run the venue-fault scenarios (``make faults`` sets it)
  EXECX_FAULT_BATCH         OrderEntry requests per message at most: 0, 8 or 32 (default: chosen from the seed,
                            a third each); batched runs also ask maxBatch and resend batched after a kill

Every run prints ``seed=…``; a failure names the invariant, the clOrderId / tradeId and the replay command.
The fault scenarios are marked ``faults_full`` (``make faults`` runs them; ``make test`` skips them).
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import pytest
from fault_harness import FAMILIES, FAULTS, Plan, RunResult, order_batch_of, record, replay_command, run_plan

pytestmark = pytest.mark.timeout(0)  # each run has its own deadlines; the matrix as a whole may be long


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


SETTLE_S = float(os.environ.get("EXECX_FAULT_SETTLE_S", 20))


def seeds(tag: str, n: int) -> list[int]:
    """``n`` seeds for a test: ``EXECX_FAULT_SEED`` replays one; otherwise fresh random ones (printed)."""
    fixed = os.environ.get("EXECX_FAULT_SEED")
    if fixed:
        return [int(fixed)]
    return [random.SystemRandom().randrange(1, 2**31) for _ in range(n)]


async def _run(plan: Plan, tmp: Path, nodeid: str) -> RunResult:
    replay = replay_command(plan.seed, nodeid, max(1, plan.kills), plan.orders, plan.order_batch)
    print(f"\nseed={plan.seed} order_batch={plan.order_batch}  replay: {replay}", flush=True)
    result = RunResult(plan.family.venue, plan.scenario, plan.seed, plan.order_batch)
    try:
        result = await run_plan(plan, tmp / f"run-{plan.seed}")
    except BaseException as e:
        result.notes.append(f"run aborted: {type(e).__name__}: {e}")
        record(result)
        raise
    record(result)
    return result


@pytest.mark.parametrize("venue", sorted(FAMILIES))
async def test_kill9_during_burst(venue: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Bursts of mixed orders with execx killed -9 at seeded points: zero lost, doubled, or pending."""
    total = _int("EXECX_FAULT_KILLS", 1)
    per_run = max(1, _int("EXECX_FAULT_KILLS_PER_RUN", 1))
    orders = _int("EXECX_FAULT_ORDERS", 200)
    failures = []
    for seed in seeds(venue, math.ceil(total / per_run)):
        plan = Plan(FAMILIES[venue], "kill", seed, orders=orders, kills=min(per_run, total), settle_s=SETTLE_S)
        plan.order_batch = order_batch_of(seed)
        result = await _run(plan, tmp_path, request.node.nodeid)
        if any(result.count().values()):
            failures.append(result.failure_text(request.node.nodeid))
    assert not failures, "\n".join(failures)


@pytest.mark.faults_full
@pytest.mark.parametrize("scenario", sorted(FAULTS))
@pytest.mark.parametrize("venue", sorted(FAMILIES))
async def test_venue_fault_during_burst(
    venue: str, scenario: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A burst with one venue fault injected at a seeded point (cleared 40 orders later): same invariants."""
    orders = _int("EXECX_FAULT_ORDERS", 200)
    failures = []
    for seed in seeds(venue + scenario, _int("EXECX_FAULT_RUNS", 1)):
        plan = Plan(FAMILIES[venue], scenario, seed, orders=orders, kills=0, settle_s=SETTLE_S)
        plan.order_batch = order_batch_of(seed)
        result = await _run(plan, tmp_path, request.node.nodeid)
        if any(result.count().values()):
            failures.append(result.failure_text(request.node.nodeid))
    assert not failures, "\n".join(failures)
