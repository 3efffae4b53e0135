"""Dispatchers: claim work from the store, run it, commit the outcome, wake each other.

Two loops share one thread pool: orchestration/entity episodes (the SDK replay is CPU-bound
and synchronous) and activities (sync ones in the pool, async ones on the loop). Dispatch is
event-driven: every enqueue calls ``notify()``; when nothing is ready a loop sleeps exactly
until the store's next visible message (a timer) or the next notify, never polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sized
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from durable_local.runtime.activity_call import activity_result
from durable_local.runtime.activity_slots import ActivitySlots
from durable_local.runtime.context import HostContext
from durable_local.runtime.engine_options import engine_options
from durable_local.runtime.episode_runner import NOT_RUN, CommitFailed, EpisodeRunner
from durable_local.runtime.giveback import claim_backoff, give_back
from durable_local.runtime.owners import claim_owner, make_owner, owned_by, owner_is_dead
from durable_local.runtime.workers import WorkerError, WorkerProcesses
from durable_local.runtime.writes import WriteBatcher
from durable_local.store.base import (
    ACTIVITY_QUEUE,
    ORCHESTRATOR_QUEUE,
    ConflictError,
    Message,
    OrchestrationWorkItem,
    StoreError,
)

log = logging.getLogger("durable_local.dispatch")
T = TypeVar("T")
S = TypeVar("S", bound=Sized)  # what a claim returns: the claimed items

LEASE_SECONDS = 300.0
# A message that keeps failing (the engine raising, an entity batch crashing) backs off
# exponentially up to this delay, so it cannot starve the other instances.
MAX_BACKOFF_SECONDS = 60.0
# R14: an orchestration whose episode failed this many times in a row is parked: terminated
# with a "poison message" reason (its parent is told), consuming the claimed messages.
# Entities are not parked (their callers wait on them); they keep backing off.
MAX_EPISODE_ATTEMPTS = 10
# In-process, the longest an orchestration claim waits for running activities to finish first
# (see ActivitySlots.let_run).
MAX_FAN_IN_WAIT = 0.25


class Dispatcher:
    """Runs the orchestration and activity loops until ``stop()``."""

    def __init__(self, ctx: HostContext, *, owner: str | None = None, workers: WorkerProcesses | None = None) -> None:
        self.ctx = ctx
        # None: user code runs in this process; else episodes and activities run in the
        # worker processes (FUNCTIONS_WORKER_PROCESS_COUNT, see runtime/workers.py)
        self.workers = workers
        self.owner = owner or make_owner()  # host-<hex>@<hostname>:<pid>, see runtime/owners.py
        settings = ctx.app.settings
        self.max_orchestrations = max(1, settings.max_concurrent_orchestrations)
        self.max_activities = max(1, settings.max_concurrent_activities)
        self._acts = ActivitySlots(self.max_activities)
        self.options = engine_options(ctx.app.registry, settings)
        self.episodes = EpisodeRunner(ctx, self.options)
        self._pool = ThreadPoolExecutor(
            max_workers=self.max_orchestrations + self.max_activities, thread_name_prefix="durable"
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._orch_wake = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._inflight: set[str] = set()  # instance ids with an episode running
        # items claimed while an episode of the same instance was still running: their claim took
        # the lease over (so the running commit will fail); they run as soon as it ends
        self._deferred: dict[str, OrchestrationWorkItem] = {}
        self._cycling = False  # an orchestration claim (in-process: with its episodes) in flight
        self._writes = WriteBatcher(ctx.store, self.run_sync, self._spawn)
        self._claim_numbers = itertools.count(1)

    # -- wiring --------------------------------------------------------------------------------
    def notify(self) -> None:
        """Thread-safe wake-up after anything was enqueued."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake_all()
        else:
            loop.call_soon_threadsafe(self._wake_all)

    def busy(self) -> bool:
        """Whether an episode, an activity or an in-process claim job is in flight (tests)."""
        return bool(self._inflight or self._deferred or self._acts.running or self._cycling)

    def _wake_all(self) -> None:
        self._orch_wake.set()
        self._acts.wake.set()

    async def run_sync(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.ctx.clock.subscribe(self.notify)
        recover = getattr(self.ctx.store, "release_dead_leases", None)
        if recover is not None:  # a crashed host's in-flight work resumes now, not at lease expiry
            with contextlib.suppress(Exception):
                freed = recover(owner_is_dead)
                if freed:
                    log.info("released %d lease(s) held by crashed hosts", freed)
        self._loops = [
            asyncio.create_task(self._orchestration_loop(), name="orchestrations"),
            asyncio.create_task(self._activity_loop(), name="activities"),
        ]

    async def ready(self) -> None:
        """Wait until the worker processes (if any) have started and imported the app, as the
        Functions host waits for its language workers before it reports itself running."""
        if self.workers is not None:
            await self.workers.warm_up()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, let in-flight work finish (up to ``grace`` s), then cancel."""
        self._stopping = True
        self._wake_all()
        for t in self._loops:
            t.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for t in pending:
                t.cancel()
        for t in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        # Work claimed but not finished (a claim racing the stop, tasks past the grace period)
        # is made visible again now, not at lease expiry: a host restarted in this process (same
        # pid, so not "dead") would otherwise wait LEASE_SECONDS. Late commits then fail safely.
        release = getattr(self.ctx.store, "release_dead_leases", None)
        if release is not None:
            with contextlib.suppress(Exception):
                await self.run_sync(lambda: release(lambda owner: owned_by(self.owner, owner)))
        if self.workers is not None:
            await asyncio.to_thread(self.workers.close)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- loops -----------------------------------------------------------------------------------
    def _claim_or_next(self, claim: Callable[[], S], limit: int) -> tuple[S, datetime | None]:
        """Claim; if fewer than ``limit`` were ready (everything visible was taken), also read
        when more will be, in the same pool job: the loop then sleeps instead of claiming again."""
        items = claim()
        return items, (None if len(items) >= limit else self.ctx.store.next_visible_time())

    async def _claim(self, what: str, claim: Callable[[str], S], limit: int) -> tuple[S, datetime | None] | None:
        """Claim under an owner id of its own (``claim_owner``); None if the store failed.

        A claim can fail after the store took the leases (a timeout whose write was applied):
        the claim's own leases are then given back at once, so its instances and activities
        are claimed again in the next cycle instead of after LEASE_SECONDS."""
        owner = claim_owner(self.owner, next(self._claim_numbers))
        try:
            return await self.run_sync(lambda: self._claim_or_next(lambda: claim(owner), limit))
        except Exception as exc:
            log.warning("claiming %s failed (%s: %s); claiming again", what, type(exc).__name__, exc)
            release = getattr(self.ctx.store, "release_dead_leases", None)
            if release is not None:
                await self._give_back(f"the leases of a failed {what} claim", lambda: release(lambda o: o == owner))
            return None

    async def _give_back(self, what: str, call: Callable[[], object]) -> None:
        await give_back(self.run_sync, what, call)

    async def _sleep_until_work(self, wake: asyncio.Event, next_at: datetime | None) -> None:
        timeout: float | None = None
        if next_at is not None:
            timeout = max(0.0, (next_at - self.ctx.clock.now()).total_seconds())
        if timeout == 0.0:
            await asyncio.sleep(0.001)  # due now but leased/in flight elsewhere: don't spin
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=timeout)

    async def _orchestration_loop(self) -> None:
        failures = 0  # failed claims in a row
        while not self._stopping:
            self._orch_wake.clear()
            free = self.max_orchestrations - len(self._inflight)
            if free <= 0:  # every slot busy: an episode ending wakes us
                await self._orch_wake.wait()
                continue
            if self.workers is None:  # in-process: replays and activities share one GIL
                await self._acts.let_run(min(self.episodes.last_seconds, MAX_FAN_IN_WAIT))
            # a task of its own, so that stop() lets a claimed batch finish (the loop is cancelled)
            cycle = asyncio.ensure_future(self._orchestration_cycle(free))
            self._tasks.add(cycle)
            cycle.add_done_callback(self._cycle_done)
            self._cycling = True
            claimed = await asyncio.shield(cycle)
            if claimed is None:
                failures += 1
                await claim_backoff(failures)
                continue
            failures = 0
            count, next_at = claimed
            if count < free:
                await self._sleep_until_work(self._orch_wake, next_at)

    def _cycle_done(self, cycle: asyncio.Task[Any]) -> None:
        self._tasks.discard(cycle)
        self._cycling = False

    async def _orchestration_cycle(self, free: int) -> tuple[int, datetime | None] | None:
        """Claim up to ``free`` instances and start (worker processes) or run (in-process, in
        the claim's own pool job) their episodes; None if the claim failed, else how many
        were claimed and when more work becomes visible."""
        now = self.ctx.clock.now()
        if self.workers is not None:
            claimed = await self._claim(
                "orchestration", partial(self.ctx.store.claim_orchestrations, now, free, LEASE_SECONDS), free
            )
            if claimed is None:
                return None
            items, next_at = claimed
            for item in items if not self._stopping else []:  # stopping: stop() frees their leases
                self._start_episode(item)
            return len(items), next_at
        # in-process: claim, run and commit in one pool job, which also claims the activities
        # they sent for the free activity slots, reserved meanwhile (the activity loop leaves them)
        slots = self._acts.reserve()
        try:
            busy = frozenset(self._inflight)
            # _claim passes the owner id, the last argument of a claim
            run = partial(self.episodes.claim_and_run, now, free, LEASE_SECONDS, busy, slots)
            ran = await self._claim("orchestration", run, free)
        finally:
            self._acts.release(slots)
        if ran is None:
            return None
        batch, next_at = ran
        if self._stopping:  # what this job claimed and did not finish: stop() frees the leases
            return len(batch), next_at
        for item, outcome in batch.outcomes:
            if outcome is NOT_RUN:
                self._start_episode(item)
            else:
                self._episode_ended(item, outcome)
        self._start_activities(batch.activities)
        sent = any(isinstance(o, frozenset) and ACTIVITY_QUEUE in o for _, o in batch.outcomes)
        if sent and len(batch.activities) >= slots:  # there may be activity work left
            self._acts.wake.set()
        return len(batch), next_at

    def _start_episode(self, item: OrchestrationWorkItem) -> None:
        if item.instance_id in self._inflight:
            # the lease expired under a long virtual-clock jump, or a restart replaced the
            # instance: this claim now holds the lease; run it right after the in-flight one
            # (dropping it would strand its messages until LEASE_SECONDS)
            self._deferred[item.instance_id] = item
            return
        self._inflight.add(item.instance_id)
        self._spawn(self._episode(item))

    async def _activity_loop(self) -> None:
        failures = 0  # failed claims in a row
        while not self._stopping:
            self._acts.wake.clear()
            free = self._acts.free
            if free <= 0:  # every slot busy (or reserved): an activity ending wakes us
                await self._acts.wait_for_one()
                continue
            now = self.ctx.clock.now()
            claimed = await self._claim(
                "activity",
                partial(self.ctx.store.claim_activities, now, free, LEASE_SECONDS),
                free,
            )
            if claimed is None:
                failures += 1
                await claim_backoff(failures)
                continue
            failures = 0
            work, next_at = claimed
            self._start_activities(work)
            if len(work) < free:
                await self._sleep_until_work(self._acts.wake, next_at)

    def _start_activities(self, work: list[Message]) -> None:
        for msg in work:
            if self._acts.take(msg):
                self._spawn(self._activity(msg))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- work --------------------------------------------------------------------------------------
    async def _run_episode_in_worker(self, workers: WorkerProcesses, item: OrchestrationWorkItem) -> frozenset[str]:
        started = time.perf_counter()
        result = await workers.episode(item, self.ctx.clock.now())
        seconds = time.perf_counter() - started
        return await self._writes.write(lambda: self.episodes.commit(item, result, seconds))

    async def _episode(self, item: OrchestrationWorkItem) -> None:
        """One episode on its own: in a worker process, or a deferred one in this process."""
        try:
            outcome: Any
            try:
                if self.workers is None:
                    outcome = await self.run_sync(partial(self.episodes.run, item))
                else:
                    outcome = await self._run_episode_in_worker(self.workers, item)
            except Exception as exc:
                outcome = exc
            self._orch_wake.set()  # a slot freed up
            await self._after_episode(item, outcome)
        finally:
            self._inflight.discard(item.instance_id)
            deferred = self._deferred.pop(item.instance_id, None)
            if deferred is not None and not self._stopping:
                self._inflight.add(deferred.instance_id)
                self._spawn(self._episode(deferred))

    def _episode_ended(self, item: OrchestrationWorkItem, outcome: Any) -> None:
        """After an in-process episode: wake the orchestration loop if it sent it work (the
        cycle sees to activities); a failure is handled in a task of its own (it waits for
        the store)."""
        if isinstance(outcome, Exception):
            self._spawn(self._after_episode(item, outcome))
        elif ORCHESTRATOR_QUEUE in outcome:
            self._orch_wake.set()

    async def _after_episode(self, item: OrchestrationWorkItem, outcome: Any) -> None:
        """``outcome``: the queues the committed episode sent to, or what it raised."""
        if not isinstance(outcome, Exception):
            if ACTIVITY_QUEUE in outcome:  # wake the activity loop only if there is new work
                self._acts.wake.set()
            return
        try:
            raise outcome
        except ConflictError as exc:
            log.warning("%s: commit rejected (%s); messages stay queued", item.instance_id, exc)
            self._orch_wake.set()
        except CommitFailed as failed:
            # the store failed, not the episode: nothing about the messages is poisonous, so
            # they are claimed again at once (if the commit was in fact applied, the lease is
            # gone and the abandon does nothing; the replay would drop the duplicates anyway)
            cause = failed.__cause__
            log.warning("%s: storing the episode failed (%s: %s); it will run again",
                        item.instance_id, type(cause).__name__, cause)
            await self._give_back(f"{item.instance_id}'s messages", lambda: self.ctx.store.abandon_orchestration(item))
            self.notify()
        except Exception as exc:
            attempts = max((m.dequeue_count for m in item.messages), default=0) + 1
            if attempts >= MAX_EPISODE_ATTEMPTS and not item.instance_id.startswith("@"):
                try:
                    await self.run_sync(partial(self.episodes.park, item, exc, attempts))
                    self.notify()
                    return
                except Exception:
                    log.exception("%s: could not park the poison message(s)", item.instance_id)
            delay = min(MAX_BACKOFF_SECONDS, 2.0 ** max((m.dequeue_count for m in item.messages), default=0))
            log.exception("%s: episode failed; retrying in %.0f s", item.instance_id, delay)
            await self._give_back(
                f"{item.instance_id}'s messages", lambda: self.ctx.store.abandon_orchestration(item, delay)
            )
            self.notify()

    async def _activity(self, msg: Message) -> None:
        name = str(msg.payload.get("name", ""))
        try:
            result = await activity_result(self.ctx, self.options, self.workers, self.run_sync, msg)
            await self._writes.write(lambda: self.ctx.store.complete_activity(msg, result))
            self._orch_wake.set()  # the result is an orchestrator message
        except Exception as exc:
            if isinstance(exc, (WorkerError, StoreError)):  # a worker died / the store failed: one line
                log.error("activity %s for %s: %s: %s; it will be retried", name, msg.target, type(exc).__name__, exc)
            else:
                log.exception("activity %s for %s could not be completed; it will be retried", name, msg.target)
            await self._give_back(
                f"activity {name} for {msg.target}", lambda: self.ctx.store.abandon_activity(msg, 1.0)
            )
            self._acts.wake.set()  # the loop must re-read when the retry becomes visible
        finally:
            self._acts.done(msg)
