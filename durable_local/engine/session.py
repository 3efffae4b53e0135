"""Extended sessions: keep an orchestration alive in memory between episodes.

The SDK replays the whole history at every episode, so a chain of N activities costs O(N²).
Its ``TaskOrchestrationExecutor`` however keeps all state in the context and the suspended
generator and consumes history events one at a time, so a host can keep the context, the
executor (with the generator) and our shadow replay after an episode and feed the next
episode only its new events (what host.json ``extendedSessionsEnabled`` does for .NET).

A session is a cache, never a source of truth:

* it is used only when the stored history is exactly what it has seen (same execution, same
  length, same last event); anything else (another host ran an episode, a commit failed, a
  rewind, a restart) is a miss and the episode replays in full, as without sessions;
* it is dropped on every ending, continue-as-new, terminate, suspend, rewind, error and
  anything unexpected; the episode that ends an instance is always a full replay, and so is
  the first episode after the history doubled since the session's last full replay, so
  non-determinism is still detected (with today's message), also in instances that run long;
* with ``DURABLE_LOCAL_VERIFY_SESSIONS=1`` every incremental episode is checked against a full
  replay (byte-identical OrchestratorState JSON and the same new work); a difference fails the
  instance and is counted in :data:`MISMATCHES` (the test suite fails on it).

The integration uses private SDK classes; :mod:`.session_guard` turns sessions off (one log
line) on an SDK version it does not know or when its start-up self-check fails.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .events import EventType
from .options import Handle
from .replay import ShadowReplay, walk_actions
from .sdk import SdkResult, call_orchestrator, sdk_result

log = logging.getLogger("durable_local.sessions")

VERIFY_ENV = "DURABLE_LOCAL_VERIFY_SESSIONS"
MAX_COUNT_ENV = "DURABLE_LOCAL_SESSIONS_MAX"
MAX_MB_ENV = "DURABLE_LOCAL_SESSIONS_MAX_MB"
# A session replays in full again once the history has doubled, from this many events on.
REPLAY_AGAIN_AFTER = 64
# How many incremental episodes differed from a full replay in this process (equality mode).
MISMATCHES: list[str] = []


def verify_from_env() -> bool:
    return os.environ.get(VERIFY_ENV, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class SessionKey:
    """Identifies the stored history a session has consumed: the execution, the number of
    events and the last one. Histories only grow within an execution, so an episode run
    anywhere else (or a commit that failed) changes the length."""

    execution_id: str
    length: int
    last: tuple[Any, Any, Any]

    @classmethod
    def of(cls, execution_id: str, history: list[dict[str, Any]]) -> SessionKey:
        last = history[-1] if history else {}
        return cls(execution_id, len(history), (last.get("EventType"), last.get("EventId"), last.get("Timestamp")))


class Session:
    """One instance's live orchestration: SDK context + executor (holding the generator) and
    the shadow replay that allocates sequence ids, each fed only new events."""

    def __init__(self, fn: Any, context: Any, executor: Any, approx_bytes: int) -> None:
        self.fn = fn  # the orchestrator function this session runs (a new app load never matches)
        self.context = context
        self.executor = executor
        self.shadow: ShadowReplay | None = None
        self.key: SessionKey | None = None
        self.replayed_at = 0  # stored history length at this session's full replay
        self.approx_bytes = approx_bytes
        self.last_used = time.monotonic()
        self.sent = 0  # how many of the SDK's actions earlier states already carried
        self._timers: list[tuple[Any, dict[str, Any]]] = []  # open timers: SDK action, sent action

    @classmethod
    def start(cls, handle: Handle, envelope: dict[str, Any]) -> tuple[Session | None, SdkResult]:
        """The first episode of a session: what the SDK's own handle does (a full replay),
        keeping the context and executor. No session if the orchestrator is not a generator."""
        from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext  # type: ignore[import-untyped]
        from azure.durable_functions.models.TaskOrchestrationExecutor import TaskOrchestrationExecutor  # type: ignore[import-untyped]

        sdk_handle = sdk_handle_of(handle)
        fn = getattr(sdk_handle, "orchestrator_function", None)
        if fn is None:  # not the SDK's Orchestrator.create handle: call it as it is
            return None, call_orchestrator(handle, envelope)
        text = json.dumps(envelope)
        context = DurableOrchestrationContext.from_json(text)
        context._input_expected_type = getattr(sdk_handle, "_df_input_type", None)
        executor = TaskOrchestrationExecutor()
        result = sdk_result(lambda: executor.execute(context, context.histories, fn))
        if getattr(executor, "generator", None) is None:
            return None, result
        return cls(fn, context, executor, len(text)), result

    def due_for_replay(self, stored: int) -> bool:
        """Whether the next episode should be a full replay again: once the history has doubled
        since the last one (amortised O(history) in all), so an instance that runs for long
        without ending still has its code checked against its history (non-determinism)."""
        return stored >= 2 * max(self.replayed_at, REPLAY_AGAIN_AFTER)

    def advance(self, events: list[dict[str, Any]], *, full: bool = False) -> SdkResult:
        """Feed this episode's first events (OrchestratorStarted + the new messages) as the
        SDK's executor loop does, and return its OrchestratorState holding only the actions
        added since the last episode (see :meth:`_new_state`). ``full``: also set ``raw`` to
        the whole state as a full replay writes it (equality mode compares it byte for byte)."""
        executor = self.executor
        fresh = _sdk_events(events)
        self.context.histories.extend(fresh)
        executor._is_processing_new_events = True
        for event in fresh:
            executor.process_event(event)
            if executor.has_execution_completed:
                break
        result = self._new_state()
        if full:
            result.raw = sdk_result(executor.get_orchestrator_state_str).raw
        return result

    def started(self, actions: list[dict[str, Any]]) -> None:
        """The session's full replay has run and its state carried ``actions`` (every action
        so far); the timers among them that are not canceled are watched from now on."""
        sdk_actions = self.context._action_payload_v2
        self.sent = len(sdk_actions)
        self._timers = []
        self._watch_timers(sdk_actions, actions)

    def _watch_timers(self, sdk_actions: list[Any], actions: list[dict[str, Any]]) -> None:
        for sdk_action, action in zip(_walk_sdk(sdk_actions), walk_actions(actions), strict=True):
            if isinstance(getattr(sdk_action, "is_cancelled", None), bool) and not sdk_action.is_cancelled:
                self._timers.append((sdk_action, action))

    def _new_state(self) -> SdkResult:
        """The OrchestratorState the SDK writes, but with only the new actions.

        The SDK serialises every action of the instance into each state (an O(history) cost
        per episode, the host then parses it back); the actions before ``sent`` are already
        known. The SDK's own serialiser runs on a view holding just the new ones, so the rest
        of the state (custom status, the error channel) is exactly the SDK's. One action
        changes after it was sent: a timer the code cancels; those are watched in ``_timers``."""
        context = self.context
        actions = context._action_payload_v2
        context._action_payload_v2 = actions[self.sent :]
        try:
            result = sdk_result(self.executor.get_orchestrator_state_str)
        finally:
            context._action_payload_v2 = actions
        new_sdk = actions[self.sent :]
        self.sent = len(actions)
        if result.crash is not None:
            return result
        self._watch_timers(new_sdk, (result.state.get("actions") or [[]])[0])
        self._timers = [(t, a) for t, a in self._timers if not _mark_canceled(t, a)]
        return result

    def forget_closed_timers(self, open_actions: list[dict[str, Any]]) -> None:
        """Stop watching timers the shadow replay no longer holds open (fired or closed)."""
        still = {id(a) for a in open_actions}
        self._timers = [(t, a) for t, a in self._timers if id(a) in still]

    def record(self, events: list[dict[str, Any]]) -> None:
        """The rest of the episode as it is stored (scheduling events, OrchestratorCompleted):
        the next full replay would walk them too (EventSent re-keys an entity call)."""
        self.feed(events)
        assert self.shadow is not None
        self.shadow.record(events)
        self.approx_bytes += sum(_event_bytes(e) for e in events)

    def feed(self, events: list[dict[str, Any]]) -> None:
        """Walk stored events that resolve nothing through the SDK's executor."""
        fresh = _sdk_events(events)
        self.context.histories.extend(fresh)
        for event in fresh:
            self.executor.process_event(event)


