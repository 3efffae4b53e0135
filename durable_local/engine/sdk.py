"""Talking to the SDK's orchestrator handle: the context envelope in, OrchestratorState out.

PROTOCOL §2.1 (envelope), §2.4 (IsPlayed), §2.5/§2.6 (result and the ``$OutOfProcData$``
failure channel). The handle is what ``Function.get_user_function()`` returns for an
``orchestrationTrigger``; it accepts the raw context JSON text.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .events import EventType
from .options import EngineOptions, Handle

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"

# Events DTFx persists with IsPlayed=true once processed: the messages of past episodes.
_PLAYED_WHEN_PAST = frozenset(
    {
        EventType.ExecutionStarted,
        EventType.ExecutionTerminated,
        EventType.TaskCompleted,
        EventType.TaskFailed,
        EventType.SubOrchestrationInstanceCompleted,
        EventType.SubOrchestrationInstanceFailed,
        EventType.TimerFired,
        EventType.EventRaised,
        EventType.ExecutionSuspended,
        EventType.ExecutionResumed,
        EventType.ExecutionRewound,
    }
)


def mark_past(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of past events with IsPlayed as the real host would send them."""
    out = []
    for e in events:
        c = dict(e)
        c["IsPlayed"] = e["EventType"] in _PLAYED_WHEN_PAST
        out.append(c)
    return out


def build_envelope(history: list[dict[str, Any]], instance_id: str, options: EngineOptions) -> dict[str, Any]:
    started = next(e for e in history if e["EventType"] == EventType.ExecutionStarted)
    raw_input = started.get("Input")
    try:
        input_token = None if raw_input is None else json.loads(raw_input)  # the stored JToken
    except ValueError:
        input_token = raw_input
    parent = started.get("ParentInstance") or {}
    env: dict[str, Any] = {
        "history": history,
        "input": input_token,
        "instanceId": instance_id,
        "isReplaying": bool(started.get("IsPlayed")),
        "parentInstanceId": (parent.get("OrchestrationInstance") or {}).get("InstanceId"),
    }
    if options.upper_schema_version is not None:
        env["upperSchemaVersion"] = options.upper_schema_version
    if options.upper_schema_version_new is not None:
        env["upperSchemaVersionNew"] = options.upper_schema_version_new
    env["longRunningTimerIntervalDuration"] = options.long_timer_interval
    env["maximumShortTimerDuration"] = options.max_short_timer
    env["defaultHttpAsyncRequestSleepTimeMillseconds"] = options.http_async_sleep_ms
    return env


@dataclass
class SdkResult:
    """The parsed OrchestratorState, or ``crash`` when the handle failed without state.
    ``raw`` is the state JSON text as the SDK wrote it (compared byte for byte by sessions)."""

    state: dict[str, Any]
    crash: str | None = None
    stack: str = ""
    raw: str | None = None

    @property
    def error(self) -> str | None:
        err = self.state.get("error")
        return None if err is None else str(err)


def call_orchestrator(handle: Handle, envelope: dict[str, Any]) -> SdkResult:
    text = json.dumps(envelope)
    return sdk_result(lambda: handle(text))


def sdk_result(call: Callable[[], Any]) -> SdkResult:
    """Run one SDK invocation and read its OrchestratorState the way the extension does."""
    try:
        raw = call()
    except Exception as exc:
        # The worker reports f"{type}: {msg}"; the extension cuts the state JSON after the marker.
        message = f"{type(exc).__name__}: {exc}"
        stack = "".join(traceback.format_exception(exc.__cause__)) if exc.__cause__ else ""
        if OUT_OF_PROC_MARKER in message:
            text = message.split(OUT_OF_PROC_MARKER, 1)[1].split("\nStack:", 1)[0]
            try:
                return SdkResult(json.loads(text), stack=stack, raw=text)
            except ValueError:
                pass
        return SdkResult(
            {"isDone": False, "actions": []}, crash=message, stack="".join(traceback.format_exception(exc))
        )
    if isinstance(raw, bytes):
        raw = raw.decode()
    state = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(state, dict):
        return SdkResult({"isDone": False, "actions": []}, crash=f"Invalid orchestrator result: {raw!r}")
    return SdkResult(state, raw=raw if isinstance(raw, str) else None)
