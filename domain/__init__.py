"""Pure business domain: pydantic models and rules. Imports nothing from ``azure.*``."""

from __future__ import annotations

from domain.inventory import InventoryState
from domain.models import (
    ORDER_ID_PATTERN,
    SKU_PATTERN,
    ApprovalResponse,
    Order,
    OrderItem,
    OrderSagaInput,
    PaymentMethod,
    ShippingAddress,
)
from domain.results import (
    ItemResult,
    OrderResult,
    PaymentResult,
    RefundResult,
    ShipmentResult,
)
from domain.rules import approval_required, line_total_cents, order_total_cents, reservation_lines

__all__ = [
    "ORDER_ID_PATTERN",
    "SKU_PATTERN",
    "ApprovalResponse",
    "InventoryState",
    "ItemResult",
    "Order",
    "OrderItem",
    "OrderResult",
    "OrderSagaInput",
    "PaymentMethod",
    "PaymentResult",
    "RefundResult",
    "ShipmentResult",
    "ShippingAddress",
    "approval_required",
    "line_total_cents",
    "order_total_cents",
    "reservation_lines",
]
