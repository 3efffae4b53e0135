"""Pure orchestration engine: history + new messages -> SDK call -> new history + messages.

Nothing in this package touches the store, the network or the wall clock; the runtime
passes ``now`` in and persists what comes out. Public API:

* :func:`run_orchestration_episode`, :func:`run_entity_batch` -> :class:`EpisodeResult`
* message constructors in :mod:`.messages` (start, events, terminate, suspend, resume,
  rewind, entity signals, activity work items and their completions)
* :func:`history_for_status` for the status API, :func:`rewind` (pure history rewrite)
* :class:`EngineOptions`, :func:`registry_from_functions`, :class:`EngineError`
"""

from __future__ import annotations

from .entity import run_entity_batch
from .episode import run_orchestration_episode
from .messages import (
    activity_completed_message,
    activity_failed_message,
    activity_work_item,
    client_event_message,
    compact_json,
    entity_instance_id,
    entity_signal_message,
    request_id_for,
    resume_message,
    rewind_message,
    split_entity_id,
    start_instance,
    suspend_message,
    terminate_message,
)
from .options import HTTP_ACTIVITY, EngineError, EngineOptions, FunctionRegistry, registry_from_functions
from .result import EpisodeResult
from .rewind import rewind
from .status import history_for_status

__all__ = [
    "HTTP_ACTIVITY",
    "EngineError",
    "EngineOptions",
    "EpisodeResult",
    "FunctionRegistry",
    "activity_completed_message",
    "activity_failed_message",
    "activity_work_item",
    "client_event_message",
    "compact_json",
    "entity_instance_id",
    "entity_signal_message",
    "history_for_status",
    "registry_from_functions",
    "request_id_for",
    "resume_message",
    "rewind",
    "rewind_message",
    "run_entity_batch",
    "run_orchestration_episode",
    "split_entity_id",
    "start_instance",
    "suspend_message",
    "terminate_message",
]
