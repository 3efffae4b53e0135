"""Timer triggers: fire a function on its schedule, on the host's clock.

What the Functions host does, and so this listener:

* **Schedule status** (``{"Last", "Next", "LastUpdated"}``, ISO times) is kept in the store
  under ``timers/<function>/status`` (the host keeps it in a blob of its storage account), so
  a firing missed while no host ran is noticed at start-up: the function runs at once with
  ``TimerRequest.past_due`` true. ``use_monitor=False`` forgets missed firings (no past-due;
  the status is still kept, it is how host processes agree on what ran). As on the host,
  ``use_monitor`` defaults to true for schedules that recur at least a
  minute apart and to false for more frequent ones.
* ``run_on_startup=True`` fires once whenever the host starts.
* **One execution at a time** across host processes sharing a store: a firing runs under the
  store lock ``timers/<function>`` (expiring, renewed while the function runs; the host's
  singleton lock), and the holder skips an occurrence that the status shows already ran.
  A firing that comes while the previous one still runs is skipped, as on the host.
* Time is the host clock (a virtual clock in tests: advancing it wakes the timer at once).
  Occurrences missed while the host *was* running (the clock jumped) fire once, not once each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.functions.timer import TimerRequest

from durable_local.app_loader import FunctionInfo
from durable_local.bindings.runner import invoke_function
from durable_local.runtime.context import HostContext
from durable_local.runtime.owners import make_owner

from .manager import TriggerSetupError
from .schedule import Schedule, ScheduleError, parse_schedule

log = logging.getLogger("durable_local.triggers.timer")

LOCK_SECONDS = 60.0  # real time; renewed every third of it while the function runs
MAX_SLEEP_SECONDS = 30.0  # re-check the clock at least this often (wall-clock drift, suspend)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _parse(text: Any) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(timezone.utc)


def create_listener(ctx: HostContext, fi: FunctionInfo) -> TimerListener:
    """The manager's factory: a malformed schedule is a one-line error naming the function."""
    text = str(fi.trigger.get("schedule") or "")
    try:
        schedule = parse_schedule(text)
    except ScheduleError as exc:
        raise TriggerSetupError(f"Function '{fi.function_name}' (timerTrigger): {exc}") from None
    first = schedule.next_after(ctx.clock.now())
    if first is None:
        raise TriggerSetupError(
            f"Function '{fi.function_name}' (timerTrigger): schedule '{schedule.text}' never occurs"
        )
    use_monitor = fi.trigger.get("useMonitor")
    if use_monitor is None:  # the host's default: monitor schedules that recur a minute apart or more
        second = schedule.next_after(first)
        use_monitor = second is None or second - first >= timedelta(minutes=1)
    return TimerListener(
        ctx, fi, schedule, run_on_startup=bool(fi.trigger.get("runOnStartup")), use_monitor=bool(use_monitor)
    )