def _walk_sdk(actions: list[Any]) -> list[Any]:
    """The SDK's action objects depth first, as :func:`walk_actions` walks their JSON."""
    out: list[Any] = []
    for a in actions:
        out.append(a)
        out.extend(_walk_sdk(getattr(a, "compound_tasks", None) or []))
    return out


def _mark_canceled(sdk_timer: Any, action: dict[str, Any]) -> bool:
    """Copy a cancellation the code made since the timer was sent; True once it is canceled."""
    if sdk_timer.is_cancelled:
        action["isCanceled"] = True
        return True
    return False


def _sdk_events(events: list[dict[str, Any]]) -> list[Any]:
    """The SDK's HistoryEvent objects for stored events (as its context builds them)."""
    from azure.durable_functions.models.history.HistoryEvent import HistoryEvent  # type: ignore[import-untyped]

    return [HistoryEvent(**e) for e in events]


def sdk_handle_of(handle: Handle) -> Any:
    """The SDK's own handle behind the host's wrapper (runtime/invoke.py exposes it)."""
    return getattr(handle, "sdk_handle", handle)


def _event_bytes(e: dict[str, Any]) -> int:
    # an estimate: the payload texts dominate; the rest of an event object is a few hundred bytes
    return 400 + sum(len(v) for k, v in e.items() if isinstance(v, str) and k in ("Input", "Result", "Reason"))


