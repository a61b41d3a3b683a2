"""``execx fleet``: the fleet view and the fleet's kill switch, read and written straight on Redis (no execx
needs to answer): ``execx fleet [list] [--json]``, ``execx fleet kill [--reason R]``, ``execx fleet release``.
The Redis URL: ``--redis`` or ``EXECX_REDIS``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import orjson
from redis.exceptions import RedisError

from . import CHANNEL, KILL_KEY, client, list_nodes


async def _run(a: argparse.Namespace) -> int:
    redis = client(a.redis, 2.0)
    try:
        if a.command == "list":
            nodes = await list_nodes(redis, a.ttl)
            if a.json:
                for node in nodes:
                    print(orjson.dumps(node).decode())
                return 0
            kept = await redis.get(KILL_KEY)
            print(f"kill switch: {'ENGAGED ' + orjson.loads(kept).get('reason', '') if kept else 'released'}")
            print(f"{'node':36} {'budget':7} {'kill':5} {'session':24} {'exchange':22} {'state':9} open")
            for node in nodes:
                sessions = node.get("sessions") or [{}]
                for s in sessions:
                    print(
                        f"{node['node']:36} {node.get('rateBudget', ''):7} {node.get('killSwitch')!s:5} "
                        f"{s.get('sessionId', '-'):24} {s.get('exchange', '-'):22} {s.get('state', '-'):9} "
                        f"{len(s.get('openOrders', []))}"
                    )
            return 0
        op = "engage" if a.command == "kill" else "release"
        message = orjson.dumps({"op": op, "reason": a.reason, "origin": "execx-fleet-cli", "at": time.time()})
        async with redis.pipeline(transaction=True) as pipe:
            if op == "engage":
                pipe.set(KILL_KEY, message)
            else:
                pipe.delete(KILL_KEY)
            pipe.publish(CHANNEL, message)
            answers = await pipe.execute()
        print(f"{op}: {answers[-1]} execx listening")
        return 0
    except (RedisError, OSError) as e:
        print(f"execx fleet: Redis {a.redis}: {e}", file=sys.stderr)
        return 2
    finally:
        await redis.aclose()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="execx fleet", description=__doc__)
    p.add_argument("command", nargs="?", default="list", choices=["list", "kill", "release"])
    p.add_argument("--redis", default=os.environ.get("EXECX_REDIS", ""), help="redis://host:port (EXECX_REDIS)")
    p.add_argument("--reason", default="engaged with execx fleet kill", help="kill: the reason shown everywhere")
    p.add_argument("--json", action="store_true", help="list: one JSON line per execx")
    p.add_argument("--ttl", type=float, default=3.0, help="list: execx silent this long are left out (s)")
    a = p.parse_args(argv)
    if not a.redis:
        p.error("--redis (or EXECX_REDIS) is required")
    return asyncio.run(_run(a))
