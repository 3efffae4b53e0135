"""The second half of an episode: given the accepted new events, produce the events to
append, the outgoing messages and the resulting status.

Terminate and suspend are decided without the SDK; otherwise the orchestrator runs once,
its actions are shadow-replayed (replay.py) and the completion rule of PROTOCOL §3.3 is
applied: the execution ends only when the action coroutine finished, no scheduled task is
still open, and the SDK reported ``isDone`` or an ``error``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from durable_local.store.base import Message

from . import events as ev
from .events import EventType, OrchestrationStatus
from .messages import (
    ENTITY_REQUEST_EVENT,
    activity_work_item,
    dumps_compact,
    entity_instance_id,
    request_message,
    split_entity_id,
    to_orchestrator,
)
from .options import EngineOptions
from .replay import NewOp, SessionDiverged, ShadowReplay
from .sdk import SdkResult, build_envelope, call_orchestrator, mark_past
from .session import Session, SessionKey, is_session_event, mismatch


class Outcome:
    def __init__(
        self,
        *,
        instance_id: str,
        started: dict[str, Any],
        past: list[dict[str, Any]],
        new_events: list[dict[str, Any]],
        now: datetime,
        options: EngineOptions,
        status: str,
        log: list[str],
    ) -> None:
        self.instance_id = instance_id
        self.started = started
        self.name: str = started["Name"]
        self.execution_id: str = started["OrchestrationInstance"]["ExecutionId"]
        self.past = past
        self.new_events = new_events
        self.now = now
        self.options = options
        self.status = status
        self.log = log
        self.output: str | None = None
        self.custom_status: str | None = None
        self.custom_status_set = False
        self.outgoing: list[Message] = []
        self.appended: list[dict[str, Any]] = []
        self._session: Session | None = None  # kept for the next episode if still running

    def run(self) -> list[dict[str, Any]]:
        os_event = ev.orchestrator_started(self.now)
        self.appended = [os_event, *self.new_events]
        sessions = self.options.sessions
        if sessions is not None and self.status != "Running":
            sessions.evict(self.instance_id)
        if self.status == "Terminated":
            term = next(e for e in self.new_events if e["EventType"] == EventType.ExecutionTerminated)
            self._end(OrchestrationStatus.Terminated, term.get("Input"), None, event_id=-1)
        elif self.status != "Suspended":
            self._execute(os_event)
        self.appended.append(ev.orchestrator_completed(self.now))
        self._keep_session()
        return self.appended

    def _keep_session(self) -> None:
        session, sessions = self._session, self.options.sessions
        if session is None or sessions is None or self.status != "Running":
            return
        try:
            session.record(self.appended[1 + len(self.new_events) :])
        except Exception:  # anything unexpected: no session, the next episode replays in full
            return
        last = self.appended[-1]
        stored = len(self.past) + len(self.appended)
        session.key = SessionKey(self.execution_id, stored, (last["EventType"], last["EventId"], last["Timestamp"]))
        sessions.put(self.instance_id, session)

    # -- the SDK call ------------------------------------------------------------------------

    def _execute(self, os_event: dict[str, Any]) -> None:
        self.status = "Running"
        handle = self.options.resolve_orchestrator(self.name)
        if handle is None:
            known = ", ".join(f"'{n}'" for n in self.options.names("orchestrator"))
            self._end(
                OrchestrationStatus.Failed,
                f"The function '{self.name}' doesn't exist, is disabled, or is not an orchestrator "
                f"function. Additional info: The following are the known orchestrator functions: {known}.",
                None,
                event_id=0,
            )
            return
        run = self._replay(handle, os_event)
        if run is None:
            return
        result, shadow = run
        if result.crash is not None:
            self._fail(result.crash, result.stack, event_id=0)
            return
        state = result.state
        self.custom_status_set = True
        custom = state.get("customStatus")
        self.custom_status = None if custom is None else dumps_compact(custom)
        if shadow.failure is not None:
            self.log.append(f"instance {self.instance_id} failed during replay: {shadow.failure}")
            if shadow.failure_is_user_error:
                self._fail(shadow.failure, "", event_id=shadow.counter)
            else:
                self._end(OrchestrationStatus.Failed, shadow.failure, None, event_id=shadow.counter)
            return
        for op in shadow.new_ops:
            self._dispatch(op)
        if not (shadow.main_done and not shadow.has_open_tasks and (state.get("isDone") or result.error)):
            return
        if result.error is not None:
            self._fail(result.error, result.stack, event_id=shadow.counter)
        elif shadow.continued_as_new:
            self._continue_as_new(shadow)
        else:
            out = state.get("output")
            self._end(
                OrchestrationStatus.Completed,
                None if out is None else dumps_compact(out),
                None,
                event_id=shadow.counter,
            )

    def _replay(self, handle: Any, os_event: dict[str, Any]) -> tuple[SdkResult, ShadowReplay] | None:
        """The SDK's OrchestratorState and the shadow replay for this episode: incremental when
        an extended session holds exactly the stored history, else a full replay (which starts
        a session). None when the instance was failed (equality-mode mismatch)."""
        sessions = self.options.sessions
        if sessions is None:
            return self._full(handle, os_event, keep=False)
        session = sessions.take(self.instance_id, SessionKey.of(self.execution_id, self.past), handle)
        if session is not None and session.due_for_replay(len(self.past)):
            session = None  # the history doubled since this session's full replay: check it again
        if session is None:
            first = self._full(handle, os_event, keep=True)
            if sessions.verify and self._session is not None:
                return self._verified(first, self._full(handle, os_event, keep=False, quiet=True), "session start")
            return first
        run = self._incremental(session, os_event, sessions.verify)
        if run is None:  # an ending or anything unexpected: the full replay decides (and verifies)
            return self._full(handle, os_event, keep=False)
        self._session = session
        if sessions.verify:
            return self._verified(run, self._full(handle, os_event, keep=False, quiet=True), "incremental episode")
        return run

    def _incremental(
        self, session: Session, os_event: dict[str, Any], verify: bool
    ) -> tuple[SdkResult, ShadowReplay] | None:
        if any(is_session_event(e) for e in self.new_events) or session.shadow is None:
            return None
        try:
            result = session.advance([os_event, *self.new_events], full=verify)
            state = result.state
            if result.crash is not None or result.error is not None or state.get("isDone"):
                return None
            new_actions = (state.get("actions") or [[]])[0]
            shadow = session.shadow.advance(new_actions, [os_event, *self.new_events])
            session.forget_closed_timers(shadow.open_timer_actions())
        except SessionDiverged:
            return None
        except Exception:  # the SDK's internals surprised us: never trust this session again
            return None
        if shadow.failure is not None or shadow.continued_as_new:
            return None
        return result, shadow

    def _full(
        self, handle: Any, os_event: dict[str, Any], *, keep: bool, quiet: bool = False
    ) -> tuple[SdkResult, ShadowReplay]:
        history = [*mark_past(self.past), os_event, *self.new_events]
        envelope = build_envelope(history, self.instance_id, self.options)
        if quiet:  # equality mode's second run: all replay, so replay-safe logging stays silent
            envelope = {**envelope, "history": [{**e, "IsPlayed": True} for e in history], "isReplaying": True}
        session = None
        if keep:
            session, result = Session.start(handle, envelope)
        else:
            result = call_orchestrator(handle, envelope)
        growing = session is not None and int(result.state.get("schemaVersion") or 0) >= 1
        shadow = ShadowReplay(
            history=history,
            actions=result.state.get("actions") or [],
            schema=int(result.state.get("schemaVersion") or 0),
            instance_id=self.instance_id,
            execution_id=self.execution_id,
            options=self.options,
            growing=growing,
        ).run()
        if session is not None and growing and _starts(session, shadow):
            session.shadow = shadow
            session.replayed_at = len(self.past)
            self._session = session
        return result, shadow

    def _verified(
        self, run: tuple[SdkResult, ShadowReplay], full: tuple[SdkResult, ShadowReplay], what: str
    ) -> tuple[SdkResult, ShadowReplay] | None:
        """Equality mode: the incremental run must equal the full replay byte for byte."""
        (result, shadow), (full_result, full_shadow) = run, full
        if result.raw != full_result.raw:
            problem = f"{what}: OrchestratorState differs: {result.raw!r} != {full_result.raw!r}"
        elif shadow.summary() != full_shadow.summary():
            problem = f"{what}: new work differs: {shadow.summary()!r} != {full_shadow.summary()!r}"
        else:
            return run
        self._session = None
        self._end(OrchestrationStatus.Failed, mismatch(self.instance_id, problem[:4000]), None, event_id=-1)
        return None

    # -- new work --------------------------------------------------------------------------

    def _dispatch(self, op: NewOp) -> None:
        now = self.now
        if op.kind == "activity":
            event = ev.task_scheduled(now, op.id, op.name, op.input)
            if op.http_request is not None:
                event["Input"] = dumps_compact([op.http_request])  # §3.11: the request object itself
            self.appended.append(event)
            self.outgoing.append(
                activity_work_item(
                    self.instance_id, self.execution_id, op.id, self.options.activity_name(op.name), op.input
                )
            )
        elif op.kind == "timer":
            assert op.fire_at is not None
            fire_at = ev.format_timestamp(op.fire_at)
            self.appended.append(ev.timer_created(now, op.id, fire_at))
            if not op.canceled:  # nobody waits for a timer that was canceled before it was created
                self.outgoing.append(
                    to_orchestrator(
                        self.instance_id,
                        ev.timer_fired(op.fire_at, op.id, fire_at),
                        execution_id=self.execution_id,
                        visible_at=op.fire_at,
                    )
                )
        elif op.kind == "suborch":
            self.appended.append(
                ev.sub_orchestration_created(now, op.id, op.name, op.instance_id, op.input, op.version)
            )
            parent = ev.parent_instance(self.name, self.instance_id, self.execution_id, op.id)
            start = ev.execution_started(
                now,
                instance_id=op.instance_id,
                execution_id=ev.new_execution_id(),
                name=op.name,
                input_text=op.input,
                version=op.version,
                parent=parent,
            )
            self.outgoing.append(to_orchestrator(op.instance_id, start))
        elif op.kind == "entity":
            target = entity_instance_id(*split_entity_id(op.instance_id))
            request = request_message(
                op=op.operation,
                request_id=op.request_id,
                signal=op.signal,
                now=now,
                input_json=None if op.input is None else dumps_compact(op.input),
                parent=self.instance_id,
                parent_execution=self.execution_id,
            )
            self.appended.append(ev.event_sent(now, op.id, target, ENTITY_REQUEST_EVENT, request))
            self.outgoing.append(to_orchestrator(target, ev.event_raised(now, ENTITY_REQUEST_EVENT, request)))

    # -- endings ---------------------------------------------------------------------------

    def _fail(self, error: str, stack: str, *, event_id: int) -> None:
        reason = f"Orchestrator function '{self.name}' failed: {error}"
        self._end(OrchestrationStatus.Failed, reason, f"Message: {error}, StackTrace: {stack}", event_id=event_id)

    def _end(self, status: OrchestrationStatus, result: str | None, details: str | None, *, event_id: int) -> None:
        self.status = status.name
        self.output = result
        self.appended.append(ev.execution_completed(self.now, event_id, status, result))
        parent = self.started.get("ParentInstance")
        if not parent:
            return
        pid = parent["OrchestrationInstance"]["InstanceId"]
        pexec = parent["OrchestrationInstance"].get("ExecutionId")
        task_id = int(parent["TaskScheduleId"])
        if status == OrchestrationStatus.Completed:
            notice = ev.sub_orchestration_completed(self.now, task_id, result)
        else:  # Failed and Terminated both surface as a failed sub-orchestration (§3.9)
            notice = ev.sub_orchestration_failed(self.now, task_id, result or "", details)
        self.outgoing.append(to_orchestrator(pid, notice, execution_id=pexec))

    def _continue_as_new(self, shadow: ShadowReplay) -> None:
        self.status = "ContinuedAsNew"
        text = shadow.continue_input
        self.appended.append(
            ev.continue_as_new(self.now, shadow.counter, None if text is None else dumps_compact(text))
        )
        new_exec = ev.new_execution_id()
        start = ev.execution_started(
            self.now,
            instance_id=self.instance_id,
            execution_id=new_exec,
            name=self.name,
            input_text=text,
            version=self.started.get("Version") or "",
            parent=self.started.get("ParentInstance"),
        )
        self.outgoing.append(to_orchestrator(self.instance_id, start))
        for carried in shadow.carried_events:
            event = {k: v for k, v in carried.items() if k != "IsPlayed"}
            event["IsPlayed"] = False
            self.outgoing.append(to_orchestrator(self.instance_id, event, execution_id=new_exec))


def _starts(session: Session, shadow: ShadowReplay) -> bool:
    """Hand the full replay's actions to a new session; False (no session) on any surprise."""
    try:
        session.started(shadow.actions[0] if shadow.actions else [])
    except Exception:
        return False
    return True
