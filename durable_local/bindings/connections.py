"""Storage connections of bindings and triggers: app setting → connection string → SDK client.

A binding's ``connection`` names an app setting (default ``AzureWebJobsStorage``); as in the
host, ``<name>`` is looked up first, then ``AzureWebJobs<name>``. ``UseDevelopmentStorage=true``
means Azurite on its default ports. The Azure Storage SDKs are imported on first use, so an
app without storage bindings runs without them installed. Clients are cached per connection
string (the SDK clients are thread-safe) and use short retries: a local run should say that
storage is unreachable in seconds, not after minutes of back-off.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

DEFAULT_SETTING = "AzureWebJobsStorage"
AZURITE_COMMAND = "npx azurite@3.35.0 --silent --skipApiVersionCheck --disableTelemetry --location /tmp/azurite &"
_INSTALL_HINT = (
    "the Azure Storage SDKs are not installed (pip install azure-storage-queue azure-storage-blob azure-data-tables)"
)


class StorageConnectionError(Exception):
    """A connection setting is missing or invalid, the SDKs are missing, or storage is unreachable."""


def setting_name(binding: dict[str, Any]) -> str:
    return str(binding.get("connection") or DEFAULT_SETTING)


def connection_string(setting: str) -> str:
    """The connection string behind ``setting`` (StorageConnectionError when it is not set)."""
    value = os.environ.get(setting) or os.environ.get(f"AzureWebJobs{setting}")
    if not value:
        raise StorageConnectionError(f"connection setting '{setting}' is not set (local.settings.json Values)")
    if "=" not in value:
        raise StorageConnectionError(f"connection setting '{setting}' is not a storage connection string")
    try:
        from durable_local.store.azure_conn import expand_connection_string
    except ImportError:
        raise StorageConnectionError(_INSTALL_HINT) from None
    return expand_connection_string(value)


def is_local_storage(setting: str) -> bool:
    """Whether ``setting`` points at an emulator on this machine (Azurite is then the fix)."""
    value = (os.environ.get(setting) or os.environ.get(f"AzureWebJobs{setting}") or "").replace(" ", "").lower()
    return any(mark in value for mark in ("usedevelopmentstorage=true", "//127.0.0.1:", "//localhost:"))


_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}


def _service(kind: str, conn: str) -> Any:
    key = (kind, conn)
    with _lock:
        client = _clients.get(key)
        if client is not None:
            return client
        try:
            if kind == "queue":
                from azure.storage.queue import QueueServiceClient as cls
            elif kind == "blob":
                from azure.storage.blob import BlobServiceClient as cls  # type: ignore[assignment]
            else:
                from azure.data.tables import TableServiceClient as cls  # type: ignore[assignment]
        except ImportError:
            raise StorageConnectionError(_INSTALL_HINT) from None
        try:
            client = cls.from_connection_string(conn, retry_total=2, connection_timeout=5, read_timeout=30)
        except ValueError as exc:
            raise StorageConnectionError(f"invalid storage connection string: {exc}") from None
        _clients[key] = client
        return client


def queue_service(setting: str) -> Any:
    """``QueueServiceClient`` for the connection named by ``setting``."""
    return _service("queue", connection_string(setting))


def blob_service(setting: str) -> Any:
    """``BlobServiceClient`` for the connection named by ``setting``."""
    return _service("blob", connection_string(setting))


def table_service(setting: str) -> Any:
    """``TableServiceClient`` for the connection named by ``setting``."""
    return _service("table", connection_string(setting))


def describe_error(exc: BaseException) -> str:
    """One line for a storage failure, never the account key."""
    message = getattr(exc, "message", None) or str(exc)
    first = str(message).strip().splitlines()[0] if str(message).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {first}"


def _cheap_request(kind: str, conn: str) -> Callable[[], object]:
    """One inexpensive call on the ``kind`` service; ImportError when its client is not installed."""
    opts: dict[str, Any] = {"retry_total": 0, "connection_timeout": 2, "read_timeout": 5}
    if kind == "queue":
        from azure.storage.queue import QueueServiceClient

        return lambda: QueueServiceClient.from_connection_string(conn, **opts).get_service_properties()
    if kind == "blob":
        from azure.storage.blob import BlobServiceClient

        return lambda: BlobServiceClient.from_connection_string(conn, **opts).get_service_properties()
    from azure.data.tables import TableServiceClient

    def first_page() -> object:
        tables = TableServiceClient.from_connection_string(conn, **opts)
        return next(iter(tables.list_tables(results_per_page=1).by_page()), None)

    return first_page


def probe(setting: str, kind: str) -> None:
    """Raise StorageConnectionError unless the ``kind`` (queue | blob | table) service answers."""
    conn = connection_string(setting)
    try:
        request = _cheap_request(kind, conn)
    except ImportError:
        raise StorageConnectionError(_INSTALL_HINT) from None
    try:
        request()
    except StorageConnectionError:
        raise
    except Exception as exc:
        raise StorageConnectionError(f"storage behind '{setting}' is unreachable ({describe_error(exc)})") from None
