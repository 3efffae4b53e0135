"""Entity batches (PROTOCOL §5): all queued operation requests of one entity go to the SDK
in one call; the new state is persisted in the instance row and every non-signal request
gets a ResponseMessage (EventRaised named by the request id) sent to its caller.

Entities keep no history here: ``new_history`` is always empty and the row's
``entity_state``/``entity_exists`` are the whole state.

Delivery is at-least-once (a queue may hand a request over twice, RELIABILITY R6), so the row's
``custom_status`` keeps the ids of the last ``DEDUP_WINDOW`` processed requests
(``{"processedRequests": [...]}``): a request whose id is among them, or repeated within one
batch, is dropped and logged ("dropped duplicate request"), never applied twice. Request ids
are unique per send (uuid4 for client signals, deterministic per orchestration step otherwise,
and a recorded ``EventSent`` is never sent again), so a dropped id was applied already and its
response, if any, was committed with it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from durable_local.store.base import InstanceRecord, Message, OrchestrationWorkItem

from . import events as ev
from .events import EventType
from .messages import ENTITY_REQUEST_EVENT, dumps_compact, entity_instance_id, split_entity_id, to_orchestrator
from .options import EngineError, EngineOptions
from .result import EpisodeResult

DEDUP_WINDOW = 200
_DEDUP_KEY = "processedRequests"


def processed_request_ids(record: InstanceRecord | None) -> list[str]:
    """The dedup window stored in an entity row (oldest first)."""
    if record is None or not record.custom_status:
        return []
    try:
        value = json.loads(record.custom_status)
    except ValueError:
        return []
    ids = value.get(_DEDUP_KEY) if isinstance(value, dict) else None
    return [str(i) for i in ids] if isinstance(ids, list) else []


def _requests(item: OrchestrationWorkItem, log: list[str]) -> list[dict[str, Any]]:
    out = []
    seen = set(processed_request_ids(item.instance))
    for m in item.messages:
        p = m.payload
        if p.get("EventType") != EventType.EventRaised or p.get("Name") != ENTITY_REQUEST_EVENT:
            log.append(f"entity {item.instance_id}: dropped non-request message {p.get('Name')!r}")
            continue
        try:
            req = json.loads(p.get("Input") or "")
        except ValueError:
            log.append(f"entity {item.instance_id}: dropped malformed request")
            continue
        if not isinstance(req, dict) or not req.get("op"):
            # lock requests / releases carry no "op"; the Python SDK never sends them (§5.6)
            log.append(f"entity {item.instance_id}: dropped request without an operation")
            continue
        rid = req.get("id")
        if rid is not None:
            if str(rid) in seen:
                log.append(f"entity {item.instance_id}: dropped duplicate request {rid}")
                continue
            seen.add(str(rid))
        out.append(req)
    return out


def _response(req: dict[str, Any], result: str | None, is_error: bool, now: datetime) -> Message | None:
    if req.get("signal") or not req.get("parent"):
        return None
    body: dict[str, Any] = {"result": result}
    if is_error:
        body["exceptionType"] = "Error"
    event = ev.event_raised(now, str(req["id"]), dumps_compact(body))
    return to_orchestrator(str(req["parent"]), event, execution_id=req.get("parentExecution"))


def run_entity_batch(item: OrchestrationWorkItem, now: datetime, options: EngineOptions) -> EpisodeResult:
    """Run every queued request of entity ``item.instance_id`` (``@name@key``) in one SDK call.

    Raises EngineError when the entity function itself fails (nothing may be committed; the
    runtime abandons the work item so it is retried, like the extension's aborted session).
    """
    name, key = split_entity_id(item.instance_id)
    log: list[str] = []
    consumed = [m.id for m in item.messages if m.id is not None]
    record = (
        replace(item.instance)
        if item.instance is not None
        else InstanceRecord(
            instance_id=entity_instance_id(name, key),
            name=name,
            runtime_status="Running",
            created_time=now,
            last_updated_time=now,
        )
    )
    requests = _requests(item, log)
    if not requests:
        return EpisodeResult(instance=record, consumed=consumed, log=log)
    outgoing: list[Message] = []
    handle = options.resolve_entity(name)
    if handle is None:
        # unknown or disabled (AzureWebJobs.<name>.Disabled): every request gets the error
        error = dumps_compact(options.missing_function_message("entity", name))
        for req in requests:
            msg = _response(req, error, True, now)
            if msg is not None:
                outgoing.append(msg)
        log.append(f"entity {item.instance_id}: unknown entity function '{name}'")
        record.last_updated_time = now
        return EpisodeResult(instance=record, outgoing=outgoing, consumed=consumed, log=log)
    context = {
        "self": {"name": name, "key": key},
        "exists": record.entity_exists,
        "state": record.entity_state if record.entity_exists else None,
        "batch": [{"name": r["op"], "input": r.get("input"), "isSignal": bool(r.get("signal"))} for r in requests],
    }
    try:
        raw = handle(json.dumps(context))
        result = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
        results = result["results"]
        exists = bool(result["entityExists"])
        state = result.get("entityState")
    except Exception as exc:
        raise EngineError(f"entity {item.instance_id}: batch failed: {type(exc).__name__}: {exc}") from exc
    if len(results) != len(requests):
        raise EngineError(f"entity {item.instance_id}: {len(results)} results for {len(requests)} operations")
    display = next((n for n in options.names("entity") if n.lower() == name), name)
    for req, res in zip(requests, results, strict=True):
        msg = _response(req, res.get("result"), bool(res.get("isError")), now)
        if msg is not None:
            outgoing.append(msg)
        if res.get("isError"):  # worded as the Functions host logs a failed entity operation
            log.append(
                f"Function '{display} (Entity)' failed '{req['op']}' operation {req.get('id') or ''}: "
                f"{_error_text(res.get('result'))}"
            )
    for sig in result.get("signals") or []:  # always [] for Python entities; forwarded if not
        target = sig.get("target") or {}
        outgoing.append(entity_signal_from_entity(item.instance_id, target, sig, now))
    window = processed_request_ids(item.instance) + [str(r["id"]) for r in requests if r.get("id") is not None]
    record.custom_status = json.dumps({_DEDUP_KEY: window[-DEDUP_WINDOW:]}, separators=(",", ":"))
    record.entity_exists = exists
    record.entity_state = state if exists else None
    record.name = name
    record.runtime_status = "Running"
    record.last_updated_time = now
    return EpisodeResult(instance=record, outgoing=outgoing, consumed=consumed, log=log)


def _error_text(result: Any, limit: int = 300) -> str:
    """The SDK serializes an operation error as JSON text of the message."""
    try:
        text = json.loads(result) if isinstance(result, str) else result
    except ValueError:
        text = result
    return str(text)[:limit]


def entity_signal_from_entity(source: str, target: dict[str, Any], sig: dict[str, Any], now: datetime) -> Message:
    from .messages import entity_signal_message

    input_text = sig.get("input")
    return entity_signal_message(
        entity_instance_id(str(target.get("name", "")), str(target.get("key", ""))),
        str(sig.get("name")),
        None if input_text is None else json.dumps(input_text),
        now,
        parent=source,
    )
