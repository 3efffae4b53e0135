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
import dataclasses
import itertools
import logging
import os
import threading
import traceback
import zlib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from typing import Any

from durable_local.app_env import host_import_path
from durable_local.app_loader import AppLoadError
from durable_local.bindings.invocation import ClientEnv
from durable_local.engine.result import EpisodeResult
from durable_local.runtime.engine_options import engine_options
from durable_local.store.base import OrchestrationWorkItem

log = logging.getLogger("durable_local.workers")

SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"
MAX_PROCESSES = 10  # the Functions host's own limit for FUNCTIONS_WORKER_PROCESS_COUNT


class WorkerError(Exception):
    """An episode failed inside a worker process (the text is the worker's traceback summary)
    or the worker process died; the dispatcher abandons and retries the work item."""


def process_count(environ: dict[str, str] | os._Environ[str] | None = None) -> int:
    """How many worker processes the setting asks for; 0 = run user code in the host process.

    A value that is not a whole number from 1 to 10 stops start-up (AppLoadError: the CLI
    prints it as one line), as it does for the Functions host."""
    raw = (environ if environ is not None else os.environ).get(SETTING, "").strip()
    if not raw:
        return 0
    try:
        count = int(raw)
    except ValueError:
        raise AppLoadError(f"{SETTING} must be a whole number from 1 to {MAX_PROCESSES}, not {raw!r}") from None
    if not 1 <= count <= MAX_PROCESSES:
        raise AppLoadError(f"{SETTING} must be a whole number from 1 to {MAX_PROCESSES}, not {count}")
    return count


class WorkerProcesses:
    """``count`` spawned worker processes for one app.

    Each process is its own single-worker pool so that an instance's episodes always go to the
    same one (by a hash of the instance id): that process holds the instance's extended
    session (engine/session.py); anywhere else the episode would be a full replay. Activities
    have no such tie and go to the processes in turn."""

    def __init__(self, app_dir: Path, count: int, default_version: str = "", max_chunk: int = 16) -> None:
        self.app_dir = Path(app_dir)
        self.count = count
        self._default_version = default_version
        self._lock = threading.Lock()
        self._pools = [self._new_pool() for _ in range(count)]
        self._episodes = [
            _Chunker(lambda chunk, i=i: self._call(i, _run_episodes, chunk), 1, max_chunk) for i in range(count)
        ]
        self._turn = itertools.count()
        self._activities = _Chunker(
            lambda chunk: self._call(next(self._turn) % count, _run_activities, chunk), count, max_chunk
        )

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the host has threads (dispatch pool, SQLite) that a fork would copy
        # in whatever state they were in
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=_SpawnWithHostPath(),
            initializer=_init_worker,
            initargs=(str(self.app_dir), self._default_version, logging.getLogger().getEffectiveLevel()),
        )

    async def warm_up(self) -> None:
        """Start every process now (each imports the SDK and the app: about a second)."""
        await asyncio.gather(*(self._call(i, _ping) for i in range(self.count)))

    async def _call(self, index: int, fn: Any, *args: Any) -> Any:
        pool = self._pools[index]
        try:
            return await asyncio.wrap_future(pool.submit(fn, *args))
        except BrokenProcessPool as exc:
            # the worker died (killed, out of memory, os._exit in user code): every call in flight
            # on it fails; replace it once and let the dispatcher retry the work (its sessions
            # are gone: those instances replay in full once)
            with self._lock:
                if self._pools[index] is pool:
                    log.error("worker process %d died; starting a new one", index + 1)
                    self._pools[index] = self._new_pool()
            raise WorkerError(f"the worker process died while running the work item ({exc})") from None

    async def episode(self, item: OrchestrationWorkItem, now: datetime) -> EpisodeResult:
        home = zlib.crc32(item.instance_id.encode()) % self.count  # the process with its session
        status, value = await self._episodes[home].submit((item, now))
        if status != "ok":
            raise WorkerError(value)
        return value

    async def activity(
        self, name: str, input_text: str | None, env: ClientEnv | None = None, instance_id: str = ""
    ) -> tuple[str, str | None, str]:
        """("ok", result text, "") or ("failed", reason, details). ``env`` and ``instance_id``
        feed the activity's bindings (durable client, binding expressions)."""
        return await self._activities.submit((name, input_text, env, instance_id))

    async def session_stats(self) -> list[tuple[int, int]]:
        """(hits, misses) of each worker process's extended-session cache (diagnostics)."""
        return list(await asyncio.gather(*(self._call(i, _session_stats) for i in range(self.count))))

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)


