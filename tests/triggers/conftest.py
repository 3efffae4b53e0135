"""Fixtures for trigger tests: timers (``runs``) and the Storage triggers and bindings (``storage_env``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.triggers.triggerkit import ExecutionLog

STORAGE_APP = Path(__file__).parent / "storage_app"
STORAGE_NAMES = ("START_QUEUE", "OUT_QUEUE", "FAIL_QUEUE", "SLOW_QUEUE", "IN_CONTAINER", "OUT_CONTAINER", "TABLE")


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ExecutionLog:
    """Point the app at a fresh log; timers not set by a test never come due in its run."""
    path = tmp_path / "executions.jsonl"
    monkeypatch.setenv("TRIGGER_TEST_LOG", str(path))
    for setting in ("SCHEDULE_A", "SCHEDULE_B", "SCHEDULE_C"):
        monkeypatch.setenv(setting, "0 0 0 1 1 *")  # once a year, on New Year's midnight
    monkeypatch.setenv("AzureWebJobs.startup_timer.Disabled", "true")  # it fires at every start
    for setting in ("WEBSITE_TIME_ZONE", "TZ"):
        monkeypatch.delenv(setting, raising=False)
    return ExecutionLog(path)


@pytest.fixture
def storage_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """AzureWebJobsStorage on the session's Azurite, fresh queue/container/table names, a marks folder."""
    from tests.azurite import shared_connection_string

    suffix = uuid.uuid4().hex[:10]
    env = {"AzureWebJobsStorage": shared_connection_string(), "TRIGGER_TEST_MARKS": str(tmp_path / "marks")}
    for name in STORAGE_NAMES:
        dashed = name.lower().replace("_", "-")
        env[name] = f"t{suffix}table" if name == "TABLE" else f"t-{suffix}-{dashed}"  # tables: no dashes
    (tmp_path / "marks").mkdir()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
