"""Replay recorded histories through the current orchestrator code (RELIABILITY R10/R11).

A stored history is a sequence of episodes ``[OrchestratorStarted, <messages>, <scheduling
events>, (ExecutionCompleted)?, OrchestratorCompleted]``. For every episode the replayer does
what the host did when it ran it: call the SDK with the past events plus that episode's
messages, then shadow-replay the returned actions (engine/replay.py) against the history
*including the scheduling events the recorded episode wrote*. So each recorded scheduling
event is checked against what the current code schedules at the same sequence id (DTFx's
non-determinism check), extra actions and a different ending are reported too, and the first
divergence stops the replay. The diverging episode is then re-run under a tracer
(locate.py) to name the orchestrator source line behind the new action.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from durable_local.engine.events import EventType, OrchestrationStatus
from durable_local.engine.options import EngineOptions
from durable_local.engine.replay import NONDETERMINISM_HINT, ShadowReplay
from durable_local.engine.sdk import SdkResult, build_envelope, call_orchestrator, mark_past

from .history_file import HistoryFile
from .locate import Location, SourceTrace, traced

_SCHEDULING = (
    EventType.TaskScheduled,
    EventType.SubOrchestrationInstanceCreated,
    EventType.TimerCreated,
    EventType.EventSent,
)
_ENDINGS = (EventType.ExecutionCompleted, EventType.ContinueAsNew)
_NOT_INPUT = (*_SCHEDULING, *_ENDINGS, EventType.OrchestratorCompleted)
_KIND_TEXT = {
    EventType.TaskScheduled: "activity task",
    EventType.SubOrchestrationInstanceCreated: "sub-orchestration task",
    EventType.TimerCreated: "timer task",
    EventType.EventSent: "send event task",
}


@dataclass
class Divergence:
    """The first place where the current code does not do what the history recorded."""

    kind: str  # nondeterminism | extra-action | completion | unknown-function | crash
    episode: int  # 1-based
    event_index: int  # position of the divergent event in the history (-1: none)
    event: dict[str, Any] | None
    recorded: str
    new: str
    message: str
    location: tuple[Location, ...] = ()


@dataclass
class ReplayReport:
    """Outcome of replaying one history."""

    instance_id: str
    name: str
    source: str
    episodes: int = 0
    divergence: Divergence | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.divergence is None

    def format(self) -> str:
        head = f"{self.instance_id} ({self.name})" + (f" from {self.source}" if self.source != self.instance_id else "")
        if self.divergence is None:
            lines = [f"OK   {head}: {self.episodes} episode(s) replayed, no divergence"]
        else:
            d = self.divergence
            lines = [f"FAIL {head}: {d.kind} in episode {d.episode}"]
            if d.event is not None:
                lines.append(f"  first divergent event: #{d.event_index} {describe_event(d.event)}")
            lines += [f"  recorded: {d.recorded}", f"  new:      {d.new}"]
            if d.location:
                lines.append(f"  at:       {d.location[0]}")
                lines += [f"            via {loc}" for loc in d.location[1:]]
            lines.append(f"  message:  {d.message}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def describe_event(e: dict[str, Any]) -> str:
    t = EventType(e["EventType"])
    bits = [t.name]
    if e.get("EventId", -1) >= 0:
        bits.append(f"EventId={e['EventId']}")
    for key in ("Name", "InstanceId", "FireAt", "TaskScheduledId", "TimerId"):
        if e.get(key) is not None:
            bits.append(f"{key}={e[key]!r}")
    if t == EventType.EventSent:
        bits.append(f"op={_request_op(e)!r}")
    return " ".join(bits) + f" at {e.get('Timestamp')}"


def _request_op(e: dict[str, Any]) -> str | None:
    try:
        return str(json.loads(e.get("Input") or "{}").get("op"))
    except (ValueError, AttributeError):
        return None


def _recorded_action(e: dict[str, Any]) -> str:
    t = EventType(e["EventType"])
    i = e["EventId"]
    if t == EventType.TimerCreated:
        return f"timer task firing at {e.get('FireAt')} (sequence id {i})"
    if t == EventType.EventSent:
        return f"send event task to '{e.get('InstanceId')}' op '{_request_op(e)}' (sequence id {i})"
    return f"{_KIND_TEXT[t]} '{e.get('Name')}' (sequence id {i})"


class _Shadow(ShadowReplay):
    """ShadowReplay that remembers which SDK action allocated each id and which recorded
    event it was checking when it failed."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.action_of: dict[int, dict[str, Any]] = {}
        self.checking: dict[str, Any] | None = None
        self._stack: list[dict[str, Any]] = []

    def invoke(self, a: dict[str, Any]) -> Any:
        self._stack.append(a)
        try:
            return super().invoke(a)
        finally:
            self._stack.pop()

    def _alloc(self, kind: EventType, name: str) -> int:
        i = super()._alloc(kind, name)
        if self._stack:
            self.action_of[i] = self._stack[-1]
        return i

    def _check_scheduled(self, e: dict[str, Any]) -> None:
        self.checking = e
        super()._check_scheduled(e)

    def describe(self, i: int) -> str:
        hit = self._allocated.get(i)
        if hit is None:
            return f"nothing at sequence id {i} (the current code has not scheduled it)"
        kind, name = hit
        t = EventType(kind)
        action = self.action_of.get(i)
        what = "timer task" if t == EventType.TimerCreated else f"{_KIND_TEXT[t]} '{name}'"
        if action is not None and action.get("operation"):
            what += f" op '{action['operation']}'"
        text = f"{what} (sequence id {i})"
        if action is not None:
            text += f" from action {json.dumps(action, separators=(',', ':'))[:300]}"
        return text


