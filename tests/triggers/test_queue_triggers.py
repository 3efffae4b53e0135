"""Queue triggers and queue output bindings, end to end on Azurite.

Messages are put on the queues with the Azure storage SDK, as an external producer would;
the host runs the test app in ``storage_app`` in-process (memory store).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from azure.storage.queue import QueueClient

from durable_local.testing import running_host

from .conftest import STORAGE_APP as APP
from .triggerkit import marks, storage_queue

pytestmark = pytest.mark.azurite


def put(client: QueueClient, text: str) -> None:
    client.send_message(base64.b64encode(text.encode()).decode())  # the host's default encoding


def bodies(client: QueueClient) -> list[str]:
    return [base64.b64decode(m.content).decode() for m in client.peek_messages(max_messages=32)]


async def test_queue_message_starts_orchestration_and_activity_writes_output_queue(storage_env: dict[str, str]) -> None:
    start, out = storage_queue(storage_env, "START_QUEUE"), storage_queue(storage_env, "OUT_QUEUE")
    async with running_host(APP) as h:
        put(start, json.dumps({"id": "a1", "name": "Ada"}))
        status = await h.wait_for("q-a1", timeout=30)
        assert status["runtimeStatus"] == "Completed", status
        # the activity's durable client reached the host: it saw its own orchestration running
        assert status["output"] == {"greeting": "Hello Ada", "seenStatus": "Running (own_status)"}
        assert await h.wait_until(lambda: bodies(out) == ["Hello Ada"], what="the output message")
        # the trigger message was deleted after success, and never runs again
        assert await h.wait_until(lambda: start.get_queue_properties().approximate_message_count == 0)


async def test_failing_message_goes_to_poison_after_max_dequeue_count(storage_env: dict[str, str]) -> None:
    fail, out = storage_queue(storage_env, "FAIL_QUEUE"), storage_queue(storage_env, "OUT_QUEUE")
    poison = QueueClient.from_connection_string(
        storage_env["AzureWebJobsStorage"], storage_env["FAIL_QUEUE"] + "-poison"
    )
    async with running_host(APP) as h:
        put(fail, "doomed")
        await h.wait_until(lambda: _exists(poison) and bodies(poison) == ["doomed"], timeout=30, what="poison")
        runs = marks(storage_env, "fail")
        time.sleep(1.5)  # no further runs once poisoned
        assert marks(storage_env, "fail") == runs
    # host.json maxDequeueCount is 3: exactly three runs, with dequeue counts 1, 2, 3
    assert [line.split()[1] for line in runs] == ["1", "2", "3"]
    assert len({line.split()[0] for line in runs}) == 1
    assert fail.get_queue_properties().approximate_message_count == 0
    assert bodies(out) == []  # outputs of a failed function are never written


def _exists(client: QueueClient) -> Any:
    try:
        client.get_queue_properties()
        return True
    except Exception:
        return False


async def test_activity_outputs_and_durable_client_in_a_worker_process(
    storage_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCTIONS_WORKER_PROCESS_COUNT", "1")  # activities run in a spawned worker process
    start, out = storage_queue(storage_env, "START_QUEUE"), storage_queue(storage_env, "OUT_QUEUE")
    async with running_host(APP) as h:
        assert h.host.dispatcher.workers is not None
        put(start, json.dumps({"id": "w1", "name": "Linus"}))
        status = await h.wait_for("q-w1", timeout=60)
        assert status["output"] == {"greeting": "Hello Linus", "seenStatus": "Running (own_status)"}, status
        assert await h.wait_until(lambda: bodies(out) == ["Hello Linus"], what="the output message")
