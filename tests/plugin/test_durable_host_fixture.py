"""The pytest plugin's ``durable_host`` fixture: settings, marker, async use, errors.

Its everyday use (sync tests, the clock, events, entities) is in tests/e2e/test_approvals.py;
in a user's own venv and project in tests/distribution.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from durable_local.testing.client import DurableHostClient
from durable_local.testing.plugin import _settings

REPO = Path(__file__).resolve().parents[2]
FAN_OUT_INPUT = {"orderId": "fan", "items": [{"id": "a", "productId": "SKU-P", "quantity": 2, "unitPriceCents": 100}]}


@pytest.fixture(autouse=True)
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "sandbox"))


def _request(ini: dict[str, str], marker: Any = None, rootpath: Path = REPO) -> Any:
    """A stand-in for pytest's FixtureRequest: only what the settings lookup reads."""
    config = SimpleNamespace(getini=lambda name: ini.get(name, ""), rootpath=rootpath)
    node = SimpleNamespace(get_closest_marker=lambda name: marker)
    return SimpleNamespace(config=config, node=node)


def test_settings_come_from_the_marker_then_the_ini_then_the_defaults(tmp_path: Path) -> None:
    assert _settings(_request({})) == (REPO, "memory")
    assert _settings(_request({"durable_app_dir": "apps/one", "durable_store": "sqlite"}, rootpath=tmp_path)) == (
        tmp_path / "apps" / "one",
        "sqlite",
    )
    marker = pytest.mark.durable_host(app_dir=str(tmp_path), store="sqlite").mark
    assert _settings(_request({"durable_store": "memory"}, marker)) == (tmp_path, "sqlite")


@pytest.mark.parametrize(
    ("ini", "marker", "message"),
    [
        ({"durable_store": "postgres"}, None, "durable_store must be one of memory, sqlite, azure"),
        ({}, pytest.mark.durable_host(port=1).mark, "only the keywords app_dir= and store="),
        ({}, pytest.mark.durable_host("memory").mark, "only the keywords app_dir= and store="),
    ],
)
def test_bad_settings_are_usage_errors(ini: dict[str, str], marker: Any, message: str) -> None:
    with pytest.raises(pytest.UsageError, match=message):
        _settings(_request(ini, marker))


@pytest.mark.durable_host(store="sqlite")
def test_the_marker_picks_the_store(durable_host: DurableHostClient, tmp_path: Path) -> None:
    assert durable_host.store_kind == "sqlite" and durable_host.app_dir == REPO
    instance_id = durable_host.start("OrderOrchestrator", FAN_OUT_INPUT, instance_id="fan-sqlite")
    assert durable_host.wait_for(instance_id, "Completed")["output"]["total"] == 200
    assert (tmp_path / "durable" / "durable.db").is_file()


async def test_an_async_test_awaits_through_aio(durable_host: DurableHostClient) -> None:
    instance_id = await durable_host.aio.start("OrderOrchestrator", FAN_OUT_INPUT)
    other = await durable_host.aio.start("OrderOrchestrator", {**FAN_OUT_INPUT, "orderId": "fan-2"})
    done = await asyncio.gather(durable_host.aio.wait_for(instance_id), durable_host.aio.wait_for(other))
    assert [d["runtimeStatus"] for d in done] == ["Completed", "Completed"]
    history = await durable_host.aio.history(instance_id)
    assert history[0]["EventType"] == "ExecutionStarted" and history[-1]["EventType"] == "ExecutionCompleted"
    r = await durable_host.aio.get(f"/runtime/webhooks/durabletask/instances/{other}")
    assert r.status == 200 and r.body["name"] == "OrderOrchestrator"


def test_waiting_names_the_last_status(durable_host: DurableHostClient) -> None:
    with pytest.raises(AssertionError, match=r"did not reach \['Failed'\].*Completed"):
        instance_id = durable_host.start("OrderOrchestrator", FAN_OUT_INPUT)
        durable_host.wait_for(instance_id, "Completed")
        durable_host.wait_for(instance_id, "Failed", timeout=0.3)


def test_a_start_that_does_not_start_says_so(durable_host: DurableHostClient) -> None:
    with pytest.raises(AssertionError, match=r"start an orchestration: 400 .*'NoSuchOrchestrator' doesn't exist"):
        durable_host.start("NoSuchOrchestrator")
    with pytest.raises(AssertionError, match="did not start an orchestration: 400"):
        durable_host.start_http("/api/orders", json={"orderId": "x"})  # the app's validation


def test_an_app_that_fails_to_load_fails_the_fixture_clearly(tmp_path: Path) -> None:
    from durable_local.app_loader import AppLoadError

    with pytest.raises(AppLoadError, match=r"function_app\.py"), DurableHostClient(tmp_path):
        pass


def test_an_exported_history_replays_cleanly(durable_host: DurableHostClient, tmp_path: Path) -> None:
    from durable_local.cli import main

    instance_id = durable_host.start("OrderOrchestrator", FAN_OUT_INPUT, instance_id="fan-export")
    durable_host.wait_for(instance_id, "Completed")
    path = durable_host.export_history(instance_id, tmp_path / "histories" / "fan.json")
    assert main(["replay", str(path), "--app-dir", str(REPO), "--no-locate"]) == 0


def test_an_injected_store_fault_is_survived(durable_host: DurableHostClient) -> None:
    from durable_local.testing.faults import FaultPlan, history_lint

    # the first episode commit of this host fails once; the runtime retries the episode
    with FaultPlan(at=1, action="raise", names=["commit.before_commit"]) as plan:
        instance_id = durable_host.start("OrderOrchestrator", FAN_OUT_INPUT, instance_id="fan-fault")
        status = durable_host.wait_for(instance_id)
    assert plan.fired == ["commit.before_commit"]
    assert status["runtimeStatus"] == "Completed" and status["output"]["total"] == 200
    assert history_lint(durable_host.harness.store) == []
