"""pytest plugin (entry point ``pytest11``): the ``durable_host`` fixture.

Installed with the ``durable-local`` distribution, it loads in every pytest run of that
environment, so this module imports nothing heavy: the host is imported when a test asks
for the fixture. Configure it in ``pyproject.toml`` / ``pytest.ini``::

    [tool.pytest.ini_options]
    durable_app_dir = "."        # folder with function_app.py, relative to the rootdir
    durable_store = "memory"     # memory | sqlite | azure

and override per test with ``@pytest.mark.durable_host(app_dir="other_app", store="sqlite")``.
Disable it with ``-p no:durable_local``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from durable_local.testing.client import DurableHostClient

STORES = ("memory", "sqlite", "azure")
_MARKER_OPTIONS = ("app_dir", "store")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "durable_app_dir",
        "durable_host fixture: folder of the Function App under test (holds function_app.py), "
        "relative to the rootdir (default: the rootdir)",
        default=".",
    )
    parser.addini(
        "durable_store",
        "durable_host fixture: store backend, memory (default), sqlite or azure",
        default="memory",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "durable_host(app_dir=None, store=None): app folder and store of this test's durable_host fixture",
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    # Hosts started in this session ran the app's async code on the process-wide worker loop;
    # stop it (and the SDK's client session on it) so nothing is reported unclosed at exit.
    worker = sys.modules.get("durable_local.runtime.worker")
    if worker is not None:
        worker.shutdown_worker()


def _settings(request: pytest.FixtureRequest) -> tuple[Path, str]:
    """(app folder, store) from the marker, else the ini options, else the defaults."""
    marker = request.node.get_closest_marker("durable_host")
    kwargs = dict(marker.kwargs) if marker else {}
    unknown = sorted(set(kwargs) - set(_MARKER_OPTIONS))
    if unknown or (marker and marker.args):
        raise pytest.UsageError(
            f"@pytest.mark.durable_host takes only the keywords app_dir= and store= (got {unknown or marker.args})"
        )
    app_dir = kwargs.get("app_dir") or request.config.getini("durable_app_dir") or "."
    store = kwargs.get("store") or request.config.getini("durable_store") or "memory"
    if store not in STORES:
        raise pytest.UsageError(f"durable_store must be one of {', '.join(STORES)} (got {store!r})")
    path = Path(app_dir)
    if not path.is_absolute():
        path = request.config.rootpath / path
    return path.resolve(), str(store)


@pytest.fixture
def durable_host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DurableHostClient]:
    """The app under test served in-process on a free port, with a virtual clock.

    Works in plain and async tests: the host runs on its own thread; call its methods
    directly, or await them through ``durable_host.aio`` in an async test."""
    from durable_local.testing.client import DurableHostClient

    app_dir, store = _settings(request)
    with DurableHostClient(app_dir, store=store, data_dir=tmp_path / "durable") as client:
        yield client
