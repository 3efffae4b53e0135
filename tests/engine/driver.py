"""A tiny in-memory host for engine tests: queues, a virtual clock, activities run inline,
entities and children driven by feeding the engine's outgoing messages back in."""

from __future__ import annotations

import asyncio
import inspect
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from durable_local.engine import (
    HTTP_ACTIVITY,
    EpisodeResult,
    activity_completed_message,
    activity_failed_message,
    client_event_message,
    registry_from_functions,
    run_entity_batch,
    run_orchestration_episode,
    start_instance,
)
from durable_local.engine.session import SessionCache
from durable_local.engine.session_guard import sdk_problem
from durable_local.store.base import ACTIVITY_QUEUE, InstanceRecord, Message, OrchestrationWorkItem

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@dataclass
class Driver:
    app: Any
    now: datetime = T0
    overrides: dict[str, Any] = field(default_factory=dict)
    run_http: bool = False

    def __post_init__(self) -> None:
        functions = getattr(self.app, "_engine_test_functions", None)
        if functions is None:  # get_functions() may only be called once per app object
            functions = self.app.get_functions()
            self.app._engine_test_functions = functions
        self.registry = registry_from_functions(functions)
        # extended sessions on (where the guard allows them), each incremental episode checked
        # against a full replay
        sessions = SessionCache(verify=True) if sdk_problem() is None else None
        overrides = {"sessions": sessions, **self.overrides}
        self.options = self.registry.options(**overrides)
        self.instances: dict[str, InstanceRecord] = {}
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.queue: list[Message] = []
        self.activity_queue: list[Message] = []
        self.results: list[tuple[str, EpisodeResult]] = []
        self.log: list[str] = []
        self._ids = 0

    # -- client side -----------------------------------------------------------------------

    def enqueue(self, *messages: Message) -> None:
        for m in messages:
            self._ids += 1
            m.id = self._ids
            (self.activity_queue if m.queue == ACTIVITY_QUEUE else self.queue).append(m)

    def start(self, name: str, value: Any = None, instance_id: str = "inst", version: str = "") -> str:
        text = None if value is None else json.dumps(value)
        record, msg = start_instance(instance_id, name, text, self.now, version=version)
        self.instances[instance_id] = record
        self.histories[instance_id] = []
        self.enqueue(msg)
        return instance_id

    def raise_event(self, instance_id: str, name: str, value: Any) -> None:
        self.enqueue(client_event_message(instance_id, name, json.dumps(value), self.now))

    # -- processing ------------------------------------------------------------------------

    def visible(self) -> list[Message]:
        return [m for m in self.queue if m.visible_at is None or m.visible_at <= self.now]

    def run_activities(self) -> bool:
        pending = [m for m in self.activity_queue if m.payload["name"] != HTTP_ACTIVITY or self.run_http]
        for work in pending:
            self.activity_queue.remove(work)
            self.enqueue(self.execute_activity(work))
        return bool(pending)

    def execute_activity(self, work: Message) -> Message:
        name = work.payload["name"]
        _, fn, binding = self.registry.activities[name.lower()]
        arg = ActivityTriggerConverter.decode(meta.Datum(type="string", value=work.payload["input"]),
                                              trigger_metadata=None)
        try:
            ret = fn(**{binding: arg})
            if inspect.iscoroutine(ret):
                ret = asyncio.run(ret)
            text = ActivityTriggerConverter.encode(ret, expected_type=None).value
        except Exception as exc:
            return activity_failed_message(work, exc, self.now)
        return activity_completed_message(work, text, self.now)

    def run_episodes(self) -> bool:
        visible = self.visible()
        targets = list(dict.fromkeys(m.target for m in visible))
        for target in targets:
            msgs = [m for m in visible if m.target == target]
            self.run_episode(target, msgs)
        return bool(targets)

    def run_episode(self, target: str, msgs: list[Message]) -> EpisodeResult:
        item = OrchestrationWorkItem(
            instance_id=target, instance=self.instances.get(target),
            history=[dict(e) for e in self.histories.get(target, [])], messages=msgs, lease_token="t")
        if target.startswith("@"):
            res = run_entity_batch(item, self.now, self.options)
        else:
            res = run_orchestration_episode(item, self.now, self.options)
        self.results.append((target, res))
        self.log.extend(res.log)
        consumed = set(res.consumed)
        assert consumed <= {m.id for m in msgs}
        self.queue = [m for m in self.queue if m.id not in consumed]
        if res.instance is not None:
            self.instances[target] = res.instance
            if res.replace_history:
                self.histories[target] = list(res.new_history)
            else:
                self.histories.setdefault(target, []).extend(res.new_history)
        self.enqueue(*res.outgoing)
        return res

    def step(self) -> bool:
        return self.run_activities() or self.run_episodes()

    def run(self, max_steps: int = 500, timers: bool = True, until: datetime | None = None) -> None:
        for _ in range(max_steps):
            if self.step():
                continue
            if not timers:
                return
            delayed = [m.visible_at for m in self.queue if m.visible_at is not None and m.visible_at > self.now]
            if not delayed:
                return
            nxt = min(delayed)
            if until is not None and nxt > until:
                return
            self.now = nxt + timedelta(milliseconds=1)
        raise AssertionError("driver did not settle")

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    # -- inspection ------------------------------------------------------------------------

    def status(self, instance_id: str = "inst") -> str:
        return self.instances[instance_id].runtime_status

    def output(self, instance_id: str = "inst") -> Any:
        text = self.instances[instance_id].output
        return None if text is None else json.loads(text)

    def history(self, instance_id: str = "inst") -> list[dict[str, Any]]:
        return self.histories[instance_id]

    def trace(self, instance_id: str = "inst", skip: tuple[int, ...] = (0, 12, 13)) -> list[str]:
        """Compact event list like 'TS(0)', 'TF(0)', 'TC(1)', 'TF#(1)' (timer fired)."""
        short = {4: "TS", 5: "TC", 6: "TF", 7: "SC", 8: "SCC", 9: "SCF", 10: "TMC", 11: "TMF", 14: "ES",
                 15: "ER", 1: "EC", 16: "CAN", 3: "TERM", 19: "SUS", 20: "RES", 21: "RWD"}
        out = []
        for e in self.histories[instance_id]:
            t = e["EventType"]
            if t in skip:
                continue
            i = e.get("TaskScheduledId", e.get("TimerId", e["EventId"]))
            out.append(f"{short.get(t, t)}({i})")
        return out
