"""Inventory routes over the InventoryEntity (one entity per SKU).

* ``POST /api/inventory/{sku}`` body ``{"quantity": n}`` -> 202 (signal ``add``)
* ``GET /api/inventory/{sku}`` -> 200 ``{sku, quantity, reserved, available, holders}`` or 404,
  where ``holders`` is ``{orderId: {lineId: quantity}}`` (who holds the reserved stock)

Stocking a SKU also registers it in the ``InventoryCatalog`` the reconciler walks.
"""

from __future__ import annotations

from typing import Annotated

import azure.durable_functions as df
import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from clients.http import HttpError, guarded, json_response, read_json, route_param, validation_error
from domain.inventory import InventoryState
from domain.models import SKU_PATTERN
from entities.catalog import CATALOG_KEY
from entities.catalog import ENTITY_NAME as CATALOG_ENTITY

ENTITY_NAME = "InventoryEntity"

bp = df.Blueprint()


class StockAddition(BaseModel):
    """Body of ``POST /api/inventory/{sku}``."""

    model_config = ConfigDict(extra="forbid")

    quantity: Annotated[StrictInt, Field(gt=0, le=1_000_000_000)]


def _sku(req: func.HttpRequest) -> str:
    return route_param(req, "sku", SKU_PATTERN)


async def _add(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    sku = _sku(req)
    try:
        addition = StockAddition.model_validate(read_json(req))
    except ValidationError as exc:
        raise validation_error(exc) from None
    await client.signal_entity(df.EntityId(CATALOG_ENTITY, CATALOG_KEY), "register", sku)
    await client.signal_entity(df.EntityId(ENTITY_NAME, sku), "add", addition.quantity)
    return json_response(202, {"sku": sku, "operation": "add", "quantity": addition.quantity})


@bp.route(route="inventory/{sku}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def add_inventory(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """POST /api/inventory/{sku}: receive stock (asynchronous signal)."""
    return await guarded(_add(req, client))


async def _read(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    sku = _sku(req)
    response = await client.read_entity_state(df.EntityId(ENTITY_NAME, sku))
    if not response.entity_exists or response.entity_state is None:
        raise HttpError(404, "not_found", f"no inventory for {sku}", sku=sku)
    try:
        state = InventoryState.from_state(response.entity_state)
    except ValueError as exc:
        raise HttpError(500, "corrupt_state", str(exc), sku=sku) from None
    return json_response(200, {"sku": sku, **state.get(), "holders": state.holders()})


@bp.route(route="inventory/{sku}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_inventory(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """GET /api/inventory/{sku}."""
    return await guarded(_read(req, client))
