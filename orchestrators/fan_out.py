"""OrderOrchestrator: the seed's fan-out/fan-in (price every line in parallel, then finalize)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from pydantic import ValidationError

from domain.errors import field_errors
from domain.workflows import FanOutInput
from orchestrators.common import error_summary, invalid_input, set_step, step_key

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def OrderOrchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    """ProcessItem for every item (task_all), then FinalizeOrder with the total and the results."""
    try:
        order = FanOutInput.model_validate(context.get_input())
    except ValidationError as exc:
        return {"status": "failed", "error": invalid_input(exc), "fields": field_errors(exc)}
    set_step(context, "processing_items", itemCount=len(order.items))
    tasks = [context.call_activity("ProcessItem", item.to_json_dict()) for item in order.items]
    try:
        results = yield context.task_all(tasks)
    except Exception as exc:
        set_step(context, "failed")
        return {"status": "failed", "error": error_summary(exc)}
    total = sum(result["amountCents"] for result in results)
    set_step(context, "finalizing", total=total)
    yield context.call_activity(
        "FinalizeOrder",
        {
            "idempotencyKey": step_key(context, "finalize"),
            "orderId": order.order_id,
            "totalCents": total,
            "itemResults": results,
        },
    )
    set_step(context, "completed", total=total)
    return {"status": "completed", "total": total}
