"""FulfillmentOrchestrator: commit reserved stock on each SKU entity, then book the shipment.

It never raises for business failures; it reports which lines it committed so the caller can
compensate (a committed line left the reservation; restock it with ``add``). With
``reserveFirst`` it reserves the stock itself and releases its own reservations on failure.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from pydantic import ValidationError

from domain.workflows import FulfillmentInput
from orchestrators.common import Line, entity_fan_out, error_summary, set_step, step_key
from orchestrators.retry import gateway_retry_options

bp = df.Blueprint()


def _lines_json(lines: list[Line]) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": quantity} for sku, quantity in lines]


def _failed(reason: str, committed: list[Line]) -> dict[str, Any]:
    return {"status": "failed", "reason": reason, "trackingNumber": None, "committed": _lines_json(committed)}


@bp.orchestration_trigger(context_name="context")
def FulfillmentOrchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    """Returns ``{"status": "success", "trackingNumber", "shipmentId", "committed"}`` or a failure."""
    try:
        request = FulfillmentInput.model_validate(context.get_input())
    except ValidationError as exc:
        return _failed(f"invalid_input: {exc.error_count()} error(s)", [])
    lines: list[Line] = [(line.sku, line.quantity) for line in request.lines]

    if request.reserve_first:
        set_step(context, "reserving")
        outcomes = yield from entity_fan_out(context, "reserve", lines)
        reserved = [line for line, (ok, value) in zip(lines, outcomes, strict=True) if ok and value is True]
        if len(reserved) != len(lines):
            yield from entity_fan_out(context, "release", reserved)
            set_step(context, "failed")
            return _failed("insufficient_inventory", [])

    set_step(context, "committing")
    outcomes = yield from entity_fan_out(context, "commit", lines)
    committed = [line for line, (ok, _) in zip(lines, outcomes, strict=True) if ok]
    if len(committed) != len(lines):
        if request.reserve_first:
            uncommitted = [line for line, (ok, _) in zip(lines, outcomes, strict=True) if not ok]
            yield from entity_fan_out(context, "release", uncommitted)
        set_step(context, "failed")
        return _failed("commit_failed", committed)

    set_step(context, "shipping")
    try:
        shipment = yield context.call_activity_with_retry(
            "CreateShipment",
            gateway_retry_options(),
            {
                "idempotencyKey": step_key(context, "shipment"),
                "orderId": request.order_id,
                "address": request.shipping_address.to_json_dict(),
                "lines": _lines_json(lines),
            },
        )
    except Exception as exc:
        set_step(context, "failed")
        return _failed(f"shipment_failed: {error_summary(exc)}", committed)
    set_step(context, "shipped", trackingNumber=shipment["trackingNumber"])
    return {
        "status": "success",
        "trackingNumber": shipment["trackingNumber"],
        "shipmentId": shipment["shipmentId"],
        "carrier": shipment["carrier"],
        "committed": _lines_json(committed),
    }
