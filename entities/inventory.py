"""InventoryEntity: one durable entity per SKU wrapping :class:`domain.InventoryState`.

Operations, as the seed shows them: ``add(n)``, ``reserve(n) -> bool``, ``release(n)``,
``commit(n)``, ``get() -> {quantity, reserved, available}``. ``reserve``, ``release`` and
``commit`` also take a claim ``{"order", "line", "quantity", "run"}`` instead of a number: the
stock is then owned by that order (and line), and the operation is idempotent per order and line
(``reserve -> bool``, ``release -> {"released": n, ...}``, ``commit -> {"committed": n, ...}``).
An invalid amount or claim raises, which the SDK reports as an operation error to the caller (an
orchestrator's ``call_entity`` raises). State is only written after an operation succeeded, so a
failed operation never leaves partial changes behind.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from domain.inventory import InventoryState, parse_claim

ENTITY_NAME = "InventoryEntity"
OPERATIONS = ("add", "reserve", "release", "commit", "get")

bp = df.Blueprint()


def _owned(inventory: InventoryState, operation: str, raw: dict) -> Any:
    claim = parse_claim(raw, operation)
    if operation == "reserve":
        return inventory.reserve_for(claim)
    if operation == "release":
        return {"released": inventory.release_for(claim), **inventory.get()}
    return {"committed": inventory.commit_for(claim), **inventory.get()}


def _anonymous(inventory: InventoryState, operation: str, amount: Any) -> Any:
    if operation == "reserve":
        return inventory.reserve(amount)
    getattr(inventory, operation)(amount)  # add / release / commit
    return inventory.get()


@bp.entity_trigger(context_name="context", entity_name=ENTITY_NAME)
def InventoryEntity(context: df.DurableEntityContext) -> None:
    """Apply one operation to the SKU's inventory state."""
    inventory = InventoryState.from_state(context.get_state(lambda: None))
    operation = context.operation_name
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; expected one of {', '.join(OPERATIONS)}")
    if operation == "get":
        context.set_result(inventory.get())
        return
    raw = context.get_input()
    if isinstance(raw, dict) and operation != "add":
        result = _owned(inventory, operation, raw)
    else:
        result = _anonymous(inventory, operation, raw)
    context.set_state(inventory.to_state())
    context.set_result(result)
