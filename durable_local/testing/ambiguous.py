"""Seeded ambiguous-outcome faults on every store method (RELIABILITY R3).

:class:`AmbiguousStore` wraps any ``Store``. Each call of a store method draws from one seeded
RNG: with ``timeout_rate`` it raises :class:`StoreTimeout` *before* delegating (nothing
happened), with ``applied_rate`` it delegates and then raises :class:`StoreTimeout` anyway
(the write happened, the caller is told it failed: a table batch that timed out after it was
applied, a queue delete reported as failed). Reads get the same treatment, which for them is
just a failed call.

Besides injecting, the wrapper measures what the catalogue asks about ("no instance stuck for
more than three claim cycles"). Work that a fault may have left leased or unconsumed is
*disrupted*: an orchestration claim or activity claim that was applied but reported failed, an
orchestration commit or activity completion that did not happen, an abandon that did not
happen. The runtime then gives it back (releases the failed claim's leases, abandons the work
item, possibly with a delay). From that give-back until the work is claimed again, the
wrapper counts the claims of its kind that *passed it over*: claims that returned fewer items
than their limit (they had room for it) at a time (their ``now``) when it was due. Unlike a
count of idle cycles, this means something on a host that never goes idle: a claim with room
that leaves due work behind is what "stuck" is. Work whose give-back never succeeds waits for
its lease to expire; the driver's idle cycles (``cycle``) from the fault are kept for it too.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.inner = inner
        self.clock = clock  # the callers' clock (else the ``now`` of the latest claim is used)
        self.seed = seed
        self.timeout_rate = timeout_rate
        self.applied_rate = applied_rate
        self.methods = frozenset(methods)
        self.enabled = False
        self.cycle = 0  # advanced by the test driver (its idle cycles), reported only
        self.calls: Counter[str] = Counter()
        self.timeouts: Counter[str] = Counter()  # raised before the call
        self.applied: Counter[str] = Counter()  # raised after the call took effect
        self.max_wait = 0  # the most claims that passed over one piece of disrupted work
        self.waits: Counter[int] = Counter()  # claims passed over -> how often
        self.empty_claims: Counter[str] = Counter()  # claims that found nothing (the host is idle)
        self.long_waits: list[tuple[int, str, str]] = []  # (passed over, key, failed method), over 1
        self.max_wait_seconds = 0.0  # wall time from a fault to the next claim, reported only
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._disrupted: dict[str, _Disrupted] = {}  # "o|<instance id>|" / "a|<target>|<message id>"
        self._now: Any = None  # the ``now`` of the latest claim (the callers' clock)
        self._finished: set[str] = set()  # work whose commit / completion took effect (_done_key)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in STORE_METHODS or not callable(attr):  # every call is observed
            return attr
        return self._wrap(name, attr)

    # -- injection ---------------------------------------------------------------------------
    def _draw(self, name: str) -> str:
        with self._lock:
            self.calls[name] += 1
            if not self.enabled or name not in self.methods:  # faults only where asked
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
            if name in ("commit_orchestration", "complete_activity"):
                self._done(args[0])
            if fate == "after":
                with self._lock:
                    self.applied[name] += 1
                self._disrupt(name, args, applied=True, result=result)
                raise StoreTimeout(name, applied=True)
            self._observe(name, args, kwargs, result)
            return result

        return call

    # -- the "stuck" figure --------------------------------------------------------------------
    def _disrupt(self, name: str, args: tuple[Any, ...], *, applied: bool, result: Any) -> None:
        keys: list[str] = []
        owner = None
        if name in ("claim_orchestrations", "claim_activities") and applied:
            keys = [_orch_key(item) for item in result] if name == "claim_orchestrations" else [
                _act_key(msg) for msg in result]  # fmt: skip
            owner = args[3] if len(args) > 3 else None  # released with release_dead_leases
        elif name in ("commit_orchestration", "abandon_orchestration") and not applied:
            keys = [] if _done_key(args[0]) in self._finished else [_orch_key(args[0])]
        elif name in ("complete_activity", "abandon_activity") and not applied:
            keys = [] if _done_key(args[0]) in self._finished else [_act_key(args[0])]
        with self._lock:
            for key in keys:
                cause = f"{name} ({'after' if applied else 'before'})"
                self._disrupted.setdefault(key, _Disrupted(self.cycle, cause, owner))

    def _observe(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> None:
        if name in ("abandon_orchestration", "abandon_activity"):
            self._given_back(_orch_key(args[0]) if name == "abandon_orchestration" else _act_key(args[0]),
                             args[1] if len(args) > 1 else kwargs.get("delay_seconds", 0.0))  # fmt: skip
            return
        if name == "release_dead_leases":
            is_dead = args[0] if args else kwargs["is_dead"]
            with self._lock:
                for key, d in self._disrupted.items():
                    if d.owner is not None and is_dead(d.owner):
                        self._given_back_locked(key, 0.0)
            return
        if name not in ("claim_orchestrations", "claim_activities"):
            return
        now = args[0] if args else kwargs["now"]
        limit = args[1] if len(args) > 1 else kwargs["limit"]
        keys = {_orch_key(item) for item in result} if name == "claim_orchestrations" else {
            _act_key(msg) for msg in result}  # fmt: skip
        kind = "o" if name == "claim_orchestrations" else "a"
        with self._lock:
            self._now = now
            if not keys:
                self.empty_claims[name] += 1
            for key in keys:
                taken = self._disrupted.pop(key, None)
                if taken is not None:
                    self._claimed_again(key, taken)
            if len(result) < limit:  # a claim with room: the due disrupted work it left behind
                for key, d in self._disrupted.items():
                    if key[0] == kind and d.due is not None and d.due <= now:
                        d.passed_over += 1
                        if len(d.trace) < 5:
                            d.trace.append(f"claim at {now:%H:%M:%S.%f} took {len(result)}/{limit}")

    def _given_back(self, key: str, delay: float) -> None:
        with self._lock:
            self._given_back_locked(key, delay)

    def _done(self, work: Any) -> None:
        """A commit or completion took effect: that work is finished, whatever follows (an
        abandon of it that fails gives nothing back: there is nothing left to claim)."""
        with self._lock:
            self._finished.add(_done_key(work))

    def _given_back_locked(self, key: str, delay: float) -> None:
        d = self._disrupted.get(key)
        now = self.clock() if self.clock is not None else self._now
        if d is not None and now is not None:
            d.due = now + timedelta(seconds=delay or 0.0)

    def _claimed_again(self, key: str, d: _Disrupted) -> None:
        self.waits[d.passed_over] += 1
        self.max_wait_seconds = max(self.max_wait_seconds, time.monotonic() - d.since)
        if d.passed_over > 1:
            self.long_waits.append((d.passed_over, key, f"{d.cause}: {'; '.join(d.trace)}"))
            self.long_waits.sort(reverse=True)
        self.max_wait = max(self.max_wait, d.passed_over)

    def still_disrupted(self) -> dict[str, int]:
        """Disrupted work not claimed since (key -> driver cycle of the fault). The test keeps
        only the entries whose instance or activity message still exists: those are stuck."""
        with self._lock:
            return {key: d.cycle for key, d in self._disrupted.items()}

    def wait_percentiles(self) -> dict[str, int]:
        """p50 / p90 / p99 / max of the claims that passed over disrupted work."""
        ordered = sorted(self.waits.elements())
        if not ordered:
            return {}
        pick = {q: ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] for q in (50, 90, 99)}
        return {"p50": pick[50], "p90": pick[90], "p99": pick[99], "max": ordered[-1]}

    def summary(self) -> str:
        return (
            f"seed={self.seed} calls={sum(self.calls.values())} timeouts-before={sum(self.timeouts.values())} "
            f"applied-then-timeout={sum(self.applied.values())} disrupted work claimed again "
            f"{sum(self.waits.values())}x, claims that passed it over {self.wait_percentiles()} "
            f"(longest {self.max_wait_seconds:.1f} s wall from the fault) histogram={dict(sorted(self.waits.items()))}"
        )


@dataclass
class _Disrupted:
    """Work a fault disrupted, until it is claimed again."""

    cycle: int  # the driver's cycle at the fault
    cause: str  # the method whose fault disrupted it
    owner: str | None = None  # the owner of the failed claim that leased it, if that was the fault
    since: float = field(default_factory=time.monotonic)
    due: Any = None  # the callers' time from which a claim should take it (None: not given back)
    passed_over: int = 0  # claims with room, made while it was due, that did not take it
    trace: list[str] = field(default_factory=list)  # the first of those claims (for the report)


def _done_key(work: OrchestrationWorkItem | Message) -> str:
    """One claim of an instance (its lease token) or one activity message."""
    if isinstance(work, OrchestrationWorkItem):
        return f"o|{work.instance_id}|{work.lease_token}"
    return _act_key(work)


def _orch_key(item: OrchestrationWorkItem) -> str:
    return f"o|{item.instance_id}|"


def _act_key(msg: Message) -> str:
    return f"a|{msg.target}|{msg.id}"
