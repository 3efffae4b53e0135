"""FUNCTIONS_WORKER_PROCESS_COUNT: episodes and activities in spawned worker processes.

A small app written per test reports the process ids its code ran in, fails on demand and
kills its own worker process once, so these tests show over real HTTP that user code really
runs outside the host, that failures read exactly as in-process, and that a dead worker
process costs a retry, not the work.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durable_local.app_loader import AppLoadError
from durable_local.runtime.workers import SETTING, process_count
from durable_local.testing import HostHarness, running_host

WEBHOOK = "/runtime/webhooks/durabletask"

APP = """
import asyncio
import os
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
MARKS = Path(os.environ["WORKER_TEST_MARKS"])


@app.orchestration_trigger(context_name="context")
def pids(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("pid", None)
    rest = yield context.task_all([context.call_activity("pid", None) for _ in range(6)])
    state = yield context.call_entity(df.EntityId("counter", "k"), "add", 2)
    return {"orchestrator": os.getpid(), "activities": [first, *rest], "entity": state}


@app.activity_trigger(input_name="unused")
def pid(unused: str) -> int:
    return os.getpid()


@app.activity_trigger(input_name="unused")
async def async_pid(unused: str) -> int:
    return os.getpid()


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("boom", "x")
    except Exception as exc:
        return str(exc)


@app.activity_trigger(input_name="value")
def boom(value: str) -> str:
    raise ValueError(f"bad value {value}")


@app.orchestration_trigger(context_name="context")
def survivor(context: df.DurableOrchestrationContext):
    value = yield context.call_activity("die_once", "ok")
    pid_now = yield context.call_activity("async_pid", None)
    return [value, pid_now]


@app.activity_trigger(input_name="value")
def die_once(value: str) -> str:
    mark = MARKS / "died"
    if not mark.exists():
        mark.write_text(str(os.getpid()))
        os._exit(17)  # the worker process dies mid-activity
    return value


@app.orchestration_trigger(context_name="context")
def steps(context: df.DurableOrchestrationContext):
    out = []
    for i in range(6):
        out.append((yield context.call_activity("pid", None)))
    return len(out)


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext):
    current = context.get_state(lambda: 0)
    if context.operation_name == "add":
        current += context.get_input()
        context.set_state(current)
    context.set_result(current)
"""


@pytest.fixture
async def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[HostHarness]:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "function_app.py").write_text(textwrap.dedent(APP))
    (app_dir / "host.json").write_text('{"version": "2.0", "extensions": {"durableTask": {"hubName": "W"}}}')
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("WORKER_TEST_MARKS", str(marks))
    monkeypatch.setenv(SETTING, "2")
    async with running_host(app_dir, store="sqlite", data_dir=tmp_path / "data") as h:
        yield h


async def start(h: HostHarness, name: str) -> str:
    code, body, _ = await h.post(f"{WEBHOOK}/orchestrators/{name}", json=None)
    assert code == 202, body
    return str(body["id"])


async def test_user_code_runs_in_worker_processes(host: HostHarness) -> None:
    iid = await start(host, "pids")
    status = await host.wait_for(iid, timeout=60)
    assert status["runtimeStatus"] == "Completed", status
    out = status["output"]
    workers = {out["orchestrator"], *out["activities"]}
    assert os.getpid() not in workers  # nothing ran in the host (this test's) process
    assert len(workers) <= 2  # FUNCTIONS_WORKER_PROCESS_COUNT=2
    assert out["entity"] == 2


async def test_activity_failure_reads_as_in_process(host: HostHarness) -> None:
    iid = await start(host, "failing")
    status = await host.wait_for(iid, timeout=60)
    assert status["runtimeStatus"] == "Completed", status
    # the extension's wording for a failed Python activity (PROTOCOL §4.3), built in the worker
    assert "Activity function 'boom' failed:  ValueError: bad value x" in status["output"]


async def test_a_dead_worker_process_costs_a_retry_not_the_work(host: HostHarness, tmp_path: Path) -> None:
    iid = await start(host, "survivor")
    status = await host.wait_for(iid, timeout=90)
    assert status["runtimeStatus"] == "Completed", status
    value, pid_after = status["output"]
    assert value == "ok"
    died = int((tmp_path / "marks" / "died").read_text())
    assert pid_after != died  # a new worker process took over


async def test_an_instance_keeps_its_worker_process_and_session(host: HostHarness) -> None:
    """Episodes go to the process holding the instance's extended session: of a 6-step chain's
    7 episodes only the first misses (the last finds its session, then ends in a full replay)."""
    from durable_local.engine.session_guard import sdk_problem

    if sdk_problem() is not None:
        pytest.skip(f"extended sessions are off here: {sdk_problem()}")
    iid = await start(host, "steps")
    status = await host.wait_for(iid, timeout=60)
    assert status["runtimeStatus"] == "Completed" and status["output"] == 6, status
    workers = host.host.dispatcher.workers
    assert workers is not None
    stats = await workers.session_stats()
    assert sum(h for h, _ in stats) == 6 and sum(m for _, m in stats) == 1, stats


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", 0), ("1", 1), (" 4 ", 4), ("10", 10), ("0", AppLoadError), ("11", AppLoadError), ("two", AppLoadError)],
)
def test_process_count_setting(raw: str, expected: int | type[Exception]) -> None:
    env = {SETTING: raw}
    if isinstance(expected, int):
        assert process_count(env) == expected
    else:
        with pytest.raises(expected, match=SETTING):
            process_count(env)


async def test_the_cli_serves_this_repo_with_worker_processes(tmp_path: Path) -> None:
    """`python -m durable_local start` on this repo's app (whose folder also holds the running
    program, durable_local/__main__.py) with FUNCTIONS_WORKER_PROCESS_COUNT=2: an order
    placed over HTTP completes, the log shows no traceback."""
    import aiohttp

    from tests.chaos.kit import HostProcess, request, set_stock, start_order
    from tests.e2e.conftest import make_order

    host = HostProcess(tmp_path, name="workers")
    host.env[SETTING] = "2"
    host.start(wait=60)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
            await set_stock(s, host.base_url, "SKU-W", 5)
            assert await start_order(s, host.base_url, make_order("wp-1", [("SKU-W", 2, 700)])) == 202
            for _ in range(600):
                code, body = await request(s, "GET", f"{host.base_url}{WEBHOOK}/instances/wp-1")
                if code == 200 and body["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
                    break
                await asyncio.sleep(0.1)
            assert body["runtimeStatus"] == "Completed", body
            code, stock = await request(s, "GET", f"{host.base_url}/api/inventory/SKU-W")
            assert (code, stock["quantity"], stock["reserved"]) == (200, 3, 0)
    finally:
        host.stop()
    assert "Traceback" not in host.log_text()
