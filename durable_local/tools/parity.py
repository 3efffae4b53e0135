"""Cloud-parity checks: things that work on the local host but fail or behave differently on
Azure Functions with the Azure Storage provider. Pure functions returning warning texts;
``observe.after_episode`` logs them on the ``durable_local.parity`` logger.

Limits (with their source):

* 45 KB: DurableTask.AzureStorage ``MessageManager`` offloads larger queue messages and
  history/instance table properties to blobs (slower, extra storage transactions).
* 64 KB: the Azure Storage queue message and table property size limits.
* 16 KB: the Durable extension's maximum serialized custom status.
* 6 days: the Azure Storage provider's maximum timer (``MaximumDelayTime``), enforced for
  replay schemas below V3 (the SDK splits longer timers only with V3 and non-zero durations).
* 100,000: ``MaxOrchestrationActions`` (host.json default) per orchestration execution.
* Instance ids: at most 256 characters, none of ``/ \\ # ?`` or control characters, and no
  leading ``@`` (reserved for entities) -- the extension rejects them.
* Episodes that take more than a second of wall time: orchestrator code that blocks holds an
  orchestration slot (and, in Azure, the worker) -- the SDK replay itself costs ~40 µs/event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from durable_local.engine.events import EventType, parse_timestamp
from durable_local.engine.result import EpisodeResult
from durable_local.store.base import Message, OrchestrationWorkItem

OFFLOAD_BYTES = 45 * 1024
MESSAGE_LIMIT_BYTES = 64 * 1024
CUSTOM_STATUS_LIMIT_BYTES = 16 * 1024
MAX_TIMER = timedelta(days=6)
MAX_ACTIONS = 100_000
MAX_INSTANCE_ID = 256
BLOCKING_SECONDS = 1.0
REPLAY_SECONDS_PER_EVENT = 50e-6

_SCHEDULING = frozenset(
    {EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated, EventType.TimerCreated, EventType.EventSent}
)
_PAYLOAD_KEYS = ("input", "Input", "Result", "Reason", "Details")


def _size(text: Any) -> int:
    if text is None:
        return 0
    if not isinstance(text, str):
        text = json.dumps(text, ensure_ascii=False)
    return len(text.encode("utf-8"))


def payload_warning(text: Any, what: str) -> str | None:
    """A warning for one payload (JSON text or value) past the offload / message limits."""
    n = _size(text)
    if n > MESSAGE_LIMIT_BYTES:
        return (
            f"{what} is {n / 1024:.1f} KB: past the 64 KB Azure Storage queue message / table property "
            f"limit; in Azure it only works through the provider's blob offload -- pass a reference "
            f"(e.g. a blob name) instead of the data"
        )
    if n > OFFLOAD_BYTES:
        return (
            f"{what} is {n / 1024:.1f} KB: past 45 KB, the Azure Storage provider offloads it to a blob "
            f"(extra storage round trips per replay)"
        )
    return None


def message_warnings(message: Message) -> list[str]:
    """Payload-size warnings for one queued message (work item, event, entity request)."""
    p = message.payload
    kind = p.get("name") if "taskScheduledId" in p else _event_name(p)
    out = []
    for key in _PAYLOAD_KEYS:
        w = payload_warning(p.get(key), f"{kind} {key.lower()} for '{message.target}'")
        if w:
            out.append(w)
    return out


def _event_name(p: dict[str, Any]) -> str:
    try:
        return EventType(int(p.get("EventType", -1))).name
    except ValueError:
        return "message"


def instance_id_warnings(instance_id: str) -> list[str]:
    """What the extension would reject about an orchestration instance id."""
    out = []
    if not instance_id:
        out.append("instance id is empty")
    if len(instance_id) > MAX_INSTANCE_ID:
        out.append(f"instance id is {len(instance_id)} characters; the extension allows at most {MAX_INSTANCE_ID}")
    bad = sorted({c for c in instance_id if c in "/\\#?" or ord(c) < 32 or 127 <= ord(c) < 160})
    if bad:
        out.append(f"instance id contains {', '.join(repr(c) for c in bad)}, which Azure rejects")
    if instance_id.startswith("@"):
        out.append("instance id starts with '@', which is reserved for entities")
    return out


def timer_warnings(events: Iterable[dict[str, Any]], now: datetime) -> list[str]:
    """TimerCreated events firing more than 6 days after ``now`` (one unsplit segment)."""
    out = []
    for e in events:
        if e.get("EventType") != EventType.TimerCreated or not e.get("FireAt"):
            continue
        delay = parse_timestamp(e["FireAt"]) - now
        if delay > MAX_TIMER + timedelta(seconds=1):
            out.append(
                f"timer {e.get('EventId')} fires in {delay.total_seconds() / 86400:.1f} days as one "
                f"segment: the Azure Storage provider rejects timers over 6 days unless the replay schema "
                f"is V3 with long-timer splitting ('supports a maximum of 6 days for time-based delays')"
            )
    return out


def action_count_warning(history: Sequence[dict[str, Any]]) -> str | None:
    if len(history) <= MAX_ACTIONS:  # cannot hold more actions than events: skip the count
        return None
    n = sum(1 for e in history if e.get("EventType") in _SCHEDULING)
    if n > MAX_ACTIONS:
        return (
            f"{n} actions in one execution: past MaxOrchestrationActions ({MAX_ACTIONS}); Azure fails the "
            f"orchestration -- use continue_as_new or sub-orchestrations"
        )
    return None


def duration_warning(seconds: float, history_events: int) -> str | None:
    expected = history_events * REPLAY_SECONDS_PER_EVENT
    if seconds <= BLOCKING_SECONDS or seconds <= 3 * expected:
        return None
    return (
        f"episode took {seconds:.2f} s of wall time for {history_events} history events: orchestrator code "
        f"blocks the worker (I/O, sleep or heavy CPU) -- move the slow work into an activity"
    )


def episode_warnings(item: OrchestrationWorkItem, result: EpisodeResult, seconds: float) -> list[str]:
    """Every parity warning for one committed episode (orchestration or entity batch)."""
    out: list[str] = []
    created = any(m.payload.get("EventType") == EventType.ExecutionStarted for m in item.messages)
    if created and not item.instance_id.startswith("@"):
        out += instance_id_warnings(item.instance_id)
    for m in (*item.messages, *result.outgoing):
        out += message_warnings(m)
    rec = result.instance
    if rec is not None and rec.custom_status and _size(rec.custom_status) > CUSTOM_STATUS_LIMIT_BYTES:
        out.append(
            f"custom status is {_size(rec.custom_status) / 1024:.1f} KB: the extension fails orchestrations "
            f"whose custom status exceeds 16 KB"
        )
    if rec is not None and rec.entity_state:
        w = payload_warning(rec.entity_state, f"entity state of '{item.instance_id}'")
        if w:
            out.append(w)
    appended = result.new_history
    if rec is not None and rec.output and not item.instance_id.startswith("@"):
        w = payload_warning(rec.output, "orchestration output") if _completed_now(appended) else None
        if w:
            out.append(w)
    starts = [e for e in appended if e.get("EventType") == EventType.OrchestratorStarted]
    if starts:
        out += timer_warnings(appended, parse_timestamp(starts[-1]["Timestamp"]))
    everything = appended if result.replace_history else [*item.history, *appended]
    w = action_count_warning(everything)
    if w:
        out.append(w)
    w = duration_warning(seconds, len(everything))
    if w:
        out.append(w)
    return out


def _completed_now(events: list[dict[str, Any]]) -> bool:
    return any(e.get("EventType") == EventType.ExecutionCompleted for e in events)
