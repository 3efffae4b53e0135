"""JSON payloads of the Durable HTTP API (PROTOCOL §7.1, §7.2, §8.2).

Pure functions: status payloads from store rows, the check-status payload, management URLs,
the durable client binding JSON and ASP.NET ``HttpError`` bodies.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from durable_local.engine.events import EventType, OrchestrationStatus, format_status_time
from durable_local.store.base import InstanceRecord

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/durabletask"
DEFAULT_CONNECTION = "Storage"


def parse_token(text: str | None) -> Any:
    """The extension's ``ParseToJToken``: JSON text → value; non-JSON text → that string."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def http_error(message: str, exception_message: str | None = None,
               exception_type: str = "System.ArgumentException") -> dict[str, Any]:
    """ASP.NET ``HttpError`` body (no stack trace is ever included)."""
    return {"Message": message, "ExceptionMessage": exception_message or message, "ExceptionType": exception_type}


# -- status ----------------------------------------------------------------------------------

_DROP_ALWAYS = ("EventId", "IsPlayed")
_RESULT_EVENTS = {
    EventType.TaskCompleted, EventType.SubOrchestrationInstanceCompleted, EventType.ExecutionCompleted,
}
_SCHEDULED = {EventType.TaskScheduled: "task", EventType.SubOrchestrationInstanceCreated: "sub"}
_COMPLETIONS = {
    EventType.TaskCompleted: "task", EventType.TaskFailed: "task",
    EventType.SubOrchestrationInstanceCompleted: "sub", EventType.SubOrchestrationInstanceFailed: "sub",
}


def _event_type(value: Any) -> EventType | None:
    try:
        return EventType(int(value))
    except (TypeError, ValueError):
        try:
            return EventType[str(value)]
        except KeyError:
            return None


def history_for_status(history: list[dict[str, Any]], show_input: bool, show_output: bool) -> list[dict[str, Any]]:
    """``historyEvents`` as EXT ``DurableClient.GetDurableOrchestrationStatusAsync`` shapes them
    (PROTOCOL §8.2): names instead of enum numbers, scheduling events merged into their
    completions, orchestrator-started/completed markers dropped."""
    scheduled: dict[tuple[str, int], dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for raw in history:
        et = _event_type(raw.get("EventType"))
        if et is None or et in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted):
            continue
        if et in _SCHEDULED:
            scheduled[(_SCHEDULED[et], int(raw.get("EventId", -1)))] = raw
            continue
        e = {k: v for k, v in raw.items() if k not in _DROP_ALWAYS and not k.startswith("_")}
        e["EventType"] = et.name
        if et in _COMPLETIONS:
            sched_id = e.pop("TaskScheduledId", None)
            src = scheduled.get((_COMPLETIONS[et], int(sched_id if sched_id is not None else -2)))
            if src is not None:
                e["FunctionName"] = src.get("Name")
                e["ScheduledTime"] = src.get("Timestamp")
                if show_input and src.get("Input") is not None:
                    e["Input"] = parse_token(src.get("Input"))
        if et == EventType.TimerFired:
            e.pop("TimerId", None)
        if et == EventType.ExecutionStarted:
            e["FunctionName"] = e.pop("Name", None)
            for k in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
                e.pop(k, None)
        if et in (EventType.ExecutionCompleted, EventType.ContinueAsNew) and "OrchestrationStatus" in e:
            try:
                e["OrchestrationStatus"] = OrchestrationStatus(int(e["OrchestrationStatus"])).name
            except (TypeError, ValueError):
                pass
        if et in _RESULT_EVENTS:
            if show_output:
                e["Result"] = parse_token(e.get("Result"))
            else:
                e.pop("Result", None)
        if not show_input:
            e.pop("Input", None)
        out.append(e)
    return out


def status_payload(record: InstanceRecord, *, show_input: bool = True,
                   history: list[dict[str, Any]] | None = None, show_history_output: bool = False) -> dict[str, Any]:
    """EXT ``StatusResponsePayload`` for one instance row (+ optional raw history)."""
    body: dict[str, Any] = {
        "name": record.name,
        "instanceId": record.instance_id,
        "runtimeStatus": record.runtime_status,
        "input": parse_token(record.input) if show_input else None,
        "customStatus": parse_token(record.custom_status),
        "output": parse_token(record.output),
        "createdTime": format_status_time(record.created_time),
        "lastUpdatedTime": format_status_time(record.last_updated_time),
    }
    if history is not None:
        body["historyEvents"] = history_for_status(history, show_input, show_history_output)
    return body


# -- URLs ------------------------------------------------------------------------------------


def management_urls(origin: str, instance_id: str, hub_name: str, *, connection: str | None = None,
                    system_key: str | None = None, quote_id: bool = True) -> dict[str, str]:
    """EXT ``GetClientResponseLinks``: every management URL for ``instance_id``.

    ``origin`` is ``scheme://host[:port]``; ids are URL-encoded unless ``quote_id`` is False
    (the binding template keeps the literal ``INSTANCEID`` placeholder).
    """
    iid = quote(instance_id, safe="") if quote_id else instance_id
    prefix = f"{origin}{WEBHOOK_PATH}/instances/{iid}"
    query = f"taskHub={quote(hub_name, safe='')}&connection={quote(connection or DEFAULT_CONNECTION, safe='')}"
    if system_key:
        query += f"&code={quote(system_key, safe='')}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{prefix}?{query}",
        "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{prefix}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{prefix}?{query}",
        "restartPostUri": f"{prefix}/restart?{query}",
        "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{prefix}/resume?reason={{text}}&{query}",
    }


def check_status_payload(origin: str, instance_id: str, hub_name: str, *,
                         system_key: str | None = None) -> dict[str, str]:
    """EXT ``CreateCheckStatusResponseMessage`` body (no ``rewindPostUri``)."""
    urls = management_urls(origin, instance_id, hub_name, system_key=system_key)
    urls.pop("rewindPostUri")
    return urls


def client_binding(origin: str, hub_name: str, rpc_base_url: str, *, task_hub: str | None = None,
                   connection_name: str | None = None, system_key: str | None = None) -> dict[str, Any]:
    """The ``durableClient`` binding value (EXT ``OrchestrationClientInputData``, §7.1)."""
    base = f"{origin}{WEBHOOK_PATH}"
    wait = "timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}"
    required = f"code={quote(system_key, safe='')}" if system_key else ""
    hub = task_hub or hub_name
    return {
        "taskHubName": hub,
        "connectionName": connection_name,
        "creationUrls": {
            "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{required}",
            "createAndWaitOnNewInstancePostUri": (
                f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{wait}" + (f"&{required}" if required else "")
            ),
        },
        "managementUrls": management_urls(origin, "INSTANCEID", hub, connection=connection_name,
                                          system_key=system_key, quote_id=False),
        "baseUrl": base,
        "requiredQueryStringParameters": required,
        "rpcBaseUrl": rpc_base_url,
        "httpBaseUrl": None,
    }
