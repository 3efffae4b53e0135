"""One trace id per order: the root instance of a sub-orchestration tree.

:class:`TraceIndex` learns ``child -> parent`` links from the episodes the host commits
(sub-orchestration starts, instance rows) and which orchestration last called each entity.
:func:`install` wraps the logging record factory (as OpenTelemetry's logging
instrumentation does) so that a log line that mentions a known instance id in its
arguments, or carries ``extra={"instance_id": ...}`` (the app's replay-safe logger does),
ends with ``[trace=<root instance id>]``. The suffix is computed lazily, when the record is
formatted, so it costs nothing for records nobody prints.

:func:`spans` emits OpenTelemetry spans when ``opentelemetry`` is importable; every span of an
order gets the same trace id, derived from the root instance id, so no context has to be
propagated through the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from durable_local.engine.events import EventType, parse_timestamp
from durable_local.engine.result import EpisodeResult
from durable_local.store.base import OrchestrationWorkItem

MAX_LINKS = 100_000
TRACED_LOGGERS = ("durable_local",)


class TraceIndex:
    """Bounded, thread-safe map of instance -> parent (and entity -> last caller)."""

    def __init__(self, capacity: int = MAX_LINKS) -> None:
        self._parents: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity

    def link(self, instance_id: str, parent: str | None) -> None:
        with self._lock:
            if parent is None and self._parents.get(instance_id):
                return  # never forget a known parent
            self._parents[instance_id] = parent
            self._parents.move_to_end(instance_id)
            while len(self._parents) > self._capacity:
                self._parents.popitem(last=False)

    def knows(self, instance_id: str) -> bool:
        return instance_id in self._parents

    def root(self, instance_id: str) -> str:
        seen = {instance_id}
        current = instance_id
        while True:
            parent = self._parents.get(current)
            if not parent or parent in seen:
                return current
            seen.add(parent)
            current = parent

    def learn(self, item: OrchestrationWorkItem, result: EpisodeResult) -> None:
        """Record the links an episode reveals."""
        iid = item.instance_id
        if iid.startswith("@"):
            for m in item.messages:  # entity requests carry their caller
                caller = _request_parent(m.payload)
                if caller:
                    self.link(iid, caller)
            return
        rec = result.instance
        self.link(iid, rec.parent_instance_id if rec is not None else None)
        for m in result.outgoing:
            p = m.payload
            if p.get("EventType") == EventType.ExecutionStarted and p.get("ParentInstance"):
                self.link(m.target, iid)


def _request_parent(payload: dict[str, Any]) -> str | None:
    if payload.get("EventType") != EventType.EventRaised or not isinstance(payload.get("Input"), str):
        return None
    try:
        body = json.loads(payload["Input"])
    except ValueError:
        return None
    return body.get("parent") if isinstance(body, dict) else None


INDEX = TraceIndex()


def trace_for(record: logging.LogRecord, index: TraceIndex = INDEX) -> str | None:
    """The root instance id a record belongs to, if it names a known (or explicit) instance."""
    explicit = record.__dict__.get("instance_id")
    if isinstance(explicit, str) and explicit:
        parent = record.__dict__.get("parent_instance_id")
        if isinstance(parent, str) and parent and not index.knows(explicit):
            index.link(explicit, parent)
        return index.root(explicit)
    if not record.name.startswith(TRACED_LOGGERS):
        return None
    args = record.args if isinstance(record.args, tuple) else ()
    for arg in args:
        if isinstance(arg, str) and index.knows(arg):
            return index.root(arg)
    return None


class _TracedRecord(logging.LogRecord):
    def getMessage(self) -> str:
        message = super().getMessage()
        trace = trace_for(self)
        return message if trace is None or "[trace=" in message else f"{message} [trace={trace}]"


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Make log records trace-aware (idempotent; keeps any factory already installed)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if type(record) is logging.LogRecord:
                record.__class__ = _TracedRecord
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


# -- OpenTelemetry (optional) -----------------------------------------------------------------

try:  # pragma: no cover - exercised when opentelemetry is installed
    from opentelemetry import trace as otel
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
except ImportError:  # pragma: no cover
    otel = None  # type: ignore[assignment]

tracer_provider: Any = None  # tests inject a provider; None = the global one


def _ids(root: str) -> tuple[int, int]:
    digest = hashlib.sha256(root.encode("utf-8")).digest()
    return int.from_bytes(digest[:16], "big") or 1, int.from_bytes(digest[16:24], "big") or 1


def _ns(dt: datetime) -> int:
    return int(dt.timestamp() * 1e9)


def spans(
    item: OrchestrationWorkItem, result: EpisodeResult, seconds: float, end: datetime, index: TraceIndex = INDEX
) -> None:
    """Emit the episode's span, plus one span per activity or entity operation it consumed."""
    if otel is None:
        return
    provider = tracer_provider or otel.get_tracer_provider()
    if isinstance(provider, (otel.ProxyTracerProvider, otel.NoOpTracerProvider)):
        return  # no SDK configured: every span would be a no-op, skip building them
    tracer = provider.get_tracer("durable_local")
    iid = item.instance_id
    is_entity = iid.startswith("@")

    def parent_ctx(instance_id: str) -> Any:
        trace_id, span_id = _ids(index.root(instance_id))
        ctx = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        return otel.set_span_in_context(NonRecordingSpan(ctx))

    end_ns = _ns(end)
    name = iid.split("@")[1] if is_entity else (result.instance.name if result.instance else "orchestration")
    attrs: dict[str, str | int] = {
        "durable.instance_id": iid,
        "durable.trace_root": index.root(iid),
        "durable.messages": len(item.messages),
    }
    span = tracer.start_span(
        f"{'entity' if is_entity else 'orchestration'} {name}",
        context=parent_ctx(iid),
        kind=SpanKind.INTERNAL,
        start_time=end_ns - int(seconds * 1e9),
        attributes=attrs,
    )
    if result.instance is not None:
        span.set_attribute("durable.runtime_status", result.instance.runtime_status)
    span.end(end_time=end_ns)
    scheduled = {e["EventId"]: e for e in item.history if e.get("EventType") == EventType.TaskScheduled}
    for m in item.messages:
        p = m.payload
        t = p.get("EventType")
        if t in (EventType.TaskCompleted, EventType.TaskFailed) and p.get("TaskScheduledId") in scheduled:
            sched = scheduled[p["TaskScheduledId"]]
            s = tracer.start_span(
                f"activity {sched.get('Name')}",
                context=parent_ctx(iid),
                kind=SpanKind.INTERNAL,
                start_time=_ns(parse_timestamp(sched["Timestamp"])),
                attributes={"durable.instance_id": iid, "durable.task_id": sched["EventId"]},
            )
            if t == EventType.TaskFailed:
                s.set_status(Status(StatusCode.ERROR, str(p.get("Reason") or "")[:200]))
            s.end(end_time=_ns(parse_timestamp(p["Timestamp"])))
        elif is_entity and (caller := _request_parent(p)):
            op = json.loads(p["Input"]).get("op")
            s = tracer.start_span(
                f"entity {name}.{op}",
                context=parent_ctx(caller),
                kind=SpanKind.INTERNAL,
                start_time=end_ns - int(seconds * 1e9),
                attributes={"durable.entity_id": iid, "durable.caller": caller},
            )
            s.end(end_time=end_ns)
