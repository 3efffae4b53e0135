"""Order-line activities: ProcessItem (price one line) and FinalizeOrder (record the fan-in)."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.sandbox_store import SandboxStore
from activities.validation import ActivityInputError, parse_input
from domain.models import OrderItem
from domain.results import FinalizeRequest, ItemResult
from domain.rules import line_total_cents

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
def ProcessItem(payload: Any) -> dict:
    """Validate and price one order line. Pure computation, so naturally idempotent."""
    item = parse_input(OrderItem, payload)
    return ItemResult(
        item_id=item.id,
        product_id=item.product_id,
        quantity=item.quantity,
        amount_cents=line_total_cents(item),
    ).to_json_dict()


@bp.activity_trigger(input_name="payload")
def FinalizeOrder(payload: Any) -> dict:
    """Record the finalized order once per idempotency key; a re-run returns the first record."""
    request = parse_input(FinalizeRequest, payload)
    computed = sum(result.amount_cents for result in request.item_results)
    if computed != request.total_cents:
        raise ActivityInputError(
            f"FinalizeOrder: totalCents {request.total_cents} != sum of items {computed}"
        )
    record = {
        "orderId": request.order_id,
        "status": "finalized",
        "totalCents": request.total_cents,
        "itemCount": len(request.item_results),
    }
    return SandboxStore().put_record_once(request.idempotency_key, "finalized_order", record)
