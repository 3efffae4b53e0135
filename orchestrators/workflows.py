"""main_orchestrator: the seed's sub-orchestration pattern (payment, then fulfillment)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from pydantic import ValidationError

from domain.errors import field_errors
from domain.models import Order
from domain.rules import order_total_cents, reservation_lines
from orchestrators.common import set_step
from orchestrators.compensation import refund_charge, undo_inventory
from orchestrators.payment import charge_key_of

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def main_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    """Input: an order (the ``/api/orders`` body). Children get ids derived from this instance."""
    try:
        order = Order.model_validate(context.get_input())
    except ValidationError as exc:
        return {"status": "invalid_input", "fields": field_errors(exc)}
    total = order_total_cents(order)
    lines = reservation_lines(order.items)
    payment_instance = f"{context.instance_id}:payment"

    set_step(context, "charging")
    payment = yield context.call_sub_orchestrator(
        "PaymentOrchestrator",
        {
            "orderId": order.order_id,
            "amountCents": total,
            "currency": order.currency,
            "paymentMethod": order.payment_method.to_json_dict(),
        },
        payment_instance,
    )
    if payment["status"] != "success":
        set_step(context, "payment_failed")
        return {"status": "payment_failed", "reason": payment.get("reason")}

    set_step(context, "fulfilling")
    fulfillment = yield context.call_sub_orchestrator(
        "FulfillmentOrchestrator",
        {
            "orderId": order.order_id,
            "lines": [{"sku": s, "quantity": q} for s, q in lines],
            "shippingAddress": order.shipping_address.to_json_dict(),
            "reserveFirst": True,
        },
        f"{context.instance_id}:fulfillment",
    )
    if fulfillment["status"] != "success":
        set_step(context, "compensating")
        yield from refund_charge(context, charge_key_of(payment_instance), "fulfillment_failed")
        committed = [(c["sku"], c["quantity"]) for c in fulfillment.get("committed", [])]
        yield from undo_inventory(context, f"{context.instance_id}:fulfillment", None, [], committed)
        set_step(context, "fulfillment_failed")
        return {
            "status": "fulfillment_failed",
            "reason": fulfillment.get("reason"),
            "paymentId": payment["paymentId"],
        }

    set_step(context, "completed")
    return {
        "status": "completed",
        "paymentId": payment["paymentId"],
        "trackingNumber": fulfillment["trackingNumber"],
    }