class SessionCache:
    """Sessions by instance id, least recently used first, bounded by count, by an estimate
    of their memory and by an idle timeout. Thread-safe; a session is taken out while an
    episode uses it, so two episodes never share one."""

    def __init__(
        self,
        *,
        idle_timeout: float = 30.0,
        max_count: int = 1000,
        max_bytes: int = 256 << 20,
        verify: bool = False,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.verify = verify
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def take(self, instance_id: str, key: SessionKey, handle: Handle) -> Session | None:
        """The session for this stored history, removed from the cache; None on a miss (a
        stale session is dropped)."""
        with self._lock:
            session = self._sessions.pop(instance_id, None)
            if session is not None:
                self._bytes -= session.approx_bytes
            expired = session is not None and time.monotonic() - session.last_used > self.idle_timeout
            fn = getattr(sdk_handle_of(handle), "orchestrator_function", None)
            if session is None or expired or session.key != key or session.fn is not fn:
                self.misses += 1
                if session is not None:
                    self.evictions += 1
                return None
            self.hits += 1
            return session

    def put(self, instance_id: str, session: Session) -> None:
        session.last_used = time.monotonic()
        with self._lock:
            old = self._sessions.pop(instance_id, None)
            if old is not None:
                self._bytes -= old.approx_bytes
            self._sessions[instance_id] = session
            self._bytes += session.approx_bytes
            self._trim()

    def evict(self, instance_id: str) -> None:
        with self._lock:
            old = self._sessions.pop(instance_id, None)
            if old is not None:
                self._bytes -= old.approx_bytes
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._bytes = 0

    def _trim(self) -> None:
        now = time.monotonic()
        while self._sessions:
            _, oldest = next(iter(self._sessions.items()))
            idle = now - oldest.last_used > self.idle_timeout
            if not idle and len(self._sessions) <= self.max_count and self._bytes <= self.max_bytes:
                return
            _, dropped = self._sessions.popitem(last=False)
            self._bytes -= dropped.approx_bytes
            self.evictions += 1


def mismatch(instance_id: str, what: str) -> str:
    """Record an equality-mode failure; the text becomes the instance's failure reason."""
    message = f"extended session diverged from a full replay ({what}); set extendedSessionsEnabled to false"
    MISMATCHES.append(f"{instance_id}: {what}")
    log.error("%s: %s", instance_id, message)
    return message


def is_session_event(e: dict[str, Any]) -> bool:
    """Events a session cannot simply be fed: they change the execution's lifecycle."""
    return e["EventType"] in _LIFECYCLE


_LIFECYCLE = frozenset(
    {
        EventType.ExecutionStarted,
        EventType.ExecutionTerminated,
        EventType.ExecutionSuspended,
        EventType.ExecutionResumed,
        EventType.ExecutionRewound,
        EventType.ContinueAsNew,
    }
)

