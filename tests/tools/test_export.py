"""export: a stored instance becomes a history file that replays; replay --instance / --all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from durable_local.cli import main
from durable_local.testing import running_host
from durable_local.tools.history_file import FORMAT, read_history_file
from tests.e2e.conftest import make_order, stock

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "sandbox"))
    monkeypatch.setenv("APPROVAL_THRESHOLD_CENTS", "100000")
    monkeypatch.setenv("TASK_HUB_NAME", "ToolsHub")
    return tmp_path


async def test_export_then_replay_from_file_and_from_store(app_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = app_env / "durable"
    async with running_host(REPO, store="sqlite", data_dir=data) as h:
        await stock(h, "SKU-EXPORT", 5)
        await h.post("/api/orders", json=make_order("export-1", [("SKU-EXPORT", 1, 700)]))
        assert (await h.wait_for("export-1"))["runtimeStatus"] == "Completed"
    out = app_env / "export-1.json"
    args = ["--app-dir", str(REPO), "--data-dir", str(data)]
    assert main(["export", "export-1", "--out", str(out), *args]) == 0
    doc = json.loads(out.read_text())
    assert doc["format"] == FORMAT and doc["instance"]["instanceId"] == "export-1"
    assert doc["instance"]["name"] == "OrderSaga" and doc["instance"]["runtimeStatus"] == "Completed"
    assert doc["history"][0]["EventType"] == 12 and doc["history"][1]["EventType"] == 0
    assert read_history_file(out).name == "OrderSaga"

    capsys.readouterr()
    assert main(["replay", str(out), *args]) == 0
    assert main(["replay", "--instance", "export-1", *args]) == 0
    assert main(["replay", "--all", *args]) == 0
    text = capsys.readouterr().out
    assert "OK   export-1 (OrderSaga)" in text
    assert "3 of 3 histories replayed cleanly" in text  # the order and its two children

    assert main(["export", "export-1", "--out", "-", *args]) == 0  # to stdout
    assert json.loads(capsys.readouterr().out)["instance"]["instanceId"] == "export-1"

    # by default beside the store (ignored by git and left out of the package), never the app folder
    assert main(["export", "export-1:payment", *args]) == 0
    written = app_env / "durable" / "exports" / "export-1_payment.json"
    assert json.loads(written.read_text())["instance"]["instanceId"] == "export-1:payment"


def test_export_of_an_unknown_instance_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "nope", "--data-dir", str(tmp_path)]) == 2
    assert "no SQLite store" in capsys.readouterr().err


def test_replay_needs_something_to_replay(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--app-dir", str(REPO)]) == 2
    assert "--instance" in capsys.readouterr().err
