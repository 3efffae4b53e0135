"""Running one activity work item and turning what happened into its result message.

The dispatcher (runtime/dispatcher.py) claims activity messages, keeps count of what runs and
writes the results; this module only decides *how* an activity runs (the built-in HTTP
activity, a worker process, or this process) and which message reports it: TaskCompleted,
or TaskFailed for a failure of the user's code or a disabled function, as the extension does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from durable_local.app_loader import HTTP_ACTIVITY
from durable_local.bindings.runner import client_env
from durable_local.engine.messages import activity_completed_message, activity_failed_message, task_failed_message
from durable_local.engine.options import EngineOptions
from durable_local.runtime import invoke
from durable_local.runtime.context import HostContext
from durable_local.runtime.workers import WorkerError, WorkerProcesses
from durable_local.store.base import Message

log = logging.getLogger("durable_local.dispatch")


async def activity_result(
    ctx: HostContext,
    options: EngineOptions,
    workers: WorkerProcesses | None,
    run_sync: Callable[[Callable[[], Any]], Awaitable[Any]],
    msg: Message,
) -> Message:
    """Run the activity of ``msg``; the message that reports its outcome. Raises
    WorkerError when a worker process died (the activity did not fail: it is retried)."""
    payload = msg.payload
    name = str(payload.get("name", ""))
    try:
        if name == HTTP_ACTIVITY:
            result_text: str | None = await invoke.call_http_activity(_http_request_from_input(payload.get("input")))
        elif workers is not None:
            status, text, details = await workers.activity(name, payload.get("input"), client_env(ctx), msg.target)
            if status != "ok":
                assert text is not None
                raise _ReportedFailure(text, details)
            result_text = text
        else:
            info = ctx.app.registry.activity(name)
            if info is None:  # disabled: the orchestration sees a failed task, as in the extension
                raise _ReportedFailure(options.missing_function_message("activity", name), "")
            result_text = await invoke.call_activity(info, payload.get("input"), run_sync, client_env(ctx), msg.target)
        return activity_completed_message(msg, result_text, ctx.clock.now())
    except WorkerError:
        raise
    except _ReportedFailure as failure:  # formatted by the worker process
        log.info("activity %s for %s failed: %s", name, msg.target, failure.reason)
        return task_failed_message(msg, failure.reason, failure.details, ctx.clock.now())
    except Exception as exc:  # the user's failure becomes TaskFailed, as in the extension
        log.info("activity %s for %s failed: %s: %s", name, msg.target, type(exc).__name__, exc)
        return activity_failed_message(msg, exc, ctx.clock.now())


class _ReportedFailure(Exception):
    """An activity failure already turned into (Reason, Details): by a worker process, or a
    disabled function."""

    def __init__(self, reason: str, details: str) -> None:
        super().__init__(reason)
        self.reason, self.details = reason, details


def _http_request_from_input(input_value: Any) -> dict[str, Any]:
    """The HttpActivity input is the action's httpRequest object (possibly as JSON text)."""
    value = input_value
    for _ in range(3):
        if isinstance(value, str):
            value = json.loads(value)
        elif isinstance(value, list) and value:
            value = value[0]
        else:
            break
    if not isinstance(value, dict) or "uri" not in value:
        raise ValueError("call_http request has no 'uri'")
    return value
