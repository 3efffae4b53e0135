"""Azure backend tests: every test here needs Azurite (started once per session)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_local.store.azure import AzureStore
from tests.azurite import azure_test_store, shared_connection_string

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))  # storekit builders


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.azurite)


@pytest.fixture
def conn() -> str:
    return shared_connection_string()


@pytest.fixture
def store() -> Iterator[AzureStore]:
    s = azure_test_store()
    assert isinstance(s, AzureStore)
    yield s
    s.close()
