"""Cloud-parity warnings: pure checks, and the host logging them on durable_local.parity."""

from __future__ import annotations

import logging
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from durable_local.engine.events import format_timestamp
from durable_local.engine.result import EpisodeResult
from durable_local.store.base import InstanceRecord, Message, OrchestrationWorkItem
from durable_local.testing import running_host
from durable_local.tools import parity

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_payload_sizes_around_the_offload_and_message_limits() -> None:
    assert parity.payload_warning("x" * 44 * 1024, "input") is None
    assert "offloads it to a blob" in (parity.payload_warning("x" * 46 * 1024, "input") or "")
    assert "64 KB" in (parity.payload_warning("é" * 33 * 1024, "input") or "")  # bytes, not characters
    assert parity.payload_warning(None, "input") is None


@pytest.mark.parametrize(
    ("instance_id", "needle"),
    [("a/b", "'/'"), ("q?x", "'?'"), ("tab\there", "'\\t'"), ("@counter@k", "reserved for entities"),
     ("x" * 257, "at most 256"), ("", "empty")],
)
def test_instance_ids_the_extension_rejects(instance_id: str, needle: str) -> None:
    assert any(needle in w for w in parity.instance_id_warnings(instance_id))


def test_legal_instance_ids_pass() -> None:
    assert parity.instance_id_warnings("order-1:payment") == []
    assert parity.instance_id_warnings("x" * 256) == []


def test_timers_past_six_days_in_one_segment() -> None:
    def timer(days: float) -> dict:
        return {"EventType": 10, "EventId": 0, "FireAt": format_timestamp(T0 + timedelta(days=days))}

    assert parity.timer_warnings([timer(5.9), timer(3)], T0) == []
    [w] = parity.timer_warnings([timer(7)], T0)
    assert "7.0 days" in w and "maximum of 6 days" in w


def test_action_count_over_max_orchestration_actions() -> None:
    events = [{"EventType": 4, "EventId": i} for i in range(parity.MAX_ACTIONS + 1)]
    assert "MaxOrchestrationActions" in (parity.action_count_warning(events) or "")
    assert parity.action_count_warning(events[:10]) is None


def test_blocking_episode_unless_explained_by_history_size() -> None:
    assert "blocks the worker" in (parity.duration_warning(1.5, 20) or "")
    assert parity.duration_warning(0.5, 20) is None
    assert parity.duration_warning(1.5, 100_000) is None  # a long replay, not blocking code


def test_episode_warnings_cover_messages_status_and_ids() -> None:
    big = "y" * 50 * 1024
    start = Message("a#b", {"EventType": 0, "Input": '"x"'})
    result_msg = Message("a#b", {"EventType": 5, "TaskScheduledId": 0, "Result": big})
    item = OrchestrationWorkItem("a#b", None, [], [start, result_msg], "lease")
    record = InstanceRecord("a#b", "Flow", "Running", T0, T0, custom_status="z" * 17 * 1024)
    work = Message("a#b", {"instanceId": "a#b", "taskScheduledId": 1, "name": "Echo", "input": big}, queue="activity")
    result = EpisodeResult(instance=record, new_history=[], outgoing=[work])
    warnings = parity.episode_warnings(item, result, 0.01)
    text = "\n".join(warnings)
    assert "'#'" in text and "custom status" in text
    assert "TaskCompleted result" in text and "Echo input" in text


APP = '''
import time
import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def Big(context):
    yield context.call_activity("Echo", "x" * 50_000)
    return "done"


@app.orchestration_trigger(context_name="context")
def Slow(context):
    if not context.is_replaying:
        time.sleep(1.1)
    return "done"


@app.activity_trigger(input_name="value")
def Echo(value: str) -> int:
    return len(value)
'''


async def test_host_logs_parity_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "parity_app.py").write_text(textwrap.dedent(APP))
    monkeypatch.setenv("PYTHON_SCRIPT_FILE_NAME", "parity_app.py")
    caplog.set_level(logging.WARNING, logger="durable_local.parity")
    async with running_host(tmp_path, store="memory") as h:
        for name in ("Big", "Slow"):
            code, _, _ = await h.post(f"/runtime/webhooks/durabletask/orchestrators/{name}/parity-{name}")
            assert code == 202
            assert (await h.wait_for(f"parity-{name}"))["runtimeStatus"] == "Completed"
    lines = [r.getMessage() for r in caplog.records if r.name == "durable_local.parity"]
    assert any(line.startswith("parity-Big: Echo input") and "offloads it to a blob" in line for line in lines)
    assert any(line.startswith("parity-Slow: episode took") for line in lines)
