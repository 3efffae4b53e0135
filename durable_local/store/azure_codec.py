"""Azure backend codecs: resource names, keys, partitioning, large values, rows and messages.

Pure functions plus ``LargeValues`` (the blob offload), so the layout can be tested and read
by other tools without the store. The layout follows DurableTask.AzureStorage:

- tables ``{Hub}Instances`` (PartitionKey = instance id, RowKey "") and ``{Hub}History``
  (PartitionKey = instance id, RowKey = sequence as 16 upper-case hex digits, plus the
  ``sentinel`` row); queues ``{hub}-control-NN`` and ``{hub}-workitems``; blob container
  ``{hub}-largemessages``.
- Keys may not contain ``/ \\ # ?``, control characters or ``%``-escapes of them: those
  characters (and ``%`` itself) are percent-encoded, so ordinary ids are stored verbatim.
- A string column over ``LARGE_BYTES`` (45 KiB, measured in UTF-16 as the table service
  does) is gzip-compressed into a blob; the column holds "" and ``{Column}BlobName`` names
  the blob. A queue message body over 45 KiB (UTF-8) moves its payload to a blob named by
  ``CompressedBlobName``. Readers resolve both transparently.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from azure.data.tables import EdmType, EntityProperty

from ._common import dumps, utc
from .base import InstanceRecord, Message

LARGE_BYTES = 45 * 1024
SENTINEL = "sentinel"
MAX_VISIBILITY = 7 * 24 * 3600  # the queue service's limit on visibility timeouts
_INT32 = 2**31
_UNSAFE = re.compile(r"[/\\#?%\x00-\x1f\x7f-\x9f]")


# -- names ---------------------------------------------------------------------------------
def table_prefix(hub: str) -> str:
    """Table names are alphanumeric and start with a letter."""
    name = re.sub(r"[^A-Za-z0-9]", "", hub)
    if not name or not name[0].isalpha():
        name = "t" + name
    return name[:50]


def queue_prefix(hub: str) -> str:
    """Queue/container names: lower-case letters, digits and single dashes."""
    name = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", hub.lower())).strip("-")
    if len(name) < 3:
        name = (name + "hub")[:3] if name else "hub"
    return name[:45].rstrip("-")


def fnv1a32(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def partition_of(instance_id: str, partition_count: int) -> int:
    """DurableTask's control-queue assignment: FNV-1a-32 of the UTF-8 id, modulo the count."""
    return fnv1a32(instance_id.encode("utf-8")) % partition_count


def key_of(instance_id: str) -> str:
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", instance_id)


def id_of(key: str) -> str:
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), key)


def row_key(seq: int) -> str:
    return f"{seq:016X}"


def blob_prefix(instance_id: str) -> str:
    return key_of(instance_id).replace("%", "_") + "/"


# -- large values ----------------------------------------------------------------------------
def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass"))


class LargeValues:
    """Blob offload for big columns and message payloads (gzip, in ``{hub}-largemessages``)."""

    def __init__(self, upload: Callable[[str, bytes], None], download: Callable[[str], bytes]) -> None:
        self._upload = upload
        self._download = download

    def put(self, name: str, text: str) -> str:
        self._upload(name, gzip.compress(text.encode("utf-8"), compresslevel=6))
        return name

    def get(self, name: str) -> str:
        return gzip.decompress(self._download(name)).decode("utf-8")

    def set_column(self, entity: dict[str, Any], column: str, value: str | None, blob_name: str) -> None:
        """Store ``value`` in ``column`` (None: column absent), offloading it when large."""
        if value is None:
            return
        if utf16_len(value) > LARGE_BYTES:
            entity[column] = ""
            entity[column + "BlobName"] = self.put(blob_name, value)
        else:
            entity[column] = value

    def column(self, entity: dict[str, Any], column: str) -> str | None:
        blob = entity.get(column + "BlobName")
        if blob:
            return self.get(blob)
        value = entity.get(column)
        return None if value is None else str(value)


# -- instance rows ---------------------------------------------------------------------------
_RECORD_TEXT = {
    "Input": "input",
    "Output": "output",
    "CustomStatus": "custom_status",
    "EntityState": "entity_state",
}


def record_columns(rec: InstanceRecord, etag: int, large: LargeValues, token: str) -> dict[str, Any]:
    """The Instances-table columns of a record (also copied into the sentinel row)."""
    cols: dict[str, Any] = {
        "InstanceId": rec.instance_id,
        "Name": rec.name,
        "Version": rec.version,
        "ExecutionId": rec.execution_id,
        "RuntimeStatus": rec.runtime_status,
        "CreatedTime": utc(rec.created_time),
        "LastUpdatedTime": utc(rec.last_updated_time),
        "Etag": etag,
        "EntityExists": rec.entity_exists,
    }
    if rec.parent_instance_id is not None:
        cols["ParentInstanceId"] = rec.parent_instance_id
    prefix = blob_prefix(rec.instance_id)
    for column, attr in _RECORD_TEXT.items():
        large.set_column(cols, column, getattr(rec, attr), f"{prefix}instance-{token}-{column}.json.gz")
    return cols


