"""History files: one orchestration instance (metadata + full history of its current
execution) as JSON, so a history captured on SQLite or Azurite becomes a replay fixture.

Format (``"format": "durable_local.history/1"``)::

    {"format": "durable_local.history/1",
     "instance": {"instanceId", "name", "runtimeStatus", "executionId", "version", "input",
                  "output", "customStatus", "parentInstanceId", "createdTime", "lastUpdatedTime"},
     "history": [<history events exactly as stored, oldest first>]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_local.engine.events import EventType, format_timestamp
from durable_local.store.base import InstanceQuery, InstanceRecord, Store

FORMAT = "durable_local.history/1"


@dataclass
class HistoryFile:
    """An exported instance: ``instance`` metadata and its ``history`` events."""

    instance: dict[str, Any]
    history: list[dict[str, Any]]
    source: str = ""  # where it came from (file path or store id), for messages
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def instance_id(self) -> str:
        return str(self.instance.get("instanceId") or "")

    @property
    def name(self) -> str:
        """The orchestrator name: the metadata's, else the ExecutionStarted's."""
        if self.instance.get("name"):
            return str(self.instance["name"])
        started = next((e for e in self.history if e.get("EventType") == EventType.ExecutionStarted), None)
        return str(started.get("Name") or "") if started else ""

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "instance": self.instance, "history": self.history, **self.extra}


def record_metadata(record: InstanceRecord) -> dict[str, Any]:
    """The instance row as JSON-able metadata (JSON texts are kept as stored)."""
    return {
        "instanceId": record.instance_id,
        "name": record.name,
        "runtimeStatus": record.runtime_status,
        "executionId": record.execution_id,
        "version": record.version,
        "input": record.input,
        "output": record.output,
        "customStatus": record.custom_status,
        "parentInstanceId": record.parent_instance_id,
        "createdTime": format_timestamp(record.created_time),
        "lastUpdatedTime": format_timestamp(record.last_updated_time),
    }


def export_instance(store: Store, instance_id: str) -> HistoryFile:
    """Read one instance from a store; KeyError if it does not exist."""
    record = store.get_instance(instance_id)
    if record is None:
        raise KeyError(f"instance '{instance_id}' not found")
    return HistoryFile(record_metadata(record), store.get_history(instance_id), source=instance_id)


def all_orchestration_ids(store: Store) -> list[str]:
    """Every orchestration instance id in the store (entities excluded), paging through."""
    ids: list[str] = []
    token: str | None = None
    while True:
        page = store.query_instances(InstanceQuery(top=500, continuation=token))
        ids += [r.instance_id for r in page.instances]
        token = page.continuation
        if not token:
            return ids


def write_history_file(doc: HistoryFile, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_history_file(path: Path) -> HistoryFile:
    """Load a history file; also accepts a bare list of events (instance id unknown)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, list):
        return HistoryFile({"instanceId": Path(path).stem}, data, source=str(path))
    if not isinstance(data, dict) or not isinstance(data.get("history"), list):
        raise ValueError(f"{path}: not a history file (expected {{'instance': ..., 'history': [...]}})")
    extra = {k: v for k, v in data.items() if k not in ("format", "instance", "history")}
    return HistoryFile(dict(data.get("instance") or {}), data["history"], source=str(path), extra=extra)
