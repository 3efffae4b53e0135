"""Logs an operator can follow: one line per orchestration outcome (with its duration and the
reason), failed entity operations worded as the Functions host words them, the order's trace on
each, and a replay that prints no orchestrator log line."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from durable_local.cli import main
from durable_local.testing import running_host

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
WEBHOOK = "/runtime/webhooks/durabletask"

APP = '''
import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def finishes(context):
    yield context.call_activity("noop", None)
    return "done"


@app.orchestration_trigger(context_name="context")
def breaks(context):
    yield context.call_activity("noop", None)
    raise ValueError("out of widgets")


@app.orchestration_trigger(context_name="context")
def loops(context):
    n = context.get_input() or 0
    yield context.call_activity("noop", None)
    if n < 1:
        context.continue_as_new(n + 1)
        return None
    return n


@app.orchestration_trigger(context_name="context")
def waits(context):
    yield context.wait_for_external_event("never")


@app.orchestration_trigger(context_name="context")
def asks_counter(context):
    try:
        yield context.call_entity(df.EntityId("Counter", "c1"), "explode")
    except Exception:
        return "entity failed"


@app.activity_trigger(input_name="value")
def noop(value):
    return value


@app.entity_trigger(context_name="context")
def Counter(context):
    if context.operation_name == "explode":
        raise ValueError("counters do not explode")
    context.set_state((context.get_state(lambda: 0) or 0) + 1)
'''


def _lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == logger]


async def test_one_line_per_outcome_with_duration_reason_and_trace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "function_app.py").write_text(APP)
    caplog.set_level(logging.INFO)
    async with running_host(tmp_path, store="memory") as h:
        for name, iid in (("finishes", "o-done"), ("breaks", "o-broken"), ("loops", "o-loop"),
                          ("waits", "o-wait"), ("asks_counter", "o-entity")):
            code, _, _ = await h.post(f"{WEBHOOK}/orchestrators/{name}/{iid}", json=0)
            assert code == 202, name
        await h.wait_until(lambda: _status_is(h, "o-wait", "Running"), what="o-wait running")
        code, _, _ = await h.post(f"{WEBHOOK}/instances/o-wait/terminate", params={"reason": "operator said so"})
        assert code == 202
        for iid in ("o-done", "o-broken", "o-loop", "o-wait", "o-entity"):
            await h.wait_for(iid)
        outcomes = _lines(caplog, "durable_local.trace")
        failures = _lines(caplog, "durable_local.dispatch")

    def outcome(iid: str) -> list[tuple[int, str]]:
        return [(lvl, m) for lvl, m in outcomes if m.startswith(f"{iid}: orchestration ") and " started" not in m]

    took = r"after \d+\.\d{3} s"
    [(level, line)] = outcome("o-done")
    assert level == logging.INFO and re.fullmatch(rf"o-done: orchestration finishes completed {took} \[trace=o-done\]",
                                                  line), line
    [(level, line)] = outcome("o-broken")
    assert level == logging.WARNING
    assert re.match(rf"o-broken: orchestration breaks failed {took}: Orchestrator function 'breaks' failed: "
                    r".*out of widgets", line), line
    assert line.endswith("[trace=o-broken]")
    loop = [m for _, m in outcome("o-loop")]
    assert len(loop) == 2 and re.match(rf"o-loop: orchestration loops continued as new {took}", loop[0]), loop
    assert re.match(rf"o-loop: orchestration loops completed {took}", loop[1]), loop
    [(_, line)] = outcome("o-wait")
    assert re.match(rf"o-wait: orchestration waits terminated {took}: operator said so \[trace=o-wait\]", line), line

    [(level, line)] = [(lvl, m) for lvl, m in failures if "(Entity)" in m]
    assert level == logging.WARNING
    assert re.match(r"@counter@c1: Function 'Counter \(Entity\)' failed 'explode' operation \S+: "
                    r".*counters do not explode.*\[trace=o-entity\]$", line), line


async def _status_is(h, iid: str, status: str) -> bool:  # type: ignore[no-untyped-def]
    st = await h.status(iid)
    return bool(st) and st["runtimeStatus"] == status


def test_replay_prints_no_orchestrator_log_line(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    assert main(["replay", "--app-dir", str(REPO), str(CORPUS)]) == 0, capsys.readouterr().out
    # OrderSaga logs "order …: reserving …" through its replay-safe logger when it really runs
    assert [r.getMessage() for r in caplog.records if r.name.startswith("orders.")] == []


def test_sdk_start_up_notices_are_hidden_unless_verbose() -> None:
    from durable_local.logs import QUIET_NOTICES, SdkNoticeFilter

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.INFO, __file__, 1, msg, None, None)

    quiet = SdkNoticeFilter()
    for notice in QUIET_NOTICES:
        assert not quiet.filter(record("azure.functions.DurableFunctions", notice + " ... not be repeated."))
    assert quiet.filter(record("durable_local.trace", "o-1: orchestration OrderSaga completed after 1.000 s"))
