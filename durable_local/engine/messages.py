"""Messages the runtime, the HTTP layer and the engine put on the store's queues.

Orchestrator queue (``Message.queue == ORCHESTRATOR_QUEUE``): ``payload`` is a history event
dict exactly as it will be appended to the target's history (``events.py`` shapes), plus an
optional private key ``"_executionId"``. Keys starting with ``_`` are routing metadata: the
engine strips them before the event reaches history. ``_executionId`` ties a completion
(TaskCompleted/Failed, TimerFired, SubOrchestration*, entity responses) to the execution
that scheduled it, so a late completion never leaks into a later execution (continue-as-new,
restart) where the same sequence id means something else — DTFx does the same with the
``OrchestrationInstance`` on every TaskMessage.

* start:          ExecutionStarted                      target = instance id
* client event:   EventRaised{Name, Input}              target = instance id
* terminate:      ExecutionTerminated{Input: reason}
* suspend/resume: ExecutionSuspended / ExecutionResumed{Reason}
* rewind:         ExecutionRewound{Reason}              (only acts on Failed instances)
* timer:          TimerFired{TimerId, FireAt}           visible_at = fire time
* entity request: EventRaised{Name: "op", Input: <RequestMessage JSON>}   target = "@name@key"
* entity reply:   EventRaised{Name: <request id>, Input: {"result": ..[, "exceptionType": "Error"]}}

Activity queue (``ACTIVITY_QUEUE``), target = the orchestration instance id, payload::

    {"instanceId": str, "executionId": str, "taskScheduledId": int,
     "name": str,            # registered activity name, or "BuiltIn::HttpActivity"
     "input": str | None}    # the action's input JSON text (the trigger value); for
                             # BuiltIn::HttpActivity the JSON text of the httpRequest object

The runtime runs the activity and completes the work item with
:func:`activity_completed_message` / :func:`activity_failed_message`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from durable_local.store.base import ACTIVITY_QUEUE, ORCHESTRATOR_QUEUE, InstanceRecord, Message

from . import events as ev

EXECUTION_ID_KEY = "_executionId"
ENTITY_REQUEST_EVENT = "op"  # EXT EntityMessageEventNames.RequestMessageEventName
_NO_PREDECESSOR = "0001-01-01T00:00:00"


def compact_json(text: str | None) -> str | None:
    """Re-serialize JSON text compactly, like Newtonsoft ``Formatting.None`` (PROTOCOL §4.2).

    ``None`` and ``"null"`` become ``None`` (the extension does not set a null output);
    text that is not JSON is passed through unchanged.
    """
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def dumps_compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def to_orchestrator(
    target: str, event: dict[str, Any], *, execution_id: str | None = None, visible_at: datetime | None = None
) -> Message:
    payload = dict(event)
    if execution_id:
        payload[EXECUTION_ID_KEY] = execution_id
    return Message(target=target, payload=payload, queue=ORCHESTRATOR_QUEUE, visible_at=visible_at)


def strip_private(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if not k.startswith("_")}


# -- client operations -----------------------------------------------------------------------


def start_instance(
    instance_id: str,
    name: str,
    input_text: str | None,
    now: datetime,
    version: str = "",
    parent: dict[str, Any] | None = None,
    execution_id: str | None = None,
) -> tuple[InstanceRecord, Message]:
    """A Pending instance row + its ExecutionStarted message (for ``Store.create_instance``).

    ``input_text`` is the JSON text of the input (``df_dumps(client_input)``); ``parent`` is an
    :func:`events.parent_instance` dict for sub-orchestrations.
    """
    exec_id = execution_id or ev.new_execution_id()
    started = ev.execution_started(
        now,
        instance_id=instance_id,
        execution_id=exec_id,
        name=name,
        input_text=input_text,
        version=version,
        parent=parent,
    )
    parent_id = parent["OrchestrationInstance"]["InstanceId"] if parent else None
    record = InstanceRecord(
        instance_id=instance_id,
        name=name,
        runtime_status="Pending",
        created_time=now,
        last_updated_time=now,
        execution_id=exec_id,
        version=version,
        input=started["Input"],
        parent_instance_id=parent_id,
    )
    return record, to_orchestrator(instance_id, started)


def client_event_message(instance_id: str, name: str, input_text: str | None, now: datetime) -> Message:
    """EventRaised from a client; ``input_text`` is stored verbatim (PROTOCOL §6.3)."""
    return to_orchestrator(instance_id, ev.event_raised(now, name, input_text))


def terminate_message(instance_id: str, reason: str | None, now: datetime) -> Message:
    return to_orchestrator(instance_id, ev.execution_terminated(now, reason))


def suspend_message(instance_id: str, reason: str | None, now: datetime) -> Message:
    return to_orchestrator(instance_id, ev.execution_suspended(now, reason))


def resume_message(instance_id: str, reason: str | None, now: datetime) -> Message:
    return to_orchestrator(instance_id, ev.execution_resumed(now, reason))


def rewind_message(instance_id: str, reason: str | None, now: datetime) -> Message:
    return to_orchestrator(instance_id, ev.execution_rewound(now, reason))


# -- entities ------------------------------------------------------------------------------------


def entity_instance_id(name: str, key: str) -> str:
    """Scheduler id ``@name@key`` with the name lower-cased (PROTOCOL §5.1)."""
    return f"@{name.lower()}@{key}"


def split_entity_id(instance_id: str) -> tuple[str, str]:
    """``@name@key`` -> (lower-case name, key); the key may itself contain ``@``."""
    name, _, key = instance_id[1:].partition("@")
    return name.lower(), key


def request_message(
    *,
    op: str,
    request_id: str,
    input_json: str | None,
    signal: bool,
    now: datetime,
    parent: str | None,
    parent_execution: str | None,
) -> str:
    """EXT RequestMessage JSON (compact; ``signal`` only when true, ``input`` only when set)."""
    body: dict[str, Any] = {"op": op}
    if signal:
        body["signal"] = True
    if input_json is not None:
        body["input"] = input_json
    body.update(
        {
            "id": request_id,
            "parent": parent,
            "parentExecution": parent_execution,
            "Timestamp": ev.format_timestamp(now),
            "Predecessor": _NO_PREDECESSOR,
        }
    )
    return dumps_compact(body)


_REQUEST_ID_NAMESPACE = uuid.UUID("9e952958-5e33-4daf-827f-2fa12937b875")


def request_id_for(instance_id: str, execution_id: str, sequence_id: int) -> str:
    """Deterministic entity request id, so a retried episode sends the same ids."""
    return str(uuid.uuid5(_REQUEST_ID_NAMESPACE, f"{instance_id}_{execution_id}_{sequence_id}"))


def entity_signal_message(
    entity_instance_id: str,
    op: str,
    input_text: str | None,
    now: datetime,
    *,
    parent: str | None = None,
    request_id: str | None = None,
) -> Message:
    """A client (or HTTP API) signal: RequestMessage as EventRaised{Name:"op"} (§5.3, §5.5).

    ``input_text`` is the HTTP body text (a JSON text; the SDK client sends a JSON *string*
    containing ``json.dumps(op_input)``); it is stored compactly as RequestMessage.input, so
    the entity sees the same double-encoded shape as for orchestrator signals. ``None`` = no
    body = no input.
    """
    name, key = split_entity_id(entity_instance_id)
    req = request_message(
        op=op,
        request_id=request_id or str(uuid.uuid4()),
        input_json=None if input_text is None else compact_json(input_text),
        signal=True,
        now=now,
        parent=parent,
        parent_execution=None,
    )
    return to_orchestrator(f"@{name}@{key}", ev.event_raised(now, ENTITY_REQUEST_EVENT, req))


# -- activities ----------------------------------------------------------------------------------


def activity_work_item(instance_id: str, execution_id: str, task_id: int, name: str, input_text: str | None) -> Message:
    return Message(
        target=instance_id,
        queue=ACTIVITY_QUEUE,
        payload={
            "instanceId": instance_id,
            "executionId": execution_id,
            "taskScheduledId": task_id,
            "name": name,
            "input": input_text,
        },
    )


def activity_completed_message(work: Message, result_text: str | None, now: datetime) -> Message:
    """TaskCompleted for a work item; ``result_text`` is the worker's ``df_dumps(return)``."""
    p = work.payload
    event = ev.task_completed(now, int(p["taskScheduledId"]), compact_json(result_text))
    return to_orchestrator(p["instanceId"], event, execution_id=p.get("executionId"))


