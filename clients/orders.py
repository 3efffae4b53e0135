"""Order routes: start an OrderSaga, read its status, deliver the approval decision.

* ``POST /api/orders`` -> 202 check-status payload + ``Location`` (400 / 409 / 413)
* ``GET /api/orders/{orderId}`` -> 200 status (404 unknown)
* ``POST /api/orders/{orderId}/approval`` -> 202 (400 bad body, 404 unknown, 410 finished)
* ``POST /api/orders/{orderId}/cancel`` -> 202 (404 unknown, 410 finished): raises ``CancelOrder``;
  the saga compensates (releases stock, refunds) and ends with ``status: cancelled``
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func
from pydantic import ValidationError

from clients.http import (
    ACTIVE_STATES,
    FINISHED_STATES,
    HttpError,
    guarded,
    json_response,
    read_json,
    route_param,
    runtime_status_name,
    validation_error,
)
from clients.settings import approval_threshold_cents, approval_timeout_hours
from domain.models import ORDER_ID_PATTERN, ApprovalResponse, Order, OrderSagaInput

ORDER_SAGA = "OrderSaga"
APPROVAL_EVENT = "ApprovalResponse"
CANCEL_EVENT = "CancelOrder"

bp = df.Blueprint()


def _order_id(req: func.HttpRequest) -> str:
    return route_param(req, "orderId", ORDER_ID_PATTERN)


async def start_order_saga(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Validate the order body and start OrderSaga with ``orderId`` as the instance id."""
    body = read_json(req)
    try:
        order = Order.model_validate(body)
    except ValidationError as exc:
        raise validation_error(exc) from None
    saga_input = OrderSagaInput(
        order=order,
        approval_threshold_cents=approval_threshold_cents(),
        approval_timeout_hours=approval_timeout_hours(),
    )
    existing = runtime_status_name(await client.get_status(order.order_id))
    if existing in ACTIVE_STATES or existing == "Completed":
        # A completed order is not placed twice: a client retrying after a lost 202 must not
        # reserve and ship again. A failed or terminated order (compensated) may be re-placed.
        state = "already in progress" if existing in ACTIVE_STATES else "already completed"
        raise HttpError(409, "conflict", f"order {order.order_id} is {state}", orderId=order.order_id,
                        runtimeStatus=existing)
    instance_id = await client.start_new(ORDER_SAGA, order.order_id, saga_input.to_json_dict())
    return client.create_check_status_response(req, instance_id)


@bp.route(route="orders", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_order(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """POST /api/orders."""
    return await guarded(start_order_saga(req, client))


async def _get_order(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    order_id = _order_id(req)
    status = await client.get_status(order_id)
    runtime_status = runtime_status_name(status)
    if runtime_status is None:
        raise HttpError(404, "not_found", f"no order {order_id}", orderId=order_id)
    return json_response(
        200,
        {
            "orderId": order_id,
            "name": status.name,
            "runtimeStatus": runtime_status,
            "customStatus": status.custom_status,
            "output": status.output,
            "createdTime": status.created_time.isoformat() if status.created_time else None,
            "lastUpdatedTime": status.last_updated_time.isoformat() if status.last_updated_time else None,
        },
    )


@bp.route(route="orders/{orderId}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_order(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """GET /api/orders/{orderId} (the input, which holds card data, is never echoed)."""
    return await guarded(_get_order(req, client))


async def _raise_order_event(
    client: df.DurableOrchestrationClient, order_id: str, event: str, payload: dict
) -> None:
    """Deliver ``event`` to a running order (404 unknown, 410 finished)."""
    runtime_status = runtime_status_name(await client.get_status(order_id))
    if runtime_status is None:
        raise HttpError(404, "not_found", f"no order {order_id}", orderId=order_id)
    if runtime_status in FINISHED_STATES:
        raise HttpError(
            410, "gone", f"order {order_id} already finished", orderId=order_id, runtimeStatus=runtime_status
        )
    try:
        await client.raise_event(order_id, event, payload)
    except Exception as exc:  # the instance finished or vanished between the two calls
        text = str(exc)
        if "gone" in text:
            raise HttpError(410, "gone", f"order {order_id} already finished", orderId=order_id) from None
        if "No instance" in text:
            raise HttpError(404, "not_found", f"no order {order_id}", orderId=order_id) from None
        raise


async def _approve(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    order_id = _order_id(req)
    try:
        decision = ApprovalResponse.model_validate(read_json(req))
    except ValidationError as exc:
        raise validation_error(exc) from None
    await _raise_order_event(client, order_id, APPROVAL_EVENT, decision.to_json_dict())
    return json_response(202, {"orderId": order_id, "event": APPROVAL_EVENT, "approved": decision.approved})


@bp.route(route="orders/{orderId}/approval", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def approve_order(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """POST /api/orders/{orderId}/approval with an ApprovalResponse body."""
    return await guarded(_approve(req, client))


async def _cancel(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    order_id = _order_id(req)
    await _raise_order_event(client, order_id, CANCEL_EVENT, {"orderId": order_id})
    return json_response(202, {"orderId": order_id, "event": CANCEL_EVENT})


@bp.route(route="orders/{orderId}/cancel", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def cancel_order(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """POST /api/orders/{orderId}/cancel: the saga compensates and ends as ``cancelled``."""
    return await guarded(_cancel(req, client))
