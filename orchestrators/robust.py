"""robust_orchestrator: the seed's retry-with-compensation pattern around UnreliableActivity."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrators.common import error_summary, set_step, step_key
from orchestrators.retry import seed_retry_options

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def robust_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    """Call UnreliableActivity with retries; on final failure run CompensateFailure."""
    raw = context.get_input()
    request: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {"payload": raw}
    # Attempts are counted per key; default it to this instance so runs never share counters.
    request.setdefault("key", step_key(context, "unreliable"))
    set_step(context, "running")
    try:
        result = yield context.call_activity_with_retry("UnreliableActivity", seed_retry_options(), request)
    except Exception as exc:
        error = error_summary(exc)
        set_step(context, "compensating")
        yield context.call_activity(
            "CompensateFailure",
            {"idempotencyKey": step_key(context, "compensate"), "error": error, "input": raw},
        )
        set_step(context, "failed")
        return {"status": "failed", "error": error}
    set_step(context, "succeeded")
    return {"status": "success", "result": result}
