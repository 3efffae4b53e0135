"""One orchestration episode: claimed messages + stored history -> what to persist and send.

Flow (PROTOCOL Appendix A): triage the messages (drop stale/duplicate ones, start a new
execution, terminate, suspend/resume, rewind), build the SDK history ``past + [OS(now)] +
new``, call the orchestrator, shadow-replay its actions to allocate sequence ids and find
new work, then append scheduling events, decide completion and notify the parent.

Choices documented for the runtime:

* Every message of the work item is consumed (``consumed`` = all ids); dropped ones are
  explained in ``log``.
* Continue-as-new ends the episode with status ``ContinuedAsNew`` and sends a fresh
  ExecutionStarted (plus carried-over EventRaised messages) to the same instance; the next
  claim starts the new execution with ``replace_history=True``.
* While suspended, arriving messages are appended to history (between OS/OC) but the SDK is
  not called; the resume episode replays them. This is what DTFx persists too, and it keeps
  the queue drained so the runtime never spins on a suspended instance.
* An ExecutionRewound message on a Failed instance rewrites the history (see rewind.py),
  re-dispatches the failed work and runs an episode at once.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime
from typing import Any

from durable_local.store.base import TERMINAL_STATES, InstanceRecord, Message, OrchestrationWorkItem

from . import events as ev
from .events import EventType
from .messages import EXECUTION_ID_KEY, strip_private
from .options import EngineOptions
from .outcome import Outcome
from .result import EpisodeResult
from .rewind import rewrite_for_rewind

_COMPLETIONS = {
    EventType.TaskCompleted: "TaskScheduledId",
    EventType.TaskFailed: "TaskScheduledId",
    EventType.SubOrchestrationInstanceCompleted: "TaskScheduledId",
    EventType.SubOrchestrationInstanceFailed: "TaskScheduledId",
    EventType.TimerFired: "TimerId",
}
_SCHEDULED_KIND = {
    "TaskScheduledId": (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated),
    "TimerId": (EventType.TimerCreated,),
}
_OVER = TERMINAL_STATES | {"ContinuedAsNew"}
_RECENT_EVENTS = 64  # how far from the end a completion's task is looked up before indexing


class _TaskIndex:
    """Which task ids were scheduled and which completed, per id kind (task / timer), so
    accepting each of many completions (a wide fan-in) is O(1), not a scan of the history."""

    def __init__(self, history: list[dict[str, Any]]) -> None:
        self.scheduled: dict[str, set[Any]] = {key: set() for key in _SCHEDULED_KIND}
        self.completed: dict[str, set[Any]] = {key: set() for key in _SCHEDULED_KIND}
        self._seen_new = 0
        for e in history:
            self._add(e)

    def catch_up(self, new_events: list[dict[str, Any]]) -> None:
        for e in new_events[self._seen_new :]:
            self._add(e)
        self._seen_new = len(new_events)

    def _add(self, e: dict[str, Any]) -> None:
        t = e["EventType"]
        for key, kinds in _SCHEDULED_KIND.items():
            if t in kinds:
                self.scheduled[key].add(e["EventId"])
        completion_key = _COMPLETIONS.get(t)
        if completion_key is not None:
            self.completed[completion_key].add(e.get(completion_key))


def run_orchestration_episode(item: OrchestrationWorkItem, now: datetime, options: EngineOptions) -> EpisodeResult:
    return _Episode(item, now, options).run()


def current_started(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((e for e in history if e["EventType"] == EventType.ExecutionStarted), None)


def episode_time(history: list[dict[str, Any]], now: datetime) -> datetime:
    """``now``, but never before the last OrchestratorStarted (the SDK clock only moves on)."""
    # The latest OrchestratorStarted is the largest: each one was this function's result, never
    # before the ones already stored. Looking from the end keeps a long history O(1) here.
    latest = next((e for e in reversed(history) if e["EventType"] == EventType.OrchestratorStarted), None)
    last = None if latest is None else ev.parse_timestamp(latest["Timestamp"])
    return now if last is None or now >= last else last


class _Episode:
    def __init__(self, item: OrchestrationWorkItem, now: datetime, options: EngineOptions) -> None:
        self.item = item
        self.options = options
        self.now = now
        # a new list, the same event dicts: the engine never changes a stored event in place
        # (copying each one made every episode O(history) even with an extended session)
        self.history = list(item.history)
        self.record = replace(item.instance) if item.instance is not None else None
        self.status = self.record.runtime_status if self.record else None
        self.new_events: list[dict[str, Any]] = []
        self.replace = False
        self.outgoing: list[Message] = []
        self.log: list[str] = []
        self.started_new = False
        self._index: _TaskIndex | None = None  # built on first use; reset when history changes
        self._repair_status_row()

    def _repair_status_row(self) -> None:
        """R4 (a): the history ends with ExecutionCompleted but the row says it is running (a
        crash or lost reply between the history write and the row write, e.g. the Azure
        backend's Instances projection). The history is the truth: the row is rewritten from
        its ExecutionCompleted (this episode's commit saves it) and the messages are dropped as
        for any finished instance."""
        if self.record is None or self.status in _OVER or not self.history:
            return
        done = None
        for e in reversed(self.history):  # only the last episode can hold it: O(1), not O(history)
            if e["EventType"] == EventType.ExecutionCompleted:
                done = e
            if done is not None or e["EventType"] == EventType.OrchestratorStarted:
                break
        if done is None:
            return
        status = ev.OrchestrationStatus(done.get("OrchestrationStatus", 0)).name
        self.log.append(f"repaired the status row: the history ends {status}, the row said {self.status}")
        self.record.runtime_status = self.status = status
        self.record.output = done.get("Result")
        self.record.last_updated_time = self.now

    # -- triage ----------------------------------------------------------------------------

    def run(self) -> EpisodeResult:
        messages = self.item.messages
        consumed = [m.id for m in messages if m.id is not None]
        start_at = self._find_start(messages)
        if start_at is not None:
            self._start_execution(messages, start_at)
            messages = messages[start_at + 1 :]
        for m in messages:
            if not self._accept(m):
                continue
        result = self._finish()
        result.consumed = consumed
        return result

    def _find_start(self, messages: list[Message]) -> int | None:
        started = current_started(self.history)
        running = started is not None and self.status not in _OVER and self.status != "Pending"
        for i, m in enumerate(messages):
            p = m.payload
            if p.get("EventType") != EventType.ExecutionStarted:
                continue
            exec_id = p.get("OrchestrationInstance", {}).get("ExecutionId")
            if started is not None and exec_id == started["OrchestrationInstance"]["ExecutionId"]:
                self.log.append(f"dropped duplicate ExecutionStarted for execution {exec_id}")
                continue
            if running:
                self.log.append(f"dropped ExecutionStarted {exec_id}: instance is already {self.status}")
                continue
            return i
        return None

    def _start_execution(self, messages: list[Message], at: int) -> None:
        start = strip_private(messages[at].payload)
        start["IsPlayed"] = False
        self.replace = bool(self.history)
        # Events that arrived before the new ExecutionStarted belong to the old execution,
        # except client events (no execution tag), which DTFx would deliver to the new one.
        earlier = [
            m
            for m in messages[:at]
            if m.payload.get("EventType") == EventType.EventRaised and not m.payload.get(EXECUTION_ID_KEY)
        ]
        dropped = (
            at
            - len(earlier)
            - sum(1 for m in messages[:at] if m.payload.get("EventType") == EventType.ExecutionStarted)
        )
        if dropped > 0:
            self.log.append(f"dropped {dropped} message(s) for the previous execution")
        self.history = []
        self.new_events = [start]
        self._index = None
        self.started_new = True
        self.status = "Running"
        for m in earlier:
            self._accept(m)

    def _accept(self, m: Message) -> bool:
        p = m.payload
        t = p["EventType"]  # every message on the orchestrator queue is a history event
        started = self._started()
        if t == EventType.ExecutionStarted:
            self.log.append("dropped an extra ExecutionStarted in the same batch")
            return False
        if t == EventType.ExecutionRewound and self.status == "Failed" and started is not None:
            self._rewind(strip_private(p))
            return True
        if started is None:
            self.log.append(f"dropped {EventType(t).name}: instance {self.item.instance_id} has no execution")
            return False
        if self.status in _OVER:
            self.log.append(f"dropped {EventType(t).name}: instance is {self.status}")
            return False
        tag = p.get(EXECUTION_ID_KEY)
        if tag and tag != started["OrchestrationInstance"]["ExecutionId"]:
            self.log.append(f"dropped {EventType(t).name} for stale execution {tag}")
            return False
        event = strip_private(p)
        event["IsPlayed"] = False
        if t in _COMPLETIONS and not self._fresh_completion(event):
            return False
        self.new_events.append(event)
        if t == EventType.ExecutionTerminated:
            self.status = "Terminated"
        elif t == EventType.ExecutionSuspended:
            self.status = "Suspended"
        elif t == EventType.ExecutionResumed and self.status == "Suspended":
            self.status = "Running"
        return True

    def _fresh_completion(self, event: dict[str, Any]) -> bool:
        key = _COMPLETIONS[EventType(event["EventType"])]
        task_id = event.get(key)
        recent = None if self._index is not None else self._recent(key, task_id)
        if recent is not None:
            scheduled, completed = recent
        else:
            if self._index is None:
                self._index = _TaskIndex(self.history)
            index = self._index
            index.catch_up(self.new_events)
            scheduled, completed = task_id in index.scheduled[key], task_id in index.completed[key]
        if not scheduled:
            self.log.append(f"dropped {EventType(event['EventType']).name} for unknown task id {task_id}")
            return False
        if completed:
            self.log.append(f"dropped duplicate {EventType(event['EventType']).name} for task id {task_id}")
            return False
        return True

    def _recent(self, key: str, task_id: Any) -> tuple[bool, bool] | None:
        """(scheduled, completed) for a task scheduled among the last few events (a chain's
        next step), found from the end; None if it is further back: the caller then indexes
        the whole history once (a wide fan-in checks many completions)."""
        kinds = _SCHEDULED_KIND[key]
        completed = False
        for n, e in enumerate(itertools.chain(reversed(self.new_events), reversed(self.history))):
            if n >= _RECENT_EVENTS:
                return None
            t = e["EventType"]
            if t in kinds and e["EventId"] == task_id:
                return True, completed
            if _COMPLETIONS.get(t) == key and e.get(key) == task_id:
                completed = True
        return False, completed

    def _started(self) -> dict[str, Any] | None:
        return current_started(self.history) or current_started(self.new_events)

    def _rewind(self, event: dict[str, Any]) -> None:
        started = self._started()
        assert started is not None
        history, outgoing, notes = rewrite_for_rewind(self.history, self.item.instance_id, self.now, self.options)
        self.history = history
        self._index = None
        self.replace = True
        self.outgoing.extend(outgoing)
        self.log.extend(notes)
        event["IsPlayed"] = False
        self.new_events.append(event)
        self.status = "Running"
        if self.record is not None:
            self.record.output = None

    # -- outcome ---------------------------------------------------------------------------

    def _finish(self) -> EpisodeResult:
        started = self._started()
        if started is None or not self.new_events:
            return EpisodeResult(
                instance=self.record,
                outgoing=self.outgoing,
                log=self.log,
                new_history=[] if not self.replace else self.history,
                replace_history=self.replace,
            )
        now = episode_time(self.history, self.now)
        outcome = Outcome(
            instance_id=self.item.instance_id,
            started=started,
            past=self.history,
            new_events=self.new_events,
            now=now,
            options=self.options,
            status=self.status or "Running",
            log=self.log,
        )
        appended = outcome.run()
        self.outgoing.extend(outcome.outgoing)
        record = self._record(started, outcome)
        new_history = self.history + appended if self.replace else appended
        return EpisodeResult(
            instance=record, new_history=new_history, replace_history=self.replace, outgoing=self.outgoing, log=self.log
        )

    def _record(self, started: dict[str, Any], outcome: Outcome) -> InstanceRecord:
        parent = started.get("ParentInstance") or {}
        fresh = self.record is None
        rec = self.record or InstanceRecord(
            instance_id=self.item.instance_id,
            name=started["Name"],
            runtime_status="Running",
            created_time=self.now,
            last_updated_time=self.now,
        )
        if (
            self.started_new
            and not fresh
            and self.item.instance is not None
            and self.item.instance.runtime_status not in ("Pending", "ContinuedAsNew")
        ):
            rec.created_time = self.now  # a completed id started again is a new instance
        rec.name = started["Name"]
        rec.version = started.get("Version") or ""
        rec.input = started.get("Input")
        rec.execution_id = started["OrchestrationInstance"]["ExecutionId"]
        rec.parent_instance_id = (parent.get("OrchestrationInstance") or {}).get("InstanceId")
        rec.runtime_status = outcome.status
        rec.output = outcome.output
        if outcome.custom_status_set:
            rec.custom_status = outcome.custom_status
        elif self.started_new and not (self.item.instance and self.item.instance.runtime_status == "ContinuedAsNew"):
            rec.custom_status = None
        rec.last_updated_time = self.now
        return rec
