"""OrderSaga: the order workflow a user POSTs to ``/api/orders``.

validate -> reserve every line on its InventoryEntity (fan-out) -> [approval when the total is
above the threshold] -> PaymentOrchestrator -> FulfillmentOrchestrator -> completed.
Every failure after the reservation compensates: reservations are released, committed but
unshipped stock is restocked and a captured charge is refunded. Progress is published as custom
status ``{"step": ...}``. Input: ``OrderSagaInput`` JSON; output: ``OrderResult`` JSON.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import azure.durable_functions as df
from pydantic import ValidationError

from domain.models import OrderSagaInput
from domain.results import OrderResult
from domain.rules import approval_required, order_total_cents, reservation_lines
from orchestrators.common import Line, entity_fan_out, error_summary, set_step, step_key, wait_for_approval
from orchestrators.compensation import record_failure, refund_charge, undo_inventory
from orchestrators.logging_util import replay_safe_logger
from orchestrators.payment import charge_key_of

bp = df.Blueprint()


@dataclass
class SagaState:
    """What must be undone if the saga fails from here on."""

    order_id: str
    total_cents: int
    reserved: list[Line] = field(default_factory=list)
    committed: list[Line] = field(default_factory=list)
    charge_key: str | None = None
    payment_id: str | None = None
    tracking_number: str | None = None


def _finish(
    context: df.DurableOrchestrationContext, state: SagaState, status: str, reason: str | None = None
) -> dict[str, Any]:
    set_step(context, status, **({"reason": reason} if reason else {}))
    return OrderResult(
        order_id=state.order_id,
        status=status,
        total_cents=state.total_cents,
        payment_id=state.payment_id,
        tracking_number=state.tracking_number,
        reason=reason,
    ).to_json_dict()


def _compensate(
    context: df.DurableOrchestrationContext, state: SagaState, status: str, reason: str
) -> Generator[Any, Any, dict[str, Any]]:
    set_step(context, "compensating", reason=reason)
    if state.charge_key is not None:
        yield from refund_charge(context, state.charge_key, reason)
        state.charge_key = None
    yield from undo_inventory(context, state.reserved, state.committed)
    state.reserved, state.committed = [], []
    return _finish(context, state, status, reason)


def _notify(
    context: df.DurableOrchestrationContext, activity: str, payload: dict
) -> Generator[Any, Any, None]:
    yield context.call_activity(activity, {"idempotencyKey": step_key(context, activity), **payload})


@bp.orchestration_trigger(context_name="context")
def OrderSaga(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    """Run one order end to end (see the module docstring)."""
    set_step(context, "validating")
    try:
        saga_input = OrderSagaInput.model_validate(context.get_input())
    except ValidationError as exc:
        state = SagaState(order_id=context.instance_id, total_cents=0)
        return _finish(context, state, "failed", f"invalid_input: {exc.error_count()} error(s)")
    order = saga_input.order
    state = SagaState(order_id=order.order_id, total_cents=order_total_cents(order))
    lines = reservation_lines(order.items)

    log = replay_safe_logger(context)
    log.info("order %s: reserving %d line(s), total %d cents", order.order_id, len(lines), state.total_cents)
    set_step(context, "reserving", totalCents=state.total_cents)
    outcomes = yield from entity_fan_out(context, "reserve", lines)
    state.reserved = [line for line, (ok, value) in zip(lines, outcomes, strict=True) if ok and value is True]
    log.info("order %s: %d of %d line(s) reserved", order.order_id, len(state.reserved), len(lines))
    if len(state.reserved) != len(lines):
        return (yield from _compensate(context, state, "rejected", "insufficient_inventory"))

    try:
        return (yield from _after_reservation(context, saga_input, state, lines))
    except Exception as exc:
        yield from record_failure(context, "saga", exc, {"orderId": state.order_id})
        return (yield from _compensate(context, state, "failed", f"error: {error_summary(exc, 200)}"))


def _after_reservation(
    context: df.DurableOrchestrationContext, saga_input: OrderSagaInput, state: SagaState, lines: list[Line]
) -> Generator[Any, Any, dict[str, Any]]:
    order = saga_input.order
    summary = {
        "orderId": order.order_id,
        "customerId": order.customer_id,
        "totalCents": state.total_cents,
        "currency": order.currency,
    }

    if approval_required(state.total_cents, saga_input.approval_threshold_cents):
        set_step(
            context,
            "awaiting_approval",
            totalCents=state.total_cents,
            thresholdCents=saga_input.approval_threshold_cents,
        )
        yield from _notify(
            context, "SendApprovalRequest", {"requestId": context.instance_id, "details": summary}
        )
        outcome, response = yield from wait_for_approval(context, saga_input.approval_timeout_hours)
        if outcome == "timeout":
            yield from _notify(
                context, "NotifyTimeout", {"requestId": context.instance_id, "details": summary}
            )
            return (yield from _compensate(context, state, "timeout", "approval_timeout"))
        decision = {
            "requestId": context.instance_id,
            "details": summary,
            "approver": response.approver,
            "comment": response.comment,
        }
        if outcome == "rejected":
            yield from _notify(context, "ProcessRejection", decision)
            return (yield from _compensate(context, state, "rejected", "approval_rejected"))
        yield from _notify(context, "ProcessApproval", decision)

    set_step(context, "charging", totalCents=state.total_cents)
    payment_instance = f"{context.instance_id}:payment"
    state.charge_key = charge_key_of(payment_instance)
    try:
        payment = yield context.call_sub_orchestrator(
            "PaymentOrchestrator",
            {
                "orderId": order.order_id,
                "amountCents": state.total_cents,
                "currency": order.currency,
                "paymentMethod": order.payment_method.to_json_dict(),
            },
            payment_instance,
        )
    except Exception as exc:
        payment = {"status": "failed", "reason": error_summary(exc, 200)}
    if payment.get("status") == "declined":
        state.charge_key = None  # nothing was captured
        return (yield from _compensate(context, state, "failed", "payment_declined"))
    if payment.get("status") != "success":
        return (yield from _compensate(context, state, "failed", "payment_failed"))
    state.payment_id = payment.get("paymentId")

    set_step(context, "fulfilling", paymentId=state.payment_id)
    fulfillment_instance = f"{context.instance_id}:fulfillment"
    try:
        fulfillment = yield context.call_sub_orchestrator(
            "FulfillmentOrchestrator",
            {
                "orderId": order.order_id,
                "lines": [{"sku": sku, "quantity": qty} for sku, qty in lines],
                "shippingAddress": order.shipping_address.to_json_dict(),
            },
            fulfillment_instance,
        )
    except Exception as exc:
        # Unknown outcome: stock may or may not be committed. Refund, but do not release other
        # orders' reservations blindly; leave an operator record instead.
        state.reserved = []
        yield from record_failure(context, "fulfillment", exc, {"lines": [list(line) for line in lines]})
        return (yield from _compensate(context, state, "failed", "fulfillment_error"))
    if fulfillment.get("status") != "success":
        committed = {(c["sku"], c["quantity"]) for c in fulfillment.get("committed", [])}
        state.committed = [line for line in lines if line in committed]
        state.reserved = [line for line in lines if line not in committed]
        return (yield from _compensate(context, state, "failed", "fulfillment_failed"))

    state.reserved, state.charge_key = [], None
    state.tracking_number = fulfillment.get("trackingNumber")
    return _finish(context, state, "completed")