class _Chunker:
    """Send calls to the workers in chunks: at most ``slots`` calls in flight; whatever queued
    up meanwhile goes in the next call (up to ``max_chunk`` items). An idle host sends each
    item alone at once; a busy one pays the process hand-off once per chunk, not per item."""

    def __init__(self, send: Any, slots: int, max_chunk: int) -> None:
        self._send = send  # async (list of args) -> list of results, in order
        self._slots = slots
        self._max = max_chunk
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, args: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((args, future))
        self._pump()
        return await future

    def _pump(self) -> None:
        while self._pending and self._inflight < self._slots:
            chunk, self._pending = self._pending[: self._max], self._pending[self._max :]
            self._inflight += 1
            task = asyncio.ensure_future(self._run(chunk))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, chunk: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        try:
            results = await self._send([args for args, _ in chunk])
        except BaseException as exc:  # the worker died (WorkerError) or shutdown cancelled us
            for _, future in chunk:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else WorkerError("cancelled"))
        else:
            for (_, future), result in zip(chunk, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._inflight -= 1
            self._pump()


class _HostPathProcess(SpawnProcess):
    def start(self) -> None:
        # the child re-imports the parent's main module before anything else; it can only find
        # it on the host's path, and switches to the app's path in _init_worker
        with host_import_path():
            super().start()


class _SpawnWithHostPath(SpawnContext):
    Process = _HostPathProcess


# -- inside a worker process ------------------------------------------------------------------
_options: Any = None
_registry: Any = None
_threads: Any = None  # the worker's thread pool for sync activities, as the Python worker has


def _init_worker(app_dir: str, default_version: str, log_level: int) -> None:
    global _options, _registry
    from durable_local.logs import configure_logging
    from durable_local.tools import tracing

    configure_logging(log_level)
    tracing.install()  # app log lines naming their instance end with [trace=...] here too
    from durable_local.app_env import adopt_app_env
    from durable_local.app_loader import load_app

    global _threads
    # this process exists for the app: its working directory and import path stay the worker's
    adopt_app_env(app_dir)
    app = load_app(app_dir)
    _registry = app.registry
    _options = engine_options(app.registry, dataclasses.replace(app.settings, default_version=default_version))
    # PYTHON_THREADPOOL_THREAD_COUNT is the Python worker's own setting for this pool
    threads = int(os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT") or app.settings.max_concurrent_activities)
    _threads = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="worker-activity")


def _ping() -> int:
    return os.getpid()


def _session_stats() -> tuple[int, int]:
    sessions = _options.sessions
    return (sessions.hits, sessions.misses) if sessions is not None else (0, 0)


def _run_episodes(chunk: list[tuple[OrchestrationWorkItem, datetime]]) -> list[tuple[str, Any]]:
    return [_run_episode(item, now) for item, now in chunk]


def _run_activities(chunk: list[tuple[str, str | None, Any, str]]) -> list[tuple[str, str | None, str]]:
    # concurrently, like the worker's thread pool: one slow (I/O-bound) activity in a chunk
    # must not hold the others back
    if len(chunk) == 1:
        return [_run_activity(*chunk[0])]
    return [f.result() for f in [_threads.submit(_run_activity, *args) for args in chunk]]


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


def _run_activity(
    name: str, input_text: str | None, env: Any = None, instance_id: str = ""
) -> tuple[str, str | None, str]:
    from durable_local.engine.messages import activity_failure_reason
    from durable_local.runtime import invoke

    info = _registry.activity(name)
    try:
        if info is None:  # disabled: the orchestration sees a failed task, as in the extension
            return "failed", _options.missing_function_message("activity", name), ""
        return "ok", invoke.call_activity_sync(info, input_text, env, instance_id), ""
    except Exception as exc:  # the user's failure becomes TaskFailed, as in the extension
        reason, details = activity_failure_reason(name, exc)  # the host logs it (it knows the trace)
        return "failed", reason, details
