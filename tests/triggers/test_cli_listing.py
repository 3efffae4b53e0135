"""`python -m durable_local start` on the timer test app: the start-up listing and errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from durable_local.runtime.host import free_port
from tests.triggers.triggerkit import TIMER_APP


@pytest.mark.timeout(120)
def test_start_up_lists_notes_and_a_malformed_schedule_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULE_")}
    env.update(
        TRIGGER_TEST_LOG=str(tmp_path / "runs.jsonl"),
        SCHEDULE_A="0 0 2 31 2 MON",  # no such day: never occurs
        SCHEDULE_B="00:00:00",  # a TimeSpan of zero
        SCHEDULE_C="61 */5 * * * *",
        **{"AzureWebJobs.say_hello.Disabled": "true"},
    )
    cmd = [sys.executable, "-m", "durable_local", "start", "--app-dir", str(TIMER_APP), "--store", "memory"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    out: list[str] = []
    for line in proc.stdout:
        out.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl+C"):
            break
    time.sleep(0.5)  # the signal handlers are installed right after that line is printed
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    listing = [line.strip() for line in out]
    assert (
        "timer_a: timerTrigger (error: Function 'timer_a' (timerTrigger): schedule '0 0 2 31 2 MON' never occurs)"
        in listing
    )
    assert (
        "startup_timer: timerTrigger (error: Function 'startup_timer' (timerTrigger): "
        "schedule '00:00:00' (app setting SCHEDULE_B): a TimeSpan schedule must be longer than zero)"
    ) in listing
    assert (
        "timer_starter: timerTrigger (error: Function 'timer_starter' (timerTrigger): schedule '61 */5 * * * *' "
        "(app setting SCHEDULE_C) is not a valid NCRONTAB expression: second field: 61 is outside 0-59)"
    ) in listing
    assert "say_hello: activityTrigger (disabled)" in listing
    assert "on_service_bus: serviceBusTrigger (not run locally: needs Service Bus)" in listing
    errors = [line for line in err.splitlines() if " ERROR " in line]
    assert len(errors) == 3 and all("(timerTrigger): schedule '" in line for line in errors), errors
    assert "Traceback" not in err + rest
