"""InventoryEntity: one durable entity per SKU wrapping :class:`domain.InventoryState`.

Operations: ``add(n)``, ``reserve(n) -> bool``, ``release(n)``, ``commit(n)``,
``get() -> {quantity, reserved, available}``. An invalid amount raises, which the SDK reports as an
operation error to the caller (an orchestrator's ``call_entity`` raises). State is only written
after an operation succeeded, so a failed operation never leaves partial changes behind.
"""

from __future__ import annotations

import azure.durable_functions as df

from domain.inventory import InventoryState

ENTITY_NAME = "InventoryEntity"
OPERATIONS = ("add", "reserve", "release", "commit", "get")

bp = df.Blueprint()


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
    amount = context.get_input()
    if operation == "add":
        inventory.add(amount)
        result = inventory.get()
    elif operation == "reserve":
        result = inventory.reserve(amount)
    elif operation == "release":
        inventory.release(amount)
        result = inventory.get()
    else:
        inventory.commit(amount)
        result = inventory.get()
    context.set_state(inventory.to_state())
    context.set_result(result)
