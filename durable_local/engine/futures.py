"""Tiny synchronous promises for the shadow replay: DTFx runs continuations synchronously
while it walks the history, and so do we (.NET Task, WhenAll and WhenAny semantics)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any


class Future:
    __slots__ = ("_callbacks", "done", "ok", "value")

    def __init__(self) -> None:
        self.done = False
        self.ok = False
        self.value: Any = None
        self._callbacks: list[Callable[[Future], None]] = []

    def resolve(self, ok: bool, value: Any = None) -> None:
        if self.done:
            return
        self.done, self.ok, self.value = True, ok, value
        callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            cb(self)

    def then(self, cb: Callable[[Future], None]) -> None:
        if self.done:
            cb(self)
        else:
            self._callbacks.append(cb)


def resolved(ok: bool = True, value: Any = None) -> Future:
    f = Future()
    f.resolve(ok, value)
    return f


def run_coroutine(gen: Generator[Future, Future, Any]) -> Future:
    """Drive a generator that yields futures and receives them back once they are done."""
    out = Future()

    def step(prev: Future | None) -> None:
        try:
            nxt = next(gen) if prev is None else gen.send(prev)
        except StopIteration as stop:
            out.resolve(True, stop.value)
            return
        except Exception as exc:  # a failed await inside the coroutine
            out.resolve(False, exc)
            return
        nxt.then(step)

    step(None)
    return out


def when_all(futures: list[Future]) -> Future:
    """.NET Task.WhenAll: waits for every child, faults if any faulted."""
    out = Future()
    if not futures:
        out.resolve(True, [])
        return out
    remaining = [len(futures)]

    def child_done(_f: Future) -> None:
        remaining[0] -= 1
        if remaining[0] == 0:
            bad = [f for f in futures if not f.ok]
            out.resolve(not bad, bad[0].value if bad else [f.value for f in futures])

    for f in futures:
        f.then(child_done)
    return out


def when_any(futures: list[Future]) -> Future:
    """.NET Task.WhenAny: succeeds with the first child that finishes (even a faulted one)."""
    out = Future()
    for f in futures:
        f.then(lambda f: out.resolve(True, f))
    return out
