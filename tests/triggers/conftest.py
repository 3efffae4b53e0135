"""Queue / blob triggers and Storage bindings: every test here needs Azurite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.azurite import shared_connection_string

APP = Path(__file__).parent / "storage_app"
NAMES = ("START_QUEUE", "OUT_QUEUE", "FAIL_QUEUE", "SLOW_QUEUE", "IN_CONTAINER", "OUT_CONTAINER", "TABLE")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and "no_azurite" not in item.keywords:
            item.add_marker(pytest.mark.azurite)


@pytest.fixture
def storage_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    """AzureWebJobsStorage on the session's Azurite, fresh queue/container/table names, a marks folder."""
    suffix = uuid.uuid4().hex[:10]
    env = {"AzureWebJobsStorage": shared_connection_string(), "TRIGGER_TEST_MARKS": str(tmp_path / "marks")}
    for name in NAMES:
        env[name] = (
            f"t{suffix}{name.split('_')[0].lower()}"
            if name == "TABLE"
            else f"t-{suffix}-{name.lower().replace('_', '-')}"
        )
    (tmp_path / "marks").mkdir()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
