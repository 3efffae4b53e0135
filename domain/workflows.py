"""Inputs of the pattern orchestrators (validated at the orchestrator edge)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictBool, StrictInt, StrictStr

from domain.models import DomainModel, OrderId, OrderItem, PaymentMethod, PositiveCents, ShippingAddress
from domain.results import ShipmentLine


class FanOutInput(DomainModel):
    """OrderOrchestrator input: any order-like object with an id and items."""

    model_config = DomainModel.model_config | {"extra": "ignore"}

    order_id: OrderId
    items: Annotated[list[OrderItem], Field(min_length=1, max_length=100)]


class PaymentInput(DomainModel):
    """PaymentOrchestrator input."""

    model_config = DomainModel.model_config | {"extra": "ignore"}

    order_id: OrderId
    amount_cents: PositiveCents
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    payment_method: PaymentMethod


class FulfillmentInput(DomainModel):
    """FulfillmentOrchestrator input.

    ``holder`` / ``run``: whose reservations to commit (the calling saga's instance id and run).
    ``reserve_first`` when nobody reserved the stock before: the fulfillment instance then reserves
    (and holds) the stock itself.
    """

    model_config = DomainModel.model_config | {"extra": "ignore"}

    order_id: OrderId
    lines: Annotated[list[ShipmentLine], Field(min_length=1, max_length=100)]
    shipping_address: ShippingAddress
    reserve_first: StrictBool = False
    holder: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None
    run: StrictStr | None = None


class RobustInput(DomainModel):
    """robust_orchestrator input (all optional): drives UnreliableActivity."""

    model_config = DomainModel.model_config | {"extra": "allow"}

    key: StrictStr | None = None
    fail_times: Annotated[StrictInt, Field(ge=0, le=100)] = 0
    payload: Any = None
