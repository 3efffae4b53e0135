"""OrderSaga: the order workflow a user POSTs to ``/api/orders``.

validate -> reserve every line on its InventoryEntity (fan-out) -> [approval when the total is
above the threshold] -> PaymentOrchestrator -> FulfillmentOrchestrator -> completed.
Every failure after the reservation compensates: reservations are released, committed but
unshipped stock is restocked and a captured charge is refunded. A ``CancelOrder`` event
(``POST /api/orders/{orderId}/cancel``) compensates the same way at the next step boundary: at
once while awaiting approval, otherwise when the running step (reservation, payment,
fulfillment) finished; an order already shipped completes (see ``CancelRequest``).
Reservations are owned by this instance and run (see ``entities/inventory.py``), so releasing
is idempotent and a re-placed order takes its earlier holding over. Progress is published as
custom status ``{"step": ...}``. Input: ``OrderSagaInput`` JSON; output: ``OrderResult`` JSON.
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
from orchestrators.common import (
    CancelRequest,
    Line,
    claim,
    entity_fan_out,
    error_summary,
    finish_or_cancel,
    invalid_input,
    set_step,
    step_key,
    wait_for_approval,
)
from orchestrators.compensation import record_failure, refund_charge, undo_inventory
from orchestrators.logging_util import replay_safe_logger
from orchestrators.payment import charge_key_of

bp = df.Blueprint()


@dataclass
class SagaState:
    """What must be undone if the saga fails from here on."""

    order_id: str
    total_cents: int
    holder: str = ""
    run: str | None = None
    reserved: list[str] = field(default_factory=list)  # SKUs this run may hold stock on
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
    yield from undo_inventory(context, state.holder, state.run, state.reserved, state.committed)
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
    cancel = CancelRequest(context)
    try:
        saga_input = OrderSagaInput.model_validate(context.get_input())
    except ValidationError as exc:
        state = SagaState(order_id=context.instance_id, total_cents=0)
        return _finish(context, state, "failed", invalid_input(exc))
    order = saga_input.order
    state = SagaState(
        order_id=order.order_id,
        total_cents=order_total_cents(order),
        holder=context.instance_id,
        # New on every run of this instance id: a re-placed order takes over its earlier holding.
        run=str(context.new_guid()),
    )

    log = replay_safe_logger(context)
    log.info("order %s: reserving %d line(s), total %d cents", order.order_id, len(order.items), state.total_cents)
    set_step(context, "reserving", totalCents=state.total_cents)
    calls = [(item.product_id, claim(state.holder, state.run, item.id, item.quantity)) for item in order.items]
    state.reserved = list(dict.fromkeys(sku for sku, _ in calls))
    outcomes = yield from entity_fan_out(context, "reserve", calls)
    reserved = sum(1 for ok, value in outcomes if ok and value is True)
    log.info("order %s: %d of %d line(s) reserved", order.order_id, reserved, len(calls))
    if reserved != len(calls):
        return (yield from _compensate(context, state, "rejected", "insufficient_inventory"))
    if cancel.requested:
        return (yield from _compensate(context, state, "cancelled", "cancelled"))

    try:
        return (yield from _after_reservation(context, saga_input, state, cancel))
    except Exception as exc:
        yield from record_failure(context, "saga", exc, {"orderId": state.order_id})
        return (yield from _compensate(context, state, "failed", f"error: {error_summary(exc, 200)}"))


def _approve(
    context: df.DurableOrchestrationContext, saga_input: OrderSagaInput, state: SagaState, cancel: CancelRequest
) -> Generator[Any, Any, dict[str, Any] | None]:
    """The approval step; a finished result when the order ends here, None to go on."""
    summary = {
        "orderId": state.order_id,
        "customerId": saga_input.order.customer_id,
        "totalCents": state.total_cents,
        "currency": saga_input.order.currency,
    }
    waiting = {"totalCents": state.total_cents, "thresholdCents": saga_input.approval_threshold_cents}
    set_step(context, "awaiting_approval", **waiting)
    yield from _notify(context, "SendApprovalRequest", {"requestId": context.instance_id, "details": summary})
    outcome, response = yield from wait_for_approval(context, saga_input.approval_timeout_hours, cancel, waiting)
    if outcome == "cancelled":
        return (yield from _compensate(context, state, "cancelled", "cancelled"))
    if outcome == "timeout":
        yield from _notify(context, "NotifyTimeout", {"requestId": context.instance_id, "details": summary})
        return (yield from _compensate(context, state, "timeout", "approval_timeout"))
    assert response is not None
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
    return None


def _after_reservation(
    context: df.DurableOrchestrationContext, saga_input: OrderSagaInput, state: SagaState, cancel: CancelRequest
) -> Generator[Any, Any, dict[str, Any]]:
    order = saga_input.order
    if approval_required(state.total_cents, saga_input.approval_threshold_cents):
        ended = yield from _approve(context, saga_input, state, cancel)
        if ended is not None:
            return ended

    set_step(context, "charging", totalCents=state.total_cents)
    payment_instance = f"{context.instance_id}:payment"
    state.charge_key = charge_key_of(payment_instance)
    payment_task = context.call_sub_orchestrator(
        "PaymentOrchestrator",
        {
            "orderId": order.order_id,
            "amountCents": state.total_cents,
            "currency": order.currency,
            "paymentMethod": order.payment_method.to_json_dict(),
        },
        payment_instance,
    )
    try:
        payment = yield from finish_or_cancel(context, payment_task, cancel)
    except Exception as exc:
        payment = {"status": "failed", "reason": error_summary(exc, 200)}
    if payment.get("status") == "declined":
        state.charge_key = None  # nothing was captured
        return (yield from _compensate(context, state, "failed", "payment_declined"))
    if payment.get("status") != "success":
        return (yield from _compensate(context, state, "failed", "payment_failed"))
    state.payment_id = payment.get("paymentId")
    if cancel.requested:
        return (yield from _compensate(context, state, "cancelled", "cancelled"))

    set_step(context, "fulfilling", paymentId=state.payment_id)
    lines = reservation_lines(order.items)
    fulfillment_task = context.call_sub_orchestrator(
        "FulfillmentOrchestrator",
        {
            "orderId": order.order_id,
            "lines": [{"sku": sku, "quantity": qty} for sku, qty in lines],
            "shippingAddress": order.shipping_address.to_json_dict(),
            "holder": state.holder,
            "run": state.run,
        },
        f"{context.instance_id}:fulfillment",
    )
    try:
        fulfillment = yield from finish_or_cancel(context, fulfillment_task, cancel)
    except Exception as exc:
        # Unknown outcome: stock may or may not be committed. Releasing is safe (owned holdings
        # only), restocking is not: leave an operator record instead.
        yield from record_failure(context, "fulfillment", exc, {"lines": [list(line) for line in lines]})
        return (yield from _compensate(context, state, "failed", "fulfillment_error"))
    if fulfillment.get("status") != "success":
        state.committed = [(c["sku"], c["quantity"]) for c in fulfillment.get("committed", [])]
        return (yield from _compensate(context, state, "failed", "fulfillment_failed"))

    # Shipped: a cancellation that arrived meanwhile is too late, the order completes.
    state.reserved, state.charge_key = [], None
    state.tracking_number = fulfillment.get("trackingNumber")
    if cancel.requested:
        log = replay_safe_logger(context)
        log.info("order %s: cancellation arrived after shipment; the order completes", state.order_id)
    return _finish(context, state, "completed")
