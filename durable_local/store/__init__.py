"""Store backends behind one contract (base.py) and ``open_store`` to pick one by name.

The Azure Storage backend is imported lazily: its SDK dependencies are optional and slow
to import, and the memory/SQLite paths must not pay for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import (
    ACTIVITY_QUEUE,
    ORCHESTRATOR_QUEUE,
    RUNNING_STATES,
    TERMINAL_STATES,
    ConflictError,
    InstanceExistsError,
    InstanceQuery,
    InstanceRecord,
    Message,
    OrchestrationWorkItem,
    QueryResult,
    Store,
    StoreError,
)

__all__ = [
    "ACTIVITY_QUEUE",
    "ORCHESTRATOR_QUEUE",
    "RUNNING_STATES",
    "TERMINAL_STATES",
    "ConflictError",
    "InstanceExistsError",
    "InstanceQuery",
    "InstanceRecord",
    "Message",
    "OrchestrationWorkItem",
    "QueryResult",
    "Store",
    "StoreError",
    "open_store",
]

DEFAULT_SQLITE_FILE = "durable.db"


def open_store(kind: str, data_dir: Path, **opts: Any) -> Store:
    """Open a backend: ``"memory"``, ``"sqlite"`` (``<data_dir>/<filename>``, default
    durable.db; options ``synchronous``, ``busy_timeout``, ``clock``) or ``"azure"`` (options
    are passed to ``azure.AzureStore``). Unknown kinds raise ValueError."""
    if kind == "memory":
        from .memory import MemoryStore

        return MemoryStore(**opts)
    if kind == "sqlite":
        from .sqlite import SqliteStore

        filename = opts.pop("filename", DEFAULT_SQLITE_FILE)
        return SqliteStore(Path(data_dir) / filename, **opts)
    if kind == "azure":
        try:
            from .azure import AzureStore
        except ImportError as exc:  # the clients are the optional `azure` extra
            raise StoreError(
                f"the Azure Storage backend needs the Azure SDK clients ({exc.name} is missing): "
                "pip install 'durable-local[azure]'"
            ) from None

        return AzureStore(data_dir=data_dir, **opts)
    raise ValueError(f"unknown store kind {kind!r} (expected memory, sqlite or azure)")
