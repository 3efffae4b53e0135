"""Azure backend: orchestration episodes (claim, commit, abandon) on the sentinel protocol.

A mixin of ``AzureStore`` (azure.py), split out to keep modules small. Claim: receive the
control queues' visible messages into the held registry, group the due ones by instance in
order of their oldest message, and lease each instance by writing its sentinel If-Match.
Commit: one transaction (history rows + sentinel with the record and the outbox) If-Match
the claim's ETag, then project the Instances row, send the outbox, delete the consumed
messages and mark the outbox sent. See azure_tables.py for why that order is safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._common import json_copy, new_token, to_us
from .azure_codec import history_row, key_of, message_body, record_columns, row_event
from .azure_queues import Held, Queues
from .azure_tables import Stale, Tables
from .base import ORCHESTRATOR_QUEUE, ConflictError, InstanceRecord, Message, OrchestrationWorkItem

if TYPE_CHECKING:
    from .azure import _Claim
    from .azure_codec import LargeValues


class EpisodeMixin:
    # provided by AzureStore
    _lock: threading.RLock
    _claims: dict[str, _Claim]
    _leases: dict[str, _Claim]
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

    def claim_orchestrations(
        self, now: datetime, limit: int, lease_seconds: float, owner: str
    ) -> list[OrchestrationWorkItem]:
        now = self._observe(now)
        items: list[OrchestrationWorkItem] = []
        with self._lock, self._errors("claim orchestrations"):
            self._check_open()
            for qname in self.queues.control:
                self.queues.receive(qname, lease_seconds)
            groups: dict[str, list[Held]] = {}  # dict order: by each instance's oldest message
            for h in self.queues.due(ORCHESTRATOR_QUEUE, now):
                groups.setdefault(h.msg.target, []).append(h)
            for instance_id, held in groups.items():
                if len(items) >= limit:
                    break
                live = self._leases.get(instance_id)
                if live is not None and live.expires > now:
                    continue
                item = self._lease(instance_id, held, now, lease_seconds, owner)
                if item is not None:
                    items.append(item)
        return items

    def _lease(
        self, instance_id: str, held: list[Held], now: datetime, lease_seconds: float, owner: str
    ) -> OrchestrationWorkItem | None:
        from .azure import _Claim

        key = key_of(instance_id)
        s = self.tables.read_sentinel(key)
        if s.lease_token and s.lease_expires > to_us(now):
            return None  # leased by another process: its messages stay hidden with us
        if s.outbox_pending:
            for text in s.outbox:  # the last commit may have died before sending these
                self.queues.resend(text, self._delay)
        token = new_token()
        expires = now + timedelta(seconds=lease_seconds)
        leased = replace(
            s, lease_token=token, lease_owner=owner, lease_expires=to_us(expires), outbox_pending=False, outbox=[]
        )
        try:
            leased = self.tables.write_sentinel(leased)
        except Stale:
            return None
        live = [h for h in held if self._keep_hidden(h, lease_seconds)]
        if not live:  # all consumed elsewhere meanwhile: give the lease back
            try:
                self.tables.write_sentinel(replace(leased, lease_token="", lease_owner="", lease_expires=0))
            except Stale:
                pass
            return None
        claim = _Claim(instance_id, token, leased, expires)
        self._claims[token] = claim
        self._leases[instance_id] = claim
        history = [row_event(r, self.large) for r in self.tables.read_rows(key, s.history_count)]
        return OrchestrationWorkItem(
            instance_id=instance_id,
            instance=self._record(instance_id, s.record),
            history=history,
            messages=[h.out() for h in live],
            lease_token=token,
        )

    def _end_claim(self, claim: _Claim) -> None:
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
        with self._lock, self._errors(f"commit an episode of {item.instance_id!r}"):
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
            self._end_claim(claim)
            if instance is not None and cols is not None:
                instance.etag = counter
                self.tables.project(key, cols, counter)
                if replace_history and s.history_count > new.history_count:
                    self.tables.delete_rows(key, new.history_count)
            for c, m in zip(copies, out, strict=True):
                self.queues.send(c, self._delay(c.visible_at))
                m.id = c.id
            for mid in ids:
                gone = self.queues.held.get(mid)  # type: ignore[arg-type]
                if gone is not None and gone.msg.target == item.instance_id:
                    self.queues.delete(gone)
            if new.outbox_pending:
                self.tables.clear_outbox(new)

    def abandon_orchestration(self, item: OrchestrationWorkItem, delay_seconds: float = 0.0) -> None:
        with self._lock, self._errors(f"abandon an episode of {item.instance_id!r}"):
            claim = self._claims.get(item.lease_token)
            if claim is None:
                return
            self._end_claim(claim)
            released = replace(claim.sentinel, lease_token="", lease_owner="", lease_expires=0)
            try:
                self.tables.write_sentinel(released)
            except Stale:
                return  # someone else owns the instance now; their claim decides
            for m in item.messages:
                held = self.queues.held.get(m.id)  # type: ignore[arg-type]
                if held is not None:
                    self._release(held, delay_seconds)
