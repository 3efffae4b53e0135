"""Shadow replay: re-run the SDK's action list against the history the way the extension's
out-of-proc shim and DTFx do (PROTOCOL §3.3), to learn

* which sequence ids the SDK expects (DTFx allocates them while walking the history, so we
  must allocate them by walking the same history in the same order),
* which operations are new in this episode (their id has no scheduling event yet),
* whether the execution may complete (main coroutine done and no open tasks),
* whether the code still matches the recorded scheduling events (non-determinism).

Futures here are tiny synchronous promises: DTFx runs continuations synchronously while it
walks the history, and so do we.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .events import EventType, parse_timestamp
from .futures import Future, resolved, run_coroutine, when_all, when_any
from .messages import request_id_for
from .options import HTTP_ACTIVITY, EngineOptions
from .retry import RetryPolicy

NONDETERMINISM_HINT = "Was a change made to the orchestrator code after this instance had already started running?"
_SCHEDULING = {
    EventType.TaskScheduled: "an activity task",
    EventType.SubOrchestrationInstanceCreated: "a sub-orchestration task",
    EventType.TimerCreated: "a timer task",
    EventType.EventSent: "a send event task",
}


class ReplayFailure(Exception):
    """The instance must fail (non-determinism, unknown function); the text is the reason."""


class SessionDiverged(Exception):
    """An extended session cannot continue incrementally; the episode replays in full."""


class _Abort(BaseException):
    """Unwinds the synchronous continuation chain; not an ``Exception`` so that the
    coroutine driver does not mistake it for a failed await."""


@dataclass
class NewOp:
    kind: str  # activity | timer | suborch | entity
    id: int
    name: str = ""
    input: str | None = None
    fire_at: datetime | None = None
    canceled: bool = False
    instance_id: str = ""
    version: str = ""
    operation: str = ""
    signal: bool = False
    request_id: str = ""
    http_request: Any = None


@dataclass
class ShadowReplay:
    history: list[dict[str, Any]]
    actions: list[list[dict[str, Any]]]
    schema: int
    instance_id: str
    execution_id: str
    options: EngineOptions
    counter: int = 0
    now: datetime | None = None
    open: dict[int, Future] = field(default_factory=dict)
    new_ops: list[NewOp] = field(default_factory=list)
    continued_as_new: bool = False
    continue_input: str | None = None
    carried_events: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None
    failure_is_user_error: bool = False  # unknown function: reported as the orchestrator's failure
    main: Future | None = None
    # Extended sessions keep this object between episodes: the action list may grow and only
    # new events are walked (advance/record); "main done" is then "waiting for more actions".
    growing: bool = False

    def __post_init__(self) -> None:
        self._recorded = {e["EventId"]: e for e in self.history if e["EventType"] in _SCHEDULING and e["EventId"] >= 0}
        self._allocated: dict[int, tuple[int, str]] = {}  # id -> (scheduling EventType, name)
        self._waiters: dict[str, deque[Future]] = defaultdict(deque)
        self._buffered: dict[str, deque[Any]] = defaultdict(deque)
        self._more: Future | None = None  # growing mode: main consumed every action so far
        # timers the orchestrator awaits, by id: their actions (a later episode may flag one canceled)
        self._open_timers: dict[int, dict[str, Any]] = {}

    # -- DTFx primitives -------------------------------------------------------------------

    def _alloc(self, kind: EventType, name: str) -> int:
        i = self.counter
        self.counter += 1
        self._allocated[i] = (int(kind), name)
        return i

    def _is_new(self, i: int) -> bool:
        return i not in self._recorded

    def schedule_task(self, name: str, input_text: str | None, http_request: Any = None) -> Future:
        self._require("activity", name, self.options.has_activity(name))
        i = self._alloc(EventType.TaskScheduled, name)
        f = Future()
        self.open[i] = f
        if self._is_new(i):
            self.new_ops.append(NewOp("activity", i, name=name, input=input_text, http_request=http_request))
        return f

    def create_timer(self, fire_at: datetime, canceled: bool = False) -> Future:
        i = self._alloc(EventType.TimerCreated, "")
        f = Future()
        if self._is_new(i):
            self.new_ops.append(NewOp("timer", i, fire_at=fire_at, canceled=canceled))
        if canceled:
            f.resolve(False, "canceled")  # DTFx drops canceled timers from openTasks
        else:
            self.open[i] = f
        return f

    def create_sub(self, name: str, instance_id: str | None, input_text: str | None, version: str | None) -> Future:
        self._require("orchestrator", name, self.options.has_orchestrator(name))
        i = self._alloc(EventType.SubOrchestrationInstanceCreated, name)
        f = Future()
        self.open[i] = f
        if self._is_new(i):
            child = instance_id or f"{self.execution_id}:{i}"
            ver = self.options.default_version if version is None else version
            self.new_ops.append(NewOp("suborch", i, name=name, input=input_text, instance_id=child, version=ver))
        return f

    def send_entity(self, target: str, op: str, input_text: str | None, signal: bool) -> str:
        entity_name = target[1:].partition("@")[0]
        self._require("entity", entity_name, self.options.has_entity(entity_name))
        i = self._alloc(EventType.EventSent, target)
        recorded = self._recorded.get(i)
        if recorded is not None and recorded["EventType"] == EventType.EventSent:
            return str(json.loads(recorded["Input"])["id"])
        rid = request_id_for(self.instance_id, self.execution_id, i)
        if recorded is None:
            self.new_ops.append(
                NewOp("entity", i, instance_id=target, operation=op, input=input_text, signal=signal, request_id=rid)
            )
        return rid

    def wait_event(self, name: str) -> Future:
        f = Future()
        if self._buffered[name]:
            f.resolve(True, self._buffered[name].popleft())
        else:
            self._waiters[name].append(f)
        return f

    def retry(self, attempt: Callable[[], Future], options: dict[str, Any]) -> Future:
        policy = RetryPolicy.from_json(options)
        replay = self

        def loop() -> Generator[Future, Future, Any]:
            first_attempt = replay._clock()
            last: Any = None
            for n in range(policy.max_attempts):
                result = yield attempt()
                if result.ok:
                    return result.value
                last = result.value
                # DTFx RetryInterceptor: after the last attempt a zero-delay "dummy timer for
                # back-compat"; the SDK waits for it before surfacing the failure.
                if n + 1 == policy.max_attempts:
                    yield replay.create_timer(replay._clock())
                    break
                delay = policy.next_delay(n, first_attempt, replay._clock())
                if delay is None:  # retry timeout expired
                    yield replay.create_timer(replay._clock())
                    break
                yield replay.create_timer(replay._clock() + delay)
            raise RuntimeError(last)

        return run_coroutine(loop())

    def _clock(self) -> datetime:
        assert self.now is not None, "history must start with OrchestratorStarted"
        return self.now

    def _require(self, kind: str, name: str, exists: bool) -> None:
        if exists:
            return
        self.failure_is_user_error = True
        self._fail(self.options.missing_function_message(kind, name))

    def _fail(self, message: str) -> None:
        self.failure = message
        raise _Abort()

    # -- the shim: InvokeAPIFromAction -----------------------------------------------------

    def invoke(self, a: dict[str, Any]) -> Future:
        t = a.get("actionType")
        if t == 0:
            return self.schedule_task(a["functionName"], a.get("input"))
        if t == 1:
            return self.retry(lambda: self.schedule_task(a["functionName"], a.get("input")), a["retryOptions"])
        if t == 2:
            return self.create_sub(a["functionName"], a.get("instanceId"), a.get("input"), a.get("version"))
        if t == 3:
            return self.retry(
                lambda: self.create_sub(a["functionName"], a.get("instanceId"), a.get("input"), a.get("version")),
                a["retryOptions"],
            )
        if t == 4:
            self.continued_as_new = True
            self.continue_input = a.get("input")
            return resolved()
        if t == 5:
            f = self.create_timer(parse_timestamp(a["fireAt"]), bool(a.get("isCanceled")))
            timer_id = self.counter - 1  # the id create_timer just allocated
            if timer_id in self.open:
                self._open_timers[timer_id] = a
            return f
        if t == 6:
            return self.wait_event(a["externalEventName"])
        if t == 7:
            return self.wait_event(self.send_entity(a["instanceId"], a["operation"], a.get("input"), False))
        if t == 8:
            request = a["httpRequest"]
            text = json.dumps(request, separators=(",", ":"), ensure_ascii=False)
            return self.schedule_task(HTTP_ACTIVITY, text, http_request=request)
        if t == 9:
            self.send_entity(a["instanceId"], a["operation"], a.get("input"), True)
            return resolved()
        if t == 11:
            return when_any([self.invoke(c) for c in a["compoundActions"]])
        if t == 12:
            return when_all([self.invoke(c) for c in a["compoundActions"]])
        self._fail(f"Unsupported action type {t!r} returned by the orchestrator function.")
        raise AssertionError  # unreachable

    def _main(self) -> Generator[Future, Future, None]:
        if self.schema >= 1:
            # V2/V3 (ProcessAsyncActionsV2): one flat list, each action awaited in turn;
            # failures and cancellations are swallowed.
            i = 0
            while True:
                flat = self.actions[0] if self.actions else []
                if i < len(flat):
                    i += 1
                    yield self.invoke(flat[i - 1])
                elif self.growing:
                    self._more = Future()
                    yield self._more  # never resolved: see advance()
                else:
                    return
        for step in self.actions:  # V1: one list per yield, awaited with WhenAny
            futures = [(a, self.invoke(a)) for a in step]
            waitable = [f for a, f in futures if a.get("actionType") not in (4, 9)]
            if waitable:
                yield when_any(waitable)

    # -- the walk over the history (DTFx ProcessEvents) -------------------------------------

    def advance(self, new_actions: list[dict[str, Any]], events: list[dict[str, Any]]) -> ShadowReplay:
        """Growing mode, a later episode: the actions the SDK added since the last episode
        (the session sends only those) and this episode's first events. Raises
        SessionDiverged when that is not a plain continuation."""
        if not self.growing or self.schema < 1 or self.failure is not None or self.continued_as_new:
            raise SessionDiverged("the shadow replay cannot continue")
        if self._more is not None and new_actions:
            raise SessionDiverged("new actions after the orchestrator's last awaited one")
        if not self.actions:
            self.actions = [[]]
        self.actions[0].extend(new_actions)
        self.new_ops = []
        self._drop_canceled_timers()
        try:
            for e in events:
                self._process(e)
        except _Abort:
            pass
        return self

    def _drop_canceled_timers(self) -> None:
        """A timer the code canceled since it was created (``timer.cancel()`` flags its action):
        a full replay never opens it, so the growing shadow closes it too. Only the timers
        still open are looked at, not every action of the instance."""
        for timer_id, action in list(self._open_timers.items()):
            if timer_id not in self.open:
                del self._open_timers[timer_id]  # fired
            elif action.get("isCanceled"):
                del self._open_timers[timer_id]
                self.open.pop(timer_id).resolve(False, "canceled")

    def open_timer_actions(self) -> list[dict[str, Any]]:
        """The actions of the timers still open (the session stops watching the others)."""
        return [a for i, a in self._open_timers.items() if i in self.open]

    def record(self, events: list[dict[str, Any]]) -> None:
        """Growing mode: the scheduling events this episode stored for its new work."""
        for e in events:
            if e["EventType"] in _SCHEDULING and e["EventId"] >= 0:
                self._recorded[e["EventId"]] = e

    def run(self) -> ShadowReplay:
        try:
            for e in self.history:
                self._process(e)
        except _Abort:
            pass
        return self

    def _process(self, e: dict[str, Any]) -> None:
        t = e["EventType"]
        if t == EventType.OrchestratorStarted:
            ts = parse_timestamp(e["Timestamp"])
            self.now = ts if self.now is None else max(self.now, ts)
        elif t == EventType.ExecutionStarted:
            self.main = run_coroutine(self._main())
        elif t in _SCHEDULING:
            self._check_scheduled(e)
        elif t in (EventType.TaskCompleted, EventType.SubOrchestrationInstanceCompleted):
            self._settle(e.get("TaskScheduledId"), True, e.get("Result"))
        elif t in (EventType.TaskFailed, EventType.SubOrchestrationInstanceFailed):
            self._settle(e.get("TaskScheduledId"), False, e.get("Reason"))
        elif t == EventType.TimerFired:
            self._settle(e.get("TimerId"), True, None)
        elif t == EventType.EventRaised:
            self._raise_event(e)

    def _settle(self, task_id: Any, ok: bool, value: Any) -> None:
        f = self.open.pop(task_id, None) if isinstance(task_id, int) else None
        if f is not None:
            f.resolve(ok, value)

    def _raise_event(self, e: dict[str, Any]) -> None:
        if self.continued_as_new:
            # DTFx carries events raised after ContinueAsNew over to the next execution.
            self.carried_events.append(e)
            return
        name = e.get("Name") or ""
        waiters = self._waiters[name]
        if waiters:
            waiters.popleft().resolve(True, e.get("Input"))
        else:
            self._buffered[name].append(e.get("Input"))

    def _check_scheduled(self, e: dict[str, Any]) -> None:
        i = e["EventId"]
        t = EventType(e["EventType"])
        recorded_name = str(e.get("InstanceId") if t == EventType.EventSent else e.get("Name") or "")
        what = _SCHEDULING[t]
        prefix = (
            f"Non-Deterministic workflow detected: A previous execution of this orchestration scheduled "
            f"{what} with sequence ID {i} and name '{recorded_name}'"
        )
        actual = self._allocated.get(i)
        if actual is None:
            self._fail(
                f"{prefix}, but the current replay execution hasn't (yet?) scheduled this task. {NONDETERMINISM_HINT}"
            )
            return
        kind, name = actual
        if kind != t or name.lower() != recorded_name.lower():
            self._fail(
                f"{prefix}, but the current replay execution is attempting to schedule "
                f"{_SCHEDULING[EventType(kind)]} with name '{name}' at the same sequence ID. "
                f"{NONDETERMINISM_HINT}"
            )

    # -- results ------------------------------------------------------------------------------

    @property
    def main_done(self) -> bool:
        if self.growing:
            return self._more is not None
        return self.main is not None and self.main.done

    def summary(self) -> tuple[Any, ...]:
        """What an episode takes from the shadow replay (compared by the sessions' equality mode)."""
        return (
            self.new_ops,
            self.counter,
            self.main_done,
            sorted(self.open),
            self.continued_as_new,
            self.failure,
            self.carried_events,
        )

    @property
    def has_open_tasks(self) -> bool:
        return bool(self.open)


def walk_actions(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Actions depth first, compound ones followed by their children (the order they are invoked)."""
    out: list[dict[str, Any]] = []
    for a in actions:
        out.append(a)
        out.extend(walk_actions(a.get("compoundActions") or []))
    return out