@dataclass
class _Run:
    result: SdkResult
    shadow: _Shadow
    trace: SourceTrace | None


class Replayer:
    """Replays histories with ``options`` (the app's registry, as the host builds it)."""

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        # Existence is checked by us on new actions only; names of recorded ones are
        # compared by the shadow replay, which gives the DTFx non-determinism message.
        self.lenient = dataclasses.replace(
            options, activity_exists=lambda _n: True, orchestrator_exists=lambda _n: True, entity_exists=lambda _n: True
        )

    def replay(self, doc: HistoryFile, *, locate: bool = True) -> ReplayReport:
        started = next((e for e in doc.history if e.get("EventType") == EventType.ExecutionStarted), None)
        instance_id = doc.instance_id or str(((started or {}).get("OrchestrationInstance") or {}).get("InstanceId"))
        report = ReplayReport(instance_id, doc.name, doc.source or instance_id)
        if started is None:
            report.notes.append("no ExecutionStarted in the history; nothing to replay")
            return report
        handle = self.options.resolve_orchestrator(doc.name)
        if handle is None:
            known = ", ".join(self.options.names("orchestrator"))
            report.divergence = Divergence(
                "unknown-function",
                1,
                -1,
                None,
                f"orchestrator '{doc.name}'",
                "no such orchestrator in the current app",
                f"The orchestrator '{doc.name}' is not registered (known: {known}).",
            )
            return report
        execution_id = str((started.get("OrchestrationInstance") or {}).get("ExecutionId") or "")
        past: list[dict[str, Any]] = []
        status = "Running"
        for number, (first, events) in enumerate(_episodes(doc.history), 1):
            report.episodes = number
            inputs = [e for e in events[1:] if e["EventType"] not in _NOT_INPUT]
            kinds = {e["EventType"] for e in inputs}
            status = _status_after(status, kinds)
            if EventType.ExecutionRewound in kinds:
                report.notes.append(f"episode {number} rewinds the instance; replay stops there")
                return report
            if not inputs or status in ("Terminated", "Suspended"):
                past += events
                continue
            # Every event counts as played, as in any later episode of the real host: the code
            # replays (``context.is_replaying``), so replay-safe orchestrator logging stays silent.
            hist = mark_past([*past, events[0], *inputs])
            recorded = [e for e in events if e["EventType"] in _SCHEDULING]
            run = self._run(handle, hist, recorded, instance_id, execution_id, trace=False)
            found = self._compare(run, events, first, number, report)
            if found is not None:
                if locate:
                    traced_run = self._run(handle, hist, recorded, instance_id, execution_id, trace=True)
                    found.location = _where(found, traced_run)
                report.divergence = found
                return report
            past += events
        return report

    # -- one episode ---------------------------------------------------------------------------

    def _run(
        self,
        handle: Any,
        hist: list[dict[str, Any]],
        recorded: list[dict[str, Any]],
        instance_id: str,
        execution_id: str,
        *,
        trace: bool,
    ) -> _Run:
        envelope = build_envelope(hist, instance_id, self.options)
        source: SourceTrace | None = None
        if trace:
            with traced() as source:
                result = call_orchestrator(handle, envelope)
        else:
            result = call_orchestrator(handle, envelope)
        shadow = _Shadow(
            history=[*hist, *recorded],
            actions=result.state.get("actions") or [],
            schema=int(result.state.get("schemaVersion") or 0),
            instance_id=instance_id,
            execution_id=execution_id,
            options=self.lenient,
        )
        shadow.run()
        return _Run(result, shadow, source)

    def _compare(
        self, run: _Run, events: list[dict[str, Any]], first: int, number: int, report: ReplayReport
    ) -> Divergence | None:
        shadow, result = run.shadow, run.result
        end_at = next((k for k, e in enumerate(events) if e["EventType"] in _ENDINGS), None)
        end = events[end_at] if end_at is not None else None
        if result.crash is not None and not _recorded_failure(end):
            return Divergence(
                "crash",
                number,
                first,
                events[0],
                _ending_text(end),
                f"the orchestrator crashed: {result.crash}",
                f"Orchestrator '{report.name}' could not run: {result.crash}",
            )
        if shadow.failure is not None:
            e = shadow.checking
            seq = None if e is None else int(e["EventId"])
            index = first + events.index(e) if e is not None and e in events else -1
            return Divergence(
                "nondeterminism",
                number,
                index,
                e,
                _recorded_action(e) if e else "?",
                shadow.describe(seq) if seq is not None else "?",
                shadow.failure,
            )
        if shadow.new_ops:
            op = shadow.new_ops[0]
            missing = self._missing_function(op)
            if missing:
                return Divergence(
                    "unknown-function", number, first, events[0], "nothing", shadow.describe(op.id), missing
                )
            oc = events[-1]
            return Divergence(
                "extra-action",
                number,
                first + len(events) - 1,
                oc,
                "the episode ended here with no more actions",
                shadow.describe(op.id),
                f"Non-Deterministic workflow detected: the current replay execution schedules "
                f"{shadow.describe(op.id).split(' from action')[0]} that a previous execution of this orchestration "
                f"did not schedule in episode {number}. {NONDETERMINISM_HINT}",
            )
        new_end = _new_ending(run)
        old_end = _ending_text(end)
        if new_end != old_end.split(" ", 1)[0]:
            index = first + (end_at if end_at is not None else len(events) - 1)
            return Divergence(
                "completion",
                number,
                index,
                events[index - first],
                old_end,
                new_end if new_end != "Running" else "still running (waiting for more events)",
                f"The current code ends the orchestration as {new_end} in episode {number} but the "
                f"history recorded {old_end}. {NONDETERMINISM_HINT}",
            )
        if end is not None and new_end == "Completed":
            new_out = result.state.get("output")
            old_out = _loads(end.get("Result"))
            if new_out != old_out:
                report.notes.append(f"the output differs from the recorded one (episode {number})")
        return None

    def _missing_function(self, op: Any) -> str | None:
        kind, name = {
            "activity": ("activity", op.name),
            "suborch": ("orchestrator", op.name),
            "entity": ("entity", op.instance_id[1:].partition("@")[0]),
        }.get(op.kind, ("", ""))
        exists = {
            "activity": self.options.has_activity,
            "orchestrator": self.options.has_orchestrator,
            "entity": self.options.has_entity,
        }.get(kind)
        if exists is None or exists(name):
            return None
        return f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function."


