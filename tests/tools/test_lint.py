"""lint: every rule fires on the bad fixture app at the marked line; this repo's app is clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from durable_local.cli import main
from durable_local.tools.lint import lint_path

REPO = Path(__file__).resolve().parents[2]
BAD_APP = Path(__file__).resolve().parent / "lint_app"


def expected_markers() -> set[tuple[str, int, str]]:
    """(file name, line, code) for every ``# DLxxx`` marker in the fixture sources."""
    out = set()
    for path in BAD_APP.rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for code in re.findall(r"#.*?\b(DL\d{3})\b", line):
                out.add((path.name, n, code))
    return out


@pytest.fixture
def bad_app_env(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PYTHON_SCRIPT_FILE_NAME", "lintapp_main.py")
    return BAD_APP


def test_each_rule_fires_at_the_marked_line(bad_app_env: Path) -> None:
    report = lint_path(bad_app_env)
    found = {(Path(f.path).name, f.line, f.code) for f in report.findings}
    assert found == expected_markers()
    assert sorted(report.orchestrators) == ["badflows.bad.AsyncBad", "badflows.bad.Bad"]


def test_findings_name_file_line_and_the_deterministic_alternative(bad_app_env: Path) -> None:
    findings = sorted(lint_path(bad_app_env).findings, key=lambda f: (f.path, f.line), reverse=True)
    lines = {f.code: str(f) for f in findings}  # the first finding per code wins
    clock = r".*bad\.py:18:\d+: DL003 time\.time\(\) in Bad .* -> use context\.current_utc_datetime"
    assert re.match(clock, lines["DL003"])
    assert "context.new_uuid()" in lines["DL005"]
    assert "context.create_timer" in lines["DL004"]
    assert "call_activity" in lines["DL007"] and "task_all" in lines["DL009"]
    assert "yield from" in lines["DL002"]
    assert "did you mean" in lines["DL010"]


def test_unreachable_helpers_and_activities_are_not_flagged(bad_app_env: Path) -> None:
    report = lint_path(bad_app_env)
    assert not [f for f in report.findings if "never_reached" in f.message or (f.line == 24 and "helpers" in f.path)]


def test_names_are_not_checked_without_the_registry(bad_app_env: Path) -> None:
    report = lint_path(bad_app_env, load_registry=False)
    assert "DL010" not in {f.code for f in report.findings}


def test_single_file_is_linted_without_loading_an_app() -> None:
    report = lint_path(BAD_APP / "badflows" / "bad.py")
    assert {"DL001", "DL003", "DL004", "DL005", "DL007", "DL009"} <= {f.code for f in report.findings}


def test_cli_exits_1_on_findings(bad_app_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(bad_app_env)]) == 1
    out = capsys.readouterr().out
    assert "finding(s) in 2 file(s)" in out


def test_this_repos_app_lints_clean(capsys: pytest.CaptureFixture[str]) -> None:
    report = lint_path(REPO)
    assert report.findings == [], "\n".join(report.lines())
    assert len(report.orchestrators) >= 7 and not report.notes
    assert main(["lint", str(REPO)]) == 0
    assert "no findings" in capsys.readouterr().out
