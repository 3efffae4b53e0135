"""Running orchestration and entity episodes on a pool thread and committing them.

Everything here is synchronous and runs on the dispatcher's thread pool (or, for a worker
process's result, in the dispatcher's write batches); the dispatcher (runtime/dispatcher.py)
decides when, and handles the outcomes on its event loop. In-process, one pool job claims a
batch of instances, runs their episodes and commits them together (:meth:`claim_and_run`):
one thread hand-off per claim instead of one per claim plus one per episode, and one
transaction and fsync for the batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from durable_local.engine.entity import run_entity_batch
from durable_local.engine.episode import run_orchestration_episode
from durable_local.engine.messages import terminate_message
from durable_local.engine.options import EngineOptions
from durable_local.engine.result import EpisodeResult
from durable_local.runtime.context import HostContext
from durable_local.store.base import ACTIVITY_QUEUE, ConflictError, Message, OrchestrationWorkItem
from durable_local.tools.observe import after_commit, after_episode

log = logging.getLogger("durable_local.dispatch")

NOT_RUN = object()  # a claimed item whose instance had an episode in flight: it runs after that one

Ran = tuple[OrchestrationWorkItem, EpisodeResult, float]


@dataclass
class Batch:
    """What one in-process claim job did: each claimed item with its outcome (the queues it
    sent messages to, the exception it raised, or NOT_RUN), and the activity work it claimed
    for this host right after the commit (saving the activity loop a claim of its own)."""

    outcomes: list[tuple[OrchestrationWorkItem, Any]] = field(default_factory=list)
    activities: list[Message] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.outcomes)


class CommitFailed(Exception):
    """The store failed to commit an episode (the cause is chained); not a ConflictError."""


class EpisodeRunner:
    """Runs episodes with this host's engine options and commits them to its store."""

    def __init__(self, ctx: HostContext, options: EngineOptions) -> None:
        self.ctx = ctx
        self.options = options
        self.last_seconds = 0.0  # how long the latest in-process episode took

    def claim_and_run(
        self, now: datetime, limit: int, lease_seconds: float, busy: frozenset[str], activity_slots: int, owner: str
    ) -> Batch:
        """Claim up to ``limit`` instances, run their episodes and commit them together, then
        (if they sent activity work and ``activity_slots`` > 0) claim up to that many activities.
        Instances in ``busy`` have an episode in flight: they come back NOT_RUN."""
        batch = Batch()
        ran: list[Ran] = []
        for item in self.ctx.store.claim_orchestrations(now, limit, lease_seconds, owner):
            if item.instance_id in busy:
                batch.outcomes.append((item, NOT_RUN))
                continue
            try:
                ran.append((item, *self.result(item)))
            except Exception as exc:
                batch.outcomes.append((item, exc))
        committed = self._commit_all(ran)
        batch.outcomes += zip([item for item, _, _ in ran], committed, strict=True)
        if activity_slots > 0 and any(isinstance(c, frozenset) and ACTIVITY_QUEUE in c for c in committed):
            batch.activities = self.ctx.store.claim_activities(now, activity_slots, lease_seconds, owner)
        return batch

    def run(self, item: OrchestrationWorkItem) -> frozenset[str]:
        """One episode run and committed on its own; the queues it sent messages to."""
        return self.commit(item, *self.result(item))

    def result(self, item: OrchestrationWorkItem) -> tuple[EpisodeResult, float]:
        """The episode's result and how long the engine took."""
        now: datetime = self.ctx.clock.now()
        started = time.perf_counter()
        if item.instance_id.startswith("@"):
            result = run_entity_batch(item, now, self.options)
        else:
            result = run_orchestration_episode(item, now, self.options)
        self.last_seconds = time.perf_counter() - started
        return result, self.last_seconds

    def commit(self, item: OrchestrationWorkItem, result: EpisodeResult, seconds: float) -> frozenset[str]:
        """Store the episode; the queues it sent messages to."""
        after_episode(item, result, seconds)  # parity warnings, trace links, spans
        self._store(item, result, result.consumed)
        after_commit(item, result)  # engine notes, entity operation failures, orchestration outcomes
        return frozenset(m.queue for m in result.outgoing)

    def park(self, item: OrchestrationWorkItem, exc: BaseException, attempts: int) -> None:
        """Terminate the instance instead of retrying a poison message forever (R14)."""
        now = self.ctx.clock.now()
        reason = f"poison message: the episode failed {attempts} times; last error: {type(exc).__name__}: {exc}"
        term = terminate_message(item.instance_id, reason[:2000], now)
        term.id = -1
        result = run_orchestration_episode(replace(item, messages=[term]), now, self.options)
        self._store(item, result, [m.id for m in item.messages if m.id is not None])
        log.error("%s: parked after %d failed episodes (terminated: %s)", item.instance_id, attempts, reason[:300])

    def _commit_all(self, ran: list[Ran]) -> list[Any]:
        """Commit these episodes, in one store transaction if the store batches (each commit
        a savepoint: one that fails alone leaves the others); per episode its queues or error."""

        def each() -> list[Any]:
            out: list[Any] = []
            for item, result, seconds in ran:
                try:
                    out.append(self.commit(item, result, seconds))
                except Exception as exc:
                    out.append(exc)
            return out

        batch = getattr(self.ctx.store, "batch", None)
        if batch is None or len(ran) < 2:
            return each()
        try:
            with batch():
                return each()
        except Exception as exc:  # the batch's own COMMIT failed: none of it was written
            failed = CommitFailed(exc)
            failed.__cause__ = exc
            return [failed] * len(ran)

    def _store(self, item: OrchestrationWorkItem, result: EpisodeResult, consumed: list[int]) -> None:
        try:
            self.ctx.store.commit_orchestration(
                item,
                instance=result.instance,
                new_history=result.new_history,
                replace_history=result.replace_history,
                outgoing=result.outgoing,
                consumed=consumed,
            )
        except (ConflictError, CommitFailed):
            raise
        except Exception as exc:
            raise CommitFailed(exc) from exc
