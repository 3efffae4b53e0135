"""Rewind of a Failed orchestration (best effort; PROTOCOL §3.12 leaves details open).

The history is rewritten so the failed work looks like it is still running, and that work
is dispatched again:

* the final ExecutionCompleted is removed;
* walking backwards, every TaskFailed / SubOrchestrationInstanceFailed that is not followed
  by a later scheduling event is removed, together with the zero-delay "dummy" retry timers
  (TimerCreated with FireAt == Timestamp, and their TimerFired) scheduled after it, so a
  ``*_with_retry`` call resumes waiting on its last attempt;
* removed activity failures are re-dispatched as activity work items; removed
  sub-orchestration failures send an ExecutionRewound message to the child, which rewinds
  recursively and then reports to the parent again (a child that is not Failed, e.g.
  Terminated, ignores it and the parent keeps waiting);
* an ExecutionRewound event is appended (EventType 21, ignored by the SDK).

Failures the orchestrator raised by itself (no failed task) simply re-run the orchestrator.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from durable_local.store.base import InstanceRecord, Message

from . import events as ev
from .events import EventType
from .messages import activity_work_item, dumps_compact, rewind_message
from .options import EngineOptions
from .result import EpisodeResult

_FAILURES = (EventType.TaskFailed, EventType.SubOrchestrationInstanceFailed)
_SCHEDULING = (
    EventType.TaskScheduled,
    EventType.SubOrchestrationInstanceCreated,
    EventType.TimerCreated,
    EventType.EventSent,
)


def _is_dummy_timer(e: dict[str, Any]) -> bool:
    return e["EventType"] == EventType.TimerCreated and ev.parse_timestamp(e["FireAt"]) == ev.parse_timestamp(
        e["Timestamp"]
    )


def rewrite_for_rewind(
    history: list[dict[str, Any]],
    instance_id: str,
    now: datetime,
    options: EngineOptions | None = None,
) -> tuple[list[dict[str, Any]], list[Message], list[str]]:
    """Return (rewritten history, re-dispatch messages, notes)."""
    events = [e for e in history if e["EventType"] != EventType.ExecutionCompleted]
    started = next(e for e in events if e["EventType"] == EventType.ExecutionStarted)
    exec_id = started["OrchestrationInstance"]["ExecutionId"]
    drop: set[int] = set()  # indexes into events
    dummy_timers: list[int] = []
    blocked = False
    for i in range(len(events) - 1, -1, -1):
        e = events[i]
        t = e["EventType"]
        if t in _SCHEDULING:
            if _is_dummy_timer(e):
                dummy_timers.append(i)
            else:
                blocked = True
                dummy_timers.clear()
        elif t in _FAILURES and not blocked:
            drop.add(i)
            drop.update(dummy_timers)
            dummy_timers.clear()
    dropped_timer_ids = {events[i]["EventId"] for i in drop if events[i]["EventType"] == EventType.TimerCreated}
    kept = [
        e
        for i, e in enumerate(events)
        if i not in drop and not (e["EventType"] == EventType.TimerFired and e.get("TimerId") in dropped_timer_ids)
    ]
    scheduled = {e["EventId"]: e for e in events if e["EventType"] in _SCHEDULING}
    outgoing: list[Message] = []
    notes: list[str] = []
    for i in sorted(drop):
        failure = events[i]
        if failure["EventType"] not in _FAILURES:
            continue
        task = scheduled.get(failure.get("TaskScheduledId"))
        if task is None:
            continue
        if task["EventType"] == EventType.TaskScheduled:
            args = json.loads(task["Input"]) if task.get("Input") else [None]
            arg = args[0] if args else None
            text = arg if arg is None or isinstance(arg, str) else dumps_compact(arg)  # HTTP: an object
            name = options.activity_name(task["Name"]) if options else task["Name"]
            outgoing.append(activity_work_item(instance_id, exec_id, task["EventId"], name, text))
            notes.append(f"rewind {instance_id}: re-dispatching activity '{task['Name']}' (id {task['EventId']})")
        else:
            outgoing.append(rewind_message(task["InstanceId"], "rewind of parent", now))
            notes.append(f"rewind {instance_id}: rewinding sub-orchestration {task['InstanceId']}")
    return kept, outgoing, notes


def rewind(
    history: list[dict[str, Any]],
    instance: InstanceRecord,
    now: datetime,
    reason: str | None = None,
    options: EngineOptions | None = None,
) -> EpisodeResult:
    """Pure rewind without running the orchestrator: an EpisodeResult with the whole new
    history (``replace_history=True``), status Running and the re-dispatched work. Prefer
    enqueueing ``messages.rewind_message`` instead: the episode then also re-runs the SDK."""
    kept, outgoing, notes = rewrite_for_rewind(history, instance.instance_id, now, options)
    kept = [*kept, ev.orchestrator_started(now), ev.execution_rewound(now, reason), ev.orchestrator_completed(now)]
    record = replace(instance, runtime_status="Running", output=None, last_updated_time=now)
    return EpisodeResult(instance=record, new_history=kept, replace_history=True, outgoing=outgoing, log=notes)
