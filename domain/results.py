"""Result models for every workflow step (what activities and orchestrators return)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt, StrictStr

from domain.models import Cents, DomainModel, OrderId, PositiveCents, ShippingAddress, Sku

IdempotencyKey = Annotated[StrictStr, Field(min_length=1, max_length=300)]


class ItemResult(DomainModel):
    """ProcessItem output: one priced line."""

    item_id: StrictStr
    product_id: Sku
    quantity: StrictInt
    amount_cents: Cents
    status: Literal["processed"] = "processed"


class PaymentResult(DomainModel):
    """Outcome of a charge. ``declined`` is a business answer, not an error."""

    status: Literal["success", "declined", "failed"]
    payment_id: StrictStr | None = None
    amount_cents: Cents = 0
    currency: StrictStr | None = None
    reason: StrictStr | None = None


class RefundResult(DomainModel):
    """Outcome of a refund; ``nothing_to_refund`` when no captured charge exists for the key."""

    status: Literal["refunded", "nothing_to_refund"]
    refund_id: StrictStr | None = None
    payment_id: StrictStr | None = None
    amount_cents: Cents = 0


class ShipmentResult(DomainModel):
    """A booked shipment."""

    shipment_id: StrictStr
    tracking_number: StrictStr
    carrier: StrictStr


class NotificationResult(DomainModel):
    """A notification accepted by the notification adapter (e.g. written to the outbox)."""

    notification_id: StrictStr
    kind: StrictStr
    channel: StrictStr


class OrderResult(DomainModel):
    """OrderSaga output."""

    order_id: StrictStr
    status: Literal["completed", "rejected", "failed", "timeout", "cancelled"]
    total_cents: Cents = 0
    payment_id: StrictStr | None = None
    tracking_number: StrictStr | None = None
    reason: StrictStr | None = None


# ---- activity inputs (validated inside the activity) -------------------------------------------


class ChargeRequest(DomainModel):
    """ChargePayment input."""

    idempotency_key: IdempotencyKey
    order_id: OrderId
    amount_cents: PositiveCents
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")]
    card_number: Annotated[StrictStr, Field(pattern=r"^[0-9]{12,19}$")]


class RefundRequest(DomainModel):
    """RefundPayment input: refunds the charge made under ``charge_key`` (if any)."""

    idempotency_key: IdempotencyKey
    charge_key: IdempotencyKey
    reason: StrictStr | None = None


class ShipmentLine(DomainModel):
    """One SKU and quantity to ship or to commit."""

    sku: Sku
    quantity: Annotated[StrictInt, Field(ge=1)]


class ShipmentRequest(DomainModel):
    """CreateShipment input."""

    idempotency_key: IdempotencyKey
    order_id: OrderId
    address: ShippingAddress
    lines: Annotated[list[ShipmentLine], Field(min_length=1)]


class NotificationRequest(DomainModel):
    """Input of the notification activities; ``details`` is free-form JSON."""

    model_config = DomainModel.model_config | {"extra": "ignore"}

    idempotency_key: IdempotencyKey
    subject: StrictStr | None = None
    details: dict | list | str | int | float | bool | None = None


class FinalizeRequest(DomainModel):
    """FinalizeOrder input (fan-in of OrderOrchestrator)."""

    idempotency_key: IdempotencyKey
    order_id: OrderId
    total_cents: Cents
    item_results: list[ItemResult]


class UnreliableRequest(DomainModel):
    """UnreliableActivity input: fail the first ``fail_times`` attempts for ``key``."""

    model_config = DomainModel.model_config | {"extra": "ignore"}

    key: IdempotencyKey
    fail_times: Annotated[StrictInt, Field(ge=0, le=100)] = 0
    payload: dict | list | str | int | float | bool | None = None
