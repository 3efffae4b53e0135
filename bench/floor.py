"""The SDK floor: the time the stock azure-functions-durable replay takes for the same
histories with no host around it.

From a finished instance's stored history we rebuild the exact SDK input of every episode
(past events marked played + OrchestratorStarted + that episode's new messages), serialize
each context once up front, and time only ``handle(context_json)`` — the call the Python
worker makes. Everything the host does around it (store, queues, shadow replay, envelope
encoding) is excluded.
"""

from __future__ import annotations

import json
import time
from typing import Any

from durable_local.engine.events import EventType
from durable_local.engine.sdk import _PLAYED_WHEN_PAST, build_envelope, mark_past
from durable_local.engine.sdk_timestamps import stock_timestamps
from durable_local.runtime.engine_options import engine_options
from durable_local.runtime.invoke import orchestrator_handle

from .common import bench_app


def episode_contexts(history: list[dict[str, Any]], instance_id: str) -> list[str]:
    """The context JSON of every episode that produced ``history`` (one execution)."""
    options = engine_options(bench_app().registry)
    starts = [i for i, e in enumerate(history) if e["EventType"] == EventType.OrchestratorStarted]
    out = []
    for k, i in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(history)
        new = [dict(e, IsPlayed=False) for e in history[i + 1 : end] if e["EventType"] in _PLAYED_WHEN_PAST]
        if not new:
            continue
        hist = [*mark_past(history[:i]), dict(history[i], IsPlayed=False), *new]
        out.append(json.dumps(build_envelope(hist, instance_id, options)))
    return out


def sdk_seconds(name: str, histories: list[tuple[str, list[dict[str, Any]]]]) -> float:
    """Total SDK time to replay every episode of every history (one thread)."""
    info = bench_app().registry.orchestrator(name)
    assert info is not None
    handle = orchestrator_handle(info)
    contexts = [c for iid, h in histories for c in episode_contexts(h, iid)]
    with stock_timestamps():  # the SDK exactly as it ships (the host's faster parse is ours)
        handle(contexts[0])  # warm
        t0 = time.perf_counter()
        for c in contexts:
            handle(c)
        return time.perf_counter() - t0