def columns_record(instance_id: str, cols: dict[str, Any], large: LargeValues) -> InstanceRecord:
    def when(column: str) -> datetime:
        return utc(cols[column])

    return InstanceRecord(
        instance_id=instance_id,
        name=cols.get("Name", ""),
        runtime_status=cols.get("RuntimeStatus", ""),
        created_time=when("CreatedTime"),
        last_updated_time=when("LastUpdatedTime"),
        execution_id=cols.get("ExecutionId", ""),
        version=cols.get("Version", ""),
        input=large.column(cols, "Input"),
        output=large.column(cols, "Output"),
        custom_status=large.column(cols, "CustomStatus"),
        parent_instance_id=cols.get("ParentInstanceId"),
        entity_state=large.column(cols, "EntityState"),
        entity_exists=bool(cols.get("EntityExists", False)),
        etag=int(cols.get("Etag", 0)),
    )


RECORD_COLUMNS = (
    "InstanceId", "Name", "Version", "ExecutionId", "RuntimeStatus", "CreatedTime", "LastUpdatedTime", "Etag",
    "EntityExists", "ParentInstanceId",
    *[c for col in _RECORD_TEXT for c in (col, col + "BlobName")],
)  # fmt: skip


# -- history rows ----------------------------------------------------------------------------
_EVENT_TYPES = (
    "ExecutionStarted", "ExecutionCompleted", "ExecutionFailed", "ExecutionTerminated", "TaskScheduled",
    "TaskCompleted", "TaskFailed", "SubOrchestrationInstanceCreated", "SubOrchestrationInstanceCompleted",
    "SubOrchestrationInstanceFailed", "TimerCreated", "TimerFired", "OrchestratorStarted", "OrchestratorCompleted",
    "EventSent", "EventRaised", "ContinueAsNew", "GenericEvent", "HistoryState", "ExecutionSuspended",
    "ExecutionResumed", "ExecutionRewound",
)  # fmt: skip


def event_type_name(value: Any) -> str:
    """DTFx stores EventType as the enum member's name."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(_EVENT_TYPES):
        return _EVENT_TYPES[value]
    return str(value)


_RESERVED = {"PartitionKey", "RowKey", "Timestamp", "ExecutionId", "EventJson", "EventType"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")


def _display(value: Any) -> Any:
    """A table-storable form of an event field, for tools (the row's EventJson is the truth)."""
    if isinstance(value, bool | float | str):
        return value
    if isinstance(value, int):
        return value if -_INT32 <= value < _INT32 else EntityProperty(value, EdmType.INT64)
    return dumps(value)


def history_row(
    key: str, seq: int, execution_id: str, event: dict[str, Any], large: LargeValues, token: str
) -> dict[str, Any]:
    """One History row: DTFx-style columns (``_Timestamp`` for the event's Timestamp, nested
    values as JSON text) plus ``EventJson``, the exact event, which is what reads return.
    ``token`` (the writer's claim) makes blob names unique, so a stale writer's uploads can
    never overwrite the blobs of the commit that won."""
    row: dict[str, Any] = {"PartitionKey": key, "RowKey": row_key(seq), "ExecutionId": execution_id}
    etype = event.get("EventType")
    if etype is not None:
        row["EventType"] = event_type_name(etype)
    prefix = f"{key.replace('%', '_')}/history-{row_key(seq)}-{token}"
    for k, v in event.items():
        column = "_Timestamp" if k == "Timestamp" else k
        if v is None or column in _RESERVED or column.endswith("BlobName") or not _IDENT.match(column):
            continue
        shown = _display(v)
        if isinstance(shown, str):
            large.set_column(row, column, shown, f"{prefix}-{column}.json.gz")
        else:
            row[column] = shown
    large.set_column(row, "EventJson", dumps(event), f"{prefix}-EventJson.json.gz")
    return row


def row_event(row: dict[str, Any], large: LargeValues) -> dict[str, Any]:
    text = large.column(row, "EventJson")
    if text is None:
        raise ValueError(f"history row {row.get('RowKey')} has no EventJson")
    event: dict[str, Any] = json.loads(text)
    return event


def entity_size(entity: dict[str, Any]) -> int:
    """A generous estimate of an entity's size on the wire (batches are capped at 4 MiB)."""
    return sum(len(k) + (utf16_len(v) if isinstance(v, str) else 16) for k, v in entity.items()) + 256


# -- queue messages --------------------------------------------------------------------------
def message_body(msg: Message, msg_id: int, dequeue_count: int, large: LargeValues) -> str:
    """The queue message text: JSON with our int id, the logical queue, target, visibility
    and either the payload or a ``CompressedBlobName`` when the body would exceed 45 KiB."""
    body: dict[str, Any] = {
        "Id": msg_id,
        "Queue": msg.queue,
        "Target": msg.target,
        "VisibleAt": None if msg.visible_at is None else utc(msg.visible_at).isoformat(),
        "DequeueCount": dequeue_count,
        "Payload": msg.payload,
    }
    text = json.dumps(body, separators=(",", ":"))
    if len(text) > LARGE_BYTES:
        name = f"{blob_prefix(msg.target)}message-{msg_id}.json.gz"
        body["Payload"] = None
        body["CompressedBlobName"] = large.put(name, dumps(msg.payload))
        text = json.dumps(body, separators=(",", ":"))
    return text


def body_message(text: str, large: LargeValues) -> Message:
    body = json.loads(text)
    payload = body.get("Payload")
    if body.get("CompressedBlobName"):
        payload = json.loads(large.get(body["CompressedBlobName"]))
    vis = body.get("VisibleAt")
    return Message(
        target=body["Target"],
        payload=payload,
        queue=body["Queue"],
        visible_at=None if vis is None else datetime.fromisoformat(vis),
        id=int(body["Id"]),
        dequeue_count=int(body.get("DequeueCount", 0)),
    )


def body_blob(text: str) -> str | None:
    blob = json.loads(text).get("CompressedBlobName")
    return str(blob) if blob else None
