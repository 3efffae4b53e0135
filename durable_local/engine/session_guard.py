"""Whether extended sessions may be used with the installed SDK.

Sessions drive private SDK classes (``TaskOrchestrationExecutor.process_event``, the context's
history list). On a version not listed here, or when a start-up self-check (a small
orchestration run both ways, compared byte for byte) fails, sessions stay off with one log
line, and every episode is a full replay exactly as without them.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import datetime, timedelta, timezone
from importlib import metadata
from typing import Any

from . import events as ev
from .session import Session, SessionCache, verify_from_env

log = logging.getLogger("durable_local.sessions")

# SDK versions whose executor internals the session code was written and checked against.
KNOWN_SDK_VERSIONS = frozenset({"1.7.0"})


def make_sessions(enabled: bool, idle_timeout: float, max_count: int, max_bytes: int) -> SessionCache | None:
    """The session cache for these settings, or None when sessions are off or unsafe."""
    if not enabled:
        return None
    problem = sdk_problem()
    if problem is not None:
        log.warning("extended sessions are off: %s; every episode replays the whole history", problem)
        return None
    return SessionCache(idle_timeout=idle_timeout, max_count=max_count, max_bytes=max_bytes, verify=verify_from_env())


@functools.lru_cache(maxsize=1)
def sdk_problem() -> str | None:
    """Why sessions cannot be used with this SDK, or None (checked once per process)."""
    try:
        version = metadata.version("azure-functions-durable")
    except metadata.PackageNotFoundError:
        return "azure-functions-durable is not installed as a distribution"
    if version not in KNOWN_SDK_VERSIONS:
        return f"azure-functions-durable {version} is not a version they were checked against"
    try:
        return _self_check()
    except Exception as exc:  # any surprise in the SDK's internals
        return f"the start-up self-check raised {type(exc).__name__}: {exc}"


def _probe(context: Any) -> Any:
    """The self-check's orchestrator: activities, an external event and custom status."""
    first = yield context.call_activity("a", 1)
    context.set_custom_status({"first": first})
    second = yield context.call_activity("b", first)
    approval = yield context.wait_for_external_event("go")
    return [first, second, approval]


def _self_check() -> str | None:
    import azure.durable_functions as df  # type: ignore[import-untyped]

    handle = df.Orchestrator.create(_probe)
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    start = ev.execution_started(
        t0, instance_id="probe", execution_id="e", name="probe", input_text=None, version="", parent=None
    )
    episodes = [
        [start],
        [ev.task_completed(t0, 0, "1")],
        [ev.task_completed(t0, 1, "2")],
        [ev.event_raised(t0, "go", '"yes"')],
    ]
    scheduled = [[ev.task_scheduled(t0, 0, "a", "1")], [ev.task_scheduled(t0, 1, "b", "1")], [], []]
    past: list[dict[str, Any]] = []
    session: Session | None = None
    for n, (new, after) in enumerate(zip(episodes, scheduled, strict=True)):
        now = t0 + timedelta(seconds=n + 1)
        first = [ev.orchestrator_started(now), *new]
        history = [*({**e, "IsPlayed": True} for e in past), *first]
        envelope = {"history": history, "instanceId": "probe", "isReplaying": False, "parentInstanceId": None}
        envelope["upperSchemaVersion"], envelope["upperSchemaVersionNew"] = 1, 2
        expected = handle(json.dumps(envelope))
        if session is None:
            session, result = Session.start(handle, envelope)
            if session is None:
                return "the self-check could not start a session"
            session.started((result.state.get("actions") or [[]])[0])
        else:
            sent = session.sent
            result = session.advance(first, full=True)
            # the state with only the new actions must be the full state minus the sent ones
            whole = json.loads(expected)
            whole["actions"] = [whole["actions"][0][sent:]]
            if result.state != whole:
                return f"episode {n} differs from a full replay (its new actions)"
        if result.raw != expected:
            return f"episode {n} differs from a full replay"
        rest = [*after, ev.orchestrator_completed(now)]
        session.feed(rest)  # the shadow replay is not part of this check
        past = [*past, *first, *rest]
    return None if json.loads(expected).get("isDone") else "the self-check orchestration did not finish"

