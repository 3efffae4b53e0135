"""approval_workflow: the seed's human-interaction pattern (event raced against a timer)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrators.common import DEFAULT_APPROVAL_TIMEOUT_HOURS, set_step, step_key, wait_for_approval
from orchestrators.logging_util import replay_safe_logger

bp = df.Blueprint()


def _timeout_hours(request: Any) -> float:
    value = request.get("timeoutHours") if isinstance(request, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return DEFAULT_APPROVAL_TIMEOUT_HOURS
    return value


@bp.orchestration_trigger(context_name="context")
def approval_workflow(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    """SendApprovalRequest, wait up to ``timeoutHours`` (default 72) for ``ApprovalResponse``."""
    request = context.get_input()
    set_step(context, "requesting_approval")
    yield context.call_activity(
        "SendApprovalRequest",
        {
            "idempotencyKey": step_key(context, "approval-request"),
            "requestId": context.instance_id,
            "details": request,
        },
    )
    set_step(context, "awaiting_approval")
    outcome, response = yield from wait_for_approval(context, _timeout_hours(request))
    replay_safe_logger(context).info("approval %s: %s", context.instance_id, outcome)
    notice = {
        "idempotencyKey": step_key(context, f"approval-{outcome}"),
        "requestId": context.instance_id,
        "details": request,
    }
    if outcome == "timeout":
        yield context.call_activity("NotifyTimeout", notice)
        set_step(context, "timeout")
        return {"status": "timeout", "approved": False}
    assert response is not None
    notice["approver"] = response.approver
    notice["comment"] = response.comment
    if response.approved:
        yield context.call_activity("ProcessApproval", notice)
        set_step(context, "approved")
        return {"status": "approved", "approved": True, "approver": response.approver}
    yield context.call_activity("ProcessRejection", notice)
    set_step(context, "rejected")
    return {"status": "rejected", "approved": False, "approver": response.approver}
