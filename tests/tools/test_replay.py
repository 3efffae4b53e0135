"""Replayer: the corpus replays cleanly (R11) and changed orchestrators are caught (R10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from durable_local.app_loader import load_app
from durable_local.cli import main
from durable_local.engine.replay import NONDETERMINISM_HINT
from durable_local.runtime.engine_options import engine_options
from durable_local.tools.history_file import HistoryFile, read_history_file
from durable_local.tools.replay import Replayer
from tests.tools import flows

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.fixture(scope="module")
def recorded() -> HistoryFile:
    return flows.record_v1()


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.json"))


def test_corpus_covers_the_main_order_paths() -> None:
    names = {p.name.split(".")[0] for p in corpus_files()}
    assert {"happy", "approval", "retry", "timeout", "decline", "robust"} <= names
    events = {e["EventType"] for p in corpus_files() for e in read_history_file(p).history}
    # activities, failures (retries), sub-orchestrations, timers, entity calls, external events
    assert {4, 5, 6, 7, 8, 10, 11, 14, 15} <= events


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem)
def test_corpus_history_replays_cleanly_on_current_code(path: Path) -> None:
    app = load_app(REPO)
    report = Replayer(engine_options(app.registry)).replay(read_history_file(path))
    assert report.ok, report.format()
    assert report.episodes >= 2


def test_unchanged_code_replays_cleanly(recorded: HistoryFile) -> None:
    report = Replayer(flows.options_for(flows.v1)).replay(recorded)
    assert report.ok and report.episodes == 5 and not report.notes


@pytest.mark.parametrize(
    ("body", "marker", "seq", "recorded_name", "new_text"),
    [
        (flows.renamed, "renamed", 0, "A", "activity task 'A2'"),
        (flows.swapped, "swapped", 0, "A", "activity task 'B'"),
        (flows.extra_timer, "extra timer", 1, "B", "timer task"),
        (flows.fewer, "fewer", 3, "C", "nothing at sequence id 3"),
        (flows.helper_renamed, "helper", 0, "A", "activity task 'A2'"),
    ],
)
def test_changed_orchestrator_is_reported_at_the_first_divergent_event(
    recorded: HistoryFile, body: flows.Body, marker: str, seq: int, recorded_name: str, new_text: str
) -> None:
    report = Replayer(flows.options_for(body)).replay(recorded)
    d = report.divergence
    assert d is not None and d.kind == "nondeterminism"
    assert d.event is not None and d.event["EventId"] == seq and d.event["Name"] == recorded_name
    assert recorded.history[d.event_index] is d.event or recorded.history[d.event_index] == d.event
    assert f"sequence ID {seq}" in d.message and f"'{recorded_name}'" in d.message
    assert NONDETERMINISM_HINT in d.message
    assert d.recorded.startswith(f"activity task '{recorded_name}'")
    assert d.new.startswith(new_text)
    assert d.location, "the source line of the orchestrator"
    where = d.location[0]
    assert Path(where.filename).name == "flows.py"
    assert where.lineno == flows.marker_line(getattr(flows, where.function), marker)


def test_extra_action_after_the_recorded_end_is_a_divergence(recorded: HistoryFile) -> None:
    report = Replayer(flows.options_for(flows.more)).replay(recorded)
    d = report.divergence
    assert d is not None and d.kind == "extra-action" and d.episode == 5
    assert "activity task 'A' (sequence id 4)" in d.new and NONDETERMINISM_HINT in d.message
    assert d.location[0].lineno == flows.marker_line(flows.more, "more")


def test_unknown_orchestrator_is_reported(recorded: HistoryFile) -> None:
    doc = HistoryFile({**recorded.instance, "name": "Gone"}, recorded.history)
    report = Replayer(flows.options_for(flows.v1)).replay(doc)
    assert report.divergence is not None and report.divergence.kind == "unknown-function"


def test_cli_replays_the_corpus_directory(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", "--app-dir", str(REPO), str(CORPUS)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(corpus_files())} of {len(corpus_files())} histories replayed cleanly" in out


def test_cli_exits_non_zero_and_names_the_divergence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads((CORPUS / "happy.corpus-happy--payment.json").read_text())
    for e in doc["history"]:
        if e.get("Name") == "ChargePayment":
            e["Name"] = "ChargeCard"  # as if the code had called ChargeCard when it ran
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    code = main(["replay", "--app-dir", str(REPO), str(path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "first divergent event: #" in out and "Name='ChargeCard'" in out
    assert "recorded: activity task 'ChargeCard' (sequence id 0)" in out
    assert "new:      activity task 'ChargePayment' (sequence id 0)" in out
    source = (REPO / "orchestrators" / "payment.py").read_text().splitlines()
    line = next(n for n, text in enumerate(source, 1) if "call_activity_with_retry(" in text)
    assert f"payment.py:{line} in PaymentOrchestrator" in out
    assert NONDETERMINISM_HINT in out
