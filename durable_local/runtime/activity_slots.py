"""The activity slots of one host: how many activities run (at most
``maxConcurrentActivityFunctions``), which ones, and waking the activity loop when one frees.

A slot can also be reserved: an in-process orchestration job claims the activities its
episodes just sent (runtime/episode_runner.py) for the slots reserved while it runs, so the
activity loop does not claim them too.
"""

from __future__ import annotations

import asyncio
import contextlib

from durable_local.store.base import Message


class ActivitySlots:
    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.running = 0  # activities running plus slots reserved
        self.wake = asyncio.Event()  # the activity loop should claim again
        self.idle = asyncio.Event()  # set while no activity runs in this host
        self.idle.set()
        self._waiting = False  # the activity loop waits for a free slot
        self._inflight: dict[int | None, Message] = {}  # activity message id -> the running item

    @property
    def free(self) -> int:
        return self.limit - self.running

    async def wait_for_one(self) -> None:
        """Every slot is busy or reserved: wait until one frees (or anything else wakes us)."""
        self._waiting = True
        try:
            await self.wake.wait()
        finally:
            self._waiting = False

    async def let_run(self, wait: float) -> None:
        """In-process, before an orchestration claim: while activities run, wait for them up
        to ``wait`` s (the last episode's duration, capped). The SDK's replay and the activities
        share one GIL there; claiming at once re-ran a wide fan-in's whole history for every
        few completions (W7: 140 episodes for 5,000 activities instead of 7), starving the very
        activities it waits for. Never delays an idle host (no activity running)."""
        if self.idle.is_set() or wait < 0.001:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.idle.wait(), timeout=wait)

    def reserve(self) -> int:
        """Take every free slot for now; how many."""
        n = max(0, self.free)
        self.running += n
        return n

    def release(self, n: int) -> None:
        """Give back ``n`` reserved slots that were not used."""
        self._freed(n)

    def take(self, msg: Message) -> bool:
        """A claimed activity: True if it should run (it takes a slot, reserved or free), False
        if it already runs here (our own lease expired under a long virtual-clock jump and we
        claimed it again: the running one completes it, under the new lease token)."""
        running = self._inflight.get(msg.id)
        if running is not None:
            running.lease_token = msg.lease_token
            return False
        self.running += 1
        self.idle.clear()
        self._inflight[msg.id] = msg
        return True

    def done(self, msg: Message) -> None:
        self._inflight.pop(msg.id, None)
        self._freed(1)

    def _freed(self, n: int) -> None:
        self.running -= n
        if self.running == 0:
            self.idle.set()
        if n and self._waiting:
            self.wake.set()
