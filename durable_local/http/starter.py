"""Durable starts from the HTTP API: store commits on dedicated threads, in batches.

``POST orchestrators/{name}`` validates and builds the rows on the event loop
(:func:`operations.prepare_start`), then hands them to the app's :class:`StartWriter`. Its
threads take every start queued meanwhile and, if the store has ``batch()`` (SQLite), create
them in one transaction with one fsync (each create a savepoint: a 409 undoes only itself);
other stores get one ``create_instance`` per thread, concurrently. Either way starts never
wait behind other blocking calls in the loop's default executor (a handful of threads), and
the completions of a batch reach the loop in one wake-up, with one ``ctx.notify()``.

A start's future resolves only after its transaction committed and was synced: the 202 is
never sent for a start that could be lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from typing import Any

from aiohttp import web

from durable_local.runtime.context import HostContext
from durable_local.store.base import InstanceRecord, Message

from . import operations as ops

# Threads: each blocks in the store (its lock, the fsync) with the GIL released, so idle
# ones cost nothing. A store with batch() (SQLite) takes all queued starts in one
# transaction per thread, so few threads suffice; other stores (Azure: one round trip per
# create) get one thread per concurrent start (W8 drives 30 connections).
MAX_THREADS = 32
MAX_BATCH = 64  # starts per store.batch(): bounds how long one batch holds the store

_Item = tuple["asyncio.Future[None]", InstanceRecord, Message]


class StartWriter:
    """Commits starts on up to ``max_threads`` threads, created on demand, up to MAX_BATCH
    per store transaction."""

    def __init__(self, ctx: HostContext, max_threads: int | None = None) -> None:
        self._ctx = ctx
        self._max = max(1, MAX_THREADS if max_threads is None else max_threads)
        self._batch = getattr(ctx.store, "batch", None)
        self._max_batch = MAX_BATCH if self._batch is not None else 1
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._mutex = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting on the queue
        self._pending = 0  # items in the queue
        self._done: list[tuple[asyncio.Future[None], BaseException | None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def commit(self, record: InstanceRecord, start: Message) -> None:
        """``operations.commit_start`` + ``ctx.notify()``; returns once the start is durable."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        if self._closed or loop is not self._loop:
            await loop.run_in_executor(None, ops.commit_start, self._ctx, record, start)
            self._ctx.notify()
            return
        fut: asyncio.Future[None] = loop.create_future()
        with self._mutex:
            self._pending += 1
            spawn = self._pending > self._idle and len(self._threads) < self._max
            if spawn:
                thread = threading.Thread(target=self._work, name=f"durable-start-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
        self._queue.put((fut, record, start))
        if spawn:
            thread.start()
        await fut

    def _work(self) -> None:
        while True:
            with self._mutex:
                self._idle += 1
            item = self._queue.get()
            items: list[_Item] = []
            stop = item is None
            if item is not None:
                items.append(item)
                while len(items) < self._max_batch:  # everything queued meanwhile goes along
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:  # this thread's stop sentinel: finish the batch first
                        stop = True
                        break
                    items.append(item)
            with self._mutex:
                self._idle -= 1
                self._pending -= len(items)
            if items:
                results = self._apply(items)
                with self._mutex:
                    first = not self._done
                    self._done.extend(results)
                if first:
                    self._wake()
            if stop:
                return

    def _apply(self, items: list[_Item]) -> list[tuple[asyncio.Future[None], BaseException | None]]:
        """Commit ``items``: several in one ``store.batch()`` (one transaction, one fsync; each
        create a savepoint, so a 409 undoes only itself) if the store has one."""
        errors: list[BaseException | None] = []
        batch = self._batch if len(items) > 1 else None
        try:
            with batch() if batch is not None else contextlib.nullcontext():
                for _fut, record, start in items:
                    try:
                        ops.commit_start(self._ctx, record, start)
                        errors.append(None)
                    except Exception as exc:  # this start failed alone (Conflict, ...)
                        errors.append(exc)
        except BaseException as exc:  # the batch's COMMIT (or fsync) failed: none is durable
            errors = [exc] * len(items)
        return [(fut, error) for (fut, _r, _s), error in zip(items, errors, strict=True)]

    def _wake(self) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _deliver(self) -> None:
        """On the loop: resolve every completed start, then wake the dispatcher once."""
        with self._mutex:
            done, self._done = self._done, []
        created = False
        for fut, error in done:
            created = created or error is None
            if fut.done():  # the handler was cancelled (client gone); the start still stands
                continue
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)
        if created:
            self._ctx.notify()

    async def close(self) -> None:
        """Finish the queued starts and stop the threads (before the store is closed)."""
        if self._closed:
            return
        self._closed = True
        with self._mutex:
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        if threads:

            def join_all() -> None:
                for t in threads:
                    t.join()

            await asyncio.to_thread(join_all)
        self._deliver()


START_WRITER = web.AppKey("durable_local.start_writer", StartWriter)


def install(app: web.Application, ctx: HostContext, max_threads: int | None = None) -> StartWriter:
    """Attach a StartWriter to ``app`` (closed on app cleanup)."""
    writer = StartWriter(ctx, max_threads)
    app[START_WRITER] = writer

    async def close(_app: web.Application) -> None:
        await writer.close()

    app.on_cleanup.append(close)
    return writer


def writer_of(request: web.Request) -> Any:
    """The request's app StartWriter, or None (e.g. handlers mounted without ``install``)."""
    return request.app.get(START_WRITER)
