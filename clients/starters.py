"""``POST /api/orchestrators/{name}``: start any allow-listed pattern orchestrator by name.

The JSON body (optional) is the orchestration input; ``OrderSaga`` goes through the same
validation and settings as ``POST /api/orders``. Unknown name -> 404, bad JSON -> 400.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from clients.http import HttpError, guarded, read_json
from clients.orders import ORDER_SAGA, start_order_saga

STARTABLE = frozenset(
    {
        "OrderOrchestrator",
        "approval_workflow",
        "robust_orchestrator",
        "main_orchestrator",
        "PaymentOrchestrator",
        "FulfillmentOrchestrator",
        ORDER_SAGA,
    }
)

bp = df.Blueprint()


async def _start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    name = req.route_params.get("functionName", "")
    if name not in STARTABLE:
        raise HttpError(404, "not_found", f"unknown orchestrator {name!r}", allowed=sorted(STARTABLE))
    if name == ORDER_SAGA:
        return await start_order_saga(req, client)
    body = read_json(req, required=False)
    instance_id = await client.start_new(name, None, body)
    return client.create_check_status_response(req, instance_id)


@bp.route(route="orchestrators/{functionName}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_orchestrator(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """POST /api/orchestrators/{functionName}."""
    return await guarded(_start(req, client))
