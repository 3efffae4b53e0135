"""Extended sessions: incremental episodes equal full replays, every fallback completes
correctly, non-determinism is still detected, and the guard turns sessions off."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

from durable_local.app_loader import AppLoadError, HostSettings, read_host_json
from durable_local.engine import resume_message, session_guard, suspend_message
from durable_local.engine import session as session_mod
from durable_local.engine.replay import NONDETERMINISM_HINT
from durable_local.engine.session import SessionCache

from .driver import Driver

app = df.DFApp()
# on an SDK version the guard does not know, sessions are off in the product; only the guard
# test below applies then
needs_sessions = pytest.mark.skipif(session_guard.sdk_problem() is not None, reason="extended sessions are off")
CALLS: dict[str, int] = {"flaky_names": 0, "drifting": 0}


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    out = []
    for i in range(context.get_input()):
        out.append((yield context.call_activity("echo", i)))
        context.set_custom_status({"done": len(out)})
    return out


@app.orchestration_trigger(context_name="context")
def chain_renamed(context: df.DurableOrchestrationContext):
    out = []
    for i in range(context.get_input()):
        out.append((yield context.call_activity("echo" if i < 2 else "other", i)))
    return out


@app.orchestration_trigger(context_name="context")
def pair(context: df.DurableOrchestrationContext):
    a = yield context.call_activity("echo", 1)
    b = yield context.call_activity("other", 2)
    return [a, b]


@app.orchestration_trigger(context_name="context")
def pair_swapped(context: df.DurableOrchestrationContext):
    b = yield context.call_activity("other", 2)
    a = yield context.call_activity("echo", 1)
    return [a, b]


@app.orchestration_trigger(context_name="context")
def flaky_names(context: df.DurableOrchestrationContext):
    # non-deterministic on purpose: each fresh run of the generator picks other names
    CALLS["flaky_names"] += 1
    run = CALLS["flaky_names"]
    first = yield context.call_activity("echo", 1)
    second = yield context.call_activity("echo" if run == 1 else "other", 2)
    return [first, second]


@app.orchestration_trigger(context_name="context")
def drifting(context: df.DurableOrchestrationContext):
    # non-deterministic from its third step on, in every run of the generator but the first
    CALLS["drifting"] += 1
    run = CALLS["drifting"]
    out = []
    for i in range(40):
        out.append((yield context.call_activity("echo" if run == 1 or i < 2 else "other", i)))
    return out


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    n = context.get_input()
    yield context.call_activity("echo", n)
    if n < 3:
        context.continue_as_new(n + 1)
        return None
    return n


@app.orchestration_trigger(context_name="context")
def waits(context: df.DurableOrchestrationContext):
    a = yield context.call_activity("echo", 1)
    go = yield context.wait_for_external_event("Go")
    b = yield context.call_activity("echo", 2)
    return [a, go, b]


@app.orchestration_trigger(context_name="context")
def event_or_deadline(context: df.DurableOrchestrationContext):
    timer = context.create_timer(context.current_utc_datetime + timedelta(hours=72))
    winner = yield context.task_any([context.wait_for_external_event("Go"), timer])
    if winner != timer:
        timer.cancel()  # flags the timer's action, created in an earlier episode
    return (yield context.call_activity("echo", "after"))


@app.activity_trigger(input_name="n")
def echo(n: Any) -> Any:
    return n


@app.activity_trigger(input_name="n")
def other(n: Any) -> Any:
    return -n


def driver(**cache: Any) -> tuple[Driver, SessionCache]:
    sessions = SessionCache(**{"verify": True, **cache})
    return Driver(app, overrides={"sessions": sessions}), sessions


@needs_sessions
def test_a_chain_runs_incrementally_and_equals_full_replay() -> None:
    d, sessions = driver()
    d.start("chain", 8)
    d.run()
    assert d.status() == "Completed" and d.output() == list(range(8))
    # 9 episodes: the first starts the session, the next 7 are incremental (each checked
    # byte for byte), the 9th finds its session too but ends the instance: a full replay
    assert sessions.hits == 8 and len(sessions) == 0
    off = Driver(app, overrides={"sessions": None})
    off.start("chain", 8)
    off.run()
    assert off.trace() == d.trace() and off.instances["inst"].custom_status == d.instances["inst"].custom_status


@needs_sessions
def test_equality_mode_fails_the_instance_on_a_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    d, _ = driver()
    d.start("chain", 3)
    d.run_episodes()
    d.run_activities()
    real = session_mod.Session.advance

    def wrong(self: session_mod.Session, events: list[dict[str, Any]], **kw: Any) -> Any:
        result = real(self, events, **kw)
        result.raw = (result.raw or "").replace('"isDone": false', '"isDone":false')
        return result

    monkeypatch.setattr(session_mod.Session, "advance", wrong)
    monkeypatch.setattr(session_mod, "MISMATCHES", [])
    d.run()
    assert d.status() == "Failed"
    assert "extended session diverged from a full replay" in (d.instances["inst"].output or "")
    assert len(session_mod.MISMATCHES) == 1


def _continue_with(d: Driver, orchestrator: str) -> Driver:
    """A new host run with changed code: same store (histories, queue), fresh sessions."""
    new, _ = driver(verify=False)
    new.instances, new.histories, new.queue, new.activity_queue, new._ids = (
        d.instances, d.histories, d.queue, d.activity_queue, d._ids)
    changed = new.registry.orchestrators[orchestrator][1]
    new.options.resolve_orchestrator = lambda _name: changed
    return new


@needs_sessions
@pytest.mark.parametrize(
    ("first", "changed", "rounds"), [("chain", "chain_renamed", 3), ("pair", "pair_swapped", 2)])
def test_code_changed_between_host_runs_is_detected(first: str, changed: str, rounds: int) -> None:
    d, sessions = driver(verify=False)
    d.start(first, 4)
    for _ in range(rounds):  # the changed call is recorded; a session holds the instance
        d.run_episodes()
        d.run_activities()
    assert sessions.hits == rounds - 1 and len(sessions) == 1
    d = _continue_with(d, changed)
    d.run()
    assert d.status() == "Failed"
    out = d.instances["inst"].output or ""
    assert "Non-Deterministic workflow detected" in out and NONDETERMINISM_HINT in out


@needs_sessions
def test_non_determinism_inside_one_session_is_caught_by_the_final_full_replay() -> None:
    d, sessions = driver(verify=False)  # equality mode would flag it one episode earlier
    CALLS["flaky_names"] = 0
    d.start("flaky_names")
    d.run()
    assert sessions.hits >= 1
    assert d.status() == "Failed"
    out = d.instances["inst"].output or ""
    assert "sequence ID 1 and name 'echo'" in out and "'other'" in out and NONDETERMINISM_HINT in out


@needs_sessions
def test_a_long_running_instance_is_replayed_in_full_when_its_history_doubles() -> None:
    d, _ = driver(verify=False)
    CALLS["drifting"] = 0
    d.start("drifting")
    d.run()
    assert d.status() == "Failed"
    out = d.instances["inst"].output or ""
    assert "sequence ID 2 and name 'echo'" in out and NONDETERMINISM_HINT in out
    scheduled = sum(1 for e in d.history() if e["EventType"] == 4)
    assert 2 < scheduled < 40  # caught while running, not only by the final replay


@needs_sessions
def test_count_bound_and_idle_timeout_fall_back_to_full_replay() -> None:
    d, sessions = driver(max_count=1)
    for i in range(3):
        d.start("chain", 5, instance_id=f"i{i}")
    d.run()
    assert [d.output(f"i{i}") for i in range(3)] == [list(range(5))] * 3
    assert sessions.evictions > 0 and len(sessions) <= 1
    d, sessions = driver(idle_timeout=0.0)
    d.start("chain", 5)
    d.run()
    assert d.output() == list(range(5)) and sessions.hits == 0


@needs_sessions
def test_memory_bound_evicts() -> None:
    d, sessions = driver(max_bytes=1)
    d.start("chain", 4)
    d.run()
    assert d.output() == list(range(4)) and sessions.hits == 0 and sessions.evictions > 0


@needs_sessions
def test_continue_as_new_starts_a_fresh_session() -> None:
    d, sessions = driver()
    d.start("counter", 0)
    d.run()
    assert d.status() == "Completed" and d.output() == 3
    assert len(sessions) == 0


@needs_sessions
def test_suspend_resume_and_external_events() -> None:
    d, sessions = driver()
    d.start("waits")
    d.run()
    assert d.status() == "Running" and len(sessions) == 1
    d.enqueue(suspend_message("inst", "pause", d.now))
    d.run()
    assert d.status() == "Suspended" and len(sessions) == 0
    d.raise_event("inst", "Go", "yes")
    d.run()
    d.enqueue(resume_message("inst", "go on", d.now))
    d.run()
    assert d.status() == "Completed" and d.output() == [1, "yes", 2]


@needs_sessions
def test_a_failed_commit_is_a_miss_not_a_wrong_answer() -> None:
    d, sessions = driver()
    d.start("chain", 4)
    d.run_episodes()
    d.run_activities()
    saved = ([dict(e) for e in d.histories["inst"]], list(d.queue), d.instances["inst"])
    d.run_episodes()  # the session moves on ...
    d.histories["inst"], d.queue, d.instances["inst"] = saved  # ... but the store never saw it
    misses = sessions.misses
    d.run()
    assert d.output() == list(range(4)) and sessions.misses == misses + 1


def test_guard_turns_sessions_off_with_one_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if session_guard.sdk_problem() is not None:  # a newer SDK: sessions are off, as they must be
        assert session_guard.make_sessions(True, 30, 10, 1 << 20) is None
        pytest.skip(f"extended sessions are off here: {session_guard.sdk_problem()}")
    assert session_guard.make_sessions(True, 30, 10, 1 << 20) is not None
    assert session_guard.make_sessions(False, 30, 10, 1 << 20) is None
    session_guard.sdk_problem.cache_clear()
    monkeypatch.setattr(session_guard, "KNOWN_SDK_VERSIONS", frozenset({"0.0.1"}))
    with caplog.at_level(logging.WARNING, logger="durable_local.sessions"):
        assert session_guard.make_sessions(True, 30, 10, 1 << 20) is None
    assert [r.getMessage() for r in caplog.records if r.name == "durable_local.sessions"] == [
        "extended sessions are off: azure-functions-durable 1.7.0 is not a version they were checked "
        "against; every episode replays the whole history"]
    session_guard.sdk_problem.cache_clear()
    monkeypatch.undo()
    monkeypatch.setattr(session_mod.Session, "advance", lambda self, events, **kw: session_mod.SdkResult({}, raw="{}"))
    assert "differs from a full replay" in (session_guard.sdk_problem() or "")
    session_guard.sdk_problem.cache_clear()


def test_host_json_settings(tmp_path: Path) -> None:
    assert HostSettings().extended_sessions is True
    (tmp_path / "host.json").write_text(
        '{"extensions": {"durableTask": {"extendedSessionsEnabled": false, '
        '"extendedSessionIdleTimeoutInSeconds": 5}}}')
    settings = read_host_json(tmp_path)
    assert settings.extended_sessions is False and settings.session_idle_timeout == 5.0
    (tmp_path / "host.json").write_text('{"extensions": {"durableTask": {"extendedSessionsEnabled": "maybe"}}}')
    with pytest.raises(AppLoadError, match=r"durableTask\.extendedSessionsEnabled must be true or false"):
        read_host_json(tmp_path)
    (tmp_path / "host.json").write_text(
        '{"extensions": {"durableTask": {"extendedSessionIdleTimeoutInSeconds": -1}}}')
    with pytest.raises(AppLoadError, match="extendedSessionIdleTimeoutInSeconds must be a number"):
        read_host_json(tmp_path)
    assert replace(settings, extended_sessions=True).extended_sessions


@needs_sessions
def test_a_timer_canceled_in_a_later_episode_is_closed_by_the_session_too() -> None:
    d, sessions = driver()
    d.start("event_or_deadline")
    d.run(timers=False)
    assert d.status() == "Running" and len(sessions) == 1
    d.raise_event("inst", "Go", 1)
    d.run(timers=False)  # incremental: a full replay never opens the canceled timer, nor may the session
    assert d.status() == "Completed" and d.output() == "after"
