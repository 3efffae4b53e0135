"""The single hook the dispatcher calls after the engine returns an episode result.

``after_episode(item, result, seconds)``: learns trace links (tracing.py), installs the
trace-aware log records on first use, logs cloud-parity warnings (parity.py) on the
``durable_local.parity`` logger, logs the start of each orchestration on
``durable_local.trace`` and emits OpenTelemetry spans when available. It never raises: a
tool problem must not fail an episode.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from durable_local.engine.events import EventType
from durable_local.engine.result import EpisodeResult
from durable_local.store.base import OrchestrationWorkItem

from . import parity, tracing

parity_log = logging.getLogger("durable_local.parity")
trace_log = logging.getLogger("durable_local.trace")
_log = logging.getLogger("durable_local.tools")


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
