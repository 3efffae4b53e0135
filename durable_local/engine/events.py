"""Constructors for DurableTask history events, shaped as the extension serializes them.

Field names are DTFx's PascalCase ``[DataMember]`` names and ``EventType`` is the integer
enum (PROTOCOL §2.2, §3.14; see docs/ARCHITECTURE.md). Timestamps use the .NET round-trip style with 7 fractional
digits and a ``Z`` so the SDK's parser always gets an aware UTC datetime.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from enum import IntEnum
from typing import Any

Event = dict[str, Any]


class EventType(IntEnum):
    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20
    ExecutionRewound = 21


class OrchestrationStatus(IntEnum):
    """DTFx ``OrchestrationStatus`` as stored in ExecutionCompleted.OrchestrationStatus."""

    Running = 0
    Completed = 1
    ContinuedAsNew = 2
    Failed = 3
    Canceled = 4
    Terminated = 5
    Pending = 6
    Suspended = 7


def format_timestamp(dt: datetime) -> str:
    """UTC ISO-8601 with 7 fractional digits and ``Z`` (e.g. 2024-01-01T00:00:00.1234560Z)."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def format_status_time(dt: datetime) -> str:
    """``DateTime.ToString("s") + "Z"``: the status API's createdTime/lastUpdatedTime form."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """Parse any ISO-8601 timestamp the SDK or the host writes into an aware UTC datetime.

    Handles up to 7 fractional digits (``datetime.fromisoformat`` on 3.10 only takes 6).
    """
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    if "." in t:
        head, rest = t.split(".", 1)
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        t = head + "." + (digits[:6].ljust(6, "0")) + rest[i:]
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def new_execution_id() -> str:
    return uuid.uuid4().hex


def _base(event_type: EventType, ts: datetime, event_id: int = -1) -> Event:
    return {"EventType": int(event_type), "EventId": event_id, "IsPlayed": False, "Timestamp": format_timestamp(ts)}


def orchestrator_started(ts: datetime) -> Event:
    return _base(EventType.OrchestratorStarted, ts)


def orchestrator_completed(ts: datetime) -> Event:
    return _base(EventType.OrchestratorCompleted, ts)


def execution_started(
    ts: datetime,
    *,
    instance_id: str,
    execution_id: str,
    name: str,
    input_text: str | None,
    version: str = "",
    parent: dict[str, Any] | None = None,
) -> Event:
    """``input_text`` is the JSON text of the input (e.g. ``'{"a": 1}'``); it is stored as a
    JSON string literal of that text, as the extension does for out-of-proc starters (§6.3)."""
    e = _base(EventType.ExecutionStarted, ts)
    e.update(
        {
            "OrchestrationInstance": {"InstanceId": instance_id, "ExecutionId": execution_id},
            "ParentInstance": parent,
            "Name": name,
            "Version": version,
            "Input": None if input_text is None else json.dumps(input_text),
            "Tags": None,
            "Correlation": None,
            "ParentTraceContext": None,
            "ScheduledStartTime": None,
            "Generation": 0,
        }
    )
    return e


def parent_instance(name: str, instance_id: str, execution_id: str, task_schedule_id: int) -> dict[str, Any]:
    return {
        "Name": name,
        "Version": "",
        "OrchestrationInstance": {"InstanceId": instance_id, "ExecutionId": execution_id},
        "TaskScheduleId": task_schedule_id,
    }


def task_scheduled(ts: datetime, event_id: int, name: str, input_text: str | None) -> Event:
    e = _base(EventType.TaskScheduled, ts, event_id)
    e.update({"Name": name, "Version": "", "Input": json.dumps([input_text])})
    return e


def task_completed(ts: datetime, task_scheduled_id: int, result_text: str | None) -> Event:
    e = _base(EventType.TaskCompleted, ts)
    e.update({"TaskScheduledId": task_scheduled_id, "Result": result_text})
    return e


def task_failed(ts: datetime, task_scheduled_id: int, reason: str, details: str | None) -> Event:
    e = _base(EventType.TaskFailed, ts)
    e.update({"TaskScheduledId": task_scheduled_id, "Reason": reason, "Details": details, "FailureDetails": None})
    return e


def sub_orchestration_created(
    ts: datetime, event_id: int, name: str, instance_id: str, input_text: str | None, version: str = ""
) -> Event:
    e = _base(EventType.SubOrchestrationInstanceCreated, ts, event_id)
    e.update(
        {
            "Name": name,
            "Version": version,
            "InstanceId": instance_id,
            "Input": None if input_text is None else json.dumps(input_text),
        }
    )
    return e


def sub_orchestration_completed(ts: datetime, task_scheduled_id: int, result_text: str | None) -> Event:
    e = _base(EventType.SubOrchestrationInstanceCompleted, ts)
    e.update({"TaskScheduledId": task_scheduled_id, "Result": result_text})
    return e


def sub_orchestration_failed(ts: datetime, task_scheduled_id: int, reason: str, details: str | None) -> Event:
    e = _base(EventType.SubOrchestrationInstanceFailed, ts)
    e.update({"TaskScheduledId": task_scheduled_id, "Reason": reason, "Details": details, "FailureDetails": None})
    return e


def timer_created(ts: datetime, event_id: int, fire_at: str) -> Event:
    e = _base(EventType.TimerCreated, ts, event_id)
    e["FireAt"] = fire_at
    return e


def timer_fired(ts: datetime, timer_id: int, fire_at: str) -> Event:
    e = _base(EventType.TimerFired, ts)
    e.update({"TimerId": timer_id, "FireAt": fire_at})
    return e


def event_sent(ts: datetime, event_id: int, instance_id: str, name: str, input_text: str) -> Event:
    e = _base(EventType.EventSent, ts, event_id)
    e.update({"InstanceId": instance_id, "Name": name, "Input": input_text})
    return e


def event_raised(ts: datetime, name: str, input_text: str | None) -> Event:
    e = _base(EventType.EventRaised, ts)
    e.update({"Name": name, "Input": input_text, "ParentTraceContext": None})
    return e


def execution_completed(ts: datetime, event_id: int, status: OrchestrationStatus, result_text: str | None) -> Event:
    e = _base(EventType.ExecutionCompleted, ts, event_id)
    e.update({"OrchestrationStatus": int(status), "Result": result_text, "FailureDetails": None})
    return e


def continue_as_new(ts: datetime, event_id: int, input_text: str | None) -> Event:
    e = _base(EventType.ContinueAsNew, ts, event_id)
    e.update({"OrchestrationStatus": int(OrchestrationStatus.ContinuedAsNew), "Result": input_text})
    return e


def execution_terminated(ts: datetime, reason: str | None) -> Event:
    e = _base(EventType.ExecutionTerminated, ts)
    e["Input"] = reason
    return e


def execution_suspended(ts: datetime, reason: str | None) -> Event:
    e = _base(EventType.ExecutionSuspended, ts)
    e["Reason"] = reason
    return e


def execution_resumed(ts: datetime, reason: str | None) -> Event:
    e = _base(EventType.ExecutionResumed, ts)
    e["Reason"] = reason
    return e


def execution_rewound(ts: datetime, reason: str | None) -> Event:
    e = _base(EventType.ExecutionRewound, ts)
    e["Reason"] = reason
    return e
