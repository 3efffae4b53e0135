"""Store calls that give work back (abandon, release a failed claim's leases) must not be
lost to one storage timeout: an instance whose lease is never given back waits for the lease
to expire (minutes). The dispatcher retries them here, and paces claims after failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("durable_local.dispatch")

# tries of a give-back call before the work is left to its lease expiry
GIVE_BACK_ATTEMPTS = 5
# after a failed claim the loop waits (wall time) before claiming again, doubling up to this
MAX_CLAIM_BACKOFF = 1.0


RunSync = Callable[[Callable[[], Any]], Awaitable[Any]]


async def give_back(run_sync: RunSync, what: str, call: Callable[[], object]) -> None:
    """Run ``call`` on the pool via ``run_sync``, retrying a failing store a few times; if it
    still fails, say so in one line: the work comes back when its lease expires."""
    for attempt in range(1, GIVE_BACK_ATTEMPTS + 1):
        try:
            await run_sync(call)
            return
        except Exception as exc:
            if attempt == GIVE_BACK_ATTEMPTS:
                log.error("giving back %s failed %d times (%s: %s); it returns when its lease expires",
                          what, attempt, type(exc).__name__, exc)
                return
            await asyncio.sleep(0.01 * attempt)


async def claim_backoff(failures: int) -> None:
    """Wait after ``failures`` failed claims in a row (20 ms, doubling, at most 1 s)."""
    await asyncio.sleep(min(MAX_CLAIM_BACKOFF, 0.02 * 2**failures))
