"""Find the orchestrator source line behind each sequence id of an SDK call.

The SDK numbers tasks when the user's generator yields them (``_add_to_open_tasks``). While
one orchestrator call runs under :class:`SourceTracer`, a ``sys.settrace`` hook records

* every yield of an SDK task from a user generator frame, with the chain of user frames
  (the innermost helper delegated to with ``yield from`` first),
* the sequence id the SDK gives each atomic task, attributed to the yield that scheduled it
  (retry attempts and timers allocated later are attributed to their retried task),
* the last user line executed (where the orchestrator returned or stopped).

"User" code is any file outside the Python installation, site-packages and durable_local.
Tracing is slow; the replayer only uses it to explain an episode that already diverged.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

_CO_GENERATOR = 0x20
_STDLIB = os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep
_OWN_DIR = os.path.realpath(Path(__file__).resolve().parents[1]) + os.sep


@dataclass(frozen=True)
class Location:
    """One source position in user code."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{_short(self.filename)}:{self.lineno} in {self.function}"


def _short(filename: str) -> str:
    try:
        return os.path.relpath(filename)
    except ValueError:
        return filename


_user_cache: dict[str, bool] = {}


def is_user_file(filename: str) -> bool:
    """True for app/test code: not stdlib, not site-packages, not durable_local itself."""
    hit = _user_cache.get(filename)
    if hit is None:
        real = os.path.realpath(filename)
        hit = not (
            filename.startswith("<")
            or "site-packages" in real
            or "dist-packages" in real
            or real.startswith((_OWN_DIR, _STDLIB))
        )
        _user_cache[filename] = hit
    return hit


def _is_task(value: Any) -> bool:
    return any(c.__name__ == "TaskBase" for c in type(value).__mro__)


@dataclass
class SourceTrace:
    """What one traced SDK call revealed."""

    by_id: dict[int, tuple[Location, ...]] = field(default_factory=dict)
    last_line: Location | None = None
    last_yield: tuple[Location, ...] = ()

    def where(self, seq_id: int | None) -> tuple[Location, ...]:
        """The user frames behind ``seq_id`` (innermost first); the last yield otherwise."""
        if seq_id is not None and seq_id in self.by_id:
            return self.by_id[seq_id]
        return self.last_yield


class SourceTracer:
    """Context manager that traces one orchestrator call in the current thread."""

    def __init__(self) -> None:
        self.result = SourceTrace()
        self._yields: dict[int, tuple[Location, ...]] = {}  # id(task object) -> chain
        self._keep: list[Any] = []  # keep yielded objects alive so ids stay unique
        self._chain: list[Location] = []

    def __enter__(self) -> SourceTrace:
        self._previous = sys.gettrace()
        sys.settrace(self._global)
        return self.result

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self._previous)

    # -- trace callbacks -------------------------------------------------------------------

    def _global(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        code = frame.f_code
        if code.co_name == "_add_to_open_tasks" and "durable_functions" in code.co_filename:
            return self._sdk_local
        if is_user_file(code.co_filename):
            return self._user_local
        return None

    def _user_local(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        here = Location(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
        if event == "line":
            self.result.last_line = here
        elif event == "return" and frame.f_code.co_flags & _CO_GENERATOR and _is_task(arg):
            key = id(arg)
            if key in self._yields and self._chain_is_fresh:
                self._chain.append(here)  # the same task passing up through `yield from`
            else:
                self._chain = [here]
                self._keep.append(arg)
            self._chain_is_fresh = True
            self._yields[key] = tuple(self._chain)
            self.result.last_yield = tuple(self._chain)
        elif event == "call":
            self._chain_is_fresh = False
        return self._user_local

    _chain_is_fresh = False

    def _sdk_local(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event != "return":
            return self._sdk_local
        self._chain_is_fresh = False
        task = frame.f_locals.get("task")
        seq = getattr(task, "id", None)
        if isinstance(seq, int) and not isinstance(seq, bool) and seq not in self.result.by_id:
            self.result.by_id[seq] = self._origin(task, frame)
        return self._sdk_local

    def _origin(self, task: Any, frame: FrameType | None) -> tuple[Location, ...]:
        seen: Any = task
        while seen is not None:  # the task, or the compound/retry task it belongs to
            if id(seen) in self._yields:
                return self._yields[id(seen)]
            seen = getattr(seen, "parent", None)
        while frame is not None:  # an enclosing _add_to_open_tasks(compound) call
            outer = frame.f_locals.get("task") if frame.f_code.co_name == "_add_to_open_tasks" else None
            if outer is not None and id(outer) in self._yields:
                return self._yields[id(outer)]
            frame = frame.f_back
        return self.result.last_yield


@contextmanager
def traced() -> Iterator[SourceTrace]:
    """``with traced() as t: handle(ctx)`` then ``t.where(seq_id)``."""
    with SourceTracer() as trace:
        yield trace
