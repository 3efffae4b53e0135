"""PaymentOrchestrator: charge the order's card through the gateway (with retries)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from pydantic import ValidationError

from domain.workflows import PaymentInput
from orchestrators.common import error_summary, invalid_input, set_step, step_key
from orchestrators.retry import gateway_retry_options

bp = df.Blueprint()


def charge_key_of(payment_instance_id: str) -> str:
    """Idempotency key of the charge made by the PaymentOrchestrator instance with this id."""
    return f"{payment_instance_id}:charge"


@bp.orchestration_trigger(context_name="context")
def PaymentOrchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    """Returns ``{"status": "success"|"declined"|"failed", "paymentId", "chargeKey", "reason"}``."""
    charge_key = step_key(context, "charge")
    try:
        request = PaymentInput.model_validate(context.get_input())
    except ValidationError as exc:
        return {
            "status": "failed",
            "paymentId": None,
            "chargeKey": charge_key,
            "reason": invalid_input(exc),
        }
    set_step(context, "charging", amountCents=request.amount_cents)
    try:
        result = yield context.call_activity_with_retry(
            "ChargePayment",
            gateway_retry_options(),
            {
                "idempotencyKey": charge_key,
                "orderId": request.order_id,
                "amountCents": request.amount_cents,
                "currency": request.currency,
                "cardNumber": request.payment_method.card_number,
            },
        )
    except Exception as exc:
        set_step(context, "failed")
        return {"status": "failed", "paymentId": None, "chargeKey": charge_key, "reason": error_summary(exc)}
    set_step(context, result["status"])
    return {**result, "chargeKey": charge_key}
