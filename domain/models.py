"""Order-side pydantic models: what a client may submit and what the saga receives.

Money is integer cents (``StrictInt``: floats and bools are rejected, never coerced).
JSON field names are camelCase; Python attributes are snake_case.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic.alias_generators import to_camel

# A legal Durable instance id: no / \ # ? or control characters, not starting with '@', short.
ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{2,31}$"
CARD_NUMBER_PATTERN = r"^[0-9]{12,19}$"

MAX_ORDER_ITEMS = 100
MAX_QUANTITY = 1000

OrderId = Annotated[StrictStr, Field(pattern=ORDER_ID_PATTERN)]
Sku = Annotated[StrictStr, Field(pattern=SKU_PATTERN)]
Cents = Annotated[StrictInt, Field(ge=0)]
PositiveCents = Annotated[StrictInt, Field(gt=0)]
ShortText = Annotated[StrictStr, Field(min_length=1, max_length=200)]


class DomainModel(BaseModel):
    """Base: camelCase aliases, unknown fields rejected, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
    )

    def to_json_dict(self) -> dict:
        """Plain JSON-able dict with camelCase keys (what orchestrators pass around)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)


class OrderItem(DomainModel):
    """One order line."""

    id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    product_id: Sku
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]
    unit_price_cents: Cents


class PaymentMethod(DomainModel):
    """Card details. The sandbox gateway interprets well-known test card numbers."""

    card_number: Annotated[StrictStr, Field(pattern=CARD_NUMBER_PATTERN)]
    cardholder_name: Annotated[StrictStr, Field(max_length=200)] | None = None
    expiry_month: Annotated[StrictInt, Field(ge=1, le=12)] | None = None
    expiry_year: Annotated[StrictInt, Field(ge=2000, le=2100)] | None = None


class ShippingAddress(DomainModel):
    """Where the parcel goes. ``country`` is ISO 3166-1 alpha-2."""

    name: ShortText
    line1: ShortText
    line2: Annotated[StrictStr, Field(max_length=200)] | None = None
    city: ShortText
    state: Annotated[StrictStr, Field(max_length=100)] | None = None
    postal_code: Annotated[StrictStr, Field(min_length=1, max_length=20)]
    country: Annotated[StrictStr, Field(pattern=r"^[A-Z]{2}$")]


class Order(DomainModel):
    """An order as POSTed to ``/api/orders``; ``orderId`` becomes the instance id."""

    order_id: OrderId
    customer_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")]
    items: Annotated[list[OrderItem], Field(min_length=1, max_length=MAX_ORDER_ITEMS)]
    payment_method: PaymentMethod
    shipping_address: ShippingAddress

    @model_validator(mode="after")
    def _unique_item_ids(self) -> Order:
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise ValueError(f"duplicate item id {item.id!r}")
            seen.add(item.id)
        return self


class ApprovalResponse(DomainModel):
    """Payload of the ``ApprovalResponse`` external event."""

    approved: StrictBool
    approver: ShortText
    comment: Annotated[StrictStr, Field(max_length=2000)] | None = None


class OrderSagaInput(DomainModel):
    """OrderSaga input: the validated order plus the settings the client read from app settings.

    Orchestrators must not read the environment, so the threshold and the timeout travel here.
    """

    order: Order
    approval_threshold_cents: Cents
    approval_timeout_hours: Annotated[StrictInt | StrictFloat, Field(gt=0, le=24 * 365)] = 72
