"""Language worker processes: run episodes and activities outside the host process.

The Functions host runs user code in separate language worker processes, as many as
``FUNCTIONS_WORKER_PROCESS_COUNT`` says. When that setting is present, durable_local does
the same: ``count`` spawned processes each import the app once, then run whole episodes
(the engine's shadow replay plus the SDK's replay, which holds the GIL) and activities,
while the host process keeps the store, the dispatch loops and HTTP. On a machine with
several cores this is the only way Python replays run in parallel. Without the setting
everything runs in the host process (simplest to debug, and what the tests' fault hooks
expect).

Only plain data crosses the boundary: the claimed work item goes in, the episode result
(or an error text) comes back; an activity's input text goes in, its result text or the
(Reason, Details) of its failure comes back. Exceptions never cross: they are formatted in
the worker exactly as the in-process path formats them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from durable_local.engine.episode import EpisodeResult
from durable_local.store.base import OrchestrationWorkItem

log = logging.getLogger("durable_local.workers")

SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"
MAX_PROCESSES = 10  # the Functions host's own limit for FUNCTIONS_WORKER_PROCESS_COUNT


class WorkerError(Exception):
    """An episode failed inside a worker process (the text is the worker's traceback summary)
    or the worker process died; the dispatcher abandons and retries the work item."""


def process_count(environ: dict[str, str] | os._Environ[str] | None = None) -> int:
    """How many worker processes the setting asks for; 0 = run user code in the host process.

    A value that is not a whole number from 1 to 10 is an error, as it is for the host."""
    raw = (environ if environ is not None else os.environ).get(SETTING, "").strip()
    if not raw:
        return 0
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"{SETTING} must be a whole number from 1 to {MAX_PROCESSES}, not {raw!r}") from None
    if not 1 <= count <= MAX_PROCESSES:
        raise ValueError(f"{SETTING} must be a whole number from 1 to {MAX_PROCESSES}, not {count}")
    return count


class WorkerProcesses:
    """A pool of ``count`` spawned worker processes for one app."""

    def __init__(self, app_dir: Path, count: int, default_version: str = "") -> None:
        self.app_dir = Path(app_dir)
        self.count = count
        self._default_version = default_version
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the host has threads (dispatch pool, SQLite) that a fork would copy
        # in whatever state they were in
        return ProcessPoolExecutor(
            max_workers=self.count,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(str(self.app_dir), self._default_version, logging.getLogger().getEffectiveLevel()),
        )

    async def warm_up(self) -> None:
        """Start every process now (each imports the SDK and the app: about a second)."""
        await asyncio.gather(*(self._call(_ping) for _ in range(self.count)))

    async def _call(self, fn: Any, *args: Any) -> Any:
        pool = self._pool
        try:
            return await asyncio.wrap_future(pool.submit(fn, *args))
        except BrokenProcessPool as exc:
            # a worker died (killed, out of memory, os._exit in user code): every call in flight
            # on this pool fails; replace the pool once and let the dispatcher retry the work
            with self._lock:
                if self._pool is pool:
                    log.error("a worker process died; starting %d new one(s)", self.count)
                    self._pool = self._new_pool()
            raise WorkerError(f"the worker process died while running the work item ({exc})") from None

    async def episode(self, item: OrchestrationWorkItem, now: datetime) -> EpisodeResult:
        status, value = await self._call(_run_episode, item, now)
        if status != "ok":
            raise WorkerError(value)
        return value  # type: ignore[no-any-return]

    async def activity(self, name: str, input_text: str | None) -> tuple[str, str | None, str]:
        """("ok", result text, "") or ("failed", reason, details)."""
        return await self._call(_run_activity, name, input_text)  # type: ignore[no-any-return]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# -- inside a worker process ------------------------------------------------------------------
_options: Any = None
_registry: Any = None


def _init_worker(app_dir: str, default_version: str, log_level: int) -> None:
    global _options, _registry
    logging.basicConfig(level=log_level, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    from durable_local.app_loader import load_app
    from durable_local.runtime.dispatcher import engine_options

    app = load_app(app_dir)
    _registry = app.registry
    _options = engine_options(app.registry, default_version)


def _ping() -> int:
    return os.getpid()


def _run_episode(item: OrchestrationWorkItem, now: datetime) -> tuple[str, Any]:
    from durable_local.engine.entity import run_entity_batch
    from durable_local.engine.episode import run_orchestration_episode

    try:
        if item.instance_id.startswith("@"):
            return "ok", run_entity_batch(item, now, _options)
        return "ok", run_orchestration_episode(item, now, _options)
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" ({where.filename}:{where.lineno})" if where else ""
        return "error", f"{type(exc).__name__}: {exc}{at}"


def _run_activity(name: str, input_text: str | None) -> tuple[str, str | None, str]:
    from durable_local.engine.messages import activity_failure_reason
    from durable_local.runtime import invoke

    info = _registry.activity(name)
    try:
        if info is None:
            raise LookupError(f"The function '{name}' doesn't exist, is disabled, or is not an activity")
        return "ok", invoke.call_activity_sync(info, input_text), ""
    except Exception as exc:  # the user's failure becomes TaskFailed, as in the extension
        logging.getLogger("durable_local.dispatch").info("activity %s failed: %s: %s", name, type(exc).__name__, exc)
        reason, details = activity_failure_reason(name, exc)
        return "failed", reason, details
