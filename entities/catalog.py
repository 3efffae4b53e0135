"""InventoryCatalog: the one entity (key ``all``) that lists every SKU ever stocked.

The inventory reconciler walks it to find holdings, using only the Durable client API (which
cannot list entities on every backend). Operations: ``register(sku)`` (idempotent) and
``get() -> [sku, ...]`` (sorted).
"""

from __future__ import annotations

import re

import azure.durable_functions as df

from domain.models import SKU_PATTERN

ENTITY_NAME = "InventoryCatalog"
CATALOG_KEY = "all"

bp = df.Blueprint()


@bp.entity_trigger(context_name="context", entity_name=ENTITY_NAME)
def InventoryCatalog(context: df.DurableEntityContext) -> None:
    """Register a SKU or list them."""
    skus: list[str] = list(context.get_state(list) or [])
    operation = context.operation_name
    if operation == "get":
        context.set_result(sorted(skus))
        return
    if operation != "register":
        raise ValueError(f"unknown operation {operation!r}; expected register or get")
    sku = context.get_input()
    if not isinstance(sku, str) or not re.fullmatch(SKU_PATTERN, sku):
        raise ValueError(f"register: a SKU matching {SKU_PATTERN} is required, got {sku!r}")
    if sku not in skus:
        skus.append(sku)
    context.set_state(skus)
    context.set_result(sorted(skus))
