"""Durable client operations over a HostContext, shared by the HTTP API, dashboard and CLI.

Every function is synchronous (the store API is), validates its input, writes to the store,
calls ``ctx.notify()`` after enqueuing and raises :class:`OperationError` subclasses whose
``status`` is the HTTP code the extension answers with. Callers on an event loop should run
them in a worker thread (``ctx.notify`` is thread-safe).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from durable_local.engine import events as ev
from durable_local.engine import messages as msgs
from durable_local.engine.status import parse_token
from durable_local.runtime.context import HostContext
from durable_local.store.base import (
    RUNNING_STATES,
    TERMINAL_STATES,
    InstanceExistsError,
    InstanceQuery,
    InstanceRecord,
    Message,
)

from .payloads import http_error, status_payload

MAX_INSTANCE_ID_LENGTH = 256  # EXT DurableClient.MaxInstanceIdLength
_FORBIDDEN_ID_CHARS = frozenset("/\\#?")
# the characters of _FORBIDDEN_ID_CHARS plus C0 controls and DEL..C1 controls (0x7F-0x9F)
_BAD_CHAR = re.compile("[/\\\\#?\x00-\x1f\x7f-\x9f]")


class OperationError(Exception):
    """A client error with the HTTP status the extension would answer; ``body`` is the JSON
    body (``None`` = empty body, as the extension sends for 404/410)."""

    status = 500

    def __init__(self, message: str = "", body: Any = None) -> None:
        super().__init__(message)
        self.body = body


class BadRequest(OperationError):
    status = 400

    def __init__(
        self,
        exception_message: str,
        *,
        message: str = "One or more of the arguments submitted is incorrect",
        exception_type: str = "System.ArgumentException",
        raw_body: Any = None,
    ) -> None:
        body = raw_body if raw_body is not None else http_error(message, exception_message, exception_type)
        super().__init__(exception_message, body)


class NotFound(OperationError):
    status = 404


class Gone(OperationError):
    status = 410


class Conflict(OperationError):
    """Deliberate difference: the extension throws InvalidOperationException (500)."""

    status = 409

    def __init__(self, exception_message: str) -> None:
        super().__init__(
            exception_message,
            http_error(
                "The request conflicts with the current state of the instance",
                exception_message,
                "System.InvalidOperationException",
            ),
        )


# -- validation -------------------------------------------------------------------------------


def _bad_chars(text: str) -> bool:
    return _BAD_CHAR.search(text) is not None


def validate_instance_id(instance_id: str) -> None:
    """EXT ``DurableClient`` rules: non-empty, no leading ``@``, no ``/ \\ # ?`` or control
    characters, at most 256 characters (PROTOCOL §8.4, RELIABILITY S3)."""
    if not instance_id or not instance_id.strip():
        raise BadRequest("Instance ID must not be empty.")
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        raise BadRequest(f"Instance ID length must not exceed {MAX_INSTANCE_ID_LENGTH} characters.")
    if instance_id.startswith("@"):
        raise BadRequest(f"Orchestration instance ids must not start with @. Instance ID: '{instance_id[:64]}'")
    if _bad_chars(instance_id):
        raise BadRequest("Instance ID must not contain /, \\, #, ?, or control characters.")


def validate_entity(ctx: HostContext, name: str, key: str) -> str:
    """Check an entity id from a URL and return its scheduler id ``@name@key``."""
    if not name or "@" in name or _bad_chars(name):
        raise BadRequest(f"Invalid entity name '{name[:64]}'.")
    if _bad_chars(key) or len(key) + len(name) + 2 > MAX_INSTANCE_ID_LENGTH:
        raise BadRequest("Entity keys must not contain /, \\, #, ?, or control characters and must be short.")
    if ctx.app.registry.entity(name) is None:
        known = ", ".join(f"'{f.durable_name}'" for f in ctx.app.registry.entities.values())
        raise BadRequest(
            f"The function '{name}' doesn't exist, is disabled, or is not an entity function. "
            f"Additional info: The following are the known entity functions: {known}."
        )
    return msgs.entity_instance_id(name, key)


_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_V4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_instance_id() -> str:
    """``Guid.NewGuid().ToString("N")``: ``uuid.uuid4().hex`` without the UUID object."""
    return f"{(int.from_bytes(os.urandom(16), 'big') & _V4_CLEAR) | _V4_SET:032x}"


def _orchestration(ctx: HostContext, instance_id: str) -> InstanceRecord | None:
    if instance_id.startswith("@"):  # entities are not orchestration instances here
        return None
    return ctx.store.get_instance(instance_id)


def _enqueue(ctx: HostContext, *messages: Message) -> None:
    ctx.store.enqueue(list(messages))
    ctx.notify()


def _now(ctx: HostContext) -> datetime:
    return ctx.clock.now()


# -- orchestrations ---------------------------------------------------------------------------


def start_orchestration(
    ctx: HostContext,
    name: str,
    instance_id: str | None = None,
    input_text: str | None = None,
    version: str | None = None,
) -> InstanceRecord:
    """Start ``name``; ``input_text`` is the input's JSON text (the SDK's ``df_dumps``)."""
    record, start = prepare_start(ctx, name, instance_id, input_text, version)
    commit_start(ctx, record, start)
    ctx.notify()
    return record


def prepare_start(
    ctx: HostContext,
    name: str,
    instance_id: str | None = None,
    input_text: str | None = None,
    version: str | None = None,
) -> tuple[InstanceRecord, Message]:
    """The validation and the rows of :func:`start_orchestration`, without touching the store
    (cheap and non-blocking: fine on an event loop). Raises BadRequest."""
    if ctx.app.registry.orchestrator(name) is None:
        known = ", ".join(f"'{f.durable_name}'" for f in ctx.app.registry.orchestrators.values())
        raise BadRequest(
            f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
            f"Additional info: The following are the known orchestrator functions: {known}."
        )
    iid = new_instance_id() if instance_id is None else instance_id
    validate_instance_id(iid)
    ver = ctx.app.settings.default_version if version is None else version
    return msgs.start_instance(iid, name, input_text, _now(ctx), ver)


def commit_start(ctx: HostContext, record: InstanceRecord, start: Message) -> None:
    """Create the instance (blocking: one durable store transaction). Raises Conflict for a
    running instance id. The caller must ``ctx.notify()`` afterwards."""
    try:
        ctx.store.create_instance(record, start)
    except InstanceExistsError:
        raise Conflict(
            f"An orchestration with instance ID '{record.instance_id}' already exists and is running. "
            "Only instances that are not running can be replaced."
        ) from None


def get_instance(ctx: HostContext, instance_id: str) -> InstanceRecord | None:
    return _orchestration(ctx, instance_id)


def get_status(
    ctx: HostContext,
    instance_id: str,
    *,
    show_input: bool = True,
    show_history: bool = False,
    show_history_output: bool = False,
) -> dict[str, Any] | None:
    """Status payload (§8.2) or None if there is no such orchestration."""
    rec = _orchestration(ctx, instance_id)
    if rec is None:
        return None
    history = ctx.store.get_history(instance_id) if show_history else None
    return status_payload(rec, show_input=show_input, history=history, show_history_output=show_history_output)


def list_instances(
    ctx: HostContext, query: InstanceQuery, *, show_input: bool = True
) -> tuple[list[dict[str, Any]], str | None]:
    result = ctx.store.query_instances(query)
    return [status_payload(r, show_input=show_input) for r in result.instances], result.continuation


def purge_instance(ctx: HostContext, instance_id: str) -> int:
    if _orchestration(ctx, instance_id) is None or not ctx.store.purge_instance(instance_id):
        raise NotFound(f"No instance with ID '{instance_id}' found.")
    return 1


def purge_instances(ctx: HostContext, query: InstanceQuery) -> int:
    if query.created_from is None:
        raise BadRequest(
            "Please provide value for 'createdTimeFrom' parameter.",
            raw_body="Please provide value for 'createdTimeFrom' parameter.",
        )
    n = ctx.store.purge_instances(query)
    if n == 0:
        raise NotFound("No instances matched the filter.")
    return n


def _require(ctx: HostContext, instance_id: str, gone_states: frozenset[str] = TERMINAL_STATES) -> InstanceRecord:
    rec = _orchestration(ctx, instance_id)
    if rec is None:
        raise NotFound(f"No instance with ID '{instance_id}' found.")
    if rec.runtime_status in gone_states:
        raise Gone(f"The instance '{instance_id}' is {rec.runtime_status}.")
    return rec


def raise_event(ctx: HostContext, instance_id: str, event_name: str, input_text: str | None) -> None:
    """``input_text`` is stored verbatim as ``EventRaised.Input`` (compact JSON text or None)."""
    _require(ctx, instance_id)
    if not event_name:
        raise BadRequest("The event name must not be empty.")
    _enqueue(ctx, msgs.client_event_message(instance_id, event_name, input_text, _now(ctx)))


def check_raise_event_target(ctx: HostContext, instance_id: str) -> None:
    """404/410 checks that precede body validation in the extension."""
    _require(ctx, instance_id)


def terminate(ctx: HostContext, instance_id: str, reason: str | None) -> None:
    _require(ctx, instance_id)
    _enqueue(ctx, msgs.terminate_message(instance_id, reason, _now(ctx)))


def suspend(ctx: HostContext, instance_id: str, reason: str | None) -> None:
    """Suspending an instance that is already suspended is an error (:class:`Conflict`)."""
    if _require(ctx, instance_id).runtime_status == "Suspended":
        raise Conflict(f"Cannot suspend instance '{instance_id}': it is already suspended.")
    _enqueue(ctx, msgs.suspend_message(instance_id, reason, _now(ctx)))


def resume(ctx: HostContext, instance_id: str, reason: str | None) -> None:
    """Only a suspended instance can be resumed; anything else is an error (:class:`Conflict`)."""
    status = _require(ctx, instance_id).runtime_status
    if status != "Suspended":
        raise Conflict(f"Cannot resume instance '{instance_id}': it is {status}, not suspended.")
    _enqueue(ctx, msgs.resume_message(instance_id, reason, _now(ctx)))


def rewind(ctx: HostContext, instance_id: str, reason: str | None) -> None:
    """Only Failed instances can be rewound; any other status answers 410 (the SDK then
    raises "The rewind operation is only supported on failed orchestration instances.")."""
    rec = _require(ctx, instance_id, gone_states=frozenset())
    if rec.runtime_status != "Failed":
        raise Gone(f"The instance '{instance_id}' is {rec.runtime_status}; only failed instances can be rewound.")
    _enqueue(ctx, msgs.rewind_message(instance_id, reason, _now(ctx)))


def restart(ctx: HostContext, instance_id: str, new_instance_id_: bool = True) -> InstanceRecord:
    """Start the orchestrator of ``instance_id`` again with its original input and version."""
    rec = _orchestration(ctx, instance_id)
    if rec is None:
        raise BadRequest("InstanceId does not match a valid orchestration instance.")
    input_text = _original_input(rec.input)
    target = new_instance_id() if new_instance_id_ else instance_id
    if not new_instance_id_ and rec.runtime_status in RUNNING_STATES:
        raise Conflict(
            f"The instance '{instance_id}' is {rec.runtime_status}; it can only be restarted with "
            "the same id once it is no longer running."
        )
    return start_orchestration(ctx, rec.name, target, input_text, rec.version)


def _original_input(stored: str | None) -> str | None:
    """ExecutionStarted.Input as stored → the ``input_text`` that produced it (§6.3)."""
    if stored is None:
        return None
    try:
        value = json.loads(stored)
    except ValueError:
        return stored
    return value if isinstance(value, str) else msgs.dumps_compact(value)


# -- entities ---------------------------------------------------------------------------------


def signal_entity(ctx: HostContext, name: str, key: str, op: str, input_text: str | None) -> None:
    """Send a one-way operation; ``input_text`` becomes ``RequestMessage.input`` (JSON text or
    None for no input)."""
    entity_id = validate_entity(ctx, name, key)
    _enqueue(ctx, msgs.entity_signal_message(entity_id, op, input_text, _now(ctx)))


def read_entity(ctx: HostContext, name: str, key: str) -> tuple[bool, str | None]:
    """(exists, state JSON text) of an entity."""
    entity_id = validate_entity(ctx, name, key)
    rec = ctx.store.get_instance(entity_id)
    if rec is None or not rec.entity_exists:
        return False, None
    return True, rec.entity_state


@dataclass
class EntityQuery:
    name: str | None = None
    last_operation_from: datetime | None = None
    last_operation_to: datetime | None = None
    fetch_state: bool = False
    top: int = 100
    continuation: str | None = None


def list_entities(ctx: HostContext, q: EntityQuery) -> tuple[list[dict[str, Any]], str | None]:
    """Existing entities (optionally of one name), as EXT ``EntityQueryResult`` items."""
    prefix = f"@{q.name.lower()}@" if q.name else "@"
    result = ctx.store.query_instances(
        InstanceQuery(entities=True, instance_id_prefix=prefix, top=q.top, continuation=q.continuation)
    )
    items: list[dict[str, Any]] = []
    for rec in result.instances:
        if not rec.entity_exists:
            continue
        if q.last_operation_from and rec.last_updated_time < q.last_operation_from:
            continue
        if q.last_operation_to and rec.last_updated_time > q.last_operation_to:
            continue
        ename, ekey = msgs.split_entity_id(rec.instance_id)
        items.append(
            {
                "entityId": {"name": ename, "key": ekey},
                "lastOperationTime": ev.format_timestamp(rec.last_updated_time),
                "state": parse_token(rec.entity_state) if q.fetch_state else None,
            }
        )
    return items, result.continuation


def compact_body(text: str) -> str | None:
    """Parse a JSON request body and return it compact (``None`` for an empty body); raises
    BadRequest("Invalid JSON content") otherwise."""
    if not text.strip():
        return None
    try:
        return msgs.dumps_compact(json.loads(text))
    except (ValueError, RecursionError):
        raise BadRequest("Invalid JSON content", message="Invalid JSON content") from None
