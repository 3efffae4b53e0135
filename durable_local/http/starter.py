"""Durable starts from the HTTP API: store commits on a few dedicated threads.

``POST orchestrators/{name}`` validates and builds the rows on the event loop
(:func:`operations.prepare_start`), then hands them to the app's :class:`StartWriter`, whose
threads call ``store.create_instance`` (one durable transaction each). Concurrent starts run
on concurrent threads, so the SQLite store's group commit covers many of them with one fsync,
and they never wait behind other blocking calls in the loop's default executor (a handful of
threads). Completions coming back together are delivered to the loop in one wake-up, with
one ``ctx.notify()`` for the whole burst.

A start's future resolves only after ``create_instance`` returned, i.e. after the commit is
durable: the 202 is never sent for a start that could be lost.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

from aiohttp import web

from durable_local.runtime.context import HostContext
from durable_local.store.base import InstanceRecord, Message

from . import operations as ops

# Up to one thread per concurrent start (W8 drives 30 connections): each blocks in the store
# (its lock, the group-commit fsync) with the GIL released, so idle ones cost nothing.
MAX_THREADS = 32

_Item = tuple["asyncio.Future[None]", InstanceRecord, Message]


class StartWriter:
    """Commits starts on up to ``max_threads`` threads, created on demand."""

    def __init__(self, ctx: HostContext, max_threads: int = MAX_THREADS) -> None:
        self._ctx = ctx
        self._max = max(1, max_threads)
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
            with self._mutex:
                self._idle -= 1
                self._pending -= 1
            if item is None:
                return
            fut, record, start = item
            error: BaseException | None = None
            try:
                ops.commit_start(self._ctx, record, start)
            except BaseException as exc:  # delivered to the awaiting handler
                error = exc
            with self._mutex:
                first = not self._done
                self._done.append((fut, error))
            if first:
                self._wake()

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
            await asyncio.to_thread(lambda: [t.join() for t in threads])
        self._deliver()


START_WRITER = web.AppKey("durable_local.start_writer", StartWriter)


def install(app: web.Application, ctx: HostContext, max_threads: int = MAX_THREADS) -> StartWriter:
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