def _episodes(history: list[dict[str, Any]]) -> list[tuple[int, list[dict[str, Any]]]]:
    """(index of the first event, events) per episode; each starts at an OrchestratorStarted."""
    out: list[tuple[int, list[dict[str, Any]]]] = []
    for k, e in enumerate(history):
        if e["EventType"] == EventType.OrchestratorStarted or not out:
            out.append((k, []))
        out[-1][1].append(e)
    return out


def _status_after(status: str, kinds: set[int]) -> str:
    if EventType.ExecutionTerminated in kinds:
        return "Terminated"
    if EventType.ExecutionResumed in kinds:
        return "Running"
    if EventType.ExecutionSuspended in kinds:
        return "Suspended"
    return status


def _recorded_failure(end: dict[str, Any] | None) -> bool:
    return end is not None and end.get("OrchestrationStatus") == OrchestrationStatus.Failed


def _ending_text(end: dict[str, Any] | None) -> str:
    if end is None:
        return "Running (the episode did not end the orchestration)"
    if end["EventType"] == EventType.ContinueAsNew:
        return "ContinuedAsNew"
    status = OrchestrationStatus(int(end.get("OrchestrationStatus", 1))).name
    return f"{status} ({str(end.get('Result'))[:200]})"


def _new_ending(run: _Run) -> str:
    shadow, result = run.shadow, run.result
    if result.crash is not None:
        return "Failed"
    if not (shadow.main_done and not shadow.has_open_tasks and (result.state.get("isDone") or result.error)):
        return "Running"
    if result.error is not None:
        return "Failed"
    return "ContinuedAsNew" if shadow.continued_as_new else "Completed"


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def _where(found: Divergence, run: _Run) -> tuple[Location, ...]:
    if run.trace is None:
        return ()
    seq = None
    if found.kind == "nondeterminism" and found.event is not None:
        seq = int(found.event["EventId"])
        if seq not in run.shadow._allocated:
            last = run.trace.last_line
            return (last,) if last is not None else run.trace.last_yield
    elif found.kind in ("extra-action", "unknown-function") and run.shadow.new_ops:
        seq = run.shadow.new_ops[0].id
    elif found.kind in ("completion", "crash"):
        last = run.trace.last_line
        return (last,) if last is not None else ()
    return run.trace.where(seq)


def replay_documents(docs: list[HistoryFile], options: EngineOptions, *, locate: bool = True) -> list[ReplayReport]:
    """Replay several histories with one set of options."""
    replayer = Replayer(options)
    return [replayer.replay(d, locate=locate) for d in docs]
