"""Azure backend: queue primitives and the registry of messages this process holds a receipt for.

A queue message can only be updated or deleted with its latest pop receipt, and a queue
cannot list invisible messages. So the store remembers every message it *sent* (the send
returns a receipt) or *received*, keyed by our int message id, with the decoded message and
how long it is hidden. That registry ("held") is what lets the store:

- honour the contract's ``now`` argument (virtual clocks): a delayed message is hidden in the
  queue in real time, but the process that holds its receipt takes it as soon as the
  caller's ``now`` passes its ``VisibleAt`` (updating the message with the receipt);
- keep the messages of a leased instance, or a partially consumed work item, hidden from
  other processes while it decides what to do with them;
- answer ``next_visible_time`` and ``list_messages`` for invisible messages.

Other processes only see a message once its visibility timeout elapses in real time, then
judge it by its body (``VisibleAt``, the instance lease on the sentinel row), so sharing a
hub between processes is safe, with real-time (not virtual-time) latency. A receive or an
update by someone else invalidates our receipt: the next update fails (404/400) and the
entry is dropped.

A message can also be in a queue twice: a send whose reply was lost (connection reset,
response stalled past the read timeout) is retried by the SDK and enqueues the same body again,
and the outbox recovery re-sends bodies that may already be out. Both copies carry our id, so
a receive keeps one copy per id and deletes the others, and remembers the ids it has finished
(completed or consumed) to delete a late copy when it shows up: without that, a work item sent
twice ran its activity twice, the second time after the first had succeeded.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueServiceClient

from ._common import json_copy, utc
from .azure_codec import MAX_VISIBILITY, LargeValues, body_blob, body_message, message_body, partition_of
from .base import ACTIVITY_QUEUE, ORCHESTRATOR_QUEUE, Message

RECEIVE_CAP = 2048  # messages per queue per receive pass (bounds one claim's latency)
PAGE = 32  # the queue service's maximum batch
# how many finished message ids a process remembers to recognise late copies: far more than
# can finish within one visibility timeout (the time a copy can stay hidden before it shows)
FINISHED_MEMORY = 1 << 16

log = logging.getLogger("durable_local.store")


@dataclass
class Held:
    """A physical queue message we hold a receipt for, and what we know about it."""

    msg: Message  # decoded; ``lease_token`` is the activity lease (as in the memory store)
    qname: str
    msg_id: str
    receipt: str | None  # the SDK types it optional; a send or a receive always returns one
    blob: str | None
    hidden_until: float = 0.0  # time.monotonic() at which the queue shows it again
    lease_expires: datetime | None = None  # activity lease expiry, in the callers' clock
    lease_owner: str | None = None  # who holds the activity lease (release_dead_leases)

    @property
    def id(self) -> int:
        return self.msg.id  # type: ignore[return-value]

    def out(self) -> Message:
        m = self.msg
        return Message(m.target, json_copy(m.payload), m.queue, m.visible_at, m.id, m.dequeue_count, m.lease_token)


def seconds(value: float) -> int:
    """A visibility timeout in whole seconds within the service's limits (rounded up)."""
    return max(0, min(MAX_VISIBILITY, math.ceil(value)))


def _gone(exc: HttpResponseError) -> bool:
    """The message was deleted, or our receipt is stale (someone else received it)."""
    return exc.status_code in (400, 404)


