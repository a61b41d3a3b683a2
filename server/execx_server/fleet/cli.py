"""``execx fleet``: the fleet view and the fleet's kill switch, read and written straight on Redis (no execx
needs to answer): ``execx fleet [list] [--json]``, ``execx fleet kill [--account A] [--reason R]``,
``execx fleet release [--account A]``.
The Redis URL: ``--redis`` or ``EXECX_REDIS``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import orjson
from redis.exceptions import RedisError

from . import ACCOUNT_KILLS, KILL_KEY, client, list_nodes, publish_kill, text


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
            for account, message in sorted((await redis.hgetall(ACCOUNT_KILLS)).items()):
                print(f"kill switch of account {text(account)}: ENGAGED {orjson.loads(message).get('reason', '')}")
            print(f"{'node':36} {'budget':7} {'kill':5} {'session':24} {'exchange':22} {'account':16} {'state':9} open")
            for node in nodes:
                sessions = node.get("sessions") or [{}]
                for s in sessions:
                    account = s.get("account", "-")
                    killed = node.get("killSwitch") or account in (node.get("accountKills") or {})
                    print(
                        f"{node['node']:36} {node.get('rateBudget', ''):7} {killed!s:5} "
                        f"{s.get('sessionId', '-'):24} {s.get('exchange', '-'):22} {account:16} "
                        f"{s.get('state', '-'):9} {len(s.get('openOrders', []))}"
                    )
            return 0
        op = "engage" if a.command == "kill" else "release"
        listening = await publish_kill(redis, op, a.reason if op == "engage" else "", "execx-fleet-cli", a.account)
        print(f"{op}{' account ' + a.account if a.account else ''}: {listening} execx listening")
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
    p.add_argument("--account", default="", help="kill / release: only this stored account's sessions (all execx)")
    p.add_argument("--json", action="store_true", help="list: one JSON line per execx")
    p.add_argument("--ttl", type=float, default=3.0, help="list: execx silent this long are left out (s)")
    a = p.parse_args(argv)
    if not a.redis:
        p.error("--redis (or EXECX_REDIS) is required")
    return asyncio.run(_run(a))
