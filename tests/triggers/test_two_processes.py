"""Two host processes (the CLI) on one SQLite file: every timer occurrence runs once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from durable_local.runtime.host import free_port
from tests.triggers.triggerkit import TIMER_APP, ExecutionLog


@pytest.mark.timeout(120)
def test_two_host_processes_run_each_occurrence_once(runs: ExecutionLog, tmp_path: Path) -> None:
    env = dict(os.environ, SCHEDULE_A="* * * * * *")  # every second; the fixture set the rest
    cmd = [sys.executable, "-m", "durable_local", "start", "--app-dir", str(TIMER_APP), "--data-dir", str(tmp_path)]
    hosts = [
        subprocess.Popen([*cmd, "--port", str(free_port())], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while runs.count("timer_a") < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for proc in hosts:
            proc.send_signal(signal.SIGINT)
        for proc in hosts:
            proc.wait(timeout=30)
    occurrences = [r["status"]["Next"] for r in runs.entries("timer_a")]
    assert len(occurrences) >= 6, occurrences
    assert len(set(occurrences)) == len(occurrences), f"an occurrence ran twice: {sorted(occurrences)}"