class Queues:
    """The hub's queues (``{hub}-control-NN``, ``{hub}-workitems``) and the held registry."""

    def __init__(self, service: QueueServiceClient, prefix: str, partition_count: int, large: LargeValues) -> None:
        self.control = [f"{prefix}-control-{i:02d}" for i in range(partition_count)]
        self.workitems = f"{prefix}-workitems"
        self._clients = {n: service.get_queue_client(n) for n in [*self.control, self.workitems]}
        self._large = large
        self.held: dict[int, Held] = {}
        self._last_id = 0
        self._id_lock = threading.Lock()
        # for ``receive(..., lazy=...)``: queues this process sent to since their last receive
        # began, and when each queue was last found drained (time.monotonic())
        self._dirty: set[str] = set()
        self._drained: dict[str, float] = {}
        self._finished: OrderedDict[int, None] = OrderedDict()  # ids done here, oldest first
        self._finished_lock = threading.Lock()
        # how long this process hides what it sends, per queue kind: the lease of its latest
        # claim of that kind (0 until it claims). See ``send``.
        self.keep: dict[str, float] = {ORCHESTRATOR_QUEUE: 0.0, ACTIVITY_QUEUE: 0.0}

    # -- names and ids -----------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._clients)

    def qname_for(self, queue: str, target: str) -> str:
        if queue == ACTIVITY_QUEUE:
            return self.workitems
        if queue == ORCHESTRATOR_QUEUE:
            return self.control[partition_of(target, len(self.control))]
        raise ValueError(f"unknown queue {queue!r}")

    def new_id(self) -> int:
        """Ids grow with time (so they order messages across processes, like DTFx sequence
        numbers) and strictly within a process; the low digits make collisions unlikely."""
        with self._id_lock:
            candidate = time.time_ns() // 1000 * 1000 + random.randrange(1000)
            self._last_id = max(self._last_id + 1, candidate)
            return self._last_id

    # -- lifecycle ---------------------------------------------------------------------------
    def create(self, **kw: Any) -> None:
        for client in self._clients.values():
            try:
                client.create_queue(**kw)
            except ResourceExistsError:
                pass

    def delete_all(self) -> None:
        for client in self._clients.values():
            try:
                client.delete_queue()
            except ResourceNotFoundError:
                pass

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    # -- primitives --------------------------------------------------------------------------
    def _hide_sent(self, qname: str, queue: str, delay: float) -> int:
        """The visibility timeout of a message this process sends: its ``delay``, and at
        least the lease of this process's claims of that queue kind. A process that claims
        takes what it sends itself (its registry holds the send's receipt), as if it had
        received the message at once: no receive, no re-hide at the claim. A process that
        never claims (a client) leaves its messages visible to the hosts."""
        return seconds(max(delay, self.keep.get(queue, 0.0)))

    def _sent(self, qname: str, hide: int) -> None:
        """A visible message marks its queue for the next receive (after the send, so that a
        receive racing it is followed by another)."""
        if hide == 0:
            self._dirty.add(qname)

    def send(self, msg: Message, delay: float) -> Held:
        """Send ``msg`` (its ``id`` already assigned), hidden for ``delay`` real seconds
        (or longer, see ``_hide_sent``)."""
        assert msg.id is not None
        text = message_body(msg, msg.id, msg.dequeue_count, self._large)
        qname = self.qname_for(msg.queue, msg.target)
        hide = self._hide_sent(qname, msg.queue, delay)
        sent = self._clients[qname].send_message(text, visibility_timeout=hide, time_to_live=-1)
        self._sent(qname, hide)
        kept = Message(msg.target, json_copy(msg.payload), msg.queue, msg.visible_at, msg.id, msg.dequeue_count)
        held = Held(kept, qname, sent.id, sent.pop_receipt, body_blob(text), time.monotonic() + hide)
        # a claim on another thread may already have received it (a newer receipt): keep that
        return self.held.setdefault(msg.id, held)

    def resend(self, text: str, delay_for: Any) -> None:
        """Send a stored body again (outbox recovery); ``delay_for(visible_at)`` gives the delay."""
        msg = body_message(text, self._large)
        if self.finished(msg.id):  # type: ignore[arg-type]
            return  # it went out and was done with here: a copy would run its activity again
        qname = self.qname_for(msg.queue, msg.target)
        hide = self._hide_sent(qname, msg.queue, delay_for(msg.visible_at))
        sent = self._clients[qname].send_message(text, visibility_timeout=hide, time_to_live=-1)
        self._sent(qname, hide)
        held = Held(msg, qname, sent.id, sent.pop_receipt, body_blob(text), time.monotonic() + hide)
        self.held.setdefault(held.id, held)

    def receive(self, qname: str, hide: float, cap: int = RECEIVE_CAP, *, lazy: float | None = None) -> list[Held]:
        """Receive every visible message (up to ``cap``), hiding them for ``hide`` seconds;
        the registry keeps them (a fresh receipt supersedes an older one).

        ``lazy`` (seconds): skip the round trip if the queue was found drained less than
        ``lazy`` ago and this process sent nothing to it since. Messages this process sends
        are thus received at its next claim; only other processes' messages (and ones that
        reappear after a visibility timeout) may wait up to ``lazy`` longer. A send racing
        the receive leaves the queue marked (it is marked after the send, unmarked before
        the receive), so at worst it costs one more receive."""
        now = time.monotonic()
        if lazy is not None and qname not in self._dirty and now - self._drained.get(qname, -math.inf) < lazy:
            return []
        self._dirty.discard(qname)
        out = []
        hidden = seconds(max(hide, 1))
        until = now + hidden
        count = 0
        for qm in self._receive_pages(qname, hidden, cap):
            count += 1
            text = qm.content
            msg = body_message(text, self._large)
            known = self.held.get(msg.id)  # type: ignore[arg-type]
            if known is not None and known.msg_id == qm.id:
                known.receipt, known.hidden_until = qm.pop_receipt, until
                out.append(known)
                continue
            if known is not None or self.finished(msg.id):  # type: ignore[arg-type]
                self._delete_copy(qname, qm, msg)
                continue
            held = Held(msg, qname, qm.id, qm.pop_receipt, body_blob(text), until)
            self.held[msg.id] = held  # type: ignore[index]
            out.append(held)
        if count < cap:  # we saw the end of the visible messages
            self._drained[qname] = now
        else:
            self._drained.pop(qname, None)
        return out

    def _receive_pages(self, qname: str, hidden: int, cap: int) -> Iterator[Any]:
        """Pages of up to 32 until a short one (the SDK's pager asks once more for an empty
        page, one more round trip per receive)."""
        client = self._clients[qname]
        got = 0
        while got < cap:
            n = min(PAGE, cap - got)
            page = list(client.receive_messages(messages_per_page=n, visibility_timeout=hidden, max_messages=n))
            yield from page
            got += len(page)
            if len(page) < PAGE:
                return

    def update(self, held: Held, hide: float, *, rewrite: bool = False) -> bool:
        """Re-hide (and optionally rewrite the body of) a held message; False (and forgotten)
        if it is gone or our receipt went stale."""
        content = None
        if rewrite:
            content = message_body(held.msg, held.id, held.msg.dequeue_count, self._large)
        hidden = seconds(hide)
        try:
            qm = self._clients[held.qname].update_message(
                held.msg_id, pop_receipt=held.receipt, content=content, visibility_timeout=hidden
            )
        except HttpResponseError as exc:
            if _gone(exc):
                self.forget(held)
                return False
            raise
        held.receipt = qm.pop_receipt
        held.hidden_until = time.monotonic() + hidden
        return True

    def _delete_copy(self, qname: str, qm: Any, msg: Message) -> None:
        """Delete a second physical copy of message ``msg.id`` (we hold the other one, or
        finished it); if that fails it shows again after its visibility timeout, and goes then."""
        log.debug("deleting a duplicate of message %s for %s (dequeued %d times)", msg.id, msg.target, qm.dequeue_count)
        with contextlib.suppress(AzureError):
            self._clients[qname].delete_message(qm.id, pop_receipt=qm.pop_receipt)

    def finish(self, held: Held) -> None:
        """Forget ``held`` and remember its id as done: a copy received later is deleted."""
        self.forget(held)
        with self._finished_lock:
            self._finished[held.id] = None
            if len(self._finished) > FINISHED_MEMORY:
                self._finished.popitem(last=False)

    def unfinish(self, held: Held) -> None:
        with self._finished_lock:
            self._finished.pop(held.id, None)

    def finished(self, msg_id: int) -> bool:
        return msg_id in self._finished

    def delete(self, held: Held) -> None:
        """Delete a message we are done with. A 404 (the message is gone: a retry of a delete
        whose reply was lost, or someone else deleted it) or a stale receipt counts as done."""
        self.finish(held)
        try:
            self._clients[held.qname].delete_message(held.msg_id, pop_receipt=held.receipt)
        except HttpResponseError as exc:
            if not _gone(exc):
                raise

    def forget(self, held: Held) -> None:
        if self.held.get(held.id) is held:
            del self.held[held.id]

    def peek(self, qname: str) -> list[Message]:
        """Up to 32 visible messages, without changing anything."""
        return [body_message(qm.content, self._large) for qm in self._clients[qname].peek_messages(max_messages=PAGE)]

    def scan(self, qname: str) -> list[Held]:
        """Every visible message: receive them all, then make them visible again."""
        got = self.receive(qname, 30)
        for held in got:
            self.update(held, 0)
        return got

    def approximate_count(self, qname: str) -> int:
        return int(self._clients[qname].get_queue_properties().approximate_message_count or 0)

    def visible_for(self, target: str, queue: str | None = None) -> list[Message]:
        """Visible messages for ``target`` in its control queue and the work-item queue."""
        names = [self.qname_for(ORCHESTRATOR_QUEUE, target), self.workitems]
        if queue is not None:
            names = [self.qname_for(queue, target)]
        out: list[Message] = []
        for qname in names:
            peeked = self.peek(qname)
            if len(peeked) >= PAGE:
                peeked = [h.out() for h in self.scan(qname)]
            out += [m for m in peeked if m.target == target]
        return out

    def due(self, queue: str, now: datetime) -> list[Held]:
        """Held messages of ``queue`` whose VisibleAt has passed at ``now``, oldest first."""
        now = utc(now)
        return sorted(
            (
                h
                for h in list(self.held.values())
                if h.msg.queue == queue and (h.msg.visible_at is None or h.msg.visible_at <= now)
            ),
            key=lambda h: h.id,
        )