def activity_failure_reason(name: str, exc: BaseException) -> tuple[str, str]:
    """(Reason, Details) as EXT TaskActivityShim reports a Python exception (PROTOCOL §4.3)."""
    friendly = f" {type(exc).__name__}: {exc}"  # the leading space is what the extension keeps
    reason = f"Activity function '{name}' failed: {friendly}"
    details = dumps_compact(
        {
            "$type": "System.Exception, System.Private.CoreLib",
            "ClassName": "System.Exception",
            "Message": friendly,
            "Data": None,
            "InnerException": {
                "$type": "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException, Microsoft.Azure.WebJobs.Script",
                "ClassName": "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException",
                "Message": f"Result: Failure\nException: {type(exc).__name__}: {exc}\nStack: ",
            },
            "HelpURL": None,
            "StackTraceString": None,
            "HResult": -2146233088,
        }
    )
    return reason, details


def activity_failed_message(work: Message, exc: BaseException, now: datetime) -> Message:
    """TaskFailed with the extension's Reason wording and a .NET-exception-like Details JSON."""
    reason, details = activity_failure_reason(str(work.payload["name"]), exc)
    return task_failed_message(work, reason, details, now)


def task_failed_message(work: Message, reason: str, details: str, now: datetime) -> Message:
    """TaskFailed for a work item from an already formatted (Reason, Details) pair, as a
    worker process reports it (exceptions themselves do not cross process boundaries)."""
    p = work.payload
    event = ev.task_failed(now, int(p["taskScheduledId"]), reason, details)
    return to_orchestrator(p["instanceId"], event, execution_id=p.get("executionId"))
