"""Inventory reconciler: release stock held by orders that are no longer running.

An order that ends any way other than completed gives its stock back itself (compensation), but
an operator can terminate or purge an instance from any Durable tool, and then no code of the
order runs again. This reconciler walks every stocked SKU (``InventoryCatalog``), reads who holds
what on it and signals ``release`` for each holder (an orchestration instance id) that is not
running any more, naming the holder's run so a holding a re-placed order took over meanwhile is
left alone. It uses only the Durable client API, so it works the same in Azure and locally.

* timer trigger ``reconcile_inventory_timer`` every five minutes;
* ``POST /api/reconciliations/inventory`` -> 200 ``{"skus": n, "released": [...]}`` (on demand).
"""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from clients.http import ACTIVE_STATES, guarded, json_response, runtime_status_name
from domain.inventory import InventoryState
from entities.catalog import CATALOG_KEY
from entities.catalog import ENTITY_NAME as CATALOG_ENTITY
from entities.inventory import ENTITY_NAME as INVENTORY_ENTITY

RECONCILE_SCHEDULE = "0 */5 * * * *"

logger = logging.getLogger(__name__)

bp = df.Blueprint()


async def _stocked_skus(client: df.DurableOrchestrationClient) -> list[str]:
    response = await client.read_entity_state(df.EntityId(CATALOG_ENTITY, CATALOG_KEY))
    state = response.entity_state if response.entity_exists else None
    return [sku for sku in state or [] if isinstance(sku, str)]


async def reconcile_inventory(client: df.DurableOrchestrationClient) -> dict[str, Any]:
    """One pass over every SKU; returns what was released (``[{"sku", "holder", "quantity"}]``)."""
    running: dict[str, bool] = {}
    released: list[dict[str, Any]] = []
    skus = await _stocked_skus(client)
    for sku in skus:
        entity = df.EntityId(INVENTORY_ENTITY, sku)
        response = await client.read_entity_state(entity)
        if not response.entity_exists or response.entity_state is None:
            continue
        try:
            inventory = InventoryState.from_state(response.entity_state)
        except ValueError as exc:
            logger.warning("inventory reconciler: %s skipped: %s", sku, exc)
            continue
        for holder, hold in inventory.holds.items():
            if holder not in running:
                running[holder] = runtime_status_name(await client.get_status(holder)) in ACTIVE_STATES
            if running[holder]:
                continue
            await client.signal_entity(entity, "release", {"order": holder, "run": hold.run})
            released.append({"sku": sku, "holder": holder, "quantity": hold.total})
            logger.info("inventory reconciler: released %d of %s held by %s (not running)", hold.total, sku, holder)
    return {"skus": len(skus), "released": released}


@bp.timer_trigger(schedule=RECONCILE_SCHEDULE, arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def reconcile_inventory_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Scheduled pass of the reconciler."""
    await reconcile_inventory(client)


async def _reconcile_now(client: df.DurableOrchestrationClient) -> func.HttpResponse:
    return json_response(200, await reconcile_inventory(client))


@bp.route(route="reconciliations/inventory", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def reconcile_inventory_now(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """POST /api/reconciliations/inventory: run one reconciler pass now."""
    return await guarded(_reconcile_now(client))
