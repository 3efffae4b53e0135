"""Group the dispatcher's store writes: many episode commits and activity completions, one
transaction, one fsync, one thread hand-off.

Under load, results arrive faster than one transaction each can be written; while a batch
is being written on the thread pool, the next writes queue up and go together in the next
batch. An idle host writes each result at once (a batch of one), so latency does not wait
for company.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class WriteBatcher:
    """Serialises store writes submitted on the event loop into batches (see module doc).

    ``run_sync(fn)`` runs ``fn`` on the dispatcher's thread pool; ``spawn(coro)`` starts a
    tracked task. A store with a ``batch()`` context manager (SQLite) applies a batch as
    one transaction in which each write is a savepoint; others apply them one by one."""

    def __init__(
        self,
        store: Any,
        run_sync: Callable[[Callable[[], Any]], Awaitable[Any]],
        spawn: Callable[[Awaitable[None]], None],
    ) -> None:
        self._store = store
        self._run_sync = run_sync
        self._spawn = spawn
        self._pending: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._flushing = False

    async def write(self, op: Callable[[], T]) -> T:
        """Run ``op`` (a store write) in the next batch; its result or exception is ours."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        if not self._flushing:
            self._flushing = True
            self._spawn(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                ops = [op for op, _ in batch]
                try:
                    results = await self._run_sync(partial(self._apply, ops))
                except BaseException as exc:  # cancelled at shutdown: nobody may wait forever
                    results = [(False, exc)] * len(batch)
                for (_, future), (ok, value) in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._flushing = False

    def _apply(self, ops: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        batch = getattr(self._store, "batch", None)
        try:
            with batch() if batch is not None and len(ops) > 1 else contextlib.nullcontext():
                for op in ops:
                    try:
                        results.append((True, op()))
                    except Exception as exc:  # this write failed alone (e.g. ConflictError)
                        results.append((False, exc))
        except Exception as exc:  # the batch's own commit failed: none of it was written
            return [(False, exc)] * len(ops)
        return results
