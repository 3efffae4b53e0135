"""FulfillmentOrchestrator: commit reserved stock on each SKU entity, then book the shipment.

It never raises for business failures; it reports which lines it committed so the caller can
compensate (a committed line left the reservation; restock it with ``add``). It commits what
``holder`` (the caller) holds on each SKU; with ``reserveFirst`` it reserves the stock itself,
as its own holder, and releases its own holdings on failure.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from pydantic import ValidationError

from domain.workflows import FulfillmentInput
from orchestrators.common import (
    Line,
    claim,
    entity_fan_out,
    error_summary,
    invalid_input,
    release_holdings,
    set_step,
    step_key,
)
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
        return _failed(invalid_input(exc), [])
    lines: list[Line] = [(line.sku, line.quantity) for line in request.lines]
    skus = [sku for sku, _ in lines]
    holder = context.instance_id if request.reserve_first else (request.holder or request.order_id)
    run = None if request.reserve_first else request.run

    if request.reserve_first:
        set_step(context, "reserving")
        calls = [(sku, claim(holder, run, sku, quantity)) for sku, quantity in lines]
        outcomes = yield from entity_fan_out(context, "reserve", calls)
        if not all(ok and value is True for ok, value in outcomes):
            yield from release_holdings(context, holder, run, skus)
            set_step(context, "failed")
            return _failed("insufficient_inventory", [])

    set_step(context, "committing")
    outcomes = yield from entity_fan_out(context, "commit", [(sku, claim(holder, run)) for sku in skus])
    # A line is committed when the entity shipped exactly its quantity from the holder's holding.
    # (Histories recorded before owned reservations hold the anonymous commit's answer, without
    # "committed": that commit raised unless it shipped the whole line.)
    committed = [
        line for line, (ok, value) in zip(lines, outcomes, strict=True)
        if ok and isinstance(value, dict) and value.get("committed", line[1]) == line[1]
    ]
    if len(committed) != len(lines):
        if request.reserve_first:
            yield from release_holdings(context, holder, run, skus)
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
