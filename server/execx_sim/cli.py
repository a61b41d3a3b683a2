"""``execx-sim``: run the exchange simulator standalone (paper trading, tests, demos).

Prints exactly one JSON line on stdout once every port listens (the ready line), then logs to stderr.
SIGTERM / SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys

from .app import Simulator
from .core.engine import DAY_MS, HistoryWindow
from .core.synthetic import FlowConfig

_DEFAULT_HISTORY = HistoryWindow()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"execx-sim: {name} must be an integer, not {raw!r}") from None


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"execx-sim: {name} must be a number, not {raw!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="execx-sim", description="execx exchange simulator")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--base-port",
        type=int,
        default=0,
        help="first port; each venue host gets the next one (default 0: ephemeral ports)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic market (default 1)")
    p.add_argument("--quiet", action="store_true", help="static book, no synthetic flow (deterministic tests)")
    p.add_argument("--rate", type=float, default=FlowConfig.rate, help="synthetic steps per second per symbol")
    p.add_argument(
        "--volatility",
        type=float,
        default=FlowConfig.volatility,
        help="std-dev of the relative mid move per step",
    )
    p.add_argument(
        "--history-orders",
        type=int,
        default=_env_int("EXECX_SIM_HISTORY_ORDERS", _DEFAULT_HISTORY.orders),
        help="finished orders kept per account and market (env EXECX_SIM_HISTORY_ORDERS, default 10000)",
    )
    p.add_argument(
        "--history-trades",
        type=int,
        default=_env_int("EXECX_SIM_HISTORY_TRADES", _DEFAULT_HISTORY.trades),
        help="own fills kept per account and market (env EXECX_SIM_HISTORY_TRADES, default 10000)",
    )
    p.add_argument(
        "--history-days",
        type=float,
        default=_env_float("EXECX_SIM_HISTORY_DAYS", _DEFAULT_HISTORY.age_ms / DAY_MS),
        help="days finished orders and fills stay queryable (env EXECX_SIM_HISTORY_DAYS, default 7)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = p.parse_args(argv)
    if args.history_orders < 0 or args.history_trades < 0 or args.history_days < 0:
        p.error("--history-orders, --history-trades and --history-days must not be negative")
    return args


def history_window(args: argparse.Namespace) -> HistoryWindow:
    return HistoryWindow(
        orders=args.history_orders, trades=args.history_trades, age_ms=round(args.history_days * DAY_MS)
    )


async def serve(args: argparse.Namespace) -> None:
    sim = Simulator(
        host=args.host,
        base_port=args.base_port,
        seed=args.seed,
        quiet=args.quiet,
        flow=FlowConfig(rate=args.rate, volatility=args.volatility),
        history=history_window(args),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        ready = await sim.start()
    except OSError as e:
        print(f"execx-sim: cannot listen: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    # What start-up built (instruments, books, routes) lives as long as the process: frozen out of the garbage
    # collector, so that its older generations' collections stop walking it.
    gc.freeze()
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    await stop.wait()
    logging.getLogger("execx_sim").info("stopping")
    await sim.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format='{"t":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}',
    )
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(args))


if __name__ == "__main__":
    main()
