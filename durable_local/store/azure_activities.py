"""Azure backend: activity work items on ``{hub}-workitems``.

A mixin of ``AzureStore`` (azure.py). The lease of an activity is the visibility timeout
of its queue message (so other processes cannot see it), plus a token and an expiry in the
callers' clock kept with the held message (so a virtual clock can expire it early, within
this process).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from azure.core.exceptions import AzureError

from ._common import new_token
from .azure_queues import Held, Queues
from .base import ACTIVITY_QUEUE, Message

log = logging.getLogger("durable_local.store")


class ActivityMixin:
    # provided by AzureStore
    _act_lock: threading.RLock
    queues: Queues
    _errors: Callable[[str], AbstractContextManager[None]]
    _check_open: Callable[[], None]
    _observe: Callable[[datetime], datetime]
    _now: Callable[[], datetime]
    _send: Callable[[Iterable[Message]], None]
    _validate: Callable[[Iterable[Message]], list[Message]]
    _lazy_receive: Callable[[], float | None]

    def claim_activities(self, now: datetime, limit: int, lease_seconds: float, owner: str) -> list[Message]:
        now = self._observe(now)
        out: list[Message] = []
        with self._act_lock, self._errors("claim activities"):
            self._check_open()
            self.queues.keep[ACTIVITY_QUEUE] = lease_seconds
            self.queues.receive(self.queues.workitems, lease_seconds, lazy=self._lazy_receive())
            for h in self.queues.due(ACTIVITY_QUEUE, now):
                if len(out) >= limit:
                    break
                if h.lease_expires is not None and h.lease_expires > now:
                    continue
                if not self._keep_hidden(h, lease_seconds):
                    continue
                h.msg.lease_token = new_token()
                h.lease_expires = now + timedelta(seconds=lease_seconds)
                h.lease_owner = owner
                out.append(h.out())
        return out

    def _keep_hidden(self, h: Held, lease_seconds: float) -> bool:
        """Make sure other processes won't see ``h`` for most of a lease (False: it's gone)."""
        if h.hidden_until - time.monotonic() >= lease_seconds / 2:
            return True
        return self.queues.update(h, lease_seconds)

    def complete_activity(self, item: Message, result: Message) -> None:
        (copy,) = self._validate([result])
        with self._errors("complete an activity"):
            self._check_open()
            with self._act_lock:
                held = self.queues.held.get(item.id)  # type: ignore[arg-type]
                if held is None or held.msg.queue != ACTIVITY_QUEUE:
                    return  # completed before (at-least-once delivery): write nothing
                self.queues.finish(held)  # no claim or second completion can take it now
            try:
                self._send([copy])  # the result first: a crash in between re-runs the activity
            except BaseException:
                self.queues.unfinish(held)  # not done: when its message shows again, it runs again
                raise
            result.id = copy.id
            try:
                self.queues.delete(held)
            except AzureError as exc:
                # the result is out, so the activity is done: not an error of the activity. Its
                # message shows again after its visibility timeout and is deleted then (finish)
                log.warning("activity work item %s for %s: its queue message could not be deleted yet (%s)",
                            item.id, item.target, type(exc).__name__)

    def abandon_activity(self, item: Message, delay_seconds: float = 0.0) -> None:
        with self._act_lock, self._errors("abandon an activity"):
            held = self.queues.held.get(item.id)  # type: ignore[arg-type]
            if held is None or held.msg.queue != ACTIVITY_QUEUE:
                return
            if item.lease_token is not None and held.msg.lease_token != item.lease_token:
                return  # re-claimed by another worker after our lease expired
            self._release(held, delay_seconds)

    def _release_activity_leases(self, is_dead: Callable[[str], bool]) -> int:
        """Forget the activity leases this process holds for the owners ``is_dead`` selects:
        their messages are still hidden from other processes, and claimable here again."""
        n = 0
        with self._act_lock:
            for h in list(self.queues.held.values()):
                if h.msg.queue == ACTIVITY_QUEUE and h.lease_owner is not None and is_dead(h.lease_owner):
                    h.msg.lease_token = h.lease_expires = h.lease_owner = None
                    n += 1
        return n

    def _release(self, held: Held, delay_seconds: float) -> None:
        """Unlease, count the dequeue, delay; the body is rewritten so other processes agree."""
        held.msg.lease_token = None
        held.lease_expires = None
        held.lease_owner = None
        held.msg.dequeue_count += 1
        if delay_seconds > 0:
            held.msg.visible_at = self._now() + timedelta(seconds=delay_seconds)
        self.queues.update(held, max(delay_seconds, 0.0), rewrite=True)
