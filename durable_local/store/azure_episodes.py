"""Azure backend: orchestration episodes (claim, commit, abandon) on the sentinel protocol.

A mixin of ``AzureStore`` (azure.py), split out to keep modules small. Claim: receive the
control queues' visible messages into the held registry, group the due ones by instance in
order of their oldest message, and lease each instance by writing its sentinel If-Match.
Commit: one transaction (history rows + sentinel with the record and the outbox) If-Match
the claim's ETag, then project the Instances row, send the outbox and delete the consumed
messages; the next claim's lease write marks the outbox sent. See azure_tables.py for why
that order is safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ._common import json_copy, new_token, to_us
from .azure_codec import history_row, key_of, message_body, record_columns, row_event
from .azure_queues import Held, Queues
from .azure_tables import Sentinel, Stale, Tables
from .base import ORCHESTRATOR_QUEUE, ConflictError, InstanceRecord, Message, OrchestrationWorkItem

T = TypeVar("T")

if TYPE_CHECKING:
    from .azure_codec import LargeValues


@dataclass
class Claim:
    """A live orchestration lease held by this process."""

    instance_id: str
    token: str
    sentinel: Sentinel  # as written by the claim (its etag guards the commit)
    expires: datetime
    history: list[dict[str, Any]]  # as handed out (the commit extends it for the cache)


class EpisodeMixin:
    # provided by AzureStore
    _claim_lock: threading.RLock
    _pool: ThreadPoolExecutor
    _claims: dict[str, Claim]
    _leases: dict[str, Claim]
    queues: Queues
    tables: Tables
    large: LargeValues
    _errors: Callable[[str], AbstractContextManager[None]]
    _check_open: Callable[[], None]
    _observe: Callable[[datetime], datetime]
    _now: Callable[[], datetime]
    _delay: Callable[[datetime | None], float]
    _keep_hidden: Callable[[Held, float], bool]
    _release: Callable[[Held, float], None]
    _validate: Callable[[Sequence[Message]], list[Message]]
    _record: Callable[[str, dict[str, Any] | None], InstanceRecord | None]
    _lazy_receive: Callable[[], float | None]
    _release_activity_leases: Callable[[Callable[[str], bool]], int]

    def claim_orchestrations(
        self, now: datetime, limit: int, lease_seconds: float, owner: str
    ) -> list[OrchestrationWorkItem]:
        now = self._observe(now)
        items: list[OrchestrationWorkItem] = []
        with self._claim_lock, self._errors("claim orchestrations"):
            self._check_open()
            self.queues.keep[ORCHESTRATOR_QUEUE] = lease_seconds
            lazy = self._lazy_receive()
            list(self._pool.map(lambda q: self.queues.receive(q, lease_seconds, lazy=lazy), self.queues.control))
            groups: dict[str, list[Held]] = {}  # dict order: by each instance's oldest message
            for h in self.queues.due(ORCHESTRATOR_QUEUE, now):
                groups.setdefault(h.msg.target, []).append(h)
            candidates = [
                (instance_id, held)
                for instance_id, held in groups.items()
                if (live := self._leases.get(instance_id)) is None or live.expires <= now
            ]
            # each lease is a few sequential round trips on its own instance's rows and messages:
            # run them concurrently, a wave of ``limit`` at a time (in order of the oldest message);
            # a lease that comes back empty (taken elsewhere) lets the next candidate in
            while candidates and len(items) < limit:
                wave, candidates = candidates[: limit - len(items)], candidates[limit - len(items) :]
                leased = self._run_all(
                    [partial(self._lease, instance_id, held, now, lease_seconds, owner) for instance_id, held in wave]
                )
                items += [item for item in leased if item is not None]
        return items

    def _lease(
        self, instance_id: str, held: list[Held], now: datetime, lease_seconds: float, owner: str
    ) -> OrchestrationWorkItem | None:
        # Only messages still in the registry: a commit of this instance that ended after the
        # claim took its snapshot of due messages has deleted (and forgotten) the ones it
        # consumed, and their Held objects still look hidden for a while. The check is sound
        # here because the caller saw no live local lease after the snapshot, and a commit
        # forgets its consumed messages before it ends its lease.
        held = [h for h in held if self.queues.held.get(h.id) is h]
        if not held:
            return None
        key = key_of(instance_id)
        cached = self.tables.cached(key)
        s = cached[0] if cached is not None else self.tables.read_sentinel(key)
        token = new_token()
        expires = now + timedelta(seconds=lease_seconds)
        while True:
            if s.lease_token and s.lease_expires > to_us(now):
                return None  # leased by another process: its messages stay hidden with us
            leased = replace(s, lease_token=token, lease_owner=owner, lease_expires=to_us(expires))
            if s.outbox_sent:  # our last commit sent it: this write says so
                leased = replace(leased, outbox_pending=False, outbox=[], outbox_sent=False)
            try:
                leased = self.tables.write_sentinel(leased, f"{key.replace('%', '_')}/outbox-{token}.json.gz")
                break
            except Stale:
                if cached is None:
                    return None  # another claimer won
                cached = None  # someone wrote since we cached: read again
                self.tables.forget(key)
                s = self.tables.read_sentinel(key)
        if leased.outbox_pending:
            # the last commit may have died before sending these. Sent only once the lease is
            # ours (a claim that fails before it sends nothing, so retried claims do not send
            # duplicates); marked sent in our copy of the sentinel, which the commit or the
            # abandon writes. A crash in between sends them again: at-least-once, the engine
            # drops duplicate completions by task id.
            for text in leased.outbox:
                self.queues.resend(text, self._delay)
            leased = replace(leased, outbox_pending=False, outbox=[])
        live = [h for h in held if self.queues.held.get(h.id) is h and self._keep_hidden(h, lease_seconds)]
        if not live:  # all consumed elsewhere meanwhile: give the lease back
            try:
                self.tables.write_sentinel(replace(leased, lease_token="", lease_owner="", lease_expires=0))
            except Stale:
                pass
            return None
        if cached is not None:
            history = cached[1]
        else:
            history = [row_event(r, self.large) for r in self.tables.read_rows(key, s.history_count)]
        claim = Claim(instance_id, token, leased, expires, history)
        self._claims[token] = claim
        self._leases[instance_id] = claim
        return OrchestrationWorkItem(
            instance_id=instance_id,
            instance=self._record(instance_id, s.record),
            history=json_copy(history),
            messages=[h.out() for h in live],
            lease_token=token,
        )

    def _end_claim(self, claim: Claim) -> None:
        self._claims.pop(claim.token, None)
        if self._leases.get(claim.instance_id) is claim:
            del self._leases[claim.instance_id]

    def commit_orchestration(
        self,
        item: OrchestrationWorkItem,
        *,
        instance: InstanceRecord | None,
        new_history: Sequence[dict[str, Any]],
        replace_history: bool = False,
        outgoing: Sequence[Message] = (),
        consumed: Sequence[int] | None = None,
    ) -> None:
        if instance is not None and instance.instance_id != item.instance_id:
            raise ValueError(f"record {instance.instance_id!r} does not belong to {item.instance_id!r}")
        events = json_copy(list(new_history))
        out = self._validate(outgoing)
        # no store lock: the lease makes the instance ours; the local lease (``_leases``) is
        # kept until the very end so that claims on other threads leave its messages alone
        with self._errors(f"commit an episode of {item.instance_id!r}"):
            self._check_open()
            claim = self._claims.get(item.lease_token)
            if claim is None or claim.instance_id != item.instance_id:
                raise ConflictError(f"lease on {item.instance_id!r} was lost")
            s = claim.sentinel
            key = key_of(item.instance_id)
            if instance is not None and instance.etag != s.counter:
                raise ConflictError(f"etag mismatch on {item.instance_id!r}: have {instance.etag}, stored {s.counter}")
            rows: list[dict[str, Any]] = []
            start, counter, cols = s.history_count, s.counter, s.record
            if instance is not None:  # None: consume-only, no row or history written
                start = 0 if replace_history else s.history_count
                rows = [
                    history_row(key, start + i, instance.execution_id, e, self.large, claim.token)
                    for i, e in enumerate(events)
                ]
                counter = s.counter + 1
                cols = record_columns(instance, counter, self.large, claim.token)
            copies = [Message(m.target, json_copy(m.payload), m.queue, m.visible_at) for m in out]
            for c in copies:
                c.id = self.queues.new_id()
            bodies = [message_body(c, c.id, 0, self.large) for c in copies]  # type: ignore[arg-type]
            ids = [m.id for m in item.messages] if consumed is None else list(consumed)
            new = replace(
                s,
                history_count=start + len(rows),
                counter=counter,
                execution_id=s.execution_id if instance is None else instance.execution_id,
                lease_token="",
                lease_owner="",
                lease_expires=0,
                outbox=bodies,
                outbox_pending=bool(bodies),
                record=cols,
            )
            try:
                new = self.tables.commit(new, rows, f"{key.replace('%', '_')}/outbox-{claim.token}.json.gz")
            except Stale:
                self._end_claim(claim)
                raise ConflictError(f"lease on {item.instance_id!r} was lost (the sentinel changed)") from None
            # committed: from here on, failures are repaired by the outbox / redelivery
            # two phases: consumed messages go only once the outgoing ones are out, so that a
            # crash in between leaves them to be redelivered and to trigger the outbox resend
            first: list[Callable[[], object]] = [
                partial(self.queues.send, c, self._delay(c.visible_at)) for c in copies
            ]
            if instance is not None and cols is not None:
                instance.etag = counter
                first.append(lambda: self.tables.project_visible(key, s.record, cols, counter, s.counter))
                if replace_history and s.history_count > new.history_count:
                    first.append(lambda: self.tables.delete_rows(key, new.history_count))
            self._run(first)
            for c, m in zip(copies, out, strict=True):
                m.id = c.id
            held = [self.queues.held.get(mid) for mid in ids]  # type: ignore[arg-type]
            then: list[Callable[[], object]] = [
                partial(self.queues.delete, h) for h in held if h and h.msg.target == item.instance_id
            ]
            self._run(then)
            # the outbox is out: the next claim's lease write clears it
            history = claim.history if instance is None else (claim.history if not replace_history else []) + events
            self.tables.remember(replace(new, outbox_sent=new.outbox_pending), history)
            self._end_claim(claim)

    def _run(self, tasks: list[Callable[[], object]]) -> None:
        """Run independent storage calls concurrently (one alone runs inline)."""
        self._run_all(tasks)

    def _run_all(self, tasks: list[Callable[[], T]]) -> list[T]:
        """Run independent tasks concurrently (one alone runs inline); their results in order.
        Every task is waited for before the first error is raised."""
        if len(tasks) == 1:
            return [tasks[0]()]
        futures = [self._pool.submit(t) for t in tasks]
        wait(futures)
        return [f.result() for f in futures]

    def release_dead_leases(self, is_dead: Callable[[str], bool]) -> int:
        """Give back the orchestration and activity leases this process holds for the owners
        ``is_dead`` selects (a claim whose reply was lost, a stopping host). Their messages stay
        in this process's held registry and are claimable again at once. Leases written by
        another process are not visible here; they expire."""
        n = 0
        with self._claim_lock, self._errors("release leases"):
            for claim in [c for c in self._claims.values() if is_dead(c.sentinel.lease_owner)]:
                released = replace(claim.sentinel, lease_token="", lease_owner="", lease_expires=0)
                try:
                    self.tables.remember(self.tables.write_sentinel(released), claim.history)
                except Stale:
                    pass  # someone else owns the instance now
                self._end_claim(claim)
                n += 1
        return n + self._release_activity_leases(is_dead)

    def abandon_orchestration(self, item: OrchestrationWorkItem, delay_seconds: float = 0.0) -> None:
        with self._errors(f"abandon an episode of {item.instance_id!r}"):
            claim = self._claims.get(item.lease_token)
            if claim is None:
                return
            released = replace(claim.sentinel, lease_token="", lease_owner="", lease_expires=0)
            try:
                self.tables.remember(self.tables.write_sentinel(released), claim.history)
            except Stale:
                self._end_claim(claim)
                return  # someone else owns the instance now; their claim decides
            for m in item.messages:
                held = self.queues.held.get(m.id)  # type: ignore[arg-type]
                if held is not None:
                    self._release(held, delay_seconds)
            self._end_claim(claim)
