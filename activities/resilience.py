"""UnreliableActivity: a deterministic-controllable flaky step for the retry pattern.

Input ``{"key": ..., "failTimes": n, "payload": ...}`` fails the first ``n`` attempts made for
``key`` (attempts are counted in the sandbox store) and succeeds afterwards.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.sandbox_store import SandboxStore
from activities.validation import parse_input
from domain.results import UnreliableRequest

bp = df.Blueprint()


class SimulatedFailure(RuntimeError):
    """Raised by UnreliableActivity while it is still supposed to fail."""


@bp.activity_trigger(input_name="payload")
def UnreliableActivity(payload: Any) -> dict:
    """Fail ``failTimes`` times for ``key``, then return the attempt number and the payload."""
    request = parse_input(UnreliableRequest, payload)
    attempt = SandboxStore().bump_attempt(f"unreliable:{request.key}")
    if attempt <= request.fail_times:
        raise SimulatedFailure(f"simulated failure {attempt} of {request.fail_times} for {request.key}")
    return {"key": request.key, "attempt": attempt, "payload": request.payload}
