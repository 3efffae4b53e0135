"""Pure pricing and approval rules (integer cents only)."""

from __future__ import annotations

from collections.abc import Iterable

from domain.models import Order, OrderItem


def line_total_cents(item: OrderItem) -> int:
    """Quantity times unit price, in cents."""
    return item.quantity * item.unit_price_cents


def order_total_cents(order: Order | Iterable[OrderItem]) -> int:
    """Sum of all line totals, in cents."""
    items = order.items if isinstance(order, Order) else order
    return sum(line_total_cents(item) for item in items)


def approval_required(total_cents: int, threshold_cents: int) -> bool:
    """Orders strictly above the threshold need a human approval."""
    for name, value in (("total_cents", total_cents), ("threshold_cents", threshold_cents)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an int number of cents, got {value!r}")
    return total_cents > threshold_cents


def reservation_lines(items: Iterable[OrderItem]) -> list[tuple[str, int]]:
    """Quantities per SKU, merged and in first-seen order (one entity call per SKU)."""
    totals: dict[str, int] = {}
    for item in items:
        totals[item.product_id] = totals.get(item.product_id, 0) + item.quantity
    return list(totals.items())
