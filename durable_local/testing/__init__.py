"""Test helpers: an in-process host on a free port with a virtual clock.

Use from pytest (async tests)::

    async with running_host(app_dir, store="memory") as h:
        r = await h.post("/api/orders", json=order)
        await h.clock_advance(hours=72)          # the approval timer fires now
        status = await h.wait_for(order_id)

or through the ``durable_host`` fixture factory registered by ``durable_local.testing.plugin``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from durable_local.runtime.clock import VirtualClock
from durable_local.runtime.host import Host, HostConfig
from durable_local.store.base import TERMINAL_STATES, Store

WEBHOOK = "/runtime/webhooks/durabletask"


class HostHarness:
    """A started host plus an HTTP session and a few waiting helpers."""

    def __init__(self, host: Host, clock: VirtualClock, session: aiohttp.ClientSession) -> None:
        self.host = host
        self.clock = clock
        self.session = session

    @property
    def base_url(self) -> str:
        return self.host.base_url

    @property
    def store(self) -> Any:
        return self.host.store

    def url(self, path: str) -> str:
        return self.base_url + path

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any, Mapping[str, str]]:
        async with self.session.request(method, self.url(path), **kw) as r:
            text = await r.text()
            try:
                body: Any = json.loads(text) if text else None
            except ValueError:
                body = text
            return r.status, body, r.headers

    async def get(self, path: str, **kw: Any) -> tuple[int, Any, Any]:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> tuple[int, Any, Any]:
        return await self.request("POST", path, **kw)

    async def status(self, instance_id: str, **params: str) -> dict[str, Any] | None:
        code, body, _ = await self.get(f"{WEBHOOK}/instances/{instance_id}", params=params or None)
        return body if code in (200, 202) else None

    async def wait_for(
        self,
        instance_id: str,
        statuses: Iterable[str] = TERMINAL_STATES,
        timeout: float = 20.0,
        **params: str,
    ) -> dict[str, Any]:
        """Poll the status API (bounded) until the instance reaches one of ``statuses``."""
        wanted = set(statuses)
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            last = await self.status(instance_id, **params)
            if last and last.get("runtimeStatus") in wanted:
                return last
            await asyncio.sleep(0.02)
        raise AssertionError(f"{instance_id} did not reach {sorted(wanted)} in {timeout}s; last status: {last}")

    async def wait_until(self, predicate: Any, timeout: float = 20.0, what: str = "condition") -> Any:
        """Bounded 'eventually': await an async or sync predicate until it returns truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def clock_advance(self, delta: timedelta | None = None, **kw: float) -> datetime:
        """Advance the virtual clock (e.g. ``hours=72``); due timers fire right away."""
        return self.clock.advance(delta if delta is not None else timedelta(**kw))


@contextlib.asynccontextmanager
async def running_host(
    app_dir: Path | str,
    *,
    store: str = "memory",
    data_dir: Path | str | None = None,
    master_key: str | None = None,
    clock: VirtualClock | None = None,
    store_factory: Callable[[VirtualClock], Store] | None = None,
) -> AsyncIterator[HostHarness]:
    """Start a host in-process on a free loopback port; stop it on exit.

    ``store_factory(clock)`` supplies a ready store instead of opening ``store`` by name
    (e.g. an Azure store on a fresh, uniquely named task hub)."""
    clock = clock or VirtualClock()
    config = HostConfig(
        app_dir=Path(app_dir),
        port=0,
        store=store,
        data_dir=Path(data_dir) if data_dir else Path(".durable-test"),
        master_key=master_key,
        system_key=master_key,
    )
    host = Host(config, clock=clock, store=store_factory(clock) if store_factory else None)
    await host.start()
    session = aiohttp.ClientSession()
    try:
        yield HostHarness(host, clock, session)
    finally:
        await session.close()
        await host.stop()
