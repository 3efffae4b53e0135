"""The store conformance suite runs every test on every selected backend.

Backends come from ``STORE_FACTORIES``; ``DURABLE_STORE_BACKENDS`` (comma separated, default
``memory,sqlite``) selects which run. Adding the Azure backend is one entry here (plus its
``azurite`` mark in ``BACKEND_MARKS``), e.g.::

    "azure": lambda d, clock: open_store("azure", d, connection_string=AZURITE, clock=clock),
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from storekit import FakeClock

from durable_local.store import open_store
from durable_local.store.base import Store
from tests.azurite import azure_test_store

StoreFactory = Callable[[Path, FakeClock], Store]

STORE_FACTORIES: dict[str, StoreFactory] = {
    "memory": lambda d, clock: open_store("memory", d, clock=clock),
    "sqlite": lambda d, clock: open_store("sqlite", d, clock=clock),
    "azure": lambda d, clock: azure_test_store(clock),  # tests/azurite.py: session Azurite, a hub per test
}
BACKEND_MARKS: dict[str, list[pytest.MarkDecorator]] = {"azure": [pytest.mark.azurite]}


def selected_backends() -> list[str]:
    names = [n.strip() for n in os.environ.get("DURABLE_STORE_BACKENDS", "memory,sqlite").split(",") if n.strip()]
    unknown = [n for n in names if n not in STORE_FACTORIES]
    if unknown:
        raise pytest.UsageError(f"DURABLE_STORE_BACKENDS names unknown backends {unknown}")
    return names


@pytest.fixture(params=[pytest.param(n, marks=BACKEND_MARKS.get(n, []), id=n) for n in selected_backends()])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(backend: str, tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    s = STORE_FACTORIES[backend](tmp_path, clock)
    yield s
    s.close()