class TimerListener:
    """Fires one timer-triggered function until stopped."""

    def __init__(
        self, ctx: HostContext, fi: FunctionInfo, schedule: Schedule, *, run_on_startup: bool, use_monitor: bool
    ) -> None:
        self.ctx = ctx
        self.fi = fi
        self.schedule = schedule
        self.run_on_startup = run_on_startup
        self.use_monitor = use_monitor
        self.owner = make_owner()
        self.status_key = f"timers/{fi.function_name}/status"
        self.lock_name = f"timers/{fi.function_name}"
        self.fired = 0  # executions started by this listener (tests, logs)
        self.next_due: datetime | None = None  # the occurrence the listener waits for
        self._attempted: datetime | None = None  # the last occurrence it fired or left to another host
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def woken() -> None:  # the virtual clock moved (any thread)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake.set)

        self.ctx.clock.subscribe(woken)
        self._task = asyncio.create_task(self._run(), name=f"timer {self.fi.function_name}")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- status ----------------------------------------------------------------------------------
    async def _read_status(self) -> dict[str, Any]:
        text = await asyncio.to_thread(self.ctx.store.get_host_value, self.status_key)
        return json.loads(text) if text else {}

    async def _write_status(self, status: dict[str, Any]) -> None:
        await asyncio.to_thread(self.ctx.store.put_host_value, self.status_key, json.dumps(status))

    def _next(self, after: datetime) -> datetime:
        nxt = self.schedule.next_after(after)
        return nxt if nxt is not None else after + timedelta(days=366 * 100)  # never (checked at start)

    # -- the loop --------------------------------------------------------------------------------
    async def _run(self) -> None:
        now = self.ctx.clock.now()
        try:
            status = await self._read_status()
            due = _parse(status.get("Next"))
            missed = due is not None and due < now
            if due is not None and missed and self.use_monitor:
                await self._fire(due, past_due=True)
            elif self.run_on_startup:
                await self._fire(now, past_due=False)
            elif missed:  # without the monitor a missed firing is forgotten: wait for the next one
                self._attempted = due
            elif due is None:  # the first start: record when the first firing is due
                await self._write_status({"Last": None, "Next": _iso(self._next(now)), "LastUpdated": _iso(now)})
        except Exception as exc:  # the store failed: say so, keep the schedule
            log.error("timer %s: start-up firing failed: %s: %s", self.fi.function_name, type(exc).__name__, exc)
        while not self._stopping:
            try:
                due = self.next_due = await self._due_time()
                if not await self._sleep_until(due):
                    break
                await self._fire(due, past_due=False)
            except Exception as exc:  # the store failed: this occurrence is lost, the next one is not
                log.error("timer %s: firing failed: %s: %s", self.fi.function_name, type(exc).__name__, exc)
                await asyncio.sleep(1.0)

    async def _due_time(self) -> datetime:
        """The next occurrence: the stored one (written after the last firing, by any host)
        unless this listener already tried it, else the schedule's next one from now. The
        earlier of the two wins, so an app whose schedule became more frequent since the
        status was written does not wait for the old schedule's next firing."""
        now = self.ctx.clock.now()
        stored = _parse((await self._read_status()).get("Next"))
        tried = self._attempted
        fresh = self._next(now if tried is None else max(now, tried))
        if stored is not None and (tried is None or stored > tried):
            return min(stored, fresh)
        return fresh

    async def _sleep_until(self, due: datetime) -> bool:
        """Wait until the clock reaches ``due``; False if stopping."""
        while not self._stopping:
            left = (due - self.ctx.clock.now()).total_seconds()
            if left <= 0:
                return True
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(left, MAX_SLEEP_SECONDS))
        return False

    async def _fire(self, occurrence: datetime, *, past_due: bool) -> None:
        """Run the function for ``occurrence`` under the lock, unless another host did."""
        store = self.ctx.store
        started = self.ctx.clock.now()  # the next occurrence counts from here, as on the host
        self._attempted = occurrence

        def real_now() -> datetime:
            return datetime.now(timezone.utc)

        taken = await asyncio.to_thread(store.acquire_host_lock, self.lock_name, self.owner, real_now(), LOCK_SECONDS)
        if not taken:
            log.debug("timer %s: another host holds the lock; skipping %s", self.fi.function_name, occurrence)
            return
        renew = asyncio.create_task(self._renew(real_now))
        try:
            status = await self._read_status()
            last = _parse(status.get("Last"))
            if last is not None and last >= occurrence:
                return  # another host ran this occurrence already
            request = TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})
            self.fired += 1
            log.info("Executing 'Functions.%s' (Reason='Timer fired at %s')", self.fi.function_name, _iso(occurrence))
            try:
                await invoke_function(self.ctx, self.fi, request, {"timerTrigger": _iso(occurrence)})
                log.info("Executed 'Functions.%s' (Succeeded)", self.fi.function_name)
            except Exception as exc:  # the user's failure: logged, the schedule goes on
                log.error("Executed 'Functions.%s' (Failed): %s: %s", self.fi.function_name, type(exc).__name__, exc)
                log.debug("timer function failure", exc_info=True)
            now = self.ctx.clock.now()
            await self._write_status(
                {"Last": _iso(occurrence), "Next": _iso(self._next(started)), "LastUpdated": _iso(now)}
            )
        finally:
            renew.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a failed renewal ends here
                await renew
            with contextlib.suppress(Exception):
                await asyncio.to_thread(store.release_host_lock, self.lock_name, self.owner)

    async def _renew(self, real_now: Callable[[], datetime]) -> None:
        """Keep the lock while the function runs (a run longer than LOCK_SECONDS)."""
        while True:
            await asyncio.sleep(LOCK_SECONDS / 3)
            await asyncio.to_thread(
                self.ctx.store.acquire_host_lock, self.lock_name, self.owner, real_now(), LOCK_SECONDS
            )
