"""Inventory state machine for one SKU (the rules the InventoryEntity wraps).

Invariants: ``0 <= reserved <= quantity``. Every amount is a positive ``int`` (bools rejected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _check_amount(amount: Any, operation: str) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"{operation}: amount must be a positive integer, got {amount!r}")
    if amount <= 0:
        raise ValueError(f"{operation}: amount must be a positive integer, got {amount}")
    return amount


@dataclass
class InventoryState:
    """Stock on hand and the part of it that is reserved by running orders."""

    quantity: int = 0
    reserved: int = 0

    def __post_init__(self) -> None:
        for name in ("quantity", "reserved"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.reserved > self.quantity:
            raise ValueError(f"reserved ({self.reserved}) exceeds quantity ({self.quantity})")

    @property
    def available(self) -> int:
        """Stock that can still be reserved."""
        return self.quantity - self.reserved

    def add(self, amount: Any) -> None:
        """Receive stock."""
        self.quantity += _check_amount(amount, "add")

    def reserve(self, amount: Any) -> bool:
        """Check-and-reserve: reserve ``amount`` if available, else change nothing and return False."""
        amount = _check_amount(amount, "reserve")
        if amount > self.available:
            return False
        self.reserved += amount
        return True

    def release(self, amount: Any) -> None:
        """Give back a reservation (order cancelled)."""
        amount = _check_amount(amount, "release")
        if amount > self.reserved:
            raise ValueError(f"release: cannot release {amount}, only {self.reserved} reserved")
        self.reserved -= amount

    def commit(self, amount: Any) -> None:
        """Turn a reservation into a shipment: stock leaves the warehouse."""
        amount = _check_amount(amount, "commit")
        if amount > self.reserved:
            raise ValueError(f"commit: cannot commit {amount}, only {self.reserved} reserved")
        self.reserved -= amount
        self.quantity -= amount

    def get(self) -> dict[str, int]:
        """Snapshot including the derived ``available``."""
        return {"quantity": self.quantity, "reserved": self.reserved, "available": self.available}

    def to_state(self) -> dict[str, int]:
        """What the entity persists."""
        return {"quantity": self.quantity, "reserved": self.reserved}

    @classmethod
    def from_state(cls, state: Any) -> InventoryState:
        """Rebuild from persisted entity state (``None`` means a new SKU)."""
        if state is None:
            return cls()
        if not isinstance(state, dict):
            raise ValueError(f"corrupt inventory state: {state!r}")
        return cls(quantity=state.get("quantity", 0), reserved=state.get("reserved", 0))
