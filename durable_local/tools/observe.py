"""The hooks the dispatcher calls around committing an episode result.

``after_episode(item, result, seconds)`` (before the commit): learns trace links (tracing.py),
installs the trace-aware log records on first use, logs cloud-parity warnings (parity.py) on the
``durable_local.parity`` logger, logs the start of each orchestration on ``durable_local.trace``
and emits OpenTelemetry spans when available.

``after_commit(item, result)`` (once the episode is stored): logs the engine's notes on
``durable_local.dispatch`` (failed entity operations as warnings, worded as the Functions host
words them) and one line per orchestration outcome on ``durable_local.trace``: completed, failed
with its reason, terminated with its reason, or continued as new, each with the execution's
duration on the host clock. Neither hook ever raises: a tool problem must not fail an episode.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from durable_local.engine.events import EventType, OrchestrationStatus, parse_timestamp
from durable_local.engine.result import EpisodeResult
from durable_local.store.base import OrchestrationWorkItem

from . import parity, tracing

parity_log = logging.getLogger("durable_local.parity")
trace_log = logging.getLogger("durable_local.trace")
dispatch_log = logging.getLogger("durable_local.dispatch")
_log = logging.getLogger("durable_local.tools")
REASON_LIMIT = 300


def after_episode(item: OrchestrationWorkItem, result: EpisodeResult, seconds: float) -> None:
    """Observe one episode (see the module docstring)."""
    try:
        tracing.install()
        tracing.INDEX.learn(item, result)
        _log_start(item, result)
        for warning in parity.episode_warnings(item, result, seconds):
            parity_log.warning("%s: %s", item.instance_id, warning)
        tracing.spans(item, result, seconds, datetime.now(timezone.utc))
    except Exception:  # pragma: no cover - defensive
        _log.debug("observing episode of %s failed", item.instance_id, exc_info=True)


def _log_start(item: OrchestrationWorkItem, result: EpisodeResult) -> None:
    if item.instance_id.startswith("@") or result.instance is None:
        return
    if any(m.payload.get("EventType") == EventType.ExecutionStarted for m in item.messages):
        rec = result.instance
        via = f" by {rec.parent_instance_id}" if rec.parent_instance_id else ""
        trace_log.info("%s: orchestration %s started%s", item.instance_id, rec.name, via)


def after_commit(item: OrchestrationWorkItem, result: EpisodeResult) -> None:
    """Log what a stored episode did (see the module docstring)."""
    try:
        for line in result.log:
            level = logging.WARNING if line.startswith("Function '") else logging.INFO
            dispatch_log.log(level, "%s: %s", item.instance_id, line)
        if not item.instance_id.startswith("@") and result.instance is not None:
            _log_outcome(item, result)
    except Exception:  # pragma: no cover - defensive
        _log.debug("logging the outcome of %s failed", item.instance_id, exc_info=True)


def _outcome(result: EpisodeResult) -> tuple[str, str | None, datetime] | None:
    """(what happened, reason, when) if this episode ended the execution."""
    for event in reversed(result.new_history):
        kind = event.get("EventType")
        if kind == EventType.ContinueAsNew:
            return "continued as new", None, parse_timestamp(event["Timestamp"])
        if kind == EventType.ExecutionCompleted:
            status = OrchestrationStatus(int(event.get("OrchestrationStatus", 0)))
            reason = event.get("Result") if status != OrchestrationStatus.Completed else None
            return status.name.lower(), reason, parse_timestamp(event["Timestamp"])
        if kind == EventType.ExecutionTerminated:
            return "terminated", event.get("Input"), parse_timestamp(event["Timestamp"])
    return None


def _execution_start(item: OrchestrationWorkItem, result: EpisodeResult) -> datetime | None:
    # replace_history: new_history is the whole history (a rewind or a new execution rewrote it)
    events: list[dict[str, Any]] = list(result.new_history)
    if not result.replace_history:
        events = list(item.history) + events
    starts = [e for e in events if e.get("EventType") == EventType.ExecutionStarted]
    return parse_timestamp(starts[-1]["Timestamp"]) if starts else None


def _log_outcome(item: OrchestrationWorkItem, result: EpisodeResult) -> None:
    outcome = _outcome(result)
    if outcome is None or result.instance is None:  # an ended execution always has its record
        return
    what, reason, ended = outcome
    started = _execution_start(item, result)
    took = f" after {(ended - started).total_seconds():.3f} s" if started is not None else ""
    why = f": {str(reason)[:REASON_LIMIT]}" if reason else ""
    rec = result.instance
    level = logging.WARNING if what == "failed" else logging.INFO
    trace_log.log(level, "%s: orchestration %s %s%s%s", item.instance_id, rec.name, what, took, why)
