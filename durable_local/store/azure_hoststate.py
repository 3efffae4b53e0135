"""Host state on Azure Storage (see base.py): one table, ``{hub}HostState``, created on first
use. Values are rows of partition ``value``; locks are rows of partition ``lock`` written with
If-Match (or insert-if-absent), so two processes cannot both take a lock."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from ._common import utc
from .azure_codec import table_prefix


def _row_key(name: str) -> str:
    """RowKeys must not contain / \\ # ? or control characters: percent-encode them."""
    return quote(name, safe="")


class AzureHostState:
    """Mixed into AzureStore: uses its table service client and error mapping."""

    hub_name: str
    _services: tuple[Any, ...]
    _host_table: TableClient | None = None

    _errors: Callable[[str], AbstractContextManager[None]]  # AzureStore's storage error mapping

    def _host_state(self) -> TableClient:
        if self._host_table is None:
            table = self._services[0].get_table_client(f"{table_prefix(self.hub_name)}HostState")
            try:
                table.create_table()
            except ResourceExistsError:
                pass
            self._host_table = table
        return self._host_table

    def delete_host_state(self) -> None:
        """Drop the table (part of deleting the hub)."""
        try:
            self._services[0].delete_table(f"{table_prefix(self.hub_name)}HostState")
        except ResourceNotFoundError:
            pass
        self._host_table = None

    def get_host_value(self, key: str) -> str | None:
        with self._errors(f"read host state {key!r}"):
            try:
                row = self._host_state().get_entity("value", _row_key(key))
            except ResourceNotFoundError:
                return None
        return str(row["Value"])

    def put_host_value(self, key: str, value: str) -> None:
        with self._errors(f"write host state {key!r}"):
            entity = {"PartitionKey": "value", "RowKey": _row_key(key), "Value": str(value)}
            self._host_state().upsert_entity(entity, mode=UpdateMode.REPLACE)

    def acquire_host_lock(self, name: str, owner: str, now: datetime, seconds: float) -> bool:
        now = utc(now)
        entity = {
            "PartitionKey": "lock",
            "RowKey": _row_key(name),
            "Owner": owner,
            "Expires": now + timedelta(seconds=seconds),
        }
        with self._errors(f"take host lock {name!r}"):
            table = self._host_state()
            try:
                held = table.get_entity("lock", _row_key(name))
            except ResourceNotFoundError:
                try:
                    table.create_entity(entity)
                    return True
                except ResourceExistsError:
                    return False  # another process took it just now
            if held.get("Owner") != owner and utc(held["Expires"]) > now:
                return False
            try:
                table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=held.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return True
            except (ResourceModifiedError, ResourceNotFoundError):
                return False  # changed (or released) meanwhile: someone else's turn

    def release_host_lock(self, name: str, owner: str) -> None:
        with self._errors(f"release host lock {name!r}"):
            table = self._host_state()
            try:
                held = table.get_entity("lock", _row_key(name))
            except ResourceNotFoundError:
                return
            if held.get("Owner") != owner:
                return
            try:
                table.delete_entity(
                    "lock", _row_key(name), etag=held.metadata["etag"], match_condition=MatchConditions.IfNotModified
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                pass
