"""Composition root of the Durable Orders Function App: create the app, register the blueprints.

Nothing here (or in the folders it imports) depends on ``durable_local``; the same module runs on
the Azure Functions host, under Core Tools and under ``python -m durable_local``.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from activities import items, notifications, payments, resilience, shipping
from clients import inventory as inventory_routes
from clients import orders as order_routes
from clients import reconcile, starters
from entities import catalog as catalog_entity
from entities import inventory as inventory_entity
from orchestrators import approval, fan_out, fulfillment, payment, robust, saga, workflows

# FUNCTION: Azure enforces function keys on the HTTP routes; local hosts do not check them.
app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint_module in (
    fan_out,
    approval,
    robust,
    payment,
    fulfillment,
    workflows,
    saga,
    items,
    payments,
    shipping,
    notifications,
    resilience,
    inventory_entity,
    catalog_entity,
    order_routes,
    inventory_routes,
    starters,
    reconcile,
):
    app.register_functions(blueprint_module.bp)
