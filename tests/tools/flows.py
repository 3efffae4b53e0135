"""A small orchestration and changed versions of it, for the nondeterminism tests (R10).

``Flow`` v1 is recorded with the engine test driver; each variant is then registered under
the same name in a fresh app and the recorded history is replayed against it. The
``# <- ...`` markers let tests find the line the replayer should point at.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable_local.engine import EngineOptions, registry_from_functions
from durable_local.tools.history_file import HistoryFile
from tests.engine.driver import Driver

Body = Callable[[df.DurableOrchestrationContext], Generator[Any, Any, Any]]


def v1(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    a = yield context.call_activity("A", 1)
    b = yield context.call_activity("B", a)
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    c = yield context.call_activity("C", b)
    return [a, b, c]


def renamed(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    a = yield context.call_activity("A2", 1)  # <- renamed
    b = yield context.call_activity("B", a)
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    c = yield context.call_activity("C", b)
    return [a, b, c]


def swapped(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    b = yield context.call_activity("B", 1)  # <- swapped
    a = yield context.call_activity("A", b)
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    c = yield context.call_activity("C", b)
    return [a, b, c]


def extra_timer(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    a = yield context.call_activity("A", 1)
    yield context.create_timer(context.current_utc_datetime + timedelta(minutes=5))  # <- extra timer
    b = yield context.call_activity("B", a)
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    c = yield context.call_activity("C", b)
    return [a, b, c]


def fewer(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    a = yield context.call_activity("A", 1)
    b = yield context.call_activity("B", a)
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    return [a, b]  # <- fewer


def more(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    a = yield context.call_activity("A", 1)
    b = yield context.call_activity("B", a)
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    c = yield context.call_activity("C", b)
    yield context.call_activity("A", c)  # <- more
    return [a, b, c]


def helper_renamed(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    a = yield from _first_step(context)
    b = yield context.call_activity("B", a)
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    c = yield context.call_activity("C", b)
    return [a, b, c]


def _first_step(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    value = yield context.call_activity("A2", 1)  # <- helper
    return value


def marker_line(fn: Callable[..., Any], marker: str) -> int:
    lines, start = inspect.getsourcelines(fn)
    return start + next(k for k, line in enumerate(lines) if f"# <- {marker}" in line)


def make_app(body: Body) -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.orchestration_trigger(context_name="context", orchestration="Flow")
    def flow(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        return (yield from body(context))

    for name in ("A", "A2", "B", "C"):
        def act(x: Any, _n: str = name) -> str:
            return f"{_n}({x})"

        act.__name__ = name
        app.activity_trigger(input_name="x", activity=name)(app.function_name(name)(act))
    return app


def options_for(body: Body) -> EngineOptions:
    return registry_from_functions(make_app(body).get_functions()).options()


def record_v1(instance_id: str = "flow-1") -> HistoryFile:
    """Run v1 to completion with the engine driver and return its history."""
    driver = Driver(make_app(v1))
    driver.start("Flow", None, instance_id)
    driver.run()
    assert driver.status(instance_id) == "Completed", driver.log
    return HistoryFile({"instanceId": instance_id, "name": "Flow", "runtimeStatus": "Completed"},
                       driver.history(instance_id), source=instance_id)
