"""Shared plumbing: an in-process host on a temp store, starting work, reading figures.

Every figure comes from the host's own timestamps (instance rows: created_time and
last_updated_time), never from client polling; polling here only decides when to stop
waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_local.app_loader import LoadedApp, load_app
from durable_local.http import operations as ops
from durable_local.runtime.clock import Clock
from durable_local.runtime.host import Host, HostConfig
from durable_local.store.base import TERMINAL_STATES, InstanceQuery, InstanceRecord

APP_DIR = Path(__file__).resolve().parent / "apps" / "bench_app"
REPO = Path(__file__).resolve().parent.parent

_apps: dict[Path, LoadedApp] = {}


def bench_app(app_dir: Path = APP_DIR) -> LoadedApp:
    if app_dir not in _apps:
        logging.getLogger().setLevel(logging.ERROR)
        _apps[app_dir] = load_app(app_dir)
    return _apps[app_dir]


@dataclass
class Cfg:
    """One benchmark configuration (store, durability, scale)."""

    store: str = "sqlite"
    synchronous: str = "FULL"
    quick: bool = False
    runs: int = 5
    # False: host.json extendedSessionsEnabled=false for the in-process host (every episode
    # replays the whole history, the behaviour before extended sessions)
    sessions: bool = True


@contextlib.asynccontextmanager
async def host(cfg: Cfg, app_dir: Path = APP_DIR, *, http: bool = False, store: Any = None) -> AsyncIterator[Host]:
    """A started in-process host on a fresh store in a temp dir (real wall clock)."""
    with tempfile.TemporaryDirectory(prefix="dl-bench-") as tmp:
        config = HostConfig(app_dir=app_dir, port=0, store=cfg.store, data_dir=Path(tmp), synchronous=cfg.synchronous)
        app = bench_app(app_dir)
        if not cfg.sessions:
            app = dataclasses.replace(app, settings=dataclasses.replace(app.settings, extended_sessions=False))
        h = Host(config, clock=Clock(), app=app, store=store)
        if http:
            await h.start()
        else:
            h.dispatcher.start()
            await h.dispatcher.ready()  # worker processes started, as after a host's start-up
        try:
            yield h
        finally:
            await h.stop()


def start(h: Host, name: str, input_text: str | None, instance_id: str | None = None) -> str:
    return ops.start_orchestration(h.ctx, name, instance_id=instance_id, input_text=input_text).instance_id


def done_count(h: Host, ids: set[str] | None = None) -> int:
    store = h.store
    conn = getattr(store, "_conn", None)
    if conn is not None and hasattr(store, "_read"):
        states = ", ".join(f"'{s}'" for s in TERMINAL_STATES)
        with store._read() as c:
            return int(
                c.execute(
                    f"SELECT COUNT(*) FROM instances WHERE runtime_status IN ({states}) "
                    "AND substr(instance_id, 1, 1) <> '@'"
                ).fetchone()[0]
            )
    recs = store.query_instances(InstanceQuery(runtime_status=sorted(TERMINAL_STATES), top=0)).instances
    return len(recs) if ids is None else sum(1 for r in recs if r.instance_id in ids)


async def wait_done(h: Host, n: int, timeout: float = 600.0, poll: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(done_count, h) >= n:
            return
        await asyncio.sleep(poll)
    raise TimeoutError(f"only {done_count(h)} of {n} instances finished in {timeout:.0f} s")


def records(h: Host, ids: Iterable[str]) -> list[InstanceRecord]:
    out = []
    for iid in ids:
        rec = h.store.get_instance(iid)
        if rec is None:
            raise RuntimeError(f"instance {iid} vanished")
        if rec.runtime_status != "Completed":
            raise RuntimeError(f"instance {iid} ended {rec.runtime_status}: {rec.output}")
        out.append(rec)
    return out


def throughput(recs: list[InstanceRecord], units_per_instance: float = 1.0) -> float:
    """Completed units ÷ (last completion − first creation), from the rows."""
    first = min(r.created_time for r in recs)
    last = max(r.last_updated_time for r in recs)
    span = (last - first).total_seconds()
    return len(recs) * units_per_instance / span if span > 0 else float("inf")


def latency_ms(rec: InstanceRecord) -> float:
    return (rec.last_updated_time - rec.created_time).total_seconds() * 1000


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]
