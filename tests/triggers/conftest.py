"""Fixtures for trigger tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.triggers.triggerkit import ExecutionLog


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
