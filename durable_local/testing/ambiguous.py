"""Seeded ambiguous-outcome faults on every store method (RELIABILITY R3).

:class:`AmbiguousStore` wraps any ``Store``. Each call of a store method draws from one seeded
RNG: with ``timeout_rate`` it raises :class:`StoreTimeout` *before* delegating (nothing
happened), with ``applied_rate`` it delegates and then raises :class:`StoreTimeout` anyway
(the write happened, the caller is told it failed: a table batch that timed out after it was
applied, a queue delete reported as failed). Reads get the same treatment, which for them is
just a failed call.

Besides injecting, the wrapper measures what the catalogue asks about: how many *cycles* (a
counter the test advances, e.g. one per virtual second once the host is idle) an instance or
an activity whose work a fault disrupted waits before it is claimed again. Work that a fault
may have left leased or unconsumed is "disrupted": an orchestration claim or activity claim
that was applied but reported failed, an orchestration commit or activity completion that
did not happen, an abandon that did not happen.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from durable_local.store.base import Message, OrchestrationWorkItem, Store, StoreError

__all__ = ["STORE_METHODS", "AmbiguousStore", "StoreTimeout"]

# every method of the Store protocol that talks to the storage (close() is left alone)
STORE_METHODS = frozenset(
    {
        "create_instance",
        "get_instance",
        "get_history",
        "query_instances",
        "purge_instance",
        "purge_instances",
        "enqueue",
        "next_visible_time",
        "claim_orchestrations",
        "commit_orchestration",
        "abandon_orchestration",
        "claim_activities",
        "complete_activity",
        "abandon_activity",
        "count_messages",
        "list_messages",
        "set_instance_row",
        "release_dead_leases",
    }
)


class StoreTimeout(StoreError):
    """An injected timeout; ``applied`` says whether the call took effect before it."""

    code = "timeout"

    def __init__(self, method: str, applied: bool) -> None:
        where = "after it was applied" if applied else "before it reached the store"
        super().__init__(f"injected timeout of {method} {where}")
        self.applied = applied


class AmbiguousStore:
    """A ``Store`` proxy injecting seeded timeouts (see module doc). ``enabled`` switches the
    faults on and off (set-up and checks run with them off); ``inner`` is the real store."""

    def __init__(
        self,
        inner: Store,
        seed: int,
        *,
        timeout_rate: float = 0.05,
        applied_rate: float = 0.05,
        methods: Iterable[str] = STORE_METHODS,
    ) -> None:
        self.inner = inner
        self.seed = seed
        self.timeout_rate = timeout_rate
        self.applied_rate = applied_rate
        self.methods = frozenset(methods)
        self.enabled = False
        self.cycle = 0  # advanced by the test driver
        self.calls: Counter[str] = Counter()
        self.timeouts: Counter[str] = Counter()  # raised before the call
        self.applied: Counter[str] = Counter()  # raised after the call took effect
        self.max_wait = 0  # cycles: the longest a disrupted instance/activity waited
        self.waits: Counter[int] = Counter()  # cycles waited -> how often
        self.empty_claims: Counter[str] = Counter()  # claims that found nothing (the host is idle)
        self.long_waits: list[tuple[int, str, str]] = []  # (cycles, key, failed method), over 1 cycle
        self._cause: dict[str, str] = {}  # key -> the method whose fault disrupted it
        self._since: dict[str, float] = {}  # key -> time.monotonic() of the fault
        self.max_wait_seconds = 0.0  # wall time, reported only (a loaded host never goes idle)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        # "o|<instance id>|" / "a|<target>|<message id>" -> cycle of the fault
        self._disrupted: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in self.methods or not callable(attr):
            return attr
        return self._wrap(name, attr)

    # -- injection ---------------------------------------------------------------------------
    def _draw(self, name: str) -> str:
        with self._lock:
            self.calls[name] += 1
            if not self.enabled:
                return "ok"
            r = self._rng.random()
        if r < self.timeout_rate:
            return "before"
        if r < self.timeout_rate + self.applied_rate:
            return "after"
        return "ok"

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            fate = self._draw(name)
            if fate == "before":
                with self._lock:
                    self.timeouts[name] += 1
                self._disrupt(name, args, applied=False, result=None)
                raise StoreTimeout(name, applied=False)
            result = method(*args, **kwargs)
            if fate == "after":
                with self._lock:
                    self.applied[name] += 1
                self._disrupt(name, args, applied=True, result=result)
                raise StoreTimeout(name, applied=True)
            self._observe(name, result)
            return result

        return call

    # -- the "stuck" figure --------------------------------------------------------------------
    def _disrupt(self, name: str, args: tuple[Any, ...], *, applied: bool, result: Any) -> None:
        keys: list[str] = []
        if name == "claim_orchestrations" and applied:
            keys = [_orch_key(item) for item in result]
        elif name == "claim_activities" and applied:
            keys = [_act_key(msg) for msg in result]
        elif name in ("commit_orchestration", "abandon_orchestration") and not applied:
            keys = [_orch_key(args[0])]
        elif name in ("complete_activity", "abandon_activity") and not applied:
            keys = [_act_key(args[0])]
        with self._lock:
            for key in keys:
                self._disrupted.setdefault(key, self.cycle)
                self._cause.setdefault(key, f"{name} ({'after' if applied else 'before'})")
                self._since.setdefault(key, time.monotonic())

    def _observe(self, name: str, result: Any) -> None:
        if name == "claim_orchestrations":
            keys = [_orch_key(item) for item in result]
        elif name == "claim_activities":
            keys = [_act_key(msg) for msg in result]
        else:
            return
        with self._lock:
            if not keys:
                self.empty_claims[name] += 1
            for key in keys:
                since = self._disrupted.pop(key, None)
                if since is not None:
                    wait = self.cycle - since
                    self.waits[wait] += 1
                    cause = self._cause.pop(key, "?")
                    waited = time.monotonic() - self._since.pop(key, time.monotonic())
                    self.max_wait_seconds = max(self.max_wait_seconds, waited)
                    if wait > 1:
                        self.long_waits.append((wait, key, cause))
                        self.long_waits.sort(reverse=True)
                    self.max_wait = max(self.max_wait, wait)

    def still_disrupted(self) -> dict[str, int]:
        """Disrupted work not claimed since (key -> cycle of the fault). The test keeps only
        the entries whose instance or activity message still exists: those are stuck."""
        with self._lock:
            return dict(self._disrupted)

    def summary(self) -> str:
        return (
            f"seed={self.seed} calls={sum(self.calls.values())} timeouts-before={sum(self.timeouts.values())} "
            f"applied-then-timeout={sum(self.applied.values())} max-wait={self.max_wait} cycle(s) "
            f"({self.max_wait_seconds:.1f} s wall) "
            f"waits={dict(sorted(self.waits.items()))}"
        )


def _orch_key(item: OrchestrationWorkItem) -> str:
    return f"o|{item.instance_id}|"


def _act_key(msg: Message) -> str:
    return f"a|{msg.target}|{msg.id}"
