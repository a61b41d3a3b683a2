"""What the client tests share: execx in this process on the shared quiet simulator, restartable on
the same data dir and gRPC port."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import aiohttp
from execx_server.app import Service, Settings
from execx_sim.app import Simulator


class Keys(TypedDict):
    """A simulator account's exchange keys, as ``start_session`` takes them."""

    api_key: str
    secret_key: str
    passphrase: str


KEY = "client-test-key"


@dataclass
class Execx:
    """One execx (``start``/``stop`` on the same data dir and gRPC port) and the simulator it trades on."""

    sim: Simulator
    data: Path
    grpc_port: int = 0
    service: Service | None = None
    ready: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    async def start(self) -> None:
        settings = Settings(
            key=KEY, port=0, grpc_port=self.grpc_port, prom_port=0, data_dir=self.data, sim=True, sim_quiet=True
        )
        self.service = Service(settings, simulator=self.sim)
        self.ready = await self.service.start()
        self.grpc_port = int(self.ready["grpc"].rsplit(":", 1)[1])

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None

    async def admin(self, path: str, body: dict[str, Any]) -> Any:
        async with aiohttp.ClientSession() as http, http.post(self.sim.ready["admin"] + path, json=body) as r:
            assert r.status == 200, await r.text()
            return await r.json()


class Tail:
    """Reads an async iterator in a task of its own onto ``items`` (an ``anext`` cancelled by a timeout
    would close the generator); ``wait(pred)`` polls them with a deadline."""

    def __init__(self, it: Any) -> None:
        self.items: list[Any] = []
        self._it = it
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        async for item in self._it:
            self.items.append(item)

    async def wait(self, pred: Any, within_s: float = 10.0, what: str = "") -> Any:
        deadline = time.monotonic() + within_s
        seen = 0
        while time.monotonic() < deadline:
            for item in self.items[seen:]:
                if pred(item):
                    return item
            seen = len(self.items)
            if self.task.done():
                self.task.result()  # its error
                raise AssertionError(f"the stream ended before {what}")
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {what or 'matching item'} within {within_s} s; got {self.items[-5:]}")

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self._it.aclose()
