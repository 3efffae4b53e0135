"""A small history builder for driving orchestrators through the official SDK replay.

Builds the context envelope the Durable extension sends (PROTOCOL §2.1) with PascalCase history
events (§2.2); each ``episode`` starts with an ``OrchestratorStarted`` at a later time.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def ts(moment: datetime) -> str:
    """.NET-style UTC timestamp."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class History:
    """Append events episode by episode, then ``envelope()`` for the orchestrator handle."""

    def __init__(
        self,
        name: str,
        input_: Any = None,
        instance_id: str = "inst-1",
        parent_instance_id: str | None = None,
        start: datetime = START,
    ) -> None:
        self.instance_id = instance_id
        self.parent_instance_id = parent_instance_id
        self.now = start
        self.input_text = None if input_ is None else json.dumps(input_)
        self.events: list[dict[str, Any]] = []
        self._event(12)
        self._event(
            0,
            OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": uuid.uuid4().hex},
            ParentInstance=None,
            Name=name,
            Version="",
            Input=self.input_text,
            Tags=None,
            Correlation=None,
            ParentTraceContext=None,
            ScheduledStartTime=None,
            Generation=0,
        )

    def _event(self, event_type: int, event_id: int = -1, **fields: Any) -> History:
        self.events.append(
            {
                "EventType": event_type,
                "EventId": event_id,
                "IsPlayed": False,
                "Timestamp": ts(self.now),
                **fields,
            }
        )
        return self

    # --- episode boundaries -------------------------------------------------------------------
    def episode(self, advance: timedelta = timedelta(seconds=1)) -> History:
        """Close the previous episode and start a new one ``advance`` later."""
        self._event(13)
        for event in self.events:
            if event["EventType"] != 12:
                event["IsPlayed"] = True
        self.now += advance
        return self._event(12)

    # --- scheduling events (written by the host after the orchestrator ran) ---------------------
    def task_scheduled(self, event_id: int, name: str) -> History:
        return self._event(4, event_id, Name=name, Version="", Input=None)

    def timer_created(self, event_id: int, fire_at: datetime) -> History:
        return self._event(10, event_id, FireAt=ts(fire_at))

    def sub_created(self, event_id: int, name: str, instance_id: str | None) -> History:
        return self._event(7, event_id, Name=name, Version="", InstanceId=instance_id, Input=None)

    def event_sent(self, event_id: int, entity: str, operation: str) -> History:
        return self._event(
            14,
            event_id,
            InstanceId=entity,
            Name=operation,
            Input=json.dumps({"id": f"req-{event_id}", "op": operation}),
        )

    # --- completions ------------------------------------------------------------------------------
    def task_completed(self, event_id: int, result: Any) -> History:
        return self._event(5, TaskScheduledId=event_id, Result=json.dumps(result))

    def task_failed(self, event_id: int, reason: str, details: str = "{}") -> History:
        return self._event(6, TaskScheduledId=event_id, Reason=reason, Details=details)

    def timer_fired(self, event_id: int, fire_at: datetime) -> History:
        return self._event(11, TimerId=event_id, FireAt=ts(fire_at))

    def sub_completed(self, event_id: int, result: Any) -> History:
        return self._event(8, TaskScheduledId=event_id, Result=json.dumps(result))

    def sub_failed(self, event_id: int, reason: str, details: str = "{}") -> History:
        return self._event(9, TaskScheduledId=event_id, Reason=reason, Details=details)

    def event_raised(self, name: str, payload: Any) -> History:
        return self._event(15, Name=name, Input=json.dumps(payload))

    def entity_response(self, event_id: int, result: Any, error: bool = False) -> History:
        """Response to the entity call whose EventSent had ``event_id``."""
        message: dict[str, Any] = {"result": json.dumps(result)}
        if error:
            message["exceptionType"] = "Error"
        return self._event(15, Name=f"req-{event_id}", Input=json.dumps(message))

    # --- envelope ----------------------------------------------------------------------------------
    def envelope(self) -> str:
        return json.dumps(
            {
                "history": self.events,
                "input": self.input_text,
                "instanceId": self.instance_id,
                "isReplaying": any(e["IsPlayed"] for e in self.events if e["EventType"] == 0),
                "parentInstanceId": self.parent_instance_id,
                "upperSchemaVersion": 1,
                "upperSchemaVersionNew": 2,
                "longRunningTimerIntervalDuration": "3.00:00:00",
                "maximumShortTimerDuration": "6.00:00:00",
                "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
            }
        )
