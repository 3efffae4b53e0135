"""Under the CLI on Azurite, the app a new user first tried: a `*/5` timer and a queue message
each start the orchestration, whose activity writes through a queue output binding."""

from __future__ import annotations

import base64
import json
import signal
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import QueueClient

from durable_local.runtime.host import free_port

from .test_queue_crash_cli import start_host, wait

pytestmark = pytest.mark.azurite
APP = Path(__file__).parent / "starters_app"


def instances(port: int) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask/instances"
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


@pytest.mark.timeout(120)
def test_timer_and_queue_start_the_orchestration_and_the_activity_writes_its_output(
    storage_env: dict[str, str], tmp_path: Path
) -> None:
    conn = storage_env["AzureWebJobsStorage"]
    start = QueueClient.from_connection_string(conn, storage_env["START_QUEUE"])
    out = QueueClient.from_connection_string(conn, storage_env["OUT_QUEUE"])
    start.create_queue()
    out.create_queue()
    port, log = free_port(), tmp_path / "host.log"
    host = start_host(tmp_path / "data", port, log, app=APP)
    try:
        start.send_message(base64.b64encode(b"queue").decode())  # the host's default encoding
        written: Counter[str] = Counter()

        def outputs() -> Counter[str]:
            for m in out.receive_messages(messages_per_page=32, visibility_timeout=60):
                written[base64.b64decode(m.content).decode()] += 1
                out.delete_message(m)
            return written

        wait(lambda: outputs()["Hello queue"] == 1 and outputs()["Hello cron"] >= 2, "outputs of both starters", 60)
        done = [i for i in instances(port) if i["runtimeStatus"] == "Completed"]
        assert {i["output"] for i in done} == {"Hello queue", "Hello cron"}, done
        assert all(i["name"] == "hello_orchestrator" for i in instances(port))
    finally:
        host.send_signal(signal.SIGINT)
        host.wait(30)
    text = log.read_text()
    assert "cron_start: timerTrigger" in text and "queue_start: queueTrigger" in text, text[:3000]
    assert "Traceback" not in text and "missing 1 required positional argument" not in text, text[-3000:]
