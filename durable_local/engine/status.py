"""History as the status API shows it (``showHistory=true``, PROTOCOL §8.2, EXT
``DurableClient.GetDurableOrchestrationStatusAsync``)."""

from __future__ import annotations

import json
from typing import Any

from .events import EventType, OrchestrationStatus

_COMPLETION_OF = {
    EventType.TaskCompleted: EventType.TaskScheduled,
    EventType.TaskFailed: EventType.TaskScheduled,
    EventType.SubOrchestrationInstanceCompleted: EventType.SubOrchestrationInstanceCreated,
    EventType.SubOrchestrationInstanceFailed: EventType.SubOrchestrationInstanceCreated,
}
_RESULT_EVENTS = (EventType.TaskCompleted, EventType.SubOrchestrationInstanceCompleted, EventType.ExecutionCompleted)
_HIDDEN = (
    EventType.OrchestratorStarted,
    EventType.OrchestratorCompleted,
    EventType.TaskScheduled,
    EventType.SubOrchestrationInstanceCreated,
)


def parse_token(text: Any) -> Any:
    """EXT ``ParseToJToken``: JSON text -> value; anything else is returned as a string."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def history_for_status(
    history: list[dict[str, Any]], show_input: bool = True, show_output: bool = False
) -> list[dict[str, Any]]:
    scheduled = {
        (e["EventType"], e["EventId"]): e
        for e in history
        if e["EventType"] in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated)
    }
    out: list[dict[str, Any]] = []
    for e in history:
        t = EventType(e["EventType"])
        if t in _HIDDEN:
            continue
        item = {k: v for k, v in e.items() if k not in ("EventId", "IsPlayed", "TaskScheduledId", "TimerId")}
        item["EventType"] = t.name
        if t in _COMPLETION_OF:
            origin = scheduled.get((int(_COMPLETION_OF[t]), e.get("TaskScheduledId")))
            if origin is not None:
                item["FunctionName"] = origin.get("Name")
                item["ScheduledTime"] = origin.get("Timestamp")
                if show_input:
                    item["Input"] = parse_token(origin.get("Input"))
        if t == EventType.ExecutionStarted:
            item["FunctionName"] = item.pop("Name", None)
            for k in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
                item.pop(k, None)
            if show_input:
                item["Input"] = parse_token(item.get("Input"))
        if t in (EventType.ExecutionCompleted, EventType.ContinueAsNew) and "OrchestrationStatus" in item:
            item["OrchestrationStatus"] = OrchestrationStatus(item["OrchestrationStatus"]).name
        if t in _RESULT_EVENTS:
            if show_output:
                item["Result"] = parse_token(item.get("Result"))
            else:
                item.pop("Result", None)
        if not show_input:
            item.pop("Input", None)
        out.append(item)
    return out
