"""Under the CLI (a real host process) on Azurite: a queue message starts an orchestration whose
activity writes the output queue, and a host killed with -9 during a queue-triggered function
lets the message run again once its lease expired; a message whose function succeeded never runs again."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from durable_local.runtime.host import free_port

from .conftest import STORAGE_APP as APP
from .triggerkit import marks, storage_queue

pytestmark = pytest.mark.azurite
LEASE = 3  # DURABLE_LOCAL_QUEUE_LEASE_SECONDS for these hosts


def start_host(data_dir: Path, port: int, log: Path, app: Path = APP) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DURABLE_LOCAL_QUEUE_LEASE_SECONDS": str(LEASE)}
    args = [sys.executable, "-m", "durable_local", "start", "--app-dir", str(app), "--port", str(port),
            "--store", "sqlite", "--data-dir", str(data_dir)]  # fmt: skip
    proc = subprocess.Popen(args, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    wait(lambda: _up(port) or proc.poll() is not None, "the host to listen")
    assert proc.poll() is None, log.read_text()[-3000:]
    return proc


def _up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
            return True
    except OSError:
        return False


def wait(predicate, what: str, timeout: float = 40.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def status(port: int, instance: str) -> dict[str, object]:
    url = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/instances/{instance}"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]
    except OSError:
        return {}


def test_kill9_during_a_queue_function_runs_the_message_again(storage_env: dict[str, str], tmp_path: Path) -> None:
    slow, start, out = (
        storage_queue(storage_env, "SLOW_QUEUE"),
        storage_queue(storage_env, "START_QUEUE"),
        storage_queue(storage_env, "OUT_QUEUE"),
    )
    port, log = free_port(), tmp_path / "host.log"
    first = start_host(tmp_path / "d", port, log)
    try:
        start.send_message(base64.b64encode(json.dumps({"id": "cli1", "name": "Grace"}).encode()).decode())
        wait(lambda: status(port, "q-cli1").get("runtimeStatus") == "Completed", "the queue-started orchestration")
        wait(lambda: [base64.b64decode(m.content).decode() for m in out.peek_messages()] == ["Hello Grace"],
             "the activity's output message")  # fmt: skip
        slow.send_message(base64.b64encode(b"crash-me").decode())
        wait(lambda: marks(storage_env, "slow") == ["crash-me"], "the slow function to start")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    second = start_host(tmp_path / "d", port, log)
    try:
        wait(lambda: marks(storage_env, "slow-done") == ["crash-me"], "the message to run again after the lease")
        assert marks(storage_env, "slow") == ["crash-me", "crash-me"]
        time.sleep(LEASE + 1.5)  # past another lease: the succeeded message is gone for good
        assert marks(storage_env, "slow") == ["crash-me", "crash-me"]
        assert slow.get_queue_properties().approximate_message_count == 0
        assert status(port, "q-cli1").get("runtimeStatus") == "Completed"  # not started twice
    finally:
        second.send_signal(signal.SIGINT)
        try:
            second.wait(20)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait(5)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
